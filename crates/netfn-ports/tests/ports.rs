//! In-memory ports: generator output is valid and as configured, pcap
//! round-trips, queues keep order and bound their length.

use std::collections::HashSet;
use std::time::Duration;

use netfn_core::testing::CollectPort;
use netfn_core::{DropReason, Graph, ManualClock, RunLimits, Runtime, RuntimeConfig};
use netfn_ports::generator::IMIX;
use netfn_ports::pcap::{Format, read_frames, write_frames};
use netfn_ports::{Check, Generator, GeneratorConfig, PcapSink, PcapSource, Queue, Sink};

fn collect(config: GeneratorConfig) -> Vec<Vec<u8>> {
    let mut g = Graph::new();
    let src = g.add_port("gen", "generator", Generator::new(config).unwrap());
    let sink = CollectPort::new();
    let frames = sink.frames.clone();
    let dst = g.add_port("out", "collect", sink);
    g.chain(&[src, dst]);
    let mut rt = Runtime::new(g, RuntimeConfig::default()).unwrap();
    rt.run(&RunLimits::default());
    frames.take()
}

#[test]
fn generated_packets_parse_and_checksum_per_etherparse() {
    let config = GeneratorConfig {
        flows: 50,
        udp: 2,
        tcp: 2,
        icmp: 1,
        ipv6_percent: 40,
        count: 2000,
        sizes: IMIX.to_vec(),
        sequence: true,
        ..GeneratorConfig::default()
    };
    let frames = collect(config);
    assert_eq!(frames.len(), 2000);
    let (mut v4, mut v6, mut tuples) = (0, 0, HashSet::new());
    let mut sizes = [0usize; 3];
    for f in &frames {
        let p = etherparse::SlicedPacket::from_ethernet(f).expect("etherparse accepts it");
        match &p.net {
            Some(etherparse::NetSlice::Ipv4(ip)) => {
                v4 += 1;
                let h = ip.header().to_header();
                assert_eq!(h.header_checksum, h.calc_header_checksum());
            }
            Some(etherparse::NetSlice::Ipv6(_)) => v6 += 1,
            other => panic!("unexpected {other:?}"),
        }
        let key = match p.transport {
            Some(etherparse::TransportSlice::Udp(u)) => (17, u.source_port(), u.destination_port()),
            Some(etherparse::TransportSlice::Tcp(t)) => (6, t.source_port(), t.destination_port()),
            Some(etherparse::TransportSlice::Icmpv4(_))
            | Some(etherparse::TransportSlice::Icmpv6(_)) => (1, 0, 0),
            other => panic!("unexpected transport {other:?}"),
        };
        tuples.insert((
            format!(
                "{:?}",
                p.net.as_ref().map(|n| n.ip_payload_ref().map(|_| ()))
            ),
            key,
        ));
        match f.len() {
            64 => sizes[0] += 1,
            576 => sizes[1] += 1,
            1500 => sizes[2] += 1,
            n if n < 100 => sizes[0] += 1, // IPv6 TCP headers exceed 64 bytes
            n => panic!("unexpected size {n}"),
        }
    }
    assert!(v4 > 800 && v6 > 500, "v4 {v4} v6 {v6}");
    // 7:4:1 within sampling noise.
    assert!(
        (sizes[0] as f64 / 2000.0 - 7.0 / 12.0).abs() < 0.05,
        "{sizes:?}"
    );
    assert!(
        (sizes[2] as f64 / 2000.0 - 1.0 / 12.0).abs() < 0.03,
        "{sizes:?}"
    );
}

#[test]
fn sink_verifies_checksums_and_sequence() {
    let mut g = Graph::new();
    let config = GeneratorConfig {
        flows: 10,
        udp: 1,
        tcp: 1,
        ipv6_percent: 50,
        count: 500,
        sequence: true,
        ..Default::default()
    };
    let src = g.add_port("gen", "generator", Generator::new(config.clone()).unwrap());
    let sink = g.add_port("sink", "sink", Sink::new(Check::Checksum));
    g.chain(&[src, sink]);
    let mut rt = Runtime::new(g, RuntimeConfig::default()).unwrap();
    rt.run(&RunLimits::default());
    rt.refresh_extra_counters();
    let s = rt.stats().node("sink").unwrap();
    assert_eq!(s.tx_packets, 500);
    assert_eq!(s.counter("checked"), Some(500));
    assert_eq!(s.counter("bad_checksum"), Some(0), "{:?}", s.extra);

    let mut g = Graph::new();
    let src = g.add_port("gen", "generator", Generator::new(config).unwrap());
    let sink = g.add_port("sink", "sink", Sink::new(Check::Sequence));
    g.chain(&[src, sink]);
    let mut rt = Runtime::new(g, RuntimeConfig::default()).unwrap();
    rt.run(&RunLimits::default());
    rt.refresh_extra_counters();
    let s = rt.stats().node("sink").unwrap();
    for (name, want) in [("lost", 0), ("out_of_order", 0), ("unreadable", 0)] {
        assert_eq!(s.counter(name), Some(want), "{name}: {:?}", s.extra);
    }
}

#[test]
fn generator_is_deterministic_per_seed() {
    let c = GeneratorConfig {
        flows: 20,
        tcp: 1,
        count: 100,
        ..Default::default()
    };
    assert_eq!(collect(c.clone()), collect(c.clone()));
    assert_ne!(
        collect(c.clone()),
        collect(GeneratorConfig { seed: 2, ..c })
    );
}

#[test]
fn generator_respects_rate() {
    let clock = ManualClock::new();
    let mut g = Graph::new();
    let config = GeneratorConfig {
        rate: 1000,
        ..Default::default()
    };
    let src = g.add_port("gen", "generator", Generator::new(config).unwrap());
    let sink = g.add_port("sink", "sink", Sink::new(Check::None));
    g.chain(&[src, sink]);
    let mut rt = Runtime::with_clock(g, RuntimeConfig::default(), Box::new(clock.clone())).unwrap();
    for _ in 0..500 {
        clock.advance(Duration::from_millis(1));
        rt.run_once();
    }
    let sent = rt.stats().node("sink").unwrap().tx_packets;
    assert!(
        (495..=500).contains(&sent),
        "{sent} packets in 0.5 s at 1000 pps"
    );
}

/// A paced generator that is polled late (the OS descheduled it) makes up
/// for the lost time, up to 10 ms of it, instead of falling short.
#[test]
fn generator_rate_catches_up_after_a_late_poll() {
    let clock = ManualClock::new();
    let mut g = Graph::new();
    let config = GeneratorConfig {
        rate: 100_000,
        ..Default::default()
    };
    let src = g.add_port("gen", "generator", Generator::new(config).unwrap());
    let sink = g.add_port("sink", "sink", Sink::new(Check::None));
    g.chain(&[src, sink]);
    let mut rt = Runtime::with_clock(g, RuntimeConfig::default(), Box::new(clock.clone())).unwrap();
    // Polled every 5 ms (500 packets due each time), as the runtime does
    // while there is work: until a round finds none.
    for _ in 0..100 {
        clock.advance(Duration::from_millis(5));
        while rt.run_once() > 0 {}
    }
    let sent = rt.stats().node("sink").unwrap().tx_packets;
    assert!(
        (49_500..=50_000).contains(&sent),
        "{sent} packets in 0.5 s at 100k pps"
    );
    // A stall longer than the catch-up credit is not made up in full.
    clock.advance(Duration::from_millis(100));
    while rt.run_once() > 0 {}
    let after = rt.stats().node("sink").unwrap().tx_packets - sent;
    assert!(
        (1_000..=1_100).contains(&after),
        "{after} packets after a 100 ms stall (10 ms credit)"
    );
}

#[test]
fn pcap_roundtrip_both_formats() {
    let dir = std::env::temp_dir().join(format!("netfn-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let frames = collect(GeneratorConfig {
        flows: 7,
        tcp: 1,
        count: 300,
        sizes: vec![(64, 1), (1000, 1)],
        ..Default::default()
    });
    for (format, name) in [(Format::Pcap, "a.pcap"), (Format::PcapNg, "a.pcapng")] {
        let path = dir.join(name);
        let mut g = Graph::new();
        let src = g.add_port(
            "gen",
            "feed",
            netfn_core::testing::FeedPort::new(frames.clone()),
        );
        let out = g.add_port("out", "pcap_out", PcapSink::create(&path, format).unwrap());
        g.chain(&[src, out]);
        let mut rt = Runtime::new(g, RuntimeConfig::default()).unwrap();
        rt.run(&RunLimits::default());
        rt.finish().unwrap();
        assert_eq!(read_frames(&path).unwrap(), frames, "{name}");

        // And back in through pcap_in.
        let mut g = Graph::new();
        let src = g.add_port("in", "pcap_in", PcapSource::open(&path).unwrap());
        let sink = CollectPort::new();
        let got = sink.frames.clone();
        let dst = g.add_port("out", "collect", sink);
        g.chain(&[src, dst]);
        Runtime::new(g, RuntimeConfig::default())
            .unwrap()
            .run(&RunLimits::default());
        assert_eq!(*got.borrow(), frames);
    }
    let plain = dir.join("plain.pcap");
    write_frames(&plain, &frames).unwrap();
    assert_eq!(read_frames(&plain).unwrap(), frames);
    std::fs::write(dir.join("junk.pcap"), b"this is not a capture").unwrap();
    let err = PcapSource::open(&dir.join("junk.pcap")).unwrap_err();
    assert!(
        err.to_string().contains("not a pcap or pcapng capture"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn paced_replay_follows_capture_timestamps() {
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    let dir = std::env::temp_dir().join(format!("netfn-paced-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("paced.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    for i in 0..10u64 {
        let ts = Duration::from_secs(1_000) + Duration::from_millis(100 * i);
        w.write_packet(&PcapPacket::new(ts, 60, &[i as u8; 60]))
            .unwrap();
    }
    drop(w);
    let clock = ManualClock::new();
    let mut g = Graph::new();
    let src = g.add_port("in", "pcap_in", PcapSource::open(&path).unwrap().paced(2.0));
    let sink = CollectPort::new();
    let got = sink.frames.clone();
    let dst = g.add_port("out", "collect", sink);
    g.chain(&[src, dst]);
    let mut rt = Runtime::with_clock(g, RuntimeConfig::default(), Box::new(clock.clone())).unwrap();
    rt.run_once();
    assert_eq!(got.borrow().len(), 1, "only the first packet is due at t=0");
    clock.advance(Duration::from_millis(200)); // = 400 ms of capture time at 2x
    rt.run_once();
    assert_eq!(got.borrow().len(), 5);
    clock.advance(Duration::from_millis(300));
    rt.run_once();
    assert_eq!(got.borrow().len(), 10);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn queue_keeps_order_and_bounds_length() {
    let mut g = Graph::new();
    let src = g.add_port(
        "src",
        "feed",
        netfn_core::testing::FeedPort::new((0..100u8).map(|i| vec![i; 60])),
    );
    let q = g.add_port("q", "queue", Queue::new(40));
    let sink = CollectPort::new();
    let got = sink.frames.clone();
    let dst = g.add_port("out", "collect", sink);
    g.connect(src, 0, q, 0).connect(q, 0, dst, 0);
    let config = RuntimeConfig {
        batch_size: 64,
        ..Default::default()
    };
    let mut rt = Runtime::new(g, config).unwrap();
    rt.run(&RunLimits::default());
    let firsts: Vec<u8> = got.borrow().iter().map(|f| f[0]).collect();
    let mut sorted = firsts.clone();
    sorted.sort_unstable();
    assert_eq!(firsts, sorted, "FIFO order");
    let q = rt.stats().node("q").unwrap();
    assert_eq!(
        q.drops_for(DropReason::QueueFull) as usize + firsts.len(),
        100
    );
    assert!(q.drops_for(DropReason::QueueFull) > 0);
}

#[test]
fn pcap_kind_replays_at_a_fractional_multiple_of_the_recorded_pace() {
    use netfn_core::config::{Params, Value};
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    let dir = std::env::temp_dir().join(format!("netfn-pace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("paced.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    for i in 0..10u64 {
        let ts = Duration::from_secs(1_000) + Duration::from_millis(100 * i);
        w.write_packet(&PcapPacket::new(ts, 60, &[i as u8; 60]))
            .unwrap();
    }
    drop(w);
    let params = |read: &str, write: &str, pace: &str| {
        Params::new()
            .with("read", Value::Str(read.to_string().into()))
            .with("write", Value::Str(write.to_string().into()))
            .with("pace", Value::Str(pace.to_string().into()))
            .with("repeat", Value::Int(1))
            .with("format", Value::Word("pcap".into()))
    };
    let p = path.to_str().unwrap();
    let port = netfn_ports::pcap::pcap_port(&params(p, "-", "0.5")).unwrap();
    let clock = ManualClock::new();
    let mut g = Graph::new();
    let src = g.add_boxed_port("in", "pcap", port);
    let sink = CollectPort::new();
    let got = sink.frames.clone();
    let dst = g.add_port("out", "collect", sink);
    g.chain(&[src, dst]);
    let mut rt = Runtime::with_clock(g, RuntimeConfig::default(), Box::new(clock.clone())).unwrap();
    rt.run_once();
    assert_eq!(got.borrow().len(), 1);
    clock.advance(Duration::from_millis(400)); // = 200 ms of capture time at 0.5x
    rt.run_once();
    assert_eq!(got.borrow().len(), 3);

    for (read, write, pace, want) in [
        (p, "-", "fast", "`fast`: expected a multiple"),
        (p, "-", "-1", "expected a multiple"),
        ("-", "-", "0", "give `read"),
        (p, "/tmp/x.pcap", "0", "not both"),
    ] {
        let Err(err) = netfn_ports::pcap::pcap_port(&params(read, write, pace)) else {
            panic!("{read} {write} {pace} accepted");
        };
        assert!(err.to_string().contains(want), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `sink(latency = true)` measures the time since the generator stamped a
/// packet: packets held in a queue across a 5 ms pause show at least that,
/// and nothing is measured during the warm-up.
#[test]
fn sink_measures_latency_from_precise_generator_timestamps() {
    let build = |warmup: Duration| {
        let mut g = Graph::new();
        // The queue is added first so it is polled before the generator:
        // what the generator puts into it waits for the next round.
        let q = g.add_port("q", "queue", Queue::new(1024));
        let config = GeneratorConfig {
            count: 64,
            precise_timestamp: true,
            ..Default::default()
        };
        let src = g.add_port("gen", "generator", Generator::new(config).unwrap());
        let sink = g.add_port("sink", "sink", Sink::new(Check::None).with_latency(warmup));
        g.connect(src, 0, q, 0).connect(q, 0, sink, 0);
        let config = RuntimeConfig {
            batch_size: 32,
            ..Default::default()
        };
        let clock = ManualClock::new();
        let rt = Runtime::with_clock(g, config, Box::new(clock.clone())).unwrap();
        (rt, clock)
    };
    let (mut rt, _clock) = build(Duration::ZERO);
    for _ in 0..4 {
        rt.run_once();
        std::thread::sleep(Duration::from_millis(5));
    }
    rt.refresh_extra_counters();
    let s = rt.stats().node("sink").unwrap();
    assert_eq!(s.tx_packets, 64);
    assert_eq!(s.counter("latency_samples"), Some(64), "{:?}", s.extra);
    let p50 = s.counter("latency_p50_ns").unwrap();
    let max = s.counter("latency_max_ns").unwrap();
    assert!(p50 >= 5_000_000 && max < 2_000_000_000, "{:?}", s.extra);
    assert!(s.counter("latency_p999_ns").unwrap() <= max);

    // Runtime clock (manual, at 0) still inside the warm-up: not measured.
    let (mut rt, _clock) = build(Duration::from_secs(1));
    for _ in 0..4 {
        rt.run_once();
    }
    rt.refresh_extra_counters();
    let s = rt.stats().node("sink").unwrap();
    assert_eq!(s.tx_packets, 64);
    assert_eq!(s.counter("latency_samples"), Some(0), "{:?}", s.extra);
}
