//! A brute-force reference checker, written straight from the definitions of SPEC §4 (with
//! the readings documented in the crate doc) as nested loops over operations. It shares
//! nothing with the fast checkers but the history types, so the property tests can
//! compare the two: a bug would have to be made twice, the same way, to go unnoticed.
//!
//! Cost is quadratic to quartic in the history length; use it on small histories only.
//! `linearizability` has its own reference in [`linearizable`] (factorial: tiny keys only),
//! which [`check`] does not run.

pub mod linearizable;

use std::collections::{BTreeMap, BTreeSet};

use repsim_anomaly::Kind;
use repsim_history::{
    FinalState, Function, History, KeyId, NodeId, Operation, Outcome, RoleEvent, RoleKind, Val,
    ValueId,
};

/// Per kind: the flagged indexes (ascending, with repeats), or `Err(())` when skipped.
pub type Verdicts = BTreeMap<Kind, Result<Vec<u64>, ()>>;

struct Reference<'a> {
    history: &'a History,
    ops: Vec<Operation>,
}

impl Reference<'_> {
    fn written(&self, op: &Operation) -> Option<Option<ValueId>> {
        match (op.f, op.value) {
            (Function::Write, Val::One(v)) => Some(Some(v)),
            (Function::Cas, Val::Cas(_, new)) => Some(new),
            _ => None,
        }
    }

    fn writes(&self) -> impl Iterator<Item = &Operation> {
        self.ops.iter().filter(|op| op.f != Function::Read)
    }

    fn ok_reads(&self) -> impl Iterator<Item = &Operation> {
        self.ops
            .iter()
            .filter(|op| op.f == Function::Read && op.outcome == Outcome::Ok)
    }

    fn values(&self, read: &Operation) -> Vec<ValueId> {
        self.history.values_of(&read.value).to_vec()
    }

    fn index(&self, op: &Operation) -> u64 {
        self.history.index_of(op.invoke)
    }

    /// `a → b`: a completed ok before b was invoked.
    fn precedes(&self, a: &Operation, b: &Operation) -> bool {
        a.outcome == Outcome::Ok && a.completion.expect("ok completed") < b.invoke
    }

    /// Completed before `before` was invoked.
    fn completed_before(&self, op: &Operation, before: u32) -> bool {
        op.completion.is_some_and(|c| c < before)
    }

    /// The write that `value`, returned by ok read `read`, names: the write of that value
    /// if it is of the read's key, did not fail, and was invoked before the read completed.
    fn names(&self, value: ValueId, read: &Operation) -> Option<&Operation> {
        let completion = read.completion.expect("an ok read completed");
        self.writes().find(|w| {
            self.written(w) == Some(Some(value))
                && w.key == read.key
                && w.outcome != Outcome::Fail
                && w.invoke < completion
        })
    }

    /// The write that `value`, held for `key` in the final state, names.
    fn names_in_final(&self, value: ValueId, key: KeyId) -> Option<&Operation> {
        self.writes().find(|w| {
            self.written(w) == Some(Some(value)) && w.key == key && w.outcome != Outcome::Fail
        })
    }

    fn stale_read(&self) -> Vec<u64> {
        let mut flagged = Vec::new();
        for r in self.ok_reads() {
            let newer_exists = |a: Option<&Operation>| {
                self.writes().any(|b| {
                    b.key == r.key
                        && b.outcome == Outcome::Ok
                        && self.completed_before(b, r.invoke)
                        && a.is_none_or(|a| self.precedes(a, b))
                })
            };
            let values = self.values(r);
            let stale = if values.is_empty() {
                newer_exists(None)
            } else {
                values
                    .iter()
                    .all(|&v| self.names(v, r).is_some_and(|a| newer_exists(Some(a))))
            };
            if stale {
                flagged.push(self.index(r));
            }
        }
        flagged
    }

    fn read_your_writes(&self) -> Vec<u64> {
        let mut flagged = Vec::new();
        for r in self.ok_reads() {
            let own: Vec<&Operation> = self
                .writes()
                .filter(|b| {
                    b.process == r.process
                        && b.key == r.key
                        && b.outcome == Outcome::Ok
                        && self.completed_before(b, r.invoke)
                })
                .collect();
            let values = self.values(r);
            let flag = if values.is_empty() {
                !own.is_empty()
            } else {
                values.iter().all(|&v| {
                    self.names(v, r)
                        .is_some_and(|a| own.iter().any(|b| self.precedes(a, b)))
                })
            };
            if flag {
                flagged.push(self.index(r));
            }
        }
        flagged
    }

    fn monotonic_read(&self) -> Vec<u64> {
        let mut flagged = Vec::new();
        for r2 in self.ok_reads() {
            let earlier: Vec<&Operation> = self
                .ok_reads()
                .filter(|r1| {
                    r1.process == r2.process
                        && r1.key == r2.key
                        && self.completed_before(r1, r2.invoke)
                })
                .collect();
            let values = self.values(r2);
            let flag = if values.is_empty() {
                earlier.iter().any(|r1| !self.values(r1).is_empty())
            } else {
                values.iter().all(|&v| {
                    self.names(v, r2).is_some_and(|a| {
                        earlier.iter().any(|r1| {
                            self.values(r1)
                                .iter()
                                .any(|&u| self.names(u, r1).is_some_and(|b| self.precedes(a, b)))
                        })
                    })
                })
            };
            if flag {
                flagged.push(self.index(r2));
            }
        }
        flagged
    }

    /// The B's that `c`'s process had on `key` before `c`'s invoke, and whether it had
    /// any ok write of `key` or any ok read of `key` returning a value.
    fn known_before(&self, c: &Operation, key: KeyId) -> (Vec<&Operation>, bool) {
        let mut bs = Vec::new();
        let mut any = false;
        for x in &self.ops {
            if x.process != c.process
                || x.key != key
                || x.outcome != Outcome::Ok
                || !self.completed_before(x, c.invoke)
            {
                continue;
            }
            if x.f == Function::Read {
                let values = self.values(x);
                any |= !values.is_empty();
                bs.extend(values.iter().filter_map(|&u| self.names(u, x)));
            } else {
                any = true;
                bs.push(x);
            }
        }
        (bs, any)
    }

    fn consistent_prefix(&self) -> Vec<u64> {
        let mut flagged = Vec::new();
        for r in self.ok_reads() {
            let mut cs: Vec<&Operation> = Vec::new();
            for r_prime in self.ok_reads() {
                if r_prime.process == r.process
                    && r_prime.key != r.key
                    && self.completed_before(r_prime, r.invoke)
                {
                    cs.extend(
                        self.values(r_prime)
                            .iter()
                            .filter_map(|&c| self.names(c, r_prime)),
                    );
                }
            }
            let values = self.values(r);
            let flag = if values.is_empty() {
                cs.iter().any(|c| self.known_before(c, r.key).1)
            } else {
                values.iter().all(|&v| {
                    self.names(v, r).is_some_and(|a| {
                        cs.iter().any(|c| {
                            self.known_before(c, r.key)
                                .0
                                .iter()
                                .any(|b| self.precedes(a, b))
                        })
                    })
                })
            };
            if flag {
                flagged.push(self.index(r));
            }
        }
        flagged
    }

    fn lost_write(&self, state: &FinalState) -> Vec<u64> {
        let mut flagged = Vec::new();
        for w in self.writes().filter(|w| w.outcome == Outcome::Ok) {
            let lost = state.nodes.values().all(|keys| match keys.get(&w.key) {
                None => true,
                Some(values) => values.iter().all(|&v| {
                    self.names_in_final(v, w.key)
                        .is_some_and(|a| self.precedes(a, w))
                }),
            });
            if lost {
                flagged.push(self.index(w));
            }
        }
        flagged
    }

    fn phantom_read(&self) -> Vec<u64> {
        let mut flagged = Vec::new();
        for r in self.ok_reads() {
            let values = self.values(r);
            let completion = r.completion.expect("ok completed");
            let phantom = |v: ValueId| {
                let wrote: Vec<&Operation> = self
                    .writes()
                    .filter(|w| self.written(w) == Some(Some(v)))
                    .collect();
                wrote.is_empty()
                    || wrote.iter().all(|w| {
                        w.key != r.key || w.outcome == Outcome::Fail || w.invoke > completion
                    })
            };
            if !values.is_empty() && values.iter().all(|&v| phantom(v)) {
                flagged.push(self.index(r));
            }
        }
        flagged
    }

    fn divergence(&self, state: &FinalState) -> Vec<u64> {
        let mut keys: BTreeSet<KeyId> = BTreeSet::new();
        for map in state.nodes.values() {
            keys.extend(map.keys().copied());
        }
        let mut flagged = Vec::new();
        for key in keys {
            let sets: Vec<BTreeSet<ValueId>> = state
                .nodes
                .values()
                .filter_map(|map| map.get(&key))
                .map(|values| values.iter().copied().collect())
                .collect();
            if sets.iter().all(|s| *s == sets[0]) {
                continue;
            }
            let first = self
                .writes()
                .filter(|w| w.key == key)
                .filter(|w| {
                    sets.iter()
                        .any(|s| self.written(w).flatten().is_some_and(|v| s.contains(&v)))
                })
                .map(|w| self.index(w))
                .min();
            flagged.push(first.unwrap_or(0));
        }
        flagged
    }

    fn split_brain(&self, roles: &[RoleEvent]) -> Vec<u64> {
        let mut events: Vec<RoleEvent> = roles.to_vec();
        events.sort_by(|a, b| a.time_ms.total_cmp(&b.time_ms));
        // Leaders after each event, replayed from scratch every time.
        let leaders_after = |i: usize| -> BTreeSet<NodeId> {
            let mut leaders = BTreeSet::new();
            for e in &events[..=i] {
                match e.kind {
                    RoleKind::Leader { .. } => {
                        leaders.insert(e.node);
                    }
                    RoleKind::NotLeader => {
                        leaders.remove(&e.node);
                    }
                    RoleKind::AcceptedWrite { .. } => {}
                }
            }
            leaders
        };
        let mut flagged = Vec::new();
        let mut i = 0;
        while i < events.len() {
            if leaders_after(i).len() < 2 {
                i += 1;
                continue;
            }
            let mut writers = BTreeSet::new();
            let mut indexes = Vec::new();
            while i < events.len() && leaders_after(i).len() >= 2 {
                if let RoleKind::AcceptedWrite { op } = events[i].kind
                    && leaders_after(i).contains(&events[i].node)
                {
                    writers.insert(events[i].node);
                    indexes.extend(op.map(|p| self.history.index_of(p)));
                }
                i += 1;
            }
            if writers.len() >= 2 {
                flagged.push(indexes.into_iter().min().unwrap_or(0));
            }
        }
        flagged.sort_unstable();
        flagged
    }

    fn unavailable(&self) -> Vec<u64> {
        self.ops
            .iter()
            .filter(|op| match op.outcome {
                Outcome::Fail | Outcome::Info => true,
                Outcome::Pending => op.f != Function::Read,
                Outcome::Ok => false,
            })
            .map(|op| self.index(op))
            .collect()
    }

    fn values_unique(&self) -> bool {
        let mut seen = BTreeSet::new();
        for w in self.writes() {
            match self.written(w).flatten() {
                None => return false,
                Some(v) => {
                    if !seen.insert(v) {
                        return false;
                    }
                }
            }
        }
        true
    }
}

/// Runs the reference checker. Panics on a malformed history (tests build valid ones).
pub fn check(
    history: &History,
    state: Option<&FinalState>,
    roles: Option<&[RoleEvent]>,
) -> Verdicts {
    let reference = Reference {
        history,
        ops: history.operations().expect("a well-formed history"),
    };
    let unique = reference.values_unique();
    let mut verdicts = Verdicts::new();
    let mut put = |kind: Kind, result: Option<Vec<u64>>| {
        let result = result.map(|mut v| {
            v.sort_unstable();
            v
        });
        verdicts.insert(kind, result.ok_or(()));
    };
    let if_unique = |f: &dyn Fn() -> Vec<u64>| unique.then(f);
    put(Kind::StaleRead, if_unique(&|| reference.stale_read()));
    put(
        Kind::ReadYourWrites,
        if_unique(&|| reference.read_your_writes()),
    );
    put(
        Kind::MonotonicRead,
        if_unique(&|| reference.monotonic_read()),
    );
    put(
        Kind::ConsistentPrefix,
        if_unique(&|| reference.consistent_prefix()),
    );
    put(Kind::PhantomRead, if_unique(&|| reference.phantom_read()));
    put(
        Kind::LostWrite,
        state.and_then(|s| if_unique(&|| reference.lost_write(s))),
    );
    put(
        Kind::Divergence,
        state.and_then(|s| if_unique(&|| reference.divergence(s))),
    );
    put(Kind::SplitBrain, roles.map(|r| reference.split_brain(r)));
    put(Kind::Unavailable, Some(reference.unavailable()));
    verdicts
}
