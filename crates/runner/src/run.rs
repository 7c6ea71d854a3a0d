//! One run of one scenario at one seed: simulate with the scenario's protocol, then check
//! the history for anomalies.
//!
//! This is the only place that maps a scenario's protocol kind to a protocol crate.

use std::fmt;

use repsim_anomaly::{Findings, Input, Options};
use repsim_leaderless::{self as leaderless, Leaderless};
use repsim_multi_leader::{self as multi_leader, MultiLeader};
use repsim_sim::{Fault, RunOutput, SimConfig, Simulation, TraceConfig};
use repsim_single_leader::{self as single_leader, SingleLeader};
use repsim_single_node::SingleNode;

use crate::scenario::{
    LeaderlessConfig, MultiLeaderConfig, ProtocolConfig, Scenario, SingleLeaderConfig,
};

/// How many flagged operations a report shows per anomaly kind.
pub const MAX_EXAMPLES: usize = 5;

/// A finished, checked run.
#[derive(Debug)]
pub struct RunResult {
    /// The seed it ran with.
    pub seed: u64,
    /// The fault schedule it ran with (the `random` nemesis expanded).
    pub faults: Vec<Fault>,
    /// What the simulation produced.
    pub output: RunOutput,
    /// What the checkers found.
    pub findings: Findings,
}

/// Why a scenario could not be run (its file was valid).
#[derive(Debug, PartialEq, Eq)]
pub enum RunError {
    /// The protocol kind is valid in scenario files but has no implementation yet.
    NotImplemented {
        /// The scenario file.
        file: String,
        /// The protocol kind.
        kind: &'static str,
    },
    /// The simulator produced a history the checkers refuse: a simulator bug.
    Internal(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::NotImplemented { file, kind } => write!(
                f,
                "{file}: $.protocol.kind: the {kind} protocol is not implemented yet; \
                 single-node and single-leader are (see README.md)"
            ),
            RunError::Internal(reason) => write!(f, "internal error (please report): {reason}"),
        }
    }
}

impl std::error::Error for RunError {}

/// The scenario's protocol kind as written in scenario files.
pub fn protocol_kind(protocol: &ProtocolConfig) -> &'static str {
    match protocol {
        ProtocolConfig::SingleNode => "single-node",
        ProtocolConfig::SingleLeader(_) => "single-leader",
        ProtocolConfig::MultiLeader(_) => "multi-leader",
        ProtocolConfig::Leaderless(_) => "leaderless",
    }
}

/// Fails unless the scenario's protocol can run.
pub fn check_runnable(scenario: &Scenario) -> Result<(), RunError> {
    match scenario.protocol {
        ProtocolConfig::SingleNode
        | ProtocolConfig::SingleLeader(_)
        | ProtocolConfig::MultiLeader(_)
        | ProtocolConfig::Leaderless(_) => Ok(()),
    }
}

/// The multi-leader protocol's configuration from the scenario's.
fn multi_leader_config(c: &MultiLeaderConfig, sim: &SimConfig) -> multi_leader::Config {
    use crate::scenario::{Causality, Conflict, Topology};
    multi_leader::Config {
        topology: match c.topology {
            Topology::AllToAll => multi_leader::config::Topology::AllToAll,
            Topology::Circular => multi_leader::config::Topology::Circular,
            Topology::Star => multi_leader::config::Topology::Star { root: c.root },
        },
        conflict: match c.conflict {
            Conflict::Lww => multi_leader::config::Conflict::Lww,
            Conflict::ReplicaPriority => multi_leader::config::Conflict::ReplicaPriority,
            Conflict::Merge => multi_leader::config::Conflict::Merge,
            Conflict::Siblings => multi_leader::config::Conflict::Siblings,
        },
        causality: match c.causality {
            Causality::None => multi_leader::config::Causality::None,
            Causality::VersionVectors => multi_leader::config::Causality::VersionVectors,
        },
        home_leader: c.home_leader,
        keys: sim.clients.keys,
        reads_from: sim.clients.reads_from.clone(),
    }
}

/// The leaderless protocol's configuration from the scenario's.
fn leaderless_config(c: &LeaderlessConfig, sim: &SimConfig) -> leaderless::Config {
    use crate::scenario::Versions;
    leaderless::Config {
        n: c.n,
        w: c.w,
        r: c.r,
        read_repair: c.read_repair,
        anti_entropy: c.anti_entropy,
        sloppy_quorum: c.sloppy_quorum,
        hinted_handoff: c.hinted_handoff,
        versions: match c.versions {
            Versions::Lww => leaderless::config::Versions::Lww,
            Versions::VersionVectors => leaderless::config::Versions::VersionVectors,
        },
        keys: sim.clients.keys,
        reads_from: sim.clients.reads_from.clone(),
        client_timeout: sim.clients.timeout,
    }
}

/// The single-leader protocol's configuration from the scenario's.
fn single_leader_config(c: &SingleLeaderConfig, sim: &SimConfig) -> single_leader::Config {
    use crate::scenario::{LogFormat, Replication};
    single_leader::Config {
        replication: match c.replication {
            Replication::Sync => single_leader::Replication::Sync,
            Replication::SemiSync => single_leader::Replication::SemiSync,
            Replication::Async => single_leader::Replication::Async,
            Replication::Chain => single_leader::Replication::Chain,
        },
        log: match c.log {
            LogFormat::Logical => single_leader::LogFormat::Logical,
            LogFormat::Statement => single_leader::LogFormat::Statement,
            LogFormat::Wal => single_leader::LogFormat::Wal,
        },
        failover: c.failover.map(|f| single_leader::Failover {
            heartbeat: f.heartbeat,
            timeout: f.timeout,
            fencing: f.fencing,
        }),
        leader: c.leader,
        keys: sim.clients.keys,
        reads_from: sim.clients.reads_from.clone(),
        ship_interval: c.ship_interval,
        log_retention: c.log_retention,
    }
}

/// Simulates `scenario` at `seed` (recording a trace if asked) without checking.
pub fn simulate(
    scenario: &Scenario,
    seed: u64,
    trace: Option<TraceConfig>,
) -> Result<(Vec<Fault>, RunOutput), RunError> {
    check_runnable(scenario)?;
    let mut config = scenario.sim_config(seed);
    config.trace = trace;
    let faults = config.faults.clone();
    let output = match scenario.protocol {
        ProtocolConfig::SingleNode => Simulation::new(
            SingleNode {
                keys: config.clients.keys,
            },
            config,
        )
        .run(),
        ProtocolConfig::SingleLeader(ref c) => {
            let protocol = SingleLeader {
                config: single_leader_config(c, &config),
            };
            Simulation::new(protocol, config).run()
        }
        ProtocolConfig::MultiLeader(ref c) => {
            let protocol = MultiLeader {
                config: multi_leader_config(c, &config),
            };
            Simulation::new(protocol, config).run()
        }
        ProtocolConfig::Leaderless(ref c) => {
            let protocol = Leaderless {
                config: leaderless_config(c, &config),
            };
            Simulation::new(protocol, config).run()
        }
    };
    Ok((faults, output))
}

/// Simulates and checks `scenario` at `seed`.
pub fn run(
    scenario: &Scenario,
    seed: u64,
    trace: Option<TraceConfig>,
) -> Result<RunResult, RunError> {
    let (faults, output) = simulate(scenario, seed, trace)?;
    let findings = repsim_anomaly::check(
        &Input {
            history: &output.history,
            final_state: Some(&output.final_state),
            roles: Some(&output.roles),
        },
        &Options {
            max_examples: MAX_EXAMPLES,
        },
    )
    .map_err(|e| RunError::Internal(format!("the simulated history is malformed: {e}")))?;
    Ok(RunResult {
        seed,
        faults,
        output,
        findings,
    })
}
