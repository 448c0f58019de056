//! The `gre` NF end to end: golden pcaps for encap (keyed, checksummed,
//! sequenced; and plain over IPv6) and decap, the outer headers re-checked
//! with etherparse and the GRE checksum recomputed by hand, encap-then-decap
//! as the identity (a property test), random bytes, no allocation in steady
//! state, config errors.
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p
//! netfn-nfs --test gre`.

mod common;

use common::alloc::allocations;
use common::encap::{golden, inner_traffic, udp4};
use common::fuzz::{self, mangle};
use etherparse as ep;
use netfn_core::DropReason;
use netfn_core::config::{Params, Value};
use netfn_core::testing::Harness;
use netfn_nfs::gre::{GreConfig, GreNf, Mode};
use netfn_wire::{Ipv4Packet, MacAddr};
use proptest::prelude::*;

const OUTER_SRC: MacAddr = MacAddr([2, 0, 0, 1, 0, 1]);
const OUTER_DST: MacAddr = MacAddr([2, 0, 0, 1, 0, 2]);

fn config(mode: Mode, local: &str, remote: &str, keyed: bool) -> GreConfig {
    GreConfig {
        mode,
        local: local.parse().unwrap(),
        remote: remote.parse().unwrap(),
        key: keyed.then_some(0x0a0b_0c0d),
        checksum: keyed,
        seq: keyed,
        src_mac: OUTER_SRC,
        dst_mac: OUTER_DST,
        ttl: 32,
        mtu: 1500,
        drop_other: false,
    }
}

fn encap4() -> GreNf {
    GreNf::new(config(Mode::Encap, "192.0.2.1", "192.0.2.2", true)).unwrap()
}
fn decap4() -> GreNf {
    GreNf::new(config(Mode::Decap, "192.0.2.2", "192.0.2.1", true)).unwrap()
}
fn encap6() -> GreNf {
    GreNf::new(config(Mode::Encap, "2001:db8::1", "2001:db8::2", false)).unwrap()
}
fn decap6() -> GreNf {
    GreNf::new(config(Mode::Decap, "2001:db8::2", "2001:db8::1", false)).unwrap()
}

/// Checks one encapsulated frame with etherparse (outer Ethernet and IP)
/// and by hand (GRE); returns the inner frame and the sequence number.
fn check_outer(frame: &[u8], keyed: bool) -> (Vec<u8>, Option<u32>) {
    let eth = ep::Ethernet2HeaderSlice::from_slice(frame).unwrap();
    assert_eq!(
        (eth.source(), eth.destination()),
        (OUTER_SRC.0, OUTER_DST.0)
    );
    let ip = ep::IpSlice::from_slice(&frame[14..]).expect("etherparse parses the outer IP");
    assert_eq!(ip.payload_ip_number(), ep::IpNumber::GRE);
    let gre = ip.payload().payload;
    match &ip {
        ep::IpSlice::Ipv4(v4) => {
            let h = v4.header().to_header();
            assert_eq!(
                h.header_checksum,
                h.calc_header_checksum(),
                "outer IPv4 checksum"
            );
            assert!(h.dont_fragment);
            assert_eq!(h.time_to_live, 32);
            assert_eq!(usize::from(h.total_len), frame.len() - 14);
        }
        ep::IpSlice::Ipv6(v6) => {
            assert_eq!(v6.header().hop_limit(), 32);
            assert_eq!(usize::from(v6.header().payload_length()), frame.len() - 54);
        }
    }
    // GRE by hand (RFC 2784/2890): flags, protocol 0x6558, then checksum
    // + reserved, key, sequence, in that order.
    if keyed {
        assert_eq!(&gre[..4], &[0xb0, 0x00, 0x65, 0x58]);
        let mut zeroed = gre.to_vec();
        zeroed[4..6].fill(0);
        let sum = ep::checksum::Sum16BitWords::new()
            .add_slice(&zeroed)
            .ones_complement()
            .to_be();
        assert_eq!(u16::from_be_bytes([gre[4], gre[5]]), sum, "GRE checksum");
        assert_eq!(&gre[6..12], &[0, 0, 0x0a, 0x0b, 0x0c, 0x0d]);
        let seq = u32::from_be_bytes([gre[12], gre[13], gre[14], gre[15]]);
        (gre[16..].to_vec(), Some(seq))
    } else {
        assert_eq!(&gre[..4], &[0x00, 0x00, 0x65, 0x58]);
        (gre[4..].to_vec(), None)
    }
}

fn encap_input() -> Vec<Vec<u8>> {
    let mut v = inner_traffic();
    // Outer 20 + 16 bytes: 1464 bytes of inner frame fit a 1500 MTU.
    v.push(udp4([10, 0, 0, 1], 1, [10, 9, 0, 1], 2, 1464 - 42 + 1));
    v.push(udp4([10, 0, 0, 1], 1, [10, 9, 0, 1], 2, 1464 - 42));
    v.push(vec![1, 2, 3]);
    v
}

#[test]
fn golden_encap_ipv4_and_decap() {
    let input = encap_input();
    let (wrapped, drops) = golden("gre", "encap4", &input, encap4());
    assert_eq!(drops, vec![DropReason::TooBig, DropReason::Malformed]);
    let kept: Vec<Vec<u8>> = input
        .iter()
        .filter(|f| f.len() >= 14 && f.len() <= 1464)
        .cloned()
        .collect();
    assert_eq!(wrapped.len(), kept.len());
    for (i, (w, original)) in wrapped.iter().zip(&kept).enumerate() {
        let (inner, seq) = check_outer(w, true);
        assert_eq!(&inner, original);
        assert_eq!(seq, Some(i as u32), "sequence numbers count from 0");
    }
    let mut dec_in = wrapped.clone();
    let mut bad_csum = wrapped[0].clone();
    bad_csum[14 + 20 + 16] ^= 0x40; // inner byte: GRE checksum fails
    dec_in.push(bad_csum);
    dec_in.push(wrapped[1].clone()); // a replay: behind the sequence
    let mut v1 = wrapped[2].clone();
    v1[14 + 21] |= 1; // version 1 (PPTP)
    dec_in.push(v1);
    let mut frag = wrapped[3].clone();
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut frag[14..]);
        ip.set_dont_frag(false);
        ip.set_frag_offset(8);
        ip.fill_checksum();
    }
    dec_in.push(frag);
    dec_in.push(udp4([192, 0, 2, 1], 5000, [192, 0, 2, 2], 53, 20)); // not GRE: passes
    dec_in.push(wrapped[0][..40].to_vec()); // truncated
    let (out, drops) = golden("gre", "decap4", &dec_in, decap4());
    assert_eq!(
        drops,
        vec![
            DropReason::Malformed,
            DropReason::Filtered,
            DropReason::Malformed,
            DropReason::Unsupported,
            DropReason::Malformed,
        ]
    );
    let mut expected = kept.clone();
    expected.push(dec_in[dec_in.len() - 2].clone());
    assert_eq!(out, expected, "decap restores every inner frame exactly");
}

#[test]
fn golden_encap_ipv6_plain() {
    let input = inner_traffic();
    let (wrapped, drops) = golden("gre", "encap6", &input, encap6());
    assert!(drops.is_empty());
    for (w, original) in wrapped.iter().zip(&input) {
        assert_eq!(&check_outer(w, false).0, original);
    }
    let refs: Vec<&[u8]> = wrapped.iter().map(|f| f.as_slice()).collect();
    assert_eq!(Harness::new(decap6()).process_bytes(0, &refs).on(0), input);
}

#[test]
fn keys_must_match_both_ways() {
    let frame = inner_traffic().remove(0);
    let keyed = Harness::new(encap4())
        .process_bytes(0, &[&frame])
        .on(0)
        .remove(0);
    let plain =
        Harness::new(GreNf::new(config(Mode::Encap, "192.0.2.1", "192.0.2.2", false)).unwrap())
            .process_bytes(0, &[&frame])
            .on(0)
            .remove(0);
    let mut keyless =
        Harness::new(GreNf::new(config(Mode::Decap, "0.0.0.0", "0.0.0.0", false)).unwrap());
    let out = keyless.process_bytes(0, &[&keyed, &plain]);
    assert_eq!(out.drop_reasons(), vec![DropReason::Filtered]);
    assert_eq!(out.on(0), vec![frame.clone()]);
    // A keyed tunnel refuses keyless packets (and one that requires the
    // checksum refuses them as malformed first).
    let lenient = GreConfig {
        checksum: false,
        ..config(Mode::Decap, "192.0.2.2", "192.0.2.1", true)
    };
    let out = Harness::new(GreNf::new(lenient).unwrap()).process_bytes(0, &[&plain]);
    assert_eq!(out.drop_reasons(), vec![DropReason::Filtered]);
    let out = Harness::new(decap4()).process_bytes(0, &[&plain]);
    assert_eq!(out.drop_reasons(), vec![DropReason::Malformed]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

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
        let refs: Vec<&[u8]> = wrapped.iter().map(|f| f.as_slice()).collect();
        prop_assert_eq!(dec.process_bytes(0, &refs).on(0), frames);
    }

    #[test]
    fn random_bytes_never_panic(
        frames in fuzz::frames(200, 40),
        flips in fuzz::flips(0..8),
    ) {
        let inner = inner_traffic();
        let refs: Vec<&[u8]> = inner.iter().map(|f| f.as_slice()).collect();
        let base = Harness::new(encap4()).process_bytes(0, &refs).on(0);
        let all = mangle(base.iter(), &frames, &flips);
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
    assert_eq!(allocations(&mut encap4(), &frames, &[0, 1, 2]), 0);
    let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
    let wrapped = Harness::new(encap6()).process_bytes(0, &refs).on(0);
    assert_eq!(allocations(&mut decap6(), &wrapped, &[0, 1, 2]), 0);
}

fn params(items: &[(&str, Value)]) -> Params {
    common::params::params(
        [
            ("mode", Value::Word("encap".into())),
            ("local", Value::Ip("192.0.2.1".parse().unwrap())),
            ("remote", Value::Ip("192.0.2.2".parse().unwrap())),
            ("key", Value::Int(-1)),
            ("checksum", Value::Bool(false)),
            ("seq", Value::Bool(false)),
            ("src_mac", Value::Mac([2, 0, 0, 0, 0, 1])),
            ("dst_mac", Value::Mac([2, 0, 0, 0, 0, 2])),
            ("ttl", Value::Int(64)),
            ("mtu", Value::Size(1500)),
            ("other", Value::Word("pass".into())),
        ],
        items,
    )
}

#[test]
fn config_errors_name_the_parameter() {
    assert!(GreNf::from_params(&params(&[("key", Value::Int(4_294_967_295))])).is_ok());
    let e = GreNf::from_params(&params(&[(
        "remote",
        Value::Ip("0.0.0.0".parse().unwrap()),
    )]))
    .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("remote"));
    let e =
        GreNf::from_params(&params(&[("local", Value::Ip("::".parse().unwrap()))])).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("local"));
    let e = GreNf::from_params(&params(&[("local", Value::Ip("fd00::1".parse().unwrap()))]))
        .unwrap_err();
    assert!(e.message.contains("family"), "{e}");
    assert!(
        GreNf::from_params(&params(&[
            ("mode", Value::Word("decap".into())),
            ("local", Value::Ip("0.0.0.0".parse().unwrap())),
        ]))
        .is_ok()
    );
}
