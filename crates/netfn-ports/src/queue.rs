//! `queue`: a bounded FIFO port. What is sent to it waits until the
//! scheduler polls it as a source, which makes it the element that breaks a
//! cycle in a graph (Click's `Queue`, the push-to-pull boundary).

use std::collections::VecDeque;

use netfn_core::config::{ConfigError, Params};
use netfn_core::{Batch, DropReason, Packet, Port, PortCtx, RecvStatus};

#[derive(Debug)]
pub struct Queue {
    packets: VecDeque<Packet>,
    capacity: usize,
    high_water: usize,
}

impl Queue {
    pub fn new(capacity: usize) -> Self {
        Queue {
            packets: VecDeque::with_capacity(capacity),
            capacity,
            high_water: 0,
        }
    }

    pub fn from_params(p: &Params) -> Result<Self, ConfigError> {
        Ok(Queue::new(p.int("capacity")? as usize))
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }
}

impl Port for Queue {
    fn recv(&mut self, batch: &mut Batch, _ctx: &mut PortCtx<'_>) -> RecvStatus {
        let n = batch.remaining().min(self.packets.len());
        batch.extend(self.packets.drain(..n));
        // A queue never runs dry for good: more may arrive.
        RecvStatus::Ready
    }

    fn send(&mut self, batch: &mut Batch, _ctx: &mut PortCtx<'_>) {
        let room = self.capacity - self.packets.len();
        // What does not fit stays in the batch: the runtime drops it as queue-full.
        self.packets.extend(batch.drain_first(room));
        self.high_water = self.high_water.max(self.packets.len());
    }

    fn is_internal(&self) -> bool {
        true
    }

    fn pending(&self) -> usize {
        self.packets.len()
    }

    fn overflow_reason(&self) -> DropReason {
        DropReason::QueueFull
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        report("length", self.packets.len() as u64);
        report("high_water", self.high_water as u64);
        report("capacity", self.capacity as u64);
    }
}
