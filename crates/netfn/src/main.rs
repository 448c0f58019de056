//! The `netfn` command.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod bench;

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

#[derive(Subcommand)]
enum Command {
    /// Benchmarks (measured in one run against a baseline).
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Framework overhead: operators + runtime vs a hand-written loop, for
    /// chains of ttl NFs.
    Overhead {
        /// Chain lengths to measure.
        #[arg(long, value_delimiter = ',', default_value = "1,2,5,10")]
        chains: Vec<usize>,
        /// Milliseconds per measured round.
        #[arg(long, default_value_t = 300)]
        round_ms: u64,
        /// Measured rounds per variant (median is reported).
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
        /// With --packets: `baseline` or `framework`.
        #[arg(long, default_value = "framework")]
        variant: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
                            "error: unknown variant `{other}` (expected baseline or framework)"
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
