//! The scenario file as written (SPEC §2): serde structs that mirror the JSON exactly,
//! refuse unknown fields, and derive the JSON Schema.
//!
//! Nothing here is validated beyond JSON types; `validate` turns these into typed
//! configuration. Doc comments on these items are the schema's descriptions, so they are
//! written for scenario authors. Defaults that do not depend on other fields are serde
//! defaults here (so the schema shows them); the others are applied in `validate`.

use schemars::JsonSchema;
use serde::de::Deserializer;
use serde::{Deserialize, Serialize};

use super::error::{ROOT, ScenarioError, printable, push_segments, split_marked};
use super::objects::{from_string, from_strings, objects_only};
use super::tagged::{self, Tagged};
use super::{
    Causality, Conflict, LeaderlessConflict, LogFormat, Replication, Topology, Versions,
    WorkloadKind,
};

/// # repsim scenario
///
/// One simulated experiment: a cluster, a replication protocol, a network, a client
/// workload, a fault schedule and the anomalies the run is expected to show. Times are
/// milliseconds of simulated time (fractions allowed, rounded to the nearest
/// microsecond); nodes are `n0`..`n{nodes-1}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Scenario")]
#[schemars(rename = "Scenario")]
pub(super) struct RawScenario {
    /// The scenario's name. Reports go under `reports/<name>/`, so it may not be empty or
    /// contain `/`, `\`, `..` or control characters.
    #[schemars(length(min = 1, max = 200))]
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// The default seed of a run; `repsim run --seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The initial cluster size: nodes `n0`..`n{nodes-1}` (1 to 1000). `add_node` faults
    /// bring in more.
    #[schemars(range(min = 1, max = 1000))]
    pub nodes: u64,
    /// How long the workload runs (ms, > 0). After it every fault is healed, every
    /// crashed node restarted, and the run goes on until the system is quiet.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub duration_ms: f64,
    /// The replication protocol, chosen by `kind`.
    pub protocol: RawProtocol,
    /// The network between nodes.
    #[serde(default)]
    pub network: RawNetwork,
    /// The client workload.
    #[serde(default)]
    pub clients: RawClients,
    /// The fault schedule: each fault starts at `at_ms`; windows end at `until_ms`.
    #[serde(default)]
    pub faults: Vec<RawFault>,
    /// The anomalies the run is expected to show: kind → bounds on its count. `repsim
    /// run` exits 1 when a bound is not met.
    #[serde(default)]
    pub expect: RawExpect,
    /// Bounds that end a run that would otherwise go on too long; hitting one is a
    /// reported outcome, never a hang. The defaults are far beyond any sensible run.
    #[serde(default)]
    pub limits: RawLimits,
    /// For testing repsim itself: deliberate failures.
    #[serde(default)]
    pub debug: RawDebug,
    /// When what nodes persist reaches stable storage (their fsync setting).
    #[serde(default)]
    pub storage: RawStorage,
}

/// Disk durability: by default every persisted record is synced at once.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Storage")]
#[schemars(rename = "Storage")]
pub(super) struct RawStorage {
    /// Every node flushes what it persisted every this many ms (0, the default: each
    /// record is synced at once). A crash loses an arbitrary part of what was persisted
    /// since the last flush, so a protocol that acknowledges before syncing loses data.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub sync_interval_ms: f64,
    /// Per-node overrides: `[{node, sync_interval_ms}]`, each node at most once.
    #[serde(default)]
    pub nodes: Vec<RawNodeStorage>,
}

/// One node's storage setting.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "NodeStorage")]
#[schemars(rename = "NodeStorage")]
pub(super) struct RawNodeStorage {
    /// The node.
    pub node: String,
    /// This node's flush interval (ms; 0 syncs every record at once).
    #[schemars(range(min = 0))]
    pub sync_interval_ms: f64,
}

/// Bounds on a run.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Limits")]
#[schemars(rename = "Limits")]
pub(super) struct RawLimits {
    /// Most events the simulator processes (default 1,000,000,000); reaching it ends the
    /// run with outcome `budget_exhausted`.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_events: Option<u64>,
    /// Latest simulated time (ms) an event may happen at (default: none); reaching it
    /// ends the run with outcome `budget_exhausted`.
    #[serde(default)]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub max_time_ms: Option<f64>,
    /// How long (ms) the run may take to go quiet after the workload (default 60,000);
    /// reaching it ends the run with outcome `not_quiet`.
    #[serde(default)]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub settle_ms: Option<f64>,
}

/// Deliberate failures, for testing repsim's own error handling.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Debug")]
#[schemars(rename = "Debug")]
pub(super) struct RawDebug {
    /// Panic after this many events, as a protocol bug would.
    #[serde(default)]
    pub panic_at_event: Option<u64>,
    /// Panic only in runs whose seed is a multiple of this (default 1: every run).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub panic_every_nth_seed: Option<u64>,
    /// Run a protocol variant with a known bug, to see a sweep catch it:
    /// `single-leader-ignore-lease` (a fenced leader never checks its lease) or
    /// `leaderless-read-quorum-minus-one` (reads answer after r - 1 replies).
    #[serde(default)]
    pub planted_bug: Option<String>,
}

fn default_seed() -> u64 {
    1
}

/// The replication protocol, chosen by `kind`; each kind takes only its own fields.
#[derive(Debug, JsonSchema)]
#[schemars(tag = "kind", rename_all = "kebab-case", rename = "Protocol")]
pub(super) enum RawProtocol {
    /// One replica, no replication: the control that must show no anomaly. Needs
    /// `nodes: 1`.
    SingleNode(RawSingleNode),
    /// One leader takes every write and replicates it to followers.
    SingleLeader(RawSingleLeader),
    /// Every node takes writes and replicates them to the others.
    MultiLeader(RawMultiLeader),
    /// Clients write to and read from quorums of replicas (Dynamo style).
    Leaderless(RawLeaderless),
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum ProtocolKind {
    SingleNode,
    SingleLeader,
    MultiLeader,
    Leaderless,
}

impl Tagged for RawProtocol {
    const TAG: &'static str = "kind";
    const EXPECTING: &'static str = "a protocol object with a \"kind\" field";
    type Kind = ProtocolKind;

    fn variant<'de, D: Deserializer<'de>>(kind: ProtocolKind, rest: D) -> Result<Self, D::Error> {
        match kind {
            ProtocolKind::SingleNode => RawSingleNode::deserialize(rest).map(Self::SingleNode),
            ProtocolKind::SingleLeader => {
                RawSingleLeader::deserialize(rest).map(Self::SingleLeader)
            }
            ProtocolKind::MultiLeader => RawMultiLeader::deserialize(rest).map(Self::MultiLeader),
            ProtocolKind::Leaderless => RawLeaderless::deserialize(rest).map(Self::Leaderless),
        }
    }
}

impl<'de> Deserialize<'de> for RawProtocol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        tagged::deserialize(deserializer)
    }
}

/// `single-node` takes no fields.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSingleNode {}

/// `single-leader` settings.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSingleLeader {
    /// How writes reach followers: `sync` (every follower acknowledges), `async`,
    /// `semi-sync` (one follower acknowledges) or `chain`.
    #[serde(default, deserialize_with = "from_string")]
    pub replication: Replication,
    /// What the replication log carries: `logical` rows, `statement`s re-executed on
    /// followers, or the storage engine's `wal`.
    #[serde(default, deserialize_with = "from_string")]
    pub log: LogFormat,
    /// Automatic failover, or `null` (the default) for manual failover.
    #[serde(default)]
    pub failover: Option<RawFailover>,
    /// The initial leader, one of the initial nodes.
    #[serde(default = "default_node")]
    pub leader: String,
    /// How often the leader's log sender ships new entries to followers (ms, >= 0; 0 ships
    /// each write at once). An `async` write acknowledged before its batch left is lost
    /// if the leader crashes.
    #[serde(default = "default_ship_interval_ms")]
    #[schemars(extend("minimum" = 0))]
    pub ship_interval_ms: f64,
    /// Log entries a node keeps before folding older ones into a snapshot (>= 1). A
    /// follower that falls further behind catches up from a snapshot instead of the log.
    #[serde(default = "default_log_retention")]
    #[schemars(extend("minimum" = 1))]
    pub log_retention: u64,
}

fn default_ship_interval_ms() -> f64 {
    5.0
}

fn default_log_retention() -> u64 {
    10_000
}

fn default_node() -> String {
    "n0".to_owned()
}

/// Automatic failover: followers elect a new leader when heartbeats stop.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Failover")]
#[schemars(rename = "Failover")]
pub(super) struct RawFailover {
    /// How often the leader sends heartbeats (ms, > 0).
    #[serde(default = "default_heartbeat_ms")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub heartbeat_ms: f64,
    /// How long followers wait without a heartbeat before electing a new leader (ms, > 0).
    #[serde(default = "default_timeout_ms")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub timeout_ms: f64,
    /// Whether old leaders are fenced off: a leader that cannot reach a majority within
    /// half the timeout stops accepting writes, and a restarted leader comes back as a
    /// follower. Without fencing, an isolated or restarted old leader goes on accepting
    /// writes until it hears of the newer epoch (split brain).
    #[serde(default = "default_true")]
    pub fencing: bool,
}

fn default_heartbeat_ms() -> f64 {
    50.0
}

fn default_timeout_ms() -> f64 {
    300.0
}

fn default_true() -> bool {
    true
}

/// `multi-leader` settings.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMultiLeader {
    /// Which leaders send their writes to which: `all-to-all`, `circular` or `star`.
    #[serde(default, deserialize_with = "from_string")]
    pub topology: Topology,
    /// The hub of a `star` topology (default `n0`); only for `star`.
    #[serde(default)]
    pub root: Option<String>,
    /// How concurrent writes to one key are resolved: `lww` (last writer wins),
    /// `replica-priority`, `merge` (keep the sorted list of values) or `siblings`.
    #[serde(default, deserialize_with = "from_string")]
    pub conflict: Conflict,
    /// How concurrency is detected: `none` or `version-vectors`.
    #[serde(default, deserialize_with = "from_string")]
    pub causality: Causality,
    /// Route every key's writes to one leader (its home), avoiding write conflicts.
    #[serde(default)]
    pub home_leader: bool,
}

/// `leaderless` settings.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLeaderless {
    /// Replicas per key (1 to `nodes`; default `nodes`).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub n: Option<u64>,
    /// Write quorum: replicas that must acknowledge a write (1 to `n`; default a majority
    /// of `n`, `n / 2 + 1`).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub w: Option<u64>,
    /// Read quorum: replicas a read waits for (1 to `n`; default a majority of `n`,
    /// `n / 2 + 1`).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub r: Option<u64>,
    /// Repair stale replicas seen by a read.
    #[serde(default = "default_true")]
    pub read_repair: bool,
    /// Interval of background anti-entropy between replicas (ms, > 0), or `null` (the
    /// default) for none.
    #[serde(default)]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub anti_entropy_ms: Option<f64>,
    /// Accept writes on nodes outside the key's replicas when those are unreachable.
    #[serde(default)]
    pub sloppy_quorum: bool,
    /// Hand writes accepted by a sloppy quorum back to their home replicas later.
    #[serde(default)]
    pub hinted_handoff: bool,
    /// How replica versions are compared: `lww` or `version-vectors` (concurrent writes
    /// kept as siblings).
    #[serde(default, deserialize_with = "from_string")]
    pub versions: Versions,
    /// `crdt`: values are counters or add-wins sets (per `clients.workload`) whose
    /// replicas merge every update; absent: register values compared by `versions`.
    #[serde(default)]
    pub conflict: Option<LeaderlessConflict>,
}

/// The network between nodes. Clients reach every node that is up; partitions and link
/// faults cut node-to-node traffic only.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Network")]
#[schemars(rename = "Network")]
pub(super) struct RawNetwork {
    /// The one-way delay of every message, drawn independently per message.
    #[serde(default = "default_latency")]
    pub latency: RawDist,
    /// The one-way delay of messages between clients and nodes (either direction), when
    /// it differs from `latency`: e.g. application servers beside the nodes while the
    /// nodes talk across a WAN. Absent: `latency`.
    #[serde(default)]
    pub client_latency: Option<RawDist>,
    /// Chance that a node-to-node message is lost (0 to 1).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1))]
    pub drop_rate: f64,
    /// Chance that a node-to-node message is delivered twice (0 to 1).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1))]
    pub duplicate_rate: f64,
    /// Chance that a node-to-node message arrives corrupted (0 to 1); the receiver's
    /// checksum detects it and drops it, and reports count these apart.
    #[serde(default)]
    #[schemars(range(min = 0, max = 1))]
    pub corrupt_rate: f64,
    /// Per-link latency overrides (directed).
    #[serde(default)]
    pub links: Vec<RawLink>,
}

impl Default for RawNetwork {
    fn default() -> Self {
        RawNetwork {
            latency: default_latency(),
            client_latency: None,
            drop_rate: 0.0,
            duplicate_rate: 0.0,
            corrupt_rate: 0.0,
            links: Vec::new(),
        }
    }
}

fn default_latency() -> RawDist {
    RawDist::Constant(RawConstant { ms: 1.0 })
}

/// A latency override for messages from one node to another (one direction).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Link")]
#[schemars(rename = "Link")]
pub(super) struct RawLink {
    /// The sending node.
    pub from: String,
    /// The receiving node (not `from`).
    pub to: String,
    /// The one-way delay on this link.
    pub latency: RawDist,
}

/// A distribution of durations in milliseconds, chosen by `dist`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "dist", rename_all = "lowercase")]
#[schemars(rename = "Distribution")]
pub(super) enum RawDist {
    /// Always `ms`.
    Constant(RawConstant),
    /// Uniform between `min_ms` and `max_ms`.
    Uniform(RawUniform),
    /// Exponential with mean `mean_ms`.
    Exponential(RawExponential),
    /// Normal with mean `mean_ms` and standard deviation `stddev_ms`, negative draws
    /// clamped to 0.
    Normal(RawNormal),
    /// Pareto (heavy-tailed) with minimum `scale_ms` and tail index `shape`.
    Pareto(RawPareto),
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum DistKind {
    Constant,
    Uniform,
    Exponential,
    Normal,
    Pareto,
}

impl Tagged for RawDist {
    const TAG: &'static str = "dist";
    const EXPECTING: &'static str = "a distribution object with a \"dist\" field";
    type Kind = DistKind;

    fn variant<'de, D: Deserializer<'de>>(kind: DistKind, rest: D) -> Result<Self, D::Error> {
        match kind {
            DistKind::Constant => RawConstant::deserialize(rest).map(Self::Constant),
            DistKind::Uniform => RawUniform::deserialize(rest).map(Self::Uniform),
            DistKind::Exponential => RawExponential::deserialize(rest).map(Self::Exponential),
            DistKind::Normal => RawNormal::deserialize(rest).map(Self::Normal),
            DistKind::Pareto => RawPareto::deserialize(rest).map(Self::Pareto),
        }
    }
}

impl<'de> Deserialize<'de> for RawDist {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        tagged::deserialize(deserializer)
    }
}

/// `constant`: always the same duration.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConstant {
    /// The duration (ms, >= 0).
    #[schemars(range(min = 0))]
    pub ms: f64,
}

/// `uniform`: any duration between two bounds, equally likely.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUniform {
    /// The smallest duration (ms, >= 0).
    #[schemars(range(min = 0))]
    pub min_ms: f64,
    /// The largest duration (ms, >= `min_ms`).
    #[schemars(range(min = 0))]
    pub max_ms: f64,
}

/// `exponential`: memoryless delays.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExponential {
    /// The mean (ms, > 0).
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub mean_ms: f64,
}

/// `normal`: a bell curve, clamped at 0.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNormal {
    /// The mean (ms, >= 0).
    #[schemars(range(min = 0))]
    pub mean_ms: f64,
    /// The standard deviation (ms, >= 0).
    #[schemars(range(min = 0))]
    pub stddev_ms: f64,
}

/// `pareto`: a heavy tail of rare, very long delays.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPareto {
    /// The minimum duration (ms, > 0).
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub scale_ms: f64,
    /// The tail index (> 0); the mean is finite only above 1.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub shape: f64,
}

/// The client workload: processes that issue reads and writes, one at a time each,
/// every write with a value never written before.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Clients")]
#[schemars(rename = "Clients")]
pub(super) struct RawClients {
    /// Number of client processes (0 to 100000).
    #[serde(default = "default_count")]
    #[schemars(range(max = 100_000))]
    pub count: u64,
    /// Number of keys, `k0`..`k{keys-1}`, chosen uniformly (1 to 1000000).
    #[serde(default = "default_keys")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub keys: u64,
    /// Share of operations that are reads (0 to 1).
    #[serde(default = "default_read_fraction")]
    #[schemars(range(min = 0, max = 1))]
    pub read_fraction: f64,
    /// Pause between an operation's completion and the client's next operation.
    #[serde(default = "default_think")]
    pub think_ms: RawDist,
    /// How long a client waits for a reply before recording the operation as `info`
    /// (ms, > 0).
    #[serde(default = "default_timeout")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub timeout_ms: f64,
    /// Which replica serves reads: `leader`, `any` (a random replica each read), `sticky`
    /// (one replica per client); single-leader also offers `read-your-writes`,
    /// `monotonic` and `consistent-prefix`. `leader` is not available for multi-leader
    /// and leaderless.
    #[serde(default = "default_reads_from")]
    #[schemars(extend("enum" = [
        "leader", "any", "sticky", "read-your-writes", "monotonic", "consistent-prefix"
    ]))]
    pub reads_from: String,
    /// Share of writes whose value is computed on the node that executes them, like
    /// `NOW()` or `RAND()` in SQL (0 to 1).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1))]
    pub nondeterministic_fraction: f64,
    /// What non-read operations do: `register` (write a unique value), `counter`
    /// (increment by 1 to 5) or `set` (add or remove an element). Counters and sets need
    /// CRDT values: `conflict: "crdt"` (multi-leader, leaderless) or single-node.
    #[serde(default, deserialize_with = "from_string")]
    pub workload: WorkloadKind,
    /// Size of the `set` workload's element domain, `e0..e{elements-1}` (1 to 1000;
    /// default 8). Only for `workload: "set"`.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub elements: Option<u64>,
}

impl Default for RawClients {
    fn default() -> Self {
        RawClients {
            count: default_count(),
            keys: default_keys(),
            read_fraction: default_read_fraction(),
            think_ms: default_think(),
            timeout_ms: default_timeout(),
            reads_from: default_reads_from(),
            nondeterministic_fraction: 0.0,
            workload: WorkloadKind::Register,
            elements: None,
        }
    }
}

fn default_count() -> u64 {
    4
}

fn default_keys() -> u64 {
    8
}

fn default_read_fraction() -> f64 {
    0.5
}

fn default_think() -> RawDist {
    RawDist::Constant(RawConstant { ms: 5.0 })
}

fn default_timeout() -> f64 {
    1000.0
}

fn default_reads_from() -> String {
    "any".to_owned()
}

/// One scheduled fault: `at_ms` and exactly one action. Windows (`partition`,
/// `isolate`, `link_down`, `lag`, `random`) also need `until_ms`; `clock_skew` takes it
/// optionally.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Fault")]
#[schemars(rename = "Fault")]
#[schemars(extend("oneOf" = [
    {"required": ["crash"]}, {"required": ["restart"]}, {"required": ["partition"]},
    {"required": ["isolate"]}, {"required": ["link_down"]}, {"required": ["lag"]},
    {"required": ["clock_skew"]}, {"required": ["upgrade"]}, {"required": ["add_node"]},
    {"required": ["random"]}
]))]
pub(super) struct RawFault {
    /// When the fault starts (ms, 0 to `duration_ms`).
    #[schemars(range(min = 0))]
    pub at_ms: f64,
    /// When a window fault ends (ms, after `at_ms`, at most `duration_ms`). Required for
    /// `partition`, `isolate`, `link_down`, `lag` and `random`; optional for `clock_skew`
    /// (absent: until the workload ends); not allowed for the others.
    #[serde(default)]
    pub until_ms: Option<f64>,
    /// Crash this node: it stops, and keeps only what it had made durable.
    #[serde(default)]
    pub crash: Option<String>,
    /// Restart this crashed node from its durable state.
    #[serde(default)]
    pub restart: Option<String>,
    /// Split nodes into groups that cannot exchange messages (at least two non-empty
    /// groups, no node in two); messages in flight across the cut are lost.
    #[serde(default)]
    pub partition: Option<Vec<Vec<String>>>,
    /// Cut this node from every other node.
    #[serde(default)]
    pub isolate: Option<String>,
    /// `[from, to]`: one direction of one link drops everything.
    #[serde(default)]
    pub link_down: Option<(String, String)>,
    /// Every message to or from a node takes longer.
    #[serde(default)]
    pub lag: Option<RawLag>,
    /// A node's local clock (used for timestamps and timeouts) runs ahead or behind.
    #[serde(default)]
    pub clock_skew: Option<RawClockSkew>,
    /// Restart this node on the next storage-format version.
    #[serde(default)]
    pub upgrade: Option<String>,
    /// Bring in a new node, which must be the next id (`n{nodes}`, then `n{nodes+1}`, ...
    /// in time order); later faults may name it.
    #[serde(default)]
    pub add_node: Option<String>,
    /// A random fault schedule (the nemesis) between `at_ms` and `until_ms`, expanded
    /// deterministically from the run's seed over the initial nodes.
    #[serde(default)]
    pub random: Option<RawRandom>,
    /// Remove this node from the cluster for good: it stops, and the other nodes and the
    /// clients no longer see it among the members.
    #[serde(default)]
    pub remove_node: Option<String>,
    /// Pause this node: it keeps its state but handles nothing; its timers, incoming
    /// messages and client requests wait until it resumes (at `until_ms`, a `resume`, or
    /// the end of the workload). Unlike a crash, nothing is lost.
    #[serde(default)]
    pub pause: Option<String>,
    /// Resume this paused node.
    #[serde(default)]
    pub resume: Option<String>,
    /// `[from, to]`: hold (clog) one direction of one link; its messages are delivered,
    /// late and in a new order, at `until_ms`, at a `release` of the link, or when the
    /// workload ends.
    #[serde(default)]
    pub hold: Option<(String, String)>,
    /// Hold every message to and from this node until `until_ms`, a `release` of the
    /// node, or the end of the workload.
    #[serde(default)]
    pub hold_node: Option<String>,
    /// End holds: `[from, to]` releases the holds of that link, a node name the
    /// `hold_node` of that node; the held messages are delivered now.
    #[serde(default)]
    pub release: Option<RawRelease>,
    /// Swizzle-clog these nodes' links (at least two nodes): hold their links one by one,
    /// then release them in reverse order, over the window.
    #[serde(default)]
    pub swizzle: Option<Vec<String>>,
    /// Reorder node-to-node messages: each gets an extra delay drawn from 0 to
    /// `extra_ms`, until `until_ms`.
    #[serde(default)]
    pub reorder: Option<RawReorder>,
}

/// `release`: a link or a node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "a node name (for hold_node) or [from, to] (for hold)"
)]
pub(super) enum RawRelease {
    /// Releases `hold_node` of this node.
    Node(String),
    /// Releases `hold` of this link.
    Link((String, String)),
}

/// A reorder window.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Reorder")]
#[schemars(rename = "Reorder")]
pub(super) struct RawReorder {
    /// Largest extra delay (ms, > 0).
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub extra_ms: f64,
}

/// `lag`: extra delay for one node's messages.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Lag")]
#[schemars(rename = "Lag")]
pub(super) struct RawLag {
    /// The slow node.
    pub node: String,
    /// Added one-way delay of every message to or from it (ms, >= 0).
    #[schemars(range(min = 0))]
    pub extra_ms: f64,
}

/// `clock_skew`: one node's clock offset.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "ClockSkew")]
#[schemars(rename = "ClockSkew")]
pub(super) struct RawClockSkew {
    /// The node.
    pub node: String,
    /// How far its clock runs ahead of true time (ms; negative: behind).
    pub offset_ms: f64,
}

/// `random`: the nemesis.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Random")]
#[schemars(rename = "Random")]
pub(super) struct RawRandom {
    /// The fault kinds to draw from, uniformly (at least one).
    #[schemars(length(min = 1))]
    #[serde(deserialize_with = "from_strings")]
    pub kinds: Vec<RawRandomKind>,
    /// Mean time between fault starts (ms, > 0).
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub mean_interval_ms: f64,
    /// Longest a fault lasts (ms, > 0); each lasts between a quarter of this (at least
    /// 1 ms) and all of it.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub max_fault_ms: f64,
    /// Swarm mode: each run draws from its seed which of `kinds` it uses and how often
    /// each fires, so a sweep explores many fault mixes (default false).
    #[serde(default)]
    pub swarm: bool,
}

/// A fault kind the nemesis can draw.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "RandomKind")]
pub(super) enum RawRandomKind {
    /// Crash a node, restart it later.
    Crash,
    /// Split the nodes into two groups.
    Partition,
    /// Cut one node from the others.
    Isolate,
    /// Cut one direction of one link.
    LinkDown,
    /// Slow one node down.
    Lag,
    /// Skew one node's clock.
    ClockSkew,
    /// Pause one node.
    Pause,
    /// Hold every message to and from one node, then release them late.
    Hold,
    /// Reorder messages by an extra random delay.
    Reorder,
}

/// The anomalies the run is expected to show (SPEC §4): each kind named gets bounds on
/// its count.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Expect")]
#[schemars(rename = "Expect")]
pub(super) struct RawExpect {
    /// Reads that returned a value older than one already overwritten.
    #[serde(default)]
    pub stale_read: Option<RawBound>,
    /// Reads that missed the reader's own earlier write.
    #[serde(default)]
    pub read_your_writes: Option<RawBound>,
    /// Reads that went back in time from the same process's earlier read.
    #[serde(default)]
    pub monotonic_read: Option<RawBound>,
    /// Reads that saw an effect before its cause.
    #[serde(default)]
    pub consistent_prefix: Option<RawBound>,
    /// Acknowledged writes no node kept.
    #[serde(default)]
    pub lost_write: Option<RawBound>,
    /// Reads of values never (successfully) written, or not yet written.
    #[serde(default)]
    pub phantom_read: Option<RawBound>,
    /// Keys whose final values differ between nodes.
    #[serde(default)]
    pub divergence: Option<RawBound>,
    /// Spans of time with two leaders accepting writes (single-leader).
    #[serde(default)]
    pub split_brain: Option<RawBound>,
    /// Operations that failed or timed out.
    #[serde(default)]
    pub unavailable: Option<RawBound>,
    /// Keys whose history has no linearization.
    #[serde(default)]
    pub linearizability: Option<RawBound>,
    /// Counters whose final total falls short of their acknowledged increments.
    #[serde(default)]
    pub lost_increment: Option<RawBound>,
    /// Counters whose final total exceeds every increment that may have happened.
    #[serde(default)]
    pub phantom_increment: Option<RawBound>,
    /// Acknowledged adds to a set whose element no node kept and no remove explains.
    #[serde(default)]
    pub lost_add: Option<RawBound>,
}

impl RawExpect {
    /// The entries in [`super::EXPECT_KINDS`] order.
    pub(super) fn entries(&self) -> [(&'static str, Option<&RawBound>); 13] {
        [
            ("stale_read", self.stale_read.as_ref()),
            ("read_your_writes", self.read_your_writes.as_ref()),
            ("monotonic_read", self.monotonic_read.as_ref()),
            ("consistent_prefix", self.consistent_prefix.as_ref()),
            ("lost_write", self.lost_write.as_ref()),
            ("phantom_read", self.phantom_read.as_ref()),
            ("divergence", self.divergence.as_ref()),
            ("split_brain", self.split_brain.as_ref()),
            ("unavailable", self.unavailable.as_ref()),
            ("linearizability", self.linearizability.as_ref()),
            ("lost_increment", self.lost_increment.as_ref()),
            ("phantom_increment", self.phantom_increment.as_ref()),
            ("lost_add", self.lost_add.as_ref()),
        ]
    }
}

/// Bounds on an anomaly's count: at least one of `min` and `max`, with `min <= max`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, remote = "Self", rename = "Bound")]
#[schemars(rename = "Bound")]
#[schemars(extend("minProperties" = 1))]
pub(super) struct RawBound {
    /// Fewest flags allowed.
    #[serde(default)]
    pub min: Option<u64>,
    /// Most flags allowed.
    #[serde(default)]
    pub max: Option<u64>,
}

objects_only!(
    RawScenario,
    RawFailover,
    RawNetwork,
    RawLink,
    RawClients,
    RawFault,
    RawLag,
    RawClockSkew,
    RawRandom,
    RawExpect,
    RawBound,
    RawLimits,
    RawDebug,
    RawReorder,
    RawStorage,
    RawNodeStorage,
);

/// Parses `text` into the raw structs; `file` names it in errors.
pub(super) fn parse(text: &str, file: &str) -> Result<RawScenario, ScenarioError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let raw: RawScenario = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(raw) => raw,
        Err(error) => {
            let mut path = ROOT.to_owned();
            push_segments(&mut path, error.path());
            return Err(json_error(file, path, error.into_inner()));
        }
    };
    match deserializer.end() {
        Ok(()) => Ok(raw),
        Err(error) => Err(json_error(file, ROOT.to_owned(), error)),
    }
}

/// Turns a serde_json error at `path` into a [`ScenarioError`].
fn json_error(file: &str, mut path: String, error: serde_json::Error) -> ScenarioError {
    let full = error.to_string();
    // serde_json appends the position; syntax errors show it up front instead, and the
    // JSON path locates the others.
    let position = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&position).unwrap_or(&full);
    let message = printable(split_marked(&mut path, message).to_owned());
    if error.is_data() {
        ScenarioError::Invalid {
            file: file.to_owned(),
            path,
            message,
        }
    } else {
        ScenarioError::Syntax {
            file: file.to_owned(),
            line: error.line(),
            column: error.column(),
            path: Some(path),
            message,
        }
    }
}

/// The JSON Schema of scenario files.
pub(super) fn schema() -> serde_json::Value {
    schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<RawScenario>()
        .to_value()
}
