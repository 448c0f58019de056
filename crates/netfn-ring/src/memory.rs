//! Where the slots and the control block live: the [`Memory`] a Master and
//! a Worker share. [`Region`](crate::Region) is the real one (a memfd mapped
//! by both processes); [`HeapMemory`] is an in-process one for model
//! checking and unit tests.

use crate::layout::{Control, SlotHeader};
use crate::sync::UnsafeCell;

/// Which of a Worker's two rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingId {
    /// Master -> Worker -> Master, tokens processed in place.
    Primary,
    /// Worker -> Master, generated tokens.
    Aux,
}

/// The shared state of one Master-Worker pair.
///
/// # Safety
/// Implementations return the same control block and slots for the life of
/// the value; `header` and `with_data` must be valid for every index below
/// `slots(ring)`, and the data slice of a slot must be `data_capacity()`
/// bytes that belong to that slot alone.
pub unsafe trait Memory {
    fn control(&self) -> &Control;
    fn slots(&self, ring: RingId) -> u32;
    fn data_capacity(&self) -> usize;
    /// The header of slot `index` (panics if `index >= slots(ring)`: indexes
    /// read from shared memory are checked before they get here).
    fn header(&self, ring: RingId, index: u32) -> &SlotHeader;
    /// Runs `f` on the data area of slot `index`.
    ///
    /// # Safety
    /// Under the ring protocol the caller owns that slot for the duration
    /// of the call: the peer does not access its data. (A misbehaving peer
    /// that does anyway can only make the bytes garbage; callers copy data
    /// out and take lengths from the header's atomics, bounded by the
    /// capacity.)
    unsafe fn with_data<R>(&self, ring: RingId, index: u32, f: impl FnOnce(&mut [u8]) -> R) -> R;
}

// SAFETY: forwards to `T`, which upholds the contract.
unsafe impl<T: Memory + ?Sized> Memory for std::sync::Arc<T> {
    fn control(&self) -> &Control {
        (**self).control()
    }
    fn slots(&self, ring: RingId) -> u32 {
        (**self).slots(ring)
    }
    fn data_capacity(&self) -> usize {
        (**self).data_capacity()
    }
    fn header(&self, ring: RingId, index: u32) -> &SlotHeader {
        (**self).header(ring, index)
    }
    unsafe fn with_data<R>(&self, ring: RingId, index: u32, f: impl FnOnce(&mut [u8]) -> R) -> R {
        // SAFETY: the caller's ownership of the slot carries over.
        unsafe { (**self).with_data(ring, index, f) }
    }
}

struct HeapSlot {
    header: SlotHeader,
    data: UnsafeCell<Box<[u8]>>,
}

/// Rings on the heap of one process, for threads: the loom model tests run
/// the protocol on it (loom then also checks that no two sides touch a
/// slot's data at once), and so do unit tests.
pub struct HeapMemory {
    control: Control,
    primary: Box<[HeapSlot]>,
    aux: Box<[HeapSlot]>,
    capacity: usize,
}

impl std::fmt::Debug for HeapMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeapMemory")
            .field("primary", &self.primary.len())
            .field("aux", &self.aux.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl HeapMemory {
    /// `primary` and `aux` slots (each at least 2) of `capacity` data bytes.
    pub fn new(primary: u32, aux: u32, capacity: usize) -> HeapMemory {
        assert!(primary >= 2 && aux >= 2, "a ring needs at least 2 slots");
        let slots = |n: u32| {
            (0..n)
                .map(|_| HeapSlot {
                    header: SlotHeader::new(),
                    data: UnsafeCell::new(vec![0u8; capacity].into_boxed_slice()),
                })
                .collect::<Box<[_]>>()
        };
        HeapMemory {
            control: Control::new(),
            primary: slots(primary),
            aux: slots(aux),
            capacity,
        }
    }

    fn ring(&self, ring: RingId) -> &[HeapSlot] {
        match ring {
            RingId::Primary => &self.primary,
            RingId::Aux => &self.aux,
        }
    }
}

// SAFETY: slot data is only reached through `with_data`, whose callers own
// the slot under the protocol (so no two threads touch one slot's data at
// once); everything else is atomics.
unsafe impl Sync for HeapMemory {}
// SAFETY: as above; the value owns all of its memory.
unsafe impl Send for HeapMemory {}

// SAFETY: fixed boxed slices owned by the value; each slot's data is its own
// box of `capacity` bytes.
unsafe impl Memory for HeapMemory {
    fn control(&self) -> &Control {
        &self.control
    }
    fn slots(&self, ring: RingId) -> u32 {
        self.ring(ring).len() as u32
    }
    fn data_capacity(&self) -> usize {
        self.capacity
    }
    fn header(&self, ring: RingId, index: u32) -> &SlotHeader {
        &self.ring(ring)[index as usize].header
    }
    unsafe fn with_data<R>(&self, ring: RingId, index: u32, f: impl FnOnce(&mut [u8]) -> R) -> R {
        self.ring(ring)[index as usize].data.with_mut(|p| {
            // SAFETY: `p` points to this slot's box, alive as long as `self`;
            // the caller owns the slot, so this is the only reference.
            let data: &mut Box<[u8]> = unsafe { &mut *p };
            f(data)
        })
    }
}
