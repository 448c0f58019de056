//! `Packet` is not `Send`, by design: a frame belongs to its core's pool,
//! whose free list has no lock. Packets cross cores only through a port.
use netfn_core::{Pool, PoolConfig};

fn main() {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let pkt = pool.alloc_with(&[1, 2, 3]).unwrap();
    std::thread::spawn(move || {
        assert_eq!(pkt.len(), 3);
    })
    .join()
    .unwrap();
}
