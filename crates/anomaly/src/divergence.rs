//! `divergence` (SPEC §4): each key whose final value differs between the nodes whose
//! final-state map lists it, values compared as sets (sorted, duplicates dropped), so
//! sibling order does not matter and `null` is the empty set. Every key counts: a set
//! key's elements compare as a set too, and a counter key's values compare as numbers
//! (`null` is 0, as in [`crate::counter`]; a value that is not a number compares as a
//! set of values). Needs the final state.
//!
//! The flag's index is the invoke of the first operation of that key (any outcome) that
//! put one of the differing final values there, or 0 if none did: a write or cas of one
//! of the values for a register key, an add of one of the elements for a set key, any
//! increment for a counter key. The other such operations are involved: every other
//! write or cas of one of the values, the first add of each other element; none for a
//! counter. O(f log f) for f values in the final state, plus one pass over the
//! operations (O(n log d) for d divergent keys) when some key diverges.

use std::collections::BTreeMap;

use repsim_history::{FinalState, Function, KeyId, NodeId, Val, ValueId};

use crate::collect::Collector;
use crate::prepare::{Base, COUNTER, KeyClasses, SET};
use crate::render;
use crate::{Flag, KindResult};

/// A node's final value of a key, in the form nodes are compared in.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Final {
    /// A counter key's number.
    Count(i128),
    /// Any other value: its values, sorted, without duplicates.
    Values(Vec<ValueId>),
}

/// A divergent key, as the pass over the operations needs it.
struct Divergent {
    /// Class bits of the key.
    class: u8,
    /// Every value any listing node holds, sorted.
    values: Vec<ValueId>,
    /// The operations that put them there, in invocation order.
    ops: Vec<u32>,
    /// For a set key: the elements whose first add is in `ops` already.
    added: Vec<ValueId>,
}

/// Counts divergent keys, renders the first `max`, and names every divergent key. `base`
/// holds every operation (register, counter and set keys alike).
pub(crate) fn run(
    base: &Base<'_>,
    classes: &KeyClasses,
    state: &FinalState,
    max: usize,
) -> (KindResult, Vec<String>) {
    let history = base.history;
    let mut by_key: BTreeMap<KeyId, Vec<(NodeId, Final)>> = BTreeMap::new();
    for (node, keys) in &state.nodes {
        for (key, values) in keys {
            let counter = classes.of_key(base, *key) & COUNTER != 0;
            let number = if counter {
                match values.as_slice() {
                    [] => Some(0),
                    [one] => {
                        let json = history.values.to_json(*one);
                        json.as_i64()
                            .map(i128::from)
                            .or_else(|| json.as_u64().map(i128::from))
                    }
                    _ => None,
                }
            } else {
                None
            };
            let value = match number {
                Some(n) => Final::Count(n),
                None => {
                    let mut set = values.clone();
                    set.sort_unstable();
                    set.dedup();
                    Final::Values(set)
                }
            };
            by_key.entry(*key).or_default().push((*node, value));
        }
    }
    let mut divergent: BTreeMap<KeyId, Divergent> = BTreeMap::new();
    for (key, finals) in &by_key {
        if finals.iter().all(|(_, value)| *value == finals[0].1) {
            continue;
        }
        let mut values: Vec<ValueId> = state
            .nodes
            .values()
            .filter_map(|keys| keys.get(key))
            .flatten()
            .copied()
            .collect();
        values.sort_unstable();
        values.dedup();
        divergent.insert(
            *key,
            Divergent {
                class: classes.of_key(base, *key),
                values,
                ops: Vec::new(),
                added: Vec::new(),
            },
        );
    }
    if !divergent.is_empty() {
        for (i, op) in base.ops.iter().enumerate() {
            let Some(d) = divergent.get_mut(&op.key) else {
                continue;
            };
            let holds = |v: Option<ValueId>| v.is_some_and(|v| d.values.binary_search(&v).is_ok());
            let put = if d.class & COUNTER != 0 {
                op.f == Function::Increment && d.ops.is_empty()
            } else if d.class & SET != 0 {
                match (op.f, op.value) {
                    (Function::Add, Val::One(e)) if holds(Some(e)) && !d.added.contains(&e) => {
                        d.added.push(e);
                        true
                    }
                    _ => false,
                }
            } else {
                match (op.f, op.value) {
                    (Function::Write, Val::One(v)) => holds(Some(v)),
                    (Function::Cas, Val::Cas(_, new)) => holds(new),
                    _ => false,
                }
            };
            if put {
                d.ops.push(i as u32);
            }
        }
    }
    let mut collector = Collector::new(max);
    let mut names = Vec::new();
    for (key, d) in &divergent {
        names.push(render::key_name(history, *key));
        let index = d.ops.first().map_or(0, |&op| base.invoke_index(op));
        collector.push(index, u64::from(key.0), *key);
    }
    let (count, kept) = collector.finish();
    let flags = kept
        .into_iter()
        .map(|(index, key)| {
            let involved = divergent[&key]
                .ops
                .iter()
                .skip(1)
                .map(|&op| base.invoke_index(op))
                .collect();
            let set = divergent[&key].class & SET != 0;
            let finals: Vec<String> = by_key[&key]
                .iter()
                .map(|(node, value)| {
                    let shown = match value {
                        Final::Count(n) => n.to_string(),
                        // A set's value is always shown as its element list.
                        Final::Values(elements) if set => {
                            let names: Vec<String> = elements
                                .iter()
                                .map(|&e| render::value_name(history, e))
                                .collect();
                            format!("[{}]", names.join(", "))
                        }
                        Final::Values(values) => render::values_name(history, values),
                    };
                    format!("{}: {shown}", render::node_name(history, *node))
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
    (KindResult { count, flags }, names)
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
    fn counters_compare_as_numbers() {
        let incs = "0 inc k0 2; 0 ok; 1 inc k0 3; 1 ok";
        let f = findings(incs, Some("n0 k0=#5 | n1 k0=#2"));
        assert_eq!(f.example_indexes(Divergence), vec![0]);
        let flag = &f.examples[&Divergence][0];
        assert!(flag.involved.is_empty());
        assert_eq!(flag.message, "k0 differs between nodes: n0: 5, n1: 2");
        // Near misses: equal numbers, and null is 0.
        assert_eq!(
            findings(incs, Some("n0 k0=#5 | n1 k0=#5")).count(Divergence),
            0
        );
        assert_eq!(
            findings(incs, Some("n0 k0=- | n1 k0=#0")).count(Divergence),
            0
        );
    }

    #[test]
    fn sets_compare_as_sets() {
        let adds = "0 add k1 e1; 0 ok; 1 add k1 e2; 1 ok; 0 add k1 e1; 0 ok";
        assert_eq!(
            findings(adds, Some("n0 k1=e1,e2 | n1 k1=e2,e1,e2")).count(Divergence),
            0
        );
        let f = findings(adds, Some("n0 k1=e1,e2 | n1 k1=e2"));
        assert_eq!(f.example_indexes(Divergence), vec![0]);
        // The first add of each other element is involved, not repeats.
        assert_eq!(f.examples[&Divergence][0].involved, vec![2]);
        assert_eq!(
            f.examples[&Divergence][0].message,
            "k1 differs between nodes: n0: [e1, e2], n1: [e2]"
        );
    }

    #[test]
    fn unwritten_final_values_give_index_zero() {
        let f = findings(WRITES, Some("n0 k5=- | n1 k5=7"));
        assert_eq!(f.example_indexes(Divergence), vec![0]);
        assert!(f.examples[&Divergence][0].involved.is_empty());
    }
}
