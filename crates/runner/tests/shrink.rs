//! `repsim shrink` through the binary: a failing run under a random nemesis is reduced
//! to a scenario with fewer faults and clients that still shows the anomaly at the same
//! seed, and a run without the anomaly is refused.

use std::path::Path;
use std::process::Command;

fn repsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_repsim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn shrink_keeps_the_anomaly_and_removes_what_does_not_matter() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/shrink-nemesis.json");
    let dir = std::env::temp_dir().join(format!("repsim-shrink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("small.json");
    let result = repsim(&[
        "shrink",
        file.to_str().unwrap(),
        "--seed",
        "7",
        "--anomaly",
        "lost_write",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        result.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let text = String::from_utf8_lossy(&result.stdout);
    assert!(
        text.contains("faults: ") && text.contains("clients: 8 -> "),
        "{text}"
    );

    let shrunk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let faults = shrunk["faults"].as_array().unwrap();
    assert!(
        !faults.is_empty() && faults.len() < 10,
        "{} faults left",
        faults.len()
    );
    assert!(faults.iter().all(|f| f.get("random").is_none()));
    assert!(shrunk["clients"]["count"].as_u64().unwrap() < 8);
    assert_eq!(shrunk["seed"], 7);

    // The shrunk file is a valid scenario that shows the anomaly (its expect block says
    // so, and `run` exits 0 only when it holds).
    let run = repsim(&[
        "run",
        out.to_str().unwrap(),
        "--out",
        dir.join("run").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(report["anomalies"]["lost_write"].as_u64().unwrap() > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shrink_refuses_a_run_without_the_anomaly_and_unknown_kinds() {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/single-node/steady.json");
    let out = repsim(&[
        "shrink",
        file.to_str().unwrap(),
        "--seed",
        "1",
        "--anomaly",
        "lost_write",
        "--out",
        "/nonexistent/x.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shows no lost_write"));
    let out = repsim(&[
        "shrink",
        file.to_str().unwrap(),
        "--seed",
        "1",
        "--anomaly",
        "lost_writes",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected one of"));
}
