//! Faults as data (SPEC §2 "Faults"): a concrete schedule of actions at instants, and the
//! `random` nemesis that expands, before the run starts, into such a schedule.
//!
//! Expanding first means the schedule a run used can be printed, compared and shrunk.
//! The nemesis draws only from its own stream (`faults`), so changing it never changes a
//! client's choices or the network's delays.

use repsim_history::NodeId;

use crate::latency::Latency;
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};

/// What a fault does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// The node stops and loses everything it had not persisted.
    Crash(NodeId),
    /// A crashed node starts again from its durable records.
    Restart(NodeId),
    /// Nodes in different groups cannot exchange messages; nodes in no group are not
    /// affected.
    Partition(Vec<Vec<NodeId>>),
    /// The node is cut from every other node (both directions).
    Isolate(NodeId),
    /// One direction of one link drops everything.
    LinkDown {
        /// Sender side.
        from: NodeId,
        /// Receiver side.
        to: NodeId,
    },
    /// Every message to or from the node takes `extra` longer.
    Lag {
        /// The slow node.
        node: NodeId,
        /// Added one-way delay.
        extra: SimDuration,
    },
    /// The node's local clock runs `offset_micros` ahead (negative: behind) of true time.
    ClockSkew {
        /// The node.
        node: NodeId,
        /// Offset in microseconds.
        offset_micros: i64,
    },
    /// The node restarts on the next storage-format version.
    Upgrade(NodeId),
    /// A new node joins and is set up by the protocol (snapshot plus catch-up).
    AddNode(NodeId),
    /// The node leaves the cluster for good: it stops, and no longer appears among the
    /// members the other nodes and the clients see.
    RemoveNode(NodeId),
    /// The node stops handling anything but keeps its state: its timers, incoming
    /// messages and client requests wait until it resumes (unlike a crash, which loses
    /// them and the node's volatile state).
    Pause(NodeId),
    /// A paused node goes on; everything that waited is handled now, in order.
    Resume(NodeId),
    /// Messages on one direction of one link are held (a clogged link) and delivered,
    /// late and in random order, when the hold ends.
    Hold {
        /// Sender side.
        from: NodeId,
        /// Receiver side.
        to: NodeId,
    },
    /// Messages to and from the node are held, and delivered when the hold ends.
    HoldNode(NodeId),
    /// Ends every active [`FaultAction::Hold`] of this link: its messages are delivered
    /// now, late and in a new order.
    Release {
        /// Sender side.
        from: NodeId,
        /// Receiver side.
        to: NodeId,
    },
    /// Ends every active [`FaultAction::HoldNode`] of this node.
    ReleaseNode(NodeId),
    /// Swizzle-clog: the links among these nodes (both directions) are held one by one
    /// over the first half of the window, then released in reverse order.
    Swizzle(Vec<NodeId>),
    /// Every node-to-node message gets an extra delay drawn uniformly from
    /// `0..=extra_max`, so messages overtake each other far more than usual.
    Reorder {
        /// Largest extra delay.
        extra_max: SimDuration,
    },
}

impl FaultAction {
    /// The directed links a swizzle clogs, in clogging order.
    pub fn swizzle_links(nodes: &[NodeId]) -> Vec<(NodeId, NodeId)> {
        let mut links = Vec::new();
        for &a in nodes {
            for &b in nodes {
                if a != b {
                    links.push((a, b));
                }
            }
        }
        links
    }

    /// A short description for traces and summaries.
    pub fn describe(&self) -> String {
        match self {
            FaultAction::Crash(n) => format!("crash {n}"),
            FaultAction::Restart(n) => format!("restart {n}"),
            FaultAction::Partition(groups) => {
                let groups: Vec<String> = groups
                    .iter()
                    .map(|g| {
                        g.iter()
                            .map(NodeId::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .collect();
                format!("partition {}", groups.join(" | "))
            }
            FaultAction::Isolate(n) => format!("isolate {n}"),
            FaultAction::LinkDown { from, to } => format!("link_down {from}->{to}"),
            FaultAction::Lag { node, extra } => format!("lag {node} +{extra}"),
            FaultAction::ClockSkew {
                node,
                offset_micros,
            } => {
                format!("clock_skew {node} {:+}ms", *offset_micros as f64 / 1000.0)
            }
            FaultAction::Upgrade(n) => format!("upgrade {n}"),
            FaultAction::AddNode(n) => format!("add_node {n}"),
            FaultAction::RemoveNode(n) => format!("remove_node {n}"),
            FaultAction::Pause(n) => format!("pause {n}"),
            FaultAction::Resume(n) => format!("resume {n}"),
            FaultAction::Hold { from, to } => format!("hold {from}->{to}"),
            FaultAction::HoldNode(n) => format!("hold {n}"),
            FaultAction::Release { from, to } => format!("release {from}->{to}"),
            FaultAction::ReleaseNode(n) => format!("release {n}"),
            FaultAction::Reorder { extra_max } => format!("reorder +0..{extra_max}"),
            FaultAction::Swizzle(nodes) => format!(
                "swizzle {}",
                nodes
                    .iter()
                    .map(NodeId::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }
}

/// A scheduled fault: an action at `at`, undone at `until` for windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// When it starts.
    pub at: SimTime,
    /// When a window fault (partition, isolate, link_down, lag, clock_skew) ends. Every
    /// fault still active when the workload ends is healed then.
    pub until: Option<SimTime>,
    /// What it does.
    pub action: FaultAction,
}

/// Fault kinds the random nemesis can draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RandomKind {
    /// Crash a node that is up, restart it later.
    Crash,
    /// Split the nodes into two non-empty groups.
    Partition,
    /// Cut one node from the others.
    Isolate,
    /// Cut one direction of one link.
    LinkDown,
    /// Slow one node down by `max_fault/10 ..= max_fault/2` per message.
    Lag,
    /// Skew one node's clock by up to `±max_fault`.
    ClockSkew,
    /// Pause a node (it resumes when the fault ends).
    Pause,
    /// Hold every message to and from a node, then release them late and out of order.
    Hold,
    /// Reorder every message by up to `max_fault/10` of extra delay.
    Reorder,
}

impl RandomKind {
    /// Every kind, with its scenario-file name.
    pub const ALL: [(RandomKind, &'static str); 9] = [
        (RandomKind::Crash, "crash"),
        (RandomKind::Partition, "partition"),
        (RandomKind::Isolate, "isolate"),
        (RandomKind::LinkDown, "link_down"),
        (RandomKind::Lag, "lag"),
        (RandomKind::ClockSkew, "clock_skew"),
        (RandomKind::Pause, "pause"),
        (RandomKind::Hold, "hold"),
        (RandomKind::Reorder, "reorder"),
    ];

    /// The kind named `name` in a scenario file.
    pub fn from_name(name: &str) -> Option<RandomKind> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }
}

/// The `random` nemesis (SPEC §2): faults at exponentially distributed intervals between
/// `at` and `until`, each lasting between a quarter of `max_fault` (at least 1 ms, so
/// faults cannot flap on every event) and `max_fault`, never past `until`.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomFaults {
    /// Kinds to draw from (uniformly).
    pub kinds: Vec<RandomKind>,
    /// Mean time between fault starts.
    pub mean_interval: SimDuration,
    /// Longest a fault lasts.
    pub max_fault: SimDuration,
    /// When the nemesis starts.
    pub at: SimTime,
    /// When it stops (every fault it started has ended by then).
    pub until: SimTime,
    /// Swarm mode: draw from the seed which of `kinds` this run uses (each with
    /// probability 1/2, at least one) and how often each fires (its share of the fault
    /// starts weighted by a factor drawn from 1/4 to 4), so that a sweep explores many
    /// fault mixes instead of one.
    pub swarm: bool,
}

impl RandomFaults {
    /// Expands into a concrete schedule over nodes `n0..n{nodes-1}`, deterministically
    /// from `rng` (the run's `faults` stream).
    pub fn expand(&self, nodes: u16, rng: &mut SimRng) -> Vec<Fault> {
        let mut faults = Vec::new();
        if self.kinds.is_empty() || nodes == 0 {
            return faults;
        }
        // Swarm mode: this run's own mix of kinds and weights, drawn first.
        let (kinds, weights): (Vec<RandomKind>, Vec<u64>) = if self.swarm {
            let mut chosen: Vec<(RandomKind, u64)> = Vec::new();
            for &kind in &self.kinds {
                // Drawn for every kind in order, kept or not, so one kind's fate does not
                // shift another's.
                let keep = rng.below(2) == 0;
                let weight = rng.between(1, 16);
                if keep {
                    chosen.push((kind, weight));
                }
            }
            if chosen.is_empty() {
                chosen.push((*rng.pick(&self.kinds), 4));
            }
            chosen.into_iter().unzip()
        } else {
            (self.kinds.clone(), vec![1; self.kinds.len()])
        };
        let total_weight: u64 = weights.iter().sum();
        let gap = Latency::Exponential {
            mean_micros: self.mean_interval.as_micros() as f64,
        };
        let shortest = (self.max_fault.as_micros() / 4)
            .max(1000)
            .min(self.max_fault.as_micros());
        // When each node's current crash ends; a node is not crashed twice at once.
        let mut down_until = vec![SimTime::ZERO; usize::from(nodes)];
        let mut t = self.at;
        loop {
            t += gap.sample(rng);
            if t >= self.until {
                break;
            }
            let kind = {
                let mut draw = rng.below(total_weight);
                let mut chosen = kinds[0];
                for (&k, &w) in kinds.iter().zip(&weights) {
                    if draw < w {
                        chosen = k;
                        break;
                    }
                    draw -= w;
                }
                chosen
            };
            let length =
                SimDuration::from_micros(rng.between(shortest, self.max_fault.as_micros()));
            let end = (t + length).min(self.until);
            let node = NodeId(rng.below(u64::from(nodes)) as u16);
            let window = |action| Fault {
                at: t,
                until: Some(end),
                action,
            };
            match kind {
                RandomKind::Crash => {
                    if down_until[node.index()] > t {
                        continue;
                    }
                    down_until[node.index()] = end;
                    faults.push(Fault {
                        at: t,
                        until: None,
                        action: FaultAction::Crash(node),
                    });
                    faults.push(Fault {
                        at: end,
                        until: None,
                        action: FaultAction::Restart(node),
                    });
                }
                RandomKind::Partition => {
                    if nodes < 2 {
                        continue;
                    }
                    // A random non-empty proper subset against the rest.
                    let mask = 1 + rng.below((1u64 << nodes.min(63)) - 2);
                    let (mut left, mut right) = (Vec::new(), Vec::new());
                    for n in 0..nodes {
                        if n < 63 && mask >> n & 1 == 1 {
                            left.push(NodeId(n));
                        } else {
                            right.push(NodeId(n));
                        }
                    }
                    faults.push(window(FaultAction::Partition(vec![left, right])));
                }
                RandomKind::Isolate => faults.push(window(FaultAction::Isolate(node))),
                RandomKind::LinkDown => {
                    if nodes < 2 {
                        continue;
                    }
                    let other = (node.0 + 1 + rng.below(u64::from(nodes) - 1) as u16) % nodes;
                    faults.push(window(FaultAction::LinkDown {
                        from: node,
                        to: NodeId(other),
                    }));
                }
                RandomKind::Lag => {
                    let max = self.max_fault.as_micros();
                    let extra = SimDuration::from_micros(rng.between(max / 10, max / 2));
                    faults.push(window(FaultAction::Lag { node, extra }));
                }
                RandomKind::ClockSkew => {
                    let max = self.max_fault.as_micros();
                    let offset_micros = rng.between(0, 2 * max) as i64 - max as i64;
                    faults.push(window(FaultAction::ClockSkew {
                        node,
                        offset_micros,
                    }));
                }
                RandomKind::Pause => {
                    if down_until[node.index()] > t {
                        continue;
                    }
                    down_until[node.index()] = end;
                    faults.push(window(FaultAction::Pause(node)));
                }
                RandomKind::Hold => faults.push(window(FaultAction::HoldNode(node))),
                RandomKind::Reorder => {
                    let extra_max =
                        SimDuration::from_micros((self.max_fault.as_micros() / 10).max(1));
                    faults.push(window(FaultAction::Reorder { extra_max }));
                }
            }
        }
        faults.sort_by_key(|f| f.at);
        faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nemesis() -> RandomFaults {
        RandomFaults {
            kinds: vec![RandomKind::Crash, RandomKind::Partition, RandomKind::Lag],
            mean_interval: SimDuration::from_millis(500),
            max_fault: SimDuration::from_millis(400),
            at: SimTime::ZERO,
            until: SimTime::from_micros(20_000_000),
            swarm: false,
        }
    }

    #[test]
    fn expansion_is_deterministic_and_seed_dependent() {
        let a = nemesis().expand(5, &mut SimRng::stream(1, "faults"));
        let b = nemesis().expand(5, &mut SimRng::stream(1, "faults"));
        let c = nemesis().expand(5, &mut SimRng::stream(2, "faults"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        // About 20 s / 0.5 s = 40 faults start (a few crashes skipped); restarts are not
        // counted as starts.
        let starts = a
            .iter()
            .filter(|f| !matches!(f.action, FaultAction::Restart(_)))
            .count();
        assert!((25..55).contains(&starts), "{starts}");
    }

    #[test]
    fn faults_stay_inside_the_window_and_last_long_enough() {
        let n = nemesis();
        let faults = n.expand(3, &mut SimRng::stream(5, "faults"));
        for f in &faults {
            assert!(f.at > n.at && f.at <= n.until, "{f:?}");
            if let Some(until) = f.until {
                assert!(until <= n.until);
                let length = until - f.at;
                assert!(length <= n.max_fault);
                assert!(
                    until == n.until || length >= SimDuration::from_millis(100),
                    "{f:?}"
                );
            }
            if let FaultAction::Partition(groups) = &f.action {
                assert!(groups.iter().all(|g| !g.is_empty()), "{f:?}");
                assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 3);
            }
        }
    }

    #[test]
    fn swarm_mode_draws_a_different_mix_per_seed() {
        let every: Vec<RandomKind> = RandomKind::ALL.iter().map(|(k, _)| *k).collect();
        let n = RandomFaults {
            kinds: every.clone(),
            swarm: true,
            ..nemesis()
        };
        let kinds_of = |seed| {
            let faults = n.expand(5, &mut SimRng::stream(seed, "faults"));
            let mut kinds: Vec<String> = faults
                .iter()
                .map(|f| f.action.describe().split(' ').next().unwrap().to_owned())
                .collect();
            kinds.sort();
            kinds.dedup();
            kinds
        };
        let mixes: std::collections::BTreeSet<Vec<String>> = (0..20).map(kinds_of).collect();
        assert!(mixes.len() >= 10, "only {} distinct mixes", mixes.len());
        // Without swarm every kind shows up in a long enough run.
        let plain = RandomFaults {
            kinds: every,
            ..nemesis()
        };
        let faults = plain.expand(5, &mut SimRng::stream(1, "faults"));
        for prefix in [
            "crash",
            "partition",
            "isolate",
            "link_down",
            "lag",
            "clock_skew",
            "pause",
            "hold",
            "reorder",
        ] {
            assert!(
                faults
                    .iter()
                    .any(|f| f.action.describe().starts_with(prefix)),
                "{prefix}"
            );
        }
    }

    #[test]
    fn a_node_is_never_crashed_twice_at_once() {
        let n = RandomFaults {
            kinds: vec![RandomKind::Crash],
            ..nemesis()
        };
        let faults = n.expand(2, &mut SimRng::stream(11, "faults"));
        let mut down = [false; 2];
        let mut events: Vec<(SimTime, bool, usize)> = faults
            .iter()
            .map(|f| match f.action {
                FaultAction::Crash(node) => (f.at, true, node.index()),
                FaultAction::Restart(node) => (f.at, false, node.index()),
                _ => unreachable!(),
            })
            .collect();
        // Restarts before crashes at the same instant.
        events.sort_by_key(|&(t, crash, _)| (t, crash));
        for (_, crash, node) in events {
            assert_ne!(down[node], crash, "double crash or restart of n{node}");
            down[node] = crash;
        }
    }
}
