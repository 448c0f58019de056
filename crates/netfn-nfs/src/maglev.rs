//! `maglev`: the Maglev load balancer (Eisenbud et al., "Maglev: A Fast and
//! Reliable Software Network Load Balancer", NSDI 2016).
//!
//! Packets to a virtual IP (`vip` prefixes) go to one backend of a pool;
//! everything else passes (or is dropped, `other = drop`) with a counted
//! reason. The backend of a new flow comes from the Maglev lookup table
//! ([`LookupTable`], the paper's §3.4 "Pseudocode 1"): `table[hash(5-tuple)
//! mod M]`. A connection table (5-tuple → backend, idle timeout) keeps
//! established flows on their backend when the pool changes, as long as that
//! backend is still in the pool. Fragments are balanced on the 3-tuple
//! (addresses and protocol, as in the paper's §4.3) so every fragment of a
//! datagram reaches the same backend.
//!
//! Forwarding (`mode`): `dsr` (direct server return) rewrites the
//! destination MAC to the backend's and leaves the IP packet alone (the
//! backends hold the VIP on a loopback interface and answer clients
//! directly); `dnat` rewrites the destination address to the backend's, with
//! incremental IPv4/TCP/UDP/ICMPv6 checksum updates (RFC 1624), and the
//! destination MAC too when the backend has one. `dnat` does not translate
//! the replies back (the backends' return path must do that, e.g. the `nat`
//! NF or a router).
//!
//! The pool is a [`Shared`] [`BackendSet`] published by a [`MaglevControl`]
//! (the control plane's handle: add, remove, reweight backends at run time);
//! the NF reads it once per batch, so a batch never sees two versions and the
//! data path never locks. Building a table of 65,537 entries takes about a
//! millisecond and happens on the control side.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::frame::{BadHeader, SliceWriter, locate_l3, patch_l4};
use ipnet::IpNet;
use netfn_core::config::{Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params};
use netfn_core::flowtable::FlowTable;
use netfn_core::{Batch, Ctx, DropReason, FlowKey, Nf, Shared, SharedReader, Verdict};
use netfn_wire::{EtherType, EthernetFrame, Header, Ipv4, Ipv4Packet, Ipv6, Ipv6Packet, MacAddr};

/// The paper's default table size (a prime; about 100 × the backends it
/// was designed for keeps the imbalance under 1 %).
pub const DEFAULT_TABLE_SIZE: usize = 65_537;
/// Most backends in one pool (table entries are `u16` indexes).
pub const MAX_BACKENDS: usize = u16::MAX as usize;
/// Largest accepted table size.
pub const MAX_TABLE_SIZE: usize = 16_777_259;
/// Largest backend weight.
pub const MAX_WEIGHT: u32 = 1000;
const EMPTY: u16 = u16::MAX;

/// One backend: its address (also its name for the permutation hashes), its
/// MAC (needed for `dsr`) and its weight (entries are shared in proportion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backend {
    pub addr: IpAddr,
    pub mac: Option<MacAddr>,
    pub weight: u32,
}

impl Backend {
    pub fn new(addr: IpAddr, mac: Option<MacAddr>) -> Self {
        Backend {
            addr,
            mac,
            weight: 1,
        }
    }

    /// Parses `"<ip> [<mac>] [weight=<1..=1000>]"`, e.g.
    /// `"10.2.0.1 02:00:00:00:02:01 weight=2"`.
    pub fn parse(text: &str) -> Result<Backend, String> {
        let mut words = text.split_whitespace();
        let addr = words.next().ok_or("empty backend")?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IP address"))?;
        let mut backend = Backend::new(addr, None);
        for word in words {
            if let Some(w) = word.strip_prefix("weight=") {
                backend.weight = w
                    .parse()
                    .ok()
                    .filter(|w| (1..=MAX_WEIGHT).contains(w))
                    .ok_or_else(|| format!("weight `{w}` is not an integer 1..={MAX_WEIGHT}"))?;
            } else if backend.mac.is_none() {
                backend.mac = Some(
                    word.parse()
                        .map_err(|_| format!("`{word}` is neither a MAC address nor weight=N"))?,
                );
            } else {
                return Err(format!("unexpected `{word}`"));
            }
        }
        Ok(backend)
    }
}

/// A Maglev lookup table: `M` entries (M prime), each the index of a
/// backend, filled by the paper's Pseudocode 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupTable {
    entries: Vec<u16>,
}

impl LookupTable {
    /// Builds the table for `backends` (in this order; an index in the
    /// table is an index into this slice). `size` must be prime and at
    /// least the number of backends; with no backends the table is empty.
    ///
    /// Backend `i` with name `n` (its address as text) has `offset =
    /// h1(n) mod M`, `skip = h2(n) mod (M-1) + 1` and the preference list
    /// `permutation[i][j] = (offset + j·skip) mod M`. Backends take turns,
    /// each claiming its next preferred free entry, until the table is
    /// full. With weights, backend `i` takes `weight[i]` claims per turn;
    /// with equal weights that is exactly Pseudocode 1 and every backend
    /// gets ⌊M/N⌋ or ⌈M/N⌉ entries.
    pub fn build(backends: &[Backend], size: usize) -> LookupTable {
        assert!(is_prime(size as u64), "table size must be prime");
        assert!(
            backends.len() <= size.min(MAX_BACKENDS),
            "too many backends"
        );
        if backends.is_empty() {
            return LookupTable {
                entries: Vec::new(),
            };
        }
        let m = size as u64;
        // (current preference, skip): permutation[i][next[i]] kept as a
        // running position instead of an N×M matrix.
        let mut prefs: Vec<(u64, u64)> = backends
            .iter()
            .map(|b| {
                let (offset, skip) = permutation_seed(&b.addr, m);
                (offset, skip)
            })
            .collect();
        let mut entries = vec![EMPTY; size];
        let mut filled = 0;
        loop {
            for (i, b) in backends.iter().enumerate() {
                for _ in 0..b.weight.max(1) {
                    let (pos, skip) = &mut prefs[i];
                    // The permutation visits every entry once (M prime, skip
                    // in 1..M), so a free one is found while any is left.
                    while entries[*pos as usize] != EMPTY {
                        *pos = (*pos + *skip) % m;
                    }
                    entries[*pos as usize] = i as u16;
                    *pos = (*pos + *skip) % m;
                    filled += 1;
                    if filled == size {
                        return LookupTable { entries };
                    }
                }
            }
        }
    }

    /// The backend index for a flow hash; `None` for an empty table.
    #[inline]
    pub fn lookup(&self, hash: u64) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        Some(usize::from(
            self.entries[(hash % self.entries.len() as u64) as usize],
        ))
    }

    /// Every entry (backend indexes).
    pub fn entries(&self) -> &[u16] {
        &self.entries
    }
}

/// `(offset, skip)` of a backend's permutation for table size `m`.
pub fn permutation_seed(addr: &IpAddr, m: u64) -> (u64, u64) {
    let mut name = [0u8; 48];
    let len = {
        let mut w = SliceWriter::new(&mut name);
        let _ = std::fmt::Write::write_fmt(&mut w, format_args!("{addr}"));
        w.len
    };
    let name = &name[..len];
    let offset = name_hash(name, 0x6d61_676c_6576_3031) % m;
    let skip = name_hash(name, 0x6d61_676c_6576_3032) % (m - 1) + 1;
    (offset, skip)
}

/// FNV-1a over the name, finished with MurmurHash3's 64-bit mixer: two
/// seeds give the paper's two independent hashes h1 and h2, stable across
/// builds, cores and processes.
fn name_hash(name: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in name {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Deterministic primality test (trial division; sizes are ≤ 2^24).
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

/// One published version of the pool: the backends, their stable ids, and
/// the lookup table over them.
#[derive(Debug)]
pub struct BackendSet {
    version: u64,
    backends: Vec<Backend>,
    /// `ids[i]` is the stable id of `backends[i]` (an index into `names`).
    ids: Vec<u32>,
    table: LookupTable,
    /// Every address ever in the pool, by id (for per-backend counters).
    names: Vec<IpAddr>,
}

impl BackendSet {
    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }
    pub fn table(&self) -> &LookupTable {
        &self.table
    }
    /// The backend index for a flow (table only, no connection state).
    pub fn lookup(&self, key: &FlowKey) -> Option<usize> {
        self.table.lookup(u64::from(key.hash32()))
    }
    fn position(&self, id: u32) -> Option<usize> {
        self.ids.iter().position(|&i| i == id)
    }
}

/// Why the pool cannot be changed as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaglevError {
    #[error("backend {0} is already in the pool")]
    Duplicate(IpAddr),
    #[error("backend {0} is not in the pool")]
    NotFound(IpAddr),
    #[error("backend {0} has no MAC address (mode dsr rewrites the destination MAC)")]
    NoMac(IpAddr),
    #[error("backend {0} is not of the VIPs' address family (mode dnat rewrites the address)")]
    Family(IpAddr),
    #[error("{count} backends do not fit a table of {size} entries (at most {max})")]
    TooMany {
        count: usize,
        size: usize,
        max: usize,
    },
    #[error("table size {0} is not a prime between 3 and {MAX_TABLE_SIZE}")]
    TableSize(usize),
    #[error("weight {0} is not 1..={MAX_WEIGHT}")]
    Weight(u32),
}

#[derive(Debug)]
struct ControlState {
    table_size: usize,
    need_mac: bool,
    /// In `dnat` mode, the family every backend must have (v4 = true).
    family: Option<bool>,
    backends: Vec<Backend>,
    names: Vec<IpAddr>,
    version: u64,
}

impl ControlState {
    fn check(&self, b: &Backend) -> Result<(), MaglevError> {
        if self.need_mac && b.mac.is_none() {
            return Err(MaglevError::NoMac(b.addr));
        }
        if self.family.is_some_and(|v4| v4 != b.addr.is_ipv4()) {
            return Err(MaglevError::Family(b.addr));
        }
        if !(1..=MAX_WEIGHT).contains(&b.weight) {
            return Err(MaglevError::Weight(b.weight));
        }
        Ok(())
    }

    fn id(&mut self, addr: IpAddr) -> u32 {
        match self.names.iter().position(|a| *a == addr) {
            Some(i) => i as u32,
            None => {
                self.names.push(addr);
                (self.names.len() - 1) as u32
            }
        }
    }

    fn build(&mut self) -> BackendSet {
        self.version += 1;
        let backends = self.backends.clone();
        let ids = backends.iter().map(|b| self.id(b.addr)).collect();
        BackendSet {
            version: self.version,
            table: LookupTable::build(&backends, self.table_size),
            backends,
            ids,
            names: self.names.clone(),
        }
    }
}

/// The control plane's handle on a Maglev pool: changes are validated,
/// the lookup table is rebuilt here and the new version published; every
/// NF reading the pool sees it from its next batch on. Clones share the
/// pool.
#[derive(Debug, Clone)]
pub struct MaglevControl {
    state: Arc<Mutex<ControlState>>,
    shared: Shared<BackendSet>,
}

impl MaglevControl {
    fn new(
        table_size: usize,
        need_mac: bool,
        family: Option<bool>,
        backends: Vec<Backend>,
    ) -> Result<Self, MaglevError> {
        if !(3..=MAX_TABLE_SIZE).contains(&table_size) || !is_prime(table_size as u64) {
            return Err(MaglevError::TableSize(table_size));
        }
        let mut state = ControlState {
            table_size,
            need_mac,
            family,
            backends: Vec::new(),
            names: Vec::new(),
            version: 0,
        };
        let initial = state.build();
        let control = MaglevControl {
            state: Arc::new(Mutex::new(state)),
            shared: Shared::new(initial),
        };
        control.set_backends(backends)?;
        Ok(control)
    }

    fn change(
        &self,
        f: impl FnOnce(&mut ControlState) -> Result<(), MaglevError>,
    ) -> Result<(), MaglevError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let saved = state.backends.clone();
        if let Err(e) = f(&mut state) {
            state.backends = saved;
            return Err(e);
        }
        let max = state.table_size.min(MAX_BACKENDS);
        if state.backends.len() > max {
            let count = state.backends.len();
            let size = state.table_size;
            state.backends = saved;
            return Err(MaglevError::TooMany { count, size, max });
        }
        self.shared.publish(state.build());
        Ok(())
    }

    /// Adds a backend.
    pub fn add_backend(&self, backend: Backend) -> Result<(), MaglevError> {
        self.change(|s| {
            s.check(&backend)?;
            if s.backends.iter().any(|b| b.addr == backend.addr) {
                return Err(MaglevError::Duplicate(backend.addr));
            }
            s.backends.push(backend);
            Ok(())
        })
    }

    /// Removes a backend; its flows move to the others.
    pub fn remove_backend(&self, addr: IpAddr) -> Result<(), MaglevError> {
        self.change(|s| {
            let i = s
                .backends
                .iter()
                .position(|b| b.addr == addr)
                .ok_or(MaglevError::NotFound(addr))?;
            s.backends.remove(i);
            Ok(())
        })
    }

    /// Changes a backend's weight.
    pub fn set_weight(&self, addr: IpAddr, weight: u32) -> Result<(), MaglevError> {
        self.change(|s| {
            let b = s
                .backends
                .iter_mut()
                .find(|b| b.addr == addr)
                .ok_or(MaglevError::NotFound(addr))?;
            b.weight = weight;
            let b = *b;
            s.check(&b)
        })
    }

    /// Replaces the whole pool.
    pub fn set_backends(&self, backends: Vec<Backend>) -> Result<(), MaglevError> {
        self.change(|s| {
            for (i, b) in backends.iter().enumerate() {
                s.check(b)?;
                if backends[..i].iter().any(|o| o.addr == b.addr) {
                    return Err(MaglevError::Duplicate(b.addr));
                }
            }
            s.backends = backends;
            Ok(())
        })
    }

    /// The current pool.
    pub fn current(&self) -> Arc<BackendSet> {
        self.shared.current()
    }

    fn reader(&self) -> SharedReader<BackendSet> {
        self.shared.reader()
    }
}

/// How packets reach the chosen backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rewrite the destination MAC (direct server return).
    Dsr,
    /// Rewrite the destination address (and MAC, if the backend has one).
    Dnat,
}

/// The configuration of a [`Maglev`] NF.
#[derive(Debug, Clone)]
pub struct MaglevConfig {
    pub vips: Vec<IpNet>,
    pub backends: Vec<Backend>,
    pub mode: Mode,
    pub table_size: usize,
    /// Connection table capacity.
    pub connections: usize,
    /// Idle timeout of a connection entry.
    pub conn_timeout: Duration,
    /// Drop (rather than pass) packets that are not for a VIP.
    pub drop_other: bool,
    /// Source MAC to write on balanced packets (`None`: keep).
    pub src_mac: Option<MacAddr>,
}

impl Default for MaglevConfig {
    fn default() -> Self {
        MaglevConfig {
            vips: Vec::new(),
            backends: Vec::new(),
            mode: Mode::Dsr,
            table_size: DEFAULT_TABLE_SIZE,
            connections: 65_536,
            conn_timeout: Duration::from_secs(120),
            drop_other: false,
            src_mac: None,
        }
    }
}

/// A connection entry: the backend by stable id, and where it was in the
/// pool version last seen (so the common case needs no search).
#[derive(Debug, Clone, Copy)]
struct Conn {
    id: u32,
    index: u16,
    version: u64,
}

#[derive(Debug, Default, Clone)]
struct Counters {
    balanced: u64,
    conn_hits: u64,
    conn_new: u64,
    conn_rescheduled: u64,
    conn_full: u64,
    conn_expired: u64,
    fragments: u64,
    no_backend: u64,
    non_vip: u64,
    non_ip: u64,
    malformed: u64,
}

/// The Maglev NF (see the module docs).
pub struct Maglev {
    control: MaglevControl,
    reader: SharedReader<BackendSet>,
    lb: Balancer,
}

impl std::fmt::Debug for Maglev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maglev")
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

/// Everything but the pool reader (so a batch can borrow both).
#[derive(Debug)]
struct Balancer {
    vips: Vec<IpNet>,
    mode: Mode,
    drop_other: bool,
    src_mac: Option<MacAddr>,
    conn_timeout: Duration,
    conns: FlowTable<FlowKey, Conn>,
    /// (packets, bytes) per backend id; grows only when a backend is added.
    per_backend: Vec<(u64, u64)>,
    counters: Counters,
}

impl Maglev {
    pub fn new(config: MaglevConfig) -> Result<Maglev, MaglevError> {
        let family = match config.mode {
            Mode::Dnat => config.vips.first().map(|v| v.addr().is_ipv4()),
            Mode::Dsr => None,
        };
        let control = MaglevControl::new(
            config.table_size,
            config.mode == Mode::Dsr,
            family,
            config.backends,
        )?;
        Ok(Maglev {
            reader: control.reader(),
            control,
            lb: Balancer {
                vips: config.vips,
                mode: config.mode,
                drop_other: config.drop_other,
                src_mac: config.src_mac,
                conn_timeout: config.conn_timeout,
                conns: FlowTable::new(config.connections.max(1), &[config.conn_timeout]),
                per_backend: Vec::new(),
                counters: Counters::default(),
            },
        })
    }

    /// Builds from validated graph parameters (see [`SPECS`]).
    pub fn from_params(p: &Params) -> Result<Maglev, ConfigError> {
        let mut vips = Vec::new();
        for v in p.list("vip")? {
            match v {
                netfn_core::config::Value::Prefix(n) => vips.push(n.trunc()),
                netfn_core::config::Value::Ip(a) => vips.push(IpNet::from(*a)),
                other => {
                    return Err(ConfigError::param(
                        "vip",
                        format!("expected an IP prefix, found `{other}`"),
                    ));
                }
            }
        }
        if vips.is_empty() {
            return Err(ConfigError::param(
                "vip",
                "needs at least one prefix (e.g. [10.1.0.0/16])",
            ));
        }
        let mode = match p.str("mode")? {
            "dnat" => Mode::Dnat,
            _ => Mode::Dsr,
        };
        if mode == Mode::Dnat
            && vips
                .iter()
                .any(|v| v.addr().is_ipv4() != vips[0].addr().is_ipv4())
        {
            return Err(ConfigError::param(
                "vip",
                "mode dnat needs all VIPs of one address family (one pool, rewritten addresses)",
            ));
        }
        let mut backends = Vec::new();
        for (i, v) in p.list("backends")?.iter().enumerate() {
            let netfn_core::config::Value::Str(text) = v else {
                return Err(ConfigError::param(
                    "backends",
                    format!("item {}: expected a string, found `{v}`", i + 1),
                ));
            };
            let b = Backend::parse(text).map_err(|e| {
                ConfigError::param(
                    "backends",
                    format!(
                        "item {} \"{text}\": {e}; expected \"<ip> [<mac>] [weight=<1..={MAX_WEIGHT}>]\"",
                        i + 1
                    ),
                )
            })?;
            backends.push(b);
        }
        let table_size = p.int("table_size")? as usize;
        let src_mac = MacAddr(p.mac("src_mac")?);
        let config = MaglevConfig {
            vips,
            backends,
            mode,
            table_size,
            connections: p.int("connections")? as usize,
            conn_timeout: p.duration("timeout")?,
            drop_other: p.str("other")? == "drop",
            src_mac: (src_mac != MacAddr([0; 6])).then_some(src_mac),
        };
        Maglev::new(config).map_err(|e| {
            let param = match e {
                MaglevError::TableSize(_) => "table_size",
                _ => "backends",
            };
            ConfigError::param(param, e.to_string())
        })
    }

    /// The control plane's handle on this NF's pool.
    pub fn control(&self) -> MaglevControl {
        self.control.clone()
    }

    /// (packets, bytes) sent to the backend with this address so far.
    pub fn backend_counters(&self, addr: IpAddr) -> (u64, u64) {
        let set = self.control.current();
        set.names
            .iter()
            .position(|a| *a == addr)
            .and_then(|id| self.lb.per_backend.get(id).copied())
            .unwrap_or_default()
    }

    /// Live connection entries.
    pub fn connections(&self) -> usize {
        self.lb.conns.len()
    }
}

impl Balancer {
    fn other(&self) -> Verdict {
        if self.drop_other {
            Verdict::drop(DropReason::Filtered)
        } else {
            Verdict::PASS
        }
    }

    fn handle(&mut self, frame: &mut [u8], set: &BackendSet, now: u64) -> Verdict {
        let Some((ethertype, l3)) = locate_l3(frame) else {
            self.counters.non_ip += 1;
            return self.other();
        };
        let ip = &frame[l3..];
        let (key, fragment) = match ethertype {
            EtherType::Ipv4 => match FlowKey::from_ipv4(ip) {
                Some(k) => (k, Ipv4Packet::new_unchecked(ip).is_fragment()),
                None => return self.malformed(),
            },
            EtherType::Ipv6 => match FlowKey::from_ipv6(ip) {
                Some(k) => (k, Ipv6Packet::new_unchecked(ip).is_fragment()),
                None => return self.malformed(),
            },
            _ => {
                self.counters.non_ip += 1;
                return self.other();
            }
        };
        if !self.vips.iter().any(|v| v.contains(&key.dst)) {
            self.counters.non_vip += 1;
            return self.other();
        }
        let key = if fragment {
            self.counters.fragments += 1;
            FlowKey {
                src_port: 0,
                dst_port: 0,
                ..key
            }
        } else {
            key
        };
        let Some(index) = self.pick(&key, set, now) else {
            self.counters.no_backend += 1;
            return Verdict::drop(DropReason::NoRoute);
        };
        let backend = &set.backends[index];
        if self.mode == Mode::Dnat {
            if backend.addr.is_ipv4() != key.dst.is_ipv4() {
                return self.malformed_as(DropReason::Unsupported);
            }
            if dnat(&mut frame[l3..], backend.addr).is_err() {
                return self.malformed();
            }
        }
        let mut eth = EthernetFrame::new_unchecked(&mut *frame);
        if let Some(mac) = backend.mac {
            eth.set_dst_addr(mac);
        }
        if let Some(mac) = self.src_mac {
            eth.set_src_addr(mac);
        }
        let id = set.ids[index] as usize;
        if let Some(c) = self.per_backend.get_mut(id) {
            c.0 += 1;
            c.1 += frame.len() as u64;
        }
        self.counters.balanced += 1;
        Verdict::PASS
    }

    fn malformed(&mut self) -> Verdict {
        self.malformed_as(DropReason::Malformed)
    }

    fn malformed_as(&mut self, reason: DropReason) -> Verdict {
        self.counters.malformed += 1;
        Verdict::drop(reason)
    }

    /// The backend of a flow: its connection entry if its backend is still
    /// in the pool, else the lookup table (recording the choice).
    fn pick(&mut self, key: &FlowKey, set: &BackendSet, now: u64) -> Option<usize> {
        if let Some(slot) = self.conns.find(key) {
            self.conns.touch(slot, now);
            let conn = self.conns.value_mut(slot);
            if conn.version == set.version {
                self.counters.conn_hits += 1;
                return Some(usize::from(conn.index));
            }
            let index = match set.position(conn.id) {
                Some(i) => {
                    self.counters.conn_hits += 1;
                    i
                }
                None => {
                    self.counters.conn_rescheduled += 1;
                    set.lookup(key)?
                }
            };
            *conn = Conn {
                id: set.ids[index],
                index: index as u16,
                version: set.version,
            };
            return Some(index);
        }
        let index = set.lookup(key)?;
        let conn = Conn {
            id: set.ids[index],
            index: index as u16,
            version: set.version,
        };
        match self.conns.insert(*key, conn, 0, now) {
            Ok(_) => self.counters.conn_new += 1,
            Err(_) => self.counters.conn_full += 1,
        }
        Some(index)
    }
}

/// Rewrites the destination address of the IP packet at the start of `ip`
/// (already validated) and patches the checksums that cover it.
fn dnat(ip: &mut [u8], to: IpAddr) -> Result<(), BadHeader> {
    match to {
        IpAddr::V4(to) => {
            let end = Ipv4::check(ip).map_err(|_| BadHeader)?.end;
            let mut pkt = Ipv4Packet::new_unchecked(&mut ip[..end]);
            let old = pkt.dst_addr();
            pkt.update_dst_addr(to);
            if pkt.frag_offset() != 0 {
                return Ok(());
            }
            let proto = pkt.protocol();
            patch_l4(proto, pkt.payload_mut(), old.into(), to.into())
        }
        IpAddr::V6(to) => {
            let end = Ipv6::check(ip).map_err(|_| BadHeader)?.end;
            let mut pkt = Ipv6Packet::new_unchecked(&mut ip[..end]);
            let old = pkt.dst_addr();
            pkt.set_dst_addr(to);
            if pkt.fragment().is_some_and(|f| f.offset != 0) {
                return Ok(());
            }
            let (proto, at) = pkt.upper_layer().map_err(|_| BadHeader)?;
            let l4 = ip.get_mut(at..end).ok_or(BadHeader)?;
            patch_l4(proto, l4, old.into(), to.into())
        }
    }
}

impl Nf for Maglev {
    fn process(&mut self, _input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let set: &BackendSet = self.reader.load();
        let lb = &mut self.lb;
        lb.counters.conn_expired += lb.conns.expire(now, |_, _| {}) as u64;
        if lb.per_backend.len() < set.names.len() {
            // A backend was added: a control event, not steady state.
            lb.per_backend.resize(set.names.len(), (0, 0));
        }
        let (packets, verdicts) = batch.split_mut();
        for (pkt, verdict) in packets.iter_mut().zip(verdicts.iter_mut()) {
            *verdict = lb.handle(pkt.data_mut(), set, now);
        }
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let c = &self.lb.counters;
        let set = self.control.current();
        report("balanced", c.balanced);
        report("backends", set.backends.len() as u64);
        report("table_size", set.table.entries.len() as u64);
        report("conn_active", self.lb.conns.len() as u64);
        report("conn_hits", c.conn_hits);
        report("conn_new", c.conn_new);
        report("conn_rescheduled", c.conn_rescheduled);
        report("conn_table_full", c.conn_full);
        report("conn_expired", c.conn_expired);
        report("fragments", c.fragments);
        report("no_backend", c.no_backend);
        report("non_vip", c.non_vip);
        report("non_ip", c.non_ip);
        report("malformed", c.malformed);
        for (id, (packets, bytes)) in self.lb.per_backend.iter().enumerate() {
            if let Some(addr) = set.names.get(id) {
                report(&format!("backend[{addr}].packets"), *packets);
                report(&format!("backend[{addr}].bytes"), *bytes);
            }
        }
    }

    /// On a reload: keep the old pool handle (so control-plane handles
    /// stay valid), publish the new config's backends into it, and keep the
    /// connection table and per-backend counters.
    fn adopt(&mut self, old: Box<dyn Nf>) {
        let Some(old) = netfn_core::nf::downcast::<Maglev>(old) else {
            return;
        };
        let old = *old;
        let backends = self.control.current().backends.clone();
        {
            let new = self
                .control
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut state = old
                .control
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.table_size = new.table_size;
            state.need_mac = new.need_mac;
            state.family = new.family;
        }
        if old.control.set_backends(backends).is_err() {
            return; // cannot happen: validated against the same rules
        }
        self.control = old.control;
        self.reader = self.control.reader();
        self.lb.per_backend = old.lb.per_backend;
        self.lb.counters = old.lb.counters;
        if old.lb.conns.capacity() == self.lb.conns.capacity()
            && old.lb.conn_timeout == self.lb.conn_timeout
        {
            self.lb.conns = old.lb.conns;
        } else {
            let mut entries: Vec<_> = old
                .lb
                .conns
                .iter()
                .map(|(slot, k, v)| (old.lb.conns.last_seen(slot), *k, *v))
                .collect();
            entries.sort_by_key(|e| e.0);
            for (seen, k, v) in entries {
                let _ = self.lb.conns.insert(k, v, 0, seen);
            }
        }
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(Maglev::from_params(p)?))
}

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "maglev",
    doc: "Maglev load balancer: consistent hashing of VIP flows to backends (DSR or DNAT)",
    params: &[
        ParamSpec::required(
            "vip",
            ParamType::List(&ParamType::Prefix),
            "virtual IP prefixes to balance (e.g. [10.1.0.0/16]); other traffic follows `other`",
        ),
        ParamSpec::required(
            "backends",
            ParamType::List(&ParamType::Str),
            "backends, each \"<ip> [<mac>] [weight=<1..=1000>]\" (MAC required for dsr)",
        ),
        ParamSpec::optional(
            "mode",
            ParamType::Word(&["dsr", "dnat"]),
            "dsr",
            "dsr: rewrite destination MAC; dnat: rewrite destination IP (+ checksums) and MAC if given",
        ),
        ParamSpec::optional(
            "table_size",
            ParamType::Int {
                min: 3,
                max: MAX_TABLE_SIZE as i64,
            },
            "65537",
            "lookup table size M, a prime (≥ 100 × backends keeps imbalance < 1 %)",
        ),
        ParamSpec::optional(
            "connections",
            ParamType::Int {
                min: 1,
                max: 16_777_216,
            },
            "65536",
            "connection table capacity (when full, new flows use the lookup table only)",
        ),
        ParamSpec::optional(
            "timeout",
            ParamType::Duration,
            "120s",
            "idle timeout of a connection entry",
        ),
        ParamSpec::optional(
            "other",
            ParamType::Word(&["pass", "drop"]),
            "pass",
            "what to do with non-IP traffic and traffic not for a VIP (drop: `filtered`)",
        ),
        ParamSpec::optional(
            "src_mac",
            ParamType::Mac,
            "00:00:00:00:00:00",
            "source MAC written on balanced packets (all zeros: keep)",
        ),
    ],
    inputs: Arity::Exactly(1),
    outputs: Arity::Exactly(1),
    build: Build::Nf(build),
}];

#[cfg(test)]
mod tests {
    use super::*;

    fn backends(n: usize) -> Vec<Backend> {
        (0..n)
            .map(|i| {
                Backend::new(
                    IpAddr::from([10, 2, (i >> 8) as u8, i as u8]),
                    Some(MacAddr([2, 0, 0, 0, 2, i as u8])),
                )
            })
            .collect()
    }

    #[test]
    fn primes() {
        let p: Vec<u64> = (0..30).filter(|&n| is_prime(n)).collect();
        assert_eq!(p, vec![2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert!(is_prime(65_537));
        assert!(!is_prime(65_536));
        assert!(is_prime(MAX_TABLE_SIZE as u64));
    }

    #[test]
    fn table_is_full_and_balanced() {
        let table = LookupTable::build(&backends(7), 65_537);
        let mut counts = [0usize; 7];
        for &e in table.entries() {
            counts[usize::from(e)] += 1;
        }
        for c in counts {
            assert!(c == 65_537 / 7 || c == 65_537 / 7 + 1, "{counts:?}");
        }
    }

    #[test]
    fn weights_share_in_proportion() {
        let mut b = backends(3);
        b[0].weight = 2;
        let table = LookupTable::build(&b, 10_007);
        let n0 = table.entries().iter().filter(|&&e| e == 0).count();
        assert!((5002..=5005).contains(&n0), "{n0}");
    }

    #[test]
    fn parses_backends() {
        let b = Backend::parse("10.2.0.1 02:00:00:00:02:01 weight=3").unwrap();
        assert_eq!(b.addr, IpAddr::from([10, 2, 0, 1]));
        assert_eq!(b.mac, Some(MacAddr([2, 0, 0, 0, 2, 1])));
        assert_eq!(b.weight, 3);
        assert!(Backend::parse("fd00::1").unwrap().mac.is_none());
        assert!(Backend::parse("10.2.0.1 zz").is_err());
        assert!(Backend::parse("10.2.0.1 weight=0").is_err());
        assert!(Backend::parse("").is_err());
    }

    #[test]
    fn control_validates() {
        let c = MaglevControl::new(13, true, None, backends(2)).unwrap();
        assert_eq!(
            c.add_backend(Backend::new(IpAddr::from([1, 1, 1, 1]), None)),
            Err(MaglevError::NoMac(IpAddr::from([1, 1, 1, 1])))
        );
        assert!(matches!(
            c.add_backend(backends(1)[0]),
            Err(MaglevError::Duplicate(_))
        ));
        assert!(matches!(
            c.set_backends(backends(14)),
            Err(MaglevError::TooMany { .. })
        ));
        assert_eq!(c.current().backends().len(), 2);
        assert!(MaglevControl::new(12, true, None, vec![]).is_err());
    }
}
