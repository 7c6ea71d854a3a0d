//! CRDT values for the counter and set workloads (`clients.workload`), shared by the
//! protocols that offer `conflict: "crdt"`.
//!
//! Both are state-based and built from *dots*: each client update is named by the
//! history position of its invocation ([`Dot`]), unique in a run. A client that resends
//! the same operation (after a redirect) resends the same dot, and a replica that
//! receives an update twice (a duplicated message, a retransmission, read repair) adds
//! nothing the second time: merging is a union, so it is commutative, associative and
//! idempotent, and replicas that have seen the same dots hold the same value whatever the
//! order.
//!
//! - [`Counter`]: dot → amount; the value is the sum. (A G-counter with one entry per
//!   increment instead of per replica, so it needs no per-replica sequence numbers that
//!   would have to survive crashes.)
//! - [`AwSet`]: an add-wins observed-remove set. Adding `e` tags it with the add's dot; a
//!   remove of `e` tombstones the dots of `e` the executing replica has seen. An element is
//!   in the set while it has a dot that is not tombstoned, so an add the remove did not see
//!   (a concurrent add) survives it.

use std::collections::{BTreeMap, BTreeSet};

use repsim_history::ValueId;

use crate::node::{Op, RequestId};

/// Names one client update: the history position of its invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dot(pub u32);

impl From<RequestId> for Dot {
    fn from(request: RequestId) -> Dot {
        Dot(request.invoke)
    }
}

/// A counter: the amount each increment added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    parts: BTreeMap<Dot, u32>,
}

impl Counter {
    /// Applies an increment (a second time changes nothing).
    pub fn increment(&mut self, dot: Dot, amount: u32) {
        self.parts.insert(dot, amount);
    }

    /// The counter's value: the sum of every increment seen.
    pub fn total(&self) -> i64 {
        self.parts.values().map(|&a| i64::from(a)).sum()
    }

    /// Joins `other` into this counter.
    pub fn merge(&mut self, other: &Counter) {
        for (&dot, &amount) in &other.parts {
            self.parts.insert(dot, amount);
        }
    }

    /// How many increments it holds.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// True when no increment was seen.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

/// An add-wins (observed-remove) set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwSet {
    /// Element → the dots of its adds (tombstoned ones included).
    adds: BTreeMap<ValueId, BTreeSet<Dot>>,
    /// Dots of adds that a remove has seen.
    removed: BTreeSet<Dot>,
}

impl AwSet {
    /// Applies an add of `element` named `dot`.
    pub fn add(&mut self, element: ValueId, dot: Dot) {
        self.adds.entry(element).or_default().insert(dot);
    }

    /// The live (not tombstoned) dots of `element`: what a remove executed here removes.
    pub fn observed(&self, element: ValueId) -> Vec<Dot> {
        self.adds
            .get(&element)
            .into_iter()
            .flatten()
            .filter(|d| !self.removed.contains(d))
            .copied()
            .collect()
    }

    /// Tombstones these add dots (a remove, executed where they were observed).
    pub fn remove_dots(&mut self, dots: &[Dot]) {
        self.removed.extend(dots.iter().copied());
    }

    /// Removes `element` as this replica sees it; returns the dots it tombstoned.
    pub fn remove(&mut self, element: ValueId) -> Vec<Dot> {
        let dots = self.observed(element);
        self.remove_dots(&dots);
        dots
    }

    /// The elements in the set, in id order.
    pub fn elements(&self) -> Vec<ValueId> {
        self.adds
            .iter()
            .filter(|(_, dots)| dots.iter().any(|d| !self.removed.contains(d)))
            .map(|(&e, _)| e)
            .collect()
    }

    /// Joins `other` into this set.
    pub fn merge(&mut self, other: &AwSet) {
        for (&element, dots) in &other.adds {
            self.adds
                .entry(element)
                .or_default()
                .extend(dots.iter().copied());
        }
        self.removed.extend(other.removed.iter().copied());
    }

    /// Every add dot it holds and every tombstone: a measure of its size.
    pub fn len(&self) -> usize {
        self.adds.values().map(BTreeSet::len).sum::<usize>() + self.removed.len()
    }

    /// True when it has seen no add and no remove.
    pub fn is_empty(&self) -> bool {
        self.adds.is_empty() && self.removed.is_empty()
    }
}

/// A CRDT value of either kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Crdt {
    /// A counter.
    Counter(Counter),
    /// An add-wins set.
    Set(AwSet),
}

/// A CRDT update as it travels between replicas: the operation after the executing
/// replica resolved it (a remove carries the dots it observed there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrdtUpdate {
    /// Add `amount` under `dot`.
    Increment {
        /// The increment.
        dot: Dot,
        /// How much.
        amount: u32,
    },
    /// Add `element` under `dot`.
    Add {
        /// The add.
        dot: Dot,
        /// The element.
        element: ValueId,
    },
    /// Tombstone these adds of an element.
    Remove {
        /// The adds the remove observed.
        dots: Vec<Dot>,
    },
}

impl CrdtUpdate {
    /// Resolves client operation `op` (an increment, add or remove) against `local`, the
    /// executing replica's value of the key, and applies it there. `None` for reads and
    /// register writes.
    pub fn execute(op: &Op, dot: Dot, local: &mut Option<Crdt>) -> Option<CrdtUpdate> {
        let update = match *op {
            Op::Increment { amount, .. } => CrdtUpdate::Increment { dot, amount },
            Op::Add { element, .. } => CrdtUpdate::Add { dot, element },
            Op::Remove { element, .. } => CrdtUpdate::Remove {
                dots: match local {
                    Some(Crdt::Set(set)) => set.observed(element),
                    _ => Vec::new(),
                },
            },
            Op::Read { .. } | Op::Write { .. } => return None,
        };
        update.apply(local);
        Some(update)
    }

    /// Applies the update to a replica's value of the key (creating it if absent).
    /// Applying it again changes nothing.
    pub fn apply(&self, value: &mut Option<Crdt>) {
        match self {
            CrdtUpdate::Increment { dot, amount } => {
                match value.get_or_insert_with(|| Crdt::Counter(Counter::default())) {
                    Crdt::Counter(c) => c.increment(*dot, *amount),
                    Crdt::Set(_) => {}
                }
            }
            CrdtUpdate::Add { dot, element } => {
                match value.get_or_insert_with(|| Crdt::Set(AwSet::default())) {
                    Crdt::Set(s) => s.add(*element, *dot),
                    Crdt::Counter(_) => {}
                }
            }
            CrdtUpdate::Remove { dots } => {
                match value.get_or_insert_with(|| Crdt::Set(AwSet::default())) {
                    Crdt::Set(s) => s.remove_dots(dots),
                    Crdt::Counter(_) => {}
                }
            }
        }
    }
}

impl Crdt {
    /// Joins `other` into this value. Values of different kinds (which one workload never
    /// produces) keep this one.
    pub fn merge(&mut self, other: &Crdt) {
        match (self, other) {
            (Crdt::Counter(a), Crdt::Counter(b)) => a.merge(b),
            (Crdt::Set(a), Crdt::Set(b)) => a.merge(b),
            _ => {}
        }
    }

    /// A size measure: increments, or add dots plus tombstones.
    pub fn len(&self) -> usize {
        match self {
            Crdt::Counter(c) => c.len(),
            Crdt::Set(s) => s.len(),
        }
    }

    /// True when it holds no update.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The reply to a read of a key holding `value` under workload `counter` (a counter read
/// answers its total, 0 when nothing was added; a set read lists its elements).
pub fn read_reply(value: Option<&Crdt>, counter: bool) -> crate::node::Reply {
    use crate::node::Reply;
    match value {
        Some(Crdt::Counter(c)) => Reply::Count(c.total()),
        Some(Crdt::Set(s)) => Reply::Read(s.elements()),
        None if counter => Reply::Count(0),
        None => Reply::Read(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(n: u32) -> ValueId {
        ValueId::generated(n)
    }

    #[test]
    fn counter_merge_is_a_union_of_increments() {
        let mut a = Counter::default();
        let mut b = Counter::default();
        a.increment(Dot(1), 3);
        b.increment(Dot(2), 4);
        b.increment(Dot(1), 3);
        a.merge(&b);
        a.merge(&b);
        assert_eq!(a.total(), 7);
        b.merge(&a);
        assert_eq!(a, b);
    }

    #[test]
    fn add_wins_over_a_concurrent_remove_and_loses_to_a_later_one() {
        let mut here = AwSet::default();
        let mut there = AwSet::default();
        here.add(e(1), Dot(1));
        there.merge(&here);
        // Concurrently: `there` removes e1 (seeing Dot 1), `here` adds e1 again.
        let removed = there.remove(e(1));
        assert_eq!(removed, vec![Dot(1)]);
        here.add(e(1), Dot(2));
        here.merge(&there);
        there.merge(&here);
        assert_eq!(here.elements(), vec![e(1)], "the unseen add survives");
        assert_eq!(here, there);
        // A remove that saw both adds removes the element.
        here.remove(e(1));
        there.merge(&here);
        assert!(there.elements().is_empty());
    }

    #[test]
    fn updates_apply_once() {
        let mut value = None;
        let op = Op::Increment {
            key: repsim_history::KeyId(0),
            amount: 2,
        };
        let update = CrdtUpdate::execute(&op, Dot(5), &mut value).unwrap();
        update.apply(&mut value);
        assert_eq!(
            read_reply(value.as_ref(), true),
            crate::node::Reply::Count(2)
        );
    }
}
