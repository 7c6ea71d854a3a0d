//! Every scenario file under `scenarios/` runs in the test suite: at its own seed its
//! report must match the committed golden report byte for byte, two runs must give the
//! same bytes, and its `expect` block must hold at its seed; over several other seeds its
//! upper bounds must always hold and its lower bounds at least once.
//!
//! To accept a deliberate change of the goldens, run
//! `REPSIM_UPDATE_GOLDEN=1 cargo test -p repsim-runner --test scenarios_run` and review
//! the diff of `crates/runner/tests/golden/` before committing it.

use std::path::{Path, PathBuf};

use repsim_runner::{report, run, scenario};

/// Seeds, besides the file's own, at which every `expect` block must also hold.
const EXTRA_SEEDS: std::ops::RangeInclusive<u64> = 100..=109;

fn scenario_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no scenario files found");
    files
}

fn report_text(scenario: &scenario::Scenario, seed: u64) -> (String, String, bool) {
    let result = run::run(scenario, seed, None).unwrap();
    let report = report::build(scenario, &result);
    let mut history = Vec::new();
    result.output.history.write_jsonl(&mut history).unwrap();
    (
        report.to_json(),
        String::from_utf8(history).unwrap(),
        report.expect_met,
    )
}

/// Loads with the path relative to the repository root, as a user would type it, so the
/// `reproduce` command in the goldens does not depend on where the checkout lives.
fn load(file: &Path) -> scenario::Scenario {
    let mut scenario = scenario::load(file).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let relative = file.strip_prefix(&root).unwrap_or(file);
    scenario.file = relative.display().to_string();
    scenario
}

#[test]
fn every_scenario_matches_its_golden_report_and_is_deterministic() {
    let update = std::env::var_os("REPSIM_UPDATE_GOLDEN").is_some();
    let golden_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut mismatched = Vec::new();
    for file in scenario_files() {
        let scenario = load(&file);
        let (report, history, met) = report_text(&scenario, scenario.seed);
        let (again, history_again, _) = report_text(&scenario, scenario.seed);
        assert_eq!(
            report,
            again,
            "{}: report differs between two runs",
            file.display()
        );
        assert_eq!(
            history,
            history_again,
            "{}: history differs between two runs",
            file.display()
        );
        assert!(
            met,
            "{}: expect block not met at seed {}:\n{report}",
            file.display(),
            scenario.seed
        );
        let golden = golden_dir.join(format!("{}.report.json", scenario.name));
        if update {
            std::fs::write(&golden, &report).unwrap();
        } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(report.as_str()) {
            mismatched.push(golden.display().to_string());
        }
    }
    assert!(
        mismatched.is_empty(),
        "reports differ from the goldens (rerun with REPSIM_UPDATE_GOLDEN=1 and review): {mismatched:?}"
    );
}

/// Over the extra seeds, an upper bound (`max`) must hold in every seed: it states what a
/// design guarantees. A lower bound (`min`) must hold in at least one seed: it states
/// that a fault *can* cause an anomaly, which it need not do in every run (an async
/// failover loses writes only if some were acknowledged and not yet shipped).
#[test]
fn every_expect_block_holds_over_several_seeds() {
    let mut failures = Vec::new();
    for file in scenario_files() {
        let scenario = load(&file);
        let mut min_met = vec![false; scenario.expect.len()];
        for seed in EXTRA_SEEDS {
            let result = run::run(&scenario, seed, None).unwrap();
            for (i, e) in report::evaluate_expect(&scenario, &result)
                .iter()
                .enumerate()
            {
                let actual = e
                    .actual
                    .unwrap_or_else(|| panic!("{}: {} not checked", file.display(), e.kind));
                if e.max.is_some_and(|max| actual > max) {
                    failures.push(format!(
                        "{} seed {seed}: {} = {actual} > {:?}",
                        file.display(),
                        e.kind,
                        e.max
                    ));
                }
                min_met[i] |= e.min.is_none_or(|min| actual >= min);
            }
        }
        for (e, met) in scenario.expect.iter().zip(min_met) {
            if !met {
                failures.push(format!(
                    "{}: {} never reached {:?} in seeds {EXTRA_SEEDS:?}",
                    file.display(),
                    e.kind,
                    e.min
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "expectations failed:\n{}",
        failures.join("\n")
    );
}

/// The control protocol under a heavy random nemesis, over many seeds and client
/// settings: any anomaly other than unavailability is a checker or simulator bug. That
/// includes `linearizability`: a single node is a linearizable store, and every key must
/// be decided (none left unknown).
#[test]
fn single_node_shows_no_anomaly_under_any_fault_schedule() {
    let mut flagged = Vec::new();
    for (i, reads_from) in ["any", "sticky", "leader"].iter().enumerate() {
        let text = format!(
            r#"{{
              "name": "control-{i}", "nodes": 1, "duration_ms": 3000,
              "protocol": {{ "kind": "single-node" }},
              "network": {{ "latency": {{ "dist": "exponential", "mean_ms": 3 }} }},
              "clients": {{ "count": 12, "keys": 3, "read_fraction": 0.5, "timeout_ms": 20,
                           "think_ms": {{ "dist": "uniform", "min_ms": 0, "max_ms": 6 }},
                           "reads_from": "{reads_from}", "nondeterministic_fraction": 0.5 }},
              "faults": [ {{ "at_ms": 0, "until_ms": 3000, "random": {{
                  "kinds": ["crash", "lag", "clock_skew", "isolate"],
                  "mean_interval_ms": 150, "max_fault_ms": 200 }} }} ]
            }}"#
        );
        let scenario = scenario::parse(&text, "control.json").unwrap();
        for seed in 0..60 {
            let result = run::run(&scenario, seed, None).unwrap();
            let unavailable = result.findings.count(repsim_anomaly::Kind::Unavailable);
            assert!(unavailable > 0, "the nemesis never bit at seed {seed}");
            assert!(
                result
                    .findings
                    .counts
                    .contains_key(&repsim_anomaly::Kind::Linearizability),
                "linearizability was not checked at seed {seed}"
            );
            if !result.findings.unknown_keys.is_empty() {
                flagged.push(format!(
                    "{reads_from} seed {seed}: linearizability undecided for {:?}",
                    result.findings.unknown_keys
                ));
            }
            for (kind, &count) in &result.findings.counts {
                if *kind != repsim_anomaly::Kind::Unavailable && count > 0 {
                    flagged.push(format!("{reads_from} seed {seed}: {count} {}", kind.name()));
                }
            }
        }
    }
    assert!(
        flagged.is_empty(),
        "false positives on the control protocol: {flagged:?}"
    );
}

/// Reads from lagging followers are not linearizable: over the follower-reads scenario's
/// seeds, keys are flagged, each with a witness that names the read that cannot be
/// placed, and none is left undecided.
#[test]
fn single_leader_follower_reads_are_not_linearizable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scenario = load(&root.join("scenarios/single-leader/follower-reads-are-stale.json"));
    let kind = repsim_anomaly::Kind::Linearizability;
    for seed in std::iter::once(scenario.seed).chain(EXTRA_SEEDS) {
        let result = run::run(&scenario, seed, None).unwrap();
        assert!(
            result.findings.count(kind) > 0,
            "seed {seed}: no key flagged"
        );
        assert!(result.findings.unknown_keys.is_empty(), "seed {seed}");
        let flag = &result.findings.examples[&kind][0];
        assert!(
            flag.message.contains("is not linearizable") && !flag.involved.is_empty(),
            "seed {seed}: {}",
            flag.message
        );
    }
}
