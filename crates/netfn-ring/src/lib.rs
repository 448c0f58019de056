//! The Master/Worker ring protocol between netfn and its worker processes
//! (Virgilio's algorithm, thesis chapter 5; digest §7 in
//! `shared/reference/thesis-digest.md`).
//!
//! Each Worker shares one region with the Master and with nobody else:
//!
//! * a **primary ring** of fixed slots (header + up to 2 KiB of data by
//!   default, a cache-line multiple). The Master copies a packet into the
//!   next free slot and advances `M.prodIndex`; the Worker processes tokens
//!   in place and hands them back by advancing `W.prodIndex` (no copy back);
//!   the Master reads them back up to `W.prodIndex` and forwards them, or
//!   skips them if flagged `dropped`. One slot is always kept empty.
//! * an **aux ring** for packets the Worker generates: each aux slot has a
//!   `next` flag (the run goes on); a primary slot gets `aux` when at least
//!   one packet was written for it, and `dropped` + `aux` means "replaced".
//!   The Master reads the primary slot, then its aux run, in order.
//!
//! Execution model: the Master polls and never blocks ([`Master`]); a Worker
//! sleeps on a [`Doorbell`] (an eventfd between processes) and is woken only
//! when more than `wake_threshold` tokens wait or the oldest has waited
//! longer than `starvation_timeout`; it hands tokens back every
//! `publish_every` tokens and when its ring is empty ([`Tunables`]).
//!
//! Both ends are also netfn ports: [`RingPort`] in the Master's graph,
//! [`WorkerPort`] in the Worker's (the `netfn worker` process runs an
//! ordinary graph between it and itself).
//!
//! Memory ordering: every index is published with a Release store and read
//! with an Acquire load; slot headers are atomics too (Relaxed, ordered by
//! the indexes), so the protocol does not lean on x86's TSO, and the loom
//! tests (`scripts/loom.sh`) check it under the C11 model on the very code
//! here (`--cfg loom` swaps the atomics, cells and semaphore for loom's).
//! A Promela model of the same protocol (`spin/ring.pml`, checked by spin in
//! `scripts/spin.sh`) explores every interleaving without loom's preemption
//! bound and checks progress under weak fairness; it found the lost wake-up
//! fixed in [`WorkerPort`]'s `recv`.
//!
//! The Worker is not trusted: the Master checks every index, length and aux
//! run it reads against its own state (a violation poisons the [`Master`];
//! see [`ProtocolError`]), and seals the region's size. A Worker checks the
//! region header before use ([`Region::open`]).
//!
//! `unsafe` is confined to [`memory`] and `region` (the mapping and slot
//! access) plus the calls that reach a slot's data, each with its argument.

mod config;
mod doorbell;
mod layout;
mod master;
pub mod memory;
#[cfg(not(loom))]
mod port;
#[cfg(not(loom))]
mod region;
mod sync;
mod worker;

pub use config::{ConfigError, MAX_SLOT_SIZE, MAX_SLOTS, RingConfig, Tunables};
#[cfg(not(loom))]
pub use doorbell::EventFd;
pub use doorbell::{Doorbell, Semaphore};
pub use layout::{
    CACHE_LINE, Control, DEFAULT_SLOT_SIZE, MAX_FRAME, Meta, SLOT_HEADER, SlotHeader,
};
pub use master::{Master, MasterStats, NotFresh, ProtocolError, PushError, Returned};
pub use memory::{HeapMemory, Memory, RingId};
#[cfg(not(loom))]
pub use port::{RingPort, WorkerPort};
#[cfg(not(loom))]
pub use region::{
    DOORBELL_FD_ENV, MAGIC, REGION_FD_ENV, Region, RegionError, VERSION, spawn_worker,
    worker_fds_from_env,
};
pub use worker::{MasterIndexError, Token, TokenError, Verdict, Wake, Worker, WorkerStats};
