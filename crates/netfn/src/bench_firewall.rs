//! `netfn bench firewall`: does the firewall's classifier keep its speed as
//! the rule set grows? One core, 64-byte frames over 10,000 flows from the
//! built-in generator (UDP and TCP, 10 % IPv6), through a stateless
//! `firewall` with N rules into a sink, for several N in one run.
//!
//! Each rule set is N - 2 random rules that match none of the generated
//! traffic, then two that match all of it (`allow from 10.0.0.0/16 to
//! 10.1.0.0/16` and its IPv6 twin), default deny: every packet has to get
//! past every random rule, the worst case for first-match. The random rules
//! mix IPv4 and IPv6 prefixes of every length (or `any`), protocols, single
//! ports, port lists and ranges, TCP flags and ICMP types, with allow and
//! deny. A linear scan would slow down ~500x from 10 to 5000 rules; the
//! ratio column says how far the classifier is from the 10-rule speed.
//!
//! Rounds cycle through the rule counts so machine noise hits all alike;
//! each figure is the median over rounds, each ratio the median of the
//! per-round ratios.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use netfn_core::Graph;
use netfn_nfs::firewall::rules::{self, Action};
use netfn_nfs::firewall::{Firewall, FirewallConfig};
use netfn_ports::{Check, Generator, Sink};
use serde::Serialize;

use crate::bench;
use crate::bench_nfs::{self, median};

#[derive(Debug, Clone, Serialize)]
pub struct RuleSetResult {
    pub rules: usize,
    /// Tuples (distinct field masks) the classifier built.
    pub tuples: usize,
    pub mpps: f64,
    pub ns_per_packet: f64,
    /// Median per-round Mpps divided by the 10-rule (first) set's.
    pub vs_first: f64,
    /// Share of packets dropped: 0 unless a random rule matched.
    pub dropped_share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FirewallReport {
    pub machine: String,
    pub flows: u32,
    pub frame_size: usize,
    pub round_ms: u64,
    pub rounds: usize,
    pub empty_graph_mpps: f64,
    pub sets: Vec<RuleSetResult>,
}

const FLOWS: u32 = 10_000;
/// Generator destination ports (see `netfn_ports::generator`).
const GENERATED_PORTS: [u16; 8] = [80, 443, 53, 8080, 5201, 22, 123, 3306];

fn generator() -> Generator {
    bench_nfs::generator(FLOWS, 10)
}

/// SplitMix64: deterministic rule sets without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A random IPv4 prefix that overlaps neither 10.0.0.0/16 nor 10.1.0.0/16.
fn v4_prefix(rng: &mut Rng) -> String {
    loop {
        let len = 8 + rng.below(25) as u32; // 8..=32
        let addr = (rng.next() as u32) & (!0u32 << (32 - len));
        // Overlaps 10.0.0.0/15 if the shorter of the two prefixes agrees.
        let common = len.min(15);
        if addr >> (32 - common) == 0x0a00_0000u32 >> (32 - common) {
            continue;
        }
        return format!("{}/{len}", Ipv4Addr::from(addr));
    }
}

/// A random IPv6 prefix outside fd00::/16.
fn v6_prefix(rng: &mut Rng) -> String {
    loop {
        let len = 16 + rng.below(113) as u32; // 16..=128
        let addr =
            (u128::from(rng.next()) << 64 | u128::from(rng.next())) & (!0u128 << (128 - len));
        if addr >> 112 == 0xfd00 {
            continue;
        }
        return format!("{}/{len}", Ipv6Addr::from(addr));
    }
}

/// Ports none of the generated flows use (above all the generator's).
fn ports(rng: &mut Rng) -> String {
    let floor = 1 + GENERATED_PORTS.iter().copied().max().unwrap_or(0);
    let port = |rng: &mut Rng| floor + rng.below(u64::from(65_000 - floor)) as u16;
    match rng.below(3) {
        0 => port(rng).to_string(),
        1 => {
            let n = 2 + rng.below(3);
            (0..n)
                .map(|_| port(rng).to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
        _ => {
            let lo = port(rng);
            format!("{lo}-{}", lo.saturating_add(1 + rng.below(500) as u16))
        }
    }
}

/// One random rule that matches no generated packet: a specific address
/// outside the generated networks, or ports / a protocol it does not use.
fn random_rule(rng: &mut Rng) -> String {
    let action = if rng.chance(50) { "allow" } else { "deny" };
    let v6 = rng.chance(20);
    let prefix = |rng: &mut Rng| if v6 { v6_prefix(rng) } else { v4_prefix(rng) };
    let (src, dst) = match rng.below(4) {
        0 => ("any".to_string(), prefix(rng)),
        1 => (prefix(rng), "any".to_string()),
        2 => (prefix(rng), prefix(rng)),
        _ => ("any".to_string(), "any".to_string()),
    };
    let wild = src == "any" && dst == "any";
    let proto = match rng.below(10) {
        0..=3 => "tcp",
        4..=7 => "udp",
        8 => {
            if v6 {
                "icmp6"
            } else {
                "icmp"
            }
        }
        _ if wild => "gre",
        _ => "ip",
    };
    let family = if v6 { "inet6 " } else { "" };
    let mut rule = format!("{action} {family}{proto} from {src}");
    let tcp_udp = proto == "tcp" || proto == "udp";
    if tcp_udp && rng.chance(10) {
        let _ = write!(rule, " port {}", 1024 + rng.below(60_000));
    }
    let _ = write!(rule, " to {dst}");
    // A rule on any-to-any must not match by its ports alone.
    if tcp_udp && (wild || rng.chance(70)) {
        let _ = write!(rule, " port {}", ports(rng));
    }
    if proto == "tcp" && rng.chance(15) {
        rule += " flags S/SA";
    }
    if proto.starts_with("icmp") && rng.chance(50) {
        rule += if v6 {
            " icmp6-type echoreq"
        } else {
            " icmp-type echoreq"
        };
    }
    rule
}

/// `count` rules (at least 2): random ones, then the two that match.
pub fn rule_set(count: usize, seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut text = String::new();
    for _ in 0..count.saturating_sub(2) {
        text += &random_rule(&mut rng);
        text.push('\n');
    }
    text += "allow from 10.0.0.0/16 to 10.1.0.0/16\n";
    text += "allow inet6 from fd00:0:0:1::/64 to fd00:0:0:2::/64\n";
    text
}

fn firewall_config(count: usize) -> FirewallConfig {
    let text = rule_set(count, 0x6669_7265_7761_6c6c);
    let rules = rules::parse_rules(&text, "bench").expect("generated rules parse");
    FirewallConfig {
        rules,
        default: Action::Deny,
        ..FirewallConfig::default()
    }
}

/// Runs generator -> (firewall) -> sink for `round`: (Mpps, dropped share).
fn measure(nf: Option<&FirewallConfig>, round: Duration) -> (f64, f64) {
    let mut g = Graph::new();
    let src = g.add_port("gen", "generator", generator());
    let sink = g.add_port("sink", "sink", Sink::new(Check::None));
    match nf {
        Some(config) => {
            let config = config.clone();
            let fw = g.add_nf("fw", "firewall", move || {
                Firewall::new(config.clone()).expect("valid firewall")
            });
            g.chain(&[src, fw, sink]);
        }
        None => {
            g.chain(&[src, sink]);
        }
    }
    bench_nfs::measure(g, round, nf.map(|_| "fw"))
}

pub fn run(counts: &[usize], round: Duration, rounds: usize) -> FirewallReport {
    let rounds = rounds.max(1);
    // Parsed once; compiled when each round's graph starts.
    let configs: Vec<FirewallConfig> = counts.iter().map(|&n| firewall_config(n)).collect();
    let tuples: Vec<usize> = configs
        .iter()
        .map(|c| {
            Firewall::new(c.clone())
                .expect("valid firewall")
                .classifier()
                .tuples()
        })
        .collect();
    let mut empty = Vec::new();
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new(); counts.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); counts.len()];
    for _ in 0..rounds {
        empty.push(measure(None, round).0);
        let mut first = None;
        for (i, config) in configs.iter().enumerate() {
            let r = measure(Some(config), round);
            let base = *first.get_or_insert(r.0);
            ratios[i].push(r.0 / base);
            runs[i].push(r);
        }
    }
    let sets = counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let mpps = median(runs[i].iter().map(|r| r.0).collect());
            RuleSetResult {
                rules: n,
                tuples: tuples[i],
                mpps,
                ns_per_packet: 1e3 / mpps,
                vs_first: median(ratios[i].clone()),
                dropped_share: median(runs[i].iter().map(|r| r.1).collect()),
            }
        })
        .collect();
    FirewallReport {
        machine: bench::machine_description(),
        flows: FLOWS,
        frame_size: 64,
        round_ms: round.as_millis() as u64,
        rounds,
        empty_graph_mpps: median(empty),
        sets,
    }
}

impl FirewallReport {
    pub fn table(&self) -> String {
        let mut out = format!(
            "firewall (stateless) on one core: 64B frames, {} flows (10% IPv6), median of {} rounds of {} ms ({})\n",
            self.flows, self.rounds, self.round_ms, self.machine
        );
        out += &format!(
            "baseline: empty graph (generator -> sink) {:.2} Mpps; rules = N-2 random non-matching, then 2 matching\n",
            self.empty_graph_mpps
        );
        let first = self.sets.first().map_or(0, |s| s.rules);
        out += &format!(
            "{:>6} {:>7} {:>8} {:>9} {:>9} {:>10}\n",
            "rules",
            "tuples",
            "Mpps",
            "ns/pkt",
            "dropped",
            format!("vs {first}")
        );
        for s in &self.sets {
            out += &format!(
                "{:>6} {:>7} {:>8.2} {:>9.1} {:>8.1}% {:>10.3}\n",
                s.rules,
                s.tuples,
                s.mpps,
                s.ns_per_packet,
                s.dropped_share * 100.0,
                s.vs_first
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The random rules parse and none of them matches the generated
    /// traffic: every packet is decided by the last two rules.
    #[test]
    fn random_rules_do_not_match_generated_traffic() {
        let fw = Firewall::new(firewall_config(1000)).unwrap();
        assert_eq!(fw.rules().len(), 1000);
        let mut source = generator();
        let frames = gen_frames(&mut source, 4096);
        let mut h = netfn_core::testing::Harness::new(fw);
        let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        let out = h.process_bytes(0, &refs);
        assert!(out.dropped.is_empty(), "{:?}", out.drop_reasons());
        let decided = h.nf.rule_hits(998).0 + h.nf.rule_hits(999).0;
        assert_eq!(decided, frames.len() as u64);
        assert!(h.nf.rule_hits(999).0 > 0, "no IPv6 traffic");
    }

    fn gen_frames(source: &mut Generator, n: usize) -> Vec<Vec<u8>> {
        use netfn_core::{Batch, Pool, PoolConfig, Port, PortCtx};
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let mut out = Vec::new();
        let mut batch = Batch::with_capacity(32);
        while out.len() < n {
            let mut ctx = PortCtx::new(&pool, 0, 0);
            source.recv(&mut batch, &mut ctx);
            for (p, _) in batch.drain() {
                out.push(p.data().to_vec());
            }
        }
        out
    }
}
