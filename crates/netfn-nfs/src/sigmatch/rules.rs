//! The rules file of `sigmatch`: a subset of Suricata's rule syntax.
//!
//! ```text
//! # comment
//! alert tcp any any -> any 80 (msg:"GET admin"; content:"GET /admin"; nocase; sid:1001;)
//! drop udp any any -> any 53 (msg:"example.com query"; content:"|07|example"; sid:1002; rev:2;)
//! pass tcp 10.0.0.0/8 any <> any [80,443] (sid:1003;)
//! ```
//!
//! One rule per line: `action proto src sport dir dst dport (options)`.
//! * action: `alert`, `drop` (alert and drop), `pass` (no alert, no drop;
//!   in stream mode the rest of the connection passes uninspected).
//! * proto: `tcp`, `udp`, `icmp` (ICMP and ICMPv6), `ip` (any).
//! * addresses: `any`, an address, a prefix, `!x`, or a list `[a, b, !c]`
//!   (in one of the positive entries, if any, and in none of the negated).
//! * ports: `any`, `80`, `1024:65535`, `1024:`, `:1023`, `!x`, lists; only
//!   `any` for `icmp` and `ip` rules.
//! * dir: `->`, or `<>` for both directions.
//! * options (each ends with `;`): `msg:"text"`; `content:"..."` with
//!   `|0d 0a|` hex bytes and `\"`, `\;`, `\\`, `\|` escapes (at most one
//!   per rule); `nocase` (for the content before it); `offset:N` (the
//!   match starts at or after byte N of the payload or stream); `depth:N`
//!   (it ends within N bytes of `offset`); `sid:N` (required, unique);
//!   `rev:N`; `classtype`, `reference`, `metadata`, `priority` are accepted
//!   and ignored. A rule without `content` matches on its header alone.
//!
//! Errors say `line:col: what was wrong, what was expected`; the NF puts
//! the file's path in front.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Alert,
    Drop,
    Pass,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Drop => "drop",
            Action::Pass => "pass",
        }
    }
}

/// The protocol a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Ip,
    Tcp,
    Udp,
    Icmp,
}

impl Proto {
    pub fn matches(self, protocol: u8) -> bool {
        match self {
            Proto::Ip => true,
            Proto::Tcp => protocol == 6,
            Proto::Udp => protocol == 17,
            Proto::Icmp => protocol == 1 || protocol == 58,
        }
    }
}

/// A set of addresses: in one of `include` (any address if it is empty)
/// and in none of `exclude`. Prefixes are kept as inclusive ranges
/// (`is_v6`, first, last), so a test is a few compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddrSet {
    pub include: Vec<(bool, u128, u128)>,
    pub exclude: Vec<(bool, u128, u128)>,
}

fn addr_bits(addr: IpAddr) -> (bool, u128) {
    match addr {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn net_range(net: IpNet) -> (bool, u128, u128) {
    let (v6, lo) = addr_bits(net.network());
    (v6, lo, addr_bits(net.broadcast()).1)
}

impl AddrSet {
    pub fn contains(&self, addr: IpAddr) -> bool {
        let (v6, x) = addr_bits(addr);
        let inside = |r: &(bool, u128, u128)| r.0 == v6 && r.1 <= x && x <= r.2;
        (self.include.is_empty() || self.include.iter().any(inside))
            && !self.exclude.iter().any(inside)
    }
}

/// A set of ports, like [`AddrSet`], of inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSet {
    pub include: Vec<(u16, u16)>,
    pub exclude: Vec<(u16, u16)>,
}

impl PortSet {
    pub fn contains(&self, port: u16) -> bool {
        let inside = |r: &(u16, u16)| (r.0..=r.1).contains(&port);
        (self.include.is_empty() || self.include.iter().any(inside))
            && !self.exclude.iter().any(inside)
    }

    fn is_any(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

/// The byte pattern of a rule and where it may match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub bytes: Vec<u8>,
    pub nocase: bool,
    pub offset: u64,
    pub depth: Option<u64>,
}

impl Content {
    /// Whether a match ending at `end` (payload or stream offset) is where
    /// the rule allows it.
    pub fn placed(&self, end: u64) -> bool {
        let start = end - self.bytes.len() as u64;
        start >= self.offset && self.depth.is_none_or(|d| end <= self.offset + d)
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// 1-based line in the file.
    pub line: usize,
    pub action: Action,
    pub proto: Proto,
    pub src: AddrSet,
    pub sport: PortSet,
    pub dst: AddrSet,
    pub dport: PortSet,
    /// `<>`: the header matches in either direction.
    pub both_ways: bool,
    pub msg: String,
    pub sid: u32,
    pub rev: u32,
    pub content: Option<Content>,
}

impl Rule {
    /// Whether the header part matches a packet (or stream direction).
    pub fn header_matches(&self, key: &netfn_core::FlowKey) -> bool {
        if !self.proto.matches(key.protocol) {
            return false;
        }
        let one_way = |src: IpAddr, sport: u16, dst: IpAddr, dport: u16| {
            self.src.contains(src)
                && self.dst.contains(dst)
                && self.sport.contains(sport)
                && self.dport.contains(dport)
        };
        one_way(key.src, key.src_port, key.dst, key.dst_port)
            || (self.both_ways && one_way(key.dst, key.dst_port, key.src, key.src_port))
    }
}

/// A rules file that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for RulesError {}

/// Parses a whole rules file.
pub fn parse(text: &str) -> Result<Vec<Rule>, RulesError> {
    let mut rules: Vec<Rule> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut p = Line {
            text: line,
            at: 0,
            line: i + 1,
        };
        p.skip_space();
        if p.rest().is_empty() || p.rest().starts_with('#') {
            continue;
        }
        let (rule, sid_col) = p.rule()?;
        if let Some(other) = rules.iter().find(|r| r.sid == rule.sid) {
            return Err(RulesError {
                line: i + 1,
                col: sid_col,
                message: format!(
                    "sid {} is already used on line {}; expected a unique sid",
                    rule.sid, other.line
                ),
            });
        }
        rules.push(rule);
    }
    Ok(rules)
}

/// A cursor over one line.
struct Line<'a> {
    text: &'a str,
    at: usize,
    line: usize,
}

impl<'a> Line<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn err_at<T>(&self, at: usize, message: String) -> Result<T, RulesError> {
        Err(RulesError {
            line: self.line,
            col: self.text[..at].chars().count() + 1,
            message,
        })
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, RulesError> {
        self.err_at(self.at, message.into())
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    /// The next whitespace-separated word (a list in brackets is one word,
    /// spaces inside included).
    fn word(&mut self, what: &str) -> Result<(usize, &'a str), RulesError> {
        self.skip_space();
        let start = self.at;
        let rest = self.rest();
        let mut depth = 0i32;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                '(' if depth == 0 => {
                    end = i;
                    break;
                }
                c if c.is_whitespace() && depth <= 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        if end == 0 {
            return self.err(format!("expected {what}, found the end of the line"));
        }
        self.at += end;
        Ok((start, &rest[..end]))
    }

    fn rule(&mut self) -> Result<(Rule, usize), RulesError> {
        let (at, w) = self.word("an action")?;
        let action = match w {
            "alert" => Action::Alert,
            "drop" => Action::Drop,
            "pass" => Action::Pass,
            _ => {
                return self.err_at(
                    at,
                    format!("unknown action `{w}`; expected alert, drop or pass"),
                );
            }
        };
        let (at, w) = self.word("a protocol")?;
        let proto = match w {
            "ip" => Proto::Ip,
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "icmp" => Proto::Icmp,
            _ => {
                return self.err_at(
                    at,
                    format!("unknown protocol `{w}`; expected tcp, udp, icmp or ip"),
                );
            }
        };
        let src = self.addrs()?;
        let sport = self.ports(proto)?;
        let (at, w) = self.word("a direction")?;
        let both_ways = match w {
            "->" => false,
            "<>" => true,
            _ => return self.err_at(at, format!("expected `->` or `<>`, found `{w}`")),
        };
        let dst = self.addrs()?;
        let dport = self.ports(proto)?;
        let mut rule = Rule {
            line: self.line,
            action,
            proto,
            src,
            sport,
            dst,
            dport,
            both_ways,
            msg: String::new(),
            sid: 0,
            rev: 0,
            content: None,
        };
        self.skip_space();
        if !self.rest().starts_with('(') {
            return self.err("expected `(` and the rule's options");
        }
        let open = self.at;
        self.at += 1;
        let sid_col = self.options(&mut rule)?;
        let Some(sid_col) = sid_col else {
            return self.err_at(
                open,
                "the rule has no `sid`; expected `sid:<number>;`".into(),
            );
        };
        self.skip_space();
        if !self.rest().is_empty() {
            return self.err("unexpected text after the rule's `)`; expected the end of the line");
        }
        Ok((rule, sid_col))
    }

    /// Options up to `)`; returns the column of the sid.
    fn options(&mut self, rule: &mut Rule) -> Result<Option<usize>, RulesError> {
        let mut sid_col = None;
        loop {
            self.skip_space();
            if self.rest().starts_with(')') {
                self.at += 1;
                return Ok(sid_col);
            }
            if self.rest().is_empty() {
                return self.err("expected an option or `)`, found the end of the line");
            }
            let start = self.at;
            let rest = self.rest();
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..name_len];
            if name.is_empty() {
                return self.err(format!(
                    "expected an option name, found `{}`",
                    rest.chars().next().unwrap_or(' ')
                ));
            }
            self.at += name_len;
            self.skip_space();
            let has_value = self.rest().starts_with(':');
            if has_value {
                self.at += 1;
                self.skip_space();
            }
            let value_at = self.at;
            match name {
                "nocase" => {
                    self.no_value(name, has_value)?;
                    match rule.content.as_mut() {
                        Some(c) => c.nocase = true,
                        None => {
                            return self.err_at(start, "`nocase` must follow a `content`".into());
                        }
                    }
                }
                "msg" => {
                    self.need_value(name, has_value)?;
                    rule.msg = self.quoted(false)?.0;
                }
                "content" => {
                    self.need_value(name, has_value)?;
                    if rule.content.is_some() {
                        return self.err_at(
                            start,
                            "a second `content`: only one content per rule is supported".into(),
                        );
                    }
                    if self.rest().starts_with('!') {
                        return self
                            .err("negated content (`!\"...\"`) is not supported; expected `\"`");
                    }
                    let (_, bytes) = self.quoted(true)?;
                    if bytes.is_empty() {
                        return self
                            .err_at(value_at, "empty content; expected at least one byte".into());
                    }
                    rule.content = Some(Content {
                        bytes,
                        nocase: false,
                        offset: 0,
                        depth: None,
                    });
                }
                "offset" | "depth" => {
                    self.need_value(name, has_value)?;
                    let n = self.number(name, 0, u64::from(u32::MAX))?;
                    let Some(c) = rule.content.as_mut() else {
                        return self.err_at(start, format!("`{name}` must follow a `content`"));
                    };
                    if name == "offset" {
                        c.offset = n;
                    } else if n == 0 {
                        return self.err_at(value_at, "depth 0; expected 1 or more".into());
                    } else {
                        c.depth = Some(n);
                    }
                }
                "sid" => {
                    self.need_value(name, has_value)?;
                    rule.sid = self.number(name, 1, u64::from(u32::MAX))? as u32;
                    sid_col = Some(self.text[..value_at].chars().count() + 1);
                }
                "rev" => {
                    self.need_value(name, has_value)?;
                    rule.rev = self.number(name, 0, u64::from(u32::MAX))? as u32;
                }
                "classtype" | "reference" | "metadata" | "priority" => {
                    self.need_value(name, has_value)?;
                    let rest = self.rest();
                    match rest.find(';') {
                        Some(end) => self.at += end,
                        None => return self.err("expected `;` after the option"),
                    }
                }
                _ => {
                    return self.err_at(
                        start,
                        format!(
                            "unknown option `{name}`; expected msg, content, nocase, offset, depth, sid, rev (or classtype, reference, metadata, priority, which are ignored)"
                        ),
                    );
                }
            }
            self.skip_space();
            if !self.rest().starts_with(';') {
                return self.err(format!("expected `;` after `{name}`"));
            }
            self.at += 1;
        }
    }

    fn need_value(&self, name: &str, has: bool) -> Result<(), RulesError> {
        if has {
            Ok(())
        } else {
            self.err(format!(
                "`{name}` needs a value; expected `{name}:<value>;`"
            ))
        }
    }

    fn no_value(&self, name: &str, has: bool) -> Result<(), RulesError> {
        if has {
            self.err(format!("`{name}` takes no value; expected `{name};`"))
        } else {
            Ok(())
        }
    }

    fn number(&mut self, name: &str, min: u64, max: u64) -> Result<u64, RulesError> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        match rest[..len].parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => {
                self.at += len;
                Ok(n)
            }
            _ => self.err(format!(
                "`{name}` needs a number from {min} to {max}, found `{}`",
                rest.split([';', ' ']).next().unwrap_or("")
            )),
        }
    }

    /// A quoted string; with `hex`, `|..|` sections are bytes in hex.
    /// Returns the text (for msg) and the bytes.
    fn quoted(&mut self, hex: bool) -> Result<(String, Vec<u8>), RulesError> {
        if !self.rest().starts_with('"') {
            return self.err("expected a quoted string");
        }
        let open = self.at;
        self.at += 1;
        let mut bytes = Vec::new();
        let mut in_hex = false;
        let mut nibble: Option<(usize, u8)> = None;
        loop {
            let Some(c) = self.rest().chars().next() else {
                return self.err_at(open, "the string is not closed; expected `\"`".into());
            };
            let here = self.at;
            self.at += c.len_utf8();
            if in_hex {
                match c {
                    '|' => {
                        if let Some((at, _)) = nibble {
                            return self
                                .err_at(at, "a lone hex digit; expected pairs like `0d`".into());
                        }
                        in_hex = false;
                    }
                    c if c.is_ascii_whitespace() => {}
                    c if c.is_ascii_hexdigit() => {
                        let v = c.to_digit(16).unwrap_or(0) as u8;
                        match nibble.take() {
                            Some((_, hi)) => bytes.push(hi << 4 | v),
                            None => nibble = Some((here, v)),
                        }
                    }
                    '"' => {
                        return self
                            .err_at(here, "the hex bytes are not closed; expected `|`".into());
                    }
                    _ => {
                        return self.err_at(
                            here,
                            format!("`{c}` is not a hex digit; expected bytes like `|0d 0a|`"),
                        );
                    }
                }
                continue;
            }
            match c {
                '"' => break,
                '\\' => {
                    let Some(e) = self.rest().chars().next() else {
                        return self.err_at(here, "a `\\` at the end of the line".into());
                    };
                    if !matches!(e, '"' | '\\' | ';' | '|') {
                        return self.err_at(
                            here,
                            format!(
                                "unknown escape `\\{e}`; expected `\\\"`, `\\\\`, `\\;` or `\\|`"
                            ),
                        );
                    }
                    self.at += 1;
                    bytes.push(e as u8);
                }
                '|' if hex => in_hex = true,
                ';' if hex => {
                    return self.err_at(
                        here,
                        "a `;` in content must be escaped (`\\;`) or hex (`|3b|`)".into(),
                    );
                }
                c => {
                    let mut buf = [0; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Ok((text, bytes))
    }

    fn addrs(&mut self) -> Result<AddrSet, RulesError> {
        let (at, w) = self.word("an address (`any`, an address, a prefix or a list)")?;
        let mut set = AddrSet::default();
        self.addr_item(at, w, false, &mut set)?;
        Ok(set)
    }

    fn addr_item(
        &self,
        at: usize,
        w: &str,
        neg: bool,
        set: &mut AddrSet,
    ) -> Result<(), RulesError> {
        let w_trim = w.trim();
        let at = at + (w.len() - w.trim_start().len());
        if let Some(inner) = w_trim.strip_prefix('!') {
            if neg {
                return self.err_at(at, "nested negation is not supported".into());
            }
            return self.addr_item(at + 1, inner, true, set);
        }
        if let Some(inner) = w_trim.strip_prefix('[') {
            let Some(inner) = inner.strip_suffix(']') else {
                return self.err_at(at, "the list is not closed; expected `]`".into());
            };
            let mut off = at + 1;
            for part in inner.split(',') {
                if part.trim().is_empty() {
                    return self.err_at(off, "an empty list entry; expected an address".into());
                }
                self.addr_item(off, part, neg, set)?;
                off += part.len() + 1;
            }
            return Ok(());
        }
        if w_trim == "any" {
            if neg {
                return self.err_at(at, "`!any` matches nothing".into());
            }
            return Ok(());
        }
        if w_trim.starts_with('$') {
            return self.err_at(
                at,
                format!("variables like `{w_trim}` are not supported; expected an address, a prefix or `any`"),
            );
        }
        let net = match w_trim.parse::<IpNet>() {
            Ok(n) => n.trunc(),
            Err(_) => match w_trim.parse::<IpAddr>() {
                Ok(a) => IpNet::from(a),
                Err(_) => {
                    return self.err_at(
                        at,
                        format!("`{w_trim}` is not an address; expected `any`, an address, a prefix or a list"),
                    );
                }
            },
        };
        if neg {
            set.exclude.push(net_range(net));
        } else {
            set.include.push(net_range(net));
        }
        Ok(())
    }

    fn ports(&mut self, proto: Proto) -> Result<PortSet, RulesError> {
        let (at, w) = self.word("a port (`any`, a port, a range or a list)")?;
        let mut set = PortSet::default();
        self.port_item(at, w, false, &mut set)?;
        if !set.is_any() && matches!(proto, Proto::Icmp | Proto::Ip) {
            return self.err_at(
                at,
                "ports apply to tcp and udp rules only; expected `any`".into(),
            );
        }
        Ok(set)
    }

    fn port_item(
        &self,
        at: usize,
        w: &str,
        neg: bool,
        set: &mut PortSet,
    ) -> Result<(), RulesError> {
        let w_trim = w.trim();
        let at = at + (w.len() - w.trim_start().len());
        if let Some(inner) = w_trim.strip_prefix('!') {
            if neg {
                return self.err_at(at, "nested negation is not supported".into());
            }
            return self.port_item(at + 1, inner, true, set);
        }
        if let Some(inner) = w_trim.strip_prefix('[') {
            let Some(inner) = inner.strip_suffix(']') else {
                return self.err_at(at, "the list is not closed; expected `]`".into());
            };
            let mut off = at + 1;
            for part in inner.split(',') {
                if part.trim().is_empty() {
                    return self.err_at(off, "an empty list entry; expected a port".into());
                }
                self.port_item(off, part, neg, set)?;
                off += part.len() + 1;
            }
            return Ok(());
        }
        if w_trim == "any" {
            if neg {
                return self.err_at(at, "`!any` matches nothing".into());
            }
            return Ok(());
        }
        let bad = || {
            self.err_at(
                at,
                format!(
                    "`{w_trim}` is not a port; expected `any`, 0..=65535, a range `lo:hi` or a list"
                ),
            )
        };
        let port = |s: &str, dflt: u16| -> Option<u16> {
            if s.is_empty() {
                Some(dflt)
            } else {
                s.parse().ok()
            }
        };
        let range = match w_trim.split_once(':') {
            Some((lo, hi)) if !(lo.is_empty() && hi.is_empty()) => {
                match (port(lo, 0), port(hi, u16::MAX)) {
                    (Some(lo), Some(hi)) if lo <= hi => (lo, hi),
                    (Some(_), Some(_)) => {
                        return self.err_at(
                            at,
                            format!("the range `{w_trim}` is empty; expected lo <= hi"),
                        );
                    }
                    _ => return bad(),
                }
            }
            Some(_) => return bad(),
            None => match w_trim.parse::<u16>() {
                Ok(p) => (p, p),
                Err(_) => return bad(),
            },
        };
        if neg {
            set.exclude.push(range);
        } else {
            set.include.push(range);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_families_stay_apart() {
        let r = &parse("alert ip [::/0, !fd00::/8] any -> 10.0.0.0/8 any (sid:1;)").unwrap()[0];
        assert!(r.src.contains("2001:db8::1".parse().unwrap()));
        assert!(!r.src.contains("fd00::1".parse().unwrap()));
        assert!(!r.src.contains([10, 0, 0, 1].into()), "::/0 is IPv6 only");
        assert!(r.dst.contains([10, 255, 255, 255].into()));
        assert!(!r.dst.contains([11, 0, 0, 0].into()));
        assert!(!r.dst.contains("::ffff:10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn parses_the_examples() {
        let rules = parse(
            "# comment\n\
             alert tcp any any -> any 80 (msg:\"GET admin\"; content:\"GET /admin\"; nocase; sid:1001;)\n\
             \n\
             drop udp any any -> any 53 (content:\"|07|example\"; sid:1002; rev:3;)\n\
             pass tcp [10.0.0.0/8, !10.1.0.0/16] !22 <> any [80,443,8000:8080] (sid:3; classtype:x;)\n",
        )
        .unwrap();
        assert_eq!(rules.len(), 3);
        let r = &rules[0];
        assert_eq!(
            (r.action, r.proto, r.sid, r.line),
            (Action::Alert, Proto::Tcp, 1001, 2)
        );
        assert_eq!(r.msg, "GET admin");
        let c = r.content.as_ref().unwrap();
        assert_eq!((c.bytes.as_slice(), c.nocase), (&b"GET /admin"[..], true));
        assert!(r.dport.contains(80) && !r.dport.contains(81) && r.sport.contains(1));
        let c = rules[1].content.as_ref().unwrap();
        assert_eq!(c.bytes, b"\x07example");
        assert_eq!(rules[1].rev, 3);
        let p = &rules[2];
        assert!(p.both_ways);
        assert!(p.src.contains([10, 2, 0, 1].into()));
        assert!(!p.src.contains([10, 1, 0, 1].into()));
        assert!(!p.src.contains([11, 0, 0, 1].into()));
        assert!(!p.sport.contains(22) && p.sport.contains(23));
        assert!(p.dport.contains(8080) && !p.dport.contains(8081));
        assert!(p.content.is_none());
    }

    #[test]
    fn escapes_offset_depth() {
        let r = &parse(r#"alert ip any any -> any any (content:"a\"b\;c\\d\|e|0D 0a|"; offset:2; depth:5; sid:1;)"#)
            .unwrap()[0];
        let c = r.content.as_ref().unwrap();
        assert_eq!(c.bytes, b"a\"b;c\\d|e\r\n");
        assert_eq!((c.offset, c.depth), (2, Some(5)));
        let c = Content {
            bytes: b"ab".to_vec(),
            nocase: false,
            offset: 2,
            depth: Some(3),
        };
        assert!(!c.placed(3)); // starts at 1
        assert!(c.placed(4) && c.placed(5));
        assert!(!c.placed(6)); // ends past 2 + 3
    }

    #[test]
    fn errors_say_where_and_what() {
        let err = |text: &str| parse(text).unwrap_err();
        let cases: &[(&str, usize, usize, &str)] = &[
            (
                "block tcp any any -> any any (sid:1;)",
                1,
                1,
                "unknown action `block`",
            ),
            (
                "alert sctp any any -> any any (sid:1;)",
                1,
                7,
                "expected tcp, udp, icmp or ip",
            ),
            (
                "alert tcp 10.0.0.300 any -> any any (sid:1;)",
                1,
                11,
                "not an address",
            ),
            (
                "alert tcp $HOME_NET any -> any any (sid:1;)",
                1,
                11,
                "variables",
            ),
            (
                "alert tcp any 99999 -> any any (sid:1;)",
                1,
                15,
                "not a port",
            ),
            ("alert tcp any 90:80 -> any any (sid:1;)", 1, 15, "is empty"),
            (
                "alert icmp any 80 -> any any (sid:1;)",
                1,
                16,
                "ports apply to tcp and udp",
            ),
            (
                "alert tcp any any => any any (sid:1;)",
                1,
                19,
                "expected `->` or `<>`",
            ),
            ("alert tcp any any -> any any sid:1;", 1, 30, "expected `(`"),
            (
                "alert tcp any any -> any any (msg:\"x\";)",
                1,
                30,
                "no `sid`",
            ),
            (
                "alert tcp any any -> any any (sid:1; foo:2;)",
                1,
                38,
                "unknown option `foo`",
            ),
            (
                "alert tcp any any -> any any (nocase; sid:1;)",
                1,
                31,
                "must follow a `content`",
            ),
            (
                "alert tcp any any -> any any (content:\"|0g|\"; sid:1;)",
                1,
                42,
                "not a hex digit",
            ),
            (
                "alert tcp any any -> any any (content:\"|0|\"; sid:1;)",
                1,
                41,
                "lone hex digit",
            ),
            (
                "alert tcp any any -> any any (content:\"abc; sid:1;)",
                1,
                43,
                "must be escaped",
            ),
            (
                "alert tcp any any -> any any (content:\"a\"; content:\"b\"; sid:1;)",
                1,
                44,
                "only one content",
            ),
            (
                "alert tcp any any -> any any (content:\"\"; sid:1;)",
                1,
                39,
                "empty content",
            ),
            (
                "alert tcp any any -> any any (sid:x;)",
                1,
                35,
                "needs a number",
            ),
            (
                "alert tcp any any -> any any (sid:1)",
                1,
                36,
                "expected `;` after `sid`",
            ),
            (
                "alert tcp any any -> any any (sid:1;) x",
                1,
                39,
                "after the rule's `)`",
            ),
            (
                "alert tcp any any -> any any (sid:1;)\nalert tcp any any -> any any (sid:1;)",
                2,
                35,
                "already used on line 1",
            ),
            (
                "alert tcp any any -> any any (msg:\"x; sid:1;)",
                1,
                35,
                "not closed",
            ),
        ];
        for (text, line, col, what) in cases {
            let e = err(text);
            assert!(e.message.contains(what), "{text}: {e}");
            assert_eq!((e.line, e.col), (*line, *col), "{text}: {e}");
        }
    }
}
