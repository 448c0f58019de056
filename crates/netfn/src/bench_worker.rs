//! `netfn bench workers`: Worker processes measured against the same NF
//! in-process (issue 6 benchmarks).
//!
//! * throughput: `generator -> ttl -> sink` in-process vs `generator ->
//!   worker(ttl) -> sink`, 64-byte frames, each a `netfn run --json` of
//!   this binary for `--duration`; then N Workers each with its own chain
//!   (one generator and sink per Worker, one Master thread for all);
//! * spawn to first packet: a Worker spawned with a fresh region, one
//!   packet pushed at once, timed until it comes back processed (median
//!   and max of `--spawns`);
//! * memory of an idle Worker: Rss and Pss from `/proc/PID/smaps_rollup`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netfn_ring::{EventFd, Master, Meta, Region, Returned, RingConfig};

const TENANT: &str = "r :: ring();\nr -> ttl() -> r;\n";

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netfn-bench-workers-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Runs `graph` with this binary: (packets at its sinks, seconds).
fn run_graph(exe: &Path, graph: &Path, duration: Duration) -> Result<(u64, f64), String> {
    let out = Command::new(exe)
        .args(["run", graph.to_str().unwrap_or_default(), "--json"])
        .args(["--duration", &format!("{}ms", duration.as_millis())])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let sunk = v["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter(|n| n["kind"] == "sink")
                .filter_map(|n| n["tx_packets"].as_u64())
                .sum()
        })
        .unwrap_or(0);
    Ok((sunk, v["elapsed_s"].as_f64().unwrap_or(f64::NAN)))
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

pub fn run(workers: &[usize], spawns: usize, duration: Duration) -> ExitCode {
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("netfn bench workers: cannot find this binary");
        return ExitCode::from(1);
    };
    let dir = scratch();
    let tenant = dir.join("tenant.nf");
    if let Err(e) = std::fs::write(&tenant, TENANT) {
        eprintln!("netfn bench workers: {e}");
        return ExitCode::from(1);
    }
    let mut failed = false;
    let mut row = |name: &str, text: &str| {
        let path = dir.join(format!("{name}.nf"));
        let _ = std::fs::write(&path, text);
        match run_graph(&exe, &path, duration) {
            Ok((n, secs)) => {
                let mpps = n as f64 / secs / 1e6;
                println!("{name:<28} {mpps:>8.3} Mpps  ({n} packets in {secs:.2} s)");
                Some(mpps)
            }
            Err(e) => {
                eprintln!("{name}: {e}");
                failed = true;
                None
            }
        }
    };
    println!("throughput, 64-byte frames, generator -> ... -> sink, {duration:?} each:");
    let source = "src :: generator(flows = 10000);\n";
    let inproc = row(
        "in-process ttl",
        &format!("{source}src -> ttl() -> sink();\n"),
    );
    let one = row(
        "1 Worker (ttl)",
        &format!("{source}src -> worker(graph = \"tenant.nf\") -> sink();\n"),
    );
    if let (Some(a), Some(b)) = (inproc, one) {
        println!("{:<28} {:>8.2}", "Worker / in-process", b / a);
    }
    for &n in workers {
        let mut text = String::new();
        for i in 0..n {
            text.push_str(&format!(
                "g{i} :: generator(flows = 1000);\ng{i} -> worker(graph = \"tenant.nf\", slots = 256, aux_slots = 16) -> sink();\n"
            ));
        }
        row(&format!("{n} Workers, 1 chain each"), &text);
    }

    let mut times = Vec::new();
    let mut mems = Vec::new();
    for _ in 0..spawns {
        match spawn_once(&exe, &tenant) {
            Ok((d, mem)) => {
                times.push(d);
                mems.extend(mem);
            }
            Err(e) => {
                eprintln!("spawn: {e}");
                failed = true;
            }
        }
    }
    times.sort();
    if let (Some(med), Some(max)) = (times.get(times.len() / 2), times.last()) {
        println!(
            "spawn to first packet processed: median {:.2} ms, max {:.2} ms ({} spawns)",
            med.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            times.len()
        );
    }
    mems.sort();
    if let Some((rss, pss)) = mems.get(mems.len() / 2) {
        println!("idle Worker memory (median): Rss {rss} KiB, Pss {pss} KiB");
    }
    let _ = std::fs::remove_dir_all(&dir);
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
