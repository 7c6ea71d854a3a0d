//! Messages between leaders, durable records and timers.

use repsim_sim::crdt::CrdtUpdate;
use repsim_sim::{KeyId, NodeId, SimTime, ValueId};

use crate::register::Version;
use crate::version::{Dot, VersionVector};

/// What a write does to its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A register write of this value, resolved against concurrent ones as `conflict`
    /// says (see [`crate::register`]).
    Write(ValueId),
    /// A counter or set update (`conflict: crdt`) as the origin executed it: a remove
    /// carries the adds it observed there. Applying it is idempotent and commutes with
    /// every other update, so it needs no conflict resolution.
    Crdt(CrdtUpdate),
}

/// One write as it travels between leaders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The write's identity: the leader that accepted it and its counter.
    pub dot: Dot,
    /// The key written.
    pub key: KeyId,
    /// What the write does: a register value or a CRDT update.
    pub change: Change,
    /// The origin's local clock when it accepted the write: the LWW timestamp, and the
    /// start of replication lag.
    pub written_at: SimTime,
    /// The origin's versions of this key when it accepted the write: the versions this
    /// write supersedes (empty for a CRDT update, which supersedes nothing).
    pub context: VersionVector,
    /// Every write the origin had applied when it accepted this one: with
    /// `causality: version-vectors` a replica applies this write only after them.
    pub dependencies: VersionVector,
    /// The leaders this copy passed through, the origin first. A leader never forwards to
    /// one of them, and ignores a copy that already names it (no replication loops).
    pub seen: Vec<NodeId>,
}

impl Update {
    /// The version a replica stores for this write (`None` for a CRDT update, which
    /// updates the key's CRDT value instead of adding a version).
    pub fn version(&self) -> Option<Version> {
        match self.change {
            Change::Write(value) => Some(Version {
                dot: self.dot,
                value,
                written_at: self.written_at,
            }),
            Change::Crdt(_) => None,
        }
    }
}

/// Messages between leaders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// Writes over one link: first transmissions, forwarded writes or retransmissions.
    Updates(Vec<Update>),
    /// The receiver has made these writes durable: stop retransmitting them.
    Ack(Vec<Dot>),
    /// The sender restarted: resend at once whatever it has not acknowledged.
    Restarted,
    /// A joining leader, or one catching up after a leader was removed, asks for every
    /// write the receiver holds beyond `have`.
    SyncRequest {
        /// Per origin, the writes the asker holds every one of up to that counter.
        have: VersionVector,
    },
    /// Every write the sender holds that the [`Msg::SyncRequest`] did not cover.
    SyncReply(Vec<Update>),
    /// The sender saw the members change: the receiver should look at them now (a
    /// leader learns them only when it handles an event). Not answered.
    Members,
}

/// What a leader persists; a restart replays them in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A write this leader accepted or received, and the leaders it must pass it to.
    Update {
        /// The write, with this leader in its `seen` list.
        update: Update,
        /// Where this leader sends it.
        targets: Vec<NodeId>,
    },
    /// `peer` acknowledged these writes.
    Acked {
        /// The peer.
        peer: NodeId,
        /// The writes.
        dots: Vec<Dot>,
    },
    /// This leader joined the running cluster and needs the writes of these peers.
    Joined {
        /// The peers to sync from.
        peers: Vec<NodeId>,
    },
    /// A joining leader got every write `peer` held.
    Synced {
        /// The peer.
        peer: NodeId,
    },
    /// The cluster's members as this leader last settled on them: at boot, when it
    /// joined, after a node was added, and once it has caught up after a removal. A
    /// restart that finds other members redoes what a change requires.
    Members {
        /// The members, in id order.
        members: Vec<NodeId>,
    },
    /// Writes whose next hop left the cluster, passed to `to` instead.
    Rerouted {
        /// The new next hop.
        to: NodeId,
        /// The writes.
        dots: Vec<Dot>,
    },
}

/// Timer tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Retransmit unacknowledged writes (armed only while some are pending).
    Retransmit,
    /// A joining (or catching-up) leader asks again for the writes of peers that have not
    /// answered.
    Sync,
}
