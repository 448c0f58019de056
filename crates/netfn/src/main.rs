//! The `netfn` command: run, check, draw and list service graphs, and run
//! the benchmarks.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 invalid graph or usage.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use netfn_core::config::{Catalog, Plan};
use netfn_lang::{Diagnostics, Model, Vars};

mod bench;
mod bench_firewall;
mod bench_io;
mod bench_nfs;
mod bench_worker;
mod isolate;
mod run;
mod view;
mod worker;

#[derive(Parser)]
#[command(
    name = "netfn",
    version,
    about = "Network functions in safe Rust: build, chain, run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Graph file and variable overrides, shared by the commands that read one.
#[derive(clap::Args)]
struct GraphArgs {
    /// The graph file (`.nf`), `.json` for the JSON form, or `-` for text
    /// on standard input.
    file: PathBuf,
    /// Set a graph variable, overriding its `let` (repeatable): -D rate=1000
    #[arg(short = 'D', value_name = "NAME=VALUE")]
    define: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a graph, with a live view of every stage and port.
    Run {
        #[command(flatten)]
        graph: GraphArgs,
        /// Stop after this long (e.g. 10s, 500ms, 2m).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Stop after the sources received this many packets.
        #[arg(long)]
        packets: Option<u64>,
        /// Print machine-readable stats (one JSON object) at the end instead
        /// of the live view and table.
        #[arg(long)]
        json: bool,
        /// Reload when the graph file changes (SIGHUP always reloads).
        #[arg(long)]
        watch: bool,
        /// No live view (the final summary is still printed).
        #[arg(long, short)]
        quiet: bool,
        /// Packets per burst (1..=256).
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Frames in the packet pool.
        #[arg(long, default_value_t = 16384)]
        frames: u32,
    },
    /// Validate a graph: print diagnostics, or a one-line summary.
    Check {
        #[command(flatten)]
        graph: GraphArgs,
        /// Print diagnostics (or the summary) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Draw a graph as Graphviz DOT or SVG (no Graphviz needed for SVG).
    Graph {
        #[command(flatten)]
        graph: GraphArgs,
        #[arg(long, value_enum, default_value_t = DrawFormat::Dot)]
        format: DrawFormat,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// The Worker process a `worker(graph = FILE)` element spawns: runs
    /// FILE's graph between its `ring()` ports (not for direct use). FILE
    /// `-` is standard input (an isolated instance's graph).
    Worker {
        #[command(flatten)]
        graph: GraphArgs,
        /// The isolated instance this Worker runs (for `ps` and messages).
        #[arg(long)]
        name: Option<String>,
    },
    /// List every NF and port kind with its parameters.
    Nfs {
        /// Show only this kind.
        kind: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks (measured in one run against a baseline).
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DrawFormat {
    Dot,
    Svg,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Worker processes: chains of 1..10 ttl in-process, in one Worker, one
    /// Worker per NF and as pipe stages; N Workers with a chain each;
    /// latency percentiles flat out and paced; spawn to first packet; idle
    /// memory.
    Workers {
        /// Chain lengths (ttl NFs).
        #[arg(long, value_delimiter = ',', default_value = "1,2,5,10")]
        chains: Vec<usize>,
        /// Numbers of Workers, each with its own chain.
        #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
        workers: Vec<usize>,
        /// Spawns timed (the median is reported).
        #[arg(long, default_value_t = 20)]
        spawns: usize,
        /// Length of each run.
        #[arg(long, value_parser = parse_duration, default_value = "2s")]
        duration: Duration,
        /// Offered packets per second (in total) of the paced runs.
        #[arg(long, default_value_t = 200_000)]
        rate: u64,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// A smoke test: chains 1,2, 1 and 10 Workers, 3 spawns, 400 ms runs
        /// (overrides the above; the numbers are noisy).
        #[arg(long)]
        quick: bool,
    },
    /// Framework overhead: operators + runtime vs a hand-written loop, for
    /// chains of ttl NFs.
    Overhead {
        /// Chain lengths to measure.
        #[arg(long, value_delimiter = ',', default_value = "1,2,5,10")]
        chains: Vec<usize>,
        /// Milliseconds per measured round.
        #[arg(long, default_value_t = 300)]
        round_ms: u64,
        /// Measured rounds per variant (the median is reported).
        #[arg(long, default_value_t = 7)]
        rounds: usize,
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Instead of measuring, process exactly this many packets with one
        /// variant and exit (for valgrind/callgrind instruction counts).
        #[arg(long)]
        packets: Option<u64>,
        /// With --packets: `baseline`, `framework` or `runtime-hand`.
        #[arg(long, default_value = "framework")]
        variant: String,
    },
    /// Every library NF (with its example graph's parameters) on 64-byte
    /// frames over 10k flows, beside the empty graph and the hand-written
    /// TTL loop.
    Nfs {
        /// Only these kinds.
        #[arg(long, value_delimiter = ',')]
        kinds: Vec<String>,
        /// Directory of example graphs to take NF parameters from.
        #[arg(long, default_value = "examples")]
        examples: PathBuf,
        #[arg(long, default_value_t = 300)]
        round_ms: u64,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        #[arg(long)]
        json: bool,
    },
    /// Real packet I/O on a namespace topology (h1 -> middlebox -> h2):
    /// kernel forwarding, kernel NAT + 500 nftables rules, netfn (empty
    /// graph; firewall -> NAT) on afpacket and afxdp, and Open vSwitch's
    /// userspace datapath, under the netfn generator and iperf3, in one run.
    /// Needs root.
    Io {
        /// Print one JSON object instead of the tables.
        #[arg(long)]
        json: bool,
        /// Also write a plot of throughput vs packet size (SVG) here.
        #[arg(long, value_name = "OUT.svg")]
        plot: Option<PathBuf>,
        /// Short windows (a smoke test, about a minute): the numbers are
        /// noisy.
        #[arg(long)]
        quick: bool,
        /// Only these systems (kernel, kernel-nat, netfn-empty-afpacket,
        /// netfn-empty-afxdp, netfn-fwnat-afpacket, netfn-fwnat-afxdp,
        /// ovs-netdev).
        #[arg(long, value_delimiter = ',')]
        systems: Vec<String>,
        /// Skip the overload sweep (delivered vs offered past capacity).
        #[arg(long)]
        no_overload: bool,
        /// Also write the JSON report here (keeps table and JSON of one run).
        #[arg(long, value_name = "OUT.json")]
        save_json: Option<PathBuf>,
        /// Rounds over all systems; each figure is the median (default 3,
        /// 1 with --quick).
        #[arg(long)]
        rounds: Option<usize>,
    },
    /// The firewall's classifier against its rule count: Mpps with 10, 100,
    /// 1000 and 5000 rules (random non-matching ones, then matching ones)
    /// on 64-byte frames over 10k flows, and the ratio to the first count.
    Firewall {
        /// Rule counts to measure (the first is the reference).
        #[arg(long, value_delimiter = ',', default_value = "10,100,1000,5000")]
        rules: Vec<usize>,
        #[arg(long, default_value_t = 300)]
        round_ms: u64,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        #[arg(long)]
        json: bool,
    },
}

/// Every element kind this binary knows.
pub fn catalog() -> Catalog {
    let mut c = Catalog::new();
    c.extend(netfn_nfs::catalog())
        .extend(netfn_ports::catalog())
        .extend(worker::SPECS.iter());
    c
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 10s, 500ms, 2m)"))?;
    let scale = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{s}` (use ns, us, ms, s, m, h)"
            ));
        }
    };
    Ok(Duration::from_secs_f64(n * scale))
}

/// Reads and validates a graph file (text, or JSON if it ends in `.json`;
/// `-` is text on standard input).
pub fn load(
    file: &Path,
    defines: &[String],
    catalog: &Catalog,
) -> Result<(Model, Plan), Diagnostics> {
    let mut vars = Vars::new();
    for d in defines {
        vars.define_arg(d)?;
    }
    let model = if isolate::is_stdin(file) {
        isolate::read_stdin(&vars)?
    } else if file.extension().is_some_and(|e| e == "json") {
        let text = std::fs::read_to_string(file).map_err(|e| {
            let mut d = Diagnostics::new();
            d.push(netfn_lang::Diagnostic::error(
                "netfn::io",
                &netfn_lang::Loc::default(),
                format!("cannot read {}: {e}", file.display()),
            ));
            d
        })?;
        Model::from_json_named(&file.display().to_string(), &text)?
    } else {
        netfn_lang::parse_file(file, &vars)?
    };
    let plan = netfn_lang::validate(&model, catalog)?;
    Ok((model, plan))
}

fn print_diagnostics(diags: &Diagnostics, json: bool) {
    if json {
        println!("{}", diags.to_json());
    } else {
        eprint!("{}", diags.render());
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let catalog = catalog();
    match cli.command {
        Command::Run {
            graph,
            duration,
            packets,
            json,
            watch,
            quiet,
            batch,
            frames,
        } => {
            let options = run::Options {
                duration,
                packets,
                json,
                watch,
                quiet,
                batch,
                frames,
                defines: graph.define,
            };
            run::run(&graph.file, &catalog, options)
        }
        Command::Bench {
            which:
                BenchCommand::Workers {
                    chains,
                    workers,
                    spawns,
                    duration,
                    rate,
                    json,
                    quick,
                },
        } => {
            let options = if quick {
                bench_worker::Options::quick(json)
            } else {
                bench_worker::Options {
                    chains,
                    workers,
                    spawns,
                    duration,
                    rate,
                    json,
                }
            };
            bench_worker::run(&options)
        }
        Command::Worker { graph, name: _ } => {
            worker::worker_main(&graph.file, &graph.define, &catalog)
        }
        Command::Check { graph, json } => check(&graph, &catalog, json),
        Command::Graph {
            graph,
            format,
            output,
        } => draw(&graph, &catalog, format, output.as_deref()),
        Command::Nfs { kind, json } => list_kinds(&catalog, kind.as_deref(), json),
        Command::Bench {
            which:
                BenchCommand::Nfs {
                    kinds,
                    examples,
                    round_ms,
                    rounds,
                    json,
                },
        } => {
            let report = bench_nfs::run(
                &examples,
                &catalog,
                &kinds,
                Duration::from_millis(round_ms),
                rounds,
            );
            if json {
                println!("{}", serde_json::to_string(&report).expect("serialisable"));
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Command::Bench {
            which:
                BenchCommand::Io {
                    json,
                    plot,
                    quick,
                    systems,
                    no_overload,
                    save_json,
                    rounds,
                },
        } => {
            let options = bench_io::Options {
                quick,
                systems,
                no_overload,
                rounds,
            };
            let report = match bench_io::run(&options) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: bench io: {e}");
                    return ExitCode::from(1);
                }
            };
            if let Some(path) = plot
                && let Err(e) = std::fs::write(&path, report.svg())
            {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(1);
            }
            if let Some(path) = save_json
                && let Err(e) = std::fs::write(
                    &path,
                    serde_json::to_string_pretty(&report).expect("serialisable") + "\n",
                )
            {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(1);
            }
            if json {
                println!("{}", serde_json::to_string(&report).expect("serialisable"));
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Command::Bench {
            which:
                BenchCommand::Firewall {
                    rules,
                    round_ms,
                    rounds,
                    json,
                },
        } => {
            let report = bench_firewall::run(&rules, Duration::from_millis(round_ms), rounds);
            if json {
                println!("{}", serde_json::to_string(&report).expect("serialisable"));
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Command::Bench {
            which:
                BenchCommand::Overhead {
                    chains,
                    round_ms,
                    rounds,
                    batch,
                    json,
                    packets,
                    variant,
                },
        } => {
            if let Some(packets) = packets {
                let k = chains.first().copied().unwrap_or(1);
                let n = match variant.as_str() {
                    "baseline" => bench::run_baseline(k, batch, packets, None),
                    "framework" => bench::run_framework(k, batch, packets, None),
                    "runtime-hand" => bench::run_framework_with(k, batch, packets, None, true),
                    other => {
                        eprintln!(
                            "error: unknown variant `{other}` (expected baseline, framework or runtime-hand)"
                        );
                        return ExitCode::from(2);
                    }
                };
                println!("{variant}: {n} packets through {k} NFs");
                return ExitCode::SUCCESS;
            }
            let config = bench::OverheadConfig {
                chains,
                round: Duration::from_millis(round_ms),
                rounds: rounds.max(1),
                batch_size: batch,
            };
            let report = bench::overhead(&config);
            if json {
                println!("{}", serde_json::to_string(&report).expect("serialisable"));
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
    }
}

/// `netfn check`: validation, then the NFs' own builders (rules files and
/// the like). Ports are not opened: that could create output files or need
/// root.
fn check(graph: &GraphArgs, catalog: &Catalog, json: bool) -> ExitCode {
    let (model, plan) = match load(&graph.file, &graph.define, catalog) {
        Ok(loaded) => loaded,
        Err(diags) => {
            print_diagnostics(&diags, json);
            return ExitCode::from(2);
        }
    };
    let mut diags = netfn_lang::check_build(&isolate::nfs_only(&plan), &model);
    // Isolated instances: their NFs are built here too, with errors at the
    // places they are written.
    diags.extend(isolate::check_worker_nfs(&model, catalog));
    if !diags.is_empty() {
        print_diagnostics(&diags, json);
        return ExitCode::from(2);
    }
    // Valid: checked above.
    let workers = netfn_lang::worker_graphs(&model, catalog).unwrap_or_default();
    let summary = netfn_lang::summary(&plan);
    if json {
        let workers: Vec<_> = workers
            .iter()
            .map(|w| {
                serde_json::json!({
                    "name": w.name,
                    "summary": netfn_lang::summary(&w.plan),
                    "elements": w.plan.nodes.iter().map(|n| serde_json::json!({
                        "name": n.name,
                        "kind": n.spec.kind,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "ok": true, "summary": summary, "workers": workers })
        );
    } else {
        println!("{}: ok: {summary}", graph.file.display());
        for w in &workers {
            println!("  {}", netfn_lang::worker_summary(w));
        }
    }
    ExitCode::SUCCESS
}

fn draw(
    graph: &GraphArgs,
    catalog: &Catalog,
    format: DrawFormat,
    output: Option<&Path>,
) -> ExitCode {
    let loaded = load(&graph.file, &graph.define, catalog).and_then(|(model, plan)| {
        netfn_lang::worker_graphs(&model, catalog).map(|workers| (plan, workers))
    });
    let (plan, workers) = match loaded {
        Ok(loaded) => loaded,
        Err(diags) => {
            print_diagnostics(&diags, false);
            return ExitCode::from(2);
        }
    };
    let text = match format {
        DrawFormat::Dot => netfn_lang::to_dot_with_workers(&plan, &workers),
        DrawFormat::Svg => netfn_lang::to_svg_with_workers(&plan, &workers),
    };
    match output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(1);
            }
        }
        None => return write_stdout(&text),
    }
    ExitCode::SUCCESS
}

/// `netfn nfs`: generated from the catalog the validator uses.
fn list_kinds(catalog: &Catalog, only: Option<&str>, json: bool) -> ExitCode {
    let specs: Vec<_> = catalog
        .iter()
        .filter(|s| only.is_none_or(|k| s.kind == k))
        .collect();
    if specs.is_empty() {
        let known: Vec<_> = catalog.iter().map(|s| s.kind).collect();
        eprintln!(
            "error: no element kind `{}`; known kinds: {}",
            only.unwrap_or(""),
            known.join(", ")
        );
        return ExitCode::from(2);
    }
    if json {
        let list: Vec<_> = specs
            .iter()
            .map(|s| {
                serde_json::json!({
                    "kind": s.kind,
                    "doc": s.doc,
                    "port": s.is_port(),
                    "inputs": s.inputs.to_string(),
                    "outputs": s.outputs.to_string(),
                    "params": s.params.iter().map(|p| serde_json::json!({
                        "name": p.name,
                        "type": p.ty.to_string(),
                        "default": p.default,
                        "required": p.default.is_none(),
                        "doc": p.doc,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&list).expect("serialisable");
        return write_stdout(&format!("{text}\n"));
    }
    let mut out = String::new();
    for s in specs {
        let what = if s.is_port() { "port" } else { "nf" };
        let _ = writeln!(
            out,
            "{} ({what}; inputs {}, outputs {})\n    {}",
            s.kind, s.inputs, s.outputs, s.doc
        );
        let rows: Vec<_> = s
            .params
            .iter()
            .map(|p| {
                let default = p
                    .default
                    .map_or("required".to_string(), |d| format!("default {d}"));
                (p.name, p.ty.to_string(), default, p.doc)
            })
            .collect();
        let width = |f: fn(&(&str, String, String, &str)) -> usize| rows.iter().map(f).max();
        let (w_name, w_ty, w_default) = (
            width(|r| r.0.len()).unwrap_or(0),
            width(|r| r.1.len()).unwrap_or(0),
            width(|r| r.2.len()).unwrap_or(0),
        );
        for (name, ty, default, doc) in &rows {
            let _ = writeln!(
                out,
                "    {name:<w_name$}  {ty:<w_ty$}  {default:<w_default$}  {doc}"
            );
        }
        out.push('\n');
    }
    write_stdout(&out)
}

/// Writes a command's output; a reader that went away (`netfn nfs | head`)
/// ends the command quietly instead of a panic from `println!`.
fn write_stdout(text: &str) -> ExitCode {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing to standard output: {e}");
            ExitCode::from(1)
        }
    }
}
