//! The builder, the views, the Reprs and the checksums allocate nothing:
//! NFs call them per packet (ARP replies, ICMP errors, NAT rewrites).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netfn_wire::*;

#[test]
fn data_path_allocates_nothing() {
    let (m1, m2) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
    let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let (a6, b6) = (Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED);
    let mut buf = [0u8; 256];
    let payload = [7u8; 32];
    let info = allocation_counter::measure(|| {
        let eth = PacketBuilder::ethernet(m1, m2).vlan(3).unwrap();
        let templates = [
            eth.ipv4(a, b, 64).ident(1).udp(1, 2),
            eth.ipv4(a, b, 64)
                .tcp_with_options(
                    1,
                    2,
                    3,
                    4,
                    TcpFlags::SYN,
                    5,
                    &[TcpOption::MaxSegmentSize(1460)],
                )
                .unwrap(),
            eth.ipv4(a, b, 64).icmpv4_time_exceeded(0),
            eth.ipv6(a6, b6, 64).tcp(1, 2, 3, 4, TcpFlags::ACK, 5),
            eth.ipv6(a6, b6, 255)
                .icmpv6_neighbor_advert(0x60, a6, Some(m1)),
            eth.arp_reply(a, m2, b),
        ];
        for t in &templates {
            let len = t.write(&mut buf, &payload).unwrap();
            let frame = &buf[..len];
            let f = EthernetFrame::new_checked(frame).unwrap();
            let _ = EthernetRepr::parse(&f).unwrap();
            let tag = VlanTag::new_checked(f.payload()).unwrap();
            let l3 = tag.payload();
            if tag.ethertype() == EtherType::Ipv4 {
                let ip = Ipv4Packet::new_checked(l3).unwrap();
                let _ = Ipv4Repr::parse(&ip).unwrap();
                if let Ok(tcp) = TcpPacket::new_checked(ip.payload()) {
                    let _ = TcpRepr::parse(&tcp).unwrap();
                    for o in tcp.options() {
                        let _ = o.unwrap();
                    }
                    assert!(tcp.verify_checksum(a.into(), b.into()));
                }
            }
            if tag.ethertype() == EtherType::Ipv6 {
                let ip = Ipv6Packet::new_checked(l3).unwrap();
                let _ = ip.upper_layer().unwrap();
                if let Ok(icmp) = Icmpv6Packet::new_checked(ip.payload()) {
                    let _ = Icmpv6Repr::parse(&icmp).unwrap();
                }
            }
            if tag.ethertype() == EtherType::Arp {
                let arp = ArpPacket::new_checked(l3).unwrap();
                let _ = ArpRepr::parse(&arp).unwrap();
            }
        }
        // In-place NAT rewrite.
        let len = templates[0].write(&mut buf, &payload).unwrap();
        let mut ip = Ipv4Packet::new_checked(&mut buf[18..len]).unwrap();
        ip.update_src_addr(Ipv4Addr::new(192, 0, 2, 1));
        ip.decrement_ttl();
        let mut udp = UdpPacket::new_checked(ip.payload_mut()).unwrap();
        udp.update_src_port(40000);
        udp.update_checksum_for_addr(IpAddr::V4(a), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        let _ = checksum::checksum(&buf);
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

/// Guards the test above: the counting allocator is really installed.
#[test]
fn counter_sees_allocations() {
    let info = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 16]);
    });
    assert!(info.count_total > 0);
}
