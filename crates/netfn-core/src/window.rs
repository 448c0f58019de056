//! The Window operator (NetBricks §3.1, "Abstractions for Bytestream
//! Processing"): TCP byte-stream reassembly per connection, handing an NF
//! the contiguous bytes of each direction as they become available.
//!
//! A [`Window`] tracks connections (keyed both ways, so one entry holds
//! both directions) in a preallocated [`FlowTable`]. Segments are placed by
//! sequence number (RFC 9293 §3.4 modular arithmetic, so the stream
//! continues across the 2³² wrap): an in-order segment is delivered straight
//! from the packet; a segment ahead of the next expected byte waits in a
//! per-direction reorder buffer of `reorder` bytes until the hole before it
//! fills. The NF sees the stream through a callback, in one of two ways:
//!
//! * `window = 0`: every contiguous chunk as soon as it exists
//!   ([`StreamEvent::Data`] with its stream offset), without copying in the
//!   in-order case. A matcher that carries its state from chunk to chunk
//!   (an Aho-Corasick automaton state) finds patterns across segments.
//! * `window = W, slide = S`: NetBricks' windows. The callback gets the
//!   stream's bytes `[k·S, k·S + W)` for k = 0, 1, ... as soon as they are
//!   all there; at close (and before a gap) it gets what is left that no
//!   window has shown yet.
//!
//! Overlapping data is resolved by [`Overlap`]: bytes already delivered
//! always stay (they cannot be taken back); between a buffered segment and
//! a later one covering the same bytes, `First` keeps the first (Suricata's
//! policy for BSD/Linux-like targets and its default, "first") and `Last`
//! takes the later one (Windows-like targets). A segment before the next
//! expected byte is trimmed; one wholly before it is a retransmission and
//! ignored.
//!
//! Bounds (no allocation after [`Window::new`]; memory is `flows × 2 ×
//! (reorder + window)` bytes plus the table):
//! * a segment that does not fit in the reorder buffer (or would need more
//!   than `max_ranges` separate buffered ranges) but starts within it
//!   makes the window give up on the oldest hole: a [`StreamEvent::Gap`]
//!   tells the NF which bytes it will never see, and delivery resumes at
//!   the buffered data. A segment starting beyond the buffer is dropped
//!   (counted `out_of_window`): a receiver would not accept it either.
//! * `depth` caps the bytes delivered per direction (Suricata's
//!   `stream.reassembly.depth`): the rest of a longer stream is counted and
//!   not delivered ([`StreamEvent::Truncated`]).
//! * a full table first expires idle connections, then evicts the least
//!   recently used one (closed with [`CloseReason::Evicted`]).
//!
//! A direction closes when the stream is delivered up to its FIN; the
//! connection goes when both have, at a RST within the reorder span of the
//! next expected byte (RFC 5961 §3: others are ignored and counted), after
//! `timeout` idle, on eviction and at [`Window::close_all`]. Every close
//! first delivers what is buffered (skipping holes as gaps) and the last
//! partial window, then a [`StreamEvent::Close`] per direction.
//!
//! Connections are picked up without a SYN when `midstream` is set (the
//! first segment seen starts the stream), as Suricata's `stream.midstream`;
//! the first packet's sender is then taken as the client.

use std::time::Duration;

use netfn_wire::TcpFlags;

use crate::flow::FlowKey;
use crate::flowtable::{FlowTable, Slot};

/// Which of two overlapping buffered segments' bytes win.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    First,
    Last,
}

/// The configuration of a [`Window`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowConfig {
    /// Connections tracked at most.
    pub flows: usize,
    /// Window size in bytes; 0 delivers every contiguous chunk instead.
    pub window: usize,
    /// Bytes a window moves by (1..=window; ignored when `window` is 0).
    pub slide: usize,
    /// Idle time after which a connection is closed.
    pub timeout: Duration,
    /// Out-of-order bytes buffered per direction (ahead of the next
    /// expected byte).
    pub reorder: usize,
    /// Separate buffered ranges (holes between them) per direction at most.
    pub max_ranges: usize,
    /// Bytes delivered per direction at most (0: no limit).
    pub depth: u64,
    pub overlap: Overlap,
    /// Track connections whose SYN was not seen.
    pub midstream: bool,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            flows: 4096,
            window: 0,
            slide: 0,
            timeout: Duration::from_secs(60),
            reorder: 4096,
            max_ranges: 16,
            depth: 1 << 20,
            overlap: Overlap::First,
            midstream: true,
        }
    }
}

/// Why a [`Window`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("slide must be between 1 and the window size ({window})")]
    Slide { window: usize },
    #[error("reorder buffer must be at least 1 byte")]
    Reorder,
    #[error("{0} bytes of stream buffers is over the limit of 4 GiB")]
    TooLarge(u64),
    #[error("max_ranges must be between 1 and 1024")]
    Ranges,
    #[error("flows must be between 1 and 16777216")]
    Flows,
}

/// The direction of a segment, as Suricata names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From the connection's client (the SYN's sender).
    ToServer = 0,
    ToClient = 1,
}

/// The parts of a TCP segment the window uses.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    /// The segment's 5-tuple (its direction).
    pub key: FlowKey,
    pub seq: u32,
    pub flags: TcpFlags,
    pub payload: &'a [u8],
}

/// Why a direction's stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    Fin,
    Rst,
    Timeout,
    Evicted,
    /// [`Window::close_all`] (the NF stops).
    Stop,
}

/// What the callback is told about one direction of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// Stream bytes starting at stream offset `offset` (0 is the byte after
    /// the SYN, or the first byte seen midstream): a chunk, or a window.
    Data { offset: u64, data: &'a [u8] },
    /// `len` bytes from `offset` will never be delivered.
    Gap { offset: u64, len: u64 },
    /// Nothing from `offset` (the depth) on is delivered.
    Truncated { offset: u64 },
    /// The direction ended; nothing more comes for it.
    Close(CloseReason),
}

/// Which stream an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamInfo {
    /// The 5-tuple in the direction of the data.
    pub key: FlowKey,
    pub dir: Dir,
    /// The time of the segment (or of the expiry) that caused the event.
    pub now: u64,
}

/// Reassembly counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounters {
    pub segments: u64,
    pub flows_created: u64,
    pub closed_fin: u64,
    pub closed_rst: u64,
    pub closed_timeout: u64,
    pub evicted: u64,
    /// Segments that arrived ahead of the next expected byte.
    pub out_of_order: u64,
    /// Segments wholly before the next expected byte.
    pub retransmitted: u64,
    /// Segments overlapping delivered or buffered bytes.
    pub overlaps: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub out_of_window: u64,
    pub rst_ignored: u64,
    /// Directions cut at `depth`.
    pub truncated: u64,
    /// Segments of untracked connections without a SYN (midstream off).
    pub no_syn: u64,
    pub bytes_delivered: u64,
}

/// One direction's reassembly state.
#[derive(Debug, Clone, Copy, Default)]
struct Half {
    open: bool,
    closed: bool,
    truncated: bool,
    /// Next expected sequence number.
    next: u32,
    /// Stream offset of `next` (bytes delivered, skipped or cut so far).
    delivered: u64,
    /// Buffered stream ranges `[start, end)`, sorted, disjoint and not
    /// touching, all after `delivered`.
    /// (kept in the window's range arena).
    nranges: u16,
    fin_at: Option<u64>,
    /// Window mode: bytes in the window buffer, how many of them no
    /// window has shown, and the stream offset of its first byte.
    win_fill: u32,
    win_unseen: u32,
    win_start: u64,
}

/// A tracked connection.
#[derive(Debug, Clone, Copy)]
struct Conn<S> {
    /// The client's side of the 5-tuple (direction [`Dir::ToServer`]).
    client: FlowKey,
    halves: [Half; 2],
    /// Index of its buffers in the arena (the table slot).
    slot: u32,
    user: S,
}

/// The TCP reassembly engine (see the module docs). `S` is the NF's state
/// per connection (e.g. automaton states), handed to every callback.
#[derive(Debug)]
pub struct Window<S> {
    config: WindowConfig,
    flows: FlowTable<FlowKey, Conn<S>>,
    arena: Arena,
    pub counters: WindowCounters,
}

/// The stream buffers of every table slot, allocated once.
#[derive(Debug)]
struct Arena {
    /// Per slot and direction: `reorder` bytes of ring, then `window` bytes.
    bytes: Vec<u8>,
    /// Per slot and direction: `max_ranges` buffered ranges.
    ranges: Vec<(u64, u64)>,
    reorder: usize,
    window: usize,
    max_ranges: usize,
}

/// One direction's buffers.
struct DirBuf<'a> {
    ring: &'a mut [u8],
    win: &'a mut [u8],
    ranges: &'a mut [(u64, u64)],
}

impl Arena {
    fn new(config: &WindowConfig) -> Arena {
        let dirs = config.flows * 2;
        Arena {
            bytes: vec![0; dirs * (config.reorder + config.window)],
            ranges: vec![(0, 0); dirs * config.max_ranges],
            reorder: config.reorder,
            window: config.window,
            max_ranges: config.max_ranges,
        }
    }

    fn dirs(&mut self, slot: u32) -> [DirBuf<'_>; 2] {
        let stride = self.reorder + self.window;
        let at = slot as usize * 2 * stride;
        let (b0, b1) = self.bytes[at..at + 2 * stride].split_at_mut(stride);
        let at = slot as usize * 2 * self.max_ranges;
        let (r0, r1) = self.ranges[at..at + 2 * self.max_ranges].split_at_mut(self.max_ranges);
        let (ring0, win0) = b0.split_at_mut(self.reorder);
        let (ring1, win1) = b1.split_at_mut(self.reorder);
        [
            DirBuf {
                ring: ring0,
                win: win0,
                ranges: r0,
            },
            DirBuf {
                ring: ring1,
                win: win1,
                ranges: r1,
            },
        ]
    }
}

/// Where events for one direction go during one call.
struct Out<'a, S, F> {
    info: StreamInfo,
    user: &'a mut S,
    f: &'a mut F,
    win: &'a mut [u8],
    /// This direction's buffered ranges (`nranges` of them are in use).
    ranges: &'a mut [(u64, u64)],
    slide: usize,
    depth: u64,
    counters: &'a mut WindowCounters,
}

impl<S, F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>)> Out<'_, S, F> {
    fn event(&mut self, ev: StreamEvent<'_>) {
        (self.f)(&self.info, self.user, ev);
    }
}

impl<S: Copy + Default> Window<S> {
    pub fn new(config: WindowConfig) -> Result<Window<S>, WindowError> {
        if config.window > 0 && !(1..=config.window).contains(&config.slide) {
            return Err(WindowError::Slide {
                window: config.window,
            });
        }
        if config.reorder == 0 {
            return Err(WindowError::Reorder);
        }
        if !(1..=1024).contains(&config.max_ranges) {
            return Err(WindowError::Ranges);
        }
        if !(1..=16_777_216).contains(&config.flows) {
            return Err(WindowError::Flows);
        }
        let bytes = (config.flows as u64)
            * 2
            * (config.reorder + config.window + 16 * config.max_ranges) as u64;
        if bytes > 1 << 32 {
            return Err(WindowError::TooLarge(bytes));
        }
        Ok(Window {
            flows: FlowTable::new(config.flows, &[config.timeout]),
            arena: Arena::new(&config),
            config,
            counters: WindowCounters::default(),
        })
    }

    pub fn config(&self) -> &WindowConfig {
        &self.config
    }

    /// Connections tracked.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The NF state of a connection (either direction's key).
    pub fn state(&self, key: &FlowKey) -> Option<&S> {
        self.flows.peek(&key.canonical()).map(|c| &c.user)
    }

    /// The NF state of a connection, to change (e.g. to mark it decided).
    pub fn state_mut(&mut self, key: &FlowKey) -> Option<&mut S> {
        let slot = self.flows.find(&key.canonical())?;
        Some(&mut self.flows.value_mut(slot).user)
    }

    /// Feeds one segment. Returns its direction and the connection's NF
    /// state after the segment (also when the segment closed it), or `None`
    /// if the connection is not tracked (a pure ACK or RST of an unknown
    /// connection, a segment without SYN when midstream is off).
    pub fn segment<F>(&mut self, seg: &TcpSegment<'_>, now: u64, mut f: F) -> Option<(Dir, S)>
    where
        F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
    {
        self.counters.segments += 1;
        let syn = seg.flags.contains(TcpFlags::SYN);
        let rst = seg.flags.contains(TcpFlags::RST);
        let ckey = seg.key.canonical();
        let slot = match self.flows.find(&ckey) {
            Some(slot) => {
                self.flows.touch(slot, now);
                slot
            }
            None => {
                if rst || (!syn && seg.payload.is_empty()) {
                    return None;
                }
                if !syn && !self.config.midstream {
                    self.counters.no_syn += 1;
                    return None;
                }
                self.make_room(now, &mut f);
                let client = if syn && seg.flags.contains(TcpFlags::ACK) {
                    seg.key.reversed()
                } else {
                    seg.key
                };
                let conn = Conn {
                    client,
                    halves: [Half::default(); 2],
                    slot: 0,
                    user: S::default(),
                };
                let slot = self.flows.insert(ckey, conn, 0, now).ok()?;
                self.flows.value_mut(slot).slot = slot.index() as u32;
                self.counters.flows_created += 1;
                slot
            }
        };
        let conn = self.flows.value_mut(slot);
        let dir = if seg.key == conn.client {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        let bufs = self.arena.dirs(conn.slot);
        if rst {
            let h = &conn.halves[dir as usize];
            let plausible = !h.open
                || (seg.seq.wrapping_sub(h.next) as i32).unsigned_abs() as usize
                    <= self.config.reorder;
            if !plausible {
                self.counters.rst_ignored += 1;
                return Some((dir, conn.user));
            }
            self.counters.closed_rst += 1;
            close_conn(
                conn,
                bufs,
                &self.config,
                now,
                CloseReason::Rst,
                &mut self.counters,
                &mut f,
            );
            let user = conn.user;
            self.flows.remove_slot(slot);
            return Some((dir, user));
        }
        let key = seg.key;
        let [b0, b1] = bufs;
        let buf = if dir == Dir::ToServer { b0 } else { b1 };
        let Conn { halves, user, .. } = conn;
        let h = &mut halves[dir as usize];
        let DirBuf { ring, win, ranges } = buf;
        let mut out = Out {
            info: StreamInfo { key, dir, now },
            user,
            f: &mut f,
            win,
            ranges,
            slide: self.config.slide,
            depth: self.config.depth,
            counters: &mut self.counters,
        };
        accept(h, ring, &mut out, seg, self.config.overlap);
        let both_closed = halves.iter().all(|h| h.closed);
        let user = conn.user;
        if both_closed {
            self.counters.closed_fin += 1;
            self.flows.remove_slot(slot);
        }
        Some((dir, user))
    }

    /// Closes connections idle for `timeout` (call from a timer).
    pub fn expire<F>(&mut self, now: u64, mut f: F) -> usize
    where
        F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
    {
        let (arena, config, counters) = (&mut self.arena, &self.config, &mut self.counters);
        self.flows.expire(now, |_, mut conn| {
            counters.closed_timeout += 1;
            let slot = conn.slot;
            close_conn(
                &mut conn,
                arena.dirs(slot),
                config,
                now,
                CloseReason::Timeout,
                counters,
                &mut f,
            );
        })
    }

    /// Closes every connection (at stop). Allocates.
    pub fn close_all<F>(&mut self, now: u64, mut f: F)
    where
        F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
    {
        let mut slots: Vec<(u64, Slot)> = self
            .flows
            .iter()
            .map(|(slot, _, _)| (self.flows.last_seen(slot), slot))
            .collect();
        slots.sort_unstable_by_key(|(seen, slot)| (*seen, slot.index()));
        for (_, slot) in slots {
            self.close_slot(slot, now, CloseReason::Stop, &mut f);
        }
    }

    /// Expires idle connections, and evicts the least recently used one if
    /// the table is still full.
    fn make_room<F>(&mut self, now: u64, f: &mut F)
    where
        F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
    {
        if !self.flows.is_full() {
            return;
        }
        self.expire(now, &mut *f);
        if self.flows.is_full()
            && let Some(oldest) = self.flows.oldest()
        {
            self.counters.evicted += 1;
            self.close_slot(oldest, now, CloseReason::Evicted, f);
        }
    }

    fn close_slot<F>(&mut self, slot: Slot, now: u64, reason: CloseReason, f: &mut F)
    where
        F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
    {
        let (_, mut conn) = self.flows.remove_slot(slot);
        let at = conn.slot;
        close_conn(
            &mut conn,
            self.arena.dirs(at),
            &self.config,
            now,
            reason,
            &mut self.counters,
            f,
        );
    }
}

/// Closes both directions of a connection: delivers what is buffered, the
/// last partial window, then a `Close` event for each open direction.
fn close_conn<S, F>(
    conn: &mut Conn<S>,
    bufs: [DirBuf<'_>; 2],
    config: &WindowConfig,
    now: u64,
    reason: CloseReason,
    counters: &mut WindowCounters,
    f: &mut F,
) where
    F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
{
    let client = conn.client;
    for (d, buf) in bufs.into_iter().enumerate() {
        let h = &mut conn.halves[d];
        if !h.open || h.closed {
            continue;
        }
        let (dir, key) = if d == 0 {
            (Dir::ToServer, client)
        } else {
            (Dir::ToClient, client.reversed())
        };
        let DirBuf { ring, win, ranges } = buf;
        let mut out = Out {
            info: StreamInfo { key, dir, now },
            user: &mut conn.user,
            f: &mut *f,
            win,
            ranges,
            slide: config.slide,
            depth: config.depth,
            counters: &mut *counters,
        };
        while h.nranges > 0 {
            skip_gap(h, ring, &mut out);
        }
        close_half(h, &mut out, reason);
    }
}

/// Places one segment of an open (or opening) direction.
fn accept<S, F>(
    h: &mut Half,
    ring: &mut [u8],
    out: &mut Out<'_, S, F>,
    seg: &TcpSegment<'_>,
    overlap: Overlap,
) where
    F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
{
    let syn = seg.flags.contains(TcpFlags::SYN);
    // The SYN takes one sequence number; its data (if any) follows it.
    let data_seq = if syn {
        seg.seq.wrapping_add(1)
    } else {
        seg.seq
    };
    if !h.open {
        h.open = true;
        h.next = data_seq;
    }
    if h.closed {
        return;
    }
    let fin = seg.flags.contains(TcpFlags::FIN);
    let len = seg.payload.len();
    if fin {
        let rel_end = (data_seq.wrapping_add(len as u32).wrapping_sub(h.next)) as i32;
        h.fin_at = Some(h.delivered + rel_end.max(0) as u64);
    }
    if h.truncated {
        // Nothing more is delivered; the stream only waits for its end.
        if fin {
            close_half(h, out, CloseReason::Fin);
        }
        return;
    }
    if len > 0 {
        place(h, ring, out, data_seq, seg.payload, overlap);
    }
    if let Some(fin_at) = h.fin_at
        && h.delivered >= fin_at
    {
        close_half(h, out, CloseReason::Fin);
    }
}

/// Delivers or buffers `data`, which starts at sequence number `seq`.
fn place<S, F>(
    h: &mut Half,
    ring: &mut [u8],
    out: &mut Out<'_, S, F>,
    seq: u32,
    data: &[u8],
    overlap: Overlap,
) where
    F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
{
    let cap = ring.len() as u64;
    // At most `max_ranges` gaps are skipped to make room, then it fits or goes.
    for _ in 0..=out.ranges.len() {
        let rel = seq.wrapping_sub(h.next) as i32;
        let mut data = data;
        if rel < 0 {
            let old = rel.unsigned_abs() as usize;
            if old >= data.len() {
                out.counters.retransmitted += 1;
                return;
            }
            out.counters.overlaps += 1;
            data = &data[old..];
        }
        let at = h.delivered + rel.max(0) as u64;
        let end = at + data.len() as u64;
        if at == h.delivered {
            deliver_in_order(h, ring, out, data, overlap);
            return;
        }
        if end - h.delivered <= cap && buffer(h, ring, out.ranges, at, data, overlap, out.counters)
        {
            out.counters.out_of_order += 1;
            return;
        }
        if at - h.delivered > cap || h.nranges == 0 {
            out.counters.out_of_window += 1;
            return;
        }
        skip_gap(h, ring, out);
    }
}

/// Delivers a segment that starts at the next expected byte, then whatever
/// buffered data became contiguous.
fn deliver_in_order<S, F>(
    h: &mut Half,
    ring: &[u8],
    out: &mut Out<'_, S, F>,
    data: &[u8],
    overlap: Overlap,
) where
    F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
{
    let start = h.delivered;
    let end = start + data.len() as u64;
    if h.nranges > 0 && out.ranges[0].0 < end {
        out.counters.overlaps += 1;
    }
    match overlap {
        Overlap::First => {
            // Buffered bytes came first: they win where they overlap.
            while h.delivered < end {
                if h.nranges > 0 && out.ranges[0].0 <= h.delivered {
                    deliver_range(h, ring, out);
                } else {
                    let stop = if h.nranges > 0 {
                        end.min(out.ranges[0].0)
                    } else {
                        end
                    };
                    let from = (h.delivered - start) as usize;
                    let to = (stop - start) as usize;
                    deliver(h, out, &data[from..to]);
                }
            }
        }
        Overlap::Last => {
            deliver(h, out, data);
            // Drop what the segment replaced.
            while h.nranges > 0 && out.ranges[0].0 < h.delivered {
                if out.ranges[0].1 <= h.delivered {
                    pop_range(h, out.ranges);
                } else {
                    out.ranges[0].0 = h.delivered;
                }
            }
        }
    }
    while h.nranges > 0 && out.ranges[0].0 == h.delivered {
        deliver_range(h, ring, out);
    }
}

/// Buffers data at stream offset `at` (after `delivered`). False if it
/// would need more ranges than there are slots.
fn buffer(
    h: &mut Half,
    ring: &mut [u8],
    slots: &mut [(u64, u64)],
    at: u64,
    data: &[u8],
    overlap: Overlap,
    counters: &mut WindowCounters,
) -> bool {
    let end = at + data.len() as u64;
    let n = usize::from(h.nranges);
    let ranges = &slots[..n];
    // Ranges overlapping or touching [at, end) merge with it.
    let first = ranges.partition_point(|r| r.1 < at);
    let last = ranges.partition_point(|r| r.0 <= end);
    if n - (last - first) + 1 > slots.len() {
        return false;
    }
    let covered = ranges[first..last].iter().any(|r| r.0 < end && r.1 > at);
    if covered {
        counters.overlaps += 1;
    }
    match overlap {
        Overlap::Last => ring_write(ring, at, data),
        Overlap::First => {
            let mut c = at;
            for r in &ranges[first..last] {
                if r.0 > c {
                    let to = r.0.min(end);
                    ring_write(ring, c, &data[(c - at) as usize..(to - at) as usize]);
                }
                c = c.max(r.1);
            }
            if c < end {
                ring_write(ring, c, &data[(c - at) as usize..]);
            }
        }
    }
    let merged = if first < last {
        (at.min(ranges[first].0), end.max(ranges[last - 1].1))
    } else {
        (at, end)
    };
    // Replace ranges[first..last] with `merged`.
    let removed = last - first;
    if removed == 0 {
        slots.copy_within(first..n, first + 1);
    } else {
        slots.copy_within(last..n, first + 1);
    }
    slots[first] = merged;
    h.nranges = (n + 1 - removed) as u16;
    true
}

fn ring_write(ring: &mut [u8], at: u64, data: &[u8]) {
    let cap = ring.len();
    let i = (at % cap as u64) as usize;
    let first = data.len().min(cap - i);
    ring[i..i + first].copy_from_slice(&data[..first]);
    ring[..data.len() - first].copy_from_slice(&data[first..]);
}

fn pop_range(h: &mut Half, slots: &mut [(u64, u64)]) {
    let n = usize::from(h.nranges);
    slots.copy_within(1..n, 0);
    h.nranges -= 1;
}

/// Delivers the first buffered range (which starts at or before the next
/// expected byte: only its part from there on is new).
fn deliver_range<S, F>(h: &mut Half, ring: &[u8], out: &mut Out<'_, S, F>)
where
    F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
{
    let (start, end) = out.ranges[0];
    pop_range(h, out.ranges);
    let start = start.max(h.delivered);
    if start >= end {
        return;
    }
    let cap = ring.len();
    let i = (start % cap as u64) as usize;
    let len = (end - start) as usize;
    let first = len.min(cap - i);
    deliver(h, out, &ring[i..i + first]);
    deliver(h, out, &ring[..len - first]);
}

/// Gives up on the hole before the first buffered range and delivers from
/// there.
fn skip_gap<S, F>(h: &mut Half, ring: &[u8], out: &mut Out<'_, S, F>)
where
    F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
{
    let start = out.ranges[0].0;
    let len = start - h.delivered;
    if len > 0 {
        out.counters.gaps += 1;
        out.counters.gap_bytes += len;
        if !h.truncated {
            flush_window(h, out);
            out.event(StreamEvent::Gap {
                offset: h.delivered,
                len,
            });
        }
        h.delivered = start;
        h.next = h.next.wrapping_add(len as u32);
        h.win_start = start;
    }
    while h.nranges > 0 && out.ranges[0].0 == h.delivered {
        deliver_range(h, ring, out);
    }
}

/// Delivers contiguous bytes at the next expected byte (cut at `depth`).
fn deliver<S, F>(h: &mut Half, out: &mut Out<'_, S, F>, data: &[u8])
where
    F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
{
    let at = h.delivered;
    h.delivered += data.len() as u64;
    h.next = h.next.wrapping_add(data.len() as u32);
    if h.truncated || data.is_empty() {
        return;
    }
    let mut data = data;
    let cut = out.depth > 0 && h.delivered > out.depth;
    if cut {
        data = &data[..out.depth.saturating_sub(at) as usize];
    }
    out.counters.bytes_delivered += data.len() as u64;
    if out.win.is_empty() {
        if !data.is_empty() {
            out.event(StreamEvent::Data { offset: at, data });
        }
    } else {
        push_window(h, out, data);
    }
    if cut {
        h.truncated = true;
        out.counters.truncated += 1;
        flush_window(h, out);
        out.event(StreamEvent::Truncated { offset: out.depth });
    }
}

/// Window mode: appends to the window buffer, showing every full window
/// and sliding on.
fn push_window<S, F>(h: &mut Half, out: &mut Out<'_, S, F>, mut data: &[u8])
where
    F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
{
    let w = out.win.len();
    while !data.is_empty() {
        let fill = h.win_fill as usize;
        let n = (w - fill).min(data.len());
        out.win[fill..fill + n].copy_from_slice(&data[..n]);
        data = &data[n..];
        h.win_fill += n as u32;
        h.win_unseen += n as u32;
        if h.win_fill as usize == w {
            (out.f)(
                &out.info,
                out.user,
                StreamEvent::Data {
                    offset: h.win_start,
                    data: &out.win[..w],
                },
            );
            h.win_unseen = 0;
            out.win.copy_within(out.slide..w, 0);
            h.win_fill -= out.slide as u32;
            h.win_start += out.slide as u64;
        }
    }
}

/// Window mode: shows what no window has shown yet, and empties the buffer.
fn flush_window<S, F>(h: &mut Half, out: &mut Out<'_, S, F>)
where
    F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
{
    if out.win.is_empty() {
        return;
    }
    let fill = h.win_fill as usize;
    if h.win_unseen > 0 {
        (out.f)(
            &out.info,
            out.user,
            StreamEvent::Data {
                offset: h.win_start,
                data: &out.win[..fill],
            },
        );
    }
    h.win_start += fill as u64;
    h.win_fill = 0;
    h.win_unseen = 0;
}

fn close_half<S, F>(h: &mut Half, out: &mut Out<'_, S, F>, reason: CloseReason)
where
    F: FnMut(&StreamInfo, &mut S, StreamEvent<'_>),
{
    if h.closed {
        return;
    }
    if !h.truncated {
        flush_window(h, out);
    }
    h.closed = true;
    out.event(StreamEvent::Close(reason));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::IpAddr;

    fn key() -> FlowKey {
        FlowKey {
            src: IpAddr::from([10, 0, 0, 1]),
            dst: IpAddr::from([10, 0, 0, 2]),
            src_port: 1234,
            dst_port: 80,
            protocol: 6,
        }
    }

    const A: TcpFlags = TcpFlags::ACK;

    fn seg(seq: u32, flags: TcpFlags, payload: &[u8]) -> TcpSegment<'_> {
        TcpSegment {
            key: key(),
            seq,
            flags,
            payload,
        }
    }

    /// Everything the callback saw, per direction.
    #[derive(Debug, Default)]
    struct Seen {
        data: Vec<(Dir, u64, Vec<u8>)>,
        gaps: Vec<(u64, u64)>,
        closes: Vec<(Dir, CloseReason)>,
        truncated: Vec<u64>,
    }

    impl Seen {
        fn record(&mut self) -> impl FnMut(&StreamInfo, &mut u32, StreamEvent<'_>) + '_ {
            |info, calls, ev| {
                *calls += 1;
                match ev {
                    StreamEvent::Data { offset, data } => {
                        self.data.push((info.dir, offset, data.to_vec()))
                    }
                    StreamEvent::Gap { offset, len } => self.gaps.push((offset, len)),
                    StreamEvent::Close(r) => self.closes.push((info.dir, r)),
                    StreamEvent::Truncated { offset } => self.truncated.push(offset),
                }
            }
        }

        fn stream(&self, dir: Dir) -> Vec<u8> {
            let mut s = Vec::new();
            for (d, offset, data) in &self.data {
                if *d == dir {
                    assert_eq!(*offset, s.len() as u64, "chunks are contiguous");
                    s.extend_from_slice(data);
                }
            }
            s
        }
    }

    fn window(reorder: usize) -> Window<u32> {
        Window::new(WindowConfig {
            flows: 8,
            reorder,
            ..WindowConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn in_order_and_out_of_order_delivery() {
        let mut w = window(64);
        let mut seen = Seen::default();
        w.segment(&seg(99, TcpFlags::SYN, b""), 0, seen.record());
        w.segment(&seg(100, A, b"hello "), 0, seen.record());
        w.segment(&seg(112, A, b"!!"), 0, seen.record()); // ahead
        w.segment(&seg(106, A, b"world?"), 0, seen.record()); // fills the hole
        assert_eq!(seen.stream(Dir::ToServer), b"hello world?!!");
        assert_eq!(w.counters.out_of_order, 1);
        let (_, calls) = w
            .segment(&seg(114, A | TcpFlags::FIN, b""), 0, seen.record())
            .unwrap();
        assert_eq!(calls, 4, "3 chunks and a close");
        assert_eq!(seen.closes, vec![(Dir::ToServer, CloseReason::Fin)]);
        assert_eq!(w.len(), 1, "the other direction is still open");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut w = window(64);
        let mut seen = Seen::default();
        let isn = u32::MAX - 3;
        w.segment(&seg(isn, TcpFlags::SYN, b""), 0, seen.record());
        w.segment(&seg(isn.wrapping_add(6), A, b"fgh"), 0, seen.record());
        w.segment(&seg(isn.wrapping_add(1), A, b"abcde"), 0, seen.record());
        assert_eq!(seen.stream(Dir::ToServer), b"abcdefgh");
    }

    #[test]
    fn overlap_policies() {
        for (policy, want) in [
            (Overlap::First, &b"abcXYZgyzwhij"[..]),
            (Overlap::Last, &b"abcXYZxyzwhij"[..]),
        ] {
            let mut w: Window<u32> = Window::new(WindowConfig {
                overlap: policy,
                ..WindowConfig::default()
            })
            .unwrap();
            let mut seen = Seen::default();
            w.segment(&seg(0, TcpFlags::SYN, b""), 0, seen.record());
            w.segment(&seg(4, A, b"XYZg"), 0, seen.record()); // bytes 3..7
            w.segment(&seg(7, A, b"xyzwhij"), 0, seen.record()); // 6..13: "g" twice
            w.segment(&seg(1, A, b"abc"), 0, seen.record());
            assert_eq!(seen.stream(Dir::ToServer), want, "{policy:?}");
            assert_eq!(w.counters.overlaps, 1);
        }
    }

    #[test]
    fn in_order_segment_over_buffered_data() {
        for (policy, want) in [
            (Overlap::First, &b"abBUFFgh"[..]),
            (Overlap::Last, &b"abcdefgh"[..]),
        ] {
            let mut w: Window<u32> = Window::new(WindowConfig {
                overlap: policy,
                ..WindowConfig::default()
            })
            .unwrap();
            let mut seen = Seen::default();
            w.segment(&seg(0, TcpFlags::SYN, b""), 0, seen.record());
            w.segment(&seg(3, A, b"BUFF"), 0, seen.record());
            w.segment(&seg(1, A, b"abcdefgh"), 0, seen.record());
            assert_eq!(seen.stream(Dir::ToServer), want, "{policy:?}");
            assert!(w.counters.overlaps > 0);
        }
    }

    #[test]
    fn retransmissions_and_partial_overlaps_with_delivered_data() {
        let mut w = window(64);
        let mut seen = Seen::default();
        w.segment(&seg(0, TcpFlags::SYN, b""), 0, seen.record());
        w.segment(&seg(1, A, b"abcd"), 0, seen.record());
        w.segment(&seg(1, A, b"ABCD"), 0, seen.record()); // retransmitted
        w.segment(&seg(3, A, b"CDef"), 0, seen.record()); // half old
        assert_eq!(seen.stream(Dir::ToServer), b"abcdef");
        assert_eq!(w.counters.retransmitted, 1);
    }

    #[test]
    fn full_reorder_buffer_skips_the_hole() {
        let mut w = window(16);
        let mut seen = Seen::default();
        w.segment(&seg(0, TcpFlags::SYN, b""), 0, seen.record());
        // Bytes 0..4 never arrive.
        w.segment(&seg(5, A, b"0123456789"), 0, seen.record()); // 4..14
        w.segment(&seg(15, A, b"abcdefgh"), 0, seen.record()); // 14..22: no room
        assert_eq!(seen.gaps, vec![(0, 4)]);
        assert_eq!(seen.data[0].1, 4);
        let all: Vec<u8> = seen.data.iter().flat_map(|d| d.2.clone()).collect();
        assert_eq!(all, b"0123456789abcdefgh");
        // Far beyond the buffer: dropped.
        w.segment(&seg(1000, A, b"far"), 0, seen.record());
        assert_eq!(w.counters.out_of_window, 1);
    }

    #[test]
    fn too_many_holes_skip_the_oldest() {
        let mut w = window(1024);
        let mut seen = Seen::default();
        w.segment(&seg(0, TcpFlags::SYN, b""), 0, seen.record());
        for i in 0..=WindowConfig::default().max_ranges as u32 {
            w.segment(&seg(1 + 10 * (i + 1), A, b"x"), 0, seen.record());
        }
        assert_eq!(seen.gaps, vec![(0, 10)]);
        assert_eq!(w.counters.gaps, 1);
    }

    #[test]
    fn rst_closes_both_directions_and_timeout_flushes() {
        let mut w = window(64);
        let mut seen = Seen::default();
        w.segment(&seg(0, TcpFlags::SYN, b""), 0, seen.record());
        let back = TcpSegment {
            key: key().reversed(),
            ..seg(500, TcpFlags::SYN | A, b"")
        };
        w.segment(&back, 0, seen.record());
        w.segment(&seg(1, A, b"ab"), 0, seen.record());
        // An RST far outside the window is ignored.
        w.segment(&seg(1 << 30, TcpFlags::RST, b""), 0, seen.record());
        assert_eq!(w.counters.rst_ignored, 1);
        w.segment(&seg(3, TcpFlags::RST, b""), 0, seen.record());
        assert_eq!(
            seen.closes,
            vec![
                (Dir::ToServer, CloseReason::Rst),
                (Dir::ToClient, CloseReason::Rst)
            ]
        );
        assert!(w.is_empty());

        // Timeout: buffered data past a hole is delivered after a gap.
        let mut seen = Seen::default();
        w.segment(&seg(0, TcpFlags::SYN, b""), 0, seen.record());
        w.segment(&seg(5, A, b"late"), 0, seen.record());
        assert_eq!(w.expire(59_000_000_000, seen.record()), 0);
        assert_eq!(w.expire(60_000_000_000, seen.record()), 1);
        assert_eq!(seen.gaps, vec![(0, 4)]);
        assert_eq!(seen.data, vec![(Dir::ToServer, 4, b"late".to_vec())]);
        assert_eq!(seen.closes, vec![(Dir::ToServer, CloseReason::Timeout)]);
    }

    #[test]
    fn depth_truncates() {
        let mut w: Window<u32> = Window::new(WindowConfig {
            depth: 5,
            ..WindowConfig::default()
        })
        .unwrap();
        let mut seen = Seen::default();
        w.segment(&seg(0, TcpFlags::SYN, b""), 0, seen.record());
        w.segment(&seg(1, A, b"abc"), 0, seen.record());
        w.segment(&seg(4, A, b"defg"), 0, seen.record());
        w.segment(&seg(8, A, b"hij"), 0, seen.record());
        assert_eq!(seen.stream(Dir::ToServer), b"abcde");
        assert_eq!(seen.truncated, vec![5]);
        assert_eq!(w.counters.truncated, 1);
        w.segment(&seg(11, TcpFlags::FIN, b""), 0, seen.record());
        assert_eq!(seen.closes, vec![(Dir::ToServer, CloseReason::Fin)]);
    }

    #[test]
    fn windows_slide() {
        let mut w: Window<u32> = Window::new(WindowConfig {
            window: 4,
            slide: 2,
            ..WindowConfig::default()
        })
        .unwrap();
        let mut seen = Seen::default();
        w.segment(&seg(0, TcpFlags::SYN, b""), 0, seen.record());
        w.segment(&seg(1, A, b"abc"), 0, seen.record());
        w.segment(&seg(4, A, b"defg"), 0, seen.record());
        w.segment(&seg(8, TcpFlags::FIN, b""), 0, seen.record());
        let got: Vec<(u64, &[u8])> = seen.data.iter().map(|(_, o, d)| (*o, &d[..])).collect();
        assert_eq!(
            got,
            vec![(0, &b"abcd"[..]), (2, b"cdef"), (4, b"efg")],
            "full windows, then the rest at close"
        );
    }

    #[test]
    fn full_table_evicts_the_oldest() {
        let mut w: Window<u32> = Window::new(WindowConfig {
            flows: 2,
            ..WindowConfig::default()
        })
        .unwrap();
        let mut seen = Seen::default();
        for port in 0..3u16 {
            let s = TcpSegment {
                key: FlowKey {
                    src_port: port,
                    ..key()
                },
                ..seg(0, A, b"x")
            };
            w.segment(&s, u64::from(port), seen.record());
        }
        assert_eq!(w.len(), 2);
        assert_eq!(w.counters.evicted, 1);
        assert_eq!(seen.closes, vec![(Dir::ToServer, CloseReason::Evicted)]);
    }

    #[test]
    fn config_errors() {
        let bad = |c: WindowConfig| Window::<u32>::new(c).unwrap_err();
        let d = WindowConfig::default;
        assert_eq!(
            bad(WindowConfig {
                window: 4,
                slide: 5,
                ..d()
            }),
            WindowError::Slide { window: 4 }
        );
        assert_eq!(
            bad(WindowConfig { reorder: 0, ..d() }),
            WindowError::Reorder
        );
        assert!(matches!(
            bad(WindowConfig {
                flows: 1 << 24,
                reorder: 1 << 20,
                ..d()
            }),
            WindowError::TooLarge(_)
        ));
    }

    /// Cuts a stream of `len` bytes into segments at random points (at most
    /// 48), adds retransmissions
    /// (resegmented, possibly overlapping), and shuffles them.
    fn segments(len: usize) -> impl Strategy<Value = Vec<(usize, usize)>> {
        (
            proptest::collection::vec(1usize..200, 1..40),
            proptest::collection::vec((0usize..4000, 1usize..300), 0..10),
        )
            .prop_map(move |(cuts, dups)| {
                let mut out = Vec::new();
                let mut at = 0;
                let mut i = 0;
                while at < len {
                    // At most 48 pieces: with the duplicates, never more
                    // holes than the 64 range slots of the test's window.
                    let n = cuts[i % cuts.len()].max(len / 48 + 1).min(len - at);
                    out.push((at, at + n));
                    at += n;
                    i += 1;
                }
                for (s, n) in dups {
                    if len > 0 {
                        let s = s % len;
                        out.push((s, (s + n).min(len)));
                    }
                }
                out
            })
            .prop_shuffle()
    }

    proptest! {
        /// Random segmentation, reordering and duplication of a random byte
        /// stream (with a random ISN, so some wrap) deliver exactly the
        /// stream, once, in order, then one FIN close.
        #[test]
        fn reassembles_the_original_stream(
            stream in proptest::collection::vec(any::<u8>(), 0..3000),
            isn in any::<u32>(),
            order in any::<proptest::sample::Index>(),
            windowed in any::<bool>(),
            cuts in segments(3000),
        ) {
            let mut w: Window<u32> = Window::new(WindowConfig {
                reorder: 4096,
                max_ranges: 64,
                window: if windowed { 64 } else { 0 },
                slide: 16,
                ..WindowConfig::default()
            })
            .unwrap();
            let mut seen = Seen::default();
            w.segment(&seg(isn, TcpFlags::SYN, b""), 0, seen.record());
            let mut list: Vec<(usize, usize)> = cuts
                .into_iter()
                .filter(|(s, e)| *s < stream.len() && *e <= stream.len())
                .collect();
            // Make sure every byte is covered, then put the FIN somewhere.
            list.push((0, stream.len()));
            let fin_pos = order.index(list.len() + 1);
            for (i, (s, e)) in list.iter().enumerate() {
                if i == fin_pos {
                    let fin = seg(isn.wrapping_add(1 + stream.len() as u32), A | TcpFlags::FIN, b"");
                    w.segment(&fin, 0, seen.record());
                }
                let s_seq = isn.wrapping_add(1 + *s as u32);
                w.segment(&seg(s_seq, A, &stream[*s..*e]), 0, seen.record());
            }
            if fin_pos == list.len() {
                let fin = seg(isn.wrapping_add(1 + stream.len() as u32), A | TcpFlags::FIN, b"");
                w.segment(&fin, 0, seen.record());
            }
            prop_assert!(seen.gaps.is_empty());
            prop_assert_eq!(&seen.closes, &vec![(Dir::ToServer, CloseReason::Fin)]);
            if windowed {
                // Windows start every `slide` bytes and show the stream there.
                for (i, (_, offset, data)) in seen.data.iter().enumerate() {
                    prop_assert_eq!(*offset, i as u64 * 16);
                    let o = *offset as usize;
                    prop_assert_eq!(&data[..], &stream[o..(o + 64).min(stream.len())]);
                }
                let last = seen.data.last().map_or(0, |(_, o, d)| *o as usize + d.len());
                prop_assert_eq!(last, stream.len());
            } else {
                prop_assert_eq!(seen.stream(Dir::ToServer), stream);
            }
        }

        /// With a small reorder buffer, whatever is delivered is the stream
        /// at the offsets given, and data plus gaps never overlap.
        #[test]
        fn small_buffer_never_delivers_wrong_bytes(
            stream in proptest::collection::vec(any::<u8>(), 1..2000),
            isn in any::<u32>(),
            cuts in segments(2000),
        ) {
            let mut w: Window<u32> = Window::new(WindowConfig {
                reorder: 256,
                ..WindowConfig::default()
            })
            .unwrap();
            let mut seen = Seen::default();
            w.segment(&seg(isn, TcpFlags::SYN, b""), 0, seen.record());
            for (s, e) in cuts.into_iter().filter(|(s, e)| *s < stream.len() && *e <= stream.len()) {
                w.segment(&seg(isn.wrapping_add(1 + s as u32), A, &stream[s..e]), 0, seen.record());
            }
            w.close_all(1, seen.record());
            let mut pieces: Vec<(u64, u64)> = Vec::new();
            for (_, offset, data) in &seen.data {
                let o = *offset as usize;
                prop_assert_eq!(&data[..], &stream[o..o + data.len()]);
                pieces.push((*offset, *offset + data.len() as u64));
            }
            pieces.extend(seen.gaps.iter().map(|(o, l)| (*o, o + l)));
            pieces.sort_unstable();
            for pair in pieces.windows(2) {
                prop_assert_eq!(pair[0].1, pair[1].0, "contiguous, no overlap");
            }
        }
    }
}
