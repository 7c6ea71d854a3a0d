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
//!   `unavailable`, and [`linearizability`] (public for its [`linearizability::Budget`]).
//!   Each module doc states the definition it implements and its cost.
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
//!   `linearizability`, and `split_brain` when role events are given); the others are
//!   listed as skipped.
//! - `linearizability` reads each key as a register and decides it by search; a key it
//!   cannot decide within its budget is listed in [`Findings::unknown_keys`], neither
//!   counted nor passed.
#![warn(missing_docs)]

mod collect;
mod consistent_prefix;
mod divergence;
pub mod linearizability;
mod lost_write;
mod monotonic_read;
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
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 10] = [
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
            Kind::SplitBrain | Kind::Unavailable | Kind::Linearizability
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One flagged anomaly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    /// History index (file `index`) of the flagged operation's invoke. For `divergence`,
    /// the invoke of the first write whose value is among the differing final values (0
    /// if none); for `split_brain`, the first write accepted in the span (0 if no
    /// accepted write names its operation); for `linearizability`, the operation of the
    /// key's witness that cannot be placed (see [`linearizability`]).
    pub index: u64,
    /// Indexes of the other operations that make it an anomaly (invokes), ascending; for
    /// `linearizability`, the rest of the witness.
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
    /// "operations": n}` (`unknown` lists the undecided keys, when linearizability ran).
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
        let mut unknown = serde_json::Map::new();
        if self.counts.contains_key(&Kind::Linearizability) {
            let keys: Vec<serde_json::Value> =
                self.unknown_keys.iter().map(|k| k.clone().into()).collect();
            unknown.insert(Kind::Linearizability.name().to_owned(), keys.into());
        }
        out.insert("unknown".into(), unknown.into());
        out.insert("operations".into(), self.operations.into());
        out.into()
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
    let base = prepare::Base::new(history)?;
    let mut findings = Findings {
        operations: base.ops.len() as u64,
        ..Findings::default()
    };
    let max = options.max_examples;
    // `unavailable` needs no unique values; the value-based kinds need the value index.
    findings.record(Kind::Unavailable, unavailable::run(&base, max));
    let (result, unknown) = linearizability::run(&base, max, budget);
    findings.record(Kind::Linearizability, result);
    findings.unknown_keys = unknown;
    let (prepared, values_problem) = match prepare::ValueIndex::build(&base) {
        Ok(values) => (Some(prepare::Prepared::new(base, values)), None),
        Err(problem) => (None, Some(problem)),
    };

    for kind in Kind::ALL {
        let missing = match kind {
            Kind::LostWrite | Kind::Divergence if input.final_state.is_none() => {
                Some("no final state given".to_owned())
            }
            Kind::SplitBrain if input.roles.is_none() => Some("no role events given".to_owned()),
            _ if kind.needs_unique_values() => values_problem.clone(),
            _ => None,
        };
        if let Some(reason) = missing {
            findings.skipped.push((kind, reason));
            continue;
        }
        let result = match kind {
            Kind::Unavailable | Kind::Linearizability => continue,
            Kind::SplitBrain => {
                let roles = input.roles.expect("checked above");
                let (result, spans) = split_brain::run(history, roles, max)?;
                findings.split_brain_spans = spans;
                result
            }
            _ => {
                let prepared = prepared.as_ref().expect("values are unique: checked above");
                match kind {
                    Kind::StaleRead => stale_read::run(prepared, max),
                    Kind::ReadYourWrites => read_your_writes::run(prepared, max),
                    Kind::MonotonicRead => monotonic_read::run(prepared, max),
                    Kind::ConsistentPrefix => consistent_prefix::run(prepared, max),
                    Kind::PhantomRead => phantom_read::run(prepared, max),
                    Kind::LostWrite => {
                        let state = input.final_state.expect("checked above");
                        lost_write::run(prepared, state, max)
                    }
                    Kind::Divergence => {
                        let state = input.final_state.expect("checked above");
                        let (result, keys) = divergence::run(prepared, state, max);
                        findings.divergent_keys = keys;
                        result
                    }
                    Kind::SplitBrain | Kind::Unavailable | Kind::Linearizability => {
                        unreachable!("handled above")
                    }
                }
            }
        };
        findings.record(kind, result);
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
        assert_eq!(json["unknown"]["linearizability"], serde_json::json!([]));
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
        assert_eq!(f.counts.len(), 9, "every kind but split_brain was checked");
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
