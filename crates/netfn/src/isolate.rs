//! Where a Worker's graph comes from: a file (`worker(graph = "tenant.nf")`)
//! or text (`worker(text = ...)`, what an isolated instance
//! `p :: Tenant(isolate = process)` expands to).
//!
//! Text reaches the Worker as its standard input, read from a sealed
//! memfd the Master makes once per `worker` element:
//! * no file is written, so nothing is left behind when the Master is
//!   killed, and there is no directory to create, clean or race on;
//! * unlike a pipe, handing it over never blocks the Master: the text is
//!   in the memfd before the Worker starts, however long it is;
//! * sealed (no write, grow or shrink), so nobody, not even a compromised
//!   Worker, can change what the next restart runs: every restart reads
//!   the same bytes, from its own read-only open of the memfd;
//! * only that Worker gets it (stdin is set up for the one child; the
//!   memfd itself is close-on-exec), so tenants do not see each other's
//!   graphs.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use netfn_core::config::{Catalog, ConfigError, Params, Plan};
use netfn_lang::{Diagnostics, Model, RING_KIND, Vars, WORKER_FILE_PARAM, WORKER_TEXT_PARAM};

/// The graph a Worker runs; the same one at every restart.
pub enum GraphSource {
    File(PathBuf),
    Text {
        /// The isolated instance's name (what the ring port is named
        /// after), for `ps` and messages.
        name: String,
        memfd: OwnedFd,
    },
}

impl std::fmt::Debug for GraphSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl GraphSource {
    /// `graph` or `text` of a `worker` element, checked: a bad graph is a
    /// build error of the Master's graph rather than a Worker that keeps
    /// dying.
    pub fn from_params(p: &Params, catalog: &Catalog) -> Result<GraphSource, ConfigError> {
        let file = p.str(WORKER_FILE_PARAM)?;
        let text = p.str(WORKER_TEXT_PARAM)?;
        match (file.is_empty(), text.is_empty()) {
            (false, true) => {
                let graph = PathBuf::from(file);
                // Its NFs are built once here too, so a bad rules file is an
                // error now, not a Worker dying at every restart.
                let loaded = crate::load(&graph, &[], catalog).and_then(|(model, plan)| {
                    netfn_lang::check_build(&nfs_only(&plan), &model).into_result(plan)
                });
                match loaded {
                    Ok(plan) => ring_name(&plan).map(drop).ok_or_else(|| {
                        ConfigError::param(
                            WORKER_FILE_PARAM,
                            format!("{} has no ring() port to this Master", graph.display()),
                        )
                    })?,
                    Err(diags) => {
                        return Err(ConfigError::param(
                            WORKER_FILE_PARAM,
                            format!("{}: {}", graph.display(), diags.render()),
                        ));
                    }
                }
                Ok(GraphSource::File(graph))
            }
            (true, false) => {
                let plan = load_text("<worker text>", text, catalog)
                    .map_err(|diags| ConfigError::param(WORKER_TEXT_PARAM, diags.render()))?;
                let ring = ring_name(&plan).ok_or_else(|| {
                    ConfigError::param(WORKER_TEXT_PARAM, "the graph has no ring() port")
                })?;
                let name = ring
                    .strip_suffix(&format!("/{RING_KIND}@0"))
                    .unwrap_or(ring)
                    .to_string();
                let memfd = sealed_memfd(text).map_err(|e| {
                    ConfigError::param(
                        WORKER_TEXT_PARAM,
                        format!("cannot hand the graph to a Worker: {e}"),
                    )
                })?;
                Ok(GraphSource::Text { name, memfd })
            }
            (false, false) => Err(ConfigError::param(
                WORKER_TEXT_PARAM,
                "give `graph` (a file) or `text`, not both",
            )),
            (true, true) => Err(ConfigError::param(
                WORKER_FILE_PARAM,
                "a Worker needs `graph` (a file) or `text`",
            )),
        }
    }

    /// Sets up `netfn worker FILE`, or `netfn worker - --name NAME` with
    /// the text on standard input.
    pub fn command(&self, cmd: &mut Command) -> std::io::Result<()> {
        cmd.arg("worker");
        match self {
            GraphSource::File(path) => {
                cmd.arg(path).stdin(Stdio::null());
            }
            GraphSource::Text { name, memfd } => {
                // A fresh read-only open: its own offset, starting at 0.
                let text = File::open(format!("/proc/self/fd/{}", memfd.as_raw_fd()))?;
                cmd.arg("-")
                    .arg("--name")
                    .arg(name)
                    .stdin(Stdio::from(text));
            }
        }
        Ok(())
    }

    /// For messages: the file, or `the graph of p`.
    pub fn display(&self) -> String {
        match self {
            GraphSource::File(path) => path.display().to_string(),
            GraphSource::Text { name, .. } => format!("the graph of {name}"),
        }
    }
}

/// The first `ring()` node of a plan.
fn ring_name(plan: &Plan) -> Option<&str> {
    plan.nodes
        .iter()
        .find(|n| n.spec.kind == RING_KIND)
        .map(|n| n.name.as_str())
}

fn sealed_memfd(text: &str) -> std::io::Result<OwnedFd> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let fd = rustix::fs::memfd_create(
        "netfn-worker-graph",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let mut file = File::from(fd);
    file.write_all(text.as_bytes())?;
    let fd = OwnedFd::from(file);
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
    )?;
    Ok(fd)
}

/// Parses and validates a Worker's graph given as text, and builds its
/// NFs once (a rules file that does not parse is an error of the Master's
/// graph, not a Worker that dies at every restart).
pub fn load_text(name: &str, text: &str, catalog: &Catalog) -> Result<Plan, Diagnostics> {
    let model = netfn_lang::parse_str(name, text, &Vars::new())?;
    let plan = netfn_lang::validate(&model, catalog)?;
    netfn_lang::check_build(&nfs_only(&plan), &model).into_result(plan)
}

/// Reads a graph from standard input (`netfn worker -`, `netfn check -`).
/// Relative paths in it are relative to the current directory.
pub fn read_stdin(vars: &Vars) -> Result<Model, Diagnostics> {
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        let mut d = Diagnostics::new();
        d.push(netfn_lang::Diagnostic::error(
            "netfn::io",
            &netfn_lang::Loc::default(),
            format!("cannot read the graph from standard input: {e}"),
        ));
        return Err(d);
    }
    // Named after a file in the current directory, so relative paths and
    // includes resolve there.
    netfn_lang::parse_str("<stdin>", &text, vars)
}

/// Whether `file` means standard input.
pub fn is_stdin(file: &Path) -> bool {
    file.as_os_str() == "-"
}

/// Builds the NFs of the model's isolated instances (their Worker graphs)
/// once, with errors at the places they are written: what `netfn check`
/// does for them, and what `netfn run` does before starting Workers that
/// would only die.
pub fn check_worker_nfs(model: &Model, catalog: &Catalog) -> Diagnostics {
    let workers = match netfn_lang::worker_graphs(model, catalog) {
        Ok(workers) => workers,
        Err(d) => return d,
    };
    let mut diags = Diagnostics::new();
    for w in &workers {
        diags.extend(netfn_lang::check_build(&nfs_only(&w.plan), &w.model));
    }
    diags
}

/// The NF nodes of a plan (building ports could open files and sockets).
pub fn nfs_only(plan: &Plan) -> Plan {
    Plan {
        nodes: plan
            .nodes
            .iter()
            .filter(|n| !n.spec.is_port())
            .cloned()
            .collect(),
        edges: Vec::new(),
    }
}
