//! Integration tests of the simulation core, driven through a small gossip protocol
//! (see `common`): determinism, partitions, crashes, clock skew, clients and history.

mod common;

use common::{GossipProtocol, HEARTBEAT};
use repsim_history::{EventType, Function, History, Outcome};
use repsim_sim::{
    ClientConfig, Fault, FaultAction, Latency, NetworkConfig, NodeId, Probability, RandomFaults,
    RandomKind, RunOutput, SimConfig, SimDuration, SimRng, SimTime, Simulation, Start, TraceConfig,
};

fn ms(ms: u64) -> SimTime {
    SimTime::from_micros(ms * 1000)
}

fn base_config(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        nodes: 3,
        duration: ms(2_000),
        network: NetworkConfig {
            latency: Latency::Exponential {
                mean_micros: 2_000.0,
            },
            drop_rate: Probability::new(0.01),
            duplicate_rate: Probability::new(0.01),
            ..NetworkConfig::default()
        },
        clients: ClientConfig {
            count: 4,
            keys: 5,
            timeout: SimDuration::from_millis(100),
            ..ClientConfig::default()
        },
        trace: Some(TraceConfig::default()),
        ..SimConfig::default()
    }
}

fn with_nemesis(mut config: SimConfig) -> SimConfig {
    let nemesis = RandomFaults {
        kinds: vec![
            RandomKind::Crash,
            RandomKind::Partition,
            RandomKind::Lag,
            RandomKind::ClockSkew,
            RandomKind::Pause,
            RandomKind::Hold,
            RandomKind::Reorder,
        ],
        mean_interval: SimDuration::from_millis(200),
        max_fault: SimDuration::from_millis(300),
        at: SimTime::ZERO,
        until: config.duration,
        swarm: false,
    };
    config.faults = nemesis.expand(config.nodes, &mut SimRng::stream(config.seed, "faults"));
    config
}

fn run(config: SimConfig) -> RunOutput {
    let (protocol, _) = GossipProtocol::new(config.clients.keys);
    Simulation::new(protocol, config).run()
}

fn history_text(history: &History) -> String {
    let mut out = Vec::new();
    history.write_jsonl(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn same_seed_gives_byte_identical_history_trace_and_final_state() {
    let a = run(with_nemesis(base_config(42)));
    let b = run(with_nemesis(base_config(42)));
    assert!(a.history.events.len() > 500, "{}", a.history.events.len());
    assert_eq!(history_text(&a.history), history_text(&b.history));
    let (ta, tb) = (a.trace.unwrap().to_jsonl(), b.trace.unwrap().to_jsonl());
    assert!(ta.lines().count() > 1000);
    assert_eq!(ta, tb);
    assert_eq!(
        a.final_state.to_json(&a.history),
        b.final_state.to_json(&b.history)
    );
    assert_eq!(a.stats, b.stats);
}

#[test]
fn a_different_seed_gives_a_different_run() {
    let a = run(with_nemesis(base_config(42)));
    let b = run(with_nemesis(base_config(43)));
    assert_ne!(history_text(&a.history), history_text(&b.history));
    assert_ne!(a.trace.unwrap().to_jsonl(), b.trace.unwrap().to_jsonl());
}

#[test]
fn faults_do_not_change_what_clients_ask_for() {
    let calm = run(base_config(7));
    let stormy = run(with_nemesis(base_config(7)));
    let ops = |h: &History, p: u32| -> Vec<(Function, u32)> {
        h.events
            .iter()
            .filter(|e| e.process.0 == p && e.kind == EventType::Invoke)
            .map(|e| (e.f, e.key.0))
            .collect()
    };
    for p in 0..4 {
        let (a, b) = (ops(&calm.history, p), ops(&stormy.history, p));
        let n = a.len().min(b.len());
        assert!(n > 50);
        assert_eq!(a[..n], b[..n], "process {p}");
    }
    // The fault schedule did change timing.
    assert_ne!(history_text(&calm.history), history_text(&stormy.history));
}

#[test]
fn a_partition_drops_exactly_the_messages_across_the_cut() {
    let mut config = base_config(3);
    config.network.drop_rate = Probability::NEVER;
    config.network.duplicate_rate = Probability::NEVER;
    config.clients.count = 0;
    config.faults = vec![Fault {
        at: ms(500),
        until: Some(ms(1_000)),
        action: FaultAction::Partition(vec![vec![NodeId(0)], vec![NodeId(1), NodeId(2)]]),
    }];
    let (protocol, probe) = GossipProtocol::new(1);
    let output = Simulation::new(protocol, config).run();
    let trace = output.trace.unwrap();
    let across = |a: &str, b: &str| (a == "n0") != (b == "n0");
    // Sends inside the window and deliveries of messages sent inside it.
    let mut inside_sends = std::collections::BTreeMap::new();
    for e in &trace.events {
        if let repsim_sim::trace::TraceKind::Send { id, from, to, .. } = &e.kind
            && e.time >= ms(500)
            && e.time < ms(1_000)
        {
            inside_sends.insert(*id, across(&from.to_string(), &to.to_string()));
        }
    }
    let (mut delivered_across, mut dropped_across, mut delivered_within, mut dropped_within) =
        (0, 0, 0, 0);
    for e in &trace.events {
        match &e.kind {
            repsim_sim::trace::TraceKind::Deliver { id, .. } => match inside_sends.get(id) {
                Some(true) => delivered_across += 1,
                Some(false) => delivered_within += 1,
                None => {}
            },
            repsim_sim::trace::TraceKind::Drop { id, reason, .. } => {
                assert_eq!(*reason, "cut");
                match inside_sends.get(id) {
                    Some(true) => dropped_across += 1,
                    Some(false) => dropped_within += 1,
                    None => {}
                }
            }
            _ => {}
        }
    }
    // Heartbeats every 10 ms from each of 3 nodes to 2 peers for 500 ms.
    assert!(dropped_across >= 190, "{dropped_across}");
    assert_eq!(delivered_across, 0);
    assert_eq!(dropped_within, 0);
    assert!(delivered_within >= 95, "{delivered_within}");
    assert_eq!(output.stats.dropped_cut, output.stats.dropped());
    // Before and after the window, n0 hears from n1.
    let heard = probe
        .borrow()
        .heartbeats
        .iter()
        .filter(|&&(f, t)| f == NodeId(1) && t == NodeId(0))
        .count();
    assert!(heard >= 100, "{heard}");
}

#[test]
fn messages_in_flight_when_a_partition_starts_are_lost() {
    let mut config = base_config(3);
    config.network = NetworkConfig {
        latency: Latency::Constant(SimDuration::from_millis(8)),
        ..NetworkConfig::default()
    };
    config.clients.count = 0;
    // Heartbeats leave at 10, 20, ... ms and take 8 ms; a 1 ms partition at 105 ms cuts
    // the ones sent at 100 ms, still in flight.
    config.faults = vec![Fault {
        at: ms(105),
        until: Some(ms(106)),
        action: FaultAction::Isolate(NodeId(2)),
    }];
    let output = run(config);
    // n2's two outgoing and two incoming heartbeats sent at 100 ms.
    assert_eq!(output.stats.dropped_cut, 4);
}

#[test]
fn crash_loses_volatile_state_and_keeps_durable_state() {
    let mut config = base_config(11);
    config.network.drop_rate = Probability::NEVER;
    config.faults = vec![
        Fault {
            at: ms(700),
            until: None,
            action: FaultAction::Crash(NodeId(1)),
        },
        Fault {
            at: ms(900),
            until: None,
            action: FaultAction::Restart(NodeId(1)),
        },
    ];
    let (protocol, probe) = GossipProtocol::new(5);
    let output = Simulation::new(protocol, config).run();
    let probe = probe.borrow();
    let restarts: Vec<_> = probe
        .starts
        .iter()
        .filter(|s| s.1 == Start::Restart)
        .collect();
    assert_eq!(restarts.len(), 1);
    // n1 got back the records it persisted before the crash, and nothing else: its
    // heartbeats (never persisted) are gone, its writes are not.
    assert_eq!(restarts[0].0, NodeId(1));
    assert!(restarts[0].2 > 20, "{:?}", restarts[0]);
    // Its volatile heartbeat counter started again from zero after the restart.
    let heard: Vec<u64> = probe
        .heard
        .iter()
        .filter(|h| h.0 == NodeId(1))
        .map(|h| h.1)
        .collect();
    let resets = heard.windows(2).filter(|w| w[1] < w[0]).count();
    assert_eq!(resets, 1, "{heard:?}");
    assert!(heard.iter().max().unwrap() > &100);
    // Its durable writes survived: after settling it agrees with the others.
    let states: Vec<_> = output.final_state.nodes.values().collect();
    assert!(states.windows(2).all(|w| w[0] == w[1]));
    // No heartbeat timer fired on n1 while it was down.
    assert!(
        !probe
            .ticks
            .iter()
            .any(|&(n, t)| n == NodeId(1) && t > ms(700) && t < ms(900))
    );
    // Requests sent to n1 while it was down failed at once, as refused connections.
    let down_fails = output.history.events.iter().filter(|e| {
        e.kind == EventType::Fail
            && e.node == Some(NodeId(1))
            && e.time_ms > 700.0
            && e.time_ms < 900.0
    });
    assert!(down_fails.count() > 5);
}

#[test]
fn clock_skew_shifts_local_time_only() {
    let mut config = base_config(5);
    config.clients.count = 0;
    config.network.drop_rate = Probability::NEVER;
    config.faults = vec![Fault {
        at: ms(205),
        until: Some(ms(505)),
        action: FaultAction::ClockSkew {
            node: NodeId(1),
            offset_micros: 50_000,
        },
    }];
    let (protocol, probe) = GossipProtocol::new(1);
    Simulation::new(protocol, config).run();
    let probe = probe.borrow();
    let ticks = |node: u16| -> Vec<u64> {
        probe
            .ticks
            .iter()
            .filter(|t| t.0 == NodeId(node))
            .map(|t| t.1.as_micros())
            .collect()
    };
    let (n0, n1) = (ticks(0), ticks(1));
    // Timers fire at the same true times on both nodes: every 10 ms.
    assert_eq!(n0.len(), n1.len());
    for (i, (&a, &b)) in n0.iter().zip(&n1).enumerate() {
        let true_time = (i as u64 + 1) * HEARTBEAT.as_micros();
        assert_eq!(a, true_time);
        let skewed = (205_000..505_000).contains(&true_time);
        assert_eq!(
            b,
            if skewed {
                true_time + 50_000
            } else {
                true_time
            },
            "tick {i}"
        );
    }
}

#[test]
fn the_history_is_well_formed_with_unique_values() {
    let output = run(with_nemesis(base_config(9)));
    let ops = output.history.operations().expect("well formed");
    let mut values = std::collections::BTreeSet::new();
    for op in &ops {
        if op.f == Function::Write {
            let repsim_history::Val::One(v) = op.value else {
                panic!()
            };
            assert!(values.insert(v), "value {v:?} written twice");
        }
        // The run settles: every operation completed.
        assert_ne!(op.outcome, Outcome::Pending);
    }
    let count = |o| ops.iter().filter(|op| op.outcome == o).count();
    assert!(count(Outcome::Ok) > 100);
    // Crashes make some operations fail (refused) or time out.
    assert!(count(Outcome::Fail) + count(Outcome::Info) > 0);
    // Every write in a partition-free settle converges: all nodes agree at the end.
    let states: Vec<_> = output.final_state.nodes.values().collect();
    assert!(states.windows(2).all(|w| w[0] == w[1]), "replicas diverged");
    assert_eq!(output.outcome, repsim_sim::RunOutcome::Quiet);
}

#[test]
fn clients_time_out_with_info_when_requests_are_lost() {
    let mut config = base_config(2);
    config.clients.count = 1;
    config.clients.reads_from = "leader".into();
    config.network.drop_rate = Probability::NEVER;
    // n0 is down for a window; a request already in flight when it crashes is lost and
    // the client records `info` after its 100 ms timeout.
    config.faults = vec![
        Fault {
            at: ms(300),
            until: None,
            action: FaultAction::Crash(NodeId(0)),
        },
        Fault {
            at: ms(600),
            until: None,
            action: FaultAction::Restart(NodeId(0)),
        },
    ];
    let output = run(config);
    let ops = output.history.operations().unwrap();
    let info: Vec<_> = ops
        .iter()
        .filter(|op| op.outcome == Outcome::Info)
        .collect();
    assert!(info.len() <= 1);
    for op in &info {
        let invoke = output.history.events[op.invoke as usize].time_ms;
        let done = output.history.events[op.completion.unwrap() as usize].time_ms;
        assert_eq!(done - invoke, 100.0);
    }
    let refused = ops.iter().filter(|op| op.outcome == Outcome::Fail).count();
    assert!(refused > 10, "{refused}");
}

#[test]
fn add_node_and_upgrade_start_nodes_the_right_way() {
    let mut config = base_config(4);
    config.faults = vec![
        Fault {
            at: ms(300),
            until: None,
            action: FaultAction::AddNode(NodeId(3)),
        },
        Fault {
            at: ms(400),
            until: None,
            action: FaultAction::Upgrade(NodeId(0)),
        },
    ];
    let (protocol, probe) = GossipProtocol::new(5);
    let output = Simulation::new(protocol, config).run();
    let starts = &probe.borrow().starts;
    assert!(starts.contains(&(NodeId(3), Start::Join, 0)));
    assert!(
        starts
            .iter()
            .any(|s| s.0 == NodeId(0) && s.1 == Start::Restart)
    );
    assert_eq!(output.members.len(), 4);
    assert!(output.final_state.nodes.contains_key(&NodeId(3)));
}

#[test]
fn budget_exhaustion_is_an_outcome_not_a_hang() {
    let mut config = base_config(1);
    config.limits.max_events = 1_000;
    let output = run(config);
    assert_eq!(output.outcome, repsim_sim::RunOutcome::BudgetExhausted);
    assert_eq!(output.stats.events, 1_000);
}

#[test]
fn a_paused_node_keeps_its_state_and_handles_what_waited_when_it_resumes() {
    let mut config = base_config(12);
    config.network.drop_rate = Probability::NEVER;
    config.clients.count = 0;
    config.faults = vec![Fault {
        at: ms(300),
        until: Some(ms(500)),
        action: FaultAction::Pause(NodeId(1)),
    }];
    let (protocol, probe) = GossipProtocol::new(1);
    let output = Simulation::new(protocol, config).run();
    let probe = probe.borrow();
    // No restart: the node was never crashed.
    assert!(!probe.starts.iter().any(|s| s.1 == Start::Restart));
    // n1's timers did not fire while it was paused; the one due meanwhile fires at 500 ms.
    let n1: Vec<u64> = probe
        .ticks
        .iter()
        .filter(|t| t.0 == NodeId(1))
        .map(|t| t.1.as_micros())
        .collect();
    assert!(!n1.iter().any(|&t| t > 300_000 && t < 500_000), "{n1:?}");
    assert!(n1.contains(&500_000));
    // Its volatile counter never reset, and no message to it was lost: what waited was
    // delivered at the resume.
    let heard: Vec<u64> = probe
        .heard
        .iter()
        .filter(|h| h.0 == NodeId(1))
        .map(|h| h.1)
        .collect();
    assert!(heard.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(output.stats.dropped(), 0);
    assert!(output.stats.deferred > 30, "{}", output.stats.deferred);
}

#[test]
fn held_messages_arrive_late_and_none_is_lost() {
    let mut config = base_config(13);
    config.network.drop_rate = Probability::NEVER;
    config.network.duplicate_rate = Probability::NEVER;
    config.clients.count = 0;
    config.faults = vec![Fault {
        at: ms(200),
        until: Some(ms(400)),
        action: FaultAction::Hold {
            from: NodeId(0),
            to: NodeId(2),
        },
    }];
    let (protocol, probe) = GossipProtocol::new(1);
    let output = Simulation::new(protocol, config).run();
    assert_eq!(output.stats.dropped(), 0);
    assert!(output.stats.held >= 15, "{}", output.stats.held);
    // Heartbeats n0 -> n2 sent while held: none arrives before 400 ms, all after.
    let probe = probe.borrow();
    assert_eq!(
        probe
            .heartbeats
            .iter()
            .filter(|&&(f, t)| f == NodeId(0) && t == NodeId(2))
            .count(),
        probe
            .heartbeats
            .iter()
            .filter(|&&(f, t)| f == NodeId(0) && t == NodeId(1))
            .count()
    );
}

#[test]
fn corrupted_messages_are_dropped_and_counted() {
    let mut config = base_config(14);
    config.network.drop_rate = Probability::NEVER;
    config.network.corrupt_rate = Probability::new(0.1);
    let output = run(config);
    let corrupt = output.stats.dropped_corrupt as f64 / output.stats.sent as f64;
    assert!((0.08..0.12).contains(&corrupt), "{corrupt}");
    assert_eq!(
        output.stats.dropped(),
        output.stats.dropped_corrupt + output.stats.dropped_crashed
    );
}

#[test]
fn a_crash_loses_records_that_were_not_yet_synced() {
    let mut config = base_config(15);
    config.network.drop_rate = Probability::NEVER;
    config.faults = vec![
        Fault {
            at: ms(777),
            until: None,
            action: FaultAction::Crash(NodeId(1)),
        },
        Fault {
            at: ms(900),
            until: None,
            action: FaultAction::Restart(NodeId(1)),
        },
    ];
    let records_at_restart = |sync: Vec<repsim_sim::SyncPolicy>| {
        let mut config = config.clone();
        config.sync = sync;
        let (protocol, probe) = GossipProtocol::new(5);
        let output = Simulation::new(protocol, config).run();
        let restored = probe
            .borrow()
            .starts
            .iter()
            .find(|s| s.1 == Start::Restart)
            .unwrap()
            .2;
        (restored, output.stats.records_lost)
    };
    let (always, lost) = records_at_restart(Vec::new());
    assert_eq!(lost, 0);
    let every = repsim_sim::SyncPolicy::Every(SimDuration::from_millis(100));
    let (periodic, lost) = records_at_restart(vec![every; 3]);
    // Records persisted since the flush at 700 ms may be gone.
    assert!(
        lost > 0 && periodic < always,
        "lost {lost}: {periodic} vs {always}"
    );
    assert!(
        periodic + lost as usize >= always - 5,
        "{periodic} + {lost} vs {always}"
    );
}

#[test]
fn the_nemesis_runs_are_deterministic_with_every_fault_kind() {
    let (mut deferred, mut held) = (0, 0);
    for seed in 70..76 {
        let a = run(with_nemesis(base_config(seed)));
        let b = run(with_nemesis(base_config(seed)));
        assert_eq!(a.stats, b.stats);
        assert_eq!(history_text(&a.history), history_text(&b.history));
        deferred += a.stats.deferred;
        held += a.stats.held;
    }
    assert!(deferred > 0 && held > 0, "{deferred} {held}");
}

/// Per directed link, how many pairs of messages (among consecutive deliveries) arrived
/// in the opposite order to the one they were sent in.
fn overtakes(trace: &repsim_sim::Trace) -> usize {
    use repsim_sim::trace::TraceKind;
    let mut last: std::collections::BTreeMap<(NodeId, NodeId), u64> = Default::default();
    let mut count = 0;
    for event in &trace.events {
        if let TraceKind::Deliver { id, from, to, .. } = event.kind {
            if let Some(&before) = last.get(&(from, to))
                && id < before
            {
                count += 1;
            }
            last.insert((from, to), id);
        }
    }
    count
}

#[test]
fn a_reorder_window_makes_messages_overtake_each_other() {
    let config = |reorder: bool| {
        let mut config = base_config(15);
        // Constant latency: without the fault, every link delivers in send order.
        config.network.latency = Latency::Constant(SimDuration::from_millis(2));
        config.network.drop_rate = Probability::NEVER;
        config.network.duplicate_rate = Probability::NEVER;
        if reorder {
            config.faults = vec![Fault {
                at: ms(500),
                until: Some(ms(1500)),
                action: FaultAction::Reorder {
                    extra_max: SimDuration::from_millis(30),
                },
            }];
        }
        config
    };
    let calm = run(config(false));
    assert_eq!(overtakes(calm.trace.as_ref().unwrap()), 0);
    let reordered = run(config(true));
    let trace = reordered.trace.as_ref().unwrap();
    assert!(overtakes(trace) > 20, "{}", overtakes(trace));
    assert_eq!(reordered.stats.dropped(), 0, "reordered, not lost");
}
