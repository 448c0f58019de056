//! Variables defined from outside the graph (`netfn run -D rate=2Mpps`).
//!
//! An outside definition wins over a `let` of the same name in the graph,
//! so one chain file can carry defaults and each setup override them.

use std::collections::BTreeMap;

use crate::diag::{Diagnostic, Diagnostics};
use crate::model::{Lit, Literal, is_ident};
use crate::parser::{self, Expr, ExprKind};
use crate::source::{Loc, SourceFile};

/// Variable definitions given to [`crate::parse_file`] and
/// [`crate::parse_str`].
#[derive(Debug, Clone, Default)]
pub struct Vars {
    defs: BTreeMap<String, Literal>,
}

impl Vars {
    pub fn new() -> Self {
        Vars::default()
    }

    /// Defines `name` from text in the language's value syntax (`2Mpps`,
    /// `[80, 443]`, `"a b"`). Text that is not one value (`a b`) is taken
    /// as a string. Diagnostics point into a source named `-D name`.
    pub fn define(&mut self, name: &str, value: &str) -> Result<&mut Self, Diagnostics> {
        if !is_ident(name) {
            return Err(Diagnostic::error(
                "netfn::define",
                &Loc::None,
                format!("`{name}` is not a valid variable name"),
            )
            .with_help("variable names are identifiers: letters, digits and `_`, not starting with a digit")
            .into());
        }
        let file = SourceFile::new(format!("-D {name}"), None, value);
        let literal = match parser::parse_value(&file) {
            Ok(expr) => literal_of(&expr)?,
            // Not a single value: the text itself.
            Err(_) => Literal {
                lit: Lit::Text(value.to_string()),
                loc: Loc::span(&file, 0, value.len()),
            },
        };
        self.defs.insert(name.to_string(), literal);
        Ok(self)
    }

    /// Defines a variable from `name=value` (the `-D` argument).
    pub fn define_arg(&mut self, arg: &str) -> Result<&mut Self, Diagnostics> {
        match arg.split_once('=') {
            Some((name, value)) => self.define(name.trim(), value),
            None => Err(Diagnostic::error(
                "netfn::define",
                &Loc::None,
                format!("`{arg}` is not a definition"),
            )
            .with_help("write `-D name=value`")
            .into()),
        }
    }

    /// Defines a variable from a literal built by a program.
    pub fn set(&mut self, name: impl Into<String>, value: Literal) -> &mut Self {
        self.defs.insert(name.into(), value);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Literal> {
        self.defs.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.keys().map(String::as_str)
    }
}

/// A value with no variables in it.
fn literal_of(expr: &Expr) -> Result<Literal, Diagnostics> {
    let lit = match &expr.kind {
        ExprKind::Atom(lit) => lit.clone(),
        ExprKind::Str(parts) => match parts.as_slice() {
            [crate::lexer::StrPart::Text(t)] => Lit::Text(t.clone()),
            _ => {
                return Err(Diagnostic::error(
                    "netfn::define",
                    &expr.loc,
                    "variables cannot be used in a -D definition",
                )
                .with_label("`${...}` here")
                .into());
            }
        },
        ExprKind::Var(_) => {
            return Err(Diagnostic::error(
                "netfn::define",
                &expr.loc,
                "variables cannot be used in a -D definition",
            )
            .with_label("`$` here")
            .into());
        }
        ExprKind::List(items) => Lit::List(items.iter().map(literal_of).collect::<Result<_, _>>()?),
    };
    Ok(Literal {
        lit,
        loc: expr.loc.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions() {
        let mut v = Vars::new();
        v.define("rate", "2Mpps").unwrap();
        v.define_arg("ports=[80, 443]").unwrap();
        v.define("name", "two words").unwrap();
        v.define("n", "7").unwrap();
        assert_eq!(v.get("rate").unwrap().lit, Lit::Text("2Mpps".into()));
        assert_eq!(v.get("ports").unwrap().to_string(), "[80, 443]");
        assert_eq!(v.get("name").unwrap().lit, Lit::Text("two words".into()));
        assert_eq!(v.get("n").unwrap().lit, Lit::Int(7));
        assert!(v.define("1x", "1").is_err());
        assert!(v.define_arg("novalue").is_err());
        assert!(v.define("x", "$y").is_err());
    }
}
