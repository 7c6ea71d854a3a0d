//! One key's replicated state on one leader, and how each `conflict` setting resolves
//! concurrent writes.
//!
//! A [`Register`] keeps:
//!
//! - the *frontier*: the versions no write this replica knows of supersedes. A write
//!   supersedes exactly the versions its context covers (see [`crate::version`]), so the
//!   frontier holds versions that are concurrent with each other: at most one per origin,
//!   since an origin's writes to a key supersede each other in order.
//! - the *context*: every version of the key this replica has seen, applied or
//!   superseded. A version the context already covers is skipped when it arrives late.
//! - the *newest* version by `(timestamp, origin, counter)` among every version received,
//!   superseded or not: the last-write-wins answer.
//!
//! Applying a version removes the frontier versions its context covers and adds it
//! unless the context already covers it. So after any set of versions has been applied,
//! in any order and with any repetition, the frontier is "the applied versions that no
//! applied version's context covers" and the newest is their maximum: both are functions
//! of the *set* of versions applied, which is why every `conflict` setting converges
//! (the resolution is commutative, associative and idempotent). What a read returns is
//! a function of them:
//!
//! - `lww`: the newest version by the writing leader's local clock. Causality is ignored,
//!   as in databases that resolve on timestamps alone: a write from a leader whose clock
//!   is behind loses even to a write it has seen and meant to overwrite (`lost_write`).
//! - `replica-priority`: the frontier version written at the lowest node id. A version
//!   that causally follows another always supersedes it, whatever the priority. The
//!   losing versions stay in the frontier, hidden: a replica that dropped them would
//!   disagree with one that did not once a later write supersedes only the winner.
//! - `merge`: the frontier's values merged into one value, the sorted list of the values
//!   merged (SPEC §3); a later write that has seen the merged value supersedes it.
//! - `siblings`: every frontier value; a write supersedes every version the writing
//!   replica held, so no acknowledged write is dropped before some write has seen it.
//!
//! In this register model `merge` and `siblings` show the same values; they differ in
//! meaning (the database merged the values; the application is asked to).

use repsim_sim::{SimTime, ValueId};

use crate::config::Conflict;
use crate::version::{Dot, VersionVector};

/// One version of a key: a write as a replica stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    /// The write.
    pub dot: Dot,
    /// Its value.
    pub value: ValueId,
    /// The writing leader's local clock when it accepted the write (the LWW timestamp).
    pub written_at: SimTime,
}

impl Version {
    /// The last-write-wins order: timestamp, then origin, then counter (a total order, so
    /// ties resolve the same way everywhere).
    fn lww_key(&self) -> (SimTime, Dot) {
        (self.written_at, self.dot)
    }
}

/// What [`Register::apply`] did with a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The context already covered it: a write this replica has seen supersedes it.
    pub superseded: bool,
    /// How many frontier versions it superseded.
    pub replaced: usize,
    /// How many frontier versions it is concurrent with (a conflict when non-zero).
    pub concurrent: usize,
    /// It superseded the last-write-wins winner causally yet lost to it on timestamps:
    /// the writing leader had seen that value and meant to overwrite it.
    pub lost_on_timestamp: bool,
}

/// One key's state on one replica. See the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Register {
    frontier: Vec<Version>,
    context: VersionVector,
    newest: Option<Version>,
}

impl Register {
    /// The versions this replica has seen: the context a new local write supersedes.
    pub fn context(&self) -> &VersionVector {
        &self.context
    }

    /// The concurrent versions no known write supersedes, in dot order.
    pub fn frontier(&self) -> &[Version] {
        &self.frontier
    }

    /// Applies `version`, written with context `context`.
    pub fn apply(&mut self, version: Version, context: &VersionVector) -> Applied {
        let mut applied = Applied {
            superseded: false,
            replaced: 0,
            concurrent: 0,
            lost_on_timestamp: false,
        };
        match self.newest {
            Some(newest) if newest.lww_key() >= version.lww_key() => {
                applied.lost_on_timestamp = newest.dot != version.dot && context.covers(newest.dot);
            }
            _ => self.newest = Some(version),
        }
        if self.context.covers(version.dot) {
            applied.superseded = true;
            return applied;
        }
        let before = self.frontier.len();
        self.frontier.retain(|v| !context.covers(v.dot));
        applied.replaced = before - self.frontier.len();
        applied.concurrent = self.frontier.len();
        let at = self.frontier.partition_point(|v| v.dot < version.dot);
        self.frontier.insert(at, version);
        self.context.merge(context);
        self.context.add(version.dot);
        debug_assert!(
            self.frontier
                .windows(2)
                .all(|w| w[0].dot.origin != w[1].dot.origin),
            "two versions of one origin are concurrent: {:?}",
            self.frontier
        );
        applied
    }

    /// The values a read returns under `conflict`: none, one, or (merge and siblings)
    /// every concurrent value, sorted.
    pub fn read(&self, conflict: Conflict) -> Vec<ValueId> {
        match conflict {
            Conflict::Lww => self.newest.map(|v| v.value).into_iter().collect(),
            Conflict::ReplicaPriority => self
                .frontier
                .iter()
                .min_by_key(|v| v.dot)
                .map(|v| v.value)
                .into_iter()
                .collect(),
            // CRDT keys hold no register (scenario validation pairs `crdt` with the counter
            // and set workloads); a register read under it lists every value, like merge.
            Conflict::Merge | Conflict::Siblings | Conflict::Crdt => {
                let mut values: Vec<ValueId> = self.frontier.iter().map(|v| v.value).collect();
                values.sort_unstable();
                values.dedup();
                values
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use repsim_sim::NodeId;

    use super::*;

    const MODES: [Conflict; 4] = [
        Conflict::Lww,
        Conflict::ReplicaPriority,
        Conflict::Merge,
        Conflict::Siblings,
    ];

    fn version(origin: u16, seq: u64, value: u32, at_ms: u64) -> Version {
        Version {
            dot: Dot {
                origin: NodeId(origin),
                seq,
            },
            value: ValueId::generated(value),
            written_at: SimTime::from_micros(at_ms * 1000),
        }
    }

    fn values(ids: &[u32]) -> Vec<ValueId> {
        ids.iter().map(|&i| ValueId::generated(i)).collect()
    }

    /// A small history: a and b concurrent (written without seeing each other), c written
    /// on n2 after seeing a, d written on n0 after seeing everything.
    fn writes() -> Vec<(Version, VersionVector)> {
        let a = version(0, 1, 1, 10);
        let b = version(1, 1, 2, 5);
        let c = version(2, 1, 3, 3);
        let d = version(0, 2, 4, 20);
        vec![
            (a, VersionVector::default()),
            (b, VersionVector::default()),
            (c, VersionVector::from([(NodeId(0), 1)])),
            (
                d,
                VersionVector::from([(NodeId(0), 1), (NodeId(1), 1), (NodeId(2), 1)]),
            ),
        ]
    }

    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![Vec::new()];
        }
        let mut all = Vec::new();
        for rest in permutations(n - 1) {
            for at in 0..=rest.len() {
                let mut p = rest.clone();
                p.insert(at, n - 1);
                all.push(p);
            }
        }
        all
    }

    #[test]
    fn resolution_does_not_depend_on_order_or_repetition() {
        for take in 1..=4 {
            let writes = &writes()[..take];
            let mut outcomes = Vec::new();
            for order in permutations(take) {
                let mut register = Register::default();
                for &i in &order {
                    register.apply(writes[i].0, &writes[i].1);
                    // Duplicates change nothing.
                    register.apply(writes[i].0, &writes[i].1);
                }
                outcomes.push(register);
            }
            assert!(
                outcomes.windows(2).all(|w| w[0] == w[1]),
                "orders disagree with {take} writes: {outcomes:?}"
            );
        }
    }

    #[test]
    fn each_mode_resolves_the_concurrent_pair() {
        let mut register = Register::default();
        let writes = writes();
        register.apply(writes[0].0, &writes[0].1);
        let applied = register.apply(writes[1].0, &writes[1].1);
        assert_eq!(applied.concurrent, 1, "a and b conflict");
        // a has the later timestamp and the lower node id.
        assert_eq!(register.read(Conflict::Lww), values(&[1]));
        assert_eq!(register.read(Conflict::ReplicaPriority), values(&[1]));
        assert_eq!(register.read(Conflict::Merge), values(&[1, 2]));
        assert_eq!(register.read(Conflict::Siblings), values(&[1, 2]));
    }

    #[test]
    fn a_causally_later_write_wins_except_under_lww_with_an_older_timestamp() {
        let mut register = Register::default();
        let writes = writes();
        for (v, context) in &writes[..3] {
            register.apply(*v, context);
        }
        // c saw a and replaced it; b stays concurrent with c.
        assert_eq!(register.read(Conflict::Siblings), values(&[2, 3]));
        assert_eq!(register.read(Conflict::ReplicaPriority), values(&[2]));
        // Under LWW, c (timestamp 3 ms) lost to a (10 ms) although it had seen a.
        assert_eq!(register.read(Conflict::Lww), values(&[1]));
        let applied = register.apply(writes[3].0, &writes[3].1);
        assert_eq!((applied.replaced, applied.concurrent), (2, 0));
        for mode in MODES {
            assert_eq!(register.read(mode), values(&[4]), "{mode:?}");
        }
    }

    #[test]
    fn lww_reports_a_causal_successor_that_lost_on_its_timestamp() {
        let mut register = Register::default();
        let writes = writes();
        register.apply(writes[0].0, &writes[0].1);
        let applied = register.apply(writes[2].0, &writes[2].1);
        assert!(applied.lost_on_timestamp);
        let late = register.apply(writes[1].0, &writes[1].1);
        assert!(!late.lost_on_timestamp, "b never saw a: merely older");
    }

    #[test]
    fn a_version_its_context_covers_is_skipped() {
        let mut register = Register::default();
        let writes = writes();
        register.apply(writes[3].0, &writes[3].1);
        let applied = register.apply(writes[0].0, &writes[0].1);
        assert!(applied.superseded);
        assert_eq!(register.frontier().len(), 1);
    }
}
