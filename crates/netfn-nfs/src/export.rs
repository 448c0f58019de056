//! Sans-IO export of records as JSON lines in UDP datagrams, shared by the
//! NFs that report events (flow records, alerts, query logs).
//!
//! Records wait in a bounded queue (a record that finds it full is dropped
//! and counted) and leave as UDP datagrams from `exporter` to `collector`
//! on one output of the NF, each holding as many whole lines as fit in
//! `mtu`. Whatever port that output is connected to carries them (a pcap
//! file, an interface, a sink). The NF decides when to flush (a timer,
//! half-full queue, stop); a flush emits at most what the emit buffer
//! takes, so nothing is built that cannot leave.
//!
//! [`export_params!`] adds the exporter's parameters to an element's
//! parameter list, and [`ExportConfig::from_params`] reads them back, so
//! every exporting NF names them alike.

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;

use netfn_core::config::{ConfigError, Params};
use netfn_core::{Ctx, DropReason};
use netfn_wire::{MacAddr, PacketBuilder, PacketTemplate};

use crate::frame::SliceWriter;

/// A record that formats itself as one JSON line, newline included.
pub trait JsonLine {
    fn write_json(&self, w: &mut SliceWriter<'_>) -> fmt::Result;
}

/// Where and how records are sent.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// Records waiting for export at most.
    pub capacity: usize,
    /// Largest export IP packet.
    pub mtu: usize,
    pub exporter: (MacAddr, IpAddr, u16),
    pub collector: (MacAddr, IpAddr, u16),
}

impl ExportConfig {
    /// Loopback to loopback, port `port` on both ends.
    pub fn loopback(port: u16) -> Self {
        let local = IpAddr::from([127, 0, 0, 1]);
        ExportConfig {
            capacity: 4096,
            mtu: 1500,
            exporter: (MacAddr([2, 0, 0, 0, 0, 0xfe]), local, port),
            collector: (MacAddr([2, 0, 0, 0, 0, 0xff]), local, port),
        }
    }

    /// Reads the parameters [`export_params!`] declares.
    pub fn from_params(p: &Params) -> Result<ExportConfig, ConfigError> {
        Ok(ExportConfig {
            capacity: p.int("capacity")? as usize,
            mtu: p.size("mtu")? as usize,
            exporter: (
                MacAddr(p.mac("exporter_mac")?),
                p.ip("exporter")?,
                p.int("exporter_port")? as u16,
            ),
            collector: (
                MacAddr(p.mac("collector_mac")?),
                p.ip("collector")?,
                p.int("collector_port")? as u16,
            ),
        })
    }
}

/// Why an exporter cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("exporter and collector must be of the same address family")]
    Family,
    #[error("mtu {0} is not between 576 and 9000")]
    Mtu(usize),
}

impl ExportError {
    /// The parameter to blame.
    pub fn param(&self) -> &'static str {
        match self {
            ExportError::Family => "collector",
            ExportError::Mtu(_) => "mtu",
        }
    }
}

impl From<ExportError> for ConfigError {
    fn from(e: ExportError) -> Self {
        ConfigError::param(e.param(), e.to_string())
    }
}

/// Export counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportCounters {
    pub exported: u64,
    pub dropped: u64,
    pub datagrams: u64,
}

/// A bounded queue of records and the datagrams they leave in.
#[derive(Debug)]
pub struct JsonExport<T> {
    queue: VecDeque<T>,
    capacity: usize,
    template: PacketTemplate,
    mtu: usize,
    output: u16,
    pub counters: ExportCounters,
}

impl<T: JsonLine> JsonExport<T> {
    /// An exporter sending on `output` of the NF.
    pub fn new(config: &ExportConfig, output: u16) -> Result<Self, ExportError> {
        if !(576..=9000).contains(&config.mtu) {
            return Err(ExportError::Mtu(config.mtu));
        }
        let (smac, sip, sport) = config.exporter;
        let (dmac, dip, dport) = config.collector;
        let eth = PacketBuilder::ethernet(smac, dmac);
        let template = match (sip, dip) {
            (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s, d, 64).dont_frag(true).udp(sport, dport),
            (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s, d, 64).udp(sport, dport),
            _ => return Err(ExportError::Family),
        };
        Ok(JsonExport {
            queue: VecDeque::with_capacity(config.capacity),
            capacity: config.capacity,
            template,
            mtu: config.mtu,
            output,
            counters: ExportCounters::default(),
        })
    }

    /// Queues a record; a full queue drops it (counted).
    pub fn push(&mut self, item: T) {
        if self.queue.len() < self.capacity {
            self.queue.push_back(item);
        } else {
            self.counters.dropped += 1;
        }
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// At least half of the queue is taken (time to flush).
    pub fn is_half_full(&self) -> bool {
        self.queue.len() * 2 >= self.capacity
    }

    /// Takes the queued records (a reload hands them to the new instance).
    pub fn take_queue(&mut self) -> impl Iterator<Item = T> + '_ {
        self.queue.drain(..)
    }

    /// Drops what is still queued, counting it (at stop, when the emit
    /// buffer took all it could).
    pub fn discard(&mut self) {
        self.counters.dropped += self.queue.len() as u64;
        self.queue.clear();
    }

    /// Sends queued records in at most `max` datagrams.
    pub fn flush(&mut self, ctx: &mut Ctx<'_>, max: usize) {
        let header = self.template.size(0);
        let frame_len = netfn_wire::ethernet::HEADER_LEN + self.mtu;
        for _ in 0..max {
            if self.queue.is_empty() || ctx.emit_room() == 0 {
                return;
            }
            let Some(mut pkt) = ctx.alloc() else {
                ctx.count_lost(DropReason::PoolExhausted);
                return;
            };
            let room = frame_len.min(pkt.tailroom());
            let Ok(buf) = pkt.extend_back(room) else {
                return;
            };
            let mut at = header;
            while let Some(item) = self.queue.front() {
                let Some(dst) = buf.get_mut(at..room) else {
                    break;
                };
                let mut w = SliceWriter::new(dst);
                if item.write_json(&mut w).is_err() {
                    if at == header {
                        // Cannot fit even alone (a tiny frame): lose it.
                        self.queue.pop_front();
                        self.counters.dropped += 1;
                        continue;
                    }
                    break;
                }
                at += w.len;
                self.queue.pop_front();
                self.counters.exported += 1;
            }
            if at == header {
                return;
            }
            match self.template.write_in_place(buf, at - header) {
                Ok(len) => {
                    pkt.truncate(len);
                    self.counters.datagrams += 1;
                    ctx.emit(self.output, pkt);
                }
                Err(_) => ctx.count_lost(DropReason::TooBig),
            }
        }
    }
}

/// An element's parameter list followed by the exporter's parameters
/// (`capacity`, `mtu`, `collector`, `collector_port`, `collector_mac`,
/// `exporter`, `exporter_port`, `exporter_mac`), read back by
/// [`ExportConfig::from_params`]. The first argument is the default UDP
/// port (a string literal), e.g. `export_params!["9995"; ParamSpec::...]`.
#[macro_export]
macro_rules! export_params {
    ($port:literal; $($param:expr),* $(,)?) => {
        [
            $($param,)*
            ::netfn_core::config::ParamSpec::optional(
                "capacity",
                ::netfn_core::config::ParamType::Int { min: 1, max: 1_048_576 },
                "4096",
                "records waiting for export at most (more are dropped and counted)",
            ),
            ::netfn_core::config::ParamSpec::optional(
                "mtu",
                ::netfn_core::config::ParamType::Size,
                "1500",
                "largest export IP packet (576..=9000 bytes, within the frame size)",
            ),
            ::netfn_core::config::ParamSpec::optional(
                "collector",
                ::netfn_core::config::ParamType::Ip,
                "127.0.0.1",
                "destination address of export datagrams",
            ),
            ::netfn_core::config::ParamSpec::optional(
                "collector_port",
                ::netfn_core::config::ParamType::Int { min: 1, max: 65535 },
                $port,
                "destination UDP port of export datagrams",
            ),
            ::netfn_core::config::ParamSpec::optional(
                "collector_mac",
                ::netfn_core::config::ParamType::Mac,
                "02:00:00:00:00:ff",
                "destination MAC of export datagrams",
            ),
            ::netfn_core::config::ParamSpec::optional(
                "exporter",
                ::netfn_core::config::ParamType::Ip,
                "127.0.0.1",
                "source address of export datagrams",
            ),
            ::netfn_core::config::ParamSpec::optional(
                "exporter_port",
                ::netfn_core::config::ParamType::Int { min: 1, max: 65535 },
                $port,
                "source UDP port of export datagrams",
            ),
            ::netfn_core::config::ParamSpec::optional(
                "exporter_mac",
                ::netfn_core::config::ParamType::Mac,
                "02:00:00:00:00:fe",
                "source MAC of export datagrams",
            ),
        ]
    };
}
