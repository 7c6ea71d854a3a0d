//! One leader of the multi-leader protocol.
//!
//! **Writes.** Every leader accepts writes. A write gets a [`Dot`] (this leader and its
//! write counter), the leader's local clock as its timestamp, the leader's versions of
//! the key as its context (the versions it supersedes) and the leader's applied vector as
//! its dependencies. The leader makes it durable, applies it, acknowledges the client at
//! once (replication is asynchronous) and passes it to its targets in the topology.
//!
//! **Replication.** Every write a leader accepts or receives is kept in its log, keyed by
//! dot, durably, with the leaders it must pass the write to (see [`crate::topology`]).
//! Per target it keeps the writes not yet acknowledged and retransmits them until they
//! are (see [`crate::link`]); a receiver makes a write durable before acknowledging it,
//! so a crash loses nothing acknowledged, and a leader that restarts resends what it had
//! not delivered and asks its peers to do the same. A receiver ignores (but acknowledges)
//! a copy that names it in its `seen` list, which cannot happen unless something loops,
//! and a copy of a write it already has: it forwards each write once.
//!
//! **Applying.** With `causality: none` a received write is applied on arrival. With
//! `causality: version-vectors` it is held until every write it depends on has been
//! applied here, then applied, and releases the writes held behind it. Applying a write
//! updates its key's [`Register`], which resolves conflicts as the `conflict` setting
//! says.
//!
//! **CRDT values** (`conflict: crdt`, with the `counter` or `set` workload). An
//! increment, add or remove is a write like any other: it gets this leader's dot, is
//! made durable, applied, acknowledged (`Reply::Done`) and replicated along the topology
//! with the same log, links, loop prevention, catch-up and causal delivery. What it
//! carries instead of a value is the update as this leader executed it
//! ([`CrdtUpdate::execute`]): an increment's amount or an add's element, each named by
//! its client request ([`crdt::Dot`], unique in a run), or, for a remove, the adds of
//! the element this leader had applied, which it tombstones everywhere (an add it had
//! not seen survives the remove: add wins). Applying one ([`CrdtUpdate::apply`]) joins
//! it into the key's [`Crdt`]: a union, so it is idempotent and commutes with every other
//! update, there is no conflict to resolve, and causal delivery is not needed (a remove
//! that overtakes the add it saw still removes it when the add arrives) though, with
//! `version-vectors`, still honoured. A restart rebuilds the values by replaying the
//! records, like the registers. Reads answer the counter's total or the set's elements
//! as this leader has them.
//!
//! **Joining** (`add_node`): a new leader asks every peer for every write it holds, and
//! refuses client requests until all have answered; writes accepted after the join
//! already include it in their targets.
//!
//! **Leaving** (`remove_node`). A leader learns the members from its context at every
//! event (the first to notice a change also wakes the others, see below) and rewires at
//! once ([`crate::topology`]):
//!
//! - It stops sending to, and waiting for acknowledgements from, the removed leader. The
//!   writes that leader had not acknowledged are passed to whoever replaces it as their
//!   next hop (the successor in a ring, the new root of a star), durably.
//! - Writes the removed leader had acknowledged but not passed on (it relays in a ring or
//!   as a star's root) would never arrive: every remaining leader therefore catches up
//!   from every other ([`Msg::SyncRequest`] with what it holds, answered with what it
//!   lacks), and passes on what it gets along the new topology. It is not quiet until
//!   every peer has answered; the catch-up is durable (redone after a restart).
//! - A write that reaches a leader from the removed one after the removal (it was in
//!   flight) is passed to every other leader, since its sender will never resend it.
//! - With `causality: version-vectors`, a write that depends on a write of the removed
//!   leader that no remaining leader holds would wait forever: once caught up, a leader
//!   no longer waits for writes of removed leaders (they can only arrive late, as above,
//!   and are applied then).
//!
//! What is lost with a removed leader: the writes it acknowledged that had not left it
//! (a first transmission dropped, a leader cut off or down when removed), as with any
//! asynchronous leader that fails for good. Everything else converges on the remaining
//! leaders.
//!
//! Invariants (asserted): a leader never reuses a write counter it persisted; a write is
//! applied at most once (a CRDT update executed by its origin is applied there again, as
//! a no-op: updates are idempotent); a leader never passes a write to a leader in its
//! `seen` list (and, on the receiving side, ignores a copy that names itself); a leader
//! applies its own write at once.

use std::collections::{BTreeMap, BTreeSet};

use repsim_sim::crdt::{self, Crdt, CrdtUpdate};
use repsim_sim::{
    Context, KeyId, Node, NodeId, Op, Reply, Request, RequestId, SimDuration, SimTime, Start,
    ValueId, Workload,
};

use crate::config::{Causality, Config, Conflict};
use crate::link::Link;
use crate::msg::{Change, Msg, Record, Timer, Update};
use crate::register::Register;
use crate::topology;
use crate::version::{Dot, DotSet, VersionVector};

/// How often a leader with unacknowledged writes checks whether some are due again.
pub const RETRANSMIT_TICK: SimDuration = SimDuration::from_millis(10);
/// How long a joining leader waits for a peer's writes before asking again.
pub const SYNC_RETRY: SimDuration = SimDuration::from_millis(100);

type Ctx<'a> = Context<'a, Replica>;

/// Protocol events found while handling one event (or replaying the records at a
/// restart, where they are dropped: they were counted the first time).
#[derive(Debug, Default)]
struct Tally {
    counts: Vec<&'static str>,
    /// Timestamps of the other leaders' writes applied, for replication lag.
    applied_remote: Vec<SimTime>,
}

impl Tally {
    fn flush(self, ctx: &mut Ctx<'_>) {
        for event in self.counts {
            ctx.count(event);
        }
        let now = ctx.now();
        for written_at in self.applied_remote {
            ctx.replication_lag(now.since(written_at));
        }
    }
}

/// One leader. See the module documentation.
#[derive(Debug)]
pub struct Replica {
    config: Config,
    id: NodeId,
    /// Every write accepted or received, by dot.
    log: BTreeMap<Dot, Update>,
    /// The writes applied here.
    applied: DotSet,
    /// Writes received but waiting for their dependencies (`version-vectors`).
    held: BTreeSet<Dot>,
    registers: BTreeMap<KeyId, Register>,
    /// `conflict: crdt`: each key's counter or set, as the CRDT updates applied here
    /// made it.
    crdts: BTreeMap<KeyId, Crdt>,
    /// This leader's next write counter.
    next_seq: u64,
    /// Per target: the writes it has not acknowledged.
    links: BTreeMap<NodeId, Link>,
    retransmit_armed: bool,
    /// Peers a joining leader still needs the writes of.
    sync_pending: BTreeSet<NodeId>,
    sync_armed: bool,
    /// The members this leader last saw, in id order (empty until it starts).
    members: Vec<NodeId>,
    /// After a removal: peers whose writes this leader has not caught up with yet.
    catch_up: BTreeSet<NodeId>,
    /// `on_start` ran (not set while replaying the records).
    started: bool,
}

impl Replica {
    /// Rebuilds leader `id` from its durable records (none for a new leader).
    pub fn recover(config: Config, id: NodeId, storage: &[Record]) -> Replica {
        let mut replica = Replica {
            config,
            id,
            log: BTreeMap::new(),
            applied: DotSet::default(),
            held: BTreeSet::new(),
            registers: BTreeMap::new(),
            crdts: BTreeMap::new(),
            next_seq: 1,
            links: BTreeMap::new(),
            retransmit_armed: false,
            sync_pending: BTreeSet::new(),
            sync_armed: false,
            members: Vec::new(),
            catch_up: BTreeSet::new(),
            started: false,
        };
        // Counted when they first happened.
        let mut replayed = Tally::default();
        for record in storage {
            match record {
                Record::Update { update, targets } => {
                    if replica.log.contains_key(&update.dot) {
                        continue;
                    }
                    if update.dot.origin == id {
                        replica.next_seq = replica.next_seq.max(update.dot.seq + 1);
                    }
                    for &target in targets {
                        replica.links.entry(target).or_default().restore(update.dot);
                    }
                    let dot = update.dot;
                    replica.log.insert(dot, update.clone());
                    replica.deliver(dot, &mut replayed);
                }
                Record::Acked { peer, dots } => {
                    if let Some(link) = replica.links.get_mut(peer) {
                        for &dot in dots {
                            link.forget(dot);
                        }
                    }
                }
                Record::Joined { peers } => replica.sync_pending = peers.iter().copied().collect(),
                Record::Synced { peer } => {
                    replica.sync_pending.remove(peer);
                }
                Record::Members { members } => replica.members.clone_from(members),
                Record::Rerouted { to, dots } => {
                    let link = replica.links.entry(*to).or_default();
                    for &dot in dots {
                        link.restore(dot);
                    }
                }
            }
        }
        replica
    }

    /// The values a read of `key` returns here under the register workload.
    pub fn read(&self, key: KeyId) -> Vec<ValueId> {
        self.registers
            .get(&key)
            .map(|r| r.read(self.config.conflict))
            .unwrap_or_default()
    }

    /// `conflict: crdt`: `key`'s counter or set here (`None` before any update of it).
    pub fn crdt(&self, key: KeyId) -> Option<&Crdt> {
        self.crdts.get(&key)
    }

    /// The answer to a client's read of `key`: the register's values, or under the
    /// counter and set workloads the CRDT's total or elements.
    fn read_reply(&self, key: KeyId) -> Reply {
        match self.config.workload {
            Workload::Register => Reply::Read(self.read(key)),
            Workload::Counter => crdt::read_reply(self.crdt(key), true),
            Workload::Set { .. } => crdt::read_reply(self.crdt(key), false),
        }
    }

    /// How many received writes wait for their dependencies.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// How many writes `peer` has not acknowledged.
    pub fn unacknowledged(&self, peer: NodeId) -> usize {
        self.links.get(&peer).map_or(0, Link::len)
    }

    // ----- writes and replication ------------------------------------------------------

    fn on_client_write(
        &mut self,
        ctx: &mut Ctx<'_>,
        request: RequestId,
        key: KeyId,
        value: ValueId,
    ) {
        let context = self
            .registers
            .get(&key)
            .map(|r| r.context().clone())
            .unwrap_or_default();
        self.accept(
            ctx,
            request,
            key,
            Change::Write(value),
            context,
            Reply::Written(value),
        );
    }

    /// `conflict: crdt`: executes an increment, add or remove against this leader's value
    /// of the key, then accepts it like a register write. The CRDT dot is the request's
    /// (unique in a run); the replication dot is this leader's, as for any write.
    fn on_client_crdt_update(&mut self, ctx: &mut Ctx<'_>, request: RequestId, op: &Op) {
        let key = op.key();
        let mut value = self.crdts.remove(&key);
        // A remove resolves here to the adds this leader has applied: those it removes
        // everywhere, and an add it has not seen survives it (add wins).
        let executed = CrdtUpdate::execute(op, crdt::Dot::from(request), &mut value);
        self.crdts.extend(value.map(|v| (key, v)));
        let executed = executed.expect("only increments, adds and removes reach here");
        // A CRDT update supersedes nothing: its context stays empty.
        self.accept(
            ctx,
            request,
            key,
            Change::Crdt(executed),
            VersionVector::default(),
            Reply::Done,
        );
    }

    /// Gives a client's write (register value or CRDT update) this leader's next dot,
    /// makes it durable, applies it, answers the client with `reply` and replicates it.
    fn accept(
        &mut self,
        ctx: &mut Ctx<'_>,
        request: RequestId,
        key: KeyId,
        change: Change,
        context: VersionVector,
        reply: Reply,
    ) {
        let dot = Dot {
            origin: self.id,
            seq: self.next_seq,
        };
        assert!(
            !self.log.contains_key(&dot),
            "{} would reuse its write counter {} ({change:?})",
            self.id,
            dot.seq
        );
        self.next_seq += 1;
        let update = Update {
            dot,
            key,
            change,
            written_at: ctx.now(),
            context,
            dependencies: self.applied.prefix(),
            seen: vec![self.id],
        };
        ctx.count("write_accepted");
        let mut tally = Tally::default();
        let mut outgoing = BTreeMap::new();
        self.store(ctx, update, &mut outgoing, &mut tally, false);
        assert!(
            self.applied.contains(dot),
            "{} did not apply its own write {dot}",
            self.id
        );
        // Durable (the record above) and applied: acknowledge, then replicate.
        ctx.reply(request, reply);
        self.send_new(ctx, outgoing);
        tally.flush(ctx);
    }

    /// Makes a new write durable with its targets, logs it and applies (or holds) it.
    /// `update.seen` must name this leader. With `flood`, it goes to every leader it has
    /// not passed through rather than along the topology.
    fn store(
        &mut self,
        ctx: &mut Ctx<'_>,
        update: Update,
        outgoing: &mut BTreeMap<NodeId, Vec<Dot>>,
        tally: &mut Tally,
        flood: bool,
    ) {
        let targets = if flood {
            ctx.peers().filter(|p| !update.seen.contains(p)).collect()
        } else {
            topology::targets(self.config.topology, self.id, ctx.members(), &update)
        };
        let dot = update.dot;
        for &target in &targets {
            outgoing.entry(target).or_default().push(dot);
        }
        ctx.persist(Record::Update {
            update: update.clone(),
            targets,
        });
        self.log.insert(dot, update);
        self.deliver(dot, tally);
    }

    /// Sends writes over their links for the first time.
    fn send_new(&mut self, ctx: &mut Ctx<'_>, outgoing: BTreeMap<NodeId, Vec<Dot>>) {
        let now = ctx.now();
        for (to, dots) in outgoing {
            let link = self.links.entry(to).or_default();
            let mut batch = Vec::with_capacity(dots.len());
            for dot in dots {
                let copy = self.log[&dot].clone();
                // Checked again on receipt: a copy never goes back where it has been.
                assert!(
                    !copy.seen.contains(&to) && copy.seen.last() == Some(&self.id),
                    "{} would send {dot} to {to}, which it passed through: {:?}",
                    self.id,
                    copy.seen
                );
                link.sent(dot, now);
                batch.push(copy);
            }
            ctx.count_by("update_sent", batch.len() as u64);
            ctx.send(to, Msg::Updates(batch));
        }
        self.arm_retransmit(ctx);
    }

    fn arm_retransmit(&mut self, ctx: &mut Ctx<'_>) {
        if !self.retransmit_armed && self.links.values().any(|l| !l.is_empty()) {
            self.retransmit_armed = true;
            ctx.set_timer(RETRANSMIT_TICK, Timer::Retransmit);
        }
    }

    /// Resends what is due on every link.
    fn retransmit(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        for (&to, link) in &mut self.links {
            let due = link.due(now);
            if due.is_empty() {
                continue;
            }
            ctx.count_by("update_retransmitted", due.len() as u64);
            let batch = due.iter().map(|dot| self.log[dot].clone()).collect();
            ctx.send(to, Msg::Updates(batch));
        }
        self.arm_retransmit(ctx);
    }

    fn on_updates(&mut self, ctx: &mut Ctx<'_>, from: NodeId, updates: Vec<Update>) {
        let mut acks = Vec::with_capacity(updates.len());
        let mut outgoing = BTreeMap::new();
        let mut tally = Tally::default();
        // From a leader that was removed after sending: it will never resend, and the
        // other leaders may not get it along the topology: pass it to all of them.
        let flood = !self.members.contains(&from);
        if flood {
            tally.counts.push("update_from_removed_leader");
        }
        for update in updates {
            acks.push(update.dot);
            self.receive(ctx, update, &mut outgoing, &mut tally, flood);
        }
        // After the records above: what is acknowledged is durable.
        ctx.send(from, Msg::Ack(acks));
        self.send_new(ctx, outgoing);
        tally.flush(ctx);
    }

    /// Takes in one copy of a write from a peer (or a peer's sync reply).
    fn receive(
        &mut self,
        ctx: &mut Ctx<'_>,
        mut update: Update,
        outgoing: &mut BTreeMap<NodeId, Vec<Dot>>,
        tally: &mut Tally,
        flood: bool,
    ) {
        if self.log.contains_key(&update.dot) {
            tally.counts.push("update_duplicate_ignored");
            return;
        }
        if update.seen.contains(&self.id) || update.dot.origin == self.id {
            // It names this leader yet is not in its log: it went round and came back
            // after this leader lost track of it. Passing it on again could loop forever.
            tally.counts.push("update_loop_ignored");
            return;
        }
        if update.dot.seq == 0 {
            tally.counts.push("update_malformed_ignored");
            return;
        }
        update.seen.push(self.id);
        self.store(ctx, update, outgoing, tally, flood);
    }

    fn on_ack(&mut self, ctx: &mut Ctx<'_>, from: NodeId, dots: Vec<Dot>) {
        let now = ctx.now();
        let Some(link) = self.links.get_mut(&from) else {
            return;
        };
        let acked: Vec<Dot> = dots.into_iter().filter(|&d| link.ack(d, now)).collect();
        if !acked.is_empty() {
            ctx.persist(Record::Acked {
                peer: from,
                dots: acked,
            });
        }
    }

    // ----- applying --------------------------------------------------------------------

    /// True when every write `dot` depends on has been applied here (or, once this
    /// leader has caught up after a removal, belongs to a removed leader: see the module
    /// documentation).
    fn ready(&self, dot: Dot) -> bool {
        let update = &self.log[&dot];
        let waive_removed =
            self.started && self.catch_up.is_empty() && self.sync_pending.is_empty();
        update.dependencies.iter().all(|(node, seq)| {
            if waive_removed && node != dot.origin && !self.members.contains(&node) {
                return true;
            }
            // A write cannot depend on itself or on its origin's later writes, whatever a
            // peer claims: such a dependency would hold it forever.
            let needed = if node == dot.origin {
                seq.min(dot.seq - 1)
            } else {
                seq
            };
            self.applied.prefix_of(node) >= needed
        })
    }

    /// Applies a logged write, or holds it until its dependencies are applied.
    fn deliver(&mut self, dot: Dot, tally: &mut Tally) {
        if self.config.causality == Causality::VersionVectors && !self.ready(dot) {
            self.held.insert(dot);
            tally.counts.push("update_held_for_causality");
            return;
        }
        self.apply(dot, tally);
        if !self.held.is_empty() {
            self.release(tally);
        }
    }

    /// Applies every held write whose dependencies are now applied, until none is left.
    fn release(&mut self, tally: &mut Tally) {
        loop {
            let ready: Vec<Dot> = self
                .held
                .iter()
                .copied()
                .filter(|&d| self.ready(d))
                .collect();
            if ready.is_empty() {
                return;
            }
            for dot in ready {
                self.held.remove(&dot);
                tally.counts.push("update_released");
                self.apply(dot, tally);
            }
        }
    }

    fn apply(&mut self, dot: Dot, tally: &mut Tally) {
        let update = &self.log[&dot];
        let outcome = if let Change::Crdt(change) = &update.change {
            // Idempotent: the origin's own update, already executed on its value when it
            // was accepted, changes nothing the second time.
            let mut value = self.crdts.remove(&update.key);
            change.apply(&mut value);
            self.crdts.extend(value.map(|v| (update.key, v)));
            None
        } else {
            let version = update.version().expect("a register write has a version");
            Some(
                self.registers
                    .entry(update.key)
                    .or_default()
                    .apply(version, &update.context),
            )
        };
        let fresh = self.applied.insert(dot);
        assert!(fresh, "{} applied {dot} twice", self.id);
        if dot.origin != self.id {
            tally.counts.push("update_applied");
            tally.applied_remote.push(update.written_at);
        }
        let Some(outcome) = outcome else {
            return;
        };
        if outcome.superseded {
            tally.counts.push("update_already_superseded");
        }
        if outcome.concurrent > 0 {
            tally.counts.push("conflict_detected");
        }
        if outcome.lost_on_timestamp {
            tally.counts.push("lww_newer_write_lost_on_timestamp");
        }
    }

    // ----- joining ---------------------------------------------------------------------

    /// Asks the peers a joining leader still needs, and those it has not caught up with,
    /// for the writes it lacks.
    fn request_sync(&mut self, ctx: &mut Ctx<'_>) {
        if self.sync_pending.is_empty() && self.catch_up.is_empty() {
            return;
        }
        let have = self.log_prefix();
        for &peer in self.sync_pending.union(&self.catch_up) {
            ctx.send(peer, Msg::SyncRequest { have: have.clone() });
        }
        if !self.sync_armed {
            self.sync_armed = true;
            ctx.set_timer(SYNC_RETRY, Timer::Sync);
        }
    }

    /// Per origin, the counter up to which this leader's log holds every write.
    fn log_prefix(&self) -> VersionVector {
        let mut have = VersionVector::default();
        let mut origin = None;
        let mut next = 1;
        for dot in self.log.keys() {
            if origin != Some(dot.origin) {
                origin = Some(dot.origin);
                next = 1;
            }
            if dot.seq == next {
                have.add(*dot);
                next += 1;
            }
        }
        have
    }

    fn on_sync_reply(&mut self, ctx: &mut Ctx<'_>, from: NodeId, updates: Vec<Update>) {
        let joining = self.sync_pending.contains(&from);
        let catching_up = self.catch_up.contains(&from);
        if !joining && !catching_up {
            return;
        }
        let mut outgoing = BTreeMap::new();
        let mut tally = Tally::default();
        for update in updates {
            // Passed on like any write received, so a ring that now runs through this
            // leader still carries the writes its predecessor sends here first.
            self.receive(ctx, update, &mut outgoing, &mut tally, false);
        }
        if joining {
            self.sync_pending.remove(&from);
            ctx.persist(Record::Synced { peer: from });
            if self.sync_pending.is_empty() {
                ctx.count("join_synced");
            }
        }
        if catching_up {
            self.catch_up.remove(&from);
        }
        self.settle(ctx, &mut tally);
        self.send_new(ctx, outgoing);
        tally.flush(ctx);
    }

    // ----- membership ------------------------------------------------------------------

    /// Looks at the members: on a change, rewires and asks for what it must catch up
    /// with (see the module documentation).
    fn refresh(&mut self, ctx: &mut Ctx<'_>) {
        if self.observe_members(ctx) {
            self.request_sync(ctx);
        }
    }

    /// [`Replica::refresh`] but for the catch-up requests; true when the members changed.
    fn observe_members(&mut self, ctx: &mut Ctx<'_>) -> bool {
        if self.members.as_slice() == ctx.members() {
            return false;
        }
        if self.members.is_empty() {
            // Not started through `on_start` (a handler test): nothing to compare with.
            self.members = ctx.members().to_vec();
            return false;
        }
        let old = std::mem::replace(&mut self.members, ctx.members().to_vec());
        ctx.count("membership_changed");
        let removed = old.iter().any(|m| !self.members.contains(m));
        let members = &self.members;
        let joining = !self.sync_pending.is_empty();
        self.sync_pending.retain(|p| members.contains(p));
        if joining && self.sync_pending.is_empty() {
            ctx.count("join_synced");
        }
        self.catch_up.retain(|p| members.contains(p));
        if removed {
            ctx.count("catch_up_started");
            self.catch_up = ctx.peers().collect();
        }
        self.reroute(ctx, &old);
        // Peers learn the members only at their own next event: the catch-up requests
        // wake every peer; after an addition, a note does.
        if self.catch_up.is_empty() {
            let peers: Vec<NodeId> = ctx.peers().collect();
            for peer in peers {
                if !self.sync_pending.contains(&peer) {
                    ctx.send(peer, Msg::Members);
                }
            }
        }
        let mut tally = Tally::default();
        self.settle(ctx, &mut tally);
        tally.flush(ctx);
        true
    }

    /// Once caught up (or at once, when there is nothing to catch up with): records the
    /// members as settled and stops waiting for writes of removed leaders.
    fn settle(&mut self, ctx: &mut Ctx<'_>, tally: &mut Tally) {
        if !self.catch_up.is_empty() || self.members.is_empty() {
            return;
        }
        ctx.persist(Record::Members {
            members: self.members.clone(),
        });
        if !self.held.is_empty() {
            self.release(tally);
        }
    }

    /// Drops the links to leaders that are no longer members, passing the writes they had
    /// not acknowledged to the leaders that replace them as next hop (the targets of the
    /// write among the current members that were not its targets among `old`).
    fn reroute(&mut self, ctx: &mut Ctx<'_>, old: &[NodeId]) {
        let gone: Vec<NodeId> = self
            .links
            .keys()
            .copied()
            .filter(|p| !self.members.contains(p))
            .collect();
        let mut outgoing: BTreeMap<NodeId, Vec<Dot>> = BTreeMap::new();
        for peer in gone {
            let link = self.links.remove(&peer).expect("listed above");
            for dot in link.pending() {
                let update = &self.log[&dot];
                let before = topology::targets(self.config.topology, self.id, old, update);
                let after = topology::targets(self.config.topology, self.id, &self.members, update);
                for to in after {
                    let queued = self.links.get(&to).is_some_and(|l| l.contains(dot));
                    if !before.contains(&to) && !queued {
                        outgoing.entry(to).or_default().push(dot);
                    }
                }
            }
        }
        if outgoing.is_empty() {
            return;
        }
        for (&to, dots) in &outgoing {
            ctx.count_by("update_rerouted", dots.len() as u64);
            ctx.persist(Record::Rerouted {
                to,
                dots: dots.clone(),
            });
        }
        self.send_new(ctx, outgoing);
    }
}

impl Node for Replica {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;
    type Token = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>, start: Start) {
        self.started = true;
        match start {
            Start::Boot => {
                self.members = ctx.members().to_vec();
                ctx.persist(Record::Members {
                    members: self.members.clone(),
                });
            }
            Start::Restart => {
                // Changes made while this leader was down; then links to leaders that
                // left (restored from the records) go. Catch-up requests go below.
                self.observe_members(ctx);
                let members = self.members.clone();
                self.reroute(ctx, &members);
                if self.catch_up.is_empty() && !self.held.is_empty() {
                    // Writes held for a removed leader's while replaying the records.
                    let mut tally = Tally::default();
                    self.release(&mut tally);
                    tally.flush(ctx);
                }
                ctx.count("restarted");
                // Peers back off while this leader is down: tell them to resend now.
                ctx.broadcast(Msg::Restarted);
                self.retransmit(ctx);
                self.request_sync(ctx);
            }
            Start::Join => {
                let peers: Vec<NodeId> = ctx.peers().collect();
                ctx.count("joined");
                ctx.persist(Record::Joined {
                    peers: peers.clone(),
                });
                self.members = ctx.members().to_vec();
                ctx.persist(Record::Members {
                    members: self.members.clone(),
                });
                self.sync_pending = peers.into_iter().collect();
                self.request_sync(ctx);
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        self.refresh(ctx);
        match msg {
            Msg::Updates(updates) => self.on_updates(ctx, from, updates),
            Msg::Ack(dots) => self.on_ack(ctx, from, dots),
            Msg::Restarted => {
                if let Some(link) = self.links.get_mut(&from) {
                    link.rewind();
                }
                self.retransmit(ctx);
            }
            Msg::SyncRequest { have } => {
                ctx.count("sync_served");
                let missing = self
                    .log
                    .values()
                    .filter(|u| !have.covers(u.dot))
                    .cloned()
                    .collect();
                ctx.send(from, Msg::SyncReply(missing));
            }
            Msg::SyncReply(updates) => self.on_sync_reply(ctx, from, updates),
            // Handled by the refresh above.
            Msg::Members => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        self.refresh(ctx);
        match timer {
            Timer::Retransmit => {
                self.retransmit_armed = false;
                self.retransmit(ctx);
            }
            Timer::Sync => {
                self.sync_armed = false;
                self.request_sync(ctx);
            }
        }
    }

    fn on_request(&mut self, ctx: &mut Context<'_, Self>, request: Request<()>) {
        self.refresh(ctx);
        if !self.sync_pending.is_empty() {
            // A joining leader has not got the cluster's writes yet.
            ctx.count("request_refused_joining");
            return ctx.reply(request.id, Reply::Fail);
        }
        match request.op {
            Op::Increment { .. } | Op::Add { .. } | Op::Remove { .. } => {
                if self.config.conflict == Conflict::Crdt {
                    self.on_client_crdt_update(ctx, request.id, &request.op);
                } else {
                    // Scenario validation pairs the counter and set workloads with
                    // `conflict: crdt`; a register cannot take them: certainly not done.
                    ctx.reply(request.id, Reply::Fail);
                }
            }
            Op::Read { key } => ctx.reply(request.id, self.read_reply(key)),
            // Row-based replication: the value this leader computed (and told the client)
            // is what the others store, so nondeterministic writes replicate faithfully.
            Op::Write { key, value, .. } => self.on_client_write(ctx, request.id, key, value),
        }
    }

    fn final_state(&self) -> Vec<(KeyId, Vec<ValueId>)> {
        let keys = (0..self.config.keys).map(KeyId);
        match self.config.workload {
            Workload::Register => keys.map(|k| (k, self.read(k))).collect(),
            // Counters are numbers: they are in `final_counters`.
            Workload::Counter => Vec::new(),
            Workload::Set { .. } => keys
                .map(|k| {
                    let elements = match self.crdt(k) {
                        Some(Crdt::Set(set)) => set.elements(),
                        _ => Vec::new(),
                    };
                    (k, elements)
                })
                .collect(),
        }
    }

    fn final_counters(&self) -> Vec<(KeyId, i64)> {
        if self.config.workload != Workload::Counter {
            return Vec::new();
        }
        (0..self.config.keys)
            .map(KeyId)
            .map(|k| match self.crdt(k) {
                Some(Crdt::Counter(counter)) => (k, counter.total()),
                _ => (k, 0),
            })
            .collect()
    }

    fn is_quiet(&self) -> bool {
        self.held.is_empty()
            && self.sync_pending.is_empty()
            && self.catch_up.is_empty()
            && self.links.values().all(Link::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use repsim_sim::testing::TestContext;
    use repsim_sim::{Effect, ProcessId};

    use super::*;
    use crate::config::{Conflict, Topology};
    use crate::version::VersionVector;

    fn config(topology: Topology, causality: Causality) -> Config {
        Config {
            topology,
            conflict: Conflict::Siblings,
            causality,
            home_leader: false,
            keys: 4,
            reads_from: "any".to_owned(),
            workload: repsim_sim::Workload::Register,
        }
    }

    fn update(
        origin: u16,
        seq: u64,
        key: u32,
        value: u32,
        deps: &[(u16, u64)],
        seen: &[u16],
    ) -> Update {
        let mut dependencies = VersionVector::default();
        for &(node, seq) in deps {
            dependencies.add(Dot {
                origin: NodeId(node),
                seq,
            });
        }
        Update {
            dot: Dot {
                origin: NodeId(origin),
                seq,
            },
            key: KeyId(key),
            change: Change::Write(ValueId::generated(value)),
            written_at: SimTime::ZERO,
            context: VersionVector::default(),
            dependencies,
            seen: seen.iter().map(|&n| NodeId(n)).collect(),
        }
    }

    fn request(key: u32, write: Option<u32>) -> Request<()> {
        Request {
            id: RequestId {
                process: ProcessId(0),
                invoke: 0,
            },
            op: match write {
                Some(value) => Op::Write {
                    key: KeyId(key),
                    value: ValueId::generated(value),
                    nondeterministic: false,
                },
                None => Op::Read { key: KeyId(key) },
            },
            token: (),
        }
    }

    /// The messages sent, in order.
    fn sent(effects: &[Effect<Replica>]) -> Vec<(NodeId, Msg)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send { to, msg } => Some((*to, msg.clone())),
                _ => None,
            })
            .collect()
    }

    fn persisted(effects: &[Effect<Replica>]) -> Vec<Record> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Persist(record) => Some(record.clone()),
                _ => None,
            })
            .collect()
    }

    fn counted(effects: &[Effect<Replica>], event: &str) -> u64 {
        effects
            .iter()
            .map(|e| match e {
                Effect::Count(name, n) if *name == event => *n,
                _ => 0,
            })
            .sum()
    }

    fn values(ids: &[u32]) -> Vec<ValueId> {
        ids.iter().map(|&i| ValueId::generated(i)).collect()
    }

    #[test]
    fn a_write_is_durable_before_it_is_acknowledged_then_sent_to_every_peer() {
        let mut replica =
            Replica::recover(config(Topology::AllToAll, Causality::None), NodeId(0), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(0), 3);
        replica.on_request(&mut test.ctx(), request(1, Some(7)));
        let effects = test.take_effects();
        let persist = effects.iter().position(|e| matches!(e, Effect::Persist(_)));
        let reply = effects.iter().position(|e| {
            matches!(
                e,
                Effect::Reply {
                    reply: Reply::Written(_),
                    ..
                }
            )
        });
        assert!(persist.unwrap() < reply.unwrap(), "{effects:?}");
        let targets: Vec<NodeId> = sent(&effects).into_iter().map(|(to, _)| to).collect();
        assert_eq!(targets, vec![NodeId(1), NodeId(2)]);
        assert_eq!(replica.read(KeyId(1)), values(&[7]));
        assert!(!replica.is_quiet(), "unacknowledged writes are pending");
        replica.on_message(
            &mut test.ctx(),
            NodeId(1),
            Msg::Ack(vec![Dot {
                origin: NodeId(0),
                seq: 1,
            }]),
        );
        replica.on_message(
            &mut test.ctx(),
            NodeId(2),
            Msg::Ack(vec![Dot {
                origin: NodeId(0),
                seq: 1,
            }]),
        );
        assert!(replica.is_quiet());
    }

    #[test]
    fn a_leader_ignores_a_copy_that_names_it() {
        let mut replica =
            Replica::recover(config(Topology::Circular, Causality::None), NodeId(1), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(1), 3);
        // A copy that claims to have passed through n1 already.
        let looped = update(0, 1, 0, 5, &[], &[0, 1, 2]);
        replica.on_message(&mut test.ctx(), NodeId(0), Msg::Updates(vec![looped]));
        let effects = test.take_effects();
        assert_eq!(counted(&effects, "update_loop_ignored"), 1);
        assert!(
            persisted(&effects).is_empty(),
            "nothing stored: {effects:?}"
        );
        // Acknowledged, so the sender stops resending, and passed on to nobody.
        assert_eq!(
            sent(&effects),
            vec![(
                NodeId(0),
                Msg::Ack(vec![Dot {
                    origin: NodeId(0),
                    seq: 1
                }])
            )]
        );
        assert!(replica.read(KeyId(0)).is_empty());
    }

    #[test]
    fn a_ring_forwards_each_write_once_and_never_back_to_its_origin() {
        let mut n1 = Replica::recover(config(Topology::Circular, Causality::None), NodeId(1), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(1), 3);
        let write = update(0, 1, 0, 5, &[], &[0]);
        n1.on_message(
            &mut test.ctx(),
            NodeId(0),
            Msg::Updates(vec![write.clone()]),
        );
        let effects = test.take_effects();
        let forwarded: Vec<(NodeId, Msg)> = sent(&effects)
            .into_iter()
            .filter(|(to, _)| *to == NodeId(2))
            .collect();
        let Msg::Updates(copies) = &forwarded[0].1 else {
            panic!("expected updates, got {forwarded:?}");
        };
        assert_eq!(copies[0].seen, vec![NodeId(0), NodeId(1)]);
        // A duplicate (a retransmission) is acknowledged but not forwarded again.
        n1.on_message(&mut test.ctx(), NodeId(0), Msg::Updates(vec![write]));
        let effects = test.take_effects();
        assert_eq!(counted(&effects, "update_duplicate_ignored"), 1);
        assert_eq!(sent(&effects).len(), 1, "only the ack: {effects:?}");
        // n2, the last before the origin, stores the write and passes it to nobody.
        let mut n2 = Replica::recover(config(Topology::Circular, Causality::None), NodeId(2), &[]);
        let mut test2 = TestContext::<Replica>::new(NodeId(2), 3);
        n2.on_message(&mut test2.ctx(), NodeId(1), Msg::Updates(copies.clone()));
        let effects = test2.take_effects();
        assert_eq!(sent(&effects).len(), 1, "only the ack: {effects:?}");
        assert!(n2.is_quiet());
    }

    #[test]
    fn causal_delivery_holds_a_write_until_its_dependency_arrives() {
        let question = update(0, 1, 0, 1, &[], &[0]);
        let answer = update(0, 2, 1, 2, &[(0, 1)], &[0]);
        for causality in [Causality::None, Causality::VersionVectors] {
            let mut replica =
                Replica::recover(config(Topology::AllToAll, causality), NodeId(2), &[]);
            let mut test = TestContext::<Replica>::new(NodeId(2), 3);
            replica.on_message(
                &mut test.ctx(),
                NodeId(0),
                Msg::Updates(vec![answer.clone()]),
            );
            let held = counted(&test.take_effects(), "update_held_for_causality");
            if causality == Causality::VersionVectors {
                assert_eq!((held, replica.held()), (1, 1));
                assert!(
                    replica.read(KeyId(1)).is_empty(),
                    "the answer waits for its question"
                );
                assert!(!replica.is_quiet());
            } else {
                assert_eq!(held, 0);
                assert_eq!(replica.read(KeyId(1)), values(&[2]), "applied on arrival");
            }
            replica.on_message(
                &mut test.ctx(),
                NodeId(0),
                Msg::Updates(vec![question.clone()]),
            );
            assert_eq!(replica.read(KeyId(0)), values(&[1]));
            assert_eq!(replica.read(KeyId(1)), values(&[2]));
            assert!(replica.is_quiet(), "{causality:?}");
        }
    }

    #[test]
    fn concurrent_writes_become_siblings_and_a_local_write_replaces_them() {
        let mut replica =
            Replica::recover(config(Topology::AllToAll, Causality::None), NodeId(0), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(0), 3);
        replica.on_message(
            &mut test.ctx(),
            NodeId(1),
            Msg::Updates(vec![update(1, 1, 0, 1, &[], &[1])]),
        );
        replica.on_message(
            &mut test.ctx(),
            NodeId(2),
            Msg::Updates(vec![update(2, 1, 0, 2, &[], &[2])]),
        );
        assert_eq!(counted(&test.take_effects(), "conflict_detected"), 1);
        assert_eq!(replica.read(KeyId(0)), values(&[1, 2]));
        replica.on_request(&mut test.ctx(), request(0, Some(3)));
        assert_eq!(replica.read(KeyId(0)), values(&[3]));
        let Some(Msg::Updates(copies)) = sent(&test.take_effects())
            .into_iter()
            .map(|(_, m)| m)
            .next()
        else {
            panic!("the write was not sent");
        };
        assert_eq!(
            copies[0].context,
            VersionVector::from([(NodeId(1), 1), (NodeId(2), 1)]),
            "the write supersedes both siblings"
        );
    }

    #[test]
    fn a_restart_resends_exactly_what_was_not_acknowledged() {
        let cfg = config(Topology::AllToAll, Causality::None);
        let mut replica = Replica::recover(cfg.clone(), NodeId(0), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(0), 3);
        replica.on_request(&mut test.ctx(), request(0, Some(1)));
        replica.on_request(&mut test.ctx(), request(1, Some(2)));
        replica.on_message(
            &mut test.ctx(),
            NodeId(1),
            Msg::Ack(vec![
                Dot {
                    origin: NodeId(0),
                    seq: 1,
                },
                Dot {
                    origin: NodeId(0),
                    seq: 2,
                },
            ]),
        );
        replica.on_message(
            &mut test.ctx(),
            NodeId(2),
            Msg::Ack(vec![Dot {
                origin: NodeId(0),
                seq: 1,
            }]),
        );
        let storage = persisted(&test.take_effects());
        // Crash; restart from the records.
        let mut restarted = Replica::recover(cfg, NodeId(0), &storage);
        assert_eq!(restarted.read(KeyId(1)), values(&[2]));
        assert_eq!(
            (
                restarted.unacknowledged(NodeId(1)),
                restarted.unacknowledged(NodeId(2))
            ),
            (0, 1)
        );
        restarted.on_start(&mut test.ctx(), Start::Restart);
        let resent: Vec<(NodeId, Msg)> = sent(&test.take_effects())
            .into_iter()
            .filter(|(_, m)| matches!(m, Msg::Updates(_)))
            .collect();
        assert_eq!(resent.len(), 1);
        let (to, Msg::Updates(copies)) = &resent[0] else {
            unreachable!()
        };
        assert_eq!((*to, copies[0].dot.seq), (NodeId(2), 2));
        // The counter continues after the last durable write.
        restarted.on_request(&mut test.ctx(), request(2, Some(3)));
        assert!(
            sent(&test.take_effects())
                .iter()
                .any(|(_, m)| matches!(m, Msg::Updates(u) if u[0].dot.seq == 3))
        );
    }

    #[test]
    fn unacknowledged_writes_are_retransmitted_on_the_timer() {
        let mut replica =
            Replica::recover(config(Topology::AllToAll, Causality::None), NodeId(0), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(0), 2);
        replica.on_request(&mut test.ctx(), request(0, Some(1)));
        test.take_effects();
        test.now = SimTime::from_micros(100_000);
        replica.on_timer(&mut test.ctx(), Timer::Retransmit);
        let effects = test.take_effects();
        assert_eq!(counted(&effects, "update_retransmitted"), 1);
        assert!(
            effects.iter().any(|e| matches!(e, Effect::Timer { .. })),
            "rearmed while pending"
        );
        replica.on_message(
            &mut test.ctx(),
            NodeId(1),
            Msg::Ack(vec![Dot {
                origin: NodeId(0),
                seq: 1,
            }]),
        );
        test.now = SimTime::from_micros(2_000_000);
        replica.on_timer(&mut test.ctx(), Timer::Retransmit);
        assert!(
            test.take_effects()
                .iter()
                .all(|e| !matches!(e, Effect::Send { .. } | Effect::Timer { .. }))
        );
    }

    // ----- conflict: crdt ----------------------------------------------------------------

    fn crdt_config(topology: Topology, causality: Causality, workload: Workload) -> Config {
        Config {
            conflict: Conflict::Crdt,
            workload,
            ..config(topology, causality)
        }
    }

    const SET: Workload = Workload::Set { elements: 4 };

    /// A client request with history position `invoke` (the CRDT dot).
    fn crdt_request(invoke: u32, op: Op) -> Request<()> {
        Request {
            id: RequestId {
                process: ProcessId(0),
                invoke,
            },
            op,
            token: (),
        }
    }

    fn increment(key: u32, amount: u32) -> Op {
        Op::Increment {
            key: KeyId(key),
            amount,
        }
    }

    fn add(key: u32, element: u32) -> Op {
        Op::Add {
            key: KeyId(key),
            element: ValueId::generated(element),
        }
    }

    fn remove(key: u32, element: u32) -> Op {
        Op::Remove {
            key: KeyId(key),
            element: ValueId::generated(element),
        }
    }

    fn replies(effects: &[Effect<Replica>]) -> Vec<Reply> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Reply { reply, .. } => Some(reply.clone()),
                _ => None,
            })
            .collect()
    }

    /// The updates sent to `to`, in order.
    fn updates_to(effects: &[Effect<Replica>], to: NodeId) -> Vec<Update> {
        sent(effects)
            .into_iter()
            .filter(|(t, _)| *t == to)
            .flat_map(|(_, msg)| match msg {
                Msg::Updates(updates) => updates,
                _ => Vec::new(),
            })
            .collect()
    }

    fn read(replica: &mut Replica, test: &mut TestContext<Replica>, key: u32) -> Reply {
        replica.on_request(
            &mut test.ctx(),
            crdt_request(999, Op::Read { key: KeyId(key) }),
        );
        let answer = replies(&test.take_effects());
        assert_eq!(answer.len(), 1, "{answer:?}");
        answer[0].clone()
    }

    #[test]
    fn an_increment_is_durable_before_done_then_replicated_and_applied_once() {
        let cfg = crdt_config(Topology::AllToAll, Causality::None, Workload::Counter);
        let mut n0 = Replica::recover(cfg.clone(), NodeId(0), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(0), 3);
        n0.on_request(&mut test.ctx(), crdt_request(7, increment(1, 3)));
        let effects = test.take_effects();
        let persist = effects.iter().position(|e| matches!(e, Effect::Persist(_)));
        let done = effects.iter().position(|e| {
            matches!(
                e,
                Effect::Reply {
                    reply: Reply::Done,
                    ..
                }
            )
        });
        assert!(persist.unwrap() < done.unwrap(), "{effects:?}");
        assert_eq!(counted(&effects, "write_accepted"), 1);
        assert_eq!(read(&mut n0, &mut test, 1), Reply::Count(3));
        assert_eq!(
            read(&mut n0, &mut test, 0),
            Reply::Count(0),
            "never incremented"
        );
        let copies = updates_to(&effects, NodeId(1));
        assert_eq!(copies, updates_to(&effects, NodeId(2)));
        assert_eq!(
            copies[0].change,
            Change::Crdt(CrdtUpdate::Increment {
                dot: crdt::Dot(7),
                amount: 3
            })
        );
        assert_eq!(
            copies[0].context,
            VersionVector::default(),
            "a CRDT update supersedes nothing"
        );
        // The receiver applies it, and a retransmitted copy adds nothing.
        let mut n1 = Replica::recover(cfg, NodeId(1), &[]);
        let mut test1 = TestContext::<Replica>::new(NodeId(1), 3);
        for _ in 0..2 {
            n1.on_message(&mut test1.ctx(), NodeId(0), Msg::Updates(copies.clone()));
        }
        assert_eq!(
            counted(&test1.take_effects(), "update_duplicate_ignored"),
            1
        );
        assert_eq!(read(&mut n1, &mut test1, 1), Reply::Count(3));
        let totals = vec![(KeyId(0), 0), (KeyId(1), 3), (KeyId(2), 0), (KeyId(3), 0)];
        assert_eq!(n0.final_counters(), totals);
        assert_eq!(n1.final_counters(), totals);
        assert!(n1.final_state().is_empty(), "counters are not registers");
    }

    #[test]
    fn applying_a_crdt_update_twice_changes_nothing() {
        // The same client update reaching a leader under two replication dots (which the
        // protocol never does) still counts once: the CRDT dot is the request's.
        let cfg = crdt_config(Topology::AllToAll, Causality::None, Workload::Counter);
        let mut n2 = Replica::recover(cfg, NodeId(2), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(2), 3);
        let change = Change::Crdt(CrdtUpdate::Increment {
            dot: crdt::Dot(4),
            amount: 5,
        });
        for origin in [0, 1] {
            let mut copy = update(origin, 1, 0, 1, &[], &[origin]);
            copy.change = change.clone();
            n2.on_message(&mut test.ctx(), NodeId(origin), Msg::Updates(vec![copy]));
        }
        assert_eq!(read(&mut n2, &mut test, 0), Reply::Count(5));
    }

    #[test]
    fn an_add_concurrent_with_a_remove_survives_it_everywhere() {
        let cfg = crdt_config(Topology::AllToAll, Causality::None, SET);
        let mut n0 = Replica::recover(cfg.clone(), NodeId(0), &[]);
        let mut n1 = Replica::recover(cfg, NodeId(1), &[]);
        let mut t0 = TestContext::<Replica>::new(NodeId(0), 2);
        let mut t1 = TestContext::<Replica>::new(NodeId(1), 2);
        // n0 adds e1; n1 gets it.
        n0.on_request(&mut t0.ctx(), crdt_request(1, add(0, 1)));
        let first_add = updates_to(&t0.take_effects(), NodeId(1));
        n1.on_message(&mut t1.ctx(), NodeId(0), Msg::Updates(first_add));
        t1.take_effects();
        // Concurrently: n1 removes e1 (it saw the first add), n0 adds e1 again.
        n1.on_request(&mut t1.ctx(), crdt_request(2, remove(0, 1)));
        let removal = updates_to(&t1.take_effects(), NodeId(0));
        assert_eq!(
            removal[0].change,
            Change::Crdt(CrdtUpdate::Remove {
                dots: vec![crdt::Dot(1)]
            }),
            "a remove carries the adds it observed"
        );
        assert_eq!(read(&mut n1, &mut t1, 0), Reply::Read(Vec::new()));
        n0.on_request(&mut t0.ctx(), crdt_request(3, add(0, 1)));
        let second_add = updates_to(&t0.take_effects(), NodeId(1));
        n0.on_message(&mut t0.ctx(), NodeId(1), Msg::Updates(removal));
        n1.on_message(&mut t1.ctx(), NodeId(0), Msg::Updates(second_add));
        let both = Reply::Read(values(&[1]));
        assert_eq!(read(&mut n0, &mut t0, 0), both, "the unseen add wins");
        assert_eq!(read(&mut n1, &mut t1, 0), both);
        assert_eq!(n0.final_state(), n1.final_state());
        // A remove that saw both adds removes the element everywhere.
        n0.on_request(&mut t0.ctx(), crdt_request(4, remove(0, 1)));
        let removal = updates_to(&t0.take_effects(), NodeId(1));
        n1.on_message(&mut t1.ctx(), NodeId(0), Msg::Updates(removal));
        assert_eq!(read(&mut n1, &mut t1, 0), Reply::Read(Vec::new()));
        assert_eq!(n0.final_state(), n1.final_state());
        assert_eq!(n0.final_state()[0], (KeyId(0), Vec::new()));
        assert!(n0.final_counters().is_empty(), "sets are not counters");
    }

    #[test]
    fn a_remove_that_overtakes_the_add_it_saw_still_removes_it() {
        let cfg = crdt_config(Topology::AllToAll, Causality::None, SET);
        let mut n0 = Replica::recover(cfg.clone(), NodeId(0), &[]);
        let mut t0 = TestContext::<Replica>::new(NodeId(0), 3);
        n0.on_request(&mut t0.ctx(), crdt_request(1, add(2, 3)));
        n0.on_request(&mut t0.ctx(), crdt_request(2, remove(2, 3)));
        let copies = updates_to(&t0.take_effects(), NodeId(2));
        assert_eq!(copies.len(), 2);
        for causality in [Causality::None, Causality::VersionVectors] {
            let cfg = Config {
                causality,
                ..cfg.clone()
            };
            let mut n2 = Replica::recover(cfg, NodeId(2), &[]);
            let mut t2 = TestContext::<Replica>::new(NodeId(2), 3);
            // The remove arrives first.
            n2.on_message(
                &mut t2.ctx(),
                NodeId(0),
                Msg::Updates(vec![copies[1].clone()]),
            );
            let held = counted(&t2.take_effects(), "update_held_for_causality");
            assert_eq!(held, u64::from(causality == Causality::VersionVectors));
            assert_eq!(read(&mut n2, &mut t2, 2), Reply::Read(Vec::new()));
            n2.on_message(
                &mut t2.ctx(),
                NodeId(0),
                Msg::Updates(vec![copies[0].clone()]),
            );
            assert_eq!(
                read(&mut n2, &mut t2, 2),
                Reply::Read(Vec::new()),
                "{causality:?}: the late add was removed"
            );
            assert!(n2.is_quiet(), "{causality:?}");
            assert_eq!(n2.final_state(), n0.final_state());
        }
    }

    #[test]
    fn a_restarted_leader_rebuilds_its_counters_and_sets_from_its_records() {
        for workload in [Workload::Counter, SET] {
            for causality in [Causality::None, Causality::VersionVectors] {
                let cfg = crdt_config(Topology::Circular, causality, workload);
                let mut n1 = Replica::recover(cfg.clone(), NodeId(1), &[]);
                let mut test = TestContext::<Replica>::new(NodeId(1), 3);
                let mut storage = Vec::new();
                let mut invoke = 0;
                for i in 0..12u32 {
                    invoke += 1;
                    if i % 3 == 2 {
                        // A write of n0's, received (and forwarded round the ring).
                        let mut copy = update(0, u64::from(i / 3 + 1), 0, 1, &[], &[0]);
                        copy.key = KeyId(i % 2);
                        let op = match workload {
                            Workload::Counter => increment(i % 2, 2),
                            _ => add(i % 2, 1 + i % 4),
                        };
                        let mut value = None;
                        let change =
                            CrdtUpdate::execute(&op, crdt::Dot(invoke), &mut value).unwrap();
                        copy.change = Change::Crdt(change);
                        n1.on_message(&mut test.ctx(), NodeId(0), Msg::Updates(vec![copy]));
                    } else {
                        let op = match workload {
                            Workload::Counter => increment(i % 2, 1 + i % 4),
                            _ if i % 4 == 3 => remove(i % 2, 1 + (i + 2) % 4),
                            _ => add(i % 2, 1 + i % 4),
                        };
                        n1.on_request(&mut test.ctx(), crdt_request(invoke, op));
                    }
                    storage.extend(persisted(&test.take_effects()));
                }
                let what = format!("{workload:?} {causality:?}");
                // Crash; restart from the records.
                let mut restarted = Replica::recover(cfg, NodeId(1), &storage);
                assert_eq!(restarted.final_counters(), n1.final_counters(), "{what}");
                assert_eq!(restarted.final_state(), n1.final_state(), "{what}");
                for key in 0..4 {
                    assert_eq!(restarted.crdt(KeyId(key)), n1.crdt(KeyId(key)), "{what}");
                }
                if workload == Workload::Counter {
                    let total: i64 = n1.final_counters().iter().map(|(_, n)| n).sum();
                    assert_eq!(total, 4 * 2 + [1, 2, 4, 1, 3, 4, 2, 3].iter().sum::<i64>());
                } else {
                    assert!(n1.final_state().iter().any(|(_, es)| !es.is_empty()));
                }
                // It resends what the ring's next leader has not acknowledged, and its
                // write counter continues after the last durable write.
                restarted.on_start(&mut test.ctx(), Start::Restart);
                assert_eq!(updates_to(&test.take_effects(), NodeId(2)).len(), 12);
                restarted.on_request(&mut test.ctx(), crdt_request(100, increment(3, 1)));
                let fresh = updates_to(&test.take_effects(), NodeId(2));
                assert_eq!(fresh[0].dot.seq, 9, "{what}");
            }
        }
    }

    #[test]
    fn without_crdt_values_counter_and_set_updates_fail() {
        let mut replica =
            Replica::recover(config(Topology::AllToAll, Causality::None), NodeId(0), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(0), 3);
        for op in [increment(0, 1), add(0, 1), remove(0, 1)] {
            replica.on_request(&mut test.ctx(), crdt_request(1, op));
            let effects = test.take_effects();
            assert_eq!(replies(&effects), vec![Reply::Fail]);
            assert!(persisted(&effects).is_empty() && sent(&effects).is_empty());
        }
    }
}
