//! A per-core flow table: fixed capacity, idle timeouts driven by the
//! runtime clock, and no allocation after construction.
//!
//! Entries live in a preallocated slab; a hash index (hashbrown, sized at
//! twice the capacity so deletions never force a resize) maps keys to slab
//! slots. Each entry belongs to a *timeout class* (e.g. "TCP established",
//! "transitory", "UDP"), and each class keeps its entries in a doubly-linked
//! list ordered by last use, so expiry is exact and O(1) per expired entry:
//! the oldest entry of each class is at its list head.
//!
//! This is NetBricks' "no external access" state: owned by one NF on one
//! core, touched without synchronisation.

use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use hashbrown::HashTable;

const NIL: u32 = u32::MAX;

/// A handle to an entry, valid until the entry is removed or expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Slot(u32);

impl Slot {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Debug)]
struct Entry<K, V> {
    key: K,
    value: V,
    last_seen: u64,
    prev: u32,
    next: u32,
    class: u8,
}

#[derive(Debug, Clone, Copy)]
struct Lru {
    head: u32,
    tail: u32,
    timeout_ns: u64,
}

/// The table is full: the key and value are handed back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("flow table full")]
pub struct TableFull<K, V>(pub K, pub V);

/// A fixed-capacity map from flow keys to per-flow state with idle expiry.
#[derive(Debug)]
pub struct FlowTable<K, V> {
    index: HashTable<u32>,
    slots: Vec<Option<Entry<K, V>>>,
    free: Vec<u32>,
    classes: Vec<Lru>,
    hasher: foldhash::fast::RandomState,
}

impl<K: Hash + Eq, V> FlowTable<K, V> {
    /// A table for up to `capacity` flows. `timeouts[c]` is the idle timeout
    /// of class `c` (at least one class; at most 255).
    pub fn new(capacity: usize, timeouts: &[Duration]) -> Self {
        assert!(
            !timeouts.is_empty() && timeouts.len() < 256,
            "1..=255 timeout classes"
        );
        assert!(
            capacity > 0 && capacity < NIL as usize,
            "capacity out of range"
        );
        FlowTable {
            index: HashTable::with_capacity(capacity * 2),
            slots: (0..capacity).map(|_| None).collect(),
            free: (0..capacity as u32).rev().collect(),
            classes: timeouts
                .iter()
                .map(|t| Lru {
                    head: NIL,
                    tail: NIL,
                    timeout_ns: t.as_nanos() as u64,
                })
                .collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn is_full(&self) -> bool {
        self.free.is_empty()
    }

    /// The idle timeout of a class.
    pub fn timeout(&self, class: u8) -> Duration {
        Duration::from_nanos(self.classes[class as usize].timeout_ns)
    }

    fn entry(&self, i: u32) -> &Entry<K, V> {
        self.slots[i as usize]
            .as_ref()
            .expect("indexed slot is occupied")
    }

    fn entry_mut(&mut self, i: u32) -> &mut Entry<K, V> {
        self.slots[i as usize]
            .as_mut()
            .expect("indexed slot is occupied")
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next, class) = {
            let e = self.entry(i);
            (e.prev, e.next, e.class as usize)
        };
        match prev {
            NIL => self.classes[class].head = next,
            p => self.entry_mut(p).next = next,
        }
        match next {
            NIL => self.classes[class].tail = prev,
            n => self.entry_mut(n).prev = prev,
        }
    }

    fn link_tail(&mut self, i: u32) {
        let class = self.entry(i).class as usize;
        let tail = self.classes[class].tail;
        {
            let e = self.entry_mut(i);
            e.prev = tail;
            e.next = NIL;
        }
        match tail {
            NIL => self.classes[class].head = i,
            t => self.entry_mut(t).next = i,
        }
        self.classes[class].tail = i;
    }

    /// Finds a key without touching it.
    pub fn find(&self, key: &K) -> Option<Slot> {
        let hash = self.hasher.hash_one(key);
        self.index
            .find(hash, |&i| self.entry(i).key == *key)
            .map(|&i| Slot(i))
    }

    /// Looks up a flow and marks it used at `now`.
    pub fn get(&mut self, key: &K, now: u64) -> Option<&mut V> {
        let slot = self.find(key)?;
        self.touch(slot, now);
        Some(&mut self.entry_mut(slot.0).value)
    }

    /// Looks up a flow without marking it used.
    pub fn peek(&self, key: &K) -> Option<&V> {
        self.find(key).map(|s| &self.entry(s.0).value)
    }

    /// Marks an entry used at `now` (moves it to the back of its class).
    ///
    /// On every packet of a known flow: reads the entry's links once and
    /// moves it with four slot writes (not the general unlink + link_tail).
    pub fn touch(&mut self, slot: Slot, now: u64) {
        let i = slot.0;
        let e = self.entry_mut(i);
        e.last_seen = now;
        let (prev, next, class) = (e.prev, e.next, e.class as usize);
        if next == NIL {
            return; // the tail of its class already
        }
        match prev {
            NIL => self.classes[class].head = next,
            p => self.entry_mut(p).next = next,
        }
        self.entry_mut(next).prev = prev;
        // `next` was not NIL, so the tail is another entry.
        let tail = self.classes[class].tail;
        self.entry_mut(tail).next = i;
        let e = self.entry_mut(i);
        e.prev = tail;
        e.next = NIL;
        self.classes[class].tail = i;
    }

    /// Moves an entry to another timeout class (e.g. a TCP flow becoming
    /// established) and marks it used.
    pub fn set_class(&mut self, slot: Slot, class: u8, now: u64) {
        assert!(
            (class as usize) < self.classes.len(),
            "no such timeout class"
        );
        self.unlink(slot.0);
        let e = self.entry_mut(slot.0);
        e.class = class;
        e.last_seen = now;
        self.link_tail(slot.0);
    }

    pub fn class(&self, slot: Slot) -> u8 {
        self.entry(slot.0).class
    }

    pub fn last_seen(&self, slot: Slot) -> u64 {
        self.entry(slot.0).last_seen
    }

    pub fn value(&self, slot: Slot) -> &V {
        &self.entry(slot.0).value
    }

    pub fn value_mut(&mut self, slot: Slot) -> &mut V {
        &mut self.entry_mut(slot.0).value
    }

    pub fn key(&self, slot: Slot) -> &K {
        &self.entry(slot.0).key
    }

    /// Inserts a new flow in timeout class `class`. Replaces the value if the
    /// key exists. Fails (handing both back) when the table is full.
    pub fn insert(
        &mut self,
        key: K,
        value: V,
        class: u8,
        now: u64,
    ) -> Result<Slot, TableFull<K, V>> {
        // One hash for the lookup and the insertion.
        let hash = self.hasher.hash_one(&key);
        if let Some(&i) = self.index.find(hash, |&i| self.entry(i).key == key) {
            self.entry_mut(i).value = value;
            self.set_class(Slot(i), class, now);
            return Ok(Slot(i));
        }
        assert!(
            (class as usize) < self.classes.len(),
            "no such timeout class"
        );
        let Some(i) = self.free.pop() else {
            return Err(TableFull(key, value));
        };
        self.slots[i as usize] = Some(Entry {
            key,
            value,
            last_seen: now,
            prev: NIL,
            next: NIL,
            class,
        });
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, i, |&j| {
            hasher.hash_one(
                &slots[j as usize]
                    .as_ref()
                    .expect("indexed slot is occupied")
                    .key,
            )
        });
        self.link_tail(i);
        Ok(Slot(i))
    }

    /// Removes a flow by handle.
    pub fn remove_slot(&mut self, slot: Slot) -> (K, V) {
        self.unlink(slot.0);
        let hash = self.hasher.hash_one(&self.entry(slot.0).key);
        if let Ok(found) = self.index.find_entry(hash, |&i| i == slot.0) {
            found.remove();
        }
        let e = self.slots[slot.0 as usize]
            .take()
            .expect("indexed slot is occupied");
        self.free.push(slot.0);
        (e.key, e.value)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.find(key)?;
        Some(self.remove_slot(slot).1)
    }

    /// The least recently used entry over all classes (eviction candidate).
    pub fn oldest(&self) -> Option<Slot> {
        self.classes
            .iter()
            .filter(|c| c.head != NIL)
            .map(|c| c.head)
            .min_by_key(|&i| self.entry(i).last_seen)
            .map(Slot)
    }

    /// The earliest time at which some entry will expire.
    pub fn next_expiry(&self) -> Option<u64> {
        self.classes
            .iter()
            .filter(|c| c.head != NIL)
            .map(|c| self.entry(c.head).last_seen.saturating_add(c.timeout_ns))
            .min()
    }

    /// Removes every entry idle for at least its class timeout at `now`,
    /// handing each to `expired`. Returns how many expired.
    pub fn expire(&mut self, now: u64, mut expired: impl FnMut(K, V)) -> usize {
        let mut n = 0;
        for c in 0..self.classes.len() {
            loop {
                let Lru {
                    head, timeout_ns, ..
                } = self.classes[c];
                if head == NIL || self.entry(head).last_seen.saturating_add(timeout_ns) > now {
                    break;
                }
                let (k, v) = self.remove_slot(Slot(head));
                expired(k, v);
                n += 1;
            }
        }
        n
    }

    /// Every live entry (unordered).
    pub fn iter(&self) -> impl Iterator<Item = (Slot, &K, &V)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (Slot(i as u32), &e.key, &e.value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    const S: u64 = 1_000_000_000;

    #[test]
    fn insert_get_remove() {
        let mut t = FlowTable::new(4, &[Duration::from_secs(10)]);
        t.insert(1u32, "a", 0, 0).unwrap();
        t.insert(2, "b", 0, 0).unwrap();
        assert_eq!(t.get(&1, 1).copied(), Some("a"));
        assert_eq!(t.remove(&1), Some("a"));
        assert_eq!(t.get(&1, 1), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn full_table_hands_back() {
        let mut t = FlowTable::new(2, &[Duration::from_secs(10)]);
        t.insert(1u32, 1u32, 0, 0).unwrap();
        t.insert(2, 2, 0, 0).unwrap();
        assert_eq!(t.insert(3, 3, 0, 0), Err(TableFull(3, 3)));
        // Replacing an existing key still works when full.
        assert!(t.insert(2, 20, 0, 0).is_ok());
        assert_eq!(t.peek(&2), Some(&20));
    }

    #[test]
    fn idle_entries_expire_per_class() {
        let mut t = FlowTable::new(8, &[Duration::from_secs(10), Duration::from_secs(100)]);
        t.insert(1u32, (), 0, 0).unwrap();
        t.insert(2, (), 1, 0).unwrap();
        t.insert(3, (), 0, 5 * S).unwrap();
        t.get(&1, 8 * S); // refreshed
        let mut gone = Vec::new();
        assert_eq!(t.expire(15 * S, |k, _| gone.push(k)), 1);
        assert_eq!(gone, vec![3]);
        assert_eq!(t.next_expiry(), Some(18 * S));
        t.expire(18 * S, |k, _| gone.push(k));
        assert_eq!(gone, vec![3, 1]);
        t.expire(99 * S, |k, _| gone.push(k));
        assert_eq!(gone.len(), 2);
        t.expire(100 * S, |k, _| gone.push(k));
        assert_eq!(gone, vec![3, 1, 2]);
        assert!(t.is_empty());
    }

    #[test]
    fn set_class_changes_timeout() {
        let mut t = FlowTable::new(8, &[Duration::from_secs(10), Duration::from_secs(100)]);
        let s = t.insert(1u32, (), 0, 0).unwrap();
        t.set_class(s, 1, 0);
        assert_eq!(t.expire(50 * S, |_, _| {}), 0);
        assert_eq!(t.expire(100 * S, |_, _| {}), 1);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u8),
        Get(u8),
        Remove(u8),
        Advance(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), 0u8..2).prop_map(|(k, c)| Op::Insert(k % 32, c)),
            any::<u8>().prop_map(|k| Op::Get(k % 32)),
            any::<u8>().prop_map(|k| Op::Remove(k % 32)),
            any::<u8>().prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// The table behaves like a HashMap with per-key deadlines.
        #[test]
        fn matches_reference_model(ops in proptest::collection::vec(op(), 1..400)) {
            let timeouts = [Duration::from_nanos(100), Duration::from_nanos(300)];
            let mut t = FlowTable::new(16, &timeouts);
            // key -> (class, last_seen)
            let mut model: HashMap<u8, (u8, u64)> = HashMap::new();
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Insert(k, c) => {
                        let r = t.insert(k, k, c, now);
                        if model.contains_key(&k) || model.len() < 16 {
                            prop_assert!(r.is_ok());
                            model.insert(k, (c, now));
                        } else {
                            prop_assert!(r.is_err());
                        }
                    }
                    Op::Get(k) => {
                        let got = t.get(&k, now).copied();
                        prop_assert_eq!(got, model.get(&k).map(|_| k));
                        if let Some(e) = model.get_mut(&k) { e.1 = now; }
                    }
                    Op::Remove(k) => {
                        prop_assert_eq!(t.remove(&k), model.remove(&k).map(|_| k));
                    }
                    Op::Advance(d) => {
                        now += u64::from(d);
                        let mut gone = Vec::new();
                        t.expire(now, |k, _| gone.push(k));
                        let mut want: Vec<u8> = model.iter()
                            .filter(|(_, (c, seen))| seen + timeouts[*c as usize].as_nanos() as u64 <= now)
                            .map(|(k, _)| *k).collect();
                        for k in &want { model.remove(k); }
                        gone.sort_unstable();
                        want.sort_unstable();
                        prop_assert_eq!(gone, want);
                    }
                }
                prop_assert_eq!(t.len(), model.len());
            }
        }
    }
}
