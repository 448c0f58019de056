//! `arp`: answers ARP requests (RFC 826) and IPv6 Neighbor Solicitations
//! (RFC 4861 §7.2.3) for configured addresses, like Click's ARPResponder
//! (including proxy ARP for whole prefixes).
//!
//! **Configuration.** `addrs` lists entries `ADDR [ADDR...] [MAC]`, each
//! address an IPv4 or IPv6 address or prefix, answered with the entry's
//! MAC (or `mac` when the entry names none): `["10.0.0.1",
//! "10.0.1.0/24 02:00:00:00:00:07", "fd00::1"]`. Single addresses are
//! hashed; prefixes are tried longest first (an address entry beats any
//! prefix).
//!
//! **Answers leave on output 1** (connect it back toward the port the
//! requests came from). The request frame itself becomes the reply, in
//! place, so a request is never both answered and forwarded, VLAN tags
//! are kept, and answering needs no free frame:
//! * ARP: Ethernet/IPv4 requests whose target is ours get the RFC 826
//!   reply (sender and target swapped, our MAC as sender), sent to the
//!   requester's hardware address. DAD probes (sender 0.0.0.0, RFC 5227)
//!   are answered too, as Linux does, to the prober's MAC.
//! * NDP: a valid solicitation (hop limit 255, code 0, correct checksum,
//!   target not multicast, options well formed, and, from `::`, sent to
//!   the solicited-node group without a source link-layer option) for one
//!   of ours gets a Neighbor Advertisement from the target address with
//!   the target link-layer option and Override set (Solicited unless the
//!   solicitation came from `::`, in which case it goes to all-nodes,
//!   §7.2.4; Router per `router`), hop limit 255.
//!
//! **Everything else passes on output 0 unchanged:** non-ARP traffic, ARP
//! replies (this is a responder, not a cache), requests for addresses not
//! ours, gratuitous requests (sender = target address, RFC 5227
//! announcements; one for our address from another MAC is counted in
//! `conflicts`), requests for multicast or broadcast targets or from a
//! multicast sender, ARP for other hardware or protocol types, and
//! solicitations that are invalid or not for us.
//!
//! **Malformed** (dropped as `malformed`): ARP shorter than its address
//! lengths say, Ethernet/IPv4 ARP with other address lengths than 6 and 4,
//! and solicitations shorter than the 24-byte ND header.
//!
//! With `announce = true`, `start` sends one gratuitous ARP request
//! (RFC 5227 §3 announcement) per configured IPv4 address and one
//! unsolicited Neighbor Advertisement to all-nodes (§7.2.6) per IPv6
//! address, untagged, on output 1 (prefixes are not announced).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netfn_core::config::{Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params};
use netfn_core::{Batch, Ctx, DropReason, Nf, Packet, Verdict};
use netfn_wire::icmpv6::{self, na_flags};
use netfn_wire::{
    Arp, ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, Header, Icmpv6Packet,
    IpProtocol, Ipv6Packet, MacAddr, PacketBuilder,
};

use crate::frame::{locate_ip, locate_l3, reply_link};

/// Addresses answered for, and with which MAC.
#[derive(Debug, Clone, Default)]
pub struct AddressTable {
    exact: HashMap<IpAddr, MacAddr>,
    /// Longest prefix first.
    prefixes: Vec<(IpNet, MacAddr)>,
}

impl AddressTable {
    /// Adds an entry (a host prefix is an address).
    pub fn insert(&mut self, net: IpNet, mac: MacAddr) {
        if net.prefix_len() == net.max_prefix_len() {
            self.exact.insert(net.addr(), mac);
        } else {
            self.prefixes.push((net.trunc(), mac));
            self.prefixes
                .sort_by_key(|(n, _)| std::cmp::Reverse(n.prefix_len()));
        }
    }

    /// The MAC to answer for `ip` with.
    pub fn lookup(&self, ip: IpAddr) -> Option<MacAddr> {
        if let Some(mac) = self.exact.get(&ip) {
            return Some(*mac);
        }
        self.prefixes
            .iter()
            .find(|(n, _)| n.contains(&ip))
            .map(|(_, m)| *m)
    }

    fn has_ipv6(&self) -> bool {
        self.exact.keys().any(IpAddr::is_ipv6)
            || self.prefixes.iter().any(|(n, _)| n.addr().is_ipv6())
    }

    /// Parses one `ADDR [ADDR...] [MAC]` entry; `default` is used when it
    /// names no MAC.
    pub fn parse_entry(&mut self, text: &str, default: Option<MacAddr>) -> Result<(), String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (addrs, mac) = match words.split_last() {
            None => return Err("empty entry; expected `ADDR [ADDR...] [MAC]`".into()),
            Some((last, rest)) => match last.parse::<MacAddr>() {
                Ok(mac) => (rest, Some(mac)),
                Err(_) => (&words[..], None),
            },
        };
        if addrs.is_empty() {
            return Err("no address before the MAC; expected `ADDR [ADDR...] [MAC]`".into());
        }
        let mut nets = Vec::with_capacity(addrs.len());
        for a in addrs {
            let net = a
                .parse::<IpNet>()
                .or_else(|_| a.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("`{a}` is not an address, prefix or MAC; expected e.g. `10.0.0.1`, `10.0.1.0/24`, `fd00::1` or `02:00:00:00:00:01`")
                })?;
            nets.push(net);
        }
        let Some(mac) = mac.or(default) else {
            return Err("no MAC address: write one after the addresses or set `mac`".into());
        };
        if mac.is_multicast() || mac == MacAddr::ZERO {
            return Err(format!("{mac} cannot answer ARP (multicast or zero)"));
        }
        for net in nets {
            self.insert(net, mac);
        }
        Ok(())
    }
}

/// The configuration of an [`ArpResponder`].
#[derive(Debug, Clone, Default)]
pub struct ArpConfig {
    pub table: AddressTable,
    /// Send announcements at start.
    pub announce: bool,
    /// Set the Router flag in advertisements.
    pub router: bool,
}

#[derive(Debug, Default, Clone)]
struct Counters {
    requests: u64,
    answered: u64,
    not_ours: u64,
    gratuitous: u64,
    conflicts: u64,
    replies_seen: u64,
    other_arp: u64,
    invalid: u64,
    malformed: u64,
    solicitations: u64,
    ns_answered: u64,
    ns_not_ours: u64,
    ns_invalid: u64,
    announcements: u64,
}

/// The arp NF (see the module docs).
#[derive(Debug)]
pub struct ArpResponder {
    config: ArpConfig,
    /// Any IPv6 entry (else IPv6 frames are not looked at).
    ipv6: bool,
    counters: Counters,
}

const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

fn is_solicited_node(a: Ipv6Addr) -> bool {
    let s = a.segments();
    s[..6] == [0xff02, 0, 0, 0, 0, 1] && s[6] >> 8 == 0xff
}

/// The Ethernet address of an IPv6 multicast group (RFC 2464 §7).
fn multicast_mac(a: Ipv6Addr) -> MacAddr {
    let o = a.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

impl ArpResponder {
    pub fn new(config: ArpConfig) -> Self {
        ArpResponder {
            ipv6: config.table.has_ipv6(),
            config,
            counters: Counters::default(),
        }
    }

    /// Builds from validated graph parameters (see [`SPECS`]).
    pub fn from_params(p: &Params) -> Result<ArpResponder, ConfigError> {
        let default = MacAddr(p.mac("mac")?);
        let default = (default != MacAddr::ZERO).then_some(default);
        let mut table = AddressTable::default();
        let entries = p.list("addrs")?;
        if entries.is_empty() {
            return Err(ConfigError::param(
                "addrs",
                "no entries; expected a list of `ADDR [ADDR...] [MAC]` strings",
            ));
        }
        for (i, v) in entries.iter().enumerate() {
            let text = match v {
                netfn_core::config::Value::Str(s) | netfn_core::config::Value::Word(s) => s,
                other => {
                    return Err(ConfigError::param(
                        "addrs",
                        format!("entry {}: expected a string, found `{other}`", i + 1),
                    ));
                }
            };
            table.parse_entry(text, default).map_err(|e| {
                ConfigError::param("addrs", format!("entry {} `{text}`: {e}", i + 1))
            })?;
        }
        Ok(ArpResponder::new(ArpConfig {
            table,
            announce: p.bool("announce")?,
            router: p.bool("router")?,
        }))
    }

    fn handle(&mut self, pkt: &mut Packet) -> Verdict {
        match locate_l3(pkt.data()) {
            Some((EtherType::Arp, l3)) => self.arp(pkt, l3),
            Some((EtherType::Ipv6, _)) if self.ipv6 => self.solicitation(pkt),
            _ => Verdict::PASS,
        }
    }

    fn arp(&mut self, pkt: &mut Packet, l3: usize) -> Verdict {
        let bytes = &pkt.data()[l3..];
        if Arp::check(bytes).is_err() {
            self.counters.malformed += 1;
            return Verdict::drop(DropReason::Malformed);
        }
        let view = ArpPacket::new_unchecked(bytes);
        let Ok(req) = ArpRepr::parse(&view) else {
            if view.hardware_type() == netfn_wire::arp::HARDWARE_ETHERNET
                && view.protocol_type() == EtherType::Ipv4
            {
                self.counters.malformed += 1;
                return Verdict::drop(DropReason::Malformed);
            }
            self.counters.other_arp += 1;
            return Verdict::PASS;
        };
        if req.operation != ArpOperation::Request {
            self.counters.replies_seen += 1;
            return Verdict::PASS;
        }
        self.counters.requests += 1;
        if req.sender_ip == req.target_ip {
            self.counters.gratuitous += 1;
            if self
                .config
                .table
                .lookup(req.sender_ip.into())
                .is_some_and(|m| m != req.sender_mac)
            {
                self.counters.conflicts += 1;
            }
            return Verdict::PASS;
        }
        let Some(mac) = self.config.table.lookup(req.target_ip.into()) else {
            self.counters.not_ours += 1;
            return Verdict::PASS;
        };
        let bad_target = req.target_ip.is_multicast() || req.target_ip == Ipv4Addr::BROADCAST;
        if bad_target || req.sender_mac.is_multicast() || req.sender_ip.is_multicast() {
            self.counters.invalid += 1;
            return Verdict::PASS;
        }
        let reply = req.reply_to(mac);
        let buf = pkt.data_mut();
        {
            let mut eth = EthernetFrame::new_unchecked(&mut buf[..]);
            eth.set_dst_addr(req.sender_mac);
            eth.set_src_addr(mac);
        }
        let arp_len = netfn_wire::arp::ETHERNET_IPV4_LEN;
        if reply
            .emit(&mut ArpPacket::new_unchecked(&mut buf[l3..l3 + arp_len]))
            .is_err()
        {
            return Verdict::drop(DropReason::Malformed);
        }
        self.counters.answered += 1;
        Verdict::forward(1)
    }

    fn solicitation(&mut self, pkt: &mut Packet) -> Verdict {
        let frame = pkt.data();
        let Ok(Some(ip)) = locate_ip(frame) else {
            return Verdict::PASS;
        };
        let (IpProtocol::Icmpv6, Some(l4), IpAddr::V6(src), IpAddr::V6(dst)) =
            (ip.protocol, ip.l4, ip.src, ip.dst)
        else {
            return Verdict::PASS;
        };
        let msg = &frame[l4..ip.end];
        if msg.first() != Some(&135) {
            return Verdict::PASS;
        }
        self.counters.solicitations += 1;
        if msg.len() < icmpv6::ND_LEN {
            self.counters.malformed += 1;
            return Verdict::drop(DropReason::Malformed);
        }
        let icmp = Icmpv6Packet::new_unchecked(msg);
        let Some(target) = icmp.target_addr() else {
            return Verdict::drop(DropReason::Malformed);
        };
        let hop_limit = Ipv6Packet::new_unchecked(&frame[ip.l3..]).hop_limit();
        let options = &msg[icmpv6::ND_LEN..];
        let from_dad = src.is_unspecified();
        let source_mac =
            icmpv6::find_link_addr_option(options, icmpv6::nd_option::SOURCE_LINK_ADDR);
        let valid = hop_limit == 255
            && icmp.code() == 0
            && icmp.verify_checksum(src, dst)
            && !target.is_multicast()
            && options_well_formed(options)
            && (!from_dad || (is_solicited_node(dst) && source_mac.is_none()));
        if !valid {
            self.counters.ns_invalid += 1;
            return Verdict::PASS;
        }
        let Some(mac) = self.config.table.lookup(target.into()) else {
            self.counters.ns_not_ours += 1;
            return Verdict::PASS;
        };
        let router = if self.config.router {
            na_flags::ROUTER
        } else {
            0
        };
        let (to, to_mac, solicited) = if from_dad {
            (ALL_NODES, multicast_mac(ALL_NODES), 0)
        } else {
            let eth_src = EthernetFrame::new_unchecked(frame).src_addr();
            (src, source_mac.unwrap_or(eth_src), na_flags::SOLICITED)
        };
        let Some(link) = reply_link(frame, mac, to_mac) else {
            return Verdict::PASS;
        };
        let template = link.ipv6(target, to, 255).icmpv6_neighbor_advert(
            router | solicited | na_flags::OVERRIDE,
            target,
            Some(mac),
        );
        if pkt.set_len(template.size(0)).is_err()
            || template.write_in_place(pkt.data_mut(), 0).is_err()
        {
            return Verdict::drop(DropReason::TooBig);
        }
        self.counters.ns_answered += 1;
        Verdict::forward(1)
    }

    /// Announcements for every configured address (see the module docs).
    fn announce(&mut self, ctx: &mut Ctx<'_>) {
        let mut entries: Vec<(IpAddr, MacAddr)> = self
            .config
            .table
            .exact
            .iter()
            .map(|(a, m)| (*a, *m))
            .collect();
        entries.sort();
        for (addr, mac) in entries {
            let template = match addr {
                IpAddr::V4(a) => PacketBuilder::ethernet(mac, MacAddr::BROADCAST).arp(ArpRepr {
                    operation: ArpOperation::Request,
                    sender_mac: mac,
                    sender_ip: a,
                    target_mac: MacAddr::ZERO,
                    target_ip: a,
                }),
                IpAddr::V6(a) => PacketBuilder::ethernet(mac, multicast_mac(ALL_NODES))
                    .ipv6(a, ALL_NODES, 255)
                    .icmpv6_neighbor_advert(na_flags::OVERRIDE, a, Some(mac)),
            };
            let Some(mut pkt) = ctx.alloc() else {
                ctx.count_lost(DropReason::PoolExhausted);
                continue;
            };
            let len = template.size(0);
            let written = pkt
                .extend_back(len)
                .is_ok_and(|buf| template.write_in_place(buf, 0).is_ok());
            if written {
                self.counters.announcements += 1;
                ctx.emit(1, pkt);
            } else {
                ctx.count_lost(DropReason::TooBig);
            }
        }
    }
}

/// Every ND option has a non-zero length and fits (RFC 4861 §4.6).
fn options_well_formed(mut options: &[u8]) -> bool {
    while !options.is_empty() {
        let len = usize::from(*options.get(1).unwrap_or(&0)) * 8;
        if len == 0 || len > options.len() {
            return false;
        }
        options = &options[len..];
    }
    true
}

impl Nf for ArpResponder {
    fn process(&mut self, _input: usize, batch: &mut Batch, _ctx: &mut Ctx<'_>) {
        let (packets, verdicts) = batch.split_mut();
        for (pkt, v) in packets.iter_mut().zip(verdicts.iter_mut()) {
            *v = self.handle(pkt);
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        if self.config.announce {
            self.announce(ctx);
        }
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let c = &self.counters;
        report("requests", c.requests);
        report("answered", c.answered);
        report("not_ours", c.not_ours);
        report("gratuitous", c.gratuitous);
        report("conflicts", c.conflicts);
        report("replies_seen", c.replies_seen);
        report("other_arp", c.other_arp);
        report("invalid", c.invalid);
        report("malformed", c.malformed);
        report("solicitations", c.solicitations);
        report("ns_answered", c.ns_answered);
        report("ns_not_ours", c.ns_not_ours);
        report("ns_invalid", c.ns_invalid);
        report("announcements", c.announcements);
    }

    fn adopt(&mut self, old: Box<dyn Nf>) {
        if let Some(old) = netfn_core::nf::downcast::<ArpResponder>(old) {
            self.counters = old.counters;
        }
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(ArpResponder::from_params(p)?))
}

static STR: ParamType = ParamType::Str;

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "arp",
    doc: "Answer ARP requests and IPv6 neighbor solicitations for configured addresses (replies on output 1); other traffic passes on output 0",
    params: &[
        ParamSpec::required(
            "addrs",
            ParamType::List(&STR),
            "entries `ADDR [ADDR...] [MAC]`: addresses or prefixes (IPv4 or IPv6) answered with the entry's MAC",
        ),
        ParamSpec::optional(
            "mac",
            ParamType::Mac,
            "00:00:00:00:00:00",
            "MAC for entries that name none (zero: every entry must name one)",
        ),
        ParamSpec::optional(
            "announce",
            ParamType::Bool,
            "false",
            "send a gratuitous ARP / unsolicited NA per address at start (output 1)",
        ),
        ParamSpec::optional(
            "router",
            ParamType::Bool,
            "false",
            "set the Router flag in neighbor advertisements",
        ),
    ],
    inputs: Arity::Exactly(1),
    outputs: Arity::Between(1, 2),
    build: Build::Nf(build),
}];

#[cfg(test)]
mod tests {
    use super::*;
    use netfn_core::testing::Harness;

    const OURS: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xaa]);
    const HOST: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    fn responder() -> ArpResponder {
        let mut table = AddressTable::default();
        table.parse_entry("10.0.0.1 fd00::1", Some(OURS)).unwrap();
        table
            .parse_entry("10.0.1.0/24 02:00:00:00:00:bb", None)
            .unwrap();
        ArpResponder::new(ArpConfig {
            table,
            ..ArpConfig::default()
        })
    }

    fn request(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
        let t = PacketBuilder::ethernet(HOST, MacAddr::BROADCAST)
            .arp_request(sender.into(), target.into());
        let mut buf = vec![0; 60];
        t.write(&mut buf, &[]).unwrap();
        buf
    }

    #[test]
    fn answers_requests_for_its_addresses_only() {
        let mut h = Harness::new(responder());
        let out = h.process_bytes(
            0,
            &[
                &request([10, 0, 0, 9], [10, 0, 0, 1]),
                &request([10, 0, 0, 9], [10, 0, 1, 77]),
                &request([10, 0, 0, 9], [10, 0, 0, 2]),
                &request([10, 0, 0, 1], [10, 0, 0, 1]),
            ],
        );
        let replies = out.on(1);
        assert_eq!(replies.len(), 2);
        let r = ArpRepr::parse(&ArpPacket::new_checked(&replies[0][14..]).unwrap()).unwrap();
        assert_eq!(r.operation, ArpOperation::Reply);
        assert_eq!(
            (r.sender_mac, r.sender_ip),
            (OURS, Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(
            (r.target_mac, r.target_ip),
            (HOST, Ipv4Addr::new(10, 0, 0, 9))
        );
        assert_eq!(&replies[0][0..12], &[HOST.0, OURS.0].concat()[..]);
        assert_eq!(replies[0].len(), 60, "padding kept");
        let r = ArpRepr::parse(&ArpPacket::new_checked(&replies[1][14..]).unwrap()).unwrap();
        assert_eq!(r.sender_mac, MacAddr([2, 0, 0, 0, 0, 0xbb]));
        assert_eq!(out.on(0).len(), 2, "not ours and gratuitous pass");
        assert_eq!(
            h.nf.counters.conflicts, 1,
            "10.0.0.1 claimed by another MAC"
        );
    }

    #[test]
    fn entry_errors() {
        let mut t = AddressTable::default();
        assert!(
            t.parse_entry("10.0.0.1", None)
                .unwrap_err()
                .contains("no MAC")
        );
        assert!(
            t.parse_entry("10.0.0.300 02:00:00:00:00:01", None)
                .unwrap_err()
                .contains("`10.0.0.300`")
        );
        assert!(
            t.parse_entry("10.0.0.1 01:00:5e:00:00:01", None)
                .unwrap_err()
                .contains("multicast")
        );
        assert!(
            t.parse_entry("02:00:00:00:00:01", None)
                .unwrap_err()
                .contains("no address")
        );
        assert!(t.parse_entry("  ", None).is_err());
    }

    #[test]
    fn longest_prefix_wins_and_addresses_beat_prefixes() {
        let mut t = AddressTable::default();
        t.parse_entry("10.0.0.0/8 02:00:00:00:00:01", None).unwrap();
        t.parse_entry("10.1.0.0/16 02:00:00:00:00:02", None)
            .unwrap();
        t.parse_entry("10.1.2.3 02:00:00:00:00:03", None).unwrap();
        let at = |s: &str| t.lookup(s.parse().unwrap()).map(|m| m.0[5]);
        assert_eq!(at("10.9.9.9"), Some(1));
        assert_eq!(at("10.1.9.9"), Some(2));
        assert_eq!(at("10.1.2.3"), Some(3));
        assert_eq!(at("11.0.0.1"), None);
    }
}
