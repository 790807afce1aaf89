//! Property tests for the scheduler core, driven directly through its public API.
//!
//! A [`Driver`] plays the engine's part (`crates/sim/src/engine.rs`): it owns virtual time and
//! a queue of timed events (ticks at HZ on busy CPUs, `HRTICK_DL`, DL replenishment and RT
//! period timers, IPI-delayed mutex wakeups, migrations and reschedules), delivers what the
//! core puts in its `Outbox` the way `flush()` does, and services CPUs the way
//! `service_cpu()` does: a CPU whose `need_resched` is set runs `schedule()` before anything
//! else happens on it. Tasks act only as the running task of a CPU (`curr`) with no
//! reschedule pending there, as rt-app programs do in the engine.
//!
//! Proptest draws a machine (1–4 CPUs, proxy level, IPI latency, RT throttling, `HRTICK_DL`,
//! overheads) for each inheritance mode and a sequence of operations: spawn tasks of random
//! classes and affinities, lock and unlock three mutexes, sleep (until woken or for a while),
//! wake, yield, exit, change affinity or attributes, let time pass. After every operation and
//! every timed event it checks `check_invariants()` and the properties of [`Driver::check`].
//! `PROPTEST_CASES` and `PROPTEST_MAX_SHRINK_ITERS` override the case and shrink counts,
//! `PROPTEST_RNG_SEED` fixes the seed.
//!
//! Two core bugs these properties found are fixed and kept as end-to-end regression tests
//! (crates/cli/tests/integration/regressions.rs): a lock owner running as its donor's proxy
//! whose affinity moves it away, and a zero DL budget with `HRTICK_DL` re-arming the hrtick
//! at one instant forever.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use proxysched_sched::{
    ClassId, CpuMask, Inherit, MutexId, PlantedBug, Policy, ProxyLevel, Sched, SchedAttr,
    SchedConfig, TaskId, TaskState, TimerRequest,
};
use proxysched_trace::{Event, WakeReason};

const NR_MUTEXES: u32 = 3;
const MAX_TASKS: usize = 8;
/// `schedule()` calls one service of a CPU may take before we call it a livelock (the
/// engine allows a million at one instant; the core needs a handful).
const MAX_SCHEDULES_PER_SERVICE: u32 = 1000;
/// Timed events at one instant before we call it a livelock: the engine would spin forever.
const MAX_EVENTS_PER_INSTANT: u64 = 10_000;

// ----- the operations ------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Fair {
        policy: Policy,
        nice: i32,
    },
    Rt {
        policy: Policy,
        prio: u32,
    },
    /// Microseconds; runtime <= deadline <= period.
    Dl {
        runtime: u32,
        deadline: u32,
        period: u32,
    },
}

impl Class {
    fn attr(self) -> SchedAttr {
        match self {
            Class::Fair { policy, nice } => SchedAttr::Fair {
                policy,
                nice,
                slice_ns: None,
            },
            Class::Rt { policy, prio } => SchedAttr::Rt {
                policy,
                rt_priority: prio,
            },
            Class::Dl {
                runtime,
                deadline,
                period,
            } => SchedAttr::Deadline {
                runtime_ns: runtime as u64 * 1000,
                deadline_ns: deadline as u64 * 1000,
                period_ns: period as u64 * 1000,
            },
        }
    }
}

/// CPU, task and mutex numbers are taken modulo what exists when the operation runs, so every
/// shrunk sequence is still meaningful. An operation whose preconditions do not hold (an idle
/// CPU, a reschedule pending there, a task not asleep ...) does nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `fork()` + `wake_up_new_task()`; `cpus` is an affinity bitmap (0: every CPU).
    Spawn {
        class: Class,
        cpus: u8,
    },
    /// The running task of `cpu` locks a mutex (never one it holds).
    Lock {
        cpu: u8,
        m: u8,
    },
    /// The running task of `cpu` unlocks one of the mutexes it holds, or, holding none,
    /// mutex `which` (which it does not own: a no-op the core must refuse).
    Unlock {
        cpu: u8,
        which: u8,
    },
    /// The running task of `cpu` sleeps until woken by [`Op::Wake`], or for `for_us`.
    Sleep {
        cpu: u8,
        for_us: Option<u16>,
    },
    /// Wake a task that sleeps (not one blocked on a mutex), from a timer or from the running
    /// task of a CPU (rt-app's `resume`, `sem_post` ...).
    Wake {
        task: u8,
        from: Option<u8>,
    },
    Yield {
        cpu: u8,
    },
    /// The running task of `cpu` exits, whatever it holds.
    Exit {
        cpu: u8,
    },
    /// The running task of `cpu` changes its affinity (never a DL task's).
    SetAffinity {
        cpu: u8,
        cpus: u8,
    },
    /// The running task of `cpu` changes its attributes (DL only within admission control
    /// and with every CPU allowed).
    SetAttr {
        cpu: u8,
        class: Class,
    },
    /// Time passes: every timed event up to then happens, in order.
    Advance {
        us: u16,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Machine {
    nr_cpus: u32,
    inherit: Inherit,
    proxy_level: ProxyLevel,
    ipi_latency_ns: u64,
    rt_throttling: bool,
    hrtick_dl: bool,
    /// Context-switch and migration cost (both), ns.
    cost_ns: u64,
}

impl Machine {
    fn config(&self) -> SchedConfig {
        SchedConfig {
            nr_cpus: self.nr_cpus,
            hz: 1000,
            rt_throttling: self.rt_throttling,
            // A short RT period so that throttling happens within a test case.
            rt_runtime_ns: 9_500_000,
            rt_period_ns: 10_000_000,
            switch_cost_ns: self.cost_ns,
            migration_cost_ns: self.cost_ns,
            hrtick_dl: self.hrtick_dl,
            inherit: self.inherit,
            proxy_level: self.proxy_level,
            ipi_latency_ns: self.ipi_latency_ns,
            planted_bug: None,
        }
    }
}

// ----- the engine's part -------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Tick { cpu: u32 },
    HrTick { cpu: u32, gen: u64 },
    DlTimer { task: u32 },
    RtPeriod,
    MutexWake { task: u32 },
    MigrateArrive { task: u32 },
    Resched { cpu: u32 },
    SleepEnd { task: u32, gen: u64 },
}

struct Driver {
    s: Sched,
    cost: bool,
    queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    pending: VecDeque<usize>,
    is_pending: Vec<bool>,
    context: Option<usize>,
    tick_armed: Vec<bool>,
    hrtick: Vec<(u64, Option<u64>)>,
    /// Sleeping by its own choice (not on a mutex), and the generation of that sleep.
    asleep: Vec<bool>,
    sleep_gen: Vec<u64>,
    /// CPU-time the machine had: the sum over CPUs of the time they had a `curr`.
    busy_ns: u64,
    /// Timed events handled at the current instant.
    events_now: u64,
    /// The last timed events, for messages.
    recent: VecDeque<Ev>,
    /// How often each proxy-execution case happened (coverage).
    proxy_cases: BTreeMap<&'static str, u64>,
}

type Check = Result<(), String>;

impl Driver {
    fn new(m: &Machine) -> Driver {
        let mut s = Sched::new(m.config());
        for i in 0..NR_MUTEXES {
            s.add_mutex(&format!("m{i}"));
        }
        let n = m.nr_cpus as usize;
        Driver {
            s,
            cost: m.cost_ns > 0,
            queue: BinaryHeap::new(),
            seq: 0,
            pending: VecDeque::new(),
            is_pending: vec![false; n],
            context: None,
            tick_armed: vec![false; n],
            hrtick: vec![(0, None); n],
            asleep: Vec::new(),
            sleep_gen: Vec::new(),
            busy_ns: 0,
            events_now: 0,
            recent: VecDeque::new(),
            proxy_cases: BTreeMap::new(),
        }
    }

    fn nr_cpus(&self) -> usize {
        self.s.nr_cpus()
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, ev)));
    }

    fn set_now(&mut self, at: u64) -> Check {
        if at < self.s.now {
            return Err(format!("time went backwards: {} -> {at}", self.s.now));
        }
        let busy = (0..self.nr_cpus())
            .filter(|&c| self.s.curr(c).is_some())
            .count() as u64;
        self.busy_ns += busy * (at - self.s.now);
        if at == self.s.now {
            self.events_now += 1;
            if self.events_now > MAX_EVENTS_PER_INSTANT {
                return Err(format!(
                    "timed events keep coming at t={at}: ... {:?}",
                    self.recent
                ));
            }
        } else {
            self.events_now = 0;
        }
        self.s.now = at;
        Ok(())
    }

    /// The engine's `flush()`: reschedules to CPUs (by IPI from another CPU's context),
    /// timers to the queue. Tracepoints are dropped.
    fn flush(&mut self) {
        for ev in self.s.out.events.drain(..) {
            if let Event::ProxyCase { case, .. } = ev {
                *self.proxy_cases.entry(case).or_default() += 1;
            }
        }
        let resched = std::mem::take(&mut self.s.out.resched);
        let ipi = self.s.cfg.ipi_latency_ns;
        for cpu in resched {
            match self.context {
                Some(ctx) if ctx != cpu as usize && ipi > 0 => {
                    self.push(self.s.now + ipi, Ev::Resched { cpu })
                }
                _ => self.mark_pending(cpu as usize),
            }
        }
        let timers = std::mem::take(&mut self.s.out.timers);
        for t in timers {
            match t {
                TimerRequest::DlReplenish { task, at_ns } => {
                    self.push(at_ns, Ev::DlTimer { task: task.0 })
                }
                TimerRequest::RtPeriod { at_ns } => self.push(at_ns, Ev::RtPeriod),
                TimerRequest::Wake { task, at_ns } => {
                    self.push(at_ns, Ev::MutexWake { task: task.0 })
                }
                TimerRequest::MigrateArrive { task, at_ns } => {
                    self.push(at_ns, Ev::MigrateArrive { task: task.0 })
                }
            }
        }
    }

    fn mark_pending(&mut self, cpu: usize) {
        if !self.is_pending[cpu] {
            self.is_pending[cpu] = true;
            self.pending.push_back(cpu);
        }
    }

    fn run_pending(&mut self) -> Check {
        while let Some(cpu) = self.pending.pop_front() {
            self.is_pending[cpu] = false;
            self.service_cpu(cpu)?;
        }
        Ok(())
    }

    /// The engine's `service_cpu()` for a task whose program has nothing more to do at this
    /// instant: reschedule as long as asked, then arm the CPU's timers.
    fn service_cpu(&mut self, cpu: usize) -> Check {
        self.context = Some(cpu);
        let mut schedules = 0;
        loop {
            if self.s.rq(cpu).need_resched {
                schedules += 1;
                if schedules > MAX_SCHEDULES_PER_SERVICE {
                    return Err(format!("cpu{cpu} keeps rescheduling at t={}", self.s.now));
                }
                self.s.schedule(cpu);
                self.flush();
            }
            if self.s.curr(cpu).is_none() || !self.s.rq(cpu).need_resched {
                break;
            }
        }
        self.context = None;
        let hrtick = self.s.hrtick_at(cpu);
        if self.hrtick[cpu].1 != hrtick {
            self.hrtick[cpu].0 += 1;
            self.hrtick[cpu].1 = hrtick;
            if let Some(at) = hrtick {
                let gen = self.hrtick[cpu].0;
                self.push(
                    at.max(self.s.now),
                    Ev::HrTick {
                        cpu: cpu as u32,
                        gen,
                    },
                );
            }
        }
        if self.s.curr(cpu).is_some() && !self.tick_armed[cpu] {
            self.tick_armed[cpu] = true;
            let tick = self.s.cfg.tick_ns();
            self.push((self.s.now / tick + 1) * tick, Ev::Tick { cpu: cpu as u32 });
        }
        Ok(())
    }

    /// After an operation or event: deliver, service, check.
    fn settle(&mut self) -> Check {
        self.flush();
        self.run_pending()?;
        self.check()
    }

    fn handle(&mut self, ev: Ev) {
        if self.recent.len() == 6 {
            self.recent.pop_front();
        }
        self.recent.push_back(ev);
        match ev {
            Ev::Tick { cpu } => {
                let cpu = cpu as usize;
                if self.s.curr(cpu).is_none() {
                    self.tick_armed[cpu] = false;
                    return;
                }
                self.s.tick(cpu);
                let at = self.s.now + self.s.cfg.tick_ns();
                self.push(at, Ev::Tick { cpu: cpu as u32 });
                self.mark_pending(cpu);
            }
            Ev::HrTick { cpu, gen } => {
                let cpu = cpu as usize;
                if self.hrtick[cpu].0 != gen {
                    return;
                }
                self.hrtick[cpu].1 = None;
                self.s.hrtick(cpu);
                self.mark_pending(cpu);
            }
            Ev::DlTimer { task } => {
                let now = self.s.now;
                self.s.dl_timer(TaskId(task), now)
            }
            Ev::RtPeriod => self.s.rt_period_timer(),
            Ev::MutexWake { task } => self.s.deferred_wake(TaskId(task)),
            Ev::MigrateArrive { task } => self.s.migrate_arrive(TaskId(task)),
            Ev::Resched { cpu } => self.mark_pending(cpu as usize),
            Ev::SleepEnd { task, gen } => {
                if self.sleep_gen[task as usize] == gen {
                    self.wake(TaskId(task));
                }
            }
        }
    }

    fn advance(&mut self, dt: u64) -> Check {
        let until = self.s.now + dt;
        while let Some(&Reverse((at, _, ev))) = self.queue.peek() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.set_now(at)?;
            self.handle(ev);
            self.settle()?;
        }
        self.set_now(until)?;
        self.check()
    }

    fn wake(&mut self, t: TaskId) {
        let i = t.index();
        if !self.asleep[i] {
            return;
        }
        self.asleep[i] = false;
        self.sleep_gen[i] += 1;
        self.s.try_to_wake_up(t, WakeReason::Sleep);
    }

    /// The running task of `cpu`, if it may act now: the engine never lets a task go on while
    /// its CPU has a reschedule pending.
    fn actor(&self, cpu: u8) -> Option<(usize, TaskId)> {
        let cpu = cpu as usize % self.nr_cpus();
        if self.s.rq(cpu).need_resched {
            return None;
        }
        self.s.curr(cpu).map(|t| (cpu, t))
    }

    /// The attributes of `class` on this machine.
    fn dl_attr(&self, class: Class) -> SchedAttr {
        class.attr()
    }

    fn mask(&self, bits: u8) -> CpuMask {
        let m = CpuMask::from_cpus((0..self.nr_cpus()).filter(|&c| bits & (1 << c) != 0));
        if m.is_empty() {
            CpuMask::first_n(self.nr_cpus())
        } else {
            m
        }
    }

    fn admit(&mut self, name: &str, old: Option<SchedAttr>, new: SchedAttr) -> bool {
        let old = old.filter(|a| matches!(a, SchedAttr::Deadline { .. }));
        if !matches!(new, SchedAttr::Deadline { .. }) && old.is_none() {
            return true;
        }
        self.s.dl_admit(name, old, new).is_ok()
    }

    fn apply(&mut self, op: Op) -> Check {
        match op {
            Op::Spawn { class, cpus } => {
                let n = self.asleep.len();
                if n >= MAX_TASKS {
                    return Ok(());
                }
                let attr = self.dl_attr(class);
                let mask = if matches!(class, Class::Dl { .. }) {
                    // Linux refuses SCHED_DEADLINE with a restricted affinity.
                    CpuMask::first_n(self.nr_cpus())
                } else {
                    self.mask(cpus)
                };
                let name = format!("t{n}");
                if !self.admit(&name, None, attr) {
                    return Ok(());
                }
                let p = self.s.add_task(name.as_str(), attr, mask);
                self.asleep.push(false);
                self.sleep_gen.push(0);
                self.s.wake_up_new_task(p);
            }
            Op::Lock { cpu, m } => {
                let Some((cpu, t)) = self.actor(cpu) else {
                    return Ok(());
                };
                let m = MutexId(m as u32 % NR_MUTEXES);
                if self.s.held(t).contains(&m) {
                    return Ok(());
                }
                self.context = Some(cpu);
                self.s.mutex_lock(cpu, m);
                self.mark_pending(cpu);
            }
            Op::Unlock { cpu, which } => {
                let Some((cpu, t)) = self.actor(cpu) else {
                    return Ok(());
                };
                let held = self.s.held(t);
                let (m, owned) = if held.is_empty() {
                    (MutexId(which as u32 % NR_MUTEXES), false)
                } else {
                    (held[which as usize % held.len()], true)
                };
                self.context = Some(cpu);
                let done = self.s.mutex_unlock(cpu, m);
                if done != owned {
                    return Err(format!(
                        "mutex_unlock of {m:?} by its owner {owned}: {done}"
                    ));
                }
                self.mark_pending(cpu);
            }
            Op::Sleep { cpu, for_us } => {
                let Some((cpu, t)) = self.actor(cpu) else {
                    return Ok(());
                };
                self.context = Some(cpu);
                let i = t.index();
                self.asleep[i] = true;
                self.sleep_gen[i] += 1;
                self.s.set_current_state(cpu, TaskState::Sleeping);
                if let Some(us) = for_us {
                    let gen = self.sleep_gen[i];
                    let at = self.s.now + us as u64 * 1000;
                    self.push(at, Ev::SleepEnd { task: t.0, gen });
                }
                self.mark_pending(cpu);
            }
            Op::Wake { task, from } => {
                if self.asleep.is_empty() {
                    return Ok(());
                }
                let t = TaskId((task as usize % self.asleep.len()) as u32);
                if let Some(cpu) = from {
                    let Some((cpu, _)) = self.actor(cpu) else {
                        return Ok(());
                    };
                    self.context = Some(cpu);
                    self.wake(t);
                    self.mark_pending(cpu);
                } else {
                    self.wake(t);
                }
            }
            Op::Yield { cpu } => {
                let Some((cpu, _)) = self.actor(cpu) else {
                    return Ok(());
                };
                self.context = Some(cpu);
                self.s.yield_current(cpu);
                self.mark_pending(cpu);
            }
            Op::Exit { cpu } => {
                let Some((cpu, _)) = self.actor(cpu) else {
                    return Ok(());
                };
                self.context = Some(cpu);
                self.s.set_current_state(cpu, TaskState::Dead);
                self.mark_pending(cpu);
            }
            Op::SetAffinity { cpu, cpus } => {
                let Some((cpu, t)) = self.actor(cpu) else {
                    return Ok(());
                };
                if matches!(self.s.task(t).attr, SchedAttr::Deadline { .. }) {
                    return Ok(());
                }
                let mask = self.mask(cpus);
                self.context = Some(cpu);
                self.s.set_cpus_allowed(t, &mask);
                self.mark_pending(cpu);
            }
            Op::SetAttr { cpu, class } => {
                let Some((cpu, t)) = self.actor(cpu) else {
                    return Ok(());
                };
                let attr = self.dl_attr(class);
                let task = self.s.task(t);
                if matches!(attr, SchedAttr::Deadline { .. })
                    && task.cpus_allowed != CpuMask::first_n(self.nr_cpus())
                {
                    return Ok(());
                }
                let (name, old) = (self.s.task_name(t).clone(), task.attr);
                if !self.admit(&name, Some(old), attr) {
                    return Ok(());
                }
                self.context = Some(cpu);
                self.s.sched_setattr(t, attr);
                self.mark_pending(cpu);
            }
            Op::Advance { us } => {
                return self.advance(us as u64 * 1000);
            }
        }
        self.context = None;
        self.settle()
    }

    /// Everything that must hold between events: `check_invariants()`; no reschedule pending
    /// and no handoff unwoken once no IPI is in flight; no task `curr` of two CPUs; the tasks'
    /// CPU time adds up to the CPUs' busy time (exactly without overheads); a mutex with
    /// waiters has an owner; a sleeping task is off every runqueue, and so is a mutex waiter
    /// without proxy execution; a blocked donor waits for a mutex; a donor differs from `curr`
    /// only under proxy execution.
    fn check(&self) -> Check {
        let s = &self.s;
        s.check_invariants()?;
        // A wakeup, migration or reschedule may be on its way to a CPU (IPI latency); when none
        // is, the state must be settled as without IPI latency.
        let in_flight = self.queue.iter().any(|Reverse((_, _, ev))| {
            matches!(
                ev,
                Ev::MutexWake { .. } | Ev::MigrateArrive { .. } | Ev::Resched { .. }
            )
        });
        if !in_flight {
            if let Some(cpu) = (0..s.nr_cpus()).find(|&c| s.rq(c).need_resched) {
                return Err(format!("cpu{cpu}: a reschedule is pending between events"));
            }
        }
        // No task is the running task of two CPUs.
        for a in 0..s.nr_cpus() {
            for b in a + 1..s.nr_cpus() {
                if s.curr(a).is_some() && s.curr(a) == s.curr(b) {
                    return Err(format!("{:?} is curr on cpu{a} and cpu{b}", s.curr(a)));
                }
            }
        }
        // Without overheads every nanosecond a CPU had a curr was that task's CPU time.
        let exec: u64 = s.tasks().map(|(p, _)| s.exec_runtime(p)).sum();
        if (!self.cost && exec != self.busy_ns) || exec > self.busy_ns {
            return Err(format!(
                "the tasks ran {exec} ns but the CPUs were busy {} ns",
                self.busy_ns
            ));
        }
        for i in 0..NR_MUTEXES {
            let m = s.mutex(MutexId(i));
            if !m.waiters.is_empty() && m.owner.is_none() {
                return Err(format!("{} has waiters but no owner", m.name));
            }
        }
        for (p, t) in s.tasks() {
            if self.asleep[p.index()] && (t.on_rq || t.state != TaskState::Sleeping) {
                return Err(format!(
                    "{} sleeps but is {:?}, on_rq {}",
                    s.task_name(p),
                    t.state,
                    t.on_rq
                ));
            }
            let waiting = t
                .blocked_on
                .map(|m| (m, s.mutex(m).owner))
                .filter(|&(_, o)| o != Some(p));
            // Without proxy execution a task waiting for a mutex is off every runqueue.
            if s.cfg.inherit != Inherit::Proxy && waiting.is_some() && t.on_rq {
                return Err(format!(
                    "{} waits for a mutex but is queued",
                    s.task_name(p)
                ));
            }
            if in_flight {
                continue;
            }
            // Once its IPI has arrived, a handoff has woken the new owner: no lost wakeups.
            if t.blocked_on.is_some() && waiting.is_none() && t.state != TaskState::Running {
                return Err(format!(
                    "{} was handed its mutex but is {:?}",
                    s.task_name(p),
                    t.state
                ));
            }
            if t.is_blocked && waiting.is_none() {
                return Err(format!(
                    "{} is a blocked donor but waits for nothing",
                    s.task_name(p)
                ));
            }
        }
        // The donor's class is the one charged; a proxy only runs for a donor of its chain
        // (check_invariants), and only under proxy execution.
        for cpu in 0..s.nr_cpus() {
            let rq = s.rq(cpu);
            if rq.donor != rq.curr && s.cfg.inherit != Inherit::Proxy {
                return Err(format!("cpu{cpu}: a donor without proxy execution"));
            }
        }
        Ok(())
    }
}

/// Run `ops` on `machine`; the first failed check, with the operation that led to it.
fn run(machine: &Machine, ops: &[Op]) -> Check {
    let mut d = Driver::new(machine);
    for (i, &op) in ops.iter().enumerate() {
        d.apply(op)
            .map_err(|e| format!("after op {i} ({op:?}) at t={}: {e}", d.s.now))?;
    }
    // Let every pending timer fire.
    d.advance(50_000_000)
        .map_err(|e| format!("after the final 50 ms: {e}"))
}

fn run_with_bug(machine: &Machine, bug: PlantedBug, ops: &[Op]) -> Check {
    let mut d = Driver::new(machine);
    d.s.cfg.planted_bug = Some(bug);
    for &op in ops {
        d.apply(op)?;
    }
    d.advance(50_000_000)
}

// ----- strategies --------------------------------------------------------------------------

fn class() -> impl Strategy<Value = Class> {
    prop_oneof![
        4 => (
            prop_oneof![Just(Policy::Normal), Just(Policy::Batch), Just(Policy::Idle)],
            -20i32..=19
        )
            .prop_map(|(policy, nice)| Class::Fair { policy, nice }),
        2 => (
            prop_oneof![Just(Policy::Fifo), Just(Policy::RoundRobin)],
            1u32..=99
        )
            .prop_map(|(policy, prio)| Class::Rt { policy, prio }),
        1 => (1u32..=20, 1u32..=100, 0u32..=100).prop_map(|(period_ms, rt_pct, dl_pct)| {
            // Up to 30% of a CPU each; runtime <= deadline <= period.
            let period = period_ms * 1000;
            let runtime = (period * 3 / 10 * rt_pct / 100).max(2);
            let deadline = runtime + (period - runtime) * dl_pct / 100;
            Class::Dl {
                runtime,
                deadline: deadline.max(100),
                period,
            }
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let cpu = 0u8..4;
    prop_oneof![
        1 => (class(), any::<u8>()).prop_map(|(class, cpus)| Op::Spawn { class, cpus }),
        6 => (cpu.clone(), 0u8..3).prop_map(|(cpu, m)| Op::Lock { cpu, m }),
        5 => (cpu.clone(), any::<u8>()).prop_map(|(cpu, which)| Op::Unlock { cpu, which }),
        3 => (cpu.clone(), proptest::option::of(1u16..5000))
            .prop_map(|(cpu, for_us)| Op::Sleep { cpu, for_us }),
        3 => (any::<u8>(), proptest::option::of(cpu.clone()))
            .prop_map(|(task, from)| Op::Wake { task, from }),
        1 => cpu.clone().prop_map(|cpu| Op::Yield { cpu }),
        1 => cpu.clone().prop_map(|cpu| Op::SetAffinity { cpu, cpus: 0 }),
        1 => (cpu.clone(), any::<u8>()).prop_map(|(cpu, cpus)| Op::SetAffinity { cpu, cpus }),
        1 => (cpu.clone(), class()).prop_map(|(cpu, class)| Op::SetAttr { cpu, class }),
        8 => prop_oneof![0u16..50, 0u16..3000, 0u16..30_000].prop_map(|us| Op::Advance { us }),
    ]
}

/// A few tasks first, then operations; `Exit` is kept rare so that most cases keep their
/// lock owners alive.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    (
        proptest::collection::vec(
            (class(), any::<u8>()).prop_map(|(class, cpus)| Op::Spawn { class, cpus }),
            1..6,
        ),
        proptest::collection::vec(op(), 0..250),
        proptest::option::of((0usize..250, 0u8..4)),
    )
        .prop_map(|(mut spawns, rest, exit)| {
            spawns.extend(rest);
            if let Some((at, cpu)) = exit {
                let at = at.min(spawns.len());
                spawns.insert(at, Op::Exit { cpu });
            }
            spawns
        })
}

fn machine(inherit: Inherit, proxy_level: ProxyLevel) -> impl Strategy<Value = Machine> {
    (
        1u32..=4,
        prop_oneof![4 => Just(0u64), 1 => Just(1_000u64), 1 => Just(30_000u64), 1 => Just(700_000u64)],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![3 => Just(0u64), 1 => Just(2_000u64)],
    )
        .prop_map(
            move |(nr_cpus, ipi_latency_ns, rt_throttling, hrtick_dl, cost_ns)| Machine {
                nr_cpus,
                inherit,
                proxy_level,
                ipi_latency_ns,
                rt_throttling,
                hrtick_dl,
                cost_ns,
            },
        )
}

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    let max_shrink_iters = std::env::var("PROPTEST_MAX_SHRINK_ITERS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(20_000);
    ProptestConfig {
        cases,
        max_shrink_iters,
        // A failure prints its shrunk sequence; replay it as a named test rather than from
        // files written next to the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn check_mode(inherit: Inherit, level: ProxyLevel, cases: u32) {
    let mut runner = TestRunner::new(config(cases));
    let result = runner.run(&(machine(inherit, level), ops()), |(m, ops)| {
        run(&m, &ops).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{}/{}: {e}", inherit.name(), level.name());
    }
}

// ----- the properties ----------------------------------------------------------------------

/// Cases per inheritance mode: about half a millisecond each in release.
const CASES: u32 = 2000;

#[test]
fn any_sequence_keeps_the_invariants_without_inheritance() {
    check_mode(Inherit::None, ProxyLevel::Full, CASES);
}

#[test]
fn any_sequence_keeps_the_invariants_under_pi() {
    check_mode(Inherit::Pi, ProxyLevel::Full, CASES);
}

#[test]
fn any_sequence_keeps_the_invariants_under_proxy_single_rq() {
    check_mode(Inherit::Proxy, ProxyLevel::SingleRq, CASES);
}

#[test]
fn any_sequence_keeps_the_invariants_under_proxy_donor_migration() {
    check_mode(Inherit::Proxy, ProxyLevel::DonorMigration, CASES);
}

#[test]
fn any_sequence_keeps_the_invariants_under_proxy_full() {
    check_mode(Inherit::Proxy, ProxyLevel::Full, CASES);
}

fn any_machine() -> impl Strategy<Value = Machine> {
    prop_oneof![
        machine(Inherit::None, ProxyLevel::Full),
        machine(Inherit::Pi, ProxyLevel::Full),
        machine(Inherit::Proxy, ProxyLevel::SingleRq),
        machine(Inherit::Proxy, ProxyLevel::DonorMigration),
        machine(Inherit::Proxy, ProxyLevel::Full),
    ]
}

proptest! {
    #![proptest_config(config(200))]

    /// Ownership is never duplicated or lost: every mutex in a task's `held` list is owned by
    /// that task, and as many mutexes are owned as the `held` lists name.
    #[test]
    fn every_mutex_has_one_owner_that_holds_it(m in any_machine(), ops in ops()) {
        let mut d = Driver::new(&m);
        for op in ops {
            d.apply(op).map_err(TestCaseError::fail)?;
            for (p, _) in d.s.tasks() {
                for &h in d.s.held(p) {
                    prop_assert_eq!(d.s.mutex(h).owner, Some(p));
                }
            }
            let owned = (0..NR_MUTEXES)
                .filter(|&i| d.s.mutex(MutexId(i)).owner.is_some())
                .count();
            let held: usize = d.s.tasks().map(|(p, _)| d.s.held(p).len()).sum();
            prop_assert_eq!(owned, held);
        }
    }
}

/// A runner with a fixed seed, for the tests below whose outcome must not vary.
fn fixed_runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 0,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]))
}

/// The generated sequences reach every case of the proxy machinery (they are worth little
/// if they do not): each level's own cases, and the IPI-latency races.
#[test]
fn the_sequences_reach_every_proxy_case() {
    let expect: [(ProxyLevel, &[&str]); 3] = [
        (
            ProxyLevel::SingleRq,
            &[
                "run_owner",
                "curr_in_chain",
                "owner_remote_deactivate",
                "owner_sleeping_deactivate",
                "cycle",
            ],
        ),
        (
            ProxyLevel::DonorMigration,
            &[
                "run_owner",
                "donor_migration",
                "owner_sleeping_deactivate",
                "return_migration",
                "blocked_donor_handoff",
            ],
        ),
        (
            ProxyLevel::Full,
            &[
                "run_owner",
                "lock_handed_off",
                "owner_is_self",
                "curr_in_chain",
                "donor_migration",
                "park_on_sleeping_owner",
                "activate_parked",
                "return_migration",
                "blocked_donor_handoff",
                "cycle",
                "chain_push",
            ],
        ),
    ];
    for (level, cases) in expect {
        let mut runner = fixed_runner(1);
        let strategy = (machine(Inherit::Proxy, level), ops());
        let mut seen: BTreeMap<&'static str, u64> = BTreeMap::new();
        for _ in 0..600 {
            let (m, ops) = strategy.new_tree(&mut runner).unwrap().current();
            let mut d = Driver::new(&m);
            for op in ops {
                d.apply(op).unwrap();
            }
            for (case, n) in d.proxy_cases {
                *seen.entry(case).or_default() += n;
            }
        }
        for case in cases {
            assert!(
                seen.contains_key(case),
                "{}: {case} never happened in 600 sequences: {seen:?}",
                level.name()
            );
        }
    }
}

/// The harness has teeth: with the planted bug (a woken proxy-migrated donor stays on the
/// foreign CPU, outside its affinity), random sequences find a violation.
#[test]
fn the_planted_return_migration_bug_is_caught() {
    let mut runner = fixed_runner(2000);
    let strategy = (machine(Inherit::Proxy, ProxyLevel::DonorMigration), ops());
    let result = runner.run(&strategy, |(m, ops)| {
        if m.nr_cpus < 2 {
            return Ok(());
        }
        run(&m, &ops).map_err(|e| TestCaseError::fail(format!("without the bug: {e}")))?;
        run_with_bug(&m, PlantedBug::SkipReturnMigration, &ops).map_err(TestCaseError::fail)
    });
    let err = result.expect_err("the planted bug went unnoticed in 2000 cases");
    let msg = err.to_string();
    assert!(!msg.contains("without the bug"), "{msg}");
}

/// The driver itself: a DL, an RT and a fair task on one CPU run in that order.
#[test]
fn classes_are_picked_in_order() {
    let m = Machine {
        nr_cpus: 1,
        inherit: Inherit::None,
        proxy_level: ProxyLevel::Full,
        ipi_latency_ns: 0,
        rt_throttling: true,
        hrtick_dl: false,
        cost_ns: 0,
    };
    let mut d = Driver::new(&m);
    let classes = [
        Class::Fair {
            policy: Policy::Normal,
            nice: 0,
        },
        Class::Rt {
            policy: Policy::Fifo,
            prio: 10,
        },
        Class::Dl {
            runtime: 1000,
            deadline: 10_000,
            period: 10_000,
        },
    ];
    for class in classes {
        d.apply(Op::Spawn { class, cpus: 0 }).unwrap();
    }
    let order: Vec<ClassId> = (0..3)
        .map(|_| {
            let t = d.s.curr(0).unwrap();
            let c = d.s.task(t).class();
            d.apply(Op::Exit { cpu: 0 }).unwrap();
            c
        })
        .collect();
    assert_eq!(order, [ClassId::Deadline, ClassId::Rt, ClassId::Fair]);
}
