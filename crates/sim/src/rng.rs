//! Randomness: one pinned generator (ChaCha8), split into independent streams by label.
//!
//! Every stream is `ChaCha8Rng` keyed by the run's seed (expanded with SplitMix64) with the
//! ChaCha stream number set to the FNV-1a hash of a label such as `network`, `faults`,
//! `workload/p3` or `node/n1`. Streams never share state, so drawing more from one (say, a
//! fault schedule with more faults) leaves every other stream's draws unchanged.
//!
//! Only `next_u64` of the generator is used; every derived draw (bounded integers, unit
//! floats, coin flips) is implemented here, so no change in the `rand` crate's sampling
//! algorithms can change old seeds.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// A deterministic random stream.
#[derive(Clone, Debug)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

impl SimRng {
    /// The stream named `label` of the run seeded with `seed`.
    pub fn stream(seed: u64, label: &str) -> SimRng {
        let mut state = seed;
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        let mut inner = ChaCha8Rng::from_seed(key);
        inner.set_stream(fnv1a64(label.as_bytes()));
        SimRng { inner }
    }

    /// 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform integer in `0..n` (Lemire's method, unbiased). `n` must be positive.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no possible value");
        let mut product = u128::from(self.next_u64()) * u128::from(n);
        let mut low = product as u64;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                product = u128::from(self.next_u64()) * u128::from(n);
                low = product as u64;
            }
        }
        (product >> 64) as u64
    }

    /// A uniform integer in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "empty range {low}..={high}");
        match (high - low).checked_add(1) {
            Some(span) => low + self.below(span),
            None => self.next_u64(),
        }
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: Probability) -> bool {
        match p.0 {
            0 => false,
            Probability::ONE_THRESHOLD => true,
            threshold => (self.next_u64() >> 11) < threshold,
        }
    }

    /// A uniformly chosen element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A probability as an integer threshold over 2^53, fixed when a scenario is loaded so no
/// float comparison happens during a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Probability(u64);

impl Probability {
    const ONE_THRESHOLD: u64 = 1 << 53;
    /// Never.
    pub const NEVER: Probability = Probability(0);
    /// Always.
    pub const ALWAYS: Probability = Probability(Self::ONE_THRESHOLD);

    /// `p` in `[0, 1]`, rounded to the nearest multiple of 2^-53. Values outside are
    /// clamped; the scenario loader refuses them before they get here.
    pub fn new(p: f64) -> Probability {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        Probability((p * Self::ONE_THRESHOLD as f64).round() as u64)
    }

    /// The probability as a float, for output.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / Self::ONE_THRESHOLD as f64
    }

    /// True if this never happens.
    pub fn is_never(self) -> bool {
        self.0 == 0
    }
}

/// SplitMix64, used only to expand a 64-bit seed into a 256-bit ChaCha key.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a, 64-bit: a stable hash of stream labels (and of client ids for `sticky`).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let mut a1 = SimRng::stream(7, "network");
        let mut a2 = SimRng::stream(7, "network");
        let mut b = SimRng::stream(7, "workload");
        let mut c = SimRng::stream(8, "network");
        let xs: Vec<u64> = (0..8).map(|_| a1.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| a2.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let ws: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert_ne!(xs, ws);
    }

    const PINNED_FIRST_DRAW: u64 = 3_725_782_346_952_512_963;
    const PINNED_FNV: u64 = 2_201_793_692_272_634_501;

    #[test]
    fn pinned_first_draws_never_change() {
        // If this fails, every recorded seed in every report changed meaning.
        let mut rng = SimRng::stream(1, "network");
        assert_eq!(rng.next_u64(), PINNED_FIRST_DRAW);
        assert_eq!(fnv1a64(b"network"), PINNED_FNV);
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut rng = SimRng::stream(3, "t");
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[rng.below(6) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn probability_extremes_are_exact() {
        let mut rng = SimRng::stream(3, "t");
        assert!((0..1000).all(|_| rng.chance(Probability::ALWAYS)));
        assert!((0..1000).all(|_| !rng.chance(Probability::NEVER)));
        let hits = (0..100_000)
            .filter(|_| rng.chance(Probability::new(0.25)))
            .count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
    }
}
