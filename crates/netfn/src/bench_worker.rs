//! `netfn bench workers`: Worker processes measured against the same NFs
//! in-process, in one run (issue 6 benchmarks; docs/workers.md).
//!
//! Every figure is a `netfn run --json` of this binary for `--duration`,
//! 64-byte frames, with the generator stamping each packet
//! (`timestamp = precise`) and the sink measuring latency
//! (`latency = true`, the first quarter of the run not measured):
//!
//! * chains of 1, 2, 5, 10 `ttl` NFs (the generator's TTL is 64), four
//!   ways: in-process; the whole chain inside one Worker; one Worker per NF
//!   (Worker elements chained in the Master's graph); a pipe-stage chain
//!   (a generator process, then one `netfn run` per NF, joined by Unix
//!   pipes carrying pcap, the last with the sink). Each flat out, and the
//!   first three also at a fixed offered rate (`--rate`), for latency at a
//!   load below saturation. The pipe chain has no latency: its stages do
//!   not share a clock (`stdin` stamps on arrival);
//! * N Workers each with its own chain (`generator -> worker(ttl)`, all
//!   into one sink of the Master, one Master thread for all), flat out and
//!   at `--rate` in total;
//! * spawn to first packet: a Worker spawned with a fresh region, one
//!   packet pushed at once, timed until it comes back processed (median
//!   and max of `--spawns`);
//! * memory of an idle Worker: Rss and Pss from `/proc/PID/smaps_rollup`.
//!
//! Each figure carries the 1-minute load average read when it finished:
//! the machine is shared.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netfn_ring::{EventFd, Master, Meta, Region, Returned, RingConfig};
use serde::Serialize;
use serde_json::Value;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Chain lengths (NFs).
    pub chains: Vec<usize>,
    /// Numbers of Workers, each with its own chain.
    pub workers: Vec<usize>,
    pub spawns: usize,
    pub duration: Duration,
    /// Offered packets per second, in total, of the paced runs.
    pub rate: u64,
    pub json: bool,
}

impl Options {
    /// `--quick`: two chain lengths, 1 and 10 Workers, short runs (a smoke
    /// test; the numbers are noisy).
    pub fn quick(json: bool) -> Options {
        Options {
            chains: vec![1, 2],
            workers: vec![1, 10],
            spawns: 3,
            duration: Duration::from_millis(400),
            rate: 100_000,
            json,
        }
    }
}

/// Latency percentiles, µs.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

/// One `netfn run`.
#[derive(Debug, Clone, Serialize)]
pub struct Measure {
    /// Packets delivered to the sink per second, millions, after the
    /// warm-up (what the sink measured latency of, over the rest of the
    /// run); the whole run's rate where no latency is measured.
    pub mpps: f64,
    /// Packets delivered per second over the whole run, millions.
    pub mpps_whole_run: f64,
    pub packets: u64,
    pub seconds: f64,
    /// Offered packets per second (None: flat out).
    pub offered_pps: Option<u64>,
    pub latency: Option<Latency>,
    /// Packets dropped anywhere in the Master's graph (mostly `tx-full`: a
    /// Worker's ring was full), by reason.
    pub dropped: u64,
    pub drops: std::collections::BTreeMap<String, u64>,
    /// Worker restarts and packets lost with them (0 when all is well).
    pub restarts: u64,
    pub lost: u64,
    /// 1-minute load average when the run ended.
    pub load1: f64,
    /// Why there is no figure.
    pub error: Option<String>,
}

impl Measure {
    fn failed(error: String, offered_pps: Option<u64>) -> Measure {
        Measure {
            mpps: 0.0,
            mpps_whole_run: 0.0,
            packets: 0,
            seconds: 0.0,
            offered_pps,
            latency: None,
            dropped: 0,
            drops: Default::default(),
            restarts: 0,
            lost: 0,
            load1: load()[0],
            error: Some(error),
        }
    }
}

/// One chain length, four ways.
#[derive(Debug, Clone, Serialize)]
pub struct ChainRow {
    pub nfs: usize,
    pub in_process: Measure,
    pub one_worker: Measure,
    pub worker_per_nf: Measure,
    pub pipe_stages: Measure,
    /// The same three at `rate`.
    pub in_process_paced: Measure,
    pub one_worker_paced: Measure,
    pub worker_per_nf_paced: Measure,
    /// Flat-out Mpps of each way over in-process.
    pub one_worker_ratio: f64,
    pub worker_per_nf_ratio: f64,
    pub pipe_stages_ratio: f64,
}

/// N Workers, each with its own chain.
#[derive(Debug, Clone, Serialize)]
pub struct WorkersRow {
    pub workers: usize,
    pub flat_out: Measure,
    pub paced: Measure,
}

#[derive(Debug, Clone, Serialize)]
pub struct Spawn {
    pub spawns: usize,
    pub median_ms: f64,
    pub max_ms: f64,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdleMemory {
    pub rss_kib: u64,
    pub pss_kib: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Targets {
    /// One Worker's flat-out Mpps over in-process, chain of one (≥ 1/3).
    pub worker_ratio_chain1: Option<f64>,
    pub worker_ratio_met: Option<bool>,
    /// Median spawn to first packet, ms (< 5).
    pub spawn_median_ms: Option<f64>,
    pub spawn_met: Option<bool>,
}

/// Everything one `netfn bench workers` measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub frame_bytes: usize,
    pub duration_s: f64,
    pub rate_pps: u64,
    /// Load average (1, 5, 15 min) at the start and the end.
    pub load_start: [f64; 3],
    pub load_end: [f64; 3],
    /// RLIMIT_NOFILE (soft) the runs had.
    pub nofile: u64,
    pub chains: Vec<ChainRow>,
    pub workers: Vec<WorkersRow>,
    pub spawn: Spawn,
    pub idle_memory: Option<IdleMemory>,
    pub targets: Targets,
}

impl Report {
    /// Whether every configuration delivered packets.
    pub fn all_delivered(&self) -> bool {
        let chains = self.chains.iter().all(|c| {
            [
                &c.in_process,
                &c.one_worker,
                &c.worker_per_nf,
                &c.pipe_stages,
                &c.in_process_paced,
                &c.one_worker_paced,
                &c.worker_per_nf_paced,
            ]
            .iter()
            .all(|m| m.error.is_none() && m.packets > 0)
        });
        let workers = self.workers.iter().all(|w| {
            [&w.flat_out, &w.paced]
                .iter()
                .all(|m| m.error.is_none() && m.packets > 0)
        });
        chains && workers && self.spawn.errors.is_empty()
    }

    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let lat = |m: &Measure| match (&m.error, &m.latency) {
            (Some(_), _) => "failed".to_string(),
            (None, Some(l)) => format!("{:>8.1} {:>8.1} {:>8.1}", l.p50_us, l.p99_us, l.p999_us),
            (None, None) => format!("{:>8} {:>8} {:>8}", "-", "-", "-"),
        };
        let mpps = |m: &Measure| match &m.error {
            Some(_) => format!("{:>8}", "failed"),
            None => format!("{:>8.3}", m.mpps),
        };
        let _ = writeln!(
            s,
            "64-byte frames, {:.1} s per run, paced runs at {} pps; load at start {:.2} {:.2} {:.2}",
            self.duration_s,
            self.rate_pps,
            self.load_start[0],
            self.load_start[1],
            self.load_start[2]
        );
        let _ = writeln!(
            s,
            "\nflat out, Mpps (ratio to in-process), latency p50/p99/p99.9 µs:"
        );
        let _ = writeln!(
            s,
            "{:<4} {:<14} {:>8} {:>6}  {:>8} {:>8} {:>8}  {:>5}",
            "NFs", "way", "Mpps", "ratio", "p50", "p99", "p99.9", "load"
        );
        for c in &self.chains {
            for (name, m, ratio) in [
                ("in-process", &c.in_process, 1.0),
                ("one Worker", &c.one_worker, c.one_worker_ratio),
                ("Worker per NF", &c.worker_per_nf, c.worker_per_nf_ratio),
                ("pipe stages", &c.pipe_stages, c.pipe_stages_ratio),
            ] {
                let _ = writeln!(
                    s,
                    "{:<4} {:<14} {} {:>6.2}  {}  {:>5.2}",
                    c.nfs,
                    name,
                    mpps(m),
                    ratio,
                    lat(m),
                    m.load1
                );
            }
        }
        let _ = writeln!(
            s,
            "\nat {} pps offered: delivered Mpps, packets dropped, latency p50/p99/p99.9 µs, load:",
            self.rate_pps
        );
        for c in &self.chains {
            for (name, m) in [
                ("in-process", &c.in_process_paced),
                ("one Worker", &c.one_worker_paced),
                ("Worker per NF", &c.worker_per_nf_paced),
            ] {
                let _ = writeln!(
                    s,
                    "{:<4} {:<14} {} {:>9}  {}  {:>5.2}",
                    c.nfs,
                    name,
                    mpps(m),
                    m.dropped,
                    lat(m),
                    m.load1
                );
            }
        }
        let _ = writeln!(
            s,
            "\nN Workers, each with its own chain (generator -> worker(ttl) -> one sink):\nMpps, dropped, latency p50/p99/p99.9 µs, load:"
        );
        for w in &self.workers {
            for (name, m) in [("flat out", &w.flat_out), ("paced", &w.paced)] {
                let extra = match (&m.error, m.restarts) {
                    (Some(e), _) => format!("  error: {}", e.lines().next().unwrap_or("")),
                    (None, 0) => String::new(),
                    (None, r) => format!("  {r} restarts, {} lost", m.lost),
                };
                let _ = writeln!(
                    s,
                    "{:<5} {:<9} {} {:>9}  {}  {:>5.2}{extra}",
                    w.workers,
                    name,
                    mpps(m),
                    m.dropped,
                    lat(m),
                    m.load1
                );
            }
        }
        let sp = &self.spawn;
        let _ = writeln!(
            s,
            "\nspawn to first packet processed: median {:.2} ms, max {:.2} ms ({} spawns{})",
            sp.median_ms,
            sp.max_ms,
            sp.spawns,
            if sp.errors.is_empty() {
                String::new()
            } else {
                format!(", {} failed", sp.errors.len())
            }
        );
        if let Some(m) = &self.idle_memory {
            let _ = writeln!(
                s,
                "idle Worker memory (median): Rss {} KiB, Pss {} KiB",
                m.rss_kib, m.pss_kib
            );
        }
        let t = &self.targets;
        let verdict = |b: Option<bool>| match b {
            Some(true) => "met",
            Some(false) => "not met",
            None => "not measured",
        };
        let _ = writeln!(
            s,
            "targets: one Worker / in-process, chain of 1 = {} (>= 0.33: {}); spawn median {} ms (< 5: {})",
            t.worker_ratio_chain1
                .map_or("-".to_string(), |r| format!("{r:.2}")),
            verdict(t.worker_ratio_met),
            t.spawn_median_ms
                .map_or("-".to_string(), |r| format!("{r:.2}")),
            verdict(t.spawn_met)
        );
        let _ = writeln!(
            s,
            "load at end {:.2} {:.2} {:.2}",
            self.load_end[0], self.load_end[1], self.load_end[2]
        );
        s
    }
}

fn load() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
    [
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
    ]
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netfn-bench-workers-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Waits for `child` at most `timeout` (then kills it), reading its stdout
/// meanwhile (a large report must not block it): (success, stdout, stderr).
fn wait_output(mut child: Child, timeout: Duration) -> Result<(bool, Vec<u8>, String), String> {
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut buf);
        }
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e.to_string()),
        }
    };
    let stdout = reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    match status {
        Some(s) => Ok((s.success(), stdout, stderr)),
        None => Err(format!("no result within {timeout:?} (killed); {stderr}")),
    }
}

/// Reads a `netfn run --json` report: packets at its sinks, seconds,
/// latency of the sink that measured it, Worker restarts and losses.
fn parse_run(json: &[u8], warmup: Duration, offered_pps: Option<u64>) -> Result<Measure, String> {
    let v: Value = serde_json::from_slice(json).map_err(|e| format!("bad report: {e}"))?;
    let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
    let of = |kind: &'static str| nodes.iter().filter(move |n| n["kind"] == kind);
    let packets: u64 = of("sink").filter_map(|n| n["tx_packets"].as_u64()).sum();
    let extra_sum =
        |name: &str| -> u64 { of("worker").filter_map(|n| n["extra"][name].as_u64()).sum() };
    let latency = of("sink").find_map(|n| {
        let e = &n["extra"];
        let us = |k: &str| e[k].as_u64().map(|ns| ns as f64 / 1e3);
        let samples = e["latency_samples"].as_u64()?;
        (samples > 0).then(|| Latency {
            samples,
            p50_us: us("latency_p50_ns").unwrap_or(f64::NAN),
            p99_us: us("latency_p99_ns").unwrap_or(f64::NAN),
            p999_us: us("latency_p999_ns").unwrap_or(f64::NAN),
            max_us: us("latency_max_ns").unwrap_or(f64::NAN),
        })
    });
    let seconds = v["elapsed_s"].as_f64().unwrap_or(f64::NAN);
    let mut drops = std::collections::BTreeMap::new();
    for n in &nodes {
        for (reason, count) in n["drops"].as_object().into_iter().flatten() {
            *drops.entry(reason.clone()).or_insert(0) += count.as_u64().unwrap_or(0);
        }
    }
    let whole = packets as f64 / seconds / 1e6;
    let measured = seconds - warmup.as_secs_f64();
    let mpps = match &latency {
        Some(l) if measured > 0.0 => l.samples as f64 / measured / 1e6,
        _ => whole,
    };
    Ok(Measure {
        mpps,
        mpps_whole_run: whole,
        packets,
        seconds,
        offered_pps,
        latency,
        dropped: drops.values().sum(),
        drops,
        restarts: extra_sum("restarts"),
        lost: extra_sum("lost"),
        load1: load()[0],
        error: None,
    })
}

/// Time allowed beyond `--duration` for a run (spawning 1000 Workers on a
/// busy machine takes a while).
const RUN_SLACK: Duration = Duration::from_secs(120);

/// Runs `graph` with this binary.
fn run_graph(
    exe: &Path,
    graph: &Path,
    duration: Duration,
    warmup: Duration,
    offered: Option<u64>,
) -> Measure {
    let child = Command::new(exe)
        .args(["run", graph.to_str().unwrap_or_default(), "--json"])
        .args(["--duration", &format!("{}ms", duration.as_millis())])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let result = child
        .map_err(|e| e.to_string())
        .and_then(|c| wait_output(c, duration + RUN_SLACK))
        .and_then(|(ok, out, err)| {
            if ok {
                parse_run(&out, warmup, offered)
            } else {
                Err(err)
            }
        });
    result.unwrap_or_else(|e| Measure::failed(e, offered))
}

/// A pipe-stage chain of `nfs` ttl NFs: `generator | ttl | ... | ttl ->
/// sink`, one `netfn run` per stage, pcap over Unix pipes. Measured at the
/// last stage (which runs until its input ends).
fn run_pipe_chain(exe: &Path, dir: &Path, nfs: usize, duration: Duration) -> Measure {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map(|_| path)
    };
    let files = (|| -> std::io::Result<_> {
        Ok((
            write(
                "pipe-gen.nf",
                "g :: generator(flows = 10000);\ng -> stdout(format = pcap);\n",
            )?,
            write(
                "pipe-mid.nf",
                "stdin(format = pcap) -> ttl() -> stdout(format = pcap);\n",
            )?,
            write("pipe-last.nf", "stdin(format = pcap) -> ttl() -> sink();\n")?,
        ))
    })();
    let (gen_file, mid, last) = match files {
        Ok(f) => f,
        Err(e) => return Measure::failed(e.to_string(), None),
    };
    let mut children: Vec<Child> = Vec::new();
    let spawned = (|| -> Result<Child, String> {
        let mut prev = Command::new(exe)
            .args(["run", gen_file.to_str().unwrap_or_default(), "--quiet"])
            .args(["--duration", &format!("{}ms", duration.as_millis())])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        for stage in 1..=nfs {
            let input = prev.stdout.take().ok_or("no pipe")?;
            children.push(prev);
            let is_last = stage == nfs;
            let file = if is_last { &last } else { &mid };
            let mut cmd = Command::new(exe);
            cmd.args(["run", file.to_str().unwrap_or_default()]);
            if is_last {
                cmd.arg("--json").stderr(Stdio::piped());
            } else {
                cmd.arg("--quiet").stderr(Stdio::null());
            }
            prev = cmd
                .stdin(Stdio::from(input))
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| e.to_string())?;
        }
        Ok(prev)
    })();
    let result = spawned.and_then(|last| wait_output(last, duration + RUN_SLACK));
    for mut c in children {
        // They end on their own once the first stage's duration is up.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(c.try_wait(), Ok(Some(_))) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
    result
        .and_then(|(ok, out, err)| {
            if ok {
                parse_run(&out, Duration::ZERO, None)
            } else {
                Err(err)
            }
        })
        .unwrap_or_else(|e| Measure::failed(e, None))
}

fn pss_rss_kib(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("Rss:")?, field("Pss:")?))
}

/// One spawn: (time to the first packet back, the child's Rss/Pss when idle).
fn spawn_once(exe: &Path, tenant: &Path) -> Result<(Duration, Option<(u64, u64)>), String> {
    let config = RingConfig::default();
    let t0 = Instant::now();
    let region = Region::create(&config).map_err(|e| e.to_string())?;
    let bell = Arc::new(EventFd::new().map_err(|e| e.to_string())?);
    let mut cmd = Command::new(exe);
    cmd.arg("worker").arg(tenant).stdin(Stdio::null());
    let mut child =
        netfn_ring::spawn_worker(&mut cmd, &region, &bell).map_err(|e| e.to_string())?;
    let tunables = netfn_ring::Tunables {
        wake_threshold: 0,
        ..config.tunables
    };
    let mut master = Master::new(region, bell, &tunables).map_err(|e| e.to_string())?;
    // Any 64 bytes: processed means handed back, whatever the verdict.
    let frame = [0u8; 64];
    master
        .push(&frame, &Meta::default(), 0)
        .map_err(|e| e.to_string())?;
    let deadline = t0 + Duration::from_secs(5);
    let mut back = false;
    let result = loop {
        let _ = master.poll(0, |_: Returned<'_>| back = true);
        if back {
            break Ok(t0.elapsed());
        }
        if Instant::now() > deadline {
            break Err("no packet back within 5 s".to_string());
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!("the Worker exited: {status}"));
        }
        std::hint::spin_loop();
    };
    // Idle for a moment, then its memory.
    std::thread::sleep(Duration::from_millis(20));
    let mem = pss_rss_kib(child.id());
    master.shutdown();
    let _ = child.kill();
    let _ = child.wait();
    result.map(|d| (d, mem))
}

/// Raises the soft open-file limit to the hard one (inherited by the runs:
/// a Master holds a region and an eventfd per Worker). Returns the limit.
fn raise_nofile() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        lim.current = lim.maximum;
        let _ = setrlimit(Resource::Nofile, lim);
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Warm-up allowed per Worker of the N-Worker runs: the Master spawns them
/// one after the other and does not wait for them, and each takes a few ms
/// of CPU to start (exec, graph, pool) on a machine of 2 busy cores.
const WORKER_STARTUP: Duration = Duration::from_millis(5);

/// `ttl() -> ` `n` times.
fn ttls(n: usize) -> String {
    "ttl() -> ".repeat(n)
}

pub fn measure(opts: &Options) -> Result<Report, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let dir = scratch();
    let nofile = raise_nofile();
    let load_start = load();
    let d = opts.duration;
    let rate = opts.rate.max(1);
    let write = |name: &str, text: &str| -> Result<PathBuf, String> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    };
    let mut tenants = std::collections::BTreeSet::new();
    tenants.insert(1);
    tenants.extend(opts.chains.iter().copied());
    for &k in &tenants {
        write(
            &format!("chain{k}.nf"),
            &format!("r :: ring();\nr -> {}r;\n", ttls(k)),
        )?;
    }
    let source = |rate: Option<u64>, flows: u32| {
        let rate = rate.map_or(String::new(), |r| format!(", rate = {r}"));
        format!("generator(flows = {flows}, timestamp = precise{rate})")
    };
    // Latency and steady Mpps are measured after the Workers started and
    // the rings filled: the first quarter of the run, plus `startup` (the
    // run is that much longer).
    let run = |name: &str, body: &str, rate: Option<u64>, startup: Duration| {
        let warmup = d / 4 + startup;
        let sink = format!(
            "s :: sink(latency = true, warmup = {}ms);\n",
            warmup.as_millis()
        );
        let path = write(&format!("{name}.nf"), &format!("{sink}{body}"))?;
        let m = run_graph(&exe, &path, d + startup, warmup, rate);
        if !opts.json {
            let what = match &m.error {
                Some(e) => format!("failed: {}", e.lines().next().unwrap_or("")),
                None => format!("{:.3} Mpps", m.mpps),
            };
            eprintln!("  {name}: {what} (load {:.2})", m.load1);
        }
        Ok::<Measure, String>(m)
    };

    let mut chains = Vec::new();
    for &k in &opts.chains {
        let graphs = |rate: Option<u64>| {
            let src = source(rate, 10_000);
            [
                format!("src :: {src};\nsrc -> {}s;\n", ttls(k)),
                format!("src :: {src};\nsrc -> worker(graph = \"chain{k}.nf\") -> s;\n"),
                format!(
                    "src :: {src};\nsrc -> {}s;\n",
                    "worker(graph = \"chain1.nf\") -> ".repeat(k)
                ),
            ]
        };
        let [a, b, c] = graphs(None);
        let in_process = run(&format!("inproc-{k}"), &a, None, Duration::ZERO)?;
        let one_worker = run(&format!("worker-{k}"), &b, None, Duration::ZERO)?;
        let worker_per_nf = run(&format!("per-nf-{k}"), &c, None, Duration::ZERO)?;
        let pipe_stages = run_pipe_chain(&exe, &dir, k, d);
        if !opts.json {
            eprintln!(
                "  pipes-{k}: {:.3} Mpps (load {:.2})",
                pipe_stages.mpps, pipe_stages.load1
            );
        }
        let [a, b, c] = graphs(Some(rate));
        let in_process_paced = run(&format!("inproc-{k}-paced"), &a, Some(rate), Duration::ZERO)?;
        let one_worker_paced = run(&format!("worker-{k}-paced"), &b, Some(rate), Duration::ZERO)?;
        let worker_per_nf_paced =
            run(&format!("per-nf-{k}-paced"), &c, Some(rate), Duration::ZERO)?;
        let ratio = |m: &Measure| m.mpps / in_process.mpps;
        chains.push(ChainRow {
            nfs: k,
            one_worker_ratio: ratio(&one_worker),
            worker_per_nf_ratio: ratio(&worker_per_nf),
            pipe_stages_ratio: ratio(&pipe_stages),
            in_process,
            one_worker,
            worker_per_nf,
            pipe_stages,
            in_process_paced,
            one_worker_paced,
            worker_per_nf_paced,
        });
    }

    let mut workers = Vec::new();
    for &n in &opts.workers {
        let graph = |rate: Option<u64>| {
            let mut text = String::new();
            for i in 0..n {
                text.push_str(&format!(
                    "g{i} :: {};\ng{i} -> worker(graph = \"chain1.nf\", slots = 256, aux_slots = 16) -> s;\n",
                    source(rate, 1000)
                ));
            }
            text
        };
        // The offered rate in total, split evenly (at least 1 pps each).
        let each = (rate / n as u64).max(1);
        let startup = WORKER_STARTUP * n as u32;
        let flat_out = run(&format!("workers-{n}"), &graph(None), None, startup)?;
        let paced = run(
            &format!("workers-{n}-paced"),
            &graph(Some(each)),
            Some(each * n as u64),
            startup,
        )?;
        workers.push(WorkersRow {
            workers: n,
            flat_out,
            paced,
        });
    }

    let tenant = dir.join("chain1.nf");
    let mut times = Vec::new();
    let mut mems = Vec::new();
    let mut errors = Vec::new();
    for _ in 0..opts.spawns {
        match spawn_once(&exe, &tenant) {
            Ok((d, mem)) => {
                times.push(d);
                mems.extend(mem);
            }
            Err(e) => errors.push(e),
        }
    }
    times.sort();
    let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    let spawn = Spawn {
        spawns: times.len(),
        median_ms: ms(times.get(times.len() / 2)),
        max_ms: ms(times.last()),
        errors,
    };
    mems.sort();
    let idle_memory = mems
        .get(mems.len() / 2)
        .map(|&(rss_kib, pss_kib)| IdleMemory { rss_kib, pss_kib });
    let worker_ratio_chain1 = chains
        .iter()
        .find(|c| c.nfs == 1 && c.in_process.error.is_none() && c.one_worker.error.is_none())
        .map(|c| c.one_worker_ratio);
    let spawn_median_ms = (!times.is_empty()).then_some(spawn.median_ms);
    let targets = Targets {
        worker_ratio_met: worker_ratio_chain1.map(|r| r >= 1.0 / 3.0),
        worker_ratio_chain1,
        spawn_met: spawn_median_ms.map(|m| m < 5.0),
        spawn_median_ms,
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Report {
        frame_bytes: 64,
        duration_s: d.as_secs_f64(),
        rate_pps: rate,
        load_start,
        load_end: load(),
        nofile,
        chains,
        workers,
        spawn,
        idle_memory,
        targets,
    })
}

pub fn run(opts: &Options) -> ExitCode {
    let report = match measure(opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("netfn bench workers: {e}");
            return ExitCode::from(1);
        }
    };
    if opts.json {
        println!("{}", serde_json::to_string(&report).expect("serialisable"));
    } else {
        print!("{}", report.table());
    }
    if report.all_delivered() {
        ExitCode::SUCCESS
    } else {
        eprintln!("netfn bench workers: some configurations delivered nothing (see above)");
        ExitCode::from(1)
    }
}
