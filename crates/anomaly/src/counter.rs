//! What `lost_increment` and `phantom_increment` share: per counter key (a key with an
//! `increment`; see [`crate::prepare::KeyClasses`]), the sums of its increments'
//! amounts by outcome, and each node's final number.
//!
//! Readings (SPEC §4 has no counters yet; these follow its rules for registers):
//! - An increment's amount is its `value`, a positive integer. Sums are exact (`i128`),
//!   whatever the number of increments.
//! - A node's final value of a counter key is a number when it is one JSON integer, or
//!   `null` (the node holds nothing for the key: a count of 0). Anything else (a string, a
//!   fraction, several values) is not a number: the node proves nothing either way, so a
//!   key with such a node is flagged by neither kind (only certain anomalies are flagged).
//! - "Every node" means every node whose final-state map lists the key, as for
//!   `lost_write`.
//!
//! Cost: one pass over the operations, O(n), plus O(c × m log m) for c counter keys and m
//! nodes in the final state.

use repsim_history::{FinalState, Function, KeyId, NodeId, Outcome, Val, ValueId};

use crate::prepare::{Base, COUNTER, KeyClasses, NONE};
use crate::render;

/// At most this many other operations are listed in a counter flag's `involved` (a
/// counter key may have millions of increments); the message gives the full counts.
pub(crate) const MAX_INVOLVED: usize = 100;

/// One counter key's increments.
pub(crate) struct CounterKey {
    /// The key.
    pub key: KeyId,
    /// Its dense number.
    pub dense: u32,
    /// The increments that completed `ok`, in invocation order (operation numbers).
    pub ok: Vec<u32>,
    /// Sum of their amounts.
    pub ok_sum: i128,
    /// The increments that did not `fail` (`ok`, `info` or never completed), in
    /// invocation order.
    pub possible: Vec<u32>,
    /// Sum of their amounts: the most the counter can hold.
    pub possible_sum: i128,
    /// The key's first increment, whatever its outcome; its first operation (a read) if
    /// it has no increment (a key only read, in a history with counters).
    pub first: u32,
    /// How many of its increments failed.
    pub failed: u64,
}

/// Every counter key's increments, in dense key order. O(n).
pub(crate) fn counter_keys(base: &Base<'_>, classes: &KeyClasses) -> Vec<CounterKey> {
    let mut slot = vec![NONE; base.keys.len()];
    let mut counters: Vec<CounterKey> = Vec::new();
    for dense in 0..base.keys.len() as u32 {
        if classes.of(dense) & COUNTER != 0 {
            slot[dense as usize] = counters.len() as u32;
            counters.push(CounterKey {
                key: KeyId(base.keys.id(dense)),
                dense,
                ok: Vec::new(),
                ok_sum: 0,
                possible: Vec::new(),
                possible_sum: 0,
                first: NONE,
                failed: 0,
            });
        }
    }
    // Each key's first operation, for keys without an increment.
    let mut first_any = vec![NONE; counters.len()];
    for (i, op) in base.ops.iter().enumerate() {
        let at = slot[base.key[i] as usize];
        if at == NONE {
            continue;
        }
        let counter = &mut counters[at as usize];
        let i = i as u32;
        if first_any[at as usize] == NONE {
            first_any[at as usize] = i;
        }
        let (Function::Increment, Val::Int(amount)) = (op.f, op.value) else {
            continue;
        };
        if counter.first == NONE {
            counter.first = i;
        }
        match op.outcome {
            Outcome::Fail => counter.failed += 1,
            Outcome::Ok => {
                counter.ok.push(i);
                counter.ok_sum += i128::from(amount);
                counter.possible.push(i);
                counter.possible_sum += i128::from(amount);
            }
            Outcome::Info | Outcome::Pending => {
                counter.possible.push(i);
                counter.possible_sum += i128::from(amount);
            }
        }
    }
    for (counter, first) in counters.iter_mut().zip(first_any) {
        if counter.first == NONE {
            counter.first = first;
        }
    }
    counters
}

/// A node's final value of a counter key as a number (see the module doc).
fn number(base: &Base<'_>, values: &[ValueId]) -> Option<i128> {
    match values {
        [] => Some(0),
        [one] => {
            let json = base.history.values.to_json(*one);
            json.as_i64()
                .map(i128::from)
                .or_else(|| json.as_u64().map(i128::from))
        }
        _ => None,
    }
}

/// The final value of `key` on every node that lists it: the values, and the number
/// they are, if they are one.
pub(crate) fn finals<'s>(
    base: &Base<'_>,
    state: &'s FinalState,
    key: KeyId,
) -> Vec<(NodeId, &'s [ValueId], Option<i128>)> {
    state
        .nodes
        .iter()
        .filter_map(|(node, keys)| keys.get(&key).map(|values| (*node, values.as_slice())))
        .map(|(node, values)| (node, values, number(base, values)))
        .collect()
}

/// `n0: 9, n1: "x" (not a number)` for a flag message.
pub(crate) fn describe_finals(
    base: &Base<'_>,
    finals: &[(NodeId, &[ValueId], Option<i128>)],
) -> String {
    let parts: Vec<String> = finals
        .iter()
        .map(|(node, values, number)| {
            let node = render::node_name(base.history, *node);
            match number {
                Some(n) => format!("{node}: {n}"),
                None => format!(
                    "{node}: {} (not a number)",
                    render::values_name(base.history, values)
                ),
            }
        })
        .collect();
    parts.join(", ")
}

/// The invoke indexes of `ops` other than `except`, ascending, at most [`MAX_INVOLVED`].
pub(crate) fn involved(base: &Base<'_>, ops: &[u32], except: u32) -> Vec<u64> {
    ops.iter()
        .filter(|&&op| op != except)
        .take(MAX_INVOLVED)
        .map(|&op| base.invoke_index(op))
        .collect()
}
