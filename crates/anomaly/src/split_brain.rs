//! `split_brain` (SPEC §4), from the protocol's own role events: a node is leader from a
//! `Leader` event until a `NotLeader` event (a second `Leader` for a node already leader
//! only updates its epoch; a `NotLeader` for a node that is not leader changes nothing).
//! Events are taken in time order, ties in the order given. Each maximal span during
//! which at least two nodes are leader at once is flagged once if at least two distinct
//! nodes accepted a write (`AcceptedWrite`) while leader within it. Needs role events;
//! needs no unique values.
//!
//! The flag's index is the first of the accepted writes' operations in the span (by
//! history index; 0 when no accepted write names its operation); the others are involved.
//! O(r log r) for r role events.

use std::collections::BTreeSet;

use repsim_history::{History, HistoryError, NodeId, RoleEvent, RoleKind};

use crate::collect::Collector;
use crate::render;
use crate::{Flag, KindResult};

/// A flagged span of simulated time with two or more leaders that both accepted writes.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitBrainSpan {
    /// When the second leader appeared, in milliseconds.
    pub start_ms: f64,
    /// When the leaders fell back below two; `None` if that never happened before the
    /// last role event.
    pub end_ms: Option<f64>,
    /// Every node that was leader at some moment of the span, ascending.
    pub leaders: Vec<NodeId>,
    /// The nodes that accepted writes as leader within the span, ascending.
    pub writers: Vec<NodeId>,
    /// History indexes of the accepted writes' invokes, ascending.
    pub indexes: Vec<u64>,
}

/// How many of a span's accepted writes a flag names (the span keeps them all).
const SHOWN_WRITES: usize = 8;

/// A span being built.
struct Open {
    start_ms: f64,
    leaders: BTreeSet<NodeId>,
    writers: BTreeSet<NodeId>,
    positions: Vec<u32>,
}

/// Counts split-brain spans, renders the first `max`, and returns every flagged span.
/// `Err` when a role event names an event position beyond the history.
pub(crate) fn run(
    history: &History,
    roles: &[RoleEvent],
    max: usize,
) -> Result<(KindResult, Vec<SplitBrainSpan>), HistoryError> {
    for event in roles {
        if let RoleKind::AcceptedWrite { op: Some(position) } = event.kind
            && position as usize >= history.events.len()
        {
            return Err(HistoryError::Malformed {
                index: u64::from(position),
                reason: format!(
                    "role event of {} at {} ms names event position {position}, but the history has \
                     {} events",
                    render::node_name(history, event.node),
                    event.time_ms,
                    history.events.len()
                ),
            });
        }
    }
    let mut order: Vec<usize> = (0..roles.len()).collect();
    // Stable: ties keep the order given.
    order.sort_by(|&a, &b| roles[a].time_ms.total_cmp(&roles[b].time_ms));

    let node_count = roles.iter().map(|e| e.node.index() + 1).max().unwrap_or(0);
    let mut is_leader = vec![false; node_count];
    let mut leaders = 0usize;
    let mut open: Option<Open> = None;
    let mut spans = Vec::new();
    for &i in &order {
        let event = &roles[i];
        let node = event.node;
        match event.kind {
            RoleKind::Leader { .. } => {
                if !is_leader[node.index()] {
                    is_leader[node.index()] = true;
                    leaders += 1;
                    if leaders == 2 {
                        let current = is_leader
                            .iter()
                            .enumerate()
                            .filter(|(_, leader)| **leader)
                            .map(|(n, _)| NodeId(u16::try_from(n).expect("node ids are u16")))
                            .collect();
                        open = Some(Open {
                            start_ms: event.time_ms,
                            leaders: current,
                            writers: BTreeSet::new(),
                            positions: Vec::new(),
                        });
                    } else if let Some(open) = &mut open {
                        open.leaders.insert(node);
                    }
                }
            }
            RoleKind::NotLeader => {
                if is_leader[node.index()] {
                    is_leader[node.index()] = false;
                    leaders -= 1;
                    if leaders == 1
                        && let Some(span) = open.take()
                    {
                        spans.extend(close(history, span, Some(event.time_ms)));
                    }
                }
            }
            RoleKind::AcceptedWrite { op } => {
                if is_leader[node.index()]
                    && let Some(open) = &mut open
                {
                    open.writers.insert(node);
                    open.positions.extend(op);
                }
            }
        }
        assert!(
            (leaders >= 2) == open.is_some(),
            "a span is open exactly while two or more nodes lead ({leaders} leaders)"
        );
    }
    if let Some(span) = open.take() {
        spans.extend(close(history, span, None));
    }

    let mut collector = Collector::new(max);
    for (number, span) in spans.iter().enumerate() {
        collector.push(
            span.indexes.first().copied().unwrap_or(0),
            number as u64,
            number,
        );
    }
    let (count, kept) = collector.finish();
    let flags = kept
        .into_iter()
        .map(|(index, number)| {
            let span = &spans[number];
            let names = |nodes: &[NodeId]| {
                nodes.iter().map(|n| render::node_name(history, *n)).collect::<Vec<_>>().join(", ")
            };
            let end = match span.end_ms {
                Some(end_ms) => format!("to {end_ms} ms"),
                None => "to the last role event".to_owned(),
            };
            let mut message = format!(
                "{} were leader at once from {} ms {end}, and {} accepted writes as leader in that span",
                names(&span.leaders),
                span.start_ms,
                names(&span.writers)
            );
            if !span.indexes.is_empty() {
                let shown: Vec<String> =
                    span.indexes.iter().take(SHOWN_WRITES).map(u64::to_string).collect();
                let more = span.indexes.len().saturating_sub(SHOWN_WRITES);
                let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
                message.push_str(&format!(
                    " ({} writes, invoked at indexes {}{tail})",
                    span.indexes.len(),
                    shown.join(", ")
                ));
            }
            let involved = span.indexes.iter().skip(1).take(SHOWN_WRITES).copied().collect();
            Flag { index, involved, message }
        })
        .collect();
    Ok((KindResult { count, flags }, spans))
}

/// The finished span, if two or more nodes accepted writes in it.
fn close(history: &History, span: Open, end_ms: Option<f64>) -> Option<SplitBrainSpan> {
    if span.writers.len() < 2 {
        return None;
    }
    let mut indexes: Vec<u64> = span
        .positions
        .iter()
        .map(|&p| history.index_of(p))
        .collect();
    indexes.sort_unstable();
    indexes.dedup();
    Some(SplitBrainSpan {
        start_ms: span.start_ms,
        end_ms,
        leaders: span.leaders.into_iter().collect(),
        writers: span.writers.into_iter().collect(),
        indexes,
    })
}

#[cfg(test)]
mod tests {
    use repsim_history::{NodeId, RoleEvent, RoleKind};

    use crate::Kind::SplitBrain;
    use crate::testing::history;
    use crate::{Findings, Input, Options, check};

    fn leader(time_ms: f64, node: u16) -> RoleEvent {
        RoleEvent {
            time_ms,
            node: NodeId(node),
            kind: RoleKind::Leader { epoch: 1 },
        }
    }
    fn not_leader(time_ms: f64, node: u16) -> RoleEvent {
        RoleEvent {
            time_ms,
            node: NodeId(node),
            kind: RoleKind::NotLeader,
        }
    }
    fn accepted(time_ms: f64, node: u16, op: u32) -> RoleEvent {
        RoleEvent {
            time_ms,
            node: NodeId(node),
            kind: RoleKind::AcceptedWrite { op: Some(op) },
        }
    }

    /// Four writes, invoked at positions 0, 2, 4 and 6.
    fn run(roles: &[RoleEvent]) -> Findings {
        let history = history("0 w k0 1; 0 ok; 0 w k0 2; 0 ok; 0 w k0 3; 0 ok; 0 w k0 4; 0 ok");
        let input = Input {
            history: &history,
            final_state: None,
            roles: Some(roles),
        };
        check(&input, &Options::default()).expect("well-formed")
    }

    #[test]
    fn two_leaders_both_accepting_writes_is_one_split_brain() {
        let f = run(&[
            leader(0.0, 0),
            accepted(1.0, 0, 0),
            leader(10.0, 1),
            accepted(11.0, 1, 4),
            accepted(12.0, 0, 2),
            accepted(13.0, 1, 6),
            not_leader(20.0, 0),
            accepted(21.0, 1, 6),
        ]);
        assert_eq!(f.count(SplitBrain), 1);
        let flag = &f.examples[&SplitBrain][0];
        assert_eq!((flag.index, flag.involved.clone()), (2, vec![4, 6]));
        assert_eq!(f.split_brain_spans.len(), 1);
        let span = &f.split_brain_spans[0];
        assert_eq!((span.start_ms, span.end_ms), (10.0, Some(20.0)));
        assert_eq!(span.writers, vec![NodeId(0), NodeId(1)]);
        assert!(
            flag.message
                .starts_with("n0, n1 were leader at once from 10 ms to 20 ms"),
            "{}",
            flag.message
        );
    }

    #[test]
    fn overlap_with_one_writer_or_a_clean_handover_is_not_split_brain() {
        let f = run(&[
            leader(0.0, 0),
            leader(10.0, 1),
            accepted(11.0, 1, 0),
            accepted(12.0, 1, 2),
        ]);
        assert_eq!(f.count(SplitBrain), 0);
        let f = run(&[
            leader(0.0, 0),
            accepted(1.0, 0, 0),
            not_leader(10.0, 0),
            leader(10.0, 1),
            accepted(11.0, 1, 2),
        ]);
        assert_eq!(
            f.count(SplitBrain),
            0,
            "ties keep the order given: n0 stepped down first"
        );
    }

    #[test]
    fn writes_accepted_outside_leadership_do_not_count() {
        let f = run(&[
            leader(0.0, 0),
            leader(1.0, 1),
            leader(1.5, 1),
            accepted(2.0, 0, 0),
            accepted(3.0, 2, 2),
            not_leader(4.0, 1),
            not_leader(4.5, 1),
            accepted(5.0, 1, 4),
        ]);
        assert_eq!(f.count(SplitBrain), 0);
    }

    #[test]
    fn events_are_sorted_by_time_and_an_open_span_is_flagged() {
        let f = run(&[
            accepted(3.0, 1, 2),
            leader(1.0, 1),
            accepted(2.0, 0, 0),
            leader(0.0, 0),
        ]);
        assert_eq!(f.count(SplitBrain), 1);
        assert_eq!(f.split_brain_spans[0].end_ms, None);
        assert_eq!(f.example_indexes(SplitBrain), vec![0]);
    }

    #[test]
    fn needs_role_events_and_refuses_positions_beyond_the_history() {
        let history = history("0 w k0 1; 0 ok");
        let input = Input {
            history: &history,
            final_state: None,
            roles: None,
        };
        let f = check(&input, &Options::default()).expect("well-formed");
        assert!(
            f.skipped
                .contains(&(SplitBrain, "no role events given".to_owned()))
        );
        let roles = [accepted(0.0, 0, 2)];
        let input = Input {
            history: &history,
            final_state: None,
            roles: Some(&roles),
        };
        let err = check(&input, &Options::default()).unwrap_err().to_string();
        assert!(
            err.contains("names event position 2, but the history has 2 events"),
            "{err}"
        );
    }
}
