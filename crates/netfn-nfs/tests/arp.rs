//! The `arp` NF end to end: golden pcaps (replies re-parsed with
//! etherparse and checked against what RFC 826 / RFC 4861 say the answer
//! to each request is), announcements, random bytes, no allocation in
//! steady state, configuration errors.
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p
//! netfn-nfs --test arp`.

mod common;

use common::fuzz;

use common::golden::{Golden, refs};

use common::alloc::Steady;

use common::params::strs;

use std::net::Ipv6Addr;
use std::path::PathBuf;

use etherparse as ep;
use netfn_core::config::{Params, Value};
use netfn_core::testing::Harness;
use netfn_core::{DropReason, Nf};
use netfn_nfs::arp::{AddressTable, ArpConfig, ArpResponder};
use netfn_wire::{ArpOperation, ArpRepr, EtherType, MacAddr, PacketBuilder, PacketTemplate};
use proptest::prelude::*;

const OURS: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xaa]);
const PROXY: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xbb]);
const HOST: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const OTHER: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn responder(announce: bool) -> ArpResponder {
    let mut table = AddressTable::default();
    table.parse_entry("10.0.0.1 fd00::1", Some(OURS)).unwrap();
    table
        .parse_entry("10.0.1.0/24 fd00:1::/64 02:00:00:00:00:bb", None)
        .unwrap();
    ArpResponder::new(ArpConfig {
        table,
        announce,
        router: false,
    })
}

fn write(t: PacketTemplate, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0; t.size(payload.len()).max(60)];
    t.write(&mut buf, payload).unwrap();
    buf
}

fn arp(op: ArpOperation, smac: MacAddr, sip: [u8; 4], tip: [u8; 4], vlan: Option<u16>) -> Vec<u8> {
    let mut eth = PacketBuilder::ethernet(smac, MacAddr::BROADCAST);
    if let Some(v) = vlan {
        eth = eth.vlan(v).unwrap();
    }
    write(
        eth.arp(ArpRepr {
            operation: op,
            sender_mac: smac,
            sender_ip: sip.into(),
            target_mac: MacAddr::ZERO,
            target_ip: tip.into(),
        }),
        &[],
    )
}

fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

fn ns(src: &str, target: &str, hop_limit: u8, slla: bool, vlan: Option<u16>) -> Vec<u8> {
    let (src, target): (Ipv6Addr, Ipv6Addr) = (src.parse().unwrap(), target.parse().unwrap());
    let mut eth = PacketBuilder::ethernet(HOST, MacAddr([0x33, 0x33, 0xff, 0, 0, 1]));
    if let Some(v) = vlan {
        eth = eth.vlan(v).unwrap();
    }
    let t = eth
        .ipv6(src, solicited_node(target), hop_limit)
        .icmpv6_neighbor_solicit(target, slla.then_some(HOST));
    let mut buf = vec![0; t.size(0)];
    t.write(&mut buf, &[]).unwrap();
    buf
}

fn traffic() -> Vec<Vec<u8>> {
    use ArpOperation::{Reply, Request};
    let mut v = vec![
        arp(Request, HOST, [10, 0, 0, 9], [10, 0, 0, 1], None), // 0: ours
        arp(Request, HOST, [10, 0, 0, 9], [10, 0, 1, 77], None), // 1: proxy prefix
        arp(Request, HOST, [10, 0, 0, 9], [10, 0, 0, 2], None), // not ours
        arp(Request, OTHER, [10, 0, 0, 1], [10, 0, 0, 1], None), // gratuitous, conflict
        arp(Reply, OTHER, [10, 0, 0, 2], [10, 0, 0, 9], None),  // a reply
        arp(Request, HOST, [0, 0, 0, 0], [10, 0, 0, 1], None),  // 5: DAD probe
        arp(Request, HOST, [10, 0, 0, 9], [10, 0, 0, 1], Some(7)), // 6: tagged
    ];
    let mut trunc = arp(Request, HOST, [10, 0, 0, 9], [10, 0, 0, 1], None);
    trunc.truncate(14 + 20);
    v.push(trunc); // malformed
    let mut lens = arp(Request, HOST, [10, 0, 0, 9], [10, 0, 0, 1], None);
    lens[14 + 4] = 8; // Ethernet/IPv4 with 8-byte hardware addresses
    v.push(lens); // malformed
    let mut other = arp(Request, HOST, [10, 0, 0, 9], [10, 0, 0, 1], None);
    other[14 + 1] = 6; // IEEE 802 hardware: not answered, passed
    v.push(other);
    let udp = PacketBuilder::ethernet(HOST, OURS)
        .ipv4([10, 0, 0, 9].into(), [10, 0, 0, 1].into(), 64)
        .udp(1, 2);
    v.push(write(udp, &[0; 8]));
    v.push(ns("fd00::9", "fd00::1", 255, true, None)); // 11: ours, SLLA
    v.push(ns("::", "fd00::1", 255, false, None)); // 12: DAD
    v.push(ns("fd00::9", "fd00:1::42", 255, false, Some(5))); // 13: proxy, tagged
    v.push(ns("fd00::9", "fd00::1", 64, true, None)); // hop limit: invalid
    v.push(ns("fd00::9", "fd00::2", 255, true, None)); // not ours
    let mut bad = ns("fd00::9", "fd00::1", 255, true, None);
    bad[14 + 40 + 2] ^= 1; // checksum
    v.push(bad);
    let short = PacketBuilder::ethernet(HOST, OURS)
        .ipv6("fd00::9".parse().unwrap(), "fd00::1".parse().unwrap(), 255)
        .icmpv6_raw(135, 0, [0; 4]);
    v.push(write(short, &[0; 8])); // 16-byte NS: malformed
    v
}

/// The committed captures of this NF's tests.
fn golden_dir() -> Golden {
    Golden::new("arp")
}

/// What the answer to an ARP request must be (RFC 826): checked on the
/// reply as etherparse reads it.
fn check_arp_reply(reply: &[u8], request: &[u8], mac: MacAddr) {
    let r = ep::SlicedPacket::from_ethernet(reply).unwrap();
    let q = ep::SlicedPacket::from_ethernet(request).unwrap();
    let (Some(ep::NetSlice::Arp(ra)), Some(ep::NetSlice::Arp(qa))) = (&r.net, &q.net) else {
        panic!("ARP");
    };
    let (ra, qa) = (
        ra.to_packet().try_eth_ipv4().unwrap(),
        qa.to_packet().try_eth_ipv4().unwrap(),
    );
    assert_eq!(ra.operation, ep::ArpOperation::REPLY);
    assert_eq!((ra.sender_mac, ra.sender_ipv4), (mac.0, qa.target_ipv4));
    assert_eq!(
        (ra.target_mac, ra.target_ipv4),
        (qa.sender_mac, qa.sender_ipv4)
    );
    let Some(ep::LinkSlice::Ethernet2(e)) = &r.link else {
        panic!()
    };
    assert_eq!((e.source(), e.destination()), (mac.0, qa.sender_mac));
    assert_eq!(reply.len(), request.len(), "padding kept");
}

/// What the answer to a solicitation must be (RFC 4861 §7.2.4).
fn check_na(na: &[u8], solicitation: &[u8], mac: MacAddr, dad: bool) {
    let r = ep::SlicedPacket::from_ethernet(na).unwrap();
    let q = ep::SlicedPacket::from_ethernet(solicitation).unwrap();
    let (Some(ep::NetSlice::Ipv6(ri)), Some(ep::NetSlice::Ipv6(qi))) = (&r.net, &q.net) else {
        panic!("IPv6");
    };
    let (rh, qh) = (ri.header().to_header(), qi.header().to_header());
    let Some(ep::TransportSlice::Icmpv6(icmp)) = &r.transport else {
        panic!("ICMPv6")
    };
    let Some(ep::TransportSlice::Icmpv6(sol)) = &q.transport else {
        panic!("ICMPv6")
    };
    assert!(
        icmp.is_checksum_valid(rh.source, rh.destination),
        "checksum"
    );
    assert_eq!(rh.hop_limit, 255);
    let target = &sol.payload()[..16];
    assert_eq!(&rh.source, target, "sent from the target address");
    let ep::Icmpv6Type::NeighborAdvertisement(flags) = icmp.icmp_type() else {
        panic!("not an NA: {:?}", icmp.icmp_type())
    };
    assert!(flags.r#override && !flags.router);
    assert_eq!(flags.solicited, !dad);
    let to: Ipv6Addr = if dad {
        "ff02::1".parse().unwrap()
    } else {
        Ipv6Addr::from(qh.source)
    };
    assert_eq!(Ipv6Addr::from(rh.destination), to);
    assert_eq!(&icmp.payload()[..16], target);
    // Target link-layer address option.
    assert_eq!(&icmp.payload()[16..24], &[&[2, 1][..], &mac.0].concat()[..]);
    let Some(ep::LinkSlice::Ethernet2(e)) = &r.link else {
        panic!()
    };
    let want_dst = if dad {
        [0x33, 0x33, 0, 0, 0, 1]
    } else {
        HOST.0
    };
    assert_eq!((e.source(), e.destination()), (mac.0, want_dst));
    let tags = |p: &ep::SlicedPacket<'_>| match p.vlan() {
        Some(ep::VlanSlice::SingleVlan(s)) => Some(s.to_header()),
        _ => None,
    };
    assert_eq!(tags(&r), tags(&q), "VLAN kept");
}

#[test]
fn golden() {
    let g = golden_dir();
    let input = g.committed("requests.in.pcap", &traffic());
    let mut h = Harness::new(responder(false));
    let out = h.process_bytes(0, &refs(&input));
    g.compare("pass.out.pcap", &out.on(0));
    g.compare("replies.out.pcap", &out.on(1));
    assert_eq!(out.drop_reasons(), vec![DropReason::Malformed; 3]);
    let replies = out.on(1);
    assert_eq!(replies.len(), 7);
    check_arp_reply(&replies[0], &input[0], OURS);
    check_arp_reply(&replies[1], &input[1], PROXY);
    check_arp_reply(&replies[2], &input[5], OURS);
    check_arp_reply(&replies[3], &input[6], OURS);
    check_na(&replies[4], &input[11], OURS, false);
    check_na(&replies[5], &input[12], OURS, true);
    check_na(&replies[6], &input[13], PROXY, false);
    // Everything passed is byte for byte what came in.
    let passed: Vec<Vec<u8>> = [2, 3, 4, 9, 10, 14, 15, 16]
        .iter()
        .map(|&i| input[i].clone())
        .collect();
    assert_eq!(out.on(0), passed);
    let mut c = std::collections::HashMap::new();
    h.nf.counters(&mut |n, v| {
        c.insert(n.to_string(), v);
    });
    assert_eq!(
        (
            c["answered"],
            c["ns_answered"],
            c["conflicts"],
            c["gratuitous"]
        ),
        (4, 3, 1, 1)
    );
    assert_eq!(
        (
            c["not_ours"],
            c["ns_not_ours"],
            c["ns_invalid"],
            c["malformed"]
        ),
        (1, 1, 2, 3)
    );
}

#[test]
fn announcements_at_start() {
    let mut h = Harness::new(responder(true));
    let out = h.process_bytes(0, &[]);
    let a = out.on(1);
    assert_eq!(
        a.len(),
        2,
        "10.0.0.1 and fd00::1; prefixes are not announced"
    );
    let p = ep::SlicedPacket::from_ethernet(&a[0]).unwrap();
    let Some(ep::NetSlice::Arp(arp)) = &p.net else {
        panic!()
    };
    let arp = arp.to_packet().try_eth_ipv4().unwrap();
    assert_eq!(arp.operation, ep::ArpOperation::REQUEST);
    assert_eq!(
        (arp.sender_ipv4, arp.target_ipv4),
        ([10, 0, 0, 1], [10, 0, 0, 1])
    );
    assert_eq!(arp.target_mac, [0; 6]);
    assert_eq!(&a[0][..6], &[0xff; 6]);
    let p = ep::SlicedPacket::from_ethernet(&a[1]).unwrap();
    let Some(ep::TransportSlice::Icmpv6(icmp)) = &p.transport else {
        panic!()
    };
    let ep::Icmpv6Type::NeighborAdvertisement(flags) = icmp.icmp_type() else {
        panic!()
    };
    assert!(flags.r#override && !flags.solicited);
    assert_eq!(&a[1][..6], &[0x33, 0x33, 0, 0, 0, 1]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random bytes and mangled requests never panic; every packet is
    /// forwarded or dropped with a reason, and every reply is valid ARP
    /// or a neighbor advertisement with a valid checksum.
    #[test]
    fn random_bytes_never_panic(
        frames in fuzz::frames(100, 20),
        flips in fuzz::flips(1..6),
    ) {
        let mut h = Harness::new(responder(false));
        let mut all = frames.clone();
        for f in &frames {
            // Random ARP and ICMPv6 bodies behind valid headers.
            let mut a = arp(ArpOperation::Request, HOST, [1, 1, 1, 1], [10, 0, 0, 1], None);
            a[14..14 + f.len().min(46)].copy_from_slice(&f[..f.len().min(46)]);
            all.push(a);
        }
        all.extend(fuzz::mangle(traffic(), &[], &flips));
        let refs: Vec<&[u8]> = all.iter().map(|f| f.as_slice()).collect();
        let out = h.process_bytes(0, &refs);
        prop_assert_eq!(out.forwarded.len() + out.dropped.len(), all.len());
        for r in out.on(1) {
            let p = ep::SlicedPacket::from_ethernet(&r).unwrap();
            match (&p.net, &p.transport) {
                (Some(ep::NetSlice::Arp(a)), _) => {
                    prop_assert_eq!(a.to_packet().try_eth_ipv4().unwrap().operation, ep::ArpOperation::REPLY);
                }
                (Some(ep::NetSlice::Ipv6(ip)), Some(ep::TransportSlice::Icmpv6(icmp))) => {
                    let h = ip.header().to_header();
                    prop_assert!(icmp.is_checksum_valid(h.source, h.destination));
                    prop_assert_eq!(icmp.type_u8(), 136);
                }
                other => prop_assert!(false, "unexpected reply {:?}", other),
            }
        }
    }
}

/// Answering allocates nothing (replies are built in the request's frame).
#[test]
fn steady_state_allocates_nothing() {
    let mut nf = responder(false);
    let mut s = Steady::new(1024);
    let mut frames = traffic();
    frames.extend((0..=255u8).map(|i| {
        arp(
            ArpOperation::Request,
            HOST,
            [10, 0, 0, 9],
            [10, 0, 1, i],
            None,
        )
    }));
    s.run(&mut nf, 0, 0, &frames);
    let info = allocation_counter::measure(|| s.run(&mut nf, 0, 0, &frames));
    assert_eq!(info.count_total, 0, "{info:?}");
}

fn params(addrs: &[&str], mac: [u8; 6]) -> Params {
    common::params::params(
        [
            ("addrs", strs(addrs)),
            ("mac", Value::Mac(mac)),
            ("announce", Value::Bool(false)),
            ("router", Value::Bool(true)),
        ],
        &[],
    )
}

#[test]
fn config_errors_name_the_parameter() {
    assert!(ArpResponder::from_params(&params(&["10.0.0.1"], OURS.0)).is_ok());
    let e = ArpResponder::from_params(&params(&[], OURS.0)).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("addrs"));
    let e = ArpResponder::from_params(&params(&["10.0.0.1", "10.0.0.2"], [0; 6])).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("addrs"));
    assert!(e.message.contains("entry 1 `10.0.0.1`: no MAC"), "{e}");
    let e = ArpResponder::from_params(&params(&["10.0.0.1 02:00:00:00:00:01", "10.0.0.x"], [0; 6]))
        .unwrap_err();
    assert!(e.message.contains("entry 2 `10.0.0.x`"), "{e}");
    assert!(e.message.contains("expected e.g."), "{e}");
    let e =
        ArpResponder::from_params(&params(&["10.0.0.1 ff:ff:ff:ff:ff:ff"], [0; 6])).unwrap_err();
    assert!(e.message.contains("multicast"), "{e}");
    let mut p = params(&["10.0.0.1"], OURS.0);
    p.set("addrs", Value::List(vec![Value::Int(3)]));
    assert!(ArpResponder::from_params(&p).is_err());
}

#[test]
fn router_flag_is_set_when_asked() {
    let mut h = Harness::new(ArpResponder::from_params(&params(&["fd00::1"], OURS.0)).unwrap());
    let out = h.process_bytes(0, &[&ns("fd00::9", "fd00::1", 255, true, None)]);
    let na = &out.on(1)[0];
    assert_eq!(na[14 + 40 + 4] & 0xe0, 0xe0, "R, S and O");
    assert_eq!(
        EtherType::from(u16::from_be_bytes([na[12], na[13]])),
        EtherType::Ipv6
    );
}

/// tcpdump reads the committed replies as ARP replies and neighbor
/// advertisements with correct checksums (skipped without tcpdump).
#[test]
fn tcpdump_reads_the_replies() {
    let path = golden_dir().path("replies.out.pcap");
    let Ok(out) = std::process::Command::new("tcpdump")
        .args(["-nn", "-vv", "-r"])
        .arg(&path)
        .output()
    else {
        eprintln!("tcpdump not installed: skipped");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("Reply 10.0.0.1 is-at 02:00:00:00:00:aa")
            .count(),
        3,
        "{text}"
    );
    assert!(
        text.contains("Reply 10.0.1.77 is-at 02:00:00:00:00:bb"),
        "{text}"
    );
    assert_eq!(
        text.matches("[icmp6 sum ok] ICMP6, neighbor advertisement")
            .count(),
        3,
        "{text}"
    );
}

/// The example graph's capture is the golden input.
#[test]
fn example_capture_is_the_golden_input() {
    let pcap = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/arp-requests.pcap");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        netfn_ports::pcap::write_frames(&pcap, &traffic()).unwrap();
    }
    assert_eq!(netfn_ports::pcap::read_frames(&pcap).unwrap(), traffic());
}
