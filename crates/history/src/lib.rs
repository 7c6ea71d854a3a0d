//! Histories of client operations, as SPEC.md section 3 defines them, and the other
//! records a run produces for the checkers: the final state and protocol role events.
//!
//! This crate has no simulator or protocol dependency: the anomaly checkers use it to
//! read histories produced anywhere, and the simulator uses it to record them.
//!
//! - [`ids`]: process, node, key and value identities and their names.
//! - [`event`]: one history line in compact form.
//! - [`history`]: a whole history and the pairing of invocations with completions.
//! - [`jsonl`]: the JSON Lines file format.
//! - [`jepsen`]: Jepsen's history shape (JSON lines or EDN), read and written.
//! - [`final_state`]: the final state, as in `final.json`.
//! - [`role`]: role events for `split_brain`.
#![warn(missing_docs)]

pub mod event;
pub mod final_state;
pub mod history;
pub mod ids;
pub mod jepsen;
pub mod jsonl;
pub mod role;

pub use event::{Event, EventType, Function, Val};
pub use final_state::FinalState;
pub use history::{History, Operation, Outcome};
pub use ids::{KeyId, Names, NodeId, ProcessId, ValueId, ValueTable};
pub use jepsen::Shape;
pub use role::{RoleEvent, RoleKind};

/// Why a history or final state could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HistoryError {
    /// A line of a history file is not a valid event.
    #[error("{file}: line {line}: {path}: {reason}")]
    Line {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// JSON path within the line.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A JSON document (final state) is not valid.
    #[error("{file}: {path}: {reason}")]
    Json {
        /// The file.
        file: String,
        /// JSON path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Events do not pair into operations.
    #[error("event at index {index}: {reason}")]
    Malformed {
        /// The event's index.
        index: u64,
        /// What is wrong.
        reason: String,
    },
}
