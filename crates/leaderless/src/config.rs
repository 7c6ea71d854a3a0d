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
}
