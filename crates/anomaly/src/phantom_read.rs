//! `phantom_read` (SPEC §4): each ok read of key k that returns a value no write of k
//! wrote, a `fail`ed write's value (a failed cas included), or the value of a write
//! invoked after the read completed. With siblings, every sibling must be one of these.
//! `null` is never a phantom.
//!
//! How: one lookup of each value's write. O(n + s) for s sibling values in all.

use crate::collect::Collector;
use crate::prepare::Prepared;
use crate::render;
use crate::{Flag, KindResult};

/// Why one value is a phantom.
enum Why {
    /// No write wrote it.
    NeverWritten,
    /// A write of another key wrote it.
    OtherKey(u32),
    /// A write that failed wrote it.
    Failed(u32),
    /// A write invoked after the read completed wrote it.
    Later(u32),
}

/// Why `value`, returned by ok read `read`, is a phantom; `None` if it is not.
fn why(prepared: &Prepared<'_>, read: u32, value: repsim_history::ValueId) -> Option<Why> {
    let base = &prepared.base;
    let Some(write) = prepared.write_of(value) else {
        return Some(Why::NeverWritten);
    };
    let completion = base.ops[read as usize]
        .completion
        .expect("an ok read completed");
    if base.key[write as usize] != base.key[read as usize] {
        Some(Why::OtherKey(write))
    } else if base.ops[write as usize].outcome == repsim_history::Outcome::Fail {
        Some(Why::Failed(write))
    } else if base.ops[write as usize].invoke > completion {
        Some(Why::Later(write))
    } else {
        None
    }
}

/// Counts phantom reads and renders the first `max`.
pub(crate) fn run(prepared: &Prepared<'_>, max: usize) -> KindResult {
    let base = &prepared.base;
    let mut collector = Collector::new(max);
    for read in 0..base.ops.len() as u32 {
        if !base.is_ok_read(read) {
            continue;
        }
        let values = base.read_values(read);
        if !values.is_empty() && values.iter().all(|&v| why(prepared, read, v).is_some()) {
            collector.push(base.invoke_index(read), 0, read);
        }
    }
    let (count, kept) = collector.finish();
    let flags = kept
        .into_iter()
        .map(|(index, read)| render_flag(prepared, index, read))
        .collect();
    KindResult { count, flags }
}

fn render_flag(prepared: &Prepared<'_>, index: u64, read: u32) -> Flag {
    let base = &prepared.base;
    let history = base.history;
    let key_name = base.key_name(read);
    let mut involved = Vec::new();
    let mut reasons = Vec::new();
    for &value in base.read_values(read) {
        let name = render::value_name(history, value);
        let reason = match why(prepared, read, value)
            .expect("every value of a flagged read is a phantom")
        {
            Why::NeverWritten => format!("{name} was never written"),
            Why::OtherKey(write) => {
                involved.push(base.invoke_index(write));
                format!(
                    "{name} was written to {} (index {}), not to {key_name}",
                    base.key_name(write),
                    base.invoke_index(write)
                )
            }
            Why::Failed(write) => {
                involved.push(base.invoke_index(write));
                format!(
                    "{name} was written by a write that failed (invoked at index {})",
                    base.invoke_index(write)
                )
            }
            Why::Later(write) => {
                involved.push(base.invoke_index(write));
                format!(
                    "{name} was first written at index {}, after the read completed at index {}",
                    base.invoke_index(write),
                    base.completion_index(read)
                )
            }
        };
        reasons.push(reason);
    }
    involved.sort_unstable();
    involved.dedup();
    let message = format!(
        "read of {key_name} by process {} at index {index} returned {}: {}",
        base.ops[read as usize].process,
        render::values_name(history, base.read_values(read)),
        reasons.join("; ")
    );
    Flag {
        index,
        involved,
        message,
    }
}

#[cfg(test)]
mod tests {
    use crate::Kind::PhantomRead;
    use crate::testing::findings;

    #[test]
    fn never_written_failed_other_key_and_future_values_are_phantoms() {
        let f = findings("0 r k0; 0 ok 5", None);
        assert_eq!(f.example_indexes(PhantomRead), vec![0]);
        assert!(
            f.examples[&PhantomRead][0]
                .message
                .contains("w5 was never written")
        );
        let f = findings("0 w k0 1; 0 fail; 1 r k0; 1 ok 1", None);
        assert_eq!(f.example_indexes(PhantomRead), vec![2]);
        assert_eq!(f.examples[&PhantomRead][0].involved, vec![0]);
        let f = findings("0 w k1 1; 0 ok; 1 r k0; 1 ok 1", None);
        assert_eq!(f.example_indexes(PhantomRead), vec![2]);
        let f = findings("0 r k0; 0 ok 1; 1 w k0 1; 1 ok", None);
        assert_eq!(f.example_indexes(PhantomRead), vec![0]);
        let f = findings("0 cas k0 - 1; 0 fail; 1 r k0; 1 ok 1", None);
        assert_eq!(f.example_indexes(PhantomRead), vec![2]);
    }

    #[test]
    fn values_of_concurrent_and_info_writes_are_not_phantoms() {
        assert_eq!(
            findings("1 w k0 1; 0 r k0; 0 ok 1; 1 info", None).count(PhantomRead),
            0
        );
        assert_eq!(
            findings("0 r k0; 1 w k0 1; 0 ok 1; 1 ok", None).count(PhantomRead),
            0
        );
        assert_eq!(
            findings("1 w k0 1; 0 r k0; 0 ok 1", None).count(PhantomRead),
            0
        );
        assert_eq!(findings("0 r k0; 0 ok -", None).count(PhantomRead), 0);
    }

    #[test]
    fn siblings_are_phantom_only_if_every_sibling_is() {
        assert_eq!(
            findings("0 w k0 1; 0 ok; 1 r k0; 1 ok 1,9", None).count(PhantomRead),
            0
        );
        assert_eq!(
            findings("0 w k0 1; 0 ok; 1 r k0; 1 ok 8,9", None).count(PhantomRead),
            1
        );
    }
}
