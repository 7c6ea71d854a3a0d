//! Fuzz target `scenario`: any bytes through the scenario loader (`scenario::parse_bytes`,
//! the path `repsim validate` and `repsim run` take after reading a file), then, for a
//! file that validates, the run's configuration with its `random` faults expanded.
//!
//! Nothing may panic or hang, and every refusal must start with the file and name a
//! JSON path (`$...`) or a line (`line N`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use repsim_runner::scenario;

const FILE: &str = "fuzz.json";

fuzz_target!(|data: &[u8]| {
    static SCHEMA: std::sync::Once = std::sync::Once::new();
    SCHEMA.call_once(|| {
        let schema = scenario::schema();
        assert!(schema.is_object());
    });
    match scenario::parse_bytes(data, FILE) {
        Ok(scenario) => {
            let config = scenario.sim_config(scenario.seed);
            assert_eq!(config.nodes, scenario.nodes);
        }
        Err(error) => assert_names_place(&error.to_string()),
    }
});

/// A refusal starts with the file, then a JSON path or a line.
fn assert_names_place(message: &str) {
    let rest = message
        .strip_prefix(FILE)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or_else(|| panic!("does not start with the file: {message:?}"));
    assert!(
        rest.starts_with('$') || rest.starts_with("line "),
        "names neither a path nor a line: {message:?}"
    );
}
