//! A batch handed on (to the next stage) cannot be read or refilled.
use netfn_core::{Batch, Pool, PoolConfig};

fn next_stage(batch: Batch) -> usize {
    batch.len()
}

fn main() {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let mut batch = Batch::with_capacity(4);
    batch.push(pool.alloc_with(&[1, 2, 3]).unwrap()).unwrap();
    next_stage(batch);
    let first = batch.packets()[0].data()[0];
    assert_eq!(first, 1);
}
