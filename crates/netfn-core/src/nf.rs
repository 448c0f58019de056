//! The [`Nf`] trait: the unit the runtime schedules.
//!
//! Most NFs are built from operators (see [`crate::ops`]) and never implement
//! this by hand; NFs with several inputs, timers or state to carry across a
//! reload do.

use std::any::Any;

use crate::batch::Batch;
use crate::ctx::Ctx;

/// A network function: a stage of the graph.
///
/// Contract for `process`: on entry every verdict in `batch` is
/// `Forward(0)`; on return each packet still in the batch has the verdict
/// the NF chose. The NF may remove packets (to queue them) and may emit new
/// ones through `ctx`. The runtime routes the batch once, after the call.
pub trait Nf: Any {
    /// Processes a burst that arrived on input `input`.
    fn process(&mut self, input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>);

    /// Called once before the first packet (request timers here).
    fn start(&mut self, _ctx: &mut Ctx<'_>) {}

    /// Called when a timer requested through `ctx` fires.
    fn on_timer(&mut self, _ctx: &mut Ctx<'_>) {}

    /// Called once when the runtime stops (flush reports, emit what is held).
    fn stop(&mut self, _ctx: &mut Ctx<'_>) {}

    /// True if `process` reports the bytes it received through
    /// [`Ctx::count_bytes`] (saving the runtime a pass over the batch).
    fn counts_bytes(&self) -> bool {
        false
    }

    /// NF-specific counters (per-rule hits, table sizes), reported by name.
    fn counters(&self, _report: &mut dyn FnMut(&str, u64)) {}

    /// On a reload that keeps this NF's name and kind, the new instance is
    /// built from the new config and then given the old one to take its
    /// state from (flow tables, NAT mappings). Default: start afresh.
    fn adopt(&mut self, _old: Box<dyn Nf>) {}
}

/// Downcasts a boxed NF (for [`Nf::adopt`] implementations).
pub fn downcast<T: Nf>(nf: Box<dyn Nf>) -> Option<Box<T>> {
    let any: Box<dyn Any> = nf;
    any.downcast().ok()
}
