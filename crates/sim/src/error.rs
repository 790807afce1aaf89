//! Why a run could not be carried out. Every variant is the user's input, so the CLI reports
//! it with exit code 2.

use proxysched_sched::DlAdmissionError;
use proxysched_workload::InputError;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}")]
    Admission(#[from] DlAdmissionError),
    #[error(
        "task '{task}' keeps executing events that take no time at t={at_ns} ns (an endless \
         loop without run, sleep or a blocking event); the simulation cannot advance"
    )]
    NoProgress { task: String, at_ns: u64 },
    /// A bug in proxysched, not in the workload: reported rather than spinning forever.
    #[error("cpu{cpu} keeps rescheduling at t={at_ns} ns without settling (a livelock in the scheduler model; please report it with this workload)")]
    Livelock { cpu: u32, at_ns: u64 },
    /// A bug in proxysched: events keep coming at one instant.
    #[error("simulated time stopped advancing at t={at_ns} ns: events keep firing at that instant (a bug in the scheduler model; please report it with this workload)")]
    Stuck { at_ns: u64 },
}
