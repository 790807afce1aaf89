//! SCHED_NORMAL/BATCH/IDLE: EEVDF as in Linux 6.12 (`kernel/sched/fair.c`), without group
//! scheduling and with `DELAY_DEQUEUE` off.
//!
//! Each runqueue keeps the weighted average vruntime `V` of its queued entities (the running
//! one included). An entity is eligible when its vruntime is not ahead of `V` (non-negative
//! lag); among eligible entities the one with the earliest virtual deadline runs. A sleeping
//! task keeps its lag and gets it back when it is placed again. The running entity keeps the CPU
//! until its slice is used up (`RUN_TO_PARITY`), and a slice end is noticed at the tick (no
//! `HRTICK`), as in Linux by default.

use crate::attr::{fair_weight, Policy, SchedAttr, NICE_0_LOAD};
use crate::class::{SchedClass, ENQUEUE_INITIAL};
use crate::core::Sched;
use crate::task::TaskId;
use crate::timeline::Timeline;

/// `sched_entity`: per-task EEVDF state.
#[derive(Clone, Debug, Default)]
pub struct SchedEntity {
    pub weight: u64,
    pub vruntime: i64,
    pub deadline: i64,
    /// Lag saved at dequeue, given back by `place_entity()`.
    pub vlag: i64,
    /// Request size in real time.
    pub slice: u64,
    pub custom_slice: bool,
    /// `RUN_TO_PARITY`: set when the entity is picked, cleared once its slice is used up or a
    /// shorter-slice task preempts it (Linux encodes this as `vlag == deadline`).
    pub protect_slice: bool,
    /// When the entity was last picked; the load balancer moves the least recently run first.
    pub last_picked_ns: u64,
}

/// `cfs_rq`: the fair runqueue of one CPU.
#[derive(Debug, Default)]
pub struct CfsRq {
    /// Queued entities other than the running one, by (virtual deadline, task), with their
    /// vruntime (which cannot change while they wait).
    pub(crate) timeline: Timeline,
    /// The entity that runs (was picked) here; counted in the sums while it is queued.
    pub curr: Option<TaskId>,
    curr_on_rq: bool,
    /// Σ w·v and Σ w over every queued entity, the running one included: `V` = Σw·v / Σw.
    sum_w_vruntime: i128,
    sum_weight: u64,
    /// `V` of the last moment the runqueue had entities, where a task placed into an empty
    /// runqueue starts.
    zero_vruntime: i64,
    /// Fair tasks queued here, the running one included (`h_nr_queued`).
    pub nr_queued: u32,
}

impl CfsRq {
    /// `avg_vruntime()`: the weighted average vruntime `V`, rounded down.
    pub fn avg_vruntime(&self) -> i64 {
        if self.sum_weight == 0 {
            self.zero_vruntime
        } else {
            self.sum_w_vruntime.div_euclid(self.sum_weight as i128) as i64
        }
    }

    /// `entity_eligible()`: lag >= 0, i.e. v <= V, tested without the division.
    #[inline]
    fn eligible(&self, vruntime: i64) -> bool {
        self.sum_weight == 0 || self.sum_w_vruntime >= vruntime as i128 * self.sum_weight as i128
    }

    fn account_add(&mut self, weight: u64, vruntime: i64) {
        self.sum_w_vruntime += weight as i128 * vruntime as i128;
        self.sum_weight += weight;
    }

    fn account_sub(&mut self, weight: u64, vruntime: i64) {
        self.sum_w_vruntime -= weight as i128 * vruntime as i128;
        self.sum_weight -= weight;
        if self.sum_weight == 0 {
            debug_assert_eq!(self.sum_w_vruntime, 0);
        }
    }

    /// Σ weights of queued entities (`cfs_rq->avg_load`, unscaled).
    pub fn load(&self) -> u64 {
        self.sum_weight
    }
}

/// `calc_delta_fair()`: real time to virtual time for this weight.
#[inline]
pub fn calc_delta_fair(delta_ns: u64, weight: u64) -> i64 {
    if weight == NICE_0_LOAD {
        delta_ns as i64
    } else {
        (delta_ns as u128 * NICE_0_LOAD as u128 / weight as u128) as i64
    }
}

/// `sysctl_sched_base_slice`: 0.75 ms scaled by 1 + ilog2(min(nr_cpus, 8))
/// (SCHED_TUNABLESCALING_LOG).
pub fn base_slice_ns(nr_cpus: u32) -> u64 {
    let factor = 1 + (nr_cpus.clamp(1, 8)).ilog2() as u64;
    750_000 * factor
}

/// Custom slices are clamped as `sched_setattr()` does for fair tasks (Linux 6.12).
pub const MIN_CUSTOM_SLICE_NS: u64 = 100_000;
pub const MAX_CUSTOM_SLICE_NS: u64 = 100_000_000;

/// Length of one tick; the lag limit uses it.
fn tick_ns(s: &Sched) -> u64 {
    s.cfg.tick_ns()
}

pub struct FairSchedClass;

impl FairSchedClass {
    /// Set the entity's weight and slice from its attributes (`set_load_weight()`,
    /// `__setscheduler_params()`). Called while the task is not queued.
    pub fn set_params(s: &mut Sched, p: TaskId) {
        let base = s.base_slice_ns;
        let t = &mut s.tasks[p.index()];
        if let SchedAttr::Fair {
            policy,
            nice,
            slice_ns,
        } = t.attr
        {
            t.se.weight = fair_weight(policy, nice);
            t.se.custom_slice = slice_ns.is_some();
            t.se.slice = slice_ns
                .map(|s| s.clamp(MIN_CUSTOM_SLICE_NS, MAX_CUSTOM_SLICE_NS))
                .unwrap_or(base);
        } else {
            // A boosted or non-fair task that drops back to fair keeps nice 0 defaults.
            t.se.weight = NICE_0_LOAD;
            t.se.custom_slice = false;
            t.se.slice = base;
        }
    }

    /// `place_entity()`: give a task its lag back relative to the current `V`.
    fn place_entity(s: &mut Sched, cpu: usize, p: TaskId, flags: u32) {
        let cfs = &s.rqs[cpu].cfs;
        let se = &mut s.tasks[p.index()].se;
        let mut vslice = calc_delta_fair(se.slice, se.weight);
        let v = cfs.avg_vruntime();
        let mut lag: i64 = 0;
        if cfs.nr_queued > 0 && se.vlag != 0 {
            // Placing an entity moves V, so inflate the lag by (W + w) / W so that it is
            // what remains after the placement (`PLACE_LAG`).
            let load = cfs.sum_weight as i128;
            let inflated = se.vlag as i128 * (load + se.weight as i128);
            lag = inflated.div_euclid(load.max(1)) as i64;
        }
        se.vruntime = v - lag;
        if flags & ENQUEUE_INITIAL != 0 {
            // `PLACE_DEADLINE_INITIAL`: a new task gets half a slice so it starts soon.
            vslice /= 2;
        }
        se.deadline = se.vruntime + vslice;
    }

    /// `update_entity_lag()`: remember how far ahead or behind `V` the entity leaves, clamped
    /// to what it could have earned in about two slices.
    fn save_lag(s: &mut Sched, cpu: usize, p: TaskId) {
        let v = s.rqs[cpu].cfs.avg_vruntime();
        let tick = tick_ns(s);
        let se = &mut s.tasks[p.index()].se;
        let limit = calc_delta_fair((2 * se.slice).max(tick), se.weight);
        se.vlag = (v - se.vruntime).clamp(-limit, limit);
    }

    /// `pick_eevdf()`: the eligible entity with the earliest virtual deadline.
    fn pick_eevdf(s: &Sched, cpu: usize) -> Option<TaskId> {
        let cfs = &s.rqs[cpu].cfs;
        let curr = cfs
            .curr
            .filter(|_| cfs.curr_on_rq)
            .filter(|c| cfs.eligible(s.tasks[c.index()].se.vruntime));
        if let Some(c) = curr {
            if s.tasks[c.index()].se.protect_slice {
                return Some(c);
            }
        }
        let best = cfs
            .timeline
            .first_eligible(&s.run_nodes, |v| cfs.eligible(v));
        match (curr, best) {
            (Some(c), Some((deadline, p))) => {
                let cd = s.tasks[c.index()].se.deadline;
                Some(if (cd, c) < (deadline, p) { c } else { p })
            }
            (Some(c), None) => Some(c),
            (None, Some((_, p))) => Some(p),
            // Rounding in V can leave nobody exactly eligible; take the earliest deadline.
            (None, None) => cfs
                .timeline
                .first(&s.run_nodes)
                .map(|(_, p)| p)
                .or(cfs.curr.filter(|_| cfs.curr_on_rq)),
        }
    }

    /// Charge `delta_ns` of execution to the running entity and renew its deadline once its
    /// slice is used up (`update_curr()` + `update_deadline()`).
    fn charge(s: &mut Sched, cpu: usize, p: TaskId, delta_ns: u64) {
        let base = s.base_slice_ns;
        let rq = &mut s.rqs[cpu];
        let se = &mut s.tasks[p.index()].se;
        let dv = calc_delta_fair(delta_ns, se.weight);
        se.vruntime += dv;
        if rq.cfs.curr == Some(p) && rq.cfs.curr_on_rq {
            rq.cfs.sum_w_vruntime += se.weight as i128 * dv as i128;
        }
        if se.vruntime < se.deadline {
            return;
        }
        if !se.custom_slice {
            se.slice = base;
        }
        se.deadline = se.vruntime + calc_delta_fair(se.slice, se.weight);
        se.protect_slice = false;
        if rq.cfs.nr_queued > 1 {
            s.resched_curr(cpu);
        }
    }

    /// Idle CPU allowed for `p`, searched from `target` as `select_idle_cpu()` does.
    fn select_idle_cpu(s: &Sched, p: TaskId, target: usize) -> Option<usize> {
        s.idle_cpus
            .first_and_wrap(&s.tasks[p.index()].cpus_allowed, target)
    }

    /// The least loaded allowed CPU (`sched_balance_find_dst_cpu()` for fork/exec): fewest
    /// tasks, then least weight, the first from `prev` (wrapping) among equals.
    fn find_idlest_cpu(s: &Sched, p: TaskId, prev: usize) -> usize {
        let t = &s.tasks[p.index()];
        // An empty runqueue (no tasks, no weight) is as idle as any can be.
        if let Some(c) = s.rq_empty_cpus.first_and_wrap(&t.cpus_allowed, prev) {
            return c;
        }
        t.cpus_allowed
            .iter_wrap(prev)
            .filter(|&c| c < s.rqs.len())
            .min_by_key(|&c| (s.rqs[c].nr_running(), s.rqs[c].cfs.load()))
            .unwrap_or(prev)
    }

    /// `detach_one_task()`/`detach_tasks()`: the task to move from `src` to `dst`, if any: a
    /// waiting (not running, not blocked on a mutex) fair task allowed on `dst`, the least
    /// recently run first (ties: lowest task id).
    pub fn pick_migratable(s: &Sched, src: usize, dst: usize) -> Option<TaskId> {
        let rq = &s.rqs[src];
        rq.cfs.timeline.least_recently_picked(&s.run_nodes, |p| {
            let t = &s.tasks[p.index()];
            Some(p) != rq.curr
                && !t.is_blocked
                && t.cpus_allowed.test(dst)
                && !s.is_proxy_owner_here(src, p)
        })
    }
}

impl SchedClass for FairSchedClass {
    fn enqueue_task(&self, s: &mut Sched, cpu: usize, p: TaskId, flags: u32) {
        Self::place_entity(s, cpu, p, flags);
        let rq = &mut s.rqs[cpu];
        let se = &s.tasks[p.index()].se;
        rq.cfs.account_add(se.weight, se.vruntime);
        rq.cfs.nr_queued += 1;
        if rq.cfs.curr == Some(p) {
            rq.cfs.curr_on_rq = true;
        } else {
            rq.cfs.timeline.insert(
                &mut s.run_nodes,
                (se.deadline, p),
                se.vruntime,
                se.last_picked_ns,
            );
        }
    }

    fn dequeue_task(&self, s: &mut Sched, cpu: usize, p: TaskId, _flags: u32) {
        Self::save_lag(s, cpu, p);
        let rq = &mut s.rqs[cpu];
        let se = &s.tasks[p.index()].se;
        if rq.cfs.sum_weight == se.weight {
            rq.cfs.zero_vruntime = rq.cfs.avg_vruntime();
        }
        rq.cfs.account_sub(se.weight, se.vruntime);
        rq.cfs.nr_queued -= 1;
        if rq.cfs.curr == Some(p) {
            rq.cfs.curr_on_rq = false;
        } else {
            let removed = rq.cfs.timeline.remove(&mut s.run_nodes, &(se.deadline, p));
            debug_assert!(removed, "dequeue of a fair task not on the timeline");
        }
    }

    fn yield_task(&self, s: &mut Sched, cpu: usize) {
        // `yield_task_fair()`: push the deadline one slice out so others get to go first.
        if let Some(p) = s.rqs[cpu].donor {
            let se = &mut s.tasks[p.index()].se;
            se.deadline += calc_delta_fair(se.slice, se.weight);
            se.protect_slice = false;
        }
    }

    fn wakeup_preempt(&self, s: &mut Sched, cpu: usize, p: TaskId) {
        let Some(curr) = s.rqs[cpu].donor else {
            return;
        };
        let (curr_policy, p_policy) = (
            s.tasks[curr.index()].attr.policy(),
            s.tasks[p.index()].attr.policy(),
        );
        // An idle-policy task is preempted by any other; batch and idle tasks wait for the tick.
        if curr_policy == Policy::Idle && p_policy != Policy::Idle {
            s.resched_curr(cpu);
            return;
        }
        if p_policy != Policy::Normal {
            return;
        }
        // `PREEMPT_SHORT`: a waking task with a shorter slice and an earlier deadline cancels
        // the running task's slice protection.
        let (pse, cse) = (&s.tasks[p.index()].se, &s.tasks[curr.index()].se);
        if pse.slice < cse.slice
            && s.rqs[cpu].cfs.eligible(pse.vruntime)
            && pse.deadline < cse.deadline
        {
            s.tasks[curr.index()].se.protect_slice = false;
        }
        if Self::pick_eevdf(s, cpu) == Some(p) {
            s.resched_curr(cpu);
        }
    }

    fn pick_task(&self, s: &mut Sched, cpu: usize) -> Option<TaskId> {
        if s.rqs[cpu].cfs.nr_queued == 0 {
            return None;
        }
        Self::pick_eevdf(s, cpu)
    }

    fn put_prev_task(&self, s: &mut Sched, cpu: usize, p: TaskId) {
        let rq = &mut s.rqs[cpu];
        debug_assert_eq!(rq.cfs.curr, Some(p));
        if rq.cfs.curr_on_rq {
            let se = &s.tasks[p.index()].se;
            rq.cfs.timeline.insert(
                &mut s.run_nodes,
                (se.deadline, p),
                se.vruntime,
                se.last_picked_ns,
            );
        }
        rq.cfs.curr = None;
        rq.cfs.curr_on_rq = false;
    }

    fn set_next_task(&self, s: &mut Sched, cpu: usize, p: TaskId) {
        let now = s.now;
        let rq = &mut s.rqs[cpu];
        let se = &mut s.tasks[p.index()].se;
        let removed = rq.cfs.timeline.remove(&mut s.run_nodes, &(se.deadline, p));
        debug_assert!(removed, "picked fair task not on the timeline");
        rq.cfs.curr = Some(p);
        rq.cfs.curr_on_rq = true;
        se.protect_slice = true;
        se.last_picked_ns = now;
    }

    fn update_curr(&self, s: &mut Sched, cpu: usize, p: TaskId, delta_ns: u64) {
        Self::charge(s, cpu, p, delta_ns);
    }

    fn task_tick(&self, _s: &mut Sched, _cpu: usize, _p: TaskId) {
        // Everything happens in update_curr(), which the tick has already called.
    }

    fn select_task_rq(&self, s: &Sched, p: TaskId, prev_cpu: usize, fork: bool) -> usize {
        let t = &s.tasks[p.index()];
        if fork {
            return Self::find_idlest_cpu(s, p, prev_cpu);
        }
        // `select_idle_sibling()` with one LLC spanning every CPU: the previous CPU if idle,
        // else any idle allowed CPU, else stay where the cache is warm.
        if t.cpus_allowed.test(prev_cpu) && s.rqs[prev_cpu].is_idle() {
            return prev_cpu;
        }
        if let Some(c) = Self::select_idle_cpu(s, p, prev_cpu) {
            return c;
        }
        if t.cpus_allowed.test(prev_cpu) {
            prev_cpu
        } else {
            Self::find_idlest_cpu(s, p, prev_cpu)
        }
    }

    fn balance(&self, s: &mut Sched, cpu: usize, _prev: TaskId) -> bool {
        if s.rqs[cpu].nr_running() > 0 {
            return true;
        }
        s.newidle_balance(cpu)
    }
}
