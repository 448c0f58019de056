//! IPv4 headers (RFC 791) and the IP protocol numbers.
//!
//! Invariants of a checked [`Ipv4Packet`]: version is 4, `ihl >= 5`, and
//! `ihl * 4 <= total_len <= buffer length`. Bytes past `total_len`
//! (Ethernet padding) are neither payload nor checksummed. Setters do not
//! re-check; the slicing accessors clamp so that even a header broken by a
//! setter makes them return short slices, not panic.
//!
//! Two kinds of setters: plain `set_*` leave the header checksum alone
//! (call [`Ipv4Packet::fill_checksum`] after), `update_*` patch it in place
//! per RFC 1624, which is what a router or NAT does per packet.

use core::fmt;
use std::net::Ipv4Addr;

use crate::bytes::{malformed, read_array, read_u16, truncated, write_u16};
use crate::checksum;
use crate::{Error, Extent, Header};

mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;

const FLAG_RESERVED: u16 = 0x8000;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// An IP protocol number (IPv4 protocol, IPv6 next header). Unknown values
/// are kept, so they round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpProtocol {
    /// 0, IPv6 Hop-by-Hop Options.
    HopByHop,
    /// 1.
    Icmp,
    /// 6.
    Tcp,
    /// 17.
    Udp,
    /// 43, IPv6 Routing header.
    Ipv6Route,
    /// 44, IPv6 Fragment header.
    Ipv6Frag,
    /// 47.
    Gre,
    /// 50, IPsec Encapsulating Security Payload.
    Esp,
    /// 51, IPsec Authentication Header.
    Ah,
    /// 58.
    Icmpv6,
    /// 59, IPv6 "no next header".
    Ipv6NoNext,
    /// 60, IPv6 Destination Options.
    Ipv6Opts,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(value: u8) -> Self {
        match value {
            0 => IpProtocol::HopByHop,
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            43 => IpProtocol::Ipv6Route,
            44 => IpProtocol::Ipv6Frag,
            47 => IpProtocol::Gre,
            50 => IpProtocol::Esp,
            51 => IpProtocol::Ah,
            58 => IpProtocol::Icmpv6,
            59 => IpProtocol::Ipv6NoNext,
            60 => IpProtocol::Ipv6Opts,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(value: IpProtocol) -> Self {
        match value {
            IpProtocol::HopByHop => 0,
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Ipv6Route => 43,
            IpProtocol::Ipv6Frag => 44,
            IpProtocol::Gre => 47,
            IpProtocol::Esp => 50,
            IpProtocol::Ah => 51,
            IpProtocol::Icmpv6 => 58,
            IpProtocol::Ipv6NoNext => 59,
            IpProtocol::Ipv6Opts => 60,
            IpProtocol::Unknown(other) => other,
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            IpProtocol::HopByHop => "hopopts",
            IpProtocol::Icmp => "icmp",
            IpProtocol::Tcp => "tcp",
            IpProtocol::Udp => "udp",
            IpProtocol::Ipv6Route => "ipv6-route",
            IpProtocol::Ipv6Frag => "ipv6-frag",
            IpProtocol::Gre => "gre",
            IpProtocol::Esp => "esp",
            IpProtocol::Ah => "ah",
            IpProtocol::Icmpv6 => "icmpv6",
            IpProtocol::Ipv6NoNext => "ipv6-nonxt",
            IpProtocol::Ipv6Opts => "ipv6-opts",
            IpProtocol::Unknown(v) => return write!(f, "proto-{v}"),
        };
        f.write_str(name)
    }
}

/// Marker for the IPv4 header; its view is [`Ipv4Packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ipv4;

impl Header for Ipv4 {
    const NAME: &'static str = "ipv4";
    type View<T: AsRef<[u8]>> = Ipv4Packet<T>;

    fn check(buf: &[u8]) -> Result<Extent, Error> {
        if buf.len() < HEADER_LEN {
            return Err(truncated(Self::NAME, HEADER_LEN, buf.len()));
        }
        if buf[field::VER_IHL] >> 4 != 4 {
            return Err(malformed(Self::NAME, "version is not 4"));
        }
        let header_len = usize::from(buf[field::VER_IHL] & 0x0f) * 4;
        if header_len < HEADER_LEN {
            return Err(malformed(Self::NAME, "header length (ihl) below 5"));
        }
        if buf.len() < header_len {
            return Err(truncated(Self::NAME, header_len, buf.len()));
        }
        let total_len = usize::from(read_u16(buf, field::TOTAL_LEN));
        if total_len < header_len {
            return Err(malformed(Self::NAME, "total length below header length"));
        }
        if buf.len() < total_len {
            return Err(truncated(Self::NAME, total_len, buf.len()));
        }
        Ok(Extent {
            header_len,
            end: total_len,
        })
    }

    fn view<T: AsRef<[u8]>>(buf: T) -> Ipv4Packet<T> {
        Ipv4Packet::new_unchecked(buf)
    }
}

/// A view over an IPv4 packet (header, options and payload).
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without checking; fixed-field accessors may panic if
    /// it is shorter than 20 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps `buffer` after [`Ipv4::check`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        Ipv4::check(buffer.as_ref())?;
        Ok(Self::new_unchecked(buffer))
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole buffer (Ethernet padding included, if any).
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// IP version field (4 in a checked packet).
    pub fn version(&self) -> u8 {
        self.buf()[field::VER_IHL] >> 4
    }

    /// Header length field, in 32-bit words.
    pub fn ihl(&self) -> u8 {
        self.buf()[field::VER_IHL] & 0x0f
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }

    /// Differentiated Services code point (6 bits).
    pub fn dscp(&self) -> u8 {
        self.buf()[field::DSCP_ECN] >> 2
    }

    /// Explicit Congestion Notification (2 bits).
    pub fn ecn(&self) -> u8 {
        self.buf()[field::DSCP_ECN] & 0x03
    }

    /// Total length of header and payload.
    pub fn total_len(&self) -> u16 {
        read_u16(self.buf(), field::TOTAL_LEN)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        read_u16(self.buf(), field::IDENT)
    }

    fn flags_frag(&self) -> u16 {
        read_u16(self.buf(), field::FLAGS_FRAG)
    }

    /// The reserved flag bit (RFC 3514's "evil bit"); kept, not interpreted.
    pub fn reserved_flag(&self) -> bool {
        self.flags_frag() & FLAG_RESERVED != 0
    }

    /// Don't Fragment.
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    /// More Fragments.
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field times 8).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & FRAG_OFFSET_MASK) << 3
    }

    /// Part of a fragmented datagram (MF set or a nonzero offset).
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    /// Offset 0: not a fragment, or the fragment that holds the upper-layer
    /// header.
    pub fn is_first_fragment(&self) -> bool {
        self.flags_frag() & FRAG_OFFSET_MASK == 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buf()[field::TTL]
    }

    /// Protocol of the payload.
    pub fn protocol(&self) -> IpProtocol {
        self.buf()[field::PROTOCOL].into()
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buf(), field::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buf(), field::SRC))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buf(), field::DST))
    }

    fn header_end(&self) -> usize {
        self.header_len().clamp(HEADER_LEN, self.buf().len())
    }

    fn payload_end(&self) -> usize {
        usize::from(self.total_len()).clamp(self.header_end(), self.buf().len())
    }

    /// The header bytes, options included.
    pub fn header(&self) -> &[u8] {
        &self.buf()[..self.header_end()]
    }

    /// Option bytes (between the fixed header and the payload).
    pub fn options(&self) -> &[u8] {
        &self.buf()[HEADER_LEN..self.header_end()]
    }

    /// The payload: from the end of the header to `total_len`, without
    /// Ethernet padding.
    pub fn payload(&self) -> &[u8] {
        &self.buf()[self.header_end()..self.payload_end()]
    }

    /// Checks the header checksum.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.header()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets version 4 and the header length in 32-bit words.
    pub fn set_version_ihl(&mut self, ihl: u8) {
        self.buf_mut()[field::VER_IHL] = 0x40 | (ihl & 0x0f);
    }

    /// Sets the DSCP (low 6 bits used).
    pub fn set_dscp(&mut self, dscp: u8) {
        let b = &mut self.buf_mut()[field::DSCP_ECN];
        *b = (*b & 0x03) | (dscp << 2);
    }

    /// Sets the ECN bits (low 2 bits used).
    pub fn set_ecn(&mut self, ecn: u8) {
        let b = &mut self.buf_mut()[field::DSCP_ECN];
        *b = (*b & 0xfc) | (ecn & 0x03);
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, len: u16) {
        write_u16(self.buf_mut(), field::TOTAL_LEN, len);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, ident: u16) {
        write_u16(self.buf_mut(), field::IDENT, ident);
    }

    fn set_flags_frag(&mut self, value: u16) {
        write_u16(self.buf_mut(), field::FLAGS_FRAG, value);
    }

    fn set_flag(&mut self, flag: u16, on: bool) {
        let v = self.flags_frag();
        self.set_flags_frag(if on { v | flag } else { v & !flag });
    }

    /// Sets or clears the reserved flag bit.
    pub fn set_reserved_flag(&mut self, on: bool) {
        self.set_flag(FLAG_RESERVED, on);
    }

    /// Sets or clears Don't Fragment.
    pub fn set_dont_frag(&mut self, on: bool) {
        self.set_flag(FLAG_DF, on);
    }

    /// Sets or clears More Fragments.
    pub fn set_more_frags(&mut self, on: bool) {
        self.set_flag(FLAG_MF, on);
    }

    /// Sets the fragment offset, in bytes (must be a multiple of 8; the low
    /// three bits are dropped).
    pub fn set_frag_offset(&mut self, offset: u16) {
        let v = self.flags_frag() & !FRAG_OFFSET_MASK;
        self.set_flags_frag(v | (offset >> 3));
    }

    /// Sets the TTL.
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buf_mut()[field::TTL] = ttl;
    }

    /// Sets the protocol.
    pub fn set_protocol(&mut self, protocol: IpProtocol) {
        self.buf_mut()[field::PROTOCOL] = protocol.into();
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buf_mut(), field::CHECKSUM, checksum);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buf_mut()[field::SRC..field::SRC + 4].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buf_mut()[field::DST..field::DST + 4].copy_from_slice(&addr.octets());
    }

    /// Option bytes, mutable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_end();
        &mut self.buf_mut()[HEADER_LEN..end]
    }

    /// The payload, mutable (to `total_len`).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_end(), self.payload_end());
        &mut self.buf_mut()[start..end]
    }

    /// Computes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let csum = checksum::checksum(self.header());
        self.set_checksum(csum);
    }

    /// Sets the TTL and patches the checksum (RFC 1624).
    pub fn update_ttl(&mut self, ttl: u8) {
        let old = read_u16(self.buf(), field::TTL);
        self.set_ttl(ttl);
        let new = read_u16(self.buf(), field::TTL);
        self.set_checksum(checksum::update16(self.checksum(), old, new));
    }

    /// Decrements the TTL, patching the checksum, and returns the new TTL.
    /// A TTL already 0 stays 0 (and the packet is left unchanged): the
    /// caller decides whether 0 means "drop and send Time Exceeded".
    pub fn decrement_ttl(&mut self) -> u8 {
        let ttl = self.ttl();
        if ttl == 0 {
            return 0;
        }
        self.update_ttl(ttl - 1);
        ttl - 1
    }

    /// Sets the DSCP and patches the checksum.
    pub fn update_dscp(&mut self, dscp: u8) {
        let old = read_u16(self.buf(), field::VER_IHL);
        self.set_dscp(dscp);
        let new = read_u16(self.buf(), field::VER_IHL);
        self.set_checksum(checksum::update16(self.checksum(), old, new));
    }

    /// Sets the source address and patches the checksum (NAT). Transport
    /// checksums cover the address too: update them separately.
    pub fn update_src_addr(&mut self, addr: Ipv4Addr) {
        let old = self.src_addr();
        self.set_src_addr(addr);
        let csum = checksum::update32(self.checksum(), old.to_bits(), addr.to_bits());
        self.set_checksum(csum);
    }

    /// Sets the destination address and patches the checksum (NAT).
    pub fn update_dst_addr(&mut self, addr: Ipv4Addr) {
        let old = self.dst_addr();
        self.set_dst_addr(addr);
        let csum = checksum::update32(self.checksum(), old.to_bits(), addr.to_bits());
        self.set_checksum(csum);
    }
}

/// The fields of an IPv4 header without options.
///
/// `parse` ignores options (read them from [`Ipv4Packet::options`]) and does
/// not verify the checksum (use [`Ipv4Packet::verify_checksum`]); `emit`
/// writes a 20-byte header with a correct checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: IpProtocol,
    /// Payload length (total length minus header length).
    pub payload_len: u16,
    /// Time to live.
    pub ttl: u8,
    /// DSCP, 6 bits.
    pub dscp: u8,
    /// ECN, 2 bits.
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// More Fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Reads the header fields of a packet, checking it first.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Self, Error> {
        let extent = Ipv4::check(packet.as_bytes())?;
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: (extent.end - extent.header_len) as u16,
            ttl: packet.ttl(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    /// Length of the header this emits (no options).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len as usize
    }

    /// Writes the header, with its checksum, into the first 20 bytes of
    /// `packet`. Fails if `payload_len` does not fit the total length field.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv4Packet<T>,
    ) -> Result<(), Error> {
        crate::bytes::ensure_room(packet.as_bytes(), HEADER_LEN)?;
        let total = u16::try_from(self.buffer_len())
            .map_err(|_| malformed(Ipv4::NAME, "payload too long for the total length field"))?;
        packet.set_version_ihl(5);
        packet.buf_mut()[field::DSCP_ECN] = (self.dscp << 2) | (self.ecn & 0x03);
        packet.set_total_len(total);
        packet.set_ident(self.ident);
        let mut flags_frag = (self.frag_offset >> 3) & FRAG_OFFSET_MASK;
        if self.dont_frag {
            flags_frag |= FLAG_DF;
        }
        if self.more_frags {
            flags_frag |= FLAG_MF;
        }
        packet.set_flags_frag(flags_frag);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // IPv4/UDP DNS query header (the well-known example with checksum b861),
    // followed by 8 bytes of UDP header and 2 bytes of Ethernet padding.
    fn sample() -> Vec<u8> {
        let mut p = vec![
            0x45, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        p.extend_from_slice(&[0x04, 0xd2, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00]);
        p.extend_from_slice(&[0xee, 0xee]);
        let c = checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn parse_known_packet() {
        let bytes = sample();
        let p = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 28);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert!(!p.is_fragment());
        assert!(p.is_first_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Udp);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(p.payload().len(), 8, "padding excluded");
        assert!(p.verify_checksum());
        assert_eq!(
            Ipv4::check(&bytes).unwrap(),
            Extent {
                header_len: 20,
                end: 28
            }
        );
    }

    #[test]
    fn check_rejects_inconsistent_headers() {
        let good = sample();
        let mut v6 = good.clone();
        v6[0] = 0x65;
        assert!(matches!(Ipv4::check(&v6), Err(Error::Malformed { .. })));
        let mut short_ihl = good.clone();
        short_ihl[0] = 0x44;
        assert!(matches!(
            Ipv4::check(&short_ihl),
            Err(Error::Malformed { .. })
        ));
        let mut long_ihl = good.clone();
        long_ihl[0] = 0x4f; // 60-byte header in a 30-byte buffer
        assert!(matches!(
            Ipv4::check(&long_ihl),
            Err(Error::Truncated { needed: 60, .. })
        ));
        let mut small_total = good.clone();
        small_total[3] = 19;
        assert!(matches!(
            Ipv4::check(&small_total),
            Err(Error::Malformed { .. })
        ));
        let mut big_total = good.clone();
        big_total[3] = 31;
        assert!(matches!(
            Ipv4::check(&big_total),
            Err(Error::Truncated { needed: 31, .. })
        ));
        for len in 0..28 {
            assert!(Ipv4::check(&good[..len]).is_err());
        }
    }

    #[test]
    fn incremental_updates_match_recompute() {
        let mut bytes = sample();
        let mut p = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        assert_eq!(p.decrement_ttl(), 63);
        p.update_src_addr(Ipv4Addr::new(10, 9, 8, 7));
        p.update_dst_addr(Ipv4Addr::new(255, 0, 255, 1));
        p.update_dscp(46);
        let patched = p.checksum();
        p.fill_checksum();
        assert_eq!(patched, p.checksum());
        assert!(p.verify_checksum());
    }

    #[test]
    fn decrement_ttl_stops_at_zero() {
        let mut bytes = sample();
        let mut p = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        p.update_ttl(1);
        assert_eq!(p.decrement_ttl(), 0);
        assert_eq!(p.decrement_ttl(), 0);
        assert_eq!(p.ttl(), 0);
        assert!(p.verify_checksum());
    }

    #[test]
    fn fragments() {
        let mut bytes = sample();
        let mut p = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        p.set_more_frags(true);
        assert!(p.is_fragment() && p.is_first_fragment());
        p.set_frag_offset(1480);
        assert_eq!(p.frag_offset(), 1480);
        assert!(p.is_fragment() && !p.is_first_fragment());
        assert!(p.dont_frag(), "flags kept");
    }

    #[test]
    fn repr_round_trip() {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(1, 2, 3, 4),
            dst_addr: Ipv4Addr::new(5, 6, 7, 8),
            protocol: IpProtocol::Unknown(253),
            payload_len: 4,
            ttl: 17,
            dscp: 46,
            ecn: 2,
            ident: 0xbeef,
            dont_frag: false,
            more_frags: true,
            frag_offset: 64,
        };
        let mut buf = [0u8; 24];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]))
            .unwrap();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr);
    }

    #[test]
    fn protocol_round_trip() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(IpProtocol::from(v)), v);
        }
    }
}
