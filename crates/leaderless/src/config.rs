//! The protocol's configuration (SPEC §2 `leaderless`), already validated by the
//! scenario loader.

use repsim_sim::SimDuration;

/// How replicas compare versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Versions {
    /// Last write wins by the coordinator's local timestamp.
    Lww,
    /// Per-key version vectors; concurrent writes are kept as siblings.
    VersionVectors,
}

/// Everything the protocol needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Replicas per key.
    pub n: u16,
    /// Write quorum.
    pub w: u16,
    /// Read quorum.
    pub r: u16,
    /// Repair stale replicas seen by a read.
    pub read_repair: bool,
    /// Interval of background anti-entropy, or `None` for off.
    pub anti_entropy: Option<SimDuration>,
    /// Accept writes on nodes outside the key's replica set when those are unreachable.
    pub sloppy_quorum: bool,
    /// Hand such writes back to their home replicas later.
    pub hinted_handoff: bool,
    /// Version comparison.
    pub versions: Versions,
    /// Number of keys.
    pub keys: u32,
    /// The clients' `reads_from`: `any` or `sticky` (which node coordinates).
    pub reads_from: String,
    /// How long a client waits for a reply (a coordinator need not wait longer).
    pub client_timeout: SimDuration,
    /// A deliberate bug, for showing that sweeps catch bugs (scenario `debug`).
    pub planted_bug: Option<PlantedBug>,
    /// `conflict: "crdt"`: values are counters or add-wins sets (per the workload) whose
    /// replicas merge, instead of versioned register values.
    pub crdt: bool,
    /// The clients' workload (counters and sets need `crdt`).
    pub workload: repsim_sim::Workload,
}

/// Deliberate bugs, only ever enabled by a scenario's `debug.planted_bug`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// A coordinator answers a read after `r - 1` replies (at least 1) instead of `r`,
    /// so a read quorum need not meet the last write quorum.
    ReadQuorumMinusOne,
}

impl Config {
    /// How long a coordinator waits for one replica before suspecting it and (with a
    /// sloppy quorum) sending to a fallback, or (with hinted handoff alone) keeping a hint
    /// for it: a quarter of the client timeout.
    pub fn replica_timeout(&self) -> SimDuration {
        SimDuration::from_micros((self.client_timeout.as_micros() / 4).max(1))
    }

    /// How long after a request arrives its coordinator gives up and answers: 85% of the
    /// client timeout, leaving room for the reply's trip and the tick's granularity, so
    /// the client hears `fail` or `info` from the coordinator rather than timing out.
    pub fn deadline(&self) -> SimDuration {
        SimDuration::from_micros(self.client_timeout.as_micros() * 85 / 100)
    }

    /// How much of its own deadline a coordinator gives a home replica it forwards a
    /// write to: the deadline minus 15% of the client timeout, for the answer's trip.
    pub fn forward_budget(&self) -> SimDuration {
        SimDuration::from_micros(self.client_timeout.as_micros() * 70 / 100)
    }

    /// The granularity of the coordinator's timeouts: a fortieth of the client timeout.
    pub fn tick(&self) -> SimDuration {
        SimDuration::from_micros((self.client_timeout.as_micros() / 40).max(1))
    }

    /// How long a peer that did not answer in time stays suspected (unless it is heard
    /// from): two replica timeouts.
    pub fn suspect_for(&self) -> SimDuration {
        SimDuration::from_micros(2 * self.replica_timeout().as_micros())
    }

    /// How often a node holding hints tries to hand them back: every replica timeout.
    pub fn handoff_interval(&self) -> SimDuration {
        self.replica_timeout()
    }
}
