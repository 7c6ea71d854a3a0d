//! Mutated valid files through `repsim validate`, `repsim run` and `repsim check` (issue
//! 8): valid scenario files and histories get random mutations (byte flips, inserted
//! tokens, truncation, lines deleted, duplicated or swapped, numbers replaced by huge,
//! negative or non-JSON ones, strings replaced, fields deleted, renamed or given values
//! of another type), and whatever comes out must be accepted or refused cleanly.
//!
//! Every case goes through the library path the binary takes (`scenario::parse_bytes`,
//! `cli::check_bytes`); about one in six also goes through the binary, in an empty
//! working directory: the exit code must be 0 or 2 (`check` may exit 1), agree with the
//! library, and a refusal must print `error: <file>: ` then a JSON path or a line, and
//! write nothing (not even `repsim run --out DIR`'s directory).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use proptest::prelude::*;
use proptest::test_runner::Config;
use repsim_runner::{cli, scenario};
use serde_json::Value;

/// Valid scenario files to mutate.
const SCENARIOS: [&str; 6] = [
    "scenarios/single-node/crash-restart.json",
    "scenarios/single-node/nemesis.json",
    "scenarios/single-leader/async-failover-loses-writes.json",
    "scenarios/multi-leader/star-root-crash-cuts-flow.json",
    "scenarios/leaderless/sloppy-quorum-stays-available.json",
    "crates/runner/tests/scenarios/good/single-leader-every-fault.json",
];

/// Valid histories to mutate, each with its final state if it has one.
const HISTORIES: [(&str, Option<&str>); 4] = [
    (
        "crates/runner/tests/histories/stale.jsonl",
        Some("crates/runner/tests/histories/stale.final.json"),
    ),
    ("crates/runner/tests/histories/clean.jsonl", None),
    (
        "crates/runner/tests/fuzz_corpus/history/ok-siblings-cas-and-pending.jsonl",
        None,
    ),
    (
        "crates/runner/tests/fuzz_corpus/history/ok-extremes.jsonl",
        Some("crates/runner/tests/fuzz_corpus/final_state/ok-unknown-nodes-keys-and-values.json"),
    ),
];

/// Text put in place of a number.
const NUMBERS: [&str; 18] = [
    "1e400",
    "-1e400",
    "1e308",
    "-1",
    "-0.0",
    "0",
    "0.0004",
    "1e12",
    "1000000000000.0001",
    "4294967295",
    "4294967296",
    "65535",
    "65536",
    "18446744073709551615",
    "18446744073709551616",
    "NaN",
    "Infinity",
    "\"7\"",
];

/// Text put in place of a string.
const STRINGS: [&str; 12] = [
    "\"\"",
    "\"n0\"",
    "\"n1\"",
    "\"n65535\"",
    "\"n01\"",
    "\"w1\"",
    "\"\\u0000\\u001b[31m\"",
    "\"kind\"",
    "\"é\"",
    "null",
    "7",
    "[\"n0\",\"n1\"]",
];

/// Bytes inserted somewhere.
const TOKENS: [&[u8]; 10] = [
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\n",
    b"\xff",
    b"\xef\xbb\xbf",
];

/// Values given to a field or element.
fn replacement_values() -> Vec<Value> {
    serde_json::from_str(
        r#"[null, true, -1, 0, 0.5, 1e12, 1e300, -1e300, 18446744073709551615, 4294967296,
            65536, "", "n0", "n65535", "w1", "any", [], {}, [null], [["n0"], ["n1"]],
            {"kind": "leaderless"}, {"dist": "constant", "ms": -1}]"#,
    )
    .expect("valid JSON")
}

/// One change to a file.
#[derive(Clone, Debug)]
enum Mutation {
    FlipByte {
        at: usize,
        mask: u8,
    },
    Insert {
        at: usize,
        token: usize,
    },
    Truncate {
        at: usize,
    },
    DeleteLine {
        line: usize,
    },
    DuplicateLine {
        line: usize,
    },
    SwapLines {
        a: usize,
        b: usize,
    },
    ReplaceNumber {
        nth: usize,
        with: usize,
    },
    ReplaceString {
        nth: usize,
        with: usize,
    },
    /// On the JSON value of the file (scenarios) or of one line (histories): the
    /// `nth` object field or array element (pre-order) is changed.
    Structure {
        line: usize,
        nth: usize,
        op: Op,
    },
}

#[derive(Clone, Debug)]
enum Op {
    Delete,
    Duplicate,
    Rename,
    Set(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = any::<usize>;
    prop_oneof![
        1 => (n(), 1..=255u8).prop_map(|(at, mask)| Mutation::FlipByte { at, mask }),
        1 => (n(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        1 => n().prop_map(|at| Mutation::Truncate { at }),
        1 => n().prop_map(|line| Mutation::DeleteLine { line }),
        1 => n().prop_map(|line| Mutation::DuplicateLine { line }),
        1 => (n(), n()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        1 => (n(), 0..NUMBERS.len()).prop_map(|(nth, with)| Mutation::ReplaceNumber { nth, with }),
        1 => (n(), 0..STRINGS.len()).prop_map(|(nth, with)| Mutation::ReplaceString { nth, with }),
        5 => (n(), n(), op()).prop_map(|(line, nth, op)| Mutation::Structure { line, nth, op }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Delete),
        Just(Op::Duplicate),
        Just(Op::Rename),
        (0..replacement_values().len()).prop_map(Op::Set),
    ]
}

/// A byte range `start..end` of a text.
type Span = (usize, usize);

/// The byte spans of the string literals and of the numbers of JSON-ish `text`.
fn tokens(text: &[u8]) -> (Vec<Span>, Vec<Span>) {
    let (mut strings, mut numbers) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(text.len());
                strings.push((start, i));
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < text.len() && b"0123456789+-.eE".contains(&text[i]) {
                    i += 1;
                }
                numbers.push((start, i));
            }
            _ => i += 1,
        }
    }
    (strings, numbers)
}

fn replace_span(text: &mut Vec<u8>, spans: &[Span], nth: usize, with: &str) {
    if spans.is_empty() {
        return;
    }
    let (start, end) = spans[nth % spans.len()];
    text.splice(start..end, with.bytes());
}

/// Every object field and array element of `value`, as paths, in pre-order.
fn slots(value: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(Step::Key(key.clone()));
                out.push(path.clone());
                slots(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(Step::Index(i));
                out.push(path.clone());
                slots(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn parent_mut<'v>(root: &'v mut Value, path: &[Step]) -> &'v mut Value {
    path.iter().fold(root, |value, step| match step {
        Step::Key(key) => &mut value[key.as_str()],
        Step::Index(i) => &mut value[*i],
    })
}

/// Applies a structural change to the JSON text `text`, if it is JSON.
fn restructure(text: &[u8], nth: usize, op: &Op) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(text).ok()?;
    let mut all = Vec::new();
    slots(&value, &mut Vec::new(), &mut all);
    if all.is_empty() {
        return None;
    }
    let path = &all[nth % all.len()];
    let (last, parent_path) = path.split_last().expect("a slot has a step");
    let parent = parent_mut(&mut value, parent_path);
    match (parent, last, op) {
        (Value::Object(map), Step::Key(key), Op::Delete) => {
            map.remove(key);
        }
        (Value::Object(map), Step::Key(key), Op::Rename | Op::Duplicate) => {
            let child = map.remove(key).expect("the slot exists");
            map.insert(format!("{key}x"), child);
        }
        (Value::Array(items), Step::Index(i), Op::Delete) => {
            items.remove(*i);
        }
        (Value::Array(items), Step::Index(i), Op::Duplicate | Op::Rename) => {
            let child = items[*i].clone();
            items.insert(*i, child);
        }
        (parent, step, Op::Set(v)) => {
            let new = replacement_values()[*v].clone();
            match step {
                Step::Key(key) => parent[key.as_str()] = new,
                Step::Index(i) => parent[*i] = new,
            }
        }
        _ => return None,
    }
    Some(serde_json::to_vec(&value).expect("a value serializes"))
}

/// Applies `mutation` to `text`; `lines` says whether structure changes apply per line
/// (JSON Lines) or to the whole text.
fn apply(text: &mut Vec<u8>, mutation: &Mutation, lines: bool) {
    let split =
        |text: &[u8]| -> Vec<Vec<u8>> { text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect() };
    let join = |parts: Vec<Vec<u8>>| parts.join(&b'\n');
    match *mutation {
        Mutation::FlipByte { at, mask } => {
            if !text.is_empty() {
                let at = at % text.len();
                text[at] ^= mask;
            }
        }
        Mutation::Insert { at, token } => {
            let at = at % (text.len() + 1);
            text.splice(at..at, TOKENS[token].iter().copied());
        }
        Mutation::Truncate { at } => text.truncate(at % (text.len() + 1)),
        Mutation::DeleteLine { line } => {
            let mut parts = split(text);
            parts.remove(line % parts.len());
            *text = join(parts);
        }
        Mutation::DuplicateLine { line } => {
            let mut parts = split(text);
            let line = line % parts.len();
            parts.insert(line, parts[line].clone());
            *text = join(parts);
        }
        Mutation::SwapLines { a, b } => {
            let mut parts = split(text);
            let len = parts.len();
            parts.swap(a % len, b % len);
            *text = join(parts);
        }
        Mutation::ReplaceNumber { nth, with } => {
            let (_, numbers) = tokens(text);
            replace_span(text, &numbers, nth, NUMBERS[with]);
        }
        Mutation::ReplaceString { nth, with } => {
            let (strings, _) = tokens(text);
            replace_span(text, &strings, nth, STRINGS[with]);
        }
        Mutation::Structure { line, nth, ref op } => {
            if lines {
                let mut parts = split(text);
                let line = line % parts.len();
                if let Some(new) = restructure(&parts[line], nth, op) {
                    parts[line] = new;
                }
                *text = join(parts);
            } else if let Some(new) = restructure(text, nth, op) {
                *text = new;
            }
        }
    }
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// A fresh empty directory for one case.
fn case_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "repsim-mutated-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

/// `repsim ARGS` run in the empty directory `cwd`.
fn repsim(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_repsim"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs")
}

/// Checks that `message` starts with one of `files` and names a JSON path or a line.
fn names_place(message: &str, files: &[&str]) -> Result<(), TestCaseError> {
    let rest = files
        .iter()
        .find_map(|file| message.strip_prefix(file)?.strip_prefix(": "));
    let Some(rest) = rest else {
        return Err(TestCaseError::fail(format!(
            "does not start with one of {files:?}: {message}"
        )));
    };
    prop_assert!(
        rest.starts_with('$') || rest.starts_with("line "),
        "names neither a JSON path nor a line: {}",
        message
    );
    Ok(())
}

/// Checks the binary's `output` against the library's verdict (`refused`).
fn binary_agrees(output: &Output, refused: bool, files: &[&str]) -> Result<(), TestCaseError> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code();
    if refused {
        prop_assert_eq!(code, Some(2), "{}", stderr);
        let Some(message) = stderr.strip_prefix("error: ") else {
            return Err(TestCaseError::fail(format!("no `error: `: {stderr}")));
        };
        names_place(message.lines().next().unwrap_or_default(), files)?;
    } else {
        prop_assert!(
            code == Some(0) || code == Some(1),
            "exit {:?}: {}",
            code,
            stderr
        );
    }
    Ok(())
}

/// Asserts that `dir` is still empty but for `allowed`.
fn wrote_nothing(dir: &Path, allowed: &[&Path]) -> Result<(), TestCaseError> {
    for entry in std::fs::read_dir(dir).expect("the case dir") {
        let path = entry.expect("an entry").path();
        prop_assert!(
            allowed.contains(&path.as_path()),
            "wrote {}",
            path.display()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 1024, ..Config::default() })]

    #[test]
    fn mutated_scenarios_are_accepted_or_refused_cleanly(
        base in 0..SCENARIOS.len(),
        mutations in prop::collection::vec(mutation(), 1..4),
        through_binary in prop::bool::weighted(0.15),
    ) {
        let mut text = std::fs::read(repo(SCENARIOS[base])).expect("a scenario");
        for mutation in &mutations {
            apply(&mut text, mutation, false);
        }
        let dir = case_dir();
        let file = dir.join("mutated.json");
        std::fs::write(&file, &text).expect("written");
        let shown = file.display().to_string();
        let parsed = scenario::parse_bytes(&text, &shown);
        if let Err(error) = &parsed {
            names_place(&error.to_string(), &[&shown])?;
        }
        if through_binary {
            let output = repsim(&dir, &["validate", &shown]);
            binary_agrees(&output, parsed.is_err(), &[&shown])?;
            if parsed.is_err() {
                // A run of a refused file writes nothing, not even its --out directory.
                let out = dir.join("out");
                let output = repsim(&dir, &["run", &shown, "--out", out.to_str().unwrap()]);
                binary_agrees(&output, true, &[&shown])?;
                prop_assert!(!out.exists());
            }
            wrote_nothing(&dir, &[&file])?;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn mutated_histories_are_checked_or_refused_cleanly(
        base in 0..HISTORIES.len(),
        mutations in prop::collection::vec(mutation(), 1..4),
        mutate_final in prop::bool::weighted(0.3),
        through_binary in prop::bool::weighted(0.15),
    ) {
        let (history_path, final_path) = HISTORIES[base];
        let mut history = std::fs::read(repo(history_path)).expect("a history");
        let mut final_state = final_path.map(|p| std::fs::read(repo(p)).expect("a final state"));
        let (target, lines) = match (&mut final_state, mutate_final) {
            (Some(state), true) => (state, false),
            _ => (&mut history, true),
        };
        for mutation in &mutations {
            apply(target, mutation, lines);
        }
        let dir = case_dir();
        let history_file = dir.join("history.jsonl");
        let final_file = dir.join("final.json");
        std::fs::write(&history_file, &history).expect("written");
        let (history_shown, final_shown) =
            (history_file.display().to_string(), final_file.display().to_string());
        if let Some(state) = &final_state {
            std::fs::write(&final_file, state).expect("written");
        }
        let checked = cli::check_bytes(
            &history,
            &history_shown,
            final_state.as_deref().map(|s| (s, final_shown.as_str())),
        );
        if let Err(message) = &checked {
            names_place(message, &[&history_shown, &final_shown])?;
        }
        if through_binary {
            let mut args = vec!["check", history_shown.as_str()];
            if final_state.is_some() {
                args.extend(["--final", final_shown.as_str()]);
            }
            let output = repsim(&dir, &args);
            binary_agrees(&output, checked.is_err(), &[&history_shown, &final_shown])?;
            wrote_nothing(&dir, &[&history_file, &final_file])?;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn the_mutations_do_what_they_say() {
    let mut text = br#"{"a": [1, -2.5e3], "b": "x\"y"}"#.to_vec();
    let (strings, numbers) = tokens(&text);
    assert_eq!(strings.len(), 3);
    assert_eq!(numbers.len(), 2);
    apply(
        &mut text,
        &Mutation::ReplaceNumber { nth: 1, with: 0 },
        false,
    );
    assert_eq!(text, br#"{"a": [1, 1e400], "b": "x\"y"}"#.to_vec());
    let mut text = br#"{"a": [1, 2], "b": "x"}"#.to_vec();
    apply(
        &mut text,
        &Mutation::Structure {
            line: 0,
            nth: 0,
            op: Op::Delete,
        },
        false,
    );
    assert_eq!(text, br#"{"b":"x"}"#.to_vec());
    let mut text = b"l0\nl1\nl2".to_vec();
    apply(&mut text, &Mutation::SwapLines { a: 0, b: 5 }, true);
    assert_eq!(text, b"l2\nl1\nl0".to_vec());
}
