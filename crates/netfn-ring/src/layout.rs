//! What lives in the shared region: the control block with the shared
//! indexes, and the slot header in front of every slot's data.
//!
//! Everything a peer can write is an atomic (read with explicit orderings,
//! never as plain memory), except packet bytes, which are only ever copied.

use crate::sync::{AtomicU32, AtomicU64, Ordering, SlotU32, SlotU64};

/// Bytes of a cache line; slots and the control block are multiples of it.
pub const CACHE_LINE: usize = 64;
/// Bytes of the header in front of each slot's data (one cache line).
pub const SLOT_HEADER: usize = 64;
/// Largest frame netfn handles (one pool frame, `netfn_core::pool`).
pub const MAX_FRAME: usize = 2048;
/// Default slot size: header plus the largest frame (33 cache lines).
pub const DEFAULT_SLOT_SIZE: u32 = (SLOT_HEADER + MAX_FRAME) as u32;

/// Slot flags.
pub(crate) mod flag {
    /// Primary slot: the Worker dropped the token; its data is meaningless.
    pub const DROPPED: u32 = 1;
    /// Primary slot: a run of generated tokens in the aux ring follows it.
    pub const AUX: u32 = 2;
    /// Aux slot: the next token of the run is in the aux ring too.
    pub const NEXT: u32 = 4;
}

/// `workerStatus`: the Worker is (about to be) asleep; a wake-up is needed.
pub(crate) const WAIT_FOR_SIGNAL: u32 = 0;
/// `workerStatus`: the Master has posted a wake-up the Worker has not yet
/// answered by going back to sleep.
pub(crate) const SIGNED: u32 = 1;

/// Per-packet metadata carried in a slot beside the data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meta {
    /// Port the packet came in on (`Packet::input_port`).
    pub input_port: u16,
    /// Flow hash, if one was computed (`Packet::flow_hash`).
    pub flow_hash: Option<u32>,
    /// Receive timestamp, ns (`Packet::timestamp`).
    pub timestamp: u64,
    /// Free for the NFs (`Packet::user_meta`); the tests put sequence numbers here.
    pub user: u64,
}

/// The header of one slot. Layout (64 bytes): length, flags, then the
/// metadata words; data follows at [`SLOT_HEADER`].
#[repr(C, align(64))]
#[derive(Debug)]
pub struct SlotHeader {
    pub(crate) len: SlotU32,
    pub(crate) flags: SlotU32,
    pub(crate) timestamp: SlotU64,
    pub(crate) user: SlotU64,
    /// Input port in bits 0..16, "has a flow hash" in bit 16, the hash in 32..64.
    pub(crate) port_hash: SlotU64,
}

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<SlotHeader>() == SLOT_HEADER);

impl SlotHeader {
    pub(crate) fn new() -> SlotHeader {
        SlotHeader {
            len: SlotU32::new(0),
            flags: SlotU32::new(0),
            timestamp: SlotU64::new(0),
            user: SlotU64::new(0),
            port_hash: SlotU64::new(0),
        }
    }

    /// Only the slot's owner touches it; the index stores and loads
    /// (Release/Acquire) order these accesses.
    pub(crate) fn read_meta(&self) -> Meta {
        let ph = self.port_hash.load();
        Meta {
            input_port: ph as u16,
            flow_hash: (ph & (1 << 16) != 0).then_some((ph >> 32) as u32),
            timestamp: self.timestamp.load(),
            user: self.user.load(),
        }
    }

    pub(crate) fn write_meta(&self, meta: &Meta) {
        let hash = match meta.flow_hash {
            Some(h) => (u64::from(h) << 32) | (1 << 16),
            None => 0,
        };
        self.port_hash.store(u64::from(meta.input_port) | hash);
        self.timestamp.store(meta.timestamp);
        self.user.store(meta.user);
    }
}

/// One shared word on a cache line of its own (128 bytes: the adjacent-line
/// prefetcher of x86 fetches pairs of lines).
#[repr(C, align(128))]
#[derive(Debug)]
pub(crate) struct Line<T>(pub T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The shared indexes of one Master-Worker pair (the thesis' underlined
/// variables plus the aux ring's), each written by one side only except
/// `status`. Indexes are slot numbers in `0..slots`.
#[repr(C)]
#[derive(Debug)]
pub struct Control {
    /// `M.prodIndex`: next slot the Master fills. Master writes (Release).
    pub(crate) m_prod: Line<AtomicU32>,
    /// `W.prodIndex`: slots before it are processed and handed back.
    /// Worker writes (Release).
    pub(crate) w_prod: Line<AtomicU32>,
    /// Next aux slot the Worker writes; Worker writes (Release). Lets the
    /// Master check an aux run against what was really written.
    pub(crate) aux_prod: Line<AtomicU32>,
    /// Next aux slot the Master reads; Master writes (Release) after it has
    /// copied the slots out, so the Worker may reuse them.
    pub(crate) aux_cons: Line<AtomicU32>,
    /// `workerStatus` (`WAIT_FOR_SIGNAL` / `SIGNED`).
    pub(crate) status: Line<AtomicU32>,
    /// Set by the Master (then it rings) to stop the Worker.
    pub(crate) shutdown: AtomicU32,
    /// Generated packets the Worker lost because the aux ring was full.
    pub(crate) aux_lost: AtomicU64,
}

impl Control {
    pub(crate) fn new() -> Control {
        Control {
            m_prod: Line(AtomicU32::new(0)),
            w_prod: Line(AtomicU32::new(0)),
            aux_prod: Line(AtomicU32::new(0)),
            aux_cons: Line(AtomicU32::new(0)),
            status: Line(AtomicU32::new(WAIT_FOR_SIGNAL)),
            shutdown: AtomicU32::new(0),
            aux_lost: AtomicU64::new(0),
        }
    }

    /// True if no side has moved any index yet (a fresh region).
    pub(crate) fn is_fresh(&self) -> bool {
        self.m_prod.load(Ordering::Acquire) == 0
            && self.w_prod.load(Ordering::Acquire) == 0
            && self.aux_prod.load(Ordering::Acquire) == 0
            && self.aux_cons.load(Ordering::Acquire) == 0
    }
}

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Control>() == 5 * 128 + 128);

/// `(i + 1) mod n`.
#[inline]
pub(crate) fn next(i: u32, n: u32) -> u32 {
    if i + 1 == n { 0 } else { i + 1 }
}

/// Slots from `from` forward to `to` on a ring of `n`.
#[inline]
pub(crate) fn distance(from: u32, to: u32, n: u32) -> u32 {
    if to >= from { to - from } else { to + n - from }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn ring_arithmetic() {
        assert_eq!(next(0, 2), 1);
        assert_eq!(next(1, 2), 0);
        assert_eq!(distance(3, 3, 8), 0);
        assert_eq!(distance(6, 1, 8), 3);
        assert_eq!(distance(1, 6, 8), 5);
        for n in 2..10 {
            for a in 0..n {
                for b in 0..n {
                    assert_eq!((a + distance(a, b, n)) % n, b);
                }
            }
        }
    }

    #[test]
    fn meta_round_trips() {
        let h = SlotHeader::new();
        for meta in [
            Meta::default(),
            Meta {
                input_port: u16::MAX,
                flow_hash: Some(0),
                timestamp: u64::MAX,
                user: 1 << 63,
            },
            Meta {
                input_port: 7,
                flow_hash: Some(u32::MAX),
                timestamp: 1,
                user: 2,
            },
        ] {
            h.write_meta(&meta);
            assert_eq!(h.read_meta(), meta);
        }
    }

    #[test]
    fn shared_indexes_sit_on_their_own_lines() {
        let c = Control::new();
        let base = &c as *const Control as usize;
        let offsets = [
            &c.m_prod as *const _ as usize - base,
            &c.w_prod as *const _ as usize - base,
            &c.aux_prod as *const _ as usize - base,
            &c.aux_cons as *const _ as usize - base,
            &c.status as *const _ as usize - base,
        ];
        assert_eq!(offsets, [0, 128, 256, 384, 512]);
        assert_eq!(std::mem::align_of::<SlotHeader>(), CACHE_LINE);
    }
}
