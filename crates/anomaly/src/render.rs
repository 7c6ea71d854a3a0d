//! Names of keys, nodes and values for flag messages: generated values print as `w17`,
//! values from elsewhere as their JSON text, sibling lists as `[w3, w9]`.

use repsim_history::{History, KeyId, NodeId, ValueId};

/// The name of a key; `#<id>` for an id the history's names do not know.
pub(crate) fn key_name(history: &History, key: KeyId) -> String {
    if key.index() < history.names.key_count() {
        history.names.key_name(key).to_owned()
    } else {
        format!("#{}", key.0)
    }
}

/// The name of a node; `n<id>` for an id the history's names do not know.
pub(crate) fn node_name(history: &History, node: NodeId) -> String {
    if node.index() < history.names.node_count() {
        history.names.node_name(node).to_owned()
    } else {
        node.to_string()
    }
}

/// A value: a JSON string prints without quotes, anything else as JSON text.
pub(crate) fn value_name(history: &History, value: ValueId) -> String {
    if let Some(n) = value.generated_number() {
        return format!("w{n}");
    }
    match history.values.to_json(value) {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

/// What a read returned: `null`, one value, or `[a, b]`.
pub(crate) fn values_name(history: &History, values: &[ValueId]) -> String {
    match values {
        [] => "null".to_owned(),
        [one] => value_name(history, *one),
        many => {
            let names: Vec<String> = many.iter().map(|v| value_name(history, *v)).collect();
            format!("[{}]", names.join(", "))
        }
    }
}
