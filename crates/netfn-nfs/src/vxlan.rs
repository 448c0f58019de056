//! `vxlan`: VXLAN encapsulation and decapsulation (RFC 7348).
//!
//! `mode = encap` wraps every Ethernet frame in outer Ethernet / IPv4 or
//! IPv6 (by the family of `local` and `remote`) / UDP to `port` (4789) /
//! VXLAN with the configured VNI, in the frame's headroom (no copy). As RFC
//! 7348 §5 recommends, the outer UDP source port is a hash of the inner flow
//! (its 5-tuple, or its Ethernet header for non-IP frames) in the dynamic
//! range 49152-65535, so underlay ECMP keeps each inner flow on one path.
//! The outer IPv4 header has DF set and identification 0 (RFC 6864 allows
//! it for atomic datagrams) and a computed checksum; the UDP checksum is
//! zero over IPv4 (§5.1: SHOULD) and computed over IPv6 (RFC 8200; the
//! zero-checksum mode of RFC 6935 is not used). A frame whose outer IP
//! packet would exceed `mtu` is dropped as `too-big`: tunnels here never
//! fragment (RFC 7348 §4.3: VTEPs MUST NOT fragment VXLAN packets).
//!
//! `mode = decap` takes packets to `port` (behind Ethernet and up to two
//! VLAN tags; to `local` and from `remote` when those are set), checks the
//! outer IPv4 header checksum and the UDP checksum when present (a zero UDP
//! checksum over IPv6 is malformed), requires the I flag, and strips the
//! outer headers when the VNI is one of `vni`; other VNIs are dropped as
//! `filtered`, broken packets as `malformed`, outer fragments as
//! `unsupported` (no reassembly). Traffic that is not VXLAN for this
//! endpoint passes (or is dropped as `filtered` with `other = drop`).
//! What comes out is the inner frame byte for byte: encap then decap is the
//! identity.
//!
//! Left out: multicast/flooding and MAC learning (a VTEP's forwarding
//! table: a graph can put a bridge in front), ECN propagation (RFC 6040),
//! VXLAN-GPE and Group Policy extensions.

use std::net::IpAddr;

use crate::tunnel::{
    OuterHeaders, TunnelCounters, each_packet, inner_flow_hash, outer_ip, port_from_hash,
    tunnel_endpoints_match,
};
use netfn_core::config::{Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params};
use netfn_core::{Batch, Ctx, DropReason, Nf, Verdict};
use netfn_wire::vxlan::{self, MAX_VNI};
use netfn_wire::{
    Header, IpProtocol, MacAddr, PacketBuilder, PacketTemplate, Udp, UdpPacket, VxlanPacket,
};

/// Lowest outer UDP source port (RFC 7348 §5: the dynamic/private range).
pub const SRC_PORT_MIN: u16 = 49152;
/// Highest outer UDP source port.
pub const SRC_PORT_MAX: u16 = 65535;

/// Which way the NF works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Encap,
    Decap,
}

/// A validated `vxlan` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanConfig {
    pub mode: Mode,
    /// Encap: exactly one, the VNI written. Decap: the VNIs accepted.
    pub vnis: Vec<u32>,
    /// Outer source address (encap); required destination (decap, if set).
    pub local: IpAddr,
    /// Outer destination address (encap); required source (decap, if set).
    pub remote: IpAddr,
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub ttl: u8,
    /// Largest outer IP packet (the underlay's MTU).
    pub mtu: usize,
    pub port: u16,
    pub drop_other: bool,
}

/// The `vxlan` NF.
#[derive(Debug)]
pub struct VxlanNf {
    config: VxlanConfig,
    /// The outer headers (encap only); the UDP source port and length, and
    /// over IPv6 the UDP checksum, are set per packet.
    outer: Option<OuterHeaders>,
    counters: TunnelCounters,
    vni_mismatch: u64,
}

impl VxlanNf {
    pub fn new(mut config: VxlanConfig) -> Result<Self, ConfigError> {
        if let Some(v) = config.vnis.iter().find(|v| **v > MAX_VNI) {
            return Err(ConfigError::param(
                "vni",
                format!("VNI {v} is above {MAX_VNI} (24 bits)"),
            ));
        }
        config.vnis.sort_unstable();
        config.vnis.dedup();
        let outer = match config.mode {
            Mode::Decap => {
                if config.vnis.is_empty() {
                    return Err(ConfigError::param(
                        "vni",
                        "decap needs at least one VNI to accept",
                    ));
                }
                None
            }
            Mode::Encap => {
                let mut outer = OuterHeaders::new(&encap_template(&config)?, config.mtu);
                UdpPacket::new_unchecked(outer.upper_template_mut()).set_dst_port(config.port);
                Some(outer)
            }
        };
        Ok(VxlanNf {
            config,
            outer,
            counters: TunnelCounters::default(),
            vni_mismatch: 0,
        })
    }

    pub fn from_params(p: &Params) -> Result<Self, ConfigError> {
        let mut vnis = Vec::new();
        for v in p.list("vni")? {
            match v {
                netfn_core::config::Value::Int(i) if (0..=i64::from(MAX_VNI)).contains(i) => {
                    vnis.push(*i as u32)
                }
                other => {
                    return Err(ConfigError::param(
                        "vni",
                        format!("`{other}` is not a VNI (an integer 0..={MAX_VNI})"),
                    ));
                }
            }
        }
        VxlanNf::new(VxlanConfig {
            mode: if p.str("mode")? == "decap" {
                Mode::Decap
            } else {
                Mode::Encap
            },
            vnis,
            local: p.ip("local")?,
            remote: p.ip("remote")?,
            src_mac: MacAddr(p.mac("src_mac")?),
            dst_mac: MacAddr(p.mac("dst_mac")?),
            ttl: p.int("ttl")? as u8,
            mtu: p.size("mtu")? as usize,
            port: p.int("port")? as u16,
            drop_other: p.str("other")? == "drop",
        })
    }

    fn encap(&mut self, pkt: &mut netfn_core::Packet, outer: &OuterHeaders) -> Verdict {
        let src_port = port_from_hash(inner_flow_hash(pkt.data()), SRC_PORT_MIN, SRC_PORT_MAX);
        let (local, remote) = (self.config.local, self.config.remote);
        let result = outer.encapsulate(pkt).map(|mut e| {
            let mut udp = UdpPacket::new_unchecked(e.upper_mut());
            udp.set_len(udp.as_bytes().len() as u16); // fits: the IP length did
            udp.set_src_port(src_port);
            if local.is_ipv6() {
                udp.fill_checksum(local, remote);
            }
        });
        if result.is_ok() {
            pkt.clear_flow_hash();
        }
        self.counters.encap(result)
    }

    fn decap(&mut self, pkt: &mut netfn_core::Packet) -> Verdict {
        let (c, drop_other) = (&mut self.counters, self.config.drop_other);
        let frame = pkt.data();
        let outer = match outer_ip(frame, IpProtocol::Udp) {
            Ok(o) => o,
            Err(why) => return c.not_tunnel(why, drop_other),
        };
        if !tunnel_endpoints_match(&outer, self.config.local, self.config.remote) {
            return c.other(drop_other);
        }
        let l4 = &frame[outer.payload..outer.end];
        let Ok(ext) = Udp::check(l4) else {
            return c.malformed();
        };
        let udp = UdpPacket::new_unchecked(&l4[..ext.end]);
        if udp.dst_port() != self.config.port {
            return c.other(drop_other);
        }
        if !udp.verify_checksum(outer.src, outer.dst) {
            c.bad_checksum += 1;
            return c.malformed();
        }
        let Ok(vx) = VxlanPacket::new_checked(udp.payload()) else {
            return c.malformed();
        };
        if !vx.has_vni() || vx.payload().len() < netfn_wire::ethernet::HEADER_LEN {
            return c.malformed();
        }
        if self.config.vnis.binary_search(&vx.vni()).is_err() {
            self.vni_mismatch += 1;
            return Verdict::drop(DropReason::Filtered);
        }
        let start = outer.payload + netfn_wire::udp::HEADER_LEN + vxlan::HEADER_LEN;
        c.decapsulate(pkt, start..outer.payload + ext.end)
    }
}

/// The outer headers for `config` (encap), checking the addresses.
fn encap_template(config: &VxlanConfig) -> Result<PacketTemplate, ConfigError> {
    if config.vnis.len() != 1 {
        return Err(ConfigError::param(
            "vni",
            format!(
                "encap writes one VNI; {} given (write e.g. vni = [5001])",
                config.vnis.len()
            ),
        ));
    }
    let vni = config.vnis[0];
    let eth = PacketBuilder::ethernet(config.src_mac, config.dst_mac);
    let template = match (config.local, config.remote) {
        (l, _) if l.is_unspecified() => {
            return Err(ConfigError::param(
                "local",
                "encap needs the outer source address (an IPv4 or IPv6 address, not 0.0.0.0)",
            ));
        }
        (_, r) if r.is_unspecified() => {
            return Err(ConfigError::param(
                "remote",
                "encap needs the outer destination address (the remote VTEP)",
            ));
        }
        (IpAddr::V4(l), IpAddr::V4(r)) => eth
            .ipv4(l, r, config.ttl)
            .dont_frag(true)
            .vxlan(SRC_PORT_MIN, vni),
        (IpAddr::V6(l), IpAddr::V6(r)) => eth.ipv6(l, r, config.ttl).vxlan(SRC_PORT_MIN, vni),
        _ => {
            return Err(ConfigError::param(
                "remote",
                "local and remote must be of the same address family",
            ));
        }
    };
    template.map_err(|e| ConfigError::param("vni", e.to_string()))
}

impl Nf for VxlanNf {
    fn process(&mut self, _input: usize, batch: &mut Batch, _ctx: &mut Ctx<'_>) {
        match self.outer {
            Some(outer) => each_packet(batch, |pkt| self.encap(pkt, &outer)),
            None => each_packet(batch, |pkt| self.decap(pkt)),
        }
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let specific = [("vni_mismatch", self.vni_mismatch)];
        self.counters.report(&specific, report);
    }

    /// Counters carry over a reload (there is no other state).
    fn adopt(&mut self, old: Box<dyn Nf>) {
        if let Some(old) = netfn_core::nf::downcast::<VxlanNf>(old) {
            self.counters = old.counters;
            self.vni_mismatch = old.vni_mismatch;
        }
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(VxlanNf::from_params(p)?))
}

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "vxlan",
    doc: "VXLAN (RFC 7348) encapsulation or decapsulation of Ethernet frames over UDP/IPv4 or IPv6",
    params: &[
        ParamSpec::required(
            "mode",
            ParamType::Word(&["encap", "decap"]),
            "encap: wrap frames in outer Ethernet/IP/UDP/VXLAN; decap: strip them",
        ),
        ParamSpec::required(
            "vni",
            ParamType::List(&ParamType::Int {
                min: 0,
                max: MAX_VNI as i64,
            }),
            "encap: the one VNI written ([5001]); decap: the VNIs accepted (others: `filtered`)",
        ),
        ParamSpec::optional(
            "local",
            ParamType::Ip,
            "0.0.0.0",
            "this VTEP's address: outer source (encap, required); outer destination to accept (decap; unspecified: any)",
        ),
        ParamSpec::optional(
            "remote",
            ParamType::Ip,
            "0.0.0.0",
            "the peer VTEP: outer destination (encap, required); outer source to accept (decap; unspecified: any)",
        ),
        ParamSpec::optional(
            "src_mac",
            ParamType::Mac,
            "02:00:00:00:00:01",
            "outer source MAC (encap)",
        ),
        ParamSpec::optional(
            "dst_mac",
            ParamType::Mac,
            "02:00:00:00:00:02",
            "outer destination MAC: the underlay next hop (encap)",
        ),
        ParamSpec::optional(
            "ttl",
            ParamType::Int { min: 1, max: 255 },
            "64",
            "outer TTL / hop limit (encap)",
        ),
        ParamSpec::optional(
            "mtu",
            ParamType::Size,
            "1500",
            "largest outer IP packet; a larger encapsulation is dropped as `too-big` (no fragmentation)",
        ),
        ParamSpec::optional(
            "port",
            ParamType::Int { min: 1, max: 65535 },
            "4789",
            "UDP destination port",
        ),
        ParamSpec::optional(
            "other",
            ParamType::Word(&["pass", "drop"]),
            "pass",
            "decap: what to do with traffic that is not VXLAN for this VTEP (drop: `filtered`)",
        ),
    ],
    inputs: Arity::Exactly(1),
    outputs: Arity::Exactly(1),
    build: Build::Nf(build),
}];

#[cfg(test)]
mod tests {
    use super::*;
    use netfn_core::testing::Harness;

    fn config(mode: Mode) -> VxlanConfig {
        VxlanConfig {
            mode,
            vnis: vec![42],
            local: "192.0.2.1".parse().unwrap(),
            remote: "192.0.2.2".parse().unwrap(),
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            ttl: 64,
            mtu: 1500,
            port: vxlan::UDP_PORT,
            drop_other: false,
        }
    }

    fn inner(len: usize) -> Vec<u8> {
        let t = PacketBuilder::ethernet(MacAddr([2, 0, 0, 0, 9, 1]), MacAddr([2, 0, 0, 0, 9, 2]))
            .ipv4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 64)
            .udp(1000, 2000);
        let mut buf = vec![0; t.size(len)];
        t.write(&mut buf, &vec![7; len]).unwrap();
        buf
    }

    #[test]
    fn round_trip_and_mtu() {
        let mut enc = Harness::new(VxlanNf::new(config(Mode::Encap)).unwrap());
        let peer = VxlanConfig {
            local: "192.0.2.2".parse().unwrap(),
            remote: "192.0.2.1".parse().unwrap(),
            ..config(Mode::Decap)
        };
        let mut dec = Harness::new(VxlanNf::new(peer).unwrap());
        let frame = inner(100);
        let out = enc.process_bytes(0, &[&frame]);
        let wrapped = &out.on(0)[0];
        assert_eq!(wrapped.len(), frame.len() + 50);
        let out = dec.process_bytes(0, &[wrapped]);
        assert_eq!(out.on(0), vec![frame]);
        // 1500 - 20 - 8 - 8 = 1464 bytes of inner frame fit, 1465 do not.
        let fits = inner(1464 - 42);
        let big = inner(1465 - 42);
        let out = enc.process_bytes(0, &[&fits, &big]);
        assert_eq!(out.on(0).len(), 1);
        assert_eq!(out.drop_reasons(), vec![DropReason::TooBig]);
    }

    /// Encap writes the configured UDP port (it used to write 4789 whatever
    /// `port` said, so a decap on another port refused its own peer).
    #[test]
    fn encap_uses_the_configured_port() {
        let port = 8472;
        let mut enc = Harness::new(
            VxlanNf::new(VxlanConfig {
                port,
                ..config(Mode::Encap)
            })
            .unwrap(),
        );
        let mut dec = Harness::new(
            VxlanNf::new(VxlanConfig {
                port,
                local: "192.0.2.2".parse().unwrap(),
                remote: "192.0.2.1".parse().unwrap(),
                ..config(Mode::Decap)
            })
            .unwrap(),
        );
        let frame = inner(30);
        let wrapped = enc.process_bytes(0, &[&frame]).on(0).remove(0);
        let udp = UdpPacket::new_checked(&wrapped[34..]).unwrap();
        assert_eq!(udp.dst_port(), port);
        assert_eq!(dec.process_bytes(0, &[&wrapped]).on(0), vec![frame]);
    }

    #[test]
    fn no_headroom_is_a_counted_drop() {
        use netfn_core::ctx::{EmitBuffer, TimerRequests};
        let pool = netfn_core::Pool::new(netfn_core::PoolConfig {
            frames: 4,
            headroom: 16,
            ..Default::default()
        })
        .unwrap();
        let mut nf = VxlanNf::new(config(Mode::Encap)).unwrap();
        let mut batch = Batch::with_capacity(4);
        batch.push(pool.alloc_with(&inner(10)).unwrap()).unwrap();
        let (mut rng, mut emit, mut timers) = (
            fastrand::Rng::with_seed(1),
            EmitBuffer::with_capacity(4),
            TimerRequests::default(),
        );
        let mut ctx = Ctx::new(0, &mut rng, &pool, &mut emit, &mut timers);
        nf.process(0, &mut batch, &mut ctx);
        assert_eq!(batch.verdicts(), [Verdict::drop(DropReason::Other)]);
        assert_eq!(batch.packets()[0].data(), &inner(10)[..], "left unchanged");
        assert_eq!(nf.counters.no_headroom, 1);
    }

    #[test]
    fn source_port_follows_the_inner_flow() {
        let a = port_from_hash(0, SRC_PORT_MIN, SRC_PORT_MAX);
        let b = port_from_hash(u32::MAX, SRC_PORT_MIN, SRC_PORT_MAX);
        assert_eq!((a, b), (SRC_PORT_MIN, SRC_PORT_MAX));
        assert_eq!(inner_flow_hash(&inner(10)), inner_flow_hash(&inner(20)));
    }
}
