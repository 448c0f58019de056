//! Payload bytes seen in a `map` closure cannot be collected by reference
//! (copy them out instead).
use netfn_core::ops::{self, Op};
use netfn_wire::{Ipv4, Udp};

fn main() {
    let mut payloads: Vec<&[u8]> = Vec::new();
    let nf = ops::ethernet()
        .parse::<Ipv4>()
        .parse::<Udp>()
        .map(|udp, _ctx| payloads.push(udp.payload()))
        .compose();
    drop(nf);
    drop(payloads);
}
