//! ARP (RFC 826).
//!
//! Invariant of a checked [`ArpPacket`]: the buffer holds the 8-byte fixed
//! part and both address pairs as long as `hlen`/`plen` say. Any hardware
//! and protocol type passes the check (valid but opaque: the raw address
//! slices are readable); the typed accessors and [`ArpRepr`] cover the
//! Ethernet/IPv4 case, which is the only one on our wires.

use std::net::Ipv4Addr;

use crate::bytes::{malformed, read_array, read_u16, truncated, write_u16};
use crate::{Error, EtherType, Extent, Header, MacAddr};

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const ADDRS: usize = 8;
}

/// Hardware type of Ethernet.
pub const HARDWARE_ETHERNET: u16 = 1;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize = 28;

/// ARP operation. Unknown values round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// 1.
    Request,
    /// 2.
    Reply,
    /// Anything else (RARP and friends).
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(value: u16) -> Self {
        match value {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(value: ArpOperation) -> Self {
        match value {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(other) => other,
        }
    }
}

/// Marker for ARP; its view is [`ArpPacket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Arp;

impl Header for Arp {
    const NAME: &'static str = "arp";
    type View<T: AsRef<[u8]>> = ArpPacket<T>;

    /// The packet ends after the target protocol address; anything after
    /// it is Ethernet padding.
    fn check(buf: &[u8]) -> Result<Extent, Error> {
        if buf.len() < field::ADDRS {
            return Err(truncated(Self::NAME, field::ADDRS, buf.len()));
        }
        let len =
            field::ADDRS + 2 * (usize::from(buf[field::HLEN]) + usize::from(buf[field::PLEN]));
        if buf.len() < len {
            return Err(truncated(Self::NAME, len, buf.len()));
        }
        Ok(Extent {
            header_len: len,
            end: len,
        })
    }

    fn view<T: AsRef<[u8]>>(buf: T) -> ArpPacket<T> {
        ArpPacket::new_unchecked(buf)
    }
}

/// A view over an ARP packet.
#[derive(Debug, Clone, Copy)]
pub struct ArpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` without checking; accessors may panic if it fails
    /// [`Arp::check`].
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps `buffer` after [`Arp::check`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        Arp::check(buffer.as_ref())?;
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

    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Hardware type (1 for Ethernet).
    pub fn hardware_type(&self) -> u16 {
        read_u16(self.buf(), field::HTYPE)
    }

    /// Protocol type (an EtherType, IPv4 normally).
    pub fn protocol_type(&self) -> EtherType {
        read_u16(self.buf(), field::PTYPE).into()
    }

    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buf()[field::HLEN]
    }

    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        self.buf()[field::PLEN]
    }

    /// Operation.
    pub fn operation(&self) -> ArpOperation {
        read_u16(self.buf(), field::OPER).into()
    }

    /// Ethernet hardware and IPv4 protocol addresses.
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == HARDWARE_ETHERNET
            && self.protocol_type() == EtherType::Ipv4
            && self.hardware_len() == 6
            && self.protocol_len() == 4
    }

    /// Offsets of sender hw, sender proto, target hw, target proto, end.
    fn offsets(&self) -> [usize; 5] {
        let h = usize::from(self.hardware_len());
        let p = usize::from(self.protocol_len());
        let s = field::ADDRS;
        [s, s + h, s + h + p, s + 2 * h + p, s + 2 * (h + p)]
    }

    fn slice(&self, i: usize) -> &[u8] {
        let o = self.offsets();
        let len = self.buf().len();
        &self.buf()[o[i].min(len)..o[i + 1].min(len)]
    }

    /// Sender hardware address, `hlen` bytes.
    pub fn sender_hardware_addr(&self) -> &[u8] {
        self.slice(0)
    }

    /// Sender protocol address, `plen` bytes.
    pub fn sender_protocol_addr(&self) -> &[u8] {
        self.slice(1)
    }

    /// Target hardware address, `hlen` bytes.
    pub fn target_hardware_addr(&self) -> &[u8] {
        self.slice(2)
    }

    /// Target protocol address, `plen` bytes.
    pub fn target_protocol_addr(&self) -> &[u8] {
        self.slice(3)
    }

    /// Sender MAC, if this is Ethernet/IPv4 ARP.
    pub fn sender_mac(&self) -> Option<MacAddr> {
        self.is_ethernet_ipv4()
            .then(|| MacAddr(read_array(self.buf(), 8)))
    }

    /// Sender IPv4 address, if this is Ethernet/IPv4 ARP.
    pub fn sender_ip(&self) -> Option<Ipv4Addr> {
        self.is_ethernet_ipv4()
            .then(|| Ipv4Addr::from(read_array::<4>(self.buf(), 14)))
    }

    /// Target MAC, if this is Ethernet/IPv4 ARP.
    pub fn target_mac(&self) -> Option<MacAddr> {
        self.is_ethernet_ipv4()
            .then(|| MacAddr(read_array(self.buf(), 18)))
    }

    /// Target IPv4 address, if this is Ethernet/IPv4 ARP.
    pub fn target_ip(&self) -> Option<Ipv4Addr> {
        self.is_ethernet_ipv4()
            .then(|| Ipv4Addr::from(read_array::<4>(self.buf(), 24)))
    }
}

/// Setters. The address setters use the Ethernet/IPv4 layout (offsets for
/// `hlen` 6 and `plen` 4).
///
/// # Panics
/// The address setters panic if the buffer is shorter than 28 bytes.
impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, htype: u16) {
        write_u16(self.buf_mut(), field::HTYPE, htype);
    }

    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, ptype: EtherType) {
        write_u16(self.buf_mut(), field::PTYPE, ptype.into());
    }

    /// Sets the hardware address length.
    pub fn set_hardware_len(&mut self, len: u8) {
        self.buf_mut()[field::HLEN] = len;
    }

    /// Sets the protocol address length.
    pub fn set_protocol_len(&mut self, len: u8) {
        self.buf_mut()[field::PLEN] = len;
    }

    /// Sets the operation.
    pub fn set_operation(&mut self, op: ArpOperation) {
        write_u16(self.buf_mut(), field::OPER, op.into());
    }

    /// Sets the sender MAC (Ethernet/IPv4 layout).
    pub fn set_sender_mac(&mut self, mac: MacAddr) {
        self.buf_mut()[8..14].copy_from_slice(&mac.0);
    }

    /// Sets the sender IPv4 address (Ethernet/IPv4 layout).
    pub fn set_sender_ip(&mut self, ip: Ipv4Addr) {
        self.buf_mut()[14..18].copy_from_slice(&ip.octets());
    }

    /// Sets the target MAC (Ethernet/IPv4 layout).
    pub fn set_target_mac(&mut self, mac: MacAddr) {
        self.buf_mut()[18..24].copy_from_slice(&mac.0);
    }

    /// Sets the target IPv4 address (Ethernet/IPv4 layout).
    pub fn set_target_ip(&mut self, ip: Ipv4Addr) {
        self.buf_mut()[24..28].copy_from_slice(&ip.octets());
    }
}

/// An Ethernet/IPv4 ARP packet. `parse` fails with `Malformed` for other
/// hardware or protocol types (they still pass [`Arp::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request, reply or other.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (zero in requests).
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Who has `target_ip`? Tell `sender_ip` at `sender_mac`.
    pub fn request(sender_mac: MacAddr, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Self {
        ArpRepr {
            operation: ArpOperation::Request,
            sender_mac,
            sender_ip,
            target_mac: MacAddr::ZERO,
            target_ip,
        }
    }

    /// The reply to this request, from `our_mac` (which owns `target_ip`).
    pub fn reply_to(&self, our_mac: MacAddr) -> Self {
        ArpRepr {
            operation: ArpOperation::Reply,
            sender_mac: our_mac,
            sender_ip: self.target_ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        }
    }

    /// Reads an Ethernet/IPv4 ARP packet, checking it first.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<Self, Error> {
        Arp::check(packet.as_bytes())?;
        match (
            packet.sender_mac(),
            packet.sender_ip(),
            packet.target_mac(),
            packet.target_ip(),
        ) {
            (Some(sender_mac), Some(sender_ip), Some(target_mac), Some(target_ip)) => Ok(ArpRepr {
                operation: packet.operation(),
                sender_mac,
                sender_ip,
                target_mac,
                target_ip,
            }),
            _ => Err(malformed(Arp::NAME, "not Ethernet/IPv4 ARP")),
        }
    }

    /// Length of the packet (28).
    pub const fn header_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Same as [`ArpRepr::header_len`]: ARP has no payload.
    pub const fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Writes the packet (28 bytes).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut ArpPacket<T>,
    ) -> Result<(), Error> {
        crate::bytes::ensure_room(packet.as_bytes(), ETHERNET_IPV4_LEN)?;
        packet.set_hardware_type(HARDWARE_ETHERNET);
        packet.set_protocol_type(EtherType::Ipv4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_sender_mac(self.sender_mac);
        packet.set_sender_ip(self.sender_ip);
        packet.set_target_mac(self.target_mac);
        packet.set_target_ip(self.target_ip);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ARP request "who has 192.168.1.1? tell 192.168.1.100", plus padding.
    const REQUEST: [u8; 32] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x00, 0x1b, 0x21, 0x3a, 0x4c, 0x5d, 0xc0,
        0xa8, 0x01, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x01, 0, 0, 0, 0,
    ];

    #[test]
    fn parse_request_and_build_reply() {
        assert_eq!(
            Arp::check(&REQUEST).unwrap(),
            Extent {
                header_len: 28,
                end: 28
            }
        );
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert!(p.is_ethernet_ipv4());
        let req = ArpRepr::parse(&p).unwrap();
        assert_eq!(
            req,
            ArpRepr::request(
                "00:1b:21:3a:4c:5d".parse().unwrap(),
                Ipv4Addr::new(192, 168, 1, 100),
                Ipv4Addr::new(192, 168, 1, 1)
            )
        );
        let ours = MacAddr([2, 0, 0, 0, 0, 1]);
        let reply = req.reply_to(ours);
        let mut buf = [0u8; 28];
        reply
            .emit(&mut ArpPacket::new_unchecked(&mut buf[..]))
            .unwrap();
        let parsed = ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()).unwrap();
        assert_eq!(parsed, reply);
        assert_eq!(parsed.operation, ArpOperation::Reply);
        assert_eq!(parsed.target_ip, Ipv4Addr::new(192, 168, 1, 100));
    }

    #[test]
    fn opaque_types_are_valid_but_not_reprs() {
        // Hardware type 32 (InfiniBand, 20-byte addresses) over IPv4.
        let mut p = vec![0x00, 0x20, 0x08, 0x00, 20, 4, 0x00, 0x01];
        p.extend_from_slice(&[0xaa; 48]);
        let view = ArpPacket::new_checked(&p[..]).unwrap();
        assert!(!view.is_ethernet_ipv4());
        assert_eq!(view.sender_hardware_addr().len(), 20);
        assert_eq!(view.target_protocol_addr().len(), 4);
        assert_eq!(view.sender_mac(), None);
        assert!(matches!(
            ArpRepr::parse(&view),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            Arp::check(&p[..55]),
            Err(Error::Truncated { needed: 56, .. })
        ));
        for len in 0..28 {
            assert!(Arp::check(&REQUEST[..len]).is_err());
        }
    }
}
