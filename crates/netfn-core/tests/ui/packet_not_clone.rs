//! `Packet` is not `Clone`: two owners of one frame would alias it. Mirrors
//! use `Packet::copy`, which takes a new frame.
use netfn_core::{Pool, PoolConfig};

fn main() {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let pkt = pool.alloc_with(&[1, 2, 3]).unwrap();
    let twin = pkt.clone();
    drop((pkt, twin));
}
