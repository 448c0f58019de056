//! `firewall`: a packet filter with first-match rules and optional
//! connection tracking, in the manner of pf and ipfw.
//!
//! Rules come from files (`rules`, see [`rules`] for the syntax) and inline
//! strings (`rule`), in that order; the first rule that matches a packet
//! decides (allow or deny), else the `default` policy. Each rule counts the
//! packets and bytes (from the network header on) it decided, reported as
//! `rule[N].packets` / `rule[N].bytes` (N counts rules from 1, files first)
//! through [`Nf::counters`]. Denied packets are dropped as `policy-deny`.
//!
//! Matching is done by a tuple-space classifier ([`classifier`]), so 1,000s
//! of rules cost about what 10 do; `netfn bench firewall` measures that.
//!
//! With `stateful = true` ([`conntrack`]), allow rules keep state (unless
//! they say `no state`): packets of a tracked connection, in both
//! directions, pass before any rule is consulted (pf's `keep state`), and
//! count on the rule that allowed the connection. ICMP errors about a
//! tracked connection pass as related. A TCP segment other than a SYN that
//! an allow rule would admit but that has no connection is dropped as
//! `no-state` (only SYNs open connections, as pf's `flags S/SA`), as is a
//! new connection when the table is full (`state_table_full`); segments
//! invalid for their connection's state are dropped as `policy-deny`
//! (`state_invalid`). Connections survive a reload ([`Nf::adopt`]) even if
//! the new rules would no longer allow them (as pf without `-F states`);
//! their counters move to the rule with the same text.
//!
//! **Ports.** With `ports = N` the firewall has N inputs and N outputs:
//! what enters on input `i` and is allowed leaves on output `i`, all ports
//! sharing the rules and the connection table. `ports = 2` is the usual
//! two-legged firewall (inside on 0, outside on 1): a connection the rules
//! open from inside lets its replies in on port 1, and nothing else gets in.
//!
//! Non-IP frames follow `non_ip` (pass by default); malformed IP packets,
//! and TCP/UDP/ICMP headers too short to check (RFC 1858 tiny fragments),
//! are dropped as `malformed`. Non-first fragments carry no ports: they
//! match only rules without ports, ICMP types or flags, and are not tracked.

pub mod classifier;
pub mod conntrack;
pub mod rules;

use std::net::IpAddr;

use netfn_core::config::{
    Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params, Value,
};
use netfn_core::{Batch, Ctx, DropReason, FlowKey, Nf, Verdict};
use netfn_wire::{
    EtherType, Header, Icmpv4Packet, Icmpv6Packet, Ipv4, Ipv4Packet, Ipv6, Ipv6Packet, Tcp,
    TcpPacket, UdpPacket,
};

use crate::frame::{BadHeader, locate_l3};
use classifier::Classifier;
use conntrack::{Conntrack, NO_RULE, NotCreated, Segment, Timeouts, Tracked};
use rules::{Action, Fields, PROTO_ICMP, PROTO_ICMP6, PROTO_TCP, PROTO_UDP, Rule, addr_bits};

/// The configuration of a [`Firewall`].
#[derive(Debug, Clone)]
pub struct FirewallConfig {
    pub rules: Vec<Rule>,
    /// What happens to packets no rule matches.
    pub default: Action,
    pub stateful: bool,
    /// Connection table capacity.
    pub connections: usize,
    pub timeouts: Timeouts,
    /// Drop (rather than pass) frames that are not IPv4 or IPv6.
    pub drop_non_ip: bool,
    /// Ports: what enters on input `i` leaves on output `i`; all share the
    /// rules and the connection table.
    pub ports: u16,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        FirewallConfig {
            rules: Vec::new(),
            default: Action::Deny,
            stateful: false,
            connections: 65_536,
            timeouts: Timeouts::default(),
            drop_non_ip: false,
            ports: 1,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    allowed: u64,
    denied: u64,
    default_packets: u64,
    default_bytes: u64,
    state_hits: u64,
    state_new: u64,
    state_invalid: u64,
    state_table_full: u64,
    state_expired: u64,
    no_state: u64,
    related: u64,
    fragments: u64,
    non_ip: u64,
    malformed: u64,
}

/// The firewall NF (see the module docs).
#[derive(Debug)]
pub struct Firewall {
    rules: Vec<Rule>,
    actions: Vec<Action>,
    /// Per rule: keeps state for what it allows.
    keeps_state: Vec<bool>,
    classifier: Classifier,
    default: Action,
    drop_non_ip: bool,
    conntrack: Option<Conntrack>,
    ports: u16,
    /// (packets, bytes) per rule.
    hits: Vec<(u64, u64)>,
    counters: Counters,
}

/// What a packet is, for the rules and the connection table.
#[derive(Debug, Clone, Copy)]
struct Parsed {
    fields: Fields,
    key: FlowKey,
    /// The quoted header of an ICMP error, if it has one we can read.
    inner: Option<FlowKey>,
    fragment: bool,
}

impl Firewall {
    pub fn new(config: FirewallConfig) -> Result<Firewall, ConfigError> {
        if !config.stateful
            && let Some(r) = config.rules.iter().find(|r| r.keep_state == Some(true))
        {
            return Err(ConfigError::param(
                "stateful",
                format!(
                    "{}: `keep state` needs stateful = true (rule `{}`)",
                    r.origin, r.text
                ),
            ));
        }
        let keeps_state = config
            .rules
            .iter()
            .map(|r| config.stateful && r.action == Action::Allow && r.keep_state != Some(false))
            .collect();
        Ok(Firewall {
            classifier: Classifier::new(&config.rules),
            actions: config.rules.iter().map(|r| r.action).collect(),
            keeps_state,
            hits: vec![(0, 0); config.rules.len()],
            rules: config.rules,
            default: config.default,
            drop_non_ip: config.drop_non_ip,
            conntrack: config
                .stateful
                .then(|| Conntrack::new(config.connections, config.timeouts)),
            ports: config.ports.max(1),
            counters: Counters::default(),
        })
    }

    /// Builds from validated graph parameters (see [`SPECS`]).
    pub fn from_params(p: &Params) -> Result<Firewall, ConfigError> {
        let mut rules = Vec::new();
        for v in p.list("rules")? {
            let Value::Str(path) = v else {
                return Err(ConfigError::param(
                    "rules",
                    format!("expected a file path, found `{v}`"),
                ));
            };
            let text = std::fs::read_to_string(path.as_ref()).map_err(|e| {
                ConfigError::param("rules", format!("cannot read rules file {path}: {e}"))
            })?;
            let parsed = rules::parse_rules(&text, path)
                .map_err(|e| ConfigError::param("rules", format!("{path}:{e}")))?;
            rules.extend(parsed);
        }
        for (i, v) in p.list("rule")?.iter().enumerate() {
            let Value::Str(text) = v else {
                return Err(ConfigError::param(
                    "rule",
                    format!("item {}: expected a string, found `{v}`", i + 1),
                ));
            };
            let origin = format!("rule[{}]", i + 1);
            match rules::parse_line(text, 1, &origin) {
                Ok(Some(r)) => rules.push(r),
                Ok(None) => {}
                Err(e) => {
                    return Err(ConfigError::param(
                        "rule",
                        format!("item {} \"{text}\", column {}: {}", i + 1, e.col, {
                            let s = e.to_string();
                            s.split_once(": ").map_or(s.clone(), |(_, m)| m.to_string())
                        }),
                    ));
                }
            }
        }
        let config = FirewallConfig {
            rules,
            default: if p.str("default")? == "allow" {
                Action::Allow
            } else {
                Action::Deny
            },
            stateful: p.bool("stateful")?,
            connections: p.int("connections")? as usize,
            timeouts: Timeouts {
                tcp_established: p.duration("tcp_established")?,
                udp_unreplied: p.duration("udp_unreplied")?,
                udp_replied: p.duration("udp_timeout")?,
                icmp: p.duration("icmp_timeout")?,
                other: p.duration("other_timeout")?,
                tcp_loose: p.bool("tcp_loose")?,
            },
            drop_non_ip: p.str("non_ip")? == "drop",
            ports: p.int("ports")? as u16,
        };
        for (name, d) in [
            ("tcp_established", config.timeouts.tcp_established),
            ("udp_unreplied", config.timeouts.udp_unreplied),
            ("udp_timeout", config.timeouts.udp_replied),
            ("icmp_timeout", config.timeouts.icmp),
            ("other_timeout", config.timeouts.other),
        ] {
            if d.is_zero() {
                return Err(ConfigError::param(name, "must be above 0 (e.g. 30s, 2h)"));
            }
        }
        Firewall::new(config)
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// (packets, bytes) decided by rule `i` (0-based).
    pub fn rule_hits(&self, i: usize) -> (u64, u64) {
        self.hits.get(i).copied().unwrap_or_default()
    }

    /// The classifier (for benchmarks and tests).
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// Tracked connections (0 when stateless).
    pub fn connections(&self) -> usize {
        self.conntrack.as_ref().map_or(0, Conntrack::len)
    }

    /// The connection state of the flow a packet with this key belongs to.
    pub fn connection_state(&self, key: &FlowKey) -> Option<conntrack::State> {
        self.conntrack.as_ref()?.state_of(key)
    }

    fn count(&mut self, rule: Option<usize>, bytes: u64) {
        match rule.and_then(|r| self.hits.get_mut(r)) {
            Some(h) => {
                h.0 += 1;
                h.1 += bytes;
            }
            None => {
                self.counters.default_packets += 1;
                self.counters.default_bytes += bytes;
            }
        }
    }

    fn handle(&mut self, frame: &[u8], now: u64) -> Verdict {
        let Some((ethertype, l3)) = locate_l3(frame) else {
            return self.non_ip();
        };
        let parsed = match ethertype {
            EtherType::Ipv4 => parse_ipv4(&frame[l3..]),
            EtherType::Ipv6 => parse_ipv6(&frame[l3..]),
            _ => return self.non_ip(),
        };
        let Some(p) = parsed else {
            self.counters.malformed += 1;
            return Verdict::drop(DropReason::Malformed);
        };
        let bytes = (frame.len() - l3) as u64;
        if p.fragment {
            self.counters.fragments += 1;
        }
        let seg = Segment {
            key: p.key,
            tcp_flags: p.fields.tcp_flags,
            icmp_type: p.fields.icmp_type,
            l4: p.fields.l4,
        };
        if let Some(ct) = &mut self.conntrack {
            match ct.track(&seg, now) {
                Tracked::Pass(rule) => {
                    self.counters.state_hits += 1;
                    self.counters.allowed += 1;
                    if rule != NO_RULE {
                        self.count(Some(rule as usize), bytes);
                    }
                    return Verdict::PASS;
                }
                Tracked::Invalid => {
                    self.counters.state_invalid += 1;
                    self.counters.denied += 1;
                    return Verdict::drop(DropReason::PolicyDeny);
                }
                Tracked::New => {}
            }
            // An ICMP error back to the sender of a tracked connection.
            if let Some(inner) = p.inner
                && inner.src == p.key.dst
                && ct.related(&inner).is_some()
            {
                self.counters.related += 1;
                self.counters.allowed += 1;
                return Verdict::PASS;
            }
        }
        let rule = self.classifier.classify(&p.fields);
        self.count(rule, bytes);
        let action = rule.map_or(self.default, |r| self.actions[r]);
        if action == Action::Deny {
            self.counters.denied += 1;
            return Verdict::drop(DropReason::PolicyDeny);
        }
        if let (Some(r), Some(ct)) = (rule, &mut self.conntrack)
            && self.keeps_state[r]
        {
            match ct.create(&seg, r as u32, now) {
                Ok(()) => self.counters.state_new += 1,
                Err(NotCreated::Untracked) => {}
                Err(NotCreated::NotOpener) => {
                    self.counters.no_state += 1;
                    self.counters.denied += 1;
                    return Verdict::drop(DropReason::NoState);
                }
                Err(NotCreated::Full) => {
                    self.counters.state_table_full += 1;
                    self.counters.denied += 1;
                    return Verdict::drop(DropReason::NoState);
                }
            }
        }
        self.counters.allowed += 1;
        Verdict::PASS
    }

    fn non_ip(&mut self) -> Verdict {
        self.counters.non_ip += 1;
        if self.drop_non_ip {
            Verdict::drop(DropReason::PolicyDeny)
        } else {
            Verdict::PASS
        }
    }
}

/// The fields the rules match on, for a frame behind Ethernet and up to two
/// VLAN tags: `Ok(None)` for a frame that is not IPv4 or IPv6, `Err` for an
/// IP or transport header too short or invalid to check (the `classifier`
/// NF matches with the same rules and classifier as the firewall).
pub fn packet_fields(frame: &[u8]) -> Result<Option<Fields>, BadHeader> {
    let Some((ethertype, l3)) = locate_l3(frame) else {
        return Ok(None);
    };
    let parsed = match ethertype {
        EtherType::Ipv4 => parse_ipv4(&frame[l3..]),
        EtherType::Ipv6 => parse_ipv6(&frame[l3..]),
        _ => return Ok(None),
    };
    parsed.map(|p| Some(p.fields)).ok_or(BadHeader)
}

/// Fills the transport fields; `None` if the header is too short to check.
fn parse_l4(
    proto: u8,
    v6: bool,
    l4: &[u8],
    f: &mut Fields,
    key: &mut FlowKey,
) -> Option<Option<FlowKey>> {
    let mut inner = None;
    match proto {
        PROTO_TCP => {
            Tcp::check(l4).ok()?;
            let tcp = TcpPacket::new_unchecked(l4);
            (f.sport, f.dport, f.tcp_flags) = (tcp.src_port(), tcp.dst_port(), tcp.flags().bits());
        }
        PROTO_UDP => {
            // Not `Udp::check`: a first fragment is shorter than its length
            // field says; the ports are all we need.
            if l4.len() < netfn_wire::udp::HEADER_LEN {
                return None;
            }
            let udp = UdpPacket::new_unchecked(l4);
            (f.sport, f.dport) = (udp.src_port(), udp.dst_port());
        }
        PROTO_ICMP if !v6 => {
            let icmp = Icmpv4Packet::new_checked(l4).ok()?;
            f.icmp_type = icmp.msg_type().into();
            f.icmp_code = icmp.code();
            if matches!(f.icmp_type, 0 | 8) {
                (key.src_port, key.dst_port) = (icmp.echo_ident(), icmp.echo_ident());
            } else if matches!(f.icmp_type, 3 | 4 | 5 | 11 | 12) {
                inner = quoted_ipv4(icmp.payload());
            }
        }
        PROTO_ICMP6 if v6 => {
            let icmp = Icmpv6Packet::new_checked(l4).ok()?;
            f.icmp_type = icmp.msg_type().into();
            f.icmp_code = icmp.code();
            if matches!(f.icmp_type, 128 | 129) {
                (key.src_port, key.dst_port) = (icmp.echo_ident(), icmp.echo_ident());
            } else if matches!(f.icmp_type, 1..=4) {
                inner = quoted_ipv6(icmp.payload());
            }
        }
        _ => return Some(None),
    }
    f.l4 = true;
    if proto == PROTO_TCP || proto == PROTO_UDP {
        (key.src_port, key.dst_port) = (f.sport, f.dport);
    }
    Some(inner)
}

fn parse_ipv4(ip: &[u8]) -> Option<Parsed> {
    let ext = Ipv4::check(ip).ok()?;
    let ip = &ip[..ext.end];
    let pkt = Ipv4Packet::new_unchecked(ip);
    let proto: u8 = pkt.protocol().into();
    let (src, dst) = (IpAddr::from(pkt.src_addr()), IpAddr::from(pkt.dst_addr()));
    let mut f = Fields {
        v6: false,
        src: addr_bits(src).1,
        dst: addr_bits(dst).1,
        proto,
        ..Fields::default()
    };
    let mut key = FlowKey {
        src,
        dst,
        src_port: 0,
        dst_port: 0,
        protocol: proto,
    };
    let inner = if pkt.is_first_fragment() {
        parse_l4(proto, false, &ip[ext.header_len..], &mut f, &mut key)?
    } else {
        None
    };
    Some(Parsed {
        fields: f,
        key,
        inner,
        fragment: pkt.is_fragment(),
    })
}

fn parse_ipv6(ip: &[u8]) -> Option<Parsed> {
    let ext = Ipv6::check(ip).ok()?;
    let ip = &ip[..ext.end];
    let pkt = Ipv6Packet::new_unchecked(ip);
    let (proto, at) = pkt.upper_layer().ok()?;
    let proto: u8 = proto.into();
    let (src, dst) = (IpAddr::from(pkt.src_addr()), IpAddr::from(pkt.dst_addr()));
    let mut f = Fields {
        v6: true,
        src: addr_bits(src).1,
        dst: addr_bits(dst).1,
        proto,
        ..Fields::default()
    };
    let mut key = FlowKey {
        src,
        dst,
        src_port: 0,
        dst_port: 0,
        protocol: proto,
    };
    let inner = if pkt.is_first_fragment() {
        parse_l4(proto, true, ip.get(at..)?, &mut f, &mut key)?
    } else {
        None
    };
    Some(Parsed {
        fields: f,
        key,
        inner,
        fragment: pkt.is_fragment(),
    })
}

/// Ports (or echo identifier) of a quoted transport header, which an ICMP
/// error cuts short (RFC 792: 8 bytes at least).
fn quoted_ports(proto: u8, l4: &[u8]) -> Option<(u16, u16)> {
    match proto {
        PROTO_TCP | PROTO_UDP => {
            let udp = UdpPacket::new_unchecked(l4.get(..4)?);
            Some((udp.src_port(), udp.dst_port()))
        }
        PROTO_ICMP => {
            let icmp = Icmpv4Packet::new_unchecked(l4.get(..8)?);
            let id = icmp.echo_ident();
            matches!(u8::from(icmp.msg_type()), 0 | 8).then_some((id, id))
        }
        PROTO_ICMP6 => {
            let icmp = Icmpv6Packet::new_unchecked(l4.get(..8)?);
            let id = icmp.echo_ident();
            matches!(u8::from(icmp.msg_type()), 128 | 129).then_some((id, id))
        }
        _ => Some((0, 0)),
    }
}

/// The 5-tuple of the IPv4 header an ICMP error quotes.
fn quoted_ipv4(quote: &[u8]) -> Option<FlowKey> {
    if quote.len() < netfn_wire::ipv4::HEADER_LEN {
        return None;
    }
    let ip = Ipv4Packet::new_unchecked(quote);
    let hl = ip.header_len();
    if ip.version() != 4 || hl < netfn_wire::ipv4::HEADER_LEN || !ip.is_first_fragment() {
        return None;
    }
    let proto: u8 = ip.protocol().into();
    let (src_port, dst_port) = quoted_ports(proto, quote.get(hl..)?)?;
    Some(FlowKey {
        src: ip.src_addr().into(),
        dst: ip.dst_addr().into(),
        src_port,
        dst_port,
        protocol: proto,
    })
}

/// The 5-tuple of the IPv6 header an ICMPv6 error quotes.
fn quoted_ipv6(quote: &[u8]) -> Option<FlowKey> {
    if quote.len() < netfn_wire::ipv6::HEADER_LEN {
        return None;
    }
    let ip = Ipv6Packet::new_unchecked(quote);
    if ip.version() != 6 {
        return None;
    }
    let (proto, at) = ip.upper_layer().ok()?;
    let proto: u8 = proto.into();
    let (src_port, dst_port) = quoted_ports(proto, quote.get(at..)?)?;
    Some(FlowKey {
        src: ip.src_addr().into(),
        dst: ip.dst_addr().into(),
        src_port,
        dst_port,
        protocol: proto,
    })
}

impl Nf for Firewall {
    fn process(&mut self, input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        if let Some(ct) = &mut self.conntrack {
            self.counters.state_expired += ct.expire(now) as u64;
        }
        let (packets, verdicts) = batch.split_mut();
        for (pkt, verdict) in packets.iter_mut().zip(verdicts.iter_mut()) {
            *verdict = self.handle(pkt.data(), now);
        }
        if input > 0 {
            // Allowed packets leave on the output of their input's port
            // (the arity makes `input` < `ports`).
            let out = Verdict::forward(input.min(usize::from(self.ports) - 1) as u16);
            for v in verdicts.iter_mut().filter(|v| **v == Verdict::PASS) {
                *v = out;
            }
        }
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let c = &self.counters;
        report("rules", self.rules.len() as u64);
        report("tuples", self.classifier.tuples() as u64);
        report("allowed", c.allowed);
        report("denied", c.denied);
        report("default.packets", c.default_packets);
        report("default.bytes", c.default_bytes);
        if let Some(ct) = &self.conntrack {
            report("state_active", ct.len() as u64);
            report("state_hits", c.state_hits);
            report("state_new", c.state_new);
            report("state_expired", c.state_expired);
            report("state_invalid", c.state_invalid);
            report("state_table_full", c.state_table_full);
            report("no_state", c.no_state);
            report("related", c.related);
        }
        report("fragments", c.fragments);
        report("non_ip", c.non_ip);
        report("malformed", c.malformed);
        for (i, (packets, bytes)) in self.hits.iter().enumerate() {
            report(&format!("rule[{}].packets", i + 1), *packets);
            report(&format!("rule[{}].bytes", i + 1), *bytes);
        }
    }

    /// On a reload: rule counters follow the rule text; connections are
    /// kept (the rule that allowed each is found again by its text).
    fn adopt(&mut self, old: Box<dyn Nf>) {
        let Some(old) = netfn_core::nf::downcast::<Firewall>(old) else {
            return;
        };
        let old = *old;
        let mut by_text = std::collections::HashMap::new();
        for (i, r) in self.rules.iter().enumerate().rev() {
            by_text.insert(r.text.as_str(), i as u32);
        }
        let remap: Vec<u32> = old
            .rules
            .iter()
            .map(|r| by_text.get(r.text.as_str()).copied().unwrap_or(NO_RULE))
            .collect();
        for (j, &i) in remap.iter().enumerate() {
            if i != NO_RULE && self.hits[i as usize] == (0, 0) {
                self.hits[i as usize] = old.hits[j];
            }
        }
        self.counters = old.counters;
        if let (Some(new), Some(old_ct)) = (&mut self.conntrack, &old.conntrack) {
            for (seen, key, mut conn) in old_ct.entries() {
                conn.rule = remap.get(conn.rule as usize).copied().unwrap_or(NO_RULE);
                if !new.restore(seen, key, conn) {
                    self.counters.state_table_full += 1;
                }
            }
        }
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(Firewall::from_params(p)?))
}

const fn duration_param(name: &'static str, default: &'static str, doc: &'static str) -> ParamSpec {
    ParamSpec::optional(name, ParamType::Duration, default, doc)
}

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "firewall",
    doc: "packet filter: first-match allow/deny rules (pf/ipfw-like), optional connection tracking",
    params: &[
        ParamSpec::optional(
            "rules",
            ParamType::List(&ParamType::Path),
            "[]",
            "rules files, one rule per line (e.g. `allow tcp from 10.0.0.0/8 to any port 80,443`)",
        ),
        ParamSpec::optional(
            "rule",
            ParamType::List(&ParamType::Str),
            "[]",
            "inline rules, after the files' (e.g. [\"deny udp from any to 192.0.2.0/24 port 1000-2000\"])",
        ),
        ParamSpec::optional(
            "default",
            ParamType::Word(&["allow", "deny"]),
            "deny",
            "what happens to packets no rule matches",
        ),
        ParamSpec::optional(
            "stateful",
            ParamType::Bool,
            "false",
            "track connections allowed by the rules and pass their packets both ways",
        ),
        ParamSpec::optional(
            "connections",
            ParamType::Int {
                min: 1,
                max: 16_777_216,
            },
            "65536",
            "connection table capacity (when full, new connections are dropped: no-state)",
        ),
        ParamSpec::optional(
            "tcp_loose",
            ParamType::Bool,
            "false",
            "stateful: an ACK without state opens an established connection (Linux's tcp_loose); \
             false: only SYNs do (pf's flags S/SA)",
        ),
        duration_param(
            "tcp_established",
            "2h",
            "idle timeout of an established TCP connection",
        ),
        duration_param(
            "udp_unreplied",
            "30s",
            "idle timeout of a UDP flow before a reply",
        ),
        duration_param(
            "udp_timeout",
            "120s",
            "idle timeout of a UDP flow that has seen a reply",
        ),
        duration_param(
            "icmp_timeout",
            "30s",
            "idle timeout of an ICMP echo exchange",
        ),
        duration_param(
            "other_timeout",
            "600s",
            "idle timeout of other protocols' flows",
        ),
        ParamSpec::optional(
            "ports",
            ParamType::Int { min: 1, max: 64 },
            "1",
            "ports: input i leaves on output i, all sharing the rules and connections \
             (e.g. 2: inside on 0, outside on 1, one connection table for both directions)",
        ),
        ParamSpec::optional(
            "non_ip",
            ParamType::Word(&["pass", "drop"]),
            "pass",
            "what to do with frames that are not IPv4/IPv6 (drop: policy-deny)",
        ),
    ],
    inputs: Arity::FromParam {
        param: "ports",
        extra: 0,
    },
    outputs: Arity::FromParam {
        param: "ports",
        extra: 0,
    },
    build: Build::Nf(build),
}];
