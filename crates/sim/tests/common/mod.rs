//! A small test protocol for the simulator's own tests: every node accepts reads and
//! writes, applies writes locally with a last-writer-wins stamp, persists them, and
//! broadcasts them to its peers; every node also sends a background heartbeat to each
//! peer every 10 ms. A shared probe records what the simulator hands the nodes.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use repsim_sim::{
    ClientView, Context, KeyId, Node, NodeId, Op, Protocol, Reply, Request, SimDuration, SimRng,
    SimTime, Start, ValueId,
};

/// What the nodes saw, for assertions.
#[derive(Default, Debug)]
pub struct Probe {
    /// (node, start kind, number of durable records handed over).
    pub starts: Vec<(NodeId, Start, usize)>,
    /// (node, local time) at every heartbeat timer.
    pub ticks: Vec<(NodeId, SimTime)>,
    /// (from, to) of every heartbeat delivered.
    pub heartbeats: Vec<(NodeId, NodeId)>,
    /// (node, heartbeats it has heard since it started): volatile state, never persisted.
    pub heard: Vec<(NodeId, u64)>,
}

/// A write with its last-writer-wins stamp (local time, node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamped {
    pub stamp: (u64, u16),
    pub value: ValueId,
}

#[derive(Clone, Debug)]
pub enum Msg {
    Update { key: KeyId, write: Stamped },
    Heartbeat,
}

pub struct Gossip {
    keys: u32,
    data: BTreeMap<KeyId, Stamped>,
    /// Records handed over by `create`.
    restored: usize,
    /// Heartbeats heard since this incarnation started (volatile).
    heard: u64,
    probe: Rc<RefCell<Probe>>,
}

pub const HEARTBEAT: SimDuration = SimDuration::from_millis(10);

impl Gossip {
    fn apply(&mut self, ctx: &mut Context<'_, Gossip>, key: KeyId, write: Stamped) -> bool {
        if self.data.get(&key).is_some_and(|old| *old >= write) {
            return false;
        }
        self.data.insert(key, write);
        ctx.persist((key, write));
        true
    }
}

impl Node for Gossip {
    type Msg = Msg;
    type Timer = ();
    type Record = (KeyId, Stamped);
    type Token = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>, start: Start) {
        self.probe
            .borrow_mut()
            .starts
            .push((ctx.id(), start, self.restored));
        ctx.set_timer(HEARTBEAT, ());
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Update { key, write } => {
                self.apply(ctx, key, write);
            }
            Msg::Heartbeat => {
                self.heard += 1;
                let mut probe = self.probe.borrow_mut();
                probe.heartbeats.push((from, ctx.id()));
                probe.heard.push((ctx.id(), self.heard));
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _timer: ()) {
        self.probe.borrow_mut().ticks.push((ctx.id(), ctx.now()));
        ctx.broadcast(Msg::Heartbeat);
        ctx.set_timer(HEARTBEAT, ());
    }

    fn on_request(&mut self, ctx: &mut Context<'_, Self>, request: Request<()>) {
        match request.op {
            Op::Read { key } => {
                let values = self.data.get(&key).map(|w| w.value).into_iter().collect();
                ctx.reply(request.id, Reply::Read(values));
            }
            Op::Write { key, value, .. } => {
                let write = Stamped {
                    stamp: (ctx.now().as_micros(), ctx.id().0),
                    value,
                };
                self.apply(ctx, key, write);
                ctx.broadcast(Msg::Update { key, write });
                ctx.reply(request.id, Reply::Written(value));
            }
            // The test protocol offers registers only.
            Op::Increment { .. } | Op::Add { .. } | Op::Remove { .. } => {
                ctx.reply(request.id, Reply::Fail);
            }
        }
    }

    fn final_state(&self) -> Vec<(KeyId, Vec<ValueId>)> {
        (0..self.keys)
            .map(|k| {
                let key = KeyId(k);
                (
                    key,
                    self.data.get(&key).map(|w| w.value).into_iter().collect(),
                )
            })
            .collect()
    }

    fn is_background(msg: &Msg) -> bool {
        matches!(msg, Msg::Heartbeat)
    }
}

pub struct GossipProtocol {
    pub keys: u32,
    pub probe: Rc<RefCell<Probe>>,
}

impl GossipProtocol {
    pub fn new(keys: u32) -> (GossipProtocol, Rc<RefCell<Probe>>) {
        let probe = Rc::new(RefCell::new(Probe::default()));
        (
            GossipProtocol {
                keys,
                probe: probe.clone(),
            },
            probe,
        )
    }
}

impl Protocol for GossipProtocol {
    type Node = Gossip;

    fn create(&self, _id: NodeId, storage: &[(KeyId, Stamped)]) -> Gossip {
        let mut data = BTreeMap::new();
        for &(key, write) in storage {
            let entry = data.entry(key).or_insert(write);
            if *entry < write {
                *entry = write;
            }
        }
        Gossip {
            keys: self.keys,
            data,
            restored: storage.len(),
            heard: 0,
            probe: self.probe.clone(),
        }
    }

    fn route(&self, client: &ClientView<'_, ()>, _op: &Op, rng: &mut SimRng) -> NodeId {
        match client.reads_from {
            "leader" => client.members[0],
            "sticky" => client.sticky_node(),
            _ => *rng.pick(client.members),
        }
    }
}
