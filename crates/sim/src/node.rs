//! The sans-IO node interface every protocol implements.
//!
//! A protocol is a [`Protocol`] (configuration, node factory and client routing) and a
//! [`Node`] (one replica's state machine). Nodes react to start, message, timer and client
//! request events through their handlers, and act only by calling effect methods on the
//! [`Context`] they are handed: send, set or cancel a timer, reply to a client, persist a
//! durable record, announce a role. The simulator buffers the effects and applies them
//! after the handler returns, so a handler is a plain synchronous state transition that a
//! test can drive with a [`crate::testing::TestContext`].
//!
//! Nodes never see true time, a wall clock, threads or a global random generator: the
//! context gives the node's local clock (true time plus any `clock_skew`) and the node's own
//! random stream.
//!
//! Crash and restart: a crash drops the node value, with everything volatile in it; a
//! restart builds a new value with [`Protocol::create`] from the records the node
//! persisted (its durable log), then calls [`Node::on_start`] with [`Start::Restart`].

use std::fmt::Debug;

use repsim_history::{KeyId, NodeId, ProcessId, RoleKind, ValueId, ValueTable};

use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};

/// Why [`Node::on_start`] is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The node is one of the initial cluster, starting at time zero with empty storage.
    Boot,
    /// The node restarts after a crash (or an `upgrade`) from its durable records.
    Restart,
    /// The node joins a running cluster (`add_node`) with empty storage.
    Join,
}

/// Names one client operation: the client process and the history position of the
/// operation's `invoke` event. A redirected request keeps its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId {
    /// The client process.
    pub process: ProcessId,
    /// Position of the `invoke` event in the history.
    pub invoke: u32,
}

/// What a client asks a node to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Read a key.
    Read {
        /// The key.
        key: KeyId,
    },
    /// Write a fresh value to a key.
    Write {
        /// The key.
        key: KeyId,
        /// The value, never written before.
        value: ValueId,
        /// The value is "computed on the node that executes the write" (like `NOW()`):
        /// a node that re-executes the statement should compute another value (see
        /// [`Context::derived_value`]). The history records the value the client was told.
        nondeterministic: bool,
    },
    /// Add `amount` to a counter (`clients.workload: "counter"`). Answered with
    /// [`Reply::Done`]; a read of a counter is answered with [`Reply::Count`].
    Increment {
        /// The key.
        key: KeyId,
        /// How much to add (positive).
        amount: u32,
    },
    /// Add an element to a set (`clients.workload: "set"`). Answered with
    /// [`Reply::Done`]; a read of a set is answered with [`Reply::Read`] listing its
    /// elements.
    Add {
        /// The key.
        key: KeyId,
        /// The element (one of a small per-run domain, so adds and removes collide).
        element: ValueId,
    },
    /// Remove an element from a set: the additions of it that the executing replica has
    /// seen. An addition the remove did not see survives (add wins).
    Remove {
        /// The key.
        key: KeyId,
        /// The element.
        element: ValueId,
    },
}

impl Op {
    /// The key the operation is about.
    pub fn key(&self) -> KeyId {
        match *self {
            Op::Read { key }
            | Op::Write { key, .. }
            | Op::Increment { key, .. }
            | Op::Add { key, .. }
            | Op::Remove { key, .. } => key,
        }
    }

    /// True for every operation that changes the key (writes and CRDT updates).
    pub fn is_write(&self) -> bool {
        !matches!(self, Op::Read { .. })
    }

    /// True for the CRDT updates: increments, adds and removes.
    pub fn is_crdt_update(&self) -> bool {
        matches!(
            self,
            Op::Increment { .. } | Op::Add { .. } | Op::Remove { .. }
        )
    }
}

/// A client request as a node receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Request<T> {
    /// Use this id to reply.
    pub id: RequestId,
    /// The operation.
    pub op: Op,
    /// The client's session token (protocol-defined, e.g. the log position of its last
    /// write, for read-your-writes routing).
    pub token: T,
}

/// A node's answer to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The read happened and found these values: none (`null`), one, or siblings.
    Read(Vec<ValueId>),
    /// The write happened; this is the value the client is told was written.
    Written(ValueId),
    /// The counter read happened and found this total.
    Count(i64),
    /// The CRDT update (increment, add or remove) happened.
    Done,
    /// The operation certainly did not happen (history `fail`).
    Fail,
    /// The node cannot tell whether it happened (history `info`).
    Unknown,
    /// Not here: the client should send the same operation to this node. Clients follow
    /// up to [`crate::client::MAX_REDIRECTS`] redirects, then record `fail`.
    Redirect(NodeId),
}

/// A timer handle, for cancelling. Stale handles (fired or cancelled) are harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

/// One replica's protocol state machine.
pub trait Node: Sized + 'static {
    /// Messages between nodes. `Clone` because the network may duplicate them.
    type Msg: Clone + Debug;
    /// Timer tags (enum variants, not closures).
    type Timer: Debug;
    /// What the node persists; a restart gets these back, in order.
    type Record: Clone + Debug;
    /// Session data a client carries between operations (protocol-defined; `()` if none).
    type Token: Clone + Debug + Default;

    /// The node starts: at boot, after a restart, or when joining.
    fn on_start(&mut self, ctx: &mut Context<'_, Self>, start: Start);
    /// A message from another node arrived.
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Self::Msg);
    /// A timer this node set fired.
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Self::Timer);
    /// A client request arrived. Reply with [`Context::reply`], now or later; a request
    /// never answered ends as `info` when the client times out.
    fn on_request(&mut self, ctx: &mut Context<'_, Self>, request: Request<Self::Token>);
    /// The node's key → values map after the run (SPEC §3 final state): every key this node
    /// is a replica of, with no values for `null`.
    fn final_state(&self) -> Vec<(KeyId, Vec<ValueId>)>;
    /// The node's counter totals after the run (`clients.workload: "counter"`): every
    /// counter key this node is a replica of. They join [`Node::final_state`] as numbers.
    fn final_counters(&self) -> Vec<(KeyId, i64)> {
        Vec::new()
    }
    /// True when the node has no replication work pending. The run ends once every node
    /// is quiet, no client operation is in flight and no non-background message is.
    fn is_quiet(&self) -> bool {
        true
    }
    /// True for periodic messages (heartbeats) that do not keep the run from ending.
    fn is_background(_msg: &Self::Msg) -> bool {
        false
    }
}

/// How clients reach a node: what [`Protocol::route`] sees of one client process.
#[derive(Debug)]
pub struct ClientView<'a, T> {
    /// The process.
    pub process: ProcessId,
    /// The scenario's `reads_from` setting.
    pub reads_from: &'a str,
    /// The process's session token.
    pub token: &'a T,
    /// The last node that redirected this client elsewhere pointed here.
    pub redirect_hint: Option<NodeId>,
    /// The cluster's members, in id order.
    pub members: &'a [NodeId],
    /// Whether each member (by id) is up. Clients model application servers, which know
    /// which database nodes answer.
    pub up: &'a [bool],
}

impl<T> ClientView<'_, T> {
    /// The replica a `sticky` client always uses: a hash of the client id.
    pub fn sticky_node(&self) -> NodeId {
        let hash = crate::rng::fnv1a64(&self.process.0.to_le_bytes());
        self.members[(hash % self.members.len() as u64) as usize]
    }
}

/// A replication protocol: its configuration, node factory and client routing.
pub trait Protocol {
    /// The replica state machine.
    type Node: Node;

    /// Builds a node. `storage` is empty for a node that boots or joins, and holds the
    /// node's durable records, in the order persisted, after a restart.
    fn create(&self, id: NodeId, storage: &[<Self::Node as Node>::Record]) -> Self::Node;

    /// Picks the node a client sends `op` to.
    fn route(
        &self,
        client: &ClientView<'_, <Self::Node as Node>::Token>,
        op: &Op,
        rng: &mut SimRng,
    ) -> NodeId;

    /// Folds the token of a reply into the client's session (default: take it).
    fn absorb(
        &self,
        session: &mut <Self::Node as Node>::Token,
        reply: <Self::Node as Node>::Token,
    ) {
        *session = reply;
    }
}

/// Something a handler asked for, applied by the simulator after the handler returns.
#[derive(Debug)]
pub enum Effect<N: Node> {
    /// Send a message to another node.
    Send {
        /// The target.
        to: NodeId,
        /// The message.
        msg: N::Msg,
    },
    /// Start a timer (its tag is held by the timer slab).
    Timer {
        /// The handle.
        id: TimerId,
        /// Local-clock delay until it fires.
        after: SimDuration,
    },
    /// Answer a client.
    Reply {
        /// The request.
        request: RequestId,
        /// The answer.
        reply: Reply,
        /// A token for the client's session, if the node has one to give.
        token: Option<N::Token>,
    },
    /// Append a record to durable storage.
    Persist(N::Record),
    /// Replace all durable records with these (a snapshot or compaction).
    Checkpoint(Vec<N::Record>),
    /// Announce a role change or leader action (read by `split_brain`).
    Role(RoleKind),
    /// Add to the count of a protocol event (e.g. `snapshot_sent`), for reports.
    Count(&'static str, u64),
    /// Make everything persisted so far durable now (fsync).
    Sync,
    /// This node, a follower, applied a log entry this long after the leader wrote it,
    /// as measured by the node (its local clock against the entry's timestamp).
    Lag(SimDuration),
}

/// Pending timers, with generation numbers so cancelled or stale ones are dropped lazily.
pub struct TimerSlab<T> {
    slots: Vec<TimerSlot<T>>,
    free: Vec<u32>,
}

struct TimerSlot<T> {
    generation: u32,
    pending: Option<PendingTimer<T>>,
}

/// A timer waiting to fire.
pub(crate) struct PendingTimer<T> {
    pub(crate) node: NodeId,
    pub(crate) incarnation: u32,
    pub(crate) timer: T,
}

impl<T> Default for TimerSlab<T> {
    fn default() -> Self {
        TimerSlab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> TimerSlab<T> {
    fn insert(&mut self, pending: PendingTimer<T>) -> TimerId {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(TimerSlot {
                    generation: 0,
                    pending: None,
                });
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 timers")
            }
        };
        let entry = &mut self.slots[slot as usize];
        debug_assert!(entry.pending.is_none());
        entry.pending = Some(pending);
        TimerId {
            slot,
            generation: entry.generation,
        }
    }

    /// Takes the timer if `id` is still current (not fired, not cancelled).
    pub(crate) fn take(&mut self, id: TimerId) -> Option<PendingTimer<T>> {
        let entry = self.slots.get_mut(id.slot as usize)?;
        if entry.generation != id.generation {
            return None;
        }
        let pending = entry.pending.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(id.slot);
        Some(pending)
    }

    /// Number of timers pending.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// True when no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The node a pending timer belongs to.
    pub(crate) fn node_of(&self, id: TimerId) -> Option<NodeId> {
        let entry = self.slots.get(id.slot as usize)?;
        (entry.generation == id.generation).then_some(entry.pending.as_ref()?.node)
    }

    /// The tag of a pending timer (for tests).
    pub fn get(&self, id: TimerId) -> Option<&T> {
        let entry = self.slots.get(id.slot as usize)?;
        (entry.generation == id.generation)
            .then_some(entry.pending.as_ref()?)
            .map(|p| &p.timer)
    }
}

/// What a handler can see and do. See the module documentation.
pub struct Context<'a, N: Node> {
    pub(crate) id: NodeId,
    pub(crate) local_now: SimTime,
    pub(crate) incarnation: u32,
    pub(crate) format_version: u32,
    pub(crate) members: &'a [NodeId],
    pub(crate) rng: &'a mut SimRng,
    pub(crate) timers: &'a mut TimerSlab<N::Timer>,
    pub(crate) effects: &'a mut Vec<Effect<N>>,
    pub(crate) values: &'a mut ValueTable,
}

impl<N: Node> Context<'_, N> {
    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's local clock: true simulated time plus its `clock_skew`.
    pub fn now(&self) -> SimTime {
        self.local_now
    }

    /// The storage format version this node runs (1 at boot, +1 per `upgrade`).
    pub fn format_version(&self) -> u32 {
        self.format_version
    }

    /// Every member of the cluster, this node included, in id order.
    pub fn members(&self) -> &[NodeId] {
        self.members
    }

    /// Every member but this node, in id order.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        let me = self.id;
        self.members.iter().copied().filter(move |&n| n != me)
    }

    /// This node's random stream.
    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }

    /// Sends `msg` to `to` over the simulated network (which may delay, drop or
    /// duplicate it). Sending to oneself is a bug.
    pub fn send(&mut self, to: NodeId, msg: N::Msg) {
        assert_ne!(to, self.id, "{} sent a message to itself", self.id);
        self.effects.push(Effect::Send { to, msg });
    }

    /// Sends a copy of `msg` to every peer.
    pub fn broadcast(&mut self, msg: N::Msg) {
        for i in 0..self.members.len() {
            let to = self.members[i];
            if to != self.id {
                self.effects.push(Effect::Send {
                    to,
                    msg: msg.clone(),
                });
            }
        }
    }

    /// Fires `timer` after `after` of local time. A crash cancels every timer.
    pub fn set_timer(&mut self, after: SimDuration, timer: N::Timer) -> TimerId {
        let id = self.timers.insert(PendingTimer {
            node: self.id,
            incarnation: self.incarnation,
            timer,
        });
        self.effects.push(Effect::Timer { id, after });
        id
    }

    /// Cancels a timer; nothing happens if it already fired or was cancelled.
    pub fn cancel_timer(&mut self, id: TimerId) {
        if let Some(slot) = self.timers.slots.get(id.slot as usize)
            && slot.generation == id.generation
            && slot.pending.as_ref().is_some_and(|p| p.node == self.id)
        {
            self.timers.take(id);
        }
    }

    /// Answers a client request.
    pub fn reply(&mut self, request: RequestId, reply: Reply) {
        self.effects.push(Effect::Reply {
            request,
            reply,
            token: None,
        });
    }

    /// Answers a client request and hands it a session token.
    pub fn reply_with_token(&mut self, request: RequestId, reply: Reply, token: N::Token) {
        self.effects.push(Effect::Reply {
            request,
            reply,
            token: Some(token),
        });
    }

    /// Appends a record to this node's durable storage.
    pub fn persist(&mut self, record: N::Record) {
        self.effects.push(Effect::Persist(record));
    }

    /// Forces what this node persisted so far to stable storage (fsync). Only matters
    /// when the node's sync policy is periodic: without it, a crash may lose records
    /// persisted since the last periodic flush.
    pub fn sync(&mut self) {
        self.effects.push(Effect::Sync);
    }

    /// Replaces this node's durable storage with `records`.
    pub fn checkpoint(&mut self, records: Vec<N::Record>) {
        self.effects.push(Effect::Checkpoint(records));
    }

    /// Announces a role change (e.g. became leader in epoch 3).
    pub fn role(&mut self, kind: RoleKind) {
        self.effects.push(Effect::Role(kind));
    }

    /// Counts one occurrence of a protocol event (e.g. `snapshot_sent`); reports list
    /// the totals, so a scenario can show which code paths it exercised.
    pub fn count(&mut self, event: &'static str) {
        self.effects.push(Effect::Count(event, 1));
    }

    /// Adds `amount` to the count of a protocol event (e.g. bytes compared by
    /// anti-entropy).
    pub fn count_by(&mut self, event: &'static str, amount: u64) {
        self.effects.push(Effect::Count(event, amount));
    }

    /// Reports this follower's replication lag: how long after the leader wrote an entry
    /// this node applied it. The report gives percentiles per follower.
    pub fn replication_lag(&mut self, lag: SimDuration) {
        self.effects.push(Effect::Lag(lag));
    }

    /// Records that this node, as leader, accepted client write `request`.
    pub fn accepted_write(&mut self, request: RequestId) {
        self.effects.push(Effect::Role(RoleKind::AcceptedWrite {
            op: Some(request.invoke),
        }));
    }

    /// The value this node computes when it executes the nondeterministic write of
    /// `base` itself (a re-executed statement): `"<base>@<node>"`, a value no client
    /// wrote.
    pub fn derived_value(&mut self, base: ValueId) -> ValueId {
        let base_text = self.values.to_json(base);
        let base_text = base_text
            .as_str()
            .map_or_else(|| base_text.to_string(), str::to_owned);
        let name = serde_json::Value::String(format!("{base_text}@{}", self.id));
        self.values.intern(&name).expect("a string is not null")
    }
}
