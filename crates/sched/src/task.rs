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

/// Fields are laid out by hand (`repr(C)`, cache-line aligned) in the order the hot paths
/// touch them: with thousands of tasks most task reads are cache misses, and a wakeup, a
/// pick and a tick should each touch as few lines as possible.
///
/// - Line 0: what every class reads on a wakeup, a pick or a tick.
/// - Line 1: the EEVDF entity (fair tasks only).
/// - Line 2: affinity and policy (select_task_rq, wakeup preemption, RR ticks), then the
///   CBS entity (deadline tasks only), which ends line 3.
///
/// What only mutexes and reports read is in [`TaskCold`], apart, which keeps `Task` at
/// exactly four lines (256 bytes).
///
/// `layout_keeps_hot_fields_together` below pins this down.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
pub struct Task {
    // ----- line 0 ------------------------------------------------------------------------
    pub state: TaskState,
    /// Queued on `cpu`'s runqueue (the running task is queued too).
    pub on_rq: bool,
    /// Moved to another CPU since it last ran: its next switch-in pays the migration cost.
    pub migrated: bool,
    /// Proxy execution: blocked on a mutex but left queued as a potential donor.
    pub is_blocked: bool,
    /// In flight between runqueues (`task_on_rq_migrating()`): runnable, on none.
    pub migrating: bool,
    /// Part of a cycle of mutex waiters: never runs again.
    pub deadlocked: bool,
    /// Effective kernel prio (`p->prio`); decides the class.
    pub prio: i32,
    /// `task_cpu()`: the runqueue it is on, or was last on.
    pub cpu: u32,
    /// The CPU the task belongs on; differs from `cpu` while it is proxy-migrated as a donor.
    pub wake_cpu: u32,
    pub nr_cpus_allowed: u32,
    pub rt: SchedRtEntity,
    /// The mutex the task waits for (kept under every inheritance mode).
    pub blocked_on: Option<MutexId>,
    /// Proxy execution (full): the sleeping owner this donor is parked on.
    pub sleeping_owner: Option<TaskId>,
    /// Lists that only a few tasks ever need, boxed on first use (and kept), so that the
    /// others pay one pointer for them.
    pub(crate) links: Option<Box<ProxyLinks>>,
    /// CPU time this task's own code has run (`se.sum_exec_runtime`).
    pub sum_exec_runtime: u64,
    // ----- line 1 ------------------------------------------------------------------------
    pub se: SchedEntity,
    /// The donor that last lent this task (a lock owner) its scheduling context; the mutex
    /// goes to it on unlock if it still waits (Linux 7.2). Only the mutex handoff reads it:
    /// it fills the end of the fair line.
    pub blocked_donor: Option<TaskId>,
    // ----- line 2 ------------------------------------------------------------------------
    pub cpus_allowed: CpuMask,
    /// The attributes last set with `sched_setattr()`.
    pub attr: SchedAttr,
    // ----- lines 2 and 3 -----------------------------------------------------------------
    pub dl: SchedDlEntity,
}

/// The part of a task the scheduling paths do not read: see [`Sched::task_name`] and
/// [`Sched::held`].
///
/// [`Sched::task_name`]: crate::Sched::task_name
/// [`Sched::held`]: crate::Sched::held
#[derive(Clone, Debug)]
pub(crate) struct TaskCold {
    pub(crate) name: Arc<str>,
    /// Mutexes the task owns.
    pub(crate) held: Vec<MutexId>,
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

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    /// The line a field starts on, and the line its last byte is on.
    fn lines(offset: usize, size: usize) -> (usize, usize) {
        (offset / 64, (offset + size - 1) / 64)
    }

    #[test]
    fn layout_keeps_hot_fields_together() {
        assert_eq!(size_of::<Task>(), 256);
        assert_eq!(lines(0, offset_of!(Task, sum_exec_runtime) + 8), (0, 0));
        let se = offset_of!(Task, se);
        assert_eq!(lines(se, size_of::<SchedEntity>()), (1, 1));
        let cpus = offset_of!(Task, cpus_allowed);
        assert_eq!(lines(cpus, offset_of!(Task, dl) - cpus), (2, 2));
        assert_eq!(
            lines(offset_of!(Task, dl), size_of::<SchedDlEntity>()),
            (2, 3)
        );
    }
}
