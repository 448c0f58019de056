//! What the ownership rules allow: read a packet before handing it on, copy
//! values (not references) out of header views into NF state, mirror with
//! `Packet::copy`, and keep using what you still own.
use std::cell::Cell;
use std::rc::Rc;

use netfn_core::ops::{self, Op};
use netfn_core::testing::Harness;
use netfn_core::{Batch, Ctx, Nf, Pool, PoolConfig};
use netfn_wire::{Ipv4, MacAddr, PacketBuilder};

/// Emits a copy of every packet on output 1 and keeps the original.
struct Mirror;

impl Nf for Mirror {
    fn process(&mut self, _input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        for pkt in batch.iter() {
            if let Some(copy) = pkt.copy() {
                ctx.emit(1, copy);
            }
        }
    }
}

fn frame(ttl: u8) -> Vec<u8> {
    let t = PacketBuilder::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]))
        .ipv4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), ttl)
        .udp(1, 2);
    let mut buf = vec![0; t.size(4)];
    t.write(&mut buf, &[1, 2, 3, 4]).unwrap();
    buf
}

fn main() {
    // Read, then move: the borrow ends before the move.
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let pkt = pool.alloc_with(&frame(64)).unwrap();
    let ethertype = [pkt.data()[12], pkt.data()[13]]; // a copy, not a borrow
    let mut batch = Batch::with_capacity(4);
    batch.push(pkt).unwrap();
    assert_eq!(ethertype, [0x08, 0x00]);
    assert_eq!(batch.len(), 1);

    // Values copied out of a view may go anywhere.
    let max_ttl = Rc::new(Cell::new(0u8));
    let seen = max_ttl.clone();
    let nf = ops::ethernet()
        .parse::<Ipv4>()
        .map(move |ip, _ctx| seen.set(seen.get().max(ip.header().ttl())))
        .compose();
    let mut h = Harness::new(nf);
    let out = h.process_bytes(0, &[&frame(9), &frame(30)]);
    assert_eq!(out.on(0).len(), 2);
    assert_eq!(max_ttl.get(), 30);

    // Mirrors take a new frame; the original stays with its owner.
    let mut h = Harness::new(Mirror);
    let out = h.process_bytes(0, &[&frame(5)]);
    assert_eq!(out.on(0), out.on(1));
}
