//! SCHED_FIFO/SCHED_RR as in Linux 6.12 (`kernel/sched/rt.c`), without group scheduling.
//!
//! One FIFO list per priority and a bitmap of non-empty lists; the running task stays at the
//! head of its list, so a preempted FIFO task resumes before its peers. Push/pull keeps the
//! highest-priority runnable RT tasks running across CPUs; `sched_rt_runtime_us` throttling
//! bounds RT (and DL) time per CPU per period.

use std::collections::VecDeque;

use crate::attr::{ClassId, Policy, MAX_RT_PRIO};
use crate::class::SchedClass;
use crate::core::Sched;
use crate::task::TaskId;
use proxysched_trace::Event;

/// `sched_rr_timeslice`: 100 ms, in ticks of the configured HZ.
pub fn rr_timeslice_ticks(hz: u32) -> u32 {
    (hz / 10).max(1)
}

/// Per-task RT state (`sched_rt_entity`).
#[derive(Clone, Debug, Default)]
pub struct SchedRtEntity {
    /// Ticks left in the current SCHED_RR slice.
    pub time_slice: u32,
}

/// `rt_rq`: the RT runqueue of one CPU.
#[derive(Debug)]
pub struct RtRq {
    queues: Vec<VecDeque<TaskId>>,
    bitmap: [u64; 2],
    pub rt_nr_running: u32,
    /// RT and DL execution time charged in the current throttling period.
    pub rt_time: u64,
    pub rt_throttled: bool,
}

impl Default for RtRq {
    fn default() -> Self {
        RtRq {
            queues: vec![VecDeque::new(); MAX_RT_PRIO as usize],
            bitmap: [0; 2],
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
        if self.bitmap[0] != 0 {
            Some(self.bitmap[0].trailing_zeros() as i32)
        } else if self.bitmap[1] != 0 {
            Some(64 + self.bitmap[1].trailing_zeros() as i32)
        } else {
            None
        }
    }

    fn push_back(&mut self, prio: i32, p: TaskId) {
        let i = prio as usize;
        self.queues[i].push_back(p);
        self.bitmap[i / 64] |= 1 << (i % 64);
    }

    fn remove(&mut self, prio: i32, p: TaskId) {
        let i = prio as usize;
        let q = &mut self.queues[i];
        let pos = q.iter().position(|&t| t == p);
        debug_assert!(pos.is_some(), "dequeue of an RT task not on its list");
        if let Some(pos) = pos {
            q.remove(pos);
        }
        if q.is_empty() {
            self.bitmap[i / 64] &= !(1 << (i % 64));
        }
    }

    /// Queued tasks, highest priority first, FIFO within a priority. Walks the non-empty
    /// lists only (the bitmap), not all 100.
    pub fn queued(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.bitmap
            .iter()
            .enumerate()
            .flat_map(|(wi, &word)| {
                let mut w = word;
                std::iter::from_fn(move || {
                    if w == 0 {
                        return None;
                    }
                    let b = w.trailing_zeros() as usize;
                    w &= w - 1;
                    Some(wi * 64 + b)
                })
            })
            .flat_map(|prio| self.queues[prio].iter().copied())
    }
}

pub struct RtSchedClass;

impl RtSchedClass {
    /// The best task that could run elsewhere (`pick_highest_pushable_task()`): queued, not
    /// running, free to move (on `dst` if given). Under full proxy execution a blocked task
    /// qualifies with its whole chain; its owner's affinity then decides where it may go.
    fn highest_pushable(s: &Sched, cpu: usize, dst: Option<usize>) -> Option<TaskId> {
        s.rqs[cpu].rt.queued().find(|&p| {
            s.push_exec_ctx(cpu, p)
                .is_some_and(|x| dst.is_none_or(|d| s.tasks[x.index()].cpus_allowed.test(d)))
        })
    }

    /// `cpupri`: how low the priority of what `cpu` runs is, higher meaning a better target.
    /// Idle beats fair beats RT (the lower the RT prio the better); a CPU with DL work or a
    /// throttled RT runqueue is never a target.
    fn cpupri(s: &Sched, cpu: usize) -> i32 {
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
        let own = t.cpu as usize;
        let mut best: Option<(i32, usize)> = None;
        for c in s.tasks[exec.index()].cpus_allowed.iter_wrap(own) {
            if c >= s.rqs.len() {
                break;
            }
            let pri = Self::cpupri(s, c);
            if pri <= t.prio {
                continue;
            }
            if best.is_none_or(|(bp, _)| pri > bp) {
                best = Some((pri, c));
            }
        }
        best.map(|(_, c)| c)
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
            s.emit(Event::RtThrottle { cpu: cpu as u32 });
            s.resched_curr(cpu);
        }
        s.arm_rt_period_timer();
    }
}

impl SchedClass for RtSchedClass {
    fn enqueue_task(&self, s: &mut Sched, cpu: usize, p: TaskId, _flags: u32) {
        let prio = s.tasks[p.index()].prio;
        let rq = &mut s.rqs[cpu];
        rq.rt.push_back(prio, p);
        rq.rt.rt_nr_running += 1;
        Self::update_overload(s, cpu);
        if s.cfg.rt_throttling {
            s.arm_rt_period_timer();
        }
    }

    fn dequeue_task(&self, s: &mut Sched, cpu: usize, p: TaskId, _flags: u32) {
        let prio = s.tasks[p.index()].prio;
        let rq = &mut s.rqs[cpu];
        rq.rt.remove(prio, p);
        rq.rt.rt_nr_running -= 1;
        Self::update_overload(s, cpu);
    }

    fn yield_task(&self, s: &mut Sched, cpu: usize) {
        if let Some(p) = s.rqs[cpu].donor {
            let prio = s.tasks[p.index()].prio;
            let rt = &mut s.rqs[cpu].rt;
            rt.remove(prio, p);
            rt.push_back(prio, p);
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
        rt.queues[prio as usize].front().copied()
    }

    fn put_prev_task(&self, _s: &mut Sched, _cpu: usize, _p: TaskId) {}

    fn set_next_task(&self, _s: &mut Sched, _cpu: usize, _p: TaskId) {}

    fn update_curr(&self, s: &mut Sched, cpu: usize, _p: TaskId, delta_ns: u64) {
        Self::account_rt_time(s, cpu, delta_ns);
    }

    fn task_tick(&self, s: &mut Sched, cpu: usize, p: TaskId) {
        let t = &mut s.tasks[p.index()];
        if t.attr.policy() != Policy::RoundRobin || t.class() != ClassId::Rt {
            return;
        }
        t.rt.time_slice = t.rt.time_slice.saturating_sub(1);
        if t.rt.time_slice > 0 {
            return;
        }
        t.rt.time_slice = rr_timeslice_ticks(s.cfg.hz);
        let prio = t.prio;
        let rt = &mut s.rqs[cpu].rt;
        // Requeue to the tail only if someone else waits at this priority.
        if rt.queues[prio as usize].len() > 1 {
            rt.remove(prio, p);
            rt.push_back(prio, p);
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

    fn balance(&self, s: &mut Sched, cpu: usize) -> bool {
        if !s.rt_overload.is_empty() {
            Self::pull_rt_task(s, cpu);
        }
        s.rqs[cpu].dl.dl_nr_running > 0
            || (s.rqs[cpu].rt.rt_nr_running > 0 && !s.rqs[cpu].rt.rt_throttled)
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
