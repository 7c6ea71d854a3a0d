//! Latency and think-time distributions (SPEC §2): `constant`, `uniform`, `exponential`,
//! `normal` (clamped at 0) and `pareto`.
//!
//! Parameters are held in microseconds. Sampling that needs `ln`, `cos` or `pow` uses the
//! pure-Rust `libm`, so a seed gives the same delays on every platform, and rounds to a
//! whole microsecond at once: no float is carried from one draw to the next.

use crate::rng::SimRng;
use crate::time::SimDuration;

/// Longest delay a sample may produce (about 31 years); heavy Pareto tails saturate here.
const MAX_SAMPLE_MICROS: f64 = 1e15;

/// A distribution of non-negative durations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Always the same.
    Constant(SimDuration),
    /// Uniform over whole microseconds in `min..=max`.
    Uniform {
        /// Smallest value.
        min: SimDuration,
        /// Largest value.
        max: SimDuration,
    },
    /// Exponential with the given mean (µs).
    Exponential {
        /// Mean in microseconds.
        mean_micros: f64,
    },
    /// Normal, negative samples clamped to 0.
    Normal {
        /// Mean in microseconds.
        mean_micros: f64,
        /// Standard deviation in microseconds.
        stddev_micros: f64,
    },
    /// Pareto (type I) with minimum `scale` and tail index `shape`.
    Pareto {
        /// Minimum value in microseconds.
        scale_micros: f64,
        /// Tail index; the mean is finite only above 1.
        shape: f64,
    },
}

impl Latency {
    /// Draws one duration.
    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> SimDuration {
        let micros = match *self {
            Latency::Constant(d) => return d,
            Latency::Uniform { min, max } => {
                return SimDuration::from_micros(rng.between(min.as_micros(), max.as_micros()));
            }
            Latency::Exponential { mean_micros } => {
                // 1 - u lies in (0, 1], so the logarithm is finite.
                -mean_micros * libm::log(1.0 - rng.unit())
            }
            Latency::Normal {
                mean_micros,
                stddev_micros,
            } => {
                // Box-Muller, one of the pair.
                let u1 = 1.0 - rng.unit();
                let u2 = rng.unit();
                let z = libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(std::f64::consts::TAU * u2);
                mean_micros + stddev_micros * z
            }
            Latency::Pareto {
                scale_micros,
                shape,
            } => scale_micros / libm::pow(1.0 - rng.unit(), 1.0 / shape),
        };
        SimDuration::from_micros(libm::round(micros.clamp(0.0, MAX_SAMPLE_MICROS)) as u64)
    }

    /// The distribution's mean in microseconds (ignoring rounding and, for `normal`, the
    /// clamping at zero), or `None` when it is infinite.
    pub fn mean_micros(&self) -> Option<f64> {
        match *self {
            Latency::Constant(d) => Some(d.as_micros() as f64),
            Latency::Uniform { min, max } => {
                Some((min.as_micros() as f64 + max.as_micros() as f64) / 2.0)
            }
            Latency::Exponential { mean_micros } => Some(mean_micros),
            Latency::Normal { mean_micros, .. } => Some(mean_micros),
            Latency::Pareto {
                scale_micros,
                shape,
            } => (shape > 1.0).then(|| scale_micros * shape / (shape - 1.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean of `n` samples in microseconds.
    fn sample_mean(latency: Latency, n: u32) -> f64 {
        let mut rng = SimRng::stream(42, "latency-test");
        let total: u64 = (0..n).map(|_| latency.sample(&mut rng).as_micros()).sum();
        total as f64 / f64::from(n)
    }

    /// Each distribution's sample mean over 200,000 draws is within 2% of its mean
    /// (Pareto with shape 3, whose variance is finite: 3%).
    #[test]
    fn sampled_means_match_each_distribution() {
        let cases = [
            (Latency::Constant(SimDuration::from_micros(2_500)), 0.0),
            (
                Latency::Uniform {
                    min: SimDuration::from_micros(1_000),
                    max: SimDuration::from_micros(9_000),
                },
                0.02,
            ),
            (
                Latency::Exponential {
                    mean_micros: 2_000.0,
                },
                0.02,
            ),
            (
                Latency::Normal {
                    mean_micros: 10_000.0,
                    stddev_micros: 2_000.0,
                },
                0.02,
            ),
            (
                Latency::Pareto {
                    scale_micros: 1_000.0,
                    shape: 3.0,
                },
                0.03,
            ),
        ];
        for (latency, tolerance) in cases {
            let expected = latency.mean_micros().unwrap();
            let got = sample_mean(latency, 200_000);
            let error = (got - expected).abs() / expected;
            assert!(error <= tolerance, "{latency:?}: mean {got} vs {expected}");
        }
    }

    #[test]
    fn normal_is_clamped_at_zero() {
        let latency = Latency::Normal {
            mean_micros: 0.0,
            stddev_micros: 1_000.0,
        };
        let mut rng = SimRng::stream(1, "t");
        let samples: Vec<u64> = (0..10_000)
            .map(|_| latency.sample(&mut rng).as_micros())
            .collect();
        let zeros = samples.iter().filter(|&&s| s == 0).count();
        // About half of the draws are negative and become zero.
        assert!((4_500..5_500).contains(&zeros), "{zeros}");
    }

    #[test]
    fn pareto_never_goes_below_its_scale() {
        let latency = Latency::Pareto {
            scale_micros: 500.0,
            shape: 1.2,
        };
        let mut rng = SimRng::stream(1, "t");
        assert!((0..10_000).all(|_| latency.sample(&mut rng).as_micros() >= 500));
        assert_eq!(
            Latency::Pareto {
                scale_micros: 1.0,
                shape: 0.9
            }
            .mean_micros(),
            None
        );
    }

    #[test]
    fn uniform_covers_both_ends() {
        let latency = Latency::Uniform {
            min: SimDuration::from_micros(3),
            max: SimDuration::from_micros(5),
        };
        let mut rng = SimRng::stream(1, "t");
        let mut seen = [false; 3];
        for _ in 0..1000 {
            let s = latency.sample(&mut rng).as_micros();
            assert!((3..=5).contains(&s));
            seen[(s - 3) as usize] = true;
        }
        assert_eq!(seen, [true; 3]);
    }
}
