//! The simulated network between nodes, and between clients and nodes.
//!
//! Node-to-node messages draw an independent one-way delay from the link's latency
//! distribution (the default, or a per-link override), may be dropped or duplicated at
//! the configured rates, and are cut by partitions and one-way `link_down` faults: a
//! message sent over a cut link is lost, and so is one in flight when its link is cut
//! (even if the cut heals before it would have arrived). `lag` adds a fixed delay to
//! every message to or from a node, clients' included. Messages to a node that is down
//! when they arrive, or that restarted since they were sent, are lost; a message sent by
//! a node that then crashes is still delivered.
//!
//! Clients model application servers: partitions and link faults do not touch them, and
//! their requests and replies draw delays from the default latency distribution.
//!
//! Every decision is made by [`Network::route`], which returns a small [`Verdict`] the
//! simulator acts on.

use repsim_history::NodeId;

use crate::latency::Latency;
use crate::rng::{Probability, SimRng};
use crate::time::{SimDuration, SimTime};

/// A per-link latency override (directed: `from` → `to`).
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// One-way delay on this link.
    pub latency: Latency,
}

/// The network's configuration (SPEC §2 `network`).
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkConfig {
    /// Default one-way delay.
    pub latency: Latency,
    /// One-way delay between a client and a node (either direction); `None`: `latency`.
    pub client_latency: Option<Latency>,
    /// Chance that a node-to-node message is lost.
    pub drop_rate: Probability,
    /// Chance that a node-to-node message is delivered twice (independent delays).
    pub duplicate_rate: Probability,
    /// Chance that a node-to-node message arrives corrupted; the receiver's checksum
    /// detects it and drops it (counted apart from other losses).
    pub corrupt_rate: Probability,
    /// Per-link overrides.
    pub links: Vec<LinkConfig>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            latency: Latency::Constant(SimDuration::from_millis(1)),
            client_latency: None,
            drop_rate: Probability::NEVER,
            duplicate_rate: Probability::NEVER,
            corrupt_rate: Probability::NEVER,
            links: Vec::new(),
        }
    }
}

/// Why a message was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// The link was cut by a partition or `link_down` at send time or while in flight.
    Cut,
    /// Lost at random (`drop_rate`).
    Random,
    /// The target was down at arrival, or restarted since the message was sent.
    Crashed,
    /// It arrived corrupted and the receiver's checksum rejected it (`corrupt_rate`).
    Corrupt,
}

impl DropReason {
    /// Name used in traces and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Cut => "cut",
            DropReason::Random => "random",
            DropReason::Crashed => "crashed",
            DropReason::Corrupt => "corrupt",
        }
    }
}

/// What happens to a message at send time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered after `delay` (if nothing cuts it meanwhile), and a second copy after
    /// `duplicate` if duplicated.
    Deliver {
        /// One-way delay of the copy.
        delay: SimDuration,
        /// Delay of a duplicate copy.
        duplicate: Option<SimDuration>,
        /// The link's cut epoch at send time; a different epoch at arrival means the link
        /// was cut meanwhile.
        epoch: u32,
        /// The copy (and its duplicate) arrives corrupted.
        corrupt: bool,
    },
    /// Lost.
    Drop(DropReason),
}

/// Which active fault cuts what: the network's changing state.
pub struct Network {
    config: NetworkConfig,
    size: usize,
    /// Directed link `from * size + to` → its latency.
    latency: Vec<Latency>,
    /// Directed link → how many active faults cut it.
    cuts: Vec<u16>,
    /// Directed link → how many times it went from open to cut.
    epochs: Vec<u32>,
    /// Node → extra delay on messages to or from it.
    lag: Vec<SimDuration>,
    /// Directed link → how many active faults hold (clog) it.
    holds: Vec<u16>,
    /// Largest extra delay of each active reorder window.
    reorder: Vec<SimDuration>,
    rng: SimRng,
}

impl Network {
    /// A network of `size` nodes, none cut, drawing from `rng`.
    pub fn new(config: NetworkConfig, size: usize, rng: SimRng) -> Network {
        let mut network = Network {
            config,
            size: 0,
            latency: Vec::new(),
            cuts: Vec::new(),
            epochs: Vec::new(),
            lag: Vec::new(),
            holds: Vec::new(),
            reorder: Vec::new(),
            rng,
        };
        network.resize(size);
        network
    }

    /// Grows the network to `size` nodes (for `add_node`), keeping existing state.
    pub fn resize(&mut self, size: usize) {
        let old = self.size;
        if size <= old {
            return;
        }
        let mut latency = Vec::with_capacity(size * size);
        let mut cuts = vec![0; size * size];
        let mut epochs = vec![0; size * size];
        let mut holds = vec![0; size * size];
        for from in 0..size {
            for to in 0..size {
                if from < old && to < old {
                    cuts[from * size + to] = self.cuts[from * old + to];
                    epochs[from * size + to] = self.epochs[from * old + to];
                    holds[from * size + to] = self.holds[from * old + to];
                }
                latency.push(self.config.latency);
            }
        }
        for link in &self.config.links {
            let (from, to) = (link.from.index(), link.to.index());
            if from < size && to < size {
                latency[from * size + to] = link.latency;
            }
        }
        self.latency = latency;
        self.cuts = cuts;
        self.epochs = epochs;
        self.holds = holds;
        self.lag.resize(size, SimDuration::ZERO);
        self.size = size;
    }

    /// The configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    #[inline]
    fn link(&self, from: NodeId, to: NodeId) -> usize {
        from.index() * self.size + to.index()
    }

    /// Decides the fate of a node-to-node message sent now.
    #[inline]
    pub fn route(&mut self, from: NodeId, to: NodeId) -> Verdict {
        let link = self.link(from, to);
        if self.cuts[link] > 0 {
            return Verdict::Drop(DropReason::Cut);
        }
        if !self.config.drop_rate.is_never() && self.rng.chance(self.config.drop_rate) {
            return Verdict::Drop(DropReason::Random);
        }
        let extra = self.lag[from.index()] + self.lag[to.index()];
        let delay = self.latency[link].sample(&mut self.rng) + extra + self.reorder_delay();
        let duplicate = (!self.config.duplicate_rate.is_never()
            && self.rng.chance(self.config.duplicate_rate))
        .then(|| self.latency[link].sample(&mut self.rng) + extra + self.reorder_delay());
        let corrupt =
            !self.config.corrupt_rate.is_never() && self.rng.chance(self.config.corrupt_rate);
        Verdict::Deliver {
            delay,
            duplicate,
            epoch: self.epochs[link],
            corrupt,
        }
    }

    /// The extra delay of an active reorder window (none when no window is active).
    fn reorder_delay(&mut self) -> SimDuration {
        match self.reorder.iter().max() {
            Some(max) => SimDuration::from_micros(self.rng.between(0, max.as_micros())),
            None => SimDuration::ZERO,
        }
    }

    /// Starts (`add`) or ends a reorder window.
    pub fn set_reorder(&mut self, extra_max: SimDuration, add: bool) {
        if add {
            self.reorder.push(extra_max);
        } else if let Some(i) = self.reorder.iter().position(|&e| e == extra_max) {
            self.reorder.remove(i);
        }
    }

    /// Holds (`hold = true`) or releases one directed link, counting overlapping faults.
    pub fn set_hold(&mut self, from: NodeId, to: NodeId, hold: bool) {
        if from == to || from.index() >= self.size || to.index() >= self.size {
            return;
        }
        let link = self.link(from, to);
        if hold {
            self.holds[link] += 1;
        } else {
            assert!(
                self.holds[link] > 0,
                "releasing {from}->{to}, which is not held"
            );
            self.holds[link] -= 1;
        }
    }

    /// True if messages on `from` → `to` are held now.
    #[inline]
    pub fn is_held(&self, from: NodeId, to: NodeId) -> bool {
        self.holds[self.link(from, to)] > 0
    }

    /// A fresh one-way delay for a held message released now.
    pub fn release_delay(&mut self, from: NodeId, to: NodeId) -> SimDuration {
        let link = self.link(from, to);
        self.latency[link].sample(&mut self.rng) + self.lag[from.index()] + self.lag[to.index()]
    }

    /// True if a message sent with `epoch` may still arrive over `from` → `to`.
    #[inline]
    pub fn survives(&self, from: NodeId, to: NodeId, epoch: u32) -> bool {
        let link = self.link(from, to);
        self.cuts[link] == 0 && self.epochs[link] == epoch
    }

    /// The delay of a message between a client and `node` (either direction).
    pub fn client_delay(&self, node: NodeId, rng: &mut SimRng) -> SimDuration {
        let latency = self.config.client_latency.as_ref();
        latency.unwrap_or(&self.config.latency).sample(rng) + self.lag[node.index()]
    }

    /// Cuts (`cut = true`) or restores one directed link, counting overlapping faults.
    pub fn set_cut(&mut self, from: NodeId, to: NodeId, cut: bool) {
        if from == to || from.index() >= self.size || to.index() >= self.size {
            return;
        }
        let link = self.link(from, to);
        if cut {
            if self.cuts[link] == 0 {
                self.epochs[link] = self.epochs[link].wrapping_add(1);
            }
            self.cuts[link] += 1;
        } else {
            assert!(
                self.cuts[link] > 0,
                "healing {from}->{to}, which is not cut"
            );
            self.cuts[link] -= 1;
        }
    }

    /// True if `from` → `to` is cut now.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cuts[self.link(from, to)] > 0
    }

    /// Adds (or, with `add = false`, removes) extra delay for a node.
    pub fn set_lag(&mut self, node: NodeId, extra: SimDuration, add: bool) {
        let lag = &mut self.lag[node.index()];
        *lag = if add {
            *lag + extra
        } else {
            SimDuration::from_micros(
                lag.as_micros()
                    .checked_sub(extra.as_micros())
                    .expect("lag underflow"),
            )
        };
    }

    /// Heals every cut, lag, hold and reorder window (end of the workload).
    pub fn heal(&mut self) {
        self.cuts.fill(0);
        self.lag.fill(SimDuration::ZERO);
        self.holds.fill(0);
        self.reorder.clear();
    }

    /// The network's own random stream (for tests).
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }
}

/// A message in flight, as the simulator stores it.
pub(crate) struct Envelope<M> {
    pub(crate) from: NodeId,
    pub(crate) to: NodeId,
    pub(crate) epoch: u32,
    /// The target's incarnation at send time.
    pub(crate) incarnation: u32,
    pub(crate) sent_at: SimTime,
    pub(crate) trace_id: u64,
    /// Arrives corrupted: the receiver's checksum drops it.
    pub(crate) corrupt: bool,
    pub(crate) msg: M,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(size: usize) -> Network {
        Network::new(NetworkConfig::default(), size, SimRng::stream(1, "network"))
    }

    #[test]
    fn a_partition_cuts_exactly_the_links_across_it() {
        let mut net = network(4);
        // {n0, n1} | {n2, n3}
        for a in [0, 1] {
            for b in [2, 3] {
                net.set_cut(NodeId(a), NodeId(b), true);
                net.set_cut(NodeId(b), NodeId(a), true);
            }
        }
        for from in 0..4u16 {
            for to in 0..4u16 {
                if from == to {
                    continue;
                }
                let across = (from < 2) != (to < 2);
                let verdict = net.route(NodeId(from), NodeId(to));
                assert_eq!(
                    matches!(verdict, Verdict::Drop(DropReason::Cut)),
                    across,
                    "{from}->{to}"
                );
            }
        }
    }

    #[test]
    fn a_message_in_flight_across_a_cut_is_lost_even_if_it_heals() {
        let mut net = network(2);
        let Verdict::Deliver { epoch, .. } = net.route(NodeId(0), NodeId(1)) else {
            panic!()
        };
        assert!(net.survives(NodeId(0), NodeId(1), epoch));
        net.set_cut(NodeId(0), NodeId(1), true);
        assert!(!net.survives(NodeId(0), NodeId(1), epoch));
        net.set_cut(NodeId(0), NodeId(1), false);
        assert!(!net.survives(NodeId(0), NodeId(1), epoch));
        // The other direction was never cut.
        let Verdict::Deliver { epoch, .. } = net.route(NodeId(1), NodeId(0)) else {
            panic!()
        };
        assert!(net.survives(NodeId(1), NodeId(0), epoch));
    }

    #[test]
    fn overlapping_cuts_heal_only_when_all_end() {
        let mut net = network(2);
        net.set_cut(NodeId(0), NodeId(1), true);
        net.set_cut(NodeId(0), NodeId(1), true);
        net.set_cut(NodeId(0), NodeId(1), false);
        assert!(net.is_cut(NodeId(0), NodeId(1)));
        net.set_cut(NodeId(0), NodeId(1), false);
        assert!(!net.is_cut(NodeId(0), NodeId(1)));
    }

    #[test]
    fn lag_and_link_overrides_add_up() {
        let config = NetworkConfig {
            latency: Latency::Constant(SimDuration::from_millis(1)),
            links: vec![LinkConfig {
                from: NodeId(0),
                to: NodeId(2),
                latency: Latency::Constant(SimDuration::from_millis(40)),
            }],
            ..NetworkConfig::default()
        };
        let mut net = Network::new(config, 3, SimRng::stream(1, "network"));
        net.set_lag(NodeId(2), SimDuration::from_millis(200), true);
        let delay = |net: &mut Network, a, b| match net.route(NodeId(a), NodeId(b)) {
            Verdict::Deliver { delay, .. } => delay.as_micros() / 1000,
            Verdict::Drop(r) => panic!("{r:?}"),
        };
        assert_eq!(delay(&mut net, 0, 2), 240);
        assert_eq!(delay(&mut net, 2, 0), 201);
        assert_eq!(delay(&mut net, 0, 1), 1);
        net.set_lag(NodeId(2), SimDuration::from_millis(200), false);
        assert_eq!(delay(&mut net, 0, 2), 40);
    }

    #[test]
    fn clients_see_client_latency_when_set_and_latency_otherwise() {
        let mut rng = SimRng::stream(1, "clients");
        let mut config = NetworkConfig {
            latency: Latency::Constant(SimDuration::from_millis(5)),
            ..NetworkConfig::default()
        };
        let net = Network::new(config.clone(), 2, SimRng::stream(1, "network"));
        assert_eq!(net.client_delay(NodeId(1), &mut rng).as_micros(), 5_000);
        config.client_latency = Some(Latency::Constant(SimDuration::from_micros(300)));
        let mut net = Network::new(config, 2, SimRng::stream(1, "network"));
        assert_eq!(net.client_delay(NodeId(1), &mut rng).as_micros(), 300);
        // A lagging node's clients wait for the lag too; nodes keep `latency`.
        net.set_lag(NodeId(1), SimDuration::from_millis(2), true);
        assert_eq!(net.client_delay(NodeId(1), &mut rng).as_micros(), 2_300);
        match net.route(NodeId(0), NodeId(1)) {
            Verdict::Deliver { delay, .. } => assert_eq!(delay.as_micros(), 7_000),
            Verdict::Drop(r) => panic!("{r:?}"),
        }
    }

    #[test]
    fn drop_and_duplicate_rates_are_honoured() {
        let config = NetworkConfig {
            drop_rate: Probability::new(0.2),
            duplicate_rate: Probability::new(0.1),
            ..NetworkConfig::default()
        };
        let mut net = Network::new(config, 2, SimRng::stream(9, "network"));
        let (mut dropped, mut duplicated) = (0, 0);
        for _ in 0..100_000 {
            match net.route(NodeId(0), NodeId(1)) {
                Verdict::Drop(DropReason::Random) => dropped += 1,
                Verdict::Deliver {
                    duplicate: Some(_), ..
                } => duplicated += 1,
                _ => {}
            }
        }
        assert!((19_000..21_000).contains(&dropped), "{dropped}");
        // Duplicates are drawn among the 80% not dropped.
        assert!((7_400..8_600).contains(&duplicated), "{duplicated}");
    }

    #[test]
    fn growing_keeps_cuts() {
        let mut net = network(2);
        net.set_cut(NodeId(1), NodeId(0), true);
        net.resize(3);
        assert!(net.is_cut(NodeId(1), NodeId(0)));
        assert!(!net.is_cut(NodeId(2), NodeId(0)));
    }
}
