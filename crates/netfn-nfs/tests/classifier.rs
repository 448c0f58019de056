//! `classifier` over hostile input and in steady state: random bytes never
//! panic and always get a verdict; a warmed-up graph allocates nothing.
//! (Matching itself is the firewall's classifier, which has its own
//! differential test against a linear reference in tests/firewall.rs.)

use netfn_core::testing::Harness;
use netfn_core::{Graph, RunLimits, Runtime, RuntimeConfig, StopReason};
use netfn_nfs::classifier::Classifier;
use netfn_ports::{Check, Generator, GeneratorConfig, Sink};
use proptest::prelude::*;

fn classifier() -> Classifier {
    Classifier::new(&[
        "tcp to any port 80,443",
        "udp from 10.0.0.0/8 port 53",
        "inet6 all",
    ])
    .unwrap()
}

proptest! {
    #[test]
    fn random_bytes_get_a_verdict(frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..32)) {
        let mut h = Harness::new(classifier());
        let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        let out = h.process_bytes(0, &refs);
        let forwarded: usize = (0..4).map(|k| out.on(k).len()).sum();
        prop_assert_eq!(forwarded + out.drop_reasons().len(), frames.len());
    }
}

#[test]
fn steady_state_allocates_nothing() {
    let mut g = Graph::new();
    let src = g.add_port(
        "gen",
        "generator",
        Generator::new(GeneratorConfig {
            flows: 1000,
            udp: 2,
            tcp: 2,
            icmp: 1,
            ipv6_percent: 20,
            ..GeneratorConfig::default()
        })
        .unwrap(),
    );
    let cls = g.add_nf("cls", "classifier", classifier);
    g.connect(src, 0, cls, 0);
    for k in 0..4 {
        let sink = g.add_port(&format!("s{k}"), "sink", Sink::new(Check::None));
        g.connect(cls, k, sink, 0);
    }
    let mut rt = Runtime::new(g, RuntimeConfig::default()).unwrap();
    let limit = |n| RunLimits {
        packets: Some(n),
        ..RunLimits::default()
    };
    assert_eq!(rt.run(&limit(20_000)), StopReason::Packets);
    let info = allocation_counter::measure(|| {
        assert_eq!(rt.run(&limit(220_000)), StopReason::Packets);
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    let sent: u64 = (0..4)
        .map(|k| rt.stats().node(&format!("s{k}")).unwrap().tx_packets)
        .sum();
    assert!(sent >= 200_000);
}

#[test]
fn config_errors_name_the_pattern() {
    let e = Classifier::new(&["tcp to any port 99999"]).unwrap_err();
    assert!(
        e.starts_with("pattern 1 \"tcp to any port 99999\", column"),
        "{e}"
    );
    assert!(Classifier::new(&[""]).unwrap_err().contains("empty"));
}
