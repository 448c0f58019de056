//! Helpers shared by the NFs of the library: finding the network header
//! behind Ethernet and VLAN tags, finding the transport header and payload,
//! patching transport checksums after an address rewrite, and formatting
//! text into a frame without allocating.

use std::net::IpAddr;

use netfn_core::FlowKey;
use netfn_wire::checksum;
use netfn_wire::{
    EtherType, Ethernet, EthernetFrame, Header, IpProtocol, Ipv4, Ipv4Packet, Ipv6, Ipv6Packet,
    Tcp, TcpFlags, TcpPacket, Udp, UdpPacket, Vlan, VlanTag,
};

/// The EtherType and offset of the network header, after Ethernet and up to
/// two VLAN tags.
pub fn locate_l3(frame: &[u8]) -> Option<(EtherType, usize)> {
    Ethernet::check(frame).ok()?;
    let mut ethertype = EthernetFrame::new_unchecked(frame).ethertype();
    let mut at = netfn_wire::ethernet::HEADER_LEN;
    for _ in 0..2 {
        if !ethertype.is_vlan() {
            break;
        }
        let rest = frame.get(at..)?;
        Vlan::check(rest).ok()?;
        ethertype = VlanTag::new_unchecked(rest).ethertype();
        at += netfn_wire::vlan::HEADER_LEN;
    }
    Some((ethertype, at))
}

/// The transport layer of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4<'a> {
    Tcp {
        seq: u32,
        flags: TcpFlags,
        payload: &'a [u8],
    },
    Udp {
        payload: &'a [u8],
    },
    /// ICMP or ICMPv6: the bytes after the 4-byte type/code/checksum and
    /// the 4 bytes that follow them (identifier and sequence, or unused).
    Icmp {
        payload: &'a [u8],
    },
    /// Another protocol: everything after the IP header(s).
    Other {
        payload: &'a [u8],
    },
    /// A non-first fragment (no transport header to read).
    Fragment,
}

impl<'a> L4<'a> {
    /// The application bytes (empty for a fragment).
    pub fn payload(&self) -> &'a [u8] {
        match *self {
            L4::Tcp { payload, .. }
            | L4::Udp { payload }
            | L4::Icmp { payload }
            | L4::Other { payload } => payload,
            L4::Fragment => &[],
        }
    }
}

/// The 5-tuple and transport layer of an IP frame (behind Ethernet and up
/// to two VLAN tags). `Ok(None)`: not IP; `Err`: an IP or transport header
/// is truncated or invalid. Ethernet padding is not payload.
pub fn transport(frame: &[u8]) -> Result<Option<(FlowKey, L4<'_>)>, BadHeader> {
    let Some((ethertype, at)) = locate_l3(frame) else {
        return Ok(None);
    };
    let ip = &frame[at..];
    let (key, l4, first) = match ethertype {
        EtherType::Ipv4 => {
            let ext = Ipv4::check(ip).map_err(|_| BadHeader)?;
            let ip = &ip[..ext.end];
            let key = FlowKey::from_ipv4(ip).ok_or(BadHeader)?;
            let first = Ipv4Packet::new_unchecked(ip).is_first_fragment();
            (key, &ip[ext.header_len..], first)
        }
        EtherType::Ipv6 => {
            let ext = Ipv6::check(ip).map_err(|_| BadHeader)?;
            let ip = &ip[..ext.end];
            let key = FlowKey::from_ipv6(ip).ok_or(BadHeader)?;
            let p = Ipv6Packet::new_unchecked(ip);
            let first = p.fragment().is_none_or(|f| f.offset == 0);
            let (_, offset) = p.upper_layer().map_err(|_| BadHeader)?;
            (key, ip.get(offset..).ok_or(BadHeader)?, first)
        }
        _ => return Ok(None),
    };
    if !first {
        return Ok(Some((key, L4::Fragment)));
    }
    let l4 = match IpProtocol::from(key.protocol) {
        IpProtocol::Tcp => {
            let ext = Tcp::check(l4).map_err(|_| BadHeader)?;
            let tcp = TcpPacket::new_unchecked(l4);
            L4::Tcp {
                seq: tcp.seq_number(),
                flags: tcp.flags(),
                payload: &l4[ext.header_len..],
            }
        }
        IpProtocol::Udp => {
            // A first fragment is shorter than its UDP length: take what
            // is there.
            let payload = match Udp::check(l4) {
                Ok(ext) => &l4[ext.header_len..ext.end],
                Err(_) => l4.get(netfn_wire::udp::HEADER_LEN..).ok_or(BadHeader)?,
            };
            L4::Udp { payload }
        }
        IpProtocol::Icmp | IpProtocol::Icmpv6 => L4::Icmp {
            payload: l4.get(8..).ok_or(BadHeader)?,
        },
        _ => L4::Other { payload: l4 },
    };
    Ok(Some((key, l4)))
}

/// A header to be rewritten is truncated or invalid (the packet is
/// dropped as malformed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadHeader;

/// Patches a transport checksum for an address change in its pseudo-header.
/// Works on first fragments too: only the header must be present.
pub fn patch_l4(
    proto: IpProtocol,
    l4: &mut [u8],
    old: IpAddr,
    new: IpAddr,
) -> Result<(), BadHeader> {
    match proto {
        IpProtocol::Tcp => {
            Tcp::check(l4).map_err(|_| BadHeader)?;
            TcpPacket::new_unchecked(l4).update_checksum_for_addr(old, new);
        }
        IpProtocol::Udp => {
            // Not `Udp::check`: a first fragment is shorter than the UDP
            // length field says. The header fields are all we touch.
            if l4.len() < netfn_wire::udp::HEADER_LEN {
                return Err(BadHeader);
            }
            UdpPacket::new_unchecked(l4).update_checksum_for_addr(old, new);
        }
        IpProtocol::Icmpv6 => {
            let mut icmp = netfn_wire::Icmpv6Packet::new_checked(l4).map_err(|_| BadHeader)?;
            if let (IpAddr::V6(o), IpAddr::V6(n)) = (old, new) {
                let c = checksum::update_bytes(icmp.checksum(), &o.octets(), &n.octets());
                icmp.set_checksum(c);
            }
        }
        // ICMPv4 has no pseudo-header; others carry no checksum we know of.
        _ => {}
    }
    Ok(())
}

/// Formats into a fixed buffer (no allocation).
#[derive(Debug)]
pub struct SliceWriter<'a> {
    buf: &'a mut [u8],
    pub len: usize,
}

impl<'a> SliceWriter<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        SliceWriter { buf, len: 0 }
    }
}

impl std::fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
