//! Role events: what protocols say about themselves ("became leader", "accepted a write
//! as leader"). The `split_brain` checker reads these; it never inspects node internals.

use crate::ids::NodeId;

/// One role change or leader action, at a simulated time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoleEvent {
    /// Simulated time in milliseconds.
    pub time_ms: f64,
    /// The node the event is about.
    pub node: NodeId,
    /// What happened.
    pub kind: RoleKind,
}

/// What a role event says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleKind {
    /// The node now acts as leader (for all data) in `epoch` (term), as it believes.
    Leader {
        /// The node's epoch or term number when it took the role.
        epoch: u64,
    },
    /// The node no longer acts as leader (it stepped down, or crashed).
    NotLeader,
    /// The node, acting as leader, accepted a client write. `op` is the position of the
    /// write's `invoke` event in the history, when the write came from a client.
    AcceptedWrite {
        /// Invoke position of the client write.
        op: Option<u32>,
    },
}
