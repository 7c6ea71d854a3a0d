//! `lost_add`: each `add` A of element e to set key k (a key with an `add` or `remove`)
//! that completed `ok`, such that e is in k's final value on no node whose final-state
//! map lists k, and no `remove` of e from k could have removed it: every remove of e
//! from k either completed `fail`, or completed `ok` before A's invoke. When no node
//! lists k, "no node" holds vacuously and A is flagged, as for `lost_write`. Needs the
//! final state; needs no unique values (elements repeat by design).
//!
//! Certain only: a remove that completed `info` or never completed (it may take effect
//! at any time), or that completed `ok` after A's invoke (it overlaps or follows A, so
//! it may have seen A and removed it), may explain e's absence, so A is never flagged
//! then. An add-wins set keeps A against a concurrent remove, but this definition does
//! not assume add-wins: it flags only what no set semantics can explain.
//!
//! How: per set key, the union of its final elements over the listing nodes; per (key,
//! element), its removes summarised as whether one is uncertain and the latest `ok`
//! completion. A is flagged iff e is not in the union, no remove is uncertain, and the
//! latest `ok` remove completed before A's invoke. O(n log n) (one sort of the removes)
//! plus O(f log f) for f values in the final state. The flag's index is A's invoke;
//! `involved` is empty (no operation made A vanish that the history shows).

use repsim_history::{FinalState, Function, KeyId, Outcome, Val, ValueId};

use crate::collect::Collector;
use crate::prepare::{Base, KeyClasses, NONE, SET};
use crate::render;
use crate::{Flag, KindResult};

/// The removes of one element from one key.
#[derive(Clone, Copy, Default)]
struct Removes {
    /// Completed `ok`.
    ok: u32,
    /// Completed `fail`.
    failed: u32,
    /// Completed `info` or never completed.
    uncertain: u32,
    /// The latest completion position among the `ok` ones (`NONE` if none).
    last_ok: u32,
}

/// Counts lost adds and renders the first `max`.
pub(crate) fn run(
    base: &Base<'_>,
    classes: &KeyClasses,
    state: &FinalState,
    max: usize,
) -> KindResult {
    // Per dense key: the union of the final elements over the nodes listing it (sorted).
    let mut present: Vec<Vec<ValueId>> = vec![Vec::new(); base.keys.len()];
    for keys in state.nodes.values() {
        for (key, values) in keys {
            if let Some(dense) = base.keys.find(key.0)
                && classes.of(dense) & SET != 0
            {
                present[dense as usize].extend_from_slice(values);
            }
        }
    }
    for elements in &mut present {
        elements.sort_unstable();
        elements.dedup();
    }
    let removes = summarise_removes(base);
    let mut collector = Collector::new(max);
    for (i, op) in base.ops.iter().enumerate() {
        let (Function::Add, Outcome::Ok, Val::One(element)) = (op.f, op.outcome, op.value) else {
            continue;
        };
        let key = base.key[i];
        if present[key as usize].binary_search(&element).is_ok() {
            continue;
        }
        let r = find(&removes, key, element);
        let could_remove = r.uncertain > 0 || (r.last_ok != NONE && r.last_ok > op.invoke);
        if !could_remove {
            collector.push(base.invoke_index(i as u32), 0, i as u32);
        }
    }
    let (count, kept) = collector.finish();
    let flags = kept
        .into_iter()
        .map(|(index, add)| render_flag(base, state, &removes, index, add))
        .collect();
    KindResult { count, flags }
}

/// Every (dense key, element) that has removes, sorted, with its summary.
fn summarise_removes(base: &Base<'_>) -> Vec<((u32, ValueId), Removes)> {
    let mut all: Vec<(u32, ValueId, u32)> = base
        .ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match (op.f, op.value) {
            (Function::Remove, Val::One(element)) => Some((base.key[i], element, i as u32)),
            _ => None,
        })
        .collect();
    all.sort_unstable();
    let mut out: Vec<((u32, ValueId), Removes)> = Vec::new();
    for (key, element, op) in all {
        if out.last().is_none_or(|(id, _)| *id != (key, element)) {
            let empty = Removes {
                last_ok: NONE,
                ..Removes::default()
            };
            out.push(((key, element), empty));
        }
        let summary = &mut out.last_mut().expect("pushed above").1;
        let operation = &base.ops[op as usize];
        match operation.outcome {
            Outcome::Ok => {
                summary.ok += 1;
                let at = operation.completion.expect("an ok remove completed");
                if summary.last_ok == NONE || at > summary.last_ok {
                    summary.last_ok = at;
                }
            }
            Outcome::Fail => summary.failed += 1,
            Outcome::Info | Outcome::Pending => summary.uncertain += 1,
        }
    }
    out
}

fn find(removes: &[((u32, ValueId), Removes)], key: u32, element: ValueId) -> Removes {
    match removes.binary_search_by_key(&(key, element), |(id, _)| *id) {
        Ok(i) => removes[i].1,
        Err(_) => Removes {
            last_ok: NONE,
            ..Removes::default()
        },
    }
}

/// `[e1, e3]` for a set's elements.
fn elements_name(base: &Base<'_>, elements: &[ValueId]) -> String {
    let names: Vec<String> = elements
        .iter()
        .map(|&e| render::value_name(base.history, e))
        .collect();
    format!("[{}]", names.join(", "))
}

fn render_flag(
    base: &Base<'_>,
    state: &FinalState,
    removes: &[((u32, ValueId), Removes)],
    index: u64,
    add: u32,
) -> Flag {
    let op = &base.ops[add as usize];
    let key: KeyId = op.key;
    let key_name = base.key_name(add);
    let Val::One(element) = op.value else {
        unreachable!("an add carries one element")
    };
    let element_name = render::value_name(base.history, element);
    let finals: Vec<String> = state
        .nodes
        .iter()
        .filter_map(|(node, keys)| {
            keys.get(&key).map(|values| {
                format!(
                    "{}: {}",
                    render::node_name(base.history, *node),
                    elements_name(base, values)
                )
            })
        })
        .collect();
    let finals = if finals.is_empty() {
        format!("no node lists {key_name} in the final state")
    } else {
        format!(
            "{element_name} is in no node's final value of {key_name} ({})",
            finals.join(", ")
        )
    };
    let r = find(removes, base.key[add as usize], element);
    let removes = if r.ok + r.failed == 0 {
        format!("no remove of {element_name} from {key_name} was invoked")
    } else {
        format!(
            "no remove of {element_name} could have removed it ({} completed ok before the add \
             began, {} failed)",
            r.ok, r.failed
        )
    };
    let message = format!(
        "add of {element_name} to {key_name} by process {} (invoked at index {index}, ok at \
         index {}) is lost: {finals}, and {removes}",
        op.process,
        base.completion_index(add),
    );
    Flag {
        index,
        involved: Vec::new(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use crate::Kind::{Divergence, LostAdd};
    use crate::testing::findings;

    #[test]
    fn an_acknowledged_add_missing_everywhere_is_lost() {
        let f = findings(
            "0 add k1 e1; 0 ok; 1 add k1 e2; 1 ok",
            Some("n0 k1=e1 | n1 k1=e1"),
        );
        assert_eq!(f.example_indexes(LostAdd), vec![2]);
        assert_eq!(
            f.examples[&LostAdd][0].message,
            "add of e2 to k1 by process 1 (invoked at index 2, ok at index 3) is lost: e2 is in \
             no node's final value of k1 (n0: [e1], n1: [e1]), and no remove of e2 from k1 was \
             invoked"
        );
        // Near miss: one node kept it.
        let f = findings(
            "0 add k1 e1; 0 ok; 1 add k1 e2; 1 ok",
            Some("n0 k1=e1 | n1 k1=e2,e1"),
        );
        assert_eq!(f.count(LostAdd), 0);
        assert_eq!(f.count(Divergence), 1);
    }

    #[test]
    fn removes_that_failed_or_finished_before_the_add_began_cannot_explain_it() {
        let f = findings(
            "1 rm k1 e2; 1 ok; 2 rm k1 e2; 2 fail; 0 add k1 e2; 0 ok; 1 rm k1 e1; 1 info",
            Some("n0 k1=-"),
        );
        assert_eq!(f.example_indexes(LostAdd), vec![4]);
        assert!(
            f.examples[&LostAdd][0]
                .message
                .ends_with("no remove of e2 could have removed it (1 completed ok before the add began, 1 failed)"),
            "{}",
            f.examples[&LostAdd][0].message
        );
    }

    #[test]
    fn a_remove_that_overlaps_follows_or_is_uncertain_may_have_removed_it() {
        // Overlapping: the remove completes after the add began.
        let f = findings("1 rm k1 e2; 0 add k1 e2; 1 ok; 0 ok", Some("n0 k1=-"));
        assert_eq!(f.count(LostAdd), 0);
        // Following.
        let f = findings("0 add k1 e2; 0 ok; 1 rm k1 e2; 1 ok", Some("n0 k1=-"));
        assert_eq!(f.count(LostAdd), 0);
        // Info, even long before, or never completed.
        let f = findings("1 rm k1 e2; 1 info; 0 add k1 e2; 0 ok", Some("n0 k1=-"));
        assert_eq!(f.count(LostAdd), 0);
        let f = findings("0 add k1 e2; 0 ok; 1 rm k1 e2", Some("n0 k1=-"));
        assert_eq!(f.count(LostAdd), 0);
        // A remove of another element, or of the element from another key, does not.
        let f = findings(
            "0 add k1 e2; 0 ok; 1 rm k1 e3; 1 ok; 1 rm k2 e2; 1 ok",
            Some("n0 k1=- k2=-"),
        );
        assert_eq!(f.example_indexes(LostAdd), vec![0]);
    }

    #[test]
    fn only_acknowledged_adds_are_owed_and_unlisted_keys_lose_them() {
        let f = findings("0 add k1 e2; 0 info; 1 add k1 e3; 1 fail", Some("n0 k1=-"));
        assert_eq!(f.count(LostAdd), 0);
        let f = findings("0 add k1 e2; 0 ok", Some("n0 k0=-"));
        assert_eq!(f.example_indexes(LostAdd), vec![0]);
        assert!(f.examples[&LostAdd][0].message.contains("no node lists k1"));
    }

    #[test]
    fn set_reads_play_no_part_in_the_register_kinds() {
        // An empty read after an acknowledged add would be stale for a register; reads of
        // elements nobody "wrote" would be phantoms.
        let f = findings(
            "0 add k1 e2; 0 ok; 1 r k1; 1 ok []; 1 r k1; 1 ok [e2]; 1 r k1; 1 ok [e2,e9]",
            Some("n0 k1=e2 | n1 k1=e2"),
        );
        assert!(
            f.counts.values().all(|&c| c == 0),
            "{:?} {:?}",
            f.counts,
            f.examples
        );
    }
}
