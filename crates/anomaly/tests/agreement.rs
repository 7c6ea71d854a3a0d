//! Property tests of the anomaly checkers:
//! - on many small random histories full of anomalies (concurrent, failed, info and
//!   pending writes; reads of old, concurrent, failed, foreign, unwritten and future
//!   values, `null` and siblings; random final states and role events), the fast checkers
//!   and the brute-force reference in `reference/` flag exactly the same operations; for
//!   `linearizability`, on every key small enough to enumerate, the same keys, each at
//!   its first violation with a witness the reference accepts;
//! - a sequential history (one operation at a time, reads return the latest write that
//!   took effect) never flags anything but `unavailable`.
//!
//! The generators work from vectors of random words, so proptest can shrink a failure to
//! a short history.

mod reference;

use std::cell::RefCell;
use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use reference::linearizable;
use repsim_anomaly::{Input, Kind, Options, check};
use repsim_history::{
    Event, EventType, FinalState, Function, History, KeyId, Names, NodeId, Operation, ProcessId,
    RoleEvent, RoleKind, Val, ValueId,
};

/// Keys with more operations that linearizability constrains are not enumerated.
const ENUMERABLE: usize = 6;

/// Compares the fast `linearizability` flags with the brute-force reference on every key
/// of at most [`ENUMERABLE`] relevant operations; returns (flagged, clean) keys compared.
fn compare_linearizability(
    history: &History,
    fast: &repsim_anomaly::Findings,
) -> Result<(u32, u32), TestCaseError> {
    prop_assert!(fast.unknown_keys.is_empty(), "{:?}", fast.unknown_keys);
    let ops = history.operations().expect("well-formed");
    let mut by_key: BTreeMap<KeyId, Vec<Operation>> = BTreeMap::new();
    for op in &ops {
        by_key.entry(op.key).or_default().push(*op);
    }
    let flags = fast
        .examples
        .get(&Kind::Linearizability)
        .cloned()
        .unwrap_or_default();
    prop_assert_eq!(flags.len() as u64, fast.count(Kind::Linearizability));
    let mut seen = (0, 0);
    for (key, key_ops) in &by_key {
        let flag = flags
            .iter()
            .find(|f| key_ops.iter().any(|op| u64::from(op.invoke) == f.index));
        if linearizable::size(history, key_ops) > ENUMERABLE {
            continue;
        }
        let expected = linearizable::linearizable(history, key_ops);
        prop_assert_eq!(flag.is_none(), expected, "key {:?}: {:?}", key, flag);
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

/// A write as the generator remembers it.
#[derive(Clone, Copy)]
struct Written {
    key: u32,
    value: u32,
    invoke: u32,
    /// Completed ok (so far).
    ok: bool,
}

/// The random words a history, final state and role events are built from.
#[derive(Clone, Debug)]
struct Recipe {
    processes: u32,
    keys: u32,
    steps: Vec<u32>,
    nodes: Vec<Vec<u32>>,
    copy_first_node: bool,
    roles: Option<Vec<u32>>,
    allow_repeats: bool,
    with_final: bool,
}

fn recipes() -> impl Strategy<Value = Recipe> {
    (
        2..=4u32,
        prop_oneof![1 => Just(1u32), 2 => Just(2u32), 2 => Just(3u32)],
        prop::collection::vec(any::<u32>(), 1..80),
        prop::collection::vec(prop::collection::vec(any::<u32>(), 3), 1..=3),
        any::<bool>(),
        prop::option::of(prop::collection::vec(any::<u32>(), 0..12)),
        prop::bool::weighted(0.08),
        prop::bool::weighted(0.85),
    )
        .prop_map(
            |(processes, keys, steps, nodes, copy_first_node, roles, allow_repeats, with_final)| {
                Recipe {
                    processes,
                    keys,
                    steps,
                    nodes,
                    copy_first_node,
                    roles,
                    allow_repeats,
                    with_final,
                }
            },
        )
}

struct Built {
    history: History,
    state: Option<FinalState>,
    roles: Option<Vec<RoleEvent>>,
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

/// A process's operation in flight: (f, key, its number in `written` for a write, the
/// invoked value).
type InFlight = (Function, u32, Option<usize>, Val);

fn build(recipe: &Recipe) -> Built {
    let mut history = History::with_names(Names::simulated(recipe.keys, 3));
    let mut written: Vec<Written> = Vec::new();
    let mut next_value = 1u32;
    let mut in_flight: Vec<Option<InFlight>> = vec![None; recipe.processes as usize];
    let value_id = |n: u32| ValueId::generated(n);
    for &word in &recipe.steps {
        let process = word % recipe.processes;
        let choice = (word >> 4) % 10;
        let key = (word >> 8) % recipe.keys;
        let pick = word >> 12;
        let position = history.events.len() as u32;
        match in_flight[process as usize] {
            None => {
                if choice < 5 {
                    let f = if choice == 4 {
                        Function::Cas
                    } else {
                        Function::Write
                    };
                    let value = if recipe.allow_repeats && pick % 4 == 0 && !written.is_empty() {
                        written[pick as usize % written.len()].value
                    } else {
                        next_value += 1;
                        next_value - 1
                    };
                    let val = if f == Function::Cas {
                        let expected = if pick % 3 == 0 || written.is_empty() {
                            None
                        } else {
                            Some(value_id(written[pick as usize % written.len()].value))
                        };
                        Val::Cas(expected, Some(value_id(value)))
                    } else {
                        Val::One(value_id(value))
                    };
                    written.push(Written {
                        key,
                        value,
                        invoke: position,
                        ok: false,
                    });
                    push(&mut history, process, EventType::Invoke, f, key, val);
                    in_flight[process as usize] = Some((f, key, Some(written.len() - 1), val));
                } else {
                    push(
                        &mut history,
                        process,
                        EventType::Invoke,
                        Function::Read,
                        key,
                        Val::Null,
                    );
                    in_flight[process as usize] = Some((Function::Read, key, None, Val::Null));
                }
            }
            Some((f, key, write, invoked)) => {
                let kind = match choice {
                    0..=5 => EventType::Ok,
                    6 | 7 => EventType::Fail,
                    8 => EventType::Info,
                    _ => continue, // stays in flight a while longer
                };
                let value = if f == Function::Read && kind == EventType::Ok {
                    read_value(&mut history, &written, key, pick, next_value)
                } else {
                    invoked
                };
                if let (Some(w), EventType::Ok) = (write, kind) {
                    written[w].ok = true;
                }
                push(&mut history, process, kind, f, key, value);
                in_flight[process as usize] = None;
            }
        }
    }

    let state = recipe.with_final.then(|| {
        let mut state = FinalState::default();
        for (n, words) in recipe.nodes.iter().enumerate() {
            let source = if recipe.copy_first_node {
                &recipe.nodes[0]
            } else {
                words
            };
            for key in 0..recipe.keys {
                let word = source[key as usize % source.len()].rotate_left(key * 7);
                let of_key: Vec<&Written> = written.iter().filter(|w| w.key == key).collect();
                let pick = |salt: u32| -> Option<ValueId> {
                    (!of_key.is_empty())
                        .then(|| value_id(of_key[((word >> salt) as usize) % of_key.len()].value))
                };
                let values: Vec<ValueId> = match word % 8 {
                    0 => continue, // not a replica of this key
                    1 => vec![],
                    2 | 3 => of_key
                        .iter()
                        .rev()
                        .find(|w| w.ok)
                        .map(|w| value_id(w.value))
                        .into_iter()
                        .collect(),
                    4 | 5 => pick(8).into_iter().collect(),
                    6 => pick(8).into_iter().chain(pick(16)).collect(),
                    _ => vec![value_id(500 + word % 3)],
                };
                state.set(NodeId(n as u16), KeyId(key), values);
            }
            state.nodes.entry(NodeId(n as u16)).or_default();
        }
        state
    });

    let roles = recipe.roles.as_ref().map(|words| {
        let write_invokes: Vec<u32> = written.iter().map(|w| w.invoke).collect();
        words
            .iter()
            .map(|&word| RoleEvent {
                time_ms: f64::from((word >> 8) % 16),
                node: NodeId((word % 3) as u16),
                kind: match (word >> 4) % 8 {
                    0..=2 => RoleKind::Leader {
                        epoch: u64::from(word >> 20),
                    },
                    3 => RoleKind::NotLeader,
                    _ if write_invokes.is_empty() || word >> 28 == 0 => {
                        RoleKind::AcceptedWrite { op: None }
                    }
                    _ => RoleKind::AcceptedWrite {
                        op: Some(write_invokes[(word >> 12) as usize % write_invokes.len()]),
                    },
                },
            })
            .collect()
    });
    Built {
        history,
        state,
        roles,
    }
}

/// A value for an ok read of `key`: `null`, the key's first value, a value of some write of the key so far (old,
/// concurrent, failed or info), the latest ok one, a value of another key, an unwritten
/// value, a value that may be written later, or two siblings.
fn read_value(
    history: &mut History,
    written: &[Written],
    key: u32,
    pick: u32,
    next_value: u32,
) -> Val {
    let value_id = |n: u32| ValueId::generated(n);
    let of_key: Vec<&Written> = written.iter().filter(|w| w.key == key).collect();
    let any_of_key = |salt: u32| {
        of_key
            .get((pick >> salt) as usize % of_key.len().max(1))
            .map(|w| value_id(w.value))
    };
    let one = |v: Option<ValueId>| v.map_or(Val::Null, Val::One);
    match pick % 14 {
        0 => Val::Null,
        1 => one(of_key.iter().find(|w| w.ok).map(|w| value_id(w.value))),
        2..=5 => one(any_of_key(4)),
        6 | 7 => one(of_key
            .iter()
            .rev()
            .find(|w| w.ok)
            .map(|w| value_id(w.value))),
        8 => one(written
            .iter()
            .find(|w| w.key != key)
            .map(|w| value_id(w.value))),
        9 => Val::One(value_id(900 + pick % 5)),
        10 => Val::One(value_id(next_value + (pick >> 4) % 3)),
        _ => {
            let mut values: Vec<ValueId> = any_of_key(4).into_iter().chain(any_of_key(9)).collect();
            if pick % 14 == 13 {
                values.push(value_id(next_value + (pick >> 4) % 2));
            }
            match values.len() {
                0 => Val::Null,
                1 => Val::One(values[0]),
                _ => history.many(&values),
            }
        }
    }
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

#[test]
fn fast_checkers_agree_with_the_reference() {
    // Per kind: (cases where it flagged, cases where it was checked and did not).
    let seen: RefCell<BTreeMap<Kind, (u32, u32)>> = RefCell::new(BTreeMap::new());
    runner(6000)
        .run(&recipes(), |recipe| {
            let built = build(&recipe);
            let input = Input {
                history: &built.history,
                final_state: built.state.as_ref(),
                roles: built.roles.as_deref(),
            };
            let fast = check(
                &input,
                &Options {
                    max_examples: usize::MAX,
                },
            )
            .expect("well-formed");
            let expected =
                reference::check(&built.history, built.state.as_ref(), built.roles.as_deref());
            let (flagged, clean) = compare_linearizability(&built.history, &fast)?;
            {
                let mut seen = seen.borrow_mut();
                let entry = seen.entry(Kind::Linearizability).or_default();
                entry.0 += flagged;
                entry.1 += clean;
            }
            for kind in Kind::ALL {
                if kind == Kind::Linearizability {
                    continue;
                }
                let got = if fast.counts.contains_key(&kind) {
                    let indexes = fast.example_indexes(kind);
                    prop_assert_eq!(indexes.len() as u64, fast.count(kind), "{} count", kind);
                    Ok(indexes)
                } else {
                    prop_assert!(
                        fast.skipped.iter().any(|(k, _)| *k == kind),
                        "{} neither checked nor skipped",
                        kind
                    );
                    Err(())
                };
                prop_assert_eq!(&got, &expected[&kind], "{} disagrees on {:?}", kind, recipe);
                if let Ok(indexes) = got {
                    let mut seen = seen.borrow_mut();
                    let entry = seen.entry(kind).or_default();
                    if indexes.is_empty() {
                        entry.1 += 1
                    } else {
                        entry.0 += 1
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    let seen = seen.into_inner();
    eprintln!("(flagged, clean) cases per kind (keys for linearizability): {seen:?}");
    for kind in Kind::ALL {
        let (flagged, clean) = seen.get(&kind).copied().unwrap_or_default();
        assert!(
            flagged >= 30 && clean >= 30,
            "{kind} was flagged in {flagged} cases and clean in {clean}: the comparison is too weak"
        );
    }
}

/// A sequential history: (process, key, kind) per operation, one at a time.
fn sequential() -> impl Strategy<Value = (u32, Vec<(u32, u32, u32)>, u16)> {
    (
        1..=3u32,
        prop::collection::vec((0..4u32, 0..3u32, 0..10u32), 0..60),
        1..=3u16,
    )
}

#[test]
fn sequential_histories_flag_nothing() {
    runner(1000)
        .run(&sequential(), |(keys, ops, nodes)| {
            let mut history = History::with_names(Names::simulated(keys, nodes));
            let mut register: Vec<Option<ValueId>> = vec![None; keys as usize];
            let mut roles = Vec::new();
            let mut unavailable = 0;
            let mut leader = 0u16;
            roles.push(RoleEvent {
                time_ms: 0.0,
                node: NodeId(0),
                kind: RoleKind::Leader { epoch: 0 },
            });
            for (n, &(process, key, kind)) in ops.iter().enumerate() {
                let key = key % keys;
                let at = history.events.len() as u32;
                if kind < 5 {
                    let value = ValueId::generated(n as u32 + 1);
                    push(
                        &mut history,
                        process,
                        EventType::Invoke,
                        Function::Write,
                        key,
                        Val::One(value),
                    );
                    let (outcome, applied) = match kind {
                        0..=2 => (EventType::Ok, true),
                        3 => (EventType::Fail, false),
                        _ => (EventType::Info, n % 2 == 0),
                    };
                    if applied {
                        register[key as usize] = Some(value);
                    }
                    if outcome != EventType::Ok {
                        unavailable += 1;
                    }
                    push(
                        &mut history,
                        process,
                        outcome,
                        Function::Write,
                        key,
                        Val::One(value),
                    );
                    roles.push(RoleEvent {
                        time_ms: f64::from(at),
                        node: NodeId(leader),
                        kind: RoleKind::AcceptedWrite { op: Some(at) },
                    });
                } else if kind < 9 {
                    push(
                        &mut history,
                        process,
                        EventType::Invoke,
                        Function::Read,
                        key,
                        Val::Null,
                    );
                    let value = register[key as usize].map_or(Val::Null, Val::One);
                    push(
                        &mut history,
                        process,
                        EventType::Ok,
                        Function::Read,
                        key,
                        value,
                    );
                } else {
                    // Leadership moves cleanly: the old leader steps down first.
                    roles.push(RoleEvent {
                        time_ms: f64::from(at),
                        node: NodeId(leader),
                        kind: RoleKind::NotLeader,
                    });
                    leader = (leader + 1) % nodes;
                    roles.push(RoleEvent {
                        time_ms: f64::from(at),
                        node: NodeId(leader),
                        kind: RoleKind::Leader { epoch: n as u64 },
                    });
                }
            }
            let mut state = FinalState::default();
            for node in 0..nodes {
                for (key, value) in register.iter().enumerate() {
                    state.set(
                        NodeId(node),
                        KeyId(key as u32),
                        value.iter().copied().collect(),
                    );
                }
            }
            let input = Input {
                history: &history,
                final_state: Some(&state),
                roles: Some(&roles),
            };
            let findings = check(&input, &Options::default()).expect("well-formed");
            prop_assert!(findings.skipped.is_empty(), "{:?}", findings.skipped);
            for kind in Kind::ALL {
                let expected = if kind == Kind::Unavailable {
                    unavailable
                } else {
                    0
                };
                prop_assert_eq!(
                    findings.count(kind),
                    expected,
                    "{}: {:?}",
                    kind,
                    findings.examples.get(&kind)
                );
            }
            Ok(())
        })
        .unwrap();
}
