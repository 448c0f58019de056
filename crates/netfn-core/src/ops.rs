//! The NF programming model: typed header cursors and batch operators
//! (NetBricks §3.1).
//!
//! An NF is a pipeline of operators over packets whose header stack is
//! tracked in the type system:
//!
//! ```
//! use netfn_core::ops::{self, Op};
//! use netfn_core::DropReason;
//! use netfn_wire::{Ipv4, Tcp};
//!
//! // Drop TCP packets to port 23, pass everything else on.
//! let nf = ops::ethernet()
//!     .parse_or_skip::<Ipv4>()
//!     .parse_or_skip::<Tcp>()
//!     .filter(|tcp, _| tcp.header().dst_port() != 23, DropReason::PolicyDeny)
//!     .compose();
//! # let _ = nf;
//! ```
//!
//! `parse::<Tcp>()` only compiles after a header that can carry TCP
//! (`Carries<Tcp>`); `deparse()` pops back to the previous header. Operators
//! are generic structs around their closures, so a whole pipeline compiles to
//! one loop over the batch with no indirect call per packet; the only dynamic
//! call is the runtime's, once per batch, at [`Op::compose`]'s boundary.
//!
//! Each operator runs per packet and either continues with a cursor or stops
//! with a [`Stop`]: a verdict (drop, or leave on an output) or `Skip` (leave
//! the rest of this pipeline: pass on output 0 unchanged, or, inside
//! [`Terminal::or`], try the alternative).

use std::marker::PhantomData;

use netfn_wire::{Carries, Ethernet, Header};

use crate::batch::{Batch, DropReason, Verdict};
use crate::ctx::Ctx;
use crate::nf::Nf;
use crate::pool::Packet;

/// Deepest header stack a cursor tracks (Ethernet, 2 VLAN tags, IPv6, L4,
/// and a tunnel's inner headers fit).
pub const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, Copy, Default)]
struct Level {
    // u32, like the packet length: the narrowing is lossless, so the
    // compiler keeps what `check` proved about the offsets and drops the
    // bounds checks of later header accesses.
    start: u32,
    header_end: u32,
    end: u32,
}

/// Why a cursor could not move to a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The current header's protocol field names something else.
    NotCarried,
    /// It claims to be that header but fails validation.
    Malformed(netfn_wire::Error),
    /// The header stack is deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl ParseError {
    /// The drop reason for a packet that had to be this header.
    pub fn drop_reason(self) -> DropReason {
        match self {
            ParseError::NotCarried => DropReason::Unsupported,
            ParseError::Malformed(_) | ParseError::TooDeep => DropReason::Malformed,
        }
    }
}

/// A packet seen through a typed header stack: `H` is the current header,
/// `S` the stack below it as nested pairs (`(Ethernet, ())` under `Ipv4`).
///
/// The cursor borrows the packet mutably, so a view obtained from it cannot
/// outlive the operator call that received it.
pub struct Cursor<'p, H: Header, S = ()> {
    pkt: &'p mut Packet,
    levels: [Level; MAX_DEPTH],
    depth: u8,
    _stack: PhantomData<fn() -> (H, S)>,
}

impl<'p, H: Header> Cursor<'p, H, ()> {
    /// Starts at the beginning of the packet, which must be an `H`.
    pub fn new(pkt: &'p mut Packet) -> Result<Self, ParseError> {
        let ext = H::check(pkt.data()).map_err(ParseError::Malformed)?;
        let mut levels = [Level::default(); MAX_DEPTH];
        levels[0] = Level {
            start: 0,
            header_end: ext.header_len as u32,
            end: ext.end as u32,
        };
        Ok(Cursor {
            pkt,
            levels,
            depth: 1,
            _stack: PhantomData,
        })
    }
}

impl<'p, H: Header, S> Cursor<'p, H, S> {
    #[inline]
    fn level(&self) -> Level {
        self.levels[self.depth as usize - 1]
    }

    /// The current header (and everything after it, up to its unit's end).
    #[inline]
    pub fn header(&self) -> H::View<&[u8]> {
        let l = self.level();
        H::view(&self.pkt.data()[l.start as usize..l.end as usize])
    }

    /// The current header, writable.
    #[inline]
    pub fn header_mut(&mut self) -> H::View<&mut [u8]> {
        let l = self.level();
        H::view(&mut self.pkt.data_mut()[l.start as usize..l.end as usize])
    }

    /// The bytes after the current header, up to the end of its unit.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let l = self.level();
        &self.pkt.data()[l.header_end as usize..l.end as usize]
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = self.level();
        &mut self.pkt.data_mut()[l.header_end as usize..l.end as usize]
    }

    /// Offset of the current header from the start of the packet.
    pub fn offset(&self) -> usize {
        self.level().start as usize
    }

    /// Length of the current header.
    pub fn header_len(&self) -> usize {
        let l = self.level();
        (l.header_end - l.start) as usize
    }

    /// The whole packet (metadata, raw bytes).
    #[inline]
    pub fn packet(&self) -> &Packet {
        self.pkt
    }

    /// The whole packet, writable. Changing its length does not update the
    /// cursor: re-parse afterwards.
    #[inline]
    pub fn packet_mut(&mut self) -> &mut Packet {
        self.pkt
    }

    /// Whether the current header carries an `N` (without moving to it).
    #[inline]
    pub fn is<N: Header>(&self) -> bool
    where
        H: Carries<N>,
    {
        let l = self.level();
        H::locate(&self.pkt.data()[l.start as usize..l.end as usize]).is_some()
    }

    /// Moves to the header carried by this one.
    #[inline]
    pub fn parse<N: Header>(self) -> Result<Cursor<'p, N, (H, S)>, ParseError>
    where
        H: Carries<N>,
    {
        let l = self.level();
        if self.depth as usize == MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        let data = &self.pkt.data()[l.start as usize..l.end as usize];
        let off = H::locate(data).ok_or(ParseError::NotCarried)?;
        let rest = data.get(off..).ok_or(ParseError::NotCarried)?;
        let ext = N::check(rest).map_err(ParseError::Malformed)?;
        let start = l.start as usize + off;
        let mut levels = self.levels;
        levels[self.depth as usize] = Level {
            start: start as u32,
            header_end: (start + ext.header_len) as u32,
            end: (start + ext.end) as u32,
        };
        Ok(Cursor {
            pkt: self.pkt,
            levels,
            depth: self.depth + 1,
            _stack: PhantomData,
        })
    }
}

impl<'p, H: Header, P: Header, R> Cursor<'p, H, (P, R)> {
    /// Moves back to the header below the current one.
    #[inline]
    pub fn deparse(self) -> Cursor<'p, P, R> {
        Cursor {
            pkt: self.pkt,
            levels: self.levels,
            depth: self.depth - 1,
            _stack: PhantomData,
        }
    }
}

/// Why a packet leaves a pipeline early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Verdict(Verdict),
    /// Not for this pipeline: pass unchanged (or try the `or` alternative).
    Skip,
}

impl From<DropReason> for Stop {
    fn from(r: DropReason) -> Self {
        Stop::Verdict(Verdict::drop(r))
    }
}

/// An operator pipeline that yields a cursor at header `H` over stack `S`.
pub trait Op: Sized {
    type H: Header;
    type S;

    /// Runs the pipeline so far on one packet.
    fn run<'p>(
        &mut self,
        pkt: &'p mut Packet,
        ctx: &mut Ctx<'_>,
    ) -> Result<Cursor<'p, Self::H, Self::S>, Stop>;

    /// Moves to the next header; packets that are not an `N` are dropped
    /// (`unsupported`), malformed ones too (`malformed`).
    fn parse<N: Header>(self) -> Parse<Self, N>
    where
        Self::H: Carries<N>,
    {
        Parse {
            parent: self,
            skip_other: false,
            _n: PhantomData,
        }
    }

    /// Moves to the next header; packets that are not an `N` skip the rest
    /// of the pipeline (malformed `N`s are still dropped).
    fn parse_or_skip<N: Header>(self) -> Parse<Self, N>
    where
        Self::H: Carries<N>,
    {
        Parse {
            parent: self,
            skip_other: true,
            _n: PhantomData,
        }
    }

    /// Moves back to the previous header.
    fn deparse<P: Header, R>(self) -> Deparse<Self>
    where
        Self: Op<S = (P, R)>,
    {
        Deparse { parent: self }
    }

    /// Changes the packet (headers, payload, metadata) in place.
    fn transform<F>(self, f: F) -> Transform<Self, F>
    where
        F: FnMut(&mut Cursor<'_, Self::H, Self::S>, &mut Ctx<'_>),
    {
        Transform { parent: self, f }
    }

    /// Like `transform`, but may stop the packet (drop it, send it to an
    /// output, or skip) by returning `Err`.
    fn try_transform<F>(self, f: F) -> TryTransform<Self, F>
    where
        F: FnMut(&mut Cursor<'_, Self::H, Self::S>, &mut Ctx<'_>) -> Result<(), Stop>,
    {
        TryTransform { parent: self, f }
    }

    /// Looks at the packet without changing it (counting, logging).
    fn map<F>(self, f: F) -> Map<Self, F>
    where
        F: FnMut(&Cursor<'_, Self::H, Self::S>, &mut Ctx<'_>),
    {
        Map { parent: self, f }
    }

    /// Keeps packets for which `f` is true; drops the rest, counted under `reason`.
    fn filter<F>(self, f: F, reason: DropReason) -> Filter<Self, F>
    where
        F: FnMut(&Cursor<'_, Self::H, Self::S>, &mut Ctx<'_>) -> bool,
    {
        Filter {
            parent: self,
            f,
            reason,
        }
    }

    /// Sends a copy of each packet to `output`, and continues with the original.
    fn tee(self, output: u16) -> Tee<Self> {
        Tee {
            parent: self,
            output,
        }
    }

    /// Lets `f` generate a packet per packet seen (an ARP reply, an ICMP
    /// error), sent on `output`; the original continues.
    fn emit<F>(self, output: u16, f: F) -> Emit<Self, F>
    where
        F: FnMut(&Cursor<'_, Self::H, Self::S>, &mut Ctx<'_>) -> Option<Packet>,
    {
        Emit {
            parent: self,
            output,
            f,
        }
    }

    /// Ends the pipeline by splitting packets over `n` outputs: `f` returns
    /// the output (`>= n` drops the packet as `unconnected`).
    fn group_by<F>(self, n: u16, f: F) -> GroupBy<Self, F>
    where
        F: FnMut(&Cursor<'_, Self::H, Self::S>, &mut Ctx<'_>) -> u16,
    {
        GroupBy { parent: self, n, f }
    }

    /// Ends the pipeline: surviving packets leave on output 0.
    fn done(self) -> Done<Self> {
        Done { parent: self }
    }

    /// Marks the NF boundary: the pipeline becomes an [`Nf`] the runtime can
    /// chain with others.
    fn compose(self) -> Composed<Done<Self>> {
        Composed {
            terminal: Done { parent: self },
        }
    }
}

/// A finished pipeline: decides one packet's verdict.
pub trait Terminal: Sized {
    /// The verdict for one packet; `Err(Stop::Skip)` if the pipeline did not
    /// apply to it.
    fn decide(&mut self, pkt: &mut Packet, ctx: &mut Ctx<'_>) -> Result<Verdict, Stop>;

    /// Packets this pipeline skips go to `other` instead.
    fn or<B: Terminal>(self, other: B) -> Or<Self, B> {
        Or {
            first: self,
            second: other,
        }
    }

    fn compose(self) -> Composed<Self> {
        Composed { terminal: self }
    }
}

/// The start of every pipeline: the packet parsed as `H`.
pub struct Start<H>(PhantomData<fn() -> H>);

/// A pipeline over Ethernet frames.
pub fn ethernet() -> Start<Ethernet> {
    Start(PhantomData)
}

/// A pipeline over packets that start with header `H` (e.g. IPv4 on a TUN port).
pub fn start<H: Header>() -> Start<H> {
    Start(PhantomData)
}

impl<H: Header> Op for Start<H> {
    type H = H;
    type S = ();
    #[inline(always)]
    fn run<'p>(
        &mut self,
        pkt: &'p mut Packet,
        _ctx: &mut Ctx<'_>,
    ) -> Result<Cursor<'p, H, ()>, Stop> {
        Cursor::new(pkt).map_err(|e| e.drop_reason().into())
    }
}

pub struct Parse<P, N> {
    parent: P,
    skip_other: bool,
    _n: PhantomData<fn() -> N>,
}

impl<P: Op, N: Header> Op for Parse<P, N>
where
    P::H: Carries<N>,
{
    type H = N;
    type S = (P::H, P::S);
    #[inline(always)]
    fn run<'p>(
        &mut self,
        pkt: &'p mut Packet,
        ctx: &mut Ctx<'_>,
    ) -> Result<Cursor<'p, N, Self::S>, Stop> {
        match self.parent.run(pkt, ctx)?.parse::<N>() {
            Ok(c) => Ok(c),
            Err(ParseError::NotCarried) if self.skip_other => Err(Stop::Skip),
            Err(e) => Err(e.drop_reason().into()),
        }
    }
}

pub struct Deparse<P> {
    parent: P,
}

impl<P, H: Header, R> Op for Deparse<P>
where
    P: Op<S = (H, R)>,
{
    type H = H;
    type S = R;
    #[inline(always)]
    fn run<'p>(
        &mut self,
        pkt: &'p mut Packet,
        ctx: &mut Ctx<'_>,
    ) -> Result<Cursor<'p, H, R>, Stop> {
        Ok(self.parent.run(pkt, ctx)?.deparse())
    }
}

pub struct Transform<P, F> {
    parent: P,
    f: F,
}

impl<P: Op, F> Op for Transform<P, F>
where
    F: FnMut(&mut Cursor<'_, P::H, P::S>, &mut Ctx<'_>),
{
    type H = P::H;
    type S = P::S;
    #[inline(always)]
    fn run<'p>(
        &mut self,
        pkt: &'p mut Packet,
        ctx: &mut Ctx<'_>,
    ) -> Result<Cursor<'p, P::H, P::S>, Stop> {
        let mut c = self.parent.run(pkt, ctx)?;
        (self.f)(&mut c, ctx);
        Ok(c)
    }
}

pub struct TryTransform<P, F> {
    parent: P,
    f: F,
}

impl<P: Op, F> Op for TryTransform<P, F>
where
    F: FnMut(&mut Cursor<'_, P::H, P::S>, &mut Ctx<'_>) -> Result<(), Stop>,
{
    type H = P::H;
    type S = P::S;
    #[inline(always)]
    fn run<'p>(
        &mut self,
        pkt: &'p mut Packet,
        ctx: &mut Ctx<'_>,
    ) -> Result<Cursor<'p, P::H, P::S>, Stop> {
        let mut c = self.parent.run(pkt, ctx)?;
        (self.f)(&mut c, ctx)?;
        Ok(c)
    }
}

pub struct Map<P, F> {
    parent: P,
    f: F,
}

impl<P: Op, F> Op for Map<P, F>
where
    F: FnMut(&Cursor<'_, P::H, P::S>, &mut Ctx<'_>),
{
    type H = P::H;
    type S = P::S;
    #[inline(always)]
    fn run<'p>(
        &mut self,
        pkt: &'p mut Packet,
        ctx: &mut Ctx<'_>,
    ) -> Result<Cursor<'p, P::H, P::S>, Stop> {
        let c = self.parent.run(pkt, ctx)?;
        (self.f)(&c, ctx);
        Ok(c)
    }
}

pub struct Filter<P, F> {
    parent: P,
    f: F,
    reason: DropReason,
}

impl<P: Op, F> Op for Filter<P, F>
where
    F: FnMut(&Cursor<'_, P::H, P::S>, &mut Ctx<'_>) -> bool,
{
    type H = P::H;
    type S = P::S;
    #[inline(always)]
    fn run<'p>(
        &mut self,
        pkt: &'p mut Packet,
        ctx: &mut Ctx<'_>,
    ) -> Result<Cursor<'p, P::H, P::S>, Stop> {
        let c = self.parent.run(pkt, ctx)?;
        if (self.f)(&c, ctx) {
            Ok(c)
        } else {
            Err(self.reason.into())
        }
    }
}

pub struct Tee<P> {
    parent: P,
    output: u16,
}

impl<P: Op> Op for Tee<P> {
    type H = P::H;
    type S = P::S;
    #[inline(always)]
    fn run<'p>(
        &mut self,
        pkt: &'p mut Packet,
        ctx: &mut Ctx<'_>,
    ) -> Result<Cursor<'p, P::H, P::S>, Stop> {
        let c = self.parent.run(pkt, ctx)?;
        match c.packet().copy() {
            Some(copy) => ctx.emit(self.output, copy),
            None => ctx.count_lost(DropReason::PoolExhausted),
        }
        Ok(c)
    }
}

pub struct Emit<P, F> {
    parent: P,
    output: u16,
    f: F,
}

impl<P: Op, F> Op for Emit<P, F>
where
    F: FnMut(&Cursor<'_, P::H, P::S>, &mut Ctx<'_>) -> Option<Packet>,
{
    type H = P::H;
    type S = P::S;
    #[inline(always)]
    fn run<'p>(
        &mut self,
        pkt: &'p mut Packet,
        ctx: &mut Ctx<'_>,
    ) -> Result<Cursor<'p, P::H, P::S>, Stop> {
        let c = self.parent.run(pkt, ctx)?;
        if let Some(new) = (self.f)(&c, ctx) {
            ctx.emit(self.output, new);
        }
        Ok(c)
    }
}

pub struct GroupBy<P, F> {
    parent: P,
    n: u16,
    f: F,
}

impl<P: Op, F> Terminal for GroupBy<P, F>
where
    F: FnMut(&Cursor<'_, P::H, P::S>, &mut Ctx<'_>) -> u16,
{
    #[inline(always)]
    fn decide(&mut self, pkt: &mut Packet, ctx: &mut Ctx<'_>) -> Result<Verdict, Stop> {
        let c = self.parent.run(pkt, ctx)?;
        let k = (self.f)(&c, ctx);
        Ok(if k < self.n {
            Verdict::forward(k)
        } else {
            Verdict::drop(DropReason::Unconnected)
        })
    }
}

pub struct Done<P> {
    parent: P,
}

impl<P: Op> Terminal for Done<P> {
    #[inline(always)]
    fn decide(&mut self, pkt: &mut Packet, ctx: &mut Ctx<'_>) -> Result<Verdict, Stop> {
        self.parent.run(pkt, ctx).map(|_| Verdict::PASS)
    }
}

pub struct Or<A, B> {
    first: A,
    second: B,
}

impl<A: Terminal, B: Terminal> Terminal for Or<A, B> {
    #[inline(always)]
    fn decide(&mut self, pkt: &mut Packet, ctx: &mut Ctx<'_>) -> Result<Verdict, Stop> {
        match self.first.decide(pkt, ctx) {
            Err(Stop::Skip) => self.second.decide(pkt, ctx),
            other => other,
        }
    }
}

/// A pipeline turned into an NF: runs the terminal on every packet of the
/// batch and records the verdicts.
pub struct Composed<T> {
    terminal: T,
}

impl<T: Terminal + 'static> Nf for Composed<T> {
    fn counts_bytes(&self) -> bool {
        true
    }

    #[inline]
    fn process(&mut self, _input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        let (pkts, verdicts) = batch.split_mut();
        for (pkt, verdict) in pkts.iter_mut().zip(verdicts.iter_mut()) {
            ctx.count_bytes(pkt.len());
            *verdict = match self.terminal.decide(pkt, ctx) {
                Ok(v) | Err(Stop::Verdict(v)) => v,
                Err(Stop::Skip) => Verdict::PASS,
            };
        }
    }
}

macro_rules! no_debug {
    ($($t:ident<$($g:ident),*>),*) => {$(
        impl<$($g),*> std::fmt::Debug for $t<$($g),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($t))
            }
        }
    )*};
}
no_debug!(
    Start<H>, Parse<P, N>, Deparse<P>, Transform<P, F>, TryTransform<P, F>, Map<P, F>, Filter<P, F>, Tee<P>,
    Emit<P, F>, GroupBy<P, F>, Done<P>, Or<A, B>, Composed<T>
);

impl<H: Header, S> std::fmt::Debug for Cursor<'_, H, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("header", &H::NAME)
            .field("offset", &self.offset())
            .finish()
    }
}
