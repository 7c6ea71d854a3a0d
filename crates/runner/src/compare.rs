//! `repsim compare`: several scenarios (usually one workload under different protocols or
//! settings) swept over the same seeds, drawn side by side.
//!
//! Charts (SVG): anomaly rates with 95% confidence intervals, read and write latency
//! distributions (CDF), availability over time with the fault windows shaded,
//! replication lag over time, the staleness curve, and liveness (recovery times). `compare.json` holds every
//! scenario's sweep aggregate.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use repsim_anomaly::Kind;
use repsim_sim::{Fault, FaultAction, SimTime};

use crate::charts::{self, BarChart, LineChart, Series};
use crate::scenario::Scenario;
use crate::sweep::{self, Aggregate, Histogram, SeedSummary, WINDOWS};

/// Why a comparison failed.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A chart could not be drawn.
    #[error(transparent)]
    Chart(#[from] charts::ChartError),
    /// An output file could not be written.
    #[error("{path}: cannot write: {reason}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// One swept scenario.
pub struct Swept {
    /// The scenario.
    pub scenario: Scenario,
    /// Its per-seed summaries, in seed order.
    pub summaries: Vec<SeedSummary>,
    /// Their aggregate.
    pub aggregate: Aggregate,
}

/// Sweeps each scenario over `seeds` seeds from its own `seed`.
pub fn sweep_all(scenarios: Vec<Scenario>, seeds: u64, jobs: usize) -> Vec<Swept> {
    let never = AtomicBool::new(false);
    scenarios
        .into_iter()
        .map(|scenario| {
            let list: Vec<u64> = (0..seeds).map(|i| scenario.seed.wrapping_add(i)).collect();
            let summaries = sweep::run_seeds(&scenario, &list, jobs, false, &never, &|_| {});
            let aggregate = sweep::aggregate(
                &scenario.name,
                &scenario.file,
                (scenario.seed, seeds),
                &scenario.expect,
                &summaries,
            );
            Swept {
                scenario,
                summaries,
                aggregate,
            }
        })
        .collect()
}

/// Time windows in which a fault schedule has something broken: window faults from
/// start to end, crashes until the node's restart (or the end of the workload).
pub fn fault_windows(faults: &[Fault], end: SimTime) -> Vec<(f64, f64)> {
    let mut windows = Vec::new();
    for (i, fault) in faults.iter().enumerate() {
        match (&fault.action, fault.until) {
            (FaultAction::Crash(node), _) => {
                let restart = faults[i + 1..]
                    .iter()
                    .find(|f| f.action == FaultAction::Restart(*node))
                    .map_or(end, |f| f.at);
                windows.push((fault.at.as_ms(), restart.min(end).as_ms()));
            }
            (FaultAction::ClockSkew { .. }, _) => {}
            (_, Some(until)) => windows.push((fault.at.as_ms(), until.min(end).as_ms())),
            _ => {}
        }
    }
    windows
}

fn write(path: &Path, text: &str) -> Result<(), CompareError> {
    std::fs::write(path, text).map_err(|e| CompareError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// The CDF of a histogram: (latency ms, fraction at or below).
fn cdf(histogram: &Histogram) -> Vec<(f64, f64)> {
    let n = histogram.count() as f64;
    let mut seen = 0u64;
    let mut points = vec![(0.0, 0.0)];
    for (&bucket, &count) in &histogram.buckets {
        seen += count;
        points.push((Histogram::upper_ms(bucket), seen as f64 / n));
    }
    points
}

/// Draws every chart into `out` (also as PNG with `png`) and writes `compare.json`;
/// returns the files written.
pub fn draw(swept: &[Swept], out: &Path, png: bool) -> Result<Vec<PathBuf>, CompareError> {
    std::fs::create_dir_all(out).map_err(|e| CompareError::Write {
        path: out.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut files = Vec::new();
    let names: Vec<String> = swept.iter().map(|s| s.scenario.name.clone()).collect();
    let seeds = swept.first().map_or(0, |s| s.aggregate.seeds.done);

    // Anomaly rates: a bar group per kind some seed of some scenario showed; the kinds
    // none showed are named under the axis (thirteen groups of bars do not fit the width).
    let shown = |k: &Kind| {
        swept.iter().any(|s| {
            s.aggregate
                .anomalies
                .get(k.name())
                .is_some_and(|a| a.seeds_affected > 0)
        })
    };
    let (mut kinds, none): (Vec<Kind>, Vec<Kind>) = Kind::ALL.into_iter().partition(|k| shown(k));
    let x_label = if kinds.is_empty() {
        kinds = Kind::ALL.to_vec();
        "anomaly kind (no seed showed any)".to_owned()
    } else if none.is_empty() {
        "anomaly kind".to_owned()
    } else {
        let names: Vec<&str> = none.iter().map(|k| k.name()).collect();
        format!("anomaly kind (in no seed: {})", names.join(", "))
    };
    let bars = BarChart {
        title: format!("Share of seeds showing each anomaly ({seeds} seeds, 95% CI)"),
        y_label: "seeds affected (fraction)".into(),
        x_label,
        categories: kinds.iter().map(|k| k.name().to_owned()).collect(),
        series: swept
            .iter()
            .map(|s| {
                let values = kinds
                    .iter()
                    .map(|k| {
                        s.aggregate
                            .anomalies
                            .get(k.name())
                            .map_or((0.0, 0.0, 0.0), |a| {
                                (a.rate, a.rate_ci95[0], a.rate_ci95[1])
                            })
                    })
                    .collect();
                (s.scenario.name.clone(), values)
            })
            .collect(),
        // Headroom above 1 for the legend.
        y_max: 1.3,
    };
    let path = out.join("anomalies.svg");
    charts::bar_chart(&path, &bars)?;
    files.push(path.clone());
    if png {
        let path = path.with_extension("png");
        charts::bar_chart(&path, &bars)?;
        files.push(path);
    }

    // Latency CDFs.
    for f in ["read", "write"] {
        let mut histograms = Vec::new();
        for s in swept {
            let mut merged = Histogram::default();
            for summary in &s.summaries {
                merged.merge(if f == "read" {
                    &summary.read_latency
                } else {
                    &summary.write_latency
                });
            }
            histograms.push(merged);
        }
        let x_max = histograms
            .iter()
            .filter_map(|h| h.percentile_ms(0.99))
            .fold(1.0f64, f64::max)
            * 1.5;
        let chart = LineChart {
            title: format!(
                "{} latency of successful operations ({seeds} seeds)",
                if f == "read" { "Read" } else { "Write" }
            ),
            x_label: "latency (ms)".into(),
            y_label: "fraction of operations at or below".into(),
            x_range: (0.0, x_max),
            y_range: (0.0, 1.0),
            series: histograms
                .iter()
                .zip(&names)
                .map(|(h, name)| Series {
                    name: name.clone(),
                    points: cdf(h),
                    band: Vec::new(),
                })
                .collect(),
            legend: charts::Corner::LowerRight,
            ..LineChart::default()
        };
        let path = out.join(format!("latency-{f}.svg"));
        charts::line_chart(&path, &chart)?;
        files.push(path.clone());
        if png {
            let path = path.with_extension("png");
            charts::line_chart(&path, &chart)?;
            files.push(path);
        }
    }

    // Availability and replication lag over time.
    let duration_ms = swept
        .iter()
        .map(|s| s.scenario.duration.as_ms())
        .fold(1.0f64, f64::max);
    let shaded = swept.first().map_or_else(Vec::new, |s| {
        fault_windows(
            &s.scenario.expanded_faults(s.scenario.seed),
            s.scenario.duration,
        )
    });
    let shaded_label = swept.first().map_or_else(String::new, |s| {
        format!("faults ({}, seed {})", s.scenario.name, s.scenario.seed)
    });
    let over_time = |s: &Swept,
                     pick: &dyn Fn(&SeedSummary) -> &Vec<[u64; 2]>,
                     ratio: &dyn Fn(u64, u64) -> f64| {
        let width = s.scenario.duration.as_ms() / WINDOWS as f64;
        (0..WINDOWS)
            .filter_map(|w| {
                let (a, b) = s.summaries.iter().fold((0, 0), |(a, b), summary| {
                    let cell = pick(summary)[w];
                    (a + cell[0], b + cell[1])
                });
                (b > 0).then(|| ((w as f64 + 0.5) * width, ratio(a, b)))
            })
            .collect::<Vec<(f64, f64)>>()
    };
    let availability = LineChart {
        title: format!("Availability over time ({seeds} seeds)"),
        x_label: "time since start (ms), by invocation".into(),
        y_label: "operations that succeeded (fraction)".into(),
        x_range: (0.0, duration_ms),
        y_range: (0.0, 1.05),
        series: swept
            .iter()
            .map(|s| Series {
                name: s.scenario.name.clone(),
                points: over_time(s, &|x| &x.availability_windows, &|ok, all| {
                    ok as f64 / all as f64
                }),
                band: Vec::new(),
            })
            .collect(),
        shaded: shaded.clone(),
        shaded_label: shaded_label.clone(),
        legend: charts::Corner::LowerLeft,
        ..LineChart::default()
    };
    let path = out.join("availability.svg");
    charts::line_chart(&path, &availability)?;
    files.push(path.clone());
    if png {
        let path = path.with_extension("png");
        charts::line_chart(&path, &availability)?;
        files.push(path);
    }

    let lag: Vec<Series> = swept
        .iter()
        .map(|s| Series {
            name: s.scenario.name.clone(),
            points: over_time(s, &|x| &x.lag_windows, &|sum, n| {
                sum as f64 / n as f64 / 1000.0
            }),
            band: Vec::new(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if !lag.is_empty() {
        let y_max = lag
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(1.0f64, f64::max)
            // Headroom above the highest point for the legend, which sits top right.
            * 1.4;
        let chart = LineChart {
            title: format!("Replication lag over time, mean over followers ({seeds} seeds)"),
            x_label: "time since start (ms)".into(),
            y_label: "lag (ms)".into(),
            x_range: (0.0, duration_ms),
            y_range: (0.0, y_max),
            series: lag,
            shaded,
            shaded_label,
            ..LineChart::default()
        };
        let path = out.join("replication-lag.svg");
        charts::line_chart(&path, &chart)?;
        files.push(path.clone());
        if png {
            let path = path.with_extension("png");
            charts::line_chart(&path, &chart)?;
            files.push(path);
        }
    }

    // Liveness: mean recovery times with 95% intervals.
    let groups = [
        "convergence after heal",
        "failover gap",
        "longest node unavailability",
    ];
    let liveness: Vec<charts::BarSeries> = swept
        .iter()
        .map(|s| {
            let l = &s.aggregate.liveness;
            let values = [
                &l.convergence_ms,
                &l.failover_gap_ms,
                &l.longest_unavailable_ms,
            ]
            .iter()
            .map(|m| {
                m.as_ref()
                    .map_or((0.0, 0.0, 0.0), |m| (m.mean, m.ci95[0].max(0.0), m.ci95[1]))
            })
            .collect();
            (s.scenario.name.clone(), values)
        })
        .collect();
    let top = liveness
        .iter()
        .flat_map(|(_, v)| v.iter().map(|x| x.2))
        .fold(1.0f64, f64::max);
    let chart = BarChart {
        title: format!("Liveness: recovery times ({seeds} seeds, mean with 95% CI)"),
        y_label: "time (ms)".into(),
        x_label: "measure".into(),
        categories: groups.iter().map(|g| (*g).to_owned()).collect(),
        series: liveness,
        y_max: top * 1.3,
    };
    let path = out.join("liveness.svg");
    charts::bar_chart(&path, &chart)?;
    files.push(path.clone());
    if png {
        let path = path.with_extension("png");
        charts::bar_chart(&path, &chart)?;
        files.push(path);
    }

    // The staleness curve: P(read sees the last acknowledged write or newer) by time
    // since that write, with 95% intervals, over every seed.
    let edges = repsim_anomaly::staleness::BIN_EDGES_MS;
    let staleness: Vec<Series> = swept
        .iter()
        .map(|s| {
            let mut bins = vec![[0u64; 2]; edges.len()];
            for summary in &s.summaries {
                for (total, bin) in bins.iter_mut().zip(&summary.staleness) {
                    total[0] += bin[0];
                    total[1] += bin[1];
                }
            }
            let mut series = Series {
                name: s.scenario.name.clone(),
                ..Series::default()
            };
            for (i, &[reads, consistent]) in bins.iter().enumerate() {
                if reads == 0 {
                    continue;
                }
                // Plot each bin at its middle (the open last bin at 1.5x its start); the
                // x axis is logarithmic, so the first bin sits at 0.5 ms.
                let x = match edges.get(i + 1) {
                    Some(&to) => (edges[i] + to) / 2.0,
                    None => edges[i] * 1.5,
                };
                let (lo, hi) = sweep::wilson_pair(consistent, reads);
                series.points.push((x, consistent as f64 / reads as f64));
                series.band.push((x, lo, hi));
            }
            series
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if !staleness.is_empty() {
        let chart = LineChart {
            title: format!(
                "Staleness: reads that see the last acknowledged write ({seeds} seeds, 95% CI)"
            ),
            x_label: "time from the write's acknowledgement to the read's start (ms, log scale)"
                .into(),
            y_label: "P(read returns that write or newer)".into(),
            x_range: (0.4, edges[edges.len() - 1] * 2.0),
            y_range: (0.0, 1.05),
            series: staleness,
            log_x: true,
            legend: charts::Corner::LowerRight,
            ..LineChart::default()
        };
        let path = out.join("staleness.svg");
        charts::line_chart(&path, &chart)?;
        files.push(path.clone());
        if png {
            let path = path.with_extension("png");
            charts::line_chart(&path, &chart)?;
            files.push(path);
        }
    }

    let json =
        serde_json::to_string_pretty(&swept.iter().map(|s| &s.aggregate).collect::<Vec<_>>())
            .expect("aggregates serialize");
    let path = out.join("compare.json");
    write(&path, &format!("{json}\n"))?;
    files.push(path);
    Ok(files)
}

/// A table of the scenarios side by side, for the terminal.
pub fn summary(swept: &[Swept]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let width = swept
        .iter()
        .map(|s| s.scenario.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    write!(out, "{:<18}", "").unwrap();
    for s in swept {
        write!(out, " {:>width$}", s.scenario.name).unwrap();
    }
    out.push('\n');
    for kind in Kind::ALL {
        write!(out, "{:<18}", kind.name()).unwrap();
        for s in swept {
            let cell = s.aggregate.anomalies.get(kind.name()).map_or_else(
                || "-".to_owned(),
                |a| format!("{:.1}% ({})", a.rate * 100.0, a.total),
            );
            write!(out, " {cell:>width$}").unwrap();
        }
        out.push('\n');
    }
    for (label, f, p) in [
        ("read p50 ms", "read", 0.5),
        ("read p99 ms", "read", 0.99),
        ("write p50 ms", "write", 0.5),
        ("write p99 ms", "write", 0.99),
    ] {
        write!(out, "{label:<18}").unwrap();
        for s in swept {
            let l = &s.aggregate.latency_ms[f];
            let v = if p == 0.5 { l.p50 } else { l.p99 };
            write!(
                out,
                " {:>width$}",
                v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
            )
            .unwrap();
        }
        out.push('\n');
    }
    write!(out, "{:<18}", "availability").unwrap();
    for s in swept {
        let a = s
            .aggregate
            .availability
            .rate
            .map_or_else(|| "-".to_owned(), |r| format!("{:.2}%", r * 100.0));
        write!(out, " {a:>width$}").unwrap();
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use repsim_sim::NodeId;

    #[test]
    fn crashes_last_until_their_restart() {
        let t = SimTime::from_ms;
        let faults = vec![
            Fault {
                at: t(100.0),
                until: None,
                action: FaultAction::Crash(NodeId(1)),
            },
            Fault {
                at: t(150.0),
                until: Some(t(180.0)),
                action: FaultAction::Isolate(NodeId(0)),
            },
            Fault {
                at: t(300.0),
                until: None,
                action: FaultAction::Restart(NodeId(1)),
            },
            Fault {
                at: t(400.0),
                until: None,
                action: FaultAction::Crash(NodeId(2)),
            },
        ];
        assert_eq!(
            fault_windows(&faults, t(500.0)),
            vec![(100.0, 300.0), (150.0, 180.0), (400.0, 500.0)]
        );
    }
}
