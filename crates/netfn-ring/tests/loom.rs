//! Model checking of the ring protocol with loom: the Master and Worker of
//! `netfn_ring` (the real code, with loom's atomics, cells and semaphore
//! swapped in by `--cfg loom`) on small rings, every interleaving up to
//! `LOOM_MAX_PREEMPTIONS` preemptions (default 2).
//!
//! Run: `scripts/loom.sh` (= `RUSTFLAGS="--cfg loom" cargo test -p
//! netfn-ring --release --test loom`).
//!
//! Properties checked, for the primary ring and the aux ring together (the
//! thesis model checked the primary ring only):
//! * index order (P1, P2): the Master checks on every poll that
//!   `M.consIndex <= W.prodIndex <= M.prodIndex` (circularly), the Worker
//!   that `M.prodIndex` is in the ring; a violation fails the run;
//! * bounded pending counts (P3, P4): the Master never holds more than
//!   `N - 1` tokens (asserted after every push), a Worker leaves nothing
//!   processed but unpublished when it goes back to sleep, at most 2
//!   wake-ups are ever outstanding (the `Semaphore` asserts it);
//! * no token lost, duplicated or reordered, generated tokens right after
//!   the token they belong to, in order, each exactly once (or counted as
//!   lost to a full aux ring), in-place changes of the Worker visible to the
//!   Master: the Master's output is compared with what the Worker did;
//! * no data race on slot data (loom's cells check that the Acquire/Release
//!   pairs order every slot access between the two sides);
//! * no deadlock (loom fails a run where every thread blocks) and progress
//!   (P5, P6): the Master gets every token back, so the run ends; a
//!   livelock would exceed loom's branch bound and fail.
#![cfg(loom)]

use std::sync::Arc;
use std::time::Duration;

use netfn_ring::{
    HeapMemory, Master, Meta, PushError, Returned, Semaphore, Tunables, Verdict, Wake, Worker,
};

#[derive(Clone, Copy)]
struct Case {
    slots: u32,
    aux: u32,
    tokens: u64,
    wake: u32,
    publish: u32,
    /// Tokens the Master produces per round at most (Algorithm 1's N).
    per_round: u32,
    /// What the Worker does with each token.
    behaviour: Behaviour,
    /// The Master stages a round's tokens and publishes them at once
    /// (`stage` + `publish`, as `RingPort` does) instead of `push`ing each.
    burst: bool,
}

/// What the Worker does with token `k`: drop it or not, and how many
/// tokens it generates after it (0, 1 or 2): every kind of primary slot
/// (pass, drop, pass + aux, replaced).
fn mixed(k: u64) -> (bool, u64) {
    match k % 4 {
        0 => (false, 1),
        1 => (true, 0),
        2 => (false, 0),
        _ => (true, 2), // replaced by two new tokens
    }
}

/// Every token generates one: the aux ring laps while the primary ring
/// still holds tokens from before the Master's last read of it, the case
/// where reusing an aux slot relies on the Acquire of `auxConsIndex`.
fn each_generates(_: u64) -> (bool, u64) {
    (false, 1)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Forward(u64),
    Dropped(u64),
    Generated(u64, u64),
}

#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Mixed,
    EachGenerates,
}

impl Behaviour {
    fn of(self, k: u64) -> (bool, u64) {
        match self {
            Behaviour::Mixed => mixed(k),
            Behaviour::EachGenerates => each_generates(k),
        }
    }
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "slots {} aux {} tokens {} wake {} publish {} ({:?}{})",
            self.slots,
            self.aux,
            self.tokens,
            self.wake,
            self.publish,
            self.behaviour,
            if self.burst { ", bursts" } else { "" }
        )
    }
}

fn run(case: Case) {
    let tunables = Tunables {
        wake_threshold: case.wake,
        // In rounds of the Master's loop: the model has no clock (the
        // thesis' emulated timestamp, §5.5).
        starvation_timeout: Duration::from_nanos(2),
        publish_every: case.publish,
    };
    let mem = Arc::new(HeapMemory::new(case.slots, case.aux, 16));
    let bell = Arc::new(Semaphore::new());
    let mut master = Master::new(mem.clone(), bell.clone(), &tunables).expect("fresh memory");
    let mut worker = Worker::new(mem, bell, &tunables);

    let handle = loom::thread::spawn(move || {
        // What the Worker did: (token, generated tokens that made it).
        let mut log: Vec<(u64, Vec<u64>)> = Vec::new();
        loop {
            let wake = worker.wait();
            worker
                .process(|t| {
                    let k = t.meta().user;
                    // The Master's bytes are visible (its Release / our Acquire).
                    assert_eq!(t.data(), &k.to_le_bytes()[..], "token {k}: stale data");
                    // Modify in place: the Master must see it without a copy.
                    t.data_mut()[0] ^= 0xff;
                    let (drop, generate) = case.behaviour.of(k);
                    let mut made = Vec::new();
                    for j in 0..generate {
                        let meta = Meta {
                            user: k * 100 + j,
                            ..Meta::default()
                        };
                        let ok = t
                            .emit(&meta, |buf| {
                                buf[..8].copy_from_slice(&(k * 100 + j).to_le_bytes());
                                8
                            })
                            .is_ok();
                        if ok {
                            made.push(j);
                        }
                    }
                    log.push((k, made));
                    if drop { Verdict::Drop } else { Verdict::Pass }
                })
                .expect("Master index in range");
            assert!(worker.unpublished() == 0, "tokens left unpublished");
            if wake == Wake::Shutdown {
                return log;
            }
        }
    });

    let mut out: Vec<Out> = Vec::new();
    let mut sent = 0u64;
    let mut returned = 0u64;
    let mut round = 0u64;
    while returned < case.tokens {
        round += 1;
        let mut busy = false;
        // Phase (i): produce up to `per_round` tokens, stop when full.
        for _ in 0..case.per_round {
            if sent == case.tokens {
                break;
            }
            let meta = Meta {
                user: sent,
                ..Meta::default()
            };
            let pushed = if case.burst {
                master.stage(&sent.to_le_bytes(), &meta, round)
            } else {
                master.push(&sent.to_le_bytes(), &meta, round)
            };
            match pushed {
                Ok(()) => {
                    sent += 1;
                    busy = true;
                }
                Err(PushError::Full) => break,
                Err(e) => panic!("push: {e}"),
            }
            assert!(master.pending() < case.slots, "P3: more than N-1 tokens");
        }
        if case.burst {
            master.publish();
        }
        // Phase (ii): drain what the Worker handed back.
        let n = master
            .poll(round, |r| {
                out.push(match r {
                    Returned::Forward(data, meta) => {
                        let mut want = meta.user.to_le_bytes();
                        want[0] ^= 0xff;
                        assert_eq!(data, &want[..], "in-place change not visible");
                        Out::Forward(meta.user)
                    }
                    Returned::Dropped(meta) => Out::Dropped(meta.user),
                    Returned::Generated(data, meta) => {
                        assert_eq!(data, &meta.user.to_le_bytes()[..]);
                        Out::Generated(meta.user / 100, meta.user % 100)
                    }
                })
            })
            .expect("P1/P2: Worker indexes in order");
        returned += n as u64;
        busy |= n > 0;
        // Phase (iii): wake a Worker whose tokens are too old.
        master.check_for_old_data(round);
        if !busy {
            loom::thread::yield_now();
        }
    }
    master.shutdown();
    let log = handle.join().expect("worker");

    let mut want = Vec::new();
    for (k, made) in &log {
        let (drop, _) = case.behaviour.of(*k);
        want.push(if drop {
            Out::Dropped(*k)
        } else {
            Out::Forward(*k)
        });
        want.extend(made.iter().map(|&j| Out::Generated(*k, j)));
    }
    assert_eq!(log.len() as u64, case.tokens, "Worker saw each token once");
    for (i, (k, _)) in log.iter().enumerate() {
        assert_eq!(*k, i as u64, "Worker saw tokens out of order");
    }
    assert_eq!(out, want, "Master output differs from what the Worker did");
    let lost: u64 = log
        .iter()
        .map(|(k, made)| case.behaviour.of(*k).1 - made.len() as u64)
        .sum();
    assert_eq!(master.aux_lost(), lost, "aux losses counted");
}

fn check(case: Case) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.max_branches = 100_000;
    builder.check(move || run(case));
}

/// Checks each (wake_threshold, publish_every) pair on a ring of `slots`
/// with each aux ring size (2 or 3 slots: capacity 1 or 2, so generated
/// tokens also meet a full aux ring). `tokens > slots - 1`, so the ring
/// fills and wraps and slots are reused.
fn matrix(slots: u32, tokens: u64, aux: &[u32], thresholds: &[(u32, u32)]) {
    matrix_of(Behaviour::Mixed, slots, tokens, aux, thresholds)
}

fn matrix_of(
    behaviour: Behaviour,
    slots: u32,
    tokens: u64,
    aux: &[u32],
    thresholds: &[(u32, u32)],
) {
    for (i, &(wake, publish)) in thresholds.iter().enumerate() {
        for &aux in aux {
            let case = Case {
                slots,
                aux,
                tokens,
                wake,
                publish,
                per_round: slots,
                behaviour,
                // Half the pairs each way: both paths on every ring size.
                burst: i % 2 == 1,
            };
            let start = std::time::Instant::now();
            check(case);
            eprintln!("loom: {case:?} in {:.1?}", start.elapsed());
        }
    }
}

/// Every threshold 1..=8 on both sides (a wake threshold at or above the
/// ring's capacity means the Worker is only ever woken by the timeout).
fn all_pairs() -> Vec<(u32, u32)> {
    (1..=8).flat_map(|w| (1..=8).map(move |p| (w, p))).collect()
}

#[test]
fn ring_of_2() {
    matrix(2, 3, &[2, 3], &all_pairs());
}

#[test]
fn ring_of_3() {
    matrix(3, 4, &[2, 3], &all_pairs());
}

#[test]
fn ring_of_4() {
    matrix(4, 5, &[2], &all_pairs());
    matrix(4, 5, &[3], &[(2, 2), (3, 1), (1, 4)]);
}

/// The largest ring, for a few pairs only: the state space grows fast
/// (a publication per token costs most: (1, 1) alone runs for minutes).
#[test]
fn ring_of_8() {
    matrix(8, 9, &[2], &[(4, 4), (8, 2), (7, 7), (8, 8)]);
    matrix(8, 9, &[3], &[(2, 7)]);
}

/// The aux ring lapping under a primary ring that still holds older
/// tokens (publication per token or two, so the Master reads aux slots
/// while the Worker goes on generating).
#[test]
fn aux_ring_laps() {
    matrix_of(
        Behaviour::EachGenerates,
        4,
        4,
        &[2, 3],
        &[(1, 1), (2, 1), (1, 2), (3, 1)],
    );
    matrix_of(Behaviour::EachGenerates, 5, 5, &[2], &[(1, 1), (4, 1)]);
}

/// One case from the environment, for exploring: `LOOM_CASE=slots,aux,
/// tokens,wake,publish[,1 for each_generates[,1 for burst]]` and `--ignored`.
#[test]
#[ignore]
fn case_from_env() {
    let spec = std::env::var("LOOM_CASE").expect("LOOM_CASE=slots,aux,tokens,wake,publish");
    let v: Vec<u64> = spec
        .split(',')
        .map(|x| x.trim().parse().expect("a number"))
        .collect();
    let case = Case {
        slots: v[0] as u32,
        aux: v[1] as u32,
        tokens: v[2],
        wake: v[3] as u32,
        publish: v[4] as u32,
        per_round: v[0] as u32,
        behaviour: if v.get(5) == Some(&1) {
            Behaviour::EachGenerates
        } else {
            Behaviour::Mixed
        },
        burst: v.get(6) == Some(&1),
    };
    let start = std::time::Instant::now();
    check(case);
    eprintln!("loom: {case:?} in {:.1?}", start.elapsed());
}
