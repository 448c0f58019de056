//! netfn's packet core: frames and packets, batches, the NF programming
//! model (operators), per-core state, timers and the run-to-completion
//! runtime.
//!
//! This crate is sans-IO: no sockets, threads or clocks of its own. Time,
//! randomness and new frames reach NFs through [`Ctx`]; ports are a trait.

pub mod batch;
pub mod config;
pub mod ctx;
pub mod nf;
pub mod pool;
pub mod port;
pub mod runtime;
pub mod stats;

pub use batch::{Action, Batch, DropReason, Verdict};
pub use ctx::{Clock, Ctx, ManualClock, MonotonicClock};
pub use nf::Nf;
pub use pool::{Packet, Pool, PoolConfig};
pub use port::{Port, PortCtx, RecvStatus};
pub use runtime::{Graph, NodeId, RunLimits, Runtime, RuntimeConfig, StopReason};
pub mod flowtable;
pub mod shared;
pub use flowtable::FlowTable;
pub use shared::{Shared, SharedReader};
pub mod flow;
pub mod ops;
pub mod testing;
pub mod window;
pub use flow::FlowKey;
pub use window::{Window, WindowConfig};
