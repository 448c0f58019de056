//! Longest-prefix match by controlled prefix expansion into multibit
//! tables (Srinivasan & Varghese, "Fast Address Lookups Using Controlled
//! Prefix Expansion", 1999).
//!
//! * IPv4 is DIR-24-8 (Gupta, Lin & McKeown, "Routing Lookups in Hardware at
//!   Memory Access Speeds", INFOCOM 1998), laid out as DPDK's `rte_lpm`: a
//!   first table of 2^24 entries indexed by the top 24 address bits, and
//!   256-entry groups ("tbl8") for the /24s that hold longer prefixes. A
//!   lookup is one read, or two for an address under a prefix longer than
//!   /24.
//! * IPv6 uses the same structure with a 2^16-entry first table and then
//!   up to 14 levels of 256-entry groups (DPDK's `rte_lpm6` chains tbl8s
//!   the same way after a 24-bit first level; 16 bits keep the first table
//!   at 256 KiB). A lookup reads 1 + (prefix length − 16) / 8 entries,
//!   rounded up: 5 for a /48, 7 for a /64. A binary search over prefix
//!   lengths with a hash table per length (Waldvogel et al., SIGCOMM 1997)
//!   would take about 7 hash probes for any address, but needs markers and
//!   precomputed best matches that make incremental updates costly; a
//!   tree bitmap saves memory but costs popcounts and more complex updates.
//!   The expanded trie needs only plain indexed reads and shares its add
//!   and delete code with DIR-24-8.
//!
//! Every entry is a `u32`: a valid bit, an "extended" bit (the value is a
//! group index, not a next hop), the depth (prefix length) of the route
//! that wrote it, and a 22-bit value. The depth makes updates incremental,
//! as in `rte_lpm`: adding a prefix of length d overwrites only entries of
//! depth ≤ d in its range; deleting it rewrites only entries of depth d,
//! with the longest covering shorter prefix (which the caller finds in its
//! [`RuleSet`]). A group whose entries all come from one prefix that
//! covers the whole group is folded back into its parent entry, so every
//! group holds at least one entry of a prefix longer than the group's
//! start bit (the invariant that keeps lookups at their minimum depth).
//!
//! Keys are `u128` with the address in the top bits (an IPv4 address is
//! shifted left by 96), so one implementation serves both families.

use std::collections::HashMap;

const VALID: u32 = 1 << 31;
const EXT: u32 = 1 << 30;
const DEPTH_SHIFT: u32 = 22;
/// Largest next-hop value (and group index) an entry can hold.
pub const MAX_VALUE: u32 = (1 << DEPTH_SHIFT) - 1;
const GROUP: usize = 256;

/// The group table is full (too many prefixes longer than the first
/// level, each needing its own 256-entry group per level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the LPM table has no free group left ({max} groups of 256 entries in use)")]
pub struct TableFull {
    pub max: usize,
}

/// Where an entry is: the first table or the group array.
#[derive(Debug, Clone, Copy)]
enum Slot {
    First(usize),
    Group(usize),
}

/// A multibit LPM table over `BITS`-bit addresses with a `FIRST`-bit first
/// level and 8-bit levels after it (see the module docs).
#[derive(Clone)]
pub struct Table<const BITS: u32, const FIRST: u32> {
    first: Vec<u32>,
    groups: Vec<u32>,
    free: Vec<u32>,
    max_groups: usize,
}

/// IPv4: DIR-24-8.
pub type Table4 = Table<32, 24>;
/// IPv6: 16-8-8-...-8.
pub type Table6 = Table<128, 16>;

impl<const BITS: u32, const FIRST: u32> std::fmt::Debug for Table<BITS, FIRST> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("bits", &BITS)
            .field("first", &FIRST)
            .field("groups_in_use", &self.groups_in_use())
            .finish()
    }
}

#[inline]
fn leaf(depth: u32, value: u32) -> u32 {
    VALID | (depth << DEPTH_SHIFT) | value
}

#[inline]
fn depth_of(e: u32) -> u32 {
    (e >> DEPTH_SHIFT) & 0xff
}

/// `width` bits of `key` starting at bit `start` (bit 0 = the top bit).
#[inline]
fn bits(key: u128, start: u32, width: u32) -> usize {
    ((key << start) >> (128 - width)) as usize
}

/// `key` with everything after the first `depth` bits cleared.
#[inline]
pub fn mask(key: u128, depth: u32) -> u128 {
    if depth == 0 {
        0
    } else {
        key & (u128::MAX << (128 - depth))
    }
}

impl<const BITS: u32, const FIRST: u32> Table<BITS, FIRST> {
    const LEVELS: usize = 1 + ((BITS - FIRST) / 8) as usize;

    /// An empty table that may use up to `max_groups` groups.
    pub fn new(max_groups: usize) -> Self {
        assert!((BITS - FIRST).is_multiple_of(8) && FIRST <= 24 && BITS <= 128);
        Table {
            // Zeroed memory from the allocator: pages are mapped on first
            // write, so an empty table costs little.
            first: vec![0; 1 << FIRST],
            groups: Vec::new(),
            free: Vec::new(),
            max_groups: max_groups.min(MAX_VALUE as usize + 1),
        }
    }

    /// Groups allocated and not freed.
    pub fn groups_in_use(&self) -> usize {
        self.groups.len() / GROUP - self.free.len()
    }

    /// The value of the longest prefix that covers `key`.
    #[inline]
    pub fn lookup(&self, key: u128) -> Option<u32> {
        let mut shift = 128 - FIRST;
        let mut e = self.first[(key >> shift) as usize];
        while e & EXT != 0 {
            shift -= 8;
            let i = ((key >> shift) & 0xff) as usize;
            e = self.groups[(((e & MAX_VALUE) as usize) << 8) | i];
        }
        (e & VALID != 0).then_some(e & MAX_VALUE)
    }

    fn get(&self, slot: Slot) -> u32 {
        match slot {
            Slot::First(i) => self.first[i],
            Slot::Group(i) => self.groups[i],
        }
    }

    fn set(&mut self, slot: Slot, e: u32) {
        match slot {
            Slot::First(i) => self.first[i] = e,
            Slot::Group(i) => self.groups[i] = e,
        }
    }

    /// The group under `slot`, creating it (every entry a copy of the
    /// entry it expands) if `slot` holds a leaf.
    fn child(&mut self, slot: Slot) -> usize {
        let e = self.get(slot);
        if e & EXT != 0 {
            return (e & MAX_VALUE) as usize;
        }
        let g = match self.free.pop() {
            Some(g) => {
                let g = g as usize;
                self.groups[g * GROUP..(g + 1) * GROUP].fill(e);
                g
            }
            None => {
                let g = self.groups.len() / GROUP;
                self.groups.resize((g + 1) * GROUP, e);
                g
            }
        };
        self.set(slot, EXT | g as u32);
        g
    }

    fn groups_available(&self) -> usize {
        self.free.len() + self.max_groups.saturating_sub(self.groups.len() / GROUP)
    }

    /// Writes `new` (a leaf of `depth`) wherever the entries, or the
    /// groups under them, hold nothing or a prefix no longer than `depth`.
    fn fill(entries: &mut [u32], groups: &mut [u32], depth: u32, new: u32) {
        for e in entries {
            if *e & EXT != 0 {
                let g = (*e & MAX_VALUE) as usize;
                let mut group = [0u32; GROUP];
                group.copy_from_slice(&groups[g * GROUP..(g + 1) * GROUP]);
                Self::fill(&mut group, groups, depth, new);
                groups[g * GROUP..(g + 1) * GROUP].copy_from_slice(&group);
            } else if *e & VALID == 0 || depth_of(*e) <= depth {
                *e = new;
            }
        }
    }

    /// Replaces the entries written by the prefix of `depth` with `rep`.
    fn unfill(entries: &mut [u32], groups: &mut [u32], depth: u32, rep: u32) {
        for e in entries {
            if *e & EXT != 0 {
                let g = (*e & MAX_VALUE) as usize;
                let mut group = [0u32; GROUP];
                group.copy_from_slice(&groups[g * GROUP..(g + 1) * GROUP]);
                Self::unfill(&mut group, groups, depth, rep);
                groups[g * GROUP..(g + 1) * GROUP].copy_from_slice(&group);
            } else if *e & VALID != 0 && depth_of(*e) == depth {
                *e = rep;
            }
        }
    }

    /// Applies `f` (fill or unfill) to the entries of a range.
    fn apply(
        &mut self,
        (first, in_first, n): (usize, bool, usize),
        f: fn(&mut [u32], &mut [u32], u32, u32),
        depth: u32,
        e: u32,
    ) {
        if in_first {
            f(
                &mut self.first[first..first + n],
                &mut self.groups,
                depth,
                e,
            );
        } else {
            let mut group = [0u32; GROUP];
            group[..n].copy_from_slice(&self.groups[first..first + n]);
            f(&mut group[..n], &mut self.groups, depth, e);
            self.groups[first..first + n].copy_from_slice(&group[..n]);
        }
    }

    /// The entries of the level that `depth` ends in, for prefix `key`
    /// (first slot, whether in the first table, count), and the path of
    /// (parent slot, group, group's start bit) to get there. With
    /// `create`, missing groups are made; without, `None` if the prefix
    /// cannot be in the table.
    #[allow(clippy::type_complexity)]
    fn descend(
        &mut self,
        key: u128,
        depth: u32,
        create: bool,
    ) -> Option<((usize, bool, usize), Vec<(Slot, usize, u32)>)> {
        let mut path = Vec::new();
        if depth <= FIRST {
            let n = 1usize << (FIRST - depth);
            let first = bits(key, 0, FIRST) & !(n - 1);
            return Some(((first, true, n), path));
        }
        let mut slot = Slot::First(bits(key, 0, FIRST));
        let mut start = FIRST;
        loop {
            if !create && self.get(slot) & EXT == 0 {
                return None;
            }
            let g = self.child(slot);
            path.push((slot, g, start));
            let end = start + 8;
            let i = bits(key, start, 8);
            if depth <= end {
                let n = 1usize << (end - depth);
                return Some(((g * GROUP + (i & !(n - 1)), false, n), path));
            }
            slot = Slot::Group(g * GROUP + i);
            start = end;
        }
    }

    /// Adds (or replaces) the prefix `key/depth` with `value`.
    pub fn insert(&mut self, key: u128, depth: u8, value: u32) -> Result<(), TableFull> {
        let depth = u32::from(depth).min(BITS);
        assert!(value <= MAX_VALUE);
        if depth > FIRST && self.groups_available() < Self::LEVELS - 1 {
            return Err(TableFull {
                max: self.max_groups,
            });
        }
        let key = mask(key, depth);
        let Some((range, _)) = self.descend(key, depth, true) else {
            return Ok(());
        };
        self.apply(range, Self::fill, depth, leaf(depth, value));
        Ok(())
    }

    /// Removes the prefix `key/depth`; its addresses fall back to
    /// `covering` (the longest shorter prefix that covers it: depth and
    /// value), or to no route.
    pub fn remove(&mut self, key: u128, depth: u8, covering: Option<(u8, u32)>) {
        let depth = u32::from(depth).min(BITS);
        let key = mask(key, depth);
        let Some((range, path)) = self.descend(key, depth, false) else {
            return;
        };
        let rep = covering.map_or(0, |(d, v)| leaf(u32::from(d), v));
        self.apply(range, Self::unfill, depth, rep);
        // Fold groups that no longer hold a longer prefix, deepest first.
        for (parent, g, start) in path.into_iter().rev() {
            let entries = &self.groups[g * GROUP..(g + 1) * GROUP];
            let e = entries[0];
            let uniform = entries.iter().all(|&x| x == e);
            if !uniform || e & EXT != 0 || (e & VALID != 0 && depth_of(e) > start) {
                break;
            }
            self.set(parent, e);
            self.free.push(g as u32);
        }
    }
}

impl Table<32, 24> {
    /// DIR-24-8 lookup of an IPv4 address: one read, two if the /24 holds
    /// longer prefixes.
    #[inline]
    pub fn lookup_v4(&self, addr: u32) -> Option<u32> {
        let mut e = self.first[(addr >> 8) as usize];
        if e & EXT != 0 {
            e = self.groups[(((e & MAX_VALUE) as usize) << 8) | (addr & 0xff) as usize];
        }
        (e & VALID != 0).then_some(e & MAX_VALUE)
    }
}

/// The routes themselves, by prefix length: what a deletion falls back to.
#[derive(Debug, Clone)]
pub struct RuleSet {
    by_depth: Vec<HashMap<u128, u32>>,
}

impl RuleSet {
    pub fn new(bits: u32) -> Self {
        RuleSet {
            by_depth: vec![HashMap::new(); bits as usize + 1],
        }
    }

    pub fn get(&self, key: u128, depth: u8) -> Option<u32> {
        self.by_depth[usize::from(depth)]
            .get(&mask(key, depth.into()))
            .copied()
    }

    pub fn insert(&mut self, key: u128, depth: u8, value: u32) -> Option<u32> {
        self.by_depth[usize::from(depth)].insert(mask(key, depth.into()), value)
    }

    pub fn remove(&mut self, key: u128, depth: u8) -> Option<u32> {
        self.by_depth[usize::from(depth)].remove(&mask(key, depth.into()))
    }

    /// The longest rule shorter than `depth` that covers `key`.
    pub fn covering(&self, key: u128, depth: u8) -> Option<(u8, u32)> {
        (0..depth)
            .rev()
            .find_map(|d| self.get(key, d).map(|v| (d, v)))
    }

    pub fn len(&self) -> usize {
        self.by_depth.iter().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A table with its rule set: incremental insert and delete.
#[derive(Debug, Clone)]
pub struct Lpm<const BITS: u32, const FIRST: u32> {
    pub table: std::sync::Arc<Table<BITS, FIRST>>,
    pub rules: RuleSet,
}

impl<const BITS: u32, const FIRST: u32> Lpm<BITS, FIRST> {
    pub fn new(max_groups: usize) -> Self {
        Lpm {
            table: std::sync::Arc::new(Table::new(max_groups)),
            rules: RuleSet::new(BITS),
        }
    }

    /// Adds or replaces a route. The table is copied first if a published
    /// snapshot still shares it (copy on write).
    pub fn insert(&mut self, key: u128, depth: u8, value: u32) -> Result<(), TableFull> {
        std::sync::Arc::make_mut(&mut self.table).insert(key, depth, value)?;
        self.rules.insert(key, depth, value);
        Ok(())
    }

    /// Deletes a route; returns its value if it existed.
    pub fn remove(&mut self, key: u128, depth: u8) -> Option<u32> {
        let old = self.rules.remove(key, depth)?;
        let covering = self.rules.covering(key, depth);
        std::sync::Arc::make_mut(&mut self.table).remove(key, depth, covering);
        Some(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k4(a: [u8; 4]) -> u128 {
        u128::from(u32::from_be_bytes(a)) << 96
    }

    #[test]
    fn dir_24_8_one_or_two_reads() {
        let mut t = Table4::new(16);
        t.insert(k4([10, 0, 0, 0]), 8, 1).unwrap();
        t.insert(k4([10, 1, 2, 0]), 24, 2).unwrap();
        t.insert(k4([10, 1, 2, 128]), 25, 3).unwrap();
        t.insert(k4([0, 0, 0, 0]), 0, 4).unwrap();
        assert_eq!(t.groups_in_use(), 1);
        for (a, want) in [
            ([10, 9, 9, 9], 1),
            ([10, 1, 2, 5], 2),
            ([10, 1, 2, 200], 3),
            ([11, 0, 0, 1], 4),
        ] {
            assert_eq!(t.lookup_v4(u32::from_be_bytes(a)), Some(want), "{a:?}");
            assert_eq!(t.lookup(k4(a)), Some(want), "{a:?}");
        }
        // A shorter prefix added later does not hide the longer ones.
        t.insert(k4([10, 1, 0, 0]), 16, 5).unwrap();
        assert_eq!(t.lookup_v4(u32::from_be_bytes([10, 1, 2, 200])), Some(3));
        assert_eq!(t.lookup_v4(u32::from_be_bytes([10, 1, 3, 1])), Some(5));
        // Removing the /25 folds its group back into the first table.
        t.remove(k4([10, 1, 2, 128]), 25, Some((24, 2)));
        assert_eq!(t.groups_in_use(), 0);
        assert_eq!(t.lookup_v4(u32::from_be_bytes([10, 1, 2, 200])), Some(2));
        t.remove(k4([10, 1, 2, 0]), 24, Some((16, 5)));
        assert_eq!(t.lookup_v4(u32::from_be_bytes([10, 1, 2, 200])), Some(5));
        t.remove(k4([0; 4]), 0, None);
        assert_eq!(t.lookup_v4(u32::from_be_bytes([11, 0, 0, 1])), None);
    }

    /// Two /25 siblings with one value fill their group with identical
    /// entries; the group must not fold into the /24 entry (a later delete
    /// of one /25 would no longer find it).
    #[test]
    fn identical_long_entries_do_not_fold() {
        let mut l: Lpm<32, 24> = Lpm::new(16);
        l.insert(k4([10, 1, 2, 0]), 25, 7).unwrap();
        l.insert(k4([10, 1, 2, 128]), 25, 7).unwrap();
        l.insert(k4([10, 1, 2, 0]), 26, 8).unwrap();
        l.remove(k4([10, 1, 2, 0]), 26);
        assert_eq!(l.table.groups_in_use(), 1);
        l.remove(k4([10, 1, 2, 0]), 25);
        assert_eq!(l.table.lookup_v4(u32::from_be_bytes([10, 1, 2, 1])), None);
        assert_eq!(
            l.table.lookup_v4(u32::from_be_bytes([10, 1, 2, 129])),
            Some(7)
        );
        l.remove(k4([10, 1, 2, 128]), 25);
        assert_eq!(l.table.groups_in_use(), 0);
    }

    #[test]
    fn host_routes_and_group_limit() {
        let mut t = Table4::new(2);
        t.insert(k4([192, 0, 2, 1]), 32, 7).unwrap();
        t.insert(k4([192, 0, 3, 1]), 32, 8).unwrap();
        assert_eq!(
            t.insert(k4([192, 0, 4, 1]), 32, 9),
            Err(TableFull { max: 2 })
        );
        assert_eq!(t.lookup_v4(u32::from_be_bytes([192, 0, 2, 1])), Some(7));
        assert_eq!(t.lookup_v4(u32::from_be_bytes([192, 0, 2, 2])), None);
        t.remove(k4([192, 0, 2, 1]), 32, None);
        t.insert(k4([192, 0, 4, 1]), 32, 9).unwrap();
        assert_eq!(t.groups_in_use(), 2);
    }

    #[test]
    fn ipv6_levels() {
        let k = |s: &str| u128::from(s.parse::<std::net::Ipv6Addr>().unwrap());
        let mut t = Table6::new(64);
        t.insert(k("2001:db8::"), 32, 1).unwrap();
        t.insert(k("2001:db8:1::"), 48, 2).unwrap();
        t.insert(k("2001:db8:1:2::1"), 128, 3).unwrap();
        t.insert(k("::"), 0, 4).unwrap();
        assert_eq!(t.lookup(k("2001:db8:5::1")), Some(1));
        assert_eq!(t.lookup(k("2001:db8:1:7::1")), Some(2));
        assert_eq!(t.lookup(k("2001:db8:1:2::1")), Some(3));
        assert_eq!(t.lookup(k("2001:db8:1:2::2")), Some(2));
        assert_eq!(t.lookup(k("fe80::1")), Some(4));
        let before = t.groups_in_use();
        t.remove(k("2001:db8:1:2::1"), 128, Some((48, 2)));
        assert_eq!(t.lookup(k("2001:db8:1:2::1")), Some(2));
        assert!(t.groups_in_use() < before);
    }
}
