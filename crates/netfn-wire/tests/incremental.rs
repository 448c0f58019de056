//! Incremental checksum updates (RFC 1624) give exactly what a full
//! recomputation gives.

mod common;

use std::net::IpAddr;

use common::*;
use netfn_wire::checksum::{self, update_bytes, update16, update32};
use netfn_wire::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Ipv4Update {
    Ttl(u8),
    Decrement,
    Src(std::net::Ipv4Addr),
    Dst(std::net::Ipv4Addr),
    Dscp(u8),
}

fn ipv4_update() -> impl Strategy<Value = Ipv4Update> {
    prop_oneof![
        any::<u8>().prop_map(Ipv4Update::Ttl),
        Just(Ipv4Update::Decrement),
        ipv4().prop_map(Ipv4Update::Src),
        ipv4().prop_map(Ipv4Update::Dst),
        (0u8..64).prop_map(Ipv4Update::Dscp),
    ]
}

proptest! {
    #[test]
    fn raw_updates(data in proptest::collection::vec(any::<u8>(), 8..200), at in any::<usize>(), new in any::<[u8; 6]>()) {
        let mut data = data;
        let original = checksum::checksum(&data);
        // A 16-bit word, a 32-bit word and a 6-byte run, all word-aligned.
        let at = (at % (data.len() - 6)) & !1;
        let mut changed = data.clone();
        changed[at..at + 6].copy_from_slice(&new);
        let expected = checksum::checksum(&changed);
        prop_assert_eq!(update_bytes(original, &data[at..at + 6], &new), expected);
        let word = |d: &[u8]| u16::from_be_bytes([d[at], d[at + 1]]);
        let dword = |d: &[u8]| u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]);
        data[at + 2..].copy_from_slice(&changed[at + 2..]);
        let partial = checksum::checksum(&data);
        prop_assert_eq!(update16(partial, word(&data), word(&changed)), expected);
        let mut d2 = changed.clone();
        d2[at..at + 4].copy_from_slice(&data[at..at + 4]);
        prop_assert_eq!(update32(checksum::checksum(&d2), dword(&d2), dword(&changed)), expected);
    }

    #[test]
    fn ipv4_header(
        src in ipv4(),
        dst in ipv4(),
        ttl in any::<u8>(),
        ident in any::<u16>(),
        updates in proptest::collection::vec(ipv4_update(), 1..8),
    ) {
        let mut buf = [0u8; 20];
        let repr = Ipv4Repr {
            src_addr: src, dst_addr: dst, protocol: IpProtocol::Udp, payload_len: 0, ttl,
            dscp: 0, ecn: 1, ident, dont_frag: true, more_frags: false, frag_offset: 0,
        };
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..])).unwrap();
        let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        for u in updates {
            match u {
                Ipv4Update::Ttl(t) => p.update_ttl(t),
                Ipv4Update::Decrement => {
                    let before = p.ttl();
                    let after = p.decrement_ttl();
                    prop_assert_eq!(after, before.saturating_sub(1));
                    prop_assert_eq!(p.ttl(), after);
                }
                Ipv4Update::Src(a) => p.update_src_addr(a),
                Ipv4Update::Dst(a) => p.update_dst_addr(a),
                Ipv4Update::Dscp(d) => p.update_dscp(d),
            }
            let patched = p.checksum();
            prop_assert!(p.verify_checksum());
            p.fill_checksum();
            prop_assert_eq!(patched, p.checksum());
        }
    }

    #[test]
    fn tcp_nat(
        (src, dst) in addr_pair(),
        (new_src, new_dst) in addr_pair(),
        ports in any::<(u16, u16)>(),
        new_ports in any::<(u16, u16)>(),
        seq in any::<(u32, u32)>(),
        payload in bytes(100),
    ) {
        let repr = TcpRepr {
            src_port: ports.0, dst_port: ports.1, seq_number: seq.0, ack_number: seq.1,
            flags: TcpFlags::ACK, window: 100, urgent: 0, options: &[],
        };
        let mut buf = vec![0u8; repr.buffer_len(payload.len())];
        repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..])).unwrap();
        buf[20..].copy_from_slice(&payload);
        let mut p = TcpPacket::new_checked(&mut buf[..]).unwrap();
        p.fill_checksum(src, dst);
        p.update_src_port(new_ports.0);
        p.update_dst_port(new_ports.1);
        p.update_seq_number(seq.1);
        p.update_ack_number(seq.0);
        // Family may change too (NAT64-like): the pseudo-header sums alike.
        p.update_checksum_for_addr(src, new_src);
        p.update_checksum_for_addr(dst, new_dst);
        let patched = p.checksum();
        prop_assert!(p.verify_checksum(new_src, new_dst));
        p.fill_checksum(new_src, new_dst);
        prop_assert_eq!(patched, p.checksum());
    }

    #[test]
    fn udp_nat(
        (src, dst) in addr_pair(),
        new_src in ipv4(),
        new_ports in any::<(u16, u16)>(),
        payload in bytes(100),
        no_checksum in any::<bool>(),
    ) {
        let repr = UdpRepr { src_port: 1, dst_port: 2, payload_len: payload.len() as u16 };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut UdpPacket::new_unchecked(&mut buf[..])).unwrap();
        buf[8..].copy_from_slice(&payload);
        let mut p = UdpPacket::new_checked(&mut buf[..]).unwrap();
        if !no_checksum {
            p.fill_checksum(src, dst);
        }
        let new_src = IpAddr::V4(new_src);
        let new_src = if src.is_ipv4() { new_src } else { IpAddr::V6(match new_src { IpAddr::V4(a) => a.to_ipv6_mapped(), IpAddr::V6(a) => a }) };
        p.update_src_port(new_ports.0);
        p.update_dst_port(new_ports.1);
        p.update_checksum_for_addr(src, new_src);
        if no_checksum {
            prop_assert_eq!(p.checksum(), 0, "no checksum stays no checksum");
        } else {
            let patched = p.checksum();
            prop_assert_ne!(patched, 0);
            p.fill_checksum(new_src, dst);
            prop_assert_eq!(patched, p.checksum());
            prop_assert!(p.verify_checksum(new_src, dst));
        }
    }

    #[test]
    fn icmp_ident(ident in any::<u16>(), new_ident in any::<u16>(), data in bytes(64)) {
        let repr = Icmpv4Repr::EchoRequest { ident, seq_no: 1, data: &data };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..])).unwrap();
        let mut p = Icmpv4Packet::new_checked(&mut buf[..]).unwrap();
        p.update_echo_ident(new_ident);
        let patched = p.checksum();
        p.fill_checksum();
        prop_assert_eq!(patched, p.checksum());
    }

    #[test]
    fn icmpv6_address((src, dst, new) in (ipv6(), ipv6(), ipv6()), data in bytes(64)) {
        let repr = Icmpv6Repr::EchoReply { ident: 1, seq_no: 2, data: &data };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(src, dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..])).unwrap();
        let mut p = Icmpv6Packet::new_checked(&mut buf[..]).unwrap();
        p.update_checksum_for_addr(dst, new);
        let patched = p.checksum();
        p.fill_checksum(src, new);
        prop_assert_eq!(patched, p.checksum());
    }
}
