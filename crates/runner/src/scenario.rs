//! Scenario files (SPEC §2): loading, validation and the typed configuration they become.
//!
//! A scenario file is JSON. It is read in three steps, so inner code never sees
//! unvalidated input (STYLE §2):
//!
//! 1. `raw`: serde structs that mirror the file exactly and refuse unknown fields; the
//!    JSON Schema ([`schema`]) is derived from them, so the schema and the parser cannot
//!    disagree about field names.
//! 2. `validate`: every rule SPEC §2 states (ranges, node ids, fault windows, quorum
//!    sizes) is checked and the raw values become typed ones: [`SimTime`] and
//!    [`SimDuration`] (milliseconds rounded to the nearest microsecond by
//!    [`SimDuration::from_ms`], once, here), [`Probability`](repsim_sim::Probability)
//!    thresholds, [`NodeId`]s, [`Latency`](repsim_sim::Latency) distributions.
//! 3. [`Scenario::sim_config`] expands the `random` nemesis for a seed and hands the
//!    simulator its [`SimConfig`].
//!
//! Every error names the file, the JSON path and the reason ([`ScenarioError`]), e.g.
//! `x.json: $.protocol.w: w (4) > n (3)`.
//!
//! Defaults for fields SPEC §2 leaves open are documented on the typed fields below:
//! failover `heartbeat_ms` 50, `timeout_ms` 300, `fencing` true; leaderless `w` and `r`
//! a majority of `n` (`n / 2 + 1`).

mod error;
mod objects;
mod raw;
mod tagged;
mod validate;

use std::path::Path;

use repsim_sim::{
    ClientConfig, Fault, Limits, NetworkConfig, NodeId, RandomFaults, SimConfig, SimDuration,
    SimRng, SimTime, SyncPolicy,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use error::ScenarioError;

/// The anomaly kinds an `expect` block may name (SPEC §4, then the counter and set kinds),
/// in the order reports list them: `repsim_anomaly::Kind::ALL`'s names.
pub const EXPECT_KINDS: [&str; 13] = [
    "stale_read",
    "read_your_writes",
    "monotonic_read",
    "consistent_prefix",
    "lost_write",
    "phantom_read",
    "divergence",
    "split_brain",
    "unavailable",
    "linearizability",
    "lost_increment",
    "phantom_increment",
    "lost_add",
];

/// A validated scenario: everything a run needs besides the seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file's path as given, for messages.
    pub file: String,
    /// The scenario's name; safe to use as a directory name.
    pub name: String,
    /// What the scenario shows (empty when omitted).
    pub description: String,
    /// The default seed (1 when omitted); `--seed` overrides it.
    pub seed: u64,
    /// Initial cluster size: nodes `n0..n{nodes-1}`, at least 1.
    pub nodes: u16,
    /// When the workload ends (`duration_ms`).
    pub duration: SimTime,
    /// The replication protocol and its settings.
    pub protocol: ProtocolConfig,
    /// The network between nodes.
    pub network: NetworkConfig,
    /// The client workload.
    pub clients: ClientConfig,
    /// The fault schedule in file order; `random` entries are expanded per seed by
    /// [`Scenario::expanded_faults`].
    pub faults: Vec<FaultSpec>,
    /// The `expect` block, one entry per named anomaly kind, in [`EXPECT_KINDS`] order.
    pub expect: Vec<Expectation>,
    /// Bounds on a run (`limits`).
    pub limits: Limits,
    /// Deliberate failures (`debug`).
    pub debug: DebugOptions,
    /// Per node (by id), when what it persists becomes durable (`storage`).
    pub sync: Vec<SyncPolicy>,
}

/// One entry of the `faults` array.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultSpec {
    /// A concrete fault.
    Fixed(Fault),
    /// The `random` nemesis, expanded deterministically from the run's seed.
    Random(RandomFaults),
}

/// The replication protocol (`protocol.kind`) and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolConfig {
    /// `single-node`: one replica, no replication; the control that must show no anomaly.
    SingleNode,
    /// `single-leader`.
    SingleLeader(SingleLeaderConfig),
    /// `multi-leader`.
    MultiLeader(MultiLeaderConfig),
    /// `leaderless`.
    Leaderless(LeaderlessConfig),
}

impl ProtocolConfig {
    /// The `kind` as written in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            ProtocolConfig::SingleNode => "single-node",
            ProtocolConfig::SingleLeader(_) => "single-leader",
            ProtocolConfig::MultiLeader(_) => "multi-leader",
            ProtocolConfig::Leaderless(_) => "leaderless",
        }
    }
}

/// Settings of `single-leader`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleLeaderConfig {
    /// How writes reach followers (default `async`).
    pub replication: Replication,
    /// What the replication log carries (default `logical`).
    pub log: LogFormat,
    /// Automatic failover, or `None` for manual (`null` or absent in the file).
    pub failover: Option<Failover>,
    /// The initial leader (default `n0`); one of the initial nodes.
    pub leader: NodeId,
    /// How often the leader ships new entries (`ship_interval_ms`, default 5 ms).
    pub ship_interval: SimDuration,
    /// Entries kept before compaction (`log_retention`, default 10,000).
    pub log_retention: u64,
}

/// Automatic failover of `single-leader` (`protocol.failover`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failover {
    /// How often the leader sends heartbeats (`heartbeat_ms`) (default 50 ms).
    pub heartbeat: SimDuration,
    /// How long followers wait without a heartbeat before electing a new leader
    /// (`timeout_ms`) (default 300 ms).
    pub timeout: SimDuration,
    /// Whether old leaders are fenced off (default true): a leader that cannot reach a
    /// majority within half the timeout stops accepting writes, and a restarted leader
    /// comes back as a follower.
    pub fencing: bool,
}

impl Failover {
    /// `heartbeat_ms` when an object omits it.
    pub const DEFAULT_HEARTBEAT: SimDuration = SimDuration::from_millis(50);
    /// `timeout_ms` when an object omits it.
    pub const DEFAULT_TIMEOUT: SimDuration = SimDuration::from_millis(300);
    /// `fencing` when an object omits it.
    pub const DEFAULT_FENCING: bool = true;
}

/// Settings of `multi-leader`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultiLeaderConfig {
    /// Which leaders forward writes to which (default `all-to-all`).
    pub topology: Topology,
    /// The hub of a `star` topology (default `n0`); one of the initial nodes. Ignored (and
    /// refused in the file) for other topologies.
    pub root: NodeId,
    /// How concurrent writes to one key are resolved (default `lww`).
    pub conflict: Conflict,
    /// How concurrency is detected (default `none`).
    pub causality: Causality,
    /// Route every key's writes to one leader (`home_leader`) (default false).
    pub home_leader: bool,
}

/// Settings of `leaderless`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderlessConfig {
    /// Replicas per key (default the initial `nodes`); `1..=nodes`.
    pub n: u16,
    /// Write quorum (default a majority of `n`: `n / 2 + 1`); `1..=n`.
    pub w: u16,
    /// Read quorum (default a majority of `n`: `n / 2 + 1`); `1..=n`.
    pub r: u16,
    /// Repair stale replicas seen by a read (default true).
    pub read_repair: bool,
    /// Interval of background anti-entropy (`anti_entropy_ms`), or `None` for off (default off).
    pub anti_entropy: Option<SimDuration>,
    /// Accept writes on nodes outside the key's replica set when those are unreachable
    /// (default false).
    pub sloppy_quorum: bool,
    /// Hand such writes back to their home replicas later (default false).
    pub hinted_handoff: bool,
    /// How versions are compared (default `lww`).
    pub versions: Versions,
    /// `conflict: "crdt"`: counter and set values that merge (default off).
    pub crdt: bool,
}

impl LeaderlessConfig {
    /// The default `w` and `r` for `n` replicas: a majority, `n / 2 + 1`, so that
    /// `w + r > n` and every read quorum meets every write quorum.
    pub fn majority(n: u16) -> u16 {
        n / 2 + 1
    }
}

/// `single-leader` `replication`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Replication {
    /// A write is acknowledged once every follower has it.
    Sync,
    /// A write is acknowledged once the leader has it; followers catch up later.
    #[default]
    Async,
    /// A write is acknowledged once the leader and one follower have it.
    SemiSync,
    /// Followers form a chain; the tail acknowledges.
    Chain,
}

/// `single-leader` `log`: what the replication log carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Row changes: the values the leader wrote.
    #[default]
    Logical,
    /// Statements, re-executed on each follower (nondeterministic writes may diverge).
    Statement,
    /// The storage engine's write-ahead log, tied to its format version.
    Wal,
}

/// `multi-leader` `topology`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// Every leader sends its writes to every other.
    #[default]
    AllToAll,
    /// Each leader forwards to the next in a ring.
    Circular,
    /// Leaders send to a root, which forwards to the others.
    Star,
}

/// `multi-leader` `conflict`: how concurrent writes to one key are resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Conflict {
    /// Last writer wins, by timestamp.
    #[default]
    Lww,
    /// The write from the higher-priority replica wins.
    ReplicaPriority,
    /// Keep the sorted list of the conflicting values.
    Merge,
    /// Keep every conflicting value as a sibling for the reader to resolve.
    Siblings,
    /// CRDT values (counters, add-wins sets) that merge every update; needs
    /// `clients.workload` `counter` or `set`.
    Crdt,
}

/// `leaderless` `conflict`: only `crdt` (without it, `versions` decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LeaderlessConflict {
    /// CRDT values (counters, add-wins sets) whose replicas merge.
    Crdt,
}

/// `clients.workload`: what the clients' non-read operations do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// Writes of unique values to read/write registers (SPEC §2).
    #[default]
    Register,
    /// Increments of counters (by 1 to 5); reads return the total.
    Counter,
    /// Adds and removes of elements `e0..` of add-wins sets; reads list the elements.
    Set,
}

/// `multi-leader` `causality`: how concurrency is detected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Causality {
    /// No causality tracking: writes apply in arrival order.
    #[default]
    None,
    /// Version vectors order causally related writes and expose concurrent ones.
    VersionVectors,
}

/// `leaderless` `versions`: how replica versions are compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Versions {
    /// Last writer wins, by timestamp.
    #[default]
    Lww,
    /// Version vectors; concurrent writes are kept as siblings.
    VersionVectors,
}

macro_rules! names {
    ($($ty:ident { $($variant:ident => $name:literal),* $(,)? })*) => {$(
        impl $ty {
            /// The value as written in scenario files.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
        }
    )*};
}

names! {
    Replication { Sync => "sync", Async => "async", SemiSync => "semi-sync", Chain => "chain" }
    LogFormat { Logical => "logical", Statement => "statement", Wal => "wal" }
    Topology { AllToAll => "all-to-all", Circular => "circular", Star => "star" }
    Conflict {
        Lww => "lww", ReplicaPriority => "replica-priority", Merge => "merge",
        Siblings => "siblings", Crdt => "crdt",
    }
    WorkloadKind { Register => "register", Counter => "counter", Set => "set" }
    Causality { None => "none", VersionVectors => "version-vectors" }
    Versions { Lww => "lww", VersionVectors => "version-vectors" }
}

/// The `debug` block: deliberate failures for testing repsim itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DebugOptions {
    /// Panic after this many events.
    pub panic_at_event: Option<u64>,
    /// Only in runs whose seed is a multiple of this.
    pub panic_every_nth_seed: u64,
    /// A protocol variant with a known bug.
    pub planted_bug: Option<PlantedBug>,
}

/// Protocol variants with a known bug (`debug.planted_bug`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// `single-leader-ignore-lease`: a fenced leader never checks its lease.
    SingleLeaderIgnoreLease,
    /// `leaderless-read-quorum-minus-one`: reads answer after r - 1 replies.
    LeaderlessReadQuorumMinusOne,
}

impl PlantedBug {
    /// Every planted bug: its name and the protocol kind it applies to.
    pub const ALL: [(PlantedBug, &'static str, &'static str); 2] = [
        (
            PlantedBug::SingleLeaderIgnoreLease,
            "single-leader-ignore-lease",
            "single-leader",
        ),
        (
            PlantedBug::LeaderlessReadQuorumMinusOne,
            "leaderless-read-quorum-minus-one",
            "leaderless",
        ),
    ];
}

/// One entry of the `expect` block: the run meets it when the anomaly's count lies in
/// `min..=max` (a missing bound is no bound). At least one bound is set, and
/// `min <= max`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectation {
    /// The anomaly kind, one of [`EXPECT_KINDS`].
    pub kind: String,
    /// Fewest flags allowed.
    pub min: Option<u64>,
    /// Most flags allowed.
    pub max: Option<u64>,
}

impl Expectation {
    /// True if `count` flags of this kind meet the expectation.
    pub fn is_met_by(&self, count: u64) -> bool {
        self.min.is_none_or(|min| count >= min) && self.max.is_none_or(|max| count <= max)
    }
}

impl Scenario {
    /// The simulator's configuration for a run with `seed`: the fixed faults as written,
    /// the `random` entries expanded (see [`Scenario::expanded_faults`]), default limits
    /// and no trace.
    pub fn sim_config(&self, seed: u64) -> SimConfig {
        let mut limits = self.limits;
        if self.debug.panic_every_nth_seed > 0 && seed % self.debug.panic_every_nth_seed == 0 {
            limits.panic_at_event = self.debug.panic_at_event;
        }
        SimConfig {
            seed,
            nodes: self.nodes,
            duration: self.duration,
            network: self.network.clone(),
            clients: self.clients.clone(),
            faults: self.expanded_faults(seed),
            limits,
            trace: None,
            sync: self.sync.clone(),
        }
    }

    /// The concrete fault schedule of a run with `seed`, as [`Scenario::sim_config`] uses
    /// it (for reports).
    ///
    /// Entries are taken in file order; each `random` entry is expanded over the initial
    /// nodes by [`RandomFaults::expand`], all of them drawing in file order from one
    /// `faults` stream of the seed. The list is then sorted stably by start time, so
    /// faults at the same instant keep file order.
    pub fn expanded_faults(&self, seed: u64) -> Vec<Fault> {
        let mut rng = SimRng::stream(seed, "faults");
        let mut faults = Vec::new();
        for spec in &self.faults {
            match spec {
                FaultSpec::Fixed(fault) => faults.push(fault.clone()),
                FaultSpec::Random(random) => faults.extend(random.expand(self.nodes, &mut rng)),
            }
        }
        faults.sort_by_key(|fault| fault.at);
        faults
    }
}

/// Reads and validates the scenario file at `path`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => parse_bytes(&bytes, &file),
        Err(source) => Err(ScenarioError::Read { file, source }),
    }
}

/// Parses and validates the bytes of a scenario file, as [`load`] does once it has read
/// them: bytes that are not UTF-8 are refused with the line and column of the first bad
/// one. `file` names it in messages.
pub fn parse_bytes(bytes: &[u8], file: &str) -> Result<Scenario, ScenarioError> {
    match repsim_history::jsonl::utf8(bytes) {
        Ok(text) => parse(text, file),
        Err((line, column, message)) => Err(ScenarioError::Syntax {
            file: file.to_owned(),
            line,
            column,
            path: None,
            message,
        }),
    }
}

/// Parses and validates scenario `text`; `file` names it in messages.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    if text.trim().is_empty() {
        return Err(ScenarioError::Syntax {
            file: file.to_owned(),
            line: 1,
            column: 1,
            path: None,
            message: "the file is empty; a scenario is a JSON object (see `repsim schema`)"
                .to_owned(),
        });
    }
    let raw = raw::parse(text, file)?;
    validate::scenario(raw, file).map_err(|invalid| invalid.in_file(file))
}

/// The JSON Schema (draft 2020-12) of scenario files, with the doc comments of the raw
/// structs as descriptions, so editors can complete and explain every field.
pub fn schema() -> serde_json::Value {
    raw::schema()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_their_line_and_column() {
        let err = parse_bytes(b"{\n  \"name\": \"caf\xe9\"\n}", "x.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.json: line 2 column 15: not UTF-8 text (byte 0xE9); save the file as UTF-8"
        );
        let minimal =
            r#"{"name": "m", "nodes": 1, "duration_ms": 10, "protocol": {"kind": "single-node"}}"#;
        assert!(parse_bytes(minimal.as_bytes(), "x.json").is_ok());
        let with_bom = format!("\u{feff}{minimal}");
        assert_eq!(
            parse_bytes(with_bom.as_bytes(), "x.json")
                .unwrap_err()
                .to_string(),
            "x.json: line 1 column 1: the file starts with a byte-order mark (U+FEFF); save it \
             as UTF-8 without one"
        );
    }

    #[test]
    fn empty_files_are_refused_as_empty() {
        for text in ["", " \n\t\n"] {
            assert_eq!(
                parse(text, "x.json").unwrap_err().to_string(),
                "x.json: line 1 column 1: the file is empty; a scenario is a JSON object (see \
                 `repsim schema`)"
            );
        }
    }
}
