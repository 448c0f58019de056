//! Latency measurement between a `generator(timestamp = "precise")` and a
//! `sink(latency = true)` of the same process: a clock both read, and a
//! log-bucket histogram the sink records into.
//!
//! The runtime's clock is read once per scheduling round, so a packet
//! generated and sunk in one round would show 0 and one that crossed a
//! Worker would show whole rounds. The precise clock is read once per
//! batch instead: at the generator when it fills a batch, at the sink when
//! a batch arrives.
//!
//! The histogram is HDR-like: values below [`SUB`] are exact, above that
//! each power of two is split in [`SUB`] buckets, so a percentile read back
//! is within 1/[`SUB`] (about 3 %) of the sample it stands for, from 1 ns to
//! hours, in a fixed array (nothing allocated per sample).

use std::sync::OnceLock;
use std::time::Instant;

/// Nanoseconds since this process first asked (shared by every generator
/// and sink of the process).
pub fn precise_now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    // Never 0: a timestamp of 0 would read as "not stamped".
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

/// Sub-buckets per power of two (a power of two).
pub const SUB: u64 = 32;
const SUB_BITS: u32 = SUB.trailing_zeros();
/// Powers of two above the exact range: up to 2^(SUB_BITS + MAGNITUDES) ns.
const MAGNITUDES: usize = 64 - SUB_BITS as usize;
const BUCKETS: usize = SUB as usize * (MAGNITUDES + 1);

/// Counts of values in logarithmic buckets.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("max", &self.max)
            .finish()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

fn bucket_of(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    // v has its top bit at `top` >= SUB_BITS: keep SUB_BITS bits below it.
    let top = 63 - v.leading_zeros();
    let shift = top - SUB_BITS;
    let mantissa = (v >> shift) - SUB; // 0..SUB
    ((shift as u64 + 1) * SUB + mantissa) as usize
}

/// The smallest and largest value of a bucket.
fn bucket_range(b: usize) -> (u64, u64) {
    let b = b as u64;
    if b < SUB {
        return (b, b);
    }
    let shift = b / SUB - 1;
    let low = (SUB + b % SUB) << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[bucket_of(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    /// Samples recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0..=1): the midpoint of the bucket holding
    /// the sample of rank ceil(q * len) (the nearest-rank definition), never
    /// above the largest sample; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, high) = bucket_range(b);
                return (low + (high - low) / 2).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_values() {
        let mut expected_low = 0;
        for b in 0..BUCKETS {
            let (low, high) = bucket_range(b);
            assert_eq!(low, expected_low, "bucket {b}");
            assert!(high >= low);
            assert_eq!(bucket_of(low), b);
            assert_eq!(bucket_of(high), b);
            if high == u64::MAX {
                assert_eq!(b, BUCKETS - 1);
                return;
            }
            expected_low = high + 1;
        }
        panic!("the buckets end below u64::MAX");
    }

    /// Nearest-rank quantile of sorted samples.
    fn exact(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    #[test]
    fn quantiles_match_sorted_samples_within_a_bucket() {
        let mut rng = fastrand::Rng::with_seed(7);
        for case in 0..20 {
            let n = 1 + rng.usize(..20_000);
            // Log-uniform values from 1 ns to about 10 s, plus some exact
            // small ones.
            let mut samples: Vec<u64> = (0..n)
                .map(|_| {
                    if rng.u8(..10) == 0 {
                        rng.u64(..SUB)
                    } else {
                        (10f64.powf(rng.f64() * 10.0)) as u64
                    }
                })
                .collect();
            let mut h = Histogram::new();
            for &s in &samples {
                h.record(s);
            }
            samples.sort_unstable();
            assert_eq!(h.len(), n as u64);
            assert_eq!(h.max(), *samples.last().unwrap());
            for q in [0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0] {
                let want = exact(&samples, q);
                let got = h.quantile(q);
                let tolerance = want / SUB + 1;
                assert!(
                    got.abs_diff(want) <= tolerance,
                    "case {case}, n {n}, q {q}: histogram {got}, sorted {want}"
                );
            }
        }
    }

    #[test]
    fn merge_is_recording_both() {
        let (mut a, mut b, mut both) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in 0..1000u64 {
            let x = v * v * 37;
            if v % 3 == 0 {
                a.record(x);
            } else {
                b.record(x);
            }
            both.record(x);
        }
        a.merge(&b);
        for q in [0.5, 0.99, 1.0] {
            assert_eq!(a.quantile(q), both.quantile(q));
        }
        assert_eq!(a.len(), 1000);
        assert!(Histogram::new().quantile(0.5) == 0 && Histogram::new().is_empty());
    }

    #[test]
    fn precise_clock_is_monotonic_and_never_zero() {
        let a = precise_now_ns();
        let b = precise_now_ns();
        assert!(a > 0 && b >= a);
    }
}
