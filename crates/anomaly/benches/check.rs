//! Benchmark of the anomaly checkers on a realistic simulated history: 1,000,000
//! operations by 8 processes on 100 keys, about half reads that return the latest or a
//! slightly stale write, a few `info` and `fail` completions, a final state on 3 nodes and
//! a leader's role events. Prints operations checked per second (target: at least one
//! million on one core) and the history's in-memory bytes per operation.
//!
//! Then the same history with a third of its keys counters and a third sets (their
//! reads return the exact total or members, their final values are exact), checked whole.
//!
//! Then `linearizability` alone (`linearizability::summarize`: every key decided, no
//! witness shrinking), on that history (every key has a stale read, so each search stops
//! at its first violation) and on histories of the same shape whose reads never return
//! a stale value, so every key is linearizable and the search must get through all of
//! it: 8 processes on 100 keys, 32 on 10, and 64 on 1 (a million operations on one key).
//!
//! Run with `cargo bench -p repsim-anomaly`. The wall clock is used here only, to measure.

use std::time::Instant;

use repsim_anomaly::linearizability::{self, Budget};
use repsim_anomaly::{Input, Kind, Options, check};
use repsim_history::{
    Event, EventType, FinalState, Function, History, KeyId, Names, NodeId, ProcessId, RoleEvent,
    RoleKind, Val, ValueId,
};

const OPERATIONS: usize = 1_000_000;

/// The shape of a generated history.
#[derive(Clone, Copy)]
struct Shape {
    processes: usize,
    keys: usize,
    /// One ok read in ten returns the value before the latest (else none does)...
    stale_reads: bool,
    /// ... once this many operations were invoked.
    stale_after: usize,
    /// Every third key a counter (increments, reads of its total) and every third a set
    /// (adds and removes of ten elements, reads of its elements), the rest registers.
    mixed: bool,
}

/// What a key of a mixed history is.
#[derive(Clone, Copy, PartialEq)]
enum Class {
    Register,
    Counter,
    Set,
}

fn class(mixed: bool, key: usize) -> Class {
    match key % 3 {
        _ if !mixed => Class::Register,
        1 => Class::Counter,
        2 => Class::Set,
        _ => Class::Register,
    }
}

/// SplitMix64: a tiny fixed PRNG, so the history is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What a process is doing.
#[derive(Clone, Copy)]
enum State {
    /// Will invoke at `at`.
    Idle { at: f64 },
    /// Its operation completes at `at`.
    Busy {
        at: f64,
        f: Function,
        key: u32,
        value: Option<ValueId>,
    },
}

struct Built {
    history: History,
    state: FinalState,
    roles: Vec<RoleEvent>,
}

fn build(shape: Shape) -> Built {
    let Shape {
        processes: process_count,
        keys: key_count,
        stale_reads,
        stale_after,
        mixed,
    } = shape;
    let mut rng = Rng(7);
    let mut history = History::with_names(Names::simulated(key_count as u32, 3));
    history.events.reserve(2 * OPERATIONS);
    // Per key: the latest value that took effect and the one before it.
    let mut latest: Vec<Option<ValueId>> = vec![None; key_count];
    let mut previous: Vec<Option<ValueId>> = vec![None; key_count];
    let mut processes: Vec<State> = (0..process_count)
        .map(|p| State::Idle { at: p as f64 * 0.1 })
        .collect();
    let mut roles = vec![RoleEvent {
        time_ms: 0.0,
        node: NodeId(0),
        kind: RoleKind::Leader { epoch: 1 },
    }];
    let mut next_value = 1u32;
    let mut invoked = 0usize;
    // Counter totals and set members of the mixed shape, per key.
    let mut totals = vec![0i64; key_count];
    let mut members = vec![[false; 10]; key_count];
    let elements: Vec<ValueId> = (0..10)
        .map(|e| {
            let name = serde_json::Value::String(format!("e{e}"));
            history.values.intern(&name).expect("not null")
        })
        .collect();
    loop {
        let (p, state) = processes
            .iter()
            .copied()
            .enumerate()
            .min_by(|a, b| at(&a.1).total_cmp(&at(&b.1)))
            .expect("there are processes");
        let position = history.events.len() as u32;
        match state {
            State::Idle { at } => {
                if invoked == OPERATIONS {
                    if processes.iter().all(|s| matches!(s, State::Idle { .. })) {
                        break;
                    }
                    processes[p] = State::Idle { at: f64::INFINITY };
                    continue;
                }
                invoked += 1;
                let key = rng.below(key_count as u64) as u32;
                let class = class(mixed, key as usize);
                let (f, value) = if rng.below(2) == 0 {
                    (Function::Read, None)
                } else if class == Class::Counter {
                    (Function::Increment, None)
                } else if class == Class::Set {
                    let f = if rng.below(3) == 0 {
                        Function::Remove
                    } else {
                        Function::Add
                    };
                    (f, Some(elements[rng.below(10) as usize]))
                } else {
                    let v = ValueId::generated(next_value);
                    next_value += 1;
                    roles.push(RoleEvent {
                        time_ms: at,
                        node: NodeId(0),
                        kind: RoleKind::AcceptedWrite { op: Some(position) },
                    });
                    (Function::Write, Some(v))
                };
                let invoked_value = if f == Function::Increment {
                    Val::Int(1 + (key as i64 % 3))
                } else {
                    value.map_or(Val::Null, Val::One)
                };
                push(
                    &mut history,
                    at,
                    p,
                    EventType::Invoke,
                    f,
                    key,
                    invoked_value,
                );
                let latency = 0.5 + rng.below(1000) as f64 / 200.0;
                processes[p] = State::Busy {
                    at: at + latency,
                    f,
                    key,
                    value,
                };
            }
            State::Busy { at, f, key, value } => {
                let roll = rng.below(100);
                let kind = match roll {
                    0 | 1 => EventType::Info,
                    2 => EventType::Fail,
                    _ => EventType::Ok,
                };
                let k = key as usize;
                let takes_effect = kind == EventType::Ok || (kind == EventType::Info && roll == 0);
                let event_value = match f {
                    Function::Read
                        if kind == EventType::Ok && class(mixed, k) == Class::Counter =>
                    {
                        let total = serde_json::Value::from(totals[k]);
                        Val::One(history.values.intern(&total).expect("not null"))
                    }
                    Function::Read if kind == EventType::Ok && class(mixed, k) == Class::Set => {
                        let present: Vec<ValueId> = (0..10)
                            .filter(|&e| members[k][e])
                            .map(|e| elements[e])
                            .collect();
                        history.many(&present)
                    }
                    Function::Increment => {
                        let amount = 1 + (key as i64 % 3);
                        if takes_effect {
                            totals[k] += amount;
                        }
                        Val::Int(amount)
                    }
                    Function::Add | Function::Remove => {
                        let element = value.expect("an element");
                        let e = elements.iter().position(|&x| x == element).expect("known");
                        if takes_effect {
                            members[k][e] = f == Function::Add;
                        }
                        Val::One(element)
                    }
                    Function::Read if kind == EventType::Ok => {
                        // Mostly the latest value; one read in ten a slightly stale one.
                        // (Without stale reads the history is linearizable: every
                        // operation takes effect at its completion.)
                        let stale = rng.below(10) == 0;
                        let seen = if stale && stale_reads && invoked > stale_after {
                            previous[k]
                        } else {
                            latest[k]
                        };
                        seen.map_or(Val::Null, Val::One)
                    }
                    Function::Read => Val::Null,
                    _ => Val::One(value.expect("a write has a value")),
                };
                if f == Function::Write
                    && (kind == EventType::Ok || (kind == EventType::Info && roll == 0))
                {
                    previous[k] = latest[k];
                    latest[k] = value;
                }
                push(&mut history, at, p, kind, f, key, event_value);
                let think = rng.below(1000) as f64 / 100.0;
                processes[p] = State::Idle { at: at + think };
            }
        }
    }
    let mut state = FinalState::default();
    for node in 0..3u16 {
        for (key, value) in latest.iter().enumerate() {
            let values = match class(mixed, key) {
                Class::Register => value.iter().copied().collect(),
                Class::Counter => {
                    let total = serde_json::Value::from(totals[key]);
                    vec![history.values.intern(&total).expect("not null")]
                }
                Class::Set => (0..10)
                    .filter(|&e| members[key][e])
                    .map(|e| elements[e])
                    .collect(),
            };
            state.set(NodeId(node), KeyId(key as u32), values);
        }
    }
    Built {
        history,
        state,
        roles,
    }
}

fn at(state: &State) -> f64 {
    match *state {
        State::Idle { at } | State::Busy { at, .. } => at,
    }
}

fn push(
    history: &mut History,
    time_ms: f64,
    process: usize,
    kind: EventType,
    f: Function,
    key: u32,
    value: Val,
) {
    history.push(Event {
        time_ms,
        process: ProcessId(process as u32),
        key: KeyId(key),
        node: Some(NodeId(0)),
        kind,
        f,
        value,
    });
}

/// Runs `f` and measures its wall time in seconds.
#[allow(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let result = f();
    (result, start.elapsed().as_secs_f64())
}

fn main() {
    let built = build(Shape {
        processes: 8,
        keys: 100,
        stale_reads: true,
        stale_after: 0,
        mixed: false,
    });
    let history = &built.history;
    let operations = history
        .operations()
        .expect("the bench history is well-formed")
        .len();
    let bytes = std::mem::size_of::<Event>() * history.events.len()
        + std::mem::size_of::<ValueId>() * history.siblings.len();
    let input = Input {
        history,
        final_state: Some(&built.state),
        roles: Some(&built.roles),
    };
    let options = Options::default();
    let mut best = f64::INFINITY;
    let mut findings = None;
    for _ in 0..5 {
        let (result, seconds) = timed(|| check(&input, &options).expect("well-formed"));
        findings = Some(result);
        best = best.min(seconds);
    }
    let findings = findings.expect("ran at least once");
    println!(
        "checked {operations} operations ({} events) in {:.3} s (best of 5): {:.2} million operations/s",
        history.events.len(),
        best,
        operations as f64 / best / 1e6
    );
    println!(
        "history in memory: {:.1} bytes per operation ({} bytes per event)",
        bytes as f64 / operations as f64,
        std::mem::size_of::<Event>()
    );
    for kind in Kind::ALL {
        println!("  {:<18} {}", kind.name(), findings.count(kind));
    }
    println!(
        "  (linearizability: {} keys undecided)",
        findings.unknown_keys.len()
    );

    // The same, with a third of the keys counters and a third sets.
    let built = build(Shape {
        processes: 8,
        keys: 100,
        stale_reads: true,
        stale_after: 0,
        mixed: true,
    });
    let input = Input {
        history: &built.history,
        final_state: Some(&built.state),
        roles: Some(&built.roles),
    };
    let mut best = f64::INFINITY;
    let mut findings = None;
    for _ in 0..3 {
        let (result, seconds) = timed(|| check(&input, &options).expect("well-formed"));
        findings = Some(result);
        best = best.min(seconds);
    }
    let findings = findings.expect("ran at least once");
    println!(
        "mixed registers, counters and sets: checked {OPERATIONS} operations in {best:.3} s \
         (best of 3): {:.2} million operations/s",
        OPERATIONS as f64 / best / 1e6
    );
    for kind in Kind::ALL {
        println!("  {:<18} {}", kind.name(), findings.count(kind));
    }

    println!("linearizability alone (every key decided, no witness shrinking), best of 3:");
    let late = OPERATIONS - 1000;
    let shapes = [
        ("8 processes, 100 keys, stale reads", 8, 100, true, 0),
        ("8 processes, 100 keys, linearizable", 8, 100, false, 0),
        ("32 processes, 10 keys, linearizable", 32, 10, false, 0),
        ("64 processes, 1 key, linearizable", 64, 1, false, 0),
        ("8 processes, 1 key, stale at the end", 8, 1, true, late),
        ("64 processes, 1 key, stale at the end", 64, 1, true, late),
    ];
    for (name, processes, keys, stale_reads, stale_after) in shapes {
        let built = build(Shape {
            processes,
            keys,
            stale_reads,
            stale_after,
            mixed: false,
        });
        let mut best = f64::INFINITY;
        let mut summary = None;
        for _ in 0..3 {
            let (result, seconds) = timed(|| {
                linearizability::summarize(&built.history, &Budget::default()).expect("well-formed")
            });
            summary = Some(result);
            best = best.min(seconds);
        }
        let s = summary.expect("ran at least once");
        println!(
            "  {name:<38} {best:.3} s ({:.2} M ops/s): {} keys: {} linearizable, {} not, {} unknown; {:.2} configurations per operation",
            OPERATIONS as f64 / best / 1e6,
            s.keys,
            s.linearizable,
            s.not_linearizable,
            s.unknown,
            s.states as f64 / OPERATIONS as f64
        );
        if name == "8 processes, 1 key, stale at the end" {
            // The whole check, witness shrinking included, once.
            let input = Input {
                history: &built.history,
                final_state: None,
                roles: None,
            };
            let (findings, seconds) = timed(|| check(&input, &options).expect("well-formed"));
            let witness = findings.examples[&Kind::Linearizability]
                .first()
                .map_or(0, |flag| flag.involved.len() + 1);
            println!(
                "  {:<38} {seconds:.3} s: the full check of that history, with a witness of {witness} operations",
                ""
            );
        }
    }
}
