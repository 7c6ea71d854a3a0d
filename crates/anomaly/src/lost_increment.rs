//! `lost_increment`: each counter key (a key with an `increment`) that has at least one
//! increment with an `ok` completion, and whose final value, on every node whose
//! final-state map lists the key, is a number below the sum of the amounts of its `ok`
//! increments. Acknowledged increments are then missing from every replica: some were
//! lost. When no node lists the key, "every node" holds vacuously and the key is flagged,
//! as for `lost_write`. Needs the final state; needs no unique values.
//!
//! Certain only: `info` and never-completed increments are left out of the sum (they may
//! not have happened), a node whose value is not a number proves nothing (see
//! [`crate::counter`]), and one node holding at least the sum clears the key.
//!
//! The flag's index is the key's first `ok` increment; `involved` lists its other `ok`
//! increments (at most [`crate::counter::MAX_INVOLVED`]); the message names the key, the
//! sum, how many increments make it, and every listing node's final value. O(n) after
//! [`crate::counter::counter_keys`].

use repsim_history::FinalState;

use crate::collect::Collector;
use crate::counter::{self, CounterKey};
use crate::prepare::Base;
use crate::render;
use crate::{Flag, KindResult};

/// Counts counter keys that lost acknowledged increments and renders the first `max`.
pub(crate) fn run(
    base: &Base<'_>,
    counters: &[CounterKey],
    state: &FinalState,
    max: usize,
) -> KindResult {
    let mut collector = Collector::new(max);
    for (i, counter) in counters.iter().enumerate() {
        let Some(&first_ok) = counter.ok.first() else {
            continue;
        };
        let finals = counter::finals(base, state, counter.key);
        let lost = finals
            .iter()
            .all(|(_, _, number)| number.is_some_and(|n| n < counter.ok_sum));
        if lost {
            collector.push(base.invoke_index(first_ok), u64::from(counter.dense), i);
        }
    }
    let (count, kept) = collector.finish();
    let flags = kept
        .into_iter()
        .map(|(index, i)| render_flag(base, state, index, &counters[i]))
        .collect();
    KindResult { count, flags }
}

fn render_flag(base: &Base<'_>, state: &FinalState, index: u64, counter: &CounterKey) -> Flag {
    let key = render::key_name(base.history, counter.key);
    let finals = counter::finals(base, state, counter.key);
    let finals = if finals.is_empty() {
        format!("no node lists {key} in the final state")
    } else {
        format!(
            "its final value is below that on every node listing it: {}",
            counter::describe_finals(base, &finals)
        )
    };
    let first_ok = counter.ok[0];
    let message = format!(
        "counter {key} lost increments: its {} ok increment{} (the first invoked at index \
         {index}, ok at index {}) add up to {}, but {finals}",
        counter.ok.len(),
        if counter.ok.len() == 1 { "" } else { "s" },
        base.completion_index(first_ok),
        counter.ok_sum,
    );
    Flag {
        index,
        involved: counter::involved(base, &counter.ok, first_ok),
        message,
    }
}

#[cfg(test)]
mod tests {
    use crate::Kind::{LostIncrement, PhantomIncrement};
    use crate::testing::findings;

    /// Increments of 2 (ok), 3 (ok), 4 (info) and 5 (fail) on k0: ok sum 5, at most 9.
    const INCREMENTS: &str =
        "0 inc k0 2; 0 ok; 1 inc k0 3; 1 ok; 0 inc k0 4; 0 info; 2 inc k0 5; 2 fail";

    #[test]
    fn a_total_below_the_acknowledged_sum_everywhere_is_flagged() {
        let f = findings(INCREMENTS, Some("n0 k0=#4 | n1 k0=#3"));
        assert_eq!(f.count(LostIncrement), 1);
        let flag = &f.examples[&LostIncrement][0];
        assert_eq!((flag.index, flag.involved.clone()), (0, vec![2]));
        assert_eq!(
            flag.message,
            "counter k0 lost increments: its 2 ok increments (the first invoked at index 0, ok \
             at index 1) add up to 5, but its final value is below that on every node listing \
             it: n0: 4, n1: 3"
        );
        assert_eq!(f.count(PhantomIncrement), 0);
    }

    #[test]
    fn one_node_with_the_whole_sum_clears_the_key() {
        // Near miss: n1 holds exactly the ok sum (the info increment did not happen).
        let f = findings(INCREMENTS, Some("n0 k0=#4 | n1 k0=#5"));
        assert_eq!(f.count(LostIncrement), 0);
        // Or more, counting the info increment.
        let f = findings(INCREMENTS, Some("n0 k0=#9 | n1 k0=#9"));
        assert_eq!(f.count(LostIncrement), 0);
    }

    #[test]
    fn info_and_failed_increments_are_not_owed() {
        // Only the info and the failed increment are missing: nothing acknowledged is.
        let f = findings(
            "0 inc k0 4; 0 info; 1 inc k0 5; 1 fail; 2 inc k0 1; 2 ok",
            Some("n0 k0=#1"),
        );
        assert_eq!(f.count(LostIncrement), 0);
        // A key without an ok increment has nothing to lose, even unlisted or at zero.
        let f = findings("0 inc k0 4; 0 info", Some("n0 k0=- | n1 k1=-"));
        assert_eq!(f.count(LostIncrement), 0);
    }

    #[test]
    fn null_counts_as_zero_and_an_unlisted_key_loses_everything() {
        let f = findings("0 inc k0 1; 0 ok", Some("n0 k0=- | n1 k0=#0"));
        assert_eq!(f.example_indexes(LostIncrement), vec![0]);
        let f = findings("0 inc k0 1; 0 ok", Some("n0 k1=-"));
        assert_eq!(f.example_indexes(LostIncrement), vec![0]);
        assert!(
            f.examples[&LostIncrement][0]
                .message
                .ends_with("but no node lists k0 in the final state"),
            "{}",
            f.examples[&LostIncrement][0].message
        );
    }

    #[test]
    fn a_final_value_that_is_not_a_number_proves_nothing() {
        let f = findings("0 inc k0 3; 0 ok", Some("n0 k0=#1 | n1 k0=7"));
        assert_eq!(f.count(LostIncrement), 0);
        let f = findings("0 inc k0 3; 0 ok", Some("n0 k0=#1,#2"));
        assert_eq!(f.count(LostIncrement), 0);
    }

    #[test]
    fn counter_reads_and_writes_play_no_part_in_the_register_kinds() {
        // A read of 0 after an acknowledged increment would be a stale read of a
        // register, and the read value a phantom; on a counter key neither applies.
        let f = findings(
            "0 inc k0 3; 0 ok; 1 r k0; 1 ok #0; 1 r k0; 1 ok #3; 2 w k0 1; 2 ok",
            Some("n0 k0=#3"),
        );
        assert!(
            f.counts.values().all(|&c| c == 0),
            "{:?} {:?}",
            f.counts,
            f.examples
        );
    }
}
