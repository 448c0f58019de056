//! A header view handed to a `transform` closure lives only for that call:
//! it cannot be stashed in state that outlives the packet.
use netfn_core::ops::{self, Op};
use netfn_wire::{Ipv4, Ipv4Packet};

fn main() {
    let mut last: Option<Ipv4Packet<&[u8]>> = None;
    let nf = ops::ethernet()
        .parse::<Ipv4>()
        .transform(|ip, _ctx| {
            last = Some(ip.header());
        })
        .compose();
    drop(nf);
    drop(last);
}
