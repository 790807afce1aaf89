//! SCHED_DEADLINE as in Linux 6.12 (`kernel/sched/deadline.c`): EDF on absolute deadlines,
//! each task a constant bandwidth server (runtime, deadline, period), without GRUB reclaiming.
//!
//! A budget overrun is noticed at the next tick or kernel entry and paid back from the next
//! budget, as in Linux by default; `SchedConfig::hrtick_dl` enforces it to the nanosecond
//! instead (the `HRTICK_DL` feature).

use std::collections::VecDeque;

use crate::attr::{to_ratio, ClassId, SchedAttr, BW_SHIFT};
use crate::class::{
    SchedClass, ENQUEUE_INITIAL, ENQUEUE_REPLENISH, ENQUEUE_RESTORE, ENQUEUE_WAKEUP,
};
use crate::core::Sched;
use crate::cpumask::CpuMask;
use crate::mutex::Inherit;
use crate::rt::RtSchedClass;
use crate::task::TaskId;
use proxysched_trace::Event;

/// Per-task CBS state (`sched_dl_entity`).
#[derive(Clone, Debug, Default)]
pub struct SchedDlEntity {
    pub dl_runtime: u64,
    pub dl_deadline: u64,
    pub dl_period: u64,
    /// Budget left in the current instance; negative after an overrun.
    pub runtime: i64,
    /// Absolute deadline of the current instance.
    pub deadline: u64,
    /// Out of budget: off the EDF queue until the replenishment timer.
    pub dl_throttled: bool,
    pub dl_yielded: bool,
    /// When the armed replenishment timer fires; a fired timer whose time does not match
    /// was cancelled.
    pub dl_timer_at: Option<u64>,
    /// Own parameters, deadline and budget saved while priority inheritance lends this
    /// entity a waiter's (`pi_se`). Boxed: only a boosted entity has them, and inline they
    /// would make every task's entity 40 bytes longer, past the lines
    /// [`Task`](crate::task::Task) gives it.
    saved: Option<Box<SavedParams>>,
    /// Insertion order on the EDF queue: equal deadlines run in the order they were queued,
    /// as in the kernel's rbtree, and preemption (strictly earlier deadline) agrees with it.
    queue_seq: u64,
    /// On its runqueue's EDF queue (`on_dl_rq()`).
    pub(crate) on_dl_rq: bool,
    /// On its runqueue's pushable tree.
    pub(crate) pushable: bool,
}

/// `dl_runtime`, `dl_deadline`, `dl_period`, `runtime`, `deadline` of an entity before a boost.
type SavedParams = (u64, u64, u64, i64, u64);

impl SchedDlEntity {
    /// Boosted by a SCHED_DEADLINE waiter: runs with its parameters and deadline, and is
    /// never throttled (`is_dl_boosted()`).
    pub fn is_boosted(&self) -> bool {
        self.saved.is_some()
    }

    /// Take the waiter's parameters and current deadline (`pi_se`), keeping ours for later.
    pub(crate) fn boost_from(&mut self, waiter: &SchedDlEntity) {
        if self.saved.is_none() {
            self.saved = Some(Box::new((
                self.dl_runtime,
                self.dl_deadline,
                self.dl_period,
                self.runtime,
                self.deadline,
            )));
        }
        self.dl_runtime = waiter.dl_runtime;
        self.dl_deadline = waiter.dl_deadline;
        self.dl_period = waiter.dl_period;
        self.deadline = waiter.deadline;
        self.runtime = waiter.runtime.max(1);
        self.dl_throttled = false;
        self.dl_timer_at = None;
    }

    pub(crate) fn unboost(&mut self) {
        if let Some(&(r, d, p, runtime, deadline)) = self.saved.take().as_deref() {
            self.dl_runtime = r;
            self.dl_deadline = d;
            self.dl_period = p;
            self.runtime = runtime;
            self.deadline = deadline;
        }
    }

    fn is_implicit(&self) -> bool {
        self.dl_deadline == self.dl_period
    }

    /// `dl_next_period()`: start of the next period of the current instance.
    fn next_period(&self) -> u64 {
        (self.deadline + self.dl_period).saturating_sub(self.dl_deadline)
    }

    /// `dl_entity_overflow()`: would the remaining budget, run before the current deadline,
    /// exceed the reserved bandwidth? (runtime / (deadline - now) > dl_runtime / dl_deadline)
    fn overflows(&self, now: u64) -> bool {
        let left = self.dl_deadline as i128 * self.runtime as i128;
        let right = (self.deadline as i128 - now as i128) * self.dl_runtime as i128;
        right < left
    }

    /// `replenish_dl_new_period()`.
    fn new_period(&mut self, now: u64) {
        self.deadline = now + self.dl_deadline;
        self.runtime = self.dl_runtime as i64;
    }
}

/// A task's place on an EDF queue: absolute deadline, then queueing order.
type DlKey = (u64, u64, TaskId);

/// Keys in ascending order, in a ring buffer: what the kernel's rbtrees hold, for the
/// handful of tasks a CPU has queued. The first keys are read in place (the rbtree's cached
/// leftmost), and the common changes are at the ends: the earliest leaves when it sleeps or
/// is pushed, a new job's deadline is usually the latest. `VecDeque` shifts whichever side
/// is shorter, so those cost no more than a tree's rebalancing, with no node to allocate
/// and one buffer to read.
#[derive(Debug, Default)]
struct SortedKeys(VecDeque<DlKey>);

impl SortedKeys {
    fn insert(&mut self, key: DlKey) {
        // The ends first: a general insert into a ring buffer (search two halves, shift
        // around the wrap) costs several times a push.
        if self.0.back().is_none_or(|&last| last < key) {
            self.0.push_back(key);
        } else if self.0.front().is_some_and(|&first| key < first) {
            self.0.push_front(key);
        } else {
            let at = self.0.partition_point(|&k| k < key);
            self.0.insert(at, key);
        }
    }

    /// False if `key` was not there.
    fn remove(&mut self, key: DlKey) -> bool {
        if self.0.front() == Some(&key) {
            self.0.pop_front();
            return true;
        }
        if self.0.back() == Some(&key) {
            self.0.pop_back();
            return true;
        }
        match self.0.binary_search(&key) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    #[inline]
    fn get(&self, i: usize) -> Option<DlKey> {
        self.0.get(i).copied()
    }

    fn tasks(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.0.iter().map(|&(_, _, p)| p)
    }

    fn is_sorted(&self) -> bool {
        self.0.iter().is_sorted_by(|a, b| a < b)
    }
}

/// `dl_rq`: the EDF queue of one CPU (the running DL task stays in it).
#[derive(Debug, Default)]
pub struct DlRq {
    queue: SortedKeys,
    next_seq: u64,
    pub dl_nr_running: u32,
    /// `pushable_dl_tasks_root`: the queued tasks that might run elsewhere (see
    /// `Sched::may_be_pushable`), keyed as on the EDF queue, so the first one push/pull
    /// accepts is the one a walk of the whole queue would accept. Unlike Linux's tree, ours
    /// keeps the running task, so its second key plays the part of `earliest_dl.next`.
    pushable_tasks: SortedKeys,
}

impl DlRq {
    /// Earliest deadline queued here (`dl_rq->earliest_dl.curr`).
    #[inline]
    pub fn earliest(&self) -> Option<(u64, TaskId)> {
        self.queue.get(0).map(|(d, _, p)| (d, p))
    }

    /// Is `p` the earliest deadline queued here (`is_leftmost()`)?
    #[inline]
    pub fn is_leftmost(&self, p: TaskId) -> bool {
        self.earliest().is_some_and(|(_, e)| e == p)
    }

    pub fn queued(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.queue.tasks()
    }

    /// The pushable tree, earliest deadline first.
    pub fn pushable(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.pushable_tasks.tasks()
    }

    fn enqueue(&mut self, key: DlKey) {
        self.queue.insert(key);
    }

    /// False if `key` was not queued.
    fn dequeue(&mut self, key: DlKey) -> bool {
        self.queue.remove(key)
    }

    /// `enqueue_pushable_dl_task()`.
    fn enqueue_pushable(&mut self, p: TaskId, dl_se: &mut SchedDlEntity) {
        debug_assert!(dl_se.on_dl_rq && !dl_se.pushable);
        self.pushable_tasks
            .insert((dl_se.deadline, dl_se.queue_seq, p));
        dl_se.pushable = true;
    }

    /// `dequeue_pushable_dl_task()`; nothing if it is not in the tree.
    fn dequeue_pushable(&mut self, p: TaskId, dl_se: &mut SchedDlEntity) {
        if std::mem::take(&mut dl_se.pushable) {
            let removed = self
                .pushable_tasks
                .remove((dl_se.deadline, dl_se.queue_seq, p));
            debug_assert!(removed, "pushable DL task not in the pushable tree");
        }
    }

    /// No task a pull could take from here has an earlier deadline than this (`None`: there
    /// is no such task). `curr` and `donor` never move, and only they can precede the
    /// second pushable key.
    fn pull_bound(&self, curr: Option<TaskId>, donor: Option<TaskId>) -> Option<u64> {
        let (d, _, p) = self.pushable_tasks.get(0)?;
        if Some(p) == curr || Some(p) == donor {
            self.pushable_tasks.get(1).map(|(d, _, _)| d)
        } else {
            Some(d)
        }
    }

    /// Both queues are in key order; for `check_invariants`.
    pub(crate) fn check_order(&self) -> Result<(), String> {
        if !self.queue.is_sorted() || !self.pushable_tasks.is_sorted() {
            return Err(format!(
                "DL queues out of order: {:?}, pushable {:?}",
                self.queue, self.pushable_tasks
            ));
        }
        Ok(())
    }
}

/// May `p` run on every CPU of the machine? (Affinity masks never name a CPU the machine
/// does not have, so counting is enough.)
#[inline]
fn exec_allowed_everywhere(s: &Sched, p: TaskId) -> bool {
    s.tasks[p.index()].nr_cpus_allowed as usize == s.rqs.len()
}

/// What one `push_dl_task()` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Push {
    Nothing,
    /// The earliest movable task would preempt what runs here: reschedule instead.
    Resched,
    /// Move this task to that CPU.
    Move(TaskId, usize),
}

/// The CPU whose earliest deadline is the latest, if later than `after`; a tie goes to the CPU
/// a wrapped walk from `own` meets first. Two plain passes over the array: the maximum, then
/// where it is.
fn latest_earliest(earliest: &[u64], own: usize, after: u64) -> Option<usize> {
    let latest = max_of(earliest);
    if latest <= after {
        return None;
    }
    let at = |from: usize, to: usize| {
        earliest[from..to]
            .iter()
            .position(|&d| d == latest)
            .map(|i| from + i)
    };
    at(own, earliest.len()).or_else(|| at(0, own))
}

/// [`latest_earliest`] among the CPUs of `allowed`.
fn latest_earliest_in(
    earliest: &[u64],
    allowed: &CpuMask,
    own: usize,
    after: u64,
) -> Option<usize> {
    // The walk is in CPU order, cheaper than the wrapped one; a tie goes to the CPU the
    // wrapped walk meets first (at or after `own`, else the lowest).
    let mut best: Option<(u64, usize)> = None;
    allowed.for_each(|c| {
        let d = earliest[c];
        if d > after && best.is_none_or(|(bd, bc)| d > bd || (d == bd && bc < own && c >= own)) {
            best = Some((d, c));
        }
    });
    best.map(|(_, c)| c)
}

/// The largest value of `v` (0 if empty), in four independent lanes: a single running
/// maximum is a chain of dependent compares, one per CPU.
#[inline]
fn max_of(v: &[u64]) -> u64 {
    let mut lanes = [0u64; 4];
    let chunks = v.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..4 {
            lanes[i] = lanes[i].max(c[i]);
        }
    }
    rest.iter()
        .fold(lanes.into_iter().max().unwrap_or(0), |m, &d| m.max(d))
}

/// Admission control failed: the message names the task and the bandwidth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DlAdmissionError {
    pub task: String,
    pub task_bw: u64,
    pub total_bw: u64,
    pub limit_bw: u64,
    pub nr_cpus: u32,
}

/// A bandwidth in 1/1000 of a CPU, for messages (`to_ratio` units are 1 << 20).
fn permille(bw: u64) -> String {
    let pm = (bw as u128 * 1000 + (1u128 << (BW_SHIFT - 1))) >> BW_SHIFT;
    format!("{}.{:03}", pm / 1000, pm % 1000)
}

impl std::fmt::Display for DlAdmissionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SCHED_DEADLINE admission control refuses task '{}': its bandwidth {} CPU brings the \
             total to {} CPU, over the limit of {} CPU ({} CPU(s) x 0.95, \
             sched_rt_runtime_us/sched_rt_period_us = 950000/1000000)",
            self.task,
            permille(self.task_bw),
            permille(self.total_bw),
            permille(self.limit_bw),
            self.nr_cpus
        )
    }
}

impl std::error::Error for DlAdmissionError {}

pub struct DlSchedClass;

impl DlSchedClass {
    pub fn set_params(s: &mut Sched, p: TaskId) {
        let t = &mut s.tasks[p.index()];
        if let SchedAttr::Deadline {
            runtime_ns,
            deadline_ns,
            period_ns,
        } = t.attr
        {
            t.dl.dl_runtime = runtime_ns;
            t.dl.dl_deadline = deadline_ns;
            t.dl.dl_period = period_ns;
        }
    }

    /// `__dl_overflow()`: would admitting `new_bw` (replacing `old_bw`) exceed 95% of every
    /// CPU of the root domain?
    pub fn admission_check(
        s: &Sched,
        name: &str,
        old_bw: u64,
        new_bw: u64,
    ) -> Result<u64, DlAdmissionError> {
        let total = s.dl_total_bw - old_bw + new_bw;
        let limit = to_ratio(1_000_000_000, 950_000_000) * s.rqs.len() as u64;
        if total > limit {
            return Err(DlAdmissionError {
                task: name.to_string(),
                task_bw: new_bw,
                total_bw: total,
                limit_bw: limit,
                nr_cpus: s.rqs.len() as u32,
            });
        }
        Ok(total)
    }

    fn insert(s: &mut Sched, cpu: usize, p: TaskId) {
        let pushable = s.may_be_pushable(p);
        let dl = &mut s.rqs[cpu].dl;
        let se = &mut s.tasks[p.index()].dl;
        se.queue_seq = dl.next_seq;
        dl.next_seq += 1;
        dl.enqueue((se.deadline, se.queue_seq, p));
        se.on_dl_rq = true;
        if pushable {
            dl.enqueue_pushable(p, se);
        }
        dl.dl_nr_running += 1;
        Self::update_cpudl(s, cpu);
        Self::update_overload(s, cpu);
    }

    fn remove(s: &mut Sched, cpu: usize, p: TaskId) {
        let se = &mut s.tasks[p.index()].dl;
        let dl = &mut s.rqs[cpu].dl;
        // The flag says whether the key is there (`check_invariants` holds them together): a
        // task throttled while it ran is dequeued again when it sleeps, with no tree search.
        if se.on_dl_rq && dl.dequeue((se.deadline, se.queue_seq, p)) {
            dl.dl_nr_running -= 1;
            se.on_dl_rq = false;
            dl.dequeue_pushable(p, se);
            Self::update_cpudl(s, cpu);
        }
        Self::update_overload(s, cpu);
    }

    /// Something `Sched::may_be_pushable` looks at changed for queued `p`: put it in or take
    /// it out of the pushable tree.
    pub(crate) fn update_pushable(s: &mut Sched, p: TaskId) {
        let want = s.may_be_pushable(p);
        let t = &mut s.tasks[p.index()];
        if !t.dl.on_dl_rq || t.dl.pushable == want {
            return;
        }
        let dl = &mut s.rqs[t.cpu as usize].dl;
        if want {
            dl.enqueue_pushable(p, &mut t.dl);
        } else {
            dl.dequeue_pushable(p, &mut t.dl);
        }
    }

    /// cpudl records the deadline at the front of `cpu`'s EDF queue.
    fn update_cpudl(s: &mut Sched, cpu: usize) {
        s.cpudl_earliest[cpu] = s.rqs[cpu].dl.earliest().map_or(0, |(d, _)| d);
    }

    fn update_overload(s: &mut Sched, cpu: usize) {
        if s.rqs[cpu].dl.dl_nr_running >= 2 {
            s.dl_overload.set(cpu);
        } else {
            s.dl_overload.clear(cpu);
        }
    }

    /// `replenish_dl_entity()`: postpone the deadline period by period until there is budget.
    fn replenish(s: &mut Sched, p: TaskId) {
        let now = s.now;
        let dl = &mut s.tasks[p.index()].dl;
        if dl.dl_yielded && dl.runtime > 0 {
            dl.runtime = 0;
        }
        while dl.runtime <= 0 {
            dl.deadline += dl.dl_period;
            dl.runtime += dl.dl_runtime as i64;
        }
        if dl.deadline < now {
            dl.new_period(now);
        }
        dl.dl_yielded = false;
        dl.dl_throttled = false;
        Self::trace_replenish(s, p);
    }

    /// Every new budget and deadline is traced, whichever path gave it (the timer, a timer
    /// already due when the budget ran out, a boosted owner, the CBS wakeup rule): a trace
    /// reader follows the budget from these alone.
    fn trace_replenish(s: &mut Sched, p: TaskId) {
        let t = &s.tasks[p.index()];
        let ev = Event::DlReplenish {
            task: p,
            cpu: t.cpu,
            runtime_ns: t.dl.runtime,
            deadline_ns: t.dl.deadline,
        };
        s.emit(ev);
    }

    /// `update_dl_entity()`: the CBS wakeup rule. Keep the current deadline and budget only if
    /// using them would not exceed the reserved bandwidth; otherwise start a new instance (or,
    /// for constrained deadlines still in the future, scale the budget down to the density).
    fn update_dl_entity(s: &mut Sched, p: TaskId) {
        let now = s.now;
        let dl = &mut s.tasks[p.index()].dl;
        if dl.deadline < now || dl.overflows(now) {
            if !dl.is_implicit() && dl.deadline >= now {
                // `update_dl_revised_wakeup()`
                let density = to_ratio(dl.dl_deadline, dl.dl_runtime) as u128;
                let laxity = (dl.deadline - now) as u128;
                dl.runtime = ((density * laxity) >> BW_SHIFT) as i64;
            } else {
                dl.new_period(now);
            }
            Self::trace_replenish(s, p);
        }
    }

    /// Throttle `p` until its next period (`start_dl_timer()`); false when that is already now.
    fn start_dl_timer(s: &mut Sched, cpu: usize, p: TaskId) -> bool {
        let at = s.tasks[p.index()].dl.next_period();
        if at <= s.now {
            return false;
        }
        s.tasks[p.index()].dl.dl_timer_at = Some(at);
        s.request_dl_timer(p, at);
        s.emit(Event::DlThrottle {
            task: p,
            cpu: cpu as u32,
            replenish_at_ns: at,
        });
        true
    }

    /// The replenishment timer of `p` fired at `at` (`dl_task_timer()`).
    pub fn dl_task_timer(s: &mut Sched, p: TaskId, at: u64) {
        let t = &s.tasks[p.index()];
        if t.dl.dl_timer_at != Some(at) || !t.dl.dl_throttled {
            return;
        }
        let (cpu, queued) = (t.cpu as usize, t.on_rq && t.class() == ClassId::Deadline);
        s.tasks[p.index()].dl.dl_timer_at = None;
        if !queued {
            Self::replenish(s, p);
            return;
        }
        s.update_curr(cpu);
        Self::replenish(s, p);
        Self::insert(s, cpu, p);
        // Queued again outside enqueue_task(), which keeps the masks otherwise.
        s.update_cpu_masks(cpu);
        s.check_preempt(cpu, p);
        Self.push_tasks(s, cpu);
    }

    /// `find_later_rq()`: a CPU allowed for `exec` (the task that will actually run) with no
    /// DL work (idle first), else the one whose earliest deadline is the latest, if later than
    /// `p`'s.
    /// Ties go to the first CPU from `p`'s own, wrapping around.
    fn find_later_rq(s: &Sched, p: TaskId, exec: TaskId) -> Option<usize> {
        let t = &s.tasks[p.index()];
        let own = t.cpu as usize;
        let allowed = &s.tasks[exec.index()].cpus_allowed;
        if let Some(c) = s.rq_empty_cpus.first_and_wrap(allowed, own) {
            return Some(c);
        }
        // None of these is empty, or the search above would have found it.
        if let Some(c) = s.dl_free_cpus.first_and_wrap(allowed, own) {
            return Some(c);
        }
        // Every allowed CPU has DL work: the latest earliest deadline, if later than p's
        // (what cpudl's max-heap keeps at hand in Linux).
        if exec_allowed_everywhere(s, exec) {
            latest_earliest(&s.cpudl_earliest, own, t.dl.deadline)
        } else {
            latest_earliest_in(&s.cpudl_earliest, allowed, own, t.dl.deadline)
        }
    }

    /// The earliest-deadline task that could run elsewhere; see `RtSchedClass` for chains.
    fn earliest_pushable(s: &Sched, cpu: usize, dst: Option<usize>) -> Option<TaskId> {
        s.rqs[cpu].dl.pushable().find(|&p| {
            s.push_exec_ctx(cpu, p)
                .is_some_and(|x| dst.is_none_or(|d| s.tasks[x.index()].cpus_allowed.test(d)))
        })
    }

    /// Until when the ticks of DL task `p`, running on `cpu` since `from`, do nothing but
    /// charge it: `update_curr` leaves it alone while its budget stays positive and it is
    /// still the earliest deadline here, and `task_tick` does nothing (see
    /// [`Sched::tick_inert_until`]).
    ///
    /// Never under priority inheritance: a DL task that blocks on a mutex lends the owner it
    /// boosts its budget as last charged (`boost_from`), with no `update_curr()` of its own
    /// CPU first (unless the owner is queued there). That budget is the one its last tick
    /// left, so each tick's charge may be read before the next `update_curr()`.
    pub(crate) fn tick_inert_until(s: &Sched, cpu: usize, p: TaskId, from: u64) -> Option<u64> {
        if s.cfg.inherit == Inherit::Pi {
            return None;
        }
        let dl = &s.tasks[p.index()].dl;
        (s.rqs[cpu].dl.is_leftmost(p) && !dl.dl_throttled && !dl.dl_yielded && dl.runtime > 0)
            .then(|| from + dl.runtime as u64)
    }

    fn push_dl_task(s: &mut Sched, cpu: usize) -> bool {
        match Self::push_decision(s, cpu) {
            Push::Nothing => false,
            Push::Resched => {
                s.resched_curr(cpu);
                false
            }
            Push::Move(next, target) => {
                s.move_pushable(next, cpu, target);
                true
            }
        }
    }

    /// What `push_dl_task()` from `cpu` would do now.
    #[inline(always)]
    fn push_decision(s: &Sched, cpu: usize) -> Push {
        let Some(next) = Self::earliest_pushable(s, cpu, None) else {
            return Push::Nothing;
        };
        // It would preempt what runs here (the idle task included): run it here instead.
        let preempts_here = s.rqs[cpu].donor.is_none_or(|d| {
            let dt = &s.tasks[d.index()];
            dt.class() != ClassId::Deadline || s.tasks[next.index()].dl.deadline < dt.dl.deadline
        });
        if preempts_here {
            return match s.rqs[cpu].donor {
                Some(_) => Push::Resched,
                None => Push::Nothing,
            };
        }
        let exec = s.push_exec_ctx(cpu, next).unwrap_or(next);
        match Self::find_later_rq(s, next, exec) {
            Some(target) if target != cpu => Push::Move(next, target),
            _ => Push::Nothing,
        }
    }

    /// The shortcut [`Self::push_would_fail`] agrees with the full decision on every CPU;
    /// for `check_invariants`.
    pub(crate) fn check_push_shortcut(s: &Sched) -> Result<(), String> {
        for cpu in 0..s.rqs.len() {
            let decision = Self::push_decision(s, cpu);
            if Self::push_would_fail(s, cpu) && decision != Push::Nothing {
                return Err(format!(
                    "cpu{cpu}: the push shortcut says nothing to do, the push would {decision:?}"
                ));
            }
        }
        Ok(())
    }

    /// Would `push_dl_task()` from `cpu` fail now, and reschedule nothing? Yes when no CPU
    /// is free of DL work (an empty one is not either), no task that may move has a deadline
    /// before the donor's (none would preempt here), and no CPU's earliest deadline is later
    /// than the earliest of those tasks (what `cpudl_find()` sees at a glance in Linux). On a
    /// busy machine most pushes end so, after walking the pushable tasks and searching the
    /// CPUs; this answers from a few loads. False may be wrong (the full push then decides),
    /// true never is.
    fn push_would_fail(s: &Sched, cpu: usize) -> bool {
        if !s.dl_free_cpus.is_empty() {
            return false;
        }
        let rq = &s.rqs[cpu];
        let Some(earliest) = rq.dl.pull_bound(rq.curr, rq.donor) else {
            return true;
        };
        // With the CPU idle, a pushable task would run here: no push, no reschedule.
        let Some(d) = rq.donor else {
            return true;
        };
        let donor = &s.tasks[d.index()];
        donor.class() == ClassId::Deadline
            && earliest >= donor.dl.deadline
            && max_of(&s.cpudl_earliest) <= earliest
    }

    fn pull_dl_task(s: &mut Sched, this_cpu: usize) {
        // A task worth pulling is earlier than this CPU's earliest and than the best found
        // so far.
        let mut limit = s.rqs[this_cpu].dl.earliest().map_or(u64::MAX, |(d, _)| d);
        let mut best: Option<(usize, TaskId)> = None;
        s.dl_overload.for_each(|src| {
            if src == this_cpu {
                return;
            }
            // Nothing a pull could take there is under the limit: skip the walk.
            let rq = &s.rqs[src];
            if rq
                .dl
                .pull_bound(rq.curr, rq.donor)
                .is_none_or(|e| e >= limit)
            {
                return;
            }
            let Some(p) = Self::earliest_pushable(s, src, Some(this_cpu)) else {
                return;
            };
            let d = s.tasks[p.index()].dl.deadline;
            if d >= limit {
                return;
            }
            // Earlier than what runs there: its own CPU will run it next.
            if let Some(sd) = rq.donor {
                let st = &s.tasks[sd.index()];
                if st.class() == ClassId::Deadline && d < st.dl.deadline {
                    return;
                }
            }
            best = Some((src, p));
            limit = d;
        });
        if let Some((src, p)) = best {
            s.move_pushable(p, src, this_cpu);
        }
    }
}

impl SchedClass for DlSchedClass {
    fn enqueue_task(&self, s: &mut Sched, cpu: usize, p: TaskId, flags: u32) {
        let now = s.now;
        if flags & ENQUEUE_INITIAL != 0 {
            // `setup_new_dl_entity()`
            s.tasks[p.index()].dl.new_period(now);
        }
        let dl = &s.tasks[p.index()].dl;
        // `dl_check_constrained_dl()`: a constrained task woken after its deadline but before
        // its next period waits for that period.
        if flags & ENQUEUE_WAKEUP != 0
            && !dl.dl_throttled
            && !dl.is_implicit()
            && dl.deadline < now
            && now < dl.next_period()
        {
            s.tasks[p.index()].dl.dl_throttled = true;
            if Self::start_dl_timer(s, cpu, p) {
                return;
            }
            s.tasks[p.index()].dl.dl_throttled = false;
        }
        if s.tasks[p.index()].dl.dl_throttled && flags & ENQUEUE_REPLENISH == 0 {
            return;
        }
        if flags & ENQUEUE_WAKEUP != 0 {
            Self::update_dl_entity(s, p);
        } else if flags & ENQUEUE_REPLENISH != 0 {
            Self::replenish(s, p);
        } else if flags & ENQUEUE_RESTORE != 0 && s.tasks[p.index()].dl.deadline < now {
            s.tasks[p.index()].dl.new_period(now);
            Self::trace_replenish(s, p);
        }
        Self::insert(s, cpu, p);
    }

    fn dequeue_task(&self, s: &mut Sched, cpu: usize, p: TaskId, _flags: u32) {
        Self::remove(s, cpu, p);
    }

    fn yield_task(&self, s: &mut Sched, cpu: usize) {
        // The rest of this instance's budget is given up; the task waits for its next period.
        if let Some(p) = s.rqs[cpu].donor {
            s.tasks[p.index()].dl.dl_yielded = true;
            s.update_curr(cpu);
        }
    }

    fn wakeup_preempt(&self, s: &mut Sched, cpu: usize, p: TaskId) {
        if let Some(d) = s.rqs[cpu].donor {
            if s.tasks[p.index()].dl.deadline < s.tasks[d.index()].dl.deadline {
                s.resched_curr(cpu);
            }
        }
    }

    fn pick_task(&self, s: &mut Sched, cpu: usize) -> Option<TaskId> {
        s.rqs[cpu].dl.earliest().map(|(_, p)| p)
    }

    fn put_prev_task(&self, _s: &mut Sched, _cpu: usize, _p: TaskId) {}

    fn set_next_task(&self, _s: &mut Sched, _cpu: usize, _p: TaskId) {}

    fn update_curr(&self, s: &mut Sched, cpu: usize, p: TaskId, delta_ns: u64) {
        RtSchedClass::account_rt_time(s, cpu, delta_ns);
        let dl = &mut s.tasks[p.index()].dl;
        if dl.dl_throttled {
            return;
        }
        dl.runtime -= delta_ns as i64;
        if dl.runtime > 0 && !dl.dl_yielded {
            if !s.rqs[cpu].dl.is_leftmost(p) {
                s.resched_curr(cpu);
            }
            return;
        }
        if dl.dl_yielded && dl.runtime > 0 {
            dl.runtime = 0;
        }
        if dl.is_boosted() {
            // A boosted owner is never throttled: it gets the next budget at once.
            Self::remove(s, cpu, p);
            Self::replenish(s, p);
            Self::insert(s, cpu, p);
            s.resched_curr(cpu);
            return;
        }
        dl.dl_throttled = true;
        Self::remove(s, cpu, p);
        if !Self::start_dl_timer(s, cpu, p) {
            Self::replenish(s, p);
            Self::insert(s, cpu, p);
        }
        // Off the queue outside dequeue_task(), which keeps the masks otherwise. (The boosted
        // requeue above leaves the counts, and so the masks, as they were.)
        s.update_cpu_masks(cpu);
        s.resched_curr(cpu);
    }

    fn task_tick(&self, _s: &mut Sched, _cpu: usize, _p: TaskId) {}

    fn select_task_rq(&self, s: &Sched, p: TaskId, prev_cpu: usize, _fork: bool) -> usize {
        let t = &s.tasks[p.index()];
        let target = if t.cpus_allowed.test(prev_cpu) {
            prev_cpu
        } else {
            t.cpus_allowed.first().unwrap_or(prev_cpu)
        };
        let rq = &s.rqs[target];
        let busy_with_dl = rq.donor.is_some_and(|d| {
            let dt = &s.tasks[d.index()];
            dt.class() == ClassId::Deadline
                && (dt.nr_cpus_allowed < 2 || dt.dl.deadline <= t.dl.deadline)
        });
        if busy_with_dl && t.nr_cpus_allowed > 1 {
            if let Some(later) = Self::find_later_rq(s, p, p) {
                return later;
            }
        }
        target
    }

    fn balance(&self, s: &mut Sched, cpu: usize, prev: TaskId) -> bool {
        // `need_pull_dl_task()`: only a prev that left the EDF queue (it slept, blocked or
        // was throttled) can leave room for an earlier deadline from elsewhere. A prev that
        // was preempted is still queued, behind the task that preempted it. (The core
        // balances the DL class only for a DL prev.) With no CPU overloaded there is
        // nothing to pull: this runs at every reschedule, so the call is skipped.
        if !s.tasks[prev.index()].dl.on_dl_rq && !s.dl_overload.is_empty() {
            Self::pull_dl_task(s, cpu);
        }
        s.rqs[cpu].dl.dl_nr_running > 0
    }

    fn switched_from(&self, s: &mut Sched, cpu: usize, _p: TaskId) {
        // `switched_from_dl()`: the last DL task of this CPU left the class.
        if s.rqs[cpu].dl.dl_nr_running == 0 {
            Self::pull_dl_task(s, cpu);
        }
    }

    fn prio_changed(&self, s: &mut Sched, cpu: usize, _p: TaskId, _old_prio: i32) {
        // `prio_changed_dl()`: the old deadline is gone, so whether it rose or fell is not
        // known; a CPU with no DL task to spare pulls.
        if !s.dl_overload.test(cpu) {
            Self::pull_dl_task(s, cpu);
        }
    }

    fn push_tasks(&self, s: &mut Sched, cpu: usize) {
        if s.rqs[cpu].dl.dl_nr_running < 2 || Self::push_would_fail(s, cpu) {
            return;
        }
        for _ in 0..s.rqs[cpu].dl.dl_nr_running {
            if !Self::push_dl_task(s, cpu) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_of_finds_the_maximum_in_every_lane_and_in_the_remainder() {
        assert_eq!(max_of(&[]), 0);
        for len in 1..=11 {
            for at in 0..len {
                let mut v: Vec<u64> = (0..len as u64).map(|i| 10 + i % 3).collect();
                v[at] = 99;
                assert_eq!(max_of(&v), 99, "len {len}, maximum at {at}");
            }
        }
    }

    /// The two-pass search over every CPU answers what the wrapped walk over the CPUs (the
    /// definition, as `for_each_cpu_wrap()` visits them) answers, ties included.
    #[test]
    fn latest_earliest_is_the_first_latest_cpu_of_the_wrapped_walk() {
        let walk = |e: &[u64], allowed: &CpuMask, own: usize, after: u64| {
            let mut best: Option<(u64, usize)> = None;
            for c in allowed.iter_wrap(own) {
                if e[c] > after && best.is_none_or(|(bd, _)| e[c] > bd) {
                    best = Some((e[c], c));
                }
            }
            best.map(|(_, c)| c)
        };
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for n in [1usize, 2, 3, 5, 8, 64, 65, 130] {
            let all = CpuMask::first_n(n);
            let odd = CpuMask::from_cpus((0..n).filter(|c| c % 2 == 1));
            for round in 0..40 {
                // Few distinct values, so ties are common.
                let e: Vec<u64> = (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x % 4 * 10
                    })
                    .collect();
                let own = round % n;
                for after in [0, 5, 10, 25, 30] {
                    let want = walk(&e, &all, own, after);
                    assert_eq!(latest_earliest(&e, own, after), want, "{e:?} {own} {after}");
                    assert_eq!(latest_earliest_in(&e, &all, own, after), want);
                    let want_odd = walk(&e, &odd, own, after);
                    assert_eq!(latest_earliest_in(&e, &odd, own, after), want_odd);
                }
            }
        }
    }
}
