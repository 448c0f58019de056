//! The [`Port`] trait: where packets enter and leave a graph.
//!
//! Backends (generator, pcap, pipes, TAP, AF_PACKET, AF_XDP, rings, queues)
//! live in `netfn-ports`; the runtime knows only this trait. A port element
//! in a graph receives on its output 0 and transmits what arrives on its
//! input 0.

use std::any::Any;

use crate::batch::{Batch, DropReason};
use crate::pool::Pool;

/// What a port sees during one call.
#[derive(Debug)]
pub struct PortCtx<'a> {
    /// Frames for received packets.
    pub pool: &'a Pool,
    /// Runtime clock, nanoseconds.
    pub now: u64,
    /// This port's id, to stamp into received packets' input port.
    pub port_id: u16,
    /// Bytes received or sent during this call, for ports whose
    /// [`Port::counts_bytes`] is true (saves the runtime a pass over the batch).
    pub bytes: u64,
}

impl<'a> PortCtx<'a> {
    pub fn new(pool: &'a Pool, now: u64, port_id: u16) -> Self {
        PortCtx {
            pool,
            now,
            port_id,
            bytes: 0,
        }
    }
}

/// Result of a receive call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvStatus {
    /// May have received packets (see the batch); call again.
    Ready,
    /// Will never receive again (end of file, packet count reached).
    Exhausted,
}

/// A packet source and/or sink.
pub trait Port: Any {
    /// Receives up to `batch.remaining()` packets into `batch`. Must not
    /// block. Ports that only transmit return `Exhausted`.
    fn recv(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> RecvStatus;

    /// Transmits packets, taking them out of `batch`. Packets left in the
    /// batch could not be sent; the runtime drops and counts them under
    /// [`Port::overflow_reason`].
    fn send(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>);

    /// True if `recv` and `send` add the bytes of the packets they received
    /// or sent to [`PortCtx::bytes`] (which they can do in the loop they
    /// run anyway); otherwise the runtime sums them.
    fn counts_bytes(&self) -> bool {
        false
    }

    /// Whether this port produces packets (the scheduler polls it).
    fn is_source(&self) -> bool {
        true
    }

    /// Packets held inside the port (a queue), so the runtime does not stop
    /// while they wait.
    fn pending(&self) -> usize {
        0
    }

    /// True for ports that only give back what the graph sent them (a
    /// queue): such a source never ends a run by itself, and counts as done
    /// once it holds nothing.
    fn is_internal(&self) -> bool {
        false
    }

    /// A descriptor that becomes readable when `recv` has something to
    /// return (a socket, a pipe), so an idle runtime can sleep in `poll()`
    /// on it and wake as soon as traffic arrives, instead of spinning.
    /// `None` (the default): the runtime re-polls the port after a short nap.
    fn wait_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// True once the port can never transmit again because whatever reads
    /// it went away (the reader of a pipe exited). The runtime then ends the
    /// run with [`crate::StopReason::OutputClosed`], as a Unix filter ends
    /// when its output closes.
    fn is_closed(&self) -> bool {
        false
    }

    /// Reason counted for packets `send` could not take.
    fn overflow_reason(&self) -> DropReason {
        DropReason::TxFull
    }

    /// Writes out anything buffered (files, pipes). Called when the runtime stops.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// Backend-specific counters (ring drops, errors), reported by name.
    fn counters(&self, _report: &mut dyn FnMut(&str, u64)) {}

    /// On a reload that keeps this port's name, kind and parameters, the new
    /// plan keeps the old port object; this hook is for ports whose
    /// parameters changed and can carry something over. Default: nothing.
    fn adopt(&mut self, _old: Box<dyn Port>) {}
}
