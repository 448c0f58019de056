//! The cursor a `filter` closure receives cannot be kept past the call.
use netfn_core::DropReason;
use netfn_core::ops::{self, Cursor, Op};
use netfn_wire::{Ethernet, Ipv4};

fn main() {
    let mut kept: Vec<&Cursor<'_, Ipv4, (Ethernet, ())>> = Vec::new();
    let nf = ops::ethernet()
        .parse::<Ipv4>()
        .filter(
            |ip, _ctx| {
                kept.push(ip);
                true
            },
            DropReason::Filtered,
        )
        .compose();
    drop(nf);
    drop(kept);
}
