//! The report of a run (SPEC §5): `report.json`, the short human summary printed after a
//! run, and the verdict on the scenario's `expect` block.
//!
//! Every field is computed from ordered data, and nothing machine-dependent (wall time,
//! host, absolute paths) goes into `report.json`, so the same scenario and seed give the
//! same bytes everywhere.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use repsim_anomaly::Kind;
use repsim_history::{Function, Outcome};
use serde::Serialize;

use crate::run::{RunResult, protocol_kind};
use crate::scenario::{ProtocolConfig, Scenario};

/// Number of equal time windows the workload is split into for availability over time.
pub const AVAILABILITY_WINDOWS: u64 = 20;

/// `report.json`. Field names and meanings of SPEC §5 are fixed; the rest are additions.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Scenario description.
    pub description: String,
    /// Seed of this run.
    pub seed: u64,
    /// repsim version that produced it.
    pub version: &'static str,
    /// Protocol kind.
    pub protocol: &'static str,
    /// How the run ended: `quiet`, `not_quiet` or `budget_exhausted`.
    pub outcome: &'static str,
    /// Anomaly kind → count, for every kind checked.
    pub anomalies: BTreeMap<&'static str, u64>,
    /// Anomaly kind → indexes of the first flagged operations.
    pub examples: BTreeMap<&'static str, Vec<u64>>,
    /// Anomaly kind → the first flags, explained.
    pub details: BTreeMap<&'static str, Vec<FlagReport>>,
    /// Anomaly kind → why it was not checked.
    pub skipped: BTreeMap<&'static str, String>,
    /// Anomaly kind → the keys it could not decide within its budget (SPEC §4: reported
    /// as unknown, never as a pass): `{"linearizability": ["k3"]}`, or `{}` when every
    /// key was decided. The same field as in `repsim check --json`.
    pub unknown: BTreeMap<&'static str, Vec<String>>,
    /// Operation counts by `f` and completion type.
    pub ops: BTreeMap<&'static str, OpCounts>,
    /// Latency of `ok` operations by `f`.
    pub latency_ms: BTreeMap<&'static str, Percentiles>,
    /// Replication lag per replica that applies others' writes (single-leader followers,
    /// multi-leader peers), as each measured it; `null` for protocols without a
    /// replication log.
    pub replication_lag_ms: Option<BTreeMap<String, Percentiles>>,
    /// Share of completed operations that succeeded, overall and per time window.
    pub availability: Availability,
    /// The staleness curve: how likely a read is to see the last acknowledged write, by
    /// time since its acknowledgement (see `repsim_anomaly::staleness`).
    #[serde(serialize_with = "serialize_staleness")]
    pub staleness: repsim_anomaly::staleness::Curve,
    /// Node-to-node messages.
    pub messages: Messages,
    /// How often each protocol code path ran (elections, snapshots, truncations, ...).
    pub protocol_events: BTreeMap<&'static str, u64>,
    /// Simulator figures (wall time is printed, never written here).
    pub sim: SimFigures,
    /// The bounds the run had; an `outcome` of `budget_exhausted` or `not_quiet` means it
    /// reached one of them.
    pub limits: LimitsReport,
    /// Recovery times: convergence after the faults healed, failover gaps, and each
    /// node's unavailability windows.
    pub liveness: crate::liveness::Liveness,
    /// The fault schedule the run used, the `random` nemesis expanded.
    pub faults: Vec<FaultReport>,
    /// The scenario's `expect` block, evaluated.
    pub expect: Vec<ExpectResult>,
    /// True when every expectation is met (or there are none).
    pub expect_met: bool,
    /// The command that reproduces this run.
    pub reproduce: String,
    /// Each node's key → value map at the end.
    pub final_state: serde_json::Value,
}

/// One flagged anomaly.
#[derive(Debug, Serialize)]
pub struct FlagReport {
    /// Index of the flagged operation.
    pub index: u64,
    /// Indexes of the other operations involved.
    pub involved: Vec<u64>,
    /// What is wrong, in words.
    pub message: String,
}

/// Counts of one kind of operation.
#[derive(Debug, Default, Serialize)]
pub struct OpCounts {
    /// Invoked.
    pub invoke: u64,
    /// Completed `ok`.
    pub ok: u64,
    /// Completed `fail`.
    pub fail: u64,
    /// Completed `info`, or never completed.
    pub info: u64,
}

/// Latency percentiles in milliseconds (nearest rank); `null` when there were none.
#[derive(Debug, Serialize)]
pub struct Percentiles {
    /// How many samples.
    pub count: u64,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

impl Percentiles {
    /// Percentiles of samples in microseconds (sorted in place).
    pub fn of_micros(samples: &mut [u64]) -> Percentiles {
        samples.sort_unstable();
        let rank = |p: f64| -> Option<f64> {
            if samples.is_empty() {
                return None;
            }
            // Nearest rank: the smallest sample with at least p of the samples at or below.
            let n = samples.len();
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            Some(samples[i] as f64 / 1000.0)
        };
        Percentiles {
            count: samples.len() as u64,
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: samples.last().map(|&m| m as f64 / 1000.0),
        }
    }
}

/// SPEC §5 availability: `rate` = ok / completed.
#[derive(Debug, Serialize)]
pub struct Availability {
    /// Operations completed `ok`.
    pub ok: u64,
    /// Completed `fail`.
    pub fail: u64,
    /// Completed `info` or never completed.
    pub info: u64,
    /// ok / (ok + fail + info); `null` when nothing completed.
    pub rate: Option<f64>,
    /// The `unavailable` anomaly as a rate: (fail + info) / (ok + fail + info).
    pub unavailable_rate: Option<f64>,
    /// The same per window of the workload, by invocation time.
    pub windows: Vec<Window>,
}

/// Availability in one time window.
#[derive(Debug, Serialize)]
pub struct Window {
    /// Start (inclusive).
    pub from_ms: f64,
    /// End (exclusive; the last window also holds later invocations).
    pub to_ms: f64,
    /// Completed `ok`.
    pub ok: u64,
    /// Completed `fail`.
    pub fail: u64,
    /// Completed `info` or never.
    pub info: u64,
    /// ok / all; `null` when none.
    pub rate: Option<f64>,
    /// (fail + info) / all; `null` when none.
    pub unavailable_rate: Option<f64>,
}

/// SPEC §5 messages.
#[derive(Debug, Serialize)]
pub struct Messages {
    /// Node-to-node messages sent.
    pub sent: u64,
    /// Delivered (duplicates included).
    pub delivered: u64,
    /// Lost, whatever the reason.
    pub dropped: u64,
    /// Lost to partitions and `link_down`.
    pub dropped_cut: u64,
    /// Lost to `drop_rate`.
    pub dropped_random: u64,
    /// Lost because the target was down.
    pub dropped_crashed: u64,
    /// Arrived corrupted and dropped by the receiver's checksum.
    pub dropped_corrupt: u64,
    /// Held by a clogged link and delivered late.
    pub held: u64,
    /// Extra copies from `duplicate_rate`.
    pub duplicated: u64,
}

/// SPEC §5 sim.
#[derive(Debug, Serialize)]
pub struct SimFigures {
    /// Events processed.
    pub events: u64,
    /// Simulated time at the end, ms.
    pub simulated_ms: f64,
    /// Most events pending at once.
    pub peak_pending_events: u64,
    /// Events that waited for a paused node.
    pub deferred_events: u64,
    /// Persisted records lost in crashes because they were not yet synced.
    pub storage_records_lost: u64,
}

/// The run's bounds.
#[derive(Debug, Serialize)]
pub struct LimitsReport {
    /// Most events.
    pub max_events: u64,
    /// Latest event time (ms), `null` for none.
    pub max_time_ms: Option<f64>,
    /// Longest settling time after the workload (ms).
    pub settle_ms: f64,
}

/// One fault of the schedule.
#[derive(Debug, Serialize)]
pub struct FaultReport {
    /// Start.
    pub at_ms: f64,
    /// End of a window.
    pub until_ms: Option<f64>,
    /// What it did.
    pub fault: String,
}

/// One expectation and whether it held.
#[derive(Debug, Serialize)]
pub struct ExpectResult {
    /// Anomaly kind.
    pub kind: String,
    /// Lower bound.
    pub min: Option<u64>,
    /// Upper bound.
    pub max: Option<u64>,
    /// The count this run found (`null` if the kind was not checked).
    pub actual: Option<u64>,
    /// Whether the bounds held.
    pub met: bool,
}

/// The command that reproduces a run of `file` at `seed`. An absolute path is cut to its
/// file name so reports do not depend on where a machine keeps its files.
pub fn reproduce_command(file: &str, seed: u64) -> String {
    let path = std::path::Path::new(file);
    let shown = if path.is_absolute() {
        path.file_name()
            .map_or_else(|| file.to_owned(), |n| n.to_string_lossy().into_owned())
    } else {
        file.to_owned()
    };
    format!("repsim run {shown} --seed {seed}")
}

/// The summary line for keys a checker left undecided: how many, and the first ten.
pub fn unknown_line(keys: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut list = keys[..keys.len().min(SHOWN)].join(", ");
    if keys.len() > SHOWN {
        write!(list, ", and {} more", keys.len() - SHOWN).expect("a String");
    }
    format!(
        "unknown for {} key{} (search budget exhausted; neither counted nor passed): {list}",
        keys.len(),
        if keys.len() == 1 { "" } else { "s" }
    )
}

fn serialize_staleness<S: serde::Serializer>(
    curve: &repsim_anomaly::staleness::Curve,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    curve.to_json().serialize(serializer)
}

fn rate(ok: u64, all: u64) -> Option<f64> {
    (all > 0).then(|| ok as f64 / all as f64)
}

fn micros(time_ms: f64) -> u64 {
    (time_ms * 1000.0).round() as u64
}

/// Writes `report.json`, `history.jsonl` and `final.json` into `dir` (created if needed).
pub fn write_outputs(
    dir: &std::path::Path,
    result: &RunResult,
    report: &Report,
) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("report.json"), report.to_json())?;
    let mut history = std::io::BufWriter::new(std::fs::File::create(dir.join("history.jsonl"))?);
    result.output.history.write_jsonl(&mut history)?;
    history.flush()?;
    std::fs::write(
        dir.join("final.json"),
        result.output.final_state.to_json(&result.output.history),
    )
}

/// Evaluates the `expect` block against the findings.
pub fn evaluate_expect(scenario: &Scenario, result: &RunResult) -> Vec<ExpectResult> {
    scenario
        .expect
        .iter()
        .map(|e| {
            let actual = Kind::from_name(&e.kind)
                .filter(|k| result.findings.counts.contains_key(k))
                .map(|k| result.findings.count(k));
            let met = actual
                .is_some_and(|a| e.min.is_none_or(|m| a >= m) && e.max.is_none_or(|m| a <= m));
            ExpectResult {
                kind: e.kind.clone(),
                min: e.min,
                max: e.max,
                actual,
                met,
            }
        })
        .collect()
}

/// Builds the report of a run.
pub fn build(scenario: &Scenario, result: &RunResult) -> Report {
    let history = &result.output.history;
    let findings = &result.findings;
    let ops = history.operations().unwrap_or_default();

    let mut counts: BTreeMap<&'static str, OpCounts> = BTreeMap::new();
    let mut latencies: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    let duration = scenario.duration.as_micros().max(1);
    let width = duration.div_ceil(AVAILABILITY_WINDOWS);
    let mut windows = [(0u64, 0u64, 0u64); AVAILABILITY_WINDOWS as usize];
    let (mut ok, mut fail, mut info) = (0, 0, 0);
    for op in &ops {
        let f = op.f.as_str();
        let entry = counts.entry(f).or_default();
        entry.invoke += 1;
        let invoke_time = history.events[op.invoke as usize].time_ms;
        let window = &mut windows[((micros(invoke_time) / width) as usize).min(windows.len() - 1)];
        match op.outcome {
            Outcome::Ok => {
                entry.ok += 1;
                ok += 1;
                window.0 += 1;
                let done =
                    history.events[op.completion.expect("ok has a completion") as usize].time_ms;
                latencies
                    .entry(f)
                    .or_default()
                    .push(micros(done).saturating_sub(micros(invoke_time)));
            }
            Outcome::Fail => {
                entry.fail += 1;
                fail += 1;
                window.1 += 1;
            }
            Outcome::Info | Outcome::Pending => {
                entry.info += 1;
                info += 1;
                window.2 += 1;
            }
        }
    }
    for f in [Function::Read, Function::Write] {
        counts.entry(f.as_str()).or_default();
        latencies.entry(f.as_str()).or_default();
    }
    let latency_ms = latencies
        .into_iter()
        .map(|(f, mut l)| (f, Percentiles::of_micros(&mut l)))
        .collect();

    let mut anomalies = BTreeMap::new();
    let mut examples = BTreeMap::new();
    let mut details = BTreeMap::new();
    for (&kind, &count) in &findings.counts {
        anomalies.insert(kind.name(), count);
        examples.insert(kind.name(), findings.example_indexes(kind));
        let flags = findings
            .examples
            .get(&kind)
            .map(Vec::as_slice)
            .unwrap_or_default();
        details.insert(
            kind.name(),
            flags
                .iter()
                .map(|f| FlagReport {
                    index: f.index,
                    involved: f.involved.clone(),
                    message: f.message.clone(),
                })
                .collect(),
        );
    }
    let skipped = findings
        .skipped
        .iter()
        .map(|(k, why)| (k.name(), why.clone()))
        .collect();

    let stats = &result.output.stats;
    let expect = evaluate_expect(scenario, result);
    let expect_met = expect.iter().all(|e| e.met);
    let final_state = serde_json::from_str(&result.output.final_state.to_json(history))
        .expect("the final state writer produces JSON");
    Report {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        seed: result.seed,
        version: env!("CARGO_PKG_VERSION"),
        protocol: protocol_kind(&scenario.protocol),
        outcome: result.output.outcome.as_str(),
        anomalies,
        examples,
        details,
        skipped,
        unknown: findings.unknown_json(),
        ops: counts,
        latency_ms,
        replication_lag_ms: matches!(scenario.protocol, ProtocolConfig::SingleLeader(_)).then(
            || {
                result
                    .output
                    .lag
                    .iter()
                    .map(|(node, samples)| {
                        let mut micros: Vec<u64> =
                            samples.iter().map(|(_, lag)| lag.as_micros()).collect();
                        (node.to_string(), Percentiles::of_micros(&mut micros))
                    })
                    .collect()
            },
        ),
        availability: Availability {
            ok,
            fail,
            info,
            rate: rate(ok, ok + fail + info),
            unavailable_rate: rate(fail + info, ok + fail + info),
            windows: windows
                .iter()
                .enumerate()
                .map(|(i, &(ok, fail, info))| Window {
                    from_ms: (i as u64 * width) as f64 / 1000.0,
                    to_ms: ((i as u64 + 1) * width).min(duration) as f64 / 1000.0,
                    ok,
                    fail,
                    info,
                    rate: rate(ok, ok + fail + info),
                    unavailable_rate: rate(fail + info, ok + fail + info),
                })
                .collect(),
        },
        staleness: result.findings.staleness.clone(),
        messages: Messages {
            sent: stats.sent,
            delivered: stats.delivered,
            dropped: stats.dropped(),
            dropped_cut: stats.dropped_cut,
            dropped_random: stats.dropped_random,
            dropped_crashed: stats.dropped_crashed,
            dropped_corrupt: stats.dropped_corrupt,
            held: stats.held,
            duplicated: stats.duplicated,
        },
        protocol_events: result.output.counters.clone(),
        sim: SimFigures {
            events: stats.events,
            simulated_ms: result.output.end.as_ms(),
            peak_pending_events: stats.peak_pending,
            deferred_events: stats.deferred,
            storage_records_lost: stats.records_lost,
        },
        liveness: crate::liveness::measure(
            history,
            &result.output.roles,
            result.output.outcome,
            scenario.duration,
            result.output.end,
        ),
        limits: LimitsReport {
            max_events: scenario.limits.max_events,
            max_time_ms: (scenario.limits.max_time != repsim_sim::SimTime::MAX)
                .then(|| scenario.limits.max_time.as_ms()),
            settle_ms: scenario.limits.settle.as_ms(),
        },
        faults: result
            .faults
            .iter()
            .map(|f| FaultReport {
                at_ms: f.at.as_ms(),
                until_ms: f.until.map(|u| u.as_ms()),
                fault: f.action.describe(),
            })
            .collect(),
        expect,
        expect_met,
        reproduce: reproduce_command(&scenario.file, result.seed),
        final_state,
    }
}

impl Report {
    /// The report as pretty JSON text, ending in a newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a report always serializes");
        text.push('\n');
        text
    }

    /// The short human summary: one line per anomaly kind with its count and first
    /// example, latency percentiles, availability, expectations and how to reproduce.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        writeln!(
            w,
            "{} (protocol {}, seed {}): run ended {} at {} ms simulated, {} events",
            self.scenario,
            self.protocol,
            self.seed,
            self.outcome,
            self.sim.simulated_ms,
            self.sim.events
        )
        .unwrap();
        writeln!(w, "anomalies:").unwrap();
        // In the order of SPEC §4's table.
        let ordered = Kind::ALL
            .iter()
            .filter_map(|k| self.anomalies.get_key_value(k.name()));
        for (kind, count) in ordered {
            let first = self.details.get(kind).and_then(|d| d.first());
            match first {
                Some(flag) if *count > 0 => {
                    writeln!(w, "  {kind:<18} {count:>7}   first: {}", flag.message).unwrap()
                }
                _ => writeln!(w, "  {kind:<18} {count:>7}").unwrap(),
            }
        }
        for (kind, why) in &self.skipped {
            writeln!(w, "  {kind:<18} skipped: {why}").unwrap();
        }
        for (kind, keys) in &self.unknown {
            writeln!(w, "  {kind:<18} {}", unknown_line(keys)).unwrap();
        }
        writeln!(
            w,
            "latency (ms, ok operations)   count      p50      p90      p99      max"
        )
        .unwrap();
        for (f, p) in &self.latency_ms {
            let show = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
            writeln!(
                w,
                "  {f:<27} {:>7} {:>8} {:>8} {:>8} {:>8}",
                p.count,
                show(p.p50),
                show(p.p90),
                show(p.p99),
                show(p.max)
            )
            .unwrap();
        }
        let a = &self.availability;
        let rate = a
            .rate
            .map_or_else(|| "-".to_owned(), |r| format!("{:.2}%", r * 100.0));
        writeln!(
            w,
            "availability: {rate} ok ({} ok, {} fail, {} info)",
            a.ok, a.fail, a.info
        )
        .unwrap();
        writeln!(w, "{}", self.staleness.summary()).unwrap();
        writeln!(w, "{}", self.liveness.summary()).unwrap();
        let m = &self.messages;
        writeln!(
            w,
            "messages: {} sent, {} delivered, {} dropped ({} cut, {} random, {} to crashed nodes, {} corrupt), {} duplicated, {} held",
            m.sent, m.delivered, m.dropped, m.dropped_cut, m.dropped_random, m.dropped_crashed, m.dropped_corrupt, m.duplicated, m.held
        )
        .unwrap();
        if self.sim.storage_records_lost > 0 || self.sim.deferred_events > 0 {
            writeln!(
                w,
                "storage: {} unsynced records lost in crashes; {} events waited for paused nodes",
                self.sim.storage_records_lost, self.sim.deferred_events
            )
            .unwrap();
        }
        if let Some(lag) = &self.replication_lag_ms {
            for (node, p) in lag {
                let show = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
                writeln!(
                    w,
                    "replication lag {node} (ms): p50 {} p99 {} max {} over {} entries",
                    show(p.p50),
                    show(p.p99),
                    show(p.max),
                    p.count
                )
                .unwrap();
            }
        }
        if !self.protocol_events.is_empty() {
            let events: Vec<String> = self
                .protocol_events
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            writeln!(w, "protocol events: {}", events.join(", ")).unwrap();
        }
        if !self.faults.is_empty() {
            writeln!(w, "faults: {} scheduled", self.faults.len()).unwrap();
        }
        if !self.expect.is_empty() {
            let parts: Vec<String> = self
                .expect
                .iter()
                .map(|e| {
                    let bound = match (e.min, e.max) {
                        (Some(lo), Some(hi)) => format!("{lo} <= {} <= {hi}", e.kind),
                        (Some(lo), None) => format!("{} >= {lo}", e.kind),
                        (None, Some(hi)) => format!("{} <= {hi}", e.kind),
                        (None, None) => e.kind.clone(),
                    };
                    let actual = e
                        .actual
                        .map_or_else(|| "not checked".to_owned(), |a| a.to_string());
                    format!("{bound}: {actual}{}", if e.met { "" } else { " NOT MET" })
                })
                .collect();
            writeln!(
                w,
                "expect: {} ({})",
                if self.expect_met { "met" } else { "NOT MET" },
                parts.join("; ")
            )
            .unwrap();
        }
        writeln!(w, "reproduce: {}", self.reproduce).unwrap();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        let p = Percentiles::of_micros(&mut samples);
        assert_eq!(
            (p.p50, p.p90, p.p99, p.max),
            (Some(50.0), Some(90.0), Some(99.0), Some(100.0))
        );
        let p = Percentiles::of_micros(&mut []);
        assert_eq!((p.count, p.p50), (0, None));
        let p = Percentiles::of_micros(&mut [1500]);
        assert_eq!((p.p50, p.p99), (Some(1.5), Some(1.5)));
    }

    #[test]
    fn unknown_keys_are_listed_ten_at_most() {
        assert_eq!(
            unknown_line(&["k0".to_owned()]),
            "unknown for 1 key (search budget exhausted; neither counted nor passed): k0"
        );
        let keys: Vec<String> = (0..12).map(|k| format!("k{k}")).collect();
        assert!(
            unknown_line(&keys).ends_with(": k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, and 2 more")
        );
    }

    #[test]
    fn reproduce_keeps_relative_paths_and_cuts_absolute_ones() {
        assert_eq!(
            reproduce_command("scenarios/a.json", 7),
            "repsim run scenarios/a.json --seed 7"
        );
        assert_eq!(
            reproduce_command("/home/me/a.json", 7),
            "repsim run a.json --seed 7"
        );
    }
}
