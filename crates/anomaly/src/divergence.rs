//! `divergence` (SPEC §4): each key whose final value differs between the nodes whose
//! final-state map lists it, values compared as sets (sorted, duplicates dropped), so
//! sibling order does not matter and `null` is the empty set. Needs the final state.
//!
//! The flag's index is the invoke of the first write (of that key, any outcome) whose
//! value is among the final values, or 0 if none is; the other such writes are involved.
//! O(f log f) for f values in the final state.

use std::collections::BTreeMap;

use repsim_history::{FinalState, KeyId, NodeId, ValueId};

use crate::collect::Collector;
use crate::prepare::Prepared;
use crate::render;
use crate::{Flag, KindResult};

/// Counts divergent keys, renders the first `max`, and names every divergent key.
pub(crate) fn run(
    prepared: &Prepared<'_>,
    state: &FinalState,
    max: usize,
) -> (KindResult, Vec<String>) {
    let base = &prepared.base;
    let history = base.history;
    let mut by_key: BTreeMap<KeyId, Vec<(NodeId, Vec<ValueId>)>> = BTreeMap::new();
    for (node, keys) in &state.nodes {
        for (key, values) in keys {
            let mut set = values.clone();
            set.sort_unstable();
            set.dedup();
            by_key.entry(*key).or_default().push((*node, set));
        }
    }
    let mut collector = Collector::new(max);
    let mut divergent = Vec::new();
    for (key, finals) in &by_key {
        if finals.iter().all(|(_, set)| *set == finals[0].1) {
            continue;
        }
        divergent.push(render::key_name(history, *key));
        let mut writes: Vec<u32> = finals
            .iter()
            .flat_map(|(_, set)| set.iter())
            .filter_map(|&v| prepared.write_of(v))
            .filter(|&w| base.ops[w as usize].key == *key)
            .collect();
        writes.sort_unstable();
        writes.dedup();
        let index = writes.first().map_or(0, |&w| base.invoke_index(w));
        collector.push(index, u64::from(key.0), (*key, writes));
    }
    let (count, kept) = collector.finish();
    let flags = kept
        .into_iter()
        .map(|(index, (key, writes))| {
            let involved = writes
                .iter()
                .skip(1)
                .map(|&w| base.invoke_index(w))
                .collect();
            let finals: Vec<String> = by_key[&key]
                .iter()
                .map(|(node, set)| {
                    format!(
                        "{}: {}",
                        render::node_name(history, *node),
                        render::values_name(history, set)
                    )
                })
                .collect();
            let message = format!(
                "{} differs between nodes: {}",
                render::key_name(history, key),
                finals.join(", ")
            );
            Flag {
                index,
                involved,
                message,
            }
        })
        .collect();
    (KindResult { count, flags }, divergent)
}

#[cfg(test)]
mod tests {
    use crate::Kind::Divergence;
    use crate::testing::findings;

    const WRITES: &str = "0 w k0 1; 0 ok; 1 w k0 2; 1 ok";

    #[test]
    fn different_final_values_diverge() {
        let f = findings(WRITES, Some("n0 k0=2 | n1 k0=1"));
        assert_eq!(f.count(Divergence), 1);
        let flag = &f.examples[&Divergence][0];
        assert_eq!((flag.index, flag.involved.clone()), (0, vec![2]));
        assert_eq!(flag.message, "k0 differs between nodes: n0: w2, n1: w1");
        assert_eq!(f.divergent_keys, vec!["k0".to_owned()]);
        assert_eq!(
            findings(WRITES, Some("n0 k0=- | n1 k0=1")).count(Divergence),
            1
        );
    }

    #[test]
    fn siblings_compare_as_sets() {
        assert_eq!(
            findings(WRITES, Some("n0 k0=1,2 | n1 k0=2,1")).count(Divergence),
            0
        );
        assert_eq!(
            findings(WRITES, Some("n0 k0=1,1 | n1 k0=1")).count(Divergence),
            0
        );
        assert_eq!(
            findings(WRITES, Some("n0 k0=1,2 | n1 k0=2")).count(Divergence),
            1
        );
    }

    #[test]
    fn nodes_that_do_not_list_a_key_are_ignored() {
        assert_eq!(
            findings(WRITES, Some("n0 k0=1 | n1 k1=-")).count(Divergence),
            0
        );
    }

    #[test]
    fn unwritten_final_values_give_index_zero() {
        let f = findings(WRITES, Some("n0 k5=- | n1 k5=7"));
        assert_eq!(f.example_indexes(Divergence), vec![0]);
        assert!(f.examples[&Divergence][0].involved.is_empty());
    }
}
