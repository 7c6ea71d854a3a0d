//! The `repsim` commands (SPEC §1): argument definitions and what each command does.
//!
//! Each command returns its exit code: 0 success, 1 when a scenario's `expect` block is
//! not met (or, for `check`, when an anomaly was found), 2 on bad input, 3 on a bug in
//! repsim or a protocol, 130 for a sweep stopped by Ctrl-C. Bad input is refused before
//! anything runs or is written. `main.rs` only parses and exits.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use repsim_anomaly::linearizability::Budget;
use repsim_anomaly::{Input, Options};
use repsim_history::{FinalState, History, HistoryError, Shape};

use crate::report;
use crate::run::{self, MAX_EXAMPLES};
use crate::scenario::{self, Scenario};
use crate::{compare, diagram, shrink, sweep};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: an `expect` block was not met, or `check` found an anomaly.
pub const EXIT_FOUND: u8 = 1;
/// Exit code: bad input (nothing was run or written).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code: a bug in repsim or a protocol (a panic, or a run that is not deterministic).
pub const EXIT_INTERNAL: u8 = 3;
/// Exit code: a sweep stopped by Ctrl-C (128 + SIGINT, as shells report it), after
/// printing what the seeds done showed, so a script cannot take it for a whole sweep.
pub const EXIT_INTERRUPTED: u8 = 130;

const AFTER_HELP: &str = "\
Examples:
  repsim run scenarios/single-node/crash-restart.json        run at the file's seed
  repsim run scenarios/single-node/crash-restart.json --seed 9 --out /tmp/r
  repsim check reports/crash-restart/seed-1/history.jsonl --final reports/crash-restart/seed-1/final.json
  repsim check jepsen-history.edn                          (Jepsen's shape is detected)
  repsim export reports/crash-restart/seed-1/history.jsonl --format jepsen --edn > history.edn
  repsim sweep scenarios/single-leader/async-failover-loses-writes.json --seeds 1000
  repsim sweep FILE --seeds 100000 --shard 3/16 > part-3.json   (then: repsim merge part-*.json)
  repsim shrink FILE --seed 17 --anomaly lost_write     (writes FILE's name.shrunk.json)
  repsim validate scenarios/*/*.json
  repsim schema > scenario.schema.json

Exit codes: 0 ok, 1 expectation not met / anomaly found, 2 bad input,
3 a bug in repsim or a protocol (a panic, or a run that is not deterministic),
130 a sweep stopped by Ctrl-C (after printing what the seeds done showed).
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
        /// Also draw a space-time diagram of this window of simulated time (ms), e.g.
        /// 1000..1200, into diagram.svg (and the raw trace into trace.jsonl).
        #[arg(long, value_name = "FROM_MS..TO_MS")]
        diagram: Option<String>,
        /// Run each seed twice and check that both runs agree event for event; on a
        /// mismatch print the first differing event and exit 3.
        #[arg(long)]
        check_determinism: bool,
    },
    /// Run one scenario over many seeds in parallel and aggregate the anomalies.
    ///
    /// For every anomaly kind: how many seeds showed it, the rate with a 95% confidence
    /// interval, and the first seeds with the command that reproduces each. The output
    /// is identical for any --jobs. Ctrl-C stops early and reports the seeds done. Exit
    /// 1 when the scenario's `expect` block fails over the sweep: an upper bound broken
    /// in some seed, or a lower bound reached in none.
    Sweep(SweepArgs),
    /// Sweep several scenarios over the same seeds and draw comparison charts.
    ///
    /// Writes SVG charts (anomaly rates with 95% confidence intervals, read and write
    /// latency CDFs, availability over time with fault windows shaded, replication lag
    /// over time) and compare.json to --out, and prints a side-by-side table.
    Compare {
        /// Scenario files, usually one workload under different protocols or settings.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Seeds per scenario, from each file's `seed`.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// Output directory.
        #[arg(long, value_name = "DIR", default_value = "reports/compare")]
        out: PathBuf,
        /// Parallel workers (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Also write every chart as PNG.
        #[arg(long)]
        png: bool,
    },
    /// Join the partial results of a sharded sweep into the aggregate a single sweep gives.
    Merge {
        /// Partial results (the output of `repsim sweep --shard I/N`).
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Print the aggregate as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a history file (from repsim or a real database's client log) for anomalies.
    ///
    /// Without --final, the checks that need the final state (lost_write, divergence,
    /// lost_increment, phantom_increment, lost_add) are skipped, and so is split_brain
    /// (it needs protocol role events). Counter keys (increment) and set keys (add,
    /// remove) are checked by divergence, unavailable and the counter and set kinds
    /// only; the register kinds ignore them. Keys whose
    /// linearizability the search cannot decide within its budget are listed as unknown,
    /// neither counted nor passed. Exit 1 when any anomaly was found.
    Check {
        /// History file: repsim's JSON Lines (SPEC.md section 3), or Jepsen's shape as
        /// JSON lines or EDN (detected; see `repsim export`).
        history: PathBuf,
        /// Final state of every node (final.json, or a report.json).
        #[arg(long = "final", value_name = "FINAL.json")]
        final_state: Option<PathBuf>,
        /// Print {"anomalies": {kind: count}, "examples": {kind: [index...]}, "skipped":
        /// {kind: reason}, "unknown": {kind: [key...]}, "operations": n} as JSON;
        /// "unknown" lists the keys linearizability could not decide, and is {} when
        /// every key was decided.
        #[arg(long)]
        json: bool,
        /// Read the history as Jepsen EDN whatever it starts with.
        #[arg(long)]
        edn: bool,
        /// Configurations the linearizability search may explore per key (default:
        /// 100000 plus 8 per operation of the key); a key it cannot decide within them
        /// is reported as unknown.
        #[arg(long, value_name = "STATES")]
        linearizability_budget: Option<u64>,
    },
    /// Write a history in Jepsen's shape, one op per line (JSON, or EDN with --edn).
    ///
    /// Each op has type, f, value, process, time (ns) and index (plus node). Values are
    /// [key value] tuples (Knossos' independent form), so every key survives; `repsim
    /// check` reads the result back to the same findings.
    Export {
        /// History file, in any shape `repsim check` reads.
        history: PathBuf,
        /// The output shape.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Write EDN instead of JSON lines.
        #[arg(long)]
        edn: bool,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Reduce a failing run to a minimal scenario that still shows the anomaly.
    ///
    /// Makes the fault schedule concrete, removes every fault it can (delta debugging),
    /// then shortens the workload and removes clients, keeping the seed, as long as the
    /// run at that seed still shows the anomaly. Writes the reduced scenario file and
    /// prints what was removed.
    Shrink {
        /// Scenario file.
        file: PathBuf,
        /// The seed of the failing run.
        #[arg(long)]
        seed: u64,
        /// The anomaly kind to keep (e.g. lost_write).
        #[arg(long)]
        anomaly: String,
        /// Where to write the reduced scenario (default: <name>.shrunk.json beside FILE).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
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

/// The shapes `repsim export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Jepsen's history shape.
    Jepsen,
}

/// Arguments of `repsim sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// Scenario file.
    pub file: PathBuf,
    /// How many seeds.
    #[arg(long)]
    pub seeds: u64,
    /// First seed (default: the file's `seed`).
    #[arg(long)]
    pub from: Option<u64>,
    /// Parallel workers (default: the number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only shard I of N (1-based; every N-th seed) and print a partial result
    /// for `repsim merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Print the aggregate as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run every seed twice and check that both runs agree (exit 3 if not).
    #[arg(long)]
    pub check_determinism: bool,
}

/// Runs a parsed command line and returns the exit code.
pub fn execute(cli: Cli) -> u8 {
    match cli.command {
        Command::Run {
            files,
            seed,
            out,
            json,
            diagram,
            check_determinism,
        } => run_command(
            &files,
            seed,
            out.as_deref(),
            json,
            diagram.as_deref(),
            check_determinism,
        ),
        Command::Check {
            history,
            final_state,
            json,
            edn,
            linearizability_budget,
        } => {
            let mut options = CheckOptions {
                edn,
                ..CheckOptions::default()
            };
            if let Some(states) = linearizability_budget {
                options.budget.states_base = states;
                options.budget.states_per_operation = 0;
            }
            check_command(&history, final_state.as_deref(), json, &options)
        }
        Command::Export {
            history,
            format: ExportFormat::Jepsen,
            edn,
            out,
        } => export_command(&history, edn, out.as_deref()),
        Command::Validate { files } => validate_command(&files),
        Command::Sweep(args) => sweep_command(&args),
        Command::Merge { parts, json } => merge_command(&parts, json),
        Command::Shrink {
            file,
            seed,
            anomaly,
            out,
        } => shrink_command(&file, seed, &anomaly, out.as_deref()),
        Command::Compare {
            files,
            seeds,
            out,
            jobs,
            png,
        } => compare_command(&files, seeds, &out, jobs, png),
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

/// Parses `FROM..TO` (ms).
fn parse_window(text: &str) -> Result<(f64, f64), String> {
    let bad =
        || format!("--diagram {text}: expected FROM_MS..TO_MS with FROM < TO, e.g. 1000..1200");
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let (a, b): (f64, f64) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if !(a.is_finite() && b.is_finite() && 0.0 <= a && a < b) {
        return Err(bad());
    }
    Ok((a, b))
}

fn write_diagram(
    dir: &Path,
    scenario: &Scenario,
    result: &run::RunResult,
    window: (f64, f64),
) -> std::io::Result<()> {
    let Some(trace) = &result.output.trace else {
        return Ok(());
    };
    // Every flag in the window, not just the report's first few.
    let findings = repsim_anomaly::check(
        &Input {
            history: &result.output.history,
            final_state: Some(&result.output.final_state),
            roles: Some(&result.output.roles),
        },
        &Options {
            max_examples: 100_000,
        },
    )
    .unwrap_or_else(|_| result.findings.clone());
    let svg = diagram::draw(&diagram::DiagramInput {
        title: format!(
            "{} (seed {}), {} to {} ms",
            scenario.name, result.seed, window.0, window.1
        ),
        from_ms: window.0,
        to_ms: window.1,
        nodes: &result.output.members,
        trace,
        history: &result.output.history,
        roles: &result.output.roles,
        faults: &result.faults,
        findings: &findings,
    });
    std::fs::write(dir.join("diagram.svg"), svg)?;
    std::fs::write(dir.join("trace.jsonl"), trace.to_jsonl())
}

fn run_command(
    files: &[PathBuf],
    seed: Option<u64>,
    out: Option<&Path>,
    json: bool,
    diagram: Option<&str>,
    check_determinism: bool,
) -> u8 {
    let window = match diagram.map(parse_window).transpose() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let Some(scenarios) = load_all(files) else {
        return EXIT_BAD_INPUT;
    };
    let several = scenarios.len() > 1;
    let mut reports = Vec::new();
    let mut all_met = true;
    for scenario in &scenarios {
        let seed = seed.unwrap_or(scenario.seed);
        #[allow(clippy::disallowed_methods)] // Wall time is printed, never written to a file.
        let started = std::time::Instant::now();
        let trace = window.map(|(from, to)| repsim_sim::TraceConfig {
            capacity: 500_000,
            from: repsim_sim::SimTime::from_ms(from),
            to: repsim_sim::SimTime::from_ms(to),
        });
        let result = if check_determinism {
            run::check_determinism(scenario, seed).and_then(|first| {
                // The run with a trace must match too (a diagram must not change a run).
                run::run(scenario, seed, trace)
                    .map_err(run::CheckError::Run)
                    .and_then(|traced| {
                        if run::fingerprint(&traced) == run::fingerprint(&first) {
                            Ok(traced)
                        } else {
                            Err(run::CheckError::Nondeterministic(format!(
                                "{} at seed {seed}: recording a trace changed the run",
                                scenario.file
                            )))
                        }
                    })
            })
        } else {
            run::run(scenario, seed, trace).map_err(run::CheckError::Run)
        };
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_INTERNAL;
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
        let written = report::write_outputs(&dir, &result, &report)
            .and_then(|()| window.map_or(Ok(()), |w| write_diagram(&dir, scenario, &result, w)));
        if let Err(e) = written {
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

/// How `repsim check` reads and checks, beyond its files.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckOptions {
    /// Read the history as Jepsen EDN, whatever it starts with.
    pub edn: bool,
    /// The linearizability search's budget.
    pub budget: Budget,
}

/// Reads a history file's bytes in whatever shape it has ([`Shape::detect`]; EDN when
/// `edn`). `Err` names the file, the line and the reason.
pub fn read_history(bytes: &[u8], file: &str, edn: bool) -> Result<History, HistoryError> {
    match std::str::from_utf8(bytes) {
        Ok(text) if edn || Shape::detect(text) != Shape::Repsim => {
            History::from_any(text, file, edn)
        }
        // repsim's own reader also explains text that is not UTF-8.
        _ => History::from_jsonl_bytes(bytes, file),
    }
}

/// What `repsim check` does with the bytes of its files: reads the history (and the
/// final state, if given, into the history's ids) and runs the checkers. `Err` is the
/// bad-input message (print it after `error: `), which starts with the file it is about
/// and names the line or JSON path and the reason.
pub fn check_bytes(
    history: &[u8],
    history_file: &str,
    final_state: Option<(&[u8], &str)>,
) -> Result<repsim_anomaly::Findings, String> {
    check_bytes_with(history, history_file, final_state, &CheckOptions::default())
}

/// [`check_bytes`] with [`CheckOptions`].
pub fn check_bytes_with(
    history: &[u8],
    history_file: &str,
    final_state: Option<(&[u8], &str)>,
    check: &CheckOptions,
) -> Result<repsim_anomaly::Findings, String> {
    let mut history = read_history(history, history_file, check.edn).map_err(|e| e.to_string())?;
    let final_state = match final_state {
        None => None,
        Some((bytes, file)) => Some(
            FinalState::from_json_bytes(bytes, file, &mut history).map_err(|e| e.to_string())?,
        ),
    };
    let input = Input {
        history: &history,
        final_state: final_state.as_ref(),
        roles: None,
    };
    let options = Options {
        max_examples: MAX_EXAMPLES,
    };
    // `from_jsonl` refuses histories that do not pair, which is all `check` refuses
    // without role events; the file name is added in case that ever changes.
    repsim_anomaly::check_with_budget(&input, &options, &check.budget)
        .map_err(|e| format!("{history_file}: {e}"))
}

fn check_command(
    history_path: &Path,
    final_path: Option<&Path>,
    json: bool,
    check: &CheckOptions,
) -> u8 {
    let shown = history_path.display().to_string();
    let read = |path: &Path, shown: &str| {
        std::fs::read(path).map_err(|e| eprintln!("error: {shown}: cannot read: {e}"))
    };
    let Ok(history) = read(history_path, &shown) else {
        return EXIT_BAD_INPUT;
    };
    let final_state = match final_path {
        None => None,
        Some(path) => {
            let shown = path.display().to_string();
            let Ok(bytes) = read(path, &shown) else {
                return EXIT_BAD_INPUT;
            };
            Some((bytes, shown))
        }
    };
    let final_state = final_state
        .as_ref()
        .map(|(bytes, shown)| (bytes.as_slice(), shown.as_str()));
    let findings = match check_bytes_with(&history, &shown, final_state, check) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
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
        for (kind, keys) in findings.unknown_json() {
            println!(
                "  {kind:<18} {}; see --linearizability-budget",
                crate::report::unknown_line(&keys)
            );
        }
    }
    if findings.counts.values().any(|&c| c > 0) {
        EXIT_FOUND
    } else {
        EXIT_OK
    }
}

/// `repsim export`: reads a history in any shape and writes it in Jepsen's. Nothing is
/// written when the history is bad.
fn export_command(history_path: &Path, edn: bool, out: Option<&Path>) -> u8 {
    let shown = history_path.display().to_string();
    let bytes = match std::fs::read(history_path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {shown}: cannot read: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let history = match read_history(&bytes, &shown, false) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let mut text = Vec::with_capacity(history.events.len() * 100);
    history
        .write_jepsen(&mut text, edn)
        .expect("writing to memory cannot fail");
    let written = match out {
        Some(path) => std::fs::write(path, &text)
            .map_err(|e| format!("{}: cannot write: {e}", path.display())),
        None => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&text).and_then(|()| stdout.flush()) {
                // The reader went away (`repsim export ... | head`): stop quietly, as
                // `main` does for printed output.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map_err(|e| format!("standard output: {e}")),
            }
        }
    };
    match written {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_BAD_INPUT
        }
    }
}

/// Parses `I/N` (1-based) into a 0-based shard index and a shard count.
fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("--shard {text}: expected I/N, e.g. 2/8"))?;
    let (i, n): (u64, u64) = match (i.parse(), n.parse()) {
        (Ok(i), Ok(n)) => (i, n),
        _ => return Err(format!("--shard {text}: I and N must be whole numbers")),
    };
    if n == 0 || i == 0 || i > n {
        return Err(format!("--shard {text}: need 1 <= I <= N"));
    }
    Ok((i - 1, n))
}

fn sweep_command(args: &SweepArgs) -> u8 {
    let SweepArgs {
        file,
        seeds,
        from,
        jobs,
        shard,
        json,
        check_determinism,
    } = args;
    let (seeds, from, jobs, json, check_determinism) =
        (*seeds, *from, *jobs, *json, *check_determinism);
    let shard = shard.as_deref();
    let scenario = match scenario::load(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let shard = match shard.map(parse_shard).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    if jobs == Some(0) {
        eprintln!("error: --jobs 0: need at least one worker");
        return EXIT_BAD_INPUT;
    }
    let range = sweep::SeedRange {
        from: from.unwrap_or(scenario.seed),
        count: seeds,
        shard,
    };
    let list = range.seeds();
    let jobs = default_jobs(jobs);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C would only find the handler set already; ignore that error.
        let _ = ctrlc::set_handler(move || stop.store(true, std::sync::atomic::Ordering::SeqCst));
    }
    let bar = indicatif::ProgressBar::new(list.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} seeds  {per_sec}  ETA {eta}  {msg}",
        )
        .expect("the template is valid"),
    );
    let progress = sweep::Progress::new(bar);
    let summaries = sweep::run_seeds(&scenario, &list, jobs, check_determinism, &stop, &|s| {
        progress.seed_done(s)
    });
    progress.finish();
    let interrupted = summaries.len() < list.len();
    if interrupted {
        eprintln!(
            "interrupted: {} of {} seeds done",
            summaries.len(),
            list.len()
        );
    }
    let shown = file.display().to_string();
    let code = if shard.is_some() {
        let partial = sweep::Partial {
            format: "repsim-sweep-partial".to_owned(),
            scenario: scenario.name.clone(),
            file: shown,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            from: range.from,
            count: range.count,
            expect: scenario.expect.clone(),
            seeds: summaries,
        };
        println!(
            "{}",
            serde_json::to_string(&partial).expect("a partial serializes")
        );
        EXIT_OK
    } else {
        let aggregate = sweep::aggregate(
            &scenario.name,
            &shown,
            (range.from, range.count),
            &scenario.expect,
            &summaries,
        );
        print_aggregate(&aggregate, json)
    };
    if interrupted && code != EXIT_INTERNAL {
        EXIT_INTERRUPTED
    } else {
        code
    }
}

fn print_aggregate(aggregate: &sweep::Aggregate, json: bool) -> u8 {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(aggregate).expect("an aggregate serializes")
        );
    } else {
        print!("{}", aggregate.summary());
    }
    if !aggregate.panics.is_empty() || !aggregate.nondeterministic.is_empty() {
        eprintln!(
            "error: {} seeds panicked and {} were not deterministic (see above)",
            aggregate.panics.len(),
            aggregate.nondeterministic.len()
        );
        EXIT_INTERNAL
    } else if aggregate.expect_met {
        EXIT_OK
    } else {
        EXIT_FOUND
    }
}

fn merge_command(parts: &[PathBuf], json: bool) -> u8 {
    let mut partials = Vec::new();
    for part in parts {
        let shown = part.display();
        let text = match std::fs::read_to_string(part) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {shown}: cannot read: {e}");
                return EXIT_BAD_INPUT;
            }
        };
        match serde_json::from_str::<sweep::Partial>(&text) {
            Ok(p) if p.format == "repsim-sweep-partial" => partials.push(p),
            Ok(p) => {
                eprintln!(
                    "error: {shown}: $.format: expected \"repsim-sweep-partial\", got {:?}",
                    p.format
                );
                return EXIT_BAD_INPUT;
            }
            Err(e) => {
                eprintln!("error: {shown}: not a sweep partial result: {e}");
                return EXIT_BAD_INPUT;
            }
        }
    }
    let first = &partials[0];
    for (p, path) in partials.iter().zip(parts) {
        if (p.scenario.as_str(), p.from, p.count, p.version.as_str())
            != (
                first.scenario.as_str(),
                first.from,
                first.count,
                first.version.as_str(),
            )
        {
            eprintln!(
                "error: {}: from another sweep ({} seeds {}+{} v{}, expected {} seeds {}+{} v{})",
                path.display(),
                p.scenario,
                p.from,
                p.count,
                p.version,
                first.scenario,
                first.from,
                first.count,
                first.version
            );
            return EXIT_BAD_INPUT;
        }
    }
    let mut seeds: Vec<sweep::SeedSummary> = partials
        .iter()
        .flat_map(|p| p.seeds.iter().cloned())
        .collect();
    seeds.sort_by_key(|s| s.seed.wrapping_sub(first.from));
    let before = seeds.len();
    seeds.dedup_by_key(|s| s.seed);
    if seeds.len() != before {
        eprintln!("error: the parts overlap: some seeds appear twice");
        return EXIT_BAD_INPUT;
    }
    if (seeds.len() as u64) < first.count {
        eprintln!(
            "warning: {} of {} seeds present; merging what there is",
            seeds.len(),
            first.count
        );
    }
    let aggregate = sweep::aggregate(
        &first.scenario,
        &first.file,
        (first.from, first.count),
        &first.expect,
        &seeds,
    );
    print_aggregate(&aggregate, json)
}

fn default_jobs(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn compare_command(
    files: &[PathBuf],
    seeds: u64,
    out: &Path,
    jobs: Option<usize>,
    png: bool,
) -> u8 {
    let Some(scenarios) = load_all(files) else {
        return EXIT_BAD_INPUT;
    };
    if seeds == 0 || jobs == Some(0) {
        eprintln!("error: --seeds and --jobs must be at least 1");
        return EXIT_BAD_INPUT;
    }
    let swept = compare::sweep_all(scenarios, seeds, default_jobs(jobs));
    for s in &swept {
        for failure in &s.aggregate.panics {
            eprintln!("error: {}", failure.message);
        }
    }
    print!("{}", compare::summary(&swept));
    match compare::draw(&swept, out, png) {
        Ok(files) => {
            for file in files {
                println!("wrote {}", file.display());
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_BAD_INPUT
        }
    }
}

fn shrink_command(file: &Path, seed: u64, anomaly: &str, out: Option<&Path>) -> u8 {
    let Some(kind) = repsim_anomaly::Kind::from_name(anomaly) else {
        let names: Vec<&str> = repsim_anomaly::Kind::ALL.iter().map(|k| k.name()).collect();
        eprintln!(
            "error: --anomaly {anomaly}: unknown kind; expected one of {}",
            names.join(", ")
        );
        return EXIT_BAD_INPUT;
    };
    let out = out.map_or_else(
        || {
            let stem = file
                .file_stem()
                .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
            file.with_file_name(format!("{stem}.shrunk.json"))
        },
        Path::to_path_buf,
    );
    let shrunk = match shrink::shrink(file, seed, kind) {
        Ok(s) => s,
        Err(shrink::ShrinkError::NotReproduced { file, seed, kind }) => {
            eprintln!("error: {file} at seed {seed} shows no {kind}; nothing to shrink");
            return EXIT_FOUND;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    if let Err(e) = std::fs::write(&out, &shrunk.text) {
        eprintln!("error: {}: cannot write: {e}", out.display());
        return EXIT_BAD_INPUT;
    }
    for line in &shrunk.removed {
        println!("{line}");
    }
    println!("{} runs tried", shrunk.runs);
    println!(
        "wrote {}: {} {} at seed {seed}",
        out.display(),
        shrunk.count,
        kind.name()
    );
    println!("reproduce: repsim run {} --seed {seed}", out.display());
    EXIT_OK
}

fn validate_command(files: &[PathBuf]) -> u8 {
    let mut code = EXIT_OK;
    for file in files {
        match scenario::load(file) {
            Ok(s) => {
                println!(
                    "{}: ok: {} ({}, {} nodes, {} ms, {} faults)",
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
