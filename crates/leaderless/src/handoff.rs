//! Hints and hinted handoff.
//!
//! A *hint* is a copy of a key a node keeps for one of the key's home replicas: a
//! fallback keeps one when a sloppy-quorum coordinator sends it a write meant for an
//! unreachable home replica, and a coordinator keeps one for a home replica that missed
//! a write when hinted handoff runs with a strict quorum. Hints are durable (persisted
//! like data) and are not part of the node's final state (SPEC §3). A fallback answers
//! sloppy-quorum reads of a key from the hints it holds for it.
//!
//! With `hinted_handoff`, every handoff interval a node holding hints sends each home
//! replica all the hints it holds for it; the home replica merges them into its copies
//! (making them durable) and answers with the digest of each copy it received; the
//! holder then drops every hint that did not change meanwhile. A node holding hints is
//! not quiet, so a run does not end before every hint is home. Without hinted handoff,
//! hints stay where they are for good: only a sloppy read that reaches the fallback (and
//! repairs the home replicas from what it read) brings them home, so a write whose only
//! copies are hints can end up on no home replica: a `lost_write`.
//!
//! Counters: `hinted_write` counts writes kept as hints (several writes of a key for the
//! same home replica merge into one hint), `hint_delivered` the hints handed off and
//! dropped.

use repsim_sim::{KeyId, NodeId};

use crate::msg::{Msg, Record, Timer};
use crate::replica::{Ctx, Replica};
use crate::version::KeyState;

impl Replica {
    /// Merges `data` into the hint kept for `home`, persisting it when it changed. A hint
    /// for a node that is no longer a home replica of the key (the write was sent before
    /// a ring change) goes to the key's current home replicas instead.
    pub(crate) fn keep_hint(
        &mut self,
        ctx: &mut Ctx<'_>,
        home: NodeId,
        key: KeyId,
        data: &KeyState,
    ) {
        assert_ne!(home, self.id, "{} kept a hint for itself", self.id);
        ctx.count("hinted_write");
        let ring = self.ring();
        if ring.is_home(key, home) {
            self.hold_hint(ctx, home, key, data);
        } else {
            for &target in ring.home(key) {
                if target == self.id {
                    self.apply_copy(ctx, key, data);
                } else {
                    self.hold_hint(ctx, target, key, data);
                }
            }
        }
        self.arm_handoff(ctx);
    }

    /// Merges `data` into the hint kept for `home`, persisting it when it changed.
    pub(crate) fn hold_hint(
        &mut self,
        ctx: &mut Ctx<'_>,
        home: NodeId,
        key: KeyId,
        data: &KeyState,
    ) {
        let mut slot = self.hints.remove(&(home, key));
        let changed = KeyState::merge_into(&mut slot, data);
        let data = slot.expect("just merged");
        self.hints.insert((home, key), data.clone());
        if changed {
            self.persist(ctx, Record::Hint { home, key, data });
        }
    }

    /// The merge of every hint this node holds for `key`, whatever its home replica: what
    /// it answers a sloppy-quorum read with.
    pub(crate) fn hinted_copy(&self, key: KeyId) -> Option<KeyState> {
        let mut merged = None;
        for ((_, k), data) in &self.hints {
            if *k == key {
                KeyState::merge_into(&mut merged, data);
            }
        }
        merged
    }

    /// Arms the handoff timer when hints wait to go home.
    pub(crate) fn arm_handoff(&mut self, ctx: &mut Ctx<'_>) {
        if self.config.hinted_handoff && !self.handoff_armed && !self.hints.is_empty() {
            self.handoff_armed = true;
            ctx.set_timer(self.config.handoff_interval(), Timer::Handoff);
        }
    }

    /// Sends every home replica the hints held for it.
    pub(crate) fn on_handoff_timer(&mut self, ctx: &mut Ctx<'_>) {
        self.handoff_armed = false;
        let mut batch: Option<(NodeId, Vec<(KeyId, KeyState)>)> = None;
        for (&(home, key), data) in &self.hints {
            match &mut batch {
                Some((to, entries)) if *to == home => entries.push((key, data.clone())),
                _ => {
                    if let Some((to, entries)) = batch.take() {
                        ctx.send(to, Msg::Handoff { entries });
                    }
                    batch = Some((home, vec![(key, data.clone())]));
                }
            }
        }
        if let Some((to, entries)) = batch {
            ctx.send(to, Msg::Handoff { entries });
        }
        self.arm_handoff(ctx);
    }

    /// A fallback hands back hints for keys this node is home for.
    pub(crate) fn on_handoff(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        entries: Vec<(KeyId, KeyState)>,
    ) {
        let mut received = Vec::with_capacity(entries.len());
        for (key, data) in entries {
            if !self.is_home(key) {
                // Not (or no longer) ours: the holder keeps the hint and re-addresses it
                // when it sees the new ring.
                continue;
            }
            self.apply_copy(ctx, key, &data);
            received.push((key, data.digest()));
        }
        ctx.send(from, Msg::HandedOff { entries: received });
    }

    /// A home replica has the hints it was handed: drop those that did not change since.
    pub(crate) fn on_handed_off(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        entries: &[(KeyId, u64)],
    ) {
        for &(key, digest) in entries {
            let delivered = self
                .hints
                .get(&(from, key))
                .is_some_and(|data| data.digest() == digest);
            if delivered {
                self.hints.remove(&(from, key));
                ctx.count("hint_delivered");
                self.persist(ctx, Record::HintDone { home: from, key });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use repsim_sim::{Node, SimTime, ValueId};

    use crate::msg::{Msg, Timer, Token};
    use crate::ring::Ring;
    use crate::testing::{Cluster, config, counted, request, write};

    #[test]
    fn hints_go_home_when_the_home_replica_is_back_and_are_then_dropped() {
        let mut config = config(3, 2, 2);
        config.sloppy_quorum = true;
        config.hinted_handoff = true;
        let ring = Ring::new(5, 3, config.keys);
        let key = (0..8).find(|&k| ring.home(repsim_sim::KeyId(k))[0] == repsim_sim::NodeId(0));
        let key = key.expect("n0 leads some key");
        let down = ring.home(repsim_sim::KeyId(key))[1];
        let mut cluster = Cluster::new(&config, 5);
        cluster.nodes[0].0.suspect(down, SimTime::ZERO);
        cluster.on(0, |n, t| {
            n.on_request(&mut t.ctx(), request(0, write(key, 1), Token::default()))
        });
        // Everything reaches its target except what goes to the down replica.
        cluster.deliver_all(|_, to, _| to != down);
        assert_eq!(cluster.values(down.0, key), vec![]);
        let holder = ring.fallbacks(repsim_sim::KeyId(key))[0];
        assert!(
            !cluster.nodes[usize::from(holder.0)].0.is_quiet(),
            "a hint waits"
        );
        // The down replica is back: the next handoff round delivers and drops the hint.
        cluster.set_now(SimTime::from_micros(30_000));
        cluster.on(holder.0, |n, t| n.on_timer(&mut t.ctx(), Timer::Handoff));
        assert!(matches!(cluster.queue[..], [(_, _, Msg::Handoff { .. })]));
        cluster.deliver_all(|_, _, _| true);
        assert_eq!(cluster.values(down.0, key), vec![ValueId::generated(1)]);
        assert_eq!(
            counted(&cluster.effects[usize::from(holder.0)], "hint_delivered"),
            1
        );
        assert!(cluster.nodes[usize::from(holder.0)].0.hints.is_empty());
        assert!(cluster.nodes[usize::from(holder.0)].0.is_quiet());
    }

    #[test]
    fn crdt_deltas_for_a_down_replica_merge_into_one_hint_that_goes_home_whole() {
        let mut config = crate::testing::crdt_config(3, 2, 2, false);
        config.sloppy_quorum = true;
        config.hinted_handoff = true;
        let ring = Ring::new(5, 3, config.keys);
        let key = (0..8)
            .find(|&k| ring.home(repsim_sim::KeyId(k))[0] == repsim_sim::NodeId(0))
            .expect("n0 leads some key");
        let home = ring.home(repsim_sim::KeyId(key)).to_vec();
        let down = home[1];
        let holder = ring.fallbacks(repsim_sim::KeyId(key))[0];
        let mut cluster = Cluster::new(&config, 5);
        // Two coordinators increment while the same home replica is down.
        for (i, (coordinator, amount)) in [(home[0], 2), (home[2], 3)].into_iter().enumerate() {
            cluster.nodes[usize::from(coordinator.0)]
                .0
                .suspect(down, SimTime::ZERO);
            let op = crate::testing::increment(key, amount);
            cluster.on(coordinator.0, |n, t| {
                n.on_request(&mut t.ctx(), request(2 * i as u32, op, Token::default()))
            });
            cluster.deliver_all(|_, to, _| to != down);
        }
        let holder_node = &cluster.nodes[usize::from(holder.0)].0;
        assert_eq!(
            holder_node.hints.len(),
            1,
            "both deltas merged into one hint"
        );
        assert_eq!(
            holder_node.hints[&(down, repsim_sim::KeyId(key))].total(),
            Some(5)
        );
        assert_eq!(
            counted(&cluster.effects[usize::from(holder.0)], "hinted_write"),
            2
        );
        assert_eq!(cluster.total(down.0, key), 0);
        // The replica is back: the hint, a merged state, goes home and is dropped.
        cluster.set_now(SimTime::from_micros(30_000));
        cluster.on(holder.0, |n, t| n.on_timer(&mut t.ctx(), Timer::Handoff));
        cluster.deliver_all(|_, _, _| true);
        for &node in &home {
            assert_eq!(cluster.total(node.0, key), 5, "{node}");
        }
        assert!(cluster.nodes[usize::from(holder.0)].0.hints.is_empty());
        assert!(cluster.nodes.iter().all(|(n, _)| n.is_quiet()));
    }

    #[test]
    fn with_a_strict_quorum_the_coordinator_keeps_hints_for_replicas_that_missed_a_write() {
        let mut config = config(3, 2, 2);
        config.hinted_handoff = true;
        let mut cluster = Cluster::new(&config, 3);
        cluster.on(0, |n, t| {
            n.on_request(&mut t.ctx(), request(0, write(1, 1), Token::default()))
        });
        cluster.deliver_all(|_, to, _| to != repsim_sim::NodeId(2));
        assert_eq!(cluster.values(2, 1), vec![]);
        // After the replica timeout the coordinator keeps a hint for n2, and hands it off.
        cluster.set_now(SimTime::from_micros(30_000));
        cluster.on(0, |n, t| n.on_timer(&mut t.ctx(), Timer::Tick));
        assert_eq!(cluster.nodes[0].0.hints.len(), 1);
        cluster.on(0, |n, t| n.on_timer(&mut t.ctx(), Timer::Handoff));
        cluster.deliver_all(|_, _, _| true);
        assert_eq!(cluster.values(2, 1), vec![ValueId::generated(1)]);
        assert!(cluster.nodes[0].0.hints.is_empty());
    }
}
