//! `netfn bench overhead`: the framework's cost against hand-written code,
//! measured in one run on one core.
//!
//! Both sides take 64-byte UDP/IPv4 frames from the same generator port (a
//! frame from the pool, a 64-byte template copy per packet, as a NIC would
//! deliver it) and return them to the pool after processing:
//! * baseline: a hand-written loop that checks Ethernet + IPv4 by raw
//!   offsets, decrements the TTL `k` times and patches the checksum
//!   incrementally (RFC 1624) each time;
//! * framework: the runtime running generator -> `ttl` x k -> sink, each
//!   `ttl` an NF built from operators and boxed as a stage.
//!
//! Rounds alternate between the two so machine noise hits both alike; the
//! reported ratio is the median of the per-round ratios.

use std::time::{Duration, Instant};

use netfn_core::{
    Batch, Graph, Pool, PoolConfig, Port, PortCtx, RunLimits, Runtime, RuntimeConfig,
};
use netfn_ports::{Check, Generator, GeneratorConfig, Sink};
use serde::Serialize;

/// Settings of one overhead measurement.
#[derive(Debug, Clone)]
pub struct OverheadConfig {
    pub chains: Vec<usize>,
    /// Wall time of each measured round.
    pub round: Duration,
    pub rounds: usize,
    pub batch_size: usize,
}

impl Default for OverheadConfig {
    fn default() -> Self {
        OverheadConfig {
            chains: vec![1, 2, 5, 10],
            round: Duration::from_millis(300),
            rounds: 7,
            batch_size: 32,
        }
    }
}

/// Figures for one chain length.
#[derive(Debug, Clone, Serialize)]
pub struct ChainResult {
    pub nfs: usize,
    pub baseline_mpps: f64,
    pub framework_mpps: f64,
    /// Median over rounds of framework / baseline.
    pub ratio: f64,
    /// The runtime running the hand-written loop as its NFs: isolates the
    /// runtime's cost from the operators'.
    pub runtime_hand_nf_mpps: f64,
    pub baseline_ns_per_packet: f64,
    pub framework_ns_per_packet: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OverheadReport {
    pub machine: String,
    pub frame_size: usize,
    pub batch_size: usize,
    pub rounds: usize,
    pub round_ms: u64,
    /// Single-NF figures (chain of 1).
    pub baseline_mpps: f64,
    pub framework_mpps: f64,
    pub ratio: f64,
    pub chains: Vec<ChainResult>,
}

fn generator() -> Generator {
    Generator::new(GeneratorConfig {
        sizes: vec![(64, 1)],
        ..GeneratorConfig::default()
    })
    .expect("valid generator")
}

fn runtime_config(batch_size: usize) -> RuntimeConfig {
    RuntimeConfig {
        batch_size,
        pool: PoolConfig {
            frames: 4096,
            ..PoolConfig::default()
        },
        ..RuntimeConfig::default()
    }
}

/// The hand-written NF: `k` TTL decrements with incremental checksums, by
/// raw offsets. Returns false to drop.
#[inline(always)]
pub fn hand_ttl(frame: &mut [u8], k: usize) -> bool {
    if frame.len() < 34 || frame[12] != 0x08 || frame[13] != 0x00 {
        return true; // not IPv4: pass
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    if frame[14] >> 4 != 4 || ihl < 20 || total < ihl || 14 + total > frame.len() {
        return false; // malformed
    }
    for _ in 0..k {
        let ttl = frame[22];
        if ttl <= 1 {
            return false;
        }
        frame[22] = ttl - 1;
        // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), m = TTL/protocol word.
        let old = u16::from_be_bytes([ttl, frame[23]]);
        let new = u16::from_be_bytes([ttl - 1, frame[23]]);
        let hc = u16::from_be_bytes([frame[24], frame[25]]);
        let mut sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        frame[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    }
    true
}

/// Runs the baseline for `packets` packets (or until `deadline`); returns
/// packets processed.
pub fn run_baseline(k: usize, batch_size: usize, packets: u64, deadline: Option<Instant>) -> u64 {
    let pool = Pool::new(PoolConfig {
        frames: 4096,
        ..PoolConfig::default()
    })
    .expect("pool");
    let mut source = generator();
    let mut batch = Batch::with_capacity(batch_size);
    let mut done = 0u64;
    let mut forwarded = 0u64;
    while done < packets {
        let mut ctx = PortCtx::new(&pool, 0, 0);
        source.recv(&mut batch, &mut ctx);
        for pkt in batch.iter_mut() {
            forwarded += u64::from(hand_ttl(pkt.data_mut(), k));
        }
        done += batch.len() as u64;
        batch.clear();
        if done % 65_536 < batch_size as u64 && deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    std::hint::black_box(forwarded);
    done
}

/// An NF that runs the hand-written loop: the runtime's cost without the
/// operators'.
struct HandTtl;

impl netfn_core::Nf for HandTtl {
    fn process(&mut self, _input: usize, batch: &mut Batch, _ctx: &mut netfn_core::Ctx<'_>) {
        let (pkts, verdicts) = batch.split_mut();
        for (p, v) in pkts.iter_mut().zip(verdicts) {
            if !hand_ttl(p.data_mut(), 1) {
                *v = netfn_core::Verdict::drop(netfn_core::DropReason::TtlExceeded);
            }
        }
    }
}

/// The framework's graph: generator -> ttl x k -> sink (`hand`: the NFs are
/// the hand-written loop instead of operator pipelines).
pub fn framework_runtime_with(k: usize, batch_size: usize, hand: bool) -> Runtime {
    let mut g = Graph::new();
    let mut chain = vec![g.add_port("gen", "generator", generator())];
    for i in 0..k {
        let name = format!("ttl{i}");
        chain.push(if hand {
            g.add_nf(&name, "hand-ttl", || HandTtl)
        } else {
            g.add_nf(&name, "ttl", netfn_nfs::basic::ttl)
        });
    }
    chain.push(g.add_port("sink", "sink", Sink::new(Check::None)));
    g.chain(&chain);
    Runtime::new(g, runtime_config(batch_size)).expect("valid graph")
}

/// Runs the framework for `packets` packets (or `duration`); returns packets processed.
pub fn run_framework(k: usize, batch_size: usize, packets: u64, duration: Option<Duration>) -> u64 {
    run_framework_with(k, batch_size, packets, duration, false)
}

pub fn run_framework_with(
    k: usize,
    batch_size: usize,
    packets: u64,
    duration: Option<Duration>,
    hand: bool,
) -> u64 {
    let mut rt = framework_runtime_with(k, batch_size, hand);
    rt.run(&RunLimits {
        packets: Some(packets),
        duration,
        ..RunLimits::default()
    });
    let sink = rt.stats().node("sink").map_or(0, |s| s.tx_packets);
    assert!(
        sink + 64 >= rt.received(),
        "the ttl chain must forward what it receives"
    );
    rt.received()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Measures every chain length.
pub fn overhead(config: &OverheadConfig) -> OverheadReport {
    let mut chains = Vec::new();
    for &k in &config.chains {
        // Warm up both (page in the pool, settle the frequency).
        run_baseline(
            k,
            config.batch_size,
            u64::MAX,
            Some(Instant::now() + config.round / 3),
        );
        run_framework(k, config.batch_size, u64::MAX, Some(config.round / 3));
        let (mut base, mut fw, mut ratios, mut rt_only) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..config.rounds {
            let t = Instant::now();
            let n = run_baseline(k, config.batch_size, u64::MAX, Some(t + config.round));
            let b = n as f64 / t.elapsed().as_secs_f64() / 1e6;
            let t = Instant::now();
            let n = run_framework(k, config.batch_size, u64::MAX, Some(config.round));
            let f = n as f64 / t.elapsed().as_secs_f64() / 1e6;
            let t = Instant::now();
            let n = run_framework_with(k, config.batch_size, u64::MAX, Some(config.round), true);
            rt_only.push(n as f64 / t.elapsed().as_secs_f64() / 1e6);
            base.push(b);
            fw.push(f);
            ratios.push(f / b);
        }
        let (b, f, h) = (median(&mut base), median(&mut fw), median(&mut rt_only));
        chains.push(ChainResult {
            nfs: k,
            baseline_mpps: b,
            framework_mpps: f,
            ratio: median(&mut ratios),
            runtime_hand_nf_mpps: h,
            baseline_ns_per_packet: 1e3 / b,
            framework_ns_per_packet: 1e3 / f,
        });
    }
    let one = chains
        .iter()
        .find(|c| c.nfs == 1)
        .or(chains.first())
        .cloned();
    OverheadReport {
        machine: machine_description(),
        frame_size: 64,
        batch_size: config.batch_size,
        rounds: config.rounds,
        round_ms: config.round.as_millis() as u64,
        baseline_mpps: one.as_ref().map_or(0.0, |c| c.baseline_mpps),
        framework_mpps: one.as_ref().map_or(0.0, |c| c.framework_mpps),
        ratio: one.as_ref().map_or(0.0, |c| c.ratio),
        chains,
    }
}

/// CPU model and core count, for the record.
pub fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

impl OverheadReport {
    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "overhead: {}B frames, batch {}, median of {} rounds of {} ms ({})\n",
            self.frame_size, self.batch_size, self.rounds, self.round_ms, self.machine
        );
        out += &format!(
            "{:>4}  {:>13}  {:>14}  {:>7}  {:>12}  {:>12}  {:>16}\n",
            "NFs",
            "baseline Mpps",
            "framework Mpps",
            "ratio",
            "base ns/pkt",
            "fw ns/pkt",
            "rt+hand-NF Mpps"
        );
        for c in &self.chains {
            out += &format!(
                "{:>4}  {:>13.2}  {:>14.2}  {:>7.3}  {:>12.2}  {:>12.2}  {:>16.2}\n",
                c.nfs,
                c.baseline_mpps,
                c.framework_mpps,
                c.ratio,
                c.baseline_ns_per_packet,
                c.framework_ns_per_packet,
                c.runtime_hand_nf_mpps
            );
        }
        out
    }
}
