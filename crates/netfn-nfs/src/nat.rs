//! `nat`: stateful NAPT (source NAT / masquerade) for IPv4, after RFC 4787
//! (UDP), RFC 5382 (TCP), RFC 5508 (ICMP) and RFC 7857 (updates to all
//! three), compared with Linux netfilter `MASQUERADE` and VPP's nat44-ed.
//!
//! Two sides. Input 0 is the inside (the private network), input 1 the
//! outside. Output 0 goes towards the outside, output 1 towards the inside
//! (translated return traffic, and hairpinned traffic between two inside
//! hosts).
//!
//! * **Sessions and mappings.** A session is one inside 5-tuple (internal
//!   endpoint to remote endpoint) and the external endpoint it goes out
//!   as. A mapping is the binding internal endpoint <-> external endpoint
//!   (public address and port, or ICMP query identifier) that sessions
//!   share. With `mapping = endpoint-independent` (RFC 4787 REQ-1, the
//!   default) every session of an internal endpoint shares one mapping;
//!   with `address-and-port-dependent` each session gets its own. A
//!   mapping lives while any of its sessions does (its port is never reused
//!   while it lives, REQ-3 "no port overloading"); static port forwards
//!   are mappings that never expire.
//! * **Filtering** of inbound packets that match no session (RFC 4787
//!   REQ-8): `endpoint-independent` admits them to any live mapping,
//!   `address-dependent` (the default) only from a remote address the
//!   internal endpoint has sent to, `address-and-port-dependent` never.
//!   An admitted packet opens a session. Port forwards admit everyone.
//! * **Port allocation** ([`ports`]): the public address of an internal
//!   host is chosen by a fixed hash of its address, so a host always gets
//!   the same one ("paired" pooling, REQ-2); on it the internal port is
//!   kept when free (port preservation), else a free port of the same
//!   parity (required with `parity = true`) is taken from a random point
//!   of a two-level bitmap. No free port is a counted `port-exhausted`
//!   drop (also when the session table is full); the allocator never scans
//!   the range.
//! * **Timeouts** per session: TCP established (both directions seen, no
//!   FIN both ways, no RST) 2 h 4 min, TCP transitory (opening, closing,
//!   reset) 4 min (RFC 5382 REQ-5 minimums), UDP 5 min (RFC 4787 REQ-5: at
//!   least 2 min), ICMP 60 s (RFC 5508 REQ-1). Shorter values are refused
//!   unless `rfc_timeouts = false`. A new inside SYN on a closed session
//!   starts it over. TCP is picked up mid-stream (as Linux with
//!   `nf_conntrack_tcp_loose`): the session stays transitory until the
//!   other side answers. Inbound packets refresh sessions too (REQ-6);
//!   ICMP errors refresh nothing.
//! * **ICMP**: echo and timestamp queries have their identifier mapped
//!   like a port. ICMP errors (destination unreachable, source quench,
//!   time exceeded, parameter problem) are translated both ways when the
//!   quoted packet matches a session (RFC 5508 §4): the outer address, the
//!   quoted packet's address and port / identifier, the quoted IP header
//!   checksum, the quoted transport checksum (UDP when nonzero; TCP when the
//!   quoted part reaches the checksum field, as Linux does) and the ICMP
//!   checksum, all incrementally. Errors that match nothing are dropped
//!   (`no-state`, RFC 5508 REQ-4); redirects and other ICMP types are
//!   `unsupported`. Errors are not hairpinned.
//! * **Hairpinning** (RFC 4787 REQ-9, RFC 5382 REQ-8): an inside packet to
//!   a public endpoint of another inside host's mapping is translated at
//!   both ends (source to the sender's external endpoint) and sent back on
//!   output 1, subject to the target mapping's filtering.
//! * **Fragments**: a first fragment is translated as a whole packet and
//!   remembered by (addresses, protocol, IP id) for 30 s; later fragments
//!   of the same datagram get the same address rewrite. A later fragment
//!   that arrives before its first is dropped (`no-state`, counted as
//!   `drop_fragment_unmatched`): there is no reassembly buffer.
//! * **Not translated**: non-IPv4 frames (ARP, IPv6), IPv4 from input 0
//!   whose source is not in `inside`, and IPv4 from input 1 not addressed
//!   to a NAT address pass unchanged (to output 0 and 1 respectively), or
//!   are dropped (`filtered`) with `other = drop`. Protocols other than
//!   TCP, UDP and ICMP from inside hosts are `unsupported` (no
//!   address-only NAT). Unsolicited inbound traffic to a NAT address is
//!   dropped silently (`no-state`, or `filtered` when the filtering
//!   behaviour refuses it); no ICMP is generated (RFC 5382 REQ-4 allows
//!   silence).
//!
//! All checksum updates are RFC 1624 incremental updates. State survives a
//! reload ([`Nf::adopt`]): sessions whose external endpoint still belongs
//! to the new configuration are kept with their ports and timers.

mod config;
mod icmp;
pub mod ports;

pub use config::{FilteringBehavior, Forward, MappingBehavior, NatConfig, NatError};

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::frame::{BadHeader, End, locate_l3, rewrite_ipv4_end};
use icmp::{Quoted, rewrite_quoted};
use netfn_core::config::{Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params};
use netfn_core::flowtable::{FlowTable, Slot};
use netfn_core::{Batch, Ctx, DropReason, Nf, Verdict};
use netfn_wire::{EtherType, Header, Ipv4, Ipv4Packet, Tcp, TcpFlags, TcpPacket};
use ports::PortSet;

/// Most public addresses in the pool (each costs 24 KiB of port bitmaps).
pub const MAX_PUBLIC: usize = 256;
/// How long a first fragment's translation is kept for the later ones.
pub const FRAGMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Datagrams being fragmented at once that the NAT follows.
pub const FRAGMENT_CAPACITY: usize = 4096;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;

/// A 5-tuple in host order (ICMP queries: the identifier as the inside
/// end's port, 0 for the remote's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Tuple {
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
    proto: u8,
}

/// One end: address, port (or ICMP identifier), protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Endpoint {
    addr: u32,
    port: u16,
    proto: u8,
}

/// "This external endpoint has sent to that remote address" (for
/// address-dependent filtering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PermitKey {
    ext: Endpoint,
    remote: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FragKey {
    src: u32,
    dst: u32,
    ident: u16,
    proto: u8,
    input: u8,
}

/// What the first fragment of a datagram became.
#[derive(Debug, Clone, Copy)]
struct FragRewrite {
    src: u32,
    dst: u32,
    output: u16,
}

/// TCP state bits of a session.
mod tcp_state {
    pub const SEEN_IN: u8 = 1;
    pub const SEEN_OUT: u8 = 2;
    pub const FIN_IN: u8 = 4;
    pub const FIN_OUT: u8 = 8;
    pub const RST: u8 = 16;
}

/// Timeout classes of the session table.
mod class {
    pub const TCP_ESTABLISHED: u8 = 0;
    pub const TCP_TRANSITORY: u8 = 1;
    pub const UDP: u8 = 2;
    pub const ICMP: u8 = 3;
}

/// A session, keyed by its inside 5-tuple.
#[derive(Debug, Clone, Copy)]
struct Session {
    ext_addr: u32,
    ext_port: u16,
    tcp: u8,
    /// The remote end is another inside host's mapping.
    hairpin: bool,
}

/// A mapping, keyed by its external endpoint.
#[derive(Debug, Clone, Copy)]
struct Mapping {
    int_addr: u32,
    int_port: u16,
    sessions: u32,
    /// A port forward: never expires, open to everyone.
    fixed: bool,
}

impl Session {
    fn outside_key(&self, inside: &Tuple) -> Tuple {
        Tuple {
            src: inside.dst,
            dst: self.ext_addr,
            sport: inside.dport,
            dport: self.ext_port,
            proto: inside.proto,
        }
    }
    fn ext(&self, proto: u8) -> Endpoint {
        Endpoint {
            addr: self.ext_addr,
            port: self.ext_port,
            proto,
        }
    }
}

fn session_class(proto: u8, tcp: u8) -> u8 {
    use tcp_state::*;
    match proto {
        TCP if tcp & RST != 0 || tcp & (FIN_IN | FIN_OUT) == FIN_IN | FIN_OUT => {
            class::TCP_TRANSITORY
        }
        TCP if tcp & (SEEN_IN | SEEN_OUT) == SEEN_IN | SEEN_OUT => class::TCP_ESTABLISHED,
        TCP => class::TCP_TRANSITORY,
        UDP => class::UDP,
        _ => class::ICMP,
    }
}

/// The TCP state after a segment with `flags` (`outbound`: from inside).
fn tcp_next(state: u8, flags: TcpFlags, outbound: bool) -> u8 {
    use tcp_state::*;
    let closed = state & RST != 0 || state & (FIN_IN | FIN_OUT) == FIN_IN | FIN_OUT;
    let mut s = if closed && flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::ACK) {
        0 // a new connection on the same 5-tuple
    } else {
        state
    };
    s |= if outbound { SEEN_IN } else { SEEN_OUT };
    if flags.contains(TcpFlags::FIN) {
        s |= if outbound { FIN_IN } else { FIN_OUT };
    }
    if flags.contains(TcpFlags::RST) {
        s |= RST;
    }
    s
}

fn proto_index(proto: u8) -> usize {
    match proto {
        TCP => 0,
        UDP => 1,
        _ => 2,
    }
}

/// The pool address of an internal host: a fixed hash, so the same host
/// always gets the same public address (paired pooling), across cores and
/// reloads.
fn paired_index(int_addr: u32, n: usize) -> usize {
    let h = u64::from(int_addr).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((h >> 32) % n as u64) as usize
}

/// What the transport layer of a packet is, for the NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L4 {
    Tcp(TcpFlags),
    Udp,
    IcmpQuery {
        request: bool,
    },
    IcmpError,
    IcmpOther,
    /// A fragment other than the first.
    Fragment,
    Other,
}

/// The parts of an IPv4 frame the NAT needs (offsets into the frame).
#[derive(Debug, Clone, Copy)]
struct Parsed {
    ip: usize,
    end: usize,
    l4_at: usize,
    src: u32,
    dst: u32,
    /// TCP/UDP ports; ICMP queries: the identifier in both.
    sport: u16,
    dport: u16,
    proto: u8,
    l4: L4,
    ident: u16,
    /// A first fragment of several.
    first_fragment: bool,
}

impl Parsed {
    /// `Ok(None)`: not IPv4. `Err`: a broken IPv4 packet.
    fn new(frame: &[u8]) -> Result<Option<Parsed>, BadHeader> {
        let Some((EtherType::Ipv4, ip)) = locate_l3(frame) else {
            return Ok(None);
        };
        let ext = Ipv4::check(&frame[ip..]).map_err(|_| BadHeader)?;
        let pkt = Ipv4Packet::new_unchecked(&frame[ip..ip + ext.end]);
        let l4_at = ip + ext.header_len;
        let l4 = &frame[l4_at..ip + ext.end];
        let proto = u8::from(pkt.protocol());
        let be = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
        let (kind, sport, dport) = if pkt.frag_offset() != 0 {
            (L4::Fragment, 0, 0)
        } else {
            match proto {
                TCP => {
                    Tcp::check(l4).map_err(|_| BadHeader)?;
                    let flags = TcpPacket::new_unchecked(l4).flags();
                    (L4::Tcp(flags), be(0), be(2))
                }
                UDP if l4.len() >= netfn_wire::udp::HEADER_LEN => (L4::Udp, be(0), be(2)),
                ICMP if l4.len() >= netfn_wire::icmpv4::HEADER_LEN => match l4[0] {
                    8 | 13 => (L4::IcmpQuery { request: true }, be(4), be(4)),
                    0 | 14 => (L4::IcmpQuery { request: false }, be(4), be(4)),
                    3 | 4 | 11 | 12 => (L4::IcmpError, 0, 0),
                    _ => (L4::IcmpOther, 0, 0),
                },
                UDP | ICMP => return Err(BadHeader),
                _ => (L4::Other, 0, 0),
            }
        };
        Ok(Some(Parsed {
            ip,
            end: ip + ext.end,
            l4_at,
            src: pkt.src_addr().to_bits(),
            dst: pkt.dst_addr().to_bits(),
            sport,
            dport,
            proto,
            l4: kind,
            ident: pkt.ident(),
            first_fragment: pkt.more_frags() && pkt.frag_offset() == 0,
        }))
    }

    /// The session key of a packet from inside.
    fn inside_key(&self) -> Tuple {
        let dport = match self.l4 {
            L4::IcmpQuery { .. } => 0,
            _ => self.dport,
        };
        Tuple {
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport,
            proto: self.proto,
        }
    }

    /// The key of a packet from outside in the outside index.
    fn outside_key(&self) -> Tuple {
        let sport = match self.l4 {
            L4::IcmpQuery { .. } => 0,
            _ => self.sport,
        };
        Tuple {
            src: self.src,
            dst: self.dst,
            sport,
            dport: self.dport,
            proto: self.proto,
        }
    }

    /// The port rewritten with the address (none for later fragments).
    fn has_port(&self) -> bool {
        matches!(self.l4, L4::Tcp(_) | L4::Udp | L4::IcmpQuery { .. })
    }
}

#[derive(Debug, Default, Clone)]
struct Counters {
    sessions_created: u64,
    sessions_expired: u64,
    mappings_created: u64,
    mappings_expired: u64,
    translated_out: u64,
    translated_in: u64,
    hairpinned: u64,
    icmp_errors_out: u64,
    icmp_errors_in: u64,
    fragments: u64,
    passed: u64,
    drop_port_exhausted: u64,
    drop_table_full: u64,
    drop_no_state: u64,
    drop_filtered: u64,
    drop_malformed: u64,
    drop_unsupported: u64,
    drop_fragment_unmatched: u64,
    drop_other: u64,
}

/// Everything the session table's entries point into (split from it so
/// expiry can release into these while iterating the sessions).
#[derive(Debug)]
struct Links {
    /// Outside 5-tuple (remote -> external endpoint) -> session.
    by_outside: FlowTable<Tuple, Slot>,
    /// External endpoint -> mapping.
    mappings: FlowTable<Endpoint, Mapping>,
    /// Internal endpoint -> external endpoint (endpoint-independent
    /// mappings and port forwards).
    by_inside: FlowTable<Endpoint, Endpoint>,
    /// Address-dependent filtering: sessions per (external endpoint,
    /// remote address).
    permits: FlowTable<PermitKey, u32>,
    /// Pool addresses (host order) and their free ports: TCP, UDP, ICMP.
    pool: Vec<u32>,
    ports: Vec<[PortSet; 3]>,
    address_dependent: bool,
}

/// A table that never expires by time (entries leave when removed).
fn table<K: std::hash::Hash + Eq, V>(capacity: usize) -> FlowTable<K, V> {
    FlowTable::new(capacity.max(1), &[Duration::from_secs(u32::MAX.into())])
}

impl Links {
    /// Undoes what a session held: its outside index entry, its permit,
    /// its share of the mapping (and the mapping with its port when that
    /// was the last share).
    fn release(&mut self, key: &Tuple, s: &Session, counters: &mut Counters) {
        self.by_outside.remove(&s.outside_key(key));
        if self.address_dependent {
            let pk = PermitKey {
                ext: s.ext(key.proto),
                remote: key.dst,
            };
            if let Some(slot) = self.permits.find(&pk) {
                let n = self.permits.value_mut(slot);
                *n -= 1;
                if *n == 0 {
                    self.permits.remove_slot(slot);
                }
            }
        }
        let ext = s.ext(key.proto);
        if let Some(slot) = self.mappings.find(&ext) {
            let m = self.mappings.value_mut(slot);
            m.sessions = m.sessions.saturating_sub(1);
            if m.sessions == 0 && !m.fixed {
                self.free_mapping(slot);
                counters.mappings_expired += 1;
            }
        }
    }

    fn free_mapping(&mut self, slot: Slot) {
        let (ext, m) = self.mappings.remove_slot(slot);
        let int = Endpoint {
            addr: m.int_addr,
            port: m.int_port,
            proto: ext.proto,
        };
        if self.by_inside.peek(&int) == Some(&ext) {
            self.by_inside.remove(&int);
        }
        if let Ok(i) = self.pool.binary_search(&ext.addr) {
            self.ports[i][proto_index(ext.proto)].release(ext.port);
        }
    }

    /// Records a new session's links. `Err` (nothing recorded): a table
    /// is full.
    fn link(&mut self, key: &Tuple, slot: Slot, s: &Session) -> Result<(), ()> {
        self.by_outside
            .insert(s.outside_key(key), slot, 0, 0)
            .map_err(|_| ())?;
        if self.address_dependent {
            let pk = PermitKey {
                ext: s.ext(key.proto),
                remote: key.dst,
            };
            match self.permits.find(&pk) {
                Some(p) => *self.permits.value_mut(p) += 1,
                None => {
                    if self.permits.insert(pk, 1, 0, 0).is_err() {
                        self.by_outside.remove(&s.outside_key(key));
                        return Err(());
                    }
                }
            }
        }
        if let Some(m) = self.mappings.find(&s.ext(key.proto)) {
            self.mappings.value_mut(m).sessions += 1;
        }
        Ok(())
    }
}

/// The NAT NF (see the module docs).
#[derive(Debug)]
pub struct Nat {
    config: NatConfig,
    /// Pool and forward addresses, sorted: packets to these are ours.
    ours: Vec<u32>,
    sessions: FlowTable<Tuple, Session>,
    links: Links,
    frags: FlowTable<FragKey, FragRewrite>,
    counters: Counters,
}

impl Nat {
    pub fn new(config: NatConfig) -> Result<Nat, NatError> {
        if config.public.is_empty() {
            return Err(NatError::NoPublic);
        }
        if config.public.len() > MAX_PUBLIC {
            return Err(NatError::TooManyPublic(config.public.len()));
        }
        let mut pool: Vec<u32> = config.public.iter().map(|a| a.to_bits()).collect();
        pool.sort_unstable();
        if let Some(w) = pool.windows(2).find(|w| w[0] == w[1]) {
            return Err(NatError::DuplicatePublic(Ipv4Addr::from_bits(w[0])));
        }
        let (lo, hi) = config.ports;
        if lo == 0 || lo > hi {
            return Err(NatError::PortRange(lo, hi));
        }
        if !(1..=16_777_216).contains(&config.capacity) {
            return Err(NatError::Capacity(config.capacity));
        }
        let min = |m: u64| Duration::from_secs(m);
        for (name, value, rfc_min, rfc) in [
            (
                "tcp_established",
                config.tcp_established,
                min(2 * 3600 + 4 * 60),
                "RFC 5382 REQ-5",
            ),
            (
                "tcp_transitory",
                config.tcp_transitory,
                min(4 * 60),
                "RFC 5382 REQ-5",
            ),
            ("udp", config.udp, min(2 * 60), "RFC 4787 REQ-5"),
            ("icmp", config.icmp, min(60), "RFC 5508 REQ-1"),
        ] {
            if value < Duration::from_secs(1) {
                return Err(NatError::TimeoutZero { name, value });
            }
            if config.rfc_timeouts && value < rfc_min {
                return Err(NatError::Timeout {
                    name,
                    value,
                    min: rfc_min,
                    rfc,
                });
            }
        }
        let statics = config.forwards.len();
        let cap = config.capacity;
        let address_dependent = config.filtering == FilteringBehavior::AddressDependent;
        let mut links = Links {
            by_outside: table(cap),
            mappings: table(cap + statics),
            by_inside: table(cap + statics),
            permits: table(if address_dependent { cap } else { 1 }),
            ports: pool
                .iter()
                .map(|_| {
                    // ICMP identifiers have no privileged range: all of
                    // them (so identifiers are kept when free).
                    let set = PortSet::new(lo, hi);
                    [set.clone(), set, PortSet::new(0, u16::MAX)]
                })
                .collect(),
            pool,
            address_dependent,
        };
        let mut ours = links.pool.clone();
        for (i, f) in config.forwards.iter().enumerate() {
            let n = i + 1;
            if !config.inside.iter().any(|p| p.contains(&f.inside.0)) {
                return Err(NatError::ForwardNotInside(n));
            }
            let ext = Endpoint {
                addr: f.public.0.to_bits(),
                port: f.public.1,
                proto: f.protocol,
            };
            let int = Endpoint {
                addr: f.inside.0.to_bits(),
                port: f.inside.1,
                proto: f.protocol,
            };
            if links.mappings.find(&ext).is_some() {
                return Err(NatError::ForwardDuplicate(n));
            }
            if links.by_inside.find(&int).is_some() {
                return Err(NatError::ForwardInsideDuplicate(n));
            }
            let m = Mapping {
                int_addr: int.addr,
                int_port: int.port,
                sessions: 0,
                fixed: true,
            };
            // Sized for every forward: cannot be full.
            let _ = links.mappings.insert(ext, m, 0, 0);
            let _ = links.by_inside.insert(int, ext, 0, 0);
            if let Ok(a) = links.pool.binary_search(&ext.addr) {
                links.ports[a][proto_index(f.protocol)].reserve(ext.port);
            }
            ours.push(ext.addr);
        }
        ours.sort_unstable();
        ours.dedup();
        let sessions = FlowTable::new(
            cap,
            &[
                config.tcp_established,
                config.tcp_transitory,
                config.udp,
                config.icmp,
            ],
        );
        Ok(Nat {
            frags: FlowTable::new(FRAGMENT_CAPACITY, &[FRAGMENT_TIMEOUT]),
            config,
            ours,
            sessions,
            links,
            counters: Counters::default(),
        })
    }

    /// Builds from validated graph parameters (see [`SPECS`]).
    pub fn from_params(p: &Params) -> Result<Nat, ConfigError> {
        Nat::new(NatConfig::from_params(p)?)
            .map_err(|e| ConfigError::param(e.param(), e.to_string()))
    }

    pub fn config(&self) -> &NatConfig {
        &self.config
    }

    /// Live sessions.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Live mappings (port forwards included).
    pub fn mappings(&self) -> usize {
        self.links.mappings.len()
    }

    /// The external endpoint of a live mapping of an internal endpoint
    /// (endpoint-independent mappings and forwards).
    pub fn mapping_of(&self, protocol: u8, inside: (Ipv4Addr, u16)) -> Option<(Ipv4Addr, u16)> {
        let int = Endpoint {
            addr: inside.0.to_bits(),
            port: inside.1,
            proto: protocol,
        };
        self.links
            .by_inside
            .peek(&int)
            .map(|e| (Ipv4Addr::from_bits(e.addr), e.port))
    }

    fn is_ours(&self, addr: u32) -> bool {
        self.ours.binary_search(&addr).is_ok()
    }

    fn is_inside(&self, addr: u32) -> bool {
        let a = Ipv4Addr::from_bits(addr);
        self.config.inside.iter().any(|p| p.contains(&a))
    }

    fn other(&mut self, output: u16) -> Verdict {
        if self.config.drop_other {
            self.counters.drop_other += 1;
            Verdict::drop(DropReason::Filtered)
        } else {
            self.counters.passed += 1;
            Verdict::forward(output)
        }
    }

    fn drop(&mut self, reason: DropReason) -> Verdict {
        let c = &mut self.counters;
        match reason {
            DropReason::PortExhausted => c.drop_port_exhausted += 1,
            DropReason::NoState => c.drop_no_state += 1,
            DropReason::Filtered => c.drop_filtered += 1,
            DropReason::Unsupported => c.drop_unsupported += 1,
            _ => c.drop_malformed += 1,
        }
        Verdict::drop(reason)
    }

    fn handle(&mut self, input: usize, frame: &mut [u8], now: u64, seed: u32) -> Verdict {
        let out = if input == 0 { 0 } else { 1 };
        let p = match Parsed::new(frame) {
            Ok(Some(p)) => p,
            Ok(None) => return self.other(out),
            Err(BadHeader) => return self.drop(DropReason::Malformed),
        };
        let verdict = match (input, p.l4) {
            (_, L4::Fragment) => return self.later_fragment(input, frame, &p),
            (0, L4::IcmpError) => self.error_from_inside(frame, &p),
            (_, L4::IcmpError) => self.error_from_outside(frame, &p),
            (0, _) => self.outbound(frame, &p, now, seed),
            _ => self.inbound(frame, &p, now),
        };
        if p.first_fragment
            && let Some(output) = match verdict.action() {
                netfn_core::batch::Action::Forward(k) => Some(k),
                netfn_core::batch::Action::Drop(_) => None,
            }
        {
            self.remember_fragment(input, frame, &p, output, now);
        }
        verdict
    }

    /// A packet from inside (input 0): translate its source (and for
    /// hairpinning, its destination too).
    fn outbound(&mut self, frame: &mut [u8], p: &Parsed, now: u64, seed: u32) -> Verdict {
        let key = p.inside_key();
        let slot = match self.sessions.find(&key) {
            Some(slot) => slot,
            None => match self.new_outbound_session(p, &key, now, seed) {
                Ok(slot) => slot,
                Err(v) => return v,
            },
        };
        let s = *self.sessions.value(slot);
        self.refresh(slot, s, p, true, now);
        let port = p.has_port().then_some(s.ext_port);
        if rewrite_ipv4_end(
            &mut frame[p.ip..p.end],
            End::Src,
            Ipv4Addr::from_bits(s.ext_addr),
            port,
        )
        .is_err()
        {
            return self.drop(DropReason::Malformed);
        }
        if !s.hairpin {
            self.counters.translated_out += 1;
            return Verdict::forward(0);
        }
        // Back in as if from outside, from the sender's external endpoint.
        self.counters.hairpinned += 1;
        let mut back = *p;
        back.src = s.ext_addr;
        if p.has_port() {
            back.sport = s.ext_port;
        }
        self.inbound(frame, &back, now)
    }

    fn new_outbound_session(
        &mut self,
        p: &Parsed,
        key: &Tuple,
        now: u64,
        seed: u32,
    ) -> Result<Slot, Verdict> {
        if !self.is_inside(p.src) {
            return Err(self.other(0));
        }
        match p.l4 {
            L4::Tcp(flags) if flags.contains(TcpFlags::RST) => {
                return Err(self.drop(DropReason::NoState));
            }
            L4::Tcp(_) | L4::Udp | L4::IcmpQuery { request: true } => {}
            L4::IcmpQuery { request: false } => return Err(self.drop(DropReason::NoState)),
            _ => return Err(self.drop(DropReason::Unsupported)),
        }
        let hairpin = self.is_ours(p.dst);
        if hairpin {
            // Only to a live mapping (ICMP queries are never hairpinned).
            let target = Endpoint {
                addr: p.dst,
                port: p.dport,
                proto: p.proto,
            };
            if p.proto == ICMP || self.links.mappings.find(&target).is_none() {
                return Err(self.drop(DropReason::NoState));
            }
        }
        let int = Endpoint {
            addr: p.src,
            port: p.sport,
            proto: p.proto,
        };
        let ext = self.mapping_for(int, seed).map_err(|r| self.drop(r))?;
        let s = Session {
            ext_addr: ext.addr,
            ext_port: ext.port,
            tcp: 0,
            hairpin,
        };
        self.insert_session(*key, s, now)
    }

    /// The external endpoint for a new session of `int`: its mapping, or a
    /// new one with a port from its paired pool address.
    fn mapping_for(&mut self, int: Endpoint, seed: u32) -> Result<Endpoint, DropReason> {
        if let Some(ext) = self.links.by_inside.peek(&int) {
            return Ok(*ext);
        }
        let l = &mut self.links;
        let a = paired_index(int.addr, l.pool.len());
        let Some(port) =
            l.ports[a][proto_index(int.proto)].allocate(int.port, self.config.parity, seed)
        else {
            return Err(DropReason::PortExhausted);
        };
        let ext = Endpoint {
            addr: l.pool[a],
            port,
            proto: int.proto,
        };
        let m = Mapping {
            int_addr: int.addr,
            int_port: int.port,
            sessions: 0,
            fixed: false,
        };
        let eim = self.config.mapping == MappingBehavior::EndpointIndependent;
        if l.mappings.insert(ext, m, 0, 0).is_err()
            || (eim && l.by_inside.insert(int, ext, 0, 0).is_err())
        {
            l.mappings.remove(&ext);
            l.ports[a][proto_index(int.proto)].release(port);
            self.counters.drop_table_full += 1;
            return Err(DropReason::PortExhausted);
        }
        self.counters.mappings_created += 1;
        Ok(ext)
    }

    /// Inserts a session and its links; on a full table undoes a mapping
    /// made for it.
    fn insert_session(&mut self, key: Tuple, s: Session, now: u64) -> Result<Slot, Verdict> {
        let class = session_class(key.proto, s.tcp);
        let inserted = match self.sessions.insert(key, s, class, now) {
            Ok(slot) => match self.links.link(&key, slot, &s) {
                Ok(()) => Ok(slot),
                Err(()) => {
                    self.sessions.remove_slot(slot);
                    Err(())
                }
            },
            Err(_) => Err(()),
        };
        match inserted {
            Ok(slot) => {
                self.counters.sessions_created += 1;
                Ok(slot)
            }
            Err(()) => {
                if let Some(m) = self.links.mappings.find(&s.ext(key.proto)) {
                    let mapping = self.links.mappings.value(m);
                    if mapping.sessions == 0 && !mapping.fixed {
                        self.links.free_mapping(m);
                    }
                }
                self.counters.drop_table_full += 1;
                Err(self.drop(DropReason::PortExhausted))
            }
        }
    }

    /// Marks a session used by `p` (TCP state, timeout class).
    fn refresh(&mut self, slot: Slot, s: Session, p: &Parsed, outbound: bool, now: u64) {
        let L4::Tcp(flags) = p.l4 else {
            self.sessions.touch(slot, now);
            return;
        };
        let next = tcp_next(s.tcp, flags, outbound);
        if next != s.tcp {
            self.sessions.value_mut(slot).tcp = next;
            let class = session_class(TCP, next);
            if class != self.sessions.class(slot) {
                self.sessions.set_class(slot, class, now);
                return;
            }
        }
        self.sessions.touch(slot, now);
    }

    /// A packet from outside (input 1), or a hairpinned one: translate its
    /// destination back to the inside host.
    fn inbound(&mut self, frame: &mut [u8], p: &Parsed, now: u64) -> Verdict {
        let key = p.outside_key();
        let found = match p.l4 {
            L4::IcmpQuery { request: true } => None,
            _ => self.links.by_outside.peek(&key).copied(),
        };
        let (slot, s, int_addr, int_port) = match found {
            Some(slot) => {
                let inside = *self.sessions.key(slot);
                (
                    Some(slot),
                    *self.sessions.value(slot),
                    inside.src,
                    inside.sport,
                )
            }
            None => match self.new_inbound_session(p, now) {
                Ok(found) => found,
                Err(v) => return v,
            },
        };
        if let Some(slot) = slot {
            self.refresh(slot, s, p, false, now);
        }
        let port = p.has_port().then_some(int_port);
        if rewrite_ipv4_end(
            &mut frame[p.ip..p.end],
            End::Dst,
            Ipv4Addr::from_bits(int_addr),
            port,
        )
        .is_err()
        {
            return self.drop(DropReason::Malformed);
        }
        self.counters.translated_in += 1;
        Verdict::forward(1)
    }

    /// An inbound packet that matches no session: filtering decides
    /// whether it opens one. `slot` is `None` when the packet is admitted
    /// but its inside 5-tuple already belongs to another mapping.
    #[allow(clippy::type_complexity)]
    fn new_inbound_session(
        &mut self,
        p: &Parsed,
        now: u64,
    ) -> Result<(Option<Slot>, Session, u32, u16), Verdict> {
        if !self.is_ours(p.dst) {
            return Err(self.other(1));
        }
        match p.l4 {
            L4::Tcp(flags) if flags.contains(TcpFlags::RST) => {
                return Err(self.drop(DropReason::NoState));
            }
            L4::Tcp(_) | L4::Udp | L4::IcmpQuery { request: false } => {}
            L4::IcmpQuery { request: true } | L4::IcmpOther => {
                return Err(self.drop(DropReason::NoState));
            }
            _ => return Err(self.drop(DropReason::Unsupported)),
        }
        let ext = Endpoint {
            addr: p.dst,
            port: p.dport,
            proto: p.proto,
        };
        let Some(m) = self.links.mappings.peek(&ext).copied() else {
            return Err(self.drop(DropReason::NoState));
        };
        let admitted = m.fixed
            || match self.config.filtering {
                FilteringBehavior::EndpointIndependent => true,
                FilteringBehavior::AddressDependent => self
                    .links
                    .permits
                    .find(&PermitKey { ext, remote: p.src })
                    .is_some(),
                FilteringBehavior::AddressAndPortDependent => false,
            };
        if !admitted {
            return Err(self.drop(DropReason::Filtered));
        }
        let key = Tuple {
            src: m.int_addr,
            dst: p.src,
            sport: m.int_port,
            dport: if p.proto == ICMP { 0 } else { p.sport },
            proto: p.proto,
        };
        let s = Session {
            ext_addr: ext.addr,
            ext_port: ext.port,
            tcp: 0,
            hairpin: self.is_ours(p.src),
        };
        if self.sessions.find(&key).is_some() {
            // The inside 5-tuple already goes out through another
            // mapping (address-and-port-dependent mapping): pass this one
            // without state.
            return Ok((None, s, m.int_addr, m.int_port));
        }
        let slot = self.insert_session(key, s, now)?;
        Ok((Some(slot), s, m.int_addr, m.int_port))
    }

    /// An ICMP error from outside about a packet we sent out.
    fn error_from_outside(&mut self, frame: &mut [u8], p: &Parsed) -> Verdict {
        let Ok(q) = Quoted::new(frame, p) else {
            return if self.is_ours(p.dst) {
                self.drop(DropReason::Malformed)
            } else {
                self.other(1)
            };
        };
        // The quoted packet went out as external -> remote.
        let key = Tuple {
            src: q.dst,
            dst: q.src,
            sport: if q.query { 0 } else { q.dport },
            dport: q.sport,
            proto: q.proto,
        };
        let Some(slot) = self.links.by_outside.peek(&key).copied() else {
            return if self.is_ours(p.dst) {
                self.drop(DropReason::NoState)
            } else {
                self.other(1)
            };
        };
        if p.dst != q.src {
            return self.drop(DropReason::NoState);
        }
        let inside = *self.sessions.key(slot);
        let int = Ipv4Addr::from_bits(inside.src);
        Ipv4Packet::new_unchecked(&mut frame[p.ip..p.end]).update_dst_addr(int);
        rewrite_quoted(&mut frame[q.icmp..q.end], End::Src, int, inside.sport);
        self.counters.icmp_errors_in += 1;
        Verdict::forward(1)
    }

    /// An ICMP error from inside about a packet that came in translated.
    fn error_from_inside(&mut self, frame: &mut [u8], p: &Parsed) -> Verdict {
        let q = match Quoted::new(frame, p) {
            Ok(q) => q,
            Err(BadHeader) if self.is_inside(p.src) => return self.drop(DropReason::Malformed),
            Err(BadHeader) => return self.other(0),
        };
        // The quoted packet came in as remote -> internal.
        let key = Tuple {
            src: q.dst,
            dst: q.src,
            sport: q.dport,
            dport: if q.query { 0 } else { q.sport },
            proto: q.proto,
        };
        let Some(slot) = self.sessions.find(&key) else {
            return if self.is_inside(p.src) {
                self.drop(DropReason::NoState)
            } else {
                self.other(0)
            };
        };
        let s = *self.sessions.value(slot);
        let ext = Ipv4Addr::from_bits(s.ext_addr);
        Ipv4Packet::new_unchecked(&mut frame[p.ip..p.end]).update_src_addr(ext);
        rewrite_quoted(&mut frame[q.icmp..q.end], End::Dst, ext, s.ext_port);
        self.counters.icmp_errors_out += 1;
        Verdict::forward(0)
    }

    fn remember_fragment(&mut self, input: usize, frame: &[u8], p: &Parsed, output: u16, now: u64) {
        let ip = Ipv4Packet::new_unchecked(&frame[p.ip..p.end]);
        let key = FragKey {
            src: p.src,
            dst: p.dst,
            ident: p.ident,
            proto: p.proto,
            input: input as u8,
        };
        let rewrite = FragRewrite {
            src: ip.src_addr().to_bits(),
            dst: ip.dst_addr().to_bits(),
            output,
        };
        // A full table forgets: the later fragments are then dropped.
        let _ = self.frags.insert(key, rewrite, 0, now);
    }

    fn later_fragment(&mut self, input: usize, frame: &mut [u8], p: &Parsed) -> Verdict {
        let key = FragKey {
            src: p.src,
            dst: p.dst,
            ident: p.ident,
            proto: p.proto,
            input: input as u8,
        };
        let Some(r) = self.frags.peek(&key).copied() else {
            let ours = if input == 0 {
                self.is_inside(p.src)
            } else {
                self.is_ours(p.dst)
            };
            if !ours {
                return self.other(if input == 0 { 0 } else { 1 });
            }
            self.counters.drop_fragment_unmatched += 1;
            return Verdict::drop(DropReason::NoState);
        };
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[p.ip..p.end]);
        ip.update_src_addr(Ipv4Addr::from_bits(r.src));
        ip.update_dst_addr(Ipv4Addr::from_bits(r.dst));
        self.counters.fragments += 1;
        Verdict::forward(r.output)
    }

    /// Removes expired sessions (and the mappings and ports only they
    /// held) and fragment records.
    fn expire(&mut self, now: u64) {
        let Nat {
            sessions,
            links,
            counters,
            frags,
            ..
        } = self;
        let n = sessions.expire(now, |k, s| links.release(&k, &s, counters));
        counters.sessions_expired += n as u64;
        frags.expire(now, |_, _| {});
    }

    /// Takes over a session of an old instance; false if it no longer
    /// fits this configuration (its external endpoint is not ours, or is
    /// taken).
    fn restore(&mut self, key: Tuple, mut s: Session, seen: u64) -> bool {
        let ext = s.ext(key.proto);
        let int = Endpoint {
            addr: key.src,
            port: key.sport,
            proto: key.proto,
        };
        if !self.is_inside(key.src) {
            return false;
        }
        match self.links.mappings.peek(&ext) {
            Some(m) if (m.int_addr, m.int_port) != (int.addr, int.port) => return false,
            Some(_) => {}
            None => {
                let l = &mut self.links;
                let Ok(a) = l.pool.binary_search(&ext.addr) else {
                    return false;
                };
                if !l.ports[a][proto_index(key.proto)].reserve(ext.port) {
                    return false;
                }
                let m = Mapping {
                    int_addr: int.addr,
                    int_port: int.port,
                    sessions: 0,
                    fixed: false,
                };
                if l.mappings.insert(ext, m, 0, 0).is_err() {
                    l.ports[a][proto_index(key.proto)].release(ext.port);
                    return false;
                }
                if self.config.mapping == MappingBehavior::EndpointIndependent
                    && l.by_inside.find(&int).is_none()
                {
                    let _ = l.by_inside.insert(int, ext, 0, 0);
                }
            }
        }
        s.hairpin = self.is_ours(key.dst);
        let created = self.counters.sessions_created;
        let ok = self.insert_session(key, s, seen).is_ok();
        self.counters.sessions_created = created;
        ok
    }
}

impl Nf for Nat {
    fn process(&mut self, input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        self.expire(now);
        let (packets, verdicts) = batch.split_mut();
        for (pkt, verdict) in packets.iter_mut().zip(verdicts.iter_mut()) {
            let seed = ctx.rng().u32(..);
            *verdict = self.handle(input, pkt.data_mut(), now, seed);
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.schedule_every(Duration::from_secs(1));
    }

    /// Expires idle sessions even when no traffic comes.
    fn on_timer(&mut self, ctx: &mut Ctx<'_>) {
        self.expire(ctx.now());
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let c = &self.counters;
        report("sessions_active", self.sessions.len() as u64);
        report("sessions_created", c.sessions_created);
        report("sessions_expired", c.sessions_expired);
        report("mappings_active", self.links.mappings.len() as u64);
        report("mappings_created", c.mappings_created);
        report("mappings_expired", c.mappings_expired);
        let free: u64 = self
            .links
            .ports
            .iter()
            .flat_map(|p| p.iter())
            .map(|s| u64::from(s.free()))
            .sum();
        report("ports_free", free);
        report("translated_out", c.translated_out);
        report("translated_in", c.translated_in);
        report("hairpinned", c.hairpinned);
        report("icmp_errors_out", c.icmp_errors_out);
        report("icmp_errors_in", c.icmp_errors_in);
        report("fragments", c.fragments);
        report("passed", c.passed);
        report("drop_port_exhausted", c.drop_port_exhausted);
        report("drop_table_full", c.drop_table_full);
        report("drop_no_state", c.drop_no_state);
        report("drop_filtered", c.drop_filtered);
        report("drop_malformed", c.drop_malformed);
        report("drop_unsupported", c.drop_unsupported);
        report("drop_fragment_unmatched", c.drop_fragment_unmatched);
        report("drop_other", c.drop_other);
    }

    /// On a reload: every old session whose external endpoint is still in
    /// the new pool (or is still the same port forward) is kept with its
    /// port, TCP state and idle time; the counters carry on.
    fn adopt(&mut self, old: Box<dyn Nf>) {
        let Some(old) = netfn_core::nf::downcast::<Nat>(old) else {
            return;
        };
        let mut entries: Vec<(u64, Tuple, Session)> = old
            .sessions
            .iter()
            .map(|(slot, k, s)| (old.sessions.last_seen(slot), *k, *s))
            .collect();
        entries.sort_by_key(|e| e.0);
        let mut lost = 0;
        for (seen, key, s) in entries {
            if !self.restore(key, s, seen) {
                lost += 1;
            }
        }
        let mut counters = old.counters.clone();
        counters.sessions_expired += lost;
        self.counters = counters;
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(Nat::from_params(p)?))
}

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "nat",
    doc: "stateful NAPT / masquerade for IPv4 (RFC 4787, 5382, 5508): in 0/out 0 inside->outside, in 1/out 1 outside->inside",
    params: &[
        ParamSpec::required(
            "public",
            ParamType::List(&ParamType::Prefix),
            "public IPv4 addresses (or prefixes: every address in them), at most 256",
        ),
        ParamSpec::optional(
            "ports",
            ParamType::Str,
            "\"1024-65535\"",
            "external TCP/UDP port range, \"lo-hi\" (ICMP identifiers use all 65536)",
        ),
        ParamSpec::optional(
            "inside",
            ParamType::List(&ParamType::Prefix),
            "[0.0.0.0/0]",
            "sources on input 0 that are translated (others follow `other`)",
        ),
        ParamSpec::optional(
            "mapping",
            ParamType::Word(&["endpoint-independent", "address-and-port-dependent"]),
            "endpoint-independent",
            "mapping behaviour (RFC 4787 §4.1; REQ-1 wants endpoint-independent)",
        ),
        ParamSpec::optional(
            "filtering",
            ParamType::Word(&[
                "endpoint-independent",
                "address-dependent",
                "address-and-port-dependent",
            ]),
            "address-dependent",
            "who may reach a mapping without a session (RFC 4787 §5)",
        ),
        ParamSpec::optional(
            "parity",
            ParamType::Bool,
            "false",
            "external port keeps the internal port's parity",
        ),
        ParamSpec::optional(
            "tcp_established",
            ParamType::Duration,
            "124m",
            "idle timeout of an established TCP session (RFC 5382: >= 2h4m)",
        ),
        ParamSpec::optional(
            "tcp_transitory",
            ParamType::Duration,
            "4m",
            "idle timeout of an opening, closing or reset TCP session (RFC 5382: >= 4m)",
        ),
        ParamSpec::optional(
            "udp",
            ParamType::Duration,
            "5m",
            "idle timeout of a UDP session (RFC 4787: >= 2m)",
        ),
        ParamSpec::optional(
            "icmp",
            ParamType::Duration,
            "60s",
            "idle timeout of an ICMP query session (RFC 5508: >= 60s)",
        ),
        ParamSpec::optional(
            "rfc_timeouts",
            ParamType::Bool,
            "true",
            "refuse timeouts below the RFC minimums",
        ),
        ParamSpec::optional(
            "capacity",
            ParamType::Int {
                min: 1,
                max: 16_777_216,
            },
            "65536",
            "session table capacity (full: new flows dropped as port-exhausted)",
        ),
        ParamSpec::optional(
            "forward",
            ParamType::List(&ParamType::Str),
            "[]",
            "static port forwards, \"tcp|udp <public-ip>:<port> -> <inside-ip>[:<port>]\"",
        ),
        ParamSpec::optional(
            "other",
            ParamType::Word(&["pass", "drop"]),
            "pass",
            "traffic not translated (non-IPv4, sources not inside, not to a NAT address): pass or drop (`filtered`)",
        ),
    ],
    inputs: Arity::Exactly(2),
    outputs: Arity::Exactly(2),
    build: Build::Nf(build),
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forwards() {
        let f = Forward::parse("tcp 203.0.113.1:8080 -> 10.0.0.5:80").unwrap();
        assert_eq!(f.protocol, TCP);
        assert_eq!(f.public, (Ipv4Addr::new(203, 0, 113, 1), 8080));
        assert_eq!(f.inside, (Ipv4Addr::new(10, 0, 0, 5), 80));
        let f = Forward::parse("udp 203.0.113.1:53->10.0.0.53").unwrap();
        assert_eq!(f.inside, (Ipv4Addr::new(10, 0, 0, 53), 53));
        for bad in [
            "",
            "tcp 203.0.113.1:80",
            "sctp 1.2.3.4:1 -> 10.0.0.1:1",
            "tcp 203.0.113.1 -> 10.0.0.1:1",
            "tcp 203.0.113.1:0 -> 10.0.0.1:1",
            "tcp 203.0.113.1:70000 -> 10.0.0.1",
            "tcp 203.0.113.1:80 -> fd00::1",
            "tcp 203.0.113.1:80 x -> 10.0.0.1",
            "tcp 203.0.113.1:80 -> 10.0.0.1 10.0.0.2",
        ] {
            assert!(Forward::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tcp_states_and_classes() {
        use tcp_state::*;
        let syn = TcpFlags::SYN;
        let synack = TcpFlags::SYN | TcpFlags::ACK;
        let s = tcp_next(0, syn, true);
        assert_eq!(session_class(TCP, s), class::TCP_TRANSITORY);
        let s = tcp_next(s, synack, false);
        assert_eq!(session_class(TCP, s), class::TCP_ESTABLISHED);
        let s = tcp_next(s, TcpFlags::FIN | TcpFlags::ACK, true);
        assert_eq!(session_class(TCP, s), class::TCP_ESTABLISHED, "half-closed");
        let s = tcp_next(s, TcpFlags::FIN | TcpFlags::ACK, false);
        assert_eq!(session_class(TCP, s), class::TCP_TRANSITORY);
        // A new SYN on the closed 5-tuple starts over.
        let s = tcp_next(s, syn, true);
        assert_eq!(s, SEEN_IN);
        let s = tcp_next(tcp_next(s, synack, false), TcpFlags::RST, false);
        assert_eq!(session_class(TCP, s), class::TCP_TRANSITORY);
        assert_eq!(session_class(UDP, 0), class::UDP);
        assert_eq!(session_class(ICMP, 0), class::ICMP);
    }

    #[test]
    fn paired_index_is_stable_and_spreads() {
        let mut counts = [0usize; 4];
        for a in 0..4000u32 {
            let i = paired_index(0x0a00_0000 + a, 4);
            assert_eq!(i, paired_index(0x0a00_0000 + a, 4));
            counts[i] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }

    #[test]
    fn config_is_validated() {
        let base = NatConfig {
            public: vec![Ipv4Addr::new(203, 0, 113, 1)],
            ..NatConfig::default()
        };
        assert!(Nat::new(base.clone()).is_ok());
        let bad = |f: &dyn Fn(&mut NatConfig)| {
            let mut c = base.clone();
            f(&mut c);
            Nat::new(c).unwrap_err()
        };
        assert_eq!(bad(&|c| c.public.clear()), NatError::NoPublic);
        assert_eq!(bad(&|c| c.ports = (2000, 1000)).param(), "ports");
        assert_eq!(bad(&|c| c.ports = (0, 1000)).param(), "ports");
        assert_eq!(bad(&|c| c.udp = Duration::from_secs(60)).param(), "udp");
        assert_eq!(
            bad(&|c| c.tcp_established = Duration::from_secs(7200)).param(),
            "tcp_established"
        );
        let mut lax = base.clone();
        lax.rfc_timeouts = false;
        lax.udp = Duration::from_secs(30);
        assert!(Nat::new(lax).is_ok());
        assert_eq!(bad(&|c| c.public.push(c.public[0])).param(), "public");
        let fwd = Forward::parse("tcp 203.0.113.1:80 -> 10.0.0.5").unwrap();
        assert_eq!(
            bad(&|c| {
                c.inside = vec!["192.168.0.0/16".parse().unwrap()];
                c.forwards = vec![fwd];
            }),
            NatError::ForwardNotInside(1)
        );
        assert_eq!(
            bad(&|c| c.forwards = vec![fwd, fwd]),
            NatError::ForwardDuplicate(2)
        );
    }
}
