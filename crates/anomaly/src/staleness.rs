//! The staleness curve: how likely a read is to see the latest acknowledged write, as a
//! function of how long after that write's acknowledgement the read started. This is the
//! *t-visibility* of Bailis et al., "Probabilistically Bounded Staleness for Practical
//! Partial Quorums" (VLDB 2012), measured on a history instead of predicted from latency
//! distributions, so a simulated run can be held against their measurements of real
//! partial-quorum systems (and `repsim check` can draw it for any history).
//!
//! **Definition.** For each `ok` read R of key k, let W be the write of k whose `ok` came
//! last before R's invoke (by event position; reads with no such write are counted apart,
//! in `without_prior_write`). Let `t` = R's invoke time − W's `ok` time (`time_ms`). R is
//! *consistent* if it returned W or a write that is not older than W: some value it
//! returned names a write A of k that did not `fail` and does not precede W (`A → W`,
//! SPEC §4: A's `ok` came before W's invoke). A read of siblings is consistent if any
//! sibling is; a read of `null`, of writes that all precede W, or of values that name no
//! write of k is not.
//!
//! So every inconsistent read (that returned no phantom) is a `stale_read` (W is the `B`
//! of SPEC §4), and concurrency never makes a read inconsistent: under strict quorums
//! the curve is 1 at every `t`. (A `stale_read` can still count as consistent when the
//! write it missed was not the last acknowledged one.) Counting a write concurrent with
//! W but invoked before it as older, as a literal reading of "the latest version" in
//! Bailis et al. would, makes strict quorums look stale whenever writes overlap; a
//! history gives no order between concurrent writes, so this curve does not guess one.
//!
//! **Bins.** `t` falls into one of the fixed bins [`BIN_EDGES_MS`] (`[0, 1)`, `[1, 2)`,
//! `[2, 5)`, ..., `[500, ∞)` ms), roughly logarithmic as the curve flattens. Each bin gives
//! the number of reads, how many were consistent, the proportion and its 95% Wilson score
//! interval (z = 1.959964), which stays inside [0, 1] and behaves for small counts.
//! Proportions and bounds are rounded to 4 decimals.
//!
//! Only register keys count: a counter or set key (one with an `increment`, `add` or
//! `remove`, and in a history with such keys one that is only read; see the crate doc)
//! is left out entirely, its reads included, and a history with no register key has an
//! empty curve whose `skipped` says so. The analysis needs unique written
//! values (a value must name its write); when values repeat, or the history is
//! malformed, the curve is empty and `skipped` says why.
//! Cost: one pass over the events after pairing operations; O(n) memory.

use std::fmt::Write as _;

use repsim_history::{Function, History, Outcome};

use crate::prepare::{Base, KeyClasses, NONE, Prepared, ValueIndex};

/// Lower edges of the bins, in ms; the last bin has no upper edge.
pub const BIN_EDGES_MS: [f64; 10] = [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0];

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959964;

/// One bin of the curve.
#[derive(Clone, Debug, PartialEq)]
pub struct Bin {
    /// Lower edge (inclusive), ms.
    pub from_ms: f64,
    /// Upper edge (exclusive), ms; `None` for the last bin.
    pub to_ms: Option<f64>,
    /// Reads whose `t` falls here.
    pub reads: u64,
    /// Of those, the consistent ones.
    pub consistent: u64,
    /// `consistent / reads`; `None` without reads.
    pub probability: Option<f64>,
    /// 95% Wilson interval of the probability; `None` without reads.
    pub ci95: Option<(f64, f64)>,
}

/// The staleness curve of a history.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// The bins, in order of `t` (always all of them, empty or not).
    pub bins: Vec<Bin>,
    /// Reads placed in bins.
    pub reads: u64,
    /// Of those, the consistent ones.
    pub consistent: u64,
    /// `ok` reads of a key no write of which had been acknowledged before they began.
    pub without_prior_write: u64,
    /// Why there is no curve (malformed history, repeated values), if there is none.
    pub skipped: Option<String>,
}

/// Rounds to 4 decimals, so reports stay short and stable.
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The 95% Wilson score interval of `successes` out of `n` (n > 0).
pub fn wilson95(successes: u64, n: u64) -> (f64, f64) {
    assert!(n > 0 && successes <= n, "{successes} of {n}");
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    ((center - half).max(0.0), (center + half).min(1.0))
}

fn bin_of(t_ms: f64) -> usize {
    BIN_EDGES_MS.partition_point(|&edge| edge <= t_ms).max(1) - 1
}

impl Default for Curve {
    /// The curve of a history without reads: every bin empty, nothing skipped.
    fn default() -> Curve {
        Curve::empty(None)
    }
}

impl Curve {
    pub(crate) fn empty(skipped: Option<String>) -> Curve {
        let bins = (0..BIN_EDGES_MS.len())
            .map(|i| Bin {
                from_ms: BIN_EDGES_MS[i],
                to_ms: BIN_EDGES_MS.get(i + 1).copied(),
                reads: 0,
                consistent: 0,
                probability: None,
                ci95: None,
            })
            .collect();
        Curve {
            bins,
            reads: 0,
            consistent: 0,
            without_prior_write: 0,
            skipped,
        }
    }

    fn add(&mut self, t_ms: f64, consistent: bool) {
        let bin = &mut self.bins[bin_of(t_ms)];
        bin.reads += 1;
        bin.consistent += u64::from(consistent);
        self.reads += 1;
        self.consistent += u64::from(consistent);
    }

    fn finish(mut self) -> Curve {
        for bin in &mut self.bins {
            if bin.reads > 0 {
                bin.probability = Some(round4(bin.consistent as f64 / bin.reads as f64));
                let (low, high) = wilson95(bin.consistent, bin.reads);
                bin.ci95 = Some((round4(low), round4(high)));
            }
        }
        self
    }

    /// The curve as JSON: `{"reads", "consistent", "without_prior_write", "skipped",
    /// "bins": [{"from_ms", "to_ms", "reads", "consistent", "probability", "ci95"}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let bins: Vec<serde_json::Value> = self
            .bins
            .iter()
            .map(|b| {
                serde_json::json!({
                    "from_ms": b.from_ms,
                    "to_ms": b.to_ms,
                    "reads": b.reads,
                    "consistent": b.consistent,
                    "probability": b.probability,
                    "ci95": b.ci95.map(|(low, high)| [low, high]),
                })
            })
            .collect();
        serde_json::json!({
            "reads": self.reads,
            "consistent": self.consistent,
            "without_prior_write": self.without_prior_write,
            "skipped": self.skipped,
            "bins": bins,
        })
    }

    /// One line for the run summary: the probability per non-empty bin.
    pub fn summary(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!("staleness: skipped: {why}");
        }
        let mut line = String::from(
            "staleness (P[read sees the last acknowledged write or newer], by ms after its ack):",
        );
        if self.reads == 0 {
            line.push_str(" no read followed an acknowledged write");
        }
        for bin in self.bins.iter().filter(|b| b.reads > 0) {
            let range = match bin.to_ms {
                Some(to) => format!("{}-{}", bin.from_ms, to),
                None => format!("{}+", bin.from_ms),
            };
            let p = bin.probability.unwrap_or_default();
            write!(line, " {range} {p:.3} (n={})", bin.reads).expect("a String");
        }
        line
    }
}

/// The staleness curve of `history` (see the module documentation). [`crate::check`]
/// computes the same curve from the preparation it shares with the anomaly kinds (in
/// [`crate::Findings::staleness`]); this builds that preparation for the curve alone.
pub fn curve(history: &History) -> Curve {
    let all = match Base::new(history) {
        Ok(all) => all,
        Err(e) => return Curve::empty(Some(format!("malformed history: {e}"))),
    };
    let classes = KeyClasses::new(&all);
    if classes.any_crdt() && !classes.any_register() {
        return Curve::empty(Some(crate::NO_REGISTER_KEYS.to_owned()));
    }
    let registers = if classes.any_crdt() {
        all.register_only(&classes)
    } else {
        all
    };
    match ValueIndex::build(&registers) {
        Ok(values) => of(&Prepared::new(registers, values)),
        Err(reason) => Curve::empty(Some(reason)),
    }
}

/// The curve from the register keys' prepared operations: one pass over the events.
pub(crate) fn of(prepared: &Prepared<'_>) -> Curve {
    let base = &prepared.base;
    // Per dense key: the latest acknowledged write, as (invoke position, ok time).
    let mut latest: Vec<Option<(u32, f64)>> = vec![None; base.keys.len()];
    let mut result = Curve::empty(None);
    for (position, (event, &op)) in base.history.events.iter().zip(&base.op_at).enumerate() {
        // Counter and set keys' operations are not in `base` (`NONE`).
        if op == NONE || base.ops[op as usize].outcome != Outcome::Ok {
            continue;
        }
        let key = base.key[op as usize];
        let operation = &base.ops[op as usize];
        if operation.invoke as usize != position {
            // An ok write's acknowledgement.
            if base.is_write(op) {
                latest[key as usize] = Some((operation.invoke, event.time_ms));
            }
            continue;
        }
        if operation.f != Function::Read {
            continue;
        }
        let Some((w_invoke, w_ok_ms)) = latest[key as usize] else {
            result.without_prior_write += 1;
            continue;
        };
        // Not older than W: not `A → W`, i.e. A's ok (if any) is not before W's invoke.
        let consistent = base.read_values(op).iter().any(|&value| {
            prepared.write_of(value).is_some_and(|a| {
                base.key[a as usize] == key
                    && base.ops[a as usize].outcome != Outcome::Fail
                    && base.ok_at(a).unwrap_or(u32::MAX) > w_invoke
            })
        });
        result.add((event.time_ms - w_ok_ms).max(0.0), consistent);
    }
    result.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::history;

    /// The script language of `crate::testing`, with event `i` at time `i` ms, so `t` is
    /// the number of steps between the write's `ok` and the read's invoke.
    fn curve_of(script: &str) -> Curve {
        curve(&history(script))
    }

    fn counts(c: &Curve) -> Vec<(u64, u64)> {
        c.bins.iter().map(|b| (b.reads, b.consistent)).collect()
    }

    #[test]
    fn a_read_of_the_last_acknowledged_write_is_consistent() {
        // w1 ok at 1 ms; the read starts at 2 ms: t = 1, bin [1, 2).
        let c = curve_of("0 w k0 1; 0 ok; 1 r k0; 1 ok 1");
        assert_eq!(c.reads, 1);
        assert_eq!(c.consistent, 1);
        assert_eq!(counts(&c)[1], (1, 1));
        assert_eq!(c.bins[1].probability, Some(1.0));
    }

    #[test]
    fn null_or_an_older_write_is_not() {
        let c = curve_of("0 w k0 1; 0 ok; 1 r k0; 1 ok -");
        assert_eq!((c.reads, c.consistent), (1, 0));
        // w1 → w2; the read at 4 ms sees w1: t = 4 - 3 = 1.
        let c = curve_of("0 w k0 1; 0 ok; 0 w k0 2; 0 ok; 1 r k0; 1 ok 1");
        assert_eq!((c.reads, c.consistent), (1, 0));
        assert_eq!(counts(&c)[1], (1, 0));
    }

    #[test]
    fn a_newer_write_even_unacknowledged_is_consistent() {
        // w2 is invoked after w1 and still in flight when the read returns it.
        let c = curve_of("0 w k0 1; 0 ok; 0 w k0 2; 1 r k0; 1 ok 2");
        assert_eq!((c.reads, c.consistent), (1, 1));
    }

    #[test]
    fn a_write_concurrent_with_the_last_acknowledged_one_is_consistent() {
        // w2 invoked before w1 and acknowledged after w1 was invoked: concurrent.
        let c = curve_of("1 w k0 2; 0 w k0 1; 0 ok; 1 ok; 2 r k0; 2 ok 1");
        assert_eq!((c.reads, c.consistent), (1, 1));
        let c = curve_of("1 w k0 2; 0 w k0 1; 1 ok; 0 ok; 2 r k0; 2 ok 2");
        assert_eq!((c.reads, c.consistent), (1, 1));
        // But w2 acknowledged before w1 was invoked precedes it.
        let c = curve_of("1 w k0 2; 1 ok; 0 w k0 1; 0 ok; 2 r k0; 2 ok 2");
        assert_eq!((c.reads, c.consistent), (1, 0));
    }

    #[test]
    fn an_info_write_never_precedes() {
        let c = curve_of("1 w k0 2; 1 info; 0 w k0 1; 0 ok; 2 r k0; 2 ok 2");
        assert_eq!((c.reads, c.consistent), (1, 1));
    }

    #[test]
    fn siblings_are_consistent_if_any_sibling_is() {
        let c = curve_of("0 w k0 1; 0 ok; 0 w k0 2; 0 ok; 1 r k0; 1 ok 1,2");
        assert_eq!((c.reads, c.consistent), (1, 1));
    }

    #[test]
    fn reads_without_a_prior_write_and_other_keys_do_not_count() {
        let c = curve_of("1 r k0; 1 ok -; 0 w k1 1; 0 ok; 1 r k0; 1 ok -");
        assert_eq!(c.reads, 0);
        assert_eq!(c.without_prior_write, 2);
        assert!(c.bins.iter().all(|b| b.probability.is_none()));
        // A value of another key, or of a failed write, is not consistent.
        let c = curve_of("0 w k1 1; 0 ok; 0 w k0 2; 0 ok; 1 r k0; 1 ok 1");
        assert_eq!((c.reads, c.consistent), (1, 0));
        let c = curve_of("0 w k0 1; 0 ok; 0 w k0 2; 0 fail; 1 r k0; 1 ok 2");
        assert_eq!((c.reads, c.consistent), (1, 0));
    }

    #[test]
    fn t_is_measured_from_the_ok_to_the_invoke_and_binned() {
        // w1's ok at 1 ms; reads of k0 invoked at 2, 4, 10 and 28 ms.
        let mut script = String::from("0 w k0 1; 0 ok; 1 r k0; 1 ok 1; 2 r k0");
        // Pad with unrelated steps so the next invokes land at the wanted times.
        script.push_str("; 2 ok -; 3 r k1; 3 ok -; 4 r k1; 4 ok -; 1 r k0; 1 ok 1");
        for _ in 0..8 {
            script.push_str("; 3 r k1; 3 ok -");
        }
        script.push_str("; 2 r k0; 2 ok 1");
        let c = curve_of(&script);
        // t = 1 (consistent), 3 (null), 9 (consistent), 27 (consistent).
        assert_eq!(c.reads, 4);
        let by_bin = counts(&c);
        assert_eq!(by_bin[1], (1, 1), "[1, 2)");
        assert_eq!(by_bin[2], (1, 0), "[2, 5): t = 3, the null read");
        assert_eq!(by_bin[3], (1, 1), "[5, 10): t = 9");
        assert_eq!(by_bin[5], (1, 1), "[20, 50): t = 27");
        assert_eq!(c.without_prior_write, 10, "the reads of k1");
    }

    #[test]
    fn bins_cover_every_t() {
        assert_eq!(bin_of(0.0), 0);
        assert_eq!(bin_of(0.999), 0);
        assert_eq!(bin_of(1.0), 1);
        assert_eq!(bin_of(499.0), 8);
        assert_eq!(bin_of(1e9), 9);
    }

    #[test]
    fn wilson_intervals_match_known_values() {
        // 8 of 10: [0.4902, 0.9433] (Wilson 1927; as in R's prop.test without correction).
        let (low, high) = wilson95(8, 10);
        assert_eq!((round4(low), round4(high)), (0.4902, 0.9433));
        let (low, high) = wilson95(0, 5);
        assert_eq!(low, 0.0);
        assert!((0.43..0.44).contains(&high), "{high}");
        let (low, high) = wilson95(5, 5);
        assert_eq!(high, 1.0);
        assert!(low > 0.5);
    }

    #[test]
    fn counter_and_set_keys_are_left_out() {
        // k1 is a counter: its write and read would make an inconsistent read of a
        // register (the read of 0 after w5); the read of k0 is placed as usual.
        let c = curve_of(
            "0 w k0 1; 0 ok; 1 w k1 5; 1 ok; 1 inc k1 2; 1 ok; 2 r k1; 2 ok #0; 2 r k0; 2 ok 1",
        );
        assert_eq!((c.reads, c.consistent, c.without_prior_write), (1, 1, 0));
        assert_eq!(c.skipped, None);
        // Elements repeat across adds without making values repeat.
        let c = curve_of("0 add k2 e1; 0 ok; 1 add k2 e1; 1 ok; 2 r k2; 2 ok [e1]");
        assert_eq!(c.skipped.as_deref(), Some(crate::NO_REGISTER_KEYS));
        assert_eq!(c.reads, 0);
        assert!(c.summary().contains("skipped: no read/write register keys"));
    }

    #[test]
    fn repeated_values_skip_the_curve() {
        let c = curve_of("0 w k0 1; 0 ok; 1 w k0 1; 1 ok; 2 r k0; 2 ok 1");
        assert!(
            c.skipped
                .as_deref()
                .is_some_and(|s| s.starts_with("values repeat")),
            "{c:?}"
        );
        assert_eq!(c.reads, 0);
        assert!(c.summary().contains("skipped"));
        let json = c.to_json();
        assert_eq!(
            json["bins"].as_array().map(Vec::len),
            Some(BIN_EDGES_MS.len())
        );
    }
}
