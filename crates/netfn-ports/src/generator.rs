//! The built-in traffic generator: a source port that needs no root and no
//! network.
//!
//! At construction it builds one header template per (flow, frame size)
//! with every length and checksum computed for a fixed payload pattern, and
//! a deterministic schedule (from `seed`) of which template comes next. Per
//! packet it only copies a header and a payload into a fresh frame (what a
//! NIC's DMA would do), optionally stamps a sequence number into the payload
//! (patching the checksum incrementally), and applies a token-bucket rate.
//!
//! Frame sizes count the Ethernet frame without FCS (what a capture shows);
//! a frame is never smaller than its headers (plus 8 payload bytes when
//! stamping sequence numbers).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netfn_core::config::{ConfigError, Params};
use netfn_core::{Batch, Port, PortCtx, RecvStatus};
use netfn_wire::checksum;
use netfn_wire::{MacAddr, PacketBuilder, PacketTemplate, TcpFlags};

/// Simple IMIX: 64, 576 and 1500-byte frames in the ratio 7:4:1.
pub const IMIX: [(usize, u32); 3] = [(64, 7), (576, 4), (1500, 1)];

/// Length of the schedule of (flow, size) choices, cycled.
const SCHEDULE_LEN: usize = 4096;

/// Transport protocol of a generated flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
    Icmp,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Frame sizes and their weights.
    pub sizes: Vec<(usize, u32)>,
    /// Number of distinct 5-tuples.
    pub flows: u32,
    /// Weights of UDP, TCP and ICMP flows.
    pub udp: u32,
    pub tcp: u32,
    pub icmp: u32,
    /// Percentage of flows that are IPv6.
    pub ipv6_percent: u32,
    pub seed: u64,
    /// Packets per second; 0 = as fast as possible.
    pub rate: u64,
    /// Stop after this many packets; 0 = never.
    pub count: u64,
    pub src: Ipv4Net,
    pub dst: Ipv4Net,
    pub src6: Ipv6Net,
    pub dst6: Ipv6Net,
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// Stamp a 64-bit sequence number at the start of each payload.
    pub sequence: bool,
    /// Timestamp packets with [`crate::latency::precise_now_ns`] (read per
    /// batch) instead of the runtime's round clock, for `sink(latency = true)`.
    pub precise_timestamp: bool,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            sizes: vec![(64, 1)],
            flows: 1,
            udp: 1,
            tcp: 0,
            icmp: 0,
            ipv6_percent: 0,
            seed: 1,
            rate: 0,
            count: 0,
            src: "10.0.0.0/16".parse().expect("valid"),
            dst: "10.1.0.0/16".parse().expect("valid"),
            src6: "fd00:0:0:1::/64".parse().expect("valid"),
            dst6: "fd00:0:0:2::/64".parse().expect("valid"),
            src_mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]),
            dst_mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
            sequence: false,
            precise_timestamp: false,
        }
    }
}

impl GeneratorConfig {
    /// From validated graph parameters (see [`crate::SPECS`]).
    pub fn from_params(p: &Params) -> Result<Self, ConfigError> {
        let mut c = GeneratorConfig::default();
        if p.bool("imix")? {
            c.sizes = IMIX.to_vec();
        } else {
            c.sizes = p.list("size")?.iter().map(|v| (size_of(v), 1)).collect();
            if c.sizes.is_empty() {
                return Err(ConfigError::param("size", "needs at least one frame size"));
            }
        }
        c.flows = p.int("flows")? as u32;
        c.udp = p.int("udp")? as u32;
        c.tcp = p.int("tcp")? as u32;
        c.icmp = p.int("icmp")? as u32;
        if c.udp + c.tcp + c.icmp == 0 {
            return Err(ConfigError::param(
                "udp",
                "at least one of udp, tcp, icmp needs a weight above 0",
            ));
        }
        c.ipv6_percent = p.int("ipv6")? as u32;
        c.seed = p.int("seed")? as u64;
        c.rate = p.int("rate")? as u64;
        c.count = p.int("count")? as u64;
        c.src = v4(p.prefix("src")?, "src")?;
        c.dst = v4(p.prefix("dst")?, "dst")?;
        c.src6 = v6(p.prefix("src6")?, "src6")?;
        c.dst6 = v6(p.prefix("dst6")?, "dst6")?;
        c.src_mac = MacAddr(p.mac("src_mac")?);
        c.dst_mac = MacAddr(p.mac("dst_mac")?);
        c.sequence = p.bool("sequence")?;
        c.precise_timestamp = p.str("timestamp")? == "precise";
        Ok(c)
    }
}

fn size_of(v: &netfn_core::config::Value) -> usize {
    match v {
        netfn_core::config::Value::Size(s) => *s as usize,
        netfn_core::config::Value::Int(i) => *i as usize,
        _ => 64,
    }
}

fn v4(net: IpNet, param: &str) -> Result<Ipv4Net, ConfigError> {
    match net {
        IpNet::V4(n) => Ok(n),
        IpNet::V6(_) => Err(ConfigError::param(param, "expected an IPv4 prefix")),
    }
}

fn v6(net: IpNet, param: &str) -> Result<Ipv6Net, ConfigError> {
    match net {
        IpNet::V6(n) => Ok(n),
        IpNet::V4(_) => Err(ConfigError::param(param, "expected an IPv6 prefix")),
    }
}

/// One prebuilt frame header.
#[derive(Debug, Clone, Copy)]
struct Template {
    /// Header bytes in the arena.
    start: u32,
    header_len: u16,
    payload_len: u16,
    /// Offset of the transport checksum in the frame.
    csum_offset: u16,
    /// UDP sends a computed checksum of 0 as 0xffff (0 means "none").
    udp: bool,
}

/// Seconds of sending a paced generator may fall behind and make up.
const RATE_CATCH_UP: f64 = 0.01;

/// The generator port.
#[derive(Debug)]
pub struct Generator {
    config: GeneratorConfig,
    arena: Vec<u8>,
    templates: Vec<Template>,
    schedule: Vec<u32>,
    pattern: Vec<u8>,
    next: usize,
    sent: u64,
    tokens: f64,
    last_refill: Option<u64>,
}

impl Generator {
    pub fn new(config: GeneratorConfig) -> Result<Generator, ConfigError> {
        if config.flows == 0 {
            return Err(ConfigError::param("flows", "needs at least one flow"));
        }
        if config.sizes.iter().all(|(_, w)| *w == 0) {
            return Err(ConfigError::param("size", "every size has weight 0"));
        }
        let max_size = config.sizes.iter().map(|(s, _)| *s).max().unwrap_or(64);
        if max_size > 9216 {
            return Err(ConfigError::param(
                "size",
                format!("{max_size} bytes is above the 9216-byte maximum"),
            ));
        }
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let pattern: Vec<u8> = (0..max_size.max(8)).map(|i| (i % 251) as u8).collect();
        let mut arena = Vec::new();
        let mut templates = Vec::new();
        let mut scratch = vec![0u8; max_size + 256];
        let total_weight = config.udp + config.tcp + config.icmp;
        for flow in 0..config.flows {
            let pick = rng.u32(0..total_weight);
            let proto = if pick < config.udp {
                Proto::Udp
            } else if pick < config.udp + config.tcp {
                Proto::Tcp
            } else {
                Proto::Icmp
            };
            let ipv6 = rng.u32(0..100) < config.ipv6_percent;
            let sport = 1024 + (flow % 60_000) as u16;
            let dport = [80, 443, 53, 8080, 5201, 22, 123, 3306][rng.usize(0..8)];
            for &(size, _) in &config.sizes {
                let template = flow_template(&config, flow, proto, ipv6, sport, dport, rng.u32(..));
                let header_len = template.header_len();
                // A sequence number needs 8 payload bytes, even if the frame grows.
                let payload_len =
                    size.saturating_sub(header_len)
                        .max(if config.sequence { 8 } else { 0 });
                let len = template
                    .write(&mut scratch, &pattern[..payload_len])
                    .map_err(|e| ConfigError::new(format!("cannot build template: {e}")))?;
                let csum_offset = match proto {
                    Proto::Udp => header_len - 8 + 6,
                    Proto::Tcp => header_len - 20 + 16,
                    Proto::Icmp => header_len - 8 + 2,
                };
                templates.push(Template {
                    start: arena.len() as u32,
                    header_len: header_len as u16,
                    payload_len: (len - header_len) as u16,
                    csum_offset: csum_offset as u16,
                    udp: proto == Proto::Udp,
                });
                arena.extend_from_slice(&scratch[..header_len]);
            }
        }
        let n_sizes = config.sizes.len();
        let weight_sum: u32 = config.sizes.iter().map(|(_, w)| w).sum();
        let schedule = (0..SCHEDULE_LEN)
            .map(|_| {
                let flow = rng.u32(0..config.flows) as usize;
                let mut w = rng.u32(0..weight_sum);
                let size_index = config
                    .sizes
                    .iter()
                    .position(|(_, sw)| {
                        if w < *sw {
                            true
                        } else {
                            w -= sw;
                            false
                        }
                    })
                    .unwrap_or(0);
                (flow * n_sizes + size_index) as u32
            })
            .collect();
        Ok(Generator {
            config,
            arena,
            templates,
            schedule,
            pattern,
            next: 0,
            sent: 0,
            tokens: 0.0,
            last_refill: None,
        })
    }

    pub fn from_params(p: &Params) -> Result<Generator, ConfigError> {
        Generator::new(GeneratorConfig::from_params(p)?)
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// Packets generated so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// How many packets this call may produce under the rate limit.
    fn budget(&mut self, now: u64, max: usize) -> usize {
        if self.config.rate == 0 {
            return max;
        }
        let last = *self.last_refill.get_or_insert(now);
        let elapsed = now.saturating_sub(last) as f64 * 1e-9;
        self.last_refill = Some(now);
        // Credit for at most RATE_CATCH_UP (or one batch): a generator the
        // OS descheduled for a few milliseconds (a nap that overslept, a
        // busy machine) catches up, in batches, instead of losing that
        // time for good and falling short of its rate; a longer stall is
        // not made up.
        let cap = (self.config.rate as f64 * RATE_CATCH_UP).max(max as f64);
        self.tokens = (self.tokens + elapsed * self.config.rate as f64).min(cap);
        let n = (self.tokens as usize).min(max);
        self.tokens -= n as f64;
        n
    }
}

#[allow(clippy::too_many_arguments)]
fn flow_template(
    c: &GeneratorConfig,
    flow: u32,
    proto: Proto,
    ipv6: bool,
    sport: u16,
    dport: u16,
    isn: u32,
) -> PacketTemplate {
    let eth = PacketBuilder::ethernet(c.src_mac, c.dst_mac);
    let (src, dst) = if ipv6 {
        (
            IpAddr::V6(host6(c.src6, flow)),
            IpAddr::V6(host6(c.dst6, flow.wrapping_mul(7))),
        )
    } else {
        (
            IpAddr::V4(host4(c.src, flow)),
            IpAddr::V4(host4(c.dst, flow.wrapping_mul(7))),
        )
    };
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ip = eth.ipv4(s, d, 64).ident(flow as u16);
            match proto {
                Proto::Udp => ip.udp(sport, dport),
                Proto::Tcp => ip.tcp(sport, dport, isn, 1, TcpFlags::ACK | TcpFlags::PSH, 65535),
                Proto::Icmp => ip.icmpv4_echo_request(flow as u16, 1),
            }
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let ip = eth.ipv6(s, d, 64);
            match proto {
                Proto::Udp => ip.udp(sport, dport),
                Proto::Tcp => ip.tcp(sport, dport, isn, 1, TcpFlags::ACK | TcpFlags::PSH, 65535),
                Proto::Icmp => ip.icmpv6_echo_request(flow as u16, 1),
            }
        }
        _ => unreachable!("both addresses have the same family"),
    }
}

/// The `index`-th host address of a prefix (wrapping), skipping the network
/// and broadcast addresses where the prefix has room.
fn host4(net: Ipv4Net, index: u32) -> Ipv4Addr {
    let size = 1u64 << (32 - net.prefix_len());
    let base = u64::from(u32::from(net.network()));
    let offset = if size <= 2 {
        u64::from(index) % size
    } else {
        1 + u64::from(index) % (size - 2)
    };
    Ipv4Addr::from((base + offset) as u32)
}

fn host6(net: Ipv6Net, index: u32) -> Ipv6Addr {
    let size = 1u128
        .checked_shl(128 - u32::from(net.prefix_len()))
        .unwrap_or(u128::MAX);
    let base = u128::from(net.network());
    let offset = if size <= 2 {
        u128::from(index) % size
    } else {
        1 + u128::from(index) % (size - 1)
    };
    Ipv6Addr::from(base + offset)
}

impl Port for Generator {
    fn recv(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> RecvStatus {
        let mut n = self.budget(ctx.now, batch.remaining());
        if self.config.count > 0 {
            n = n.min((self.config.count - self.sent) as usize);
        }
        let stamp = if self.config.precise_timestamp && n > 0 {
            crate::latency::precise_now_ns()
        } else {
            ctx.now
        };
        for _ in 0..n {
            let t = self.templates[self.schedule[self.next] as usize];
            let Some(mut pkt) = ctx.pool.alloc() else {
                break;
            };
            self.next = (self.next + 1) % self.schedule.len();
            let (hl, pl) = (t.header_len as usize, t.payload_len as usize);
            let Ok(buf) = pkt.extend_back(hl + pl) else {
                break;
            };
            buf[..hl].copy_from_slice(&self.arena[t.start as usize..t.start as usize + hl]);
            buf[hl..].copy_from_slice(&self.pattern[..pl]);
            if self.config.sequence && pl >= 8 {
                let seq = self.sent.to_be_bytes();
                let off = t.csum_offset as usize;
                let old = u16::from_be_bytes([buf[off], buf[off + 1]]);
                let mut new = checksum::update_bytes(old, &self.pattern[..8], &seq);
                if t.udp && new == 0 {
                    new = 0xffff;
                }
                buf[off..off + 2].copy_from_slice(&new.to_be_bytes());
                buf[hl..hl + 8].copy_from_slice(&seq);
            }
            pkt.set_input_port(ctx.port_id);
            pkt.set_timestamp(stamp);
            ctx.bytes += (hl + pl) as u64;
            self.sent += 1;
            let _ = batch.push(pkt);
        }
        if self.config.count > 0 && self.sent >= self.config.count {
            RecvStatus::Exhausted
        } else {
            RecvStatus::Ready
        }
    }

    fn send(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) {
        // A generator consumes what is sent to it (like a sink).
        ctx.bytes += batch.drain().map(|(p, _)| p.len() as u64).sum::<u64>();
    }

    fn counts_bytes(&self) -> bool {
        true
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        report("generated", self.sent);
        report("templates", self.templates.len() as u64);
    }
}
