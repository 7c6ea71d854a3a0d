//! Sweeps: identical output for any `--jobs`, shards that merge into exactly the whole,
//! early stops that keep a prefix of the seeds, and the sweep semantics of `expect`.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use repsim_runner::{scenario, sweep};

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

#[test]
fn sweep_output_is_identical_for_any_jobs_and_shards_merge_into_the_whole() {
    let file = repo("scenarios/single-leader/async-failover-loses-writes.json");
    let one = repsim(&["sweep", &file, "--seeds", "24", "--jobs", "1", "--json"]);
    let four = repsim(&["sweep", &file, "--seeds", "24", "--jobs", "4", "--json"]);
    assert_eq!(
        one.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    assert!(!one.stdout.is_empty());
    assert_eq!(one.stdout, four.stdout);

    let dir = std::env::temp_dir().join(format!("repsim-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut parts = Vec::new();
    for i in 1..=3 {
        let shard = format!("{i}/3");
        let out = repsim(&[
            "sweep", &file, "--seeds", "24", "--shard", &shard, "--jobs", "2",
        ]);
        assert_eq!(out.status.code(), Some(0));
        let path = dir.join(format!("part-{i}.json"));
        std::fs::write(&path, &out.stdout).unwrap();
        parts.push(path.display().to_string());
    }
    let mut args = vec!["merge", "--json"];
    args.extend(parts.iter().map(String::as_str));
    let merged = repsim(&args);
    assert_eq!(
        merged.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    assert_eq!(merged.stdout, one.stdout);

    // A part given twice is refused.
    let twice = repsim(&["merge", &parts[0], &parts[0]]);
    assert_eq!(twice.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();

    let aggregate: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(aggregate["seeds"]["done"], 24);
    let lost = &aggregate["anomalies"]["lost_write"];
    assert!(lost["seeds_affected"].as_u64().unwrap() > 0);
    let example = &lost["examples"][0];
    // The file was given as an absolute path, which outputs shorten to its name.
    assert_eq!(
        example["reproduce"].as_str().unwrap(),
        format!(
            "repsim run async-failover-loses-writes.json --seed {}",
            example["seed"]
        )
    );
    let ci = lost["rate_ci95"].as_array().unwrap();
    let rate = lost["rate"].as_f64().unwrap();
    assert!(ci[0].as_f64().unwrap() <= rate && rate <= ci[1].as_f64().unwrap());
}

#[test]
fn a_stopped_sweep_keeps_a_prefix_of_the_seeds() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/single-node/steady.json");
    let scenario = scenario::load(&path).unwrap();
    let seeds: Vec<u64> = (0..40).collect();
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let progress = |_: &sweep::SeedSummary| {
        if done.fetch_add(1, Ordering::SeqCst) + 1 == 5 {
            stop.store(true, Ordering::SeqCst);
        }
    };
    let summaries = sweep::run_seeds(&scenario, &seeds, 2, false, &stop, &progress);
    assert!(
        summaries.len() >= 5 && summaries.len() < 40,
        "{}",
        summaries.len()
    );
    let got: Vec<u64> = summaries.iter().map(|s| s.seed).collect();
    assert_eq!(got, seeds[..got.len()]);
}

#[test]
fn sweep_expect_needs_upper_bounds_everywhere_and_lower_bounds_once() {
    let file = repo("scenarios/single-leader/async-failover-loses-writes.json");
    let out = repsim(&["sweep", &file, "--seeds", "12"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("expect lost_write: met"), "{text}");

    let dir = std::env::temp_dir().join(format!("repsim-sweep-expect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let never = dir.join("never.json");
    std::fs::write(&never, r#"{"name": "never", "nodes": 1, "duration_ms": 200, "protocol": {"kind": "single-node"}, "expect": {"unavailable": {"min": 1}}}"#).unwrap();
    let out = repsim(&["sweep", never.to_str().unwrap(), "--seeds", "5", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let aggregate: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(aggregate["expect"][0]["seeds_reaching_min"], 0);
    assert_eq!(aggregate["expect_met"], false);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_sweep_arguments_are_refused() {
    let file = repo("scenarios/single-node/steady.json");
    for args in [
        ["--shard", "0/3"],
        ["--shard", "4/3"],
        ["--shard", "x"],
        ["--jobs", "0"],
    ] {
        let mut all = vec!["sweep", file.as_str(), "--seeds", "3"];
        all.extend(args);
        let out = repsim(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_seed_summary_counts_what_the_report_counts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/single-node/crash-restart.json");
    let scenario = scenario::load(&path).unwrap();
    let result = repsim_runner::run::run(&scenario, 7, None).unwrap();
    let report = repsim_runner::report::build(&scenario, &result);
    let summary = sweep::summarize(&scenario, &result);
    let windows: u64 = summary.availability_windows.iter().map(|w| w[1]).sum();
    assert_eq!(windows, summary.ok + summary.fail + summary.info);
    let a = &report.availability;
    assert_eq!(
        (summary.ok, summary.fail, summary.info),
        (a.ok, a.fail, a.info)
    );
    assert!(summary.fail > 0);
    assert_eq!(
        summary.read_latency.count(),
        report.latency_ms["read"].count
    );
    assert_eq!(
        summary.anomalies["unavailable"],
        report.anomalies["unavailable"]
    );
}

/// Ctrl-C stops a sweep between seeds: it prints the aggregate of the seeds done (a
/// prefix of the seed list, each run whole) and exits 130, not 0.
#[cfg(unix)]
#[test]
fn ctrl_c_reports_the_seeds_done_and_exits_130() {
    use std::process::Stdio;
    let file = repo("scenarios/single-leader/async-failover-loses-writes.json");
    // Far more seeds than can run before the signal (each takes milliseconds).
    let child = Command::new(env!("CARGO_BIN_EXE_repsim"))
        .args([
            "sweep", &file, "--seeds", "1000000", "--jobs", "2", "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // Long enough for the handler to be set and some seeds to finish.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let aggregate: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let done = aggregate["seeds"]["done"].as_u64().unwrap();
    assert!(done > 0 && done < 1_000_000, "{done}");
    assert_eq!(aggregate["seeds"]["count"], 1_000_000);
    assert!(
        stderr.contains(&format!("interrupted: {done} of 1000000 seeds done")),
        "{stderr}"
    );
    // The seeds done are the first ones, and their aggregate is exactly the one a sweep
    // of only those seeds prints.
    let whole = repsim(&["sweep", &file, "--seeds", &done.to_string(), "--json"]);
    let mut whole: serde_json::Value = serde_json::from_slice(&whole.stdout).unwrap();
    whole["seeds"]["count"] = 1_000_000.into();
    assert_eq!(aggregate, whole);
}
