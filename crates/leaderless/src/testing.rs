//! Helpers for the handler unit tests: configurations, booted nodes, requests, and a
//! small lossless "network" that delivers the messages a set of nodes sends each other.

use std::sync::Arc;

use repsim_sim::testing::TestContext;
use repsim_sim::{
    Effect, KeyId, Node, NodeId, Op, ProcessId, Reply, Request, RequestId, SimDuration, SimTime,
    Start, ValueId,
};

use crate::config::{Config, Versions};
use crate::msg::{Msg, Record, Token};
use crate::replica::Replica;

/// A configuration with a 100 ms client timeout (replica timeout 25 ms, deadline 85 ms,
/// tick 2.5 ms), read repair on, everything else off.
pub(crate) fn config(n: u16, w: u16, r: u16) -> Config {
    Config {
        n,
        w,
        r,
        read_repair: true,
        anti_entropy: None,
        sloppy_quorum: false,
        hinted_handoff: false,
        versions: Versions::Lww,
        keys: 8,
        reads_from: "any".to_owned(),
        client_timeout: SimDuration::from_millis(100),
        planted_bug: None,
        crdt: false,
        workload: repsim_sim::Workload::Register,
    }
}

/// [`config`] with `conflict: "crdt"` and the counter (`set: false`) or set workload.
pub(crate) fn crdt_config(n: u16, w: u16, r: u16, set: bool) -> Config {
    Config {
        crdt: true,
        workload: if set {
            repsim_sim::Workload::Set { elements: 4 }
        } else {
            repsim_sim::Workload::Counter
        },
        ..config(n, w, r)
    }
}

/// Node `id` of a cluster of `size`, booted; its boot effects are discarded.
pub(crate) fn booted(config: &Config, id: u16, size: u16) -> (Replica, TestContext<Replica>) {
    let mut node = Replica::recover(Arc::new(config.clone()), NodeId(id), &[]);
    let mut test = TestContext::<Replica>::new(NodeId(id), size);
    node.on_start(&mut test.ctx(), Start::Boot);
    test.take_effects();
    (node, test)
}

/// A client request.
pub(crate) fn request(invoke: u32, op: Op, token: Token) -> Request<Token> {
    Request {
        id: RequestId {
            process: ProcessId(0),
            invoke,
        },
        op,
        token,
    }
}

/// A write of `w<value>` to `k<key>`.
pub(crate) fn write(key: u32, value: u32) -> Op {
    Op::Write {
        key: KeyId(key),
        value: ValueId::generated(value),
        nondeterministic: false,
    }
}

/// An increment of `k<key>` by `amount`.
pub(crate) fn increment(key: u32, amount: u32) -> Op {
    Op::Increment {
        key: KeyId(key),
        amount,
    }
}

/// An add of element `w<element>` to the set `k<key>`.
pub(crate) fn add(key: u32, element: u32) -> Op {
    Op::Add {
        key: KeyId(key),
        element: ValueId::generated(element),
    }
}

/// A remove of element `w<element>` from the set `k<key>`.
pub(crate) fn remove(key: u32, element: u32) -> Op {
    Op::Remove {
        key: KeyId(key),
        element: ValueId::generated(element),
    }
}

/// A read of `k<key>`.
pub(crate) fn read(key: u32) -> Op {
    Op::Read { key: KeyId(key) }
}

/// The messages among `effects`, with their targets.
pub(crate) fn sends(effects: &[Effect<Replica>]) -> Vec<(NodeId, Msg)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

/// The client replies among `effects`.
pub(crate) fn replies(effects: &[Effect<Replica>]) -> Vec<Reply> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Reply { reply, .. } => Some(reply.clone()),
            _ => None,
        })
        .collect()
}

/// The records persisted among `effects` (checkpoints included, whole).
pub(crate) fn persisted(effects: &[Effect<Replica>]) -> Vec<Record> {
    effects
        .iter()
        .flat_map(|e| match e {
            Effect::Persist(r) => vec![r.clone()],
            Effect::Checkpoint(all) => all.clone(),
            _ => Vec::new(),
        })
        .collect()
}

/// How many times `event` was counted among `effects`.
pub(crate) fn counted(effects: &[Effect<Replica>], event: &str) -> u64 {
    effects
        .iter()
        .map(|e| match e {
            Effect::Count(name, n) if *name == event => *n,
            _ => 0,
        })
        .sum()
}

/// Booted nodes that exchange messages without loss, in send order.
pub(crate) struct Cluster {
    pub(crate) nodes: Vec<(Replica, TestContext<Replica>)>,
    /// Messages sent and not delivered yet: (from, to, msg).
    pub(crate) queue: Vec<(NodeId, NodeId, Msg)>,
    /// Effects other than sends, per node, since the last `take`.
    pub(crate) effects: Vec<Vec<Effect<Replica>>>,
}

impl Cluster {
    pub(crate) fn new(config: &Config, size: u16) -> Cluster {
        Cluster {
            nodes: (0..size).map(|i| booted(config, i, size)).collect(),
            queue: Vec::new(),
            effects: (0..size).map(|_| Vec::new()).collect(),
        }
    }

    /// Runs `f` as a handler of node `id`, queueing what it sends.
    pub(crate) fn on(&mut self, id: u16, f: impl FnOnce(&mut Replica, &mut TestContext<Replica>)) {
        let (node, test) = &mut self.nodes[usize::from(id)];
        f(node, test);
        for effect in test.take_effects() {
            match effect {
                Effect::Send { to, msg } => self.queue.push((NodeId(id), to, msg)),
                other => self.effects[usize::from(id)].push(other),
            }
        }
    }

    /// Delivers queued messages (and the ones they cause) until none is left, dropping
    /// those `keep` refuses.
    pub(crate) fn deliver_all(&mut self, keep: impl Fn(NodeId, NodeId, &Msg) -> bool) {
        let mut steps = 0;
        while !self.queue.is_empty() {
            let (from, to, msg) = self.queue.remove(0);
            if keep(from, to, &msg) {
                self.on(to.0, |node, test| {
                    node.on_message(&mut test.ctx(), from, msg)
                });
            }
            steps += 1;
            assert!(steps < 10_000, "messages never stop");
        }
    }

    /// Sets every node's clock.
    pub(crate) fn set_now(&mut self, now: SimTime) {
        for (_, test) in &mut self.nodes {
            test.now = now;
        }
    }

    /// Node `id`'s counter total for `key` (counter workload).
    pub(crate) fn total(&self, id: u16, key: u32) -> i64 {
        self.nodes[usize::from(id)]
            .0
            .final_counters()
            .into_iter()
            .find(|(k, _)| *k == KeyId(key))
            .map_or(0, |(_, total)| total)
    }

    /// Node `id`'s values for `key`.
    pub(crate) fn values(&self, id: u16, key: u32) -> Vec<ValueId> {
        self.nodes[usize::from(id)]
            .0
            .final_state()
            .into_iter()
            .find(|(k, _)| *k == KeyId(key))
            .map(|(_, v)| v)
            .unwrap_or_default()
    }
}
