//! The rules language of the `firewall` NF: text in, [`Rule`]s out. Runs at
//! configuration time only; the data path never sees text.
//!
//! One rule per line, `#` starts a comment. The syntax follows ipfw's word
//! order with pf's options (`pf.conf(5)`, `ipfw(8)`):
//!
//! ```text
//! rule    = action [inet | inet6] [proto] [all | [from ADDR [port PORTS]] [to ADDR [port PORTS]]]
//!           {icmp-type T [code C] | icmp6-type T [code C] | flags F/M | flags any
//!            | keep state | no state}
//! action  = allow | pass | accept | deny | block | drop
//! proto   = tcp | udp | icmp | icmp6 | ip | any | <name> | proto <0..=255> | { proto, ... }
//! ADDR    = any | 10.0.0.0/8 | 192.0.2.1 | fd00::/8 | { ADDR, ... }
//! PORTS   = 80 | 80,443 | 1000-2000 | 1000:2000 | http | { 22 80 443 } ...
//! ```
//!
//! Semantics: a packet matches a rule when every condition holds. Ports,
//! ICMP types and TCP flags need the transport header, so they never match a
//! non-first fragment (as ipfw). `flags S/SA` matches when the flags in `SA`
//! are exactly `S`; `flags S` alone means `S/FSRPAUEC` (as pf). Lists in
//! braces expand to one alternative per combination, all counted as the one
//! rule. A rule's address family comes from `inet`/`inet6`, its prefixes or
//! its ICMP protocol; a rule with none of those matches both families.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use netfn_wire::TcpFlags;

/// Most alternatives one rule may expand to (product of its lists).
pub const MAX_EXPANSION: usize = 4096;

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
}

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Bits in an address.
    pub const fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// An address as a left-aligned 128-bit number: IPv4 in the top 32 bits,
/// so prefix masks are the same computation for both families.
pub fn addr_bits(addr: IpAddr) -> (Family, u128) {
    match addr {
        IpAddr::V4(a) => (Family::V4, u128::from(u32::from(a)) << 96),
        IpAddr::V6(a) => (Family::V6, u128::from(a)),
    }
}

/// The mask of a left-aligned prefix of `len` bits.
#[inline]
pub const fn prefix_mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        !0u128 << (128 - len as u32)
    }
}

/// A prefix, left-aligned (see [`addr_bits`]), host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    pub family: Family,
    pub bits: u128,
    pub len: u8,
}

impl Prefix {
    #[inline]
    pub fn contains(&self, family: Family, addr: u128) -> bool {
        self.family == family && addr & prefix_mask(self.len) == self.bits
    }
}

/// One alternative of a rule (a rule with lists has several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// `None`: both families.
    pub family: Option<Family>,
    /// `None`: any protocol.
    pub proto: Option<u8>,
    pub src: Option<Prefix>,
    pub dst: Option<Prefix>,
    /// Inclusive port ranges; empty means any port.
    pub src_ports: Vec<(u16, u16)>,
    pub dst_ports: Vec<(u16, u16)>,
    /// ICMP or ICMPv6 type (the protocol says which), and code.
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// TCP flags `(set, mask)`: `flags & mask == set`.
    pub flags: Option<(u8, u8)>,
}

/// The header fields of one packet the rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fields {
    pub v6: bool,
    /// Left-aligned addresses (see [`addr_bits`]).
    pub src: u128,
    pub dst: u128,
    pub proto: u8,
    /// The transport header is here (not a non-first fragment) and parsed:
    /// the fields below are valid for the protocol.
    pub l4: bool,
    pub sport: u16,
    pub dport: u16,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub tcp_flags: u8,
}

impl Fields {
    pub fn family(&self) -> Family {
        if self.v6 { Family::V6 } else { Family::V4 }
    }
    /// Ports are meaningful (TCP or UDP with its header).
    #[inline]
    pub fn has_ports(&self) -> bool {
        self.l4 && (self.proto == PROTO_TCP || self.proto == PROTO_UDP)
    }
}

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMP6: u8 = 58;

fn in_ranges(ranges: &[(u16, u16)], port: u16) -> bool {
    ranges.iter().any(|&(lo, hi)| lo <= port && port <= hi)
}

impl Match {
    /// Whether the packet satisfies every condition of this alternative.
    #[inline]
    pub fn matches(&self, f: &Fields) -> bool {
        let family = f.family();
        if self.family.is_some_and(|fam| fam != family)
            || self.proto.is_some_and(|p| p != f.proto)
            || self.src.is_some_and(|p| !p.contains(family, f.src))
            || self.dst.is_some_and(|p| !p.contains(family, f.dst))
        {
            return false;
        }
        if !self.src_ports.is_empty() || !self.dst_ports.is_empty() {
            if !f.has_ports() {
                return false;
            }
            if !self.src_ports.is_empty() && !in_ranges(&self.src_ports, f.sport) {
                return false;
            }
            if !self.dst_ports.is_empty() && !in_ranges(&self.dst_ports, f.dport) {
                return false;
            }
        }
        if let Some(t) = self.icmp_type
            && (!f.l4 || f.icmp_type != t || self.icmp_code.is_some_and(|c| c != f.icmp_code))
        {
            return false;
        }
        if let Some((set, mask)) = self.flags
            && (!f.l4 || f.tcp_flags & mask != set)
        {
            return false;
        }
        true
    }
}

/// One rule: an action, its alternatives, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    /// `Some(true)`: `keep state`; `Some(false)`: `no state`; `None`: the
    /// NF's default (keep state for allow rules when stateful).
    pub keep_state: Option<bool>,
    pub alternatives: Vec<Match>,
    /// The rule's text, trimmed, without its comment.
    pub text: String,
    /// `file:line` (or `rule[i]` for inline rules).
    pub origin: String,
}

impl Rule {
    pub fn matches(&self, f: &Fields) -> bool {
        self.alternatives.iter().any(|m| m.matches(f))
    }
}

/// A rule that does not parse: where, what was found, what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    /// The offending token (empty at the end of the line).
    pub found: String,
    pub expected: String,
    /// A correction (a misspelt keyword, a prefix without host bits).
    pub hint: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.line, self.col)?;
        if self.found.is_empty() {
            write!(f, "rule ends early, expected {}", self.expected)?;
        } else {
            write!(f, "found `{}`, expected {}", self.found, self.expected)?;
        }
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// Parses a rules file. `origin` names it in [`Rule::origin`]
/// (`origin:line`); errors carry line and column (prefix them with the
/// file name).
pub fn parse_rules(text: &str, origin: &str) -> Result<Vec<Rule>, ParseError> {
    let mut rules = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(rule) = parse_line(line, i + 1, &format!("{origin}:{}", i + 1))? {
            rules.push(rule);
        }
    }
    Ok(rules)
}

/// Parses one line (a comment or blank line gives `None`).
pub fn parse_line(line: &str, line_no: usize, origin: &str) -> Result<Option<Rule>, ParseError> {
    let code = line.split('#').next().unwrap_or("");
    let tokens = tokenize(code);
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        tokens,
        at: 0,
        line: line_no,
        end_col: code.chars().count() + 1,
    };
    let rule = p.rule(code.trim(), origin)?;
    Ok(Some(rule))
}

#[derive(Debug, Clone)]
struct Token {
    text: String,
    col: usize,
}

/// Words, with `{`, `}` and `,` as tokens of their own.
fn tokenize(line: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut start = 0;
    for (col, c) in line.chars().enumerate().map(|(i, c)| (i + 1, c)) {
        if c.is_whitespace() || matches!(c, '{' | '}' | ',') {
            if !word.is_empty() {
                out.push(Token {
                    text: std::mem::take(&mut word),
                    col: start,
                });
            }
            if !c.is_whitespace() {
                out.push(Token {
                    text: c.to_string(),
                    col,
                });
            }
        } else {
            if word.is_empty() {
                start = col;
            }
            word.push(c);
        }
    }
    if !word.is_empty() {
        out.push(Token {
            text: word,
            col: start,
        });
    }
    out
}

const ACTIONS: &[(&str, Action)] = &[
    ("allow", Action::Allow),
    ("pass", Action::Allow),
    ("accept", Action::Allow),
    ("deny", Action::Deny),
    ("block", Action::Deny),
    ("drop", Action::Deny),
];

const PROTOCOLS: &[(&str, Option<u8>)] = &[
    ("ip", None),
    ("any", None),
    ("tcp", Some(PROTO_TCP)),
    ("udp", Some(PROTO_UDP)),
    ("icmp", Some(PROTO_ICMP)),
    ("icmp6", Some(PROTO_ICMP6)),
    ("ipv6-icmp", Some(PROTO_ICMP6)),
    ("igmp", Some(2)),
    ("gre", Some(47)),
    ("esp", Some(50)),
    ("ah", Some(51)),
    ("ospf", Some(89)),
    ("sctp", Some(132)),
];

const PORT_NAMES: &[(&str, u16)] = &[
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("dns", 53),
    ("http", 80),
    ("ntp", 123),
    ("snmp", 161),
    ("https", 443),
];

const ICMP4_TYPES: &[(&str, u8)] = &[
    ("echorep", 0),
    ("echo-reply", 0),
    ("unreach", 3),
    ("destination-unreachable", 3),
    ("squench", 4),
    ("redir", 5),
    ("redirect", 5),
    ("echoreq", 8),
    ("echo-request", 8),
    ("routeradv", 9),
    ("routersol", 10),
    ("timex", 11),
    ("time-exceeded", 11),
    ("paramprob", 12),
    ("parameter-problem", 12),
    ("timereq", 13),
    ("timerep", 14),
];

const ICMP6_TYPES: &[(&str, u8)] = &[
    ("unreach", 1),
    ("destination-unreachable", 1),
    ("toobig", 2),
    ("packet-too-big", 2),
    ("timex", 3),
    ("time-exceeded", 3),
    ("paramprob", 4),
    ("parameter-problem", 4),
    ("echoreq", 128),
    ("echo-request", 128),
    ("echorep", 129),
    ("echo-reply", 129),
    ("routersol", 133),
    ("routeradv", 134),
    ("neighbrsol", 135),
    ("neighbor-solicit", 135),
    ("neighbradv", 136),
    ("neighbor-advert", 136),
    ("redir", 137),
    ("redirect", 137),
];

const OPTIONS: &[&str] = &["icmp-type", "icmp6-type", "flags", "keep", "no"];

/// Levenshtein distance (for "did you mean").
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The closest candidate within two edits, as a hint.
fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (distance(&lower, c), c))
        .filter(|(d, c)| *d <= 2 && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

/// Values of one rule before expansion.
#[derive(Debug, Default)]
struct Spec {
    family: Option<(Family, String)>,
    protos: Vec<Option<u8>>,
    srcs: Vec<Option<Prefix>>,
    dsts: Vec<Option<Prefix>>,
    src_ports: Vec<(u16, u16)>,
    dst_ports: Vec<(u16, u16)>,
    /// (type, code) alternatives.
    icmp: Vec<(u8, Option<u8>)>,
    icmp_v6: bool,
    flags: Option<(u8, u8)>,
    keep_state: Option<bool>,
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    line: usize,
    end_col: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(|t| t.text.as_str())
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    /// An error at the current token (or at the end of the line).
    fn error(&self, expected: impl Into<String>, hint: Option<String>) -> ParseError {
        self.error_at(self.at, expected, hint)
    }

    fn error_at(&self, at: usize, expected: impl Into<String>, hint: Option<String>) -> ParseError {
        let (found, col) = match self.tokens.get(at) {
            Some(t) => (t.text.clone(), t.col),
            None => (String::new(), self.end_col),
        };
        ParseError {
            line: self.line,
            col,
            found,
            expected: expected.into(),
            hint,
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case(word)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, word: &str, what: &str) -> Result<(), ParseError> {
        if self.eat(word) {
            Ok(())
        } else {
            let hint = self.peek().and_then(|t| suggest(t, [word]));
            Err(self.error(what, hint))
        }
    }

    /// `item` or `{ item [,] item ... }`.
    fn list<T>(
        &mut self,
        what: &str,
        mut item: impl FnMut(&mut Self) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        if !self.eat("{") {
            return Ok(vec![item(self)?]);
        }
        let mut items = Vec::new();
        loop {
            if self.eat("}") {
                if items.is_empty() {
                    return Err(self.error_at(self.at - 1, format!("{what} inside `{{ }}`"), None));
                }
                return Ok(items);
            }
            if self.peek().is_none() {
                return Err(self.error(format!("`}}` closing the list of {what}"), None));
            }
            items.push(item(self)?);
            self.eat(",");
        }
    }

    fn rule(&mut self, text: &str, origin: &str) -> Result<Rule, ParseError> {
        let action = {
            let t = self.peek().unwrap_or("").to_ascii_lowercase();
            match ACTIONS.iter().find(|(w, _)| *w == t) {
                Some((_, a)) => {
                    self.at += 1;
                    *a
                }
                None => {
                    return Err(self.error(
                        "an action (allow, pass, deny, block, drop)",
                        suggest(&t, ACTIONS.iter().map(|(w, _)| *w)),
                    ));
                }
            }
        };
        let mut spec = Spec::default();
        if self.eat("inet") {
            spec.family = Some((Family::V4, "inet".into()));
        } else if self.eat("inet6") {
            spec.family = Some((Family::V6, "inet6".into()));
        }
        spec.protos = self.protocols()?;
        if self.eat("all") {
            spec.srcs = vec![None];
            spec.dsts = vec![None];
        } else {
            spec.srcs = vec![None];
            spec.dsts = vec![None];
            if self.eat("from") {
                spec.srcs = self.list("addresses", |p| p.address(&mut spec.family))?;
                if self.eat("port") {
                    spec.src_ports = self.ports()?;
                }
            }
            if self.eat("to") {
                spec.dsts = self.list("addresses", |p| p.address(&mut spec.family))?;
                if self.eat("port") {
                    spec.dst_ports = self.ports()?;
                }
            }
        }
        while let Some(word) = self.peek().map(str::to_ascii_lowercase) {
            match word.as_str() {
                "icmp-type" | "icmp6-type" => self.icmp(&mut spec, word == "icmp6-type")?,
                "flags" => {
                    self.at += 1;
                    spec.flags = self.flags()?;
                }
                "keep" => {
                    self.at += 1;
                    self.expect("state", "`state` (as in `keep state`)")?;
                    if action == Action::Deny {
                        return Err(self.error_at(
                            self.at - 2,
                            "no state option on a deny rule (only allowed connections keep state)",
                            None,
                        ));
                    }
                    spec.keep_state = Some(true);
                }
                "no" => {
                    self.at += 1;
                    self.expect("state", "`state` (as in `no state`)")?;
                    spec.keep_state = Some(false);
                }
                "quick" => {
                    return Err(self.error(
                        "an option (icmp-type, icmp6-type, flags, keep state, no state)",
                        Some("rules are first-match already, as if every rule were `quick`".into()),
                    ));
                }
                "from" | "to" | "port" | "all" => {
                    return Err(self.error(
                        "an option (icmp-type, icmp6-type, flags, keep state, no state)",
                        Some("the order is: action [family] [proto] from .. [port ..] to .. [port ..] options".into()),
                    ));
                }
                _ => {
                    return Err(self.error(
                        "an option (icmp-type, icmp6-type, flags, keep state, no state) or the end of the rule",
                        suggest(&word, OPTIONS.iter().copied().chain(["from", "to", "port"])),
                    ));
                }
            }
        }
        self.check(&mut spec)?;
        let alternatives = expand(&spec);
        if alternatives.len() > MAX_EXPANSION {
            return Err(ParseError {
                line: self.line,
                col: 1,
                found: format!("{} combinations", alternatives.len()),
                expected: format!("at most {MAX_EXPANSION} combinations of the rule's lists"),
                hint: Some("split the rule".into()),
            });
        }
        Ok(Rule {
            action,
            keep_state: spec.keep_state,
            alternatives,
            text: text.to_string(),
            origin: origin.to_string(),
        })
    }

    fn protocols(&mut self) -> Result<Vec<Option<u8>>, ParseError> {
        let explicit = self.eat("proto");
        let starts = |t: &str| {
            t == "{"
                || t.parse::<u8>().is_ok()
                || PROTOCOLS.iter().any(|(n, _)| n.eq_ignore_ascii_case(t))
        };
        if !explicit && !self.peek().is_some_and(starts) {
            if let Some(t) = self.peek()
                && !matches!(t, "from" | "to" | "all")
            {
                if t.eq_ignore_ascii_case("quick") {
                    return Err(self.error(
                        "a protocol, `from`, `to` or `all`",
                        Some("rules are first-match already, as if every rule were `quick`".into()),
                    ));
                }
                let hint = suggest(
                    t,
                    PROTOCOLS
                        .iter()
                        .map(|(n, _)| *n)
                        .chain(["from", "to", "all", "inet", "inet6", "proto"]),
                );
                return Err(self.error(
                    "a protocol (tcp, udp, icmp, icmp6, ip, proto <0..=255>), `from`, `to` or `all`",
                    hint,
                ));
            }
            return Ok(vec![None]);
        }
        self.list("protocols", |p| {
            let Some(t) = p.next() else {
                return Err(p.error("a protocol name or number 0..=255", None));
            };
            if let Ok(n) = t.text.parse::<u8>() {
                return Ok(Some(n));
            }
            match PROTOCOLS
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&t.text))
            {
                Some((_, v)) => Ok(*v),
                None => Err(p.error_at(
                    p.at - 1,
                    "a protocol name (tcp, udp, icmp, icmp6, gre, esp, ah, sctp, ip) or number 0..=255",
                    suggest(&t.text, PROTOCOLS.iter().map(|(n, _)| *n)),
                )),
            }
        })
    }

    /// `any`, an address or a prefix; fixes the rule's family.
    fn address(
        &mut self,
        family: &mut Option<(Family, String)>,
    ) -> Result<Option<Prefix>, ParseError> {
        let at = self.at;
        let Some(t) = self.next() else {
            return Err(self.error("an address: any, 10.0.0.0/8, 192.0.2.1, fd00::/8", None));
        };
        if t.text.eq_ignore_ascii_case("any") {
            return Ok(None);
        }
        let net: IpNet = match t.text.parse::<IpNet>() {
            Ok(n) => n,
            Err(_) => match t.text.parse::<IpAddr>() {
                Ok(a) => IpNet::from(a),
                Err(_) => {
                    return Err(self.error_at(
                        at,
                        "an address: any, 10.0.0.0/8, 192.0.2.1, fd00::/8",
                        suggest(&t.text, ["any"]),
                    ));
                }
            },
        };
        if net.trunc() != net {
            return Err(self.error_at(
                at,
                "a prefix without host bits",
                Some(format!("did you mean `{}`?", net.trunc())),
            ));
        }
        let (fam, bits) = addr_bits(net.addr());
        match family {
            Some((f, why)) if *f != fam => {
                let want = if *f == Family::V4 { "IPv4" } else { "IPv6" };
                return Err(self.error_at(
                    at,
                    format!("an {want} address (the rule is {want} because of `{why}`)"),
                    None,
                ));
            }
            Some(_) => {}
            None => *family = Some((fam, t.text.clone())),
        }
        Ok(Some(Prefix {
            family: fam,
            bits,
            len: net.prefix_len(),
        }))
    }

    fn port(&mut self) -> Result<u16, ParseError> {
        let at = self.at;
        let t = self.next().map(|t| t.text).unwrap_or_default();
        if let Ok(n) = t.parse::<u16>() {
            return Ok(n);
        }
        if let Some((_, n)) = PORT_NAMES.iter().find(|(w, _)| w.eq_ignore_ascii_case(&t)) {
            return Ok(*n);
        }
        Err(self.error_at(
            at,
            "a port 0..=65535 or a range like 1000-2000",
            suggest(&t, PORT_NAMES.iter().map(|(w, _)| *w)),
        ))
    }

    /// `80`, `1000-2000`, `1000:2000` (one token), or a name.
    fn port_item(&mut self) -> Result<(u16, u16), ParseError> {
        let at = self.at;
        let Some(text) = self.peek().map(str::to_string) else {
            return Err(self.error("a port 0..=65535 or a range like 1000-2000", None));
        };
        if let Some((lo, hi)) = text.split_once(['-', ':'])
            && let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>())
        {
            self.at += 1;
            if lo > hi {
                return Err(self.error_at(
                    at,
                    "a range whose low end is not above its high end",
                    Some(format!("did you mean `{hi}-{lo}`?")),
                ));
            }
            return Ok((lo, hi));
        }
        let p = self.port()?;
        Ok((p, p))
    }

    /// `80,443,1000-2000` or `{ 80 443 }`.
    fn ports(&mut self) -> Result<Vec<(u16, u16)>, ParseError> {
        if self.peek() == Some("{") {
            return self.list("ports", Self::port_item);
        }
        let mut v = vec![self.port_item()?];
        while self.eat(",") {
            v.push(self.port_item()?);
        }
        Ok(v)
    }

    fn icmp(&mut self, spec: &mut Spec, v6: bool) -> Result<(), ParseError> {
        let kw_at = self.at;
        self.at += 1;
        if !spec.icmp.is_empty() {
            return Err(self.error_at(kw_at, "one ICMP type option per rule", None));
        }
        let names = if v6 { ICMP6_TYPES } else { ICMP4_TYPES };
        let types = self.list("ICMP types", |p| {
            let at = p.at;
            let t = p.next().map(|t| t.text).unwrap_or_default();
            if let Ok(n) = t.parse::<u8>() {
                return Ok(n);
            }
            names
                .iter()
                .find(|(w, _)| w.eq_ignore_ascii_case(&t))
                .map(|(_, n)| *n)
                .ok_or_else(|| {
                    p.error_at(
                        at,
                        format!(
                            "an {} type name (echoreq, echorep, unreach, timex, ...) or number 0..=255",
                            if v6 { "ICMPv6" } else { "ICMP" }
                        ),
                        suggest(&t, names.iter().map(|(w, _)| *w)),
                    )
                })
        })?;
        let code = if self.eat("code") {
            let at = self.at;
            let t = self.next().map(|t| t.text).unwrap_or_default();
            Some(
                t.parse::<u8>()
                    .map_err(|_| self.error_at(at, "an ICMP code 0..=255", None))?,
            )
        } else {
            None
        };
        spec.icmp = types.into_iter().map(|t| (t, code)).collect();
        spec.icmp_v6 = v6;
        Ok(())
    }

    fn flags(&mut self) -> Result<Option<(u8, u8)>, ParseError> {
        let at = self.at;
        let Some(t) = self.next().map(|t| t.text) else {
            return Err(self.error("TCP flags like S/SA, or `any`", None));
        };
        if t.eq_ignore_ascii_case("any") {
            return Ok(None);
        }
        let (set, mask) = match t.split_once('/') {
            Some((s, m)) => (s, m),
            None => (t.as_str(), "FSRPAUEC"),
        };
        let parse = |s: &str| -> Option<TcpFlags> {
            if s.is_empty() {
                Some(TcpFlags::empty())
            } else if s.chars().all(|c| c.is_ascii_uppercase()) {
                s.parse().ok()
            } else {
                None
            }
        };
        let (Some(set), Some(mask)) = (parse(set), parse(mask)) else {
            return Err(self.error_at(
                at,
                "TCP flags like S/SA (letters FSRPAUEC: set/checked), or `any`",
                None,
            ));
        };
        if mask.is_empty() || !mask.contains(set) {
            return Err(self.error_at(
                at,
                "flags whose set part is within the checked part (e.g. S/SA)",
                None,
            ));
        }
        Ok(Some((set.bits(), mask.bits())))
    }

    /// Cross-field checks: ports need TCP/UDP, ICMP types need the ICMP
    /// protocol of the family, flags need TCP.
    fn check(&self, spec: &mut Spec) -> Result<(), ParseError> {
        let err = |expected: &str, hint: Option<&str>| ParseError {
            line: self.line,
            col: 1,
            found: self
                .tokens
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            expected: expected.to_string(),
            hint: hint.map(str::to_string),
        };
        let only = |allowed: &[u8]| {
            spec.protos
                .iter()
                .all(|p| p.is_some_and(|p| allowed.contains(&p)))
        };
        if (!spec.src_ports.is_empty() || !spec.dst_ports.is_empty())
            && !only(&[PROTO_TCP, PROTO_UDP])
        {
            return Err(err(
                "ports only on tcp or udp rules",
                Some("write `tcp`, `udp` or `{ tcp udp }` after the action"),
            ));
        }
        if spec.flags.is_some() && !only(&[PROTO_TCP]) {
            return Err(err(
                "flags only on tcp rules",
                Some("write `tcp` after the action"),
            ));
        }
        if !spec.icmp.is_empty() {
            let (proto, word) = if spec.icmp_v6 {
                (PROTO_ICMP6, "icmp6")
            } else {
                (PROTO_ICMP, "icmp")
            };
            if !only(&[proto]) {
                return Err(err(
                    &format!(
                        "icmp-type only on `icmp` rules, icmp6-type only on `icmp6` rules (this option needs `{word}`)"
                    ),
                    None,
                ));
            }
        }
        // The protocol fixes the family for ICMP.
        for p in &spec.protos {
            let fam = match p {
                Some(PROTO_ICMP) => Family::V4,
                Some(PROTO_ICMP6) => Family::V6,
                _ => continue,
            };
            match &spec.family {
                Some((f, why)) if *f != fam => {
                    return Err(err(
                        &format!(
                            "{} with an {} rule (because of `{why}`)",
                            if fam == Family::V4 { "icmp" } else { "icmp6" },
                            if *f == Family::V4 { "IPv4" } else { "IPv6" }
                        ),
                        Some("ICMP is IPv4's, ICMPv6 is IPv6's"),
                    ));
                }
                _ if spec.protos.len() == 1 => {
                    spec.family =
                        Some((fam, if fam == Family::V4 { "icmp" } else { "icmp6" }.into()))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// One alternative per combination of the lists.
fn expand(spec: &Spec) -> Vec<Match> {
    let icmp: Vec<(Option<u8>, Option<u8>)> = if spec.icmp.is_empty() {
        vec![(None, None)]
    } else {
        spec.icmp.iter().map(|&(t, c)| (Some(t), c)).collect()
    };
    let mut out = Vec::new();
    for proto in &spec.protos {
        // `{ icmp icmp6 }` in one rule: each protocol keeps its family.
        let family = match proto {
            Some(PROTO_ICMP) => Some(Family::V4),
            Some(PROTO_ICMP6) => Some(Family::V6),
            _ => spec.family.as_ref().map(|f| f.0),
        };
        for src in &spec.srcs {
            for dst in &spec.dsts {
                for &(icmp_type, icmp_code) in &icmp {
                    out.push(Match {
                        family,
                        proto: *proto,
                        src: *src,
                        dst: *dst,
                        src_ports: spec.src_ports.clone(),
                        dst_ports: spec.dst_ports.clone(),
                        icmp_type,
                        icmp_code,
                        flags: spec.flags,
                    });
                    if out.len() > MAX_EXPANSION {
                        return out;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Rule {
        parse_line(line, 1, "t:1").unwrap().unwrap()
    }

    fn err(line: &str) -> ParseError {
        parse_line(line, 7, "t:7").unwrap_err()
    }

    #[test]
    fn parses_the_issue_examples() {
        let r = one("allow tcp from 10.0.0.0/8 to any port 80,443");
        assert_eq!(r.action, Action::Allow);
        let m = &r.alternatives[0];
        assert_eq!(m.proto, Some(6));
        assert_eq!(m.family, Some(Family::V4));
        assert_eq!(m.src.unwrap().len, 8);
        assert_eq!(m.dst, None);
        assert_eq!(m.dst_ports, vec![(80, 80), (443, 443)]);
        let r = one("deny udp from any to 192.0.2.0/24 port 1000-2000 # comment");
        assert_eq!(r.action, Action::Deny);
        assert_eq!(r.alternatives[0].dst_ports, vec![(1000, 2000)]);
        assert_eq!(r.text, "deny udp from any to 192.0.2.0/24 port 1000-2000");
    }

    #[test]
    fn parses_options_lists_and_families() {
        let r = one(
            "pass tcp from any port 1024:65535 to fd00::/8 port { 22 https } flags S/SA keep state",
        );
        let m = &r.alternatives[0];
        assert_eq!(m.family, Some(Family::V6));
        assert_eq!(m.src_ports, vec![(1024, 65535)]);
        assert_eq!(m.dst_ports, vec![(22, 22), (443, 443)]);
        assert_eq!(m.flags, Some((0x02, 0x12)));
        assert_eq!(r.keep_state, Some(true));
        let r = one("allow icmp from any to any icmp-type { echoreq, unreach } code 0");
        assert_eq!(r.alternatives.len(), 2);
        assert_eq!(r.alternatives[1].icmp_type, Some(3));
        assert_eq!(r.alternatives[1].icmp_code, Some(0));
        assert_eq!(r.alternatives[0].family, Some(Family::V4));
        let r = one("block { tcp udp } from { 10.0.0.0/8 192.168.0.0/16 } to any port 53");
        assert_eq!(r.alternatives.len(), 4);
        let r = one("allow proto 47 all");
        assert_eq!(r.alternatives[0].proto, Some(47));
        assert_eq!(r.alternatives[0].family, None);
        let r = one("deny inet6 all no state");
        assert_eq!(r.alternatives[0].family, Some(Family::V6));
        assert_eq!(r.keep_state, Some(false));
        let r = one("allow tcp all flags S");
        assert_eq!(r.alternatives[0].flags, Some((0x02, 0xff)));
        let r = one("allow icmp6 all icmp6-type neighbrsol");
        assert_eq!(r.alternatives[0].icmp_type, Some(135));
        assert!(parse_line("   # only a comment", 1, "x").unwrap().is_none());
    }

    #[test]
    fn errors_say_where_what_and_what_was_expected() {
        let e = err("alow tcp from any to any");
        assert_eq!((e.line, e.col, e.found.as_str()), (7, 1, "alow"));
        assert_eq!(e.hint.as_deref(), Some("did you mean `allow`?"));
        let e = err("allow tcp form any");
        assert_eq!((e.col, e.found.as_str()), (11, "form"));
        assert_eq!(e.hint.as_deref(), Some("did you mean `from`?"));
        let e = err("allow tpc from any");
        assert_eq!(e.hint.as_deref(), Some("did you mean `tcp`?"));
        let e = err("allow tcp from 10.0.0.1/8 to any");
        assert_eq!(e.hint.as_deref(), Some("did you mean `10.0.0.0/8`?"));
        let e = err("allow tcp from 10.0.0.0/8 to fd00::/8");
        assert_eq!(e.col, 30);
        assert!(e.expected.contains("IPv4"), "{e}");
        let e = err("allow tcp from any to any port 2000-1000");
        assert_eq!(e.hint.as_deref(), Some("did you mean `1000-2000`?"));
        let e = err("allow tcp from any to any port");
        assert_eq!((e.col, e.found.as_str()), (31, ""));
        assert!(e.to_string().contains("rule ends early"), "{e}");
        let e = err("allow from any to any port 80");
        assert!(e.expected.contains("tcp or udp"), "{e}");
        let e = err("allow udp all flags S/SA");
        assert!(e.expected.contains("flags only on tcp"), "{e}");
        let e = err("allow tcp all icmp-type echoreq");
        assert!(e.expected.contains("icmp-type"), "{e}");
        let e = err("allow icmp all icmp-type echorequest");
        assert_eq!(e.hint.as_deref(), Some("did you mean `echo-request`?"));
        let e = err("allow tcp all flgas S/SA");
        assert_eq!(e.hint.as_deref(), Some("did you mean `flags`?"));
        let e = err("allow tcp all flags SA/S");
        assert!(e.expected.contains("within"), "{e}");
        let e = err("deny tcp all keep state");
        assert!(e.expected.contains("deny"), "{e}");
        let e = err("allow inet icmp6 all");
        assert!(e.expected.contains("icmp6"), "{e}");
        let e = err("allow tcp from { 10.0.0.0/8");
        assert!(e.expected.contains("`}`"), "{e}");
        let e = err("pass quick all");
        assert!(e.hint.unwrap().contains("first-match"));
    }

    #[test]
    fn matches_fields() {
        let r = one("allow tcp from 10.0.0.0/8 to any port 80 flags S/SA");
        let mut f = Fields {
            src: addr_bits("10.1.2.3".parse().unwrap()).1,
            dst: addr_bits("192.0.2.1".parse().unwrap()).1,
            proto: 6,
            l4: true,
            sport: 1234,
            dport: 80,
            tcp_flags: 0x02,
            ..Fields::default()
        };
        assert!(r.matches(&f));
        f.tcp_flags = 0x12;
        assert!(!r.matches(&f));
        f.tcp_flags = 0x02 | 0x08; // PSH is not checked
        assert!(r.matches(&f));
        f.l4 = false; // a non-first fragment has no ports
        assert!(!r.matches(&f));
        f.l4 = true;
        f.v6 = true;
        assert!(!r.matches(&f));
    }
}
