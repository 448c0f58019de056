//! [`Batch`]: a fixed-capacity burst of packets, each with a [`Verdict`].
//!
//! Operators mark packets instead of moving them: a filter sets
//! `Verdict::drop(reason)`, a group-by sets `Verdict::forward(k)`. The runtime
//! splits the batch by verdict once, at the stage boundary. A batch entering
//! a stage has every verdict `Forward(0)`.
//!
//! Batches are allocated once (capacity fixed at creation, at most
//! [`MAX_BATCH`]) and reused between bursts; pushing never reallocates.

use std::fmt;

use crate::pool::Packet;

/// Default packets per batch.
pub const DEFAULT_BATCH: usize = 32;
/// Largest supported batch.
pub const MAX_BATCH: usize = 256;

macro_rules! drop_reasons {
    ($($(#[doc = $doc:literal])* $name:ident = $label:literal,)*) => {
        /// Why a packet was dropped. Every drop is counted under its reason.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum DropReason {
            $($(#[doc = $doc])* $name,)*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];
            /// Number of reasons (size of a per-reason counter array).
            pub const COUNT: usize = Self::ALL.len();

            /// Stable, short name used in stats output ("ttl-exceeded").
            pub const fn name(self) -> &'static str {
                match self {
                    $(DropReason::$name => $label,)*
                }
            }
        }
    };
}

drop_reasons! {
    /// A header failed validation (truncated, bad length, bad version).
    Malformed = "malformed",
    /// The packet is of a kind the NF does not handle and cannot pass on.
    Unsupported = "unsupported",
    /// A filter's predicate rejected the packet.
    Filtered = "filtered",
    /// TTL or hop limit reached zero.
    TtlExceeded = "ttl-exceeded",
    /// No route to the destination.
    NoRoute = "no-route",
    /// No neighbour (next-hop MAC) known.
    NoNeighbor = "no-neighbor",
    /// A rule or policy denied it (firewall, ACL).
    PolicyDeny = "policy-deny",
    /// No state for it where state is required (NAT inbound, stateful FW).
    NoState = "no-state",
    /// No free port or mapping (NAT).
    PortExhausted = "port-exhausted",
    /// Over a rate limit (policer).
    RateLimited = "rate-limited",
    /// A signature matched with a drop action.
    SignatureMatch = "signature-match",
    /// A DNS name on a block list.
    DnsBlocked = "dns-blocked",
    /// Larger than the MTU and not fragmentable.
    TooBig = "too-big",
    /// A queue was full.
    QueueFull = "queue-full",
    /// A port could not transmit it (ring full, error).
    TxFull = "tx-full",
    /// No free frame for a copy or a generated packet.
    PoolExhausted = "pool-exhausted",
    /// The NF emitted more packets than the emit buffer holds.
    EmitOverflow = "emit-overflow",
    /// Sent to an output that is not connected.
    Unconnected = "unconnected",
    /// The NF panicked while holding it; the NF was rebuilt.
    NfPanic = "nf-panic",
    /// Anything else.
    Other = "other",
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happens to a packet after a stage: leave on output `k`, or be
/// dropped for a reason.
///
/// Encoded in 16 bits (outputs below 0x8000, drops with the top bit set) so
/// a batch's verdicts are a small array the runtime scans with SIMD; use
/// [`Verdict::action`] to match on it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Verdict(u16);

/// A decoded [`Verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Forward(u16),
    Drop(DropReason),
}

const DROP_BIT: u16 = 0x8000;

impl Verdict {
    /// Forward on output 0.
    pub const PASS: Verdict = Verdict(0);

    /// Forward on output `k` (outputs are below 32768).
    #[inline]
    pub const fn forward(k: u16) -> Verdict {
        Verdict(if k < DROP_BIT {
            k
        } else {
            DROP_BIT | DropReason::Unconnected as u16
        })
    }

    /// Drop, counted under `reason`.
    #[inline]
    pub const fn drop(reason: DropReason) -> Verdict {
        Verdict(DROP_BIT | reason as u16)
    }

    #[inline]
    pub fn action(self) -> Action {
        if self.0 & DROP_BIT == 0 {
            Action::Forward(self.0)
        } else {
            Action::Drop(
                DropReason::ALL
                    .get(usize::from(self.0 & 0xff))
                    .copied()
                    .unwrap_or(DropReason::Other),
            )
        }
    }

    #[inline]
    pub fn is_drop(self) -> bool {
        self.0 & DROP_BIT != 0
    }
}

impl From<DropReason> for Verdict {
    fn from(reason: DropReason) -> Self {
        Verdict::drop(reason)
    }
}

impl fmt::Debug for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.action() {
            Action::Forward(k) => write!(f, "Forward({k})"),
            Action::Drop(r) => write!(f, "Drop({r})"),
        }
    }
}

/// A burst of packets with a verdict each.
pub struct Batch {
    packets: Vec<Packet>,
    verdicts: Vec<Verdict>,
    capacity: usize,
}

impl Batch {
    /// An empty batch that holds up to `capacity` packets (clamped to
    /// 1..=[`MAX_BATCH`]). Allocates once, here.
    pub fn with_capacity(capacity: usize) -> Batch {
        let capacity = capacity.clamp(1, MAX_BATCH);
        Batch {
            packets: Vec::with_capacity(capacity),
            verdicts: Vec::with_capacity(capacity),
            capacity,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Free slots left.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.capacity - self.packets.len()
    }

    #[inline]
    pub fn is_full(&self) -> bool {
        self.packets.len() == self.capacity
    }

    /// Appends a packet with verdict `Forward(0)`. Gives the packet back if
    /// the batch is full.
    #[inline]
    pub fn push(&mut self, pkt: Packet) -> Result<(), Packet> {
        self.push_with(pkt, Verdict::PASS)
    }

    #[inline]
    pub fn push_with(&mut self, pkt: Packet, verdict: Verdict) -> Result<(), Packet> {
        if self.packets.len() == self.capacity {
            return Err(pkt);
        }
        self.packets.push(pkt);
        self.verdicts.push(verdict);
        Ok(())
    }

    /// Removes and returns the last packet.
    pub fn pop(&mut self) -> Option<Packet> {
        self.verdicts.pop();
        self.packets.pop()
    }

    /// Removes the packet at `index`, moving the last one into its place.
    pub fn swap_remove(&mut self, index: usize) -> (Packet, Verdict) {
        (
            self.packets.swap_remove(index),
            self.verdicts.swap_remove(index),
        )
    }

    #[inline]
    pub fn packets(&self) -> &[Packet] {
        &self.packets
    }

    #[inline]
    pub fn packets_mut(&mut self) -> &mut [Packet] {
        &mut self.packets
    }

    #[inline]
    pub fn verdicts(&self) -> &[Verdict] {
        &self.verdicts
    }

    #[inline]
    pub fn verdicts_mut(&mut self) -> &mut [Verdict] {
        &mut self.verdicts
    }

    /// Packets and their verdicts, for operators that set verdicts.
    #[inline]
    pub fn split_mut(&mut self) -> (&mut [Packet], &mut [Verdict]) {
        (&mut self.packets, &mut self.verdicts)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Packet> {
        self.packets.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Packet> {
        self.packets.iter_mut()
    }

    /// Sets every verdict.
    pub fn set_all(&mut self, verdict: Verdict) {
        self.verdicts.fill(verdict);
    }

    /// True if every packet goes to output 0.
    #[inline]
    pub fn all_pass(&self) -> bool {
        // Branch-free so it vectorises: OR of every encoded verdict.
        self.verdicts.iter().fold(0u16, |acc, v| acc | v.0) == 0
    }

    /// The verdict every packet has, if they all have the same one (and
    /// the batch is not empty).
    #[inline]
    pub fn uniform_verdict(&self) -> Option<Verdict> {
        let first = *self.verdicts.first()?;
        // Branch-free like `all_pass`: OR of the differences.
        let diff = self
            .verdicts
            .iter()
            .fold(0u16, |acc, v| acc | (v.0 ^ first.0));
        (diff == 0).then_some(first)
    }

    /// True if every packet either goes to output 0 or is dropped.
    #[inline]
    pub fn passes_or_drops(&self) -> bool {
        self.verdicts.iter().all(|v| v.0 == 0 || v.is_drop())
    }

    /// Keeps the packets going to output 0, in order, and drops the others
    /// (returning their frames), calling `dropped` with each one's verdict
    /// in order.
    pub fn retain_passed(&mut self, mut dropped: impl FnMut(Verdict)) {
        let verdicts = &self.verdicts;
        let mut i = 0;
        self.packets.retain(|_| {
            let v = verdicts[i];
            i += 1;
            if v.0 != 0 {
                dropped(v);
            }
            v.0 == 0
        });
        self.verdicts.truncate(self.packets.len());
        self.verdicts.fill(Verdict::PASS);
    }

    /// Removes every packet (with its verdict), in order.
    pub fn drain(&mut self) -> impl Iterator<Item = (Packet, Verdict)> + '_ {
        self.packets.drain(..).zip(self.verdicts.drain(..))
    }

    /// Removes the first `n` packets (fewer if the batch is shorter), in order.
    pub fn drain_first(&mut self, n: usize) -> impl Iterator<Item = Packet> + '_ {
        let n = n.min(self.len());
        self.verdicts.drain(..n);
        self.packets.drain(..n)
    }

    /// Drops every packet (returning frames to their pools).
    pub fn clear(&mut self) {
        self.packets.clear();
        self.verdicts.clear();
    }

    /// Moves every packet of `other` into `self` as far as room allows, in
    /// order; the rest (the last ones) stay in `other`.
    pub fn append(&mut self, other: &mut Batch) {
        let take = other.len().min(self.remaining());
        self.packets.extend(other.packets.drain(..take));
        self.verdicts.extend(other.verdicts.drain(..take));
    }
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Extend<Packet> for Batch {
    /// Pushes packets until full; extra packets are dropped. Use
    /// [`Batch::push`] to handle a full batch yourself.
    fn extend<I: IntoIterator<Item = Packet>>(&mut self, iter: I) {
        for pkt in iter {
            if self.push(pkt).is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{Pool, PoolConfig};

    #[test]
    fn push_respects_capacity_without_realloc() {
        let pool = Pool::new(PoolConfig {
            frames: 8,
            ..Default::default()
        })
        .unwrap();
        let mut b = Batch::with_capacity(4);
        let ptr = b.packets().as_ptr();
        for _ in 0..4 {
            b.push(pool.alloc().unwrap()).unwrap();
        }
        assert!(b.push(pool.alloc().unwrap()).is_err());
        assert_eq!(b.packets().as_ptr(), ptr);
        assert!(b.all_pass());
        b.verdicts_mut()[1] = Verdict::drop(DropReason::Filtered);
        assert!(!b.all_pass());
        b.clear();
        assert_eq!(pool.available(), 8);
    }

    #[test]
    fn uniform_and_retained_verdicts() {
        let pool = Pool::new(PoolConfig {
            frames: 8,
            ..Default::default()
        })
        .unwrap();
        let mut b = Batch::with_capacity(8);
        assert_eq!(b.uniform_verdict(), None);
        let drop = Verdict::drop(DropReason::Filtered);
        let verdicts = [Verdict::PASS, drop, Verdict::PASS, drop, drop];
        for (n, v) in verdicts.into_iter().enumerate() {
            b.push_with(pool.alloc_with(&[n as u8]).unwrap(), v)
                .unwrap();
        }
        assert_eq!(b.uniform_verdict(), None);
        assert!(b.passes_or_drops());
        let mut seen = Vec::new();
        b.retain_passed(|v| seen.push(v));
        assert_eq!(seen, [drop, drop, drop]);
        assert_eq!(b.len(), 2);
        assert_eq!(pool.available(), 6);
        let firsts: Vec<u8> = b.iter().map(|p| p.data()[0]).collect();
        assert_eq!(firsts, [0, 2]);
        assert_eq!(b.uniform_verdict(), Some(Verdict::PASS));
        b.set_all(Verdict::forward(3));
        assert_eq!(b.uniform_verdict(), Some(Verdict::forward(3)));
        assert!(!b.passes_or_drops());
    }

    #[test]
    fn capacity_is_clamped() {
        assert_eq!(Batch::with_capacity(0).capacity(), 1);
        assert_eq!(Batch::with_capacity(10_000).capacity(), MAX_BATCH);
    }

    #[test]
    fn append_moves_what_fits() {
        let pool = Pool::new(PoolConfig {
            frames: 8,
            ..Default::default()
        })
        .unwrap();
        let mut a = Batch::with_capacity(3);
        let mut b = Batch::with_capacity(8);
        for i in 0..5u8 {
            b.push(pool.alloc_with(&[i]).unwrap()).unwrap();
        }
        a.append(&mut b);
        assert_eq!((a.len(), b.len()), (3, 2));
    }

    /// Packets keep their order across `append`, also when only some fit:
    /// the first ones move, the rest wait in `other` for the next call.
    #[test]
    fn append_keeps_order() {
        let pool = Pool::new(PoolConfig {
            frames: 8,
            ..Default::default()
        })
        .unwrap();
        let firsts = |b: &Batch| b.iter().map(|p| p.data()[0]).collect::<Vec<_>>();
        let mut a = Batch::with_capacity(3);
        let mut b = Batch::with_capacity(8);
        for i in 0..5u8 {
            b.push_with(
                pool.alloc_with(&[i]).unwrap(),
                Verdict::forward(u16::from(i)),
            )
            .unwrap();
        }
        a.append(&mut b);
        assert_eq!((firsts(&a), firsts(&b)), (vec![0, 1, 2], vec![3, 4]));
        assert_eq!(a.verdicts()[2], Verdict::forward(2));
        a.clear();
        a.append(&mut b);
        assert_eq!((firsts(&a), firsts(&b)), (vec![3, 4], vec![]));
        assert_eq!(a.verdicts(), [Verdict::forward(3), Verdict::forward(4)]);
    }

    #[test]
    fn drop_reason_names_are_unique() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }
}
