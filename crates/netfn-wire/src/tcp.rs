//! TCP segments (RFC 9293).
//!
//! Invariant of a checked [`TcpPacket`]: `5 <= data offset` and the
//! header (options included) fits the buffer. TCP has no length field: the
//! segment is the whole buffer, so a view must be trimmed to the IP payload
//! (which `netfn-core` does with [`crate::Extent::end`]) before checksums are
//! computed. The options iterator yields an error for garbage and then stops;
//! it never panics and never reads past the header.

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign, Not};
use core::str::FromStr;
use std::net::IpAddr;

use crate::bytes::{malformed, read_u16, read_u32, truncated, write_u16, write_u32};
use crate::checksum;
use crate::udp::addr_octets;
use crate::{Error, Extent, Header, IpProtocol};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Longest TCP header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;

/// The eight TCP control bits, as a small bit set.
///
/// Display prints one letter per set flag in the order `F S R P A U E C`
/// (`SA` for a SYN-ACK, `-` for none); `FromStr` reads the same letters in
/// any order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN-Echo.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion Window Reduced.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    const LETTERS: [(TcpFlags, char); 8] = [
        (Self::FIN, 'F'),
        (Self::SYN, 'S'),
        (Self::RST, 'R'),
        (Self::PSH, 'P'),
        (Self::ACK, 'A'),
        (Self::URG, 'U'),
        (Self::ECE, 'E'),
        (Self::CWR, 'C'),
    ];

    /// No flag set.
    pub const fn empty() -> Self {
        TcpFlags(0)
    }
    /// From the raw flags byte.
    pub const fn from_bits(bits: u8) -> Self {
        TcpFlags(bits)
    }
    /// The raw flags byte.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// No flag set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// All flags of `other` are set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Any flag of `other` is set.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }
    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }
    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl Not for TcpFlags {
    type Output = TcpFlags;
    fn not(self) -> TcpFlags {
        TcpFlags(!self.0)
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        for (flag, letter) in Self::LETTERS {
            if self.contains(flag) {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpFlags({self})")
    }
}

/// Why a string is not a set of TCP flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid TCP flags {0:?}: expected letters from FSRPAUEC, or '-' for none")]
pub struct TcpFlagsParseError(char);

impl FromStr for TcpFlags {
    type Err = TcpFlagsParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut flags = TcpFlags::empty();
        if s == "-" {
            return Ok(flags);
        }
        for c in s.chars() {
            let upper = c.to_ascii_uppercase();
            let (flag, _) = Self::LETTERS
                .iter()
                .find(|(_, l)| *l == upper)
                .ok_or(TcpFlagsParseError(c))?;
            flags.insert(*flag);
        }
        Ok(flags)
    }
}

/// Marker for the TCP header; its view is [`TcpPacket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tcp;

impl Header for Tcp {
    const NAME: &'static str = "tcp";
    type View<T: AsRef<[u8]>> = TcpPacket<T>;

    fn check(buf: &[u8]) -> Result<Extent, Error> {
        if buf.len() < HEADER_LEN {
            return Err(truncated(Self::NAME, HEADER_LEN, buf.len()));
        }
        let header_len = usize::from(buf[field::DATA_OFFSET] >> 4) * 4;
        if header_len < HEADER_LEN {
            return Err(malformed(Self::NAME, "data offset below 5"));
        }
        if buf.len() < header_len {
            return Err(truncated(Self::NAME, header_len, buf.len()));
        }
        Ok(Extent {
            header_len,
            end: buf.len(),
        })
    }

    fn view<T: AsRef<[u8]>>(buf: T) -> TcpPacket<T> {
        TcpPacket::new_unchecked(buf)
    }
}

/// A view over a TCP segment (header, options and payload).
#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without checking; accessors may panic if it is shorter
    /// than 20 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps `buffer` after [`Tcp::check`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        Tcp::check(buffer.as_ref())?;
        Ok(Self::new_unchecked(buffer))
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole segment.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        read_u16(self.buf(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buf(), field::DST_PORT)
    }

    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buf(), field::SEQ)
    }

    /// Acknowledgment number (meaningful when ACK is set).
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buf(), field::ACK)
    }

    /// Data offset field, in 32-bit words.
    pub fn data_offset(&self) -> u8 {
        self.buf()[field::DATA_OFFSET] >> 4
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.data_offset()) * 4
    }

    /// The control bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buf()[field::FLAGS])
    }

    /// Receive window (unscaled).
    pub fn window(&self) -> u16 {
        read_u16(self.buf(), field::WINDOW)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buf(), field::CHECKSUM)
    }

    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        read_u16(self.buf(), field::URGENT)
    }

    fn header_end(&self) -> usize {
        self.header_len().clamp(HEADER_LEN, self.buf().len())
    }

    /// Raw option bytes.
    pub fn options_bytes(&self) -> &[u8] {
        &self.buf()[HEADER_LEN..self.header_end()]
    }

    /// Iterator over the options.
    pub fn options(&self) -> TcpOptions<'_> {
        TcpOptions::new(self.options_bytes())
    }

    /// The payload (everything after the header).
    pub fn payload(&self) -> &[u8] {
        &self.buf()[self.header_end()..]
    }

    fn compute_checksum(&self, src: IpAddr, dst: IpAddr) -> u16 {
        let data = self.buf();
        let pseudo = checksum::pseudo_header(src, dst, IpProtocol::Tcp, data.len() as u32);
        !checksum::fold(pseudo + checksum::sum(data))
    }

    /// Checks the checksum against the pseudo-header of `src`/`dst`.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        self.compute_checksum(src, dst) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the source port (checksum untouched).
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buf_mut(), field::SRC_PORT, port);
    }

    /// Sets the destination port (checksum untouched).
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buf_mut(), field::DST_PORT, port);
    }

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, seq: u32) {
        write_u32(self.buf_mut(), field::SEQ, seq);
    }

    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, ack: u32) {
        write_u32(self.buf_mut(), field::ACK, ack);
    }

    /// Sets the data offset in 32-bit words (the reserved bits are kept).
    pub fn set_data_offset(&mut self, words: u8) {
        let b = &mut self.buf_mut()[field::DATA_OFFSET];
        *b = (*b & 0x0f) | (words << 4);
    }

    /// Sets the control bits.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buf_mut()[field::FLAGS] = flags.0;
    }

    /// Sets the window.
    pub fn set_window(&mut self, window: u16) {
        write_u16(self.buf_mut(), field::WINDOW, window);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buf_mut(), field::CHECKSUM, checksum);
    }

    /// Sets the urgent pointer.
    pub fn set_urgent(&mut self, urgent: u16) {
        write_u16(self.buf_mut(), field::URGENT, urgent);
    }

    /// Raw option bytes, mutable.
    pub fn options_bytes_mut(&mut self) -> &mut [u8] {
        let end = self.header_end();
        &mut self.buf_mut()[HEADER_LEN..end]
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_end();
        &mut self.buf_mut()[start..]
    }

    /// Computes and writes the checksum over pseudo-header and segment.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        self.set_checksum(0);
        let csum = self.compute_checksum(src, dst);
        self.set_checksum(csum);
    }

    /// Sets the source port and patches the checksum.
    pub fn update_src_port(&mut self, port: u16) {
        let old = self.src_port();
        self.set_src_port(port);
        self.set_checksum(checksum::update16(self.checksum(), old, port));
    }

    /// Sets the destination port and patches the checksum.
    pub fn update_dst_port(&mut self, port: u16) {
        let old = self.dst_port();
        self.set_dst_port(port);
        self.set_checksum(checksum::update16(self.checksum(), old, port));
    }

    /// Sets the sequence number and patches the checksum (sequence
    /// rewriting proxies).
    pub fn update_seq_number(&mut self, seq: u32) {
        let old = self.seq_number();
        self.set_seq_number(seq);
        self.set_checksum(checksum::update32(self.checksum(), old, seq));
    }

    /// Sets the acknowledgment number and patches the checksum.
    pub fn update_ack_number(&mut self, ack: u32) {
        let old = self.ack_number();
        self.set_ack_number(ack);
        self.set_checksum(checksum::update32(self.checksum(), old, ack));
    }

    /// Patches the checksum for an address change in the pseudo-header
    /// (NAT): call once per changed address.
    pub fn update_checksum_for_addr(&mut self, old: IpAddr, new: IpAddr) {
        let csum = match (old, new) {
            (IpAddr::V4(o), IpAddr::V4(n)) => {
                checksum::update32(self.checksum(), o.to_bits(), n.to_bits())
            }
            (o, n) => checksum::update_bytes(self.checksum(), &addr_octets(&o), &addr_octets(&n)),
        };
        self.set_checksum(csum);
    }
}

mod option_kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// One TCP option. Unknown kinds keep their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0); the iterator stops after it.
    EndOfList,
    /// No-operation padding (kind 1).
    NoOperation,
    /// Maximum segment size (kind 2).
    MaxSegmentSize(u16),
    /// Window scale shift count (kind 3).
    WindowScale(u8),
    /// SACK permitted (kind 4).
    SackPermitted,
    /// Selective acknowledgment blocks (kind 5).
    Sack(SackBlocks<'a>),
    /// Timestamps (kind 8).
    Timestamps {
        /// Sender's timestamp value.
        tsval: u32,
        /// Echoed timestamp.
        tsecr: u32,
    },
    /// Any other kind, with the bytes after kind and length.
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option data (without kind and length bytes).
        data: &'a [u8],
    },
}

impl TcpOption<'_> {
    /// Bytes this option occupies.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(blocks) => 2 + blocks.0.len(),
            TcpOption::Timestamps { .. } => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buf` and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let len = self.buffer_len();
        crate::bytes::ensure_room(buf, len)?;
        let len_byte =
            u8::try_from(len).map_err(|_| malformed(Tcp::NAME, "option longer than 255 bytes"))?;
        match *self {
            TcpOption::EndOfList => buf[0] = option_kind::END,
            TcpOption::NoOperation => buf[0] = option_kind::NOP,
            TcpOption::MaxSegmentSize(mss) => {
                buf[..2].copy_from_slice(&[option_kind::MSS, 4]);
                write_u16(buf, 2, mss);
            }
            TcpOption::WindowScale(shift) => {
                buf[..3].copy_from_slice(&[option_kind::WINDOW_SCALE, 3, shift]);
            }
            TcpOption::SackPermitted => buf[..2].copy_from_slice(&[option_kind::SACK_PERMITTED, 2]),
            TcpOption::Sack(blocks) => {
                buf[..2].copy_from_slice(&[option_kind::SACK, len_byte]);
                buf[2..len].copy_from_slice(blocks.0);
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                buf[..2].copy_from_slice(&[option_kind::TIMESTAMPS, 10]);
                write_u32(buf, 2, tsval);
                write_u32(buf, 6, tsecr);
            }
            TcpOption::Unknown { kind, data } => {
                buf[..2].copy_from_slice(&[kind, len_byte]);
                buf[2..len].copy_from_slice(data);
            }
        }
        Ok(len)
    }
}

/// The blocks of a SACK option: pairs of (left edge, right edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SackBlocks<'a>(&'a [u8]);

impl<'a> SackBlocks<'a> {
    /// Wraps raw block bytes; fails unless a whole number (1 to 4) of
    /// 8-byte blocks.
    pub fn new(bytes: &'a [u8]) -> Result<Self, Error> {
        if bytes.is_empty() || !bytes.len().is_multiple_of(8) || bytes.len() > 32 {
            return Err(malformed(
                Tcp::NAME,
                "SACK option is not 1 to 4 blocks of 8 bytes",
            ));
        }
        Ok(SackBlocks(bytes))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.0.len() / 8
    }

    /// No blocks (never true for a parsed option).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The (left, right) edges of each block.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32)> + 'a {
        self.0
            .chunks_exact(8)
            .map(|b| (read_u32(b, 0), read_u32(b, 4)))
    }
}

/// Iterator over TCP options. Yields `Err` once for a malformed option
/// (length below 2, past the header, or wrong for its kind) and then ends.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptions<'a> {
    /// Iterates over raw option bytes.
    pub fn new(bytes: &'a [u8]) -> Self {
        TcpOptions { rest: bytes }
    }

    fn parse_one(&mut self) -> Result<TcpOption<'a>, Error> {
        let kind = self.rest[0];
        match kind {
            option_kind::END => {
                self.rest = &[];
                return Ok(TcpOption::EndOfList);
            }
            option_kind::NOP => {
                self.rest = &self.rest[1..];
                return Ok(TcpOption::NoOperation);
            }
            _ => {}
        }
        let Some(&len) = self.rest.get(1) else {
            return Err(truncated(Tcp::NAME, 2, self.rest.len()));
        };
        let len = usize::from(len);
        if len < 2 {
            return Err(malformed(Tcp::NAME, "option length below 2"));
        }
        if len > self.rest.len() {
            return Err(truncated(Tcp::NAME, len, self.rest.len()));
        }
        let data = &self.rest[2..len];
        self.rest = &self.rest[len..];
        let wrong = || malformed(Tcp::NAME, "option length wrong for its kind");
        Ok(match kind {
            option_kind::MSS => {
                if data.len() != 2 {
                    return Err(wrong());
                }
                TcpOption::MaxSegmentSize(read_u16(data, 0))
            }
            option_kind::WINDOW_SCALE => {
                if data.len() != 1 {
                    return Err(wrong());
                }
                TcpOption::WindowScale(data[0])
            }
            option_kind::SACK_PERMITTED => {
                if !data.is_empty() {
                    return Err(wrong());
                }
                TcpOption::SackPermitted
            }
            option_kind::SACK => TcpOption::Sack(SackBlocks::new(data)?),
            option_kind::TIMESTAMPS => {
                if data.len() != 8 {
                    return Err(wrong());
                }
                TcpOption::Timestamps {
                    tsval: read_u32(data, 0),
                    tsecr: read_u32(data, 4),
                }
            }
            kind => TcpOption::Unknown { kind, data },
        })
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = self.parse_one();
        if item.is_err() {
            self.rest = &[];
        }
        Some(item)
    }
}

/// The fields of a TCP header. Options are kept as raw bytes (build them
/// with [`TcpOption::emit`]); `emit` pads them with zeros (End of List) to
/// a multiple of 4 and writes a zero checksum: call
/// [`TcpPacket::fill_checksum`] once the payload is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgment number.
    pub ack_number: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// Window.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Raw option bytes, at most 40.
    pub options: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Reads the header of a segment, checking it first.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &TcpPacket<&'a T>) -> Result<Self, Error> {
        let bytes: &'a [u8] = packet.buffer.as_ref();
        Tcp::check(bytes)?;
        let header_len = usize::from(bytes[field::DATA_OFFSET] >> 4) * 4;
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window(),
            urgent: packet.urgent(),
            options: &bytes[HEADER_LEN..header_len],
        })
    }

    /// Header length: 20 plus the options rounded up to 4 bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN + self.options.len().div_ceil(4) * 4
    }

    /// Header plus `payload_len` bytes.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len
    }

    /// Writes the header (checksum 0) at the start of `packet`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
    ) -> Result<(), Error> {
        let header_len = self.header_len();
        if header_len > MAX_HEADER_LEN {
            return Err(malformed(Tcp::NAME, "more than 40 bytes of options"));
        }
        crate::bytes::ensure_room(packet.as_bytes(), header_len)?;
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number);
        packet.buf_mut()[field::DATA_OFFSET] = (header_len as u8 / 4) << 4;
        packet.set_flags(self.flags);
        packet.set_window(self.window);
        packet.set_checksum(0);
        packet.set_urgent(self.urgent);
        let opts = &mut packet.buf_mut()[HEADER_LEN..header_len];
        opts[..self.options.len()].copy_from_slice(self.options);
        opts[self.options.len()..].fill(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    // A SYN from a Linux client (tcpdump -x), 10.0.0.1:51234 -> 10.0.0.2:80:
    // MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
    const SYN: [u8; 40] = [
        0xc8, 0x22, 0x00, 0x50, 0x3a, 0x5e, 0x13, 0x6b, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x9d,
        0x2e, 0x1a, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];
    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn parse_syn() {
        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.src_port(), 51234);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq_number(), 0x3a5e136b);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), TcpFlags::SYN);
        assert_eq!(p.window(), 64240);
        let opts: Vec<_> = p.options().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            opts,
            [
                TcpOption::MaxSegmentSize(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    tsval: 0x009d2e1a,
                    tsecr: 0
                },
                TcpOption::NoOperation,
                TcpOption::WindowScale(7),
            ]
        );
        assert!(p.payload().is_empty());
    }

    #[test]
    fn checksum_and_updates() {
        let mut bytes = SYN;
        let mut p = TcpPacket::new_checked(&mut bytes[..]).unwrap();
        p.fill_checksum(SRC.into(), DST.into());
        assert!(p.verify_checksum(SRC.into(), DST.into()));
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&SRC.octets());
        pseudo.extend_from_slice(&DST.octets());
        pseudo.extend_from_slice(&[0, 6, 0, 40]);
        pseudo.extend_from_slice(p.as_bytes());
        assert_eq!(checksum::checksum(&pseudo), 0);

        let new_src = Ipv4Addr::new(203, 0, 113, 7);
        p.update_src_port(1024);
        p.update_dst_port(8080);
        p.update_seq_number(7);
        p.update_ack_number(0xffff_fffe);
        p.update_checksum_for_addr(SRC.into(), new_src.into());
        assert!(p.verify_checksum(new_src.into(), DST.into()));
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        p.update_checksum_for_addr(new_src.into(), v6);
        assert!(p.verify_checksum(v6, DST.into()));
    }

    #[test]
    fn check_rejects_bad_offsets() {
        for len in 0..40 {
            assert!(Tcp::check(&SYN[..len]).is_err(), "{len}");
        }
        let mut bad = SYN;
        bad[12] = 0x40;
        assert!(matches!(Tcp::check(&bad), Err(Error::Malformed { .. })));
    }

    #[test]
    fn garbage_options_end_with_one_error() {
        let cases: [&[u8]; 6] = [
            &[2],
            &[2, 0],
            &[2, 1, 0, 0],
            &[2, 3, 1],
            &[5, 4, 0, 0],
            &[99, 9, 1],
        ];
        for case in cases {
            let items: Vec<_> = TcpOptions::new(case).collect();
            assert_eq!(items.len(), 1, "{case:?}");
            assert!(items[0].is_err(), "{case:?}");
        }
        let items: Vec<_> = TcpOptions::new(&[1, 0, 2, 4]).collect();
        assert_eq!(
            items,
            [Ok(TcpOption::NoOperation), Ok(TcpOption::EndOfList)]
        );
        let unknown: Vec<_> = TcpOptions::new(&[30, 4, 0xab, 0xcd]).collect();
        assert_eq!(
            unknown,
            [Ok(TcpOption::Unknown {
                kind: 30,
                data: &[0xab, 0xcd]
            })]
        );
    }

    #[test]
    fn option_emit_round_trip() {
        let sack = [0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 1, 0, 0, 0, 2, 0];
        let options = [
            TcpOption::NoOperation,
            TcpOption::MaxSegmentSize(9000),
            TcpOption::WindowScale(14),
            TcpOption::SackPermitted,
            TcpOption::Sack(SackBlocks::new(&sack).unwrap()),
            TcpOption::Timestamps { tsval: 1, tsecr: 2 },
            TcpOption::Unknown {
                kind: 254,
                data: &[1, 2, 3],
            },
            TcpOption::EndOfList,
        ];
        let mut buf = [0u8; 64];
        let mut at = 0;
        for o in &options {
            at += o.emit(&mut buf[at..]).unwrap();
        }
        let parsed: Vec<_> = TcpOptions::new(&buf[..at])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(parsed, options);
        let TcpOption::Sack(blocks) = parsed[4] else {
            unreachable!()
        };
        assert_eq!(blocks.iter().collect::<Vec<_>>(), [(1, 9), (256, 512)]);
    }

    #[test]
    fn flags_text() {
        assert_eq!((TcpFlags::SYN | TcpFlags::ACK).to_string(), "SA");
        assert_eq!(TcpFlags::empty().to_string(), "-");
        assert_eq!(TcpFlags::from_bits(0xff).to_string(), "FSRPAUEC");
        assert_eq!(
            "as".parse::<TcpFlags>().unwrap(),
            TcpFlags::SYN | TcpFlags::ACK
        );
        assert_eq!("-".parse::<TcpFlags>().unwrap(), TcpFlags::empty());
        assert!("SX".parse::<TcpFlags>().is_err());
    }

    #[test]
    fn repr_round_trip() {
        let repr = TcpRepr {
            src_port: 443,
            dst_port: 60000,
            seq_number: 1,
            ack_number: 2,
            flags: TcpFlags::ACK | TcpFlags::PSH,
            window: 512,
            urgent: 0,
            options: &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
        };
        let mut buf = [0u8; 36];
        repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]))
            .unwrap();
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p).unwrap(), repr);
        assert_eq!(p.payload().len(), 4);
    }
}
