//! Fuzz target `final_state`: any bytes as a final state (`FinalState::from_json_bytes`),
//! read into an empty history and into a small real one, and, when it parses, checked
//! with that history (`lost_write` and `divergence` read it).
//!
//! Nothing may panic; every refusal must start with the file and name a JSON path or a
//! line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use repsim_anomaly::{Input, Options};
use repsim_history::{FinalState, History};

const FILE: &str = "fuzz.final.json";

/// SPEC §3's example, plus a write that may or may not have happened and a cas.
const HISTORY: &str = r#"{"index":0,"time_ms":1.5,"process":2,"type":"invoke","f":"write","key":"k3","value":"w17","node":"n0"}
{"index":1,"time_ms":4.25,"process":2,"type":"ok","f":"write","key":"k3","value":"w17","node":"n0"}
{"index":2,"time_ms":9.0,"process":1,"type":"invoke","f":"read","key":"k3","value":null,"node":"n2"}
{"index":3,"time_ms":12.0,"process":1,"type":"ok","f":"read","key":"k3","value":"w17","node":"n2"}
{"index":4,"time_ms":13.0,"process":1,"type":"invoke","f":"write","key":"k1","value":"w18","node":"n1"}
{"index":5,"time_ms":14.0,"process":1,"type":"info","f":"write","key":"k1","value":"w18","node":"n1"}
{"index":6,"time_ms":15.0,"process":3,"type":"invoke","f":"cas","key":"k1","value":["w18","w19"]}
{"index":7,"time_ms":16.0,"process":3,"type":"ok","f":"cas","key":"k1","value":["w18","w19"]}
"#;

fuzz_target!(|data: &[u8]| {
    let mut empty = History::default();
    if let Err(error) = FinalState::from_json_bytes(data, FILE, &mut empty) {
        assert_names_place(&error.to_string());
    }
    let mut history = History::from_jsonl(HISTORY, "history.jsonl").expect("a valid history");
    match FinalState::from_json_bytes(data, FILE, &mut history) {
        Ok(state) => {
            let input = Input {
                history: &history,
                final_state: Some(&state),
                roles: None,
            };
            repsim_anomaly::check(&input, &Options::default()).expect("the history is valid");
        }
        Err(error) => assert_names_place(&error.to_string()),
    }
});

/// A refusal starts with the file, then a JSON path or a line.
fn assert_names_place(message: &str) {
    let rest = message
        .strip_prefix(FILE)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or_else(|| panic!("does not start with the file: {message:?}"));
    assert!(
        rest.starts_with('$') || rest.starts_with("line "),
        "names neither a path nor a line: {message:?}"
    );
}
