//! Sweeps: one scenario over many seeds, run in parallel, aggregated in seed order.
//!
//! Each seed is simulated and checked in this process (no per-seed process or file) and
//! reduced at once to a small [`SeedSummary`]. Summaries are kept by seed position and
//! aggregated in seed order, so the aggregate is byte-identical for any `--jobs`, and a
//! sweep split into shards (`--shard I/N`) and joined with `repsim merge` gives exactly
//! the aggregate of the whole sweep. Nothing in a summary or an aggregate depends on
//! wall time.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use repsim_anomaly::Kind;
use repsim_history::{EventType, Function};
use serde::{Deserialize, Serialize};

use crate::report::reproduce_command;
use crate::run;
use crate::scenario::{Expectation, Scenario};

/// How many seeds per anomaly kind the aggregate lists with their reproduce command.
pub const LISTED_SEEDS: usize = 10;

/// A latency histogram with buckets of at most 1/16 (6.25%) relative width: exact below
/// 64 µs, then 16 buckets per power of two.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bucket index → count.
    pub buckets: BTreeMap<u32, u64>,
}

impl Histogram {
    fn bucket(micros: u64) -> u32 {
        if micros < 64 {
            return micros as u32;
        }
        let exponent = 63 - micros.leading_zeros();
        64 + (exponent - 6) * 16 + ((micros >> (exponent - 4)) & 15) as u32
    }

    /// The largest value in a bucket, in µs.
    fn upper(bucket: u32) -> u64 {
        if bucket < 64 {
            return u64::from(bucket);
        }
        let exponent = (bucket - 64) / 16 + 6;
        let mantissa = u64::from((bucket - 64) % 16);
        ((16 + mantissa + 1) << (exponent - 4)) - 1
    }

    /// The largest value in a bucket, in ms.
    pub fn upper_ms(bucket: u32) -> f64 {
        Self::upper(bucket) as f64 / 1000.0
    }

    /// Counts one sample.
    pub fn add(&mut self, micros: u64) {
        *self.buckets.entry(Self::bucket(micros)).or_insert(0) += 1;
    }

    /// The histogram of samples counted per bucket index in `tally`.
    fn from_tally(tally: &[u64]) -> Histogram {
        Histogram {
            buckets: (0..)
                .zip(tally)
                .filter(|&(_, &count)| count > 0)
                .map(|(bucket, &count)| (bucket, count))
                .collect(),
        }
    }

    /// Counts one sample in a table indexed by bucket (cheaper per sample than the map;
    /// see [`Histogram::from_tally`]).
    fn tally(tally: &mut Vec<u64>, micros: u64) {
        let bucket = Self::bucket(micros) as usize;
        if tally.len() <= bucket {
            tally.resize(bucket + 1, 0);
        }
        tally[bucket] += 1;
    }

    /// Adds every sample of another histogram.
    pub fn merge(&mut self, other: &Histogram) {
        for (&bucket, &count) in &other.buckets {
            *self.buckets.entry(bucket).or_insert(0) += count;
        }
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.buckets.values().sum()
    }

    /// The nearest-rank percentile `p` (0..=1) in ms, as its bucket's upper bound.
    pub fn percentile_ms(&self, p: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((p * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (&bucket, &count) in &self.buckets {
            seen += count;
            if seen >= rank {
                return Some(Self::upper(bucket) as f64 / 1000.0);
            }
        }
        unreachable!("rank is at most the count")
    }
}

/// What a sweep keeps of one seed's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedSummary {
    /// The seed.
    pub seed: u64,
    /// Anomaly kind name → count (every checked kind).
    pub anomalies: BTreeMap<String, u64>,
    /// Operations completed `ok`.
    pub ok: u64,
    /// Completed `fail`.
    pub fail: u64,
    /// Completed `info` or never.
    pub info: u64,
    /// Latency of ok reads.
    pub read_latency: Histogram,
    /// Latency of ok writes.
    pub write_latency: Histogram,
    /// How the run ended.
    pub outcome: String,
    /// Per window of the workload ([`WINDOWS`] equal windows, by invocation time):
    /// `[ok, completed]` operations.
    pub availability_windows: Vec<[u64; 2]>,
    /// Per window (by sample time): `[sum of lag in µs, samples]` over every follower.
    pub lag_windows: Vec<[u64; 2]>,
    /// The staleness curve's bins: `[reads, consistent]` per bin of
    /// `repsim_anomaly::staleness::BIN_EDGES_MS`.
    pub staleness: Vec<[u64; 2]>,
    /// Time from the end of the workload until the run went quiet (ms).
    #[serde(default)]
    pub convergence_ms: Option<f64>,
    /// Gaps between losing a leader and the next accepted write (ms).
    #[serde(default)]
    pub failover_gaps_ms: Vec<f64>,
    /// The longest unavailability window of any node (ms).
    #[serde(default)]
    pub longest_unavailable_ms: f64,
    /// Fault kind → how many of that kind the run's schedule had.
    #[serde(default)]
    pub faults: BTreeMap<String, u64>,
    /// Protocol event → count (elections, snapshots, read repairs, hinted writes, ...).
    #[serde(default)]
    pub protocol_events: BTreeMap<String, u64>,
    /// The run panicked (a protocol or simulator bug): the message and its location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panic: Option<String>,
    /// The run gave different results when repeated (with `--check-determinism`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nondeterminism: Option<String>,
}

impl SeedSummary {
    /// The summary of a seed whose run failed.
    fn failed(seed: u64, outcome: &str) -> SeedSummary {
        SeedSummary {
            seed,
            anomalies: BTreeMap::new(),
            ok: 0,
            fail: 0,
            info: 0,
            read_latency: Histogram::default(),
            write_latency: Histogram::default(),
            outcome: outcome.to_owned(),
            availability_windows: vec![[0, 0]; WINDOWS],
            lag_windows: vec![[0, 0]; WINDOWS],
            staleness: Vec::new(),
            convergence_ms: None,
            failover_gaps_ms: Vec::new(),
            longest_unavailable_ms: 0.0,
            faults: BTreeMap::new(),
            protocol_events: BTreeMap::new(),
            panic: None,
            nondeterminism: None,
        }
    }
}

/// Time windows a seed summary splits the workload into.
pub const WINDOWS: usize = 50;

/// The window of a time in µs, for a workload of `duration` µs.
fn window(micros: u64, duration: u64) -> usize {
    ((micros.saturating_mul(WINDOWS as u64) / duration.max(1)) as usize).min(WINDOWS - 1)
}

/// Reduces a run of `scenario` to its summary.
pub fn summarize(scenario: &Scenario, result: &run::RunResult) -> SeedSummary {
    let history = &result.output.history;
    let duration = scenario.duration.as_micros();
    let mut summary = SeedSummary {
        seed: result.seed,
        anomalies: result
            .findings
            .counts
            .iter()
            .map(|(k, &c)| (k.name().to_owned(), c))
            .collect(),
        ok: 0,
        fail: 0,
        info: 0,
        read_latency: Histogram::default(),
        write_latency: Histogram::default(),
        outcome: result.output.outcome.as_str().to_owned(),
        availability_windows: vec![[0, 0]; WINDOWS],
        lag_windows: vec![[0, 0]; WINDOWS],
        staleness: result
            .findings
            .staleness
            .bins
            .iter()
            .map(|b| [b.reads, b.consistent])
            .collect(),
        convergence_ms: None,
        failover_gaps_ms: Vec::new(),
        longest_unavailable_ms: 0.0,
        faults: BTreeMap::new(),
        protocol_events: result
            .output
            .counters
            .iter()
            .map(|(&k, &v)| (k.to_owned(), v))
            .collect(),
        panic: None,
        nondeterminism: None,
    };
    let liveness = crate::liveness::measure(
        history,
        &result.output.roles,
        result.output.outcome,
        scenario.duration,
        result.output.end,
    );
    summary.convergence_ms = liveness.convergence_ms;
    summary.failover_gaps_ms = liveness.failovers.iter().filter_map(|f| f.gap_ms).collect();
    summary.longest_unavailable_ms = liveness.longest_unavailable_ms();
    for fault in &result.faults {
        let kind = fault
            .action
            .describe()
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        *summary.faults.entry(kind).or_insert(0) += 1;
    }
    for samples in result.output.lag.values() {
        for (at, lag) in samples {
            let w = &mut summary.lag_windows[window(at.as_micros(), duration)];
            w[0] += lag.as_micros();
            w[1] += 1;
        }
    }
    // One pass over the events (cheaper than pairing them into operations): each
    // process's open invocation time, then its completion.
    // Simulated times are whole microseconds: adding a half and truncating rounds them
    // exactly, without a call to `round` per event.
    let micros = |ms: f64| (ms * 1000.0 + 0.5) as u64;
    let mut open: Vec<Option<u64>> = Vec::new();
    let (mut reads, mut writes) = (Vec::new(), Vec::new());
    for event in &history.events {
        let p = event.process.0 as usize;
        if open.len() <= p {
            open.resize(p + 1, None);
        }
        if event.kind != EventType::Invoke {
            let start = open[p].unwrap_or(0);
            let w = &mut summary.availability_windows[window(start, duration)];
            w[0] += u64::from(event.kind == EventType::Ok);
            w[1] += 1;
        }
        match event.kind {
            EventType::Invoke => open[p] = Some(micros(event.time_ms)),
            EventType::Ok => {
                summary.ok += 1;
                let start = open[p].take().unwrap_or(0);
                let tally = match event.f {
                    Function::Read => &mut reads,
                    _ => &mut writes,
                };
                Histogram::tally(tally, micros(event.time_ms).saturating_sub(start));
            }
            EventType::Fail => {
                summary.fail += 1;
                open[p] = None;
            }
            EventType::Info => {
                summary.info += 1;
                open[p] = None;
            }
        }
    }
    summary.read_latency = Histogram::from_tally(&reads);
    summary.write_latency = Histogram::from_tally(&writes);
    // Operations that never completed count as `info` (SPEC §4).
    summary.info += open.iter().filter(|o| o.is_some()).count() as u64;
    summary
}

/// Which seeds a sweep runs: `count` seeds from `from`, or the shard `index` (0-based) of
/// `shards` of them, taking every `shards`-th seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    /// First seed of the whole sweep.
    pub from: u64,
    /// Seeds in the whole sweep.
    pub count: u64,
    /// This shard (0-based) and the number of shards.
    pub shard: Option<(u64, u64)>,
}

impl SeedRange {
    /// The seeds this process runs, in order.
    pub fn seeds(&self) -> Vec<u64> {
        let (index, shards) = self.shard.unwrap_or((0, 1));
        (0..self.count)
            .filter(|i| i % shards == index)
            .map(|i| self.from.wrapping_add(i))
            .collect()
    }
}

/// Runs every seed of `seeds` on `jobs` threads. `progress` is called after each seed
/// with the summary (from any thread); `stop` ends the sweep early: seeds already started
/// finish, and the returned summaries are those of a prefix of `seeds`. A seed whose run
/// panics is summarised as such and the sweep goes on; with `check_determinism` every
/// seed runs twice and a mismatch is summarised too.
pub fn run_seeds(
    scenario: &Scenario,
    seeds: &[u64],
    jobs: usize,
    check_determinism: bool,
    stop: &AtomicBool,
    progress: &(dyn Fn(&SeedSummary) + Sync),
) -> Vec<SeedSummary> {
    let next = AtomicU64::new(0);
    let results: Mutex<Vec<Option<SeedSummary>>> = Mutex::new(vec![None; seeds.len()]);
    let worker = || {
        loop {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let i = next.fetch_add(1, Ordering::SeqCst) as usize;
            if i >= seeds.len() {
                break;
            }
            let seed = seeds[i];
            let outcome = if check_determinism {
                run::check_determinism(scenario, seed)
            } else {
                run::run(scenario, seed, None).map_err(run::CheckError::Run)
            };
            let summary = match outcome {
                Ok(result) => summarize(scenario, &result),
                Err(run::CheckError::Nondeterministic(message)) => SeedSummary {
                    nondeterminism: Some(message),
                    ..SeedSummary::failed(seed, "nondeterministic")
                },
                Err(run::CheckError::Run(run::RunError::Panicked { message, .. })) => SeedSummary {
                    panic: Some(message),
                    ..SeedSummary::failed(seed, "panicked")
                },
                Err(run::CheckError::Run(e)) => SeedSummary {
                    panic: Some(e.to_string()),
                    ..SeedSummary::failed(seed, "internal_error")
                },
            };
            progress(&summary);
            results.lock().expect("no worker panics while holding it")[i] = Some(summary);
        }
    };
    // The calling thread is one of the workers: with `--jobs 1` nothing is spawned, and
    // seeds run on the main thread (whose allocator arena is the fastest) as in `run`.
    std::thread::scope(|scope| {
        for _ in 1..jobs.max(1) {
            scope.spawn(worker);
        }
        worker();
    });
    // Seeds are taken in order and every started seed finished, so the done ones form a
    // prefix.
    results
        .into_inner()
        .expect("workers are done")
        .into_iter()
        .map_while(|s| s)
        .collect()
}

/// What a sweep shows while it runs: an `indicatif` bar with seeds done, rate, ETA and,
/// per anomaly kind, the seeds that showed it so far.
pub struct Progress {
    bar: indicatif::ProgressBar,
    /// Seeds done and, per anomaly kind, the seeds that showed it.
    found: Mutex<(u64, BTreeMap<String, u64>)>,
}

impl Progress {
    /// Shows progress on `bar` (styled by the caller; `ProgressBar::hidden()` for none).
    pub fn new(bar: indicatif::ProgressBar) -> Progress {
        Progress {
            bar,
            found: Mutex::new((0, BTreeMap::new())),
        }
    }

    /// Counts one finished seed (called by every worker).
    pub fn seed_done(&self, summary: &SeedSummary) {
        let mut found = self.found.lock().expect("no panic while holding it");
        let (done, kinds) = &mut *found;
        *done += 1;
        let mut new_kind = false;
        for (kind, &count) in &summary.anomalies {
            if count > 0 {
                if let Some(seeds) = kinds.get_mut(kind) {
                    *seeds += 1;
                } else {
                    kinds.insert(kind.clone(), 1);
                    new_kind = true;
                }
            }
        }
        // The message is rebuilt when a kind first shows and every 32 seeds, not per
        // seed: each new message frees the last, made by another worker, and such frees
        // make the workers wait on each other's allocator (measured: ~3,700 context
        // switches in an 800-seed `--jobs 2` sweep, and 1.7x instead of 2x).
        if new_kind || *done % 32 == 0 {
            let message: Vec<String> = kinds.iter().map(|(k, v)| format!("{k} {v}")).collect();
            self.bar.set_message(message.join(", "));
        }
        self.bar.inc(1);
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A shard's output: everything needed to rebuild the whole sweep's aggregate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// Always `"repsim-sweep-partial"`.
    pub format: String,
    /// Scenario name.
    pub scenario: String,
    /// The scenario file as given.
    pub file: String,
    /// repsim version.
    pub version: String,
    /// First seed of the whole sweep.
    pub from: u64,
    /// Seeds in the whole sweep.
    pub count: u64,
    /// The scenario's `expect` block.
    pub expect: Vec<Expectation>,
    /// This shard's per-seed summaries.
    pub seeds: Vec<SeedSummary>,
}

/// The aggregate of a sweep, as `repsim sweep --json` prints it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Aggregate {
    /// Scenario name.
    pub scenario: String,
    /// repsim version.
    pub version: String,
    /// The seeds asked for and done.
    pub seeds: SeedsDone,
    /// Anomaly kind → statistics over seeds.
    pub anomalies: BTreeMap<String, KindStats>,
    /// Latency of ok operations over every seed (bucketed: within 6.25%).
    pub latency_ms: BTreeMap<String, LatencyStats>,
    /// Operations over every seed.
    pub availability: AvailabilityStats,
    /// How the runs ended: outcome → seeds.
    pub outcomes: BTreeMap<String, u64>,
    /// The scenario's `expect` block over the sweep: an upper bound must hold in every
    /// seed (it states a guarantee), a lower bound in at least one (it states that a
    /// fault can cause an anomaly).
    pub expect: Vec<ExpectOverSeeds>,
    /// True when every bound held in that sense.
    pub expect_met: bool,
    /// Seeds whose run panicked, each with the message and the reproduce command.
    pub panics: Vec<SeedFailure>,
    /// Seeds whose two runs differed (with `--check-determinism`).
    pub nondeterministic: Vec<SeedFailure>,
    /// What the sweep exercised: fault kinds fired and protocol code paths run.
    pub coverage: Coverage,
    /// Recovery times over the seeds.
    pub liveness: LivenessStats,
}

/// What a sweep exercised.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Fault kind → how often it fired in all, and in how many seeds.
    pub faults: BTreeMap<String, Exercised>,
    /// Protocol event (elections, catch-ups, read repairs, hinted handoffs, ...) → how
    /// often it happened in all, and in how many seeds.
    pub protocol_events: BTreeMap<String, Exercised>,
}

/// How often something happened over a sweep.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Exercised {
    /// Times in all.
    pub total: u64,
    /// Seeds where it happened at least once.
    pub seeds: u64,
}

/// Liveness over a sweep: means with a 95% confidence interval (normal approximation)
/// and the worst case.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LivenessStats {
    /// Convergence after the faults healed (ms), over the seeds that went quiet.
    pub convergence_ms: Option<MeanStats>,
    /// Gap between losing a leader and the next accepted write (ms), over every failover.
    pub failover_gap_ms: Option<MeanStats>,
    /// Longest unavailability window of any node (ms), per seed.
    pub longest_unavailable_ms: Option<MeanStats>,
}

/// Mean, its 95% confidence interval, and the largest value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeanStats {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// 95% interval of the mean.
    pub ci95: [f64; 2],
    /// Largest sample.
    pub max: f64,
}

impl MeanStats {
    /// The statistics of `samples` (`None` when there are none).
    pub fn of(samples: &[f64]) -> Option<MeanStats> {
        if samples.is_empty() {
            return None;
        }
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / n;
        let variance = if samples.len() > 1 {
            samples.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        let half = 1.959_963_984_540_054 * (variance / n).sqrt();
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        Some(MeanStats {
            count: samples.len() as u64,
            mean: round(mean),
            ci95: [round(mean - half), round(mean + half)],
            max: round(samples.iter().copied().fold(f64::MIN, f64::max)),
        })
    }
}

/// A seed whose run failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SeedFailure {
    /// The seed.
    pub seed: u64,
    /// What happened.
    pub message: String,
    /// `repsim run FILE --seed N`.
    pub reproduce: String,
}

/// One expectation over a sweep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpectOverSeeds {
    /// Anomaly kind.
    pub kind: String,
    /// Lower bound.
    pub min: Option<u64>,
    /// Upper bound.
    pub max: Option<u64>,
    /// Seeds that reached the lower bound.
    pub seeds_reaching_min: u64,
    /// The first seeds that exceeded the upper bound.
    pub seeds_over_max: Vec<u64>,
    /// Whether it held.
    pub met: bool,
}

/// Which seeds a sweep covered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SeedsDone {
    /// First seed.
    pub from: u64,
    /// Seeds asked for.
    pub count: u64,
    /// Seeds done (fewer when interrupted).
    pub done: u64,
}

/// One anomaly kind over a sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindStats {
    /// Seeds that showed it at least once.
    pub seeds_affected: u64,
    /// Flags over every seed.
    pub total: u64,
    /// seeds_affected / seeds done.
    pub rate: f64,
    /// 95% Wilson score interval of the rate.
    pub rate_ci95: [f64; 2],
    /// Flags per seed, on average.
    pub mean_per_seed: f64,
    /// The first seeds that showed it, each with the command that reproduces it.
    pub examples: Vec<SeedExample>,
}

/// A seed that showed an anomaly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SeedExample {
    /// The seed.
    pub seed: u64,
    /// How many flags it had.
    pub count: u64,
    /// `repsim run FILE --seed N`.
    pub reproduce: String,
}

/// Latency percentiles over a sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyStats {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest (bucket upper bound).
    pub max: Option<f64>,
}

/// Operations over a sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AvailabilityStats {
    /// Completed ok.
    pub ok: u64,
    /// Completed fail.
    pub fail: u64,
    /// Completed info or never.
    pub info: u64,
    /// ok / completed.
    pub rate: Option<f64>,
}

/// The 95% Wilson score interval of `successes` out of `n`, as a pair.
pub fn wilson_pair(successes: u64, n: u64) -> (f64, f64) {
    let [low, high] = wilson(successes, n);
    (low, high)
}

/// The 95% Wilson score interval of `successes` out of `n`.
pub fn wilson(successes: u64, n: u64) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let z = 1.959_963_984_540_054_f64;
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let denominator = 1.0 + z * z / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / denominator;
    // `sqrt` is correctly rounded (IEEE 754), so it is the same on every platform.
    let half = z * (p * (1.0 - p) / n_f + z * z / (4.0 * n_f * n_f)).sqrt() / denominator;
    // The exact ends where rounding would leave a speck (0 or n successes).
    let low = if successes == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let high = if successes == n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    [low, high]
}

/// Aggregates per-seed summaries (in seed order) of a sweep of `file`.
pub fn aggregate(
    name: &str,
    file: &str,
    range: (u64, u64),
    expect: &[Expectation],
    summaries: &[SeedSummary],
) -> Aggregate {
    let done = summaries.len() as u64;
    let mut anomalies: BTreeMap<String, KindStats> = BTreeMap::new();
    let mut read = Histogram::default();
    let mut write = Histogram::default();
    let (mut ok, mut fail, mut info) = (0, 0, 0);
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut over_seeds: Vec<ExpectOverSeeds> = expect
        .iter()
        .map(|e| ExpectOverSeeds {
            kind: e.kind.clone(),
            min: e.min,
            max: e.max,
            seeds_reaching_min: 0,
            seeds_over_max: Vec::new(),
            met: false,
        })
        .collect();
    let mut panics = Vec::new();
    let mut nondeterministic = Vec::new();
    let mut coverage = Coverage::default();
    let (mut convergence, mut gaps, mut longest) = (Vec::new(), Vec::new(), Vec::new());
    for summary in summaries {
        for (kind, &n) in &summary.faults {
            let e = coverage.faults.entry(kind.clone()).or_default();
            e.total += n;
            e.seeds += u64::from(n > 0);
        }
        for (event, &n) in &summary.protocol_events {
            let e = coverage.protocol_events.entry(event.clone()).or_default();
            e.total += n;
            e.seeds += u64::from(n > 0);
        }
        convergence.extend(summary.convergence_ms);
        gaps.extend_from_slice(&summary.failover_gaps_ms);
        if summary.panic.is_none() && summary.nondeterminism.is_none() {
            longest.push(summary.longest_unavailable_ms);
        }
        let failure = |message: &String| SeedFailure {
            seed: summary.seed,
            message: message.clone(),
            reproduce: reproduce_command(file, summary.seed),
        };
        if let Some(message) = &summary.panic {
            panics.push(failure(message));
        }
        if let Some(message) = &summary.nondeterminism {
            nondeterministic.push(failure(message));
        }
        for over in &mut over_seeds {
            let actual = summary.anomalies.get(&over.kind).copied();
            if over.min.is_none_or(|min| actual.is_some_and(|a| a >= min)) {
                over.seeds_reaching_min += 1;
            }
            if over.max.is_some_and(|max| actual.is_none_or(|a| a > max))
                && over.seeds_over_max.len() < LISTED_SEEDS
            {
                over.seeds_over_max.push(summary.seed);
            }
        }
        for (kind, &count) in &summary.anomalies {
            let stats = anomalies.entry(kind.clone()).or_insert(KindStats {
                seeds_affected: 0,
                total: 0,
                rate: 0.0,
                rate_ci95: [0.0, 0.0],
                mean_per_seed: 0.0,
                examples: Vec::new(),
            });
            stats.total += count;
            if count > 0 {
                stats.seeds_affected += 1;
                if stats.examples.len() < LISTED_SEEDS {
                    stats.examples.push(SeedExample {
                        seed: summary.seed,
                        count,
                        reproduce: reproduce_command(file, summary.seed),
                    });
                }
            }
        }
        read.merge(&summary.read_latency);
        write.merge(&summary.write_latency);
        ok += summary.ok;
        fail += summary.fail;
        info += summary.info;
        *outcomes.entry(summary.outcome.clone()).or_insert(0) += 1;
    }
    for over in &mut over_seeds {
        over.met = over.seeds_over_max.is_empty() && over.seeds_reaching_min > 0;
    }
    let expect_met = over_seeds.iter().all(|e| e.met);
    for stats in anomalies.values_mut() {
        stats.rate = if done > 0 {
            stats.seeds_affected as f64 / done as f64
        } else {
            0.0
        };
        stats.rate_ci95 = wilson(stats.seeds_affected, done);
        stats.mean_per_seed = if done > 0 {
            stats.total as f64 / done as f64
        } else {
            0.0
        };
    }
    let latency = |h: &Histogram| LatencyStats {
        count: h.count(),
        p50: h.percentile_ms(0.50),
        p90: h.percentile_ms(0.90),
        p99: h.percentile_ms(0.99),
        max: h.percentile_ms(1.0),
    };
    let completed = ok + fail + info;
    Aggregate {
        scenario: name.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        seeds: SeedsDone {
            from: range.0,
            count: range.1,
            done,
        },
        anomalies,
        latency_ms: BTreeMap::from([
            ("read".to_owned(), latency(&read)),
            ("write".to_owned(), latency(&write)),
        ]),
        availability: AvailabilityStats {
            ok,
            fail,
            info,
            rate: (completed > 0).then(|| ok as f64 / completed as f64),
        },
        outcomes,
        expect: over_seeds,
        expect_met,
        panics,
        nondeterministic,
        coverage,
        liveness: LivenessStats {
            convergence_ms: MeanStats::of(&convergence),
            failover_gap_ms: MeanStats::of(&gaps),
            longest_unavailable_ms: MeanStats::of(&longest),
        },
    }
}

impl Aggregate {
    /// The human summary of a sweep.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let w = &mut out;
        writeln!(
            w,
            "{}: {} of {} seeds from {}",
            self.scenario, self.seeds.done, self.seeds.count, self.seeds.from
        )
        .unwrap();
        writeln!(
            w,
            "anomaly              seeds   rate   95% CI           total  first seeds"
        )
        .unwrap();
        let ordered = Kind::ALL
            .iter()
            .filter_map(|k| self.anomalies.get_key_value(k.name()));
        for (kind, s) in ordered {
            let seeds: Vec<String> = s.examples.iter().map(|e| e.seed.to_string()).collect();
            writeln!(
                w,
                "  {kind:<18} {:>6} {:>6.1}%  [{:>5.1}%, {:>5.1}%] {:>8}  {}",
                s.seeds_affected,
                s.rate * 100.0,
                s.rate_ci95[0] * 100.0,
                s.rate_ci95[1] * 100.0,
                s.total,
                seeds.join(" ")
            )
            .unwrap();
        }
        for (f, l) in &self.latency_ms {
            let show = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
            writeln!(
                w,
                // Percentiles are bucket upper bounds: at most 1/16 above the true value.
                "latency {f:<5} ms (at most 6.25% high): p50 {} p90 {} p99 {} max {} ({} ops)",
                show(l.p50),
                show(l.p90),
                show(l.p99),
                show(l.max),
                l.count
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
        let outcomes: Vec<String> = self
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(w, "outcomes: {}", outcomes.join(", ")).unwrap();
        for (kind, s) in Kind::ALL
            .iter()
            .filter_map(|k| self.anomalies.get_key_value(k.name()))
        {
            if let Some(first) = s.examples.first() {
                writeln!(w, "reproduce {kind}: {}", first.reproduce).unwrap();
            }
        }
        let l = &self.liveness;
        let show = |m: &Option<MeanStats>| {
            m.as_ref().map_or_else(
                || "-".to_owned(),
                |m| {
                    format!(
                        "mean {} [{}, {}] max {} (n={})",
                        m.mean, m.ci95[0], m.ci95[1], m.max, m.count
                    )
                },
            )
        };
        writeln!(
            w,
            "liveness ms: convergence {}; failover gap {}; longest node unavailability {}",
            show(&l.convergence_ms),
            show(&l.failover_gap_ms),
            show(&l.longest_unavailable_ms)
        )
        .unwrap();
        let faults: Vec<String> = self
            .coverage
            .faults
            .iter()
            .map(|(k, e)| format!("{k} {}x/{} seeds", e.total, e.seeds))
            .collect();
        if !faults.is_empty() {
            writeln!(w, "faults fired: {}", faults.join(", ")).unwrap();
        }
        let events: Vec<String> = self
            .coverage
            .protocol_events
            .iter()
            .map(|(k, e)| format!("{k} {}x/{} seeds", e.total, e.seeds))
            .collect();
        if !events.is_empty() {
            writeln!(w, "code paths run: {}", events.join(", ")).unwrap();
        }
        for f in &self.panics {
            writeln!(
                w,
                "PANIC at seed {}: {}\n  reproduce: {}",
                f.seed, f.message, f.reproduce
            )
            .unwrap();
        }
        for f in &self.nondeterministic {
            writeln!(w, "NONDETERMINISM at seed {}: {}", f.seed, f.message).unwrap();
        }
        for e in &self.expect {
            let mut parts = Vec::new();
            if let Some(min) = e.min {
                parts.push(format!(
                    ">= {min} in {} seeds (needs 1)",
                    e.seeds_reaching_min
                ));
            }
            if let Some(max) = e.max {
                match e.seeds_over_max.as_slice() {
                    [] => parts.push(format!("<= {max} in every seed")),
                    over => parts.push(format!("<= {max} broken at seeds {over:?}")),
                }
            }
            let verdict = if e.met { "met" } else { "NOT MET" };
            writeln!(w, "expect {}: {verdict}: {}", e.kind, parts.join(", ")).unwrap();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_within_a_sixteenth() {
        for v in [
            0u64,
            1,
            63,
            64,
            65,
            100,
            1000,
            12_345,
            1_000_000,
            u64::MAX / 4,
        ] {
            let b = Histogram::bucket(v);
            let upper = Histogram::upper(b);
            assert!(upper >= v, "{v} -> {b} -> {upper}");
            assert!(
                (upper - v) as f64 <= v as f64 / 16.0 + 1.0,
                "{v} -> {upper}"
            );
            assert_eq!(Histogram::bucket(upper), b);
        }
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.add(v);
        }
        assert_eq!(h.percentile_ms(0.5), Some(0.050));
        assert_eq!(
            h.percentile_ms(1.0),
            Some(0.100).map(|_| Histogram::upper(Histogram::bucket(100)) as f64 / 1000.0)
        );
    }

    #[test]
    fn wilson_interval_brackets_the_rate() {
        let [lo, hi] = wilson(5, 100);
        assert!(
            lo < 0.05 && hi > 0.05 && lo > 0.01 && hi < 0.12,
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 0), [0.0, 1.0]);
        let [lo, hi] = wilson(0, 50);
        assert_eq!(lo, 0.0);
        assert!(hi > 0.0 && hi < 0.1);
    }

    #[test]
    fn shards_partition_the_seeds() {
        let whole = SeedRange {
            from: 10,
            count: 10,
            shard: None,
        }
        .seeds();
        let mut parts: Vec<u64> = (0..3)
            .flat_map(|i| {
                SeedRange {
                    from: 10,
                    count: 10,
                    shard: Some((i, 3)),
                }
                .seeds()
            })
            .collect();
        parts.sort_unstable();
        assert_eq!(parts, whole);
    }
}
