//! The 222 outside histories with known linearizability verdicts (Porcupine's Jepsen etcd
//! logs and Knossos' cas-register histories, converted to the SPEC §3 format; see
//! `data/linearizability/README.md`). Each file is read the way `repsim check` reads it
//! (`History::from_jsonl`, then `check`) and must give exactly its manifest verdict: a
//! `linearizability` count of 0 when `"linearizable": true`, 1 when false, and never an
//! undecided key.

use std::path::Path;

use repsim_anomaly::{Input, Kind, Options, check};
use repsim_history::History;

#[test]
fn every_outside_history_gets_its_known_verdict() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/linearizability");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("manifest.json")).expect("the manifest is there"),
    )
    .expect("the manifest is JSON");
    let entries = manifest.as_array().expect("the manifest is a list");
    assert_eq!(entries.len(), 222);
    let mut wrong = Vec::new();
    let (mut linearizable, mut not) = (0, 0);
    for entry in entries {
        let file = entry["file"].as_str().expect("a file name");
        let expected = entry["linearizable"].as_bool().expect("a verdict");
        let text = std::fs::read_to_string(root.join(file)).expect("the history is there");
        let history = History::from_jsonl(&text, file).expect("the history parses");
        let input = Input {
            history: &history,
            final_state: None,
            roles: None,
        };
        let findings = check(&input, &Options::default()).expect("the history is well-formed");
        let count = findings.count(Kind::Linearizability);
        let want = u64::from(!expected);
        if count != want || !findings.unknown_keys.is_empty() {
            wrong.push(format!(
                "{file}: linearizability {count} (want {want}), unknown {:?}",
                findings.unknown_keys
            ));
        }
        if let Some(flag) = findings
            .examples
            .get(&Kind::Linearizability)
            .and_then(|f| f.first())
        {
            // The witness names operations of this file, the culprit first.
            assert!(
                flag.message.starts_with("key k is not linearizable"),
                "{file}: {}",
                flag.message
            );
            assert!(
                flag.involved
                    .iter()
                    .all(|i| *i < history.events.len() as u64),
                "{file}"
            );
        }
        if expected {
            linearizable += 1;
        } else {
            not += 1;
        }
    }
    assert_eq!((linearizable, not), (136, 86));
    assert!(
        wrong.is_empty(),
        "{} wrong verdicts:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
