//! Fuzz target `history`: any bytes as a history file, and what follows the first NUL
//! byte (if any) as its final state, through what `repsim check` does: the history
//! reader (`History::from_jsonl_bytes`), `History::operations`, and the anomaly
//! checkers without and with the final state (`cli::check_bytes`).
//!
//! Nothing may panic or hang; every refusal must start with its file and name a line or
//! a JSON path; and a history the reader accepts must pair and be checked without error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use repsim_anomaly::{Input, Options};
use repsim_history::History;
use repsim_runner::cli;

const HISTORY: &str = "fuzz.jsonl";
const FINAL: &str = "fuzz.final.json";

fuzz_target!(|data: &[u8]| {
    let (history_bytes, final_bytes) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    match History::from_jsonl_bytes(history_bytes, HISTORY) {
        Ok(history) => {
            let ops = history
                .operations()
                .expect("a history the reader accepts pairs");
            let input = Input {
                history: &history,
                final_state: None,
                roles: None,
            };
            let findings = repsim_anomaly::check(&input, &Options::default())
                .expect("a history the reader accepts is checked");
            assert_eq!(findings.operations, ops.len() as u64);
        }
        Err(error) => assert_names_place(&error.to_string(), &[HISTORY]),
    }
    if let Some(final_bytes) = final_bytes
        && let Err(message) = cli::check_bytes(history_bytes, HISTORY, Some((final_bytes, FINAL)))
    {
        assert_names_place(&message, &[HISTORY, FINAL]);
    }
});

/// A refusal starts with one of the files, then a JSON path or a line.
fn assert_names_place(message: &str, files: &[&str]) {
    let rest = files
        .iter()
        .find_map(|file| message.strip_prefix(file)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("does not start with a file: {message:?}"));
    assert!(
        rest.starts_with('$') || rest.starts_with("line "),
        "names neither a path nor a line: {message:?}"
    );
}
