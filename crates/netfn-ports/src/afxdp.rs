//! `afxdp(dev=..., queue=0, mode=native|generic)`: an interface through an
//! AF_XDP socket whose UMEM *is* netfn's frame pool.
//!
//! **Loader: a 6-instruction BPF program assembled here, loaded with the
//! `bpf(2)` system call and attached with `BPF_LINK_CREATE`.** The program
//! is `return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)`: frames
//! of the bound queue go to the socket, everything else (and every frame
//! before the socket is in the map) to the kernel stack. Why not libbpf or
//! libxdp (xsk-rs): they are C libraries that need clang, libelf and zlib at
//! build time, and libbpf 1.x dropped the xsk API; a fresh machine builds
//! this with plain `cargo build`. Why not aya: it has no AF_XDP socket type
//! and writing the program in Rust needs nightly and bpf-linker; our program
//! is too small to need a compiler. Why a BPF link and not netlink
//! (`IFLA_XDP`): the kernel detaches a link's program when its last file
//! descriptor closes, so netfn exiting, crashing or being killed never
//! leaves a program behind, and a restart finds the interface clean; a
//! program some other tool attached is refused (`EBUSY`), not replaced.
//!
//! **Memory.** The pool's region is registered as the UMEM with a chunk
//! per frame and a 64-byte UMEM headroom (the frame's metadata block), so
//! the kernel writes a received frame exactly where a fresh packet's data
//! starts (metadata + `XDP_PACKET_HEADROOM` = the pool's 256-byte
//! headroom). Receiving hands the kernel packets' frames through the fill
//! ring and gets them back, filled, on the RX ring: no copy in netfn.
//! Sending puts a packet's frame on the TX ring and keeps the packet until
//! the completion ring returns it. Copy mode (`XDP_COPY`), since veth has no
//! zero-copy; the kernel copies once per frame. The UMEM needs the pool, so
//! the socket is bound on the first call (ports are built before it).
//!
//! Counters: `XDP_STATISTICS` (dropped, ring full, fill ring empty, invalid
//! descriptors), TX ring full, wakeup errors.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use netfn_core::config::{ConfigError, Params};
use netfn_core::pool::META_SIZE;
use netfn_core::{Batch, Packet, Pool, Port, PortCtx, RecvStatus};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::sys::{self, Mmap};

const AF_XDP: libc::c_int = 44;
const XDP_MMAP_OFFSETS: libc::c_int = 1;
const XDP_RX_RING: libc::c_int = 2;
const XDP_TX_RING: libc::c_int = 3;
const XDP_UMEM_REG: libc::c_int = 4;
const XDP_UMEM_FILL_RING: libc::c_int = 5;
const XDP_UMEM_COMPLETION_RING: libc::c_int = 6;
const XDP_STATISTICS: libc::c_int = 7;
const XDP_COPY: u16 = 1 << 1;
const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;
const XDP_RING_NEED_WAKEUP: u32 = 1;
const XDP_PGOFF_RX_RING: u64 = 0;
const XDP_PGOFF_TX_RING: u64 = 0x8000_0000;
const XDP_UMEM_PGOFF_FILL_RING: u64 = 0x1_0000_0000;
const XDP_UMEM_PGOFF_COMPLETION_RING: u64 = 0x1_8000_0000;

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// Descriptors one `sendto` kick transmits in copy mode (the kernel's
/// `TX_BATCH_SIZE`).
const TX_KICK_BUDGET: u32 = 32;
/// Kicks per `send` call at most.
const MAX_KICKS: u32 = 8;
/// Entries of the socket map (queue ids served).
const XSKMAP_ENTRIES: u32 = 64;

/// `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct BpfInsn {
    code: u8,
    /// dst_reg (low nibble) and src_reg (high nibble).
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// `bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)`.
fn redirect_program(map_fd: RawFd) -> [BpfInsn; 6] {
    [
        // r2 = *(u32 *)(r1 + offsetof(struct xdp_md, rx_queue_index))
        insn(0x61, 2, 1, 16, 0),
        // r1 = &xsks (ld_imm64 with BPF_PSEUDO_MAP_FD; two slots)
        insn(0x18, 1, 1, 0, map_fd),
        insn(0, 0, 0, 0, 0),
        // r3 = XDP_PASS (the action when the map has no socket for the queue)
        insn(0xb7, 3, 0, 0, 2),
        // call bpf_redirect_map
        insn(0x85, 0, 0, 0, 51),
        insn(0x95, 0, 0, 0, 0), // exit
    ]
}

/// `bpf(2)` with an attribute block (zero-padded, as the kernel requires).
fn bpf(cmd: libc::c_long, attr: &mut [u8; 128]) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a 128-byte buffer, at least as large as every
    // command's `union bpf_attr` member used here; pointers inside it point
    // to buffers the caller keeps alive across the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len() as u32) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn put(attr: &mut [u8; 128], at: usize, bytes: &[u8]) {
    attr[at..at + bytes.len()].copy_from_slice(bytes);
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: `fd` was just returned by bpf(2) as a new descriptor we own.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// The socket map, the program and the link that attaches it.
#[derive(Debug)]
struct XdpProgram {
    map: OwnedFd,
    _prog: OwnedFd,
    /// Closing it detaches the program.
    _link: OwnedFd,
}

impl XdpProgram {
    fn attach(ifindex: u32, native: bool) -> io::Result<XdpProgram> {
        let mut attr = [0u8; 128];
        put(&mut attr, 0, &BPF_MAP_TYPE_XSKMAP.to_ne_bytes());
        put(&mut attr, 4, &4u32.to_ne_bytes());
        put(&mut attr, 8, &4u32.to_ne_bytes());
        put(&mut attr, 12, &XSKMAP_ENTRIES.to_ne_bytes());
        let map = owned(bpf(BPF_MAP_CREATE, &mut attr)?);

        let prog = redirect_program(map.as_raw_fd());
        let license = b"GPL\0";
        let mut log = vec![0u8; 4096];
        let mut attr = [0u8; 128];
        put(&mut attr, 0, &BPF_PROG_TYPE_XDP.to_ne_bytes());
        put(&mut attr, 4, &(prog.len() as u32).to_ne_bytes());
        put(&mut attr, 8, &(prog.as_ptr() as u64).to_ne_bytes());
        put(&mut attr, 16, &(license.as_ptr() as u64).to_ne_bytes());
        put(&mut attr, 24, &1u32.to_ne_bytes()); // log_level
        put(&mut attr, 28, &(log.len() as u32).to_ne_bytes());
        put(&mut attr, 32, &(log.as_mut_ptr() as u64).to_ne_bytes());
        put(&mut attr, 48, b"netfn_xsk\0");
        put(&mut attr, 68, &BPF_XDP.to_ne_bytes()); // expected_attach_type
        let prog_fd = bpf(BPF_PROG_LOAD, &mut attr).map_err(|e| {
            let end = log.iter().position(|&b| b == 0).unwrap_or(0);
            io::Error::new(
                e.kind(),
                format!(
                    "loading the XDP program: {e} {}",
                    String::from_utf8_lossy(&log[..end])
                ),
            )
        })?;
        let prog_fd = owned(prog_fd);

        let mut attr = [0u8; 128];
        put(&mut attr, 0, &(prog_fd.as_raw_fd() as u32).to_ne_bytes());
        put(&mut attr, 4, &ifindex.to_ne_bytes());
        put(&mut attr, 8, &BPF_XDP.to_ne_bytes());
        let flags = if native {
            XDP_FLAGS_DRV_MODE
        } else {
            XDP_FLAGS_SKB_MODE
        };
        put(&mut attr, 12, &flags.to_ne_bytes());
        let link = owned(bpf(BPF_LINK_CREATE, &mut attr).map_err(|e| {
            let hint = if e.raw_os_error() == Some(libc::EBUSY) {
                " (another XDP program is attached: `ip link set DEV xdp off` removes it)"
            } else if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
                " (the driver has no native XDP: try mode = generic)"
            } else {
                ""
            };
            io::Error::new(e.kind(), format!("attaching the XDP program: {e}{hint}"))
        })?);
        Ok(XdpProgram {
            map,
            _prog: prog_fd,
            _link: link,
        })
    }

    /// Points queue `queue` at socket `fd`.
    fn insert(&self, queue: u32, fd: RawFd) -> io::Result<()> {
        let key = queue;
        let value = fd as u32;
        let mut attr = [0u8; 128];
        put(&mut attr, 0, &(self.map.as_raw_fd() as u32).to_ne_bytes());
        put(&mut attr, 8, &(&key as *const u32 as u64).to_ne_bytes());
        put(&mut attr, 16, &(&value as *const u32 as u64).to_ne_bytes());
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
    }
}

/// `struct xdp_umem_reg` (v1 layout, accepted by every kernel with AF_XDP).
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct UmemReg {
    addr: u64,
    len: u64,
    chunk_size: u32,
    headroom: u32,
}

/// `struct xdp_ring_offset`.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct RingOffset {
    producer: u64,
    consumer: u64,
    desc: u64,
    flags: u64,
}

/// `struct xdp_mmap_offsets`.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct MmapOffsets {
    rx: RingOffset,
    tx: RingOffset,
    fill: RingOffset,
    completion: RingOffset,
}

/// `struct sockaddr_xdp`.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct SockaddrXdp {
    family: u16,
    flags: u16,
    ifindex: u32,
    queue_id: u32,
    shared_umem_fd: u32,
}

/// `struct xdp_desc`.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct XdpDesc {
    addr: u64,
    len: u32,
    options: u32,
}

/// `struct xdp_statistics`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct XdpStatistics {
    rx_dropped: u64,
    rx_invalid_descs: u64,
    tx_invalid_descs: u64,
    rx_ring_full: u64,
    rx_fill_ring_empty_descs: u64,
    tx_ring_empty_descs: u64,
}

/// One mmap'd AF_XDP ring of `T` entries (`u64` addresses or descriptors).
#[derive(Debug)]
struct Ring<T> {
    map: Mmap,
    off: RingOffset,
    size: u32,
    _entry: std::marker::PhantomData<T>,
}

impl<T: Copy> Ring<T> {
    fn map(fd: &OwnedFd, off: RingOffset, size: u32, pgoff: u64) -> io::Result<Ring<T>> {
        let len = off.desc as usize + size as usize * std::mem::size_of::<T>();
        Ok(Ring {
            map: Mmap::shared_at(fd, len, pgoff)?,
            off,
            size,
            _entry: std::marker::PhantomData,
        })
    }

    fn word(&self, at: u64) -> &AtomicU32 {
        // SAFETY: the kernel's offsets point at 4-byte aligned u32 words
        // inside the mapping, which lives as long as `self`; the kernel
        // updates them with acquire/release atomics, so we access them
        // atomically too.
        unsafe { AtomicU32::from_ptr(self.map.as_ptr().add(at as usize).cast()) }
    }

    fn producer(&self) -> &AtomicU32 {
        self.word(self.off.producer)
    }

    fn consumer(&self) -> &AtomicU32 {
        self.word(self.off.consumer)
    }

    fn needs_wakeup(&self) -> bool {
        self.word(self.off.flags).load(Ordering::Relaxed) & XDP_RING_NEED_WAKEUP != 0
    }

    fn slot(&self, index: u32) -> *mut T {
        let i = (index & (self.size - 1)) as usize;
        // SAFETY: i < size, and the mapping holds `size` entries from `desc`.
        unsafe {
            self.map
                .as_ptr()
                .add(self.off.desc as usize)
                .cast::<T>()
                .add(i)
        }
    }

    /// Entries the kernel produced and we have not consumed: (start, count).
    fn readable(&self) -> (u32, u32) {
        let cons = self.consumer().load(Ordering::Relaxed);
        let prod = self.producer().load(Ordering::Acquire);
        (cons, prod.wrapping_sub(cons))
    }

    fn read(&self, index: u32) -> T {
        // SAFETY: `index` is within the produced range (see `readable`),
        // which the kernel does not touch until we advance the consumer.
        unsafe { self.slot(index).read() }
    }

    fn release(&self, count: u32) {
        let cons = self.consumer().load(Ordering::Relaxed);
        self.consumer()
            .store(cons.wrapping_add(count), Ordering::Release);
    }

    /// Free slots we may produce into: (start, count).
    fn writable(&self) -> (u32, u32) {
        let prod = self.producer().load(Ordering::Relaxed);
        let cons = self.consumer().load(Ordering::Acquire);
        (prod, self.size - prod.wrapping_sub(cons))
    }

    fn write(&self, index: u32, value: T) {
        // SAFETY: `index` is within the free range (see `writable`), which
        // the kernel does not read until we advance the producer.
        unsafe { self.slot(index).write(value) }
    }

    fn submit(&self, count: u32) {
        let prod = self.producer().load(Ordering::Relaxed);
        self.producer()
            .store(prod.wrapping_add(count), Ordering::Release);
    }
}

/// How to open an interface queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfXdpConfig {
    pub dev: String,
    pub queue: u32,
    /// Native (driver) XDP rather than generic (skb) XDP.
    pub native: bool,
    /// Entries of each ring (power of two).
    pub ring: u32,
}

/// The bound socket and its rings.
#[derive(Debug)]
struct Xsk {
    // Field order: the socket closes (and releases the UMEM) before the
    // packets whose frames it used go back to the pool.
    fd: OwnedFd,
    rx: Ring<XdpDesc>,
    tx: Ring<XdpDesc>,
    fill: Ring<u64>,
    completion: Ring<u64>,
    chunk: u64,
    /// Packets whose frames the kernel holds (fill ring or TX), by chunk.
    held: Vec<Option<Packet>>,
    in_fill: u32,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    tx_ring_full: u64,
    /// `sendto` kicks of the TX ring.
    kicks: u64,
    wakeup_errors: u64,
    /// RX descriptors that named no frame we had given (a bug if ever seen).
    unknown_frames: u64,
    /// Packets from another pool, which this UMEM cannot send.
    foreign: u64,
}

/// An AF_XDP port on one interface queue.
pub struct AfXdp {
    config: AfXdpConfig,
    ifindex: u32,
    program: XdpProgram,
    xsk: Option<Xsk>,
    failed: bool,
    counts: Counts,
    stats: Cell<XdpStatistics>,
}

impl std::fmt::Debug for AfXdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfXdp")
            .field("dev", &self.config.dev)
            .field("queue", &self.config.queue)
            .finish()
    }
}

impl AfXdp {
    /// Attaches the redirect program; the socket is bound on first use.
    pub fn open(config: AfXdpConfig) -> Result<AfXdp, ConfigError> {
        let dev = config.dev.clone();
        let ifindex = sys::ifindex(&dev).map_err(|_| {
            ConfigError::param(
                "dev",
                format!("no interface `{dev}` in this network namespace (`ip link` lists them)"),
            )
        })?;
        if config.queue >= XSKMAP_ENTRIES {
            return Err(ConfigError::param(
                "queue",
                format!("queue {} is above {}", config.queue, XSKMAP_ENTRIES - 1),
            ));
        }
        let program = XdpProgram::attach(ifindex, config.native).map_err(|e| {
            let hint = if e.raw_os_error() == Some(libc::EPERM) {
                "; needs CAP_NET_ADMIN and CAP_BPF (run as root)"
            } else {
                ""
            };
            ConfigError::param("dev", format!("{dev}: {e}{hint}"))
        })?;
        Ok(AfXdp {
            config,
            ifindex,
            program,
            xsk: None,
            failed: false,
            counts: Counts::default(),
            stats: Cell::new(XdpStatistics::default()),
        })
    }

    pub fn from_params(p: &Params) -> Result<AfXdp, ConfigError> {
        let dev = p.str("dev")?.to_string();
        if sys::IfReqFlags::named(&dev).is_none() {
            return Err(ConfigError::param(
                "dev",
                format!("`{dev}` is not an interface name"),
            ));
        }
        let ring = p.int("ring")? as u32;
        if !ring.is_power_of_two() {
            return Err(ConfigError::param(
                "ring",
                format!("{ring}: expected a power of two"),
            ));
        }
        AfXdp::open(AfXdpConfig {
            dev,
            queue: p.int("queue")? as u32,
            native: p.str("mode")? == "native",
            ring,
        })
    }

    /// Registers the pool as UMEM, maps the rings, binds, joins the map.
    fn bind(&self, pool: &Pool) -> io::Result<Xsk> {
        let fd = sys::socket(AF_XDP, libc::SOCK_RAW, 0)?;
        let (base, len) = pool.region();
        let chunk = pool.frame_size() as u64;
        let reg = UmemReg {
            addr: base as u64,
            len: len as u64,
            chunk_size: chunk as u32,
            headroom: META_SIZE as u32,
        };
        sys::setsockopt(&fd, libc::SOL_XDP, XDP_UMEM_REG, &reg)?;
        let n = self.config.ring;
        for opt in [
            XDP_UMEM_FILL_RING,
            XDP_UMEM_COMPLETION_RING,
            XDP_RX_RING,
            XDP_TX_RING,
        ] {
            sys::setsockopt(&fd, libc::SOL_XDP, opt, &n)?;
        }
        let off: MmapOffsets = sys::getsockopt(&fd, libc::SOL_XDP, XDP_MMAP_OFFSETS)?;
        let rx = Ring::map(&fd, off.rx, n, XDP_PGOFF_RX_RING)?;
        let tx = Ring::map(&fd, off.tx, n, XDP_PGOFF_TX_RING)?;
        let fill = Ring::map(&fd, off.fill, n, XDP_UMEM_PGOFF_FILL_RING)?;
        let completion = Ring::map(&fd, off.completion, n, XDP_UMEM_PGOFF_COMPLETION_RING)?;
        let addr = SockaddrXdp {
            family: AF_XDP as u16,
            flags: XDP_COPY | XDP_USE_NEED_WAKEUP,
            ifindex: self.ifindex,
            queue_id: self.config.queue,
            shared_umem_fd: 0,
        };
        let bytes = addr.as_bytes();
        // SAFETY: `bytes` is a complete `sockaddr_xdp`, valid for the call.
        sys::cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len() as libc::socklen_t,
            )
        })?;
        self.program.insert(self.config.queue, fd.as_raw_fd())?;
        let frames = len / chunk as usize;
        Ok(Xsk {
            fd,
            rx,
            tx,
            fill,
            completion,
            chunk,
            held: (0..frames).map(|_| None).collect(),
            in_fill: 0,
        })
    }

    /// The socket, bound on first use; `None` if binding failed (reported).
    fn xsk(&mut self, pool: &Pool) -> Option<&mut Xsk> {
        if self.xsk.is_none() && !self.failed {
            match self.bind(pool) {
                Ok(x) => self.xsk = Some(x),
                Err(e) => {
                    self.failed = true;
                    let dev = &self.config.dev;
                    eprintln!(
                        "netfn: afxdp(dev={dev}): cannot bind an AF_XDP socket to queue {}: {e}; this port stops",
                        self.config.queue
                    );
                }
            }
        }
        self.xsk.as_mut()
    }
}

impl Xsk {
    fn kick(&self, counts: &mut Counts) {
        // SAFETY: a zero-length send with no buffer, only to make the kernel
        // process the TX ring.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if !matches!(
                e.raw_os_error(),
                Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENOBUFS) | Some(libc::EINTR)
            ) {
                counts.wakeup_errors += 1;
            }
        }
    }

    /// Descriptors on the TX ring the kernel has not taken yet.
    fn tx_pending(&self) -> u32 {
        let (_, free) = self.tx.writable();
        self.tx.size - free
    }

    fn chunk_of(&self, addr: u64) -> usize {
        (addr / self.chunk) as usize
    }

    /// Frames the kernel finished sending go back to the pool.
    fn reclaim(&mut self) {
        let (start, n) = self.completion.readable();
        for i in 0..n {
            let addr = self.completion.read(start.wrapping_add(i));
            let c = self.chunk_of(addr);
            if let Some(slot) = self.held.get_mut(c) {
                *slot = None;
            }
        }
        self.completion.release(n);
    }

    /// Tops up the fill ring with fresh frames from the pool.
    fn refill(&mut self, pool: &Pool) {
        let (start, free) = self.fill.writable();
        // Keep some frames for everything else the graph does.
        let room = free.min((pool.available() / 2) as u32);
        let mut n = 0;
        while n < room {
            let Some(pkt) = pool.alloc() else { break };
            let Some(off) = pool.region_offset(&pkt) else {
                break;
            };
            let c = self.chunk_of(off as u64);
            // The kernel places data after the UMEM headroom by itself.
            self.fill
                .write(start.wrapping_add(n), c as u64 * self.chunk);
            self.held[c] = Some(pkt);
            n += 1;
        }
        if n > 0 {
            self.fill.submit(n);
            self.in_fill += n;
        }
    }
}

impl Port for AfXdp {
    fn recv(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> RecvStatus {
        let pool = ctx.pool;
        let port_id = ctx.port_id;
        let now = ctx.now;
        let mut counts = self.counts;
        let Some(xsk) = self.xsk(pool) else {
            return RecvStatus::Exhausted;
        };
        xsk.reclaim();
        let (start, avail) = xsk.rx.readable();
        let take = avail.min(batch.remaining() as u32);
        for i in 0..take {
            let d = xsk.rx.read(start.wrapping_add(i));
            let c = xsk.chunk_of(d.addr);
            let Some(mut pkt) = xsk.held.get_mut(c).and_then(Option::take) else {
                counts.unknown_frames += 1;
                continue;
            };
            xsk.in_fill -= 1;
            // Move the packet's window onto the bytes the kernel wrote.
            let head = (d.addr % xsk.chunk) as usize - META_SIZE;
            let cur = pkt.headroom();
            let len = d.len as usize;
            let ok = if head >= cur {
                pkt.set_len(head - cur + len).is_ok() && pkt.pull_front(head - cur).is_ok()
            } else {
                pkt.push_front(cur - head).is_ok() && pkt.set_len(len).is_ok()
            };
            if !ok {
                continue;
            }
            pkt.set_input_port(port_id);
            pkt.set_timestamp(now);
            ctx.bytes += len as u64;
            let _ = batch.push(pkt);
        }
        xsk.rx.release(take);
        xsk.refill(pool);
        if xsk.fill.needs_wakeup() {
            // SAFETY: a zero-length receive with no buffer, only to make the
            // kernel look at the fill ring again.
            unsafe {
                libc::recvfrom(
                    xsk.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
        }
        self.counts = counts;
        RecvStatus::Ready
    }

    fn send(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) {
        let pool = ctx.pool;
        let mut counts = self.counts;
        let Some(xsk) = self.xsk(pool) else {
            return;
        };
        xsk.reclaim();
        let (start, free) = xsk.tx.writable();
        let n = (batch.len() as u32).min(free);
        if (n as usize) < batch.len() {
            counts.tx_ring_full += 1;
        }
        let mut queued = 0u32;
        for pkt in batch.drain_first(n as usize) {
            let Some(off) = pool.region_offset(&pkt) else {
                counts.foreign += 1;
                continue;
            };
            let c = xsk.chunk_of(off as u64);
            xsk.tx.write(
                start.wrapping_add(queued),
                XdpDesc {
                    addr: off as u64,
                    len: pkt.len() as u32,
                    options: 0,
                },
            );
            ctx.bytes += pkt.len() as u64;
            xsk.held[c] = Some(pkt);
            queued += 1;
        }
        if queued > 0 {
            xsk.tx.submit(queued);
        }
        // In copy mode one kick sends at most TX_KICK_BUDGET descriptors
        // (the kernel's TX batch) and answers EAGAIN for the rest, so kick
        // until the ring is empty, a bounded number of times (the rest goes
        // out with the next batch's kick). Nothing queued, nothing pending:
        // no system call, even though copy mode always asks for wakeups.
        let pending = xsk.tx_pending();
        if pending > 0 && (queued > 0 || xsk.tx.needs_wakeup()) {
            for _ in 0..pending.div_ceil(TX_KICK_BUDGET).min(MAX_KICKS) {
                xsk.kick(&mut counts);
                counts.kicks += 1;
                if xsk.tx_pending() == 0 {
                    break;
                }
            }
        }
        self.counts = counts;
    }

    fn counts_bytes(&self) -> bool {
        true
    }

    fn wait_fd(&self) -> Option<RawFd> {
        self.xsk.as_ref().map(|x| x.fd.as_raw_fd())
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        if let Some(x) = &self.xsk
            && let Ok(s) = sys::getsockopt::<XdpStatistics>(&x.fd, libc::SOL_XDP, XDP_STATISTICS)
        {
            self.stats.set(s);
        }
        let s = self.stats.get();
        report("xdp_rx_dropped", s.rx_dropped);
        report("xdp_rx_ring_full", s.rx_ring_full);
        report("xdp_fill_ring_empty", s.rx_fill_ring_empty_descs);
        report("xdp_rx_invalid", s.rx_invalid_descs);
        report("xdp_tx_invalid", s.tx_invalid_descs);
        let c = &self.counts;
        report("tx_ring_full", c.tx_ring_full);
        report("wakeup_errors", c.wakeup_errors);
        report("tx_kicks", c.kicks);
        report("unknown_frames", c.unknown_frames);
        report("foreign_packets", c.foreign);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_encoding() {
        let p = redirect_program(7);
        let bytes = p.as_bytes();
        assert_eq!(bytes.len(), 48);
        // ldx r2 = *(u32 *)(r1 + 16)
        assert_eq!(&bytes[..8], &[0x61, 0x12, 16, 0, 0, 0, 0, 0]);
        // ld_imm64 r1, map fd 7 (src_reg = BPF_PSEUDO_MAP_FD)
        assert_eq!(&bytes[8..16], &[0x18, 0x11, 0, 0, 7, 0, 0, 0]);
        assert_eq!(&bytes[32..40], &[0x85, 0, 0, 0, 51, 0, 0, 0]);
    }
}
