//! The leaderless protocol with `conflict: "crdt"`: counters and add-wins sets replicated
//! as merged states. Under random crashes, partitions, lag, pauses and held messages,
//! with strict quorums, with sloppy quorums and hinted handoff, with partial quorums
//! and anti-entropy, and across ring membership changes:
//!
//! - the run goes quiet, and every home replica of a key ends with the same value;
//! - a counter's final total counts every acknowledged increment and nothing that
//!   certainly did not happen: `sum(ok) <= total <= sum(ok + info)`;
//! - an acknowledged add is missing from the final set only if some remove of the same
//!   element that did not fail had not completed when the add was invoked (add wins
//!   over every remove that could not have seen it), and no element appears unadded;
//! - reads return nothing that was not (possibly) written and, with strict quorums, a
//!   counter read counts every increment acknowledged before it began.
//!
//! And the contrast: the same concurrent updates of one key as last-write-wins register
//! writes lose some, as counter increments lose none.
//!
//! The CRDT checks are computed here from the history and the final state, so they do
//! not depend on the anomaly checkers' support for CRDT workloads.

use std::collections::{BTreeMap, BTreeSet};

use repsim_anomaly::Kind;
use repsim_history::{Function, KeyId, Operation, Outcome, Val, ValueId};
use repsim_leaderless::Ring;
use repsim_runner::{run, scenario};
use repsim_sim::{RunOutcome, RunOutput};
use serde_json::{Value, json};

const SEEDS: std::ops::Range<u64> = 1..7;

const KEYS: u32 = 10;

/// The random nemesis of every run here.
fn nemesis() -> Value {
    json!({ "at_ms": 0, "until_ms": 1500, "random": {
        "kinds": ["crash", "partition", "lag", "pause", "hold"],
        "mean_interval_ms": 300, "max_fault_ms": 400 } })
}

/// Five nodes, `n = 3`, eight clients on [`KEYS`] keys for 1.5 s, `protocol` (leaderless,
/// made `conflict: "crdt"`), the counter workload or the set workload on eight elements.
fn scenario(protocol: Value, set: bool, faults: Vec<Value>) -> scenario::Scenario {
    let mut protocol = protocol;
    protocol["kind"] = json!("leaderless");
    protocol["n"] = json!(3);
    protocol["conflict"] = json!("crdt");
    let mut clients = json!({ "count": 8, "keys": KEYS, "read_fraction": 0.3,
        "think_ms": { "dist": "constant", "ms": 5 }, "timeout_ms": 200, "reads_from": "any" });
    if set {
        clients["workload"] = json!("set");
        clients["elements"] = json!(8);
    } else {
        clients["workload"] = json!("counter");
    }
    let doc = json!({
        "name": "leaderless-crdt", "nodes": 5, "duration_ms": 1500,
        "protocol": protocol,
        "network": { "latency": { "dist": "exponential", "mean_ms": 2 } },
        "clients": clients,
        "faults": faults,
    });
    scenario::parse(&doc.to_string(), "leaderless-crdt.json").unwrap_or_else(|e| panic!("{e}"))
}

/// Simulates without the anomaly checkers (this file computes its own checks) and
/// requires the run to end quiet.
fn simulate(scenario: &scenario::Scenario, seed: u64) -> RunOutput {
    let (_, output) = run::simulate(scenario, seed, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.outcome, RunOutcome::Quiet, "seed {seed}");
    output
}

/// The ring of the nodes in the final state (the final members).
fn final_ring(output: &RunOutput) -> Ring {
    let members: Vec<_> = output.final_state.nodes.keys().copied().collect();
    Ring::of(&members, 3, key_count(output))
}

fn key_count(output: &RunOutput) -> u32 {
    output.history.names.key_count() as u32
}

/// The home replicas of each key hold the same value; returns each key's value, as JSON
/// texts (a counter's total, or the set's elements).
fn agreed_values(output: &RunOutput, what: &str) -> BTreeMap<KeyId, Vec<String>> {
    let ring = final_ring(output);
    let table = &output.history.values;
    let mut agreed = BTreeMap::new();
    for k in 0..key_count(output) {
        let key = KeyId(k);
        let copies: BTreeSet<Vec<String>> = ring
            .home(key)
            .iter()
            .map(|node| {
                let values = output.final_state.nodes[node]
                    .get(&key)
                    .unwrap_or_else(|| panic!("{what}: {node} does not list k{k}"));
                let mut json: Vec<String> = values
                    .iter()
                    .map(|&v| table.to_json(v).to_string())
                    .collect();
                json.sort();
                json
            })
            .collect();
        assert_eq!(
            copies.len(),
            1,
            "{what}: k{k}'s replicas differ: {copies:?}"
        );
        agreed.insert(key, copies.into_iter().next().unwrap());
    }
    agreed
}

fn operations(output: &RunOutput) -> Vec<Operation> {
    output.history.operations().expect("a well-formed history")
}

/// Per key, the sum of the `ok` increments and of every increment that did not `fail`.
fn increment_bounds(output: &RunOutput) -> BTreeMap<KeyId, (i64, i64)> {
    let mut bounds: BTreeMap<KeyId, (i64, i64)> = BTreeMap::new();
    for op in operations(output) {
        if op.f != Function::Increment {
            continue;
        }
        let Val::Int(amount) = op.value else {
            panic!("an increment without an amount: {op:?}");
        };
        let entry = bounds.entry(op.key).or_default();
        if op.outcome == Outcome::Ok {
            entry.0 += amount;
        }
        if op.outcome != Outcome::Fail {
            entry.1 += amount;
        }
    }
    bounds
}

/// The counter checks; returns (acknowledged increments, total of the final values).
fn check_counters(output: &RunOutput, what: &str) -> (usize, i64) {
    let agreed = agreed_values(output, what);
    let bounds = increment_bounds(output);
    let mut sum = 0;
    for (key, value) in &agreed {
        let total: i64 = match value.as_slice() {
            [total] => total.parse().unwrap(),
            other => panic!("{what}: {key:?} is not a total: {other:?}"),
        };
        let (ok, not_failed) = bounds.get(key).copied().unwrap_or_default();
        assert!(
            ok <= total && total <= not_failed,
            "{what}: {key:?} totals {total}, acknowledged {ok}, at most {not_failed}"
        );
        sum += total;
    }
    let acknowledged = operations(output)
        .iter()
        .filter(|op| op.f == Function::Increment && op.outcome == Outcome::Ok)
        .count();
    (acknowledged, sum)
}

/// Counter reads: a read returns at most the increments that did not fail and were
/// invoked before it completed and, with strict quorums (`w + r > n`, no sloppy quorum:
/// the read quorum meets every acknowledged increment's write quorum), at least those
/// acknowledged before it was invoked.
fn check_counter_reads(output: &RunOutput, strict: bool, what: &str) {
    let ops = operations(output);
    let table = &output.history.values;
    let increments: Vec<(&Operation, i64)> = ops
        .iter()
        .filter(|op| op.f == Function::Increment)
        .map(|op| match op.value {
            Val::Int(amount) => (op, amount),
            _ => panic!("{what}: an increment without an amount: {op:?}"),
        })
        .collect();
    let mut reads = 0;
    for read in ops.iter().filter(|op| op.f == Function::Read) {
        if read.outcome != Outcome::Ok {
            continue;
        }
        let Val::One(value) = read.value else {
            panic!("{what}: a counter read without a total: {read:?}");
        };
        let total = table.to_json(value).as_i64().expect("a total");
        let completion = read.completion.expect("an ok read completed");
        let (mut low, mut high) = (0, 0);
        for &(inc, amount) in &increments {
            if inc.key != read.key {
                continue;
            }
            if inc.outcome == Outcome::Ok && inc.completion.is_some_and(|c| c < read.invoke) {
                low += amount;
            }
            if inc.outcome != Outcome::Fail && inc.invoke < completion {
                high += amount;
            }
        }
        assert!(
            total <= high && (!strict || total >= low),
            "{what}: the read at {} of {:?} returned {total}, expected {low}..={high}",
            read.invoke,
            read.key
        );
        reads += 1;
    }
    assert!(reads > 50, "{what}: {reads} ok reads");
}

/// Set reads: every element a read returns was added by an add that did not fail and was
/// invoked before the read completed.
fn check_set_reads(output: &RunOutput, what: &str) {
    let ops = operations(output);
    let mut reads = 0;
    for read in ops.iter().filter(|op| op.f == Function::Read) {
        if read.outcome != Outcome::Ok {
            continue;
        }
        let completion = read.completion.expect("an ok read completed");
        for &element in output.history.values_of(&read.value) {
            let added = ops.iter().any(|add| {
                add.f == Function::Add
                    && add.key == read.key
                    && add.value == Val::One(element)
                    && add.outcome != Outcome::Fail
                    && add.invoke < completion
            });
            assert!(
                added,
                "{what}: the read at {} returned {element:?}, never added",
                read.invoke
            );
        }
        reads += 1;
    }
    assert!(reads > 50, "{what}: {reads} ok reads");
}

/// The set checks; returns (acknowledged adds, of which missing from the final state).
fn check_sets(output: &RunOutput, what: &str) -> (usize, usize) {
    let agreed = agreed_values(output, what);
    let ops = operations(output);
    let element = |op: &Operation| match op.value {
        Val::One(e) => e,
        _ => panic!("{what}: an {} without an element: {op:?}", op.f.as_str()),
    };
    let table = &output.history.values;
    let present = |key: KeyId, e: ValueId| agreed[&key].contains(&table.to_json(e).to_string());
    let (mut acknowledged, mut missing) = (0, 0);
    for add in ops.iter().filter(|op| op.f == Function::Add) {
        if add.outcome != Outcome::Ok {
            continue;
        }
        acknowledged += 1;
        let e = element(add);
        if present(add.key, e) {
            continue;
        }
        missing += 1;
        let excused = ops.iter().any(|remove| {
            remove.f == Function::Remove
                && remove.key == add.key
                && element(remove) == e
                && remove.outcome != Outcome::Fail
                && remove.completion.is_none_or(|c| c > add.invoke)
        });
        assert!(
            excused,
            "{what}: the ok add at {} of {e:?} to {:?} is gone, and no remove could have seen it",
            add.invoke, add.key
        );
    }
    // Nothing appears from nowhere: every element held was added by an add that did not
    // fail.
    for (&key, elements) in &agreed {
        for json in elements {
            let held: Value = serde_json::from_str(json).expect("JSON");
            let added = ops.iter().any(|op| {
                op.f == Function::Add
                    && op.key == key
                    && op.outcome != Outcome::Fail
                    && table.to_json(element(op)) == held
            });
            assert!(added, "{what}: {key:?} holds {json}, never added");
        }
    }
    (acknowledged, missing)
}

/// Runs `protocol` under the nemesis (plus `extra` faults) for both workloads over
/// [`SEEDS`], checking everything; across the seeds some acknowledged add must have been
/// removed (or the removes were never exercised).
fn check_both_workloads(protocol: &Value, extra: &[Value], name: &str) {
    let strict = protocol["w"].as_u64().unwrap() + protocol["r"].as_u64().unwrap() > 3
        && protocol["sloppy_quorum"] != json!(true);
    let mut faults = vec![nemesis()];
    faults.extend(extra.iter().cloned());
    let counters = scenario(protocol.clone(), false, faults.clone());
    let sets = scenario(protocol.clone(), true, faults);
    let mut removed = 0;
    for seed in SEEDS {
        let what = format!("{name} counter seed {seed}");
        let output = simulate(&counters, seed);
        let (acknowledged, total) = check_counters(&output, &what);
        check_counter_reads(&output, strict, &what);
        assert!(acknowledged > 100 && total > 0, "{what}: {acknowledged} ok");
        let what = format!("{name} set seed {seed}");
        let output = simulate(&sets, seed);
        let (acknowledged, missing) = check_sets(&output, &what);
        check_set_reads(&output, &what);
        assert!(acknowledged > 100, "{what}: {acknowledged} ok adds");
        removed += missing;
    }
    assert!(removed > 0, "{name}: no add was ever removed");
}

#[test]
fn leaderless_crdt_n3_w2_r2_random_faults_lose_no_increment_and_no_unseen_add() {
    let protocol = json!({ "w": 2, "r": 2, "anti_entropy_ms": 50 });
    check_both_workloads(&protocol, &[], "strict");
}

#[test]
fn leaderless_crdt_sloppy_quorum_hinted_handoff_random_faults_lose_nothing() {
    let protocol = json!({ "w": 2, "r": 2, "sloppy_quorum": true, "hinted_handoff": true,
                           "anti_entropy_ms": 50 });
    check_both_workloads(&protocol, &[], "sloppy");
}

#[test]
fn leaderless_crdt_n3_w1_r1_anti_entropy_random_faults_converge_and_lose_nothing() {
    let protocol = json!({ "w": 1, "r": 1, "read_repair": false, "anti_entropy_ms": 50 });
    check_both_workloads(&protocol, &[], "partial");
}

#[test]
fn leaderless_crdt_ring_membership_changes_move_the_merged_states() {
    let protocol = json!({ "w": 2, "r": 2, "anti_entropy_ms": 50 });
    let changes = [
        json!({ "at_ms": 500, "add_node": "n5" }),
        json!({ "at_ms": 1000, "remove_node": "n1" }),
    ];
    check_both_workloads(&protocol, &changes, "membership");
}

/// Eight clients updating one key through three nodes (`n = 3`, `w = r = 2`). n0's clock
/// runs a second ahead until 1000 ms: under last write wins, the last write n0
/// coordinated before then carries a timestamp from the future that beats every write of
/// the last 500 ms.
fn one_key(workload: &str, protocol: Value) -> scenario::Scenario {
    let doc = json!({
        "name": "leaderless-one-key", "nodes": 3, "duration_ms": 1500,
        "protocol": protocol,
        "network": { "latency": { "dist": "exponential", "mean_ms": 2 } },
        "clients": { "count": 8, "keys": 1, "read_fraction": 0.3, "workload": workload,
                     "think_ms": { "dist": "constant", "ms": 5 }, "timeout_ms": 200 },
        "faults": [ { "at_ms": 0, "until_ms": 1000,
                      "clock_skew": { "node": "n0", "offset_ms": 1000 } } ],
    });
    scenario::parse(&doc.to_string(), "leaderless-one-key.json").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn leaderless_one_key_clock_skew_lww_writes_are_lost_and_crdt_increments_are_not() {
    let lww = one_key(
        "register",
        json!({ "kind": "leaderless", "n": 3, "w": 2, "r": 2, "versions": "lww" }),
    );
    let crdt = one_key(
        "counter",
        json!({ "kind": "leaderless", "n": 3, "w": 2, "r": 2, "conflict": "crdt" }),
    );
    for seed in SEEDS {
        let result = run::run(&lww, seed, None).unwrap();
        assert_eq!(result.output.outcome, RunOutcome::Quiet);
        let lost = result.findings.count(Kind::LostWrite);
        assert!(
            lost > 100,
            "seed {seed}: last write wins lost only {lost} writes"
        );
        // The same updates as increments: a merge keeps every one, whatever the clocks.
        let output = simulate(&crdt, seed);
        let what = format!("one key seed {seed}");
        let (acknowledged, total) = check_counters(&output, &what);
        let (ok, not_failed) = increment_bounds(&output)[&KeyId(0)];
        assert_eq!(
            (ok, total),
            (not_failed, not_failed),
            "{what}: every one counts"
        );
        assert!(acknowledged > 500, "{what}: {acknowledged}");
    }
}
