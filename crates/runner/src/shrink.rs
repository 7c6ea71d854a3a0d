//! `repsim shrink`: reduce a failing run to a minimal scenario that still shows the
//! anomaly at the same seed.
//!
//! The fault schedule is made concrete (the `random` nemesis expanded) and reduced by
//! delta debugging (ddmin: drop halves, quarters, ... of the faults while the anomaly
//! persists), then the workload is shortened (bisection on `duration_ms`) and thinned
//! (bisection on the client count), then the faults are tried one by one again. Every
//! candidate is a real scenario file, validated and run like any other; the result is
//! kept only if it shows the anomaly. Because every random stream is derived from the
//! seed and a label, removing faults or clients does not change what the remaining
//! clients ask for.

use std::path::Path;

use repsim_anomaly::Kind;
use repsim_sim::{Fault, FaultAction, SimTime};
use serde_json::{Value, json};

use crate::run;
use crate::scenario::{self, Scenario};

/// Why shrinking could not start.
#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    /// The file could not be read or parsed.
    #[error("{0}")]
    Scenario(#[from] scenario::ScenarioError),
    /// The run could not start.
    #[error("{0}")]
    Run(#[from] run::RunError),
    /// The run does not show the anomaly, so there is nothing to shrink.
    #[error("{file} at seed {seed} shows no {kind}; nothing to shrink")]
    NotReproduced {
        /// The scenario file.
        file: String,
        /// The seed.
        seed: u64,
        /// The anomaly.
        kind: &'static str,
    },
}

/// A path as written into a file: an absolute path is cut to its file name, so written
/// files do not depend on where a machine keeps them.
fn shown_path(file: &str) -> String {
    let path = Path::new(file);
    if path.is_absolute() {
        path.file_name()
            .map_or_else(|| file.to_owned(), |n| n.to_string_lossy().into_owned())
    } else {
        file.to_owned()
    }
}

/// The outcome of shrinking.
#[derive(Debug)]
pub struct Shrunk {
    /// The reduced scenario file's text.
    pub text: String,
    /// What was removed, one line each.
    pub removed: Vec<String>,
    /// The anomaly's count in the reduced run.
    pub count: u64,
    /// Runs tried.
    pub runs: u64,
}

fn ms(t: SimTime) -> f64 {
    t.as_ms()
}

/// The scenario-file form of a concrete fault.
pub fn fault_json(fault: &Fault) -> Value {
    let node = |n: &repsim_sim::NodeId| Value::String(n.to_string());
    let mut object = match &fault.action {
        FaultAction::Crash(n) => json!({ "crash": node(n) }),
        FaultAction::Restart(n) => json!({ "restart": node(n) }),
        FaultAction::Upgrade(n) => json!({ "upgrade": node(n) }),
        FaultAction::AddNode(n) => json!({ "add_node": node(n) }),
        FaultAction::Isolate(n) => json!({ "isolate": node(n) }),
        FaultAction::Partition(groups) => json!({
            "partition": groups.iter().map(|g| g.iter().map(node).collect::<Vec<_>>()).collect::<Vec<_>>()
        }),
        FaultAction::LinkDown { from, to } => json!({ "link_down": [node(from), node(to)] }),
        FaultAction::Lag { node: n, extra } => {
            json!({ "lag": { "node": node(n), "extra_ms": extra.as_ms() } })
        }
        FaultAction::ClockSkew {
            node: n,
            offset_micros,
        } => {
            json!({ "clock_skew": { "node": node(n), "offset_ms": *offset_micros as f64 / 1000.0 } })
        }
        FaultAction::RemoveNode(n) => json!({ "remove_node": node(n) }),
        FaultAction::Pause(n) => json!({ "pause": node(n) }),
        FaultAction::Resume(n) => json!({ "resume": node(n) }),
        FaultAction::Hold { from, to } => json!({ "hold": [node(from), node(to)] }),
        FaultAction::HoldNode(n) => json!({ "hold_node": node(n) }),
        FaultAction::ReleaseNode(n) => json!({ "release": node(n) }),
        FaultAction::Release { from, to } => json!({ "release": [node(from), node(to)] }),
        FaultAction::Swizzle(nodes) => {
            json!({ "swizzle": nodes.iter().map(node).collect::<Vec<_>>() })
        }
        FaultAction::Reorder { extra_max } => {
            json!({ "reorder": { "extra_ms": extra_max.as_ms() } })
        }
    };
    let map = object.as_object_mut().expect("built as an object");
    map.insert("at_ms".into(), json!(ms(fault.at)));
    if let Some(until) = fault.until {
        map.insert("until_ms".into(), json!(ms(until)));
    }
    object
}

/// A candidate: the original file with these faults, duration and client count.
struct Candidate {
    faults: Vec<Fault>,
    duration: SimTime,
    clients: u32,
}

struct Shrinker<'a> {
    original: Value,
    scenario: &'a Scenario,
    seed: u64,
    kind: Kind,
    runs: u64,
}

impl Shrinker<'_> {
    /// The candidate's scenario file, or `None` if it is not a valid scenario.
    fn text(&self, c: &Candidate) -> String {
        let mut value = self.original.clone();
        let map = value.as_object_mut().expect("a scenario file is an object");
        let faults: Vec<Value> = c
            .faults
            .iter()
            .filter(|f| f.at <= c.duration)
            .filter_map(|f| {
                let mut f = f.clone();
                if let Some(until) = f.until {
                    let until = until.min(c.duration);
                    if until <= f.at {
                        return None;
                    }
                    f.until = Some(until);
                }
                Some(fault_json(&f))
            })
            .collect();
        map.insert("faults".into(), Value::Array(faults));
        map.insert("duration_ms".into(), json!(ms(c.duration)));
        map.insert("seed".into(), json!(self.seed));
        map.insert(
            "name".into(),
            json!(format!("{}-shrunk", self.scenario.name)),
        );
        map.insert(
            "description".into(),
            json!(format!(
                "Shrunk by `repsim shrink` from {} at seed {}: a smallest schedule found that still shows {}.",
                shown_path(&self.scenario.file),
                self.seed,
                self.kind.name()
            )),
        );
        map.insert("expect".into(), json!({ self.kind.name(): { "min": 1 } }));
        let clients = map.entry("clients").or_insert_with(|| json!({}));
        if let Some(clients) = clients.as_object_mut() {
            clients.insert("count".into(), json!(c.clients));
        }
        let mut text = serde_json::to_string_pretty(&value).expect("JSON serializes");
        text.push('\n');
        text
    }

    /// The anomaly's count in the candidate's run (0 if the candidate is not valid).
    fn count(&mut self, c: &Candidate) -> u64 {
        let Ok(scenario) = scenario::parse(&self.text(c), &self.scenario.file) else {
            return 0;
        };
        self.runs += 1;
        run::run(&scenario, self.seed, None).map_or(0, |r| r.findings.count(self.kind))
    }

    fn shows(&mut self, c: &Candidate) -> bool {
        self.count(c) > 0
    }

    /// ddmin over the faults.
    fn shrink_faults(&mut self, c: &mut Candidate) {
        let empty = Candidate {
            faults: Vec::new(),
            duration: c.duration,
            clients: c.clients,
        };
        if self.shows(&empty) {
            c.faults.clear();
            return;
        }
        let mut n = 2;
        while c.faults.len() >= 2 {
            let chunk = c.faults.len().div_ceil(n);
            let mut reduced = false;
            for start in (0..c.faults.len()).step_by(chunk) {
                let mut rest = c.faults.clone();
                rest.drain(start..(start + chunk).min(rest.len()));
                let trial = Candidate {
                    faults: rest,
                    duration: c.duration,
                    clients: c.clients,
                };
                if self.shows(&trial) {
                    c.faults = trial.faults;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
            if !reduced {
                if n >= c.faults.len() {
                    break;
                }
                n = (2 * n).min(c.faults.len());
            }
        }
    }

    /// One fault at a time.
    fn drop_single_faults(&mut self, c: &mut Candidate) {
        let mut i = 0;
        while i < c.faults.len() {
            let mut rest = c.faults.clone();
            rest.remove(i);
            let trial = Candidate {
                faults: rest,
                duration: c.duration,
                clients: c.clients,
            };
            if self.shows(&trial) {
                c.faults = trial.faults;
            } else {
                i += 1;
            }
        }
    }

    /// Bisection for the shortest workload that still shows the anomaly.
    fn shrink_duration(&mut self, c: &mut Candidate) {
        let (mut low, mut high) = (1u64, c.duration.as_micros() / 1000);
        while low < high {
            let mid = low + (high - low) / 2;
            let trial = Candidate {
                faults: c.faults.clone(),
                duration: SimTime::from_micros(mid * 1000),
                clients: c.clients,
            };
            if self.shows(&trial) {
                high = mid;
                c.duration = trial.duration;
            } else {
                low = mid + 1;
            }
        }
    }

    /// Bisection for the fewest clients that still show the anomaly.
    fn shrink_clients(&mut self, c: &mut Candidate) {
        let (mut low, mut high) = (1u32, c.clients);
        while low < high {
            let mid = low + (high - low) / 2;
            let trial = Candidate {
                faults: c.faults.clone(),
                duration: c.duration,
                clients: mid,
            };
            if self.shows(&trial) {
                high = mid;
                c.clients = mid;
            } else {
                low = mid + 1;
            }
        }
    }
}

/// Shrinks the run of `path` at `seed` that shows `kind`.
pub fn shrink(path: &Path, seed: u64, kind: Kind) -> Result<Shrunk, ShrinkError> {
    let scenario = scenario::load(path)?;
    let text = std::fs::read_to_string(path).map_err(|source| scenario::ScenarioError::Read {
        file: scenario.file.clone(),
        source,
    })?;
    let original: Value = serde_json::from_str(&text).expect("load parsed it already");
    let before = run::run(&scenario, seed, None)?.findings.count(kind);
    if before == 0 {
        return Err(ShrinkError::NotReproduced {
            file: scenario.file.clone(),
            seed,
            kind: kind.name(),
        });
    }
    let mut shrinker = Shrinker {
        original,
        scenario: &scenario,
        seed,
        kind,
        runs: 1,
    };
    let start = Candidate {
        faults: scenario.expanded_faults(seed),
        duration: scenario.duration,
        clients: scenario.clients.count,
    };
    let mut c = Candidate {
        faults: start.faults.clone(),
        duration: start.duration,
        clients: start.clients,
    };
    if !shrinker.shows(&c) {
        // Expanding the nemesis into fixed faults must not change the run; if it does,
        // keep the original schedule untouched rather than shrink a different run.
        return Err(ShrinkError::NotReproduced {
            file: scenario.file.clone(),
            seed,
            kind: kind.name(),
        });
    }
    shrinker.shrink_faults(&mut c);
    shrinker.shrink_duration(&mut c);
    shrinker.shrink_clients(&mut c);
    shrinker.drop_single_faults(&mut c);
    let count = shrinker.count(&c);
    assert!(
        count > 0,
        "the shrunk candidate was accepted, so it shows the anomaly"
    );

    let mut removed = Vec::new();
    let kept: Vec<String> = c.faults.iter().map(|f| f.action.describe()).collect();
    let dropped: Vec<String> = start
        .faults
        .iter()
        .filter(|f| !c.faults.contains(f))
        .map(|f| format!("{} at {} ms", f.action.describe(), ms(f.at)))
        .collect();
    removed.push(format!(
        "faults: {} -> {} (kept: {})",
        start.faults.len(),
        c.faults.len(),
        if kept.is_empty() {
            "none".to_owned()
        } else {
            kept.join("; ")
        }
    ));
    for d in dropped.iter().take(20) {
        removed.push(format!("  removed {d}"));
    }
    if dropped.len() > 20 {
        removed.push(format!("  ... and {} more", dropped.len() - 20));
    }
    removed.push(format!(
        "duration: {} -> {} ms",
        ms(start.duration),
        ms(c.duration)
    ));
    removed.push(format!("clients: {} -> {}", start.clients, c.clients));
    Ok(Shrunk {
        text: shrinker.text(&c),
        removed,
        count,
        runs: shrinker.runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use repsim_sim::{NodeId, SimDuration};

    #[test]
    fn faults_render_as_scenario_json() {
        let t = SimTime::from_ms;
        let f = Fault {
            at: t(100.0),
            until: Some(t(250.5)),
            action: FaultAction::Lag {
                node: NodeId(2),
                extra: SimDuration::from_millis(40),
            },
        };
        assert_eq!(
            fault_json(&f),
            json!({"at_ms": 100.0, "until_ms": 250.5, "lag": {"node": "n2", "extra_ms": 40.0}})
        );
        let f = Fault {
            at: t(1.0),
            until: Some(t(2.0)),
            action: FaultAction::Partition(vec![vec![NodeId(0)], vec![NodeId(1), NodeId(2)]]),
        };
        assert_eq!(fault_json(&f)["partition"], json!([["n0"], ["n1", "n2"]]));
    }
}
