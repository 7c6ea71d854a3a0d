//! Replica placement: a consistent-hashing ring with virtual nodes, as in Dynamo.
//!
//! Every member of the cluster owns [`VNODES`] tokens on a 64-bit ring; token `v` of node
//! `n<i>` sits at [`point`]`("n<i>#<v>")`. Key `k<j>` sits at [`point`]`("k<j>")` (its
//! name in histories). Walking clockwise from the key's position (to the first token at
//! or after it, wrapping around) and noting each node the first time one of its tokens
//! is passed gives the key's *preference list*, which holds every member once. Its first
//! `n` nodes are the key's *home replicas*; the rest, in order, are the *fallbacks* a
//! sloppy quorum uses when home replicas are unreachable. Every node computes the same
//! ring from the list of members alone ([`Ring::of`]), so no placement information ever
//! travels.
//!
//! **Membership.** A node's tokens depend only on its id, so the ring of another set of
//! members differs only where the change is: a node that joins takes over, for each key
//! whose walk now meets one of its tokens among the first `n` nodes, the place of the
//! node that was `n`-th (which stops being a home replica of the key); a node that leaves
//! is replaced, in each key it was a home replica of, by the next node of the walk. No
//! other key moves. With fewer members than `n`, every member is a home replica of every
//! key (`n` shrinks to the cluster size). Moving the data is [`crate::membership`]'s job.
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
    /// The members on the ring, in id order.
    members: Vec<NodeId>,
    /// Home replicas per key (`n`, or the number of members if smaller).
    n: u16,
    /// Preference lists, one member each per key, keys in id order.
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
        let members: Vec<NodeId> = (0..size).map(NodeId).collect();
        Ring::of(&members, n, keys)
    }

    /// The ring of these `members` (in id order, at least one), `n` replicas per key (at
    /// most the number of members: with fewer members than `n`, every member is a home
    /// replica of every key), for keys `k0..k{keys-1}`.
    pub fn of(members: &[NodeId], n: u16, keys: u32) -> Ring {
        assert!(!members.is_empty(), "a ring needs a member");
        assert!(
            members.windows(2).all(|w| w[0] < w[1]),
            "members must be in id order, each once: {members:?}"
        );
        assert!(n >= 1, "n must be at least 1");
        let size = members.len();
        let n = n.min(u16::try_from(size).expect("fewer than 2^16 members"));
        let mut tokens: Vec<(u64, usize)> = members
            .iter()
            .enumerate()
            .flat_map(|(i, m)| (0..VNODES).map(move |v| (point(&format!("n{}#{v}", m.0)), i)))
            .collect();
        // Ties (never seen in practice) go to the lower node id.
        tokens.sort_unstable();
        let mut preference = Vec::with_capacity(keys as usize * size);
        let mut seen = vec![false; size];
        for key in 0..keys {
            let position = point(&format!("k{key}"));
            let start = tokens.partition_point(|&(token, _)| token < position);
            seen.iter_mut().for_each(|s| *s = false);
            let mut found = 0;
            for i in 0..tokens.len() {
                let member = tokens[(start + i) % tokens.len()].1;
                if !seen[member] {
                    seen[member] = true;
                    preference.push(members[member]);
                    found += 1;
                    if found == size {
                        break;
                    }
                }
            }
            assert_eq!(found, size, "every member owns a token");
        }
        Ring {
            members: members.to_vec(),
            n,
            preference,
        }
    }

    /// The members on the ring, in id order.
    pub fn members(&self) -> &[NodeId] {
        &self.members
    }

    /// Number of nodes on the ring.
    pub fn size(&self) -> u16 {
        self.members.len() as u16
    }

    /// Replicas per key (`n`, or the number of members if smaller).
    pub fn n(&self) -> u16 {
        self.n
    }

    /// Number of keys placed.
    pub fn keys(&self) -> u32 {
        (self.preference.len() / self.members.len()) as u32
    }

    /// The key's preference list: every member once, home replicas first.
    pub fn preference(&self, key: KeyId) -> &[NodeId] {
        let size = self.members.len();
        &self.preference[key.index() * size..(key.index() + 1) * size]
    }

    /// The key's home replicas, in preference order.
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
