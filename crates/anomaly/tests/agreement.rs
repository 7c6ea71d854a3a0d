//! Property tests of the anomaly checkers:
//! - on many small random histories full of anomalies (concurrent, failed, info and
//!   pending writes; reads of old, concurrent, failed, foreign, unwritten and future
//!   values, `null` and siblings; counter keys with increments, a stray write and reads of
//!   any number, set keys with adds and removes of a few elements and reads of any list;
//!   random final states, counters' totals below, at and above what was added, sets
//!   missing elements; role events), the fast checkers and the brute-force reference in
//!   `reference/` flag exactly the same operations; for `linearizability`, on every
//!   register key small enough to enumerate, the same keys, each at its first violation
//!   with a witness the reference accepts;
//! - a sequential history (one operation at a time, reads return the latest write that
//!   took effect, a counter's total or a set's elements) never flags anything but
//!   `unavailable`.
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
    Event, EventType, FinalState, Function, History, KeyId, Names, NodeId, Operation, Outcome,
    ProcessId, RoleEvent, RoleKind, Val, ValueId,
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
    // Counter and set keys are not registers: never flagged, not compared. (In a
    // history with counters or sets, a key that is only read is one too.)
    let any_crdt = ops.iter().any(|op| op.f.is_crdt_update());
    let crdt: Vec<KeyId> = by_key
        .iter()
        .filter(|(_, ops)| {
            ops.iter().any(|op| op.f.is_crdt_update())
                || (any_crdt && ops.iter().all(|op| op.f == Function::Read))
        })
        .map(|(key, _)| *key)
        .collect();
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
        if crdt.contains(key) {
            prop_assert!(flag.is_none(), "counter or set key {:?}: {:?}", key, flag);
            continue;
        }
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
    /// Per key, its class (`% 3`: register, counter, set); `None`: every key a register.
    classes: Option<Vec<u32>>,
}

impl Recipe {
    /// 0 for a register key, 1 for a counter key, 2 for a set key.
    fn class(&self, key: u32) -> u32 {
        self.classes.as_ref().map_or(0, |c| c[key as usize] % 3)
    }
}

/// The elements set keys add and remove.
const ELEMENTS: u32 = 3;

fn element(history: &mut History, n: u32) -> ValueId {
    history
        .values
        .intern(&serde_json::json!(format!("e{}", n % ELEMENTS)))
        .expect("not null")
}

fn number(history: &mut History, n: i128) -> ValueId {
    let n = i64::try_from(n).expect("small");
    history
        .values
        .intern(&serde_json::json!(n))
        .expect("not null")
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
        prop_oneof![
            3 => Just(None),
            2 => prop::collection::vec(any::<u32>(), 3).prop_map(Some),
        ],
    )
        .prop_map(
            |(
                processes,
                keys,
                steps,
                nodes,
                copy_first_node,
                roles,
                allow_repeats,
                with_final,
                classes,
            )| {
                Recipe {
                    processes,
                    keys,
                    steps,
                    nodes,
                    copy_first_node,
                    roles,
                    allow_repeats,
                    with_final,
                    classes,
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
        let class = recipe.class(key);
        match in_flight[process as usize] {
            None if choice < 5 && class == 1 && choice != 4 => {
                let val = Val::Int(i64::from(1 + pick % 3));
                push(
                    &mut history,
                    process,
                    EventType::Invoke,
                    Function::Increment,
                    key,
                    val,
                );
                in_flight[process as usize] = Some((Function::Increment, key, None, val));
            }
            None if choice < 5 && class == 2 => {
                let f = if choice < 3 {
                    Function::Add
                } else {
                    Function::Remove
                };
                let val = Val::One(element(&mut history, pick));
                push(&mut history, process, EventType::Invoke, f, key, val);
                in_flight[process as usize] = Some((f, key, None, val));
            }
            None => {
                if choice < 5 {
                    // On a counter key, a stray write (which makes it no register).
                    let f = if choice == 4 && class == 0 {
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
                let value = match (f, kind, recipe.class(key)) {
                    (Function::Read, EventType::Ok, 1) => {
                        Val::One(number(&mut history, i128::from(pick % 8)))
                    }
                    (Function::Read, EventType::Ok, 2) => {
                        let elements: Vec<ValueId> = (0..ELEMENTS)
                            .filter(|e| pick >> e & 1 == 1)
                            .map(|e| element(&mut history, e))
                            .collect();
                        history.many(&elements)
                    }
                    (Function::Read, EventType::Ok, _) => {
                        read_value(&mut history, &written, key, pick, next_value)
                    }
                    _ => invoked,
                };
                if let (Some(w), EventType::Ok) = (write, kind) {
                    written[w].ok = true;
                }
                push(&mut history, process, kind, f, key, value);
                in_flight[process as usize] = None;
            }
        }
    }

    // Per key: what its ok increments add up to, what all but the failed ones add up
    // to, and the elements of its ok adds.
    let ops = history.operations().expect("well-formed");
    let mut acknowledged = vec![0i128; recipe.keys as usize];
    let mut possible = vec![0i128; recipe.keys as usize];
    let mut added: Vec<Vec<ValueId>> = vec![Vec::new(); recipe.keys as usize];
    for op in &ops {
        let key = op.key.index();
        match (op.f, op.outcome, op.value) {
            (Function::Increment, outcome, Val::Int(n)) if outcome != Outcome::Fail => {
                possible[key] += i128::from(n);
                if outcome == Outcome::Ok {
                    acknowledged[key] += i128::from(n);
                }
            }
            (Function::Add, Outcome::Ok, Val::One(e)) => added[key].push(e),
            _ => {}
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
                let k = key as usize;
                let off = i128::from((word >> 8) % 3);
                let crdt_values: Option<Vec<ValueId>> = match (recipe.class(key), word % 8) {
                    (0, _) => None,
                    (_, 0) => continue, // not a replica of this key
                    (_, 1) => Some(vec![]),
                    (1, 2 | 3) => Some(vec![number(&mut history, acknowledged[k] - off)]),
                    (1, 4 | 5) => Some(vec![number(&mut history, possible[k] + off)]),
                    (1, 6) => Some(vec![number(&mut history, acknowledged[k])]),
                    (1, _) if word & 256 == 0 => Some(vec![element(&mut history, 0)]),
                    (1, _) => Some(vec![number(&mut history, 1), number(&mut history, 2)]),
                    (_, 2..=5) => Some(
                        (0..ELEMENTS)
                            .filter(|e| word >> (8 + e) & 1 == 1)
                            .map(|e| element(&mut history, e))
                            .collect(),
                    ),
                    (_, 6) => Some(added[k].clone()),
                    (_, _) => Some((0..ELEMENTS).map(|e| element(&mut history, e)).collect()),
                };
                if let Some(values) = crdt_values {
                    state.set(NodeId(n as u16), KeyId(key), values);
                    continue;
                }
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

/// A sequential history: (process, key, kind) per operation, one at a time; key count,
/// node count, and each key's class (register, counter, set).
type Sequential = (u32, Vec<(u32, u32, u32)>, u16, Vec<u32>);

fn sequential() -> impl Strategy<Value = Sequential> {
    (
        1..=3u32,
        prop::collection::vec((0..4u32, 0..3u32, 0..10u32), 0..60),
        1..=3u16,
        prop_oneof![
            1 => Just(vec![0, 0, 0]),
            2 => prop::collection::vec(0..3u32, 3),
        ],
    )
}

/// What a key of a sequential history holds.
#[derive(Clone)]
enum Held {
    Register(Option<ValueId>),
    Counter(i64),
    Set(std::collections::BTreeSet<ValueId>),
}

#[test]
fn sequential_histories_flag_nothing() {
    runner(1000)
        .run(&sequential(), |(keys, ops, nodes, classes)| {
            let mut history = History::with_names(Names::simulated(keys, nodes));
            let mut held: Vec<Held> = (0..keys as usize)
                .map(|k| match classes[k] {
                    0 => Held::Register(None),
                    1 => Held::Counter(0),
                    _ => Held::Set(Default::default()),
                })
                .collect();
            let mut roles = Vec::new();
            let mut unavailable = 0;
            let mut leader = 0u16;
            let mut register_ops = false;
            // A counter or set key's first operation updates it, so the key is one (a key
            // that is only read would be a register in a history without counters or
            // sets, and a counter's read of 0 a phantom).
            let mut touched = vec![false; keys as usize];
            roles.push(RoleEvent {
                time_ms: 0.0,
                node: NodeId(0),
                kind: RoleKind::Leader { epoch: 0 },
            });
            for (n, &(process, key, kind)) in ops.iter().enumerate() {
                let key = key % keys;
                let at = history.events.len() as u32;
                let k = key as usize;
                let kind = if kind < 9 && classes[k] != 0 && !touched[k] {
                    0
                } else {
                    kind
                };
                if kind < 9 {
                    touched[k] = true;
                }
                // A register key that is only read is a counter or set key in a history
                // with counters or sets: registers need a write.
                register_ops |= kind < 5 && matches!(held[k], Held::Register(_));
                if kind < 5 {
                    let (outcome, applied) = match kind {
                        0..=2 => (EventType::Ok, true),
                        3 => (EventType::Fail, false),
                        _ => (EventType::Info, n % 2 == 0),
                    };
                    let (f, val) = match &mut held[k] {
                        Held::Register(register) => {
                            let value = ValueId::generated(n as u32 + 1);
                            if applied {
                                *register = Some(value);
                            }
                            (Function::Write, Val::One(value))
                        }
                        Held::Counter(total) => {
                            let amount = n as i64 % 3 + 1;
                            if applied {
                                *total += amount;
                            }
                            (Function::Increment, Val::Int(amount))
                        }
                        Held::Set(elements) => {
                            let e = element(&mut history, n as u32 / 2);
                            let add = n % 3 != 0;
                            if applied && add {
                                elements.insert(e);
                            } else if applied {
                                elements.remove(&e);
                            }
                            let f = if add { Function::Add } else { Function::Remove };
                            (f, Val::One(e))
                        }
                    };
                    if outcome != EventType::Ok {
                        unavailable += 1;
                    }
                    push(&mut history, process, EventType::Invoke, f, key, val);
                    push(&mut history, process, outcome, f, key, val);
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
                    let value = match held[k].clone() {
                        Held::Register(register) => register.map_or(Val::Null, Val::One),
                        Held::Counter(total) => Val::One(number(&mut history, i128::from(total))),
                        Held::Set(elements) => {
                            history.many(&elements.into_iter().collect::<Vec<_>>())
                        }
                    };
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
                for (key, value) in held.clone().into_iter().enumerate() {
                    let values = match value {
                        Held::Register(register) => register.into_iter().collect(),
                        Held::Counter(total) => vec![number(&mut history, i128::from(total))],
                        Held::Set(elements) => elements.into_iter().collect(),
                    };
                    state.set(NodeId(node), KeyId(key as u32), values);
                }
            }
            let input = Input {
                history: &history,
                final_state: Some(&state),
                roles: Some(&roles),
            };
            let findings = check(&input, &Options::default()).expect("well-formed");
            let any_crdt = ops
                .iter()
                .any(|&(_, key, kind)| kind < 9 && classes[(key % keys) as usize] != 0);
            for (kind, reason) in &findings.skipped {
                // Only a history of counters and sets skips anything: the register kinds.
                prop_assert!(
                    any_crdt && !register_ops && reason == repsim_anomaly::NO_REGISTER_KEYS,
                    "{} skipped: {}",
                    kind,
                    reason
                );
            }
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
