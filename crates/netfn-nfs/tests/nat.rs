//! The `nat` NF end to end: golden pcaps (every output frame re-checked
//! with etherparse, quoted packets of ICMP errors included), round trips
//! of random flows that must restore the original packets exactly, the
//! mapping and filtering behaviours, hairpinning, port exhaustion, timeouts
//! in virtual time, reloads, random bytes, and no allocation in steady
//! state.
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p
//! netfn-nfs --test nat`.

mod common;

use common::fuzz;

use common::golden::Golden;

use common::alloc::Steady;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use etherparse as ep;
use netfn_core::config::{Params, Value};
use netfn_core::testing::{Harness, Output};
use netfn_core::{DropReason, Nf};
use netfn_nfs::nat::{FilteringBehavior, Forward, MappingBehavior, Nat, NatConfig};
use netfn_wire::{Ipv4Packet, MacAddr, PacketBuilder, TcpFlags, UdpPacket};
use proptest::prelude::*;

const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const PUBLIC: [u8; 4] = [203, 0, 113, 1];
const PAYLOAD: &[u8] = b"netfn-nat";
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;

/// One packet's tuple; `packet()` builds it from scratch (checksums
/// computed, not patched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flow {
    proto: u8,
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    /// TCP: SYN (false) or SYN-ACK (true); ICMP: request or reply.
    answer: bool,
}

impl Flow {
    fn new(proto: u8, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Flow {
        Flow {
            proto,
            src,
            sport,
            dst,
            dport: if proto == ICMP { sport } else { dport },
            answer: false,
        }
    }

    fn packet(&self) -> Vec<u8> {
        let ip = PacketBuilder::ethernet(A, B).ipv4(self.src.into(), self.dst.into(), 64);
        let t = match (self.proto, self.answer) {
            (TCP, false) => ip.tcp(self.sport, self.dport, 100, 0, TcpFlags::SYN, 1000),
            (TCP, true) => ip.tcp(
                self.sport,
                self.dport,
                500,
                101,
                TcpFlags::SYN | TcpFlags::ACK,
                1000,
            ),
            (UDP, _) => ip.udp(self.sport, self.dport),
            (_, false) => ip.icmpv4_echo_request(self.sport, 1),
            (_, true) => ip.icmpv4_echo_reply(self.sport, 1),
        };
        let mut buf = vec![0; t.size(PAYLOAD.len())];
        t.write(&mut buf, PAYLOAD).unwrap();
        buf
    }

    /// The answer to this packet.
    fn reversed(&self) -> Flow {
        Flow {
            proto: self.proto,
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
            answer: !self.answer,
        }
    }
}

/// Checks every checksum of an IPv4 frame with etherparse (recomputed from
/// scratch), the quoted packet of an ICMP error too (when quoted whole),
/// and returns the frame's tuple (ICMP query: the identifier as both
/// ports; ICMP error: the quoted packet's tuple with proto + 100).
fn ep_check(frame: &[u8]) -> Flow {
    let h = ep::PacketHeaders::from_ethernet_slice(frame).expect("etherparse parses it");
    tuple_of(&h, false)
}

fn tuple_of(h: &ep::PacketHeaders<'_>, quoted: bool) -> Flow {
    let Some(ep::NetHeaders::Ipv4(ip, _)) = &h.net else {
        panic!("not IPv4")
    };
    assert_eq!(
        ip.header_checksum,
        ip.calc_header_checksum(),
        "IPv4 checksum"
    );
    let payload = h.payload.slice();
    let (proto, sport, dport, answer) = match h.transport.as_ref().expect("a transport header") {
        ep::TransportHeader::Tcp(t) => {
            assert_eq!(
                t.checksum,
                t.calc_checksum_ipv4(ip, payload).unwrap(),
                "TCP checksum"
            );
            (TCP, t.source_port, t.destination_port, t.ack)
        }
        ep::TransportHeader::Udp(u) => {
            if u.checksum != 0 {
                assert_eq!(
                    u.checksum,
                    u.calc_checksum_ipv4(ip, payload).unwrap(),
                    "UDP checksum"
                );
            }
            (UDP, u.source_port, u.destination_port, false)
        }
        ep::TransportHeader::Icmpv4(i) => {
            assert_eq!(
                i.checksum,
                i.icmp_type.calc_checksum(payload),
                "ICMP checksum"
            );
            match i.icmp_type {
                ep::Icmpv4Type::EchoRequest(e) => (ICMP, e.id, e.id, false),
                ep::Icmpv4Type::EchoReply(e) => (ICMP, e.id, e.id, true),
                _ => {
                    assert!(!quoted);
                    let inner = ep::PacketHeaders::from_ip_slice(payload)
                        .expect("the quoted packet parses");
                    let q = tuple_of(&inner, true);
                    return Flow {
                        proto: q.proto + 100,
                        ..q
                    };
                }
            }
        }
        other => panic!("unexpected {other:?}"),
    };
    Flow {
        proto,
        src: ip.source,
        sport,
        dst: ip.destination,
        dport,
        answer,
    }
}

/// Outer source and destination of an ICMP error frame.
fn outer_addrs(frame: &[u8]) -> ([u8; 4], [u8; 4]) {
    let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    (ip.src_addr().octets(), ip.dst_addr().octets())
}

fn config() -> NatConfig {
    NatConfig {
        public: vec![PUBLIC.into()],
        inside: vec!["10.0.0.0/8".parse().unwrap()],
        forwards: vec![Forward::parse("tcp 203.0.113.1:8080 -> 10.0.0.5:80").unwrap()],
        ..NatConfig::default()
    }
}

fn send(h: &mut Harness<Nat>, input: usize, frames: &[Vec<u8>]) -> Output {
    let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
    h.process_bytes(input, &refs)
}

/// Sends one frame; returns its verdict as Ok((output, bytes)) or Err(reason).
fn one(h: &mut Harness<Nat>, input: usize, frame: &[u8]) -> Result<(u16, Vec<u8>), DropReason> {
    let out = h.process_bytes(input, &[frame]);
    if let Some((r, _)) = out.dropped.first() {
        return Err(*r);
    }
    let (k, p) = &out.forwarded[0];
    Ok((*k, p.data().to_vec()))
}

fn icmp_error(from: [u8; 4], to: [u8; 4], kind: u8, quoted: &[u8]) -> Vec<u8> {
    let ip = PacketBuilder::ethernet(A, B).ipv4(from.into(), to.into(), 64);
    let t = match kind {
        11 => ip.icmpv4_time_exceeded(0),
        _ => ip.icmpv4_dst_unreachable(3, 0),
    };
    let mut buf = vec![0; t.size(quoted.len())];
    t.write(&mut buf, quoted).unwrap();
    buf
}

fn udp_frags(src: [u8; 4], dst: [u8; 4], ident: u16) -> [Vec<u8>; 2] {
    let t = PacketBuilder::ethernet(A, B)
        .ipv4(src.into(), dst.into(), 64)
        .udp(4000, 53);
    let payload: Vec<u8> = (0..100u8).collect();
    let mut whole = vec![0; t.size(payload.len())];
    t.write(&mut whole, &payload).unwrap();
    let data = whole[34..].to_vec(); // 108 bytes of UDP datagram
    let frag = |part: &[u8], offset: u16, more: bool| {
        let mut f = whole[..34].to_vec();
        f.extend_from_slice(part);
        let mut p = Ipv4Packet::new_unchecked(&mut f[14..]);
        p.set_total_len((20 + part.len()) as u16);
        p.set_more_frags(more);
        p.set_frag_offset(offset);
        p.set_ident(ident);
        p.fill_checksum();
        f
    };
    [frag(&data[..48], 0, true), frag(&data[48..], 48, false)]
}

fn raw(build: impl FnOnce(netfn_wire::EthernetBuilder) -> netfn_wire::PacketTemplate) -> Vec<u8> {
    let t = build(PacketBuilder::ethernet(A, B));
    let mut buf = vec![0; t.size(4)];
    t.write(&mut buf, &[1, 2, 3, 4]).unwrap();
    buf
}

fn inside1() -> Vec<Vec<u8>> {
    let mut v = vec![
        Flow::new(UDP, [10, 0, 0, 1], 5000, [198, 51, 100, 1], 53).packet(),
        Flow::new(UDP, [10, 0, 0, 2], 5000, [198, 51, 100, 1], 53).packet(),
        Flow::new(TCP, [10, 0, 0, 1], 40000, [198, 51, 100, 2], 443).packet(),
        Flow::new(ICMP, [10, 0, 0, 3], 77, [198, 51, 100, 3], 0).packet(),
    ];
    v.push(raw(|e| {
        e.vlan(5)
            .unwrap()
            .ipv4([10, 0, 0, 4].into(), [198, 51, 100, 4].into(), 64)
            .udp(6000, 123)
    }));
    let mut zero = Flow::new(UDP, [10, 0, 0, 1], 5001, [198, 51, 100, 1], 53).packet();
    UdpPacket::new_checked(&mut zero[34..])
        .unwrap()
        .set_checksum(0);
    v.push(zero);
    v.extend(udp_frags([10, 0, 0, 6], [198, 51, 100, 5], 900));
    // Hairpin to the port forward.
    v.push(Flow::new(TCP, [10, 0, 0, 7], 3333, PUBLIC, 8080).packet());
    // Not translated: a source outside `inside`, ARP, IPv6.
    v.push(Flow::new(UDP, [192, 168, 1, 1], 1, [198, 51, 100, 1], 2).packet());
    v.push(raw(|e| {
        e.arp_request([10, 0, 0, 1].into(), [10, 0, 0, 254].into())
    }));
    v.push(raw(|e| {
        e.ipv6(
            "fd00::1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
            64,
        )
        .udp(1, 2)
    }));
    // Dropped: truncated IPv4, GRE from inside.
    v.push(Flow::new(UDP, [10, 0, 0, 1], 1, [198, 51, 100, 1], 2).packet()[..30].to_vec());
    v.push(raw(|e| {
        e.ipv4([10, 0, 0, 1].into(), [198, 51, 100, 1].into(), 64)
            .protocol(netfn_wire::IpProtocol::Gre)
    }));
    v
}

/// The outside's answers, built from what the NAT sent out (`out0`).
fn outside(out0: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let t = |i: usize| ep_check(&out0[i]);
    let ip_of = |f: &[u8]| f[14..].to_vec();
    let mut v = vec![
        t(0).reversed().packet(),
        t(1).reversed().packet(),
        t(2).reversed().packet(),
        t(3).reversed().packet(),
        icmp_error([198, 51, 100, 1], PUBLIC, 3, &ip_of(&out0[0])),
        icmp_error([192, 0, 2, 254], PUBLIC, 11, &ip_of(&out0[2])),
        icmp_error([198, 51, 100, 3], PUBLIC, 3, &ip_of(&out0[3])),
        // Address-dependent filtering: a stranger is refused, a new port
        // of a contacted address is admitted.
        Flow::new(UDP, [198, 51, 100, 77], 1234, PUBLIC, 5000).packet(),
        Flow::new(UDP, [198, 51, 100, 1], 99, PUBLIC, 5000).packet(),
        Flow::new(UDP, [198, 51, 100, 1], 99, PUBLIC, 9999).packet(),
        Flow::new(TCP, [198, 51, 100, 9], 5555, PUBLIC, 8080).packet(),
        Flow::new(UDP, [198, 51, 100, 1], 53, [192, 0, 2, 50], 53).packet(),
    ];
    let stranger = Flow::new(UDP, PUBLIC, 4444, [198, 51, 100, 1], 53).packet();
    v.push(icmp_error([198, 51, 100, 1], PUBLIC, 3, &stranger[14..]));
    v.push(Flow::new(ICMP, [198, 51, 100, 3], 5, PUBLIC, 0).packet());
    v
}

/// Inside again: the port-forward server answers, a host sends an ICMP
/// error about a packet it got, a stray later fragment.
fn inside2(out1: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let admitted = out1
        .iter()
        .find(|f| ep_check(f).sport == 99)
        .expect("the admitted packet");
    vec![
        Flow {
            answer: true,
            ..Flow::new(TCP, [10, 0, 0, 5], 80, [198, 51, 100, 9], 5555)
        }
        .packet(),
        icmp_error([10, 0, 0, 1], [198, 51, 100, 1], 3, &admitted[14..]),
        udp_frags([10, 0, 0, 8], [198, 51, 100, 5], 901)[1].clone(),
    ]
}

/// The committed capture `name` of this NF's tests, which must equal
/// `generated` (written first under `UPDATE_GOLDEN`).
fn committed(name: &str, generated: &[Vec<u8>]) -> Vec<Vec<u8>> {
    Golden::new("nat").committed(name, generated)
}

#[test]
fn golden_session() {
    let mut h = Harness::new(Nat::new(config()).unwrap());
    let mut out0 = Vec::new();
    let mut out1 = Vec::new();
    let collect = |out: &Output, out0: &mut Vec<Vec<u8>>, out1: &mut Vec<Vec<u8>>| {
        out0.extend(out.on(0));
        out1.extend(out.on(1));
    };
    let in1 = committed("inside1.in.pcap", &inside1());
    let o = send(&mut h, 0, &in1);
    assert_eq!(
        o.drop_reasons(),
        vec![DropReason::Malformed, DropReason::Unsupported]
    );
    collect(&o, &mut out0, &mut out1);
    let out0_phase1 = out0.clone();
    let ins = committed("outside.in.pcap", &outside(&out0_phase1));
    let o = send(&mut h, 1, &ins);
    assert_eq!(
        o.drop_reasons(),
        vec![
            DropReason::Filtered,
            DropReason::NoState,
            DropReason::NoState,
            DropReason::NoState
        ]
    );
    collect(&o, &mut out0, &mut out1);
    let in2 = committed("inside2.in.pcap", &inside2(&out1));
    let o = send(&mut h, 0, &in2);
    assert_eq!(o.drop_reasons(), vec![DropReason::NoState]);
    collect(&o, &mut out0, &mut out1);

    let out0 = committed("out0.out.pcap", &out0);
    let out1 = committed("out1.out.pcap", &out1);

    // The independent check: what a NAT must have done, tuple by tuple,
    // with every checksum recomputed by etherparse.
    let ipv4 = |f: &Vec<u8>| {
        ep::PacketHeaders::from_ethernet_slice(f)
            .is_ok_and(|h| matches!(h.net, Some(ep::NetHeaders::Ipv4(..))) && h.transport.is_some())
    };
    let t0: Vec<Flow> = out0
        .iter()
        .filter(|f| ipv4(f))
        .map(|f| ep_check(f))
        .collect();
    let p = PUBLIC;
    let second_port = t0[1].sport;
    assert_ne!(second_port, 5000, "5000 was taken by 10.0.0.1");
    let want0 = [
        Flow::new(UDP, p, 5000, [198, 51, 100, 1], 53),
        Flow::new(UDP, p, second_port, [198, 51, 100, 1], 53),
        Flow::new(TCP, p, 40000, [198, 51, 100, 2], 443),
        Flow::new(ICMP, p, 77, [198, 51, 100, 3], 0),
        Flow::new(UDP, p, 6000, [198, 51, 100, 4], 123),
        Flow::new(UDP, p, 5001, [198, 51, 100, 1], 53),
        Flow::new(UDP, [192, 168, 1, 1], 1, [198, 51, 100, 1], 2),
        // Phase 3: the forward's server answers from its public endpoint;
        // the ICMP error quotes the packet as it came in from outside.
        Flow {
            answer: true,
            ..Flow::new(TCP, p, 8080, [198, 51, 100, 9], 5555)
        },
        Flow::new(UDP + 100, [198, 51, 100, 1], 99, p, 5000),
    ];
    assert_eq!(t0.len(), want0.len(), "{t0:?}");
    for (i, (got, want)) in t0.iter().zip(&want0).enumerate() {
        let got = Flow {
            answer: want.answer,
            ..*got
        };
        assert_eq!(&got, want, "out0 frame {i}");
    }
    assert_eq!(outer_addrs(&out0[out0.len() - 1]), (p, [198, 51, 100, 1]));
    // The fragments went out as 203.0.113.1 (etherparse cannot check a
    // lone fragment's UDP checksum: it does the IPv4 header).
    let frags: Vec<&Vec<u8>> = out0
        .iter()
        .filter(|f| {
            f.len() > 14 && f[12..14] == [8, 0] && f[20..22] != [0, 0] && f[20..22] != [0x40, 0]
        })
        .collect();
    assert_eq!(frags.len(), 2);
    for f in frags {
        let ip = ep::Ipv4HeaderSlice::from_slice(&f[14..])
            .unwrap()
            .to_header();
        assert_eq!(ip.source, p);
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
    }
    let t1: Vec<Flow> = out1
        .iter()
        .filter(|f| ipv4(f))
        .map(|f| ep_check(f))
        .collect();
    let want1 = [
        // Hairpin: 10.0.0.7 reaches the forward's server as 203.0.113.1:3333.
        Flow::new(TCP, p, 3333, [10, 0, 0, 5], 80),
        Flow::new(UDP, [198, 51, 100, 1], 53, [10, 0, 0, 1], 5000),
        Flow::new(UDP, [198, 51, 100, 1], 53, [10, 0, 0, 2], 5000),
        Flow {
            answer: true,
            ..Flow::new(TCP, [198, 51, 100, 2], 443, [10, 0, 0, 1], 40000)
        },
        Flow {
            answer: true,
            ..Flow::new(ICMP, [198, 51, 100, 3], 77, [10, 0, 0, 3], 0)
        },
        // ICMP errors: the quoted packets as the inside hosts sent them.
        Flow::new(UDP + 100, [10, 0, 0, 1], 5000, [198, 51, 100, 1], 53),
        Flow::new(TCP + 100, [10, 0, 0, 1], 40000, [198, 51, 100, 2], 443),
        Flow {
            dport: 77,
            ..Flow::new(ICMP + 100, [10, 0, 0, 3], 77, [198, 51, 100, 3], 0)
        },
        Flow::new(UDP, [198, 51, 100, 1], 99, [10, 0, 0, 1], 5000),
        Flow::new(TCP, [198, 51, 100, 9], 5555, [10, 0, 0, 5], 80),
        Flow::new(UDP, [198, 51, 100, 1], 53, [192, 0, 2, 50], 53),
    ];
    assert_eq!(t1.len(), want1.len(), "{t1:?}");
    for (i, (got, want)) in t1.iter().zip(&want1).enumerate() {
        let got = Flow {
            answer: want.answer,
            ..*got
        };
        assert_eq!(&got, want, "out1 frame {i}");
    }
    // ICMP errors go to the inside host, from the router that sent them.
    assert_eq!(outer_addrs(&out1[5]), ([198, 51, 100, 1], [10, 0, 0, 1]));
    assert_eq!(outer_addrs(&out1[6]), ([192, 0, 2, 254], [10, 0, 0, 1]));
    // The replies restore the original packets byte for byte.
    assert_eq!(
        out1[1],
        Flow::new(UDP, [10, 0, 0, 1], 5000, [198, 51, 100, 1], 53)
            .reversed()
            .packet()
    );
    let mut counters = HashMap::new();
    h.nf.counters(&mut |k, v| {
        counters.insert(k.to_string(), v);
    });
    assert_eq!(counters["icmp_errors_in"], 3);
    assert_eq!(counters["icmp_errors_out"], 1);
    assert_eq!(counters["hairpinned"], 1);
    assert_eq!(counters["fragments"], 1);
    assert_eq!(counters["drop_fragment_unmatched"], 1);
    assert_eq!(counters["passed"], 4);
}

/// An address and port.
type Endpoint = ([u8; 4], u16);

/// Runs `flows` out and their answers back in; checks the translation
/// rules and that answers restore the originals exactly.
fn round_trip(
    mapping: MappingBehavior,
    filtering: FilteringBehavior,
    flows: &[Flow],
) -> Result<(), TestCaseError> {
    let mut h = Harness::new(
        Nat::new(NatConfig {
            public: vec![PUBLIC.into(), [203, 0, 113, 2].into()],
            mapping,
            filtering,
            ..NatConfig::default()
        })
        .unwrap(),
    );
    // (proto, internal endpoint, remote endpoint) -> external endpoint
    let mut ext_of: HashMap<(u8, Endpoint, Endpoint), Endpoint> = HashMap::new();
    let mut host_addr: HashMap<[u8; 4], [u8; 4]> = HashMap::new();
    let mut owner: HashMap<(u8, [u8; 4], u16), Endpoint> = HashMap::new();
    let mut translated = Vec::new();
    for f in flows {
        let (k, out) =
            one(&mut h, 0, &f.packet()).map_err(|r| TestCaseError::fail(format!("{r}")))?;
        prop_assert_eq!(k, 0);
        let t = ep_check(&out);
        prop_assert_eq!(t.dst, f.dst);
        if f.proto != ICMP {
            prop_assert_eq!(t.dport, f.dport);
        }
        let ext = (t.src, t.sport);
        // Byte for byte what a builder makes for the translated tuple.
        prop_assert_eq!(
            &out,
            &Flow {
                src: t.src,
                sport: t.sport,
                ..*f
            }
            .packet()
        );
        // Paired pooling.
        prop_assert_eq!(*host_addr.entry(f.src).or_insert(t.src), t.src);
        // No port overloading: one external endpoint, one internal one.
        let int = (f.src, f.sport);
        prop_assert_eq!(*owner.entry((f.proto, ext.0, ext.1)).or_insert(int), int);
        let key = (f.proto, (f.src, f.sport), (f.dst, f.dport));
        prop_assert_eq!(*ext_of.entry(key).or_insert(ext), ext);
        if mapping == MappingBehavior::EndpointIndependent {
            for ((p, int, _), e) in &ext_of {
                if (*p, *int) == (f.proto, (f.src, f.sport)) {
                    prop_assert_eq!(*e, ext, "EIM: one external endpoint");
                }
            }
        }
        translated.push((*f, t));
    }
    if mapping == MappingBehavior::AddressAndPortDependent {
        let mut seen = HashSet::new();
        for (k, e) in &ext_of {
            prop_assert!(
                seen.insert((k.0, *e)),
                "APDM: an external endpoint per session"
            );
        }
    }
    for (f, t) in &translated {
        let (k, back) = one(&mut h, 1, &t.reversed().packet())
            .map_err(|r| TestCaseError::fail(format!("reply dropped: {r}")))?;
        prop_assert_eq!(k, 1);
        prop_assert_eq!(
            back,
            f.reversed().packet(),
            "the reply restores the original"
        );
    }
    // Filtering: a stranger, and a new port of a contacted address.
    for (f, t) in translated.iter().filter(|(f, _)| f.proto != ICMP).take(3) {
        let stranger = Flow::new(f.proto, [198, 51, 100, 250], 7777, t.src, t.sport);
        let known = Flow::new(f.proto, f.dst, 7777, t.src, t.sport);
        let s = one(&mut h, 1, &stranger.packet());
        let k = one(&mut h, 1, &known.packet());
        let (want_s, want_k) = match filtering {
            FilteringBehavior::EndpointIndependent => (true, true),
            FilteringBehavior::AddressDependent => (false, true),
            FilteringBehavior::AddressAndPortDependent => (false, false),
        };
        prop_assert_eq!(s.is_ok(), want_s, "stranger {:?}", s.as_ref().err());
        prop_assert_eq!(k.is_ok(), want_k, "known address {:?}", k.as_ref().err());
        if let Ok((_, back)) = k {
            let b = ep_check(&back);
            prop_assert_eq!((b.dst, b.dport), (f.src, f.sport));
        }
    }
    Ok(())
}

fn flow_strategy() -> impl Strategy<Value = Flow> {
    (
        prop::sample::select(vec![TCP, UDP, ICMP]),
        0u8..6,
        prop::sample::select(vec![1024u16, 1025, 5000, 40000, 65535]),
        0u8..3,
        prop::sample::select(vec![53u16, 80, 443]),
    )
        .prop_map(|(proto, host, sport, remote, dport)| {
            Flow::new(
                proto,
                [10, 0, 0, host + 1],
                sport,
                [198, 51, 100, remote + 1],
                dport,
            )
        })
}

fn behaviours() -> impl Strategy<Value = (MappingBehavior, FilteringBehavior)> {
    (
        prop::sample::select(vec![
            MappingBehavior::EndpointIndependent,
            MappingBehavior::AddressAndPortDependent,
        ]),
        prop::sample::select(vec![
            FilteringBehavior::EndpointIndependent,
            FilteringBehavior::AddressDependent,
            FilteringBehavior::AddressAndPortDependent,
        ]),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_flows_round_trip(
        flows in proptest::collection::vec(flow_strategy(), 1..40),
        (mapping, filtering) in behaviours(),
    ) {
        round_trip(mapping, filtering, &flows)?;
    }

    /// Random bytes and mangled frames on both inputs never panic; every
    /// packet is forwarded or dropped with a reason.
    #[test]
    fn random_bytes_never_panic(
        frames in fuzz::frames(200, 30),
        flips in fuzz::flips(0..8),
    ) {
        let mut h = Harness::new(Nat::new(config()).unwrap());
        let first = inside1();
        let out = send(&mut h, 0, &first);
        let all = fuzz::mangle(first.iter().chain(&outside(&out.on(0))), &frames, &flips);
        for input in [0, 1] {
            let out = send(&mut h, input, &all);
            prop_assert_eq!(out.forwarded.len() + out.dropped.len(), all.len());
        }
    }
}

#[test]
fn hairpinning_between_two_inside_hosts() {
    let mut cfg = config();
    cfg.filtering = FilteringBehavior::EndpointIndependent;
    let mut h = Harness::new(Nat::new(cfg).unwrap());
    // B (10.0.0.2:6000) talks out; its mapping is 203.0.113.1:6000.
    one(
        &mut h,
        0,
        &Flow::new(UDP, [10, 0, 0, 2], 6000, [198, 51, 100, 1], 53).packet(),
    )
    .unwrap();
    // A reaches B through B's public endpoint: out on output 1, from A's
    // public endpoint to B's inside one.
    let (k, f) = one(
        &mut h,
        0,
        &Flow::new(UDP, [10, 0, 0, 1], 7000, PUBLIC, 6000).packet(),
    )
    .unwrap();
    assert_eq!(k, 1);
    assert_eq!(
        f,
        Flow::new(UDP, PUBLIC, 7000, [10, 0, 0, 2], 6000).packet()
    );
    // B answers A's public endpoint: back to A's inside endpoint.
    let (k, f) = one(
        &mut h,
        0,
        &Flow::new(UDP, [10, 0, 0, 2], 6000, PUBLIC, 7000).packet(),
    )
    .unwrap();
    assert_eq!(k, 1);
    assert_eq!(
        f,
        Flow::new(UDP, PUBLIC, 6000, [10, 0, 0, 1], 7000).packet()
    );
    // To a public port nobody holds: dropped.
    let r = one(
        &mut h,
        0,
        &Flow::new(UDP, [10, 0, 0, 1], 7001, PUBLIC, 6001).packet(),
    );
    assert_eq!(r, Err(DropReason::NoState));
    // Address-dependent filtering applies to hairpinned traffic too.
    let mut h = Harness::new(Nat::new(config()).unwrap());
    one(
        &mut h,
        0,
        &Flow::new(UDP, [10, 0, 0, 2], 6000, [198, 51, 100, 1], 53).packet(),
    )
    .unwrap();
    let r = one(
        &mut h,
        0,
        &Flow::new(UDP, [10, 0, 0, 1], 7000, PUBLIC, 6000).packet(),
    );
    assert_eq!(r, Err(DropReason::Filtered));
}

fn counters(nf: &Nat) -> HashMap<String, u64> {
    let mut c = HashMap::new();
    nf.counters(&mut |k, v| {
        c.insert(k.to_string(), v);
    });
    c
}

#[test]
fn port_exhaustion_is_a_counted_drop_and_ports_come_back() {
    let mut cfg = config();
    cfg.ports = (2000, 2003);
    cfg.forwards.clear();
    let mut h = Harness::new(Nat::new(cfg).unwrap());
    let flow = |i: u8| Flow::new(UDP, [10, 0, 1, i], 3000, [198, 51, 100, 1], 53).packet();
    let mut ports = HashSet::new();
    for i in 0..4 {
        let (_, f) = one(&mut h, 0, &flow(i)).unwrap();
        assert!(ports.insert(ep_check(&f).sport));
    }
    assert_eq!(ports, HashSet::from([2000, 2001, 2002, 2003]));
    for i in 4..10 {
        assert_eq!(one(&mut h, 0, &flow(i)), Err(DropReason::PortExhausted));
    }
    // Other protocols have their own ports; known flows still pass.
    one(
        &mut h,
        0,
        &Flow::new(TCP, [10, 0, 1, 9], 3000, [198, 51, 100, 1], 80).packet(),
    )
    .unwrap();
    one(&mut h, 0, &flow(0)).unwrap();
    let c = counters(&h.nf);
    assert_eq!(c["drop_port_exhausted"], 6);
    assert_eq!(c["mappings_active"], 5);
    h.advance(Duration::from_secs(5 * 60));
    assert_eq!(
        counters(&h.nf)["mappings_active"],
        0,
        "expired by the timer"
    );
    let (_, f) = one(&mut h, 0, &flow(7)).unwrap();
    assert!(ports.contains(&ep_check(&f).sport));

    // A full session table is port exhaustion too.
    let mut cfg = config();
    cfg.capacity = 2;
    let mut h = Harness::new(Nat::new(cfg).unwrap());
    one(&mut h, 0, &flow(0)).unwrap();
    one(&mut h, 0, &flow(1)).unwrap();
    assert_eq!(one(&mut h, 0, &flow(2)), Err(DropReason::PortExhausted));
    assert_eq!(counters(&h.nf)["drop_table_full"], 1);
    assert_eq!(
        h.nf.mappings(),
        3,
        "two mappings and the forward, nothing leaked"
    );
}

#[test]
fn timeouts_follow_the_rfcs_in_virtual_time() {
    let mut h = Harness::new(Nat::new(config()).unwrap());
    let udp = Flow::new(UDP, [10, 0, 0, 1], 5000, [198, 51, 100, 1], 53);
    let syn = Flow::new(TCP, [10, 0, 0, 1], 6000, [198, 51, 100, 1], 80);
    let half = Flow::new(TCP, [10, 0, 0, 1], 6001, [198, 51, 100, 1], 80);
    let ping = Flow::new(ICMP, [10, 0, 0, 1], 9, [198, 51, 100, 1], 0);
    for f in [udp, syn, half, ping] {
        one(&mut h, 0, &f.packet()).unwrap();
    }
    // The established one: its SYN-ACK comes back.
    let t = Flow { src: PUBLIC, ..syn }.reversed();
    one(&mut h, 1, &t.packet()).unwrap();
    assert_eq!(h.nf.sessions(), 4);
    h.advance(Duration::from_secs(59));
    assert_eq!(h.nf.sessions(), 4);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.nf.sessions(), 3, "ICMP: 60 s");
    h.advance(Duration::from_secs(3 * 60));
    assert_eq!(h.nf.sessions(), 2, "TCP half-open (transitory): 4 min");
    // Inbound traffic refreshes the UDP session (RFC 4787 REQ-6).
    one(&mut h, 1, &Flow { src: PUBLIC, ..udp }.reversed().packet()).unwrap();
    h.advance(Duration::from_secs(4 * 60 + 59));
    assert_eq!(h.nf.sessions(), 2);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.nf.sessions(), 1, "UDP: 5 min after the last packet");
    h.advance(Duration::from_secs(2 * 3600 + 4 * 60 - 9 * 60 - 1));
    assert_eq!(h.nf.sessions(), 1, "TCP established: 2 h 4 min");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.nf.sessions(), 0);
    assert_eq!(h.nf.mappings(), 1, "only the port forward is left");
    // After expiry the answer has no state.
    assert_eq!(
        one(&mut h, 1, &Flow { src: PUBLIC, ..udp }.reversed().packet()),
        Err(DropReason::NoState)
    );
    let c = counters(&h.nf);
    assert_eq!(c["sessions_expired"], 4);
    assert_eq!(c["mappings_expired"], 4);

    // FIN both ways makes an established session transitory.
    let mut h = Harness::new(Nat::new(config()).unwrap());
    one(&mut h, 0, &syn.packet()).unwrap();
    one(&mut h, 1, &t.packet()).unwrap();
    let fin = |from_inside: bool| {
        let (src, sport, dst, dport) = if from_inside {
            (syn.src, syn.sport, syn.dst, syn.dport)
        } else {
            (syn.dst, syn.dport, PUBLIC, syn.sport)
        };
        raw(|e| {
            e.ipv4(src.into(), dst.into(), 64).tcp(
                sport,
                dport,
                1,
                1,
                TcpFlags::FIN | TcpFlags::ACK,
                100,
            )
        })
    };
    one(&mut h, 0, &fin(true)).unwrap();
    h.advance(Duration::from_secs(10 * 60));
    assert_eq!(h.nf.sessions(), 1, "half-closed stays established");
    one(&mut h, 1, &fin(false)).unwrap();
    h.advance(Duration::from_secs(4 * 60));
    assert_eq!(h.nf.sessions(), 0, "closed: transitory");
}

#[test]
fn port_forward_and_static_mapping_for_its_server() {
    let mut h = Harness::new(Nat::new(config()).unwrap());
    // Anyone may reach the forward.
    for remote in 1..4u8 {
        let f = Flow::new(TCP, [198, 51, 100, remote], 1000, PUBLIC, 8080);
        let (k, out) = one(&mut h, 1, &f.packet()).unwrap();
        assert_eq!(k, 1);
        assert_eq!(
            out,
            Flow {
                dst: [10, 0, 0, 5],
                dport: 80,
                ..f
            }
            .packet()
        );
    }
    // The server's own outbound connections use its public endpoint.
    let (_, out) = one(
        &mut h,
        0,
        &Flow::new(TCP, [10, 0, 0, 5], 80, [198, 51, 100, 7], 443).packet(),
    )
    .unwrap();
    assert_eq!((ep_check(&out).src, ep_check(&out).sport), (PUBLIC, 8080));
    assert_eq!(
        h.nf.mapping_of(TCP, ([10, 0, 0, 5].into(), 80)),
        Some((Ipv4Addr::from(PUBLIC), 8080))
    );
    // Dynamic mappings never take the forward's port.
    let (_, out) = one(
        &mut h,
        0,
        &Flow::new(TCP, [10, 0, 0, 9], 8080, [198, 51, 100, 7], 443).packet(),
    )
    .unwrap();
    assert_ne!(ep_check(&out).sport, 8080);
    h.advance(Duration::from_secs(3 * 3600));
    assert_eq!(h.nf.sessions(), 0);
    assert!(
        h.nf.mapping_of(TCP, ([10, 0, 0, 5].into(), 80)).is_some(),
        "forwards never expire"
    );
}

#[test]
fn parity_and_port_preservation() {
    let mut cfg = config();
    cfg.parity = true;
    cfg.ports = (1024, 1031);
    let mut h = Harness::new(Nat::new(cfg).unwrap());
    for i in 0..4u8 {
        let (_, out) = one(
            &mut h,
            0,
            &Flow::new(UDP, [10, 0, 2, i], 1025, [198, 51, 100, 1], 53).packet(),
        )
        .unwrap();
        let port = ep_check(&out).sport;
        assert_eq!(port & 1, 1, "odd stays odd");
        if i == 0 {
            assert_eq!(port, 1025, "preserved while free");
        }
    }
    assert_eq!(
        one(
            &mut h,
            0,
            &Flow::new(UDP, [10, 0, 2, 9], 1025, [198, 51, 100, 1], 53).packet()
        ),
        Err(DropReason::PortExhausted),
        "no odd port left; parity is required"
    );
}

#[test]
fn reload_keeps_sessions() {
    let mut h = Harness::new(Nat::new(config()).unwrap());
    let flows: Vec<Flow> = (0..50u8)
        .map(|i| {
            Flow::new(
                UDP,
                [10, 0, 3, i],
                4000 + u16::from(i),
                [198, 51, 100, 1],
                53,
            )
        })
        .collect();
    let outs: Vec<Flow> = flows
        .iter()
        .map(|f| ep_check(&one(&mut h, 0, &f.packet()).unwrap().1))
        .collect();
    let old = std::mem::replace(&mut h.nf, Nat::new(config()).unwrap());
    let mut cfg = config();
    cfg.capacity = 1000;
    cfg.udp = Duration::from_secs(10 * 60);
    let mut new = Nat::new(cfg).unwrap();
    new.adopt(Box::new(old));
    assert_eq!(new.sessions(), 50);
    h.nf = new;
    for (f, t) in flows.iter().zip(&outs) {
        let (_, back) = one(&mut h, 1, &t.reversed().packet()).unwrap();
        assert_eq!(back, f.reversed().packet());
        let (_, again) = one(&mut h, 0, &f.packet()).unwrap();
        assert_eq!(ep_check(&again), *t, "same external endpoint after reload");
    }
    assert_eq!(
        counters(&h.nf)["sessions_created"],
        50,
        "counters carried over"
    );
    // A pool change drops the sessions whose address left.
    let old = std::mem::replace(&mut h.nf, Nat::new(config()).unwrap());
    let mut cfg = config();
    cfg.public = vec![[203, 0, 113, 99].into()];
    let mut new = Nat::new(cfg).unwrap();
    new.adopt(Box::new(old));
    assert_eq!(new.sessions(), 0);
}

#[test]
fn fragments_follow_their_first() {
    let mut h = Harness::new(Nat::new(config()).unwrap());
    let [first, later] = udp_frags([10, 0, 0, 1], [198, 51, 100, 1], 5);
    assert_eq!(
        one(&mut h, 0, &later),
        Err(DropReason::NoState),
        "before its first"
    );
    let o = send(&mut h, 0, &[first, later]);
    assert_eq!(o.on(0).len(), 2);
    for f in o.on(0) {
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(ip.src_addr(), Ipv4Addr::from(PUBLIC));
        assert!(ip.verify_checksum());
    }
}

fn params(items: &[(&str, Value)]) -> Params {
    common::params::params(
        [
            (
                "public",
                Value::List(vec![Value::Prefix("203.0.113.1/32".parse().unwrap())]),
            ),
            ("ports", Value::Str("1024-65535".into())),
            (
                "inside",
                Value::List(vec![Value::Prefix("10.0.0.0/8".parse().unwrap())]),
            ),
            ("mapping", Value::Word("endpoint-independent".into())),
            ("filtering", Value::Word("address-dependent".into())),
            ("parity", Value::Bool(false)),
            (
                "tcp_established",
                Value::Duration(Duration::from_secs(7440)),
            ),
            ("tcp_transitory", Value::Duration(Duration::from_secs(240))),
            ("udp", Value::Duration(Duration::from_secs(300))),
            ("icmp", Value::Duration(Duration::from_secs(60))),
            ("rfc_timeouts", Value::Bool(true)),
            ("capacity", Value::Int(1024)),
            ("forward", Value::List(vec![])),
            ("other", Value::Word("pass".into())),
        ],
        items,
    )
}

#[test]
fn config_errors_name_the_parameter() {
    assert!(Nat::from_params(&params(&[])).is_ok());
    let err = |items: &[(&str, Value)]| Nat::from_params(&params(items)).unwrap_err();
    let e = err(&[("public", Value::List(vec![]))]);
    assert_eq!(e.param.as_deref(), Some("public"));
    let e = err(&[(
        "public",
        Value::List(vec![Value::Prefix("2001:db8::1/128".parse().unwrap())]),
    )]);
    assert!(e.message.contains("NAT44"), "{e}");
    let e = err(&[(
        "public",
        Value::List(vec![Value::Prefix("198.18.0.0/15".parse().unwrap())]),
    )]);
    assert!(e.message.contains("at most 256"), "{e}");
    let e = err(&[("ports", Value::Str("9000".into()))]);
    assert_eq!(e.param.as_deref(), Some("ports"));
    assert!(e.message.contains("lo-hi"), "{e}");
    let e = err(&[("ports", Value::Str("9000-8000".into()))]);
    assert_eq!(e.param.as_deref(), Some("ports"));
    let e = err(&[("udp", Value::Duration(Duration::from_secs(30)))]);
    assert_eq!(e.param.as_deref(), Some("udp"));
    assert!(e.message.contains("RFC 4787"), "{e}");
    let e = err(&[("tcp_transitory", Value::Duration(Duration::from_secs(60)))]);
    assert_eq!(e.param.as_deref(), Some("tcp_transitory"));
    assert!(
        Nat::from_params(&params(&[
            ("udp", Value::Duration(Duration::from_secs(30))),
            ("rfc_timeouts", Value::Bool(false)),
        ]))
        .is_ok()
    );
    let e = err(&[(
        "forward",
        Value::List(vec![
            Value::Str("tcp 203.0.113.1:80 -> 10.0.0.5".into()),
            Value::Str("tcp 203.0.113.1 -> 10.0.0.5".into()),
        ]),
    )]);
    assert_eq!(e.param.as_deref(), Some("forward"));
    assert!(
        e.message.contains("item 2") && e.message.contains("no port"),
        "{e}"
    );
    let e = err(&[(
        "forward",
        Value::List(vec![Value::Str("udp 203.0.113.1:53 -> 192.168.0.1".into())]),
    )]);
    assert!(e.message.contains("inside"), "{e}");
    let e = err(&[("inside", Value::List(vec![]))]);
    assert_eq!(e.param.as_deref(), Some("inside"));
}

/// After warm-up, translating known and new flows both ways allocates
/// nothing.
#[test]
fn steady_state_allocates_nothing() {
    let mut nf = Nat::new(config()).unwrap();
    let mut s = Steady::new(1024);
    let out_flows: Vec<Flow> = (0..4000u16)
        .map(|i| {
            let proto = [UDP, TCP, ICMP][usize::from(i % 3)];
            Flow::new(
                proto,
                [10, 0, (i >> 8) as u8, i as u8],
                1024 + i,
                [198, 51, 100, 1],
                53,
            )
        })
        .collect();
    let frames: Vec<Vec<u8>> = out_flows.iter().map(Flow::packet).collect();
    // Answers (ports preserved: each host has its own port).
    let answers: Vec<Vec<u8>> = out_flows
        .iter()
        .map(|f| Flow { src: PUBLIC, ..*f }.reversed().packet())
        .collect();
    s.run(&mut nf, 0, 0, &frames[..2000]);
    let traffic = inside1();
    let info = allocation_counter::measure(|| {
        s.run(&mut nf, 1_000, 0, &frames); // 2000 known flows, 2000 new ones
        s.run(&mut nf, 2_000, 1, &answers);
        s.run(&mut nf, 3_000, 0, &traffic);
        s.run(&mut nf, 10_000_000_000_000, 0, &frames); // all expired: new again
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    assert!(nf.sessions() >= 4000);
}

/// An ICMP error quoting only the IP header and 8 bytes of TCP (RFC 792's
/// minimum): the port is translated, the TCP checksum (not in the quote)
/// cannot be, every checksum that is there stays right.
#[test]
fn icmp_error_with_a_short_quote() {
    let mut h = Harness::new(Nat::new(config()).unwrap());
    // 10.0.0.9 holds public port 40000, so 10.0.0.1:40000 gets another.
    one(
        &mut h,
        0,
        &Flow::new(TCP, [10, 0, 0, 9], 40000, [198, 51, 100, 2], 443).packet(),
    )
    .unwrap();
    let syn = Flow::new(TCP, [10, 0, 0, 1], 40000, [198, 51, 100, 2], 443);
    let (_, out) = one(&mut h, 0, &syn.packet()).unwrap();
    assert_ne!(ep_check(&out).sport, 40000);
    let quote = out[14..14 + 28].to_vec();
    let err = icmp_error([192, 0, 2, 254], PUBLIC, 11, &quote);
    let (k, back) = one(&mut h, 1, &err).unwrap();
    assert_eq!(k, 1);
    let outer = ep::Ipv4HeaderSlice::from_slice(&back[14..])
        .unwrap()
        .to_header();
    assert_eq!(outer.header_checksum, outer.calc_header_checksum());
    assert_eq!(outer.destination, [10, 0, 0, 1]);
    let icmp = ep::Icmpv4Slice::from_slice(&back[34..]).unwrap();
    assert_eq!(
        icmp.checksum(),
        icmp.icmp_type().calc_checksum(icmp.payload()),
        "ICMP checksum over the rewritten quote"
    );
    let q = icmp.payload();
    let inner = ep::Ipv4HeaderSlice::from_slice(q).unwrap().to_header();
    assert_eq!(inner.header_checksum, inner.calc_header_checksum());
    assert_eq!(inner.source, [10, 0, 0, 1]);
    assert_eq!(q[20..22], 40000u16.to_be_bytes(), "the quoted source port");
    // Everything else of the quote is as it was.
    assert_eq!(q[..10], quote[..10]);
    assert_eq!(q[16..20], quote[16..20]);
    assert_eq!(q[22..], quote[22..]);
}
