//! Our checksums and parses agree with etherparse's, on packets etherparse
//! builds from random headers.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use etherparse as ep;
use netfn_wire::*;
use proptest::prelude::*;

fn ep_ipv4(
    fields: (u8, u8, u16, bool, bool, u16, u8, u8),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    options: &[u8],
    payload_len: usize,
) -> ep::Ipv4Header {
    let (dscp, ecn, ident, df, mf, fo, ttl, proto) = fields;
    let mut h = ep::Ipv4Header {
        dscp: ep::IpDscp::try_new(dscp & 0x3f).unwrap(),
        ecn: ep::IpEcn::try_new(ecn & 3).unwrap(),
        total_len: 0,
        identification: ident,
        dont_fragment: df,
        more_fragments: mf,
        fragment_offset: ep::IpFragOffset::try_new(fo & 0x1fff).unwrap(),
        time_to_live: ttl,
        protocol: ep::IpNumber(proto),
        header_checksum: 0,
        source: src.octets(),
        destination: dst.octets(),
        options: ep::Ipv4Options::try_from(options).unwrap(),
    };
    h.total_len = (h.header_len() + payload_len) as u16;
    h.header_checksum = h.calc_header_checksum();
    h
}

fn ipv4_fields() -> impl Strategy<Value = (u8, u8, u16, bool, bool, u16, u8, u8)> {
    any::<(u8, u8, u16, bool, bool, u16, u8, u8)>()
}

proptest! {
    #[test]
    fn ipv4_header_checksum(fields in ipv4_fields(), src in ipv4(), dst in ipv4(), options in padded_options(), payload in bytes(64)) {
        let h = ep_ipv4(fields, src, dst, &options, payload.len());
        let mut bytes = h.to_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let mut ours = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        prop_assert!(ours.verify_checksum());
        ours.fill_checksum();
        prop_assert_eq!(ours.checksum(), h.header_checksum);

        // Field by field.
        let p = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(p.header_len(), h.header_len());
        prop_assert_eq!(p.dscp(), h.dscp.value());
        prop_assert_eq!(p.ecn(), h.ecn.value());
        prop_assert_eq!(p.total_len(), h.total_len);
        prop_assert_eq!(p.ident(), h.identification);
        prop_assert_eq!(p.dont_frag(), h.dont_fragment);
        prop_assert_eq!(p.more_frags(), h.more_fragments);
        prop_assert_eq!(p.frag_offset(), h.fragment_offset.value() * 8);
        prop_assert_eq!(p.ttl(), h.time_to_live);
        prop_assert_eq!(u8::from(p.protocol()), h.protocol.0);
        prop_assert_eq!(p.src_addr().octets(), h.source);
        prop_assert_eq!(p.dst_addr().octets(), h.destination);
        prop_assert_eq!(p.options(), h.options.as_slice());
        prop_assert_eq!(p.payload(), &payload[..]);
    }

    #[test]
    fn udp_checksum((src, dst) in addr_pair(), ports in any::<(u16, u16)>(), payload in bytes(300)) {
        let header = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) =>
                ep::UdpHeader::with_ipv4_checksum(ports.0, ports.1, &ep_ipv4((0, 0, 0, false, false, 0, 64, 17), s, d, &[], 8 + payload.len()), &payload).unwrap(),
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let ip = ep::Ipv6Header { source: s.octets(), destination: d.octets(), next_header: ep::IpNumber::UDP, ..Default::default() };
                ep::UdpHeader::with_ipv6_checksum(ports.0, ports.1, &ip, &payload).unwrap()
            }
            _ => unreachable!(),
        };
        let mut bytes = header.to_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let mut ours = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        prop_assert!(ours.verify_checksum(src, dst));
        ours.fill_checksum(src, dst);
        prop_assert_eq!(ours.checksum(), header.checksum);
        prop_assert_eq!((ours.src_port(), ours.dst_port(), ours.len()), (header.source_port, header.destination_port, header.length));
    }

    #[test]
    fn tcp_checksum(
        (src, dst) in addr_pair(),
        ports in any::<(u16, u16)>(),
        seq in any::<u32>(),
        ack in any::<u32>(),
        flags in any::<u8>(),
        window in any::<u16>(),
        urgent in any::<u16>(),
        options in padded_options(),
        payload in bytes(300),
    ) {
        let mut h = ep::TcpHeader::new(ports.0, ports.1, seq, window);
        h.acknowledgment_number = ack;
        h.fin = flags & 1 != 0;
        h.syn = flags & 2 != 0;
        h.rst = flags & 4 != 0;
        h.psh = flags & 8 != 0;
        h.ack = flags & 16 != 0;
        h.urg = flags & 32 != 0;
        h.ece = flags & 64 != 0;
        h.cwr = flags & 128 != 0;
        h.urgent_pointer = urgent;
        h.set_options_raw(&options).unwrap();
        h.checksum = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => h.calc_checksum_ipv4_raw(s.octets(), d.octets(), &payload).unwrap(),
            (IpAddr::V6(s), IpAddr::V6(d)) => h.calc_checksum_ipv6_raw(s.octets(), d.octets(), &payload).unwrap(),
            _ => unreachable!(),
        };
        let mut bytes = h.to_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let mut ours = TcpPacket::new_checked(&mut bytes[..]).unwrap();
        prop_assert!(ours.verify_checksum(src, dst));
        ours.fill_checksum(src, dst);
        prop_assert_eq!(ours.checksum(), h.checksum);
        let p = TcpPacket::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!((p.src_port(), p.dst_port(), p.seq_number(), p.ack_number()), (h.source_port, h.destination_port, h.sequence_number, h.acknowledgment_number));
        prop_assert_eq!(p.flags().bits(), flags);
        prop_assert_eq!((p.window(), p.urgent(), p.header_len()), (h.window_size, h.urgent_pointer, h.header_len()));
        prop_assert_eq!(p.options_bytes(), h.options.as_slice());
        prop_assert_eq!(p.payload(), &payload[..]);
    }

    #[test]
    fn icmpv4_checksum(msg_type in any::<u8>(), code in any::<u8>(), rest in any::<[u8; 4]>(), payload in bytes(100)) {
        let h = ep::Icmpv4Header::with_checksum(
            ep::Icmpv4Type::Unknown { type_u8: msg_type, code_u8: code, bytes5to8: rest },
            &payload,
        );
        let mut bytes = h.to_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let mut ours = Icmpv4Packet::new_checked(&mut bytes[..]).unwrap();
        prop_assert!(ours.verify_checksum());
        ours.fill_checksum();
        prop_assert_eq!(ours.checksum(), h.checksum);
        prop_assert_eq!((u8::from(ours.msg_type()), ours.code(), ours.rest_of_header()), (msg_type, code, rest));
    }

    #[test]
    fn icmpv6_checksum(src in ipv6(), dst in ipv6(), msg_type in any::<u8>(), code in any::<u8>(), rest in any::<[u8; 4]>(), payload in bytes(100)) {
        let h = ep::Icmpv6Header::with_checksum(
            ep::Icmpv6Type::Unknown { type_u8: msg_type, code_u8: code, bytes5to8: rest },
            src.octets(),
            dst.octets(),
            &payload,
        ).unwrap();
        let mut bytes = h.to_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let mut ours = Icmpv6Packet::new_checked(&mut bytes[..]).unwrap();
        prop_assert!(ours.verify_checksum(src, dst));
        ours.fill_checksum(src, dst);
        prop_assert_eq!(ours.checksum(), h.checksum);
    }

    /// Whole frames built by etherparse's own builder, parsed by both.
    #[test]
    fn frames_from_etherparse_builder(
        src_mac in mac(),
        dst_mac in mac(),
        vlans in prop_oneof![Just(vec![]), (0u16..4096).prop_map(|v| vec![v]), (0u16..4096, 0u16..4096).prop_map(|(a, b)| vec![a, b])],
        (src, dst) in addr_pair(),
        hop in any::<u8>(),
        kind in 0u8..3,
        ports in any::<(u16, u16)>(),
        seq in any::<u32>(),
        payload in bytes(200),
    ) {
        let eth = ep::PacketBuilder::ethernet2(src_mac.0, dst_mac.0);
        let mut out = Vec::new();
        macro_rules! finish {
            ($ip:expr) => {{
                let ip = $ip;
                match kind {
                    0 => ip.udp(ports.0, ports.1).write(&mut out, &payload).unwrap(),
                    1 => ip.tcp(ports.0, ports.1, seq, 1000).syn().ack(7).write(&mut out, &payload).unwrap(),
                    _ => match (src, dst) {
                        (IpAddr::V4(_), _) => ip.icmpv4_echo_request(ports.0, ports.1).write(&mut out, &payload).unwrap(),
                        _ => ip.icmpv6_echo_request(ports.0, ports.1).write(&mut out, &payload).unwrap(),
                    },
                }
            }};
        }
        macro_rules! with_ip {
            ($l:expr) => {{
                match (src, dst) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => finish!($l.ipv4(s.octets(), d.octets(), hop)),
                    (IpAddr::V6(s), IpAddr::V6(d)) => finish!($l.ipv6(s.octets(), d.octets(), hop)),
                    _ => unreachable!(),
                }
            }};
        }
        let vid = |v: u16| ep::VlanId::try_new(v).unwrap();
        match vlans[..] {
            [] => with_ip!(eth),
            [a] => with_ip!(eth.single_vlan(vid(a))),
            [a, b] => with_ip!(eth.double_vlan(vid(a), vid(b))),
            _ => unreachable!(),
        }

        let theirs = ep::PacketHeaders::from_ethernet_slice(&out).unwrap();
        let frame = EthernetFrame::new_checked(&out[..]).unwrap();
        prop_assert_eq!((frame.src_addr(), frame.dst_addr()), (src_mac, dst_mac));
        let mut at = 14;
        let mut next = frame.ethertype();
        for (i, ext) in theirs.link_exts.iter().enumerate() {
            let ep::LinkExtHeader::Vlan(v) = ext else { panic!("macsec?") };
            prop_assert!(next.is_vlan());
            let tag = VlanTag::new_checked(&out[at..]).unwrap();
            prop_assert_eq!(tag.vid(), v.vlan_id.value());
            prop_assert_eq!(tag.vid(), vlans[i]);
            prop_assert_eq!(tag.pcp(), v.pcp.value());
            prop_assert_eq!(u16::from(tag.ethertype()), v.ether_type.0);
            next = tag.ethertype();
            at += 4;
        }
        let l3 = &out[at..];
        let (l4, (s, d)): (&[u8], (IpAddr, IpAddr)) = match theirs.net.as_ref().unwrap() {
            ep::NetHeaders::Ipv4(h, _) => {
                prop_assert_eq!(next, EtherType::Ipv4);
                let p = Ipv4Packet::new_checked(l3).unwrap();
                prop_assert!(p.verify_checksum());
                prop_assert_eq!(p.checksum(), h.header_checksum);
                prop_assert_eq!((p.src_addr().octets(), p.dst_addr().octets(), p.ttl()), (h.source, h.destination, h.time_to_live));
                prop_assert_eq!(u8::from(p.protocol()), h.protocol.0);
                let e = Ipv4::check(l3).unwrap();
                (&l3[e.header_len..e.end], (p.src_addr().into(), p.dst_addr().into()))
            }
            ep::NetHeaders::Ipv6(h, _) => {
                prop_assert_eq!(next, EtherType::Ipv6);
                let p = Ipv6Packet::new_checked(l3).unwrap();
                prop_assert_eq!((p.src_addr().octets(), p.dst_addr().octets(), p.hop_limit()), (h.source, h.destination, h.hop_limit));
                prop_assert_eq!((p.payload_len(), p.traffic_class(), p.flow_label()), (h.payload_length, h.traffic_class, h.flow_label.value()));
                let e = Ipv6::check(l3).unwrap();
                (&l3[e.header_len..e.end], (p.src_addr().into(), p.dst_addr().into()))
            }
            ep::NetHeaders::Arp(_) => unreachable!(),
        };
        match theirs.transport.as_ref().unwrap() {
            ep::TransportHeader::Udp(h) => {
                let u = UdpPacket::new_checked(l4).unwrap();
                prop_assert_eq!((u.src_port(), u.dst_port(), u.len(), u.checksum()), (h.source_port, h.destination_port, h.length, h.checksum));
                prop_assert!(u.verify_checksum(s, d));
            }
            ep::TransportHeader::Tcp(h) => {
                let t = TcpPacket::new_checked(l4).unwrap();
                prop_assert_eq!((t.src_port(), t.dst_port(), t.seq_number(), t.ack_number()), (h.source_port, h.destination_port, h.sequence_number, h.acknowledgment_number));
                prop_assert_eq!(t.flags(), TcpFlags::SYN | TcpFlags::ACK);
                prop_assert_eq!((t.window(), t.checksum()), (h.window_size, h.checksum));
                prop_assert!(t.verify_checksum(s, d));
            }
            ep::TransportHeader::Icmpv4(h) => {
                let i = Icmpv4Packet::new_checked(l4).unwrap();
                prop_assert_eq!(i.checksum(), h.checksum);
                prop_assert!(i.verify_checksum());
                prop_assert_eq!(Icmpv4Repr::parse(&i).unwrap(), Icmpv4Repr::EchoRequest { ident: ports.0, seq_no: ports.1, data: &payload });
            }
            ep::TransportHeader::Icmpv6(h) => {
                let (IpAddr::V6(s6), IpAddr::V6(d6)) = (s, d) else { unreachable!() };
                let i = Icmpv6Packet::new_checked(l4).unwrap();
                prop_assert_eq!(i.checksum(), h.checksum);
                prop_assert!(i.verify_checksum(s6, d6));
                prop_assert_eq!(Icmpv6Repr::parse(&i).unwrap(), Icmpv6Repr::EchoRequest { ident: ports.0, seq_no: ports.1, data: &payload });
            }
            ep::TransportHeader::Igmp(_) => unreachable!(),
        }
    }
}

/// IPv6 extension chains built from etherparse headers: our walk finds the
/// same upper layer at the same offset as etherparse's.
mod ipv6_extensions {
    use super::*;

    proptest! {
        #[test]
        fn walk_agrees(
            chain in proptest::collection::vec((0u8..4, 0u8..3), 0..5),
            frag in any::<(u16, bool, u32)>(),
            payload in bytes(40),
        ) {
            // Build: fixed header, then the chain, then UDP. The first
            // element may be Hop-by-Hop; later ones are DestOpts/Routing/Frag/AH.
            let mut ext = Vec::new();
            let kinds: Vec<u8> = chain
                .iter()
                .enumerate()
                .map(|(i, (k, _))| match (i, k) {
                    (0, 0) => 0,
                    (_, 0 | 1) => 60,
                    (_, 2) => 43,
                    _ => 51,
                })
                .collect();
            let mut saw_frag = None;
            for (i, (&kind, &(_, units))) in kinds.iter().zip(&chain).enumerate() {
                let next = kinds.get(i + 1).copied().unwrap_or(if i == 1 { 44 } else { 17 });
                let next = if i + 1 == kinds.len() && i == 1 { 44 } else { next };
                match kind {
                    51 => {
                        // AH: length in 4-byte units minus 2; keep a multiple of 8.
                        let len = (usize::from(units) + 2) * 8;
                        let mut h = vec![next, (len / 4 - 2) as u8];
                        h.resize(len, 0);
                        ext.extend(h);
                    }
                    _ => {
                        let len = (usize::from(units) + 1) * 8;
                        let mut h = vec![next, units];
                        // PadN option filling the rest, so etherparse is happy.
                        h.extend([1, (len - 4) as u8]);
                        h.resize(len, 0);
                        ext.extend(h);
                    }
                }
                if next == 44 {
                    let (off, more, ident) = frag;
                    let off_flags = (off & 0xfff8) | u16::from(more);
                    ext.push(17);
                    ext.push(0);
                    ext.extend(off_flags.to_be_bytes());
                    ext.extend(ident.to_be_bytes());
                    saw_frag = Some(Ipv6FragmentInfo { offset: off & 0xfff8, more_frags: more, ident, next_header: IpProtocol::Udp });
                }
            }
            let first = kinds.first().copied().unwrap_or(17);
            let udp_len = 8 + payload.len();
            let mut p = Vec::new();
            let ip = ep::Ipv6Header {
                payload_length: (ext.len() + udp_len) as u16,
                next_header: ep::IpNumber(first),
                hop_limit: 1,
                source: [1; 16],
                destination: [2; 16],
                ..Default::default()
            };
            p.extend(ip.to_bytes());
            p.extend(&ext);
            p.extend(ep::UdpHeader { source_port: 1, destination_port: 2, length: udp_len as u16, checksum: 0 }.to_bytes());
            p.extend(&payload);

            let ours = Ipv6Packet::new_checked(&p[..]).unwrap();
            let (proto, offset) = ours.upper_layer().unwrap();
            prop_assert_eq!(ours.fragment(), saw_frag);
            prop_assert_eq!(offset, 40 + ext.len());
            prop_assert_eq!(proto, IpProtocol::Udp);
            let theirs = ep::Ipv6Slice::from_slice(&p).unwrap();
            prop_assert_eq!(theirs.payload().ip_number.0, 17);
            let is_later_fragment = saw_frag.is_some_and(|f| f.offset != 0);
            prop_assert_eq!(theirs.payload().fragmented, saw_frag.is_some_and(|f| f.offset != 0 || f.more_frags));
            if !is_later_fragment {
                prop_assert_eq!(theirs.payload().payload, &p[offset..]);
                prop_assert_eq!(<Ipv6 as Carries<Udp>>::locate(&p), Some(offset));
            } else {
                prop_assert_eq!(<Ipv6 as Carries<Udp>>::locate(&p), None);
            }
        }
    }
}

#[test]
fn ipv6_addresses_are_std() {
    // The views hand out std types, so NFs can use std's classification.
    let a: Ipv6Addr = "ff02::1".parse().unwrap();
    assert!(a.is_multicast());
}
