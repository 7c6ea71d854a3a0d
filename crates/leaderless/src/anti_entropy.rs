//! Anti-entropy: a background process that finds and repairs differences between the
//! replicas of every key, read or not, by comparing digests rather than copying data.
//!
//! Every `anti_entropy_ms`, each node starts an exchange with each co-replica of higher
//! id (a node that shares home keys with it), over the keys both are home replicas of,
//! in id order. Those keys are cut into up to [`RANGES`] consecutive key ranges; a key's
//! digest is [`KeyState::digest`] (0 for nothing), a range's digest hashes its keys' ids
//! and digests, and the root hashes the range digests: a two-level Merkle tree.
//!
//! 1. The initiator sends its root (`AeRoot`). Equal roots end the exchange (`AeInSync`).
//! 2. Otherwise the responder sends its range digests (`AeRanges`).
//! 3. The initiator sends the per-key digests of the ranges that differ (`AeKeys`).
//! 4. The responder sends its copies of the keys whose digests differ (`AeData`); the
//!    initiator merges them and sends back its own copy wherever it still differs.
//!
//! Each merge that changes a copy counts one `anti_entropy_repair`. Size model for
//! `anti_entropy_bytes_compared` (counted by the node that compares): a digest is 8 bytes
//! and a key id 4, so a root comparison is 8 bytes, a range comparison 8 per range, a
//! key comparison 12 per key. `anti_entropy_exchange` counts exchanges started.
//!
//! Exchange numbers carry the boot count in their high bits, so a late copy of an older
//! exchange is ignored. A node remembers, per co-replica, the root both last agreed on,
//! and forgets it when one of their shared keys changes locally or an exchange finds a
//! difference; it is quiet only when it agrees with every co-replica. All anti-entropy
//! messages are background traffic, so the process never keeps a run going by itself.

use repsim_sim::rng::fnv1a64;
use repsim_sim::{KeyId, NodeId};

use crate::msg::{Msg, Timer};
use crate::replica::{Ctx, Replica};
use crate::version::KeyState;

/// Most key ranges per pair of co-replicas.
pub const RANGES: usize = 16;

/// Anti-entropy state for one co-replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AePeer {
    /// The home keys both nodes share, in id order.
    pub(crate) keys: Vec<KeyId>,
    /// The latest exchange this node started with the peer.
    pub(crate) sent_seq: u64,
    /// The latest exchange the peer started with this node.
    pub(crate) seen_seq: u64,
    /// The root both last agreed on, while nothing changed since.
    pub(crate) agreed: Option<u64>,
}

impl AePeer {
    pub(crate) fn new(keys: Vec<KeyId>) -> AePeer {
        AePeer {
            keys,
            sent_seq: 0,
            seen_seq: 0,
            agreed: None,
        }
    }
}

/// The ranges of `keys`: up to [`RANGES`] consecutive slices of nearly equal length.
pub(crate) fn ranges(keys: &[KeyId]) -> impl Iterator<Item = &[KeyId]> {
    let count = RANGES.min(keys.len());
    (0..count).map(move |i| &keys[i * keys.len() / count..(i + 1) * keys.len() / count])
}

/// The root digest of a list of range digests.
pub(crate) fn root_of(digests: &[u64]) -> u64 {
    let bytes: Vec<u8> = digests.iter().flat_map(|d| d.to_le_bytes()).collect();
    fnv1a64(&bytes)
}

impl Replica {
    fn key_digest(&self, key: KeyId) -> u64 {
        KeyState::digest_of(self.data[key.index()].as_ref())
    }

    /// The digests of the ranges of `keys`.
    fn range_digests(&self, keys: &[KeyId]) -> Vec<u64> {
        ranges(keys)
            .map(|range| {
                let mut bytes = Vec::with_capacity(range.len() * 12);
                for &key in range {
                    bytes.extend_from_slice(&key.0.to_le_bytes());
                    bytes.extend_from_slice(&self.key_digest(key).to_le_bytes());
                }
                fnv1a64(&bytes)
            })
            .collect()
    }

    /// This node's root over the keys it shares with `peer`.
    fn root_with(&self, peer: NodeId) -> u64 {
        root_of(&self.range_digests(&self.ae[&peer].keys))
    }

    /// A home key's copy changed here: agreements with its other replicas no longer hold.
    pub(crate) fn anti_entropy_changed(&mut self, key: KeyId) {
        if self.ae.is_empty() {
            return;
        }
        let ring = self.ring();
        for &other in ring.home(key) {
            if let Some(peer) = self.ae.get_mut(&other) {
                peer.agreed = None;
            }
        }
    }

    /// Starts an exchange with every co-replica of higher id.
    pub(crate) fn on_anti_entropy_timer(&mut self, ctx: &mut Ctx<'_>) {
        let Some(interval) = self.config.anti_entropy else {
            return;
        };
        let peers: Vec<NodeId> = self.ae.keys().copied().filter(|&p| p > self.id).collect();
        for peer in peers {
            self.ae_counter += 1;
            let seq = (u64::from(self.boots) << 32) | u64::from(self.ae_counter);
            let root = self.root_with(peer);
            self.ae.get_mut(&peer).expect("listed above").sent_seq = seq;
            ctx.count("anti_entropy_exchange");
            ctx.send(peer, Msg::AeRoot { seq, root });
        }
        ctx.set_timer(interval, Timer::AntiEntropy);
    }

    /// Step 1 at the responder: compare roots.
    pub(crate) fn on_ae_root(&mut self, ctx: &mut Ctx<'_>, from: NodeId, seq: u64, root: u64) {
        let Some(peer) = self.ae.get(&from) else {
            return;
        };
        if seq <= peer.seen_seq {
            return;
        }
        ctx.count_by("anti_entropy_bytes_compared", 8);
        let digests = self.range_digests(&peer.keys);
        let mine = root_of(&digests);
        let peer = self.ae.get_mut(&from).expect("checked above");
        peer.seen_seq = seq;
        if mine == root {
            peer.agreed = Some(mine);
            ctx.send(from, Msg::AeInSync { seq, root });
        } else {
            peer.agreed = None;
            ctx.send(from, Msg::AeRanges { seq, digests });
        }
    }

    /// The responder's root matched the one this node sent.
    pub(crate) fn on_ae_in_sync(&mut self, from: NodeId, seq: u64, root: u64) {
        if self.ae.get(&from).is_none_or(|p| p.sent_seq != seq) {
            return;
        }
        let agreed = (self.root_with(from) == root).then_some(root);
        self.ae.get_mut(&from).expect("checked above").agreed = agreed;
    }

    /// Step 2 at the initiator: compare range digests, send the differing ranges' keys.
    pub(crate) fn on_ae_ranges(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        seq: u64,
        digests: &[u64],
    ) {
        let Some(peer) = self.ae.get(&from) else {
            return;
        };
        if peer.sent_seq != seq {
            return;
        }
        ctx.count_by("anti_entropy_bytes_compared", 8 * digests.len() as u64);
        let mine = self.range_digests(&peer.keys);
        let mut keys = Vec::new();
        for ((range, mine), theirs) in ranges(&peer.keys).zip(&mine).zip(digests) {
            if mine != theirs {
                keys.extend(range.iter().map(|&k| (k, self.key_digest(k))));
            }
        }
        self.ae.get_mut(&from).expect("checked above").agreed = None;
        if !keys.is_empty() {
            ctx.send(from, Msg::AeKeys { seq, keys });
        }
    }

    /// Step 3 at the responder: compare key digests, send the differing copies.
    pub(crate) fn on_ae_keys(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        seq: u64,
        keys: &[(KeyId, u64)],
    ) {
        if self.ae.get(&from).is_none_or(|p| p.seen_seq != seq) {
            return;
        }
        ctx.count_by("anti_entropy_bytes_compared", 12 * keys.len() as u64);
        let ring = self.ring();
        let entries: Vec<(KeyId, Option<KeyState>)> = keys
            .iter()
            .filter(|&&(key, digest)| {
                ring.is_home(key, self.id)
                    && ring.is_home(key, from)
                    && self.key_digest(key) != digest
            })
            .map(|&(key, _)| (key, self.data[key.index()].clone()))
            .collect();
        if !entries.is_empty() {
            ctx.send(
                from,
                Msg::AeData {
                    entries,
                    reply: true,
                },
            );
        }
    }

    /// Step 4: merge the copies received; answer with this node's copies where they
    /// still differ.
    pub(crate) fn on_ae_data(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        entries: Vec<(KeyId, Option<KeyState>)>,
        reply: bool,
    ) {
        let ring = self.ring();
        let mut back = Vec::new();
        for (key, theirs) in entries {
            if !ring.is_home(key, self.id) || !ring.is_home(key, from) {
                continue;
            }
            if let Some(data) = &theirs
                && self.apply_copy(ctx, key, data)
            {
                ctx.count("anti_entropy_repair");
            }
            let mine = &self.data[key.index()];
            if reply && mine.is_some() && *mine != theirs {
                back.push((key, mine.clone()));
            }
        }
        if !back.is_empty() {
            ctx.send(
                from,
                Msg::AeData {
                    entries: back,
                    reply: false,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_key_once_in_order() {
        let keys: Vec<KeyId> = (0..37).map(KeyId).collect();
        let parts: Vec<&[KeyId]> = ranges(&keys).collect();
        assert_eq!(parts.len(), RANGES);
        assert_eq!(parts.concat(), keys);
        let few: Vec<KeyId> = (0..3).map(KeyId).collect();
        assert_eq!(ranges(&few).count(), 3);
        assert_eq!(ranges(&[]).count(), 0);
    }
}

#[cfg(test)]
mod exchange_tests {
    use repsim_sim::{Node, NodeId, SimDuration, ValueId};

    use crate::msg::{Msg, Timer, Token};
    use crate::testing::{Cluster, config, counted, request, write};

    #[test]
    fn an_exchange_copies_only_the_keys_that_differ_and_then_agrees() {
        let mut config = config(3, 2, 2);
        config.read_repair = false;
        config.anti_entropy = Some(SimDuration::from_millis(100));
        let mut cluster = Cluster::new(&config, 3);
        // Five writes that n2 never receives.
        for k in 0..5 {
            cluster.on(0, |n, t| {
                n.on_request(
                    &mut t.ctx(),
                    request(2 * k, write(k, k + 1), Token::default()),
                )
            });
        }
        cluster.deliver_all(|_, to, _| to != NodeId(2));
        // The writes end (acknowledged by n0 and n1; n2 never answers).
        cluster.set_now(repsim_sim::SimTime::from_micros(90_000));
        cluster.on(0, |n, t| n.on_timer(&mut t.ctx(), Timer::Tick));
        assert!(cluster.nodes[0].0.writes.is_empty());
        assert!(!cluster.nodes[2].0.is_quiet(), "never agreed with anyone");
        // n0 starts exchanges with n1 (equal: in sync) and n2 (five keys differ).
        cluster.on(0, |n, t| n.on_timer(&mut t.ctx(), Timer::AntiEntropy));
        cluster.deliver_all(|_, _, msg| {
            if let Msg::AeKeys { keys, .. } = msg {
                assert!(keys.len() < 8, "only the differing ranges' keys");
            }
            true
        });
        for k in 0..5 {
            assert_eq!(cluster.values(2, k), vec![ValueId::generated(k + 1)]);
        }
        let effects = &cluster.effects[2];
        assert_eq!(counted(effects, "anti_entropy_repair"), 5);
        // Root (8) + ranges (8 each) at n0, keys (12 each) at n2.
        assert!(counted(effects, "anti_entropy_bytes_compared") >= 8 + 12 * 5);
        // Differences were found: nobody agrees with n2 until an exchange finds none.
        assert!(cluster.nodes[2].0.ae[&NodeId(0)].agreed.is_none());
        cluster.on(0, |n, t| n.on_timer(&mut t.ctx(), Timer::AntiEntropy));
        cluster.on(1, |n, t| n.on_timer(&mut t.ctx(), Timer::AntiEntropy));
        cluster.deliver_all(|_, _, msg| {
            assert!(
                matches!(msg, Msg::AeRoot { .. } | Msg::AeInSync { .. }),
                "in sync: roots only, {msg:?}"
            );
            true
        });
        assert!(cluster.nodes.iter().all(|(n, _)| n.is_quiet()));
        // A later local change forgets the agreement with the key's other replicas.
        cluster.on(2, |n, t| {
            n.on_request(&mut t.ctx(), request(20, write(0, 9), Token::default()))
        });
        assert!(!cluster.nodes[2].0.is_quiet());
    }

    #[test]
    fn an_exchange_merges_crdt_states_both_ways() {
        let mut config = crate::testing::crdt_config(3, 1, 1, true);
        config.read_repair = false;
        config.anti_entropy = Some(SimDuration::from_millis(100));
        let mut cluster = Cluster::new(&config, 3);
        // w = 1: n0 and n2 each add an element to k1 that reaches nobody else.
        cluster.on(0, |n, t| {
            n.on_request(
                &mut t.ctx(),
                request(0, crate::testing::add(1, 1), Token::default()),
            )
        });
        cluster.on(2, |n, t| {
            n.on_request(
                &mut t.ctx(),
                request(2, crate::testing::add(1, 2), Token::default()),
            )
        });
        cluster.queue.clear();
        assert_eq!(cluster.values(0, 1), vec![ValueId::generated(1)]);
        assert_eq!(cluster.values(2, 1), vec![ValueId::generated(2)]);
        // One exchange between n0 and n2 leaves both with both adds (a merge, where a
        // last-write-wins copy would have kept one); n1 gets them from its exchanges.
        cluster.on(0, |n, t| n.on_timer(&mut t.ctx(), Timer::AntiEntropy));
        cluster.deliver_all(|_, to, _| to != NodeId(1));
        let both = vec![ValueId::generated(1), ValueId::generated(2)];
        assert_eq!(cluster.values(0, 1), both);
        assert_eq!(cluster.values(2, 1), both);
        cluster.on(0, |n, t| n.on_timer(&mut t.ctx(), Timer::AntiEntropy));
        cluster.on(1, |n, t| n.on_timer(&mut t.ctx(), Timer::AntiEntropy));
        cluster.deliver_all(|_, _, _| true);
        for node in 0..3 {
            assert_eq!(cluster.values(node, 1), both, "n{node}");
        }
    }
}
