//! Handing a packet by value to a function ends every borrow of it.
use netfn_core::{Packet, Pool, PoolConfig};

fn transmit(pkt: Packet) {
    drop(pkt);
}

fn main() {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let pkt = pool.alloc_with(&[1, 2, 3]).unwrap();
    let payload: &[u8] = pkt.data();
    transmit(pkt);
    println!("{payload:?}");
}
