//! Isolated instances: `p :: Tenant(rules = "a.rules", isolate = process)`
//! runs the instance's body in a Worker process of its own.
//!
//! Expansion (`expand.rs`) turns the body, with its parameters bound and
//! nested instances expanded, into the Worker's graph: a `ring()` port
//! named `p/ring@0` where the body had `input` and `output`, and the body's
//! elements under their usual names (`p/fw`, `p/ttl@1`). In the Master's
//! model the instance becomes one `worker` element named `p` whose `text`
//! parameter is that graph printed in the text language (so text and JSON
//! carry it like any parameter), and which keeps the graph with the places
//! it was written at ([`crate::model::Isolated`]).
//!
//! Validation (`validate.rs`) checks the Worker's graph against the same
//! catalog (errors point into the files the body was written in) and puts
//! into the plan the text the Worker runs: the same graph with every file
//! parameter made absolute, resolved against the file it was written in,
//! so the Worker reads the same rules files the in-process graph would.

use std::path::Path;
use std::sync::Arc;

use netfn_core::config::{Catalog, ParamType, Plan, Value};

use crate::diag::{Diagnostic, Diagnostics};
use crate::model::{Element, Lit, Literal, Model};
use crate::source::{Loc, SourceFile};
use crate::values::coerce;

/// The instance parameter every graph instance takes (a graph cannot
/// declare a parameter of this name).
pub const ISOLATE_PARAM: &str = "isolate";
/// The element kind that stands for a Worker in the Master's graph.
pub const WORKER_KIND: &str = "worker";
/// Its parameter holding the Worker's graph as text.
pub const WORKER_TEXT_PARAM: &str = "text";
/// Its parameter naming the Worker's graph file.
pub const WORKER_FILE_PARAM: &str = "graph";
/// The port kind of a Worker's graph that faces its Master.
pub const RING_KIND: &str = "ring";

/// The name of the ring port in the Worker of isolated instance `instance`
/// (`@0`, like `x/tee@0`, is never an anonymous element's number).
pub(crate) fn ring_name(instance: &str) -> String {
    format!("{instance}/{RING_KIND}@0")
}

/// The graph a `worker` element runs from its `text` parameter.
#[derive(Debug, Clone)]
pub struct WorkerGraph {
    /// The `worker` element (the isolated instance's name).
    pub name: String,
    /// The Worker's graph; located in the files it was written in when the
    /// Master's graph came from text.
    pub model: Arc<Model>,
    pub plan: Plan,
    /// What the Worker is given: the graph with absolute file paths.
    pub text: String,
}

fn nonempty_text<'e>(e: &'e Element, param: &str) -> Option<&'e crate::model::Param> {
    e.param(param)
        .filter(|p| !matches!(&p.value.lit, Lit::Text(t) if t.is_empty()))
}

/// The Worker's graph of `worker` element `e` given by `text`: the located
/// one kept by expansion, else the text parsed (it came from JSON, or from
/// a printed model). `None` if `e` has no `text`.
fn body_of(e: &Element, base_dir: Option<&Path>) -> Option<Result<Arc<Model>, Diagnostics>> {
    let param = nonempty_text(e, WORKER_TEXT_PARAM)?;
    if let Some(body) = &e.isolated.0 {
        return Some(Ok(body.clone()));
    }
    let Lit::Text(text) = &param.value.lit else {
        // Not text: validation of the parameter's type reports it.
        return Some(Err(Diagnostics::new()));
    };
    // Relative paths in the text are relative to the file the text is
    // written in, like any path.
    let name = format!("{}.{WORKER_TEXT_PARAM}", e.name);
    let dir = param
        .value
        .loc
        .file()
        .and_then(|f| f.dir())
        .or(base_dir)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let file = SourceFile::new(name.clone(), Some(dir.join(&name)), text.clone());
    Some(crate::expand::expand_source(&file, &crate::Vars::new()).map(Arc::new))
}

/// Checks `worker` element `e` of the Master's model: `graph` or `text`,
/// not both; a `text` must be a valid graph with one `ring()` port. Returns
/// the text the Worker runs, if `e` has a valid `text`.
pub(crate) fn check_worker(
    e: &Element,
    catalog: &Catalog,
    base_dir: Option<&Path>,
    diags: &mut Diagnostics,
) -> Option<String> {
    let file = nonempty_text(e, WORKER_FILE_PARAM);
    let text = nonempty_text(e, WORKER_TEXT_PARAM);
    match (file, text) {
        (Some(f), Some(t)) => {
            diags.push(
                Diagnostic::error(
                    "netfn::worker",
                    &t.loc,
                    format!(
                        "`{}` gives both `{WORKER_FILE_PARAM}` and `{WORKER_TEXT_PARAM}`",
                        e.name
                    ),
                )
                .with_label("second graph")
                .with_secondary(&f.loc, "first graph")
                .with_help(format!(
                    "a Worker runs one graph: keep `{WORKER_FILE_PARAM}` (a file) or `{WORKER_TEXT_PARAM}` (the graph itself)"
                )),
            );
            return None;
        }
        (None, None) => {
            diags.push(
                Diagnostic::error(
                    "netfn::missing-param",
                    &e.kind_loc,
                    format!("`{}` has no graph to run", e.name),
                )
                .with_label(format!(
                    "`{WORKER_KIND}` needs `{WORKER_FILE_PARAM}` or `{WORKER_TEXT_PARAM}`"
                ))
                .with_help(format!(
                    "add `{WORKER_FILE_PARAM} = \"tenant.nf\"`, or isolate a sub-graph instance: `p :: Tenant(isolate = process)`"
                )),
            );
            return None;
        }
        (Some(_), None) => return None,
        (None, Some(_)) => {}
    }
    let body = match body_of(e, base_dir)? {
        Ok(body) => body,
        Err(d) => {
            diags.extend(d);
            return None;
        }
    };
    let plan = match crate::validate::validate(&body, catalog) {
        Ok(plan) => plan,
        Err(d) => {
            diags.extend(d);
            return None;
        }
    };
    let rings = plan
        .nodes
        .iter()
        .filter(|n| n.spec.kind == RING_KIND)
        .count();
    if rings != 1 {
        let loc = text.map_or(Loc::None, |t| t.loc.to(&t.value.loc));
        diags.push(
            Diagnostic::error(
                "netfn::worker",
                &loc,
                format!(
                    "the graph of `{}` has {rings} `{RING_KIND}()` ports",
                    e.name
                ),
            )
            .with_label(format!("expected one `{RING_KIND}()` port"))
            .with_help(format!(
                "a Worker's graph talks to its Master through one `{RING_KIND}()` port: `r :: {RING_KIND}(); r -> ... -> r;`"
            )),
        );
        return None;
    }
    Some(resolved_text(&body, catalog, base_dir))
}

/// The model printed with every file parameter absolute (resolved against
/// the file its value is written in), so the text means the same wherever
/// it is read.
fn resolved_text(body: &Model, catalog: &Catalog, base_dir: Option<&Path>) -> String {
    let mut out = body.clone();
    for e in &mut out.elements {
        let Some(spec) = catalog.get(&e.kind) else {
            continue;
        };
        for p in &mut e.params {
            let Some(ps) = spec.param(&p.name) else {
                continue;
            };
            if !holds_paths(&ps.ty) {
                continue;
            }
            if let Ok(v) = coerce(&p.value, &ps.ty, base_dir) {
                p.value = absolute(&v);
            }
        }
    }
    out.to_text()
}

fn holds_paths(ty: &ParamType) -> bool {
    match ty {
        ParamType::Path => true,
        ParamType::List(inner) => holds_paths(inner),
        _ => false,
    }
}

/// A resolved path value (or list of them) as a literal, made absolute
/// against the current directory if it is still relative.
fn absolute(v: &Value) -> Literal {
    match v {
        Value::List(items) => Literal::list(items.iter().map(absolute).collect()),
        Value::Str(s) if !s.is_empty() => {
            let p = std::path::absolute(s.as_ref()).unwrap_or_else(|_| s.as_ref().into());
            Literal::text(p.to_string_lossy().into_owned())
        }
        other => Literal::text(other.to_string()),
    }
}

/// The graphs of the model's `worker` elements given by `text` (isolated
/// instances), validated, for `netfn check` and `netfn graph`. Call on a
/// model that validates.
pub fn worker_graphs(model: &Model, catalog: &Catalog) -> Result<Vec<WorkerGraph>, Diagnostics> {
    let base_dir = model.base_dir.as_ref().map(|b| b.0.as_path());
    let mut out = Vec::new();
    let mut diags = Diagnostics::new();
    for e in model.elements.iter().filter(|e| e.kind == WORKER_KIND) {
        let Some(body) = body_of(e, base_dir) else {
            continue;
        };
        let body = match body {
            Ok(b) => b,
            Err(d) => {
                diags.extend(d);
                continue;
            }
        };
        match crate::validate::validate(&body, catalog) {
            Ok(plan) => out.push(WorkerGraph {
                name: e.name.clone(),
                text: resolved_text(&body, catalog, base_dir),
                model: body,
                plan,
            }),
            Err(d) => diags.extend(d),
        }
    }
    diags.into_result(out)
}

/// One line about a Worker's graph: `worker p: 3 elements (p/ring@0 ring,
/// p/ttl@1 ttl, p/c counter), 3 connections`.
pub fn worker_summary(w: &WorkerGraph) -> String {
    let elements: Vec<String> = w
        .plan
        .nodes
        .iter()
        .map(|n| format!("{} {}", n.name, n.spec.kind))
        .collect();
    format!(
        "worker {}: {} element{} ({}), {} connection{}",
        w.name,
        elements.len(),
        if elements.len() == 1 { "" } else { "s" },
        elements.join(", "),
        w.plan.edges.len(),
        if w.plan.edges.len() == 1 { "" } else { "s" },
    )
}
