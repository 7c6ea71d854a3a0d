//! `multi-leader`: multi-leader replication, as *Designing Data-Intensive Applications*
//! chapter 5 describes it.
//!
//! Every node is a leader: it accepts writes, makes them durable, acknowledges them at
//! once and replicates them asynchronously to the other leaders along the `topology`
//! (`all-to-all`, `circular` or `star`). Each write carries the ids of the leaders it
//! passed through, and no leader passes a write to one of them or takes in a copy that
//! names itself, so writes never loop. Replication survives crashes, drops and
//! partitions: per link, a leader resends what the next leader has not acknowledged, and
//! receivers deduplicate. Concurrent writes to one key (neither leader had seen the
//! other's) are detected with per-key version vectors and resolved as `conflict` says;
//! `causality: version-vectors` also makes every leader apply a write only after the
//! writes its origin had applied.
//!
//! Guarantees and the anomalies each setting is expected to show:
//!
//! - **Availability.** Every leader that is up accepts reads and writes, whatever the
//!   network does: partitions and crashed peers cost no `unavailable` operation. Only
//!   operations in flight at a leader when it crashes, those of clients that stick to a
//!   crashed leader, and those that reach a joining leader before it has the cluster's
//!   writes fail.
//! - **Convergence.** Once the run goes quiet every leader holds the same value for every
//!   key, in every mode (`divergence` 0): a key's state is a function of the set of
//!   writes applied, not of their order (see [`register`], and for `crdt` the updates'
//!   union, see [`replica`]).
//! - **Staleness.** Replication is asynchronous: reads elsewhere than the writing leader
//!   can be stale (`stale_read`, and with `reads_from: any` also `read_your_writes` and
//!   `monotonic_read`). In `circular` and `star`, a crashed leader in the path stops the
//!   flow past it until it restarts; `all-to-all` routes around it.
//! - **`lww`** keeps the write with the latest timestamp of the writing leader's local
//!   clock. With synchronised clocks that only drops writes concurrent with a later one;
//!   a leader whose clock is behind (`clock_skew`) loses even writes that came later in
//!   real time, and those it made after seeing the value it overwrote: `lost_write`.
//! - **`replica-priority`** keeps, among concurrent writes, the one accepted by the
//!   lowest node id, even when the other came later in real time: `lost_write`.
//! - **`merge`** and **`siblings`** keep every concurrent value (reads return the sorted
//!   list): no acknowledged write is lost (`lost_write` 0).
//! - **`crdt`** (the `counter` and `set` workloads) replicates each increment, add and
//!   remove as an update that merges with every other instead of competing with it: a
//!   counter is the sum of the increments a leader holds; a set is add-wins (a remove
//!   takes away only the adds its leader had seen). Leaders make updates durable before
//!   acknowledging them and resend them until acknowledged, so no acknowledged increment
//!   or add is lost under any schedule of crashes, restarts, partitions, drops, delays,
//!   pauses or clock skew (`lost_increment` and `lost_add` 0), and every leader ends with
//!   the same totals and elements (`divergence` 0). Two exceptions, as for registers:
//!   storage that syncs only periodically (`storage.sync_interval_ms`), and a leader
//!   removed before its updates left it (see [`replica`]). Reads elsewhere can still be
//!   stale, and an element removed at one leader reappears there when an add the remove
//!   had not seen arrives. `lww` and `replica-priority` would keep only one of two
//!   concurrent read-modify-writes of a counter or a set, so those workloads need `crdt`.
//! - **`home_leader`** routes each key's reads and writes to one leader (conflict
//!   avoidance): no conflicts and, from a client's point of view, single-leader
//!   behaviour, as long as that leader is up.
//! - **`causality: none`** applies writes in arrival order, so a write can overtake one
//!   it depends on (all-to-all, independent message delays): `consistent_prefix`.
//!   **`version-vectors`** holds a write until its dependencies are applied; readers that
//!   stay on one leader (`reads_from: sticky`) then never see an answer before its
//!   question. Clients that hop between leaders (`any`) still can: causal
//!   delivery orders replication, not sessions.
//!
//! Modules: [`config`] (settings), [`version`] (dots, version vectors), [`register`] (one
//! key's versions and conflict resolution), [`topology`] (who passes writes to whom),
//! [`link`] (acknowledgements and retransmission), [`msg`] (messages, durable records,
//! timers), [`replica`] (the state machine).
#![warn(missing_docs)]

pub mod config;
pub mod link;
pub mod msg;
pub mod register;
pub mod replica;
pub mod topology;
pub mod version;

use repsim_sim::{ClientView, NodeId, Op, Protocol, SimRng};

pub use config::{Causality, Config, Conflict, Topology};
pub use replica::Replica;

/// The protocol: a configuration shared by every leader.
#[derive(Clone, Debug)]
pub struct MultiLeader {
    /// The configuration.
    pub config: Config,
}

impl Protocol for MultiLeader {
    type Node = Replica;

    fn create(&self, id: NodeId, storage: &[msg::Record]) -> Replica {
        Replica::recover(self.config.clone(), id, storage)
    }

    /// Where a client sends an operation:
    ///
    /// - With `home_leader`, every read and write of key `k` goes to its home leader,
    ///   `members[k % members.len()]`, like a user who always uses their home datacenter.
    ///   While the home is down, to the next member (in id order) that is up: writes stay
    ///   available, and conflicts become possible again, as the book warns for a failed
    ///   datacenter.
    /// - Otherwise `sticky` clients send reads and writes to their own leader (their
    ///   nearest datacenter, or their own device), failing while it is down; `any`
    ///   clients pick a random leader that is up for each operation.
    fn route(&self, client: &ClientView<'_, ()>, op: &Op, rng: &mut SimRng) -> NodeId {
        let members = client.members;
        let up = |n: NodeId| client.up.get(n.index()).copied().unwrap_or(false);
        if self.config.home_leader {
            let home = op.key().index() % members.len();
            return (0..members.len())
                .map(|i| members[(home + i) % members.len()])
                .find(|&n| up(n))
                .unwrap_or(members[home]);
        }
        if client.reads_from == "sticky" {
            return client.sticky_node();
        }
        let live: Vec<NodeId> = members.iter().copied().filter(|&n| up(n)).collect();
        if live.is_empty() {
            *rng.pick(members)
        } else {
            *rng.pick(&live)
        }
    }
}

#[cfg(test)]
mod tests {
    use repsim_sim::{KeyId, ProcessId};

    use super::*;

    fn protocol(home_leader: bool) -> MultiLeader {
        MultiLeader {
            config: Config {
                topology: Topology::AllToAll,
                conflict: Conflict::Lww,
                causality: Causality::None,
                home_leader,
                keys: 8,
                reads_from: "any".to_owned(),
                workload: repsim_sim::Workload::Register,
            },
        }
    }

    fn route(protocol: &MultiLeader, reads_from: &str, up: &[bool], key: u32, seed: u64) -> NodeId {
        let members: Vec<NodeId> = (0..up.len() as u16).map(NodeId).collect();
        let view = ClientView {
            process: ProcessId(3),
            reads_from,
            token: &(),
            redirect_hint: None,
            members: &members,
            up,
        };
        let op = Op::Read { key: KeyId(key) };
        protocol.route(&view, &op, &mut SimRng::stream(seed, "test"))
    }

    #[test]
    fn home_leader_routes_each_key_to_its_home_or_the_next_leader_up() {
        let home = protocol(true);
        assert_eq!(route(&home, "any", &[true; 3], 4, 0), NodeId(1));
        assert_eq!(route(&home, "sticky", &[true; 3], 5, 0), NodeId(2));
        assert_eq!(route(&home, "any", &[true, false, true], 4, 0), NodeId(2));
        assert_eq!(route(&home, "any", &[true, false, false], 4, 0), NodeId(0));
    }

    #[test]
    fn clients_stick_to_their_leader_or_pick_one_that_is_up() {
        let plain = protocol(false);
        let sticky: Vec<NodeId> = (0..8)
            .map(|key| route(&plain, "sticky", &[true, false, true], key, key.into()))
            .collect();
        assert!(sticky.windows(2).all(|w| w[0] == w[1]), "{sticky:?}");
        for seed in 0..20 {
            assert_ne!(
                route(&plain, "any", &[true, false, true], 0, seed),
                NodeId(1)
            );
        }
    }
}
