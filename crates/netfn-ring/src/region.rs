//! The shared region of one Worker: a memfd the Master creates, sizes and
//! seals, mapped by the Master and by that Worker alone.
//!
//! Layout (offsets page-aligned except the control block):
//!
//! ```text
//! 0      RegionHeader   magic, version, geometry, generation (written once)
//! 128    Control        the shared indexes, one 128-byte line each
//! page   primary ring   primary_slots x slot_size
//! page   aux ring       aux_slots x slot_size
//! ```
//!
//! The Master seals the size (`F_SEAL_SHRINK | F_SEAL_GROW`) so a Worker
//! cannot truncate the file under the Master's mapping (which would make
//! the Master fault on access). The Worker validates the header against the
//! file before it touches anything else: a foreign or corrupt file is an
//! error, not undefined behaviour. A restart gets a new region
//! ([`Region::recreate`]), so nothing a dead Worker left behind is trusted.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};

use crate::config::{ConfigError, MAX_SLOT_SIZE, MAX_SLOTS, RingConfig, Tunables};
use crate::layout::{CACHE_LINE, Control, SLOT_HEADER, SlotHeader};
use crate::memory::{Memory, RingId};

/// "NETFNRNG", little-endian.
pub const MAGIC: u64 = u64::from_le_bytes(*b"NETFNRNG");
/// Layout version; bumped on any change of the layout above.
pub const VERSION: u32 = 1;

const PAGE: u64 = 4096;
const HUGE_PAGE: u64 = 2 * 1024 * 1024;
const CONTROL_OFFSET: u64 = 128;

/// The first bytes of a region (written once by the Master, before any
/// Worker maps it).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RegionHeader {
    magic: u64,
    version: u32,
    header_len: u32,
    total_len: u64,
    generation: u64,
    slot_size: u32,
    primary_slots: u32,
    aux_slots: u32,
    publish_every: u32,
    control_offset: u64,
    primary_offset: u64,
    aux_offset: u64,
}

const _: () = assert!(std::mem::size_of::<RegionHeader>() <= CONTROL_OFFSET as usize);
const _: () = assert!(std::mem::size_of::<Control>() as u64 + CONTROL_OFFSET <= PAGE);

fn round_up(x: u64, to: u64) -> u64 {
    x.div_ceil(to) * to
}

/// Where everything goes for a geometry.
fn layout(
    slot_size: u32,
    primary: u32,
    aux: u32,
    huge: bool,
) -> (u64 /*primary*/, u64 /*aux*/, u64 /*total*/) {
    let primary_offset = PAGE;
    let aux_offset = round_up(
        primary_offset + u64::from(primary) * u64::from(slot_size),
        PAGE,
    );
    let end = aux_offset + u64::from(aux) * u64::from(slot_size);
    let total = round_up(end, if huge { HUGE_PAGE } else { PAGE });
    (primary_offset, aux_offset, total)
}

/// Why a region could not be created or mapped.
#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{op}: {source}")]
    Io {
        op: &'static str,
        source: std::io::Error,
    },
    #[error("not a netfn ring region (magic {found:#018x}, expected {MAGIC:#018x})")]
    Magic { found: u64 },
    #[error("ring region layout version {found}, this build reads version {VERSION}")]
    Version { found: u32 },
    #[error("corrupt ring region header: {0}")]
    Corrupt(String),
}

fn io(op: &'static str) -> impl FnOnce(rustix::io::Errno) -> RegionError {
    move |e| RegionError::Io {
        op,
        source: e.into(),
    }
}

/// A mapping, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` is a mapping made in `Region::map` and owned
        // by this value; nothing borrowed from it outlives the `Region`.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// One Worker's shared region, mapped.
#[derive(Debug)]
pub struct Region {
    fd: OwnedFd,
    map: Mapping,
    header: RegionHeader,
    huge_pages: bool,
}

// SAFETY: the mapping is shared memory; everything the protocol shares in
// it is atomics, and slot data is reached only through `with_data`, whose
// callers own the slot under the protocol.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    /// The Master's side: a new sealed memfd sized for `config`, mapped,
    /// header written, indexes zero. Generation 0.
    pub fn create(config: &RingConfig) -> Result<Region, RegionError> {
        Region::create_generation(config, 0)
    }

    fn create_generation(config: &RingConfig, generation: u64) -> Result<Region, RegionError> {
        config.validate()?;
        let (primary_offset, aux_offset, total) = layout(
            config.slot_size,
            config.primary_slots,
            config.aux_slots,
            config.huge_pages,
        );
        let mut flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
        if config.huge_pages {
            flags |= MemfdFlags::HUGETLB | MemfdFlags::HUGE_2MB;
        }
        let fd = rustix::fs::memfd_create("netfn-ring", flags).map_err(io("memfd_create"))?;
        rustix::fs::ftruncate(&fd, total).map_err(io("ftruncate ring region"))?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
            .map_err(io("seal ring region"))?;
        let header = RegionHeader {
            magic: MAGIC,
            version: VERSION,
            header_len: std::mem::size_of::<RegionHeader>() as u32,
            total_len: total,
            generation,
            slot_size: config.slot_size,
            primary_slots: config.primary_slots,
            aux_slots: config.aux_slots,
            publish_every: config.tunables.publish_every,
            control_offset: CONTROL_OFFSET,
            primary_offset,
            aux_offset,
        };
        let map = Region::map(&fd, total as usize)?;
        // SAFETY: the mapping is at least a page, page-aligned, and nobody
        // else has it yet (the fd was just created).
        unsafe { map.ptr.as_ptr().cast::<RegionHeader>().write(header) };
        // The rest is zero (a fresh file): all indexes 0, status
        // WAIT_FOR_SIGNAL (0), no flags.
        Ok(Region {
            fd,
            map,
            header,
            huge_pages: config.huge_pages,
        })
    }

    /// A new region with the same geometry and the next generation, for a
    /// restarted Worker (the old one is dropped by the caller).
    pub fn recreate(&self) -> Result<Region, RegionError> {
        Region::create_generation(&self.config(), self.header.generation + 1)
    }

    /// The Worker's side: maps an inherited region fd and checks it.
    pub fn open(fd: OwnedFd) -> Result<Region, RegionError> {
        let stat = rustix::fs::fstat(&fd).map_err(io("fstat ring region"))?;
        let file_len = u64::try_from(stat.st_size).unwrap_or(0);
        if file_len < PAGE {
            return Err(RegionError::Corrupt(format!(
                "file is {file_len} bytes, smaller than a header page"
            )));
        }
        let probe = Region::map(&fd, PAGE as usize)?;
        // SAFETY: one mapped page, page-aligned; `read_volatile` copies the
        // header out whatever the bytes are (every bit pattern is a valid
        // RegionHeader: integers only).
        let header = unsafe { probe.ptr.as_ptr().cast::<RegionHeader>().read_volatile() };
        drop(probe);
        validate(&header, file_len)?;
        let map = Region::map(&fd, header.total_len as usize)?;
        // `validate` accepted one of the two lengths.
        let huge_pages = header.total_len
            != layout(
                header.slot_size,
                header.primary_slots,
                header.aux_slots,
                false,
            )
            .2;
        Ok(Region {
            fd,
            map,
            header,
            huge_pages,
        })
    }

    fn map(fd: &OwnedFd, len: usize) -> Result<Mapping, RegionError> {
        // SAFETY: a fresh shared mapping chosen by the kernel (null hint),
        // of a file at least `len` bytes long (created or checked by the
        // callers); it aliases no Rust object.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )
        }
        .map_err(io("mmap ring region"))?;
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| RegionError::Corrupt("mmap returned a null mapping".to_string()))?;
        Ok(Mapping { ptr, len })
    }

    /// The region's fd, to hand to the Worker.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn generation(&self) -> u64 {
        self.header.generation
    }

    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.map.len
    }

    pub fn is_empty(&self) -> bool {
        self.map.len == 0
    }

    /// The geometry (tunables other than `publish_every` are the Master's
    /// own and not stored: the defaults are returned).
    pub fn config(&self) -> RingConfig {
        RingConfig {
            primary_slots: self.header.primary_slots,
            aux_slots: self.header.aux_slots,
            slot_size: self.header.slot_size,
            huge_pages: self.huge_pages,
            tunables: Tunables {
                publish_every: self.header.publish_every,
                ..Tunables::default()
            },
        }
    }

    fn slot_ptr(&self, ring: RingId, index: u32) -> *mut u8 {
        let (offset, slots) = match ring {
            RingId::Primary => (self.header.primary_offset, self.header.primary_slots),
            RingId::Aux => (self.header.aux_offset, self.header.aux_slots),
        };
        assert!(index < slots, "{ring:?} slot {index} of {slots}");
        let at = offset as usize + index as usize * self.header.slot_size as usize;
        // SAFETY: validated geometry: the slot lies inside the mapping.
        unsafe { self.map.ptr.as_ptr().add(at) }
    }
}

/// Checks a header read from a file of `file_len` bytes.
fn validate(h: &RegionHeader, file_len: u64) -> Result<(), RegionError> {
    if h.magic != MAGIC {
        return Err(RegionError::Magic { found: h.magic });
    }
    if h.version != VERSION {
        return Err(RegionError::Version { found: h.version });
    }
    let corrupt = |what: String| Err(RegionError::Corrupt(what));
    if h.header_len as usize != std::mem::size_of::<RegionHeader>() {
        return corrupt(format!("header length {}", h.header_len));
    }
    if h.slot_size < 2 * CACHE_LINE as u32
        || h.slot_size > MAX_SLOT_SIZE
        || !(h.slot_size as usize).is_multiple_of(CACHE_LINE)
    {
        return corrupt(format!("slot size {}", h.slot_size));
    }
    for (name, n) in [("primary", h.primary_slots), ("aux", h.aux_slots)] {
        if !(2..=MAX_SLOTS).contains(&n) {
            return corrupt(format!("{name} ring of {n} slots"));
        }
    }
    if h.publish_every == 0 {
        return corrupt("publish_every 0".to_string());
    }
    if h.control_offset != CONTROL_OFFSET {
        return corrupt(format!("control block at {}", h.control_offset));
    }
    let plain = layout(h.slot_size, h.primary_slots, h.aux_slots, false);
    let huge = layout(h.slot_size, h.primary_slots, h.aux_slots, true);
    if (h.primary_offset, h.aux_offset) != (plain.0, plain.1)
        || (h.total_len != plain.2 && h.total_len != huge.2)
    {
        return corrupt(format!(
            "offsets {}/{} and length {} do not match the geometry",
            h.primary_offset, h.aux_offset, h.total_len
        ));
    }
    if h.total_len != file_len {
        return corrupt(format!(
            "header says {} bytes, the file has {file_len}",
            h.total_len
        ));
    }
    Ok(())
}

// SAFETY: the mapping lives as long as the value; `validate` (or `create`)
// established that the control block and every slot below `slots(ring)` lie
// inside it, aligned (page-aligned rings, 64-byte multiple slots, control
// at 128); each slot's data is its own `slot_size - 64` bytes.
unsafe impl Memory for Region {
    fn control(&self) -> &Control {
        // SAFETY: inside the mapping, 128-aligned, and every bit pattern is
        // a valid `Control` (atomic integers); shared access is atomic.
        unsafe {
            &*self
                .map
                .ptr
                .as_ptr()
                .add(CONTROL_OFFSET as usize)
                .cast::<Control>()
        }
    }

    fn slots(&self, ring: RingId) -> u32 {
        match ring {
            RingId::Primary => self.header.primary_slots,
            RingId::Aux => self.header.aux_slots,
        }
    }

    fn data_capacity(&self) -> usize {
        self.header.slot_size as usize - SLOT_HEADER
    }

    fn header(&self, ring: RingId, index: u32) -> &SlotHeader {
        // SAFETY: `slot_ptr` is inside the mapping and 64-aligned; a slot
        // header is atomics only, valid for any bit pattern.
        unsafe { &*self.slot_ptr(ring, index).cast::<SlotHeader>() }
    }

    unsafe fn with_data<R>(&self, ring: RingId, index: u32, f: impl FnOnce(&mut [u8]) -> R) -> R {
        // SAFETY: the data area follows the header inside the slot, inside
        // the mapping; the caller owns the slot under the protocol, so this
        // is the only live reference to these bytes in this process.
        let data = unsafe {
            std::slice::from_raw_parts_mut(
                self.slot_ptr(ring, index).add(SLOT_HEADER),
                self.data_capacity(),
            )
        };
        f(data)
    }
}

/// Environment variable naming the region fd a Worker inherited.
pub const REGION_FD_ENV: &str = "NETFN_RING_REGION_FD";
/// Environment variable naming the doorbell eventfd a Worker inherited.
pub const DOORBELL_FD_ENV: &str = "NETFN_RING_DOORBELL_FD";

/// Serialises spawns through [`spawn_worker`]: while one child's fds are
/// inheritable, no other child of ours may be forked from this function.
static SPAWN_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Spawns a Worker process that inherits `region` and `bell` (and no other
/// ring fd: both are close-on-exec except during this call, and spawns
/// through here are serialised). The fd numbers are passed in
/// [`REGION_FD_ENV`] and [`DOORBELL_FD_ENV`]; the child takes them with
/// [`worker_fds_from_env`].
///
/// Other threads that spawn processes by other means during the call could
/// inherit the fds too; a Master spawns its Workers from one place.
pub fn spawn_worker(
    cmd: &mut std::process::Command,
    region: &Region,
    bell: &crate::EventFd,
) -> std::io::Result<std::process::Child> {
    use rustix::io::{FdFlags, fcntl_setfd};
    use std::os::fd::AsRawFd;
    let _guard = SPAWN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    cmd.env(REGION_FD_ENV, region.fd().as_raw_fd().to_string())
        .env(DOORBELL_FD_ENV, bell.fd().as_raw_fd().to_string());
    fcntl_setfd(region.fd(), FdFlags::empty())?;
    fcntl_setfd(bell.fd(), FdFlags::empty())?;
    let child = cmd.spawn();
    fcntl_setfd(region.fd(), FdFlags::CLOEXEC)?;
    fcntl_setfd(bell.fd(), FdFlags::CLOEXEC)?;
    child
}

/// Set once the fds of the environment were taken (so no two owners).
static TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The Worker's side of [`spawn_worker`]: maps and checks the inherited
/// region and takes the doorbell. Works once per process.
pub fn worker_fds_from_env() -> Result<(Region, crate::EventFd), RegionError> {
    use std::os::fd::{FromRawFd, RawFd};
    let fd_of = |name: &'static str| -> Result<RawFd, RegionError> {
        let v = std::env::var(name).map_err(|_| {
            RegionError::Corrupt(format!("{name} is not set: not started as a Worker"))
        })?;
        let fd: RawFd = v
            .parse()
            .map_err(|_| RegionError::Corrupt(format!("{name}={v:?} is not an fd number")))?;
        // Checks the fd is open before anything claims it.
        let flags = std::fs::metadata(format!("/proc/self/fd/{fd}"));
        if fd < 3 || flags.is_err() {
            return Err(RegionError::Corrupt(format!(
                "{name}={fd} is not an open fd"
            )));
        }
        Ok(fd)
    };
    let region_fd = fd_of(REGION_FD_ENV)?;
    let bell_fd = fd_of(DOORBELL_FD_ENV)?;
    if region_fd == bell_fd {
        return Err(RegionError::Corrupt(
            "region and doorbell fds are the same".into(),
        ));
    }
    if TAKEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Err(RegionError::Corrupt(
            "the inherited ring fds were taken already".into(),
        ));
    }
    // SAFETY: both numbers name fds open in this process (checked above),
    // inherited from the Master for this purpose; nothing else in the
    // process owns them, and `TAKEN` makes this the only claim.
    let (region_fd, bell_fd) = unsafe {
        (
            OwnedFd::from_raw_fd(region_fd),
            OwnedFd::from_raw_fd(bell_fd),
        )
    };
    for fd in [&region_fd, &bell_fd] {
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC).map_err(io("fcntl"))?;
    }
    Ok((Region::open(region_fd)?, crate::EventFd::from_fd(bell_fd)))
}
