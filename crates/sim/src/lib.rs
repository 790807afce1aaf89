//! The proxysched engine: virtual time (integer nanoseconds), the event queue ordered by
//! (time, sequence; ends of work first within an instant) with lazy cancellation, the
//! simulated CPUs and the rt-app task programs. It drives the scheduler core and forwards the
//! core's tracepoints to a [`Sink`].

mod config;
mod engine;
mod error;
mod program;
mod queue;

pub use config::{Overrides, RunConfig, DEFAULT_DURATION_NS, DEFAULT_HUNG_TASK_TIMEOUT_NS};
pub use engine::{Engine, RunSummary};
pub use error::SimError;
pub use proxysched_trace::Sink;

use proxysched_workload::Workload;

/// Simulate `w` under `cfg`, streaming every tracepoint into `sink`.
pub fn run(w: &Workload, cfg: &RunConfig, sink: &mut dyn Sink) -> Result<RunSummary, SimError> {
    Engine::new(w, cfg, sink)?.run()
}
