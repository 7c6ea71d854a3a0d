//! End-to-end speed benchmark of the leaderless protocol (issue 6): an n = 3, w = 2,
//! r = 2 scenario on five nodes with about 1,000,000 client operations, timed phase by
//! phase: simulate (and record the history), check every anomaly kind (the staleness
//! curve is computed there), build the report and write the report, history and final
//! state.
//!
//! Prints client operations per second end to end (target: >= 300,000 on one core) and
//! per phase, with the messages and events the run took: the median of 3 runs
//! (`REPSIM_BENCH_RUNS` changes it), each run's figure printed too.
//!
//! Run: `cargo bench -p repsim-runner --bench leaderless`.
#![allow(clippy::disallowed_methods)] // A benchmark measures wall time.

use std::time::Instant;

use repsim_runner::{report, run, scenario};

const SCENARIO: &str = r#"{
  "name": "bench-leaderless-1m",
  "seed": 1,
  "nodes": 5,
  "duration_ms": 65000,
  "protocol": { "kind": "leaderless", "n": 3, "w": 2, "r": 2 },
  "network": { "latency": { "dist": "exponential", "mean_ms": 0.1 } },
  "clients": { "count": 10, "keys": 100, "read_fraction": 0.5,
               "think_ms": { "dist": "exponential", "mean_ms": 0.3 }, "timeout_ms": 100 }
}"#;

/// One timed run: (simulate, check, report + write, end to end) in seconds, with the
/// run's figures for the header.
fn once(scenario: &scenario::Scenario, out: &std::path::Path) -> ([f64; 4], u64, String) {
    let started = Instant::now();
    let (faults, output) = run::simulate(scenario, scenario.seed, None).expect("leaderless runs");
    let simulated = started.elapsed();
    let ops = output.history.events.len() as u64 / 2;

    let check_started = Instant::now();
    let findings = repsim_anomaly::check(
        &repsim_anomaly::Input {
            history: &output.history,
            final_state: Some(&output.final_state),
            roles: Some(&output.roles),
        },
        &repsim_anomaly::Options {
            max_examples: run::MAX_EXAMPLES,
        },
    )
    .expect("the simulated history is well formed");
    let checked = check_started.elapsed();

    let report_started = Instant::now();
    let result = run::RunResult {
        seed: scenario.seed,
        faults,
        output,
        findings,
    };
    let report = report::build(scenario, &result);
    report::write_outputs(out, &result, &report).expect("the temp dir is writable");
    let reported = report_started.elapsed();
    let total = started.elapsed();

    let anomalies: u64 = report.anomalies.values().sum();
    let header = format!(
        "{ops} client operations, {} events, {} messages, outcome {}, anomalies {anomalies}, \
         {} reads on the staleness curve",
        report.sim.events, report.messages.sent, report.outcome, report.staleness.reads
    );
    let seconds = [simulated, checked, reported, total].map(|d| d.as_secs_f64());
    (seconds, ops, header)
}

fn main() {
    let scenario = scenario::parse(SCENARIO, "bench.json").expect("the bench scenario is valid");
    let out = std::env::temp_dir().join("repsim-bench-leaderless");
    // The machine's speed drifts by a quarter from one run to the next: the figures are
    // the median of several runs, each of which is printed.
    let runs: usize = std::env::var("REPSIM_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let mut phases: [Vec<f64>; 4] = Default::default();
    let mut ops = 0;
    for i in 0..runs {
        let (seconds, run_ops, header) = once(&scenario, &out);
        if i == 0 {
            println!("leaderless benchmark: n=3 w=2 r=2 on 5 nodes, {header}");
        }
        ops = run_ops;
        println!(
            "run {}: end to end {:.3} s, {:.0} ops/s",
            i + 1,
            seconds[3],
            ops as f64 / seconds[3]
        );
        for (phase, s) in phases.iter_mut().zip(seconds) {
            phase.push(s);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [simulated, checked, reported, total] = phases.each_mut().map(median);
    println!("median of {runs} runs:");
    println!(
        "simulate + record:        {simulated:>7.3} s  {:>10.0} ops/s",
        ops as f64 / simulated
    );
    println!(
        "check + staleness curve:  {checked:>7.3} s  {:>10.0} ops/s",
        ops as f64 / checked
    );
    println!("report + write files:     {reported:>7.3} s");
    println!(
        "end to end:               {total:>7.3} s  {:>10.0} ops/s   (target >= 300,000)",
        ops as f64 / total
    );
    let _ = std::fs::remove_dir_all(&out);
}
