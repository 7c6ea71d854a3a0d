//! Scenario files (SPEC §2): the SPEC example and every fixture under
//! `tests/scenarios/good/` load into the expected typed values; a table of bad inputs is
//! refused with exact messages; random faults expand deterministically; the JSON Schema
//! covers the format.

use std::path::{Path, PathBuf};

use repsim_runner::scenario::{
    self, Causality, Conflict, Expectation, Failover, FaultSpec, LogFormat, ProtocolConfig,
    Replication, Scenario, Topology, Versions,
};
use repsim_sim::{
    Fault, FaultAction, Latency, NodeId, Probability, RandomKind, SimDuration, SimTime,
};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/good")
}

fn load(name: &str) -> Scenario {
    let path = fixtures().join(name);
    scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn ms(ms: u64) -> SimDuration {
    SimDuration::from_millis(ms)
}

fn at(ms: u64) -> SimTime {
    SimTime::from_micros(ms * 1000)
}

/// A valid scenario to patch: single-leader on three nodes for 5 s.
fn base() -> Value {
    json!({
        "name": "t",
        "nodes": 3,
        "duration_ms": 5000,
        "protocol": { "kind": "single-leader" }
    })
}

/// `base()` with the top-level fields of `patch` replaced (a `null` removes the field).
fn patched(patch: Value) -> String {
    let mut doc = base();
    let object = doc.as_object_mut().unwrap();
    for (key, value) in patch.as_object().unwrap() {
        if value.is_null() {
            object.remove(key);
        } else {
            object.insert(key.clone(), value.clone());
        }
    }
    serde_json::to_string_pretty(&doc).unwrap()
}

/// A table of bad inputs and the exact messages they must be refused with. Mismatches
/// are collected, so one run lists every one of them.
#[derive(Default)]
struct Table {
    failures: Vec<String>,
}

impl Table {
    /// `text` must be refused with exactly `expected`.
    fn check(&mut self, text: &str, expected: &str) {
        match scenario::parse(text, "x.json") {
            Ok(_) => self
                .failures
                .push(format!("accepted, expected {expected:?}:\n{text}")),
            Err(e) if e.to_string() != expected => self
                .failures
                .push(format!("input:\n{text}\n  got: {e}\n want: {expected}")),
            Err(_) => {}
        }
    }

    /// `base()` patched with `patch` must be refused with exactly `expected`.
    fn patch(&mut self, patch: Value, expected: &str) {
        self.check(&patched(patch), expected);
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} mismatches:\n\n{}",
            self.failures.len(),
            self.failures.join("\n\n")
        );
    }
}

#[test]
fn the_spec_example_loads() {
    let s = load("spec-example.json");
    assert_eq!(s.name, "async-failover-loses-writes");
    assert_eq!(
        s.description,
        "Leader crashes before its async followers receive the last writes."
    );
    assert_eq!(s.seed, 7);
    assert_eq!(s.nodes, 3);
    assert_eq!(s.duration, at(5000));
    assert!(s.file.ends_with("spec-example.json"));

    let ProtocolConfig::SingleLeader(p) = &s.protocol else {
        panic!("{:?}", s.protocol)
    };
    assert_eq!(p.replication, Replication::Async);
    assert_eq!(p.log, LogFormat::Logical);
    assert_eq!(p.leader, NodeId(0));
    assert_eq!(
        p.failover,
        Some(Failover {
            heartbeat: ms(50),
            timeout: ms(300),
            fencing: true
        })
    );

    assert_eq!(
        s.network.latency,
        Latency::Exponential {
            mean_micros: 2000.0
        }
    );
    assert_eq!(s.network.drop_rate, Probability::NEVER);
    assert_eq!(s.network.duplicate_rate, Probability::NEVER);
    assert_eq!(s.network.links.len(), 1);
    assert_eq!(s.network.links[0].from, NodeId(0));
    assert_eq!(s.network.links[0].to, NodeId(2));
    assert_eq!(s.network.links[0].latency, Latency::Constant(ms(40)));

    assert_eq!(s.clients.count, 4);
    assert_eq!(s.clients.keys, 8);
    assert_eq!(s.clients.read_fraction, Probability::new(0.5));
    assert_eq!(s.clients.think, Latency::Constant(ms(5)));
    assert_eq!(s.clients.timeout, ms(1000));
    assert_eq!(s.clients.reads_from, "any");
    assert_eq!(s.clients.nondeterministic_fraction, Probability::NEVER);

    assert_eq!(
        s.faults,
        [
            FaultSpec::Fixed(Fault {
                at: at(1000),
                until: None,
                action: FaultAction::Crash(NodeId(0))
            }),
            FaultSpec::Fixed(Fault {
                at: at(3000),
                until: None,
                action: FaultAction::Restart(NodeId(0))
            }),
        ]
    );
    // Kinds come in SPEC §4 order, whatever the file's order.
    assert_eq!(
        s.expect,
        [
            Expectation {
                kind: "stale_read".into(),
                min: None,
                max: Some(1000)
            },
            Expectation {
                kind: "lost_write".into(),
                min: Some(1),
                max: None
            },
        ]
    );
    assert!(s.expect[1].is_met_by(1) && !s.expect[1].is_met_by(0));
    assert!(s.expect[0].is_met_by(1000) && !s.expect[0].is_met_by(1001));
}

#[test]
fn omitted_fields_take_their_defaults() {
    let s = scenario::parse(&patched(json!({})), "x.json").unwrap();
    assert_eq!(s.seed, 1);
    assert_eq!(s.description, "");
    assert_eq!(s.network, repsim_sim::NetworkConfig::default());
    assert_eq!(s.clients, repsim_sim::ClientConfig::default());
    assert!(s.faults.is_empty() && s.expect.is_empty());
    let ProtocolConfig::SingleLeader(p) = &s.protocol else {
        panic!()
    };
    assert_eq!(
        (p.replication, p.log, p.failover, p.leader),
        (Replication::Async, LogFormat::Logical, None, NodeId(0))
    );

    // A failover object with no fields gets the documented defaults; null is manual.
    let s = scenario::parse(
        &patched(json!({"protocol": {"kind": "single-leader", "failover": {}}})),
        "x.json",
    )
    .unwrap();
    let ProtocolConfig::SingleLeader(p) = &s.protocol else {
        panic!()
    };
    assert_eq!(
        p.failover,
        Some(Failover {
            heartbeat: Failover::DEFAULT_HEARTBEAT,
            timeout: Failover::DEFAULT_TIMEOUT,
            fencing: Failover::DEFAULT_FENCING
        })
    );
    let s = scenario::parse(
        &patched(json!({"protocol": {"kind": "single-leader", "failover": null}})),
        "x.json",
    )
    .unwrap();
    assert!(matches!(&s.protocol, ProtocolConfig::SingleLeader(p) if p.failover.is_none()));

    let s = load("leaderless-defaults.json");
    let ProtocolConfig::Leaderless(p) = &s.protocol else {
        panic!()
    };
    assert_eq!((p.n, p.w, p.r), (4, 3, 3));
    assert!(p.read_repair && !p.sloppy_quorum && !p.hinted_handoff);
    assert_eq!((p.anti_entropy, p.versions), (None, Versions::Lww));

    let s = load("multi-leader-defaults.json");
    let ProtocolConfig::MultiLeader(p) = &s.protocol else {
        panic!()
    };
    assert_eq!(p.topology, Topology::AllToAll);
    assert_eq!(p.root, NodeId(0));
    assert_eq!(p.conflict, Conflict::Merge);
    assert_eq!(p.causality, Causality::None);
    assert!(!p.home_leader);
}

#[test]
fn fixtures_cover_every_protocol_and_fault() {
    let s = load("multi-leader-star.json");
    assert_eq!(s.protocol.kind(), "multi-leader");
    let ProtocolConfig::MultiLeader(p) = &s.protocol else {
        panic!()
    };
    assert_eq!((p.topology, p.root), (Topology::Star, NodeId(2)));
    assert_eq!(
        (p.conflict, p.causality, p.home_leader),
        (Conflict::Siblings, Causality::VersionVectors, true)
    );
    assert_eq!(s.clients.timeout, SimDuration::from_micros(250_500));

    let s = load("leaderless-sloppy.json");
    assert_eq!(s.seed, u64::MAX);
    let ProtocolConfig::Leaderless(p) = &s.protocol else {
        panic!()
    };
    assert_eq!((p.n, p.w, p.r), (3, 1, 1));
    assert_eq!(p.anti_entropy, Some(ms(250)));
    assert!(!p.read_repair && p.sloppy_quorum && p.hinted_handoff);
    assert_eq!(p.versions, Versions::VersionVectors);
    assert_eq!(
        s.network.latency,
        Latency::Uniform {
            min: SimDuration::from_micros(500),
            max: ms(3)
        }
    );

    let s = load("single-node-crash-upgrade.json");
    assert_eq!(s.protocol, ProtocolConfig::SingleNode);
    assert_eq!(s.duration, SimTime::from_micros(2_000_500));
    assert_eq!(s.clients.reads_from, "leader");

    let s = load("single-leader-every-fault.json");
    let ProtocolConfig::SingleLeader(p) = &s.protocol else {
        panic!()
    };
    assert_eq!(
        (p.replication, p.log, p.leader),
        (Replication::SemiSync, LogFormat::Wal, NodeId(1))
    );
    assert_eq!(s.clients.reads_from, "read-your-writes");
    assert_eq!(s.network.links[2].from, NodeId(3));
    let actions: Vec<&FaultAction> = s
        .faults
        .iter()
        .filter_map(|f| match f {
            FaultSpec::Fixed(f) => Some(&f.action),
            FaultSpec::Random(_) => None,
        })
        .collect();
    assert_eq!(
        actions,
        [
            &FaultAction::Crash(NodeId(1)),
            &FaultAction::Restart(NodeId(1)),
            &FaultAction::Partition(vec![vec![NodeId(0)], vec![NodeId(1), NodeId(2)]]),
            &FaultAction::Isolate(NodeId(2)),
            &FaultAction::LinkDown {
                from: NodeId(0),
                to: NodeId(2)
            },
            &FaultAction::Lag {
                node: NodeId(2),
                extra: ms(200)
            },
            &FaultAction::ClockSkew {
                node: NodeId(1),
                offset_micros: -50_000
            },
            &FaultAction::ClockSkew {
                node: NodeId(0),
                offset_micros: 25_500
            },
            &FaultAction::Upgrade(NodeId(0)),
            &FaultAction::AddNode(NodeId(3)),
            &FaultAction::Crash(NodeId(3)),
            &FaultAction::Restart(NodeId(3)),
        ]
    );
    // Windows carry their end; clock_skew without until_ms lasts the workload.
    let FaultSpec::Fixed(partition) = &s.faults[2] else {
        panic!()
    };
    assert_eq!(partition.until, Some(at(2500)));
    let FaultSpec::Fixed(skew) = &s.faults[6] else {
        panic!()
    };
    assert_eq!(skew.until, None);
    let FaultSpec::Random(random) = &s.faults[12] else {
        panic!("{:?}", s.faults[12])
    };
    assert_eq!(random.kinds.len(), 6);
    assert_eq!(random.kinds[3], RandomKind::LinkDown);
    assert_eq!(
        (
            random.at,
            random.until,
            random.mean_interval,
            random.max_fault
        ),
        (at(9000), at(10000), ms(100), ms(80))
    );
}

#[test]
fn every_good_fixture_loads() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    let mut kinds = std::collections::BTreeSet::new();
    for file in files {
        let s = scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
        kinds.insert(s.protocol.kind());
        // Every fixture also expands for a few seeds (the nemesis never panics).
        for seed in 0..3 {
            let config = s.sim_config(seed);
            assert!(config.faults.windows(2).all(|w| w[0].at <= w[1].at));
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["leaderless", "multi-leader", "single-leader", "single-node"]
    );
}

#[test]
fn bad_inputs_are_refused_with_file_path_and_reason() {
    let mut t = Table::default();
    // Syntax and type errors.
    t.check(
        "{\n  \"name\": \"t\",\n  \"nodes\": 3,,\n}",
        "x.json: line 3 column 14: key must be a string",
    );
    t.check(
        "",
        "x.json: line 1 column 1: the file is empty; a scenario is a JSON object (see \
         `repsim schema`)",
    );
    t.check("{", "x.json: line 1 column 1: EOF while parsing an object");
    t.check(
        &format!("{} {{}}", patched(json!({}))),
        "x.json: line 8 column 3: trailing characters",
    );
    t.check(
        r#"{"name": "t", "network": {"latency": {"dist": "constant", "ms": }}}"#,
        "x.json: line 1 column 65: expected value (in $.network.latency.ms)",
    );
    t.check(
        r#"{"name": "t", "nodes": 3, "duration_ms": 5,
            "protocol": {"kind": "leaderless", "kind": "leaderless"}}"#,
        "x.json: $.protocol.kind: duplicate field `kind`",
    );
    t.check(
        r#"{"name": "t", "name": "u"}"#,
        "x.json: $: duplicate field `name`",
    );
    t.patch(
        json!({"nodes": "3"}),
        "x.json: $.nodes: invalid type: string \"3\", expected u64",
    );
    t.patch(json!({"name": null}), "x.json: $: missing field `name`");

    // Unknown fields, at every level.
    t.patch(
        json!({"nodez": 3}),
        "x.json: $.nodez: unknown field `nodez`, expected one of `name`, `description`, \
         `seed`, `nodes`, `duration_ms`, `protocol`, `network`, `clients`, `faults`, `expect`, \
         `limits`, `debug`, `storage`",
    );
    t.patch(
        json!({"network": {"drop": 0.1}}),
        "x.json: $.network.drop: unknown field `drop`, expected one of `latency`, \
         `client_latency`, `drop_rate`, `duplicate_rate`, `corrupt_rate`, `links`",
    );
    t.patch(
        json!({"clients": {"count": 2, "think": 5}}),
        "x.json: $.clients.think: unknown field `think`, expected one of `count`, `keys`, \
         `read_fraction`, `think_ms`, `timeout_ms`, `reads_from`, `nondeterministic_fraction`, `workload`, `elements`",
    );
    t.patch(
        json!({"protocol": {"kind": "single-leader", "replicaton": "sync"}}),
        "x.json: $.protocol.replicaton: unknown field `replicaton`, expected one of \
         `replication`, `log`, `failover`, `leader`, `ship_interval_ms`, `log_retention`",
    );
    // A field of another kind is unknown to this one, wherever `kind` is (`patched`
    // sorts keys, so these are written out).
    t.check(
        r#"{"name": "t", "nodes": 3, "duration_ms": 5,
            "protocol": {"kind": "single-leader", "w": 2}}"#,
        "x.json: $.protocol.w: unknown field `w`, expected one of `replication`, `log`, \
         `failover`, `leader`, `ship_interval_ms`, `log_retention`",
    );
    t.check(
        r#"{"name": "t", "nodes": 3, "duration_ms": 5,
            "protocol": {"w": 2, "kind": "single-leader"}}"#,
        "x.json: $.protocol.w: unknown field `w`, expected one of `replication`, `log`, \
         `failover`, `leader`, `ship_interval_ms`, `log_retention`",
    );
    t.check(
        r#"{"name": "t", "nodes": 3, "duration_ms": 5,
            "protocol": {"replication": "fast", "kind": "single-leader"}}"#,
        "x.json: $.protocol.replication: unknown variant `fast`, expected one of `sync`, \
         `async`, `semi-sync`, `chain`",
    );
    t.patch(
        json!({"protocol": {"kind": "single-leader", "failover": {"heartbeat": 5}}}),
        "x.json: $.protocol.failover.heartbeat: unknown field `heartbeat`, expected one of \
         `heartbeat_ms`, `timeout_ms`, `fencing`",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "crash": "n0", "note": "x"}]}),
        "x.json: $.faults[0].note: unknown field `note`, expected one of `at_ms`, `until_ms`, \
         `crash`, `restart`, `partition`, `isolate`, `link_down`, `lag`, `clock_skew`, \
         `upgrade`, `add_node`, `random`, `remove_node`, `pause`, `resume`, `hold`, \
         `hold_node`, `release`, `swizzle`, `reorder`",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "lag": {"node": "n0", "extra": 5}, "until_ms": 2}]}),
        "x.json: $.faults[0].lag.extra: unknown field `extra`, expected `node` or `extra_ms`",
    );

    // Tags.
    t.patch(
        json!({"protocol": {"kind": "raft"}}),
        "x.json: $.protocol.kind: unknown variant `raft`, expected one of `single-node`, \
         `single-leader`, `multi-leader`, `leaderless`",
    );
    t.patch(
        json!({"protocol": {"replication": "sync"}}),
        "x.json: $.protocol: missing field `kind`",
    );
    t.patch(
        json!({"protocol": {"kind": "leaderless", "w": "2"}}),
        "x.json: $.protocol.w: invalid type: string \"2\", expected u64",
    );
    t.check(
        r#"{"name": "t", "nodes": 3, "duration_ms": 5,
            "protocol": {"w": "2", "kind": "leaderless"}}"#,
        "x.json: $.protocol.w: invalid type: string \"2\", expected u64",
    );
    t.check(
        r#"{"name": "t", "nodes": 3, "duration_ms": 5,
            "protocol": {"kind": "leaderless"},
            "network": {"latency": {"mean_ms": "2", "dist": "exponential"}}}"#,
        "x.json: $.network.latency.mean_ms: invalid type: string \"2\", expected f64",
    );
    // Objects must be objects, not arrays of their fields.
    t.check(
        r#"["t", "", 1, 3, 5, {"kind": "single-node"}]"#,
        "x.json: $: invalid type: sequence, expected an object",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "lag": ["n0", 5], "until_ms": 2}]}),
        "x.json: $.faults[0].lag: invalid type: sequence, expected an object",
    );
    t.patch(
        json!({"protocol": ["single-leader"]}),
        "x.json: $.protocol: invalid type: sequence, expected a protocol object with a \
         \"kind\" field",
    );
    t.patch(
        json!({"network": {"latency": {"dist": "gamma", "ms": 1}}}),
        "x.json: $.network.latency.dist: unknown variant `gamma`, expected one of \
         `constant`, `uniform`, `exponential`, `normal`, `pareto`",
    );
    t.patch(
        json!({"network": {"latency": {"dist": "constant", "mean_ms": 1}}}),
        "x.json: $.network.latency.mean_ms: unknown field `mean_ms`, expected `ms`",
    );
    t.patch(
        json!({"network": {"latency": {"dist": "uniform", "min_ms": 1}}}),
        "x.json: $.network.latency: missing field `max_ms`",
    );

    // Names.
    t.patch(
        json!({"name": ""}),
        "x.json: $.name: name must not be empty",
    );
    t.patch(
        json!({"name": "a/b"}),
        "x.json: $.name: name is used as a directory name and may not contain `/` \
         (got \"a/b\")",
    );
    t.patch(
        json!({"name": "a..b"}),
        "x.json: $.name: name is used as a directory name and may not contain `..` \
         (got \"a..b\")",
    );

    // Cluster and protocol.
    t.patch(
        json!({"nodes": 0}),
        "x.json: $.nodes: nodes must be between 1 and 1000 (got 0)",
    );
    t.patch(
        json!({"duration_ms": 0}),
        "x.json: $.duration_ms: duration_ms must be greater than 0 (got 0)",
    );
    t.patch(
        json!({"protocol": {"kind": "single-node"}}),
        "x.json: $.nodes: single-node runs exactly one node, so nodes must be 1 (got 3)",
    );
    t.patch(
        json!({"protocol": {"kind": "leaderless", "w": 4}}),
        "x.json: $.protocol.w: w (4) > n (3)",
    );
    t.patch(
        json!({"protocol": {"kind": "leaderless", "n": 2, "r": 3}}),
        "x.json: $.protocol.r: r (3) > n (2)",
    );
    t.patch(
        json!({"protocol": {"kind": "leaderless", "n": 4}}),
        "x.json: $.protocol.n: n (4) > nodes (3)",
    );
    t.patch(
        json!({"protocol": {"kind": "leaderless", "w": 0}}),
        "x.json: $.protocol.w: w must be at least 1 (got 0)",
    );
    t.patch(
        json!({"protocol": {"kind": "leaderless", "anti_entropy_ms": -5}}),
        "x.json: $.protocol.anti_entropy_ms: anti_entropy_ms must not be negative (got -5)",
    );
    t.patch(
        json!({"protocol": {"kind": "single-leader", "leader": "n3"}}),
        "x.json: $.protocol.leader: unknown node `n3` (it must be one of the initial \
         nodes n0..n2)",
    );
    t.patch(
        json!({"protocol": {"kind": "multi-leader", "topology": "star", "root": "n9"}}),
        "x.json: $.protocol.root: unknown node `n9` (it must be one of the initial nodes \
         n0..n2)",
    );
    t.patch(
        json!({"protocol": {"kind": "multi-leader", "root": "n1"}}),
        "x.json: $.protocol.root: root applies only to topology star (this topology is \
         all-to-all)",
    );
    t.patch(
        json!({"protocol": {"kind": "single-leader", "failover": {"timeout_ms": 0}}}),
        "x.json: $.protocol.failover.timeout_ms: timeout_ms must be greater than 0 (got 0)",
    );

    // Network and distributions.
    t.patch(
        json!({"network": {"drop_rate": 1.5}}),
        "x.json: $.network.drop_rate: drop_rate must be between 0 and 1 (got 1.5)",
    );
    t.patch(
        json!({"network": {"latency": {"dist": "uniform", "min_ms": 5, "max_ms": 2}}}),
        "x.json: $.network.latency.min_ms: min_ms (5) > max_ms (2)",
    );
    t.patch(
        json!({"network": {"client_latency": {"dist": "uniform", "min_ms": 5, "max_ms": 2}}}),
        "x.json: $.network.client_latency.min_ms: min_ms (5) > max_ms (2)",
    );
    t.patch(
        json!({"network": {"client_latency": {"dist": "constant", "mss": 0}}}),
        "x.json: $.network.client_latency.mss: unknown field `mss`, expected `ms`",
    );
    t.patch(
        json!({"network": {"latency": {"dist": "exponential", "mean_ms": 0}}}),
        "x.json: $.network.latency.mean_ms: mean_ms must be greater than 0 (got 0)",
    );
    t.patch(
        json!({"network": {"latency": {"dist": "pareto", "scale_ms": -1, "shape": 2}}}),
        "x.json: $.network.latency.scale_ms: scale_ms must be greater than 0 (got -1)",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "clock_skew": {"node": "n0", "offset_ms": -2e12}}]}),
        "x.json: $.faults[0].clock_skew.offset_ms: offset_ms is too large (got \
         -2000000000000; at most 1000000000000 ms)",
    );
    t.patch(
        json!({"network": {"latency": {"dist": "normal", "mean_ms": 1, "stddev_ms": -1}}}),
        "x.json: $.network.latency.stddev_ms: stddev_ms must not be negative (got -1)",
    );
    t.patch(
        json!({"network": {"latency": {"dist": "pareto", "scale_ms": 1, "shape": 0}}}),
        "x.json: $.network.latency.shape: shape must be greater than 0 (got 0)",
    );
    t.patch(
        json!({"network": {"links": [{"from": "n0", "to": "n7",
                                      "latency": {"dist": "constant", "ms": 1}}]}}),
        "x.json: $.network.links[0].to: unknown node `n7` (the nodes are n0..n2)",
    );
    t.patch(
        json!({"network": {"links": [{"from": "n1", "to": "n1",
                                      "latency": {"dist": "constant", "ms": 1}}]}}),
        "x.json: $.network.links[0]: a link joins two different nodes (got n1 to n1)",
    );
    t.patch(
        json!({"network": {"links": [
            {"from": "n0", "to": "n1", "latency": {"dist": "constant", "ms": 1}},
            {"from": "n0", "to": "n1", "latency": {"dist": "constant", "ms": 2}}]}}),
        "x.json: $.network.links[1]: the link n0 -> n1 is already set by $.network.links[0]",
    );
    t.patch(
        json!({"network": {"links": [{"from": "n0", "to": "n1",
                                      "latency": {"dist": "constant", "ms": "x"}}]}}),
        "x.json: $.network.links[0].latency.ms: invalid type: string \"x\", expected f64",
    );
    t.patch(
        json!({"network": {"links": [{"from": "n0", "to": "n1",
                                      "latency": {"ms": "x", "dist": "constant"}}]}}),
        "x.json: $.network.links[0].latency.ms: invalid type: string \"x\", expected f64",
    );

    // Clients.
    t.patch(
        json!({"clients": {"reads_from": "nearest"}}),
        "x.json: $.clients.reads_from: unknown reads_from `nearest`; single-leader allows: \
         leader, any, sticky, read-your-writes, monotonic, consistent-prefix",
    );
    t.patch(
        json!({"protocol": {"kind": "leaderless"}, "clients": {"reads_from": "leader"}}),
        "x.json: $.clients.reads_from: reads_from `leader` means nothing here: leaderless \
         has no leader; leaderless allows: any, sticky",
    );
    t.patch(
        json!({"protocol": {"kind": "multi-leader"}, "clients": {"reads_from": "leader"}}),
        "x.json: $.clients.reads_from: reads_from `leader` means nothing here: every node \
         of multi-leader is a leader; multi-leader allows: any, sticky",
    );
    t.patch(
        json!({"protocol": {"kind": "leaderless"}, "clients": {"reads_from": "monotonic"}}),
        "x.json: $.clients.reads_from: reads_from `monotonic` is single-leader only; \
         leaderless allows: any, sticky",
    );
    t.patch(
        json!({"clients": {"keys": 0}}),
        "x.json: $.clients.keys: keys must be between 1 and 1000000 (got 0)",
    );
    t.patch(
        json!({"clients": {"count": 100001}}),
        "x.json: $.clients.count: count must be at most 100000 (got 100001)",
    );
    t.patch(
        json!({"clients": {"read_fraction": -0.5}}),
        "x.json: $.clients.read_fraction: read_fraction must be between 0 and 1 (got -0.5)",
    );
    t.patch(
        json!({"clients": {"timeout_ms": 0}}),
        "x.json: $.clients.timeout_ms: timeout_ms must be greater than 0 (got 0)",
    );

    // Fault times and shapes.
    t.patch(
        json!({"faults": [{"at_ms": -1, "crash": "n0"}]}),
        "x.json: $.faults[0].at_ms: at_ms must not be negative (got -1)",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "crash": "n0"}, {"at_ms": 6000, "crash": "n1"}]}),
        "x.json: $.faults[1].at_ms: at_ms (6000) is after the workload ends (duration_ms 5000)",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1000, "isolate": "n0", "until_ms": 1000}]}),
        "x.json: $.faults[0].until_ms: until_ms (1000) must be after at_ms (1000)",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1000, "isolate": "n0", "until_ms": 5000.5}]}),
        "x.json: $.faults[0].until_ms: until_ms (5000.5) is after the workload ends \
         (duration_ms 5000)",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1000, "partition": [["n0"], ["n1"]]}]}),
        "x.json: $.faults[0]: partition is a window and needs until_ms",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1000, "random": {"kinds": ["crash"],
                            "mean_interval_ms": 10, "max_fault_ms": 10}}]}),
        "x.json: $.faults[0]: random is a window and needs until_ms",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1000, "crash": "n0", "until_ms": 2000}]}),
        "x.json: $.faults[0].until_ms: crash happens at an instant and takes no until_ms",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1000, "crash": "n0", "restart": "n0"}]}),
        "x.json: $.faults[0]: a fault has exactly one action, but this one has 2: crash, \
         restart",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1000}]}),
        "x.json: $.faults[0]: a fault needs one action, one of: crash, restart, partition, \
         isolate, link_down, lag, clock_skew, upgrade, add_node, random, \
         remove_node, pause, resume, hold, hold_node, release, swizzle, reorder",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "partition": [["n0", "n1", "n2"]], "until_ms": 2}]}),
        "x.json: $.faults[0].partition: a partition needs at least 2 groups (got 1)",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "partition": [["n0"], []], "until_ms": 2}]}),
        "x.json: $.faults[0].partition[1]: a partition group may not be empty",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "partition": [["n0", "n1"], ["n1"]], "until_ms": 2}]}),
        "x.json: $.faults[0].partition[1][0]: n1 is already in group 0; a node can be in \
         one group only",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "link_down": ["n2", "n2"], "until_ms": 2}]}),
        "x.json: $.faults[0].link_down: link_down needs two different nodes (got n2 twice)",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "link_down": ["n0"], "until_ms": 2}]}),
        "x.json: $.faults[0].link_down: invalid length 1, expected a tuple of size 2",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "lag": {"node": "n0", "extra_ms": -3}, "until_ms": 2}]}),
        "x.json: $.faults[0].lag.extra_ms: extra_ms must not be negative (got -3)",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "random": {"kinds": [], "mean_interval_ms": 10,
                                                   "max_fault_ms": 10}, "until_ms": 2}]}),
        "x.json: $.faults[0].random.kinds: kinds needs at least one fault kind",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "random": {"kinds": ["crash", "upgrade"],
                            "mean_interval_ms": 10, "max_fault_ms": 10}, "until_ms": 2}]}),
        "x.json: $.faults[0].random.kinds[1]: unknown variant `upgrade`, expected one of \
         `crash`, `partition`, `isolate`, `link_down`, `lag`, `clock_skew`, `pause`, `hold`, `reorder`",
    );

    // Fault nodes and the add_node timeline.
    t.patch(
        json!({"faults": [{"at_ms": 1, "crash": "n3"}]}),
        "x.json: $.faults[0].crash: unknown node `n3` (the nodes are n0..n2)",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "crash": "db1"}]}),
        "x.json: $.faults[0].crash: unknown node `db1` (node ids are n0, n1, ... as in \
         `nodes` and add_node)",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "add_node": "n4"}]}),
        "x.json: $.faults[0].add_node: add_node must bring in the next node id, n3 (got \
         n4); nodes are added in start order",
    );
    t.patch(
        json!({"faults": [{"at_ms": 20, "add_node": "n3"}, {"at_ms": 10, "add_node": "n4"}]}),
        "x.json: $.faults[1].add_node: add_node must bring in the next node id, n3 (got \
         n4); nodes are added in start order",
    );
    t.patch(
        json!({"faults": [{"at_ms": 500, "crash": "n3"}, {"at_ms": 1000, "add_node": "n3"}]}),
        "x.json: $.faults[0].crash: node n3 does not exist yet at 500 ms: it is added at \
         1000 ms by $.faults[1]",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1000, "crash": "n3"}, {"at_ms": 1000, "add_node": "n3"}]}),
        "x.json: $.faults[0].crash: node n3 does not exist yet at 1000 ms: $.faults[1] adds \
         it at the same time but later in the file",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "add_node": "n3"},
                          {"at_ms": 2, "isolate": "n4", "until_ms": 3}]}),
        "x.json: $.faults[1].isolate: unknown node `n4` (the nodes are n0..n2, plus n3 \
         added by add_node)",
    );
    t.patch(
        json!({"nodes": 1, "protocol": {"kind": "single-node"},
               "faults": [{"at_ms": 1, "add_node": "n1"}]}),
        "x.json: $.faults[0].add_node: single-node runs exactly one node and cannot add nodes",
    );

    // Expectations.
    t.patch(
        json!({"expect": {"stale_reads": {"max": 1}}}),
        "x.json: $.expect.stale_reads: unknown field `stale_reads`, expected one of \
         `stale_read`, `read_your_writes`, `monotonic_read`, `consistent_prefix`, \
         `lost_write`, `phantom_read`, `divergence`, `split_brain`, `unavailable`, \
         `linearizability`, `lost_increment`, `phantom_increment`, `lost_add`",
    );
    t.patch(
        json!({"expect": {"lost_write": {"min": 5, "max": 2}}}),
        "x.json: $.expect.lost_write: min (5) > max (2)",
    );
    t.patch(
        json!({"expect": {"lost_write": {}}}),
        "x.json: $.expect.lost_write: give min, max or both",
    );
    t.patch(
        json!({"expect": {"lost_write": {"at_least": 1}}}),
        "x.json: $.expect.lost_write.at_least: unknown field `at_least`, expected `min` or \
         `max`",
    );
    t.finish();
}

#[test]
fn unreadable_files_name_the_file() {
    let error = scenario::load(Path::new("/nonexistent/x.json")).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/x.json: cannot read: "),
        "{error}"
    );
    assert_eq!(error.file(), "/nonexistent/x.json");
    assert_eq!(error.path(), None);
}

/// A single-leader scenario on five nodes whose faults are `faults`.
fn with_faults(faults: Value) -> Scenario {
    let text = patched(json!({"nodes": 5, "duration_ms": 20000, "faults": faults}));
    scenario::parse(&text, "x.json").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn random_faults_expand_deterministically_per_seed() {
    let s = with_faults(json!([
        {"at_ms": 0, "random": {"kinds": ["crash", "partition", "lag"],
                                "mean_interval_ms": 500, "max_fault_ms": 400},
         "until_ms": 10000},
        {"at_ms": 5000, "crash": "n1"},
        {"at_ms": 8000, "random": {"kinds": ["isolate", "clock_skew"],
                                   "mean_interval_ms": 300, "max_fault_ms": 200},
         "until_ms": 20000}
    ]));
    let a = s.sim_config(11);
    let b = s.sim_config(11);
    let c = s.sim_config(12);
    assert_eq!(a.faults, b.faults);
    assert_ne!(a.faults, c.faults);
    assert_eq!(a.faults, s.expanded_faults(11));
    assert!(a.faults.len() > 10, "{}", a.faults.len());
    assert!(a.faults.windows(2).all(|w| w[0].at <= w[1].at));
    // The fixed fault is there exactly once, among the expanded ones.
    let fixed = Fault {
        at: at(5000),
        until: None,
        action: FaultAction::Crash(NodeId(1)),
    };
    assert_eq!(a.faults.iter().filter(|f| **f == fixed).count(), 1);
    // The second nemesis draws only its own kinds, inside its own window.
    assert!(
        a.faults
            .iter()
            .filter(|f| matches!(
                f.action,
                FaultAction::Isolate(_) | FaultAction::ClockSkew { .. }
            ))
            .all(|f| f.at >= at(8000) && f.until.is_some_and(|u| u <= at(20000)))
    );
    assert_eq!((a.seed, a.nodes, a.duration), (11, 5, at(20000)));
    assert_eq!(a.network, s.network);
    assert_eq!(a.clients, s.clients);
    assert!(a.trace.is_none());
}

#[test]
fn fixed_faults_are_passed_through_sorted_by_start() {
    let s = with_faults(json!([
        {"at_ms": 3000, "restart": "n0"},
        {"at_ms": 1000, "crash": "n0"},
        {"at_ms": 1000, "lag": {"node": "n2", "extra_ms": 0.0015}, "until_ms": 1500.0004},
        {"at_ms": 0.0005, "clock_skew": {"node": "n4", "offset_ms": -0.0015}}
    ]));
    let expected = vec![
        Fault {
            at: SimTime::from_micros(1),
            until: None,
            action: FaultAction::ClockSkew {
                node: NodeId(4),
                offset_micros: -2,
            },
        },
        Fault {
            at: at(1000),
            until: None,
            action: FaultAction::Crash(NodeId(0)),
        },
        Fault {
            at: at(1000),
            until: Some(at(1500)),
            action: FaultAction::Lag {
                node: NodeId(2),
                extra: SimDuration::from_micros(2),
            },
        },
        Fault {
            at: at(3000),
            until: None,
            action: FaultAction::Restart(NodeId(0)),
        },
    ];
    for seed in [1, 2, 99] {
        assert_eq!(s.sim_config(seed).faults, expected);
    }
}

#[test]
fn the_schema_describes_the_format() {
    let schema = scenario::schema();
    let text = serde_json::to_string_pretty(&schema).unwrap();
    let reparsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reparsed, schema);
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(schema["title"].is_string() && schema["description"].is_string());
    let properties = schema["properties"].as_object().unwrap();
    for field in [
        "name",
        "description",
        "seed",
        "nodes",
        "duration_ms",
        "protocol",
        "network",
        "clients",
        "faults",
        "expect",
    ] {
        let property = &properties[field];
        assert!(property.is_object(), "{field}");
        assert!(
            property.get("description").is_some(),
            "{field} has no description"
        );
    }
    assert_eq!(schema["additionalProperties"], false);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["name", "nodes", "duration_ms", "protocol"]);
    for kind in ["single-node", "single-leader", "multi-leader", "leaderless"] {
        assert!(text.contains(&format!("\"const\": \"{kind}\"")), "{kind}");
    }
    for word in [
        "heartbeat_ms",
        "anti_entropy_ms",
        "home_leader",
        "version-vectors",
        "semi-sync",
        "mean_interval_ms",
        "clock_skew",
        "add_node",
        "linearizability",
        "stddev_ms",
        "reads_from",
        "read-your-writes",
    ] {
        assert!(text.contains(word), "{word}");
    }
    // Deterministic output.
    assert_eq!(scenario::schema(), schema);
}

#[test]
fn semi_sync_without_a_follower_is_refused() {
    let text = r#"{"name": "t", "nodes": 1, "duration_ms": 100,
                   "protocol": {"kind": "single-leader", "replication": "semi-sync"}}"#;
    let err = repsim_runner::scenario::parse(text, "x.json")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "x.json: $.protocol.replication: semi-sync needs a follower to be synchronous, but nodes is 1"
    );
}

#[test]
fn names_are_read_only_from_strings() {
    // serde reads a name (an enum of unit variants) from `{"sync": null}` too, and
    // answers other types with "expected value" at valid JSON; names are strings only.
    let mut t = Table::default();
    let single_leader = |replication: Value| {
        let protocol = json!({"kind": "single-leader", "replication": replication});
        json!({ "protocol": protocol })
    };
    t.patch(
        single_leader(json!({"sync": null})),
        "x.json: $.protocol.replication: invalid type: map, expected a string",
    );
    t.patch(
        single_leader(json!(["sync"])),
        "x.json: $.protocol.replication: invalid type: sequence, expected a string",
    );
    t.patch(
        single_leader(json!(7)),
        "x.json: $.protocol.replication: invalid type: integer `7`, expected a string",
    );
    t.patch(
        single_leader(json!("syn")),
        "x.json: $.protocol.replication: unknown variant `syn`, expected one of `sync`, \
         `async`, `semi-sync`, `chain`",
    );
    t.patch(
        json!({"protocol": {"kind": {}}}),
        "x.json: $.protocol.kind: invalid type: map, expected a string",
    );
    t.patch(
        json!({"protocol": {"kind": "multi-leader", "topology": null}}),
        "x.json: $.protocol.topology: invalid type: null, expected a string",
    );
    t.patch(
        json!({"network": {"latency": {"dist": {"constant": null}, "ms": 1}}}),
        "x.json: $.network.latency.dist: invalid type: map, expected a string",
    );
    t.patch(
        json!({"faults": [{"at_ms": 1, "until_ms": 2, "random": {
            "kinds": ["crash", {"lag": null}], "mean_interval_ms": 1, "max_fault_ms": 1}}]}),
        "x.json: $.faults[0].random.kinds[1]: invalid type: map, expected a string",
    );
    t.finish();
}

#[test]
fn crdt_workloads_and_conflict_modes_must_go_together() {
    let file = |protocol: &str, clients: &str| {
        let nodes = if protocol.contains("single-node") {
            1
        } else {
            3
        };
        format!(
            r#"{{"name": "c", "nodes": {nodes}, "duration_ms": 100, "protocol": {protocol}, "clients": {clients}}}"#
        )
    };
    for (protocol, clients, message) in [
        (
            r#"{"kind": "single-leader"}"#,
            r#"{"workload": "counter"}"#,
            "c.json: $.clients.workload: workload counter needs CRDT values: single-leader does not offer them",
        ),
        (
            r#"{"kind": "multi-leader", "conflict": "lww"}"#,
            r#"{"workload": "set"}"#,
            "c.json: $.clients.workload: workload set needs CRDT values: set protocol.conflict to crdt",
        ),
        (
            r#"{"kind": "leaderless", "conflict": "crdt"}"#,
            r#"{}"#,
            "c.json: $.protocol.conflict: conflict crdt merges counters and sets: set clients.workload to counter or set",
        ),
        (
            r#"{"kind": "leaderless", "conflict": "crdt", "versions": "version-vectors"}"#,
            r#"{"workload": "counter"}"#,
            "c.json: $.protocol.versions: conflict crdt values carry their own versions",
        ),
        (
            r#"{"kind": "multi-leader", "conflict": "crdt"}"#,
            r#"{"workload": "counter", "elements": 4}"#,
            "c.json: $.clients.elements: elements applies only to workload set (this workload is counter)",
        ),
        (
            r#"{"kind": "multi-leader", "conflict": "crdt"}"#,
            r#"{"workload": "set", "elements": 0}"#,
            "c.json: $.clients.elements: elements must be between 1 and 1000 (got 0)",
        ),
        (
            r#"{"kind": "multi-leader", "conflict": "crdt"}"#,
            r#"{"workload": "set", "nondeterministic_fraction": 0.5}"#,
            "c.json: $.clients.nondeterministic_fraction: nondeterministic writes apply to the register workload, not set",
        ),
        (
            r#"{"kind": "leaderless", "conflict": "lww"}"#,
            r#"{"workload": "counter"}"#,
            "c.json: $.protocol.conflict",
        ),
        (
            r#"{"kind": "single-node"}"#,
            r#"{"workload": "sets"}"#,
            "c.json: $.clients.workload",
        ),
    ] {
        let err = scenario::parse(&file(protocol, clients), "c.json")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(message), "{protocol} {clients}: {err}");
    }
    for (protocol, clients) in [
        (r#"{"kind": "single-node"}"#, r#"{"workload": "counter"}"#),
        (
            r#"{"kind": "single-node"}"#,
            r#"{"workload": "set", "elements": 3}"#,
        ),
        (
            r#"{"kind": "multi-leader", "conflict": "crdt"}"#,
            r#"{"workload": "set"}"#,
        ),
        (
            r#"{"kind": "leaderless", "conflict": "crdt"}"#,
            r#"{"workload": "counter"}"#,
        ),
    ] {
        scenario::parse(&file(protocol, clients), "c.json").unwrap();
    }
}
