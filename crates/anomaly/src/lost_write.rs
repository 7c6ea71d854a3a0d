//! `lost_write` (SPEC §4): each write W with an `ok` completion (an ok cas included) such
//! that, on every node whose final-state map lists W's key, the final value is `null` or
//! a write A with `A → W`. A sibling or merged list counts as lost only if every value
//! in it is such an A; a value that names no write of the key (or a failed write) is
//! never such an A. When no node lists the key, "every node" holds vacuously and W is
//! flagged. Needs the final state.
//!
//! How: per key, each listing node gives a bound: W is lost on that node iff W's invoke
//! position is above it (`null`: any W; all values ok writes: the latest of their `ok`
//! positions; otherwise no W). W is lost iff its invoke is above the largest bound. O(n +
//! f) for f values in the final state.

use repsim_history::{FinalState, KeyId};

use crate::collect::Collector;
use crate::prepare::Prepared;
use crate::render;
use crate::{Flag, KindResult};

/// Counts lost writes and renders the first `max`.
pub(crate) fn run(prepared: &Prepared<'_>, state: &FinalState, max: usize) -> KindResult {
    let base = &prepared.base;
    // Per dense key: W is lost iff invoke(W) > bound. -1 (no node lists the key, or every
    // listing node holds null) loses every ok write; i64::MAX loses none.
    let mut bound = vec![-1i64; base.keys.len()];
    for keys in state.nodes.values() {
        for (key, values) in keys {
            let Some(dense) = base.keys.find(key.0) else {
                continue;
            };
            let mut node_bound = -1i64;
            for &value in values {
                match prepared
                    .named_in_final(value, dense)
                    .and_then(|a| base.ok_at(a))
                {
                    Some(at) => node_bound = node_bound.max(i64::from(at)),
                    None => {
                        node_bound = i64::MAX;
                        break;
                    }
                }
            }
            let slot = &mut bound[dense as usize];
            *slot = (*slot).max(node_bound);
        }
    }
    let mut collector = Collector::new(max);
    for write in 0..base.ops.len() as u32 {
        if base.is_ok_write(write)
            && i64::from(base.ops[write as usize].invoke) > bound[base.key[write as usize] as usize]
        {
            collector.push(base.invoke_index(write), 0, write);
        }
    }
    let (count, kept) = collector.finish();
    let flags = kept
        .into_iter()
        .map(|(index, write)| render_flag(prepared, state, index, write))
        .collect();
    KindResult { count, flags }
}

fn render_flag(prepared: &Prepared<'_>, state: &FinalState, index: u64, write: u32) -> Flag {
    let base = &prepared.base;
    let history = base.history;
    let op = &base.ops[write as usize];
    let key: KeyId = op.key;
    let dense = base.key[write as usize];
    let mut finals = Vec::new();
    let mut involved = Vec::new();
    for (node, keys) in &state.nodes {
        if let Some(values) = keys.get(&key) {
            finals.push(format!(
                "{}: {}",
                render::node_name(history, *node),
                render::values_name(history, values)
            ));
            involved.extend(
                values
                    .iter()
                    .filter_map(|&v| prepared.named_in_final(v, dense))
                    .map(|a| base.invoke_index(a)),
            );
        }
    }
    involved.sort_unstable();
    involved.dedup();
    let finals = if finals.is_empty() {
        format!("no node lists {} in the final state", base.key_name(write))
    } else {
        format!("final values {}", finals.join(", "))
    };
    let message = format!(
        "write of {} to {} by process {} (invoked at index {index}, ok at index {}) is lost: {finals}",
        render::value_name(history, base.written(write).expect("a write has a value")),
        base.key_name(write),
        op.process,
        base.completion_index(write),
    );
    Flag {
        index,
        involved,
        message,
    }
}

#[cfg(test)]
mod tests {
    use crate::Kind::LostWrite;
    use crate::testing::findings;

    const TWO_WRITES: &str = "0 w k0 1; 0 ok; 0 w k0 2; 0 ok";

    #[test]
    fn write_overwritten_by_an_older_value_everywhere_is_lost() {
        let f = findings(TWO_WRITES, Some("n0 k0=1 | n1 k0=-"));
        assert_eq!(f.count(LostWrite), 1);
        let flag = &f.examples[&LostWrite][0];
        assert_eq!(flag.index, 2);
        assert_eq!(flag.involved, vec![0]);
        assert!(
            flag.message.contains("final values n0: w1, n1: null"),
            "{}",
            flag.message
        );
    }

    #[test]
    fn write_surviving_on_one_node_is_not_lost() {
        let f = findings(TWO_WRITES, Some("n0 k0=1 | n1 k0=2"));
        assert_eq!(f.count(LostWrite), 0);
    }

    #[test]
    fn a_concurrent_final_value_does_not_lose_a_write() {
        let f = findings("0 w k0 1; 1 w k0 2; 0 ok; 1 ok", Some("n0 k0=1"));
        assert_eq!(f.count(LostWrite), 0);
    }

    #[test]
    fn siblings_lose_a_write_only_if_all_precede_it() {
        // w1 ok at 1; w3 invoked at 2, ok at 5; w2 invoked at 3, ok at 4.
        let history = "0 w k0 1; 0 ok; 1 w k0 3; 0 w k0 2; 0 ok; 1 ok";
        assert_eq!(findings(history, Some("n0 k0=1,3")).count(LostWrite), 0);
        let f = findings(history, Some("n0 k0=1"));
        assert_eq!(f.example_indexes(LostWrite), vec![2, 3]);
    }

    #[test]
    fn unknown_final_values_lose_nothing_and_unlisted_keys_lose_everything() {
        assert_eq!(findings(TWO_WRITES, Some("n0 k0=9")).count(LostWrite), 0);
        let f = findings(TWO_WRITES, Some("n0 k1=-"));
        assert_eq!(f.example_indexes(LostWrite), vec![0, 2]);
        assert!(
            f.examples[&LostWrite][0]
                .message
                .contains("no node lists k0")
        );
    }

    #[test]
    fn only_acknowledged_writes_can_be_lost() {
        let f = findings("0 w k0 1; 0 info; 1 w k0 2", Some("n0 k0=-"));
        assert_eq!(f.count(LostWrite), 0);
    }

    #[test]
    fn without_a_final_state_the_kind_is_skipped() {
        let f = findings(TWO_WRITES, None);
        assert!(!f.counts.contains_key(&LostWrite));
        assert!(
            f.skipped
                .contains(&(LostWrite, "no final state given".to_owned()))
        );
    }
}
