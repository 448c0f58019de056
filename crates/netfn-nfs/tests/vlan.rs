//! The `vlan` NF end to end: golden pcaps for push (802.1Q and 802.1ad),
//! pop and rewrite, checked independently with etherparse (tags, and the
//! rest of the frame unchanged); push-then-pop as the identity (a property
//! test); random bytes; no allocation in steady state; config errors.
//!
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p
//! netfn-nfs --test vlan`.

mod common;

use common::alloc::allocations;
use common::encap::{golden, inner_traffic};
use common::fuzz::{self, mangle};
use etherparse as ep;
use netfn_core::DropReason;
use netfn_core::config::{Params, Value};
use netfn_core::testing::Harness;
use netfn_nfs::vlan::VlanNf;
use netfn_wire::{EtherType, VlanRepr};
use proptest::prelude::*;

fn push(tpid: EtherType, vid: u16, pcp: u8) -> VlanNf {
    VlanNf::push(
        tpid,
        VlanRepr {
            pcp,
            dei: false,
            vid,
            ethertype: EtherType::Vlan,
        },
    )
    .unwrap()
}

/// The tags of a frame as etherparse's VLAN header parser reads them,
/// outermost first: (TPID, VID, PCP). Stops at a truncated tag.
fn ep_tags(frame: &[u8]) -> Vec<(u16, u16, u8)> {
    let eth = ep::Ethernet2HeaderSlice::from_slice(frame).expect("an Ethernet II frame");
    let mut tpid = eth.ether_type();
    let mut at = 14;
    let mut tags = Vec::new();
    while [
        ep::EtherType::VLAN_TAGGED_FRAME,
        ep::EtherType::PROVIDER_BRIDGING,
    ]
    .contains(&tpid)
    {
        let Ok(tag) = ep::SingleVlanHeaderSlice::from_slice(&frame[at..]) else {
            break;
        };
        let h = tag.to_header();
        tags.push((u16::from(tpid), h.vlan_id.value(), h.pcp.value()));
        tpid = h.ether_type;
        at += 4;
    }
    tags
}

/// The frame with its first tag (bytes 12..16) taken out.
fn untag(frame: &[u8]) -> Vec<u8> {
    let mut v = frame[..12].to_vec();
    v.extend_from_slice(&frame[16..]);
    v
}

fn input() -> Vec<Vec<u8>> {
    let mut v = inner_traffic();
    v.push(vec![0xff; 13]); // runt
    v.push(inner_traffic()[6][..15].to_vec()); // tagged, tag truncated
    v
}

#[test]
fn golden_push_pop_rewrite() {
    let input = input();
    // Push an 802.1Q tag, VID 100, PCP 3.
    let (pushed, drops) = golden("vlan", "push", &input, push(EtherType::Vlan, 100, 3));
    assert_eq!(drops, vec![DropReason::Malformed]);
    assert_eq!(pushed.len(), input.len() - 1);
    for (out, original) in pushed.iter().zip(input.iter().filter(|f| f.len() >= 14)) {
        assert_eq!(out.len(), original.len() + 4);
        assert_eq!(untag(out), *original, "only the tag is new");
        assert_eq!(ep_tags(out)[0], (0x8100, 100, 3));
        // The tags that were there stay behind ours.
        assert_eq!(ep_tags(out)[1..], ep_tags(original)[..]);
    }
    // Pop what was pushed: the original frames come back.
    let (popped, drops) = golden("vlan", "pop", &pushed, VlanNf::pop(false));
    assert!(drops.is_empty(), "{drops:?}");
    let originals: Vec<Vec<u8>> = input.iter().filter(|f| f.len() >= 14).cloned().collect();
    assert_eq!(popped, originals);
    // Rewrite 100 -> 200 on the pushed frames; the inner tags stay.
    let rw = VlanNf::rewrite(&[(100, 200), (7, 8)], false, false).unwrap();
    let (rewritten, drops) = golden("vlan", "rewrite", &pushed, rw);
    assert!(drops.is_empty());
    for (out, before) in rewritten.iter().zip(&pushed) {
        assert_eq!(
            &out[12..16],
            &[0x81, 0x00, 0x60, 200],
            "PCP kept, VID translated"
        );
        assert_eq!(untag(out), untag(before));
        assert_eq!(ep_tags(out)[0], (0x8100, 200, 3));
    }
    // An 802.1ad service tag over the QinQ-free frames.
    let plain: Vec<Vec<u8>> = inner_traffic()[..6].to_vec();
    let (svc, _) = golden(
        "vlan",
        "push-dot1ad",
        &plain,
        push(EtherType::QinQ, 4000, 7),
    );
    for (out, original) in svc.iter().zip(&plain) {
        assert_eq!(ep_tags(out)[0], (0x88a8, 4000, 7));
        assert_eq!(&out[12..14], &[0x88, 0xa8]);
        assert_eq!(untag(out), *original);
    }
}

#[test]
fn untagged_and_unmapped_policies() {
    let frames = inner_traffic();
    let untagged = &frames[0];
    let tagged = &frames[6]; // VID 7
    let mut pop = Harness::new(VlanNf::pop(true));
    let out = pop.process_bytes(0, &[untagged, tagged]);
    assert_eq!(out.drop_reasons(), vec![DropReason::Filtered]);
    assert_eq!(out.on(0).len(), 1);
    let mut rw = Harness::new(VlanNf::rewrite(&[(5, 6)], false, true).unwrap());
    let out = rw.process_bytes(0, &[untagged, tagged]);
    assert_eq!(out.on(0), vec![untagged.clone()]);
    assert_eq!(out.drop_reasons(), vec![DropReason::Filtered]);
    // Popping a QinQ frame leaves the inner C-tag outermost.
    let qinq = &frames[7];
    let out = Harness::new(VlanNf::pop(false)).process_bytes(0, &[qinq]);
    assert_eq!(out.on(0)[0], untag(qinq));
    assert_eq!(ep_tags(&out.on(0)[0])[0].1, 30);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Push then pop gives back any frame byte for byte, whatever it holds.
    #[test]
    fn push_then_pop_is_identity(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 14..300), 1..40),
        vid in 0u16..4096,
        pcp in 0u8..8,
        ad in any::<bool>(),
    ) {
        let tpid = if ad { EtherType::QinQ } else { EtherType::Vlan };
        let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        let pushed = Harness::new(push(tpid, vid, pcp)).process_bytes(0, &refs).on(0);
        let refs: Vec<&[u8]> = pushed.iter().map(|f| f.as_slice()).collect();
        prop_assert_eq!(Harness::new(VlanNf::pop(false)).process_bytes(0, &refs).on(0), frames);
    }

    #[test]
    fn random_bytes_never_panic(
        frames in fuzz::frames(100, 40),
        flips in fuzz::flips(0..8),
    ) {
        let all = mangle(input().into_iter().filter(|f| !f.is_empty()), &frames, &flips);
        let refs: Vec<&[u8]> = all.iter().map(|f| f.as_slice()).collect();
        for nf in [
            push(EtherType::Vlan, 1, 0),
            VlanNf::pop(false),
            VlanNf::rewrite(&[(7, 9)], true, true).unwrap(),
        ] {
            let out = Harness::new(nf).process_bytes(0, &refs);
            prop_assert_eq!(out.forwarded.len() + out.dropped.len(), all.len());
        }
    }
}

#[test]
fn steady_state_allocates_nothing() {
    let frames: Vec<Vec<u8>> = (0..64).flat_map(|_| inner_traffic()).collect();
    assert_eq!(
        allocations(&mut push(EtherType::Vlan, 9, 1), &frames, &[0, 1]),
        0
    );
    assert_eq!(allocations(&mut VlanNf::pop(false), &frames, &[0, 1]), 0);
    let mut rw = VlanNf::rewrite(&[(7, 9)], false, false).unwrap();
    assert_eq!(allocations(&mut rw, &frames, &[0, 1]), 0);
}

fn params(items: &[(&str, Value)]) -> Params {
    common::params::params(
        [
            ("action", Value::Word("push".into())),
            ("vid", Value::Int(100)),
            ("tpid", Value::Word("dot1q".into())),
            ("pcp", Value::Int(0)),
            ("dei", Value::Bool(false)),
            ("map", Value::List(vec![])),
            ("untagged", Value::Word("pass".into())),
            ("unmapped", Value::Word("pass".into())),
        ],
        items,
    )
}

#[test]
fn config_errors_name_the_parameter() {
    assert!(VlanNf::from_params(&params(&[])).is_ok());
    let e = VlanNf::from_params(&params(&[("vid", Value::Int(-1))])).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("vid"));
    let rewrite = ("action", Value::Word("rewrite".into()));
    let e = VlanNf::from_params(&params(std::slice::from_ref(&rewrite))).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("map"));
    let e = VlanNf::from_params(&params(&[
        rewrite.clone(),
        (
            "map",
            Value::List(vec![Value::Str("1:2".into()), Value::Str("3-4".into())]),
        ),
    ]))
    .unwrap_err();
    assert!(e.message.contains("item 2"), "{e}");
    let e = VlanNf::from_params(&params(&[
        rewrite.clone(),
        ("map", Value::List(vec![Value::Str("1:5000".into())])),
    ]))
    .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("map"));
    assert!(
        VlanNf::from_params(&params(&[
            rewrite,
            ("map", Value::List(vec![Value::Str("10:20".into())])),
        ]))
        .is_ok()
    );
}
