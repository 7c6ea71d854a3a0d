//! `repsim compare` charts and `repsim run --diagram` space-time diagrams, through the
//! binary: the files exist, say what they show, and are reproducible.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repsim(args: &[&str]) -> std::process::Output {
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

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("repsim-charts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn compare_draws_every_chart_reproducibly() {
    let a = repo("scenarios/single-leader/async-failover-loses-writes.json");
    let b = repo("scenarios/single-leader/sync-failover-keeps-writes.json");
    let (one, two) = (temp("compare-1"), temp("compare-2"));
    for dir in [&one, &two] {
        let out = repsim(&[
            "compare",
            &a,
            &b,
            "--seeds",
            "4",
            "--jobs",
            "2",
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let table = String::from_utf8_lossy(&out.stdout);
        assert!(
            table.contains("lost_write") && table.contains("sync-failover-keeps-writes"),
            "{table}"
        );
    }
    for (file, needles) in [
        (
            "anomalies.svg",
            vec![
                "Share of seeds",
                "lost_write",
                "async-failover-loses-writes",
                "seeds affected",
                // Kinds no seed showed are named under the axis, not drawn as bars.
                "in no seed: ",
            ],
        ),
        (
            "latency-read.svg",
            vec!["Read latency", "latency (ms)", "sync-failover-keeps-writes"],
        ),
        (
            "latency-write.svg",
            vec!["Write latency", "fraction of operations"],
        ),
        (
            "availability.svg",
            vec![
                "Availability over time",
                "faults (async-failover-loses-writes, seed 1)",
            ],
        ),
        ("replication-lag.svg", vec!["Replication lag", "lag (ms)"]),
    ] {
        let text = std::fs::read_to_string(one.join(file)).unwrap();
        for needle in needles {
            assert!(text.contains(needle), "{file} lacks {needle:?}");
        }
        assert_eq!(
            text,
            std::fs::read_to_string(two.join(file)).unwrap(),
            "{file} differs"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(one.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[1]["anomalies"]["lost_write"]["total"], 0);
    let _ = (std::fs::remove_dir_all(&one), std::fs::remove_dir_all(&two));
}

#[test]
fn run_draws_a_space_time_diagram_with_flagged_operations() {
    let file = repo("scenarios/single-leader/async-failover-loses-writes.json");
    let dir = temp("diagram");
    let out = repsim(&[
        "run",
        &file,
        "--seed",
        "1",
        "--out",
        dir.to_str().unwrap(),
        "--diagram",
        "990..1050",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(dir.join("diagram.svg")).unwrap();
    for needle in [
        "<svg",
        "n0",
        "n1",
        "n2",
        "simulated time (ms)",
        "lost_write",
        "not leader",
        "down from 1000",
    ] {
        assert!(svg.contains(needle), "diagram lacks {needle:?}");
    }
    // The flags' labels are drawn after every operation's bar, so none hides them.
    let first_label = svg.find(" lost_write</text>").expect("a labelled flag");
    let last_bar = svg.rfind(r#"stroke-linecap="round""#).unwrap();
    assert!(first_label > last_bar, "a bar is drawn over a label");
    let trace = std::fs::read_to_string(dir.join("trace.jsonl")).unwrap();
    assert!(trace.contains("\"event\":\"down\",\"node\":\"n0\""));
    // The diagram does not change the run.
    let plain = temp("plain");
    repsim(&[
        "run",
        &file,
        "--seed",
        "1",
        "--out",
        plain.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(dir.join("report.json")).unwrap(),
        std::fs::read(plain.join("report.json")).unwrap()
    );
    let _ = (
        std::fs::remove_dir_all(&dir),
        std::fs::remove_dir_all(&plain),
    );

    for bad in ["1050..990", "x..y", "100"] {
        let out = repsim(&["run", &file, "--diagram", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
}
