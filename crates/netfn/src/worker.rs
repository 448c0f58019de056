//! Worker processes (issue 6; thesis chapter 5, digest §7): a part of a
//! graph runs in its own process, behind the shared-memory rings of
//! `netfn-ring`, so a crash or memory bug in a tenant's NF cannot touch
//! the node or other tenants.
//!
//! * `worker(graph = "tenant.nf")` is a port of the Master's graph: what
//!   the graph sends it goes to the Worker's graph, what the Worker hands
//!   back comes out of it. The port spawns `netfn worker tenant.nf` (this
//!   very binary) with a fresh region and eventfd, watches it, and when the
//!   Worker dies (or breaks the protocol) counts the tokens left in its
//!   ring as `lost`, re-creates the region and spawns the Worker again with
//!   the same graph. Other Workers, with their own regions, lose nothing.
//! * `worker(text = "...")` is the same with the graph itself instead of
//!   a file: what an isolated instance `p :: Tenant(isolate = process)`
//!   expands to (see `isolate.rs` for how the text reaches the Worker).
//! * `ring()` is the Worker graph's port to its Master: `r :: ring();
//!   r -> ttl() -> r;`. It exists only in a process started by `worker`.
//! * `netfn worker FILE` is the Worker process: it maps the region it was
//!   given, runs FILE's graph between its ring ports with the ordinary
//!   runtime (so the same NF code runs in-process and in a Worker), sleeps
//!   in `poll()` on the eventfd when idle, and exits when the Master shuts
//!   it down or dies (parent-death signal).

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netfn_core::config::{
    Arity, Build, Catalog, ConfigError, ElementSpec, ParamSpec, ParamType, Params,
};
use netfn_core::{
    Batch, Graph, PoolConfig, Port, PortCtx, RecvStatus, RunLimits, Runtime, RuntimeConfig,
};
use netfn_ring::{EventFd, Master, Region, RingConfig, RingPort, Tunables, WorkerPort};

use crate::isolate::GraphSource;

/// How often (runtime clock) the Master checks whether a Worker is alive.
const LIVENESS_EVERY_NS: u64 = 1_000_000;
/// Least time between two starts of a Worker.
const RESTART_BACKOFF: Duration = Duration::from_millis(100);
/// Frames of a Worker's pool.
const WORKER_FRAMES: u32 = 1024;
/// Rounds an idle Worker polls its ring before it sleeps (half spinning,
/// half yielding; the runtime's default is 128): a Worker that drains its
/// ring faster than the Master fills it would otherwise go to sleep
/// between bursts and cost the Master an eventfd write (and itself a
/// wake-up) every few hundred packets.
const WORKER_IDLE_POLLS: u32 = 1024;
/// How long a stopping Master waits for a Worker to exit before killing it.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

pub static SPECS: [ElementSpec; 2] = [
    ElementSpec {
        kind: "worker",
        doc: "Run a graph in a Worker process behind shared-memory rings; input goes to its ring() port, what it hands back comes out (restarted if it dies)",
        params: &[
            ParamSpec::optional(
                "graph",
                ParamType::Path,
                "\"\"",
                "the Worker's graph file; its ring() port faces this element",
            ),
            ParamSpec::optional(
                "text",
                ParamType::Str,
                "\"\"",
                "the Worker's graph itself, instead of a file (what `isolate = process` makes)",
            ),
            ParamSpec::optional(
                "slots",
                ParamType::Int {
                    min: 2,
                    max: 1 << 20,
                },
                "1024",
                "primary ring slots (one stays empty)",
            ),
            ParamSpec::optional(
                "aux_slots",
                ParamType::Int {
                    min: 2,
                    max: 1 << 20,
                },
                "256",
                "aux ring slots, for packets the Worker's graph generates",
            ),
            ParamSpec::optional(
                "wake_threshold",
                ParamType::Int {
                    min: 0,
                    max: 1 << 20,
                },
                "32",
                "wake a sleeping Worker once more than this many packets wait",
            ),
            ParamSpec::optional(
                "starvation",
                ParamType::Duration,
                "50us",
                "... or once the oldest waited this long",
            ),
            ParamSpec::optional(
                "publish_every",
                ParamType::Int {
                    min: 1,
                    max: 1 << 20,
                },
                "32",
                "the Worker hands packets back every this many",
            ),
        ],
        inputs: Arity::Exactly(1),
        outputs: Arity::Between(0, 1),
        build: Build::Port(|p| Supervisor::from_params(p).map(|s| Box::new(s) as Box<dyn Port>)),
    },
    ElementSpec {
        kind: "ring",
        doc: "In a Worker's graph: the rings to its Master (receive what the Master sends, send to hand back)",
        params: &[],
        inputs: Arity::Between(0, 1),
        outputs: Arity::Between(0, 1),
        build: Build::Port(|_| ring_port().map(|p| Box::new(p) as Box<dyn Port>)),
    },
];

fn ring_port() -> Result<WorkerPort<Region, EventFd>, ConfigError> {
    let (region, bell) = netfn_ring::worker_fds_from_env().map_err(|e| {
        ConfigError::new(format!(
            "ring() works only in a Worker's graph, started by a worker(...) element ({e})"
        ))
    })?;
    let tunables = region.config().tunables;
    let fd = bell.fd().as_raw_fd();
    let worker = netfn_ring::Worker::new(region, bell, &tunables);
    Ok(WorkerPort::new(worker, Some(fd)))
}

/// A Worker process and how its exit is seen: a pidfd (`pidfd_open`,
/// Linux 5.3), readable once the process is gone, polled without blocking.
/// Unlike `waitpid(pid, WNOHANG)` it names this process only (no pid
/// reuse), and the same descriptor could join a `poll()` set. Where the
/// kernel has no pidfd, `try_wait` (waitpid) does the job.
struct WorkerChild {
    child: Child,
    pidfd: Option<std::os::fd::OwnedFd>,
}

impl WorkerChild {
    fn new(child: Child) -> WorkerChild {
        let pidfd = rustix::process::Pid::from_raw(child.id() as i32).and_then(|pid| {
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
        });
        WorkerChild { child, pidfd }
    }

    fn id(&self) -> u32 {
        self.child.id()
    }

    /// True once the process has exited (then reaped).
    fn has_exited(&mut self) -> bool {
        if let Some(fd) = &self.pidfd {
            use rustix::event::{PollFd, PollFlags, Timespec};
            let mut fds = [PollFd::new(fd, PollFlags::IN)];
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // Not readable: alive. Readable (or an error on the fd): the
            // reap below decides.
            if let Ok(0) = rustix::event::poll(&mut fds, Some(&zero)) {
                return false;
            }
        }
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn kill_and_reap(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Master's side of one Worker: the rings as a port, the child, and
/// its restarts.
pub struct Supervisor {
    graph: GraphSource,
    exe: PathBuf,
    config: RingConfig,
    port: RingPort<Region, Arc<EventFd>>,
    child: WorkerChild,
    last_check: u64,
    /// When the Worker was last (re)started.
    restarted_at: Instant,
    restarts: u64,
    lost: u64,
    /// Counters of the Workers' earlier lives (a restart starts afresh).
    past: BTreeMap<String, u64>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("graph", &self.graph)
            .field("pid", &self.child.id())
            .field("restarts", &self.restarts)
            .finish()
    }
}

fn spawn(
    exe: &Path,
    graph: &GraphSource,
    config: &RingConfig,
) -> std::io::Result<(RingPort<Region, Arc<EventFd>>, WorkerChild)> {
    let other = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let region = Region::create(config).map_err(|e| other(&e))?;
    let bell = Arc::new(EventFd::new()?);
    let mut cmd = Command::new(exe);
    graph.command(&mut cmd)?;
    let child = netfn_ring::spawn_worker(&mut cmd, &region, &bell)?;
    let master = Master::new(region, bell, &config.tunables).map_err(|e| other(&e))?;
    Ok((RingPort::new(master), WorkerChild::new(child)))
}

impl Supervisor {
    fn from_params(p: &Params) -> Result<Supervisor, ConfigError> {
        let int = |name: &str| p.int(name).map(|v| v as u32);
        let config = RingConfig {
            primary_slots: int("slots")?,
            aux_slots: int("aux_slots")?,
            tunables: Tunables {
                wake_threshold: int("wake_threshold")?,
                starvation_timeout: p.duration("starvation")?,
                publish_every: int("publish_every")?,
            },
            ..RingConfig::default()
        };
        config
            .validate()
            .map_err(|e| ConfigError::param("slots", e.to_string()))?;
        let graph = GraphSource::from_params(p, &crate::catalog())?;
        let exe = std::env::var_os("NETFN_WORKER_EXE")
            .map(PathBuf::from)
            .or_else(|| std::env::current_exe().ok())
            .ok_or_else(|| ConfigError::param("graph", "cannot find the netfn binary to spawn"))?;
        let (port, child) = spawn(&exe, &graph, &config)
            .map_err(|e| ConfigError::param("graph", format!("cannot start the Worker: {e}")))?;
        Ok(Supervisor {
            graph,
            exe,
            config,
            port,
            child,
            last_check: 0,
            restarted_at: Instant::now(),
            restarts: 0,
            lost: 0,
            past: BTreeMap::new(),
        })
    }

    /// Restarts the Worker if it exited or broke the protocol.
    fn check(&mut self, now: u64) {
        if self.port.error().is_none() {
            if now.saturating_sub(self.last_check) < LIVENESS_EVERY_NS {
                return;
            }
            self.last_check = now;
            if !self.child.has_exited() {
                return;
            }
        }
        // A Worker that dies at once again is not respawned in a tight loop.
        if self.restarted_at.elapsed() < RESTART_BACKOFF {
            return;
        }
        // Dead (or misbehaving): what its ring holds is lost.
        self.lost += self.port.pending() as u64;
        let past = &mut self.past;
        self.port
            .counters(&mut |k, v| *past.entry(k.to_string()).or_default() += v);
        self.child.kill_and_reap();
        match spawn(&self.exe, &self.graph, &self.config) {
            Ok((port, child)) => {
                self.port = port;
                self.child = child;
                self.restarts += 1;
                self.restarted_at = Instant::now();
            }
            Err(e) => {
                // Keep the dead one's (poisoned or empty) ring; retried at
                // the next check.
                eprintln!("netfn: cannot restart worker {}: {e}", self.graph.display());
            }
        }
    }
}

impl Port for Supervisor {
    fn recv(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> RecvStatus {
        self.check(ctx.now);
        self.port.recv(batch, ctx)
    }

    fn send(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) {
        self.port.send(batch, ctx)
    }

    fn counts_bytes(&self) -> bool {
        true
    }

    fn is_internal(&self) -> bool {
        true
    }

    fn pending(&self) -> usize {
        self.port.pending()
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let mut now = BTreeMap::new();
        self.port
            .counters(&mut |k, v| *now.entry(k.to_string()).or_insert(0) += v);
        for (k, v) in &now {
            report(k, v + self.past.get(k).copied().unwrap_or(0));
        }
        report("restarts", self.restarts);
        report("lost", self.lost);
        report("pid", u64::from(self.child.id()));
        // 1 if its exit is watched through a pidfd (else waitpid).
        report("pidfd", u64::from(self.child.pidfd.is_some()));
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.port.master_mut().shutdown();
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while Instant::now() < deadline {
            if self.child.has_exited() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.child.kill_and_reap();
    }
}

/// `netfn worker FILE`: the Worker process.
pub fn worker_main(file: &Path, defines: &[String], catalog: &Catalog) -> ExitCode {
    // A Worker whose Master is gone has nothing to do.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if rustix::process::getppid().is_none_or(|p| p.as_raw_nonzero().get() == 1) {
        return ExitCode::from(1);
    }
    let plan = match crate::load(file, defines, catalog) {
        Ok((_, plan)) => plan,
        Err(diags) => {
            crate::print_diagnostics(&diags, false);
            return ExitCode::from(2);
        }
    };
    if !plan.nodes.iter().any(|n| n.spec.kind == "ring") {
        eprintln!("netfn worker: {} has no ring() port", file.display());
        return ExitCode::from(2);
    }
    // A Worker holds a batch of its ring's packets at a time (plus what its
    // NFs queue): a small pool keeps an idle Worker small.
    let config = RuntimeConfig {
        pool: PoolConfig {
            frames: WORKER_FRAMES,
            ..PoolConfig::default()
        },
        ..RuntimeConfig::default()
    };
    let mut rt = match Graph::from_plan(&plan).and_then(|g| Runtime::new(g, config)) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("netfn worker: {e}");
            return ExitCode::from(1);
        }
    };
    rt.set_idle_wait(Box::new(netfn_ports::poll_readable));
    rt.set_idle_polls(WORKER_IDLE_POLLS);
    rt.run(&RunLimits::default());
    let _ = rt.finish();
    ExitCode::SUCCESS
}
