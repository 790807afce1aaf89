//! `struct rq`: one CPU's runqueue.

use crate::deadline::DlRq;
use crate::fair::CfsRq;
use crate::rt::RtRq;
use crate::task::TaskId;

#[derive(Debug)]
pub struct Rq {
    pub cpu: u32,
    /// Execution context: whose code runs. `None` is this CPU's idle task.
    pub curr: Option<TaskId>,
    /// Scheduling context: whose class state is charged and compared. Equal to `curr` unless a
    /// proxy runs; kept as its own field all the same, as in Linux since 6.13.
    pub donor: Option<TaskId>,
    /// TIF_NEED_RESCHED of `curr`.
    pub need_resched: bool,
    /// Start of the current accounting window of `curr` (`se.exec_start`).
    pub exec_start: u64,
    /// Overheads (context switch, migration) keep the CPU busy without running task code until
    /// this time.
    pub busy_until: u64,
    pub cfs: CfsRq,
    pub rt: RtRq,
    pub dl: DlRq,
    /// Next periodic load balance of this CPU (`rq->next_balance`).
    pub next_balance: u64,
    /// What the CPU state masks last recorded for this runqueue (`Sched::update_cpu_masks`).
    pub(crate) mask_state: u16,
}

impl Rq {
    pub fn new(cpu: u32) -> Rq {
        Rq {
            cpu,
            curr: None,
            donor: None,
            need_resched: false,
            exec_start: 0,
            busy_until: 0,
            cfs: CfsRq::default(),
            rt: RtRq::default(),
            dl: DlRq::default(),
            next_balance: 0,
            mask_state: crate::cpupri::IDLE_STATE,
        }
    }

    /// Tasks queued here, the running one included; throttled DL tasks are not counted.
    #[inline]
    pub fn nr_running(&self) -> u32 {
        self.cfs.nr_queued + self.rt.rt_nr_running + self.dl.dl_nr_running
    }

    #[inline]
    pub fn is_idle(&self) -> bool {
        self.curr.is_none()
    }
}
