//! The `dnsfilter` NF end to end: golden pcaps (answers re-parsed with
//! etherparse and an independent DNS reader, and compared with what `dig`
//! would print), a naive reference for the matching rules, random bytes,
//! no allocation in steady state, configuration errors, and tcpdump's
//! reading of the answers when tcpdump is installed.
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p
//! netfn-nfs --test dnsfilter`.

mod common;

use common::fuzz;

use common::golden::{Golden, refs};

use common::alloc::Steady;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use etherparse as ep;
use netfn_core::config::{Params, Value};
use netfn_core::testing::Harness;
use netfn_core::{DropReason, Nf};
use netfn_nfs::dnsfilter::{Action, DnsFilter, DnsFilterConfig, LogMode};
use netfn_wire::{MacAddr, PacketBuilder, TcpFlags};
use proptest::prelude::*;

const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const GW_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x53]);
const CLIENT: [u8; 4] = [192, 168, 1, 10];
const RESOLVER: [u8; 4] = [192, 168, 1, 1];

const BLOCKLIST: &str = "\
# test list
ads.test
[adult]
example.com
[gambling]
0.0.0.0 casino.test bet.test
";

/// A DNS query message: RD set, one question, an OPT record if `edns`.
fn query(id: u16, name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    if edns {
        // Payload 4096, DO set, one cookie option the answer does not echo.
        m.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 12, 0, 10, 0, 8]);
        m.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    }
    m
}

fn udp4(msg: &[u8], sport: u16, vlan: Option<u16>) -> Vec<u8> {
    let mut eth = PacketBuilder::ethernet(CLIENT_MAC, GW_MAC);
    if let Some(v) = vlan {
        eth = eth.vlan(v).unwrap();
    }
    let t = eth.ipv4(CLIENT.into(), RESOLVER.into(), 64).udp(sport, 53);
    let mut buf = vec![0; t.size(msg.len())];
    t.write(&mut buf, msg).unwrap();
    buf
}

fn udp6(msg: &[u8], sport: u16) -> Vec<u8> {
    let t = PacketBuilder::ethernet(CLIENT_MAC, GW_MAC)
        .ipv6("fd00::10".parse().unwrap(), "fd00::53".parse().unwrap(), 64)
        .udp(sport, 53);
    let mut buf = vec![0; t.size(msg.len())];
    t.write(&mut buf, msg).unwrap();
    buf
}

fn tcp4(payload: &[u8], flags: TcpFlags) -> Vec<u8> {
    let t = PacketBuilder::ethernet(CLIENT_MAC, GW_MAC)
        .ipv4(CLIENT.into(), RESOLVER.into(), 64)
        .tcp(40001, 53, 1000, 2000, flags, 512);
    let mut buf = vec![0; t.size(payload.len())];
    t.write(&mut buf, payload).unwrap();
    buf
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut v = (msg.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

/// The queries of the golden run, and the names the reference decides on.
fn traffic() -> Vec<Vec<u8>> {
    let mut v = vec![
        udp4(&query(1, "example.com", 1, false), 40000, None),
        udp4(&query(2, "WwW.ExAmple.CoM", 28, true), 40001, None),
        udp4(&query(3, "kids.example.com", 1, false), 40002, None),
        udp4(&query(4, "a.kids.example.com", 1, false), 40003, None),
        udp4(&query(5, "notexample.com", 1, false), 40004, None),
        udp4(&query(6, "x.ads.test", 65, true), 40005, Some(42)),
        udp6(&query(7, "casino.test", 28, false), 40006),
        udp6(&query(8, "netfn.org", 1, false), 40007),
        udp4(&query(9, "bet.test", 16, false), 40008, None),
    ];
    // A response to port 53 and a NOTIFY (opcode 4): not queries.
    let mut resp = query(10, "example.com", 1, false);
    resp[2] |= 0x80;
    v.push(udp4(&resp, 40009, None));
    let mut notify = query(11, "example.com", 6, false);
    notify[2] = 0x20;
    v.push(udp4(&notify, 40010, None));
    // Malformed: a 64-byte label; a truncated question; two questions.
    let mut long = query(12, "example.com", 1, false);
    long[12] = 64;
    v.push(udp4(&long, 40011, None));
    v.push(udp4(&query(13, "example.com", 1, false)[..20], 40012, None));
    let mut two = query(14, "example.com", 1, false);
    two[5] = 2;
    v.push(udp4(&two, 40013, None));
    // TCP: a framed blocked query (dropped), a SYN and a framed pass.
    v.push(tcp4(
        &framed(&query(15, "www.example.com", 1, false)),
        TcpFlags::PSH | TcpFlags::ACK,
    ));
    v.push(tcp4(&[], TcpFlags::SYN));
    v.push(tcp4(
        &framed(&query(16, "netfn.org", 1, false)),
        TcpFlags::PSH | TcpFlags::ACK,
    ));
    // Not DNS: UDP to 5353, ARP.
    let t = PacketBuilder::ethernet(CLIENT_MAC, GW_MAC)
        .ipv4(CLIENT.into(), RESOLVER.into(), 64)
        .udp(5353, 5353);
    let mut mdns = vec![0; t.size(4)];
    t.write(&mut mdns, &[1, 2, 3, 4]).unwrap();
    v.push(mdns);
    let arp = PacketBuilder::ethernet(CLIENT_MAC, MacAddr::BROADCAST)
        .arp_request(CLIENT.into(), RESOLVER.into());
    let mut buf = vec![0; 60];
    arp.write(&mut buf, &[]).unwrap();
    v.push(buf);
    v
}

fn config(action: Action) -> DnsFilterConfig {
    DnsFilterConfig {
        allow: vec!["kids.example.com".into()],
        categories: vec!["adult".into(), "gambling".into()],
        action,
        sinkhole: vec![IpAddr::from([10, 9, 9, 9]), "fd00::99".parse().unwrap()],
        ttl: 300,
        log: LogMode::All,
        ..DnsFilterConfig::default()
    }
}

fn filter(action: Action) -> DnsFilter {
    DnsFilter::new(config(action), Some(("blocklist.txt", BLOCKLIST)), None).unwrap()
}

/// The committed captures of this NF's tests.
fn golden_dir() -> Golden {
    Golden::new("dnsfilter")
}

/// Runs the filter over the committed input and compares outputs 0
/// (passed), 1 (answers) and 2 (log datagrams, sent at stop) with the
/// committed captures (or writes them). Returns the answers.
fn golden(name: &str, nf: DnsFilter) -> (Vec<Vec<u8>>, Vec<DropReason>, String) {
    let g = golden_dir();
    let input = g.committed("queries.in.pcap", &traffic());
    let mut h = Harness::new(nf);
    let out = h.process_bytes(0, &refs(&input));
    let log = h.stop().on(2);
    let drops = out.drop_reasons();
    for (k, part) in [(0u16, "pass"), (1, "answers")] {
        g.compare(&format!("{name}.{part}.pcap"), &out.on(k));
    }
    g.compare(&format!("{name}.log.pcap"), &log);
    let text: String = log
        .iter()
        .map(|d| std::str::from_utf8(&d[42..]).unwrap().to_string())
        .collect();
    (out.on(1), drops, text)
}

/// The naive reference: the longest listed name that equals the query
/// name or is a dot-suffix of it, compared case-insensitively; allow wins
/// a tie. `Some(true)` blocked, `Some(false)` allowed, `None` unlisted.
fn reference(name: &str, block: &[&str], allow: &[&str]) -> Option<bool> {
    let name = name.to_ascii_lowercase();
    let covers = |e: &str| {
        let e = e.to_ascii_lowercase();
        name == e || name.ends_with(&format!(".{e}"))
    };
    let best = |list: &[&str]| list.iter().filter(|e| covers(e)).map(|e| e.len()).max();
    match (best(block), best(allow)) {
        (None, None) => None,
        (Some(_), None) => Some(true),
        (None, Some(_)) => Some(false),
        (Some(b), Some(a)) => Some(b > a),
    }
}

/// An independent reading of a DNS message (no netfn code), printed as
/// `dig` prints a response's header, question and answer sections.
fn dig(msg: &[u8]) -> String {
    let u16at = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    let flags = u16at(2);
    let status = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
    ][usize::from(flags & 0xf)];
    let mut f = Vec::new();
    for (bit, n) in [
        (0x8000, "qr"),
        (0x0400, "aa"),
        (0x0200, "tc"),
        (0x0100, "rd"),
        (0x0080, "ra"),
        (0x0020, "ad"),
        (0x0010, "cd"),
    ] {
        if flags & bit != 0 {
            f.push(n);
        }
    }
    let mut s = format!(
        ";; ->>HEADER<<- opcode: QUERY, status: {status}, id: {}\n;; flags: {}; QUERY: {}, ANSWER: {}, AUTHORITY: {}, ADDITIONAL: {}\n",
        u16at(0),
        f.join(" "),
        u16at(4),
        u16at(6),
        u16at(8),
        u16at(10)
    );
    // Question: uncompressed labels.
    let mut at = 12;
    let mut qname = String::new();
    while msg[at] != 0 {
        let len = usize::from(msg[at]);
        qname.push_str(std::str::from_utf8(&msg[at + 1..at + 1 + len]).unwrap());
        qname.push('.');
        at += 1 + len;
    }
    at += 1;
    let type_name = |t: u16| match t {
        1 => "A".to_string(),
        16 => "TXT".to_string(),
        28 => "AAAA".to_string(),
        65 => "HTTPS".to_string(),
        t => format!("TYPE{t}"),
    };
    s += &format!(";{qname}\t\tIN\t{}\n", type_name(u16at(at)));
    at += 4;
    for _ in 0..u16at(6) {
        assert_eq!(
            &msg[at..at + 2],
            &[0xc0, 12],
            "answer owner points at the question"
        );
        let (t, ttl, len) = (
            u16at(at + 2),
            u32::from_be_bytes(msg[at + 6..at + 10].try_into().unwrap()),
            usize::from(u16at(at + 10)),
        );
        let rdata = &msg[at + 12..at + 12 + len];
        let addr = match len {
            4 => IpAddr::from(<[u8; 4]>::try_from(rdata).unwrap()),
            _ => IpAddr::from(<[u8; 16]>::try_from(rdata).unwrap()),
        };
        s += &format!("{qname}\t{ttl}\tIN\t{}\t{addr}\n", type_name(t));
        at += 12 + len;
    }
    for _ in 0..u16at(10) {
        assert_eq!(msg[at], 0, "OPT owner is the root");
        assert_eq!(u16at(at + 1), 41);
        s += &format!(
            "; EDNS: version: {}, flags:{}; udp: {}\n",
            msg[at + 6],
            if msg[at + 7] & 0x80 != 0 { " do" } else { "" },
            u16at(at + 3)
        );
        at += 11 + usize::from(u16at(at + 9));
    }
    assert_eq!(at, msg.len(), "nothing after the last record");
    s
}

/// Checks an answer against its query with etherparse (checksums, swapped
/// addresses, ports and MACs, VLAN kept) and returns its DNS message.
fn check_answer(answer: &[u8], query: &[u8]) -> Vec<u8> {
    let a = ep::SlicedPacket::from_ethernet(answer).expect("answer parses");
    let q = ep::SlicedPacket::from_ethernet(query).expect("query parses");
    let (Some(ep::LinkSlice::Ethernet2(ae)), Some(ep::LinkSlice::Ethernet2(qe))) =
        (&a.link, &q.link)
    else {
        panic!("Ethernet II");
    };
    assert_eq!(
        (ae.source(), ae.destination()),
        (qe.destination(), qe.source())
    );
    let tags = |p: &ep::SlicedPacket<'_>| match p.vlan() {
        None => Vec::new(),
        Some(ep::VlanSlice::SingleVlan(s)) => vec![s.to_header()],
        Some(ep::VlanSlice::DoubleVlan(d)) => vec![d.outer.to_header(), d.inner.to_header()],
    };
    assert_eq!(tags(&a), tags(&q), "VLAN tags kept");
    let (Some(ep::TransportSlice::Udp(au)), Some(ep::TransportSlice::Udp(qu))) =
        (&a.transport, &q.transport)
    else {
        panic!("UDP");
    };
    assert_eq!(
        (au.source_port(), au.destination_port()),
        (qu.destination_port(), qu.source_port())
    );
    match (&a.net, &q.net) {
        (Some(ep::NetSlice::Ipv4(ai)), Some(ep::NetSlice::Ipv4(qi))) => {
            let (ah, qh) = (ai.header().to_header(), qi.header().to_header());
            assert_eq!(
                ah.calc_header_checksum(),
                ah.header_checksum,
                "IPv4 checksum"
            );
            assert_eq!((ah.source, ah.destination), (qh.destination, qh.source));
            let sum = au
                .to_header()
                .calc_checksum_ipv4_raw(ah.source, ah.destination, au.payload())
                .unwrap();
            assert_eq!(sum, au.checksum(), "UDP checksum");
        }
        (Some(ep::NetSlice::Ipv6(ai)), Some(ep::NetSlice::Ipv6(qi))) => {
            let (ah, qh) = (ai.header().to_header(), qi.header().to_header());
            assert_eq!((ah.source, ah.destination), (qh.destination, qh.source));
            let sum = au
                .to_header()
                .calc_checksum_ipv6_raw(ah.source, ah.destination, au.payload())
                .unwrap();
            assert_eq!(sum, au.checksum(), "UDP checksum");
        }
        _ => panic!("IP versions differ"),
    }
    au.payload().to_vec()
}

#[test]
fn golden_nxdomain() {
    let input = traffic();
    let (answers, drops, log) = golden("nxdomain", filter(Action::Nxdomain));
    // Blocked UDP queries 1, 2, 6, 7, 9 are answered, in order.
    let asked = [0usize, 1, 5, 6, 8];
    assert_eq!(answers.len(), asked.len());
    let want = [
        ";; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 1\n;; flags: qr rd ra; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0\n;example.com.\t\tIN\tA\n",
        ";; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 2\n;; flags: qr rd ra; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 1\n;WwW.ExAmple.CoM.\t\tIN\tAAAA\n; EDNS: version: 0, flags: do; udp: 1232\n",
        ";; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 6\n;; flags: qr rd ra; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 1\n;x.ads.test.\t\tIN\tHTTPS\n; EDNS: version: 0, flags: do; udp: 1232\n",
        ";; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 7\n;; flags: qr rd ra; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0\n;casino.test.\t\tIN\tAAAA\n",
        ";; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 9\n;; flags: qr rd ra; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0\n;bet.test.\t\tIN\tTXT\n",
    ];
    for ((a, &i), w) in answers.iter().zip(&asked).zip(want) {
        assert_eq!(dig(&check_answer(a, &input[i])), w);
    }
    // Malformed UDP (3) and the blocked TCP query are dropped.
    assert_eq!(
        drops,
        vec![
            DropReason::Malformed,
            DropReason::Malformed,
            DropReason::Malformed,
            DropReason::DnsBlocked
        ]
    );
    // The reference agrees on every well-formed query.
    let block = ["ads.test", "example.com", "casino.test", "bet.test"];
    let allow = ["kids.example.com"];
    for (name, blocked) in [
        ("example.com", Some(true)),
        ("WwW.ExAmple.CoM", Some(true)),
        ("kids.example.com", Some(false)),
        ("a.kids.example.com", Some(false)),
        ("notexample.com", None),
        ("x.ads.test", Some(true)),
        ("netfn.org", None),
    ] {
        assert_eq!(reference(name, &block, &allow), blocked, "{name}");
    }
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 11, "{log}");
    assert_eq!(
        lines[1],
        r#"{"type":"dns","ts_ns":0,"client":"192.168.1.10","sport":40001,"proto":"udp","name":"www.example.com","qtype":"AAAA","verdict":"blocked","action":"nxdomain","rule":"example.com","category":"adult"}"#
    );
    assert_eq!(
        lines[3],
        r#"{"type":"dns","ts_ns":0,"client":"192.168.1.10","sport":40003,"proto":"udp","name":"a.kids.example.com","qtype":"A","verdict":"allowed","rule":"kids.example.com"}"#
    );
    assert!(lines[9].contains(r#""proto":"tcp","name":"www.example.com","qtype":"A","verdict":"blocked","action":"drop""#), "{}", lines[9]);
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["type"], "dns");
    }
}

#[test]
fn golden_sinkhole() {
    let input = traffic();
    let (answers, _, _) = golden("sinkhole", filter(Action::Sinkhole));
    let msgs: Vec<String> = answers
        .iter()
        .zip([0usize, 1, 5, 6, 8])
        .map(|(a, i)| dig(&check_answer(a, &input[i])))
        .collect();
    assert_eq!(
        msgs[0],
        ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n;; flags: qr rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 0\n;example.com.\t\tIN\tA\nexample.com.\t300\tIN\tA\t10.9.9.9\n"
    );
    assert!(
        msgs[1].contains("WwW.ExAmple.CoM.\t300\tIN\tAAAA\tfd00::99\n"),
        "{}",
        msgs[1]
    );
    assert!(msgs[2].contains("ANSWER: 0"), "HTTPS: NODATA");
    assert!(msgs[3].contains("casino.test.\t300\tIN\tAAAA\tfd00::99"));
    assert!(msgs[4].contains("status: NOERROR") && msgs[4].contains("ANSWER: 0"));
}

#[test]
fn refused_and_drop_actions() {
    let input = traffic();
    let refs: Vec<&[u8]> = input.iter().map(|f| f.as_slice()).collect();
    let mut h = Harness::new(filter(Action::Refused));
    let out = h.process_bytes(0, &refs);
    let d = dig(&check_answer(&out.on(1)[0], &input[0]));
    assert!(d.contains("status: REFUSED"), "{d}");
    let mut h = Harness::new(filter(Action::Drop));
    let out = h.process_bytes(0, &refs);
    assert!(out.on(1).is_empty());
    assert_eq!(
        out.drop_reasons()
            .iter()
            .filter(|r| **r == DropReason::DnsBlocked)
            .count(),
        6
    );
    // Passed queries are byte for byte what came in.
    assert_eq!(out.on(0)[0], input[2]);
}

/// tcpdump, a real-world DNS decoder, reads the committed answers as
/// NXDOMAIN responses with correct UDP checksums.
#[test]
fn tcpdump_reads_the_answers() {
    let path = golden_dir().path("nxdomain.answers.pcap");
    let Ok(out) = std::process::Command::new("tcpdump")
        .args(["-nn", "-vv", "-r"])
        .arg(&path)
        .output()
    else {
        eprintln!("tcpdump not installed: skipped");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("NXDomain").count(), 5, "{text}");
    assert!(text.contains("q: A? example.com."), "{text}");
    assert!(
        !text.contains("bad udp cksum") && !text.contains("bad cksum"),
        "{text}"
    );
    assert_eq!(text.matches("udp sum ok").count(), 5, "{text}");
}

fn label() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "B", "ex", "com", "Org", "x-y", "_s"]).prop_map(str::to_string)
}

fn name() -> impl Strategy<Value = String> {
    proptest::collection::vec(label(), 1..5).prop_map(|l| l.join("."))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The suffix-hash lookup decides as the naive scan does.
    #[test]
    fn matching_agrees_with_the_naive_scan(
        block in proptest::collection::vec(name(), 0..8),
        allow in proptest::collection::vec(name(), 0..4),
        names in proptest::collection::vec((name(), any::<u16>()), 1..20),
    ) {
        let cfg = DnsFilterConfig { block: block.clone(), allow: allow.clone(), action: Action::Drop, ..DnsFilterConfig::default() };
        let mut h = Harness::new(DnsFilter::new(cfg, None, None).unwrap());
        let b: Vec<&str> = block.iter().map(|s| s.as_str()).collect();
        let a: Vec<&str> = allow.iter().map(|s| s.as_str()).collect();
        for (n, id) in &names {
            let out = h.process_bytes(0, &[&udp4(&query(*id, n, 1, false), 1234, None)]);
            let blocked = out.drop_reasons() == vec![DropReason::DnsBlocked];
            prop_assert_eq!(blocked, reference(n, &b, &a) == Some(true), "{} block {:?} allow {:?}", n, b, a);
        }
    }

    /// Random bytes, random DNS payloads and mangled queries never panic;
    /// every packet is forwarded or dropped with a reason, and every
    /// answer is a well-formed packet with valid checksums.
    #[test]
    fn random_bytes_never_panic(
        frames in fuzz::frames(120, 20),
        payloads in fuzz::frames(80, 20),
        flips in fuzz::flips(1..6),
        action in prop::sample::select(vec![Action::Nxdomain, Action::Sinkhole, Action::Refused]),
    ) {
        let mut h = Harness::new(filter(action));
        let mut all = frames.clone();
        for p in &payloads {
            let mut m = query(1, "www.example.com", 1, true);
            m.extend_from_slice(p);
            all.push(udp4(p, 1, None));
            all.push(udp4(&m, 2, None));
            m.truncate(12 + p.len() % 30);
            all.push(udp6(&m, 3));
        }
        all.extend(fuzz::mangle(traffic(), &[], &flips));
        let refs: Vec<&[u8]> = all.iter().map(|f| f.as_slice()).collect();
        let out = h.process_bytes(0, &refs);
        prop_assert_eq!(out.forwarded.len() + out.dropped.len(), all.len());
        for a in out.on(1) {
            let p = ep::SlicedPacket::from_ethernet(&a);
            prop_assert!(p.is_ok(), "answer does not parse: {:?}", p);
            if let Some(ep::NetSlice::Ipv4(ip)) = &p.unwrap().net {
                let h = ip.header().to_header();
                prop_assert_eq!(h.calc_header_checksum(), h.header_checksum);
            }
        }
    }
}

/// After warm-up, filtering, answering and logging allocate nothing.
#[test]
fn steady_state_allocates_nothing() {
    let mut nf = filter(Action::Sinkhole);
    let mut s = Steady::new(1024);
    let mut frames = traffic();
    frames.extend((0..500u16).map(|i| {
        udp4(
            &query(i, &format!("h{i}.example.com"), 1, i % 2 == 0),
            1000 + i,
            None,
        )
    }));
    let run = |s: &mut Steady, nf: &mut DnsFilter, now: u64| {
        s.run(nf, now, 0, &frames);
        s.timer(nf, now);
    };
    run(&mut s, &mut nf, 0);
    let info = allocation_counter::measure(|| {
        run(&mut s, &mut nf, 1_000);
        run(&mut s, &mut nf, 2_000);
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    let mut blocked = 0;
    nf.counters(&mut |n, v| {
        if n == "blocked" {
            blocked = v;
        }
    });
    assert!(blocked > 1000);
}

fn params(items: &[(&str, Value)]) -> Params {
    let list = |v: Vec<Value>| Value::List(v);
    common::params::params(
        [
            ("block", list(vec![Value::Str("example.com".into())])),
            ("allow", list(vec![])),
            ("blocklist", Value::Str("".into())),
            ("allowlist", Value::Str("".into())),
            ("categories", list(vec![])),
            ("action", Value::Word("nxdomain".into())),
            ("sinkhole", list(vec![Value::Ip([0, 0, 0, 0].into())])),
            ("ttl", Value::Duration(Duration::from_secs(60))),
            ("log", Value::Word("blocked".into())),
            ("malformed", Value::Word("drop".into())),
            ("port", Value::Int(53)),
        ]
        .into_iter()
        .chain(common::params::export(64, 9996)),
        items,
    )
}

#[test]
fn config_errors_name_the_parameter() {
    assert!(DnsFilter::from_params(&params(&[])).is_ok());
    let err = |items: &[(&str, Value)]| DnsFilter::from_params(&params(items)).unwrap_err();
    let e = err(&[(
        "block",
        Value::List(vec![
            Value::Str("ok.com".into()),
            Value::Str("bad..com".into()),
        ]),
    )]);
    assert_eq!(e.param.as_deref(), Some("block"));
    assert!(e.message.contains("entry 2 `bad..com`: empty label"), "{e}");
    let e = err(&[("allow", Value::List(vec![Value::Str("*.x.com".into())]))]);
    assert_eq!(e.param.as_deref(), Some("allow"));
    let e = err(&[("blocklist", Value::Str("/nonexistent/list.txt".into()))]);
    assert_eq!(e.param.as_deref(), Some("blocklist"));
    assert!(
        e.message.contains("cannot read `/nonexistent/list.txt`"),
        "{e}"
    );
    let dir = std::env::temp_dir().join(format!("netfn-dnsfilter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.txt");
    std::fs::write(&file, "good.com\n[ads]\n  bad_!.com\n").unwrap();
    let path = file.to_string_lossy().to_string();
    let e = err(&[("blocklist", Value::Str(path.clone().into()))]);
    assert_eq!(
        e.message,
        format!(
            "{path}:3:7: a name holds letters, digits, `-` and `_` only, expected a domain name like `example.com`"
        )
    );
    std::fs::write(&file, "good.com\n[ads]\nads.com\n").unwrap();
    let e = err(&[
        ("blocklist", Value::Str(path.clone().into())),
        ("categories", Value::List(vec![Value::Str("porn".into())])),
    ]);
    assert_eq!(e.param.as_deref(), Some("categories"));
    assert!(
        e.message.contains("no section `[porn]`") && e.message.contains("found: ads"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let e = err(&[("ttl", Value::Duration(Duration::from_secs(1 << 32)))]);
    assert_eq!(e.param.as_deref(), Some("ttl"));
    let e = err(&[("interval", Value::Duration(Duration::ZERO))]);
    assert_eq!(e.param.as_deref(), Some("interval"));
    let e = err(&[("mtu", Value::Size(100))]);
    assert_eq!(e.param.as_deref(), Some("mtu"));
    let e = err(&[("sinkhole", Value::List(vec![Value::Int(3)]))]);
    assert_eq!(e.param.as_deref(), Some("sinkhole"));
}

/// The example block list loads with the sections the example graph
/// names, and the example's capture is the golden input.
#[test]
fn example_files() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let text = std::fs::read_to_string(examples.join("blocklist.txt")).unwrap();
    let cfg = DnsFilterConfig {
        categories: vec!["adult".into(), "gambling".into(), "ads".into()],
        ..DnsFilterConfig::default()
    };
    let nf = DnsFilter::new(cfg, Some(("blocklist.txt", &text)), None).unwrap();
    assert_eq!(nf.lists().len(), 7);
    let pcap = examples.join("dns-queries.pcap");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        netfn_ports::pcap::write_frames(&pcap, &traffic()).unwrap();
    }
    assert_eq!(netfn_ports::pcap::read_frames(&pcap).unwrap(), traffic());
}

/// A reload keeps the counters and the queued log records.
#[test]
fn reload_keeps_counters_and_queued_log() {
    let mut h = Harness::new(filter(Action::Nxdomain));
    let input = traffic();
    let refs: Vec<&[u8]> = input.iter().map(|f| f.as_slice()).collect();
    h.process_bytes(0, &refs);
    let old = std::mem::replace(&mut h.nf, filter(Action::Drop));
    let mut new = filter(Action::Drop);
    new.adopt(Box::new(old));
    h.nf = new;
    let log = h.stop().on(2);
    let lines: usize = log
        .iter()
        .map(|d| d[42..].iter().filter(|b| **b == b'\n').count())
        .sum();
    assert_eq!(
        lines, 11,
        "the old instance's records are sent by the new one"
    );
    let mut blocked = 0;
    h.nf.counters(&mut |n, v| {
        if n == "blocked_adult" {
            blocked = v;
        }
    });
    assert_eq!(blocked, 3, "ids 1, 2 and the TCP query");
}

/// A first fragment of a query is malformed (dropped by default), so a
/// fragmented query cannot slip a blocked name past the filter.
#[test]
fn first_fragments_of_queries_are_malformed() {
    let mut f = udp4(&query(1, "www.example.com", 1, false), 40000, None);
    // Cut the datagram after the DNS header and mark it as a first fragment.
    f.truncate(14 + 20 + 8 + 12);
    let mut ip = netfn_wire::Ipv4Packet::new_unchecked(&mut f[14..]);
    ip.set_total_len(20 + 8 + 12);
    ip.set_more_frags(true);
    ip.fill_checksum();
    let mut h = Harness::new(filter(Action::Nxdomain));
    let out = h.process_bytes(0, &[&f]);
    assert_eq!(out.drop_reasons(), vec![DropReason::Malformed]);
}
