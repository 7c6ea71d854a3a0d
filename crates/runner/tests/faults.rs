//! The fault kit through scenario files: each fault kind has the effect it claims, seen
//! in the report's counters.

use std::path::Path;

use repsim_runner::{report, run, scenario};

fn report_of(file: &str, seed: u64) -> report::Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(file);
    let scenario = scenario::load(&path).unwrap();
    let result = run::run(&scenario, seed, None).unwrap();
    report::build(&scenario, &result)
}

#[test]
fn a_pause_defers_events_and_a_crash_does_not() {
    let paused = report_of("single-leader/process-pause-fenced.json", 1);
    assert!(
        paused.sim.deferred_events > 10,
        "{}",
        paused.sim.deferred_events
    );
    // Nothing restarted: the old leader kept its state and stepped down on its own.
    assert_eq!(paused.protocol_events.get("restarted"), None);
    assert!(
        paused.protocol_events["lease_expired"]
            + paused
                .protocol_events
                .get("stepped_down_newer_epoch")
                .copied()
                .unwrap_or(0)
            >= 1
    );
}

#[test]
fn held_and_swizzled_links_deliver_late_instead_of_losing() {
    let held = report_of("multi-leader/hold-delivers-late.json", 1);
    assert!(held.messages.held > 10, "{}", held.messages.held);
    assert_eq!(held.messages.dropped, 0);
    let swizzled = report_of("single-leader/swizzle-clog.json", 1);
    assert!(swizzled.messages.held > 10, "{}", swizzled.messages.held);
    assert_eq!(swizzled.anomalies["lost_write"], 0);
}

/// The hold-delivers-late scenario with its hold written as `hold` + `release` instead
/// of a window: the same run, byte for byte.
#[test]
fn a_release_ends_a_hold_exactly_like_its_window() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/multi-leader/hold-delivers-late.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let window = r#"{ "at_ms": 800, "until_ms": 1800, "hold": ["n0", "n1"] }"#;
    assert!(text.contains(window));
    let released = text.replace(
        window,
        r#"{ "at_ms": 800, "hold": ["n0", "n1"] }, { "at_ms": 1800, "release": ["n0", "n1"] }"#,
    );
    let history = |text: &str| {
        let scenario = scenario::parse(text, "hold.json").unwrap();
        let result = run::run(&scenario, 1, None).unwrap();
        let mut bytes = Vec::new();
        result.output.history.write_jsonl(&mut bytes).unwrap();
        (bytes, result.output.stats.held)
    };
    let (a, held_a) = history(&text);
    let (b, held_b) = history(&released);
    assert!(held_a > 10);
    assert_eq!(held_a, held_b);
    assert!(a == b, "the two runs differ");
    // Without the release, the link stays clogged until the workload ends: more held.
    let open = text.replace(window, r#"{ "at_ms": 800, "hold": ["n0", "n1"] }"#);
    let (_, held_open) = history(&open);
    assert!(held_open > held_a, "{held_open} vs {held_a}");
    // A node hold ends with a release of the node.
    let node = text.replace(
        window,
        r#"{ "at_ms": 800, "hold_node": "n1" }, { "at_ms": 1000, "release": "n1" }"#,
    );
    let (_, held_node) = history(&node);
    assert!(held_node > 0);
    let late = text.replace(
        window,
        r#"{ "at_ms": 800, "until_ms": 900, "hold": ["n0", "n1"] }, { "at_ms": 1000, "release": ["n0", "n1"] }"#,
    );
    let err = scenario::parse(&late, "hold.json").unwrap_err().to_string();
    assert!(err.contains("nothing to release"), "{err}");
}

#[test]
fn corrupt_messages_are_counted_apart() {
    let r = report_of("multi-leader/corrupt-messages-retransmitted.json", 1);
    let share = r.messages.dropped_corrupt as f64 / r.messages.sent as f64;
    assert!((0.07..0.13).contains(&share), "{share}");
    assert_eq!(r.messages.dropped, r.messages.dropped_corrupt);
}

#[test]
fn unsynced_writes_are_lost_in_a_crash_and_synced_ones_are_not() {
    let periodic = report_of("single-node/fsync-periodic-loses-writes.json", 1);
    assert!(periodic.sim.storage_records_lost > 0);
    assert!(periodic.anomalies["lost_write"] > 0);
    let always = report_of("single-node/crash-restart.json", 7);
    assert_eq!(always.sim.storage_records_lost, 0);
    assert_eq!(always.anomalies["lost_write"], 0);
}

#[test]
fn every_new_fault_kind_is_refused_when_malformed() {
    let base = |fault: &str| {
        format!(
            r#"{{"name": "f", "nodes": 3, "duration_ms": 1000, "protocol": {{"kind": "single-leader"}}, "faults": [{fault}]}}"#
        )
    };
    for (fault, message) in [
        (
            r#"{"at_ms": 10, "hold": ["n0", "n0"], "until_ms": 20}"#,
            "$.faults[0].hold: hold needs two different nodes (got n0 twice)",
        ),
        (
            r#"{"at_ms": 10, "release": "n0"}"#,
            "$.faults[0].release: nothing to release: no earlier fault holds a hold_node of n0 at this time",
        ),
        (
            r#"{"at_ms": 10, "release": ["n0", "n0"]}"#,
            "$.faults[0].release: release needs two different nodes (got n0 twice)",
        ),
        (r#"{"at_ms": 10, "release": 3}"#, "$.faults[0].release"),
        (
            r#"{"at_ms": 10, "swizzle": ["n0"], "until_ms": 20}"#,
            "$.faults[0].swizzle: swizzle needs at least 2 nodes",
        ),
        (
            r#"{"at_ms": 10, "reorder": {"extra_ms": 0}, "until_ms": 20}"#,
            "$.faults[0].reorder.extra_ms",
        ),
        (
            r#"{"at_ms": 10, "resume": "n7"}"#,
            "$.faults[0].resume: unknown node `n7`",
        ),
        (
            r#"{"at_ms": 10, "pause": "n1", "until_ms": 5}"#,
            "$.faults[0].until_ms: until_ms (5) must be after at_ms (10)",
        ),
    ] {
        let err = scenario::parse(&base(fault), "f.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("f.json: {message}")),
            "{fault}: {err}"
        );
    }
    let storage = r#"{"name": "f", "nodes": 2, "duration_ms": 1000, "protocol": {"kind": "single-leader"},
                      "storage": {"nodes": [{"node": "n5", "sync_interval_ms": 10}]}}"#;
    let err = scenario::parse(storage, "f.json").unwrap_err().to_string();
    assert!(
        err.starts_with("f.json: $.storage.nodes[0].node: unknown node `n5`"),
        "{err}"
    );
    let twice = r#"{"name": "f", "nodes": 2, "duration_ms": 1000, "protocol": {"kind": "single-leader"},
                    "storage": {"nodes": [{"node": "n1", "sync_interval_ms": 10}, {"node": "n1", "sync_interval_ms": 0}]}}"#;
    let err = scenario::parse(twice, "f.json").unwrap_err().to_string();
    assert_eq!(
        err,
        "f.json: $.storage.nodes[1].node: n1 is already set by $.storage.nodes[0]"
    );
}
