//! End-to-end speed benchmark (issue: scenario runner): a `single-node` scenario of about
//! 1,000,000 client operations, timed phase by phase: simulate (and record the history),
//! check every anomaly kind, build and write the report, history and final state.
//!
//! Prints client operations per second end to end, checking alone, and the history's
//! memory per operation. Targets: >= 500 k ops/s end to end on one core, >= 1 M ops/s
//! checking, <= 100 bytes of history per operation.
//!
//! Run: `cargo bench -p repsim-runner --bench ops`.
#![allow(clippy::disallowed_methods)] // A benchmark measures wall time.

use std::time::Instant;

use repsim_history::Event;
use repsim_runner::{report, run, scenario};

const SCENARIO: &str = r#"{
  "name": "bench-single-node-1m",
  "seed": 1,
  "nodes": 1,
  "duration_ms": 50000,
  "protocol": { "kind": "single-node" },
  "network": { "latency": { "dist": "exponential", "mean_ms": 0.1 } },
  "clients": { "count": 10, "keys": 100, "read_fraction": 0.5,
               "think_ms": { "dist": "exponential", "mean_ms": 0.3 }, "timeout_ms": 100 }
}"#;

fn main() {
    let scenario = scenario::parse(SCENARIO, "bench.json").expect("the bench scenario is valid");
    let out = std::env::temp_dir().join("repsim-bench-ops");

    let started = Instant::now();
    let (faults, output) = run::simulate(&scenario, scenario.seed, None).expect("single-node runs");
    let simulated = started.elapsed();

    let ops = output.history.events.len() as u64 / 2;
    let history_bytes = output.history.events.capacity() * std::mem::size_of::<Event>()
        + output.history.siblings.capacity() * 4;

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

    let anomalies: u64 = report.anomalies.values().sum();
    println!(
        "ops benchmark: single-node, {ops} client operations, {} events, anomalies {anomalies}",
        report.sim.events
    );
    println!(
        "simulate + record:        {:>7.3} s  {:>10.0} ops/s",
        simulated.as_secs_f64(),
        ops as f64 / simulated.as_secs_f64()
    );
    println!(
        "check (all kinds):        {:>7.3} s  {:>10.0} ops/s   (target >= 1,000,000)",
        checked.as_secs_f64(),
        ops as f64 / checked.as_secs_f64()
    );
    println!(
        "report + write files:     {:>7.3} s",
        reported.as_secs_f64()
    );
    println!(
        "end to end:               {:>7.3} s  {:>10.0} ops/s   (target >= 500,000)",
        total.as_secs_f64(),
        ops as f64 / total.as_secs_f64()
    );
    println!(
        "history memory:           {:>7.1} bytes/op (target <= 100)",
        history_bytes as f64 / ops as f64
    );
    let _ = std::fs::remove_dir_all(&out);
}
