//! `unavailable` (SPEC §4): each operation that completed with `fail` or `info`, plus each
//! write (or cas) that never completed, which SPEC §4 counts as `info`. A read that never
//! completed is not counted: it did not complete. Needs no unique values. O(n).

use repsim_history::{Function, Outcome};

use crate::collect::Collector;
use crate::prepare::Base;
use crate::render;
use crate::{Flag, KindResult};

/// Counts unavailable operations and renders the first `max`.
pub(crate) fn run(base: &Base<'_>, max: usize) -> KindResult {
    let mut collector = Collector::new(max);
    for (i, op) in base.ops.iter().enumerate() {
        let counted = match op.outcome {
            Outcome::Fail | Outcome::Info => true,
            Outcome::Pending => op.f != Function::Read,
            Outcome::Ok => false,
        };
        if counted {
            collector.push(base.history.index_of(op.invoke), 0, i as u32);
        }
    }
    let (count, kept) = collector.finish();
    let flags = kept
        .into_iter()
        .map(|(index, op)| {
            let operation = &base.ops[op as usize];
            let how = match operation.outcome {
                Outcome::Fail => format!("failed at index {}", base.completion_index(op)),
                Outcome::Info => {
                    format!(
                        "completed with info (unknown outcome) at index {}",
                        base.completion_index(op)
                    )
                }
                Outcome::Pending | Outcome::Ok => "never completed (counted as info)".to_owned(),
            };
            let message = format!(
                "{} of {} by process {} at index {index} {how}",
                operation.f.as_str(),
                render::key_name(base.history, operation.key),
                operation.process
            );
            Flag {
                index,
                involved: Vec::new(),
                message,
            }
        })
        .collect();
    KindResult { count, flags }
}

#[cfg(test)]
mod tests {
    use crate::Kind::Unavailable;
    use crate::testing::findings;

    #[test]
    fn fail_info_and_unfinished_writes_count_but_unfinished_reads_do_not() {
        let f = findings(
            "0 w k0 1; 0 fail; 0 r k0; 0 info; 0 w k0 2; 0 ok; 0 w k0 3; 1 r k0",
            None,
        );
        assert_eq!(f.operations, 5);
        assert_eq!(f.example_indexes(Unavailable), vec![0, 2, 6]);
        assert!(
            f.examples[&Unavailable][2]
                .message
                .contains("never completed")
        );
        assert_eq!(findings("0 r k0; 0 ok -", None).count(Unavailable), 0);
    }
}
