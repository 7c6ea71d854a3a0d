//! The history file: JSON Lines, one client event per line (SPEC §3).
//!
//! Writing is hand-rolled (a million-operation run writes two million lines, and the
//! field order is fixed by the SPEC example). Reading goes through serde and accepts
//! fields it does not know (SPEC lets producers add fields), string or numeric keys,
//! any JSON values, and optional `node`, `index` and `time_ms`.

use std::fmt::Write as _;
use std::io;

use serde::Deserialize;

use crate::HistoryError;
use crate::event::{Event, EventType, Function, Val};
use crate::history::History;
use crate::ids::{ProcessId, ValueId};

/// Appends the decimal digits of `n`: what `write!(out, "{n}")` gives, without the
/// formatting machinery (a history file prints millions of numbers).
pub fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[start..]).expect("ASCII digits"));
}

/// Appends a time in milliseconds as a JSON number, always with a fractional part
/// (`9.0`, `1.25`), so that the shortest round-trip form is used.
pub fn write_time_ms(out: &mut String, time_ms: f64) {
    // Simulated times are whole microseconds: printed from the integer, which gives the
    // same digits as the shortest form (below 2^40 µs, every decimal with at most three
    // fractional digits is the shortest string that parses back to its f64).
    let micros = (time_ms * 1000.0).round();
    if time_ms.is_sign_positive() && micros < (1u64 << 40) as f64 && micros / 1000.0 == time_ms {
        let micros = micros as u64;
        let (whole, fraction) = (micros / 1000, micros % 1000);
        push_decimal(out, whole);
        out.push('.');
        if fraction == 0 {
            out.push('0');
        } else {
            let digits = [fraction / 100, fraction / 10 % 10, fraction % 10];
            let used = if fraction % 10 != 0 {
                3
            } else if fraction % 100 != 0 {
                2
            } else {
                1
            };
            out.extend(digits[..used].iter().map(|&d| char::from(b'0' + d as u8)));
        }
    } else if time_ms.fract() == 0.0 && time_ms.abs() < 1e15 {
        write!(out, "{time_ms:.1}").expect("writing to a String cannot fail");
    } else {
        write!(out, "{time_ms}").expect("writing to a String cannot fail");
    }
}

impl History {
    /// Appends the JSON text of an event's value to `out`.
    pub fn write_value(&self, value: &Val, out: &mut String) {
        match *value {
            Val::Null => out.push_str("null"),
            Val::One(v) => self.values.write_json(v, out),
            Val::Many { .. } => {
                out.push('[');
                for (i, v) in self.values_of(value).iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.values.write_json(*v, out);
                }
                out.push(']');
            }
            Val::Cas(expected, new) => {
                out.push('[');
                self.write_optional(expected, out);
                out.push(',');
                self.write_optional(new, out);
                out.push(']');
            }
            Val::Int(n) => write!(out, "{n}").expect("writing to a String cannot fail"),
        }
    }

    fn write_optional(&self, value: Option<ValueId>, out: &mut String) {
        match value {
            Some(v) => self.values.write_json(v, out),
            None => out.push_str("null"),
        }
    }

    /// Appends the history file line of event `position` (with its newline) to `out`.
    pub fn write_line(&self, position: usize, out: &mut String) {
        let event = &self.events[position];
        out.push_str("{\"index\":");
        push_decimal(out, self.index_of(position as u32));
        out.push_str(",\"time_ms\":");
        write_time_ms(out, event.time_ms);
        out.push_str(",\"process\":");
        push_decimal(out, u64::from(event.process.0));
        out.push_str(",\"type\":\"");
        out.push_str(event.kind.as_str());
        out.push_str("\",\"f\":\"");
        out.push_str(event.f.as_str());
        out.push_str("\",\"key\":");
        write_json_string(out, self.names.key_name(event.key));
        out.push_str(",\"value\":");
        self.write_value(&event.value, out);
        if let Some(node) = event.node {
            out.push_str(",\"node\":");
            write_json_string(out, self.names.node_name(node));
        }
        out.push_str("}\n");
    }

    /// Writes the whole history as JSON Lines.
    pub fn write_jsonl(&self, writer: &mut impl io::Write) -> io::Result<()> {
        let mut line = String::with_capacity(128);
        let mut buffer = Vec::with_capacity(1 << 16);
        for position in 0..self.events.len() {
            line.clear();
            self.write_line(position, &mut line);
            buffer.extend_from_slice(line.as_bytes());
            if buffer.len() >= 1 << 16 {
                writer.write_all(&buffer)?;
                buffer.clear();
            }
        }
        writer.write_all(&buffer)
    }

    /// Parses a history file. `file` names it in error messages, each of which starts
    /// with `file`, then names the line and the JSON path within it and says what is
    /// wrong: `h.jsonl: line 2: $.type: unknown type "okay": ...`.
    ///
    /// Events that do not pair into operations ([`History::operations`]) are refused
    /// here too, at the line of the event that breaks the pairing, so a history this
    /// returns always pairs.
    pub fn from_jsonl(text: &str, file: &str) -> Result<History, HistoryError> {
        let mut history = History::default();
        let mut file_indexes: Vec<u64> = Vec::new();
        let mut indexes_match = true;
        let mut last_index: Option<u64> = None;
        // The line of each event, to name it when the events do not pair.
        let mut lines: Vec<usize> = Vec::new();
        for (line_number, line) in text.lines().enumerate() {
            let line_number = line_number + 1;
            if line.trim().is_empty() {
                continue;
            }
            let error = |path: &str, reason: String| HistoryError::Line {
                file: file.to_owned(),
                line: line_number,
                path: path.to_owned(),
                reason,
            };
            let raw = parse_line(line).map_err(|(path, reason)| error(&path, reason))?;
            let position = history.events.len() as u64;
            let index = raw.index.unwrap_or(position);
            if let Some(last) = last_index
                && index <= last
            {
                return Err(error(
                    "$.index",
                    format!("index {index} does not increase (previous line had {last})"),
                ));
            }
            last_index = Some(index);
            indexes_match &= index == position;
            file_indexes.push(index);

            let kind = match raw.kind.as_str() {
                "invoke" => EventType::Invoke,
                "ok" => EventType::Ok,
                "fail" => EventType::Fail,
                "info" => EventType::Info,
                other => {
                    return Err(error(
                        "$.type",
                        format!("unknown type {other:?}: expected invoke, ok, fail or info"),
                    ));
                }
            };
            let f = match raw.f.as_str() {
                "read" => Function::Read,
                "write" => Function::Write,
                "cas" => Function::Cas,
                "increment" => Function::Increment,
                "add" => Function::Add,
                "remove" => Function::Remove,
                other => {
                    return Err(error(
                        "$.f",
                        format!(
                            "unknown f {other:?}: expected read, write, cas, increment, add or remove"
                        ),
                    ));
                }
            };
            let process = u32::try_from(raw.process).map_err(|_| {
                error(
                    "$.process",
                    format!(
                        "process {} is not a non-negative 32-bit integer",
                        raw.process
                    ),
                )
            })?;
            let key_name = match &raw.key {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                other => {
                    return Err(error(
                        "$.key",
                        format!("key must be a string or number, not {other}"),
                    ));
                }
            };
            let key = history.names.key(&key_name);
            let node = match raw.node.as_deref() {
                None => None,
                Some(name) => Some(history.names.try_node(name).ok_or_else(|| {
                    error(
                        "$.node",
                        format!(
                            "node {name:?} is one too many: a history names at most 65536 \
                             different nodes"
                        ),
                    )
                })?),
            };
            let value = parse_value(&mut history, f, &raw.value)
                .map_err(|reason| error("$.value", reason))?;
            let time_ms = raw.time_ms.unwrap_or(position as f64);
            if !time_ms.is_finite() {
                return Err(error("$.time_ms", "time_ms must be a finite number".into()));
            }
            history.events.push(Event {
                time_ms,
                process: ProcessId(process),
                key,
                node,
                kind,
                f,
                value,
            });
            lines.push(line_number);
        }
        if !indexes_match {
            history.file_indexes = Some(file_indexes);
        }
        if let Err(malformed) = history.pair() {
            let position = malformed.position as usize;
            return Err(HistoryError::Line {
                file: file.to_owned(),
                line: lines[position],
                path: malformed.path.to_owned(),
                reason: format!(
                    "event at index {}: {}",
                    history.index_of(malformed.position),
                    malformed.reason
                ),
            });
        }
        Ok(history)
    }

    /// [`History::from_jsonl`] on the bytes of a file: text that is not UTF-8 is refused
    /// with the line and column of the first bad byte, like any other error.
    pub fn from_jsonl_bytes(bytes: &[u8], file: &str) -> Result<History, HistoryError> {
        let text = utf8(bytes).map_err(|(line, column, reason)| HistoryError::Line {
            file: file.to_owned(),
            line,
            path: "$".to_owned(),
            reason: format!("column {column}: {reason}"),
        })?;
        History::from_jsonl(text, file)
    }
}

/// `bytes` as text, or the 1-based line and column (in bytes) of the first byte that is
/// not UTF-8, and the reason. A leading byte-order mark is refused too: JSON parsers
/// would only say "expected value" at line 1 column 1.
pub fn utf8(bytes: &[u8]) -> Result<&str, (usize, usize, String)> {
    if bytes.starts_with("\u{feff}".as_bytes()) {
        let reason =
            "the file starts with a byte-order mark (U+FEFF); save it as UTF-8 without one";
        return Err((1, 1, reason.to_owned()));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = good.len() - line_start + 1;
        let byte = bytes[e.valid_up_to()];
        (
            line,
            column,
            format!("not UTF-8 text (byte 0x{byte:02X}); save the file as UTF-8"),
        )
    })
}

/// Parses one line into a [`RawEvent`], or says where (a JSON path) and why not.
fn parse_line(line: &str) -> Result<RawEvent, (String, String)> {
    // serde reads a struct from an array of its fields in order too; an event is an
    // object.
    if line.trim_start().starts_with('[') {
        let reason = "an event is a JSON object, not an array".to_owned();
        return Err(("$".to_owned(), reason));
    }
    let mut deserializer = serde_json::Deserializer::from_str(line);
    let raw: RawEvent = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(raw) => raw,
        Err(error) => {
            let mut path = "$".to_owned();
            for segment in error.path() {
                match segment {
                    serde_path_to_error::Segment::Seq { index } => {
                        let _ = write!(path, "[{index}]");
                    }
                    serde_path_to_error::Segment::Map { key } => push_key(&mut path, key),
                    serde_path_to_error::Segment::Enum { .. }
                    | serde_path_to_error::Segment::Unknown => {}
                }
            }
            return Err((path, json_reason(&error.into_inner())));
        }
    };
    match deserializer.end() {
        Ok(()) => Ok(raw),
        Err(error) => Err(("$".to_owned(), json_reason(&error))),
    }
}

/// A serde_json error's message for a one-line document: serde_json ends it with the
/// position, whose line is always 1; syntax errors keep the column, up front.
fn json_reason(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&position).unwrap_or(&full);
    if error.is_data() {
        message.to_owned()
    } else {
        format!("column {}: {message}", error.column())
    }
}

/// Appends the JSON path step for object key `key`: `.key` when it is an identifier,
/// `["key"]` (JSON-escaped) otherwise.
pub(crate) fn push_key(path: &mut String, key: &str) {
    let mut chars = key.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if identifier {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        write_json_string(path, key);
        path.push(']');
    }
}

/// An event's value as SPEC §3 reads it: `null`, one value, siblings (a read's list),
/// `[expected, new]` (a cas) or a positive integer (an increment's amount). Shared with
/// the Jepsen reader, which reads the same values out of its `[key value]` tuples.
pub(crate) fn parse_value(
    history: &mut History,
    f: Function,
    value: &serde_json::Value,
) -> Result<Val, String> {
    use serde_json::Value as J;
    match (f, value) {
        (_, J::Null) => Ok(Val::Null),
        (Function::Cas, J::Array(pair)) if pair.len() == 2 => Ok(Val::Cas(
            history.values.intern(&pair[0]),
            history.values.intern(&pair[1]),
        )),
        (Function::Cas, other) => Err(format!("a cas value must be [expected, new], not {other}")),
        (Function::Increment, J::Number(n)) => match n.as_i64() {
            Some(amount) if amount > 0 => Ok(Val::Int(amount)),
            _ => Err(format!("an increment must be a positive integer, not {n}")),
        },
        (Function::Increment, other) => Err(format!(
            "an increment must be a positive integer, not {other}"
        )),
        (Function::Read, J::Array(items)) => {
            let mut ids = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match history.values.intern(item) {
                    Some(id) => ids.push(id),
                    None => return Err(format!("sibling {i} is null")),
                }
            }
            Ok(history.many(&ids))
        }
        (_, other) => Ok(Val::One(history.values.intern(other).expect("not null"))),
    }
}

/// Appends `text` as a JSON string literal.
pub fn write_json_string(out: &mut String, text: &str) {
    if text
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&serde_json::Value::String(text.to_owned()).to_string());
    }
}

#[derive(Deserialize)]
struct RawEvent {
    index: Option<u64>,
    time_ms: Option<f64>,
    process: i64,
    #[serde(rename = "type")]
    kind: String,
    f: String,
    key: serde_json::Value,
    #[serde(default)]
    value: serde_json::Value,
    node: Option<String>,
}

#[cfg(test)]
pub(crate) mod tests {
    /// The shortest round-trip form, with a fractional part: what [`super::write_time_ms`]
    /// must print for every time.
    fn shortest(time_ms: f64) -> String {
        if time_ms.fract() == 0.0 && time_ms.abs() < 1e15 {
            format!("{time_ms:.1}")
        } else {
            format!("{time_ms}")
        }
    }

    #[test]
    fn decimals_print_as_display_does() {
        let mut out = String::new();
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            out.clear();
            super::push_decimal(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn times_print_in_their_shortest_form() {
        let mut times: Vec<f64> = (0..300_000u64).map(|us| us as f64 / 1000.0).collect();
        // Large whole-microsecond times, from a fixed sequence, up to the fast path's
        // bound and beyond it.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..300_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            times.push((x >> 22) as f64 / 1000.0);
        }
        times.extend([-0.0, -1.5, 0.1 + 0.2, 1e-7, 123.456_789, 2e12, f64::MAX]);
        let mut out = String::new();
        for t in times {
            out.clear();
            super::write_time_ms(&mut out, t);
            assert_eq!(out, shortest(t), "{t:?}");
        }
    }

    use super::*;

    const SPEC_EXAMPLE: &str = r#"{"index":0,"time_ms":1.5,"process":2,"type":"invoke","f":"write","key":"k3","value":"w17","node":"n0"}
{"index":1,"time_ms":4.25,"process":2,"type":"ok","f":"write","key":"k3","value":"w17","node":"n0"}
{"index":2,"time_ms":9.0,"process":1,"type":"invoke","f":"read","key":"k3","value":null,"node":"n2"}
{"index":3,"time_ms":12.0,"process":1,"type":"ok","f":"read","key":"k3","value":"w17","node":"n2"}
"#;

    #[test]
    fn spec_example_round_trips_byte_for_byte() {
        let history = History::from_jsonl(SPEC_EXAMPLE, "h.jsonl").unwrap();
        assert_eq!(history.events.len(), 4);
        let mut out = Vec::new();
        history.write_jsonl(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), SPEC_EXAMPLE);
    }

    #[test]
    fn siblings_cas_and_foreign_values_round_trip() {
        let text = r#"{"index":0,"time_ms":0.0,"process":0,"type":"invoke","f":"cas","key":"k","value":[null,3]}
{"index":1,"time_ms":1.0,"process":0,"type":"ok","f":"cas","key":"k","value":[null,3]}
{"index":2,"time_ms":2.0,"process":1,"type":"invoke","f":"read","key":"k","value":null}
{"index":3,"time_ms":3.0,"process":1,"type":"ok","f":"read","key":"k","value":["w3","x"]}
"#;
        let history = History::from_jsonl(text, "h.jsonl").unwrap();
        let mut out = Vec::new();
        history.write_jsonl(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }

    /// A counter key and a set key: increments carry their amount (here one beyond the
    /// integers an f64 holds exactly), a counter read returns a number, a set read always
    /// a list, even of one element or none.
    pub(crate) const CRDT: &str = r#"{"index":0,"time_ms":0.0,"process":0,"type":"invoke","f":"increment","key":"k0","value":3,"node":"n0"}
{"index":1,"time_ms":1.5,"process":0,"type":"ok","f":"increment","key":"k0","value":3,"node":"n0"}
{"index":2,"time_ms":2.0,"process":1,"type":"invoke","f":"read","key":"k0","value":null,"node":"n1"}
{"index":3,"time_ms":3.0,"process":1,"type":"ok","f":"read","key":"k0","value":3,"node":"n1"}
{"index":4,"time_ms":4.0,"process":0,"type":"invoke","f":"increment","key":"k0","value":9007199254740993}
{"index":5,"time_ms":5.0,"process":0,"type":"info","f":"increment","key":"k0","value":9007199254740993}
{"index":6,"time_ms":6.0,"process":2,"type":"invoke","f":"add","key":"k1","value":"e3","node":"n2"}
{"index":7,"time_ms":7.0,"process":2,"type":"ok","f":"add","key":"k1","value":"e3","node":"n2"}
{"index":8,"time_ms":8.0,"process":2,"type":"invoke","f":"remove","key":"k1","value":"e3"}
{"index":9,"time_ms":9.0,"process":2,"type":"fail","f":"remove","key":"k1","value":"e3"}
{"index":10,"time_ms":10.0,"process":1,"type":"invoke","f":"read","key":"k1","value":null}
{"index":11,"time_ms":11.0,"process":1,"type":"ok","f":"read","key":"k1","value":["e3"]}
{"index":12,"time_ms":12.0,"process":1,"type":"invoke","f":"read","key":"k1","value":null}
{"index":13,"time_ms":13.0,"process":1,"type":"ok","f":"read","key":"k1","value":[]}
{"index":14,"time_ms":14.0,"process":1,"type":"invoke","f":"read","key":"k1","value":null}
{"index":15,"time_ms":15.0,"process":1,"type":"ok","f":"read","key":"k1","value":["e1","e3"]}
{"index":17,"time_ms":16.0,"process":3,"type":"invoke","f":"remove","key":"k1","value":"e1"}
"#;

    #[test]
    fn counter_and_set_operations_round_trip_byte_for_byte() {
        let history = History::from_jsonl(CRDT, "h.jsonl").unwrap();
        let mut out = Vec::new();
        history.write_jsonl(&mut out).unwrap();
        let written = String::from_utf8(out).unwrap();
        assert_eq!(written, CRDT);
        // Writing what was read back gives the same bytes again.
        let again = History::from_jsonl(&written, "h.jsonl").unwrap();
        assert_eq!(again, history);
        // In memory: amounts are integers, a counter read an interned JSON number, set
        // reads lists, elements single values.
        let e = &history.events;
        assert_eq!(
            (e[0].f, e[0].value, e[4].value),
            (
                Function::Increment,
                Val::Int(3),
                Val::Int(9_007_199_254_740_993)
            )
        );
        let Val::One(count) = e[3].value else {
            panic!("{:?}", e[3].value)
        };
        assert_eq!(history.values.to_json(count), serde_json::json!(3));
        assert_eq!((e[6].f, e[8].f), (Function::Add, Function::Remove));
        let Val::One(element) = e[6].value else {
            panic!("{:?}", e[6].value)
        };
        assert_eq!(history.values.to_json(element), serde_json::json!("e3"));
        assert_eq!(e[11].value, Val::Many { start: 0, len: 1 });
        assert!(matches!(e[13].value, Val::Many { len: 0, .. }));
        let ops = history.operations().unwrap();
        assert_eq!(ops.len(), 9);
        assert_eq!(ops[8].outcome, crate::Outcome::Pending);
    }

    #[test]
    fn bad_counter_and_set_values_are_refused() {
        let line = |f: &str, value: &str| {
            format!(
                "{{\"process\":0,\"type\":\"invoke\",\"f\":\"{f}\",\"key\":\"k\",\"value\":{value}}}\n"
            )
        };
        for value in ["0", "-2", "2.5", "\"3\"", "[1]", "18446744073709551615"] {
            assert!(
                refusal(&line("increment", value)).starts_with(
                    "h.jsonl: line 1: $.value: an increment must be a positive integer"
                ),
                "{value}: {}",
                refusal(&line("increment", value))
            );
        }
        assert_eq!(
            refusal(&line("increment", "null")),
            "h.jsonl: line 1: $.value: event at index 0: an increment must carry a positive integer"
        );
        assert_eq!(
            refusal(&line("add", "null")),
            "h.jsonl: line 1: $.value: event at index 0: an add must carry one element"
        );
        assert!(refusal(&line("decrement", "1")).contains(
            "$.f: unknown f \"decrement\": expected read, write, cas, increment, add or remove"
        ));
    }

    #[test]
    fn errors_name_file_line_and_path() {
        let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}\n{\"process\":0,\"type\":\"okay\",\"f\":\"read\",\"key\":\"k\"}\n";
        let err = History::from_jsonl(text, "h.jsonl")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "h.jsonl: line 2: $.type: unknown type \"okay\": expected invoke, ok, fail or info"
        );
        let err = History::from_jsonl("{not json", "h.jsonl")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("h.jsonl: line 1: $: "), "{err}");
    }

    #[test]
    fn extra_fields_and_missing_optionals_are_accepted() {
        let text = "{\"process\":5,\"type\":\"invoke\",\"f\":\"write\",\"key\":7,\"value\":1,\"error\":\"x\"}\n";
        let history = History::from_jsonl(text, "h.jsonl").unwrap();
        assert_eq!(history.names.key_name(history.events[0].key), "7");
        assert_eq!(history.events[0].node, None);
        assert_eq!(history.events[0].time_ms, 0.0);
    }

    /// The error message of reading `text`.
    fn refusal(text: &str) -> String {
        History::from_jsonl(text, "h.jsonl")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn events_that_do_not_pair_are_refused_at_their_line() {
        // The second invoke (line 3, after a blank line) comes while the first is open.
        let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}\n\n{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}\n";
        assert_eq!(
            refusal(text),
            "h.jsonl: line 3: $.process: event at index 1: process 0 invoked while its \
             operation invoked at index 0 is still in flight"
        );
        let text = "{\"index\":7,\"process\":4,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k\"}\n";
        assert_eq!(
            refusal(text),
            "h.jsonl: line 1: $.type: event at index 7: ok for process 4 which has no \
             operation in flight"
        );
        let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}\n{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":\"j\"}\n";
        assert!(refusal(text).starts_with("h.jsonl: line 2: $.key: "));
        let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k\"}\n";
        assert!(refusal(text).starts_with("h.jsonl: line 1: $.value: "));
    }

    #[test]
    fn type_errors_name_the_field() {
        let text = "{\"process\":\"p1\",\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}\n";
        assert_eq!(
            refusal(text),
            "h.jsonl: line 1: $.process: invalid type: string \"p1\", expected i64"
        );
        let text =
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\",\"index\":1e999}\n";
        assert_eq!(
            refusal(text),
            "h.jsonl: line 1: $.index: column 63: number out of range"
        );
        let text =
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\",\"f\":\"read\"}\n";
        assert_eq!(refusal(text), "h.jsonl: line 1: $: duplicate field `f`");
        assert_eq!(
            refusal("[null, 0.0, 1, \"invoke\", \"read\", \"k\", null, null]\n"),
            "h.jsonl: line 1: $: an event is a JSON object, not an array"
        );
        assert_eq!(
            refusal("{} {}\n"),
            "h.jsonl: line 1: $: missing field `process`"
        );
        let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"} x\n";
        assert_eq!(
            refusal(text),
            "h.jsonl: line 1: $: column 52: trailing characters"
        );
    }

    #[test]
    fn too_many_node_names_are_refused_not_a_panic() {
        let mut text = String::new();
        for n in 0..=65_536u32 {
            text.push_str(&format!(
                "{{\"process\":{n},\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\",\"node\":\"x{n}\"}}\n"
            ));
        }
        assert_eq!(
            refusal(&text),
            "h.jsonl: line 65537: $.node: node \"x65536\" is one too many: a history names at \
             most 65536 different nodes"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_name_their_line_and_column() {
        let text = b"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}\n{\"key\":\"\xc3\x28\"}\n";
        let err = History::from_jsonl_bytes(text, "h.jsonl").unwrap_err();
        assert_eq!(
            err.to_string(),
            "h.jsonl: line 2: $: column 9: not UTF-8 text (byte 0xC3); save the file as UTF-8"
        );
        assert!(History::from_jsonl_bytes(SPEC_EXAMPLE.as_bytes(), "h.jsonl").is_ok());
    }

    #[test]
    fn extreme_numbers_are_read_or_refused() {
        // The largest index and process, and a huge time, are fine.
        let text = "{\"index\":18446744073709551614,\"time_ms\":1e300,\"process\":4294967295,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}\n{\"index\":18446744073709551615,\"time_ms\":-1e300,\"process\":4294967295,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k\"}\n";
        let history = History::from_jsonl(text, "h.jsonl").unwrap();
        assert_eq!(history.index_of(1), u64::MAX);
        let text = "{\"process\":4294967296,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}\n";
        assert_eq!(
            refusal(text),
            "h.jsonl: line 1: $.process: process 4294967296 is not a non-negative 32-bit integer"
        );
        let text = "{\"index\":18446744073709551616,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}\n";
        assert!(
            refusal(text).starts_with("h.jsonl: line 1: $.index: "),
            "{}",
            refusal(text)
        );
    }

    #[test]
    fn non_increasing_index_is_refused() {
        let text = "{\"index\":3,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}\n{\"index\":3,\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k\"}\n";
        let err = History::from_jsonl(text, "h.jsonl")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2: $.index"), "{err}");
    }
}
