//! [`RingPort`]: the Master end of a Worker's rings as a netfn
//! [`Port`](netfn_core::Port), so a graph sends packets to a Worker and
//! receives what it hands back like from any other port.
//!
//! `send` copies each packet into the primary ring (the one copy at the
//! tenant boundary) and frees its frame; packets that find the ring full
//! stay in the batch, which the runtime drops as `tx-full`. `recv` reads
//! back what the Worker handed back into frames of the caller's pool (in
//! ring order, generated packets after their parent) and runs the
//! starvation check; what does not fit the batch waits in a small spill
//! queue for the next call. Metadata (input port, timestamp, flow hash,
//! user word) travels with each packet.

use std::collections::VecDeque;

use netfn_core::{Batch, Packet, Port, PortCtx, RecvStatus};

use crate::master::{Master, ProtocolError, PushError, Returned};
use crate::worker::{MasterIndexError, Verdict, Worker};
use crate::{Doorbell, Memory, Meta, RingId};

/// The Master side of one Worker, as a port.
#[derive(Debug)]
pub struct RingPort<M: Memory, D: Doorbell> {
    master: Master<M, D>,
    spill: VecDeque<Packet>,
    /// Packets read back that found no free frame in the pool.
    no_frame: u64,
    /// Packets the Worker dropped.
    worker_dropped: u64,
    /// Packets refused by `push` for another reason than a full ring
    /// (longer than a slot, Worker poisoned).
    refused: u64,
    /// The first protocol violation seen (the port stops exchanging then).
    error: Option<ProtocolError>,
}

impl<M: Memory + 'static, D: Doorbell + 'static> RingPort<M, D> {
    pub fn new(master: Master<M, D>) -> Self {
        // A primary slot plus the longest aux run can arrive at once.
        let spill = VecDeque::with_capacity(master.memory().slots(RingId::Aux) as usize + 1);
        RingPort {
            master,
            spill,
            no_frame: 0,
            worker_dropped: 0,
            refused: 0,
            error: None,
        }
    }

    pub fn master(&self) -> &Master<M, D> {
        &self.master
    }

    pub fn master_mut(&mut self) -> &mut Master<M, D> {
        &mut self.master
    }

    /// The protocol violation that stopped this port, if any: the owner
    /// counts [`Master::pending`] as lost and restarts the Worker.
    pub fn error(&self) -> Option<&ProtocolError> {
        self.error.as_ref()
    }
}

/// Copies `pkt` into a slot's data area; `None` if it does not fit.
fn write_token(buf: &mut [u8], pkt: &Packet) -> Option<usize> {
    let len = pkt.len();
    buf.get_mut(..len)?.copy_from_slice(pkt.data());
    Some(len)
}

fn meta_of(pkt: &Packet) -> Meta {
    Meta {
        input_port: pkt.input_port(),
        flow_hash: pkt.flow_hash(),
        timestamp: pkt.timestamp(),
        user: pkt.user_meta(),
    }
}

impl<M: Memory + 'static, D: Doorbell + 'static> Port for RingPort<M, D> {
    fn recv(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> RecvStatus {
        while !batch.is_full() {
            match self.spill.pop_front() {
                Some(p) => {
                    ctx.bytes += p.len() as u64;
                    let _ = batch.push(p);
                }
                None => break,
            }
        }
        if batch.is_full() || self.error.is_some() {
            return RecvStatus::Ready;
        }
        let (pool, now) = (ctx.pool, ctx.now);
        let mut bytes = 0u64;
        let (spill, no_frame, dropped) = (
            &mut self.spill,
            &mut self.no_frame,
            &mut self.worker_dropped,
        );
        let result = self.master.poll(now, |r| {
            let (data, meta) = match r {
                Returned::Forward(d, m) | Returned::Generated(d, m) => (d, m),
                Returned::Dropped(_) => {
                    *dropped += 1;
                    return;
                }
            };
            let Some(mut pkt) = pool.alloc_with(data) else {
                *no_frame += 1;
                return;
            };
            pkt.set_input_port(meta.input_port);
            pkt.set_timestamp(meta.timestamp);
            match meta.flow_hash {
                Some(h) => pkt.set_flow_hash(h),
                None => pkt.clear_flow_hash(),
            }
            pkt.set_user_meta(meta.user);
            bytes += data.len() as u64;
            if let Err(pkt) = batch.push(pkt) {
                bytes -= data.len() as u64;
                spill.push_back(pkt);
            }
        });
        ctx.bytes += bytes;
        if let Err(e) = result {
            self.error = Some(e);
        }
        self.master.check_for_old_data(now);
        RecvStatus::Ready
    }

    fn send(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) {
        let room = self.master.room() as usize;
        for pkt in batch.drain_first(room) {
            match self.master.stage(pkt.data(), &meta_of(&pkt), ctx.now) {
                Ok(()) => ctx.bytes += pkt.len() as u64,
                // (`Full` cannot happen within the room checked above.)
                Err(PushError::Full | PushError::TooLong { .. } | PushError::Poisoned) => {
                    self.refused += 1
                }
            }
            // `pkt` drops here: its frame goes home to its pool.
        }
        // One index store and one wake check for the whole burst.
        self.master.publish();
    }

    fn counts_bytes(&self) -> bool {
        true
    }

    /// What the graph sends comes back from the Worker: like a queue, the
    /// port does not end a run by itself and counts as done once empty.
    fn is_internal(&self) -> bool {
        true
    }

    fn pending(&self) -> usize {
        self.master.pending() as usize + self.spill.len()
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let s = self.master.stats();
        report("ring-pushed", s.pushed);
        report("ring-full", s.full);
        report("worker-dropped", self.worker_dropped);
        report("worker-generated", s.generated);
        report("aux-lost", self.master.aux_lost());
        report("no-frame", self.no_frame);
        report("refused", self.refused);
        report("wake-threshold", s.wake_threshold);
        report("wake-timeout", s.wake_timeout);
        report("protocol-errors", u64::from(self.error.is_some()));
    }
}

/// The Worker end of its rings, as a netfn [`Port`]: the Worker process
/// runs an ordinary graph between `recv` (tokens from the primary ring) and
/// `send` (what the graph emitted, handed back).
///
/// `recv` copies new tokens into frames of the caller's pool and holds
/// their slots (deferred mode of [`Worker`]). `send` writes the graph's
/// output back into the held slots in order: one packet per slot, passed
/// (the common one-in one-out case is a forward); when the graph emitted
/// more packets than it holds slots, the extra ones follow the last slot
/// in the aux ring. Slots still held at the next `recv` (the graph dropped
/// those packets, or they wait in a queue) go back flagged `dropped`. So
/// the Master sees the graph's output in order and the ring's accounting
/// (one hand-back per token) holds whatever the graph does. Packets sent
/// when no slot is held (a timer firing on an idle ring) cannot be handed
/// back: they stay in the batch and the runtime counts them as `tx-full`.
///
/// Between rounds the runtime waits in `poll()` on the eventfd
/// ([`Port::wait_fd`]); `recv` takes posted wake-ups without blocking and
/// marks the Worker waiting once its ring is empty. After the Master's
/// shutdown, the port is exhausted once it holds nothing.
#[derive(Debug)]
pub struct WorkerPort<M: Memory, D: Doorbell> {
    worker: Worker<M, D>,
    wait_fd: Option<std::os::fd::RawFd>,
    /// Tokens received that found no free frame (handed back dropped).
    no_frame: u64,
    /// Output packets longer than a slot (lost).
    too_long: u64,
    /// Held slots handed back dropped because the graph emitted nothing for them.
    consumed: u64,
    /// Output packets put in the aux ring.
    to_aux: u64,
    error: Option<MasterIndexError>,
    /// Marked `WAIT_FOR_SIGNAL` since the last token.
    idle: bool,
    /// `recv`s in a row that found the ring empty.
    empty_recvs: u32,
}

/// Empty `recv`s before a [`WorkerPort`] marks itself waiting for a
/// signal. The runtime polls an idle source 64 rounds before it starts to
/// yield and 128 before it sleeps on [`Port::wait_fd`] (netfn-core's
/// `Runtime::run`), so the mark is always set before the Worker sleeps.
/// (Were it not, the Worker would sleep until the runtime's idle wait
/// times out: late, not lost.)
const IDLE_AFTER_EMPTY_RECVS: u32 = 32;
/// An idle [`WorkerPort`] drains its eventfd every this many empty `recv`s.
const DRAIN_EVERY: u32 = 64;

impl<M: Memory + 'static, D: Doorbell + 'static> WorkerPort<M, D> {
    /// The port of `worker`; `wait_fd` is the doorbell's descriptor
    /// (an eventfd), if it has one.
    pub fn new(worker: Worker<M, D>, wait_fd: Option<std::os::fd::RawFd>) -> Self {
        WorkerPort {
            worker,
            wait_fd,
            no_frame: 0,
            too_long: 0,
            consumed: 0,
            to_aux: 0,
            error: None,
            // A fresh region says WAIT_FOR_SIGNAL: a wake-up may be posted
            // before the first look.
            idle: true,
            empty_recvs: 0,
        }
    }

    pub fn worker(&self) -> &Worker<M, D> {
        &self.worker
    }

    /// The Master's index that stopped this port, if any.
    pub fn error(&self) -> Option<&MasterIndexError> {
        self.error.as_ref()
    }

    /// Hands back every held slot, dropped.
    fn release_held(&mut self) {
        let consumed = &mut self.consumed;
        while self.worker.complete(|_| {
            *consumed += 1;
            Verdict::Drop
        }) {}
        self.worker.hand_back();
    }

    fn take_into(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> usize {
        let (pool, port_id) = (ctx.pool, ctx.port_id);
        let mut bytes = 0u64;
        let no_frame = &mut self.no_frame;
        let taken = self.worker.take(batch.remaining(), |data, meta| {
            let Some(mut pkt) = pool.alloc_with(data) else {
                // The slot is held anyway and goes back dropped.
                *no_frame += 1;
                return;
            };
            pkt.set_input_port(port_id);
            pkt.set_timestamp(meta.timestamp);
            match meta.flow_hash {
                Some(h) => pkt.set_flow_hash(h),
                None => pkt.clear_flow_hash(),
            }
            pkt.set_user_meta(meta.user);
            bytes += data.len() as u64;
            // Cannot fail: at most `remaining` tokens are taken.
            let _ = batch.push(pkt);
        });
        ctx.bytes += bytes;
        match taken {
            Ok(n) => n,
            Err(e) => {
                self.error = Some(e);
                0
            }
        }
    }
}

impl<M: Memory + 'static, D: Doorbell + 'static> Port for WorkerPort<M, D> {
    fn recv(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> RecvStatus {
        // What the last round did not send back, it consumed.
        self.release_held();
        if self.error.is_some() {
            return RecvStatus::Exhausted;
        }
        // The Master rings only a Worker marked waiting, so only then can a
        // wake-up be posted: a busy Worker makes no syscall here, and an
        // idle one drains the eventfd once per DRAIN_EVERY looks (a wake-up
        // left posted only makes the runtime's sleep return at once, until
        // the next drain) and when the tokens it announced arrive.
        if self.idle && self.empty_recvs.is_multiple_of(DRAIN_EVERY) {
            let mut woke = false;
            while self.worker.try_wait() {
                woke = true;
            }
            if woke {
                // The Master set SIGNED to post that wake-up: until the
                // status is WAIT_FOR_SIGNAL again it will not ring, so an
                // empty ring must mark it again before the runtime sleeps (a
                // spurious wake-up, e.g. the starvation timeout for tokens
                // already handed back, otherwise leaves the next token
                // waiting for the runtime's poll timeout; found by the spin
                // model, spin/ring.pml).
                self.idle = false;
            }
        }
        let mut n = self.take_into(batch, ctx);
        if n == 0 {
            self.empty_recvs = self.empty_recvs.wrapping_add(1);
            // A Worker that finds its ring empty keeps looking for a few
            // rounds before it asks to be woken: a Master producing bursts
            // a little slower than this Worker drains them would otherwise
            // pay an eventfd write per burst (and this Worker a poll and a
            // read). Then waiting for a signal, and one more look: tokens
            // pushed before the Master saw the status would otherwise wait
            // for its starvation timeout.
            if !self.idle && self.empty_recvs >= IDLE_AFTER_EMPTY_RECVS {
                self.worker.idle();
                self.idle = true;
                n = self.take_into(batch, ctx);
            }
        }
        if n > 0 {
            if self.idle {
                while self.worker.try_wait() {}
            }
            self.idle = false;
            self.empty_recvs = 0;
        } else if self.worker.is_shut_down() && self.worker.held() == 0 {
            return RecvStatus::Exhausted;
        }
        RecvStatus::Ready
    }

    fn send(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) {
        if self.worker.held() == 0 {
            // Nothing to carry them: the runtime drops them as `tx-full`.
            return;
        }
        // The last held slot takes whatever is left, so all are consumed.
        let mut out = batch.drain_first(batch.len()).peekable();
        while self.worker.held() > 0 {
            let Some(pkt) = out.next() else { break };
            let last = self.worker.held() == 1;
            let (too_long, to_aux) = (&mut self.too_long, &mut self.to_aux);
            let mut bytes = 0u64;
            self.worker.complete(|tok| {
                let verdict = match write_token(tok.buffer_mut(), &pkt) {
                    Some(len) => {
                        let _ = tok.set_len(len);
                        *tok.meta_mut() = meta_of(&pkt);
                        bytes += len as u64;
                        Verdict::Pass
                    }
                    None => {
                        *too_long += 1;
                        Verdict::Drop
                    }
                };
                if last {
                    // The rest follows this token in the aux ring.
                    for extra in out.by_ref() {
                        if extra.len() > tok.buffer_mut().len() {
                            *too_long += 1;
                            continue;
                        }
                        // A full aux ring loses it (counted by the Worker).
                        let r = tok.emit(&meta_of(&extra), |buf| {
                            buf[..extra.len()].copy_from_slice(extra.data());
                            extra.len()
                        });
                        if r.is_ok() {
                            *to_aux += 1;
                            bytes += extra.len() as u64;
                        }
                    }
                }
                verdict
            });
            ctx.bytes += bytes;
        }
        drop(out);
        self.worker.hand_back();
    }

    fn counts_bytes(&self) -> bool {
        true
    }

    fn pending(&self) -> usize {
        self.worker.held() as usize
    }

    fn wait_fd(&self) -> Option<std::os::fd::RawFd> {
        self.wait_fd
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let s = self.worker.stats();
        report("handed-back", s.processed);
        report("consumed", self.consumed);
        report("to-aux", self.to_aux);
        report("aux-full", s.aux_full);
        report("no-frame", self.no_frame);
        report("too-long", self.too_long);
        report("publishes", s.publishes);
        report("protocol-errors", u64::from(self.error.is_some()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use netfn_core::{Pool, PoolConfig};

    use super::*;
    use crate::{HeapMemory, Semaphore, Tunables, Verdict, Worker};

    #[test]
    fn a_batch_goes_through_a_worker_and_back() {
        let t = Tunables {
            wake_threshold: 0,
            ..Tunables::default()
        };
        let mem = Arc::new(HeapMemory::new(16, 4, 2048));
        let bell = Arc::new(Semaphore::new());
        let mut port = RingPort::new(Master::new(mem.clone(), bell.clone(), &t).unwrap());
        let mut worker = Worker::new(mem, bell, &t);
        let pool = Pool::new(PoolConfig {
            frames: 64,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut ctx = PortCtx::new(&pool, 5, 0);
        let mut batch = Batch::with_capacity(32);
        for i in 0..20u8 {
            let mut p = pool.alloc_with(&[i; 60]).unwrap();
            p.set_user_meta(u64::from(i));
            p.set_flow_hash(u32::from(i) * 3);
            batch.push(p).unwrap();
        }
        port.send(&mut batch, &mut ctx);
        // 15 fit a 16-slot ring; the rest stays for the runtime to drop.
        assert_eq!(batch.len(), 5);
        batch.clear();
        assert_eq!(pool.available(), 64, "frames went home after the copy");

        worker.wait();
        worker
            .process(|tok| {
                let k = tok.meta().user;
                if k == 3 {
                    return Verdict::Drop;
                }
                if k == 4 {
                    for _ in 0..2 {
                        tok.emit(&Meta::default(), |b| {
                            b[..2].copy_from_slice(b"gg");
                            2
                        })
                        .unwrap();
                    }
                }
                Verdict::Pass
            })
            .unwrap();

        let mut got = Vec::new();
        let mut small = Batch::with_capacity(4);
        for _ in 0..10 {
            port.recv(&mut small, &mut ctx);
            for (p, _) in small.drain() {
                got.push((p.user_meta(), p.len(), p.flow_hash()));
            }
        }
        assert_eq!(port.pending(), 0);
        let mut want: Vec<_> = (0..15u64)
            .filter(|&k| k != 3)
            .map(|k| (k, 60, Some(k as u32 * 3)))
            .collect();
        want.insert(4, (0, 2, None));
        want.insert(5, (0, 2, None));
        assert_eq!(got, want);
        let mut counters = std::collections::HashMap::new();
        port.counters(&mut |k, v| {
            counters.insert(k.to_string(), v);
        });
        assert_eq!(counters["worker-dropped"], 1);
        assert_eq!(counters["worker-generated"], 2);
        assert_eq!(counters["ring-pushed"], 15);
        assert_eq!(counters["protocol-errors"], 0);
    }

    /// spin's counterexample (spin/ring.pml with -DOLD_WAKE): a wake-up for
    /// tokens the Worker already handed back reaches an idle Worker; it must
    /// go back to WAIT_FOR_SIGNAL, or the Master, still seeing SIGNED,
    /// never rings for the next token.
    #[test]
    fn a_spurious_wake_up_leaves_the_worker_waiting_for_a_signal() {
        let t = Tunables {
            wake_threshold: 0,
            starvation_timeout: std::time::Duration::from_nanos(10),
            ..Tunables::default()
        };
        let mem = Arc::new(HeapMemory::new(8, 4, 2048));
        let bell = Arc::new(Semaphore::new());
        let mut master = Master::new(mem.clone(), bell.clone(), &t).unwrap();
        let mut port = WorkerPort::new(Worker::new(mem, bell.clone(), &t), None);
        let pool = Pool::new(PoolConfig {
            frames: 16,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut ctx = PortCtx::new(&pool, 0, 0);
        let mut batch = Batch::with_capacity(8);
        // Rounds of the Worker's runtime, enough for it to find its ring
        // empty long enough to ask for a signal and to drain its eventfd.
        let mut rounds = |port: &mut WorkerPort<_, _>, batch: &mut Batch| {
            for _ in 0..4 * (IDLE_AFTER_EMPTY_RECVS + DRAIN_EVERY) {
                port.recv(batch, &mut ctx);
                port.send(batch, &mut ctx);
            }
        };
        rounds(&mut port, &mut batch); // nothing yet: the Worker waits
        master.push(&[1; 60], &Meta::default(), 0).unwrap(); // rings
        rounds(&mut port, &mut batch); // takes the token, hands it back, waits
        // The starvation timeout fires for the token handed back but not
        // yet polled: a wake-up with nothing to do.
        assert!(master.check_for_old_data(1_000));
        rounds(&mut port, &mut batch);
        assert_eq!(master.poll(1_000, |_| {}).unwrap(), 1);
        let rung = master.stats().wake_threshold;
        master.push(&[2; 60], &Meta::default(), 2_000).unwrap();
        assert_eq!(
            master.stats().wake_threshold,
            rung + 1,
            "the next token rings the Worker"
        );
    }

    #[test]
    fn a_worker_port_hands_back_what_the_graph_emitted_in_order() {
        let t = Tunables {
            wake_threshold: 0,
            ..Tunables::default()
        };
        let mem = Arc::new(HeapMemory::new(16, 4, 2048));
        let bell = Arc::new(Semaphore::new());
        let mut master = Master::new(mem.clone(), bell.clone(), &t).unwrap();
        let mut wport = WorkerPort::new(Worker::new(mem, bell, &t), None);
        let pool = Pool::new(PoolConfig {
            frames: 64,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut ctx = PortCtx::new(&pool, 5, 7);
        for i in 0..10u8 {
            let meta = Meta {
                user: u64::from(i),
                ..Meta::default()
            };
            master.push(&[i; 60], &meta, 0).unwrap();
        }
        let mut batch = Batch::with_capacity(4);
        assert_eq!(wport.recv(&mut batch, &mut ctx), RecvStatus::Ready);
        let got: Vec<_> = batch
            .iter()
            .map(|p| (p.user_meta(), p.input_port()))
            .collect();
        assert_eq!(got, [(0, 7), (1, 7), (2, 7), (3, 7)]);
        assert_eq!(wport.pending(), 4);
        // The "graph": drops 1, rewrites 2, and emits two new packets.
        let mut out = Batch::with_capacity(8);
        for (mut p, _) in batch.drain() {
            match p.user_meta() {
                1 => continue,
                2 => p.data_mut()[0] = 0xee,
                _ => {}
            }
            out.push(p).unwrap();
        }
        for k in [100u64, 101] {
            let mut p = pool.alloc_with(&[k as u8; 30]).unwrap();
            p.set_user_meta(k);
            out.push(p).unwrap();
        }
        wport.send(&mut out, &mut ctx);
        assert!(out.is_empty());
        assert_eq!(wport.pending(), 0);
        // Next round: four more, the graph emits nothing for them.
        wport.recv(&mut batch, &mut ctx);
        assert_eq!(batch.len(), 4);
        batch.clear();
        // Next round hands those back dropped and takes the last two.
        wport.recv(&mut batch, &mut ctx);
        assert_eq!(batch.len(), 2);
        wport.send(&mut batch, &mut ctx);
        assert_eq!(pool.available(), 64, "every frame went home");

        let mut seen = Vec::new();
        master
            .poll(0, |r| {
                seen.push(match r {
                    Returned::Forward(d, m) => format!("F{}:{}:{}", m.user, d.len(), d[0]),
                    Returned::Dropped(_) => "D".to_string(),
                    Returned::Generated(d, m) => format!("G{}:{}", m.user, d.len()),
                })
            })
            .unwrap();
        assert_eq!(
            seen,
            [
                "F0:60:0",
                "F2:60:238",
                "F3:60:3",
                "F100:30:100",
                "G101:30",
                "D",
                "D",
                "D",
                "D",
                "F8:60:8",
                "F9:60:9"
            ]
        );
        assert_eq!(master.pending(), 0);
        let mut counters = std::collections::HashMap::new();
        wport.counters(&mut |k, v| {
            counters.insert(k.to_string(), v);
        });
        assert_eq!(counters["consumed"], 4);
        assert_eq!(counters["to-aux"], 1);
        assert_eq!(counters["handed-back"], 10);
        // Shut down: the port ends once it holds nothing.
        master.shutdown();
        assert_eq!(wport.recv(&mut batch, &mut ctx), RecvStatus::Exhausted);
    }

    #[test]
    fn a_worker_port_without_held_slots_leaves_output_to_the_runtime() {
        let t = Tunables::default();
        let mem = Arc::new(HeapMemory::new(4, 2, 128));
        let bell = Arc::new(Semaphore::new());
        let _master = Master::new(mem.clone(), bell.clone(), &t).unwrap();
        let mut wport = WorkerPort::new(Worker::new(mem, bell, &t), None);
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let mut ctx = PortCtx::new(&pool, 0, 0);
        let mut batch = Batch::with_capacity(4);
        assert_eq!(wport.recv(&mut batch, &mut ctx), RecvStatus::Ready);
        assert!(batch.is_empty());
        batch.push(pool.alloc_with(&[1; 20]).unwrap()).unwrap();
        wport.send(&mut batch, &mut ctx);
        assert_eq!(
            batch.len(),
            1,
            "no slot to carry it: tx-full for the runtime"
        );
    }
}
