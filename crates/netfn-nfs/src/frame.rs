//! Helpers shared by the NFs of the library: finding the network header
//! behind Ethernet and VLAN tags, finding the transport header and payload,
//! patching transport checksums after an address rewrite, the link layer of
//! a reply, and formatting text into a frame without allocating. What the
//! tunnel NFs share is in [`crate::tunnel`].

use std::net::{IpAddr, Ipv4Addr};

use netfn_core::FlowKey;
use netfn_wire::checksum;
use netfn_wire::{
    EtherType, Ethernet, EthernetBuilder, EthernetFrame, Header, Icmpv4Packet, IpProtocol,
    Ipv4Packet, Ipv6Packet, MacAddr, PacketBuilder, Tcp, TcpFlags, TcpPacket, Udp, UdpPacket, Vlan,
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

/// Where the IP and transport headers of a frame are (see [`locate_ip`]):
/// the one walk over Ethernet, VLAN tags, IP and IPv6 extension headers
/// that the NFs reading transport headers share ([`transport`] builds on
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    /// Offset of the IP header.
    pub l3: usize,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The upper-layer protocol (after IPv6 extension headers).
    pub protocol: IpProtocol,
    /// Offset of the upper-layer header; `None` in a non-first fragment.
    /// (A checked IPv6 header's extension chain always walks: ESP or an
    /// unknown header is the upper layer, with its offset.)
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

    /// The 5-tuple (no ports in a non-first fragment; ICMP echo: the
    /// identifier), as [`FlowKey::from_frame`] gives it.
    pub fn flow_key(&self, frame: &[u8]) -> FlowKey {
        let upper = self.l4.map(|l4| &frame[l4..self.end]);
        FlowKey::of_upper_layer(self.src, self.dst, self.protocol, upper)
    }
}

/// Finds the IP header behind Ethernet and VLAN tags, and the transport
/// header behind it. `Ok(None)` for a frame that is not IPv4 or IPv6,
/// `Err` for an IP header that fails its check.
#[inline]
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
    let Some(ip) = locate_ip(frame)? else {
        return Ok(None);
    };
    let key = ip.flow_key(frame);
    let Some(l4) = ip.l4 else {
        return Ok(Some((key, L4::Fragment)));
    };
    let l4 = &frame[l4..ip.end];
    let l4 = match ip.protocol {
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

    mod locate {
        //! [`locate_ip`] and [`transport`] (built on it) over VLAN and
        //! QinQ tags, IPv4 options, IPv6 extension headers, fragments,
        //! truncation and padding. Every key must be the one
        //! [`FlowKey::from_frame`] finds.
        use super::*;
        use std::net::Ipv6Addr;

        const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
        const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
        const V4: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));

        fn v6() -> (Ipv6Addr, Ipv6Addr) {
            (
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
            )
        }

        fn write(t: netfn_wire::PacketTemplate, payload: &[u8]) -> Vec<u8> {
            let mut buf = vec![0; t.size(payload.len())];
            t.write(&mut buf, payload).unwrap();
            buf
        }

        fn udp4(eth: EthernetBuilder) -> Vec<u8> {
            write(eth.ipv4(V4.0, V4.1, 64).udp(1000, 53), b"hello")
        }

        fn udp6() -> Vec<u8> {
            let (s, d) = v6();
            write(
                PacketBuilder::ethernet(A, B).ipv6(s, d, 64).udp(1000, 53),
                b"hello",
            )
        }

        /// Inserts an IPv6 extension header (`header[0]` is its Next
        /// Header, set here to the chain's) after the fixed header.
        fn with_ext(mut f: Vec<u8>, kind: u8, mut header: Vec<u8>) -> Vec<u8> {
            header[0] = f[14 + 6];
            f[14 + 6] = kind;
            let len = u16::from_be_bytes([f[18], f[19]]) + header.len() as u16;
            f[18..20].copy_from_slice(&len.to_be_bytes());
            f.splice(54..54, header);
            f
        }

        /// A Fragment header with `offset` (bytes, a multiple of 8) and MF.
        fn frag6(offset: u16) -> Vec<u8> {
            let field = offset | 1;
            let [hi, lo] = field.to_be_bytes();
            vec![0, 0, hi, lo, 0, 0, 0, 9]
        }

        fn check(frame: &[u8]) -> (IpInfo, FlowKey, L4<'_>) {
            let ip = locate_ip(frame).unwrap().unwrap();
            let (key, l4) = transport(frame).unwrap().unwrap();
            assert_eq!(Some(key), FlowKey::from_frame(frame));
            assert_eq!(key, ip.flow_key(frame));
            (ip, key, l4)
        }

        #[test]
        fn ipv4_behind_vlan_and_qinq_tags() {
            let eth = PacketBuilder::ethernet(A, B);
            let qinq = eth
                .vlan_tag(EtherType::QinQ, 0, false, 10)
                .unwrap()
                .vlan(20)
                .unwrap();
            for (f, l3) in [
                (udp4(eth), 14),
                (udp4(eth.vlan(5).unwrap()), 18),
                (udp4(qinq), 22),
            ] {
                let (ip, key, l4) = check(&f);
                assert_eq!((ip.l3, ip.l4, ip.end), (l3, Some(l3 + 20), f.len()));
                assert_eq!(
                    (ip.protocol, ip.src, ip.dst),
                    (IpProtocol::Udp, V4.0.into(), V4.1.into())
                );
                assert_eq!((key.src_port, key.dst_port), (1000, 53));
                assert_eq!(ip.ports(&f), Some((1000, 53)));
                assert_eq!(l4, L4::Udp { payload: b"hello" });
            }
            // A third tag is not looked behind.
            let three = udp4(qinq.vlan(30).unwrap());
            assert_eq!(locate_ip(&three), Ok(None));
            assert_eq!(transport(&three), Ok(None));
        }

        #[test]
        fn ipv4_options_and_padding() {
            let mut f = udp4(PacketBuilder::ethernet(A, B));
            f.splice(34..34, [1, 1, 1, 0]); // NOP NOP NOP EOL: IHL 6
            f[14] = 0x46;
            let total = u16::from_be_bytes([f[16], f[17]]) + 4;
            f[16..18].copy_from_slice(&total.to_be_bytes());
            let end = f.len();
            f.extend_from_slice(&[0xee; 6]); // Ethernet padding
            let (ip, _, l4) = check(&f);
            assert_eq!((ip.l4, ip.end), (Some(14 + 24), end));
            assert_eq!(l4, L4::Udp { payload: b"hello" });
        }

        #[test]
        fn ipv6_extension_headers() {
            let hop_by_hop = vec![0, 0, 1, 4, 0, 0, 0, 0]; // PadN
            let f = with_ext(udp6(), 0, hop_by_hop.clone());
            let (ip, key, l4) = check(&f);
            assert_eq!((ip.l3, ip.l4, ip.end), (14, Some(14 + 48), f.len()));
            assert_eq!((ip.protocol, key.protocol), (IpProtocol::Udp, 17));
            assert_eq!(l4, L4::Udp { payload: b"hello" });
            // Two headers, then TCP.
            let (s, d) = v6();
            let tcp = write(
                PacketBuilder::ethernet(A, B)
                    .ipv6(s, d, 64)
                    .tcp(5, 6, 77, 0, TcpFlags::SYN, 100),
                b"xy",
            );
            let f = with_ext(with_ext(tcp, 60, hop_by_hop.clone()), 0, hop_by_hop);
            let (ip, _, l4) = check(&f);
            assert_eq!(ip.l4, Some(14 + 56));
            assert_eq!(
                l4,
                L4::Tcp {
                    seq: 77,
                    flags: TcpFlags::SYN,
                    payload: b"xy"
                }
            );
            // An upper layer the walk does not step over (ESP) is the
            // protocol, at its offset.
            let mut esp = udp6();
            esp[20] = 50;
            let (ip, key, l4) = check(&esp);
            assert_eq!(
                (ip.protocol, ip.l4, key.src_port),
                (IpProtocol::Esp, Some(54), 0)
            );
            assert_eq!(
                l4,
                L4::Other {
                    payload: &esp[54..]
                }
            );
        }

        #[test]
        fn fragments() {
            // IPv4, first fragment (MF, offset 0): the UDP header is here,
            // its length field claims more than there is.
            let mut first = udp4(PacketBuilder::ethernet(A, B));
            first[20] = 0x20; // MF
            first[38..40].copy_from_slice(&100u16.to_be_bytes());
            let (ip, key, l4) = check(&first);
            assert_eq!((ip.l4, key.src_port), (Some(34), 1000));
            assert_eq!(l4, L4::Udp { payload: b"hello" });
            // Non-first: no transport header, no ports.
            let mut later = udp4(PacketBuilder::ethernet(A, B));
            later[20..22].copy_from_slice(&[0x00, 0x03]); // offset 24
            let (ip, key, l4) = check(&later);
            assert_eq!((ip.l4, ip.protocol), (None, IpProtocol::Udp));
            assert_eq!((key.src_port, key.dst_port), (0, 0));
            assert_eq!(ip.ports(&later), None);
            assert_eq!(l4, L4::Fragment);
            // IPv6 Fragment header, offset 0 then 8.
            let f = with_ext(udp6(), 44, frag6(0));
            let (ip, key, l4) = check(&f);
            assert_eq!((ip.l4, key.dst_port), (Some(62), 53));
            assert_eq!(l4, L4::Udp { payload: b"hello" });
            let f = with_ext(udp6(), 44, frag6(8));
            let (ip, key, l4) = check(&f);
            assert_eq!(
                (ip.l4, ip.protocol, key.dst_port),
                (None, IpProtocol::Udp, 0)
            );
            assert_eq!(l4, L4::Fragment);
        }

        #[test]
        fn truncated_and_not_ip() {
            let f = udp4(PacketBuilder::ethernet(A, B));
            // IP header cut, packet shorter than its total length.
            for cut in [&f[..14 + 12], &f[..f.len() - 1]] {
                assert_eq!(locate_ip(cut), Err(BadHeader));
                assert_eq!(transport(cut), Err(BadHeader));
                assert_eq!(FlowKey::from_frame(cut), None);
            }
            // IPv6 extension header running past the payload length.
            let mut ext = with_ext(udp6(), 0, vec![0, 0, 1, 4, 0, 0, 0, 0]);
            ext[55] = 200;
            assert_eq!(locate_ip(&ext), Err(BadHeader));
            assert_eq!(transport(&ext), Err(BadHeader));
            // A whole IP header but a cut TCP header: located, but no
            // transport layer.
            let tcp = write(
                PacketBuilder::ethernet(A, B).ipv4(V4.0, V4.1, 64).tcp(
                    1,
                    2,
                    3,
                    0,
                    TcpFlags::ACK,
                    9,
                ),
                &[],
            );
            let mut cut = tcp[..14 + 20 + 10].to_vec();
            cut[16..18].copy_from_slice(&30u16.to_be_bytes());
            cut[24..26].copy_from_slice(&[0, 0]);
            let ip = locate_ip(&cut).unwrap().unwrap();
            assert_eq!((ip.l4, ip.protocol), (Some(34), IpProtocol::Tcp));
            assert_eq!(transport(&cut), Err(BadHeader));
            // Not IP, or not even Ethernet.
            let mut arp = f.clone();
            arp[12..14].copy_from_slice(&[0x08, 0x06]);
            for frame in [&arp[..], &f[..13], &[][..]] {
                assert_eq!(locate_ip(frame), Ok(None));
                assert_eq!(transport(frame), Ok(None));
            }
        }
    }

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
