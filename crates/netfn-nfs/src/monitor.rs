//! `monitor`: per-flow accounting with NetFlow/IPFIX-style export of flow
//! records as JSON lines in UDP datagrams.
//!
//! Every packet leaves on output 0 unchanged (the monitor never drops or
//! delays traffic). IP packets are accounted per flow (5-tuple, directional
//! or symmetric): packets, bytes (of the IP packet: header and payload, as
//! IPFIX's octetDeltaCount), first and last seen, and the OR of the TCP
//! flags. A flow's record is exported when it has been idle for `idle`, when
//! it has lasted `active` since its record started (the flow stays, its
//! counters restart: NetFlow's active timeout), when the table is full and
//! it is the least recently used flow (evicted), and when the monitor stops.
//!
//! Sans-IO export: records wait in a bounded queue (`capacity`; a record
//! that finds it full is dropped and counted, and leaves a gap in the
//! sequence numbers a collector sees) and leave as UDP datagrams on output
//! 1, from `exporter` to `collector`, each holding as many JSON lines as
//! fit in `mtu`. Whatever port output 1 is connected to carries them (a
//! pcap file, an interface, a sink). The queue is flushed every `interval`
//! and whenever it is half full. At stop, every live flow is exported and
//! then the top-N report (`top` flows by bytes and by packets over their
//! whole life).
//!
//! One JSON object per line (times are the runtime clock in ns; `tcp_flags`
//! only for TCP, letters `FSRPAUEC`; `rev_*` only with `key = symmetric`,
//! for packets in the direction opposite the flow's first packet):
//!
//! ```text
//! {"type":"flow","seq":1,"src":"10.0.0.1","dst":"10.1.0.1","sport":1024,"dport":80,"proto":6,
//!  "first_ns":0,"last_ns":2000,"packets":3,"bytes":180,"tcp_flags":"SA","end":"idle"}
//! {"type":"top","by":"bytes","rank":1,"src":"10.0.0.1","dst":"10.1.0.1","sport":1024,
//!  "dport":80,"proto":6,"packets":3,"bytes":180}
//! ```
//!
//! `end` is `idle`, `active`, `evicted` (lack of resources) or `stop`
//! (forced end), as IPFIX's flowEndReason.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use netfn_core::config::{Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params};
use netfn_core::flowtable::FlowTable;
use netfn_core::{Batch, Ctx, FlowKey, Nf};
use netfn_wire::{EtherType, Header, IpProtocol, Ipv4Packet, Ipv6Packet, Tcp, TcpFlags, TcpPacket};

use crate::export::{ExportConfig, ExportError, JsonExport, JsonLine};
use crate::frame::{SliceWriter, locate_l3};

/// Most datagrams sent from one `process` call (timers and stop send as
/// many as the emit buffer takes).
const PROCESS_BURST: usize = 64;

/// Why a flow record was exported (IPFIX flowEndReason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Idle,
    Active,
    Evicted,
    Stop,
}

impl EndReason {
    fn name(self) -> &'static str {
        match self {
            EndReason::Idle => "idle",
            EndReason::Active => "active",
            EndReason::Evicted => "evicted",
            EndReason::Stop => "stop",
        }
    }
}

/// Counters of one flow (or one record of it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCounts {
    pub packets: u64,
    pub bytes: u64,
    pub tcp_flags: u8,
    /// Reverse direction (symmetric keying only).
    pub rev_packets: u64,
    pub rev_bytes: u64,
    pub rev_tcp_flags: u8,
}

/// An exported flow record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRecord {
    pub seq: u64,
    /// The direction of the flow's first packet.
    pub key: FlowKey,
    pub first_ns: u64,
    pub last_ns: u64,
    pub counts: FlowCounts,
    pub end: EndReason,
}

/// A flow's totals over its whole life (for top-N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopEntry {
    pub key: FlowKey,
    pub packets: u64,
    pub bytes: u64,
}

/// What top-N ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopBy {
    Bytes,
    Packets,
}

impl TopBy {
    fn value(self, e: &TopEntry) -> u64 {
        match self {
            TopBy::Bytes => e.bytes,
            TopBy::Packets => e.packets,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum ExportItem {
    /// A record, and whether flows are keyed symmetrically (`rev_*` fields).
    Flow(FlowRecord, bool),
    Top {
        by: TopBy,
        rank: usize,
        entry: TopEntry,
    },
}

#[derive(Debug, Clone, Copy)]
struct Flow {
    key: FlowKey,
    /// Start of the current record.
    start: u64,
    last: u64,
    counts: FlowCounts,
    total_packets: u64,
    total_bytes: u64,
}

/// The configuration of a [`Monitor`].
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// Flow table capacity.
    pub flows: usize,
    pub idle_timeout: Duration,
    pub active_timeout: Duration,
    /// One flow for both directions (else one per direction).
    pub symmetric: bool,
    /// Flows in the top-N report (0: none).
    pub top: usize,
    /// Expiry and export period.
    pub interval: Duration,
    /// Where records go.
    pub export: ExportConfig,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            flows: 65_536,
            idle_timeout: Duration::from_secs(15),
            active_timeout: Duration::from_secs(60),
            symmetric: false,
            top: 10,
            interval: Duration::from_secs(1),
            export: ExportConfig::loopback(9995),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Counters {
    flows_created: u64,
    flows_idle: u64,
    flows_evicted: u64,
    records_active: u64,
    non_ip: u64,
    malformed: u64,
}

/// The monitor NF (see the module docs).
#[derive(Debug)]
pub struct Monitor {
    config: MonitorConfig,
    flows: FlowTable<FlowKey, Flow>,
    ex: Exporter,
}

/// Records on their way out, top-N and counters (apart from the flow
/// table, so expiry can hand flows straight to it).
#[derive(Debug)]
struct Exporter {
    out: JsonExport<ExportItem>,
    symmetric: bool,
    top: usize,
    /// Top-N of the flows that ended, by bytes and by packets (descending).
    top_bytes: Vec<TopEntry>,
    top_packets: Vec<TopEntry>,
    seq: u64,
    counters: Counters,
}

/// Why a monitor cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("interval must be above zero")]
    Interval,
}

impl Monitor {
    pub fn new(config: MonitorConfig) -> Result<Monitor, MonitorError> {
        if config.interval.is_zero() {
            return Err(MonitorError::Interval);
        }
        Ok(Monitor {
            flows: FlowTable::new(config.flows.max(1), &[config.idle_timeout]),
            ex: Exporter {
                out: JsonExport::new(&config.export, 1)?,
                symmetric: config.symmetric,
                top: config.top,
                top_bytes: Vec::with_capacity(config.top),
                top_packets: Vec::with_capacity(config.top),
                seq: 0,
                counters: Counters::default(),
            },
            config,
        })
    }

    /// Builds from validated graph parameters (see [`SPECS`]).
    pub fn from_params(p: &Params) -> Result<Monitor, ConfigError> {
        let config = MonitorConfig {
            flows: p.int("flows")? as usize,
            idle_timeout: p.duration("idle")?,
            active_timeout: p.duration("active")?,
            symmetric: p.str("key")? == "symmetric",
            top: p.int("top")? as usize,
            interval: p.duration("interval")?,
            export: ExportConfig::from_params(p)?,
        };
        Monitor::new(config).map_err(|e| match e {
            MonitorError::Export(e) => e.into(),
            MonitorError::Interval => ConfigError::param("interval", e.to_string()),
        })
    }

    /// Flows being tracked.
    pub fn active_flows(&self) -> usize {
        self.flows.len()
    }

    /// Current counters of a flow (keyed as the monitor keys it).
    pub fn flow(&self, key: &FlowKey) -> Option<FlowCounts> {
        let key = if self.config.symmetric {
            key.canonical()
        } else {
            *key
        };
        self.flows.peek(&key).map(|f| f.counts)
    }

    /// The `n` largest flows by `by`, over the flows that ended and the
    /// live ones (whole-life totals). For the control plane: allocates.
    pub fn top(&self, n: usize, by: TopBy) -> Vec<TopEntry> {
        let ended = match by {
            TopBy::Bytes => &self.ex.top_bytes,
            TopBy::Packets => &self.ex.top_packets,
        };
        let mut all: Vec<TopEntry> = ended
            .iter()
            .copied()
            .chain(self.flows.iter().map(|(_, _, f)| f.top_entry()))
            .collect();
        all.sort_by(|a, b| by.value(b).cmp(&by.value(a)).then(a.key.cmp(&b.key)));
        all.truncate(n);
        all
    }

    fn observe(&mut self, frame: &[u8], now: u64) {
        let Some((ethertype, l3)) = locate_l3(frame) else {
            self.ex.counters.non_ip += 1;
            return;
        };
        let Some((key, len, flags)) = parse_ip(ethertype, &frame[l3..]) else {
            self.ex.counters.non_ip += 1;
            return;
        };
        let Some(len) = len else {
            self.ex.counters.malformed += 1;
            return;
        };
        let index_key = if self.config.symmetric {
            key.canonical()
        } else {
            key
        };
        let active_ns = self.config.active_timeout.as_nanos() as u64;
        if let Some(slot) = self.flows.find(&index_key) {
            self.flows.touch(slot, now);
            if now.saturating_sub(self.flows.value(slot).start) >= active_ns {
                self.ex.counters.records_active += 1;
                let flow = *self.flows.value(slot);
                self.ex.export(&flow, EndReason::Active);
                let f = self.flows.value_mut(slot);
                f.start = now;
                f.counts = FlowCounts::default();
            }
            self.flows.value_mut(slot).account(&key, len, flags, now);
            return;
        }
        if self.flows.is_full() {
            self.expire(now);
        }
        if self.flows.is_full()
            && let Some(oldest) = self.flows.oldest()
        {
            let (_, flow) = self.flows.remove_slot(oldest);
            self.ex.counters.flows_evicted += 1;
            self.ex.export(&flow, EndReason::Evicted);
        }
        let mut flow = Flow {
            key,
            start: now,
            last: now,
            counts: FlowCounts::default(),
            total_packets: 0,
            total_bytes: 0,
        };
        flow.account(&key, len, flags, now);
        if self.flows.insert(index_key, flow, 0, now).is_ok() {
            self.ex.counters.flows_created += 1;
        }
    }

    /// Exports every flow idle for `idle`.
    fn expire(&mut self, now: u64) {
        let ex = &mut self.ex;
        self.flows.expire(now, |_, flow| {
            ex.counters.flows_idle += 1;
            ex.export(&flow, EndReason::Idle);
        });
    }

    /// Sends queued records as datagrams on output 1 (at most `max`, and
    /// no more than the emit buffer takes).
    fn flush(&mut self, ctx: &mut Ctx<'_>, max: usize) {
        self.ex.out.flush(ctx, max);
    }
}

impl Exporter {
    fn push(&mut self, item: ExportItem) {
        self.out.push(item);
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Queues the record of a flow and offers it to top-N if it ended.
    fn export(&mut self, flow: &Flow, end: EndReason) {
        let record = FlowRecord {
            seq: self.next_seq(),
            key: flow.key,
            first_ns: flow.start,
            last_ns: flow.last,
            counts: flow.counts,
            end,
        };
        self.push(ExportItem::Flow(record, self.symmetric));
        if end != EndReason::Active {
            let e = flow.top_entry();
            offer(&mut self.top_bytes, self.top, e, TopBy::Bytes);
            offer(&mut self.top_packets, self.top, e, TopBy::Packets);
        }
    }
}

impl Flow {
    fn account(&mut self, key: &FlowKey, len: u64, flags: u8, now: u64) {
        let c = &mut self.counts;
        if *key == self.key {
            c.packets += 1;
            c.bytes += len;
            c.tcp_flags |= flags;
        } else {
            c.rev_packets += 1;
            c.rev_bytes += len;
            c.rev_tcp_flags |= flags;
        }
        self.last = now;
        self.total_packets += 1;
        self.total_bytes += len;
    }

    fn top_entry(&self) -> TopEntry {
        TopEntry {
            key: self.key,
            packets: self.total_packets,
            bytes: self.total_bytes,
        }
    }
}

/// Inserts `e` into a descending top-`n` list (no allocation: the list
/// has capacity `n`).
fn offer(list: &mut Vec<TopEntry>, n: usize, e: TopEntry, by: TopBy) {
    if n == 0 {
        return;
    }
    if list.len() == n {
        match list.last() {
            Some(last) if by.value(&e) > by.value(last) => {
                list.pop();
            }
            _ => return,
        }
    }
    let at = list.partition_point(|x| by.value(x) >= by.value(&e));
    list.insert(at, e);
}

/// The flow key, the IP packet's length (`None`: malformed) and the TCP
/// flags of an IP packet. `None` overall for a non-IP EtherType.
fn parse_ip(ethertype: EtherType, ip: &[u8]) -> Option<(FlowKey, Option<u64>, u8)> {
    let zero = FlowKey {
        src: IpAddr::from([0, 0, 0, 0]),
        dst: IpAddr::from([0, 0, 0, 0]),
        src_port: 0,
        dst_port: 0,
        protocol: 0,
    };
    let (key, len, l4) = match ethertype {
        EtherType::Ipv4 => {
            let Some(key) = FlowKey::from_ipv4(ip) else {
                return Some((zero, None, 0));
            };
            let p = Ipv4Packet::new_unchecked(ip);
            let l4 = if p.is_first_fragment() {
                ip.get(p.header_len()..usize::from(p.total_len()))
            } else {
                None
            };
            (key, u64::from(p.total_len()), l4)
        }
        EtherType::Ipv6 => {
            let Some(key) = FlowKey::from_ipv6(ip) else {
                return Some((zero, None, 0));
            };
            let p = Ipv6Packet::new_unchecked(ip);
            let first = p.fragment().is_none_or(|f| f.offset == 0);
            let l4 = match p.upper_layer() {
                Ok((_, at)) if first => ip.get(at..p.packet().len()),
                _ => None,
            };
            (key, 40 + u64::from(p.payload_len()), l4)
        }
        _ => return None,
    };
    let flags = match l4 {
        Some(l4) if key.protocol == u8::from(IpProtocol::Tcp) && Tcp::check(l4).is_ok() => {
            TcpPacket::new_unchecked(l4).flags().bits()
        }
        _ => 0,
    };
    Some((key, Some(len), flags))
}

impl JsonLine for ExportItem {
    fn write_json(&self, w: &mut SliceWriter<'_>) -> std::fmt::Result {
        write_item(w, self)
    }
}

fn write_item(w: &mut SliceWriter<'_>, item: &ExportItem) -> std::fmt::Result {
    let tuple = |w: &mut SliceWriter<'_>, k: &FlowKey| {
        write!(
            w,
            "\"src\":\"{}\",\"dst\":\"{}\",\"sport\":{},\"dport\":{},\"proto\":{}",
            k.src, k.dst, k.src_port, k.dst_port, k.protocol
        )
    };
    match item {
        ExportItem::Flow(r, symmetric) => {
            write!(w, "{{\"type\":\"flow\",\"seq\":{},", r.seq)?;
            tuple(w, &r.key)?;
            let c = &r.counts;
            write!(
                w,
                ",\"first_ns\":{},\"last_ns\":{},\"packets\":{},\"bytes\":{}",
                r.first_ns, r.last_ns, c.packets, c.bytes
            )?;
            let tcp = r.key.protocol == u8::from(IpProtocol::Tcp);
            if tcp {
                write!(w, ",\"tcp_flags\":\"{}\"", TcpFlags::from_bits(c.tcp_flags))?;
            }
            if *symmetric {
                write!(
                    w,
                    ",\"rev_packets\":{},\"rev_bytes\":{}",
                    c.rev_packets, c.rev_bytes
                )?;
                if tcp {
                    write!(
                        w,
                        ",\"rev_tcp_flags\":\"{}\"",
                        TcpFlags::from_bits(c.rev_tcp_flags)
                    )?;
                }
            }
            writeln!(w, ",\"end\":\"{}\"}}", r.end.name())
        }
        ExportItem::Top { by, rank, entry } => {
            let by = match by {
                TopBy::Bytes => "bytes",
                TopBy::Packets => "packets",
            };
            write!(w, "{{\"type\":\"top\",\"by\":\"{by}\",\"rank\":{rank},")?;
            tuple(w, &entry.key)?;
            writeln!(
                w,
                ",\"packets\":{},\"bytes\":{}}}",
                entry.packets, entry.bytes
            )
        }
    }
}

impl Nf for Monitor {
    fn process(&mut self, _input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        for pkt in batch.iter() {
            self.observe(pkt.data(), now);
        }
        if self.ex.out.is_half_full() {
            self.flush(ctx, PROCESS_BURST);
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.schedule_every(self.config.interval);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>) {
        self.expire(ctx.now());
        self.flush(ctx, usize::MAX);
    }

    /// Exports every live flow, then the top-N report.
    fn stop(&mut self, ctx: &mut Ctx<'_>) {
        let mut live: Vec<(FlowKey, Flow)> = self.flows.iter().map(|(_, k, f)| (*k, *f)).collect();
        live.sort_by_key(|(_, f)| (f.start, f.key));
        for (key, flow) in &live {
            self.ex.export(flow, EndReason::Stop);
            self.flows.remove(key);
        }
        for by in [TopBy::Bytes, TopBy::Packets] {
            let list = match by {
                TopBy::Bytes => self.ex.top_bytes.clone(),
                TopBy::Packets => self.ex.top_packets.clone(),
            };
            for (i, entry) in list.into_iter().enumerate() {
                self.ex.push(ExportItem::Top {
                    by,
                    rank: i + 1,
                    entry,
                });
            }
        }
        self.flush(ctx, usize::MAX);
        // What the emit buffer could not take this time is lost.
        self.ex.out.discard();
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let c = &self.ex.counters;
        report("flows_active", self.flows.len() as u64);
        report("flows_created", c.flows_created);
        report("flows_idle_expired", c.flows_idle);
        report("flows_evicted", c.flows_evicted);
        report("records_active_timeout", c.records_active);
        let x = &self.ex.out.counters;
        report("records_exported", x.exported);
        report("records_dropped", x.dropped);
        report("records_queued", self.ex.out.len() as u64);
        report("datagrams", x.datagrams);
        report("non_ip", c.non_ip);
        report("malformed", c.malformed);
        if self.config.top > 0 {
            let top = |by| self.top(1, by).first().map_or(0, |e| by.value(e));
            report("top1_bytes", top(TopBy::Bytes));
            report("top1_packets", top(TopBy::Packets));
        }
    }

    /// On a reload: keep the flows, queued records, top-N and counters when
    /// the flow keying and table are unchanged; otherwise queue the old
    /// flows' records (end `stop`) and start a fresh table.
    fn adopt(&mut self, old: Box<dyn Nf>) {
        let Some(old) = netfn_core::nf::downcast::<Monitor>(old) else {
            return;
        };
        let mut old = *old;
        self.ex.seq = old.ex.seq;
        self.ex.counters = std::mem::take(&mut old.ex.counters);
        for e in old.ex.top_bytes.iter().take(self.config.top) {
            offer(&mut self.ex.top_bytes, self.ex.top, *e, TopBy::Bytes);
        }
        for e in old.ex.top_packets.iter().take(self.config.top) {
            offer(&mut self.ex.top_packets, self.ex.top, *e, TopBy::Packets);
        }
        self.ex.out.counters = old.ex.out.counters;
        for item in old.ex.out.take_queue() {
            self.ex.push(item);
        }
        if old.config.symmetric == self.config.symmetric
            && old.config.flows == self.config.flows
            && old.config.idle_timeout == self.config.idle_timeout
        {
            self.flows = old.flows;
        } else {
            for (_, _, flow) in old.flows.iter() {
                let flow = *flow;
                self.ex.export(&flow, EndReason::Stop);
            }
        }
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(Monitor::from_params(p)?))
}

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "monitor",
    doc: "Per-flow counters, expiry and top-N; flow records exported as JSON lines in UDP on output 1",
    params: &crate::export_params![
        "9995";
        ParamSpec::optional(
            "flows",
            ParamType::Int {
                min: 1,
                max: 16_777_216,
            },
            "65536",
            "flow table capacity (when full, the least recently used flow is exported and evicted)",
        ),
        ParamSpec::optional(
            "idle",
            ParamType::Duration,
            "15s",
            "export and forget a flow idle this long",
        ),
        ParamSpec::optional(
            "active",
            ParamType::Duration,
            "60s",
            "export a record of a flow this long after its record started (counters restart)",
        ),
        ParamSpec::optional(
            "key",
            ParamType::Word(&["directional", "symmetric"]),
            "directional",
            "one flow per direction, or one for both (with rev_* counters)",
        ),
        ParamSpec::optional(
            "top",
            ParamType::Int { min: 0, max: 1000 },
            "10",
            "flows in the top-N report by bytes and by packets, exported at stop",
        ),
        ParamSpec::optional(
            "interval",
            ParamType::Duration,
            "1s",
            "how often idle flows are expired and queued records exported",
        ),
    ],
    inputs: Arity::Exactly(1),
    outputs: Arity::Between(1, 2),
    build: Build::Nf(build),
}];
