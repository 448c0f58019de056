//! Read-mostly state shared by all cores, updated by the control plane:
//! NetBricks' "bounded inconsistency" mode.
//!
//! The writer publishes a whole new version (`Arc<T>`); each core reads
//! through its own [`SharedReader`], which costs one atomic load per `load()`
//! when nothing changed and sees a new version from its next `load()` on.
//! An NF calls `load()` once per batch, so a batch never sees two versions.

use std::fmt;
use std::sync::Arc;

use arc_swap::{ArcSwap, Cache};

/// The publishing side. Clone it freely; all clones publish to the same table.
pub struct Shared<T> {
    cell: Arc<ArcSwap<T>>,
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            cell: self.cell.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Shared").field(&self.cell.load()).finish()
    }
}

impl<T> Shared<T> {
    pub fn new(value: T) -> Self {
        Shared {
            cell: Arc::new(ArcSwap::from_pointee(value)),
        }
    }

    /// Replaces the current version.
    pub fn publish(&self, value: T) {
        self.cell.store(Arc::new(value));
    }

    /// Builds a new version from the current one and publishes it (writers
    /// racing each other retry).
    pub fn update(&self, f: impl Fn(&T) -> T) {
        self.cell.rcu(|cur| Arc::new(f(cur)));
    }

    /// The current version (for the control plane; cores use a reader).
    pub fn current(&self) -> Arc<T> {
        self.cell.load_full()
    }

    /// A per-core reader.
    pub fn reader(&self) -> SharedReader<T> {
        SharedReader {
            cache: Cache::new(self.cell.clone()),
        }
    }
}

/// One core's view of a [`Shared`] table.
pub struct SharedReader<T> {
    cache: Cache<Arc<ArcSwap<T>>, Arc<T>>,
}

impl<T> SharedReader<T> {
    /// The latest published version.
    #[inline]
    pub fn load(&mut self) -> &Arc<T> {
        self.cache.load()
    }
}

impl<T: fmt::Debug> fmt::Debug for SharedReader<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedReader").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_new_versions_on_next_load() {
        let table = Shared::new(vec![1, 2]);
        let mut reader = table.reader();
        assert_eq!(**reader.load(), vec![1, 2]);
        table.update(|v| v.iter().map(|x| x * 10).collect());
        assert_eq!(**reader.load(), vec![10, 20]);
        let other = table.clone();
        std::thread::spawn(move || other.publish(vec![7]))
            .join()
            .unwrap();
        assert_eq!(**reader.load(), vec![7]);
    }
}
