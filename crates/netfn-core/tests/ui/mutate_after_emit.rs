//! A packet given to `ctx.emit` belongs to the runtime: the NF cannot mark
//! it afterwards.
use netfn_core::{Batch, Ctx, Nf};

struct Mirror;

impl Nf for Mirror {
    fn process(&mut self, _input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        let Some(mut pkt) = batch.pop() else { return };
        ctx.emit(1, pkt);
        pkt.set_user_meta(7);
    }
}

fn main() {
    let _ = Mirror;
}
