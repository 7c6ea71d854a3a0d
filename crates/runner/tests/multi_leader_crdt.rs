//! Multi-leader `conflict: "crdt"` under a random nemesis, for every topology, both
//! workloads (counters, add-wins sets) and both causality settings: every run goes
//! quiet, every leader ends with the same counters and sets, no acknowledged increment
//! or add is lost, and nothing is counted that no client asked for.
//!
//! The bounds are computed from the history alone, so they hold whatever the protocol's
//! internals:
//!
//! - counters: each key's final total is at least the sum of its `ok` increments (they
//!   were acknowledged, so none may be lost) and at most the sum of every increment not
//!   `fail`ed (an `info` one may or may not have happened); no `ok` read ever returned
//!   more than the final total (counters only grow).
//! - sets: an `ok` add of `e` to `k` may be missing at the end only if some remove of
//!   `e` from `k` that was not `fail`ed had not completed before the add was invoked
//!   (a remove that completed before the add began cannot have seen it: add wins).

use repsim_history::{Function, History, KeyId, Operation, Outcome, Val, ValueId};
use repsim_runner::{run, scenario};
use repsim_sim::{NodeId, RunOutcome, RunOutput};
use std::collections::BTreeMap;

/// A multi-leader scenario from its parts (JSON snippets).
fn scenario_text(nodes: u16, protocol: &str, clients: &str, faults: &str) -> String {
    format!(
        r#"{{
          "name": "multi-leader-crdt-test", "seed": 1, "nodes": {nodes}, "duration_ms": 1500,
          "protocol": {{ "kind": "multi-leader", "conflict": "crdt", {protocol} }},
          "network": {{ "latency": {{ "dist": "exponential", "mean_ms": 3 }},
                        "drop_rate": 0.05, "duplicate_rate": 0.05 }},
          "clients": {clients},
          "faults": [ {faults} ]
        }}"#
    )
}

/// Simulates without the anomaly checkers: the checks here read the history and the
/// final state themselves (convergence included).
fn run_text(text: &str, seed: u64) -> RunOutput {
    let scenario = scenario::parse(text, "multi-leader-crdt-test.json").unwrap();
    run::simulate(&scenario, seed, None).unwrap().1
}

fn counter(output: &RunOutput, name: &str) -> u64 {
    output.counters.get(name).copied().unwrap_or(0)
}

const TOPOLOGIES: [&str; 4] = [
    r#""topology": "all-to-all""#,
    r#""topology": "circular""#,
    r#""topology": "star""#,
    r#""topology": "star", "root": "n2""#,
];

const WORKLOADS: [&str; 2] = [
    r#""workload": "counter""#,
    r#""workload": "set", "elements": 4"#,
];

const NEMESIS: &str = r#"{ "at_ms": 0, "until_ms": 1500, "random": {
      "kinds": ["crash", "partition", "lag", "pause", "hold"],
      "mean_interval_ms": 300, "max_fault_ms": 400 } }"#;

const SEEDS: u64 = 10;

/// An operation's completion position, or `u32::MAX` when it never completed.
fn completed_at(op: &Operation) -> u32 {
    op.completion.unwrap_or(u32::MAX)
}

/// Each node's final state, key → values (counter totals are interned numbers).
fn finals(output: &RunOutput) -> &BTreeMap<NodeId, BTreeMap<KeyId, Vec<ValueId>>> {
    &output.final_state.nodes
}

/// A counter total as the final state holds it.
fn total(history: &History, values: &[ValueId]) -> i64 {
    match values {
        [id] => history.values.to_json(*id).as_i64().expect("a number"),
        _ => panic!("a counter total is one number, got {values:?}"),
    }
}

/// The counter checks; returns the problems found.
fn check_counters(output: &RunOutput, ops: &[Operation]) -> Vec<String> {
    let history = &output.history;
    let mut problems = Vec::new();
    let nodes = finals(output);
    let Some((first, state)) = nodes.iter().next() else {
        return vec!["no node is up at the end".into()];
    };
    for (node, other) in nodes {
        if other != state {
            problems.push(format!(
                "{node} ends with {other:?}, {first} with {state:?}"
            ));
        }
    }
    // Per key: (sum of ok increments, sum of increments not failed, largest ok read).
    let mut bounds: BTreeMap<KeyId, (i64, i64, i64)> = BTreeMap::new();
    for op in ops {
        let entry = bounds.entry(op.key).or_default();
        match (op.f, op.value, op.outcome) {
            (Function::Increment, Val::Int(amount), outcome) => {
                if outcome == Outcome::Ok {
                    entry.0 += amount;
                }
                if outcome != Outcome::Fail {
                    entry.1 += amount;
                }
            }
            (Function::Read, Val::Int(read), Outcome::Ok) => entry.2 = entry.2.max(read),
            (Function::Increment, value, _) => problems.push(format!("increment of {value:?}")),
            _ => {}
        }
    }
    for (&key, &(acknowledged, attempted, read)) in &bounds {
        let Some(values) = state.get(&key) else {
            problems.push(format!("{first} has no total for {key:?}"));
            continue;
        };
        let total = total(history, values);
        if total < acknowledged {
            problems.push(format!(
                "{key:?}: total {total} < {acknowledged} acknowledged: increments lost"
            ));
        }
        if total > attempted {
            problems.push(format!(
                "{key:?}: total {total} > {attempted} invoked and not failed"
            ));
        }
        if read > total {
            problems.push(format!("{key:?}: a read returned {read} > final {total}"));
        }
    }
    problems
}

/// The set checks; returns the problems found.
fn check_sets(output: &RunOutput, ops: &[Operation]) -> Vec<String> {
    let mut problems = Vec::new();
    let nodes = finals(output);
    let Some((first, state)) = nodes.iter().next() else {
        return vec!["no node is up at the end".into()];
    };
    for (node, other) in nodes {
        if other != state {
            problems.push(format!(
                "{node} ends with {other:?}, {first} with {state:?}"
            ));
        }
    }
    for add in ops
        .iter()
        .filter(|op| op.f == Function::Add && op.outcome == Outcome::Ok)
    {
        let Val::One(element) = add.value else {
            problems.push(format!("add of {:?}", add.value));
            continue;
        };
        let present = state.get(&add.key).is_some_and(|es| es.contains(&element));
        let removed = ops.iter().any(|op| {
            op.f == Function::Remove
                && op.key == add.key
                && op.value == add.value
                && op.outcome != Outcome::Fail
                && completed_at(op) > add.invoke
        });
        if !present && !removed {
            problems.push(format!(
                "ok add of {element:?} to {:?} (invoked at {}) is gone, and no remove could have seen it",
                add.key, add.invoke
            ));
        }
    }
    problems
}

#[test]
fn no_increment_or_add_is_lost_and_every_leader_converges_under_a_random_nemesis() {
    let mut failures = Vec::new();
    let mut acknowledged = 0;
    for topology in TOPOLOGIES {
        for workload in WORKLOADS {
            for causality in ["none", "version-vectors"] {
                let protocol = format!(r#"{topology}, "causality": "{causality}""#);
                let clients = format!(
                    r#"{{ {workload}, "count": 8, "keys": 3, "read_fraction": 0.3,
                         "timeout_ms": 300, "reads_from": "any",
                         "think_ms": {{ "dist": "uniform", "min_ms": 0, "max_ms": 10 }} }}"#
                );
                let text = scenario_text(4, &protocol, &clients, NEMESIS);
                for seed in 0..SEEDS {
                    let output = run_text(&text, seed);
                    let what = format!("{protocol} {workload} seed {seed}");
                    if output.outcome != RunOutcome::Quiet {
                        failures.push(format!("{what}: {}", output.outcome.as_str()));
                    }
                    let ops = output.history.operations().unwrap();
                    acknowledged += ops
                        .iter()
                        .filter(|op| op.f.is_crdt_update() && op.outcome == Outcome::Ok)
                        .count();
                    let problems = if workload.contains("counter") {
                        check_counters(&output, &ops)
                    } else {
                        check_sets(&output, &ops)
                    };
                    failures.extend(problems.into_iter().map(|p| format!("{what}: {p}")));
                    if counter(&output, "update_loop_ignored") > 0 {
                        failures.push(format!("{what}: a write came back to a leader"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The nemesis left the clients room to work.
    assert!(
        acknowledged > 10_000,
        "only {acknowledged} acknowledged updates"
    );
}

#[test]
fn a_crashed_leader_restarts_with_its_counters_and_passes_on_what_it_owed() {
    // n1 relays the ring (n0 -> n1 -> n2 -> n0) and crashes with increments it had
    // acknowledged or received but not passed on; after its restart they all arrive.
    let text = scenario_text(
        3,
        r#""topology": "circular""#,
        r#"{ "workload": "counter", "count": 6, "keys": 2, "read_fraction": 0.2,
             "timeout_ms": 300, "reads_from": "sticky",
             "think_ms": { "dist": "constant", "ms": 5 } }"#,
        r#"{ "at_ms": 300, "crash": "n1" }, { "at_ms": 900, "restart": "n1" }"#,
    );
    for seed in 0..5 {
        let output = run_text(&text, seed);
        assert_eq!(output.outcome, RunOutcome::Quiet, "seed {seed}");
        assert!(counter(&output, "restarted") >= 1, "seed {seed}");
        let ops = output.history.operations().unwrap();
        let problems = check_counters(&output, &ops);
        assert!(problems.is_empty(), "seed {seed}: {problems:?}");
        assert_eq!(finals(&output).len(), 3, "seed {seed}: every leader is up");
    }
}

#[test]
fn the_checks_catch_a_lost_increment_and_a_lost_add() {
    // The checks above are not vacuous: leaders that lack an acknowledged increment, or
    // an add no remove could have seen, are reported.
    let clients = |workload: &str| {
        format!(
            r#"{{ {workload}, "count": 4, "keys": 1, "read_fraction": 0,
                 "timeout_ms": 300, "think_ms": {{ "dist": "constant", "ms": 5 }} }}"#
        )
    };
    let protocol = r#""topology": "all-to-all""#;
    let text = scenario_text(3, protocol, &clients(WORKLOADS[0]), "");
    let output = run_text(&text, 1);
    let mut ops = output.history.operations().unwrap();
    assert!(check_counters(&output, &ops).is_empty());
    // One more acknowledged increment than the leaders hold.
    let extra = ops
        .iter()
        .find(|op| op.f == Function::Increment && op.outcome == Outcome::Ok)
        .cloned()
        .unwrap();
    ops.push(extra);
    let problems = check_counters(&output, &ops);
    assert!(
        problems.iter().any(|p| p.contains("increments lost")),
        "{problems:?}"
    );

    let text = scenario_text(3, protocol, &clients(WORKLOADS[1]), "");
    let mut output = run_text(&text, 1);
    let ops = output.history.operations().unwrap();
    assert!(check_sets(&output, &ops).is_empty());
    // The last add of an element that no remove followed: take it out of every leader.
    let last_add = ops
        .iter()
        .rev()
        .find(|add| {
            add.f == Function::Add
                && add.outcome == Outcome::Ok
                && !ops.iter().any(|op| {
                    op.f == Function::Remove
                        && op.key == add.key
                        && op.value == add.value
                        && completed_at(op) > add.invoke
                })
        })
        .cloned()
        .unwrap();
    let Val::One(element) = last_add.value else {
        unreachable!()
    };
    for state in output.final_state.nodes.values_mut() {
        state
            .entry(last_add.key)
            .or_default()
            .retain(|&e| e != element);
    }
    let problems = check_sets(&output, &ops);
    assert!(
        problems.iter().any(|p| p.contains("is gone")),
        "{problems:?}"
    );
}

#[test]
fn counters_and_sets_survive_a_leader_joining_and_one_leaving() {
    // On a network that drops nothing, a leader removed while up has passed on every
    // update it acknowledged (see the replica's module docs): nothing is lost, and the
    // joining leader pulls every update before it serves clients.
    let mut failures = Vec::new();
    for topology in TOPOLOGIES {
        for workload in WORKLOADS {
            let clients = format!(
                r#"{{ {workload}, "count": 8, "keys": 3, "read_fraction": 0.3,
                     "timeout_ms": 300, "reads_from": "any",
                     "think_ms": {{ "dist": "constant", "ms": 5 }} }}"#
            );
            let text = scenario_text(
                4,
                topology,
                &clients,
                r#"{ "at_ms": 500, "add_node": "n4" }, { "at_ms": 1000, "remove_node": "n1" },
                   { "at_ms": 1200, "until_ms": 1400, "partition": [["n0", "n4"], ["n2", "n3"]] }"#,
            )
            .replace(
                r#""drop_rate": 0.05, "duplicate_rate": 0.05"#,
                r#""duplicate_rate": 0.05"#,
            );
            for seed in 0..5 {
                let output = run_text(&text, seed);
                let what = format!("{topology} {workload} seed {seed}");
                if output.outcome != RunOutcome::Quiet {
                    failures.push(format!("{what}: {}", output.outcome.as_str()));
                }
                let members: Vec<&NodeId> = finals(&output).keys().collect();
                if members != [&NodeId(0), &NodeId(2), &NodeId(3), &NodeId(4)] {
                    failures.push(format!("{what}: final members {members:?}"));
                }
                let ops = output.history.operations().unwrap();
                let problems = if workload.contains("counter") {
                    check_counters(&output, &ops)
                } else {
                    check_sets(&output, &ops)
                };
                failures.extend(problems.into_iter().map(|p| format!("{what}: {p}")));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
