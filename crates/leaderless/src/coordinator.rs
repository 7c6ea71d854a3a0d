//! The coordinator: the node a client reached runs its operation against the key's
//! replicas and answers it.
//!
//! **Writes.** The coordinator versions the write (`lww`: its local clock; `version-
//! vectors`: a new dot of the coordinating home replica, see [`crate::version`]), applies
//! it at once if it is a home replica, and sends it to the other home replicas, which
//! make it durable and acknowledge. With `w` acknowledgements (its own included) it
//! answers `ok`. A home replica that has not acknowledged within the replica timeout is
//! suspected; with a sloppy quorum the coordinator then sends the write, with a hint
//! naming the home replica, to the next node on the key's preference list that is not a
//! home replica, and that node's acknowledgement counts towards `w` (suspected home
//! replicas are replaced at once). With hinted handoff and a strict quorum (Cassandra's
//! way), the coordinator keeps a hint itself for every home replica that missed the
//! write; such hints do not count towards `w`. The operation stays open after the answer
//! until every home replica (or its stand-in) has the write, or until the deadline.
//!
//! **Reads** go to every home replica (the coordinator answers for itself if it is one);
//! after `r` answers the coordinator merges them (`lww`: the largest stamp; version
//! vectors: every sibling no other covers) and answers. With a sloppy quorum, fallbacks
//! answer for suspected or silent home replicas from the hints they hold, and count
//! towards `r`: a sloppy read and a sloppy write need not overlap. With read repair, the
//! coordinator waits for the remaining answers (until the deadline) and sends the merged
//! copy to every home replica that answered with an older one.
//!
//! **Outcomes (SPEC §3).** An operation that cannot reach a quorum among the nodes the
//! coordinator does not suspect is refused at once with `fail`: nothing was sent, so it
//! certainly did not happen. At the deadline (85% of the client timeout) a write short of
//! `w` acknowledgements answers `info` (`Reply::Unknown`): it may be on some replicas and
//! become visible later. A read short of `r` answers `fail`, since a read changes
//! nothing.
//!
//! A `nondeterministic` write (SPEC §2) is computed once, by the coordinator, and the
//! replicas store its result: nothing is re-executed, so it behaves like any other write.
//!
//! **CRDT updates** (`conflict: "crdt"`, see [`crate::version`]). An increment or an add
//! is written like a register write whose copy is a delta: the CRDT state holding only
//! the update's dot, named by the client request's invocation (so a resent request is
//! idempotent). Every path above carries it, and replicas merge it into their copies; a
//! coordinator answers `Reply::Done` after `w` durable copies. A remove is a read, then a
//! write: the coordinator reads the set like a client read (`r` answers merged, with
//! stand-ins under a sloppy quorum, and read repair afterwards), takes the adds of the
//! element that the merged copy holds and not yet tombstoned, and writes a delta
//! tombstoning exactly those dots. So a remove removes what the replicas it read had
//! seen, and an add none of them had seen survives it (add wins). Tombstoning after a
//! read, rather than letting each replica tombstone what it holds, keeps every message a
//! state that merges the same way everywhere: a hint or a fallback holding only part of
//! a set never needs to interpret an operation. A remove short of `r` answers fails
//! without writing anything; one whose read found no live add of the element is done at
//! once (counted as `remove_saw_nothing`); its write phase ends like any write (`info`
//! short of `w` at the deadline, which is the same one as its read's). A counter read
//! answers the merged total (`Reply::Count`, 0 when nothing was added) and a set read
//! the merged elements.
//!
//! **Membership changes.** When the ring changes under an operation, the coordinator
//! re-targets it ([`Replica::retarget_operations`]): the key's home replicas are those of
//! the new ring; acknowledgements and answers from nodes that are no longer home
//! replicas stop counting, and the new home replicas are sent the write or asked for
//! their copy. So a write is acknowledged only once `w` home replicas of the ring of the
//! moment of the acknowledgement hold it, and a read answers from `r` of the ring of its
//! moment. A home replica that gained the key and is still receiving it (pending, see
//! [`crate::membership`]) answers reads only once it holds every copy, the coordinator's
//! own answer included.
//!
//! **Forwarding.** Under version vectors only a home replica can version a write (its
//! counters must follow the key's whole history), so a coordinator that is not one
//! forwards the write to the first home replica it does not suspect, which coordinates
//! it as above and reports the outcome back (Dynamo does the same). A forward that gets
//! no answer by the deadline ends as `info`.

use repsim_sim::crdt::{self, Crdt, CrdtUpdate, Dot};
use repsim_sim::{KeyId, NodeId, Op, Reply, RequestId, SimTime, ValueId, Workload};

use crate::config::{Config, PlantedBug, Versions};
use crate::msg::{Forward, Msg, OpId, Outcome, Token};
use crate::replica::{Ctx, Replica};
use crate::version::{KeyState, Siblings, Stamp, VersionVector};

/// Who asked for a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A client, directly.
    Client(RequestId),
    /// Another node that forwarded its client's write here.
    Forwarded {
        /// The forwarding node.
        from: NodeId,
        /// Its operation.
        op: OpId,
    },
}

/// A home replica of an operation's key, and who stands in for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    /// The home replica.
    pub(crate) home: NodeId,
    /// The fallback asked in its place (sloppy quorum), if any.
    pub(crate) stand_in: Option<NodeId>,
    /// The home replica or its stand-in has the write (or answered the read), or the
    /// coordinator keeps a hint for it.
    pub(crate) done: bool,
}

/// A write in progress.
#[derive(Debug)]
pub(crate) struct WriteOp {
    pub(crate) origin: Origin,
    pub(crate) key: KeyId,
    /// The register value written, told to the client; `None` for a CRDT update (whose
    /// answer is `Reply::Done`).
    pub(crate) value: Option<ValueId>,
    /// What every replica is sent.
    pub(crate) data: KeyState,
    /// Local time at which the coordinator gives up.
    pub(crate) deadline: SimTime,
    /// Next per-replica timeout.
    pub(crate) retry_at: SimTime,
    pub(crate) slots: Vec<Slot>,
    /// Fallbacks already asked.
    pub(crate) used: Vec<NodeId>,
    /// Distinct nodes that made the write durable.
    pub(crate) acked: Vec<NodeId>,
    /// The origin has its answer.
    pub(crate) replied: bool,
}

/// Why a read runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadPurpose {
    /// A client's read: the merged copy is the answer.
    Client,
    /// The first phase of a set remove (`conflict: "crdt"`): the merged copy says which
    /// adds of `element` the remove tombstones.
    Remove {
        /// The element removed.
        element: ValueId,
    },
}

/// A remove whose read phase has its quorum: the adds it tombstones.
#[derive(Debug)]
pub(crate) struct Removal {
    pub(crate) request: RequestId,
    pub(crate) key: KeyId,
    pub(crate) deadline: SimTime,
    /// The live dots of the element in the merged copy the read phase saw.
    pub(crate) dots: Vec<Dot>,
}

/// A read in progress.
#[derive(Debug)]
pub(crate) struct ReadOp {
    pub(crate) request: RequestId,
    pub(crate) key: KeyId,
    pub(crate) purpose: ReadPurpose,
    /// Set when a remove's read phase reached its quorum, until the write phase starts.
    pub(crate) removal: Option<Removal>,
    pub(crate) deadline: SimTime,
    pub(crate) retry_at: SimTime,
    pub(crate) slots: Vec<Slot>,
    pub(crate) used: Vec<NodeId>,
    /// Distinct nodes that answered.
    pub(crate) answered: Vec<NodeId>,
    /// The merge of every answer so far.
    pub(crate) merged: Option<KeyState>,
    /// Home replicas' answers, for read repair.
    pub(crate) home_answers: Vec<(NodeId, Option<KeyState>)>,
    pub(crate) replied: bool,
}

/// A write forwarded to a home replica.
#[derive(Debug)]
pub(crate) struct ForwardOp {
    pub(crate) request: RequestId,
    pub(crate) value: ValueId,
    pub(crate) target: NodeId,
    pub(crate) deadline: SimTime,
}

impl Replica {
    /// True when `need` nodes the coordinator does not suspect can take part: home
    /// replicas, plus fallbacks under a sloppy quorum.
    fn quorum_possible(&self, key: KeyId, need: u16, now: SimTime) -> bool {
        let ring = self.ring.as_ref().expect("the ring is known");
        let healthy = |nodes: &[NodeId]| {
            nodes
                .iter()
                .filter(|&&node| !self.is_suspected(node, now))
                .count()
        };
        let mut available = healthy(ring.home(key));
        if self.config.sloppy_quorum && available < usize::from(need) {
            available += healthy(ring.fallbacks(key));
        }
        available >= usize::from(need)
    }

    /// Tells the origin of a write how it ended (`value`: the register value written,
    /// `None` for a CRDT update).
    pub(crate) fn finish(
        ctx: &mut Ctx<'_>,
        origin: Origin,
        outcome: Outcome,
        value: Option<ValueId>,
    ) {
        match origin {
            Origin::Client(request) => ctx.reply(
                request,
                match outcome {
                    Outcome::Written => value.map_or(Reply::Done, Reply::Written),
                    Outcome::Unknown => Reply::Unknown,
                    Outcome::Fail => Reply::Fail,
                },
            ),
            Origin::Forwarded { from, op } => ctx.send(from, Msg::Forwarded { op, outcome }),
        }
    }

    /// Starts coordinating a write. Under version vectors this node must be a home
    /// replica of the key, and `context` is the client's causal context.
    pub(crate) fn start_write(
        &mut self,
        ctx: &mut Ctx<'_>,
        origin: Origin,
        key: KeyId,
        value: ValueId,
        context: Option<VersionVector>,
        deadline: SimTime,
    ) {
        let now = ctx.now();
        let me = self.id;
        // Computing the new copy changes nothing here: [`Replica::send_write`] refuses
        // the write when no quorum is possible.
        let data = match self.config.versions {
            Versions::Lww => KeyState::Lww(Stamp {
                micros: now.as_micros(),
                node: me,
                value,
            }),
            Versions::VersionVectors => {
                let mut siblings = match &self.data[key.index()] {
                    Some(KeyState::Siblings(s)) => s.clone(),
                    _ => Siblings::new(),
                };
                let floor = self.minted.get(&key).copied().unwrap_or(0);
                siblings.update_above(me, context.unwrap_or_default(), value, floor);
                KeyState::Siblings(siblings)
            }
        };
        self.send_write(ctx, origin, key, Some(value), data, deadline);
    }

    /// Starts coordinating a CRDT update (`conflict: "crdt"`) of client request
    /// `request`, named by the dot of its invocation. An increment or an add is a delta
    /// holding its one dot, written like a register write; a remove first reads the key
    /// (see [`Replica::start_read`]) and then writes the tombstones of the adds it saw
    /// ([`Replica::start_removal`]).
    pub(crate) fn start_update(
        &mut self,
        ctx: &mut Ctx<'_>,
        request: RequestId,
        op: &Op,
        deadline: SimTime,
    ) {
        match *op {
            Op::Remove { key, element } => {
                let purpose = ReadPurpose::Remove { element };
                self.start_read(ctx, request, key, purpose, deadline);
            }
            Op::Increment { key, .. } | Op::Add { key, .. } => {
                let mut delta = None;
                CrdtUpdate::execute(op, Dot::from(request), &mut delta)
                    .expect("an increment or an add is an update");
                let delta = KeyState::Crdt(delta.expect("an update makes a value"));
                self.send_write(ctx, Origin::Client(request), key, None, delta, deadline);
            }
            Op::Read { .. } | Op::Write { .. } => {
                unreachable!("{}: {op:?} is not a CRDT update", self.id)
            }
        }
    }

    /// The write phase of a remove: the tombstones of the adds its read phase saw go to
    /// the home replicas like a write. A remove that saw no add of the element has nothing
    /// to tombstone and is done at once.
    pub(crate) fn start_removal(&mut self, ctx: &mut Ctx<'_>, removal: Removal) {
        if removal.dots.is_empty() {
            ctx.count("remove_saw_nothing");
            return ctx.reply(removal.request, Reply::Done);
        }
        let mut delta = None;
        CrdtUpdate::Remove { dots: removal.dots }.apply(&mut delta);
        let delta = KeyState::Crdt(delta.expect("a remove makes a value"));
        let origin = Origin::Client(removal.request);
        self.send_write(ctx, origin, removal.key, None, delta, removal.deadline);
    }

    /// Sends `data`, the new copy of `key` (or a delta to merge into it), to the key's
    /// home replicas, and answers `origin` once `w` made it durable.
    fn send_write(
        &mut self,
        ctx: &mut Ctx<'_>,
        origin: Origin,
        key: KeyId,
        value: Option<ValueId>,
        data: KeyState,
        deadline: SimTime,
    ) {
        let now = ctx.now();
        if !self.quorum_possible(key, self.config.w, now) {
            ctx.count("quorum_refused");
            return Self::finish(ctx, origin, Outcome::Fail, value);
        }
        let me = self.id;
        let ring = self.ring();
        let op = self.next_op();
        let mut write = Box::new(WriteOp {
            origin,
            key,
            value,
            data,
            deadline,
            retry_at: now + self.config.replica_timeout(),
            slots: ring
                .home(key)
                .iter()
                .map(|&home| Slot {
                    home,
                    stand_in: None,
                    done: false,
                })
                .collect(),
            used: Vec::new(),
            acked: Vec::new(),
            replied: false,
        });
        for i in 0..write.slots.len() {
            let home = write.slots[i].home;
            if home == me {
                let data = write.data.clone();
                self.apply_copy(ctx, key, &data);
                write.acked.push(me);
                write.slots[i].done = true;
            } else if self.config.sloppy_quorum && self.is_suspected(home, now) {
                self.write_stand_in(ctx, op, &mut write, i);
            } else {
                let data = write.data.clone();
                ctx.send(
                    home,
                    Msg::Store {
                        op,
                        key,
                        data,
                        hint: None,
                    },
                );
            }
        }
        if !progress_write(ctx, &self.config, &mut write) {
            self.writes.insert(op, write);
            self.arm_tick(ctx);
        }
    }

    /// Sends the write to the next fallback not yet asked, with a hint for slot `i`'s
    /// home replica (or keeps the hint here, when this node is that fallback).
    fn write_stand_in(&mut self, ctx: &mut Ctx<'_>, op: OpId, write: &mut WriteOp, i: usize) {
        let now = ctx.now();
        let ring = self.ring();
        let me = self.id;
        let Some(&fallback) = ring
            .fallbacks(write.key)
            .iter()
            .find(|&&f| !write.used.contains(&f) && !self.is_suspected(f, now))
        else {
            return;
        };
        write.used.push(fallback);
        let home = write.slots[i].home;
        write.slots[i].stand_in = Some(fallback);
        if fallback == me {
            self.keep_hint(ctx, home, write.key, &write.data);
            if !write.acked.contains(&me) {
                write.acked.push(me);
            }
            write.slots[i].done = true;
        } else {
            ctx.send(
                fallback,
                Msg::Store {
                    op,
                    key: write.key,
                    data: write.data.clone(),
                    hint: Some(home),
                },
            );
        }
    }

    /// A replica made a write durable.
    pub(crate) fn on_stored(&mut self, ctx: &mut Ctx<'_>, from: NodeId, op: OpId) {
        let Some(write) = self.writes.get_mut(&op) else {
            // Late (the write is over) or from before a restart.
            return;
        };
        let in_slots = write
            .slots
            .iter()
            .any(|s| s.home == from || s.stand_in == Some(from));
        if in_slots && !write.acked.contains(&from) {
            write.acked.push(from);
            for slot in &mut write.slots {
                if slot.home == from || slot.stand_in == Some(from) {
                    slot.done = true;
                }
            }
        }
        if progress_write(ctx, &self.config, write) {
            self.writes.remove(&op);
        }
    }

    /// A home replica (or a fallback, with `hint`) receives a write.
    pub(crate) fn on_store(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        op: OpId,
        key: KeyId,
        data: &KeyState,
        hint: Option<NodeId>,
    ) {
        match hint {
            Some(home) if home != self.id => self.keep_hint(ctx, home, key, data),
            _ => {
                if !self.is_home(key) {
                    // Not ours: a peer with another view of the ring, or sent before a
                    // ring change. Never acknowledged; the coordinator re-targets.
                    return;
                }
                self.apply_copy(ctx, key, data);
            }
        }
        // The copy is durable (persisted above, or it changed nothing): acknowledge.
        ctx.send(from, Msg::Stored { op });
    }

    /// Starts coordinating a read: a client's, or the read phase of a remove.
    pub(crate) fn start_read(
        &mut self,
        ctx: &mut Ctx<'_>,
        request: RequestId,
        key: KeyId,
        purpose: ReadPurpose,
        deadline: SimTime,
    ) {
        let now = ctx.now();
        if !self.quorum_possible(key, self.config.r, now) {
            ctx.count("quorum_refused");
            return ctx.reply(request, Reply::Fail);
        }
        let ring = self.ring();
        let me = self.id;
        let op = self.next_op();
        let mut read = Box::new(ReadOp {
            request,
            key,
            purpose,
            removal: None,
            deadline,
            retry_at: now + self.config.replica_timeout(),
            slots: ring
                .home(key)
                .iter()
                .map(|&home| Slot {
                    home,
                    stand_in: None,
                    done: false,
                })
                .collect(),
            used: Vec::new(),
            answered: Vec::new(),
            merged: None,
            home_answers: Vec::new(),
            replied: false,
        });
        for i in 0..read.slots.len() {
            let home = read.slots[i].home;
            if home == me {
                // A pending key answers once it has every copy (`answer_own_reads`).
                if !self.pending.contains_key(&key) {
                    let data = self.data[key.index()].clone();
                    record_answer(&self.config, &mut read, me, data);
                }
            } else if self.config.sloppy_quorum && self.is_suspected(home, now) {
                self.read_stand_in(ctx, op, &mut read, i);
            } else {
                ctx.send(
                    home,
                    Msg::Fetch {
                        op,
                        key,
                        hinted: false,
                    },
                );
            }
        }
        self.advance_read(ctx, op, read, true);
    }

    /// Asks the next fallback not yet asked to answer for slot `i`'s home replica from
    /// its hints (or answers from this node's hints, when it is that fallback).
    fn read_stand_in(&mut self, ctx: &mut Ctx<'_>, op: OpId, read: &mut ReadOp, i: usize) {
        let now = ctx.now();
        let ring = self.ring();
        let Some(&fallback) = ring
            .fallbacks(read.key)
            .iter()
            .find(|&&f| !read.used.contains(&f) && !self.is_suspected(f, now))
        else {
            return;
        };
        read.used.push(fallback);
        read.slots[i].stand_in = Some(fallback);
        if fallback == self.id {
            let data = self.hinted_copy(read.key);
            record_answer(&self.config, read, fallback, data);
        } else {
            ctx.send(
                fallback,
                Msg::Fetch {
                    op,
                    key: read.key,
                    hinted: true,
                },
            );
        }
    }

    /// Read repair: sends the merged copy to every home replica that answered with an
    /// older one (and merges it here, when this node is one of them).
    fn repair(&mut self, ctx: &mut Ctx<'_>, read: &ReadOp) {
        let Some(merged) = &read.merged else {
            return;
        };
        for (home, answer) in &read.home_answers {
            if answer.as_ref() == Some(merged) {
                continue;
            }
            ctx.count("read_repair");
            if *home == self.id {
                self.apply_copy(ctx, read.key, merged);
            } else {
                ctx.send(
                    *home,
                    Msg::Repair {
                        key: read.key,
                        data: merged.clone(),
                    },
                );
            }
        }
    }

    /// A node answered a read.
    pub(crate) fn on_fetched(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        op: OpId,
        data: Option<KeyState>,
    ) {
        let Some(mut read) = self.reads.remove(&op) else {
            return;
        };
        record_answer(&self.config, &mut read, from, data);
        self.advance_read(ctx, op, read, false);
    }

    /// After `read` (taken out of the reads in flight) got answers: answers the client
    /// once it can, then repairs if the read is over or keeps it (arming the tick if
    /// `arm`), and starts the remove the read was the first half of, if any.
    fn advance_read(&mut self, ctx: &mut Ctx<'_>, op: OpId, mut read: Box<ReadOp>, arm: bool) {
        let over = answer_read(ctx, &self.config, &mut read);
        let removal = read.removal.take();
        if over {
            self.repair(ctx, &read);
        } else {
            self.reads.insert(op, read);
            if arm {
                self.arm_tick(ctx);
            }
        }
        if let Some(removal) = removal {
            self.start_removal(ctx, removal);
        }
    }

    /// Forwards a `version-vectors` write to a home replica (this node is not one).
    pub(crate) fn forward_write(
        &mut self,
        ctx: &mut Ctx<'_>,
        request: RequestId,
        key: KeyId,
        value: ValueId,
        context: VersionVector,
        deadline: SimTime,
    ) {
        let now = ctx.now();
        let ring = self.ring();
        let Some(&target) = ring.home(key).iter().find(|&&h| !self.is_suspected(h, now)) else {
            ctx.count("quorum_refused");
            return ctx.reply(request, Reply::Fail);
        };
        ctx.count("write_forwarded");
        let op = self.next_op();
        ctx.send(
            target,
            Msg::Forward(Forward {
                op,
                key,
                value,
                context,
                budget: self.config.forward_budget(),
            }),
        );
        self.forwards.insert(
            op,
            ForwardOp {
                request,
                value,
                target,
                deadline,
            },
        );
        self.arm_tick(ctx);
    }

    /// The home replica a write was forwarded to reports how it ended.
    pub(crate) fn on_forwarded(&mut self, ctx: &mut Ctx<'_>, op: OpId, outcome: Outcome) {
        let Some(forward) = self.forwards.remove(&op) else {
            return;
        };
        let origin = Origin::Client(forward.request);
        Self::finish(ctx, origin, outcome, Some(forward.value));
    }

    /// Coordinator housekeeping: per-replica timeouts and deadlines.
    pub(crate) fn on_tick(&mut self, ctx: &mut Ctx<'_>) {
        self.tick_armed = false;
        let now = ctx.now();
        let ids: Vec<OpId> = self.writes.keys().copied().collect();
        for op in ids {
            let mut write = self.writes.remove(&op).expect("listed above");
            if !self.tick_write(ctx, op, &mut write, now) {
                self.writes.insert(op, write);
            }
        }
        let ids: Vec<OpId> = self.reads.keys().copied().collect();
        for op in ids {
            let mut read = self.reads.remove(&op).expect("listed above");
            if !self.tick_read(ctx, op, &mut read, now) {
                self.reads.insert(op, read);
            }
        }
        let expired: Vec<OpId> = self
            .forwards
            .iter()
            .filter(|(_, f)| now >= f.deadline)
            .map(|(&op, _)| op)
            .collect();
        for op in expired {
            let forward = self.forwards.remove(&op).expect("listed above");
            self.suspect(forward.target, now);
            ctx.count("quorum_failed");
            ctx.reply(forward.request, Reply::Unknown);
        }
        if !(self.writes.is_empty() && self.reads.is_empty() && self.forwards.is_empty()) {
            self.arm_tick(ctx);
        }
    }

    /// One write's timeouts; true when it is over.
    fn tick_write(
        &mut self,
        ctx: &mut Ctx<'_>,
        op: OpId,
        write: &mut WriteOp,
        now: SimTime,
    ) -> bool {
        if now >= write.deadline {
            for slot in &write.slots {
                if !slot.done {
                    self.suspect(slot.stand_in.unwrap_or(slot.home), now);
                }
            }
            if !write.replied {
                ctx.count("quorum_failed");
                // Sent to replicas that may have applied it: unknown, never `fail`.
                Self::finish(ctx, write.origin, Outcome::Unknown, write.value);
            }
            return true;
        }
        if now < write.retry_at {
            return false;
        }
        write.retry_at = now + self.config.replica_timeout();
        for i in 0..write.slots.len() {
            let slot = write.slots[i];
            if slot.done {
                continue;
            }
            self.suspect(slot.stand_in.unwrap_or(slot.home), now);
            if self.config.sloppy_quorum {
                self.write_stand_in(ctx, op, write, i);
            } else if self.config.hinted_handoff && slot.home != self.id {
                self.keep_hint(ctx, slot.home, write.key, &write.data);
                write.slots[i].done = true;
            }
        }
        progress_write(ctx, &self.config, write)
    }

    /// One read's timeouts; true when it is over.
    fn tick_read(&mut self, ctx: &mut Ctx<'_>, op: OpId, read: &mut ReadOp, now: SimTime) -> bool {
        if now >= read.deadline {
            for slot in &read.slots {
                if !slot.done {
                    self.suspect(slot.stand_in.unwrap_or(slot.home), now);
                }
            }
            if read.replied {
                self.repair(ctx, read);
            } else {
                ctx.count("quorum_failed");
                // A read changes nothing: it certainly did not happen.
                ctx.reply(read.request, Reply::Fail);
            }
            return true;
        }
        if now < read.retry_at {
            return false;
        }
        read.retry_at = now + self.config.replica_timeout();
        for i in 0..read.slots.len() {
            let slot = read.slots[i];
            if slot.done {
                continue;
            }
            self.suspect(slot.stand_in.unwrap_or(slot.home), now);
            if self.config.sloppy_quorum && !read.replied {
                self.read_stand_in(ctx, op, read, i);
            }
        }
        let over = answer_read(ctx, &self.config, read);
        if over {
            self.repair(ctx, read);
        }
        if let Some(removal) = read.removal.take() {
            self.start_removal(ctx, removal);
        }
        over
    }
}

impl Replica {
    /// The ring changed: every operation this node coordinates now runs against the
    /// key's home replicas in the new ring. Slots of home replicas that stay are kept as
    /// they are; the new home replicas are sent the write or asked for their copy (this
    /// node acts for itself at once, or, for a read of a pending key, once the key is
    /// ready); acknowledgements and answers of nodes that are no longer home replicas
    /// (nor stand-ins for one) stop counting.
    pub(crate) fn retarget_operations(&mut self, ctx: &mut Ctx<'_>) {
        let ring = self.ring();
        let me = self.id;
        let ids: Vec<OpId> = self.writes.keys().copied().collect();
        for op in ids {
            let mut write = self.writes.remove(&op).expect("listed above");
            let (slots, fresh) = retarget_slots(&write.slots, ring.home(write.key));
            write.slots = slots;
            let slots = &write.slots;
            write
                .acked
                .retain(|&n| slots.iter().any(|s| s.home == n || s.stand_in == Some(n)));
            for i in fresh {
                let home = write.slots[i].home;
                if home == me {
                    let data = write.data.clone();
                    self.apply_copy(ctx, write.key, &data);
                    write.acked.push(me);
                    write.slots[i].done = true;
                } else {
                    ctx.send(
                        home,
                        Msg::Store {
                            op,
                            key: write.key,
                            data: write.data.clone(),
                            hint: None,
                        },
                    );
                }
            }
            if !progress_write(ctx, &self.config, &mut write) {
                self.writes.insert(op, write);
            }
        }
        let ids: Vec<OpId> = self.reads.keys().copied().collect();
        for op in ids {
            let mut read = self.reads.remove(&op).expect("listed above");
            let homes = ring.home(read.key);
            let (slots, fresh) = retarget_slots(&read.slots, homes);
            read.slots = slots;
            let slots = &read.slots;
            read.answered
                .retain(|&n| slots.iter().any(|s| s.home == n || s.stand_in == Some(n)));
            read.home_answers.retain(|(n, _)| homes.contains(n));
            for i in fresh {
                let home = read.slots[i].home;
                if home != me {
                    ctx.send(
                        home,
                        Msg::Fetch {
                            op,
                            key: read.key,
                            hinted: false,
                        },
                    );
                } else if !self.pending.contains_key(&read.key) {
                    let data = self.data[read.key.index()].clone();
                    record_answer(&self.config, &mut read, me, data);
                }
            }
            self.advance_read(ctx, op, read, false);
        }
        if !(self.writes.is_empty() && self.reads.is_empty()) {
            self.arm_tick(ctx);
        }
    }

    /// A pending key became ready: this node's own part of the reads of it that it
    /// coordinates.
    pub(crate) fn answer_own_reads(&mut self, ctx: &mut Ctx<'_>, key: KeyId) {
        let me = self.id;
        let ids: Vec<OpId> = self
            .reads
            .iter()
            .filter(|(_, r)| r.key == key && !r.answered.contains(&me))
            .map(|(&op, _)| op)
            .collect();
        for op in ids {
            let mut read = self.reads.remove(&op).expect("listed above");
            let data = self.data[key.index()].clone();
            record_answer(&self.config, &mut read, me, data);
            self.advance_read(ctx, op, read, false);
        }
    }
}

/// The slots of an operation whose key's home replicas are now `homes`: the existing
/// slot of each home replica that stays, a fresh one for each new home replica; also the
/// indexes of the fresh ones.
fn retarget_slots(slots: &[Slot], homes: &[NodeId]) -> (Vec<Slot>, Vec<usize>) {
    let mut kept = Vec::with_capacity(homes.len());
    let mut fresh = Vec::new();
    for &home in homes {
        match slots.iter().find(|s| s.home == home) {
            Some(slot) => kept.push(*slot),
            None => {
                fresh.push(kept.len());
                kept.push(Slot {
                    home,
                    stand_in: None,
                    done: false,
                });
            }
        }
    }
    (kept, fresh)
}

/// Answers the origin once `w` nodes have the write; true when the operation is over
/// (answered, and every home replica or its stand-in has the write).
fn progress_write(ctx: &mut Ctx<'_>, config: &Config, write: &mut WriteOp) -> bool {
    if !write.replied && write.acked.len() >= usize::from(config.w) {
        write.replied = true;
        Replica::finish(ctx, write.origin, Outcome::Written, write.value);
    }
    write.replied && write.slots.iter().all(|s| s.done)
}

/// Counts one node's answer to a read (once per node).
fn record_answer(config: &Config, read: &mut ReadOp, from: NodeId, data: Option<KeyState>) {
    let in_slots = read
        .slots
        .iter()
        .any(|s| s.home == from || s.stand_in == Some(from));
    // Once only, and only from a home replica or its stand-in (a node that stopped being
    // one in a ring change no longer counts).
    if !in_slots || read.answered.contains(&from) {
        return;
    }
    read.answered.push(from);
    for slot in &mut read.slots {
        if slot.home == from || slot.stand_in == Some(from) {
            slot.done = true;
        }
    }
    if let Some(data) = &data {
        KeyState::merge_into(&mut read.merged, data);
    }
    let is_home = read.slots.iter().any(|s| s.home == from);
    if is_home && config.read_repair {
        read.home_answers.push((from, data));
    }
}

/// Answers the client once `r` nodes answered; true when the operation is over
/// (answered, and without read repair, or with every home replica's answer in); the
/// caller then repairs.
fn answer_read(ctx: &mut Ctx<'_>, config: &Config, read: &mut ReadOp) -> bool {
    let quorum = match config.planted_bug {
        Some(PlantedBug::ReadQuorumMinusOne) => usize::from(config.r).saturating_sub(1).max(1),
        None => usize::from(config.r),
    };
    if !read.replied && read.answered.len() >= quorum {
        // Invariant (checked where the answer leaves, as well as where replies are
        // counted): a read answers only with a full read quorum behind it.
        assert!(
            config.planted_bug.is_some() || read.answered.len() >= usize::from(config.r),
            "{}: read of {:?} answered with {} replies, below r = {}",
            ctx.id(),
            read.key,
            read.answered.len(),
            config.r
        );
        read.replied = true;
        if let ReadPurpose::Remove { element } = read.purpose {
            // The remove tombstones the adds of the element that the merged copy of its
            // read quorum holds; the caller starts its write phase.
            let dots = match &read.merged {
                Some(KeyState::Crdt(Crdt::Set(set))) => set.observed(element),
                _ => Vec::new(),
            };
            read.removal = Some(Removal {
                request: read.request,
                key: read.key,
                deadline: read.deadline,
                dots,
            });
        } else if config.crdt {
            let value = read.merged.as_ref().and_then(KeyState::crdt);
            let counter = config.workload == Workload::Counter;
            ctx.reply(read.request, crdt::read_reply(value, counter));
        } else {
            answer_register_read(ctx, config, read);
        }
    }
    read.replied && (!config.read_repair || read.slots.iter().all(|s| s.done))
}

/// Answers a client's register read with the merged copy (and, under version vectors,
/// the context of what it read).
fn answer_register_read(ctx: &mut Ctx<'_>, config: &Config, read: &ReadOp) {
    let values = read
        .merged
        .as_ref()
        .map(KeyState::values)
        .unwrap_or_default();
    if values.len() > 1 {
        ctx.count("read_siblings");
    }
    match config.versions {
        Versions::VersionVectors => {
            let context = match &read.merged {
                Some(KeyState::Siblings(s)) => s.history(),
                _ => VersionVector::new(),
            };
            ctx.reply_with_token(
                read.request,
                Reply::Read(values),
                Token::for_key(read.key, context),
            );
        }
        Versions::Lww => ctx.reply(read.request, Reply::Read(values)),
    }
}

#[cfg(test)]
mod tests {
    use repsim_sim::{Effect, Node};

    use super::*;
    use crate::msg::Record;
    use crate::testing::{
        Cluster, booted, config, counted, persisted, read, replies, request, sends, write,
    };

    fn w(n: u32) -> ValueId {
        ValueId::generated(n)
    }

    #[test]
    fn a_write_is_acknowledged_after_w_durable_copies_the_coordinators_included() {
        let (mut node, mut test) = booted(&config(3, 2, 2), 0, 3);
        node.on_request(&mut test.ctx(), request(0, write(1, 1), Token::default()));
        let effects = test.take_effects();
        // Durable here, and sent to the two other home replicas; no answer yet.
        assert_eq!(persisted(&effects).len(), 1);
        let targets: Vec<NodeId> = sends(&effects).iter().map(|(to, _)| *to).collect();
        let mut sorted = targets.clone();
        sorted.sort();
        assert_eq!(sorted, vec![NodeId(1), NodeId(2)]);
        assert!(replies(&effects).is_empty());
        let op = match &sends(&effects)[0].1 {
            Msg::Store { op, hint: None, .. } => *op,
            other => panic!("{other:?}"),
        };
        node.on_message(&mut test.ctx(), NodeId(2), Msg::Stored { op });
        assert_eq!(replies(&test.take_effects()), vec![Reply::Written(w(1))]);
        // A late or duplicated acknowledgement changes nothing.
        node.on_message(&mut test.ctx(), NodeId(1), Msg::Stored { op });
        node.on_message(&mut test.ctx(), NodeId(1), Msg::Stored { op });
        assert!(replies(&test.take_effects()).is_empty());
        assert!(node.is_quiet());
    }

    #[test]
    fn a_replica_persists_a_write_before_acknowledging_it() {
        let (mut node, mut test) = booted(&config(3, 2, 2), 1, 3);
        let data = KeyState::Lww(Stamp {
            micros: 5,
            node: NodeId(0),
            value: w(1),
        });
        let store = Msg::Store {
            op: OpId(7),
            key: KeyId(2),
            data,
            hint: None,
        };
        node.on_message(&mut test.ctx(), NodeId(0), store);
        let effects = test.take_effects();
        let persist = effects
            .iter()
            .position(|e| matches!(e, Effect::Persist(Record::Key { .. })));
        let ack = effects.iter().position(|e| {
            matches!(
                e,
                Effect::Send {
                    to: NodeId(0),
                    msg: Msg::Stored { op: OpId(7) }
                }
            )
        });
        assert!(
            persist.is_some() && ack.is_some() && persist < ack,
            "{effects:?}"
        );
        assert_eq!(node.final_state()[2], (KeyId(2), vec![w(1)]));
    }

    #[test]
    fn an_unreachable_quorum_is_refused_at_once_or_ends_at_the_deadline() {
        let (mut node, mut test) = booted(&config(3, 2, 2), 0, 3);
        // Nothing answers: at the deadline the write is unknown, the read failed.
        node.on_request(&mut test.ctx(), request(0, write(1, 1), Token::default()));
        node.on_request(&mut test.ctx(), request(2, read(1), Token::default()));
        test.take_effects();
        for ms in [30, 60, 90] {
            test.now = SimTime::from_micros(ms * 1000);
            node.on_timer(&mut test.ctx(), crate::msg::Timer::Tick);
        }
        let effects = test.take_effects();
        assert_eq!(replies(&effects), vec![Reply::Unknown, Reply::Fail]);
        assert_eq!(counted(&effects, "quorum_failed"), 2);
        assert!(node.is_quiet());
        // Both peers are now suspected: the next operations are refused without a message.
        node.on_request(&mut test.ctx(), request(4, write(1, 2), Token::default()));
        node.on_request(&mut test.ctx(), request(6, read(1), Token::default()));
        let effects = test.take_effects();
        assert_eq!(replies(&effects), vec![Reply::Fail, Reply::Fail]);
        assert!(sends(&effects).is_empty());
        assert_eq!(counted(&effects, "quorum_refused"), 2);
        // Hearing from a peer ends its suspicion.
        node.on_message(&mut test.ctx(), NodeId(1), Msg::Stored { op: OpId(0) });
        node.on_request(&mut test.ctx(), request(8, read(1), Token::default()));
        assert_eq!(sends(&test.take_effects()).len(), 2);
    }

    #[test]
    fn a_read_returns_the_newest_of_r_answers_and_repairs_the_stale_replicas() {
        let mut cluster = Cluster::new(&config(3, 2, 2), 3);
        // w1 everywhere, then w2 only on n1 (its Store to n0 and n2 lost).
        cluster.on(1, |n, t| {
            n.on_request(&mut t.ctx(), request(0, write(3, 1), Token::default()))
        });
        cluster.deliver_all(|_, _, _| true);
        cluster.set_now(SimTime::from_micros(1000));
        cluster.on(1, |n, t| {
            n.on_request(&mut t.ctx(), request(2, write(3, 2), Token::default()))
        });
        cluster.deliver_all(|from, to, msg| {
            !(from == NodeId(1) && matches!(msg, Msg::Store { .. }) && to != NodeId(1))
        });
        assert_eq!(cluster.values(0, 3), vec![w(1)]);
        assert_eq!(cluster.values(1, 3), vec![w(2)]);
        // n0 reads: itself (w1) and n2 (w1) would do, but n1 answers first.
        cluster.on(0, |n, t| {
            n.on_request(&mut t.ctx(), request(4, read(3), Token::default()))
        });
        let i = cluster
            .queue
            .iter()
            .position(|(_, to, _)| *to == NodeId(1))
            .unwrap();
        let (from, _, fetch) = cluster.queue.remove(i);
        cluster.on(1, |n, t| n.on_message(&mut t.ctx(), from, fetch));
        cluster.deliver_all(|_, _, _| true);
        let effects = std::mem::take(&mut cluster.effects[0]);
        assert_eq!(replies(&effects), vec![Reply::Read(vec![w(2)])]);
        // Repaired: n0 itself and n2, which answered w1; not n1.
        assert_eq!(counted(&effects, "read_repair"), 2);
        for node in 0..3 {
            assert_eq!(cluster.values(node, 3), vec![w(2)], "n{node}");
        }
    }

    #[test]
    fn keys_go_only_to_their_home_replicas_when_n_is_below_the_cluster_size() {
        let config = config(3, 2, 2);
        let ring = crate::ring::Ring::new(6, 3, config.keys);
        let key = (0..8)
            .find(|&k| !ring.is_home(KeyId(k), NodeId(0)))
            .unwrap();
        let (mut node, mut test) = booted(&config, 0, 6);
        node.on_request(&mut test.ctx(), request(0, write(key, 1), Token::default()));
        let effects = test.take_effects();
        let mut targets: Vec<NodeId> = sends(&effects).iter().map(|(to, _)| *to).collect();
        targets.sort();
        let mut homes = ring.home(KeyId(key)).to_vec();
        homes.sort();
        assert_eq!(targets, homes);
        assert!(
            persisted(&effects)
                .iter()
                .all(|r| !matches!(r, Record::Key { .. }))
        );
        // n0 lists only its home keys.
        let listed: Vec<KeyId> = node.final_state().into_iter().map(|(k, _)| k).collect();
        assert_eq!(listed, ring.home_keys(NodeId(0)));
    }

    #[test]
    fn a_sloppy_write_goes_to_a_fallback_with_a_hint_and_counts_towards_w() {
        let mut config = config(3, 2, 2);
        config.sloppy_quorum = true;
        let ring = crate::ring::Ring::new(5, 3, config.keys);
        let key = (0..8)
            .find(|&k| ring.home(KeyId(k))[0] == NodeId(0))
            .unwrap();
        let (home1, home2) = (ring.home(KeyId(key))[1], ring.home(KeyId(key))[2]);
        let fallback = ring.fallbacks(KeyId(key))[0];
        let (mut node, mut test) = booted(&config, 0, 5);
        node.suspect(home1, SimTime::ZERO);
        node.on_request(&mut test.ctx(), request(0, write(key, 1), Token::default()));
        let sent = sends(&test.take_effects());
        let op = match &sent[..] {
            [
                (
                    a,
                    Msg::Store {
                        hint: Some(h), op, ..
                    },
                ),
                (b, Msg::Store { hint: None, .. }),
            ] => {
                assert_eq!((*a, *h, *b), (fallback, home1, home2));
                *op
            }
            other => panic!("{other:?}"),
        };
        node.on_message(&mut test.ctx(), fallback, Msg::Stored { op });
        assert_eq!(replies(&test.take_effects()), vec![Reply::Written(w(1))]);
    }

    #[test]
    fn a_non_replica_forwards_a_version_vector_write_to_a_home_replica() {
        let mut config = config(3, 2, 2);
        config.versions = Versions::VersionVectors;
        let ring = crate::ring::Ring::new(5, 3, config.keys);
        let key = (0..8)
            .find(|&k| !ring.is_home(KeyId(k), NodeId(0)))
            .unwrap();
        let mut cluster = Cluster::new(&config, 5);
        cluster.on(0, |n, t| {
            n.on_request(&mut t.ctx(), request(0, write(key, 1), Token::default()))
        });
        match &cluster.queue[..] {
            [(_, to, Msg::Forward(f))] => assert_eq!(*to, ring.home(KeyId(key))[0], "{f:?}"),
            other => panic!("{other:?}"),
        }
        cluster.deliver_all(|_, _, _| true);
        assert_eq!(replies(&cluster.effects[0]), vec![Reply::Written(w(1))]);
        for &home in ring.home(KeyId(key)) {
            assert_eq!(cluster.values(home.0, key), vec![w(1)]);
        }
    }

    #[test]
    fn a_duplicated_forward_writes_the_value_once() {
        let mut config = config(3, 2, 2);
        config.versions = Versions::VersionVectors;
        let ring = crate::ring::Ring::new(5, 3, config.keys);
        let key = (0..8)
            .find(|&k| !ring.is_home(KeyId(k), NodeId(0)))
            .unwrap();
        let mut cluster = Cluster::new(&config, 5);
        cluster.on(0, |n, t| {
            n.on_request(&mut t.ctx(), request(0, write(key, 1), Token::default()))
        });
        let copy = cluster.queue[0].clone();
        cluster.queue.push(copy);
        cluster.deliver_all(|_, _, _| true);
        assert_eq!(replies(&cluster.effects[0]), vec![Reply::Written(w(1))]);
        let home = ring.home(KeyId(key))[0];
        let node = &cluster.nodes[usize::from(home.0)].0;
        match &node.data[key as usize] {
            Some(KeyState::Siblings(s)) => assert_eq!(s.versions().len(), 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn version_vectors_keep_concurrent_writes_and_a_read_context_supersedes_them() {
        let mut config = config(3, 2, 2);
        config.versions = Versions::VersionVectors;
        let mut cluster = Cluster::new(&config, 3);
        // Two blind writes through different replicas: siblings.
        cluster.on(0, |n, t| {
            n.on_request(&mut t.ctx(), request(0, write(1, 1), Token::default()))
        });
        cluster.on(1, |n, t| {
            n.on_request(&mut t.ctx(), request(2, write(1, 2), Token::default()))
        });
        cluster.deliver_all(|_, _, _| true);
        cluster.on(2, |n, t| {
            n.on_request(&mut t.ctx(), request(4, read(1), Token::default()))
        });
        cluster.deliver_all(|_, _, _| true);
        let effects = std::mem::take(&mut cluster.effects[2]);
        assert_eq!(replies(&effects), vec![Reply::Read(vec![w(1), w(2)])]);
        let token = effects
            .iter()
            .find_map(|e| match e {
                Effect::Reply { token: Some(t), .. } => Some(t.clone()),
                _ => None,
            })
            .expect("a read hands its context");
        // A write with that context replaces both.
        cluster.on(2, |n, t| {
            n.on_request(&mut t.ctx(), request(6, write(1, 3), token))
        });
        cluster.deliver_all(|_, _, _| true);
        for node in 0..3 {
            assert_eq!(cluster.values(node, 1), vec![w(3)]);
        }
    }
}

#[cfg(test)]
mod crdt_tests {
    use repsim_sim::{Node, SimTime};

    use super::*;
    use crate::msg::{Record, Timer};
    use crate::testing::{
        Cluster, add, booted, counted, crdt_config, increment, persisted, read, remove, replies,
        request, sends,
    };

    fn e(n: u32) -> ValueId {
        ValueId::generated(n)
    }

    fn stores_to(to: NodeId) -> impl Fn(NodeId, NodeId, &Msg) -> bool {
        move |_, target, msg| !(target == to && matches!(msg, Msg::Store { .. }))
    }

    #[test]
    fn crdt_increments_through_different_coordinators_merge_on_every_replica() {
        let mut cluster = Cluster::new(&crdt_config(3, 2, 2, false), 3);
        cluster.on(0, |n, t| {
            n.on_request(&mut t.ctx(), request(0, increment(1, 2), Token::default()))
        });
        cluster.on(1, |n, t| {
            n.on_request(&mut t.ctx(), request(2, increment(1, 3), Token::default()))
        });
        // Each update travels as a one-dot delta, not as the coordinator's whole copy.
        for (_, _, msg) in &cluster.queue {
            match msg {
                Msg::Store { data, .. } => assert_eq!(data.len(), 1, "{data:?}"),
                other => panic!("{other:?}"),
            }
        }
        // n2 receives n1's delta twice (a duplicated message).
        let duplicate = cluster
            .queue
            .iter()
            .find(|(from, to, _)| *from == NodeId(1) && *to == NodeId(2))
            .cloned()
            .unwrap();
        cluster.queue.push(duplicate);
        cluster.deliver_all(|_, _, _| true);
        assert_eq!(replies(&cluster.effects[0]), vec![Reply::Done]);
        assert_eq!(replies(&cluster.effects[1]), vec![Reply::Done]);
        for node in 0..3 {
            assert_eq!(cluster.total(node, 1), 5, "n{node}");
        }
        // The duplicate changed nothing, so it was not persisted again.
        let keys = persisted(&cluster.effects[2])
            .iter()
            .filter(|r| matches!(r, Record::Key { .. }))
            .count();
        assert_eq!(keys, 2);
        // Counters are not register values: the final state lists them as totals only.
        assert!(cluster.nodes[0].0.final_state().is_empty());
        assert!(cluster.nodes.iter().all(|(n, _)| n.is_quiet()));
    }

    #[test]
    fn crdt_a_read_merges_the_answers_and_repairs_the_replicas_that_missed_updates() {
        let mut cluster = Cluster::new(&crdt_config(3, 2, 2, false), 3);
        cluster.on(0, |n, t| {
            n.on_request(&mut t.ctx(), request(0, increment(4, 1), Token::default()))
        });
        cluster.deliver_all(stores_to(NodeId(2)));
        cluster.on(1, |n, t| {
            n.on_request(&mut t.ctx(), request(2, increment(4, 10), Token::default()))
        });
        cluster.deliver_all(stores_to(NodeId(0)));
        let totals: Vec<i64> = (0..3).map(|n| cluster.total(n, 4)).collect();
        assert_eq!(totals, vec![1, 11, 10]);
        // n2 reads: whichever two answers come first, their merge holds both increments
        // (a last-write-wins read would return one copy and drop the other's update).
        cluster.on(2, |n, t| {
            n.on_request(&mut t.ctx(), request(4, read(4), Token::default()))
        });
        cluster.deliver_all(|_, _, _| true);
        let effects = std::mem::take(&mut cluster.effects[2]);
        assert_eq!(replies(&effects), vec![Reply::Count(11)]);
        // Repaired: n0 and n2 itself, which answered with less than the merge; not n1.
        assert_eq!(counted(&effects, "read_repair"), 2);
        for node in 0..3 {
            assert_eq!(cluster.total(node, 4), 11, "n{node}");
        }
        // A counter never incremented reads 0.
        cluster.on(2, |n, t| {
            n.on_request(&mut t.ctx(), request(6, read(5), Token::default()))
        });
        cluster.deliver_all(|_, _, _| true);
        assert_eq!(replies(&cluster.effects[2]), vec![Reply::Count(0)]);
    }

    #[test]
    fn crdt_a_set_read_lists_the_elements_of_every_answer() {
        let mut cluster = Cluster::new(&crdt_config(3, 2, 2, true), 3);
        cluster.on(0, |n, t| {
            n.on_request(&mut t.ctx(), request(0, add(2, 1), Token::default()))
        });
        cluster.deliver_all(stores_to(NodeId(1)));
        cluster.on(1, |n, t| {
            n.on_request(&mut t.ctx(), request(2, add(2, 3), Token::default()))
        });
        cluster.deliver_all(stores_to(NodeId(0)));
        assert_eq!(cluster.values(0, 2), vec![e(1)]);
        assert_eq!(cluster.values(1, 2), vec![e(3)]);
        cluster.on(0, |n, t| {
            n.on_request(&mut t.ctx(), request(4, read(2), Token::default()))
        });
        cluster.deliver_all(|_, _, _| true);
        assert_eq!(
            replies(&cluster.effects[0]),
            vec![Reply::Done, Reply::Read(vec![e(1), e(3)])]
        );
        for node in 0..3 {
            assert_eq!(cluster.values(node, 2), vec![e(1), e(3)], "n{node}");
        }
    }

    #[test]
    fn crdt_a_remove_tombstones_the_adds_its_read_saw_and_a_concurrent_add_wins() {
        let mut cluster = Cluster::new(&crdt_config(3, 2, 2, true), 3);
        cluster.on(0, |n, t| {
            n.on_request(&mut t.ctx(), request(0, add(2, 1), Token::default()))
        });
        cluster.deliver_all(|_, _, _| true);
        // n1 adds e1 again; its deltas are held back for now.
        cluster.on(1, |n, t| {
            n.on_request(&mut t.ctx(), request(2, add(2, 1), Token::default()))
        });
        let held = std::mem::take(&mut cluster.queue);
        // n0 removes e1: its read phase hears from itself and n2 (n1 is slow to answer),
        // neither of which has seen n1's add.
        cluster.on(0, |n, t| {
            n.on_request(&mut t.ctx(), request(4, remove(2, 1), Token::default()))
        });
        let tombstones = std::cell::Cell::new(0);
        cluster.deliver_all(|_, to, msg| {
            if let Msg::Store { data, .. } = msg {
                assert_eq!(data.len(), 1, "one tombstone: {data:?}");
                tombstones.set(tombstones.get() + 1);
            }
            !(to == NodeId(1) && matches!(msg, Msg::Fetch { .. }))
        });
        assert_eq!(replies(&cluster.effects[0]), vec![Reply::Done, Reply::Done]);
        assert_eq!(tombstones.get(), 2, "a delta to n1 and n2");
        assert!(cluster.values(2, 2).is_empty(), "removed where it was seen");
        // n1's add arrives: the remove never saw it, so it survives everywhere.
        cluster.queue = held;
        cluster.deliver_all(|_, _, _| true);
        assert_eq!(replies(&cluster.effects[1]), vec![Reply::Done]);
        for node in 0..3 {
            assert_eq!(cluster.values(node, 2), vec![e(1)], "n{node}: add wins");
        }
        // A remove that saw both adds removes the element.
        cluster.on(2, |n, t| {
            n.on_request(&mut t.ctx(), request(6, remove(2, 1), Token::default()))
        });
        cluster.deliver_all(|_, _, _| true);
        for node in 0..3 {
            assert!(cluster.values(node, 2).is_empty(), "n{node}");
        }
    }

    #[test]
    fn crdt_a_remove_that_saw_no_add_is_done_without_writing() {
        let mut cluster = Cluster::new(&crdt_config(3, 2, 2, true), 3);
        cluster.on(0, |n, t| {
            n.on_request(&mut t.ctx(), request(0, remove(3, 1), Token::default()))
        });
        cluster.deliver_all(|_, _, msg| {
            assert!(!matches!(msg, Msg::Store { .. }), "{msg:?}");
            true
        });
        assert_eq!(replies(&cluster.effects[0]), vec![Reply::Done]);
        assert_eq!(counted(&cluster.effects[0], "remove_saw_nothing"), 1);
    }

    #[test]
    fn crdt_updates_short_of_w_end_unknown_and_a_remove_short_of_r_fails_unwritten() {
        let (mut node, mut test) = booted(&crdt_config(3, 2, 2, true), 0, 3);
        node.on_request(&mut test.ctx(), request(0, add(1, 1), Token::default()));
        node.on_request(&mut test.ctx(), request(2, remove(1, 1), Token::default()));
        let sent = sends(&test.take_effects());
        // The add's delta to both peers; the remove only reads.
        let stores = sent
            .iter()
            .filter(|(_, m)| matches!(m, Msg::Store { .. }))
            .count();
        let fetches = sent
            .iter()
            .filter(|(_, m)| matches!(m, Msg::Fetch { .. }))
            .count();
        assert_eq!((stores, fetches), (2, 2));
        for ms in [30, 60, 90] {
            test.now = SimTime::from_micros(ms * 1000);
            node.on_timer(&mut test.ctx(), Timer::Tick);
        }
        let effects = test.take_effects();
        assert_eq!(replies(&effects), vec![Reply::Unknown, Reply::Fail]);
        assert!(sends(&effects).is_empty(), "a failed remove writes nothing");
        assert!(node.is_quiet());
    }

    #[test]
    fn crdt_and_register_configurations_refuse_each_others_operations() {
        let (mut node, mut test) = booted(&crdt_config(3, 1, 1, false), 0, 3);
        node.on_request(
            &mut test.ctx(),
            request(0, crate::testing::write(1, 1), Token::default()),
        );
        let effects = test.take_effects();
        assert_eq!(replies(&effects), vec![Reply::Fail]);
        assert!(sends(&effects).is_empty());
        // And a register configuration refuses CRDT updates.
        let (mut node, mut test) = booted(&crate::testing::config(3, 1, 1), 0, 3);
        node.on_request(
            &mut test.ctx(),
            request(0, increment(1, 1), Token::default()),
        );
        assert_eq!(replies(&test.take_effects()), vec![Reply::Fail]);
    }
}
