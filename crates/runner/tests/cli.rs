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
    for command in ["run", "check", "export", "validate", "schema", "Exit codes"] {
        assert!(text.contains(command), "{text}");
    }
}

/// A Jepsen register history (one key): p1 reads 1 after p0's write of 2 completed, so
/// it is not linearizable; a nemesis op sits in the middle.
const JEPSEN_EDN: &str = r#"{:type :invoke, :f :write, :value 1, :process 0, :time 1000000, :index 0}
{:type :ok, :f :write, :value 1, :process 0, :time 2000000, :index 1}
{:type :info, :f :start-partition, :value nil, :process :nemesis, :time 2500000, :index 2}
{:type :invoke, :f :write, :value 2, :process 0, :time 3000000, :index 3}
{:type :ok, :f :write, :value 2, :process 0, :time 4000000, :index 4}
{:type :invoke, :f :read, :value nil, :process 1, :time 5000000, :index 5}
{:type :ok, :f :read, :value 1, :process 1, :time 6000000, :index 6}
"#;

/// The same history as Jepsen JSON lines.
const JEPSEN_JSON: &str = r#"{"type":"invoke","f":"write","value":1,"process":0,"time":1000000,"index":0}
{"type":"ok","f":"write","value":1,"process":0,"time":2000000,"index":1}
{"type":"info","f":"start-partition","value":null,"process":"nemesis","time":2500000,"index":2}
{"type":"invoke","f":"write","value":2,"process":0,"time":3000000,"index":3}
{"type":"ok","f":"write","value":2,"process":0,"time":4000000,"index":4}
{"type":"invoke","f":"read","value":null,"process":1,"time":5000000,"index":5}
{"type":"ok","f":"read","value":1,"process":1,"time":6000000,"index":6}
"#;

fn check_json(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let output = repsim(args);
    let verdict = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&output), stderr(&output)));
    (output.status.code(), verdict)
}

#[test]
fn check_reads_jepsen_histories_in_edn_and_json() {
    let dir = temp_dir("jepsen-check");
    let edn = write(&dir, "history.edn", JEPSEN_EDN);
    let json = write(&dir, "history.json", JEPSEN_JSON);
    for file in [&edn, &json] {
        let (code, verdict) = check_json(&["check", file, "--json"]);
        assert_eq!(code, Some(1), "{verdict}");
        assert_eq!(verdict["operations"], 3, "the nemesis op is skipped");
        // Values repeat in Jepsen histories, so only what needs no unique values runs.
        assert_eq!(verdict["anomalies"]["linearizability"], 1);
        assert_eq!(
            verdict["examples"]["linearizability"],
            serde_json::json!([5])
        );
        assert_eq!(
            verdict["unknown"],
            serde_json::json!({}),
            "every key was decided"
        );
        assert!(verdict["skipped"]["stale_read"].is_null());
    }
    // The human summary names the key, the witness and the indexes of the file.
    let output = repsim(&["check", &edn]);
    let text = stdout(&output);
    assert!(
        text.contains("key k is not linearizable")
            && text.contains("read of 1 by process 1 (index 5, ok at 6)"),
        "{text}"
    );
    // --edn forces the reader: the JSON file is then refused, with its line.
    let output = repsim(&["check", &json, "--edn"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("history.json: line 1:"),
        "{}",
        stderr(&output)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn export_then_check_gives_the_same_findings() {
    let dir = temp_dir("export");
    let out = dir.join("run");
    // Follower reads: stale reads, and keys that are not linearizable.
    let file = repo("scenarios/single-leader/follower-reads-are-stale.json");
    let output = repsim(&["run", &file, "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let history = out.join("history.jsonl").display().to_string();
    let final_state = out.join("final.json").display().to_string();
    let (code, original) = check_json(&["check", &history, "--final", &final_state, "--json"]);
    assert_eq!(code, Some(1));
    assert!(
        original["anomalies"]["linearizability"].as_u64().unwrap() > 0,
        "{original}"
    );
    for (name, edn) in [("history.json", false), ("history.edn", true)] {
        let exported = dir.join(name).display().to_string();
        let mut args = vec!["export", &history, "--format", "jepsen", "--out", &exported];
        if edn {
            args.push("--edn");
        }
        let output = repsim(&args);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert!(stdout(&output).is_empty());
        let (code, verdict) = check_json(&["check", &exported, "--final", &final_state, "--json"]);
        assert_eq!(code, Some(1));
        assert_eq!(verdict, original, "{name}");
        // The human summaries agree too, but for the file name in the first line.
        let text = |file: &str| {
            let out = stdout(&repsim(&["check", file, "--final", &final_state]));
            out.split_once('\n').unwrap().1.to_owned()
        };
        assert_eq!(text(&exported), text(&history), "{name}");
    }
    // Without --out, the export goes to standard output, one op per line.
    let output = repsim(&["export", &history, "--format", "jepsen", "--edn"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("{:type :invoke, :f :"), "{first}");
    assert!(
        first.contains(", :process ") && first.contains(", :time ") && first.contains(", :index 0"),
        "{first}"
    );
    assert_eq!(
        text.lines().count(),
        std::fs::read_to_string(&history).unwrap().lines().count()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn export_and_check_refuse_bad_input_with_file_line_and_reason() {
    let dir = temp_dir("export-bad");
    let bad_edn = write(
        &dir,
        "bad.edn",
        "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0, :value [1 2}\n",
    );
    let bad_json = write(
        &dir,
        "bad.json",
        "{\"type\":\"invoke\",\"f\":\"read\",\"process\":0}\n{\"type\":\"ok\",\"f\":\"append\",\"process\":0}\n",
    );
    let malformed = fixture("histories/malformed.jsonl");
    for (file, needle) in [
        (&bad_edn, "bad.edn: line 2: $: "),
        (&bad_json, "bad.json: line 2: $.f: unknown f \"append\""),
        (&malformed, "index 1"),
    ] {
        let out = dir.join("out.json");
        let output = repsim(&[
            "export",
            file,
            "--format",
            "jepsen",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(output.status.code(), Some(2), "{file}");
        assert!(stderr(&output).contains(needle), "{}", stderr(&output));
        assert!(
            !out.exists(),
            "{file}: export wrote output despite bad input"
        );
        let output = repsim(&["check", file]);
        assert_eq!(output.status.code(), Some(2), "{file}");
        assert!(stderr(&output).contains(needle), "{}", stderr(&output));
    }
    let output = repsim(&["export", &malformed, "--format", "csv"]);
    assert_eq!(output.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_key_beyond_the_budget_is_unknown_not_passed() {
    let dir = temp_dir("budget");
    // Three concurrent writes, then reads of w1 and w2: w1 cannot be last twice.
    let lines: Vec<String> = [
        (0, "invoke", "write", "\"w1\""),
        (1, "invoke", "write", "\"w2\""),
        (2, "invoke", "write", "\"w3\""),
        (0, "ok", "write", "\"w1\""),
        (1, "ok", "write", "\"w2\""),
        (2, "ok", "write", "\"w3\""),
        (3, "invoke", "read", "null"),
        (3, "ok", "read", "\"w1\""),
        (3, "invoke", "read", "null"),
        (3, "ok", "read", "\"w2\""),
    ]
    .iter()
    .map(|(p, t, f, v)| {
        format!(r#"{{"process":{p},"type":"{t}","f":"{f}","key":"k0","value":{v}}}"#)
    })
    .collect();
    let file = write(&dir, "h.jsonl", &(lines.join("\n") + "\n"));
    let (code, verdict) = check_json(&["check", &file, "--json", "--linearizability-budget", "1"]);
    assert_eq!(code, Some(0), "{verdict}");
    assert_eq!(verdict["anomalies"]["linearizability"], 0);
    assert_eq!(
        verdict["unknown"]["linearizability"],
        serde_json::json!(["k0"])
    );
    let text = stdout(&repsim(&["check", &file, "--linearizability-budget", "1"]));
    assert!(
        text.contains(
            "  linearizability    unknown for 1 key (search budget exhausted; neither counted \
             nor passed): k0; see --linearizability-budget"
        ),
        "{text}"
    );
    let (code, verdict) = check_json(&["check", &file, "--json"]);
    assert_eq!(code, Some(1));
    assert_eq!(verdict["anomalies"]["linearizability"], 1);
    assert_eq!(
        verdict["examples"]["linearizability"],
        serde_json::json!([8])
    );
    assert_eq!(verdict["unknown"], serde_json::json!({}));
    let text = stdout(&repsim(&["check", &file]));
    assert!(!text.contains("unknown for"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
