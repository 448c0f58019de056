//! netfn's graph language: a small text format for graphs of NFs and ports
//! (after Click), its JSON twin, and validation of both into a
//! [`Plan`](netfn_core::config::Plan).
//!
//! ```text
//! text ──parse_str/parse_file──► Model ◄──from_json── JSON
//!                                  │ ▲
//!                        to_text ◄─┘ └─► to_json
//!                                  │
//!                        validate(&Model, &Catalog) ──► Plan ──► check_build (opt-in)
//!                                                          └──► to_dot / to_svg / summary
//! ```
//!
//! * [`parse_file`] / [`parse_str`] read text, follow includes, substitute
//!   variables (with outside definitions from [`Vars`]) and expand
//!   sub-graphs into one flat [`Model`].
//! * [`Model::to_text`], [`Model::to_json`] and [`Model::from_json`] convert
//!   between the forms; each round-trips to an equal model.
//! * [`validate`] checks a model against a catalog and returns a plan or
//!   all the [`Diagnostics`] at once; [`check_build`] then runs each
//!   element's builder and points at the parameter a builder rejects.
//! * [`Diagnostics::render`] prints file:line:col, the line with a caret,
//!   what was expected and a suggestion, deterministically.
//!
//! The language is described in `docs/language.md`.

#![forbid(unsafe_code)]

mod diag;
mod draw;
mod expand;
mod isolate;
mod json;
mod lexer;
mod model;
mod parser;
mod source;
mod validate;
mod values;
mod vars;

use std::path::Path;

pub use diag::{Diagnostic, DiagnosticRecord, Diagnostics, Severity};
pub use draw::{to_dot, to_dot_with_workers, to_svg, to_svg_with_workers};
pub use isolate::{
    ISOLATE_PARAM, RING_KIND, WORKER_FILE_PARAM, WORKER_KIND, WORKER_TEXT_PARAM, WorkerGraph,
    worker_graphs, worker_summary,
};
pub use model::{
    BaseDir, Connection, Element, Isolated, KEYWORDS, Lit, Literal, Model, Param, is_element_name,
    is_ident,
};
pub use source::{Loc, SourceFile};
pub use validate::{TEE_KIND, build_error, check_build, summary, validate};
pub use vars::Vars;

/// Reads a graph file, with everything it includes, into a model.
/// Variables in `vars` override `let`s of the same name.
pub fn parse_file(path: impl AsRef<Path>, vars: &Vars) -> Result<Model, Diagnostics> {
    expand::expand_file(path.as_ref(), vars)
}

/// Reads graph text into a model. `name` names the text in diagnostics and
/// is the path includes and relative file paths are resolved against (its
/// directory).
pub fn parse_str(name: &str, text: &str, vars: &Vars) -> Result<Model, Diagnostics> {
    expand::expand_str(name, text, vars)
}
