//! `monotonic_read` (SPEC §4): each ok read R2 by process p of key k returning write A's
//! value (or `null`) where p's earlier ok read R1 of k returned B and `A → B` (or, for
//! `null`, R1 returned any non-null value). Any of R1's siblings counts as a returned B,
//! if it names a write (see the crate doc: a phantom value is not a B). With siblings in
//! R2, every sibling must meet the condition.
//!
//! How: sweeping operations in invocation order, keep per (process, key) group the
//! largest invoke position of any B returned so far, and whether any non-null value was
//! returned; R2 is judged against them before its own values are added. O(n + s) after
//! the shared preparation, for s sibling values in all.

use crate::collect::Collector;
use crate::prepare::{Prepared, Seen};
use crate::render;
use crate::{Flag, KindResult};

/// Why a read is flagged: the earlier read R1, and the write B it returned (none for a
/// `null` R2, where any non-null R1 suffices).
#[derive(Clone, Copy)]
struct Witness {
    read: u32,
    earlier: u32,
    b: Option<u32>,
}

/// Per (process, key) group: what the process's earlier reads of the key returned.
#[derive(Clone, Copy)]
struct Earlier {
    /// The returned B with the largest invoke position: (invoke, B, the read).
    latest_b: Option<(u32, u32, u32)>,
    /// The latest read that returned a non-null value.
    non_null: Option<u32>,
}

/// Counts monotonic-read violations and renders the first `max`.
pub(crate) fn run(prepared: &Prepared<'_>, max: usize) -> KindResult {
    let base = &prepared.base;
    let mut collector = Collector::new(max);
    let mut groups = vec![
        Earlier {
            latest_b: None,
            non_null: None
        };
        prepared.group_count()
    ];
    for read in 0..base.ops.len() as u32 {
        let seen = prepared.seen[read as usize];
        if seen == Seen::NotOkRead {
            continue;
        }
        let earlier = &mut groups[prepared.group[read as usize] as usize];
        let witness = match seen {
            Seen::Null => earlier.non_null.map(|r1| Witness {
                read,
                earlier: r1,
                b: None,
            }),
            Seen::Ok { at, .. } => earlier
                .latest_b
                .filter(|&(b_invoke, _, _)| at < b_invoke)
                .map(|(_, b, r1)| Witness {
                    read,
                    earlier: r1,
                    b: Some(b),
                }),
            Seen::NotOkRead | Seen::NotOk => None,
        };
        if let Some(witness) = witness {
            collector.push(base.invoke_index(read), 0, witness);
        }
        let values = base.read_values(read);
        if !values.is_empty() {
            earlier.non_null = Some(read);
        }
        for &value in values {
            if let Some(b) = prepared.named(value, read) {
                let invoke = base.ops[b as usize].invoke;
                if earlier.latest_b.is_none_or(|(best, _, _)| invoke > best) {
                    earlier.latest_b = Some((invoke, b, read));
                }
            }
        }
    }
    let (count, kept) = collector.finish();
    let flags = kept
        .into_iter()
        .map(|(index, witness)| render_flag(prepared, index, witness))
        .collect();
    KindResult { count, flags }
}

fn render_flag(prepared: &Prepared<'_>, index: u64, witness: Witness) -> Flag {
    let base = &prepared.base;
    let history = base.history;
    let Witness { read, earlier, b } = witness;
    let values = base.read_values(read);
    let mut involved: Vec<u64> = values
        .iter()
        .filter_map(|&v| prepared.named(v, read))
        .map(|a| base.invoke_index(a))
        .collect();
    involved.push(base.invoke_index(earlier));
    involved.extend(b.map(|b| base.invoke_index(b)));
    involved.sort_unstable();
    involved.dedup();
    let head = format!(
        "read of {} by process {} at index {index} returned {}, but the same process's earlier \
         read at index {} returned {}",
        base.key_name(read),
        base.ops[read as usize].process,
        render::values_name(history, values),
        base.invoke_index(earlier),
        render::values_name(history, base.read_values(earlier)),
    );
    let message = match (b, prepared.seen[read as usize]) {
        (Some(b), Seen::Ok { write, .. }) => format!(
            "{head}, and {} was invoked (index {}) after {} was acknowledged (index {})",
            render::value_name(history, base.written(b).expect("a write has a value")),
            base.invoke_index(b),
            if values.len() == 1 {
                "the value read"
            } else {
                "every value read"
            },
            base.completion_index(write)
        ),
        _ => head,
    };
    Flag {
        index,
        involved,
        message,
    }
}

#[cfg(test)]
mod tests {
    use crate::Kind::{MonotonicRead, PhantomRead, StaleRead};
    use crate::testing::findings;

    #[test]
    fn reading_an_older_value_after_a_newer_one_is_flagged() {
        let f = findings(
            "0 w k0 1; 0 ok; 0 w k0 2; 0 ok; 1 r k0; 1 ok 2; 1 r k0; 1 ok 1",
            None,
        );
        assert_eq!(f.count(MonotonicRead), 1);
        let flag = &f.examples[&MonotonicRead][0];
        assert_eq!(flag.index, 6);
        assert_eq!(flag.involved, vec![0, 2, 4]);
        assert!(
            flag.message.contains("earlier read at index 4 returned w2"),
            "{}",
            flag.message
        );
    }

    #[test]
    fn concurrent_writes_read_in_either_order_are_fine() {
        let f = findings(
            "0 w k0 1; 2 w k0 2; 0 ok; 2 ok; 1 r k0; 1 ok 2; 1 r k0; 1 ok 1",
            None,
        );
        assert_eq!(f.count(MonotonicRead), 0);
    }

    #[test]
    fn another_process_earlier_read_does_not_count() {
        let f = findings(
            "0 w k0 1; 0 ok; 0 w k0 2; 2 r k0; 2 ok 2; 1 r k0; 1 ok 1; 0 ok",
            None,
        );
        assert_eq!(f.count(MonotonicRead), 0);
    }

    #[test]
    fn null_after_any_value_is_flagged() {
        // w1 is still in flight, so this is not a stale read: only monotonic_read flags.
        let f = findings("0 w k0 1; 1 r k0; 1 ok 1; 1 r k0; 1 ok -; 0 ok", None);
        assert_eq!(f.count(MonotonicRead), 1);
        assert_eq!(f.examples[&MonotonicRead][0].index, 3);
        assert_eq!(f.count(StaleRead), 0);
        // Even a phantom value counts as "returned a value" for a later null.
        let f = findings("1 r k0; 1 ok 7; 1 r k0; 1 ok -", None);
        assert_eq!(f.count(MonotonicRead), 1);
        assert_eq!(f.count(PhantomRead), 1);
    }

    #[test]
    fn any_sibling_of_the_earlier_read_is_a_b() {
        let prefix = "0 w k0 1; 0 ok; 0 w k0 2; 0 ok; 1 r k0; 1 ok 1,2; 1 r k0;";
        let f = findings(&format!("{prefix} 1 ok 1"), None);
        assert_eq!(f.count(MonotonicRead), 1);
        // The later read's siblings must all be older: w2 is not.
        let f = findings(&format!("{prefix} 1 ok 1,2"), None);
        assert_eq!(f.count(MonotonicRead), 0);
    }

    #[test]
    fn an_earlier_read_of_a_failed_write_is_not_a_b() {
        let f = findings(
            "0 w k0 1; 0 ok; 0 w k0 2; 0 fail; 1 r k0; 1 ok 2; 1 r k0; 1 ok 1",
            None,
        );
        assert_eq!(f.count(MonotonicRead), 0);
        assert_eq!(f.count(PhantomRead), 1);
    }

    #[test]
    fn an_earlier_read_of_a_future_value_is_not_a_b() {
        // Process 0 read w2 before anyone invoked it: a phantom, which proves nothing.
        let f = findings(
            "0 r k0; 0 ok 2; 1 w k0 1; 1 ok; 1 w k0 2; 1 ok; 0 r k0; 0 ok 1",
            None,
        );
        assert_eq!(f.count(MonotonicRead), 0);
        assert_eq!(f.count(PhantomRead), 1);
        assert_eq!(f.count(StaleRead), 1);
    }
}
