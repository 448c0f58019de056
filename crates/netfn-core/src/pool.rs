//! The frame pool and the [`Packet`] that owns one frame.
//!
//! A pool is one contiguous, page-aligned region cut into fixed-size frames
//! (default 2 KiB), the layout an AF_XDP UMEM needs. Each frame starts with a
//! 64-byte [`FrameMeta`] (owner pool, data offsets, per-packet metadata),
//! followed by the data area; packet data starts after a headroom (default
//! 256 B) so encapsulation can prepend headers without copying.
//!
//! Invariants:
//! * A frame is either on the pool's free stack or owned by exactly one
//!   `Packet`. `Packet` is not `Clone`; dropping it pushes the frame back.
//! * The pool is single-threaded: `Pool` and `Packet` are `!Send`, so the free
//!   stack needs no lock or atomic. Taking and returning a frame is O(1).
//! * The region lives as long as the pool handle *or* any packet: the pool's
//!   inner block is reference-counted by (handles + live packets), with a
//!   plain `Cell` counter (single-threaded).
//!
//! All `unsafe` of the data path's packet ownership lives in this module.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// Size of the per-frame metadata block at the start of every frame.
pub const META_SIZE: usize = 64;
/// Default frame size (one AF_XDP chunk).
pub const DEFAULT_FRAME_SIZE: usize = 2048;
/// Default headroom before packet data (room for encapsulation headers).
pub const DEFAULT_HEADROOM: usize = 256;

/// Memory that backs a pool: heap by default, or an mmap'd region (AF_XDP
/// UMEM, a shared-memory file) supplied by a port backend.
///
/// # Safety
/// `as_ptr()` must return the same pointer for the lifetime of the value,
/// valid for reads and writes of `len()` bytes, aligned to 64 bytes, and not
/// accessed by anything else while the pool uses it.
pub unsafe trait FrameRegion {
    fn as_ptr(&self) -> *mut u8;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A page-aligned, zeroed heap region.
///
/// Allocated with the allocator's default alignment and aligned by hand:
/// a large zeroed allocation then comes from `calloc`, i.e. fresh
/// anonymous pages the kernel zeroes when first touched, where a
/// page-aligned `alloc_zeroed` would `memset` (and so fault in) every page
/// at once. A pool's frames cost memory only once used (a Worker's pool
/// mostly never is), and building a pool costs microseconds.
struct HeapRegion {
    /// What the allocator returned (freed with `layout`).
    raw: NonNull<u8>,
    /// `raw` rounded up to a page.
    ptr: NonNull<u8>,
    len: usize,
    layout: Layout,
}

const REGION_ALIGN: usize = 4096;

impl HeapRegion {
    fn new(len: usize) -> HeapRegion {
        let len = len.max(REGION_ALIGN);
        let layout = len
            .checked_add(REGION_ALIGN)
            .and_then(|size| Layout::from_size_align(size, 1).ok())
            .expect("pool region size overflows");
        // SAFETY: layout has non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let raw = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        let pad = raw.as_ptr().align_offset(REGION_ALIGN);
        assert!(pad < REGION_ALIGN, "cannot align the pool region");
        // SAFETY: `pad < REGION_ALIGN`, so `raw + pad .. + len` lies inside
        // the `len + REGION_ALIGN` bytes allocated.
        let ptr = unsafe { raw.add(pad) };
        HeapRegion {
            raw,
            ptr,
            len,
            layout,
        }
    }
}

impl Drop for HeapRegion {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.raw.as_ptr(), self.layout) }
    }
}

// SAFETY: the pointer is fixed, valid for `len` bytes, 4096-aligned,
// and owned exclusively by this value.
unsafe impl FrameRegion for HeapRegion {
    fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    fn len(&self) -> usize {
        self.len
    }
}

/// Pool geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Number of frames.
    pub frames: u32,
    /// Bytes per frame, metadata included. A power of two, 512..=65536.
    pub frame_size: usize,
    /// Bytes kept free before packet data when a frame is handed out.
    pub headroom: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            frames: 8192,
            frame_size: DEFAULT_FRAME_SIZE,
            headroom: DEFAULT_HEADROOM,
        }
    }
}

/// Why a pool could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("frame size {0} must be a power of two between 512 and 65536")]
    FrameSize(usize),
    #[error("headroom {headroom} leaves no room for data in a {frame_size}-byte frame")]
    Headroom { headroom: usize, frame_size: usize },
    #[error("pool needs at least one frame")]
    NoFrames,
    #[error(
        "region of {len} bytes is too small for {frames} frames of {frame_size} bytes (or misaligned)"
    )]
    Region {
        len: usize,
        frames: u32,
        frame_size: usize,
    },
}

/// Per-packet metadata, stored at the start of each frame.
#[repr(C, align(64))]
struct FrameMeta {
    pool: NonNull<PoolInner>,
    /// Offset of the first data byte from the start of the data area.
    head: u32,
    /// Number of data bytes.
    len: u32,
    index: u32,
    input_port: u16,
    flags: u16,
    flow_hash: u32,
    _pad: u32,
    timestamp_ns: u64,
    user: u64,
}

const _: () = assert!(std::mem::size_of::<FrameMeta>() == META_SIZE);

const FLAG_HASH_VALID: u16 = 1;

struct PoolInner {
    /// Owns the memory `base` points into; freed with the pool.
    _region: Box<dyn FrameRegion>,
    base: NonNull<u8>,
    frame_size: usize,
    headroom: usize,
    frames: u32,
    /// Free frame indexes; capacity == frames so pushes never reallocate.
    free: UnsafeCell<Vec<u32>>,
    /// Pool handles plus live packets. The inner block is freed at zero.
    refs: Cell<usize>,
}

impl PoolInner {
    #[inline]
    fn frame_ptr(&self, index: u32) -> NonNull<FrameMeta> {
        debug_assert!(index < self.frames);
        // SAFETY: index < frames, so the offset lies within the region; frame
        // starts are 64-aligned because the region is and frame_size is a
        // power of two >= 512.
        unsafe { self.base.add(index as usize * self.frame_size).cast() }
    }

    #[inline]
    fn data_capacity(&self) -> usize {
        self.frame_size - META_SIZE
    }
}

/// A handle to a frame pool. Cheap to clone (a reference count).
pub struct Pool {
    inner: NonNull<PoolInner>,
    _not_send: PhantomData<*mut ()>,
}

impl Pool {
    /// A heap-backed pool.
    pub fn new(config: PoolConfig) -> Result<Pool, PoolError> {
        Self::validate(&config)?;
        let region = HeapRegion::new(config.frames as usize * config.frame_size);
        Self::with_region(config, Box::new(region))
    }

    fn validate(config: &PoolConfig) -> Result<(), PoolError> {
        if !config.frame_size.is_power_of_two() || !(512..=65536).contains(&config.frame_size) {
            return Err(PoolError::FrameSize(config.frame_size));
        }
        if config.headroom + META_SIZE + 64 > config.frame_size {
            return Err(PoolError::Headroom {
                headroom: config.headroom,
                frame_size: config.frame_size,
            });
        }
        if config.frames == 0 {
            return Err(PoolError::NoFrames);
        }
        Ok(())
    }

    /// A pool over memory supplied by the caller (AF_XDP UMEM, shared memory).
    pub fn with_region(
        config: PoolConfig,
        region: Box<dyn FrameRegion>,
    ) -> Result<Pool, PoolError> {
        Self::validate(&config)?;
        let need = config.frames as usize * config.frame_size;
        let base =
            NonNull::new(region.as_ptr()).filter(|p| (p.as_ptr() as usize).is_multiple_of(64));
        let Some(base) = base.filter(|_| region.len() >= need) else {
            return Err(PoolError::Region {
                len: region.len(),
                frames: config.frames,
                frame_size: config.frame_size,
            });
        };
        // Hand out low indexes first (pop from the end).
        let free: Vec<u32> = (0..config.frames).rev().collect();
        let inner = Box::new(PoolInner {
            _region: region,
            base,
            frame_size: config.frame_size,
            headroom: config.headroom,
            frames: config.frames,
            free: UnsafeCell::new(free),
            refs: Cell::new(1),
        });
        Ok(Pool {
            inner: NonNull::from(Box::leak(inner)),
            _not_send: PhantomData,
        })
    }

    #[inline]
    fn inner(&self) -> &PoolInner {
        // SAFETY: the inner block lives while refs > 0, and this handle holds one.
        unsafe { self.inner.as_ref() }
    }

    /// Takes a free frame, empty, with the default headroom. `None` when the
    /// pool is exhausted.
    #[inline]
    pub fn alloc(&self) -> Option<Packet> {
        let inner = self.inner();
        // SAFETY: single-threaded (Pool is !Send/!Sync); no other reference to
        // the free stack is live during this call.
        let index = unsafe { (*inner.free.get()).pop() }?;
        inner.refs.set(inner.refs.get() + 1);
        let frame = inner.frame_ptr(index);
        // SAFETY: the frame was free, so nothing else references it; we now
        // own it and initialise its metadata in full.
        unsafe {
            frame.write(FrameMeta {
                pool: self.inner,
                head: inner.headroom as u32,
                len: 0,
                index,
                input_port: 0,
                flags: 0,
                flow_hash: 0,
                _pad: 0,
                timestamp_ns: 0,
                user: 0,
            });
        }
        Some(Packet {
            frame,
            _not_send: PhantomData,
        })
    }

    /// Takes a frame and copies `data` into it.
    pub fn alloc_with(&self, data: &[u8]) -> Option<Packet> {
        let mut pkt = self.alloc()?;
        pkt.extend_back(data.len()).ok()?.copy_from_slice(data);
        Some(pkt)
    }

    /// Frames currently free.
    pub fn available(&self) -> usize {
        // SAFETY: single-threaded; short-lived shared read.
        unsafe { (*self.inner().free.get()).len() }
    }

    pub fn capacity(&self) -> usize {
        self.inner().frames as usize
    }

    pub fn frame_size(&self) -> usize {
        self.inner().frame_size
    }

    pub fn headroom(&self) -> usize {
        self.inner().headroom
    }

    /// Largest packet a frame can hold with the default headroom.
    pub fn max_packet_len(&self) -> usize {
        self.inner().data_capacity() - self.inner().headroom
    }

    /// Start of the region and its length, for registering it as an AF_XDP
    /// UMEM or mapping it in another process.
    pub fn region(&self) -> (*mut u8, usize) {
        let inner = self.inner();
        (
            inner.base.as_ptr(),
            inner.frames as usize * inner.frame_size,
        )
    }

    /// Offset of a packet's first data byte from the region start (an AF_XDP
    /// descriptor address).
    pub fn region_offset(&self, pkt: &Packet) -> Option<usize> {
        let (base, len) = self.region();
        let at = pkt.data().as_ptr() as usize;
        at.checked_sub(base as usize).filter(|o| *o < len)
    }
}

impl Clone for Pool {
    fn clone(&self) -> Self {
        let inner = self.inner();
        inner.refs.set(inner.refs.get() + 1);
        Pool {
            inner: self.inner,
            _not_send: PhantomData,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: this handle holds a reference.
        unsafe { release(self.inner) }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("frames", &self.capacity())
            .field("available", &self.available())
            .field("frame_size", &self.frame_size())
            .finish()
    }
}

/// Drops one reference to the pool; frees it at zero.
///
/// # Safety
/// The caller owns one reference and gives it up.
unsafe fn release(inner: NonNull<PoolInner>) {
    // SAFETY: the caller owns a reference, so the block is alive.
    let refs = unsafe { &inner.as_ref().refs };
    let left = refs.get() - 1;
    refs.set(left);
    if left == 0 {
        // SAFETY: it was leaked from a Box in `with_region`; no references remain.
        drop(unsafe { Box::from_raw(inner.as_ptr()) });
    }
}

/// Not enough headroom or tailroom in the frame for a resize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame has no room: need {needed} bytes, {available} available")]
pub struct NoRoom {
    pub needed: usize,
    pub available: usize,
}

/// One packet: exclusive owner of one frame of a [`Pool`].
///
/// Not `Clone` (use [`Packet::copy`] for mirrors) and not `Send`. Handing a
/// packet to the next stage moves it; the sender cannot touch it again.
pub struct Packet {
    frame: NonNull<FrameMeta>,
    _not_send: PhantomData<*mut ()>,
}

impl Packet {
    #[inline]
    fn meta(&self) -> &FrameMeta {
        // SAFETY: this packet owns the frame; the pool outlives it (refcount).
        unsafe { self.frame.as_ref() }
    }

    #[inline]
    fn meta_mut(&mut self) -> &mut FrameMeta {
        // SAFETY: as in `meta`, and `&mut self` makes the access exclusive.
        unsafe { self.frame.as_mut() }
    }

    #[inline]
    fn pool_inner(&self) -> &PoolInner {
        // SAFETY: a live packet holds a reference on its pool.
        unsafe { self.meta().pool.as_ref() }
    }

    #[inline]
    fn data_area(&self) -> *mut u8 {
        // SAFETY: the data area directly follows the 64-byte metadata within
        // the same frame.
        unsafe { self.frame.as_ptr().cast::<u8>().add(META_SIZE) }
    }

    /// The packet's bytes (starting at the Ethernet header).
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.meta();
        // SAFETY: head + len <= data capacity is maintained by every resize;
        // the bytes belong to this frame, which this packet owns.
        unsafe { std::slice::from_raw_parts(self.data_area().add(m.head as usize), m.len as usize) }
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (head, len) = (self.meta().head as usize, self.meta().len as usize);
        // SAFETY: as in `data`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.data_area().add(head), len) }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.meta().len as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Free bytes before the data.
    pub fn headroom(&self) -> usize {
        self.meta().head as usize
    }

    /// Free bytes after the data.
    pub fn tailroom(&self) -> usize {
        let m = self.meta();
        self.pool_inner().data_capacity() - m.head as usize - m.len as usize
    }

    /// Grows the packet at the front by `n` bytes (for a new outer header)
    /// and returns the new bytes (contents unspecified).
    pub fn push_front(&mut self, n: usize) -> Result<&mut [u8], NoRoom> {
        if n > self.headroom() {
            return Err(NoRoom {
                needed: n,
                available: self.headroom(),
            });
        }
        let m = self.meta_mut();
        m.head -= n as u32;
        m.len += n as u32;
        Ok(&mut self.data_mut()[..n])
    }

    /// Removes `n` bytes from the front (strip an outer header).
    pub fn pull_front(&mut self, n: usize) -> Result<(), NoRoom> {
        if n > self.len() {
            return Err(NoRoom {
                needed: n,
                available: self.len(),
            });
        }
        let m = self.meta_mut();
        m.head += n as u32;
        m.len -= n as u32;
        Ok(())
    }

    /// Grows the packet at the back by `n` bytes and returns them (zeroed
    /// only if the frame never held data there; treat as unspecified).
    pub fn extend_back(&mut self, n: usize) -> Result<&mut [u8], NoRoom> {
        if n > self.tailroom() {
            return Err(NoRoom {
                needed: n,
                available: self.tailroom(),
            });
        }
        let old = self.len();
        self.meta_mut().len += n as u32;
        Ok(&mut self.data_mut()[old..])
    }

    /// Shortens the packet to `len` bytes; no-op if already shorter.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.meta_mut().len = len as u32;
        }
    }

    /// Sets the length, growing or shrinking at the back.
    pub fn set_len(&mut self, len: usize) -> Result<(), NoRoom> {
        if len > self.len() {
            self.extend_back(len - self.len())?;
        } else {
            self.truncate(len);
        }
        Ok(())
    }

    /// Replaces the contents with `data` at the default headroom.
    pub fn set_data(&mut self, data: &[u8]) -> Result<(), NoRoom> {
        let headroom = self.pool_inner().headroom;
        let cap = self.pool_inner().data_capacity() - headroom;
        if data.len() > cap {
            return Err(NoRoom {
                needed: data.len(),
                available: cap,
            });
        }
        let m = self.meta_mut();
        m.head = headroom as u32;
        m.len = data.len() as u32;
        self.data_mut().copy_from_slice(data);
        Ok(())
    }

    /// An independent copy (data and metadata) in a new frame of the same
    /// pool, for mirrors and tees. `None` if the pool is exhausted.
    pub fn copy(&self) -> Option<Packet> {
        let pool = Pool {
            inner: self.meta().pool,
            _not_send: PhantomData,
        };
        let pool = std::mem::ManuallyDrop::new(pool); // borrow, don't release
        let mut copy = pool.alloc()?;
        let (head, len) = (self.meta().head, self.meta().len);
        {
            let m = copy.meta_mut();
            m.head = head;
            m.len = len;
        }
        copy.data_mut().copy_from_slice(self.data());
        let src = self.meta();
        let m = copy.meta_mut();
        m.input_port = src.input_port;
        m.flags = src.flags;
        m.flow_hash = src.flow_hash;
        m.timestamp_ns = src.timestamp_ns;
        m.user = src.user;
        Some(copy)
    }

    /// Index of this packet's frame in its pool (stable while owned).
    pub fn frame_index(&self) -> u32 {
        self.meta().index
    }

    /// The port the packet arrived on (set by the runtime).
    #[inline]
    pub fn input_port(&self) -> u16 {
        self.meta().input_port
    }
    #[inline]
    pub fn set_input_port(&mut self, port: u16) {
        self.meta_mut().input_port = port;
    }

    /// Receive time, in nanoseconds of the runtime clock.
    #[inline]
    pub fn timestamp(&self) -> u64 {
        self.meta().timestamp_ns
    }
    #[inline]
    pub fn set_timestamp(&mut self, ns: u64) {
        self.meta_mut().timestamp_ns = ns;
    }

    /// A flow hash computed earlier (by a port or an NF), if any.
    #[inline]
    pub fn flow_hash(&self) -> Option<u32> {
        let m = self.meta();
        (m.flags & FLAG_HASH_VALID != 0).then_some(m.flow_hash)
    }
    #[inline]
    pub fn set_flow_hash(&mut self, hash: u32) {
        let m = self.meta_mut();
        m.flow_hash = hash;
        m.flags |= FLAG_HASH_VALID;
    }
    #[inline]
    pub fn clear_flow_hash(&mut self) {
        self.meta_mut().flags &= !FLAG_HASH_VALID;
    }

    /// A free 64-bit slot for NFs to pass information downstream (e.g. a
    /// class id, a tenant, a mark).
    #[inline]
    pub fn user_meta(&self) -> u64 {
        self.meta().user
    }
    #[inline]
    pub fn set_user_meta(&mut self, value: u64) {
        self.meta_mut().user = value;
    }
}

impl Drop for Packet {
    #[inline]
    fn drop(&mut self) {
        let pool = self.meta().pool;
        let index = self.meta().index;
        // SAFETY: the packet holds a reference on its pool, so the inner block
        // is alive; single-threaded, so the free stack is not aliased. The
        // stack's capacity is the frame count and this frame is not on it, so
        // push never reallocates.
        unsafe {
            (*pool.as_ref().free.get()).push(index);
            release(pool);
        }
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("frame", &self.frame_index())
            .field("len", &self.len())
            .field("input_port", &self.input_port())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Pool {
        Pool::new(PoolConfig {
            frames: 4,
            ..PoolConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn alloc_and_drop_return_frames() {
        let pool = small();
        assert_eq!(pool.available(), 4);
        let a = pool.alloc().unwrap();
        let b = pool.alloc().unwrap();
        assert_ne!(a.frame_index(), b.frame_index());
        assert_eq!(pool.available(), 2);
        drop(a);
        assert_eq!(pool.available(), 3);
        drop(b);
        assert_eq!(pool.available(), 4);
    }

    #[test]
    fn exhaustion_is_none_not_panic() {
        let pool = small();
        let held: Vec<_> = (0..4).map(|_| pool.alloc().unwrap()).collect();
        assert!(pool.alloc().is_none());
        drop(held);
        assert!(pool.alloc().is_some());
    }

    #[test]
    fn packets_outlive_pool_handle() {
        let pool = small();
        let mut p = pool.alloc_with(b"hello").unwrap();
        drop(pool);
        p.data_mut()[0] = b'j';
        assert_eq!(p.data(), b"jello");
        let c = p.copy().unwrap();
        drop(p);
        assert_eq!(c.data(), b"jello");
    }

    #[test]
    fn resize_within_headroom_and_tailroom() {
        let pool = small();
        let mut p = pool.alloc_with(&[1, 2, 3]).unwrap();
        assert_eq!(p.headroom(), DEFAULT_HEADROOM);
        p.push_front(2).unwrap().copy_from_slice(&[9, 9]);
        assert_eq!(p.data(), &[9, 9, 1, 2, 3]);
        p.pull_front(3).unwrap();
        assert_eq!(p.data(), &[2, 3]);
        assert!(p.push_front(10_000).is_err());
        let tail = p.tailroom();
        assert!(p.extend_back(tail + 1).is_err());
        p.extend_back(tail).unwrap();
        assert_eq!(p.len(), 2 + tail);
        p.truncate(1);
        assert_eq!(p.data(), &[2]);
        assert_eq!(
            pool.max_packet_len(),
            DEFAULT_FRAME_SIZE - META_SIZE - DEFAULT_HEADROOM
        );
    }

    #[test]
    fn copy_is_independent_and_keeps_metadata() {
        let pool = small();
        let mut p = pool.alloc_with(&[1, 2, 3]).unwrap();
        p.set_input_port(7);
        p.set_flow_hash(0xdead);
        p.set_user_meta(42);
        let mut c = p.copy().unwrap();
        c.data_mut()[0] = 100;
        assert_eq!(p.data(), &[1, 2, 3]);
        assert_eq!(
            (c.input_port(), c.flow_hash(), c.user_meta()),
            (7, Some(0xdead), 42)
        );
    }

    #[test]
    fn region_offsets_are_inside_region() {
        let pool = small();
        let p = pool.alloc_with(&[0; 60]).unwrap();
        let off = pool.region_offset(&p).unwrap();
        assert_eq!(off % DEFAULT_FRAME_SIZE, META_SIZE + DEFAULT_HEADROOM);
    }

    #[test]
    fn rejects_bad_geometry() {
        let bad = |frame_size, headroom, frames| {
            Pool::new(PoolConfig {
                frames,
                frame_size,
                headroom,
            })
            .is_err()
        };
        assert!(bad(1000, 128, 4));
        assert!(bad(512, 512, 4));
        assert!(bad(2048, 128, 0));
    }
}
