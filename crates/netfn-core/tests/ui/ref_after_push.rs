//! A reference into a packet's bytes cannot outlive the packet's move into
//! a batch: the next stage owns those bytes now.
use netfn_core::{Batch, Pool, PoolConfig};

fn main() {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let pkt = pool.alloc_with(&[0x45, 0, 0, 20]).unwrap();
    let mut batch = Batch::with_capacity(4);
    let version = &pkt.data()[0];
    batch.push(pkt).unwrap();
    assert_eq!(*version, 0x45);
}
