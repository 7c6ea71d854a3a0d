//! Multi-leader claims the scenario files' `expect` blocks cannot state: loop-free
//! replication counted message by message, how far a crash cuts the flow in each
//! topology (replication lag per leader), convergence of every topology, conflict mode
//! and causality setting under a random nemesis, leaders joining a running cluster, and
//! what causal delivery does not give (client sessions).

use repsim_anomaly::Kind;
use repsim_runner::{run, scenario};

/// A multi-leader scenario from its parts (JSON snippets).
fn scenario_text(nodes: u16, protocol: &str, network: &str, clients: &str, faults: &str) -> String {
    format!(
        r#"{{
          "name": "multi-leader-test", "seed": 1, "nodes": {nodes}, "duration_ms": 2000,
          "protocol": {{ "kind": "multi-leader", {protocol} }},
          "network": {network},
          "clients": {clients},
          "faults": [ {faults} ]
        }}"#
    )
}

fn run_text(text: &str, seed: u64) -> run::RunResult {
    let scenario = scenario::parse(text, "multi-leader-test.json").unwrap();
    run::run(&scenario, seed, None).unwrap()
}

fn counter(result: &run::RunResult, name: &str) -> u64 {
    result.output.counters.get(name).copied().unwrap_or(0)
}

const TOPOLOGIES: [&str; 4] = [
    r#""topology": "all-to-all""#,
    r#""topology": "circular""#,
    r#""topology": "star""#,
    r#""topology": "star", "root": "n2""#,
];

const CONFLICTS: [&str; 4] = ["lww", "replica-priority", "merge", "siblings"];

#[test]
fn every_mode_converges_under_a_random_nemesis() {
    let mut failures = Vec::new();
    for topology in TOPOLOGIES {
        for conflict in CONFLICTS {
            for causality in ["none", "version-vectors"] {
                let protocol =
                    format!(r#"{topology}, "conflict": "{conflict}", "causality": "{causality}""#);
                let text = scenario_text(
                    4,
                    &protocol,
                    r#"{ "latency": { "dist": "exponential", "mean_ms": 3 },
                         "drop_rate": 0.05, "duplicate_rate": 0.05 }"#,
                    r#"{ "count": 8, "keys": 6, "read_fraction": 0.5, "timeout_ms": 300,
                         "think_ms": { "dist": "uniform", "min_ms": 0, "max_ms": 10 } }"#,
                    r#"{ "at_ms": 0, "until_ms": 2000, "random": {
                          "kinds": ["crash", "partition", "isolate", "link_down", "lag", "clock_skew"],
                          "mean_interval_ms": 150, "max_fault_ms": 400 } }"#,
                );
                for seed in 0..30 {
                    let result = run_text(&text, seed);
                    let what = format!("{protocol} seed {seed}");
                    if result.output.outcome != repsim_sim::RunOutcome::Quiet {
                        failures.push(format!("{what}: {}", result.output.outcome.as_str()));
                    }
                    let mut bad = vec![Kind::Divergence, Kind::PhantomRead];
                    if matches!(conflict, "merge" | "siblings") {
                        bad.push(Kind::LostWrite);
                    }
                    for kind in bad {
                        let count = result.findings.count(kind);
                        if count > 0 {
                            failures.push(format!("{what}: {count} {}", kind.name()));
                        }
                    }
                    if counter(&result, "update_loop_ignored") > 0 {
                        failures.push(format!("{what}: a write came back to a leader"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Loads a scenario of `scenarios/multi-leader/`.
fn load(name: &str) -> scenario::Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/multi-leader")
        .join(format!("{name}.json"));
    scenario::load(&path).unwrap()
}

/// The longest replication lag a leader reported, in ms (0 when it applied nothing).
fn max_lag_ms(result: &run::RunResult, node: u16) -> f64 {
    result
        .output
        .lag
        .get(&repsim_sim::NodeId(node))
        .into_iter()
        .flatten()
        .map(|(_, lag)| lag.as_ms())
        .fold(0.0, f64::max)
}

#[test]
fn every_topology_sends_each_write_once_to_each_other_leader() {
    for topology in TOPOLOGIES {
        for (network, exact) in [
            (r#"{ "latency": { "dist": "constant", "ms": 1 } }"#, true),
            (
                r#"{ "latency": { "dist": "exponential", "mean_ms": 2 },
                     "drop_rate": 0.1, "duplicate_rate": 0.1 }"#,
                false,
            ),
        ] {
            let text = scenario_text(
                5,
                &format!(r#"{topology}, "conflict": "siblings""#),
                network,
                r#"{ "count": 8, "keys": 10, "read_fraction": 0.3, "timeout_ms": 500,
                     "think_ms": { "dist": "constant", "ms": 5 } }"#,
                "",
            );
            for seed in 0..3 {
                let result = run_text(&text, seed);
                let writes = counter(&result, "write_accepted");
                let what = format!("{topology} {network} seed {seed}");
                assert!(writes > 500, "{what}: only {writes} writes");
                // n - 1 = 4 first transmissions per write, whatever the topology: nothing
                // loops back, and nothing reaches a leader twice along the topology.
                assert_eq!(counter(&result, "update_sent"), 4 * writes, "{what}");
                assert_eq!(counter(&result, "update_applied"), 4 * writes, "{what}");
                assert_eq!(counter(&result, "update_loop_ignored"), 0, "{what}");
                if exact {
                    // On a clean network: one message per copy and one acknowledgement,
                    // and not a single message more.
                    assert_eq!(counter(&result, "update_retransmitted"), 0, "{what}");
                    assert_eq!(result.output.stats.sent, 2 * 4 * writes, "{what}");
                }
            }
        }
    }
}

#[test]
fn a_crash_cuts_the_ring_and_the_star_but_not_all_to_all() {
    let all_to_all = load("all-to-all-routes-around-crash");
    let circular = load("circular-crash-cuts-flow");
    let star = load("star-root-crash-cuts-flow");
    // The same ring without the crash: how stale it is anyway, with up to three hops.
    let mut calm_ring = load("circular-crash-cuts-flow");
    calm_ring.faults.clear();
    for seed in 100..105 {
        let routed = run::run(&all_to_all, seed, None).unwrap();
        let cut = run::run(&circular, seed, None).unwrap();
        let hub = run::run(&star, seed, None).unwrap();
        let calm = run::run(&calm_ring, seed, None).unwrap();
        // n1 is down from 300 ms to the end of the workload (1500 ms); the star's root n0
        // from 300 ms to 1200 ms.
        for node in [0, 2, 3] {
            let lag = max_lag_ms(&routed, node);
            assert!(lag < 5.0, "all-to-all seed {seed}: n{node} lagged {lag} ms");
        }
        for node in [2, 3] {
            let lag = max_lag_ms(&cut, node);
            assert!(
                lag > 1000.0,
                "circular seed {seed}: n{node} lagged only {lag} ms"
            );
        }
        for node in [1, 2, 3] {
            let lag = max_lag_ms(&hub, node);
            assert!(
                lag > 800.0,
                "star seed {seed}: n{node} lagged only {lag} ms"
            );
        }
        let stale = |r: &run::RunResult| r.findings.count(Kind::StaleRead);
        assert_eq!(stale(&routed), 0, "all-to-all seed {seed}");
        assert!(
            stale(&cut) > 5 * stale(&calm).max(1),
            "circular seed {seed}: {} stale reads with the crash, {} without",
            stale(&cut),
            stale(&calm)
        );
        for result in [&routed, &cut, &hub] {
            assert_eq!(result.findings.count(Kind::Divergence), 0, "seed {seed}");
            assert_eq!(result.findings.count(Kind::LostWrite), 0, "seed {seed}");
        }
    }
}

#[test]
fn a_joining_leader_gets_every_write_and_converges() {
    for topology in TOPOLOGIES {
        for causality in ["none", "version-vectors"] {
            let text = scenario_text(
                3,
                &format!(r#"{topology}, "conflict": "merge", "causality": "{causality}""#),
                r#"{ "latency": { "dist": "exponential", "mean_ms": 2 }, "drop_rate": 0.05 }"#,
                r#"{ "count": 8, "keys": 6, "read_fraction": 0.5, "timeout_ms": 300,
                     "think_ms": { "dist": "uniform", "min_ms": 0, "max_ms": 10 } }"#,
                r#"{ "at_ms": 500, "add_node": "n3" }, { "at_ms": 700, "crash": "n3" },
                   { "at_ms": 800, "restart": "n3" }, { "at_ms": 1000, "add_node": "n4" },
                   { "at_ms": 1200, "until_ms": 1500, "isolate": "n4" }"#,
            );
            for seed in 0..5 {
                let result = run_text(&text, seed);
                let what = format!("{topology} {causality} seed {seed}");
                assert_eq!(
                    result.output.outcome,
                    repsim_sim::RunOutcome::Quiet,
                    "{what}"
                );
                assert_eq!(counter(&result, "join_synced"), 2, "{what}");
                assert_eq!(result.output.final_state.nodes.len(), 5, "{what}");
                for kind in [Kind::Divergence, Kind::LostWrite, Kind::PhantomRead] {
                    assert_eq!(result.findings.count(kind), 0, "{what}: {}", kind.name());
                }
            }
        }
    }
}

/// Version vectors order replication: a reader that stays on one leader sees a consistent
/// prefix. They do not give client sessions: a client that reads from another leader
/// each time can still read an answer on one leader and miss its question on the next.
#[test]
fn causal_delivery_orders_replication_not_client_sessions() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/multi-leader/causality-version-vectors.json");
    let text = std::fs::read_to_string(path).unwrap();
    let hopping = text.replace(r#""reads_from": "sticky""#, r#""reads_from": "any""#);
    assert_ne!(text, hopping);
    let sticky = scenario::parse(&text, "causality-version-vectors.json").unwrap();
    let hopping = scenario::parse(&hopping, "hopping.json").unwrap();
    for seed in 100..103 {
        let stays = run::run(&sticky, seed, None).unwrap();
        let hops = run::run(&hopping, seed, None).unwrap();
        assert_eq!(
            stays.findings.count(Kind::ConsistentPrefix),
            0,
            "seed {seed}"
        );
        assert!(
            counter(&stays, "update_held_for_causality") > 0,
            "seed {seed}"
        );
        assert!(
            hops.findings.count(Kind::ConsistentPrefix) > 0,
            "seed {seed}"
        );
    }
}

// ----- membership changes (issue 9) ------------------------------------------------------

/// The replication-lag samples leader `node` took after `from_ms`, in ms.
fn lags_after(result: &run::RunResult, node: u16, from_ms: f64) -> Vec<f64> {
    result
        .output
        .lag
        .get(&repsim_sim::NodeId(node))
        .into_iter()
        .flatten()
        .filter(|(at, _)| at.as_ms() > from_ms)
        .map(|(_, lag)| lag.as_ms())
        .collect()
}

fn final_nodes(result: &run::RunResult) -> Vec<u16> {
    result
        .output
        .final_state
        .nodes
        .keys()
        .map(|n| n.0)
        .collect()
}

#[test]
fn circular_membership_change_rewires_the_ring_and_converges() {
    let scenario = load("membership-change");
    for seed in 100..110 {
        let result = run::run(&scenario, seed, None).unwrap();
        let what = format!("seed {seed}");
        assert_eq!(
            result.output.outcome,
            repsim_sim::RunOutcome::Quiet,
            "{what}"
        );
        assert_eq!(final_nodes(&result), vec![0, 2, 3, 4], "{what}");
        assert_eq!(counter(&result, "join_synced"), 1, "{what}");
        // Every leader that saw the removal caught up with the others.
        assert_eq!(counter(&result, "catch_up_started"), 4, "{what}");
        for kind in [Kind::Divergence, Kind::LostWrite, Kind::PhantomRead] {
            assert_eq!(result.findings.count(kind), 0, "{what}: {}", kind.name());
        }
        // The ring runs n0 -> n2 now: n2 keeps receiving everyone's writes promptly
        // (without the rewiring it would get nothing after 1600 ms). Eight clients write
        // about 350 times in those 800 ms.
        let lags = lags_after(&result, 2, 1700.0);
        assert!(lags.len() > 200, "{what}: n2 applied {} writes", lags.len());
        let worst = lags.iter().copied().fold(0.0, f64::max);
        assert!(worst < 100.0, "{what}: n2 lagged {worst} ms");
    }
}

/// A four-leader scenario where `n1` (a relay in the ring, or the star's root) is paused
/// from 1000 ms and removed at 1200 ms: its predecessor's writes to it are never
/// acknowledged and must be rerouted.
fn paused_then_removed(topology: &str, removed: &str) -> String {
    scenario_text(
        4,
        &format!(r#"{topology}, "conflict": "siblings""#),
        r#"{ "latency": { "dist": "exponential", "mean_ms": 2 } }"#,
        r#"{ "count": 8, "keys": 10, "read_fraction": 0.5, "timeout_ms": 300,
             "think_ms": { "dist": "constant", "ms": 5 } }"#,
        &format!(
            r#"{{ "at_ms": 1000, "pause": "{removed}" }}, {{ "at_ms": 1200, "remove_node": "{removed}" }}"#
        ),
    )
}

#[test]
fn writes_queued_for_a_removed_leader_are_rerouted_to_its_replacement() {
    for (topology, removed) in [
        (r#""topology": "circular""#, "n1"),
        (r#""topology": "star""#, "n0"),
        (r#""topology": "star", "root": "n2""#, "n2"),
        (r#""topology": "all-to-all""#, "n1"),
    ] {
        let text = paused_then_removed(topology, removed);
        for seed in 0..5 {
            let result = run_text(&text, seed);
            let what = format!("{topology} without {removed}, seed {seed}");
            assert_eq!(
                result.output.outcome,
                repsim_sim::RunOutcome::Quiet,
                "{what}"
            );
            assert_eq!(final_nodes(&result).len(), 3, "{what}");
            for kind in [Kind::Divergence, Kind::LostWrite, Kind::PhantomRead] {
                assert_eq!(result.findings.count(kind), 0, "{what}: {}", kind.name());
            }
            let rerouted = counter(&result, "update_rerouted");
            if topology.contains("all-to-all") {
                // Nobody relays through a leaf of all-to-all: nothing to reroute.
                assert_eq!(rerouted, 0, "{what}");
            } else {
                // Writes waited for the paused relay (few: the clients that chose the
                // paused leader stall until their timeout).
                assert!(rerouted > 0, "{what}: {rerouted} rerouted");
            }
            // The flow goes on after the removal, through the replacement.
            for node in final_nodes(&result) {
                let lags = lags_after(&result, node, 1300.0);
                let worst = lags.iter().copied().fold(0.0, f64::max);
                assert!(
                    !lags.is_empty() && worst < 100.0,
                    "{what}: n{node} lagged {worst} ms"
                );
            }
        }
    }
}

#[test]
fn removing_the_star_root_makes_the_lowest_remaining_leader_the_root() {
    let text = paused_then_removed(r#""topology": "star", "root": "n2""#, "n2");
    let result = run_text(&text, 3);
    // n0, the lowest id left, now passes every leaf's writes to the other leaves: it
    // sends far more copies than a leaf, which sends only its own writes to the root.
    let applied_at = |node: u16| lags_after(&result, node, 1300.0).len();
    assert!(applied_at(1) > 100 && applied_at(3) > 100);
    assert_eq!(result.findings.count(Kind::Divergence), 0);
}

#[test]
fn random_membership_changes_under_a_nemesis_converge() {
    let mut failures = Vec::new();
    for topology in TOPOLOGIES {
        for conflict in ["merge", "siblings", "lww"] {
            for causality in ["none", "version-vectors"] {
                let protocol =
                    format!(r#"{topology}, "conflict": "{conflict}", "causality": "{causality}""#);
                for seed in 0..30u64 {
                    // Four random changes: leaders join, and leaders leave (at least two
                    // stay), at random times during the nemesis.
                    let mut rng = repsim_sim::SimRng::stream(seed, "membership-test");
                    let mut members: Vec<u16> = (0..4).collect();
                    let (mut next, mut at) = (4u16, 100u64);
                    let mut faults = String::from(
                        r#"{ "at_ms": 0, "until_ms": 2000, "random": {
                              "kinds": ["crash", "partition", "isolate", "link_down", "lag",
                                        "clock_skew", "pause", "hold"],
                              "mean_interval_ms": 150, "max_fault_ms": 400 } }"#,
                    );
                    for _ in 0..4 {
                        at += rng.between(50, 350);
                        if members.len() > 2 && rng.below(2) == 0 {
                            let node = members.remove(rng.below(members.len() as u64) as usize);
                            faults +=
                                &format!(r#", {{ "at_ms": {at}, "remove_node": "n{node}" }}"#);
                        } else {
                            faults += &format!(r#", {{ "at_ms": {at}, "add_node": "n{next}" }}"#);
                            members.push(next);
                            next += 1;
                        }
                    }
                    let text = scenario_text(
                        4,
                        &protocol,
                        r#"{ "latency": { "dist": "exponential", "mean_ms": 3 },
                             "drop_rate": 0.05, "duplicate_rate": 0.05 }"#,
                        r#"{ "count": 8, "keys": 6, "read_fraction": 0.5, "timeout_ms": 300,
                             "think_ms": { "dist": "uniform", "min_ms": 0, "max_ms": 10 } }"#,
                        &faults,
                    );
                    let result = run_text(&text, seed);
                    let what = format!("{protocol} seed {seed}");
                    if result.output.outcome != repsim_sim::RunOutcome::Quiet {
                        failures.push(format!("{what}: {}", result.output.outcome.as_str()));
                    }
                    members.sort();
                    if final_nodes(&result) != members {
                        failures.push(format!("{what}: final state of {:?}", final_nodes(&result)));
                    }
                    let mut bad = vec![Kind::Divergence, Kind::PhantomRead];
                    if matches!(conflict, "merge" | "siblings") {
                        bad.push(Kind::LostWrite);
                    }
                    for kind in bad {
                        let count = result.findings.count(kind);
                        if count > 0 {
                            failures.push(format!("{what}: {count} {}", kind.name()));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
