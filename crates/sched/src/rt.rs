//! SCHED_FIFO/SCHED_RR as in Linux 6.12 (`kernel/sched/rt.c`), without group scheduling.
//!
//! One FIFO list per priority and a bitmap of non-empty lists; the running task stays at the
//! head of its list, so a preempted FIFO task resumes before its peers. Push/pull keeps the
//! highest-priority runnable RT tasks running across CPUs; `sched_rt_runtime_us` throttling
//! bounds RT (and DL) time per CPU per period.

use crate::attr::{ClassId, Policy, MAX_RT_PRIO};
use crate::class::SchedClass;
use crate::core::Sched;
use crate::prio_array::{List, PrioArray, RtNodes};
use crate::task::{Task, TaskId};
use proxysched_trace::Event;

/// `sched_rr_timeslice`: 100 ms, in ticks of the configured HZ.
pub fn rr_timeslice_ticks(hz: u32) -> u32 {
    (hz / 10).max(1)
}

/// Per-task RT state (`sched_rt_entity`); its list links are in [`RtNodes`].
#[derive(Clone, Debug, Default)]
pub struct SchedRtEntity {
    /// Ticks left in the current SCHED_RR slice.
    pub time_slice: u32,
}

/// `rt_rq`: the RT runqueue of one CPU.
#[derive(Debug)]
pub struct RtRq {
    active: PrioArray,
    /// `pushable_tasks`: the queued tasks that might run elsewhere (see
    /// `Sched::may_be_pushable`), by prio and, within a prio, in run-list order, so that the
    /// first one push/pull accepts is the one a walk of every queued task would accept. Like
    /// the kernel's plist, but ordered as the run lists are.
    pushable_tasks: PrioArray,
    pub rt_nr_running: u32,
    /// RT and DL execution time charged in the current throttling period.
    pub rt_time: u64,
    pub rt_throttled: bool,
}

impl Default for RtRq {
    fn default() -> Self {
        RtRq {
            active: PrioArray::new(List::Run),
            pushable_tasks: PrioArray::new(List::Pushable),
            rt_nr_running: 0,
            rt_time: 0,
            rt_throttled: false,
        }
    }
}

impl RtRq {
    /// `rt_rq->highest_prio.curr`: the best prio queued here, running task included.
    #[inline]
    pub fn highest_prio(&self) -> Option<i32> {
        self.active.first_prio()
    }

    /// Put `p` at the tail of its priority's list, and on the pushable list if `pushable`.
    fn push_back(&mut self, nodes: &mut RtNodes, prio: i32, p: TaskId, pushable: bool) {
        self.active.push_back(nodes, prio, p);
        if pushable {
            // The newest in its list: the tail of its pushable list too.
            self.pushable_tasks.push_back(nodes, prio, p);
        }
    }

    fn remove(&mut self, nodes: &mut RtNodes, prio: i32, p: TaskId) {
        self.active.remove(nodes, prio, p);
        self.dequeue_pushable(nodes, prio, p);
    }

    /// `enqueue_pushable_task()` for a task already on its run list: after the nearest
    /// pushable task before it in the run list.
    fn enqueue_pushable(&mut self, nodes: &mut RtNodes, prio: i32, p: TaskId) {
        debug_assert!(nodes.on_list(p) && !nodes.pushable(p));
        let mut before = self.active.prev(nodes, p);
        while let Some(b) = before.filter(|&b| !nodes.pushable(b)) {
            before = self.active.prev(nodes, b);
        }
        self.pushable_tasks.insert_after(nodes, prio, before, p);
    }

    /// `dequeue_pushable_task()`; nothing if it is not on the list.
    fn dequeue_pushable(&mut self, nodes: &mut RtNodes, prio: i32, p: TaskId) {
        if nodes.pushable(p) {
            self.pushable_tasks.remove(nodes, prio, p);
        }
    }

    /// The pushable list, best prio first, in run-list order within a prio.
    pub fn pushable<'a>(&'a self, nodes: &'a RtNodes) -> impl Iterator<Item = TaskId> + 'a {
        self.pushable_tasks.iter(nodes)
    }

    /// Queued tasks, highest priority first, FIFO within a priority.
    pub fn queued<'a>(&'a self, nodes: &'a RtNodes) -> impl Iterator<Item = TaskId> + 'a {
        self.active.iter(nodes)
    }
}

pub struct RtSchedClass;

impl RtSchedClass {
    /// The best task that could run elsewhere (`pick_highest_pushable_task()`): queued, not
    /// running, free to move (on `dst` if given). Under full proxy execution a blocked task
    /// qualifies with its whole chain; its owner's affinity then decides where it may go.
    fn highest_pushable(s: &Sched, cpu: usize, dst: Option<usize>) -> Option<TaskId> {
        s.rqs[cpu].rt.pushable(&s.rt_nodes).find(|&p| {
            s.push_exec_ctx(cpu, p)
                .is_some_and(|x| dst.is_none_or(|d| s.tasks[x.index()].cpus_allowed.test(d)))
        })
    }

    /// `cpupri`: how low the priority of what `cpu` runs is, higher meaning a better target.
    /// Idle beats fair beats RT (the lower the RT prio the better); a CPU with DL work or a
    /// throttled RT runqueue is never a target.
    pub(crate) fn cpupri(s: &Sched, cpu: usize) -> i32 {
        let rq = &s.rqs[cpu];
        if rq.dl.dl_nr_running > 0 || rq.rt.rt_throttled {
            return -1;
        }
        match rq.rt.highest_prio() {
            Some(prio) => prio,
            None if rq.curr.is_none() && rq.nr_running() == 0 => MAX_RT_PRIO + 1,
            None => MAX_RT_PRIO,
        }
    }

    /// `find_lowest_rq()`: a CPU allowed for `exec` (the task that will actually run: `p`, or
    /// the owner at the end of its chain) running the lowest-priority work, if `p` would be
    /// the highest there. Ties prefer the task's own CPU, then the lowest CPU id.
    pub fn find_lowest_rq(s: &Sched, p: TaskId, exec: TaskId) -> Option<usize> {
        let t = &s.tasks[p.index()];
        s.cpupri
            .find(&s.tasks[exec.index()].cpus_allowed, t.prio, t.cpu as usize)
    }

    /// `push_rt_task()`: move the best waiting task to a CPU where it would run now.
    fn push_rt_task(s: &mut Sched, cpu: usize) -> bool {
        let Some(next) = Self::highest_pushable(s, cpu, None) else {
            return false;
        };
        let next_prio = s.tasks[next.index()].prio;
        // It would preempt what runs here (the idle task included): run it here instead,
        // unless RT is throttled here.
        let here = s.rqs[cpu]
            .donor
            .map_or(i32::MAX, |d| s.tasks[d.index()].prio);
        if next_prio < here && !s.rqs[cpu].rt.rt_throttled {
            // An idle CPU was already told when the task was queued, or idles on purpose
            // (waiting for a wakeup in flight, `owner_is_self`).
            if s.rqs[cpu].donor.is_some() {
                s.resched_curr(cpu);
            }
            return false;
        }
        let exec = s.push_exec_ctx(cpu, next).unwrap_or(next);
        let Some(target) = Self::find_lowest_rq(s, next, exec) else {
            return false;
        };
        if target == cpu {
            return false;
        }
        s.move_pushable(next, cpu, target);
        true
    }

    /// `pull_rt_task()`: bring the best waiting RT task of an overloaded CPU here, if it beats
    /// what this CPU has queued.
    fn pull_rt_task(s: &mut Sched, this_cpu: usize) {
        let this_highest = s.rqs[this_cpu].rt.highest_prio().unwrap_or(MAX_RT_PRIO);
        let mut best: Option<(i32, usize, TaskId)> = None;
        for src in s.rt_overload.iter() {
            if src == this_cpu {
                continue;
            }
            // Nothing queued there beats what this CPU has, or the best found so far: skip the
            // walk (no candidate of `src` could pass the tests below).
            let bound = best.map_or(this_highest, |(bp, _, _)| bp.min(this_highest));
            if s.rqs[src].rt.highest_prio().is_none_or(|h| h >= bound) {
                continue;
            }
            let Some(p) = Self::highest_pushable(s, src, Some(this_cpu)) else {
                continue;
            };
            let prio = s.tasks[p.index()].prio;
            if prio >= this_highest {
                continue;
            }
            // It would preempt its own CPU's task: it will run there soon, leave it.
            if let Some(d) = s.rqs[src].donor {
                if prio < s.tasks[d.index()].prio {
                    continue;
                }
            }
            if best.is_none_or(|(bp, _, _)| prio < bp) {
                best = Some((prio, src, p));
            }
        }
        if let Some((_, src, p)) = best {
            s.move_pushable(p, src, this_cpu);
        }
    }

    /// `requeue_task_rt()`: to the tail of its priority's list.
    fn requeue_task(s: &mut Sched, cpu: usize, p: TaskId) {
        let (prio, nodes) = (s.tasks[p.index()].prio, &mut s.rt_nodes);
        let pushable = nodes.pushable(p);
        let rt = &mut s.rqs[cpu].rt;
        rt.remove(nodes, prio, p);
        rt.push_back(nodes, prio, p, pushable);
    }

    /// Something `Sched::may_be_pushable` looks at changed for queued `p`: put it on or take
    /// it off the pushable list.
    pub(crate) fn update_pushable(s: &mut Sched, p: TaskId) {
        let want = s.may_be_pushable(p);
        let nodes = &mut s.rt_nodes;
        if !nodes.on_list(p) || nodes.pushable(p) == want {
            return;
        }
        let t = &s.tasks[p.index()];
        let rt = &mut s.rqs[t.cpu as usize].rt;
        if want {
            rt.enqueue_pushable(nodes, t.prio, p);
        } else {
            rt.dequeue_pushable(nodes, t.prio, p);
        }
    }

    fn update_overload(s: &mut Sched, cpu: usize) {
        if s.rqs[cpu].rt.rt_nr_running >= 2 {
            s.rt_overload.set(cpu);
        } else {
            s.rt_overload.clear(cpu);
        }
    }

    /// Charge RT bandwidth (`sched_rt_runtime_exceeded()`); DL time is charged here too, as in
    /// Linux.
    pub fn account_rt_time(s: &mut Sched, cpu: usize, delta_ns: u64) {
        let Some(runtime) = s.cfg.rt_runtime_ns() else {
            return;
        };
        let rt = &mut s.rqs[cpu].rt;
        rt.rt_time += delta_ns;
        if !rt.rt_throttled && rt.rt_time > runtime {
            rt.rt_throttled = true;
            s.update_cpu_masks(cpu);
            s.emit(Event::RtThrottle { cpu: cpu as u32 });
            s.resched_curr(cpu);
        }
        s.arm_rt_period_timer();
    }

    /// Until when charging `cpu`, running since `from`, leaves RT throttling as it is
    /// (`account_rt_time()` throttles once the RT time exceeds the runtime); `None` if the
    /// next charge arms the period timer.
    pub(crate) fn rt_time_inert_until(s: &Sched, cpu: usize, from: u64) -> Option<u64> {
        let Some(runtime) = s.cfg.rt_runtime_ns() else {
            return Some(u64::MAX);
        };
        if !s.rt_period_timer_armed {
            return None;
        }
        let rt = &s.rqs[cpu].rt;
        if rt.rt_throttled {
            return Some(u64::MAX);
        }
        Some(from + runtime.saturating_sub(rt.rt_time) + 1)
    }

    /// Until when the ticks of RT task `p` do nothing but charge it: always, except for a
    /// round-robin task, whose slice each tick counts down (see [`Sched::tick_inert_until`]).
    pub(crate) fn tick_inert_until(s: &Sched, p: TaskId) -> Option<u64> {
        (!Self::has_rr_slice(&s.tasks[p.index()])).then_some(u64::MAX)
    }

    /// Does the tick count `t`'s round-robin slice down (`task_tick_rt()`)? A task boosted
    /// into the class keeps no slice of its own.
    #[inline]
    fn has_rr_slice(t: &Task) -> bool {
        t.attr.policy() == Policy::RoundRobin && t.class() == ClassId::Rt
    }
}

impl SchedClass for RtSchedClass {
    fn enqueue_task(&self, s: &mut Sched, cpu: usize, p: TaskId, _flags: u32) {
        let pushable = s.may_be_pushable(p);
        let prio = s.tasks[p.index()].prio;
        let rq = &mut s.rqs[cpu];
        rq.rt.push_back(&mut s.rt_nodes, prio, p, pushable);
        rq.rt.rt_nr_running += 1;
        Self::update_overload(s, cpu);
        if s.cfg.rt_throttling {
            s.arm_rt_period_timer();
        }
    }

    fn dequeue_task(&self, s: &mut Sched, cpu: usize, p: TaskId, _flags: u32) {
        let prio = s.tasks[p.index()].prio;
        let rq = &mut s.rqs[cpu];
        rq.rt.remove(&mut s.rt_nodes, prio, p);
        rq.rt.rt_nr_running -= 1;
        Self::update_overload(s, cpu);
    }

    fn yield_task(&self, s: &mut Sched, cpu: usize) {
        if let Some(p) = s.rqs[cpu].donor {
            Self::requeue_task(s, cpu, p);
        }
    }

    fn wakeup_preempt(&self, s: &mut Sched, cpu: usize, p: TaskId) {
        if let Some(donor) = s.rqs[cpu].donor {
            if s.tasks[p.index()].prio < s.tasks[donor.index()].prio {
                s.resched_curr(cpu);
            }
        }
    }

    fn pick_task(&self, s: &mut Sched, cpu: usize) -> Option<TaskId> {
        let rt = &s.rqs[cpu].rt;
        if rt.rt_throttled {
            return None;
        }
        let prio = rt.highest_prio()?;
        rt.active.front(prio)
    }

    fn put_prev_task(&self, _s: &mut Sched, _cpu: usize, _p: TaskId) {}

    fn set_next_task(&self, _s: &mut Sched, _cpu: usize, _p: TaskId) {}

    fn update_curr(&self, s: &mut Sched, cpu: usize, _p: TaskId, delta_ns: u64) {
        Self::account_rt_time(s, cpu, delta_ns);
    }

    fn task_tick(&self, s: &mut Sched, cpu: usize, p: TaskId) {
        let t = &mut s.tasks[p.index()];
        if !Self::has_rr_slice(t) {
            return;
        }
        t.rt.time_slice = t.rt.time_slice.saturating_sub(1);
        if t.rt.time_slice > 0 {
            return;
        }
        t.rt.time_slice = rr_timeslice_ticks(s.cfg.hz);
        // Requeue to the tail only if someone else waits at this priority.
        if s.rqs[cpu].rt.active.has_several(t.prio) {
            Self::requeue_task(s, cpu, p);
            s.resched_curr(cpu);
        }
    }

    fn select_task_rq(&self, s: &Sched, p: TaskId, prev_cpu: usize, _fork: bool) -> usize {
        let t = &s.tasks[p.index()];
        let target = if t.cpus_allowed.test(prev_cpu) {
            prev_cpu
        } else {
            t.cpus_allowed.first().unwrap_or(prev_cpu)
        };
        // Stay unless the task could not run there now: then look for the lowest-priority CPU.
        let rq = &s.rqs[target];
        let blocked_by_curr = match rq.donor {
            Some(d) => {
                let dt = &s.tasks[d.index()];
                dt.class() == ClassId::Deadline
                    || (dt.class() == ClassId::Rt && (dt.prio <= t.prio || dt.nr_cpus_allowed < 2))
            }
            None => false,
        } || rq.rt.rt_throttled;
        if blocked_by_curr && t.nr_cpus_allowed > 1 {
            if let Some(lowest) = Self::find_lowest_rq(s, p, p) {
                if Self::cpupri(s, lowest) > t.prio {
                    return lowest;
                }
            }
        }
        target
    }

    fn balance(&self, s: &mut Sched, cpu: usize, prev: TaskId) -> bool {
        // `need_pull_rt_task()`: pull only if prev left the RT lists and this CPU's best RT
        // prio is now below prev's (a DL prev counts as above every RT prio).
        let prev_prio = s.tasks[prev.index()].prio;
        let lowered = s.rqs[cpu].rt.highest_prio().unwrap_or(MAX_RT_PRIO) > prev_prio;
        // With no CPU overloaded the call is skipped, as for DL.
        if !s.rt_nodes.on_list(prev) && lowered && !s.rt_overload.is_empty() {
            Self::pull_rt_task(s, cpu);
        }
        s.rqs[cpu].dl.dl_nr_running > 0
            || (s.rqs[cpu].rt.rt_nr_running > 0 && !s.rqs[cpu].rt.rt_throttled)
    }

    fn switched_from(&self, s: &mut Sched, cpu: usize, _p: TaskId) {
        // `switched_from_rt()`: the last RT task of this CPU left the class.
        if s.rqs[cpu].rt.rt_nr_running == 0 {
            Self::pull_rt_task(s, cpu);
        }
    }

    fn prio_changed(&self, s: &mut Sched, cpu: usize, p: TaskId, old_prio: i32) {
        // `prio_changed_rt()`: the running task lowered its prio; another CPU's waiting task
        // may now beat it.
        let lowered = old_prio < s.tasks[p.index()].prio;
        if lowered && s.rqs[cpu].donor == Some(p) {
            Self::pull_rt_task(s, cpu);
        }
    }

    fn push_tasks(&self, s: &mut Sched, cpu: usize) {
        if s.rqs[cpu].rt.rt_nr_running < 2 {
            return;
        }
        // Each push moves at least one task off this CPU.
        for _ in 0..s.rqs[cpu].rt.rt_nr_running {
            if !Self::push_rt_task(s, cpu) {
                break;
            }
        }
    }
}
