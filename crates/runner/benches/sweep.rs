//! Sweep speed benchmark (issue: sweeps): seeds per second of a sweep with `--jobs 1` and
//! `--jobs 2`, against the cost of simulating and checking the same seeds one after
//! another with nothing else (the floor a sweep can reach).
//!
//! Targets: a sweep costs no more per seed than simulation plus checking, and `--jobs 2`
//! gives at least 1.8x the seeds per second of `--jobs 1` on a 2-core machine.
//!
//! Run: `cargo bench -p repsim-runner --bench sweep` (`REPSIM_BENCH_SEEDS` changes the 400
//! seeds, `REPSIM_BENCH_ROUNDS` the 5 rounds).
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

    // The machine's speed drifts (other tenants, frequency) by more than the differences
    // measured here. So the seeds are measured in chunks, and in each chunk the two
    // things compared run in the order A B B A, which cancels a steady drift; a ratio is
    // the median over chunks and rounds of those per-chunk ratios. `--jobs 2` is held
    // against `--jobs 1` over all the seeds at once, as a sweep runs them.
    let rounds: usize = std::env::var("REPSIM_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let never = AtomicBool::new(false);
    let floor = |chunk: &[u64]| {
        for &seed in chunk {
            std::hint::black_box(run::run(&scenario, seed, None).unwrap());
        }
    };
    // The same, plus the per-seed analysis a sweep aggregates (liveness, latency
    // histograms, fault coverage): what a sweep costs beyond that is its overhead.
    let analysed = |chunk: &[u64]| {
        for &seed in chunk {
            let result = run::run(&scenario, seed, None).unwrap();
            std::hint::black_box(sweep::summarize(&scenario, &result));
        }
    };
    let sweep_with = |jobs: usize| {
        let never = &never;
        let scenario = &scenario;
        move |chunk: &[u64]| {
            // The progress the command line shows, drawn nowhere.
            let progress = sweep::Progress::new(indicatif::ProgressBar::hidden());
            let summaries = sweep::run_seeds(scenario, chunk, jobs, false, never, &|s| {
                progress.seed_done(s)
            });
            std::hint::black_box(sweep::aggregate(
                &scenario.name,
                "x.json",
                (chunk[0], chunk.len() as u64),
                &scenario.expect,
                &summaries,
            ));
        }
    };
    let (jobs1, jobs2) = (sweep_with(1), sweep_with(2));
    let time = |f: &dyn Fn(&[u64]), chunk: &[u64]| {
        let started = Instant::now();
        f(chunk);
        started.elapsed().as_secs_f64()
    };
    // (total time of A, total time of B, per-chunk B/A ratios) for A B B A over chunks.
    let compare = |a: &dyn Fn(&[u64]), b: &dyn Fn(&[u64]), chunk_size: usize| {
        let (mut total_a, mut total_b, mut ratios) = (0.0, 0.0, Vec::new());
        for _ in 0..rounds {
            for chunk in list.chunks(chunk_size) {
                let ta = time(a, chunk);
                let tb = time(b, chunk) + time(b, chunk);
                let ta = ta + time(a, chunk);
                total_a += ta;
                total_b += tb;
                ratios.push(tb / ta);
            }
        }
        ratios.sort_by(f64::total_cmp);
        (total_a, total_b, ratios[ratios.len() / 2])
    };
    let rate = |total: f64| (2 * rounds) as f64 * seeds as f64 / total;
    let (floor_time, sweep_time, sweep_ratio) = compare(&floor, &jobs1, 50);
    let (_, analysed_time, analysed_ratio) = compare(&floor, &analysed, 50);
    // What the sweep adds beyond the per-seed work itself: threads, progress, aggregate.
    let (_, _, machinery_ratio) = compare(&analysed, &jobs1, 50);
    let (one_time, two_time, two_ratio) = compare(&jobs1, &jobs2, list.len());
    println!(
        "{rounds} rounds of A B B A over chunks of 50 seeds (--jobs: all {seeds}); ratios are medians"
    );
    println!("simulate + check only:  {:>8.1} seeds/s", rate(floor_time));
    println!(
        "  + per-seed summary:    {:>8.1} seeds/s  ({analysed_ratio:.3}x simulate + check)",
        rate(analysed_time)
    );
    println!(
        "sweep --jobs 1:         {:>8.1} seeds/s  ({sweep_ratio:.3}x the cost per seed of simulate + check; target <= 1.05)",
        rate(sweep_time)
    );
    println!(
        "  sweep machinery:                         ({machinery_ratio:.3}x simulate + check + per-seed summary)"
    );
    println!(
        "sweep --jobs 2:         {:>8.1} seeds/s  ({:.2}x --jobs 1; target >= 1.8 on 2 cores)",
        rate(two_time),
        1.0 / two_ratio
    );
    // The rates above each come from their own pairing; these two were measured side by
    // side, and their ratio of totals is the figure without the median.
    println!(
        "  side by side: --jobs 1 {:.1} seeds/s, --jobs 2 {:.1} seeds/s ({:.2}x over all rounds)",
        rate(one_time),
        rate(two_time),
        one_time / two_time
    );
}
