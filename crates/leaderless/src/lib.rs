//! `leaderless`: Dynamo-style replication with quorums, as *Designing Data-Intensive
//! Applications* chapter 5 and the Dynamo paper (DeCandia et al., SOSP 2007) describe it.
//!
//! **The algorithm.** A consistent-hashing ring places every key on `n` home replicas
//! (`n` may be smaller than the cluster). There is no leader: the node a client reaches
//! coordinates its operation, whether or not it is a replica of the key. It sends a write
//! to all `n` home replicas and answers once `w` have made it durable; it sends a read to
//! all `n` and answers with the newest version among the first `r` answers. Versions are
//! last-write-wins timestamps from the coordinator's clock (`lww`), or dotted version
//! vectors (`version-vectors`) that detect concurrent writes and keep them as siblings; a
//! read returns every sibling, and the client's next write of the key carries the causal
//! context of that read and so supersedes them. Stale replicas are brought up to date by
//! read repair (a read writes the newest version back to the replicas that answered
//! with older ones), by anti-entropy (a background exchange of Merkle-tree digests that
//! copies only the keys that differ), and, after a sloppy quorum, by hinted handoff.
//! An operation that cannot reach a quorum fails at once (`fail`) when the coordinator
//! already suspects too many replicas, else at the coordinator's deadline: a read with
//! `fail`, a write with `info` (it may have been applied by some replicas).
//!
//! **Guarantees claimed.** With `w + r > n` and a strict quorum, every read overlaps
//! every acknowledged write on at least one replica, so (without clock skew under `lww`)
//! no read is stale and no acknowledged write is lost; the system stays available while
//! at most `n - max(w, r)` replicas of a key are unreachable. Replicas converge when
//! every write eventually reaches them (no faults, anti-entropy, or hinted handoff).
//!
//! **Anomalies expected.**
//! - `w + r <= n` (partial quorums, e.g. `w = r = 1`): `stale_read`s, less likely the
//!   longer after the write the read starts (the report's `staleness` curve, as in
//!   Bailis et al., "Probabilistically Bounded Staleness for Practical Partial
//!   Quorums", VLDB 2012), and `read_your_writes`, `monotonic_read` violations.
//! - Even with `w + r > n`: `monotonic_read` violations (a read can see a write that is
//!   not yet acknowledged, and a later read miss it), and `linearizability` failures.
//! - `lww` with `clock_skew`: a write from a clock running behind loses to an older one:
//!   `lost_write`, `stale_read`. `version-vectors` keeps both instead (siblings).
//! - Sloppy quorums: writes stay available in a partition, but reads and writes no
//!   longer overlap: `stale_read`; without hinted handoff, writes whose only copies are
//!   hints never reach their home replicas: `lost_write`.
//! - Without read repair or anti-entropy, a replica that missed writes stays behind for
//!   good: `divergence`.
//!
//! **CRDT values (`conflict: "crdt"`).** With the counter or set workload, a key holds a
//! state-based CRDT instead of a versioned register ([`version`]): a counter (each
//! increment's amount under its own dot) or an add-wins observed-remove set. A dot names
//! one client update (its invocation), so a resent update adds nothing twice. The
//! coordinator writes an increment or an add as a *delta*, the state holding its one dot,
//! exactly like a register write (`w` durable copies: `ok`; fewer by the deadline: `info`;
//! no possible quorum: `fail`). A remove runs in two phases: it reads the set like a
//! client read (`r` answers, merged), then writes tombstones for the adds of the element
//! in that merged copy; a remove that cannot read `r` copies fails without writing, and
//! one whose read saw no add of the element is done at once. Reads merge the `r` copies
//! and answer a counter's total or a set's elements; read repair, anti-entropy, hints,
//! the membership hand-over and recovery move and merge CRDT states like any other copy.
//!
//! **Guarantees claimed with CRDTs**, under any faults, quorum settings and clocks (no
//! timestamp decides anything): no acknowledged update is ever lost to a conflict, since
//! merging keeps every dot (`lost_increment` and `lost_add` stay at 0). Once every home replica has every update (anti-entropy, read
//! repair, hinted handoff), the replicas of a key hold the same value: a counter's total
//! counts every `ok` increment and no `fail`ed one, and a set holds an element exactly
//! when some add of it was not tombstoned. A remove removes the adds that the replicas
//! its read reached had seen: with `w + r > n` and a strict quorum, every add
//! acknowledged before the remove began; an add none of them had seen (a concurrent one)
//! survives it: *add wins*, and an element removed on one side of a partition comes back
//! if the other side added it meanwhile. With a strict quorum a counter read counts every
//! increment acknowledged before it began; partial or sloppy quorums can read fewer
//! (stale counter and set reads). One loss remains, as for registers: under a sloppy
//! quorum without hinted handoff, an update whose only copies are hints never reaches a
//! home replica (`lost_increment`, `lost_add`).
//!
//! **Membership.** The ring follows the cluster's members: a node added by `add_node`
//! takes its place on the ring and becomes a home replica of the keys it now owns, and a
//! node removed by `remove_node` leaves its keys to the next nodes on the ring; the keys'
//! data moves with them (a hand-over, [`membership`]). With strict quorums a change loses
//! no acknowledged write and serves no stale read; reads of a moved key may fail while it
//! is handed over (see [`membership`] for the exact guarantees).
//!
//! Modules: [`config`] (settings and derived timeouts), [`ring`] (placement), [`version`]
//! (stamps, version vectors, CRDT states, merging), [`msg`] (messages, durable records, timers, client
//! token), [`replica`] (node state, storage, dispatch), [`coordinator`] (quorum reads and
//! writes, CRDT updates, sloppy quorums, read repair), [`handoff`] (hints), [`anti_entropy`],
//! [`membership`] (ring changes and hand-over).
#![warn(missing_docs)]

pub mod anti_entropy;
pub mod config;
pub mod coordinator;
pub mod handoff;
pub mod membership;
pub mod msg;
pub mod replica;
pub mod ring;
pub mod version;

#[cfg(test)]
mod testing;

use std::sync::Arc;

use repsim_sim::{ClientView, NodeId, Op, Protocol, SimRng};

pub use config::{Config, PlantedBug};
pub use msg::Token;
pub use replica::Replica;
pub use ring::Ring;

/// The protocol: a configuration shared by every node.
#[derive(Clone, Debug)]
pub struct Leaderless {
    /// The configuration.
    pub config: Config,
}

impl Protocol for Leaderless {
    type Node = Replica;

    fn create(&self, id: NodeId, storage: &[msg::Record]) -> Replica {
        Replica::recover(Arc::new(self.config.clone()), id, storage)
    }

    /// The client's node coordinates: `sticky` clients always use their own node (a hash
    /// of the client id); others pick a random node that is up for each operation, as
    /// through a load balancer. A `sticky` client whose node is down gets `fail`.
    fn route(&self, client: &ClientView<'_, Token>, _op: &Op, rng: &mut SimRng) -> NodeId {
        if client.reads_from == "sticky" {
            return client.sticky_node();
        }
        // `up` is indexed by node id; members may have gaps after a `remove_node`.
        let is_up = |node: NodeId| client.up.get(node.index()).copied().unwrap_or(false);
        let up = client.members.iter().filter(|&&m| is_up(m)).count();
        if up == 0 {
            return *rng.pick(client.members);
        }
        let mut chosen = rng.below(up as u64) as usize;
        for &member in client.members {
            if is_up(member) {
                if chosen == 0 {
                    return member;
                }
                chosen -= 1;
            }
        }
        unreachable!("fewer nodes up than counted")
    }

    fn absorb(&self, session: &mut Token, reply: Token) {
        session.absorb(reply);
    }
}
