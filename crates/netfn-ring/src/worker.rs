//! The Worker side: sleeps until woken, processes tokens in place, hands
//! them back by advancing `W.prodIndex` (thesis Algorithms 5 and 6).
//!
//! Call order: [`Worker::wait`] (blocks), then [`Worker::process`] (drains
//! the ring, publishing every `publish_every` tokens and once at the end,
//! then marks itself `WAIT_FOR_SIGNAL`); [`Worker::run`] loops the two until
//! the Master shuts it down.

use crate::config::Tunables;
use crate::doorbell::Doorbell;
use crate::layout::{Meta, WAIT_FOR_SIGNAL, distance, flag, next};
use crate::memory::{Memory, RingId};
use crate::sync::Ordering;

/// What the Worker's function decides for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hand the token back (possibly modified).
    Pass,
    /// Drop it (the slot goes back flagged `dropped`). With generated
    /// tokens, this *replaces* the token by them.
    Drop,
}

/// Why the Worker woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    Work,
    Shutdown,
}

/// Why [`Token::emit`] or [`Token::set_len`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the aux ring is full; the generated packet is lost")]
    AuxFull,
    #[error("{len} bytes do not fit a {capacity}-byte slot")]
    TooLong { len: usize, capacity: usize },
}

/// What the Master did that a Worker cannot follow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Master producer index {got} is outside the ring ({slots} slots)")]
pub struct MasterIndexError {
    pub got: u32,
    pub slots: u32,
}

/// Worker-side counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub wakeups: u64,
    pub processed: u64,
    pub dropped: u64,
    pub generated: u64,
    /// Generated packets lost because the aux ring was full.
    pub aux_full: u64,
    /// `W.prodIndex` publications.
    pub publishes: u64,
}

/// The Worker's private aux ring state.
#[derive(Debug)]
struct AuxState {
    slots: u32,
    /// Next aux slot to write (published with W.prodIndex).
    prod: u32,
    /// Last seen Master aux consumer index.
    cons: u32,
    /// Last `prod` and loss count stored to the control block.
    published: u32,
    lost_published: u64,
}

/// One token being processed, in place in its slot.
#[derive(Debug)]
pub struct Token<'a, M: Memory> {
    buf: &'a mut [u8],
    len: usize,
    meta: Meta,
    mem: &'a M,
    aux: &'a mut AuxState,
    stats: &'a mut WorkerStats,
    /// Aux slots written for this token: (count, last).
    run: (u32, u32),
}

impl<M: Memory> Token<'_, M> {
    /// The packet.
    pub fn data(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }

    /// The whole slot data area (to grow the packet; then [`set_len`](Self::set_len)).
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        self.buf
    }

    pub fn set_len(&mut self, len: usize) -> Result<(), TokenError> {
        if len > self.buf.len() {
            return Err(TokenError::TooLong {
                len,
                capacity: self.buf.len(),
            });
        }
        self.len = len;
        Ok(())
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    pub fn meta_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }

    /// Generates a packet that follows this token (Algorithm 6): `write`
    /// fills the slot's data area and returns the length. On a full aux
    /// ring the packet is lost and counted.
    pub fn emit(
        &mut self,
        meta: &Meta,
        write: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), TokenError> {
        let aux = &mut *self.aux;
        let after = next(aux.prod, aux.slots);
        if after == aux.cons {
            // Acquire: pairs with the Master's Release after it read the
            // slots, so reusing them cannot race its copy.
            aux.cons = self.mem.control().aux_cons.load(Ordering::Acquire);
            if after == aux.cons {
                self.stats.aux_full += 1;
                return Err(TokenError::AuxFull);
            }
        }
        let slot = aux.prod;
        // SAFETY: `slot` is in [auxProdIndex, auxConsIndex - 1): free, the
        // Master has finished with it (the Acquire above) and reads it only
        // after W.prodIndex is published past this token.
        let len = unsafe { self.mem.with_data(RingId::Aux, slot, write) };
        let capacity = self.mem.data_capacity();
        if len > capacity {
            return Err(TokenError::TooLong { len, capacity });
        }
        let header = self.mem.header(RingId::Aux, slot);
        header.len.store(len as u32);
        header.write_meta(meta);
        header.flags.store(flag::NEXT);
        aux.prod = after;
        self.run = (self.run.0 + 1, slot);
        self.stats.generated += 1;
        Ok(())
    }
}

/// The Worker end of its rings.
#[derive(Debug)]
pub struct Worker<M: Memory, D: Doorbell> {
    mem: M,
    bell: D,
    slots: u32,
    publish_every: u32,
    /// `W.consIndex` (private); equal to W.prodIndex when asleep.
    cons: u32,
    /// Last seen M.prodIndex (the private copy of §5.5).
    m_prod: u32,
    /// Deferred mode ([`Worker::take`]): tokens in [cons, taken) were read
    /// out and wait for [`Worker::complete`]. Equal to `cons` otherwise.
    taken: u32,
    aux: AuxState,
    stats: WorkerStats,
}

impl<M: Memory, D: Doorbell> Worker<M, D> {
    /// The Worker of `mem`, taking up where the indexes stand.
    pub fn new(mem: M, bell: D, tunables: &Tunables) -> Self {
        let ctl = mem.control();
        let cons = ctl.w_prod.load(Ordering::Acquire);
        let aux_prod = ctl.aux_prod.load(Ordering::Acquire);
        let aux = AuxState {
            slots: mem.slots(RingId::Aux),
            prod: aux_prod,
            cons: ctl.aux_cons.load(Ordering::Acquire),
            published: aux_prod,
            lost_published: ctl.aux_lost.load(Ordering::Relaxed),
        };
        Worker {
            slots: mem.slots(RingId::Primary),
            publish_every: tunables.publish_every.max(1),
            cons,
            m_prod: cons,
            taken: cons,
            aux,
            mem,
            bell,
            stats: WorkerStats::default(),
        }
    }

    pub fn stats(&self) -> WorkerStats {
        self.stats
    }

    /// Blocks until the Master wakes this Worker.
    pub fn wait(&mut self) -> Wake {
        self.bell.wait();
        self.stats.wakeups += 1;
        if self.mem.control().shutdown.load(Ordering::Acquire) != 0 {
            Wake::Shutdown
        } else {
            Wake::Work
        }
    }

    /// Processes every token up to M.prodIndex (re-read as it moves), then
    /// hands all back and marks itself waiting. Returns how many it did.
    pub fn process(
        &mut self,
        mut f: impl FnMut(&mut Token<'_, M>) -> Verdict,
    ) -> Result<usize, MasterIndexError> {
        let mut since_publish = 0;
        let mut done = 0;
        loop {
            if self.cons == self.m_prod {
                // Acquire: pairs with the Master's Release, so the slots
                // before it are written.
                let m_prod = self.mem.control().m_prod.load(Ordering::Acquire);
                if m_prod >= self.slots {
                    return Err(MasterIndexError {
                        got: m_prod,
                        slots: self.slots,
                    });
                }
                self.m_prod = m_prod;
                if self.cons == m_prod {
                    break;
                }
            }
            if since_publish == self.publish_every {
                since_publish = 0;
                self.publish();
            }
            self.process_slot(&mut f);
            self.cons = next(self.cons, self.slots);
            since_publish += 1;
            done += 1;
        }
        self.taken = self.cons;
        self.publish();
        // After the hand-back: a Master that sees WAIT_FOR_SIGNAL may ring.
        self.idle();
        Ok(done)
    }

    /// Marks this Worker as waiting for a signal (after a hand-back, when
    /// it found its ring empty): the Master rings it for the next tokens.
    pub fn idle(&mut self) {
        self.mem
            .control()
            .status
            .store(WAIT_FOR_SIGNAL, Ordering::Release);
    }

    /// Takes a posted wake-up without blocking (a Worker that waits in the
    /// runtime's `poll()` on the eventfd instead of [`wait`](Self::wait)).
    pub fn try_wait(&mut self) -> bool {
        let woke = self.bell.try_wait();
        self.stats.wakeups += u64::from(woke);
        woke
    }

    /// Whether the Master asked this Worker to stop.
    pub fn is_shut_down(&self) -> bool {
        self.mem.control().shutdown.load(Ordering::Acquire) != 0
    }

    /// Deferred mode, for a Worker that processes tokens elsewhere (a netfn
    /// graph, see `WorkerPort`): passes up to `max` new tokens to `f`
    /// (which copies them out) without handing them back. Each must then be
    /// finished, in order, by [`complete`](Self::complete). Returns how
    /// many were taken.
    pub fn take(
        &mut self,
        max: usize,
        mut f: impl FnMut(&[u8], &Meta),
    ) -> Result<usize, MasterIndexError> {
        let mut n = 0;
        while n < max {
            if self.taken == self.m_prod {
                // Acquire: pairs with the Master's Release of M.prodIndex.
                let m_prod = self.mem.control().m_prod.load(Ordering::Acquire);
                if m_prod >= self.slots {
                    return Err(MasterIndexError {
                        got: m_prod,
                        slots: self.slots,
                    });
                }
                self.m_prod = m_prod;
                if self.taken == m_prod {
                    break;
                }
            }
            let index = self.taken;
            let header = self.mem.header(RingId::Primary, index);
            let len = (header.len.load() as usize).min(self.mem.data_capacity());
            let meta = header.read_meta();
            // SAFETY: `index` is in [W.consIndex, M.prodIndex): filled by the
            // Master (visible through the Acquire above), which does not
            // touch it until W.prodIndex is published past it.
            unsafe {
                self.mem
                    .with_data(RingId::Primary, index, |buf| f(&buf[..len], &meta))
            };
            self.taken = next(index, self.slots);
            n += 1;
        }
        Ok(n)
    }

    /// Tokens taken and not yet completed.
    pub fn held(&self) -> u32 {
        distance(self.cons, self.taken, self.slots)
    }

    /// Finishes the oldest taken token through `f` (which rewrites it, emits
    /// packets after it, and decides its verdict), publishing every
    /// `publish_every` tokens. False if no token was held.
    pub fn complete(&mut self, mut f: impl FnMut(&mut Token<'_, M>) -> Verdict) -> bool {
        if self.cons == self.taken {
            return false;
        }
        self.process_slot(&mut f);
        self.cons = next(self.cons, self.slots);
        if self.unpublished() >= self.publish_every {
            self.publish();
        }
        true
    }

    /// Hands back every completed token now.
    pub fn hand_back(&mut self) {
        if self.unpublished() > 0 {
            self.publish();
        }
    }

    /// Sleeps and processes until the Master shuts this Worker down.
    pub fn run(
        &mut self,
        mut f: impl FnMut(&mut Token<'_, M>) -> Verdict,
    ) -> Result<(), MasterIndexError> {
        loop {
            let wake = self.wait();
            self.process(&mut f)?;
            if wake == Wake::Shutdown {
                return Ok(());
            }
        }
    }

    /// Tokens processed but not yet handed back.
    pub fn unpublished(&self) -> u32 {
        let w_prod = self.mem.control().w_prod.load(Ordering::Relaxed);
        distance(w_prod, self.cons, self.slots)
    }

    fn publish(&mut self) {
        let ctl = self.mem.control();
        if self.aux.prod != self.aux.published {
            self.aux.published = self.aux.prod;
            ctl.aux_prod.store(self.aux.prod, Ordering::Release);
        }
        if self.stats.aux_full != self.aux.lost_published {
            self.aux.lost_published = self.stats.aux_full;
            ctl.aux_lost.store(self.stats.aux_full, Ordering::Relaxed);
        }
        // Release: the slots before `cons` (data, flags) and the aux slots
        // they link are visible to a Master that sees the new index.
        ctl.w_prod.store(self.cons, Ordering::Release);
        self.stats.publishes += 1;
    }

    fn process_slot(&mut self, f: &mut impl FnMut(&mut Token<'_, M>) -> Verdict) {
        let index = self.cons;
        let mem = &self.mem;
        let header = mem.header(RingId::Primary, index);
        let capacity = mem.data_capacity();
        let len = (header.len.load() as usize).min(capacity);
        let meta = header.read_meta();
        let aux = &mut self.aux;
        let stats = &mut self.stats;
        // SAFETY: `index` is in [W.consIndex, M.prodIndex): filled by the
        // Master (visible through the Acquire of M.prodIndex), which does
        // not touch it until W.prodIndex is published past it.
        let (verdict, len, meta, run) = unsafe {
            mem.with_data(RingId::Primary, index, |buf| {
                let mut token = Token {
                    buf,
                    len,
                    meta,
                    mem,
                    aux,
                    stats,
                    run: (0, 0),
                };
                let verdict = f(&mut token);
                (verdict, token.len, token.meta, token.run)
            })
        };
        header.len.store(len as u32);
        header.write_meta(&meta);
        let mut flags = 0;
        if verdict == Verdict::Drop {
            flags |= flag::DROPPED;
            self.stats.dropped += 1;
        }
        let (count, last) = run;
        // `aux` only if at least one packet went into the aux ring (the
        // pitfall of Algorithm 6 when the ring is full from the start).
        if count > 0 {
            mem.header(RingId::Aux, last).flags.store(0);
            flags |= flag::AUX;
        }
        header.flags.store(flags);
        self.stats.processed += 1;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{HeapMemory, Master, Returned, Semaphore};

    type Mem = Arc<HeapMemory>;
    type Bell = Arc<Semaphore>;

    fn pair(slots: u32, aux: u32, tunables: &Tunables) -> (Master<Mem, Bell>, Worker<Mem, Bell>) {
        let mem = Arc::new(HeapMemory::new(slots, aux, 64));
        let bell = Arc::new(Semaphore::new());
        let master = Master::new(mem.clone(), bell.clone(), tunables).unwrap();
        (master, Worker::new(mem, bell, tunables))
    }

    #[test]
    fn publishes_every_n_and_at_the_end() {
        let t = Tunables {
            publish_every: 2,
            wake_threshold: 0,
            ..Tunables::default()
        };
        let (mut m, mut w) = pair(8, 2, &t);
        for i in 0..5u8 {
            m.push(&[i], &Meta::default(), 0).unwrap();
        }
        assert_eq!(m.room(), 2);
        assert_eq!(m.push(&[9], &Meta::default(), 0), Ok(()));
        assert_eq!(m.push(&[9], &Meta::default(), 0), Ok(()));
        assert_eq!(
            m.push(&[9], &Meta::default(), 0),
            Err(crate::PushError::Full)
        );
        w.wait();
        let mut seen_by_master = Vec::new();
        let n = w
            .process(|t| {
                seen_by_master.push(t.data()[0]);
                Verdict::Pass
            })
            .unwrap();
        assert_eq!(n, 7);
        // 7 tokens, every 2: after 2, 4, 6, then the final one.
        assert_eq!(w.stats().publishes, 4);
        assert_eq!(w.unpublished(), 0);
        let mut back = 0;
        m.poll(0, |r| {
            assert!(matches!(r, Returned::Forward(..)));
            back += 1;
        })
        .unwrap();
        assert_eq!(back, 7);
    }

    #[test]
    fn aux_flag_only_when_something_was_written() {
        let t = Tunables {
            wake_threshold: 0,
            ..Tunables::default()
        };
        // An aux ring of 2 holds one generated packet.
        let (mut m, mut w) = pair(4, 2, &t);
        m.push(b"a", &Meta::default(), 0).unwrap();
        m.push(b"b", &Meta::default(), 0).unwrap();
        w.wait();
        w.process(|t| {
            let r1 = t.emit(&Meta::default(), |b| {
                b[0] = b'x';
                1
            });
            let r2 = t.emit(&Meta::default(), |b| {
                b[0] = b'y';
                1
            });
            // The first token gets one, the second none (ring full).
            if t.data() == b"a" {
                assert_eq!((r1, r2), (Ok(()), Err(TokenError::AuxFull)));
            } else {
                assert_eq!(
                    (r1, r2),
                    (Err(TokenError::AuxFull), Err(TokenError::AuxFull))
                );
            }
            Verdict::Drop
        })
        .unwrap();
        let mut out = Vec::new();
        m.poll(0, |r| {
            out.push(match r {
                Returned::Forward(d, _) => format!("F{}", d[0] as char),
                Returned::Dropped(_) => "D".to_string(),
                Returned::Generated(d, _) => format!("G{}", d[0] as char),
            })
        })
        .unwrap();
        // "a" replaced by "x"; "b" dropped with no aux run.
        assert_eq!(out, ["D", "Gx", "D"]);
        assert_eq!(m.aux_lost(), 3);
        assert_eq!(w.stats().aux_full, 3);
    }

    #[test]
    fn set_len_is_bounded_by_the_slot() {
        let t = Tunables {
            wake_threshold: 0,
            ..Tunables::default()
        };
        let (mut m, mut w) = pair(4, 2, &t);
        m.push(&[0; 10], &Meta::default(), 0).unwrap();
        w.wait();
        w.process(|t| {
            assert_eq!(
                t.set_len(65),
                Err(TokenError::TooLong {
                    len: 65,
                    capacity: 64
                })
            );
            t.set_len(64).unwrap();
            Verdict::Pass
        })
        .unwrap();
        m.poll(0, |r| match r {
            Returned::Forward(d, _) => assert_eq!(d.len(), 64),
            other => panic!("{other:?}"),
        })
        .unwrap();
        assert_eq!(
            m.push(&[0; 65], &Meta::default(), 0),
            Err(crate::PushError::TooLong {
                len: 65,
                capacity: 64
            })
        );
    }
}
