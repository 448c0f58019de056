//! Ring geometry and the tunables of the execution model.

use std::time::Duration;

use crate::layout::{CACHE_LINE, DEFAULT_SLOT_SIZE, SLOT_HEADER};

/// Most slots a ring may have.
pub const MAX_SLOTS: u32 = 1 << 20;
/// Largest slot (header included).
pub const MAX_SLOT_SIZE: u32 = 64 * 1024 + SLOT_HEADER as u32;

/// When the Master wakes a Worker and how often the Worker reports back
/// (the thesis' `MASTER_PKT_THRESHOLD`, `TS_THRESHOLD`, `WORKER_PKT_THRESHOLD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunables {
    /// The Master wakes a sleeping Worker once *more than* this many tokens
    /// are in its ring.
    pub wake_threshold: u32,
    /// ... or once the oldest token has waited longer than this (the
    /// protocol relies on it: never make it infinite).
    pub starvation_timeout: Duration,
    /// The Worker hands processed tokens back every this many tokens (and
    /// when its ring is empty).
    pub publish_every: u32,
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables {
            wake_threshold: 32,
            starvation_timeout: Duration::from_micros(50),
            publish_every: 32,
        }
    }
}

/// One Worker's rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Primary ring slots `N`; one is always kept empty, so it holds `N - 1`
    /// tokens. 2..=2^20.
    pub primary_slots: u32,
    /// Aux ring slots (generated packets), same rule. 2..=2^20.
    pub aux_slots: u32,
    /// Bytes per slot, header included: a multiple of 64, at least 128.
    /// The default holds a 2 KiB frame.
    pub slot_size: u32,
    /// Back the region with huge pages (memfd `MFD_HUGETLB`, 2 MiB pages,
    /// which must be reserved: `vm.nr_hugepages`).
    pub huge_pages: bool,
    pub tunables: Tunables,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            primary_slots: 1024,
            aux_slots: 256,
            slot_size: DEFAULT_SLOT_SIZE,
            huge_pages: false,
            tunables: Tunables::default(),
        }
    }
}

/// A [`RingConfig`] value out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ring config: {field} = {value}: {expected}")]
pub struct ConfigError {
    pub field: &'static str,
    pub value: u64,
    pub expected: &'static str,
}

impl RingConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, value: u64, expected| {
            Err(ConfigError {
                field,
                value,
                expected,
            })
        };
        if !(2..=MAX_SLOTS).contains(&self.primary_slots) {
            return err(
                "primary_slots",
                self.primary_slots.into(),
                "2..=1048576 slots",
            );
        }
        if !(2..=MAX_SLOTS).contains(&self.aux_slots) {
            return err("aux_slots", self.aux_slots.into(), "2..=1048576 slots");
        }
        if self.slot_size < 2 * CACHE_LINE as u32
            || self.slot_size > MAX_SLOT_SIZE
            || !(self.slot_size as usize).is_multiple_of(CACHE_LINE)
        {
            return err(
                "slot_size",
                self.slot_size.into(),
                "a multiple of 64 bytes in 128..=65600 (header included)",
            );
        }
        if self.tunables.publish_every == 0 {
            return err("publish_every", 0, "at least 1 token");
        }
        Ok(())
    }

    /// Bytes of packet data a slot holds.
    pub fn data_capacity(&self) -> usize {
        self.slot_size as usize - SLOT_HEADER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_holds_a_2k_frame_in_cache_lines() {
        let c = RingConfig::default();
        assert!(c.validate().is_ok());
        assert_eq!(c.data_capacity(), 2048);
        assert_eq!(c.slot_size % 64, 0);
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        let e = RingConfig {
            slot_size: 130,
            ..RingConfig::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.field, "slot_size");
        let e = RingConfig {
            tunables: Tunables {
                publish_every: 0,
                ..Tunables::default()
            },
            ..RingConfig::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.field, "publish_every");
        assert!(e.to_string().contains("at least 1"), "{e}");
    }
}
