//! Tracepoints: the one outward stream of the scheduler core and the engine.
//!
//! As in the kernel, every state change that anything outside the core may care about is an
//! [`Event`]; metrics, trace writers, the report and the invariant checker are all [`Sink`]s of
//! the same stream and none of them reaches into the core. Event names follow
//! `include/trace/events/sched.h` where the kernel has one.

use std::fmt;
use std::sync::Arc;

pub mod chrome;
pub mod ftrace;
mod hash;
pub mod rtapp_log;
mod sanitize;

pub use hash::StreamHash;

/// A task, by its index in the simulation. The pid shown to users is [`TaskId::pid`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u32);

impl TaskId {
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The pid printed in traces and metrics. Pid 0 is the idle task (swapper), as in Linux and
    /// as Perfetto expects, so simulated tasks start at 1.
    #[inline]
    pub fn pid(self) -> u32 {
        self.0 + 1
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {}", self.pid())
    }
}

/// The state a task leaves the CPU in, as `sched_switch` reports `prev_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrevState {
    /// Still runnable: preempted, yielded, or its slice ran out (`R+` in ftrace).
    Preempted,
    /// Went to sleep voluntarily: sleep, timer, suspend, barrier, semaphore (`S`).
    Sleeping,
    /// Blocked on a kernel mutex (`D`, TASK_UNINTERRUPTIBLE as in `mutex_lock()`).
    BlockedOnMutex,
    /// Exited (`X`).
    Dead,
}

impl PrevState {
    /// The letters `sched_switch` prints.
    pub fn letters(self) -> &'static str {
        match self {
            PrevState::Preempted => "R+",
            PrevState::Sleeping => "S",
            PrevState::BlockedOnMutex => "D",
            PrevState::Dead => "X",
        }
    }
}

/// Why a task was woken, for metrics that separate wakeups from activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WakeReason {
    Sleep,
    Timer,
    Suspend,
    Barrier,
    Semaphore,
    Mutex,
    Cond,
}

/// One tracepoint. Times are carried by [`Sink::record`], not by the event.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A task exists (emitted once, before it first runs). `prio` is the kernel prio
    /// (-1 for DEADLINE, 99 - rt_priority for RT, 120 + nice for fair tasks).
    TaskNew {
        task: TaskId,
        name: String,
        policy: &'static str,
        prio: i32,
    },
    /// `sched_switch`. `None` is the idle task of that CPU. `donor` is the scheduling context
    /// `next` runs on: `next` itself, or under proxy execution the blocked task whose place it
    /// takes.
    SchedSwitch {
        cpu: u32,
        prev: Option<TaskId>,
        prev_prio: i32,
        prev_state: PrevState,
        next: Option<TaskId>,
        next_prio: i32,
        donor: Option<TaskId>,
    },
    /// The scheduling context of `cpu` changed while the same task kept running (proxy
    /// execution: a new donor picked the running owner, or the owner stopped running as one).
    SchedDonor {
        cpu: u32,
        curr: Option<TaskId>,
        donor: Option<TaskId>,
    },
    /// `sched_waking`: the wakeup starts (the wakeup latency clock starts here).
    SchedWaking {
        task: TaskId,
        prio: i32,
        target_cpu: u32,
        reason: WakeReason,
    },
    /// `sched_wakeup`: the task is on a runqueue.
    SchedWakeup { task: TaskId, prio: i32, cpu: u32 },
    /// `sched_wakeup_new`: a new task is on a runqueue for the first time.
    SchedWakeupNew { task: TaskId, prio: i32, cpu: u32 },
    /// `sched_migrate_task`.
    SchedMigrateTask {
        task: TaskId,
        prio: i32,
        orig_cpu: u32,
        dest_cpu: u32,
    },
    /// `sched_process_exit`.
    SchedProcessExit { task: TaskId, prio: i32 },
    /// The task's scheduling attributes changed (rt-app applies them per phase).
    SchedSetattr {
        task: TaskId,
        policy: &'static str,
        prio: i32,
    },
    /// A SCHED_DEADLINE task ran out of budget and is throttled until `replenish_at_ns`.
    DlThrottle {
        task: TaskId,
        cpu: u32,
        replenish_at_ns: u64,
    },
    /// A SCHED_DEADLINE task got a new budget and absolute deadline.
    DlReplenish {
        task: TaskId,
        cpu: u32,
        runtime_ns: i64,
        deadline_ns: u64,
    },
    /// The CPU's RT runqueue used up `sched_rt_runtime_us` in this period.
    RtThrottle { cpu: u32 },
    /// The RT period timer gave the CPU's RT runqueue its runtime back.
    RtUnthrottle { cpu: u32 },
    /// An activation (one timer period, or one wakeup of a task without a timer) begins.
    /// `deadline_ns` is the absolute deadline when the activation has one.
    ActivationStart {
        task: TaskId,
        release_ns: u64,
        deadline_ns: Option<u64>,
    },
    /// The activation ended (the task blocked or exited); `missed` if after its deadline.
    ActivationEnd {
        task: TaskId,
        deadline_ns: Option<u64>,
        missed: bool,
    },
    /// A mutex exists (emitted once, before any task runs).
    MutexNew { mutex: u32, name: String },
    /// `task` found `mutex` held by `owner` and blocks on it.
    LockContend {
        task: TaskId,
        mutex: u32,
        owner: TaskId,
    },
    /// `task` now owns `mutex`: at once if it was free, or by handoff after contending.
    LockAcquire { task: TaskId, mutex: u32 },
    /// `task` released `mutex`, handing it to `next` if anyone waited.
    LockRelease {
        task: TaskId,
        mutex: u32,
        next: Option<TaskId>,
    },
    /// Priority inheritance changed `task`'s effective prio (boost or deboost).
    PiSetprio {
        task: TaskId,
        old_prio: i32,
        new_prio: i32,
    },
    /// Proxy execution moved the blocked `task` (a donor) to the CPU of the `owner` it donates
    /// to (`proxy_migrate_task()`).
    ProxyMigrate {
        task: TaskId,
        owner: TaskId,
        orig_cpu: u32,
        dest_cpu: u32,
    },
    /// A donor that had been proxy-migrated woke and went back to a CPU it may run on.
    ReturnMigrate {
        task: TaskId,
        orig_cpu: u32,
        dest_cpu: u32,
    },
    /// An outcome of the proxy-execution machinery (`find_proxy_task()`, the wakeup and
    /// unlock paths), named as `proxysched_sched::ProxyCase` names it; `task` is the one it
    /// concerns (the walked waiter, the woken donor ...).
    ProxyCase { task: TaskId, case: &'static str },
    /// A cycle of tasks each waiting for a mutex the next one holds. They never run again.
    Deadlock {
        tasks: Vec<TaskId>,
        mutexes: Vec<u32>,
    },
    /// A non-fatal condition worth telling the user about.
    Warning { message: String },
    /// rt-app's `rtapp_main: event=start`: the run begins (emitted once, at time 0).
    RtappMainStart,
    /// rt-app's `rtapp_main: event=end`: the run is over (emitted once, at the end).
    RtappMainEnd,
    /// rt-app's `rtapp_task: event=start`: `task`'s program starts on `cpu` (before its
    /// `delay`).
    RtappTaskStart { task: TaskId, cpu: u32 },
    /// rt-app's `rtapp_task: event=end`: `task` finished every loop and exits.
    RtappTaskEnd { task: TaskId, cpu: u32 },
    /// rt-app's `rtapp_loop: event=start`: an iteration of a phase begins. `thread_loop` is
    /// the task-level loop, `phase` the phase index, `phase_loop` the iteration of that phase.
    RtappLoopStart {
        task: TaskId,
        cpu: u32,
        thread_loop: u64,
        phase: u32,
        phase_loop: u64,
    },
    /// rt-app's `rtapp_loop: event=end` and `rtapp_stats`: the iteration ended, with what
    /// rt-app measures over it (one row of its log file).
    RtappLoopEnd {
        task: TaskId,
        cpu: u32,
        thread_loop: u64,
        phase: u32,
        phase_loop: u64,
        stats: RtappStats,
    },
    /// rt-app's `rtapp_event`: `task` starts event `id` of its phase (`kind` is the event's
    /// type as rt-app's grammar names it, `desc` the key it was written under, e.g. `run1`).
    RtappEvent {
        task: TaskId,
        cpu: u32,
        id: u32,
        kind: &'static str,
        desc: Arc<str>,
    },
}

/// Which variant an [`Event`] is, without its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    TaskNew,
    SchedSwitch,
    SchedDonor,
    SchedWaking,
    SchedWakeup,
    SchedWakeupNew,
    SchedMigrateTask,
    SchedProcessExit,
    SchedSetattr,
    DlThrottle,
    DlReplenish,
    RtThrottle,
    RtUnthrottle,
    ActivationStart,
    ActivationEnd,
    MutexNew,
    LockContend,
    LockAcquire,
    LockRelease,
    PiSetprio,
    ProxyMigrate,
    ReturnMigrate,
    ProxyCase,
    Deadlock,
    Warning,
    RtappMainStart,
    RtappMainEnd,
    RtappTaskStart,
    RtappTaskEnd,
    RtappLoopStart,
    RtappLoopEnd,
    RtappEvent,
}

impl Event {
    #[inline]
    pub const fn kind(&self) -> EventKind {
        match self {
            Event::TaskNew { .. } => EventKind::TaskNew,
            Event::SchedSwitch { .. } => EventKind::SchedSwitch,
            Event::SchedDonor { .. } => EventKind::SchedDonor,
            Event::SchedWaking { .. } => EventKind::SchedWaking,
            Event::SchedWakeup { .. } => EventKind::SchedWakeup,
            Event::SchedWakeupNew { .. } => EventKind::SchedWakeupNew,
            Event::SchedMigrateTask { .. } => EventKind::SchedMigrateTask,
            Event::SchedProcessExit { .. } => EventKind::SchedProcessExit,
            Event::SchedSetattr { .. } => EventKind::SchedSetattr,
            Event::DlThrottle { .. } => EventKind::DlThrottle,
            Event::DlReplenish { .. } => EventKind::DlReplenish,
            Event::RtThrottle { .. } => EventKind::RtThrottle,
            Event::RtUnthrottle { .. } => EventKind::RtUnthrottle,
            Event::ActivationStart { .. } => EventKind::ActivationStart,
            Event::ActivationEnd { .. } => EventKind::ActivationEnd,
            Event::MutexNew { .. } => EventKind::MutexNew,
            Event::LockContend { .. } => EventKind::LockContend,
            Event::LockAcquire { .. } => EventKind::LockAcquire,
            Event::LockRelease { .. } => EventKind::LockRelease,
            Event::PiSetprio { .. } => EventKind::PiSetprio,
            Event::ProxyMigrate { .. } => EventKind::ProxyMigrate,
            Event::ReturnMigrate { .. } => EventKind::ReturnMigrate,
            Event::ProxyCase { .. } => EventKind::ProxyCase,
            Event::Deadlock { .. } => EventKind::Deadlock,
            Event::Warning { .. } => EventKind::Warning,
            Event::RtappMainStart => EventKind::RtappMainStart,
            Event::RtappMainEnd => EventKind::RtappMainEnd,
            Event::RtappTaskStart { .. } => EventKind::RtappTaskStart,
            Event::RtappTaskEnd { .. } => EventKind::RtappTaskEnd,
            Event::RtappLoopStart { .. } => EventKind::RtappLoopStart,
            Event::RtappLoopEnd { .. } => EventKind::RtappLoopEnd,
            Event::RtappEvent { .. } => EventKind::RtappEvent,
        }
    }
}

// One bit per kind in `EventKinds` (`RtappEvent` is the last kind).
const _: () = assert!((EventKind::RtappEvent as u32) < u64::BITS);

/// A set of [`EventKind`]s: what a sink consumes. Producers skip building the events no sink
/// of a run wants, so a run without a trace pays nothing for tracepoints only a trace shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventKinds(u64);

impl EventKinds {
    pub const ALL: EventKinds = EventKinds(u64::MAX);
    pub const NONE: EventKinds = EventKinds(0);

    pub const fn of(kinds: &[EventKind]) -> EventKinds {
        let mut bits = 0;
        let mut i = 0;
        while i < kinds.len() {
            bits |= 1 << kinds[i] as u32;
            i += 1;
        }
        EventKinds(bits)
    }

    #[inline]
    pub const fn contains(self, kind: EventKind) -> bool {
        self.0 & (1 << kind as u32) != 0
    }

    pub const fn union(self, other: EventKinds) -> EventKinds {
        EventKinds(self.0 | other.0)
    }
}

/// What rt-app measures over one phase iteration, in nanoseconds (rt-app prints microseconds;
/// the writers convert). Field names follow rt-app's log columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RtappStats {
    /// Work done in `run` and `runtime` events: the CPU time they got. rt-app counts
    /// calibration loops; here one loop is one nanosecond of work.
    pub perf_ns: u64,
    /// Wall time spent in `run` and `runtime` events (preemption included).
    pub run_ns: u64,
    /// Wall time of the whole iteration.
    pub period_ns: u64,
    /// When the iteration started and ended (simulated time).
    pub start_ns: u64,
    pub end_ns: u64,
    /// Timer expiry minus the time the task reached its `timer` event (the last one of the
    /// iteration); negative if it was late. 0 without a timer.
    pub slack_ns: i64,
    /// Configured `run`/`runtime` time of the iteration.
    pub c_duration_ns: u64,
    /// Configured `timer` periods of the iteration.
    pub c_period_ns: u64,
    /// Sum over the iteration's timers of (time the task ran again - timer expiry); reset to 0
    /// by a timer the task reached late, as rt-app does.
    pub wu_lat_ns: u64,
}

/// A consumer of the tracepoint stream.
pub trait Sink {
    /// Called for every event in the order they happen; `at_ns` never decreases. A sink may
    /// be given only the kinds it [`wants`](Sink::wants).
    fn record(&mut self, at_ns: u64, event: &Event);

    /// The kinds of event this sink looks at; every kind unless it says otherwise.
    fn wants(&self) -> EventKinds {
        EventKinds::ALL
    }

    /// Several events that happen at the same instant, in order. Sinks that only forward the
    /// stream override it so a batch costs one dynamic call per sink, not one per event.
    fn record_all(&mut self, at_ns: u64, events: &[Event]) {
        for event in events {
            self.record(at_ns, event);
        }
    }
}

/// Collects the stream in memory; for tests.
#[derive(Default, Debug)]
pub struct Recorder {
    pub events: Vec<(u64, Event)>,
}

impl Sink for Recorder {
    fn record(&mut self, at_ns: u64, event: &Event) {
        self.events.push((at_ns, event.clone()));
    }
}

/// Nanoseconds to microseconds rounded half up, as rt-app converts its clock readings
/// (`lround(ns / 1000.0)`).
pub fn us_rounded(ns: u64) -> u64 {
    ns / 1000 + u64::from(ns % 1000 >= 500)
}

/// [`us_rounded`] for signed values: halves round away from zero, as `lround()` does.
pub fn us_rounded_signed(ns: i64) -> i64 {
    let us = us_rounded(ns.unsigned_abs()) as i64;
    if ns < 0 {
        -us
    } else {
        us
    }
}
