//! A small script language for the unit tests' hand-written histories, so each test
//! reads like the history it checks. One event per `;`-separated step; the step's
//! position is its index:
//!
//! - `0 w k1 5`: process 0 invokes a write of `w5` to `k1`; `0 cas k1 4 5` a cas from
//!   `w4` to `w5` (`-` for null); `0 r k1` a read of `k1`.
//! - `0 inc k1 3`: process 0 invokes an increment of `k1` by 3; `0 add k1 e2` /
//!   `0 rm k1 e2` an add / remove of the element `"e2"`.
//! - `0 ok`: process 0's operation completes `ok`; a read gives its value: `0 ok 5`,
//!   `0 ok 3,5` (siblings) or `0 ok -` (null), `0 ok #7` (a counter read of 7), `0 ok
//!   [e1,e2]` or `0 ok []` (a set read, always a list). `0 fail` and `0 info` likewise.
//!
//! Values: `5` is `w5`, `#7` the JSON number 7, `e2` the JSON string `"e2"`.
//! Final states: `n0 k1=5 k2=- | n1 k1=3,5` (node, then key=values; `-` is null).

use repsim_history::{
    Event, EventType, FinalState, Function, History, KeyId, Names, NodeId, ProcessId, Val, ValueId,
};

use crate::{Findings, Input, Options, check};

fn value(history: &mut History, token: &str) -> Option<ValueId> {
    if token == "-" {
        None
    } else if let Some(number) = token.strip_prefix('#') {
        let number: i64 = number.parse().expect("#<integer>");
        history.values.intern(&serde_json::json!(number))
    } else if token.starts_with('e') {
        history.values.intern(&serde_json::json!(token))
    } else {
        Some(ValueId::generated(token.parse().expect("a value number")))
    }
}

fn key(token: &str) -> KeyId {
    KeyId(
        token
            .strip_prefix('k')
            .expect("keys are k<n>")
            .parse()
            .expect("a key number"),
    )
}

/// The history a script describes (keys `k0..k9`, nodes `n0..n2`).
pub(crate) fn history(script: &str) -> History {
    let mut history = History::with_names(Names::simulated(10, 3));
    let mut in_flight: Vec<Option<(Function, KeyId, Val)>> = vec![None; 16];
    for step in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let words: Vec<&str> = step.split_whitespace().collect();
        let process: u32 = words[0].parse().expect("a process number");
        let slot = &mut in_flight[process as usize];
        let (kind, f, key, value) = match words[1] {
            "w" => (
                EventType::Invoke,
                Function::Write,
                key(words[2]),
                Val::One(value(&mut history, words[3]).expect("a value")),
            ),
            "cas" => {
                let expected = value(&mut history, words[3]);
                let new = value(&mut history, words[4]);
                (
                    EventType::Invoke,
                    Function::Cas,
                    key(words[2]),
                    Val::Cas(expected, new),
                )
            }
            "inc" => (
                EventType::Invoke,
                Function::Increment,
                key(words[2]),
                Val::Int(words[3].parse().expect("an amount")),
            ),
            "add" | "rm" => (
                EventType::Invoke,
                if words[1] == "add" {
                    Function::Add
                } else {
                    Function::Remove
                },
                key(words[2]),
                Val::One(value(&mut history, words[3]).expect("an element")),
            ),
            "r" => (EventType::Invoke, Function::Read, key(words[2]), Val::Null),
            done => {
                let kind = match done {
                    "ok" => EventType::Ok,
                    "fail" => EventType::Fail,
                    "info" => EventType::Info,
                    other => panic!("unknown step {other:?}"),
                };
                // A completion with nothing in flight is kept (as a read of k0), so tests
                // can build malformed histories.
                let (f, key, invoked) = slot.unwrap_or((Function::Read, KeyId(0), Val::Null));
                let value = match (f, words.get(2)) {
                    (Function::Read, Some(&"-")) | (Function::Read, None) => Val::Null,
                    (Function::Read, Some(list)) if list.starts_with('[') => {
                        let inner = list.trim_start_matches('[').trim_end_matches(']');
                        let values: Vec<ValueId> = inner
                            .split(',')
                            .filter(|t| !t.is_empty())
                            .filter_map(|t| value(&mut history, t))
                            .collect();
                        history.many(&values)
                    }
                    (Function::Read, Some(list)) => {
                        let values: Vec<ValueId> = list
                            .split(',')
                            .filter_map(|t| value(&mut history, t))
                            .collect();
                        if values.len() == 1 {
                            Val::One(values[0])
                        } else {
                            history.many(&values)
                        }
                    }
                    _ => invoked,
                };
                (kind, f, key, value)
            }
        };
        *slot = if kind == EventType::Invoke {
            Some((f, key, value))
        } else {
            None
        };
        history.push(Event {
            time_ms: history.events.len() as f64,
            process: ProcessId(process),
            key,
            node: Some(NodeId(0)),
            kind,
            f,
            value,
        });
    }
    history
}

/// The final state a script describes, its values interned in `history`.
pub(crate) fn final_state(script: &str, history: &mut History) -> FinalState {
    let mut state = FinalState::default();
    for node in script.split('|').map(str::trim).filter(|s| !s.is_empty()) {
        let mut words = node.split_whitespace();
        let name = words.next().expect("a node name");
        let node = NodeId(
            name.strip_prefix('n')
                .expect("nodes are n<n>")
                .parse()
                .expect("a node number"),
        );
        state.nodes.entry(node).or_default();
        for entry in words {
            let (k, values) = entry.split_once('=').expect("key=values");
            let values = values
                .split(',')
                .filter_map(|t| value(history, t))
                .collect();
            state.set(node, key(k), values);
        }
    }
    state
}

/// Checks a script's history, with an optional final-state script; keeps 100 examples.
pub(crate) fn findings(script: &str, final_script: Option<&str>) -> Findings {
    let mut history = history(script);
    let state = final_script.map(|script| final_state(script, &mut history));
    let input = Input {
        history: &history,
        final_state: state.as_ref(),
        roles: None,
    };
    check(&input, &Options { max_examples: 100 }).expect("a well-formed test history")
}
