//! The deterministic discrete-event core of repsim.
//!
//! A protocol author writes only protocol logic, as a sans-IO [`Node`] and a [`Protocol`];
//! this crate gives them simulated time, the network, faults, clients and the history.
//!
//! - [`time`]: integer simulated time ([`SimTime`], [`SimDuration`]).
//! - [`rng`]: the pinned ChaCha8 generator, split into labelled streams.
//! - [`latency`]: latency and think-time distributions.
//! - [`queue`]: the `(time, seq)`-ordered event queue and slabs.
//! - [`node`]: the node interface, the handler [`Context`] and its effects.
//! - [`network`]: delays, drops, duplicates, partitions, link faults, lag.
//! - [`fault`]: the fault schedule and the random nemesis.
//! - [`client`]: simulated client processes and their workload.
//! - [`trace`]: the optional bounded event trace.
//! - [`sim`]: the event loop that ties them together and records the history.
//! - [`testing`]: a fake context for handler unit tests.
//!
//! Architecture invariant: a run is a pure function of its configuration and seed. Nothing
//! here reads a wall clock, an environment variable or an unseeded random source, and
//! nothing iterates a hash map.
#![warn(missing_docs)]

pub mod client;
pub mod crdt;
pub mod fault;
pub mod latency;
pub mod network;
pub mod node;
pub mod queue;
pub mod rng;
pub mod sim;
pub mod testing;
pub mod time;
pub mod trace;

pub use client::{ClientConfig, MAX_INCREMENT, Workload};
pub use fault::{Fault, FaultAction, RandomFaults, RandomKind};
pub use latency::Latency;
pub use network::{LinkConfig, NetworkConfig};
pub use node::{
    ClientView, Context, Effect, Node, Op, Protocol, Reply, Request, RequestId, Start, TimerId,
};
pub use repsim_history::{KeyId, NodeId, ProcessId, RoleKind, ValueId};
pub use rng::{Probability, SimRng};
pub use sim::{Limits, RunOutcome, RunOutput, SimConfig, Simulation, Stats, SyncPolicy};
pub use time::{SimDuration, SimTime};
pub use trace::{Trace, TraceConfig};
