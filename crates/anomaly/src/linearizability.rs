//! `linearizability` (SPEC §4): each key whose operations, read as a read / write / cas
//! register, have no linearization: no total order that respects real time (an `ok`
//! before an `invoke` orders the two) and register semantics (the register starts as
//! `null`; a `fail`ed operation never took effect), with `info` operations allowed to
//! take effect or not. Checked per key (linearizability is P-compositional: a history is
//! linearizable iff every key's sub-history is); a key the search cannot decide within
//! its [`Budget`] is reported as unknown ([`crate::Findings::unknown_keys`]), never as a
//! pass. Needs no unique values. Only register keys are checked: counter and set keys
//! (see the crate doc) are left out entirely, reads included.
//!
//! **Readings** (SPEC §4 leaves them implicit):
//! - "Before" compares event positions, as for every kind; `time_ms` is never used.
//! - An operation that never completed counts as `info`. An `info` (or never-completed)
//!   write or cas may take effect at any point after its invoke, or never; an `info` cas
//!   that takes effect needs its `expected` value, like an `ok` one. `info` and `fail`
//!   reads impose nothing and are ignored, and so is every `fail`ed operation.
//! - An `ok` cas took effect: the register held `expected` and now holds `new`.
//! - An `ok` read returns one value. Siblings are a set, as for every kind (see the crate
//!   doc): an empty list is `null`, and a list of one value (or of one value repeated) is
//!   that value. A read of two or more different siblings can never be linearized, since
//!   a register holds one value (the search treats it as reading a value nobody wrote).
//!
//! **Search.** The Wing & Gong search as Lowe improved it (and as Porcupine and Knossos
//! run it): a depth-first search over configurations (the set S of operations linearized
//! so far, the register value), trying next only the *minimal* operations: those invoked
//! before the earliest completion among the required operations not yet in S (the
//! real-time frontier). Operations are numbered in invoke order, and S is stored as the
//! first required operation not in S (`lo`; every required operation before it is in
//! S), the optional operations before `lo` not in S, and the operations after `lo` in S,
//! which all fall in the window of operations invoked before `lo` completes; so a
//! configuration costs O(concurrency), not O(history). Only configurations proved dead
//! are memoized (a configuration on the current path cannot recur: S only grows along
//! a path), in an open-addressing table with a fixed hash, so each configuration is
//! expanded at most once and nothing depends on hash order.
//!
//! Two choices keep the common case (a linearizable key) near one configuration per
//! operation, even with 64 operations in flight: a minimal read of the current value is
//! linearized at once with no alternative tried (a safe partial-order reduction: it
//! changes nothing, and nothing pending must precede it), and the other candidates are
//! tried most urgent first (earliest completion).
//!
//! Before the search, two exact reductions shrink each key's history:
//! - an optional write or cas whose new value nothing observes (no `ok` read returns it,
//!   no kept cas expects it) is dropped: taking effect could only be overwritten unseen;
//! - an optional write or cas that is the only writer of a non-null value an `ok` read or
//!   `ok` cas observes must take effect before the earliest such observer completes, so
//!   it becomes required with that completion as its deadline.
//!
//! In a simulated history (unique values) these leave almost no optional operations, so
//! the search follows the history with little backtracking.
//!
//! **Flag.** One per non-linearizable key. Its `index` is the key's first violation: the
//! `ok` operation whose completion no linearization of the key's history can pass (the
//! furthest real-time frontier any configuration reached; every configuration dies
//! there). A read of different siblings, or of a value no operation of the key wrote, is
//! such a violation on its own.
//!
//! **Witness** (`involved`, and the operations listed in the message). The `ok`
//! operations completed by the violation, plus the writers of what they observe, still
//! have no linearization (any configuration of theirs is one of the whole key's). That
//! set is shrunk: first to a window of the operations just before the violation (a
//! violation is usually local), then by delta debugging, to a set from which no single
//! operation can be removed while the rest still fails at the same operation. One rule
//! keeps witnesses honest: a set that keeps an `ok` read or cas of a value keeps an
//! operation that wrote it, invoked before the observer completed if the key has one,
//! so a witness shows where every value came from instead of blaming a read for a write
//! it left out. When the shrinking budget runs out, the witness still fails at the
//! violation but may not be minimal, and the message says so.
//!
//! **Cost.** Per key, O(m log m) to prepare m operations, then one step per
//! configuration explored: O(w) for a window of w concurrent operations. A linearizable
//! key explores about one configuration per operation (`cargo bench -p repsim-anomaly`:
//! a million operations on 100 keys by 8 processes in 0.2 s; on one key by 64 processes
//! in 0.7 s). Proving a key non-linearizable explores every configuration up to its first
//! violation, a few per operation in simulated histories and exponential in the worst
//! case (many `info` writes of repeated values); that is what [`Budget`] bounds.

use repsim_history::{Function, History, HistoryError, Outcome, Val};

use crate::collect::Collector;
use crate::prepare::{Base, KeyClasses, NONE};
use crate::render;
use crate::{Flag, KindResult};

/// How much work the linearizability search may do per key before it answers unknown.
///
/// A key of `m` operations may explore `states_base + states_per_operation × m`
/// configurations. A linearizable key needs about one per operation; proving a key
/// non-linearizable needs every configuration up to its first violation, a few per
/// operation in simulated histories (5 with 8 processes on one key), so the defaults
/// decide every key whose violation comes early and answer unknown, after a few seconds
/// at most, for a million-operation key whose first violation is near its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Configurations any key may explore (default 100,000; the hardest of the 222
    /// outside histories in `tests/data/linearizability` needs 32,459).
    pub states_base: u64,
    /// Further configurations per operation of the key (default 8).
    pub states_per_operation: u64,
    /// Bytes of memoized dead configurations one key's search may hold (default 256 MiB,
    /// about five million configurations).
    pub memory_per_key: usize,
    /// Configurations the witness shrinking of one key may explore over all the searches
    /// it runs (default 1,000,000). When it runs out, the witness found so far is
    /// reported: still non-linearizable, maybe not minimal, and its message says so.
    pub shrink_states_per_key: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            states_base: 100_000,
            states_per_operation: 8,
            memory_per_key: 256 << 20,
            shrink_states_per_key: 1_000_000,
        }
    }
}

impl Budget {
    /// The search limits for a key of `operations` operations.
    fn limits(&self, operations: usize) -> Limits {
        Limits {
            states: self
                .states_base
                .saturating_add(self.states_per_operation.saturating_mul(operations as u64)),
            memory: self.memory_per_key,
        }
    }
}

/// "No completion": the return position of an optional operation.
const INF: u32 = u32::MAX;
/// The register value `null`.
const NULL: u32 = 0;
/// What a read of several siblings is taken to return: a value no operation writes (raw
/// value ids are below it: a history would need 2^31 interned values to reach it).
const SIBLINGS: u32 = u32::MAX;

/// What one operation does to the register. Values are raw `ValueId`s, `null` is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Returns `v`; the register must hold it.
    Read(u32),
    /// Sets the register to `v`.
    Write(u32),
    /// Requires `expected`, sets `new`.
    Cas(u32, u32),
}

impl Action {
    /// The register value after this action from `value`, or `None` if it cannot run.
    fn apply(self, value: u32) -> Option<u32> {
        match self {
            Action::Read(v) => (v == value).then_some(value),
            Action::Write(v) => Some(v),
            Action::Cas(expected, new) => (expected == value).then_some(new),
        }
    }

    /// The value it writes, if any.
    fn written(self) -> Option<u32> {
        match self {
            Action::Read(_) => None,
            Action::Write(v) | Action::Cas(_, v) => Some(v),
        }
    }
}

/// One operation as the search sees it.
#[derive(Clone, Copy, Debug)]
struct Step {
    /// The operation (position in `Base::ops`).
    op: u32,
    /// Invoke position.
    inv: u32,
    /// The position it must be linearized before: its `ok` (or a deadline, see the module
    /// doc) for a required operation, [`INF`] for an optional one.
    ret: u32,
    action: Action,
}

impl Step {
    fn required(&self) -> bool {
        self.ret != INF
    }
}

/// How an operation of a key is read, before any reduction.
#[derive(Clone, Copy, Debug)]
struct Entry {
    step: Step,
    /// Completed `ok` (a required operation, and an observer of what it reads or expects).
    ok: bool,
    /// The value it observes (`ok` reads, and every cas's `expected`).
    observes: Option<u32>,
}

/// What a search concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Linearizable,
    /// No linearization; `frontier` is the furthest real-time frontier any configuration
    /// reached (the completion position no configuration could pass).
    NotLinearizable {
        frontier: u32,
    },
    Unknown,
}

/// Work limits of one search.
#[derive(Clone, Copy, Debug)]
struct Limits {
    states: u64,
    memory: usize,
}

/// An open-addressing set of configurations (slices of `u32`), with a fixed hash so it
/// is deterministic; it is only ever probed, never iterated.
struct StateSet {
    words: Vec<u32>,
    /// Per slot: `(start, len)` in `words`, or `(NONE, 0)` when empty.
    slots: Vec<(u32, u32)>,
    len: usize,
}

impl StateSet {
    fn new() -> StateSet {
        StateSet {
            words: Vec::new(),
            slots: vec![(NONE, 0); 64],
            len: 0,
        }
    }

    fn hash(key: &[u32]) -> u64 {
        let mut h: u64 = 0x243F_6A88_85A3_08D3 ^ key.len() as u64;
        for &w in key {
            h = (h.rotate_left(5) ^ u64::from(w)).wrapping_mul(0x517C_C1B7_2722_0A95);
        }
        h ^ (h >> 29)
    }

    fn find(&self, key: &[u32], hash: u64) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let (start, len) = self.slots[i];
            if start == NONE {
                return (i, false);
            }
            if len as usize == key.len()
                && &self.words[start as usize..start as usize + len as usize] == key
            {
                return (i, true);
            }
            i = (i + 1) & mask;
        }
    }

    fn contains(&self, key: &[u32]) -> bool {
        self.find(key, Self::hash(key)).1
    }

    fn insert(&mut self, key: &[u32]) {
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        let (slot, found) = self.find(key, Self::hash(key));
        if !found {
            let start = u32::try_from(self.words.len()).expect("memo below 2^32 words");
            self.words.extend_from_slice(key);
            self.slots[slot] = (start, key.len() as u32);
            self.len += 1;
        }
    }

    fn grow(&mut self) {
        let old = std::mem::replace(&mut self.slots, vec![(NONE, 0); 0]);
        self.slots = vec![(NONE, 0); old.len() * 2];
        let mask = self.slots.len() - 1;
        for (start, len) in old {
            if start == NONE {
                continue;
            }
            let key = &self.words[start as usize..(start + len) as usize];
            let mut i = Self::hash(key) as usize & mask;
            while self.slots[i].0 != NONE {
                i = (i + 1) & mask;
            }
            self.slots[i] = (start, len);
        }
    }

    fn bytes(&self) -> usize {
        self.words.capacity() * 4 + self.slots.capacity() * 8
    }
}

/// One linearization of the current path.
struct Frame {
    step: u32,
    value_before: u32,
    lo_before: u32,
    holes_len: u32,
    /// Where the step sat in `holes`, if it was one.
    hole_at: u32,
}

/// The depth-first search over one key's steps (in invoke order).
struct Search<'a> {
    steps: &'a [Step],
    done: Vec<bool>,
    value: u32,
    /// The first required step not done (`steps.len()` when none is left).
    lo: u32,
    /// Optional steps before `lo` that are not done, ascending.
    holes: Vec<u32>,
    required_left: usize,
    frames: Vec<Frame>,
    dead: StateSet,
    states: u64,
    furthest: u32,
    candidates: Vec<u32>,
    key: Vec<u32>,
}

impl<'a> Search<'a> {
    fn new(steps: &'a [Step]) -> Search<'a> {
        let mut search = Search {
            steps,
            done: vec![false; steps.len()],
            value: NULL,
            lo: 0,
            holes: Vec::new(),
            required_left: steps.iter().filter(|s| s.required()).count(),
            frames: Vec::new(),
            dead: StateSet::new(),
            states: 0,
            furthest: 0,
            candidates: Vec::new(),
            key: Vec::new(),
        };
        search.advance_lo();
        search
    }

    /// Moves `lo` past done and optional steps, recording optional ones as holes.
    fn advance_lo(&mut self) {
        let n = self.steps.len() as u32;
        while self.lo < n {
            let i = self.lo as usize;
            if self.steps[i].required() && !self.done[i] {
                break;
            }
            if !self.done[i] {
                self.holes.push(self.lo);
            }
            self.lo += 1;
        }
    }

    /// Fills `candidates` with the steps to try next, in the order to try them, and
    /// returns the real-time frontier (the earliest completion among required steps not
    /// done). Needs `lo < steps.len()`.
    ///
    /// The steps that may come next are those invoked before the frontier. If one of them
    /// reads the current value (or is a cas that changes nothing), it is the only one
    /// tried: any linearization from here can be rearranged to place it first, since it
    /// changes nothing and nothing not yet placed must precede it (it was invoked before
    /// every pending completion). Otherwise all are tried, the most urgent first (earliest
    /// completion, then earliest invoke): in a store that applies operations between
    /// invoke and completion, that is usually the right order, so a linearizable history
    /// needs little backtracking.
    fn compute_candidates(&mut self) -> u32 {
        let steps = self.steps;
        self.candidates.clear();
        self.candidates.extend_from_slice(&self.holes);
        let start = self.candidates.len();
        let mut frontier = steps[self.lo as usize].ret;
        let mut r = self.lo as usize;
        while r < steps.len() && steps[r].inv < frontier {
            if !self.done[r] {
                self.candidates.push(r as u32);
                frontier = frontier.min(steps[r].ret);
            }
            r += 1;
        }
        let mut keep = start;
        for i in start..self.candidates.len() {
            let c = self.candidates[i];
            if steps[c as usize].inv < frontier {
                self.candidates[keep] = c;
                keep += 1;
            }
        }
        self.candidates.truncate(keep);
        let value = self.value;
        let free = self
            .candidates
            .iter()
            .copied()
            .find(|&c| match steps[c as usize].action {
                Action::Read(v) => v == value,
                Action::Cas(e, n) => e == value && n == value,
                Action::Write(_) => false,
            });
        if let Some(c) = free {
            self.candidates.clear();
            self.candidates.push(c);
        } else {
            self.candidates
                .sort_unstable_by_key(|&c| (steps[c as usize].ret, c));
        }
        frontier
    }

    /// Encodes the current configuration into `key`: value, `lo`, the holes, and the
    /// done steps after `lo` (all invoked before `lo` completes).
    fn encode(&mut self) {
        self.key.clear();
        self.key.push(self.value);
        self.key.push(self.lo);
        self.key.push(self.holes.len() as u32);
        self.key.extend_from_slice(&self.holes);
        let n = self.steps.len();
        if (self.lo as usize) < n {
            let bound = self.steps[self.lo as usize].ret;
            let mut r = self.lo as usize + 1;
            while r < n && self.steps[r].inv < bound {
                if self.done[r] {
                    self.key.push(r as u32);
                }
                r += 1;
            }
        }
    }

    fn push(&mut self, step: u32, value: u32) {
        let mut frame = Frame {
            step,
            value_before: self.value,
            lo_before: self.lo,
            holes_len: 0,
            hole_at: NONE,
        };
        self.done[step as usize] = true;
        self.value = value;
        if self.steps[step as usize].required() {
            self.required_left -= 1;
        }
        if step < self.lo {
            let at = self
                .holes
                .binary_search(&step)
                .expect("a step before lo that is not done is a hole");
            self.holes.remove(at);
            frame.hole_at = at as u32;
        }
        frame.holes_len = self.holes.len() as u32;
        if step == self.lo {
            self.advance_lo();
        }
        self.frames.push(frame);
    }

    /// Undoes the last linearization and returns its step.
    fn pop(&mut self) -> u32 {
        let frame = self.frames.pop().expect("pop only with a frame");
        self.holes.truncate(frame.holes_len as usize);
        self.lo = frame.lo_before;
        if frame.hole_at != NONE {
            self.holes.insert(frame.hole_at as usize, frame.step);
        }
        self.done[frame.step as usize] = false;
        self.value = frame.value_before;
        if self.steps[frame.step as usize].required() {
            self.required_left += 1;
        }
        frame.step
    }

    fn run(&mut self, limits: Limits) -> Verdict {
        if self.required_left == 0 {
            return Verdict::Linearizable;
        }
        // Try the current configuration's candidates after this step (none: all).
        let mut resume: Option<u32> = None;
        loop {
            let frontier = self.compute_candidates();
            self.furthest = self.furthest.max(frontier);
            let mut advanced = false;
            let first = match resume {
                None => 0,
                Some(r) => {
                    self.candidates
                        .iter()
                        .position(|&c| c == r)
                        .expect("a configuration's candidates do not change")
                        + 1
                }
            };
            for i in first..self.candidates.len() {
                let c = self.candidates[i];
                let Some(value) = self.steps[c as usize].action.apply(self.value) else {
                    continue;
                };
                self.push(c, value);
                if self.required_left == 0 {
                    return Verdict::Linearizable;
                }
                self.encode();
                if self.dead.contains(&self.key) {
                    self.pop();
                    continue;
                }
                self.states += 1;
                if self.states > limits.states {
                    return Verdict::Unknown;
                }
                advanced = true;
                break;
            }
            if advanced {
                resume = None;
                continue;
            }
            self.encode();
            self.dead.insert(&self.key);
            if self.dead.bytes() > limits.memory {
                return Verdict::Unknown;
            }
            if self.frames.is_empty() {
                return Verdict::NotLinearizable {
                    frontier: self.furthest,
                };
            }
            resume = Some(self.pop());
        }
    }
}

/// Reads the operations of one key (positions in `Base::ops`, ascending) as register
/// entries: `fail`ed operations and reads that did not complete `ok` are left out; an
/// `ok` read of two or more siblings reads [`SIBLINGS`].
fn entries(base: &Base<'_>, ops: &[u32]) -> Vec<Entry> {
    let mut out = Vec::with_capacity(ops.len());
    for &op in ops {
        let operation = &base.ops[op as usize];
        let ok = operation.outcome == Outcome::Ok;
        let ret = if ok {
            operation.completion.expect("an ok operation completed")
        } else {
            INF
        };
        let raw = |v: Option<repsim_history::ValueId>| v.map_or(NULL, |v| v.get());
        let (action, observes) = match (operation.f, operation.value) {
            _ if operation.outcome == Outcome::Fail => continue,
            (Function::Read, _) if !ok => continue,
            (Function::Read, value) => {
                let v = match base.history.values_of(&value) {
                    [] => NULL,
                    [first, rest @ ..] if rest.iter().all(|v| v == first) => first.get(),
                    _ => SIBLINGS,
                };
                (Action::Read(v), Some(v))
            }
            (Function::Write, Val::One(v)) => (Action::Write(v.get()), None),
            (Function::Cas, Val::Cas(expected, new)) => {
                let e = raw(expected);
                (Action::Cas(e, raw(new)), Some(e))
            }
            (Function::Increment | Function::Add | Function::Remove, _) => unreachable!(
                "only register keys are checked, but {} is a counter or set key",
                base.key_name(op)
            ),
            (f, value) => unreachable!("operations() checked {f:?} carries {value:?}"),
        };
        out.push(Entry {
            step: Step {
                op,
                inv: operation.invoke,
                ret,
                action,
            },
            ok,
            observes,
        });
    }
    out
}

/// Applies the exact reductions of the module doc to `entries` and returns the steps to
/// search, in invoke order.
fn reduce(entries: &[Entry]) -> Vec<Step> {
    let mut kept = vec![true; entries.len()];
    // Drop optional writers whose value nothing observes, until nothing changes (dropping
    // a cas removes what it expected from the observed values).
    loop {
        let mut observed: Vec<u32> = entries
            .iter()
            .zip(&kept)
            .filter(|(_, k)| **k)
            .filter_map(|(e, _)| e.observes)
            .collect();
        observed.sort_unstable();
        let mut changed = false;
        for (e, k) in entries.iter().zip(kept.iter_mut()) {
            if *k
                && !e.step.required()
                && let Some(v) = e.step.action.written()
                && observed.binary_search(&v).is_err()
            {
                *k = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut steps: Vec<Step> = entries
        .iter()
        .zip(&kept)
        .filter(|(_, k)| **k)
        .map(|(e, _)| e.step)
        .collect();
    // Give the only writer of an observed value the earliest ok observer's completion as
    // its deadline.
    let mut writers: Vec<(u32, u32)> = steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.action.written().map(|v| (v, i as u32)))
        .collect();
    writers.sort_unstable();
    let mut first_ok_observer: Vec<(u32, u32)> = entries
        .iter()
        .filter(|e| e.ok)
        .filter_map(|e| e.observes.map(|v| (v, e.step.ret)))
        .collect();
    first_ok_observer.sort_unstable();
    let mut i = 0;
    while i < writers.len() {
        let v = writers[i].0;
        let end = i + writers[i..].partition_point(|w| w.0 == v);
        let step = writers[i].1 as usize;
        if end - i == 1 && v != NULL && !steps[step].required() {
            let at = first_ok_observer.partition_point(|o| o.0 < v);
            if let Some(&(value, ret)) = first_ok_observer.get(at)
                && value == v
            {
                steps[step].ret = ret;
            }
        }
        i = end;
    }
    steps
}

/// Searches the key sub-history made of `entries`.
fn decide(entries: &[Entry], limits: Limits) -> (Verdict, u64) {
    let steps = reduce(entries);
    let mut search = Search::new(&steps);
    let verdict = search.run(limits);
    (verdict, search.states)
}

/// What the checker concluded about one key.
#[derive(Debug, PartialEq, Eq)]
enum KeyVerdict {
    Linearizable,
    /// Not linearizable: the witness (operations, ascending), the one that cannot be
    /// placed, whether the witness is known to be minimal, and why it fails.
    Violation {
        witness: Vec<u32>,
        culprit: u32,
        minimal: bool,
        reason: Reason,
    },
    Unknown,
}

/// Why a key has no linearization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    /// An ok read returned several siblings.
    Siblings,
    /// An ok read or cas observed a value no operation of the key writes (but `fail`ed
    /// ones).
    NeverWritten,
    /// No order of the witness works.
    NoOrder,
}

impl Reason {
    /// Why `witness` has no linearization.
    fn of(witness: &[u32], all: &[Entry], written: impl Fn(u32) -> bool) -> Reason {
        match witness {
            [one] => match all[*one as usize].observes {
                Some(SIBLINGS) if matches!(all[*one as usize].step.action, Action::Read(_)) => {
                    Reason::Siblings
                }
                Some(v) if v != NULL && !written(v) => Reason::NeverWritten,
                _ => Reason::NoOrder,
            },
            _ => Reason::NoOrder,
        }
    }
}

/// For each observed value, which entries write it: `(value, entry)` sorted.
fn writers_of(entries: &[Entry]) -> Vec<(u32, u32)> {
    let mut writers: Vec<(u32, u32)> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.step.action.written().map(|v| (v, i as u32)))
        .collect();
    writers.sort_unstable();
    writers
}

/// What a witness that keeps an ok observer must keep with it: a writer of `value`
/// invoked before `before` (the observer's completion, or [`INF`] when no writer of the
/// key was invoked before it, so any writer will do).
#[derive(Clone, Copy, Debug)]
struct Need {
    value: u32,
    before: u32,
}

/// Shrinks a non-linearizable key to a witness. Works on indexes into `all`.
struct Shrinker<'a> {
    all: &'a [Entry],
    /// Per entry of `all`: for an ok observer of a value some entry of `all` writes, the
    /// writer a witness must keep with it.
    needs: Vec<Option<Need>>,
    /// The completion at which the whole key's search died: a witness must die there too.
    target: u32,
    budget: Budget,
    spent: u64,
    /// Some search ran out of budget, so a failed test proved nothing.
    undecided: bool,
}

impl Shrinker<'_> {
    fn subset(&self, set: &[u32]) -> Vec<Entry> {
        set.iter().map(|&i| self.all[i as usize]).collect()
    }

    /// `(value, invoke)` of the writers in `set`, sorted.
    fn writers(&self, set: &[u32]) -> Vec<(u32, u32)> {
        let mut writers: Vec<(u32, u32)> = set
            .iter()
            .filter_map(|&i| {
                let step = &self.all[i as usize].step;
                step.action.written().map(|v| (v, step.inv))
            })
            .collect();
        writers.sort_unstable();
        writers
    }

    /// True when `writers` (from [`Shrinker::writers`]) meet `need`.
    fn met(writers: &[(u32, u32)], need: Need) -> bool {
        // The earliest-invoked writer of the value is the one to ask.
        let at = writers.partition_point(|w| w.0 < need.value);
        writers
            .get(at)
            .is_some_and(|&(v, inv)| v == need.value && (need.before == INF || inv < need.before))
    }

    /// True when every kept ok observer keeps the writer it needs (see [`Need`]).
    fn closed(&self, set: &[u32]) -> bool {
        let writers = self.writers(set);
        set.iter()
            .all(|&i| self.needs[i as usize].is_none_or(|need| Self::met(&writers, need)))
    }

    /// The ok entries of `set` completed by `frontier`, plus the writers they need: still
    /// non-linearizable (see the module doc).
    fn truncate(&self, set: &[u32], frontier: u32) -> Vec<u32> {
        let keep: Vec<u32> = set
            .iter()
            .copied()
            .filter(|&i| {
                let e = &self.all[i as usize];
                e.ok && e.step.ret <= frontier
            })
            .collect();
        self.close(keep, set)
    }

    /// `keep` (sorted), plus (repeatedly) the earliest-invoked writer in `set` that each
    /// of its entries needs.
    fn close(&self, mut keep: Vec<u32>, set: &[u32]) -> Vec<u32> {
        // `(value, invoke, entry)` of the writers in `set`, sorted.
        let mut pool: Vec<(u32, u32, u32)> = set
            .iter()
            .filter_map(|&j| {
                let step = &self.all[j as usize].step;
                step.action.written().map(|v| (v, step.inv, j))
            })
            .collect();
        pool.sort_unstable();
        loop {
            let writers = self.writers(&keep);
            let before = keep.len();
            let missing: Vec<Need> = keep
                .iter()
                .filter_map(|&i| self.needs[i as usize])
                .filter(|&need| !Self::met(&writers, need))
                .collect();
            for need in missing {
                let at = pool.partition_point(|w| w.0 < need.value);
                if let Some(&(value, inv, j)) = pool.get(at)
                    && value == need.value
                    && (need.before == INF || inv < need.before)
                {
                    keep.push(j);
                }
            }
            keep.sort_unstable();
            keep.dedup();
            // Nothing added: closed, or (if `set` was not closed) as closed as it gets.
            if keep.len() == before {
                return keep;
            }
        }
    }

    /// True when `set` is closed and its search dies (within budget) at the same
    /// completion as the whole key's.
    fn test(&mut self, set: &[u32]) -> bool {
        if set.is_empty() || !self.closed(set) {
            return false;
        }
        let left = self.budget.shrink_states_per_key.saturating_sub(self.spent);
        let mut limits = self.budget.limits(set.len());
        limits.states = limits.states.min(left);
        let (verdict, states) = decide(&self.subset(set), limits);
        self.spent += states.max(1);
        self.undecided |= verdict == Verdict::Unknown;
        verdict
            == Verdict::NotLinearizable {
                frontier: self.target,
            }
    }

    fn exhausted(&self) -> bool {
        self.spent >= self.budget.shrink_states_per_key
    }

    /// Shrinks `set`, which must pass [`Shrinker::test`] and hold `culprit` (an index into
    /// `all`). First a small set near the culprit: of the set truncated at the frontier,
    /// the last 4, 8, 16, ... entries invoked before it, plus the culprit and the writers
    /// they need, until one still fails there (a violation is usually local; each try is
    /// cheap); failing that, the truncated set itself. Then delta debugging (complements
    /// only). Returns the witness and whether it is 1-minimal (false when the budget ran
    /// out first).
    fn shrink(&mut self, set: Vec<u32>, culprit: u32) -> (Vec<u32>, bool) {
        let truncated = self.truncate(&set, self.target);
        let end = truncated.partition_point(|&i| self.all[i as usize].step.inv < self.target);
        let mut found = None;
        let mut k = 4;
        while k < end && !self.exhausted() {
            let mut window = truncated[end - k..end].to_vec();
            if !window.contains(&culprit) {
                window.push(culprit);
                window.sort_unstable();
            }
            let window = self.close(window, &truncated);
            if window.len() < truncated.len() && self.test(&window) {
                found = Some(window);
                break;
            }
            k *= 2;
        }
        let mut best = match found {
            Some(window) => window,
            None if truncated.len() < set.len() && self.test(&truncated) => truncated,
            None => set,
        };
        // From here on, a test that runs out of budget leaves the result unproven.
        self.undecided = false;
        let mut n = 2usize;
        while best.len() >= 2 {
            let len = best.len();
            let chunk = len.div_ceil(n);
            let mut reduced = false;
            for start in (0..len).step_by(chunk) {
                if self.exhausted() {
                    return (best, false);
                }
                let candidate: Vec<u32> = best[..start]
                    .iter()
                    .chain(&best[(start + chunk).min(len)..])
                    .copied()
                    .collect();
                if self.test(&candidate) {
                    let truncated = self.truncate(&candidate, self.target);
                    best = if truncated.len() < candidate.len() && self.test(&truncated) {
                        truncated
                    } else {
                        candidate
                    };
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
            if !reduced {
                if n >= len {
                    break;
                }
                n = (2 * n).min(len);
            }
        }
        let minimal = !self.undecided || best.len() <= 1;
        (best, minimal)
    }
}

/// Decides one key, given its operations (positions in `Base::ops`, ascending).
fn check_key(base: &Base<'_>, ops: &[u32], budget: &Budget) -> KeyVerdict {
    let all = entries(base, ops);
    let writers = writers_of(&all);
    let written = |v: u32| {
        let at = writers.partition_point(|w| w.0 < v);
        writers.get(at).is_some_and(|w| w.0 == v)
    };
    let frontier = match decide(&all, budget.limits(all.len())).0 {
        Verdict::Linearizable => return KeyVerdict::Linearizable,
        Verdict::Unknown => return KeyVerdict::Unknown,
        Verdict::NotLinearizable { frontier } => frontier,
    };
    // The earliest invoke of a writer of each value, to tell whether an observer had a
    // writer invoked before it completed.
    let mut first_writer: Vec<(u32, u32)> = all
        .iter()
        .filter_map(|e| e.step.action.written().map(|v| (v, e.step.inv)))
        .collect();
    first_writer.sort_unstable();
    first_writer.dedup_by_key(|w| w.0);
    let needs = all
        .iter()
        .map(|e| {
            let value = e.observes.filter(|&v| e.ok && v != NULL && written(v))?;
            let at = first_writer.partition_point(|w| w.0 < value);
            let earlier = first_writer[at].1 < e.step.ret;
            Some(Need {
                value,
                before: if earlier { e.step.ret } else { INF },
            })
        })
        .collect();
    // The culprit: the ok operation whose completion the search could not pass. Every
    // witness keeps it (a search dies at a required operation's completion, and a
    // deadline is an ok observer's completion).
    let culprit_entry = all
        .iter()
        .position(|e| e.ok && e.step.ret == frontier)
        .expect("a search dies at the completion of an ok operation");
    let culprit = all[culprit_entry].step.op;
    let mut shrinker = Shrinker {
        all: &all,
        needs,
        target: frontier,
        budget: *budget,
        spent: 0,
        undecided: false,
    };
    let everything: Vec<u32> = (0..all.len() as u32).collect();
    let (witness, minimal) = shrinker.shrink(everything, culprit_entry as u32);
    KeyVerdict::Violation {
        reason: Reason::of(&witness, &all, written),
        witness: witness.iter().map(|&i| all[i as usize].step.op).collect(),
        culprit,
        minimal,
    }
}

/// What deciding every key of a history took (see [`summarize`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Keys in the history.
    pub keys: u64,
    /// Keys with a linearization.
    pub linearizable: u64,
    /// Keys without one.
    pub not_linearizable: u64,
    /// Keys the search could not decide within its budget.
    pub unknown: u64,
    /// Configurations the searches explored (witness shrinking not included).
    pub states: u64,
}

/// Decides every key of `history` without shrinking witnesses, and says how much search
/// that took: for benchmarks and for sizing a [`Budget`]. [`crate::check`] gives the
/// flags. `Err` for a malformed history.
pub fn summarize(history: &History, budget: &Budget) -> Result<Summary, HistoryError> {
    let all = Base::new(history)?;
    let classes = KeyClasses::new(&all);
    // Counter and set keys are not registers: only register keys are decided.
    let base = if classes.any_crdt() {
        all.register_only(&classes)
    } else {
        all
    };
    let (grouped, start) = group_by_key(&base);
    let mut summary = Summary::default();
    for k in 0..base.keys.len() {
        let ops = &grouped[start[k] as usize..start[k + 1] as usize];
        let all = entries(&base, ops);
        let (verdict, states) = decide(&all, budget.limits(all.len()));
        summary.keys += 1;
        summary.states += states;
        match verdict {
            Verdict::Linearizable => summary.linearizable += 1,
            Verdict::NotLinearizable { .. } => summary.not_linearizable += 1,
            Verdict::Unknown => summary.unknown += 1,
        }
    }
    Ok(summary)
}

/// The operations grouped by dense key, each group in invoke order, and where each
/// key's group starts (plus a final end).
fn group_by_key(base: &Base<'_>) -> (Vec<u32>, Vec<u32>) {
    let keys = base.keys.len();
    let mut start = vec![0u32; keys + 1];
    for &k in &base.key {
        start[k as usize + 1] += 1;
    }
    for k in 0..keys {
        start[k + 1] += start[k];
    }
    let mut next = start.clone();
    let mut grouped = vec![0u32; base.ops.len()];
    for (op, &k) in base.key.iter().enumerate() {
        grouped[next[k as usize] as usize] = op as u32;
        next[k as usize] += 1;
    }
    (grouped, start)
}

/// Checks every key; returns the flags and the names of the keys left undecided, in key
/// order.
pub(crate) fn run(base: &Base<'_>, max: usize, budget: &Budget) -> (KindResult, Vec<String>) {
    let keys = base.keys.len();
    let (grouped, start) = group_by_key(base);
    let mut collector = Collector::new(max);
    let mut unknown = Vec::new();
    for k in 0..keys {
        let ops = &grouped[start[k] as usize..start[k + 1] as usize];
        match check_key(base, ops, budget) {
            KeyVerdict::Linearizable => {}
            KeyVerdict::Unknown => unknown.push(base.key_name(ops[0])),
            KeyVerdict::Violation {
                witness,
                culprit,
                minimal,
                reason,
            } => collector.push(
                base.invoke_index(culprit),
                k as u64,
                (witness, culprit, minimal, reason),
            ),
        }
    }
    let (count, kept) = collector.finish();
    let flags = kept
        .into_iter()
        .map(|(index, (witness, culprit, minimal, reason))| {
            render_flag(base, index, &witness, culprit, minimal, reason)
        })
        .collect();
    (KindResult { count, flags }, unknown)
}

/// One operation for a message: `read of w1 by process 1 (index 4, ok at 5)`.
fn describe(base: &Base<'_>, op: u32) -> String {
    let history = base.history;
    let operation = &base.ops[op as usize];
    let what = match (operation.f, operation.value) {
        (Function::Read, value) => {
            format!(
                "read of {}",
                render::values_name(history, history.values_of(&value))
            )
        }
        (Function::Cas, Val::Cas(expected, new)) => {
            let name = |v: Option<repsim_history::ValueId>| {
                v.map_or_else(|| "null".to_owned(), |v| render::value_name(history, v))
            };
            format!("cas {}→{}", name(expected), name(new))
        }
        (_, value) => format!(
            "write {}",
            render::values_name(history, history.values_of(&value))
        ),
    };
    let end = match operation.outcome {
        Outcome::Ok => format!("ok at {}", base.completion_index(op)),
        Outcome::Info => format!("info at {}", base.completion_index(op)),
        Outcome::Fail => format!("fail at {}", base.completion_index(op)),
        Outcome::Pending => "never completed".to_owned(),
    };
    format!(
        "{what} by process {} (index {}, {end})",
        operation.process,
        base.invoke_index(op)
    )
}

fn render_flag(
    base: &Base<'_>,
    index: u64,
    witness: &[u32],
    culprit: u32,
    minimal: bool,
    reason: Reason,
) -> Flag {
    let key = base.key_name(culprit);
    // A witness is small unless shrinking ran out of budget on a huge key; keep the
    // report bounded either way.
    const MAX_INVOLVED: usize = 1000;
    let mut involved: Vec<u64> = witness
        .iter()
        .filter(|&&op| op != culprit)
        .map(|&op| base.invoke_index(op))
        .collect();
    involved.sort_unstable();
    involved.truncate(MAX_INVOLVED);
    let message = match reason {
        Reason::Siblings => format!(
            "key {key} is not linearizable: the {} returned several values, which a register \
             cannot hold",
            describe(base, culprit)
        ),
        Reason::NeverWritten => format!(
            "key {key} is not linearizable: the {} observed a value no operation of {key} wrote",
            describe(base, culprit)
        ),
        Reason::NoOrder => {
            const SHOWN: usize = 8;
            let mut listed: Vec<String> = witness
                .iter()
                .take(SHOWN)
                .map(|&op| describe(base, op))
                .collect();
            if witness.len() > SHOWN {
                listed.push(format!("and {} more", witness.len() - SHOWN));
            }
            let culprit_op = &base.ops[culprit as usize];
            format!(
                "key {key} is not linearizable: no order of these {} operations{} respects \
                 real time and the register (starting at null): {}; the {} at index {index} \
                 cannot be placed",
                witness.len(),
                match (minimal, witness.len() > MAX_INVOLVED) {
                    (true, _) => String::new(),
                    (false, false) =>
                        " (shrinking stopped at its budget; may not be minimal)".into(),
                    (false, true) => format!(
                        " (shrinking stopped at its budget; may not be minimal; the first \
                         {MAX_INVOLVED} are listed as involved)"
                    ),
                },
                listed.join("; "),
                culprit_op.f.as_str()
            )
        }
    };
    Flag {
        index,
        involved,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind::Linearizability;
    use crate::testing::{findings, history};

    /// The flagged indexes (culprits) of a script.
    fn flagged(script: &str) -> Vec<u64> {
        findings(script, None).example_indexes(Linearizability)
    }

    #[test]
    fn stale_read_after_a_completed_write_is_not_linearizable() {
        let f = findings("0 w k0 1; 0 ok; 0 w k0 2; 0 ok; 1 r k0; 1 ok 1", None);
        assert_eq!(f.count(Linearizability), 1);
        let flag = &f.examples[&Linearizability][0];
        assert_eq!(flag.index, 4, "{}", flag.message);
        assert_eq!(flag.involved, vec![0, 2], "{}", flag.message);
        assert!(
            flag.message.contains("key k0 is not linearizable")
                && flag
                    .message
                    .contains("read of w1 by process 1 (index 4, ok at 5)")
                && flag
                    .message
                    .contains("the read at index 4 cannot be placed"),
            "{}",
            flag.message
        );
    }

    #[test]
    fn the_same_read_concurrent_with_the_write_is_linearizable() {
        // w2 is acknowledged (4) after the read began (3): the read may come first.
        assert!(flagged("0 w k0 1; 0 ok; 0 w k0 2; 1 r k0; 0 ok; 1 ok 1").is_empty());
        // Reading the new value while the write is in flight is fine too.
        assert!(flagged("0 w k0 1; 0 ok; 0 w k0 2; 1 r k0; 1 ok 2; 0 ok").is_empty());
    }

    #[test]
    fn the_register_starts_as_null() {
        assert!(flagged("0 r k0; 0 ok -").is_empty());
        assert!(flagged("0 w k0 1; 1 r k0; 1 ok -; 0 ok").is_empty());
        // After an acknowledged write, null is gone for good.
        assert_eq!(flagged("0 w k0 1; 0 ok; 1 r k0; 1 ok -"), vec![2]);
        // A cas from null succeeds only on the initial null.
        assert!(flagged("0 cas k0 - 1; 0 ok; 1 r k0; 1 ok 1").is_empty());
        assert_eq!(flagged("0 w k0 2; 0 ok; 0 cas k0 - 1; 0 ok"), vec![2]);
    }

    #[test]
    fn an_info_write_may_or_may_not_have_taken_effect() {
        // Took effect: a later read sees it.
        assert!(flagged("0 w k0 1; 0 info; 1 r k0; 1 ok 1").is_empty());
        // Did not: a later read still sees null.
        assert!(flagged("0 w k0 1; 0 info; 1 r k0; 1 ok -").is_empty());
        // But not both, in real-time order: seen, then unseen.
        let f = findings("0 w k0 1; 0 info; 1 r k0; 1 ok 1; 1 r k0; 1 ok -", None);
        assert_eq!(f.example_indexes(Linearizability), vec![4]);
        assert_eq!(f.examples[&Linearizability][0].involved, vec![0, 2]);
        // A never-completed write counts as info.
        assert!(flagged("0 w k0 1; 1 r k0; 1 ok 1; 1 r k0; 1 ok 1").is_empty());
        assert_eq!(flagged("0 w k0 1; 1 r k0; 1 ok 1; 1 r k0; 1 ok -"), vec![3]);
    }

    #[test]
    fn an_info_write_can_take_effect_long_after_it_was_invoked() {
        // w1 is invoked first, w2 is acknowledged, then a read sees w1: w1 took effect last.
        assert!(flagged("0 w k0 1; 0 info; 1 w k0 2; 1 ok; 1 r k0; 1 ok 1").is_empty());
        // An ok write cannot do that.
        assert_eq!(
            flagged("0 w k0 1; 0 ok; 1 w k0 2; 1 ok; 1 r k0; 1 ok 1"),
            vec![4]
        );
    }

    #[test]
    fn a_failed_operation_never_took_effect() {
        assert_eq!(flagged("0 w k0 1; 0 fail; 1 r k0; 1 ok 1"), vec![2]);
        assert!(flagged("0 w k0 1; 0 fail; 1 r k0; 1 ok -").is_empty());
        // A failed cas did not swap, whatever the register held.
        assert!(flagged("0 w k0 1; 0 ok; 0 cas k0 1 2; 0 fail; 1 r k0; 1 ok 1").is_empty());
        assert_eq!(
            flagged("0 w k0 1; 0 ok; 0 cas k0 1 2; 0 fail; 1 r k0; 1 ok 2"),
            vec![4]
        );
    }

    #[test]
    fn an_ok_cas_needs_its_expected_value() {
        assert!(flagged("0 w k0 1; 0 ok; 0 cas k0 1 2; 0 ok; 1 r k0; 1 ok 2").is_empty());
        // Expected 3, but the register held 1.
        let f = findings("0 w k0 1; 0 ok; 0 w k0 3; 0 fail; 0 cas k0 3 2; 0 ok", None);
        assert_eq!(f.example_indexes(Linearizability), vec![4]);
        // An info cas may have swapped, but only from its expected value.
        assert!(flagged("0 w k0 1; 0 ok; 0 cas k0 1 2; 0 info; 1 r k0; 1 ok 2").is_empty());
        assert_eq!(
            flagged("0 w k0 1; 0 ok; 1 w k0 3; 1 ok; 0 cas k0 1 2; 0 info; 1 r k0; 1 ok 2"),
            vec![6]
        );
    }

    #[test]
    fn siblings_can_never_be_linearized() {
        let f = findings("0 w k0 1; 1 w k0 2; 0 ok; 1 ok; 2 r k0; 2 ok 1,2", None);
        assert_eq!(f.example_indexes(Linearizability), vec![4]);
        let flag = &f.examples[&Linearizability][0];
        assert!(flag.involved.is_empty());
        assert!(flag.message.contains("several values"), "{}", flag.message);
        // A list of one value is that value.
        let mut h = history("0 w k0 1; 0 ok; 1 r k0; 1 ok 1");
        let list = h.many(&[repsim_history::ValueId::generated(1)]);
        h.events[3].value = list;
        let input = crate::Input {
            history: &h,
            final_state: None,
            roles: None,
        };
        let f = crate::check(&input, &crate::Options::default()).unwrap();
        assert_eq!(f.count(Linearizability), 0);
    }

    #[test]
    fn a_value_never_written_is_flagged_alone() {
        let f = findings("0 w k0 1; 0 ok; 1 r k0; 1 ok 7", None);
        assert_eq!(f.example_indexes(Linearizability), vec![2]);
        assert!(f.examples[&Linearizability][0].involved.is_empty());
        // A value of another key is never written on this one.
        assert_eq!(flagged("0 w k1 1; 0 ok; 1 r k0; 1 ok 1"), vec![2]);
    }

    #[test]
    fn keys_are_checked_separately_and_each_counts_once() {
        let f = findings(
            "0 w k0 1; 0 ok; 0 w k0 2; 0 ok; 1 r k0; 1 ok 1; 1 r k0; 1 ok 1; \
             0 w k1 3; 0 ok; 1 r k1; 1 ok -; 2 w k2 4; 2 ok; 2 r k2; 2 ok 4",
            None,
        );
        assert_eq!(f.count(Linearizability), 2);
        assert_eq!(f.example_indexes(Linearizability), vec![4, 10]);
    }

    #[test]
    fn reads_and_writes_in_flight_together_find_their_order() {
        // Three concurrent writes and reads that fix one order of them: w2, w1, w3.
        let script = "0 w k0 1; 1 w k0 2; 2 w k0 3; 3 r k0; 3 ok 2; 3 r k0; 3 ok 1; \
                      0 ok; 1 ok; 3 r k0; 3 ok 1; 2 ok; 3 r k0; 3 ok 3";
        assert!(flagged(script).is_empty());
        // Seeing w2 again after w1 (with w2 acknowledged only once) cannot be ordered.
        let script = "0 w k0 1; 1 w k0 2; 3 r k0; 3 ok 2; 3 r k0; 3 ok 1; 3 r k0; 3 ok 2; \
                      0 ok; 1 ok";
        let f = findings(script, None);
        assert_eq!(f.example_indexes(Linearizability), vec![6]);
        assert_eq!(f.examples[&Linearizability][0].involved, vec![0, 1, 2, 4]);
    }

    #[test]
    fn the_witness_is_shrunk_to_the_operations_that_matter() {
        // Many unrelated operations around one stale read.
        let mut script = String::new();
        for i in 1..=20 {
            script.push_str(&format!("0 w k0 {i}; 0 ok; 1 r k0; 1 ok {i}; "));
        }
        script.push_str("2 r k0; 2 ok 19; ");
        for i in 21..=30 {
            script.push_str(&format!("0 w k0 {i}; 0 ok; "));
        }
        let f = findings(&script, None);
        assert_eq!(f.count(Linearizability), 1);
        let flag = &f.examples[&Linearizability][0];
        assert_eq!(flag.index, 80);
        assert_eq!(flag.involved, vec![72, 76], "{}", flag.message);
        assert!(
            flag.message.contains("these 3 operations respects"),
            "{}",
            flag.message
        );
    }

    #[test]
    fn a_tiny_budget_answers_unknown_never_pass() {
        // Three concurrent writes, then reads of w1 and of w2: w1 cannot be last twice.
        let script = "0 w k0 1; 1 w k0 2; 2 w k0 3; 0 ok; 1 ok; 2 ok; 3 r k0; 3 ok 1; \
                      3 r k0; 3 ok 2; 4 w k1 4; 4 ok";
        let h = history(script);
        let input = crate::Input {
            history: &h,
            final_state: None,
            roles: None,
        };
        let budget = Budget {
            states_base: 1,
            states_per_operation: 0,
            ..Budget::default()
        };
        let f = crate::check_with_budget(&input, &crate::Options::default(), &budget).unwrap();
        assert_eq!(f.count(Linearizability), 0);
        assert_eq!(f.unknown_keys, vec!["k0".to_owned()]);
        let json = f.to_check_json();
        assert_eq!(
            json["unknown"]["linearizability"],
            serde_json::json!(["k0"])
        );
        // With the default budget it is decided.
        let f = crate::check(&input, &crate::Options::default()).unwrap();
        assert_eq!(f.example_indexes(Linearizability), vec![8]);
        assert!(f.unknown_keys.is_empty());
    }

    #[test]
    fn repeated_values_are_checked() {
        // Jepsen-style: values repeat, cas on small integers.
        let f = findings(
            "0 w k0 1; 0 ok; 1 cas k0 1 2; 1 ok; 0 w k0 1; 0 ok; 2 r k0; 2 ok 1; 2 cas k0 2 1; 2 ok",
            None,
        );
        assert!(f.skipped.iter().any(|(k, _)| *k == crate::Kind::StaleRead));
        assert_eq!(f.example_indexes(Linearizability), vec![8]);
        // The witness keeps the write of 1 that the first cas could have seen (index 0),
        // not the last cas, which also writes 1 but only later; the read is not needed.
        assert_eq!(f.examples[&Linearizability][0].involved, vec![0, 2, 4]);
    }

    #[test]
    fn state_set_finds_what_it_holds() {
        let mut set = StateSet::new();
        for i in 0..1000u32 {
            set.insert(&[i, i * 7, 3]);
        }
        for i in 0..1000u32 {
            assert!(set.contains(&[i, i * 7, 3]));
            assert!(!set.contains(&[i, i * 7]));
            assert!(!set.contains(&[i, i * 7, 4]));
        }
        set.insert(&[5, 35, 3]);
        assert_eq!(set.len, 1000);
    }
}
