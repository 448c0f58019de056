//! The netfn NF library: pure packet logic (no I/O, no unsafe), each NF
//! registered in [`catalog`] with typed, documented parameters.
#![forbid(unsafe_code)]

use netfn_core::config::ElementSpec;

pub mod arp;
pub mod basic;
pub mod classifier;
pub mod dnsfilter;
pub mod export;
pub mod firewall;
pub mod frame;
pub mod gre;
pub mod maglev;
pub mod mirror;
pub mod monitor;
pub mod nat;
pub mod policer;
pub mod router;
pub mod sigmatch;
pub mod tunnel;
pub mod vlan;
pub mod vxlan;

/// Every NF kind of this crate.
pub fn catalog() -> impl Iterator<Item = &'static ElementSpec> {
    basic::SPECS
        .iter()
        .chain(classifier::SPECS.iter())
        .chain(firewall::SPECS.iter())
        .chain(maglev::SPECS.iter())
        .chain(monitor::SPECS.iter())
        .chain(policer::SPECS.iter())
        .chain(vlan::SPECS.iter())
        .chain(vxlan::SPECS.iter())
        .chain(gre::SPECS.iter())
        .chain(nat::SPECS.iter())
        .chain(router::SPECS.iter())
        .chain(arp::SPECS.iter())
        .chain(dnsfilter::SPECS.iter())
        .chain(mirror::SPECS.iter())
        .chain(sigmatch::SPECS.iter())
}
