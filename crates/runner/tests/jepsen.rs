//! Jepsen interop on simulated histories: a history exported in Jepsen's shape (JSON lines
//! and EDN) and read back the way `repsim check` reads files gives exactly the findings of
//! checking the original `history.jsonl` (counts, examples with their messages, skips,
//! undecided keys), with and without the final state. (Both are compared as files: a
//! file's node and key ids are numbered in order of appearance, which orders
//! `divergence`'s output, while the simulator numbers them `n0..`, `k0..`.)

use std::path::Path;

use repsim_anomaly::{Findings, Input, Options};
use repsim_history::{FinalState, History};
use repsim_runner::{cli, run, scenario};

fn findings(history: &History, state: Option<&FinalState>) -> Findings {
    let input = Input {
        history,
        final_state: state,
        roles: None,
    };
    repsim_anomaly::check(&input, &Options { max_examples: 50 }).expect("a well-formed history")
}

#[test]
fn simulated_histories_round_trip_through_jepsen_shapes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for file in [
        "scenarios/families/single-leader.json",
        "scenarios/families/multi-leader.json",
        "scenarios/families/leaderless.json",
        "scenarios/single-node/nemesis.json",
        "scenarios/multi-leader/siblings-keep-every-write.json",
        "scenarios/single-leader/statement-nondeterminism-diverges.json",
    ] {
        let scenario = scenario::load(&root.join(file)).expect("a valid scenario");
        let result = run::run(&scenario, scenario.seed, None).expect("the run completes");
        let simulated = &result.output.history;
        let final_json = result.output.final_state.to_json(simulated);
        let mut jsonl = Vec::new();
        simulated
            .write_jsonl(&mut jsonl)
            .expect("written to memory");
        let mut original = cli::read_history(&jsonl, "history.jsonl", false).expect("it reads");
        let history = &original.clone();
        let state = FinalState::from_json(&final_json, "final.json", &mut original)
            .expect("the final state reads");
        let original_bare = findings(history, None);
        let original = findings(&original, Some(&state));
        for edn in [false, true] {
            let mut bytes = Vec::new();
            history
                .write_jepsen(&mut bytes, edn)
                .expect("written to memory");
            let mut back = cli::read_history(&bytes, "exported", false)
                .unwrap_or_else(|e| panic!("{file} (edn: {edn}): {e}"));
            assert_eq!(back.events.len(), history.events.len(), "{file}");
            assert_eq!(findings(&back, None), original_bare, "{file} (edn: {edn})");
            let state = FinalState::from_json(&final_json, "final.json", &mut back)
                .expect("the final state reads back");
            assert_eq!(
                findings(&back, Some(&state)),
                original,
                "{file} (edn: {edn})"
            );
            // Exporting what was read gives the same bytes again.
            let mut again = Vec::new();
            back.write_jepsen(&mut again, edn)
                .expect("written to memory");
            assert!(
                again == bytes,
                "{file} (edn: {edn}): the second export differs"
            );
        }
    }
}
