//! A brute-force reference for `linearizability`, written straight from SPEC §4 and the
//! readings in the `linearizability` module doc: for one key, try every subset of the
//! operations that may or may not have taken effect and every order of the chosen ones,
//! and accept an order that respects real time and register semantics. It shares nothing
//! with the fast search (no frontier, no memo, no reductions), so the property tests can
//! compare the two.
//!
//! Cost: the number of orders, factorial in the number of operations; use it on keys of at
//! most 8 operations.

use repsim_history::{Function, History, Operation, Outcome, Val, ValueId};

/// What an operation of the key is, as the definition reads it.
#[derive(Clone, Debug)]
struct Op {
    invoke: u32,
    /// Its completion position when it completed `ok`.
    ok_at: Option<u32>,
    /// What it does; a read returns `Err(())` when it returned several siblings.
    action: Action,
}

#[derive(Clone, Debug)]
enum Action {
    Read(Result<Option<ValueId>, ()>),
    Write(Option<ValueId>),
    Cas(Option<ValueId>, Option<ValueId>),
}

/// The operations the definition constrains: `fail`ed ones never took effect and reads
/// that did not complete `ok` impose nothing, so both are left out.
fn relevant(history: &History, ops: &[Operation]) -> Vec<Op> {
    ops.iter()
        .filter(|op| op.outcome != Outcome::Fail)
        .filter(|op| op.f != Function::Read || op.outcome == Outcome::Ok)
        .map(|op| Op {
            invoke: op.invoke,
            ok_at: (op.outcome == Outcome::Ok).then(|| op.completion.expect("ok completed")),
            action: match (op.f, op.value) {
                (Function::Read, value) => {
                    // Siblings are a set: one value, however often listed, is that value.
                    let mut values = history.values_of(&value).to_vec();
                    values.dedup();
                    Action::Read(match values.as_slice() {
                        [] => Ok(None),
                        [one] => Ok(Some(*one)),
                        _ => Err(()),
                    })
                }
                (Function::Write, Val::One(v)) => Action::Write(Some(v)),
                (Function::Cas, Val::Cas(expected, new)) => Action::Cas(expected, new),
                other => panic!("unexpected operation {other:?}"),
            },
        })
        .collect()
}

/// True when `order` respects real time and register semantics from `null`.
fn valid(order: &[&Op]) -> bool {
    for (i, earlier) in order.iter().enumerate() {
        for later in &order[i + 1..] {
            // `later` completed ok before `earlier` was invoked: it must come first.
            if later.ok_at.is_some_and(|ok| ok < earlier.invoke) {
                return false;
            }
        }
    }
    let mut register: Option<ValueId> = None;
    for op in order {
        match &op.action {
            Action::Read(Ok(v)) if *v == register => {}
            Action::Read(_) => return false,
            Action::Write(v) => register = *v,
            Action::Cas(expected, new) if *expected == register => register = *new,
            Action::Cas(..) => return false,
        }
    }
    true
}

/// Every order of `chosen`, tried one by one (plain recursion over permutations).
fn some_order_valid<'a>(chosen: &mut Vec<&'a Op>, rest: &mut Vec<&'a Op>) -> bool {
    if rest.is_empty() {
        return valid(chosen);
    }
    for i in 0..rest.len() {
        let op = rest.remove(i);
        chosen.push(op);
        let found = some_order_valid(chosen, rest);
        chosen.pop();
        rest.insert(i, op);
        if found {
            return true;
        }
    }
    false
}

/// True when some subset of `optional` together with all of `required` has a valid order.
fn exists(required: &[&Op], optional: &[&Op]) -> bool {
    assert!(
        optional.len() < 16,
        "too many optional operations to enumerate"
    );
    (0u32..1 << optional.len()).any(|mask| {
        let mut rest: Vec<&Op> = required.to_vec();
        rest.extend(
            optional
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, op)| *op),
        );
        some_order_valid(&mut Vec::new(), &mut rest)
    })
}

/// How many operations of `ops` the definition constrains (the size that matters for
/// the cost of the other functions).
pub fn size(history: &History, ops: &[Operation]) -> usize {
    relevant(history, ops).len()
}

/// True when `ops` (the operations of one key) have a linearization.
pub fn linearizable(history: &History, ops: &[Operation]) -> bool {
    let all = relevant(history, ops);
    let required: Vec<&Op> = all.iter().filter(|op| op.ok_at.is_some()).collect();
    let optional: Vec<&Op> = all.iter().filter(|op| op.ok_at.is_none()).collect();
    exists(&required, &optional)
}

/// The first `ok` completion that no linearization of `ops` can pass: the invoke
/// position of the ok operation completing at the smallest `t` such that no valid order
/// holds every ok operation completed by `t`, with any of the other operations invoked
/// before `t`. `None` when `ops` are linearizable.
pub fn first_violation(history: &History, ops: &[Operation]) -> Option<u32> {
    let all = relevant(history, ops);
    let mut completions: Vec<(u32, u32)> = all
        .iter()
        .filter_map(|op| op.ok_at.map(|t| (t, op.invoke)))
        .collect();
    completions.sort_unstable();
    for (t, invoke) in completions {
        let required: Vec<&Op> = all
            .iter()
            .filter(|op| op.ok_at.is_some_and(|ok| ok <= t))
            .collect();
        let optional: Vec<&Op> = all
            .iter()
            .filter(|op| op.ok_at.is_none_or(|ok| ok > t) && op.invoke < t)
            .collect();
        if !exists(&required, &optional) {
            return Some(invoke);
        }
    }
    None
}

/// The values written by operations of `ops` that did not fail, with their invokes.
fn writers(ops: &[&Operation]) -> Vec<(Option<ValueId>, u32)> {
    ops.iter()
        .filter(|op| op.outcome != Outcome::Fail)
        .filter_map(|op| match (op.f, op.value) {
            (Function::Write, Val::One(v)) => Some((Some(v), op.invoke)),
            (Function::Cas, Val::Cas(_, new)) => Some((new, op.invoke)),
            _ => None,
        })
        .collect()
}

/// The witness rule: for every ok read of a single non-null value and every ok cas
/// expecting a non-null value, in `subset`, that some non-failed operation of the key
/// (`key_ops`) writes, `subset` holds a writer of it invoked before the observer
/// completed, if the key has one, else any writer of it.
pub fn closed(history: &History, key_ops: &[Operation], subset: &[Operation]) -> bool {
    let all_writers = writers(&key_ops.iter().collect::<Vec<_>>());
    let kept_writers = writers(&subset.iter().collect::<Vec<_>>());
    subset.iter().all(|op| {
        if op.outcome != Outcome::Ok {
            return true;
        }
        let observed = match (op.f, op.value) {
            (Function::Read, value) => {
                let mut values = history.values_of(&value).to_vec();
                values.dedup();
                match values.as_slice() {
                    [one] => Some(*one),
                    _ => None,
                }
            }
            (Function::Cas, Val::Cas(expected, _)) => expected,
            _ => None,
        };
        let Some(v) = observed else {
            return true;
        };
        let done = op.completion.expect("ok completed");
        let any = all_writers.iter().any(|w| w.0 == Some(v));
        let earlier = all_writers.iter().any(|w| w.0 == Some(v) && w.1 < done);
        !any || kept_writers
            .iter()
            .any(|w| w.0 == Some(v) && (!earlier || w.1 < done))
    })
}

/// Checks a flag against the definition, for one key (`key_ops`, all its operations): the
/// flag names the first violation (`culprit`, an invoke position), and its witness (invoke
/// positions, including the culprit) is a closed subset whose first violation is the same
/// operation, and from which no single operation can be removed keeping both.
pub fn check_witness(
    history: &History,
    key_ops: &[Operation],
    culprit: u32,
    witness: &[u32],
) -> Result<(), String> {
    let expected = first_violation(history, key_ops);
    if expected != Some(culprit) {
        return Err(format!(
            "flagged the operation invoked at {culprit}, the first violation is {expected:?}"
        ));
    }
    if !witness.contains(&culprit) {
        return Err(format!(
            "the witness {witness:?} lacks the culprit {culprit}"
        ));
    }
    let subset = |leave_out: Option<u32>| -> Vec<Operation> {
        key_ops
            .iter()
            .filter(|op| witness.contains(&op.invoke) && Some(op.invoke) != leave_out)
            .copied()
            .collect()
    };
    let keeps = |ops: &[Operation]| {
        closed(history, key_ops, ops) && first_violation(history, ops) == Some(culprit)
    };
    let whole = subset(None);
    if whole.len() != witness.len() {
        return Err(format!(
            "the witness {witness:?} names operations of another key"
        ));
    }
    if !keeps(&whole) {
        return Err(format!(
            "the witness {witness:?} is not closed or does not fail at {culprit} (closed: {}, \
             first violation: {:?})",
            closed(history, key_ops, &whole),
            first_violation(history, &whole)
        ));
    }
    for &left_out in witness {
        if keeps(&subset(Some(left_out))) {
            return Err(format!(
                "the witness {witness:?} is not minimal: without {left_out} it still fails at \
                 {culprit}"
            ));
        }
    }
    Ok(())
}
