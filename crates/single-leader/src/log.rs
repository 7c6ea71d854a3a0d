//! The replication log: entries with positions (log sequence numbers, LSNs) and the epoch
//! of the leader that wrote them, on top of a base snapshot.
//!
//! Positions start at 1. Everything up to `base_lsn` has been compacted into the base
//! snapshot (`base_data`); `entries` hold `base_lsn + 1 ..= last_lsn`. Each stored entry
//! keeps the value this node computed when it applied it (`applied`), so a restart or a
//! truncation rebuilds the data without re-executing statements.

use std::collections::{BTreeMap, VecDeque};

use repsim_sim::{KeyId, ValueId};

/// What a log entry asks replicas to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Logical (row-based) replication: the new value of the row.
    Logical(ValueId),
    /// Statement-based replication: the statement, re-executed by each replica. A
    /// nondeterministic statement (like `NOW()`) computes another value on each replica.
    Statement {
        /// The value the leader computed (and told the client).
        value: ValueId,
        /// Whether re-execution computes a different value.
        nondeterministic: bool,
    },
    /// Write-ahead-log shipping: physical bytes, readable only by a replica on the same
    /// storage-format version.
    Wal {
        /// Storage format version of the leader that wrote it.
        format: u32,
        /// The new value.
        value: ValueId,
    },
    /// A leader's first entry in its epoch; it changes no data, but makes every follower
    /// drop entries the new leader does not have.
    Noop,
}

/// One log entry, as shipped between nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Position.
    pub lsn: u64,
    /// Epoch of the leader that wrote it.
    pub epoch: u64,
    /// The key written (unused for `Noop`).
    pub key: KeyId,
    /// What to do.
    pub payload: Payload,
    /// The leader's local clock when it wrote the entry, in µs (for replication lag).
    pub written_at_micros: u64,
}

/// An entry as this node stored it: with the value it applied (`None` for a no-op).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The entry.
    pub entry: Entry,
    /// The value this node applied.
    pub applied: Option<ValueId>,
}

/// The log and the data it produces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Log {
    base_lsn: u64,
    base_epoch: u64,
    base_data: BTreeMap<KeyId, ValueId>,
    entries: VecDeque<Stored>,
    /// The data after applying every entry.
    data: BTreeMap<KeyId, ValueId>,
}

impl Log {
    /// Position of the last entry (the base position when there are none).
    pub fn last_lsn(&self) -> u64 {
        self.entries.back().map_or(self.base_lsn, |s| s.entry.lsn)
    }

    /// Epoch of the last entry.
    pub fn last_epoch(&self) -> u64 {
        self.entries
            .back()
            .map_or(self.base_epoch, |s| s.entry.epoch)
    }

    /// Last position compacted into the base snapshot.
    pub fn base_lsn(&self) -> u64 {
        self.base_lsn
    }

    /// Epoch of the entry at `lsn`, if this log knows it (`0` for position 0).
    pub fn epoch_at(&self, lsn: u64) -> Option<u64> {
        if lsn == self.base_lsn {
            return Some(self.base_epoch);
        }
        if lsn < self.base_lsn || lsn > self.last_lsn() {
            return None;
        }
        Some(self.get(lsn).entry.epoch)
    }

    fn get(&self, lsn: u64) -> &Stored {
        let stored = &self.entries[(lsn - self.base_lsn - 1) as usize];
        debug_assert_eq!(stored.entry.lsn, lsn);
        stored
    }

    /// The first position of the run of entries that share the epoch of `lsn` (never
    /// below `base_lsn + 1`): where a follower's conflicting epoch began.
    pub fn first_lsn_of_epoch_at(&self, lsn: u64) -> u64 {
        let Some(epoch) = self.epoch_at(lsn) else {
            return self.base_lsn + 1;
        };
        let mut first = lsn;
        while first > self.base_lsn + 1 && self.get(first - 1).entry.epoch == epoch {
            first -= 1;
        }
        first.max(self.base_lsn + 1)
    }

    /// The current data.
    pub fn data(&self) -> &BTreeMap<KeyId, ValueId> {
        &self.data
    }

    /// Appends the next entry and applies it.
    pub fn append(&mut self, stored: Stored) {
        assert_eq!(
            stored.entry.lsn,
            self.last_lsn() + 1,
            "log positions must grow by one (epoch {})",
            stored.entry.epoch
        );
        if let Some(value) = stored.applied {
            self.data.insert(stored.entry.key, value);
        }
        self.entries.push_back(stored);
    }

    /// Drops every entry after `lsn` and rebuilds the data. `lsn` must not be below the
    /// base snapshot.
    pub fn truncate_after(&mut self, lsn: u64) -> usize {
        assert!(
            lsn >= self.base_lsn,
            "truncating at {lsn}, below the snapshot at {}",
            self.base_lsn
        );
        let keep = (lsn - self.base_lsn) as usize;
        let dropped = self.entries.len().saturating_sub(keep);
        if dropped > 0 {
            self.entries.truncate(keep);
            self.data = self.base_data.clone();
            for stored in &self.entries {
                if let Some(value) = stored.applied {
                    self.data.insert(stored.entry.key, value);
                }
            }
        }
        dropped
    }

    /// Replaces everything with a snapshot of `data` at `lsn` written in `epoch`.
    pub fn install_snapshot(&mut self, lsn: u64, epoch: u64, data: BTreeMap<KeyId, ValueId>) {
        self.base_lsn = lsn;
        self.base_epoch = epoch;
        self.base_data = data.clone();
        self.data = data;
        self.entries.clear();
    }

    /// Compacts so that at most `keep` entries remain, folding older ones into the base
    /// snapshot. Returns true if anything was compacted.
    pub fn compact(&mut self, keep: usize) -> bool {
        if self.entries.len() <= keep {
            return false;
        }
        while self.entries.len() > keep {
            let stored = self.entries.pop_front().expect("longer than keep");
            if let Some(value) = stored.applied {
                self.base_data.insert(stored.entry.key, value);
            }
            self.base_lsn = stored.entry.lsn;
            self.base_epoch = stored.entry.epoch;
        }
        true
    }

    /// Entries `from ..= from + max - 1` that exist, in order.
    pub fn entries_from(&self, from: u64, max: usize) -> Vec<Entry> {
        if from <= self.base_lsn || from > self.last_lsn() {
            return Vec::new();
        }
        let start = (from - self.base_lsn - 1) as usize;
        self.entries
            .iter()
            .skip(start)
            .take(max)
            .map(|s| s.entry)
            .collect()
    }

    /// The stored entries (for checkpoints).
    pub fn stored(&self) -> impl Iterator<Item = &Stored> {
        self.entries.iter()
    }

    /// The base snapshot: position, epoch and data.
    pub fn base(&self) -> (u64, u64, &BTreeMap<KeyId, ValueId>) {
        (self.base_lsn, self.base_epoch, &self.base_data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(lsn: u64, epoch: u64, key: u32, value: u32) -> Stored {
        let value = ValueId::generated(value);
        Stored {
            entry: Entry {
                lsn,
                epoch,
                key: KeyId(key),
                payload: Payload::Logical(value),
                written_at_micros: 0,
            },
            applied: Some(value),
        }
    }

    #[test]
    fn truncation_rebuilds_the_data() {
        let mut log = Log::default();
        log.append(stored(1, 1, 0, 1));
        log.append(stored(2, 1, 0, 2));
        log.append(stored(3, 2, 1, 3));
        assert_eq!(log.data().get(&KeyId(0)), Some(&ValueId::generated(2)));
        assert_eq!(log.truncate_after(1), 2);
        assert_eq!(log.data().get(&KeyId(0)), Some(&ValueId::generated(1)));
        assert_eq!(log.data().get(&KeyId(1)), None);
        assert_eq!((log.last_lsn(), log.last_epoch()), (1, 1));
    }

    #[test]
    fn compaction_keeps_data_and_epochs() {
        let mut log = Log::default();
        for i in 1..=10 {
            log.append(stored(
                i,
                if i < 6 { 1 } else { 2 },
                (i % 3) as u32,
                i as u32,
            ));
        }
        let before = log.data().clone();
        assert!(log.compact(3));
        assert_eq!(log.data(), &before);
        assert_eq!(log.base_lsn(), 7);
        assert_eq!(log.epoch_at(7), Some(2));
        assert_eq!(log.epoch_at(6), None);
        assert_eq!(log.entries_from(8, 10).len(), 3);
        assert!(log.entries_from(7, 10).is_empty());
        assert_eq!(log.truncate_after(8), 2);
        assert_eq!(log.last_lsn(), 8);
    }

    #[test]
    fn first_lsn_of_an_epoch_run() {
        let mut log = Log::default();
        for (lsn, epoch) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 2)] {
            log.append(stored(lsn, epoch, 0, lsn as u32));
        }
        assert_eq!(log.first_lsn_of_epoch_at(5), 3);
        assert_eq!(log.first_lsn_of_epoch_at(2), 1);
        assert_eq!(log.first_lsn_of_epoch_at(9), 1);
    }
}
