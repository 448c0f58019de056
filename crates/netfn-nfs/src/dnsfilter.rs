//! `dnsfilter`: DNS-based parental control (the DNSFilter module of the
//! FROG parental-control service, thesis ch. 2.5): queries for listed
//! domains and all their subdomains are answered with NXDOMAIN (or
//! REFUSED, or a sinkhole address) or dropped; every query can be logged.
//!
//! **What is inspected.** DNS queries (QR = 0, opcode QUERY, one question)
//! in UDP datagrams to `port` (53), over IPv4 or IPv6, behind up to two
//! VLAN tags; and TCP segments to `port` whose payload starts with a
//! complete 2-byte length prefix and question (RFC 7766 framing; the
//! stream is not reassembled, so a query split across segments passes).
//! Everything else -- other traffic, responses, other opcodes, queries
//! without a question (RFC 7873 cookie refreshes), non-first fragments --
//! passes on output 0 unchanged.
//!
//! **Matching.** The question's name is read with compression pointers
//! (loop-safe, see `netfn_wire::dns`), lowercased (RFC 4343), and each of
//! its suffixes (`a.b.example.com`, `b.example.com`, `example.com`, `com`)
//! is looked up in one hash map of listed names: at most one lookup per
//! label, independent of the list's size. The most specific listed name
//! decides (an allowed `kids.example.com` overrides a blocked
//! `example.com`, and a blocked `ads.example.com` overrides an allowed
//! `example.com`); a name on both lists is allowed. All query types match.
//!
//! **Lists.** `block`/`allow` take names in the graph; `blocklist` and
//! `allowlist` name files with one domain per line (`#` starts a comment;
//! a trailing dot is fine; hosts-file lines `0.0.0.0 name...` are read as
//! their names). A block-list file may be divided into sections by topic
//! (`[adult]`, `[gambling]`, as the thesis' lists organised by topic);
//! `categories` enables some of them (default: all). Errors say
//! `path:line:col: what was wrong, what was expected`.
//!
//! **Actions** on a blocked UDP query (`action`):
//! * `nxdomain` (default) -- the query frame is turned into the response
//!   and sent on **output 1**, back toward the client: MACs, addresses and
//!   ports swapped, VLAN tags kept, the question echoed byte for byte (its
//!   case included), QR/RA set, RD/CD copied, RCODE 3, and an OPT record
//!   (payload 1232, DO copied, no options) if the query had one (RFC 6891
//!   §7). Lengths and checksums are rewritten by the packet builder. No
//!   SOA is included, so resolvers do not cache the answer (RFC 2308 §5);
//! * `refused` -- the same with RCODE 5;
//! * `sinkhole` -- NOERROR with one A (AAAA) record pointing at the first
//!   IPv4 (IPv6) address of `sinkhole`, TTL `ttl`; for other query types,
//!   or without an address of the family, NOERROR with no answer (NODATA);
//! * `drop` -- the query is dropped (`dns-blocked`); the client times out.
//!
//! Blocked TCP queries are always dropped (an in-stream answer would need a
//! proxy). A response that cannot be built (no room in the frame) is
//! dropped as `dns-blocked` and counted in `response_failed`.
//!
//! **Malformed queries** (to `port`, but a header, name or question that
//! does not parse: truncated, a label over 63 bytes, a name over 255, a
//! pointer that does not lead back, more than one question) are counted
//! and, per `malformed`, dropped as `malformed` (default: a filter fails
//! closed) or passed. A first IPv4/IPv6 fragment of a UDP datagram to
//! `port` counts as malformed too (its UDP length runs past the fragment,
//! and the question may be in a later one: fragmenting a query must not
//! be a way around the filter); later fragments carry no UDP header and
//! pass.
//!
//! **Query log** (`log = none|blocked|all`): one JSON line per query in UDP
//! datagrams on **output 2**, through the shared exporter (`export.rs`;
//! flushed every `interval` and when half full):
//!
//! ```text
//! {"type":"dns","ts_ns":0,"client":"10.0.0.1","sport":5353,"proto":"udp",
//!  "name":"www.example.com","qtype":"A","verdict":"blocked","action":"nxdomain",
//!  "rule":"example.com","category":"ads"}
//! ```
//!
//! `verdict` is `passed` (no list matched), `allowed` (the allow list
//! matched; `rule` names the entry) or `blocked`. Names are lowercased and
//! printed as `dig` does, with `\DDD` (JSON-escaped) for other bytes than
//! letters, digits, `-` and `_`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use netfn_core::config::{Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params};
use netfn_core::{Batch, Ctx, DropReason, Nf, Packet, Verdict};
use netfn_wire::dns::{self, CLASS_IN, flags, rcode, rtype};
use netfn_wire::{DnsName, DnsPacket, EthernetFrame, Header, IpProtocol, Tcp, TcpPacket, Udp};

use crate::export::{ExportConfig, JsonExport, JsonLine};
use crate::frame::{SliceWriter, locate_ip, reply_link};

/// Most log datagrams sent from one `process` call.
const PROCESS_BURST: usize = 16;
/// The UDP payload size our OPT record advertises (the DNS flag day 2020
/// value).
const EDNS_PAYLOAD: u16 = 1232;

/// What happens to a blocked query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Nxdomain,
    Refused,
    Sinkhole,
    Drop,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Nxdomain => "nxdomain",
            Action::Refused => "refused",
            Action::Sinkhole => "sinkhole",
            Action::Drop => "drop",
        }
    }
}

/// Which queries are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    None,
    Blocked,
    All,
}

/// One entry of the lists: allowed or blocked, and the block list's
/// section (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    allow: bool,
    category: u16,
}

/// Listed names (lowercased wire form, without the root) and what they
/// say. See the module docs for the matching rules.
#[derive(Debug, Default)]
pub struct DomainLists {
    rules: HashMap<Box<[u8]>, Rule, foldhash::fast::RandomState>,
    /// Section names; index 0 is the unnamed one.
    categories: Vec<Arc<str>>,
}

/// The decision for a name: the rule that matched (if any) and where the
/// matching suffix starts in the name's wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub blocked: bool,
    /// Offset of the matched entry in the lowercased name (`None`: no
    /// entry matched).
    pub rule_at: Option<u8>,
    /// Block-list section of the matched entry (0: none).
    pub category: u16,
}

impl DomainLists {
    pub fn new() -> Self {
        DomainLists {
            rules: HashMap::default(),
            categories: vec![Arc::from("")],
        }
    }

    /// Number of listed names.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Lists `name` (case-insensitively); allowing wins over blocking the
    /// same name.
    pub fn insert(&mut self, name: &DnsName, allow: bool, category: u16) {
        let mut key = *name;
        key.make_ascii_lowercase();
        self.rules
            .entry(key.wire().into())
            .and_modify(|r| {
                if allow && !r.allow {
                    *r = Rule { allow, category };
                }
            })
            .or_insert(Rule { allow, category });
    }

    /// Decides for a lowercased name: the longest listed suffix wins.
    pub fn decide(&self, lowercase: &DnsName) -> Decision {
        let wire = lowercase.wire();
        for suffix in lowercase.suffixes() {
            if let Some(rule) = self.rules.get(suffix) {
                return Decision {
                    blocked: !rule.allow,
                    rule_at: Some((wire.len() - suffix.len()) as u8),
                    category: rule.category,
                };
            }
        }
        Decision {
            blocked: false,
            rule_at: None,
            category: 0,
        }
    }

    fn category_id(&mut self, name: &str) -> u16 {
        match self.categories.iter().position(|c| &**c == name) {
            Some(i) => i as u16,
            None => {
                self.categories.push(Arc::from(name));
                (self.categories.len() - 1) as u16
            }
        }
    }

    /// Reads a list file's text (see the module docs). `enabled` names the
    /// block-list sections to use (empty: all); `seen` collects every
    /// section name found. Errors are `path:line:col: ...`.
    pub fn load(
        &mut self,
        path: &str,
        text: &str,
        allow: bool,
        enabled: &[String],
        seen: &mut Vec<String>,
    ) -> Result<(), String> {
        let mut category = 0u16;
        let mut on = true;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("");
            let at = |col: usize, msg: &str| format!("{path}:{}:{}: {msg}", i + 1, col + 1);
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            if let Some(section) = trimmed.strip_prefix('[') {
                let Some(section) = section.strip_suffix(']') else {
                    return Err(at(indent, "unclosed section header, expected `[name]`"));
                };
                let section = section.trim();
                if allow {
                    return Err(at(
                        indent,
                        "sections are for block lists, an allow list is one domain per line",
                    ));
                }
                if section.is_empty()
                    || !section
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(at(
                        indent + 1,
                        "a section name holds letters, digits, `-` and `_`",
                    ));
                }
                seen.push(section.to_string());
                on = enabled.is_empty() || enabled.iter().any(|c| c == section);
                category = self.category_id(section);
                continue;
            }
            let mut fields = Vec::new();
            let mut offset = 0;
            for word in line.split_whitespace() {
                let col = offset + line[offset..].find(word).unwrap_or(0);
                offset = col + word.len();
                fields.push((col, word));
            }
            // A hosts-file line: an address, then names.
            let names = if fields.len() > 1 && fields[0].1.parse::<IpAddr>().is_ok() {
                &fields[1..]
            } else if fields.len() > 1 {
                return Err(at(
                    fields[1].0,
                    "one domain per line (or `ADDRESS NAME...` as in a hosts file)",
                ));
            } else {
                &fields[..]
            };
            for &(col, word) in names {
                if word.parse::<IpAddr>().is_ok() {
                    continue; // `0.0.0.0 0.0.0.0` in hosts files
                }
                if word.starts_with('*') {
                    return Err(at(
                        col,
                        "no wildcards: a listed domain already covers all its subdomains",
                    ));
                }
                let name = DnsName::from_text(word).map_err(|e| {
                    at(
                        col + e.at,
                        &format!("{}, expected a domain name like `example.com`", e.reason),
                    )
                })?;
                if on {
                    self.insert(&name, allow, category);
                }
            }
        }
        Ok(())
    }
}

/// The configuration of a [`DnsFilter`].
#[derive(Debug, Clone)]
pub struct DnsFilterConfig {
    pub block: Vec<String>,
    pub allow: Vec<String>,
    /// Block-list file (path and contents are read by `from_params`).
    pub blocklist: Option<String>,
    pub allowlist: Option<String>,
    pub categories: Vec<String>,
    pub action: Action,
    pub sinkhole: Vec<IpAddr>,
    /// TTL of sinkhole answers, in seconds.
    pub ttl: u32,
    pub log: LogMode,
    /// Drop (else pass) malformed queries.
    pub drop_malformed: bool,
    pub port: u16,
    pub interval: Duration,
    pub export: ExportConfig,
}

impl Default for DnsFilterConfig {
    fn default() -> Self {
        DnsFilterConfig {
            block: Vec::new(),
            allow: Vec::new(),
            blocklist: None,
            allowlist: None,
            categories: Vec::new(),
            action: Action::Nxdomain,
            sinkhole: vec![IpAddr::from([0, 0, 0, 0]), IpAddr::from([0u16; 8])],
            ttl: 60,
            log: LogMode::Blocked,
            drop_malformed: true,
            port: dns::PORT,
            interval: Duration::from_secs(1),
            export: ExportConfig::loopback(9996),
        }
    }
}

/// The verdict written to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogVerdict {
    Passed,
    Allowed,
    Blocked,
}

/// One line of the query log.
#[derive(Debug, Clone)]
struct QueryRecord {
    ts_ns: u64,
    client: IpAddr,
    sport: u16,
    tcp: bool,
    /// Lowercased.
    name: DnsName,
    qtype: u16,
    verdict: LogVerdict,
    action: Action,
    rule_at: Option<u8>,
    category: Option<Arc<str>>,
}

#[derive(Debug, Default, Clone)]
struct Counters {
    queries: u64,
    tcp_queries: u64,
    passed: u64,
    allowed: u64,
    blocked: u64,
    responses: u64,
    response_failed: u64,
    malformed: u64,
    not_queries: u64,
}

/// The dnsfilter NF (see the module docs).
#[derive(Debug)]
pub struct DnsFilter {
    config: DnsFilterConfig,
    lists: DomainLists,
    log: JsonExport<QueryRecord>,
    counters: Counters,
    /// Blocked queries per block-list section, with their counter names.
    per_category: Vec<(String, u64)>,
}

/// A query as read from a frame: what the verdict and the response need.
#[derive(Debug)]
struct Query {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    tcp: bool,
    id: u16,
    flags: u16,
    /// As sent (echoed in the response).
    name: DnsName,
    qtype: u16,
    qclass: u16,
    /// The query had an OPT record; its DO bit.
    edns: Option<bool>,
}

/// What a frame is to the filter.
// Not boxed: a box would allocate per query; the value lives on the stack.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    NotDns,
    NotQuery,
    Malformed { tcp: bool },
    Query(Query),
}

impl DnsFilter {
    /// Builds the filter; `files` are the list files' contents, read by
    /// the caller (`(path, text)` for `blocklist` and `allowlist`).
    pub fn new(
        config: DnsFilterConfig,
        blocklist: Option<(&str, &str)>,
        allowlist: Option<(&str, &str)>,
    ) -> Result<DnsFilter, ConfigError> {
        let mut lists = DomainLists::new();
        for (param, names, allow) in [
            ("block", &config.block, false),
            ("allow", &config.allow, true),
        ] {
            for (i, text) in names.iter().enumerate() {
                let name = DnsName::from_text(text).map_err(|e| {
                    ConfigError::param(
                        param,
                        format!(
                            "entry {} `{text}`: {} at character {}; expected a domain name like `example.com`",
                            i + 1,
                            e.reason,
                            e.at + 1
                        ),
                    )
                })?;
                lists.insert(&name, allow, 0);
            }
        }
        let mut seen = Vec::new();
        if let Some((path, text)) = blocklist {
            lists
                .load(path, text, false, &config.categories, &mut seen)
                .map_err(|e| ConfigError::param("blocklist", e))?;
        }
        if let Some(c) = config.categories.iter().find(|c| !seen.contains(c)) {
            return Err(ConfigError::param(
                "categories",
                format!(
                    "no section `[{c}]` in the block list; sections found: {}",
                    if seen.is_empty() {
                        "none".to_string()
                    } else {
                        seen.join(", ")
                    }
                ),
            ));
        }
        if let Some((path, text)) = allowlist {
            lists
                .load(path, text, true, &[], &mut Vec::new())
                .map_err(|e| ConfigError::param("allowlist", e))?;
        }
        let log = JsonExport::new(&config.export, 2)?;
        let per_category = lists
            .categories
            .iter()
            .skip(1)
            .map(|c| (format!("blocked_{c}"), 0))
            .collect();
        Ok(DnsFilter {
            config,
            lists,
            log,
            counters: Counters::default(),
            per_category,
        })
    }

    /// Builds from validated graph parameters (see [`SPECS`]).
    pub fn from_params(p: &Params) -> Result<DnsFilter, ConfigError> {
        let strings = |name: &str| -> Result<Vec<String>, ConfigError> {
            p.list(name)?
                .iter()
                .map(|v| match v {
                    netfn_core::config::Value::Str(s) | netfn_core::config::Value::Word(s) => {
                        Ok(s.to_string())
                    }
                    other => Err(ConfigError::param(
                        name,
                        format!("expected a list of names, found `{other}`"),
                    )),
                })
                .collect()
        };
        let path = |name: &str| -> Result<Option<String>, ConfigError> {
            let s = p.str(name)?;
            Ok((!s.is_empty()).then(|| s.to_string()))
        };
        let sinkhole = p
            .list("sinkhole")?
            .iter()
            .map(|v| match v {
                netfn_core::config::Value::Ip(a) => Ok(*a),
                other => Err(ConfigError::param(
                    "sinkhole",
                    format!("expected a list of IP addresses, found `{other}`"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ttl = p.duration("ttl")?.as_secs();
        if ttl > i32::MAX as u64 {
            return Err(ConfigError::param(
                "ttl",
                "at most 2^31-1 seconds (RFC 2181 §8)",
            ));
        }
        let config = DnsFilterConfig {
            block: strings("block")?,
            allow: strings("allow")?,
            blocklist: path("blocklist")?,
            allowlist: path("allowlist")?,
            categories: strings("categories")?,
            action: match p.str("action")? {
                "refused" => Action::Refused,
                "sinkhole" => Action::Sinkhole,
                "drop" => Action::Drop,
                _ => Action::Nxdomain,
            },
            sinkhole,
            ttl: ttl as u32,
            log: match p.str("log")? {
                "none" => LogMode::None,
                "all" => LogMode::All,
                _ => LogMode::Blocked,
            },
            drop_malformed: p.str("malformed")? == "drop",
            port: p.int("port")? as u16,
            interval: p.duration("interval")?,
            export: ExportConfig::from_params(p)?,
        };
        if config.interval.is_zero() {
            return Err(ConfigError::param("interval", "must be above zero"));
        }
        let read =
            |param: &str, path: &Option<String>| -> Result<Option<(String, String)>, ConfigError> {
                path.as_ref()
                    .map(|path| {
                        std::fs::read_to_string(path)
                            .map(|text| (path.clone(), text))
                            .map_err(|e| {
                                ConfigError::param(param, format!("cannot read `{path}`: {e}"))
                            })
                    })
                    .transpose()
            };
        let block = read("blocklist", &config.blocklist)?;
        let allow = read("allowlist", &config.allowlist)?;
        DnsFilter::new(
            config,
            block.as_ref().map(|(p, t)| (p.as_str(), t.as_str())),
            allow.as_ref().map(|(p, t)| (p.as_str(), t.as_str())),
        )
    }

    /// The lists in use.
    pub fn lists(&self) -> &DomainLists {
        &self.lists
    }

    fn parse(&self, frame: &[u8]) -> Parsed {
        let Ok(Some(ip)) = locate_ip(frame) else {
            return Parsed::NotDns;
        };
        let Some(l4) = ip.l4 else {
            return Parsed::NotDns;
        };
        let seg = &frame[l4..ip.end];
        let (tcp, sport, dport, msg) = match ip.protocol {
            IpProtocol::Udp => {
                if seg.len() < 4 || u16::from_be_bytes([seg[2], seg[3]]) != self.config.port {
                    return Parsed::NotDns;
                }
                let Ok(ext) = Udp::check(seg) else {
                    return Parsed::Malformed { tcp: false };
                };
                let ports = (u16::from_be_bytes([seg[0], seg[1]]), self.config.port);
                (false, ports.0, ports.1, &seg[ext.header_len..ext.end])
            }
            IpProtocol::Tcp => {
                let Ok(ext) = Tcp::check(seg) else {
                    return Parsed::NotDns;
                };
                let t = TcpPacket::new_unchecked(seg);
                if t.dst_port() != self.config.port {
                    return Parsed::NotDns;
                }
                let payload = &seg[ext.header_len..];
                // Only segments that start a framed message with a whole
                // header (anything else may be a continuation).
                if payload.len() < 2 + dns::HEADER_LEN {
                    return Parsed::NotDns;
                }
                let framed = usize::from(u16::from_be_bytes([payload[0], payload[1]]));
                let msg = &payload[2..];
                (
                    true,
                    t.src_port(),
                    t.dst_port(),
                    &msg[..framed.min(msg.len())],
                )
            }
            _ => return Parsed::NotDns,
        };
        let Ok(p) = DnsPacket::new_checked(msg) else {
            return Parsed::Malformed { tcp };
        };
        if p.is_response() || p.opcode() != 0 || p.qdcount() == 0 {
            return Parsed::NotQuery;
        }
        if p.qdcount() > 1 {
            return Parsed::Malformed { tcp };
        }
        let mut name = DnsName::new();
        let Ok(q) = p.question(&mut name) else {
            return Parsed::Malformed { tcp };
        };
        let mut edns = None;
        if p.ancount() == 0 && p.nscount() == 0 {
            let mut at = q.end;
            let mut owner = DnsName::new();
            for _ in 0..p.arcount() {
                let Ok(rr) = p.record(at, &mut owner) else {
                    break;
                };
                if rr.rtype == rtype::OPT && owner.is_empty() {
                    edns = Some(rr.ttl & 0x8000 != 0);
                    break;
                }
                at = rr.end;
            }
        }
        Parsed::Query(Query {
            src: ip.src,
            dst: ip.dst,
            sport,
            dport,
            tcp,
            id: p.id(),
            flags: p.flags(),
            name,
            qtype: q.qtype,
            qclass: q.qclass,
            edns,
        })
    }

    fn inspect(&mut self, pkt: &mut Packet, now: u64) -> Verdict {
        let q = match self.parse(pkt.data()) {
            Parsed::NotDns => return Verdict::PASS,
            Parsed::NotQuery => {
                self.counters.not_queries += 1;
                return Verdict::PASS;
            }
            Parsed::Malformed { tcp } => {
                self.counters.malformed += 1;
                // TCP: the segment may be part of a stream we do not follow.
                return if self.config.drop_malformed && !tcp {
                    Verdict::drop(DropReason::Malformed)
                } else {
                    Verdict::PASS
                };
            }
            Parsed::Query(q) => q,
        };
        self.counters.queries += 1;
        if q.tcp {
            self.counters.tcp_queries += 1;
        }
        let mut lower = q.name;
        lower.make_ascii_lowercase();
        let d = self.lists.decide(&lower);
        let verdict = match (d.blocked, d.rule_at) {
            (true, _) => LogVerdict::Blocked,
            (false, Some(_)) => LogVerdict::Allowed,
            (false, None) => LogVerdict::Passed,
        };
        let log = match self.config.log {
            LogMode::None => false,
            LogMode::Blocked => verdict == LogVerdict::Blocked,
            LogMode::All => true,
        };
        if log {
            let category = (d.category > 0)
                .then(|| self.lists.categories.get(usize::from(d.category)).cloned())
                .flatten();
            self.log.push(QueryRecord {
                ts_ns: now,
                client: q.src,
                sport: q.sport,
                tcp: q.tcp,
                name: lower,
                qtype: q.qtype,
                verdict,
                action: self.config.action,
                rule_at: d.rule_at,
                category,
            });
        }
        match verdict {
            LogVerdict::Passed => {
                self.counters.passed += 1;
                return Verdict::PASS;
            }
            LogVerdict::Allowed => {
                self.counters.allowed += 1;
                return Verdict::PASS;
            }
            LogVerdict::Blocked => {}
        }
        self.counters.blocked += 1;
        if let Some((_, n)) = usize::from(d.category)
            .checked_sub(1)
            .and_then(|i| self.per_category.get_mut(i))
        {
            *n += 1;
        }
        if q.tcp || self.config.action == Action::Drop {
            return Verdict::drop(DropReason::DnsBlocked);
        }
        if self.respond(pkt, &q).is_some() {
            self.counters.responses += 1;
            Verdict::forward(1)
        } else {
            self.counters.response_failed += 1;
            Verdict::drop(DropReason::DnsBlocked)
        }
    }

    /// Turns the query frame into the answer (see the module docs).
    fn respond(&self, pkt: &mut Packet, q: &Query) -> Option<()> {
        let (rcode, answer) = match self.config.action {
            Action::Refused => (rcode::REFUSED, None),
            Action::Sinkhole => {
                let want_v4 = match q.qtype {
                    rtype::A => Some(true),
                    rtype::AAAA => Some(false),
                    _ => None,
                };
                let addr = want_v4.and_then(|v4| {
                    self.config
                        .sinkhole
                        .iter()
                        .find(|a| a.is_ipv4() == v4)
                        .copied()
                });
                (rcode::NOERROR, addr.filter(|_| q.qclass == CLASS_IN))
            }
            Action::Nxdomain | Action::Drop => (rcode::NXDOMAIN, None),
        };
        let frame = pkt.data();
        let eth = EthernetFrame::new_unchecked(frame);
        let link = reply_link(frame, eth.dst_addr(), eth.src_addr())?;
        let template = match (q.src, q.dst) {
            (IpAddr::V4(c), IpAddr::V4(s)) => link.ipv4(s, c, 64).udp(q.dport, q.sport),
            (IpAddr::V6(c), IpAddr::V6(s)) => link.ipv6(s, c, 64).udp(q.dport, q.sport),
            _ => return None,
        };
        let answer_len = match answer {
            Some(IpAddr::V4(_)) => 12 + 4,
            Some(IpAddr::V6(_)) => 12 + 16,
            None => 0,
        };
        let opt_len = if q.edns.is_some() { 11 } else { 0 };
        let question_len = q.name.len() + 1 + 4;
        let msg_len = dns::HEADER_LEN + question_len + answer_len + opt_len;
        let at = template.header_len();
        pkt.set_len(at + msg_len).ok()?;
        let buf = pkt.data_mut();
        let msg = &mut buf[at..at + msg_len];
        let mut p = DnsPacket::new_unchecked(&mut *msg);
        p.set_id(q.id);
        let copied = q.flags & (flags::RD | flags::CD);
        p.set_flags(flags::QR | flags::RA | copied | u16::from(rcode));
        p.set_counts(
            1,
            u16::from(answer.is_some()),
            0,
            u16::from(q.edns.is_some()),
        );
        let mut w = dns::HEADER_LEN;
        w += q.name.emit(&mut msg[w..]).ok()?;
        msg[w..w + 4].copy_from_slice(&[
            (q.qtype >> 8) as u8,
            q.qtype as u8,
            (q.qclass >> 8) as u8,
            q.qclass as u8,
        ]);
        w += 4;
        if let Some(addr) = answer {
            let mut bytes = [0u8; 16];
            let (rt, rdata) = match addr {
                IpAddr::V4(a) => {
                    bytes[..4].copy_from_slice(&a.octets());
                    (rtype::A, &bytes[..4])
                }
                IpAddr::V6(a) => {
                    bytes.copy_from_slice(&a.octets());
                    (rtype::AAAA, &bytes[..])
                }
            };
            // Owner: a pointer to the question's name at offset 12.
            msg[w..w + 2].copy_from_slice(&[0xc0, dns::HEADER_LEN as u8]);
            msg[w + 2..w + 4].copy_from_slice(&rt.to_be_bytes());
            msg[w + 4..w + 6].copy_from_slice(&CLASS_IN.to_be_bytes());
            msg[w + 6..w + 10].copy_from_slice(&self.config.ttl.to_be_bytes());
            msg[w + 10..w + 12].copy_from_slice(&(rdata.len() as u16).to_be_bytes());
            msg[w + 12..w + 12 + rdata.len()].copy_from_slice(rdata);
            w += 12 + rdata.len();
        }
        if let Some(dnssec_ok) = q.edns {
            let ttl: u32 = if dnssec_ok { 0x8000 } else { 0 };
            msg[w] = 0; // root owner
            msg[w + 1..w + 3].copy_from_slice(&rtype::OPT.to_be_bytes());
            msg[w + 3..w + 5].copy_from_slice(&EDNS_PAYLOAD.to_be_bytes());
            msg[w + 5..w + 9].copy_from_slice(&ttl.to_be_bytes());
            msg[w + 9..w + 11].copy_from_slice(&[0, 0]);
        }
        template.write_in_place(buf, msg_len).ok()?;
        Some(())
    }
}

impl JsonLine for QueryRecord {
    fn write_json(&self, w: &mut SliceWriter<'_>) -> std::fmt::Result {
        write!(
            w,
            "{{\"type\":\"dns\",\"ts_ns\":{},\"client\":\"{}\",\"sport\":{},\"proto\":\"{}\",\"name\":\"",
            self.ts_ns,
            self.client,
            self.sport,
            if self.tcp { "tcp" } else { "udp" }
        )?;
        write_name(w, self.name.wire())?;
        w.write_str("\",\"qtype\":\"")?;
        match dns::rtype_name(self.qtype) {
            Some(n) => w.write_str(n)?,
            None => write!(w, "TYPE{}", self.qtype)?,
        }
        let verdict = match self.verdict {
            LogVerdict::Passed => "passed",
            LogVerdict::Allowed => "allowed",
            LogVerdict::Blocked => "blocked",
        };
        write!(w, "\",\"verdict\":\"{verdict}\"")?;
        if self.verdict == LogVerdict::Blocked {
            let action = if self.tcp { "drop" } else { self.action.name() };
            write!(w, ",\"action\":\"{action}\"")?;
        }
        if let Some(at) = self.rule_at {
            w.write_str(",\"rule\":\"")?;
            write_name(
                w,
                self.name.wire().get(usize::from(at)..).unwrap_or_default(),
            )?;
            w.write_str("\"")?;
        }
        if let Some(c) = &self.category {
            write!(w, ",\"category\":\"{c}\"")?;
        }
        w.write_str("}\n")
    }
}

/// A wire-form name as JSON string contents (see the module docs).
fn write_name(w: &mut SliceWriter<'_>, mut wire: &[u8]) -> std::fmt::Result {
    if wire.is_empty() {
        return w.write_str(".");
    }
    let mut first = true;
    while let Some((&len, rest)) = wire.split_first() {
        let (label, tail) = rest.split_at(usize::from(len).min(rest.len()));
        if !first {
            w.write_str(".")?;
        }
        first = false;
        for &b in label {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                w.write_char(b as char)?;
            } else {
                write!(w, "\\\\{b:03}")?;
            }
        }
        wire = tail;
    }
    Ok(())
}

impl Nf for DnsFilter {
    fn process(&mut self, _input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let (packets, verdicts) = batch.split_mut();
        for (pkt, v) in packets.iter_mut().zip(verdicts.iter_mut()) {
            *v = self.inspect(pkt, now);
        }
        if self.log.is_half_full() {
            self.log.flush(ctx, PROCESS_BURST);
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_>) {
        if self.config.log != LogMode::None {
            ctx.schedule_every(self.config.interval);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>) {
        self.log.flush(ctx, usize::MAX);
    }

    fn stop(&mut self, ctx: &mut Ctx<'_>) {
        self.log.flush(ctx, usize::MAX);
        self.log.discard();
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let c = &self.counters;
        report("rules", self.lists.len() as u64);
        report("queries", c.queries);
        report("tcp_queries", c.tcp_queries);
        report("passed", c.passed);
        report("allowed", c.allowed);
        report("blocked", c.blocked);
        report("responses", c.responses);
        report("response_failed", c.response_failed);
        report("malformed", c.malformed);
        report("not_queries", c.not_queries);
        for (name, n) in &self.per_category {
            report(name, *n);
        }
        let x = &self.log.counters;
        report("log_exported", x.exported);
        report("log_dropped", x.dropped);
        report("log_datagrams", x.datagrams);
    }

    /// On a reload: keep the counters and the queued log records.
    fn adopt(&mut self, old: Box<dyn Nf>) {
        let Some(mut old) = netfn_core::nf::downcast::<DnsFilter>(old) else {
            return;
        };
        self.counters = std::mem::take(&mut old.counters);
        for (name, n) in &mut self.per_category {
            if let Some((_, m)) = old.per_category.iter().find(|(o, _)| o == name) {
                *n = *m;
            }
        }
        self.log.counters = old.log.counters;
        for r in old.log.take_queue() {
            self.log.push(r);
        }
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(DnsFilter::from_params(p)?))
}

static STR: ParamType = ParamType::Str;
static IP: ParamType = ParamType::Ip;

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "dnsfilter",
    doc: "Parental control: block DNS queries for listed domains and their subdomains (NXDOMAIN/REFUSED/sinkhole answers on output 1, or drop); query log as JSON lines on output 2",
    params: &crate::export_params![
        "9996";
        ParamSpec::optional("block", ParamType::List(&STR), "[]", "domains to block, with all their subdomains"),
        ParamSpec::optional("allow", ParamType::List(&STR), "[]", "domains to allow even inside a blocked domain (the most specific entry wins)"),
        ParamSpec::optional("blocklist", ParamType::Path, "\"\"", "file of domains to block: one per line, `#` comments, `[section]` headers, hosts-file lines"),
        ParamSpec::optional("allowlist", ParamType::Path, "\"\"", "file of domains to allow, one per line"),
        ParamSpec::optional("categories", ParamType::List(&STR), "[]", "block-list sections to use (empty: all)"),
        ParamSpec::optional(
            "action",
            ParamType::Word(&["nxdomain", "refused", "sinkhole", "drop"]),
            "nxdomain",
            "answer a blocked UDP query with NXDOMAIN, REFUSED or a sinkhole address (on output 1), or drop it",
        ),
        ParamSpec::optional("sinkhole", ParamType::List(&IP), "[0.0.0.0, ::]", "addresses of sinkhole answers (first IPv4 for A, first IPv6 for AAAA)"),
        ParamSpec::optional("ttl", ParamType::Duration, "60s", "TTL of sinkhole answers"),
        ParamSpec::optional(
            "log",
            ParamType::Word(&["none", "blocked", "all"]),
            "blocked",
            "which queries are logged as JSON lines on output 2",
        ),
        ParamSpec::optional(
            "malformed",
            ParamType::Word(&["drop", "pass"]),
            "drop",
            "what to do with UDP queries that do not parse (counted either way)",
        ),
        ParamSpec::optional("port", ParamType::Int { min: 1, max: 65535 }, "53", "DNS server port inspected (UDP and TCP)"),
        ParamSpec::optional("interval", ParamType::Duration, "1s", "how often the query log is flushed"),
    ],
    inputs: Arity::Exactly(1),
    outputs: Arity::Between(1, 3),
    build: Build::Nf(build),
}];

#[cfg(test)]
mod tests {
    use super::*;
    use netfn_core::testing::Harness;
    use netfn_wire::{MacAddr, PacketBuilder};

    fn lists(block: &[&str], allow: &[&str]) -> DomainLists {
        let mut l = DomainLists::new();
        for b in block {
            l.insert(&DnsName::from_text(b).unwrap(), false, 0);
        }
        for a in allow {
            l.insert(&DnsName::from_text(a).unwrap(), true, 0);
        }
        l
    }

    fn decide(l: &DomainLists, name: &str) -> (bool, Option<u8>) {
        let mut n = DnsName::from_text(name).unwrap();
        n.make_ascii_lowercase();
        let d = l.decide(&n);
        (d.blocked, d.rule_at)
    }

    #[test]
    fn most_specific_entry_wins() {
        let l = lists(
            &["Example.com", "ads.good.org"],
            &["kids.example.com", "good.org", "both.net"],
        );
        assert_eq!(decide(&l, "example.com"), (true, Some(0)));
        assert_eq!(decide(&l, "WWW.EXAMPLE.COM"), (true, Some(4)));
        assert_eq!(decide(&l, "kids.example.com"), (false, Some(0)));
        assert_eq!(decide(&l, "a.kids.example.com"), (false, Some(2)));
        assert_eq!(decide(&l, "notexample.com"), (false, None));
        assert_eq!(decide(&l, "com"), (false, None));
        assert_eq!(decide(&l, "x.ads.good.org"), (true, Some(2)));
        assert_eq!(decide(&l, "good.org"), (false, Some(0)));
        let mut both = lists(&["both.net"], &["both.net"]);
        assert!(!decide(&both, "both.net").0);
        both.insert(&DnsName::from_text("both.net").unwrap(), false, 0);
        assert!(!decide(&both, "both.net").0, "allow stays");
    }

    #[test]
    fn list_files_sections_and_errors() {
        let text = "# comment\nplain.com\n\n[adult]\n  bad.example   # trailing\n0.0.0.0 x.test y.test\n0.0.0.0 0.0.0.0\n[ads]\nads.test.\n";
        let mut l = DomainLists::new();
        let mut seen = Vec::new();
        l.load("b.txt", text, false, &["ads".to_string()], &mut seen)
            .unwrap();
        assert_eq!(seen, ["adult", "ads"]);
        assert_eq!(l.len(), 2, "plain.com and the ads section");
        assert!(decide(&l, "ads.test").0 && decide(&l, "plain.com").0);
        assert!(!decide(&l, "bad.example").0);
        let mut all = DomainLists::new();
        all.load("b.txt", text, false, &[], &mut Vec::new())
            .unwrap();
        assert_eq!(all.len(), 5);
        let err = |t: &str| {
            DomainLists::new()
                .load("b.txt", t, false, &[], &mut Vec::new())
                .unwrap_err()
        };
        assert_eq!(
            err("ok.com\n  two words\n"),
            "b.txt:2:7: one domain per line (or `ADDRESS NAME...` as in a hosts file)"
        );
        assert!(
            err("a..b\n").starts_with("b.txt:1:3: empty label"),
            "{}",
            err("a..b\n")
        );
        assert!(err("*.ads.com").starts_with("b.txt:1:1: no wildcards"));
        assert!(err("[open\n").starts_with("b.txt:1:1: unclosed"));
        assert!(err("bad!.com").starts_with("b.txt:1:4: a name holds"));
        assert!(
            DomainLists::new()
                .load("a.txt", "[x]\n", true, &[], &mut Vec::new())
                .is_err()
        );
    }

    fn query(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
        let mut msg = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
        let mut n = [0u8; 256];
        let len = DnsName::from_text(name).unwrap().emit(&mut n).unwrap();
        msg.extend_from_slice(&n[..len]);
        msg.extend_from_slice(&qtype.to_be_bytes());
        msg.extend_from_slice(&[0, 1]);
        if edns {
            msg.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0]);
        }
        let t = PacketBuilder::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]))
            .ipv4([10, 0, 0, 1].into(), [10, 0, 0, 53].into(), 64)
            .udp(40000, 53);
        let mut buf = vec![0; t.size(msg.len())];
        t.write(&mut buf, &msg).unwrap();
        buf
    }

    fn filter(action: Action) -> DnsFilter {
        DnsFilter::new(
            DnsFilterConfig {
                block: vec!["example.com".into()],
                action,
                log: LogMode::All,
                ..DnsFilterConfig::default()
            },
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn nxdomain_response_echoes_the_question() {
        let mut h = Harness::new(filter(Action::Nxdomain));
        let q = query("WwW.example.COM", rtype::A, true);
        let out = h.process_bytes(0, &[&q, &query("example.org", rtype::A, false)]);
        assert_eq!(out.on(0), vec![query("example.org", rtype::A, false)]);
        let r = &out.on(1)[0];
        assert_eq!((&r[0..6], &r[6..12]), (&q[6..12], &q[0..6]));
        let msg = &r[42..];
        let p = DnsPacket::new_checked(msg).unwrap();
        assert_eq!(p.id(), 0xabcd);
        assert_eq!(p.flags(), 0x8183, "QR RD RA NXDOMAIN");
        assert_eq!(
            (p.qdcount(), p.ancount(), p.nscount(), p.arcount()),
            (1, 0, 0, 1)
        );
        // The question as sent, then an OPT with DO copied.
        assert_eq!(&msg[12..12 + 21], &q[42 + 12..42 + 12 + 21]);
        assert_eq!(&msg[33..], &[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
        assert_eq!(h.nf.counters.blocked, 1);
        assert_eq!(h.nf.counters.passed, 1);
    }

    #[test]
    fn sinkhole_answers_a_and_nodata_for_other_types() {
        let mut h = Harness::new(filter(Action::Sinkhole));
        let out = h.process_bytes(
            0,
            &[
                &query("a.example.com", rtype::A, false),
                &query("a.example.com", 16, false),
            ],
        );
        let r = out.on(1);
        let p = DnsPacket::new_checked(&r[0][42..]).unwrap();
        assert_eq!((p.rcode(), p.ancount()), (rcode::NOERROR, 1));
        assert_eq!(
            &r[0][r[0].len() - 16..],
            &[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 0, 0, 0, 0]
        );
        let p = DnsPacket::new_checked(&r[1][42..]).unwrap();
        assert_eq!((p.rcode(), p.ancount()), (rcode::NOERROR, 0));
    }

    #[test]
    fn log_lines() {
        let mut h = Harness::new(filter(Action::Drop));
        let out = h.process_bytes(
            0,
            &[
                &query("x.example.com", 65, false),
                &query("ok.net", 1, false),
            ],
        );
        assert_eq!(out.drop_reasons(), vec![DropReason::DnsBlocked]);
        let out = h.stop();
        let d = &out.on(2)[0];
        let text = std::str::from_utf8(&d[42..]).unwrap();
        assert_eq!(
            text,
            "{\"type\":\"dns\",\"ts_ns\":0,\"client\":\"10.0.0.1\",\"sport\":40000,\"proto\":\"udp\",\"name\":\"x.example.com\",\"qtype\":\"HTTPS\",\"verdict\":\"blocked\",\"action\":\"drop\",\"rule\":\"example.com\"}\n\
             {\"type\":\"dns\",\"ts_ns\":0,\"client\":\"10.0.0.1\",\"sport\":40000,\"proto\":\"udp\",\"name\":\"ok.net\",\"qtype\":\"A\",\"verdict\":\"passed\"}\n"
        );
        let mut buf = [0u8; 64];
        let mut w = SliceWriter::new(&mut buf);
        write_name(&mut w, b"\x03a.b\x01\"").unwrap();
        let n = w.len;
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), "a\\\\046b.\\\\034");
    }
}
