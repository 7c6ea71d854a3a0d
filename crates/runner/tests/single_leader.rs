//! Claims about single-leader replication that an `expect` block cannot state: which code
//! path a scenario exercised (protocol event counters), and invariants under a random
//! nemesis over many seeds.

use std::path::Path;

use repsim_anomaly::Kind;
use repsim_runner::{report, run, scenario};
use repsim_sim::RunOutcome;

fn load(name: &str) -> scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/single-leader")
        .join(name);
    scenario::load(&path).unwrap()
}

fn events(scenario: &scenario::Scenario, seed: u64) -> (run::RunResult, report::Report) {
    let result = run::run(scenario, seed, None).unwrap();
    let report = report::build(scenario, &result);
    (result, report)
}

fn event(report: &report::Report, name: &str) -> u64 {
    report.protocol_events.get(name).copied().unwrap_or(0)
}

#[test]
fn a_restarted_follower_catches_up_from_the_log_when_the_leader_still_has_it() {
    let (_, report) = events(&load("follower-catch-up.json"), 1);
    assert_eq!(event(&report, "restarted"), 1);
    assert_eq!(event(&report, "snapshot_sent"), 0);
    assert!(
        event(&report, "append_rejected") >= 1,
        "{:?}",
        report.protocol_events
    );
}

#[test]
fn a_follower_falls_back_to_a_snapshot_when_the_leader_discarded_its_log() {
    let (_, report) = events(&load("follower-catch-up-snapshot.json"), 1);
    assert!(
        event(&report, "log_compacted") >= 1,
        "{:?}",
        report.protocol_events
    );
    assert!(
        event(&report, "snapshot_sent") >= 1,
        "{:?}",
        report.protocol_events
    );
    assert!(
        event(&report, "snapshot_installed") >= 1,
        "{:?}",
        report.protocol_events
    );
}

#[test]
fn a_new_follower_is_set_up_from_a_snapshot_and_ends_equal() {
    let (result, report) = events(&load("new-follower-from-snapshot.json"), 1);
    assert_eq!(event(&report, "joined"), 1);
    assert!(event(&report, "snapshot_installed") >= 1);
    let nodes = &result.output.final_state.nodes;
    assert_eq!(nodes.len(), 4);
    let n0 = &nodes[&repsim_sim::NodeId(0)];
    assert!(n0.values().filter(|v| !v.is_empty()).count() > 10);
    assert_eq!(&nodes[&repsim_sim::NodeId(3)], n0);
    // The new follower replicates like the others and reports its lag.
    assert!(result.output.lag.contains_key(&repsim_sim::NodeId(3)));
}

#[test]
fn semi_sync_and_chain_reconfigure_around_a_dead_follower() {
    let (_, report) = events(&load("semi-sync-replaces-dead-follower.json"), 1);
    assert!(
        event(&report, "semi_sync_follower_replaced") >= 1,
        "{:?}",
        report.protocol_events
    );
    let (_, report) = events(&load("chain-replication.json"), 1);
    assert!(
        event(&report, "chain_reconfigured") >= 1,
        "{:?}",
        report.protocol_events
    );
}

#[test]
fn an_upgraded_follower_cannot_apply_wal_but_can_apply_a_logical_log() {
    let (_, report) = events(&load("wal-upgrade-breaks-follower.json"), 1);
    assert!(event(&report, "wal_incompatible") >= 1);
    assert!(event(&report, "follower_incompatible") >= 1);
    let (_, report) = events(&load("logical-rolling-upgrade.json"), 1);
    assert_eq!(event(&report, "wal_incompatible"), 0);
    assert_eq!(event(&report, "restarted"), 2);
}

#[test]
fn failover_elects_a_new_leader_and_the_old_one_discards_its_unreplicated_writes() {
    let scenario = load("async-failover-loses-writes.json");
    let (mut truncated, mut lost) = (0, 0);
    for seed in 1..=10 {
        let (result, report) = events(&scenario, seed);
        assert_eq!(event(&report, "election_won"), 1, "seed {seed}");
        truncated += event(&report, "log_truncated");
        lost += result.findings.count(Kind::LostWrite);
    }
    assert!(
        truncated >= 1 && lost >= 1,
        "truncated {truncated}, lost {lost}"
    );
}

#[test]
fn replication_lag_is_reported_per_follower_and_follows_the_slow_link() {
    let (_, report) = events(&load("follower-reads-are-stale.json"), 1);
    let lag = report
        .replication_lag_ms
        .as_ref()
        .expect("single-leader has a log");
    let (n1, n2) = (&lag["n1"], &lag["n2"]);
    assert!(n1.count > 100 && n2.count > 100);
    // n0 -> n2 takes 20-60 ms, n0 -> n1 about 2 ms (plus the 5 ms ship interval).
    assert!(
        n2.p50.unwrap() > 20.0 && n1.p50.unwrap() < 10.0,
        "{n1:?} {n2:?}"
    );
}

/// A random nemesis (crashes, partitions, isolation, lag, one-way link failures, message
/// loss and duplication) over many seeds: whatever happens, fenced single-leader
/// replication never shows split brain and its replicas converge; sync and semi-sync
/// (with a majority of 3) and chain never lose an acknowledged write.
#[test]
fn invariants_hold_under_a_random_nemesis() {
    let mut failures = Vec::new();
    for mode in ["sync", "semi-sync", "async", "chain"] {
        let text = format!(
            r#"{{
              "name": "nemesis-{mode}", "nodes": 3, "duration_ms": 3000,
              "protocol": {{ "kind": "single-leader", "replication": "{mode}",
                             "failover": {{ "heartbeat_ms": 50, "timeout_ms": 300, "fencing": true }} }},
              "network": {{ "latency": {{ "dist": "exponential", "mean_ms": 3 }},
                            "drop_rate": 0.02, "duplicate_rate": 0.02 }},
              "clients": {{ "count": 8, "keys": 20, "timeout_ms": 300, "reads_from": "leader",
                           "think_ms": {{ "dist": "exponential", "mean_ms": 5 }} }},
              "faults": [ {{ "at_ms": 0, "until_ms": 3000, "random": {{
                  "kinds": ["crash", "partition", "isolate", "lag", "link_down"],
                  "mean_interval_ms": 300, "max_fault_ms": 600 }} }} ]
            }}"#
        );
        let scenario = scenario::parse(&text, "nemesis.json").unwrap();
        for seed in 0..25 {
            let result = run::run(&scenario, seed, None).unwrap();
            let count = |k| result.findings.count(k);
            let mut check = |ok: bool, what: &str| {
                if !ok {
                    failures.push(format!("{mode} seed {seed}: {what}"));
                }
            };
            check(
                result.output.outcome == RunOutcome::Quiet,
                "did not go quiet",
            );
            check(count(Kind::SplitBrain) == 0, "split brain");
            check(count(Kind::Divergence) == 0, "divergence");
            check(count(Kind::PhantomRead) == 0, "phantom read");
            if mode != "async" {
                check(count(Kind::LostWrite) == 0, "lost write");
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
