//! What a replica stores for one key, and how two copies of it merge.
//!
//! **`lww`.** A key holds one [`Stamp`]: the value and the coordinator's local clock when
//! it accepted the write, with the coordinator's id and the value as tie-breakers. The
//! larger stamp wins everywhere, so replicas converge, but a coordinator whose clock runs
//! behind writes values that lose to older ones: acknowledged writes vanish.
//!
//! **`version-vectors`.** A key holds [`Siblings`]: the set of concurrent versions, each a
//! *dotted version vector* (Preguiça, Baquero et al., "Dotted Version Vectors", 2012): a
//! value, the *dot* `(replica, counter)` that names the write, and the *context*, the
//! version vector of everything the writing client had read. A version is obsolete
//! once another version's context covers its dot (that writer saw it); otherwise both
//! are kept as siblings. Keeping the dot apart from the context is what lets a write
//! without context (a client that did not read first) stay concurrent with the versions
//! it never saw, where a plain per-version vector clock would wrongly supersede them.
//!
//! Counters are per key and per home replica: the home replica that coordinates a write
//! takes one more than the largest counter of its own in the key's history. Copies always
//! travel as whole sibling sets (never one version alone), so every copy's history is
//! closed downwards per replica, and a version vector (a maximum per replica) describes
//! it exactly. Merging is [`Siblings::sync`]: the union, minus the versions some other
//! version covers. It is commutative, associative and idempotent, so replicas converge
//! whatever order copies arrive in, and duplicates are harmless.
//!
//! **`conflict: "crdt"`.** A key holds a [`Crdt`] (`repsim_sim::crdt`): a counter or an
//! add-wins set, built from *dots* that name client updates (the history position of the
//! update's invocation). A copy is a state, not a log: an update travels as a *delta*, the
//! state holding only its own dot (an increment's amount, an add's element, a remove's
//! tombstones), and a replica merges it in like any other copy. Merging is a union of
//! dots and tombstones, so it is commutative, associative and idempotent, exactly like
//! the two versionings above, and every path that moves copies (writes, read merging,
//! read repair, anti-entropy, hints, the membership hand-over, recovery) carries CRDT
//! states unchanged. Nothing is ever superseded: no update is lost to a conflict, and
//! replicas that have seen the same dots hold the same value whatever the order.

use std::fmt::Write as _;

use repsim_sim::crdt::Crdt;
use repsim_sim::rng::fnv1a64;
use repsim_sim::{NodeId, ValueId};

/// A last-write-wins version. Ordered by local time, then coordinator, then value (which
/// is unique, so the order is total).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp {
    /// The coordinator's local clock when it accepted the write, in µs.
    pub micros: u64,
    /// The coordinator.
    pub node: NodeId,
    /// The value.
    pub value: ValueId,
}

/// Names one write: the `counter`-th write that home replica `node` coordinated for a
/// key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dot {
    /// The replica that coordinated the write.
    pub node: NodeId,
    /// Its per-key counter (from 1).
    pub counter: u64,
}

/// A version vector: replica → largest counter seen, sorted by replica, no zero entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct VersionVector(Vec<(NodeId, u64)>);

impl VersionVector {
    /// The empty vector: nothing seen.
    pub fn new() -> VersionVector {
        VersionVector(Vec::new())
    }

    /// The vector with these entries (zero entries are dropped).
    pub fn from_entries(entries: &[(NodeId, u64)]) -> VersionVector {
        let mut vv = VersionVector::new();
        for &(node, counter) in entries {
            vv.add(Dot { node, counter });
        }
        vv
    }

    /// The counter seen for `node` (0 if none).
    pub fn get(&self, node: NodeId) -> u64 {
        self.0
            .binary_search_by_key(&node, |&(n, _)| n)
            .map_or(0, |i| self.0[i].1)
    }

    /// True when the history this vector describes contains `dot`.
    pub fn covers(&self, dot: Dot) -> bool {
        self.get(dot.node) >= dot.counter
    }

    /// Adds `dot` (and, by downward closure, every earlier dot of its replica).
    pub fn add(&mut self, dot: Dot) {
        if dot.counter == 0 {
            return;
        }
        match self.0.binary_search_by_key(&dot.node, |&(n, _)| n) {
            Ok(i) => self.0[i].1 = self.0[i].1.max(dot.counter),
            Err(i) => self.0.insert(i, (dot.node, dot.counter)),
        }
    }

    /// The least upper bound of two vectors.
    pub fn join(&mut self, other: &VersionVector) {
        for &(node, counter) in &other.0 {
            self.add(Dot { node, counter });
        }
    }

    /// True when this vector is at least `other` everywhere.
    pub fn descends(&self, other: &VersionVector) -> bool {
        other
            .0
            .iter()
            .all(|&(node, counter)| self.get(node) >= counter)
    }

    /// The entries, sorted by replica.
    pub fn entries(&self) -> &[(NodeId, u64)] {
        &self.0
    }

    /// True when nothing was seen.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One version of a key under version vectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The write that made it.
    pub dot: Dot,
    /// What its writer had seen.
    pub context: VersionVector,
    /// The value.
    pub value: ValueId,
}

/// The concurrent versions of a key, sorted by dot; none covers another.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Siblings(Vec<Version>);

impl Siblings {
    /// No version.
    pub fn new() -> Siblings {
        Siblings(Vec::new())
    }

    /// The versions, sorted by dot.
    pub fn versions(&self) -> &[Version] {
        &self.0
    }

    /// The merge of two copies: every version of either, minus those another version's
    /// context covers.
    pub fn sync(&self, other: &Siblings) -> Siblings {
        let mut all: Vec<&Version> = Vec::with_capacity(self.0.len() + other.0.len());
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() || j < other.0.len() {
            let pick_left =
                j >= other.0.len() || (i < self.0.len() && self.0[i].dot <= other.0[j].dot);
            if pick_left {
                if j < other.0.len() && self.0[i].dot == other.0[j].dot {
                    j += 1;
                }
                all.push(&self.0[i]);
                i += 1;
            } else {
                all.push(&other.0[j]);
                j += 1;
            }
        }
        let kept = all
            .iter()
            .filter(|x| {
                !all.iter()
                    .any(|y| y.dot != x.dot && y.context.covers(x.dot))
            })
            .map(|&x| x.clone())
            .collect();
        Siblings(kept)
    }

    /// The version vector of everything these versions' writers had seen, and the
    /// versions themselves: the causal context a client reading them takes to its next
    /// write, so that the write supersedes every version read.
    pub fn history(&self) -> VersionVector {
        let mut vv = VersionVector::new();
        for version in &self.0 {
            vv.join(&version.context);
            vv.add(version.dot);
        }
        vv
    }

    /// Records a new write coordinated by home replica `node`, whose client had seen
    /// `context`: a fresh dot for `node`, and every version the context covers dropped.
    /// Returns the new dot.
    pub fn update(&mut self, node: NodeId, context: VersionVector, value: ValueId) -> Dot {
        self.update_above(node, context, value, 0)
    }

    /// [`Siblings::update`] by a replica that has already used every counter up to
    /// `floor` for this key (in copies it no longer holds): the new dot's counter is above
    /// it too.
    pub fn update_above(
        &mut self,
        node: NodeId,
        context: VersionVector,
        value: ValueId,
        floor: u64,
    ) -> Dot {
        let counter = self.history().get(node).max(context.get(node)).max(floor) + 1;
        let dot = Dot { node, counter };
        let new = Siblings(vec![Version {
            dot,
            context,
            value,
        }]);
        *self = self.sync(&new);
        dot
    }

    /// The values, ascending.
    pub fn values(&self) -> Vec<ValueId> {
        let mut values: Vec<ValueId> = self.0.iter().map(|v| v.value).collect();
        values.sort_unstable();
        values
    }
}

/// What a replica holds for one key (absent: nothing, `null`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Last write wins.
    Lww(Stamp),
    /// Version vectors.
    Siblings(Siblings),
    /// `conflict: "crdt"`: a counter or an add-wins set (never empty: an update adds a
    /// dot or a tombstone).
    Crdt(Crdt),
}

impl KeyState {
    /// Merges `incoming` into `slot`; true when `slot` changed.
    pub fn merge_into(slot: &mut Option<KeyState>, incoming: &KeyState) -> bool {
        match (slot.as_mut(), incoming) {
            (None, _) => {
                *slot = Some(incoming.clone());
                true
            }
            (Some(KeyState::Lww(mine)), KeyState::Lww(theirs)) => {
                if theirs > mine {
                    *mine = *theirs;
                    true
                } else {
                    false
                }
            }
            (Some(KeyState::Siblings(mine)), KeyState::Siblings(theirs)) => {
                let merged = mine.sync(theirs);
                if merged == *mine {
                    false
                } else {
                    *mine = merged;
                    true
                }
            }
            (Some(KeyState::Crdt(mine)), KeyState::Crdt(theirs)) => {
                assert_eq!(
                    std::mem::discriminant(mine),
                    std::mem::discriminant(theirs),
                    "a key holds {mine:?} and was sent {theirs:?}: one workload per run"
                );
                // The merge is a union of dots and tombstones (each dot names one update
                // and carries one amount or element), so it changed the copy exactly when
                // the copy grew.
                let before = mine.len();
                mine.merge(theirs);
                mine.len() != before
            }
            (Some(mine), theirs) => {
                panic!("a key holds {mine:?} and was sent {theirs:?}: one versioning per run")
            }
        }
    }

    /// The values a read of this state returns: one, or the siblings ascending, or a
    /// set's elements in id order. A counter has no values (its total is a number:
    /// [`KeyState::total`]).
    pub fn values(&self) -> Vec<ValueId> {
        match self {
            KeyState::Lww(stamp) => vec![stamp.value],
            KeyState::Siblings(siblings) => siblings.values(),
            KeyState::Crdt(Crdt::Set(set)) => set.elements(),
            KeyState::Crdt(Crdt::Counter(_)) => Vec::new(),
        }
    }

    /// A counter's total (`None` for every other state).
    pub fn total(&self) -> Option<i64> {
        match self {
            KeyState::Crdt(Crdt::Counter(counter)) => Some(counter.total()),
            _ => None,
        }
    }

    /// The CRDT value, under `conflict: "crdt"`.
    pub fn crdt(&self) -> Option<&Crdt> {
        match self {
            KeyState::Crdt(value) => Some(value),
            _ => None,
        }
    }

    /// Number of versions (1 for `lww`; dots and tombstones for a CRDT).
    pub fn len(&self) -> usize {
        match self {
            KeyState::Lww(_) => 1,
            KeyState::Siblings(siblings) => siblings.versions().len(),
            KeyState::Crdt(value) => value.len(),
        }
    }

    /// True for an empty sibling set (or CRDT).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A 64-bit digest of the state (FNV-1a of a canonical text), for anti-entropy and
    /// hinted handoff. Never 0, which stands for "nothing".
    pub fn digest(&self) -> u64 {
        let mut text = String::new();
        match self {
            KeyState::Lww(s) => {
                write!(text, "{}/{}/{}", s.micros, s.node.0, s.value.get()).expect("a String")
            }
            KeyState::Siblings(siblings) => {
                for v in siblings.versions() {
                    write!(
                        text,
                        "{}:{}={};",
                        v.dot.node.0,
                        v.dot.counter,
                        v.value.get()
                    )
                    .expect("a String");
                    for (node, counter) in v.context.entries() {
                        write!(text, "{}:{},", node.0, counter).expect("a String");
                    }
                    text.push('|');
                }
            }
            // The `Debug` text of a CRDT is canonical: its dots and tombstones live in
            // ordered maps and sets, so equal states print alike. Digests never leave a
            // run, so the text only has to be stable within one program version.
            KeyState::Crdt(value) => write!(text, "crdt:{value:?}").expect("a String"),
        }
        fnv1a64(text.as_bytes()).max(1)
    }

    /// The digest of an optional state: 0 for nothing.
    pub fn digest_of(state: Option<&KeyState>) -> u64 {
        state.map_or(0, KeyState::digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(n: u32) -> ValueId {
        ValueId::generated(n)
    }

    fn vv(entries: &[(u16, u64)]) -> VersionVector {
        let entries: Vec<(NodeId, u64)> = entries.iter().map(|&(n, c)| (NodeId(n), c)).collect();
        VersionVector::from_entries(&entries)
    }

    #[test]
    fn version_vectors_order_by_dominance() {
        let a = vv(&[(0, 2), (1, 1)]);
        let b = vv(&[(0, 1), (1, 1)]);
        let c = vv(&[(0, 1), (1, 2)]);
        assert!(a.descends(&b) && !b.descends(&a));
        assert!(!a.descends(&c) && !c.descends(&a), "concurrent");
        let mut j = a.clone();
        j.join(&c);
        assert_eq!(j, vv(&[(0, 2), (1, 2)]));
        assert!(a.covers(Dot {
            node: NodeId(0),
            counter: 2
        }));
        assert!(!a.covers(Dot {
            node: NodeId(0),
            counter: 3
        }));
        assert!(!a.covers(Dot {
            node: NodeId(2),
            counter: 1
        }));
    }

    #[test]
    fn a_write_without_context_keeps_what_it_did_not_see() {
        let mut s = Siblings::new();
        let d1 = s.update(NodeId(0), VersionVector::new(), w(1));
        assert_eq!(
            d1,
            Dot {
                node: NodeId(0),
                counter: 1
            }
        );
        // A second client that read nothing writes through the same replica: a sibling,
        // although its counter is larger (a plain vector clock would drop w1 here).
        let d2 = s.update(NodeId(0), VersionVector::new(), w(2));
        assert_eq!(d2.counter, 2);
        assert_eq!(s.values(), vec![w(1), w(2)]);
        // A client that read both supersedes both.
        let seen = s.history();
        s.update(NodeId(1), seen, w(3));
        assert_eq!(s.values(), vec![w(3)]);
    }

    #[test]
    fn a_write_supersedes_exactly_what_its_context_covers() {
        let mut s = Siblings::new();
        s.update(NodeId(0), VersionVector::new(), w(1));
        let after_w1 = s.history();
        s.update(NodeId(1), VersionVector::new(), w(2));
        // Read only w1, then write: w2 stays.
        s.update(NodeId(2), after_w1, w(3));
        assert_eq!(s.values(), vec![w(2), w(3)]);
    }

    #[test]
    fn sync_is_commutative_idempotent_and_keeps_concurrent_versions() {
        let mut a = Siblings::new();
        a.update(NodeId(0), VersionVector::new(), w(1));
        let mut b = Siblings::new();
        b.update(NodeId(1), VersionVector::new(), w(2));
        let ab = a.sync(&b);
        assert_eq!(ab, b.sync(&a));
        assert_eq!(ab.sync(&ab), ab);
        assert_eq!(ab.sync(&a), ab);
        assert_eq!(ab.values(), vec![w(1), w(2)]);
        // A write that saw both, merged into a copy that has only one of them.
        let mut c = ab.clone();
        c.update(NodeId(0), ab.history(), w(3));
        assert_eq!(a.sync(&c).values(), vec![w(3)]);
        assert_eq!(c.sync(&b).values(), vec![w(3)]);
    }

    #[test]
    fn counters_never_repeat_for_a_replica() {
        let mut s = Siblings::new();
        let d1 = s.update(NodeId(0), VersionVector::new(), w(1));
        let seen = s.history();
        let d2 = s.update(NodeId(0), seen, w(2));
        assert!(d2.counter > d1.counter);
        // A context from elsewhere that already mentions a higher counter of n0.
        let d3 = s.update(NodeId(0), vv(&[(0, 9)]), w(3));
        assert_eq!(d3.counter, 10);
    }

    #[test]
    fn lww_keeps_the_largest_stamp() {
        let older = KeyState::Lww(Stamp {
            micros: 5,
            node: NodeId(1),
            value: w(1),
        });
        let newer = KeyState::Lww(Stamp {
            micros: 7,
            node: NodeId(0),
            value: w(2),
        });
        let mut slot = None;
        assert!(KeyState::merge_into(&mut slot, &newer));
        assert!(!KeyState::merge_into(&mut slot, &older));
        assert_eq!(slot, Some(newer.clone()));
        assert_ne!(older.digest(), newer.digest());
        assert_eq!(KeyState::digest_of(None), 0);
    }

    #[test]
    fn crdt_states_merge_as_a_union_and_report_whether_they_grew() {
        use repsim_sim::crdt::{CrdtUpdate, Dot as UpdateDot};
        let delta = |update: CrdtUpdate| {
            let mut value = None;
            update.apply(&mut value);
            KeyState::Crdt(value.unwrap())
        };
        let one = delta(CrdtUpdate::Add {
            dot: UpdateDot(1),
            element: w(7),
        });
        let two = delta(CrdtUpdate::Add {
            dot: UpdateDot(2),
            element: w(8),
        });
        let gone = delta(CrdtUpdate::Remove {
            dots: vec![UpdateDot(1)],
        });
        let mut slot = None;
        assert!(KeyState::merge_into(&mut slot, &one));
        assert!(!KeyState::merge_into(&mut slot, &one), "idempotent");
        assert!(KeyState::merge_into(&mut slot, &two));
        assert_eq!(slot.as_ref().unwrap().values(), vec![w(7), w(8)]);
        assert!(KeyState::merge_into(&mut slot, &gone));
        assert_eq!(slot.as_ref().unwrap().values(), vec![w(8)]);
        // The same dots in another order: the same state and digest.
        let mut other = None;
        for state in [&gone, &two, &one] {
            KeyState::merge_into(&mut other, state);
        }
        assert_eq!(other, slot);
        assert_eq!(
            other.as_ref().unwrap().digest(),
            slot.as_ref().unwrap().digest()
        );
        assert_ne!(one.digest(), two.digest());
        let counter = delta(CrdtUpdate::Increment {
            dot: UpdateDot(3),
            amount: 4,
        });
        assert_eq!(counter.total(), Some(4));
        assert!(counter.values().is_empty());
    }
}
