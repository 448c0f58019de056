//! From syntax trees to the flat model: reads includes, resolves
//! variables, instantiates sub-graphs (`graph Name(...) { ... }`) and names
//! anonymous elements.
//!
//! Naming: an anonymous element is `kind@n`, numbered per kind within its
//! scope in order of appearance (adding a `counter()` does not rename the
//! `ttl()`s); the elements of an instance `c` of a sub-graph are `c/name`.
//! Stable names matter: an element that keeps its name across a reload
//! keeps its state.
//!
//! Sub-graph instances do not exist in the model. While expanding, each
//! instance has two pseudo-nodes, its inside `input` and `output`; once
//! everything is expanded, connections through them are spliced into direct
//! connections between real elements.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics, suggest};
use crate::isolate::{ISOLATE_PARAM, RING_KIND, WORKER_KIND, WORKER_TEXT_PARAM, ring_name};
use crate::lexer::StrPart;
use crate::model::{Connection, Element, Isolated, Lit, Literal, Model, Param};
use crate::parser::{self, Arg, Chain, ClassDef, Endpoint, Expr, ExprKind, Ident, Item, Node};
use crate::source::{Loc, SourceFile};
use crate::vars::Vars;

/// Reads a graph file and everything it includes, and expands it.
pub(crate) fn expand_file(path: &Path, vars: &Vars) -> Result<Model, Diagnostics> {
    let mut loader = Loader::default();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let file = SourceFile::new(path.display().to_string(), Some(path.to_path_buf()), text);
            loader.load(&file);
        }
        Err(e) => {
            loader.diags.push(Diagnostic::error(
                "netfn::io",
                &Loc::None,
                format!("cannot read `{}`: {}", path.display(), io_reason(&e)),
            ));
        }
    }
    loader.finish(vars)
}

/// Expands a text that did not come from a file (`name` is shown in
/// diagnostics; includes are resolved relative to its directory).
pub(crate) fn expand_str(name: &str, text: &str, vars: &Vars) -> Result<Model, Diagnostics> {
    let mut loader = Loader::default();
    let file = SourceFile::new(name, Some(PathBuf::from(name)), text);
    loader.load(&file);
    loader.finish(vars)
}

/// Expands a text with its own source file (its path, if any, is what
/// includes and relative paths are resolved against).
pub(crate) fn expand_source(file: &Arc<SourceFile>, vars: &Vars) -> Result<Model, Diagnostics> {
    let mut loader = Loader::default();
    loader.load(file);
    loader.finish(vars)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Reads files, following includes, into one list of items.
#[derive(Default)]
struct Loader {
    items: Vec<Item>,
    diags: Diagnostics,
    /// Files being read (canonical paths), outermost first.
    stack: Vec<(PathBuf, String)>,
    /// Files already read: a second include of the same file is skipped.
    seen: HashSet<PathBuf>,
}

impl Loader {
    fn key(file: &SourceFile) -> PathBuf {
        let p = file
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from(&file.name));
        std::fs::canonicalize(&p).unwrap_or(p)
    }

    fn load(&mut self, file: &Arc<SourceFile>) {
        let key = Self::key(file);
        self.seen.insert(key.clone());
        self.stack.push((key, file.name.clone()));
        let (items, diags) = parser::parse(file);
        self.diags.extend(diags);
        for item in items {
            match item {
                Item::Include { path, loc } => self.include(file, &path, &loc),
                other => self.items.push(other),
            }
        }
        self.stack.pop();
    }

    fn include(&mut self, from: &SourceFile, path: &str, loc: &Loc) {
        let resolved = match from.dir() {
            Some(dir) if !Path::new(path).is_absolute() => dir.join(path),
            _ => PathBuf::from(path),
        };
        let text = match std::fs::read_to_string(&resolved) {
            Ok(text) => text,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        "netfn::include",
                        loc,
                        format!("cannot include `{path}`: {}", io_reason(&e)),
                    )
                    .with_label(format!("looked for `{}`", resolved.display()))
                    .with_help("include paths are relative to the file that includes them"),
                );
                return;
            }
        };
        let key = std::fs::canonicalize(&resolved).unwrap_or_else(|_| resolved.clone());
        if let Some(pos) = self.stack.iter().position(|(k, _)| *k == key) {
            let mut cycle: Vec<&str> = self.stack[pos..].iter().map(|(_, n)| n.as_str()).collect();
            let shown = resolved.display().to_string();
            cycle.push(&shown);
            self.diags.push(
                Diagnostic::error(
                    "netfn::include-cycle",
                    loc,
                    format!("include cycle: `{path}` is already being read"),
                )
                .with_label("this include leads back to a file that includes it")
                .with_help(format!(
                    "the includes go {}; move what the files share into one that includes none of them",
                    cycle.join(" -> ")
                )),
            );
            return;
        }
        if self.seen.contains(&key) {
            return;
        }
        let file = SourceFile::new(resolved.display().to_string(), Some(resolved), text);
        self.load(&file);
    }

    fn finish(self, vars: &Vars) -> Result<Model, Diagnostics> {
        let mut diags = self.diags;
        if diags.has_errors() {
            return Err(diags);
        }
        let mut ex = Expander::new(&self.items, vars);
        ex.run(&self.items);
        diags.extend(ex.diags);
        let model = Model {
            elements: ex.elements,
            connections: ex.connections,
            base_dir: None,
        };
        diags.into_result(model)
    }
}

/// A node of the graph under expansion.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Handle {
    Real(String),
    /// The input side of instance `name`: parent connections end here,
    /// body connections from `input` start here.
    In(String),
    /// The output side of instance `name`.
    Out(String),
}

#[derive(Debug, Clone)]
struct RawEdge {
    from: Handle,
    output: u16,
    to: Handle,
    input: u16,
    mirror: bool,
    from_loc: Loc,
    to_loc: Loc,
    arrow: Loc,
}

/// Variables visible in a scope: a sub-graph's parameters, then globals.
#[derive(Default)]
struct Env {
    locals: BTreeMap<String, Literal>,
    /// Parameters that were reported missing: using them is not another
    /// error.
    missing: HashSet<String>,
}

/// What a name declared in a scope stands for.
struct Decl {
    name_loc: Loc,
    is_class: bool,
}

struct Expander<'a> {
    classes: HashMap<&'a str, &'a ClassDef>,
    lets: HashMap<&'a str, &'a Expr>,
    vars: &'a Vars,
    /// Evaluated globals.
    cache: HashMap<String, Option<Literal>>,
    resolving: Vec<String>,
    class_stack: Vec<&'a str>,
    elements: Vec<Element>,
    edges: Vec<RawEdge>,
    connections: Vec<Connection>,
    /// Instances and the graph each instantiates (for messages).
    instances: HashMap<String, (&'a str, Loc)>,
    /// Instances whose body had errors.
    broken: HashSet<String>,
    /// The isolated instance whose body is being expanded, with where its
    /// `isolate = process` is written.
    isolating: Option<(String, Loc)>,
    /// Every `isolate = process`, for the check that the file is not
    /// itself a Worker's graph.
    isolations: Vec<Loc>,
    /// Isolated instances: real `worker` elements, also where a reference
    /// by name made pseudo-nodes of them.
    isolated: HashSet<String>,
    diags: Diagnostics,
}

impl<'a> Expander<'a> {
    fn new(items: &'a [Item], vars: &'a Vars) -> Self {
        let mut diags = Diagnostics::new();
        let mut classes: HashMap<&str, &ClassDef> = HashMap::new();
        let mut lets: HashMap<&str, &Expr> = HashMap::new();
        let mut let_locs: HashMap<&str, &Loc> = HashMap::new();
        for item in items {
            match item {
                Item::Graph(c) => {
                    for (p, _) in &c.params {
                        if p.name == ISOLATE_PARAM {
                            diags.push(
                                Diagnostic::error(
                                    "netfn::reserved",
                                    &p.loc,
                                    format!(
                                        "graph `{}` declares a parameter `{ISOLATE_PARAM}`, a reserved name",
                                        c.name.name
                                    ),
                                )
                                .with_label("reserved for every graph instance")
                                .with_help(format!(
                                    "`{ISOLATE_PARAM} = process` runs an instance in a Worker process; rename this parameter"
                                )),
                            );
                        }
                    }
                    if let Some(prev) = classes.get(c.name.name.as_str()) {
                        diags.push(
                            Diagnostic::error(
                                "netfn::duplicate",
                                &c.name.loc,
                                format!("graph `{}` is defined twice", c.name.name),
                            )
                            .with_label("second definition")
                            .with_secondary(&prev.name.loc, "first defined here"),
                        );
                    } else {
                        classes.insert(&c.name.name, c);
                    }
                }
                Item::Let { name, value } => {
                    if let Some(prev) = let_locs.get(name.name.as_str()) {
                        diags.push(
                            Diagnostic::error(
                                "netfn::duplicate",
                                &name.loc,
                                format!("variable `{}` is defined twice", name.name),
                            )
                            .with_label("second definition")
                            .with_secondary(prev, "first defined here")
                            .with_help("to set a variable from outside, use `-D name=value`; it wins over `let`"),
                        );
                    } else {
                        lets.insert(&name.name, value);
                        let_locs.insert(&name.name, &name.loc);
                    }
                }
                Item::Chain(_) | Item::Include { .. } => {}
            }
        }
        Expander {
            classes,
            lets,
            vars,
            cache: HashMap::new(),
            resolving: Vec::new(),
            class_stack: Vec::new(),
            elements: Vec::new(),
            edges: Vec::new(),
            connections: Vec::new(),
            instances: HashMap::new(),
            broken: HashSet::new(),
            isolating: None,
            isolations: Vec::new(),
            isolated: HashSet::new(),
            diags,
        }
    }

    fn run(&mut self, items: &'a [Item]) {
        let chains: Vec<&'a Chain> = items
            .iter()
            .filter_map(|i| match i {
                Item::Chain(c) => Some(c),
                _ => None,
            })
            .collect();
        self.scope("", None, &chains, &Env::default());
        let mut edges = std::mem::take(&mut self.edges);
        for e in &mut edges {
            for h in [&mut e.from, &mut e.to] {
                if let Handle::In(name) | Handle::Out(name) = h
                    && self.isolated.contains(name.as_str())
                {
                    *h = Handle::Real(name.clone());
                }
            }
        }
        self.connections = self.splice(&edges);
        self.edges = edges;
        self.check_not_in_worker();
    }

    /// A Worker's own graph (the one with the `ring()` port) cannot start
    /// Workers of its own: that would nest processes the Master does not
    /// supervise.
    fn check_not_in_worker(&mut self) {
        let Some(ring) = self.elements.iter().find(|e| e.kind == RING_KIND) else {
            return;
        };
        let ring_loc = ring.loc.clone();
        for loc in std::mem::take(&mut self.isolations) {
            self.diags.push(
                Diagnostic::error(
                    "netfn::isolate",
                    &loc,
                    "`isolate = process` in a graph that itself runs in a Worker",
                )
                .with_label("this instance would start a Worker from inside a Worker")
                .with_secondary(&ring_loc, "this `ring()` port makes the file a Worker's graph")
                .with_help("isolate the instance in the Master's graph instead, or drop `isolate` here (the whole file already runs in a Worker)"),
            );
        }
    }

    // ---- variables -------------------------------------------------------

    fn lookup(&mut self, name: &str, loc: &Loc, env: &Env) -> Option<Literal> {
        if let Some(v) = env.locals.get(name) {
            return Some(v.clone());
        }
        if env.missing.contains(name) {
            return None;
        }
        if let Some(v) = self.vars.get(name) {
            return Some(v.clone());
        }
        if let Some(v) = self.cache.get(name) {
            return v.clone();
        }
        let Some(expr) = self.lets.get(name).copied() else {
            let mut visible: Vec<&str> = env.locals.keys().map(String::as_str).collect();
            visible.extend(self.lets.keys().copied());
            visible.extend(self.vars.names());
            visible.sort_unstable();
            visible.dedup();
            let help =
                suggest(name, visible.iter().copied(), "defined variables").unwrap_or_else(|| {
                    format!("define it with `let {name} = ...;` or pass `-D {name}=...`")
                });
            self.diags.push(
                Diagnostic::error(
                    "netfn::undefined-variable",
                    loc,
                    format!("undefined variable `${name}`"),
                )
                .with_label("not defined")
                .with_help(help),
            );
            return None;
        };
        if self.resolving.iter().any(|n| n == name) {
            let mut cycle = self.resolving.clone();
            cycle.push(name.to_string());
            self.diags.push(
                Diagnostic::error(
                    "netfn::variable-cycle",
                    loc,
                    format!("variable `{name}` is defined in terms of itself"),
                )
                .with_label(format!(
                    "via {}",
                    cycle
                        .iter()
                        .map(|n| format!("${n}"))
                        .collect::<Vec<_>>()
                        .join(" -> ")
                )),
            );
            return None;
        }
        self.resolving.push(name.to_string());
        // Globals see only globals.
        let value = self.eval(expr, &Env::default());
        self.resolving.pop();
        self.cache.insert(name.to_string(), value.clone());
        value
    }

    fn eval(&mut self, expr: &Expr, env: &Env) -> Option<Literal> {
        let lit = match &expr.kind {
            ExprKind::Atom(lit) => lit.clone(),
            ExprKind::Var(name) => return self.lookup(name, &expr.loc, env),
            ExprKind::List(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for item in items {
                    match self.eval(item, env) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                Lit::List(out)
            }
            ExprKind::Str(parts) => {
                let mut s = String::new();
                for part in parts {
                    match part {
                        StrPart::Text(t) => s.push_str(t),
                        StrPart::Var(name, start, end) => {
                            let loc = match &expr.loc {
                                Loc::Span { file, .. } => Loc::span(file, *start, *end),
                                other => other.clone(),
                            };
                            match self.lookup(name, &loc, env)?.lit {
                                Lit::Text(t) => s.push_str(&t),
                                Lit::Int(i) => s.push_str(&i.to_string()),
                                Lit::Bool(b) => s.push_str(&b.to_string()),
                                Lit::List(_) => {
                                    self.diags.push(
                                        Diagnostic::error(
                                            "netfn::type",
                                            &loc,
                                            format!("cannot put list `${name}` inside a string"),
                                        )
                                        .with_label("this variable holds a list"),
                                    );
                                    return None;
                                }
                            }
                        }
                    }
                }
                Lit::Text(s)
            }
        };
        Some(Literal {
            lit,
            loc: expr.loc.clone(),
        })
    }

    fn eval_args(&mut self, args: &[Arg], env: &Env) -> Vec<Param> {
        let mut out = Vec::new();
        for a in args {
            if let Some(value) = self.eval(&a.value, env) {
                out.push(Param {
                    name: a.name.name.clone(),
                    value,
                    loc: a.name.loc.clone(),
                });
            }
        }
        out
    }

    // ---- scopes ----------------------------------------------------------

    /// Expands the statements of one scope: the file (`prefix` empty) or
    /// the body of instance `prefix` (without its trailing `/`).
    fn scope(
        &mut self,
        prefix: &str,
        class: Option<&'a ClassDef>,
        chains: &[&'a Chain],
        env: &Env,
    ) {
        let qualify = |local: &str| {
            if prefix.is_empty() {
                local.to_string()
            } else {
                format!("{prefix}/{local}")
            }
        };

        // Pass 1: what each declared name stands for.
        let mut decls: HashMap<&'a str, Decl> = HashMap::new();
        for chain in chains {
            for ep in endpoints(chain) {
                if let Node::Decl { name, kind, .. } = &ep.node {
                    if let Some(prev) = decls.get(name.name.as_str()) {
                        self.diags.push(
                            Diagnostic::error(
                                "netfn::duplicate",
                                &name.loc,
                                format!("element `{}` is declared twice", name.name),
                            )
                            .with_label("second declaration")
                            .with_secondary(&prev.name_loc, "first declared here")
                            .with_help("give each element its own name; refer to an element by its name alone"),
                        );
                        continue;
                    }
                    let is_class = self.classes.contains_key(kind.name.as_str());
                    decls.insert(
                        &name.name,
                        Decl {
                            name_loc: name.loc.clone(),
                            is_class,
                        },
                    );
                }
            }
        }

        // Pass 2: elements, instances and connections, in order.
        let mut anon_counts: HashMap<String, u32> = HashMap::new();
        for chain in chains {
            let mut prev: Option<(Handle, u16, Loc)> = None;
            let eps: Vec<(&Endpoint, Option<&crate::parser::Step>)> =
                std::iter::once((&chain.first, None))
                    .chain(chain.steps.iter().map(|s| (&s.to, Some(s))))
                    .collect();
            let last = eps.len() - 1;
            for (i, (ep, step)) in eps.into_iter().enumerate() {
                let is_source = i < last;
                let is_target = i > 0;
                let Some((in_handle, out_handle)) = self.endpoint(
                    prefix,
                    class,
                    ep,
                    env,
                    &decls,
                    &mut anon_counts,
                    is_source,
                    is_target,
                    &qualify,
                ) else {
                    prev = None;
                    continue;
                };
                if let (Some((from, output, from_loc)), Some(step)) = (prev.take(), step) {
                    self.edges.push(RawEdge {
                        from,
                        output,
                        to: in_handle,
                        input: ep.input.as_ref().map_or(0, |(n, _)| *n),
                        mirror: step.mirror,
                        from_loc,
                        to_loc: ep.in_loc.clone(),
                        arrow: step.arrow.clone(),
                    });
                }
                prev = Some((
                    out_handle,
                    ep.output.as_ref().map_or(0, |(n, _)| *n),
                    ep.out_loc.clone(),
                ));
            }
        }
    }

    /// Resolves (and, for declarations, creates) one endpoint; returns the
    /// handles connections into and out of it use.
    #[allow(clippy::too_many_arguments)]
    fn endpoint(
        &mut self,
        prefix: &str,
        class: Option<&'a ClassDef>,
        ep: &'a Endpoint,
        env: &Env,
        decls: &HashMap<&'a str, Decl>,
        anon_counts: &mut HashMap<String, u32>,
        is_source: bool,
        is_target: bool,
        qualify: &dyn Fn(&str) -> String,
    ) -> Option<(Handle, Handle)> {
        match &ep.node {
            Node::Ref(id) if id.name == "input" || id.name == "output" => {
                let Some(class) = class else {
                    self.diags.push(
                        Diagnostic::error(
                            "netfn::pseudo-port",
                            &id.loc,
                            format!(
                                "`{}` only has a meaning inside a `graph {{ ... }}` body",
                                id.name
                            ),
                        )
                        .with_label("not inside a graph definition")
                        .with_help("at the top level, connect ports and elements by name"),
                    );
                    return None;
                };
                let wrong = if id.name == "input" {
                    is_target
                } else {
                    is_source
                };
                if wrong {
                    let (msg, help) = if id.name == "input" {
                        (
                            "`input` can only start a connection",
                            "write `input -> x` (packets entering the graph)",
                        )
                    } else {
                        (
                            "`output` can only end a connection",
                            "write `x -> output` (packets leaving the graph)",
                        )
                    };
                    self.diags.push(
                        Diagnostic::error("netfn::pseudo-port", &id.loc, msg)
                            .with_label(format!("in graph `{}`", class.name.name))
                            .with_help(help),
                    );
                    return None;
                }
                let h = if id.name == "input" {
                    Handle::In(prefix.to_string())
                } else {
                    Handle::Out(prefix.to_string())
                };
                Some((h.clone(), h))
            }
            Node::Ref(id) => match decls.get(id.name.as_str()) {
                Some(d) if d.is_class => {
                    let full = qualify(&id.name);
                    Some((Handle::In(full.clone()), Handle::Out(full)))
                }
                _ => {
                    let h = Handle::Real(qualify(&id.name));
                    Some((h.clone(), h))
                }
            },
            Node::Decl { name, kind, args } => {
                // Only the first declaration of a name is expanded.
                if decls
                    .get(name.name.as_str())
                    .is_none_or(|d| !d.name_loc.same_place(&name.loc))
                {
                    return None;
                }
                let full = qualify(&name.name);
                self.instantiate(&full, &name.loc, kind, args, env)
            }
            Node::Anon { kind, args } => {
                let n = anon_counts.entry(kind.name.clone()).or_insert(0);
                let local = loop {
                    *n += 1;
                    let candidate = format!("{}@{n}", kind.name);
                    if !decls.contains_key(candidate.as_str()) {
                        break candidate;
                    }
                };
                let full = qualify(&local);
                self.instantiate(&full, &kind.loc, kind, args, env)
            }
        }
    }

    /// Creates element `full` of `kind`: an element, or an instance of a
    /// sub-graph.
    fn instantiate(
        &mut self,
        full: &str,
        loc: &Loc,
        kind: &Ident,
        args: &[Arg],
        env: &Env,
    ) -> Option<(Handle, Handle)> {
        let Some(class) = self.classes.get(kind.name.as_str()).copied() else {
            let params = self.eval_args(args, env);
            self.elements.push(Element {
                name: full.to_string(),
                kind: kind.name.clone(),
                params,
                loc: loc.clone(),
                kind_loc: kind.loc.clone(),
                isolated: Isolated::default(),
            });
            let h = Handle::Real(full.to_string());
            return Some((h.clone(), h));
        };
        if self.class_stack.contains(&class.name.name.as_str()) {
            let mut chain: Vec<&str> = self.class_stack.clone();
            chain.push(&class.name.name);
            self.diags.push(
                Diagnostic::error(
                    "netfn::recursive-graph",
                    &kind.loc,
                    format!("graph `{}` contains itself", class.name.name),
                )
                .with_label(format!("via {}", chain.join(" -> ")))
                .with_help("a graph cannot contain an instance of itself, directly or through other graphs"),
            );
            return None;
        }
        // Bind the sub-graph's parameters.
        let mut locals = BTreeMap::new();
        let mut missing = HashSet::new();
        let mut seen: HashMap<&str, &Loc> = HashMap::new();
        let mut isolate: Option<Loc> = None;
        for a in args {
            if a.name.name == ISOLATE_PARAM && !seen.contains_key(ISOLATE_PARAM) {
                seen.insert(&a.name.name, &a.name.loc);
                if self.isolate_value(a, env, class) {
                    isolate = Some(a.name.loc.to(&a.value.loc));
                }
                continue;
            }
            if let Some(prev) = seen.insert(&a.name.name, &a.name.loc) {
                self.diags.push(
                    Diagnostic::error(
                        "netfn::duplicate",
                        &a.name.loc,
                        format!("parameter `{}` is given twice", a.name.name),
                    )
                    .with_label("second value")
                    .with_secondary(prev, "first value"),
                );
                continue;
            }
            if !class.params.iter().any(|(p, _)| p.name == a.name.name) {
                let names = class.params.iter().map(|(p, _)| p.name.as_str());
                let help = suggest(
                    &a.name.name,
                    names,
                    &format!("parameters of `{}`", class.name.name),
                )
                .unwrap_or_else(|| format!("graph `{}` takes no parameters", class.name.name));
                self.diags.push(
                    Diagnostic::error(
                        "netfn::unknown-param",
                        &a.name.loc,
                        format!(
                            "graph `{}` has no parameter `{}`",
                            class.name.name, a.name.name
                        ),
                    )
                    .with_label("unknown parameter")
                    .with_help(help),
                );
                continue;
            }
            if let Some(v) = self.eval(&a.value, env) {
                locals.insert(a.name.name.clone(), v);
            }
        }
        for (p, default) in &class.params {
            if locals.contains_key(&p.name) || seen.contains_key(p.name.as_str()) {
                continue;
            }
            match default {
                Some(expr) => {
                    if let Some(v) = self.eval(expr, &Env::default()) {
                        locals.insert(p.name.clone(), v);
                    }
                }
                None => {
                    missing.insert(p.name.clone());
                    self.diags.push(
                        Diagnostic::error(
                            "netfn::missing-param",
                            &kind.loc,
                            format!(
                                "missing parameter `{}` of graph `{}`",
                                p.name, class.name.name
                            ),
                        )
                        .with_label(format!("`{}` needs `{}`", class.name.name, p.name))
                        .with_help(format!("add `{} = ...`", p.name))
                        .with_secondary(&p.loc, "declared here"),
                    );
                }
            }
        }
        if let Some(isolate_loc) = &isolate {
            self.isolations.push(isolate_loc.clone());
            if let Some((outer, outer_loc)) = &self.isolating {
                self.diags.push(
                    Diagnostic::error(
                        "netfn::isolate",
                        isolate_loc,
                        format!("`{full}` is inside `{outer}`, which already runs in a Worker"),
                    )
                    .with_label("a Worker inside a Worker")
                    .with_secondary(outer_loc, format!("`{outer}` is isolated here"))
                    .with_help("drop one of the two `isolate = process`: everything inside an isolated instance runs in its Worker"),
                );
                isolate = None;
            }
        }
        self.instances
            .insert(full.to_string(), (&class.name.name, loc.clone()));
        self.class_stack.push(&class.name.name);
        let body: Vec<&'a Chain> = class.body.iter().collect();
        let errors_before = self.diags.len();
        let elements_before = self.elements.len();
        let edges_before = self.edges.len();
        if let Some(isolate_loc) = &isolate {
            self.isolating = Some((full.to_string(), isolate_loc.clone()));
        }
        self.scope(full, Some(class), &body, &Env { locals, missing });
        self.class_stack.pop();
        if self.diags.len() > errors_before {
            // Its inputs and outputs may be missing because of those errors.
            self.broken.insert(full.to_string());
        }
        if let Some(isolate_loc) = isolate {
            self.isolating = None;
            let elements = self.elements.split_off(elements_before);
            let edges = self.edges.split_off(edges_before);
            return self.isolate(full, loc, kind, class, isolate_loc, elements, edges);
        }
        Some((Handle::In(full.to_string()), Handle::Out(full.to_string())))
    }

    /// Reads `isolate = ...` of an instance: whether it says `process`.
    fn isolate_value(&mut self, a: &Arg, env: &Env, class: &ClassDef) -> bool {
        let Some(v) = self.eval(&a.value, env) else {
            return false;
        };
        match &v.lit {
            Lit::Text(t) if t == "process" => true,
            Lit::Text(t) if t == "none" => false,
            _ => {
                self.diags.push(
                    Diagnostic::error(
                        "netfn::word",
                        &v.loc,
                        format!("`{ISOLATE_PARAM}` cannot be {v}"),
                    )
                    .with_label("expected `process` or `none`")
                    .with_help(format!(
                        "`{ISOLATE_PARAM} = process` runs this `{}` in a Worker process of its own; `{ISOLATE_PARAM} = none` (the default) runs it in this process",
                        class.name.name
                    )),
                );
                false
            }
        }
    }

    /// Turns the expanded body of isolated instance `full` into the graph
    /// of its Worker (`ring -> ... -> ring`, where the body had `input` and
    /// `output`) and puts one `worker` element, named `full`, in its place.
    #[allow(clippy::too_many_arguments)]
    fn isolate(
        &mut self,
        full: &str,
        loc: &Loc,
        kind: &Ident,
        class: &ClassDef,
        isolate_loc: Loc,
        elements: Vec<Element>,
        mut edges: Vec<RawEdge>,
    ) -> Option<(Handle, Handle)> {
        let ring = ring_name(full);
        let inside_in = Handle::In(full.to_string());
        let inside_out = Handle::Out(full.to_string());
        let mut ok = true;
        let mut uses_input = false;
        for e in &mut edges {
            if e.from == inside_in {
                uses_input = true;
                if e.output != 0 {
                    ok = false;
                    self.diags.push(self.not_single_port(
                        full,
                        class,
                        &e.from_loc,
                        &isolate_loc,
                        format!("`input[{}]`", e.output),
                    ));
                }
                e.from = Handle::Real(ring.clone());
            }
            if e.to == inside_out {
                if e.input != 0 {
                    ok = false;
                    self.diags.push(self.not_single_port(
                        full,
                        class,
                        &e.to_loc,
                        &isolate_loc,
                        format!("`output[{}]`", e.input),
                    ));
                }
                e.to = Handle::Real(ring.clone());
            }
        }
        if !uses_input && !self.broken.contains(full) {
            ok = false;
            self.diags.push(
                Diagnostic::error(
                    "netfn::isolate",
                    &isolate_loc,
                    format!(
                        "`{full}` cannot run in a Worker: graph `{}` never uses `input`",
                        class.name.name
                    ),
                )
                .with_label("a Worker receives its packets through `input`")
                .with_secondary(&class.name.loc, "defined here")
                .with_help(format!(
                    "inside `{}`, connect `input -> ...`, or drop `isolate = process`",
                    class.name.name
                )),
            );
        }
        let connections = self.splice(&edges);
        if !ok {
            self.broken.insert(full.to_string());
            return None;
        }
        let mut body_elements = vec![Element {
            name: ring,
            kind: RING_KIND.to_string(),
            params: Vec::new(),
            loc: isolate_loc.clone(),
            kind_loc: isolate_loc.clone(),
            isolated: Isolated::default(),
        }];
        body_elements.extend(elements);
        let body = Model {
            elements: body_elements,
            connections,
            base_dir: None,
        };
        let text = Literal {
            lit: Lit::Text(body.to_text()),
            loc: isolate_loc.clone(),
        };
        self.elements.push(Element {
            name: full.to_string(),
            kind: WORKER_KIND.to_string(),
            params: vec![Param {
                name: WORKER_TEXT_PARAM.to_string(),
                value: text,
                loc: isolate_loc,
            }],
            loc: loc.clone(),
            kind_loc: kind.loc.clone(),
            isolated: Isolated(Some(Arc::new(body))),
        });
        self.isolated.insert(full.to_string());
        let h = Handle::Real(full.to_string());
        Some((h.clone(), h))
    }

    fn not_single_port(
        &self,
        full: &str,
        class: &ClassDef,
        at: &Loc,
        isolate_loc: &Loc,
        port: String,
    ) -> Diagnostic {
        Diagnostic::error(
            "netfn::isolate",
            at,
            format!(
                "`{full}` cannot run in a Worker: graph `{}` uses {port}",
                class.name.name
            ),
        )
        .with_label("an isolated instance has one input and one output")
        .with_secondary(isolate_loc, "isolated here")
        .with_help(format!(
            "only graphs with `input` and `output` alone can be isolated for now; isolate a part of `{}` with one input and one output, or drop `isolate = process`",
            class.name.name
        ))
    }

    // ---- splicing --------------------------------------------------------

    fn instance_desc(&self, name: &str) -> String {
        match self.instances.get(name) {
            Some((class, _)) => format!("`{name}` (graph `{class}`)"),
            None => format!("`{name}`"),
        }
    }

    /// Replaces connections through sub-graph pseudo-nodes by direct ones.
    fn splice(&mut self, edges: &[RawEdge]) -> Vec<Connection> {
        let mut connections = Vec::new();
        // Each output of a pseudo-node, like any output, takes one ordinary
        // connection (plus mirrors).
        let mut by_source: HashMap<(Handle, u16), Vec<usize>> = HashMap::new();
        let mut into: HashSet<(Handle, u16)> = HashSet::new();
        for (i, e) in edges.iter().enumerate() {
            if !matches!(e.from, Handle::Real(_)) {
                by_source
                    .entry((e.from.clone(), e.output))
                    .or_default()
                    .push(i);
            }
            into.insert((e.to.clone(), e.input));
        }
        let mut keys: Vec<&(Handle, u16)> = by_source.keys().collect();
        keys.sort_by_key(|(h, p)| (format!("{h:?}"), *p));
        for key in keys {
            let edges_of = &by_source[key];
            let plain: Vec<&RawEdge> = edges_of
                .iter()
                .map(|&i| &edges[i])
                .filter(|e| !e.mirror)
                .collect();
            if plain.len() > 1 {
                let (what, help) = match &key.0 {
                    Handle::In(inst) => (
                        format!(
                            "`input[{}]` of {} is connected twice",
                            key.1,
                            self.instance_desc(inst)
                        ),
                        "an input of a graph leads to one element; to copy packets use `->>`",
                    ),
                    Handle::Out(inst) => (
                        format!(
                            "output {} of {} is connected twice",
                            key.1,
                            self.instance_desc(inst)
                        ),
                        "an output leads to one element; to copy packets use `->>`, to split them a classifier",
                    ),
                    Handle::Real(_) => continue,
                };
                self.diags.push(
                    Diagnostic::error("netfn::output-twice", &plain[1].from_loc, what)
                        .with_label("second connection")
                        .with_secondary(&plain[0].from_loc, "first connection")
                        .with_help(help),
                );
            }
            // A connection out of an instance's output that nothing inside
            // feeds would silently carry nothing.
            if let Handle::Out(inst) = &key.0
                && !into.contains(key)
                && !self.broken.contains(inst)
            {
                let e = &edges[edges_of[0]];
                let class = self.instances.get(inst).map_or("?", |(c, _)| c);
                self.diags.push(
                    Diagnostic::error(
                        "netfn::port-range",
                        &e.from_loc,
                        format!("{} has no output {}", self.instance_desc(inst), key.1),
                    )
                    .with_label(format!(
                        "graph `{class}` never connects `output[{}]`",
                        key.1
                    ))
                    .with_help(format!(
                        "inside `{class}`, connect something `-> output[{}]`",
                        key.1
                    )),
                );
            }
        }

        for e in edges {
            let Handle::Real(from) = &e.from else {
                continue;
            };
            let mut targets = Vec::new();
            self.follow(
                edges,
                &by_source,
                &e.to,
                e.input,
                e.mirror,
                &e.to_loc,
                0,
                &mut targets,
            );
            for (to, input, mirror, to_loc) in targets {
                connections.push(Connection {
                    from: from.clone(),
                    output: e.output,
                    to,
                    input,
                    mirror,
                    from_loc: e.from_loc.clone(),
                    to_loc,
                    loc: e.arrow.clone(),
                });
            }
        }
        connections
    }

    #[allow(clippy::too_many_arguments)]
    fn follow(
        &mut self,
        edges: &[RawEdge],
        by_source: &HashMap<(Handle, u16), Vec<usize>>,
        to: &Handle,
        port: u16,
        mirror: bool,
        to_loc: &Loc,
        depth: usize,
        out: &mut Vec<(String, u16, bool, Loc)>,
    ) {
        if let Handle::Real(name) = to {
            out.push((name.clone(), port, mirror, to_loc.clone()));
            return;
        }
        if depth > 64 {
            self.diags.push(
                Diagnostic::error(
                    "netfn::cycle",
                    to_loc,
                    "connection loops through sub-graph inputs and outputs",
                )
                .with_label("this connection never reaches an element"),
            );
            return;
        }
        match by_source.get(&(to.clone(), port)) {
            Some(next) => {
                for &i in next {
                    let n = &edges[i];
                    self.follow(
                        edges,
                        by_source,
                        &n.to,
                        n.input,
                        mirror || n.mirror,
                        &n.to_loc,
                        depth + 1,
                        out,
                    );
                }
            }
            None => {
                if let Handle::In(inst) = to
                    && !self.broken.contains(inst)
                {
                    let class = self.instances.get(inst).map_or("?", |(c, _)| c);
                    self.diags.push(
                        Diagnostic::error(
                            "netfn::port-range",
                            to_loc,
                            format!("{} has no input {port}", self.instance_desc(inst)),
                        )
                        .with_label(format!("graph `{class}` never uses `input[{port}]`"))
                        .with_help(format!("inside `{class}`, connect `input[{port}] -> ...`")),
                    );
                }
                // An instance output with nothing outside: the elements
                // feeding it are reported as unconnected by validation.
            }
        }
    }
}

fn endpoints(chain: &Chain) -> impl Iterator<Item = &Endpoint> {
    std::iter::once(&chain.first).chain(chain.steps.iter().map(|s| &s.to))
}
