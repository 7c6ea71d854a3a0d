//! Simulated time: integer microseconds, never floats inside the engine.
//!
//! Files speak milliseconds with fractions (SPEC §2); they are converted once, at the
//! boundary, by [`SimDuration::from_ms`], which rounds to the nearest microsecond
//! (halves away from zero). Output converts back with [`SimTime::as_ms`], which is exact
//! for every value below 2^53 µs (285 years).

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// An instant of simulated time, in microseconds since the run started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

/// A span of simulated time, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// Later than any instant a run reaches.
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// The instant `micros` µs after the start.
    pub const fn from_micros(micros: u64) -> SimTime {
        SimTime(micros)
    }

    /// The instant `ms` milliseconds after the start (rounded to the nearest µs).
    pub fn from_ms(ms: f64) -> SimTime {
        SimTime(SimDuration::from_ms(ms).0)
    }

    /// Microseconds since the start.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Milliseconds since the start, for output.
    pub fn as_ms(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Time elapsed since `earlier` (zero if `earlier` is later).
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }

    /// This instant shifted by a signed offset, clamped at zero (used for skewed clocks).
    pub fn offset_by(self, offset_micros: i64) -> SimTime {
        SimTime(self.0.saturating_add_signed(offset_micros))
    }
}

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);

    /// `micros` microseconds.
    pub const fn from_micros(micros: u64) -> SimDuration {
        SimDuration(micros)
    }

    /// `ms` whole milliseconds.
    pub const fn from_millis(ms: u64) -> SimDuration {
        SimDuration(ms * 1000)
    }

    /// `ms` milliseconds rounded to the nearest microsecond. Negative and NaN inputs give
    /// zero and huge ones saturate; the scenario loader refuses those before they get here.
    pub fn from_ms(ms: f64) -> SimDuration {
        SimDuration((ms * 1000.0).round() as u64)
    }

    /// The length in microseconds.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// The length in milliseconds, for output.
    pub fn as_ms(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, rhs: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, rhs: SimDuration) {
        *self = *self + rhs;
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, rhs: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(rhs.0))
    }
}

impl Sub for SimTime {
    type Output = SimDuration;
    fn sub(self, rhs: SimTime) -> SimDuration {
        self.since(rhs)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.as_ms())
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.as_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_to_the_nearest_microsecond() {
        assert_eq!(SimDuration::from_ms(1.5).as_micros(), 1500);
        assert_eq!(SimDuration::from_ms(0.0004).as_micros(), 0);
        assert_eq!(SimDuration::from_ms(0.0005).as_micros(), 1);
        assert_eq!(SimTime::from_ms(4.25).as_ms(), 4.25);
    }

    #[test]
    fn skew_clamps_at_zero() {
        assert_eq!(SimTime::from_micros(10).offset_by(-50), SimTime::ZERO);
        assert_eq!(SimTime::from_micros(10).offset_by(5).as_micros(), 15);
    }
}
