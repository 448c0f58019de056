//! Helpers shared by the NFs of the library: finding the network header
//! behind Ethernet and VLAN tags, finding the transport header and payload,
//! patching transport checksums after an address rewrite, the link layer of
//! a reply, and formatting text into a frame without allocating. What the
//! tunnel NFs share is in [`crate::tunnel`].

use std::net::{IpAddr, Ipv4Addr};

use netfn_core::FlowKey;
use netfn_wire::checksum;
use netfn_wire::{
    EtherType, Ethernet, EthernetBuilder, EthernetFrame, Header, Icmpv4Packet, IpProtocol, Ipv4,
    Ipv4Packet, Ipv6, Ipv6Packet, MacAddr, PacketBuilder, Tcp, TcpFlags, TcpPacket, Udp, UdpPacket,
    Vlan, VlanTag,
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

/// Which end of a packet a rewrite changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Src,
    Dst,
}

/// Rewrites one end of the IPv4 packet `ip` (already checked, trimmed to
/// its total length): the address, and with `port` the TCP/UDP port or,
/// for an ICMP query (echo, timestamp), the identifier. Patches the IPv4
/// header checksum and the transport checksum incrementally (RFC 1624);
/// a UDP checksum of 0 stays 0. A non-first fragment has only its address
/// rewritten (its transport header is in the first fragment).
pub fn rewrite_ipv4_end(
    ip: &mut [u8],
    end: End,
    addr: Ipv4Addr,
    port: Option<u16>,
) -> Result<(), BadHeader> {
    if ip.len() < netfn_wire::ipv4::HEADER_LEN {
        return Err(BadHeader);
    }
    let mut pkt = Ipv4Packet::new_unchecked(&mut *ip);
    let old = match end {
        End::Src => pkt.src_addr(),
        End::Dst => pkt.dst_addr(),
    };
    match end {
        End::Src => pkt.update_src_addr(addr),
        End::Dst => pkt.update_dst_addr(addr),
    }
    if pkt.frag_offset() != 0 {
        return Ok(());
    }
    let proto = pkt.protocol();
    let l4 = pkt.payload_mut();
    patch_l4(proto, l4, old.into(), addr.into())?;
    let Some(port) = port else {
        return Ok(());
    };
    match (proto, end) {
        (IpProtocol::Tcp, End::Src) => TcpPacket::new_unchecked(l4).update_src_port(port),
        (IpProtocol::Tcp, End::Dst) => TcpPacket::new_unchecked(l4).update_dst_port(port),
        (IpProtocol::Udp, End::Src) => UdpPacket::new_unchecked(l4).update_src_port(port),
        (IpProtocol::Udp, End::Dst) => UdpPacket::new_unchecked(l4).update_dst_port(port),
        (IpProtocol::Icmp, _) => {
            let mut icmp = Icmpv4Packet::new_checked(l4).map_err(|_| BadHeader)?;
            icmp.update_echo_ident(port);
        }
        _ => return Err(BadHeader),
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
    use netfn_wire::{MacAddr, PacketBuilder, TcpFlags};

    fn verify(frame: &[u8]) {
        let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
        assert!(ip.verify_checksum());
        let (s, d) = (ip.src_addr().into(), ip.dst_addr().into());
        match ip.protocol() {
            IpProtocol::Tcp => assert!(
                TcpPacket::new_checked(ip.payload())
                    .unwrap()
                    .verify_checksum(s, d)
            ),
            IpProtocol::Udp => assert!(
                UdpPacket::new_checked(ip.payload())
                    .unwrap()
                    .verify_checksum(s, d)
            ),
            _ => assert!(
                Icmpv4Packet::new_checked(ip.payload())
                    .unwrap()
                    .verify_checksum()
            ),
        }
    }

    #[test]
    fn rewrites_keep_checksums_valid() {
        let eth = PacketBuilder::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        let ip = |e: netfn_wire::EthernetBuilder| {
            e.ipv4([10, 0, 0, 1].into(), [192, 0, 2, 9].into(), 64)
        };
        for t in [
            ip(eth).tcp(1000, 80, 7, 0, TcpFlags::SYN, 100),
            ip(eth).udp(1000, 53),
            ip(eth).icmpv4_echo_request(1000, 3),
        ] {
            let mut f = vec![0; t.size(9)];
            t.write(&mut f, b"123456789").unwrap();
            rewrite_ipv4_end(&mut f[14..], End::Src, [203, 0, 113, 1].into(), Some(40000)).unwrap();
            verify(&f);
            rewrite_ipv4_end(&mut f[14..], End::Dst, [198, 51, 100, 7].into(), Some(81)).unwrap();
            verify(&f);
            let p = Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert_eq!(p.src_addr(), Ipv4Addr::new(203, 0, 113, 1));
            assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 51, 100, 7));
            assert!(
                rewrite_ipv4_end(&mut f[14..30], End::Src, Ipv4Addr::LOCALHOST, Some(1)).is_err()
            );
        }
    }
}
