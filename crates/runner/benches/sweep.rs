//! Sweep speed benchmark (issue: sweeps): seeds per second of a sweep with `--jobs 1` and
//! `--jobs 2`, against the cost of simulating and checking the same seeds one after
//! another with nothing else (the floor a sweep can reach).
//!
//! Targets: a sweep costs no more per seed than simulation plus checking, and `--jobs 2`
//! gives at least 1.8x the seeds per second of `--jobs 1` on a 2-core machine.
//!
//! Run: `cargo bench -p repsim-runner --bench sweep` (`REPSIM_BENCH_SEEDS` changes the 400
//! seeds).
#![allow(clippy::disallowed_methods)] // A benchmark measures wall time.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use repsim_runner::{run, scenario, sweep};

fn main() {
    let seeds: u64 = std::env::var("REPSIM_BENCH_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/single-leader/async-failover-loses-writes.json");
    let scenario = scenario::load(&path).expect("the scenario is valid");
    let list: Vec<u64> = (1..=seeds).collect();
    println!(
        "sweep benchmark: {} over {seeds} seeds, {} cores",
        scenario.name,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Warm-up.
    for &seed in &list[..list.len().min(20)] {
        run::run(&scenario, seed, None).unwrap();
    }

    let started = Instant::now();
    for &seed in &list {
        std::hint::black_box(run::run(&scenario, seed, None).unwrap());
    }
    let floor = seeds as f64 / started.elapsed().as_secs_f64();

    // The same, plus the per-seed analysis a sweep aggregates (staleness curve, liveness,
    // latency histograms, fault coverage): what a sweep costs beyond that is its overhead.
    let started = Instant::now();
    for &seed in &list {
        let result = run::run(&scenario, seed, None).unwrap();
        std::hint::black_box(sweep::summarize(&scenario, &result));
    }
    let analysed = seeds as f64 / started.elapsed().as_secs_f64();

    let never = AtomicBool::new(false);
    let mut rates = Vec::new();
    for jobs in [1, 2] {
        let started = Instant::now();
        let summaries = sweep::run_seeds(&scenario, &list, jobs, false, &never, &|_| {});
        let _ = sweep::aggregate(
            &scenario.name,
            "x.json",
            (1, seeds),
            &scenario.expect,
            &summaries,
        );
        rates.push(seeds as f64 / started.elapsed().as_secs_f64());
    }
    println!("simulate + check only:  {floor:>8.1} seeds/s");
    println!("  + per-seed summary:    {analysed:>8.1} seeds/s");
    println!(
        "sweep --jobs 1:         {:>8.1} seeds/s  ({:.2}x the floor's cost per seed; target <= 1.05; {:.2}x simulate + check + summary)",
        rates[0],
        floor / rates[0],
        analysed / rates[0]
    );
    println!(
        "sweep --jobs 2:         {:>8.1} seeds/s  ({:.2}x --jobs 1; target >= 1.8 on 2 cores)",
        rates[1],
        rates[1] / rates[0]
    );
}
