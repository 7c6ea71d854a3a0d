//! Jepsen's history shape (SPEC §1: `repsim export --format jepsen`, and `repsim check`
//! reading it), as JSON lines or EDN.
//!
//! One operation event per map: `type` (`invoke`/`ok`/`fail`/`info`), `f` (`read`/
//! `write`/`cas`, and for counter and set keys `increment`/`add`/`remove`: the names of
//! repsim's own history files, exported and read back unchanged), `value`, `process`,
//! `time` (nanoseconds, an integer) and `index`, e.g. `{:type :invoke, :f :write, :value
//! ["k3" "w17"], :process 0, :time 1500000, :index 0}`; in JSON lines the same with
//! strings for the keywords. repsim adds `node` when the history knows it (Jepsen ops may
//! carry extra fields).
//!
//! **Keys.** A Jepsen register history is one register, but repsim histories have many
//! keys. The export always writes Knossos' independent (multi-register) form, in which
//! each value is a `[key value]` tuple: a read's invoke `["k3" nil]`, a read's value
//! `["k3" "w17"]` (or `["k3" ["w3" "w9"]]` for siblings), a write `["k3" "w17"]`, a cas
//! `["k3" [expected new]]`, an increment `["k0" 3]` (its amount), an add or remove
//! `["k1" "e3"]` (its element), a counter read's result `["k0" 12]` and a set read's
//! `["k1" ["e1" "e3"]]` (always a list, even of one element or none). It does so even
//! for a single key, so key names survive a round trip. Reading, the form is decided per
//! file: when every client operation's value is a `[key value]` pair whose key is a
//! string or number (and whose value, for a cas, is itself a pair), values are tuples;
//! otherwise the file is one register, key `k` (the name the converted outside histories
//! in `crates/anomaly/tests/data` use). An operation with an explicit `key` field uses
//! that key and a plain value.
//!
//! **Reading** keeps what `repsim check` needs and refuses what it cannot read, naming
//! the file, the line (of the op map's opening brace, for EDN) and the reason:
//! - operations whose `process` is not an integer (Jepsen's `:nemesis`) are skipped: they
//!   are not client operations (their indexes are kept, so reports name the file's
//!   indexes);
//! - a read's invoke value is ignored (Knossos files sometimes carry the result there);
//! - `time` becomes `time_ms` = `time` / 10⁶; without it, the event's position; `index`
//!   must increase; extra fields (`error`, ...) are ignored;
//! - EDN values become JSON values: `nil` is `null`, keywords in values become strings
//!   with their colon (`:foo` → `":foo"`), symbols and characters strings, lists and sets
//!   arrays, and maps with keyword or string keys objects; tags (`#inst`, records) are
//!   dropped and `#_` discards the next form; comments and commas are whitespace.
//!   Nesting deeper than 128 is refused.
//!
//! The EDN reader and writer are hand-written (about 300 lines): Jepsen op maps need a
//! small part of EDN, and no EDN crate is as well kept as `serde_json`.

use std::fmt::Write as _;
use std::io;

use serde_json::Value as Json;

use crate::HistoryError;
use crate::event::{Event, EventType, Function, Val};
use crate::history::History;
use crate::ids::{ProcessId, ValueId};
use crate::jsonl::{parse_value, write_json_string};

/// The shape of a history file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// repsim's JSON lines (SPEC §3).
    Repsim,
    /// Jepsen's op maps as JSON lines.
    JepsenJson,
    /// Jepsen's op maps as EDN.
    JepsenEdn,
}

impl Shape {
    /// Guesses a file's shape from its text: EDN when it starts (after whitespace and
    /// `;` comment lines) with an op map `{:` or a vector or list of them (`[{:`, `({:`);
    /// Jepsen JSON when its first line is a JSON object with `type` and `f` but neither
    /// `key` nor `time_ms` (which every repsim history line has, or is refused without);
    /// else repsim's own format, whose reader gives the error if it is none of these.
    pub fn detect(text: &str) -> Shape {
        let blank = |c: char| c.is_whitespace() || c == ',';
        let mut rest = text.trim_start_matches(blank);
        while rest.starts_with(';') {
            rest = rest
                .split_once('\n')
                .map_or("", |(_, after)| after)
                .trim_start_matches(blank);
        }
        let opens_map = |s: &str| {
            s.strip_prefix('{')
                .is_some_and(|r| r.trim_start_matches(blank).starts_with(':'))
        };
        let inner = rest
            .strip_prefix('[')
            .or_else(|| rest.strip_prefix('('))
            .map(|r| r.trim_start_matches(blank));
        if opens_map(rest) || inner.is_some_and(opens_map) {
            return Shape::JepsenEdn;
        }
        let first = text.lines().find(|line| !line.trim().is_empty());
        if let Some(line) = first
            && let Ok(Json::Object(map)) = serde_json::from_str::<Json>(line)
            && map.contains_key("type")
            && map.contains_key("f")
            && !map.contains_key("key")
            && !map.contains_key("time_ms")
        {
            return Shape::JepsenJson;
        }
        Shape::Repsim
    }
}

/// The key of a single-register file.
pub const SINGLE_KEY: &str = "k";

/// How deeply EDN forms may nest.
const MAX_DEPTH: usize = 128;

impl History {
    /// Reads a history of any shape: EDN when `edn` is true, else the shape
    /// [`Shape::detect`] finds. `file` names it in error messages.
    pub fn from_any(text: &str, file: &str, edn: bool) -> Result<History, HistoryError> {
        match (edn, Shape::detect(text)) {
            (true, _) | (false, Shape::JepsenEdn) => History::from_jepsen(text, file, true),
            (false, Shape::JepsenJson) => History::from_jepsen(text, file, false),
            (false, Shape::Repsim) => History::from_jsonl(text, file),
        }
    }

    /// Reads Jepsen-shaped text: EDN when `edn`, else JSON lines (see the module doc).
    pub fn from_jepsen(text: &str, file: &str, edn: bool) -> Result<History, HistoryError> {
        let ops = if edn {
            read_edn(text, file)?
        } else {
            read_json_lines(text, file)?
        };
        build(ops, file)
    }

    /// Writes the history in Jepsen's shape, one op per line: JSON, or EDN when `edn`
    /// (see the module doc for the key tuples).
    pub fn write_jepsen(&self, writer: &mut impl io::Write, edn: bool) -> io::Result<()> {
        let mut line = String::with_capacity(160);
        let mut buffer = Vec::with_capacity(1 << 16);
        for position in 0..self.events.len() {
            line.clear();
            self.write_jepsen_line(position, edn, &mut line);
            buffer.extend_from_slice(line.as_bytes());
            if buffer.len() >= 1 << 16 {
                writer.write_all(&buffer)?;
                buffer.clear();
            }
        }
        writer.write_all(&buffer)
    }

    /// Appends event `position` as one Jepsen op line (with its newline) to `out`.
    pub fn write_jepsen_line(&self, position: usize, edn: bool, out: &mut String) {
        let event = &self.events[position];
        let key = self.names.key_name(event.key);
        // A read's invoke carries no value; its key still goes into the tuple.
        let value = if event.kind == EventType::Invoke && event.f == Function::Read {
            Val::Null
        } else {
            event.value
        };
        let time_ns = (event.time_ms * 1e6).round() as i64;
        let index = self.index_of(position as u32);
        if edn {
            write!(
                out,
                "{{:type :{}, :f :{}, :value [",
                event.kind.as_str(),
                event.f.as_str()
            )
            .expect("writing to a String cannot fail");
            write_edn_string(out, key);
            out.push(' ');
            self.write_edn_value(&value, out);
            write!(
                out,
                "], :process {}, :time {time_ns}, :index {index}",
                event.process.0
            )
            .expect("writing to a String cannot fail");
            if let Some(node) = event.node {
                out.push_str(", :node ");
                write_edn_string(out, self.names.node_name(node));
            }
            out.push_str("}\n");
        } else {
            write!(
                out,
                "{{\"type\":\"{}\",\"f\":\"{}\",\"value\":[",
                event.kind.as_str(),
                event.f.as_str()
            )
            .expect("writing to a String cannot fail");
            write_json_string(out, key);
            out.push(',');
            self.write_value(&value, out);
            write!(
                out,
                "],\"process\":{},\"time\":{time_ns},\"index\":{index}",
                event.process.0
            )
            .expect("writing to a String cannot fail");
            if let Some(node) = event.node {
                out.push_str(",\"node\":");
                write_json_string(out, self.names.node_name(node));
            }
            out.push_str("}\n");
        }
    }

    fn write_edn_value(&self, value: &Val, out: &mut String) {
        let one = |id: ValueId, out: &mut String| match id.generated_number() {
            Some(n) => write!(out, "\"w{n}\"").expect("writing to a String cannot fail"),
            None => write_edn_json(&self.values.to_json(id), out),
        };
        match *value {
            Val::Null => out.push_str("nil"),
            Val::One(id) => one(id, out),
            Val::Many { .. } => {
                out.push('[');
                for (i, id) in self.values_of(value).iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    one(*id, out);
                }
                out.push(']');
            }
            Val::Cas(expected, new) => {
                out.push('[');
                match expected {
                    Some(id) => one(id, out),
                    None => out.push_str("nil"),
                }
                out.push(' ');
                match new {
                    Some(id) => one(id, out),
                    None => out.push_str("nil"),
                }
                out.push(']');
            }
            Val::Int(n) => write!(out, "{n}").expect("writing to a String cannot fail"),
        }
    }
}

/// Appends `text` as an EDN string literal.
fn write_edn_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                write!(out, "\\u{:04x}", c as u32).expect("writing to a String cannot fail")
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a JSON value as EDN: `nil`, numbers as they are, strings, vectors, and maps
/// with string keys.
fn write_edn_json(value: &Json, out: &mut String) {
    match value {
        Json::Null => out.push_str("nil"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => write!(out, "{n}").expect("writing to a String cannot fail"),
        Json::String(s) => write_edn_string(out, s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_edn_json(item, out);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_edn_string(out, k);
                out.push(' ');
                write_edn_json(v, out);
            }
            out.push('}');
        }
    }
}

/// One op map as read, its fields as JSON values, with the line it starts on.
struct RawOp {
    line: usize,
    fields: serde_json::Map<String, Json>,
}

fn line_error(file: &str, line: usize, path: &str, reason: String) -> HistoryError {
    HistoryError::Line {
        file: file.to_owned(),
        line,
        path: path.to_owned(),
        reason,
    }
}

fn read_json_lines(text: &str, file: &str) -> Result<Vec<RawOp>, HistoryError> {
    let mut ops = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Json>(line) {
            Ok(Json::Object(fields)) => ops.push(RawOp {
                line: number,
                fields,
            }),
            Ok(_) => {
                let reason = "a Jepsen op is a JSON object".to_owned();
                return Err(line_error(file, number, "$", reason));
            }
            Err(e) => {
                let reason = e.to_string().replace(" at line 1", "");
                return Err(line_error(file, number, "$", reason));
            }
        }
    }
    Ok(ops)
}

/// Turns the op maps into a history (see the module doc).
fn build(ops: Vec<RawOp>, file: &str) -> Result<History, HistoryError> {
    // Client operations: those whose process is an integer.
    let is_client = |op: &RawOp| op.fields.get("process").is_none_or(Json::is_number);
    let tuple = |value: &Json, f: Option<&Json>| -> bool {
        let Json::Array(pair) = value else {
            return false;
        };
        let cas = f.and_then(Json::as_str).map(|f| f.trim_start_matches(':')) == Some("cas");
        pair.len() == 2
            && (pair[0].is_string() || pair[0].is_number())
            && (!cas || pair[1].as_array().is_some_and(|inner| inner.len() == 2))
    };
    let plain: Vec<&RawOp> = ops
        .iter()
        .filter(|op| is_client(op) && !op.fields.contains_key("key"))
        .collect();
    let tuples = !plain.is_empty()
        && plain.iter().all(|op| {
            op.fields
                .get("value")
                .is_some_and(|v| tuple(v, op.fields.get("f")))
        });

    let mut history = History::default();
    let mut file_indexes = Vec::new();
    let mut lines = Vec::new();
    let mut last_index: Option<u64> = None;
    for op in &ops {
        let error = |path: &str, reason: String| line_error(file, op.line, path, reason);
        let field = |name: &str| op.fields.get(name);
        let process = match field("process") {
            None => return Err(error("$", "missing field `process`".into())),
            Some(Json::Number(n)) => match n.as_u64().and_then(|p| u32::try_from(p).ok()) {
                Some(p) => p,
                None => {
                    let reason = format!("process {n} is not a non-negative 32-bit integer");
                    return Err(error("$.process", reason));
                }
            },
            // `:nemesis` (or any other non-integer process) is not a client.
            Some(_) => continue,
        };
        let name = |path: &str| -> Result<&str, HistoryError> {
            match field(path) {
                Some(Json::String(s)) => Ok(s.trim_start_matches(':')),
                Some(other) => Err(error(
                    &format!("$.{path}"),
                    format!("{path} must be a keyword or string, not {other}"),
                )),
                None => Err(error("$", format!("missing field `{path}`"))),
            }
        };
        let kind = match name("type")? {
            "invoke" => EventType::Invoke,
            "ok" => EventType::Ok,
            "fail" => EventType::Fail,
            "info" => EventType::Info,
            other => {
                let reason = format!("unknown type {other:?}: expected invoke, ok, fail or info");
                return Err(error("$.type", reason));
            }
        };
        let f = match name("f")? {
            "read" => Function::Read,
            "write" => Function::Write,
            "cas" => Function::Cas,
            "increment" => Function::Increment,
            "add" => Function::Add,
            "remove" => Function::Remove,
            other => {
                let reason = format!(
                    "unknown f {other:?}: repsim checks read / write / cas registers, counters \
                     (increment) and sets (add / remove) only"
                );
                return Err(error("$.f", reason));
            }
        };
        let position = history.events.len() as u64;
        let index = match field("index") {
            None => position,
            Some(Json::Number(n)) if n.as_u64().is_some() => n.as_u64().expect("checked"),
            Some(other) => {
                let reason = format!("index must be a non-negative integer, not {other}");
                return Err(error("$.index", reason));
            }
        };
        if let Some(last) = last_index
            && index <= last
        {
            let reason = format!("index {index} does not increase (the previous op had {last})");
            return Err(error("$.index", reason));
        }
        last_index = Some(index);
        let time_ms = match field("time") {
            None => position as f64,
            Some(Json::Number(n)) => {
                let ns = n.as_f64().filter(|t| t.is_finite());
                match ns {
                    Some(ns) => ns / 1e6,
                    None => return Err(error("$.time", format!("time {n} is out of range"))),
                }
            }
            Some(other) => {
                let reason = format!("time must be a number of nanoseconds, not {other}");
                return Err(error("$.time", reason));
            }
        };
        let raw_value = field("value").cloned().unwrap_or(Json::Null);
        let (key_name, value) = match field("key") {
            Some(key) => (key_name(key).map_err(|r| error("$.key", r))?, raw_value),
            None if tuples => {
                let Json::Array(mut pair) = raw_value else {
                    unreachable!("checked by `tuples`")
                };
                let value = pair.pop().expect("a pair");
                let key = pair.pop().expect("a pair");
                (key_name(&key).map_err(|r| error("$.value[0]", r))?, value)
            }
            None => (SINGLE_KEY.to_owned(), raw_value),
        };
        let value = if kind == EventType::Invoke && f == Function::Read {
            Val::Null
        } else {
            parse_value(&mut history, f, &value)
                .map_err(|r| error(if tuples { "$.value[1]" } else { "$.value" }, r))?
        };
        let node = match field("node") {
            None | Some(Json::Null) => None,
            Some(Json::String(name)) => Some(history.names.try_node(name).ok_or_else(|| {
                error(
                    "$.node",
                    "a history names at most 65536 different nodes".to_owned(),
                )
            })?),
            Some(other) => {
                let reason = format!("node must be a string, not {other}");
                return Err(error("$.node", reason));
            }
        };
        let key = history.names.key(&key_name);
        history.events.push(Event {
            time_ms,
            process: ProcessId(process),
            key,
            node,
            kind,
            f,
            value,
        });
        file_indexes.push(index);
        lines.push(op.line);
    }
    if file_indexes
        .iter()
        .enumerate()
        .any(|(i, &index)| index != i as u64)
    {
        history.file_indexes = Some(file_indexes);
    }
    // Events must pair into operations, like any history `check` reads.
    if let Err(HistoryError::Malformed { index, reason }) = history.operations() {
        let position = (0..history.events.len() as u32)
            .find(|&p| history.index_of(p) == index)
            .map_or(0, |p| p as usize);
        let line = lines.get(position).copied().unwrap_or(0);
        let reason = format!("event at index {index}: {reason}");
        return Err(line_error(file, line, "$", reason));
    }
    Ok(history)
}

/// A key: a string, or a number's text.
fn key_name(key: &Json) -> Result<String, String> {
    match key {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) => Ok(n.to_string()),
        other => Err(format!("a key must be a string or number, not {other}")),
    }
}

/// An EDN form, as much of EDN as Jepsen op maps need.
#[derive(Debug)]
enum Form {
    Nil,
    Bool(bool),
    Number(serde_json::Number),
    Str(String),
    Keyword(String),
    Symbol(String),
    Seq(Vec<Form>),
    /// A map and the line of its opening brace.
    Map(Vec<(Form, Form)>, usize),
}

/// Reads every top-level form: op maps, or vectors / lists of op maps.
fn read_edn(text: &str, file: &str) -> Result<Vec<RawOp>, HistoryError> {
    let mut reader = Edn {
        text: text.as_bytes(),
        at: 0,
        line: 1,
        depth: 0,
    };
    let mut ops = Vec::new();
    let to_op = |form: Form, line: usize| -> Result<RawOp, HistoryError> {
        let Form::Map(entries, line) = form else {
            let reason = "expected an op map {:type ..., :f ..., ...}".to_owned();
            return Err(line_error(file, line, "$", reason));
        };
        let mut fields = serde_json::Map::new();
        for (key, value) in entries {
            let name = match key {
                Form::Keyword(k) | Form::Str(k) | Form::Symbol(k) => k,
                other => {
                    let reason = format!("op map keys must be keywords, not {other:?}");
                    return Err(line_error(file, line, "$", reason));
                }
            };
            let value = to_json(value).map_err(|r| line_error(file, line, "$", r))?;
            fields.insert(name, value);
        }
        Ok(RawOp { line, fields })
    };
    loop {
        reader.skip_blank();
        if reader.at >= reader.text.len() {
            return Ok(ops);
        }
        let line = reader.line;
        let form = reader
            .form()
            .map_err(|(line, reason)| line_error(file, line, "$", reason))?;
        match form {
            Form::Seq(items) => {
                for item in items {
                    ops.push(to_op(item, line)?);
                }
            }
            other => ops.push(to_op(other, line)?),
        }
    }
}

/// An EDN value as JSON (see the module doc).
fn to_json(form: Form) -> Result<Json, String> {
    Ok(match form {
        Form::Nil => Json::Null,
        Form::Bool(b) => Json::Bool(b),
        Form::Number(n) => Json::Number(n),
        Form::Str(s) | Form::Symbol(s) => Json::String(s),
        Form::Keyword(k) => Json::String(format!(":{k}")),
        Form::Seq(items) => Json::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?),
        Form::Map(entries, _) => {
            let mut map = serde_json::Map::new();
            for (key, value) in entries {
                let key = match key {
                    Form::Keyword(k) | Form::Str(k) | Form::Symbol(k) => k,
                    other => {
                        return Err(format!(
                            "map keys must be keywords or strings, not {other:?}"
                        ));
                    }
                };
                map.insert(key, to_json(value)?);
            }
            Json::Object(map)
        }
    })
}

/// A small EDN reader over bytes, counting lines.
struct Edn<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
    depth: usize,
}

/// Where (line) and why reading failed.
type EdnError = (usize, String);

impl Edn<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        if b == b'\n' {
            self.line += 1;
        }
        Some(b)
    }

    fn error<T>(&self, reason: impl Into<String>) -> Result<T, EdnError> {
        Err((self.line, reason.into()))
    }

    /// Skips whitespace, commas and `;` comments.
    fn skip_blank(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b',' => {
                    self.bump();
                }
                b';' => {
                    while self.peek().is_some_and(|b| b != b'\n') {
                        self.bump();
                    }
                }
                _ => break,
            }
        }
    }

    fn form(&mut self) -> Result<Form, EdnError> {
        self.skip_blank();
        let Some(b) = self.peek() else {
            return self.error("unexpected end of file");
        };
        match b {
            b'{' | b'[' | b'(' => {
                if self.depth >= MAX_DEPTH {
                    return self.error(format!("forms nest deeper than {MAX_DEPTH}"));
                }
                self.depth += 1;
                let line = self.line;
                self.bump();
                let close = match b {
                    b'{' => b'}',
                    b'[' => b']',
                    _ => b')',
                };
                let items = self.items(close)?;
                self.depth -= 1;
                if b == b'{' {
                    self.pairs(items, line)
                } else {
                    Ok(Form::Seq(items))
                }
            }
            b'}' | b']' | b')' => self.error(format!("unexpected {:?}", b as char)),
            b'"' => self.string().map(Form::Str),
            b'\\' => self.character().map(Form::Str),
            b':' => {
                self.bump();
                let name = self.token();
                if name.is_empty() {
                    return self.error("a keyword needs a name after ':'");
                }
                Ok(Form::Keyword(name))
            }
            b'#' => self.dispatch(),
            b'0'..=b'9' => self.number(),
            b'+' | b'-' if self.text.get(self.at + 1).is_some_and(u8::is_ascii_digit) => {
                self.number()
            }
            _ => {
                let token = self.token();
                match token.as_str() {
                    "" => self.error(format!("unexpected character {:?}", b as char)),
                    "nil" => Ok(Form::Nil),
                    "true" => Ok(Form::Bool(true)),
                    "false" => Ok(Form::Bool(false)),
                    _ => Ok(Form::Symbol(token)),
                }
            }
        }
    }

    /// Forms up to the closing byte, which it consumes.
    fn items(&mut self, close: u8) -> Result<Vec<Form>, EdnError> {
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            match self.peek() {
                None => {
                    return self.error(format!("unclosed form: expected {:?}", close as char));
                }
                Some(b) if b == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(b'#') if self.text.get(self.at + 1) == Some(&b'_') => {
                    self.at += 2;
                    self.form()?;
                }
                Some(_) => items.push(self.form()?),
            }
        }
    }

    fn pairs(&self, items: Vec<Form>, line: usize) -> Result<Form, EdnError> {
        if items.len() % 2 != 0 {
            return Err((line, "a map needs an even number of forms".into()));
        }
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut items = items.into_iter();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            entries.push((k, v));
        }
        Ok(Form::Map(entries, line))
    }

    /// `#{...}` sets, `#_` discards, `##Inf`-style values, and tagged forms.
    fn dispatch(&mut self) -> Result<Form, EdnError> {
        self.bump();
        match self.peek() {
            Some(b'{') => {
                if self.depth >= MAX_DEPTH {
                    return self.error(format!("forms nest deeper than {MAX_DEPTH}"));
                }
                self.depth += 1;
                self.bump();
                let items = self.items(b'}')?;
                self.depth -= 1;
                Ok(Form::Seq(items))
            }
            Some(b'_') => {
                self.bump();
                self.form()?;
                self.form()
            }
            Some(b'#') => self.error("symbolic values (##Inf, ##NaN) are not numbers repsim keeps"),
            _ => {
                let tag = self.token();
                if tag.is_empty() {
                    return self.error("'#' must start a set, a discard or a tag");
                }
                if self.depth >= MAX_DEPTH {
                    return self.error(format!("forms nest deeper than {MAX_DEPTH}"));
                }
                self.depth += 1;
                let form = self.form();
                self.depth -= 1;
                form
            }
        }
    }

    /// A symbol-like token (symbol, keyword name, tag).
    fn token(&mut self) -> String {
        let start = self.at;
        while self.peek().is_some_and(|b| {
            b.is_ascii_alphanumeric() || b">.*+!-_?$%&=</:#'".contains(&b) || b >= 0x80
        }) {
            self.bump();
        }
        String::from_utf8_lossy(&self.text[start..self.at]).into_owned()
    }

    fn number(&mut self) -> Result<Form, EdnError> {
        let text = self.token();
        let (digits, big) = match text.strip_suffix('N').or_else(|| text.strip_suffix('M')) {
            Some(digits) => (digits, true),
            None => (text.as_str(), false),
        };
        let digits = digits.strip_prefix('+').unwrap_or(digits);
        if let Ok(n) = digits.parse::<i64>() {
            return Ok(Form::Number(n.into()));
        }
        if let Ok(n) = digits.parse::<u64>() {
            return Ok(Form::Number(n.into()));
        }
        let float = digits.parse::<f64>().ok().filter(|f| f.is_finite());
        match float.and_then(serde_json::Number::from_f64) {
            Some(n) if !big || digits.contains(['.', 'e', 'E']) || text.ends_with('M') => {
                Ok(Form::Number(n))
            }
            _ => self.error(format!("{text:?} is not a number repsim can read")),
        }
    }

    fn hex4(&mut self) -> Result<u32, EdnError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self.bump().and_then(|b| (b as char).to_digit(16));
            match digit {
                Some(d) => code = code * 16 + d,
                None => return self.error("\\u needs four hex digits"),
            }
        }
        Ok(code)
    }

    fn string(&mut self) -> Result<String, EdnError> {
        self.bump();
        let mut bytes = Vec::new();
        loop {
            match self.bump() {
                None => return self.error("unclosed string"),
                Some(b'"') => break,
                Some(b'\\') => match self.bump() {
                    Some(b'n') => bytes.push(b'\n'),
                    Some(b't') => bytes.push(b'\t'),
                    Some(b'r') => bytes.push(b'\r'),
                    Some(b'b') => bytes.push(0x08),
                    Some(b'f') => bytes.push(0x0c),
                    Some(b'"') => bytes.push(b'"'),
                    Some(b'\\') => bytes.push(b'\\'),
                    Some(b'u') => {
                        let mut code = self.hex4()?;
                        if (0xD800..0xDC00).contains(&code)
                            && self.text.get(self.at..self.at + 2) == Some(b"\\u")
                        {
                            self.at += 2;
                            let low = self.hex4()?;
                            code = 0x10000 + ((code - 0xD800) << 10) + (low.wrapping_sub(0xDC00));
                        }
                        let Some(c) = char::from_u32(code) else {
                            return self.error(format!("\\u{code:04x} is not a character"));
                        };
                        let mut utf8 = [0; 4];
                        bytes.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                    }
                    _ => return self.error("unknown escape in a string"),
                },
                Some(b) => bytes.push(b),
            }
        }
        match String::from_utf8(bytes) {
            Ok(s) => Ok(s),
            Err(_) => self.error("a string is not UTF-8"),
        }
    }

    fn character(&mut self) -> Result<String, EdnError> {
        self.bump();
        let first = self.at;
        // One character, or a name (newline, space, tab, ...), or uXXXX.
        let Some(b) = self.bump() else {
            return self.error("a character needs a name after '\\'");
        };
        let mut end = self.at;
        if b.is_ascii_alphanumeric() {
            while self.peek().is_some_and(|b| b.is_ascii_alphanumeric()) {
                self.bump();
            }
            end = self.at;
        } else if b >= 0x80 {
            while self.peek().is_some_and(|b| (0x80..0xC0).contains(&b)) {
                self.bump();
            }
            end = self.at;
        }
        let name = String::from_utf8_lossy(&self.text[first..end]).into_owned();
        Ok(match name.as_str() {
            "newline" => "\n".into(),
            "space" => " ".into(),
            "tab" => "\t".into(),
            "return" => "\r".into(),
            n if n.len() == 5 && n.starts_with('u') => {
                match u32::from_str_radix(&n[1..], 16)
                    .ok()
                    .and_then(char::from_u32)
                {
                    Some(c) => c.to_string(),
                    None => return self.error(format!("\\{n} is not a character")),
                }
            }
            n if n.chars().count() == 1 => n.into(),
            n => return self.error(format!("unknown character \\{n}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-written Jepsen register history: a write, a concurrent read, a cas, a
    /// nemesis op in between, and a timed-out write.
    const EDN: &str = r#"
; A Jepsen history, as jepsen.history prints it.
{:type :invoke, :f :write, :value 1, :process 0, :time 1500000, :index 0}
{:type :invoke, :f :read, :value nil, :process 1, :time 2000000, :index 1}
{:type :info, :f :start, :value nil, :process :nemesis, :time 2100000, :index 2}
{:type :ok, :f :write, :value 1, :process 0, :time 3000000, :index 3}
{:type :ok, :f :read, :value 1, :process 1, :time 3500000, :index 4}
{:type :invoke, :f :cas, :value [1 2], :process 0, :time 4000000, :index 5}
{:type :ok, :f :cas, :value [1 2], :process 0, :time 4500000, :index 6}
{:type :invoke, :f :write, :value 3, :process 1, :time 5000000, :index 7, :error #_ignored :timeout}
{:type :info, :f :write, :value 3, :process 1, :time 9000000, :index 8, :error :timed-out}
"#;

    const JSON: &str = r#"{"type":"invoke","f":"write","value":1,"process":0,"time":1500000,"index":0}
{"type":"invoke","f":"read","value":null,"process":1,"time":2000000,"index":1}
{"type":"info","f":"start","value":null,"process":"nemesis","time":2100000,"index":2}
{"type":"ok","f":"write","value":1,"process":0,"time":3000000,"index":3}
{"type":"ok","f":"read","value":1,"process":1,"time":3500000,"index":4}
{"type":"invoke","f":"cas","value":[1,2],"process":0,"time":4000000,"index":5}
{"type":"ok","f":"cas","value":[1,2],"process":0,"time":4500000,"index":6}
{"type":"invoke","f":"write","value":3,"process":1,"time":5000000,"index":7}
{"type":"info","f":"write","value":3,"process":1,"time":9000000,"index":8,"error":"timed-out"}
"#;

    /// The same history in repsim's format (the nemesis op skipped, its index kept).
    const REPSIM: &str = r#"{"index":0,"time_ms":1.5,"process":0,"type":"invoke","f":"write","key":"k","value":1}
{"index":1,"time_ms":2.0,"process":1,"type":"invoke","f":"read","key":"k","value":null}
{"index":3,"time_ms":3.0,"process":0,"type":"ok","f":"write","key":"k","value":1}
{"index":4,"time_ms":3.5,"process":1,"type":"ok","f":"read","key":"k","value":1}
{"index":5,"time_ms":4.0,"process":0,"type":"invoke","f":"cas","key":"k","value":[1,2]}
{"index":6,"time_ms":4.5,"process":0,"type":"ok","f":"cas","key":"k","value":[1,2]}
{"index":7,"time_ms":5.0,"process":1,"type":"invoke","f":"write","key":"k","value":3}
{"index":8,"time_ms":9.0,"process":1,"type":"info","f":"write","key":"k","value":3}
"#;

    fn jsonl(history: &History) -> String {
        let mut out = Vec::new();
        history.write_jsonl(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn jepsen(history: &History, edn: bool) -> String {
        let mut out = Vec::new();
        history.write_jepsen(&mut out, edn).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn shapes_are_detected() {
        assert_eq!(Shape::detect(EDN), Shape::JepsenEdn);
        assert_eq!(Shape::detect(JSON), Shape::JepsenJson);
        assert_eq!(Shape::detect(REPSIM), Shape::Repsim);
        assert_eq!(Shape::detect("[{:type :ok}]"), Shape::JepsenEdn);
        assert_eq!(Shape::detect("({:type :ok})"), Shape::JepsenEdn);
        assert_eq!(Shape::detect(""), Shape::Repsim);
        assert_eq!(Shape::detect("[1, 2]"), Shape::Repsim);
        assert_eq!(Shape::detect("{not json"), Shape::Repsim);
        // A repsim line that lost its key is still repsim's (and refused there).
        let keyless = r#"{"time_ms":1,"process":0,"type":"invoke","f":"read","value":null}"#;
        assert_eq!(Shape::detect(keyless), Shape::Repsim);
    }

    #[test]
    fn edn_and_json_read_the_same_single_register_history() {
        let from_edn = History::from_any(EDN, "h.edn", false).unwrap();
        let from_json = History::from_any(JSON, "h.json", false).unwrap();
        assert_eq!(jsonl(&from_edn), REPSIM);
        assert_eq!(jsonl(&from_json), REPSIM);
        assert_eq!(from_edn.file_indexes, Some(vec![0, 1, 3, 4, 5, 6, 7, 8]));
    }

    #[test]
    fn multi_key_histories_round_trip_through_both_shapes() {
        let text = r#"{"index":0,"time_ms":1.5,"process":2,"type":"invoke","f":"write","key":"k3","value":"w17","node":"n0"}
{"index":1,"time_ms":2.0,"process":1,"type":"invoke","f":"read","key":"k1","value":null,"node":"n2"}
{"index":2,"time_ms":4.25,"process":2,"type":"ok","f":"write","key":"k3","value":"w17","node":"n0"}
{"index":3,"time_ms":5.0,"process":1,"type":"ok","f":"read","key":"k1","value":["w3","w9"],"node":"n2"}
{"index":4,"time_ms":6.0,"process":1,"type":"invoke","f":"cas","key":"k1","value":[null,{"a":[1,"x\"y"]}]}
{"index":5,"time_ms":7.0,"process":1,"type":"fail","f":"cas","key":"k1","value":[null,{"a":[1,"x\"y"]}]}
{"index":9,"time_ms":8.0,"process":0,"type":"invoke","f":"read","key":"7","value":null}
{"index":10,"time_ms":9.0,"process":0,"type":"ok","f":"read","key":"7","value":null}
"#;
        let history = History::from_jsonl(text, "h.jsonl").unwrap();
        for edn in [false, true] {
            let exported = jepsen(&history, edn);
            let back = History::from_any(&exported, "x", false).unwrap();
            assert_eq!(jsonl(&back), text, "{exported}");
        }
        let edn = jepsen(&history, true);
        assert!(
            edn.starts_with(
                "{:type :invoke, :f :write, :value [\"k3\" \"w17\"], :process 2, :time 1500000, :index 0, :node \"n0\"}\n"
            ),
            "{edn}"
        );
        assert!(
            edn.contains(":value [\"k1\" [nil {\"a\" [1 \"x\\\"y\"]}]]"),
            "{edn}"
        );
        let json = jepsen(&history, false);
        assert!(
            json.starts_with(
                "{\"type\":\"invoke\",\"f\":\"write\",\"value\":[\"k3\",\"w17\"],\"process\":2,\"time\":1500000,\"index\":0,\"node\":\"n0\"}\n"
            ),
            "{json}"
        );
    }

    #[test]
    fn counter_and_set_histories_round_trip_through_both_shapes() {
        let text = crate::jsonl::tests::CRDT;
        let history = History::from_jsonl(text, "h.jsonl").unwrap();
        for edn in [false, true] {
            let exported = jepsen(&history, edn);
            let back = History::from_any(&exported, "x", false).unwrap();
            assert_eq!(jsonl(&back), text, "{exported}");
            // And the export of what was read back is the same export.
            assert_eq!(jepsen(&back, edn), exported);
        }
        let edn = jepsen(&history, true);
        assert!(
            edn.starts_with(
                "{:type :invoke, :f :increment, :value [\"k0\" 3], :process 0, :time 0, :index 0, :node \"n0\"}\n"
            ),
            "{edn}"
        );
        for part in [
            ":f :add, :value [\"k1\" \"e3\"]",
            ":f :remove, :value [\"k1\" \"e3\"]",
            ":type :ok, :f :read, :value [\"k0\" 3]",
            ":value [\"k1\" [\"e3\"]]",
            ":value [\"k1\" []]",
        ] {
            assert!(edn.contains(part), "{part}: {edn}");
        }
        let json = jepsen(&history, false);
        assert!(
            json.contains(
                "{\"type\":\"info\",\"f\":\"increment\",\"value\":[\"k0\",9007199254740993],"
            ),
            "{json}"
        );
    }

    #[test]
    fn hand_written_jepsen_counter_and_set_ops_are_read() {
        // One key per file without tuples: the single register key `k`.
        let text = "{:type :invoke, :f :increment, :value 2, :process 0}\n{:type :ok, :f :increment, :value 2, :process 0}\n{:type :invoke, :f :read, :value nil, :process 1}\n{:type :ok, :f :read, :value 2, :process 1}\n";
        let history = History::from_any(text, "c.edn", false).unwrap();
        assert_eq!(history.events[1].value, Val::Int(2));
        assert_eq!(history.names.key_name(history.events[0].key), SINGLE_KEY);
        let text = "{\"type\":\"invoke\",\"f\":\"add\",\"value\":[\"s\",\"e1\"],\"process\":0}\n{\"type\":\"ok\",\"f\":\"add\",\"value\":[\"s\",\"e1\"],\"process\":0}\n{\"type\":\"invoke\",\"f\":\"remove\",\"value\":[\"s\",\"e1\"],\"process\":0}\n{\"type\":\"info\",\"f\":\"remove\",\"value\":[\"s\",\"e1\"],\"process\":0}\n";
        let history = History::from_any(text, "s.json", false).unwrap();
        assert_eq!(history.names.key_name(history.events[0].key), "s");
        assert_eq!(history.events[3].f, Function::Remove);
        let err = History::from_any(
            "{:type :invoke, :f :increment, :value [\"c\" -1], :process 0}",
            "c.edn",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("$.value[1]: an increment must be a positive integer, not -1"),
            "{err}"
        );
    }

    #[test]
    fn knossos_files_are_vectors_of_op_maps_with_comments() {
        let text = "[{:process 0, :type :invoke, :f :write, :value 0}\n ; a comment\n {:process 0, :type :ok, :f :write, :value 0}\n {:process 1, :type :invoke, :f :read, :value 0}\n {:process 1, :type :ok, :f :read, :value 0}]\n";
        let history = History::from_any(text, "k.edn", false).unwrap();
        assert_eq!(history.events.len(), 4);
        assert_eq!(
            history.events[2].value,
            Val::Null,
            "a read's invoke value is ignored"
        );
        let list = "({:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok, :f :read, :value nil})";
        assert_eq!(
            History::from_any(list, "l.edn", false)
                .unwrap()
                .events
                .len(),
            2
        );
    }

    #[test]
    fn edn_values_become_json_values() {
        let text = r#"{:type :invoke, :f :write, :value {:a #{1} "b" (2.5 \x)}, :process 0}
{:type :ok, :f :write, :value {:a #{1} "b" (2.5 \x)}, :process 0}
{:type :invoke, :f :write, :value :kw, :process 0}
{:type :ok, :f :write, :value #inst "2020-01-01", :process 0}
"#;
        let history = History::from_any(text, "v.edn", false).unwrap();
        let value = |i: usize| match history.events[i].value {
            Val::One(id) => history.values.to_json(id),
            other => panic!("{other:?}"),
        };
        assert_eq!(value(0), serde_json::json!({"a": [1], "b": [2.5, "x"]}));
        assert_eq!(value(2), serde_json::json!(":kw"));
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_reason() {
        let err = |text: &str| {
            History::from_any(text, "h.edn", false)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("{:type :invoke, :f :read, :process 0}\n\n{:type :okay, :f :read, :process 0}"),
            "h.edn: line 3: $.type: unknown type \"okay\": expected invoke, ok, fail or info"
        );
        assert!(err("{:type :invoke, :f :txn, :process 0}").contains(
            "line 1: $.f: unknown f \"txn\": repsim checks read / write / cas registers, \
             counters (increment) and sets (add / remove) only"
        ));
        assert!(err("{:type :invoke, :f :read\n :process 0").contains("line 2: $: unclosed form"));
        assert!(err("{:type :invoke :f}").contains("line 1: $: a map needs an even number"));
        assert!(err("{:type :invoke, :f :read, :process -1}").contains("$.process: process -1"));
        assert!(err("{:type :ok, :f :read, :process 0}").contains(
            "line 1: $: event at index 0: ok for process 0 which has no operation in flight"
        ));
        assert!(
            err("{:type :invoke, :f :cas, :value 3, :process 0}")
                .contains("$.value: a cas value must be [expected, new]")
        );
        let deep = format!(
            "{{:type :invoke, :f :write, :process 0, :value {}}}",
            "[".repeat(500)
        );
        assert!(err(&deep).contains("nest deeper than 128"));
        let json = History::from_any(
            "{\"type\":\"invoke\",\"f\":\"read\",\"process\":0}\n{\"type\":\"ok\",\"f\":\"read\",\"process\":0,\"index\":0}\n",
            "h.json",
            false,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            json,
            "h.json: line 2: $.index: index 0 does not increase (the previous op had 0)"
        );
    }

    #[test]
    fn edn_can_be_forced() {
        // Starts with a comment-free symbol, so detection would say repsim.
        let text = "#_{:skipped 1} {:type :invoke, :f :read, :process 0}";
        assert_eq!(Shape::detect(text), Shape::Repsim);
        assert_eq!(History::from_any(text, "h", true).unwrap().events.len(), 1);
    }
}
