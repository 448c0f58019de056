//! Runtime behaviour: routing by verdict, emit, timers, panic containment,
//! graph checks.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use netfn_core::testing::{CollectPort, FeedPort};
use netfn_core::{
    Batch, Ctx, DropReason, Graph, ManualClock, Nf, RunLimits, Runtime, RuntimeConfig, StopReason,
    Verdict,
};

fn frames(n: u8) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![i; 60]).collect()
}

/// Sends even first bytes to output 0, odd to 1, drops multiples of 5.
struct Split;
impl Nf for Split {
    fn process(&mut self, _input: usize, batch: &mut Batch, _ctx: &mut Ctx<'_>) {
        let (pkts, verdicts) = batch.split_mut();
        for (p, v) in pkts.iter().zip(verdicts) {
            let b = p.data()[0];
            *v = if b % 5 == 0 {
                Verdict::drop(DropReason::Filtered)
            } else {
                Verdict::forward(u16::from(b % 2))
            };
        }
    }
}

#[test]
fn verdicts_route_packets_to_outputs() {
    let mut g = Graph::new();
    let src = g.add_port("src", "feed", FeedPort::new(frames(100)));
    let split = g.add_nf("split", "split", || Split);
    let even = CollectPort::new();
    let odd = CollectPort::new();
    let (ev, od) = (even.frames.clone(), odd.frames.clone());
    let e = g.add_port("even", "collect", even);
    let o = g.add_port("odd", "collect", odd);
    g.connect(src, 0, split, 0)
        .connect(split, 0, e, 0)
        .connect(split, 1, o, 0);
    let mut rt = Runtime::new(g, RuntimeConfig::default()).unwrap();
    assert_eq!(rt.run(&RunLimits::default()), StopReason::SourcesDone);
    let ev: Vec<u8> = ev.borrow().iter().map(|f| f[0]).collect();
    let od: Vec<u8> = od.borrow().iter().map(|f| f[0]).collect();
    assert_eq!(
        ev,
        (0..100)
            .filter(|b| b % 2 == 0 && b % 5 != 0)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        od,
        (0..100)
            .filter(|b| b % 2 == 1 && b % 5 != 0)
            .collect::<Vec<_>>()
    );
    let s = rt.stats().node("split").unwrap();
    assert_eq!((s.rx_packets, s.tx_packets), (100, 80));
    assert_eq!(s.drops_for(DropReason::Filtered), 20);
    assert_eq!(
        rt.pool().available(),
        rt.pool().capacity(),
        "every frame returned"
    );
}

#[test]
fn unconnected_outputs_are_counted_drops() {
    let mut g = Graph::new();
    let src = g.add_port("src", "feed", FeedPort::new(frames(10)));
    let split = g.add_nf("split", "split", || Split);
    let sink = g.add_port("sink", "collect", CollectPort::new());
    g.chain(&[src, split, sink]);
    let mut rt = Runtime::new(g, RuntimeConfig::default()).unwrap();
    rt.run(&RunLimits::default());
    let s = rt.stats().node("split").unwrap();
    assert_eq!(s.drops_for(DropReason::Unconnected), 4); // 1, 3, 7, 9
    assert_eq!(rt.stats().node("sink").unwrap().tx_packets, 4); // 2, 4, 6, 8
}

/// Panics on any packet whose first byte is 13; counts instances built.
struct Fragile;
impl Nf for Fragile {
    fn process(&mut self, _input: usize, batch: &mut Batch, _ctx: &mut Ctx<'_>) {
        for p in batch.iter() {
            assert!(p.data()[0] != 13, "unlucky packet");
        }
    }
}

#[test]
fn panic_is_contained_and_nf_rebuilt() {
    let built = Rc::new(Cell::new(0));
    let b = built.clone();
    let mut g = Graph::new();
    let src = g.add_port("src", "feed", FeedPort::new(frames(64)));
    let nf = g.add_nf("fragile", "fragile", move || {
        b.set(b.get() + 1);
        Fragile
    });
    let sink = CollectPort::new();
    let got = sink.frames.clone();
    let sink = g.add_port("sink", "collect", sink);
    g.chain(&[src, nf, sink]);
    let config = RuntimeConfig {
        batch_size: 8,
        ..RuntimeConfig::default()
    };
    let mut rt = Runtime::new(g, config).unwrap();
    rt.run(&RunLimits::default());
    // The batch holding packet 13 (packets 8..16) is lost; everything else passes.
    let seen: Vec<u8> = got.borrow().iter().map(|f| f[0]).collect();
    assert_eq!(
        seen,
        (0..64).filter(|b| !(8..16).contains(b)).collect::<Vec<_>>()
    );
    let s = rt.stats().node("fragile").unwrap();
    assert_eq!(s.panics, 1);
    assert_eq!(s.drops_for(DropReason::NfPanic), 8);
    assert!(s.last_panic.unwrap().contains("unlucky packet"));
    assert_eq!(built.get(), 2, "built once, rebuilt once");
    assert_eq!(rt.pool().available(), rt.pool().capacity());
}

/// Emits a copy of every packet on output 1 and a heartbeat on a timer.
struct Chatty {
    beats: u8,
}
impl Nf for Chatty {
    fn start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.schedule_every(Duration::from_millis(10));
    }
    fn process(&mut self, _input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        for p in batch.iter() {
            if let Some(c) = p.copy() {
                ctx.emit(1, c);
            }
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_>) {
        self.beats += 1;
        if let Some(p) = ctx.pool().alloc_with(&[0xbe, self.beats]) {
            ctx.emit(1, p);
        }
    }
}

#[test]
fn emitted_packets_and_timers_are_routed() {
    let clock = ManualClock::new();
    let mut g = Graph::new();
    let src = g.add_port("src", "feed", FeedPort::new(frames(40)));
    let nf = g.add_nf("chatty", "chatty", || Chatty { beats: 0 });
    let main = CollectPort::new();
    let side = CollectPort::new();
    let (m, s) = (main.frames.clone(), side.frames.clone());
    let mp = g.add_port("main", "collect", main);
    let sp = g.add_port("side", "collect", side);
    g.connect(src, 0, nf, 0)
        .connect(nf, 0, mp, 0)
        .connect(nf, 1, sp, 0);
    let mut rt = Runtime::with_clock(g, RuntimeConfig::default(), Box::new(clock.clone())).unwrap();
    rt.run_once();
    rt.run_once();
    assert_eq!(m.borrow().len(), 40);
    assert_eq!(s.borrow().len(), 40);
    clock.advance(Duration::from_millis(35));
    rt.run_once();
    let beats: Vec<_> = s.borrow()[40..].to_vec();
    // Deadlines at 10, 20, 30 ms: the missed ones collapse into one firing.
    assert_eq!(beats, vec![vec![0xbe, 1]]);
    clock.advance(Duration::from_millis(10));
    rt.run_once();
    assert_eq!(s.borrow().len(), 42);
    assert_eq!(rt.stats().node("chatty").unwrap().tx_packets, 82);
}

#[test]
fn graph_errors_are_reported() {
    let mut g = Graph::new();
    let a = g.add_nf("a", "split", || Split);
    let b = g.add_nf("b", "split", || Split);
    g.connect(a, 0, b, 0).connect(b, 0, a, 0);
    let err = Runtime::new(g, RuntimeConfig::default()).unwrap_err();
    assert!(err.to_string().contains("cycle without a queue"), "{err}");

    let mut g = Graph::new();
    let a = g.add_nf("a", "split", || Split);
    let b = g.add_nf("b", "split", || Split);
    let c = g.add_nf("c", "split", || Split);
    g.connect(a, 0, b, 0).connect(a, 0, c, 0);
    let err = Runtime::new(g, RuntimeConfig::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("output 0 of `a` is connected twice"),
        "{err}"
    );

    let mut g = Graph::new();
    g.add_nf("a", "split", || Split);
    g.add_nf("a", "split", || Split);
    assert!(Runtime::new(g, RuntimeConfig::default()).is_err());
}

#[test]
fn limits_stop_the_run() {
    let mut g = Graph::new();
    let src = g.add_port(
        "src",
        "feed",
        FeedPort::new((0..1000).map(|i| vec![i as u8; 60])),
    );
    let sink = g.add_port("sink", "collect", CollectPort::new());
    g.chain(&[src, sink]);
    let mut rt = Runtime::new(g, RuntimeConfig::default()).unwrap();
    let limits = RunLimits {
        packets: Some(100),
        ..RunLimits::default()
    };
    assert_eq!(rt.run(&limits), StopReason::Packets);
    assert!(rt.received() >= 100 && rt.received() < 100 + 32);
}

/// Counts packets; hands its count to its successor on a swap.
#[derive(Default)]
struct Tally {
    seen: u64,
}
impl Nf for Tally {
    fn process(&mut self, _input: usize, batch: &mut Batch, _ctx: &mut Ctx<'_>) {
        self.seen += batch.len() as u64;
    }
    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        report("seen", self.seen);
    }
    fn adopt(&mut self, old: Box<dyn Nf>) {
        if let Some(old) = netfn_core::nf::downcast::<Tally>(old) {
            self.seen = old.seen;
        }
    }
}

/// Tags packets by setting their first byte, so the test sees which graph
/// version handled them.
struct Mark(u8);
impl Nf for Mark {
    fn process(&mut self, _input: usize, batch: &mut Batch, _ctx: &mut Ctx<'_>) {
        for p in batch.iter_mut() {
            p.data_mut()[1] = self.0;
        }
    }
}

#[test]
fn swap_keeps_ports_and_state_and_loses_nothing() {
    let frames: Vec<Vec<u8>> = (0..10_000u32)
        .map(|i| [i.to_be_bytes().to_vec(), vec![0; 56]].concat())
        .collect();
    let sink = CollectPort::new();
    let got = sink.frames.clone();
    let mut g = Graph::new();
    let src = g.add_port("src", "feed", FeedPort::new(frames.clone()));
    let tally = g.add_nf("tally", "tally", Tally::default);
    let out = g.add_port("out", "collect", sink);
    g.chain(&[src, tally, out]);
    let config = RuntimeConfig {
        batch_size: 16,
        ..RuntimeConfig::default()
    };
    let mut rt = Runtime::new(g, config).unwrap();
    for _ in 0..100 {
        rt.run_once();
    }
    let before = got.borrow().len();
    assert!(before > 0 && before < frames.len());

    // A graph that references a port that does not run is refused; the old
    // graph keeps running.
    let mut bad = Graph::new();
    let s = bad.keep_port("nosuch", "feed");
    let o = bad.keep_port("out", "collect");
    bad.chain(&[s, o]);
    assert!(rt.swap(bad).is_err());
    rt.run_once();

    // Insert a stage; keep both ports and the tally's state.
    let mut v2 = Graph::new();
    let s = v2.keep_port("src", "feed");
    let m = v2.add_nf("mark", "mark", || Mark(2));
    let t = v2.add_nf("tally", "tally", Tally::default);
    let o = v2.keep_port("out", "collect");
    v2.chain(&[s, m, t, o]);
    assert_eq!(rt.swap(v2).unwrap(), 0);
    rt.run(&RunLimits::default());
    rt.refresh_extra_counters();

    let got = got.borrow();
    assert_eq!(got.len(), frames.len(), "no packet lost");
    // Sequence numbers are below 2^16: bytes 2..4 (byte 1 carries the mark).
    let order: Vec<u16> = got
        .iter()
        .map(|f| u16::from_be_bytes([f[2], f[3]]))
        .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted, "order kept");
    assert!(
        got.iter().any(|f| f[1] == 2) && got.iter().any(|f| f[1] == 0),
        "both versions ran"
    );
    let tally = rt.stats().node("tally").unwrap();
    assert_eq!(
        tally.counter("seen"),
        Some(frames.len() as u64),
        "state carried over"
    );
    assert_eq!(
        tally.rx_packets,
        frames.len() as u64,
        "counters carried over"
    );
}

/// Reports one lost copy per batch.
struct Leaky;
impl Nf for Leaky {
    fn process(&mut self, _input: usize, _batch: &mut Batch, ctx: &mut Ctx<'_>) {
        ctx.count_lost(DropReason::PoolExhausted);
    }
}

#[test]
fn packets_lost_outside_the_batch_are_counted() {
    let mut g = Graph::new();
    let src = g.add_port("src", "feed", FeedPort::new(frames(64)));
    let nf = g.add_nf("leaky", "leaky", || Leaky);
    let sink = g.add_port("sink", "collect", CollectPort::new());
    g.chain(&[src, nf, sink]);
    let mut rt = Runtime::new(
        g,
        RuntimeConfig {
            batch_size: 16,
            ..RuntimeConfig::default()
        },
    )
    .unwrap();
    rt.run(&RunLimits::default());
    let s = rt.stats().node("leaky").unwrap();
    assert_eq!(s.drops_for(DropReason::PoolExhausted), 4);
    assert_eq!(rt.stats().node("sink").unwrap().tx_packets, 64);
}

/// A source that never has anything, waiting on descriptor 42.
struct Quiet;
impl netfn_core::Port for Quiet {
    fn recv(&mut self, _b: &mut Batch, _c: &mut netfn_core::PortCtx<'_>) -> netfn_core::RecvStatus {
        netfn_core::RecvStatus::Ready
    }
    fn send(&mut self, b: &mut Batch, _c: &mut netfn_core::PortCtx<'_>) {
        b.clear();
    }
    fn wait_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(42)
    }
}

#[test]
fn idle_runtime_waits_on_the_sources_descriptors() {
    let mut g = Graph::new();
    let q = g.add_port("q", "quiet", Quiet);
    let out = g.add_port("out", "collect", CollectPort::new());
    g.connect(q, 0, out, 0);
    let mut rt = Runtime::new(g, RuntimeConfig::default()).unwrap();
    let waits = Rc::new(Cell::new(0u32));
    let seen = waits.clone();
    rt.set_idle_wait(Box::new(move |fds, timeout| {
        assert_eq!(fds, &[42]);
        assert!(timeout <= Duration::from_millis(5), "{timeout:?}");
        seen.set(seen.get() + 1);
        std::thread::sleep(timeout);
    }));
    let limits = RunLimits {
        duration: Some(Duration::from_secs(2)),
        ..RunLimits::default()
    };
    assert_eq!(rt.run(&limits), StopReason::Duration);
    // After the spin/yield back-off the runtime waits in slices of up to
    // 5 ms (a busy loop would make millions of rounds instead; on a loaded
    // machine the yields alone may take a while, hence the wide range).
    assert!((1..=1000).contains(&waits.get()), "{} waits", waits.get());
}

/// A sink whose reader went away after `left` packets.
struct Closing {
    left: usize,
}
impl netfn_core::Port for Closing {
    fn recv(&mut self, _b: &mut Batch, _c: &mut netfn_core::PortCtx<'_>) -> netfn_core::RecvStatus {
        netfn_core::RecvStatus::Exhausted
    }
    fn send(&mut self, b: &mut Batch, _c: &mut netfn_core::PortCtx<'_>) {
        let n = b.len().min(self.left);
        self.left -= n;
        b.drain_first(n).for_each(drop);
    }
    fn is_source(&self) -> bool {
        false
    }
    fn is_closed(&self) -> bool {
        self.left == 0
    }
}

#[test]
fn a_closed_output_ends_an_endless_run() {
    // An endless source: the frames come round again and again.
    let mut g = Graph::new();
    let src = g.add_port(
        "src",
        "feed",
        FeedPort::new(std::iter::repeat_n(vec![1u8; 60], 1 << 20)),
    );
    let out = g.add_port("out", "closing", Closing { left: 1000 });
    g.connect(src, 0, out, 0);
    let mut rt = Runtime::new(g, RuntimeConfig::default()).unwrap();
    assert_eq!(rt.run(&RunLimits::default()), StopReason::OutputClosed);
    assert!(rt.received() < 1 << 20);
}
