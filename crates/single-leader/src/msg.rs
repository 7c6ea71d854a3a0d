//! Messages between nodes, durable records, timers and the client session token.

use repsim_sim::{KeyId, NodeId, ValueId};

use crate::log::{Entry, Stored};

/// Log entries (or, with none, a heartbeat) from the leader, or forwarded down a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Append {
    /// The leader's epoch.
    pub epoch: u64,
    /// The leader (acknowledgements go to it, even for forwarded entries).
    pub leader: NodeId,
    /// Position just before the first entry.
    pub prev_lsn: u64,
    /// Epoch of the leader's entry at `prev_lsn`.
    pub prev_epoch: u64,
    /// Entries `prev_lsn + 1 ..`.
    pub entries: Vec<Entry>,
    /// The leader's last position when it sent this.
    pub leader_last: u64,
    /// The leader's local clock when it sent this, echoed in the reply (for its lease).
    pub sent_at_micros: u64,
    /// A heartbeat or retransmission: a follower with a gap answers with a `Nack` at
    /// once (optimistic appends that arrive early are buffered instead).
    pub probe: bool,
    /// How many followers are more up to date than the receiver (0: the most); the most
    /// up-to-date follower times out first and so tends to win the election.
    pub rank: u32,
    /// The receiver's successor in the chain (chain replication), set by the leader.
    pub successor: Option<NodeId>,
    /// Forwarded by a chain predecessor rather than sent by the leader.
    pub forwarded: bool,
}

/// A follower's answer to an [`Append`] or a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendReply {
    /// The follower's log matches the leader's up to `matched`.
    Ok {
        /// The follower's epoch.
        epoch: u64,
        /// Last position known to match the leader's log.
        matched: u64,
        /// Echo of [`Append::sent_at_micros`].
        sent_at_micros: u64,
        /// Answer to a heartbeat (background traffic).
        heartbeat: bool,
    },
    /// The follower's log does not reach or does not match at `prev_lsn`; try from `hint`.
    Nack {
        /// The follower's epoch.
        epoch: u64,
        /// Next position the leader should send from.
        hint: u64,
        /// Echo of [`Append::sent_at_micros`].
        sent_at_micros: u64,
    },
    /// The sender's epoch is old: a newer leader exists.
    Stale {
        /// The follower's (newer) epoch.
        epoch: u64,
    },
    /// The follower is new and needs a snapshot first.
    NeedSnapshot {
        /// The follower's epoch.
        epoch: u64,
    },
    /// The follower cannot apply this WAL: it runs another storage-format version.
    Incompatible {
        /// The follower's epoch.
        epoch: u64,
    },
}

/// Messages between nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// Entries or a heartbeat.
    Append(Append),
    /// A follower's answer.
    AppendReply(AppendReply),
    /// A candidate asks for a vote (or, in the pre-vote round, whether it would get one).
    VoteRequest {
        /// A pre-vote: nobody changes state; the candidate only starts a real election
        /// (and bumps its epoch) if a majority would vote for it, so a node cut off from
        /// the others cannot disrupt the cluster with ever higher epochs when it returns.
        pre: bool,
        /// The candidate's new epoch.
        epoch: u64,
        /// Its last log position.
        last_lsn: u64,
        /// The epoch of its last entry.
        last_epoch: u64,
    },
    /// A vote.
    VoteReply {
        /// Answer to a pre-vote.
        pre: bool,
        /// The voter's epoch (for a pre-vote: the epoch asked about).
        epoch: u64,
        /// Whether the vote was granted.
        granted: bool,
    },
    /// A consistent snapshot of the leader's data at a log position.
    Snapshot(Snapshot),
}

/// A consistent snapshot of the leader's data, tied to a log position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The leader's epoch.
    pub epoch: u64,
    /// Position the snapshot is tied to.
    pub lsn: u64,
    /// Epoch of the entry at `lsn`.
    pub lsn_epoch: u64,
    /// The data at `lsn`.
    pub data: Vec<(KeyId, ValueId)>,
    /// The leader's storage-format version (a WAL-shipping snapshot is physical).
    pub format: u32,
}

/// What a node persists. A restart replays them in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// Epoch, vote and whether the node was leader (the last one wins).
    Meta {
        /// Current epoch.
        epoch: u64,
        /// Vote cast in this epoch.
        voted_for: Option<NodeId>,
        /// The node was acting as leader.
        leader: bool,
    },
    /// An entry, with the value this node applied.
    Entry(Stored),
    /// Every entry after this position was dropped.
    Truncate {
        /// Last position kept.
        after: u64,
    },
    /// The data at a position; replaces everything before.
    Snapshot {
        /// Position.
        lsn: u64,
        /// Epoch of the entry at `lsn`.
        epoch: u64,
        /// The data.
        data: Vec<(KeyId, ValueId)>,
    },
}

/// Timer tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The leader's periodic heartbeat, retransmission and lease check.
    Heartbeat,
    /// A follower heard nothing from a leader for too long: start an election.
    Election,
    /// The leader's log sender wakes up and ships new entries to its followers.
    Ship,
}

/// A client's session: the newest log positions it wrote and read, for the
/// `read-your-writes`, `monotonic` and `consistent-prefix` read strategies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Token {
    /// Position of the client's last acknowledged write.
    pub write_lsn: u64,
    /// Highest log position of a replica the client has read from.
    pub read_lsn: u64,
}
