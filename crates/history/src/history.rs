//! A whole history: events in order, plus the names and values they refer to, and the
//! pairing of invocations with completions into operations.

use crate::HistoryError;
use crate::event::{Event, EventType, Function, Val};
use crate::ids::{KeyId, Names, NodeId, ProcessId, ValueId, ValueTable};

/// A client history (SPEC §3). Event `i` has index `i` unless the history came from a
/// file whose indexes were not `0, 1, 2, ...` (then [`History::index_of`] maps back).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The events, in order. "Before" means "earlier in this vector".
    pub events: Vec<Event>,
    /// Arena holding the values of [`Val::Many`].
    pub siblings: Vec<ValueId>,
    /// Names of keys and nodes.
    pub names: Names,
    /// Values that are not generated `w<n>` values.
    pub values: ValueTable,
    /// The file's own `index` of each event, when it differs from the position.
    pub file_indexes: Option<Vec<u64>>,
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Completed with `ok`.
    Ok,
    /// Completed with `fail`: certainly did not happen.
    Fail,
    /// Completed with `info`: may or may not have happened.
    Info,
    /// Never completed; SPEC §4 counts it as `info`.
    Pending,
}

impl Outcome {
    /// True for `info` and for operations that never completed: they may have happened.
    pub fn is_indeterminate(self) -> bool {
        matches!(self, Outcome::Info | Outcome::Pending)
    }
}

/// An invocation paired with its completion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Operation {
    /// The client process.
    pub process: ProcessId,
    /// Read, write or cas.
    pub f: Function,
    /// The key.
    pub key: KeyId,
    /// Position of the `invoke` event.
    pub invoke: u32,
    /// Position of the completion event, if any.
    pub completion: Option<u32>,
    /// How it ended.
    pub outcome: Outcome,
    /// For a write, the value written (the value the client was told when its `ok`
    /// carries one, else the invoked value); for a read, the value read (`Null` unless
    /// `ok`); for a cas, `[expected, new]`.
    pub value: Val,
    /// The node the client talked to for the invocation, if known.
    pub node: Option<NodeId>,
}

impl History {
    /// An empty history with the given names.
    pub fn with_names(names: Names) -> History {
        History {
            names,
            ..History::default()
        }
    }

    /// Appends an event.
    pub fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Stores a list of values in the sibling arena and returns the `Val` naming them.
    pub fn many(&mut self, values: &[ValueId]) -> Val {
        let start = u32::try_from(self.siblings.len()).expect("sibling arena below 2^32");
        self.siblings.extend_from_slice(values);
        Val::Many {
            start,
            len: u32::try_from(values.len()).expect("fewer than 2^32 siblings"),
        }
    }

    /// The values a `Val` holds: none for `Null`, one, or every sibling. Empty for `Cas`.
    pub fn values_of<'a>(&'a self, value: &'a Val) -> &'a [ValueId] {
        match value {
            Val::Null | Val::Cas(..) | Val::Int(_) => &[],
            Val::One(v) => std::slice::from_ref(v),
            Val::Many { start, len } => {
                &self.siblings[*start as usize..(*start as usize + *len as usize)]
            }
        }
    }

    /// The index a report should show for the event at `position`.
    pub fn index_of(&self, position: u32) -> u64 {
        match &self.file_indexes {
            Some(indexes) => indexes[position as usize],
            None => u64::from(position),
        }
    }

    /// Pairs each invocation with its process's next completion, in invocation order.
    ///
    /// A malformed history is an error, not an anomaly: a completion with no operation in
    /// flight, an invocation while the process already has one in flight, a completion
    /// whose `f` or `key` differs from its invocation, or a value of the wrong shape.
    /// ([`History::from_jsonl`] refuses such files already, naming the line.)
    pub fn operations(&self) -> Result<Vec<Operation>, HistoryError> {
        self.pair().map_err(|m| HistoryError::Malformed {
            index: self.index_of(m.position),
            reason: m.reason,
        })
    }

    /// [`History::operations`], with malformations located by event position and the
    /// field of the event that is wrong.
    pub(crate) fn pair(&self) -> Result<Vec<Operation>, Malformation> {
        let mut ops: Vec<Operation> = Vec::with_capacity(self.events.len() / 2 + 1);
        // Process id -> position in `ops` of its operation in flight. Process ids are
        // dense in simulated histories, so a vector indexed by id is the fast path; a
        // history from elsewhere with huge ids falls back to a sorted map.
        let mut in_flight = InFlight::default();
        for (position, event) in self.events.iter().enumerate() {
            let position = u32::try_from(position).expect("fewer than 2^32 events");
            let malformed = |path: &'static str, reason: String| Malformation {
                position,
                path,
                reason,
            };
            match event.kind {
                EventType::Invoke => {
                    if let Some(open) = in_flight.get(event.process) {
                        return Err(malformed(
                            "$.process",
                            format!(
                                "process {} invoked while its operation invoked at index {} is still in flight",
                                event.process,
                                self.index_of(ops[open].invoke)
                            ),
                        ));
                    }
                    match (event.f, event.value) {
                        (Function::Write | Function::Add | Function::Remove, Val::One(_))
                        | (Function::Cas, Val::Cas(..))
                        | (Function::Increment, Val::Int(1..))
                        | (Function::Read, _) => {}
                        (Function::Increment, _) => {
                            return Err(malformed(
                                "$.value",
                                "an increment must carry a positive integer".into(),
                            ));
                        }
                        (Function::Add | Function::Remove, _) => {
                            return Err(malformed(
                                "$.value",
                                format!("an {} must carry one element", event.f.as_str()),
                            ));
                        }
                        (Function::Write, _) => {
                            return Err(malformed(
                                "$.value",
                                "a write must carry one value".into(),
                            ));
                        }
                        (Function::Cas, _) => {
                            return Err(malformed(
                                "$.value",
                                "a cas must carry [expected, new]".into(),
                            ));
                        }
                    }
                    in_flight.set(event.process, Some(ops.len()));
                    ops.push(Operation {
                        process: event.process,
                        f: event.f,
                        key: event.key,
                        invoke: position,
                        completion: None,
                        outcome: Outcome::Pending,
                        value: if event.f == Function::Read {
                            Val::Null
                        } else {
                            event.value
                        },
                        node: event.node,
                    });
                }
                kind => {
                    let Some(open) = in_flight.get(event.process) else {
                        return Err(malformed(
                            "$.type",
                            format!(
                                "{} for process {} which has no operation in flight",
                                kind.as_str(),
                                event.process
                            ),
                        ));
                    };
                    in_flight.set(event.process, None);
                    let op = &mut ops[open];
                    if op.f != event.f || op.key != event.key {
                        return Err(malformed(
                            if op.f != event.f { "$.f" } else { "$.key" },
                            format!(
                                "completion ({} of {}) does not match its invocation at index {} ({} of {})",
                                event.f.as_str(),
                                self.names.key_name(event.key),
                                self.index_of(op.invoke),
                                op.f.as_str(),
                                self.names.key_name(op.key),
                            ),
                        ));
                    }
                    op.completion = Some(position);
                    op.outcome = match kind {
                        EventType::Ok => Outcome::Ok,
                        EventType::Fail => Outcome::Fail,
                        EventType::Info => Outcome::Info,
                        EventType::Invoke => unreachable!("handled above"),
                    };
                    match (op.f, kind, event.value) {
                        (Function::Read, EventType::Ok, value) => op.value = value,
                        (Function::Write, EventType::Ok, Val::One(told)) => {
                            op.value = Val::One(told)
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(ops)
    }
}

/// Why events do not pair into operations: the event's position, the JSON path of the
/// field at fault within its line, and the reason.
#[derive(Debug)]
pub(crate) struct Malformation {
    pub(crate) position: u32,
    pub(crate) path: &'static str,
    pub(crate) reason: String,
}

/// Which operation each process has in flight.
#[derive(Default)]
struct InFlight {
    dense: Vec<Option<usize>>,
    sparse: std::collections::BTreeMap<u32, usize>,
}

impl InFlight {
    const DENSE_LIMIT: u32 = 1 << 20;

    fn get(&self, process: ProcessId) -> Option<usize> {
        if process.0 < Self::DENSE_LIMIT {
            self.dense.get(process.0 as usize).copied().flatten()
        } else {
            self.sparse.get(&process.0).copied()
        }
    }

    fn set(&mut self, process: ProcessId, op: Option<usize>) {
        if process.0 < Self::DENSE_LIMIT {
            let i = process.0 as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, None);
            }
            self.dense[i] = op;
        } else {
            match op {
                Some(op) => self.sparse.insert(process.0, op),
                None => self.sparse.remove(&process.0),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(process: u32, kind: EventType, f: Function, value: Val) -> Event {
        Event {
            time_ms: 0.0,
            process: ProcessId(process),
            key: KeyId(0),
            node: Some(NodeId(0)),
            kind,
            f,
            value,
        }
    }

    fn history(events: Vec<Event>) -> History {
        let mut h = History::with_names(Names::simulated(1, 1));
        h.events = events;
        h
    }

    #[test]
    fn pairs_interleaved_operations() {
        let w = ValueId::generated(1);
        let h = history(vec![
            event(0, EventType::Invoke, Function::Write, Val::One(w)),
            event(1, EventType::Invoke, Function::Read, Val::Null),
            event(1, EventType::Ok, Function::Read, Val::One(w)),
        ]);
        let ops = h.operations().unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].outcome, Outcome::Pending);
        assert_eq!(ops[0].value, Val::One(w));
        assert_eq!(ops[1].outcome, Outcome::Ok);
        assert_eq!(ops[1].completion, Some(2));
        assert_eq!(ops[1].value, Val::One(w));
    }

    #[test]
    fn double_invoke_is_malformed() {
        let h = history(vec![
            event(0, EventType::Invoke, Function::Read, Val::Null),
            event(0, EventType::Invoke, Function::Read, Val::Null),
        ]);
        let err = h.operations().unwrap_err().to_string();
        assert!(
            err.contains("index 1") && err.contains("still in flight"),
            "{err}"
        );
    }

    #[test]
    fn orphan_completion_is_malformed() {
        let h = history(vec![event(3, EventType::Ok, Function::Read, Val::Null)]);
        let err = h.operations().unwrap_err().to_string();
        assert!(err.contains("no operation in flight"), "{err}");
    }

    #[test]
    fn mismatched_completion_is_malformed() {
        let w = ValueId::generated(1);
        let h = history(vec![
            event(0, EventType::Invoke, Function::Write, Val::One(w)),
            event(0, EventType::Ok, Function::Read, Val::One(w)),
        ]);
        assert!(
            h.operations()
                .unwrap_err()
                .to_string()
                .contains("does not match")
        );
    }

    #[test]
    fn write_without_value_is_malformed() {
        let h = history(vec![event(
            0,
            EventType::Invoke,
            Function::Write,
            Val::Null,
        )]);
        assert!(h.operations().is_err());
    }
}
