//! The protocol's configuration (SPEC §2 `single-leader`), already validated by the
//! scenario loader.

use repsim_sim::{NodeId, SimDuration};

/// When the leader acknowledges a write to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replication {
    /// After every follower has the entry.
    Sync,
    /// After one designated synchronous follower has it; if that follower stops
    /// answering for `timeout`, the most up-to-date live follower is made synchronous.
    SemiSync,
    /// After the leader's own durable write.
    Async,
    /// Entries flow down a chain of the live nodes (leader first, then followers in id
    /// order); the write is acknowledged once the tail has it.
    Chain,
}

/// What the replication log carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Row values: every replica stores the same value.
    Logical,
    /// Statements, re-executed on every replica.
    Statement,
    /// Physical write-ahead log, tied to the storage-format version.
    Wal,
}

/// Automatic failover settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failover {
    /// How often the leader sends heartbeats.
    pub heartbeat: SimDuration,
    /// How long followers wait without hearing from the leader before electing another.
    pub timeout: SimDuration,
    /// Epochs fence old leaders: a leader that cannot reach a majority within half the
    /// timeout stops accepting writes, and a restarted leader comes back as a follower.
    /// Without fencing, an old leader keeps acting as leader until it hears of a newer
    /// epoch.
    pub fencing: bool,
}

/// Everything the protocol needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// When writes are acknowledged.
    pub replication: Replication,
    /// What the log carries.
    pub log: LogFormat,
    /// Automatic failover; `None` for manual (the configured leader stays leader).
    pub failover: Option<Failover>,
    /// The initial leader.
    pub leader: NodeId,
    /// Number of keys (every node is a replica of every key).
    pub keys: u32,
    /// The clients' `reads_from`: `leader`, `any`, `sticky`, `read-your-writes`,
    /// `monotonic` or `consistent-prefix`.
    pub reads_from: String,
    /// How often the leader's log sender ships new entries to followers (zero: at once).
    /// An `async` write acknowledged before its batch left is lost if the leader crashes
    /// (a message already sent is still delivered).
    pub ship_interval: SimDuration,
    /// A deliberate bug, for showing that sweeps catch bugs (scenario `debug`).
    pub planted_bug: Option<PlantedBug>,
    /// Log entries a node keeps before compacting older ones into a snapshot; a follower
    /// that falls further behind than this catches up from a snapshot.
    pub log_retention: u64,
}

impl Config {
    /// Heartbeat interval (also used for retransmission when failover is manual).
    pub fn heartbeat(&self) -> SimDuration {
        self.failover.map_or(DEFAULT_HEARTBEAT, |f| f.heartbeat)
    }

    /// Failure-detection timeout (also used to pick a new semi-sync follower and to drop
    /// dead nodes from a chain when failover is manual).
    pub fn timeout(&self) -> SimDuration {
        self.failover.map_or(DEFAULT_TIMEOUT, |f| f.timeout)
    }

    /// True when an old leader is fenced.
    pub fn fencing(&self) -> bool {
        self.failover.is_some_and(|f| f.fencing)
    }
}

/// Deliberate bugs, only ever enabled by a scenario's `debug.planted_bug`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// The leader never checks its lease: with fencing configured, an isolated old leader
    /// still goes on accepting writes.
    IgnoreLease,
}

/// Heartbeat interval when failover is manual.
pub const DEFAULT_HEARTBEAT: SimDuration = SimDuration::from_millis(50);
/// Liveness timeout when failover is manual.
pub const DEFAULT_TIMEOUT: SimDuration = SimDuration::from_millis(300);
/// Default `ship_interval`.
pub const DEFAULT_SHIP_INTERVAL: SimDuration = SimDuration::from_millis(5);
/// Default `log_retention`.
pub const DEFAULT_LOG_RETENTION: u64 = 10_000;
