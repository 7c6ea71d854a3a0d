//! A fake context for unit tests of protocol handlers: call a handler with
//! [`TestContext::ctx`], then assert on the effects it asked for.
//!
//! ```
//! # use repsim_sim::testing::TestContext;
//! # use repsim_sim::{NodeId, SimTime};
//! # fn demo<N: repsim_sim::Node>(node: &mut N, msg: N::Msg) {
//! let mut test = TestContext::<N>::new(NodeId(0), 3);
//! test.now = SimTime::from_micros(5_000);
//! node.on_message(&mut test.ctx(), NodeId(1), msg);
//! let effects = test.take_effects();
//! # }
//! ```

use repsim_history::{NodeId, ValueTable};

use crate::node::{Context, Effect, Node, TimerId, TimerSlab};
use crate::rng::SimRng;
use crate::time::SimTime;

/// Owns everything a [`Context`] borrows.
pub struct TestContext<N: Node> {
    /// The node's id.
    pub id: NodeId,
    /// The node's local clock.
    pub now: SimTime,
    /// Storage format version.
    pub format_version: u32,
    /// Cluster members.
    pub members: Vec<NodeId>,
    /// The node's random stream.
    pub rng: SimRng,
    /// Timers set.
    pub timers: TimerSlab<N::Timer>,
    /// Values derived by the node.
    pub values: ValueTable,
    effects: Vec<Effect<N>>,
}

impl<N: Node> TestContext<N> {
    /// A context for node `id` in a cluster of `size` nodes, at time zero.
    pub fn new(id: NodeId, size: u16) -> TestContext<N> {
        TestContext {
            id,
            now: SimTime::ZERO,
            format_version: 1,
            members: (0..size).map(NodeId).collect(),
            rng: SimRng::stream(0, "test"),
            timers: TimerSlab::default(),
            values: ValueTable::default(),
            effects: Vec::new(),
        }
    }

    /// A context to hand to one handler call.
    pub fn ctx(&mut self) -> Context<'_, N> {
        Context {
            id: self.id,
            local_now: self.now,
            incarnation: 0,
            format_version: self.format_version,
            members: &self.members,
            rng: &mut self.rng,
            timers: &mut self.timers,
            effects: &mut self.effects,
            values: &mut self.values,
        }
    }

    /// The effects asked for since the last call, in order.
    pub fn take_effects(&mut self) -> Vec<Effect<N>> {
        std::mem::take(&mut self.effects)
    }

    /// The tag of a timer that is still pending.
    pub fn timer(&self, id: TimerId) -> Option<&N::Timer> {
        self.timers.get(id)
    }
}
