//! Identities that appear in histories: processes, nodes, keys and written values.
//!
//! They are small integer newtypes so that a million-operation history stays compact;
//! their names (`n0`, `k3`, `w17`, or whatever a history from elsewhere used) live in
//! [`Names`] and [`ValueTable`].

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;

/// A client process (SPEC §3 `process`). Each has at most one operation in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId(pub u32);

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A replica, `n0`..`n{N-1}` in simulated runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u16);

impl NodeId {
    /// The node's position, for indexing per-node tables.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A key of the replicated key-value store, `k0`..`k{K-1}` in simulated runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub u32);

impl KeyId {
    /// The key's position, for indexing per-key tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A written value. Every write writes a value never written before, so a value names
/// its write. Ids below [`ValueId::EXTRA_BASE`] are the generated values `w1`, `w2`, ...;
/// ids from `EXTRA_BASE` up index the [`ValueTable`]'s interned values (values of
/// histories produced elsewhere, or values a protocol derived, such as a statement
/// re-executed on a follower).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValueId(NonZeroU32);

impl ValueId {
    /// The first id that names an interned value rather than a generated `w<n>`.
    pub const EXTRA_BASE: u32 = 1 << 31;

    /// The generated value `w<n>`; `n` must be in `1..EXTRA_BASE`.
    pub fn generated(n: u32) -> ValueId {
        assert!(
            (1..Self::EXTRA_BASE).contains(&n),
            "generated value number {n} out of range"
        );
        ValueId(NonZeroU32::new(n).expect("checked above"))
    }

    /// The raw id (generated number, or `EXTRA_BASE + table index`).
    pub fn get(self) -> u32 {
        self.0.get()
    }

    /// Rebuilds an id from [`ValueId::get`]; `None` for 0.
    pub fn from_raw(raw: u32) -> Option<ValueId> {
        NonZeroU32::new(raw).map(ValueId)
    }

    /// The `n` of `w<n>`, or `None` for an interned value.
    pub fn generated_number(self) -> Option<u32> {
        (self.get() < Self::EXTRA_BASE).then_some(self.get())
    }
}

/// Names of keys and nodes, interned in order of first appearance (or pre-filled by the
/// simulator with `k0..`, `n0..`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Names {
    keys: Vec<String>,
    key_ids: BTreeMap<String, KeyId>,
    nodes: Vec<String>,
    node_ids: BTreeMap<String, NodeId>,
}

impl Names {
    /// Names for a simulated run: keys `k0..k{keys-1}` and nodes `n0..n{nodes-1}`.
    pub fn simulated(keys: u32, nodes: u16) -> Names {
        let mut names = Names::default();
        for k in 0..keys {
            names.key(&format!("k{k}"));
        }
        for n in 0..nodes {
            names.node(&NodeId(n).to_string());
        }
        names
    }

    /// The id of key `name`, interning it if new.
    pub fn key(&mut self, name: &str) -> KeyId {
        if let Some(&id) = self.key_ids.get(name) {
            return id;
        }
        let id = KeyId(u32::try_from(self.keys.len()).expect("fewer than 2^32 keys"));
        self.keys.push(name.to_owned());
        self.key_ids.insert(name.to_owned(), id);
        id
    }

    /// The id of key `name` if it is known.
    pub fn find_key(&self, name: &str) -> Option<KeyId> {
        self.key_ids.get(name).copied()
    }

    /// The id of node `name`, interning it if new.
    ///
    /// Panics past 65,536 distinct nodes; input from files goes through
    /// [`Names::try_node`] instead.
    pub fn node(&mut self, name: &str) -> NodeId {
        self.try_node(name).expect("fewer than 65536 nodes")
    }

    /// The id of node `name`, interning it if new; `None` when it is new and all 65,536
    /// node ids are taken (a file from elsewhere can name that many; see [`Names::node`]).
    pub fn try_node(&mut self, name: &str) -> Option<NodeId> {
        if let Some(&id) = self.node_ids.get(name) {
            return Some(id);
        }
        let id = NodeId(u16::try_from(self.nodes.len()).ok()?);
        self.nodes.push(name.to_owned());
        self.node_ids.insert(name.to_owned(), id);
        Some(id)
    }

    /// The id of node `name` if it is known.
    pub fn find_node(&self, name: &str) -> Option<NodeId> {
        self.node_ids.get(name).copied()
    }

    /// The name of a key.
    pub fn key_name(&self, key: KeyId) -> &str {
        &self.keys[key.index()]
    }

    /// The name of a node.
    pub fn node_name(&self, node: NodeId) -> &str {
        &self.nodes[node.index()]
    }

    /// How many keys are known.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// How many nodes are known.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// The values of a history: generated `w<n>` values need no storage; anything else is
/// interned by its canonical JSON text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ValueTable {
    extra: Vec<serde_json::Value>,
    extra_ids: BTreeMap<String, ValueId>,
}

impl ValueTable {
    /// The id of a JSON value: `"w<n>"` strings map to generated ids, anything else is
    /// interned. `null` has no id (it is "no value").
    pub fn intern(&mut self, value: &serde_json::Value) -> Option<ValueId> {
        if value.is_null() {
            return None;
        }
        if let Some(n) = value.as_str().and_then(parse_generated) {
            return Some(ValueId::generated(n));
        }
        let text = value.to_string();
        if let Some(&id) = self.extra_ids.get(&text) {
            return Some(id);
        }
        let raw = ValueId::EXTRA_BASE
            .checked_add(u32::try_from(self.extra.len()).expect("fewer than 2^31 values"))
            .expect("fewer than 2^31 interned values");
        let id = ValueId::from_raw(raw).expect("EXTRA_BASE is not zero");
        self.extra.push(value.clone());
        self.extra_ids.insert(text, id);
        id.into()
    }

    /// The JSON form of a value.
    pub fn to_json(&self, id: ValueId) -> serde_json::Value {
        match id.generated_number() {
            Some(n) => serde_json::Value::String(format!("w{n}")),
            None => self.extra[(id.get() - ValueId::EXTRA_BASE) as usize].clone(),
        }
    }

    /// Appends the JSON text of a value to `out`.
    pub fn write_json(&self, id: ValueId, out: &mut String) {
        match id.generated_number() {
            Some(n) => {
                out.push_str("\"w");
                crate::jsonl::push_decimal(out, u64::from(n));
                out.push('"');
            }
            None => {
                out.push_str(&self.extra[(id.get() - ValueId::EXTRA_BASE) as usize].to_string())
            }
        }
    }
}

/// `"w17"` → 17; anything else (including `"w0"`, `"w017"` and out-of-range numbers) is
/// not a generated value and gets interned instead, so the text survives a round trip.
fn parse_generated(text: &str) -> Option<u32> {
    let digits = text.strip_prefix('w')?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    (n < ValueId::EXTRA_BASE).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn generated_values_round_trip_without_storage() {
        let mut table = ValueTable::default();
        let id = table.intern(&json!("w17")).unwrap();
        assert_eq!(id.generated_number(), Some(17));
        assert_eq!(table.to_json(id), json!("w17"));
        assert!(table.extra.is_empty());
    }

    #[test]
    fn other_values_are_interned_once() {
        let mut table = ValueTable::default();
        let a = table.intern(&json!(3)).unwrap();
        let b = table.intern(&json!("w0")).unwrap();
        let c = table.intern(&json!(3)).unwrap();
        assert_eq!(a, c);
        assert_ne!(a, b);
        assert_eq!(table.to_json(a), json!(3));
        assert_eq!(table.to_json(b), json!("w0"));
        assert_eq!(table.intern(&json!(null)), None);
    }

    #[test]
    fn node_ids_run_out_after_65536_names() {
        let mut names = Names::default();
        for n in 0..=u32::from(u16::MAX) {
            assert!(names.try_node(&format!("x{n}")).is_some());
        }
        assert_eq!(names.try_node("one more"), None);
        // Known names are still found.
        assert_eq!(names.try_node("x7"), Some(NodeId(7)));
        assert_eq!(names.node_count(), 65_536);
    }

    #[test]
    fn names_intern_in_order() {
        let mut names = Names::simulated(2, 3);
        assert_eq!(names.key("k1"), KeyId(1));
        assert_eq!(names.key("other"), KeyId(2));
        assert_eq!(names.node_name(NodeId(2)), "n2");
        assert_eq!(names.find_node("n9"), None);
    }
}
