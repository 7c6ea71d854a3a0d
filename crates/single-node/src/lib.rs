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

use repsim_sim::crdt::{self, Crdt, CrdtUpdate, Dot};
use repsim_sim::{
    ClientView, Context, KeyId, Node, NodeId, Op, Protocol, Reply, Request, SimRng, Start, ValueId,
    Workload,
};

/// Writes between checkpoints of the whole map.
const CHECKPOINT_EVERY: u32 = 4096;

/// The protocol: its only configuration is how many keys the workload uses, so the final
/// state can list every key (SPEC §3: a node lists every key it is a replica of).
#[derive(Clone, Copy, Debug)]
pub struct SingleNode {
    /// Number of keys, `k0..k{keys-1}`.
    pub keys: u32,
    /// The clients' workload: registers, or counters or sets (kept as CRDT values, which
    /// on one node behave like plain ones).
    pub workload: Workload,
}

/// The one replica.
#[derive(Debug)]
pub struct Replica {
    keys: u32,
    workload: Workload,
    data: BTreeMap<KeyId, ValueId>,
    crdts: BTreeMap<KeyId, Crdt>,
    writes_since_checkpoint: u32,
}

/// What the node persists: a register write, or a CRDT update, as applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// `key` now holds `value`.
    Write(KeyId, ValueId),
    /// A counter or set update of `key`.
    Update(KeyId, CrdtUpdate),
    /// `key`'s whole counter or set value (in a checkpoint).
    Value(KeyId, Crdt),
}

impl Replica {
    fn apply(&mut self, record: &Record) {
        match record {
            Record::Write(key, value) => {
                self.data.insert(*key, *value);
            }
            Record::Update(key, update) => {
                let mut value = self.crdts.remove(key);
                update.apply(&mut value);
                self.crdts.extend(value.map(|v| (*key, v)));
            }
            Record::Value(key, value) => {
                self.crdts.insert(*key, value.clone());
            }
        }
    }

    /// Persists `record`, or every record of the state once in a while.
    fn persist(&mut self, ctx: &mut Context<'_, Self>, record: Record) {
        self.writes_since_checkpoint += 1;
        if self.writes_since_checkpoint >= CHECKPOINT_EVERY {
            self.writes_since_checkpoint = 0;
            let mut records: Vec<Record> = self
                .data
                .iter()
                .map(|(&k, &v)| Record::Write(k, v))
                .collect();
            records.extend(self.crdts.iter().map(|(&k, v)| Record::Value(k, v.clone())));
            ctx.checkpoint(records);
        } else {
            ctx.persist(record);
        }
    }
}

impl Node for Replica {
    type Msg = Infallible;
    type Timer = Infallible;
    type Record = Record;
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
                let reply = match self.workload {
                    Workload::Register => {
                        Reply::Read(self.data.get(&key).copied().into_iter().collect())
                    }
                    Workload::Counter => crdt::read_reply(self.crdts.get(&key), true),
                    Workload::Set { .. } => crdt::read_reply(self.crdts.get(&key), false),
                };
                ctx.reply(request.id, reply);
            }
            // A nondeterministic write is computed here, on the only node that ever
            // executes it, so the value the client is told is the value stored.
            Op::Write { key, value, .. } => {
                self.data.insert(key, value);
                self.persist(ctx, Record::Write(key, value));
                ctx.reply(request.id, Reply::Written(value));
            }
            Op::Increment { key, .. } | Op::Add { key, .. } | Op::Remove { key, .. } => {
                let mut value = self.crdts.remove(&key);
                let update = CrdtUpdate::execute(&request.op, Dot::from(request.id), &mut value)
                    .expect("an update");
                self.crdts.extend(value.map(|v| (key, v)));
                self.persist(ctx, Record::Update(key, update));
                ctx.reply(request.id, Reply::Done);
            }
        }
    }

    fn final_state(&self) -> Vec<(KeyId, Vec<ValueId>)> {
        let keys = (0..self.keys).map(KeyId);
        match self.workload {
            Workload::Register => keys
                .map(|key| (key, self.data.get(&key).copied().into_iter().collect()))
                .collect(),
            Workload::Counter => Vec::new(),
            Workload::Set { .. } => keys
                .map(|key| {
                    let elements = match self.crdts.get(&key) {
                        Some(Crdt::Set(set)) => set.elements(),
                        _ => Vec::new(),
                    };
                    (key, elements)
                })
                .collect(),
        }
    }

    fn final_counters(&self) -> Vec<(KeyId, i64)> {
        if self.workload != Workload::Counter {
            return Vec::new();
        }
        (0..self.keys)
            .map(KeyId)
            .map(|key| match self.crdts.get(&key) {
                Some(Crdt::Counter(c)) => (key, c.total()),
                _ => (key, 0),
            })
            .collect()
    }
}

impl Protocol for SingleNode {
    type Node = Replica;

    fn create(&self, _id: NodeId, storage: &[Record]) -> Replica {
        let mut replica = Replica {
            keys: self.keys,
            workload: self.workload,
            data: BTreeMap::new(),
            crdts: BTreeMap::new(),
            writes_since_checkpoint: 0,
        };
        // Replaying the records in order rebuilds the state: later writes win.
        for record in storage {
            replica.apply(record);
        }
        replica
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
        let protocol = SingleNode {
            keys: 2,
            workload: Workload::Register,
        };
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
        assert!(matches!(effects[0], Effect::Persist(Record::Write(KeyId(1), v)) if v == value));
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
        let node = SingleNode {
            keys: 2,
            workload: Workload::Register,
        }
        .create(
            NodeId(0),
            &[Record::Write(KeyId(0), a), Record::Write(KeyId(0), b)],
        );
        assert_eq!(
            node.final_state(),
            vec![(KeyId(0), vec![b]), (KeyId(1), vec![])]
        );
    }

    #[test]
    fn checkpoints_keep_the_durable_log_short() {
        let protocol = SingleNode {
            keys: 3,
            workload: Workload::Register,
        };
        let mut node = protocol.create(NodeId(0), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(0), 1);
        let mut storage: Vec<Record> = Vec::new();
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

    #[test]
    fn counters_and_sets_survive_a_restart_and_checkpoints() {
        for workload in [Workload::Counter, Workload::Set { elements: 4 }] {
            let protocol = SingleNode { keys: 2, workload };
            let mut node = protocol.create(NodeId(0), &[]);
            let mut test = TestContext::<Replica>::new(NodeId(0), 1);
            let mut storage: Vec<Record> = Vec::new();
            let elements: Vec<ValueId> = (1..=4).map(ValueId::generated).collect();
            for i in 1..=9_000u32 {
                let key = KeyId(i % 2);
                let op = match workload {
                    Workload::Counter => Op::Increment {
                        key,
                        amount: 1 + i % 3,
                    },
                    _ if i % 3 == 0 => Op::Remove {
                        key,
                        element: elements[(i % 4) as usize],
                    },
                    _ => Op::Add {
                        key,
                        element: elements[(i % 4) as usize],
                    },
                };
                node.on_request(&mut test.ctx(), request(i, op));
                for effect in test.take_effects() {
                    match effect {
                        Effect::Persist(r) => storage.push(r),
                        Effect::Checkpoint(rs) => storage = rs,
                        Effect::Reply { reply, .. } => assert_eq!(reply, Reply::Done),
                        _ => {}
                    }
                }
            }
            assert!(storage.len() < CHECKPOINT_EVERY as usize + 3);
            let recovered = protocol.create(NodeId(0), &storage);
            assert_eq!(recovered.final_state(), node.final_state());
            assert_eq!(recovered.final_counters(), node.final_counters());
            if workload == Workload::Counter {
                let total: i64 = (1..=9_000i64).map(|i| 1 + i % 3).sum();
                let counted: i64 = node.final_counters().iter().map(|(_, n)| n).sum();
                assert_eq!(counted, total);
            } else {
                assert!(node.final_state().iter().any(|(_, es)| !es.is_empty()));
            }
        }
    }
}
