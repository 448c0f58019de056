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
            match self.master.push(pkt.data(), &meta_of(&pkt), ctx.now) {
                Ok(()) => ctx.bytes += pkt.len() as u64,
                // (`Full` cannot happen within the room checked above.)
                Err(PushError::Full | PushError::TooLong { .. } | PushError::Poisoned) => {
                    self.refused += 1
                }
            }
            // `pkt` drops here: its frame goes home to its pool.
        }
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
}
