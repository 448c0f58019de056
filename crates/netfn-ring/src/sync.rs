//! The atomics and cells the protocol uses: `std`'s in a normal build,
//! loom's under `--cfg loom`, so the model tests check the very code that runs.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std`'s `UnsafeCell` behind loom's closure API.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// A word of a slot header. Only the slot's current owner touches it (the
/// index Release/Acquire pairs order the hand-overs), so a normal build
/// makes it a Relaxed atomic: free on any CPU, and a misbehaving peer that
/// writes it at the wrong time causes a wrong value, never undefined
/// behaviour. Under loom it is a cell instead, which is stricter (loom
/// fails the run on any access not ordered after the last one by the
/// protocol) and, not being a scheduling point, keeps the model small.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct SlotWord<A>(A);

#[cfg(not(loom))]
macro_rules! slot_word {
    ($atomic:ty, $int:ty) => {
        impl SlotWord<$atomic> {
            pub(crate) fn new(v: $int) -> Self {
                SlotWord(<$atomic>::new(v))
            }
            #[inline]
            pub(crate) fn load(&self) -> $int {
                self.0.load(Ordering::Relaxed)
            }
            #[inline]
            pub(crate) fn store(&self, v: $int) {
                self.0.store(v, Ordering::Relaxed)
            }
        }
    };
}
#[cfg(not(loom))]
slot_word!(AtomicU32, u32);
#[cfg(not(loom))]
slot_word!(AtomicU64, u64);

#[cfg(not(loom))]
pub(crate) type SlotU32 = SlotWord<AtomicU32>;
#[cfg(not(loom))]
pub(crate) type SlotU64 = SlotWord<AtomicU64>;

#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct SlotWord<T>(loom::cell::UnsafeCell<T>);

#[cfg(loom)]
impl<T: Copy> SlotWord<T> {
    pub(crate) fn new(v: T) -> Self {
        SlotWord(loom::cell::UnsafeCell::new(v))
    }
    pub(crate) fn load(&self) -> T {
        // SAFETY: loom checks that this read is ordered after the last
        // write (it fails the model otherwise); the cell is alive.
        self.0.with(|p| unsafe { *p })
    }
    pub(crate) fn store(&self, v: T) {
        // SAFETY: as above, for a write.
        self.0.with_mut(|p| unsafe { *p = v })
    }
}

#[cfg(loom)]
pub(crate) type SlotU32 = SlotWord<u32>;
#[cfg(loom)]
pub(crate) type SlotU64 = SlotWord<u64>;
