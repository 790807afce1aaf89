//! The scheduler core of proxysched: a model of Linux's `kernel/sched/` (classes, runqueues,
//! wakeups, balancing) that knows nothing about files, clocks or output. The engine drives it
//! with calls and reads its decisions; everything it wants to tell the world goes out as
//! tracepoints in [`Outbox`].
//!
//! Linux version followed: 6.12 for EEVDF (custom slices, no `DELAY_DEQUEUE`), SCHED_DEADLINE
//! and SCHED_FIFO/RR with `sched_rt_runtime_us` throttling. The fair deadline server (6.12+)
//! is not modelled.

pub mod attr;
mod check;
pub mod class;
pub mod core;
pub mod cpumask;
mod cpupri;
pub mod deadline;
pub mod fair;
pub mod mutex;
mod prio_array;
pub mod proxy;
pub mod rq;
pub mod rt;
pub mod task;
mod timeline;

pub use crate::attr::{ClassId, Policy, SchedAttr};
pub use crate::core::{Outbox, PlantedBug, Sched, SchedConfig, TimerRequest};
pub use crate::cpumask::{CpuMask, NR_CPUS};
pub use crate::deadline::DlAdmissionError;
pub use crate::mutex::{Inherit, LockResult, Mutex, MutexId, ProxyLevel};
pub use crate::proxy::ProxyCase;
pub use crate::task::{Task, TaskId, TaskState};
