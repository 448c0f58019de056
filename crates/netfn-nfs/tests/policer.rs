//! The `policer` NF: conformance with virtual time (offered twice the rate
//! for 10 s, what passes is exactly within `burst + rate·t`, over every
//! window), srTCM and trTCM against literal implementations of RFC 2697 and
//! RFC 2698 (a differential property test), per-flow buckets and their
//! expiry, a golden pcap of color actions (remarked DSCP checked with
//! etherparse), random bytes, no allocation in steady state, config errors.
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p
//! netfn-nfs --test policer`.

mod common;

use std::time::Duration;

use common::alloc::allocations;
use common::encap::{golden, udp4};
use common::fuzz::{self, mangle};
use etherparse as ep;
use netfn_core::config::{Params, Value};
use netfn_core::testing::Harness;
use netfn_core::{DropReason, Nf};
use netfn_nfs::policer::{Color, ColorAction, Meter, MeterKind, Per, Policer, PolicerConfig, Unit};
use netfn_wire::PacketBuilder;
use proptest::prelude::*;

const SECOND: u64 = 1_000_000_000;

/// A 100-byte IPv4/UDP frame of flow `i`.
fn frame(i: u16) -> Vec<u8> {
    udp4(
        [10, 0, (i >> 8) as u8, i as u8],
        1000 + i,
        [10, 9, 0, 1],
        53,
        58,
    )
}

/// Offers `per_tick` copies of `frames` every `tick` ns for `secs` seconds;
/// returns (time, forwarded?) per packet, in order, per frame kind.
fn offer(
    h: &mut Harness<Policer>,
    frames: &[Vec<u8>],
    per_tick: usize,
    tick: u64,
    secs: u64,
) -> Vec<(u64, usize, bool)> {
    let mut log = Vec::new();
    let mut t = 0;
    while t <= secs * SECOND {
        h.advance_to(t);
        let batch: Vec<&[u8]> = (0..per_tick)
            .flat_map(|_| frames.iter().map(|f| f.as_slice()))
            .collect();
        let out = h.process_bytes(0, &batch);
        // The harness returns forwarded packets first: rebuild the order
        // from the verdicts' count (all packets of a batch share `t`).
        let fwd = out.forwarded.len();
        assert_eq!(fwd + out.dropped.len(), batch.len());
        assert!(
            out.drop_reasons()
                .iter()
                .all(|r| *r == DropReason::RateLimited)
        );
        for (k, f) in batch.iter().enumerate() {
            log.push((t, f.len(), k < fwd));
        }
        t += tick;
    }
    log
}

/// Checks that for every window [t_i, t_j] the forwarded bytes are at most
/// `burst + rate·(t_j - t_i)` (rate in bit/s, exact integer arithmetic).
fn assert_conforms(log: &[(u64, usize, bool)], rate: u64, burst: u64) {
    const K: i128 = 8_000_000_000;
    let mut sum: i128 = 0; // forwarded bytes before packet j
    let mut best: i128 = i128::MIN; // max over i of rate·t_i - K·S_{i-1}
    for &(t, len, fwd) in log {
        best = best.max(i128::from(rate) * i128::from(t) - K * sum);
        if fwd {
            sum += len as i128;
        }
        let window = K * sum - i128::from(rate) * i128::from(t) + best;
        assert!(
            window <= K * i128::from(burst),
            "window over burst + rate·t"
        );
    }
}

#[test]
fn single_rate_conformance_at_twice_the_rate() {
    // 1 Mbit/s = 125,000 B/s; offered 250,000 B/s as 10 frames every 4 ms.
    let (rate, burst) = (1_000_000u64, 10_000u64);
    let mut h = Harness::new(
        Policer::new(PolicerConfig {
            rate,
            burst,
            ..PolicerConfig::default()
        })
        .unwrap(),
    );
    let log = offer(&mut h, &[frame(1)], 10, 4_000_000, 10);
    let t_end = log.last().unwrap().0;
    let forwarded: u64 = log.iter().filter(|e| e.2).map(|e| e.1 as u64).sum();
    let bound = burst + rate * t_end / SECOND / 8; // 10,000 + 1,250,000
    assert!(forwarded <= bound, "{forwarded} > {bound}");
    assert!(
        forwarded > bound - 100,
        "{forwarded} wasted tokens (bound {bound})"
    );
    assert_eq!(
        forwarded, bound,
        "100-byte packets divide the bound exactly"
    );
    assert_conforms(&log, rate, burst);
}

#[test]
fn packet_rate_conformance() {
    // 1000 packets/s, burst 10 packets; offered 2000/s.
    let mut h = Harness::new(
        Policer::new(PolicerConfig {
            unit: Unit::Packets,
            rate: 1000,
            burst: 10,
            ..PolicerConfig::default()
        })
        .unwrap(),
    );
    let log = offer(&mut h, &[frame(1)], 2, SECOND / 1000, 10);
    let forwarded = log.iter().filter(|e| e.2).count() as u64;
    assert_eq!(forwarded, 10 + 1000 * 10);
}

#[test]
fn per_flow_buckets_are_independent_and_expire() {
    let config = |per| PolicerConfig {
        rate: 1_000_000,
        burst: 10_000,
        per,
        timeout: Duration::from_secs(1),
        ..PolicerConfig::default()
    };
    // Two flows from different sources to one destination.
    let a = frame(1);
    let b = frame(2);
    let expect_one = 10_000 + 125_000 * 2;
    for (per, flows, shares) in [
        (Per::Flow, 2, false),
        (Per::Src, 2, false),
        (Per::Dst, 1, true),
        (Per::None, 0, true),
    ] {
        let mut h = Harness::new(Policer::new(config(per)).unwrap());
        let log = offer(&mut h, &[a.clone(), b.clone()], 10, 4_000_000, 2);
        let fwd: u64 = log.iter().filter(|e| e.2).map(|e| e.1 as u64).sum();
        let want = if shares { expect_one } else { 2 * expect_one };
        assert_eq!(fwd, want, "{per:?}");
        assert_eq!(h.nf.flows(), flows, "{per:?}");
    }
    // Idle for longer than the timeout: the entries expire.
    let mut h = Harness::new(Policer::new(config(Per::Flow)).unwrap());
    h.process_bytes(0, &[&a, &b]);
    assert_eq!(h.nf.flows(), 2);
    h.advance(Duration::from_secs(2));
    h.process_bytes(0, &[&frame(3)]);
    assert_eq!(h.nf.flows(), 1);
    // A full table: new flows share the overflow bucket.
    let mut small = Harness::new(
        Policer::new(PolicerConfig {
            flows: 1,
            burst: 100,
            ..config(Per::Flow)
        })
        .unwrap(),
    );
    let out = small.process_bytes(0, &[&a, &a, &b, &b]);
    assert_eq!(
        out.drop_reasons(),
        vec![DropReason::RateLimited, DropReason::RateLimited]
    );
    let mut seen = Vec::new();
    small.nf.counters(&mut |n, v| seen.push((n.to_string(), v)));
    assert!(seen.contains(&("table_full".into(), 2)), "{seen:?}");
}

/// RFC 2697 §3 literally: Tc and Te are updated CIR times per second, one
/// token at a time; color-blind marking.
struct Rfc2697 {
    cbs: u64,
    ebs: u64,
    tc: u64,
    te: u64,
}

impl Rfc2697 {
    fn tick(&mut self) {
        if self.tc < self.cbs {
            self.tc += 1;
        } else if self.te < self.ebs {
            self.te += 1;
        }
    }
    fn color(&mut self, b: u64) -> Color {
        if self.tc >= b {
            self.tc -= b;
            Color::Green
        } else if self.te >= b {
            self.te -= b;
            Color::Yellow
        } else {
            Color::Red
        }
    }
}

/// RFC 2698 §3 literally.
struct Rfc2698 {
    cbs: u64,
    pbs: u64,
    tc: u64,
    tp: u64,
}

impl Rfc2698 {
    fn color(&mut self, b: u64) -> Color {
        if self.tp < b {
            Color::Red
        } else if self.tc < b {
            self.tp -= b;
            Color::Yellow
        } else {
            self.tp -= b;
            self.tc -= b;
            Color::Green
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Rates are whole bytes per millisecond and packets arrive on whole
    /// milliseconds, so the literal per-token reference and the exact meter
    /// must agree on every color.
    #[test]
    fn srtcm_matches_rfc2697(
        cir_ms in 1u64..20,
        cbs in 0u64..2000,
        ebs in 0u64..2000,
        packets in proptest::collection::vec((0u64..30, 1usize..600), 1..200),
    ) {
        prop_assume!(cbs + ebs > 0);
        let meter = Meter::new(&PolicerConfig {
            meter: MeterKind::SrTcm,
            rate: cir_ms * 8000,
            burst: cbs,
            excess_burst: ebs,
            ..PolicerConfig::default()
        });
        let mut b = meter.full(0);
        let mut r = Rfc2697 { cbs, ebs, tc: cbs, te: ebs };
        let mut now_ms = 0;
        for (gap, len) in packets {
            now_ms += gap;
            for _ in 0..gap * cir_ms {
                r.tick();
            }
            prop_assert_eq!(meter.mark(&mut b, now_ms * 1_000_000, len), r.color(len as u64));
        }
    }

    #[test]
    fn trtcm_matches_rfc2698(
        cir_ms in 1u64..20,
        extra_ms in 0u64..20,
        cbs in 1u64..2000,
        pbs in 1u64..2000,
        packets in proptest::collection::vec((0u64..30, 1usize..600), 1..200),
    ) {
        let pir_ms = cir_ms + extra_ms;
        let meter = Meter::new(&PolicerConfig {
            meter: MeterKind::TrTcm,
            rate: cir_ms * 8000,
            burst: cbs,
            peak_rate: pir_ms * 8000,
            peak_burst: pbs,
            ..PolicerConfig::default()
        });
        let mut b = meter.full(0);
        let mut r = Rfc2698 { cbs, pbs, tc: cbs, tp: pbs };
        let mut now_ms = 0;
        for (gap, len) in packets {
            now_ms += gap;
            for _ in 0..gap {
                r.tc = (r.tc + cir_ms).min(r.cbs);
                r.tp = (r.tp + pir_ms).min(r.pbs);
            }
            prop_assert_eq!(meter.mark(&mut b, now_ms * 1_000_000, len), r.color(len as u64));
        }
    }

    #[test]
    fn random_bytes_never_panic(
        frames in fuzz::frames(200, 40),
        flips in fuzz::flips(0..8),
    ) {
        let all = mangle(golden_input(), &frames, &flips);
        let refs: Vec<&[u8]> = all.iter().map(|f| f.as_slice()).collect();
        for per in [Per::None, Per::Flow, Per::Src] {
            let nf = Policer::new(PolicerConfig { per, ..golden_config() }).unwrap();
            let out = Harness::new(nf).process_bytes(0, &refs);
            prop_assert_eq!(out.forwarded.len() + out.dropped.len(), all.len());
        }
    }
}

fn golden_config() -> PolicerConfig {
    PolicerConfig {
        meter: MeterKind::TrTcm,
        rate: 8000,
        burst: 300,
        peak_rate: 16_000,
        peak_burst: 600,
        conform: ColorAction::Pass,
        exceed: ColorAction::Remark(10),
        violate: ColorAction::Drop,
        timeout: Duration::from_secs(60),
        ..PolicerConfig::default()
    }
}

/// 100-byte frames (IPv4, IPv6, and an ARP request of 42 bytes among them).
fn golden_input() -> Vec<Vec<u8>> {
    let v6 = {
        let t = PacketBuilder::ethernet(common::encap::A, common::encap::B)
            .ipv6("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), 64)
            .traffic_class(0x03) // ECN bits set: remarking must keep them
            .udp(1, 2);
        let mut buf = vec![0; t.size(38)];
        t.write(&mut buf, &[3; 38]).unwrap();
        buf
    };
    let arp = {
        let t = PacketBuilder::ethernet(common::encap::A, netfn_wire::MacAddr::BROADCAST)
            .arp_request([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let mut buf = vec![0; t.size(0)];
        t.write(&mut buf, &[]).unwrap();
        buf
    };
    vec![
        frame(1),
        v6.clone(),
        frame(2),
        frame(3), // yellow from here
        v6.clone(),
        arp.clone(), // 42 bytes: yellow, not IP, passes unmarked
        frame(4),    // P has 58 left: red
        v6,
        frame(5),
    ]
}

#[test]
fn golden_trtcm_remarks_yellow_and_drops_red() {
    let input = golden_input();
    let nf = Policer::new(golden_config()).unwrap();
    let (out, drops) = golden("policer", "trtcm", &input, nf);
    assert_eq!(drops, vec![DropReason::RateLimited; 3]);
    assert_eq!(out.len(), 6);
    assert_eq!(out[..3], input[..3], "green passes untouched");
    for (got, sent) in out[3..].iter().zip(&input[3..6]) {
        let Ok(p) = ep::SlicedPacket::from_ethernet(got) else {
            panic!("etherparse cannot parse a remarked frame");
        };
        let mut expect = sent.clone();
        match p.net {
            Some(ep::NetSlice::Ipv4(ip)) => {
                let h = ip.header().to_header();
                assert_eq!(h.dscp.value(), 10);
                assert_eq!(h.header_checksum, h.calc_header_checksum());
                expect[15] = got[15];
                expect[24..26].copy_from_slice(&got[24..26]);
            }
            Some(ep::NetSlice::Ipv6(ip)) => {
                assert_eq!(ip.header().traffic_class(), (10 << 2) | 0x03);
                expect[14..16].copy_from_slice(&got[14..16]);
            }
            _ => {}
        }
        assert_eq!(
            *got, expect,
            "nothing but the DSCP (and IPv4 checksum) changes"
        );
    }
}

#[test]
fn steady_state_allocates_nothing() {
    let frames: Vec<Vec<u8>> = (0..4000u16).map(frame).collect();
    let mut nf = Policer::new(PolicerConfig {
        per: Per::Flow,
        flows: 8192,
        ..PolicerConfig::default()
    })
    .unwrap();
    let n = allocations(&mut nf, &frames[..2000], &[0, 1_000_000, 200 * SECOND]);
    assert_eq!(n, 0);
    let n = allocations(&mut nf, &frames, &[300 * SECOND, 301 * SECOND]);
    assert_eq!(n, 0);
    let mut agg = Policer::new(PolicerConfig::default()).unwrap();
    assert_eq!(allocations(&mut agg, &frames, &[0, 1, 2]), 0);
}

fn params(items: &[(&str, Value)]) -> Params {
    common::params::params(
        [
            ("rate", Value::Int(10_000_000)),
            ("burst", Value::Size(15_000)),
            ("meter", Value::Word("single".into())),
            ("unit", Value::Word("bps".into())),
            ("excess_burst", Value::Size(0)),
            ("peak_rate", Value::Int(0)),
            ("peak_burst", Value::Size(0)),
            ("conform", Value::Word("pass".into())),
            ("exceed", Value::Word("pass".into())),
            ("violate", Value::Word("drop".into())),
            ("conform_dscp", Value::Int(-1)),
            ("exceed_dscp", Value::Int(-1)),
            ("violate_dscp", Value::Int(-1)),
            ("per", Value::Word("none".into())),
            ("flows", Value::Int(1024)),
            ("timeout", Value::Duration(Duration::from_secs(60))),
        ],
        items,
    )
}

#[test]
fn config_errors_name_the_parameter() {
    assert!(Policer::from_params(&params(&[])).is_ok());
    let err = |items: &[(&str, Value)]| Policer::from_params(&params(items)).unwrap_err();
    assert_eq!(
        err(&[("rate", Value::Int(0))]).param.as_deref(),
        Some("rate")
    );
    assert_eq!(
        err(&[("burst", Value::Size(0))]).param.as_deref(),
        Some("burst")
    );
    let trtcm = ("meter", Value::Word("trtcm".into()));
    let e = err(&[
        trtcm.clone(),
        ("peak_rate", Value::Int(1000)),
        ("peak_burst", Value::Size(1)),
    ]);
    assert_eq!(e.param.as_deref(), Some("peak_rate"));
    assert!(e.message.contains("RFC 2698"), "{e}");
    let e = err(&[trtcm, ("peak_rate", Value::Int(20_000_000))]);
    assert_eq!(e.param.as_deref(), Some("peak_burst"));
    let e = err(&[("excess_burst", Value::Size(10))]);
    assert_eq!(e.param.as_deref(), Some("excess_burst"));
    let e = err(&[("exceed", Value::Word("remark".into()))]);
    assert_eq!(e.param.as_deref(), Some("exceed_dscp"));
    let e = err(&[("violate_dscp", Value::Int(5))]);
    assert_eq!(e.param.as_deref(), Some("violate_dscp"));
    // 15,000 bytes at 10 kbit/s take 12 s to refill: a 1 s timeout is refused.
    let e = err(&[
        ("per", Value::Word("flow".into())),
        ("rate", Value::Int(10_000)),
        ("timeout", Value::Duration(Duration::from_secs(1))),
    ]);
    assert_eq!(e.param.as_deref(), Some("timeout"));
    assert!(e.message.contains("12s"), "{e}");
    assert!(
        Policer::from_params(&params(&[
            ("meter", Value::Word("srtcm".into())),
            ("burst", Value::Size(0)),
            ("excess_burst", Value::Size(3000)),
            ("exceed", Value::Word("remark".into())),
            ("exceed_dscp", Value::Int(8)),
        ]))
        .is_ok()
    );
}

/// A reload with the same parameters keeps the buckets (a reload must not
/// reset the limits); with other parameters it starts full. Counters stay.
#[test]
fn reload_keeps_buckets_of_an_unchanged_config() {
    let config = PolicerConfig {
        burst: 100,
        per: Per::Flow,
        ..PolicerConfig::default()
    };
    let f = frame(1);
    let mut h = Harness::new(Policer::new(config.clone()).unwrap());
    assert_eq!(h.process_bytes(0, &[&f]).dropped.len(), 0);
    let used = std::mem::replace(&mut h.nf, Policer::new(config.clone()).unwrap());
    h.nf.adopt(Box::new(used));
    assert_eq!(
        h.process_bytes(0, &[&f]).drop_reasons(),
        vec![DropReason::RateLimited]
    );
    let mut green = 0;
    h.nf.counters(&mut |n, v| {
        if n == "green_packets" {
            green = v;
        }
    });
    assert_eq!(green, 1, "counters carried over");
    let changed = Policer::new(PolicerConfig {
        burst: 200,
        ..config
    })
    .unwrap();
    let used = std::mem::replace(&mut h.nf, changed);
    h.nf.adopt(Box::new(used));
    assert!(
        h.process_bytes(0, &[&f]).dropped.is_empty(),
        "new limits start full"
    );
}
