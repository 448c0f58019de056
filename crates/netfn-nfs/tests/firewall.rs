//! The `firewall` NF end to end: the classifier against a naive linear
//! first-match reference on random rules and packets, golden pcaps
//! (stateless and stateful, each verdict also labelled by hand and every
//! forwarded frame re-checked with etherparse), connection tracking through
//! the NF, reloads, random bytes, config errors and no allocation in steady
//! state.
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p
//! netfn-nfs --test firewall`.

mod common;

use common::fuzz;

use common::golden::Golden;

use common::alloc::Steady;

use common::params::strs;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use etherparse as ep;
use netfn_core::config::{Params, Value};
use netfn_core::testing::Harness;
use netfn_core::{DropReason, Nf};
use netfn_nfs::firewall::classifier::Classifier;
use netfn_nfs::firewall::conntrack::Timeouts;
use netfn_nfs::firewall::rules::{self, Action, Fields, addr_bits};
use netfn_nfs::firewall::{Firewall, FirewallConfig};
use netfn_wire::{Ipv4Packet, MacAddr, PacketBuilder, TcpFlags};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

// ---------------------------------------------------------------------------
// The differential test: a rule model of the test's own, rendered to text,
// parsed and compiled by the NF; a linear first-match over the model is the
// reference.

#[derive(Debug, Clone)]
struct TRule {
    allow: bool,
    /// Some(false) = inet, Some(true) = inet6.
    family: Option<bool>,
    protos: Vec<Option<u8>>,
    srcs: Vec<Option<(IpAddr, u8)>>,
    dsts: Vec<Option<(IpAddr, u8)>>,
    sports: Vec<(u16, u16)>,
    dports: Vec<(u16, u16)>,
    icmp: Vec<u8>,
    icmp_code: Option<u8>,
    flags: Option<(u8, u8)>,
}

fn flag_letters(bits: u8) -> String {
    let s = TcpFlags::from_bits(bits).to_string();
    if s == "-" { String::new() } else { s }
}

fn proto_word(p: Option<u8>) -> String {
    match p {
        None => "ip".into(),
        Some(6) => "tcp".into(),
        Some(17) => "udp".into(),
        Some(1) => "icmp".into(),
        Some(58) => "icmp6".into(),
        Some(n) => format!("proto {n}"),
    }
}

fn list<T>(items: &[T], one: impl Fn(&T) -> String) -> String {
    if items.len() == 1 {
        one(&items[0])
    } else {
        format!(
            "{{ {} }}",
            items.iter().map(one).collect::<Vec<_>>().join(" ")
        )
    }
}

impl TRule {
    fn text(&self) -> String {
        let mut s = String::from(if self.allow { "allow" } else { "deny" });
        match self.family {
            Some(false) => s += " inet",
            Some(true) => s += " inet6",
            None => {}
        }
        s += " ";
        s += &list(&self.protos, |p| {
            let w = proto_word(*p);
            // Inside a list, numbers go bare.
            w.strip_prefix("proto ").map(str::to_string).unwrap_or(w)
        });
        let addr = |a: &Option<(IpAddr, u8)>| match a {
            None => "any".to_string(),
            Some((ip, len)) => format!("{ip}/{len}"),
        };
        let ports = |p: &[(u16, u16)]| {
            p.iter()
                .map(|&(lo, hi)| {
                    if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}-{hi}")
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        s += &format!(" from {}", list(&self.srcs, addr));
        if !self.sports.is_empty() {
            s += &format!(" port {}", ports(&self.sports));
        }
        s += &format!(" to {}", list(&self.dsts, addr));
        if !self.dports.is_empty() {
            s += &format!(" port {}", ports(&self.dports));
        }
        if !self.icmp.is_empty() {
            let kw = if self.protos == [Some(58)] {
                "icmp6-type"
            } else {
                "icmp-type"
            };
            s += &format!(" {kw} {}", list(&self.icmp, |t| t.to_string()));
            if let Some(c) = self.icmp_code {
                s += &format!(" code {c}");
            }
        }
        if let Some((set, mask)) = self.flags {
            s += &format!(" flags {}/{}", flag_letters(set), flag_letters(mask));
        }
        s
    }

    /// The reference semantics, from the rules language's documentation.
    fn matches(&self, p: &TPacket) -> bool {
        let proto_ok = self.protos.iter().any(|&proto| {
            if proto.is_some_and(|x| x != p.proto) {
                return false;
            }
            // icmp is IPv4's, icmp6 IPv6's.
            let fam = match proto {
                Some(1) => Some(false),
                Some(58) => Some(true),
                _ => self.family,
            };
            fam.is_none_or(|v6| v6 == p.src.is_ipv6())
        });
        let in_net = |net: &Option<(IpAddr, u8)>, a: IpAddr| match net {
            None => true,
            Some((n, len)) => ipnet::IpNet::new(*n, *len).unwrap().contains(&a),
        };
        let ports_ok = |set: &[(u16, u16)], port: u16| {
            set.is_empty() || set.iter().any(|&(lo, hi)| (lo..=hi).contains(&port))
        };
        let has_ports = p.l4 && (p.proto == 6 || p.proto == 17);
        proto_ok
            && self.family.is_none_or(|v6| v6 == p.src.is_ipv6())
            && self.srcs.iter().any(|s| in_net(s, p.src))
            && self.dsts.iter().any(|d| in_net(d, p.dst))
            && ((self.sports.is_empty() && self.dports.is_empty())
                || (has_ports
                    && ports_ok(&self.sports, p.sport)
                    && ports_ok(&self.dports, p.dport)))
            && (self.icmp.is_empty()
                || (p.l4
                    && self.icmp.contains(&p.icmp_type)
                    && self.icmp_code.is_none_or(|c| c == p.icmp_code)))
            && self
                .flags
                .is_none_or(|(set, mask)| p.l4 && p.flags & mask == set)
    }
}

#[derive(Debug, Clone)]
struct TPacket {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    l4: bool,
    sport: u16,
    dport: u16,
    icmp_type: u8,
    icmp_code: u8,
    flags: u8,
}

impl TPacket {
    fn fields(&self) -> Fields {
        Fields {
            v6: self.src.is_ipv6(),
            src: addr_bits(self.src).1,
            dst: addr_bits(self.dst).1,
            proto: self.proto,
            l4: self.l4,
            sport: self.sport,
            dport: self.dport,
            icmp_type: self.icmp_type,
            icmp_code: self.icmp_code,
            tcp_flags: self.flags,
        }
    }
}

/// Addresses from a small space, so prefixes overlap and packets hit them.
fn address(v6: bool) -> impl Strategy<Value = IpAddr> {
    (0u8..4, 0u8..4, 0u8..8).prop_map(move |(a, b, c)| {
        if v6 {
            IpAddr::V6(Ipv6Addr::new(
                0xfd00,
                u16::from(a),
                0,
                0,
                0,
                0,
                u16::from(b),
                u16::from(c),
            ))
        } else {
            IpAddr::V4(Ipv4Addr::new(10, a, b, c))
        }
    })
}

fn prefix(v6: bool) -> impl Strategy<Value = Option<(IpAddr, u8)>> {
    let lens: &'static [u8] = if v6 {
        &[0, 8, 16, 31, 32, 64, 100, 111, 112, 126, 128]
    } else {
        &[0, 7, 8, 14, 16, 20, 24, 29, 30, 32]
    };
    prop_oneof![
        1 => Just(None),
        4 => (address(v6), proptest::sample::select(lens)).prop_map(|(a, len)| {
            Some((ipnet::IpNet::new(a, len).unwrap().trunc().addr(), len))
        }),
    ]
}

fn port_set() -> impl Strategy<Value = Vec<(u16, u16)>> {
    let item = prop_oneof![
        (0u16..40).prop_map(|p| (p, p)),
        (0u16..40, 0u16..30).prop_map(|(lo, n)| (lo, lo + n)),
        Just((1000, 65535)),
    ];
    prop_oneof![
        2 => Just(Vec::new()),
        3 => proptest::collection::vec(item, 1..4),
    ]
}

fn trule() -> impl Strategy<Value = TRule> {
    (any::<bool>(), 0u8..3, 0u8..7, any::<bool>()).prop_flat_map(|(allow, fam, kind, coin)| {
        let v6 = match fam {
            1 => false,
            2 => true,
            _ => kind == 4 || (kind != 3 && coin),
        };
        let family = match fam {
            1 => Some(false),
            2 => Some(true),
            _ => None,
        };
        // kind: 0 tcp, 1 udp, 2 {tcp udp}, 3 icmp, 4 icmp6, 5 any, 6 proto 47
        let kind = if (kind == 3 && v6) || (kind == 4 && fam == 1) {
            5
        } else {
            kind
        };
        let protos: Vec<Option<u8>> = match kind {
            0 => vec![Some(6)],
            1 => vec![Some(17)],
            2 => vec![Some(6), Some(17)],
            3 => vec![Some(1)],
            4 => vec![Some(58)],
            5 => vec![None],
            _ => vec![Some(47)],
        };
        let v6 = v6 || kind == 4;
        let family = if kind == 4 {
            Some(true)
        } else if kind == 3 {
            family.or(Some(false))
        } else {
            family
        };
        let addresses = proptest::collection::vec(prefix(v6), 1..3).boxed();
        let ports = kind <= 2;
        (
            Just((allow, family, protos)),
            addresses.clone(),
            addresses,
            if ports {
                port_set().boxed()
            } else {
                Just(vec![]).boxed()
            },
            if ports {
                port_set().boxed()
            } else {
                Just(vec![]).boxed()
            },
            if kind == 3 || kind == 4 {
                proptest::collection::vec(
                    prop_oneof![Just(0u8), Just(3), Just(8), Just(128), Just(129), Just(1)],
                    0..3,
                )
                .boxed()
            } else {
                Just(vec![]).boxed()
            },
            proptest::option::of(0u8..3),
            if kind == 0 {
                proptest::option::of((any::<u8>(), any::<u8>()).prop_filter_map(
                    "set within mask",
                    |(s, m)| {
                        let (s, m) = (s & 0x3f, (m | s) & 0x3f);
                        (m != 0).then_some((s & m, m))
                    },
                ))
                .boxed()
            } else {
                Just(None).boxed()
            },
        )
            .prop_map(
                |((allow, family, protos), srcs, dsts, sports, dports, icmp, code, flags)| {
                    // A family-free rule with an address would take that
                    // address's family: make the model say so.
                    let fam_of = srcs
                        .iter()
                        .chain(&dsts)
                        .flatten()
                        .map(|(a, _)| a.is_ipv6())
                        .next();
                    let family = family.or(fam_of);
                    TRule {
                        allow,
                        family,
                        protos,
                        srcs,
                        dsts,
                        sports,
                        dports,
                        icmp_code: if icmp.is_empty() { None } else { code },
                        icmp,
                        flags,
                    }
                },
            )
    })
}

fn tpacket() -> impl Strategy<Value = TPacket> {
    any::<bool>().prop_flat_map(|v6| {
        (
            address(v6),
            address(v6),
            prop_oneof![
                Just(6u8),
                Just(17),
                Just(if v6 { 58 } else { 1 }),
                Just(47),
                Just(1)
            ],
            prop_oneof![5 => Just(true), 1 => Just(false)],
            0u16..45,
            prop_oneof![0u16..45, 1000u16..=65535],
            prop_oneof![Just(0u8), Just(3), Just(8), Just(128), Just(129)],
            0u8..3,
            0u8..0x40,
        )
            .prop_map(
                |(src, dst, proto, l4, sport, dport, icmp_type, icmp_code, flags)| TPacket {
                    src,
                    dst,
                    proto,
                    l4,
                    sport,
                    dport,
                    icmp_type,
                    icmp_code,
                    flags,
                },
            )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The tuple-space classifier picks exactly the rule a linear
    /// first-match scan over the test's own model picks.
    #[test]
    fn classifier_agrees_with_linear_first_match(
        rules in proptest::collection::vec(trule(), 1..60),
        packets in proptest::collection::vec(tpacket(), 1..80),
    ) {
        let text: String = rules.iter().map(|r| r.text() + "\n").collect();
        let parsed = rules::parse_rules(&text, "prop")
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed.len(), rules.len());
        let classifier = Classifier::new(&parsed);
        for p in &packets {
            let want = rules.iter().position(|r| r.matches(p));
            let got = classifier.classify(&p.fields());
            prop_assert_eq!(got, want, "packet {:?}\nrules:\n{}", p, text);
            // The parsed rules agree with the model too.
            prop_assert_eq!(parsed.iter().position(|r| r.matches(&p.fields())), want);
        }
    }
}

/// Many rules, many tuples, many packets: one large fixed case.
#[test]
fn classifier_agrees_on_a_large_rule_set() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    // Specific rules only (no catch-all that would decide every packet
    // early), so later rules and many tuples get their turn.
    let specific = |a: &[Option<(IpAddr, u8)>]| a.iter().all(|p| p.is_some_and(|(_, l)| l >= 14));
    let mut rules = proptest::collection::vec(trule(), 8000)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    rules.retain(|r| specific(&r.srcs) && specific(&r.dsts));
    rules.truncate(1500);
    assert_eq!(rules.len(), 1500);
    let text: String = rules.iter().map(|r| r.text() + "\n").collect();
    let parsed = rules::parse_rules(&text, "big").unwrap();
    let classifier = Classifier::new(&parsed);
    assert!(classifier.tuples() > 50, "{}", classifier.tuples());
    let mut hits = 0;
    for _ in 0..20_000 {
        let p = tpacket().new_tree(&mut runner).unwrap().current();
        let want = rules.iter().position(|r| r.matches(&p));
        assert_eq!(classifier.classify(&p.fields()), want, "{p:?}");
        hits += usize::from(want.is_some_and(|i| i > 100));
    }
    assert!(hits > 100, "too few late matches: {hits}");
}

// ---------------------------------------------------------------------------
// Frames.

const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const SERVER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const CLIENT: [u8; 4] = [10, 0, 0, 5];
const SERVER: [u8; 4] = [10, 1, 0, 1];

fn build(t: netfn_wire::PacketTemplate, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0; t.size(payload.len())];
    t.write(&mut buf, payload).unwrap();
    buf
}

fn eth(from_client: bool) -> netfn_wire::EthernetBuilder {
    if from_client {
        PacketBuilder::ethernet(CLIENT_MAC, SERVER_MAC)
    } else {
        PacketBuilder::ethernet(SERVER_MAC, CLIENT_MAC)
    }
}

fn tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, flags: TcpFlags) -> Vec<u8> {
    let t = eth(src == CLIENT)
        .ipv4(src.into(), dst.into(), 64)
        .tcp(sport, dport, 100, 1, flags, 1000);
    build(t, b"data")
}

fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    build(
        eth(src == CLIENT)
            .ipv4(src.into(), dst.into(), 64)
            .udp(sport, dport),
        b"query",
    )
}

fn syn() -> TcpFlags {
    TcpFlags::SYN
}
fn ack() -> TcpFlags {
    TcpFlags::ACK
}

const RULES: &str = "\
# golden rules
deny tcp all flags SF/SF
allow tcp from 10.0.0.0/16 to 10.1.0.0/16 port 80,443
allow udp from 10.0.0.0/16 port 1024-65535 to 10.1.0.0/16 port domain
allow icmp from 10.0.0.0/16 to any icmp-type echoreq
allow inet6 udp from fd00:0:0:1::/64 to fd00:0:0:2::/64 port 1-1023
deny udp from any to 192.0.2.0/24 port 1000-2000
allow proto 47 from 10.0.0.0/16 to 10.1.0.0/16
";

/// (frame, passes stateless, passes stateful, why).
// Pushed one by one: each entry is a step of the story, some need setup.
#[allow(clippy::vec_init_then_push)]
fn traffic() -> Vec<(Vec<u8>, bool, bool, &'static str)> {
    let mut v: Vec<(Vec<u8>, bool, bool, &'static str)> = Vec::new();
    v.push((
        tcp(CLIENT, 40000, SERVER, 80, syn()),
        true,
        true,
        "SYN to web: rule 2, opens",
    ));
    v.push((
        tcp(SERVER, 80, CLIENT, 40000, syn() | ack()),
        false,
        true,
        "SYN-ACK back: default / state",
    ));
    v.push((
        tcp(CLIENT, 40000, SERVER, 80, ack()),
        true,
        true,
        "ACK: rule 2 / state",
    ));
    v.push((
        tcp(SERVER, 80, CLIENT, 40000, ack() | TcpFlags::PSH),
        false,
        true,
        "data back",
    ));
    v.push((
        tcp(CLIENT, 40001, SERVER, 443, ack()),
        true,
        false,
        "ACK without SYN: no-state",
    ));
    v.push((
        tcp(CLIENT, 40002, SERVER, 22, syn()),
        false,
        false,
        "ssh: default deny",
    ));
    v.push((
        tcp(CLIENT, 40003, SERVER, 80, syn() | TcpFlags::FIN),
        false,
        false,
        "SYN+FIN: rule 1",
    ));
    v.push((
        udp(CLIENT, 5353, SERVER, 53),
        true,
        true,
        "DNS query: rule 3",
    ));
    v.push((
        udp(SERVER, 53, CLIENT, 5353),
        false,
        true,
        "DNS answer: state",
    ));
    v.push((
        udp(CLIENT, 53, SERVER, 53),
        false,
        false,
        "source port below 1024",
    ));
    v.push((
        udp(CLIENT, 3000, [192, 0, 2, 7], 1500),
        false,
        false,
        "rule 6 deny",
    ));
    // ICMP echo both ways.
    let echo = eth(true)
        .ipv4(CLIENT.into(), SERVER.into(), 64)
        .icmpv4_echo_request(7, 1);
    v.push((build(echo, &[1; 8]), true, true, "ping: rule 4"));
    let reply = eth(false)
        .ipv4(SERVER.into(), CLIENT.into(), 64)
        .icmpv4_echo_reply(7, 1);
    v.push((build(reply, &[1; 8]), false, true, "pong: state"));
    let reply = eth(false)
        .ipv4(SERVER.into(), CLIENT.into(), 64)
        .icmpv4_echo_reply(8, 1);
    v.push((build(reply, &[1; 8]), false, false, "pong of no ping"));
    // An ICMP error about the DNS flow, from a router on the way.
    let query = udp(CLIENT, 5353, SERVER, 53);
    let quoted = &query[14..14 + 28];
    let unreach = eth(false)
        .ipv4([10, 9, 9, 9].into(), CLIENT.into(), 64)
        .icmpv4_dst_unreachable(3, 0);
    v.push((
        build(unreach, quoted),
        false,
        true,
        "port unreachable: related",
    ));
    let other = udp(CLIENT, 6000, SERVER, 53);
    let unreach = eth(false)
        .ipv4([10, 9, 9, 9].into(), CLIENT.into(), 64)
        .icmpv4_dst_unreachable(3, 0);
    v.push((
        build(unreach, &other[14..14 + 28]),
        false,
        false,
        "unreachable about no flow",
    ));
    // IPv6.
    let (c6, s6): (Ipv6Addr, Ipv6Addr) = (
        "fd00:0:0:1::5".parse().unwrap(),
        "fd00:0:0:2::1".parse().unwrap(),
    );
    v.push((
        build(eth(true).ipv6(c6, s6, 64).udp(4000, 123), b"ntp"),
        true,
        true,
        "v6 NTP: rule 5",
    ));
    v.push((
        build(eth(false).ipv6(s6, c6, 64).udp(123, 4000), b"ntp"),
        false,
        true,
        "v6 NTP back: state",
    ));
    v.push((
        build(eth(true).ipv6(c6, s6, 64).udp(4000, 5000), b"x"),
        false,
        false,
        "v6 high port",
    ));
    // VLAN-tagged web SYN.
    let tagged = PacketBuilder::ethernet(CLIENT_MAC, SERVER_MAC)
        .vlan(7)
        .unwrap()
        .ipv4(CLIENT.into(), SERVER.into(), 64)
        .tcp(41000, 443, 1, 0, syn(), 100);
    v.push((build(tagged, &[]), true, true, "tagged SYN: rule 2"));
    // GRE, protocol number rule.
    let gre = eth(true)
        .ipv4(CLIENT.into(), SERVER.into(), 64)
        .protocol(netfn_wire::IpProtocol::Gre);
    v.push((build(gre, &[0; 8]), true, true, "GRE: rule 7"));
    // A non-first fragment of a web packet: no ports, only port-free rules.
    let mut frag = tcp(CLIENT, 40000, SERVER, 80, ack());
    {
        let mut ip = Ipv4Packet::new_checked(&mut frag[14..]).unwrap();
        ip.set_frag_offset(64);
        ip.fill_checksum();
    }
    v.push((frag, false, false, "non-first fragment: default"));
    // ARP passes; a truncated TCP header is malformed.
    let arp = PacketBuilder::ethernet(CLIENT_MAC, MacAddr::BROADCAST)
        .arp_request(CLIENT.into(), SERVER.into());
    v.push((build(arp, &[]), true, true, "ARP: non_ip = pass"));
    let mut short = tcp(CLIENT, 1, SERVER, 80, syn());
    short.truncate(14 + 20 + 10);
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut short[14..]);
        ip.set_total_len(30);
        ip.fill_checksum();
    }
    v.push((short, false, false, "tiny TCP header: malformed"));
    // The web connection closes.
    v.push((
        tcp(CLIENT, 40000, SERVER, 80, TcpFlags::FIN | ack()),
        true,
        true,
        "FIN",
    ));
    v.push((
        tcp(SERVER, 80, CLIENT, 40000, TcpFlags::FIN | ack()),
        false,
        true,
        "FIN back",
    ));
    v.push((
        tcp(CLIENT, 40000, SERVER, 80, ack()),
        true,
        true,
        "last ACK",
    ));
    v
}

/// The committed captures of this NF's tests.
fn golden_dir() -> Golden {
    Golden::new("firewall")
}

fn firewall(stateful: bool) -> Firewall {
    Firewall::new(FirewallConfig {
        rules: rules::parse_rules(RULES, "golden.rules").unwrap(),
        stateful,
        ..FirewallConfig::default()
    })
    .unwrap()
}

/// Forwarded frames are unchanged and well-formed (etherparse re-parses
/// them and checks their checksums).
fn ep_check(frame: &[u8]) {
    let Ok(p) = ep::SlicedPacket::from_ethernet(frame) else {
        // ARP (etherparse stops at an unknown EtherType) or GRE.
        return;
    };
    if let Some(ep::NetSlice::Ipv4(ip)) = &p.net {
        let h = ip.header().to_header();
        assert_eq!(h.calc_header_checksum(), h.header_checksum);
        if let Some(ep::TransportSlice::Tcp(t)) = &p.transport {
            assert_eq!(
                t.calc_checksum_ipv4(h.source, h.destination).unwrap(),
                t.checksum()
            );
        }
    }
}

fn golden(name: &str, stateful: bool) {
    let g = golden_dir();
    let traffic = traffic();
    let frames: Vec<Vec<u8>> = traffic.iter().map(|t| t.0.clone()).collect();
    g.committed("in.pcap", &frames);
    let mut h = Harness::new(firewall(stateful));
    let mut forwarded = Vec::new();
    for (i, (frame, pass_stateless, pass_stateful, why)) in traffic.iter().enumerate() {
        let out = h.process_bytes(0, &[frame]);
        let want = if stateful {
            *pass_stateful
        } else {
            *pass_stateless
        };
        assert_eq!(
            out.forwarded.len() == 1,
            want,
            "{name} frame {i} ({why}): {:?}",
            out.drop_reasons()
        );
        for f in out.on(0) {
            assert_eq!(&f, frame, "forwarded frames are unchanged");
            ep_check(&f);
            forwarded.push(f);
        }
        if let Some(r) = out.drop_reasons().first() {
            let expected = match *why {
                w if w.contains("malformed") => DropReason::Malformed,
                w if w.contains("no-state") => DropReason::NoState,
                _ => DropReason::PolicyDeny,
            };
            assert_eq!(*r, expected, "{name} frame {i} ({why})");
        }
        h.advance(Duration::from_millis(1));
    }
    g.compare(&format!("{name}.out.pcap"), &forwarded);
    // Statelessly rule 2 decided both SYNs, the three ACKs and the FIN.
    let counters = counters(&h.nf);
    if stateful {
        assert_eq!(counters["related"], 1);
        assert_eq!(counters["no_state"], 1);
        assert!(counters["state_hits"] >= 9, "{counters:?}");
    } else {
        assert_eq!(counters["rule[2].packets"], 6);
    }
}

fn counters(nf: &dyn Nf) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    nf.counters(&mut |k, v| {
        m.insert(k.to_string(), v);
    });
    m
}

#[test]
fn golden_stateless() {
    golden("stateless", false);
}

#[test]
fn golden_stateful() {
    golden("stateful", true);
}

// ---------------------------------------------------------------------------
// State through the NF.

/// `ports = 2`: inside on port 0, outside on port 1, one connection table.
/// A connection opened from inside lets its replies in on port 1, out of
/// output 1; what the outside opens is denied; each port leaves by its own
/// output.
#[test]
fn two_ports_share_the_connection_table() {
    let mut h = Harness::new(
        Firewall::new(FirewallConfig {
            rules: rules::parse_rules(RULES, "golden.rules").unwrap(),
            stateful: true,
            ports: 2,
            ..FirewallConfig::default()
        })
        .unwrap(),
    );
    let out = h.process_bytes(0, &[&tcp(CLIENT, 40000, SERVER, 80, syn())]);
    assert_eq!(
        (out.on(0).len(), out.on(1).len()),
        (1, 0),
        "inside -> output 0"
    );
    let reply = tcp(SERVER, 80, CLIENT, 40000, syn() | ack());
    let out = h.process_bytes(1, &[&reply]);
    assert_eq!(
        (out.on(0).len(), out.on(1).len()),
        (0, 1),
        "the reply -> output 1"
    );
    // The outside opening a connection (the rules allow only inside -> out).
    let out = h.process_bytes(1, &[&tcp(SERVER, 5000, CLIENT, 22, syn())]);
    assert_eq!(out.drop_reasons(), vec![DropReason::PolicyDeny]);
    let c = counters(&h.nf);
    assert_eq!((c["state_new"], c["state_hits"]), (1, 1));
}

#[test]
fn connections_expire_and_state_table_full_is_a_counted_drop() {
    let mut nf = firewall(true);
    nf = Firewall::new(FirewallConfig {
        rules: nf.rules().to_vec(),
        stateful: true,
        connections: 2,
        timeouts: Timeouts {
            udp_unreplied: Duration::from_secs(5),
            ..Timeouts::default()
        },
        ..FirewallConfig::default()
    })
    .unwrap();
    let mut h = Harness::new(nf);
    let q = |sport| udp(CLIENT, sport, SERVER, 53);
    let out = h.process_bytes(0, &[&q(2000), &q(2001), &q(2002)]);
    assert_eq!(out.drop_reasons(), vec![DropReason::NoState]);
    assert_eq!(counters(&h.nf)["state_table_full"], 1);
    // Unanswered for 5 s: gone; the answer no longer passes.
    h.advance(Duration::from_secs(5));
    let out = h.process_bytes(0, &[&udp(SERVER, 53, CLIENT, 2000)]);
    assert_eq!(out.drop_reasons(), vec![DropReason::PolicyDeny]);
    assert_eq!(counters(&h.nf)["state_expired"], 2);
    assert_eq!(h.nf.connections(), 0);
}

#[test]
fn reload_keeps_connections_and_counters_by_rule_text() {
    let mut h = Harness::new(firewall(true));
    let out = h.process_bytes(
        0,
        &[
            &tcp(CLIENT, 40000, SERVER, 80, syn()),
            &tcp(CLIENT, 40001, SERVER, 80, syn() | TcpFlags::FIN),
        ],
    );
    assert_eq!(out.forwarded.len(), 1);
    // The new rules put a rule in front and no longer allow port 80.
    let new_rules = format!(
        "deny tcp from any to any port 9\n{}",
        RULES.replace("port 80,443", "port 443")
    );
    let mut new = Firewall::new(FirewallConfig {
        rules: rules::parse_rules(&new_rules, "new").unwrap(),
        stateful: true,
        ..FirewallConfig::default()
    })
    .unwrap();
    let old = std::mem::replace(&mut h.nf, firewall(false));
    new.adopt(Box::new(old));
    h.nf = new;
    assert_eq!(h.nf.connections(), 1);
    // The connection goes on (state first, as pf), a new one is denied.
    let out = h.process_bytes(
        0,
        &[
            &tcp(SERVER, 80, CLIENT, 40000, syn() | ack()),
            &tcp(CLIENT, 40000, SERVER, 80, ack()),
            &tcp(CLIENT, 40009, SERVER, 80, syn()),
        ],
    );
    assert_eq!(out.forwarded.len(), 2);
    assert_eq!(out.drop_reasons(), vec![DropReason::PolicyDeny]);
    // Unchanged rules keep their counts under their new numbers.
    let c = counters(&h.nf);
    assert_eq!(c["rule[2].packets"], 1, "the SF rule's count moved with it");
    assert_eq!(c["rule[1].packets"], 0);
    assert_eq!(c["state_hits"], 2);
    let key = netfn_core::FlowKey::from_frame(&tcp(CLIENT, 40000, SERVER, 80, ack())).unwrap();
    assert_eq!(
        h.nf.connection_state(&key),
        Some(netfn_nfs::firewall::conntrack::State::Established)
    );
}

// ---------------------------------------------------------------------------
// Robustness, config, allocation.

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random bytes and mutated frames: no panic; every packet forwarded or
    /// dropped with a reason.
    #[test]
    fn random_bytes_never_panic(
        frames in fuzz::frames(200, 40),
        flips in fuzz::flips(0..8),
        stateful in any::<bool>(),
    ) {
        let mut h = Harness::new(firewall(stateful));
        let all = fuzz::mangle(traffic().into_iter().map(|t| t.0), &frames, &flips);
        let refs: Vec<&[u8]> = all.iter().map(|f| f.as_slice()).collect();
        let out = h.process_bytes(0, &refs);
        prop_assert_eq!(out.forwarded.len() + out.dropped.len(), all.len());
    }
}

fn params(items: &[(&str, Value)]) -> Params {
    common::params::params(
        [
            ("rules", Value::List(vec![])),
            ("rule", Value::List(vec![])),
            ("default", Value::Word("deny".into())),
            ("stateful", Value::Bool(false)),
            ("connections", Value::Int(1024)),
            ("tcp_loose", Value::Bool(false)),
            (
                "tcp_established",
                Value::Duration(Duration::from_secs(7200)),
            ),
            ("udp_unreplied", Value::Duration(Duration::from_secs(30))),
            ("udp_timeout", Value::Duration(Duration::from_secs(120))),
            ("icmp_timeout", Value::Duration(Duration::from_secs(30))),
            ("other_timeout", Value::Duration(Duration::from_secs(600))),
            ("ports", Value::Int(1)),
            ("non_ip", Value::Word("pass".into())),
        ],
        items,
    )
}

#[test]
fn config_errors_name_file_line_column_and_what_was_expected() {
    let dir = std::env::temp_dir().join(format!("netfn-fw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.rules");
    std::fs::write(
        &path,
        "# ok\nallow tcp from any to any port 80\n\nallow tcp from 10.0.0.0/8 too any\n",
    )
    .unwrap();
    let path_s = path.to_string_lossy().into_owned();
    let e = Firewall::from_params(&params(&[("rules", strs(&[&path_s]))])).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("rules"));
    assert_eq!(
        e.message,
        format!(
            "{path_s}:4:27: found `too`, expected an option (icmp-type, icmp6-type, flags, keep state, no state) or the end of the rule (did you mean `to`?)"
        )
    );
    let e =
        Firewall::from_params(&params(&[("rules", strs(&["/nonexistent/fw.rules"]))])).unwrap_err();
    assert!(
        e.message
            .contains("cannot read rules file /nonexistent/fw.rules"),
        "{e}"
    );
    let e = Firewall::from_params(&params(&[(
        "rule",
        strs(&["allow tcp all", "alow udp all"]),
    )]))
    .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("rule"));
    assert!(
        e.message
            .starts_with("item 2 \"alow udp all\", column 1: found `alow`"),
        "{e}"
    );
    assert!(e.message.contains("did you mean `allow`?"), "{e}");
    let e = Firewall::from_params(&params(&[("rule", strs(&["allow udp all keep state"]))]))
        .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("stateful"));
    assert!(e.message.contains("rule[1]"), "{e}");
    let e = Firewall::from_params(&params(&[("udp_timeout", Value::Duration(Duration::ZERO))]))
        .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("udp_timeout"));
    // Files first, then inline rules; counters are numbered that way.
    std::fs::write(&path, "allow udp all\n").unwrap();
    let fw = Firewall::from_params(&params(&[
        ("rules", strs(&[&path_s])),
        ("rule", strs(&["deny tcp all", "# a comment"])),
        ("stateful", Value::Bool(true)),
    ]))
    .unwrap();
    assert_eq!(fw.rules().len(), 2);
    assert_eq!(fw.rules()[0].origin, format!("{path_s}:1"));
    assert_eq!(fw.rules()[1].origin, "rule[1]");
    assert_eq!(fw.rules()[1].action, Action::Deny);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// After warm-up, classifying, tracking new and known connections and
/// expiring them allocates nothing.
#[test]
fn steady_state_allocates_nothing() {
    for stateful in [false, true] {
        let mut nf = firewall(stateful);
        let mut s = Steady::new(1024);
        let mut frames: Vec<Vec<u8>> = traffic().into_iter().map(|t| t.0).collect();
        frames.extend(
            (0..3000u16).map(|i| udp([10, 0, (i >> 8) as u8, i as u8], 1024 + i, SERVER, 53)),
        );
        frames.extend((0..1000u16).map(|i| tcp([10, 0, 9, i as u8], 2000 + i, SERVER, 80, syn())));
        s.run(&mut nf, 0, 0, &frames[..2000]);
        let info = allocation_counter::measure(|| {
            s.run(&mut nf, 1_000, 0, &frames);
            s.run(&mut nf, 600_000_000_000, 0, &frames); // all expired: new again
        });
        assert_eq!(info.count_total, 0, "stateful {stateful}: {info:?}");
        assert_eq!(nf.connections() > 0, stateful);
    }
}
