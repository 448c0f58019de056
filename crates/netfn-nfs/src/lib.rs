//! The netfn NF library: pure packet logic (no I/O, no unsafe), each NF
//! registered in [`catalog`] with typed, documented parameters.
#![forbid(unsafe_code)]

use netfn_core::config::ElementSpec;

pub mod basic;
pub mod export;
pub mod frame;
pub mod maglev;
pub mod monitor;
pub mod sigmatch;

/// Every NF kind of this crate.
pub fn catalog() -> impl Iterator<Item = &'static ElementSpec> {
    basic::SPECS
        .iter()
        .chain(maglev::SPECS.iter())
        .chain(monitor::SPECS.iter())
        .chain(sigmatch::SPECS.iter())
}
