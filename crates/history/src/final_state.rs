//! The final state (SPEC §3, `final.json`): each node's key → value map after the run
//! went quiet. A node lists every key it is a replica of (empty = `null`); a key absent
//! from a node's map is not replicated there.

use std::collections::BTreeMap;

use crate::HistoryError;
use crate::event::Function;
use crate::history::History;
use crate::ids::{KeyId, NodeId, ValueId};
use crate::jsonl::{push_key, utf8, write_json_string};

/// Node → key → values (empty: `null`; one: a value; several: siblings or a merge). A
/// counter key holds one value, its total as an interned JSON integer; a set key holds
/// its elements (empty for the empty set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinalState {
    /// Per node, in node order.
    pub nodes: BTreeMap<NodeId, BTreeMap<KeyId, Vec<ValueId>>>,
}

impl FinalState {
    /// Records that `node` holds `values` for `key` (empty for `null`).
    pub fn set(&mut self, node: NodeId, key: KeyId, values: Vec<ValueId>) {
        self.nodes.entry(node).or_default().insert(key, values);
    }

    /// Writes the final state as a JSON object, nodes and keys in id order, using the
    /// history's names and values. A set key's value (a key the history adds to or
    /// removes from) is always written as its element list, `[]` and `["e3"]` included;
    /// any other key's empty value is `null` and a single value is written bare. (Reading
    /// gives the same values either way.)
    pub fn to_json(&self, history: &History) -> String {
        let mut set_keys = std::collections::BTreeSet::new();
        for event in &history.events {
            if matches!(event.f, Function::Add | Function::Remove) {
                set_keys.insert(event.key);
            }
        }
        let mut out = String::from("{");
        for (i, (node, keys)) in self.nodes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("\n  ");
            write_json_string(&mut out, history.names.node_name(*node));
            out.push_str(": {");
            for (j, (key, values)) in keys.iter().enumerate() {
                if j > 0 {
                    out.push_str(", ");
                }
                write_json_string(&mut out, history.names.key_name(*key));
                out.push_str(": ");
                match values.as_slice() {
                    [] if set_keys.contains(key) => out.push_str("[]"),
                    [] => out.push_str("null"),
                    [one] if !set_keys.contains(key) => history.values.write_json(*one, &mut out),
                    many => {
                        out.push('[');
                        for (k, v) in many.iter().enumerate() {
                            if k > 0 {
                                out.push(',');
                            }
                            history.values.write_json(*v, &mut out);
                        }
                        out.push(']');
                    }
                }
            }
            out.push('}');
        }
        out.push_str(if self.nodes.is_empty() {
            "}\n"
        } else {
            "\n}\n"
        });
        out
    }

    /// Parses `final.json`, interning node names, keys and values into `history` so the
    /// ids agree with the history's. Also accepts a whole `report.json` (its
    /// `final_state` field). `file` names it in error messages, which then give the JSON
    /// path (or, for syntax errors, the line and column) and the reason.
    pub fn from_json(
        text: &str,
        file: &str,
        history: &mut History,
    ) -> Result<FinalState, HistoryError> {
        let error = |path: String, reason: String| HistoryError::Json {
            file: file.to_owned(),
            path,
            reason,
        };
        let root: serde_json::Value =
            serde_json::from_str(text).map_err(|e| error("$".into(), e.to_string()))?;
        let (root, prefix) = match root.get("final_state") {
            Some(inner) if root.get("scenario").is_some() => (inner.clone(), "$.final_state"),
            _ => {
                // A JSON object keeps the last of repeated keys; a node or key given
                // twice is refused instead. (A report.json is written by repsim.)
                if let Some((path, key)) = repeated_key(text) {
                    return Err(error(path, format!("{key:?} is given twice")));
                }
                (root, "$")
            }
        };
        let serde_json::Value::Object(nodes) = root else {
            return Err(error(
                prefix.into(),
                "expected an object mapping node to {key: value}".into(),
            ));
        };
        let mut state = FinalState::default();
        for (node_name, keys) in &nodes {
            let mut node_path = prefix.to_owned();
            push_key(&mut node_path, node_name);
            let serde_json::Value::Object(keys) = keys else {
                return Err(error(
                    node_path,
                    "expected an object mapping key to value".into(),
                ));
            };
            let Some(node) = history.names.try_node(node_name) else {
                return Err(error(
                    node_path,
                    "one node too many: the history and the final state name at most 65536 \
                     different nodes"
                        .into(),
                ));
            };
            let entry = state.nodes.entry(node).or_default();
            for (key_name, value) in keys {
                let key = history.names.key(key_name);
                let values = match value {
                    serde_json::Value::Array(items) => {
                        let mut ids = Vec::with_capacity(items.len());
                        for (i, item) in items.iter().enumerate() {
                            match history.values.intern(item) {
                                Some(id) => ids.push(id),
                                None => {
                                    let mut path = node_path.clone();
                                    push_key(&mut path, key_name);
                                    return Err(error(
                                        format!("{path}[{i}]"),
                                        "a sibling cannot be null".into(),
                                    ));
                                }
                            }
                        }
                        ids
                    }
                    other => history.values.intern(other).into_iter().collect(),
                };
                entry.insert(key, values);
            }
        }
        Ok(state)
    }

    /// [`FinalState::from_json`] on the bytes of a file: text that is not UTF-8 is
    /// refused with the line and column of the first bad byte.
    pub fn from_json_bytes(
        bytes: &[u8],
        file: &str,
        history: &mut History,
    ) -> Result<FinalState, HistoryError> {
        let text = utf8(bytes).map_err(|(line, column, reason)| HistoryError::Json {
            file: file.to_owned(),
            path: "$".to_owned(),
            reason: format!("line {line} column {column}: {reason}"),
        })?;
        FinalState::from_json(text, file, history)
    }
}

/// The first node or key (object keys at the top two levels of `text`, which is valid
/// JSON) given twice: the path of its object and the key.
fn repeated_key(text: &str) -> Option<(String, String)> {
    let mut found = None;
    let seed = Repeats {
        depth: 0,
        path: "$".to_owned(),
        found: &mut found,
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    // An error here is the one `Repeats` raised on finding a repeat (the text is valid).
    let _ = serde::de::DeserializeSeed::deserialize(seed, &mut deserializer);
    found
}

/// Walks the top two levels of objects, stopping at the first repeated key.
struct Repeats<'a> {
    depth: u8,
    path: String,
    found: &'a mut Option<(String, String)>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Repeats<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.depth >= 2 {
            return <serde::de::IgnoredAny as serde::Deserialize>::deserialize(deserializer)
                .map(|_| ());
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Repeats<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let mut path = self.path.clone();
            if !seen.insert(key.clone()) {
                *self.found = Some((path, key));
                return Err(serde::de::Error::custom("repeated key"));
            }
            push_key(&mut path, &key);
            map.next_value_seed(Repeats {
                depth: self.depth + 1,
                path,
                found: self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Names;

    #[test]
    fn round_trips_with_nodes_in_id_order() {
        let mut history = History::with_names(Names::simulated(2, 11));
        let mut state = FinalState::default();
        state.set(NodeId(10), KeyId(0), vec![ValueId::generated(3)]);
        state.set(NodeId(2), KeyId(0), vec![]);
        state.set(
            NodeId(2),
            KeyId(1),
            vec![ValueId::generated(1), ValueId::generated(2)],
        );
        let text = state.to_json(&history);
        assert_eq!(
            text,
            "{\n  \"n2\": {\"k0\": null, \"k1\": [\"w1\",\"w2\"]},\n  \"n10\": {\"k0\": \"w3\"}\n}\n"
        );
        let back = FinalState::from_json(&text, "final.json", &mut history).unwrap();
        assert_eq!(back, state);
    }

    #[test]
    fn counters_are_numbers_and_sets_always_lists() {
        let mut history = History::from_jsonl(crate::jsonl::tests::CRDT, "h.jsonl").unwrap();
        let text = "{\n  \"n0\": {\"k0\": 3, \"k1\": [\"e3\"]},\n  \"n1\": {\"k0\": 9007199254740996, \"k1\": []},\n  \"n2\": {\"k0\": null, \"k1\": [\"e1\",\"e3\"]}\n}\n";
        let state = FinalState::from_json(text, "final.json", &mut history).unwrap();
        assert_eq!(state.to_json(&history), text);
        let n0 = &state.nodes[&NodeId(0)];
        assert_eq!(
            history.values.to_json(n0[&KeyId(0)][0]),
            serde_json::json!(3)
        );
        // A bare element or null reads as the same list, and is written as a list.
        let loose = "{\"n0\": {\"k0\": 3, \"k1\": \"e3\"}, \"n1\": {\"k0\": 9007199254740996, \"k1\": null}, \"n2\": {\"k0\": null, \"k1\": [\"e1\", \"e3\"]}}";
        let again = FinalState::from_json(loose, "final.json", &mut history).unwrap();
        assert_eq!(again, state);
    }

    #[test]
    fn bad_shapes_name_the_path() {
        let mut history = History::default();
        let err = FinalState::from_json("{\"n0\": 3}", "f.json", &mut history).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.json: $.n0: expected an object mapping key to value"
        );
        let err =
            FinalState::from_json("{\"n0\": {\"k\": [null]}}", "f.json", &mut history).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.json: $.n0.k[0]: a sibling cannot be null"
        );
        let err = FinalState::from_json("{\"n 0\": {\"k.1\": [null]}}", "f.json", &mut history)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.json: $[\"n 0\"][\"k.1\"][0]: a sibling cannot be null"
        );
    }

    #[test]
    fn repeated_nodes_and_keys_are_refused() {
        let mut history = History::default();
        let err = FinalState::from_json(
            "{\"n0\": {\"k\": 1}, \"n1\": {}, \"n0\": {}}",
            "f.json",
            &mut history,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "f.json: $: \"n0\" is given twice");
        let err = FinalState::from_json("{\"n0\": {\"k\": 1, \"k\": 2}}", "f.json", &mut history)
            .unwrap_err();
        assert_eq!(err.to_string(), "f.json: $.n0: \"k\" is given twice");
        // Repeats inside a value are the value's business.
        assert!(
            FinalState::from_json(
                "{\"n0\": {\"k\": {\"a\": 1, \"a\": 2}}}",
                "f.json",
                &mut history
            )
            .is_ok()
        );
    }

    #[test]
    fn too_many_nodes_are_refused_not_a_panic() {
        let mut history = History::default();
        let mut text = String::from("{");
        for n in 0..=65_536 {
            text.push_str(&format!("\"x{n}\": {{}},"));
        }
        text.push_str("\"last\": {}}");
        let err = FinalState::from_json(&text, "f.json", &mut history).unwrap_err();
        assert!(err.to_string().contains("at most 65536"), "{err}");
    }

    #[test]
    fn non_utf8_bytes_name_their_line_and_column() {
        let mut history = History::default();
        let err =
            FinalState::from_json_bytes(b"{\n  \"n0\": {\"\xff\": 1}}", "f.json", &mut history)
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.json: $: line 2 column 11: not UTF-8 text (byte 0xFF); save the file as UTF-8"
        );
    }
}
