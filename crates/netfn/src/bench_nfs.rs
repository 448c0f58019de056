//! `netfn bench nfs`: every NF of the library on one core, 64-byte frames
//! over 10,000 flows from the built-in generator, beside two baselines
//! measured in the same run: the empty graph (generator -> sink, the I/O
//! and runtime floor) and the hand-written TTL loop of `bench overhead`.
//!
//! Each NF runs with the parameters of its example graph
//! (`examples/<file>.nf`); all of its outputs go to sinks.

use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use netfn_core::config::{Build, Catalog, PlanNode, Value};
use netfn_core::{Graph, PoolConfig, RunLimits, Runtime, RuntimeConfig};
use netfn_ports::{Check, Generator, GeneratorConfig, Sink};
use netfn_wire::MacAddr;
use serde::Serialize;

use crate::bench;

#[derive(Debug, Clone, Serialize)]
pub struct NfResult {
    pub kind: String,
    pub example: String,
    pub mpps: f64,
    pub ns_per_packet: f64,
    /// Share of packets the NF dropped (by its rules) in the run.
    pub dropped_share: f64,
    /// Mpps divided by the empty graph's.
    pub vs_empty: f64,
    /// Mpps divided by the hand-written TTL loop's.
    pub vs_hand_ttl: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NfsReport {
    pub machine: String,
    pub flows: u32,
    pub frame_size: usize,
    pub round_ms: u64,
    pub rounds: usize,
    pub empty_graph_mpps: f64,
    pub hand_ttl_mpps: f64,
    pub nfs: Vec<NfResult>,
    /// Examples that could not be benchmarked, and why.
    pub skipped: Vec<Skipped>,
}

/// An example file that could not be used, and why.
type Skipped = (String, String);

/// The generator of the NF benches (also `bench firewall`): 64-byte UDP
/// and TCP frames over `flows` flows, `ipv6_percent` % of them IPv6.
pub(crate) fn generator(flows: u32, ipv6_percent: u32) -> Generator {
    Generator::new(generator_config(flows, ipv6_percent)).expect("valid generator")
}

fn generator_config(flows: u32, ipv6_percent: u32) -> GeneratorConfig {
    GeneratorConfig {
        flows,
        udp: 1,
        tcp: 1,
        ipv6_percent,
        sizes: vec![(64, 1)],
        ..GeneratorConfig::default()
    }
}

/// The runtime of the NF benches: the default with a pool of 8192 frames.
pub(crate) fn config() -> RuntimeConfig {
    RuntimeConfig {
        pool: PoolConfig {
            frames: 8192,
            ..PoolConfig::default()
        },
        ..RuntimeConfig::default()
    }
}

/// generator -> node -> sinks on every output the spec allows.
fn graph_for(node: &PlanNode, flows: u32) -> Graph {
    let mut g = Graph::new();
    let mut config = generator_config(flows, 0);
    // An NF with MACs of its own (the router) only takes frames sent to
    // them: address the generator's frames to its first one.
    if let Some(Value::Mac(mac)) = node.params.get("macs").and_then(|v| match v {
        Value::List(items) => items.first(),
        other => Some(other),
    }) {
        config.dst_mac = MacAddr(*mac);
    }
    let src = g.add_port(
        "gen",
        "generator",
        Generator::new(config).expect("valid generator"),
    );
    let Build::Nf(build) = node.spec.build else {
        unreachable!("NFs only")
    };
    let params = node.params.clone();
    let nf = g.add_nf_factory(&node.name, node.spec.kind, Rc::new(move || build(&params)));
    g.connect(src, 0, nf, 0);
    let (_, outs) = node.spec.outputs.range(&node.params);
    for k in 0..outs.min(16) {
        let sink = g.add_port(&format!("sink{k}"), "sink", Sink::new(Check::None));
        g.connect(nf, k, sink, 0);
    }
    g
}

fn empty_graph(flows: u32) -> Graph {
    let mut g = Graph::new();
    let src = g.add_port("gen", "generator", generator(flows, 0));
    let sink = g.add_port("sink0", "sink", Sink::new(Check::None));
    g.chain(&[src, sink]);
    g
}

/// Runs a graph for `round`; returns (Mpps received, share of the
/// received packets that node `nf_name` dropped; 0 without one).
pub(crate) fn measure(graph: Graph, round: Duration, nf_name: Option<&str>) -> (f64, f64) {
    let mut rt = Runtime::new(graph, config()).expect("valid graph");
    let t = Instant::now();
    rt.run(&RunLimits {
        duration: Some(round),
        ..RunLimits::default()
    });
    let secs = t.elapsed().as_secs_f64();
    let dropped = nf_name
        .and_then(|n| rt.stats().node(n))
        .map_or(0, |s| s.dropped());
    let n = rt.received();
    (n as f64 / secs / 1e6, dropped as f64 / n.max(1) as f64)
}

/// The median (the upper one of an even count) of a non-empty list.
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The NF nodes to benchmark: the first node of each kind found in the
/// example graphs (ttl, counter and the plumbing kinds excluded).
fn nodes_from_examples(dir: &Path, catalog: &Catalog) -> (Vec<(String, PlanNode)>, Vec<Skipped>) {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "nf"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut nodes: Vec<(String, PlanNode)> = Vec::new();
    let mut skipped = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match crate::load(&file, &[], catalog) {
            Ok((_, plan)) => {
                for node in plan.nodes {
                    let plumbing = matches!(
                        node.spec.kind,
                        "tee" | "merge" | "counter" | "ttl" | "macswap"
                    );
                    if !node.spec.is_port()
                        && !plumbing
                        && !nodes.iter().any(|(_, n)| n.spec.kind == node.spec.kind)
                    {
                        nodes.push((name.clone(), node));
                    }
                }
            }
            Err(d) => skipped.push((name, d.to_string())),
        }
    }
    (nodes, skipped)
}

pub fn run(
    examples: &Path,
    catalog: &Catalog,
    only: &[String],
    round: Duration,
    rounds: usize,
) -> NfsReport {
    const FLOWS: u32 = 10_000;
    let (nodes, skipped) = nodes_from_examples(examples, catalog);
    let nodes: Vec<_> = nodes
        .into_iter()
        .filter(|(_, n)| only.is_empty() || only.iter().any(|k| k == n.spec.kind))
        .collect();
    let mut empty = Vec::new();
    let mut hand = Vec::new();
    let mut per_nf: Vec<Vec<(f64, f64)>> = vec![Vec::new(); nodes.len()];
    for _ in 0..rounds.max(1) {
        empty.push(measure(empty_graph(FLOWS), round, None).0);
        let t = Instant::now();
        let n = bench::run_baseline(1, 32, u64::MAX, Some(t + round));
        hand.push(n as f64 / t.elapsed().as_secs_f64() / 1e6);
        for (i, (_, node)) in nodes.iter().enumerate() {
            per_nf[i].push(measure(graph_for(node, FLOWS), round, Some(&node.name)));
        }
    }
    let (empty, hand) = (median(empty), median(hand));
    let nfs = nodes
        .iter()
        .zip(per_nf)
        .map(|((file, node), runs)| {
            let mpps = median(runs.iter().map(|r| r.0).collect());
            let dropped = median(runs.iter().map(|r| r.1).collect());
            NfResult {
                kind: node.spec.kind.to_string(),
                example: file.clone(),
                mpps,
                ns_per_packet: 1e3 / mpps,
                dropped_share: dropped,
                vs_empty: mpps / empty,
                vs_hand_ttl: mpps / hand,
            }
        })
        .collect();
    NfsReport {
        machine: bench::machine_description(),
        flows: FLOWS,
        frame_size: 64,
        round_ms: round.as_millis() as u64,
        rounds,
        empty_graph_mpps: empty,
        hand_ttl_mpps: hand,
        nfs,
        skipped,
    }
}

impl NfsReport {
    pub fn table(&self) -> String {
        let mut out = format!(
            "NFs on one core: 64B frames, {} flows, median of {} rounds of {} ms ({})\n",
            self.flows, self.rounds, self.round_ms, self.machine
        );
        out += &format!(
            "baselines: empty graph (generator -> sink) {:.2} Mpps; hand-written TTL loop {:.2} Mpps\n",
            self.empty_graph_mpps, self.hand_ttl_mpps
        );
        out += &format!(
            "{:<12} {:<18} {:>8} {:>9} {:>9} {:>10} {:>12}\n",
            "NF", "example", "Mpps", "ns/pkt", "dropped", "vs empty", "vs hand TTL"
        );
        for r in &self.nfs {
            out += &format!(
                "{:<12} {:<18} {:>8.2} {:>9.1} {:>8.1}% {:>10.3} {:>12.3}\n",
                r.kind,
                r.example,
                r.mpps,
                r.ns_per_packet,
                r.dropped_share * 100.0,
                r.vs_empty,
                r.vs_hand_ttl
            );
        }
        for (file, why) in &self.skipped {
            out += &format!("skipped {file}: {}\n", why.lines().next().unwrap_or(""));
        }
        out
    }
}
