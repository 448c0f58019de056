//! An NF cannot keep looking at a packet it emitted through `ctx.emit`.
use netfn_core::{Batch, Ctx, Nf};

struct Reflect;

impl Nf for Reflect {
    fn process(&mut self, _input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        let Some(pkt) = batch.pop() else { return };
        let dst_mac = &pkt.data()[..6];
        ctx.emit(1, pkt);
        assert_eq!(dst_mac, [0xff; 6]);
    }
}

fn main() {
    let _ = Reflect;
}
