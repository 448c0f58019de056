//! The `router` NF end to end: the LPM tables against a naive
//! longest-match model on random tables (with incremental deletes), golden
//! pcaps checked independently with etherparse, random bytes, config
//! errors, route changes at run time, and no allocation in steady state.
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p
//! netfn-nfs --test router`.

mod common;

use common::fuzz;

use common::golden::Golden;

use common::alloc::Steady;

use common::params::strs;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use etherparse as ep;
use netfn_core::config::{Params, Value};
use netfn_core::testing::Harness;
use netfn_core::{DropReason, Nf};
use netfn_nfs::router::lpm::{Lpm, Table4, Table6};
use netfn_nfs::router::{Address, Neighbor, Route, Router, RouterConfig, Target};
use netfn_wire::{Ipv4Packet, Ipv6Packet, MacAddr, PacketBuilder, TcpFlags};
use proptest::prelude::*;

// ---------------------------------------------------------------------
// LPM against a naive model

/// The naive reference: scan every route, keep the longest that matches.
/// Prefixes are (bits, length) with the address in the low `width` bits.
fn naive_lookup(routes: &[(u128, u8, u32)], addr: u128, width: u32) -> Option<u32> {
    routes
        .iter()
        .filter(|(p, len, _)| {
            let len = u32::from(*len);
            len == 0 || (addr >> (width - len)) == (*p >> (width - len))
        })
        .max_by_key(|(_, len, _)| *len)
        .map(|(_, _, v)| *v)
}

/// Random prefixes clustered around a few bases so they overlap, with
/// lengths over the whole range (and extra weight on the level edges).
fn prefixes(width: u32) -> impl Strategy<Value = Vec<(u128, u8, u32)>> {
    let lens: Vec<u8> = (0..=width as u8).collect();
    let edge: Vec<u8> = if width == 32 {
        vec![0, 8, 16, 23, 24, 25, 31, 32]
    } else {
        vec![0, 16, 24, 32, 48, 56, 64, 127, 128]
    };
    let len = prop_oneof![prop::sample::select(lens), prop::sample::select(edge)];
    let mask = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    (
        prop::collection::vec(any::<u128>(), 1..4),
        // Few distinct values: sibling prefixes often share one, so groups
        // fill with identical entries of long prefixes (which must not fold).
        prop::collection::vec((0usize..4, any::<u128>(), 0u32..40, len, 0u32..6), 1..120),
    )
        .prop_map(move |(bases, items)| {
            let mut seen = HashMap::new();
            for (b, noise, flip_bits, len, value) in items {
                let base = bases[b % bases.len()] & mask;
                // Flip a few low-order bits so siblings and nested prefixes appear.
                let flip = noise & ((1u128 << flip_bits.min(width - 1)) - 1);
                let addr = (base ^ flip) & mask;
                let len32 = u32::from(len);
                let p = if len32 == 0 {
                    0
                } else {
                    (addr >> (width - len32)) << (width - len32)
                };
                seen.insert((p, len), value);
            }
            seen.into_iter().map(|((p, l), v)| (p, l, v)).collect()
        })
}

/// Addresses inside and next to the prefixes, and some anywhere.
fn probes(routes: &[(u128, u8, u32)], width: u32, seed: u64) -> Vec<u128> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mask = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    let mut v = Vec::new();
    for &(p, len, _) in routes {
        let hosts = mask.checked_shr(u32::from(len)).unwrap_or(0);
        v.push(p | (rng.u128(..) & hosts));
        v.push(p);
        v.push(p | hosts); // last address of the prefix
        v.push((p | hosts).wrapping_add(1) & mask); // just after
    }
    v.extend((0..64).map(|_| rng.u128(..) & mask));
    v
}

fn check_v4(routes: &[(u128, u8, u32)], deletes: &[bool], seed: u64) -> Result<(), TestCaseError> {
    let mut lpm: Lpm<32, 24> = Lpm::new(1 << 16);
    // Every third route first goes in with another value, then is replaced.
    for (i, &(p, len, v)) in routes.iter().enumerate() {
        if i % 3 == 0 {
            lpm.insert(p << 96, len, v + 100).unwrap();
        }
    }
    for &(p, len, v) in routes {
        lpm.insert(p << 96, len, v).unwrap();
    }
    let table: &Table4 = &lpm.table;
    for a in probes(routes, 32, seed) {
        let want = naive_lookup(routes, a, 32);
        prop_assert_eq!(
            table.lookup_v4(a as u32),
            want,
            "{}",
            Ipv4Addr::from(a as u32)
        );
        prop_assert_eq!(table.lookup(a << 96), want);
    }
    // Delete some routes incrementally; the rest must still match.
    let kept: Vec<_> = routes
        .iter()
        .zip(deletes.iter().cycle())
        .filter_map(|(r, del)| {
            if *del {
                lpm.remove(r.0 << 96, r.1);
                None
            } else {
                Some(*r)
            }
        })
        .collect();
    for a in probes(routes, 32, seed + 1) {
        prop_assert_eq!(lpm.table.lookup_v4(a as u32), naive_lookup(&kept, a, 32));
    }
    // Deleting everything frees every group.
    for r in &kept {
        lpm.remove(r.0 << 96, r.1);
    }
    prop_assert_eq!(lpm.table.groups_in_use(), 0);
    prop_assert!(lpm.rules.is_empty());
    Ok(())
}

fn check_v6(routes: &[(u128, u8, u32)], deletes: &[bool], seed: u64) -> Result<(), TestCaseError> {
    let mut lpm: Lpm<128, 16> = Lpm::new(1 << 16);
    // Every third route first goes in with another value, then is replaced.
    for (i, &(p, len, v)) in routes.iter().enumerate() {
        if i % 3 == 0 {
            lpm.insert(p, len, v + 100).unwrap();
        }
    }
    for &(p, len, v) in routes {
        lpm.insert(p, len, v).unwrap();
    }
    let table: &Table6 = &lpm.table;
    for a in probes(routes, 128, seed) {
        prop_assert_eq!(
            table.lookup(a),
            naive_lookup(routes, a, 128),
            "{}",
            Ipv6Addr::from(a)
        );
    }
    let kept: Vec<_> = routes
        .iter()
        .zip(deletes.iter().cycle())
        .filter_map(|(r, del)| {
            if *del {
                lpm.remove(r.0, r.1);
                None
            } else {
                Some(*r)
            }
        })
        .collect();
    for a in probes(routes, 128, seed + 1) {
        prop_assert_eq!(lpm.table.lookup(a), naive_lookup(&kept, a, 128));
    }
    for r in &kept {
        lpm.remove(r.0, r.1);
    }
    prop_assert_eq!(lpm.table.groups_in_use(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// DIR-24-8 gives the naive longest match for every probe, after
    /// building and after deleting a random half of the routes.
    #[test]
    fn ipv4_lpm_matches_naive_longest_match(
        routes in prefixes(32),
        deletes in prop::collection::vec(any::<bool>(), 1..16),
        seed in any::<u64>(),
    ) {
        check_v4(&routes, &deletes, seed)?;
    }

    /// The IPv6 trie likewise.
    #[test]
    fn ipv6_lpm_matches_naive_longest_match(
        routes in prefixes(128),
        deletes in prop::collection::vec(any::<bool>(), 1..16),
        seed in any::<u64>(),
    ) {
        check_v6(&routes, &deletes, seed)?;
    }
}

// ---------------------------------------------------------------------
// The NF

const HOST_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const R0: MacAddr = MacAddr([2, 0, 0, 0, 0xff, 0]);
const R1: MacAddr = MacAddr([2, 0, 0, 0, 0xff, 1]);
const GW1: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);
const GW2: MacAddr = MacAddr([2, 0, 0, 0, 1, 2]);
const SERVER: MacAddr = MacAddr([2, 0, 0, 0, 1, 9]);

fn ip4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn route(s: &str) -> Route {
    let line = netfn_nfs::router::routes::parse_route(s, 2)
        .unwrap()
        .unwrap();
    netfn_nfs::router::resolve_routes(&[((), line)], &addresses()).unwrap()[0]
}

fn addresses() -> Vec<Address> {
    [
        "10.0.255.254/16 dev 0",
        "fd00:1::fffe/64 dev 0",
        "192.0.2.254/24 dev 1",
        "2001:db8::fffe/64 dev 1",
    ]
    .iter()
    .map(|s| {
        netfn_nfs::router::routes::parse_address(s, 2)
            .unwrap()
            .unwrap()
    })
    .collect()
}

fn config() -> RouterConfig {
    let mut c = RouterConfig::new(2);
    c.macs = vec![R0, R1];
    c.addresses = addresses();
    c.routes = [
        "10.1.0.0/16 via 192.0.2.1 dev 1",
        "10.1.7.0/28 via 192.0.2.2",
        "198.51.100.0/24 dev 1",
        "2001:db8:5::/48 via 2001:db8::1 dev 1",
        "2001:db8:5:1::/64 via 2001:db8::2 dev 1",
        "blackhole 10.9.0.0/16",
        "unreachable 10.8.0.0/16",
        "prohibit 10.7.0.0/16",
        "unreachable 2001:db8:8::/48",
        "10.2.0.0/16 via 192.0.2.99",
    ]
    .iter()
    .map(|s| route(s))
    .collect();
    c.neighbors = vec![
        Neighbor {
            ip: "192.0.2.1".parse().unwrap(),
            mac: GW1,
        },
        Neighbor {
            ip: "192.0.2.2".parse().unwrap(),
            mac: GW2,
        },
        Neighbor {
            ip: "198.51.100.9".parse().unwrap(),
            mac: SERVER,
        },
        Neighbor {
            ip: "2001:db8::1".parse().unwrap(),
            mac: GW1,
        },
        Neighbor {
            ip: "2001:db8::2".parse().unwrap(),
            mac: GW2,
        },
    ];
    c
}

fn udp4(src: &str, dst: &str, ttl: u8, len: usize) -> Vec<u8> {
    let t = PacketBuilder::ethernet(HOST_MAC, R0)
        .ipv4(ip4(src), ip4(dst), ttl)
        .ident(0x77)
        .udp(4000, 53);
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let mut buf = vec![0; t.size(len)];
    t.write(&mut buf, &payload).unwrap();
    buf
}

fn tcp4(src: &str, dst: &str, ttl: u8) -> Vec<u8> {
    let t = PacketBuilder::ethernet(HOST_MAC, R0)
        .ipv4(ip4(src), ip4(dst), ttl)
        .tcp(1234, 80, 7, 0, TcpFlags::SYN, 100);
    let mut buf = vec![0; t.size(4)];
    t.write(&mut buf, b"data").unwrap();
    buf
}

fn udp6(src: &str, dst: &str, hop_limit: u8, len: usize) -> Vec<u8> {
    let t = PacketBuilder::ethernet(HOST_MAC, R0)
        .ipv6(ip6(src), ip6(dst), hop_limit)
        .udp(4000, 53);
    let mut buf = vec![0; t.size(len)];
    t.write(&mut buf, &vec![7; len]).unwrap();
    buf
}

fn echo4(src: &str, dst: &str) -> Vec<u8> {
    let t = PacketBuilder::ethernet(HOST_MAC, R0)
        .ipv4(ip4(src), ip4(dst), 64)
        .icmpv4_echo_request(0x42, 1);
    let mut buf = vec![0; t.size(16)];
    t.write(&mut buf, &[0xab; 16]).unwrap();
    buf
}

fn echo6(src: &str, dst: &str) -> Vec<u8> {
    let t = PacketBuilder::ethernet(HOST_MAC, R0)
        .ipv6(ip6(src), ip6(dst), 64)
        .icmpv6_echo_request(0x42, 1);
    let mut buf = vec![0; t.size(16)];
    t.write(&mut buf, &[0xcd; 16]).unwrap();
    buf
}

/// A non-first fragment of a UDP datagram, TTL 1.
fn later_fragment(dst: &str) -> Vec<u8> {
    let mut f = udp4("10.0.0.5", dst, 1, 40);
    let mut p = Ipv4Packet::new_unchecked(&mut f[14..]);
    p.set_frag_offset(64);
    p.fill_checksum();
    f
}

/// Every case the router handles, with what it must do.
fn traffic() -> Vec<(Vec<u8>, &'static str)> {
    let mut v = vec![
        (udp4("10.0.0.5", "10.1.2.3", 64, 18), "fwd gw1"),
        (
            tcp4("10.0.0.6", "10.1.7.9", 9),
            "fwd gw2 (/28: second read)",
        ),
        (udp4("10.0.0.5", "198.51.100.9", 64, 8), "fwd connected"),
        (
            udp4("10.0.0.5", "198.51.100.10", 64, 8),
            "no neighbour (connected)",
        ),
        (
            udp4("10.0.0.5", "10.2.0.1", 64, 8),
            "no neighbour (gateway)",
        ),
        (udp4("10.0.0.5", "10.1.2.3", 1, 18), "ttl exceeded"),
        (
            udp4("10.0.0.5", "203.0.113.1", 64, 600),
            "no route (long quote)",
        ),
        (udp4("10.0.0.5", "10.8.1.1", 64, 8), "unreachable route"),
        (udp4("10.0.0.5", "10.7.1.1", 64, 8), "prohibit route"),
        (udp4("10.0.0.5", "10.9.1.1", 64, 8), "blackhole"),
        (
            later_fragment("10.1.2.3"),
            "ttl 1 non-first fragment: no ICMP",
        ),
        (echo4("10.0.0.5", "10.0.255.254"), "echo v4"),
        (
            echo4("10.0.0.5", "192.0.2.254"),
            "echo v4 to another port's address",
        ),
        (
            udp4("10.0.0.5", "10.0.255.254", 1, 8),
            "udp to router: local",
        ),
        (
            udp4("10.0.0.5", "255.255.255.255", 1, 8),
            "broadcast: local",
        ),
        (udp4("127.0.0.1", "10.1.2.3", 64, 8), "martian source"),
        (udp6("fd00:1::5", "2001:db8:5::1", 64, 10), "fwd v6 /48"),
        (udp6("fd00:1::5", "2001:db8:5:1::1", 64, 10), "fwd v6 /64"),
        (
            udp6("fd00:1::5", "2001:db8:5::1", 1, 10),
            "hop limit exceeded",
        ),
        (
            udp6("fd00:1::5", "2001:db8:9::1", 64, 1400),
            "v6 no route (quote cut at 1280)",
        ),
        (
            udp6("fd00:1::5", "2001:db8:8::1", 64, 10),
            "v6 unreachable route",
        ),
        (
            udp6("fe80::5", "2001:db8:5::1", 64, 10),
            "link-local source: beyond scope",
        ),
        (udp6("fd00:1::5", "ff02::1", 1, 10), "v6 multicast: local"),
        (echo6("fd00:1::5", "fd00:1::fffe"), "echo v6"),
    ];
    // An ICMP error whose packet expired: no error about an error.
    let inner = udp4("10.1.2.3", "10.0.0.5", 1, 8);
    let t = PacketBuilder::ethernet(HOST_MAC, R0)
        .ipv4(ip4("10.0.0.7"), ip4("10.1.2.3"), 1)
        .icmpv4_dst_unreachable(3, 0);
    let mut buf = vec![0; t.size(inner.len() - 14)];
    t.write(&mut buf, &inner[14..]).unwrap();
    v.push((buf, "ICMP error with TTL 1: no ICMP"));
    let mut bad = udp4("10.0.0.5", "10.1.2.3", 64, 8);
    bad[24] ^= 0xff; // IPv4 checksum
    v.push((bad, "bad checksum"));
    v.push((
        udp4("10.0.0.5", "10.1.2.3", 64, 8)[..30].to_vec(),
        "truncated",
    ));
    let mut l2bcast = udp4("10.0.0.5", "10.1.2.3", 64, 8);
    l2bcast[..6].copy_from_slice(&[0xff; 6]);
    v.push((l2bcast, "link-layer broadcast: not forwarded"));
    let tagged = PacketBuilder::ethernet(HOST_MAC, R0)
        .vlan(7)
        .unwrap()
        .ipv4(ip4("10.0.0.5"), ip4("10.1.2.3"), 1)
        .udp(1, 2);
    let mut buf = vec![0; tagged.size(4)];
    tagged.write(&mut buf, &[1; 4]).unwrap();
    v.push((buf, "tagged ttl 1: ICMP keeps the tag"));
    let arp = PacketBuilder::ethernet(HOST_MAC, MacAddr::BROADCAST)
        .arp_request(ip4("10.0.0.5"), ip4("10.0.255.254"));
    let mut buf = vec![0; arp.size(0)];
    arp.write(&mut buf, &[]).unwrap();
    v.push((buf, "arp: local"));
    v
}

/// The committed captures of this NF's tests.
fn golden_dir() -> Golden {
    Golden::new("router")
}

type PerFrame = Vec<(Vec<(u16, Vec<u8>)>, Vec<DropReason>)>;

/// Runs each frame through the router alone; what came out of it.
fn run_each(frames: &[Vec<u8>]) -> PerFrame {
    let mut h = Harness::new(Router::new(config()).unwrap());
    frames
        .iter()
        .map(|f| {
            let out = h.process_bytes(0, &[f]);
            let fwd = out
                .forwarded
                .iter()
                .map(|(k, p)| (*k, p.data().to_vec()))
                .collect();
            (fwd, out.drop_reasons())
        })
        .collect()
}

/// Checks one output frame with etherparse: every checksum it can
/// compute, and returns its headers.
fn ep_parse(frame: &[u8]) -> ep::PacketHeaders<'_> {
    let h = ep::PacketHeaders::from_ethernet_slice(frame).expect("parses");
    match (&h.net, &h.transport) {
        (Some(ep::NetHeaders::Ipv4(ip, _)), t) => {
            assert_eq!(
                ip.header_checksum,
                ip.calc_header_checksum(),
                "IPv4 checksum"
            );
            match t {
                Some(ep::TransportHeader::Icmpv4(icmp)) => {
                    let mut c = icmp.clone();
                    c.update_checksum(h.payload.slice());
                    assert_eq!(c.checksum, icmp.checksum, "ICMPv4 checksum");
                }
                Some(ep::TransportHeader::Udp(u)) => assert_eq!(
                    u.checksum,
                    u.calc_checksum_ipv4(ip, h.payload.slice()).unwrap()
                ),
                Some(ep::TransportHeader::Tcp(t)) => assert_eq!(
                    t.checksum,
                    t.calc_checksum_ipv4(ip, h.payload.slice()).unwrap()
                ),
                _ => {}
            }
        }
        (Some(ep::NetHeaders::Ipv6(ip, _)), Some(ep::TransportHeader::Icmpv6(icmp))) => {
            let mut c = icmp.clone();
            c.update_checksum(ip.source, ip.destination, h.payload.slice())
                .unwrap();
            assert_eq!(c.checksum, icmp.checksum, "ICMPv6 checksum");
        }
        (Some(ep::NetHeaders::Ipv6(ip, _)), Some(ep::TransportHeader::Udp(u))) => assert_eq!(
            u.checksum,
            u.calc_checksum_ipv6(ip, h.payload.slice()).unwrap()
        ),
        _ => {}
    }
    h
}

/// The L3 offset of a test frame (one VLAN tag at most).
fn l3_of(frame: &[u8]) -> usize {
    if frame[12..14] == [0x81, 0] { 18 } else { 14 }
}

/// What the router must do with `input`, by a model written from the RFCs
/// and the routes above (not from the NF's code), checked on its output.
fn check_case(input: &[u8], what: &str, out: &[(u16, Vec<u8>)], drops: &[DropReason]) {
    let fwd = |port: u16, mac: MacAddr| {
        assert!(drops.is_empty(), "{what}: {drops:?}");
        assert_eq!(out.len(), 1, "{what}");
        let (k, f) = &out[0];
        assert_eq!(*k, port, "{what}");
        assert_eq!(f[..6], mac.0, "{what}: dst MAC");
        assert_eq!(f[6..12], [R0, R1][usize::from(port)].0, "{what}: src MAC");
        let h = ep_parse(f);
        match &h.net {
            Some(ep::NetHeaders::Ipv4(ip, _)) => {
                let orig = ep::Ipv4HeaderSlice::from_slice(&input[14..]).unwrap();
                assert_eq!(ip.time_to_live, orig.ttl() - 1, "{what}: TTL");
            }
            Some(ep::NetHeaders::Ipv6(ip, _)) => {
                let orig = ep::Ipv6HeaderSlice::from_slice(&input[14..]).unwrap();
                assert_eq!(ip.hop_limit, orig.hop_limit() - 1, "{what}: hop limit");
            }
            _ => panic!("{what}: not IP"),
        }
        // Only the MACs, the TTL / hop limit and the IPv4 checksum change.
        let (a, b) = (&f[12..], &input[12..]);
        let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        assert!(
            differing
                .iter()
                .all(|&i| [10, 12, 13].contains(&i) || i == 9),
            "{what}: bytes {differing:?} changed"
        );
    };
    let icmp = |reason: DropReason, v4: (u8, u8), from: &str| {
        assert_eq!(drops, &[reason], "{what}");
        assert_eq!(out.len(), 1, "{what}: one ICMP error");
        let (k, f) = &out[0];
        assert_eq!(*k, 0, "{what}: back out of the input port");
        assert_eq!(f[..6], HOST_MAC.0, "{what}: to the previous hop");
        assert_eq!(f[6..12], R0.0);
        let h = ep_parse(f);
        let l3 = l3_of(input);
        assert_eq!(f[12..l3], input[12..l3], "{what}: same VLAN tags");
        let quoted = h.payload.slice();
        let original = &input[l3..];
        match (&h.net, &h.transport) {
            (Some(ep::NetHeaders::Ipv4(ip, _)), Some(ep::TransportHeader::Icmpv4(icmp))) => {
                assert_eq!(ip.source, ip4(from).octets(), "{what}: source");
                assert_eq!(ip.destination, original[12..16], "{what}: to the sender");
                assert!(usize::from(ip.total_len) <= 576, "{what}: RFC 1812 size");
                let b = icmp.to_bytes();
                assert_eq!((b[0], b[1]), v4, "{what}: type/code");
                let ihl = usize::from(original[0] & 0xf) * 4;
                assert!(quoted.len() >= (ihl + 8).min(original.len()));
                assert_eq!(quoted, &original[..quoted.len()], "{what}: quote");
                assert_eq!(quoted.len(), original.len().min(576 - 28));
            }
            (Some(ep::NetHeaders::Ipv6(ip, _)), Some(ep::TransportHeader::Icmpv6(icmp))) => {
                assert_eq!(ip.source, ip6(from).octets(), "{what}: source");
                assert_eq!(ip.destination, original[8..24]);
                let b = icmp.to_bytes();
                assert_eq!((b[0], b[1]), v4, "{what}: type/code");
                assert_eq!(quoted, &original[..quoted.len()], "{what}: quote");
                assert_eq!(quoted.len(), original.len().min(1280 - 48));
            }
            other => panic!("{what}: not ICMP: {other:?}"),
        }
    };
    let dropped = |reason: DropReason| {
        assert_eq!(drops, &[reason], "{what}");
        assert!(out.is_empty(), "{what}: nothing sent");
    };
    let local = || {
        assert!(drops.is_empty(), "{what}");
        assert_eq!(out, &[(2, input.to_vec())], "{what}: unchanged to local");
    };
    let echo = |src: &str| {
        assert!(drops.is_empty(), "{what}");
        assert_eq!(out.len(), 1, "{what}");
        let (k, f) = &out[0];
        assert_eq!(*k, 0);
        assert_eq!((&f[..6], &f[6..12]), (&HOST_MAC.0[..], &R0.0[..]));
        let h = ep_parse(f);
        match (&h.net, &h.transport) {
            (Some(ep::NetHeaders::Ipv4(ip, _)), Some(ep::TransportHeader::Icmpv4(i))) => {
                assert_eq!(ip.source, ip4(src).octets());
                assert_eq!(ip.destination, input[26..30]);
                assert!(matches!(i.icmp_type, ep::Icmpv4Type::EchoReply(_)));
            }
            (Some(ep::NetHeaders::Ipv6(ip, _)), Some(ep::TransportHeader::Icmpv6(i))) => {
                assert_eq!(ip.source, ip6(src).octets());
                assert!(matches!(i.icmp_type, ep::Icmpv6Type::EchoReply(_)));
            }
            other => panic!("{what}: not an echo reply: {other:?}"),
        }
        assert_eq!(
            h.payload.slice(),
            &input[input.len() - 16..],
            "{what}: data"
        );
    };
    use DropReason::*;
    match what {
        "fwd gw1" | "fwd v6 /48" => fwd(1, GW1),
        "fwd gw2 (/28: second read)" | "fwd v6 /64" => fwd(1, GW2),
        "fwd connected" => fwd(1, SERVER),
        "no neighbour (connected)" | "no neighbour (gateway)" => dropped(NoNeighbor),
        "ttl exceeded" | "tagged ttl 1: ICMP keeps the tag" => {
            icmp(TtlExceeded, (11, 0), "10.0.255.254")
        }
        "no route (long quote)" | "unreachable route" => icmp(NoRoute, (3, 0), "10.0.255.254"),
        "prohibit route" => icmp(PolicyDeny, (3, 13), "10.0.255.254"),
        "blackhole" => dropped(NoRoute),
        "ttl 1 non-first fragment: no ICMP" | "ICMP error with TTL 1: no ICMP" => {
            dropped(TtlExceeded)
        }
        "echo v4" => echo("10.0.255.254"),
        "echo v4 to another port's address" => echo("192.0.2.254"),
        "udp to router: local" | "broadcast: local" | "v6 multicast: local" | "arp: local" => {
            local()
        }
        "martian source" | "link-layer broadcast: not forwarded" => dropped(Filtered),
        "hop limit exceeded" => icmp(TtlExceeded, (3, 0), "fd00:1::fffe"),
        "v6 no route (quote cut at 1280)" | "v6 unreachable route" => {
            icmp(NoRoute, (1, 0), "fd00:1::fffe")
        }
        "link-local source: beyond scope" => icmp(Filtered, (1, 2), "fd00:1::fffe"),
        "echo v6" => echo("fd00:1::fffe"),
        "bad checksum" | "truncated" => dropped(Malformed),
        other => panic!("no model for {other}"),
    }
}

#[test]
fn golden_and_model() {
    let cases = traffic();
    let frames: Vec<Vec<u8>> = cases.iter().map(|(f, _)| f.clone()).collect();
    let g = golden_dir();
    let input = g.committed("traffic.in.pcap", &frames);
    let results = run_each(&input);
    for ((frame, what), (out, drops)) in cases.iter().zip(&results) {
        check_case(frame, what, out, drops);
    }
    // The outputs, byte for byte, per output port.
    for port in 0..3u16 {
        let got: Vec<Vec<u8>> = results
            .iter()
            .flat_map(|(out, _)| {
                out.iter()
                    .filter(|(k, _)| *k == port)
                    .map(|(_, f)| f.clone())
            })
            .collect();
        g.compare(&format!("out{port}.out.pcap"), &got);
    }
}

/// ICMP errors stop at the bucket's burst and resume at its rate.
#[test]
fn icmp_errors_are_rate_limited() {
    let mut cfg = config();
    cfg.icmp_rate = 100;
    cfg.icmp_burst = 5;
    let mut h = Harness::new(Router::new(cfg).unwrap());
    let expired = udp4("10.0.0.5", "10.1.2.3", 1, 8);
    let frames: Vec<&[u8]> = vec![&expired; 20];
    let out = h.process_bytes(0, &frames);
    assert_eq!(out.dropped.len(), 20);
    assert_eq!(out.on(0).len(), 5, "the burst");
    h.advance(Duration::from_millis(30)); // 3 tokens at 100/s
    let out = h.process_bytes(0, &frames);
    assert_eq!(out.on(0).len(), 3);
    let mut c = HashMap::new();
    h.nf.counters(&mut |k, v| {
        c.insert(k.to_string(), v);
    });
    assert_eq!((c["icmp_sent"], c["icmp_rate_limited"]), (8, 32));
    assert_eq!(c["ttl_exceeded"], 40);
}

/// A unicast frame for another station (promiscuous capture, a shared
/// segment) is neither routed, answered nor delivered locally: Linux's
/// PACKET_OTHERHOST. Frames to any of the router's MACs are routed (NFs
/// before it may merge both directions into one input).
#[test]
fn frames_for_another_station_are_dropped() {
    let mut h = Harness::new(Router::new(config()).unwrap());
    let ours = udp4("10.0.0.5", "10.1.2.3", 64, 18);
    let mut theirs = ours.clone();
    theirs[..6].copy_from_slice(&[2, 0, 0, 0, 7, 7]);
    let mut ping = echo4("10.0.0.5", "10.0.255.254");
    ping[..6].copy_from_slice(&[2, 0, 0, 0, 7, 7]);
    let out = h.process_bytes(0, &[&theirs, &ping]);
    assert!(
        out.forwarded.is_empty(),
        "nothing leaves: {}",
        out.forwarded.len()
    );
    assert_eq!(out.drop_reasons(), vec![DropReason::Filtered; 2]);
    let mut other_port = ours.clone();
    other_port[..6].copy_from_slice(&R1.0); // port 1's MAC, received on port 0
    let out = h.process_bytes(0, &[&ours, &other_port]);
    assert_eq!(out.on(1).len(), 2, "to the router's MACs: routed");
    let mut c = HashMap::new();
    h.nf.counters(&mut |k, v| {
        c.insert(k.to_string(), v);
    });
    assert_eq!((c["other_host"], c["forwarded"]), (2, 2));
}

/// The NF's forwarding decision follows the naive longest match on random
/// tables too (ports by route, through the whole packet path).
#[test]
fn forwarding_follows_naive_longest_match() {
    let mut rng = fastrand::Rng::with_seed(9);
    for round in 0..4 {
        let mut cfg = RouterConfig::new(4);
        cfg.neighbors = (0..4)
            .map(|i| Neighbor {
                ip: IpAddr::from([192, 0, 2, i + 1]),
                mac: MacAddr([2, 0, 0, 0, 1, i + 1]),
            })
            .collect();
        let mut model = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let len = rng.u8(4..=32);
            let addr = (0x0a00_0000 | rng.u32(..0x00ff_ffff)) >> (32 - len) << (32 - len);
            if !seen.insert((addr, len)) {
                continue;
            }
            let dev = rng.u8(0..4);
            cfg.routes.push(Route {
                prefix: ipnet::IpNet::new(IpAddr::from(Ipv4Addr::from(addr)), len).unwrap(),
                target: Target::Via {
                    gateway: IpAddr::from([192, 0, 2, dev + 1]),
                    dev: u16::from(dev),
                },
            });
            model.push((u128::from(addr), len, u32::from(dev)));
        }
        let mut h = Harness::new(Router::new(cfg).unwrap());
        let dsts: Vec<Ipv4Addr> = (0..500)
            .map(|_| Ipv4Addr::from(0x0a00_0000 | rng.u32(..0x00ff_ffff)))
            .collect();
        for d in dsts {
            let f = udp4("172.16.0.1", &d.to_string(), 64, 4);
            let out = h.process_bytes(0, &[&f]);
            match naive_lookup(&model, u128::from(u32::from(d)), 32) {
                Some(dev) => {
                    assert_eq!(out.forwarded.len(), 1, "round {round}: {d}");
                    assert_eq!(u32::from(out.forwarded[0].0), dev, "round {round}: {d}");
                    assert_eq!(out.forwarded[0].1.data()[5], dev as u8 + 1);
                }
                None => assert_eq!(out.drop_reasons(), vec![DropReason::NoRoute], "{d}"),
            }
        }
    }
}

/// Routes and neighbours change through the control handle while traffic
/// flows; the data path sees each change from its next batch.
#[test]
fn control_changes_apply_to_the_next_batch() {
    let router = Router::new(config()).unwrap();
    let control = router.control();
    let mut h = Harness::new(router);
    let f = udp4("10.0.0.5", "10.1.2.3", 64, 8);
    assert_eq!(h.process_bytes(0, &[&f]).on(1)[0][..6], GW1.0);
    control
        .add_route(route("10.1.2.0/24 via 192.0.2.2 dev 1"))
        .unwrap();
    assert_eq!(h.process_bytes(0, &[&f]).on(1)[0][..6], GW2.0);
    control.set_neighbor("192.0.2.2".parse().unwrap(), SERVER);
    assert_eq!(h.process_bytes(0, &[&f]).on(1)[0][..6], SERVER.0);
    control.remove_neighbor("192.0.2.2".parse().unwrap());
    assert_eq!(
        h.process_bytes(0, &[&f]).drop_reasons(),
        vec![DropReason::NoNeighbor]
    );
    control
        .delete_route("10.1.2.0/24".parse().unwrap())
        .unwrap();
    control
        .delete_route("10.1.0.0/16".parse().unwrap())
        .unwrap();
    let out = h.process_bytes(0, &[&f]);
    assert_eq!(out.drop_reasons(), vec![DropReason::NoRoute]);
    assert_eq!(out.on(0).len(), 1, "net unreachable sent");
    // A reload keeps the handle working on the new instance.
    let old = std::mem::replace(&mut h.nf, Router::new(RouterConfig::new(1)).unwrap());
    let mut new = Router::new(config()).unwrap();
    new.adopt(Box::new(old));
    h.nf = new;
    assert_eq!(h.process_bytes(0, &[&f]).on(1)[0][..6], GW1.0);
    control
        .delete_route("10.1.0.0/16".parse().unwrap())
        .unwrap();
    assert_eq!(
        h.process_bytes(0, &[&f]).drop_reasons(),
        vec![DropReason::NoRoute]
    );
}

thread_local! {
    static FUZZ: RefCell<Harness<Router>> = RefCell::new(Harness::new(Router::new(config()).unwrap()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random bytes and mangled frames never panic; every packet is
    /// forwarded or dropped with a reason, and everything else that comes
    /// out is an ICMP error or echo reply the counters account for.
    #[test]
    fn random_bytes_never_panic(
        frames in fuzz::frames(200, 40),
        flips in fuzz::flips(0..8),
        input in 0usize..3,
    ) {
        let all = fuzz::mangle(traffic().into_iter().map(|t| t.0), &frames, &flips);
        FUZZ.with(|h| {
            let mut h = h.borrow_mut();
            let sent = |h: &Harness<Router>| {
                let mut n = 0;
                h.nf.counters(&mut |k, v| if k == "icmp_sent" { n = v });
                n
            };
            let before = sent(&h);
            h.advance(Duration::from_secs(1));
            let refs: Vec<&[u8]> = all.iter().map(|f| f.as_slice()).collect();
            let out = h.process_bytes(input, &refs);
            let generated = sent(&h) - before;
            prop_assert_eq!(
                out.forwarded.len() + out.dropped.len(),
                all.len() + generated as usize
            );
            Ok(())
        })?;
    }
}

fn params(items: &[(&str, Value)]) -> Params {
    common::params::params(
        [
            ("ports", Value::Int(2)),
            (
                "macs",
                Value::List(vec![Value::Mac(R0.0), Value::Mac(R1.0)]),
            ),
            ("addresses", strs(&["192.0.2.254/24 dev 1"])),
            ("routes", strs(&["10.0.0.0/8 via 192.0.2.1"])),
            ("routes_file", Value::Str("".into())),
            ("neighbors", strs(&["192.0.2.1 02:00:00:00:01:01"])),
            ("neighbors_file", Value::Str("".into())),
            ("icmp_rate", Value::Int(1000)),
            ("icmp_burst", Value::Int(50)),
            ("echo", Value::Bool(true)),
        ],
        items,
    )
}

#[test]
fn config_errors_name_the_parameter_and_place() {
    assert!(Router::from_params(&params(&[])).is_ok());
    let dir = std::env::temp_dir().join(format!("netfn-router-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.routes");
    std::fs::write(
        &file,
        "# ok\n10.1.0.0/16 dev 0\n\n10.2.0.0/16 via 192.0.2.x dev 1\n",
    )
    .unwrap();
    let path = file.to_string_lossy().into_owned();
    let e = Router::from_params(&params(&[("routes_file", Value::Str(path.clone().into()))]))
        .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("routes_file"));
    assert_eq!(
        e.message,
        format!("{path}:4:17: `192.0.2.x` is not an IP address (the gateway after `via`)")
    );
    std::fs::write(&file, "10.1.0.0/16 dev 0\n10.1.0.0/16 dev 1\n").unwrap();
    let e = Router::from_params(&params(&[("routes_file", Value::Str(path.clone().into()))]))
        .unwrap_err();
    assert!(
        e.message
            .starts_with(&format!("{path}:2:1: a second route")),
        "{e}"
    );
    assert!(e.message.contains(&format!("{path}:1")), "{e}");
    // A gateway on no connected network, inline: item and column.
    let e = Router::from_params(&params(&[(
        "routes",
        strs(&["10.0.0.0/8 via 203.0.113.1"]),
    )]))
    .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("routes"));
    assert!(
        e.message
            .starts_with("item 1, column 16: gateway 203.0.113.1"),
        "{e}"
    );
    let e = Router::from_params(&params(&[("routes", strs(&["10.0.0.0/8 dev 2"]))])).unwrap_err();
    assert!(
        e.message
            .contains("item 1 \"10.0.0.0/8 dev 2\", column 16: port 2 does not exist"),
        "{e}"
    );
    let e = Router::from_params(&params(&[(
        "routes_file",
        Value::Str("/nonexistent/r".into()),
    )]))
    .unwrap_err();
    assert!(e.message.contains("cannot read `/nonexistent/r`"), "{e}");
    let e = Router::from_params(&params(&[("macs", Value::List(vec![Value::Mac(R0.0); 3]))]))
        .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("macs"));
    let e = Router::from_params(&params(&[(
        "neighbors",
        strs(&["192.0.2.1 02:00:00:00:01"]),
    )]))
    .unwrap_err();
    assert!(
        e.message
            .contains("column 11: `02:00:00:00:01` is not a MAC"),
        "{e}"
    );
    let e = Router::from_params(&params(&[(
        "neighbors",
        strs(&["192.0.2.1 02:00:00:00:01:01", "192.0.2.1 02:00:00:00:01:02"]),
    )]))
    .unwrap_err();
    assert!(e.message.contains("listed twice"), "{e}");
    let e = Router::from_params(&params(&[("addresses", strs(&["192.0.2.254/24"]))])).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("addresses"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// After warm-up, forwarding, ICMP generation and echo replies allocate
/// nothing.
#[test]
fn steady_state_allocates_nothing() {
    let mut nf = Router::new(config()).unwrap();
    let mut s = Steady::new(1024);
    let mut frames: Vec<Vec<u8>> = traffic().into_iter().map(|(f, _)| f).collect();
    frames.extend((0..2000u32).map(|i| {
        let d = Ipv4Addr::from(0x0a01_0000 | i);
        udp4("10.0.0.5", &d.to_string(), 64, 18)
    }));
    s.run(&mut nf, 0, 0, &frames);
    let info = allocation_counter::measure(|| {
        s.run(&mut nf, 1_000_000_000, 0, &frames);
        s.run(&mut nf, 2_000_000_000, 0, &frames);
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    let mut sent = 0;
    nf.counters(&mut |k, v| {
        if k == "icmp_sent" {
            sent = v
        }
    });
    assert!(sent > 0);
}

/// The IPv6 header a forwarded packet leaves with is the input's with the
/// hop limit one lower (our own view agrees with etherparse).
#[test]
fn ipv6_forwarding_only_touches_the_hop_limit() {
    let mut h = Harness::new(Router::new(config()).unwrap());
    let f = udp6("fd00:1::5", "2001:db8:5::1", 2, 10);
    let out = h.process_bytes(0, &[&f]).on(1);
    let ip = Ipv6Packet::new_checked(&out[0][14..]).unwrap();
    assert_eq!(ip.hop_limit(), 1);
    assert_eq!(out[0][14 + 8..], f[14 + 8..]);
}
