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
    LeaderlessConfig, MultiLeaderConfig, PlantedBug, ProtocolConfig, Scenario, SingleLeaderConfig,
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

/// Why a valid scenario failed to run: always a bug in repsim or in a protocol.
#[derive(Debug, PartialEq, Eq)]
pub enum RunError {
    /// A protocol or the simulator panicked (a failed assertion or invariant).
    Panicked {
        /// The scenario file.
        file: String,
        /// The seed.
        seed: u64,
        /// The panic message and where it was raised.
        message: String,
    },
    /// The simulator produced a history the checkers refuse.
    Internal(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Panicked {
                file,
                seed,
                message,
            } => write!(
                f,
                "{file} at seed {seed}: the run panicked: {message}; reproduce: {}",
                crate::report::reproduce_command(file, *seed)
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
            Conflict::Crdt => multi_leader::config::Conflict::Crdt,
        },
        causality: match c.causality {
            Causality::None => multi_leader::config::Causality::None,
            Causality::VersionVectors => multi_leader::config::Causality::VersionVectors,
        },
        home_leader: c.home_leader,
        keys: sim.clients.keys,
        reads_from: sim.clients.reads_from.clone(),
        workload: sim.clients.workload,
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
        planted_bug: None,
        crdt: c.crdt,
        workload: sim.clients.workload,
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
        planted_bug: None,
        log_retention: c.log_retention,
    }
}

/// Simulates `scenario` at `seed` (recording a trace if asked) without checking. A panic
/// inside the simulation is caught and returned as [`RunError::Panicked`].
pub fn simulate(
    scenario: &Scenario,
    seed: u64,
    trace: Option<TraceConfig>,
) -> Result<(Vec<Fault>, RunOutput), RunError> {
    crate::panic::catch(|| simulate_unguarded(scenario, seed, trace)).map_err(|message| {
        RunError::Panicked {
            file: scenario.file.clone(),
            seed,
            message,
        }
    })
}

fn simulate_unguarded(
    scenario: &Scenario,
    seed: u64,
    trace: Option<TraceConfig>,
) -> (Vec<Fault>, RunOutput) {
    let mut config = scenario.sim_config(seed);
    config.trace = trace;
    let faults = config.faults.clone();
    let output = match scenario.protocol {
        ProtocolConfig::SingleNode => Simulation::new(
            SingleNode {
                keys: config.clients.keys,
                workload: config.clients.workload,
            },
            config,
        )
        .run(),
        ProtocolConfig::SingleLeader(ref c) => {
            let mut protocol = SingleLeader {
                config: single_leader_config(c, &config),
            };
            if scenario.debug.planted_bug == Some(PlantedBug::SingleLeaderIgnoreLease) {
                protocol.config.planted_bug = Some(single_leader::PlantedBug::IgnoreLease);
            }
            Simulation::new(protocol, config).run()
        }
        ProtocolConfig::MultiLeader(ref c) => {
            let protocol = MultiLeader {
                config: multi_leader_config(c, &config),
            };
            Simulation::new(protocol, config).run()
        }
        ProtocolConfig::Leaderless(ref c) => {
            let mut protocol = Leaderless {
                config: leaderless_config(c, &config),
            };
            if scenario.debug.planted_bug == Some(PlantedBug::LeaderlessReadQuorumMinusOne) {
                protocol.config.planted_bug = Some(leaderless::PlantedBug::ReadQuorumMinusOne);
            }
            Simulation::new(protocol, config).run()
        }
    };
    (faults, output)
}

/// A digest of everything a run produced that must not vary between two runs of the same
/// scenario and seed: the event schedule (the simulator's trace hash), the history, the
/// final state, the role events and the anomaly counts.
pub fn fingerprint(result: &RunResult) -> u64 {
    let mut bytes = Vec::new();
    result
        .output
        .history
        .write_jsonl(&mut bytes)
        .expect("writing to memory cannot fail");
    bytes.extend_from_slice(
        result
            .output
            .final_state
            .to_json(&result.output.history)
            .as_bytes(),
    );
    bytes.extend_from_slice(
        format!("{:?}{:?}", result.output.roles, result.findings.counts).as_bytes(),
    );
    let mut hash = repsim_sim::rng::fnv1a64(&bytes);
    hash ^= result.output.stats.trace_hash.rotate_left(17);
    hash
}

/// Why a determinism self-check failed.
#[derive(Debug, PartialEq, Eq)]
pub enum CheckError {
    /// A run failed.
    Run(RunError),
    /// The two runs differed; the first difference, described.
    Nondeterministic(String),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Run(e) => e.fmt(f),
            CheckError::Nondeterministic(what) => f.write_str(what),
        }
    }
}

/// Runs `scenario` at `seed` twice and compares the runs. On a mismatch, runs both again
/// with a full trace and describes the first event where they differ.
pub fn check_determinism(scenario: &Scenario, seed: u64) -> Result<RunResult, CheckError> {
    let first = run(scenario, seed, None).map_err(CheckError::Run)?;
    let second = run(scenario, seed, None).map_err(CheckError::Run)?;
    if fingerprint(&first) == fingerprint(&second) {
        return Ok(first);
    }
    let full = TraceConfig {
        capacity: usize::MAX,
        ..TraceConfig::default()
    };
    let a = simulate(scenario, seed, Some(full))
        .map_err(CheckError::Run)?
        .1;
    let b = simulate(scenario, seed, Some(full))
        .map_err(CheckError::Run)?
        .1;
    let (ta, tb) = (a.trace.unwrap_or_default(), b.trace.unwrap_or_default());
    let at = ta.events.iter().zip(&tb.events).position(|(x, y)| x != y);
    Err(CheckError::Nondeterministic(match at {
        Some(i) => format!(
            "{} at seed {seed} is not deterministic: the runs first differ at traced event {i}: {:?} vs {:?}",
            scenario.file, ta.events[i], tb.events[i]
        ),
        None if ta.events.len() != tb.events.len() => format!(
            "{} at seed {seed} is not deterministic: one run traced {} events, the other {}",
            scenario.file,
            ta.events.len(),
            tb.events.len()
        ),
        None => format!(
            "{} at seed {seed} is not deterministic: the traces agree but the histories or checks differ",
            scenario.file
        ),
    }))
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
