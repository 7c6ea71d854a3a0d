//! Replica placement: a consistent-hashing ring with virtual nodes, as in Dynamo.
//!
//! Every node of the initial cluster owns [`VNODES`] tokens on a 64-bit ring; token `v`
//! of node `n<i>` sits at [`point`]`("n<i>#<v>")`. Key `k<j>` sits at [`point`]`("k<j>")`
//! (its name in histories). Walking clockwise from the key's position (to the first token
//! at or after it, wrapping around) and noting each node the first time one of its tokens
//! is passed gives the key's *preference list*, which holds every node once. Its first
//! `n` nodes are the key's *home replicas*; the rest, in order, are the *fallbacks* a
//! sloppy quorum uses when home replicas are unreachable. Every node computes the same
//! ring from the cluster size alone, so no placement information ever travels.
//!
//! The ring is fixed at the initial cluster: a node brought in by `add_node` owns no
//! tokens, holds no keys and only coordinates client requests. Moving keys to new nodes
//! is a membership change, left for later.
//!
//! [`point`] is built from the simulator's pinned hash (`repsim_sim::rng::fnv1a64`) and a
//! fixed finalizer, so placement never changes between versions or platforms.

use repsim_sim::rng::fnv1a64;
use repsim_sim::{KeyId, NodeId};

/// Tokens per node. Sixty-four keep the share of keys per node within about a fifth of
/// even for the cluster sizes scenarios use.
pub const VNODES: u32 = 64;

/// The ring position of a name: FNV-1a 64 of its bytes, then the 64-bit finalizer of
/// MurmurHash3 (`fmix64`), because FNV-1a alone leaves names that differ only in their
/// last characters (`n1#3`, `n1#4`) close together on the ring.
pub fn point(name: &str) -> u64 {
    let mut h = fnv1a64(name.as_bytes());
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The placement of every key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ring {
    size: u16,
    n: u16,
    /// Preference lists, `size` nodes per key, keys in id order.
    preference: Vec<NodeId>,
}

impl Ring {
    /// The ring of a cluster of `size` nodes (`n0..n{size-1}`), `n` replicas per key, for
    /// keys `k0..k{keys-1}`.
    pub fn new(size: u16, n: u16, keys: u32) -> Ring {
        assert!(
            (1..=size).contains(&n),
            "n ({n}) must be between 1 and the cluster size ({size})"
        );
        let mut tokens: Vec<(u64, NodeId)> = (0..size)
            .flat_map(|i| (0..VNODES).map(move |v| (point(&format!("n{i}#{v}")), NodeId(i))))
            .collect();
        // Ties (never seen in practice) go to the lower node id.
        tokens.sort_unstable();
        let mut preference = Vec::with_capacity(keys as usize * usize::from(size));
        let mut seen = vec![false; usize::from(size)];
        for key in 0..keys {
            let position = point(&format!("k{key}"));
            let start = tokens.partition_point(|&(token, _)| token < position);
            seen.iter_mut().for_each(|s| *s = false);
            let mut found = 0;
            for i in 0..tokens.len() {
                let node = tokens[(start + i) % tokens.len()].1;
                if !seen[node.index()] {
                    seen[node.index()] = true;
                    preference.push(node);
                    found += 1;
                    if found == size {
                        break;
                    }
                }
            }
            assert_eq!(found, size, "every node owns a token");
        }
        Ring {
            size,
            n,
            preference,
        }
    }

    /// Number of nodes on the ring (the initial cluster).
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Replicas per key.
    pub fn n(&self) -> u16 {
        self.n
    }

    /// Number of keys placed.
    pub fn keys(&self) -> u32 {
        (self.preference.len() / usize::from(self.size)) as u32
    }

    /// The key's preference list: every node of the ring once, home replicas first.
    pub fn preference(&self, key: KeyId) -> &[NodeId] {
        let size = usize::from(self.size);
        &self.preference[key.index() * size..(key.index() + 1) * size]
    }

    /// The key's `n` home replicas, in preference order.
    pub fn home(&self, key: KeyId) -> &[NodeId] {
        &self.preference(key)[..usize::from(self.n)]
    }

    /// The key's fallbacks for a sloppy quorum, in the order they are tried.
    pub fn fallbacks(&self, key: KeyId) -> &[NodeId] {
        &self.preference(key)[usize::from(self.n)..]
    }

    /// True when `node` is one of the key's home replicas.
    pub fn is_home(&self, key: KeyId, node: NodeId) -> bool {
        self.home(key).contains(&node)
    }

    /// The keys `node` is a home replica of, in id order.
    pub fn home_keys(&self, node: NodeId) -> Vec<KeyId> {
        (0..self.keys())
            .map(KeyId)
            .filter(|&k| self.is_home(k, node))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_lists_hold_every_node_once_and_are_deterministic() {
        let ring = Ring::new(6, 3, 200);
        assert_eq!(ring, Ring::new(6, 3, 200));
        for k in 0..200 {
            let mut list = ring.preference(KeyId(k)).to_vec();
            assert_eq!(ring.home(KeyId(k)), &list[..3]);
            assert_eq!(ring.fallbacks(KeyId(k)), &list[3..]);
            list.sort();
            assert_eq!(list, (0..6).map(NodeId).collect::<Vec<_>>());
        }
    }

    #[test]
    fn keys_spread_over_every_node() {
        let ring = Ring::new(6, 3, 600);
        for node in 0..6 {
            let share = ring.home_keys(NodeId(node)).len();
            // 600 keys × 3 replicas / 6 nodes = 300 on average.
            assert!((150..=450).contains(&share), "n{node} holds {share} keys");
        }
    }

    #[test]
    fn placement_is_pinned() {
        // If this fails, every scenario with n < nodes changed meaning.
        let ring = Ring::new(6, 3, 4);
        let homes: Vec<Vec<u16>> = (0..4)
            .map(|k| ring.home(KeyId(k)).iter().map(|n| n.0).collect())
            .collect();
        assert_eq!(homes, PINNED_HOMES);
    }

    const PINNED_HOMES: [[u16; 3]; 4] = [[2, 3, 0], [5, 4, 2], [3, 0, 5], [3, 5, 2]];

    #[test]
    fn with_n_equal_to_the_cluster_every_node_is_home() {
        let ring = Ring::new(3, 3, 10);
        for k in 0..10 {
            assert!(ring.fallbacks(KeyId(k)).is_empty());
            for n in 0..3 {
                assert!(ring.is_home(KeyId(k), NodeId(n)));
            }
        }
    }
}
