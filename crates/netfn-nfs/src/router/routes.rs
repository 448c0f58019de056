//! The text forms of the router's configuration, in the style of
//! iproute2:
//!
//! ```text
//! # routes: one per line, `#` starts a comment
//! 10.0.0.0/8 via 192.0.2.1 dev 1      # via a gateway, out of port 1
//! 0.0.0.0/0 via 192.0.2.1             # dev inferred from the connected route
//! default via 2001:db8::1 dev 0       # default: 0.0.0.0/0 or ::/0 by the gateway's family
//! 192.0.2.0/24 dev 1                  # connected: the destination is the neighbour
//! 198.51.100.7 dev 2                  # a bare address is a host route (/32, /128)
//! blackhole 10.9.0.0/16               # dropped silently
//! unreachable 10.8.0.0/16             # dropped, ICMP net unreachable
//! prohibit 10.7.0.0/16                # dropped, ICMP administratively prohibited
//!
//! # neighbours: next hop → MAC (`ip neigh` style, `lladdr` optional)
//! 192.0.2.1 lladdr 02:00:00:00:01:01
//!
//! # addresses of the router: `<ip>[/<len>] dev <port>`; with a length, the
//! # connected route of the subnet is added too (as Linux does)
//! 192.0.2.254/24 dev 1
//! ```
//!
//! Parse errors carry the 1-based line and column of the offending word.

use std::net::IpAddr;

use ipnet::IpNet;
use netfn_wire::MacAddr;

/// Where a route's packets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// To a gateway (its MAC from the neighbour table), out of `dev`.
    Via { gateway: IpAddr, dev: u16 },
    /// A connected network: the destination itself is the neighbour.
    Dev(u16),
    /// One of the router's own addresses.
    Local,
    /// Dropped without an ICMP error.
    Blackhole,
    /// Dropped with ICMP destination (net) unreachable.
    Unreachable,
    /// Dropped with ICMP communication administratively prohibited.
    Prohibit,
}

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    pub prefix: IpNet,
    pub target: Target,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.target {
            Target::Via { gateway, dev } => write!(f, "{} via {gateway} dev {dev}", self.prefix),
            Target::Dev(dev) => write!(f, "{} dev {dev}", self.prefix),
            Target::Local => write!(f, "local {}", self.prefix),
            Target::Blackhole => write!(f, "blackhole {}", self.prefix),
            Target::Unreachable => write!(f, "unreachable {}", self.prefix),
            Target::Prohibit => write!(f, "prohibit {}", self.prefix),
        }
    }
}

/// A route as written: `dev` may still be missing after `via`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteLine {
    pub prefix: IpNet,
    pub kind: Kind,
    pub via: Option<IpAddr>,
    pub dev: Option<u16>,
    /// Column of the prefix and of the gateway (for later errors).
    pub col: usize,
    pub via_col: usize,
}

/// The route type keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// A neighbour entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbor {
    pub ip: IpAddr,
    pub mac: MacAddr,
}

/// An address of the router on one of its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    pub ip: IpAddr,
    /// The subnet's length, if given (adds its connected route).
    pub len: Option<u8>,
    pub dev: u16,
}

/// A parse error at a 1-based column of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub col: usize,
    pub message: String,
}

fn err<T>(col: usize, message: impl Into<String>) -> Result<T, LineError> {
    Err(LineError {
        col,
        message: message.into(),
    })
}

/// The words of a line (comment removed) with their 1-based columns.
fn words(line: &str) -> Vec<(usize, &str)> {
    let line = line.split('#').next().unwrap_or("");
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((s, &line[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out.into_iter()
        .map(|(s, w)| (line[..s].chars().count() + 1, w))
        .collect()
}

fn parse_dev(col: usize, word: Option<&(usize, &str)>, ports: u16) -> Result<u16, LineError> {
    let Some(&(c, w)) = word else {
        return err(col, "`dev` needs a port number (e.g. `dev 1`)");
    };
    match w.parse::<u16>() {
        Ok(n) if n < ports => Ok(n),
        Ok(n) => err(
            c,
            format!(
                "port {n} does not exist: the router has {ports} port{} (0..={})",
                if ports == 1 { "" } else { "s" },
                ports - 1
            ),
        ),
        Err(_) => err(
            c,
            format!("`{w}` is not a port number; `dev N` names port N of the router"),
        ),
    }
}

fn parse_prefix(col: usize, w: &str) -> Result<IpNet, LineError> {
    if let Ok(a) = w.parse::<IpAddr>() {
        return Ok(IpNet::from(a));
    }
    let net: IpNet = w.parse().map_err(|_| LineError {
        col,
        message: format!(
            "`{w}` is not a prefix; expected an address, `<address>/<length>` or `default`"
        ),
    })?;
    if net.trunc() != net {
        return err(
            col,
            format!("{w} has host bits set; did you mean {}?", net.trunc()),
        );
    }
    Ok(net)
}

/// Parses one route (`ports` bounds `dev`).
pub fn parse_route(line: &str, ports: u16) -> Result<Option<RouteLine>, LineError> {
    let w = words(line);
    let Some(&(c0, first)) = w.first() else {
        return Ok(None);
    };
    let (kind, at) = match first {
        "unicast" => (Kind::Unicast, 1),
        "blackhole" => (Kind::Blackhole, 1),
        "unreachable" => (Kind::Unreachable, 1),
        "prohibit" => (Kind::Prohibit, 1),
        _ => (Kind::Unicast, 0),
    };
    let Some(&(col, text)) = w.get(at) else {
        return err(c0 + first.len(), format!("`{first}` needs a prefix"));
    };
    let mut default = false;
    let mut prefix = if text == "default" {
        default = true;
        None
    } else {
        Some(parse_prefix(col, text)?)
    };
    let (mut via, mut via_col, mut dev) = (None, 0, None);
    let mut i = at + 1;
    while let Some(&(c, word)) = w.get(i) {
        match word {
            "via" if via.is_none() => {
                let Some(&(gc, g)) = w.get(i + 1) else {
                    return err(c, "`via` needs a gateway address");
                };
                let gw: IpAddr = g.parse().map_err(|_| LineError {
                    col: gc,
                    message: format!("`{g}` is not an IP address (the gateway after `via`)"),
                })?;
                via = Some(gw);
                via_col = gc;
                i += 2;
            }
            "dev" if dev.is_none() => {
                dev = Some(parse_dev(c, w.get(i + 1), ports)?);
                i += 2;
            }
            "via" | "dev" => return err(c, format!("`{word}` given twice")),
            _ => {
                return err(
                    c,
                    format!("unexpected `{word}`; expected `via <gateway>` or `dev <port>`"),
                );
            }
        }
    }
    if default {
        prefix = Some(match via {
            Some(IpAddr::V4(_)) => "0.0.0.0/0".parse().expect("valid"),
            Some(IpAddr::V6(_)) => "::/0".parse().expect("valid"),
            None => {
                return err(
                    col,
                    "`default` without a gateway has no address family; write 0.0.0.0/0 or ::/0",
                );
            }
        });
    }
    let prefix = prefix.expect("set above");
    if kind != Kind::Unicast && (via.is_some() || dev.is_some()) {
        return err(
            if via.is_some() { via_col } else { col },
            format!("a `{first}` route takes no `via` or `dev`"),
        );
    }
    if kind == Kind::Unicast && via.is_none() && dev.is_none() {
        return err(
            col + text.chars().count(),
            "expected `via <gateway>` or `dev <port>` after the prefix",
        );
    }
    if let Some(g) = via
        && g.is_ipv4() != prefix.addr().is_ipv4()
    {
        return err(
            via_col,
            format!("gateway {g} is not of the family of {prefix}"),
        );
    }
    Ok(Some(RouteLine {
        prefix,
        kind,
        via,
        dev,
        col,
        via_col,
    }))
}

/// Parses one neighbour entry: `<ip> [lladdr] <mac>`.
pub fn parse_neighbor(line: &str) -> Result<Option<Neighbor>, LineError> {
    let w = words(line);
    let Some(&(c, ip)) = w.first() else {
        return Ok(None);
    };
    let ip: IpAddr = ip.parse().map_err(|_| LineError {
        col: c,
        message: format!("`{ip}` is not an IP address; expected `<ip> [lladdr] <mac>`"),
    })?;
    let rest = match w.get(1) {
        Some((_, "lladdr")) => &w[2..],
        _ => &w[1..],
    };
    let Some(&(mc, mac)) = rest.first() else {
        let end = line
            .split('#')
            .next()
            .unwrap_or("")
            .trim_end()
            .chars()
            .count()
            + 1;
        return err(end, "expected a MAC address (e.g. 02:00:00:00:00:01)");
    };
    let mac: MacAddr = mac.parse().map_err(|_| LineError {
        col: mc,
        message: format!("`{mac}` is not a MAC address (e.g. 02:00:00:00:00:01)"),
    })?;
    if let Some(&(xc, x)) = rest.get(1) {
        return err(xc, format!("unexpected `{x}` after the MAC address"));
    }
    Ok(Some(Neighbor { ip, mac }))
}

/// Parses one address: `<ip>[/<len>] dev <port>`.
pub fn parse_address(line: &str, ports: u16) -> Result<Option<Address>, LineError> {
    let w = words(line);
    let Some(&(c, text)) = w.first() else {
        return Ok(None);
    };
    let (ip, len) = match text.parse::<IpAddr>() {
        Ok(a) => (a, None),
        Err(_) => match text.parse::<IpNet>() {
            Ok(n) => (n.addr(), Some(n.prefix_len())),
            Err(_) => {
                return err(
                    c,
                    format!("`{text}` is not an address; expected `<ip>[/<len>] dev <port>`"),
                );
            }
        },
    };
    let dev = match w.get(1) {
        Some(&(dc, "dev")) => parse_dev(dc, w.get(2), ports)?,
        Some(&(xc, x)) => return err(xc, format!("unexpected `{x}`; expected `dev <port>`")),
        None => {
            return err(
                c + text.chars().count(),
                "expected `dev <port>` after the address",
            );
        }
    };
    if let Some(&(xc, x)) = w.get(3) {
        return err(xc, format!("unexpected `{x}` after `dev {dev}`"));
    }
    Ok(Some(Address { ip, len, dev }))
}

/// Parses every line of `text` with `f`; errors say `origin:line:col: ...`.
pub fn parse_lines<T>(
    origin: &str,
    text: &str,
    mut f: impl FnMut(&str) -> Result<Option<T>, LineError>,
) -> Result<Vec<(usize, T)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match f(line) {
            Ok(Some(v)) => out.push((i + 1, v)),
            Ok(None) => {}
            Err(e) => return Err(format!("{origin}:{}:{}: {}", i + 1, e.col, e.message)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(s: &str) -> RouteLine {
        parse_route(s, 4).unwrap().unwrap()
    }

    fn error(s: &str) -> (usize, String) {
        let e = parse_route(s, 4).unwrap_err();
        (e.col, e.message)
    }

    #[test]
    fn routes() {
        let r = route("10.0.0.0/8 via 192.0.2.1 dev 1");
        assert_eq!(r.prefix, "10.0.0.0/8".parse::<IpNet>().unwrap());
        assert_eq!(r.via, Some("192.0.2.1".parse().unwrap()));
        assert_eq!((r.dev, r.kind, r.via_col), (Some(1), Kind::Unicast, 16));
        let r = route("  default via 2001:db8::1   # comment");
        assert_eq!(r.prefix, "::/0".parse::<IpNet>().unwrap());
        assert_eq!((r.dev, r.col), (None, 3));
        assert_eq!(route("blackhole 10.9.0.0/16").kind, Kind::Blackhole);
        assert_eq!(
            route("198.51.100.7 dev 3").prefix,
            "198.51.100.7/32".parse::<IpNet>().unwrap()
        );
        assert_eq!(parse_route("   # only a comment", 4), Ok(None));
    }

    #[test]
    fn route_errors_point_at_the_word() {
        assert_eq!(error("10.0.0.0/8 via 192.0.2.1 dev 4").0, 30);
        assert!(
            error("10.0.0.0/8 via 192.0.2.1 dev 4")
                .1
                .contains("4 ports")
        );
        assert_eq!(error("10.0.0.0/8 via x dev 1").0, 16);
        assert_eq!(error("10.1.0.0/8 dev 1").0, 1);
        assert!(error("10.1.0.0/8 dev 1").1.contains("10.0.0.0/8"));
        assert_eq!(error("10.0.0.0/8").0, 11);
        assert_eq!(error("10.0.0.0/8 dev 1 metric 5").0, 18);
        assert_eq!(error("blackhole 10.0.0.0/8 dev 1").0, 11);
        assert_eq!(error("10.0.0.0/8 via fe80::1").0, 16);
        assert!(error("default dev 1").1.contains("0.0.0.0/0 or ::/0"));
        assert_eq!(error("10.0.0.0/8 dev eth0").0, 16);
        assert_eq!(error("unreachable").0, 12);
    }

    #[test]
    fn neighbors_and_addresses() {
        assert_eq!(
            parse_neighbor("192.0.2.1 lladdr 02:00:00:00:01:01").unwrap(),
            Some(Neighbor {
                ip: "192.0.2.1".parse().unwrap(),
                mac: MacAddr([2, 0, 0, 0, 1, 1])
            })
        );
        assert!(
            parse_neighbor("fe80::1 02:00:00:00:01:01")
                .unwrap()
                .is_some()
        );
        assert_eq!(parse_neighbor("192.0.2.1 lladdr").unwrap_err().col, 17);
        assert_eq!(parse_neighbor("192.0.2.1 zz").unwrap_err().col, 11);
        let a = parse_address("192.0.2.254/24 dev 1", 2).unwrap().unwrap();
        assert_eq!((a.len, a.dev), (Some(24), 1));
        assert_eq!(parse_address("192.0.2.254 dev 2", 2).unwrap_err().col, 17);
        assert_eq!(parse_address("192.0.2.254", 2).unwrap_err().col, 12);
    }

    #[test]
    fn lines_carry_origin_line_and_column() {
        let text = "# routes\n10.0.0.0/8 dev 0\n\n10.0.0.0/8 via 1.2.3 dev 0\n";
        let e = parse_lines("r.routes", text, |l| parse_route(l, 1)).unwrap_err();
        assert!(e.starts_with("r.routes:4:16: "), "{e}");
    }
}
