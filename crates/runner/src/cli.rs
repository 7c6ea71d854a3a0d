//! The `repsim` commands (SPEC §1): argument definitions and what each command does.
//!
//! Each command returns its exit code: 0 success, 1 when a scenario's `expect` block is
//! not met (or, for `check`, when an anomaly was found), 2 on bad input. Bad input is
//! refused before anything runs or is written. `main.rs` only parses and exits.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use repsim_anomaly::{Input, Options};
use repsim_history::{FinalState, History};

use crate::report;
use crate::run::{self, MAX_EXAMPLES};
use crate::scenario::{self, Scenario};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: an `expect` block was not met, or `check` found an anomaly.
pub const EXIT_FOUND: u8 = 1;
/// Exit code: bad input (nothing was run or written).
pub const EXIT_BAD_INPUT: u8 = 2;

const AFTER_HELP: &str = "\
Examples:
  repsim run scenarios/single-node/crash-restart.json        run at the file's seed
  repsim run scenarios/single-node/crash-restart.json --seed 9 --out /tmp/r
  repsim check reports/crash-restart/seed-1/history.jsonl --final reports/crash-restart/seed-1/final.json
  repsim validate scenarios/*/*.json
  repsim schema > scenario.schema.json

Exit codes: 0 ok, 1 expectation not met / anomaly found, 2 bad input.
Scenario files, history files and every anomaly are defined in SPEC.md and the README.";

/// repsim: a deterministic simulator of database replication protocols.
///
/// Runs a scenario (a JSON file: cluster, protocol, network, clients, faults) with a seed,
/// and reports the anomalies clients saw: stale reads, lost writes, read-your-writes,
/// monotonic-read and consistent-prefix violations, phantom reads, diverged replicas,
/// split brain and unavailability, each with the operations involved and the command
/// that reproduces it. The same file and seed always give the same bytes.
#[derive(Debug, Parser)]
#[command(name = "repsim", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run each scenario once and report its anomalies.
    ///
    /// Writes report.json, history.jsonl and final.json under --out (default
    /// reports/<scenario-name>/seed-<N>/) and prints a summary. Exit 1 when a scenario's
    /// `expect` block is not met.
    Run {
        /// Scenario files (JSON, see `repsim schema`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Seed to run with, instead of the file's `seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// Directory for the output files. With several scenarios, each gets
        /// <DIR>/<scenario-name>/seed-<N>/.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print the report as JSON instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Check a history file (from repsim or a real database's client log) for anomalies.
    ///
    /// Without --final, the checks that need the final state (lost_write, divergence) are
    /// skipped, and so is split_brain (it needs protocol role events). Exit 1 when any
    /// anomaly was found.
    Check {
        /// History file: JSON Lines, one event per line (SPEC.md section 3).
        history: PathBuf,
        /// Final state of every node (final.json, or a report.json).
        #[arg(long = "final", value_name = "FINAL.json")]
        final_state: Option<PathBuf>,
        /// Print {"anomalies": {kind: count}, "examples": {kind: [index...]}} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check scenario files without running them.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of scenario files (for editor completion and checking).
    Schema,
}

/// Runs a parsed command line and returns the exit code.
pub fn execute(cli: Cli) -> u8 {
    match cli.command {
        Command::Run {
            files,
            seed,
            out,
            json,
        } => run_command(&files, seed, out.as_deref(), json),
        Command::Check {
            history,
            final_state,
            json,
        } => check_command(&history, final_state.as_deref(), json),
        Command::Validate { files } => validate_command(&files),
        Command::Schema => {
            let text =
                serde_json::to_string_pretty(&scenario::schema()).expect("schema serializes");
            println!("{text}");
            EXIT_OK
        }
    }
}

/// Loads every file, printing each error; `None` if any was bad.
fn load_all(files: &[PathBuf]) -> Option<Vec<Scenario>> {
    let mut scenarios = Vec::new();
    let mut bad = false;
    for file in files {
        match scenario::load(file) {
            Ok(s) => scenarios.push(s),
            Err(e) => {
                eprintln!("error: {e}");
                bad = true;
            }
        }
    }
    (!bad).then_some(scenarios)
}

fn run_command(files: &[PathBuf], seed: Option<u64>, out: Option<&Path>, json: bool) -> u8 {
    let Some(scenarios) = load_all(files) else {
        return EXIT_BAD_INPUT;
    };
    for s in &scenarios {
        if let Err(e) = run::check_runnable(s) {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    }
    let several = scenarios.len() > 1;
    let mut reports = Vec::new();
    let mut all_met = true;
    for scenario in &scenarios {
        let seed = seed.unwrap_or(scenario.seed);
        #[allow(clippy::disallowed_methods)] // Wall time is printed, never written to a file.
        let started = std::time::Instant::now();
        let result = match run::run(scenario, seed, None) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_BAD_INPUT;
            }
        };
        let wall = started.elapsed();
        let report = report::build(scenario, &result);
        let seed_dir = format!("seed-{seed}");
        let dir = match out {
            Some(dir) if several => dir.join(&scenario.name).join(&seed_dir),
            Some(dir) => dir.to_path_buf(),
            None => Path::new("reports").join(&scenario.name).join(&seed_dir),
        };
        if let Err(e) = report::write_outputs(&dir, &result, &report) {
            eprintln!("error: {}: cannot write: {e}", dir.display());
            return EXIT_BAD_INPUT;
        }
        all_met &= report.expect_met;
        if json {
            eprintln!(
                "{}: wrote {} ({:.3} s wall)",
                scenario.name,
                dir.display(),
                wall.as_secs_f64()
            );
            reports.push(report);
        } else {
            print!("{}", report.summary());
            println!(
                "wrote {}/{{report.json,history.jsonl,final.json}} in {:.3} s wall",
                dir.display(),
                wall.as_secs_f64()
            );
            if several {
                println!();
            }
        }
    }
    if json {
        let text = if reports.len() == 1 {
            serde_json::to_string_pretty(&reports[0])
        } else {
            serde_json::to_string_pretty(&reports)
        };
        println!("{}", text.expect("reports serialize"));
    }
    if all_met { EXIT_OK } else { EXIT_FOUND }
}

fn check_command(history_path: &Path, final_path: Option<&Path>, json: bool) -> u8 {
    let shown = history_path.display().to_string();
    let text = match std::fs::read_to_string(history_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {shown}: cannot read: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let mut history = match History::from_jsonl(&text, &shown) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let final_state = match final_path {
        None => None,
        Some(path) => {
            let shown = path.display().to_string();
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {shown}: cannot read: {e}");
                    return EXIT_BAD_INPUT;
                }
            };
            match FinalState::from_json(&text, &shown, &mut history) {
                Ok(f) => Some(f),
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_BAD_INPUT;
                }
            }
        }
    };
    let input = Input {
        history: &history,
        final_state: final_state.as_ref(),
        roles: None,
    };
    let findings = match repsim_anomaly::check(
        &input,
        &Options {
            max_examples: MAX_EXAMPLES,
        },
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {shown}: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    if json {
        let text = serde_json::to_string_pretty(&findings.to_check_json()).expect("serializes");
        println!("{text}");
    } else {
        println!("{shown}: {} operations", findings.operations);
        for (kind, count) in &findings.counts {
            let first = findings.examples.get(kind).and_then(|f| f.first());
            match first {
                Some(flag) if *count > 0 => {
                    println!("  {:<18} {count:>7}   first: {}", kind.name(), flag.message)
                }
                _ => println!("  {:<18} {count:>7}", kind.name()),
            }
        }
        for (kind, why) in &findings.skipped {
            println!("  {:<18} skipped: {why}", kind.name());
        }
    }
    if findings.counts.values().any(|&c| c > 0) {
        EXIT_FOUND
    } else {
        EXIT_OK
    }
}

fn validate_command(files: &[PathBuf]) -> u8 {
    let mut code = EXIT_OK;
    for file in files {
        match scenario::load(file) {
            Ok(s) => {
                let note = match run::check_runnable(&s) {
                    Ok(()) => String::new(),
                    Err(_) => " (valid, but this protocol cannot run yet)".to_owned(),
                };
                println!(
                    "{}: ok: {} ({}, {} nodes, {} ms, {} faults){note}",
                    file.display(),
                    s.name,
                    run::protocol_kind(&s.protocol),
                    s.nodes,
                    s.duration.as_ms(),
                    s.faults.len()
                );
            }
            Err(e) => {
                eprintln!("error: {e}");
                code = EXIT_BAD_INPUT;
            }
        }
    }
    code
}
