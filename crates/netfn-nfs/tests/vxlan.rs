//! The `vxlan` NF end to end: golden pcaps for encap (IPv4 and IPv6
//! underlay) and decap, every outer header re-checked with etherparse,
//! encap-then-decap as the identity (a property test), random bytes, no
//! allocation in steady state, config errors.
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p
//! netfn-nfs --test vxlan`.

mod common;

use std::net::IpAddr;

use common::alloc::allocations;
use common::encap::{golden, inner_traffic, udp4};
use common::fuzz::{self, mangle};
use etherparse as ep;
use netfn_core::DropReason;
use netfn_core::config::{Params, Value};
use netfn_core::testing::Harness;
use netfn_nfs::vxlan::{Mode, VxlanConfig, VxlanNf};
use netfn_wire::{Ipv4Packet, MacAddr, UdpPacket};
use proptest::prelude::*;

const OUTER_SRC: MacAddr = MacAddr([2, 0, 0, 1, 0, 1]);
const OUTER_DST: MacAddr = MacAddr([2, 0, 0, 1, 0, 2]);

fn config(mode: Mode, local: &str, remote: &str) -> VxlanConfig {
    VxlanConfig {
        mode,
        vnis: vec![5001],
        local: local.parse().unwrap(),
        remote: remote.parse().unwrap(),
        src_mac: OUTER_SRC,
        dst_mac: OUTER_DST,
        ttl: 32,
        mtu: 1500,
        port: 4789,
        drop_other: false,
    }
}

fn encap4() -> VxlanNf {
    VxlanNf::new(config(Mode::Encap, "192.0.2.1", "192.0.2.2")).unwrap()
}
fn decap4() -> VxlanNf {
    VxlanNf::new(config(Mode::Decap, "192.0.2.2", "192.0.2.1")).unwrap()
}
fn encap6() -> VxlanNf {
    VxlanNf::new(config(Mode::Encap, "2001:db8::1", "2001:db8::2")).unwrap()
}
fn decap6() -> VxlanNf {
    VxlanNf::new(config(Mode::Decap, "2001:db8::2", "2001:db8::1")).unwrap()
}

/// Inner traffic plus a frame that is too big for the MTU once wrapped and
/// a runt.
fn encap_input() -> Vec<Vec<u8>> {
    let mut v = inner_traffic();
    v.push(udp4([10, 0, 0, 1], 1, [10, 9, 0, 1], 2, 1500 - 50 - 28 + 1)); // 1 byte too many
    v.push(udp4([10, 0, 0, 1], 1, [10, 9, 0, 1], 2, 1500 - 50 - 28)); // fits exactly
    v.push(vec![1, 2, 3]);
    v
}

/// Checks one encapsulated frame with etherparse and returns the inner
/// frame and the outer UDP source port.
fn check_outer(frame: &[u8], v6: bool) -> (Vec<u8>, u16) {
    let p =
        ep::PacketHeaders::from_ethernet_slice(frame).expect("etherparse parses the outer headers");
    let eth = p.link.unwrap().ethernet2().unwrap();
    assert_eq!((eth.source, eth.destination), (OUTER_SRC.0, OUTER_DST.0));
    let Some(ep::TransportHeader::Udp(udp)) = p.transport else {
        panic!("outer is not UDP")
    };
    let payload = p.payload.slice();
    match p.net.unwrap() {
        ep::NetHeaders::Ipv4(ip, _) => {
            assert!(!v6);
            assert_eq!(
                ip.header_checksum,
                ip.calc_header_checksum(),
                "outer IPv4 checksum"
            );
            assert_eq!(usize::from(ip.total_len), frame.len() - 14);
            assert!(ip.dont_fragment);
            assert_eq!(ip.time_to_live, 32);
            assert_eq!(ip.source, [192, 0, 2, 1]);
            assert_eq!(ip.destination, [192, 0, 2, 2]);
            assert_eq!(udp.checksum, 0, "RFC 7348: zero UDP checksum over IPv4");
        }
        ep::NetHeaders::Ipv6(ip, _) => {
            assert!(v6);
            assert_eq!(usize::from(ip.payload_length), frame.len() - 54);
            assert_eq!(ip.hop_limit, 32);
            assert_eq!(udp.checksum, udp.calc_checksum_ipv6(&ip, payload).unwrap());
        }
        _ => panic!("outer is not IP"),
    }
    assert_eq!(udp.destination_port, 4789);
    assert!(
        udp.source_port >= 49152,
        "source port {} outside 49152..",
        udp.source_port
    );
    assert_eq!(usize::from(udp.length), 8 + payload.len());
    // VXLAN: I flag, reserved zero, VNI 5001 (0x001389).
    assert_eq!(&payload[..8], &[0x08, 0, 0, 0, 0x00, 0x13, 0x89, 0]);
    (payload[8..].to_vec(), udp.source_port)
}

#[test]
fn golden_encap_ipv4_and_decap() {
    let input = encap_input();
    let (wrapped, drops) = golden("vxlan", "encap4", &input, encap4());
    assert_eq!(drops, vec![DropReason::TooBig, DropReason::Malformed]);
    assert_eq!(wrapped.len(), input.len() - 2);
    assert_eq!(wrapped.len(), kept_len(&input));
    let kept: Vec<&Vec<u8>> = input
        .iter()
        .filter(|f| f.len() >= 14 && f.len() <= 1500 - 36)
        .collect();
    let mut ports = std::collections::HashMap::new();
    for (w, original) in wrapped.iter().zip(&kept) {
        let (inner, port) = check_outer(w, false);
        assert_eq!(
            &inner, *original,
            "the inner frame is carried byte for byte"
        );
        // The source port is a function of the inner flow.
        if let Some(key) = netfn_core::FlowKey::from_frame(original) {
            assert_eq!(*ports.entry(key).or_insert(port), port);
        }
    }
    // Ports differ between flows (4 UDP flows: not all on one port).
    let distinct: std::collections::HashSet<_> = ports.values().collect();
    assert!(distinct.len() > 1, "{ports:?}");

    // Decap: the encapsulated frames plus what decap must refuse.
    let mut dec_in = wrapped.clone();
    let mut wrong_vni = wrapped[0].clone();
    wrong_vni[14 + 20 + 8 + 6] ^= 1;
    dec_in.push(wrong_vni);
    let mut bad_csum = wrapped[1].clone();
    UdpPacket::new_unchecked(&mut bad_csum[34..]).set_checksum(0x1234);
    dec_in.push(bad_csum);
    let mut no_i = wrapped[2].clone();
    no_i[42] = 0;
    dec_in.push(no_i);
    let mut frag = wrapped[3].clone();
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut frag[14..]);
        ip.set_dont_frag(false);
        ip.set_more_frags(true);
        ip.fill_checksum();
    }
    dec_in.push(frag);
    let mut bad_ip = wrapped[4].clone();
    bad_ip[14 + 10] ^= 0xff; // IPv4 header checksum
    dec_in.push(bad_ip);
    dec_in.push(udp4([192, 0, 2, 1], 5000, [192, 0, 2, 2], 53, 20)); // not VXLAN: passes
    dec_in.push(wrapped[0][..40].to_vec()); // truncated
    let (out, drops) = golden("vxlan", "decap4", &dec_in, decap4());
    assert_eq!(
        drops,
        vec![
            DropReason::Filtered,
            DropReason::Malformed,
            DropReason::Malformed,
            DropReason::Unsupported,
            DropReason::Malformed,
            DropReason::Malformed,
        ]
    );
    let mut expected: Vec<Vec<u8>> = kept.into_iter().cloned().collect();
    expected.push(dec_in[dec_in.len() - 2].clone());
    assert_eq!(out, expected, "decap restores every inner frame exactly");
}

#[test]
fn golden_encap_ipv6() {
    let input = inner_traffic();
    let (wrapped, drops) = golden("vxlan", "encap6", &input, encap6());
    assert!(drops.is_empty());
    for (w, original) in wrapped.iter().zip(&input) {
        assert_eq!(&check_outer(w, true).0, original);
    }
    let mut h = Harness::new(decap6());
    let refs: Vec<&[u8]> = wrapped.iter().map(|f| f.as_slice()).collect();
    assert_eq!(h.process_bytes(0, &refs).on(0), input);
}

#[test]
fn decap_filters_by_vni_and_endpoint() {
    let mut enc = Harness::new(encap4());
    let wrapped = enc.process_bytes(0, &[&inner_traffic()[0]]).on(0).remove(0);
    let mut other_vni = config(Mode::Decap, "192.0.2.2", "0.0.0.0");
    other_vni.vnis = vec![1, 2, 3];
    let mut h = Harness::new(VxlanNf::new(other_vni).unwrap());
    assert_eq!(
        h.process_bytes(0, &[&wrapped]).drop_reasons(),
        vec![DropReason::Filtered]
    );
    // For another VTEP: not ours, passes unchanged (or is dropped).
    let mut elsewhere = config(Mode::Decap, "192.0.2.99", "0.0.0.0");
    let h2 = VxlanNf::new(elsewhere.clone()).unwrap();
    assert_eq!(
        Harness::new(h2).process_bytes(0, &[&wrapped]).on(0),
        vec![wrapped.clone()]
    );
    elsewhere.drop_other = true;
    let out = Harness::new(VxlanNf::new(elsewhere).unwrap()).process_bytes(0, &[&wrapped]);
    assert_eq!(out.drop_reasons(), vec![DropReason::Filtered]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Encapsulation then decapsulation gives back any frame byte for byte.
    #[test]
    fn encap_then_decap_is_identity(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 14..1400), 1..40),
        v6 in any::<bool>(),
    ) {
        let (mut enc, mut dec) = if v6 {
            (Harness::new(encap6()), Harness::new(decap6()))
        } else {
            (Harness::new(encap4()), Harness::new(decap4()))
        };
        let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        let wrapped = enc.process_bytes(0, &refs).on(0);
        prop_assert_eq!(wrapped.len(), frames.len());
        let refs: Vec<&[u8]> = wrapped.iter().map(|f| f.as_slice()).collect();
        prop_assert_eq!(dec.process_bytes(0, &refs).on(0), frames);
    }

    /// Random bytes and mangled tunnel packets never panic; every packet
    /// is forwarded or dropped with a reason.
    #[test]
    fn random_bytes_never_panic(
        frames in fuzz::frames(200, 40),
        flips in fuzz::flips(0..8),
    ) {
        let mut enc = Harness::new(encap4());
        let wrapped = enc.process_bytes(0, &inner_traffic().iter().map(|f| f.as_slice()).collect::<Vec<_>>()).on(0);
        let all = mangle(wrapped.iter(), &frames, &flips);
        let refs: Vec<&[u8]> = all.iter().map(|f| f.as_slice()).collect();
        for nf in [encap4(), decap4(), encap6(), decap6()] {
            let out = Harness::new(nf).process_bytes(0, &refs);
            prop_assert_eq!(out.forwarded.len() + out.dropped.len(), all.len());
        }
    }
}

#[test]
fn steady_state_allocates_nothing() {
    let frames: Vec<Vec<u8>> = (0..2000u16)
        .map(|i| udp4([10, 0, (i >> 8) as u8, i as u8], i, [10, 9, 0, 1], 53, 18))
        .collect();
    let mut enc = encap4();
    assert_eq!(allocations(&mut enc, &frames, &[0, 1, 2]), 0);
    let wrapped = Harness::new(encap4())
        .process_bytes(0, &frames.iter().map(|f| f.as_slice()).collect::<Vec<_>>())
        .on(0);
    let mut dec = decap4();
    assert_eq!(allocations(&mut dec, &wrapped, &[0, 1, 2]), 0);
}

fn params(items: &[(&str, Value)]) -> Params {
    common::params::params(
        [
            ("mode", Value::Word("encap".into())),
            ("vni", Value::List(vec![Value::Int(5001)])),
            ("local", Value::Ip("192.0.2.1".parse().unwrap())),
            ("remote", Value::Ip("192.0.2.2".parse().unwrap())),
            ("src_mac", Value::Mac([2, 0, 0, 0, 0, 1])),
            ("dst_mac", Value::Mac([2, 0, 0, 0, 0, 2])),
            ("ttl", Value::Int(64)),
            ("mtu", Value::Size(1500)),
            ("port", Value::Int(4789)),
            ("other", Value::Word("pass".into())),
        ],
        items,
    )
}

#[test]
fn config_errors_name_the_parameter() {
    assert!(VxlanNf::from_params(&params(&[])).is_ok());
    let err = |items: &[(&str, Value)]| VxlanNf::from_params(&params(items)).unwrap_err();
    let e = err(&[("vni", Value::List(vec![Value::Int(1), Value::Int(2)]))]);
    assert_eq!(e.param.as_deref(), Some("vni"));
    assert!(e.message.contains("one VNI"), "{e}");
    let e = err(&[("vni", Value::List(vec![Value::Int(1 << 24)]))]);
    assert_eq!(e.param.as_deref(), Some("vni"));
    let e = err(&[("local", Value::Ip(IpAddr::from([0, 0, 0, 0])))]);
    assert_eq!(e.param.as_deref(), Some("local"));
    let e = err(&[("remote", Value::Ip("2001:db8::1".parse().unwrap()))]);
    assert!(e.message.contains("family"), "{e}");
    let e = err(&[
        ("mode", Value::Word("decap".into())),
        ("vni", Value::List(vec![])),
    ]);
    assert!(e.message.contains("at least one VNI"), "{e}");
    assert!(
        VxlanNf::from_params(&params(&[
            ("mode", Value::Word("decap".into())),
            ("local", Value::Ip(IpAddr::from([0, 0, 0, 0]))),
            ("vni", Value::List(vec![Value::Int(1), Value::Int(2)])),
        ]))
        .is_ok()
    );
}

fn kept_len(input: &[Vec<u8>]) -> usize {
    input
        .iter()
        .filter(|f| f.len() >= 14 && f.len() <= 1500 - 36)
        .count()
}
