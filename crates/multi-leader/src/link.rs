//! Reliable replication links: for one outgoing link, the writes sent and not yet
//! acknowledged, and when to send them again.
//!
//! The network may drop, duplicate or delay any message, cut a link, and lose everything
//! sent to a crashed leader. A leader therefore keeps, per peer it passes writes to, the
//! writes the peer has not acknowledged (durably: the queue is rebuilt from the records
//! on restart) and resends them until it has. The retransmission timeout adapts to the
//! link: three times a smoothed round-trip time (at least [`MIN_RTO`]), doubling at each
//! retransmission up to [`MAX_RTO`] while nothing is acknowledged, so a long partition
//! costs a few messages per second rather than a flood. Receivers deduplicate by the
//! write's [`Dot`].

use std::collections::BTreeMap;

use repsim_sim::{SimDuration, SimTime};

use crate::version::Dot;

/// The shortest retransmission timeout.
pub const MIN_RTO: SimDuration = SimDuration::from_millis(20);
/// The longest retransmission timeout (after repeated losses).
pub const MAX_RTO: SimDuration = SimDuration::from_millis(500);
/// The timeout before any round trip has been measured.
pub const INITIAL_RTO: SimDuration = SimDuration::from_millis(50);
/// Most writes resent in one message.
pub const BATCH: usize = 128;
/// Longest round trip sample taken into account (a clock-skew jump can fake one).
const MAX_SAMPLE: SimDuration = SimDuration::from_millis(2_000);

/// When a pending write was last sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sent {
    /// Local time of the last transmission; `None` when not sent since a restart.
    at: Option<SimTime>,
    /// Sent more than once (its acknowledgement then says nothing about the round trip).
    retransmitted: bool,
}

/// One outgoing link. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pending: BTreeMap<Dot, Sent>,
    /// Smoothed round-trip time, µs.
    srtt_micros: Option<u64>,
    rto: SimDuration,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            pending: BTreeMap::new(),
            srtt_micros: None,
            rto: INITIAL_RTO,
        }
    }
}

impl Link {
    /// The write `dot` was just sent for the first time.
    pub fn sent(&mut self, dot: Dot, now: SimTime) {
        self.pending.insert(
            dot,
            Sent {
                at: Some(now),
                retransmitted: false,
            },
        );
    }

    /// The write `dot` is pending from before a restart: send it again as soon as
    /// possible.
    pub fn restore(&mut self, dot: Dot) {
        self.pending.insert(
            dot,
            Sent {
                at: None,
                retransmitted: true,
            },
        );
    }

    /// The peer acknowledged `dot`; true if it was pending.
    pub fn ack(&mut self, dot: Dot, now: SimTime) -> bool {
        let Some(sent) = self.pending.remove(&dot) else {
            return false;
        };
        if let (Some(at), false) = (sent.at, sent.retransmitted) {
            let sample = now.since(at).min(MAX_SAMPLE).as_micros();
            let srtt = match self.srtt_micros {
                Some(srtt) => (7 * srtt + sample) / 8,
                None => sample,
            };
            self.srtt_micros = Some(srtt);
        }
        self.rto = self.base_rto();
        true
    }

    /// The peer acknowledged `dot` before a restart (replaying the records).
    pub fn forget(&mut self, dot: Dot) {
        self.pending.remove(&dot);
    }

    fn base_rto(&self) -> SimDuration {
        match self.srtt_micros {
            Some(srtt) => SimDuration::from_micros(3 * srtt).max(MIN_RTO),
            None => INITIAL_RTO,
        }
    }

    /// The writes to send again now (at most [`BATCH`], oldest first): those not sent
    /// since a restart and, once some write has gone unacknowledged for the timeout,
    /// every write sent at least half a timeout ago, so that retransmissions to a dead or
    /// cut-off peer go out together rather than one message per write. Marks them sent,
    /// and backs the timeout off when some had timed out.
    pub fn due(&mut self, now: SimTime) -> Vec<Dot> {
        let rto = self.rto;
        let timed_out = self
            .pending
            .values()
            .any(|sent| sent.at.is_some_and(|at| now.since(at) >= rto));
        let old_enough = SimDuration::from_micros(rto.as_micros() / 2);
        let mut due = Vec::new();
        for (&dot, sent) in &mut self.pending {
            if due.len() == BATCH {
                break;
            }
            let ready = match sent.at {
                None => true,
                Some(at) => timed_out && now.since(at) >= old_enough,
            };
            if ready {
                sent.at = Some(now);
                sent.retransmitted = true;
                due.push(dot);
            }
        }
        if timed_out {
            self.rto = SimDuration::from_micros(2 * self.rto.as_micros()).min(MAX_RTO);
        }
        due
    }

    /// The peer restarted and lost everything in flight to it: make every pending write
    /// due now, and forget the backoff.
    pub fn rewind(&mut self) {
        for sent in self.pending.values_mut() {
            sent.at = None;
            sent.retransmitted = true;
        }
        self.rto = self.base_rto();
    }

    /// True when every write sent over this link is acknowledged.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// How many writes await acknowledgement.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// The writes awaiting acknowledgement, oldest first.
    pub fn pending(&self) -> Vec<Dot> {
        self.pending.keys().copied().collect()
    }

    /// True when `dot` awaits acknowledgement.
    pub fn contains(&self, dot: Dot) -> bool {
        self.pending.contains_key(&dot)
    }
}

#[cfg(test)]
mod tests {
    use repsim_sim::NodeId;

    use super::*;

    fn dot(seq: u64) -> Dot {
        Dot {
            origin: NodeId(0),
            seq,
        }
    }

    fn ms(ms: u64) -> SimTime {
        SimTime::from_micros(ms * 1000)
    }

    #[test]
    fn a_write_is_resent_after_the_timeout_with_backoff() {
        let mut link = Link::default();
        link.sent(dot(1), ms(0));
        assert!(link.due(ms(10)).is_empty());
        assert_eq!(link.due(ms(50)), vec![dot(1)]);
        // The timeout doubled: 50 ms later is not enough.
        assert!(link.due(ms(100)).is_empty());
        assert_eq!(link.due(ms(150)), vec![dot(1)]);
        assert!(link.ack(dot(1), ms(151)));
        assert!(!link.ack(dot(1), ms(152)), "a second ack is a no-op");
        assert!(link.is_empty());
    }

    #[test]
    fn the_timeout_follows_the_measured_round_trip() {
        let mut link = Link::default();
        link.sent(dot(1), ms(0));
        link.ack(dot(1), ms(100));
        link.sent(dot(2), ms(200));
        assert!(link.due(ms(450)).is_empty(), "3 × 100 ms have not passed");
        assert_eq!(link.due(ms(500)), vec![dot(2)]);
    }

    #[test]
    fn retransmissions_go_out_together() {
        let mut link = Link::default();
        link.sent(dot(1), ms(0));
        link.sent(dot(2), ms(20));
        link.sent(dot(3), ms(40));
        // dot 1 timed out (50 ms); dot 2 is older than half the timeout, dot 3 is not.
        assert_eq!(link.due(ms(50)), vec![dot(1), dot(2)]);
        assert!(link.due(ms(60)).is_empty());
    }

    #[test]
    fn restored_and_rewound_writes_are_due_at_once() {
        let mut link = Link::default();
        link.restore(dot(1));
        link.sent(dot(2), ms(0));
        assert_eq!(link.due(ms(1)), vec![dot(1)]);
        link.rewind();
        assert_eq!(link.due(ms(2)), vec![dot(1), dot(2)]);
    }
}
