//! [`Ctx`]: everything an NF may use besides its own state and the packets.
//!
//! NFs are sans-IO: time, randomness, new frames, generated packets and
//! timers reach them only through this argument, which is what lets every NF
//! run in memory with virtual time in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::batch::DropReason;
use crate::pool::{Packet, Pool};

/// A source of monotonic time in nanoseconds, read by the runtime once per
/// scheduling round.
pub trait Clock: Send {
    fn now_ns(&mut self) -> u64;
}

/// Wall-clock monotonic time since the clock was created.
#[derive(Debug)]
pub struct MonotonicClock {
    start: Instant,
}

impl MonotonicClock {
    pub fn new() -> Self {
        MonotonicClock {
            start: Instant::now(),
        }
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_ns(&mut self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

/// Virtual time for tests: advanced by hand through any clone.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn new() -> Self {
        ManualClock::default()
    }
    pub fn set(&self, ns: u64) {
        self.0.store(ns, Ordering::Relaxed);
    }
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_nanos() as u64, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Clock for ManualClock {
    fn now_ns(&mut self) -> u64 {
        self.get()
    }
}

/// Packets an NF generated during one call, with the output each goes to.
/// Preallocated; when full, further packets are dropped and counted.
#[derive(Debug)]
pub struct EmitBuffer {
    pub(crate) packets: Vec<(u16, Packet)>,
    capacity: usize,
    pub(crate) overflow: u64,
    /// Packets lost before they existed in a batch (a failed copy), by reason.
    pub(crate) lost: [u64; DropReason::COUNT],
    /// Whether any entry of `lost` is non-zero (checked once per batch, so
    /// the common case does not scan the array).
    pub(crate) any_lost: bool,
}

impl EmitBuffer {
    pub fn with_capacity(capacity: usize) -> Self {
        EmitBuffer {
            packets: Vec::with_capacity(capacity),
            capacity,
            overflow: 0,
            lost: [0; DropReason::COUNT],
            any_lost: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Whether packets were lost during the call.
    #[inline]
    pub fn has_lost(&self) -> bool {
        self.any_lost
    }

    /// Takes the emitted packets (and resets the overflow count).
    pub fn drain(&mut self) -> impl Iterator<Item = (u16, Packet)> + '_ {
        self.overflow = 0;
        self.packets.drain(..)
    }
}

/// Timer requests made by NFs, collected by the runtime.
#[derive(Debug, Default)]
pub struct TimerRequests {
    /// (node, first deadline in ns, period in ns or 0 for one-shot).
    pub(crate) requests: Vec<(usize, u64, u64)>,
}

/// What an NF sees of the world during one call.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub(crate) now: u64,
    pub(crate) rng: &'a mut fastrand::Rng,
    pub(crate) pool: &'a Pool,
    pub(crate) emit: &'a mut EmitBuffer,
    pub(crate) timers: &'a mut TimerRequests,
    pub(crate) node: usize,
    /// Bytes of the batch, for NFs that count them in their own loop
    /// ([`crate::Nf::counts_bytes`]).
    pub(crate) bytes: u64,
}

impl<'a> Ctx<'a> {
    /// A context over explicit parts, for driving an NF outside a runtime
    /// (see [`crate::testing::Harness`]).
    pub fn new(
        now: u64,
        rng: &'a mut fastrand::Rng,
        pool: &'a Pool,
        emit: &'a mut EmitBuffer,
        timers: &'a mut TimerRequests,
    ) -> Self {
        Ctx {
            now,
            rng,
            pool,
            emit,
            timers,
            node: 0,
            bytes: 0,
        }
    }

    /// Current time in nanoseconds of the runtime clock (monotonic; read once
    /// per scheduling round, so all packets of a burst share it).
    #[inline]
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The runtime's random number generator (seeded; deterministic in tests).
    #[inline]
    pub fn rng(&mut self) -> &mut fastrand::Rng {
        self.rng
    }

    /// A fresh empty packet from the core's pool, for generated traffic.
    #[inline]
    pub fn alloc(&self) -> Option<Packet> {
        self.pool.alloc()
    }

    /// The core's pool.
    pub fn pool(&self) -> &Pool {
        self.pool
    }

    /// Sends a generated packet out of `output` after this call returns.
    #[inline]
    pub fn emit(&mut self, output: u16, pkt: Packet) {
        if self.emit.packets.len() < self.emit.capacity {
            self.emit.packets.push((output, pkt));
        } else {
            self.emit.overflow += 1;
        }
    }

    /// How many more packets [`Ctx::emit`] takes during this call (an NF
    /// that generates many, like a flow exporter flushing its queue, stops
    /// there instead of overflowing).
    #[inline]
    pub fn emit_room(&self) -> usize {
        self.emit.capacity.saturating_sub(self.emit.packets.len())
    }

    /// Counts a packet that was lost without ever being in the batch (a
    /// copy that found no free frame, a reply that could not be built).
    #[inline]
    pub fn count_lost(&mut self, reason: DropReason) {
        self.emit.lost[reason as usize] += 1;
        self.emit.any_lost = true;
    }

    /// Adds to the bytes this NF received (only for NFs whose
    /// [`crate::Nf::counts_bytes`] is true: they count inside their own
    /// per-packet loop, which saves the runtime a pass over the batch).
    #[inline]
    pub fn count_bytes(&mut self, n: usize) {
        self.bytes += n as u64;
    }

    /// Asks for `on_timer` to be called once at `deadline_ns` (or soon after).
    pub fn schedule_at(&mut self, deadline_ns: u64) {
        self.timers.requests.push((self.node, deadline_ns, 0));
    }

    /// Asks for `on_timer` to be called every `period`, first one period from now.
    pub fn schedule_every(&mut self, period: Duration) {
        let period = (period.as_nanos() as u64).max(1);
        self.timers
            .requests
            .push((self.node, self.now + period, period));
    }
}
