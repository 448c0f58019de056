//! The JSON form of the model, for programs (the REST API).
//!
//! ```json
//! {
//!   "elements": [
//!     { "name": "eth0", "kind": "pcap", "params": { "file": "in.pcap" } },
//!     { "name": "fw", "kind": "firewall", "params": { "rules": "fw.rules", "default": "drop" } }
//!   ],
//!   "connections": [
//!     { "from": "eth0", "to": "fw" },
//!     { "from": "fw", "output": 1, "to": "log", "input": 0, "mirror": true }
//!   ]
//! }
//! ```
//!
//! Values are JSON bools, integers, strings (written as in the text
//! language: `"30s"`, `"10.0.0.0/8"`, `"drop"`) and arrays. Errors name the
//! JSON path of the offending value (`$.elements[2].params.rate`).

use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics};
use crate::model::{KEYWORDS, Lit, Literal, Model, is_element_name, is_ident};
use crate::source::{Loc, SourceFile};

impl Model {
    /// Reads a model from JSON. Locations in the model (and so in later
    /// validation errors) are JSON paths.
    pub fn from_json(text: &str) -> Result<Model, Diagnostics> {
        Model::from_json_named("<json>", text)
    }

    /// Like [`Model::from_json`], naming the document in syntax errors.
    pub fn from_json_named(name: &str, text: &str) -> Result<Model, Diagnostics> {
        let file = SourceFile::new(name, None, text);
        let mut de = serde_json::Deserializer::from_str(text);
        let result: Result<Model, _> = serde_path_to_error::deserialize(&mut de);
        let mut model = match result {
            Ok(m) => m,
            Err(e) => return Err(json_error(&file, e.inner(), &e.path().to_string()).into()),
        };
        if let Err(e) = de.end() {
            return Err(json_error(&file, &e, "").into());
        }
        attach_json_locs(&mut model);
        let diags = check_names(&model);
        diags.into_result(model)
    }
}

fn json_error(file: &Arc<SourceFile>, inner: &serde_json::Error, path: &str) -> Diagnostic {
    // serde_json appends " at line L column C"; the location is shown
    // separately.
    let full = inner.to_string();
    let message = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m)
        .to_string();
    let path = json_path(path);
    match inner.classify() {
        serde_json::error::Category::Data => {
            Diagnostic::error("netfn::json", &Loc::json(path), message)
        }
        _ => {
            let start = file.offset_of(inner.line(), inner.column().max(1));
            let end = (start + 1).min(file.text.len()).max(start);
            let mut d = Diagnostic::error(
                "netfn::json",
                &Loc::span(file, start, end),
                format!("invalid JSON: {message}"),
            )
            .with_label(message);
            if path != "$" {
                d = d.with_help(format!("while reading {path}"));
            }
            d
        }
    }
}

/// `elements[2].params.rate` (serde_path_to_error) as `$.elements[2].params.rate`.
fn json_path(p: &str) -> String {
    match p {
        "" | "." => "$".to_string(),
        p if p.starts_with('[') => format!("${p}"),
        p => format!("$.{p}"),
    }
}

fn key_path(base: &Loc, key: &str) -> Loc {
    if is_ident(key) {
        base.field(key)
    } else {
        match base {
            Loc::Json(p) => Loc::json(format!(
                "{p}[{}]",
                serde_json::to_string(key).unwrap_or_default()
            )),
            other => other.clone(),
        }
    }
}

fn attach_json_locs(model: &mut Model) {
    let root = Loc::json("$");
    for (i, e) in model.elements.iter_mut().enumerate() {
        let at = root.field("elements").index(i);
        e.loc = at.field("name");
        e.kind_loc = at.field("kind");
        for p in &mut e.params {
            p.loc = key_path(&at.field("params"), &p.name);
            set_value_locs(&mut p.value, &p.loc);
        }
    }
    for (i, c) in model.connections.iter_mut().enumerate() {
        let at = root.field("connections").index(i);
        c.from_loc = at.field("from");
        c.to_loc = at.field("to");
        c.loc = at;
    }
}

fn set_value_locs(v: &mut Literal, loc: &Loc) {
    v.loc = loc.clone();
    if let Lit::List(items) = &mut v.lit {
        for (i, item) in items.iter_mut().enumerate() {
            set_value_locs(item, &loc.index(i));
        }
    }
}

/// Names the text language can print and read back.
pub(crate) fn check_names(model: &Model) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let name_help = "element names are identifiers (letters, digits, `_`), optionally joined by `/` and numbered with `@n`";
    for e in &model.elements {
        if !is_element_name(&e.name) {
            let why = if KEYWORDS.contains(&e.name.as_str()) {
                "is a keyword"
            } else {
                "is not a valid element name"
            };
            diags.push(
                Diagnostic::error("netfn::name", &e.loc, format!("`{}` {why}", e.name))
                    .with_label("invalid name")
                    .with_help(name_help),
            );
        }
        if !is_ident(&e.kind) {
            diags.push(
                Diagnostic::error(
                    "netfn::name",
                    &e.kind_loc,
                    format!("`{}` is not a valid element kind", e.kind),
                )
                .with_label("invalid kind")
                .with_help("kinds are identifiers (letters, digits, `_`)"),
            );
        }
        for p in &e.params {
            if !is_ident(&p.name) {
                diags.push(
                    Diagnostic::error(
                        "netfn::name",
                        &p.loc,
                        format!("`{}` is not a valid parameter name", p.name),
                    )
                    .with_label("invalid parameter name")
                    .with_help("parameter names are identifiers (letters, digits, `_`)"),
                );
            }
        }
    }
    for c in &model.connections {
        for (name, loc) in [(&c.from, &c.from_loc), (&c.to, &c.to_loc)] {
            if !is_element_name(name) {
                diags.push(
                    Diagnostic::error(
                        "netfn::name",
                        loc,
                        format!("`{name}` is not a valid element name"),
                    )
                    .with_label("invalid name")
                    .with_help(name_help),
                );
            }
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_data_errors() {
        let err = Model::from_json(r#"{"elements": [{"name": "a", "kind": "k"}, {"name": "b", "kind": "k", "params": {"x": 1.5}}]}"#)
            .unwrap_err();
        let d = err.iter().next().unwrap();
        assert_eq!(d.json_path(), Some("$.elements[1].params.x"));
        assert!(d.message.contains("not an integer"), "{}", d.message);

        let err = Model::from_json(r#"{"elements": [], "conections": []}"#).unwrap_err();
        let d = err.iter().next().unwrap();
        assert_eq!(d.json_path(), Some("$.conections"));
    }

    #[test]
    fn syntax_errors_point_into_the_text() {
        let err = Model::from_json("{\n  \"elements\": [,]\n}").unwrap_err();
        let d = err.iter().next().unwrap();
        assert_eq!((d.line(), d.col()), (Some(2), Some(16)));
    }

    #[test]
    fn names_are_checked() {
        let err = Model::from_json(r#"{"elements": [{"name": "my fw", "kind": "k"}], "connections": [{"from": "let", "to": "x"}]}"#)
            .unwrap_err();
        let paths: Vec<_> = err
            .iter()
            .map(|d| d.json_path().unwrap().to_string())
            .collect();
        assert_eq!(paths, ["$.elements[0].name", "$.connections[0].from"]);
    }

    #[test]
    fn json_shape() {
        let m = crate::parse_str(
            "t.nf",
            "a :: k(x = 30s, l = [1, \"two\"], b = true); a[1] ->> [2]b; a -> c;",
            &crate::Vars::new(),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "elements": [{"name": "a", "kind": "k", "params": {"x": "30s", "l": [1, "two"], "b": true}}],
                "connections": [
                    {"from": "a", "output": 1, "to": "b", "input": 2, "mirror": true},
                    {"from": "a", "to": "c"}
                ]
            })
        );
    }
}
