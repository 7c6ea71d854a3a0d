//! A brute-force reference checker, written straight from the definitions of SPEC §4 (with
//! the readings documented in the crate doc) as nested loops over operations. It shares
//! nothing with the fast checkers but the history types, so the property tests can
//! compare the two: a bug would have to be made twice, the same way, to go unnoticed.
//!
//! Cost is quadratic to quartic in the history length; use it on small histories only.
//! `linearizability` has its own reference in [`linearizable`] (factorial: tiny keys only),
//! which [`check`] does not run.
//!
//! Counters and sets (`increment`, `add`, `remove`) are read here from these statements,
//! not from the checkers' module docs:
//! - A key touched by any increment is a counter; by any add or remove, a set; any other
//!   key is a register, except that a key nobody but readers touched is a counter when
//!   the history has a counter and a set when it has a set. Register definitions look at
//!   registers only (their reads, writes and cas operations); with counters or sets but
//!   no register at all, they do not run.
//! - A counter's total on a node: `null` means 0, one integer means itself, anything else
//!   is no total at all.
//! - `lost_increment`: a counter with some increment acknowledged `ok`, such that every
//!   node that lists it has a total, smaller than what the acknowledged increments add up
//!   to (no node listing it counts as every node agreeing). Reported at the first
//!   acknowledged increment.
//! - `phantom_increment`: a counter listed by at least one node, where every listing node
//!   has a total, larger than what all its increments except the failed ones add up to.
//!   Reported at the counter's first increment, or its first read if it has none.
//! - `lost_add`: an acknowledged add of element e to set s, with e in no listing node's
//!   final value of s, and every remove of e from s having failed or having been
//!   acknowledged before the add was invoked.
//! - `divergence`: nodes listing a key disagree: counters by total (a node without a
//!   total by its values as a set), everything else by values as a set. Reported at the
//!   first operation of the key that put one of the final values there: for a counter any
//!   increment, for a set an add of a held element, for a register a write or cas of a
//!   held value.

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
    /// The operations on registers.
    ops: Vec<Operation>,
    /// Every operation.
    all: Vec<Operation>,
    /// Keys touched by an increment.
    counters: BTreeSet<KeyId>,
    /// Keys touched by an add or a remove.
    sets: BTreeSet<KeyId>,
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

    /// A counter total on a node: `null` is 0, a lone integer itself, anything else none.
    fn total(&self, values: &[ValueId]) -> Option<i128> {
        if values.is_empty() {
            return Some(0);
        }
        if values.len() > 1 {
            return None;
        }
        let json = self.history.values.to_json(values[0]);
        if let Some(n) = json.as_i64() {
            Some(n as i128)
        } else {
            json.as_u64().map(|n| n as i128)
        }
    }

    fn amount(op: &Operation) -> i128 {
        match op.value {
            Val::Int(n) => n as i128,
            other => panic!("an increment of {other:?}"),
        }
    }

    fn divergence(&self, state: &FinalState) -> Vec<u64> {
        let mut keys: BTreeSet<KeyId> = BTreeSet::new();
        for map in state.nodes.values() {
            keys.extend(map.keys().copied());
        }
        let mut flagged = Vec::new();
        for key in keys {
            let lists: Vec<&Vec<ValueId>> = state
                .nodes
                .values()
                .filter_map(|map| map.get(&key))
                .collect();
            let counter = self.counters.contains(&key);
            let seen: Vec<(Option<i128>, BTreeSet<ValueId>)> = lists
                .iter()
                .map(|values| {
                    let total = if counter { self.total(values) } else { None };
                    match total {
                        Some(t) => (Some(t), BTreeSet::new()),
                        None => (None, values.iter().copied().collect()),
                    }
                })
                .collect();
            if seen.iter().all(|s| *s == seen[0]) {
                continue;
            }
            let held: BTreeSet<ValueId> = lists.iter().flat_map(|v| v.iter().copied()).collect();
            let first = self
                .all
                .iter()
                .filter(|op| op.key == key)
                .filter(|op| {
                    if counter {
                        op.f == Function::Increment
                    } else if self.sets.contains(&key) {
                        op.f == Function::Add
                            && matches!(op.value, Val::One(e) if held.contains(&e))
                    } else {
                        self.written(op)
                            .flatten()
                            .is_some_and(|v| held.contains(&v))
                    }
                })
                .map(|op| self.index(op))
                .min();
            flagged.push(first.unwrap_or(0));
        }
        flagged
    }

    fn lost_increment(&self, state: &FinalState) -> Vec<u64> {
        let mut flagged = Vec::new();
        for &key in &self.counters {
            let acknowledged: Vec<&Operation> = self
                .all
                .iter()
                .filter(|op| {
                    op.key == key && op.f == Function::Increment && op.outcome == Outcome::Ok
                })
                .collect();
            if acknowledged.is_empty() {
                continue;
            }
            let owed: i128 = acknowledged.iter().map(|op| Self::amount(op)).sum();
            let short_everywhere = state.nodes.values().all(|map| match map.get(&key) {
                None => true,
                Some(values) => matches!(self.total(values), Some(t) if t < owed),
            });
            if short_everywhere {
                flagged.push(acknowledged.iter().map(|op| self.index(op)).min().unwrap());
            }
        }
        flagged
    }

    fn phantom_increment(&self, state: &FinalState) -> Vec<u64> {
        let mut flagged = Vec::new();
        for &key in &self.counters {
            let increments: Vec<&Operation> = self
                .all
                .iter()
                .filter(|op| op.key == key && op.f == Function::Increment)
                .collect();
            let most: i128 = increments
                .iter()
                .filter(|op| op.outcome != Outcome::Fail)
                .map(|op| Self::amount(op))
                .sum();
            let totals: Vec<Option<i128>> = state
                .nodes
                .values()
                .filter_map(|map| map.get(&key))
                .map(|values| self.total(values))
                .collect();
            if !totals.is_empty() && totals.iter().all(|t| matches!(t, Some(t) if *t > most)) {
                let at = match increments.first() {
                    Some(first) => self.index(first),
                    None => self
                        .all
                        .iter()
                        .filter(|op| op.key == key)
                        .map(|op| self.index(op))
                        .min()
                        .expect("a key in the history has an operation"),
                };
                flagged.push(at);
            }
        }
        flagged
    }

    fn lost_add(&self, state: &FinalState) -> Vec<u64> {
        let mut flagged = Vec::new();
        for add in &self.all {
            if add.f != Function::Add || add.outcome != Outcome::Ok {
                continue;
            }
            let element = add.value;
            let nowhere = state.nodes.values().all(|map| match map.get(&add.key) {
                None => true,
                Some(values) => !values.iter().any(|&v| Val::One(v) == element),
            });
            let unexplained = self
                .all
                .iter()
                .filter(|r| r.f == Function::Remove && r.key == add.key && r.value == element)
                .all(|r| match r.outcome {
                    Outcome::Fail => true,
                    Outcome::Ok => r.completion.unwrap() < add.invoke,
                    Outcome::Info | Outcome::Pending => false,
                });
            if nowhere && unexplained {
                flagged.push(self.index(add));
            }
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
        self.all
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
    let all = history.operations().expect("a well-formed history");
    let mut counters: BTreeSet<KeyId> = all
        .iter()
        .filter(|op| op.f == Function::Increment)
        .map(|op| op.key)
        .collect();
    let mut sets: BTreeSet<KeyId> = all
        .iter()
        .filter(|op| op.f == Function::Add || op.f == Function::Remove)
        .map(|op| op.key)
        .collect();
    let only_read: Vec<KeyId> = all
        .iter()
        .map(|op| op.key)
        .filter(|&key| {
            all.iter()
                .filter(|op| op.key == key)
                .all(|op| op.f == Function::Read)
        })
        .collect();
    let (has_counters, has_sets) = (!counters.is_empty(), !sets.is_empty());
    for key in only_read {
        if has_counters {
            counters.insert(key);
        }
        if has_sets {
            sets.insert(key);
        }
    }
    let ops: Vec<Operation> = all
        .iter()
        .filter(|op| !counters.contains(&op.key) && !sets.contains(&op.key))
        .copied()
        .collect();
    // Counters or sets but not one register operation: the register definitions do not
    // run.
    let registers = !ops.is_empty() || (counters.is_empty() && sets.is_empty());
    let reference = Reference {
        history,
        ops,
        all,
        counters,
        sets,
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
    let if_register = |f: &dyn Fn() -> Vec<u64>| (registers && unique).then(f);
    put(Kind::StaleRead, if_register(&|| reference.stale_read()));
    put(
        Kind::ReadYourWrites,
        if_register(&|| reference.read_your_writes()),
    );
    put(
        Kind::MonotonicRead,
        if_register(&|| reference.monotonic_read()),
    );
    put(
        Kind::ConsistentPrefix,
        if_register(&|| reference.consistent_prefix()),
    );
    put(Kind::PhantomRead, if_register(&|| reference.phantom_read()));
    put(
        Kind::LostWrite,
        state.and_then(|s| if_register(&|| reference.lost_write(s))),
    );
    put(
        Kind::Divergence,
        state.and_then(|s| if_unique(&|| reference.divergence(s))),
    );
    put(Kind::SplitBrain, roles.map(|r| reference.split_brain(r)));
    put(Kind::Unavailable, Some(reference.unavailable()));
    put(
        Kind::LostIncrement,
        state.map(|s| reference.lost_increment(s)),
    );
    put(
        Kind::PhantomIncrement,
        state.map(|s| reference.phantom_increment(s)),
    );
    put(Kind::LostAdd, state.map(|s| reference.lost_add(s)));
    verdicts
}
