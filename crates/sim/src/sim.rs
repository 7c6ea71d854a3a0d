//! The simulation: the event loop that drives a protocol's nodes, the network, faults and
//! clients, and records the history.
//!
//! A run has two phases. The workload runs until `duration`; then every fault is healed
//! (cuts and lags removed, clock skews reset), every crashed node restarted, and clients
//! stop issuing operations. The run goes on until it is quiet (no client operation in
//! flight, no non-background message in flight, every node [`Node::is_quiet`]) or the
//! queue empties, and the final state of every node is read. Limits on events and on the
//! settling time bound every run: hitting one is a reported [`RunOutcome`], never a hang.
//!
//! Architecture invariant: everything here is a pure function of the configuration and
//! the seed. Time is the integer [`SimTime`]; randomness comes only from labelled
//! [`SimRng`] streams; every collection that is iterated is ordered.

use std::collections::BTreeMap;

use repsim_history::{
    Event, EventType, FinalState, Function, History, KeyId, Names, NodeId, ProcessId, RoleEvent,
    RoleKind, Val, ValueId,
};

use crate::client::{self, Client, ClientConfig, InFlight, MAX_REDIRECTS, Workload};
use crate::fault::{Fault, FaultAction};
use crate::network::{DropReason, Envelope, Network, NetworkConfig, Verdict};
use crate::node::{
    ClientView, Context, Effect, Node, Op, Protocol, Reply, Request, RequestId, Start, TimerId,
    TimerSlab,
};
use crate::queue::{EventQueue, Slab};
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use crate::trace::{Trace, TraceConfig, TraceKind};

/// Bounds on a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most events processed.
    pub max_events: u64,
    /// Latest simulated time an event may happen at.
    pub max_time: SimTime,
    /// Longest the run may take to go quiet after the workload ends.
    pub settle: SimDuration,
    /// For testing repsim itself: panic after this many events, as a protocol bug would.
    pub panic_at_event: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: 1_000_000_000,
            max_time: SimTime::MAX,
            settle: SimDuration::from_millis(60_000),
            panic_at_event: None,
        }
    }
}

/// Everything a run needs besides the protocol.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The run's seed; every random stream derives from it.
    pub seed: u64,
    /// Initial cluster size: nodes `n0..n{nodes-1}`.
    pub nodes: u16,
    /// When the workload ends.
    pub duration: SimTime,
    /// The network.
    pub network: NetworkConfig,
    /// The clients.
    pub clients: ClientConfig,
    /// The concrete fault schedule (the `random` nemesis already expanded).
    pub faults: Vec<Fault>,
    /// Bounds.
    pub limits: Limits,
    /// Record a trace?
    pub trace: Option<TraceConfig>,
    /// Per node (by id; missing ones `Always`): when what a node persists becomes
    /// durable.
    pub sync: Vec<SyncPolicy>,
}

/// When a node's persisted records reach stable storage (its `fsync` setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Every record is durable as soon as it is persisted (fsync per write).
    #[default]
    Always,
    /// Records become durable at the next periodic flush, every this often; a crash loses
    /// an arbitrary suffix of what was persisted since the last flush. A protocol that
    /// acknowledges after `persist` without `sync` then loses acknowledged writes.
    Every(SimDuration),
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            nodes: 3,
            duration: SimTime::from_micros(1_000_000),
            network: NetworkConfig::default(),
            clients: ClientConfig::default(),
            faults: Vec::new(),
            limits: Limits::default(),
            trace: None,
            sync: Vec::new(),
        }
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The system went quiet after the workload; the final state is settled.
    Quiet,
    /// It did not go quiet within [`Limits::settle`]; the final state was read anyway.
    NotQuiet,
    /// [`Limits::max_events`] events were processed.
    BudgetExhausted,
}

impl RunOutcome {
    /// Name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Quiet => "quiet",
            RunOutcome::NotQuiet => "not_quiet",
            RunOutcome::BudgetExhausted => "budget_exhausted",
        }
    }
}

/// Counters of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events processed.
    pub events: u64,
    /// Node-to-node messages sent.
    pub sent: u64,
    /// Node-to-node messages delivered (duplicates included).
    pub delivered: u64,
    /// Extra copies made by `duplicate_rate`.
    pub duplicated: u64,
    /// Lost to partitions and `link_down`.
    pub dropped_cut: u64,
    /// Lost to `drop_rate`.
    pub dropped_random: u64,
    /// Lost because the target was down or restarted.
    pub dropped_crashed: u64,
    /// Arrived corrupted and dropped by the receiver's checksum (`corrupt_rate`).
    pub dropped_corrupt: u64,
    /// Messages held by a clogged link and delivered late when it was released.
    pub held: u64,
    /// Events that waited for a paused node.
    pub deferred: u64,
    /// Persisted records lost in crashes because they were not yet synced.
    pub records_lost: u64,
    /// Timers fired.
    pub timers: u64,
    /// Most events pending at once.
    pub peak_pending: u64,
    /// A hash of every event processed, in order (time, kind and what it refers to):
    /// two runs with equal hashes processed the same schedule. Used by the determinism
    /// self-check.
    pub trace_hash: u64,
}

impl Stats {
    /// All messages lost, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_cut + self.dropped_random + self.dropped_crashed + self.dropped_corrupt
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutput {
    /// The client history.
    pub history: History,
    /// Each node's key → values map at the end.
    pub final_state: FinalState,
    /// Role events, in time order.
    pub roles: Vec<RoleEvent>,
    /// Counters.
    pub stats: Stats,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// Simulated time at the end.
    pub end: SimTime,
    /// The trace, if one was asked for.
    pub trace: Option<Trace>,
    /// Every node that was ever a member, in id order (removed ones included).
    pub members: Vec<NodeId>,
    /// Protocol event counts (see [`crate::node::Context::count`]), by name.
    pub counters: BTreeMap<&'static str, u64>,
    /// Replication lag samples per follower: (true time of the sample, lag).
    pub lag: BTreeMap<NodeId, Vec<(SimTime, SimDuration)>>,
}

/// What a queued event refers to.
#[derive(Clone, Copy, Debug)]
enum Scheduled {
    /// A node-to-node message (slab slot).
    Deliver(u32),
    /// A node timer.
    Timer(TimerId),
    /// A client request arriving at a node (slab slot).
    Request(u32),
    /// A reply arriving at a client (slab slot).
    Reply(u32),
    /// A client process issues its next operation.
    Issue(u32),
    /// A client gives up waiting for operation `invoke`.
    Timeout { process: u32, invoke: u32 },
    /// Fault `i` starts.
    FaultStart(u32),
    /// Window fault `i` ends.
    FaultEnd(u32),
    /// The workload ends: heal everything and settle.
    WorkloadEnd,
    /// Node `i`'s periodic flush makes its pending records durable.
    Sync(u32),
    /// Step `step` of swizzle fault `fault`: below the number of links, hold link
    /// `step`; from there on, release the links in reverse order.
    Swizzle { fault: u32, step: u32 },
}

impl Scheduled {
    /// The event's kind and what it refers to, as one number for the trace hash.
    fn fingerprint(self) -> u64 {
        let (kind, a, b) = match self {
            Scheduled::Deliver(slot) => (1, u64::from(slot), 0),
            Scheduled::Timer(id) => (2, u64::from(id.slot), u64::from(id.generation)),
            Scheduled::Request(slot) => (3, u64::from(slot), 0),
            Scheduled::Reply(slot) => (4, u64::from(slot), 0),
            Scheduled::Issue(p) => (5, u64::from(p), 0),
            Scheduled::Timeout { process, invoke } => (6, u64::from(process), u64::from(invoke)),
            Scheduled::FaultStart(i) => (7, u64::from(i), 0),
            Scheduled::FaultEnd(i) => (8, u64::from(i), 0),
            Scheduled::WorkloadEnd => (9, 0, 0),
            Scheduled::Sync(i) => (10, u64::from(i), 0),
            Scheduled::Swizzle { fault, step } => (11, u64::from(fault), u64::from(step)),
        };
        kind | a << 4 | b << 36
    }
}

/// One step of the trace hash (a multiply-rotate mix, as in FxHash).
fn mix(hash: u64, word: u64) -> u64 {
    (hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

struct NodeSlot<N: Node> {
    node: Option<N>,
    /// Bumped at every crash: stale timers and messages to an old incarnation are dropped.
    incarnation: u32,
    /// What is durable.
    storage: Vec<N::Record>,
    /// Persisted but not yet synced (with a periodic sync policy).
    unsynced: Vec<StorageOp<N::Record>>,
    sync: SyncPolicy,
    sync_armed: bool,
    /// Left the cluster (`remove_node`): never restarted, not in the final state.
    removed: bool,
    /// Paused: events for the node wait here, in order, until it resumes.
    paused: bool,
    deferred: Vec<Scheduled>,
    clock_offset_micros: i64,
    format_version: u32,
    rng: SimRng,
    is_leader: bool,
}

/// A write to a node's storage not yet synced.
enum StorageOp<R> {
    Append(R),
    Replace(Vec<R>),
}

impl<N: Node> NodeSlot<N> {
    fn new(node: N, seed: u64, id: NodeId, sync: SyncPolicy) -> NodeSlot<N> {
        NodeSlot {
            node: Some(node),
            incarnation: 0,
            storage: Vec::new(),
            unsynced: Vec::new(),
            sync,
            sync_armed: false,
            removed: false,
            paused: false,
            deferred: Vec::new(),
            clock_offset_micros: 0,
            format_version: 1,
            rng: SimRng::stream(seed, &format!("node/{id}")),
            is_leader: false,
        }
    }

    /// Applies unsynced writes (all of them, or the first `keep`) to durable storage.
    fn flush(&mut self, keep: usize) {
        for op in self.unsynced.drain(..).take(keep) {
            match op {
                StorageOp::Append(r) => self.storage.push(r),
                StorageOp::Replace(rs) => self.storage = rs,
            }
        }
    }
}

struct RequestEnvelope<T> {
    to: NodeId,
    incarnation: u32,
    request: Request<T>,
}

struct ReplyEnvelope<T> {
    from: NodeId,
    request: RequestId,
    reply: Reply,
    token: Option<T>,
}

/// The links a window fault cut and held, to undo exactly.
type ActiveLinks = (Vec<(NodeId, NodeId)>, Vec<(NodeId, NodeId)>);

type TokenOf<P> = <<P as Protocol>::Node as Node>::Token;

/// A run in progress. Build with [`Simulation::new`], then [`Simulation::run`].
pub struct Simulation<P: Protocol> {
    protocol: P,
    config: SimConfig,
    now: SimTime,
    queue: EventQueue<Scheduled>,
    nodes: Vec<NodeSlot<P::Node>>,
    /// The current members, in id order (what nodes and clients see).
    members: Vec<NodeId>,
    up: Vec<bool>,
    messages: Slab<Envelope<<P::Node as Node>::Msg>>,
    requests: Slab<RequestEnvelope<TokenOf<P>>>,
    replies: Slab<ReplyEnvelope<TokenOf<P>>>,
    timers: TimerSlab<<P::Node as Node>::Timer>,
    effects: Vec<Effect<P::Node>>,
    network: Network,
    client_rng: SimRng,
    /// Decides how much of a crashed node's unsynced storage survives.
    storage_rng: SimRng,
    /// Messages waiting on a held (clogged) link, by slab slot.
    held: Vec<u32>,
    clients: Vec<Client<TokenOf<P>>>,
    next_value: u32,
    /// The set workload's elements `e0..`, interned before the run starts.
    elements: Vec<ValueId>,
    clients_busy: usize,
    /// Non-background node-to-node messages in flight.
    significant_in_flight: u64,
    /// Active window faults: the links each one cut, to undo exactly.
    /// Active window faults: the links each one cut and the links it held.
    active: Vec<Option<ActiveLinks>>,
    workload_over: bool,
    settle_deadline: SimTime,
    history: History,
    roles: Vec<RoleEvent>,
    trace: Option<Trace>,
    next_trace_id: u64,
    stats: Stats,
    counters: BTreeMap<&'static str, u64>,
    lag: BTreeMap<NodeId, Vec<(SimTime, SimDuration)>>,
}

impl<P: Protocol> Simulation<P> {
    /// Prepares a run: nodes are created but not started until [`Simulation::run`].
    pub fn new(protocol: P, config: SimConfig) -> Simulation<P> {
        let seed = config.seed;
        let size = usize::from(config.nodes);
        let sync_of = |i: u16| config.sync.get(usize::from(i)).copied().unwrap_or_default();
        let nodes = (0..config.nodes)
            .map(|i| NodeSlot::new(protocol.create(NodeId(i), &[]), seed, NodeId(i), sync_of(i)))
            .collect();
        let clients = (0..config.clients.count)
            .map(|p| Client::new(seed, ProcessId(p)))
            .collect();
        let names = Names::simulated(config.clients.keys, config.nodes);
        Simulation {
            network: Network::new(
                config.network.clone(),
                size,
                SimRng::stream(seed, "network"),
            ),
            client_rng: SimRng::stream(seed, "clients"),
            storage_rng: SimRng::stream(seed, "storage"),
            held: Vec::new(),
            trace: config.trace.map(Trace::new),
            active: vec![None; config.faults.len()],
            protocol,
            now: SimTime::ZERO,
            queue: EventQueue::default(),
            nodes,
            members: (0..config.nodes).map(NodeId).collect(),
            up: vec![true; size],
            messages: Slab::default(),
            requests: Slab::default(),
            replies: Slab::default(),
            timers: TimerSlab::default(),
            effects: Vec::new(),
            clients,
            next_value: 1,
            elements: Vec::new(),
            clients_busy: 0,
            significant_in_flight: 0,
            workload_over: false,
            settle_deadline: SimTime::MAX,
            history: History::with_names(names),
            roles: Vec::new(),
            next_trace_id: 0,
            stats: Stats::default(),
            counters: BTreeMap::new(),
            lag: BTreeMap::new(),
            config,
        }
    }

    /// Runs to the end and returns what happened.
    pub fn run(mut self) -> RunOutput {
        if let Workload::Set { elements } = self.config.clients.workload {
            self.elements = (0..elements)
                .map(|n| {
                    let name = serde_json::Value::String(format!("e{n}"));
                    self.history
                        .values
                        .intern(&name)
                        .expect("a string is not null")
                })
                .collect();
        }
        for i in 0..self.config.faults.len() {
            let at = self.config.faults[i].at;
            self.queue.push(at, Scheduled::FaultStart(i as u32));
        }
        self.queue
            .push(self.config.duration, Scheduled::WorkloadEnd);
        for i in 0..self.members.len() {
            self.dispatch(NodeId(i as u16), |node, ctx| {
                node.on_start(ctx, Start::Boot)
            });
        }
        for p in 0..self.clients.len() {
            self.plan_next(p);
        }
        let outcome = self.event_loop();
        let mut final_state = FinalState::default();
        for &id in &self.members {
            if let Some(node) = &self.nodes[id.index()].node {
                for (key, values) in node.final_state() {
                    final_state.set(id, key, values);
                }
                for (key, total) in node.final_counters() {
                    let total = self.history.values.intern(&serde_json::Value::from(total));
                    final_state.set(id, key, total.into_iter().collect());
                }
            }
        }
        RunOutput {
            history: self.history,
            final_state,
            roles: self.roles,
            stats: self.stats,
            outcome,
            end: self.now,
            trace: self.trace,
            members: (0..self.nodes.len()).map(|i| NodeId(i as u16)).collect(),
            counters: self.counters,
            lag: self.lag,
        }
    }

    fn event_loop(&mut self) -> RunOutcome {
        loop {
            if self.stats.events >= self.config.limits.max_events {
                return RunOutcome::BudgetExhausted;
            }
            if self.workload_over {
                if self.is_quiet() {
                    return RunOutcome::Quiet;
                }
                if self
                    .queue
                    .peek_time()
                    .is_some_and(|t| t > self.settle_deadline)
                {
                    self.now = self.settle_deadline;
                    return RunOutcome::NotQuiet;
                }
            }
            if self
                .queue
                .peek_time()
                .is_some_and(|t| t > self.config.limits.max_time)
            {
                return RunOutcome::BudgetExhausted;
            }
            let Some((at, event)) = self.queue.pop() else {
                return RunOutcome::Quiet;
            };
            assert!(at >= self.now, "time went backwards: {at} < {}", self.now);
            self.now = at;
            self.stats.events += 1;
            if self.config.limits.panic_at_event == Some(self.stats.events) {
                panic!(
                    "deliberate panic at event {} (debug.panic_at_event)",
                    self.stats.events
                );
            }
            self.stats.trace_hash = mix(
                mix(self.stats.trace_hash, at.as_micros()),
                event.fingerprint(),
            );
            match event {
                Scheduled::Deliver(slot) => self.deliver(slot),
                Scheduled::Timer(id) => self.fire_timer(id),
                Scheduled::Request(slot) => self.arrive_request(slot),
                Scheduled::Reply(slot) => self.arrive_reply(slot),
                Scheduled::Issue(p) => self.issue(p as usize),
                Scheduled::Timeout { process, invoke } => self.timeout(process as usize, invoke),
                Scheduled::FaultStart(i) => self.start_fault(i as usize),
                Scheduled::FaultEnd(i) => self.end_fault(i as usize),
                Scheduled::WorkloadEnd => self.end_workload(),
                Scheduled::Swizzle { fault, step } => self.swizzle(fault as usize, step as usize),
                Scheduled::Sync(i) => {
                    let slot = &mut self.nodes[i as usize];
                    slot.sync_armed = false;
                    slot.flush(usize::MAX);
                }
            }
            let pending = self.queue.len() as u64;
            if pending > self.stats.peak_pending {
                self.stats.peak_pending = pending;
            }
        }
    }

    fn is_quiet(&self) -> bool {
        self.clients_busy == 0
            && self.significant_in_flight == 0
            && self.requests.is_empty()
            && self.replies.is_empty()
            && self
                .nodes
                .iter()
                .all(|slot| slot.removed || slot.node.as_ref().is_some_and(Node::is_quiet))
    }

    /// Calls a handler on a node that is up, then applies the effects it asked for.
    #[inline]
    fn dispatch(
        &mut self,
        id: NodeId,
        handler: impl FnOnce(&mut P::Node, &mut Context<'_, P::Node>),
    ) {
        let slot = &mut self.nodes[id.index()];
        let Some(node) = slot.node.as_mut() else {
            return;
        };
        let mut effects = std::mem::take(&mut self.effects);
        let mut ctx = crate::node::Context {
            id,
            local_now: self.now.offset_by(slot.clock_offset_micros),
            incarnation: slot.incarnation,
            format_version: slot.format_version,
            members: &self.members,
            rng: &mut slot.rng,
            timers: &mut self.timers,
            effects: &mut effects,
            values: &mut self.history.values,
        };
        handler(node, &mut ctx);
        for effect in effects.drain(..) {
            self.apply(id, effect);
        }
        self.effects = effects;
    }

    #[inline]
    fn apply(&mut self, from: NodeId, effect: Effect<P::Node>) {
        match effect {
            Effect::Send { to, msg } => self.send(from, to, msg),
            Effect::Timer { id, after } => self.queue.push(self.now + after, Scheduled::Timer(id)),
            Effect::Reply {
                request,
                reply,
                token,
            } => {
                let delay = self.network.client_delay(from, &mut self.client_rng);
                let slot = self.replies.insert(ReplyEnvelope {
                    from,
                    request,
                    reply,
                    token,
                });
                self.queue.push(self.now + delay, Scheduled::Reply(slot));
            }
            Effect::Persist(record) => self.write_storage(from, StorageOp::Append(record)),
            Effect::Checkpoint(records) => self.write_storage(from, StorageOp::Replace(records)),
            Effect::Sync => self.nodes[from.index()].flush(usize::MAX),
            Effect::Role(kind) => self.record_role(from, kind),
            Effect::Count(event, amount) => *self.counters.entry(event).or_insert(0) += amount,
            Effect::Lag(lag) => self.lag.entry(from).or_default().push((self.now, lag)),
        }
    }

    /// A write to `node`'s storage: durable at once, or at its next periodic flush.
    fn write_storage(&mut self, node: NodeId, op: StorageOp<<P::Node as Node>::Record>) {
        let slot = &mut self.nodes[node.index()];
        match slot.sync {
            SyncPolicy::Always => {
                slot.unsynced.push(op);
                slot.flush(usize::MAX);
            }
            SyncPolicy::Every(interval) => {
                slot.unsynced.push(op);
                if !slot.sync_armed {
                    slot.sync_armed = true;
                    // Flushes happen on a fixed grid of the node's interval.
                    let period = interval.as_micros().max(1);
                    let next = (self.now.as_micros() / period + 1) * period;
                    self.queue
                        .push(SimTime::from_micros(next), Scheduled::Sync(node.0.into()));
                }
            }
        }
    }

    fn record_role(&mut self, node: NodeId, kind: RoleKind) {
        match kind {
            RoleKind::Leader { .. } => self.nodes[node.index()].is_leader = true,
            RoleKind::NotLeader => self.nodes[node.index()].is_leader = false,
            RoleKind::AcceptedWrite { .. } => {}
        }
        if let Some(trace) = &mut self.trace {
            trace.record(
                self.now,
                TraceKind::Role {
                    node,
                    what: format!("{kind:?}"),
                },
            );
        }
        self.roles.push(RoleEvent {
            time_ms: self.now.as_ms(),
            node,
            kind,
        });
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: <P::Node as Node>::Msg) {
        // A removed node may still be addressed by a peer that has not noticed yet; the
        // message is lost at delivery like one to a crashed node.
        assert!(
            to.index() < self.nodes.len(),
            "{from} sent a message to {to}, which does not exist"
        );
        self.stats.sent += 1;
        let trace_id = self.next_trace_id;
        self.next_trace_id += 1;
        if let Some(trace) = &mut self.trace
            && trace.wants(self.now)
        {
            trace.record(
                self.now,
                TraceKind::Send {
                    id: trace_id,
                    from,
                    to,
                    msg: format!("{msg:?}"),
                    background: <P::Node as Node>::is_background(&msg),
                },
            );
        }
        match self.network.route(from, to) {
            Verdict::Drop(reason) => self.count_drop(trace_id, from, to, reason),
            Verdict::Deliver {
                delay,
                duplicate,
                epoch,
                corrupt,
            } => {
                let incarnation = self.nodes[to.index()].incarnation;
                let significant = !<P::Node as Node>::is_background(&msg);
                if let Some(extra) = duplicate {
                    self.stats.duplicated += 1;
                    let copy = Envelope {
                        from,
                        to,
                        epoch,
                        incarnation,
                        sent_at: self.now,
                        trace_id,
                        corrupt,
                        msg: msg.clone(),
                    };
                    let slot = self.messages.insert(copy);
                    self.significant_in_flight += u64::from(significant);
                    self.queue.push(self.now + extra, Scheduled::Deliver(slot));
                }
                let envelope = Envelope {
                    from,
                    to,
                    epoch,
                    incarnation,
                    sent_at: self.now,
                    trace_id,
                    corrupt,
                    msg,
                };
                let slot = self.messages.insert(envelope);
                self.significant_in_flight += u64::from(significant);
                self.queue.push(self.now + delay, Scheduled::Deliver(slot));
            }
        }
    }

    fn count_drop(&mut self, trace_id: u64, from: NodeId, to: NodeId, reason: DropReason) {
        match reason {
            DropReason::Cut => self.stats.dropped_cut += 1,
            DropReason::Random => self.stats.dropped_random += 1,
            DropReason::Crashed => self.stats.dropped_crashed += 1,
            DropReason::Corrupt => self.stats.dropped_corrupt += 1,
        }
        if let Some(trace) = &mut self.trace {
            trace.record(
                self.now,
                TraceKind::Drop {
                    id: trace_id,
                    from,
                    to,
                    reason: reason.as_str(),
                },
            );
        }
    }

    fn deliver(&mut self, slot: u32) {
        let (from, to) = {
            let envelope = self
                .messages
                .get(slot)
                .expect("a queued message is in the slab");
            (envelope.from, envelope.to)
        };
        if self.nodes[to.index()].paused {
            return self.defer(to, Scheduled::Deliver(slot));
        }
        if self.network.is_held(from, to) {
            // A clogged link: the message waits until the hold ends.
            self.stats.held += 1;
            return self.held.push(slot);
        }
        let envelope = self.messages.remove(slot);
        if !<P::Node as Node>::is_background(&envelope.msg) {
            self.significant_in_flight -= 1;
        }
        debug_assert!(envelope.sent_at <= self.now);
        if !self.network.survives(from, to, envelope.epoch) {
            return self.count_drop(envelope.trace_id, from, to, DropReason::Cut);
        }
        let target = &self.nodes[to.index()];
        if target.node.is_none() || target.incarnation != envelope.incarnation {
            return self.count_drop(envelope.trace_id, from, to, DropReason::Crashed);
        }
        if envelope.corrupt {
            return self.count_drop(envelope.trace_id, from, to, DropReason::Corrupt);
        }
        self.stats.delivered += 1;
        if let Some(trace) = &mut self.trace {
            trace.record(
                self.now,
                TraceKind::Deliver {
                    id: envelope.trace_id,
                    from,
                    to,
                },
            );
        }
        let msg = envelope.msg;
        self.dispatch(to, |node, ctx| node.on_message(ctx, from, msg));
    }

    fn fire_timer(&mut self, id: TimerId) {
        if let Some(node) = self.timers.node_of(id)
            && self.nodes[node.index()].paused
        {
            return self.defer(node, Scheduled::Timer(id));
        }
        let Some(pending) = self.timers.take(id) else {
            return;
        };
        let slot = &self.nodes[pending.node.index()];
        if slot.node.is_none() || slot.incarnation != pending.incarnation {
            return;
        }
        self.stats.timers += 1;
        if let Some(trace) = &mut self.trace
            && trace.wants(self.now)
        {
            trace.record(
                self.now,
                TraceKind::Timer {
                    node: pending.node,
                    timer: format!("{:?}", pending.timer),
                },
            );
        }
        let timer = pending.timer;
        self.dispatch(pending.node, |node, ctx| node.on_timer(ctx, timer));
    }

    // ----- clients -------------------------------------------------------------------

    fn issue(&mut self, p: usize) {
        if self.workload_over {
            return;
        }
        let client = &mut self.clients[p];
        assert!(
            client.in_flight.is_none(),
            "process {p} issued with an operation in flight"
        );
        let plan = client.next.take().expect("an issued operation was planned");
        let op = client::operation(&plan, &mut self.next_value, &self.elements);
        let target = {
            let view = ClientView {
                process: client.process,
                reads_from: &self.config.clients.reads_from,
                token: &client.token,
                redirect_hint: client.redirect_hint,
                members: &self.members,
                up: &self.up,
            };
            self.protocol.route(&view, &op, &mut client.route)
        };
        assert!(
            self.members.contains(&target),
            "route chose {target}, which is not a member"
        );
        let invoke = u32::try_from(self.history.events.len()).expect("fewer than 2^32 events");
        let process = ProcessId(p as u32);
        let (f, key, value) = invocation(&op);
        self.history.push(Event {
            time_ms: self.now.as_ms(),
            process,
            key,
            node: Some(target),
            kind: EventType::Invoke,
            f,
            value,
        });
        let id = RequestId { process, invoke };
        self.clients[p].in_flight = Some(InFlight {
            id,
            op,
            target,
            redirects: 0,
        });
        self.clients_busy += 1;
        // A constant delay from now: timeouts come in time order.
        self.queue.push_in_order(
            self.now + self.config.clients.timeout,
            Scheduled::Timeout {
                process: p as u32,
                invoke,
            },
        );
        self.send_request(p, target);
    }

    /// Sends the in-flight operation of process `p` to `target`; a node that is down
    /// refuses the connection, which certainly did not perform the operation.
    fn send_request(&mut self, p: usize, target: NodeId) {
        let client = &mut self.clients[p];
        let in_flight = client
            .in_flight
            .as_mut()
            .expect("an operation is in flight");
        in_flight.target = target;
        if !self.up[target.index()] {
            return self.complete(p, target, Reply::Fail);
        }
        let request = Request {
            id: in_flight.id,
            op: in_flight.op,
            token: client.token.clone(),
        };
        let delay = self.network.client_delay(target, &mut self.client_rng);
        let incarnation = self.nodes[target.index()].incarnation;
        let slot = self.requests.insert(RequestEnvelope {
            to: target,
            incarnation,
            request,
        });
        self.queue.push(self.now + delay, Scheduled::Request(slot));
    }

    fn arrive_request(&mut self, slot: u32) {
        let to = self
            .requests
            .get(slot)
            .expect("a queued request is in the slab")
            .to;
        if self.nodes[to.index()].paused {
            return self.defer(to, Scheduled::Request(slot));
        }
        let RequestEnvelope {
            to,
            incarnation,
            request,
        } = self.requests.remove(slot);
        let target = &self.nodes[to.index()];
        if target.node.is_none() || target.incarnation != incarnation {
            // Lost with the crash; the client will time out.
            return;
        }
        self.dispatch(to, |node, ctx| node.on_request(ctx, request));
    }

    fn arrive_reply(&mut self, slot: u32) {
        let ReplyEnvelope {
            from,
            request,
            reply,
            token,
        } = self.replies.remove(slot);
        let p = request.process.0 as usize;
        let current = self.clients[p].in_flight.map(|f| f.id);
        if current != Some(request) {
            // A late reply to an operation that already timed out.
            return;
        }
        if let Some(token) = token {
            self.protocol.absorb(&mut self.clients[p].token, token);
        }
        if let Reply::Redirect(to) = reply {
            let in_flight = self.clients[p].in_flight.as_mut().expect("checked above");
            if in_flight.redirects < MAX_REDIRECTS && self.members.contains(&to) {
                in_flight.redirects += 1;
                self.clients[p].redirect_hint = Some(to);
                return self.send_request(p, to);
            }
            return self.complete(p, from, Reply::Fail);
        }
        self.complete(p, from, reply);
    }

    fn timeout(&mut self, p: usize, invoke: u32) {
        let Some(in_flight) = self.clients[p].in_flight else {
            return;
        };
        if in_flight.id.invoke != invoke {
            return;
        }
        self.complete(p, in_flight.target, Reply::Unknown);
    }

    /// Records the completion of process `p`'s operation and schedules its next one.
    fn complete(&mut self, p: usize, node: NodeId, reply: Reply) {
        let in_flight = self.clients[p]
            .in_flight
            .take()
            .expect("an operation is in flight");
        self.clients_busy -= 1;
        let (f, key, invoked) = invocation(&in_flight.op);
        let set = matches!(self.config.clients.workload, Workload::Set { .. });
        let (kind, value) = match reply {
            Reply::Read(values) if f == Function::Read => {
                let value = match values.as_slice() {
                    // A set read always lists its elements, even none or one.
                    _ if set => self.history.many(&values),
                    [] => Val::Null,
                    [one] => Val::One(*one),
                    many => self.history.many(many),
                };
                (EventType::Ok, value)
            }
            Reply::Count(total) if f == Function::Read => {
                let total = self.history.values.intern(&serde_json::Value::from(total));
                (EventType::Ok, total.map_or(Val::Null, Val::One))
            }
            Reply::Written(value) if f == Function::Write => (EventType::Ok, Val::One(value)),
            Reply::Done if f.is_crdt_update() => (EventType::Ok, invoked),
            Reply::Read(_) | Reply::Written(_) | Reply::Count(_) | Reply::Done => {
                panic!("{node} answered a {} with {reply:?}", f.as_str())
            }
            Reply::Fail | Reply::Redirect(_) => (EventType::Fail, invoked),
            Reply::Unknown => (EventType::Info, invoked),
        };
        self.history.push(Event {
            time_ms: self.now.as_ms(),
            process: ProcessId(p as u32),
            key,
            node: Some(node),
            kind,
            f,
            value,
        });
        self.plan_next(p);
    }

    /// Draws process `p`'s next operation and schedules it after its think time.
    fn plan_next(&mut self, p: usize) {
        let plan = self.clients[p].plan(&self.config.clients);
        self.clients[p].next = Some(plan);
        self.queue
            .push(self.now + plan.think, Scheduled::Issue(p as u32));
    }

    // ----- faults --------------------------------------------------------------------

    fn trace_fault(&mut self, what: String) {
        if let Some(trace) = &mut self.trace {
            trace.record(self.now, TraceKind::Fault { what });
        }
    }

    fn start_fault(&mut self, i: usize) {
        if self.workload_over {
            return;
        }
        let fault = self.config.faults[i].clone();
        self.trace_fault(fault.action.describe());
        let mut cut = Vec::new();
        let mut held = Vec::new();
        let open_hold = matches!(
            fault.action,
            FaultAction::Hold { .. } | FaultAction::HoldNode(_)
        );
        match fault.action {
            FaultAction::Crash(node) => self.crash(node),
            FaultAction::Restart(node) => self.restart(node),
            FaultAction::Upgrade(node) => {
                self.nodes[node.index()].format_version += 1;
                if self.up[node.index()] {
                    self.crash(node);
                    self.restart(node);
                }
            }
            FaultAction::AddNode(node) => self.add_node(node),
            FaultAction::RemoveNode(node) => {
                self.crash(node);
                self.nodes[node.index()].removed = true;
                self.members.retain(|&m| m != node);
            }
            FaultAction::Partition(groups) => {
                for (g, group) in groups.iter().enumerate() {
                    for other in groups.iter().skip(g + 1) {
                        for &a in group {
                            for &b in other {
                                cut.push((a, b));
                                cut.push((b, a));
                            }
                        }
                    }
                }
            }
            FaultAction::Isolate(node) => {
                for &other in &self.members {
                    if other != node {
                        cut.push((node, other));
                        cut.push((other, node));
                    }
                }
            }
            FaultAction::LinkDown { from, to } => cut.push((from, to)),
            FaultAction::Lag { node, extra } => self.network.set_lag(node, extra, true),
            FaultAction::ClockSkew {
                node,
                offset_micros,
            } => {
                self.nodes[node.index()].clock_offset_micros = offset_micros;
            }
            FaultAction::Pause(node) => self.pause(node),
            FaultAction::Resume(node) => self.resume(node),
            FaultAction::Hold { from, to } => held.push((from, to)),
            FaultAction::HoldNode(node) => {
                for &other in &self.members {
                    if other != node {
                        held.push((node, other));
                        held.push((other, node));
                    }
                }
            }
            FaultAction::Release { from, to } => {
                self.release_holds(|a| *a == FaultAction::Hold { from, to });
            }
            FaultAction::ReleaseNode(node) => {
                self.release_holds(|a| *a == FaultAction::HoldNode(node));
            }
            FaultAction::Reorder { extra_max } => self.network.set_reorder(extra_max, true),
            FaultAction::Swizzle(ref nodes) => {
                let links = FaultAction::swizzle_links(nodes).len() as u64;
                let until = fault.until.expect("a swizzle is a window");
                let step = until.since(fault.at).as_micros() / (2 * links).max(1);
                for k in 0..2 * links {
                    let at = fault.at + SimDuration::from_micros(k * step);
                    self.queue.push(
                        at,
                        Scheduled::Swizzle {
                            fault: i as u32,
                            step: k as u32,
                        },
                    );
                }
            }
        }
        for &(a, b) in &held {
            self.network.set_hold(a, b, true);
        }
        for &(a, b) in &cut {
            self.network.set_cut(a, b, true);
        }
        if fault.until.is_some() || open_hold {
            // A hold without `until_ms` stays active until a `release` (or the heal).
            self.active[i] = Some((cut, held));
        }
        if let Some(until) = fault.until {
            self.queue.push(until, Scheduled::FaultEnd(i as u32));
        }
    }

    /// Ends every active fault whose action `matches`.
    fn release_holds(&mut self, matches: impl Fn(&FaultAction) -> bool) {
        for j in 0..self.active.len() {
            if self.active[j].is_some() && matches(&self.config.faults[j].action) {
                self.end_fault(j);
            }
        }
    }

    fn end_fault(&mut self, i: usize) {
        let Some((cut, held)) = self.active[i].take() else {
            return;
        };
        let action = self.config.faults[i].action.clone();
        self.trace_fault(format!("end {}", action.describe()));
        for &(a, b) in &cut {
            self.network.set_cut(a, b, false);
        }
        for &(a, b) in &held {
            self.network.set_hold(a, b, false);
        }
        if !held.is_empty() {
            self.release_held();
        }
        match action {
            FaultAction::Lag { node, extra } => self.network.set_lag(node, extra, false),
            FaultAction::ClockSkew { node, .. } => self.nodes[node.index()].clock_offset_micros = 0,
            FaultAction::Pause(node) => self.resume(node),
            FaultAction::Reorder { extra_max } => self.network.set_reorder(extra_max, false),
            _ => {}
        }
    }

    /// One step of a swizzle: hold the next link, or release the latest held one.
    fn swizzle(&mut self, i: usize, step: usize) {
        let FaultAction::Swizzle(nodes) = &self.config.faults[i].action else {
            unreachable!("swizzle steps belong to swizzle faults")
        };
        let links = FaultAction::swizzle_links(nodes);
        let Some((_, held)) = &mut self.active[i] else {
            return; // The fault already ended (or the workload did).
        };
        if step < links.len() {
            let (a, b) = links[step];
            held.push((a, b));
            self.network.set_hold(a, b, true);
        } else if let Some((a, b)) = held.pop() {
            self.network.set_hold(a, b, false);
            self.release_held();
        }
    }

    /// Keeps an event for a paused node until it resumes.
    fn defer(&mut self, node: NodeId, event: Scheduled) {
        self.stats.deferred += 1;
        self.nodes[node.index()].deferred.push(event);
    }

    fn pause(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        if slot.node.is_some() {
            slot.paused = true;
        }
    }

    /// Resumes a paused node: everything that waited happens now, in its original order.
    fn resume(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        if !slot.paused {
            return;
        }
        slot.paused = false;
        for event in std::mem::take(&mut slot.deferred) {
            self.queue.push(self.now, event);
        }
    }

    /// Sends on every held message whose link is no longer held, each with a fresh delay,
    /// so they arrive late and in a new order.
    fn release_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        for slot in held {
            let (from, to) = {
                let envelope = self
                    .messages
                    .get(slot)
                    .expect("a held message is in the slab");
                (envelope.from, envelope.to)
            };
            if self.network.is_held(from, to) {
                self.held.push(slot);
            } else {
                let delay = self.network.release_delay(from, to);
                self.queue.push(self.now + delay, Scheduled::Deliver(slot));
            }
        }
    }

    fn crash(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        if slot.node.take().is_none() {
            return;
        }
        slot.incarnation += 1;
        // What waited for a paused node is lost with it (the messages and requests are
        // dropped when they are handled, as sent to an old incarnation; timers too).
        slot.paused = false;
        for event in std::mem::take(&mut slot.deferred) {
            self.queue.push(self.now, event);
        }
        // Unsynced storage: an arbitrary prefix of it made it to disk.
        if !slot.unsynced.is_empty() {
            let total = slot.unsynced.len();
            let keep = self.storage_rng.below(total as u64 + 1) as usize;
            slot.flush(keep);
            self.stats.records_lost += (total - keep) as u64;
        }
        self.up[node.index()] = false;
        if let Some(trace) = &mut self.trace {
            trace.record(self.now, TraceKind::Down { node });
        }
        if slot.is_leader {
            self.record_role(node, RoleKind::NotLeader);
        }
    }

    fn restart(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        if slot.node.is_some() || slot.removed {
            return;
        }
        slot.node = Some(self.protocol.create(node, &slot.storage));
        self.up[node.index()] = true;
        if let Some(trace) = &mut self.trace {
            trace.record(self.now, TraceKind::Up { node });
        }
        self.dispatch(node, |n, ctx| n.on_start(ctx, Start::Restart));
    }

    fn add_node(&mut self, node: NodeId) {
        assert_eq!(
            node.index(),
            self.nodes.len(),
            "add_node must bring in the next id"
        );
        let sync = self
            .config
            .sync
            .get(node.index())
            .copied()
            .unwrap_or_default();
        let created = self.protocol.create(node, &[]);
        self.nodes
            .push(NodeSlot::new(created, self.config.seed, node, sync));
        self.members.push(node);
        self.up.push(true);
        if let Some(trace) = &mut self.trace {
            trace.record(self.now, TraceKind::Up { node });
        }
        self.network.resize(self.nodes.len());
        self.history.names.node(&node.to_string());
        self.dispatch(node, |n, ctx| n.on_start(ctx, Start::Join));
    }

    fn end_workload(&mut self) {
        self.trace_fault("workload ends: heal every fault, restart every node".to_owned());
        self.workload_over = true;
        self.settle_deadline = self.now + self.config.limits.settle;
        for i in 0..self.active.len() {
            self.end_fault(i);
        }
        self.network.heal();
        self.release_held();
        for slot in &mut self.nodes {
            slot.clock_offset_micros = 0;
        }
        for i in 0..self.nodes.len() {
            self.resume(NodeId(i as u16));
        }
        for i in 0..self.nodes.len() {
            self.restart(NodeId(i as u16));
        }
    }
}

/// The history `f`, key and invocation value of an operation.
fn invocation(op: &Op) -> (Function, KeyId, Val) {
    match *op {
        Op::Read { key } => (Function::Read, key, Val::Null),
        Op::Write { key, value, .. } => (Function::Write, key, Val::One(value)),
        Op::Increment { key, amount } => (Function::Increment, key, Val::Int(i64::from(amount))),
        Op::Add { key, element } => (Function::Add, key, Val::One(element)),
        Op::Remove { key, element } => (Function::Remove, key, Val::One(element)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_events_stay_small() {
        assert!(
            std::mem::size_of::<Scheduled>() <= 12,
            "{}",
            std::mem::size_of::<Scheduled>()
        );
    }
}
