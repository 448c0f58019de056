//! Framework overhead under criterion: 64-byte UDP frames from the
//! generator through `ttl` x k (k = 1, 10), three ways:
//! * `baseline`: a hand-written loop over raw offsets (what `netfn bench
//!   overhead` calls the baseline; `hand_ttl` is copied from
//!   `src/bench.rs`, which a bench cannot import from a binary crate);
//! * `framework`: the runtime running operator-built `ttl` NFs;
//! * `runtime-hand`: the runtime running the hand-written loop as its NFs.
//!
//! Each iteration moves `PER_ITER` packets; state (pool, generator,
//! runtime) is built once per benchmark, so iterations are steady state.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netfn_core::{
    Batch, Ctx, DropReason, Graph, Nf, Pool, PoolConfig, Port, PortCtx, RunLimits, Runtime,
    RuntimeConfig, Verdict,
};
use netfn_ports::{Check, Generator, GeneratorConfig, Sink};

const PER_ITER: u64 = 4096;
const BATCH: usize = 32;

fn generator() -> Generator {
    Generator::new(GeneratorConfig::default()).expect("64-byte UDP flow")
}

/// `k` TTL decrements with RFC 1624 checksum updates by raw offsets.
#[inline(always)]
fn hand_ttl(f: &mut [u8], k: usize) -> bool {
    if f.len() < 34 || f[12..14] != [0x08, 0x00] {
        return true;
    }
    let (ihl, total) = (
        usize::from(f[14] & 0x0f) * 4,
        usize::from(u16::from_be_bytes([f[16], f[17]])),
    );
    if f[14] >> 4 != 4 || ihl < 20 || total < ihl || 14 + total > f.len() {
        return false;
    }
    for _ in 0..k {
        let ttl = f[22];
        if ttl <= 1 {
            return false;
        }
        f[22] = ttl - 1;
        let (old, new) = (
            u16::from_be_bytes([ttl, f[23]]),
            u16::from_be_bytes([ttl - 1, f[23]]),
        );
        let mut sum =
            u32::from(!u16::from_be_bytes([f[24], f[25]])) + u32::from(!old) + u32::from(new);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    }
    true
}

struct HandTtl;

impl Nf for HandTtl {
    fn process(&mut self, _input: usize, batch: &mut Batch, _ctx: &mut Ctx<'_>) {
        let (pkts, verdicts) = batch.split_mut();
        for (p, v) in pkts.iter_mut().zip(verdicts) {
            if !hand_ttl(p.data_mut(), 1) {
                *v = Verdict::drop(DropReason::TtlExceeded);
            }
        }
    }
}

fn runtime(k: usize, hand: bool) -> Runtime {
    let mut g = Graph::new();
    let mut chain = vec![g.add_port("gen", "generator", generator())];
    for i in 0..k {
        chain.push(match hand {
            true => g.add_nf(&format!("ttl{i}"), "hand-ttl", || HandTtl),
            false => g.add_nf(&format!("ttl{i}"), "ttl", netfn_nfs::basic::ttl),
        });
    }
    chain.push(g.add_port("sink", "sink", Sink::new(Check::None)));
    g.chain(&chain);
    let pool = PoolConfig {
        frames: 4096,
        ..PoolConfig::default()
    };
    Runtime::new(
        g,
        RuntimeConfig {
            batch_size: BATCH,
            pool,
            ..RuntimeConfig::default()
        },
    )
    .expect("valid graph")
}

fn overhead(c: &mut Criterion) {
    for k in [1, 10] {
        let mut group = c.benchmark_group(format!("overhead/ttl-x{k}"));
        group.throughput(Throughput::Elements(PER_ITER));
        let pool = Pool::new(PoolConfig {
            frames: 4096,
            ..PoolConfig::default()
        })
        .expect("pool");
        let (mut source, mut batch) = (generator(), Batch::with_capacity(BATCH));
        group.bench_function("baseline", |b| {
            b.iter(|| {
                let (mut done, mut forwarded) = (0, 0u64);
                while done < PER_ITER {
                    source.recv(&mut batch, &mut PortCtx::new(&pool, 0, 0));
                    for pkt in batch.iter_mut() {
                        forwarded += u64::from(hand_ttl(pkt.data_mut(), k));
                    }
                    done += batch.len() as u64;
                    batch.clear();
                }
                std::hint::black_box(forwarded)
            })
        });
        for (name, hand) in [("framework", false), ("runtime-hand", true)] {
            let mut rt = runtime(k, hand);
            group.bench_function(name, |b| {
                b.iter(|| {
                    rt.run(&RunLimits {
                        packets: Some(rt.received() + PER_ITER),
                        ..RunLimits::default()
                    })
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, overhead);
criterion_main!(benches);
