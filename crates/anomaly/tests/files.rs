//! Data-driven tests on history files, read the way `repsim check` reads them
//! (`History::from_jsonl`, `FinalState::from_json`). Each case is a history text, an
//! optional final-state text, and the expected result as JSON: `{kind: [flagged
//! indexes]}` for the kinds expected to flag (every other checked kind must find
//! nothing), `"skipped": {kind: text the reason contains}`, or `"error": text` for a
//! history that must be refused.

use repsim_anomaly::{Input, Kind, Options};
use repsim_history::{FinalState, History};
use serde_json::{Value, json};

/// Checks `jsonl` (with `final_json` if given) and compares with `expected`.
fn check(jsonl: &str, final_json: Option<&str>, expected: Value) {
    let outcome = History::from_jsonl(jsonl, "history.jsonl").and_then(|mut history| {
        let state = final_json
            .map(|text| FinalState::from_json(text, "final.json", &mut history))
            .transpose()?;
        let input = Input {
            history: &history,
            final_state: state.as_ref(),
            roles: None,
        };
        repsim_anomaly::check(&input, &Options { max_examples: 1000 })
    });
    if let Some(error) = expected.get("error") {
        let error = error.as_str().expect("error is a string");
        match outcome {
            Err(e) => assert!(
                e.to_string().contains(error),
                "{e} does not mention {error:?}"
            ),
            Ok(findings) => panic!("expected an error mentioning {error:?}, got {findings:?}"),
        }
        return;
    }
    let findings = outcome.expect("a well-formed history");
    let skipped = expected.get("skipped").cloned().unwrap_or(json!({}));
    for kind in Kind::ALL {
        if let Some(reason) = skipped.get(kind.name()) {
            let reason = reason.as_str().expect("a reason is a string");
            let (_, got) = findings
                .skipped
                .iter()
                .find(|(k, _)| *k == kind)
                .unwrap_or_else(|| panic!("{kind} should be skipped: {:?}", findings.counts));
            assert!(
                got.contains(reason),
                "{kind} skipped for {got:?}, expected {reason:?}"
            );
            continue;
        }
        if !findings.counts.contains_key(&kind) {
            // Kinds whose input was not given (split_brain here; lost_write and
            // divergence without a final state) are skipped, and must be expected so.
            assert!(
                kind == Kind::SplitBrain || final_json.is_none(),
                "{kind} was skipped: {:?}",
                findings.skipped
            );
            continue;
        }
        let want: Vec<u64> = expected
            .get(kind.name())
            .map(|list| serde_json::from_value(list.clone()).expect("a list of indexes"))
            .unwrap_or_default();
        assert_eq!(
            findings.example_indexes(kind),
            want,
            "{kind}: {:?}",
            findings.examples.get(&kind)
        );
        assert_eq!(findings.count(kind), want.len() as u64, "{kind} count");
    }
    // The check JSON carries the same numbers.
    let json = findings.to_check_json();
    for (kind, count) in &findings.counts {
        assert_eq!(json["anomalies"][kind.name()], json!(count));
    }
}

const SPEC_EXAMPLE: &str = r#"{"index":0,"time_ms":1.5,"process":2,"type":"invoke","f":"write","key":"k3","value":"w17","node":"n0"}
{"index":1,"time_ms":4.25,"process":2,"type":"ok","f":"write","key":"k3","value":"w17","node":"n0"}
{"index":2,"time_ms":9.0,"process":1,"type":"invoke","f":"read","key":"k3","value":null,"node":"n2"}
{"index":3,"time_ms":12.0,"process":1,"type":"ok","f":"read","key":"k3","value":"w17","node":"n2"}
"#;

#[test]
fn spec_example_has_no_anomaly() {
    check(SPEC_EXAMPLE, None, json!({}));
    check(
        SPEC_EXAMPLE,
        Some(r#"{"n0": {"k3": "w17"}, "n1": {"k3": "w17"}}"#),
        json!({}),
    );
}

#[test]
fn flags_use_the_file_indexes() {
    let history = r#"{"index":10,"process":0,"type":"invoke","f":"write","key":"k","value":"w1"}
{"index":11,"process":0,"type":"ok","f":"write","key":"k","value":"w1"}
{"index":20,"process":0,"type":"invoke","f":"write","key":"k","value":"w2"}
{"index":21,"process":0,"type":"ok","f":"write","key":"k","value":"w2"}
{"index":30,"process":1,"type":"invoke","f":"read","key":"k","value":null}
{"index":31,"process":1,"type":"ok","f":"read","key":"k","value":"w1"}
"#;
    check(
        history,
        None,
        json!({"stale_read": [30], "linearizability": [30]}),
    );
}

#[test]
fn final_state_gives_lost_writes_and_divergence() {
    let history = r#"{"process":0,"type":"invoke","f":"write","key":"a","value":"w1"}
{"process":0,"type":"ok","f":"write","key":"a","value":"w1"}
{"process":0,"type":"invoke","f":"write","key":"a","value":"w2"}
{"process":0,"type":"ok","f":"write","key":"a","value":"w2"}
{"process":1,"type":"invoke","f":"write","key":"b","value":"w3"}
{"process":1,"type":"info","f":"write","key":"b","value":"w3"}
"#;
    let final_json = r#"{"n0": {"a": "w1", "b": ["w3"]}, "n1": {"a": null, "b": null}}"#;
    check(
        history,
        Some(final_json),
        json!({"lost_write": [2], "divergence": [0, 4], "unavailable": [4]}),
    );
    // The same final state inside a report.json.
    let report = format!(r#"{{"scenario": "x", "seed": 1, "final_state": {final_json}}}"#);
    check(
        history,
        Some(&report),
        json!({"lost_write": [2], "divergence": [0, 4], "unavailable": [4]}),
    );
}

#[test]
fn values_from_elsewhere_and_cas() {
    // Integer values, numeric keys, a cas from 1 to 2, then a read of the old 1.
    let history = r#"{"process":0,"type":"invoke","f":"write","key":7,"value":1}
{"process":0,"type":"ok","f":"write","key":7,"value":1}
{"process":0,"type":"invoke","f":"cas","key":7,"value":[1,2]}
{"process":0,"type":"ok","f":"cas","key":7,"value":[1,2]}
{"process":1,"type":"invoke","f":"read","key":7,"value":null}
{"process":1,"type":"ok","f":"read","key":7,"value":1}
{"process":1,"type":"invoke","f":"read","key":7,"value":null}
{"process":1,"type":"ok","f":"read","key":7,"value":3}
"#;
    // Linearizability flags the key once, at its first violation (the stale read).
    check(
        history,
        None,
        json!({"stale_read": [4], "phantom_read": [6], "linearizability": [4]}),
    );
}

#[test]
fn repeated_values_are_reported_as_skips() {
    let history = r#"{"process":0,"type":"invoke","f":"write","key":"k","value":1}
{"process":0,"type":"ok","f":"write","key":"k","value":1}
{"process":0,"type":"invoke","f":"write","key":"k","value":1}
{"process":0,"type":"fail","f":"write","key":"k","value":1}
"#;
    let reason = "values repeat (e.g. 1 written at indexes 0 and 2)";
    check(
        history,
        Some(r#"{"n0": {"k": 1}}"#),
        json!({
            "unavailable": [2],
            "skipped": {
                "stale_read": reason, "read_your_writes": reason, "monotonic_read": reason,
                "consistent_prefix": reason, "lost_write": reason, "phantom_read": reason,
                "divergence": reason,
            },
        }),
    );
}

#[test]
fn malformed_histories_are_refused() {
    let history = r#"{"process":0,"type":"ok","f":"read","key":"k","value":null}
"#;
    check(
        history,
        None,
        json!({"error": "event at index 0: ok for process 0 which has no operation in flight"}),
    );
}

/// A counter `c` and a set `s`, as `repsim check` reads them from files: increments of
/// 2 (ok), 3 (ok), 4 (info) and 5 (fail), so at least 5 and at most 9 were added; adds
/// of e1 and e2 (ok), a remove of e1 that completed before the add of e1 began, and a
/// failed remove of e2.
const COUNTER_AND_SET: &str = r#"{"index":0,"process":0,"type":"invoke","f":"increment","key":"c","value":2}
{"index":1,"process":0,"type":"ok","f":"increment","key":"c","value":2}
{"index":2,"process":1,"type":"invoke","f":"increment","key":"c","value":3}
{"index":3,"process":1,"type":"ok","f":"increment","key":"c","value":3}
{"index":4,"process":1,"type":"invoke","f":"read","key":"c","value":null}
{"index":5,"process":1,"type":"ok","f":"read","key":"c","value":0}
{"index":6,"process":0,"type":"invoke","f":"increment","key":"c","value":4}
{"index":7,"process":0,"type":"info","f":"increment","key":"c","value":4}
{"index":8,"process":2,"type":"invoke","f":"increment","key":"c","value":5}
{"index":9,"process":2,"type":"fail","f":"increment","key":"c","value":5}
{"index":10,"process":3,"type":"invoke","f":"remove","key":"s","value":"e1"}
{"index":11,"process":3,"type":"ok","f":"remove","key":"s","value":"e1"}
{"index":12,"process":3,"type":"invoke","f":"add","key":"s","value":"e1"}
{"index":13,"process":3,"type":"ok","f":"add","key":"s","value":"e1"}
{"index":14,"process":3,"type":"invoke","f":"add","key":"s","value":"e2"}
{"index":15,"process":3,"type":"ok","f":"add","key":"s","value":"e2"}
{"index":16,"process":4,"type":"invoke","f":"remove","key":"s","value":"e2"}
{"index":17,"process":4,"type":"fail","f":"remove","key":"s","value":"e2"}
{"index":18,"process":4,"type":"invoke","f":"read","key":"s","value":null}
{"index":19,"process":4,"type":"ok","f":"read","key":"s","value":[]}
"#;

#[test]
fn counters_and_sets_from_files() {
    let registers_skipped = json!({
        "stale_read": "no read/write register keys", "read_your_writes": "no read/write",
        "monotonic_read": "no read/write", "consistent_prefix": "no read/write",
        "lost_write": "no read/write", "phantom_read": "no read/write",
        "linearizability": "no read/write register keys in this history",
    });
    let with = |more: Value| {
        let mut expected = more;
        expected["skipped"] = registers_skipped.clone();
        expected["unavailable"] = json!([6, 8, 16]);
        expected
    };
    // Everything acknowledged kept on both nodes, the info increment on one only (so the
    // totals diverge); the read of 0 is no phantom, the empty set read no stale read.
    check(
        COUNTER_AND_SET,
        Some(r#"{"n0": {"c": 5, "s": ["e2", "e1"]}, "n1": {"c": 9, "s": ["e1", "e2"]}}"#),
        with(json!({"divergence": [0]})),
    );
    // Acknowledged increments short on every node, e1 lost everywhere, a total that
    // counts the failed increment too.
    check(
        COUNTER_AND_SET,
        Some(r#"{"n0": {"c": 4, "s": ["e2"]}, "n1": {"c": null, "s": "e2"}}"#),
        with(json!({"divergence": [0], "lost_increment": [0], "lost_add": [12]})),
    );
    check(
        COUNTER_AND_SET,
        Some(r#"{"n0": {"c": 14, "s": ["e1", "e2"]}}"#),
        with(json!({"phantom_increment": [0]})),
    );
    // Without a final state, the counter and set kinds are skipped like lost_write.
    let mut expected = with(json!({}));
    expected["skipped"]["lost_increment"] = json!("no final state given");
    expected["skipped"]["phantom_increment"] = json!("no final state given");
    expected["skipped"]["lost_add"] = json!("no final state given");
    expected["skipped"]["divergence"] = json!("no final state given");
    check(COUNTER_AND_SET, None, expected);
}
