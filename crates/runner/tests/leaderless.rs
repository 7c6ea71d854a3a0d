//! The leaderless protocol's claims that `expect` blocks cannot state: the staleness
//! curve of partial quorums falls with time since the write (and is flat at 1 for strict
//! quorums), anti-entropy and hinted handoff do the repairs themselves, a sloppy quorum
//! accepts the writes a strict one refuses, the final state lists only home keys when
//! `n` is below the cluster size, and random faults never crash a run or keep it from
//! going quiet.
//!
//! Each test runs a shipped scenario of `scenarios/leaderless/` (or a variant of it with
//! one protocol field changed) at its seed and at seeds 100..=104.

use std::path::Path;

use repsim_anomaly::Kind;
use repsim_leaderless::Ring;
use repsim_runner::{run, scenario};
use repsim_sim::{KeyId, RunOutcome};
use serde_json::Value;

const SEEDS: [u64; 6] = [1, 100, 101, 102, 103, 104];

fn path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../scenarios/leaderless/{name}.json"))
}

fn load(name: &str) -> scenario::Scenario {
    scenario::load(&path(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// The scenario `name` with `$.protocol.<field>` set to `value`.
fn variant(name: &str, field: &str, value: Value) -> scenario::Scenario {
    let text = std::fs::read_to_string(path(name)).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc["protocol"][field] = value;
    doc.as_object_mut().unwrap().remove("expect");
    scenario::parse(&doc.to_string(), &format!("{name}-variant.json")).unwrap()
}

fn run_at(scenario: &scenario::Scenario, seed: u64) -> run::RunResult {
    let result = run::run(scenario, seed, None).unwrap();
    assert_eq!(
        result.output.outcome,
        RunOutcome::Quiet,
        "{} seed {seed}",
        scenario.name
    );
    result
}

fn counter(result: &run::RunResult, name: &str) -> u64 {
    result.output.counters.get(name).copied().unwrap_or(0)
}

#[test]
fn leaderless_n3_w1_r1_staleness_falls_with_time_since_the_write() {
    let scenario = load("partial-quorum-stale-reads");
    for seed in SEEDS {
        let result = run_at(&scenario, seed);
        let curve = repsim_anomaly::staleness::curve(&result.output.history);
        let p = |i: usize| curve.bins[i].probability.unwrap();
        // Bins with enough reads to say something: every one up to [50, 100) ms.
        for i in 0..=6 {
            assert!(
                curve.bins[i].reads >= 50,
                "seed {seed}: {:?}",
                curve.bins[i]
            );
        }
        // Right after the acknowledgement a read misses the write more often than not
        // (only a read through the write's own coordinator sees it at once) ...
        assert!(p(0) < 0.6, "seed {seed}: {}", curve.summary());
        // ... and 50 ms later (five mean replication delays) almost never.
        assert!(p(6) > 0.98, "seed {seed}: {}", curve.summary());
        // In between the curve rises: each bin at least its predecessor, up to noise
        // (their 95% intervals overlap or it is higher).
        for i in 1..=6 {
            let (_, high) = curve.bins[i].ci95.unwrap();
            let (low_before, _) = curve.bins[i - 1].ci95.unwrap();
            assert!(
                high >= low_before,
                "seed {seed}, bin {i}: {}",
                curve.summary()
            );
        }
        assert!(
            p(5) - p(0) > 0.3,
            "seed {seed}: far from flat: {}",
            curve.summary()
        );
        assert!(result.findings.count(Kind::StaleRead) > 0);
    }
}

#[test]
fn leaderless_strict_quorums_have_a_flat_staleness_curve() {
    let scenario = load("quorum-no-stale-reads");
    for seed in SEEDS {
        let result = run_at(&scenario, seed);
        let curve = repsim_anomaly::staleness::curve(&result.output.history);
        assert!(curve.reads > 500, "seed {seed}");
        assert_eq!(
            curve.reads,
            curve.consistent,
            "seed {seed}: {}",
            curve.summary()
        );
    }
}

#[test]
fn leaderless_anti_entropy_repairs_by_comparing_digests() {
    let scenario = load("anti-entropy-repairs");
    let without = variant("anti-entropy-repairs", "anti_entropy_ms", Value::Null);
    let mut diverged_without = 0;
    for seed in SEEDS {
        let result = run_at(&scenario, seed);
        assert_eq!(result.findings.count(Kind::Divergence), 0, "seed {seed}");
        let repairs = counter(&result, "anti_entropy_repair");
        let bytes = counter(&result, "anti_entropy_bytes_compared");
        let exchanges = counter(&result, "anti_entropy_exchange");
        assert!(repairs > 0 && bytes > 0 && exchanges > 0, "seed {seed}");
        // Not a full copy every time: three pairs share 40 keys each, and a full
        // comparison of one pair costs 12 bytes a key; most exchanges compare roots only.
        assert!(
            bytes < exchanges * 12 * 40 / 4,
            "seed {seed}: {bytes} bytes over {exchanges} exchanges"
        );
        diverged_without += run_at(&without, seed).findings.count(Kind::Divergence);
    }
    assert!(diverged_without > 0, "without anti-entropy n2 stays behind");
}

#[test]
fn leaderless_read_repair_converges_and_without_it_replicas_diverge() {
    let scenario = load("read-repair-converges");
    let without = variant("read-repair-converges", "read_repair", Value::Bool(false));
    let mut diverged_without = 0;
    for seed in SEEDS {
        let result = run_at(&scenario, seed);
        assert_eq!(result.findings.count(Kind::Divergence), 0, "seed {seed}");
        assert!(counter(&result, "read_repair") > 0, "seed {seed}");
        diverged_without += run_at(&without, seed).findings.count(Kind::Divergence);
    }
    assert!(diverged_without > 0, "without read repair n2 stays behind");
}

#[test]
fn leaderless_hinted_handoff_delivers_the_hints_and_without_it_replicas_diverge() {
    let scenario = load("hinted-handoff-converges");
    let without = variant(
        "hinted-handoff-converges",
        "hinted_handoff",
        Value::Bool(false),
    );
    let mut diverged_without = 0;
    for seed in SEEDS {
        let result = run_at(&scenario, seed);
        assert!(counter(&result, "hinted_write") > 0, "seed {seed}");
        assert!(counter(&result, "hint_delivered") > 0, "seed {seed}");
        assert_eq!(result.findings.count(Kind::Divergence), 0, "seed {seed}");
        assert_eq!(result.findings.count(Kind::LostWrite), 0, "seed {seed}");
        let result = run_at(&without, seed);
        assert_eq!(counter(&result, "hint_delivered"), 0);
        diverged_without += result.findings.count(Kind::Divergence);
    }
    assert!(
        diverged_without > 0,
        "hints that never go home leave n2 behind"
    );
}

#[test]
fn leaderless_partition_strict_quorum_refuses_writes_that_sloppy_quorum_accepts() {
    let strict = load("strict-quorum-refuses-writes");
    let sloppy = load("sloppy-quorum-stays-available");
    let failed_writes = |result: &run::RunResult| -> u64 {
        let ops = result.output.history.operations().unwrap();
        ops.iter()
            .filter(|op| op.f == repsim_history::Function::Write)
            .filter(|op| op.outcome != repsim_history::Outcome::Ok)
            .count() as u64
    };
    for seed in SEEDS {
        let refused = failed_writes(&run_at(&strict, seed));
        let sloppy_result = run_at(&sloppy, seed);
        let accepted = failed_writes(&sloppy_result);
        assert!(
            refused >= 50,
            "seed {seed}: strict quorum failed {refused} writes"
        );
        assert!(
            accepted * 10 <= refused,
            "seed {seed}: sloppy {accepted} vs strict {refused} failed writes"
        );
        assert!(counter(&sloppy_result, "hinted_write") > 0, "seed {seed}");
        assert!(counter(&sloppy_result, "hint_delivered") > 0, "seed {seed}");
    }
}

#[test]
fn leaderless_n3_of_6_final_state_lists_only_home_keys() {
    let scenario = load("ring-placement-n3-of-6");
    let keys = scenario.clients.keys;
    let ring = Ring::new(6, 3, keys);
    for seed in SEEDS {
        let result = run_at(&scenario, seed);
        let state = &result.output.final_state;
        assert_eq!(state.nodes.len(), 6);
        for (&node, map) in &state.nodes {
            let listed: Vec<KeyId> = map.keys().copied().collect();
            assert_eq!(listed, ring.home_keys(node), "seed {seed}, {node}");
        }
        for k in 0..keys {
            let holders = state
                .nodes
                .values()
                .filter(|m| m.contains_key(&KeyId(k)))
                .count();
            assert_eq!(holders, 3, "k{k}");
        }
        // Every node coordinated, and most keys were written: nothing stays null.
        let null = state
            .nodes
            .values()
            .flat_map(|m| m.values())
            .filter(|v| v.is_empty())
            .count();
        assert_eq!(null, 0, "seed {seed}");
    }
}

#[test]
fn leaderless_version_vectors_return_siblings_that_lww_would_drop() {
    let vv = load("version-vectors-keep-siblings");
    let lww = load("lww-clock-skew-loses-writes");
    for seed in SEEDS {
        let result = run_at(&vv, seed);
        assert!(counter(&result, "read_siblings") > 0, "seed {seed}");
        assert_eq!(result.findings.count(Kind::LostWrite), 0, "seed {seed}");
        assert_eq!(result.findings.count(Kind::StaleRead), 0, "seed {seed}");
        let lww = run_at(&lww, seed);
        assert_eq!(counter(&lww, "read_siblings"), 0);
        assert!(lww.findings.count(Kind::StaleRead) > 0, "seed {seed}");
    }
}

/// A leaderless scenario under a heavy random nemesis with lossy, duplicating links and
/// a node joining midway.
fn nemesis(protocol: Value, nodes: u16, reads_from: &str, skew: bool) -> scenario::Scenario {
    let mut kinds = vec!["crash", "partition", "isolate", "link_down", "lag"];
    if skew {
        kinds.push("clock_skew");
    }
    let doc = serde_json::json!({
        "name": "leaderless-nemesis", "nodes": nodes, "duration_ms": 1500,
        "protocol": protocol,
        "network": { "latency": { "dist": "exponential", "mean_ms": 2 },
                     "drop_rate": 0.02, "duplicate_rate": 0.02 },
        "clients": { "count": 10, "keys": 12, "read_fraction": 0.5, "timeout_ms": 100,
                     "think_ms": { "dist": "exponential", "mean_ms": 4 },
                     "reads_from": reads_from },
        "faults": [
            { "at_ms": 0, "until_ms": 1500, "random": {
                "kinds": kinds, "mean_interval_ms": 150, "max_fault_ms": 300 } },
            { "at_ms": 700, "add_node": format!("n{nodes}") }
        ]
    });
    scenario::parse(&doc.to_string(), "nemesis.json").unwrap()
}

#[test]
fn leaderless_random_faults_never_panic_and_always_go_quiet() {
    use serde_json::json;
    // (protocol, strict quorum with w + r > n: no stale read or lost write without skew)
    let protocols = [
        (
            json!({ "kind": "leaderless", "n": 3, "w": 2, "r": 2 }),
            true,
        ),
        (
            json!({ "kind": "leaderless", "n": 3, "w": 1, "r": 1, "read_repair": false }),
            false,
        ),
        (
            json!({ "kind": "leaderless", "n": 3, "w": 2, "r": 2, "versions": "version-vectors",
                    "sloppy_quorum": true, "hinted_handoff": true, "anti_entropy_ms": 50 }),
            false,
        ),
        (
            json!({ "kind": "leaderless", "n": 3, "w": 2, "r": 2, "sloppy_quorum": true,
                    "anti_entropy_ms": 80 }),
            false,
        ),
        (
            json!({ "kind": "leaderless", "n": 3, "w": 3, "r": 1, "hinted_handoff": true,
                    "anti_entropy_ms": 40, "versions": "version-vectors" }),
            true,
        ),
    ];
    let mut flagged = Vec::new();
    for (i, (protocol, strict)) in protocols.iter().enumerate() {
        for nodes in [3u16, 5] {
            for skew in [false, true] {
                let reads_from = if i % 2 == 0 { "any" } else { "sticky" };
                let scenario = nemesis(protocol.clone(), nodes, reads_from, skew);
                for seed in 0..4 {
                    let result = run_at(&scenario, seed);
                    let f = &result.findings;
                    if f.count(Kind::PhantomRead) > 0 {
                        flagged.push(format!("config {i} nodes {nodes} seed {seed}: phantom"));
                    }
                    let lww = protocol["versions"] != "version-vectors";
                    if *strict && !(skew && lww) {
                        for kind in [Kind::StaleRead, Kind::LostWrite] {
                            if f.count(kind) > 0 {
                                flagged.push(format!(
                                    "config {i} nodes {nodes} skew {skew} seed {seed}: {kind}"
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(flagged.is_empty(), "{flagged:#?}");
}

// ----- membership changes (issue 9) ------------------------------------------------------

/// The members at the end of a run: the nodes of its final state.
fn final_members(result: &run::RunResult) -> Vec<repsim_sim::NodeId> {
    result.output.final_state.nodes.keys().copied().collect()
}

/// Every node's final state lists exactly the keys it is a home replica of in the ring of
/// the final members, and the home replicas of each key agree; returns that ring.
fn assert_final_state_follows_the_final_ring(
    result: &run::RunResult,
    n: u16,
    keys: u32,
    what: &str,
) -> Ring {
    let state = &result.output.final_state;
    let members = final_members(result);
    let ring = Ring::of(&members, n, keys);
    for (&node, map) in &state.nodes {
        let listed: Vec<KeyId> = map.keys().copied().collect();
        assert_eq!(
            listed,
            ring.home_keys(node),
            "{what}: {node} lists other keys"
        );
    }
    for k in 0..keys {
        let key = KeyId(k);
        let mut copies = ring.home(key).iter().map(|node| {
            let mut values = state.nodes[node][&key].clone();
            values.sort();
            values
        });
        let first = copies.next().unwrap();
        assert!(
            copies.all(|c| c == first),
            "{what}: k{k} differs between its replicas"
        );
    }
    ring
}

/// `ring-membership-change.json` without one of its two faults (`keep` is the index of
/// the one kept), or unchanged.
fn membership_variant(keep: Option<usize>) -> scenario::Scenario {
    let text = std::fs::read_to_string(path("ring-membership-change")).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    if let Some(i) = keep {
        let fault = doc["faults"][i].clone();
        doc["faults"] = Value::Array(vec![fault]);
    }
    scenario::parse(&doc.to_string(), "ring-membership-change-variant.json").unwrap()
}

#[test]
fn leaderless_n3_of_5_added_node_holds_the_keys_it_now_owns_with_their_values() {
    let scenario = membership_variant(Some(0));
    let before = Ring::new(5, 3, scenario.clients.keys);
    let n5 = repsim_sim::NodeId(5);
    for seed in SEEDS {
        let result = run_at(&scenario, seed);
        let what = format!("add seed {seed}");
        let ring =
            assert_final_state_follows_the_final_ring(&result, 3, scenario.clients.keys, &what);
        let owned = ring.home_keys(n5);
        assert!(owned.len() >= 10, "{what}: n5 owns {} keys", owned.len());
        let state = &result.output.final_state;
        for &key in &owned {
            // Written long before the join, so held by the node that joined, with the
            // value its other replicas hold (checked above): the hand-over moved it.
            assert!(
                !state.nodes[&n5][&key].is_empty(),
                "{what}: n5 has no {key:?}"
            );
            // Exactly one former replica was pushed off the key, handed it over and
            // dropped it: it no longer lists the key.
            let former: Vec<_> = before
                .home(key)
                .iter()
                .filter(|n| !ring.is_home(key, **n))
                .collect();
            assert_eq!(former.len(), 1, "{what}: {key:?}");
            assert!(!state.nodes[former[0]].contains_key(&key), "{what}");
        }
        assert_eq!(
            counter(&result, "handover_key_gained"),
            owned.len() as u64,
            "{what}"
        );
        assert_eq!(
            counter(&result, "handover_key_dropped"),
            owned.len() as u64,
            "{what}"
        );
        for kind in [
            Kind::StaleRead,
            Kind::LostWrite,
            Kind::Divergence,
            Kind::PhantomRead,
        ] {
            assert_eq!(result.findings.count(kind), 0, "{what}: {}", kind.name());
        }
    }
}

#[test]
fn leaderless_n3_of_5_removed_nodes_keys_are_held_by_their_new_home_replicas() {
    let scenario = membership_variant(Some(1));
    let keys = scenario.clients.keys;
    let before = Ring::new(5, 3, keys);
    let n1 = repsim_sim::NodeId(1);
    let moved: Vec<KeyId> = before.home_keys(n1);
    assert!(moved.len() >= 10);
    for seed in SEEDS {
        let result = run_at(&scenario, seed);
        let what = format!("remove seed {seed}");
        assert!(!result.output.final_state.nodes.contains_key(&n1), "{what}");
        let ring =
            assert_final_state_follows_the_final_ring(&result, 3, scenario.clients.keys, &what);
        let state = &result.output.final_state;
        for &key in &moved {
            // The next node of the key's walk took n1's place, and holds the value.
            let heir = before.preference(key)[3];
            assert!(ring.is_home(key, heir), "{what}");
            assert!(
                !state.nodes[&heir][&key].is_empty(),
                "{what}: {heir} has no {key:?}"
            );
        }
        assert_eq!(
            counter(&result, "handover_key_gained"),
            moved.len() as u64,
            "{what}"
        );
        for kind in [
            Kind::StaleRead,
            Kind::LostWrite,
            Kind::Divergence,
            Kind::PhantomRead,
        ] {
            assert_eq!(result.findings.count(kind), 0, "{what}: {}", kind.name());
        }
    }
}

#[test]
fn leaderless_ring_membership_change_keeps_quorums_overlapping() {
    let scenario = membership_variant(None);
    for seed in SEEDS.into_iter().chain(105..=109) {
        let result = run_at(&scenario, seed);
        let what = format!("seed {seed}");
        assert_final_state_follows_the_final_ring(&result, 3, scenario.clients.keys, &what);
        assert!(counter(&result, "handover_key_ready") > 0, "{what}");
        // Reads of keys still being handed over waited rather than answer stale.
        assert!(counter(&result, "handover_read_deferred") > 0, "{what}");
        for kind in [
            Kind::StaleRead,
            Kind::LostWrite,
            Kind::Divergence,
            Kind::PhantomRead,
        ] {
            assert_eq!(result.findings.count(kind), 0, "{what}: {}", kind.name());
        }
        // Only operations in flight at the removed node go unanswered.
        assert!(result.findings.count(Kind::Unavailable) <= 5, "{what}");
    }
}

/// A leaderless scenario under a random nemesis (no clock skew) with four random
/// membership changes: nodes join, and nodes leave at least 600 ms apart (longer than any
/// fault), so each hand-over can finish before the next removal.
fn membership_nemesis(protocol: Value, nodes: u16, seed: u64) -> scenario::Scenario {
    let mut rng = repsim_sim::SimRng::stream(seed, "membership-test");
    let n = protocol["n"].as_u64().unwrap() as usize;
    let mut members: Vec<u16> = (0..nodes).collect();
    let mut next = nodes;
    let mut faults = vec![
        serde_json::json!({ "at_ms": 0, "until_ms": 2400, "random": {
        "kinds": ["crash", "partition", "isolate", "link_down", "lag", "pause", "hold"],
        "mean_interval_ms": 200, "max_fault_ms": 300 } }),
    ];
    let (mut at, mut last_removal) = (100, -1000i64);
    for _ in 0..4 {
        at += rng.between(100, 300) as i64;
        if at - last_removal >= 600 && members.len() > n && rng.below(2) == 0 {
            let node = members.remove(rng.below(members.len() as u64) as usize);
            faults.push(serde_json::json!({ "at_ms": at, "remove_node": format!("n{node}") }));
            last_removal = at;
        } else {
            faults.push(serde_json::json!({ "at_ms": at, "add_node": format!("n{next}") }));
            members.push(next);
            next += 1;
        }
    }
    let doc = serde_json::json!({
        "name": "leaderless-membership-nemesis", "nodes": nodes, "duration_ms": 2400,
        "protocol": protocol,
        "network": { "latency": { "dist": "exponential", "mean_ms": 2 },
                     "drop_rate": 0.02, "duplicate_rate": 0.02 },
        "clients": { "count": 10, "keys": 16, "read_fraction": 0.5, "timeout_ms": 150,
                     "think_ms": { "dist": "exponential", "mean_ms": 4 },
                     "reads_from": if seed % 2 == 0 { "sticky" } else { "any" } },
        "faults": faults
    });
    scenario::parse(&doc.to_string(), "membership-nemesis.json").unwrap()
}

#[test]
fn leaderless_strict_quorums_survive_random_membership_changes_under_a_nemesis() {
    use serde_json::json;
    // Strict quorums (w + r > n, w >= 2), with anti-entropy so that replicas which missed
    // writes to dropped messages converge too.
    let protocols = [
        (
            json!({ "kind": "leaderless", "n": 3, "w": 2, "r": 2, "anti_entropy_ms": 60 }),
            5,
        ),
        (
            json!({ "kind": "leaderless", "n": 3, "w": 2, "r": 2, "anti_entropy_ms": 60,
                    "versions": "version-vectors", "hinted_handoff": true }),
            5,
        ),
        (
            json!({ "kind": "leaderless", "n": 3, "w": 3, "r": 1, "anti_entropy_ms": 60 }),
            5,
        ),
        (
            json!({ "kind": "leaderless", "n": 5, "w": 3, "r": 3, "anti_entropy_ms": 60 }),
            6,
        ),
    ];
    let mut flagged = Vec::new();
    for (i, (protocol, nodes)) in protocols.iter().enumerate() {
        let n = protocol["n"].as_u64().unwrap() as u16;
        for seed in 0..30 {
            let scenario = membership_nemesis(protocol.clone(), *nodes, seed);
            let result = run_at(&scenario, seed);
            let what = format!("config {i} seed {seed}");
            assert_final_state_follows_the_final_ring(&result, n, 16, &what);
            for kind in [
                Kind::StaleRead,
                Kind::LostWrite,
                Kind::Divergence,
                Kind::PhantomRead,
            ] {
                if result.findings.count(kind) > 0 {
                    flagged.push(format!(
                        "{what}: {} {}",
                        result.findings.count(kind),
                        kind.name()
                    ));
                }
            }
        }
    }
    assert!(flagged.is_empty(), "{flagged:#?}");
}
