//! Per-node counters, written by the data-path core and read as snapshots
//! by anyone (live view, REST, tests) without locking the data path.
//!
//! Each counter has a single writer (the core running the node), so an
//! increment is a relaxed load and store, not a locked read-modify-write.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::batch::DropReason;

/// A single-writer counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning core may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one node (NF or port).
#[derive(Debug)]
pub struct NodeStats {
    pub name: String,
    pub kind: String,
    pub is_port: bool,
    /// Packets in (for a port: received from the wire).
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    /// Packets out (for a port: transmitted on the wire; for an NF: passed
    /// on to any output, generated ones included).
    pub tx_packets: Counter,
    /// Bytes transmitted (ports only; an NF's throughput in bytes is its
    /// `rx_bytes`).
    pub tx_bytes: Counter,
    pub drops: [Counter; DropReason::COUNT],
    pub batches: Counter,
    /// Time spent inside the node on timed (sampled) batches, and the packets
    /// in them: `busy_ns / timed_packets` is the cost per packet.
    pub busy_ns: Counter,
    pub timed_packets: Counter,
    pub panics: Counter,
    pub last_panic: Mutex<Option<String>>,
    /// NF- or port-specific counters, refreshed by the runtime periodically.
    pub extra: Mutex<Vec<(String, u64)>>,
}

impl NodeStats {
    pub fn new(name: &str, kind: &str, is_port: bool) -> Self {
        NodeStats {
            name: name.to_string(),
            kind: kind.to_string(),
            is_port,
            rx_packets: Counter::default(),
            rx_bytes: Counter::default(),
            tx_packets: Counter::default(),
            tx_bytes: Counter::default(),
            drops: std::array::from_fn(|_| Counter::default()),
            batches: Counter::default(),
            busy_ns: Counter::default(),
            timed_packets: Counter::default(),
            panics: Counter::default(),
            last_panic: Mutex::new(None),
            extra: Mutex::new(Vec::new()),
        }
    }

    #[inline]
    pub fn count_drop(&self, reason: DropReason, n: u64) {
        self.drops[reason as usize].add(n);
    }

    pub fn snapshot(&self) -> NodeSnapshot {
        let drops = DropReason::ALL
            .iter()
            .filter_map(|r| {
                let n = self.drops[*r as usize].get();
                (n > 0).then(|| (r.name().to_string(), n))
            })
            .collect();
        let tx_bytes = self.is_port.then(|| self.tx_bytes.get());
        let timed = self.timed_packets.get();
        NodeSnapshot {
            name: self.name.clone(),
            kind: self.kind.clone(),
            is_port: self.is_port,
            rx_packets: self.rx_packets.get(),
            rx_bytes: self.rx_bytes.get(),
            tx_packets: self.tx_packets.get(),
            tx_bytes,
            drops,
            batches: self.batches.get(),
            ns_per_packet: (timed > 0).then(|| self.busy_ns.get() as f64 / timed as f64),
            panics: self.panics.get(),
            last_panic: self.last_panic.lock().map(|p| p.clone()).unwrap_or(None),
            extra: self
                .extra
                .lock()
                .map(|e| e.iter().cloned().collect())
                .unwrap_or_default(),
        }
    }
}

/// A point-in-time copy of one node's counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeSnapshot {
    pub name: String,
    pub kind: String,
    pub is_port: bool,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    /// Bytes transmitted (ports only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_bytes: Option<u64>,
    /// Non-zero drop counters by reason name.
    pub drops: BTreeMap<String, u64>,
    pub batches: u64,
    pub ns_per_packet: Option<f64>,
    pub panics: u64,
    pub last_panic: Option<String>,
    /// NF- or port-specific counters.
    pub extra: BTreeMap<String, u64>,
}

impl NodeSnapshot {
    pub fn dropped(&self) -> u64 {
        self.drops.values().sum()
    }
    pub fn drops_for(&self, reason: DropReason) -> u64 {
        self.drops.get(reason.name()).copied().unwrap_or(0)
    }
    /// An NF- or port-specific counter.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.extra.get(name).copied()
    }
}

/// The live counters of a runtime, shareable with other threads. The node
/// set is replaced whole when a new plan is swapped in.
#[derive(Debug, Clone)]
pub struct StatsHandle {
    nodes: Arc<ArcSwap<Vec<Arc<NodeStats>>>>,
}

impl StatsHandle {
    pub(crate) fn new(nodes: Vec<Arc<NodeStats>>) -> Self {
        StatsHandle {
            nodes: Arc::new(ArcSwap::from_pointee(nodes)),
        }
    }

    pub(crate) fn replace(&self, nodes: Vec<Arc<NodeStats>>) {
        self.nodes.store(Arc::new(nodes));
    }

    /// The current nodes' counters.
    pub fn nodes(&self) -> Arc<Vec<Arc<NodeStats>>> {
        self.nodes.load_full()
    }

    pub fn snapshot(&self) -> Vec<NodeSnapshot> {
        self.nodes().iter().map(|n| n.snapshot()).collect()
    }

    pub fn node(&self, name: &str) -> Option<NodeSnapshot> {
        self.nodes()
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.snapshot())
    }
}
