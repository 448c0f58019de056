//! `ttl` against its etherparse model (`common::model_ttl`) on random
//! frames: IPv4 and IPv6 over UDP, TCP and ICMP with random addresses,
//! TTLs and payloads, some VLAN-tagged, ARP, with random header bytes
//! overwritten and random truncation. Forwarded bytes and drop reasons
//! must match the model; IPv4 checksums must equal a from-scratch
//! recomputation (or stay wrong if they were wrong on arrival).

mod common;

use std::cell::RefCell;

use common::Dyn;
use etherparse as ep;
use netfn_core::testing::Harness;
use netfn_nfs::basic::ttl;
use netfn_wire::{MacAddr, PacketBuilder, TcpFlags};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Spec {
    ipv6: bool,
    vlan: bool,
    arp: bool,
    addrs: [u8; 32],
    hop: u8,
    proto: u8,
    payload: Vec<u8>,
    mutations: Vec<(usize, u8)>,
    cut: Option<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        proptest::bool::weighted(0.1),
        proptest::bool::weighted(0.05),
        any::<[u8; 32]>(),
        prop_oneof![Just(0u8), Just(1), Just(2), any::<u8>()],
        0u8..3,
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec((0usize..70, any::<u8>()), 0..3),
        proptest::option::weighted(0.15, any::<u8>()),
    )
        .prop_map(
            |(ipv6, vlan, arp, addrs, hop, proto, payload, mutations, cut)| Spec {
                ipv6,
                vlan,
                arp,
                addrs,
                hop,
                proto,
                payload,
                mutations,
                cut,
            },
        )
}

fn build(s: &Spec) -> Vec<u8> {
    let mut eth = PacketBuilder::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
    if s.vlan {
        eth = eth.vlan(10).unwrap();
    }
    let a = &s.addrs;
    let t = if s.arp {
        eth.arp_request(
            [a[0], a[1], a[2], a[3]].into(),
            [a[4], a[5], a[6], a[7]].into(),
        )
    } else if s.ipv6 {
        let src: [u8; 16] = a[..16].try_into().unwrap();
        let dst: [u8; 16] = a[16..].try_into().unwrap();
        let ip = eth.ipv6(src.into(), dst.into(), s.hop);
        match s.proto {
            0 => ip.udp(1, 2),
            1 => ip.tcp(1, 2, 3, 4, TcpFlags::ACK, 5),
            _ => ip.icmpv6_echo_request(1, 2),
        }
    } else {
        let src = [a[0], a[1], a[2], a[3]];
        let dst = [a[4], a[5], a[6], a[7]];
        let ip = eth
            .ipv4(src.into(), dst.into(), s.hop)
            .ident(u16::from(a[8]));
        match s.proto {
            0 => ip.udp(1, 2),
            1 => ip.tcp(1, 2, 3, 4, TcpFlags::ACK, 5),
            _ => ip.icmpv4_echo_request(1, 2),
        }
    };
    let mut frame = vec![0; t.size(s.payload.len())];
    t.write(&mut frame, &s.payload).unwrap();
    let len = frame.len();
    for &(at, byte) in &s.mutations {
        frame[at % len] = byte;
    }
    if let Some(cut) = s.cut {
        frame.truncate(len * usize::from(cut) / 256);
    }
    frame
}

thread_local! {
    static TTL: RefCell<Harness<Dyn>> = RefCell::new(Harness::new(Dyn(Box::new(ttl()))));
}

fn check(got: &[u8], want: &[u8], checksum_valid: bool) -> Result<(), TestCaseError> {
    if checksum_valid {
        prop_assert_eq!(got, want);
        return Ok(());
    }
    prop_assert_eq!(got.len(), want.len());
    prop_assert_eq!(&got[..24], &want[..24]);
    prop_assert_eq!(&got[26..], &want[26..]);
    let h = ep::Ipv4HeaderSlice::from_slice(&got[14..]).unwrap();
    prop_assert_ne!(common::ipv4_header_checksum(h.slice()), h.header_checksum());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn ttl_matches_etherparse_model(specs in proptest::collection::vec(spec(), 1..16)) {
        let frames: Vec<Vec<u8>> = specs.iter().map(build).collect();
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let out = TTL.with(|h| h.borrow_mut().process_bytes(0, &refs));
        let mut forwarded = out.on(0).into_iter();
        let mut dropped = out.drop_reasons().into_iter();
        for frame in &frames {
            match common::model_ttl(frame) {
                Ok((want, valid)) => {
                    let got = forwarded.next();
                    prop_assert!(got.is_some(), "{:02x?} was not forwarded", frame);
                    check(&got.unwrap_or_default(), &want, valid)?;
                }
                Err(reason) => prop_assert_eq!(dropped.next(), Some(reason), "{:02x?}", frame),
            }
        }
        prop_assert_eq!(forwarded.next(), None);
        prop_assert_eq!(dropped.next(), None);
    }
}
