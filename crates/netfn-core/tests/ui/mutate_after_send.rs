//! A packet that was sent (moved into a batch) cannot be changed afterwards.
use netfn_core::{Batch, Pool, PoolConfig};

fn main() {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let mut pkt = pool.alloc_with(&[1, 2, 3]).unwrap();
    let mut batch = Batch::with_capacity(4);
    batch.push(pkt).unwrap();
    pkt.data_mut()[0] = 0xff;
}
