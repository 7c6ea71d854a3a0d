//! The anomaly checkers of SPEC.md section 4: given a client history (and, for some
//! kinds, the final state and the protocol's role events), count every *certain*
//! anomaly of each kind and name the first few flagged operations by `index`.
//!
//! The crate depends only on `repsim-history`, because it must also check histories
//! produced elsewhere (`repsim check`); it never looks at a simulator or a protocol.
//!
//! Module map:
//! - [`check`] (here): the entry point, [`Kind`], [`Flag`], [`Findings`].
//! - `prepare`: the shared preparation every checker reads: operations paired once,
//!   dense process and key ids, event position → operation, value → write, a summary of
//!   each ok read, and each operation's (process, key) group.
//! - `collect`: counts flags and keeps the first few, in index order.
//! - `render`: key and value names for messages.
//! - one module per kind: `stale_read`, `read_your_writes`, `monotonic_read`,
//!   `consistent_prefix`, `lost_write`, `phantom_read`, `divergence`, `split_brain`,
//!   `unavailable`, [`linearizability`] (public for its [`linearizability::Budget`]),
//!   and for counter and set keys `lost_increment`, `phantom_increment` and `lost_add`.
//!   Each module doc states the definition it implements and its cost.
//! - `counter`: what the two counter kinds share (sums of increments, final numbers).
//! - [`staleness`]: the staleness curve of the run report.
//!
//! **Counter and set keys.** A key is a *counter key* if any operation on it is an
//! `increment`, a *set key* if any is an `add` or `remove`, and a *register key*
//! otherwise; but a key that is only ever read, in a history with counter (set) keys, is
//! a counter (set) key too: a counter nobody incremented reads 0, which is no phantom
//! read (a simulated run has one workload for every key). The register kinds (`stale_read`, `read_your_writes`, `monotonic_read`,
//! `consistent_prefix`, `lost_write`, `phantom_read`, `linearizability`, and the
//! staleness curve) ignore counter and set keys entirely, their reads and any writes
//! included; when a history has counter or set keys and no register key they are listed
//! as skipped ([`NO_REGISTER_KEYS`]). `divergence` and `unavailable` cover every key
//! (`divergence` compares a counter's values as numbers and a set's as sets);
//! `lost_increment`, `phantom_increment` and `lost_add` read only counter and set keys,
//! need the final state, and need no unique values.
//!
//! Readings shared by every value-based kind (SPEC §4 leaves them implicit):
//! - "Before" compares event positions in `history.events`, never `time_ms`.
//! - `A → B` (A precedes B) holds iff A completed `ok` at a position before B's invoke.
//! - The value of a write is [`repsim_history::Operation::value`] (what the client was
//!   told); a cas writes its `new` value, and its `expected` part is ignored.
//! - A value returned by an ok read R of key `k` *names* write W iff W is the one write
//!   (or cas) that wrote that value, W is a write of `k`, W did not `fail`, and W was
//!   invoked before R completed; in short, iff the value is not a `phantom_read`. A value
//!   in the final state names W on the same terms, without the last one. A value that
//!   names no write plays no part in the other kinds (it is never an A, B or C of a
//!   definition: a phantom observation proves nothing), except that any non-null value
//!   counts as "returned a value" where a definition's `null` case asks for one.
//! - A read that returns siblings is flagged only if every sibling meets the condition;
//!   a read returning an empty list is a read of `null`.
//! - When values repeat, or a cas writes `null` (the `null` rules assume no write writes
//!   `null`), only the kinds that need no unique values run (`unavailable`,
//!   `linearizability`, the counter and set kinds, and `split_brain` when role events are
//!   given); the others are listed as skipped. Only register keys' writes count: the
//!   elements of a set repeat by design.
//! - `linearizability` reads each key as a register and decides it by search; a key it
//!   cannot decide within its budget is listed in [`Findings::unknown_keys`], neither
//!   counted nor passed.
#![warn(missing_docs)]

mod collect;
mod consistent_prefix;
mod counter;
mod divergence;
pub mod linearizability;
mod lost_add;
mod lost_increment;
mod lost_write;
mod monotonic_read;
mod phantom_increment;
mod phantom_read;
mod prepare;
mod read_your_writes;
mod render;
mod split_brain;
mod stale_read;
pub mod staleness;
mod unavailable;

#[cfg(test)]
mod testing;

use std::collections::BTreeMap;
use std::fmt;

use repsim_history::{FinalState, History, HistoryError, RoleEvent};

pub use split_brain::SplitBrainSpan;

/// An anomaly kind of SPEC §4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `stale_read`: a read missed a write that completed before it began.
    StaleRead,
    /// `read_your_writes`: a read missed the reading process's own earlier write.
    ReadYourWrites,
    /// `monotonic_read`: a read went back in time relative to the process's earlier read.
    MonotonicRead,
    /// `consistent_prefix`: a read missed a write that a value the process read depended on.
    ConsistentPrefix,
    /// `lost_write`: an acknowledged write survives on no node.
    LostWrite,
    /// `phantom_read`: a read returned a value that was never (validly) written.
    PhantomRead,
    /// `divergence`: nodes ended with different values for a key.
    Divergence,
    /// `split_brain`: two nodes both accepted writes as leader at the same time.
    SplitBrain,
    /// `unavailable`: an operation failed or timed out.
    Unavailable,
    /// `linearizability`: a key whose operations have no linearization as a register.
    Linearizability,
    /// `lost_increment`: a counter whose final total is below its acknowledged increments
    /// on every node.
    LostIncrement,
    /// `phantom_increment`: a counter whose final total is above every increment that
    /// may have happened, on every node (an increment counted twice).
    PhantomIncrement,
    /// `lost_add`: an acknowledged add to a set whose element is on no node and that no
    /// remove can explain.
    LostAdd,
}

impl Kind {
    /// Every kind, in report order: SPEC §4's table, then the counter and set kinds.
    pub const ALL: [Kind; 13] = [
        Kind::StaleRead,
        Kind::ReadYourWrites,
        Kind::MonotonicRead,
        Kind::ConsistentPrefix,
        Kind::LostWrite,
        Kind::PhantomRead,
        Kind::Divergence,
        Kind::SplitBrain,
        Kind::Unavailable,
        Kind::Linearizability,
        Kind::LostIncrement,
        Kind::PhantomIncrement,
        Kind::LostAdd,
    ];

    /// The SPEC name (`stale_read`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::StaleRead => "stale_read",
            Kind::ReadYourWrites => "read_your_writes",
            Kind::MonotonicRead => "monotonic_read",
            Kind::ConsistentPrefix => "consistent_prefix",
            Kind::LostWrite => "lost_write",
            Kind::PhantomRead => "phantom_read",
            Kind::Divergence => "divergence",
            Kind::SplitBrain => "split_brain",
            Kind::Unavailable => "unavailable",
            Kind::Linearizability => "linearizability",
            Kind::LostIncrement => "lost_increment",
            Kind::PhantomIncrement => "phantom_increment",
            Kind::LostAdd => "lost_add",
        }
    }

    /// The kind with SPEC name `name`, if any.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// True for the kinds that need every written value to be unique.
    fn needs_unique_values(self) -> bool {
        !matches!(
            self,
            Kind::SplitBrain
                | Kind::Unavailable
                | Kind::Linearizability
                | Kind::LostIncrement
                | Kind::PhantomIncrement
                | Kind::LostAdd
        )
    }

    /// True for the kinds about read / write / cas registers, which ignore counter and
    /// set keys entirely.
    fn is_register_kind(self) -> bool {
        matches!(
            self,
            Kind::StaleRead
                | Kind::ReadYourWrites
                | Kind::MonotonicRead
                | Kind::ConsistentPrefix
                | Kind::LostWrite
                | Kind::PhantomRead
                | Kind::Linearizability
        )
    }

    /// True for the kinds that compare against the final state.
    fn needs_final_state(self) -> bool {
        matches!(
            self,
            Kind::LostWrite
                | Kind::Divergence
                | Kind::LostIncrement
                | Kind::PhantomIncrement
                | Kind::LostAdd
        )
    }
}

/// Why the register kinds are skipped for a history of counter and set keys only.
pub const NO_REGISTER_KEYS: &str = "no read/write register keys in this history";

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One flagged anomaly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    /// History index (file `index`) of the flagged operation's invoke. For `divergence`,
    /// the invoke of the first operation that put one of the differing final values
    /// there (a write, an add of the element, an increment; 0 if none); for
    /// `split_brain`, the first write accepted in the span (0 if no accepted write names
    /// its operation); for `linearizability`, the operation of the key's witness that
    /// cannot be placed (see [`linearizability`]); for `lost_increment`, the key's first
    /// `ok` increment; for `phantom_increment`, the key's first increment.
    pub index: u64,
    /// Indexes of the other operations that make it an anomaly (invokes), ascending; for
    /// `linearizability`, the rest of the witness; for `lost_increment` the key's other
    /// `ok` increments and for `phantom_increment` its other increments that did not
    /// fail, at most 100 of them (the message gives the counts).
    pub involved: Vec<u64>,
    /// One line naming key, values, processes and indexes.
    pub message: String,
}

/// What [`check`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Findings {
    /// Number of flags of every kind that was checked (0 included).
    pub counts: BTreeMap<Kind, u64>,
    /// The first [`Options::max_examples`] flags of every checked kind, by index.
    pub examples: BTreeMap<Kind, Vec<Flag>>,
    /// Kinds that were not checked, each with the reason, in [`Kind::ALL`] order.
    pub skipped: Vec<(Kind, String)>,
    /// Number of operations (invocations) in the history, for rates.
    pub operations: u64,
    /// The flagged `split_brain` spans, in time order.
    pub split_brain_spans: Vec<SplitBrainSpan>,
    /// Names of the keys flagged by `divergence`, in key id order.
    pub divergent_keys: Vec<String>,
    /// Names of the keys `linearizability` could not decide within its budget, in key id
    /// order: neither counted as anomalies nor passed.
    pub unknown_keys: Vec<String>,
    /// The staleness curve of the register keys (see [`staleness`]), computed from the
    /// same preparation as the kinds; empty with the reason when they were skipped.
    pub staleness: staleness::Curve,
}

impl Findings {
    /// The count of `kind`: 0 when it found nothing or was skipped.
    pub fn count(&self, kind: Kind) -> u64 {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    /// The indexes of the kept examples of `kind`.
    pub fn example_indexes(&self, kind: Kind) -> Vec<u64> {
        self.examples
            .get(&kind)
            .map(|flags| flags.iter().map(|flag| flag.index).collect())
            .unwrap_or_default()
    }

    /// The JSON that `repsim check --json` prints (SPEC §1):
    /// `{"anomalies": {kind: count}, "examples": {kind: [index...]},
    /// "skipped": {kind: reason}, "unknown": {"linearizability": [key...]},
    /// "operations": n}`. `unknown` is always present: it maps a kind to the keys it could
    /// not decide within its budget (only `linearizability` has one), and is the empty
    /// object `{}` when every key was decided; see [`Findings::unknown_json`].
    pub fn to_check_json(&self) -> serde_json::Value {
        let mut anomalies = serde_json::Map::new();
        let mut examples = serde_json::Map::new();
        for (kind, count) in &self.counts {
            anomalies.insert(kind.name().to_owned(), (*count).into());
            let indexes: Vec<serde_json::Value> = self
                .example_indexes(*kind)
                .into_iter()
                .map(serde_json::Value::from)
                .collect();
            examples.insert(kind.name().to_owned(), serde_json::Value::Array(indexes));
        }
        let mut skipped = serde_json::Map::new();
        for (kind, reason) in &self.skipped {
            skipped.insert(kind.name().to_owned(), reason.clone().into());
        }
        let mut out = serde_json::Map::new();
        out.insert("anomalies".into(), anomalies.into());
        out.insert("examples".into(), examples.into());
        out.insert("skipped".into(), skipped.into());
        let unknown: serde_json::Map<String, serde_json::Value> = self
            .unknown_json()
            .into_iter()
            .map(|(kind, keys)| (kind.to_owned(), keys.into()))
            .collect();
        out.insert("unknown".into(), unknown.into());
        out.insert("operations".into(), self.operations.into());
        out.into()
    }

    /// The `unknown` field of `repsim check --json` and `report.json`: kind → the names
    /// of the keys it could not decide within its budget (neither counted as anomalies
    /// nor passed), in key order. Kinds that decided every key are left out, so this is
    /// empty when nothing is unknown.
    pub fn unknown_json(&self) -> BTreeMap<&'static str, Vec<String>> {
        let mut unknown = BTreeMap::new();
        if !self.unknown_keys.is_empty() {
            unknown.insert(Kind::Linearizability.name(), self.unknown_keys.clone());
        }
        unknown
    }

    fn record(&mut self, kind: Kind, result: KindResult) {
        self.counts.insert(kind, result.count);
        self.examples.insert(kind, result.flags);
    }
}

/// What to check.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The client history.
    pub history: &'a History,
    /// The final state; without it `lost_write` and `divergence` are skipped. Its ids
    /// must be the history's (read it with `FinalState::from_json` on the same history).
    pub final_state: Option<&'a FinalState>,
    /// The protocol's role events; without them `split_brain` is skipped.
    pub roles: Option<&'a [RoleEvent]>,
}

/// How to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// How many flags of each kind to keep as examples (default 5). Counts are exact
    /// whatever this is.
    pub max_examples: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options { max_examples: 5 }
    }
}

/// The count and kept examples of one kind.
pub(crate) struct KindResult {
    pub count: u64,
    pub flags: Vec<Flag>,
}

/// Runs every checker that its inputs allow, with the default linearizability budget.
///
/// `Err` only for a malformed history (operations that do not pair, a read that returns
/// `[expected, new]`, a role event naming an event beyond the history): that is not an
/// anomaly.
pub fn check(input: &Input<'_>, options: &Options) -> Result<Findings, HistoryError> {
    check_with_budget(input, options, &linearizability::Budget::default())
}

/// [`check`], with the given budget for the linearizability search.
pub fn check_with_budget(
    input: &Input<'_>,
    options: &Options,
    budget: &linearizability::Budget,
) -> Result<Findings, HistoryError> {
    let history = input.history;
    let max = options.max_examples;
    let all = prepare::Base::new(history)?;
    let classes = prepare::KeyClasses::new(&all);
    // The register kinds read the register keys' operations only. Without counter or set
    // keys those are all of them, and nothing is copied.
    let register_only = classes.any_crdt().then(|| all.register_only(&classes));
    let values = prepare::ValueIndex::build(register_only.as_ref().unwrap_or(&all));
    let no_registers = classes.any_crdt() && !classes.any_register();

    // Why each kind is not checked, if it is not.
    let mut skipped: BTreeMap<Kind, String> = BTreeMap::new();
    for kind in Kind::ALL {
        let reason = if kind.is_register_kind() && no_registers {
            Some(NO_REGISTER_KEYS.to_owned())
        } else if kind.needs_final_state() && input.final_state.is_none() {
            Some("no final state given".to_owned())
        } else if kind == Kind::SplitBrain && input.roles.is_none() {
            Some("no role events given".to_owned())
        } else if kind.needs_unique_values() {
            values.as_ref().err().cloned()
        } else {
            None
        };
        if let Some(reason) = reason {
            skipped.insert(kind, reason);
        }
    }
    let runs = |kind: Kind| !skipped.contains_key(&kind);

    let mut findings = Findings {
        operations: all.ops.len() as u64,
        ..Findings::default()
    };
    let mut results: BTreeMap<Kind, KindResult> = BTreeMap::new();
    // Kinds over every key (or over counter and set keys), from every operation.
    results.insert(Kind::Unavailable, unavailable::run(&all, max));
    if let Some(state) = input.final_state {
        if runs(Kind::Divergence) {
            let (result, keys) = divergence::run(&all, &classes, state, max);
            findings.divergent_keys = keys;
            results.insert(Kind::Divergence, result);
        }
        let counters = counter::counter_keys(&all, &classes);
        results.insert(
            Kind::LostIncrement,
            lost_increment::run(&all, &counters, state, max),
        );
        results.insert(
            Kind::PhantomIncrement,
            phantom_increment::run(&all, &counters, state, max),
        );
        results.insert(Kind::LostAdd, lost_add::run(&all, &classes, state, max));
    }
    if let Some(roles) = input.roles {
        let (result, spans) = split_brain::run(history, roles, max)?;
        findings.split_brain_spans = spans;
        results.insert(Kind::SplitBrain, result);
    }

    // The register kinds.
    let registers = register_only.unwrap_or(all);
    if runs(Kind::Linearizability) {
        let (result, unknown) = linearizability::run(&registers, max, budget);
        results.insert(Kind::Linearizability, result);
        findings.unknown_keys = unknown;
    }
    if no_registers {
        findings.staleness = staleness::Curve::empty(Some(NO_REGISTER_KEYS.to_owned()));
    } else if let Err(reason) = &values {
        findings.staleness = staleness::Curve::empty(Some(reason.clone()));
    }
    if let Ok(values) = values
        && !no_registers
    {
        let prepared = prepare::Prepared::new(registers, values);
        findings.staleness = staleness::of(&prepared);
        results.insert(Kind::StaleRead, stale_read::run(&prepared, max));
        results.insert(Kind::ReadYourWrites, read_your_writes::run(&prepared, max));
        results.insert(Kind::MonotonicRead, monotonic_read::run(&prepared, max));
        results.insert(
            Kind::ConsistentPrefix,
            consistent_prefix::run(&prepared, max),
        );
        results.insert(Kind::PhantomRead, phantom_read::run(&prepared, max));
        if let Some(state) = input.final_state {
            results.insert(Kind::LostWrite, lost_write::run(&prepared, state, max));
        }
    }

    for kind in Kind::ALL {
        match skipped.remove(&kind) {
            Some(reason) => findings.skipped.push((kind, reason)),
            None => {
                let result = results
                    .remove(&kind)
                    .unwrap_or_else(|| panic!("{kind} is neither skipped nor checked"));
                findings.record(kind, result);
            }
        }
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{findings, history};

    #[test]
    fn kind_names_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(
            Kind::from_name("linearizability"),
            Some(Kind::Linearizability)
        );
        assert_eq!(Kind::from_name("linearisability"), None);
        assert_eq!(Kind::StaleRead.to_string(), "stale_read");
    }

    #[test]
    fn counts_every_flag_but_keeps_only_the_first_examples() {
        let script = "0 w k0 1; 0 ok; 1 r k0; 1 ok -; 1 r k0; 1 ok -; 1 r k0; 1 ok -";
        let history = history(script);
        let input = Input {
            history: &history,
            final_state: None,
            roles: None,
        };
        let f = check(&input, &Options { max_examples: 2 }).unwrap();
        assert_eq!(f.count(Kind::StaleRead), 3);
        assert_eq!(f.example_indexes(Kind::StaleRead), vec![2, 4]);
        let f = check(&input, &Options { max_examples: 0 }).unwrap();
        assert_eq!(f.count(Kind::StaleRead), 3);
        assert!(f.examples[&Kind::StaleRead].is_empty());
    }

    #[test]
    fn check_json_has_counts_examples_and_skipped() {
        let f = findings("0 w k0 1; 0 ok; 1 r k0; 1 ok -", None);
        let json = f.to_check_json();
        assert_eq!(json["anomalies"]["stale_read"], 1);
        assert_eq!(json["anomalies"]["phantom_read"], 0);
        assert_eq!(json["examples"]["stale_read"], serde_json::json!([2]));
        assert_eq!(json["skipped"]["lost_write"], "no final state given");
        assert_eq!(json["skipped"]["split_brain"], "no role events given");
        assert_eq!(json["operations"], 2);
        assert_eq!(json["anomalies"]["linearizability"], 1);
        assert_eq!(json["unknown"], serde_json::json!({}), "nothing is unknown");
        assert!(json["anomalies"].get("lost_write").is_none());
    }

    #[test]
    fn repeated_values_skip_the_kinds_that_need_unique_values() {
        let f = findings(
            "0 w k0 1; 0 ok; 1 w k0 2; 1 fail; 1 w k0 1; 1 ok",
            Some("n0 k0=1"),
        );
        let reason = "values repeat (e.g. w1 written at indexes 0 and 4)".to_owned();
        for kind in [
            Kind::StaleRead,
            Kind::ReadYourWrites,
            Kind::MonotonicRead,
            Kind::ConsistentPrefix,
            Kind::LostWrite,
            Kind::PhantomRead,
            Kind::Divergence,
        ] {
            assert!(
                f.skipped.contains(&(kind, reason.clone())),
                "{kind}: {:?}",
                f.skipped
            );
            assert!(!f.counts.contains_key(&kind));
        }
        assert_eq!(f.count(Kind::Unavailable), 1);
        assert!(f.counts.contains_key(&Kind::Unavailable));
        assert!(f.counts.contains_key(&Kind::Linearizability));
        assert_eq!(f.count(Kind::Linearizability), 0);
    }

    #[test]
    fn a_cas_writing_null_skips_the_value_based_kinds() {
        let f = findings("0 w k0 1; 0 ok; 0 cas k0 1 -; 0 ok; 1 r k0; 1 ok -", None);
        assert!(!f.counts.contains_key(&Kind::StaleRead));
        let (_, reason) = f
            .skipped
            .iter()
            .find(|(k, _)| *k == Kind::StaleRead)
            .unwrap();
        assert!(
            reason.starts_with("a cas writes null at index 2"),
            "{reason}"
        );
    }

    #[test]
    fn a_sequential_history_flags_nothing() {
        let f = findings(
            "0 w k0 1; 0 ok; 1 r k0; 1 ok 1; 1 w k1 2; 1 ok; 0 r k1; 0 ok 2; 0 r k0; 0 ok 1",
            Some("n0 k0=1 k1=2 | n1 k0=1 k1=2"),
        );
        assert!(f.counts.values().all(|&c| c == 0), "{:?}", f.counts);
        assert_eq!(f.counts.len(), 12, "every kind but split_brain was checked");
    }

    #[test]
    fn counter_and_set_keys_alone_skip_the_register_kinds() {
        // This history made `repsim run` panic in linearizability before counters and
        // sets were left out of the register kinds.
        let f = findings(
            "0 inc k0 2; 0 ok; 1 r k0; 1 ok #0; 2 add k1 e1; 2 ok; 2 add k1 e1; 2 info; \
             1 r k1; 1 ok []; 0 rm k1 e1; 0 fail",
            Some("n0 k0=#2 k1=e1 | n1 k0=#2 k1=e1"),
        );
        for kind in [
            Kind::StaleRead,
            Kind::ReadYourWrites,
            Kind::MonotonicRead,
            Kind::ConsistentPrefix,
            Kind::LostWrite,
            Kind::PhantomRead,
            Kind::Linearizability,
        ] {
            assert!(
                f.skipped.contains(&(kind, NO_REGISTER_KEYS.to_owned())),
                "{kind}: {:?}",
                f.skipped
            );
        }
        assert_eq!(f.skipped.len(), 8, "and split_brain: {:?}", f.skipped);
        assert_eq!(f.count(Kind::Unavailable), 2);
        for kind in [
            Kind::Divergence,
            Kind::LostIncrement,
            Kind::PhantomIncrement,
            Kind::LostAdd,
        ] {
            assert_eq!(f.counts.get(&kind), Some(&0), "{kind}");
        }
        assert!(f.unknown_keys.is_empty());
        assert_eq!(f.to_check_json()["unknown"], serde_json::json!({}));
        // Without a final state the counter and set kinds are skipped like lost_write.
        let f = findings("0 inc k0 2; 0 ok", None);
        assert!(
            f.skipped
                .contains(&(Kind::LostIncrement, "no final state given".to_owned()))
        );
        assert!(
            f.skipped
                .contains(&(Kind::LostAdd, "no final state given".to_owned()))
        );
    }

    #[test]
    fn register_kinds_see_only_register_keys_and_keep_the_file_indexes() {
        // k0 is a counter (its write included), k1 a set, k2 a register. The null read
        // of k2 at index 10 is stale; the reads of k0 and k1 would be flagged as
        // registers (null after a write, a value never written).
        let script = "0 w k0 1; 0 ok; 0 inc k0 2; 0 ok; 1 r k0; 1 ok -; 1 add k1 e1; 1 ok; \
                      2 w k2 3; 2 ok; 3 r k2; 3 ok -; 3 r k1; 3 ok [e7]; 3 r k0; 3 ok #9";
        let f = findings(script, Some("n0 k0=#2 k1=e1 k2=3"));
        assert_eq!(f.example_indexes(Kind::StaleRead), vec![10]);
        assert_eq!(f.example_indexes(Kind::Linearizability), vec![10]);
        for kind in [Kind::PhantomRead, Kind::LostWrite, Kind::MonotonicRead] {
            assert_eq!(f.count(kind), 0, "{kind}: {:?}", f.examples.get(&kind));
        }
        assert!(f.skipped.iter().all(|(k, _)| *k == Kind::SplitBrain));
        // Elements repeat across adds without making values repeat.
        let f = findings(
            "0 add k1 e1; 0 ok; 1 add k1 e1; 1 ok; 2 w k2 3; 2 ok",
            Some("n0 k1=e1 k2=3"),
        );
        assert!(f.skipped.iter().all(|(k, _)| *k == Kind::SplitBrain));
    }

    #[test]
    fn linearizability_summary_leaves_counter_and_set_keys_out() {
        let h = history("0 inc k0 2; 0 ok; 1 r k0; 1 ok #7; 2 w k2 3; 2 ok; 2 r k2; 2 ok 3");
        let summary = linearizability::summarize(&h, &linearizability::Budget::default()).unwrap();
        assert_eq!((summary.keys, summary.linearizable), (1, 1));
    }

    #[test]
    fn malformed_histories_are_errors_not_anomalies() {
        let mut h = history("0 r k0");
        h.push(repsim_history::Event {
            kind: repsim_history::EventType::Ok,
            value: repsim_history::Val::Cas(None, None),
            ..h.events[0]
        });
        let input = Input {
            history: &h,
            final_state: None,
            roles: None,
        };
        let err = check(&input, &Options::default()).unwrap_err().to_string();
        assert!(err.contains("a read returned [expected, new]"), "{err}");
        let h = history("0 w k0 1; 0 ok; 0 ok");
        let input = Input {
            history: &h,
            final_state: None,
            roles: None,
        };
        assert!(check(&input, &Options::default()).is_err());
    }
}
