//! `task_struct`: what the core knows about one task.

use std::sync::Arc;

use crate::attr::{ClassId, SchedAttr};
use crate::cpumask::CpuMask;
use crate::deadline::SchedDlEntity;
use crate::fair::SchedEntity;
use crate::mutex::MutexId;
use crate::rt::SchedRtEntity;

pub use proxysched_trace::TaskId;

/// `__state` as far as the scheduler cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Created, not yet woken for the first time.
    New,
    /// TASK_RUNNING: on a runqueue, or about to be.
    Running,
    /// Asked to sleep (TASK_INTERRUPTIBLE); the next `schedule()` on its CPU dequeues it.
    Sleeping,
    /// Exiting or exited (TASK_DEAD).
    Dead,
}

#[derive(Clone, Debug)]
pub struct Task {
    pub name: Arc<str>,
    /// The attributes last set with `sched_setattr()`.
    pub attr: SchedAttr,
    /// Effective kernel prio (`p->prio`); decides the class.
    pub prio: i32,
    pub cpus_allowed: CpuMask,
    pub nr_cpus_allowed: u32,
    pub state: TaskState,
    /// Queued on `cpu`'s runqueue (the running task is queued too).
    pub on_rq: bool,
    /// `task_cpu()`: the runqueue it is on, or was last on.
    pub cpu: u32,
    pub se: SchedEntity,
    pub rt: SchedRtEntity,
    pub dl: SchedDlEntity,
    /// CPU time this task's own code has run (`se.sum_exec_runtime`).
    pub sum_exec_runtime: u64,
    /// Moved to another CPU since it last ran: its next switch-in pays the migration cost.
    pub migrated: bool,
    /// The CPU the task belongs on; differs from `cpu` while it is proxy-migrated as a donor.
    pub wake_cpu: u32,
    /// The mutex the task waits for (kept under every inheritance mode).
    pub blocked_on: Option<MutexId>,
    /// Proxy execution: blocked on a mutex but left queued as a potential donor.
    pub is_blocked: bool,
    /// The donor that last lent this task (a lock owner) its scheduling context; the mutex
    /// goes to it on unlock if it still waits (Linux 7.2).
    pub blocked_donor: Option<TaskId>,
    /// Mutexes the task owns.
    pub held: Vec<MutexId>,
    /// Part of a cycle of mutex waiters: never runs again.
    pub deadlocked: bool,
    /// Proxy execution (full): the sleeping owner this donor is parked on.
    pub sleeping_owner: Option<TaskId>,
    /// In flight between runqueues (`task_on_rq_migrating()`): runnable, on none.
    pub migrating: bool,
    /// Lists that only a few tasks ever need, boxed on first use (and kept), so that the
    /// others pay one pointer for them.
    pub(crate) links: Option<Box<ProxyLinks>>,
}

/// Proxy-execution lists of a task; see [`Task::blocked_head`].
#[derive(Clone, Debug, Default)]
pub(crate) struct ProxyLinks {
    /// Proxy execution (full): donors parked on this task while it sleeps.
    blocked_head: Vec<TaskId>,
    /// CPUs whose proxy walk found this task migrating: they pick again when it lands.
    migrate_waiters: Vec<u32>,
}

impl Task {
    #[inline]
    pub fn class(&self) -> ClassId {
        ClassId::of_prio(self.prio)
    }

    #[inline]
    pub fn policy_name(&self) -> &'static str {
        self.attr.policy().kernel_name()
    }

    /// Proxy execution (full): donors parked on this task while it sleeps.
    pub fn blocked_head(&self) -> &[TaskId] {
        self.links.as_ref().map_or(&[], |l| &l.blocked_head)
    }

    pub(crate) fn blocked_head_mut(&mut self) -> &mut Vec<TaskId> {
        &mut self.links.get_or_insert_with(Box::default).blocked_head
    }

    pub(crate) fn take_blocked_head(&mut self) -> Vec<TaskId> {
        self.links
            .as_mut()
            .map(|l| std::mem::take(&mut l.blocked_head))
            .unwrap_or_default()
    }

    /// CPUs whose proxy walk found this task migrating: they pick again when it lands.
    pub(crate) fn migrate_waiters_mut(&mut self) -> &mut Vec<u32> {
        &mut self.links.get_or_insert_with(Box::default).migrate_waiters
    }

    pub(crate) fn take_migrate_waiters(&mut self) -> Vec<u32> {
        self.links
            .as_mut()
            .map(|l| std::mem::take(&mut l.migrate_waiters))
            .unwrap_or_default()
    }
}
