//! `sigmatch`: signature matching over payloads, an IDS/IPS in the manner
//! of Suricata (the rules are a subset of its syntax, see [`rules`]), with
//! multi-pattern search by Aho-Corasick (Aho & Corasick, CACM 1975; the
//! `aho-corasick` crate's DFA, driven a byte at a time through its
//! `Automaton` API so the search state can be carried between packets).
//!
//! Packet mode (`stream = false`): every IP packet's transport payload is
//! searched on its own. Stream mode (`stream = true`): TCP payloads go
//! through the [`Window`] operator (reassembly by sequence number, per
//! direction) and the automaton state of each direction is carried from
//! chunk to chunk, so a pattern split across segments, also ones that
//! arrived out of order, matches; after a gap in the stream the search
//! restarts. `offset`/`depth` count from the start of the payload (packet
//! mode) or of the stream (stream mode). UDP and ICMP are searched per
//! packet in both modes; rules without `content` match on the header of
//! each packet.
//!
//! Verdicts follow Suricata's default action order (pass, drop, alert):
//! when a `pass` rule matches, the packet passes with no alert (in stream
//! mode, so does the rest of its connection, uninspected); otherwise every
//! matching `alert` and `drop` rule raises one alert per packet, and a
//! matching `drop` rule drops the packet (`signature-match`). In stream
//! mode a drop also drops the rest of the connection, both ways, as an
//! IPS's flow drop; the segment that completed the match is the one
//! dropped (earlier segments have left already). Fragments (other than the
//! first) are not reassembled and pass uninspected; malformed packets pass
//! and are counted.
//!
//! Alerts leave as JSON lines in UDP datagrams on output 1 (the shared
//! exporter, [`crate::export`]), one object a line, time in ns of the
//! runtime clock:
//!
//! ```text
//! {"type":"alert","time_ns":1000,"sid":1001,"rev":1,"msg":"GET admin","action":"alert",
//!  "src":"10.0.0.1","dst":"10.1.0.1","sport":1024,"dport":80,"proto":6,"stream":true}
//! ```
//!
//! `action` is `alert` or `drop`. Per-sid hit counters are `sid_<n>`.

pub mod rules;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind};
use netfn_core::config::{Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params};
use netfn_core::window::{Overlap, StreamEvent, StreamInfo, TcpSegment, WindowConfig, WindowError};
use netfn_core::{Batch, Ctx, DropReason, FlowKey, Nf, Verdict, Window};

use crate::export::{ExportConfig, ExportError, JsonExport, JsonLine};
use crate::frame::{L4, SliceWriter, transport};
use rules::{Action, Rule, RulesError};

/// Most datagrams sent from one `process` call.
const PROCESS_BURST: usize = 64;

/// The configuration of a [`Sigmatch`].
#[derive(Debug, Clone)]
pub struct SigmatchConfig {
    pub rules: Vec<Rule>,
    /// Reassemble TCP and search the streams.
    pub stream: bool,
    /// Reassembly (stream mode); `window` is 0 (chunks).
    pub window: WindowConfig,
    /// Expiry and export period.
    pub interval: Duration,
    pub export: ExportConfig,
}

impl Default for SigmatchConfig {
    fn default() -> Self {
        SigmatchConfig {
            rules: Vec::new(),
            stream: false,
            window: WindowConfig::default(),
            interval: Duration::from_secs(1),
            export: ExportConfig::loopback(9996),
        }
    }
}

/// Why a sigmatch cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SigmatchError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error("interval must be above zero")]
    Interval,
    #[error("cannot build the automaton: {0}")]
    Automaton(#[from] aho_corasick::BuildError),
}

/// An alert on its way out.
#[derive(Debug, Clone)]
struct Alert {
    time_ns: u64,
    /// `"sid":N,"rev":N,"msg":"..."`, escaped once when the rules load.
    rule: Arc<str>,
    action: Action,
    key: FlowKey,
    stream: bool,
}

impl JsonLine for Alert {
    fn write_json(&self, w: &mut SliceWriter<'_>) -> std::fmt::Result {
        let k = &self.key;
        writeln!(
            w,
            "{{\"type\":\"alert\",\"time_ns\":{},{},\"action\":\"{}\",\"src\":\"{}\",\"dst\":\"{}\",\"sport\":{},\"dport\":{},\"proto\":{},\"stream\":{}}}",
            self.time_ns,
            self.rule,
            self.action.name(),
            k.src,
            k.dst,
            k.src_port,
            k.dst_port,
            k.protocol,
            self.stream
        )
    }
}

/// What stream mode keeps per connection.
#[derive(Debug, Clone, Copy, Default)]
struct FlowState {
    /// Automaton states per direction: case-sensitive, then nocase
    /// (`None`: the start state).
    ac: [[Option<StateID>; 2]; 2],
    /// A `drop` (or `pass`) rule matched: the rest of the connection is
    /// dropped (or passed) without inspection.
    verdict: Option<Action>,
}

/// One automaton and the rule of each of its patterns.
#[derive(Debug)]
struct Searcher {
    dfa: DFA,
    start: StateID,
    rule_of: Vec<u32>,
}

impl Searcher {
    fn new(rules: &[Rule], nocase: bool) -> Result<Option<Searcher>, aho_corasick::BuildError> {
        let (rule_of, patterns): (Vec<u32>, Vec<&[u8]>) = rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let c = r.content.as_ref()?;
                (c.nocase == nocase).then_some((i as u32, c.bytes.as_slice()))
            })
            .unzip();
        if patterns.is_empty() {
            return Ok(None);
        }
        let dfa = DFA::builder()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(nocase)
            .build(&patterns)?;
        let start = dfa
            .start_state(Anchored::No)
            .expect("an unanchored DFA has an unanchored start state");
        Ok(Some(Searcher {
            dfa,
            start,
            rule_of,
        }))
    }

    /// Runs the automaton over `data` (stream or payload offset `base`)
    /// from `state`, calling `found(rule, end offset)` for every match.
    #[inline]
    fn scan(
        &self,
        state: &mut Option<StateID>,
        data: &[u8],
        base: u64,
        mut found: impl FnMut(u32, u64),
    ) {
        let mut sid = state.unwrap_or(self.start);
        for (i, &b) in data.iter().enumerate() {
            sid = self.dfa.next_state(Anchored::No, sid, b);
            if self.dfa.is_special(sid) && self.dfa.is_match(sid) {
                for m in 0..self.dfa.match_len(sid) {
                    let pid = self.dfa.match_pattern(sid, m);
                    found(self.rule_of[pid.as_usize()], base + i as u64 + 1);
                }
            }
        }
        *state = Some(sid);
    }
}

/// The rules, their automata and the per-packet match list.
#[derive(Debug)]
struct Matcher {
    rules: Vec<Rule>,
    json: Vec<Arc<str>>,
    /// Case-sensitive and nocase patterns.
    searchers: [Option<Searcher>; 2],
    /// Rules without content (checked on every packet's header).
    header_only: Vec<u32>,
    hits: Vec<u64>,
    /// Rules matched by the current packet (each once: `stamp`).
    matched: Vec<u32>,
    stamp: Vec<u64>,
    packet: u64,
}

impl Matcher {
    fn new(rules: Vec<Rule>) -> Result<Matcher, aho_corasick::BuildError> {
        let searchers = [Searcher::new(&rules, false)?, Searcher::new(&rules, true)?];
        let json = rules.iter().map(|r| rule_json(r).into()).collect();
        let n = rules.len();
        Ok(Matcher {
            header_only: (0..n as u32)
                .filter(|&i| rules[i as usize].content.is_none())
                .collect(),
            json,
            searchers,
            hits: vec![0; n],
            matched: Vec::with_capacity(n),
            stamp: vec![u64::MAX; n],
            packet: 0,
            rules,
        })
    }

    /// Starts the match list of a new packet.
    fn begin(&mut self) {
        self.matched.clear();
        self.packet += 1;
    }

    fn hit(&mut self, rule: u32) {
        let r = rule as usize;
        if self.stamp[r] != self.packet {
            self.stamp[r] = self.packet;
            self.matched.push(rule);
        }
    }

    fn check_headers(&mut self, key: &FlowKey) {
        for i in 0..self.header_only.len() {
            let r = self.header_only[i];
            if self.rules[r as usize].header_matches(key) {
                self.hit(r);
            }
        }
    }

    /// Searches `data` at offset `base` of a payload or stream of `key`.
    fn search(&mut self, key: &FlowKey, states: &mut [Option<StateID>; 2], data: &[u8], base: u64) {
        let Matcher {
            rules,
            searchers,
            matched,
            stamp,
            packet,
            ..
        } = self;
        for (s, state) in searchers.iter().zip(states.iter_mut()) {
            let Some(s) = s else { continue };
            s.scan(state, data, base, |rule, end| {
                let r = &rules[rule as usize];
                let placed = r.content.as_ref().is_some_and(|c| c.placed(end));
                if placed && stamp[rule as usize] != *packet && r.header_matches(key) {
                    stamp[rule as usize] = *packet;
                    matched.push(rule);
                }
            });
        }
    }

    /// Counts a hit for each matched rule that took effect (only the pass
    /// rules when the decision is to pass).
    fn count_hits(&mut self, decision: Action) {
        for &r in &self.matched {
            if decision != Action::Pass || self.rules[r as usize].action == Action::Pass {
                self.hits[r as usize] += 1;
            }
        }
    }

    /// The action for the matched rules (pass, drop, alert in that order),
    /// if any matched.
    fn decision(&self) -> Option<Action> {
        let mut best = None;
        for &r in &self.matched {
            match self.rules[r as usize].action {
                Action::Pass => return Some(Action::Pass),
                Action::Drop => best = Some(Action::Drop),
                Action::Alert => {
                    best.get_or_insert(Action::Alert);
                }
            }
        }
        best
    }
}

/// `"sid":N,"rev":N,"msg":"..."` with the message escaped for JSON.
fn rule_json(r: &Rule) -> String {
    let mut s = format!("\"sid\":{},\"rev\":{},\"msg\":\"", r.sid, r.rev);
    for c in r.msg.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

#[derive(Debug, Default, Clone)]
struct Counters {
    inspected: u64,
    bytes: u64,
    alerts: u64,
    dropped: u64,
    passed: u64,
    flow_dropped: u64,
    non_ip: u64,
    malformed: u64,
    fragments: u64,
}

/// The sigmatch NF (see the module docs).
#[derive(Debug)]
pub struct Sigmatch {
    config: SigmatchConfig,
    m: Matcher,
    window: Option<Window<FlowState>>,
    out: JsonExport<Alert>,
    hit_names: Vec<String>,
    counters: Counters,
}

impl Sigmatch {
    pub fn new(config: SigmatchConfig) -> Result<Sigmatch, SigmatchError> {
        if config.interval.is_zero() {
            return Err(SigmatchError::Interval);
        }
        let mut wc = config.window.clone();
        wc.window = 0;
        let window = if config.stream {
            Some(Window::new(wc)?)
        } else {
            None
        };
        Ok(Sigmatch {
            m: Matcher::new(config.rules.clone())?,
            window,
            out: JsonExport::new(&config.export, 1)?,
            hit_names: config
                .rules
                .iter()
                .map(|r| format!("sid_{}", r.sid))
                .collect(),
            counters: Counters::default(),
            config,
        })
    }

    /// Builds from validated graph parameters (see [`SPECS`]).
    pub fn from_params(p: &Params) -> Result<Sigmatch, ConfigError> {
        let path = p.str("rules")?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::param("rules", format!("cannot read `{path}`: {e}")))?;
        let rules = rules::parse(&text).map_err(|e: RulesError| {
            ConfigError::param(
                "rules",
                format!("{path}:{}:{}: {}", e.line, e.col, e.message),
            )
        })?;
        let config = SigmatchConfig {
            rules,
            stream: p.bool("stream")?,
            window: WindowConfig {
                flows: p.int("flows")? as usize,
                window: 0,
                slide: 0,
                timeout: p.duration("timeout")?,
                reorder: p.size("reorder")? as usize,
                max_ranges: p.int("holes")? as usize,
                depth: p.size("depth")?,
                overlap: match p.str("overlap")? {
                    "last" => Overlap::Last,
                    _ => Overlap::First,
                },
                midstream: p.bool("midstream")?,
            },
            interval: p.duration("interval")?,
            export: ExportConfig::from_params(p)?,
        };
        Sigmatch::new(config).map_err(|e| match e {
            SigmatchError::Export(e) => e.into(),
            SigmatchError::Interval => ConfigError::param("interval", e.to_string()),
            SigmatchError::Window(WindowError::Reorder) => {
                ConfigError::param("reorder", e.to_string())
            }
            SigmatchError::Window(WindowError::Ranges) => {
                ConfigError::param("holes", "must be between 1 and 1024")
            }
            SigmatchError::Window(_) => {
                ConfigError::param("flows", format!("{e}; lower flows or reorder"))
            }
            SigmatchError::Automaton(_) => ConfigError::param("rules", e.to_string()),
        })
    }

    /// Hits of the rule with this sid.
    pub fn hits(&self, sid: u32) -> Option<u64> {
        let i = self.m.rules.iter().position(|r| r.sid == sid)?;
        Some(self.m.hits[i])
    }

    /// Connections tracked (stream mode).
    pub fn connections(&self) -> usize {
        self.window.as_ref().map_or(0, |w| w.len())
    }

    /// Inspects one packet; the verdict it gets.
    fn inspect(&mut self, frame: &[u8], now: u64) -> Verdict {
        let (key, l4) = match transport(frame) {
            Ok(Some(t)) => t,
            Ok(None) => {
                self.counters.non_ip += 1;
                return Verdict::PASS;
            }
            Err(_) => {
                self.counters.malformed += 1;
                return Verdict::PASS;
            }
        };
        if l4 == L4::Fragment {
            self.counters.fragments += 1;
            return Verdict::PASS;
        }
        self.counters.inspected += 1;
        self.m.begin();
        let mut flow: Option<FlowState> = None;
        match (l4, self.window.as_mut()) {
            (
                L4::Tcp {
                    seq,
                    flags,
                    payload,
                },
                Some(window),
            ) => {
                let (m, counters, out) = (&mut self.m, &mut self.counters, &mut self.out);
                let seg = TcpSegment {
                    key,
                    seq,
                    flags,
                    payload,
                };
                let this = key.canonical();
                flow = window
                    .segment(&seg, now, |info, st, ev| {
                        if info.key.canonical() == this {
                            on_stream(m, &mut counters.bytes, &info.key, info.dir as usize, st, ev);
                        } else {
                            // Another connection, evicted to make room.
                            on_orphan(m, counters, out, now, info, st, ev);
                        }
                    })
                    .map(|(_, st)| st);
                // Decided by an earlier packet (its data was not searched).
                if let Some(v) = flow.and_then(|f| f.verdict) {
                    return self.flow_verdict(v);
                }
            }
            (l4, _) => {
                let payload = l4.payload();
                self.counters.bytes += payload.len() as u64;
                let mut states = [None; 2];
                self.m.search(&key, &mut states, payload, 0);
            }
        }
        self.m.check_headers(&key);
        let Some(decision) = self.m.decision() else {
            return Verdict::PASS;
        };
        self.m.count_hits(decision);
        if flow.is_some() && decision != Action::Alert {
            // The rest of the connection follows the decision.
            if let Some(st) = self.window.as_mut().and_then(|w| w.state_mut(&key)) {
                st.verdict = Some(decision);
            }
        }
        if decision == Action::Pass {
            self.counters.passed += 1;
            return Verdict::PASS;
        }
        self.raise(&key, now, flow.is_some());
        if decision == Action::Drop {
            self.counters.dropped += 1;
            return Verdict::drop(DropReason::SignatureMatch);
        }
        Verdict::PASS
    }

    fn flow_verdict(&mut self, v: Action) -> Verdict {
        if v == Action::Drop {
            self.counters.flow_dropped += 1;
            Verdict::drop(DropReason::SignatureMatch)
        } else {
            self.counters.passed += 1;
            Verdict::PASS
        }
    }

    /// Queues an alert for every matched alert/drop rule.
    fn raise(&mut self, key: &FlowKey, now: u64, stream: bool) {
        for i in 0..self.m.matched.len() {
            let r = self.m.matched[i] as usize;
            let action = self.m.rules[r].action;
            if action == Action::Pass {
                continue;
            }
            self.counters.alerts += 1;
            self.out.push(Alert {
                time_ns: now,
                rule: self.m.json[r].clone(),
                action,
                key: *key,
                stream,
            });
        }
    }

    /// Closes idle connections (every one with `all`, at stop); what their
    /// close delivers is searched too, and alerts without a packet to drop.
    fn expire(&mut self, now: u64, all: bool) {
        let Some(window) = self.window.as_mut() else {
            return;
        };
        let (m, counters, out) = (&mut self.m, &mut self.counters, &mut self.out);
        let on_close = |info: &StreamInfo, st: &mut FlowState, ev: StreamEvent<'_>| {
            on_orphan(m, counters, out, now, info, st, ev);
        };
        if all {
            window.close_all(now, on_close);
        } else {
            window.expire(now, on_close);
        }
    }
}

/// A stream event outside the inspection of its own packets (a connection
/// closed by expiry, eviction or stop, with data still buffered): its
/// matches raise alerts; there is no packet to drop. Leaves the current
/// packet's match list empty.
fn on_orphan(
    m: &mut Matcher,
    counters: &mut Counters,
    out: &mut JsonExport<Alert>,
    now: u64,
    info: &StreamInfo,
    st: &mut FlowState,
    ev: StreamEvent<'_>,
) {
    m.begin();
    on_stream(m, &mut counters.bytes, &info.key, info.dir as usize, st, ev);
    if let Some(decision) = m.decision() {
        m.count_hits(decision);
        if decision != Action::Pass {
            for &r in &m.matched {
                let action = m.rules[r as usize].action;
                if action != Action::Pass {
                    counters.alerts += 1;
                    out.push(Alert {
                        time_ns: now,
                        rule: m.json[r as usize].clone(),
                        action,
                        key: info.key,
                        stream: true,
                    });
                }
            }
        }
    }
    m.begin();
}

/// Stream mode: searches a chunk with the direction's carried automaton
/// states; a gap restarts the search.
fn on_stream(
    m: &mut Matcher,
    bytes: &mut u64,
    key: &FlowKey,
    dir: usize,
    st: &mut FlowState,
    ev: StreamEvent<'_>,
) {
    if st.verdict.is_some() {
        return;
    }
    match ev {
        StreamEvent::Data { offset, data } => {
            *bytes += data.len() as u64;
            m.search(key, &mut st.ac[dir], data, offset);
        }
        StreamEvent::Gap { .. } => st.ac[dir] = [None; 2],
        StreamEvent::Truncated { .. } | StreamEvent::Close(_) => {}
    }
}

impl Nf for Sigmatch {
    fn process(&mut self, _input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let (packets, verdicts) = batch.split_mut();
        for (pkt, verdict) in packets.iter().zip(verdicts.iter_mut()) {
            *verdict = self.inspect(pkt.data(), now);
        }
        if self.out.is_half_full() {
            self.out.flush(ctx, PROCESS_BURST);
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.schedule_every(self.config.interval);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>) {
        self.expire(ctx.now(), false);
        self.out.flush(ctx, usize::MAX);
    }

    fn stop(&mut self, ctx: &mut Ctx<'_>) {
        // Connections still open are searched to their end.
        self.expire(ctx.now(), true);
        self.out.flush(ctx, usize::MAX);
        self.out.discard();
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let c = &self.counters;
        report("inspected", c.inspected);
        report("bytes_inspected", c.bytes);
        report("alerts", c.alerts);
        report("dropped", c.dropped);
        report("passed", c.passed);
        report("flow_dropped", c.flow_dropped);
        report("non_ip", c.non_ip);
        report("malformed", c.malformed);
        report("fragments", c.fragments);
        let x = &self.out.counters;
        report("alerts_exported", x.exported);
        report("alerts_lost", x.dropped);
        report("datagrams", x.datagrams);
        if let Some(w) = &self.window {
            let s = &w.counters;
            report("stream_connections", w.len() as u64);
            report("stream_created", s.flows_created);
            report("stream_out_of_order", s.out_of_order);
            report("stream_retransmitted", s.retransmitted);
            report("stream_overlaps", s.overlaps);
            report("stream_gaps", s.gaps);
            report("stream_gap_bytes", s.gap_bytes);
            report("stream_out_of_window", s.out_of_window);
            report("stream_truncated", s.truncated);
            report("stream_evicted", s.evicted);
            report("stream_closed_fin", s.closed_fin);
            report("stream_closed_rst", s.closed_rst);
            report("stream_closed_timeout", s.closed_timeout);
        }
        for (name, hits) in self.hit_names.iter().zip(&self.m.hits) {
            report(name, *hits);
        }
    }

    /// On a reload: hit counters (by sid), queued alerts and counters carry
    /// over; so do the connections, if the rules and the reassembly are
    /// unchanged (automaton states belong to one set of rules).
    fn adopt(&mut self, old: Box<dyn Nf>) {
        let Some(old) = netfn_core::nf::downcast::<Sigmatch>(old) else {
            return;
        };
        let mut old = *old;
        for (i, r) in self.m.rules.iter().enumerate() {
            if let Some(j) = old.m.rules.iter().position(|o| o.sid == r.sid) {
                self.m.hits[i] = old.m.hits[j];
            }
        }
        self.counters = std::mem::take(&mut old.counters);
        self.out.counters = old.out.counters;
        for alert in old.out.take_queue() {
            self.out.push(alert);
        }
        let same = old.m.rules == self.m.rules
            && old.config.stream == self.config.stream
            && old.config.window == self.config.window;
        if same {
            self.window = old.window.take();
        }
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(Sigmatch::from_params(p)?))
}

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "sigmatch",
    doc: "Signature matching (Aho-Corasick) over packets or reassembled TCP streams; alert, drop or pass by a Suricata-style rules file; alerts as JSON lines in UDP on output 1",
    params: &crate::export_params![
        "9996";
        ParamSpec::required(
            "rules",
            ParamType::Path,
            "rules file: `action proto src sport -> dst dport (msg:\"..\"; content:\"..\"; nocase; sid:N;)` per line",
        ),
        ParamSpec::optional(
            "stream",
            ParamType::Bool,
            "false",
            "reassemble TCP and match across segments (else each packet's payload alone)",
        ),
        ParamSpec::optional(
            "flows",
            ParamType::Int { min: 1, max: 16_777_216 },
            "4096",
            "stream mode: connections tracked (when full, the least recently used is closed)",
        ),
        ParamSpec::optional(
            "timeout",
            ParamType::Duration,
            "60s",
            "stream mode: close a connection idle this long",
        ),
        ParamSpec::optional(
            "reorder",
            ParamType::Size,
            "4KiB",
            "stream mode: out-of-order bytes buffered per direction (memory: flows x 2 x reorder)",
        ),
        ParamSpec::optional(
            "holes",
            ParamType::Int { min: 1, max: 1024 },
            "16",
            "stream mode: separate out-of-order ranges per direction; more skip the oldest hole",
        ),
        ParamSpec::optional(
            "depth",
            ParamType::Size,
            "1MiB",
            "stream mode: bytes inspected per direction (0: all)",
        ),
        ParamSpec::optional(
            "overlap",
            ParamType::Word(&["first", "last"]),
            "first",
            "stream mode: which of two overlapping buffered segments wins (first: BSD/Linux, last: Windows)",
        ),
        ParamSpec::optional(
            "midstream",
            ParamType::Bool,
            "true",
            "stream mode: pick up connections whose SYN was not seen",
        ),
        ParamSpec::optional(
            "interval",
            ParamType::Duration,
            "1s",
            "how often idle connections are closed and queued alerts exported",
        ),
    ],
    inputs: Arity::Exactly(1),
    outputs: Arity::Between(1, 2),
    build: Build::Nf(build),
}];
