//! The `mirror` NF end to end: golden pcaps, a differential test against
//! a selection model on etherparse, sampling rates, copies lost when the
//! pool is empty, random bytes, no allocation in steady state,
//! configuration errors.
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p
//! netfn-nfs --test mirror`.

mod common;

use common::fuzz;

use common::golden::{Golden, refs};

use common::alloc::Steady;

use std::net::IpAddr;

use etherparse as ep;
use ipnet::IpNet;
use netfn_core::config::{Params, Value};
use netfn_core::ctx::{EmitBuffer, TimerRequests};
use netfn_core::testing::Harness;
use netfn_core::{Batch, Ctx, Nf, Pool, PoolConfig};
use netfn_nfs::mirror::{Mirror, MirrorConfig, MirrorFilter};
use netfn_wire::{MacAddr, PacketBuilder, TcpFlags};
use proptest::prelude::*;

const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

#[derive(Debug, Clone)]
struct Spec {
    v6: bool,
    src: u8,
    dst: u8,
    proto: u8,
    sport: u16,
    dport: u16,
    vlan: Option<u16>,
    len: usize,
}

fn build(s: &Spec) -> Vec<u8> {
    let mut eth = PacketBuilder::ethernet(A, B);
    if let Some(v) = s.vlan {
        eth = eth.vlan(v).unwrap();
    }
    let payload = vec![0x5a; s.len];
    macro_rules! top {
        ($ip:expr) => {
            match s.proto {
                6 => $ip.tcp(s.sport, s.dport, 1, 0, TcpFlags::ACK, 100),
                17 => $ip.udp(s.sport, s.dport),
                _ => $ip.protocol(netfn_wire::IpProtocol::from(s.proto)),
            }
        };
    }
    let t = if s.v6 {
        let ip = eth.ipv6(
            format!("fd00::{}", s.src).parse().unwrap(),
            format!("fd00:1::{}", s.dst).parse().unwrap(),
            64,
        );
        top!(ip)
    } else {
        let ip = eth.ipv4([10, 0, 0, s.src].into(), [10, 1, 0, s.dst].into(), 64);
        top!(ip)
    };
    let mut buf = vec![0; t.size(payload.len())];
    t.write(&mut buf, &payload).unwrap();
    buf
}

fn traffic() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for (i, proto) in [6u8, 17, 47, 6, 17, 6].into_iter().enumerate() {
        for v6 in [false, true] {
            v.push(build(&Spec {
                v6,
                src: i as u8 * 40,
                dst: 7,
                proto,
                sport: 1000 + i as u16,
                dport: [80, 53, 0, 8080, 9000, 443][i],
                vlan: (i == 3).then_some(10),
                len: 20 + 30 * i,
            }));
        }
    }
    let arp = PacketBuilder::ethernet(A, MacAddr::BROADCAST)
        .arp_request([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
    let mut buf = vec![0; 60];
    arp.write(&mut buf, &[]).unwrap();
    v.push(buf);
    v.push(vec![1, 2, 3]);
    v
}

fn golden_filter() -> MirrorFilter {
    MirrorFilter {
        net: vec![
            "10.0.0.0/25".parse().unwrap(),
            "fd00::/120".parse().unwrap(),
        ],
        protocols: vec![6, 17],
        ports: vec![(80, 80), (8000, 8999)],
        ..MirrorFilter::default()
    }
}

/// The selection rules, on etherparse's (lax) reading of the frame: the
/// IP header decides, whatever the transport layer holds.
fn model(f: &MirrorFilter, frame: &[u8]) -> bool {
    let Ok(p) = ep::LaxSlicedPacket::from_ethernet(frame) else {
        return f.vlans.is_empty()
            && f.src.is_empty()
            && f.dst.is_empty()
            && f.net.is_empty()
            && f.protocols.is_empty()
            && f.ports.is_empty();
    };
    if !f.vlans.is_empty() {
        let vid = match p.vlan() {
            Some(ep::VlanSlice::SingleVlan(s)) => s.vlan_identifier().value(),
            Some(ep::VlanSlice::DoubleVlan(d)) => d.outer.vlan_identifier().value(),
            None => return false,
        };
        if !f.vlans.contains(&vid) {
            return false;
        }
    }
    let ip_needed = !(f.src.is_empty()
        && f.dst.is_empty()
        && f.net.is_empty()
        && f.protocols.is_empty()
        && f.ports.is_empty());
    if !ip_needed {
        return true;
    }
    let (src, dst, proto): (IpAddr, IpAddr, u8) = match &p.net {
        Some(ep::LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            (
                h.source_addr().into(),
                h.destination_addr().into(),
                h.protocol().0,
            )
        }
        Some(ep::LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            (
                h.source_addr().into(),
                h.destination_addr().into(),
                ip.payload().ip_number.0,
            )
        }
        _ => return false,
    };
    let any = |l: &[IpNet], a: IpAddr| l.is_empty() || l.iter().any(|n| n.contains(&a));
    if !any(&f.src, src) || !any(&f.dst, dst) {
        return false;
    }
    if !f.net.is_empty() && !f.net.iter().any(|n| n.contains(&src) || n.contains(&dst)) {
        return false;
    }
    if !f.protocols.is_empty() && !f.protocols.contains(&proto) {
        return false;
    }
    if !f.ports.is_empty() {
        let (s, d) = match &p.transport {
            Some(ep::TransportSlice::Tcp(t)) => (t.source_port(), t.destination_port()),
            Some(ep::TransportSlice::Udp(u)) => (u.source_port(), u.destination_port()),
            _ => return false,
        };
        let hit = |x: u16| f.ports.iter().any(|&(lo, hi)| (lo..=hi).contains(&x));
        return hit(s) || hit(d);
    }
    true
}

/// The committed captures of this NF's tests.
fn golden_dir() -> Golden {
    Golden::new("mirror")
}

#[test]
fn golden() {
    let g = golden_dir();
    let input = g.committed("traffic.in.pcap", &traffic());
    let refs = refs(&input);
    for (name, snaplen, sample) in [("filtered", 64, 1), ("sampled", 0, 3)] {
        let cfg = MirrorConfig {
            filter: if sample == 1 {
                golden_filter()
            } else {
                MirrorFilter::default()
            },
            snaplen,
            sample,
        };
        let mut h = Harness::new(Mirror::new(cfg.clone()));
        let out = h.process_bytes(0, &refs);
        assert_eq!(out.on(0), input, "originals pass unchanged");
        assert!(out.dropped.is_empty());
        let copies = out.on(1);
        g.compare(&format!("{name}.copies.pcap"), &copies);
        if sample == 1 {
            let want: Vec<Vec<u8>> = input
                .iter()
                .filter(|f| model(&cfg.filter, f))
                .map(|f| f[..f.len().min(snaplen)].to_vec())
                .collect();
            assert_eq!(copies, want);
            assert_eq!(
                copies.len(),
                3,
                "TCP/80 in both families, tagged TCP/8080 over IPv4 (fd00::120 is outside fd00::/120)"
            );
        } else {
            // Every copy is one of the inputs, in order.
            let mut rest = input.iter();
            for c in &copies {
                assert!(rest.any(|f| f == c));
            }
            assert!(!copies.is_empty() && copies.len() < input.len());
        }
    }
}

/// Copies that find no free frame are counted lost; the originals go on.
#[test]
fn copies_without_frames_are_lost() {
    let pool = Pool::new(PoolConfig {
        frames: 8,
        ..PoolConfig::default()
    })
    .unwrap();
    let mut nf = Mirror::new(MirrorConfig::default());
    let mut rng = fastrand::Rng::with_seed(1);
    let mut emit = EmitBuffer::with_capacity(64);
    let mut timers = TimerRequests::default();
    let mut batch = Batch::with_capacity(32);
    let frame = traffic()[0].clone();
    for _ in 0..6 {
        batch.push(pool.alloc_with(&frame).unwrap()).unwrap();
    }
    let mut ctx = Ctx::new(0, &mut rng, &pool, &mut emit, &mut timers);
    nf.process(0, &mut batch, &mut ctx);
    assert_eq!(batch.len(), 6);
    assert!(batch.all_pass());
    assert_eq!(emit.drain().count(), 2);
    let mut lost = 0;
    nf.counters(&mut |n, v| {
        if n == "lost" {
            lost = v;
        }
    });
    assert_eq!(lost, 4);
}

#[test]
fn sampling_rate_matches_one_in_n() {
    for n in [2u32, 7, 100] {
        let mut h = Harness::new(Mirror::new(MirrorConfig {
            sample: n,
            ..MirrorConfig::default()
        }));
        let f = traffic()[0].clone();
        let total = 20_000;
        let mut copies = 0;
        for _ in 0..total / 200 {
            let frames: Vec<&[u8]> = (0..200).map(|_| &f[..]).collect();
            copies += h.process_bytes(0, &frames).on(1).len();
        }
        let expect = total as f64 / f64::from(n);
        let sd = (expect * (1.0 - 1.0 / f64::from(n))).sqrt();
        assert!(
            (copies as f64 - expect).abs() < 5.0 * sd,
            "n={n}: {copies} copies, expected {expect}"
        );
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        0u8..8,
        0u8..8,
        prop::sample::select(vec![6u8, 17, 1, 47]),
        0u16..6,
        0u16..6,
        prop::option::of(0u16..4),
        0usize..40,
    )
        .prop_map(|(v6, src, dst, proto, sport, dport, vlan, len)| Spec {
            v6,
            src,
            dst,
            proto,
            sport,
            dport,
            vlan,
            len,
        })
}

fn filter() -> impl Strategy<Value = MirrorFilter> {
    let net = prop::sample::select(vec![
        "10.0.0.0/30",
        "10.1.0.4/30",
        "fd00::/126",
        "fd00:1::4/126",
        "0.0.0.0/0",
    ])
    .prop_map(|s| s.parse::<IpNet>().unwrap());
    (
        proptest::collection::vec(0u16..4, 0..2),
        proptest::collection::vec(net.clone(), 0..2),
        proptest::collection::vec(net.clone(), 0..2),
        proptest::collection::vec(net, 0..2),
        proptest::collection::vec(prop::sample::select(vec![6u8, 17, 1]), 0..2),
        proptest::collection::vec((0u16..6, 0u16..3), 0..2)
            .prop_map(|v| v.into_iter().map(|(lo, w)| (lo, lo + w)).collect()),
    )
        .prop_map(|(vlans, src, dst, net, protocols, ports)| MirrorFilter {
            vlans,
            src,
            dst,
            net,
            protocols,
            ports,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The NF selects exactly what the etherparse model selects.
    #[test]
    fn selection_agrees_with_the_model(f in filter(), specs in proptest::collection::vec(spec(), 1..30)) {
        let frames: Vec<Vec<u8>> = specs.iter().map(build).collect();
        let mut h = Harness::new(Mirror::new(MirrorConfig { filter: f.clone(), ..MirrorConfig::default() }));
        let refs: Vec<&[u8]> = frames.iter().map(|x| x.as_slice()).collect();
        let got = h.process_bytes(0, &refs).on(1);
        let want: Vec<Vec<u8>> = frames.iter().filter(|x| model(&f, x)).cloned().collect();
        prop_assert_eq!(got, want);
    }

    /// Random bytes and mangled frames never panic; every packet passes,
    /// and every copy is a prefix of some input.
    #[test]
    fn random_bytes_never_panic(
        frames in fuzz::frames(120, 30),
        flips in fuzz::flips(1..6),
        snaplen in 0usize..100,
    ) {
        let mut h = Harness::new(Mirror::new(MirrorConfig { filter: golden_filter(), snaplen, sample: 1 }));
        let all = fuzz::mangle(traffic(), &frames, &flips);
        let refs: Vec<&[u8]> = all.iter().map(|f| f.as_slice()).collect();
        let out = h.process_bytes(0, &refs);
        prop_assert!(out.dropped.is_empty());
        prop_assert_eq!(out.on(0), all.clone());
        for c in out.on(1) {
            prop_assert!(all.iter().any(|f| f.starts_with(&c)));
            prop_assert!(snaplen == 0 || c.len() <= snaplen);
        }
    }
}

/// Selecting, sampling and copying allocate nothing (copies come from
/// the pool).
#[test]
fn steady_state_allocates_nothing() {
    let mut nf = Mirror::new(MirrorConfig {
        filter: golden_filter(),
        snaplen: 64,
        sample: 2,
    });
    let mut s = Steady::new(1024);
    let frames = traffic();
    // All of the traffic in one batch, 20 times.
    assert!(frames.len() <= 32);
    let run = |s: &mut Steady, nf: &mut Mirror| {
        for _ in 0..20 {
            s.run(nf, 0, 0, &frames);
        }
    };
    run(&mut s, &mut nf);
    let info = allocation_counter::measure(|| run(&mut s, &mut nf));
    assert_eq!(info.count_total, 0, "{info:?}");
}

fn params(items: &[(&str, Value)]) -> Params {
    let empty = ["vlan", "src", "dst", "net", "proto", "port"].map(|k| (k, Value::List(vec![])));
    let rest = [("snaplen", Value::Size(0)), ("sample", Value::Int(1))];
    common::params::params(empty.into_iter().chain(rest), items)
}

#[test]
fn config_errors_name_the_parameter() {
    let ok = Mirror::from_params(&params(&[
        (
            "proto",
            Value::List(vec![Value::Word("tcp".into()), Value::Str("47".into())]),
        ),
        (
            "port",
            Value::List(vec![
                Value::Str("53".into()),
                Value::Str("8000-8080".into()),
            ]),
        ),
        (
            "net",
            Value::List(vec![Value::Prefix("10.0.0.0/8".parse().unwrap())]),
        ),
        ("vlan", Value::List(vec![Value::Int(10)])),
    ]));
    assert!(ok.is_ok());
    let e = Mirror::from_params(&params(&[(
        "proto",
        Value::List(vec![Value::Str("tpc".into())]),
    )]))
    .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("proto"));
    assert!(e.message.contains("`tpc` is not a protocol"), "{e}");
    for bad in ["80-", "9-1", "65536", "http"] {
        let e = Mirror::from_params(&params(&[(
            "port",
            Value::List(vec![Value::Str(bad.into())]),
        )]))
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("port"), "{bad}");
    }
    let e = Mirror::from_params(&params(&[("net", Value::List(vec![Value::Int(3)]))])).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("net"));
    let e = Mirror::from_params(&params(&[(
        "vlan",
        Value::List(vec![Value::Str("x".into())]),
    )]))
    .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("vlan"));
}
