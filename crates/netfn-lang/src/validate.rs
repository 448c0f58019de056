//! Validation: a model checked against the catalog becomes a
//! [`Plan`](netfn_core::config::Plan), or every problem is reported.
//!
//! Checks, in order: names; element kinds and parameters (unknown,
//! duplicate, missing, typed); connections (unknown elements, port numbers
//! against each kind's arity, outputs connected twice); mirrors become
//! `tee` nodes; then the shape of the whole graph (unused elements, required
//! ports left unconnected, cycles that no port breaks, NFs no source
//! reaches). A plan is returned only when there is no error.

use std::collections::HashMap;
use std::path::Path;

use netfn_core::config::{
    Arity, Build, Catalog, ConfigError, ElementSpec, Params, Plan, PlanEdge, PlanNode, Value,
};

use crate::diag::{Diagnostic, Diagnostics, closest, suggest};
use crate::isolate::{ISOLATE_PARAM, WORKER_KIND, WORKER_TEXT_PARAM, check_worker};
use crate::json::check_names;
use crate::model::{Element, Lit, Literal, Model};
use crate::parser;
use crate::source::{Loc, SourceFile};
use crate::values::{coerce, example};

/// The element kind mirror connections turn into; it takes the number of
/// outputs as parameter `n`.
pub const TEE_KIND: &str = "tee";

/// Validates a model against a catalog.
pub fn validate(model: &Model, catalog: &Catalog) -> Result<Plan, Diagnostics> {
    validate_with_locs(model, catalog).map(|(plan, _)| plan)
}

/// Where each plan node and edge came from, for later diagnostics.
pub(crate) struct PlanLocs {
    pub edges: Vec<Loc>,
}

pub(crate) fn validate_with_locs(
    model: &Model,
    catalog: &Catalog,
) -> Result<(Plan, PlanLocs), Diagnostics> {
    let mut v = Validator {
        model,
        catalog,
        diags: check_names(model),
    };
    let result = v.run();
    let diags = v.diags;
    match result {
        Some(plan) if !diags.has_errors() => Ok(plan),
        _ => Err(diags),
    }
}

struct Validator<'a> {
    model: &'a Model,
    catalog: &'a Catalog,
    diags: Diagnostics,
}

/// An element that passed its own checks.
struct Checked {
    spec: &'static ElementSpec,
    params: Params,
    /// Whether its parameters are all valid (port counts may depend on them).
    params_ok: bool,
}

impl<'a> Validator<'a> {
    fn base_dir(&self) -> Option<&'a Path> {
        self.model.base_dir.as_ref().map(|b| b.0.as_path())
    }

    fn run(&mut self) -> Option<(Plan, PlanLocs)> {
        let model = self.model;
        // Elements.
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut checked: Vec<Option<Checked>> = Vec::with_capacity(model.elements.len());
        for (i, e) in model.elements.iter().enumerate() {
            if let Some(&first) = index.get(e.name.as_str()) {
                self.diags.push(
                    Diagnostic::error(
                        "netfn::duplicate",
                        &e.loc,
                        format!("element `{}` is declared twice", e.name),
                    )
                    .with_label("second declaration")
                    .with_secondary(&model.elements[first].loc, "first declared here"),
                );
                checked.push(None);
                continue;
            }
            index.insert(&e.name, i);
            checked.push(self.element(e));
        }

        // Connections.
        let mut by_output: HashMap<(usize, u16), Vec<usize>> = HashMap::new();
        let mut connected = vec![false; model.elements.len()];
        // Whether every connection is sound; if not, the graph's shape is
        // not what was meant, and checks of it would only echo the broken
        // connection.
        let mut connections_ok = true;
        for (ci, c) in model.connections.iter().enumerate() {
            let from = self.resolve(&index, &c.from, &c.from_loc);
            let to = self.resolve(&index, &c.to, &c.to_loc);
            connections_ok &= from.is_some() && to.is_some();
            if let Some(f) = from {
                connected[f] = true;
            }
            if let Some(t) = to {
                connected[t] = true;
            }
            let (Some(from), Some(to)) = (from, to) else {
                continue;
            };
            let out_ok =
                self.port_in_range(&checked[from], from, c.output, Side::Output, &c.from_loc);
            let in_ok = self.port_in_range(&checked[to], to, c.input, Side::Input, &c.to_loc);
            connections_ok &= out_ok && in_ok;
            if out_ok && in_ok {
                by_output.entry((from, c.output)).or_default().push(ci);
            }
        }

        // Each output: one ordinary connection, plus mirrors.
        let mut groups: Vec<((usize, u16), Vec<usize>)> = by_output.into_iter().collect();
        groups.sort_by_key(|(_, conns)| conns[0]);
        for (_, conns) in &groups {
            let plain: Vec<&crate::model::Connection> = conns
                .iter()
                .map(|&ci| &model.connections[ci])
                .filter(|c| !c.mirror)
                .collect();
            if plain.len() > 1 {
                for c in &plain[1..] {
                    let port = if c.output == 0 {
                        String::new()
                    } else {
                        format!("[{}]", c.output)
                    };
                    self.diags.push(
                        Diagnostic::error(
                            "netfn::output-twice",
                            &c.from_loc,
                            format!("output {} of `{}` is already connected", c.output, c.from),
                        )
                        .with_label(format!("second connection of `{}{port}`", c.from))
                        .with_secondary(&plain[0].from_loc, format!("first connected to `{}` here", plain[0].to))
                        .with_help(format!(
                            "to copy packets to `{}` as well, write `{}{port} ->> {}` (a mirror); to split traffic, put a classifier in front",
                            c.to, c.from, c.to
                        )),
                    );
                }
            }
        }

        // The plan's nodes, then tees for mirrored outputs.
        let mut plan = Plan::default();
        let mut node_of: Vec<Option<usize>> = vec![None; model.elements.len()];
        for (i, c) in checked.iter().enumerate() {
            if let Some(c) = c {
                node_of[i] = Some(plan.nodes.len());
                plan.nodes.push(PlanNode {
                    name: model.elements[i].name.clone(),
                    spec: c.spec,
                    params: c.params.clone(),
                });
            }
        }
        // Workers given their graph as text (isolated instances): that
        // graph is checked here too, and the plan carries the text the
        // Worker runs.
        for (i, e) in model.elements.iter().enumerate() {
            let Some(node) = node_of[i] else { continue };
            if plan.nodes[node].spec.kind != WORKER_KIND {
                continue;
            }
            if let Some(text) = check_worker(e, self.catalog, self.base_dir(), &mut self.diags) {
                plan.nodes[node]
                    .params
                    .set(WORKER_TEXT_PARAM, Value::Str(text.into()));
            }
        }
        let mut edge_locs = Vec::new();
        let mut tee_spec: Option<Option<&'static ElementSpec>> = None;
        for ((from, output), conns) in &groups {
            let Some(from_node) = node_of[*from] else {
                continue;
            };
            let targets: Vec<(usize, u16, &crate::model::Connection)> = {
                let mut ordered: Vec<&crate::model::Connection> =
                    conns.iter().map(|&ci| &model.connections[ci]).collect();
                // The ordinary connection is the tee's output 0.
                ordered.sort_by_key(|c| c.mirror);
                ordered
                    .into_iter()
                    .filter_map(|c| {
                        index
                            .get(c.to.as_str())
                            .and_then(|&t| node_of[t])
                            .map(|t| (t, c.input, c))
                    })
                    .collect()
            };
            if targets.len() == conns.len()
                && targets.len() > 1
                && targets.iter().any(|(_, _, c)| c.mirror)
            {
                let first_mirror = targets
                    .iter()
                    .find(|(_, _, c)| c.mirror)
                    .map(|(_, _, c)| *c);
                let spec = *tee_spec
                    .get_or_insert_with(|| self.catalog.get(TEE_KIND).filter(|s| !s.is_port()));
                let Some(spec) = spec else {
                    if let Some(m) = first_mirror {
                        self.diags.push(
                            Diagnostic::error(
                                "netfn::no-tee",
                                &m.loc,
                                format!("mirror connections need an NF of kind `{TEE_KIND}`, which this catalog lacks"),
                            )
                            .with_label("mirror")
                            .with_help("use `->` and a classifier, or build netfn with the `tee` NF"),
                        );
                    }
                    continue;
                };
                let mut params = self.defaults(spec, &model.elements[*from]);
                params.set("n", Value::Int(targets.len() as i64));
                let mut name = format!("{}/{TEE_KIND}@{output}", model.elements[*from].name);
                while plan.node(&name).is_some() {
                    name.push('_');
                }
                let tee = plan.nodes.len();
                plan.nodes.push(PlanNode { name, spec, params });
                plan.edges.push(PlanEdge {
                    from: from_node,
                    output: *output,
                    to: tee,
                    input: 0,
                });
                edge_locs.push(first_mirror.map_or(Loc::None, |m| m.from_loc.to(&m.to_loc)));
                for (k, (to, input, c)) in targets.iter().enumerate() {
                    plan.edges.push(PlanEdge {
                        from: tee,
                        output: k as u16,
                        to: *to,
                        input: *input,
                    });
                    edge_locs.push(c.from_loc.to(&c.to_loc));
                }
            } else {
                for (to, input, c) in targets {
                    plan.edges.push(PlanEdge {
                        from: from_node,
                        output: *output,
                        to,
                        input,
                    });
                    edge_locs.push(c.from_loc.to(&c.to_loc));
                }
            }
        }

        // Unused elements.
        for (i, e) in model.elements.iter().enumerate() {
            if connections_ok && !connected[i] && checked[i].is_some() {
                self.diags.push(
                    Diagnostic::error(
                        "netfn::unused",
                        &e.loc,
                        format!("`{}` is declared but never connected", e.name),
                    )
                    .with_label("not connected to anything")
                    .with_help(format!(
                        "connect it (`... -> {} -> ...`) or remove the declaration",
                        e.name
                    )),
                );
            }
        }

        let locs = PlanLocs { edges: edge_locs };
        self.shape(&plan, &locs, &node_of, &connected, &checked, connections_ok);
        Some((plan, locs))
    }

    /// Checks one element's kind and parameters.
    fn element(&mut self, e: &Element) -> Option<Checked> {
        let Some(spec) = self.catalog.get(&e.kind) else {
            let kinds: Vec<&str> = self.catalog.iter().map(|s| s.kind).collect();
            let help = suggest(&e.kind, kinds.iter().copied(), "known kinds")
                .unwrap_or_else(|| "`netfn nfs` lists the element kinds".to_string());
            self.diags.push(
                Diagnostic::error(
                    "netfn::unknown-kind",
                    &e.kind_loc,
                    format!("unknown element kind `{}`", e.kind),
                )
                .with_label("not in the catalog")
                .with_help(help),
            );
            return None;
        };
        let mut params = Params::new();
        let mut ok = true;
        let mut seen: HashMap<&str, &Loc> = HashMap::new();
        for p in &e.params {
            if let Some(first) = seen.insert(&p.name, &p.loc) {
                self.diags.push(
                    Diagnostic::error(
                        "netfn::duplicate",
                        &p.loc,
                        format!("parameter `{}` is given twice", p.name),
                    )
                    .with_label("second value")
                    .with_secondary(first, "first value"),
                );
                ok = false;
                continue;
            }
            let Some(ps) = spec.param(&p.name) else {
                let names: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
                let help = suggest(
                    &p.name,
                    names.iter().copied(),
                    &format!("parameters of `{}`", spec.kind),
                )
                .unwrap_or_else(|| format!("`{}` takes no parameters", spec.kind));
                let help = if p.name == ISOLATE_PARAM {
                    format!(
                        "`{ISOLATE_PARAM}` is for instances of a `graph`: put the `{}` in one (`graph G() {{ input -> {}(...) -> output; }}`) and isolate that",
                        spec.kind, spec.kind
                    )
                } else {
                    help
                };
                self.diags.push(
                    Diagnostic::error(
                        "netfn::unknown-param",
                        &p.loc,
                        format!("`{}` has no parameter `{}`", spec.kind, p.name),
                    )
                    .with_label("unknown parameter")
                    .with_help(help),
                );
                ok = false;
                continue;
            };
            match coerce(&p.value, &ps.ty, self.base_dir()) {
                Ok(v) => {
                    params.set(ps.name, v);
                }
                Err(errors) => {
                    for d in errors {
                        self.diags.push(d);
                    }
                    ok = false;
                }
            }
        }
        let mut missing = Vec::new();
        for ps in spec.params {
            if params.get(ps.name).is_some() || seen.contains_key(ps.name) {
                continue;
            }
            match ps.default {
                Some(_) => {}
                None => missing.push(ps),
            }
        }
        for ps in &missing {
            self.diags.push(
                Diagnostic::error(
                    "netfn::missing-param",
                    &e.kind_loc,
                    format!("missing parameter `{}` of `{}`", ps.name, spec.kind),
                )
                .with_label(format!("`{}` needs `{}` ({})", spec.kind, ps.name, ps.ty))
                .with_help(format!(
                    "add `{} = {}`: {}",
                    ps.name,
                    example(&ps.ty),
                    ps.doc
                )),
            );
            ok = false;
        }
        // Complete with defaults, in the spec's order.
        let defaults = self.defaults(spec, e);
        let mut complete = Params::new();
        for ps in spec.params {
            if let Some(v) = params.get(ps.name).or_else(|| defaults.get(ps.name)) {
                complete.set(ps.name, v.clone());
            }
        }
        Some(Checked {
            spec,
            params: complete,
            params_ok: ok,
        })
    }

    /// The spec's default values. A default that does not read as its own
    /// type is a bug in the catalog, reported at the element.
    fn defaults(&mut self, spec: &ElementSpec, e: &Element) -> Params {
        let mut out = Params::new();
        for ps in spec.params {
            let Some(text) = ps.default else { continue };
            let file = SourceFile::new(format!("default of {}.{}", spec.kind, ps.name), None, text);
            let value = parser::parse_value(&file)
                .ok()
                .and_then(|expr| literal_of_default(&expr))
                .and_then(|lit| coerce(&lit, &ps.ty, None).ok());
            match value {
                Some(v) => {
                    out.set(ps.name, v);
                }
                None => self.diags.push(
                    Diagnostic::error(
                        "netfn::catalog",
                        &e.kind_loc,
                        format!(
                            "the catalog's default `{text}` for `{}.{}` is not {}",
                            spec.kind, ps.name, ps.ty
                        ),
                    )
                    .with_label("element with a broken default")
                    .with_help(format!(
                        "give `{} = ...` explicitly, and report this bug",
                        ps.name
                    )),
                ),
            }
        }
        out
    }

    fn resolve(&mut self, index: &HashMap<&str, usize>, name: &str, loc: &Loc) -> Option<usize> {
        if let Some(&i) = index.get(name) {
            return Some(i);
        }
        let help = if let Some(c) =
            closest(name, self.model.elements.iter().map(|e| e.name.as_str()))
        {
            format!("did you mean `{c}`?")
        } else if self.catalog.get(name).is_some() {
            format!(
                "`{name}` is an element kind: write `{name}()` for an anonymous one, or declare `x :: {name}(...)`"
            )
        } else {
            format!("declare it first: `{name} :: kind(...);`")
        };
        self.diags.push(
            Diagnostic::error(
                "netfn::unknown-element",
                loc,
                format!("unknown element `{name}`"),
            )
            .with_label("not declared")
            .with_help(help),
        );
        None
    }

    fn port_in_range(
        &mut self,
        checked: &Option<Checked>,
        i: usize,
        port: u16,
        side: Side,
        loc: &Loc,
    ) -> bool {
        let Some(c) = checked else { return true };
        if !c.params_ok && matches!(side.arity(c.spec), Arity::FromParam { .. }) {
            return true;
        }
        let (_, hi) = side.arity(c.spec).range(&c.params);
        if port < hi {
            return true;
        }
        let e = &self.model.elements[i];
        let what = side.name();
        let (label, help) = match (hi, c.spec.is_port(), side) {
            (0, true, Side::Output) => (
                format!("`{}` only transmits", c.spec.kind),
                format!(
                    "`{}` can only be written after an arrow (`... -> {}`)",
                    e.name, e.name
                ),
            ),
            (0, true, Side::Input) => (
                format!("`{}` only receives", c.spec.kind),
                format!(
                    "`{}` can only start a connection (`{} -> ...`)",
                    e.name, e.name
                ),
            ),
            (0, false, _) => (
                format!("`{}` has no {what}s", c.spec.kind),
                format!("`{}` has no {what}s", e.name),
            ),
            (1, _, _) => (
                format!("`{}` has one {what}", c.spec.kind),
                format!("drop the `[{port}]`: {what}s are numbered from 0"),
            ),
            _ => {
                let why = match side.arity(c.spec) {
                    Arity::FromParam { param, .. } => match c.params.get(param) {
                        Some(v) => format!(" (set by `{param} = {v}`)"),
                        None => String::new(),
                    },
                    _ => String::new(),
                };
                (
                    format!("`{}` has {hi} {what}s{why}", e.name),
                    format!("{what}s of `{}` are numbered 0..={}", e.name, hi - 1),
                )
            }
        };
        self.diags.push(
            Diagnostic::error(
                "netfn::port-range",
                loc,
                format!("`{}` has no {what} {port}", e.name),
            )
            .with_label(label)
            .with_help(help),
        );
        false
    }

    /// Whole-graph checks on the plan.
    fn shape(
        &mut self,
        plan: &Plan,
        locs: &PlanLocs,
        node_of: &[Option<usize>],
        connected: &[bool],
        checked: &[Option<Checked>],
        connections_ok: bool,
    ) {
        let n = plan.nodes.len();
        let model = self.model;
        // Node -> element (tees have none).
        let mut element_of = vec![None; n];
        for (i, node) in node_of.iter().enumerate() {
            if let Some(node) = node {
                element_of[*node] = Some(i);
            }
        }
        let is_port = |k: usize| plan.nodes[k].spec.is_port();

        // Required ports of NFs.
        for (k, node) in plan.nodes.iter().enumerate() {
            let Some(i) = element_of[k] else { continue };
            let c = checked[i].as_ref();
            if !connections_ok
                || !connected[i]
                || node.spec.is_port()
                || c.is_some_and(|c| !c.params_ok)
            {
                continue;
            }
            let e = &model.elements[i];
            let has_input = plan.edges.iter().any(|ed| ed.to == k);
            let (out_lo, _) = node.spec.outputs.range(&node.params);
            for o in 0..out_lo {
                if !plan.edges.iter().any(|ed| ed.from == k && ed.output == o) {
                    let port = if o == 0 {
                        String::new()
                    } else {
                        format!("[{o}]")
                    };
                    self.diags.push(
                        Diagnostic::error("netfn::unconnected", &e.loc, format!("output {o} of `{}` is not connected", e.name))
                            .with_label(format!("`{}{port}` leads nowhere", e.name))
                            .with_help(format!(
                                "packets `{}` sends there would be dropped; connect it: `{}{port} -> ...`",
                                e.name, e.name
                            )),
                    );
                }
            }
            if has_input {
                let (in_lo, _) = node.spec.inputs.range(&node.params);
                for p in 0..in_lo {
                    if !plan.edges.iter().any(|ed| ed.to == k && ed.input == p) {
                        self.diags.push(
                            Diagnostic::error(
                                "netfn::unconnected",
                                &e.loc,
                                format!("input {p} of `{}` is not connected", e.name),
                            )
                            .with_label(format!(
                                "`{}` needs {} inputs",
                                node.spec.kind, node.spec.inputs
                            ))
                            .with_help(format!(
                                "connect something to it: `... -> [{p}]{}`",
                                e.name
                            )),
                        );
                    }
                }
            }
        }

        // Cycles among NFs (an edge into a port ends a path).
        let nf_succ: Vec<Vec<(usize, usize)>> = (0..n)
            .map(|k| {
                plan.edges
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.from == k && !is_port(k) && !is_port(e.to))
                    .map(|(ei, e)| (e.to, ei))
                    .collect()
            })
            .collect();
        for scc in strongly_connected(&nf_succ) {
            let self_loop = scc.len() == 1 && nf_succ[scc[0]].iter().any(|(t, _)| *t == scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let (path, closing) = cycle_path(&nf_succ, &scc);
            let names: Vec<&str> = path
                .iter()
                .chain(std::iter::once(&path[0]))
                .map(|&k| plan.nodes[k].name.as_str())
                .collect();
            let closing_edge = plan.edges[closing];
            let port = |p: u16| {
                if p == 0 {
                    String::new()
                } else {
                    format!("[{p}]")
                }
            };
            let last = format!("{}{}", names[names.len() - 2], port(closing_edge.output));
            let first = format!("{}{}", port(closing_edge.input), names[0]);
            let help = if self.catalog.get("queue").is_some_and(ElementSpec::is_port) {
                format!(
                    "NFs run to completion in one pass, so a loop must go through a port: e.g. `{last} -> queue() -> {first}`"
                )
            } else {
                "NFs run to completion in one pass, so a loop must go through a port (a queue)"
                    .to_string()
            };
            self.diags.push(
                Diagnostic::error(
                    "netfn::cycle",
                    &locs.edges[closing],
                    format!("cycle without a queue: {}", names.join(" -> ")),
                )
                .with_label("this connection closes the loop")
                .with_help(help),
            );
        }

        // Reachability from sources: ports, and NFs without inputs (they
        // make their own packets).
        let mut reached = vec![false; n];
        let mut stack: Vec<usize> = (0..n)
            .filter(|&k| {
                is_port(k) || plan.nodes[k].spec.inputs.range(&plan.nodes[k].params).1 == 0
            })
            .collect();
        for &k in &stack {
            reached[k] = true;
        }
        while let Some(k) = stack.pop() {
            for e in plan.edges.iter().filter(|e| e.from == k) {
                if !reached[e.to] {
                    reached[e.to] = true;
                    stack.push(e.to);
                }
            }
        }
        // Report the first unreachable NF of each stretch, not all of them.
        let unreached: Vec<usize> = (0..n)
            .filter(|&k| {
                connections_ok && !reached[k] && element_of[k].is_some_and(|i| connected[i])
            })
            .collect();
        let mut explained = vec![false; n];
        loop {
            let root = unreached
                .iter()
                .copied()
                .filter(|&k| !explained[k])
                .find(|&k| {
                    !plan
                        .edges
                        .iter()
                        .any(|e| e.to == k && !reached[e.from] && !explained[e.from] && e.from != k)
                })
                .or_else(|| unreached.iter().copied().find(|&k| !explained[k]));
            let Some(root) = root else { break };
            let mut after = Vec::new();
            let mut stack = vec![root];
            explained[root] = true;
            while let Some(k) = stack.pop() {
                for e in plan.edges.iter().filter(|e| e.from == k) {
                    if !reached[e.to] && !explained[e.to] {
                        explained[e.to] = true;
                        after.push(e.to);
                        stack.push(e.to);
                    }
                }
            }
            let e = &model.elements[element_of[root].unwrap_or_default()];
            let mut help = format!(
                "connect a port's receive side to it (`eth0 -> {}`), or remove it",
                e.name
            );
            if !after.is_empty() {
                after.sort_unstable();
                let names: Vec<String> = after
                    .iter()
                    .map(|&k| format!("`{}`", plan.nodes[k].name))
                    .collect();
                help.push_str(&format!(
                    "; {} after it {} unreachable too",
                    names.join(", "),
                    if after.len() == 1 { "is" } else { "are" }
                ));
            }
            self.diags.push(
                Diagnostic::error(
                    "netfn::unreachable",
                    &e.loc,
                    format!("`{}` is unreachable: no source port feeds it", e.name),
                )
                .with_label("no packets arrive here")
                .with_help(help),
            );
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Input,
    Output,
}

impl Side {
    fn arity(self, spec: &ElementSpec) -> Arity {
        match self {
            Side::Input => spec.inputs,
            Side::Output => spec.outputs,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Side::Input => "input",
            Side::Output => "output",
        }
    }
}

fn literal_of_default(expr: &parser::Expr) -> Option<Literal> {
    use parser::ExprKind;
    let lit = match &expr.kind {
        ExprKind::Atom(l) => l.clone(),
        ExprKind::Str(parts) => match parts.as_slice() {
            [crate::lexer::StrPart::Text(t)] => Lit::Text(t.clone()),
            _ => return None,
        },
        ExprKind::Var(_) => return None,
        ExprKind::List(items) => Lit::List(
            items
                .iter()
                .map(literal_of_default)
                .collect::<Option<_>>()?,
        ),
    };
    Some(Literal {
        lit,
        loc: Loc::None,
    })
}

/// Tarjan's strongly connected components, each sorted, in order of their
/// smallest node.
fn strongly_connected(succ: &[Vec<(usize, usize)>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        succ: &'a [Vec<(usize, usize)>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &(w, _) in &s.succ[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(wi) if s.on_stack[w] => s.low[v] = s.low[v].min(wi),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            comp.sort_unstable();
            s.out.push(comp);
        }
    }
    let n = succ.len();
    let mut s = State {
        succ,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out.sort_by_key(|c| c[0]);
    s.out
}

/// A cycle through the smallest node of a strongly connected component:
/// the nodes in order and the edge that closes it.
fn cycle_path(succ: &[Vec<(usize, usize)>], scc: &[usize]) -> (Vec<usize>, usize) {
    let start = scc[0];
    // Breadth-first within the component for the shortest way back.
    let mut prev: HashMap<usize, (usize, usize)> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &(w, ei) in &succ[v] {
            if w == start {
                let mut path = vec![v];
                let mut cur = v;
                while cur != start {
                    cur = prev[&cur].0;
                    path.push(cur);
                }
                path.reverse();
                return (path, ei);
            }
            if scc.binary_search(&w).is_ok() && !prev.contains_key(&w) {
                prev.insert(w, (v, ei));
                queue.push_back(w);
            }
        }
    }
    (vec![start], succ[start].first().map_or(0, |e| e.1))
}

/// `N elements, M connections, sources: ..., sinks: ...` for a plan.
pub fn summary(plan: &Plan) -> String {
    let mut sources = Vec::new();
    let mut sinks = Vec::new();
    for (k, node) in plan.nodes.iter().enumerate() {
        if !node.spec.is_port() {
            continue;
        }
        if plan.edges.iter().any(|e| e.from == k) {
            sources.push(node.name.as_str());
        }
        if plan.edges.iter().any(|e| e.to == k) {
            sinks.push(node.name.as_str());
        }
    }
    let list = |v: &[&str]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    format!(
        "{} element{}, {} connection{}, sources: {}, sinks: {}",
        plan.nodes.len(),
        if plan.nodes.len() == 1 { "" } else { "s" },
        plan.edges.len(),
        if plan.edges.len() == 1 { "" } else { "s" },
        list(&sources),
        list(&sinks)
    )
}

/// Builds every element of a validated plan with its builder (ports open
/// their files and sockets) and reports failures at the parameter at fault.
///
/// Opt-in, separate from [`validate`]: building has side effects.
pub fn check_build(plan: &Plan, model: &Model) -> Diagnostics {
    let mut diags = Diagnostics::new();
    for node in &plan.nodes {
        let result = match node.spec.build {
            Build::Nf(build) => build(&node.params).map(drop),
            Build::Port(build) => build(&node.params).map(drop),
        };
        if let Err(err) = result {
            diags.push(build_error(&node.name, node.spec.kind, &err, model));
        }
    }
    diags
}

/// A located diagnostic for an element whose builder rejected its
/// parameters: points at the parameter named by the error, else at the
/// element's kind.
pub fn build_error(name: &str, kind: &str, err: &ConfigError, model: &Model) -> Diagnostic {
    let element = model.element(name);
    let (loc, label) = match (element, &err.param) {
        (Some(e), Some(p)) => match e.param(p) {
            Some(param) => (param.loc.to(&param.value.loc), format!("`{p}` rejected")),
            None => (
                e.kind_loc.clone(),
                format!("the default of `{p}` is rejected"),
            ),
        },
        (Some(e), None) => (e.kind_loc.clone(), format!("`{kind}` cannot be built")),
        (None, _) => (
            tee_loc(model, name).unwrap_or_default(),
            format!("`{kind}` cannot be built"),
        ),
    };
    Diagnostic::error(
        "netfn::build",
        &loc,
        format!("`{name}` ({kind}): {}", err.message),
    )
    .with_label(label)
}

/// For a generated tee node (`x/tee@k`), the first mirror out of `x[k]`.
fn tee_loc(model: &Model, name: &str) -> Option<Loc> {
    let (from, rest) = name.rsplit_once(&format!("/{TEE_KIND}@"))?;
    let output: u16 = rest.trim_end_matches('_').parse().ok()?;
    model
        .connections
        .iter()
        .find(|c| c.from == from && c.output == output && c.mirror)
        .map(|c| c.loc.clone())
}
