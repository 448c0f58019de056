//! UDP datagrams (RFC 768).
//!
//! Invariant of a checked [`UdpPacket`]: `8 <= length <= buffer length`.
//! Bytes past `length` are not payload. A checksum field of 0 means "no
//! checksum" (allowed over IPv4 only); a computed checksum of 0 is sent as
//! `0xffff`. The `update_*` methods keep both rules, so a NAT never turns
//! "no checksum" into a wrong one.

use std::net::IpAddr;

use crate::bytes::{malformed, read_u16, truncated, write_u16};
use crate::checksum;
use crate::{Error, Extent, Header, IpProtocol};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// Marker for the UDP header; its view is [`UdpPacket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Udp;

impl Header for Udp {
    const NAME: &'static str = "udp";
    type View<T: AsRef<[u8]>> = UdpPacket<T>;

    fn check(buf: &[u8]) -> Result<Extent, Error> {
        if buf.len() < HEADER_LEN {
            return Err(truncated(Self::NAME, HEADER_LEN, buf.len()));
        }
        let len = usize::from(read_u16(buf, field::LENGTH));
        if len < HEADER_LEN {
            return Err(malformed(Self::NAME, "length field below 8"));
        }
        if buf.len() < len {
            return Err(truncated(Self::NAME, len, buf.len()));
        }
        Ok(Extent {
            header_len: HEADER_LEN,
            end: len,
        })
    }

    fn view<T: AsRef<[u8]>>(buf: T) -> UdpPacket<T> {
        UdpPacket::new_unchecked(buf)
    }
}

/// A view over a UDP datagram.
#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` without checking; accessors may panic if it is shorter
    /// than 8 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps `buffer` after [`Udp::check`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        Udp::check(buffer.as_ref())?;
        Ok(Self::new_unchecked(buffer))
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole buffer.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field (header and payload).
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Length field is 8: no payload.
    pub fn is_empty(&self) -> bool {
        self.len() <= HEADER_LEN as u16
    }

    /// Checksum field (0: none).
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    fn end(&self) -> usize {
        usize::from(self.len()).clamp(HEADER_LEN, self.buffer.as_ref().len())
    }

    /// The datagram as the length field delimits it.
    pub fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.end()]
    }

    /// The payload, up to the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.end()]
    }

    fn compute_checksum(&self, src: IpAddr, dst: IpAddr) -> u16 {
        let data = self.datagram();
        let pseudo = checksum::pseudo_header(src, dst, IpProtocol::Udp, data.len() as u32);
        !checksum::fold(pseudo + checksum::sum(data))
    }

    /// Checks the checksum against the pseudo-header of `src`/`dst`. A zero
    /// checksum passes over IPv4 (none sent) and fails over IPv6 (where it
    /// is mandatory).
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        if self.checksum() == 0 {
            return src.is_ipv4();
        }
        self.compute_checksum(src, dst) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port (checksum untouched).
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, port);
    }

    /// Sets the destination port (checksum untouched).
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, port);
    }

    /// Sets the length field.
    pub fn set_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.end();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Computes the checksum over the pseudo-header and the datagram (up to
    /// the length field) and writes it (0 is written as `0xffff`).
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        self.set_checksum(0);
        let csum = self.compute_checksum(src, dst);
        self.set_checksum(if csum == 0 { 0xffff } else { csum });
    }

    fn patch_checksum(&mut self, patch: impl FnOnce(u16) -> u16) {
        let old = self.checksum();
        if old == 0 {
            return; // no checksum stays no checksum
        }
        let new = patch(old);
        self.set_checksum(if new == 0 { 0xffff } else { new });
    }

    /// Sets the source port and patches the checksum (if there is one).
    pub fn update_src_port(&mut self, port: u16) {
        let old = self.src_port();
        self.set_src_port(port);
        self.patch_checksum(|c| checksum::update16(c, old, port));
    }

    /// Sets the destination port and patches the checksum (if there is one).
    pub fn update_dst_port(&mut self, port: u16) {
        let old = self.dst_port();
        self.set_dst_port(port);
        self.patch_checksum(|c| checksum::update16(c, old, port));
    }

    /// Patches the checksum for an address change in the pseudo-header
    /// (NAT): call once per changed address, after or before rewriting the
    /// IP header.
    pub fn update_checksum_for_addr(&mut self, old: IpAddr, new: IpAddr) {
        self.patch_checksum(|c| match (old, new) {
            (IpAddr::V4(o), IpAddr::V4(n)) => checksum::update32(c, o.to_bits(), n.to_bits()),
            (o, n) => checksum::update_bytes(c, &addr_octets(&o), &addr_octets(&n)),
        });
    }
}

/// Octets of an address as a fixed buffer, sliced to its real length.
pub(crate) fn addr_octets(addr: &IpAddr) -> AddrOctets {
    match addr {
        IpAddr::V4(a) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&a.octets());
            AddrOctets(b, 4)
        }
        IpAddr::V6(a) => AddrOctets(a.octets(), 16),
    }
}

/// An address's octets without allocating (4 or 16 of the 16 used).
pub(crate) struct AddrOctets([u8; 16], usize);

impl core::ops::Deref for AddrOctets {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0[..self.1]
    }
}

/// The fields of a UDP header.
///
/// `emit` writes the header with a zero checksum; once the payload is in
/// place call [`UdpPacket::fill_checksum`]. `parse` does not verify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length (length field minus 8).
    pub payload_len: u16,
}

impl UdpRepr {
    /// Reads the header of a datagram, checking it first.
    pub fn parse<T: AsRef<[u8]>>(packet: &UdpPacket<T>) -> Result<Self, Error> {
        let extent = Udp::check(packet.as_bytes())?;
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: (extent.end - HEADER_LEN) as u16,
        })
    }

    /// Length of the header.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len as usize
    }

    /// Writes the header (checksum 0). Fails if the payload length does not
    /// fit the length field or the buffer is shorter than the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
    ) -> Result<(), Error> {
        crate::bytes::ensure_room(packet.as_bytes(), HEADER_LEN)?;
        let len = u16::try_from(self.buffer_len())
            .map_err(|_| malformed(Udp::NAME, "payload too long for the length field"))?;
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        packet.set_checksum(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    // DNS query for example.com captured from 192.168.1.10 to 8.8.8.8.
    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const DST: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);

    fn sample() -> Vec<u8> {
        let mut d = vec![0xd4, 0x31, 0x00, 0x35, 0x00, 0x00, 0x00, 0x00];
        d.extend_from_slice(&[
            0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, b'e',
            b'x', b'a', b'm', b'p', b'l', b'e', 0x03, b'c', b'o', b'm', 0x00, 0x00, 0x01, 0x00,
            0x01,
        ]);
        let len = d.len() as u16;
        d[4..6].copy_from_slice(&len.to_be_bytes());
        d
    }

    #[test]
    fn parse_and_checksum() {
        let mut bytes = sample();
        let mut p = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        assert_eq!(p.src_port(), 54321);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 37);
        assert!(
            p.verify_checksum(SRC.into(), DST.into()),
            "zero = none over IPv4"
        );
        assert!(!p.verify_checksum(Ipv6Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()));
        p.fill_checksum(SRC.into(), DST.into());
        // Computed by hand: pseudo-header + datagram.
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&SRC.octets());
        pseudo.extend_from_slice(&DST.octets());
        pseudo.extend_from_slice(&[0, 17, 0, 37]);
        pseudo.extend_from_slice(&sample());
        assert_eq!(p.checksum(), checksum::checksum(&pseudo));
        assert!(p.verify_checksum(SRC.into(), DST.into()));
    }

    #[test]
    fn check_rejects_bad_lengths() {
        let bytes = sample();
        for len in 0..bytes.len() {
            assert!(Udp::check(&bytes[..len]).is_err());
        }
        let mut short = bytes.clone();
        short[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert!(matches!(Udp::check(&short), Err(Error::Malformed { .. })));
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0; 5]);
        assert_eq!(Udp::check(&padded).unwrap().end, 37);
        assert_eq!(
            UdpPacket::new_checked(&padded[..]).unwrap().payload().len(),
            29
        );
    }

    #[test]
    fn updates_keep_no_checksum_and_match_recompute() {
        let mut bytes = sample();
        let mut p = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        p.update_src_port(1);
        p.update_checksum_for_addr(SRC.into(), Ipv4Addr::new(1, 1, 1, 1).into());
        assert_eq!(p.checksum(), 0);

        p.fill_checksum(SRC.into(), DST.into());
        let new_src = Ipv4Addr::new(100, 64, 0, 1);
        p.update_src_port(40000);
        p.update_dst_port(5353);
        p.update_checksum_for_addr(SRC.into(), new_src.into());
        let patched = p.checksum();
        p.fill_checksum(new_src.into(), DST.into());
        assert_eq!(patched, p.checksum());
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Choose a payload word that makes the sum 0xffff.
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        let mut bytes = [0u8; 10];
        UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload_len: 2,
        }
        .emit(&mut UdpPacket::new_unchecked(&mut bytes[..]))
        .unwrap();
        let partial = checksum::fold(
            checksum::pseudo_header_v4(src, dst, IpProtocol::Udp, 10) + checksum::sum(&bytes),
        );
        bytes[8..10].copy_from_slice(&(0xffff - partial).to_be_bytes());
        let mut p = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        p.fill_checksum(src.into(), dst.into());
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(src.into(), dst.into()));
        // A port change that keeps the sum: still 0xffff, never 0.
        p.update_src_port(1);
        assert_eq!(p.checksum(), 0xffff);
    }

    #[test]
    fn repr_round_trip() {
        let repr = UdpRepr {
            src_port: 68,
            dst_port: 67,
            payload_len: 3,
        };
        let mut buf = [0u8; 11];
        repr.emit(&mut UdpPacket::new_unchecked(&mut buf[..]))
            .unwrap();
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(UdpRepr::parse(&p).unwrap(), repr);
        assert_eq!(repr.buffer_len(), 11);
    }
}
