//! The graph model: one flat graph of named elements and the connections
//! between them, the common form of the text language and JSON.
//!
//! The model is what a graph file means once includes, variables and
//! sub-graphs are expanded. Parameter values are kept as literals (bool,
//! integer, text, list): their type comes from the element's catalog entry
//! at validation, so `1500` can be a size or an integer and `30s` is just
//! text until a duration parameter receives it.
//!
//! Invariant of models made by [`crate::parse_str`] and
//! [`Model::from_json`]: names are valid (see [`is_element_name`]), so
//! [`Model::to_text`] prints text that parses back into an equal model.

use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::lexer;
use crate::source::Loc;

/// A graph: elements and connections, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    #[serde(default)]
    pub elements: Vec<Element>,
    #[serde(default)]
    pub connections: Vec<Connection>,
    /// Directory that relative paths are resolved against when a value has
    /// no file of its own (models read from JSON). `None`: the current
    /// directory.
    #[serde(skip)]
    pub base_dir: Option<BaseDir>,
}

/// A directory for resolving relative paths. Not part of a model's identity:
/// equal models may be resolved against different directories.
#[derive(Debug, Clone)]
pub struct BaseDir(pub PathBuf);

impl PartialEq for BaseDir {
    fn eq(&self, _other: &BaseDir) -> bool {
        true
    }
}

/// One element instance: an NF or a port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Element {
    /// Unique in the graph. Anonymous and sub-graph elements have generated
    /// names (`ttl@1`, `c/ttl@1`).
    pub name: String,
    /// The catalog kind (`firewall`, `pcap`).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "param_map")]
    pub params: Vec<Param>,
    /// Where the element is declared (its name, or its kind if anonymous).
    #[serde(skip)]
    pub loc: Loc,
    /// Where its kind is written.
    #[serde(skip)]
    pub kind_loc: Loc,
    /// For the `worker` element of an isolated instance
    /// (`p :: Tenant(isolate = process)`): the Worker's graph as expanded,
    /// with the places its parts are written at.
    #[serde(skip)]
    pub isolated: Isolated,
}

/// The Worker's graph of an isolated instance, located in the files it was
/// written in (its `text` parameter is this model printed; a model read
/// back from text or JSON has only the text). Not part of the element's
/// identity: the text is.
#[derive(Debug, Clone, Default)]
pub struct Isolated(pub Option<Arc<Model>>);

impl PartialEq for Isolated {
    fn eq(&self, _other: &Isolated) -> bool {
        true
    }
}

impl Element {
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            kind: kind.into(),
            params: Vec::new(),
            loc: Loc::None,
            kind_loc: Loc::None,
            isolated: Isolated::default(),
        }
    }

    pub fn with(mut self, name: impl Into<String>, value: Literal) -> Self {
        self.params.push(Param {
            name: name.into(),
            value,
            loc: Loc::None,
        });
        self
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// `name = value` in an element's parameter list.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub value: Literal,
    /// Where the parameter's name is written.
    pub loc: Loc,
}

/// A parameter value as written, with where it was written (for a value
/// that came through a variable: where the variable's value is written).
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    pub lit: Lit,
    pub loc: Loc,
}

/// The four shapes of literal. Durations, sizes, addresses, prefixes, MACs
/// and bare words are [`Lit::Text`]; validation reads them by type.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Bool(bool),
    Int(i64),
    Text(String),
    List(Vec<Literal>),
}

impl Literal {
    pub fn new(lit: Lit) -> Self {
        Literal {
            lit,
            loc: Loc::None,
        }
    }
    pub fn text(s: impl Into<String>) -> Self {
        Literal::new(Lit::Text(s.into()))
    }
    pub fn int(i: i64) -> Self {
        Literal::new(Lit::Int(i))
    }
    pub fn bool(b: bool) -> Self {
        Literal::new(Lit::Bool(b))
    }
    pub fn list(items: Vec<Literal>) -> Self {
        Literal::new(Lit::List(items))
    }

    /// A short name of the literal's shape, for messages.
    pub fn shape(&self) -> &'static str {
        match self.lit {
            Lit::Bool(_) => "a bool",
            Lit::Int(_) => "an integer",
            Lit::Text(_) => "a word or string",
            Lit::List(_) => "a list",
        }
    }
}

impl fmt::Display for Literal {
    /// The literal in the text language's syntax: text is quoted only when
    /// it would not read back as the same text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.lit {
            Lit::Bool(b) => write!(f, "{b}"),
            Lit::Int(i) => write!(f, "{i}"),
            Lit::Text(s) if lexer::is_bare_text(s) => f.write_str(s),
            Lit::Text(s) => f.write_str(&lexer::quote(s)),
            Lit::List(items) => {
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

/// `from[output] -> [input]to`. `mirror` marks a copy (`->>`): the output
/// also keeps its ordinary connection, and validation puts a `tee` there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    pub from: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub output: u16,
    pub to: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub input: u16,
    #[serde(default, skip_serializing_if = "is_false")]
    pub mirror: bool,
    /// Where the source endpoint (`from[output]`) is written.
    #[serde(skip)]
    pub from_loc: Loc,
    /// Where the target endpoint (`[input]to`) is written.
    #[serde(skip)]
    pub to_loc: Loc,
    /// Where the arrow is written.
    #[serde(skip)]
    pub loc: Loc,
}

impl Connection {
    pub fn new(from: impl Into<String>, output: u16, to: impl Into<String>, input: u16) -> Self {
        Connection {
            from: from.into(),
            output,
            to: to.into(),
            input,
            mirror: false,
            from_loc: Loc::None,
            to_loc: Loc::None,
            loc: Loc::None,
        }
    }
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Words that cannot name an element.
pub const KEYWORDS: &[&str] = &["let", "include", "graph", "input", "output"];

/// Whether `s` is a plain identifier: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `s` can name an element: identifiers joined by `/` (the path of
/// sub-graph instances), each optionally followed by `@` and digits (the
/// number of an anonymous element), and not a keyword.
pub fn is_element_name(s: &str) -> bool {
    !KEYWORDS.contains(&s)
        && s.split('/').all(|seg| {
            let (id, num) = match seg.split_once('@') {
                Some((id, num)) => (id, Some(num)),
                None => (seg, None),
            };
            is_ident(id)
                && num.is_none_or(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
}

impl Model {
    pub fn element(&self, name: &str) -> Option<&Element> {
        self.elements.iter().find(|e| e.name == name)
    }

    /// The graph in the text language: declarations, then connections
    /// (consecutive connections that continue each other printed as one
    /// chain). Parsing the text gives back an equal model.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for e in &self.elements {
            let _ = write!(out, "{} :: {}(", e.name, e.kind);
            for (i, p) in e.params.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{} = {}", p.name, p.value);
            }
            out.push_str(");\n");
        }
        if !self.elements.is_empty() && !self.connections.is_empty() {
            out.push('\n');
        }
        let mut i = 0;
        while i < self.connections.len() {
            let c = &self.connections[i];
            out.push_str(&c.from);
            push_port(&mut out, c.output);
            let mut j = i;
            loop {
                let c = &self.connections[j];
                out.push_str(if c.mirror { " ->> " } else { " -> " });
                push_port(&mut out, c.input);
                out.push_str(&c.to);
                match self.connections.get(j + 1) {
                    Some(next) if next.from == c.to => {
                        push_port(&mut out, next.output);
                        j += 1;
                    }
                    _ => break,
                }
            }
            out.push_str(";\n");
            i = j + 1;
        }
        out
    }

    /// The model as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // A model holds only strings, integers and bools: serializing it
        // cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn push_port(out: &mut String, port: u16) {
    if port != 0 {
        let _ = write!(out, "[{port}]");
    }
}

impl Serialize for Literal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.lit {
            Lit::Bool(b) => s.serialize_bool(*b),
            Lit::Int(i) => s.serialize_i64(*i),
            Lit::Text(t) => s.serialize_str(t),
            Lit::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Literal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LitVisitor;
        impl<'de> Visitor<'de> for LitVisitor {
            type Value = Literal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a bool, an integer, a string or a list of those")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Literal, E> {
                Ok(Literal::bool(b))
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<Literal, E> {
                Ok(Literal::int(i))
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<Literal, E> {
                i64::try_from(u).map(Literal::int).map_err(|_| {
                    E::custom(format!("integer {u} is too large (at most {})", i64::MAX))
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Literal, E> {
                Err(E::custom(format!(
                    "{v} is not an integer; write fractional quantities with a unit as a string (\"1500ms\")"
                )))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Literal, E> {
                Ok(Literal::text(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Literal, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Literal::list(items))
            }
        }
        d.deserialize_any(LitVisitor)
    }
}

/// Parameters as a JSON object, in the order written (duplicates are kept
/// for validation to report).
mod param_map {
    use super::*;

    pub fn serialize<S: Serializer>(params: &[Param], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(params.len()))?;
        for p in params {
            map.serialize_entry(&p.name, &p.value)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Param>, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = Vec<Param>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of parameters (`{\"name\": value}`)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Param>, A::Error> {
                let mut params = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, Literal>()? {
                    params.push(Param {
                        name,
                        value,
                        loc: Loc::None,
                    });
                }
                Ok(params)
            }
        }
        d.deserialize_map(MapVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_names() {
        for ok in ["fw", "c/ttl@1", "ttl@12", "a/b/c", "_x9", "fw/tee@0"] {
            assert!(is_element_name(ok), "{ok}");
        }
        for bad in [
            "", "1x", "a/", "/a", "a@", "a@x", "my fw", "let", "input", "a-b",
        ] {
            assert!(!is_element_name(bad), "{bad}");
        }
    }

    #[test]
    fn literals_print_in_language_syntax() {
        let l = Literal::list(vec![
            Literal::int(80),
            Literal::text("30s"),
            Literal::text("true"),
            Literal::text("a b"),
            Literal::text("10.0.0.0/8"),
            Literal::bool(false),
        ]);
        assert_eq!(
            l.to_string(),
            r#"[80, 30s, "true", "a b", 10.0.0.0/8, false]"#
        );
    }

    #[test]
    fn chains_print_as_one_line() {
        let m = Model {
            elements: vec![
                Element::new("a", "x"),
                Element::new("b", "y").with("n", Literal::int(2)),
            ],
            connections: vec![
                Connection::new("a", 0, "b", 1),
                Connection::new("b", 2, "c", 0),
                Connection::new("a", 1, "c", 0),
            ],
            base_dir: None,
        };
        assert_eq!(
            m.to_text(),
            "a :: x();\nb :: y(n = 2);\n\na -> [1]b[2] -> c;\na[1] -> c;\n"
        );
    }
}
