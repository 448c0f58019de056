//! The Master side: polls, copies packets in, reads them back
//! (thesis Algorithms 1-4 and 7).
//!
//! Call order per round (Algorithm 1): [`Master::push`] as many packets as
//! there are (it stops on a full ring), [`Master::poll`] to take back what
//! the Worker handed back, [`Master::check_for_old_data`] to wake a Worker
//! whose oldest token waited too long. The Master never blocks.
//!
//! The Worker is not trusted: every index it writes is checked against the
//! Master's own before use, lengths are bounded by the slot, an aux run may
//! not pass what the Worker announced. A violation poisons the Master (it
//! returns [`ProtocolError`] from then on); the owner then counts
//! [`Master::pending`] tokens as lost and re-creates the region.

use crate::config::Tunables;
use crate::doorbell::Doorbell;
use crate::layout::{Meta, SIGNED, distance, flag, next};
use crate::memory::{Memory, RingId};
use crate::sync::Ordering;

/// A packet handed back by the Worker, in ring order.
#[derive(Debug)]
pub enum Returned<'a> {
    /// A token the Worker passed (possibly modified).
    Forward(&'a [u8], Meta),
    /// A token the Worker dropped (its data is gone).
    Dropped(Meta),
    /// A token the Worker generated; it follows the token it belongs to.
    Generated(&'a [u8], Meta),
}

/// Why [`Master::push`] did not take a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("the ring is full")]
    Full,
    #[error("a {len}-byte packet does not fit a {capacity}-byte slot")]
    TooLong { len: usize, capacity: usize },
    #[error("the Worker broke the protocol earlier; re-create the region")]
    Poisoned,
}

/// What a misbehaving (or crashed mid-write) Worker did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error(
        "Worker producer index {got} is outside its window (Master consumer {cons}, producer {prod}, {slots} slots)"
    )]
    WorkerIndex {
        got: u32,
        cons: u32,
        prod: u32,
        slots: u32,
    },
    #[error("{ring:?} slot {index}: length {len} exceeds the slot's {capacity} bytes")]
    Length {
        ring: RingId,
        index: u32,
        len: u32,
        capacity: usize,
    },
    #[error("aux producer index {got} is outside the aux ring ({slots} slots)")]
    AuxIndex { got: u32, slots: u32 },
    #[error(
        "primary slot {index} links more generated packets than the Worker wrote (aux consumer {cons}, producer {prod})"
    )]
    AuxRun { index: u32, cons: u32, prod: u32 },
    #[error("the Worker broke the protocol earlier; re-create the region")]
    Poisoned,
}

/// Master-side counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MasterStats {
    /// Packets copied into the ring.
    pub pushed: u64,
    /// Pushes refused because the ring was full.
    pub full: u64,
    /// Tokens handed back passed / dropped, and generated tokens read.
    pub forwarded: u64,
    pub dropped: u64,
    pub generated: u64,
    /// Wake-ups posted because of the threshold / the starvation timeout.
    pub wake_threshold: u64,
    pub wake_timeout: u64,
}

/// The Master end of one Worker's rings.
#[derive(Debug)]
pub struct Master<M: Memory, D: Doorbell> {
    mem: M,
    bell: D,
    slots: u32,
    aux_slots: u32,
    capacity: usize,
    wake_threshold: u32,
    timeout_ns: u64,
    /// `M.prodIndex`, staged: slots before it are written.
    prod: u32,
    /// The value of `M.prodIndex` last published (the shared copy).
    published: u32,
    /// `M.consIndex` (private).
    cons: u32,
    /// Master's aux consumer index (published after each poll).
    aux_cons: u32,
    /// When the oldest token went in, or the Worker last handed tokens back.
    timestamp: u64,
    poisoned: bool,
    stats: MasterStats,
}

/// What [`Master::new`] found wrong with the memory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the ring memory is not fresh (indexes already moved); re-create the region")]
pub struct NotFresh;

impl<M: Memory, D: Doorbell> Master<M, D> {
    /// The Master of a fresh memory (every index at 0).
    pub fn new(mem: M, bell: D, tunables: &Tunables) -> Result<Self, NotFresh> {
        if !mem.control().is_fresh() {
            return Err(NotFresh);
        }
        Ok(Master {
            slots: mem.slots(RingId::Primary),
            aux_slots: mem.slots(RingId::Aux),
            capacity: mem.data_capacity(),
            wake_threshold: tunables.wake_threshold,
            timeout_ns: u64::try_from(tunables.starvation_timeout.as_nanos()).unwrap_or(u64::MAX),
            mem,
            bell,
            prod: 0,
            published: 0,
            cons: 0,
            aux_cons: 0,
            timestamp: 0,
            poisoned: false,
            stats: MasterStats::default(),
        })
    }

    /// Tokens in the ring (`buffer.size()`): written and not yet consumed,
    /// processed or not. What is lost if the Worker dies now.
    pub fn pending(&self) -> u32 {
        distance(self.cons, self.prod, self.slots)
    }

    /// Tokens the ring can take now.
    pub fn room(&self) -> u32 {
        self.slots - 1 - self.pending()
    }

    pub fn stats(&self) -> MasterStats {
        self.stats
    }

    /// Generated packets the Worker reports it lost to a full aux ring.
    pub fn aux_lost(&self) -> u64 {
        self.mem.control().aux_lost.load(Ordering::Relaxed)
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    pub fn memory(&self) -> &M {
        &self.mem
    }

    /// Copies `frame` into the next free slot (Algorithm 2). `now` is any
    /// monotonic clock in ns (the same one for every call).
    pub fn push(&mut self, frame: &[u8], meta: &Meta, now: u64) -> Result<(), PushError> {
        self.push_with(frame.len(), meta, now, |buf| buf.copy_from_slice(frame))
    }

    /// As [`push`](Self::push), with `write` filling the `len` bytes.
    pub fn push_with(
        &mut self,
        len: usize,
        meta: &Meta,
        now: u64,
        write: impl FnOnce(&mut [u8]),
    ) -> Result<(), PushError> {
        self.stage_with(len, meta, now, write)?;
        self.publish();
        Ok(())
    }

    /// Copies `frame` into the next free slot without showing it to the
    /// Worker yet: a burst of [`stage`](Self::stage)s followed by one
    /// [`publish`](Self::publish) moves `M.prodIndex` (a line the Worker
    /// reads) and checks the wake rule once per burst instead of once per
    /// packet. Staged tokens count as pending (they are in the region).
    pub fn stage(&mut self, frame: &[u8], meta: &Meta, now: u64) -> Result<(), PushError> {
        self.stage_with(frame.len(), meta, now, |buf| buf.copy_from_slice(frame))
    }

    /// As [`stage`](Self::stage), with `write` filling the `len` bytes.
    pub fn stage_with(
        &mut self,
        len: usize,
        meta: &Meta,
        now: u64,
        write: impl FnOnce(&mut [u8]),
    ) -> Result<(), PushError> {
        if self.poisoned {
            return Err(PushError::Poisoned);
        }
        if len > self.capacity {
            return Err(PushError::TooLong {
                len,
                capacity: self.capacity,
            });
        }
        let after = next(self.prod, self.slots);
        if after == self.cons {
            self.stats.full += 1;
            return Err(PushError::Full);
        }
        if self.prod == self.cons {
            self.timestamp = now;
        }
        let header = self.mem.header(RingId::Primary, self.prod);
        // The Master clears the Worker's flags of the slot's last round.
        header.flags.store(0);
        header.len.store(len as u32);
        header.write_meta(meta);
        // SAFETY: `prod` is in the Master's free region [M.prodIndex,
        // M.consIndex - 1): the Worker never reads past M.prodIndex and
        // this slot was consumed (or never used).
        unsafe {
            self.mem
                .with_data(RingId::Primary, self.prod, |buf| write(&mut buf[..len]))
        };
        self.prod = after;
        self.stats.pushed += 1;
        Ok(())
    }

    /// Shows the Worker every staged token (one Release store of
    /// `M.prodIndex`), then applies the wake rule (Algorithm 2's tail).
    pub fn publish(&mut self) {
        if self.prod == self.published {
            return;
        }
        self.published = self.prod;
        // Release: the slots' data, lengths and flags are visible to a
        // Worker that sees the new index.
        self.mem
            .control()
            .m_prod
            .store(self.prod, Ordering::Release);
        if self.pending() > self.wake_threshold && self.wake() {
            self.stats.wake_threshold += 1;
        }
    }

    /// Posts a wake-up unless one is outstanding.
    fn wake(&mut self) -> bool {
        let status = &self.mem.control().status;
        if status.load(Ordering::Acquire) == SIGNED {
            return false;
        }
        status.store(SIGNED, Ordering::Release);
        self.bell.ring();
        true
    }

    /// Wakes the Worker if tokens have waited more than the starvation
    /// timeout (Algorithm 3). Returns whether it rang.
    pub fn check_for_old_data(&mut self, now: u64) -> bool {
        if self.pending() > 0 && now.saturating_sub(self.timestamp) > self.timeout_ns && self.wake()
        {
            self.stats.wake_timeout += 1;
            return true;
        }
        false
    }

    /// Reads back every token the Worker handed back, in order, each
    /// followed by the tokens it generated (Algorithms 4 and 7). Returns how
    /// many primary slots were consumed.
    pub fn poll(
        &mut self,
        now: u64,
        mut f: impl FnMut(Returned<'_>),
    ) -> Result<usize, ProtocolError> {
        if self.poisoned {
            return Err(ProtocolError::Poisoned);
        }
        if self.prod == self.cons {
            return Ok(0);
        }
        let ctl = self.mem.control();
        // Acquire: pairs with the Worker's Release of W.prodIndex, so its
        // writes to the slots before it (and to the aux ring) are visible.
        let w_prod = ctl.w_prod.load(Ordering::Acquire);
        if w_prod >= self.slots
            || distance(self.cons, w_prod, self.slots) > distance(self.cons, self.prod, self.slots)
        {
            return Err(self.poison(ProtocolError::WorkerIndex {
                got: w_prod,
                cons: self.cons,
                prod: self.prod,
                slots: self.slots,
            }));
        }
        if w_prod == self.cons {
            return Ok(0);
        }
        self.timestamp = now;
        let mut consumed = 0;
        let mut result = Ok(());
        // The Worker's aux producer index, loaded at the first aux run.
        let mut aux_prod = None;
        while self.cons != w_prod {
            if let Err(e) = self.read_slot(&mut aux_prod, &mut f) {
                result = Err(e);
                break;
            }
            self.cons = next(self.cons, self.slots);
            consumed += 1;
        }
        // Release: the aux slots read are free for the Worker again.
        self.mem
            .control()
            .aux_cons
            .store(self.aux_cons, Ordering::Release);
        match result {
            Ok(()) => Ok(consumed),
            Err(e) => Err(self.poison(e)),
        }
    }

    fn poison(&mut self, e: ProtocolError) -> ProtocolError {
        self.poisoned = true;
        e
    }

    /// One primary slot and its aux run.
    fn read_slot(
        &mut self,
        aux_prod: &mut Option<u32>,
        f: &mut impl FnMut(Returned<'_>),
    ) -> Result<(), ProtocolError> {
        let index = self.cons;
        let header = self.mem.header(RingId::Primary, index);
        let flags = header.flags.load();
        let meta = header.read_meta();
        if flags & flag::DROPPED != 0 {
            self.stats.dropped += 1;
            f(Returned::Dropped(meta));
        } else {
            let len = self.checked_len(RingId::Primary, index)?;
            // SAFETY: `index` is in [M.consIndex, W.prodIndex): handed back
            // by the Worker, which no longer touches it.
            unsafe {
                self.mem.with_data(RingId::Primary, index, |buf| {
                    f(Returned::Forward(&buf[..len], meta))
                })
            };
            self.stats.forwarded += 1;
        }
        if flags & flag::AUX == 0 {
            return Ok(());
        }
        let aux_prod = match *aux_prod {
            Some(p) => p,
            None => {
                // Acquire, after the Acquire of W.prodIndex: at least as new
                // as what the handed-back slots link to (the Worker stores
                // it before W.prodIndex).
                let p = self.mem.control().aux_prod.load(Ordering::Acquire);
                if p >= self.aux_slots {
                    return Err(ProtocolError::AuxIndex {
                        got: p,
                        slots: self.aux_slots,
                    });
                }
                *aux_prod = Some(p);
                p
            }
        };
        loop {
            if self.aux_cons == aux_prod {
                return Err(ProtocolError::AuxRun {
                    index,
                    cons: self.aux_cons,
                    prod: aux_prod,
                });
            }
            let slot = self.aux_cons;
            let header = self.mem.header(RingId::Aux, slot);
            let more = header.flags.load() & flag::NEXT != 0;
            let meta = header.read_meta();
            let len = self.checked_len(RingId::Aux, slot)?;
            // SAFETY: `slot` is in [auxConsIndex, auxProdIndex) as published
            // with W.prodIndex: written by the Worker, which does not touch
            // it again until the Master publishes auxConsIndex past it.
            unsafe {
                self.mem.with_data(RingId::Aux, slot, |buf| {
                    f(Returned::Generated(&buf[..len], meta))
                })
            };
            self.stats.generated += 1;
            self.aux_cons = next(slot, self.aux_slots);
            if !more {
                return Ok(());
            }
        }
    }

    fn checked_len(&self, ring: RingId, index: u32) -> Result<usize, ProtocolError> {
        let len = self.mem.header(ring, index).len.load();
        if len as usize > self.capacity {
            return Err(ProtocolError::Length {
                ring,
                index,
                len,
                capacity: self.capacity,
            });
        }
        Ok(len as usize)
    }

    /// Tells the Worker to stop and wakes it (it finishes what it holds).
    pub fn shutdown(&mut self) {
        // Staged tokens too (no wake-up of their own: this one covers them).
        self.published = self.prod;
        self.mem
            .control()
            .m_prod
            .store(self.prod, Ordering::Release);
        self.mem.control().shutdown.store(1, Ordering::Release);
        self.mem.control().status.store(SIGNED, Ordering::Release);
        self.bell.ring();
    }
}
