//! The run-to-completion runtime: a graph of NFs and ports on one core.
//!
//! Each scheduling round reads the clock once, fires due timers, then polls
//! every source port in turn (round-robin). A received burst is pushed
//! through the graph depth-first, every stage running to completion on the
//! whole batch before the next; the batch is split by verdict once per stage
//! boundary, and what reaches a port is transmitted. There are no queues
//! between NFs of one core: a queue is a port (see `netfn-ports`), so every
//! cycle in a graph must pass through one, and the NF subgraph is acyclic.
//!
//! A panic inside an NF is caught at its stage boundary: the batch it held is
//! dropped and counted (`nf-panic`), the NF is rebuilt from its factory, and
//! the graph keeps running.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::batch::{Action, Batch, DEFAULT_BATCH, DropReason, Verdict};
use crate::config::{Build, ConfigError, Params, Plan, PlanEdge, PlanNode};
use crate::ctx::{Clock, Ctx, EmitBuffer, MonotonicClock, TimerRequests};
use crate::nf::Nf;
use crate::pool::{Pool, PoolConfig, PoolError};
use crate::port::{Port, PortCtx, RecvStatus};
use crate::stats::{NodeStats, StatsHandle};

/// Index of a node in a [`Graph`] / [`Runtime`].
pub type NodeId = usize;

/// How an idle runtime waits for traffic: called with the wait descriptors
/// of the live sources ([`Port::wait_fd`]) and the longest time to wait; it
/// returns when one is readable or the time is up. The data-path crates do
/// no I/O, so the binary installs one (`poll()`) with
/// [`Runtime::set_idle_wait`]; without one the runtime naps.
pub type IdleWait = Box<dyn FnMut(&[std::os::fd::RawFd], Duration)>;

/// Longest idle wait when every live source has a wait descriptor (so
/// traffic wakes the runtime at once); bounds how late a stop request or the
/// end of `duration` is noticed.
const IDLE_WAIT_MAX: Duration = Duration::from_millis(5);
/// Nap while idle when some source has no wait descriptor (a paced
/// generator or capture), so it is re-polled soon enough.
const IDLE_NAP: Duration = Duration::from_micros(200);
/// Rounds without work before the runtime sleeps (see
/// [`Runtime::set_idle_polls`]).
const IDLE_POLLS: u32 = 128;
/// Rounds with work between two checks for a closed output port.
const CLOSED_CHECK_ROUNDS: u32 = 256;

/// Builds a fresh instance of an NF (at start, and again after a panic).
pub type NfFactory = Rc<dyn Fn() -> Result<Box<dyn Nf>, ConfigError>>;

/// Runtime tuning.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeConfig {
    /// Packets per burst (1..=256).
    pub batch_size: usize,
    pub pool: PoolConfig,
    /// Seed of the NFs' random number generator.
    pub seed: u64,
    /// Time one batch in this many per node for the ns/packet figure
    /// (0 = never time).
    pub timing_interval: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            batch_size: DEFAULT_BATCH,
            pool: PoolConfig::default(),
            seed: 0x6e65_7466_6e00_0001,
            timing_interval: 64,
        }
    }
}

/// Why a graph cannot be built into a runtime.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("two nodes are named `{0}`")]
    DuplicateName(String),
    #[error("edge refers to node {0}, which does not exist")]
    NoSuchNode(NodeId),
    #[error("output {output} of `{node}` is connected twice")]
    OutputTwice { node: String, output: u16 },
    #[error(
        "`{node}` is a port: ports have one input (transmit) and one output (receive); got {which} {port}"
    )]
    PortIndex {
        node: String,
        which: &'static str,
        port: u16,
    },
    #[error("cycle without a queue through `{0}`: put a queue port in the loop")]
    Cycle(String),
    #[error("cannot build `{node}`: {source}")]
    Build {
        node: String,
        #[source]
        source: ConfigError,
    },
    #[error(transparent)]
    Pool(#[from] PoolError),
}

enum DefElement {
    Nf(NfFactory),
    Port(Box<dyn Port>),
    /// On a swap: keep the running port of the same name (same kind and
    /// parameters), so files and sockets are not reopened.
    KeepPort,
}

struct NodeDef {
    name: String,
    kind: String,
    /// The plan parameters it was built from, if it came from a plan.
    params: Option<Params>,
    element: DefElement,
}

/// A graph under construction: NFs, ports and the edges between them.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<NodeDef>,
    edges: Vec<PlanEdge>,
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field(
                "nodes",
                &self
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("edges", &self.edges)
            .finish()
    }
}

impl Graph {
    pub fn new() -> Self {
        Graph::default()
    }

    /// Adds an NF; `make` builds it (again after a panic).
    pub fn add_nf<N: Nf>(
        &mut self,
        name: &str,
        kind: &str,
        make: impl Fn() -> N + 'static,
    ) -> NodeId {
        self.add_nf_factory(
            name,
            kind,
            Rc::new(move || Ok(Box::new(make()) as Box<dyn Nf>)),
        )
    }

    pub fn add_nf_factory(&mut self, name: &str, kind: &str, factory: NfFactory) -> NodeId {
        self.nodes.push(NodeDef {
            name: name.into(),
            kind: kind.into(),
            params: None,
            element: DefElement::Nf(factory),
        });
        self.nodes.len() - 1
    }

    pub fn add_port(&mut self, name: &str, kind: &str, port: impl Port) -> NodeId {
        self.add_boxed_port(name, kind, Box::new(port))
    }

    pub fn add_boxed_port(&mut self, name: &str, kind: &str, port: Box<dyn Port>) -> NodeId {
        self.nodes.push(NodeDef {
            name: name.into(),
            kind: kind.into(),
            params: None,
            element: DefElement::Port(port),
        });
        self.nodes.len() - 1
    }

    /// On a [`Runtime::swap`]: keep the running port named `name` (with what
    /// it holds) instead of opening a new one.
    pub fn keep_port(&mut self, name: &str, kind: &str) -> NodeId {
        self.nodes.push(NodeDef {
            name: name.into(),
            kind: kind.into(),
            params: None,
            element: DefElement::KeepPort,
        });
        self.nodes.len() - 1
    }

    /// Connects output `output` of `from` to input `input` of `to`.
    pub fn connect(&mut self, from: NodeId, output: u16, to: NodeId, input: u16) -> &mut Self {
        self.edges.push(PlanEdge {
            from,
            output,
            to,
            input,
        });
        self
    }

    /// Connects output 0 of each node to input 0 of the next.
    pub fn chain(&mut self, nodes: &[NodeId]) -> &mut Self {
        for w in nodes.windows(2) {
            self.connect(w[0], 0, w[1], 0);
        }
        self
    }

    /// The graph of a validated plan: ports are opened, NFs get factories
    /// over their parameters.
    pub fn from_plan(plan: &Plan) -> Result<Graph, GraphError> {
        Graph::from_plan_keeping(plan, |_| false)
    }

    /// Like [`Graph::from_plan`], but ports for which `keep` is true are not
    /// opened: [`Runtime::swap`] carries the running ones over.
    pub fn from_plan_keeping(
        plan: &Plan,
        keep: impl Fn(&PlanNode) -> bool,
    ) -> Result<Graph, GraphError> {
        let mut graph = Graph::new();
        for node in &plan.nodes {
            let element = match node.spec.build {
                Build::Nf(build) => {
                    let params = node.params.clone();
                    // Build once now so config errors surface before running.
                    build(&params).map_err(|source| GraphError::Build {
                        node: node.name.clone(),
                        source,
                    })?;
                    DefElement::Nf(Rc::new(move || build(&params)))
                }
                Build::Port(_) if keep(node) => DefElement::KeepPort,
                Build::Port(build) => {
                    DefElement::Port(build(&node.params).map_err(|source| GraphError::Build {
                        node: node.name.clone(),
                        source,
                    })?)
                }
            };
            graph.nodes.push(NodeDef {
                name: node.name.clone(),
                kind: node.spec.kind.to_string(),
                params: Some(node.params.clone()),
                element,
            });
        }
        graph.edges = plan.edges.clone();
        Ok(graph)
    }

    fn check(&self) -> Result<(), GraphError> {
        for (i, n) in self.nodes.iter().enumerate() {
            if self.nodes[..i].iter().any(|m| m.name == n.name) {
                return Err(GraphError::DuplicateName(n.name.clone()));
            }
        }
        let mut seen = Vec::new();
        for e in &self.edges {
            for id in [e.from, e.to] {
                if id >= self.nodes.len() {
                    return Err(GraphError::NoSuchNode(id));
                }
            }
            if seen.contains(&(e.from, e.output)) {
                return Err(GraphError::OutputTwice {
                    node: self.nodes[e.from].name.clone(),
                    output: e.output,
                });
            }
            seen.push((e.from, e.output));
            for (id, which, port) in [(e.from, "output", e.output), (e.to, "input", e.input)] {
                if !matches!(self.nodes[id].element, DefElement::Nf(_)) && port != 0 {
                    return Err(GraphError::PortIndex {
                        node: self.nodes[id].name.clone(),
                        which,
                        port,
                    });
                }
            }
        }
        // Depth-first search for a cycle among NFs (edges into ports end a path).
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        fn visit(g: &Graph, id: NodeId, marks: &mut [Mark]) -> Result<(), GraphError> {
            match marks[id] {
                Mark::Done => return Ok(()),
                Mark::Open => return Err(GraphError::Cycle(g.nodes[id].name.clone())),
                Mark::New => {}
            }
            marks[id] = Mark::Open;
            for e in g.edges.iter().filter(|e| e.from == id) {
                if matches!(g.nodes[e.to].element, DefElement::Nf(_)) {
                    visit(g, e.to, marks)?;
                }
            }
            marks[id] = Mark::Done;
            Ok(())
        }
        let mut marks = vec![Mark::New; self.nodes.len()];
        for id in 0..self.nodes.len() {
            visit(self, id, &mut marks)?;
        }
        Ok(())
    }
}

/// Turns graph definitions into runtime nodes. Ports marked `KeepPort` are
/// taken out of `old` (infallible once every NF instance is built), and
/// counters of same-named, same-kind old nodes are carried over.
fn build_nodes(
    graph: Graph,
    batch_size: usize,
    old: &mut [Node],
) -> Result<(Vec<Node>, Vec<NodeId>), GraphError> {
    // Phase 1, fallible: build every NF instance.
    let mut instances = Vec::with_capacity(graph.nodes.len());
    for def in &graph.nodes {
        instances.push(match &def.element {
            DefElement::Nf(factory) => Some(factory().map_err(|source| GraphError::Build {
                node: def.name.clone(),
                source,
            })?),
            _ => None,
        });
    }
    // Phase 2: assemble, taking kept ports from the old nodes.
    let mut nodes = Vec::with_capacity(graph.nodes.len());
    let mut sources = Vec::new();
    for ((id, def), instance) in graph.nodes.into_iter().enumerate().zip(instances) {
        let n_out = graph
            .edges
            .iter()
            .filter(|e| e.from == id)
            .map(|e| e.output as usize + 1)
            .max()
            .unwrap_or(0);
        let mut outputs = vec![None; n_out];
        for e in graph.edges.iter().filter(|e| e.from == id) {
            outputs[e.output as usize] = Some((e.to, e.input));
        }
        let mut previous = old
            .iter_mut()
            .find(|o| o.stats.name == def.name && o.stats.kind == def.kind);
        let mut exhausted = false;
        let (element, factory, is_port) = match (def.element, instance) {
            (DefElement::Nf(factory), Some(nf)) => (Element::Nf(nf), Some(factory), false),
            (DefElement::Port(port), _) => (Element::Port(port), None, true),
            (DefElement::KeepPort, _) => {
                let prev = previous
                    .as_deref_mut()
                    .filter(|p| matches!(p.element, Element::Port(_)));
                let prev = prev.expect("swap checked that kept ports exist");
                exhausted = prev.exhausted;
                (
                    std::mem::replace(&mut prev.element, Element::Failed),
                    None,
                    true,
                )
            }
            (DefElement::Nf(_), None) => unreachable!("phase 1 built every NF"),
        };
        if let Element::Port(port) = &element
            && port.is_source()
            && n_out > 0
        {
            sources.push(id);
        }
        let stats = previous
            .map(|p| p.stats.clone())
            .unwrap_or_else(|| Arc::new(NodeStats::new(&def.name, &def.kind, is_port)));
        nodes.push(Node {
            element,
            factory,
            params: def.params,
            scratch: (0..n_out)
                .map(|_| Batch::with_capacity(batch_size))
                .collect(),
            outputs,
            stats,
            timing_tick: 0,
            exhausted,
        });
    }
    Ok((nodes, sources))
}

enum Element {
    Nf(Box<dyn Nf>),
    Port(Box<dyn Port>),
    /// An NF that panicked and could not be rebuilt: drops what reaches it.
    Failed,
}

struct Node {
    element: Element,
    factory: Option<NfFactory>,
    params: Option<Params>,
    /// Where each output goes.
    outputs: Vec<Option<(NodeId, u16)>>,
    /// One batch per output, for splitting a batch by verdict.
    scratch: Vec<Batch>,
    stats: Arc<NodeStats>,
    timing_tick: u32,
    exhausted: bool,
}

/// When to stop [`Runtime::run`].
#[derive(Debug, Clone, Default)]
pub struct RunLimits {
    /// Stop after this much runtime-clock time.
    pub duration: Option<Duration>,
    /// Stop once the sources have received this many packets.
    pub packets: Option<u64>,
    /// Stop when this becomes true (Ctrl-C, a control command).
    pub stop: Option<Arc<AtomicBool>>,
    /// Return [`StopReason::Interrupted`] (and clear the flag) when this
    /// becomes true: the caller has work to do between rounds (a reload).
    pub interrupt: Option<Arc<AtomicBool>>,
}

/// Why [`Runtime::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Every source is exhausted and nothing is queued.
    SourcesDone,
    Duration,
    Packets,
    Requested,
    Interrupted,
    /// A port's reader went away ([`Port::is_closed`]), e.g. the next
    /// command of a shell pipeline exited.
    OutputClosed,
}

/// A graph running on one core.
pub struct Runtime {
    nodes: Vec<Node>,
    sources: Vec<NodeId>,
    pool: Pool,
    /// Spare empty batches (allocated during warm-up, then reused).
    batches: Vec<Batch>,
    emit: EmitBuffer,
    /// Spare emit lists (see `route`), reused so routing never allocates.
    emit_spares: Vec<Vec<(u16, crate::pool::Packet)>>,
    timer_requests: TimerRequests,
    /// (deadline, node, period or 0).
    timers: BinaryHeap<Reverse<(u64, NodeId, u64)>>,
    clock: Box<dyn Clock>,
    rng: fastrand::Rng,
    now: u64,
    config: RuntimeConfig,
    stats: StatsHandle,
    started: bool,
    received: u64,
    idle_wait: Option<IdleWait>,
    /// Idle rounds before the runtime sleeps (spinning the first half,
    /// yielding the second).
    idle_polls: u32,
    /// Wait descriptors of the live sources, refilled when idle (reused).
    wait_fds: Vec<std::os::fd::RawFd>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("nodes", &self.nodes.len())
            .field("now", &self.now)
            .finish()
    }
}

impl Runtime {
    /// Builds a runtime on the monotonic clock.
    pub fn new(graph: Graph, config: RuntimeConfig) -> Result<Runtime, GraphError> {
        Self::with_clock(graph, config, Box::new(MonotonicClock::new()))
    }

    pub fn with_clock(
        graph: Graph,
        config: RuntimeConfig,
        clock: Box<dyn Clock>,
    ) -> Result<Runtime, GraphError> {
        let pool = Pool::new(config.pool)?;
        Self::with_pool(graph, config, clock, pool)
    }

    /// Builds a runtime over an existing pool (a port backend's UMEM).
    pub fn with_pool(
        graph: Graph,
        config: RuntimeConfig,
        clock: Box<dyn Clock>,
        pool: Pool,
    ) -> Result<Runtime, GraphError> {
        graph.check()?;
        let batch_size = config.batch_size.clamp(1, crate::batch::MAX_BATCH);
        let (nodes, sources) = build_nodes(graph, batch_size, &mut Vec::new())?;
        let stats = StatsHandle::new(nodes.iter().map(|n| n.stats.clone()).collect());
        Ok(Runtime {
            nodes,
            sources,
            pool,
            batches: Vec::new(),
            emit: EmitBuffer::with_capacity(2 * crate::batch::MAX_BATCH),
            emit_spares: Vec::new(),
            timer_requests: TimerRequests::default(),
            timers: BinaryHeap::new(),
            clock,
            rng: fastrand::Rng::with_seed(config.seed),
            now: 0,
            config: RuntimeConfig {
                batch_size,
                ..config
            },
            stats,
            started: false,
            received: 0,
            idle_wait: None,
            idle_polls: IDLE_POLLS,
            wait_fds: Vec::new(),
        })
    }

    /// Whether a swap to a plan containing `node` can keep this runtime's
    /// port of the same name running (same kind and parameters).
    pub fn can_keep_port(&self, node: &PlanNode) -> bool {
        self.nodes.iter().any(|n| {
            n.stats.name == node.name
                && n.stats.kind == node.spec.kind
                && matches!(n.element, Element::Port(_))
                && n.params.as_ref() == Some(&node.params)
        })
    }

    /// Replaces the running graph with `graph`, between two rounds, without
    /// losing a packet in flight (there are none between rounds):
    /// * NFs whose name and kind are unchanged hand their state to the new
    ///   instance ([`Nf::adopt`]) and keep their counters;
    /// * ports marked to be kept ([`Graph::from_plan_keeping`]) keep running
    ///   with what they hold (queued packets, open files);
    /// * everything else is built afresh; dropped nodes are discarded.
    ///
    /// Returns the packets lost because they sat in ports that are gone.
    /// On error the old graph keeps running untouched.
    pub fn swap(&mut self, graph: Graph) -> Result<u64, GraphError> {
        graph.check()?;
        for def in &graph.nodes {
            if matches!(def.element, DefElement::KeepPort)
                && !self
                    .nodes
                    .iter()
                    .any(|n| n.stats.name == def.name && matches!(n.element, Element::Port(_)))
            {
                return Err(GraphError::Build {
                    node: def.name.clone(),
                    source: ConfigError::new("no running port of that name to keep"),
                });
            }
        }
        let (mut nodes, sources) = build_nodes(graph, self.config.batch_size, &mut self.nodes)?;
        // Hand state over from old NFs of the same name and kind.
        for node in &mut nodes {
            let Element::Nf(new) = &mut node.element else {
                continue;
            };
            if let Some(old) = self
                .nodes
                .iter_mut()
                .find(|o| o.stats.name == node.stats.name && o.stats.kind == node.stats.kind)
                && let Element::Nf(_) = old.element
                && let Element::Nf(old_nf) = std::mem::replace(&mut old.element, Element::Failed)
            {
                let adopted = catch_unwind(AssertUnwindSafe(|| new.adopt(old_nf)));
                if adopted.is_err() {
                    node.stats.panics.add(1);
                }
            }
        }
        let lost = self
            .nodes
            .iter()
            .map(|n| match &n.element {
                Element::Port(p) => p.pending() as u64,
                _ => 0,
            })
            .sum();
        self.nodes = nodes;
        self.sources = sources;
        self.timers.clear();
        self.timer_requests.requests.clear();
        self.stats
            .replace(self.nodes.iter().map(|n| n.stats.clone()).collect());
        if self.started {
            for id in 0..self.nodes.len() {
                self.call_nf(id, |nf, ctx| nf.start(ctx));
            }
        }
        Ok(lost)
    }

    /// Installs how the runtime waits while idle (see [`IdleWait`]).
    pub fn set_idle_wait(&mut self, wait: IdleWait) {
        self.idle_wait = Some(wait);
    }

    /// How many rounds without work the runtime polls its sources before
    /// it sleeps (128 by default, at least 2): it spins the
    /// first half and yields the CPU between rounds in the second. A
    /// Worker process polls longer, so that a Master a little slower than
    /// it does not have to wake it after every burst.
    pub fn set_idle_polls(&mut self, rounds: u32) {
        self.idle_polls = rounds.max(2);
    }

    /// True if some port's reader went away ([`Port::is_closed`]).
    fn output_closed(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(&n.element, Element::Port(p) if p.is_closed()))
    }

    /// Collects the wait descriptors of the sources still running; true if
    /// every such source has one (traffic on them is all that can wake us).
    fn collect_wait_fds(&mut self) -> bool {
        self.wait_fds.clear();
        let mut all = true;
        for &id in &self.sources {
            let node = &self.nodes[id];
            let Element::Port(port) = &node.element else {
                continue;
            };
            if node.exhausted || port.is_internal() {
                continue;
            }
            match port.wait_fd() {
                Some(fd) => self.wait_fds.push(fd),
                None => all = false,
            }
        }
        all
    }

    /// Counters, shareable with other threads.
    pub fn stats(&self) -> StatsHandle {
        self.stats.clone()
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Runtime clock at the start of the current round, in ns.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Packets received from all sources so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Id of the node named `name`.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.stats.name == name)
    }

    /// Borrow a port (to inspect a sink in tests).
    pub fn port(&self, id: NodeId) -> Option<&dyn Port> {
        match &self.nodes.get(id)?.element {
            Element::Port(p) => Some(p.as_ref()),
            _ => None,
        }
    }

    pub fn port_mut(&mut self, id: NodeId) -> Option<&mut dyn Port> {
        match &mut self.nodes.get_mut(id)?.element {
            Element::Port(p) => Some(p.as_mut()),
            _ => None,
        }
    }

    /// Borrow an NF (to inspect its state in tests).
    pub fn nf(&self, id: NodeId) -> Option<&dyn Nf> {
        match &self.nodes.get(id)?.element {
            Element::Nf(nf) => Some(nf.as_ref()),
            _ => None,
        }
    }

    fn take_batch(&mut self) -> Batch {
        self.batches
            .pop()
            .unwrap_or_else(|| Batch::with_capacity(self.config.batch_size))
    }

    fn give_batch(&mut self, mut batch: Batch) {
        batch.clear();
        self.batches.push(batch);
    }

    /// Calls every NF's `start` once.
    fn start(&mut self) {
        self.started = true;
        self.now = self.clock.now_ns();
        for id in 0..self.nodes.len() {
            self.call_nf(id, |nf, ctx| nf.start(ctx));
        }
    }

    /// One scheduling round: read the clock, fire due timers, poll each
    /// source once. Returns the number of packets received.
    pub fn run_once(&mut self) -> usize {
        if !self.started {
            self.start();
        }
        self.now = self.clock.now_ns();
        self.fire_timers();
        let mut work = 0;
        for i in 0..self.sources.len() {
            work += self.poll_source(self.sources[i]);
        }
        self.received += work as u64;
        work
    }

    fn poll_source(&mut self, id: NodeId) -> usize {
        if self.nodes[id].exhausted {
            return 0;
        }
        let mut batch = self.take_batch();
        let node = &mut self.nodes[id];
        let Element::Port(port) = &mut node.element else {
            unreachable!("sources are ports")
        };
        let mut pctx = PortCtx::new(&self.pool, self.now, id as u16);
        if port.recv(&mut batch, &mut pctx) == RecvStatus::Exhausted {
            node.exhausted = true;
        }
        let n = batch.len();
        if n == 0 {
            self.give_batch(batch);
            return 0;
        }
        let bytes = if port.counts_bytes() {
            pctx.bytes
        } else {
            batch.iter().map(|p| p.len() as u64).sum()
        };
        node.stats.rx_packets.add(n as u64);
        node.stats.rx_bytes.add(bytes);
        node.stats.batches.add(1);
        self.forward(id, 0, batch);
        n
    }

    /// Sends `batch` out of `output` of node `from`.
    fn forward(&mut self, from: NodeId, output: u16, batch: Batch) {
        match self.nodes[from]
            .outputs
            .get(output as usize)
            .copied()
            .flatten()
        {
            Some((to, input)) => self.deliver(to, input, batch),
            None => {
                self.nodes[from]
                    .stats
                    .count_drop(DropReason::Unconnected, batch.len() as u64);
                self.give_batch(batch);
            }
        }
    }

    fn deliver(&mut self, id: NodeId, input: u16, mut batch: Batch) {
        let node = &mut self.nodes[id];
        let stats = &node.stats;
        let n = batch.len() as u64;
        match &mut node.element {
            Element::Port(port) => {
                let counts = port.counts_bytes();
                let bytes: u64 = if counts {
                    0
                } else {
                    batch.iter().map(|p| p.len() as u64).sum()
                };
                let mut pctx = PortCtx::new(&self.pool, self.now, id as u16);
                port.send(&mut batch, &mut pctx);
                let left = batch.len() as u64;
                let mut sent_bytes = if counts { pctx.bytes } else { bytes };
                if left > 0 {
                    stats.count_drop(port.overflow_reason(), left);
                    if !counts {
                        sent_bytes -= batch.iter().map(|p| p.len() as u64).sum::<u64>();
                    }
                }
                stats.tx_packets.add(n - left);
                stats.tx_bytes.add(sent_bytes);
                self.give_batch(batch);
            }
            Element::Failed => {
                stats.rx_packets.add(n);
                stats.count_drop(DropReason::NfPanic, n);
                self.give_batch(batch);
            }
            Element::Nf(nf) => {
                stats.rx_packets.add(n);
                stats.batches.add(1);
                let nf_counts_bytes = nf.counts_bytes();
                if !nf_counts_bytes {
                    stats
                        .rx_bytes
                        .add(batch.iter().map(|p| p.len() as u64).sum());
                }
                node.timing_tick += 1;
                let timed = self.config.timing_interval != 0
                    && node.timing_tick >= self.config.timing_interval;
                let t0 = if timed {
                    node.timing_tick = 0;
                    self.clock.now_ns()
                } else {
                    0
                };
                let mut ctx = Ctx {
                    now: self.now,
                    rng: &mut self.rng,
                    pool: &self.pool,
                    emit: &mut self.emit,
                    timers: &mut self.timer_requests,
                    node: id,
                    bytes: 0,
                };
                let result = catch_unwind(AssertUnwindSafe(|| {
                    nf.process(input as usize, &mut batch, &mut ctx)
                }));
                if nf_counts_bytes {
                    stats.rx_bytes.add(ctx.bytes);
                }
                if timed {
                    stats.busy_ns.add(self.clock.now_ns().saturating_sub(t0));
                    stats.timed_packets.add(n);
                }
                if let Err(payload) = result {
                    self.contain_panic(id, payload, batch);
                    return;
                }
                self.route(id, batch);
            }
        }
    }

    /// Splits a processed batch (and what the NF emitted) by verdict and
    /// forwards each part.
    fn route(&mut self, id: NodeId, mut batch: Batch) {
        self.absorb_timer_requests();
        let node = &mut self.nodes[id];
        if self.emit.is_empty() && !self.emit.has_lost() {
            // Fast paths, counted as the general split below counts:
            // nothing was generated and the batch goes out whole (one
            // output, or all dropped), or output 0 keeps what is not
            // dropped, compacted in place.
            if batch.all_pass() {
                node.stats.tx_packets.add(batch.len() as u64);
                if batch.is_empty() {
                    self.give_batch(batch);
                } else {
                    self.forward(id, 0, batch);
                }
                return;
            }
            let connected = |k: u16| {
                node.outputs
                    .get(usize::from(k))
                    .is_some_and(|o| o.is_some())
            };
            if let Some(verdict) = batch.uniform_verdict() {
                let n = batch.len() as u64;
                match verdict.action() {
                    Action::Forward(k) if connected(k) => {
                        node.stats.tx_packets.add(n);
                        batch.set_all(Verdict::PASS);
                        self.forward(id, k, batch);
                        return;
                    }
                    Action::Forward(_) => node.stats.count_drop(DropReason::Unconnected, n),
                    Action::Drop(reason) => node.stats.count_drop(reason, n),
                }
                self.give_batch(batch);
                return;
            }
            if connected(0) && batch.passes_or_drops() {
                let stats = &node.stats;
                batch.retain_passed(|v| {
                    if let Action::Drop(reason) = v.action() {
                        stats.count_drop(reason, 1);
                    }
                });
                node.stats.tx_packets.add(batch.len() as u64);
                self.forward(id, 0, batch);
                return;
            }
        }
        if self.emit.overflow > 0 {
            node.stats
                .count_drop(DropReason::EmitOverflow, self.emit.overflow);
            self.emit.overflow = 0;
        }
        self.emit.any_lost = false;
        for (reason, lost) in DropReason::ALL.iter().zip(&mut self.emit.lost) {
            if *lost > 0 {
                node.stats.count_drop(*reason, std::mem::take(lost));
            }
        }
        let mut parts = std::mem::take(&mut node.scratch);
        let mut sent = 0u64;
        // The batch's own packets always fit: every part holds a whole batch.
        for (pkt, verdict) in batch.drain() {
            match verdict.action() {
                Action::Forward(k) if node.outputs.get(k as usize).is_some_and(|o| o.is_some()) => {
                    sent += 1;
                    let _ = parts[k as usize].push(pkt);
                }
                Action::Forward(_) => node.stats.count_drop(DropReason::Unconnected, 1),
                Action::Drop(reason) => node.stats.count_drop(reason, 1),
            }
        }
        self.give_batch(batch);
        // Generated packets: swap the emit list for a spare one, so NFs that
        // run while we forward full parts emit into a list of their own.
        let spare = self
            .emit_spares
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(2 * crate::batch::MAX_BATCH));
        let mut emitted = std::mem::replace(&mut self.emit.packets, spare);
        for (k, pkt) in emitted.drain(..) {
            let connected = self.nodes[id]
                .outputs
                .get(k as usize)
                .is_some_and(|o| o.is_some());
            if !connected {
                self.nodes[id].stats.count_drop(DropReason::Unconnected, 1);
                continue;
            }
            sent += 1;
            if let Err(pkt) = parts[k as usize].push(pkt) {
                // The part is full: ship it now and start another.
                let fresh = self.take_batch();
                let part = std::mem::replace(&mut parts[k as usize], fresh);
                self.forward(id, k, part);
                let _ = parts[k as usize].push(pkt);
            }
        }
        // Give the (empty) list back: it becomes the emit list again.
        let spare = std::mem::replace(&mut self.emit.packets, emitted);
        self.emit_spares.push(spare);
        self.nodes[id].stats.tx_packets.add(sent);
        for (k, slot) in parts.iter_mut().enumerate() {
            if !slot.is_empty() {
                let fresh = self.take_batch();
                let part = std::mem::replace(slot, fresh);
                self.forward(id, k as u16, part);
            }
        }
        self.nodes[id].scratch = parts;
    }

    fn contain_panic(
        &mut self,
        id: NodeId,
        payload: Box<dyn std::any::Any + Send>,
        mut batch: Batch,
    ) {
        let lost = batch.len() as u64 + self.emit.packets.len() as u64;
        batch.clear();
        self.emit.drain().for_each(drop);
        self.timer_requests.requests.retain(|r| r.0 != id);
        self.give_batch(batch);
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_string());
        let node = &mut self.nodes[id];
        node.stats.count_drop(DropReason::NfPanic, lost);
        node.stats.panics.add(1);
        if let Ok(mut last) = node.stats.last_panic.lock() {
            *last = Some(message);
        }
        // Drop the broken instance (its destructor may panic too) and rebuild.
        let old = std::mem::replace(&mut node.element, Element::Failed);
        let _ = catch_unwind(AssertUnwindSafe(move || drop(old)));
        let rebuilt = node
            .factory
            .as_ref()
            .and_then(|f| catch_unwind(AssertUnwindSafe(|| f())).ok()?.ok());
        if let Some(nf) = rebuilt {
            node.element = Element::Nf(nf);
            self.call_nf(id, |nf, ctx| nf.start(ctx));
        }
    }

    /// Runs `f` on NF `id` with a context, containing panics, and routes
    /// whatever it emitted.
    fn call_nf(&mut self, id: NodeId, f: impl FnOnce(&mut dyn Nf, &mut Ctx<'_>)) {
        let Element::Nf(nf) = &mut self.nodes[id].element else {
            return;
        };
        let mut ctx = Ctx {
            now: self.now,
            rng: &mut self.rng,
            pool: &self.pool,
            emit: &mut self.emit,
            timers: &mut self.timer_requests,
            node: id,
            bytes: 0,
        };
        let result = catch_unwind(AssertUnwindSafe(|| f(nf.as_mut(), &mut ctx)));
        let batch = self.take_batch();
        match result {
            Ok(()) => self.route(id, batch),
            Err(payload) => self.contain_panic(id, payload, batch),
        }
    }

    fn absorb_timer_requests(&mut self) {
        for (node, at, period) in self.timer_requests.requests.drain(..) {
            self.timers.push(Reverse((at, node, period)));
        }
    }

    fn fire_timers(&mut self) {
        while let Some(&Reverse((at, id, period))) = self.timers.peek() {
            if at > self.now {
                break;
            }
            self.timers.pop();
            // Next deadline on the original grid, skipping missed ones.
            if let Some(missed) = (self.now - at).checked_div(period) {
                self.timers
                    .push(Reverse((at + (missed + 1) * period, id, period)));
            }
            self.call_nf(id, |nf, ctx| nf.on_timer(ctx));
        }
    }

    /// Deadline of the next timer, if any.
    pub fn next_timer(&self) -> Option<u64> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }

    /// True when every source is exhausted and no port holds packets.
    pub fn is_drained(&self) -> bool {
        self.nodes
            .iter()
            .enumerate()
            .all(|(id, n)| match &n.element {
                Element::Port(p) => {
                    p.pending() == 0
                        && (n.exhausted || p.is_internal() || !self.sources.contains(&id))
                }
                _ => true,
            })
    }

    /// Runs rounds until a limit is reached or the sources are done, backing
    /// off (yield, then short sleeps) while there is no work.
    pub fn run(&mut self, limits: &RunLimits) -> StopReason {
        if !self.started {
            self.start();
        }
        let start = self.now;
        let mut idle_rounds = 0u32;
        let mut busy_rounds = 0u32;
        loop {
            let work = self.run_once();
            if limits
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
            {
                return StopReason::Requested;
            }
            if limits
                .interrupt
                .as_ref()
                .is_some_and(|i| i.load(Ordering::Relaxed) && i.swap(false, Ordering::AcqRel))
            {
                return StopReason::Interrupted;
            }
            if limits
                .duration
                .is_some_and(|d| self.now.saturating_sub(start) >= d.as_nanos() as u64)
            {
                return StopReason::Duration;
            }
            if limits.packets.is_some_and(|p| self.received >= p) {
                return StopReason::Packets;
            }
            if work > 0 {
                idle_rounds = 0;
                busy_rounds += 1;
                if busy_rounds >= CLOSED_CHECK_ROUNDS {
                    busy_rounds = 0;
                    if self.output_closed() {
                        return StopReason::OutputClosed;
                    }
                }
                continue;
            }
            if self.is_drained() {
                return StopReason::SourcesDone;
            }
            if self.output_closed() {
                return StopReason::OutputClosed;
            }
            idle_rounds += 1;
            let spin = self.idle_polls / 2;
            match idle_rounds {
                r if r < spin => std::hint::spin_loop(),
                r if r < self.idle_polls => std::thread::yield_now(),
                _ => {
                    let all_wait = self.idle_wait.is_some() && self.collect_wait_fds();
                    let mut nap = if all_wait { IDLE_WAIT_MAX } else { IDLE_NAP };
                    if let Some(next) = self.next_timer() {
                        nap = nap.min(Duration::from_nanos(next.saturating_sub(self.now)));
                    }
                    if let Some(d) = limits.duration {
                        let left = (d.as_nanos() as u64)
                            .saturating_sub(self.clock.now_ns().saturating_sub(start));
                        nap = nap.min(Duration::from_nanos(left));
                    }
                    match &mut self.idle_wait {
                        Some(wait) if !self.wait_fds.is_empty() => wait(&self.wait_fds, nap),
                        _ => std::thread::sleep(nap),
                    }
                }
            }
        }
    }

    /// Ends the run: calls every NF's `stop` (routing what they emit), then
    /// flushes every port. Returns the first flush error.
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.now = self.clock.now_ns();
        for id in 0..self.nodes.len() {
            self.call_nf(id, |nf, ctx| nf.stop(ctx));
        }
        self.refresh_extra_counters();
        let mut result = Ok(());
        for node in &mut self.nodes {
            if let Element::Port(port) = &mut node.element
                && let Err(e) = port.flush()
            {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// Copies NF- and port-specific counters into the shared stats (they are
    /// not updated on the data path).
    pub fn refresh_extra_counters(&mut self) {
        for node in &self.nodes {
            let mut extra = Vec::new();
            let mut report = |name: &str, v: u64| extra.push((name.to_string(), v));
            match &node.element {
                Element::Nf(nf) => nf.counters(&mut report),
                Element::Port(p) => p.counters(&mut report),
                Element::Failed => {}
            }
            if let Ok(mut slot) = node.stats.extra.lock() {
                *slot = extra;
            }
        }
    }
}
