//! Helpers shared by the NFs of the library: finding the network header
//! behind Ethernet and VLAN tags, patching transport checksums after an
//! address rewrite, the link layer of a reply, and formatting text into a
//! frame without allocating.

use std::net::IpAddr;

use netfn_wire::checksum;
use netfn_wire::{
    EtherType, Ethernet, EthernetBuilder, EthernetFrame, Header, IpProtocol, Ipv4Packet,
    Ipv6Packet, MacAddr, PacketBuilder, Tcp, TcpPacket, UdpPacket, Vlan, VlanTag,
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

/// The link layer of a reply to `frame`: an Ethernet builder from `src`
/// to `dst` carrying the same VLAN tags (TPID, priority, DEI, VID) as
/// `frame`, so a generated answer goes back on the VLAN its question came
/// on. `None` if `frame` has no valid Ethernet header or tags.
pub fn reply_link(frame: &[u8], src: MacAddr, dst: MacAddr) -> Option<EthernetBuilder> {
    let (_, l3) = locate_l3(frame)?;
    let mut link = PacketBuilder::ethernet(src, dst);
    let mut at = netfn_wire::ethernet::HEADER_LEN;
    let mut tpid = EthernetFrame::new_unchecked(frame).ethertype();
    while at < l3 {
        let tag = VlanTag::new_unchecked(&frame[at..]);
        link = link.vlan_tag(tpid, tag.pcp(), tag.dei(), tag.vid()).ok()?;
        tpid = tag.ethertype();
        at += netfn_wire::vlan::HEADER_LEN;
    }
    Some(link)
}

/// Where the IP and transport headers of a frame are (see [`locate_ip`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    /// Offset of the IP header.
    pub l3: usize,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The upper-layer protocol (after IPv6 extension headers).
    pub protocol: IpProtocol,
    /// Offset of the upper-layer header; `None` in a non-first fragment
    /// (or behind an IPv6 extension chain that cannot be walked).
    pub l4: Option<usize>,
    /// End of the IP packet (bytes past it are Ethernet padding).
    pub end: usize,
}

impl IpInfo {
    /// Source and destination ports of TCP, UDP and SCTP (the first four
    /// bytes of each), when the header is here.
    pub fn ports(&self, frame: &[u8]) -> Option<(u16, u16)> {
        let has_ports = matches!(
            self.protocol,
            IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Unknown(132)
        );
        let p = frame
            .get(self.l4?..self.end)?
            .get(..4)
            .filter(|_| has_ports)?;
        Some((
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        ))
    }
}

/// Finds the IP header behind Ethernet and VLAN tags, and the transport
/// header behind it. `Ok(None)` for a frame that is not IPv4 or IPv6,
/// `Err` for an IP header that fails its check.
pub fn locate_ip(frame: &[u8]) -> Result<Option<IpInfo>, BadHeader> {
    let Some((ethertype, l3)) = locate_l3(frame) else {
        return Ok(None);
    };
    let ip = &frame[l3..];
    match ethertype {
        EtherType::Ipv4 => {
            let p = Ipv4Packet::new_checked(ip).map_err(|_| BadHeader)?;
            Ok(Some(IpInfo {
                l3,
                src: p.src_addr().into(),
                dst: p.dst_addr().into(),
                protocol: p.protocol(),
                l4: p.is_first_fragment().then_some(l3 + p.header_len()),
                end: l3 + usize::from(p.total_len()),
            }))
        }
        EtherType::Ipv6 => {
            let p = Ipv6Packet::new_checked(ip).map_err(|_| BadHeader)?;
            let (protocol, l4) = match p.upper_layer() {
                Ok((proto, at)) if p.is_first_fragment() => (proto, Some(l3 + at)),
                Ok((proto, _)) => (proto, None),
                Err(_) => (p.next_header(), None),
            };
            Ok(Some(IpInfo {
                l3,
                src: p.src_addr().into(),
                dst: p.dst_addr().into(),
                protocol,
                l4,
                end: l3 + p.packet().len(),
            }))
        }
        _ => Ok(None),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_link_keeps_vlan_tags() {
        let a = MacAddr([2, 0, 0, 0, 0, 1]);
        let b = MacAddr([2, 0, 0, 0, 0, 2]);
        let t = PacketBuilder::ethernet(a, b)
            .vlan_tag(EtherType::QinQ, 3, true, 100)
            .unwrap()
            .vlan(7)
            .unwrap()
            .ethertype(EtherType::Ipv4);
        let mut frame = vec![0; t.size(4)];
        t.write(&mut frame, &[1, 2, 3, 4]).unwrap();
        let reply = reply_link(&frame, b, a).unwrap().ethertype(EtherType::Ipv4);
        let mut out = vec![0; reply.size(4)];
        reply.write(&mut out, &[1, 2, 3, 4]).unwrap();
        assert_eq!(&out[12..], &frame[12..]);
        assert_eq!((&out[0..6], &out[6..12]), (&frame[6..12], &frame[0..6]));
        assert!(reply_link(&frame[..16], b, a).is_none());
    }
}
