//! Counter and set workloads end to end: runs check them without a panic and without
//! false positives on the control protocol, acknowledged increments and adds lost to an
//! unsynced disk are reported as `lost_increment` and `lost_add` (in `report.json`, in
//! `expect` blocks, and by `repsim check` on the files a run writes, in repsim's shape and
//! in Jepsen's), and `report.json` lists the keys linearizability left undecided.

use std::path::PathBuf;
use std::process::Command;

use repsim_anomaly::{Kind, NO_REGISTER_KEYS};
use repsim_runner::{report, run, scenario};

/// A single-node scenario of the given workload (`"counter"` or `"set"`), with `storage`
/// and `faults` as JSON text.
fn scenario_text(workload: &str, storage: &str, faults: &str, expect: &str) -> String {
    let elements = if workload == "set" {
        r#", "elements": 20"#
    } else {
        ""
    };
    format!(
        r#"{{
          "name": "crdt-{workload}", "nodes": 1, "duration_ms": 1500,
          "protocol": {{ "kind": "single-node" }},
          "network": {{ "latency": {{ "dist": "exponential", "mean_ms": 2 }} }},
          "clients": {{ "count": 6, "keys": 10, "read_fraction": 0.3, "timeout_ms": 200,
                       "think_ms": {{ "dist": "constant", "ms": 5 }},
                       "workload": "{workload}"{elements} }},
          "storage": {storage},
          "faults": {faults},
          "expect": {expect}
        }}"#
    )
}

const CRASH: &str = r#"[{ "at_ms": 1150, "crash": "n0" }, { "at_ms": 1250, "restart": "n0" }]"#;
const UNSYNCED: &str = r#"{ "sync_interval_ms": 200 }"#;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("repsim-crdt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn repsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_repsim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The control protocol keeps every counter and set whatever the faults: only
/// `unavailable` may flag, the register kinds are skipped (there is no register key),
/// and nothing panics (linearizability once did, on an increment).
#[test]
fn single_node_counters_and_sets_show_no_anomaly_under_any_fault_schedule() {
    let nemesis = r#"[{ "at_ms": 0, "until_ms": 1500, "random": {
        "kinds": ["crash", "lag", "clock_skew", "isolate"],
        "mean_interval_ms": 150, "max_fault_ms": 200 } }]"#;
    let mut flagged = Vec::new();
    for workload in ["counter", "set"] {
        let text = scenario_text(workload, "{}", nemesis, "{}");
        let scenario = scenario::parse(&text, "control.json").unwrap();
        for seed in 0..25 {
            let findings = run::run(&scenario, seed, None).unwrap().findings;
            for kind in [
                Kind::StaleRead,
                Kind::LostWrite,
                Kind::PhantomRead,
                Kind::Linearizability,
            ] {
                assert!(
                    findings
                        .skipped
                        .contains(&(kind, NO_REGISTER_KEYS.to_owned())),
                    "{workload} seed {seed}: {kind}: {:?}",
                    findings.skipped
                );
            }
            for kind in [
                Kind::Divergence,
                Kind::LostIncrement,
                Kind::PhantomIncrement,
                Kind::LostAdd,
            ] {
                assert!(findings.counts.contains_key(&kind), "{kind} not checked");
            }
            for (kind, &count) in &findings.counts {
                if *kind != Kind::Unavailable && count > 0 {
                    flagged.push(format!("{workload} seed {seed}: {count} {kind}"));
                }
            }
        }
    }
    assert!(
        flagged.is_empty(),
        "false positives on the control protocol: {flagged:?}"
    );
}

/// A disk synced every 200 ms loses acknowledged updates in a crash: the run reports
/// them, and `expect` blocks can ask for them.
#[test]
fn an_unsynced_disk_loses_increments_and_adds() {
    for (workload, kind) in [("counter", Kind::LostIncrement), ("set", Kind::LostAdd)] {
        let expect = format!(
            r#"{{ "{}": {{ "min": 1 }}, "divergence": {{ "max": 0 }} }}"#,
            kind
        );
        let text = scenario_text(workload, UNSYNCED, CRASH, &expect);
        let scenario = scenario::parse(&text, "lossy.json").unwrap();
        let result = run::run(&scenario, 1, None).unwrap();
        let built = report::build(&scenario, &result);
        assert!(built.expect_met, "{workload}: {}", built.summary());
        let count = built.anomalies[kind.name()];
        assert!(count > 0, "{workload}: {}", built.summary());
        let first = &built.details[kind.name()][0];
        let named = match kind {
            Kind::LostIncrement => {
                first.message.starts_with("counter k") && first.message.contains("ok increment")
            }
            _ => first.message.starts_with("add of e") && first.message.contains("is lost"),
        };
        assert!(named, "{}", first.message);
        // The other CRDT kinds are checked and silent.
        for other in [Kind::LostIncrement, Kind::PhantomIncrement, Kind::LostAdd] {
            if other != kind {
                assert_eq!(built.anomalies[other.name()], 0, "{workload}: {other}");
            }
        }
        assert!(built.unknown.is_empty());
        // The summary names the kind in SPEC order, after the register kinds' skips.
        assert!(
            built
                .summary()
                .contains(&format!("  {:<18} {count:>7}   first: ", kind.name())),
            "{}",
            built.summary()
        );
    }
}

/// `repsim check` on the files of a run, and on their Jepsen export, finds what the run
/// found.
#[test]
fn check_and_jepsen_export_agree_with_the_run() {
    for workload in ["counter", "set"] {
        let dir = temp_dir(workload);
        let file = dir.join("scenario.json");
        std::fs::write(&file, scenario_text(workload, UNSYNCED, CRASH, "{}")).unwrap();
        let out = dir.join("out");
        let output = repsim(&[
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["unknown"], serde_json::json!({}));
        let lost = if workload == "counter" {
            "lost_increment"
        } else {
            "lost_add"
        };
        assert!(report["anomalies"][lost].as_u64().unwrap() > 0, "{report}");
        // `check` has no role events: split_brain is skipped there instead.
        for field in ["anomalies", "examples"] {
            report[field].as_object_mut().unwrap().remove("split_brain");
        }
        report["skipped"]["split_brain"] = "no role events given".into();
        let history = out.join("history.jsonl");
        let final_state = out.join("final.json");
        let mut files = vec![history.clone()];
        for edn in [false, true] {
            let exported = dir.join(if edn { "history.edn" } else { "history.json" });
            let mut args = vec!["export", history.to_str().unwrap(), "--format", "jepsen"];
            if edn {
                args.push("--edn");
            }
            args.extend(["--out", exported.to_str().unwrap()]);
            let output = repsim(&args);
            assert_eq!(output.status.code(), Some(0));
            files.push(exported);
        }
        for checked in &files {
            let output = repsim(&[
                "check",
                checked.to_str().unwrap(),
                "--final",
                final_state.to_str().unwrap(),
                "--json",
            ]);
            assert_eq!(output.status.code(), Some(1), "{}", checked.display());
            let verdict: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            for field in ["anomalies", "examples", "skipped", "unknown"] {
                assert_eq!(
                    verdict[field],
                    report[field],
                    "{workload}, {}: {field}",
                    checked.display()
                );
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// `report.json` carries the keys linearizability left undecided, like `repsim check
/// --json`, and the summary says so; `{}` when every key was decided.
#[test]
fn report_json_lists_unknown_keys() {
    let text = r#"{ "name": "tiny", "nodes": 1, "duration_ms": 200,
                    "protocol": { "kind": "single-node" },
                    "clients": { "count": 2, "keys": 2 } }"#;
    let scenario = scenario::parse(text, "tiny.json").unwrap();
    let mut result = run::run(&scenario, 1, None).unwrap();
    assert!(result.findings.unknown_keys.is_empty());
    let json: serde_json::Value =
        serde_json::from_str(&report::build(&scenario, &result).to_json()).unwrap();
    assert_eq!(json["unknown"], serde_json::json!({}));
    // Runs use the default budget, which decides every simulated key. Checked again with
    // a budget of one configuration per key (what `repsim check
    // --linearizability-budget 1` uses), both keys are left undecided: reported, not
    // passed.
    let budget = repsim_anomaly::linearizability::Budget {
        states_base: 1,
        states_per_operation: 0,
        ..Default::default()
    };
    result.findings = repsim_anomaly::check_with_budget(
        &repsim_anomaly::Input {
            history: &result.output.history,
            final_state: Some(&result.output.final_state),
            roles: Some(&result.output.roles),
        },
        &repsim_anomaly::Options::default(),
        &budget,
    )
    .unwrap();
    let built = report::build(&scenario, &result);
    let json: serde_json::Value = serde_json::from_str(&built.to_json()).unwrap();
    assert_eq!(
        json["unknown"],
        serde_json::json!({"linearizability": ["k0", "k1"]})
    );
    assert_eq!(json["anomalies"]["linearizability"], 0);
    assert!(
        built.summary().contains(
            "  linearizability    unknown for 2 keys (search budget exhausted; neither counted \
             nor passed): k0, k1\n"
        ),
        "{}",
        built.summary()
    );
}
