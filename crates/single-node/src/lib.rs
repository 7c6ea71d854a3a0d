//! `single-node`: one replica, no replication. The control protocol.
//!
//! The algorithm: the only node, `n0`, executes every read and write in the order they
//! arrive. A write is made durable (persisted) before it is acknowledged, so a crash
//! loses nothing that was acknowledged; every 4,096 writes the node checkpoints its whole
//! key → value map, so its durable log stays short.
//!
//! Guarantees: linearizable reads and writes while the node is up; no operation succeeds
//! while it is down (clients get `fail` when they cannot connect, `info` when the node
//! crashed with their request in flight).
//!
//! Expected anomalies: none of any kind, under any fault schedule, only unavailability
//! while the node is down. That makes it the checkers' end-to-end false-positive test:
//! any flag on a single-node run is a checker or simulator bug.
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::convert::Infallible;

use repsim_sim::{
    ClientView, Context, KeyId, Node, NodeId, Op, Protocol, Reply, Request, SimRng, Start, ValueId,
};

/// Writes between checkpoints of the whole map.
const CHECKPOINT_EVERY: u32 = 4096;

/// The protocol: its only configuration is how many keys the workload uses, so the final
/// state can list every key (SPEC §3: a node lists every key it is a replica of).
#[derive(Clone, Copy, Debug)]
pub struct SingleNode {
    /// Number of keys, `k0..k{keys-1}`.
    pub keys: u32,
}

/// The one replica.
#[derive(Debug)]
pub struct Replica {
    keys: u32,
    data: BTreeMap<KeyId, ValueId>,
    writes_since_checkpoint: u32,
}

impl Node for Replica {
    type Msg = Infallible;
    type Timer = Infallible;
    /// A write, as applied.
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
            Op::Read { key } => {
                let values = self.data.get(&key).copied().into_iter().collect();
                ctx.reply(request.id, Reply::Read(values));
            }
            // A nondeterministic write is computed here, on the only node that ever
            // executes it, so the value the client is told is the value stored.
            Op::Write { key, value, .. } => {
                self.data.insert(key, value);
                self.writes_since_checkpoint += 1;
                if self.writes_since_checkpoint >= CHECKPOINT_EVERY {
                    self.writes_since_checkpoint = 0;
                    ctx.checkpoint(self.data.iter().map(|(&k, &v)| (k, v)).collect());
                } else {
                    ctx.persist((key, value));
                }
                ctx.reply(request.id, Reply::Written(value));
            }
        }
    }

    fn final_state(&self) -> Vec<(KeyId, Vec<ValueId>)> {
        (0..self.keys)
            .map(|k| {
                let key = KeyId(k);
                (key, self.data.get(&key).copied().into_iter().collect())
            })
            .collect()
    }
}

impl Protocol for SingleNode {
    type Node = Replica;

    fn create(&self, _id: NodeId, storage: &[(KeyId, ValueId)]) -> Replica {
        Replica {
            keys: self.keys,
            // Replaying the records in order rebuilds the map: later writes win.
            data: storage.iter().copied().collect(),
            writes_since_checkpoint: 0,
        }
    }

    /// Every operation goes to `n0`, the only node, whatever `reads_from` says.
    fn route(&self, client: &ClientView<'_, ()>, _op: &Op, _rng: &mut SimRng) -> NodeId {
        client.members[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use repsim_sim::testing::TestContext;
    use repsim_sim::{Effect, ProcessId, RequestId};

    fn request(invoke: u32, op: Op) -> Request<()> {
        Request {
            id: RequestId {
                process: ProcessId(0),
                invoke,
            },
            op,
            token: (),
        }
    }

    #[test]
    fn a_write_is_persisted_before_it_is_acknowledged() {
        let protocol = SingleNode { keys: 2 };
        let mut node = protocol.create(NodeId(0), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(0), 1);
        let value = ValueId::generated(1);
        let write = Op::Write {
            key: KeyId(1),
            value,
            nondeterministic: false,
        };
        node.on_request(&mut test.ctx(), request(0, write));
        let effects = test.take_effects();
        assert!(matches!(effects[0], Effect::Persist((KeyId(1), v)) if v == value));
        assert!(matches!(effects[1], Effect::Reply { reply: Reply::Written(v), .. } if v == value));

        node.on_request(&mut test.ctx(), request(2, Op::Read { key: KeyId(1) }));
        let effects = test.take_effects();
        assert!(
            matches!(&effects[0], Effect::Reply { reply: Reply::Read(vs), .. } if vs == &vec![value])
        );
    }

    #[test]
    fn a_restart_replays_durable_writes_in_order() {
        let (a, b) = (ValueId::generated(1), ValueId::generated(2));
        let node = SingleNode { keys: 2 }.create(NodeId(0), &[(KeyId(0), a), (KeyId(0), b)]);
        assert_eq!(
            node.final_state(),
            vec![(KeyId(0), vec![b]), (KeyId(1), vec![])]
        );
    }

    #[test]
    fn checkpoints_keep_the_durable_log_short() {
        let protocol = SingleNode { keys: 3 };
        let mut node = protocol.create(NodeId(0), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(0), 1);
        let mut storage: Vec<(KeyId, ValueId)> = Vec::new();
        for i in 1..=10_000u32 {
            let op = Op::Write {
                key: KeyId(i % 3),
                value: ValueId::generated(i),
                nondeterministic: false,
            };
            node.on_request(&mut test.ctx(), request(i, op));
            for effect in test.take_effects() {
                match effect {
                    Effect::Persist(r) => storage.push(r),
                    Effect::Checkpoint(rs) => storage = rs,
                    _ => {}
                }
            }
        }
        assert!(storage.len() < CHECKPOINT_EVERY as usize + 3);
        let recovered = protocol.create(NodeId(0), &storage);
        assert_eq!(recovered.final_state(), node.final_state());
    }
}
