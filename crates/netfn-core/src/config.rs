//! Element catalog and validated configuration: what kinds of NFs and ports
//! exist, which parameters each takes, and the immutable [`Plan`] a graph
//! is validated into.
//!
//! Config flows one way: untrusted text or JSON is parsed and checked by
//! `netfn-lang` against the [`Catalog`], which yields a [`Plan`] whose
//! [`Params`] are complete (defaults filled in) and typed. The runtime only
//! ever sees plans. The catalog is the single source of truth for `netfn nfs`,
//! the validator and the docs.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::nf::Nf;
use crate::port::Port;

/// A typed, validated parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    /// A quoted string or a file path.
    Str(Cow<'static, str>),
    /// A bare word from a fixed set (`drop`, `accept`, `imix`).
    Word(Cow<'static, str>),
    Duration(Duration),
    /// A size in bytes (`64B`, `1500`, `2KiB`).
    Size(u64),
    Ip(IpAddr),
    Prefix(IpNet),
    Mac([u8; 6]),
    List(Vec<Value>),
}

impl fmt::Display for Value {
    /// Formats the value in the graph language's syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Word(w) => f.write_str(w),
            Value::Duration(d) => fmt_duration(*d, f),
            Value::Size(s) => write!(f, "{s}B"),
            Value::Ip(a) => write!(f, "{a}"),
            Value::Prefix(p) => write!(f, "{p}"),
            Value::Mac(m) => write!(
                f,
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            ),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

fn fmt_duration(d: Duration, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let ns = d.as_nanos();
    for (unit, scale) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if ns != 0 && ns.is_multiple_of(scale) {
            return write!(f, "{}{unit}", ns / scale);
        }
    }
    write!(f, "{ns}ns")
}

/// The type a parameter accepts. Validation coerces literals to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    Bool,
    /// An integer within `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    Str,
    /// A file path, resolved relative to the graph file that names it.
    Path,
    /// One of a fixed set of bare words.
    Word(&'static [&'static str]),
    Duration,
    Size,
    Ip,
    Prefix,
    Mac,
    List(&'static ParamType),
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamType::Bool => f.write_str("bool"),
            ParamType::Int { min, max } => write!(f, "integer {min}..={max}"),
            ParamType::Str => f.write_str("string"),
            ParamType::Path => f.write_str("path"),
            ParamType::Word(words) => write!(f, "one of {}", words.join("|")),
            ParamType::Duration => f.write_str("duration (e.g. 30s, 250ms)"),
            ParamType::Size => f.write_str("size (e.g. 64B, 1500, 2KiB)"),
            ParamType::Ip => f.write_str("IP address"),
            ParamType::Prefix => f.write_str("IP prefix (e.g. 10.0.0.0/8)"),
            ParamType::Mac => f.write_str("MAC address"),
            ParamType::List(inner) => write!(f, "list of {inner}"),
        }
    }
}

/// One parameter of an element kind.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub ty: ParamType,
    /// Default, written in the graph language's syntax (`"64B"`, `"drop"`,
    /// `"[]"`). `None` means the parameter is required.
    pub default: Option<&'static str>,
    /// One line: what the parameter does.
    pub doc: &'static str,
}

impl ParamSpec {
    pub const fn required(name: &'static str, ty: ParamType, doc: &'static str) -> Self {
        ParamSpec {
            name,
            ty,
            default: None,
            doc,
        }
    }
    pub const fn optional(
        name: &'static str,
        ty: ParamType,
        default: &'static str,
        doc: &'static str,
    ) -> Self {
        ParamSpec {
            name,
            ty,
            default: Some(default),
            doc,
        }
    }
}

/// How many input or output ports an element has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Exactly(u16),
    /// At least `min`, at most `max` (inclusive).
    Between(u16, u16),
    /// The number of ports is the value of an integer parameter (plus `extra`),
    /// e.g. a `split(n = 4)` has 4 outputs.
    FromParam {
        param: &'static str,
        extra: u16,
    },
}

impl Arity {
    /// The allowed range of ports, given the element's parameters.
    pub fn range(&self, params: &Params) -> (u16, u16) {
        match *self {
            Arity::Exactly(n) => (n, n),
            Arity::Between(lo, hi) => (lo, hi),
            Arity::FromParam { param, extra } => {
                let n = params
                    .int(param)
                    .unwrap_or(0)
                    .clamp(0, i64::from(u16::MAX - extra)) as u16;
                (n + extra, n + extra)
            }
        }
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arity::Exactly(n) => write!(f, "{n}"),
            Arity::Between(lo, hi) if *hi == u16::MAX => write!(f, "{lo}+"),
            Arity::Between(lo, hi) => write!(f, "{lo}..{hi}"),
            Arity::FromParam { param, extra: 0 } => write!(f, "{param}"),
            Arity::FromParam { param, extra } => write!(f, "{param}+{extra}"),
        }
    }
}

/// Builds a running instance of an element from its validated parameters.
#[derive(Clone, Copy)]
pub enum Build {
    Nf(fn(&Params) -> Result<Box<dyn Nf>, ConfigError>),
    Port(fn(&Params) -> Result<Box<dyn Port>, ConfigError>),
}

impl fmt::Debug for Build {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Build::Nf(_) => "Build::Nf",
            Build::Port(_) => "Build::Port",
        })
    }
}

/// One kind of element (an NF or a port) that graphs can instantiate.
#[derive(Debug, Clone, Copy)]
pub struct ElementSpec {
    /// The name used in graphs: `ttl`, `firewall`, `generator`.
    pub kind: &'static str,
    /// One line: what the element does.
    pub doc: &'static str,
    pub params: &'static [ParamSpec],
    /// Input ports. For a port element, input 0 is transmit.
    pub inputs: Arity,
    /// Output ports. For a port element, output 0 is receive.
    pub outputs: Arity,
    pub build: Build,
}

impl ElementSpec {
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }
    pub fn is_port(&self) -> bool {
        matches!(self.build, Build::Port(_))
    }
}

/// All element kinds known to a binary. Assembled from the NF library, the
/// port backends and the runtime's built-ins.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    specs: Vec<&'static ElementSpec>,
}

impl Catalog {
    pub fn new() -> Self {
        Catalog::default()
    }

    /// Adds element kinds. A later kind with the same name replaces an
    /// earlier one.
    pub fn extend(&mut self, specs: impl IntoIterator<Item = &'static ElementSpec>) -> &mut Self {
        for spec in specs {
            self.specs.retain(|s| s.kind != spec.kind);
            self.specs.push(spec);
        }
        self
    }

    pub fn get(&self, kind: &str) -> Option<&'static ElementSpec> {
        self.specs.iter().copied().find(|s| s.kind == kind)
    }

    /// All kinds, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &'static ElementSpec> + '_ {
        let mut v: Vec<_> = self.specs.clone();
        v.sort_by_key(|s| s.kind);
        v.into_iter()
    }
}

/// Validated parameters of one element: every parameter of its spec, with
/// defaults filled in, each of the declared type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    values: Vec<(String, Value)>,
}

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    /// Sets (or replaces) a parameter.
    pub fn set(&mut self, name: impl Into<String>, value: Value) -> &mut Self {
        let name = name.into();
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.values.push((name, value)),
        }
        self
    }

    pub fn with(mut self, name: impl Into<String>, value: Value) -> Self {
        self.set(name, value);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(n, v)| (n.as_str(), v))
    }

    fn typed<'a, T>(
        &'a self,
        name: &str,
        expected: &'static str,
        pick: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<T, ConfigError> {
        let value = self.get(name).ok_or_else(|| {
            ConfigError::param(name, format!("missing parameter (expected {expected})"))
        })?;
        pick(value).ok_or_else(|| {
            ConfigError::param(name, format!("expected {expected}, found `{value}`"))
        })
    }

    pub fn bool(&self, name: &str) -> Result<bool, ConfigError> {
        self.typed(name, "a bool", |v| match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        })
    }
    pub fn int(&self, name: &str) -> Result<i64, ConfigError> {
        self.typed(name, "an integer", |v| match v {
            Value::Int(i) => Some(*i),
            _ => None,
        })
    }
    /// A string, path or word.
    pub fn str(&self, name: &str) -> Result<&str, ConfigError> {
        self.typed(name, "a string", |v| match v {
            Value::Str(s) | Value::Word(s) => Some(s.as_ref()),
            _ => None,
        })
    }
    pub fn duration(&self, name: &str) -> Result<Duration, ConfigError> {
        self.typed(name, "a duration", |v| match v {
            Value::Duration(d) => Some(*d),
            _ => None,
        })
    }
    pub fn size(&self, name: &str) -> Result<u64, ConfigError> {
        self.typed(name, "a size", |v| match v {
            Value::Size(s) => Some(*s),
            Value::Int(i) if *i >= 0 => Some(*i as u64),
            _ => None,
        })
    }
    pub fn ip(&self, name: &str) -> Result<IpAddr, ConfigError> {
        self.typed(name, "an IP address", |v| match v {
            Value::Ip(a) => Some(*a),
            _ => None,
        })
    }
    pub fn prefix(&self, name: &str) -> Result<IpNet, ConfigError> {
        self.typed(name, "an IP prefix", |v| match v {
            Value::Prefix(p) => Some(*p),
            Value::Ip(a) => Some(IpNet::from(*a)),
            _ => None,
        })
    }
    pub fn mac(&self, name: &str) -> Result<[u8; 6], ConfigError> {
        self.typed(name, "a MAC address", |v| match v {
            Value::Mac(m) => Some(*m),
            _ => None,
        })
    }
    pub fn list(&self, name: &str) -> Result<&[Value], ConfigError> {
        self.typed(name, "a list", |v| match v {
            Value::List(l) => Some(l.as_slice()),
            _ => None,
        })
    }
}

/// An element could not be built from its parameters (a rules file that
/// does not parse, an interface that does not exist). `param` names the
/// parameter at fault so the front end can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", param.as_deref().map(|p| format!("parameter `{p}`: ")).unwrap_or_default())]
pub struct ConfigError {
    pub param: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            param: None,
            message: message.into(),
        }
    }
    pub fn param(param: &str, message: impl Into<String>) -> Self {
        ConfigError {
            param: Some(param.to_string()),
            message: message.into(),
        }
    }
}

/// A validated graph, ready to be instantiated by the runtime. Immutable;
/// shared as `Arc<Plan>` and swapped whole on reload.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub nodes: Vec<PlanNode>,
    pub edges: Vec<PlanEdge>,
}

/// One element instance in a plan.
#[derive(Debug, Clone)]
pub struct PlanNode {
    /// Unique within the plan (anonymous elements get generated names).
    pub name: String,
    pub spec: &'static ElementSpec,
    pub params: Params,
}

/// A connection from an output port of one node to an input port of another
/// (indexes into [`Plan::nodes`]). Each output has at most one edge; an input
/// may have many (an implicit merge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanEdge {
    pub from: usize,
    pub output: u16,
    pub to: usize,
    pub input: u16,
}

impl Plan {
    pub fn node(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}
