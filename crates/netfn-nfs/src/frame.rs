//! Helpers shared by the NFs of the library: finding the network header
//! behind Ethernet and VLAN tags, patching transport checksums after an
//! address rewrite, and formatting text into a frame without allocating.

use std::net::IpAddr;

use netfn_wire::checksum;
use netfn_wire::{
    EtherType, Ethernet, EthernetFrame, Header, IpProtocol, Tcp, TcpPacket, UdpPacket, Vlan,
    VlanTag,
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
