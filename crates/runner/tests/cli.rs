//! Tests of the built `repsim` binary: exit codes, output files, error messages, and
//! `check` on hand-written histories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_repsim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
        .display()
        .to_string()
}

fn fixture(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(path)
        .display()
        .to_string()
}

/// A fresh, empty temporary directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("repsim-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn run_writes_the_three_files_and_prints_the_summary() {
    let out = temp_dir("run-good");
    let file = repo("scenarios/single-node/crash-restart.json");
    let output = repsim(&["run", &file, "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    for needle in [
        "anomalies:",
        "stale_read",
        "lost_write",
        "unavailable",
        "availability:",
        "latency",
        "expect: met",
        "--seed 7",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    for name in ["report.json", "history.jsonl", "final.json"] {
        assert!(out.join(name).is_file(), "{name} not written");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["seed"], 7);
    assert_eq!(report["anomalies"]["lost_write"], 0);
    assert!(
        report["availability"]["fail"].as_u64().unwrap()
            + report["availability"]["info"].as_u64().unwrap()
            > 0
    );

    // `check` on what `run` wrote agrees with the run's own verdict.
    let history = out.join("history.jsonl");
    let final_state = out.join("final.json");
    let check = repsim(&[
        "check",
        history.to_str().unwrap(),
        "--final",
        final_state.to_str().unwrap(),
        "--json",
    ]);
    let verdict: serde_json::Value = serde_json::from_str(&stdout(&check)).unwrap();
    // `check` has no role events, so it skips split_brain; every other kind agrees.
    let mut anomalies = report["anomalies"].as_object().unwrap().clone();
    assert_eq!(anomalies.remove("split_brain"), Some(serde_json::json!(0)));
    assert_eq!(verdict["anomalies"], serde_json::Value::Object(anomalies));
    assert_eq!(verdict["skipped"]["split_brain"], "no role events given");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn the_same_seed_gives_byte_identical_files_through_the_cli() {
    let (a, b) = (temp_dir("det-a"), temp_dir("det-b"));
    let file = repo("scenarios/single-node/nemesis.json");
    for dir in [&a, &b] {
        let output = repsim(&["run", &file, "--seed", "11", "--out", dir.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    for name in ["report.json", "history.jsonl", "final.json"] {
        assert_eq!(
            std::fs::read(a.join(name)).unwrap(),
            std::fs::read(b.join(name)).unwrap(),
            "{name}"
        );
    }
    let _ = (std::fs::remove_dir_all(&a), std::fs::remove_dir_all(&b));
}

#[test]
fn a_bad_file_is_refused_with_its_path_and_nothing_is_written() {
    let dir = temp_dir("run-bad");
    let bad = write(
        &dir,
        "bad.json",
        r#"{"name": "x", "nodes": 1, "duration_ms": 100, "protocol": {"kind": "single-node"}, "clients": {"count": 2, "kyes": 3}}"#,
    );
    let out = dir.join("out");
    let good = repo("scenarios/single-node/steady.json");
    // The good file is not run either: every file is validated first.
    let output = repsim(&["run", &good, &bad, "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("bad.json") && err.contains("$.clients") && err.contains("kyes"),
        "{err}"
    );
    assert!(!out.exists(), "output written despite bad input");
    assert!(stdout(&output).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unmet_expect_block_exits_1() {
    let dir = temp_dir("expect");
    let file = write(
        &dir,
        "unmet.json",
        r#"{"name": "unmet", "nodes": 1, "duration_ms": 200, "protocol": {"kind": "single-node"}, "expect": {"unavailable": {"min": 1}}}"#,
    );
    let output = repsim(&[
        "run",
        &file,
        "--out",
        dir.join("out").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["expect_met"], false);
    assert_eq!(report["expect"][0]["actual"], 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_flags_a_hand_written_stale_read() {
    let output = repsim(&[
        "check",
        &fixture("histories/stale.jsonl"),
        "--final",
        &fixture("histories/stale.final.json"),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let verdict: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(verdict["anomalies"]["stale_read"], 1);
    assert_eq!(verdict["examples"]["stale_read"], serde_json::json!([4]));
    assert_eq!(verdict["anomalies"]["divergence"], 1);
    assert_eq!(verdict["anomalies"]["lost_write"], 0);
    assert_eq!(verdict["anomalies"]["read_your_writes"], 0);
}

#[test]
fn check_passes_a_clean_history_and_says_what_it_skipped() {
    let output = repsim(&["check", &fixture("histories/clean.jsonl")]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("lost_write") && text.contains("skipped"),
        "{text}"
    );
}

#[test]
fn check_refuses_a_malformed_history() {
    let output = repsim(&["check", &fixture("histories/malformed.jsonl")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("index 1"), "{}", stderr(&output));
    let output = repsim(&["check", &fixture("histories/missing.jsonl")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read"));
}

#[test]
fn validate_and_schema() {
    let good = repo("scenarios/single-node/steady.json");
    let output = repsim(&["validate", &good]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("ok: single-node-steady"));

    let dir = temp_dir("validate");
    let bad = write(
        &dir,
        "w.json",
        r#"{"name": "w", "nodes": 3, "duration_ms": 100, "protocol": {"kind": "leaderless", "w": 4, "r": 1}}"#,
    );
    let output = repsim(&["validate", &good, &bad]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("$.protocol.w"),
        "{}",
        stderr(&output)
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let output = repsim(&["schema"]);
    assert_eq!(output.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(schema.get("$schema").is_some());
}

#[test]
fn help_names_every_command() {
    let text = stdout(&repsim(&["--help"]));
    for command in ["run", "check", "validate", "schema", "Exit codes"] {
        assert!(text.contains(command), "{text}");
    }
}
