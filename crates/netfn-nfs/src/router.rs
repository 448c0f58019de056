//! `router`: an IPv4/IPv6 router (RFC 1812, "Requirements for IP Version 4
//! Routers"; RFC 8200 and RFC 4443 for IPv6).
//!
//! **Ports.** A router with `ports = N` has N ports: input `i` is what port
//! `i` receives and output `i` what it sends (`dev i` in routes), so ICMP
//! errors and echo replies for a packet that came in on input `i` leave on
//! output `i`. Output N is `local`: packets for the router itself that it
//! does not answer (anything but ICMP echo to one of its addresses), IPv4
//! broadcast and multicast, IPv6 multicast and link-local destinations,
//! and non-IP frames (ARP): what a host stack would get. Packets on an
//! input ≥ N are routed, but nothing is sent back for them.
//!
//! **Lookup.** IPv4 longest-prefix match is DIR-24-8 (one memory read, two
//! under a prefix longer than /24), IPv6 the same controlled-prefix
//! expansion with a 16-bit first level and 8-bit levels after it; see
//! [`lpm`] for the layout and why. Routes come from a file and/or a list
//! in the syntax of `ip route` (see [`routes`]); the router's addresses
//! add local host routes, and connected routes when given with a length.
//!
//! **Receiving.** A unicast frame whose destination MAC is none of the
//! router's (Linux's PACKET_OTHERHOST: seen in promiscuous mode or on a
//! shared segment) is dropped (`other_host`, `filtered`) before anything
//! else; broadcast and multicast frames go on. Any port's MAC is accepted on
//! any input, since NFs before the router may merge both directions.
//!
//! **Forwarding** (in the order Linux's `ip_forward` applies): bad IPv4
//! header checksum → `malformed` (RFC 1812 §5.2.2); martian source or
//! destination (RFC 1812 §5.3.7, RFC 4291) → `filtered`; route lookup (no
//! route or an `unreachable` route → ICMP destination unreachable, net /
//! no route; `prohibit` → administratively prohibited; `blackhole` → no
//! ICMP; all counted drops); a packet received as a link-layer broadcast
//! or multicast is not forwarded (RFC 1812 §5.3.4); TTL / hop limit ≤ 1 →
//! ICMP time exceeded; the next hop's MAC from the neighbour table (the
//! gateway for `via` routes, the destination itself on connected routes;
//! unknown → `no-neighbor` drop: **ARP and Neighbor Discovery are not
//! done**, the table is static configuration or set through
//! [`RouterControl`]); then TTL − 1 with an incremental checksum (RFC 1624)
//! or hop limit − 1, destination MAC = neighbour, source MAC = the
//! router's MAC on the output port. VLAN tags are kept as they are. An
//! IPv6 packet with a link-local source is not forwarded (ICMPv6 beyond
//! scope of source address, RFC 4443 §3.1).
//!
//! **ICMP errors** are built with `netfn_wire`'s builder and emitted out of
//! the input port, to the MAC the packet came from (the previous hop),
//! from the router's address on that port (or any of its addresses of the
//! family), TTL 64. They quote as much of the packet as keeps the ICMP
//! datagram within 576 bytes for IPv4 (RFC 1812 §4.3.2.3; at least the
//! header + 8 bytes of RFC 792) and 1280 bytes for IPv6 (RFC 4443
//! §2.4(c)), as received. None is sent in response to an ICMP error, a
//! packet to a broadcast or multicast address or received as a link-layer
//! broadcast, or a non-first fragment (RFC 1812 §4.3.2.7, RFC 4443
//! §2.4(e)); all are limited by one token bucket per router (`icmp_rate`
//! per second, `icmp_burst`: Linux's `icmp_msgs_per_sec` and
//! `icmp_msgs_burst`, 1000 and 50 by default).
//!
//! **Updates.** Routes and neighbours change through [`RouterControl`]
//! (the control plane's handle): the DIR-24-8 and IPv6 tables are updated
//! incrementally, as `rte_lpm` does (only the entries a prefix covers, see
//! [`lpm`]), in the control plane's copy; the data path reads an immutable
//! published version ([`Fib`]) once per batch. Because readers still hold
//! the last version, the first change after a publish copies the table it
//! touches (64 MiB for IPv4, a memcpy of tens of milliseconds); a
//! [`RouterControl::batch`] of changes pays that once.

pub mod lpm;
pub mod routes;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

use foldhash::fast::FixedState;
use ipnet::IpNet;
use netfn_core::config::{Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params};
use netfn_core::{Batch, Ctx, DropReason, Nf, Shared, SharedReader, Verdict};
use netfn_wire::checksum::update16;
use netfn_wire::{
    EtherType, EthernetBuilder, EthernetFrame, Header, Icmpv4Message, Icmpv4Packet, Icmpv6Message,
    Icmpv6Packet, IpProtocol, Ipv4, Ipv4Packet, Ipv6, Ipv6Packet, MacAddr, PacketBuilder, VlanTag,
};

use crate::frame::locate_l3;
use lpm::{Lpm, Table4, Table6, TableFull};
pub use routes::{Address, Neighbor, Route, Target};

/// Most ports a router has.
pub const MAX_PORTS: u16 = 64;
/// Most 256-entry groups per family (64 MiB each at most).
const MAX_GROUPS: usize = 1 << 16;
/// TTL / hop limit of generated packets (Linux's default).
const REPLY_TTL: u8 = 64;
/// Largest ICMPv4 error datagram (RFC 1812 §4.3.2.3).
const ICMPV4_MAX: usize = 576;
/// Largest ICMPv6 error packet (RFC 4443 §2.4(c)).
const ICMPV6_MAX: usize = 1280;
/// DSCP CS6 (internetwork control) for ICMP errors, as Linux marks them.
const ICMP_DSCP: u8 = 48;

/// Why a route or neighbour change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    #[error("port {dev} does not exist (the router has {ports} ports)")]
    NoSuchPort { dev: u16, ports: u16 },
    #[error("gateway {gateway} is not of the family of {prefix}")]
    Family { gateway: IpAddr, prefix: IpNet },
    #[error("no route for {0}")]
    NotFound(IpNet),
    #[error(transparent)]
    TableFull(#[from] TableFull),
    #[error("more than {} distinct next hops", lpm::MAX_VALUE)]
    TooManyHops,
}

/// A next hop as the data path sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hop {
    target: Target,
    /// The gateway's MAC, resolved when the version was published.
    mac: Option<MacAddr>,
}

/// One published version of the forwarding state: both LPM tables, the
/// next hops their entries index, and the neighbour table.
#[derive(Debug, Clone)]
pub struct Fib {
    v4: Arc<Table4>,
    v6: Arc<Table6>,
    hops: Vec<Hop>,
    neighbors: HashMap<IpAddr, MacAddr, FixedState>,
    version: u64,
}

impl Fib {
    /// The route target for an address (what the data path would use).
    pub fn lookup(&self, addr: IpAddr) -> Option<Target> {
        let i = match addr {
            IpAddr::V4(a) => self.v4.lookup_v4(a.into())?,
            IpAddr::V6(a) => self.v6.lookup(a.into())?,
        };
        Some(self.hops[i as usize].target)
    }

    pub fn version(&self) -> u64 {
        self.version
    }
}

fn key(prefix: &IpNet) -> (u128, u8) {
    match prefix {
        IpNet::V4(n) => (u128::from(u32::from(n.addr())) << 96, n.prefix_len()),
        IpNet::V6(n) => (u128::from(n.addr()), n.prefix_len()),
    }
}

#[derive(Debug)]
struct ControlState {
    ports: u16,
    v4: Lpm<32, 24>,
    v6: Lpm<128, 16>,
    /// Next hops by index (never freed: there are few distinct ones).
    targets: Vec<Target>,
    index: HashMap<Target, u32>,
    routes: BTreeMap<IpNet, Target>,
    neighbors: HashMap<IpAddr, MacAddr>,
    version: u64,
}

impl ControlState {
    fn new(ports: u16) -> Self {
        ControlState {
            ports,
            v4: Lpm::new(MAX_GROUPS),
            v6: Lpm::new(MAX_GROUPS),
            targets: Vec::new(),
            index: HashMap::new(),
            routes: BTreeMap::new(),
            neighbors: HashMap::new(),
            version: 0,
        }
    }

    fn add(&mut self, route: Route) -> Result<(), RouterError> {
        let prefix = route.prefix.trunc();
        match route.target {
            Target::Via { gateway, dev } => {
                if gateway.is_ipv4() != prefix.addr().is_ipv4() {
                    return Err(RouterError::Family { gateway, prefix });
                }
                self.check_port(dev)?;
            }
            Target::Dev(dev) => self.check_port(dev)?,
            _ => {}
        }
        let hop = match self.index.get(&route.target) {
            Some(&i) => i,
            None => {
                let i = self.targets.len() as u32;
                if i > lpm::MAX_VALUE {
                    return Err(RouterError::TooManyHops);
                }
                self.targets.push(route.target);
                self.index.insert(route.target, i);
                i
            }
        };
        let (k, depth) = key(&prefix);
        match prefix {
            IpNet::V4(_) => self.v4.insert(k, depth, hop)?,
            IpNet::V6(_) => self.v6.insert(k, depth, hop)?,
        }
        self.routes.insert(prefix, route.target);
        Ok(())
    }

    fn delete(&mut self, prefix: IpNet) -> Result<(), RouterError> {
        let prefix = prefix.trunc();
        self.routes
            .remove(&prefix)
            .ok_or(RouterError::NotFound(prefix))?;
        let (k, depth) = key(&prefix);
        match prefix {
            IpNet::V4(_) => self.v4.remove(k, depth),
            IpNet::V6(_) => self.v6.remove(k, depth),
        };
        Ok(())
    }

    fn check_port(&self, dev: u16) -> Result<(), RouterError> {
        if dev >= self.ports {
            return Err(RouterError::NoSuchPort {
                dev,
                ports: self.ports,
            });
        }
        Ok(())
    }

    fn fib(&mut self) -> Fib {
        self.version += 1;
        let hops = self
            .targets
            .iter()
            .map(|&target| Hop {
                target,
                mac: match target {
                    Target::Via { gateway, .. } => self.neighbors.get(&gateway).copied(),
                    _ => None,
                },
            })
            .collect();
        let mut neighbors =
            HashMap::with_capacity_and_hasher(self.neighbors.len(), FixedState::default());
        neighbors.extend(self.neighbors.iter().map(|(k, v)| (*k, *v)));
        Fib {
            v4: self.v4.table.clone(),
            v6: self.v6.table.clone(),
            hops,
            neighbors,
            version: self.version,
        }
    }
}

/// Changes applied together and published once (see [`RouterControl::batch`]).
#[derive(Debug)]
pub struct RouteBatch<'a> {
    state: &'a mut ControlState,
}

impl RouteBatch<'_> {
    /// Adds a route, replacing one for the same prefix (`ip route replace`).
    pub fn add_route(&mut self, route: Route) -> Result<(), RouterError> {
        self.state.add(route)
    }
    /// Deletes the route for exactly this prefix.
    pub fn delete_route(&mut self, prefix: IpNet) -> Result<(), RouterError> {
        self.state.delete(prefix)
    }
    /// Adds or changes a neighbour.
    pub fn set_neighbor(&mut self, ip: IpAddr, mac: MacAddr) {
        self.state.neighbors.insert(ip, mac);
    }
    /// Forgets a neighbour (its packets become `no-neighbor` drops).
    pub fn remove_neighbor(&mut self, ip: IpAddr) -> bool {
        self.state.neighbors.remove(&ip).is_some()
    }
}

/// The control plane's handle on a router's routes and neighbours. Clones
/// share the state; every NF reading it sees a change from its next batch.
#[derive(Debug, Clone)]
pub struct RouterControl {
    state: Arc<Mutex<ControlState>>,
    shared: Shared<Fib>,
}

impl RouterControl {
    fn new(mut state: ControlState) -> Self {
        let fib = state.fib();
        RouterControl {
            state: Arc::new(Mutex::new(state)),
            shared: Shared::new(fib),
        }
    }

    /// Applies changes and publishes the result once. Changes made before
    /// one that fails stay applied (and are published).
    pub fn batch<T>(
        &self,
        f: impl FnOnce(&mut RouteBatch<'_>) -> Result<T, RouterError>,
    ) -> Result<T, RouterError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let result = f(&mut RouteBatch { state: &mut state });
        self.shared.publish(state.fib());
        result
    }

    pub fn add_route(&self, route: Route) -> Result<(), RouterError> {
        self.batch(|b| b.add_route(route))
    }

    pub fn delete_route(&self, prefix: IpNet) -> Result<(), RouterError> {
        self.batch(|b| b.delete_route(prefix))
    }

    pub fn set_neighbor(&self, ip: IpAddr, mac: MacAddr) {
        let _ = self.batch(|b| {
            b.set_neighbor(ip, mac);
            Ok(())
        });
    }

    pub fn remove_neighbor(&self, ip: IpAddr) -> bool {
        self.batch(|b| Ok(b.remove_neighbor(ip))).unwrap_or(false)
    }

    /// Every route (local and connected ones of the addresses included).
    pub fn routes(&self) -> Vec<Route> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .routes
            .iter()
            .map(|(&prefix, &target)| Route { prefix, target })
            .collect()
    }

    /// The current published version.
    pub fn current(&self) -> Arc<Fib> {
        self.shared.current()
    }
}

/// A router's configuration (see [`SPECS`] for the parameters).
#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub ports: u16,
    /// The router's MAC on each port.
    pub macs: Vec<MacAddr>,
    pub addresses: Vec<Address>,
    /// Routes with `dev` resolved (see [`resolve_routes`]).
    pub routes: Vec<Route>,
    pub neighbors: Vec<Neighbor>,
    /// ICMP errors per second (0: none) and burst.
    pub icmp_rate: u32,
    pub icmp_burst: u32,
    /// Answer ICMP echo requests to the router's addresses.
    pub echo: bool,
}

impl RouterConfig {
    /// `ports` ports with MACs 02:00:00:00:ff:<port>, no routes.
    pub fn new(ports: u16) -> Self {
        RouterConfig {
            ports,
            macs: (0..ports)
                .map(|i| MacAddr([2, 0, 0, 0, 0xff, i as u8]))
                .collect(),
            addresses: Vec::new(),
            routes: Vec::new(),
            neighbors: Vec::new(),
            icmp_rate: 1000,
            icmp_burst: 50,
            echo: true,
        }
    }
}

/// A token bucket in nanoseconds of credit (one token per `interval`).
#[derive(Debug, Clone, Copy)]
struct TokenBucket {
    interval: u64,
    cap: u64,
    credit: u64,
    last: u64,
}

impl TokenBucket {
    fn new(rate: u32, burst: u32) -> Self {
        let interval = if rate == 0 {
            0
        } else {
            1_000_000_000 / u64::from(rate)
        };
        let cap = interval.saturating_mul(u64::from(burst.max(1)));
        TokenBucket {
            interval,
            cap,
            credit: cap,
            last: 0,
        }
    }

    fn take(&mut self, now: u64) -> bool {
        if self.interval == 0 {
            return false;
        }
        self.credit = self
            .credit
            .saturating_add(now.saturating_sub(self.last))
            .min(self.cap);
        self.last = self.last.max(now);
        if self.credit >= self.interval {
            self.credit -= self.interval;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Counters {
    forwarded: u64,
    local: u64,
    non_ip: u64,
    echo_replies: u64,
    no_route: u64,
    blackholed: u64,
    unreachable: u64,
    prohibited: u64,
    ttl_exceeded: u64,
    no_neighbor: u64,
    martian: u64,
    l2_multicast: u64,
    other_host: u64,
    beyond_scope: u64,
    bad_checksum: u64,
    malformed: u64,
    icmp_sent: u64,
    icmp_rate_limited: u64,
    icmp_suppressed: u64,
    icmp_no_source: u64,
}

/// An ICMP error to send: (type, code) of the family's ICMP.
#[derive(Debug, Clone, Copy)]
struct IcmpError {
    msg_type: u8,
    code: u8,
}

const V4_UNREACH_NET: IcmpError = IcmpError {
    msg_type: 3,
    code: netfn_wire::icmpv4::unreachable::NET,
};
const V4_PROHIBITED: IcmpError = IcmpError {
    msg_type: 3,
    code: netfn_wire::icmpv4::unreachable::ADMIN_PROHIBITED,
};
const V4_TTL: IcmpError = IcmpError {
    msg_type: 11,
    code: netfn_wire::icmpv4::time_exceeded::TTL,
};
const V6_NO_ROUTE: IcmpError = IcmpError {
    msg_type: 1,
    code: netfn_wire::icmpv6::unreachable::NO_ROUTE,
};
const V6_PROHIBITED: IcmpError = IcmpError {
    msg_type: 1,
    code: netfn_wire::icmpv6::unreachable::ADMIN_PROHIBITED,
};
const V6_BEYOND_SCOPE: IcmpError = IcmpError {
    msg_type: 1,
    code: 2,
};
const V6_HOP_LIMIT: IcmpError = IcmpError {
    msg_type: 3,
    code: netfn_wire::icmpv6::time_exceeded::HOP_LIMIT,
};

/// Everything but the FIB reader (so a batch can borrow both).
#[derive(Debug)]
struct Core {
    ports: u16,
    macs: Vec<MacAddr>,
    /// The ICMP source address per port, by family.
    addr4: Vec<Option<Ipv4Addr>>,
    addr6: Vec<Option<Ipv6Addr>>,
    echo: bool,
    bucket: TokenBucket,
    counters: Counters,
}

/// The router NF (see the module docs).
pub struct Router {
    control: RouterControl,
    reader: SharedReader<Fib>,
    core: Core,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

/// IPv4 addresses that are never a packet's source (RFC 1812 §5.3.7):
/// this network (0/8), loopback, multicast, class E and broadcast.
fn martian_src4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 0 || o[0] == 127 || o[0] >= 224
}

/// IPv4 destinations never forwarded: 0/8, loopback and class E (but not
/// 255.255.255.255, which goes to `local`).
fn martian_dst4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 0 || o[0] == 127 || (o[0] >= 240 && !a.is_broadcast())
}

fn is_link_local6(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

impl Router {
    pub fn new(config: RouterConfig) -> Result<Router, RouterError> {
        let ports = config.ports.clamp(1, MAX_PORTS);
        let mut state = ControlState::new(ports);
        let mut addr4 = vec![None; usize::from(ports)];
        let mut addr6 = vec![None; usize::from(ports)];
        let explicit: std::collections::HashSet<IpNet> =
            config.routes.iter().map(|r| r.prefix.trunc()).collect();
        for a in &config.addresses {
            state.check_port(a.dev)?;
            match a.ip {
                IpAddr::V4(v) => {
                    addr4[usize::from(a.dev)].get_or_insert(v);
                }
                IpAddr::V6(v) => {
                    addr6[usize::from(a.dev)].get_or_insert(v);
                }
            }
            if let Some(len) = a.len
                && let Ok(net) = IpNet::new(a.ip, len)
                && !explicit.contains(&net.trunc())
            {
                state.add(Route {
                    prefix: net.trunc(),
                    target: Target::Dev(a.dev),
                })?;
            }
        }
        for r in &config.routes {
            state.add(*r)?;
        }
        // Local routes last: the router's own addresses win over any
        // route, as Linux's local table is looked up first.
        for a in &config.addresses {
            state.add(Route {
                prefix: IpNet::from(a.ip),
                target: Target::Local,
            })?;
        }
        for n in &config.neighbors {
            state.neighbors.insert(n.ip, n.mac);
        }
        // Without an address on a port, ICMP comes from any address.
        let any4 = addr4.iter().flatten().next().copied();
        let any6 = addr6.iter().flatten().next().copied();
        for a in &mut addr4 {
            *a = a.or(any4);
        }
        for a in &mut addr6 {
            *a = a.or(any6);
        }
        let mut macs = config.macs;
        if macs.len() == 1 {
            macs = vec![macs[0]; usize::from(ports)];
        }
        macs.resize(usize::from(ports), MacAddr([2, 0, 0, 0, 0xff, 0]));
        let control = RouterControl::new(state);
        Ok(Router {
            reader: control.shared.reader(),
            control,
            core: Core {
                ports,
                macs,
                addr4,
                addr6,
                echo: config.echo,
                bucket: TokenBucket::new(config.icmp_rate, config.icmp_burst),
                counters: Counters::default(),
            },
        })
    }

    /// Builds from validated graph parameters (see [`SPECS`]).
    pub fn from_params(p: &Params) -> Result<Router, ConfigError> {
        use netfn_core::config::Value;
        let ports = p.int("ports")? as u16;
        let mut macs = Vec::new();
        for v in p.list("macs")? {
            match v {
                Value::Mac(m) => macs.push(MacAddr(*m)),
                other => {
                    return Err(ConfigError::param(
                        "macs",
                        format!("expected a MAC address, found `{other}`"),
                    ));
                }
            }
        }
        if macs.len() != 1 && macs.len() != usize::from(ports) {
            return Err(ConfigError::param(
                "macs",
                format!(
                    "{} MACs for {ports} ports; give one per port (in port order) or one for all",
                    macs.len()
                ),
            ));
        }
        let addresses = items(p, "addresses", None, |l| routes::parse_address(l, ports))?;
        let addresses: Vec<Address> = addresses.into_iter().map(|(_, a)| a).collect();
        let lines = items(p, "routes", Some("routes_file"), |l| {
            routes::parse_route(l, ports)
        })?;
        let mut seen: HashMap<IpNet, &str> = HashMap::new();
        for (origin, r) in &lines {
            if let Some(first) = seen.insert(r.prefix, origin) {
                let (param, at) = origin_of(origin, r.col);
                return Err(ConfigError::param(
                    param,
                    format!(
                        "{at}: a second route for {}; the first is at {first}",
                        r.prefix
                    ),
                ));
            }
        }
        let routes = resolve_routes(&lines, &addresses).map_err(|(i, msg)| {
            let (param, at) = origin_of(&lines[i].0, lines[i].1.via_col);
            ConfigError::param(param, format!("{at}: {msg}"))
        })?;
        let neighbors = items(
            p,
            "neighbors",
            Some("neighbors_file"),
            routes::parse_neighbor,
        )?;
        let mut seen: HashMap<IpAddr, &str> = HashMap::new();
        for (origin, n) in &neighbors {
            if let Some(first) = seen.insert(n.ip, origin) {
                let (param, at) = origin_of(origin, 1);
                return Err(ConfigError::param(
                    param,
                    format!("{at}: {} is listed twice; the first is at {first}", n.ip),
                ));
            }
        }
        let config = RouterConfig {
            ports,
            macs,
            addresses,
            routes,
            neighbors: neighbors.into_iter().map(|(_, n)| n).collect(),
            icmp_rate: p.int("icmp_rate")? as u32,
            icmp_burst: p.int("icmp_burst")? as u32,
            echo: p.bool("echo")?,
        };
        Router::new(config).map_err(|e| ConfigError::param("routes", e.to_string()))
    }

    /// The control plane's handle on this router's routes and neighbours.
    pub fn control(&self) -> RouterControl {
        self.control.clone()
    }
}

/// Where an item came from, as `param` and a location to print:
/// `file:line` → (`<x>_file`, `file:line:col`); `item i` of a list →
/// (`<x>`, `item i, column c`). Origins are built by [`items`].
fn origin_of(origin: &str, col: usize) -> (&str, String) {
    let (param, at) = origin.split_once('|').unwrap_or(("routes", origin));
    if at.starts_with("item ") {
        (param, format!("{at}, column {col}"))
    } else {
        (param, format!("{at}:{col}"))
    }
}

/// The items of a list parameter and of a file parameter, parsed line by
/// line, each with its origin (`param|file:line` or `param|item i`).
fn items<T>(
    p: &Params,
    list: &'static str,
    file: Option<&'static str>,
    mut parse: impl FnMut(&str) -> Result<Option<T>, routes::LineError>,
) -> Result<Vec<(String, T)>, ConfigError> {
    let mut out = Vec::new();
    if let Some(file) = file {
        let path = p.str(file)?;
        if !path.is_empty() {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::param(file, format!("cannot read `{path}`: {e}")))?;
            let parsed = routes::parse_lines(path, &text, &mut parse)
                .map_err(|e| ConfigError::param(file, e))?;
            out.extend(
                parsed
                    .into_iter()
                    .map(|(line, v)| (format!("{file}|{path}:{line}"), v)),
            );
        }
    }
    for (i, v) in p.list(list)?.iter().enumerate() {
        let netfn_core::config::Value::Str(text) = v else {
            return Err(ConfigError::param(
                list,
                format!("item {}: expected a string, found `{v}`", i + 1),
            ));
        };
        match parse(text) {
            Ok(Some(v)) => out.push((format!("{list}|item {}", i + 1), v)),
            Ok(None) => {
                return Err(ConfigError::param(list, format!("item {} is empty", i + 1)));
            }
            Err(e) => {
                return Err(ConfigError::param(
                    list,
                    format!("item {} \"{text}\", column {}: {}", i + 1, e.col, e.message),
                ));
            }
        }
    }
    Ok(out)
}

/// Gives every `via` route without `dev` the port of the connected
/// network its gateway is on (the longest match among connected routes and
/// addresses with a length, as `ip route` does). Errors give the index of
/// the route.
pub fn resolve_routes<O>(
    lines: &[(O, routes::RouteLine)],
    addresses: &[Address],
) -> Result<Vec<Route>, (usize, String)> {
    let mut connected: Vec<(IpNet, u16)> = addresses
        .iter()
        .filter_map(|a| Some((IpNet::new(a.ip, a.len?).ok()?.trunc(), a.dev)))
        .collect();
    connected.extend(
        lines
            .iter()
            .filter(|(_, l)| l.via.is_none() && l.kind == routes::Kind::Unicast)
            .filter_map(|(_, l)| Some((l.prefix, l.dev?))),
    );
    lines
        .iter()
        .enumerate()
        .map(|(i, (_, l))| {
            let target = match (l.kind, l.via, l.dev) {
                (routes::Kind::Blackhole, ..) => Target::Blackhole,
                (routes::Kind::Unreachable, ..) => Target::Unreachable,
                (routes::Kind::Prohibit, ..) => Target::Prohibit,
                (_, Some(gateway), Some(dev)) => Target::Via { gateway, dev },
                (_, Some(gateway), None) => {
                    let dev = connected
                        .iter()
                        .filter(|(net, _)| net.contains(&gateway))
                        .max_by_key(|(net, _)| net.prefix_len())
                        .map(|(_, dev)| *dev)
                        .ok_or_else(|| {
                            (
                                i,
                                format!(
                                    "gateway {gateway} is not on a connected network (a \
                                     `<prefix> dev N` route or an address with a length); \
                                     add `dev N`"
                                ),
                            )
                        })?;
                    Target::Via { gateway, dev }
                }
                (_, None, Some(dev)) => Target::Dev(dev),
                (_, None, None) => unreachable_target(i)?,
            };
            Ok(Route {
                prefix: l.prefix,
                target,
            })
        })
        .collect()
}

fn unreachable_target(i: usize) -> Result<Target, (usize, String)> {
    // The parser rejects a unicast route without `via` or `dev`.
    Err((i, "expected `via <gateway>` or `dev <port>`".to_string()))
}

impl Core {
    /// Whether `mac` is one of the router's: frames may reach an input
    /// through NFs that merge both directions (a stateful firewall before
    /// the router), so any port's MAC is the router's.
    fn is_own_mac(&self, mac: &[u8]) -> bool {
        self.macs.iter().any(|own| own.0 == mac)
    }

    fn local_out(&self) -> Verdict {
        Verdict::forward(self.ports)
    }

    fn malformed(&mut self) -> Verdict {
        self.counters.malformed += 1;
        Verdict::drop(DropReason::Malformed)
    }

    fn handle(&mut self, input: usize, frame: &mut [u8], fib: &Fib, ctx: &mut Ctx<'_>) -> Verdict {
        let Some((ethertype, l3)) = locate_l3(frame) else {
            return self.malformed();
        };
        if frame[0] & 1 == 0 && !self.is_own_mac(&frame[..6]) {
            // Linux's PACKET_OTHERHOST: a unicast frame for another station
            // (seen in promiscuous mode or on a shared segment) is neither
            // routed nor delivered locally.
            self.counters.other_host += 1;
            return Verdict::drop(DropReason::Filtered);
        }
        match ethertype {
            EtherType::Ipv4 => self.ipv4(input, frame, l3, fib, ctx),
            EtherType::Ipv6 => self.ipv6(input, frame, l3, fib, ctx),
            _ => {
                self.counters.non_ip += 1;
                self.local_out()
            }
        }
    }

    fn ipv4(
        &mut self,
        input: usize,
        frame: &mut [u8],
        l3: usize,
        fib: &Fib,
        ctx: &mut Ctx<'_>,
    ) -> Verdict {
        let Ok(ext) = Ipv4::check(&frame[l3..]) else {
            return self.malformed();
        };
        let end = l3 + ext.end;
        let ip = Ipv4Packet::new_unchecked(&frame[l3..end]);
        if !ip.verify_checksum() {
            self.counters.bad_checksum += 1;
            return Verdict::drop(DropReason::Malformed);
        }
        let (src, dst, ttl) = (ip.src_addr(), ip.dst_addr(), ip.ttl());
        if dst.is_multicast() || dst.is_broadcast() {
            self.counters.local += 1;
            return self.local_out();
        }
        if martian_src4(src) || martian_dst4(dst) {
            self.counters.martian += 1;
            return Verdict::drop(DropReason::Filtered);
        }
        let Some(hop) = fib.v4.lookup_v4(dst.into()).map(|i| fib.hops[i as usize]) else {
            self.counters.no_route += 1;
            self.icmp4(input, frame, l3, end, V4_UNREACH_NET, ctx);
            return Verdict::drop(DropReason::NoRoute);
        };
        let dev = match hop.target {
            Target::Via { dev, .. } | Target::Dev(dev) => dev,
            Target::Local => return self.local4(input, frame, l3, end),
            Target::Blackhole => {
                self.counters.blackholed += 1;
                return Verdict::drop(DropReason::NoRoute);
            }
            Target::Unreachable => {
                self.counters.unreachable += 1;
                self.icmp4(input, frame, l3, end, V4_UNREACH_NET, ctx);
                return Verdict::drop(DropReason::NoRoute);
            }
            Target::Prohibit => {
                self.counters.prohibited += 1;
                self.icmp4(input, frame, l3, end, V4_PROHIBITED, ctx);
                return Verdict::drop(DropReason::PolicyDeny);
            }
        };
        if frame[0] & 1 != 0 {
            self.counters.l2_multicast += 1;
            return Verdict::drop(DropReason::Filtered);
        }
        if ttl <= 1 {
            self.counters.ttl_exceeded += 1;
            self.icmp4(input, frame, l3, end, V4_TTL, ctx);
            return Verdict::drop(DropReason::TtlExceeded);
        }
        let mac = match hop.target {
            Target::Dev(_) => fib.neighbors.get(&IpAddr::V4(dst)).copied(),
            _ => hop.mac,
        };
        let Some(mac) = mac else {
            self.counters.no_neighbor += 1;
            return Verdict::drop(DropReason::NoNeighbor);
        };
        Ipv4Packet::new_unchecked(&mut frame[l3..end]).decrement_ttl();
        self.forward(frame, mac, dev)
    }

    fn ipv6(
        &mut self,
        input: usize,
        frame: &mut [u8],
        l3: usize,
        fib: &Fib,
        ctx: &mut Ctx<'_>,
    ) -> Verdict {
        let Ok(ext) = Ipv6::check(&frame[l3..]) else {
            return self.malformed();
        };
        let end = l3 + ext.end;
        let ip = Ipv6Packet::new_unchecked(&frame[l3..end]);
        let (src, dst, hop_limit) = (ip.src_addr(), ip.dst_addr(), ip.hop_limit());
        if dst.is_multicast() || is_link_local6(dst) {
            self.counters.local += 1;
            return self.local_out();
        }
        if src.is_multicast()
            || src.is_loopback()
            || src.is_unspecified()
            || dst.is_loopback()
            || dst.is_unspecified()
        {
            self.counters.martian += 1;
            return Verdict::drop(DropReason::Filtered);
        }
        let Some(hop) = fib.v6.lookup(dst.into()).map(|i| fib.hops[i as usize]) else {
            self.counters.no_route += 1;
            self.icmp6(input, frame, l3, end, V6_NO_ROUTE, ctx);
            return Verdict::drop(DropReason::NoRoute);
        };
        let dev = match hop.target {
            Target::Via { dev, .. } | Target::Dev(dev) => dev,
            Target::Local => return self.local6(input, frame, l3, end),
            Target::Blackhole => {
                self.counters.blackholed += 1;
                return Verdict::drop(DropReason::NoRoute);
            }
            Target::Unreachable => {
                self.counters.unreachable += 1;
                self.icmp6(input, frame, l3, end, V6_NO_ROUTE, ctx);
                return Verdict::drop(DropReason::NoRoute);
            }
            Target::Prohibit => {
                self.counters.prohibited += 1;
                self.icmp6(input, frame, l3, end, V6_PROHIBITED, ctx);
                return Verdict::drop(DropReason::PolicyDeny);
            }
        };
        if frame[0] & 1 != 0 {
            self.counters.l2_multicast += 1;
            return Verdict::drop(DropReason::Filtered);
        }
        if is_link_local6(src) {
            self.counters.beyond_scope += 1;
            self.icmp6(input, frame, l3, end, V6_BEYOND_SCOPE, ctx);
            return Verdict::drop(DropReason::Filtered);
        }
        if hop_limit <= 1 {
            self.counters.ttl_exceeded += 1;
            self.icmp6(input, frame, l3, end, V6_HOP_LIMIT, ctx);
            return Verdict::drop(DropReason::TtlExceeded);
        }
        let mac = match hop.target {
            Target::Dev(_) => fib.neighbors.get(&IpAddr::V6(dst)).copied(),
            _ => hop.mac,
        };
        let Some(mac) = mac else {
            self.counters.no_neighbor += 1;
            return Verdict::drop(DropReason::NoNeighbor);
        };
        Ipv6Packet::new_unchecked(&mut frame[l3..end]).decrement_hop_limit();
        self.forward(frame, mac, dev)
    }

    fn forward(&mut self, frame: &mut [u8], mac: MacAddr, dev: u16) -> Verdict {
        let mut eth = EthernetFrame::new_unchecked(frame);
        eth.set_dst_addr(mac);
        eth.set_src_addr(self.macs[usize::from(dev)]);
        self.counters.forwarded += 1;
        Verdict::forward(dev)
    }

    /// Turns the frame around toward the MAC it came from, out of the
    /// port it came in on.
    fn turn_around(&mut self, frame: &mut [u8], input: usize) -> Verdict {
        let mut eth = EthernetFrame::new_unchecked(frame);
        let from = eth.src_addr();
        eth.set_dst_addr(from);
        eth.set_src_addr(self.macs[input]);
        self.counters.echo_replies += 1;
        Verdict::forward(input as u16)
    }

    /// A packet for one of the router's IPv4 addresses: answer an echo
    /// request in place, hand anything else to `local`.
    fn local4(&mut self, input: usize, frame: &mut [u8], l3: usize, end: usize) -> Verdict {
        let ip = Ipv4Packet::new_unchecked(&frame[l3..end]);
        let hl = ip.header_len();
        let is_echo = self.echo
            && input < usize::from(self.ports)
            && ip.protocol() == IpProtocol::Icmp
            && !ip.is_fragment()
            && Icmpv4Packet::new_checked(&frame[l3 + hl..end])
                .is_ok_and(|i| i.msg_type() == Icmpv4Message::EchoRequest && i.code() == 0);
        if !is_echo {
            self.counters.local += 1;
            return self.local_out();
        }
        if !Icmpv4Packet::new_unchecked(&frame[l3 + hl..end]).verify_checksum() {
            return self.malformed();
        }
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[l3..end]);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        // Swapping the addresses leaves both checksums' sums unchanged.
        ip.set_src_addr(dst);
        ip.set_dst_addr(src);
        ip.update_ttl(REPLY_TTL);
        let mut icmp = Icmpv4Packet::new_unchecked(&mut frame[l3 + hl..end]);
        icmp.set_msg_type(Icmpv4Message::EchoReply);
        let c = update16(icmp.checksum(), 0x0800, 0x0000);
        icmp.set_checksum(c);
        self.turn_around(frame, input)
    }

    /// A packet for one of the router's IPv6 addresses (see [`Core::local4`]).
    fn local6(&mut self, input: usize, frame: &mut [u8], l3: usize, end: usize) -> Verdict {
        let ip = Ipv6Packet::new_unchecked(&frame[l3..end]);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let upper = match ip.upper_layer() {
            Ok((IpProtocol::Icmpv6, at)) if !ip.is_fragment() => Some(l3 + at),
            _ => None,
        };
        let echo = upper.filter(|&at| {
            self.echo
                && input < usize::from(self.ports)
                && Icmpv6Packet::new_checked(&frame[at..end])
                    .is_ok_and(|i| i.msg_type() == Icmpv6Message::EchoRequest && i.code() == 0)
        });
        let Some(at) = echo else {
            self.counters.local += 1;
            return self.local_out();
        };
        if !Icmpv6Packet::new_unchecked(&frame[at..end]).verify_checksum(src, dst) {
            return self.malformed();
        }
        let mut ip = Ipv6Packet::new_unchecked(&mut frame[l3..end]);
        ip.set_src_addr(dst);
        ip.set_dst_addr(src);
        ip.set_hop_limit(REPLY_TTL);
        let mut icmp = Icmpv6Packet::new_unchecked(&mut frame[at..end]);
        icmp.set_msg_type(Icmpv6Message::EchoReply);
        let c = update16(icmp.checksum(), 0x8000, 0x8100);
        icmp.set_checksum(c);
        self.turn_around(frame, input)
    }

    /// The Ethernet header of a reply to `frame`: to its source MAC, from
    /// the router's MAC on `input`, with the frame's VLAN tags.
    fn reply_link(&self, frame: &[u8], input: usize, l3: usize) -> Option<EthernetBuilder> {
        let eth = EthernetFrame::new_unchecked(frame);
        let mut b = PacketBuilder::ethernet(self.macs[input], eth.src_addr());
        let mut tpid = eth.ethertype();
        let mut at = netfn_wire::ethernet::HEADER_LEN;
        while at < l3 {
            let tag = VlanTag::new_unchecked(&frame[at..]);
            b = b.vlan_tag(tpid, tag.pcp(), tag.dei(), tag.vid()).ok()?;
            tpid = tag.ethertype();
            at += netfn_wire::vlan::HEADER_LEN;
        }
        Some(b)
    }

    /// Whether an ICMP error may be sent for this packet: not for a
    /// link-layer group frame, an ICMP error or a non-first fragment, not
    /// for an input without a port, and only with a token from the bucket
    /// (taken here, last, so suppressed packets cost none).
    fn may_answer(
        &mut self,
        input: usize,
        frame: &[u8],
        error_or_fragment: bool,
        now: u64,
    ) -> bool {
        if frame[0] & 1 != 0 || error_or_fragment {
            self.counters.icmp_suppressed += 1;
            return false;
        }
        if input >= usize::from(self.ports) {
            self.counters.icmp_no_source += 1;
            return false;
        }
        if !self.bucket.take(now) {
            self.counters.icmp_rate_limited += 1;
            return false;
        }
        true
    }

    fn icmp4(
        &mut self,
        input: usize,
        frame: &[u8],
        l3: usize,
        end: usize,
        error: IcmpError,
        ctx: &mut Ctx<'_>,
    ) {
        let ip = Ipv4Packet::new_unchecked(&frame[l3..end]);
        // Never about an ICMP error (nor one whose type cannot be read).
        let icmp_error = ip.protocol() == IpProtocol::Icmp
            && ip
                .payload()
                .first()
                .is_none_or(|&t| Icmpv4Message::from(t).is_error());
        let skip = icmp_error || ip.frag_offset() != 0;
        if !self.may_answer(input, frame, skip, ctx.now()) {
            return;
        }
        let Some(from) = self.addr4[input] else {
            self.counters.icmp_no_source += 1;
            return;
        };
        let Some(link) = self.reply_link(frame, input, l3) else {
            return;
        };
        let ip4 = link.ipv4(from, ip.src_addr(), REPLY_TTL).dscp(ICMP_DSCP);
        let template = if error.msg_type == 11 {
            ip4.icmpv4_time_exceeded(error.code)
        } else {
            ip4.icmpv4_dst_unreachable(error.code, 0)
        };
        let quote = &frame[l3..end];
        let quote = &quote[..quote.len().min(ICMPV4_MAX - 28)];
        emit_error(ctx, input, &template, quote, &mut self.counters);
    }

    fn icmp6(
        &mut self,
        input: usize,
        frame: &[u8],
        l3: usize,
        end: usize,
        error: IcmpError,
        ctx: &mut Ctx<'_>,
    ) {
        let ip = Ipv6Packet::new_unchecked(&frame[l3..end]);
        let fragment = ip.fragment().is_some_and(|f| f.offset != 0);
        let icmp_error = match ip.upper_layer() {
            Ok((IpProtocol::Icmpv6, at)) => frame
                .get(l3 + at)
                .is_none_or(|&t| fragment || Icmpv6Message::from(t).is_error()),
            Ok(_) => false,
            Err(_) => true,
        };
        if !self.may_answer(input, frame, icmp_error || fragment, ctx.now()) {
            return;
        }
        let Some(from) = self.addr6[input] else {
            self.counters.icmp_no_source += 1;
            return;
        };
        let Some(link) = self.reply_link(frame, input, l3) else {
            return;
        };
        let ip6 = link.ipv6(from, ip.src_addr(), REPLY_TTL);
        let template = if error.msg_type == 3 {
            ip6.icmpv6_time_exceeded(error.code)
        } else {
            ip6.icmpv6_dst_unreachable(error.code)
        };
        let quote = &frame[l3..end];
        let quote = &quote[..quote.len().min(ICMPV6_MAX - 48)];
        emit_error(ctx, input, &template, quote, &mut self.counters);
    }
}

/// Writes `template` with `quote` as payload into a new frame and emits it
/// on `output`.
fn emit_error(
    ctx: &mut Ctx<'_>,
    output: usize,
    template: &netfn_wire::PacketTemplate,
    quote: &[u8],
    counters: &mut Counters,
) {
    let Some(mut pkt) = ctx.alloc() else {
        ctx.count_lost(DropReason::PoolExhausted);
        return;
    };
    let at = template.header_len();
    let Ok(buf) = pkt.extend_back(at + quote.len()) else {
        ctx.count_lost(DropReason::TooBig);
        return;
    };
    buf[at..].copy_from_slice(quote);
    if template.write_in_place(buf, quote.len()).is_err() {
        ctx.count_lost(DropReason::Other);
        return;
    }
    counters.icmp_sent += 1;
    ctx.emit(output as u16, pkt);
}

impl Nf for Router {
    fn process(&mut self, input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        let fib: &Fib = self.reader.load();
        let core = &mut self.core;
        let (packets, verdicts) = batch.split_mut();
        for (pkt, verdict) in packets.iter_mut().zip(verdicts.iter_mut()) {
            *verdict = core.handle(input, pkt.data_mut(), fib, ctx);
        }
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let c = &self.core.counters;
        let fib = self.control.current();
        report("forwarded", c.forwarded);
        report("local", c.local);
        report("non_ip", c.non_ip);
        report("echo_replies", c.echo_replies);
        report("no_route", c.no_route);
        report("blackholed", c.blackholed);
        report("unreachable", c.unreachable);
        report("prohibited", c.prohibited);
        report("ttl_exceeded", c.ttl_exceeded);
        report("no_neighbor", c.no_neighbor);
        report("martian", c.martian);
        report("l2_multicast", c.l2_multicast);
        report("other_host", c.other_host);
        report("beyond_scope", c.beyond_scope);
        report("bad_checksum", c.bad_checksum);
        report("malformed", c.malformed);
        report("icmp_sent", c.icmp_sent);
        report("icmp_rate_limited", c.icmp_rate_limited);
        report("icmp_suppressed", c.icmp_suppressed);
        report("icmp_no_source", c.icmp_no_source);
        {
            let state = self
                .control
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            report("routes_v4", state.v4.rules.len() as u64);
            report("routes_v6", state.v6.rules.len() as u64);
            report("neighbors", state.neighbors.len() as u64);
        }
        report("tbl8_groups_v4", fib.v4.groups_in_use() as u64);
        report("groups_v6", fib.v6.groups_in_use() as u64);
        report("fib_version", fib.version);
    }

    /// On a reload: keep the counters, the ICMP bucket's credit and the
    /// old control handle (so handles held elsewhere stay valid), which
    /// now publishes the new config's routes and neighbours.
    fn adopt(&mut self, old: Box<dyn Nf>) {
        let Some(old) = netfn_core::nf::downcast::<Router>(old) else {
            return;
        };
        let old = *old;
        {
            let mut new = self
                .control
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut kept = old
                .control
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let version = kept.version;
            std::mem::swap(&mut *kept, &mut *new);
            kept.version = version;
            old.control.shared.publish(kept.fib());
        }
        self.control = old.control;
        self.reader = self.control.shared.reader();
        self.core.counters = old.core.counters;
        self.core.bucket.credit = old.core.bucket.credit.min(self.core.bucket.cap);
        self.core.bucket.last = old.core.bucket.last;
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(Router::from_params(p)?))
}

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "router",
    doc: "IPv4/IPv6 router: LPM (DIR-24-8), TTL, next-hop MAC rewrite, ICMP errors; output `ports` is local",
    params: &[
        ParamSpec::optional(
            "ports",
            ParamType::Int {
                min: 1,
                max: MAX_PORTS as i64,
            },
            "2",
            "number of ports: input i / output i are port i (`dev i`); output `ports` is local",
        ),
        ParamSpec::required(
            "macs",
            ParamType::List(&ParamType::Mac),
            "the router's MAC on each port, in port order (one MAC: the same on all)",
        ),
        ParamSpec::optional(
            "addresses",
            ParamType::List(&ParamType::Str),
            "[]",
            "router addresses, \"<ip>[/<len>] dev <port>\": answered to ping, ICMP source; a length adds the connected route",
        ),
        ParamSpec::optional(
            "routes",
            ParamType::List(&ParamType::Str),
            "[]",
            "inline routes, e.g. \"10.0.0.0/8 via 192.0.2.1 dev 1\", \"blackhole 10.9.0.0/16\"",
        ),
        ParamSpec::optional(
            "routes_file",
            ParamType::Path,
            "\"\"",
            "routes file, one route a line in the syntax of `routes` (# comments)",
        ),
        ParamSpec::optional(
            "neighbors",
            ParamType::List(&ParamType::Str),
            "[]",
            "neighbour table, \"<ip> [lladdr] <mac>\" (no ARP/ND: unknown next hops are dropped)",
        ),
        ParamSpec::optional(
            "neighbors_file",
            ParamType::Path,
            "\"\"",
            "neighbour file, one \"<ip> [lladdr] <mac>\" a line",
        ),
        ParamSpec::optional(
            "icmp_rate",
            ParamType::Int {
                min: 0,
                max: 1_000_000,
            },
            "1000",
            "ICMP errors per second for the whole router (0: never send any)",
        ),
        ParamSpec::optional(
            "icmp_burst",
            ParamType::Int {
                min: 1,
                max: 1_000_000,
            },
            "50",
            "ICMP errors that may be sent at once (token bucket depth)",
        ),
        ParamSpec::optional(
            "echo",
            ParamType::Bool,
            "true",
            "answer ICMP/ICMPv6 echo requests to the router's addresses (else: local output)",
        ),
    ],
    inputs: Arity::Between(1, MAX_PORTS),
    outputs: Arity::FromParam {
        param: "ports",
        extra: 1,
    },
    build: Build::Nf(build),
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_refills_at_rate() {
        let mut b = TokenBucket::new(1000, 3);
        assert!(b.take(0) && b.take(0) && b.take(0));
        assert!(!b.take(0));
        assert!(!b.take(999_999));
        assert!(b.take(1_000_000));
        assert!(!b.take(1_000_001));
        // Long idle: back to the burst, not more.
        let n = (0..10).filter(|_| b.take(10_000_000_000)).count();
        assert_eq!(n, 3);
        assert!(!TokenBucket::new(0, 5).take(1 << 40));
    }

    #[test]
    fn control_adds_replaces_and_deletes() {
        let mut cfg = RouterConfig::new(2);
        cfg.routes.push(Route {
            prefix: "10.0.0.0/8".parse().unwrap(),
            target: Target::Dev(0),
        });
        let r = Router::new(cfg).unwrap();
        let c = r.control();
        let a: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(c.current().lookup(a), Some(Target::Dev(0)));
        c.batch(|b| {
            b.add_route(Route {
                prefix: "10.1.0.0/16".parse().unwrap(),
                target: Target::Blackhole,
            })?;
            b.add_route(Route {
                prefix: "10.1.2.0/28".parse().unwrap(),
                target: Target::Dev(1),
            })
        })
        .unwrap();
        assert_eq!(c.current().lookup(a), Some(Target::Dev(1)));
        c.delete_route("10.1.2.0/28".parse().unwrap()).unwrap();
        assert_eq!(c.current().lookup(a), Some(Target::Blackhole));
        assert_eq!(
            c.delete_route("10.1.2.0/28".parse().unwrap()),
            Err(RouterError::NotFound("10.1.2.0/28".parse().unwrap()))
        );
        assert!(matches!(
            c.add_route(Route {
                prefix: "10.0.0.0/8".parse().unwrap(),
                target: Target::Dev(2)
            }),
            Err(RouterError::NoSuchPort { dev: 2, ports: 2 })
        ));
        assert_eq!(c.routes().len(), 2);
    }

    #[test]
    fn martians() {
        for a in [
            "0.1.2.3",
            "127.0.0.1",
            "224.0.0.5",
            "255.255.255.255",
            "240.0.0.1",
        ] {
            assert!(martian_src4(a.parse().unwrap()), "{a}");
        }
        assert!(!martian_src4("192.0.2.1".parse().unwrap()));
        assert!(!martian_dst4("255.255.255.255".parse().unwrap()));
        assert!(martian_dst4("240.0.0.1".parse().unwrap()));
        assert!(is_link_local6("fe80::1".parse().unwrap()));
        assert!(!is_link_local6("fec0::1".parse().unwrap()));
    }
}
