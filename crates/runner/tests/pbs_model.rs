//! The leaderless staleness curve held against an independent model: the WARS model of
//! Bailis et al., "Probabilistically Bounded Staleness for Practical Partial Quorums"
//! (VLDB 2012), which predicts from message-delay distributions alone how likely a read
//! started t ms after a write's commit is to see it, and which they validated against
//! Cassandra.
//!
//! `scenarios/leaderless/pbs-wars-model.json` sets up the model's assumptions: n = 3
//! replicas on 3 nodes, independent exponential delays for every replica message, a
//! client with no delay to the coordinators (so the history's times are the
//! coordinators'), one client on one key (no concurrent writes), and no read repair or
//! anti-entropy. The coordinator is a replica, as in Dynamo and Cassandra: its own copy
//! is written and read at once.
//!
//! For each read in the history the model's probability at that read's `t` is estimated
//! by Monte Carlo; per bin of the report's staleness curve, the reads it counts as
//! consistent must be within 4.5 standard deviations of the model's expectation. The
//! near misses: the model with a delay 1.5 times too long, or of a neighbouring quorum
//! configuration, must be refused, so the comparison can tell the protocol from a
//! slightly different one.

use std::path::Path;

use repsim_anomaly::staleness::BIN_EDGES_MS;
use repsim_history::{EventType, Function};
use repsim_runner::{run, scenario};
use repsim_sim::SimRng;
use serde_json::Value;

/// Replicas (and nodes) in the scenario.
const N: usize = 3;
/// Its mean replica message delay, ms.
const MEAN_MS: f64 = 2.0;
/// Model trials per read.
const TRIALS: u32 = 256;

/// A model: w, r and the mean replica message delay (ms).
type Model = (usize, usize, f64);

/// The scenario with `$.protocol.w` and `$.protocol.r` set.
fn scenario_with(w: usize, r: usize) -> scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/leaderless/pbs-wars-model.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["protocol"]["w"] = w.into();
    doc["protocol"]["r"] = r.into();
    doc.as_object_mut().unwrap().remove("expect");
    scenario::parse(&doc.to_string(), "pbs-wars-model.json").unwrap()
}

/// One trial of the WARS model with the coordinators as replicas: does a read started
/// `t` ms after the write's commit return it?
fn wars_trial(rng: &mut SimRng, w: usize, r: usize, mean: f64, t: f64) -> bool {
    let writer = rng.below(N as u64) as usize;
    let reader = rng.below(N as u64) as usize;
    let mut delay = || -mean * (1.0 - rng.unit()).ln();
    // W: when the write reaches each replica; A: when its ack is back.
    let (mut arrives, mut acked) = ([0.0; N], [0.0; N]);
    for i in (0..N).filter(|&i| i != writer) {
        arrives[i] = delay();
        acked[i] = arrives[i] + delay();
    }
    acked.sort_by(f64::total_cmp);
    let start = acked[w - 1] + t;
    // R and S: when each replica reads, and when its answer is back; an answer is
    // consistent if the write got to its replica first.
    let mut answers = [(0.0, false); N];
    for (j, answer) in answers.iter_mut().enumerate() {
        let (reads, back) = if j == reader {
            (start, start)
        } else {
            let reads = start + delay();
            (reads, reads + delay())
        };
        *answer = (back, arrives[j] <= reads);
    }
    answers.sort_by(|a, b| a.0.total_cmp(&b.0));
    answers[..r].iter().any(|&(_, consistent)| consistent)
}

/// Per bin of the staleness curve: (reads, model's expected consistent reads, its
/// variance), from the `t` of every read in the history.
fn predict(ts: &[f64], w: usize, r: usize, mean: f64, seed: u64) -> Vec<(u64, f64, f64)> {
    let mut rng = SimRng::stream(seed, "wars-model");
    let mut bins = vec![(0, 0.0, 0.0); BIN_EDGES_MS.len()];
    for &t in ts {
        let hits = (0..TRIALS)
            .filter(|_| wars_trial(&mut rng, w, r, mean, t))
            .count();
        let p = f64::from(hits as u32) / f64::from(TRIALS);
        let bin = BIN_EDGES_MS.partition_point(|&edge| edge <= t) - 1;
        bins[bin].0 += 1;
        bins[bin].1 += p;
        // The read's own variance, plus the estimate's.
        bins[bin].2 += p * (1.0 - p) * (1.0 + 1.0 / f64::from(TRIALS));
    }
    bins
}

/// The `t` of every ok read: its invoke time minus the `ok` time of the write
/// acknowledged last before it (one client, one key: the write before it).
fn read_ts(result: &run::RunResult) -> Vec<f64> {
    let mut last_write_ok = None;
    let mut ts = Vec::new();
    let mut invoked = 0.0;
    for event in &result.output.history.events {
        match (event.kind, event.f) {
            (EventType::Invoke, _) => invoked = event.time_ms,
            (EventType::Ok, Function::Write) => last_write_ok = Some(event.time_ms),
            (EventType::Ok, Function::Read) => {
                if let Some(ok) = last_write_ok {
                    ts.push(invoked - ok);
                }
            }
            _ => {}
        }
    }
    ts
}

/// The bins (with enough reads to judge) where the measured curve and the model's
/// prediction disagree by more than 4.5 standard deviations.
fn disagreements(
    curve: &repsim_anomaly::staleness::Curve,
    predicted: &[(u64, f64, f64)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (bin, &(reads, expected, variance)) in curve.bins.iter().zip(predicted) {
        assert_eq!(bin.reads, reads, "the test bins reads as the curve does");
        if reads < 50 {
            continue;
        }
        let measured = bin.consistent as f64;
        if (measured - expected).abs() > 4.5 * variance.sqrt() + 1.0 {
            out.push(format!(
                "[{}, {:?}) ms: measured {:.4}, model {:.4} ({reads} reads)",
                bin.from_ms,
                bin.to_ms,
                measured / reads as f64,
                expected / reads as f64
            ));
        }
    }
    out
}

#[test]
fn leaderless_staleness_curve_matches_the_wars_model_and_wrong_models_are_refused() {
    // Each configuration, with models that are close but wrong: a delay 1.5 times too
    // long, or a neighbouring quorum configuration. (Scaling every delay moves the curve
    // of w = 2 too little to tell with a few thousand reads: its commit waits for a
    // round trip that scales alike.)
    let cases: [((usize, usize), &[Model]); 3] = [
        ((1, 1), &[(1, 1, 1.5 * MEAN_MS), (2, 1, MEAN_MS)]),
        ((2, 1), &[(1, 1, MEAN_MS)]),
        ((1, 2), &[(1, 1, MEAN_MS)]),
    ];
    for ((w, r), wrong_models) in cases {
        let scenario = scenario_with(w, r);
        for seed in [1, 2] {
            let result = run::run(&scenario, seed, None).unwrap();
            let curve = &result.findings.staleness;
            assert!(curve.reads > 3_000, "w={w} r={r} seed {seed}: {curve:?}");
            // Partial quorums: some reads right after the write miss it.
            assert!(curve.consistent < curve.reads, "w={w} r={r} seed {seed}");
            let ts = read_ts(&result);

            let off = disagreements(curve, &predict(&ts, w, r, MEAN_MS, seed));
            assert!(
                off.is_empty(),
                "w={w} r={r} seed {seed}: the curve departs from the WARS model: {off:#?}\n{}",
                curve.summary()
            );
            for &(w2, r2, mean) in wrong_models {
                assert!(
                    !disagreements(curve, &predict(&ts, w2, r2, mean, seed)).is_empty(),
                    "w={w} r={r} seed {seed}: the model of w={w2} r={r2} with mean delay \
                     {mean} ms fits too: {}",
                    curve.summary()
                );
            }
        }
    }
}
