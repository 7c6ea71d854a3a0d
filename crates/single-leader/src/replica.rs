//! One replica: leader, follower or candidate.
//!
//! **Replication.** The leader appends each client write to its log (durably) and sends
//! it to the followers, pipelined: each follower gets `Append{prev_lsn, prev_epoch,
//! entries}` and accepts it only if its own log has the leader's entry at `prev_lsn`
//! (same epoch). Entries that arrive early (the network reorders) are buffered; a gap
//! or a mismatch found by a heartbeat is answered with a `Nack` and the leader resends
//! from the follower's hint, or sends a snapshot when it has already discarded that part
//! of its log. Every heartbeat interval the leader also retransmits what a follower has
//! not acknowledged. Followers apply entries as they append them and report their lag.
//!
//! **Acknowledgement** depends on the mode: `async` after the leader's own durable write,
//! `sync` once every (caught-up) follower has the entry, `semi-sync` once the designated
//! synchronous follower has it, `chain` once the tail of the chain has it.
//!
//! **Failover.** Followers that hear nothing from the leader for the timeout (plus a delay
//! that grows with how far behind they are, so the most up-to-date follower goes first,
//! plus jitter) start an election in a new epoch. A node votes once per epoch, only for a
//! candidate whose log is at least as up to date as its own, and never while it still
//! hears from a live leader. A majority makes a leader, which appends a no-op entry so
//! that every follower drops the entries the new leader does not have: the writes a
//! failed leader had acknowledged but not replicated are discarded there, and the
//! checkers report them as `lost_write`. Any message carrying a newer epoch makes a node
//! step down and follow. With `fencing`, a leader that has not heard from a majority
//! within half the timeout stops accepting writes (a lease, timed from when it sent the
//! heartbeats that were acknowledged, so it always ends before followers can elect
//! someone else), and a restarted leader comes back as a follower. Without fencing, an
//! isolated or restarted old leader goes on accepting writes until it hears of the newer
//! epoch: split brain.
//!
//! Invariants (asserted): positions grow by one; at most one leader per epoch as seen by
//! any node; a follower never truncates below its snapshot; epochs never decrease.

use std::collections::{BTreeMap, BTreeSet};

use repsim_sim::{
    Context, KeyId, Node, NodeId, Op, Reply, Request, RequestId, RoleKind, SimDuration, SimTime,
    Start, TimerId, ValueId,
};

use crate::config::{Config, LogFormat, PlantedBug, Replication};
use crate::log::{Entry, Log, Payload, Stored};
use crate::msg::{Append, AppendReply, Msg, Record, Snapshot, Timer, Token};

/// Most entries in one `Append`.
const BATCH: usize = 256;
/// Most early `Append`s a follower buffers.
const BUFFER: usize = 1024;

type Ctx<'a> = Context<'a, Replica>;

/// What a leader knows about one follower.
#[derive(Clone, Debug)]
struct Peer {
    /// Next position to send.
    next: u64,
    /// Last position known to match (this epoch).
    matched: Option<u64>,
    /// When it last answered (local time).
    last_ack: Option<SimTime>,
    /// Send time of the latest message it acknowledged (for the lease).
    lease_from: Option<SimTime>,
    /// When `matched` last advanced.
    progress_at: SimTime,
    /// It cannot apply this leader's WAL.
    incompatible: bool,
    /// It has been set up (initial members, or joiners once they acknowledged).
    set_up: bool,
    /// A snapshot sent to it may still be in flight until then.
    snapshot_until: Option<SimTime>,
}

#[derive(Debug)]
struct LeaderState {
    since: SimTime,
    peers: BTreeMap<NodeId, Peer>,
    /// Writes waiting for acknowledgement: position → (request, value).
    pending: BTreeMap<u64, (RequestId, ValueId)>,
    sync_follower: Option<NodeId>,
    /// Live followers in chain order (chain replication).
    chain: Vec<NodeId>,
    /// A `Ship` timer is pending.
    ship_armed: bool,
}

#[derive(Debug)]
enum Role {
    Follower,
    Candidate {
        pre: bool,
        votes: BTreeSet<NodeId>,
        started: SimTime,
    },
    Leader(LeaderState),
}

/// One replica of the single-leader protocol.
#[derive(Debug)]
pub struct Replica {
    config: Config,
    epoch: u64,
    /// The epoch last made durable (epochs never decrease).
    persisted_epoch: u64,
    voted_for: Option<NodeId>,
    was_leader: bool,
    role: Role,
    leader: Option<NodeId>,
    log: Log,
    /// A new node that has no snapshot yet.
    needs_snapshot: bool,
    /// This node could not apply the leader's WAL and stopped replicating.
    incompatible: bool,
    last_heard: Option<SimTime>,
    election_timer: Option<TimerId>,
    rank: u32,
    successor: Option<NodeId>,
    /// Early appends, by `prev_lsn`.
    buffer: BTreeMap<u64, Append>,
}

impl Replica {
    /// Rebuilds a replica from its durable records (none for a new node).
    pub fn recover(config: Config, storage: &[Record]) -> Replica {
        let mut replica = Replica {
            config,
            epoch: 0,
            persisted_epoch: 0,
            voted_for: None,
            was_leader: false,
            role: Role::Follower,
            leader: None,
            log: Log::default(),
            needs_snapshot: false,
            incompatible: false,
            last_heard: None,
            election_timer: None,
            rank: 0,
            successor: None,
            buffer: BTreeMap::new(),
        };
        for record in storage {
            match record {
                Record::Meta {
                    epoch,
                    voted_for,
                    leader,
                } => {
                    replica.epoch = *epoch;
                    replica.persisted_epoch = *epoch;
                    replica.voted_for = *voted_for;
                    replica.was_leader = *leader;
                }
                Record::Entry(stored) => {
                    if stored.entry.lsn <= replica.log.last_lsn() {
                        replica.log.truncate_after(stored.entry.lsn - 1);
                    }
                    replica.log.append(*stored);
                }
                Record::Truncate { after } => {
                    replica.log.truncate_after(*after);
                }
                Record::Snapshot { lsn, epoch, data } => {
                    replica
                        .log
                        .install_snapshot(*lsn, *epoch, data.iter().copied().collect());
                }
            }
        }
        replica
    }

    fn majority(ctx: &Ctx<'_>) -> usize {
        ctx.members().len() / 2 + 1
    }

    fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    fn persist_meta(&mut self, ctx: &mut Ctx<'_>) {
        // Invariant: epochs never decrease, whatever path changed them.
        assert!(
            self.epoch >= self.persisted_epoch,
            "{}: epoch went back from {} to {}",
            ctx.id(),
            self.persisted_epoch,
            self.epoch
        );
        self.persisted_epoch = self.epoch;
        ctx.persist(Record::Meta {
            epoch: self.epoch,
            voted_for: self.voted_for,
            leader: self.is_leader(),
        });
    }

    fn arm_election(&mut self, ctx: &mut Ctx<'_>) {
        if self.config.failover.is_none() {
            return;
        }
        if let Some(timer) = self.election_timer.take() {
            ctx.cancel_timer(timer);
        }
        let timeout = self.config.timeout().as_micros();
        let jitter = ctx.rng().below((timeout / 4).max(1));
        let delay = timeout + u64::from(self.rank) * (timeout / 2) + jitter;
        self.election_timer = Some(ctx.set_timer(SimDuration::from_micros(delay), Timer::Election));
    }

    /// Adopts a newer epoch seen in any message, stepping down if leader.
    fn observe_epoch(&mut self, ctx: &mut Ctx<'_>, epoch: u64) {
        if epoch <= self.epoch {
            return;
        }
        self.epoch = epoch;
        self.voted_for = None;
        self.leader = None;
        match self.role {
            Role::Leader(_) => self.step_down(ctx, "stepped_down_newer_epoch"),
            Role::Candidate { .. } => self.role = Role::Follower,
            Role::Follower => {}
        }
        self.persist_meta(ctx);
    }

    fn step_down(&mut self, ctx: &mut Ctx<'_>, why: &'static str) {
        let Role::Leader(state) = std::mem::replace(&mut self.role, Role::Follower) else {
            return;
        };
        ctx.count(why);
        // Writes not yet acknowledged may or may not survive: the client learns nothing.
        for (request, _) in state.pending.into_values() {
            ctx.reply(request, Reply::Unknown);
        }
        ctx.role(RoleKind::NotLeader);
        if self.leader == Some(ctx.id()) {
            self.leader = None;
        }
        self.last_heard = Some(ctx.now());
        self.persist_meta(ctx);
        self.arm_election(ctx);
    }

    fn become_leader(
        &mut self,
        ctx: &mut Ctx<'_>,
        lease_from: Option<SimTime>,
        voters: &BTreeSet<NodeId>,
    ) {
        let now = ctx.now();
        let next = self.log.last_lsn() + 1;
        let peers = ctx
            .peers()
            .map(|p| {
                let peer = Peer {
                    next,
                    matched: None,
                    last_ack: None,
                    lease_from: if voters.contains(&p) {
                        lease_from
                    } else {
                        None
                    },
                    progress_at: now,
                    incompatible: false,
                    set_up: true,
                    snapshot_until: None,
                };
                (p, peer)
            })
            .collect();
        if let Some(timer) = self.election_timer.take() {
            ctx.cancel_timer(timer);
        }
        self.role = Role::Leader(LeaderState {
            since: now,
            peers,
            pending: BTreeMap::new(),
            sync_follower: None,
            chain: Vec::new(),
            ship_armed: false,
        });
        self.leader = Some(ctx.id());
        self.buffer.clear();
        self.persist_meta(ctx);
        ctx.role(RoleKind::Leader { epoch: self.epoch });
        self.refresh_topology(ctx);
        ctx.set_timer(self.config.heartbeat(), Timer::Heartbeat);
    }

    /// Elected (not at boot): a no-op entry of the new epoch, then heartbeats carrying it.
    fn take_office(&mut self, ctx: &mut Ctx<'_>) {
        let entry = Entry {
            lsn: self.log.last_lsn() + 1,
            epoch: self.epoch,
            key: KeyId(0),
            payload: Payload::Noop,
            written_at_micros: ctx.now().as_micros(),
        };
        let stored = Stored {
            entry,
            applied: None,
        };
        self.log.append(stored);
        ctx.persist(Record::Entry(stored));
        self.broadcast_appends(ctx, true);
    }

    // ----- leader -----------------------------------------------------------------

    /// Recomputes the chain and the semi-sync follower, and adds new members.
    fn refresh_topology(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let last = self.log.last_lsn();
        let members: Vec<NodeId> = ctx.peers().collect();
        let Role::Leader(state) = &mut self.role else {
            return;
        };
        // Followers that left the cluster (`remove_node`) are no longer waited for.
        state.peers.retain(|id, _| members.contains(id));
        for member in members {
            state.peers.entry(member).or_insert(Peer {
                next: last + 1,
                matched: None,
                last_ack: None,
                lease_from: None,
                progress_at: now,
                incompatible: false,
                set_up: false,
                snapshot_until: None,
            });
        }
        let since = state.since;
        let timeout = self.config.timeout();
        let alive = |peer: &Peer| match peer.last_ack {
            Some(at) => now.since(at) < timeout,
            None => now.since(since) < timeout,
        };
        match self.config.replication {
            Replication::Chain => {
                let chain: Vec<NodeId> = state
                    .peers
                    .iter()
                    .filter(|(_, p)| alive(p) && !p.incompatible)
                    .map(|(&id, _)| id)
                    .collect();
                if chain != state.chain {
                    if !state.chain.is_empty() {
                        ctx.count("chain_reconfigured");
                    }
                    state.chain = chain;
                }
            }
            Replication::SemiSync => {
                let current_ok = state
                    .sync_follower
                    .and_then(|f| state.peers.get(&f))
                    .is_some_and(|p| alive(p) && !p.incompatible);
                if !current_ok {
                    let best = state
                        .peers
                        .iter()
                        .filter(|(_, p)| alive(p) && !p.incompatible)
                        .max_by_key(|&(&id, p)| (p.matched, std::cmp::Reverse(id)))
                        .map(|(&id, _)| id);
                    if best.is_some() && best != state.sync_follower {
                        if state.sync_follower.is_some() {
                            ctx.count("semi_sync_follower_replaced");
                        }
                        state.sync_follower = best;
                    }
                }
            }
            Replication::Sync | Replication::Async => {}
        }
    }

    fn successor_of(state: &LeaderState, node: NodeId, leader: NodeId) -> Option<NodeId> {
        if node == leader {
            return state.chain.first().copied();
        }
        let i = state.chain.iter().position(|&n| n == node)?;
        state.chain.get(i + 1).copied()
    }

    fn send_append(&mut self, ctx: &mut Ctx<'_>, to: NodeId, probe: bool) {
        let now = ctx.now();
        let me = ctx.id();
        let chain_mode = self.config.replication == Replication::Chain;
        let Role::Leader(state) = &mut self.role else {
            return;
        };
        let rank = {
            let mine = state.peers.get(&to).and_then(|p| p.matched);
            state.peers.values().filter(|p| p.matched > mine).count() as u32
        };
        let successor = if chain_mode {
            Self::successor_of(state, to, me)
        } else {
            None
        };
        let Some(peer) = state.peers.get_mut(&to) else {
            return;
        };
        let prev = peer.next - 1;
        if prev < self.log.base_lsn() {
            return self.send_snapshot(ctx, to);
        }
        let prev_epoch = self
            .log
            .epoch_at(prev)
            .expect("prev is within the leader's log");
        let entries = self.log.entries_from(peer.next, BATCH);
        // Invariant, on the sending side: entries follow `prev` without a gap (the
        // receiving side checks the same in `apply_append`).
        assert!(
            entries
                .iter()
                .enumerate()
                .all(|(i, e)| e.lsn == prev + 1 + i as u64),
            "{me}: entries for {to} do not follow position {prev}"
        );
        peer.next += entries.len() as u64;
        ctx.send(
            to,
            Msg::Append(Append {
                epoch: self.epoch,
                leader: me,
                prev_lsn: prev,
                prev_epoch,
                entries,
                leader_last: self.log.last_lsn(),
                sent_at_micros: now.as_micros(),
                probe,
                rank,
                successor,
                forwarded: false,
            }),
        );
    }

    fn send_snapshot(&mut self, ctx: &mut Ctx<'_>, to: NodeId) {
        let now = ctx.now();
        let Role::Leader(state) = &mut self.role else {
            return;
        };
        let Some(peer) = state.peers.get_mut(&to) else {
            return;
        };
        if peer.snapshot_until.is_some_and(|until| now < until) {
            return;
        }
        peer.snapshot_until = Some(now + self.config.timeout());
        peer.next = self.log.last_lsn() + 1;
        ctx.count("snapshot_sent");
        ctx.send(
            to,
            Msg::Snapshot(Snapshot {
                epoch: self.epoch,
                lsn: self.log.last_lsn(),
                lsn_epoch: self.log.last_epoch(),
                data: self.log.data().iter().map(|(&k, &v)| (k, v)).collect(),
                format: ctx.format_version(),
            }),
        );
    }

    fn broadcast_appends(&mut self, ctx: &mut Ctx<'_>, probe: bool) {
        let Role::Leader(state) = &self.role else {
            return;
        };
        let peers: Vec<NodeId> = state.peers.keys().copied().collect();
        for peer in peers {
            self.send_append(ctx, peer, probe);
        }
    }

    fn has_lease(&self, ctx: &Ctx<'_>) -> bool {
        let Role::Leader(state) = &self.role else {
            return false;
        };
        if !self.config.fencing() || self.config.planted_bug == Some(PlantedBug::IgnoreLease) {
            return true;
        }
        let now = ctx.now();
        let lease = SimDuration::from_micros(self.config.timeout().as_micros() / 2);
        let fresh = state
            .peers
            .values()
            .filter(|p| p.lease_from.is_some_and(|from| now.since(from) < lease))
            .count();
        fresh + 1 >= Self::majority(ctx)
    }

    fn on_heartbeat(&mut self, ctx: &mut Ctx<'_>) {
        if !self.is_leader() {
            return;
        }
        if !self.has_lease(ctx) {
            return self.step_down(ctx, "lease_expired");
        }
        self.refresh_topology(ctx);
        let now = ctx.now();
        let heartbeat = self.config.heartbeat();
        let last = self.log.last_lsn();
        if let Role::Leader(state) = &mut self.role {
            for peer in state.peers.values_mut() {
                // Retransmit what has not been acknowledged for a heartbeat interval.
                if let Some(matched) = peer.matched
                    && matched < last
                    && now.since(peer.progress_at) >= heartbeat
                {
                    peer.next = matched + 1;
                    peer.progress_at = now;
                }
            }
        }
        self.broadcast_appends(ctx, true);
        self.commit(ctx);
        ctx.set_timer(heartbeat, Timer::Heartbeat);
    }

    /// Acknowledges every pending write the replication mode now allows.
    fn commit(&mut self, ctx: &mut Ctx<'_>) {
        let last = self.log.last_lsn();
        let Role::Leader(state) = &mut self.role else {
            return;
        };
        if state.pending.is_empty() {
            return;
        }
        let matched = |id: &NodeId| state.peers.get(id).and_then(|p| p.matched).unwrap_or(0);
        let committed = match self.config.replication {
            Replication::Async => last,
            Replication::Sync => state
                .peers
                .iter()
                .filter(|(_, p)| p.set_up)
                .map(|(id, _)| matched(id))
                .min()
                .unwrap_or(last),
            Replication::SemiSync => match state.sync_follower {
                Some(f) => matched(&f),
                None if state.peers.is_empty() => last,
                None => 0,
            },
            Replication::Chain => state.chain.last().map_or(last, matched),
        };
        while let Some(entry) = state.pending.first_entry() {
            if *entry.key() > committed {
                break;
            }
            let lsn = *entry.key();
            let (request, value) = entry.remove();
            ctx.reply_with_token(
                request,
                Reply::Written(value),
                Token {
                    write_lsn: lsn,
                    read_lsn: 0,
                },
            );
        }
    }

    fn on_append_reply(&mut self, ctx: &mut Ctx<'_>, from: NodeId, reply: AppendReply) {
        let epoch = match reply {
            AppendReply::Ok { epoch, .. }
            | AppendReply::Nack { epoch, .. }
            | AppendReply::Stale { epoch }
            | AppendReply::NeedSnapshot { epoch }
            | AppendReply::Incompatible { epoch } => epoch,
        };
        if epoch > self.epoch {
            return self.observe_epoch(ctx, epoch);
        }
        if epoch < self.epoch {
            return;
        }
        let now = ctx.now();
        let Role::Leader(state) = &mut self.role else {
            return;
        };
        let Some(peer) = state.peers.get_mut(&from) else {
            return;
        };
        peer.last_ack = Some(now);
        match reply {
            AppendReply::Ok {
                matched,
                sent_at_micros,
                ..
            } => {
                let sent = SimTime::from_micros(sent_at_micros);
                peer.lease_from = peer.lease_from.max(Some(sent));
                peer.set_up = true;
                peer.snapshot_until = None;
                if peer.matched < Some(matched) {
                    peer.matched = Some(matched);
                    peer.progress_at = now;
                }
                peer.next = peer.next.max(matched + 1);
                self.commit(ctx);
            }
            AppendReply::Nack {
                hint,
                sent_at_micros,
                ..
            } => {
                let sent = SimTime::from_micros(sent_at_micros);
                peer.lease_from = peer.lease_from.max(Some(sent));
                peer.next = hint.max(1);
                peer.progress_at = now;
                ctx.count("append_rejected");
                self.send_append(ctx, from, true);
            }
            AppendReply::NeedSnapshot { .. } => self.send_snapshot(ctx, from),
            AppendReply::Incompatible { .. } => {
                if !peer.incompatible {
                    peer.incompatible = true;
                    ctx.count("follower_incompatible");
                }
            }
            AppendReply::Stale { .. } => {}
        }
    }

    fn on_client_write(
        &mut self,
        ctx: &mut Ctx<'_>,
        request: RequestId,
        key: KeyId,
        value: ValueId,
        nondeterministic: bool,
    ) {
        if !self.has_lease(ctx) {
            self.step_down(ctx, "lease_expired");
            return ctx.reply(request, Reply::Fail);
        }
        // The leader executes the write; a nondeterministic statement's value is computed
        // here, and that is the value the client is told.
        let payload = match self.config.log {
            LogFormat::Logical => Payload::Logical(value),
            LogFormat::Statement => Payload::Statement {
                value,
                nondeterministic,
            },
            LogFormat::Wal => Payload::Wal {
                format: ctx.format_version(),
                value,
            },
        };
        let lsn = self.log.last_lsn() + 1;
        let entry = Entry {
            lsn,
            epoch: self.epoch,
            key,
            payload,
            written_at_micros: ctx.now().as_micros(),
        };
        let stored = Stored {
            entry,
            applied: Some(value),
        };
        self.log.append(stored);
        ctx.persist(Record::Entry(stored));
        ctx.accepted_write(request);
        if self.config.replication == Replication::Async {
            ctx.reply_with_token(
                request,
                Reply::Written(value),
                Token {
                    write_lsn: lsn,
                    read_lsn: 0,
                },
            );
        } else if let Role::Leader(state) = &mut self.role {
            state.pending.insert(lsn, (request, value));
        }
        self.schedule_ship(ctx);
        self.compact(ctx);
        self.commit(ctx);
    }

    /// Makes sure the log sender will ship the new entries.
    fn schedule_ship(&mut self, ctx: &mut Ctx<'_>) {
        if self.config.ship_interval == SimDuration::ZERO {
            return self.ship(ctx);
        }
        if let Role::Leader(state) = &mut self.role
            && !state.ship_armed
        {
            state.ship_armed = true;
            ctx.set_timer(self.config.ship_interval, Timer::Ship);
        }
    }

    /// Ships entries not yet sent: to every follower, or to the head of the chain.
    fn ship(&mut self, ctx: &mut Ctx<'_>) {
        let me = ctx.id();
        let last = self.log.last_lsn();
        let targets: Vec<NodeId> = match &mut self.role {
            Role::Leader(state) => {
                state.ship_armed = false;
                if self.config.replication == Replication::Chain {
                    Self::successor_of(state, me, me).into_iter().collect()
                } else {
                    state.peers.keys().copied().collect()
                }
            }
            _ => Vec::new(),
        };
        for target in targets {
            let behind = matches!(&self.role, Role::Leader(s) if s.peers[&target].next <= last);
            if behind {
                self.send_append(ctx, target, false);
            }
        }
    }

    // ----- follower ----------------------------------------------------------------

    /// The value this node stores for an entry it applies as a follower, or `Err` when it
    /// cannot apply it (WAL of another storage-format version).
    fn execute(&self, ctx: &mut Ctx<'_>, payload: Payload) -> Result<Option<ValueId>, ()> {
        match payload {
            Payload::Logical(value) => Ok(Some(value)),
            Payload::Statement {
                value,
                nondeterministic: false,
            } => Ok(Some(value)),
            // Re-executing NOW() or RAND() here gives this node's own value.
            Payload::Statement {
                value,
                nondeterministic: true,
            } => Ok(Some(ctx.derived_value(value))),
            Payload::Wal { format, value } if format == ctx.format_version() => Ok(Some(value)),
            Payload::Wal { .. } => Err(()),
            Payload::Noop => Ok(None),
        }
    }

    fn reply_to_leader(&self, ctx: &mut Ctx<'_>, leader: NodeId, reply: AppendReply) {
        if leader != ctx.id() {
            ctx.send(leader, Msg::AppendReply(reply));
        }
    }

    fn on_append(&mut self, ctx: &mut Ctx<'_>, append: Append) {
        if append.epoch < self.epoch {
            return self.reply_to_leader(
                ctx,
                append.leader,
                AppendReply::Stale { epoch: self.epoch },
            );
        }
        self.observe_epoch(ctx, append.epoch);
        assert!(
            !self.is_leader(),
            "{} is leader in epoch {} and got entries from {} in the same epoch",
            ctx.id(),
            self.epoch,
            append.leader
        );
        if matches!(self.role, Role::Candidate { .. }) {
            self.role = Role::Follower;
        }
        self.leader = Some(append.leader);
        self.last_heard = Some(ctx.now());
        if !append.forwarded {
            self.rank = append.rank;
            self.successor = append.successor;
        }
        self.arm_election(ctx);
        if self.needs_snapshot {
            if append.probe {
                self.reply_to_leader(
                    ctx,
                    append.leader,
                    AppendReply::NeedSnapshot { epoch: self.epoch },
                );
            }
            return;
        }
        if self.incompatible {
            if append.probe {
                self.reply_to_leader(
                    ctx,
                    append.leader,
                    AppendReply::Incompatible { epoch: self.epoch },
                );
            }
            return;
        }
        let leader = append.leader;
        let probe = append.probe;
        let heartbeat = append.entries.is_empty();
        let sent_at_micros = append.sent_at_micros;
        let first_new = self.log.last_lsn() + 1;
        match self.apply_append(ctx, append) {
            Applied::Matched(mut matched) => {
                // Early appends that now fit.
                while let Some(next) = self.buffer.remove(&self.log.last_lsn()) {
                    match self.apply_append(ctx, next) {
                        Applied::Matched(m) => matched = matched.max(m),
                        _ => break,
                    }
                }
                self.buffer.retain(|&prev, _| prev > matched);
                if self.incompatible {
                    return self.reply_to_leader(
                        ctx,
                        leader,
                        AppendReply::Incompatible { epoch: self.epoch },
                    );
                }
                self.forward_down_chain(ctx, leader, first_new);
                self.compact(ctx);
                self.reply_to_leader(
                    ctx,
                    leader,
                    AppendReply::Ok {
                        epoch: self.epoch,
                        matched,
                        sent_at_micros,
                        heartbeat,
                    },
                );
            }
            Applied::Gap => {
                if probe {
                    let hint = self.log.last_lsn() + 1;
                    self.reply_to_leader(
                        ctx,
                        leader,
                        AppendReply::Nack {
                            epoch: self.epoch,
                            hint,
                            sent_at_micros,
                        },
                    );
                }
            }
            Applied::Conflict { hint } => {
                self.reply_to_leader(
                    ctx,
                    leader,
                    AppendReply::Nack {
                        epoch: self.epoch,
                        hint,
                        sent_at_micros,
                    },
                );
            }
            Applied::Incompatible => {
                self.reply_to_leader(ctx, leader, AppendReply::Incompatible { epoch: self.epoch });
            }
        }
    }

    /// Appends what fits; reports how far this log now matches the leader's.
    fn apply_append(&mut self, ctx: &mut Ctx<'_>, append: Append) -> Applied {
        let mut prev = append.prev_lsn;
        let mut entries: &[Entry] = &append.entries;
        // Invariant, on the receiving side: the entries follow `prev` without a gap, and
        // none comes from a newer epoch than the append carrying it.
        assert!(
            entries
                .iter()
                .enumerate()
                .all(|(i, e)| e.lsn == prev + 1 + i as u64 && e.epoch <= append.epoch),
            "{}: entries from {} do not follow position {prev} in epoch {}",
            ctx.id(),
            append.leader,
            append.epoch
        );
        if prev > self.log.last_lsn() {
            if !append.entries.is_empty() && self.buffer.len() < BUFFER {
                self.buffer.insert(prev, append);
            }
            return Applied::Gap;
        }
        if prev < self.log.base_lsn() {
            // Already folded into this node's snapshot: skip what it covers.
            let skip = ((self.log.base_lsn() - prev) as usize).min(entries.len());
            entries = &entries[skip..];
            prev = self.log.base_lsn();
        } else if self.log.epoch_at(prev) != Some(append.prev_epoch) {
            ctx.count("log_conflict");
            return Applied::Conflict {
                hint: self.log.first_lsn_of_epoch_at(prev),
            };
        }
        let now = ctx.now();
        for &entry in entries {
            if entry.lsn <= self.log.last_lsn() {
                if self.log.epoch_at(entry.lsn) == Some(entry.epoch) {
                    continue;
                }
                self.truncate_after(ctx, entry.lsn - 1);
            }
            let Ok(applied) = self.execute(ctx, entry.payload) else {
                self.incompatible = true;
                ctx.count("wal_incompatible");
                return Applied::Incompatible;
            };
            let stored = Stored { entry, applied };
            self.log.append(stored);
            ctx.persist(Record::Entry(stored));
            if entry.payload != Payload::Noop {
                let written = SimTime::from_micros(entry.written_at_micros);
                ctx.replication_lag(now.since(written));
            }
        }
        // Entries after these may be this node's own from an older epoch; they go when the
        // leader's entries (at least its no-op) reach their positions.
        Applied::Matched(prev + entries.len() as u64)
    }

    fn truncate_after(&mut self, ctx: &mut Ctx<'_>, lsn: u64) {
        let dropped = self.log.truncate_after(lsn);
        if dropped > 0 {
            ctx.count("log_truncated");
            ctx.persist(Record::Truncate { after: lsn });
        }
    }

    fn forward_down_chain(&mut self, ctx: &mut Ctx<'_>, leader: NodeId, first_new: u64) {
        if self.config.replication != Replication::Chain {
            return;
        }
        let Some(next) = self.successor else { return };
        let entries = self.log.entries_from(first_new, BATCH);
        if entries.is_empty() || next == leader || next == ctx.id() {
            return;
        }
        let prev = first_new - 1;
        let Some(prev_epoch) = self.log.epoch_at(prev) else {
            return;
        };
        ctx.send(
            next,
            Msg::Append(Append {
                epoch: self.epoch,
                leader,
                prev_lsn: prev,
                prev_epoch,
                entries,
                leader_last: self.log.last_lsn(),
                sent_at_micros: 0,
                probe: false,
                rank: 0,
                successor: None,
                forwarded: true,
            }),
        );
    }

    fn on_snapshot(&mut self, ctx: &mut Ctx<'_>, from: NodeId, snapshot: Snapshot) {
        let Snapshot {
            epoch,
            lsn,
            lsn_epoch,
            data,
            format,
        } = snapshot;
        if epoch < self.epoch {
            return self.reply_to_leader(ctx, from, AppendReply::Stale { epoch: self.epoch });
        }
        self.observe_epoch(ctx, epoch);
        if self.is_leader() {
            return;
        }
        self.leader = Some(from);
        self.last_heard = Some(ctx.now());
        if self.config.log == LogFormat::Wal && format != ctx.format_version() {
            // A physical base backup is as version-bound as the WAL itself.
            self.incompatible = true;
            ctx.count("wal_incompatible");
            return self.reply_to_leader(
                ctx,
                from,
                AppendReply::Incompatible { epoch: self.epoch },
            );
        }
        self.log
            .install_snapshot(lsn, lsn_epoch, data.iter().copied().collect());
        self.needs_snapshot = false;
        self.buffer.clear();
        ctx.count("snapshot_installed");
        ctx.checkpoint(vec![
            Record::Meta {
                epoch: self.epoch,
                voted_for: self.voted_for,
                leader: false,
            },
            Record::Snapshot {
                lsn,
                epoch: lsn_epoch,
                data,
            },
        ]);
        self.reply_to_leader(
            ctx,
            from,
            AppendReply::Ok {
                epoch: self.epoch,
                matched: lsn,
                sent_at_micros: 0,
                heartbeat: false,
            },
        );
    }

    /// Folds old entries into the snapshot when the log is twice the retention.
    fn compact(&mut self, ctx: &mut Ctx<'_>) {
        let keep = self.config.log_retention.max(1) as usize;
        if self.log.last_lsn() - self.log.base_lsn() <= 2 * keep as u64 {
            return;
        }
        self.log.compact(keep);
        ctx.count("log_compacted");
        let (lsn, epoch, data) = self.log.base();
        let mut records = vec![
            Record::Meta {
                epoch: self.epoch,
                voted_for: self.voted_for,
                leader: self.is_leader(),
            },
            Record::Snapshot {
                lsn,
                epoch,
                data: data.iter().map(|(&k, &v)| (k, v)).collect(),
            },
        ];
        records.extend(self.log.stored().map(|s| Record::Entry(*s)));
        ctx.checkpoint(records);
    }

    // ----- elections ---------------------------------------------------------------

    /// The election timer fired: ask for pre-votes first.
    fn start_election(&mut self, ctx: &mut Ctx<'_>) {
        self.leader = None;
        self.rank = 0;
        let votes = BTreeSet::from([ctx.id()]);
        self.role = Role::Candidate {
            pre: true,
            votes,
            started: ctx.now(),
        };
        ctx.broadcast(Msg::VoteRequest {
            pre: true,
            epoch: self.epoch + 1,
            last_lsn: self.log.last_lsn(),
            last_epoch: self.log.last_epoch(),
        });
        self.arm_election(ctx);
        self.count_votes(ctx);
    }

    fn count_votes(&mut self, ctx: &mut Ctx<'_>) {
        let Role::Candidate {
            pre,
            votes,
            started,
        } = &self.role
        else {
            return;
        };
        if votes.len() < Self::majority(ctx) {
            return;
        }
        if *pre {
            // A majority would vote for us: now bump the epoch and ask for real.
            self.epoch += 1;
            self.voted_for = Some(ctx.id());
            let votes = BTreeSet::from([ctx.id()]);
            self.role = Role::Candidate {
                pre: false,
                votes,
                started: ctx.now(),
            };
            self.persist_meta(ctx);
            ctx.count("election_started");
            ctx.broadcast(Msg::VoteRequest {
                pre: false,
                epoch: self.epoch,
                last_lsn: self.log.last_lsn(),
                last_epoch: self.log.last_epoch(),
            });
            return self.count_votes(ctx);
        }
        let (votes, started) = (votes.clone(), *started);
        ctx.count("election_won");
        self.become_leader(ctx, Some(started), &votes);
        self.take_office(ctx);
    }

    fn on_vote_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        pre: bool,
        epoch: u64,
        last_lsn: u64,
        last_epoch: u64,
    ) {
        if self.config.failover.is_none() {
            return;
        }
        // A node that still hears from a live leader refuses candidates (and does not even
        // adopt their epoch), so a node that merely lost touch cannot depose a leader.
        let timeout = self.config.timeout();
        let hears_leader = self.is_leader()
            || (self.leader.is_some()
                && self
                    .last_heard
                    .is_some_and(|t| ctx.now().since(t) < timeout));
        let up_to_date = (last_epoch, last_lsn) >= (self.log.last_epoch(), self.log.last_lsn());
        if pre {
            let granted = epoch > self.epoch && !hears_leader && up_to_date && !self.needs_snapshot;
            return ctx.send(
                from,
                Msg::VoteReply {
                    pre,
                    epoch,
                    granted,
                },
            );
        }
        if epoch < self.epoch || (epoch > self.epoch && hears_leader) {
            return ctx.send(
                from,
                Msg::VoteReply {
                    pre,
                    epoch: self.epoch,
                    granted: false,
                },
            );
        }
        self.observe_epoch(ctx, epoch);
        let granted = up_to_date && self.voted_for.is_none_or(|v| v == from) && !self.is_leader();
        if granted {
            self.voted_for = Some(from);
            self.persist_meta(ctx);
            self.arm_election(ctx);
        }
        ctx.send(
            from,
            Msg::VoteReply {
                pre,
                epoch: self.epoch,
                granted,
            },
        );
    }

    fn on_vote_reply(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        pre: bool,
        epoch: u64,
        granted: bool,
    ) {
        if !pre && epoch > self.epoch {
            return self.observe_epoch(ctx, epoch);
        }
        let wanted = if pre { self.epoch + 1 } else { self.epoch };
        if epoch != wanted || !granted {
            return;
        }
        if let Role::Candidate {
            pre: asking_pre,
            votes,
            ..
        } = &mut self.role
            && *asking_pre == pre
        {
            votes.insert(from);
            self.count_votes(ctx);
        }
    }

    // ----- clients -----------------------------------------------------------------

    fn redirect(&self, ctx: &mut Ctx<'_>, request: RequestId) {
        match self.leader {
            Some(leader) if leader != ctx.id() => ctx.reply(request, Reply::Redirect(leader)),
            _ => ctx.reply(request, Reply::Fail),
        }
    }

    fn serve_read(&self, ctx: &mut Ctx<'_>, request: RequestId, key: KeyId) {
        let values = self.log.data().get(&key).copied().into_iter().collect();
        let token = Token {
            write_lsn: 0,
            read_lsn: self.log.last_lsn(),
        };
        ctx.reply_with_token(request, Reply::Read(values), token);
    }
}

/// What [`Replica::apply_append`] did.
enum Applied {
    /// The log matches the leader's up to this position.
    Matched(u64),
    /// The append starts past this log's end (buffered if it carried entries).
    Gap,
    /// This log disagrees at `prev_lsn`; the leader should resend from `hint`.
    Conflict { hint: u64 },
    /// A WAL entry of another storage-format version.
    Incompatible,
}

impl Node for Replica {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;
    type Token = Token;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>, start: Start) {
        let configured = self.config.leader == ctx.id();
        match start {
            Start::Boot => {
                self.epoch = 1;
                if configured {
                    // The initial cluster agrees on its leader: its lease starts now.
                    let everyone: BTreeSet<NodeId> = ctx.peers().collect();
                    let now = ctx.now();
                    self.become_leader(ctx, Some(now), &everyone);
                    self.broadcast_appends(ctx, true);
                } else {
                    self.leader = Some(self.config.leader);
                    self.last_heard = Some(ctx.now());
                    self.arm_election(ctx);
                }
            }
            Start::Restart => {
                ctx.count("restarted");
                let resume = match self.config.failover {
                    None => configured,
                    // Without fencing nothing tells a restarted leader it was deposed.
                    Some(f) => !f.fencing && self.was_leader,
                };
                if resume {
                    self.epoch = self.epoch.max(1);
                    self.become_leader(ctx, None, &BTreeSet::new());
                    self.broadcast_appends(ctx, true);
                } else {
                    if self.config.failover.is_none() {
                        self.leader = Some(self.config.leader);
                    }
                    self.last_heard = Some(ctx.now());
                    self.arm_election(ctx);
                }
            }
            Start::Join => {
                ctx.count("joined");
                self.needs_snapshot = true;
                self.last_heard = Some(ctx.now());
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Append(append) => self.on_append(ctx, append),
            Msg::AppendReply(reply) => self.on_append_reply(ctx, from, reply),
            Msg::VoteRequest {
                pre,
                epoch,
                last_lsn,
                last_epoch,
            } => self.on_vote_request(ctx, from, pre, epoch, last_lsn, last_epoch),
            Msg::VoteReply {
                pre,
                epoch,
                granted,
            } => self.on_vote_reply(ctx, from, pre, epoch, granted),
            Msg::Snapshot(snapshot) => self.on_snapshot(ctx, from, snapshot),
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        match timer {
            Timer::Heartbeat => self.on_heartbeat(ctx),
            Timer::Ship => self.ship(ctx),
            Timer::Election => {
                self.election_timer = None;
                if self.is_leader() || self.config.failover.is_none() || self.needs_snapshot {
                    return;
                }
                self.start_election(ctx);
            }
        }
    }

    fn on_request(&mut self, ctx: &mut Context<'_, Self>, request: Request<Token>) {
        match request.op {
            // Counter and set workloads need `conflict: "crdt"`, which single-leader does
            // not offer: scenario validation refuses them before a run.
            Op::Increment { .. } | Op::Add { .. } | Op::Remove { .. } => {
                ctx.reply(request.id, Reply::Fail);
            }
            Op::Write {
                key,
                value,
                nondeterministic,
            } => {
                if self.is_leader() {
                    self.on_client_write(ctx, request.id, key, value, nondeterministic);
                } else {
                    self.redirect(ctx, request.id);
                }
            }
            Op::Read { key } => {
                if self.is_leader() {
                    return self.serve_read(ctx, request.id, key);
                }
                let last = self.log.last_lsn();
                let fresh_enough = !self.needs_snapshot
                    && match self.config.reads_from.as_str() {
                        "leader" => false,
                        "read-your-writes" => last >= request.token.write_lsn,
                        "monotonic" | "consistent-prefix" => last >= request.token.read_lsn,
                        _ => true,
                    };
                if fresh_enough {
                    self.serve_read(ctx, request.id, key);
                } else {
                    self.redirect(ctx, request.id);
                }
            }
        }
    }

    fn final_state(&self) -> Vec<(KeyId, Vec<ValueId>)> {
        (0..self.config.keys)
            .map(|k| {
                let key = KeyId(k);
                (
                    key,
                    self.log.data().get(&key).copied().into_iter().collect(),
                )
            })
            .collect()
    }

    fn is_quiet(&self) -> bool {
        match &self.role {
            Role::Leader(state) => {
                let last = self.log.last_lsn();
                state.pending.is_empty()
                    && state
                        .peers
                        .values()
                        .all(|p| p.incompatible || p.matched == Some(last))
            }
            Role::Follower => self.incompatible || (!self.needs_snapshot && self.leader.is_some()),
            Role::Candidate { .. } => false,
        }
    }

    fn is_background(msg: &Msg) -> bool {
        match msg {
            Msg::Append(append) => append.entries.is_empty(),
            Msg::AppendReply(AppendReply::Ok { heartbeat, .. }) => *heartbeat,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_LOG_RETENTION, Failover};
    use repsim_sim::testing::TestContext;
    use repsim_sim::{Effect, ProcessId};

    fn config(log: LogFormat, replication: Replication) -> Config {
        Config {
            replication,
            log,
            failover: Some(Failover {
                heartbeat: SimDuration::from_millis(50),
                timeout: SimDuration::from_millis(300),
                fencing: true,
            }),
            leader: NodeId(0),
            keys: 4,
            reads_from: "any".to_owned(),
            ship_interval: SimDuration::ZERO,
            planted_bug: None,
            log_retention: DEFAULT_LOG_RETENTION,
        }
    }

    fn entry(lsn: u64, epoch: u64, key: u32, payload: Payload) -> Entry {
        Entry {
            lsn,
            epoch,
            key: KeyId(key),
            payload,
            written_at_micros: 0,
        }
    }

    fn logical(lsn: u64, epoch: u64, key: u32, value: u32) -> Entry {
        entry(lsn, epoch, key, Payload::Logical(ValueId::generated(value)))
    }

    fn append(epoch: u64, prev_lsn: u64, prev_epoch: u64, entries: Vec<Entry>) -> Msg {
        Msg::Append(Append {
            epoch,
            leader: NodeId(0),
            prev_lsn,
            prev_epoch,
            leader_last: prev_lsn + entries.len() as u64,
            entries,
            sent_at_micros: 7,
            probe: true,
            rank: 0,
            successor: None,
            forwarded: false,
        })
    }

    /// A follower (n1 of 3) that booted under leader n0.
    fn follower(config: Config) -> (Replica, TestContext<Replica>) {
        let mut node = Replica::recover(config, &[]);
        let mut test = TestContext::<Replica>::new(NodeId(1), 3);
        node.on_start(&mut test.ctx(), Start::Boot);
        test.take_effects();
        (node, test)
    }

    fn replies(effects: &[Effect<Replica>]) -> Vec<AppendReply> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send {
                    msg: Msg::AppendReply(r),
                    ..
                } => Some(*r),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_follower_accepts_entries_in_order_and_acknowledges_them() {
        let (mut node, mut test) = follower(config(LogFormat::Logical, Replication::Async));
        node.on_message(
            &mut test.ctx(),
            NodeId(0),
            append(1, 0, 0, vec![logical(1, 1, 0, 1), logical(2, 1, 1, 2)]),
        );
        let effects = test.take_effects();
        assert_eq!(
            replies(&effects),
            vec![AppendReply::Ok {
                epoch: 1,
                matched: 2,
                sent_at_micros: 7,
                heartbeat: false
            }]
        );
        assert_eq!(
            effects
                .iter()
                .filter(|e| matches!(e, Effect::Persist(Record::Entry(_))))
                .count(),
            2
        );
        assert_eq!(
            node.final_state()[1],
            (KeyId(1), vec![ValueId::generated(2)])
        );
    }

    #[test]
    fn a_follower_refuses_entries_that_do_not_follow_its_log() {
        let (mut node, mut test) = follower(config(LogFormat::Logical, Replication::Async));
        node.on_message(
            &mut test.ctx(),
            NodeId(0),
            append(1, 0, 0, vec![logical(1, 1, 0, 1)]),
        );
        test.take_effects();
        // The leader thinks position 1 was written in epoch 2: a conflict at 1.
        node.on_message(
            &mut test.ctx(),
            NodeId(0),
            append(2, 1, 2, vec![logical(2, 2, 0, 5)]),
        );
        let hint = match replies(&test.take_effects())[..] {
            [AppendReply::Nack { hint, .. }] => hint,
            ref other => panic!("{other:?}"),
        };
        assert_eq!(hint, 1);
        // A heartbeat that starts past the end of its log is a gap.
        node.on_message(&mut test.ctx(), NodeId(0), append(2, 9, 2, vec![]));
        assert!(matches!(
            replies(&test.take_effects())[..],
            [AppendReply::Nack { hint: 2, .. }]
        ));
    }

    #[test]
    fn a_new_leaders_entries_replace_an_old_leaders_unreplicated_ones() {
        let (mut node, mut test) = follower(config(LogFormat::Logical, Replication::Async));
        let old = vec![
            logical(1, 1, 0, 1),
            logical(2, 1, 0, 2),
            logical(3, 1, 1, 3),
        ];
        node.on_message(&mut test.ctx(), NodeId(0), append(1, 0, 0, old));
        test.take_effects();
        // Epoch 2's leader has only position 1, then its no-op and a write at 3.
        let new = vec![entry(2, 2, 0, Payload::Noop), logical(3, 2, 1, 9)];
        node.on_message(&mut test.ctx(), NodeId(2), append(2, 1, 1, new));
        let effects = test.take_effects();
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::Persist(Record::Truncate { after: 1 })))
        );
        assert_eq!(
            node.final_state()[..2],
            [
                (KeyId(0), vec![ValueId::generated(1)]),
                (KeyId(1), vec![ValueId::generated(9)])
            ]
        );
        // The truncation survives a restart.
        let records: Vec<Record> = effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Persist(r) => Some(r),
                _ => None,
            })
            .collect();
        let mut all = vec![
            Record::Entry(Stored {
                entry: logical(1, 1, 0, 1),
                applied: Some(ValueId::generated(1)),
            }),
            Record::Entry(Stored {
                entry: logical(2, 1, 0, 2),
                applied: Some(ValueId::generated(2)),
            }),
            Record::Entry(Stored {
                entry: logical(3, 1, 1, 3),
                applied: Some(ValueId::generated(3)),
            }),
        ];
        all.extend(records);
        let recovered = Replica::recover(config(LogFormat::Logical, Replication::Async), &all);
        assert_eq!(recovered.final_state(), node.final_state());
    }

    #[test]
    fn statement_logs_reexecute_nondeterministic_writes_and_logical_logs_do_not() {
        let value = ValueId::generated(4);
        let statement = entry(
            1,
            1,
            0,
            Payload::Statement {
                value,
                nondeterministic: true,
            },
        );
        let (mut node, mut test) = follower(config(LogFormat::Statement, Replication::Async));
        node.on_message(&mut test.ctx(), NodeId(0), append(1, 0, 0, vec![statement]));
        let stored = node.final_state()[0].1[0];
        assert_ne!(stored, value);
        assert_eq!(test.values.to_json(stored), serde_json::json!("w4@n1"));

        let (mut node, mut test) = follower(config(LogFormat::Logical, Replication::Async));
        node.on_message(
            &mut test.ctx(),
            NodeId(0),
            append(1, 0, 0, vec![logical(1, 1, 0, 4)]),
        );
        assert_eq!(node.final_state()[0].1, vec![value]);
    }

    #[test]
    fn a_follower_on_another_storage_format_cannot_apply_wal() {
        let (mut node, mut test) = follower(config(LogFormat::Wal, Replication::Async));
        test.format_version = 2;
        let wal = entry(
            1,
            1,
            0,
            Payload::Wal {
                format: 1,
                value: ValueId::generated(1),
            },
        );
        node.on_message(&mut test.ctx(), NodeId(0), append(1, 0, 0, vec![wal]));
        assert_eq!(
            replies(&test.take_effects()),
            vec![AppendReply::Incompatible { epoch: 1 }]
        );
        assert_eq!(node.final_state()[0].1, vec![]);
        // And it stays stuck.
        let wal = entry(
            1,
            1,
            0,
            Payload::Wal {
                format: 2,
                value: ValueId::generated(1),
            },
        );
        node.on_message(&mut test.ctx(), NodeId(0), append(1, 0, 0, vec![wal]));
        assert_eq!(
            replies(&test.take_effects()),
            vec![AppendReply::Incompatible { epoch: 1 }]
        );
    }

    #[test]
    fn votes_go_only_to_up_to_date_candidates_and_never_while_the_leader_is_heard() {
        let (mut node, mut test) = follower(config(LogFormat::Logical, Replication::Async));
        node.on_message(
            &mut test.ctx(),
            NodeId(0),
            append(1, 0, 0, vec![logical(1, 1, 0, 1), logical(2, 1, 0, 2)]),
        );
        test.take_effects();
        let vote =
            |node: &mut Replica, test: &mut TestContext<Replica>, from: u16, epoch, last_lsn| {
                let request = Msg::VoteRequest {
                    pre: false,
                    epoch,
                    last_lsn,
                    last_epoch: 1,
                };
                node.on_message(&mut test.ctx(), NodeId(from), request);
                test.take_effects().into_iter().find_map(|e| match e {
                    Effect::Send {
                        msg: Msg::VoteReply { granted, .. },
                        ..
                    } => Some(granted),
                    _ => None,
                })
            };
        // Just heard from the leader: refused, and the epoch is not adopted.
        assert_eq!(vote(&mut node, &mut test, 2, 2, 2), Some(false));
        assert_eq!(node.epoch, 1);
        test.now = SimTime::from_micros(400_000);
        // Behind this follower's log: refused.
        assert_eq!(vote(&mut node, &mut test, 2, 2, 1), Some(false));
        // As up to date: granted, once per epoch.
        assert_eq!(vote(&mut node, &mut test, 2, 2, 2), Some(true));
        assert_eq!(vote(&mut node, &mut test, 0, 2, 5), Some(false));
        assert_eq!(node.voted_for, Some(NodeId(2)));
    }

    #[test]
    fn a_leader_that_sees_a_newer_epoch_steps_down_and_leaves_pending_writes_unknown() {
        let mut node = Replica::recover(config(LogFormat::Logical, Replication::Sync), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(0), 3);
        node.on_start(&mut test.ctx(), Start::Boot);
        let request = Request {
            id: RequestId {
                process: ProcessId(0),
                invoke: 0,
            },
            op: Op::Write {
                key: KeyId(0),
                value: ValueId::generated(1),
                nondeterministic: false,
            },
            token: Token::default(),
        };
        node.on_request(&mut test.ctx(), request);
        test.take_effects();
        assert!(node.is_leader());
        node.on_message(
            &mut test.ctx(),
            NodeId(1),
            Msg::AppendReply(AppendReply::Stale { epoch: 5 }),
        );
        let effects = test.take_effects();
        assert!(!node.is_leader());
        assert_eq!(node.epoch, 5);
        assert!(effects.iter().any(|e| matches!(
            e,
            Effect::Reply {
                reply: Reply::Unknown,
                ..
            }
        )));
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::Role(RoleKind::NotLeader)))
        );
    }

    #[test]
    fn a_sync_write_is_acknowledged_only_when_every_follower_has_it() {
        let mut node = Replica::recover(config(LogFormat::Logical, Replication::Sync), &[]);
        let mut test = TestContext::<Replica>::new(NodeId(0), 3);
        node.on_start(&mut test.ctx(), Start::Boot);
        let request = Request {
            id: RequestId {
                process: ProcessId(0),
                invoke: 0,
            },
            op: Op::Write {
                key: KeyId(0),
                value: ValueId::generated(1),
                nondeterministic: false,
            },
            token: Token::default(),
        };
        node.on_request(&mut test.ctx(), request);
        let written = |effects: &[Effect<Replica>]| {
            effects.iter().any(|e| {
                matches!(
                    e,
                    Effect::Reply {
                        reply: Reply::Written(_),
                        ..
                    }
                )
            })
        };
        assert!(!written(&test.take_effects()));
        let ok = |matched| {
            Msg::AppendReply(AppendReply::Ok {
                epoch: 1,
                matched,
                sent_at_micros: 0,
                heartbeat: false,
            })
        };
        node.on_message(&mut test.ctx(), NodeId(1), ok(1));
        assert!(!written(&test.take_effects()));
        node.on_message(&mut test.ctx(), NodeId(2), ok(1));
        assert!(written(&test.take_effects()));
    }
}
