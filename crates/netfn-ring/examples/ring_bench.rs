//! The ring alone: 64-byte packets Master -> Worker -> Master, with a
//! Worker that touches each packet in place, next to a plain in-process
//! copy loop over the same slot layout (copy in, copy out; no second
//! party) measured in the same run.
//!
//! ```sh
//! cargo run --release -p netfn-ring --example ring_bench            # 2 s per variant
//! cargo run --release -p netfn-ring --example ring_bench -- 5       # 5 s per variant
//! ```
//!
//! Latency is sampled on one packet in 1024 (push to read-back, Master's
//! clock). On a machine with fewer free cores than Master + Worker the
//! threads/processes share a core and the figures show scheduling, not
//! the ring.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netfn_ring::{
    DEFAULT_SLOT_SIZE, EventFd, Master, Memory, Meta, PushError, Region, Returned, RingConfig,
    SLOT_HEADER, Tunables, Verdict, Worker, spawn_worker, worker_fds_from_env,
};

const FRAME: usize = 64;

struct Outcome {
    packets: u64,
    elapsed: Duration,
    latencies: Vec<u64>,
}

impl Outcome {
    fn mpps(&self) -> f64 {
        self.packets as f64 / self.elapsed.as_secs_f64() / 1e6
    }
    fn percentile(&mut self, p: f64) -> Option<f64> {
        if self.latencies.is_empty() {
            return None;
        }
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() - 1) as f64 * p) as usize;
        Some(self.latencies[i] as f64 / 1000.0)
    }
}

fn config() -> RingConfig {
    RingConfig {
        primary_slots: 1024,
        aux_slots: 64,
        ..RingConfig::default()
    }
}

/// The baseline: what the Master's copies cost without a Worker.
fn copy_loop(duration: Duration) -> Outcome {
    let slots = config().primary_slots as usize;
    let stride = DEFAULT_SLOT_SIZE as usize;
    let mut ring = vec![0u8; slots * stride];
    let frame = [0xabu8; FRAME];
    let mut out = [0u8; FRAME];
    let mut sum = 0u64;
    let start = Instant::now();
    let mut packets = 0u64;
    while start.elapsed() < duration {
        for i in 0..slots {
            let at = i * stride + SLOT_HEADER;
            ring[at..at + FRAME].copy_from_slice(&frame);
            ring[at] ^= 1; // the "Worker"
        }
        for i in 0..slots {
            let at = i * stride + SLOT_HEADER;
            out.copy_from_slice(&ring[at..at + FRAME]);
            sum = sum.wrapping_add(u64::from(out[0]));
        }
        packets += slots as u64;
    }
    std::hint::black_box(sum);
    Outcome {
        packets,
        elapsed: start.elapsed(),
        latencies: Vec::new(),
    }
}

fn drive<M: Memory>(
    master: &mut Master<M, impl netfn_ring::Doorbell>,
    duration: Duration,
) -> Outcome {
    let frame = [0xabu8; FRAME];
    let clock = Instant::now();
    let mut seq = 0u64;
    let mut back = 0u64;
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut sum = 0u64;
    while clock.elapsed() < duration {
        let now = clock.elapsed().as_nanos() as u64;
        let before = (seq, back);
        loop {
            let meta = Meta {
                user: seq,
                timestamp: now,
                ..Meta::default()
            };
            match master.push(&frame, &meta, now) {
                Ok(()) => seq += 1,
                Err(PushError::Full) => break,
                Err(e) => panic!("{e}"),
            }
        }
        master
            .poll(now, |r| {
                if let Returned::Forward(d, m) = r {
                    sum = sum.wrapping_add(u64::from(d[0]));
                    if m.user % 1024 == 0 {
                        latencies.push(clock.elapsed().as_nanos() as u64 - m.timestamp);
                    }
                    back += 1;
                }
            })
            .expect("protocol");
        master.check_for_old_data(now);
        if (seq, back) == before {
            // Nothing moved: give the core to the Worker in case they share
            // one (the thesis gives the Master a core of its own).
            std::thread::yield_now();
        }
    }
    let elapsed = clock.elapsed();
    std::hint::black_box(sum);
    Outcome {
        packets: back,
        elapsed,
        latencies,
    }
}

fn echo(t: &mut netfn_ring::Token<'_, impl Memory>) -> Verdict {
    t.data_mut()[0] ^= 1;
    Verdict::Pass
}

fn threads(duration: Duration) -> Outcome {
    let cfg = config();
    let region = Arc::new(Region::create(&cfg).expect("region"));
    let bell = Arc::new(EventFd::new().expect("eventfd"));
    let mut master = Master::new(region.clone(), bell.clone(), &cfg.tunables).expect("fresh");
    let mut worker = Worker::new(region, bell, &cfg.tunables);
    let handle = std::thread::spawn(move || worker.run(echo).expect("protocol"));
    let outcome = drive(&mut master, duration);
    master.shutdown();
    handle.join().expect("worker thread");
    outcome
}

fn processes(duration: Duration) -> Outcome {
    let cfg = config();
    let region = Region::create(&cfg).expect("region");
    let bell = EventFd::new().expect("eventfd");
    let exe = std::env::current_exe().expect("current exe");
    let mut child =
        spawn_worker(Command::new(exe).arg("--worker"), &region, &bell).expect("spawn worker");
    let mut master = Master::new(region, bell, &cfg.tunables).expect("fresh");
    let outcome = drive(&mut master, duration);
    master.shutdown();
    let status = child.wait().expect("wait");
    assert!(status.success(), "worker: {status}");
    outcome
}

fn worker_process() {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    let (region, bell) = worker_fds_from_env().expect("inherited region");
    let tunables = Tunables {
        publish_every: region.config().tunables.publish_every,
        ..Tunables::default()
    };
    Worker::new(region, bell, &tunables)
        .run(echo)
        .expect("protocol");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--worker") {
        return worker_process();
    }
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let duration = Duration::from_secs_f64(secs);
    let t = config().tunables;
    println!(
        "ring bench: {FRAME}-byte packets, {} slots of {} B, wake_threshold {}, publish_every {}, starvation_timeout {:?}, {secs} s each, {} CPUs",
        config().primary_slots,
        DEFAULT_SLOT_SIZE,
        t.wake_threshold,
        t.publish_every,
        t.starvation_timeout,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", load.trim());
    }
    let base = copy_loop(duration).mpps();
    println!(
        "{:<34} {:>8} {:>10} {:>9} {:>9}",
        "variant", "Mpps", "vs copy", "p50 µs", "p99 µs"
    );
    println!(
        "{:<34} {:>8.2} {:>10} {:>9} {:>9}",
        "copy loop (1 thread, baseline)", base, "1.00", "-", "-"
    );
    for (name, mut o) in [
        ("ring: Master + Worker threads", threads(duration)),
        ("ring: Master + Worker processes", processes(duration)),
    ] {
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let p50 = fmt(o.percentile(0.5));
        let p99 = fmt(o.percentile(0.99));
        println!(
            "{:<34} {:>8.2} {:>10.2} {:>9} {:>9}",
            name,
            o.mpps(),
            o.mpps() / base,
            p50,
            p99
        );
    }
}
