//! Liveness, kept apart from safety: how long the system took to recover, not whether it
//! was ever wrong.
//!
//! - `convergence_ms`: from the end of the workload, when every fault is healed and every
//!   node restarted, until the run went quiet (every replica caught up). `null` when the
//!   run did not go quiet within its limits.
//! - `failovers`: each time a leader lost its role (crash or step-down), how long until
//!   some leader next accepted a client write.
//! - `unavailable_ms` per node: the windows during which every operation sent to that
//!   node failed or timed out; each window runs from the invocation of the first such
//!   operation to the invocation of the next successful one (or the last failure's
//!   completion).

use std::collections::BTreeMap;

use repsim_history::{EventType, History, NodeId, RoleEvent, RoleKind};
use repsim_sim::{RunOutcome, SimTime};
use serde::{Deserialize, Serialize};

/// A run's liveness figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Liveness {
    /// Time from the end of the workload (all faults healed) until the run went quiet.
    pub convergence_ms: Option<f64>,
    /// Leader losses and how long writes waited for a leader.
    pub failovers: Vec<Failover>,
    /// Per node: total and longest unavailability window.
    pub unavailable_ms: BTreeMap<String, Unavailability>,
}

/// One loss of leadership.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failover {
    /// The node that stopped being leader.
    pub leader: String,
    /// When (ms).
    pub lost_at_ms: f64,
    /// When some leader next accepted a client write (ms), if any did.
    pub next_write_ms: Option<f64>,
    /// The difference: how long writes had no leader.
    pub gap_ms: Option<f64>,
}

/// A node's unavailability.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Unavailability {
    /// Sum of the windows (ms).
    pub total: f64,
    /// The longest window (ms).
    pub longest: f64,
    /// How many windows.
    pub windows: u64,
}

/// An operation sent to a node, as the unavailability windows need it.
#[derive(Clone, Copy)]
struct NodeOp {
    invoke: f64,
    completion: f64,
    ok: bool,
    /// Event position of its completion; `usize::MAX` while it has none.
    completed_at: usize,
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// Computes the liveness figures of a run.
pub fn measure(
    history: &History,
    roles: &[RoleEvent],
    outcome: RunOutcome,
    workload_end: SimTime,
    end: SimTime,
) -> Liveness {
    let convergence_ms =
        (outcome == RunOutcome::Quiet).then(|| round(end.since(workload_end).as_ms()));

    let mut failovers = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        if role.kind != RoleKind::NotLeader {
            continue;
        }
        let next = roles[i + 1..]
            .iter()
            .find(|r| matches!(r.kind, RoleKind::AcceptedWrite { .. }))
            .map(|r| r.time_ms);
        failovers.push(Failover {
            leader: role.node.to_string(),
            lost_at_ms: role.time_ms,
            next_write_ms: next,
            gap_ms: next.map(|t| round(t - role.time_ms)),
        });
    }

    // Per node (by index), the operations sent to it, each pushed at its invoke; per
    // process (by id), where its open operation sits.
    let mut per_node: Vec<Vec<NodeOp>> = Vec::new();
    let mut open: Vec<Option<(usize, usize)>> = Vec::new();
    for (position, event) in history.events.iter().enumerate() {
        let process = event.process.0 as usize;
        if open.len() <= process {
            open.resize(process + 1, None);
        }
        if event.kind == EventType::Invoke {
            open[process] = event.node.map(|node| {
                if per_node.len() <= node.index() {
                    per_node.resize_with(node.index() + 1, Vec::new);
                }
                let ops = &mut per_node[node.index()];
                ops.push(NodeOp {
                    invoke: event.time_ms,
                    completion: event.time_ms,
                    ok: false,
                    completed_at: usize::MAX,
                });
                (node.index(), ops.len() - 1)
            });
            continue;
        }
        if let Some((node, slot)) = open[process].take() {
            let op = &mut per_node[node][slot];
            op.completion = event.time_ms;
            op.ok = event.kind == EventType::Ok;
            op.completed_at = position;
        }
    }
    let mut unavailable_ms = BTreeMap::new();
    for (node, mut ops) in per_node.into_iter().enumerate() {
        // Operations that never completed play no part.
        ops.retain(|op| op.completed_at != usize::MAX);
        if ops.is_empty() {
            continue;
        }
        // In invoke order, operations invoked at the same time in completion order. The
        // history is in time order, so only such ties need sorting.
        if ops.is_sorted_by(|a, b| a.invoke <= b.invoke) {
            for tie in ops.chunk_by_mut(|a, b| a.invoke == b.invoke) {
                tie.sort_unstable_by_key(|op| op.completed_at);
            }
        } else {
            ops.sort_by(|a, b| {
                a.invoke
                    .total_cmp(&b.invoke)
                    .then(a.completed_at.cmp(&b.completed_at))
            });
        }
        let mut figures = Unavailability::default();
        let mut window: Option<(f64, f64)> = None;
        let close = |figures: &mut Unavailability, (start, end): (f64, f64)| {
            let length = (end - start).max(0.0);
            figures.total += length;
            figures.longest = figures.longest.max(length);
            figures.windows += 1;
        };
        for NodeOp {
            invoke,
            completion,
            ok,
            ..
        } in ops
        {
            match (ok, window) {
                (false, None) => window = Some((invoke, completion)),
                (false, Some((start, end))) => window = Some((start, end.max(completion))),
                (true, Some((start, _))) => {
                    close(&mut figures, (start, invoke));
                    window = None;
                }
                (true, None) => {}
            }
        }
        if let Some(open_window) = window {
            close(&mut figures, open_window);
        }
        figures.total = round(figures.total);
        figures.longest = round(figures.longest);
        unavailable_ms.insert(NodeId(node as u16).to_string(), figures);
    }
    Liveness {
        convergence_ms,
        failovers,
        unavailable_ms,
    }
}

impl Liveness {
    /// The longest unavailability window of any node (ms).
    pub fn longest_unavailable_ms(&self) -> f64 {
        self.unavailable_ms
            .values()
            .map(|u| u.longest)
            .fold(0.0, f64::max)
    }

    /// One line for the run summary.
    pub fn summary(&self) -> String {
        let convergence = self.convergence_ms.map_or_else(
            || "did not converge".to_owned(),
            |c| format!("converged {c} ms after the faults healed"),
        );
        let gaps: Vec<String> = self
            .failovers
            .iter()
            .map(|f| match f.gap_ms {
                Some(gap) => format!(
                    "{} lost leadership at {} ms, writes resumed {gap} ms later",
                    f.leader, f.lost_at_ms
                ),
                None => format!(
                    "{} lost leadership at {} ms, no write was accepted after",
                    f.leader, f.lost_at_ms
                ),
            })
            .collect();
        let failovers = if gaps.is_empty() {
            String::new()
        } else {
            format!("; {}", gaps.join("; "))
        };
        format!(
            "liveness: {convergence}; longest unavailability of a node {} ms{failovers}",
            self.longest_unavailable_ms()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(text: &str) -> History {
        History::from_jsonl(text, "h.jsonl").unwrap()
    }

    #[test]
    fn unavailability_windows_run_from_the_first_failure_to_the_next_success() {
        let h = history(
            r#"{"time_ms":0,"process":0,"type":"invoke","f":"read","key":"k","node":"n0"}
{"time_ms":1,"process":0,"type":"ok","f":"read","key":"k","node":"n0"}
{"time_ms":10,"process":0,"type":"invoke","f":"read","key":"k","node":"n0"}
{"time_ms":12,"process":0,"type":"fail","f":"read","key":"k","node":"n0"}
{"time_ms":20,"process":0,"type":"invoke","f":"read","key":"k","node":"n0"}
{"time_ms":40,"process":0,"type":"info","f":"read","key":"k","node":"n0"}
{"time_ms":50,"process":0,"type":"invoke","f":"read","key":"k","node":"n0"}
{"time_ms":51,"process":0,"type":"ok","f":"read","key":"k","node":"n0"}
{"time_ms":60,"process":0,"type":"invoke","f":"read","key":"k","node":"n1"}
{"time_ms":65,"process":0,"type":"fail","f":"read","key":"k","node":"n1"}
"#,
        );
        let l = measure(
            &h,
            &[],
            RunOutcome::Quiet,
            SimTime::from_ms(100.0),
            SimTime::from_ms(130.5),
        );
        assert_eq!(l.convergence_ms, Some(30.5));
        assert_eq!(
            l.unavailable_ms["n0"],
            Unavailability {
                total: 40.0,
                longest: 40.0,
                windows: 1
            }
        );
        assert_eq!(
            l.unavailable_ms["n1"],
            Unavailability {
                total: 5.0,
                longest: 5.0,
                windows: 1
            }
        );
    }

    #[test]
    fn a_failover_gap_ends_at_the_next_accepted_write() {
        let role = |time_ms, node, kind| RoleEvent {
            time_ms,
            node: NodeId(node),
            kind,
        };
        let roles = [
            role(5.0, 0, RoleKind::AcceptedWrite { op: None }),
            role(10.0, 0, RoleKind::NotLeader),
            role(300.0, 1, RoleKind::Leader { epoch: 2 }),
            role(302.5, 1, RoleKind::AcceptedWrite { op: None }),
        ];
        let l = measure(
            &History::default(),
            &roles,
            RunOutcome::NotQuiet,
            SimTime::ZERO,
            SimTime::ZERO,
        );
        assert_eq!(l.convergence_ms, None);
        assert_eq!(l.failovers.len(), 1);
        assert_eq!(l.failovers[0].gap_ms, Some(292.5));
    }
}
