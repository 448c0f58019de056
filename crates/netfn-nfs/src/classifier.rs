//! `classifier`: splits traffic over outputs by match patterns, like
//! Click's `IPClassifier`. Pattern `k` (0-based) sends what it matches to
//! output `k`; the first matching pattern wins; packets no pattern matches,
//! and frames that are not IP, leave on the output after the last pattern
//! (connect it, or they are dropped as `unconnected`). Malformed IP headers
//! are dropped as `malformed`.
//!
//! Patterns use the firewall's rule syntax without the action word:
//! `tcp to any port 80,443`, `udp from 10.0.0.0/8 port 53`, `inet6 all`,
//! `icmp all icmp-type echoreq`, `all` (see `examples/firewall.rules`), and
//! are matched by the firewall's tuple-space classifier, so hundreds of
//! patterns cost about what a few do.

use netfn_core::config::{
    Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params, Value,
};
use netfn_core::{Batch, Ctx, DropReason, Nf, Verdict};

use crate::firewall::classifier::Classifier as RuleClassifier;
use crate::firewall::packet_fields;
use crate::firewall::rules::parse_line;

/// Most patterns (outputs are patterns + 1).
pub const MAX_PATTERNS: usize = 63;

/// The classifier NF (see the module docs).
#[derive(Debug)]
pub struct Classifier {
    rules: RuleClassifier,
    /// Output of packets no pattern matches.
    other: u16,
    hits: Vec<u64>,
    unmatched: u64,
    non_ip: u64,
    malformed: u64,
}

impl Classifier {
    /// Builds from pattern texts; errors say which pattern and column.
    pub fn new(patterns: &[&str]) -> Result<Classifier, String> {
        if patterns.is_empty() || patterns.len() > MAX_PATTERNS {
            return Err(format!(
                "needs 1 to {MAX_PATTERNS} patterns, got {}",
                patterns.len()
            ));
        }
        // The firewall parser wants an action first: add one, and take its
        // length off the columns it reports.
        const ACTION: &str = "allow ";
        let mut rules = Vec::with_capacity(patterns.len());
        for (i, text) in patterns.iter().enumerate() {
            if text.trim().is_empty() {
                return Err(format!(
                    "pattern {} is empty; write `all` to match every IP packet",
                    i + 1
                ));
            }
            let origin = format!("pattern {}", i + 1);
            match parse_line(&format!("{ACTION}{text}"), i + 1, &origin) {
                Ok(Some(rule)) => rules.push(rule),
                Ok(None) => return Err(format!("pattern {} \"{text}\" holds no match", i + 1)),
                Err(mut e) => {
                    e.col = e.col.saturating_sub(ACTION.len()).max(1);
                    let msg = e.to_string();
                    let rest = msg.split_once(": ").map_or(msg.as_str(), |(_, r)| r);
                    return Err(format!(
                        "pattern {} \"{text}\", column {}: {rest}",
                        i + 1,
                        e.col
                    ));
                }
            }
        }
        Ok(Classifier {
            rules: RuleClassifier::new(&rules),
            other: patterns.len() as u16,
            hits: vec![0; patterns.len()],
            unmatched: 0,
            non_ip: 0,
            malformed: 0,
        })
    }

    /// Builds from validated graph parameters (see [`SPECS`]).
    pub fn from_params(p: &Params) -> Result<Classifier, ConfigError> {
        let mut texts = Vec::new();
        for (i, v) in p.list("patterns")?.iter().enumerate() {
            let Value::Str(t) = v else {
                return Err(ConfigError::param(
                    "patterns",
                    format!("item {}: expected a string, found `{v}`", i + 1),
                ));
            };
            texts.push(t.as_ref());
        }
        Classifier::new(&texts).map_err(|e| ConfigError::param("patterns", e))
    }

    fn classify(&mut self, frame: &[u8]) -> Verdict {
        match packet_fields(frame) {
            Ok(Some(fields)) => match self.rules.classify(&fields) {
                Some(k) => {
                    self.hits[k] += 1;
                    Verdict::forward(k as u16)
                }
                None => {
                    self.unmatched += 1;
                    Verdict::forward(self.other)
                }
            },
            Ok(None) => {
                self.non_ip += 1;
                Verdict::forward(self.other)
            }
            Err(_) => {
                self.malformed += 1;
                Verdict::drop(DropReason::Malformed)
            }
        }
    }
}

impl Nf for Classifier {
    fn process(&mut self, _input: usize, batch: &mut Batch, _ctx: &mut Ctx<'_>) {
        let (packets, verdicts) = batch.split_mut();
        for (pkt, verdict) in packets.iter().zip(verdicts.iter_mut()) {
            *verdict = self.classify(pkt.data());
        }
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        for (k, n) in self.hits.iter().enumerate() {
            report(&format!("pattern[{}]", k + 1), *n);
        }
        report("unmatched", self.unmatched);
        report("non_ip", self.non_ip);
        report("malformed", self.malformed);
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(Classifier::from_params(p)?))
}

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "classifier",
    doc: "Split traffic by patterns (firewall rule syntax without the action): pattern k -> output k, the rest -> the output after the last",
    params: &[ParamSpec::required(
        "patterns",
        ParamType::List(&ParamType::Str),
        "match patterns in order, e.g. [\"tcp to any port 80,443\", \"udp to any port 53\"]; first match wins",
    )],
    inputs: Arity::Exactly(1),
    outputs: Arity::Between(1, MAX_PATTERNS as u16 + 1),
    build: Build::Nf(build),
}];

#[cfg(test)]
mod tests {
    use super::*;
    use netfn_core::testing::Harness;
    use netfn_wire::{MacAddr, PacketBuilder};
    use std::net::Ipv4Addr;

    fn frame(t: netfn_wire::PacketTemplate) -> Vec<u8> {
        let mut buf = vec![0; t.size(8)];
        t.write(&mut buf, &[0; 8]).unwrap();
        buf
    }

    fn eth() -> netfn_wire::EthernetBuilder {
        PacketBuilder::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]))
    }

    #[test]
    fn first_matching_pattern_picks_the_output() {
        let c =
            Classifier::new(&["tcp to any port 80,443", "udp to any port 53", "udp all"]).unwrap();
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 1, 0, 1));
        let web = frame(
            eth()
                .ipv4(a, b, 64)
                .tcp(1234, 443, 1, 0, netfn_wire::TcpFlags::ACK, 1000),
        );
        let dns = frame(eth().ipv4(a, b, 64).udp(1234, 53));
        let ntp = frame(eth().ipv4(a, b, 64).udp(1234, 123));
        let ssh = frame(
            eth()
                .ipv4(a, b, 64)
                .tcp(1234, 22, 1, 0, netfn_wire::TcpFlags::ACK, 1000),
        );
        let mut arp = dns.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        let mut bad = dns.clone();
        bad[14] = 0x41; // IHL 1
        let mut h = Harness::new(c);
        let out = h.process_bytes(0, &[&web, &dns, &ntp, &ssh, &arp, &bad]);
        assert_eq!(out.on(0), vec![web]);
        assert_eq!(out.on(1), vec![dns]);
        assert_eq!(out.on(2), vec![ntp]);
        assert_eq!(out.on(3), vec![ssh, arp]);
        assert_eq!(out.drop_reasons(), vec![DropReason::Malformed]);
    }

    #[test]
    fn pattern_errors_name_the_pattern_and_column() {
        let e = Classifier::new(&["tcp to any port 80", "udp too any"]).unwrap_err();
        assert!(
            e.starts_with("pattern 2 \"udp too any\", column 5: found `too`"),
            "{e}"
        );
        assert!(Classifier::new(&[]).is_err());
    }
}
