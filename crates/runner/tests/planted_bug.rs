//! A planted bug must be caught: a 200-seed sweep of an existing scenario run with a
//! protocol variant that has a known bug reports the anomaly and the seeds that show it,
//! while the correct protocol shows none on the same seeds.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use repsim_runner::{scenario, sweep};

const SEEDS: u64 = 200;

/// Sweeps `file` (a shipped scenario), as is and with `debug.planted_bug`, over the same
/// seeds; returns the two aggregates.
fn sweep_both(file: &str, bug: &str) -> (sweep::Aggregate, sweep::Aggregate) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["debug"] = serde_json::json!({ "planted_bug": bug });
    let correct = scenario::parse(&text, file).unwrap();
    let buggy = scenario::parse(&value.to_string(), file).unwrap();
    let seeds: Vec<u64> = (1..=SEEDS).collect();
    let never = AtomicBool::new(false);
    let run = |s: &scenario::Scenario| {
        let summaries = sweep::run_seeds(s, &seeds, 2, false, &never, &|_| {});
        sweep::aggregate(&s.name, file, (1, SEEDS), &s.expect, &summaries)
    };
    (run(&correct), run(&buggy))
}

fn assert_caught(correct: &sweep::Aggregate, buggy: &sweep::Aggregate, kind: &str) {
    assert_eq!(correct.seeds.done, SEEDS);
    assert_eq!(
        correct.anomalies[kind].seeds_affected, 0,
        "the correct protocol shows {kind}"
    );
    assert!(correct.panics.is_empty() && buggy.panics.is_empty());
    let caught = &buggy.anomalies[kind];
    assert!(caught.seeds_affected > 0, "the planted bug went unnoticed");
    let first = &caught.examples[0];
    assert!(
        first.reproduce.ends_with(&format!("--seed {}", first.seed)),
        "{first:?}"
    );
    // The sweep's expect verdict flags it too: the scenario's upper bound broke.
    assert!(correct.expect_met);
    assert!(!buggy.expect_met);
}

#[test]
fn a_leaderless_read_that_accepts_r_minus_1_answers_is_caught() {
    let (correct, buggy) = sweep_both(
        "leaderless/quorum-no-stale-reads.json",
        "leaderless-read-quorum-minus-one",
    );
    assert_caught(&correct, &buggy, "stale_read");
}

#[test]
fn a_fenced_leader_that_ignores_its_lease_is_caught() {
    let (correct, buggy) = sweep_both(
        "single-leader/fencing-prevents-split-brain.json",
        "single-leader-ignore-lease",
    );
    assert_caught(&correct, &buggy, "split_brain");
}

#[test]
fn planted_bugs_must_match_the_protocol() {
    let text = r#"{"name": "x", "nodes": 3, "duration_ms": 100, "protocol": {"kind": "leaderless"},
                   "debug": {"planted_bug": "single-leader-ignore-lease"}}"#;
    let err = scenario::parse(text, "x.json").unwrap_err().to_string();
    assert_eq!(
        err,
        "x.json: $.debug.planted_bug: single-leader-ignore-lease applies to single-leader, not leaderless"
    );
    let text = text.replace("single-leader-ignore-lease", "nope");
    let err = scenario::parse(&text, "x.json").unwrap_err().to_string();
    assert!(
        err.contains("unknown planted bug \"nope\"; expected one of"),
        "{err}"
    );
}
