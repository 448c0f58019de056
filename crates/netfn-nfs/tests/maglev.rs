//! The `maglev` NF end to end: golden pcaps (checked independently with
//! etherparse), consistent hashing figures, runtime pool changes under
//! traffic, random bytes, and no allocation in steady state.
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p
//! netfn-nfs --test maglev`.

mod common;

use common::fuzz;

use common::golden::{Golden, refs};

use common::alloc::Steady;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use etherparse as ep;
use netfn_core::config::{Params, Value};
use netfn_core::testing::Harness;
use netfn_core::{DropReason, FlowKey, Nf};
use netfn_nfs::maglev::{Backend, LookupTable, Maglev, MaglevConfig, Mode};
use netfn_wire::{Ipv4Packet, MacAddr, PacketBuilder, TcpFlags, UdpPacket};
use proptest::prelude::*;

const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const LB_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn backend_mac(i: usize) -> MacAddr {
    MacAddr([2, 0, 0, 0, 2, i as u8])
}

fn backends(n: usize) -> Vec<Backend> {
    (0..n)
        .map(|i| {
            Backend::new(
                IpAddr::from([10, 2, (i >> 8) as u8, i as u8 + 1]),
                Some(backend_mac(i + 1)),
            )
        })
        .collect()
}

fn config(mode: Mode, n: usize) -> MaglevConfig {
    MaglevConfig {
        vips: vec!["10.1.0.0/16".parse().unwrap()],
        backends: backends(n),
        mode,
        ..MaglevConfig::default()
    }
}

fn tcp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let t = PacketBuilder::ethernet(CLIENT_MAC, LB_MAC)
        .ipv4(src.into(), dst.into(), 64)
        .tcp(sport, dport, 1, 0, TcpFlags::SYN, 1000);
    let mut buf = vec![0; t.size(6)];
    t.write(&mut buf, b"hello!").unwrap();
    buf
}

fn udp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, len: usize) -> Vec<u8> {
    let t = PacketBuilder::ethernet(CLIENT_MAC, LB_MAC)
        .ipv4(src.into(), dst.into(), 64)
        .udp(sport, dport);
    let mut buf = vec![0; t.size(len)];
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    t.write(&mut buf, &payload).unwrap();
    buf
}

fn udp6(src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16) -> Vec<u8> {
    let t = PacketBuilder::ethernet(CLIENT_MAC, LB_MAC)
        .ipv6(src, dst, 64)
        .udp(sport, dport);
    let mut buf = vec![0; t.size(12)];
    t.write(&mut buf, &[9; 12]).unwrap();
    buf
}

/// The two fragments of one UDP datagram (payload 100 bytes).
fn fragments(src: [u8; 4], dst: [u8; 4]) -> [Vec<u8>; 2] {
    let whole = udp4(src, 4000, dst, 53, 100);
    let ip = &whole[14..];
    let data = &ip[20..]; // 108 bytes of UDP datagram
    let frag = |part: &[u8], offset: u16, more: bool| {
        let mut f = whole[..34].to_vec();
        f.extend_from_slice(part);
        // Unchecked: the header still has the whole datagram's length.
        let mut p = Ipv4Packet::new_unchecked(&mut f[14..]);
        p.set_total_len((20 + part.len()) as u16);
        p.set_more_frags(more);
        p.set_frag_offset(offset);
        p.set_ident(77);
        p.fill_checksum();
        f
    };
    [frag(&data[..48], 0, true), frag(&data[48..], 48, false)]
}

fn traffic() -> Vec<Vec<u8>> {
    let vip = [10, 1, 0, 1];
    let mut v = Vec::new();
    for i in 0..10u8 {
        v.push(tcp4([10, 0, 0, i + 1], 1024 + u16::from(i), vip, 80));
    }
    for i in 0..5u8 {
        v.push(udp4([10, 0, 1, i], 5000, [10, 1, 2, 3], 53, 20));
    }
    let mut zero = udp4([10, 0, 3, 3], 6000, vip, 7, 16);
    UdpPacket::new_checked(&mut zero[34..])
        .unwrap()
        .set_checksum(0);
    v.push(zero);
    let echo = PacketBuilder::ethernet(CLIENT_MAC, LB_MAC)
        .ipv4([10, 0, 4, 4].into(), vip.into(), 64)
        .icmpv4_echo_request(7, 1);
    let mut buf = vec![0; echo.size(8)];
    echo.write(&mut buf, &[1; 8]).unwrap();
    v.push(buf);
    v.extend(fragments([10, 0, 5, 5], vip));
    let tagged = PacketBuilder::ethernet(CLIENT_MAC, LB_MAC)
        .vlan(5)
        .unwrap()
        .ipv4([10, 0, 6, 6].into(), vip.into(), 64)
        .tcp(3333, 443, 9, 0, TcpFlags::SYN, 100);
    let mut buf = vec![0; tagged.size(0)];
    tagged.write(&mut buf, &[]).unwrap();
    v.push(buf);
    v.push(udp4([10, 0, 7, 7], 7000, [192, 0, 2, 1], 53, 8)); // not for a VIP
    let arp = PacketBuilder::ethernet(CLIENT_MAC, MacAddr::BROADCAST)
        .arp_request([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
    let mut buf = vec![0; arp.size(0)];
    arp.write(&mut buf, &[]).unwrap();
    v.push(buf);
    v.push(tcp4([10, 0, 8, 8], 1, vip, 80)[..24].to_vec()); // truncated IPv4
    v.push(udp6(
        "fd00:0:0:1::5".parse().unwrap(),
        1500,
        "fd00:0:0:2::1".parse().unwrap(),
        53,
    ));
    // The first flows again: same backends (connection table hits).
    for i in 0..3u8 {
        v.push(tcp4([10, 0, 0, i + 1], 1024 + u16::from(i), vip, 80));
    }
    v
}

/// The committed captures of this NF's tests.
fn golden_dir() -> Golden {
    Golden::new("maglev")
}

/// Runs `nf` over the committed input capture and compares what it
/// forwards with the committed output capture (or writes both).
fn golden(name: &str, nf: Maglev) -> Vec<Vec<u8>> {
    let g = golden_dir();
    let input = g.committed(&format!("{name}.in.pcap"), &traffic());
    let mut h = Harness::new(nf);
    let out = h.process_bytes(0, &refs(&input));
    let forwarded = out.on(0);
    assert_eq!(
        out.drop_reasons(),
        vec![DropReason::Malformed],
        "only the truncated packet is dropped"
    );
    g.compare(&format!("{name}.out.pcap"), &forwarded);
    forwarded
}

/// Destination MAC and address of a frame, parsed by etherparse, after
/// checking every checksum etherparse can check.
fn ep_check(frame: &[u8]) -> (MacAddr, Option<IpAddr>) {
    let Ok(p) = ep::SlicedPacket::from_ethernet(frame) else {
        // A first fragment: etherparse wants the whole UDP datagram. Check
        // the Ethernet and IPv4 headers alone.
        let eth = ep::Ethernet2HeaderSlice::from_slice(frame).expect("Ethernet II");
        let ip = ep::Ipv4HeaderSlice::from_slice(&frame[14..]).expect("an IPv4 fragment");
        assert!(ip.more_fragments() || ip.fragments_offset().value() != 0);
        let h = ip.to_header();
        assert_eq!(h.calc_header_checksum(), h.header_checksum, "IPv4 checksum");
        return (
            MacAddr(eth.destination()),
            Some(IpAddr::from(h.destination)),
        );
    };
    let mac = match &p.link {
        Some(ep::LinkSlice::Ethernet2(e)) => MacAddr(e.destination()),
        other => panic!("not Ethernet II: {other:?}"),
    };
    let dst = match &p.net {
        Some(ep::NetSlice::Ipv4(ip)) => {
            let h = ip.header().to_header();
            assert_eq!(h.calc_header_checksum(), h.header_checksum, "IPv4 checksum");
            match &p.transport {
                Some(ep::TransportSlice::Tcp(t)) => assert_eq!(
                    t.calc_checksum_ipv4(h.source, h.destination).unwrap(),
                    t.checksum(),
                    "TCP checksum"
                ),
                Some(ep::TransportSlice::Udp(u)) if u.checksum() != 0 => assert_eq!(
                    u.to_header()
                        .calc_checksum_ipv4_raw(h.source, h.destination, u.payload())
                        .unwrap(),
                    u.checksum(),
                    "UDP checksum"
                ),
                _ => {}
            }
            Some(IpAddr::from(h.destination))
        }
        Some(ep::NetSlice::Ipv6(ip)) => {
            let h = ip.header().to_header();
            if let Some(ep::TransportSlice::Udp(u)) = &p.transport {
                assert_eq!(
                    u.to_header()
                        .calc_checksum_ipv6_raw(h.source, h.destination, u.payload())
                        .unwrap(),
                    u.checksum(),
                    "UDP checksum"
                );
            }
            if let Some(ep::TransportSlice::Tcp(t)) = &p.transport {
                assert_eq!(
                    t.calc_checksum_ipv6(h.source, h.destination).unwrap(),
                    t.checksum(),
                    "TCP checksum"
                );
            }
            Some(IpAddr::from(h.destination))
        }
        _ => None,
    };
    (mac, dst)
}

#[test]
fn golden_dsr() {
    let mut cfg = config(Mode::Dsr, 3);
    cfg.vips.push("fd00:0:0:2::/64".parse().unwrap());
    cfg.src_mac = Some(MacAddr([2, 0, 0, 0, 0, 0x10]));
    let out = golden("dsr", Maglev::new(cfg).unwrap());
    let input = traffic();
    let macs: HashSet<MacAddr> = (1..=3).map(backend_mac).collect();
    let mut balanced = 0;
    let mut kept = input.iter().filter(|f| f.len() != 24);
    for frame in &out {
        let original = kept.next().unwrap();
        // DSR touches only the Ethernet addresses.
        assert_eq!(frame[12..], original[12..]);
        let (mac, dst) = ep_check(frame);
        let for_vip = match dst {
            Some(IpAddr::V4(a)) => a.octets()[..2] == [10, 1],
            Some(IpAddr::V6(a)) => a.segments()[..4] == [0xfd00, 0, 0, 2],
            None => false,
        };
        if for_vip {
            assert!(macs.contains(&mac), "{mac}");
            balanced += 1;
        } else {
            assert_eq!(frame, original, "non-VIP traffic passes unchanged");
        }
    }
    assert_eq!(balanced, 24);
}

#[test]
fn golden_dnat() {
    let mut cfg = config(Mode::Dnat, 3);
    cfg.backends[2].mac = None; // routed: keeps the destination MAC
    let pool = cfg.backends.clone();
    let out = golden("dnat", Maglev::new(cfg).unwrap());
    let addrs: HashSet<IpAddr> = pool.iter().map(|b| b.addr).collect();
    let mut by_flow: HashMap<Vec<u8>, IpAddr> = HashMap::new();
    for frame in &out {
        let (mac, dst) = ep_check(frame);
        let Some(dst) = dst else { continue };
        if addrs.contains(&dst) {
            let b = pool.iter().find(|b| b.addr == dst).unwrap();
            assert_eq!(mac, b.mac.unwrap_or(LB_MAC));
            // Same flow (source address and port) → same backend; both
            // fragments of the datagram too.
            let key = frame[26..30].to_vec();
            if let Some(prev) = by_flow.insert(key, dst) {
                assert_eq!(prev, dst);
            }
        } else {
            assert!(
                !matches!(dst, IpAddr::V4(a) if a.octets()[..2] == [10, 1]),
                "VIP traffic was rewritten: {dst}"
            );
        }
    }
    // Every checksum still verifies after the rewrite (our views agree).
    for frame in &out {
        if let Some(k) = FlowKey::from_frame(frame)
            && k.protocol == 6
        {
            let at = if frame[12..14] == [0x81, 0] { 18 } else { 14 };
            let ip = Ipv4Packet::new_checked(&frame[at..]).unwrap();
            assert!(ip.verify_checksum());
        }
    }
}

#[test]
fn dnat_ipv6_and_icmpv6_checksums_stay_valid() {
    let cfg = MaglevConfig {
        vips: vec!["fd00:0:0:2::/64".parse().unwrap()],
        backends: vec![Backend::new("fd00:0:0:3::1".parse().unwrap(), None)],
        mode: Mode::Dnat,
        ..MaglevConfig::default()
    };
    let mut h = Harness::new(Maglev::new(cfg).unwrap());
    let (src, dst): (Ipv6Addr, Ipv6Addr) = (
        "fd00:0:0:1::5".parse().unwrap(),
        "fd00:0:0:2::1".parse().unwrap(),
    );
    let eth = PacketBuilder::ethernet(CLIENT_MAC, LB_MAC).ipv6(src, dst, 64);
    let mut frames = vec![udp6(src, 1, dst, 2)];
    for t in [
        eth.tcp(1, 80, 5, 0, TcpFlags::SYN, 10),
        eth.icmpv6_echo_request(3, 4),
    ] {
        let mut buf = vec![0; t.size(10)];
        t.write(&mut buf, &[5; 10]).unwrap();
        frames.push(buf);
    }
    let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
    let out = h.process_bytes(0, &refs).on(0);
    assert_eq!(out.len(), 3);
    let new: Ipv6Addr = "fd00:0:0:3::1".parse().unwrap();
    for f in &out {
        let ip = netfn_wire::Ipv6Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(ip.dst_addr(), new);
        let (proto, at) = ip.upper_layer().unwrap();
        let l4 = &f[14 + at..];
        let ok = match proto {
            netfn_wire::IpProtocol::Tcp => netfn_wire::TcpPacket::new_checked(l4)
                .unwrap()
                .verify_checksum(src.into(), new.into()),
            netfn_wire::IpProtocol::Udp => UdpPacket::new_checked(l4)
                .unwrap()
                .verify_checksum(src.into(), new.into()),
            _ => netfn_wire::Icmpv6Packet::new_checked(l4)
                .unwrap()
                .verify_checksum(src, new),
        };
        assert!(ok, "{proto:?} checksum");
        ep_check(f);
    }
}

fn random_keys(n: usize, seed: u64) -> Vec<FlowKey> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|_| FlowKey {
            src: IpAddr::from(Ipv4Addr::from(rng.u32(..))),
            dst: IpAddr::from([10, 1, 0, 1]),
            src_port: rng.u16(1024..),
            dst_port: 80,
            protocol: 6,
        })
        .collect()
}

/// Removing one of N backends: the fraction of flows whose backend changes
/// (lookup table only, no connection state) and the fraction of table
/// entries that change are both close to 1/N — Maglev is not minimally
/// disruptive, so slightly above (the paper's Fig. 12).
#[test]
fn removing_one_of_n_backends_moves_about_one_nth() {
    let keys = random_keys(200_000, 7);
    for n in [5usize, 10, 50] {
        let (mut flows_moved, mut entries_moved, mut extra) = (0.0, 0.0, 0.0);
        // Average over removing each of a few backends.
        let trials = 5;
        let pool = backends(n);
        let before = LookupTable::build(&pool, 65_537);
        for t in 0..trials {
            let removed = t * n / trials;
            let mut rest = pool.clone();
            rest.remove(removed);
            let after = LookupTable::build(&rest, 65_537);
            let addr_before = |i: u16| pool[usize::from(i)].addr;
            let addr_after = |i: u16| rest[usize::from(i)].addr;
            let changed = before
                .entries()
                .iter()
                .zip(after.entries())
                .filter(|(a, b)| addr_before(**a) != addr_after(**b))
                .count();
            entries_moved += changed as f64 / 65_537.0;
            let mut moved = 0;
            let mut moved_needlessly = 0;
            for k in &keys {
                let h = u64::from(k.hash32());
                let a = pool[before.lookup(h).unwrap()].addr;
                let b = rest[after.lookup(h).unwrap()].addr;
                if a != b {
                    moved += 1;
                    if a != pool[removed].addr {
                        moved_needlessly += 1;
                    }
                }
            }
            flows_moved += f64::from(moved) / keys.len() as f64;
            extra += f64::from(moved_needlessly) / keys.len() as f64;
        }
        let (flows_moved, entries_moved, extra) = (
            flows_moved / trials as f64,
            entries_moved / trials as f64,
            extra / trials as f64,
        );
        let ideal = 1.0 / n as f64;
        println!(
            "N={n}: 1/N={ideal:.4} flows remapped={flows_moved:.4} ({:.2}x) \
             entries moved={entries_moved:.4} ({:.2}x), flows moved off surviving backends={extra:.4}",
            flows_moved / ideal,
            entries_moved / ideal
        );
        assert!(flows_moved >= ideal * 0.95, "N={n}: {flows_moved}");
        assert!(flows_moved <= ideal * 1.6, "N={n}: {flows_moved}");
        assert!(entries_moved >= ideal * 0.99, "N={n}: {entries_moved}");
        assert!(entries_moved <= ideal * 1.6, "N={n}: {entries_moved}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every entry names a backend, and with equal weights each backend
    /// gets ⌊M/N⌋ or ⌈M/N⌉ entries (Pseudocode 1 fills round-robin).
    #[test]
    fn table_entries_are_valid_and_balanced(
        addrs in proptest::collection::hash_set(any::<u32>(), 1..80),
        m in prop::sample::select(vec![251usize, 1009, 4099, 65_537]),
    ) {
        let pool: Vec<Backend> = addrs
            .iter()
            .map(|a| Backend::new(IpAddr::from(Ipv4Addr::from(*a)), None))
            .collect();
        let n = pool.len();
        let table = LookupTable::build(&pool, m);
        prop_assert_eq!(table.entries().len(), m);
        let mut counts = vec![0usize; n];
        for &e in table.entries() {
            prop_assert!(usize::from(e) < n);
            counts[usize::from(e)] += 1;
        }
        for c in counts {
            prop_assert!(c == m / n || c == m.div_ceil(n), "{} entries of {} for N={}", c, m, n);
        }
    }

    /// Random bytes and mangled frames never panic; every packet is
    /// forwarded or dropped with a reason.
    #[test]
    fn random_bytes_never_panic(
        frames in fuzz::frames(200, 40),
        flips in fuzz::flips(0..8),
        dnat in any::<bool>(),
    ) {
        let mode = if dnat { Mode::Dnat } else { Mode::Dsr };
        let mut h = Harness::new(Maglev::new(config(mode, 4)).unwrap());
        let all = fuzz::mangle(traffic(), &frames, &flips);
        let refs: Vec<&[u8]> = all.iter().map(|f| f.as_slice()).collect();
        let out = h.process_bytes(0, &refs);
        prop_assert_eq!(out.forwarded.len() + out.dropped.len(), all.len());
    }
}

/// Backends come and go while traffic flows: established flows keep their
/// backend unless it left; new flows use the backends of the moment;
/// nothing is dropped.
#[test]
fn runtime_add_and_remove_keep_established_flows() {
    let nf = Maglev::new(config(Mode::Dsr, 4)).unwrap();
    let control = nf.control();
    let mut h = Harness::new(nf);
    let flows: Vec<Vec<u8>> = (0..2000u16)
        .map(|i| {
            tcp4(
                [10, 0, (i >> 8) as u8, i as u8],
                1024 + i,
                [10, 1, 0, 1],
                80,
            )
        })
        .collect();
    let send = |h: &mut Harness<Maglev>, frames: &[Vec<u8>]| -> Vec<MacAddr> {
        let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        let out = h.process_bytes(0, &refs);
        assert!(out.dropped.is_empty());
        out.on(0)
            .iter()
            .map(|f| MacAddr(f[..6].try_into().unwrap()))
            .collect()
    };
    let first = send(&mut h, &flows[..1000]);
    let gone = backend_mac(2);
    control.remove_backend(IpAddr::from([10, 2, 0, 2])).unwrap();
    let second = send(&mut h, &flows[..1000]);
    let mut moved = 0;
    for (a, b) in first.iter().zip(&second) {
        assert_ne!(*b, gone, "a flow went to a removed backend");
        if *a == gone {
            moved += 1;
        } else {
            assert_eq!(a, b, "an established flow changed backend");
        }
    }
    let on_gone = first.iter().filter(|m| **m == gone).count();
    assert_eq!(moved, on_gone);
    assert!((150..350).contains(&on_gone), "{on_gone}");

    let added = Backend::new(IpAddr::from([10, 2, 0, 9]), Some(backend_mac(9)));
    control.add_backend(added).unwrap();
    let third = send(&mut h, &flows[..1000]);
    assert_eq!(second, third, "adding a backend moves no established flow");
    let fresh = send(&mut h, &flows[1000..]);
    let to_new = fresh.iter().filter(|m| **m == backend_mac(9)).count();
    assert!((120..300).contains(&to_new), "{to_new} of 1000 new flows");

    // Idle connections expire; then the table decides again.
    h.advance(Duration::from_secs(121));
    let fourth = send(&mut h, &flows[..1000]);
    let table_moves = fourth.iter().zip(&third).filter(|(a, b)| a != b).count();
    assert!(table_moves > 0 && table_moves < 400, "{table_moves}");

    let mut counters = HashMap::new();
    h.nf.counters(&mut |k, v| {
        counters.insert(k.to_string(), v);
    });
    assert_eq!(counters["backends"], 4);
    assert_eq!(counters["conn_rescheduled"], on_gone as u64);
    assert_eq!(counters["conn_expired"], 2000);
    assert!(counters["backend[10.2.0.9].packets"] > 0);
}

/// A control thread adds and removes a backend over and over while the
/// data path runs: flows on the stable backends never move.
#[test]
fn pool_changes_from_another_thread() {
    let nf = Maglev::new(config(Mode::Dsr, 3)).unwrap();
    let control = nf.control();
    let mut h = Harness::new(nf);
    let flows: Vec<Vec<u8>> = (0..500u16)
        .map(|i| udp4([10, 0, 9, i as u8], 2000 + i, [10, 1, 7, 7], 53, 4))
        .collect();
    let refs: Vec<&[u8]> = flows.iter().map(|f| f.as_slice()).collect();
    let first: Vec<Vec<u8>> = h.process_bytes(0, &refs).on(0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (control, stop) = (control.clone(), stop.clone());
        std::thread::spawn(move || {
            let extra = Backend::new(IpAddr::from([10, 2, 0, 50]), Some(backend_mac(50)));
            let mut changes = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                control.add_backend(extra).unwrap();
                control.remove_backend(extra.addr).unwrap();
                changes += 2;
            }
            changes
        })
    };
    for _ in 0..200 {
        let out = h.process_bytes(0, &refs);
        assert!(out.dropped.is_empty());
        for (a, b) in first.iter().zip(out.on(0)) {
            assert_eq!(a[..6], b[..6], "an established flow moved");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(churn.join().unwrap() > 0);
}

#[test]
fn non_vip_traffic_can_be_dropped_and_empty_pool_drops_vip_traffic() {
    let mut cfg = config(Mode::Dsr, 0);
    cfg.drop_other = true;
    let mut h = Harness::new(Maglev::new(cfg).unwrap());
    let out = h.process_bytes(
        0,
        &[
            &udp4([10, 0, 0, 1], 1, [192, 0, 2, 1], 2, 4),
            &udp4([10, 0, 0, 1], 1, [10, 1, 0, 1], 2, 4),
        ],
    );
    assert_eq!(
        out.drop_reasons(),
        vec![DropReason::Filtered, DropReason::NoRoute]
    );
}

fn params(items: &[(&str, Value)]) -> Params {
    common::params::params(
        [
            (
                "vip",
                Value::List(vec![Value::Prefix("10.1.0.0/16".parse().unwrap())]),
            ),
            (
                "backends",
                Value::List(vec![Value::Str("10.2.0.1 02:00:00:00:02:01".into())]),
            ),
            ("mode", Value::Word("dsr".into())),
            ("table_size", Value::Int(65_537)),
            ("connections", Value::Int(1024)),
            ("timeout", Value::Duration(Duration::from_secs(60))),
            ("other", Value::Word("pass".into())),
            ("src_mac", Value::Mac([0; 6])),
        ],
        items,
    )
}

#[test]
fn config_errors_name_the_parameter() {
    assert!(Maglev::from_params(&params(&[])).is_ok());
    let e = Maglev::from_params(&params(&[("table_size", Value::Int(65_536))])).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("table_size"));
    let e = Maglev::from_params(&params(&[(
        "backends",
        Value::List(vec![
            Value::Str("10.2.0.1 02:00:00:00:02:01".into()),
            Value::Str("10.2.0.x".into()),
        ]),
    )]))
    .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("backends"));
    assert!(e.message.contains("item 2"), "{e}");
    let e = Maglev::from_params(&params(&[(
        "backends",
        Value::List(vec![Value::Str("10.2.0.1".into())]),
    )]))
    .unwrap_err();
    assert!(e.message.contains("no MAC"), "{e}");
    let e = Maglev::from_params(&params(&[
        ("mode", Value::Word("dnat".into())),
        ("backends", Value::List(vec![Value::Str("fd00::1".into())])),
    ]))
    .unwrap_err();
    assert!(e.message.contains("family"), "{e}");
    let e = Maglev::from_params(&params(&[("vip", Value::List(vec![]))])).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("vip"));
}

/// After warm-up, balancing known and new flows allocates nothing.
#[test]
fn steady_state_allocates_nothing() {
    for mode in [Mode::Dsr, Mode::Dnat] {
        let mut nf = Maglev::new(config(mode, 10)).unwrap();
        let mut s = Steady::new(1024);
        let mut frames: Vec<Vec<u8>> = traffic();
        frames.extend((0..4000u16).map(|i| {
            udp4(
                [10, 0, (i >> 8) as u8, i as u8],
                1000 + i,
                [10, 1, 0, 1],
                53,
                18,
            )
        }));
        s.run(&mut nf, 0, 0, &frames[..2000]);
        let info = allocation_counter::measure(|| {
            s.run(&mut nf, 1_000, 0, &frames); // 2000 known flows, 2000 new ones
            s.run(&mut nf, 200_000_000_000, 0, &frames); // all expired: new again
        });
        assert_eq!(info.count_total, 0, "{mode:?}: {info:?}");
        assert!(nf.connections() > 0);
    }
}

/// A reload keeps the connection table, the counters and the control
/// handles of the old instance, with the new config's backends.
#[test]
fn reload_keeps_connections_and_control_handles() {
    let old = Maglev::new(config(Mode::Dsr, 4)).unwrap();
    let control = old.control();
    let mut h = Harness::new(old);
    let flows: Vec<Vec<u8>> = (0..400u16)
        .map(|i| tcp4([10, 0, 1, i as u8], 3000 + i, [10, 1, 0, 1], 80))
        .collect();
    let refs: Vec<&[u8]> = flows.iter().map(|f| f.as_slice()).collect();
    let before = h.process_bytes(0, &refs).on(0);
    let old = std::mem::replace(&mut h.nf, Maglev::new(config(Mode::Dsr, 1)).unwrap());
    let mut new = Maglev::new(config(Mode::Dsr, 3)).unwrap(); // backend 4 left
    new.adopt(Box::new(old));
    assert_eq!(new.connections(), 400);
    h.nf = new;
    let after = h.process_bytes(0, &refs).on(0);
    for (a, b) in before.iter().zip(&after) {
        if a[..6] != backend_mac(4).0 {
            assert_eq!(a[..6], b[..6], "a kept flow moved on reload");
        } else {
            assert_ne!(b[..6], backend_mac(4).0);
        }
    }
    // The old handle now steers the new instance.
    control.remove_backend(IpAddr::from([10, 2, 0, 1])).unwrap();
    let later = h.process_bytes(0, &refs).on(0);
    assert!(later.iter().all(|f| f[..6] != backend_mac(1).0));
    assert!(h.nf.backend_counters(IpAddr::from([10, 2, 0, 4])).0 > 0);
}
