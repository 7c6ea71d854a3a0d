//! The fuzzers' regression corpus (`tests/fuzz_corpus/`): inputs the fuzz targets in
//! `fuzz/` found or that are known to be tricky, each run through the same path as its
//! fuzz target and through the `repsim` binary.
//!
//! A file named `ok-*` must be accepted and one named `bad-*` refused; nothing may panic,
//! and a refusal must start with the file, name a JSON path (`$...`) or a line
//! (`line N`), exit 2 and write nothing. `history/` files may hold a final state after
//! a NUL byte, as the `history` fuzz target reads its input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use repsim_anomaly::{Input, Options};
use repsim_history::{FinalState, History};
use repsim_runner::{cli, scenario};

/// The SPEC §3 example and a few more events: the history the `final_state` target
/// reads its final states into.
const HISTORY: &str = r#"{"index":0,"time_ms":1.5,"process":2,"type":"invoke","f":"write","key":"k3","value":"w17","node":"n0"}
{"index":1,"time_ms":4.25,"process":2,"type":"ok","f":"write","key":"k3","value":"w17","node":"n0"}
{"index":2,"time_ms":9.0,"process":1,"type":"invoke","f":"read","key":"k3","value":null,"node":"n2"}
{"index":3,"time_ms":12.0,"process":1,"type":"ok","f":"read","key":"k3","value":"w17","node":"n2"}
{"index":4,"time_ms":13.0,"process":1,"type":"invoke","f":"write","key":"k1","value":"w18","node":"n1"}
{"index":5,"time_ms":14.0,"process":1,"type":"info","f":"write","key":"k1","value":"w18","node":"n1"}
{"index":6,"time_ms":15.0,"process":3,"type":"invoke","f":"cas","key":"k1","value":["w18","w19"]}
{"index":7,"time_ms":16.0,"process":3,"type":"ok","f":"cas","key":"k1","value":["w18","w19"]}
"#;

/// Every file of one corpus directory, with its name as shown in messages.
fn corpus(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{}: the corpus is missing", dir.display());
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("readable");
            (path.display().to_string(), bytes)
        })
        .collect()
}

/// Whether the file is expected to be accepted (`ok-*`) or refused (`bad-*`).
fn expect_ok(file: &str) -> bool {
    let name = Path::new(file).file_name().unwrap().to_string_lossy();
    match name.split('-').next() {
        Some("ok") => true,
        Some("bad") => false,
        _ => panic!("{file}: corpus files are named ok-* or bad-*"),
    }
}

/// Asserts that `message` starts with one of `files` and then names a path or a line.
fn assert_names_place(message: &str, files: &[&str]) {
    let rest = files
        .iter()
        .find_map(|file| message.strip_prefix(file)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("does not start with one of {files:?}: {message}"));
    assert!(
        rest.starts_with('$') || rest.starts_with("line "),
        "names neither a JSON path nor a line: {message}"
    );
    assert!(
        !message.contains('\n'),
        "a message is one line: {message:?}"
    );
}

/// The history and the final state (after the first NUL) of a `history/` input.
fn split(bytes: &[u8]) -> (&[u8], Option<&[u8]>) {
    match bytes.iter().position(|&b| b == 0) {
        Some(at) => (&bytes[..at], Some(&bytes[at + 1..])),
        None => (bytes, None),
    }
}

fn repsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_repsim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// A fresh directory for this test's temporary files.
fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("repsim-fuzz-corpus-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Asserts the binary refused bad input the way SPEC §1 says.
fn assert_refused(output: &Output, files: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{files:?}: {stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    let message = first
        .strip_prefix("error: ")
        .unwrap_or_else(|| panic!("{files:?}: stderr does not start with `error: `: {stderr}"));
    assert_names_place(message, files);
}

#[test]
fn scenario_corpus() {
    assert!(scenario::schema().is_object());
    let out = temp_dir("scenario");
    for (file, bytes) in corpus("scenario") {
        match scenario::parse_bytes(&bytes, &file) {
            Ok(parsed) => {
                assert!(expect_ok(&file), "{file}: accepted");
                let config = parsed.sim_config(parsed.seed);
                assert_eq!(config.nodes, parsed.nodes, "{file}");
                let output = repsim(&["validate", &file]);
                assert_eq!(output.status.code(), Some(0), "{file}");
            }
            Err(error) => {
                assert!(!expect_ok(&file), "{file}: refused: {error}");
                assert_names_place(&error.to_string(), &[&file]);
                assert_refused(&repsim(&["validate", &file]), &[&file]);
                let run_out = out.join("run");
                let output = repsim(&["run", &file, "--out", run_out.to_str().unwrap()]);
                assert_refused(&output, &[&file]);
                assert!(!run_out.exists(), "{file}: run wrote {}", run_out.display());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn history_corpus() {
    let dir = temp_dir("history");
    for (file, bytes) in corpus("history") {
        let (history_bytes, final_bytes) = split(&bytes);
        let final_file = format!("{file}.final.json");
        // The fuzz target's path: the reader, the pairing, the checkers.
        let read = History::from_jsonl_bytes(history_bytes, &file);
        let mut refused = false;
        match &read {
            Ok(history) => {
                let ops = history.operations().expect("an accepted history pairs");
                let input = Input {
                    history,
                    final_state: None,
                    roles: None,
                };
                let findings = repsim_anomaly::check(&input, &Options::default())
                    .expect("an accepted history is checked");
                assert_eq!(findings.operations, ops.len() as u64);
            }
            Err(error) => {
                refused = true;
                assert_names_place(&error.to_string(), &[&file]);
            }
        }
        let checked = cli::check_bytes(
            history_bytes,
            &file,
            final_bytes.map(|b| (b, final_file.as_str())),
        );
        if let Err(message) = &checked {
            refused = true;
            assert_names_place(message, &[&file, &final_file]);
        }
        assert_eq!(refused, !expect_ok(&file), "{file}: {:?}", checked.err());

        // The binary, on the parts as separate files.
        let history_path = dir.join("history.jsonl");
        std::fs::write(&history_path, history_bytes).unwrap();
        let history_shown = history_path.display().to_string();
        let mut args = vec!["check".to_owned(), history_shown.clone()];
        let final_path = dir.join("final.json");
        let final_shown = final_path.display().to_string();
        if let Some(final_bytes) = final_bytes {
            std::fs::write(&final_path, final_bytes).unwrap();
            args.extend(["--final".to_owned(), final_shown.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = repsim(&args);
        if refused {
            assert_refused(&output, &[&history_shown, &final_shown]);
        } else {
            let code = output.status.code();
            assert!(
                code == Some(0) || code == Some(1),
                "{file}: exit {code:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn final_state_corpus() {
    let dir = temp_dir("final");
    let history_path = dir.join("history.jsonl");
    std::fs::write(&history_path, HISTORY).unwrap();
    for (file, bytes) in corpus("final_state") {
        let mut empty = History::default();
        let alone = FinalState::from_json_bytes(&bytes, &file, &mut empty);
        let mut history = History::from_jsonl(HISTORY, "history.jsonl").unwrap();
        let with_history = FinalState::from_json_bytes(&bytes, &file, &mut history);
        assert_eq!(alone.is_ok(), with_history.is_ok(), "{file}");
        match with_history {
            Ok(state) => {
                assert!(expect_ok(&file), "{file}: accepted");
                let input = Input {
                    history: &history,
                    final_state: Some(&state),
                    roles: None,
                };
                repsim_anomaly::check(&input, &Options::default()).expect("a valid history");
            }
            Err(error) => {
                assert!(!expect_ok(&file), "{file}: refused: {error}");
                assert_names_place(&error.to_string(), &[&file]);
                let output = repsim(&["check", history_path.to_str().unwrap(), "--final", &file]);
                assert_refused(&output, &[&file]);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
