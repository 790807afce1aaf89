//! `struct sched_class`: the hooks every scheduling class provides. The core consults the
//! classes in [`ClassId::ALL`] order (deadline > rt > fair); below them is each CPU's idle task.
//!
//! Contracts, as the core calls them:
//! - `enqueue_task`/`dequeue_task`: the task is (not) on this runqueue's class queue;
//!   `nr_running` bookkeeping is the core's. For the running task, `update_curr` was just run.
//! - `pick_task`: only looks; the running task is still `rq.donor` and still queued if it is
//!   runnable. `put_prev_task(prev)` + `set_next_task(next)` follow only when next != prev.
//! - `update_curr`: charge `delta_ns` of execution to the scheduling context `p`.
//! - `balance`: before picking, while `prev` is put; pull work if `prev` left this class's
//!   queue and took the best of it along. Returns true if this class or a higher one has a
//!   runnable task.
//! - `switched_from`/`prio_changed`: a queued task's attributes or effective prio changed
//!   (`check_class_changed()`), it is back on its queue; pull what it no longer outranks.

use crate::attr::ClassId;
use crate::core::Sched;
use crate::deadline::DlSchedClass;
use crate::fair::FairSchedClass;
use crate::rt::RtSchedClass;
use crate::task::TaskId;

/// The task wakes up (as opposed to a migration or an attribute change).
pub const ENQUEUE_WAKEUP: u32 = 0x01;
/// A new task: `PLACE_DEADLINE_INITIAL`, DL parameters from scratch.
pub const ENQUEUE_INITIAL: u32 = 0x02;
/// Matches `DEQUEUE_SAVE`: attributes change, the task goes back where it was.
pub const ENQUEUE_RESTORE: u32 = 0x04;
/// A SCHED_DEADLINE replenishment timer re-enqueues a throttled task.
pub const ENQUEUE_REPLENISH: u32 = 0x08;
/// Matches `DEQUEUE_MIGRATING`/`ENQUEUE_MIGRATED`: the task moves between runqueues.
pub const ENQUEUE_MIGRATED: u32 = 0x10;

/// Matches `ENQUEUE_WAKEUP`: the task goes to sleep.
pub const DEQUEUE_SLEEP: u32 = 0x01;
/// Matches `ENQUEUE_RESTORE`.
pub const DEQUEUE_SAVE: u32 = 0x04;
/// Matches `ENQUEUE_MIGRATED`.
pub const DEQUEUE_MIGRATING: u32 = 0x10;

pub trait SchedClass: Sync {
    fn enqueue_task(&self, s: &mut Sched, cpu: usize, p: TaskId, flags: u32);
    fn dequeue_task(&self, s: &mut Sched, cpu: usize, p: TaskId, flags: u32);
    /// `sched_yield()` by the running task of `cpu`.
    fn yield_task(&self, s: &mut Sched, cpu: usize);
    /// `p` of this class was just enqueued on `cpu`, whose donor is of this class too.
    fn wakeup_preempt(&self, s: &mut Sched, cpu: usize, p: TaskId);
    fn pick_task(&self, s: &mut Sched, cpu: usize) -> Option<TaskId>;
    fn put_prev_task(&self, s: &mut Sched, cpu: usize, p: TaskId);
    fn set_next_task(&self, s: &mut Sched, cpu: usize, p: TaskId);
    fn update_curr(&self, s: &mut Sched, cpu: usize, p: TaskId, delta_ns: u64);
    fn task_tick(&self, s: &mut Sched, cpu: usize, p: TaskId);
    /// The CPU a waking (`fork` = new) task should be queued on.
    fn select_task_rq(&self, s: &Sched, p: TaskId, prev_cpu: usize, fork: bool) -> usize;
    /// `balance()` while `prev`, the donor `cpu` is putting, still holds it: pull work this
    /// class lost with `prev`, then say whether this class (or one above) has work.
    fn balance(&self, s: &mut Sched, cpu: usize, prev: TaskId) -> bool;
    /// After `p` was woken onto `cpu` (`task_woken`) or after a schedule on `cpu`
    /// (`balance_callback`): push what cannot run here.
    fn push_tasks(&self, _s: &mut Sched, _cpu: usize) {}
    /// The queued task `p` of `cpu` has just left this class.
    fn switched_from(&self, _s: &mut Sched, _cpu: usize, _p: TaskId) {}
    /// The queued task `p` of `cpu` stayed in this class with new attributes or prio.
    fn prio_changed(&self, _s: &mut Sched, _cpu: usize, _p: TaskId, _old_prio: i32) {}
}

/// The class `id` names. Its hooks are dispatched with a `match`, which the compiler inlines
/// through, where calls through a `&dyn SchedClass` could not be: a tick, a pick or an
/// enqueue goes through several hooks, most of them a few instructions long.
#[inline]
pub fn class(id: ClassId) -> Class {
    Class(id)
}

/// A scheduling class, by its [`ClassId`]; see [`class`].
#[derive(Clone, Copy, Debug)]
pub struct Class(ClassId);

/// `Class`'s hooks, each forwarded to the class's [`SchedClass`] implementation.
macro_rules! dispatch {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?;)*) => {
        impl Class {
            $(
                #[inline]
                pub fn $name(self, $($arg: $ty),*) $(-> $ret)? {
                    match self.0 {
                        ClassId::Deadline => DlSchedClass.$name($($arg),*),
                        ClassId::Rt => RtSchedClass.$name($($arg),*),
                        ClassId::Fair => FairSchedClass.$name($($arg),*),
                    }
                }
            )*
        }
    };
}

dispatch! {
    fn enqueue_task(s: &mut Sched, cpu: usize, p: TaskId, flags: u32);
    fn dequeue_task(s: &mut Sched, cpu: usize, p: TaskId, flags: u32);
    fn yield_task(s: &mut Sched, cpu: usize);
    fn wakeup_preempt(s: &mut Sched, cpu: usize, p: TaskId);
    fn pick_task(s: &mut Sched, cpu: usize) -> Option<TaskId>;
    fn put_prev_task(s: &mut Sched, cpu: usize, p: TaskId);
    fn set_next_task(s: &mut Sched, cpu: usize, p: TaskId);
    fn update_curr(s: &mut Sched, cpu: usize, p: TaskId, delta_ns: u64);
    fn task_tick(s: &mut Sched, cpu: usize, p: TaskId);
    fn select_task_rq(s: &Sched, p: TaskId, prev_cpu: usize, fork: bool) -> usize;
    fn balance(s: &mut Sched, cpu: usize, prev: TaskId) -> bool;
    fn push_tasks(s: &mut Sched, cpu: usize);
    fn switched_from(s: &mut Sched, cpu: usize, p: TaskId);
    fn prio_changed(s: &mut Sched, cpu: usize, p: TaskId, old_prio: i32);
}
