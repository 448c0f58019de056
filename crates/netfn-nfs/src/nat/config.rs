//! The NAT's configuration: behaviours, port forwards, timeouts, and the
//! errors that name the parameter at fault.

use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use netfn_core::config::{ConfigError, Params, Value};

use super::{MAX_PUBLIC, TCP, UDP};

/// Mapping behaviour (RFC 4787 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingBehavior {
    /// One external endpoint per internal endpoint, whatever the
    /// destination (REQ-1).
    EndpointIndependent,
    /// One external endpoint per internal endpoint and remote endpoint.
    AddressAndPortDependent,
}

/// Filtering behaviour for inbound packets that match no session (RFC
/// 4787 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilteringBehavior {
    /// Anyone may reach a live mapping.
    EndpointIndependent,
    /// Only remote addresses the internal endpoint has sent to (REQ-8).
    AddressDependent,
    /// Only the exact remote endpoints of existing sessions.
    AddressAndPortDependent,
}

/// A static port forward (DNAT): `public:port` always maps to
/// `inside:port` for one protocol, and is open to every remote endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// `6` (TCP) or `17` (UDP).
    pub protocol: u8,
    pub public: (Ipv4Addr, u16),
    pub inside: (Ipv4Addr, u16),
}

impl Forward {
    /// Parses `"tcp 203.0.113.1:8080 -> 10.0.0.5:80"` (the inside port may
    /// be left out: the same as the public one).
    pub fn parse(text: &str) -> Result<Forward, String> {
        let (left, right) = text
            .split_once("->")
            .ok_or("missing `->` between the public and the inside endpoint")?;
        let mut words = left.split_whitespace();
        let protocol = match words.next() {
            Some("tcp") => TCP,
            Some("udp") => UDP,
            Some(other) => return Err(format!("protocol `{other}` is neither tcp nor udp")),
            None => return Err("missing protocol (tcp or udp)".into()),
        };
        let public = words.next().ok_or("missing public endpoint")?;
        if let Some(extra) = words.next() {
            return Err(format!("unexpected `{extra}` before `->`"));
        }
        let endpoint = |s: &str, port_required: bool| -> Result<(Ipv4Addr, Option<u16>), String> {
            let (addr, port) = match s.split_once(':') {
                Some((a, p)) => (a, Some(p)),
                None if port_required => {
                    return Err(format!("`{s}` has no port (write address:port)"));
                }
                None => (s, None),
            };
            let addr: Ipv4Addr = addr
                .parse()
                .map_err(|_| format!("`{addr}` is not an IPv4 address"))?;
            let port = match port {
                Some(p) => Some(
                    p.parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| format!("port `{p}` is not 1..=65535"))?,
                ),
                None => None,
            };
            Ok((addr, port))
        };
        let (pub_addr, pub_port) = endpoint(public, true)?;
        let pub_port = pub_port.unwrap_or_default();
        let right = right.trim();
        if right.split_whitespace().count() != 1 {
            return Err(format!("`{right}` is not one inside endpoint"));
        }
        let (in_addr, in_port) = endpoint(right, false)?;
        Ok(Forward {
            protocol,
            public: (pub_addr, pub_port),
            inside: (in_addr, in_port.unwrap_or(pub_port)),
        })
    }
}

/// The configuration of a [`Nat`].
#[derive(Debug, Clone, PartialEq)]
pub struct NatConfig {
    /// The public address pool.
    pub public: Vec<Ipv4Addr>,
    /// External TCP/UDP ports handed out, inclusive (ICMP identifiers
    /// are taken from the whole 16-bit space).
    pub ports: (u16, u16),
    /// Source prefixes on input 0 that are translated.
    pub inside: Vec<Ipv4Net>,
    pub mapping: MappingBehavior,
    pub filtering: FilteringBehavior,
    /// Keep the parity of the internal port (RFC 4787 REQ-4 MAY).
    pub parity: bool,
    pub tcp_established: Duration,
    pub tcp_transitory: Duration,
    pub udp: Duration,
    pub icmp: Duration,
    /// Refuse timeouts below the RFC minimums.
    pub rfc_timeouts: bool,
    /// Session table capacity.
    pub capacity: usize,
    pub forwards: Vec<Forward>,
    /// Drop (rather than pass) traffic that is not translated.
    pub drop_other: bool,
}

impl Default for NatConfig {
    fn default() -> Self {
        NatConfig {
            public: Vec::new(),
            ports: (1024, 65_535),
            inside: vec![Ipv4Net::default()],
            mapping: MappingBehavior::EndpointIndependent,
            filtering: FilteringBehavior::AddressDependent,
            parity: false,
            tcp_established: Duration::from_secs(2 * 3600 + 4 * 60),
            tcp_transitory: Duration::from_secs(4 * 60),
            udp: Duration::from_secs(5 * 60),
            icmp: Duration::from_secs(60),
            rfc_timeouts: true,
            capacity: 65_536,
            forwards: Vec::new(),
            drop_other: false,
        }
    }
}

/// Why a [`NatConfig`] is refused; [`NatError::param`] names the
/// parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NatError {
    #[error("needs at least one public IPv4 address (e.g. [203.0.113.1])")]
    NoPublic,
    #[error("{0} is not an IPv4 address (this NAT is NAT44)")]
    NotIpv4(IpNet),
    #[error("{0} public addresses, at most {MAX_PUBLIC}")]
    TooManyPublic(usize),
    #[error("{0} is in the pool twice")]
    DuplicatePublic(Ipv4Addr),
    #[error(
        "port range {0}-{1} is empty or starts at 0; expected lo-hi with 1 <= lo <= hi <= 65535"
    )]
    PortRange(u16, u16),
    #[error(
        "{name} = {value:?} is below the RFC minimum of {min:?} ({rfc}); set rfc_timeouts = false to allow it"
    )]
    Timeout {
        name: &'static str,
        value: Duration,
        min: Duration,
        rfc: &'static str,
    },
    #[error("{name} = {value:?}: timeouts must be at least 1s")]
    TimeoutZero { name: &'static str, value: Duration },
    #[error("forward {0}: the inside address is not in the `inside` prefixes")]
    ForwardNotInside(usize),
    #[error("forward {0}: the public endpoint is already forwarded")]
    ForwardDuplicate(usize),
    #[error("forward {0}: the inside endpoint is already forwarded")]
    ForwardInsideDuplicate(usize),
    #[error("capacity {0}: expected 1..=16777216 sessions")]
    Capacity(usize),
}

impl NatError {
    /// The graph parameter this error is about.
    pub fn param(&self) -> &'static str {
        match self {
            NatError::NoPublic
            | NatError::NotIpv4(_)
            | NatError::TooManyPublic(_)
            | NatError::DuplicatePublic(_) => "public",
            NatError::PortRange(..) => "ports",
            NatError::Timeout { name, .. } | NatError::TimeoutZero { name, .. } => name,
            NatError::ForwardNotInside(_)
            | NatError::ForwardDuplicate(_)
            | NatError::ForwardInsideDuplicate(_) => "forward",
            NatError::Capacity(_) => "capacity",
        }
    }
}

impl NatConfig {
    /// Reads validated graph parameters (see [`super::SPECS`]); the
    /// result still goes through [`super::Nat::new`]'s checks.
    pub fn from_params(p: &Params) -> Result<NatConfig, ConfigError> {
        let prefixes = |name: &str| -> Result<Vec<IpNet>, ConfigError> {
            p.list(name)?
                .iter()
                .map(|v| match v {
                    Value::Prefix(n) => Ok(*n),
                    Value::Ip(a) => Ok(IpNet::from(*a)),
                    other => Err(ConfigError::param(
                        name,
                        format!("expected an IPv4 address or prefix, found `{other}`"),
                    )),
                })
                .collect()
        };
        let mut public = Vec::new();
        for net in prefixes("public")? {
            let IpNet::V4(net) = net else {
                return Err(ConfigError::param(
                    "public",
                    NatError::NotIpv4(net).to_string(),
                ));
            };
            let net = net.trunc();
            let (first, last) = (net.network().to_bits(), net.broadcast().to_bits());
            if (last - first) as usize >= MAX_PUBLIC {
                return Err(ConfigError::param(
                    "public",
                    NatError::TooManyPublic((last - first) as usize + 1).to_string(),
                ));
            }
            public.extend((first..=last).map(Ipv4Addr::from_bits));
        }
        let mut inside = Vec::new();
        for net in prefixes("inside")? {
            let IpNet::V4(net) = net else {
                return Err(ConfigError::param(
                    "inside",
                    NatError::NotIpv4(net).to_string(),
                ));
            };
            inside.push(net.trunc());
        }
        if inside.is_empty() {
            return Err(ConfigError::param(
                "inside",
                "needs at least one prefix (0.0.0.0/0: every source on input 0)",
            ));
        }
        let range = p.str("ports")?;
        let ports = range
            .split_once('-')
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
            .ok_or_else(|| {
                ConfigError::param(
                    "ports",
                    format!("`{range}` is not a range; expected lo-hi, e.g. \"1024-65535\""),
                )
            })?;
        let mapping = match p.str("mapping")? {
            "address-and-port-dependent" => MappingBehavior::AddressAndPortDependent,
            _ => MappingBehavior::EndpointIndependent,
        };
        let filtering = match p.str("filtering")? {
            "endpoint-independent" => FilteringBehavior::EndpointIndependent,
            "address-and-port-dependent" => FilteringBehavior::AddressAndPortDependent,
            _ => FilteringBehavior::AddressDependent,
        };
        let mut forwards = Vec::new();
        for (i, v) in p.list("forward")?.iter().enumerate() {
            let Value::Str(text) = v else {
                return Err(ConfigError::param(
                    "forward",
                    format!("item {}: expected a string, found `{v}`", i + 1),
                ));
            };
            forwards.push(Forward::parse(text).map_err(|e| {
                ConfigError::param(
                    "forward",
                    format!(
                        "item {} \"{text}\": {e}; expected \"tcp|udp <public-ip>:<port> -> <inside-ip>[:<port>]\"",
                        i + 1
                    ),
                )
            })?);
        }
        Ok(NatConfig {
            public,
            ports,
            inside,
            mapping,
            filtering,
            parity: p.bool("parity")?,
            tcp_established: p.duration("tcp_established")?,
            tcp_transitory: p.duration("tcp_transitory")?,
            udp: p.duration("udp")?,
            icmp: p.duration("icmp")?,
            rfc_timeouts: p.bool("rfc_timeouts")?,
            capacity: p.int("capacity")? as usize,
            forwards,
            drop_other: p.str("other")? == "drop",
        })
    }
}
