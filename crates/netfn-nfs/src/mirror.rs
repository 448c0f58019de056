//! `mirror`: port mirroring with selection, truncation and sampling (Open
//! vSwitch's Mirror table: `select_*`, `snaplen`; sFlow-style 1-in-N
//! random sampling), beyond `tee`, which copies everything.
//!
//! Every packet leaves on output 0 unchanged. A packet that matches the
//! filter is, with probability 1/`sample` (drawn from the runtime's RNG,
//! so runs are reproducible), copied to output 1, cut to its first
//! `snaplen` bytes when `snaplen` is set (headers are left as they are:
//! the copy says the length of the original, as a pcap snapshot does).
//! A copy that finds no free frame, or no room in the emit buffer, is
//! counted as lost (`pool-exhausted` / `emit-overflow`); the original is
//! never held back.
//!
//! The filter is the AND of the criteria given; each list matches if any
//! of its entries does; no criteria means every packet:
//! * `vlan` -- the outer 802.1Q/802.1ad VLAN ID (untagged frames fail);
//! * `src`, `dst` -- prefixes the source / destination address is in;
//!   `net` -- prefixes either address is in;
//! * `proto` -- IP protocols by name (`tcp`, `udp`, `icmp`, `icmpv6`,
//!   `sctp`, `gre`, `esp`, `ah`) or number;
//! * `port` -- TCP/UDP/SCTP ports or ranges (`53`, `8000-8080`), either
//!   side (non-first fragments carry no ports and fail).
//!
//! Frames that are not IP (or whose IP header is malformed) match only
//! when no IP criterion (`src`, `dst`, `net`, `proto`, `port`) is given.
//! Lists are scanned in order: they are meant to be short.

use ipnet::IpNet;
use netfn_core::config::{
    Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params, Value,
};
use netfn_core::{Batch, Ctx, DropReason, Nf, Packet};
use netfn_wire::{EthernetFrame, VlanTag};

use crate::frame::locate_ip;

/// Which packets are mirrored (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorFilter {
    pub vlans: Vec<u16>,
    pub src: Vec<IpNet>,
    pub dst: Vec<IpNet>,
    pub net: Vec<IpNet>,
    pub protocols: Vec<u8>,
    /// Inclusive ranges.
    pub ports: Vec<(u16, u16)>,
}

impl MirrorFilter {
    fn needs_ip(&self) -> bool {
        !(self.src.is_empty()
            && self.dst.is_empty()
            && self.net.is_empty()
            && self.protocols.is_empty()
            && self.ports.is_empty())
    }

    /// Whether `frame` is selected.
    pub fn matches(&self, frame: &[u8]) -> bool {
        if !self.vlans.is_empty() {
            let Some(vid) = outer_vid(frame) else {
                return false;
            };
            if !self.vlans.contains(&vid) {
                return false;
            }
        }
        if !self.needs_ip() {
            return true;
        }
        let Ok(Some(ip)) = locate_ip(frame) else {
            return false;
        };
        let within = |list: &[IpNet], a| list.is_empty() || list.iter().any(|n| n.contains(&a));
        if !within(&self.src, ip.src) || !within(&self.dst, ip.dst) {
            return false;
        }
        if !self.net.is_empty()
            && !self
                .net
                .iter()
                .any(|n| n.contains(&ip.src) || n.contains(&ip.dst))
        {
            return false;
        }
        if !self.protocols.is_empty() && !self.protocols.contains(&u8::from(ip.protocol)) {
            return false;
        }
        if !self.ports.is_empty() {
            let Some((sport, dport)) = ip.ports(frame) else {
                return false;
            };
            let hit = |p: u16| self.ports.iter().any(|&(lo, hi)| (lo..=hi).contains(&p));
            if !hit(sport) && !hit(dport) {
                return false;
            }
        }
        true
    }
}

fn outer_vid(frame: &[u8]) -> Option<u16> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if !eth.ethertype().is_vlan() {
        return None;
    }
    let tag = frame.get(netfn_wire::ethernet::HEADER_LEN..)?;
    (tag.len() >= netfn_wire::vlan::HEADER_LEN).then(|| VlanTag::new_unchecked(tag).vid())
}

/// A protocol name or number.
pub fn parse_protocol(s: &str) -> Option<u8> {
    Some(match s.to_ascii_lowercase().as_str() {
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" | "ipv6-icmp" => 58,
        "sctp" => 132,
        other => return other.parse().ok(),
    })
}

/// `80` or `8000-8080`.
pub fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
            (lo <= hi).then_some((lo, hi))
        }
        None => s.trim().parse().ok().map(|p| (p, p)),
    }
}

/// The configuration of a [`Mirror`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorConfig {
    pub filter: MirrorFilter,
    /// Bytes kept in a copy (0: all).
    pub snaplen: usize,
    /// Copy one matching packet in this many, at random (1: all).
    pub sample: u32,
}

impl Default for MirrorConfig {
    fn default() -> Self {
        MirrorConfig {
            filter: MirrorFilter::default(),
            snaplen: 0,
            sample: 1,
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Counters {
    matched: u64,
    mirrored: u64,
    not_sampled: u64,
    truncated: u64,
    lost: u64,
}

/// The mirror NF (see the module docs).
#[derive(Debug)]
pub struct Mirror {
    config: MirrorConfig,
    counters: Counters,
}

impl Mirror {
    pub fn new(config: MirrorConfig) -> Self {
        Mirror {
            config,
            counters: Counters::default(),
        }
    }

    /// Builds from validated graph parameters (see [`SPECS`]).
    pub fn from_params(p: &Params) -> Result<Mirror, ConfigError> {
        let prefixes = |name: &str| -> Result<Vec<IpNet>, ConfigError> {
            p.list(name)?
                .iter()
                .map(|v| match v {
                    Value::Prefix(n) => Ok(n.trunc()),
                    Value::Ip(a) => Ok(IpNet::from(*a)),
                    other => Err(ConfigError::param(
                        name,
                        format!("expected a list of prefixes, found `{other}`"),
                    )),
                })
                .collect()
        };
        let words = |name: &str| -> Result<Vec<String>, ConfigError> {
            p.list(name)?
                .iter()
                .map(|v| match v {
                    Value::Str(s) | Value::Word(s) => Ok(s.to_string()),
                    Value::Int(i) => Ok(i.to_string()),
                    other => Err(ConfigError::param(name, format!("unexpected `{other}`"))),
                })
                .collect()
        };
        let protocols = words("proto")?
            .iter()
            .map(|s| {
                parse_protocol(s).ok_or_else(|| {
                    ConfigError::param(
                        "proto",
                        format!("`{s}` is not a protocol; expected tcp, udp, icmp, icmpv6, sctp, gre, esp, ah or a number 0..=255"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ports = words("port")?
            .iter()
            .map(|s| {
                parse_port_range(s).ok_or_else(|| {
                    ConfigError::param(
                        "port",
                        format!("`{s}` is not a port or range; expected e.g. `53` or `8000-8080` (0..=65535, low <= high)"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let vlans = p
            .list("vlan")?
            .iter()
            .map(|v| match v {
                Value::Int(i) => Ok(*i as u16),
                other => Err(ConfigError::param(
                    "vlan",
                    format!("expected VLAN IDs, found `{other}`"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Mirror::new(MirrorConfig {
            filter: MirrorFilter {
                vlans,
                src: prefixes("src")?,
                dst: prefixes("dst")?,
                net: prefixes("net")?,
                protocols,
                ports,
            },
            snaplen: p.size("snaplen")? as usize,
            sample: p.int("sample")? as u32,
        }))
    }

    fn copy(&mut self, pkt: &Packet, ctx: &mut Ctx<'_>) {
        if ctx.emit_room() == 0 {
            self.counters.lost += 1;
            ctx.count_lost(DropReason::EmitOverflow);
            return;
        }
        let Some(mut copy) = ctx.alloc() else {
            self.counters.lost += 1;
            ctx.count_lost(DropReason::PoolExhausted);
            return;
        };
        let data = pkt.data();
        let keep = match self.config.snaplen {
            0 => data.len(),
            n => n.min(data.len()),
        };
        if copy.set_data(&data[..keep]).is_err() {
            self.counters.lost += 1;
            ctx.count_lost(DropReason::TooBig);
            return;
        }
        if keep < data.len() {
            self.counters.truncated += 1;
        }
        copy.set_input_port(pkt.input_port());
        copy.set_timestamp(pkt.timestamp());
        copy.set_user_meta(pkt.user_meta());
        if let Some(h) = pkt.flow_hash() {
            copy.set_flow_hash(h);
        }
        self.counters.mirrored += 1;
        ctx.emit(1, copy);
    }
}

impl Nf for Mirror {
    fn process(&mut self, _input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        for pkt in batch.iter() {
            if !self.config.filter.matches(pkt.data()) {
                continue;
            }
            self.counters.matched += 1;
            if self.config.sample > 1 && ctx.rng().u32(..self.config.sample) != 0 {
                self.counters.not_sampled += 1;
                continue;
            }
            self.copy(pkt, ctx);
        }
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let c = &self.counters;
        report("matched", c.matched);
        report("mirrored", c.mirrored);
        report("not_sampled", c.not_sampled);
        report("truncated", c.truncated);
        report("lost", c.lost);
    }

    fn adopt(&mut self, old: Box<dyn Nf>) {
        if let Some(old) = netfn_core::nf::downcast::<Mirror>(old) {
            self.counters = old.counters;
        }
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(Mirror::from_params(p)?))
}

static PREFIX: ParamType = ParamType::Prefix;
static STR: ParamType = ParamType::Str;
static VID: ParamType = ParamType::Int { min: 0, max: 4095 };

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "mirror",
    doc: "Copy selected packets (VLAN, prefixes, protocols, ports), optionally truncated and sampled 1-in-N, to output 1; originals on output 0",
    params: &[
        ParamSpec::optional(
            "vlan",
            ParamType::List(&VID),
            "[]",
            "outer VLAN IDs to mirror (empty: any, untagged included)",
        ),
        ParamSpec::optional(
            "src",
            ParamType::List(&PREFIX),
            "[]",
            "source prefixes to mirror",
        ),
        ParamSpec::optional(
            "dst",
            ParamType::List(&PREFIX),
            "[]",
            "destination prefixes to mirror",
        ),
        ParamSpec::optional(
            "net",
            ParamType::List(&PREFIX),
            "[]",
            "prefixes either address must be in",
        ),
        ParamSpec::optional(
            "proto",
            ParamType::List(&STR),
            "[]",
            "IP protocols (tcp, udp, icmp, icmpv6, sctp, gre, esp, ah, or numbers)",
        ),
        ParamSpec::optional(
            "port",
            ParamType::List(&STR),
            "[]",
            "TCP/UDP/SCTP ports or ranges (`53`, `8000-8080`), either side",
        ),
        ParamSpec::optional(
            "snaplen",
            ParamType::Size,
            "0",
            "bytes kept of each copy (0: the whole packet)",
        ),
        ParamSpec::optional(
            "sample",
            ParamType::Int {
                min: 1,
                max: 16_777_216,
            },
            "1",
            "copy one matching packet in N, at random (1: every one)",
        ),
    ],
    inputs: Arity::Exactly(1),
    outputs: Arity::Exactly(2),
    build: Build::Nf(build),
}];

#[cfg(test)]
mod tests {
    use super::*;
    use netfn_core::testing::Harness;
    use netfn_wire::{MacAddr, PacketBuilder, TcpFlags};

    fn tcp(src: [u8; 4], dport: u16, vlan: Option<u16>) -> Vec<u8> {
        let mut eth =
            PacketBuilder::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        if let Some(v) = vlan {
            eth = eth.vlan(v).unwrap();
        }
        let t = eth.ipv4(src.into(), [192, 0, 2, 1].into(), 64).tcp(
            1000,
            dport,
            1,
            0,
            TcpFlags::SYN,
            100,
        );
        let mut buf = vec![0; t.size(40)];
        t.write(&mut buf, &[7; 40]).unwrap();
        buf
    }

    #[test]
    fn filter_criteria_combine() {
        let f = MirrorFilter {
            net: vec!["10.0.0.0/8".parse().unwrap()],
            protocols: vec![6],
            ports: vec![(80, 80), (8000, 8080)],
            ..MirrorFilter::default()
        };
        assert!(f.matches(&tcp([10, 1, 1, 1], 80, None)));
        assert!(f.matches(&tcp([10, 1, 1, 1], 8042, Some(3))));
        assert!(!f.matches(&tcp([10, 1, 1, 1], 443, None)));
        assert!(!f.matches(&tcp([11, 1, 1, 1], 80, None)));
        let v = MirrorFilter {
            vlans: vec![3],
            ..MirrorFilter::default()
        };
        assert!(v.matches(&tcp([1, 1, 1, 1], 1, Some(3))));
        assert!(!v.matches(&tcp([1, 1, 1, 1], 1, Some(4))));
        assert!(!v.matches(&tcp([1, 1, 1, 1], 1, None)));
        assert!(
            MirrorFilter::default().matches(&[0u8; 3]),
            "no criteria: all"
        );
        assert!(!f.matches(&[0u8; 3]));
    }

    #[test]
    fn copies_are_truncated_and_originals_untouched() {
        let mut h = Harness::new(Mirror::new(MirrorConfig {
            snaplen: 54,
            ..MirrorConfig::default()
        }));
        let a = tcp([10, 0, 0, 1], 80, None);
        let out = h.process_bytes(0, &[&a, &a[..30]]);
        assert_eq!(out.on(0), vec![a.clone(), a[..30].to_vec()]);
        assert_eq!(out.on(1), vec![a[..54].to_vec(), a[..30].to_vec()]);
        assert_eq!(h.nf.counters.truncated, 1);
    }

    #[test]
    fn sampling_is_about_one_in_n() {
        let mut h = Harness::new(Mirror::new(MirrorConfig {
            sample: 10,
            ..MirrorConfig::default()
        }));
        let a = tcp([10, 0, 0, 1], 80, None);
        let frames: Vec<&[u8]> = (0..10_000).map(|_| &a[..]).collect();
        let copies: usize = frames
            .chunks(256)
            .map(|c| h.process_bytes(0, c).on(1).len())
            .sum();
        assert!((800..1200).contains(&copies), "{copies}");
        assert_eq!(h.nf.counters.matched, 10_000);
        assert_eq!(h.nf.counters.mirrored + h.nf.counters.not_sampled, 10_000);
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_protocol("TCP"), Some(6));
        assert_eq!(parse_protocol("47"), Some(47));
        assert_eq!(parse_protocol("256"), None);
        assert_eq!(parse_port_range("8000-8080"), Some((8000, 8080)));
        assert_eq!(parse_port_range("9-1"), None);
        assert_eq!(parse_port_range("70000"), None);
    }
}
