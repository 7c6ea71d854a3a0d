//! The final state (SPEC §3, `final.json`): each node's key → value map after the run
//! went quiet. A node lists every key it is a replica of (empty = `null`); a key absent
//! from a node's map is not replicated there.

use std::collections::BTreeMap;

use crate::HistoryError;
use crate::history::History;
use crate::ids::{KeyId, NodeId, ValueId};
use crate::jsonl::write_json_string;

/// Node → key → values (empty: `null`; one: a value; several: siblings or a merge).
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
    /// history's names and values.
    pub fn to_json(&self, history: &History) -> String {
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
                    [] => out.push_str("null"),
                    [one] => history.values.write_json(*one, &mut out),
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
    /// `final_state` field). `file` names it in error messages.
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
            _ => (root, "$"),
        };
        let serde_json::Value::Object(nodes) = root else {
            return Err(error(
                prefix.into(),
                "expected an object mapping node to {key: value}".into(),
            ));
        };
        let mut state = FinalState::default();
        for (node_name, keys) in &nodes {
            let serde_json::Value::Object(keys) = keys else {
                return Err(error(
                    format!("{prefix}.{node_name}"),
                    "expected an object mapping key to value".into(),
                ));
            };
            let node = history.names.node(node_name);
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
                                    return Err(error(
                                        format!("{prefix}.{node_name}.{key_name}[{i}]"),
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
    }
}
