//! Messages between nodes, durable records, timers and the client session token.

use std::collections::BTreeMap;
use std::sync::Arc;

use repsim_sim::{KeyId, NodeId, SimDuration, ValueId};

use crate::version::{KeyState, VersionVector};

/// Names one coordinator operation on the node that runs it: the node's boot count in the
/// high 32 bits, so answers to an operation from before a crash never match one started
/// after it, and a per-boot sequence number in the low 32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// How a write forwarded to a home replica ended (see [`Msg::Forward`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged by `w` replicas.
    Written,
    /// Sent, but not acknowledged by `w` replicas in time: it may be applied anywhere.
    Unknown,
    /// Certainly not applied anywhere: refused before anything was sent.
    Fail,
}

/// A write handed to a home replica to coordinate ([`Msg::Forward`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    /// The forwarding node's operation.
    pub op: OpId,
    /// The key.
    pub key: KeyId,
    /// The value.
    pub value: ValueId,
    /// The client's causal context for the key.
    pub context: VersionVector,
    /// How long the receiver may take before answering.
    pub budget: SimDuration,
}

/// Messages between nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// A coordinator asks a replica to store a write: a home replica merges it into its
    /// data; with `hint`, a fallback keeps it for that home replica (sloppy quorum).
    /// Answered by [`Msg::Stored`] once durable.
    Store {
        /// The coordinator's operation.
        op: OpId,
        /// The key.
        key: KeyId,
        /// The new version (`lww`), the coordinating replica's whole sibling set, or a
        /// CRDT delta holding the update's one dot (or a remove's tombstones).
        data: KeyState,
        /// The home replica this copy stands in for, if the receiver is a fallback.
        hint: Option<NodeId>,
    },
    /// The receiver made a [`Msg::Store`] durable.
    Stored {
        /// The coordinator's operation.
        op: OpId,
    },
    /// A coordinator asks a replica for its copy of a key; a fallback (`hinted`) answers
    /// from the hints it holds for the key.
    Fetch {
        /// The coordinator's operation.
        op: OpId,
        /// The key.
        key: KeyId,
        /// Answer from hints (the receiver is a fallback).
        hinted: bool,
    },
    /// A replica's copy of a key (`None`: it holds nothing).
    Fetched {
        /// The coordinator's operation.
        op: OpId,
        /// Its copy.
        data: Option<KeyState>,
    },
    /// Read repair: a coordinator saw this replica answer with an older copy than the
    /// newest it read; merge this one in. Not answered.
    Repair {
        /// The key.
        key: KeyId,
        /// The merged copy the read returned.
        data: KeyState,
    },
    /// `version-vectors` only: a coordinator that is not a home replica of the key hands
    /// the write to one, which assigns its version and coordinates it (Dynamo forwards
    /// writes to the first home replica the same way). Answered by [`Msg::Forwarded`].
    Forward(Forward),
    /// How a [`Msg::Forward`]ed write ended.
    Forwarded {
        /// The forwarding node's operation.
        op: OpId,
        /// The outcome.
        outcome: Outcome,
    },
    /// Hinted handoff: writes a fallback kept for the receiver, which is their home.
    Handoff {
        /// Key and copy, for every hint held for the receiver.
        entries: Vec<(KeyId, KeyState)>,
    },
    /// The home replica made these handed-off copies durable (key and digest of the copy
    /// received); the fallback drops hints that did not change meanwhile.
    HandedOff {
        /// Key and digest of each copy received.
        entries: Vec<(KeyId, u64)>,
    },
    /// Anti-entropy, step 1: the initiator's root digest over the keys both hold.
    AeRoot {
        /// Exchange number (boot count in the high 32 bits), so late copies are ignored.
        seq: u64,
        /// The root digest.
        root: u64,
    },
    /// Anti-entropy: the roots match.
    AeInSync {
        /// Exchange number.
        seq: u64,
        /// The root both sides have.
        root: u64,
    },
    /// Anti-entropy, step 2: the roots differ; the responder's digest of every key range.
    AeRanges {
        /// Exchange number.
        seq: u64,
        /// One digest per range, in range order.
        digests: Vec<u64>,
    },
    /// Anti-entropy, step 3: the initiator's per-key digests of the ranges that differ.
    AeKeys {
        /// Exchange number.
        seq: u64,
        /// Key and digest (0: nothing held).
        keys: Vec<(KeyId, u64)>,
    },
    /// Anti-entropy, step 4: copies of the keys whose digests differ (`None`: the sender
    /// holds nothing), merged by the receiver. With `reply`, the receiver sends back its
    /// own copy of every key where it holds something the sender lacks.
    AeData {
        /// Key and copy.
        entries: Vec<(KeyId, Option<KeyState>)>,
        /// Answer with the receiver's copies where they differ.
        reply: bool,
    },
    /// Hand-over (see [`crate::membership`]): a node that became a home replica of these
    /// keys asks for the receiver's copies. Answered by [`Msg::Handover`] with `epoch`.
    Pull {
        /// The asker's ring-change counter when it asked; echoed in the answer, so an
        /// answer to a request from before a later change is not mistaken for a new one.
        epoch: u64,
        /// The keys.
        keys: Vec<KeyId>,
    },
    /// Hand-over: copies of keys (`None`: the sender holds nothing), as an answer to a
    /// [`Msg::Pull`] (`epoch` set) or pushed by a node that is no longer a home replica
    /// of them (`epoch` `None`). The receiver merges the copies of the keys it is a home
    /// replica of and answers with [`Msg::HandoverAck`].
    Handover {
        /// The epoch of the [`Msg::Pull`] answered, if this is an answer.
        epoch: Option<u64>,
        /// Key and copy.
        entries: Vec<(KeyId, Option<KeyState>)>,
    },
    /// The receiver of a [`Msg::Handover`] made these copies durable (key and digest of
    /// the copy received): a node that no longer owns the key may drop its copy once
    /// every home replica has confirmed it.
    HandoverAck {
        /// Key and digest of each copy received.
        entries: Vec<(KeyId, u64)>,
    },
    /// The sender noticed a membership change: the receiver should look at the members
    /// now (it learns them only when it handles an event). Not answered.
    Nudge,
}

/// What a node persists. A restart replays them in order; the last one for a key wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The members of the ring the node last saw, how many times it has started, and how
    /// many ring changes it has seen (its hand-over epoch).
    Meta {
        /// The members, in id order.
        members: Vec<NodeId>,
        /// Starts so far, this one included.
        boots: u32,
        /// Ring changes seen.
        epoch: u64,
    },
    /// A home key's copy.
    Key {
        /// The key.
        key: KeyId,
        /// Its copy.
        data: KeyState,
    },
    /// A hint: a copy kept for another node (durable, as Dynamo keeps hints in a local
    /// database).
    Hint {
        /// The home replica it is for.
        home: NodeId,
        /// The key.
        key: KeyId,
        /// The copy.
        data: KeyState,
    },
    /// A hint was handed off and dropped.
    HintDone {
        /// The home replica it was for.
        home: NodeId,
        /// The key.
        key: KeyId,
    },
    /// The node became a home replica of `key` at ring change `since` and waits for the
    /// copies of these peers before it answers reads of it.
    Pending {
        /// The key.
        key: KeyId,
        /// The node's epoch when it became a home replica.
        since: u64,
        /// The peers whose copies it waits for.
        waiting: Vec<NodeId>,
    },
    /// The node has every copy it waited for: `key` is no longer pending.
    Ready {
        /// The key.
        key: KeyId,
    },
    /// The node, no longer a home replica of `key`, handed its copy over and dropped it.
    Dropped {
        /// The key.
        key: KeyId,
        /// `version-vectors`: the highest counter this node had used for the key, so that
        /// it never reuses one if it becomes a home replica again (0 under `lww`).
        minted: u64,
    },
}

/// Timer tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Coordinator housekeeping: per-replica timeouts (sloppy fallbacks, local hints) and
    /// deadlines of pending operations. Armed only while operations are pending.
    Tick,
    /// Try to hand hints back to their home replicas.
    Handoff,
    /// Start an anti-entropy exchange with every co-replica of higher id.
    AntiEntropy,
    /// Ask again for the copies still awaited, and push again the copies still to hand
    /// over (armed only while some are).
    Handover,
}

/// A client's session: under `version-vectors`, the causal context of its last read of
/// each key (Dynamo's get context), which its next write of that key carries so that the
/// write supersedes every version the read returned. Empty under `lww`. Shared, so that
/// handing it with every request costs one reference count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Token {
    contexts: Option<Arc<BTreeMap<KeyId, VersionVector>>>,
}

impl Token {
    /// A token carrying one key's context (what a read hands the client).
    pub fn for_key(key: KeyId, context: VersionVector) -> Token {
        Token {
            contexts: Some(Arc::new(BTreeMap::from([(key, context)]))),
        }
    }

    /// The context the session holds for `key` (empty: it never read the key).
    pub fn context(&self, key: KeyId) -> VersionVector {
        self.contexts
            .as_ref()
            .and_then(|c| c.get(&key))
            .cloned()
            .unwrap_or_default()
    }

    /// Folds a reply's token in: its contexts replace the session's for their keys.
    pub fn absorb(&mut self, reply: Token) {
        let Some(new) = reply.contexts else {
            return;
        };
        match &mut self.contexts {
            None => self.contexts = Some(new),
            Some(mine) => {
                let mine = Arc::make_mut(mine);
                for (key, context) in new.iter() {
                    mine.insert(*key, context.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::Dot;

    #[test]
    fn a_session_keeps_the_last_read_context_per_key() {
        let ctx = |c| {
            let mut vv = VersionVector::new();
            vv.add(Dot {
                node: NodeId(0),
                counter: c,
            });
            vv
        };
        let mut session = Token::default();
        assert!(session.context(KeyId(1)).is_empty());
        session.absorb(Token::for_key(KeyId(1), ctx(1)));
        session.absorb(Token::for_key(KeyId(2), ctx(5)));
        session.absorb(Token::for_key(KeyId(1), ctx(3)));
        assert_eq!(session.context(KeyId(1)), ctx(3));
        assert_eq!(session.context(KeyId(2)), ctx(5));
        session.absorb(Token::default());
        assert_eq!(session.context(KeyId(2)), ctx(5));
    }
}
