//! `read_your_writes` (SPEC §4): each ok read R by process p of key k returning write A's
//! value (or `null`) where p's own earlier ok write B of k has `A → B` (or, for `null`,
//! such a B exists). "Earlier" means completed before R's invoke; a process has one
//! operation in flight, so that is every operation of p invoked before R. An ok cas is
//! an ok write. With siblings, every sibling must meet the condition.
//!
//! How: sweeping operations in invocation order, remember per (process, key) group p's
//! latest ok write of k (the one with the largest invoke position); R is flagged iff it
//! exists and, for a non-null read, every value R returned names an ok write acknowledged
//! before that write's invoke. O(n) after the shared preparation.

use crate::collect::Collector;
use crate::prepare::{NONE, Prepared, Seen};
use crate::render;
use crate::{Flag, KindResult};

/// Counts read-your-writes violations and renders the first `max`.
pub(crate) fn run(prepared: &Prepared<'_>, max: usize) -> KindResult {
    let base = &prepared.base;
    let mut collector = Collector::new(max);
    // Per (process, key) group: the process's latest ok write of the key so far.
    let mut own_write = vec![NONE; prepared.group_count()];
    for op in 0..base.ops.len() as u32 {
        let group = prepared.group[op as usize] as usize;
        if base.is_ok_write(op) {
            own_write[group] = op;
            continue;
        }
        let b = own_write[group];
        if b == NONE {
            continue;
        }
        let flagged = match prepared.seen[op as usize] {
            Seen::Null => true,
            Seen::Ok { at, .. } => at < base.ops[b as usize].invoke,
            Seen::NotOkRead | Seen::NotOk => false,
        };
        if flagged {
            collector.push(base.invoke_index(op), 0, (op, b));
        }
    }
    let (count, kept) = collector.finish();
    let flags = kept
        .into_iter()
        .map(|(index, (read, b))| render_flag(prepared, index, read, b))
        .collect();
    KindResult { count, flags }
}

fn render_flag(prepared: &Prepared<'_>, index: u64, read: u32, b: u32) -> Flag {
    let base = &prepared.base;
    let history = base.history;
    let values = base.read_values(read);
    let mut involved: Vec<u64> = values
        .iter()
        .filter_map(|&v| prepared.named(v, read))
        .map(|a| base.invoke_index(a))
        .collect();
    involved.push(base.invoke_index(b));
    involved.sort_unstable();
    involved.dedup();
    let b_text = format!(
        "{} (invoked at index {}, ok at index {})",
        render::value_name(history, base.written(b).expect("a write has a value")),
        base.invoke_index(b),
        base.completion_index(b)
    );
    let head = format!(
        "read of {} by process {} at index {index} returned {}, but the same process had already \
         written {b_text}",
        base.key_name(read),
        base.ops[read as usize].process,
        render::values_name(history, values),
    );
    let message = match prepared.seen[read as usize] {
        Seen::Ok { write, .. } => format!(
            "{head} after {} was acknowledged (index {})",
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
    use crate::Kind::{ReadYourWrites, StaleRead};
    use crate::testing::findings;

    #[test]
    fn missing_ones_own_write_is_flagged() {
        let f = findings("0 w k0 1; 0 ok; 1 w k0 2; 1 ok; 1 r k0; 1 ok 1", None);
        assert_eq!(f.count(ReadYourWrites), 1);
        let flag = &f.examples[&ReadYourWrites][0];
        assert_eq!(flag.index, 4);
        assert_eq!(flag.involved, vec![0, 2]);
        assert!(
            flag.message.contains("same process had already written w2"),
            "{}",
            flag.message
        );
    }

    #[test]
    fn another_process_write_is_not_ones_own() {
        let f = findings("0 w k0 1; 0 ok; 2 w k0 2; 2 ok; 1 r k0; 1 ok 1", None);
        assert_eq!(f.count(ReadYourWrites), 0);
        assert_eq!(f.count(StaleRead), 1);
    }

    #[test]
    fn own_write_concurrent_with_the_value_read_is_not_flagged() {
        // w1's ok (3) comes after own w2's invoke (0).
        let f = findings("1 w k0 2; 0 w k0 1; 1 ok; 0 ok; 1 r k0; 1 ok 1", None);
        assert_eq!(f.count(ReadYourWrites), 0);
    }

    #[test]
    fn null_after_own_ok_write_is_flagged_but_not_after_info() {
        let f = findings("1 w k0 2; 1 ok; 1 r k0; 1 ok -", None);
        assert_eq!(f.count(ReadYourWrites), 1);
        assert_eq!(f.examples[&ReadYourWrites][0].index, 2);
        let f = findings("1 w k0 2; 1 info; 1 r k0; 1 ok -", None);
        assert_eq!(f.count(ReadYourWrites), 0);
    }

    #[test]
    fn own_write_of_another_key_does_not_count() {
        let f = findings("0 w k0 1; 0 ok; 1 w k1 2; 1 ok; 1 r k0; 1 ok 1", None);
        assert_eq!(f.count(ReadYourWrites), 0);
    }

    #[test]
    fn examples_are_in_index_order_across_processes() {
        // Process 1's flag (index 6) is found after process 0's group is scanned,
        // whatever the grouping order; examples must still be by index.
        let f = findings(
            "2 w k0 1; 2 ok; 1 w k0 2; 1 ok; 0 w k0 3; 0 ok; 1 r k0; 1 ok 1; 0 r k0; 0 ok 1",
            None,
        );
        assert_eq!(f.count(ReadYourWrites), 2);
        assert_eq!(f.example_indexes(ReadYourWrites), vec![6, 8]);
    }
}
