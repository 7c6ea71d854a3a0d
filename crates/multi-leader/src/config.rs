//! The protocol's configuration (SPEC §2 `multi-leader`), already validated by the
//! scenario loader.

use repsim_sim::NodeId;

/// Which leaders forward writes to which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// Every leader sends its writes to every other leader.
    AllToAll,
    /// Each leader forwards to one next leader (`n0 -> n1 -> ... -> n0`).
    Circular,
    /// The root forwards to every other leader; the others send only to the root.
    Star {
        /// The hub.
        root: NodeId,
    },
}

/// How concurrent writes to one key are resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// Last write wins, by the writing node's local timestamp.
    Lww,
    /// The write from the node with the highest priority (lowest id) wins.
    ReplicaPriority,
    /// Concurrent values are merged deterministically (stored as the sorted list).
    Merge,
    /// Concurrent values are all kept; reads return the list.
    Siblings,
    /// The values are CRDTs (counters or add-wins sets, per the workload) and updates
    /// merge: no update is ever lost to a conflict.
    Crdt,
}

/// How concurrency and causal order are tracked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Causality {
    /// Not at all: updates apply in arrival order.
    None,
    /// Version vectors: dependent updates wait for their dependencies.
    VersionVectors,
}

/// Everything the protocol needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Topology.
    pub topology: Topology,
    /// Conflict resolution.
    pub conflict: Conflict,
    /// Causality tracking.
    pub causality: Causality,
    /// Route every key's writes to one leader (conflict avoidance).
    pub home_leader: bool,
    /// Number of keys (every node is a replica of every key).
    pub keys: u32,
    /// The clients' `reads_from`: `any` or `sticky`.
    pub reads_from: String,
    /// The clients' workload (counters and sets need [`Conflict::Crdt`]).
    pub workload: repsim_sim::Workload,
}
