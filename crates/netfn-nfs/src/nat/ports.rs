//! Port (and ICMP identifier) allocation for the NAT: one free-set per
//! public address and protocol, split by parity, each a two-level bitmap
//! (a summary bit per 64-port word), so taking a given port is O(1) and
//! finding a free one reads at most the 8 summary words and one port word
//! -- never a scan of the whole range.

/// Ports of one parity: index `i` is port `2 * i + parity`.
#[derive(Debug, Clone)]
struct Half {
    /// Bit set: the port is free.
    free: Box<[u64; 512]>,
    /// Bit `w` set: `free[w] != 0`.
    summary: [u64; 8],
    count: u32,
}

impl Half {
    fn new(parity: u16, lo: u16, hi: u16) -> Half {
        let mut h = Half {
            free: Box::new([0; 512]),
            summary: [0; 8],
            count: 0,
        };
        for port in (lo..=hi).filter(|p| p & 1 == parity) {
            h.give(usize::from(port >> 1));
        }
        h
    }

    fn is_free(&self, i: usize) -> bool {
        self.free[i / 64] & (1 << (i % 64)) != 0
    }

    fn take(&mut self, i: usize) {
        let w = i / 64;
        self.free[w] &= !(1 << (i % 64));
        if self.free[w] == 0 {
            self.summary[w / 64] &= !(1 << (w % 64));
        }
        self.count -= 1;
    }

    fn give(&mut self, i: usize) {
        let w = i / 64;
        self.free[w] |= 1 << (i % 64);
        self.summary[w / 64] |= 1 << (w % 64);
        self.count += 1;
    }

    /// A free index at or after `start` (wrapping), if any.
    fn find(&self, start: usize) -> Option<usize> {
        if self.count == 0 {
            return None;
        }
        let (w0, b0) = (start / 64 % 512, start % 64);
        // The start word, from the start bit on.
        let here = self.free[w0] & (!0u64 << b0);
        if here != 0 {
            return Some(w0 * 64 + here.trailing_zeros() as usize);
        }
        // Following words, through the summary (wrapping to the start word).
        let (s0, sb) = ((w0 + 1) / 64 % 8, (w0 + 1) % 64);
        for k in 0..=8 {
            let s = (s0 + k) % 8;
            let mut bits = self.summary[s];
            if k == 0 {
                bits &= !0u64 << sb;
            }
            if bits != 0 {
                let w = s * 64 + bits.trailing_zeros() as usize;
                return Some(w * 64 + self.free[w].trailing_zeros() as usize);
            }
        }
        None
    }
}

/// The free ports of one public address for one protocol.
#[derive(Debug, Clone)]
pub struct PortSet {
    halves: [Half; 2],
    lo: u16,
    hi: u16,
}

impl PortSet {
    /// All ports of `lo..=hi` free.
    pub fn new(lo: u16, hi: u16) -> PortSet {
        PortSet {
            halves: [Half::new(0, lo, hi), Half::new(1, lo, hi)],
            lo,
            hi,
        }
    }

    pub fn in_range(&self, port: u16) -> bool {
        (self.lo..=self.hi).contains(&port)
    }

    pub fn free(&self) -> u32 {
        self.halves[0].count + self.halves[1].count
    }

    pub fn is_free(&self, port: u16) -> bool {
        self.in_range(port) && self.halves[usize::from(port & 1)].is_free(usize::from(port >> 1))
    }

    /// Takes `port` if it is in range and free.
    pub fn reserve(&mut self, port: u16) -> bool {
        if !self.is_free(port) {
            return false;
        }
        self.halves[usize::from(port & 1)].take(usize::from(port >> 1));
        true
    }

    /// Takes a port: `preferred` if free (port preservation), else one of
    /// the same parity from a random point `seed`, else (unless `parity`
    /// is required) one of the other parity. `None`: exhausted.
    pub fn allocate(&mut self, preferred: u16, parity: bool, seed: u32) -> Option<u16> {
        if self.reserve(preferred) {
            return Some(preferred);
        }
        let same = usize::from(preferred & 1);
        let order: &[usize] = if parity {
            &[same][..]
        } else {
            &[same, 1 - same][..]
        };
        for &p in order {
            let half = &mut self.halves[p];
            if let Some(i) = half.find(seed as usize % 32_768) {
                half.take(i);
                return Some((i as u16) << 1 | p as u16);
            }
        }
        None
    }

    /// Returns a port taken by [`PortSet::allocate`] or [`PortSet::reserve`].
    pub fn release(&mut self, port: u16) {
        if self.in_range(port) {
            let half = &mut self.halves[usize::from(port & 1)];
            let i = usize::from(port >> 1);
            if !half.is_free(i) {
                half.give(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn preserves_then_allocates_unique_ports_until_exhausted() {
        let mut s = PortSet::new(1000, 1099);
        assert_eq!(s.free(), 100);
        assert_eq!(s.allocate(1050, false, 0), Some(1050));
        let mut seen = HashSet::from([1050]);
        for i in 0..99u32 {
            let p = s
                .allocate(1050, false, i.wrapping_mul(2_654_435_761))
                .unwrap();
            assert!((1000..=1099).contains(&p), "{p}");
            assert!(seen.insert(p), "{p} handed out twice");
        }
        assert_eq!(s.allocate(1050, false, 7), None);
        s.release(1077);
        assert_eq!(s.allocate(1, false, 0), Some(1077));
        s.release(5); // out of range: ignored
        assert_eq!(s.free(), 0);
    }

    #[test]
    fn parity_is_kept_when_asked() {
        let mut s = PortSet::new(1024, 1031);
        for _ in 0..4 {
            assert_eq!(s.allocate(3, true, 0).unwrap() & 1, 1);
        }
        assert_eq!(s.allocate(3, true, 0), None, "no odd port left");
        assert_eq!(s.allocate(3, false, 0).unwrap() & 1, 0, "falls back");
    }

    #[test]
    fn full_range_and_wrapping_search() {
        let mut s = PortSet::new(0, 65_535);
        assert_eq!(s.free(), 65_536);
        assert!(s.reserve(65_535) && !s.reserve(65_535));
        // Start near the top: the search wraps to the bottom.
        for p in 65_500..65_535u16 {
            assert!(s.reserve(p));
        }
        let got = s.allocate(65_501, true, 32_760).unwrap();
        assert_eq!(got & 1, 1);
        assert!(got < 65_500, "{got}");
    }
}
