//! parse(emit(x)) == x for every Repr, and for whole packets from the
//! builder.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use netfn_wire::*;
use proptest::prelude::*;

fn ipv4_repr() -> impl Strategy<Value = Ipv4Repr> {
    (
        (ipv4(), ipv4(), protocol(), 0u16..300, any::<u8>()),
        (
            0u8..64,
            0u8..4,
            any::<u16>(),
            any::<bool>(),
            any::<bool>(),
            0u16..8192,
        ),
    )
        .prop_map(
            |((src, dst, protocol, payload_len, ttl), (dscp, ecn, ident, df, mf, fo))| Ipv4Repr {
                src_addr: src,
                dst_addr: dst,
                protocol,
                payload_len,
                ttl,
                dscp,
                ecn,
                ident,
                dont_frag: df,
                more_frags: mf,
                frag_offset: fo * 8,
            },
        )
}

fn is_extension(p: IpProtocol) -> bool {
    matches!(
        p,
        IpProtocol::HopByHop
            | IpProtocol::Ipv6Route
            | IpProtocol::Ipv6Frag
            | IpProtocol::Ipv6Opts
            | IpProtocol::Ah
    )
}

fn ipv6_repr() -> impl Strategy<Value = Ipv6Repr> {
    (
        ipv6(),
        ipv6(),
        protocol().prop_filter("no extension header to walk", |p| !is_extension(*p)),
        0u16..300,
        any::<u8>(),
        any::<u8>(),
        0u32..0x10_0000,
    )
        .prop_map(|(src, dst, next, payload_len, hop, tc, fl)| Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: next,
            payload_len,
            hop_limit: hop,
            traffic_class: tc,
            flow_label: fl,
        })
}

proptest! {
    #[test]
    fn ethernet(src in mac(), dst in mac(), ethertype in ethertype(), payload in bytes(20)) {
        let repr = EthernetRepr { src_addr: src, dst_addr: dst, ethertype };
        let mut buf = vec![0u8; repr.buffer_len(payload.len())];
        repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..])).unwrap();
        let frame = EthernetFrame::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&frame).unwrap(), repr);
    }

    #[test]
    fn vlan(pcp in 0u8..8, dei in any::<bool>(), vid in 0u16..4096, ethertype in ethertype()) {
        let repr = VlanRepr { pcp, dei, vid, ethertype };
        let mut buf = [0u8; 4];
        repr.emit(&mut VlanTag::new_unchecked(&mut buf[..])).unwrap();
        prop_assert_eq!(VlanRepr::parse(&VlanTag::new_checked(&buf[..]).unwrap()).unwrap(), repr);
    }

    #[test]
    fn arp(op in any::<u16>(), smac in mac(), sip in ipv4(), tmac in mac(), tip in ipv4()) {
        let repr = ArpRepr {
            operation: op.into(),
            sender_mac: smac,
            sender_ip: sip,
            target_mac: tmac,
            target_ip: tip,
        };
        let mut buf = [0u8; 28];
        repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..])).unwrap();
        prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()).unwrap(), repr);
    }

    #[test]
    fn ipv4_header(repr in ipv4_repr()) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..])).unwrap();
        let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(packet.verify_checksum());
        prop_assert_eq!(Ipv4Repr::parse(&packet).unwrap(), repr);
    }

    #[test]
    fn ipv6_header(repr in ipv6_repr()) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..])).unwrap();
        let packet = Ipv6Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Ipv6Repr::parse(&packet).unwrap(), repr);
    }

    #[test]
    fn udp(src_port in any::<u16>(), dst_port in any::<u16>(), payload_len in 0u16..300) {
        let repr = UdpRepr { src_port, dst_port, payload_len };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut UdpPacket::new_unchecked(&mut buf[..])).unwrap();
        prop_assert_eq!(UdpRepr::parse(&UdpPacket::new_checked(&buf[..]).unwrap()).unwrap(), repr);
    }

    #[test]
    fn tcp(
        ports in any::<(u16, u16)>(),
        seq in any::<u32>(),
        ack in any::<u32>(),
        flags in any::<u8>(),
        window in any::<u16>(),
        urgent in any::<u16>(),
        options in padded_options(),
        payload_len in 0usize..100,
    ) {
        let repr = TcpRepr {
            src_port: ports.0,
            dst_port: ports.1,
            seq_number: seq,
            ack_number: ack,
            flags: TcpFlags::from_bits(flags),
            window,
            urgent,
            options: &options,
        };
        let mut buf = vec![0u8; repr.buffer_len(payload_len)];
        repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..])).unwrap();
        let packet = TcpPacket::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(TcpRepr::parse(&packet).unwrap(), repr);
        prop_assert_eq!(packet.payload().len(), payload_len);
    }

    #[test]
    fn tcp_options(kinds in proptest::collection::vec((0u8..10, any::<u32>(), any::<u32>(), bytes(6)), 0..5)) {
        let sack = [0u8, 0, 0, 1, 0, 0, 0, 2];
        let options: Vec<TcpOption<'_>> = kinds
            .iter()
            .map(|(k, a, b, data)| match k {
                0 => TcpOption::NoOperation,
                1 => TcpOption::MaxSegmentSize(*a as u16),
                2 => TcpOption::WindowScale(*a as u8),
                3 => TcpOption::SackPermitted,
                4 => TcpOption::Sack(tcp::SackBlocks::new(&sack).unwrap()),
                5 => TcpOption::Timestamps { tsval: *a, tsecr: *b },
                _ => TcpOption::Unknown { kind: 20 + *k, data },
            })
            .collect();
        let mut buf = [0u8; 128];
        let mut at = 0;
        for o in &options {
            at += o.emit(&mut buf[at..]).unwrap();
        }
        let parsed: Vec<_> = tcp::TcpOptions::new(&buf[..at]).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(parsed, options);
    }

    #[test]
    fn icmpv4(kind in 0u8..5, a in any::<u16>(), b in any::<u16>(), code in any::<u8>(), rest in any::<[u8; 4]>(), data in bytes(40)) {
        let repr = match kind {
            0 => Icmpv4Repr::EchoRequest { ident: a, seq_no: b, data: &data },
            1 => Icmpv4Repr::EchoReply { ident: a, seq_no: b, data: &data },
            2 => Icmpv4Repr::DstUnreachable { code, next_hop_mtu: b, data: &data },
            3 => Icmpv4Repr::TimeExceeded { code, data: &data },
            _ => Icmpv4Repr::Other { msg_type: a as u8, code, rest, data: &data },
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..])).unwrap();
        let packet = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(packet.verify_checksum());
        let parsed = Icmpv4Repr::parse(&packet).unwrap();
        if matches!(repr, Icmpv4Repr::Other { .. }) {
            // Raw fields may spell a typed message: then the bytes round-trip.
            let mut again = vec![0u8; parsed.buffer_len()];
            parsed.emit(&mut Icmpv4Packet::new_unchecked(&mut again[..])).unwrap();
            prop_assert_eq!(again, buf);
        } else {
            prop_assert_eq!(parsed, repr);
        }
    }

    #[test]
    fn icmpv6(
        kind in 0u8..9,
        a in any::<u16>(),
        b in any::<u16>(),
        word in any::<u32>(),
        code in any::<u8>(),
        rest in any::<[u8; 4]>(),
        target in ipv6(),
        flags in 0u8..8,
        data in bytes(40),
        (src, dst) in (ipv6(), ipv6()),
    ) {
        let repr = match kind {
            0 => Icmpv6Repr::EchoRequest { ident: a, seq_no: b, data: &data },
            1 => Icmpv6Repr::EchoReply { ident: a, seq_no: b, data: &data },
            2 => Icmpv6Repr::DstUnreachable { code, data: &data },
            3 => Icmpv6Repr::PacketTooBig { mtu: word, data: &data },
            4 => Icmpv6Repr::TimeExceeded { code, data: &data },
            5 => Icmpv6Repr::ParamProblem { code, pointer: word, data: &data },
            6 => Icmpv6Repr::NeighborSolicit { target, options: &data },
            7 => Icmpv6Repr::NeighborAdvert { flags: flags << 5, target, options: &data },
            _ => Icmpv6Repr::Other { msg_type: a as u8, code, rest, data: &data },
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(src, dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..])).unwrap();
        let packet = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(packet.verify_checksum(src, dst));
        match Icmpv6Repr::parse(&packet) {
            Ok(parsed) if matches!(repr, Icmpv6Repr::Other { .. }) => {
                let mut again = vec![0u8; parsed.buffer_len()];
                parsed.emit(src, dst, &mut Icmpv6Packet::new_unchecked(&mut again[..])).unwrap();
                prop_assert_eq!(again, buf);
            }
            Ok(parsed) => prop_assert_eq!(parsed, repr),
            // Raw fields that spell a neighbor message too short for its body.
            Err(e) => prop_assert!(matches!(repr, Icmpv6Repr::Other { .. }) && buf.len() < 24, "{e}"),
        }
    }
}

/// What a generated packet is made of, to compare against the parse.
#[derive(Debug, Clone)]
struct Stack {
    src_mac: MacAddr,
    dst_mac: MacAddr,
    vids: Vec<u16>,
    ip: (IpAddr, IpAddr),
    ttl: u8,
    ident: u16,
    dscp: u8,
    transport: Transport,
    payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Transport {
    Udp(u16, u16),
    Tcp(u16, u16, u32, u32, u8, u16),
    Echo(u16, u16),
}

fn stack() -> impl Strategy<Value = Stack> {
    let transport = prop_oneof![
        any::<(u16, u16)>().prop_map(|(a, b)| Transport::Udp(a, b)),
        any::<(u16, u16, u32, u32, u8, u16)>()
            .prop_map(|(a, b, c, d, e, f)| Transport::Tcp(a, b, c, d, e, f)),
        any::<(u16, u16)>().prop_map(|(a, b)| Transport::Echo(a, b)),
    ];
    (
        (
            mac(),
            mac(),
            proptest::collection::vec(0u16..4096, 0..3),
            addr_pair(),
        ),
        (any::<u8>(), any::<u16>(), 0u8..64, transport, bytes(200)),
    )
        .prop_map(
            |((src_mac, dst_mac, vids, ip), (ttl, ident, dscp, transport, payload))| Stack {
                src_mac,
                dst_mac,
                vids,
                ip,
                ttl,
                ident,
                dscp,
                transport,
                payload,
            },
        )
}

fn build(s: &Stack) -> PacketTemplate {
    let mut eth = PacketBuilder::ethernet(s.src_mac, s.dst_mac);
    for vid in &s.vids {
        eth = eth.vlan(*vid).unwrap();
    }
    match s.ip {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let ip = eth.ipv4(src, dst, s.ttl).ident(s.ident).dscp(s.dscp);
            match s.transport {
                Transport::Udp(a, b) => ip.udp(a, b),
                Transport::Tcp(a, b, seq, ack, f, w) => {
                    ip.tcp(a, b, seq, ack, TcpFlags::from_bits(f), w)
                }
                Transport::Echo(id, seq) => ip.icmpv4_echo_request(id, seq),
            }
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let ip = eth.ipv6(src, dst, s.ttl).traffic_class(s.dscp << 2);
            match s.transport {
                Transport::Udp(a, b) => ip.udp(a, b),
                Transport::Tcp(a, b, seq, ack, f, w) => {
                    ip.tcp(a, b, seq, ack, TcpFlags::from_bits(f), w)
                }
                Transport::Echo(id, seq) => ip.icmpv6_echo_request(id, seq),
            }
        }
        _ => unreachable!("addr_pair gives one family"),
    }
}

/// Parses `frame` with the Carries chain, the way netfn-core will, and
/// checks every field against the stack it was built from.
fn check_parse(s: &Stack, frame: &[u8]) -> Result<(), TestCaseError> {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    prop_assert_eq!((eth.src_addr(), eth.dst_addr()), (s.src_mac, s.dst_mac));
    let mut at = Ethernet::check(frame).unwrap().header_len;
    let mut vids = Vec::new();
    if let Some(off) = <Ethernet as Carries<Vlan>>::locate(frame) {
        prop_assert_eq!(off, 14);
        loop {
            let tag = VlanTag::new_checked(&frame[at..]).unwrap();
            vids.push(tag.vid());
            let more = <Vlan as Carries<Vlan>>::locate(&frame[at..]).is_some();
            at += 4;
            if !more {
                break;
            }
        }
    }
    prop_assert_eq!(&vids, &s.vids);
    let l3 = &frame[at..];
    let (l4, src, dst): (&[u8], IpAddr, IpAddr) = match s.ip {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let carried = if vids.is_empty() {
                <Ethernet as Carries<Ipv4>>::locate(frame)
            } else {
                <Vlan as Carries<Ipv4>>::locate(&frame[at - 4..])
            };
            prop_assert!(carried.is_some());
            let ext = Ipv4::check(l3).unwrap();
            let ip = Ipv4Packet::new_checked(l3).unwrap();
            prop_assert!(ip.verify_checksum());
            prop_assert_eq!(
                (
                    ip.src_addr(),
                    ip.dst_addr(),
                    ip.ttl(),
                    ip.ident(),
                    ip.dscp()
                ),
                (src, dst, s.ttl, s.ident, s.dscp)
            );
            (&l3[ext.header_len..ext.end], src.into(), dst.into())
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let ext = Ipv6::check(l3).unwrap();
            let ip = Ipv6Packet::new_checked(l3).unwrap();
            prop_assert_eq!(
                (
                    ip.src_addr(),
                    ip.dst_addr(),
                    ip.hop_limit(),
                    ip.traffic_class()
                ),
                (src, dst, s.ttl, s.dscp << 2)
            );
            (&l3[ext.header_len..ext.end], src.into(), dst.into())
        }
        _ => unreachable!(),
    };
    match s.transport {
        Transport::Udp(a, b) => {
            let udp = UdpPacket::new_checked(l4).unwrap();
            prop_assert_eq!((udp.src_port(), udp.dst_port()), (a, b));
            prop_assert!(udp.verify_checksum(src, dst));
            prop_assert_eq!(udp.payload(), &s.payload[..]);
        }
        Transport::Tcp(a, b, seq, ack, f, w) => {
            let tcp = TcpPacket::new_checked(l4).unwrap();
            let repr = TcpRepr::parse(&tcp).unwrap();
            prop_assert_eq!(
                (
                    repr.src_port,
                    repr.dst_port,
                    repr.seq_number,
                    repr.ack_number,
                    repr.flags.bits(),
                    repr.window
                ),
                (a, b, seq, ack, f, w)
            );
            prop_assert!(tcp.verify_checksum(src, dst));
            prop_assert_eq!(tcp.payload(), &s.payload[..]);
        }
        Transport::Echo(id, seq) => match (src, dst) {
            (IpAddr::V4(_), _) => {
                let icmp = Icmpv4Packet::new_checked(l4).unwrap();
                prop_assert!(icmp.verify_checksum());
                let expected = Icmpv4Repr::EchoRequest {
                    ident: id,
                    seq_no: seq,
                    data: &s.payload,
                };
                prop_assert_eq!(Icmpv4Repr::parse(&icmp).unwrap(), expected);
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let icmp = Icmpv6Packet::new_checked(l4).unwrap();
                prop_assert!(icmp.verify_checksum(src, dst));
                let expected = Icmpv6Repr::EchoRequest {
                    ident: id,
                    seq_no: seq,
                    data: &s.payload,
                };
                prop_assert_eq!(Icmpv6Repr::parse(&icmp).unwrap(), expected);
            }
            _ => unreachable!(),
        },
    }
    Ok(())
}

proptest! {
    #[test]
    fn builder_stack(s in stack(), slack in 0usize..8) {
        let template = build(&s);
        let mut buf = vec![0xa5u8; template.size(s.payload.len()) + slack];
        let len = template.write(&mut buf, &s.payload).unwrap();
        prop_assert_eq!(len, template.size(s.payload.len()));
        // Trailing bytes (like Ethernet padding) must not change the parse.
        check_parse(&s, &buf[..len + slack])?;
    }
}

#[test]
fn builder_errors_are_not_panics() {
    let t = PacketBuilder::ipv6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, 1).udp(1, 2);
    let mut big = vec![0u8; 70_000];
    assert!(t.write_in_place(&mut big, 65_527).is_ok());
    assert!(t.write_in_place(&mut big, 65_528).is_err());
    let t = PacketBuilder::ipv4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1)
        .protocol(IpProtocol::Unknown(253));
    assert!(t.write(&mut [0u8; 19], &[]).is_err());
}
