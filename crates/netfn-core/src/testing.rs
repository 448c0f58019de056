//! Helpers to test NFs and graphs in memory, with virtual time: a
//! [`Harness`] that drives one NF, and tiny in-memory ports ([`FeedPort`],
//! [`CollectPort`]) for runtime tests. Production in-memory ports (the
//! traffic generator, pcap) live in `netfn-ports`.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use crate::batch::{Action, Batch, DropReason, MAX_BATCH};
use crate::ctx::{Ctx, EmitBuffer, TimerRequests};
use crate::nf::Nf;
use crate::pool::{Packet, Pool, PoolConfig};
use crate::port::{Port, PortCtx, RecvStatus};

/// What one call into an NF produced.
#[derive(Debug, Default)]
pub struct Output {
    /// Packets passed on, with their output port, in order (the batch's
    /// packets first, then generated ones).
    pub forwarded: Vec<(u16, Packet)>,
    /// Dropped packets with their reason.
    pub dropped: Vec<(DropReason, Packet)>,
    /// Generated packets dropped because the emit buffer overflowed.
    pub emit_overflow: u64,
    /// Packets lost before they were in a batch (`Ctx::count_lost`).
    pub lost: std::collections::BTreeMap<DropReason, u64>,
}

impl Output {
    /// Bytes of the packets forwarded on `output`.
    pub fn on(&self, output: u16) -> Vec<Vec<u8>> {
        self.forwarded
            .iter()
            .filter(|(k, _)| *k == output)
            .map(|(_, p)| p.data().to_vec())
            .collect()
    }

    /// Drop reasons, in order.
    pub fn drop_reasons(&self) -> Vec<DropReason> {
        self.dropped.iter().map(|(r, _)| *r).collect()
    }
}

#[allow(missing_debug_implementations)]
/// Drives one NF outside a runtime: feed it packets, move virtual time,
/// fire its timers, look at what comes out.
pub struct Harness<N> {
    pub nf: N,
    pool: Pool,
    rng: fastrand::Rng,
    emit: EmitBuffer,
    requests: TimerRequests,
    timers: BinaryHeap<Reverse<(u64, u64)>>,
    now: u64,
    batch_size: usize,
    started: bool,
}

impl<N: Nf> Harness<N> {
    pub fn new(nf: N) -> Self {
        Harness {
            nf,
            pool: Pool::new(PoolConfig {
                frames: 4096,
                ..PoolConfig::default()
            })
            .expect("test pool"),
            rng: fastrand::Rng::with_seed(1),
            emit: EmitBuffer::with_capacity(2 * MAX_BATCH),
            requests: TimerRequests::default(),
            timers: BinaryHeap::new(),
            now: 0,
            batch_size: 32,
            started: false,
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    /// A packet holding `bytes`, stamped with the current time.
    pub fn packet(&self, bytes: &[u8]) -> Packet {
        let mut p = self.pool.alloc_with(bytes).expect("test pool exhausted");
        p.set_timestamp(self.now);
        p
    }

    fn call(&mut self, f: impl FnOnce(&mut N, &mut Ctx<'_>), out: &mut Output) {
        let mut ctx = Ctx::new(
            self.now,
            &mut self.rng,
            &self.pool,
            &mut self.emit,
            &mut self.requests,
        );
        f(&mut self.nf, &mut ctx);
        for (_, at, period) in self.requests.requests.drain(..) {
            self.timers.push(Reverse((at, period)));
        }
        out.emit_overflow += self.emit.overflow;
        self.emit.any_lost = false;
        for (reason, n) in DropReason::ALL.iter().zip(&mut self.emit.lost) {
            if *n > 0 {
                *out.lost.entry(*reason).or_default() += std::mem::take(n);
            }
        }
        out.forwarded.extend(self.emit.drain());
    }

    fn ensure_started(&mut self, out: &mut Output) {
        if !self.started {
            self.started = true;
            self.call(|nf, ctx| nf.start(ctx), out);
        }
    }

    /// Runs the NF on `packets` arriving on `input`, in batches.
    pub fn process(&mut self, input: usize, packets: Vec<Packet>) -> Output {
        let mut out = Output::default();
        self.ensure_started(&mut out);
        let mut packets = packets.into_iter().peekable();
        while packets.peek().is_some() {
            let mut batch = Batch::with_capacity(self.batch_size);
            batch.extend(packets.by_ref().take(self.batch_size));
            let mut emitted = Output::default();
            self.call(|nf, ctx| nf.process(input, &mut batch, ctx), &mut emitted);
            for (pkt, verdict) in batch.drain() {
                match verdict.action() {
                    Action::Forward(k) => out.forwarded.push((k, pkt)),
                    Action::Drop(r) => out.dropped.push((r, pkt)),
                }
            }
            out.forwarded.append(&mut emitted.forwarded);
            out.emit_overflow += emitted.emit_overflow;
            for (reason, n) in emitted.lost {
                *out.lost.entry(reason).or_default() += n;
            }
        }
        out
    }

    /// Runs the NF on frames given as bytes.
    pub fn process_bytes(&mut self, input: usize, frames: &[&[u8]]) -> Output {
        let packets = frames.iter().map(|f| self.packet(f)).collect();
        self.process(input, packets)
    }

    /// Moves virtual time forward, firing due timers in order.
    pub fn advance(&mut self, by: Duration) -> Output {
        self.advance_to(self.now + by.as_nanos() as u64)
    }

    pub fn advance_to(&mut self, t: u64) -> Output {
        let mut out = Output::default();
        self.ensure_started(&mut out);
        while let Some(&Reverse((at, period))) = self.timers.peek() {
            if at > t {
                break;
            }
            self.timers.pop();
            self.now = self.now.max(at);
            if period > 0 {
                self.timers.push(Reverse((at + period, period)));
            }
            self.call(|nf, ctx| nf.on_timer(ctx), &mut out);
        }
        self.now = t;
        out
    }

    /// Calls the NF's `stop`.
    pub fn stop(&mut self) -> Output {
        let mut out = Output::default();
        self.call(|nf, ctx| nf.stop(ctx), &mut out);
        out
    }
}

/// A source that hands out the frames it was given, then is exhausted.
#[derive(Debug, Default)]
pub struct FeedPort {
    frames: VecDeque<Vec<u8>>,
}

impl FeedPort {
    pub fn new(frames: impl IntoIterator<Item = Vec<u8>>) -> Self {
        FeedPort {
            frames: frames.into_iter().collect(),
        }
    }
}

impl Port for FeedPort {
    fn recv(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> RecvStatus {
        while !batch.is_full() {
            let Some(frame) = self.frames.pop_front() else {
                break;
            };
            let Some(mut pkt) = ctx.pool.alloc_with(&frame) else {
                self.frames.push_front(frame);
                break;
            };
            pkt.set_input_port(ctx.port_id);
            pkt.set_timestamp(ctx.now);
            let _ = batch.push(pkt);
        }
        if self.frames.is_empty() {
            RecvStatus::Exhausted
        } else {
            RecvStatus::Ready
        }
    }

    fn send(&mut self, batch: &mut Batch, _ctx: &mut PortCtx<'_>) {
        batch.clear();
    }
}

/// A sink that records the bytes of everything sent to it. Clone the
/// [`CollectPort::frames`] handle before giving the port to a graph.
#[derive(Debug, Default, Clone)]
pub struct CollectPort {
    pub frames: Rc<RefCell<Vec<Vec<u8>>>>,
}

impl CollectPort {
    pub fn new() -> Self {
        CollectPort::default()
    }
}

impl Port for CollectPort {
    fn recv(&mut self, _batch: &mut Batch, _ctx: &mut PortCtx<'_>) -> RecvStatus {
        RecvStatus::Exhausted
    }

    fn send(&mut self, batch: &mut Batch, _ctx: &mut PortCtx<'_>) {
        self.frames
            .borrow_mut()
            .extend(batch.drain().map(|(p, _)| p.data().to_vec()));
    }

    fn is_source(&self) -> bool {
        false
    }
}
