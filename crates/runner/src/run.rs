//! One run of one scenario at one seed: simulate with the scenario's protocol, then check
//! the history for anomalies.
//!
//! This is the only place that maps a scenario's protocol kind to a protocol crate.

use std::fmt;

use repsim_anomaly::{Findings, Input, Options};
use repsim_sim::{Fault, RunOutput, Simulation, TraceConfig};
use repsim_single_node::SingleNode;

use crate::scenario::{ProtocolConfig, Scenario};

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
                 single-node is (see README.md)"
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
        ProtocolConfig::SingleNode => Ok(()),
        ref other => Err(RunError::NotImplemented {
            file: scenario.file.clone(),
            kind: protocol_kind(other),
        }),
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
        _ => unreachable!("check_runnable refused it"),
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
