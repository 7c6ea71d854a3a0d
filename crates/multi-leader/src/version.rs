//! Version metadata: [`Dot`]s (the identity of one write), [`VersionVector`]s and exact
//! [`DotSet`]s.
//!
//! Every write accepted by a leader gets a dot: the leader's id and the leader's write
//! counter, which counts that leader's writes to every key (1, 2, 3, ...). Two kinds of
//! vectors travel with a write:
//!
//! - its *context*, the writing leader's per-key vector: for each origin, the highest
//!   counter of that origin's writes to this key the leader had seen. A leader's writes to
//!   one key are ordered by the leader itself (each one sees the previous one), so "seen
//!   the write with counter 7" implies "seen every earlier write of that origin to this
//!   key": the vector is an exact description of the set of versions the new write
//!   supersedes.
//! - its *dependencies*, the writing leader's whole applied vector: the writes of every
//!   key it had applied, which causal delivery waits for (`causality: version-vectors`).
//!
//! A replica that applies writes in arrival order (`causality: none`) can apply origin
//! o's write 9 before its write 8; [`DotSet`] records exactly which dots it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use repsim_sim::NodeId;

/// The identity of one write: the leader that accepted it and that leader's counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dot {
    /// The leader that accepted the write.
    pub origin: NodeId,
    /// The origin's write counter, from 1.
    pub seq: u64,
}

impl fmt::Display for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.origin, self.seq)
    }
}

/// A version vector: node → highest counter. Missing entries are 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionVector(BTreeMap<NodeId, u64>);

impl VersionVector {
    /// The entry for `node` (0 when absent).
    pub fn get(&self, node: NodeId) -> u64 {
        self.0.get(&node).copied().unwrap_or(0)
    }

    /// True when the vector covers `dot` (its origin's entry reaches `dot.seq`).
    pub fn covers(&self, dot: Dot) -> bool {
        self.get(dot.origin) >= dot.seq
    }

    /// Raises the entry of `dot.origin` to at least `dot.seq`.
    pub fn add(&mut self, dot: Dot) {
        let entry = self.0.entry(dot.origin).or_insert(0);
        *entry = (*entry).max(dot.seq);
    }

    /// The entry-wise maximum of both vectors, in place.
    pub fn merge(&mut self, other: &VersionVector) {
        for (&node, &seq) in &other.0 {
            self.add(Dot { origin: node, seq });
        }
    }

    /// True when every entry of `self` is at least the entry of `other`.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        other.0.iter().all(|(&node, &seq)| self.get(node) >= seq)
    }

    /// The non-zero entries, in node order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, u64)> + '_ {
        self.0.iter().map(|(&n, &s)| (n, s)).filter(|&(_, s)| s > 0)
    }
}

impl<const N: usize> From<[(NodeId, u64); N]> for VersionVector {
    fn from(entries: [(NodeId, u64); N]) -> VersionVector {
        let mut vv = VersionVector::default();
        for (origin, seq) in entries {
            vv.add(Dot { origin, seq });
        }
        vv
    }
}

/// An exact set of dots: per origin, every counter up to a contiguous prefix, plus the
/// counters above it that are present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DotSet(BTreeMap<NodeId, Run>);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Run {
    /// Every counter in `1..=prefix` is present.
    prefix: u64,
    /// Present counters above `prefix + 1`.
    extra: BTreeSet<u64>,
}

impl DotSet {
    /// True when `dot` is in the set.
    pub fn contains(&self, dot: Dot) -> bool {
        self.0
            .get(&dot.origin)
            .is_some_and(|run| dot.seq <= run.prefix || run.extra.contains(&dot.seq))
    }

    /// Adds `dot`; false if it was already there. Counter 0 is never a write's.
    pub fn insert(&mut self, dot: Dot) -> bool {
        if dot.seq == 0 {
            return false;
        }
        let run = self.0.entry(dot.origin).or_default();
        if dot.seq <= run.prefix {
            return false;
        }
        if dot.seq != run.prefix + 1 {
            return run.extra.insert(dot.seq);
        }
        run.prefix += 1;
        while run.extra.remove(&(run.prefix + 1)) {
            run.prefix += 1;
        }
        true
    }

    /// The length of `origin`'s contiguous run: every counter up to it is present.
    pub fn prefix_of(&self, origin: NodeId) -> u64 {
        self.0.get(&origin).map_or(0, |run| run.prefix)
    }

    /// The contiguous part as a vector: every dot it covers is in the set.
    pub fn prefix(&self) -> VersionVector {
        let mut vv = VersionVector::default();
        for (&origin, run) in &self.0 {
            vv.add(Dot {
                origin,
                seq: run.prefix,
            });
        }
        vv
    }

    /// True when every dot `vv` covers is in the set.
    pub fn covers(&self, vv: &VersionVector) -> bool {
        vv.iter()
            .all(|(node, seq)| self.0.get(&node).is_some_and(|run| run.prefix >= seq))
    }

    /// How many dots the set holds.
    pub fn len(&self) -> u64 {
        self.0
            .values()
            .map(|run| run.prefix + run.extra.len() as u64)
            .sum()
    }

    /// True when the set holds no dot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(origin: u16, seq: u64) -> Dot {
        Dot {
            origin: NodeId(origin),
            seq,
        }
    }

    #[test]
    fn a_dot_set_fills_its_prefix_out_of_order() {
        let mut set = DotSet::default();
        assert!(set.insert(dot(1, 3)));
        assert!(set.insert(dot(1, 1)));
        assert!(!set.insert(dot(1, 3)), "a duplicate is not new");
        assert_eq!(set.prefix().get(NodeId(1)), 1);
        assert!(set.contains(dot(1, 3)) && !set.contains(dot(1, 2)));
        assert!(set.insert(dot(1, 2)));
        assert_eq!(set.prefix().get(NodeId(1)), 3);
        assert_eq!(set.len(), 3);
        assert!(set.covers(&VersionVector::from([(NodeId(1), 3)])));
        assert!(!set.covers(&VersionVector::from([(NodeId(1), 3), (NodeId(0), 1)])));
    }

    #[test]
    fn vectors_merge_and_compare_entry_wise() {
        let mut a = VersionVector::from([(NodeId(0), 2), (NodeId(1), 1)]);
        let b = VersionVector::from([(NodeId(1), 4)]);
        assert!(!a.dominates(&b) && !b.dominates(&a));
        a.merge(&b);
        assert!(a.dominates(&b));
        assert!(a.covers(dot(1, 4)) && !a.covers(dot(2, 1)));
    }
}
