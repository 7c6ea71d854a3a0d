//! End-to-end speed benchmark of the leaderless protocol (issue 6): an n = 3, w = 2,
//! r = 2 scenario on five nodes with about 1,000,000 client operations, timed phase by
//! phase: simulate (and record the history), check every anomaly kind, build the report
//! (staleness curve included) and write the report, history and final state.
//!
//! Prints client operations per second end to end (target: >= 300,000 on one core) and
//! per phase, with the messages and events the run took.
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

fn main() {
    let scenario = scenario::parse(SCENARIO, "bench.json").expect("the bench scenario is valid");
    let out = std::env::temp_dir().join("repsim-bench-leaderless");

    let started = Instant::now();
    let (faults, output) = run::simulate(&scenario, scenario.seed, None).expect("leaderless runs");
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
    let report = report::build(&scenario, &result);
    report::write_outputs(&out, &result, &report).expect("the temp dir is writable");
    let reported = report_started.elapsed();
    let total = started.elapsed();

    // The staleness curve alone (already computed once inside the report).
    let curve_started = Instant::now();
    let curve = repsim_anomaly::staleness::curve(&result.output.history);
    let curved = curve_started.elapsed();

    let anomalies: u64 = report.anomalies.values().sum();
    println!(
        "leaderless benchmark: n=3 w=2 r=2 on 5 nodes, {ops} client operations, {} events, \
         {} messages, outcome {}, anomalies {anomalies}",
        report.sim.events, report.messages.sent, report.outcome
    );
    println!(
        "simulate + record:        {:>7.3} s  {:>10.0} ops/s",
        simulated.as_secs_f64(),
        ops as f64 / simulated.as_secs_f64()
    );
    println!(
        "check (all kinds):        {:>7.3} s  {:>10.0} ops/s",
        checked.as_secs_f64(),
        ops as f64 / checked.as_secs_f64()
    );
    println!(
        "report + write files:     {:>7.3} s",
        reported.as_secs_f64()
    );
    println!(
        "  of which staleness:     {:>7.3} s  ({} reads placed)",
        curved.as_secs_f64(),
        curve.reads
    );
    println!(
        "end to end:               {:>7.3} s  {:>10.0} ops/s   (target >= 300,000)",
        total.as_secs_f64(),
        ops as f64 / total.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&out);
}
