//! The `monitor` NF end to end: traffic passes unchanged, flow records
//! come out as JSON lines in UDP datagrams (golden pcap, checked
//! independently with etherparse and serde_json), expiry, top-N, bounded
//! export queue, random bytes, and no allocation in steady state.
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p
//! netfn-nfs --test monitor`.

mod common;

use common::fuzz;

use common::golden::Golden;

use common::alloc::Steady;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use etherparse as ep;
use netfn_core::config::{Params, Value};
use netfn_core::testing::{Harness, Output};
use netfn_core::{FlowKey, Nf};
use netfn_nfs::monitor::{Monitor, MonitorConfig, TopBy};
use netfn_wire::{MacAddr, PacketBuilder, TcpFlags};
use proptest::prelude::*;
use serde_json::Value as Json;

const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn tcp4(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    flags: TcpFlags,
    len: usize,
) -> Vec<u8> {
    let t = PacketBuilder::ethernet(A, B)
        .ipv4(src.into(), dst.into(), 64)
        .tcp(sport, dport, 1, 0, flags, 1000);
    let mut buf = vec![0; t.size(len)];
    t.write(&mut buf, &vec![7; len]).unwrap();
    buf
}

fn udp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, len: usize) -> Vec<u8> {
    let t = PacketBuilder::ethernet(A, B)
        .ipv4(src.into(), dst.into(), 64)
        .udp(sport, dport);
    let mut buf = vec![0; t.size(len)];
    t.write(&mut buf, &vec![3; len]).unwrap();
    buf
}

fn udp6(sport: u16, len: usize) -> Vec<u8> {
    let t = PacketBuilder::ethernet(A, B)
        .ipv6(
            "fd00:0:0:1::1".parse().unwrap(),
            "fd00:0:0:2::1".parse().unwrap(),
            64,
        )
        .udp(sport, 53);
    let mut buf = vec![0; t.size(len)];
    t.write(&mut buf, &vec![1; len]).unwrap();
    buf
}

fn config() -> MonitorConfig {
    MonitorConfig {
        idle_timeout: Duration::from_secs(10),
        active_timeout: Duration::from_secs(60),
        top: 3,
        ..MonitorConfig::default()
    }
}

const SYN: TcpFlags = TcpFlags::SYN;

/// The golden scenario's input: frames in three steps (between which
/// virtual time moves).
fn steps() -> [Vec<Vec<u8>>; 3] {
    let (c, s) = ([10, 0, 0, 1], [10, 1, 0, 1]);
    let arp = PacketBuilder::ethernet(A, MacAddr::BROADCAST)
        .arp_request([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
    let mut arp_frame = vec![0; arp.size(0)];
    arp.write(&mut arp_frame, &[]).unwrap();
    [
        vec![
            tcp4(c, 1000, s, 80, SYN, 0),
            udp4(c, 2000, s, 53, 20),
            udp4(c, 2000, s, 53, 30),
            udp6(3000, 10),
            arp_frame,
            tcp4(c, 1, s, 80, SYN, 0)[..30].to_vec(), // truncated IPv4
        ],
        vec![
            tcp4(s, 80, c, 1000, SYN | TcpFlags::ACK, 0),
            tcp4(c, 1000, s, 80, TcpFlags::ACK | TcpFlags::PSH, 100),
            tcp4(c, 1000, s, 80, TcpFlags::ACK | TcpFlags::FIN, 0),
        ],
        vec![udp4([10, 0, 0, 9], 4000, s, 123, 48)],
    ]
}

/// Runs the golden scenario: step 0 at t=0, step 1 at t=1s, 20 s pass
/// (everything idles out), step 2, stop. Returns the datagrams.
fn run_scenario(h: &mut Harness<Monitor>, steps: &[Vec<Vec<u8>>; 3]) -> Vec<Vec<u8>> {
    let mut export = Vec::new();
    let feed = |h: &mut Harness<Monitor>, frames: &[Vec<u8>]| {
        let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        let out = h.process_bytes(0, &refs);
        assert_eq!(out.on(0), frames, "traffic passes unchanged");
        assert!(out.dropped.is_empty());
        out.on(1)
    };
    export.extend(feed(h, &steps[0]));
    export.extend(h.advance(Duration::from_secs(1)).on(1));
    export.extend(feed(h, &steps[1]));
    export.extend(h.advance(Duration::from_secs(20)).on(1));
    export.extend(feed(h, &steps[2]));
    export.extend(h.stop().on(1));
    export
}

/// The JSON lines of export datagrams, after etherparse checked the
/// datagrams' headers and checksums.
fn lines(datagrams: &[Vec<u8>], collector_port: u16) -> Vec<Json> {
    let mut out = Vec::new();
    for d in datagrams {
        let p = ep::SlicedPacket::from_ethernet(d).expect("etherparse parses the datagram");
        let Some(ep::TransportSlice::Udp(udp)) = &p.transport else {
            panic!("not UDP")
        };
        assert_eq!(udp.destination_port(), collector_port);
        match &p.net {
            Some(ep::NetSlice::Ipv4(ip)) => {
                let h = ip.header().to_header();
                assert_eq!(h.calc_header_checksum(), h.header_checksum);
                assert!(d.len() <= 14 + 1500);
                let sum = udp
                    .to_header()
                    .calc_checksum_ipv4_raw(h.source, h.destination, udp.payload())
                    .unwrap();
                assert_eq!(sum, udp.checksum());
            }
            Some(ep::NetSlice::Ipv6(ip)) => {
                let h = ip.header().to_header();
                let sum = udp
                    .to_header()
                    .calc_checksum_ipv6_raw(h.source, h.destination, udp.payload())
                    .unwrap();
                assert_eq!(sum, udp.checksum());
            }
            _ => panic!("not IP"),
        }
        let text = std::str::from_utf8(udp.payload()).expect("UTF-8");
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            out.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")));
        }
    }
    out
}

fn flows(lines: &[Json]) -> Vec<&Json> {
    lines.iter().filter(|l| l["type"] == "flow").collect()
}

fn find<'a>(lines: &'a [&'a Json], sport: u64) -> Vec<&'a Json> {
    lines
        .iter()
        .copied()
        .filter(|l| l["sport"] == sport)
        .collect()
}

#[test]
fn golden_export() {
    let g = Golden::new("monitor");
    let mut i = 0;
    let input = steps().map(|frames| {
        let committed = g.committed(&format!("step{i}.in.pcap"), &frames);
        i += 1;
        committed
    });
    let mut h = Harness::new(Monitor::new(config()).unwrap());
    let export = run_scenario(&mut h, &input);
    g.compare("export.out.pcap", &export);

    // Independent reading of what was exported.
    let all = lines(&export, 9995);
    let recs = flows(&all);
    let seqs: Vec<u64> = recs.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let ip_packets = steps()
        .iter()
        .flatten()
        .filter(|f| f.len() > 30 && f[12..14] != [8, 6])
        .count();
    let total: u64 = recs.iter().map(|r| r["packets"].as_u64().unwrap()).sum();
    assert_eq!(total, ip_packets as u64);

    let client = find(&recs, 1000);
    assert_eq!(client.len(), 1);
    let c = client[0];
    assert_eq!(c["packets"], 3);
    assert_eq!(c["bytes"], 40 + 140 + 40);
    assert_eq!(c["tcp_flags"], "FSPA");
    assert_eq!(c["first_ns"], 0);
    assert_eq!(c["last_ns"], 1_000_000_000);
    assert_eq!(c["end"], "idle");
    let server = find(&recs, 80);
    assert_eq!(server[0]["tcp_flags"], "SA");
    let dns = find(&recs, 2000);
    assert_eq!(
        (dns[0]["packets"].as_u64(), dns[0]["bytes"].as_u64()),
        (Some(2), Some(48 + 58))
    );
    assert!(dns[0].get("tcp_flags").is_none());
    assert_eq!(find(&recs, 3000)[0]["src"], "fd00:0:0:1::1");
    assert_eq!(find(&recs, 4000)[0]["end"], "stop");

    let top: Vec<&Json> = all.iter().filter(|l| l["type"] == "top").collect();
    let by_bytes: Vec<u64> = top
        .iter()
        .filter(|t| t["by"] == "bytes")
        .map(|t| t["bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(by_bytes, vec![220, 106, 76]);
    assert_eq!(top.iter().filter(|t| t["by"] == "packets").count(), 3);
    assert_eq!(top[0]["rank"], 1);

    let mut counters = HashMap::new();
    h.nf.counters(&mut |k, v| {
        counters.insert(k.to_string(), v);
    });
    assert_eq!(counters["malformed"], 1);
    assert_eq!(counters["non_ip"], 1);
    assert_eq!(counters["records_dropped"], 0);
    assert_eq!(counters["records_exported"], recs.len() as u64 + 6);
}

#[test]
fn symmetric_keying_counts_both_directions_in_one_record() {
    let mut cfg = config();
    cfg.symmetric = true;
    let mut h = Harness::new(Monitor::new(cfg).unwrap());
    let (c, s) = ([10, 0, 0, 1], [10, 1, 0, 1]);
    h.process_bytes(
        0,
        &[
            &tcp4(c, 1000, s, 80, SYN, 0),
            &tcp4(s, 80, c, 1000, SYN | TcpFlags::ACK, 0),
            &tcp4(c, 1000, s, 80, TcpFlags::ACK, 10),
        ],
    );
    assert_eq!(h.nf.active_flows(), 1);
    let recs = lines(&h.stop().on(1), 9995);
    let r = flows(&recs)[0];
    assert_eq!(
        (r["src"].as_str(), r["sport"].as_u64()),
        (Some("10.0.0.1"), Some(1000))
    );
    assert_eq!(
        (r["packets"].as_u64(), r["bytes"].as_u64()),
        (Some(2), Some(90))
    );
    assert_eq!(
        (r["rev_packets"].as_u64(), r["rev_bytes"].as_u64()),
        (Some(1), Some(40))
    );
    assert_eq!(r["tcp_flags"], "SA");
    assert_eq!(r["rev_tcp_flags"], "SA");
}

#[test]
fn active_timeout_splits_long_flows() {
    let mut cfg = config();
    cfg.active_timeout = Duration::from_secs(3);
    let mut h = Harness::new(Monitor::new(cfg).unwrap());
    let f = udp4([10, 0, 0, 1], 5, [10, 1, 0, 1], 6, 10);
    let mut export = Vec::new();
    for _ in 0..10 {
        export.extend(h.process_bytes(0, &[&f]).on(1));
        export.extend(h.advance(Duration::from_secs(1)).on(1));
    }
    export.extend(h.stop().on(1));
    let all = lines(&export, 9995);
    let recs = flows(&all);
    let ends: Vec<&str> = recs.iter().map(|r| r["end"].as_str().unwrap()).collect();
    assert_eq!(ends, vec!["active", "active", "active", "stop"]);
    let packets: Vec<u64> = recs
        .iter()
        .map(|r| r["packets"].as_u64().unwrap())
        .collect();
    assert_eq!(packets, vec![3, 3, 3, 1]);
    assert_eq!(recs[1]["first_ns"], 3_000_000_000u64);
    assert_eq!(recs[1]["last_ns"], 5_000_000_000u64);
    let top: Vec<&Json> = all.iter().filter(|l| l["type"] == "top").collect();
    assert_eq!(top[0]["packets"], 10, "top-N counts the whole flow");
}

#[test]
fn full_export_queue_drops_and_counts_records() {
    let mut cfg = config();
    cfg.export.capacity = 4;
    let mut h = Harness::new(Monitor::new(cfg).unwrap());
    let frames: Vec<Vec<u8>> = (0..10)
        .map(|i| udp4([10, 0, 0, i], 1, [10, 1, 0, 1], 2, 4))
        .collect();
    let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
    h.process_bytes(0, &refs);
    let export = h.advance(Duration::from_secs(11)).on(1);
    let all = lines(&export, 9995);
    let seqs: Vec<u64> = flows(&all)
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        vec![1, 2, 3, 4],
        "the rest are gaps the collector sees"
    );
    let mut counters = HashMap::new();
    h.nf.counters(&mut |k, v| {
        counters.insert(k.to_string(), v);
    });
    assert_eq!(counters["records_dropped"], 6);
    assert_eq!(counters["flows_idle_expired"], 10);
}

#[test]
fn full_flow_table_evicts_the_least_recently_used() {
    let mut cfg = config();
    cfg.flows = 4;
    let mut h = Harness::new(Monitor::new(cfg).unwrap());
    for i in 0..6u8 {
        h.process_bytes(0, &[&udp4([10, 0, 0, i], 1, [10, 1, 0, 1], 2, 4)]);
        h.advance(Duration::from_millis(10));
    }
    let out = h.advance(Duration::from_secs(1)).on(1);
    let all = lines(&out, 9995);
    let recs = flows(&all);
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r["end"] == "evicted"));
    assert_eq!(recs[0]["src"], "10.0.0.0");
    assert_eq!(recs[1]["src"], "10.0.0.1");
    assert_eq!(h.nf.active_flows(), 4);
}

#[test]
fn top_api_ranks_live_and_ended_flows() {
    let mut h = Harness::new(Monitor::new(config()).unwrap());
    for (i, n) in [(1u8, 5), (2, 1), (3, 3)] {
        let f = udp4([10, 0, 0, i], 1, [10, 1, 0, 1], 2, 100);
        let refs: Vec<&[u8]> = (0..n).map(|_| f.as_slice()).collect();
        h.process_bytes(0, &refs);
    }
    h.advance(Duration::from_secs(11)); // all ended
    h.process_bytes(0, &[&udp4([10, 0, 0, 4], 1, [10, 1, 0, 1], 2, 1000)]);
    let top = h.nf.top(2, TopBy::Bytes);
    assert_eq!(top[0].key.src, IpAddr::from([10, 0, 0, 4]));
    assert_eq!(top[0].bytes, 1028);
    assert_eq!(top[1].key.src, IpAddr::from([10, 0, 0, 1]));
    assert_eq!(top[1].bytes, 5 * 128);
    let top = h.nf.top(3, TopBy::Packets);
    let packets: Vec<u64> = top.iter().map(|e| e.packets).collect();
    assert_eq!(packets, vec![5, 3, 1]);
    let key = FlowKey::from_frame(&udp4([10, 0, 0, 4], 1, [10, 1, 0, 1], 2, 1000)).unwrap();
    assert_eq!(h.nf.flow(&key).unwrap().bytes, 1028);
}

#[test]
fn ipv6_collector() {
    let mut cfg = config();
    cfg.export.exporter = (A, "fd00::1".parse().unwrap(), 7000);
    cfg.export.collector = (B, "fd00::2".parse::<Ipv6Addr>().unwrap().into(), 7001);
    let mut h = Harness::new(Monitor::new(cfg).unwrap());
    h.process_bytes(0, &[&udp6(1, 4)]);
    let all = lines(&h.stop().on(1), 7001);
    assert_eq!(flows(&all).len(), 1);
}

fn params(items: &[(&str, Value)]) -> Params {
    common::params::params(
        [
            ("flows", Value::Int(1024)),
            ("idle", Value::Duration(Duration::from_secs(15))),
            ("active", Value::Duration(Duration::from_secs(60))),
            ("key", Value::Word("directional".into())),
            ("top", Value::Int(10)),
        ]
        .into_iter()
        .chain(common::params::export(100, 9995)),
        items,
    )
}

#[test]
fn config_errors_name_the_parameter() {
    assert!(Monitor::from_params(&params(&[])).is_ok());
    let e = Monitor::from_params(&params(&[("mtu", Value::Size(100))])).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("mtu"));
    let e = Monitor::from_params(&params(&[("collector", Value::Ip("::1".parse().unwrap()))]))
        .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("collector"));
    let e = Monitor::from_params(&params(&[("interval", Value::Duration(Duration::ZERO))]))
        .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("interval"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random bytes never panic and every packet leaves unchanged on
    /// output 0; whatever is exported parses.
    #[test]
    fn random_bytes_pass_unchanged(
        frames in fuzz::frames(200, 40),
        flips in fuzz::flips(0..8),
        symmetric in any::<bool>(),
    ) {
        let mut cfg = config();
        cfg.symmetric = symmetric;
        cfg.flows = 8;
        let mut h = Harness::new(Monitor::new(cfg).unwrap());
        let mut all = frames.clone();
        all.extend(steps().into_iter().flatten().map(|base| fuzz::flipped(&base, &flips)));
        let refs: Vec<&[u8]> = all.iter().map(|f| f.as_slice()).collect();
        let out = h.process_bytes(0, &refs);
        prop_assert_eq!(out.on(0), all);
        prop_assert!(out.dropped.is_empty());
        let export: Output = h.stop();
        let _ = lines(&export.on(1), 9995);
    }
}

/// After warm-up: accounting, flow churn (eviction), expiry and export of
/// datagrams allocate nothing.
#[test]
fn steady_state_allocates_nothing() {
    let mut cfg = config();
    cfg.flows = 1000;
    cfg.export.capacity = 10_000;
    cfg.symmetric = true;
    let mut nf = Monitor::new(cfg).unwrap();
    let mut s = Steady::new(2048);
    let frames: Vec<Vec<u8>> = (0..3000u16)
        .map(|i| {
            tcp4(
                [10, 0, (i >> 8) as u8, i as u8],
                1000 + i,
                [10, 1, 0, 1],
                80,
                SYN,
                10,
            )
        })
        .collect();
    // Each run ends with the timer firing 20 s later.
    let run = |s: &mut Steady, nf: &mut Monitor, now: u64, frames: &[Vec<u8>]| {
        s.run(nf, now, 0, frames);
        s.timer(nf, now + 20_000_000_000);
    };
    run(&mut s, &mut nf, 0, &frames);
    let info = allocation_counter::measure(|| {
        run(&mut s, &mut nf, 30_000_000_000, &frames);
        run(&mut s, &mut nf, 60_000_000_000, &frames[..500]);
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    let datagrams = s.emitted;
    assert!(datagrams > 100, "{datagrams}");
}

/// A reload with the same keying keeps the flows; one that changes the
/// keying exports them (end `stop`) and starts afresh.
#[test]
fn reload_keeps_or_exports_flows() {
    let mut old = Harness::new(Monitor::new(config()).unwrap());
    old.process_bytes(0, &[&udp4([10, 0, 0, 1], 1, [10, 1, 0, 1], 2, 4)]);
    let mut same = Monitor::new(config()).unwrap();
    same.adopt(Box::new(std::mem::replace(
        &mut old.nf,
        Monitor::new(config()).unwrap(),
    )));
    assert_eq!(same.active_flows(), 1);

    let mut changed_cfg = config();
    changed_cfg.symmetric = true;
    let mut changed = Harness::new(Monitor::new(changed_cfg).unwrap());
    changed.nf.adopt(Box::new(same));
    assert_eq!(changed.nf.active_flows(), 0);
    let all = lines(&changed.stop().on(1), 9995);
    let recs = flows(&all);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["end"], "stop");
    assert_eq!(recs[0]["packets"], 1);
}
