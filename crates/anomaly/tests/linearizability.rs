//! Property tests of `linearizability` against the brute-force reference in
//! `reference/linearizable.rs` (every subset of the undecided operations, every order), on
//! small register histories shaped like Jepsen's: a few processes doing reads, writes and
//! cas on one or two keys with values from a small set (so values repeat), completions
//! `ok`, `fail`, `info` or none, and reads that mostly return what a real register would
//! hold and sometimes anything. On every key, the fast checker and the reference must
//! agree on whether it is linearizable, and a flag must name the first violation and
//! carry a witness the reference accepts (closed, failing at the same operation,
//! 1-minimal). A register that really applies every operation atomically must pass.

#[path = "reference/linearizable.rs"]
mod linearizable;

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use repsim_anomaly::{Input, Kind, Options, check};
use repsim_history::{
    Event, EventType, Function, History, KeyId, Names, NodeId, Operation, ProcessId, Val, ValueId,
};

/// Values are `w1..w3` (or `null`): few enough that they repeat.
fn value(n: u32) -> Option<ValueId> {
    (n % 4 != 0).then(|| ValueId::generated(n % 4))
}

fn push(history: &mut History, process: u32, kind: EventType, f: Function, key: u32, value: Val) {
    history.push(Event {
        time_ms: history.events.len() as f64,
        process: ProcessId(process),
        key: KeyId(key),
        node: Some(NodeId(0)),
        kind,
        f,
        value,
    });
}

/// An operation in flight: what it is, and whether it has taken effect on the real
/// register yet (for a read, what it saw; for a cas, whether it swapped).
#[derive(Clone, Copy)]
struct Flight {
    f: Function,
    key: u32,
    value: Val,
    applied: bool,
    seen: Option<ValueId>,
    swapped: bool,
}

/// Builds a history from random words. Every operation takes effect on a real register
/// at one instant between its invoke and its completion, or never; its completion tells
/// the truth (`ok` if it took effect, `fail` if not, `info` either way). With `lies`,
/// some completions lie (reads return anything, writes report the opposite) and a few
/// reads return siblings. Keys get at most 7 operations, so the reference can enumerate.
fn build(processes: u32, keys: u32, words: &[u32], lies: bool) -> History {
    let mut history = History::with_names(Names::simulated(keys, 1));
    let mut register: Vec<Option<ValueId>> = vec![None; keys as usize];
    let mut flight: Vec<Option<Flight>> = vec![None; processes as usize];
    let mut ops_per_key = vec![0u32; keys as usize];
    for &word in words {
        let p = word % processes;
        let choice = (word >> 3) % 16;
        let key = (word >> 8) % keys;
        let pick = word >> 12;
        let Some(mut op) = flight[p as usize] else {
            if ops_per_key[key as usize] >= 7 {
                continue;
            }
            ops_per_key[key as usize] += 1;
            let (f, value) = match choice % 3 {
                0 => (Function::Read, Val::Null),
                1 => (Function::Write, Val::One(ValueId::generated(1 + pick % 3))),
                _ => (Function::Cas, Val::Cas(value(pick), value(pick >> 2))),
            };
            push(&mut history, p, EventType::Invoke, f, key, value);
            flight[p as usize] = Some(Flight {
                f,
                key,
                value,
                applied: false,
                seen: None,
                swapped: false,
            });
            continue;
        };
        if !op.applied && choice < 7 {
            // The operation takes effect now, invisibly.
            let k = op.key as usize;
            match op.value {
                Val::One(v) => register[k] = Some(v),
                Val::Cas(expected, new) => {
                    op.swapped = register[k] == expected;
                    if op.swapped {
                        register[k] = new;
                    }
                }
                _ => op.seen = register[k],
            }
            op.applied = true;
            flight[p as usize] = Some(op);
            continue;
        }
        if choice == 15 {
            continue; // stays in flight a while longer
        }
        flight[p as usize] = None;
        let effect = match op.f {
            Function::Cas => op.applied && op.swapped,
            _ => op.applied,
        };
        let lie = lies && pick % 5 == 0;
        let kind = match (choice % 5 == 0, effect != lie) {
            (true, _) => EventType::Info,
            (false, true) => EventType::Ok,
            (false, false) => EventType::Fail,
        };
        let value = match op.f {
            Function::Read if kind == EventType::Ok => {
                if lies && pick % 23 == 1 {
                    history.many(&[ValueId::generated(1), ValueId::generated(2)])
                } else {
                    let seen = if lie { value(pick >> 3) } else { op.seen };
                    seen.map_or(Val::Null, Val::One)
                }
            }
            _ => op.value,
        };
        push(&mut history, p, kind, op.f, op.key, value);
    }
    history
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    })
}

/// Checks every key of `history` against the reference; returns (flagged, clean) keys.
fn compare(history: &History) -> Result<(u32, u32), TestCaseError> {
    let input = Input {
        history,
        final_state: None,
        roles: None,
    };
    let fast = check(
        &input,
        &Options {
            max_examples: usize::MAX,
        },
    )
    .expect("well-formed");
    prop_assert!(fast.unknown_keys.is_empty());
    let flags = fast.examples[&Kind::Linearizability].clone();
    prop_assert_eq!(flags.len() as u64, fast.count(Kind::Linearizability));
    let ops = history.operations().expect("well-formed");
    let mut by_key: BTreeMap<KeyId, Vec<Operation>> = BTreeMap::new();
    for op in &ops {
        by_key.entry(op.key).or_default().push(*op);
    }
    let mut seen = (0, 0);
    for key_ops in by_key.values() {
        prop_assert!(linearizable::size(history, key_ops) <= 7);
        let flag = flags
            .iter()
            .find(|f| key_ops.iter().any(|op| u64::from(op.invoke) == f.index));
        let expected = linearizable::linearizable(history, key_ops);
        prop_assert_eq!(flag.is_none(), expected, "{:?}", flag);
        if let Some(flag) = flag {
            let mut witness: Vec<u32> = flag.involved.iter().map(|&i| i as u32).collect();
            witness.push(flag.index as u32);
            witness.sort_unstable();
            let verdict =
                linearizable::check_witness(history, key_ops, flag.index as u32, &witness);
            prop_assert!(verdict.is_ok(), "{:?}: {}", verdict, flag.message);
            seen.0 += 1;
        } else {
            seen.1 += 1;
        }
    }
    Ok(seen)
}

#[test]
fn search_agrees_with_brute_force_on_register_histories() {
    let seen = std::cell::Cell::new((0u32, 0u32));
    runner(3000)
        .run(
            &(
                2..=4u32,
                1..=2u32,
                prop::collection::vec(any::<u32>(), 1..60),
            ),
            |(processes, keys, words)| {
                let history = build(processes, keys, &words, true);
                let (flagged, clean) = compare(&history)?;
                let (f, c) = seen.get();
                seen.set((f + flagged, c + clean));
                Ok(())
            },
        )
        .unwrap();
    let (flagged, clean) = seen.get();
    eprintln!("keys compared: {flagged} not linearizable, {clean} linearizable");
    assert!(
        flagged >= 300 && clean >= 300,
        "too one-sided: {flagged} flagged, {clean} clean"
    );
}

#[test]
fn an_atomic_register_is_always_linearizable() {
    runner(2000)
        .run(
            &(
                2..=4u32,
                1..=2u32,
                prop::collection::vec(any::<u32>(), 1..80),
            ),
            |(processes, keys, words)| {
                let history = build(processes, keys, &words, false);
                let (flagged, _) = compare(&history)?;
                prop_assert_eq!(flagged, 0);
                Ok(())
            },
        )
        .unwrap();
}
