//! Every run ends and every failure is reported: deliberate panics are caught per seed
//! (a sweep goes on), budgets end runs with a reported outcome, and the determinism
//! self-check passes on every shipped scenario.

use std::path::Path;
use std::process::Command;

use repsim_runner::{run, scenario};
use repsim_sim::RunOutcome;

fn repsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_repsim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

const PANICKY: &str = r#"{
  "name": "panicky", "nodes": 3, "duration_ms": 500,
  "protocol": { "kind": "single-leader", "failover": { "heartbeat_ms": 50, "timeout_ms": 300 } },
  "debug": { "panic_at_event": 400, "panic_every_nth_seed": 3 }
}"#;

fn write_temp(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("repsim-robust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_panicking_seed_is_reported_and_the_sweep_goes_on() {
    let file = write_temp("panicky.json", PANICKY);
    let out = repsim(&[
        "sweep",
        file.to_str().unwrap(),
        "--seeds",
        "9",
        "--jobs",
        "2",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let aggregate: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(aggregate["seeds"]["done"], 9);
    let seeds: Vec<u64> = aggregate["panics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, vec![3, 6, 9]);
    let first = &aggregate["panics"][0];
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("deliberate panic at event 400"),
        "{first}"
    );
    assert_eq!(first["reproduce"], "repsim run panicky.json --seed 3");
    assert_eq!(aggregate["outcomes"]["quiet"], 6);
    assert_eq!(aggregate["outcomes"]["panicked"], 3);

    // `run` of a panicking seed: exit 3, the message, the command; nothing else breaks.
    let dir = file.parent().unwrap().join("out");
    let out = repsim(&[
        "run",
        file.to_str().unwrap(),
        "--seed",
        "6",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("at seed 6: the run panicked: deliberate panic") && err.contains("--seed 6"),
        "{err}"
    );
    let out = repsim(&[
        "run",
        file.to_str().unwrap(),
        "--seed",
        "5",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn budgets_end_runs_with_a_reported_outcome() {
    let text = r#"{
      "name": "budget", "nodes": 3, "duration_ms": 5000,
      "protocol": { "kind": "single-leader", "failover": { "heartbeat_ms": 50, "timeout_ms": 300 } },
      "limits": { "max_events": 2000 }
    }"#;
    let scenario = scenario::parse(text, "budget.json").unwrap();
    let result = run::run(&scenario, 1, None).unwrap();
    assert_eq!(result.output.outcome, RunOutcome::BudgetExhausted);
    assert_eq!(result.output.stats.events, 2000);

    let text = text.replace(r#""max_events": 2000"#, r#""max_time_ms": 250"#);
    let scenario = scenario::parse(&text, "budget.json").unwrap();
    let result = run::run(&scenario, 1, None).unwrap();
    assert_eq!(result.output.outcome, RunOutcome::BudgetExhausted);
    assert!(result.output.end.as_ms() <= 250.0);

    let bad = text.replace(r#""max_time_ms": 250"#, r#""max_events": 0"#);
    let err = scenario::parse(&bad, "budget.json")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "budget.json: $.limits.max_events: must be at least 1");
}

#[test]
fn the_determinism_self_check_passes_on_every_shipped_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut checked = 0;
    for family in std::fs::read_dir(&root).unwrap() {
        let family = family.unwrap().path();
        if !family.is_dir() {
            continue;
        }
        let mut files: Vec<_> = std::fs::read_dir(&family)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "json"))
        {
            let scenario = scenario::load(&file).unwrap();
            if let Err(e) = run::check_determinism(&scenario, scenario.seed) {
                panic!("{e}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");
}

#[test]
fn run_check_determinism_through_the_binary() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/single-leader/split-brain-without-fencing.json");
    let dir = std::env::temp_dir().join(format!("repsim-robust-det-{}", std::process::id()));
    let out = repsim(&[
        "run",
        file.to_str().unwrap(),
        "--check-determinism",
        "--diagram",
        "900..1100",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
