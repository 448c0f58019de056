//! `afpacket(dev=...)`: a Linux network interface through an `AF_PACKET`
//! socket.
//!
//! * **Receive**: a `PACKET_RX_RING`, mmap'd once, in one of two layouts.
//!   `ring = frames` (the default): TPACKET_V2, `frames` slots of 2 KiB,
//!   each handed over (`TP_STATUS_USER`) as soon as the kernel wrote it, so
//!   a lone packet waits for nothing (a ping through netfn costs tens of
//!   microseconds, not a block timeout), and the ring is only as deep as
//!   `frames` (1024 by default: ~4 ms at 250 kpps, not the 100k frames of
//!   a 16 MiB block ring, so overload drops instead of queueing).
//!   `ring = blocks`: TPACKET_V3, `blocks` blocks of `block_size` bytes;
//!   the kernel packs frames into a block and hands it over when it is full
//!   or after `block_timeout` (at least 1 ms: what a packet may wait at low
//!   rates); frames up to a block long. Either way we copy each frame once,
//!   straight from the ring into a pool frame, and give the slot back. A
//!   burst may stop inside a block (the batch or the pool is full): the
//!   position is kept and the next call resumes there. Frames the host itself sends on the interface
//!   are not received (`PACKET_IGNORE_OUTGOING`, and `PACKET_OUTGOING` is
//!   skipped as a fallback), so a bridge never loops the host's own traffic.
//!   A VLAN tag the kernel stripped into the ring header
//!   (`TP_STATUS_VLAN_VALID`) is put back into the frame, as libpcap does.
//!   A frame whose TCP/UDP checksum was left to offload by a local sender
//!   (`TP_STATUS_CSUMNOTREADY`) gets its checksum completed, since the next
//!   hop checks it for real.
//! * **Transmit**: `sendmmsg` of the batch, one `iovec` per packet pointing
//!   into the pool frame (no intermediate copy; the kernel copies once), the
//!   variant measured lossless at 1.5 Mpps here (see
//!   `shared/reference/io-limits-here.md`). `EAGAIN`/`ENOBUFS` leave the
//!   rest of the batch to the runtime, which counts them as `tx-full`
//!   drops; the errno is counted too.
//! * `fanout = N` joins `PACKET_FANOUT` group N in hash mode, so several
//!   sockets (cores) share an interface flow by flow; `promisc` sets
//!   promiscuous mode for the socket's lifetime (`PACKET_MR_PROMISC`);
//!   `qdisc_bypass` sends straight to the driver (`PACKET_QDISC_BYPASS`).
//! * Counters: ring and kernel drops from `PACKET_STATISTICS` (accumulated:
//!   reading resets them), truncated and oversize frames, errno counts. An
//!   interface that goes down is reported once on stderr (and again when it
//!   comes back); one that disappears ends this source with a message.
//! * While idle the runtime sleeps in `poll()` on the socket
//!   ([`Port::wait_fd`]), which wakes when the kernel hands over a frame
//!   (V2) or a block (V3).
//!
//! The ring layout structs are `zerocopy` views read out of the ring; the
//! `unsafe` of this module is the ring memory and the `sendmmsg` call.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{Ordering, fence};

use netfn_core::config::{ConfigError, Params};
use netfn_core::{Batch, Packet, Port, PortCtx, RecvStatus};
use netfn_wire::{
    EtherType, EthernetFrame, IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket,
};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::sys::{self, Mmap};

const TPACKET_V2: libc::c_int = 1;
const TPACKET_V3: libc::c_int = 2;
/// `TPACKET_ALIGN(sizeof(struct tpacket3_hdr))`: where the `sockaddr_ll`
/// follows a frame's header in the ring.
const SLL_OFFSET: usize = 48;
/// `TPACKET_ALIGN(sizeof(struct tpacket2_hdr))`: the same for TPACKET_V2.
const SLL_OFFSET_V2: usize = 32;
/// Bytes per TPACKET_V2 slot: header, `sockaddr_ll` and a 1500-byte MTU
/// frame (plus a VLAN tag) fit; larger frames need `ring = blocks`.
const V2_FRAME_SIZE: u32 = 2048;
/// Bytes per TPACKET_V2 ring block (the kernel allocates the ring in
/// blocks; slots never straddle one).
const V2_BLOCK_SIZE: u32 = 1 << 16;
/// Offset of `sll_pkttype` in `struct sockaddr_ll`.
const SLL_PKTTYPE: usize = 10;
/// Offset of `hdr.bh1.block_status` in `struct tpacket_block_desc`.
const BLOCK_STATUS: usize = 8;
/// How often an idle socket is checked for a pending error (link down).
const LINK_CHECK_NS: u64 = 100_000_000;

/// `struct tpacket_req3` (`PACKET_RX_RING` with TPACKET_V3).
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

/// `struct tpacket_block_desc` with its `tpacket_hdr_v1` (the V3 block
/// header at the start of every block).
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable)]
struct BlockDesc {
    version: u32,
    offset_to_priv: u32,
    block_status: u32,
    num_pkts: u32,
    offset_to_first_pkt: u32,
    blk_len: u32,
    seq_num: u64,
    ts_first_pkt: [u32; 2],
    ts_last_pkt: [u32; 2],
}

/// `struct tpacket3_hdr` (with `tpacket_hdr_variant1`): one frame's header
/// inside a block.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable)]
struct Tpacket3Hdr {
    next_offset: u32,
    sec: u32,
    nsec: u32,
    snaplen: u32,
    len: u32,
    status: u32,
    mac: u16,
    net: u16,
    rxhash: u32,
    vlan_tci: u32,
    vlan_tpid: u16,
    padding: u16,
    padding2: [u8; 8],
}

/// `struct tpacket_req` (`PACKET_RX_RING` with TPACKET_V2).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct TpacketReq {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
}

/// `struct tpacket2_hdr`: the header at the start of a TPACKET_V2 slot.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable)]
struct Tpacket2Hdr {
    status: u32,
    len: u32,
    snaplen: u32,
    mac: u16,
    net: u16,
    sec: u32,
    nsec: u32,
    vlan_tci: u16,
    vlan_tpid: u16,
    padding: [u8; 4],
}

const _: () = assert!(std::mem::size_of::<BlockDesc>() == 48);
const _: () = assert!(std::mem::size_of::<Tpacket3Hdr>() == SLL_OFFSET);
const _: () = assert!(std::mem::size_of::<Tpacket2Hdr>() == SLL_OFFSET_V2);

/// What the copy out of the ring needs of a frame's header (V2 or V3).
#[derive(Debug, Clone, Copy)]
struct FrameInfo {
    status: u32,
    len: u32,
    snaplen: u32,
    /// Offset of the frame's first byte from the header.
    mac: usize,
    vlan_tci: u16,
    vlan_tpid: u16,
    /// `sll_pkttype`, if the slot holds it.
    pkttype: Option<u8>,
}

/// `struct sockaddr_ll`.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct SockaddrLl {
    family: u16,
    protocol: u16,
    ifindex: i32,
    hatype: u16,
    pkttype: u8,
    halen: u8,
    addr: [u8; 8],
}

/// `struct packet_mreq`.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct PacketMreq {
    ifindex: i32,
    kind: u16,
    alen: u16,
    address: [u8; 8],
}

/// `struct tpacket_stats_v3`.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

/// The receive ring's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingKind {
    /// TPACKET_V2: fixed 2 KiB slots, each handed over as soon as it is
    /// written (low latency, MTU-sized frames).
    Frames,
    /// TPACKET_V3: variable-length frames packed into blocks, handed over
    /// when full or after `block_timeout` (frames up to a block long).
    Blocks,
}

/// How to open an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfPacketConfig {
    pub dev: String,
    /// `PACKET_FANOUT` group (hash mode), if any.
    pub fanout: Option<u16>,
    pub promisc: bool,
    pub ring: RingKind,
    /// Slots of a `RingKind::Frames` ring.
    pub frames: u32,
    pub blocks: u32,
    pub block_size: u32,
    /// Milliseconds after which the kernel hands over a partly filled block.
    pub block_timeout_ms: u32,
    pub qdisc_bypass: bool,
}

impl AfPacketConfig {
    pub fn new(dev: &str) -> Self {
        AfPacketConfig {
            dev: dev.to_string(),
            fanout: None,
            promisc: true,
            ring: RingKind::Frames,
            frames: 1024,
            blocks: 64,
            block_size: 1 << 18,
            block_timeout_ms: 1,
            qdisc_bypass: false,
        }
    }

    pub fn from_params(p: &Params) -> Result<Self, ConfigError> {
        let mut c = AfPacketConfig::new(p.str("dev")?);
        if sys::IfReqFlags::named(&c.dev).is_none() {
            return Err(ConfigError::param(
                "dev",
                format!(
                    "`{}` is not an interface name (1 to 15 characters, no `/` or spaces)",
                    c.dev
                ),
            ));
        }
        c.fanout = match p.int("fanout")? {
            0 => None,
            g => Some(g as u16),
        };
        c.promisc = p.bool("promisc")?;
        c.ring = match p.str("ring")? {
            "blocks" => RingKind::Blocks,
            _ => RingKind::Frames,
        };
        c.frames = p.int("frames")? as u32;
        c.blocks = p.int("blocks")? as u32;
        let size = p.size("block_size")?;
        if !size.is_power_of_two() || !(4096..=(1 << 24)).contains(&size) {
            return Err(ConfigError::param(
                "block_size",
                format!("{size} bytes: expected a power of two from 4KiB to 16MiB"),
            ));
        }
        c.block_size = size as u32;
        let tov = p.duration("block_timeout")?.as_millis();
        c.block_timeout_ms = tov.clamp(1, 1000) as u32;
        c.qdisc_bypass = p.bool("qdisc_bypass")?;
        Ok(c)
    }

    /// The `PACKET_RX_RING` request of a `RingKind::Frames` ring: `frames`
    /// rounded up to whole blocks.
    fn v2_request(&self) -> TpacketReq {
        let per_block = V2_BLOCK_SIZE / V2_FRAME_SIZE;
        let blocks = self.frames.max(1).div_ceil(per_block);
        TpacketReq {
            block_size: V2_BLOCK_SIZE,
            block_nr: blocks,
            frame_size: V2_FRAME_SIZE,
            frame_nr: blocks * per_block,
        }
    }

    /// The `PACKET_RX_RING` request of a `RingKind::Blocks` ring.
    fn v3_request(&self) -> TpacketReq3 {
        let frame_size = 2048u32;
        TpacketReq3 {
            block_size: self.block_size,
            block_nr: self.blocks,
            frame_size,
            frame_nr: self.block_size / frame_size * self.blocks,
            retire_blk_tov: self.block_timeout_ms,
            sizeof_priv: 0,
            feature_req_word: 0,
        }
    }

    /// Bytes of the ring mapping.
    fn ring_len(&self) -> usize {
        match self.ring {
            RingKind::Frames => {
                let r = self.v2_request();
                r.block_size as usize * r.block_nr as usize
            }
            RingKind::Blocks => self.block_size as usize * self.blocks as usize,
        }
    }
}

/// Counts specific to this backend (beside the runtime's packet counters).
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Frames longer than the ring slot captured (`snaplen < len`), dropped.
    truncated: u64,
    /// Frames longer than a pool frame holds, dropped.
    oversize: u64,
    /// Host-sent frames skipped (only where `PACKET_IGNORE_OUTGOING` is missing).
    outgoing: u64,
    /// Frames whose VLAN tag was put back.
    vlan_restored: u64,
    /// Frames whose TCP/UDP checksum was completed.
    csum_completed: u64,
    /// Times the pool had no free frame (the frame waits in the ring).
    pool_empty: u64,
    tx_eagain: u64,
    tx_enobufs: u64,
    tx_errors: u64,
    /// Link-down / interface-gone events seen.
    link_errors: u64,
}

/// Where the reader stands in the ring.
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    block: u32,
    /// Frames of the current block not yet read (0: block not taken).
    left: u32,
    /// Offset of the next frame's header in the block.
    offset: usize,
}

/// An `AF_PACKET` port on one interface.
pub struct AfPacket {
    config: AfPacketConfig,
    fd: OwnedFd,
    ifindex: u32,
    ring: Mmap,
    /// Slots of a TPACKET_V2 ring (0 for V3).
    slots: u32,
    /// V3: block, frames left and offset; V2: `block` is the next slot.
    cursor: Cursor,
    /// `sendmmsg` headers and their iovecs, preallocated (`MAX_BATCH`).
    msgs: Box<[libc::mmsghdr]>,
    iovs: Box<[libc::iovec]>,
    counts: Counts,
    /// Kernel counters from `PACKET_STATISTICS`, accumulated (reading them
    /// resets them): packets seen, dropped because the ring was full, and
    /// times the queue froze.
    kernel: Cell<(u64, u64, u64)>,
    last_link_check: u64,
    link_down: bool,
    gone: bool,
}

impl std::fmt::Debug for AfPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfPacket")
            .field("dev", &self.config.dev)
            .field("ifindex", &self.ifindex)
            .field("counts", &self.counts)
            .finish()
    }
}

fn open_error(dev: &str, what: &str, e: io::Error) -> ConfigError {
    let hint = match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            "; AF_PACKET needs CAP_NET_RAW (run as root)".to_string()
        }
        Some(libc::ENOMEM) => "; try fewer or smaller blocks".to_string(),
        _ => String::new(),
    };
    ConfigError::param("dev", format!("{dev}: {what}: {e}{hint}"))
}

impl AfPacket {
    /// Opens the socket and its ring, binds it to the interface.
    pub fn open(config: AfPacketConfig) -> Result<AfPacket, ConfigError> {
        let dev = config.dev.clone();
        let ifindex = sys::ifindex(&dev).map_err(|_| {
            ConfigError::param(
                "dev",
                format!("no interface `{dev}` in this network namespace (`ip link` lists them)"),
            )
        })?;
        // Protocol 0: receive nothing until bound, so no frame of another
        // interface slips in before the ring exists.
        let fd = sys::socket(libc::AF_PACKET, libc::SOCK_RAW, 0)
            .map_err(|e| open_error(&dev, "cannot create an AF_PACKET socket", e))?;
        let version = match config.ring {
            RingKind::Frames => TPACKET_V2,
            RingKind::Blocks => TPACKET_V3,
        };
        sys::setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_VERSION, &version)
            .map_err(|e| open_error(&dev, "this TPACKET version is not supported", e))?;
        // Best effort (Linux >= 4.20); PACKET_OUTGOING is skipped anyway.
        let _ = sys::setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &1i32);
        if config.qdisc_bypass {
            sys::setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &1i32)
                .map_err(|e| open_error(&dev, "PACKET_QDISC_BYPASS", e))?;
        }
        match config.ring {
            RingKind::Frames => sys::setsockopt(
                &fd,
                libc::SOL_PACKET,
                libc::PACKET_RX_RING,
                &config.v2_request(),
            ),
            RingKind::Blocks => sys::setsockopt(
                &fd,
                libc::SOL_PACKET,
                libc::PACKET_RX_RING,
                &config.v3_request(),
            ),
        }
        .map_err(|e| open_error(&dev, "cannot set up the receive ring", e))?;
        let len = config.ring_len();
        let ring =
            Mmap::shared(&fd, len).map_err(|e| open_error(&dev, "cannot map the ring", e))?;
        let addr = SockaddrLl {
            family: libc::AF_PACKET as u16,
            protocol: (libc::ETH_P_ALL as u16).to_be(),
            ifindex: ifindex as i32,
            hatype: 0,
            pkttype: 0,
            halen: 0,
            addr: [0; 8],
        };
        let bytes = addr.as_bytes();
        // SAFETY: `bytes` is a complete `sockaddr_ll`, valid for the call.
        sys::cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len() as libc::socklen_t,
            )
        })
        .map_err(|e| open_error(&dev, "cannot bind to the interface", e))?;
        if config.promisc {
            let mreq = PacketMreq {
                ifindex: ifindex as i32,
                kind: libc::PACKET_MR_PROMISC as u16,
                alen: 0,
                address: [0; 8],
            };
            sys::setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
                .map_err(|e| open_error(&dev, "cannot set promiscuous mode", e))?;
        }
        if let Some(group) = config.fanout {
            let arg = i32::from(group) | ((libc::PACKET_FANOUT_HASH as i32) << 16);
            sys::setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg).map_err(|e| {
                open_error(
                    &dev,
                    &format!("cannot join fanout group {group} (is it used with another mode?)"),
                    e,
                )
            })?;
        }
        let max = netfn_core::batch::MAX_BATCH;
        // SAFETY: an all-zero mmsghdr / iovec is valid (null pointers, zero
        // lengths); they are filled in before each sendmmsg.
        let msgs = (0..max)
            .map(|_| unsafe { std::mem::zeroed::<libc::mmsghdr>() })
            .collect();
        // SAFETY: as above.
        let iovs = (0..max)
            .map(|_| unsafe { std::mem::zeroed::<libc::iovec>() })
            .collect();
        let slots = match config.ring {
            RingKind::Frames => config.v2_request().frame_nr,
            RingKind::Blocks => 0,
        };
        Ok(AfPacket {
            config,
            fd,
            ifindex,
            slots,
            ring,
            cursor: Cursor::default(),
            msgs,
            iovs,
            counts: Counts::default(),
            kernel: Cell::new((0, 0, 0)),
            last_link_check: 0,
            link_down: false,
            gone: false,
        })
    }

    pub fn from_params(p: &Params) -> Result<AfPacket, ConfigError> {
        AfPacket::open(AfPacketConfig::from_params(p)?)
    }

    /// The interface this port is bound to.
    pub fn dev(&self) -> &str {
        &self.config.dev
    }

    fn block_ptr(&self, block: u32) -> *mut u8 {
        debug_assert!(block < self.config.blocks);
        // SAFETY: block < blocks, so the offset lies inside the mapping.
        unsafe {
            self.ring
                .as_ptr()
                .add(block as usize * self.config.block_size as usize)
        }
    }

    /// Whether the kernel has handed block `block` to user space.
    fn block_ready(&self, block: u32) -> bool {
        // SAFETY: the status word is 4-byte aligned inside the mapping (blocks
        // are page aligned); the kernel writes it concurrently, so it is read
        // volatile, and the acquire fence orders the block's contents after it.
        let status = unsafe {
            std::ptr::read_volatile(self.block_ptr(block).add(BLOCK_STATUS).cast::<u32>())
        };
        fence(Ordering::Acquire);
        status & libc::TP_STATUS_USER != 0
    }

    /// Returns a block to the kernel.
    fn release_block(&self, block: u32) {
        fence(Ordering::Release);
        // SAFETY: as in `block_ready`; we own the block until this store,
        // after which nothing of it is read until it is ready again.
        unsafe {
            std::ptr::write_volatile(
                self.block_ptr(block).add(BLOCK_STATUS).cast::<u32>(),
                libc::TP_STATUS_KERNEL,
            )
        };
    }

    /// The bytes of a block user space owns.
    fn block(&self, block: u32) -> &[u8] {
        // SAFETY: only called for a block whose status is TP_STATUS_USER:
        // the kernel does not write it until `release_block`, and the
        // returned borrow of `self` ends before that (release needs no
        // borrow of the slice, and every caller drops it first).
        unsafe {
            std::slice::from_raw_parts(self.block_ptr(block), self.config.block_size as usize)
        }
    }

    /// Reads the kernel's counters (which resets them) into the totals.
    fn poll_kernel_stats(&self) {
        if let Ok(s) =
            sys::getsockopt::<TpacketStatsV3>(&self.fd, libc::SOL_PACKET, libc::PACKET_STATISTICS)
        {
            let (p, d, f) = self.kernel.get();
            self.kernel.set((
                p + u64::from(s.packets),
                d + u64::from(s.drops),
                f + u64::from(s.freeze_q_cnt),
            ));
        }
    }

    /// Handles an errno from the socket: link down/gone are reported once.
    fn link_error(&mut self, e: &io::Error) {
        match e.raw_os_error() {
            Some(libc::ENETDOWN) => {
                // A deleted interface reports ENETDOWN first.
                self.check_gone();
                if !self.link_down && !self.gone {
                    self.counts.link_errors += 1;
                    let dev = &self.config.dev;
                    eprintln!(
                        "netfn: afpacket(dev={dev}): interface {dev} is down; waiting for it to come up"
                    );
                }
                self.link_down = true;
            }
            Some(libc::ENXIO) | Some(libc::ENODEV) => self.check_gone(),
            _ => {}
        }
    }

    /// If the interface no longer exists (or was replaced), ends this port.
    fn check_gone(&mut self) {
        if self.gone {
            return;
        }
        if sys::ifindex(&self.config.dev).ok() != Some(self.ifindex) {
            self.gone = true;
            self.counts.link_errors += 1;
            let dev = &self.config.dev;
            eprintln!(
                "netfn: afpacket(dev={dev}): interface {dev} is gone (deleted or moved to another namespace); this port stops"
            );
        }
    }

    /// On an idle ring, now and then: link state changes and a vanished
    /// interface.
    fn check_link(&mut self, now: u64) {
        if now.saturating_sub(self.last_link_check) < LINK_CHECK_NS {
            return;
        }
        self.last_link_check = now;
        self.check_gone();
        if self.gone {
            return;
        }
        if let Some(e) = sys::take_socket_error(&self.fd) {
            self.link_error(&e);
        } else if self.link_down {
            let dev = &self.config.dev;
            if sys::ifindex(dev).is_ok() {
                // The kernel clears the error when the link comes back; a
                // frame arriving also proves it (see `recv`).
                if interface_up(dev) {
                    eprintln!("netfn: afpacket(dev={dev}): interface {dev} is up again");
                    self.link_down = false;
                }
            }
        }
    }

    /// Slot `i` of a TPACKET_V2 ring.
    fn slot_ptr(&self, i: u32) -> *mut u8 {
        debug_assert!(i < self.slots);
        // SAFETY: i < slots, and the mapping holds `slots` slots of
        // V2_FRAME_SIZE back to back (blocks are whole multiples of it).
        unsafe { self.ring.as_ptr().add(i as usize * V2_FRAME_SIZE as usize) }
    }

    /// The status word of V2 slot `i` (acquire: the slot's contents are
    /// ordered after it).
    fn slot_status(&self, i: u32) -> u32 {
        // SAFETY: the status is the slot's first, 4-byte aligned word; the
        // kernel writes it concurrently, so it is read volatile.
        let status = unsafe { std::ptr::read_volatile(self.slot_ptr(i).cast::<u32>()) };
        fence(Ordering::Acquire);
        status
    }

    /// Returns V2 slot `i` to the kernel.
    fn release_slot(&self, i: u32) {
        fence(Ordering::Release);
        // SAFETY: as in `slot_status`; we own the slot until this store.
        unsafe { std::ptr::write_volatile(self.slot_ptr(i).cast::<u32>(), libc::TP_STATUS_KERNEL) };
    }

    /// The bytes of V2 slot `i`, which user space owns.
    fn slot(&self, i: u32) -> &[u8] {
        // SAFETY: only called for a slot whose status is TP_STATUS_USER; the
        // kernel does not write it until `release_slot`, and every caller
        // drops the borrow before that.
        unsafe { std::slice::from_raw_parts(self.slot_ptr(i), V2_FRAME_SIZE as usize) }
    }

    /// Copies one ring frame (header at `offset` of `bytes`, the slot or
    /// block user space owns) into a pool frame. `None`: the pool is empty
    /// (the frame stays in the ring). `Some(None)`: dropped (counted).
    fn take_frame(
        counts: &mut Counts,
        bytes: &[u8],
        offset: usize,
        hdr: FrameInfo,
        ctx: &mut PortCtx<'_>,
    ) -> Option<Option<Packet>> {
        if hdr.pkttype == Some(libc::PACKET_OUTGOING) {
            counts.outgoing += 1;
            return Some(None);
        }
        if hdr.snaplen < hdr.len {
            counts.truncated += 1;
            return Some(None);
        }
        let start = offset + hdr.mac;
        let Some(frame) = bytes.get(start..start + hdr.snaplen as usize) else {
            counts.truncated += 1;
            return Some(None);
        };
        let vlan = hdr.status & libc::TP_STATUS_VLAN_VALID != 0 && frame.len() >= 12;
        let len = frame.len() + if vlan { 4 } else { 0 };
        if len > ctx.pool.max_packet_len() {
            counts.oversize += 1;
            return Some(None);
        }
        let Some(mut pkt) = ctx.pool.alloc() else {
            counts.pool_empty += 1;
            return None;
        };
        if pkt.set_len(len).is_err() {
            counts.oversize += 1;
            return Some(None);
        }
        let data = pkt.data_mut();
        if vlan {
            let tpid = if hdr.status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                hdr.vlan_tpid
            } else {
                0x8100
            };
            data[..12].copy_from_slice(&frame[..12]);
            data[12..14].copy_from_slice(&tpid.to_be_bytes());
            data[14..16].copy_from_slice(&hdr.vlan_tci.to_be_bytes());
            data[16..].copy_from_slice(&frame[12..]);
            counts.vlan_restored += 1;
        } else {
            data.copy_from_slice(frame);
        }
        if hdr.status & libc::TP_STATUS_CSUMNOTREADY != 0 && complete_l4_checksum(data) {
            counts.csum_completed += 1;
        }
        Some(Some(pkt))
    }

    /// Receives from a TPACKET_V2 ring; returns the packets taken.
    fn recv_frames(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> usize {
        let mut got = 0usize;
        let mut counts = self.counts;
        while !batch.is_full() {
            let i = self.cursor.block;
            let status = self.slot_status(i);
            if status & libc::TP_STATUS_USER == 0 {
                break;
            }
            let bytes = self.slot(i);
            let taken = match Tpacket2Hdr::read_from_prefix(bytes) {
                Ok((h, _)) => {
                    let info = FrameInfo {
                        status,
                        len: h.len,
                        snaplen: h.snaplen,
                        mac: h.mac as usize,
                        vlan_tci: h.vlan_tci,
                        vlan_tpid: h.vlan_tpid,
                        pkttype: bytes.get(SLL_OFFSET_V2 + SLL_PKTTYPE).copied(),
                    };
                    Self::take_frame(&mut counts, bytes, 0, info, ctx)
                }
                Err(_) => Some(None),
            };
            match taken {
                None => break, // pool empty: the frame stays for the next call
                Some(Some(mut pkt)) => {
                    pkt.set_input_port(ctx.port_id);
                    pkt.set_timestamp(ctx.now);
                    ctx.bytes += pkt.len() as u64;
                    got += 1;
                    let _ = batch.push(pkt);
                }
                Some(None) => {}
            }
            self.release_slot(i);
            self.cursor.block = if i + 1 == self.slots { 0 } else { i + 1 };
        }
        self.counts = counts;
        got
    }

    /// Receives from a TPACKET_V3 ring; returns the packets taken.
    fn recv_blocks(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> usize {
        let mut got = 0usize;
        let mut counts = self.counts;
        while !batch.is_full() {
            let mut cur = self.cursor;
            if cur.left == 0 {
                if !self.block_ready(cur.block) {
                    break;
                }
                let Ok((desc, _)) = BlockDesc::read_from_prefix(self.block(cur.block)) else {
                    break;
                };
                if desc.num_pkts == 0 {
                    self.release_block(cur.block);
                    self.cursor.block = (cur.block + 1) % self.config.blocks;
                    continue;
                }
                cur.left = desc.num_pkts;
                cur.offset = desc.offset_to_first_pkt as usize;
            }
            let bytes = self.block(cur.block);
            let hdr = Tpacket3Hdr::read_from_prefix(bytes.get(cur.offset..).unwrap_or(&[]));
            let next = hdr.as_ref().map_or(0, |(h, _)| h.next_offset as usize);
            let taken = match hdr {
                Ok((h, _)) => {
                    let info = FrameInfo {
                        status: h.status,
                        len: h.len,
                        snaplen: h.snaplen,
                        mac: h.mac as usize,
                        vlan_tci: h.vlan_tci as u16,
                        vlan_tpid: h.vlan_tpid,
                        pkttype: bytes.get(cur.offset + SLL_OFFSET + SLL_PKTTYPE).copied(),
                    };
                    Self::take_frame(&mut counts, bytes, cur.offset, info, ctx)
                }
                Err(_) => Some(None),
            };
            match taken {
                None => {
                    self.cursor = cur; // pool empty: resume at this frame
                    break;
                }
                Some(Some(mut pkt)) => {
                    pkt.set_input_port(ctx.port_id);
                    pkt.set_timestamp(ctx.now);
                    ctx.bytes += pkt.len() as u64;
                    got += 1;
                    let _ = batch.push(pkt);
                }
                Some(None) => {}
            }
            cur.left -= 1;
            cur.offset += next;
            if cur.left == 0 || next == 0 {
                self.release_block(cur.block);
                cur.left = 0;
                cur.block = (cur.block + 1) % self.config.blocks;
            }
            self.cursor = cur;
        }
        self.counts = counts;
        got
    }
}

/// Whether the interface has `IFF_UP` set.
fn interface_up(dev: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{dev}/operstate"))
        .map(|s| s.trim() != "down")
        .unwrap_or(false)
}

/// Computes a TCP or UDP checksum a local sender left to offload
/// (`CHECKSUM_PARTIAL`: the field holds only the pseudo-header sum).
/// Returns false if the frame is not Ethernet (+ one VLAN tag) / IPv4 or
/// IPv6 (no extension headers) / TCP or UDP.
fn complete_l4_checksum(frame: &mut [u8]) -> bool {
    let Ok(mut eth) = EthernetFrame::new_checked(&mut *frame) else {
        return false;
    };
    let mut ethertype = eth.ethertype();
    let mut l3 = eth.payload_mut();
    if matches!(ethertype, EtherType::Vlan | EtherType::QinQ) {
        if l3.len() < 4 {
            return false;
        }
        ethertype = EtherType::from(u16::from_be_bytes([l3[2], l3[3]]));
        l3 = &mut l3[4..];
    }
    macro_rules! fill {
        ($proto:expr, $l4:expr, $src:expr, $dst:expr) => {
            match $proto {
                IpProtocol::Udp => match UdpPacket::new_checked($l4) {
                    Ok(mut u) => {
                        u.fill_checksum($src, $dst);
                        true
                    }
                    Err(_) => false,
                },
                IpProtocol::Tcp => match TcpPacket::new_checked($l4) {
                    Ok(mut t) => {
                        t.fill_checksum($src, $dst);
                        true
                    }
                    Err(_) => false,
                },
                _ => false,
            }
        };
    }
    match ethertype {
        EtherType::Ipv4 => {
            let Ok(mut ip) = Ipv4Packet::new_checked(l3) else {
                return false;
            };
            let (proto, src, dst) = (ip.protocol(), ip.src_addr().into(), ip.dst_addr().into());
            fill!(proto, ip.payload_mut(), src, dst)
        }
        EtherType::Ipv6 => {
            let Ok(mut ip) = Ipv6Packet::new_checked(l3) else {
                return false;
            };
            let (proto, src, dst) = (ip.next_header(), ip.src_addr().into(), ip.dst_addr().into());
            fill!(proto, ip.payload_mut(), src, dst)
        }
        _ => false,
    }
}

impl Port for AfPacket {
    fn recv(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> RecvStatus {
        if self.gone {
            return RecvStatus::Exhausted;
        }
        let got = match self.config.ring {
            RingKind::Frames => self.recv_frames(batch, ctx),
            RingKind::Blocks => self.recv_blocks(batch, ctx),
        };
        if got > 0 {
            if self.link_down {
                self.link_down = false;
                let dev = &self.config.dev;
                eprintln!("netfn: afpacket(dev={dev}): interface {dev} is up again");
            }
        } else {
            self.check_link(ctx.now);
        }
        RecvStatus::Ready
    }

    fn send(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) {
        let n = batch.len().min(self.msgs.len());
        if n == 0 {
            return;
        }
        for (i, pkt) in batch.packets()[..n].iter().enumerate() {
            let data = pkt.data();
            self.iovs[i] = libc::iovec {
                iov_base: data.as_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            };
            let hdr = &mut self.msgs[i].msg_hdr;
            hdr.msg_name = std::ptr::null_mut();
            hdr.msg_namelen = 0;
            hdr.msg_iov = &mut self.iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
            hdr.msg_flags = 0;
        }
        let mut sent = 0usize;
        while sent < n {
            // SAFETY: msgs[sent..n] are initialised above; each points at one
            // iovec describing a packet of `batch`, which stays alive and
            // unmoved until the call returns. The kernel only reads them.
            let r = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    self.msgs.as_mut_ptr().add(sent),
                    (n - sent) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if r > 0 {
                sent += r as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => self.counts.tx_eagain += 1,
                Some(libc::ENOBUFS) => self.counts.tx_enobufs += 1,
                Some(libc::ENETDOWN) | Some(libc::ENXIO) | Some(libc::ENODEV) => {
                    self.link_error(&e)
                }
                _ => self.counts.tx_errors += 1,
            }
            break; // the rest stay in the batch: counted as tx-full drops
        }
        ctx.bytes += batch.drain_first(sent).map(|p| p.len() as u64).sum::<u64>();
    }

    fn counts_bytes(&self) -> bool {
        true
    }

    fn wait_fd(&self) -> Option<RawFd> {
        (!self.gone).then(|| self.fd.as_raw_fd())
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        self.poll_kernel_stats();
        let (seen, drops, freezes) = self.kernel.get();
        let c = &self.counts;
        report("kernel_packets", seen);
        report("kernel_drops", drops);
        report("ring_freezes", freezes);
        report("truncated", c.truncated);
        report("oversize", c.oversize);
        report("outgoing_skipped", c.outgoing);
        report("vlan_restored", c.vlan_restored);
        report("csum_completed", c.csum_completed);
        report("pool_empty", c.pool_empty);
        report("tx_eagain", c.tx_eagain);
        report("tx_enobufs", c.tx_enobufs);
        report("tx_errors", c.tx_errors);
        report("link_errors", c.link_errors);
    }
}

impl Drop for AfPacket {
    fn drop(&mut self) {
        // Hand a partly read block back (tidy, though the kernel frees the
        // ring once both the mapping and the socket are gone anyway).
        if self.config.ring == RingKind::Blocks && self.cursor.left > 0 {
            self.release_block(self.cursor.block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netfn_wire::{MacAddr, PacketBuilder};

    #[test]
    fn completes_a_partial_udp_checksum() {
        let t = PacketBuilder::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]))
            .ipv4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 64)
            .udp(1000, 2000);
        let mut good = vec![0; t.size(13)];
        t.write(&mut good, b"hello offload").unwrap();
        let mut partial = good.clone();
        // Zero the checksum, as CHECKSUM_PARTIAL leaves something else there.
        let at = 14 + 20 + 6;
        partial[at] = 0x12;
        partial[at + 1] = 0x34;
        assert!(complete_l4_checksum(&mut partial));
        assert_eq!(partial, good);
    }

    #[test]
    fn leaves_other_frames_alone() {
        let mut arp = vec![0xffu8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        let before = arp.clone();
        assert!(!complete_l4_checksum(&mut arp));
        assert_eq!(arp, before);
        assert!(!complete_l4_checksum(&mut [0u8; 5]));
    }

    #[test]
    fn v2_ring_request_is_whole_blocks_of_2k_slots() {
        let mut c = AfPacketConfig::new("veth0");
        assert_eq!(c.ring, RingKind::Frames);
        let r = c.v2_request();
        assert_eq!(
            r,
            TpacketReq {
                block_size: 1 << 16,
                block_nr: 32,
                frame_size: 2048,
                frame_nr: 1024,
            }
        );
        assert_eq!(c.ring_len(), 2 << 20);
        // Rounded up to whole blocks, as PACKET_RX_RING requires
        // (frame_nr = frames per block * block_nr).
        c.frames = 33;
        let r = c.v2_request();
        assert_eq!((r.block_nr, r.frame_nr), (2, 64));
        assert_eq!(r.frame_nr, r.block_size / r.frame_size * r.block_nr);
        c.ring = RingKind::Blocks;
        assert_eq!(c.ring_len(), 64 << 18);
        let r3 = c.v3_request();
        assert_eq!(r3.frame_nr, (1 << 18) / 2048 * 64);
        assert_eq!(r3.retire_blk_tov, 1);
    }

    #[test]
    fn rejects_bad_interface_names() {
        for bad in ["", "a/b", "sixteen-chars-xx", "a b"] {
            assert!(sys::IfReqFlags::named(bad).is_none(), "{bad:?}");
        }
        assert!(sys::IfReqFlags::named("veth0").is_some());
    }

    #[test]
    fn missing_interface_is_a_clear_error() {
        let err = AfPacket::open(AfPacketConfig::new("nf-no-such0")).unwrap_err();
        assert!(
            err.to_string().contains("no interface `nf-no-such0`"),
            "{err}"
        );
    }
}
