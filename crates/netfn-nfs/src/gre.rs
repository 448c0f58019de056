//! `gre`: GRE encapsulation and decapsulation of Ethernet frames (RFC 2784,
//! keys and sequence numbers of RFC 2890), over IPv4 or IPv6 (RFC 7676).
//!
//! The payload is the whole Ethernet frame with protocol type 0x6558
//! (Transparent Ethernet Bridging, Linux's `gretap`), not IP-in-GRE: a
//! bridged frame keeps its MAC addresses, VLAN tags and non-IP EtherTypes,
//! so decapsulation gives back exactly the frame that was encapsulated and
//! the NF works in front of any L2 graph.
//!
//! `mode = encap` prepends outer Ethernet / IP (DF set, identification 0,
//! computed checksum) / GRE with the optional `key`, `checksum` (over GRE
//! header and payload) and `seq` (a per-NF sequence number starting at 0,
//! RFC 2890 §2.2) in the frame's headroom. An outer IP packet longer than
//! `mtu` is dropped as `too-big` (no fragmentation).
//!
//! `mode = decap` takes GRE packets (behind Ethernet and up to two VLAN
//! tags; to `local` and from `remote` when set) whose IP header is valid
//! and not a fragment: the GRE header must be version 0 without the RFC
//! 1701 routing bits, a checksum present must be right (`checksum = true`
//! also requires one, like Linux's `icsum`), the key must equal `key` (a
//! keyed packet on a keyless tunnel and the reverse are `filtered`, as in
//! Linux's tunnel lookup), and with `seq = true` a sequence number must be
//! present and not behind the last one accepted (serial arithmetic; late
//! packets are `filtered`, as Linux's `iseq` does). GRE of another protocol
//! type and traffic for another endpoint pass (or are `filtered` with
//! `other = drop`).
//!
//! Left out: keepalives, PMTU discovery towards the inner sender (ICMP
//! generation), ECN propagation (RFC 6040).

use std::net::IpAddr;

use crate::tunnel::{OuterHeaders, TunnelCounters, each_packet, outer_ip, tunnel_endpoints_match};
use netfn_core::config::{Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params};
use netfn_core::{Batch, Ctx, DropReason, Nf, Verdict};
use netfn_wire::gre::PROTOCOL_TEB;
use netfn_wire::{
    EtherType, Gre, GrePacket, GreRepr, Header, IpProtocol, MacAddr, PacketBuilder, PacketTemplate,
};

/// Which way the NF works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Encap,
    Decap,
}

/// A validated `gre` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreConfig {
    pub mode: Mode,
    /// Outer source (encap); required destination (decap, if set).
    pub local: IpAddr,
    /// Outer destination (encap); required source (decap, if set).
    pub remote: IpAddr,
    pub key: Option<u32>,
    pub checksum: bool,
    pub seq: bool,
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub ttl: u8,
    /// Largest outer IP packet.
    pub mtu: usize,
    pub drop_other: bool,
}

/// The `gre` NF.
#[derive(Debug)]
pub struct GreNf {
    config: GreConfig,
    /// The outer headers (encap only); the sequence number and the GRE
    /// checksum are set per packet.
    outer: Option<OuterHeaders>,
    /// Next sequence number to send (encap).
    next_seq: u32,
    /// Next sequence number expected (decap), once one was accepted.
    expect_seq: Option<u32>,
    counters: TunnelCounters,
    key_mismatch: u64,
    seq_dropped: u64,
}

impl GreNf {
    pub fn new(config: GreConfig) -> Result<Self, ConfigError> {
        let outer = match config.mode {
            Mode::Decap => None,
            Mode::Encap => Some(OuterHeaders::new(&encap_template(&config)?, config.mtu)),
        };
        Ok(GreNf {
            config,
            outer,
            next_seq: 0,
            expect_seq: None,
            counters: TunnelCounters::default(),
            key_mismatch: 0,
            seq_dropped: 0,
        })
    }

    pub fn from_params(p: &Params) -> Result<Self, ConfigError> {
        let key = p.int("key")?;
        GreNf::new(GreConfig {
            mode: if p.str("mode")? == "decap" {
                Mode::Decap
            } else {
                Mode::Encap
            },
            local: p.ip("local")?,
            remote: p.ip("remote")?,
            key: u32::try_from(key).ok(),
            checksum: p.bool("checksum")?,
            seq: p.bool("seq")?,
            src_mac: MacAddr(p.mac("src_mac")?),
            dst_mac: MacAddr(p.mac("dst_mac")?),
            ttl: p.int("ttl")? as u8,
            mtu: p.size("mtu")? as usize,
            drop_other: p.str("other")? == "drop",
        })
    }

    fn encap(&mut self, pkt: &mut netfn_core::Packet, outer: &OuterHeaders) -> Verdict {
        let (seq, sequenced) = (self.next_seq, self.config.seq);
        let result = outer.encapsulate(pkt).map(|mut e| {
            let mut gre = GrePacket::new_unchecked(e.upper_mut());
            if sequenced {
                gre.set_sequence(seq);
            }
            gre.fill_checksum(); // if the template has one
        });
        if result.is_ok() && sequenced {
            self.next_seq = seq.wrapping_add(1);
        }
        self.counters.encap(result)
    }

    fn decap(&mut self, pkt: &mut netfn_core::Packet) -> Verdict {
        let (c, drop_other) = (&mut self.counters, self.config.drop_other);
        let frame = pkt.data();
        let outer = match outer_ip(frame, IpProtocol::Gre) {
            Ok(o) => o,
            Err(why) => return c.not_tunnel(why, drop_other),
        };
        if !tunnel_endpoints_match(&outer, self.config.local, self.config.remote) {
            return c.other(drop_other);
        }
        let Ok(ext) = Gre::check(&frame[outer.payload..outer.end]) else {
            return c.malformed();
        };
        let gre = GrePacket::new_unchecked(&frame[outer.payload..outer.end]);
        if u16::from(gre.protocol()) != PROTOCOL_TEB {
            return c.other(drop_other);
        }
        if !gre.verify_checksum() || (self.config.checksum && !gre.checksum_present()) {
            c.bad_checksum += 1;
            return c.malformed();
        }
        if gre.key() != self.config.key {
            return filtered(&mut self.key_mismatch);
        }
        if self.config.seq {
            let Some(seq) = gre.sequence() else {
                return filtered(&mut self.seq_dropped);
            };
            if self
                .expect_seq
                .is_some_and(|e| (seq.wrapping_sub(e) as i32) < 0)
            {
                return filtered(&mut self.seq_dropped);
            }
            self.expect_seq = Some(seq.wrapping_add(1));
        }
        let start = outer.payload + ext.header_len;
        if outer.end - start < netfn_wire::ethernet::HEADER_LEN {
            return c.malformed();
        }
        c.decapsulate(pkt, start..outer.end)
    }
}

fn filtered(counter: &mut u64) -> Verdict {
    *counter += 1;
    Verdict::drop(DropReason::Filtered)
}

fn encap_template(config: &GreConfig) -> Result<PacketTemplate, ConfigError> {
    let repr = GreRepr {
        protocol: EtherType::Unknown(PROTOCOL_TEB),
        checksum: config.checksum,
        key: config.key,
        sequence: config.seq.then_some(0),
    };
    let eth = PacketBuilder::ethernet(config.src_mac, config.dst_mac);
    match (config.local, config.remote) {
        (l, _) if l.is_unspecified() => Err(ConfigError::param(
            "local",
            "encap needs the outer source address (an IPv4 or IPv6 address, not 0.0.0.0)",
        )),
        (_, r) if r.is_unspecified() => Err(ConfigError::param(
            "remote",
            "encap needs the outer destination address (the tunnel's far end)",
        )),
        (IpAddr::V4(l), IpAddr::V4(r)) => Ok(eth.ipv4(l, r, config.ttl).dont_frag(true).gre(repr)),
        (IpAddr::V6(l), IpAddr::V6(r)) => Ok(eth.ipv6(l, r, config.ttl).gre(repr)),
        _ => Err(ConfigError::param(
            "remote",
            "local and remote must be of the same address family",
        )),
    }
}

impl Nf for GreNf {
    fn process(&mut self, _input: usize, batch: &mut Batch, _ctx: &mut Ctx<'_>) {
        match self.outer {
            Some(outer) => each_packet(batch, |pkt| self.encap(pkt, &outer)),
            None => each_packet(batch, |pkt| self.decap(pkt)),
        }
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let specific = [
            ("key_mismatch", self.key_mismatch),
            ("seq_dropped", self.seq_dropped),
        ];
        self.counters.report(&specific, report);
    }

    /// Counters carry over a reload, and so do the sequence numbers while
    /// sequencing stays on (a restart at 0 would look like reordering).
    fn adopt(&mut self, old: Box<dyn Nf>) {
        if let Some(old) = netfn_core::nf::downcast::<GreNf>(old) {
            self.counters = old.counters;
            self.key_mismatch = old.key_mismatch;
            self.seq_dropped = old.seq_dropped;
            if old.config.seq && self.config.seq {
                self.next_seq = old.next_seq;
                self.expect_seq = old.expect_seq;
            }
        }
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(GreNf::from_params(p)?))
}

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "gre",
    doc: "GRE (RFC 2784/2890) encapsulation or decapsulation of Ethernet frames (0x6558) over IPv4 or IPv6",
    params: &[
        ParamSpec::required(
            "mode",
            ParamType::Word(&["encap", "decap"]),
            "encap: wrap frames in outer Ethernet/IP/GRE; decap: strip them",
        ),
        ParamSpec::optional(
            "local",
            ParamType::Ip,
            "0.0.0.0",
            "this end: outer source (encap, required); outer destination to accept (decap; unspecified: any)",
        ),
        ParamSpec::optional(
            "remote",
            ParamType::Ip,
            "0.0.0.0",
            "the far end: outer destination (encap, required); outer source to accept (decap; unspecified: any)",
        ),
        ParamSpec::optional(
            "key",
            ParamType::Int {
                min: -1,
                max: u32::MAX as i64,
            },
            "-1",
            "RFC 2890 key sent (encap) and required (decap); -1: no key",
        ),
        ParamSpec::optional(
            "checksum",
            ParamType::Bool,
            "false",
            "encap: send the GRE checksum; decap: require one (a checksum present is always verified)",
        ),
        ParamSpec::optional(
            "seq",
            ParamType::Bool,
            "false",
            "RFC 2890 sequence numbers: sent (encap); required and in order (decap; late ones `filtered`)",
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
            "other",
            ParamType::Word(&["pass", "drop"]),
            "pass",
            "decap: what to do with traffic that is not Ethernet-over-GRE for this end (drop: `filtered`)",
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

    fn config(mode: Mode, local: [u8; 4], remote: [u8; 4]) -> GreConfig {
        GreConfig {
            mode,
            local: local.into(),
            remote: remote.into(),
            key: Some(7),
            checksum: true,
            seq: true,
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            ttl: 64,
            mtu: 1500,
            drop_other: false,
        }
    }

    fn frame(n: u8) -> Vec<u8> {
        let mut f = vec![n; 60];
        f[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental EtherType
        f
    }

    #[test]
    fn round_trip_sequence_and_key() {
        let (a, b) = ([192, 0, 2, 1], [192, 0, 2, 2]);
        let mut enc = Harness::new(GreNf::new(config(Mode::Encap, a, b)).unwrap());
        let mut dec = Harness::new(GreNf::new(config(Mode::Decap, b, a)).unwrap());
        let frames: Vec<Vec<u8>> = (0..4).map(frame).collect();
        let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        let wrapped = enc.process_bytes(0, &refs).on(0);
        assert_eq!(wrapped[0].len(), 60 + 14 + 20 + 16);
        let seqs: Vec<_> = wrapped
            .iter()
            .map(|w| GrePacket::new_checked(&w[34..]).unwrap().sequence())
            .collect();
        assert_eq!(seqs, vec![Some(0), Some(1), Some(2), Some(3)]);
        // Delivered out of order: 0, 2, 1 (late: dropped), 3.
        let order = [&wrapped[0][..], &wrapped[2], &wrapped[1], &wrapped[3]];
        let out = dec.process_bytes(0, &order);
        assert_eq!(
            out.on(0),
            vec![frames[0].clone(), frames[2].clone(), frames[3].clone()]
        );
        assert_eq!(out.drop_reasons(), vec![DropReason::Filtered]);
        // Wrong key.
        let mut other = Harness::new(
            GreNf::new(GreConfig {
                key: Some(8),
                ..config(Mode::Decap, b, a)
            })
            .unwrap(),
        );
        assert_eq!(
            other.process_bytes(0, &[&wrapped[0]]).drop_reasons(),
            vec![DropReason::Filtered]
        );
    }
}
