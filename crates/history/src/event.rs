//! One line of a history file (SPEC §3): a client event, in a compact in-memory form.

use crate::ids::{KeyId, NodeId, ProcessId, ValueId};

/// `f`: what an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    /// Reads a key.
    Read,
    /// Writes a value to a key.
    Write,
    /// Compare-and-set: `value` is `[expected, new]` (histories from elsewhere only).
    Cas,
    /// Adds `value` (a positive integer) to a counter (CRDT workloads).
    Increment,
    /// Adds the element `value` to a set (CRDT workloads).
    Add,
    /// Removes the element `value` from a set (CRDT workloads; add wins over a
    /// concurrent remove).
    Remove,
}

impl Function {
    /// The name used in history files.
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Read => "read",
            Function::Write => "write",
            Function::Cas => "cas",
            Function::Increment => "increment",
            Function::Add => "add",
            Function::Remove => "remove",
        }
    }

    /// True for the operations of a read/write/cas register (SPEC §4's checks apply).
    pub fn is_register(self) -> bool {
        matches!(self, Function::Read | Function::Write | Function::Cas)
    }

    /// True for the operations that update a CRDT value (counter or set).
    pub fn is_crdt_update(self) -> bool {
        matches!(self, Function::Increment | Function::Add | Function::Remove)
    }
}

/// `type`: an invocation, or the one completion that follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    /// The operation starts.
    Invoke,
    /// The operation certainly happened.
    Ok,
    /// The operation certainly did not happen.
    Fail,
    /// Unknown whether the operation happened (it timed out).
    Info,
}

impl EventType {
    /// The name used in history files.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }
}

/// The `value` of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Val {
    /// `null`: a read's invocation, or a read that found nothing.
    Null,
    /// One value.
    One(ValueId),
    /// A list of values (siblings), stored in the history's sibling arena at
    /// `start..start + len`.
    Many {
        /// First position in the arena.
        start: u32,
        /// Number of values.
        len: u32,
    },
    /// `[expected, new]` of a compare-and-set; `None` is `null`.
    Cas(Option<ValueId>, Option<ValueId>),
    /// An integer: an increment's amount, or what a counter read returned.
    Int(i64),
}

/// One client event. Its `index` is its position in [`crate::History::events`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    /// Simulated (or recorded) time in milliseconds; never decreases along a history.
    pub time_ms: f64,
    /// The client process.
    pub process: ProcessId,
    /// The key operated on.
    pub key: KeyId,
    /// The node the client talked to, if known.
    pub node: Option<NodeId>,
    /// Invocation or completion.
    pub kind: EventType,
    /// Read, write or cas.
    pub f: Function,
    /// The value (see SPEC §3).
    pub value: Val,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_stays_compact() {
        // A million operations are two million events; SPEC budget is 100 bytes per
        // operation for the whole history.
        assert!(
            std::mem::size_of::<Event>() <= 40,
            "{}",
            std::mem::size_of::<Event>()
        );
    }
}
