//! `single-leader`: leader-based replication, as *Designing Data-Intensive Applications*
//! chapter 5 describes it.
//!
//! One node, the leader, orders every write in a replication log; followers apply the
//! log in order. What the modes, log formats and failover settings do, and the anomalies
//! each is expected to show:
//!
//! - `async` acknowledges after the leader's durable write: follower reads can be stale
//!   (`stale_read`, `read_your_writes`, `monotonic_read`, `consistent_prefix`), and a
//!   failover loses the writes the old leader had not replicated (`lost_write`).
//! - `sync` acknowledges once every follower has the entry: no lost writes on failover and
//!   no stale follower reads, but one slow or dead follower blocks every write
//!   (`unavailable`).
//! - `semi-sync` waits for one synchronous follower and makes another one synchronous
//!   when it stops answering: writes stay available with one copy guaranteed.
//! - `chain` passes entries down a chain of live nodes and acknowledges from the tail.
//! - `logical` logs carry row values; `statement` logs carry statements that replicas
//!   re-execute, so nondeterministic statements make replicas diverge (`divergence`,
//!   `phantom_read`); `wal` logs are physical and a follower on another storage-format
//!   version (after `upgrade`) cannot apply them.
//! - New followers (`add_node`) start from a consistent snapshot tied to a log position
//!   and then catch up from the log; a follower that restarts catches up from its last
//!   position, or from a snapshot when the leader has discarded that part of its log.
//! - Automatic failover (heartbeats, timeout, election of the most up-to-date follower,
//!   redirects, the old leader rejoining as a follower); `fencing: false` lets an old
//!   leader go on accepting writes: `split_brain`.
//!
//! Modules: [`config`] (settings), [`log`] (the replication log), [`msg`] (messages,
//! durable records, timers, client token), [`replica`] (the state machine).
#![warn(missing_docs)]

pub mod config;
pub mod log;
pub mod msg;
pub mod replica;

use repsim_sim::{ClientView, NodeId, Op, Protocol, SimRng};

pub use config::{
    Config, DEFAULT_LOG_RETENTION, DEFAULT_SHIP_INTERVAL, Failover, LogFormat, PlantedBug,
    Replication,
};
pub use msg::Token;
pub use replica::Replica;

/// The protocol: a configuration shared by every node.
#[derive(Clone, Debug)]
pub struct SingleLeader {
    /// The configuration.
    pub config: Config,
}

impl Protocol for SingleLeader {
    type Node = Replica;

    fn create(&self, _id: NodeId, storage: &[msg::Record]) -> Replica {
        Replica::recover(self.config.clone(), storage)
    }

    /// Clients connect to any node that is up (as through a load balancer): writes and
    /// `leader` reads reach the leader through the follower's redirect, which the client
    /// follows within the same operation. A client therefore writes wherever the node it
    /// reached believes the leader is, which is what lets an old leader that still
    /// believes it leads (without fencing) go on taking writes. `sticky` reads go to the
    /// client's own replica; other reads to a random node that is up, which serves them,
    /// or redirects them to the leader when it is not fresh enough for the client's
    /// session.
    fn route(&self, client: &ClientView<'_, Token>, op: &Op, rng: &mut SimRng) -> NodeId {
        if !op.is_write() && client.reads_from == "sticky" {
            return client.sticky_node();
        }
        let up: Vec<NodeId> = client
            .members
            .iter()
            .copied()
            .filter(|n| client.up.get(n.index()).copied().unwrap_or(false))
            .collect();
        if up.is_empty() {
            *rng.pick(client.members)
        } else {
            *rng.pick(&up)
        }
    }

    fn absorb(&self, session: &mut Token, reply: Token) {
        session.write_lsn = session.write_lsn.max(reply.write_lsn);
        session.read_lsn = session.read_lsn.max(reply.read_lsn);
    }
}
