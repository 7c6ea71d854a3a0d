//! `phantom_increment`: each counter key (a key with an `increment`) whose final value,
//! on every node whose final-state map lists the key (and at least one does), is a
//! number above the sum of the amounts of all its increments that did not `fail` (`ok`,
//! `info` and never completed): even if every uncertain increment took effect, the
//! counter holds more than was ever added, so some increment was counted twice (a
//! retried or duplicated update applied again). Needs the final state; needs no unique
//! values.
//!
//! A separate kind from `lost_increment` because it has the opposite cause (updates
//! that are not idempotent, rather than updates that are not durable), and a scenario
//! expects one without the other. Certain only: a node whose value is not a number proves
//! nothing (see [`crate::counter`]), and one node at or below the sum clears the key.
//!
//! The flag's index is the key's first increment (whatever its outcome), or its first
//! operation if it has none (a key only read, in a history with counters); `involved`
//! lists its other increments that did not fail (at most
//! [`crate::counter::MAX_INVOLVED`]). O(n) after [`crate::counter::counter_keys`].

use repsim_history::FinalState;

use crate::collect::Collector;
use crate::counter::{self, CounterKey};
use crate::prepare::Base;
use crate::render;
use crate::{Flag, KindResult};

/// Counts counter keys that hold more than was added and renders the first `max`.
pub(crate) fn run(
    base: &Base<'_>,
    counters: &[CounterKey],
    state: &FinalState,
    max: usize,
) -> KindResult {
    let mut collector = Collector::new(max);
    for (i, counter) in counters.iter().enumerate() {
        let finals = counter::finals(base, state, counter.key);
        let phantom = !finals.is_empty()
            && finals
                .iter()
                .all(|(_, _, number)| number.is_some_and(|n| n > counter.possible_sum));
        if phantom {
            collector.push(
                base.invoke_index(counter.first),
                u64::from(counter.dense),
                i,
            );
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
    let uncertain = counter.possible.len() - counter.ok.len();
    let message = format!(
        "counter {key} counted increments twice: its final value is above {}, the sum of every \
         increment that may have taken effect ({} ok, {uncertain} info or never completed; \
         {} failed left out; the first operation on {key} invoked at index {index}), on every \
         node listing it: {}",
        counter.possible_sum,
        counter.ok.len(),
        counter.failed,
        counter::describe_finals(base, &finals),
    );
    Flag {
        index,
        involved: counter::involved(base, &counter.possible, counter.first),
        message,
    }
}

#[cfg(test)]
mod tests {
    use crate::Kind::{LostIncrement, PhantomIncrement};
    use crate::testing::findings;

    /// Increments of 5 (fail), 2 (ok), 3 (ok) and 4 (info) on k0: at most 9.
    const INCREMENTS: &str =
        "2 inc k0 5; 2 fail; 0 inc k0 2; 0 ok; 1 inc k0 3; 1 ok; 0 inc k0 4; 0 info";

    #[test]
    fn a_total_above_everything_that_may_have_happened_is_flagged() {
        // 14 = 9 + 5: the failed increment counted, or another counted twice.
        let f = findings(INCREMENTS, Some("n0 k0=#14 | n1 k0=#10"));
        assert_eq!(f.count(PhantomIncrement), 1);
        let flag = &f.examples[&PhantomIncrement][0];
        assert_eq!((flag.index, flag.involved.clone()), (0, vec![2, 4, 6]));
        assert_eq!(
            flag.message,
            "counter k0 counted increments twice: its final value is above 9, the sum of every \
             increment that may have taken effect (2 ok, 1 info or never completed; 1 failed \
             left out; the first operation on k0 invoked at index 0), on every node listing it: \
             n0: 14, n1: 10"
        );
        assert_eq!(f.count(LostIncrement), 0);
    }

    #[test]
    fn one_node_within_the_sum_clears_the_key() {
        // Near miss: n1 holds exactly 9 (every uncertain increment took effect).
        let f = findings(INCREMENTS, Some("n0 k0=#14 | n1 k0=#9"));
        assert_eq!(f.count(PhantomIncrement), 0);
        // A pending increment may take effect too.
        let f = findings("0 inc k0 2; 0 ok; 1 inc k0 3", Some("n0 k0=#5"));
        assert_eq!(f.count(PhantomIncrement), 0);
        let f = findings("0 inc k0 2; 0 ok; 1 inc k0 3", Some("n0 k0=#6"));
        assert_eq!(f.example_indexes(PhantomIncrement), vec![0]);
    }

    #[test]
    fn an_unlisted_key_or_a_value_that_is_not_a_number_is_never_phantom() {
        let f = findings("0 inc k0 1; 0 ok", Some("n0 k1=-"));
        assert_eq!(f.count(PhantomIncrement), 0);
        let f = findings("0 inc k0 1; 0 ok", Some("n0 k0=#5 | n1 k0=e1"));
        assert_eq!(f.count(PhantomIncrement), 0);
    }

    #[test]
    fn a_counter_only_read_is_phantom_above_zero() {
        // k1 is only read, in a history with counters: a counter nobody incremented.
        let f = findings("0 inc k0 1; 0 ok; 1 r k1; 1 ok #0", Some("n0 k0=#1 k1=#2"));
        assert_eq!(f.example_indexes(PhantomIncrement), vec![2]);
        let f = findings("0 inc k0 1; 0 ok; 1 r k1; 1 ok #0", Some("n0 k0=#1 k1=#0"));
        assert_eq!(f.count(PhantomIncrement), 0);
        assert_eq!(
            f.count(crate::Kind::PhantomRead),
            0,
            "a read of 0 is no phantom"
        );
    }

    #[test]
    fn only_failed_increments_and_a_positive_total_is_phantom() {
        let f = findings("0 inc k0 1; 0 fail", Some("n0 k0=#1"));
        assert_eq!(f.example_indexes(PhantomIncrement), vec![0]);
        assert!(f.examples[&PhantomIncrement][0].involved.is_empty());
        let f = findings("0 inc k0 1; 0 fail", Some("n0 k0=-"));
        assert_eq!(f.count(PhantomIncrement), 0);
    }
}
