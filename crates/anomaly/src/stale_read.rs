//! `stale_read` (SPEC §4): each ok read R of key k returning write A's value (or `null`)
//! while some ok write B of k has `A → B` (or, for `null`, any ok write B of k) and B's
//! `ok` came before R's invoke. With siblings, every sibling must meet the condition.
//!
//! A value that names no write of k plays no part (that is `phantom_read`), and neither
//! does an `info` or never-completed A: without an `ok`, `A → B` never holds.
//!
//! How: one sweep over event positions keeps, per key, the largest invoke position among
//! the ok writes acknowledged so far. At R's invoke, R is stale iff that position comes
//! after the latest `ok` among the writes R returned (for `null`: iff there is one).
//! O(n) time after the shared preparation, O(keys) extra memory.

use crate::collect::Collector;
use crate::prepare::{NONE, Prepared, Seen};
use crate::render;
use crate::{Flag, KindResult};

/// Counts stale reads and renders the first `max`.
pub(crate) fn run(prepared: &Prepared<'_>, max: usize) -> KindResult {
    let base = &prepared.base;
    let mut collector = Collector::new(max);
    // Per dense key: among the ok writes acknowledged so far, the one invoked last, as
    // (invoke position, write); NONE while there is none.
    let mut latest = vec![(NONE, NONE); base.keys.len()];
    for (position, &op) in base.op_at.iter().enumerate() {
        if op == NONE {
            // An event of a counter or set key.
            continue;
        }
        let operation = &base.ops[op as usize];
        let key = base.key[op as usize] as usize;
        if operation.invoke as usize == position {
            let (b_invoke, b) = latest[key];
            let stale = b != NONE
                && match prepared.seen[op as usize] {
                    Seen::Null => true,
                    Seen::Ok { at, .. } => at < b_invoke,
                    Seen::NotOkRead | Seen::NotOk => false,
                };
            if stale {
                collector.push(base.invoke_index(op), 0, (op, b));
            }
        } else if base.is_ok_write(op)
            && (latest[key].1 == NONE || operation.invoke > latest[key].0)
        {
            // The write's ok, at `position`.
            latest[key] = (operation.invoke, op);
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
    let op = &base.ops[read as usize];
    let values = base.read_values(read);
    let b_name = render::value_name(history, base.written(b).expect("a write has a value"));
    let b_text = format!(
        "{b_name} (invoked at index {}, ok at index {})",
        base.invoke_index(b),
        base.completion_index(b)
    );
    let mut involved: Vec<u64> = values
        .iter()
        .filter_map(|&v| prepared.named(v, read))
        .map(|a| base.invoke_index(a))
        .collect();
    involved.push(base.invoke_index(b));
    involved.sort_unstable();
    involved.dedup();
    let head = format!(
        "read of {} by process {} at index {index} returned {}",
        base.key_name(read),
        op.process,
        render::values_name(history, values)
    );
    let message = match prepared.seen[read as usize] {
        Seen::Ok { write, .. } if values.len() == 1 => format!(
            "{head}, but {b_text} was written after {} was acknowledged (index {}) and completed \
             before the read began",
            render::values_name(history, values),
            base.completion_index(write)
        ),
        Seen::Ok { write, .. } => format!(
            "{head}, but {b_text} was written after all of them were acknowledged (the last at \
             index {}) and completed before the read began",
            base.completion_index(write)
        ),
        _ => format!("{head}, but {b_text} was written and acknowledged before the read began"),
    };
    Flag {
        index,
        involved,
        message,
    }
}

#[cfg(test)]
mod tests {
    use crate::Kind::StaleRead;
    use crate::testing::findings;

    #[test]
    fn read_of_an_overwritten_value_is_stale() {
        // w1 → w2 (w1's ok at 1 before w2's invoke at 2); w2 ok at 3 before the read at 4.
        let f = findings("0 w k0 1; 0 ok; 0 w k0 2; 0 ok; 1 r k0; 1 ok 1", None);
        assert_eq!(f.count(StaleRead), 1);
        let flag = &f.examples[&StaleRead][0];
        assert_eq!(flag.index, 4);
        assert_eq!(flag.involved, vec![0, 2]);
        assert!(
            flag.message
                .contains("read of k0 by process 1 at index 4 returned w1"),
            "{}",
            flag.message
        );
        assert!(
            flag.message
                .contains("w2 (invoked at index 2, ok at index 3)"),
            "{}",
            flag.message
        );
    }

    #[test]
    fn newer_write_acknowledged_after_the_read_began_is_not_stale() {
        // w2's ok (4) comes after the read's invoke (3): concurrent, so no flag.
        let f = findings("0 w k0 1; 0 ok; 0 w k0 2; 1 r k0; 0 ok; 1 ok 1", None);
        assert_eq!(f.count(StaleRead), 0);
    }

    #[test]
    fn concurrent_writes_do_not_order_each_other() {
        // w1's ok (2) comes after w2's invoke (1): not w1 → w2.
        let f = findings("0 w k0 1; 1 w k0 2; 0 ok; 1 ok; 2 r k0; 2 ok 1", None);
        assert_eq!(f.count(StaleRead), 0);
    }

    #[test]
    fn null_after_an_acknowledged_write_is_stale() {
        let f = findings("0 w k0 1; 0 ok; 1 r k0; 1 ok -", None);
        assert_eq!(f.count(StaleRead), 1);
        assert_eq!(f.examples[&StaleRead][0].index, 2);
        assert_eq!(f.examples[&StaleRead][0].involved, vec![0]);
        let f = findings("0 w k0 1; 1 r k0; 0 ok; 1 ok -", None);
        assert_eq!(f.count(StaleRead), 0);
    }

    #[test]
    fn siblings_are_stale_only_if_every_sibling_is() {
        // w1 → w3 and w2 → w3; w3 is acknowledged at 5, before the read at 6.
        let prefix = "0 w k0 1; 0 ok; 1 w k0 2; 1 ok; 0 w k0 3; 0 ok; 2 r k0;";
        let f = findings(&format!("{prefix} 2 ok 1,3"), None);
        assert_eq!(f.count(StaleRead), 0, "w3 itself is not stale");
        let f = findings(&format!("{prefix} 2 ok 1,2"), None);
        assert_eq!(f.count(StaleRead), 1);
        assert_eq!(f.examples[&StaleRead][0].index, 6);
        assert_eq!(f.examples[&StaleRead][0].involved, vec![0, 2, 4]);
    }

    #[test]
    fn info_and_failed_writes_are_never_stale() {
        let f = findings("0 w k0 1; 0 info; 1 w k0 2; 1 ok; 2 r k0; 2 ok 1", None);
        assert_eq!(
            f.count(StaleRead),
            0,
            "an info write has no ok, so never precedes"
        );
        let f = findings("0 w k0 1; 0 fail; 1 w k0 2; 1 ok; 2 r k0; 2 ok 1", None);
        assert_eq!(
            f.count(StaleRead),
            0,
            "a failed write's value is a phantom instead"
        );
        assert_eq!(f.count(crate::Kind::PhantomRead), 1);
    }

    #[test]
    fn an_ok_cas_is_a_write_of_its_new_value() {
        let f = findings("0 w k0 1; 0 ok; 1 cas k0 1 2; 1 ok; 2 r k0; 2 ok 1", None);
        assert_eq!(f.count(StaleRead), 1);
        let f = findings("0 w k0 1; 0 ok; 1 cas k0 1 2; 1 fail; 2 r k0; 2 ok 1", None);
        assert_eq!(f.count(StaleRead), 0);
        let f = findings("0 w k0 1; 0 ok; 1 cas k0 1 2; 1 ok; 2 r k0; 2 ok 2", None);
        assert_eq!(f.count(StaleRead), 0);
    }

    #[test]
    fn a_value_of_another_key_is_not_stale_but_phantom() {
        let f = findings("0 w k1 1; 0 ok; 0 w k0 2; 0 ok; 1 r k0; 1 ok 1", None);
        assert_eq!(f.count(StaleRead), 0);
        assert_eq!(f.count(crate::Kind::PhantomRead), 1);
    }
}
