//! `check` never panics on any input, and once it accepts a buffer every
//! accessor, `locate` and `Repr::parse` runs without panicking. Fed with
//! random bytes and with every truncation of valid packets.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use netfn_wire::*;
use proptest::prelude::*;

fn exercise_ethernet(buf: &[u8]) {
    if Ethernet::check(buf).is_err() {
        return;
    }
    let f = EthernetFrame::new_checked(buf).unwrap();
    let _ = (f.src_addr(), f.dst_addr(), f.ethertype(), f.payload());
    let _ = EthernetRepr::parse(&f);
    let rest = &buf[14..];
    if <Ethernet as Carries<Vlan>>::locate(buf).is_some() {
        exercise_vlan(rest, 0);
    }
    if <Ethernet as Carries<Ipv4>>::locate(buf).is_some() {
        exercise_ipv4(rest);
    }
    if <Ethernet as Carries<Ipv6>>::locate(buf).is_some() {
        exercise_ipv6(rest);
    }
    if <Ethernet as Carries<Arp>>::locate(buf).is_some() {
        exercise_arp(rest);
    }
}

fn exercise_vlan(buf: &[u8], depth: usize) {
    let Ok(e) = Vlan::check(buf) else { return };
    let v = VlanTag::new_checked(buf).unwrap();
    let _ = (v.pcp(), v.dei(), v.vid(), v.ethertype(), v.payload());
    let _ = VlanRepr::parse(&v);
    let rest = &buf[e.header_len..];
    if <Vlan as Carries<Vlan>>::locate(buf).is_some() && depth < 4 {
        exercise_vlan(rest, depth + 1);
    }
    if <Vlan as Carries<Ipv4>>::locate(buf).is_some() {
        exercise_ipv4(rest);
    }
    if <Vlan as Carries<Ipv6>>::locate(buf).is_some() {
        exercise_ipv6(rest);
    }
    if <Vlan as Carries<Arp>>::locate(buf).is_some() {
        exercise_arp(rest);
    }
}

fn exercise_arp(buf: &[u8]) {
    let Ok(_) = Arp::check(buf) else { return };
    let a = ArpPacket::new_checked(buf).unwrap();
    let _ = (
        a.hardware_type(),
        a.protocol_type(),
        a.operation(),
        a.is_ethernet_ipv4(),
    );
    let _ = (
        a.sender_hardware_addr(),
        a.sender_protocol_addr(),
        a.target_hardware_addr(),
        a.target_protocol_addr(),
    );
    let _ = (a.sender_mac(), a.sender_ip(), a.target_mac(), a.target_ip());
    let _ = ArpRepr::parse(&a);
}

fn exercise_ipv4(buf: &[u8]) {
    let Ok(e) = Ipv4::check(buf) else { return };
    let buf = &buf[..e.end];
    let p = Ipv4Packet::new_checked(buf).unwrap();
    let _ = (
        p.version(),
        p.ihl(),
        p.dscp(),
        p.ecn(),
        p.total_len(),
        p.ident(),
        p.dont_frag(),
        p.more_frags(),
    );
    let _ = (
        p.frag_offset(),
        p.ttl(),
        p.protocol(),
        p.checksum(),
        p.src_addr(),
        p.dst_addr(),
    );
    let _ = (
        p.options(),
        p.payload(),
        p.verify_checksum(),
        p.is_fragment(),
        p.is_first_fragment(),
    );
    let _ = Ipv4Repr::parse(&p);
    // Mutating accessors on a copy must not panic either.
    let mut copy = buf.to_vec();
    let mut m = Ipv4Packet::new_checked(&mut copy[..]).unwrap();
    m.decrement_ttl();
    m.update_src_addr(Ipv4Addr::BROADCAST);
    m.fill_checksum();
    let _ = m.payload_mut();
    let (s, d): (IpAddr, IpAddr) = (p.src_addr().into(), p.dst_addr().into());
    let upper = &buf[e.header_len..];
    if let Some(off) = <Ipv4 as Carries<Tcp>>::locate(buf) {
        assert_eq!(off, e.header_len);
        exercise_tcp(upper, s, d);
    }
    if <Ipv4 as Carries<Udp>>::locate(buf).is_some() {
        exercise_udp(upper, s, d);
    }
    if <Ipv4 as Carries<Icmpv4>>::locate(buf).is_some() {
        exercise_icmpv4(upper);
    }
}

fn exercise_ipv6(buf: &[u8]) {
    let Ok(e) = Ipv6::check(buf) else { return };
    let buf = &buf[..e.end];
    let p = Ipv6Packet::new_checked(buf).unwrap();
    let _ = (
        p.version(),
        p.traffic_class(),
        p.flow_label(),
        p.payload_len(),
        p.next_header(),
        p.hop_limit(),
    );
    let _ = (
        p.src_addr(),
        p.dst_addr(),
        p.payload(),
        p.fragment(),
        p.is_first_fragment(),
    );
    assert_eq!(p.upper_layer().unwrap().1, e.header_len);
    let _ = Ipv6Repr::parse(&p);
    let (s, d) = (p.src_addr(), p.dst_addr());
    let upper = &buf[e.header_len..];
    if let Some(off) = <Ipv6 as Carries<Tcp>>::locate(buf) {
        assert_eq!(off, e.header_len);
        exercise_tcp(upper, s.into(), d.into());
    }
    if <Ipv6 as Carries<Udp>>::locate(buf).is_some() {
        exercise_udp(upper, s.into(), d.into());
    }
    if <Ipv6 as Carries<Icmpv6>>::locate(buf).is_some() {
        exercise_icmpv6(upper, s, d);
    }
}

fn exercise_tcp(buf: &[u8], s: IpAddr, d: IpAddr) {
    let Ok(_) = Tcp::check(buf) else { return };
    let t = TcpPacket::new_checked(buf).unwrap();
    let _ = (
        t.src_port(),
        t.dst_port(),
        t.seq_number(),
        t.ack_number(),
        t.flags().to_string(),
        t.window(),
    );
    let _ = (t.urgent(), t.payload(), t.verify_checksum(s, d));
    for o in t.options() {
        let _ = o;
    }
    let _ = TcpRepr::parse(&t);
    let mut copy = buf.to_vec();
    let mut m = TcpPacket::new_checked(&mut copy[..]).unwrap();
    m.update_src_port(9);
    m.update_checksum_for_addr(s, Ipv6Addr::LOCALHOST.into());
}

fn exercise_udp(buf: &[u8], s: IpAddr, d: IpAddr) {
    let Ok(_) = Udp::check(buf) else { return };
    let u = UdpPacket::new_checked(buf).unwrap();
    let _ = (
        u.src_port(),
        u.dst_port(),
        u.len(),
        u.payload(),
        u.verify_checksum(s, d),
    );
    let _ = UdpRepr::parse(&u);
    let mut copy = buf.to_vec();
    let mut m = UdpPacket::new_checked(&mut copy[..]).unwrap();
    m.update_dst_port(9);
    m.fill_checksum(s, d);
}

fn exercise_icmpv4(buf: &[u8]) {
    let Ok(_) = Icmpv4::check(buf) else { return };
    let i = Icmpv4Packet::new_checked(buf).unwrap();
    let _ = (
        i.msg_type(),
        i.code(),
        i.echo_ident(),
        i.echo_seq_no(),
        i.payload(),
        i.verify_checksum(),
    );
    let _ = Icmpv4Repr::parse(&i);
}

fn exercise_icmpv6(buf: &[u8], s: Ipv6Addr, d: Ipv6Addr) {
    let Ok(_) = Icmpv6::check(buf) else { return };
    let i = Icmpv6Packet::new_checked(buf).unwrap();
    let _ = (
        i.msg_type(),
        i.code(),
        i.mtu(),
        i.target_addr(),
        i.payload(),
        i.verify_checksum(s, d),
    );
    let _ = Icmpv6Repr::parse(&i);
    let _ = icmpv6::find_link_addr_option(i.payload(), 1);
}

/// Every starting header on the same bytes.
fn exercise_all(buf: &[u8]) {
    exercise_ethernet(buf);
    exercise_vlan(buf, 0);
    exercise_arp(buf);
    exercise_ipv4(buf);
    exercise_ipv6(buf);
    exercise_tcp(buf, Ipv4Addr::LOCALHOST.into(), Ipv4Addr::LOCALHOST.into());
    exercise_udp(buf, Ipv6Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into());
    exercise_icmpv4(buf);
    exercise_icmpv6(buf, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
    let _ = tcp::TcpOptions::new(buf).count();
}

/// Random bytes with plausible first bytes, so the deeper layers get
/// reached more often than by uniform noise.
fn biased_bytes() -> impl Strategy<Value = Vec<u8>> {
    let ethertypes = prop_oneof![
        Just([0x08, 0x00]),
        Just([0x86, 0xdd]),
        Just([0x81, 0x00]),
        Just([0x08, 0x06]),
        any::<[u8; 2]>()
    ];
    (any::<[u8; 12]>(), ethertypes, 0u8..3, bytes(120)).prop_map(|(macs, et, ip, rest)| {
        let mut v = macs.to_vec();
        v.extend_from_slice(&et);
        let mut rest = rest;
        if let Some(first) = rest.first_mut() {
            *first = match ip {
                0 => 0x45,
                1 => 0x60,
                _ => *first,
            };
        }
        v.extend(rest);
        v
    })
}

fn valid_packets() -> Vec<Vec<u8>> {
    let (m1, m2) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
    let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let (a6, b6): (Ipv6Addr, Ipv6Addr) = (
        "2001:db8::1".parse().unwrap(),
        "2001:db8::2".parse().unwrap(),
    );
    let eth = PacketBuilder::ethernet(m1, m2);
    let templates = [
        eth.ipv4(a, b, 64).udp(1, 2),
        eth.vlan(5)
            .unwrap()
            .ipv4(a, b, 64)
            .tcp_with_options(
                1,
                2,
                3,
                4,
                TcpFlags::SYN,
                5,
                &[TcpOption::MaxSegmentSize(1460), TcpOption::SackPermitted],
            )
            .unwrap(),
        eth.vlan(5)
            .unwrap()
            .vlan(6)
            .unwrap()
            .ipv6(a6, b6, 64)
            .tcp(1, 2, 3, 4, TcpFlags::ACK, 5),
        eth.ipv6(a6, b6, 255).icmpv6_neighbor_solicit(b6, Some(m1)),
        eth.ipv4(a, b, 1).icmpv4_dst_unreachable(3, 0),
        eth.arp_request(a, b),
    ];
    templates
        .iter()
        .map(|t| {
            let mut buf = vec![0u8; t.size(16)];
            t.write(&mut buf, &[0x45; 16]).unwrap();
            buf
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_bytes(buf in bytes(160)) {
        exercise_all(&buf);
    }

    #[test]
    fn random_frames(buf in biased_bytes()) {
        exercise_all(&buf);
    }

    #[test]
    fn corrupted_valid_packets(index in 0usize..6, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut packet = valid_packets().swap_remove(index);
        for (at, value) in flips {
            let at = at % packet.len();
            packet[at] = value;
        }
        exercise_all(&packet);
    }
}

#[test]
fn every_truncation_of_valid_packets() {
    for packet in valid_packets() {
        exercise_all(&packet);
        for len in 0..packet.len() {
            exercise_all(&packet[..len]);
            exercise_all(&packet[len..]);
        }
    }
}
