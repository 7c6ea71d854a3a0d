//! One node: a replica of the keys the ring gives it, a fallback holding hints for other
//! nodes, and a coordinator of the client requests that reach it.
//!
//! This module holds the node's state, its durable storage (persist, checkpoint, recover)
//! and the dispatch of events; the coordinator's quorum logic is in
//! [`crate::coordinator`], hinted handoff in [`crate::handoff`], anti-entropy in
//! [`crate::anti_entropy`].
//!
//! **Durability.** Every change to a home key's copy or to a hint is persisted (as the
//! key's whole new copy) before the node acknowledges anything that depends on it, so a
//! restarted node has everything it ever acknowledged. When the records since the last
//! checkpoint outnumber twice the live copies, the node checkpoints its whole state, so
//! storage stays proportional to the data.
//!
//! **Final state.** A node lists every home key of the ring it last saw: a register's
//! values, or a set's elements (`conflict: "crdt"`); under the counter workload it lists
//! no register values and reports each home key's total instead
//! ([`Node::final_counters`], 0 for a counter never incremented).
//!
//! **Membership.** Every handler first compares the ring with the simulator's list of
//! members ([`Replica::refresh`]); on a change the node moves to the new ring and starts
//! the hand-over of the keys that moved (see [`crate::membership`]).
//!
//! **Failure detection.** A node suspects a peer that did not answer a request within
//! the replica timeout (a quarter of the client timeout), for twice that long, and stops
//! suspecting it as soon as any message from it arrives. Coordinators use suspicion to
//! refuse at once the operations that cannot reach a quorum (as Cassandra does, answering
//! `fail`: certainly not done) and, with a sloppy quorum, to send straight to fallbacks.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use repsim_sim::{
    Context, KeyId, Node, NodeId, Op, Reply, Request, SimTime, Start, ValueId, Workload,
};

use crate::anti_entropy::AePeer;
use crate::config::{Config, Versions};
use crate::coordinator::{ForwardOp, Origin, ReadOp, ReadPurpose, WriteOp};
use crate::msg::{Forward, Msg, OpId, Outcome, Record, Timer, Token};
use crate::ring::Ring;
use crate::version::KeyState;

pub(crate) type Ctx<'a> = Context<'a, Replica>;

/// How many forwarded writes a node remembers, to ignore duplicated `Forward` messages.
const RECENT_FORWARDS: usize = 1024;

/// One node of the leaderless protocol.
#[derive(Debug)]
pub struct Replica {
    pub(crate) config: Arc<Config>,
    pub(crate) id: NodeId,
    /// The ring of the members this node last saw (known from its first start on).
    pub(crate) ring: Option<Arc<Ring>>,
    /// The keys this node is a home replica of, in id order.
    pub(crate) home_keys: Vec<KeyId>,
    /// Starts so far, this one included.
    pub(crate) boots: u32,
    /// Next operation sequence number in this boot.
    pub(crate) next_seq: u32,
    /// Copies, by key id (`None`: nothing held): of the home keys, and of keys this node
    /// no longer owns and has not finished handing over (see `outgoing`).
    pub(crate) data: Vec<Option<KeyState>>,
    /// How many entries of `data` hold something.
    pub(crate) live_keys: usize,
    /// Hints held for other nodes: (home replica, key) → copy.
    pub(crate) hints: BTreeMap<(NodeId, KeyId), KeyState>,
    /// Writes this node coordinates.
    pub(crate) writes: BTreeMap<OpId, Box<WriteOp>>,
    /// Reads this node coordinates.
    pub(crate) reads: BTreeMap<OpId, Box<ReadOp>>,
    /// Writes this node forwarded to a home replica (`version-vectors`).
    pub(crate) forwards: BTreeMap<OpId, ForwardOp>,
    /// Forwarded writes recently coordinated here, as (forwarding node, its operation),
    /// oldest first, and the same as a set for lookups.
    pub(crate) recent_forwards: VecDeque<(NodeId, OpId)>,
    pub(crate) recent_forward_set: BTreeSet<(NodeId, OpId)>,
    /// Per node (by index): suspected until then (local time).
    pub(crate) suspected_until: Vec<SimTime>,
    /// A `Tick` timer is pending.
    pub(crate) tick_armed: bool,
    /// A `Handoff` timer is pending.
    pub(crate) handoff_armed: bool,
    /// Records persisted since the last checkpoint.
    pub(crate) records: usize,
    /// Anti-entropy state per co-replica (only when anti-entropy is on).
    pub(crate) ae: BTreeMap<NodeId, AePeer>,
    /// Anti-entropy exchanges started in this boot.
    pub(crate) ae_counter: u32,
    /// An `AntiEntropy` timer is pending (it re-arms itself once started).
    pub(crate) ae_armed: bool,
    /// Ring changes this node has seen: its hand-over epoch.
    pub(crate) epoch: u64,
    /// Home keys this node gained in a ring change and does not hold in full yet: it
    /// answers no read of them until every peer listed has sent its copy.
    pub(crate) pending: BTreeMap<KeyId, Pending>,
    /// Keys this node holds but no longer owns: the home replicas that have not yet
    /// confirmed they hold its copy. The copy is dropped once none is left.
    pub(crate) outgoing: BTreeMap<KeyId, Vec<NodeId>>,
    /// Reads of pending keys, answered once the key is ready: (coordinator, operation,
    /// key).
    pub(crate) deferred: Vec<(NodeId, OpId, KeyId)>,
    /// `version-vectors`: per key this node dropped, the highest counter it had used.
    pub(crate) minted: BTreeMap<KeyId, u64>,
    /// A `Handover` timer is pending.
    pub(crate) handover_armed: bool,
}

/// A key this node gained: what it waits for before it answers reads of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    /// The node's epoch when it gained the key: answers to older requests do not count.
    pub(crate) since: u64,
    /// The peers whose copies it still waits for.
    pub(crate) waiting: BTreeSet<NodeId>,
}

impl Replica {
    /// Rebuilds a node from its durable records (none for a new node).
    pub fn recover(config: Arc<Config>, id: NodeId, storage: &[Record]) -> Replica {
        let keys = config.keys as usize;
        let mut replica = Replica {
            config,
            id,
            ring: None,
            home_keys: Vec::new(),
            boots: 0,
            next_seq: 0,
            data: vec![None; keys],
            live_keys: 0,
            hints: BTreeMap::new(),
            writes: BTreeMap::new(),
            reads: BTreeMap::new(),
            forwards: BTreeMap::new(),
            recent_forwards: VecDeque::new(),
            recent_forward_set: BTreeSet::new(),
            suspected_until: Vec::new(),
            tick_armed: false,
            handoff_armed: false,
            records: storage.len(),
            ae: BTreeMap::new(),
            ae_counter: 0,
            ae_armed: false,
            epoch: 0,
            pending: BTreeMap::new(),
            outgoing: BTreeMap::new(),
            deferred: Vec::new(),
            minted: BTreeMap::new(),
            handover_armed: false,
        };
        let mut members = Vec::new();
        for record in storage {
            match record {
                Record::Meta {
                    members: known,
                    boots,
                    epoch,
                } => {
                    members.clone_from(known);
                    replica.boots = *boots;
                    replica.epoch = *epoch;
                }
                Record::Key { key, data } => {
                    let slot = &mut replica.data[key.index()];
                    replica.live_keys += usize::from(slot.is_none());
                    *slot = Some(data.clone());
                }
                Record::Hint { home, key, data } => {
                    replica.hints.insert((*home, *key), data.clone());
                }
                Record::HintDone { home, key } => {
                    replica.hints.remove(&(*home, *key));
                }
                Record::Pending {
                    key,
                    since,
                    waiting,
                } => {
                    let pending = Pending {
                        since: *since,
                        waiting: waiting.iter().copied().collect(),
                    };
                    replica.pending.insert(*key, pending);
                }
                Record::Ready { key } => {
                    replica.pending.remove(key);
                }
                Record::Dropped { key, minted } => {
                    let slot = &mut replica.data[key.index()];
                    replica.live_keys -= usize::from(slot.is_some());
                    *slot = None;
                    if *minted > 0 {
                        replica.minted.insert(*key, *minted);
                    }
                }
            }
        }
        if !members.is_empty() {
            replica.set_ring(&members);
        }
        replica
    }

    /// Builds the ring of `members` and what depends on it (home keys, anti-entropy
    /// co-replicas).
    pub(crate) fn set_ring(&mut self, members: &[NodeId]) {
        let ring = Ring::of(members, self.config.n, self.config.keys);
        self.home_keys = ring.home_keys(self.id);
        if self.config.anti_entropy.is_some() {
            let mut peers: BTreeMap<NodeId, Vec<KeyId>> = BTreeMap::new();
            for &key in &self.home_keys {
                for &other in ring.home(key) {
                    if other != self.id {
                        peers.entry(other).or_default().push(key);
                    }
                }
            }
            self.ae = peers
                .into_iter()
                .map(|(peer, keys)| (peer, AePeer::new(keys)))
                .collect();
        }
        self.ring = Some(Arc::new(ring));
    }

    /// The ring. Only called once it is known.
    pub(crate) fn ring(&self) -> Arc<Ring> {
        Arc::clone(self.ring.as_ref().expect("the ring is known"))
    }

    /// The durable record of the members this node knows, its boot count and epoch.
    pub(crate) fn meta(&self) -> Record {
        Record::Meta {
            members: self
                .ring
                .as_ref()
                .map(|r| r.members().to_vec())
                .unwrap_or_default(),
            boots: self.boots,
            epoch: self.epoch,
        }
    }

    /// True when this node is a home replica of `key` in the ring it knows.
    pub(crate) fn is_home(&self, key: KeyId) -> bool {
        self.ring
            .as_ref()
            .is_some_and(|ring| ring.is_home(key, self.id))
    }

    /// Appends a record to durable storage, checkpointing when the log has grown to
    /// twice the live state.
    pub(crate) fn persist(&mut self, ctx: &mut Ctx<'_>, record: Record) {
        ctx.persist(record);
        self.records += 1;
        let live = 1 + self.live_keys + self.hints.len() + self.pending.len() + self.minted.len();
        if self.records > 2 * live + 64 {
            let mut all = Vec::with_capacity(live);
            all.push(self.meta());
            // Before the copies: replaying a drop clears the key's copy.
            for (&key, &minted) in &self.minted {
                all.push(Record::Dropped { key, minted });
            }
            for (&key, pending) in &self.pending {
                all.push(Record::Pending {
                    key,
                    since: pending.since,
                    waiting: pending.waiting.iter().copied().collect(),
                });
            }
            for (k, data) in self.data.iter().enumerate() {
                if let Some(data) = data {
                    all.push(Record::Key {
                        key: KeyId(k as u32),
                        data: data.clone(),
                    });
                }
            }
            for (&(home, key), data) in &self.hints {
                all.push(Record::Hint {
                    home,
                    key,
                    data: data.clone(),
                });
            }
            self.records = all.len();
            ctx.checkpoint(all);
        }
    }

    /// Merges a copy of a home key into this node's copy; persists and returns true when
    /// it changed. Copies of keys this node is not home for are ignored (a peer with
    /// another view of the ring, or a message from before a ring change).
    pub(crate) fn apply_copy(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: KeyId,
        incoming: &KeyState,
    ) -> bool {
        if !self.is_home(key) {
            return false;
        }
        let slot = &mut self.data[key.index()];
        let was_empty = slot.is_none();
        if !KeyState::merge_into(slot, incoming) {
            return false;
        }
        self.live_keys += usize::from(was_empty);
        let data = slot.clone().expect("just merged");
        self.persist(ctx, Record::Key { key, data });
        self.anti_entropy_changed(key);
        true
    }

    /// The next operation id of this boot.
    pub(crate) fn next_op(&mut self) -> OpId {
        self.next_seq += 1;
        OpId((u64::from(self.boots) << 32) | u64::from(self.next_seq))
    }

    /// True while `node` is suspected of being down or cut off.
    pub(crate) fn is_suspected(&self, node: NodeId, now: SimTime) -> bool {
        node != self.id
            && self
                .suspected_until
                .get(node.index())
                .is_some_and(|&until| until > now)
    }

    /// Starts suspecting `node` (it did not answer in time).
    pub(crate) fn suspect(&mut self, node: NodeId, now: SimTime) {
        if node == self.id {
            return;
        }
        if self.suspected_until.len() <= node.index() {
            self.suspected_until.resize(node.index() + 1, SimTime::ZERO);
        }
        self.suspected_until[node.index()] = now + self.config.suspect_for();
    }

    /// Anything from `node` proves it is up and reachable.
    fn heard_from(&mut self, node: NodeId) {
        if let Some(until) = self.suspected_until.get_mut(node.index()) {
            *until = SimTime::ZERO;
        }
    }

    /// Arms the coordinator's `Tick` if it is not pending.
    pub(crate) fn arm_tick(&mut self, ctx: &mut Ctx<'_>) {
        if !self.tick_armed {
            self.tick_armed = true;
            ctx.set_timer(self.config.tick(), Timer::Tick);
        }
    }

    /// Arms the anti-entropy timer if this node has co-replicas and it is not pending.
    pub(crate) fn arm_anti_entropy(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(interval) = self.config.anti_entropy
            && !self.ae_armed
            && !self.ae.is_empty()
        {
            self.ae_armed = true;
            ctx.set_timer(interval, Timer::AntiEntropy);
        }
    }

    /// Starts the periodic processes.
    fn start_background(&mut self, ctx: &mut Ctx<'_>) {
        self.arm_anti_entropy(ctx);
        self.arm_handoff(ctx);
    }

    /// Answers a coordinator's read of `key` (from the hints held for it, with `hinted`),
    /// or defers the answer while the key is pending here.
    fn on_fetch(&mut self, ctx: &mut Ctx<'_>, from: NodeId, op: OpId, key: KeyId, hinted: bool) {
        let data = if hinted {
            self.hinted_copy(key)
        } else {
            if self.pending.contains_key(&key) {
                // This node gained the key and has not got every copy yet: its answer
                // could miss acknowledged writes. It answers once the hand-over is done.
                ctx.count("handover_read_deferred");
                self.deferred.push((from, op, key));
                return;
            }
            self.data.get(key.index()).cloned().flatten()
        };
        ctx.send(from, Msg::Fetched { op, data });
    }

    fn on_client_request(&mut self, ctx: &mut Ctx<'_>, request: Request<Token>) {
        let ring = self.ring();
        let deadline = ctx.now() + self.config.deadline();
        // Scenario validation pairs `conflict: "crdt"` with the counter and set workloads
        // and nothing else with them; a mismatched operation is refused, untouched.
        if request.op.is_crdt_update() != self.config.crdt && !matches!(request.op, Op::Read { .. })
        {
            return ctx.reply(request.id, Reply::Fail);
        }
        match request.op {
            Op::Increment { .. } | Op::Add { .. } | Op::Remove { .. } => {
                self.start_update(ctx, request.id, &request.op, deadline);
            }
            Op::Read { key } => {
                self.start_read(ctx, request.id, key, ReadPurpose::Client, deadline);
            }
            Op::Write { key, value, .. } => match self.config.versions {
                Versions::Lww => {
                    self.start_write(ctx, Origin::Client(request.id), key, value, None, deadline)
                }
                Versions::VersionVectors if ring.is_home(key, self.id) => {
                    let context = request.token.context(key);
                    self.start_write(
                        ctx,
                        Origin::Client(request.id),
                        key,
                        value,
                        Some(context),
                        deadline,
                    )
                }
                Versions::VersionVectors => {
                    let context = request.token.context(key);
                    self.forward_write(ctx, request.id, key, value, context, deadline)
                }
            },
        }
    }

    fn on_forward(&mut self, ctx: &mut Ctx<'_>, from: NodeId, forward: Forward) {
        let Forward {
            op,
            key,
            value,
            context,
            budget,
        } = forward;
        // A duplicated `Forward` must not write the value twice (as two versions).
        if !self.recent_forward_set.insert((from, op)) {
            return;
        }
        self.recent_forwards.push_back((from, op));
        if self.recent_forwards.len() > RECENT_FORWARDS
            && let Some(oldest) = self.recent_forwards.pop_front()
        {
            self.recent_forward_set.remove(&oldest);
        }
        let is_home = self.is_home(key);
        let origin = Origin::Forwarded { from, op };
        if !is_home || self.config.versions != Versions::VersionVectors {
            // Only a home replica can version the write; a confused peer gets a refusal.
            return Self::finish(ctx, origin, Outcome::Fail, Some(value));
        }
        let deadline = ctx.now() + budget;
        self.start_write(ctx, origin, key, value, Some(context), deadline);
    }
}

impl Node for Replica {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;
    type Token = Token;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>, start: Start) {
        self.boots += 1;
        match start {
            Start::Boot => self.set_ring(ctx.members()),
            Start::Restart => ctx.count("restarted"),
            Start::Join => {
                ctx.count("joined");
                // The ring as it was without this node: every key it now owns is gained.
                let before: Vec<NodeId> = ctx.peers().collect();
                self.set_ring(&before);
            }
        }
        let meta = self.meta();
        self.persist(ctx, meta);
        // A restarted node may have missed changes while it was down; a joiner starts
        // from the ring without itself.
        self.refresh(ctx);
        if start == Start::Restart {
            self.resume_handover(ctx);
        }
        self.start_background(ctx);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        self.refresh(ctx);
        self.heard_from(from);
        match msg {
            Msg::Store {
                op,
                key,
                data,
                hint,
            } => self.on_store(ctx, from, op, key, &data, hint),
            Msg::Stored { op } => self.on_stored(ctx, from, op),
            Msg::Fetch { op, key, hinted } => self.on_fetch(ctx, from, op, key, hinted),
            Msg::Fetched { op, data } => self.on_fetched(ctx, from, op, data),
            Msg::Repair { key, data } => {
                self.apply_copy(ctx, key, &data);
            }
            Msg::Forward(forward) => self.on_forward(ctx, from, forward),
            Msg::Forwarded { op, outcome } => self.on_forwarded(ctx, op, outcome),
            Msg::Handoff { entries } => self.on_handoff(ctx, from, entries),
            Msg::HandedOff { entries } => self.on_handed_off(ctx, from, &entries),
            Msg::AeRoot { seq, root } => self.on_ae_root(ctx, from, seq, root),
            Msg::AeInSync { seq, root } => self.on_ae_in_sync(from, seq, root),
            Msg::AeRanges { seq, digests } => self.on_ae_ranges(ctx, from, seq, &digests),
            Msg::AeKeys { seq, keys } => self.on_ae_keys(ctx, from, seq, &keys),
            Msg::AeData { entries, reply } => self.on_ae_data(ctx, from, entries, reply),
            Msg::Pull { epoch, keys } => self.on_pull(ctx, from, epoch, &keys),
            Msg::Handover { epoch, entries } => self.on_handover(ctx, from, epoch, entries),
            Msg::HandoverAck { entries } => self.on_handover_ack(ctx, from, &entries),
            // Handled by the refresh above.
            Msg::Nudge => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        self.refresh(ctx);
        match timer {
            Timer::Tick => self.on_tick(ctx),
            Timer::Handoff => self.on_handoff_timer(ctx),
            Timer::AntiEntropy => self.on_anti_entropy_timer(ctx),
            Timer::Handover => self.on_handover_timer(ctx),
        }
    }

    fn on_request(&mut self, ctx: &mut Context<'_, Self>, request: Request<Token>) {
        self.refresh(ctx);
        self.on_client_request(ctx, request);
    }

    /// Every home key of the ring this node last saw, with its values (siblings
    /// ascending, a set's elements in id order); hints, and copies still being handed
    /// over, are not listed. Counters are listed by [`Node::final_counters`] instead.
    fn final_state(&self) -> Vec<(KeyId, Vec<ValueId>)> {
        if self.config.workload == Workload::Counter {
            return Vec::new();
        }
        self.home_keys
            .iter()
            .map(|&key| {
                let values = self.data[key.index()]
                    .as_ref()
                    .map(KeyState::values)
                    .unwrap_or_default();
                (key, values)
            })
            .collect()
    }

    /// Under the counter workload, every home key of the ring this node last saw with
    /// its counter's total (0 when it was never incremented here).
    fn final_counters(&self) -> Vec<(KeyId, i64)> {
        if self.config.workload != Workload::Counter {
            return Vec::new();
        }
        self.home_keys
            .iter()
            .map(|&key| {
                let total = self.data[key.index()].as_ref().and_then(KeyState::total);
                (key, total.unwrap_or(0))
            })
            .collect()
    }

    /// Quiet when the node knows the ring, coordinates nothing, holds no hint it still
    /// has to hand off, has every copy of the keys it gained and has handed over every
    /// key it lost, and (with anti-entropy) its last exchange with every co-replica found
    /// their copies equal, with no change since.
    fn is_quiet(&self) -> bool {
        self.ring.is_some()
            && self.pending.is_empty()
            && self.outgoing.is_empty()
            && self.writes.is_empty()
            && self.reads.is_empty()
            && self.forwards.is_empty()
            && (!self.config.hinted_handoff || self.hints.is_empty())
            && self.ae.values().all(|peer| peer.agreed.is_some())
    }

    /// Anti-entropy digests and copies are periodic background traffic: they never keep
    /// a run from ending (a node stays un-quiet itself while its copies differ).
    fn is_background(msg: &Msg) -> bool {
        matches!(
            msg,
            Msg::AeRoot { .. }
                | Msg::AeInSync { .. }
                | Msg::AeRanges { .. }
                | Msg::AeKeys { .. }
                | Msg::AeData { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{booted, config, persisted, request, write};

    #[test]
    fn a_restarted_node_has_everything_it_made_durable_and_a_new_boot_count() {
        let mut config = config(3, 1, 1);
        config.keys = 4;
        let (mut node, mut test) = booted(&config, 0, 3);
        let mut storage = vec![Record::Meta {
            members: vec![NodeId(0), NodeId(1), NodeId(2)],
            boots: 1,
            epoch: 0,
        }];
        // Enough writes to force checkpoints along the way.
        for i in 0..200u32 {
            node.on_request(
                &mut test.ctx(),
                request(2 * i, write(i % 4, i + 1), Token::default()),
            );
            for effect in test.take_effects() {
                match effect {
                    repsim_sim::Effect::Persist(r) => storage.push(r),
                    repsim_sim::Effect::Checkpoint(all) => storage = all,
                    _ => {}
                }
            }
        }
        assert!(
            storage.len() < 100,
            "checkpoints keep storage short: {}",
            storage.len()
        );
        let mut again = Replica::recover(Arc::new(config.clone()), NodeId(0), &storage);
        assert_eq!(again.final_state(), node.final_state());
        let mut test = repsim_sim::testing::TestContext::<Replica>::new(NodeId(0), 3);
        again.on_start(&mut test.ctx(), Start::Restart);
        assert_eq!(again.boots, 2);
        assert_eq!(
            persisted(&test.take_effects()),
            vec![Record::Meta {
                members: vec![NodeId(0), NodeId(1), NodeId(2)],
                boots: 2,
                epoch: 0,
            }]
        );
        // Operation ids of the new boot never collide with the old one's.
        assert!(again.next_op() > node.next_op());
    }

    #[test]
    fn a_joiner_owns_its_keys_at_once_and_asks_every_peer_for_them() {
        let config = config(3, 2, 2);
        let mut joiner = Replica::recover(Arc::new(config.clone()), NodeId(3), &[]);
        let mut test = repsim_sim::testing::TestContext::<Replica>::new(NodeId(3), 4);
        joiner.on_start(&mut test.ctx(), Start::Join);
        let ring = Ring::new(4, 3, config.keys);
        let owned = ring.home_keys(NodeId(3));
        assert!(!owned.is_empty());
        let listed: Vec<KeyId> = joiner.final_state().into_iter().map(|(k, _)| k).collect();
        assert_eq!(listed, owned);
        assert_eq!(joiner.pending.keys().copied().collect::<Vec<_>>(), owned);
        assert!(!joiner.is_quiet(), "not before the hand-over");
        let effects = test.take_effects();
        let pulls: Vec<(NodeId, Msg)> = crate::testing::sends(&effects);
        assert_eq!(pulls.len(), 3, "one pull per peer: {pulls:?}");
        for (to, msg) in &pulls {
            assert!(
                matches!(msg, Msg::Pull { keys, .. } if *keys == owned),
                "{to}: {msg:?}"
            );
        }
        assert!(
            persisted(&effects)
                .iter()
                .any(|r| matches!(r, Record::Pending { .. })),
            "pending keys are durable"
        );
        // It coordinates at once: a write goes to the key's three home replicas.
        joiner.on_request(&mut test.ctx(), request(0, write(0, 1), Token::default()));
        let targets = crate::testing::sends(&test.take_effects()).len();
        let expected = 3 - usize::from(ring.is_home(KeyId(0), NodeId(3)));
        assert_eq!(targets, expected);
    }

    #[test]
    fn crdt_a_restarted_node_rebuilds_its_counters_and_sets_from_its_records() {
        use crate::testing::{add, crdt_config, increment, remove};
        for set in [false, true] {
            let mut config = crdt_config(3, 1, 1, set);
            config.keys = 4;
            let (mut node, mut test) = booted(&config, 0, 3);
            let mut storage = vec![Record::Meta {
                members: vec![NodeId(0), NodeId(1), NodeId(2)],
                boots: 1,
                epoch: 0,
            }];
            // With w = r = 1 and every node a home replica, each update (a remove's read
            // phase included) completes on n0 alone.
            for i in 0..200u32 {
                let op = match (set, i % 3) {
                    (false, _) => increment(i % 4, i % 5 + 1),
                    (true, 2) => remove(i % 4, i % 5 + 1),
                    (true, _) => add(i % 4, i % 5 + 1),
                };
                node.on_request(&mut test.ctx(), request(2 * i, op, Token::default()));
                for effect in test.take_effects() {
                    match effect {
                        repsim_sim::Effect::Persist(r) => storage.push(r),
                        repsim_sim::Effect::Checkpoint(all) => storage = all,
                        repsim_sim::Effect::Reply { reply, .. } => {
                            assert_eq!(reply, repsim_sim::Reply::Done);
                        }
                        _ => {}
                    }
                }
            }
            assert!(storage.len() < 100, "checkpoints: {}", storage.len());
            let again = Replica::recover(Arc::new(config.clone()), NodeId(0), &storage);
            assert_eq!(again.data, node.data, "set {set}");
            assert_eq!(again.final_state(), node.final_state());
            assert_eq!(again.final_counters(), node.final_counters());
            if set {
                assert!(node.final_counters().is_empty());
                assert_eq!(node.final_state().len(), 4);
                assert!(node.final_state().iter().any(|(_, e)| !e.is_empty()));
            } else {
                let totals: i64 = node.final_counters().iter().map(|(_, t)| t).sum();
                let expected: i64 = (0..200).map(|i| i64::from(i % 5 + 1)).sum();
                assert_eq!(totals, expected);
                assert!(node.final_state().is_empty());
            }
        }
    }

    #[test]
    fn crdt_a_joiner_gets_the_merged_states_of_the_keys_it_now_owns() {
        use crate::testing::{Cluster, crdt_config, increment};
        let config = crdt_config(3, 2, 2, false);
        let mut cluster = Cluster::new(&config, 3);
        for k in 0..8u32 {
            cluster.on((k % 3) as u16, |n, t| {
                n.on_request(
                    &mut t.ctx(),
                    request(2 * k, increment(k, k + 1), Token::default()),
                )
            });
        }
        // n2 misses every update it does not coordinate.
        cluster.deliver_all(|_, to, msg| !(to == NodeId(2) && matches!(msg, Msg::Store { .. })));
        // n3 joins: every node sees four members.
        let joiner = Replica::recover(Arc::new(config.clone()), NodeId(3), &[]);
        cluster
            .nodes
            .push((joiner, repsim_sim::testing::TestContext::new(NodeId(3), 4)));
        cluster.effects.push(Vec::new());
        for (_, test) in &mut cluster.nodes {
            test.members = (0..4).map(NodeId).collect();
        }
        cluster.on(3, |n, t| n.on_start(&mut t.ctx(), Start::Join));
        cluster.deliver_all(|_, _, _| true);
        let ring = Ring::new(4, 3, config.keys);
        let owned = ring.home_keys(NodeId(3));
        assert!(!owned.is_empty());
        let listed: Vec<KeyId> = cluster.nodes[3]
            .0
            .final_counters()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(listed, owned);
        for key in owned {
            // The merge of every peer's copy: n2's partial one and the others' full ones.
            assert_eq!(cluster.total(3, key.0), i64::from(key.0 + 1), "{key:?}");
        }
        assert!(cluster.nodes[3].0.is_quiet());
    }
}
