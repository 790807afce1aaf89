//! The engine: owns virtual time and the event queue, runs each task's rt-app program on the
//! CPU the core gives it, and turns program actions (run, sleep, timer, suspend ...) into calls
//! on the core.
//!
//! A task's program only advances while the task is the execution context of a CPU. Events that
//! take no time (resume, sem_post, yield ...) run at the instant the task reaches them; if one of
//! them makes the CPU reschedule, the task stops there and continues when it runs again, exactly
//! as a preemption point would behave.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use proxysched_sched::{
    CpuMask, LockResult, MutexId, Sched, SchedAttr, TaskId, TaskState, TimerRequest,
};
use proxysched_trace::{Event as Trace, EventKind, RtappStats, Sink, WakeReason};
use proxysched_workload::{Event, TimerMode, Workload};

use crate::config::RunConfig;
use crate::error::SimError;
use crate::program::{Activation, IterStats, Program, Segment, Step};
use crate::queue::{tick_key, EventQueue, Fired, SimEvent, Ticket};

/// Program steps the engine executes at one instant before it calls the workload stuck in an
/// endless loop of events that take no time.
const MAX_STEPS_PER_INSTANT: u64 = 1_000_000;

/// What a finished run reports besides the tracepoint stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    /// When the simulation stopped.
    pub end_ns: u64,
    /// Simulation events processed (cancelled ones not counted, nor ticks skipped because
    /// they could only have charged the running task).
    pub events: u64,
}

/// Per-CPU engine state: which of its timers are armed.
#[derive(Debug, Default)]
struct CpuSlot {
    /// When the running task's segment ends, and the queue entry armed for it.
    segment: Option<(u64, Ticket)>,
    /// When the DL budget of the running task runs out, and the queue entry armed for it.
    hrtick: Option<(u64, Ticket)>,
    /// When the tick is armed (ticks have no tickets: a CPU names its tick by its time).
    tick: Option<u64>,
    /// Whether the CPU ran a task when it was last serviced.
    busy: bool,
    /// Where in the order of events the CPU last went idle; `None` before it ever ran.
    idle_at: Option<u128>,
    /// The first jiffy the CPU ticks at since it last turned busy.
    ticks_from: u64,
    pending: bool,
}

/// Did the timer slot arm the entry with this ticket (and has not been re-armed or disarmed
/// since)?
fn armed_by(slot: Option<(u64, Ticket)>, ticket: Ticket) -> bool {
    slot.is_some_and(|(_, armed)| armed == ticket)
}

#[derive(Debug, Default)]
struct BarrierState {
    arrived: u32,
    waiters: Vec<TaskId>,
}

#[derive(Debug, Default)]
struct SemState {
    count: u64,
    waiters: VecDeque<TaskId>,
}

enum Flow {
    /// The task runs a segment that ends at this time (if nothing intervenes).
    Segment(u64),
    /// The CPU must reschedule before the task can go on.
    Resched,
}

pub struct Engine<'a> {
    w: &'a Workload,
    cfg: &'a RunConfig,
    /// `cfg.sched.tick_ns()`, read at every tick.
    tick_ns: u64,
    /// The place in the order of events of the one being handled (`Fired::key`).
    position: u128,
    sched: Sched,
    queue: EventQueue,
    now: u64,
    progs: Vec<Program<'a>>,
    /// rt-app's figures of each task's phase iteration in progress, by task; empty when no
    /// sink reads the `rtapp_stats` they end in (most runs: keeping them would add a cache
    /// line per task to every activation).
    iter_stats: Vec<IterStats>,
    cpus: Vec<CpuSlot>,
    pending: VecDeque<usize>,
    /// The CPU whose task is acting; reschedules of other CPUs then cost an IPI.
    context_cpu: Option<usize>,
    timers: Vec<Option<u64>>,
    barriers: Vec<BarrierState>,
    sems: Vec<SemState>,
    suspended: Vec<Vec<TaskId>>,
    cond_waiters: Vec<VecDeque<TaskId>>,
    /// Tasks that warned about unlocking a mutex they do not hold (once each).
    warned_unlock: Vec<bool>,
    /// By task: generation of its current mutex wait, for the hung-task check (out of the
    /// program, whose lines every activation reads).
    lock_gens: Vec<u64>,
    /// Hung-task checks not yet due, oldest first: (due, task, lock generation). Every wait has
    /// the same timeout, so pushing at the back keeps them sorted, and only the front one needs
    /// an entry in the event queue (one entry per blocked lock, alive for two minutes of
    /// simulated time, made the queue thousands of entries deep).
    hung_checks: VecDeque<(u64, TaskId, u64)>,
    live_tasks: usize,
    events: u64,
    steps_at_instant: u64,
    /// rt-app's `desc` of an event (the key it was written under), by its
    /// [`proxysched_workload::EventOrigin::key`], for the `rtapp_event` tracepoint.
    descs: Vec<Arc<str>>,
    /// The `cpus` list of the phase whose affinity each task last got: entering a phase with
    /// the same list again (every iteration of a one-phase task) changes nothing, so the
    /// mask is not rebuilt and compared.
    applied_cpus: Vec<Option<&'a [u32]>>,
    /// Every CPU of the machine, the mask of a phase without `cpus`.
    all_cpus: CpuMask,
    sink: &'a mut dyn Sink,
}

impl<'a> Engine<'a> {
    /// Build the machine and the tasks; nothing has run yet.
    pub fn new(
        w: &'a Workload,
        cfg: &'a RunConfig,
        sink: &'a mut dyn Sink,
    ) -> Result<Engine<'a>, SimError> {
        w.check_cpus(cfg.sched.nr_cpus)?;
        let mut sched = Sched::new(cfg.sched.clone());
        sched.out.wanted = sink.wants();
        for name in &w.mutexes {
            sched.add_mutex(name);
        }
        for spec in &w.tasks {
            // Bandwidth is reserved for the largest DL reservation a task will ever ask for,
            // once, for the whole run.
            let widest = std::iter::once(spec.sched)
                .chain(spec.phases.iter().filter_map(|ph| ph.sched))
                .filter(|a| matches!(a, SchedAttr::Deadline { .. }))
                .max_by_key(dl_bandwidth);
            if let Some(attr) = widest {
                sched.dl_admit(&spec.name, None, attr)?;
            }
        }
        let nr_cpus = cfg.sched.nr_cpus as usize;
        let iter_stats = if sched.out.wanted.contains(EventKind::RtappLoopEnd) {
            vec![IterStats::default(); w.tasks.len()]
        } else {
            Vec::new()
        };
        let mut progs = Vec::with_capacity(w.tasks.len());
        sched.reserve_tasks(w.tasks.len());
        for (i, spec) in w.tasks.iter().enumerate() {
            let cpus = phase_mask(spec.phases.first().and_then(|p| p.cpus.as_deref()), nr_cpus);
            let p = sched.add_task(spec.name.clone(), spec.sched, cpus);
            debug_assert_eq!(p.index(), i);
            // Delivered now, not at the first flush: thousands of tasks' creation events would
            // otherwise grow the outbox to a size it keeps for the whole run.
            sink.record_all(0, &sched.out.events);
            sched.out.events.clear();
            progs.push(Program::new(spec));
        }
        Ok(Engine {
            w,
            cfg,
            tick_ns: cfg.sched.tick_ns(),
            position: 0,
            queue: EventQueue::default(),
            now: 0,
            progs,
            iter_stats,
            cpus: (0..nr_cpus).map(|_| CpuSlot::default()).collect(),
            pending: VecDeque::new(),
            context_cpu: None,
            timers: vec![None; w.timers.len()],
            barriers: w.barriers.iter().map(|_| BarrierState::default()).collect(),
            sems: w.semaphores.iter().map(|_| SemState::default()).collect(),
            suspended: vec![Vec::new(); w.suspend_queues.len()],
            cond_waiters: vec![VecDeque::new(); w.conds.len()],
            warned_unlock: vec![false; w.tasks.len()],
            lock_gens: vec![0; w.tasks.len()],
            hung_checks: VecDeque::new(),
            live_tasks: w.tasks.len(),
            events: 0,
            steps_at_instant: 0,
            descs: event_descs(w),
            applied_cpus: w
                .tasks
                .iter()
                .map(|spec| spec.phases.first().and_then(|p| p.cpus.as_deref()))
                .collect(),
            all_cpus: CpuMask::first_n(nr_cpus),
            sink,
            sched,
        })
    }

    /// The scheduler core, for checks between events.
    pub fn sched(&self) -> &Sched {
        &self.sched
    }

    /// Run to the end; `after_event` is called after every processed event (for invariant
    /// checks).
    pub fn run_with(mut self, mut after_event: impl FnMut(&Sched)) -> Result<RunSummary, SimError> {
        self.emit(Trace::RtappMainStart);
        for i in 0..self.progs.len() {
            self.sched.wake_up_new_task(TaskId(i as u32));
            self.flush();
        }
        self.run_pending()?;
        after_event(&self.sched);
        let limit = self.cfg.duration_ns;
        // An event popped past the end is dropped with the rest of the queue.
        while let Some(fired) = self.queue.pop() {
            let at = fired.at_ns();
            self.position = fired.key;
            if limit.is_some_and(|d| at >= d) || self.live_tasks == 0 {
                break;
            }
            debug_assert!(at >= self.now, "time went backwards");
            if at != self.now {
                self.now = at;
                self.sched.now = at;
                self.steps_at_instant = 0;
            } else {
                // Timers re-armed at the very instant they fire would never let time move.
                self.steps_at_instant += 1;
                if self.steps_at_instant > MAX_STEPS_PER_INSTANT {
                    return Err(SimError::Stuck { at_ns: at });
                }
            }
            if self.handle(fired.event, fired.ticket())? {
                self.events += 1;
                self.run_pending()?;
                after_event(&self.sched);
            }
        }
        let end_ns = match limit {
            Some(d) if self.live_tasks > 0 => d,
            _ => self.now,
        };
        self.now = end_ns;
        self.sched.now = end_ns;
        for cpu in 0..self.cpus.len() {
            self.sched.update_curr(cpu);
        }
        self.emit(Trace::RtappMainEnd);
        self.flush();
        Ok(RunSummary {
            end_ns,
            events: self.events,
        })
    }

    pub fn run(self) -> Result<RunSummary, SimError> {
        self.run_with(|_| {})
    }

    /// Handle one event; false if it was cancelled.
    fn handle(&mut self, ev: SimEvent, ticket: Ticket) -> Result<bool, SimError> {
        match ev {
            SimEvent::SegmentEnd { cpu } => {
                // Every segment that ends at this instant, on any CPU, is finished before any
                // CPU reschedules: each program first steps past its done work (typically into
                // its sleep), then the CPUs schedule. Otherwise the first CPU to schedule could
                // pull from a CPU whose task finished at this same instant; the pull's dequeue
                // accounts that task (`update_curr`, as `dequeue_task_dl` does) with its budget
                // at exactly 0, and throttles it to its next period with nothing left to run.
                let mut finished = u64::from(self.finish_segment(cpu as usize, ticket)?);
                while let Some(
                    fired @ Fired {
                        event: SimEvent::SegmentEnd { cpu },
                        ..
                    },
                ) = self.queue.pop_segment_end_at(self.now)
                {
                    finished += u64::from(self.finish_segment(cpu as usize, fired.ticket())?);
                }
                if finished == 0 {
                    return Ok(false);
                }
                // The caller counts this event; count the others of the batch.
                self.events += finished - 1;
            }
            SimEvent::HrTick { cpu } => {
                let slot = &mut self.cpus[cpu as usize];
                if !armed_by(slot.hrtick, ticket) {
                    return Ok(false);
                }
                slot.hrtick = None;
                self.sched.hrtick(cpu as usize);
                self.mark_pending(cpu as usize);
            }
            SimEvent::Tick { cpu } => {
                let cpu = cpu as usize;
                if self.cpus[cpu].tick != Some(self.now) {
                    return Ok(false);
                }
                self.cpus[cpu].tick = None;
                if self.sched.curr(cpu).is_none() {
                    return Ok(false);
                }
                // Ticks come at jiffies: the next is one tick away.
                let next_jiffy = self.now + self.tick_ns;
                let inert_until = self.tick_inert_until(cpu);
                if inert_until > self.now {
                    // Armed before the CPU changed to what it runs now, which this tick would
                    // only charge: skip it too.
                    self.arm_tick(cpu, next_jiffy, inert_until);
                    return Ok(false);
                }
                self.sched.tick(cpu);
                let inert_until = self.tick_inert_until(cpu);
                self.arm_tick(cpu, next_jiffy, inert_until);
                // Most ticks only charge the running task. Unless one asks for a reschedule
                // (which `resched_curr` also reports through the outbox), the CPU's program
                // and timers are as they were: the segment ends at the same instant, and so
                // does the DL budget. Servicing the CPU anyway cost ~6% of all instructions.
                if self.sched.rq(cpu).need_resched {
                    self.mark_pending(cpu);
                }
            }
            SimEvent::Wake { task } => {
                let prog = &self.progs[task.index()];
                if prog.wake_timer != Some(ticket) {
                    return Ok(false);
                }
                let reason = prog.waiting.unwrap_or(WakeReason::Sleep);
                self.wake(task, reason);
            }
            SimEvent::DlTimer { task } => self.sched.dl_timer(task, self.now),
            SimEvent::MutexWake { task } => self.sched.deferred_wake(task),
            SimEvent::MigrateArrive { task } => self.sched.migrate_arrive(task),
            SimEvent::HungCheck => {
                let (due, task, gen) = self.hung_checks.pop_front().expect("armed for it");
                debug_assert_eq!(due, self.now);
                if let Some(&(next, ..)) = self.hung_checks.front() {
                    self.queue.push(next, SimEvent::HungCheck);
                }
                let t = self.sched.task(task);
                if self.lock_gens[task.index()] != gen
                    || t.blocked_on.is_none()
                    || self.progs[task.index()].exited
                {
                    return Ok(false);
                }
                let mutex = &self.w.mutexes[t.blocked_on.expect("checked").index()];
                let message = format!(
                    "hung task: '{}' has been blocked on mutex '{}' for more than {} s (at t={} ns)",
                    self.sched.task_name(task),
                    mutex,
                    self.cfg.hung_task_timeout_ns / 1_000_000_000,
                    self.now
                );
                self.emit(Trace::Warning { message });
            }
            SimEvent::RtPeriod => self.sched.rt_period_timer(),
            SimEvent::Resched { cpu } => self.mark_pending(cpu as usize),
        }
        self.flush();
        Ok(true)
    }

    /// A segment end of `cpu` fired: if it is still the armed one, let the running task's
    /// program finish its work and take the steps that follow at this instant (without
    /// rescheduling any CPU yet), then queue the CPU for service.
    fn finish_segment(&mut self, cpu: usize, ticket: Ticket) -> Result<bool, SimError> {
        let slot = &mut self.cpus[cpu];
        if !armed_by(slot.segment, ticket) {
            return Ok(false);
        }
        slot.segment = None;
        if let Some(t) = self.sched.curr(cpu) {
            self.context_cpu = Some(cpu);
            let flow = self.advance(t, cpu);
            self.context_cpu = None;
            flow?;
        }
        self.mark_pending(cpu);
        Ok(true)
    }

    // ----- plumbing between the core and the queue ------------------------------------------

    /// Deliver what the core produced: tracepoints to the sink, reschedules to CPUs, timers to
    /// the queue.
    fn flush(&mut self) {
        let out = &mut self.sched.out;
        if !out.events.is_empty() {
            self.sink.record_all(self.now, &out.events);
            out.events.clear();
        }
        // Most calls (after a tick, after a program step) find nothing else to deliver.
        if out.resched.is_empty() && out.timers.is_empty() {
            return;
        }
        let mut resched = std::mem::take(&mut out.resched);
        for &cpu in &resched {
            let cpu = cpu as usize;
            match self.context_cpu {
                Some(ctx) if ctx != cpu && self.cfg.sched.ipi_latency_ns > 0 => {
                    self.queue.push(
                        self.now + self.cfg.sched.ipi_latency_ns,
                        SimEvent::Resched { cpu: cpu as u32 },
                    );
                    // A tick before the IPI lands notices the reschedule: none is skipped.
                    self.tick_soon(cpu);
                }
                _ => self.mark_pending(cpu),
            }
        }
        resched.clear();
        self.sched.out.resched = resched;
        for t in self.sched.out.timers.drain(..) {
            match t {
                TimerRequest::DlReplenish { task, at_ns } => {
                    self.queue.push(at_ns, SimEvent::DlTimer { task })
                }
                TimerRequest::RtPeriod { at_ns } => self.queue.push(at_ns, SimEvent::RtPeriod),
                TimerRequest::MigrateArrive { task, at_ns } => {
                    self.queue.push(at_ns, SimEvent::MigrateArrive { task })
                }
                TimerRequest::Wake { task, at_ns } => {
                    self.queue.push(at_ns, SimEvent::MutexWake { task })
                }
            }
        }
    }

    #[inline]
    fn emit(&mut self, ev: Trace) {
        self.sched.out.emit(ev);
    }

    fn mark_pending(&mut self, cpu: usize) {
        if !self.cpus[cpu].pending {
            self.cpus[cpu].pending = true;
            self.pending.push_back(cpu);
        }
    }

    fn run_pending(&mut self) -> Result<(), SimError> {
        while let Some(cpu) = self.pending.pop_front() {
            self.cpus[cpu].pending = false;
            self.service_cpu(cpu)?;
        }
        Ok(())
    }

    /// Reschedule `cpu` if asked to, then let its running task's program go as far as it can
    /// at this instant, and arm the CPU's timers for what comes next.
    fn service_cpu(&mut self, cpu: usize) -> Result<(), SimError> {
        self.context_cpu = Some(cpu);
        let mut segment_end = None;
        loop {
            if self.sched.rq(cpu).need_resched {
                // Rescheduling that never settles at one instant is a livelock in the model;
                // the budget for program steps catches it.
                self.steps_at_instant += 1;
                if self.steps_at_instant > MAX_STEPS_PER_INSTANT {
                    return Err(SimError::Livelock {
                        cpu: cpu as u32,
                        at_ns: self.now,
                    });
                }
                self.sched.schedule(cpu);
                self.flush();
            }
            let Some(t) = self.sched.curr(cpu) else {
                break;
            };
            match self.advance(t, cpu)? {
                Flow::Segment(end) => {
                    segment_end = Some(end);
                    break;
                }
                Flow::Resched => {
                    debug_assert!(self.sched.rq(cpu).need_resched);
                }
            }
        }
        self.context_cpu = None;
        self.arm_cpu_timers(cpu, segment_end);
        Ok(())
    }

    fn arm_cpu_timers(&mut self, cpu: usize, segment_end: Option<u64>) {
        let cpu_id = cpu as u32;
        let slot = &mut self.cpus[cpu];
        if slot.segment.map(|(at, _)| at) != segment_end {
            // Forgetting the old ticket cancels the old entry.
            slot.segment = segment_end
                .map(|at| (at, self.queue.arm(at, SimEvent::SegmentEnd { cpu: cpu_id })));
        }
        let hrtick = self.sched.hrtick_at(cpu);
        let slot = &mut self.cpus[cpu];
        if slot.hrtick.map(|(at, _)| at) != hrtick {
            slot.hrtick =
                hrtick.map(|at| (at, self.queue.arm(at, SimEvent::HrTick { cpu: cpu_id })));
        }
        self.arm_tick_after_service(cpu);
    }

    /// Keep the tick of `cpu` going as NOHZ idle would, now that it has been serviced: a busy
    /// CPU ticks at every jiffy; an idle one stops at its first tick that finds it idle, and
    /// starts again at the jiffy after it turns busy. With inert ticks skipped, the one armed
    /// is the first of those that might do more than charge the running task.
    fn arm_tick_after_service(&mut self, cpu: usize) {
        let busy = self.sched.curr(cpu).is_some();
        let slot = &self.cpus[cpu];
        if busy != slot.busy {
            if !busy {
                let slot = &mut self.cpus[cpu];
                slot.busy = false;
                slot.idle_at = Some(self.position);
                return;
            }
            // Turned busy: a tick that came while the CPU idled stopped its ticks.
            let stopped = slot.idle_at.is_none_or(|idle| {
                tick_key(self.first_jiffy_after(idle, cpu), cpu) < self.position
            });
            let ticks_from = if stopped {
                (self.now / self.tick_ns + 1) * self.tick_ns
            } else {
                self.first_jiffy_after(self.position, cpu)
            };
            let due = self.first_tick_from(ticks_from, self.tick_inert_until(cpu));
            let slot = &mut self.cpus[cpu];
            slot.busy = true;
            slot.ticks_from = ticks_from;
            // Whatever else was armed goes (mostly, the tick armed before is still the one).
            if slot.tick != due {
                self.set_tick(cpu, due);
            }
            return;
        }
        if !busy {
            return;
        }
        // Still busy. No jiffy comes before a tick armed within one tick from now, but for
        // now itself; otherwise the tick may have to come sooner, now that the CPU runs
        // something else or in another state. (One armed too soon finds nothing to do.)
        let armed = slot.tick;
        if armed.is_some_and(|at| at < self.now + self.tick_ns) {
            return;
        }
        let from = self.next_tick_of_busy(cpu);
        if armed.is_some_and(|at| at <= from) {
            return;
        }
        let due = self.first_tick_from(from, self.tick_inert_until(cpu));
        if due.is_some_and(|due| armed.is_none_or(|at| at > due)) {
            self.set_tick(cpu, due);
        }
    }

    /// The first jiffy at which busy `cpu` has a tick still to come, skipped or not.
    fn next_tick_of_busy(&self, cpu: usize) -> u64 {
        self.cpus[cpu]
            .ticks_from
            .max(self.first_jiffy_after(self.position, cpu))
    }

    /// Arm the tick of `cpu` at `at` (none if `None`); an entry armed before is forgotten.
    fn set_tick(&mut self, cpu: usize, at: Option<u64>) {
        self.cpus[cpu].tick = at;
        if let Some(at) = at {
            self.queue.push_tick(at, cpu as u32);
        }
    }

    /// The first jiffy whose tick of `cpu` comes after the event at `position`.
    fn first_jiffy_after(&self, position: u128, cpu: usize) -> u64 {
        let at = (position >> 64) as u64;
        let jiffy = at.div_ceil(self.tick_ns) * self.tick_ns;
        if tick_key(jiffy, cpu) > position {
            jiffy
        } else {
            jiffy + self.tick_ns
        }
    }

    /// Until when the ticks of busy `cpu` would only charge its running task (see
    /// [`Sched::tick_inert_until`]): those are skipped, unless every tick is to be processed.
    /// Each would have added to the running task's counters, which the next `update_curr()`
    /// brings to the same values in one step. Skipped ticks are not counted in `events`.
    /// (A tick also notices a reschedule asked for by another CPU whose IPI is still on its
    /// way: see `flush`.)
    #[inline(always)]
    fn tick_inert_until(&self, cpu: usize) -> u64 {
        if self.cfg.skip_inert_ticks && !self.sched.rq(cpu).need_resched {
            self.sched.tick_inert_until(cpu)
        } else {
            self.now
        }
    }

    /// Make sure busy `cpu` does not skip its next tick.
    fn tick_soon(&mut self, cpu: usize) {
        if !self.cpus[cpu].busy {
            return;
        }
        let from = self.next_tick_of_busy(cpu);
        if self.cpus[cpu].tick.is_none_or(|at| at > from) {
            self.set_tick(cpu, Some(from));
        }
    }

    /// The first jiffy from `next_jiffy` on that is not before `inert_until`; `None` if there
    /// is none.
    fn first_tick_from(&self, next_jiffy: u64, inert_until: u64) -> Option<u64> {
        if inert_until <= next_jiffy {
            return Some(next_jiffy);
        }
        inert_until.div_ceil(self.tick_ns).checked_mul(self.tick_ns)
    }

    /// Arm the tick of busy `cpu` for the first jiffy from `next_jiffy` on that is not before
    /// `inert_until`.
    fn arm_tick(&mut self, cpu: usize, next_jiffy: u64, inert_until: u64) {
        self.set_tick(cpu, self.first_tick_from(next_jiffy, inert_until));
    }

    // ----- task programs ----------------------------------------------------------------------

    /// Run `t`'s program on `cpu` until it starts a segment that takes time or the CPU must
    /// reschedule.
    fn advance(&mut self, t: TaskId, cpu: usize) -> Result<Flow, SimError> {
        if let Some(iter) = self.iter_stats.get_mut(t.index()) {
            if let Some(expiry) = iter.timer_wake.take() {
                // rt-app measures a timer's wakeup latency when the thread runs again.
                iter.wu_lat_ns += self.now.saturating_sub(expiry);
            }
        }
        loop {
            match self.progs[t.index()].segment {
                Segment::Work { until_exec } => {
                    let done = self.sched.exec_runtime(t);
                    if done < until_exec {
                        return Ok(Flow::Segment(
                            self.sched.runs_from(cpu).max(self.now) + (until_exec - done),
                        ));
                    }
                    self.progs[t.index()].segment = Segment::None;
                    self.end_run_event(t);
                }
                Segment::Wall { until } => {
                    if self.now < until {
                        return Ok(Flow::Segment(until));
                    }
                    self.progs[t.index()].segment = Segment::None;
                    self.end_run_event(t);
                }
                Segment::None => {}
            }
            if self.sched.rq(cpu).need_resched {
                return Ok(Flow::Resched);
            }
            self.steps_at_instant += 1;
            if self.steps_at_instant > MAX_STEPS_PER_INSTANT {
                return Err(SimError::NoProgress {
                    task: self.sched.task_name(t).to_string(),
                    at_ns: self.now,
                });
            }
            if let Some(m) = self.progs[t.index()].take_reacquire() {
                // Back from a condition wait: take the mutex again before going on.
                self.lock(t, cpu, m);
                self.flush();
                continue;
            }
            let step = self.progs[t.index()].next_step(self.w, t.index());
            match step {
                Step::Start => {
                    self.emit(Trace::RtappTaskStart {
                        task: t,
                        cpu: cpu as u32,
                    });
                    self.start_program(t, cpu)
                }
                Step::EnterPhase { sched, cpus } => {
                    if let Some(attr) = sched {
                        self.sched.sched_setattr(t, attr);
                    }
                    if self.applied_cpus[t.index()] != cpus {
                        self.applied_cpus[t.index()] = cpus;
                        let mask = match cpus {
                            Some(list) => phase_mask(Some(list), self.cpus.len()),
                            None => self.all_cpus.clone(),
                        };
                        self.sched.set_cpus_allowed(t, &mask);
                    }
                    self.start_iteration(t, cpu);
                }
                Step::EnterPhaseAgain => self.start_iteration(t, cpu),
                Step::Event(ev) => {
                    self.trace_rtapp_event(t, cpu, ev);
                    self.execute(t, cpu, ev)
                }
                Step::EndPhase => self.end_iteration(t, cpu),
                Step::Exit => {
                    self.emit(Trace::RtappTaskEnd {
                        task: t,
                        cpu: cpu as u32,
                    });
                    self.end_activation(t, None);
                    self.progs[t.index()].exited = true;
                    self.live_tasks -= 1;
                    self.sched.set_current_state(cpu, TaskState::Dead);
                }
            }
            self.flush();
        }
    }

    fn start_program(&mut self, t: TaskId, cpu: usize) {
        let delay = self.w.tasks[t.index()].delay_ns;
        if delay > self.now {
            // rt-app sleeps the task's `delay` before its first phase; the first activation
            // starts when that sleep ends.
            self.progs[t.index()].activation = Activation::Pending { release_ns: delay };
            self.sleep_until(t, cpu, delay, WakeReason::Sleep);
        } else {
            // Every thread starts when it was created (plus its delay), not when it first runs.
            self.start_activation(t, delay);
        }
    }

    fn execute(&mut self, t: TaskId, cpu: usize, ev: Event) {
        let now = self.now;
        match ev {
            Event::Run { work_ns } => {
                self.start_run_event(t, work_ns);
                if work_ns > 0 {
                    let until_exec = self.sched.exec_runtime(t) + work_ns;
                    self.progs[t.index()].segment = Segment::Work { until_exec };
                }
            }
            Event::Runtime { wall_ns } => {
                self.start_run_event(t, wall_ns);
                if wall_ns > 0 {
                    let until = now + wall_ns;
                    self.progs[t.index()].segment = Segment::Wall { until };
                }
            }
            Event::Sleep { ns } => {
                if ns > 0 {
                    self.block_aperiodic(t);
                    self.sleep_until(t, cpu, now + ns, WakeReason::Sleep);
                }
            }
            Event::Timer {
                timer,
                period_ns,
                mode,
            } => self.timer(t, cpu, timer.0 as usize, period_ns, mode),
            Event::Yield => self.sched.yield_current(cpu),
            Event::Suspend { queue } => {
                self.block_aperiodic(t);
                self.suspended[queue.0 as usize].push(t);
                self.wait(t, cpu, WakeReason::Suspend);
            }
            Event::Resume { queue } => {
                for w in std::mem::take(&mut self.suspended[queue.0 as usize]) {
                    self.wake(w, WakeReason::Suspend);
                }
            }
            Event::Barrier { barrier } => {
                let parties = self.w.barriers[barrier.0 as usize].parties;
                let b = &mut self.barriers[barrier.0 as usize];
                b.arrived += 1;
                if b.arrived >= parties {
                    b.arrived = 0;
                    for w in std::mem::take(&mut b.waiters) {
                        self.wake(w, WakeReason::Barrier);
                    }
                } else {
                    b.waiters.push(t);
                    self.block_aperiodic(t);
                    self.wait(t, cpu, WakeReason::Barrier);
                }
            }
            Event::SemPost { sem } => {
                let s = &mut self.sems[sem.0 as usize];
                match s.waiters.pop_front() {
                    Some(w) => self.wake(w, WakeReason::Semaphore),
                    None => s.count += 1,
                }
            }
            Event::SemWait { sem } => {
                let s = &mut self.sems[sem.0 as usize];
                if s.count > 0 {
                    s.count -= 1;
                } else {
                    s.waiters.push_back(t);
                    self.block_aperiodic(t);
                    self.wait(t, cpu, WakeReason::Semaphore);
                }
            }
            Event::Lock { mutex } => self.lock(t, cpu, mutex),
            Event::Unlock { mutex } => self.unlock(t, cpu, mutex),
            Event::Wait { cond, mutex } => self.cond_wait(t, cpu, cond.0 as usize, mutex),
            Event::Signal { cond } => self.cond_signal(cond.0 as usize, false),
            Event::Broadcast { cond } => self.cond_signal(cond.0 as usize, true),
            Event::Sync { cond, mutex } => {
                self.cond_signal(cond.0 as usize, false);
                self.cond_wait(t, cpu, cond.0 as usize, mutex);
            }
        }
    }

    fn lock(&mut self, t: TaskId, cpu: usize, m: MutexId) {
        let timeout = self.cfg.hung_task_timeout_ns;
        if self.sched.mutex_lock(cpu, m) == LockResult::Blocked && timeout > 0 {
            self.lock_gens[t.index()] += 1;
            let due = self.now.saturating_add(timeout);
            if self.hung_checks.is_empty() {
                self.queue.push(due, SimEvent::HungCheck);
            }
            if self.hung_checks.len() == self.hung_checks.capacity() {
                self.forget_finished_hung_checks();
            }
            self.hung_checks
                .push_back((due, t, self.lock_gens[t.index()]));
        }
    }

    /// Drop the pending hung-task checks of waits that are over for good (the task waited
    /// again since, or exited): they would report nothing. Every wait stays in the FIFO for
    /// the whole timeout (two minutes), so a run with frequent contention would otherwise
    /// hold one entry per lock wait of the last two minutes. Called when the FIFO is full;
    /// it grows only if that frees less than half, so the cost per wait stays O(1). The
    /// front entry stays: the queue holds the event for its due time.
    fn forget_finished_hung_checks(&mut self) {
        let (progs, lock_gens) = (&self.progs, &self.lock_gens);
        let mut front = true;
        self.hung_checks.retain(|&(_, task, gen)| {
            let keep = front || (lock_gens[task.index()] == gen && !progs[task.index()].exited);
            front = false;
            keep
        });
        let capacity = self.hung_checks.capacity();
        if self.hung_checks.len() > capacity / 2 {
            self.hung_checks.reserve(capacity.max(1));
        }
    }

    fn unlock(&mut self, t: TaskId, cpu: usize, m: MutexId) {
        if !self.sched.mutex_unlock(cpu, m) && !self.warned_unlock[t.index()] {
            self.warned_unlock[t.index()] = true;
            let message = format!(
                "task '{}' unlocks mutex '{}' which it does not hold; the unlock is ignored \
                 (reported once per task)",
                self.sched.task_name(t),
                self.w.mutexes[m.index()]
            );
            self.emit(Trace::Warning { message });
        }
    }

    /// `pthread_cond_wait()`: release the mutex, sleep until signalled, take the mutex again.
    fn cond_wait(&mut self, t: TaskId, cpu: usize, cond: usize, m: MutexId) {
        self.unlock(t, cpu, m);
        self.block_aperiodic(t);
        self.cond_waiters[cond].push_back(t);
        self.progs[t.index()].set_reacquire(m);
        self.wait(t, cpu, WakeReason::Cond);
    }

    /// `pthread_cond_signal()`/`broadcast()`: wake one or every waiter; nobody waiting, the
    /// signal is lost (rt-app semantics).
    fn cond_signal(&mut self, cond: usize, all: bool) {
        while let Some(w) = self.cond_waiters[cond].pop_front() {
            self.wake(w, WakeReason::Cond);
            if !all {
                break;
            }
        }
    }

    /// rt-app's `timer`: wait for the timer's next expiry on its absolute grid.
    fn timer(&mut self, t: TaskId, cpu: usize, timer: usize, period_ns: u64, mode: TimerMode) {
        let now = self.now;
        let w = self.w;
        // The grid starts at the task's start, read once: the spec is cold by now.
        let t_next = self.timers[timer].get_or_insert_with(|| w.tasks[t.index()].delay_ns);
        *t_next += period_ns;
        let expiry = *t_next;
        if mode == TimerMode::Relative && *t_next < now {
            *t_next = now;
        }
        let wake_at = *t_next;
        // rt-app's figures: the slack is measured against the expiry, before a relative
        // timer is reset; a timer reached late zeroes the wakeup latency.
        if let Some(iter) = self.iter_stats.get_mut(t.index()) {
            iter.c_period_ns += period_ns;
            iter.slack_ns = expiry as i64 - now as i64;
            if wake_at > now {
                iter.timer_wake = Some(wake_at);
            } else {
                iter.wu_lat_ns = 0;
            }
        }
        // One period of a timer task ends here; it should have ended by the expiry.
        self.end_activation(t, Some(expiry));
        if wake_at > now {
            self.progs[t.index()].activation = Activation::Pending {
                release_ns: wake_at,
            };
            self.sleep_until(t, cpu, wake_at, WakeReason::Timer);
        } else {
            self.start_activation(t, wake_at);
        }
    }

    fn sleep_until(&mut self, t: TaskId, cpu: usize, at: u64, reason: WakeReason) {
        self.wait(t, cpu, reason);
        self.progs[t.index()].wake_timer = Some(self.queue.arm(at, SimEvent::Wake { task: t }));
    }

    /// The running task `t` goes to sleep until something wakes it.
    fn wait(&mut self, t: TaskId, cpu: usize, reason: WakeReason) {
        let prog = &mut self.progs[t.index()];
        prog.wake_timer = None;
        prog.waiting = Some(reason);
        self.sched.set_current_state(cpu, TaskState::Sleeping);
    }

    fn wake(&mut self, t: TaskId, reason: WakeReason) {
        let prog = &mut self.progs[t.index()];
        if prog.waiting.is_none() {
            return;
        }
        prog.waiting = None;
        prog.wake_timer = None;
        self.sched.try_to_wake_up(t, reason);
        match self.progs[t.index()].activation {
            Activation::Pending { release_ns } => self.start_activation(t, release_ns),
            _ if !self.progs[t.index()].periodic => self.start_activation(t, self.now),
            _ => {}
        }
    }

    // ----- rt-app's markers and statistics -----------------------------------------------------

    /// A `run` or `runtime` event of `duration_ns` starts: rt-app's figures count it.
    fn start_run_event(&mut self, t: TaskId, duration_ns: u64) {
        if let Some(iter) = self.iter_stats.get_mut(t.index()) {
            iter.c_duration_ns += duration_ns;
            if duration_ns > 0 {
                iter.run_from = Some((self.now, self.sched.exec_runtime(t)));
            }
        }
    }

    /// A `run` or `runtime` event is over: account its wall time and the CPU time it got.
    fn end_run_event(&mut self, t: TaskId) {
        let Some(iter) = self.iter_stats.get_mut(t.index()) else {
            return;
        };
        if let Some((wall0, exec0)) = iter.run_from.take() {
            iter.run_ns += self.now - wall0;
            iter.perf_ns += self.sched.exec_runtime(t).saturating_sub(exec0);
        }
    }

    fn start_iteration(&mut self, t: TaskId, cpu: usize) {
        if let Some(iter) = self.iter_stats.get_mut(t.index()) {
            *iter = IterStats {
                start_ns: self.now,
                ..IterStats::default()
            };
        }
        let (thread_loop, phase, phase_loop) = self.progs[t.index()].loop_position();
        self.emit(Trace::RtappLoopStart {
            task: t,
            cpu: cpu as u32,
            thread_loop,
            phase: phase as u32,
            phase_loop,
        });
    }

    fn end_iteration(&mut self, t: TaskId, cpu: usize) {
        let Some(it) = self.iter_stats.get(t.index()) else {
            return;
        };
        let (thread_loop, phase, phase_loop) = self.progs[t.index()].loop_position();
        let stats = RtappStats {
            perf_ns: it.perf_ns,
            run_ns: it.run_ns,
            period_ns: self.now - it.start_ns,
            start_ns: it.start_ns,
            end_ns: self.now,
            slack_ns: it.slack_ns,
            c_duration_ns: it.c_duration_ns,
            c_period_ns: it.c_period_ns,
            wu_lat_ns: it.wu_lat_ns,
        };
        self.emit(Trace::RtappLoopEnd {
            task: t,
            cpu: cpu as u32,
            thread_loop,
            phase: phase as u32,
            phase_loop,
            stats,
        });
    }

    fn trace_rtapp_event(&mut self, t: TaskId, cpu: usize, ev: Event) {
        // Finding the desc reads the workload's event origins and counts a reference: work
        // (and cache lines) a run without a trace should not pay at every step.
        if !self.sched.out.wanted.contains(EventKind::RtappEvent) {
            return;
        }
        let prog = &self.progs[t.index()];
        let (phase, id) = prog.event_position();
        let key = self.w.tasks[t.index()].phases[phase].event_origins[id].key;
        let desc = self.descs[key as usize].clone();
        self.emit(Trace::RtappEvent {
            task: t,
            cpu: cpu as u32,
            id: id as u32,
            kind: event_kind(&ev),
            desc,
        });
    }

    // ----- activations ------------------------------------------------------------------------

    fn start_activation(&mut self, t: TaskId, release_ns: u64) {
        let deadline_ns = match self.sched.task(t).attr {
            SchedAttr::Deadline { deadline_ns, .. } => Some(release_ns + deadline_ns),
            _ => None,
        };
        self.progs[t.index()].activation = Activation::Open {
            dl_deadline_ns: deadline_ns,
        };
        self.emit(Trace::ActivationStart {
            task: t,
            release_ns,
            deadline_ns,
        });
    }

    /// End the current activation; `timer_deadline` is the timer expiry it had to beat.
    fn end_activation(&mut self, t: TaskId, timer_deadline: Option<u64>) {
        let Activation::Open { dl_deadline_ns } = self.progs[t.index()].activation else {
            return;
        };
        self.progs[t.index()].activation = Activation::Closed;
        let deadline_ns = dl_deadline_ns.or(timer_deadline);
        let missed = deadline_ns.is_some_and(|d| self.now > d);
        self.emit(Trace::ActivationEnd {
            task: t,
            deadline_ns,
            missed,
        });
    }

    /// A task without a timer ends an activation whenever it blocks.
    fn block_aperiodic(&mut self, t: TaskId) {
        if !self.progs[t.index()].periodic {
            self.end_activation(t, None);
        }
    }
}

/// rt-app's `desc` of each event key: the last component of the key it was written under.
/// Equal descs share one allocation, so the tracepoint's reference count touches memory that
/// stays in cache.
fn event_descs(w: &Workload) -> Vec<Arc<str>> {
    let mut interned: BTreeMap<&str, Arc<str>> = BTreeMap::new();
    w.event_keys
        .iter()
        .map(|key| {
            let desc = key.rsplit('.').next().unwrap_or(key);
            interned
                .entry(desc)
                .or_insert_with(|| Arc::from(desc))
                .clone()
        })
        .collect()
}

/// The event's name in rt-app's grammar.
fn event_kind(ev: &Event) -> &'static str {
    match ev {
        Event::Run { .. } => "run",
        Event::Runtime { .. } => "runtime",
        Event::Sleep { .. } => "sleep",
        Event::Timer { .. } => "timer",
        Event::Yield => "yield",
        Event::Suspend { .. } => "suspend",
        Event::Resume { .. } => "resume",
        Event::Barrier { .. } => "barrier",
        Event::SemPost { .. } => "sem_post",
        Event::SemWait { .. } => "sem_wait",
        Event::Lock { .. } => "lock",
        Event::Unlock { .. } => "unlock",
        Event::Wait { .. } => "wait",
        Event::Signal { .. } => "signal",
        Event::Broadcast { .. } => "broad",
        Event::Sync { .. } => "sync",
    }
}

fn dl_bandwidth(a: &SchedAttr) -> u64 {
    match *a {
        SchedAttr::Deadline {
            runtime_ns,
            period_ns,
            ..
        } => proxysched_sched::attr::to_ratio(period_ns, runtime_ns),
        _ => 0,
    }
}

fn phase_mask(cpus: Option<&[u32]>, nr_cpus: usize) -> CpuMask {
    match cpus {
        Some(list) => CpuMask::from_cpus(list.iter().map(|&c| c as usize)),
        None => CpuMask::first_n(nr_cpus),
    }
}
