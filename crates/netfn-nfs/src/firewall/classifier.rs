//! The packet classifier of the `firewall` NF: the first matching rule for
//! a packet, without scanning the rules.
//!
//! **Tuple space search** (Srinivasan, Suri, Varghese, "Packet
//! Classification using Tuple Space Search", SIGCOMM 1999), with the two
//! refinements Open vSwitch's classifier uses (Pfaff et al., "The Design
//! and Implementation of Open vSwitch", NSDI 2015, §5.4): priority pruning
//! and prefix tracking.
//!
//! * A *tuple* is a combination of which fields a rule specifies exactly:
//!   (family, source prefix length, destination prefix length, protocol
//!   given or not, destination port given exactly or not). All rule
//!   alternatives of one tuple live in one hash table under the key of
//!   their masked fields; a lookup probes one hash per tuple.
//! * *Prefix tracking*: a multibit trie (stride 4) per family and direction
//!   holds every rule prefix; walking it with the packet's address yields
//!   the set of prefix lengths that can match at all. Only tuples whose
//!   source *and* destination lengths are both in those sets are probed, so
//!   a thousand rules about other networks cost nothing but a short walk.
//! * *Priority pruning*: each (source length, destination length) cell
//!   knows its best (lowest) rule index; once a match better than that is
//!   found, the cell is skipped.
//!
//! Port ranges, source ports, ICMP types/codes and TCP flags are a
//! secondary check on the (priority-sorted) rules found under a key: a
//! destination port list of few ports is expanded into exact keys, a wide
//! range stays a wildcard. A key with many alternatives (say, hundreds of
//! `from any to any port A-B` rules) gets a port index: the port space cut
//! at every range boundary into elementary intervals, each listing only the
//! alternatives that can match there, found by binary search. First-match
//! semantics are exact: every candidate
//! is checked with [`Match::matches`], and the lowest rule index wins.
//!
//! Why not a decision tree (HiCuts/HyperCuts) or bit vectors (Lakshman &
//! Stiliadis): trees need heuristics to bound their memory with overlapping
//! wildcard rules and are slow to rebuild; bit vectors cost N/64 words per
//! field per packet, which grows with the rule count. Tuple space search
//! builds in linear time, is exact by construction, and with prefix
//! tracking its per-packet work depends on how many distinct prefix
//! lengths cover the packet, not on how many rules there are.

use hashbrown::HashMap;

use super::rules::{Family, Fields, Match, PROTO_TCP, PROTO_UDP, Rule, prefix_mask};

/// A destination port list with at most this many ports becomes exact keys.
const MAX_EXACT_PORTS: u32 = 16;
const NIL: u32 = u32::MAX;

/// A set of prefix lengths 0..=128.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LenSet([u64; 3]);

impl LenSet {
    #[inline]
    fn insert(&mut self, len: u8) {
        self.0[usize::from(len >> 6)] |= 1 << (len & 63);
    }
    #[inline]
    fn and(self, other: LenSet) -> LenSet {
        LenSet([
            self.0[0] & other.0[0],
            self.0[1] & other.0[1],
            self.0[2] & other.0[2],
        ])
    }
    /// The lengths, ascending.
    #[inline]
    fn for_each(self, mut f: impl FnMut(u8)) {
        for (w, mut bits) in self.0.into_iter().enumerate() {
            while bits != 0 {
                let b = bits.trailing_zeros() as u8;
                f((w as u8) * 64 + b);
                bits &= bits - 1;
            }
        }
    }
}

/// A multibit trie (stride 4) over left-aligned prefixes that answers
/// "which prefix lengths have a prefix containing this address".
#[derive(Debug, Clone)]
struct LengthTrie {
    max_len: u8,
    /// `nodes[n].lens[v]`: bit r set if a prefix of length 4·depth + r
    /// matches every address whose nibble at this depth is `v` (and that
    /// reached this node).
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Clone, Copy)]
struct TrieNode {
    child: [u32; 16],
    lens: [u8; 16],
}

const EMPTY_NODE: TrieNode = TrieNode {
    child: [NIL; 16],
    lens: [0; 16],
};

#[inline]
fn nibble(addr: u128, depth: u8) -> usize {
    ((addr >> (124 - 4 * u32::from(depth))) & 0xf) as usize
}

impl LengthTrie {
    fn new(family: Family) -> Self {
        LengthTrie {
            max_len: family.bits(),
            nodes: vec![EMPTY_NODE],
        }
    }

    fn insert(&mut self, bits: u128, len: u8) {
        let (depth, r) = (len / 4, len % 4);
        let mut node = 0usize;
        for d in 0..depth {
            let v = nibble(bits, d);
            if self.nodes[node].child[v] == NIL {
                self.nodes.push(EMPTY_NODE);
                self.nodes[node].child[v] = (self.nodes.len() - 1) as u32;
            }
            node = self.nodes[node].child[v] as usize;
        }
        // r leading bits of the nibble are fixed; the rest are wildcards.
        let want = if depth * 4 < self.max_len {
            nibble(bits, depth) >> (4 - r)
        } else {
            0
        };
        for v in 0..16 {
            if v >> (4 - r) == want {
                self.nodes[node].lens[v] |= 1 << r;
            }
        }
    }

    /// The lengths of all prefixes that contain `addr`.
    ///
    /// Works on the two 64-bit halves of the address (a nibble at depth d
    /// is in half d / 16, and its lengths 4d..4d+3 in word d / 16 of the
    /// set), so the walk does no 128-bit shifts.
    #[inline]
    fn lengths(&self, addr: u128) -> LenSet {
        let halves = [(addr >> 64) as u64, addr as u64];
        let mut set = LenSet::default();
        let last = self.max_len / 4;
        let mut node = &self.nodes[0];
        let mut depth = 0u8;
        loop {
            let (word, shift) = (usize::from(depth / 16), u32::from(depth % 16) * 4);
            let v = if depth < last {
                ((halves[word] >> (60 - shift)) & 0xf) as usize
            } else {
                0
            };
            set.0[word] |= u64::from(node.lens[v]) << shift;
            let next = node.child[v];
            if depth == last || next == NIL {
                return set;
            }
            node = &self.nodes[next as usize];
            depth += 1;
        }
    }
}

/// The masked fields a tuple's hash table is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    tuple: u32,
    proto: u8,
    dport: u16,
    src: u128,
    dst: u128,
}

/// Which of the protocol / destination port fields a tuple fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Wild = 0,
    Proto = 1,
    ProtoPort = 2,
}

/// All tuples with one (source length, destination length).
#[derive(Debug, Clone, Copy)]
struct Cell {
    id: u32,
    /// Bit k: a tuple of kind k exists.
    kinds: u8,
    /// The lowest rule index in the cell.
    best: u32,
}

#[derive(Debug, Clone)]
struct FamilyIndex {
    src: LengthTrie,
    dst: LengthTrie,
    /// For each source length, the destination lengths that have a cell.
    dst_lens: Vec<LenSet>,
    /// (src len, dst len) -> index into `cells`, dense.
    cell_of: Vec<u32>,
    stride: usize,
}

impl FamilyIndex {
    fn new(family: Family) -> Self {
        let stride = usize::from(family.bits()) + 1;
        FamilyIndex {
            src: LengthTrie::new(family),
            dst: LengthTrie::new(family),
            dst_lens: vec![LenSet::default(); stride],
            cell_of: vec![NIL; stride * stride],
            stride,
        }
    }
}

/// A compiled rule set (see the module docs). Immutable once built.
#[derive(Debug, Clone)]
pub struct Classifier {
    families: [FamilyIndex; 2],
    cells: Vec<Cell>,
    table: HashMap<Key, Bucket, foldhash::fast::FixedState>,
    port_indexes: Vec<PortIndex>,
    /// Alternatives, referenced by the table's (start, len) ranges into
    /// `refs`, each list in rule order.
    alternatives: Vec<(u32, Match)>,
    refs: Vec<u32>,
    rules: usize,
}

impl Classifier {
    pub fn new(rules: &[Rule]) -> Classifier {
        let mut families = [FamilyIndex::new(Family::V4), FamilyIndex::new(Family::V6)];
        let mut cells: Vec<Cell> = Vec::new();
        let mut lists: HashMap<Key, Vec<u32>, foldhash::fast::FixedState> = HashMap::default();
        let mut alternatives = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            let priority = index as u32;
            for m in &rule.alternatives {
                let alt = alternatives.len() as u32;
                alternatives.push((priority, m.clone()));
                for (fi, family) in [Family::V4, Family::V6].into_iter().enumerate() {
                    let wrong =
                        |p: Option<super::rules::Prefix>| p.is_some_and(|p| p.family != family);
                    if m.family.is_some_and(|f| f != family) || wrong(m.src) || wrong(m.dst) {
                        continue;
                    }
                    let fam = &mut families[fi];
                    let (sbits, slen) = m.src.map_or((0, 0), |p| (p.bits, p.len));
                    let (dbits, dlen) = m.dst.map_or((0, 0), |p| (p.bits, p.len));
                    fam.src.insert(sbits, slen);
                    fam.dst.insert(dbits, dlen);
                    fam.dst_lens[usize::from(slen)].insert(dlen);
                    let at = usize::from(slen) * fam.stride + usize::from(dlen);
                    if fam.cell_of[at] == NIL {
                        fam.cell_of[at] = cells.len() as u32;
                        cells.push(Cell {
                            id: cells.len() as u32,
                            kinds: 0,
                            best: priority,
                        });
                    }
                    let cell = &mut cells[fam.cell_of[at] as usize];
                    let exact_ports = exact_ports(m);
                    let kind = match (m.proto, &exact_ports) {
                        (None, _) => Kind::Wild,
                        (Some(_), None) => Kind::Proto,
                        (Some(_), Some(_)) => Kind::ProtoPort,
                    };
                    cell.kinds |= 1 << kind as u8;
                    let key = |dport: u16| Key {
                        tuple: cell.id * 3 + kind as u32,
                        proto: m.proto.unwrap_or(0),
                        dport,
                        src: sbits,
                        dst: dbits,
                    };
                    match exact_ports {
                        Some(ports) => {
                            for p in ports {
                                lists.entry(key(p)).or_default().push(alt);
                            }
                        }
                        None => lists.entry(key(0)).or_default().push(alt),
                    }
                }
            }
        }
        let mut table = HashMap::with_capacity_and_hasher(lists.len(), Default::default());
        let mut refs = Vec::new();
        let mut port_indexes = Vec::new();
        for (key, list) in lists {
            let start = refs.len() as u32;
            refs.extend_from_slice(&list); // pushed in rule order
            let index = if list.len() > INDEX_ABOVE {
                PortIndex::build(&list, &alternatives, &mut refs).map_or(NIL, |ix| {
                    port_indexes.push(ix);
                    (port_indexes.len() - 1) as u32
                })
            } else {
                NIL
            };
            let len = list.len() as u32;
            table.insert(key, Bucket { start, len, index });
        }
        Classifier {
            port_indexes,
            families,
            cells,
            table,
            alternatives,
            refs,
            rules: rules.len(),
        }
    }

    /// Number of rules compiled.
    pub fn rules(&self) -> usize {
        self.rules
    }

    /// Number of tuples (hash tables, conceptually) the rules fall into.
    pub fn tuples(&self) -> usize {
        self.cells
            .iter()
            .map(|c| c.kinds.count_ones() as usize)
            .sum()
    }

    /// The index of the first rule matching the packet.
    #[inline]
    pub fn classify(&self, f: &Fields) -> Option<usize> {
        let fam = &self.families[usize::from(f.v6)];
        let src_lens = fam.src.lengths(f.src);
        let dst_lens = fam.dst.lengths(f.dst);
        let mut best = NIL;
        src_lens.for_each(|slen| {
            let src = f.src & prefix_mask(slen);
            let row = usize::from(slen) * fam.stride;
            fam.dst_lens[usize::from(slen)]
                .and(dst_lens)
                .for_each(|dlen| {
                    let cell = self.cells[fam.cell_of[row + usize::from(dlen)] as usize];
                    if cell.best >= best {
                        return;
                    }
                    let dst = f.dst & prefix_mask(dlen);
                    for kind in [Kind::Wild, Kind::Proto, Kind::ProtoPort] {
                        if cell.kinds & (1 << kind as u8) == 0 {
                            continue;
                        }
                        let (proto, dport) = match kind {
                            Kind::Wild => (0, 0),
                            Kind::Proto => (f.proto, 0),
                            Kind::ProtoPort if f.has_ports() => (f.proto, f.dport),
                            Kind::ProtoPort => continue,
                        };
                        let key = Key {
                            tuple: cell.id * 3 + kind as u32,
                            proto,
                            dport,
                            src,
                            dst,
                        };
                        let Some(bucket) = self.table.get(&key) else {
                            continue;
                        };
                        let (start, len) = match self.port_indexes.get(bucket.index as usize) {
                            Some(ix) if f.has_ports() => ix.candidates(f.dport),
                            _ => (bucket.start, bucket.len),
                        };
                        for &alt in &self.refs[start as usize..(start + len) as usize] {
                            let (priority, m) = &self.alternatives[alt as usize];
                            if *priority >= best {
                                break;
                            }
                            if m.matches(f) {
                                best = *priority;
                                break;
                            }
                        }
                    }
                });
        });
        (best != NIL).then_some(best as usize)
    }
}

/// A bucket of the hash table: its alternatives (a range of `refs`, in
/// rule order) and, for a long list, its port index.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    start: u32,
    len: u32,
    index: u32,
}

/// Lists longer than this get a port index.
const INDEX_ABOVE: usize = 8;
/// A port index may hold at most this many references (nested ranges make
/// it quadratic); a bucket that would need more is scanned.
const MAX_INDEX_REFS: usize = 1 << 20;

/// The secondary check of a long bucket by destination port: the port
/// space cut into elementary intervals at every range boundary of the
/// bucket, each with the alternatives (in rule order) that can match a
/// port in it. A lookup is a binary search and a short scan.
#[derive(Debug, Clone)]
struct PortIndex {
    /// Start of each interval (the first is 0), ascending.
    starts: Vec<u16>,
    /// (start, len) into `refs` per interval.
    lists: Vec<(u32, u32)>,
}

impl PortIndex {
    fn build(
        list: &[u32],
        alternatives: &[(u32, Match)],
        refs: &mut Vec<u32>,
    ) -> Option<PortIndex> {
        let mut starts = vec![0u16];
        for &alt in list {
            for &(lo, hi) in &alternatives[alt as usize].1.dst_ports {
                starts.push(lo);
                if hi < u16::MAX {
                    starts.push(hi + 1);
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let base = refs.len();
        let mut lists = Vec::with_capacity(starts.len());
        for &port in &starts {
            let at = refs.len();
            refs.extend(list.iter().copied().filter(|&alt| {
                let ports = &alternatives[alt as usize].1.dst_ports;
                ports.is_empty() || ports.iter().any(|&(lo, hi)| lo <= port && port <= hi)
            }));
            if refs.len() - base > MAX_INDEX_REFS {
                refs.truncate(base);
                return None;
            }
            lists.push((at as u32, (refs.len() - at) as u32));
        }
        Some(PortIndex { starts, lists })
    }

    /// The candidates for a destination port.
    #[inline]
    fn candidates(&self, port: u16) -> (u32, u32) {
        let i = self.starts.partition_point(|&s| s <= port) - 1;
        self.lists[i]
    }
}

/// The destination ports of a TCP/UDP alternative as a short exact list,
/// if it has one.
fn exact_ports(m: &Match) -> Option<Vec<u16>> {
    if !matches!(m.proto, Some(PROTO_TCP | PROTO_UDP)) || m.dst_ports.is_empty() {
        return None;
    }
    let count: u32 = m
        .dst_ports
        .iter()
        .map(|&(lo, hi)| u32::from(hi - lo) + 1)
        .sum();
    if count > MAX_EXACT_PORTS {
        return None;
    }
    let mut ports: Vec<u16> = m.dst_ports.iter().flat_map(|&(lo, hi)| lo..=hi).collect();
    ports.sort_unstable();
    ports.dedup();
    Some(ports)
}

#[cfg(test)]
mod tests {
    use super::super::rules::{addr_bits, parse_rules};
    use super::*;

    fn fields(src: &str, dst: &str, proto: u8, dport: u16) -> Fields {
        let (fam, s) = addr_bits(src.parse().unwrap());
        let (_, d) = addr_bits(dst.parse().unwrap());
        Fields {
            v6: fam == Family::V6,
            src: s,
            dst: d,
            proto,
            l4: true,
            sport: 40000,
            dport,
            ..Fields::default()
        }
    }

    #[test]
    fn trie_reports_covering_lengths() {
        let mut t = LengthTrie::new(Family::V4);
        for (p, l) in [
            ("10.0.0.0", 8),
            ("10.1.0.0", 16),
            ("10.1.2.3", 32),
            ("0.0.0.0", 0),
            ("10.128.0.0", 9),
        ] {
            t.insert(addr_bits(p.parse().unwrap()).1, l);
        }
        let mut got = Vec::new();
        t.lengths(addr_bits("10.1.2.3".parse().unwrap()).1)
            .for_each(|l| got.push(l));
        assert_eq!(got, vec![0, 8, 16, 32]);
        let mut got = Vec::new();
        t.lengths(addr_bits("10.200.0.1".parse().unwrap()).1)
            .for_each(|l| got.push(l));
        assert_eq!(got, vec![0, 8, 9]);
        let mut t6 = LengthTrie::new(Family::V6);
        t6.insert(addr_bits("fd00::1".parse().unwrap()).1, 128);
        t6.insert(addr_bits("fd00::".parse().unwrap()).1, 7);
        let mut got = Vec::new();
        t6.lengths(addr_bits("fd00::1".parse().unwrap()).1)
            .for_each(|l| got.push(l));
        assert_eq!(got, vec![7, 128]);
    }

    #[test]
    fn port_index_keeps_first_match() {
        let mut text = String::new();
        for i in 0..40u32 {
            let lo = (i * 37) % 500;
            let action = if i % 3 == 0 { "deny" } else { "allow" };
            text += &format!(
                "{action} tcp from any to any port {lo}-{}\n",
                lo + i * 7 + 20
            );
            if i % 5 == 0 {
                text += "allow tcp from any port 7 to any\n";
            }
        }
        let rules = parse_rules(&text, "t").unwrap();
        let c = Classifier::new(&rules);
        assert_eq!(c.port_indexes.len(), 2, "one per family");
        for port in 0..1200u16 {
            for sport in [7, 8] {
                let mut f = fields("10.0.0.1", "10.0.0.2", 6, port);
                f.sport = sport;
                let want = rules.iter().position(|r| r.matches(&f));
                assert_eq!(c.classify(&f), want, "port {port} sport {sport}");
                f.l4 = false; // a fragment: no ports, the whole list
                let want = rules.iter().position(|r| r.matches(&f));
                assert_eq!(c.classify(&f), want);
            }
        }
    }

    #[test]
    fn first_match_wins_across_tuples() {
        let rules = parse_rules(
            "deny tcp from 10.0.0.0/8 to any port 22\n\
             allow tcp from 10.1.0.0/16 to any port 1-1000\n\
             allow udp from any to 192.0.2.0/24 port 53\n\
             deny all\n",
            "t",
        )
        .unwrap();
        let c = Classifier::new(&rules);
        assert_eq!(c.classify(&fields("10.1.0.1", "1.1.1.1", 6, 22)), Some(0));
        assert_eq!(c.classify(&fields("10.1.0.1", "1.1.1.1", 6, 80)), Some(1));
        assert_eq!(c.classify(&fields("10.1.0.1", "1.1.1.1", 6, 8080)), Some(3));
        assert_eq!(c.classify(&fields("8.8.8.8", "192.0.2.9", 17, 53)), Some(2));
        assert_eq!(c.classify(&fields("fd00::1", "fd00::2", 17, 53)), Some(3));
        assert!(c.tuples() >= 4);
    }
}
