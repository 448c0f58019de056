//! Inputs for the "random bytes and mutated frames never panic" property
//! tests: strategies for random frames and byte flips, and mutated copies
//! of known-good frames.

use std::ops::Range;

use proptest::prelude::*;

/// 1 to `count - 1` frames of random bytes, each shorter than `len`.
pub fn frames(len: usize, count: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..len), 1..count)
}

/// Byte flips: (position, modulo the frame length; XOR mask).
pub fn flips(n: Range<usize>) -> impl Strategy<Value = Vec<(usize, u8)>> {
    proptest::collection::vec((any::<usize>(), any::<u8>()), n)
}

/// `base` with the bytes at `flips` flipped.
pub fn flipped(base: &[u8], flips: &[(usize, u8)]) -> Vec<u8> {
    let mut f = base.to_vec();
    for (at, x) in flips {
        let i = at % f.len();
        f[i] ^= x;
    }
    f
}

/// `frames`, then for each frame of `base` a copy with `flips` applied
/// and a copy cut short at the first flip's position (empty if none).
pub fn mangle<B: AsRef<[u8]>>(
    base: impl IntoIterator<Item = B>,
    frames: &[Vec<u8>],
    flips: &[(usize, u8)],
) -> Vec<Vec<u8>> {
    let mut all = frames.to_vec();
    for b in base {
        let b = b.as_ref();
        all.push(flipped(b, flips));
        let cut = flips.first().map_or(0, |(a, _)| a % b.len());
        all.push(b[..cut].to_vec());
    }
    all
}
