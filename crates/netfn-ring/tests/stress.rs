//! Two real processes: this test binary is the Master and re-executes
//! itself (`--worker`) as the Worker over a memfd region and an eventfd.
//! Millions of sequence-numbered packets of varying size go through; the
//! Worker checks it sees them in order with the bytes the Master wrote,
//! modifies each in place, drops some, generates one or two packets after
//! others (and replaces some); the Master checks it gets back exactly that:
//! nothing lost, duplicated or reordered, generated packets right after
//! their parent.
//!
//! `cargo test -p netfn-ring --release --test stress` (STRESS_PACKETS=n to
//! change the count; default 2 000 000).

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use netfn_ring::{
    Master, Meta, PushError, Region, Returned, RingConfig, Tunables, Verdict, Worker, spawn_worker,
    worker_fds_from_env,
};

/// Generated packets carry this bit in their sequence number.
const GENERATED: u64 = 1 << 63;

/// What the Worker does with packet `seq`: (drop, packets generated).
fn behaviour(seq: u64) -> (bool, u64) {
    if seq % 1009 == 5 {
        (true, 2) // replaced
    } else if seq % 97 == 3 {
        (true, 0)
    } else if seq % 89 == 7 {
        (false, 1)
    } else {
        (false, 0)
    }
}

fn size_of(seq: u64) -> usize {
    60 + (seq.wrapping_mul(2654435761) % 1455) as usize // 60..=1514
}

/// Packet `seq`'s bytes: its number, then a byte pattern of it.
fn fill(buf: &mut [u8], seq: u64) {
    buf.fill(seq as u8 ^ 0x5a);
    buf[..8].copy_from_slice(&seq.to_le_bytes());
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--worker") {
        return worker();
    }
    if args.iter().any(|a| a == "--list") {
        println!("stress: test");
        return ExitCode::SUCCESS;
    }
    let packets: u64 = std::env::var("STRESS_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let start = Instant::now();
    match master(packets) {
        Ok(()) => {
            println!(
                "test stress ({packets} packets, two processes) ... ok in {:.1?}",
                start.elapsed()
            );
            println!(
                "\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("test stress ... FAILED: {e}");
            println!(
                "\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out"
            );
            ExitCode::FAILURE
        }
    }
}

fn config() -> RingConfig {
    RingConfig {
        primary_slots: 512,
        aux_slots: 64,
        tunables: Tunables {
            wake_threshold: 16,
            starvation_timeout: Duration::from_micros(20),
            publish_every: 16,
        },
        ..RingConfig::default()
    }
}

fn master(packets: u64) -> Result<(), String> {
    let cfg = config();
    let region = Region::create(&cfg).map_err(|e| e.to_string())?;
    let bell = netfn_ring::EventFd::new().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = spawn_worker(Command::new(exe).arg("--worker"), &region, &bell)
        .map_err(|e| format!("spawn worker: {e}"))?;
    let mut master = Master::new(region, bell, &cfg.tunables).map_err(|e| e.to_string())?;

    let clock = Instant::now();
    let mut sent = 0u64;
    // The next primary seq expected back, and generated ones still due.
    let mut expect = 0u64;
    let mut due: Vec<u64> = Vec::new();
    let mut error: Option<String> = None;
    let mut frame = vec![0u8; 1514];
    let deadline = Instant::now() + Duration::from_secs(300);
    while expect < packets && error.is_none() {
        let now = clock.elapsed().as_nanos() as u64;
        while sent < packets {
            let len = size_of(sent);
            fill(&mut frame[..len], sent);
            let meta = Meta {
                user: sent,
                input_port: (sent % 7) as u16,
                flow_hash: sent.is_multiple_of(3).then_some(sent as u32),
                timestamp: now,
            };
            match master.push(&frame[..len], &meta, now) {
                Ok(()) => sent += 1,
                Err(PushError::Full) => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        master
            .poll(now, |r| {
                if error.is_some() {
                    return;
                }
                let got = match r {
                    Returned::Generated(data, meta) => {
                        let ok = meta.user & GENERATED != 0
                            && due.first() == Some(&meta.user)
                            && data.len() == 64
                            && data[..8] == meta.user.to_le_bytes();
                        if ok {
                            due.remove(0);
                            return;
                        }
                        format!("generated {:#x} (due {due:x?})", meta.user)
                    }
                    _ if !due.is_empty() => format!("generated {due:x?} missing"),
                    Returned::Forward(data, meta) => {
                        let seq = meta.user;
                        let (drop, generate) = behaviour(seq);
                        let mut want = vec![0u8; size_of(seq)];
                        fill(&mut want, seq);
                        want[0] ^= 0xff; // the Worker's in-place change
                        let meta_ok = meta.input_port == (seq % 7) as u16
                            && meta.flow_hash == seq.is_multiple_of(3).then_some(seq as u32);
                        if seq == expect && !drop && data == &want[..] && meta_ok {
                            expect += 1;
                            due.extend((0..generate).map(|j| GENERATED | (seq << 2) | j));
                            return;
                        }
                        let diff = data.iter().zip(&want).position(|(a, b)| a != b);
                        format!(
                            "forwarded {seq} (len {}, want {}, first difference at {diff:?}, meta {meta:?}), expected {expect}",
                            data.len(),
                            want.len()
                        )
                    }
                    Returned::Dropped(meta) => {
                        let seq = meta.user;
                        let (drop, generate) = behaviour(seq);
                        if seq == expect && drop {
                            expect += 1;
                            due.extend((0..generate).map(|j| GENERATED | (seq << 2) | j));
                            return;
                        }
                        format!("dropped {seq}, expected {expect}")
                    }
                };
                error = Some(got);
            })
            .map_err(|e| e.to_string())?;
        master.check_for_old_data(now);
        if Instant::now() > deadline {
            return Err(format!("timed out: {expect} of {packets} back"));
        }
    }
    if let Some(e) = error {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    if !due.is_empty() {
        return Err(format!("generated {due:x?} never came"));
    }
    let stats = master.stats();
    let lost = master.aux_lost();
    master.shutdown();
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("worker exited with {status}"));
    }
    if lost != 0 {
        return Err(format!("{lost} generated packets lost to a full aux ring"));
    }
    eprintln!("stress: {stats:?}");
    Ok(())
}

fn worker() -> ExitCode {
    // Dies with the Master.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    let (region, bell) = match worker_fds_from_env() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("worker: {e}");
            return ExitCode::from(2);
        }
    };
    let tunables = Tunables {
        publish_every: region.config().tunables.publish_every,
        ..Tunables::default()
    };
    let mut worker = Worker::new(region, bell, &tunables);
    let mut expect = 0u64;
    let mut failure: Option<String> = None;
    let result = worker.run(|t| {
        let seq = t.meta().user;
        if failure.is_none() {
            let mut want = vec![0u8; size_of(expect)];
            fill(&mut want, expect);
            if seq != expect || t.data() != &want[..] {
                failure = Some(format!(
                    "worker: got {seq} (len {}), expected {expect}",
                    t.data().len()
                ));
            }
        }
        expect = seq + 1;
        t.data_mut()[0] ^= 0xff;
        let (drop, generate) = behaviour(seq);
        for j in 0..generate {
            let id = GENERATED | (seq << 2) | j;
            let meta = Meta {
                user: id,
                ..Meta::default()
            };
            let _ = t.emit(&meta, |buf| {
                buf[..8].copy_from_slice(&id.to_le_bytes());
                64
            });
        }
        if drop { Verdict::Drop } else { Verdict::Pass }
    });
    if let Err(e) = result {
        eprintln!("worker: {e}");
        return ExitCode::from(3);
    }
    if let Some(f) = failure {
        eprintln!("{f}");
        return ExitCode::from(4);
    }
    ExitCode::SUCCESS
}
