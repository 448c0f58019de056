//! Steady state allocates nothing (STYLE rule 5): once batch pools, scratch
//! batches and emit buffers have filled during a warm-up, whole graphs run
//! with zero heap allocations, and a full flow table churns without any.
//!
//! `allocation-counter` replaces the global allocator in this test binary
//! and counts per thread, so tests running in parallel do not disturb each
//! other. To find what allocates, run one test under a debugger with a
//! breakpoint on `__rust_alloc` after the warm-up, or bisect the graph.

use std::net::Ipv4Addr;
use std::time::Duration;

use allocation_counter::AllocationInfo;
use netfn_core::ops::{self, Op, Terminal};
use netfn_core::{DropReason, FlowTable, Graph, RunLimits, Runtime, RuntimeConfig, StopReason};
use netfn_nfs::basic::{Counter, TeeNf, macswap, ttl};
use netfn_ports::{Check, Generator, GeneratorConfig, Sink};
use netfn_wire::{Ipv4, Udp};

const WARM_UP: u64 = 20_000;
const MEASURED: u64 = 200_000;

/// A mixed workload: UDP, TCP and ICMP, a third of it IPv6, many flows and
/// three frame sizes, with checksums (so `ttl` and the sink's check do real
/// work on every path).
fn generator() -> Generator {
    Generator::new(GeneratorConfig {
        sizes: vec![(64, 4), (200, 2), (1500, 1)],
        flows: 64,
        udp: 3,
        tcp: 2,
        icmp: 1,
        ipv6_percent: 33,
        ..GeneratorConfig::default()
    })
    .expect("valid generator")
}

fn config() -> RuntimeConfig {
    RuntimeConfig {
        // Time some batches, so the sampled timing path runs too.
        timing_interval: 8,
        ..RuntimeConfig::default()
    }
}

/// Runs `rt` for the warm-up, then measures the allocations of the next
/// `MEASURED` packets.
fn steady_state(rt: &mut Runtime) -> AllocationInfo {
    let limit = |n| RunLimits {
        packets: Some(n),
        ..RunLimits::default()
    };
    assert_eq!(rt.run(&limit(WARM_UP)), StopReason::Packets);
    let info = allocation_counter::measure(|| {
        assert_eq!(rt.run(&limit(WARM_UP + MEASURED)), StopReason::Packets);
    });
    assert!(rt.received() >= WARM_UP + MEASURED);
    info
}

#[test]
fn ttl_chain_allocates_nothing() {
    let mut g = Graph::new();
    let mut chain = vec![g.add_port("gen", "generator", generator())];
    for i in 0..10 {
        chain.push(g.add_nf(&format!("ttl{i}"), "ttl", ttl));
    }
    chain.push(g.add_port("sink", "sink", Sink::new(Check::Checksum)));
    g.chain(&chain);
    let mut rt = Runtime::new(g, config()).unwrap();
    let info = steady_state(&mut rt);
    assert_eq!(info.count_total, 0, "{info:?}");
    let sink = rt.stats().node("sink").unwrap();
    assert!(sink.tx_packets >= WARM_UP + MEASURED - 64);
}

/// Splits by parity of the last address byte; non-IPv4 goes to output 2.
fn split() -> impl netfn_core::Nf {
    let v4 = ops::ethernet()
        .parse_or_skip::<Ipv4>()
        .group_by(2, |ip, _| u16::from(ip.header().dst_addr().octets()[3] & 1));
    let other = ops::ethernet().group_by(3, |_, _| 2);
    v4.or(other).compose()
}

/// Drops UDP to odd ports (some drops on every round).
fn firewall() -> impl netfn_core::Nf {
    ops::ethernet()
        .parse_or_skip::<Ipv4>()
        .parse_or_skip::<Udp>()
        .filter(
            |udp, _| udp.header().dst_port() % 2 == 0,
            DropReason::PolicyDeny,
        )
        .compose()
}

/// gen -> tee(3) -> { macswap -> counter -> sink0,
///                    split -> { firewall -> sink1, sink2, sink3 },
///                    sink4 }
#[test]
fn tee_split_graph_allocates_nothing() {
    let mut g = Graph::new();
    let gen_ = g.add_port("gen", "generator", generator());
    let tee = g.add_nf("tee", "tee", || TeeNf::new(3));
    let swap = g.add_nf("macswap", "macswap", macswap);
    let count = g.add_nf("counter", "counter", Counter::default);
    let split = g.add_nf("split", "split", split);
    let fw = g.add_nf("firewall", "filter", firewall);
    let sinks: Vec<_> = (0..5)
        .map(|i| g.add_port(&format!("sink{i}"), "sink", Sink::new(Check::Checksum)))
        .collect();
    g.connect(gen_, 0, tee, 0)
        .connect(tee, 0, swap, 0)
        .connect(swap, 0, count, 0)
        .connect(count, 0, sinks[0], 0)
        .connect(tee, 1, split, 0)
        .connect(split, 0, fw, 0)
        .connect(fw, 0, sinks[1], 0)
        .connect(split, 1, sinks[2], 0)
        .connect(split, 2, sinks[3], 0)
        .connect(tee, 2, sinks[4], 0);
    let mut rt = Runtime::new(g, config()).unwrap();
    let info = steady_state(&mut rt);
    assert_eq!(info.count_total, 0, "{info:?}");

    let stats = rt.stats();
    let tx = |name: &str| stats.node(name).unwrap().tx_packets;
    let received = rt.received();
    assert_eq!(tx("sink0"), received);
    assert_eq!(tx("sink4"), received);
    let split_total = tx("sink2") + tx("sink3") + stats.node("firewall").unwrap().rx_packets;
    assert_eq!(split_total, received);
    assert!(
        stats
            .node("firewall")
            .unwrap()
            .drops_for(DropReason::PolicyDeny)
            > 0
    );
    for sink in ["sink0", "sink1", "sink2", "sink3", "sink4"] {
        assert_eq!(
            stats.node(sink).unwrap().drops_for(DropReason::TxFull),
            0,
            "{sink}"
        );
    }
}

/// An NF that sends two copies of every packet to the same output: that
/// output receives twice a batch per call, so routing must ship full parts
/// as it goes (this once allocated an overflow list per batch).
#[test]
fn emitting_more_than_a_batch_to_one_output_allocates_nothing() {
    let mut g = Graph::new();
    let gen_ = g.add_port("gen", "generator", generator());
    let double = g.add_nf("double", "double", || {
        ops::ethernet().tee(1).tee(1).compose()
    });
    let a = g.add_port("a", "sink", Sink::new(Check::None));
    let b = g.add_port("b", "sink", Sink::new(Check::None));
    g.connect(gen_, 0, double, 0)
        .connect(double, 0, a, 0)
        .connect(double, 1, b, 0);
    let mut rt = Runtime::new(g, config()).unwrap();
    let info = steady_state(&mut rt);
    assert_eq!(info.count_total, 0, "{info:?}");
    let stats = rt.stats();
    assert_eq!(stats.node("b").unwrap().tx_packets, 2 * rt.received());
}

/// Flow keys as a NAT or firewall would use them.
type Key = (Ipv4Addr, Ipv4Addr, u16, u16, u8);

fn key(i: u32) -> Key {
    (
        Ipv4Addr::from(0x0a00_0000 | i),
        Ipv4Addr::new(10, 1, 0, 1),
        (i % 60_000) as u16,
        443,
        if i.is_multiple_of(3) { 17 } else { 6 },
    )
}

#[test]
fn full_flow_table_churn_allocates_nothing() {
    const CAP: u32 = 4096;
    const NS: u64 = 1_000_000;
    let mut table: FlowTable<Key, [u64; 4]> = FlowTable::new(
        CAP as usize,
        &[Duration::from_millis(10), Duration::from_millis(50)],
    );
    let mut now = 0u64;
    let mut next = 0u32;
    let (mut expired, mut hits) = (0usize, 0usize);
    let mut churn = |table: &mut FlowTable<Key, [u64; 4]>, rounds: u32| {
        for _ in 0..rounds {
            // Fill to capacity, in two timeout classes.
            while !table.is_full() {
                let class = (next % 2) as u8;
                table
                    .insert(key(next), [u64::from(next); 4], class, now)
                    .unwrap();
                next += 1;
            }
            assert!(table.insert(key(next), [0; 4], 0, now).is_err());
            // Over the last CAP keys (some already gone): touch a quarter,
            // remove a quarter, move some between classes.
            for i in next - CAP..next {
                match i % 4 {
                    0 => hits += usize::from(table.get(&key(i), now).is_some()),
                    1 => hits += usize::from(table.remove(&key(i)).is_some()),
                    2 if i % 8 == 2 => {
                        if let Some(slot) = table.find(&key(i)) {
                            table.set_class(slot, 1 - table.class(slot), now);
                        }
                    }
                    _ => {}
                }
            }
            // Let a class time out.
            now += 11 * NS;
            expired += table.expire(now, |_, _| {});
        }
    };
    // Warm-up: the hash index reaches its steady tombstone pattern.
    churn(&mut table, 20);
    let info = allocation_counter::measure(|| churn(&mut table, 200));
    assert_eq!(info.count_total, 0, "{info:?}");
    assert!(expired > 0 && hits > 0, "{expired} expired, {hits} hits");
}

/// Guards the tests above: the counting allocator is really installed.
#[test]
fn counter_sees_allocations() {
    let info = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 16]);
    });
    assert!(info.count_total > 0);
}
