//! IPv6 headers (RFC 8200) and the extension-header walk.
//!
//! Invariants of a checked [`Ipv6Packet`]: version is 6, `40 +
//! payload_len <= buffer length`, and the extension-header chain parses
//! within the payload: at most [`MAX_EXTENSION_HEADERS`] headers, each
//! inside the packet, Hop-by-Hop only first. The walk stops at the first
//! header it does not step over (upper layers, ESP, No Next Header, anything
//! unknown), so [`Extent::header_len`] is the offset of that header.
//! There is no header checksum; upper layers checksum a pseudo-header.

use std::net::Ipv6Addr;

use crate::bytes::{malformed, read_array, read_u16, read_u32, truncated, write_u16, write_u32};
use crate::{Error, Extent, Header, IpProtocol};

mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;
/// Longest extension-header chain `upper_layer` walks before giving up
/// (a bound against crafted chains that would cost time per packet).
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// What a Fragment extension header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6FragmentInfo {
    /// Offset of this fragment's data in bytes (the field times 8).
    pub offset: u16,
    /// More fragments follow.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
    /// Next header after the Fragment header.
    pub next_header: IpProtocol,
}

/// Result of walking the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Walk {
    protocol: IpProtocol,
    offset: usize,
    fragment: Option<Ipv6FragmentInfo>,
}

/// Walks from the fixed header to the first header it does not step over.
/// `packet` is the IPv6 packet up to its end (40 + payload length).
fn walk(packet: &[u8]) -> Result<Walk, Error> {
    const NAME: &str = "ipv6";
    let mut protocol = IpProtocol::from(packet[field::NEXT_HEADER]);
    let mut offset = HEADER_LEN;
    let mut fragment = None;
    for index in 0..=MAX_EXTENSION_HEADERS {
        let len = match protocol {
            IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts => {
                if protocol == IpProtocol::HopByHop && index != 0 {
                    return Err(malformed(NAME, "hop-by-hop header not first"));
                }
                let Some(&ext_len) = packet.get(offset + 1) else {
                    return Err(truncated(NAME, offset + 2, packet.len()));
                };
                (usize::from(ext_len) + 1) * 8
            }
            IpProtocol::Ipv6Frag => 8,
            IpProtocol::Ah => {
                let Some(&ah_len) = packet.get(offset + 1) else {
                    return Err(truncated(NAME, offset + 2, packet.len()));
                };
                // 12 bytes (next, length, reserved, SPI, sequence) at least.
                if ah_len == 0 {
                    return Err(malformed(NAME, "AH payload length 0"));
                }
                (usize::from(ah_len) + 2) * 4
            }
            _ => {
                return Ok(Walk {
                    protocol,
                    offset,
                    fragment,
                });
            }
        };
        if index == MAX_EXTENSION_HEADERS {
            break;
        }
        if packet.len() < offset + len {
            return Err(truncated(NAME, offset + len, packet.len()));
        }
        let next = IpProtocol::from(packet[offset]);
        if protocol == IpProtocol::Ipv6Frag {
            let off_flags = read_u16(packet, offset + 2);
            fragment = Some(Ipv6FragmentInfo {
                offset: off_flags & 0xfff8,
                more_frags: off_flags & 1 != 0,
                ident: read_u32(packet, offset + 4),
                next_header: next,
            });
        }
        protocol = next;
        offset += len;
    }
    Err(malformed(NAME, "too many extension headers"))
}

/// Marker for the IPv6 header; its view is [`Ipv6Packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ipv6;

impl Header for Ipv6 {
    const NAME: &'static str = "ipv6";
    type View<T: AsRef<[u8]>> = Ipv6Packet<T>;

    /// `header_len` includes the extension headers the walk stepped over.
    fn check(buf: &[u8]) -> Result<Extent, Error> {
        if buf.len() < HEADER_LEN {
            return Err(truncated(Self::NAME, HEADER_LEN, buf.len()));
        }
        if buf[0] >> 4 != 6 {
            return Err(malformed(Self::NAME, "version is not 6"));
        }
        let end = HEADER_LEN + usize::from(read_u16(buf, field::PAYLOAD_LEN));
        if buf.len() < end {
            return Err(truncated(Self::NAME, end, buf.len()));
        }
        let walk = walk(&buf[..end])?;
        Ok(Extent {
            header_len: walk.offset,
            end,
        })
    }

    fn view<T: AsRef<[u8]>>(buf: T) -> Ipv6Packet<T> {
        Ipv6Packet::new_unchecked(buf)
    }
}

/// A view over an IPv6 packet (fixed header, extension headers, payload).
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` without checking; fixed-field accessors may panic if
    /// it is shorter than 40 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps `buffer` after [`Ipv6::check`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        Ipv6::check(buffer.as_ref())?;
        Ok(Self::new_unchecked(buffer))
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole buffer (padding included, if any).
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// IP version field (6 in a checked packet).
    pub fn version(&self) -> u8 {
        self.buf()[0] >> 4
    }

    /// Traffic class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        (read_u32(self.buf(), field::VER_TC_FLOW) >> 20) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        read_u32(self.buf(), field::VER_TC_FLOW) & 0x000f_ffff
    }

    /// Payload length (everything after the fixed header).
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buf(), field::PAYLOAD_LEN)
    }

    /// Next header field of the fixed header.
    pub fn next_header(&self) -> IpProtocol {
        self.buf()[field::NEXT_HEADER].into()
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buf()[field::HOP_LIMIT]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array::<16>(self.buf(), field::SRC))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array::<16>(self.buf(), field::DST))
    }

    fn end(&self) -> usize {
        (HEADER_LEN + usize::from(self.payload_len())).clamp(HEADER_LEN, self.buf().len())
    }

    /// The packet up to its end (no padding).
    pub fn packet(&self) -> &[u8] {
        &self.buf()[..self.end()]
    }

    /// Everything after the fixed header, extension headers included.
    pub fn payload(&self) -> &[u8] {
        &self.buf()[HEADER_LEN..self.end()]
    }

    /// Walks the extension headers: the first protocol that is not one of
    /// them (or that the walk cannot step over: ESP, No Next Header,
    /// unknown) and its offset from the start of the IPv6 header.
    pub fn upper_layer(&self) -> Result<(IpProtocol, usize), Error> {
        let w = walk(self.packet())?;
        Ok((w.protocol, w.offset))
    }

    /// The Fragment header, if the chain has one (and parses).
    pub fn fragment(&self) -> Option<Ipv6FragmentInfo> {
        walk(self.packet()).ok()?.fragment
    }

    /// Has a Fragment header (even an atomic one with offset 0 and no MF).
    pub fn is_fragment(&self) -> bool {
        self.fragment().is_some()
    }

    /// No fragment header, or one with offset 0 (the upper-layer header is
    /// here).
    pub fn is_first_fragment(&self) -> bool {
        self.fragment().is_none_or(|f| f.offset == 0)
    }

    /// The upper-layer offset if the upper layer is `protocol` and this
    /// packet holds its header (not a non-first fragment).
    pub(crate) fn locate_upper(&self, protocol: IpProtocol) -> Option<usize> {
        let w = walk(self.packet()).ok()?;
        let first = w.fragment.is_none_or(|f| f.offset == 0);
        (w.protocol == protocol && first).then_some(w.offset)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    fn set_ver_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let word = (6 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        write_u32(self.buf_mut(), field::VER_TC_FLOW, word);
    }

    /// Sets version 6 (the version field is not writable otherwise).
    pub fn set_version(&mut self) {
        let (tc, fl) = (self.traffic_class(), self.flow_label());
        self.set_ver_tc_flow(tc, fl);
    }

    /// Sets the traffic class.
    pub fn set_traffic_class(&mut self, traffic_class: u8) {
        let fl = self.flow_label();
        self.set_ver_tc_flow(traffic_class, fl);
    }

    /// Sets the flow label (low 20 bits used).
    pub fn set_flow_label(&mut self, flow_label: u32) {
        let tc = self.traffic_class();
        self.set_ver_tc_flow(tc, flow_label);
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, len: u16) {
        write_u16(self.buf_mut(), field::PAYLOAD_LEN, len);
    }

    /// Sets the next header.
    pub fn set_next_header(&mut self, next: IpProtocol) {
        self.buf_mut()[field::NEXT_HEADER] = next.into();
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buf_mut()[field::HOP_LIMIT] = hop_limit;
    }

    /// Decrements the hop limit and returns the new value; 0 stays 0 (the
    /// caller decides about Time Exceeded).
    pub fn decrement_hop_limit(&mut self) -> u8 {
        let h = self.hop_limit().saturating_sub(1);
        self.set_hop_limit(h);
        h
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buf_mut()[field::SRC..field::SRC + 16].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buf_mut()[field::DST..field::DST + 16].copy_from_slice(&addr.octets());
    }

    /// Everything after the fixed header, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.end();
        &mut self.buf_mut()[HEADER_LEN..end]
    }
}

/// The fields of the fixed IPv6 header. `emit` writes only these 40 bytes;
/// extension headers are part of the payload as far as the Repr goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header of the fixed header.
    pub next_header: IpProtocol,
    /// Payload length (after the fixed header).
    pub payload_len: u16,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Reads the fixed header, checking the packet first.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Self, Error> {
        Ipv6::check(packet.as_bytes())?;
        Ok(Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Length of the fixed header.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Fixed header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len as usize
    }

    /// Writes the fixed header. Fails if the flow label has more than 20
    /// bits or the buffer is short.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv6Packet<T>,
    ) -> Result<(), Error> {
        if self.flow_label > 0x000f_ffff {
            return Err(malformed(Ipv6::NAME, "flow label wider than 20 bits"));
        }
        crate::bytes::ensure_room(packet.as_bytes(), HEADER_LEN)?;
        packet.set_ver_tc_flow(self.traffic_class, self.flow_label);
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Carries, Tcp, Udp};

    fn fixed(next: u8, payload_len: u16) -> Vec<u8> {
        let mut p = vec![0x60, 0x0a, 0xbc, 0xde];
        p.extend_from_slice(&payload_len.to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        p
    }

    #[test]
    fn plain_udp() {
        let mut p = fixed(17, 8);
        p.extend_from_slice(&[0, 1, 0, 2, 0, 8, 0, 0]);
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.traffic_class(), 0x00);
        assert_eq!(v.flow_label(), 0xabcde);
        assert_eq!(v.hop_limit(), 64);
        assert_eq!(v.upper_layer().unwrap(), (IpProtocol::Udp, 40));
        assert_eq!(<Ipv6 as Carries<Udp>>::locate(&p), Some(40));
        assert_eq!(<Ipv6 as Carries<Tcp>>::locate(&p), None);
        assert_eq!(
            Ipv6::check(&p).unwrap(),
            Extent {
                header_len: 40,
                end: 48
            }
        );
    }

    #[test]
    fn extension_chain() {
        // Hop-by-Hop (8) -> Destination Options (16) -> Routing (8) ->
        // AH (12 bytes: len 1) -> Fragment (8) -> TCP.
        let mut p = fixed(0, 8 + 16 + 8 + 12 + 8 + 20);
        p.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&[43, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[51, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[44, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
        p.extend_from_slice(&[6, 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef]);
        p.extend_from_slice(&[0; 20]);
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.upper_layer().unwrap(), (IpProtocol::Tcp, 92));
        let frag = v.fragment().unwrap();
        assert_eq!(
            frag,
            Ipv6FragmentInfo {
                offset: 0,
                more_frags: true,
                ident: 0xdeadbeef,
                next_header: IpProtocol::Tcp
            }
        );
        assert!(v.is_fragment() && v.is_first_fragment());
        assert_eq!(<Ipv6 as Carries<Tcp>>::locate(&p), Some(92));

        // Same chain, offset 1280: a later fragment carries no TCP header.
        p[84 + 2..84 + 4].copy_from_slice(&(1280u16 | 1).to_be_bytes());
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert!(!v.is_first_fragment());
        assert_eq!(v.fragment().unwrap().offset, 1280);
        assert_eq!(<Ipv6 as Carries<Tcp>>::locate(&p), None);
    }

    #[test]
    fn walk_errors() {
        // Destination options claiming more than the packet has.
        let mut p = fixed(60, 8);
        p.extend_from_slice(&[6, 4, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(
            Ipv6::check(&p),
            Err(Error::Truncated { needed: 80, .. })
        ));
        // Hop-by-hop after another header.
        let mut p = fixed(60, 16);
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 59, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(Ipv6::check(&p), Err(Error::Malformed { .. })));
        // A chain longer than the bound.
        let n = MAX_EXTENSION_HEADERS + 1;
        let mut p = fixed(60, (n * 8) as u16);
        for _ in 0..n {
            p.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert!(matches!(Ipv6::check(&p), Err(Error::Malformed { .. })));
        // Exactly the bound, ending in No Next Header, is fine.
        let mut p = fixed(60, (MAX_EXTENSION_HEADERS * 8) as u16);
        for i in 0..MAX_EXTENSION_HEADERS {
            let next = if i + 1 == MAX_EXTENSION_HEADERS {
                59
            } else {
                60
            };
            p.extend_from_slice(&[next, 0, 0, 0, 0, 0, 0, 0]);
        }
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.upper_layer().unwrap(), (IpProtocol::Ipv6NoNext, 40 + 64));
        // ESP stops the walk.
        let mut p = fixed(50, 8);
        p.extend_from_slice(&[0; 8]);
        assert_eq!(
            Ipv6Packet::new_checked(&p[..])
                .unwrap()
                .upper_layer()
                .unwrap(),
            (IpProtocol::Esp, 40)
        );
        // Version and length.
        let mut p = fixed(59, 0);
        p[0] = 0x40;
        assert!(matches!(Ipv6::check(&p), Err(Error::Malformed { .. })));
        let p = fixed(59, 1);
        assert!(matches!(
            Ipv6::check(&p),
            Err(Error::Truncated { needed: 41, .. })
        ));
        for len in 0..40 {
            assert!(Ipv6::check(&p[..len]).is_err());
        }
    }

    #[test]
    fn repr_round_trip() {
        let repr = Ipv6Repr {
            src_addr: "fe80::1".parse().unwrap(),
            dst_addr: "ff02::1:ff00:1".parse().unwrap(),
            next_header: IpProtocol::Icmpv6,
            payload_len: 0,
            hop_limit: 255,
            traffic_class: 0xb8,
            flow_label: 0xfffff,
        };
        let mut buf = [0u8; 40];
        repr.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]))
            .unwrap();
        let v = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&v).unwrap(), repr);
        let bad = Ipv6Repr {
            flow_label: 0x100000,
            ..repr
        };
        assert!(
            bad.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]))
                .is_err()
        );
        let mut v = Ipv6Packet::new_unchecked(&mut buf[..]);
        assert_eq!(v.decrement_hop_limit(), 254);
        v.set_hop_limit(0);
        assert_eq!(v.decrement_hop_limit(), 0);
    }
}
