//! Validation: the rules of SPEC §2 applied to the raw structs, which become the typed
//! [`Scenario`].
//!
//! Every check reports the JSON path of the offending value. Milliseconds become
//! [`SimTime`]/[`SimDuration`] here, once, rounded to the nearest microsecond
//! ([`SimDuration::from_ms`]); comparisons between times (`until_ms` after `at_ms`, a
//! fault before the end of the workload) are made on the rounded values, which are the
//! ones the simulator sees. Rates become [`Probability`] thresholds.
//!
//! Node ids are checked against the cluster's timeline: the initial nodes exist from the
//! start, and each `add_node` (which must bring in the next id, in start-time order)
//! makes its node available to faults that start after it. Faults at the same instant
//! run in file order, so a fault may name a node added at its own instant only if it
//! comes after the `add_node` in the file.

use std::collections::BTreeMap;

use repsim_sim::{
    ClientConfig, Fault, FaultAction, Latency, Limits, LinkConfig, NetworkConfig, NodeId,
    Probability, RandomFaults, RandomKind, SimDuration, SimTime, SyncPolicy, Workload,
};

use super::error::{Invalid, push_key};
use super::raw::{
    RawClients, RawDist, RawExpect, RawFault, RawLimits, RawNetwork, RawProtocol, RawRandomKind,
    RawRelease, RawScenario, RawStorage,
};
use super::{
    Conflict, DebugOptions, Expectation, Failover, FaultSpec, LeaderlessConfig, LeaderlessConflict,
    MultiLeaderConfig, PlantedBug, ProtocolConfig, Replication, Scenario, SingleLeaderConfig,
    Topology, Versions, WorkloadKind,
};

/// The largest time or duration a file may give, in ms (about 31 years): far beyond any
/// sensible run, and small enough that microseconds fit comfortably in a `u64`.
const MAX_MS: f64 = 1e12;
/// The largest initial cluster.
const MAX_NODES: u64 = 1000;
/// The most client processes.
const MAX_CLIENTS: u64 = 100_000;
/// The most keys (the history pre-interns every key name).
const MAX_KEYS: u64 = 1_000_000;
/// The longest scenario name, in bytes (it becomes a directory name).
const MAX_NAME_BYTES: usize = 200;
/// The most faults the `random` entries of a scenario may start on average, together
/// (their windows over their mean intervals). The schedule is expanded into memory
/// before a run, so without a bound a long window with a tiny interval would make
/// `run` hang while it drew ~10^15 faults.
const MAX_RANDOM_FAULTS: f64 = 1e6;

type Result<T> = std::result::Result<T, Invalid>;

/// Validates a parsed scenario file.
pub(super) fn scenario(raw: RawScenario, file: &str) -> Result<Scenario> {
    let name = name(raw.name)?;
    let nodes = initial_nodes(raw.nodes)?;
    let duration = SimTime::from_micros(positive_ms(raw.duration_ms, "$.duration_ms")?.as_micros());
    let protocol = protocol(&raw.protocol, nodes)?;
    let (faults, cluster) = faults(&raw.faults, nodes, duration, &protocol)?;
    let network = network(&raw.network, &cluster)?;
    let clients = clients(&raw.clients, &protocol)?;
    let expect = expect(&raw.expect)?;
    let limits = limits(&raw.limits)?;
    let sync = storage(&raw.storage, &cluster)?;
    let planted_bug = match raw.debug.planted_bug.as_deref() {
        None => None,
        Some(name) => {
            const PATH: &str = "$.debug.planted_bug";
            let Some(&(bug, _, kind)) = PlantedBug::ALL.iter().find(|(_, n, _)| *n == name) else {
                let names: Vec<&str> = PlantedBug::ALL.iter().map(|(_, n, _)| *n).collect();
                return Err(Invalid::new(
                    PATH,
                    format!(
                        "unknown planted bug {name:?}; expected one of {}",
                        names.join(", ")
                    ),
                ));
            };
            if kind != protocol.kind() {
                return Err(Invalid::new(
                    PATH,
                    format!("{name} applies to {kind}, not {}", protocol.kind()),
                ));
            }
            Some(bug)
        }
    };
    let debug = DebugOptions {
        panic_at_event: raw.debug.panic_at_event,
        panic_every_nth_seed: match raw.debug.panic_every_nth_seed {
            Some(0) => {
                return Err(Invalid::new(
                    "$.debug.panic_every_nth_seed",
                    "must be at least 1",
                ));
            }
            Some(n) => n,
            None => 1,
        },
        planted_bug,
    };
    Ok(Scenario {
        file: file.to_owned(),
        name,
        description: raw.description,
        seed: raw.seed,
        nodes,
        duration,
        protocol,
        network,
        clients,
        faults,
        expect,
        limits,
        debug,
        sync,
    })
}

/// Per node (every node that ever exists), its sync policy.
fn storage(raw: &RawStorage, cluster: &Cluster) -> Result<Vec<SyncPolicy>> {
    let policy = |ms: f64, path: &str| -> Result<SyncPolicy> {
        let interval = non_negative_ms(ms, path)?;
        Ok(if interval == SimDuration::ZERO {
            SyncPolicy::Always
        } else {
            SyncPolicy::Every(interval)
        })
    };
    let default = policy(raw.sync_interval_ms, "$.storage.sync_interval_ms")?;
    let mut sync = vec![default; cluster.total() as usize];
    let mut seen = BTreeMap::new();
    for (i, node) in raw.nodes.iter().enumerate() {
        let path = format!("$.storage.nodes[{i}]");
        let id = cluster.any_node(&node.node, &join(&path, "node"))?;
        if let Some(first) = seen.insert(id, i) {
            return Err(Invalid::new(
                join(&path, "node"),
                format!("{id} is already set by $.storage.nodes[{first}]"),
            ));
        }
        sync[id.index()] = policy(node.sync_interval_ms, &join(&path, "sync_interval_ms"))?;
    }
    Ok(sync)
}

fn limits(raw: &RawLimits) -> Result<Limits> {
    let defaults = Limits::default();
    Ok(Limits {
        max_events: match raw.max_events {
            Some(0) => return Err(Invalid::new("$.limits.max_events", "must be at least 1")),
            Some(n) => n,
            None => defaults.max_events,
        },
        max_time: match raw.max_time_ms {
            Some(ms) => SimTime::from_micros(positive_ms(ms, "$.limits.max_time_ms")?.as_micros()),
            None => defaults.max_time,
        },
        settle: match raw.settle_ms {
            Some(ms) => positive_ms(ms, "$.limits.settle_ms")?,
            None => defaults.settle,
        },
        panic_at_event: None,
    })
}

fn name(name: String) -> Result<String> {
    const PATH: &str = "$.name";
    let refuse = |why: &str| Err(Invalid::new(PATH, format!("name {why} (got {name:?})")));
    if name.is_empty() {
        return Err(Invalid::new(PATH, "name must not be empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return refuse(&format!(
            "is used as a directory name and may be at most {MAX_NAME_BYTES} bytes long"
        ));
    }
    for bad in ["/", "\\", ".."] {
        if name.contains(bad) {
            return refuse(&format!(
                "is used as a directory name and may not contain `{bad}`"
            ));
        }
    }
    if name == "." {
        return refuse("is used as a directory name and may not be `.`");
    }
    if name.chars().any(char::is_control) {
        return refuse("is used as a directory name and may not contain control characters");
    }
    Ok(name)
}

fn initial_nodes(nodes: u64) -> Result<u16> {
    if !(1..=MAX_NODES).contains(&nodes) {
        return Err(Invalid::new(
            "$.nodes",
            format!("nodes must be between 1 and {MAX_NODES} (got {nodes})"),
        ));
    }
    Ok(nodes as u16)
}

// ----- numbers -------------------------------------------------------------------------

/// A time or duration in ms that may be zero: finite, `>= 0`, at most [`MAX_MS`].
fn ms_value(value: f64, path: &str) -> Result<f64> {
    bounded(value, path, " ms")?;
    if value < 0.0 {
        let name = field_name(path);
        return Err(Invalid::new(
            path,
            format!("{name} must not be negative (got {value})"),
        ));
    }
    Ok(value)
}

/// A finite number whose magnitude is at most [`MAX_MS`] (`unit` is for the message).
fn bounded(value: f64, path: &str, unit: &str) -> Result<f64> {
    let name = field_name(path);
    if !value.is_finite() {
        return Err(Invalid::new(
            path,
            format!("{name} must be a finite number"),
        ));
    }
    if value.abs() > MAX_MS {
        return Err(Invalid::new(
            path,
            format!("{name} is too large (got {value}; at most {MAX_MS}{unit})"),
        ));
    }
    Ok(value)
}

/// A duration in ms that may be zero.
fn non_negative_ms(value: f64, path: &str) -> Result<SimDuration> {
    ms_value(value, path).map(SimDuration::from_ms)
}

/// A duration in ms that must be positive, also once rounded to whole microseconds.
fn positive_ms(value: f64, path: &str) -> Result<SimDuration> {
    let name = field_name(path);
    let duration = non_negative_ms(value, path)?;
    if value == 0.0 {
        return Err(Invalid::new(
            path,
            format!("{name} must be greater than 0 (got {value})"),
        ));
    }
    if duration == SimDuration::ZERO {
        return Err(Invalid::new(
            path,
            format!("{name} must be at least 0.001 ms, one simulated microsecond (got {value})"),
        ));
    }
    Ok(duration)
}

/// A positive parameter kept as a float (a mean or scale in ms, a shape), `<= MAX_MS`.
fn positive_float(value: f64, path: &str, unit: &str) -> Result<f64> {
    let name = field_name(path);
    bounded(value, path, unit)?;
    if value <= 0.0 {
        return Err(Invalid::new(
            path,
            format!("{name} must be greater than 0 (got {value})"),
        ));
    }
    Ok(value)
}

/// A rate in `[0, 1]`.
fn fraction(value: f64, path: &str) -> Result<Probability> {
    if !(0.0..=1.0).contains(&value) {
        let name = field_name(path);
        return Err(Invalid::new(
            path,
            format!("{name} must be between 0 and 1 (got {value})"),
        ));
    }
    Ok(Probability::new(value))
}

/// The last field name of a path (`$.faults[0].until_ms` → `until_ms`), for messages.
fn field_name(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn join(path: &str, key: &str) -> String {
    let mut joined = path.to_owned();
    push_key(&mut joined, key);
    joined
}

// ----- nodes ---------------------------------------------------------------------------

/// The id of node `name` if it is spelled `n<i>` (no sign, no leading zeros).
fn parse_node(name: &str) -> Option<u16> {
    let digits = name.strip_prefix('n')?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return None;
    }
    digits.parse().ok()
}

/// `n0..n2`, or `n0` for one node.
fn node_range(from: u32, count: u32) -> String {
    match count {
        0 => String::new(),
        1 => format!("n{from}"),
        _ => format!("n{from}..n{}", from + count - 1),
    }
}

/// The nodes a scenario has: the initial ones and those `add_node` brings in.
struct Cluster {
    initial: u16,
    /// The `add_node` faults in start order: (node, start, rank in start order, file
    /// index).
    added: Vec<Added>,
}

struct Added {
    node: u16,
    at: SimTime,
    rank: usize,
    index: usize,
}

impl Cluster {
    fn total(&self) -> u32 {
        u32::from(self.initial) + self.added.len() as u32
    }

    /// "the nodes are n0..n2" (plus those added), for unknown-node messages.
    fn describe(&self) -> String {
        let initial = u32::from(self.initial);
        let mut text = format!("the nodes are {}", node_range(0, initial));
        if !self.added.is_empty() {
            let added = self.added.len() as u32;
            text.push_str(&format!(
                ", plus {} added by add_node",
                node_range(initial, added)
            ));
        }
        text
    }

    /// A node that exists at some point of the run.
    fn any_node(&self, name: &str, path: &str) -> Result<NodeId> {
        match parse_node(name) {
            Some(id) if u32::from(id) < self.total() => Ok(NodeId(id)),
            _ => Err(unknown_node(name, path, &self.describe())),
        }
    }
}

fn unknown_node(name: &str, path: &str, nodes: &str) -> Invalid {
    Invalid::new(path, format!("unknown node `{name}` ({nodes})"))
}

/// One of the initial nodes (a starting leader, a star's root).
fn initial_node(name: &str, path: &str, nodes: u16) -> Result<NodeId> {
    match parse_node(name) {
        Some(id) if id < nodes => Ok(NodeId(id)),
        _ => Err(unknown_node(
            name,
            path,
            &format!(
                "it must be one of the initial nodes {}",
                node_range(0, u32::from(nodes))
            ),
        )),
    }
}

// ----- protocol ------------------------------------------------------------------------

fn protocol(raw: &RawProtocol, nodes: u16) -> Result<ProtocolConfig> {
    Ok(match raw {
        RawProtocol::SingleNode(_) => {
            if nodes != 1 {
                return Err(Invalid::new(
                    "$.nodes",
                    format!("single-node runs exactly one node, so nodes must be 1 (got {nodes})"),
                ));
            }
            ProtocolConfig::SingleNode
        }
        RawProtocol::SingleLeader(raw) => {
            let failover = match &raw.failover {
                None => None,
                Some(f) => Some(Failover {
                    heartbeat: positive_ms(f.heartbeat_ms, "$.protocol.failover.heartbeat_ms")?,
                    timeout: positive_ms(f.timeout_ms, "$.protocol.failover.timeout_ms")?,
                    fencing: f.fencing,
                }),
            };
            if raw.replication == Replication::SemiSync && nodes < 2 {
                return Err(Invalid::new(
                    "$.protocol.replication",
                    format!("semi-sync needs a follower to be synchronous, but nodes is {nodes}"),
                ));
            }
            ProtocolConfig::SingleLeader(SingleLeaderConfig {
                replication: raw.replication,
                log: raw.log,
                failover,
                leader: initial_node(&raw.leader, "$.protocol.leader", nodes)?,
                ship_interval: non_negative_ms(
                    raw.ship_interval_ms,
                    "$.protocol.ship_interval_ms",
                )?,
                log_retention: match raw.log_retention {
                    0 => {
                        return Err(Invalid::new(
                            "$.protocol.log_retention",
                            "log_retention must be at least 1".to_owned(),
                        ));
                    }
                    n => n,
                },
            })
        }
        RawProtocol::MultiLeader(raw) => {
            let root = match &raw.root {
                Some(_) if raw.topology != Topology::Star => {
                    return Err(Invalid::new(
                        "$.protocol.root",
                        format!(
                            "root applies only to topology star (this topology is {})",
                            raw.topology.as_str()
                        ),
                    ));
                }
                Some(root) => initial_node(root, "$.protocol.root", nodes)?,
                None => NodeId(0),
            };
            ProtocolConfig::MultiLeader(MultiLeaderConfig {
                topology: raw.topology,
                root,
                conflict: raw.conflict,
                causality: raw.causality,
                home_leader: raw.home_leader,
            })
        }
        RawProtocol::Leaderless(raw) => {
            let n = raw.n.unwrap_or(u64::from(nodes));
            if n < 1 {
                return Err(Invalid::new("$.protocol.n", "n must be at least 1 (got 0)"));
            }
            if n > u64::from(nodes) {
                return Err(Invalid::new(
                    "$.protocol.n",
                    format!("n ({n}) > nodes ({nodes})"),
                ));
            }
            let n = n as u16;
            let quorum = |value: Option<u64>, name: &str| -> Result<u16> {
                let path = format!("$.protocol.{name}");
                match value {
                    None => Ok(LeaderlessConfig::majority(n)),
                    Some(0) => Err(Invalid::new(
                        path,
                        format!("{name} must be at least 1 (got 0)"),
                    )),
                    Some(v) if v > u64::from(n) => {
                        Err(Invalid::new(path, format!("{name} ({v}) > n ({n})")))
                    }
                    Some(v) => Ok(v as u16),
                }
            };
            let w = quorum(raw.w, "w")?;
            let r = quorum(raw.r, "r")?;
            let anti_entropy = match raw.anti_entropy_ms {
                None => None,
                Some(ms) => Some(positive_ms(ms, "$.protocol.anti_entropy_ms")?),
            };
            if raw.conflict.is_some() && raw.versions == Versions::VersionVectors {
                return Err(Invalid::new(
                    "$.protocol.versions",
                    "conflict crdt values carry their own versions: leave versions at lww",
                ));
            }
            ProtocolConfig::Leaderless(LeaderlessConfig {
                n,
                w,
                r,
                read_repair: raw.read_repair,
                anti_entropy,
                sloppy_quorum: raw.sloppy_quorum,
                hinted_handoff: raw.hinted_handoff,
                versions: raw.versions,
                crdt: raw.conflict == Some(LeaderlessConflict::Crdt),
            })
        }
    })
}

// ----- network and clients -------------------------------------------------------------

fn latency(raw: &RawDist, path: &str) -> Result<Latency> {
    let at = |key: &str| join(path, key);
    Ok(match raw {
        RawDist::Constant(d) => Latency::Constant(non_negative_ms(d.ms, &at("ms"))?),
        RawDist::Uniform(d) => {
            let min = non_negative_ms(d.min_ms, &at("min_ms"))?;
            let max = non_negative_ms(d.max_ms, &at("max_ms"))?;
            if d.min_ms > d.max_ms {
                return Err(Invalid::new(
                    at("min_ms"),
                    format!("min_ms ({}) > max_ms ({})", d.min_ms, d.max_ms),
                ));
            }
            Latency::Uniform { min, max }
        }
        RawDist::Exponential(d) => Latency::Exponential {
            mean_micros: positive_float(d.mean_ms, &at("mean_ms"), " ms")? * 1000.0,
        },
        RawDist::Normal(d) => Latency::Normal {
            mean_micros: ms_value(d.mean_ms, &at("mean_ms"))? * 1000.0,
            stddev_micros: ms_value(d.stddev_ms, &at("stddev_ms"))? * 1000.0,
        },
        RawDist::Pareto(d) => Latency::Pareto {
            scale_micros: positive_float(d.scale_ms, &at("scale_ms"), " ms")? * 1000.0,
            shape: positive_float(d.shape, &at("shape"), "")?,
        },
    })
}

fn network(raw: &RawNetwork, cluster: &Cluster) -> Result<NetworkConfig> {
    let mut links = Vec::with_capacity(raw.links.len());
    // Directed link → the index of the entry that set it.
    let mut seen = BTreeMap::new();
    for (i, link) in raw.links.iter().enumerate() {
        let path = format!("$.network.links[{i}]");
        let from = cluster.any_node(&link.from, &join(&path, "from"))?;
        let to = cluster.any_node(&link.to, &join(&path, "to"))?;
        if from == to {
            return Err(Invalid::new(
                path,
                format!("a link joins two different nodes (got {from} to {from})"),
            ));
        }
        if let Some(first) = seen.insert((from, to), i) {
            return Err(Invalid::new(
                path,
                format!("the link {from} -> {to} is already set by $.network.links[{first}]"),
            ));
        }
        links.push(LinkConfig {
            from,
            to,
            latency: latency(&link.latency, &join(&path, "latency"))?,
        });
    }
    Ok(NetworkConfig {
        latency: latency(&raw.latency, "$.network.latency")?,
        client_latency: raw
            .client_latency
            .as_ref()
            .map(|d| latency(d, "$.network.client_latency"))
            .transpose()?,
        drop_rate: fraction(raw.drop_rate, "$.network.drop_rate")?,
        duplicate_rate: fraction(raw.duplicate_rate, "$.network.duplicate_rate")?,
        corrupt_rate: fraction(raw.corrupt_rate, "$.network.corrupt_rate")?,
        links,
    })
}

/// The `reads_from` strategies available everywhere leaders exist, and the ones only
/// `single-leader` offers.
const READS_FROM_COMMON: [&str; 3] = ["leader", "any", "sticky"];
const READS_FROM_SINGLE_LEADER: [&str; 3] = ["read-your-writes", "monotonic", "consistent-prefix"];

fn reads_from(value: &str, protocol: &ProtocolConfig) -> Result<String> {
    const PATH: &str = "$.clients.reads_from";
    let kind = protocol.kind();
    let allowed: Vec<&str> = match protocol {
        ProtocolConfig::SingleNode => READS_FROM_COMMON.to_vec(),
        ProtocolConfig::SingleLeader(_) => READS_FROM_COMMON
            .iter()
            .chain(&READS_FROM_SINGLE_LEADER)
            .copied()
            .collect(),
        ProtocolConfig::MultiLeader(_) | ProtocolConfig::Leaderless(_) => vec!["any", "sticky"],
    };
    if allowed.contains(&value) {
        return Ok(value.to_owned());
    }
    let list = allowed.join(", ");
    let message = if value == "leader" {
        let why = match protocol {
            ProtocolConfig::MultiLeader(_) => "every node of multi-leader is a leader",
            _ => "leaderless has no leader",
        };
        format!("reads_from `leader` means nothing here: {why}; {kind} allows: {list}")
    } else if READS_FROM_SINGLE_LEADER.contains(&value) {
        format!("reads_from `{value}` is single-leader only; {kind} allows: {list}")
    } else {
        format!("unknown reads_from `{value}`; {kind} allows: {list}")
    };
    Err(Invalid::new(PATH, message))
}

fn clients(raw: &RawClients, protocol: &ProtocolConfig) -> Result<ClientConfig> {
    if raw.count > MAX_CLIENTS {
        return Err(Invalid::new(
            "$.clients.count",
            format!("count must be at most {MAX_CLIENTS} (got {})", raw.count),
        ));
    }
    if !(1..=MAX_KEYS).contains(&raw.keys) {
        return Err(Invalid::new(
            "$.clients.keys",
            format!("keys must be between 1 and {MAX_KEYS} (got {})", raw.keys),
        ));
    }
    let crdt = match protocol {
        ProtocolConfig::SingleNode => None,
        ProtocolConfig::SingleLeader(_) => Some(false),
        ProtocolConfig::MultiLeader(c) => Some(c.conflict == Conflict::Crdt),
        ProtocolConfig::Leaderless(c) => Some(c.crdt),
    };
    if raw.workload == WorkloadKind::Register && crdt == Some(true) {
        return Err(Invalid::new(
            "$.protocol.conflict",
            "conflict crdt merges counters and sets: set clients.workload to counter or set",
        ));
    }
    if raw.workload != WorkloadKind::Register {
        let name = raw.workload.as_str();
        if crdt == Some(false) {
            let how = match protocol {
                ProtocolConfig::SingleLeader(_) => {
                    "single-leader does not offer them (use multi-leader or leaderless with \
                     conflict crdt, or single-node)"
                }
                _ => "set protocol.conflict to crdt",
            };
            return Err(Invalid::new(
                "$.clients.workload",
                format!("workload {name} needs CRDT values: {how}"),
            ));
        }
        if raw.nondeterministic_fraction > 0.0 {
            return Err(Invalid::new(
                "$.clients.nondeterministic_fraction",
                format!("nondeterministic writes apply to the register workload, not {name}"),
            ));
        }
    }
    let workload = match (raw.workload, raw.elements) {
        (WorkloadKind::Set, elements) => {
            let elements = elements.unwrap_or(8);
            if !(1..=1000).contains(&elements) {
                return Err(Invalid::new(
                    "$.clients.elements",
                    format!("elements must be between 1 and 1000 (got {elements})"),
                ));
            }
            Workload::Set {
                elements: elements as u32,
            }
        }
        (kind, Some(_)) => {
            return Err(Invalid::new(
                "$.clients.elements",
                format!(
                    "elements applies only to workload set (this workload is {})",
                    kind.as_str()
                ),
            ));
        }
        (WorkloadKind::Register, None) => Workload::Register,
        (WorkloadKind::Counter, None) => Workload::Counter,
    };
    Ok(ClientConfig {
        workload,
        count: raw.count as u32,
        keys: raw.keys as u32,
        read_fraction: fraction(raw.read_fraction, "$.clients.read_fraction")?,
        think: latency(&raw.think_ms, "$.clients.think_ms")?,
        timeout: positive_ms(raw.timeout_ms, "$.clients.timeout_ms")?,
        reads_from: reads_from(&raw.reads_from, protocol)?,
        nondeterministic_fraction: fraction(
            raw.nondeterministic_fraction,
            "$.clients.nondeterministic_fraction",
        )?,
    })
}

// ----- faults --------------------------------------------------------------------------

/// How a fault uses `until_ms`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Window {
    /// An instant: `until_ms` is refused.
    None,
    /// A window: `until_ms` is required.
    Required,
    /// `clock_skew`: absent means until the workload ends.
    Optional,
}

/// The action keys of a fault object, in the order messages list them, with their
/// window rule.
fn actions(raw: &RawFault) -> [(&'static str, bool, Window); 18] {
    [
        ("crash", raw.crash.is_some(), Window::None),
        ("restart", raw.restart.is_some(), Window::None),
        ("partition", raw.partition.is_some(), Window::Required),
        ("isolate", raw.isolate.is_some(), Window::Required),
        ("link_down", raw.link_down.is_some(), Window::Required),
        ("lag", raw.lag.is_some(), Window::Required),
        ("clock_skew", raw.clock_skew.is_some(), Window::Optional),
        ("upgrade", raw.upgrade.is_some(), Window::None),
        ("add_node", raw.add_node.is_some(), Window::None),
        ("random", raw.random.is_some(), Window::Required),
        ("remove_node", raw.remove_node.is_some(), Window::None),
        ("pause", raw.pause.is_some(), Window::Optional),
        ("resume", raw.resume.is_some(), Window::None),
        ("hold", raw.hold.is_some(), Window::Optional),
        ("hold_node", raw.hold_node.is_some(), Window::Optional),
        ("release", raw.release.is_some(), Window::None),
        ("swizzle", raw.swizzle.is_some(), Window::Required),
        ("reorder", raw.reorder.is_some(), Window::Required),
    ]
}

/// A fault whose node references are parsed but not yet checked against the timeline.
enum Entry {
    Fixed {
        fault: Fault,
        /// Every node the fault names but does not add, with its path.
        refs: Vec<(u16, String)>,
    },
    Random(RandomFaults),
}

/// Validates the fault list and returns it with the cluster's timeline.
fn faults(
    raw: &[RawFault],
    nodes: u16,
    duration: SimTime,
    protocol: &ProtocolConfig,
) -> Result<(Vec<FaultSpec>, Cluster)> {
    let entries = raw
        .iter()
        .enumerate()
        .map(|(i, fault)| entry(fault, i, nodes, duration, protocol))
        .collect::<Result<Vec<_>>>()?;

    let mut random_faults = 0.0;
    for (i, entry) in entries.iter().enumerate() {
        let Entry::Random(random) = entry else {
            continue;
        };
        let window = random.until.since(random.at).as_micros() as f64;
        random_faults += window / random.mean_interval.as_micros() as f64;
        if random_faults > MAX_RANDOM_FAULTS {
            return Err(Invalid::new(
                format!("$.faults[{i}].random.mean_interval_ms"),
                format!(
                    "the random faults would start about {random_faults:.0} faults in all (each \
                     window over its mean_interval_ms); at most {MAX_RANDOM_FAULTS:.0}: raise \
                     mean_interval_ms or shorten the window"
                ),
            ));
        }
    }

    // Rank of each fixed fault in start order (stable: same instant keeps file order),
    // the order in which the simulator starts them.
    let mut order: Vec<(SimTime, usize)> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| match entry {
            Entry::Fixed { fault, .. } => Some((fault.at, i)),
            Entry::Random(_) => None,
        })
        .collect();
    order.sort_by_key(|&(at, _)| at);
    let mut rank = vec![0; entries.len()];
    for (r, &(_, i)) in order.iter().enumerate() {
        rank[i] = r;
    }

    let mut cluster = Cluster {
        initial: nodes,
        added: Vec::new(),
    };
    let mut removed: Vec<NodeId> = Vec::new();
    for &(at, i) in &order {
        let Entry::Fixed { fault, .. } = &entries[i] else {
            continue;
        };
        if let FaultAction::RemoveNode(node) = fault.action {
            let path = format!("$.faults[{i}].remove_node");
            if removed.contains(&node) {
                return Err(Invalid::new(path, format!("{node} is already removed")));
            }
            removed.push(node);
            if removed.len() as u32 >= cluster.total() {
                return Err(Invalid::new(
                    path,
                    "cannot remove the last node of the cluster",
                ));
            }
        }
        if let FaultAction::AddNode(node) = fault.action {
            let next = cluster.total();
            if u32::from(node.0) != next {
                let path = format!("$.faults[{i}].add_node");
                return Err(Invalid::new(
                    path,
                    format!(
                        "add_node must bring in the next node id, n{next} (got {node}); \
                         nodes are added in start order"
                    ),
                ));
            }
            cluster.added.push(Added {
                node: node.0,
                at,
                rank: rank[i],
                index: i,
            });
        }
    }

    // A release must end some hold: one of that link (or node) that started before it
    // (in start order) and has no until_ms or one after the release.
    for &(at, i) in &order {
        let Entry::Fixed { fault, .. } = &entries[i] else {
            continue;
        };
        let (wanted, what) = match fault.action {
            FaultAction::Release { from, to } => (
                FaultAction::Hold { from, to },
                format!("a hold of {from}->{to}"),
            ),
            FaultAction::ReleaseNode(n) => {
                (FaultAction::HoldNode(n), format!("a hold_node of {n}"))
            }
            _ => continue,
        };
        let releases = entries.iter().enumerate().any(|(j, other)| match other {
            Entry::Fixed { fault: hold, .. } => {
                hold.action == wanted
                    && rank[j] < rank[i]
                    && hold.until.is_none_or(|until| until > at)
            }
            Entry::Random(_) => false,
        });
        if !releases {
            return Err(Invalid::new(
                format!("$.faults[{i}].release"),
                format!("nothing to release: no earlier fault holds {what} at this time"),
            ));
        }
    }

    let mut specs = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        match entry {
            Entry::Fixed { fault, refs } => {
                for (node, path) in &refs {
                    check_exists(&cluster, *node, path, fault.at, rank[i])?;
                }
                specs.push(FaultSpec::Fixed(fault));
            }
            Entry::Random(random) => specs.push(FaultSpec::Random(random)),
        }
    }
    Ok((specs, cluster))
}

/// Checks that `node` exists when a fault of start rank `rank` starts at `at`.
fn check_exists(cluster: &Cluster, node: u16, path: &str, at: SimTime, rank: usize) -> Result<()> {
    if node < cluster.initial {
        return Ok(());
    }
    let Some(added) = cluster.added.iter().find(|a| a.node == node) else {
        return Err(unknown_node(&format!("n{node}"), path, &cluster.describe()));
    };
    if added.rank < rank {
        return Ok(());
    }
    let when = if added.at == at {
        format!(
            "$.faults[{}] adds it at the same time but later in the file",
            added.index
        )
    } else {
        format!(
            "it is added at {} ms by $.faults[{}]",
            added.at.as_ms(),
            added.index
        )
    };
    Err(Invalid::new(
        path,
        format!(
            "node n{node} does not exist yet at {} ms: {when}",
            at.as_ms()
        ),
    ))
}

/// Validates fault `i` on its own (node existence is checked later).
fn entry(
    raw: &RawFault,
    i: usize,
    nodes: u16,
    duration: SimTime,
    protocol: &ProtocolConfig,
) -> Result<Entry> {
    let path = format!("$.faults[{i}]");
    let at_path = join(&path, "at_ms");
    let until_path = join(&path, "until_ms");

    let present: Vec<(&str, Window)> = actions(raw)
        .into_iter()
        .filter(|&(_, present, _)| present)
        .map(|(name, _, window)| (name, window))
        .collect();
    let (action, window) = match present.as_slice() {
        [one] => *one,
        [] => {
            let all: Vec<&str> = actions(raw).iter().map(|&(name, _, _)| name).collect();
            return Err(Invalid::new(
                path,
                format!("a fault needs one action, one of: {}", all.join(", ")),
            ));
        }
        several => {
            let names: Vec<&str> = several.iter().map(|&(name, _)| name).collect();
            return Err(Invalid::new(
                path,
                format!(
                    "a fault has exactly one action, but this one has {}: {}",
                    names.len(),
                    names.join(", ")
                ),
            ));
        }
    };

    let at_ms = ms_value(raw.at_ms, &at_path)?;
    let at = SimTime::from_ms(at_ms);
    if at > duration {
        return Err(Invalid::new(
            at_path,
            format!(
                "at_ms ({at_ms}) is after the workload ends (duration_ms {})",
                duration.as_ms()
            ),
        ));
    }
    let until = match (raw.until_ms, window) {
        (Some(_), Window::None) => {
            return Err(Invalid::new(
                until_path,
                format!("{action} happens at an instant and takes no until_ms"),
            ));
        }
        (None, Window::Required) => {
            return Err(Invalid::new(
                path,
                format!("{action} is a window and needs until_ms"),
            ));
        }
        (None, _) => None,
        (Some(until_ms), _) => {
            let until_ms = ms_value(until_ms, &until_path)?;
            let until = SimTime::from_ms(until_ms);
            if until <= at {
                return Err(Invalid::new(
                    until_path,
                    format!("until_ms ({until_ms}) must be after at_ms ({at_ms})"),
                ));
            }
            if until > duration {
                return Err(Invalid::new(
                    until_path,
                    format!(
                        "until_ms ({until_ms}) is after the workload ends (duration_ms {})",
                        duration.as_ms()
                    ),
                ));
            }
            Some(until)
        }
    };

    let action_path = join(&path, action);
    let mut refs = Vec::new();
    // Parses a node name at `path`, remembering it for the existence check.
    let mut node = |name: &str, path: String| -> Result<NodeId> {
        match parse_node(name) {
            Some(id) => {
                refs.push((id, path));
                Ok(NodeId(id))
            }
            None => Err(unknown_node(
                name,
                &path,
                "node ids are n0, n1, ... as in `nodes` and add_node",
            )),
        }
    };
    let fault_action = if let Some(name) = &raw.crash {
        FaultAction::Crash(node(name, action_path)?)
    } else if let Some(name) = &raw.restart {
        FaultAction::Restart(node(name, action_path)?)
    } else if let Some(name) = &raw.upgrade {
        FaultAction::Upgrade(node(name, action_path)?)
    } else if let Some(name) = &raw.isolate {
        FaultAction::Isolate(node(name, action_path)?)
    } else if let Some(name) = &raw.add_node {
        if matches!(protocol, ProtocolConfig::SingleNode) {
            return Err(Invalid::new(
                action_path,
                "single-node runs exactly one node and cannot add nodes",
            ));
        }
        match parse_node(name) {
            Some(id) => FaultAction::AddNode(NodeId(id)),
            None => {
                return Err(Invalid::new(
                    action_path,
                    format!(
                        "add_node must bring in the next node id, n{nodes} or later (got `{name}`)"
                    ),
                ));
            }
        }
    } else if let Some(groups) = &raw.partition {
        if groups.len() < 2 {
            return Err(Invalid::new(
                action_path,
                format!("a partition needs at least 2 groups (got {})", groups.len()),
            ));
        }
        let mut seen = BTreeMap::new();
        let mut typed = Vec::with_capacity(groups.len());
        for (g, group) in groups.iter().enumerate() {
            let group_path = format!("{action_path}[{g}]");
            if group.is_empty() {
                return Err(Invalid::new(
                    group_path,
                    "a partition group may not be empty",
                ));
            }
            let mut members = Vec::with_capacity(group.len());
            for (k, name) in group.iter().enumerate() {
                let member_path = format!("{group_path}[{k}]");
                let id = node(name, member_path.clone())?;
                if let Some(first) = seen.insert(id, g) {
                    return Err(Invalid::new(
                        member_path,
                        format!(
                            "{id} is already in group {first}; a node can be in one group only"
                        ),
                    ));
                }
                members.push(id);
            }
            typed.push(members);
        }
        FaultAction::Partition(typed)
    } else if let Some((from, to)) = &raw.link_down {
        let from = node(from, format!("{action_path}[0]"))?;
        let to = node(to, format!("{action_path}[1]"))?;
        if from == to {
            return Err(Invalid::new(
                action_path,
                format!("link_down needs two different nodes (got {from} twice)"),
            ));
        }
        FaultAction::LinkDown { from, to }
    } else if let Some(lag) = &raw.lag {
        let extra = non_negative_ms(lag.extra_ms, &join(&action_path, "extra_ms"))?;
        FaultAction::Lag {
            node: node(&lag.node, join(&action_path, "node"))?,
            extra,
        }
    } else if let Some(skew) = &raw.clock_skew {
        let offset_ms = bounded(skew.offset_ms, &join(&action_path, "offset_ms"), " ms")?;
        FaultAction::ClockSkew {
            node: node(&skew.node, join(&action_path, "node"))?,
            // Rounds to the nearest microsecond, halves away from zero, like
            // `SimDuration::from_ms`; the bound keeps it far inside `i64`.
            offset_micros: (offset_ms * 1000.0).round() as i64,
        }
    } else if let Some(name) = &raw.remove_node {
        if matches!(protocol, ProtocolConfig::SingleNode) {
            return Err(Invalid::new(
                action_path,
                "single-node runs exactly one node and cannot remove it",
            ));
        }
        FaultAction::RemoveNode(node(name, action_path)?)
    } else if let Some(name) = &raw.pause {
        FaultAction::Pause(node(name, action_path)?)
    } else if let Some(name) = &raw.resume {
        FaultAction::Resume(node(name, action_path)?)
    } else if let Some(name) = &raw.hold_node {
        FaultAction::HoldNode(node(name, action_path)?)
    } else if let Some(release) = &raw.release {
        match release {
            RawRelease::Node(name) => FaultAction::ReleaseNode(node(name, action_path)?),
            RawRelease::Link((from, to)) => {
                let from = node(from, format!("{action_path}[0]"))?;
                let to = node(to, format!("{action_path}[1]"))?;
                if from == to {
                    return Err(Invalid::new(
                        action_path,
                        format!("release needs two different nodes (got {from} twice)"),
                    ));
                }
                FaultAction::Release { from, to }
            }
        }
    } else if let Some((from, to)) = &raw.hold {
        let from = node(from, format!("{action_path}[0]"))?;
        let to = node(to, format!("{action_path}[1]"))?;
        if from == to {
            return Err(Invalid::new(
                action_path,
                format!("hold needs two different nodes (got {from} twice)"),
            ));
        }
        FaultAction::Hold { from, to }
    } else if let Some(names) = &raw.swizzle {
        let mut ids: Vec<NodeId> = Vec::with_capacity(names.len());
        for (k, name) in names.iter().enumerate() {
            let id = node(name, format!("{action_path}[{k}]"))?;
            if ids.contains(&id) {
                return Err(Invalid::new(
                    format!("{action_path}[{k}]"),
                    format!("{id} is listed twice"),
                ));
            }
            ids.push(id);
        }
        if ids.len() < 2 {
            return Err(Invalid::new(action_path, "swizzle needs at least 2 nodes"));
        }
        FaultAction::Swizzle(ids)
    } else if let Some(reorder) = &raw.reorder {
        FaultAction::Reorder {
            extra_max: positive_ms(reorder.extra_ms, &join(&action_path, "extra_ms"))?,
        }
    } else if let Some(random) = &raw.random {
        if random.kinds.is_empty() {
            return Err(Invalid::new(
                join(&action_path, "kinds"),
                "kinds needs at least one fault kind",
            ));
        }
        return Ok(Entry::Random(RandomFaults {
            kinds: random.kinds.iter().map(|&k| random_kind(k)).collect(),
            mean_interval: positive_ms(
                random.mean_interval_ms,
                &join(&action_path, "mean_interval_ms"),
            )?,
            max_fault: positive_ms(random.max_fault_ms, &join(&action_path, "max_fault_ms"))?,
            at,
            until: until.expect("random is a window"),
            swarm: random.swarm,
        }));
    } else {
        unreachable!("exactly one action is present");
    };
    Ok(Entry::Fixed {
        fault: Fault {
            at,
            until,
            action: fault_action,
        },
        refs,
    })
}

fn random_kind(kind: RawRandomKind) -> RandomKind {
    match kind {
        RawRandomKind::Crash => RandomKind::Crash,
        RawRandomKind::Partition => RandomKind::Partition,
        RawRandomKind::Isolate => RandomKind::Isolate,
        RawRandomKind::LinkDown => RandomKind::LinkDown,
        RawRandomKind::Lag => RandomKind::Lag,
        RawRandomKind::ClockSkew => RandomKind::ClockSkew,
        RawRandomKind::Pause => RandomKind::Pause,
        RawRandomKind::Hold => RandomKind::Hold,
        RawRandomKind::Reorder => RandomKind::Reorder,
    }
}

// ----- expect --------------------------------------------------------------------------

fn expect(raw: &RawExpect) -> Result<Vec<Expectation>> {
    let mut expectations = Vec::new();
    for (kind, bound) in raw.entries() {
        let Some(bound) = bound else { continue };
        let path = format!("$.expect.{kind}");
        match (bound.min, bound.max) {
            (None, None) => {
                return Err(Invalid::new(path, "give min, max or both"));
            }
            (Some(min), Some(max)) if min > max => {
                return Err(Invalid::new(path, format!("min ({min}) > max ({max})")));
            }
            _ => {}
        }
        expectations.push(Expectation {
            kind: kind.to_owned(),
            min: bound.min,
            max: bound.max,
        });
    }
    Ok(expectations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_canonical() {
        assert_eq!(parse_node("n0"), Some(0));
        assert_eq!(parse_node("n12"), Some(12));
        for bad in [
            "", "n", "0", "n01", "n-1", "n+1", "N1", "n1 ", "n65536", "node1",
        ] {
            assert_eq!(parse_node(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn milliseconds_round_to_microseconds_and_refuse_nonsense() {
        assert_eq!(positive_ms(1.5, "$.x").unwrap().as_micros(), 1500);
        assert_eq!(non_negative_ms(0.0004, "$.x").unwrap().as_micros(), 0);
        assert_eq!(
            positive_ms(0.0004, "$.x").unwrap_err().message,
            "x must be at least 0.001 ms, one simulated microsecond (got 0.0004)"
        );
        assert_eq!(
            positive_ms(0.0, "$.a.x").unwrap_err().message,
            "x must be greater than 0 (got 0)"
        );
        assert_eq!(
            non_negative_ms(-1.0, "$.x").unwrap_err().message,
            "x must not be negative (got -1)"
        );
        assert_eq!(
            non_negative_ms(2e12, "$.x").unwrap_err().message,
            "x is too large (got 2000000000000; at most 1000000000000 ms)"
        );
        assert_eq!(
            non_negative_ms(f64::NAN, "$.x").unwrap_err().message,
            "x must be a finite number"
        );
    }

    #[test]
    fn names_that_are_not_directory_names_are_refused() {
        assert!(name("ok-name_1".into()).is_ok());
        for bad in ["", "a/b", "a\\b", "..", "a..b", ".", "tab\there"] {
            assert!(name(bad.into()).is_err(), "{bad:?}");
        }
        assert!(name("x".repeat(201)).is_err());
    }

    #[test]
    fn quorum_defaults_are_a_majority() {
        assert_eq!(LeaderlessConfig::majority(1), 1);
        assert_eq!(LeaderlessConfig::majority(3), 2);
        assert_eq!(LeaderlessConfig::majority(4), 3);
        assert_eq!(LeaderlessConfig::majority(5), 3);
    }

    #[test]
    fn random_faults_are_bounded_in_number() {
        let random = |mean_ms: f64, until_ms: f64| RawFault {
            at_ms: 0.0,
            until_ms: Some(until_ms),
            crash: None,
            restart: None,
            partition: None,
            isolate: None,
            link_down: None,
            lag: None,
            clock_skew: None,
            upgrade: None,
            add_node: None,
            random: Some(super::super::raw::RawRandom {
                kinds: vec![RawRandomKind::Crash],
                mean_interval_ms: mean_ms,
                max_fault_ms: 1.0,
                swarm: false,
            }),
            remove_node: None,
            pause: None,
            resume: None,
            hold: None,
            hold_node: None,
            release: None,
            swizzle: None,
            reorder: None,
        };
        let duration = SimTime::from_ms(1e12);
        let protocol = ProtocolConfig::SingleNode;
        // 10^15 expected faults: refused, instead of a run that never starts.
        let err = faults(&[random(0.001, 1e12)], 1, duration, &protocol)
            .err()
            .expect("refused");
        assert_eq!(err.path, "$.faults[0].random.mean_interval_ms");
        assert!(err.message.contains("at most 1000000"), "{}", err.message);
        // The bound is on all random entries together.
        let half = random(1.0, 6e5);
        assert!(faults(&[random(1.0, 6e5)], 1, duration, &protocol).is_ok());
        let err = faults(&[half, random(1.0, 6e5)], 1, duration, &protocol)
            .err()
            .expect("refused");
        assert_eq!(err.path, "$.faults[1].random.mean_interval_ms");
    }

    #[test]
    fn node_ranges_read_naturally() {
        assert_eq!(node_range(0, 1), "n0");
        assert_eq!(node_range(0, 3), "n0..n2");
        assert_eq!(node_range(3, 1), "n3");
    }
}
