//! Membership changes: the ring follows the cluster's members, and the data follows the
//! ring.
//!
//! **Learning the members.** The simulator changes the members (`add_node`,
//! `remove_node`) without telling anyone; a node sees the current list in every
//! handler's context. Every handler therefore starts with [`Replica::refresh`], which
//! compares that list with the members of the node's ring and, when they differ, moves
//! the node to the new ring ([`crate::ring`]: only the keys whose home replicas changed
//! move). The first node to notice a change sends every peer a [`Msg::Nudge`] (or a
//! hand-over message), so all of them look at once rather than at their next event. A
//! restarted node compares the members it persisted with the current ones, so it also
//! notices the changes it slept through; a joiner starts from the ring without itself.
//!
//! **Hand-over** (Dynamo's bootstrap and decommission, Cassandra's streaming). On a
//! change, for every key:
//!
//! - A node that *gained* the key (a home replica now, not before) marks it *pending*
//!   and asks every peer for its copy ([`Msg::Pull`]). Every peer answers at once with
//!   what it holds for the key: its copy, a copy it is still handing over, and the hints
//!   it holds for the key ([`Msg::Handover`]). The gainer merges each answer (durably)
//!   and, once every peer that is still a member has answered a request made since the
//!   gain, the key is *ready*. Until then the gainer takes writes of the key (it stores
//!   and acknowledges them like any home replica) but does not answer reads of it: a
//!   read sent to it waits for the key to be ready (and the coordinator's own part of a
//!   read waits the same way), so a read quorum never counts an answer that may lack an
//!   acknowledged write. Pending keys are durable: a gainer that crashes asks again
//!   after its restart.
//! - A node that *lost* the key (no longer a home replica) but holds a copy keeps it,
//!   stops taking writes and repairs of it, and pushes it to every current home replica
//!   ([`Msg::Handover`] without epoch) until each has confirmed it holds that copy
//!   ([`Msg::HandoverAck`], by digest); then it drops the copy (durably). Under
//!   `version-vectors` it remembers the highest counter it used for the key, so that if
//!   the key comes back to it, it never mints a dot twice.
//! - Hints held for a node that is no longer a home replica of their key (it left, or
//!   the key moved) are re-addressed to the key's current home replicas.
//! - Operations the node coordinates are re-targeted: their home replicas are those of
//!   the new ring, replies from nodes that are no longer home replicas stop counting
//!   towards `w` and `r`, and new home replicas are sent the write or asked for their
//!   copy ([`crate::coordinator`]).
//!
//! The node is not quiet while a key is pending or a copy is still to hand over, and
//! both are retried every replica timeout (`Timer::Handover`), so a run does not end
//! before the data has moved.
//!
//! **Guarantees.** With strict quorums (`w + r > n`, no sloppy quorum) and no clock skew
//! under `lww`, a membership change loses no acknowledged write and serves no stale read,
//! as long as some node that holds the write stays a member until it has handed it over
//! (with `w >= 2`, removing one node at a time always leaves one). Why: a write is
//! acknowledged once `w` home replicas of the coordinator's ring *at that moment* hold it
//! (it re-targets on a change); a later read is answered from `r` home replicas of the
//! ring of its moment, each of which either was a home replica throughout (and `w + r >
//! n` makes one of those hold the write) or gained the key since, and then answers only
//! after merging the copy of every member, among which some holder of the write.
//! Nothing is dropped before every current home replica holds it.
//!
//! **What can be seen during a change.**
//! - `unavailable`: a read of a moved key needs `r` answers from home replicas that are
//!   not pending; while the gainer waits for a peer that is down or cut off, the other
//!   home replicas must provide them. A gainer waits for *every* member (not only the
//!   key's former replicas) because a node that missed a change (down, or changes close
//!   together) may hold copies the ring no longer places on it.
//! - The anomalies of the quorum settings themselves (partial quorums, sloppy quorums,
//!   `lww` under clock skew) as without membership changes; with a sloppy quorum, a
//!   fallback standing in for a pending gainer can answer a read from hints: a
//!   `stale_read`.
//! - `lost_write`: only when every node holding a write left before handing it over
//!   (for instance removing a key's `w` replicas in a row, or a removed node with
//!   `w = 1`).
//! - Nodes learn a change at their next event: one that handles nothing between a change
//!   and the end of the run (no client reaches it, no peer writes to it, and no peer
//!   noticed the change to nudge it) keeps the older ring in its final state.
//!
//! Counters: `ring_changed` (changes seen, per node), `handover_key_gained`,
//! `handover_key_lost`, `handover_key_ready`, `handover_key_received` (copies that
//! changed the gainer's), `handover_key_dropped`, `handover_pull_served`,
//! `handover_read_deferred`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use repsim_sim::{KeyId, NodeId};

use crate::msg::{Msg, Record, Timer};
use crate::replica::{Ctx, Pending, Replica};
use crate::ring::Ring;
use crate::version::KeyState;

/// What a ring change means for one key at one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// Not a home replica before or after.
    Elsewhere,
    /// A home replica before and after.
    Stays,
    /// A home replica after, not before: it must get the key's copies.
    Gained,
    /// A home replica before, not after: it must hand its copy over.
    Lost,
}

/// What the change from `old` to `new` means for `node`'s copy of `key`.
pub fn movement(old: &Ring, new: &Ring, key: KeyId, node: NodeId) -> Move {
    match (old.is_home(key, node), new.is_home(key, node)) {
        (false, false) => Move::Elsewhere,
        (true, true) => Move::Stays,
        (false, true) => Move::Gained,
        (true, false) => Move::Lost,
    }
}

/// The nodes a node that no longer owns `key` hands its copy to: every home replica of
/// the new ring (it cannot tell which of them already hold the copy).
pub fn handover_targets(ring: &Ring, key: KeyId, node: NodeId) -> Vec<NodeId> {
    ring.home(key)
        .iter()
        .copied()
        .filter(|&h| h != node)
        .collect()
}

impl Replica {
    /// Moves to the ring of the current members if they changed since this node last
    /// looked; true when they had.
    pub(crate) fn refresh(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let Some(ring) = &self.ring else {
            return false;
        };
        if ring.members() == ctx.members() {
            return false;
        }
        let members = ctx.members().to_vec();
        self.change_ring(ctx, &members);
        true
    }

    /// The move to the ring of `members`. See the module documentation.
    fn change_ring(&mut self, ctx: &mut Ctx<'_>, members: &[NodeId]) {
        let old = self.ring();
        self.set_ring(members);
        let new = self.ring();
        self.epoch += 1;
        ctx.count("ring_changed");
        let me = self.id;
        let peers: BTreeSet<NodeId> = members.iter().copied().filter(|&m| m != me).collect();
        for k in 0..self.config.keys {
            let key = KeyId(k);
            let moved = movement(&old, &new, key, me);
            match moved {
                Move::Gained => {
                    self.outgoing.remove(&key);
                    ctx.count("handover_key_gained");
                    let pending = Pending {
                        since: self.epoch,
                        waiting: peers.clone(),
                    };
                    self.persist_pending(ctx, key, &pending);
                    self.pending.insert(key, pending);
                }
                Move::Stays => {
                    // Still pending from an earlier change: peers that left never answer.
                    if let Some(pending) = self.pending.get_mut(&key) {
                        let before = pending.waiting.len();
                        pending.waiting.retain(|p| peers.contains(p));
                        if pending.waiting.len() != before {
                            let pending = pending.clone();
                            self.persist_pending(ctx, key, &pending);
                        }
                    }
                }
                Move::Lost | Move::Elsewhere => {
                    if self.pending.remove(&key).is_some() {
                        self.persist(ctx, Record::Ready { key });
                    }
                    self.outgoing.remove(&key);
                    if self.data[key.index()].is_some() {
                        if moved == Move::Lost {
                            ctx.count("handover_key_lost");
                        }
                        self.outgoing.insert(key, handover_targets(&new, key, me));
                    }
                }
            }
        }
        self.readdress_hints(ctx, &new);
        let meta = self.meta();
        self.persist(ctx, meta);
        self.retarget_operations(ctx);
        let ready: Vec<KeyId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.waiting.is_empty())
            .map(|(&k, _)| k)
            .collect();
        for key in ready {
            self.key_ready(ctx, key);
        }
        let told = self.send_handover(ctx);
        for peer in peers {
            if !told.contains(&peer) {
                ctx.send(peer, Msg::Nudge);
            }
        }
        self.arm_anti_entropy(ctx);
        self.arm_handover(ctx);
        self.arm_handoff(ctx);
    }

    fn persist_pending(&mut self, ctx: &mut Ctx<'_>, key: KeyId, pending: &Pending) {
        self.persist(
            ctx,
            Record::Pending {
                key,
                since: pending.since,
                waiting: pending.waiting.iter().copied().collect(),
            },
        );
    }

    /// After a restart without a membership change: asks again for the copies of the
    /// keys still pending, and hands over again every copy of a key this node does not
    /// own.
    pub(crate) fn resume_handover(&mut self, ctx: &mut Ctx<'_>) {
        let ring = self.ring();
        for k in 0..self.config.keys {
            let key = KeyId(k);
            if self.data[key.index()].is_some() && !ring.is_home(key, self.id) {
                self.outgoing
                    .insert(key, handover_targets(&ring, key, self.id));
            }
        }
        let ready: Vec<KeyId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.waiting.is_empty())
            .map(|(&k, _)| k)
            .collect();
        for key in ready {
            self.key_ready(ctx, key);
        }
        self.send_handover(ctx);
        self.arm_handover(ctx);
    }

    /// Sends a [`Msg::Pull`] to every peer a pending key waits for and a
    /// [`Msg::Handover`] of every copy still to hand over; returns the peers written to.
    fn send_handover(&mut self, ctx: &mut Ctx<'_>) -> BTreeSet<NodeId> {
        let mut pulls: BTreeMap<NodeId, Vec<KeyId>> = BTreeMap::new();
        for (&key, pending) in &self.pending {
            for &peer in &pending.waiting {
                pulls.entry(peer).or_default().push(key);
            }
        }
        let mut pushes: BTreeMap<NodeId, Vec<(KeyId, Option<KeyState>)>> = BTreeMap::new();
        for (&key, targets) in &self.outgoing {
            for &target in targets {
                let copy = self.data[key.index()].clone();
                pushes.entry(target).or_default().push((key, copy));
            }
        }
        let mut told = BTreeSet::new();
        for (peer, keys) in pulls {
            told.insert(peer);
            ctx.send(
                peer,
                Msg::Pull {
                    epoch: self.epoch,
                    keys,
                },
            );
        }
        for (target, entries) in pushes {
            told.insert(target);
            ctx.send(
                target,
                Msg::Handover {
                    epoch: None,
                    entries,
                },
            );
        }
        told
    }

    fn arm_handover(&mut self, ctx: &mut Ctx<'_>) {
        let idle = self.pending.is_empty() && self.outgoing.is_empty();
        if !self.handover_armed && !idle {
            self.handover_armed = true;
            ctx.set_timer(self.config.replica_timeout(), Timer::Handover);
        }
    }

    /// Retries what is not confirmed yet.
    pub(crate) fn on_handover_timer(&mut self, ctx: &mut Ctx<'_>) {
        self.handover_armed = false;
        self.send_handover(ctx);
        self.arm_handover(ctx);
    }

    /// A gainer asks for this node's copies: everything it holds for each key (its copy,
    /// or one it is handing over, and its hints), answered at once.
    pub(crate) fn on_pull(&mut self, ctx: &mut Ctx<'_>, from: NodeId, epoch: u64, keys: &[KeyId]) {
        ctx.count("handover_pull_served");
        let entries = keys
            .iter()
            .filter(|key| key.index() < self.data.len())
            .map(|&key| {
                let mut copy = self.data[key.index()].clone();
                if let Some(hinted) = self.hinted_copy(key) {
                    KeyState::merge_into(&mut copy, &hinted);
                }
                (key, copy)
            })
            .collect();
        ctx.send(
            from,
            Msg::Handover {
                epoch: Some(epoch),
                entries,
            },
        );
    }

    /// Copies from a peer: an answer to this node's [`Msg::Pull`] (`epoch`), or pushed by
    /// a node that no longer owns the keys. Merges those of keys this node owns; counts
    /// the answer for the pending keys it was asked for since their gain; confirms a push.
    pub(crate) fn on_handover(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        epoch: Option<u64>,
        entries: Vec<(KeyId, Option<KeyState>)>,
    ) {
        let mut confirmed = Vec::new();
        let mut ready = Vec::new();
        for (key, copy) in entries {
            if !self.is_home(key) {
                // Not ours in this node's ring: the sender will try again (a push) or
                // this node does not need it (an answer to an older request).
                continue;
            }
            if let Some(copy) = &copy {
                if self.apply_copy(ctx, key, copy) {
                    ctx.count("handover_key_received");
                }
                confirmed.push((key, copy.digest()));
            }
            if let Some(epoch) = epoch
                && let Some(pending) = self.pending.get_mut(&key)
                && epoch >= pending.since
                && pending.waiting.remove(&from)
                && pending.waiting.is_empty()
            {
                ready.push(key);
            }
        }
        // Only a push needs a confirmation: its sender drops its copy after them.
        if epoch.is_none() && !confirmed.is_empty() {
            ctx.send(from, Msg::HandoverAck { entries: confirmed });
        }
        for key in ready {
            self.key_ready(ctx, key);
        }
    }

    /// A home replica holds (at least) the copies this node pushed it; drops each copy
    /// every home replica has confirmed, unless it changed since.
    pub(crate) fn on_handover_ack(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        entries: &[(KeyId, u64)],
    ) {
        for &(key, digest) in entries {
            let Some(targets) = self.outgoing.get_mut(&key) else {
                continue;
            };
            if KeyState::digest_of(self.data[key.index()].as_ref()) != digest {
                continue;
            }
            targets.retain(|&t| t != from);
            if targets.is_empty() {
                self.drop_key(ctx, key);
            }
        }
    }

    /// Every home replica holds this node's copy of a key it no longer owns: drop it.
    fn drop_key(&mut self, ctx: &mut Ctx<'_>, key: KeyId) {
        self.outgoing.remove(&key);
        assert!(
            !self.is_home(key),
            "{} would drop {key:?}, which it owns",
            self.id
        );
        let Some(copy) = self.data[key.index()].take() else {
            return;
        };
        self.live_keys -= 1;
        let mut minted = self.minted.get(&key).copied().unwrap_or(0);
        if let KeyState::Siblings(siblings) = &copy {
            minted = minted.max(siblings.history().get(self.id));
        }
        if minted > 0 {
            self.minted.insert(key, minted);
        }
        ctx.count("handover_key_dropped");
        self.persist(ctx, Record::Dropped { key, minted });
    }

    /// A pending key has every copy it waited for: answer the reads that waited for it.
    fn key_ready(&mut self, ctx: &mut Ctx<'_>, key: KeyId) {
        if self.pending.remove(&key).is_none() {
            return;
        }
        ctx.count("handover_key_ready");
        self.persist(ctx, Record::Ready { key });
        let deferred = std::mem::take(&mut self.deferred);
        for (from, op, k) in deferred {
            if k == key {
                let data = self.data[key.index()].clone();
                ctx.send(from, Msg::Fetched { op, data });
            } else {
                self.deferred.push((from, op, k));
            }
        }
        self.answer_own_reads(ctx, key);
    }

    /// Hints kept for a node that is no longer a home replica of their key go to the
    /// key's current home replicas (this node's own copy, when it is one).
    fn readdress_hints(&mut self, ctx: &mut Ctx<'_>, ring: &Arc<Ring>) {
        let stale: Vec<(NodeId, KeyId)> = self
            .hints
            .keys()
            .copied()
            .filter(|&(home, key)| !ring.is_home(key, home))
            .collect();
        for (home, key) in stale {
            let data = self.hints.remove(&(home, key)).expect("listed above");
            self.persist(ctx, Record::HintDone { home, key });
            for &target in ring.home(key) {
                if target == self.id {
                    self.apply_copy(ctx, key, &data);
                    continue;
                }
                self.hold_hint(ctx, target, key, &data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(ids: &[u16]) -> Vec<NodeId> {
        ids.iter().map(|&i| NodeId(i)).collect()
    }

    #[test]
    fn a_joiner_gains_keys_and_each_gained_key_loses_exactly_one_old_home() {
        let old = Ring::of(&ids(&[0, 1, 2, 3, 4]), 3, 200);
        let new = Ring::of(&ids(&[0, 1, 2, 3, 4, 5]), 3, 200);
        let mut gained = 0;
        for k in 0..200 {
            let key = KeyId(k);
            let joiner = movement(&old, &new, key, NodeId(5));
            let lost: Vec<NodeId> = (0..5)
                .map(NodeId)
                .filter(|&n| movement(&old, &new, key, n) == Move::Lost)
                .collect();
            let others_gain = (0..5)
                .map(NodeId)
                .any(|n| movement(&old, &new, key, n) == Move::Gained);
            assert!(!others_gain, "k{k}: only the joiner gains");
            match joiner {
                Move::Gained => {
                    gained += 1;
                    assert_eq!(lost.len(), 1, "k{k}");
                    // The one that left the home set was the last of the old ones.
                    assert_eq!(lost[0], old.home(key)[2], "k{k}");
                }
                Move::Elsewhere => {
                    assert!(lost.is_empty(), "k{k}: nothing moves");
                    assert_eq!(old.home(key), new.home(key));
                }
                other => panic!("k{k}: the joiner {other:?}"),
            }
        }
        // About 3 / 6 of the keys move to the sixth node.
        assert!((60..=140).contains(&gained), "{gained}");
    }

    #[test]
    fn a_removed_nodes_keys_go_to_the_next_node_of_their_walk() {
        let old = Ring::of(&ids(&[0, 1, 2, 3, 4]), 3, 200);
        let new = Ring::of(&ids(&[0, 2, 3, 4]), 3, 200);
        for k in 0..200 {
            let key = KeyId(k);
            let walk: Vec<NodeId> = old
                .preference(key)
                .iter()
                .copied()
                .filter(|&n| n != NodeId(1))
                .collect();
            assert_eq!(new.preference(key), &walk[..], "k{k}");
            let gainers: Vec<NodeId> = new
                .members()
                .iter()
                .copied()
                .filter(|&n| movement(&old, &new, key, n) == Move::Gained)
                .collect();
            if old.is_home(key, NodeId(1)) {
                assert_eq!(gainers, vec![old.preference(key)[3]], "k{k}");
            } else {
                assert!(gainers.is_empty(), "k{k}");
            }
            assert!(
                new.members()
                    .iter()
                    .all(|&n| movement(&old, &new, key, n) != Move::Lost),
                "a removal takes keys from nobody but the removed node"
            );
        }
    }

    #[test]
    fn below_n_members_every_member_is_home_and_handover_targets_exclude_the_sender() {
        let ring = Ring::of(&ids(&[0, 3]), 3, 10);
        assert_eq!(ring.n(), 2);
        for k in 0..10 {
            assert_eq!(ring.home(KeyId(k)).len(), 2);
            assert_eq!(handover_targets(&ring, KeyId(k), NodeId(0)), ids(&[3]));
            assert_eq!(handover_targets(&ring, KeyId(k), NodeId(7)).len(), 2);
        }
    }
}
