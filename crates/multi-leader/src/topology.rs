//! Replication topologies: which leaders a leader passes a write to.
//!
//! - `all-to-all`: the leader that accepted a write sends it to every other leader;
//!   nobody forwards. A crashed leader delays only its own writes and the copies it
//!   should receive.
//! - `circular`: every leader passes writes to the next one in id order
//!   (`n0 → n1 → … → n0`), its own and those it received. A crashed leader stops the
//!   flow past it until it restarts.
//! - `star`: leaves send their writes to the root; the root passes every write to every
//!   leaf. A crashed root cuts every leaf off from every other. (A tree generalises this:
//!   each node forwards to its neighbours the write has not passed through.)
//!
//! **Membership.** Targets are always computed from the current members (in id order,
//! possibly with gaps after a `remove_node`), so every leader derives the same wiring
//! from the same list: a joining leader takes its place in the ring (its predecessor now
//! passes writes to it) or becomes a leaf; a removed leader is skipped (its predecessor
//! passes writes to its successor). If the star's root is removed, the member with the
//! lowest id becomes the root ([`effective_root`]); every leader computes the same one.
//!
//! Whatever the topology, a write is never passed to a leader in its `seen` list (the
//! leaders it already passed through, its origin first): that is what prevents
//! replication loops, and with it every leader receives every write exactly once along
//! the topology. There is no rerouting around a crashed leader on purpose: the fault
//! tolerance of each topology is what the scenarios show.

use repsim_sim::NodeId;

use crate::config::Topology;
use crate::msg::Update;

/// The leaders `me` passes `update` to, in id order, given the cluster's `members` (in
/// id order). `update.seen` must already name `me`.
pub fn targets(topology: Topology, me: NodeId, members: &[NodeId], update: &Update) -> Vec<NodeId> {
    let origin = update.dot.origin;
    let neighbours: Vec<NodeId> = match topology {
        Topology::AllToAll if origin == me => members.to_vec(),
        Topology::AllToAll => Vec::new(),
        Topology::Circular => match members.iter().position(|&m| m == me) {
            Some(i) => vec![members[(i + 1) % members.len()]],
            None => Vec::new(),
        },
        Topology::Star { root } => match effective_root(root, members) {
            Some(root) if root == me => members.to_vec(),
            Some(root) if origin == me => vec![root],
            _ => Vec::new(),
        },
    };
    neighbours
        .into_iter()
        .filter(|&n| n != me && !update.seen.contains(&n))
        .collect()
}

/// The star's root among `members`: the configured one while it is a member, else the
/// member with the lowest id (`None` only without members).
pub fn effective_root(root: NodeId, members: &[NodeId]) -> Option<NodeId> {
    if members.contains(&root) {
        Some(root)
    } else {
        members.first().copied()
    }
}

#[cfg(test)]
mod tests {
    use repsim_sim::{KeyId, SimTime, ValueId};

    use super::*;
    use crate::version::{Dot, VersionVector};

    fn update(origin: u16, seen: &[u16]) -> Update {
        Update {
            dot: Dot {
                origin: NodeId(origin),
                seq: 1,
            },
            key: KeyId(0),
            change: crate::msg::Change::Write(ValueId::generated(1)),
            written_at: SimTime::ZERO,
            context: VersionVector::default(),
            dependencies: VersionVector::default(),
            seen: seen.iter().map(|&n| NodeId(n)).collect(),
        }
    }

    fn ids(ids: &[u16]) -> Vec<NodeId> {
        ids.iter().map(|&n| NodeId(n)).collect()
    }

    /// Follows a write from its origin through the topology; returns how many copies
    /// were sent and which leaders got it.
    fn flood(topology: Topology, size: u16, origin: u16) -> (usize, Vec<NodeId>) {
        let members = ids(&(0..size).collect::<Vec<_>>());
        let mut queue = vec![(NodeId(origin), update(origin, &[origin]))];
        let mut reached = vec![NodeId(origin)];
        let mut sent = 0;
        while let Some((at, copy)) = queue.pop() {
            for to in targets(topology, at, &members, &copy) {
                sent += 1;
                assert!(!reached.contains(&to), "{to} got the write twice");
                reached.push(to);
                let mut next = copy.clone();
                next.seen.push(to);
                queue.push((to, next));
            }
        }
        reached.sort();
        (sent, reached)
    }

    #[test]
    fn every_topology_reaches_everyone_with_n_minus_one_copies() {
        for topology in [
            Topology::AllToAll,
            Topology::Circular,
            Topology::Star { root: NodeId(0) },
            Topology::Star { root: NodeId(2) },
        ] {
            for origin in 0..5 {
                let (sent, reached) = flood(topology, 5, origin);
                assert_eq!(sent, 4, "{topology:?} from n{origin}");
                assert_eq!(
                    reached,
                    ids(&[0, 1, 2, 3, 4]),
                    "{topology:?} from n{origin}"
                );
            }
        }
    }

    #[test]
    fn forwarding_follows_the_topology() {
        let members = ids(&[0, 1, 2, 3]);
        let star = Topology::Star { root: NodeId(0) };
        assert_eq!(
            targets(star, NodeId(2), &members, &update(2, &[2])),
            ids(&[0])
        );
        assert_eq!(
            targets(star, NodeId(0), &members, &update(2, &[2, 0])),
            ids(&[1, 3])
        );
        assert!(targets(star, NodeId(1), &members, &update(2, &[2, 0, 1])).is_empty());
        let ring = Topology::Circular;
        assert_eq!(
            targets(ring, NodeId(3), &members, &update(1, &[1, 2, 3])),
            ids(&[0])
        );
        assert!(targets(ring, NodeId(0), &members, &update(1, &[1, 2, 3, 0])).is_empty());
        assert!(targets(Topology::AllToAll, NodeId(1), &members, &update(0, &[0, 1])).is_empty());
    }
}
