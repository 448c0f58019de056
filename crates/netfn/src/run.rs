//! `netfn run`: the data path on its own thread, the live view, signals and
//! live reload on the main thread.
//!
//! The runtime (and its packets) never leave the data thread. The main
//! thread reads counters through a `StatsHandle`, and hands a new validated
//! plan over a channel; the data thread swaps it in between two rounds, so
//! no packet is in flight during a swap.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use netfn_core::config::{Catalog, Plan};
use netfn_core::runtime::GraphError;
use netfn_core::stats::StatsHandle;
use netfn_core::{Graph, PoolConfig, RunLimits, Runtime, RuntimeConfig, StopReason};
use netfn_lang::Model;

use crate::{load, print_diagnostics, view};

pub struct Options {
    pub duration: Option<Duration>,
    pub packets: Option<u64>,
    pub json: bool,
    pub watch: bool,
    pub quiet: bool,
    pub batch: usize,
    pub frames: u32,
    pub defines: Vec<String>,
}

/// What the data thread tells the main thread.
enum Event {
    Started(StatsHandle),
    BuildFailed(GraphError),
    Reloaded {
        lost: u64,
    },
    ReloadFailed(GraphError),
    Finished {
        reason: StopReason,
        flush: Result<(), String>,
    },
}

pub fn run(file: &Path, catalog: &Catalog, opts: Options) -> ExitCode {
    let (model, plan) = match load(file, &opts.defines, catalog) {
        Ok(loaded) => loaded,
        Err(diags) => {
            print_diagnostics(&diags, false);
            return ExitCode::from(2);
        }
    };
    let diags = crate::isolate::check_worker_nfs(&model, catalog);
    if !diags.is_empty() {
        print_diagnostics(&diags, false);
        return ExitCode::from(2);
    }
    // A graph that writes packets to standard output (`stdout(...)`) owns
    // it: the live view is off and the summary goes to standard error.
    let packets_on_stdout = plan.nodes.iter().any(|n| {
        n.spec.kind == "stdout"
            && n.params
                .str("path")
                .is_ok_and(|p| Path::new(p).file_name().is_none_or(|f| f == "-"))
    });
    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    let _ = signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone());

    let interrupt = Arc::new(AtomicBool::new(false));
    let (plans_tx, plans_rx) = mpsc::channel::<Plan>();
    let (events_tx, events_rx) = mpsc::channel::<Event>();
    let config = RuntimeConfig {
        batch_size: opts.batch,
        pool: PoolConfig {
            frames: opts.frames,
            ..PoolConfig::default()
        },
        ..RuntimeConfig::default()
    };
    let limits = RunLimits {
        duration: opts.duration,
        packets: opts.packets,
        stop: Some(stop.clone()),
        interrupt: Some(interrupt.clone()),
    };
    let data = std::thread::Builder::new()
        .name("netfn-data".into())
        .spawn(move || data_path(plan, config, limits, plans_rx, events_tx))
        .expect("spawn data thread");

    let stats = match events_rx.recv() {
        Ok(Event::Started(stats)) => stats,
        Ok(Event::BuildFailed(err)) => {
            report_build_error(&err, &model);
            let _ = data.join();
            return ExitCode::from(2);
        }
        _ => {
            eprintln!("error: the data path stopped before starting");
            return ExitCode::from(1);
        }
    };
    let started = Instant::now();
    let live = !opts.json && !opts.quiet && !packets_on_stdout && std::io::stdout().is_terminal();
    let mut model = model;
    let mut last_view = Instant::now();
    let mut prev = stats.snapshot();
    let mut drawn_lines = 0;
    let mut mtime = modified(file);
    let mut last_poll = Instant::now();
    let (reason, flush) = loop {
        match events_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Event::Finished { reason, flush }) => break (reason, flush),
            Ok(Event::Reloaded { lost }) => {
                let lost = if lost > 0 {
                    format!(" ({lost} queued packets in removed ports dropped)")
                } else {
                    String::new()
                };
                eprintln!("netfn: reloaded {}{lost}", file.display());
                drawn_lines = 0;
            }
            Ok(Event::ReloadFailed(err)) => {
                report_build_error(&err, &model);
                eprintln!("netfn: reload failed; the previous graph keeps running");
                drawn_lines = 0;
            }
            Ok(Event::Started(_) | Event::BuildFailed(_)) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                eprintln!("error: the data path died");
                return ExitCode::from(1);
            }
        }
        // Reload on SIGHUP, or on a file change with --watch.
        let mut reload = hup.swap(false, Ordering::AcqRel);
        if opts.watch && last_poll.elapsed() >= Duration::from_millis(500) {
            last_poll = Instant::now();
            let now = modified(file);
            if now != mtime {
                mtime = now;
                reload = true;
            }
        }
        if reload {
            match load(file, &opts.defines, catalog) {
                Ok((new_model, plan)) => {
                    model = new_model;
                    let _ = plans_tx.send(plan);
                    interrupt.store(true, Ordering::Release);
                }
                Err(diags) => {
                    print_diagnostics(&diags, false);
                    eprintln!(
                        "netfn: {} is invalid; the previous graph keeps running",
                        file.display()
                    );
                }
            }
            drawn_lines = 0;
        }
        if live && last_view.elapsed() >= Duration::from_secs(1) {
            let cur = stats.snapshot();
            let text = view::live(
                &prev,
                &cur,
                last_view.elapsed().as_secs_f64(),
                started.elapsed().as_secs_f64(),
            );
            // Redraw in place: move up over the previous view.
            if drawn_lines > 0 {
                print!("\x1b[{drawn_lines}A\x1b[J");
            }
            print!("{text}");
            drawn_lines = text.lines().count();
            prev = cur;
            last_view = Instant::now();
        }
    };
    let _ = data.join();
    let elapsed = started.elapsed().as_secs_f64();
    let nodes = stats.snapshot();
    let reason_text = match reason {
        StopReason::SourcesDone => "sources done",
        StopReason::Duration => "duration reached",
        StopReason::Packets => "packet count reached",
        StopReason::Requested | StopReason::Interrupted => "interrupted",
        StopReason::OutputClosed => "output closed",
    };
    let report = if opts.json {
        let out = serde_json::json!({
            "elapsed_s": elapsed,
            "stop": reason_text,
            "nodes": nodes,
        });
        format!("{out}\n")
    } else {
        view::summary(&nodes, elapsed, reason_text)
    };
    if packets_on_stdout {
        eprint!("{report}");
    } else {
        print!("{report}");
    }
    match flush {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn report_build_error(err: &GraphError, model: &Model) {
    match err {
        GraphError::Build { node, source } => {
            let kind = model.element(node).map_or("element", |e| e.kind.as_str());
            let diag = netfn_lang::build_error(node, kind, source, model);
            let mut diags = netfn_lang::Diagnostics::new();
            diags.push(diag);
            print_diagnostics(&diags, false);
        }
        other => eprintln!("error: {other}"),
    }
}

/// The data thread: builds the runtime, runs it, swaps plans when asked.
fn data_path(
    plan: Plan,
    config: RuntimeConfig,
    mut limits: RunLimits,
    plans: mpsc::Receiver<Plan>,
    events: mpsc::Sender<Event>,
) {
    let runtime = Graph::from_plan(&plan).and_then(|g| Runtime::new(g, config));
    let mut rt = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            let _ = events.send(Event::BuildFailed(e));
            return;
        }
    };
    // Sleep in poll() on the sources' descriptors while idle.
    rt.set_idle_wait(Box::new(netfn_ports::poll_readable));
    let _ = events.send(Event::Started(rt.stats()));
    let started = Instant::now();
    let total = limits.duration;
    let mut last_counters = Instant::now();
    let reason = loop {
        limits.duration = total.map(|d| d.saturating_sub(started.elapsed()));
        // Refresh NF/port-specific counters about once a second.
        let chunk = limits
            .duration
            .map_or(Duration::from_secs(1), |d| d.min(Duration::from_secs(1)));
        let reason = rt.run(&RunLimits {
            duration: Some(chunk),
            ..limits.clone()
        });
        if last_counters.elapsed() >= Duration::from_secs(1) {
            rt.refresh_extra_counters();
            last_counters = Instant::now();
        }
        match reason {
            StopReason::Interrupted => {
                while let Ok(plan) = plans.try_recv() {
                    let swapped = Graph::from_plan_keeping(&plan, |n| rt.can_keep_port(n))
                        .and_then(|g| rt.swap(g));
                    let _ = events.send(match swapped {
                        Ok(lost) => Event::Reloaded { lost },
                        Err(e) => Event::ReloadFailed(e),
                    });
                }
            }
            StopReason::Duration if total.is_none_or(|d| started.elapsed() < d) => {}
            other => break other,
        }
    };
    let flush = rt.finish().map_err(|e| format!("flushing ports: {e}"));
    let _ = events.send(Event::Finished { reason, flush });
}
