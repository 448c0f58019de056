//! The steady-state zero-allocation harness: a pool, a batch and a `Ctx`
//! of their own, so that runs after a warm-up can be measured with
//! `allocation_counter::measure`.

use netfn_core::ctx::{EmitBuffer, TimerRequests};
use netfn_core::{Batch, Ctx, Nf, Pool, PoolConfig};

/// Everything an NF needs to run outside a runtime, preallocated.
pub struct Steady {
    pool: Pool,
    rng: fastrand::Rng,
    emit: EmitBuffer,
    timers: TimerRequests,
    batch: Batch,
    /// Packets the NF emitted (drained after every batch and timer).
    pub emitted: usize,
}

impl Steady {
    /// A harness with a pool of `frames` frames.
    pub fn new(frames: u32) -> Self {
        Steady {
            pool: Pool::new(PoolConfig {
                frames,
                ..PoolConfig::default()
            })
            .unwrap(),
            rng: fastrand::Rng::with_seed(3),
            emit: EmitBuffer::with_capacity(512),
            timers: TimerRequests::default(),
            batch: Batch::with_capacity(32),
            emitted: 0,
        }
    }

    /// Feeds `frames` to `input` of `nf` in batches of 32 at time `now`.
    pub fn run(&mut self, nf: &mut dyn Nf, now: u64, input: usize, frames: &[Vec<u8>]) {
        for chunk in frames.chunks(32) {
            for f in chunk {
                self.batch.push(self.pool.alloc_with(f).unwrap()).unwrap();
            }
            let mut ctx = Ctx::new(
                now,
                &mut self.rng,
                &self.pool,
                &mut self.emit,
                &mut self.timers,
            );
            nf.process(input, &mut self.batch, &mut ctx);
            self.batch.clear();
            self.emitted += self.emit.drain().count();
        }
    }

    /// Fires `nf`'s timer at time `now`.
    pub fn timer(&mut self, nf: &mut dyn Nf, now: u64) {
        let mut ctx = Ctx::new(
            now,
            &mut self.rng,
            &self.pool,
            &mut self.emit,
            &mut self.timers,
        );
        nf.on_timer(&mut ctx);
        self.emitted += self.emit.drain().count();
    }
}

/// Runs `nf` over `frames` at `times[0]` to warm up, then at each later
/// time under the allocation counter; returns the allocations counted.
pub fn allocations(nf: &mut dyn Nf, frames: &[Vec<u8>], times: &[u64]) -> u64 {
    let mut s = Steady::new(1024);
    s.run(nf, times[0], 0, frames);
    let info = allocation_counter::measure(|| {
        for &t in &times[1..] {
            s.run(nf, t, 0, frames);
        }
    });
    info.count_total
}
