//! PLACEHOLDER: `leaderless` is being implemented. Until then every node stores writes
//! locally and answers reads from its own data, with no replication.
#![warn(missing_docs)]

pub mod config;

use std::collections::BTreeMap;
use std::convert::Infallible;

use repsim_sim::{
    ClientView, Context, KeyId, Node, NodeId, Op, Protocol, Reply, Request, SimRng, Start, ValueId,
};

pub use config::Config;

/// The protocol.
#[derive(Clone, Debug)]
pub struct Leaderless {
    /// The configuration.
    pub config: Config,
}

/// One replica.
#[derive(Debug)]
pub struct Replica {
    keys: u32,
    data: BTreeMap<KeyId, ValueId>,
}

impl Node for Replica {
    type Msg = Infallible;
    type Timer = Infallible;
    type Record = (KeyId, ValueId);
    type Token = ();

    fn on_start(&mut self, _ctx: &mut Context<'_, Self>, _start: Start) {}
    fn on_message(&mut self, _ctx: &mut Context<'_, Self>, _from: NodeId, msg: Infallible) {
        match msg {}
    }
    fn on_timer(&mut self, _ctx: &mut Context<'_, Self>, timer: Infallible) {
        match timer {}
    }
    fn on_request(&mut self, ctx: &mut Context<'_, Self>, request: Request<()>) {
        match request.op {
            Op::Read { key } => ctx.reply(
                request.id,
                Reply::Read(self.data.get(&key).copied().into_iter().collect()),
            ),
            Op::Write { key, value, .. } => {
                self.data.insert(key, value);
                ctx.persist((key, value));
                ctx.reply(request.id, Reply::Written(value));
            }
        }
    }
    fn final_state(&self) -> Vec<(KeyId, Vec<ValueId>)> {
        (0..self.keys)
            .map(|k| {
                (
                    KeyId(k),
                    self.data.get(&KeyId(k)).copied().into_iter().collect(),
                )
            })
            .collect()
    }
}

impl Protocol for Leaderless {
    type Node = Replica;
    fn create(&self, _id: NodeId, storage: &[(KeyId, ValueId)]) -> Replica {
        Replica {
            keys: self.config.keys,
            data: storage.iter().copied().collect(),
        }
    }
    fn route(&self, client: &ClientView<'_, ()>, _op: &Op, rng: &mut SimRng) -> NodeId {
        *rng.pick(client.members)
    }
}
