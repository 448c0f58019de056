//! `policer`: token-bucket rate limiting and color marking, aggregate or
//! per flow (Linux `tc police`, VPP's policer, Click's `BandwidthMeter`).
//!
//! Three meters, all color-blind:
//! * `single` (one rate, two colors): a bucket of `burst` filled at `rate`;
//!   a packet that finds enough tokens is green and takes them, else red.
//! * `srtcm` (RFC 2697 single rate three color marker): buckets C
//!   (`burst`, CBS) and E (`excess_burst`, EBS) both filled at `rate` (CIR),
//!   E only with what overflows C; green from C, else yellow from E, else
//!   red.
//! * `trtcm` (RFC 2698 two rate three color marker): buckets P
//!   (`peak_burst`, PBS, filled at `peak_rate`, PIR) and C (`burst`, CBS, at
//!   `rate`, CIR); red if P lacks tokens, else yellow if C does (taking from
//!   P), else green (taking from both).
//!
//! Each color has an action (`conform` green, `exceed` yellow, `violate`
//! red): `pass`, `drop` (counted as `rate-limited`) or `remark` (set the
//! IPv4/IPv6 DSCP to `<color>_dscp`, IPv4 checksum patched per RFC 1624;
//! non-IP packets pass unmarked). Sizes are whole frames (what the link
//! carries, as tc counts on egress) with `unit = bps`; with `unit = pps`
//! every packet costs one token and bursts count packets.
//!
//! Time comes only from `ctx.now()`. Token arithmetic is exact integer
//! arithmetic: a token is 1/8e9 of a byte (1/1e9 of a packet), one
//! nanosecond adds `rate` of them, so no rounding ever gains or loses
//! credit: over any interval `t`, what passes green is at most `burst +
//! rate·t`.
//!
//! `per = flow | src | dst` gives every 5-tuple / source / destination
//! address its own buckets, in a preallocated flow table (`flows`
//! entries) whose idle entries expire after `timeout` (which must be at
//! least the time an empty bucket takes to fill, so expiry never hands out
//! extra burst). Non-IP packets, and new flows while the table is full,
//! share one overflow bucket set (counted). Non-first IPv4/IPv6 fragments
//! carry no ports, so with `per = flow` they are metered apart from their
//! first fragment (`per = src`/`dst` is exact for them). Left out:
//! color-aware mode (pre-colored input), RFC 4115.

use std::net::IpAddr;
use std::time::Duration;

use crate::frame::locate_l3;
use netfn_core::config::{Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params};
use netfn_core::flowtable::FlowTable;
use netfn_core::{Batch, Ctx, DropReason, FlowKey, Nf, Packet, Verdict};
use netfn_wire::{EtherType, Header, Ipv4, Ipv4Packet, Ipv6, Ipv6Packet};

/// Tokens per byte (`unit = bps`): one bit/s of rate adds one token per ns.
const TOKENS_PER_BYTE: u128 = 8_000_000_000;
/// Tokens per packet (`unit = pps`).
const TOKENS_PER_PACKET: u128 = 1_000_000_000;
/// Largest rate (bit/s or packets/s): 10 Tbit/s.
pub const MAX_RATE: u64 = 10_000_000_000_000;

/// A packet's color.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Color {
    Green,
    Yellow,
    Red,
}

/// Which meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterKind {
    /// One rate, two colors.
    Single,
    /// RFC 2697.
    SrTcm,
    /// RFC 2698.
    TrTcm,
}

/// What rates and bursts count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Rates in bit/s, bursts in bytes.
    Bits,
    /// Rates in packets/s, bursts in packets.
    Packets,
}

/// What happens to a packet of a color.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorAction {
    Pass,
    Drop,
    /// Pass with this DSCP.
    Remark(u8),
}

/// Whose traffic shares buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    /// One bucket set for everything.
    None,
    Flow,
    Src,
    Dst,
}

/// A `policer` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicerConfig {
    pub meter: MeterKind,
    pub unit: Unit,
    /// CIR.
    pub rate: u64,
    /// CBS.
    pub burst: u64,
    /// EBS (srtcm).
    pub excess_burst: u64,
    /// PIR (trtcm).
    pub peak_rate: u64,
    /// PBS (trtcm).
    pub peak_burst: u64,
    pub conform: ColorAction,
    pub exceed: ColorAction,
    pub violate: ColorAction,
    pub per: Per,
    pub flows: usize,
    pub timeout: Duration,
}

impl Default for PolicerConfig {
    fn default() -> Self {
        PolicerConfig {
            meter: MeterKind::Single,
            unit: Unit::Bits,
            rate: 1_000_000,
            burst: 15_000,
            excess_burst: 0,
            peak_rate: 0,
            peak_burst: 0,
            conform: ColorAction::Pass,
            exceed: ColorAction::Pass,
            violate: ColorAction::Drop,
            per: Per::None,
            flows: 65_536,
            timeout: Duration::from_secs(60),
        }
    }
}

/// The token buckets of one meter instance: C, and E (srtcm) or P (trtcm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub committed: u128,
    pub second: u128,
    /// When they were last filled (ns).
    pub last: u64,
}

/// A meter's rates and capacities, in tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meter {
    kind: MeterKind,
    /// Tokens per ns into C (and E).
    cir: u128,
    /// Tokens per ns into P.
    pir: u128,
    cbs: u128,
    /// EBS or PBS.
    second_cap: u128,
    /// Tokens per byte, or 0 when every packet costs `per_packet`.
    per_byte: u128,
    per_packet: u128,
}

impl Meter {
    /// The meter of a configuration (assumed validated).
    pub fn new(c: &PolicerConfig) -> Meter {
        let unit = match c.unit {
            Unit::Bits => TOKENS_PER_BYTE,
            Unit::Packets => TOKENS_PER_PACKET,
        };
        let (second_cap, pir) = match c.meter {
            MeterKind::Single => (0, 0),
            MeterKind::SrTcm => (u128::from(c.excess_burst) * unit, 0),
            MeterKind::TrTcm => (u128::from(c.peak_burst) * unit, u128::from(c.peak_rate)),
        };
        Meter {
            kind: c.meter,
            cir: u128::from(c.rate),
            pir,
            cbs: u128::from(c.burst) * unit,
            second_cap,
            per_byte: if c.unit == Unit::Bits { unit } else { 0 },
            per_packet: if c.unit == Unit::Packets { unit } else { 0 },
        }
    }

    /// Buckets that start full at `now` (RFC 2697/2698: "initially full").
    pub fn full(&self, now: u64) -> Buckets {
        Buckets {
            committed: self.cbs,
            second: self.second_cap,
            last: now,
        }
    }

    /// Nanoseconds an empty bucket set needs to fill completely.
    pub fn fill_time_ns(&self) -> u128 {
        let c = self.cbs.div_ceil(self.cir.max(1));
        match self.kind {
            MeterKind::Single => c,
            MeterKind::SrTcm => (self.cbs + self.second_cap).div_ceil(self.cir.max(1)),
            MeterKind::TrTcm => c.max(self.second_cap.div_ceil(self.pir.max(1))),
        }
    }

    fn fill(&self, b: &mut Buckets, now: u64) {
        let dt = u128::from(now.saturating_sub(b.last));
        b.last = b.last.max(now);
        let add = dt * self.cir;
        match self.kind {
            MeterKind::Single => b.committed = (b.committed + add).min(self.cbs),
            MeterKind::SrTcm => {
                let room = self.cbs - b.committed;
                if add <= room {
                    b.committed += add;
                } else {
                    b.committed = self.cbs;
                    b.second = (b.second + (add - room)).min(self.second_cap);
                }
            }
            MeterKind::TrTcm => {
                b.committed = (b.committed + add).min(self.cbs);
                b.second = (b.second + dt * self.pir).min(self.second_cap);
            }
        }
    }

    /// Fills the buckets up to `now`, then colors a packet of `len` bytes
    /// and takes its tokens.
    pub fn mark(&self, b: &mut Buckets, now: u64, len: usize) -> Color {
        self.fill(b, now);
        let cost = self.per_byte * len as u128 + self.per_packet;
        match self.kind {
            MeterKind::Single => {
                if b.committed >= cost {
                    b.committed -= cost;
                    Color::Green
                } else {
                    Color::Red
                }
            }
            MeterKind::SrTcm => {
                if b.committed >= cost {
                    b.committed -= cost;
                    Color::Green
                } else if b.second >= cost {
                    b.second -= cost;
                    Color::Yellow
                } else {
                    Color::Red
                }
            }
            MeterKind::TrTcm => {
                if b.second < cost {
                    Color::Red
                } else if b.committed < cost {
                    b.second -= cost;
                    Color::Yellow
                } else {
                    b.second -= cost;
                    b.committed -= cost;
                    Color::Green
                }
            }
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counters {
    /// Packets and bytes per color (green, yellow, red).
    packets: [u64; 3],
    bytes: [u64; 3],
    remarked: u64,
    table_full: u64,
    non_ip: u64,
    expired: u64,
}

/// The `policer` NF.
#[derive(Debug)]
pub struct Policer {
    config: PolicerConfig,
    meter: Meter,
    /// The aggregate buckets (`per = none`), or the overflow set.
    shared: Buckets,
    flows: Option<FlowTable<FlowKey, Buckets>>,
    counters: Counters,
}

impl Policer {
    pub fn new(config: PolicerConfig) -> Result<Self, ConfigError> {
        validate(&config)?;
        let meter = Meter::new(&config);
        let flows =
            (config.per != Per::None).then(|| FlowTable::new(config.flows, &[config.timeout]));
        Ok(Policer {
            shared: meter.full(0),
            meter,
            flows,
            config,
            counters: Counters::default(),
        })
    }

    pub fn from_params(p: &Params) -> Result<Self, ConfigError> {
        let action = |name: &str, dscp: &str| -> Result<ColorAction, ConfigError> {
            let d = p.int(dscp)?;
            match (p.str(name)?, d) {
                ("remark", -1) => Err(ConfigError::param(
                    dscp,
                    format!("`{name} = remark` needs the DSCP to write (0..=63)"),
                )),
                ("remark", d) => Ok(ColorAction::Remark(d as u8)),
                (_, d) if d >= 0 => Err(ConfigError::param(
                    dscp,
                    format!("only used with `{name} = remark`"),
                )),
                ("drop", _) => Ok(ColorAction::Drop),
                _ => Ok(ColorAction::Pass),
            }
        };
        Policer::new(PolicerConfig {
            meter: match p.str("meter")? {
                "srtcm" => MeterKind::SrTcm,
                "trtcm" => MeterKind::TrTcm,
                _ => MeterKind::Single,
            },
            unit: if p.str("unit")? == "pps" {
                Unit::Packets
            } else {
                Unit::Bits
            },
            rate: p.int("rate")? as u64,
            burst: p.size("burst")?,
            excess_burst: p.size("excess_burst")?,
            peak_rate: p.int("peak_rate")? as u64,
            peak_burst: p.size("peak_burst")?,
            conform: action("conform", "conform_dscp")?,
            exceed: action("exceed", "exceed_dscp")?,
            violate: action("violate", "violate_dscp")?,
            per: match p.str("per")? {
                "flow" => Per::Flow,
                "src" => Per::Src,
                "dst" => Per::Dst,
                _ => Per::None,
            },
            flows: p.int("flows")? as usize,
            timeout: p.duration("timeout")?,
        })
    }

    /// The key of the buckets a frame is metered in (`None`: shared).
    fn key(&self, frame: &[u8]) -> Option<FlowKey> {
        let key = FlowKey::from_frame(frame)?;
        let any = |a: IpAddr| match a {
            IpAddr::V4(_) => IpAddr::from([0u8; 4]),
            IpAddr::V6(_) => IpAddr::from([0u8; 16]),
        };
        Some(match self.config.per {
            Per::None | Per::Flow => key,
            Per::Src => FlowKey {
                dst: any(key.dst),
                src_port: 0,
                dst_port: 0,
                protocol: 0,
                ..key
            },
            Per::Dst => FlowKey {
                src: any(key.src),
                src_port: 0,
                dst_port: 0,
                protocol: 0,
                ..key
            },
        })
    }

    fn color(&mut self, frame: &[u8], now: u64) -> Color {
        let len = frame.len();
        if self.flows.is_none() {
            return self.meter.mark(&mut self.shared, now, len);
        }
        let Some(key) = self.key(frame) else {
            self.counters.non_ip += 1;
            return self.meter.mark(&mut self.shared, now, len);
        };
        let meter = self.meter;
        let table = self.flows.as_mut().expect("per-flow table");
        if let Some(b) = table.get(&key, now) {
            return meter.mark(b, now, len);
        }
        match table.insert(key, meter.full(now), 0, now) {
            Ok(slot) => meter.mark(table.value_mut(slot), now, len),
            Err(_) => {
                self.counters.table_full += 1;
                meter.mark(&mut self.shared, now, len)
            }
        }
    }

    fn handle(&mut self, pkt: &mut Packet, now: u64) -> Verdict {
        let color = self.color(pkt.data(), now);
        let i = color as usize;
        self.counters.packets[i] += 1;
        self.counters.bytes[i] += pkt.len() as u64;
        let action = match color {
            Color::Green => self.config.conform,
            Color::Yellow => self.config.exceed,
            Color::Red => self.config.violate,
        };
        match action {
            ColorAction::Pass => Verdict::PASS,
            ColorAction::Drop => Verdict::drop(DropReason::RateLimited),
            ColorAction::Remark(dscp) => {
                if remark(pkt.data_mut(), dscp) {
                    self.counters.remarked += 1;
                }
                Verdict::PASS
            }
        }
    }

    /// Live per-flow bucket sets.
    pub fn flows(&self) -> usize {
        self.flows.as_ref().map_or(0, |t| t.len())
    }
}

/// Sets the DSCP of an IP packet; false if the frame is not (valid) IP.
fn remark(frame: &mut [u8], dscp: u8) -> bool {
    let Some((ethertype, l3)) = locate_l3(frame) else {
        return false;
    };
    let ip = &mut frame[l3..];
    match ethertype {
        EtherType::Ipv4 if Ipv4::check(ip).is_ok() => {
            Ipv4Packet::new_unchecked(ip).update_dscp(dscp);
            true
        }
        EtherType::Ipv6 if Ipv6::check(ip).is_ok() => {
            let mut p = Ipv6Packet::new_unchecked(ip);
            let tc = p.traffic_class();
            p.set_traffic_class((dscp << 2) | (tc & 0x03));
            true
        }
        _ => false,
    }
}

fn validate(c: &PolicerConfig) -> Result<(), ConfigError> {
    let unit = if c.unit == Unit::Bits {
        "bytes"
    } else {
        "packets"
    };
    if c.rate == 0 || c.rate > MAX_RATE {
        return Err(ConfigError::param(
            "rate",
            format!("must be 1..={MAX_RATE} (bit/s, or packets/s with unit = pps)"),
        ));
    }
    match c.meter {
        MeterKind::Single if c.burst == 0 => {
            return Err(ConfigError::param(
                "burst",
                format!(
                    "must be above 0 {unit} (at least the largest packet, or it never conforms)"
                ),
            ));
        }
        MeterKind::SrTcm if c.burst == 0 && c.excess_burst == 0 => {
            return Err(ConfigError::param(
                "burst",
                "srtcm needs burst (CBS) or excess_burst (EBS) above 0 (RFC 2697 §2)",
            ));
        }
        MeterKind::TrTcm => {
            if c.peak_rate < c.rate || c.peak_rate > MAX_RATE {
                return Err(ConfigError::param(
                    "peak_rate",
                    format!(
                        "trtcm needs peak_rate (PIR) >= rate (CIR, {}) (RFC 2698 §2), at most {MAX_RATE}",
                        c.rate
                    ),
                ));
            }
            if c.burst == 0 || c.peak_burst == 0 {
                let which = if c.burst == 0 { "burst" } else { "peak_burst" };
                return Err(ConfigError::param(
                    which,
                    format!("trtcm needs burst (CBS) and peak_burst (PBS) above 0 {unit}"),
                ));
            }
        }
        _ => {}
    }
    if c.meter != MeterKind::SrTcm && c.excess_burst != 0 {
        return Err(ConfigError::param(
            "excess_burst",
            "only used with meter = srtcm",
        ));
    }
    if c.meter != MeterKind::TrTcm && (c.peak_rate != 0 || c.peak_burst != 0) {
        let which = if c.peak_rate != 0 {
            "peak_rate"
        } else {
            "peak_burst"
        };
        return Err(ConfigError::param(which, "only used with meter = trtcm"));
    }
    if c.per != Per::None {
        if c.flows == 0 {
            return Err(ConfigError::param("flows", "must be at least 1"));
        }
        let fill = Meter::new(c).fill_time_ns();
        if c.timeout.as_nanos() < fill {
            return Err(ConfigError::param(
                "timeout",
                format!(
                    "must be at least {:?}, the time an empty bucket takes to fill \
                     (an earlier expiry would give a flow extra burst)",
                    Duration::from_nanos(fill.min(u128::from(u64::MAX)) as u64)
                ),
            ));
        }
    }
    Ok(())
}

impl Nf for Policer {
    fn process(&mut self, _input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        if let Some(t) = self.flows.as_mut() {
            self.counters.expired += t.expire(now, |_, _| {}) as u64;
        }
        let (packets, verdicts) = batch.split_mut();
        for (pkt, verdict) in packets.iter_mut().zip(verdicts.iter_mut()) {
            *verdict = self.handle(pkt, now);
        }
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let c = &self.counters;
        for (i, color) in ["green", "yellow", "red"].iter().enumerate() {
            report(&format!("{color}_packets"), c.packets[i]);
            report(&format!("{color}_bytes"), c.bytes[i]);
        }
        report("remarked", c.remarked);
        report("flows", self.flows() as u64);
        report("flows_expired", c.expired);
        report("table_full", c.table_full);
        report("non_ip", c.non_ip);
    }

    /// With an unchanged configuration the buckets (and flow table) carry
    /// over a reload, so a reload cannot be used to reset the limits; the
    /// counters always do.
    fn adopt(&mut self, old: Box<dyn Nf>) {
        let Some(old) = netfn_core::nf::downcast::<Policer>(old) else {
            return;
        };
        let old = *old;
        self.counters = old.counters;
        if old.config == self.config {
            self.shared = old.shared;
            self.flows = old.flows;
        }
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(Policer::from_params(p)?))
}

const ACTION: ParamType = ParamType::Word(&["pass", "drop", "remark"]);
const DSCP: ParamType = ParamType::Int { min: -1, max: 63 };
const RATE: ParamType = ParamType::Int {
    min: 0,
    max: MAX_RATE as i64,
};

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "policer",
    doc: "Token-bucket policer: single rate, srTCM (RFC 2697) or trTCM (RFC 2698), aggregate or per flow",
    params: &[
        ParamSpec::required(
            "rate",
            RATE,
            "committed rate (CIR): bit/s, or packets/s with unit = pps (e.g. 10000000)",
        ),
        ParamSpec::required(
            "burst",
            ParamType::Size,
            "committed burst (CBS): bytes, or packets with unit = pps",
        ),
        ParamSpec::optional(
            "meter",
            ParamType::Word(&["single", "srtcm", "trtcm"]),
            "single",
            "single: one bucket, green/red; srtcm: RFC 2697; trtcm: RFC 2698",
        ),
        ParamSpec::optional(
            "unit",
            ParamType::Word(&["bps", "pps"]),
            "bps",
            "bps: rates in bit/s and bursts in bytes (whole frames); pps: packets",
        ),
        ParamSpec::optional(
            "excess_burst",
            ParamType::Size,
            "0",
            "srtcm: excess burst (EBS)",
        ),
        ParamSpec::optional("peak_rate", RATE, "0", "trtcm: peak rate (PIR >= rate)"),
        ParamSpec::optional(
            "peak_burst",
            ParamType::Size,
            "0",
            "trtcm: peak burst (PBS)",
        ),
        ParamSpec::optional("conform", ACTION, "pass", "action for green packets"),
        ParamSpec::optional(
            "exceed",
            ACTION,
            "pass",
            "action for yellow packets (srtcm, trtcm)",
        ),
        ParamSpec::optional(
            "violate",
            ACTION,
            "drop",
            "action for red packets (drop: `rate-limited`)",
        ),
        ParamSpec::optional("conform_dscp", DSCP, "-1", "DSCP for conform = remark"),
        ParamSpec::optional("exceed_dscp", DSCP, "-1", "DSCP for exceed = remark"),
        ParamSpec::optional("violate_dscp", DSCP, "-1", "DSCP for violate = remark"),
        ParamSpec::optional(
            "per",
            ParamType::Word(&["none", "flow", "src", "dst"]),
            "none",
            "none: one aggregate bucket; flow/src/dst: buckets per 5-tuple / source / destination address",
        ),
        ParamSpec::optional(
            "flows",
            ParamType::Int {
                min: 1,
                max: 16_777_216,
            },
            "65536",
            "per-flow table capacity (when full, new flows share one overflow bucket)",
        ),
        ParamSpec::optional(
            "timeout",
            ParamType::Duration,
            "60s",
            "idle time after which a flow's buckets are forgotten (>= the bucket fill time)",
        ),
    ],
    inputs: Arity::Exactly(1),
    outputs: Arity::Exactly(1),
    build: Build::Nf(build),
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_rate_arithmetic_is_exact() {
        // 8000 bit/s = 1000 bytes/s, burst 100 bytes.
        let m = Meter::new(&PolicerConfig {
            rate: 8000,
            burst: 100,
            ..PolicerConfig::default()
        });
        let mut b = m.full(0);
        assert_eq!(m.mark(&mut b, 0, 100), Color::Green);
        assert_eq!(m.mark(&mut b, 0, 1), Color::Red);
        // 1 ms later exactly one byte's worth is back.
        assert_eq!(m.mark(&mut b, 1_000_000, 2), Color::Red);
        assert_eq!(m.mark(&mut b, 1_000_000, 1), Color::Green);
        // Idle for a long time: capped at the burst.
        assert_eq!(m.mark(&mut b, 1_000_000_000_000, 101), Color::Red);
        assert_eq!(m.fill_time_ns(), 100_000_000);
    }

    #[test]
    fn srtcm_and_trtcm_colors() {
        let sr = Meter::new(&PolicerConfig {
            meter: MeterKind::SrTcm,
            rate: 8000,
            burst: 100,
            excess_burst: 50,
            ..PolicerConfig::default()
        });
        let mut b = sr.full(0);
        let colors: Vec<_> = [100, 50, 1]
            .iter()
            .map(|&l| sr.mark(&mut b, 0, l))
            .collect();
        assert_eq!(colors, vec![Color::Green, Color::Yellow, Color::Red]);
        let tr = Meter::new(&PolicerConfig {
            meter: MeterKind::TrTcm,
            rate: 8000,
            burst: 100,
            peak_rate: 16000,
            peak_burst: 150,
            ..PolicerConfig::default()
        });
        let mut b = tr.full(0);
        let colors: Vec<_> = [100, 50, 1]
            .iter()
            .map(|&l| tr.mark(&mut b, 0, l))
            .collect();
        assert_eq!(colors, vec![Color::Green, Color::Yellow, Color::Red]);
    }

    #[test]
    fn remark_patches_ipv4_checksum() {
        let t = netfn_wire::PacketBuilder::ethernet(
            netfn_wire::MacAddr([2, 0, 0, 0, 0, 1]),
            netfn_wire::MacAddr([2, 0, 0, 0, 0, 2]),
        )
        .ipv4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 64)
        .udp(1, 2);
        let mut f = vec![0; t.size(4)];
        t.write(&mut f, &[0; 4]).unwrap();
        assert!(remark(&mut f, 46));
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(ip.dscp(), 46);
        assert!(ip.verify_checksum());
        assert!(!remark(&mut [0u8; 20], 1));
    }
}
