//! An optional, bounded trace of what happened inside a run: message sends, deliveries
//! and drops, timers, crashes, restarts, faults and role changes. Later tools draw
//! space-time diagrams from it; tests compare it byte for byte across runs.
//!
//! Only events inside the configured time window are kept, at most `capacity` of them;
//! the number left out is counted, so a truncated trace says so.

use std::fmt::Write as _;

use repsim_history::NodeId;
use repsim_history::jsonl::write_json_string;

use crate::time::SimTime;

/// What to record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceConfig {
    /// Most events kept.
    pub capacity: usize,
    /// Start of the window.
    pub from: SimTime,
    /// End of the window (inclusive).
    pub to: SimTime,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            capacity: 100_000,
            from: SimTime::ZERO,
            to: SimTime::MAX,
        }
    }
}

/// One traced event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceKind {
    /// A node sent a message; `id` links it to its delivery or drop.
    Send {
        /// Message id.
        id: u64,
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// `Debug` form of the message.
        msg: String,
        /// A periodic message ([`crate::Node::is_background`]).
        background: bool,
    },
    /// A message arrived.
    Deliver {
        /// Message id.
        id: u64,
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
    },
    /// A message was lost.
    Drop {
        /// Message id.
        id: u64,
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// Why: `cut`, `random` or `crashed`.
        reason: &'static str,
    },
    /// A timer fired.
    Timer {
        /// The node.
        node: NodeId,
        /// `Debug` form of the timer tag.
        timer: String,
    },
    /// A fault started or ended (crashes and restarts included).
    Fault {
        /// Description, e.g. `crash n0` or `end partition n0 | n1,n2`.
        what: String,
    },
    /// A node went down (crash or the first half of an upgrade).
    Down {
        /// The node.
        node: NodeId,
    },
    /// A node came up (restart, upgrade or join).
    Up {
        /// The node.
        node: NodeId,
    },
    /// A node announced a role event.
    Role {
        /// The node.
        node: NodeId,
        /// `Debug` form of the role event.
        what: String,
    },
}

/// A traced event at a simulated time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// True simulated time.
    pub time: SimTime,
    /// What happened.
    pub kind: TraceKind,
}

/// The recorded trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Kept events, in order.
    pub events: Vec<TraceEvent>,
    /// Events in the window that did not fit.
    pub left_out: u64,
    config: Option<TraceConfig>,
}

impl Trace {
    /// An empty trace recording per `config`.
    pub fn new(config: TraceConfig) -> Trace {
        Trace {
            events: Vec::new(),
            left_out: 0,
            config: Some(config),
        }
    }

    /// True if an event at `time` would be kept (so the caller can skip formatting).
    #[inline]
    pub fn wants(&self, time: SimTime) -> bool {
        self.config.is_some_and(|c| time >= c.from && time <= c.to)
    }

    /// Records an event if it falls in the window and fits.
    pub fn record(&mut self, time: SimTime, kind: TraceKind) {
        let Some(config) = self.config else { return };
        if time < config.from || time > config.to {
            return;
        }
        if self.events.len() < config.capacity {
            self.events.push(TraceEvent { time, kind });
        } else {
            self.left_out += 1;
        }
    }

    /// The trace as JSON Lines, one event per line, then a last line counting the events
    /// left out.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for event in &self.events {
            out.push_str("{\"time_ms\":");
            repsim_history::jsonl::write_time_ms(&mut out, event.time.as_ms());
            match &event.kind {
                TraceKind::Send {
                    id,
                    from,
                    to,
                    msg,
                    background,
                } => {
                    write!(out, ",\"event\":\"send\",\"id\":{id},\"from\":\"{from}\",\"to\":\"{to}\",\"background\":{background},\"msg\":").unwrap();
                    write_json_string(&mut out, msg);
                }
                TraceKind::Down { node } => {
                    write!(out, ",\"event\":\"down\",\"node\":\"{node}\"").unwrap();
                }
                TraceKind::Up { node } => {
                    write!(out, ",\"event\":\"up\",\"node\":\"{node}\"").unwrap();
                }
                TraceKind::Deliver { id, from, to } => {
                    write!(
                        out,
                        ",\"event\":\"deliver\",\"id\":{id},\"from\":\"{from}\",\"to\":\"{to}\""
                    )
                    .unwrap();
                }
                TraceKind::Drop {
                    id,
                    from,
                    to,
                    reason,
                } => {
                    write!(out, ",\"event\":\"drop\",\"id\":{id},\"from\":\"{from}\",\"to\":\"{to}\",\"reason\":\"{reason}\"").unwrap();
                }
                TraceKind::Timer { node, timer } => {
                    write!(out, ",\"event\":\"timer\",\"node\":\"{node}\",\"timer\":").unwrap();
                    write_json_string(&mut out, timer);
                }
                TraceKind::Fault { what } => {
                    out.push_str(",\"event\":\"fault\",\"what\":");
                    write_json_string(&mut out, what);
                }
                TraceKind::Role { node, what } => {
                    write!(out, ",\"event\":\"role\",\"node\":\"{node}\",\"what\":").unwrap();
                    write_json_string(&mut out, what);
                }
            }
            out.push_str("}\n");
        }
        writeln!(out, "{{\"left_out\":{}}}", self.left_out).unwrap();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_window_and_counts_overflow() {
        let mut trace = Trace::new(TraceConfig {
            capacity: 2,
            from: SimTime::from_micros(10),
            to: SimTime::from_micros(20),
        });
        for t in [5, 10, 15, 20, 25] {
            trace.record(
                SimTime::from_micros(t),
                TraceKind::Fault {
                    what: format!("t{t}"),
                },
            );
        }
        assert_eq!(trace.events.len(), 2);
        assert_eq!(trace.left_out, 1);
        assert!(!trace.wants(SimTime::from_micros(5)));
        let text = trace.to_jsonl();
        assert_eq!(
            text,
            "{\"time_ms\":0.01,\"event\":\"fault\",\"what\":\"t10\"}\n{\"time_ms\":0.015,\"event\":\"fault\",\"what\":\"t15\"}\n{\"left_out\":1}\n"
        );
    }
}
