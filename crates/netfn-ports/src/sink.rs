//! `sink`: the end of a graph. Counts what it receives (the runtime does)
//! and can check it: header checksums, or the generator's sequence numbers
//! (lost, duplicated, reordered), and measure latency: the time since a
//! `generator(timestamp = "precise")` of the same process stamped each
//! packet, in a histogram (see [`crate::latency`]).

use netfn_core::config::{ConfigError, Params};
use netfn_core::ops::Cursor;
use netfn_core::{Batch, Packet, Port, PortCtx, RecvStatus};
use netfn_wire::{Ethernet, Ipv4, Ipv6, Tcp, Udp};

use crate::latency::{Histogram, precise_now_ns};

/// What a sink verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// IPv4 header and TCP/UDP checksums.
    Checksum,
    /// The generator's 64-bit sequence numbers arrive in order, once.
    Sequence,
}

/// Counts of a sink's checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCounts {
    pub checked: u64,
    pub bad_checksum: u64,
    /// Sequence numbers never seen (gaps).
    pub lost: u64,
    /// Sequence numbers at or below the highest seen (duplicates or late).
    pub out_of_order: u64,
    /// Packets the check could not read (not IPv4/IPv6 + TCP/UDP).
    pub unreadable: u64,
}

#[derive(Debug)]
pub struct Sink {
    check: Check,
    counts: SinkCounts,
    next_seq: u64,
    latency: Option<Histogram>,
    /// Runtime clock before which arrivals are not measured.
    warmup_ns: u64,
}

impl Sink {
    pub fn new(check: Check) -> Self {
        Sink {
            check,
            counts: SinkCounts::default(),
            next_seq: 0,
            latency: None,
            warmup_ns: 0,
        }
    }

    /// Also measures latency, from `warmup` (runtime clock) on.
    pub fn with_latency(mut self, warmup: std::time::Duration) -> Self {
        self.latency = Some(Histogram::new());
        self.warmup_ns = warmup.as_nanos() as u64;
        self
    }

    /// The latency histogram, ns, if measured.
    pub fn latency(&self) -> Option<&Histogram> {
        self.latency.as_ref()
    }

    pub fn from_params(p: &Params) -> Result<Self, ConfigError> {
        let check = match p.str("check")? {
            "none" => Check::None,
            "checksum" => Check::Checksum,
            "sequence" => Check::Sequence,
            other => {
                return Err(ConfigError::param(
                    "check",
                    format!("unknown check `{other}`"),
                ));
            }
        };
        let sink = Sink::new(check);
        Ok(if p.bool("latency")? {
            sink.with_latency(p.duration("warmup")?)
        } else {
            sink
        })
    }

    pub fn counts(&self) -> SinkCounts {
        self.counts
    }

    fn inspect(&mut self, pkt: &mut Packet) {
        self.counts.checked += 1;
        let ok = match self.check {
            Check::None => true,
            Check::Checksum => checksums_ok(pkt),
            Check::Sequence => match sequence_of(pkt) {
                Some(seq) => {
                    if seq >= self.next_seq {
                        self.counts.lost += seq - self.next_seq;
                        self.next_seq = seq + 1;
                    } else {
                        self.counts.out_of_order += 1;
                    }
                    true
                }
                None => {
                    self.counts.unreadable += 1;
                    true
                }
            },
        };
        if !ok {
            self.counts.bad_checksum += 1;
        }
    }
}

/// Transport checksum check over an IP cursor.
macro_rules! l4_ok {
    ($ip:expr, $src:expr, $dst:expr) => {{
        let ip = $ip;
        if ip.is::<Udp>() {
            match ip.parse::<Udp>() {
                Ok(udp) => {
                    let u = udp.header();
                    u.checksum() == 0 || u.verify_checksum($src, $dst)
                }
                Err(_) => false,
            }
        } else if ip.is::<Tcp>() {
            ip.parse::<Tcp>()
                .is_ok_and(|tcp| tcp.header().verify_checksum($src, $dst))
        } else {
            true
        }
    }};
}

/// Verifies the IPv4 header checksum and the TCP/UDP checksum.
fn checksums_ok(pkt: &mut Packet) -> bool {
    let Ok(eth) = Cursor::<Ethernet>::new(pkt) else {
        return false;
    };
    if eth.is::<Ipv4>() {
        let Ok(ip) = eth.parse::<Ipv4>() else {
            return false;
        };
        let h = ip.header();
        let (ok, src, dst) = (
            h.verify_checksum(),
            h.src_addr().into(),
            h.dst_addr().into(),
        );
        ok && l4_ok!(ip, src, dst)
    } else if eth.is::<Ipv6>() {
        let Ok(ip) = eth.parse::<Ipv6>() else {
            return false;
        };
        let h = ip.header();
        let (src, dst) = (h.src_addr().into(), h.dst_addr().into());
        l4_ok!(ip, src, dst)
    } else {
        true
    }
}

/// The generator's sequence number: the first 8 bytes of a TCP/UDP payload.
fn sequence_of(pkt: &mut Packet) -> Option<u64> {
    fn first8(b: &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(b.get(..8)?.try_into().ok()?))
    }
    macro_rules! payload_seq {
        ($ip:expr) => {{
            let ip = $ip;
            if ip.is::<Udp>() {
                first8(ip.parse::<Udp>().ok()?.payload())
            } else {
                first8(ip.parse::<Tcp>().ok()?.payload())
            }
        }};
    }
    let eth = Cursor::<Ethernet>::new(pkt).ok()?;
    if eth.is::<Ipv4>() {
        payload_seq!(eth.parse::<Ipv4>().ok()?)
    } else {
        payload_seq!(eth.parse::<Ipv6>().ok()?)
    }
}

impl Port for Sink {
    fn recv(&mut self, _batch: &mut Batch, _ctx: &mut PortCtx<'_>) -> RecvStatus {
        RecvStatus::Exhausted
    }

    fn send(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) {
        if self.check != Check::None {
            for pkt in batch.iter_mut() {
                self.inspect(pkt);
            }
        }
        if let Some(h) = &mut self.latency
            && ctx.now >= self.warmup_ns
        {
            let now = precise_now_ns();
            for pkt in batch.iter() {
                h.record(now.saturating_sub(pkt.timestamp()));
            }
        }
        // Sum the lengths (a pass that vectorises), then drop the packets
        // in one `clear`: cheaper than counting inside a draining iterator.
        ctx.bytes += batch.iter().map(|p| p.len() as u64).sum::<u64>();
        batch.clear();
    }

    fn counts_bytes(&self) -> bool {
        true
    }

    fn is_source(&self) -> bool {
        false
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        if let Some(h) = &self.latency {
            report("latency_samples", h.len());
            report("latency_p50_ns", h.quantile(0.5));
            report("latency_p99_ns", h.quantile(0.99));
            report("latency_p999_ns", h.quantile(0.999));
            report("latency_max_ns", h.max());
        }
        if self.check == Check::None {
            return;
        }
        let c = self.counts;
        report("checked", c.checked);
        match self.check {
            Check::Checksum => report("bad_checksum", c.bad_checksum),
            Check::Sequence => {
                report("lost", c.lost);
                report("out_of_order", c.out_of_order);
                report("unreadable", c.unreadable);
            }
            Check::None => {}
        }
    }
}
