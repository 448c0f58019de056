//! The netfn NF library: pure packet logic (no I/O, no unsafe), each NF
//! registered in [`catalog`] with typed, documented parameters.
#![forbid(unsafe_code)]

use netfn_core::config::ElementSpec;

pub mod arp;
pub mod basic;
pub mod dnsfilter;
pub mod export;
pub mod frame;
pub mod maglev;
pub mod mirror;
pub mod monitor;

/// Every NF kind of this crate.
pub fn catalog() -> impl Iterator<Item = &'static ElementSpec> {
    basic::SPECS
        .iter()
        .chain(maglev::SPECS.iter())
        .chain(monitor::SPECS.iter())
        .chain(arp::SPECS.iter())
        .chain(dnsfilter::SPECS.iter())
        .chain(mirror::SPECS.iter())
}
