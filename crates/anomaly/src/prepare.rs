//! The shared preparation every checker reads: operations paired once, processes and
//! keys renumbered densely (so per-process and per-key tables are plain vectors), each
//! event position mapped to its operation, each key classified as a register, counter or
//! set key ([`KeyClasses`]), each value mapped to the write that wrote it, each ok read
//! summarised, and each operation given the number of its (process, key) group, so
//! checkers can sweep operations in invocation order (sequential memory access) while
//! keeping per-group state in a small vector.
//!
//! The register kinds read a [`Base`] of the register keys' operations only
//! ([`Base::register_only`], made only when the history has counter or set keys): its
//! operations keep their event positions, so "before" and the reported indexes are the
//! whole history's, and the events of other keys map to no operation.
//!
//! Cost: O(n log n) for n operations (one sort of the written values; the grouping is two
//! counting sorts), O(n) memory. No hash map is used, so nothing depends on hash order.

use repsim_history::{Function, History, HistoryError, Operation, Outcome, Val, ValueId};

use crate::render;

/// "No such entry" in the `u32` tables below.
pub(crate) const NONE: u32 = u32::MAX;

/// Dense renumbering of sparse `u32` ids (processes, keys), in increasing id order.
pub(crate) struct Dense {
    /// `table[id]` is the dense index of `id`, when ids are small enough for a table.
    table: Vec<u32>,
    /// The distinct ids, ascending: `sorted[dense]` is the id.
    sorted: Vec<u32>,
}

impl Dense {
    /// Renumbers the ids yielded by `ids` (called twice).
    fn build<I: Iterator<Item = u32>>(ids: impl Fn() -> I, count: usize) -> Dense {
        let max = ids().max();
        let Some(max) = max else {
            return Dense {
                table: Vec::new(),
                sorted: Vec::new(),
            };
        };
        // A direct table when the ids are dense enough (always, for simulated histories),
        // else a sorted list searched by bisection. Both give the same numbering.
        if (max as usize) < 4 * count + 4096 {
            const PRESENT: u32 = NONE - 1;
            let mut table = vec![NONE; max as usize + 1];
            for id in ids() {
                table[id as usize] = PRESENT;
            }
            let mut sorted = Vec::new();
            for (id, slot) in table.iter_mut().enumerate() {
                if *slot == PRESENT {
                    *slot = u32::try_from(sorted.len()).expect("fewer than 2^32 ids");
                    sorted.push(u32::try_from(id).expect("id below 2^32"));
                }
            }
            Dense { table, sorted }
        } else {
            let mut sorted: Vec<u32> = ids().collect();
            sorted.sort_unstable();
            sorted.dedup();
            Dense {
                table: Vec::new(),
                sorted,
            }
        }
    }

    /// The dense index of `id`, if `id` was among the ids.
    pub(crate) fn find(&self, id: u32) -> Option<u32> {
        if self.table.is_empty() {
            self.sorted.binary_search(&id).ok().map(|i| i as u32)
        } else {
            self.table.get(id as usize).copied().filter(|&i| i != NONE)
        }
    }

    /// The dense index of an id known to be among the ids.
    fn index(&self, id: u32) -> u32 {
        let found = self.find(id);
        assert!(found.is_some(), "id {id} was renumbered with the others");
        found.unwrap_or(NONE)
    }

    /// The id of dense index `dense`.
    pub(crate) fn id(&self, dense: u32) -> u32 {
        self.sorted[dense as usize]
    }

    /// How many distinct ids.
    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }
}

/// What every kind needs: the operations and dense process and key numbers.
pub(crate) struct Base<'h> {
    /// The history.
    pub history: &'h History,
    /// The operations, in invocation order.
    pub ops: Vec<Operation>,
    /// Dense process number of each operation.
    pub process: Vec<u32>,
    /// Dense key number of each operation.
    pub key: Vec<u32>,
    /// Process renumbering.
    pub processes: Dense,
    /// Key renumbering.
    pub keys: Dense,
    /// Per event position, the operation it belongs to (its invoke or completion);
    /// [`NONE`] for the events of operations left out by [`Base::register_only`].
    pub op_at: Vec<u32>,
}

impl<'h> Base<'h> {
    /// Pairs the operations and renumbers processes and keys. `Err` for a malformed
    /// history.
    pub(crate) fn new(history: &'h History) -> Result<Base<'h>, HistoryError> {
        let ops = history.operations()?;
        for op in &ops {
            if op.f == Function::Read && matches!(op.value, Val::Cas(..)) {
                return Err(HistoryError::Malformed {
                    index: history.index_of(op.completion.unwrap_or(op.invoke)),
                    reason: "a read returned [expected, new]; a read returns null, a value or a \
                             list of siblings"
                        .into(),
                });
            }
        }
        let base = Base::from_ops(history, ops);
        assert!(
            base.op_at.iter().all(|&op| op != NONE),
            "every event belongs to an operation"
        );
        Ok(base)
    }

    /// The operations of the register keys only (see [`KeyClasses`]), renumbered: what
    /// every register kind reads, so that counter and set keys play no part in them.
    pub(crate) fn register_only(&self, classes: &KeyClasses) -> Base<'h> {
        let ops = self
            .ops
            .iter()
            .zip(&self.key)
            .filter(|&(_, &key)| !classes.is_crdt(key))
            .map(|(op, _)| *op)
            .collect();
        Base::from_ops(self.history, ops)
    }

    /// Renumbers processes and keys of `ops` (in invocation order) and maps events back
    /// to them; events of operations not in `ops` map to [`NONE`].
    fn from_ops(history: &'h History, ops: Vec<Operation>) -> Base<'h> {
        let processes = Dense::build(|| ops.iter().map(|op| op.process.0), ops.len());
        let keys = Dense::build(|| ops.iter().map(|op| op.key.0), ops.len());
        let process = ops.iter().map(|op| processes.index(op.process.0)).collect();
        let key = ops.iter().map(|op| keys.index(op.key.0)).collect();
        let mut op_at = vec![NONE; history.events.len()];
        for (i, op) in ops.iter().enumerate() {
            op_at[op.invoke as usize] = i as u32;
            if let Some(completion) = op.completion {
                op_at[completion as usize] = i as u32;
            }
        }
        Base {
            history,
            ops,
            process,
            key,
            processes,
            keys,
            op_at,
        }
    }

    /// The history index of operation `op`'s invoke.
    pub(crate) fn invoke_index(&self, op: u32) -> u64 {
        self.history.index_of(self.ops[op as usize].invoke)
    }

    /// The history index of operation `op`'s completion (its invoke if it has none).
    pub(crate) fn completion_index(&self, op: u32) -> u64 {
        let op = &self.ops[op as usize];
        self.history.index_of(op.completion.unwrap_or(op.invoke))
    }

    /// The value operation `op` wrote: a write's value, a cas's `new`; `None` for reads.
    pub(crate) fn written(&self, op: u32) -> Option<ValueId> {
        let op = &self.ops[op as usize];
        match (op.f, op.value) {
            (Function::Write, Val::One(v)) => Some(v),
            (Function::Cas, Val::Cas(_, new)) => new,
            _ => None,
        }
    }

    /// True for writes and cas operations.
    pub(crate) fn is_write(&self, op: u32) -> bool {
        matches!(self.ops[op as usize].f, Function::Write | Function::Cas)
    }

    /// True for a write or cas that completed `ok`.
    pub(crate) fn is_ok_write(&self, op: u32) -> bool {
        self.is_write(op) && self.ops[op as usize].outcome == Outcome::Ok
    }

    /// True for a read that completed `ok`.
    pub(crate) fn is_ok_read(&self, op: u32) -> bool {
        let op = &self.ops[op as usize];
        op.f == Function::Read && op.outcome == Outcome::Ok
    }

    /// The position of `op`'s `ok`, if it completed `ok`.
    pub(crate) fn ok_at(&self, op: u32) -> Option<u32> {
        let op = &self.ops[op as usize];
        if op.outcome == Outcome::Ok {
            op.completion
        } else {
            None
        }
    }

    /// The values an ok read returned (empty for `null` and for an empty sibling list).
    pub(crate) fn read_values(&self, op: u32) -> &[ValueId] {
        self.history.values_of(&self.ops[op as usize].value)
    }

    /// The key name of operation `op`.
    pub(crate) fn key_name(&self, op: u32) -> String {
        render::key_name(self.history, self.ops[op as usize].key)
    }
}

/// What each key is, from the operations on it: a *counter key* if any operation on it
/// is an `increment`, a *set key* if any is an `add` or `remove` (a key of a history from
/// elsewhere can be both), and a *register key* otherwise, with one exception: a key
/// that is only ever read takes the classes of the history's other keys (a counter key
/// in a history with counter keys, a set key in one with set keys), since it is a counter
/// or set that nobody updated (a simulated run has one workload), and a counter's read of
/// 0 would otherwise be a phantom read of a register. In a history of registers only, it
/// stays a register key. The register kinds (and the staleness curve) ignore counter and
/// set keys entirely, their reads included; `divergence` and `unavailable` cover every
/// key; the CRDT kinds read only their own.
pub(crate) struct KeyClasses {
    /// Per dense key (of the [`Base`] it was built from), [`COUNTER`] and [`SET`] bits.
    bits: Vec<u8>,
    any_crdt: bool,
    any_register: bool,
}

/// A [`KeyClasses`] bit: the key has an increment.
pub(crate) const COUNTER: u8 = 1;
/// A [`KeyClasses`] bit: the key has an add or a remove.
pub(crate) const SET: u8 = 2;

impl KeyClasses {
    /// Classifies the keys of `base` (which should hold every operation). O(n).
    pub(crate) fn new(base: &Base<'_>) -> KeyClasses {
        let mut bits = vec![0u8; base.keys.len()];
        let mut updated = vec![false; base.keys.len()];
        for (op, &key) in base.ops.iter().zip(&base.key) {
            bits[key as usize] |= match op.f {
                Function::Increment => COUNTER,
                Function::Add | Function::Remove => SET,
                Function::Read | Function::Write | Function::Cas => 0,
            };
            updated[key as usize] |= op.f != Function::Read;
        }
        let history_classes = bits.iter().fold(0, |all, &b| all | b);
        for (b, updated) in bits.iter_mut().zip(updated) {
            if !updated {
                *b = history_classes;
            }
        }
        KeyClasses {
            any_crdt: bits.iter().any(|&b| b != 0),
            any_register: bits.contains(&0),
            bits,
        }
    }

    /// The class bits of dense key `key`.
    pub(crate) fn of(&self, key: u32) -> u8 {
        self.bits[key as usize]
    }

    /// The class bits of key `key`: 0 (a register key) for a key no operation uses.
    pub(crate) fn of_key(&self, base: &Base<'_>, key: repsim_history::KeyId) -> u8 {
        base.keys.find(key.0).map_or(0, |dense| self.of(dense))
    }

    /// True for a counter or set key.
    pub(crate) fn is_crdt(&self, key: u32) -> bool {
        self.of(key) != 0
    }

    /// True when some key is a counter or set key.
    pub(crate) fn any_crdt(&self) -> bool {
        self.any_crdt
    }

    /// True when some key used by an operation is a register key.
    pub(crate) fn any_register(&self) -> bool {
        self.any_register
    }
}

/// Value → the write (or cas) that wrote it. Only built when values are unique.
pub(crate) struct ValueIndex {
    /// `direct[raw]` for small raw ids (generated `w<n>` values, dense in practice).
    direct: Vec<u32>,
    /// `(raw, op)` for every other value, sorted by raw id.
    rest: Vec<(u32, u32)>,
}

impl ValueIndex {
    /// Maps each written value to its write. `Err` with the reason to give for the skipped
    /// kinds when the history's values are not unique, or a cas writes `null`.
    pub(crate) fn build(base: &Base<'_>) -> Result<ValueIndex, String> {
        let history = base.history;
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for op in 0..base.ops.len() as u32 {
            if !base.is_write(op) {
                continue;
            }
            match base.written(op) {
                Some(value) => pairs.push((value.get(), op)),
                None => {
                    let reason = format!(
                        "a cas writes null at index {} (the null rules of SPEC section 4 assume \
                         no write writes null)",
                        base.invoke_index(op)
                    );
                    return Err(reason);
                }
            }
        }
        pairs.sort_unstable();
        // The earliest repeat: among runs of one value (sorted by operation), the run
        // whose second write was invoked first.
        let mut repeat: Option<(u32, u32, u32)> = None;
        let mut run_start = 0;
        while run_start < pairs.len() {
            let raw = pairs[run_start].0;
            let run_end = run_start + pairs[run_start..].partition_point(|p| p.0 == raw);
            if run_end - run_start >= 2 {
                let (first, second) = (pairs[run_start].1, pairs[run_start + 1].1);
                if repeat.is_none_or(|(_, _, best)| second < best) {
                    repeat = Some((raw, first, second));
                }
            }
            run_start = run_end;
        }
        if let Some((raw, first, second)) = repeat {
            let value = ValueId::from_raw(raw).expect("value ids are not zero");
            let reason = format!(
                "values repeat (e.g. {} written at indexes {} and {})",
                render::value_name(history, value),
                base.invoke_index(first),
                base.invoke_index(second)
            );
            return Err(reason);
        }

        // Generated values `w<n>` are dense in practice: a direct table for the small ids,
        // bisection for the rest (interned values and sparse numbering).
        let limit = (4 * pairs.len() + 4096).min(ValueId::EXTRA_BASE as usize);
        let direct_len = pairs
            .iter()
            .map(|&(raw, _)| raw as usize + 1)
            .filter(|&len| len <= limit)
            .max()
            .unwrap_or(0);
        let mut direct = vec![NONE; direct_len];
        let mut rest = Vec::new();
        for &(raw, op) in &pairs {
            match direct.get_mut(raw as usize) {
                Some(slot) => *slot = op,
                None => rest.push((raw, op)),
            }
        }
        Ok(ValueIndex { direct, rest })
    }

    /// The write (or cas) that wrote `value`, if any.
    fn write_of(&self, value: ValueId) -> Option<u32> {
        let raw = value.get();
        if let Some(&op) = self.direct.get(raw as usize) {
            return (op != NONE).then_some(op);
        }
        self.rest
            .binary_search_by_key(&raw, |&(r, _)| r)
            .ok()
            .map(|i| self.rest[i].1)
    }
}

/// An ok read's values, summarised for the kinds that ask "`A → B` for every A read".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Not an ok read.
    NotOkRead,
    /// The read returned `null` (or an empty sibling list).
    Null,
    /// Every value names a write of the read's key that completed `ok`; `at` is the
    /// latest of their `ok` positions and `write` that write. `A → B` holds for every A
    /// read iff `at < invoke(B)`.
    Ok {
        /// Latest `ok` position among the writes read.
        at: u32,
        /// The write with that `ok`.
        write: u32,
    },
    /// Some value names no write (it is a phantom), or names a write that did not
    /// complete `ok`: no `A → B` can hold for it.
    NotOk,
}

/// Everything the value-based kinds need; exists only when written values are unique.
pub(crate) struct Prepared<'h> {
    /// Operations and dense ids.
    pub base: Base<'h>,
    values: ValueIndex,
    /// Per operation, its [`Seen`] summary.
    pub seen: Vec<Seen>,
    /// Per operation, its (process, key) group: groups are numbered in (process, key)
    /// order, so a process's groups are consecutive.
    pub group: Vec<u32>,
    /// Dense key of each group.
    pub group_key: Vec<u32>,
    /// Per dense process, its first group, plus a final end.
    pub process_group_start: Vec<u32>,
}

impl<'h> Prepared<'h> {
    /// Adds to `base` the summaries and groupings the value-based kinds need, given the
    /// value index (which exists only when values are unique).
    pub(crate) fn new(base: Base<'h>, values: ValueIndex) -> Prepared<'h> {
        let (group, group_key, process_group_start) = group_by_process_key(&base);
        let mut prepared = Prepared {
            base,
            values,
            seen: Vec::new(),
            group,
            group_key,
            process_group_start,
        };
        prepared.seen = (0..prepared.base.ops.len() as u32)
            .map(|op| prepared.summarise(op))
            .collect();
        prepared
    }

    /// The write (or cas) that wrote `value`, whatever its key and outcome.
    pub(crate) fn write_of(&self, value: ValueId) -> Option<u32> {
        self.values.write_of(value)
    }

    /// The write that `value`, returned by ok read `read`, names: the write of that
    /// value, if it is a write of the read's key that did not fail and was invoked before
    /// the read completed. Otherwise the value is a phantom and names nothing.
    pub(crate) fn named(&self, value: ValueId, read: u32) -> Option<u32> {
        let op = &self.base.ops[read as usize];
        let completion = op.completion.expect("only ok reads name writes");
        self.named_before(value, self.base.key[read as usize], completion)
    }

    /// The write that `value`, held for dense key `key` in the final state, names: the
    /// write of that value, if it is a write of `key` that did not fail.
    pub(crate) fn named_in_final(&self, value: ValueId, key: u32) -> Option<u32> {
        self.named_before(value, key, NONE)
    }

    fn named_before(&self, value: ValueId, key: u32, before: u32) -> Option<u32> {
        let write = self.write_of(value)?;
        let op = &self.base.ops[write as usize];
        let ok = self.base.key[write as usize] == key
            && op.outcome != Outcome::Fail
            && op.invoke < before;
        ok.then_some(write)
    }

    fn summarise(&self, op: u32) -> Seen {
        if !self.base.is_ok_read(op) {
            return Seen::NotOkRead;
        }
        let values = self.base.read_values(op);
        if values.is_empty() {
            return Seen::Null;
        }
        let mut latest: Option<(u32, u32)> = None;
        for &value in values {
            let Some(write) = self.named(value, op) else {
                return Seen::NotOk;
            };
            let Some(at) = self.base.ok_at(write) else {
                return Seen::NotOk;
            };
            if latest.is_none_or(|(best, _)| at > best) {
                latest = Some((at, write));
            }
        }
        let (at, write) = latest.expect("a non-empty read has a latest write");
        Seen::Ok { at, write }
    }

    /// How many (process, key) groups there are.
    pub(crate) fn group_count(&self) -> usize {
        self.group_key.len()
    }

    /// The group number of (dense process, dense key), if that process used that key.
    pub(crate) fn group_of(&self, process: u32, key: u32) -> Option<usize> {
        let start = self.process_group_start[process as usize] as usize;
        let end = self.process_group_start[process as usize + 1] as usize;
        self.group_key[start..end]
            .binary_search(&key)
            .ok()
            .map(|i| start + i)
    }
}

/// Stable counting sort of `order` by `bucket(op)` (buckets `0..buckets`).
fn counting_sort(order: &[u32], buckets: usize, bucket: impl Fn(u32) -> u32) -> Vec<u32> {
    let mut next = vec![0u32; buckets + 1];
    for &op in order {
        next[bucket(op) as usize + 1] += 1;
    }
    for i in 0..buckets {
        next[i + 1] += next[i];
    }
    let mut sorted = vec![0u32; order.len()];
    for &op in order {
        let b = bucket(op) as usize;
        sorted[next[b] as usize] = op;
        next[b] += 1;
    }
    sorted
}

/// Numbers the (process, key) groups in (process, key) order: returns each operation's
/// group, each group's dense key, and per process its first group plus a final end.
fn group_by_process_key(base: &Base<'_>) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let all: Vec<u32> = (0..base.ops.len() as u32).collect();
    let by_key = counting_sort(&all, base.keys.len(), |op| base.key[op as usize]);
    let sorted = counting_sort(&by_key, base.processes.len(), |op| {
        base.process[op as usize]
    });
    let mut group = vec![NONE; base.ops.len()];
    let mut group_key = Vec::new();
    let mut process_group_start = vec![0u32; base.processes.len() + 1];
    let mut previous: Option<(u32, u32)> = None;
    for &op in &sorted {
        let id = (base.process[op as usize], base.key[op as usize]);
        if previous != Some(id) {
            group_key.push(id.1);
            process_group_start[id.0 as usize + 1] += 1;
            previous = Some(id);
        }
        group[op as usize] = (group_key.len() - 1) as u32;
    }
    for i in 0..base.processes.len() {
        process_group_start[i + 1] += process_group_start[i];
    }
    (group, group_key, process_group_start)
}
