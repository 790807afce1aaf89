//! The core (`kernel/sched/core.c`): tasks and runqueues, wakeups, `schedule()`, the tick,
//! migration and load balancing. It knows no files and no clock of its own: the engine sets
//! [`Sched::now`], calls in, and collects what the core asks of it from [`Outbox`].

use std::sync::Arc;

use crate::attr::{ClassId, SchedAttr, MAX_RT_PRIO};
use crate::class::{
    class, DEQUEUE_MIGRATING, DEQUEUE_SAVE, DEQUEUE_SLEEP, ENQUEUE_INITIAL, ENQUEUE_MIGRATED,
    ENQUEUE_RESTORE, ENQUEUE_WAKEUP,
};
use crate::cpumask::{CpuMask, NR_CPUS};
use crate::cpupri::CpuPri;
use crate::deadline::{DlAdmissionError, DlSchedClass, SchedDlEntity};
use crate::fair::{base_slice_ns, FairSchedClass, SchedEntity};
use crate::mutex::{Inherit, Mutex, MutexId, ProxyLevel};
use crate::prio_array::RtNodes;
use crate::proxy::ProxyAction;
use crate::rq::Rq;
use crate::rt::{rr_timeslice_ticks, RtSchedClass, SchedRtEntity};
use crate::task::{Task, TaskCold, TaskId, TaskState};
use crate::timeline::RunNodes;
use proxysched_trace::{Event, EventKinds, PrevState, WakeReason};

/// Static configuration of the simulated machine's scheduler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedConfig {
    pub nr_cpus: u32,
    pub hz: u32,
    /// `sched_rt_runtime_us` throttling; when false, RT may use 100% of a CPU.
    pub rt_throttling: bool,
    pub rt_runtime_ns: u64,
    pub rt_period_ns: u64,
    /// CPU time lost to each context switch.
    pub switch_cost_ns: u64,
    /// Extra time lost when a task runs on a CPU other than the one it last ran on.
    pub migration_cost_ns: u64,
    /// `HRTICK_DL`: throttle a SCHED_DEADLINE task the instant its budget runs out. Off by
    /// default, as in Linux: the overrun is noticed at the next tick or kernel entry and
    /// paid back from the next budget.
    pub hrtick_dl: bool,
    pub inherit: Inherit,
    pub proxy_level: ProxyLevel,
    /// Delay of a wakeup sent to another CPU (the `TTWU_QUEUE` IPI); only mutex handoffs
    /// are delayed by it in the core.
    pub ipi_latency_ns: u64,
    /// A bug planted on purpose, so tests can show the torture run catches it. Never set
    /// outside tests; nothing on the command line or in a workload reaches it.
    pub planted_bug: Option<PlantedBug>,
}

/// Bugs the torture tests plant to prove they would be caught.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// A woken donor that was proxy-migrated stays on the foreign CPU instead of going back.
    SkipReturnMigration,
}

impl Default for SchedConfig {
    fn default() -> Self {
        SchedConfig {
            nr_cpus: 1,
            hz: 1000,
            rt_throttling: true,
            rt_runtime_ns: 950_000_000,
            rt_period_ns: 1_000_000_000,
            switch_cost_ns: 0,
            migration_cost_ns: 0,
            hrtick_dl: false,
            inherit: Inherit::None,
            proxy_level: ProxyLevel::Full,
            ipi_latency_ns: 0,
            planted_bug: None,
        }
    }
}

impl SchedConfig {
    pub fn tick_ns(&self) -> u64 {
        1_000_000_000 / self.hz as u64
    }

    /// RT runtime per period, or `None` when throttling is off.
    pub fn rt_runtime_ns(&self) -> Option<u64> {
        (self.rt_throttling && self.rt_runtime_ns < self.rt_period_ns).then_some(self.rt_runtime_ns)
    }
}

/// A timer the core wants the engine to fire by calling back at `at_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerRequest {
    /// Call [`Sched::dl_timer`] for this task.
    DlReplenish { task: TaskId, at_ns: u64 },
    /// Call [`Sched::rt_period_timer`].
    RtPeriod { at_ns: u64 },
    /// Call [`Sched::deferred_wake`] for this task (a wakeup delayed by an IPI).
    Wake { task: TaskId, at_ns: u64 },
    /// Call [`Sched::migrate_arrive`] for this task (a migration in flight).
    MigrateArrive { task: TaskId, at_ns: u64 },
}

/// What the core asks of the engine, collected during a call.
#[derive(Debug)]
pub struct Outbox {
    /// Tracepoints, in order, all at the current time.
    pub events: Vec<Event>,
    /// The kinds of tracepoint anyone consumes; the others are not recorded.
    pub wanted: EventKinds,
    /// CPUs whose `need_resched` was newly set.
    pub resched: Vec<u32>,
    pub timers: Vec<TimerRequest>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            events: Vec::new(),
            wanted: EventKinds::ALL,
            resched: Vec::new(),
            timers: Vec::new(),
        }
    }
}

impl Outbox {
    /// Record a tracepoint, if its kind is wanted. Inlined, the test is on a constant kind,
    /// and an unwanted event is never built.
    #[inline]
    pub fn emit(&mut self, ev: Event) {
        if self.wanted.contains(ev.kind()) {
            self.events.push(ev);
        }
    }
}

pub struct Sched {
    pub cfg: SchedConfig,
    /// Current virtual time; set by the engine, never decreases.
    pub now: u64,
    pub(crate) tasks: Vec<Task>,
    /// By task, like `tasks`: what scheduling does not read, kept out of its cache lines.
    pub(crate) tasks_cold: Vec<TaskCold>,
    pub(crate) rqs: Vec<Rq>,
    pub(crate) mutexes: Vec<Mutex>,
    pub out: Outbox,
    /// CPUs with more than one RT (resp. DL) task queued: where pulls look.
    pub(crate) rt_overload: CpuMask,
    pub(crate) dl_overload: CpuMask,
    pub(crate) base_slice_ns: u64,
    /// Admitted SCHED_DEADLINE bandwidth (`dl_bw->total_bw`).
    pub(crate) dl_total_bw: u64,
    pub(crate) rt_period_timer_armed: bool,
    /// Every CPU of the machine (`cpu_possible_mask`).
    all_cpus: CpuMask,
    /// Every task's node for the EEVDF timelines (`se.run_node`).
    pub(crate) run_nodes: RunNodes,
    /// Every task's links for the RT run and pushable lists (`rt.run_list`).
    pub(crate) rt_nodes: RtNodes,
    /// Each CPU's RT priority level, for `find_lowest_rq()` (see `cpupri.rs`).
    pub(crate) cpupri: CpuPri,
    /// CPUs with nothing queued (`nr_running == 0`).
    pub(crate) rq_empty_cpus: CpuMask,
    /// CPUs with nothing queued and nothing running (`available_idle_cpu()`).
    pub(crate) idle_cpus: CpuMask,
    /// CPUs with no SCHED_DEADLINE task queued (cpudl's `free_cpus`).
    pub(crate) dl_free_cpus: CpuMask,
    /// Each CPU's earliest queued deadline, 0 when it has none: what cpudl's max-heap orders
    /// in Linux, flat, so that `find_later_rq` reads one array instead of every runqueue.
    pub(crate) cpudl_earliest: Vec<u64>,
    /// CPUs with at least two fair tasks queued: the only sources the fair balancer can pull
    /// from. On a machine with little fair work it is empty, and going idle costs no scan.
    pub(crate) cfs_overload_cpus: CpuMask,
    /// Live tasks whose own policy is fair (PI may lift them out of the class for a while).
    /// With none, no fair task can ever be queued, and the tick has no balancing to do.
    nr_fair_tasks: u32,
}

impl Sched {
    pub fn new(cfg: SchedConfig) -> Sched {
        assert!(
            (1..=NR_CPUS as u32).contains(&cfg.nr_cpus),
            "CPU count out of range"
        );
        assert!(cfg.hz > 0);
        let base_slice_ns = base_slice_ns(cfg.nr_cpus);
        let all_cpus = CpuMask::first_n(cfg.nr_cpus as usize);
        Sched {
            rqs: (0..cfg.nr_cpus).map(Rq::new).collect(),
            cfg,
            now: 0,
            tasks: Vec::new(),
            tasks_cold: Vec::new(),
            mutexes: Vec::new(),
            out: Outbox::default(),
            rt_overload: CpuMask::empty(),
            dl_overload: CpuMask::empty(),
            base_slice_ns,
            dl_total_bw: 0,
            rt_period_timer_armed: false,
            run_nodes: RunNodes::default(),
            rt_nodes: RtNodes::default(),
            cpupri: CpuPri::new(all_cpus.weight() as usize, MAX_RT_PRIO + 1),
            rq_empty_cpus: all_cpus.clone(),
            idle_cpus: all_cpus.clone(),
            dl_free_cpus: all_cpus.clone(),
            cpudl_earliest: vec![0; all_cpus.weight() as usize],
            cfs_overload_cpus: CpuMask::empty(),
            nr_fair_tasks: 0,
            all_cpus,
        }
    }

    // ----- queries --------------------------------------------------------------------------

    pub fn nr_cpus(&self) -> usize {
        self.rqs.len()
    }

    pub fn task(&self, p: TaskId) -> &Task {
        &self.tasks[p.index()]
    }

    /// The name `p` was created with.
    pub fn task_name(&self, p: TaskId) -> &Arc<str> {
        &self.tasks_cold[p.index()].name
    }

    /// The mutexes `p` owns.
    pub fn held(&self, p: TaskId) -> &[MutexId] {
        &self.tasks_cold[p.index()].held
    }

    pub fn tasks(&self) -> impl Iterator<Item = (TaskId, &Task)> {
        self.tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (TaskId(i as u32), t))
    }

    pub fn rq(&self, cpu: usize) -> &Rq {
        &self.rqs[cpu]
    }

    /// The fair tasks waiting on `cpu` (the running one excluded), by virtual deadline.
    pub fn cfs_queued(&self, cpu: usize) -> impl Iterator<Item = TaskId> + '_ {
        self.rqs[cpu]
            .cfs
            .timeline
            .iter(&self.run_nodes)
            .map(|((_, p), _, _)| p)
    }

    pub fn curr(&self, cpu: usize) -> Option<TaskId> {
        self.rqs[cpu].curr
    }

    pub fn base_slice_ns(&self) -> u64 {
        self.base_slice_ns
    }

    /// When the running task's budget on `cpu` runs out, if `HRTICK_DL` enforces it then.
    pub fn hrtick_at(&self, cpu: usize) -> Option<u64> {
        if !self.cfg.hrtick_dl {
            return None;
        }
        let rq = &self.rqs[cpu];
        let donor = &self.tasks[rq.donor?.index()];
        if donor.class() != ClassId::Deadline || donor.dl.dl_throttled {
            return None;
        }
        Some(self.runs_from(cpu) + donor.dl.runtime.max(0) as u64)
    }

    /// Until when the ticks of `cpu` would only charge its running task: each would add to
    /// counters (its runtime, its DL budget, the CPU's RT time) that the next
    /// `update_curr()` brings to the same values in one step, and nothing else. A tick
    /// before this instant can be skipped without changing the schedule; `now` when the next
    /// one may matter, `u64::MAX` when none will while the CPU's state stays as it is. Any
    /// change to that state comes with a reschedule of the CPU, after which the engine asks
    /// again.
    #[inline(always)]
    pub fn tick_inert_until(&self, cpu: usize) -> u64 {
        // Fair ticks end slices, and fair tasks anywhere give the balancer work at each tick:
        // the common case is told at once.
        if self.nr_fair_tasks > 0 {
            return self.now;
        }
        self.running_tick_inert_until(cpu)
    }

    /// [`Sched::tick_inert_until`] as the running task's class and the RT bandwidth see it.
    fn running_tick_inert_until(&self, cpu: usize) -> u64 {
        let Some(donor) = self.rqs[cpu].donor else {
            return self.now;
        };
        let from = self.runs_from(cpu);
        let class_until = match self.tasks[donor.index()].class() {
            ClassId::Deadline => DlSchedClass::tick_inert_until(self, cpu, donor, from),
            ClassId::Rt => RtSchedClass::tick_inert_until(self, donor),
            _ => None,
        };
        class_until
            .and_then(|until| Some(until.min(RtSchedClass::rt_time_inert_until(self, cpu, from)?)))
            .unwrap_or(self.now)
    }

    /// CPU time `p` has run up to now, including the part not yet charged by `update_curr()`.
    /// Reading it changes nothing: user code finishing a piece of work is not a kernel entry.
    pub fn exec_runtime(&self, p: TaskId) -> u64 {
        let t = &self.tasks[p.index()];
        let cpu = t.cpu as usize;
        if self.rqs[cpu].curr == Some(p) {
            t.sum_exec_runtime + self.now.saturating_sub(self.runs_from(cpu))
        } else {
            t.sum_exec_runtime
        }
    }

    /// From when the running task of `cpu` executes its own code: the end of its accounting
    /// window, or of the switch/migration overhead it is still paying.
    pub fn runs_from(&self, cpu: usize) -> u64 {
        let rq = &self.rqs[cpu];
        rq.exec_start.max(rq.busy_until)
    }

    // ----- plumbing -------------------------------------------------------------------------

    #[inline]
    pub(crate) fn emit(&mut self, ev: Event) {
        self.out.emit(ev);
    }

    /// `resched_curr()`.
    pub fn resched_curr(&mut self, cpu: usize) {
        let rq = &mut self.rqs[cpu];
        if !rq.need_resched {
            rq.need_resched = true;
            self.out.resched.push(cpu as u32);
        }
    }

    pub(crate) fn request_dl_timer(&mut self, p: TaskId, at_ns: u64) {
        self.out
            .timers
            .push(TimerRequest::DlReplenish { task: p, at_ns });
    }

    pub(crate) fn arm_rt_period_timer(&mut self) {
        if self.rt_period_timer_armed || self.cfg.rt_runtime_ns().is_none() {
            return;
        }
        self.rt_period_timer_armed = true;
        let period = self.cfg.rt_period_ns;
        let at_ns = (self.now / period + 1) * period;
        self.out.timers.push(TimerRequest::RtPeriod { at_ns });
    }

    fn trace_prio(&self, p: Option<TaskId>) -> i32 {
        // The idle task prints as prio 120, as swapper does.
        p.map_or(120, |p| self.tasks[p.index()].prio)
    }

    // ----- tasks ------------------------------------------------------------------------------

    /// Room for `additional` more tasks, exactly: a machine of thousands of tasks keeps its
    /// task table for the whole run, and growing it by doubling leaves up to half of it unused.
    pub fn reserve_tasks(&mut self, additional: usize) {
        self.tasks.reserve_exact(additional);
        self.tasks_cold.reserve_exact(additional);
    }

    /// Create a task (`copy_process()` + `sched_fork()`); it runs once woken with
    /// [`Sched::wake_up_new_task`]. `cpus` must be non-empty and within the machine.
    pub fn add_task(
        &mut self,
        name: impl Into<Arc<str>>,
        attr: SchedAttr,
        cpus: CpuMask,
    ) -> TaskId {
        let name = name.into();
        let p = TaskId(self.tasks.len() as u32);
        let cpus = cpus.and(&self.all_cpus);
        assert!(!cpus.is_empty(), "task without an allowed CPU");
        let cpu = cpus.first().unwrap_or(0) as u32;
        self.tasks.push(Task {
            attr,
            prio: attr.normal_prio(),
            nr_cpus_allowed: cpus.weight(),
            cpus_allowed: cpus,
            state: TaskState::New,
            on_rq: false,
            cpu,
            se: SchedEntity::default(),
            rt: SchedRtEntity {
                time_slice: rr_timeslice_ticks(self.cfg.hz),
            },
            dl: SchedDlEntity::default(),
            sum_exec_runtime: 0,
            migrated: false,
            wake_cpu: cpu,
            blocked_on: None,
            is_blocked: false,
            blocked_donor: None,
            deadlocked: false,
            sleeping_owner: None,
            migrating: false,
            links: None,
        });
        self.tasks_cold.push(TaskCold {
            name: name.clone(),
            held: Vec::new(),
        });
        self.run_nodes.add(p);
        self.rt_nodes.add(p);
        self.nr_fair_tasks += u32::from(attr.policy().is_fair());
        self.apply_params(p);
        self.emit(Event::TaskNew {
            task: p,
            name: name.to_string(),
            policy: attr.policy().kernel_name(),
            prio: attr.normal_prio(),
        });
        p
    }

    fn apply_params(&mut self, p: TaskId) {
        FairSchedClass::set_params(self, p);
        DlSchedClass::set_params(self, p);
        let t = &mut self.tasks[p.index()];
        t.prio = t.attr.normal_prio();
    }

    /// Reserve SCHED_DEADLINE bandwidth for `attr` (admission control), as `sched_setattr()`
    /// does before it changes anything.
    pub fn dl_admit(
        &mut self,
        name: &str,
        old: Option<SchedAttr>,
        new: SchedAttr,
    ) -> Result<(), DlAdmissionError> {
        let bw = |a: Option<SchedAttr>| match a {
            Some(SchedAttr::Deadline {
                runtime_ns,
                period_ns,
                ..
            }) => crate::attr::to_ratio(period_ns, runtime_ns),
            _ => 0,
        };
        self.dl_total_bw = DlSchedClass::admission_check(self, name, bw(old), bw(Some(new)))?;
        Ok(())
    }

    /// `wake_up_new_task()`.
    pub fn wake_up_new_task(&mut self, p: TaskId) {
        debug_assert_eq!(self.tasks[p.index()].state, TaskState::New);
        self.tasks[p.index()].state = TaskState::Running;
        let prev_cpu = self.tasks[p.index()].cpu as usize;
        let cpu = class(self.tasks[p.index()].class()).select_task_rq(self, p, prev_cpu, true);
        self.tasks[p.index()].cpu = cpu as u32;
        self.update_curr(cpu);
        self.activate_task(cpu, p, ENQUEUE_INITIAL);
        let prio = self.tasks[p.index()].prio;
        self.emit(Event::SchedWakeupNew {
            task: p,
            prio,
            cpu: cpu as u32,
        });
        self.check_preempt(cpu, p);
        self.push_tasks(cpu);
    }

    /// `try_to_wake_up()`: false if `p` was not sleeping.
    pub fn try_to_wake_up(&mut self, p: TaskId, reason: WakeReason) -> bool {
        let t = &self.tasks[p.index()];
        match t.state {
            TaskState::Sleeping => {}
            TaskState::Running | TaskState::New | TaskState::Dead => return false,
        }
        if t.deadlocked {
            return false;
        }
        let prio = t.prio;
        // A donor proxy-migrated away wakes where it may run (`wake_cpu`), not where it was
        // lent out.
        let prev_cpu = t.wake_cpu as usize;
        self.emit(Event::SchedWaking {
            task: p,
            prio,
            target_cpu: prev_cpu as u32,
            reason,
        });
        self.tasks[p.index()].state = TaskState::Running;
        if self.tasks[p.index()].on_rq {
            // `ttwu_runnable()`: it asked to sleep but has not left its CPU yet.
            let cpu = self.tasks[p.index()].cpu;
            self.emit(Event::SchedWakeup { task: p, prio, cpu });
            return true;
        }
        self.unpark_from_sleeping_owner(p);
        let cpu = class(self.tasks[p.index()].class()).select_task_rq(self, p, prev_cpu, false);
        if cpu != self.tasks[p.index()].cpu as usize {
            self.set_task_cpu(p, cpu);
        }
        self.tasks[p.index()].wake_cpu = cpu as u32;
        self.update_curr(cpu);
        self.activate_task(cpu, p, ENQUEUE_WAKEUP);
        self.emit(Event::SchedWakeup {
            task: p,
            prio,
            cpu: cpu as u32,
        });
        self.check_preempt(cpu, p);
        self.activate_blocked_waiters(p);
        self.push_tasks(cpu);
        true
    }

    /// The running task of `cpu` goes to sleep or exits at its next `schedule()`.
    pub fn set_current_state(&mut self, cpu: usize, state: TaskState) {
        let p = self.rqs[cpu]
            .curr
            .expect("set_current_state on an idle CPU");
        debug_assert!(matches!(state, TaskState::Sleeping | TaskState::Dead));
        self.tasks[p.index()].state = state;
        self.resched_curr(cpu);
    }

    /// `sched_yield()` by the running task of `cpu`.
    pub fn yield_current(&mut self, cpu: usize) {
        let Some(p) = self.rqs[cpu].donor else {
            return;
        };
        self.update_curr(cpu);
        class(self.tasks[p.index()].class()).yield_task(self, cpu);
        self.resched_curr(cpu);
    }

    /// `sched_setattr()` on a task; admission control is the caller's, through
    /// [`Sched::dl_admit`].
    pub fn sched_setattr(&mut self, p: TaskId, attr: SchedAttr) {
        let old = self.tasks[p.index()].attr;
        if old == attr {
            return;
        }
        self.nr_fair_tasks += u32::from(attr.policy().is_fair());
        self.nr_fair_tasks -= u32::from(old.policy().is_fair());
        self.change_prio(p, |s| {
            s.tasks[p.index()].attr = attr;
            s.apply_params(p);
        });
        let prio = self.tasks[p.index()].prio;
        self.emit(Event::SchedSetattr {
            task: p,
            policy: attr.policy().kernel_name(),
            prio,
        });
    }

    /// Change what decides `p`'s place (attributes, effective prio) with `f`, taking it off
    /// its runqueue and putting it back around the change (`DEQUEUE_SAVE`/`ENQUEUE_RESTORE`),
    /// so that every class sees a consistent task, even one that moves between classes.
    pub(crate) fn change_prio(&mut self, p: TaskId, f: impl FnOnce(&mut Sched)) {
        let queued = self.tasks[p.index()].on_rq;
        let cpu = self.tasks[p.index()].cpu as usize;
        let running = self.rqs[cpu].donor == Some(p);
        if queued {
            self.update_curr(cpu);
            self.dequeue_task(cpu, p, DEQUEUE_SAVE);
            if running {
                self.put_prev_task(cpu, p);
            }
        }
        let old_prio = self.tasks[p.index()].prio;
        let old_class = ClassId::of_prio(old_prio);
        f(self);
        let new_class = self.tasks[p.index()].class();
        if new_class == ClassId::Rt && old_class != ClassId::Rt {
            self.tasks[p.index()].rt.time_slice = rr_timeslice_ticks(self.cfg.hz);
        }
        if queued {
            self.enqueue_task(cpu, p, ENQUEUE_RESTORE);
            if running {
                self.set_next_task(cpu, p);
            }
            if new_class != old_class {
                class(old_class).switched_from(self, cpu, p);
            } else {
                class(new_class).prio_changed(self, cpu, p, old_prio);
            }
            // Anything may now deserve the CPU more (or less) than this task.
            self.resched_curr(cpu);
        }
    }

    /// `set_cpus_allowed_ptr()`. A running or queued task outside its new mask is moved.
    pub fn set_cpus_allowed(&mut self, p: TaskId, cpus: &CpuMask) {
        let cpus = cpus.and(&self.all_cpus);
        assert!(!cpus.is_empty(), "affinity without an allowed CPU");
        let t = &mut self.tasks[p.index()];
        if t.cpus_allowed == cpus {
            return;
        }
        t.nr_cpus_allowed = cpus.weight();
        t.cpus_allowed = cpus;
        self.update_pushable(p);
        let t = &self.tasks[p.index()];
        let cpu = t.cpu as usize;
        if t.cpus_allowed.test(cpu) {
            return;
        }
        if !t.on_rq {
            // It will be placed on an allowed CPU when it wakes.
            return;
        }
        if self.rqs[cpu].curr == Some(p) {
            // `migration_cpu_stop()`: the next schedule() on its CPU moves it.
            self.resched_curr(cpu);
            return;
        }
        let dest = class(self.tasks[p.index()].class()).select_task_rq(self, p, cpu, false);
        self.move_queued_task(p, cpu, dest);
    }

    // ----- enqueue / dequeue ----------------------------------------------------------------

    pub(crate) fn enqueue_task(&mut self, cpu: usize, p: TaskId, flags: u32) {
        class(self.tasks[p.index()].class()).enqueue_task(self, cpu, p, flags);
        self.update_cpu_masks(cpu);
    }

    pub(crate) fn dequeue_task(&mut self, cpu: usize, p: TaskId, flags: u32) {
        class(self.tasks[p.index()].class()).dequeue_task(self, cpu, p, flags);
        self.update_cpu_masks(cpu);
    }

    pub(crate) fn activate_task(&mut self, cpu: usize, p: TaskId, flags: u32) {
        debug_assert!(!self.tasks[p.index()].on_rq);
        debug_assert_eq!(self.tasks[p.index()].cpu as usize, cpu);
        self.enqueue_task(cpu, p, flags);
        self.tasks[p.index()].on_rq = true;
    }

    pub(crate) fn deactivate_task(&mut self, cpu: usize, p: TaskId, flags: u32) {
        self.dequeue_task(cpu, p, flags);
        self.tasks[p.index()].on_rq = false;
    }

    /// `put_prev_task()`. Linux's charge the scheduling context first (`update_curr_dl()`,
    /// `update_curr_rt()`, `put_prev_entity()`); here the callers do, once: `schedule()` at
    /// its start, and the proxy paths that drop a donor outside it.
    pub(crate) fn put_prev_task(&mut self, cpu: usize, p: TaskId) {
        class(self.tasks[p.index()].class()).put_prev_task(self, cpu, p);
    }

    pub(crate) fn set_next_task(&mut self, cpu: usize, p: TaskId) {
        class(self.tasks[p.index()].class()).set_next_task(self, cpu, p);
    }

    pub(crate) fn set_task_cpu(&mut self, p: TaskId, cpu: usize) {
        self.tasks[p.index()].wake_cpu = cpu as u32;
        self.proxy_set_task_cpu(p, cpu);
    }

    /// Move `p` to `cpu` keeping its `wake_cpu`: `task_cpu != wake_cpu` then means it sits on
    /// a foreign CPU only to donate, and must go back when it wakes.
    pub(crate) fn proxy_set_task_cpu(&mut self, p: TaskId, cpu: usize) {
        let t = &mut self.tasks[p.index()];
        let orig = t.cpu;
        t.cpu = cpu as u32;
        t.migrated = t.sum_exec_runtime > 0;
        let prio = t.prio;
        self.emit(Event::SchedMigrateTask {
            task: p,
            prio,
            orig_cpu: orig,
            dest_cpu: cpu as u32,
        });
    }

    /// `move_queued_task()`: take a waiting task off `src` and queue it on `dst`.
    ///
    /// With an IPI latency the move takes that long (`TASK_ON_RQ_MIGRATING`: off the source
    /// runqueue, not yet on the destination); otherwise it is one step.
    pub(crate) fn move_queued_task(&mut self, p: TaskId, src: usize, dst: usize) {
        debug_assert_ne!(self.rqs[src].curr, Some(p));
        debug_assert!(self.tasks[p.index()].cpus_allowed.test(dst));
        self.update_curr(src);
        self.deactivate_task(src, p, DEQUEUE_MIGRATING);
        self.set_task_cpu(p, dst);
        if self.cfg.ipi_latency_ns > 0 {
            self.tasks[p.index()].migrating = true;
            let at_ns = self.now + self.cfg.ipi_latency_ns;
            self.out
                .timers
                .push(TimerRequest::MigrateArrive { task: p, at_ns });
            return;
        }
        self.update_curr(dst);
        self.activate_task(dst, p, ENQUEUE_MIGRATED);
        self.check_preempt(dst, p);
    }

    /// A task in flight (see [`Sched::move_queued_task`]) reaches its runqueue; the CPUs that
    /// waited for it (an owner their donor needs) pick again.
    pub fn migrate_arrive(&mut self, p: TaskId) {
        if !std::mem::take(&mut self.tasks[p.index()].migrating) {
            return;
        }
        let dst = self.tasks[p.index()].cpu as usize;
        self.update_curr(dst);
        self.activate_task(dst, p, ENQUEUE_MIGRATED);
        self.check_preempt(dst, p);
        for cpu in self.tasks[p.index()].take_migrate_waiters() {
            self.resched_curr(cpu as usize);
        }
        self.push_tasks(dst);
    }

    /// `wakeup_preempt()`: should `p`, just queued on `cpu`, take the CPU?
    pub(crate) fn check_preempt(&mut self, cpu: usize, p: TaskId) {
        let pc = self.tasks[p.index()].class();
        match self.rqs[cpu].donor {
            None => self.resched_curr(cpu),
            Some(d) => {
                let dc = self.tasks[d.index()].class();
                if pc < dc {
                    self.resched_curr(cpu);
                } else if pc == dc {
                    class(pc).wakeup_preempt(self, cpu, p);
                }
            }
        }
    }

    /// What [`Sched::may_be_pushable`] reads changed for `p`: keep the RT/DL pushable lists
    /// right if it is queued there.
    pub(crate) fn update_pushable(&mut self, p: TaskId) {
        RtSchedClass::update_pushable(self, p);
        DlSchedClass::update_pushable(self, p);
    }

    pub(crate) fn push_tasks(&mut self, cpu: usize) {
        class(ClassId::Deadline).push_tasks(self, cpu);
        class(ClassId::Rt).push_tasks(self, cpu);
    }

    // ----- time -------------------------------------------------------------------------------

    /// `update_curr()`: charge the running task for the time since its accounting window
    /// began. The execution context accrues CPU time; the donor's class is charged.
    pub fn update_curr(&mut self, cpu: usize) {
        let now = self.now;
        let rq = &mut self.rqs[cpu];
        let Some(curr) = rq.curr else {
            rq.exec_start = now;
            return;
        };
        let start = rq.exec_start.max(rq.busy_until.min(now));
        if now <= start {
            return;
        }
        let delta = now - start;
        rq.exec_start = now;
        let donor = rq.donor.unwrap_or(curr);
        self.tasks[curr.index()].sum_exec_runtime += delta;
        class(self.tasks[donor.index()].class()).update_curr(self, cpu, donor, delta);
    }

    /// `sched_tick()`.
    pub fn tick(&mut self, cpu: usize) {
        self.update_curr(cpu);
        if let Some(d) = self.rqs[cpu].donor {
            class(self.tasks[d.index()].class()).task_tick(self, cpu, d);
        }
        self.trigger_load_balance(cpu);
    }

    /// The DL budget hrtick of `cpu` fired: charge, which throttles if the budget is gone.
    pub fn hrtick(&mut self, cpu: usize) {
        self.update_curr(cpu);
        // A budget already at zero (a revised CBS wakeup at zero laxity, or a task made
        // SCHED_DEADLINE at this instant) has nothing left to charge: throttle it now rather
        // than re-arming the hrtick at the same instant forever.
        if let Some(d) = self.rqs[cpu].donor {
            let t = &self.tasks[d.index()];
            if t.class() == ClassId::Deadline && !t.dl.dl_throttled && t.dl.runtime <= 0 {
                class(ClassId::Deadline).update_curr(self, cpu, d, 0);
            }
        }
    }

    /// A replenishment timer requested with [`TimerRequest::DlReplenish`] fired.
    pub fn dl_timer(&mut self, p: TaskId, at_ns: u64) {
        DlSchedClass::dl_task_timer(self, p, at_ns);
    }

    /// The RT bandwidth period timer (`do_sched_rt_period_timer()`).
    pub fn rt_period_timer(&mut self) {
        self.rt_period_timer_armed = false;
        let Some(runtime) = self.cfg.rt_runtime_ns() else {
            return;
        };
        let mut active = false;
        for cpu in 0..self.rqs.len() {
            self.update_curr(cpu);
            let rt = &mut self.rqs[cpu].rt;
            rt.rt_time -= rt.rt_time.min(runtime);
            if rt.rt_throttled && rt.rt_time < runtime {
                rt.rt_throttled = false;
                self.update_cpu_masks(cpu);
                self.emit(Event::RtUnthrottle { cpu: cpu as u32 });
                self.resched_curr(cpu);
            }
            let rq = &self.rqs[cpu];
            active |= rq.rt.rt_time > 0 || rq.rt.rt_nr_running > 0 || rq.dl.dl_nr_running > 0;
        }
        if active {
            self.arm_rt_period_timer();
        }
    }

    // ----- schedule() -------------------------------------------------------------------------

    /// `__schedule()` on `cpu`: take the running task off if it sleeps, balance, pick the next
    /// task (following a blocked pick to the owner that runs for it under proxy execution)
    /// and switch to it. Returns true if the running task changed.
    pub fn schedule(&mut self, cpu: usize) -> bool {
        self.update_curr(cpu);
        self.rqs[cpu].need_resched = false;
        let prev = self.rqs[cpu].curr;
        let prev_donor = self.rqs[cpu].donor;
        let mut prev_state = PrevState::Preempted;
        if let Some(p) = prev {
            let t = &self.tasks[p.index()];
            match t.state {
                TaskState::Sleeping if t.blocked_on.is_some() => {
                    prev_state = PrevState::BlockedOnMutex;
                    if self.cfg.inherit == Inherit::Proxy && !t.deadlocked {
                        // Proxy execution: a task blocked on a mutex stays queued, a
                        // candidate donor for its lock owner.
                        self.tasks[p.index()].is_blocked = true;
                        self.update_pushable(p);
                    } else {
                        self.deactivate_task(cpu, p, DEQUEUE_SLEEP);
                    }
                }
                TaskState::Sleeping => {
                    prev_state = PrevState::Sleeping;
                    self.deactivate_task(cpu, p, DEQUEUE_SLEEP);
                }
                TaskState::Dead => {
                    prev_state = PrevState::Dead;
                    self.nr_fair_tasks -= u32::from(self.tasks[p.index()].attr.policy().is_fair());
                    self.deactivate_task(cpu, p, DEQUEUE_SLEEP);
                }
                TaskState::Running | TaskState::New => {}
            }
        }
        // A running task whose affinity no longer allows this CPU moves now.
        let migrate_prev = prev.filter(|p| {
            let t = &self.tasks[p.index()];
            t.on_rq && !t.is_blocked && !t.cpus_allowed.test(cpu)
        });
        // `put_prev_task_balance()`: from prev's class down, pull until a class has work.
        if let Some(p) = prev_donor {
            let pc = self.tasks[p.index()].class();
            for c in ClassId::ALL.into_iter().filter(|&c| c >= pc) {
                if class(c).balance(self, cpu, p) {
                    break;
                }
            }
        }
        let (next_donor, next, keep_resched) = self.pick_next_proxied(cpu, migrate_prev, prev);
        let (next_donor, next) = if next_donor.is_none() && prev.is_none() && !keep_resched {
            // An idle CPU asked to reschedule (e.g. after pushing work away): try a pull.
            if self.newidle_balance(cpu) {
                let (d, n, _) = self.pick_next_proxied(cpu, None, None);
                (d, n)
            } else {
                (None, None)
            }
        } else {
            (next_donor, next)
        };
        let cur_donor = self.rqs[cpu].donor;
        if next_donor != cur_donor {
            if let Some(d) = cur_donor {
                self.put_prev_task(cpu, d);
            }
            if let Some(n) = next_donor {
                self.set_next_task(cpu, n);
            }
        }
        if let Some(p) = migrate_prev {
            let dest = class(self.tasks[p.index()].class()).select_task_rq(self, p, cpu, false);
            self.deactivate_task(cpu, p, DEQUEUE_MIGRATING);
            self.set_task_cpu(p, dest);
            self.update_curr(dest);
            self.activate_task(dest, p, ENQUEUE_MIGRATED);
            self.check_preempt(dest, p);
            prev_state = PrevState::Preempted;
        }
        if let Some(n) = next {
            self.finish_handoff(n);
        }
        let switched = next != prev;
        let rq = &mut self.rqs[cpu];
        rq.curr = next;
        rq.donor = next_donor;
        if prev.is_none() != next.is_none() {
            // Idle or no longer: the masks only care whether something runs.
            self.update_cpu_masks(cpu);
        }
        if switched {
            let mut cost = self.cfg.switch_cost_ns;
            if let Some(n) = next {
                let t = &mut self.tasks[n.index()];
                if std::mem::take(&mut t.migrated) {
                    cost += self.cfg.migration_cost_ns;
                }
            }
            let rq = &mut self.rqs[cpu];
            rq.exec_start = self.now;
            rq.busy_until = if next.is_some() {
                self.now + cost
            } else {
                self.now
            };
            let (prev_prio, next_prio) = (self.trace_prio(prev), self.trace_prio(next));
            self.emit(Event::SchedSwitch {
                cpu: cpu as u32,
                prev,
                prev_prio,
                prev_state,
                next,
                next_prio,
                donor: next_donor,
            });
            if let Some(p) = prev.filter(|_| prev_state == PrevState::Dead) {
                let prio = self.tasks[p.index()].prio;
                self.emit(Event::SchedProcessExit { task: p, prio });
            }
        } else if next_donor != prev_donor {
            self.emit(Event::SchedDonor {
                cpu: cpu as u32,
                curr: next,
                donor: next_donor,
            });
        }
        if keep_resched {
            // The chain could not be resolved with `prev` still on this CPU: run the idle task
            // for a moment and pick again at once.
            self.resched_curr(cpu);
        }
        // Balance callbacks: push what cannot run here.
        self.push_tasks(cpu);
        switched
    }

    /// Pick the next donor and the task that runs for it (the same task unless it is blocked
    /// on a mutex under proxy execution). The flag asks for an immediate reschedule.
    fn pick_next_proxied(
        &mut self,
        cpu: usize,
        skip: Option<TaskId>,
        prev: Option<TaskId>,
    ) -> (Option<TaskId>, Option<TaskId>, bool) {
        // Each pick-again changed the world (a task deactivated, parked or migrated); there
        // are finitely many such changes before a pick sticks.
        for _ in 0..=self.tasks.len() + 2 {
            let Some(d) = self.pick_next_task(cpu, skip) else {
                return (None, None, false);
            };
            if !self.task_is_blocked(d) {
                return (Some(d), Some(d), false);
            }
            match self.find_proxy_task(cpu, d, prev) {
                ProxyAction::Run(exec) => return (Some(d), Some(exec), false),
                ProxyAction::Idle { resched } => return (None, None, resched),
                ProxyAction::PickAgain => {}
            }
        }
        unreachable!("find_proxy_task kept asking to pick again on cpu{cpu}")
    }

    /// `pick_next_task()`: the first class with a runnable task wins. `skip` is a running task
    /// that must leave this CPU.
    fn pick_next_task(&mut self, cpu: usize, skip: Option<TaskId>) -> Option<TaskId> {
        for c in ClassId::ALL {
            if let Some(p) = class(c).pick_task(self, cpu) {
                if Some(p) != skip {
                    return Some(p);
                }
                // The only candidate must move away; look past it in this class.
                let picked = self.pick_excluding(cpu, c, p);
                if picked.is_some() {
                    return picked;
                }
            }
        }
        None
    }

    fn pick_excluding(&self, cpu: usize, c: ClassId, skip: TaskId) -> Option<TaskId> {
        let rq = &self.rqs[cpu];
        match c {
            ClassId::Deadline => rq.dl.queued().find(|&p| p != skip),
            ClassId::Rt if rq.rt.rt_throttled => None,
            ClassId::Rt => rq.rt.queued(&self.rt_nodes).find(|&p| p != skip),
            ClassId::Fair => self.cfs_queued(cpu).find(|&p| p != skip),
        }
    }

    // ----- load balancing (fair) ------------------------------------------------------------

    /// Balance interval of a busy CPU: `sd->balance_interval` (the domain's CPU count, in ms)
    /// times `busy_factor` (16), as for one MC/PKG domain spanning every CPU.
    fn busy_balance_interval_ns(&self) -> u64 {
        self.rqs.len() as u64 * 16 * 1_000_000
    }

    /// `sched_balance_trigger()` from the tick: periodic balancing of this CPU, and a NOHZ
    /// kick of an idle CPU when this one has fair work waiting.
    fn trigger_load_balance(&mut self, cpu: usize) {
        // With no fair task in the system the balancer has nothing to move, now or at any
        // tick until one appears. Its next balance then comes at the first tick, rather than
        // on a schedule kept up through ticks that had nothing to do, which the engine skips
        // (`tick_inert_until()`).
        if self.rqs.len() == 1 || self.nr_fair_tasks == 0 {
            return;
        }
        if self.rqs[cpu].cfs.nr_queued >= 2 {
            self.nohz_balancer_kick(cpu);
        }
        if self.now >= self.rqs[cpu].next_balance {
            self.rqs[cpu].next_balance = self.now + self.busy_balance_interval_ns();
            self.periodic_balance(cpu);
        }
    }

    /// An idle CPU pulls from the busiest runqueue on behalf of a busy one.
    fn nohz_balancer_kick(&mut self, busy_cpu: usize) {
        let idle = self
            .idle_cpus
            .iter_wrap(busy_cpu)
            .find(|&c| FairSchedClass::pick_migratable(self, busy_cpu, c).is_some());
        if let Some(c) = idle {
            if self.pull_one(c) {
                self.resched_curr(c);
            }
        }
    }

    /// Move one fair task from the busiest CPU to `cpu` if that reduces the imbalance.
    fn periodic_balance(&mut self, cpu: usize) {
        if self.pull_one(cpu) {
            self.resched_curr(cpu);
        }
    }

    /// `sched_balance_newidle()`: `cpu` is about to go idle; pull a fair task. True if pulled.
    pub(crate) fn newidle_balance(&mut self, cpu: usize) -> bool {
        if self.rqs.len() == 1 {
            return false;
        }
        self.pull_one(cpu)
    }

    /// Pull the least recently run waiting fair task from the CPU with the most fair tasks,
    /// if it has at least two more than `cpu` (ties: lowest CPU id). Sources are tried from
    /// the busiest down, so only the runqueues that could win are searched for a task.
    fn pull_one(&mut self, cpu: usize) -> bool {
        let here = self.rqs[cpu].cfs.nr_queued;
        let nr_queued = |src: usize| self.rqs[src].cfs.nr_queued;
        // Every source with `here + 2` or more fair tasks queued is in the overload mask.
        let sources = || self.cfs_overload_cpus.iter().filter(|&src| src != cpu);
        // Only sources with fewer than `below` fair tasks are left to try.
        let mut below = u32::MAX;
        let (p, src) = loop {
            let busiest = sources()
                .map(nr_queued)
                .filter(|&n| n < below && n >= here + 2)
                .max();
            let Some(n) = busiest else {
                return false;
            };
            let found = sources()
                .filter(|&src| nr_queued(src) == n)
                .find_map(|src| FairSchedClass::pick_migratable(self, src, cpu).map(|p| (p, src)));
            if let Some(found) = found {
                break found;
            }
            below = n;
        };
        self.move_queued_task(p, src, cpu);
        true
    }
}
