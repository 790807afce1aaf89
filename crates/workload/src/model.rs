//! The resolved workload: what the engine executes. Every name in the file has become an index
//! into one of the resource tables, every time is in nanoseconds, every default is applied.
//!
//! Times in rt-app files are microseconds; they are multiplied by 1000 exactly once, in the
//! resolver.

use std::sync::Arc;

// Policies and attributes are the scheduler core's vocabulary; the reader produces them
// directly so there is one definition of each.
pub use proxysched_sched::{Inherit, MutexId, Policy, ProxyLevel, SchedAttr};

/// Index into [`Workload::conds`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CondId(pub u32);
/// Index into [`Workload::barriers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BarrierId(pub u32);
/// Index into [`Workload::semaphores`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SemId(pub u32);
/// Index into [`Workload::timers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u32);
/// Index into [`Workload::suspend_queues`]: the condition a task definition's instances
/// `suspend` on, which `resume <definition name>` broadcasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SuspendId(pub u32);

/// rt-app timer mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerMode {
    /// Default: when already late, the timer's next expiry is reset to now.
    Relative,
    /// The grid is kept; lateness carries over.
    Absolute,
}

/// One rt-app event, in the order the file lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Fixed work: this much CPU time at full capacity (`run`).
    Run {
        work_ns: u64,
    },
    /// Busy until this much wall time has passed since the event started (`runtime`).
    Runtime {
        wall_ns: u64,
    },
    /// Relative sleep (`sleep`).
    Sleep {
        ns: u64,
    },
    /// Wait for the timer's next expiry, then advance it by `period_ns` (`timer`).
    Timer {
        timer: TimerId,
        period_ns: u64,
        mode: TimerMode,
    },
    /// `sched_yield()`.
    Yield,
    /// Wait on the task definition's own suspend queue (`suspend`).
    Suspend {
        queue: SuspendId,
    },
    /// Broadcast a task definition's suspend queue (`resume`).
    Resume {
        queue: SuspendId,
    },
    /// Meet every other user of the barrier (`barrier`).
    Barrier {
        barrier: BarrierId,
    },
    SemPost {
        sem: SemId,
    },
    SemWait {
        sem: SemId,
    },
    Lock {
        mutex: MutexId,
    },
    Unlock {
        mutex: MutexId,
    },
    /// `pthread_cond_wait(cond, mutex)`; the task must hold `mutex`.
    Wait {
        cond: CondId,
        mutex: MutexId,
    },
    Signal {
        cond: CondId,
    },
    Broadcast {
        cond: CondId,
    },
    /// Signal `cond`, then wait on it with `mutex` held.
    Sync {
        cond: CondId,
        mutex: MutexId,
    },
}

/// Where an item came from, for messages ("thread0/phase p1/event 3 at line 12"): a line and
/// a dotted key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub line: u32,
    pub key: Arc<str>,
}

/// Where an event was written: its line and its own key (`run`, `lock2` ...), as an index
/// into [`Workload::event_keys`]; [`Workload::event_key`] gives the full key. Thousands of
/// tasks write the same few event keys, so they are stored once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventOrigin {
    pub line: u32,
    pub key: u32,
}

/// [`Phase::loops`] of a phase that rt-app repeats forever (a phase `loop` <= 0 in a task with
/// several phases: rt-app never leaves that phase). Large enough never to run out in any
/// simulation; an engine may also treat it as "forever" explicitly.
pub const PHASE_LOOPS_FOREVER: u64 = u64::MAX;

/// Every task keeps its phases for the whole run, so the lists are boxed slices (no spare
/// capacity), what does not change between the instances of a task definition is shared, and
/// what only messages need (dotted keys) is rebuilt from names when a message needs it
/// ([`TaskSpec::phase_path`], [`TaskSpec::cpus_origin`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    /// The phase key; `None` for the one phase of a task without `phases`, whose events are
    /// written in the task itself ([`TaskSpec::phase_name`] gives the name either way).
    pub key: Option<Arc<str>>,
    /// Iterations of this phase per task loop; always >= 1 (`-1`, "forever", is expressed by
    /// [`TaskSpec::loops`], or by [`PHASE_LOOPS_FOREVER`] on the last reachable phase).
    pub loops: u64,
    /// Applied at the start of each iteration of this phase if set (rt-app semantics).
    pub sched: Option<SchedAttr>,
    /// Effective affinity of the phase: the phase's `cpus`, else the task's, else `None` (all).
    /// Sorted, deduplicated CPU ids.
    pub cpus: Option<Arc<[u32]>>,
    /// The line of the phase's own `cpus` key; `None` when [`Phase::cpus`] is the task's
    /// ([`TaskSpec::cpus_line`]) or there is none.
    pub cpus_line: Option<u32>,
    pub events: Box<[Event]>,
    /// One per event.
    pub event_origins: Arc<[EventOrigin]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    /// Thread name: the definition key for `instance: 1`, else `key-0` … `key-(k-1)`.
    pub name: Arc<str>,
    /// The task definition key (suspend queues are named after it).
    pub definition: Arc<str>,
    /// Attributes applied when the thread starts.
    pub sched: SchedAttr,
    /// Delay before the first phase.
    pub delay_ns: u64,
    /// Repetitions of the phase list; `None` = forever.
    pub loops: Option<u64>,
    pub phases: Box<[Phase]>,
    /// The line of the task definition's key ([`TaskSpec::origin`]).
    pub line: u32,
    /// The line of the task's own `cpus` key, where a phase without one inherits it from
    /// (meaningful only for such a phase: one with [`Phase::cpus`] but no [`Phase::cpus_line`]).
    pub cpus_line: u32,
}

impl TaskSpec {
    /// Where the task definition was written: its line and `tasks.<definition>`.
    pub fn origin(&self) -> Origin {
        Origin {
            line: self.line,
            key: format!("tasks.{}", self.definition).into(),
        }
    }

    /// The name of one of this task's phases: its key, or the definition key for the phase
    /// of a task without `phases`.
    pub fn phase_name<'a>(&'a self, phase: &'a Phase) -> &'a str {
        phase.key.as_deref().unwrap_or(&self.definition)
    }

    /// The key one of this task's phases' events are written under: `tasks.T.phases.P`, or
    /// `tasks.T`.
    pub fn phase_path(&self, phase: &Phase) -> String {
        match &phase.key {
            Some(key) => format!("tasks.{}.phases.{key}", self.definition),
            None => format!("tasks.{}", self.definition),
        }
    }

    /// Where the `cpus` key behind one of this task's phases' [`Phase::cpus`] was written (the
    /// phase's own, or the task's it inherits), so that [`Workload::check_cpus`] can name it
    /// once the CPU count is known; `None` without `cpus`.
    pub fn cpus_origin(&self, phase: &Phase) -> Option<Origin> {
        phase.cpus.as_ref()?;
        let (line, owner) = match phase.cpus_line {
            Some(line) => (line, self.phase_path(phase)),
            None => (self.cpus_line, format!("tasks.{}", self.definition)),
        };
        Some(Origin {
            line,
            key: format!("{owner}.cpus").into(),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Barrier {
    pub name: String,
    /// Threads that must meet: the sum of instances of every task definition that uses it.
    pub parties: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timer {
    /// Shared by the threads of a definition that each have their own timer of this name.
    pub name: Arc<str>,
    /// Per-thread timer (`ref` starting with "unique"): the owning thread's index (there are
    /// at most 32768 threads).
    pub owner: Option<u32>,
}

/// The `global.proxysched` object: simulation settings rt-app does not have. Every field is
/// optional; the command line overrides the file, the file overrides the defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimSettings {
    pub cpus: Option<u32>,
    pub inherit: Option<Inherit>,
    pub proxy_level: Option<ProxyLevel>,
    pub hz: Option<u32>,
    pub seed: Option<u64>,
    pub switch_cost_ns: Option<u64>,
    pub migration_cost_ns: Option<u64>,
    pub ipi_latency_ns: Option<u64>,
    pub rt_throttling: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    /// `duration` in seconds converted to ns; `None` when absent or -1 (run until done).
    pub duration_ns: Option<u64>,
    pub default_policy: Policy,
    pub pi_enabled: bool,
    pub sim: SimSettings,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            duration_ns: None,
            default_policy: Policy::Normal,
            pi_enabled: false,
            sim: SimSettings::default(),
        }
    }
}

/// A parsed and resolved workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// The file name used in messages, or `<built-in demo>`.
    pub source: String,
    pub global: Global,
    /// Threads in file order, instances expanded.
    pub tasks: Vec<TaskSpec>,
    pub mutexes: Vec<String>,
    pub conds: Vec<String>,
    pub barriers: Vec<Barrier>,
    pub semaphores: Vec<String>,
    pub timers: Vec<Timer>,
    /// One per task definition referenced by `suspend` or `resume`, named after it.
    pub suspend_queues: Vec<String>,
    /// The distinct event keys ([`EventOrigin::key`]), in order of first use.
    pub event_keys: Vec<String>,
    /// Non-fatal remarks about the input (ignored keys, resumes of unknown tasks ...).
    pub warnings: Vec<String>,
}

impl Workload {
    /// The full key of event `i` of `task`'s `phase` (`tasks.T.phases.P.run1`), for messages.
    pub fn event_key(&self, task: &TaskSpec, phase: &Phase, i: usize) -> Option<String> {
        let key = self
            .event_keys
            .get(phase.event_origins.get(i)?.key as usize)?;
        Some(format!("{}.{key}", task.phase_path(phase)))
    }
}

#[cfg(test)]
mod tests {
    use super::{Phase, TaskSpec, Timer};

    /// Every thread keeps its spec, its phases and its timers for the whole run.
    #[test]
    fn per_thread_records_stay_small() {
        assert_eq!(std::mem::size_of::<Phase>(), 112);
        assert_eq!(std::mem::size_of::<TaskSpec>(), 112);
        assert_eq!(std::mem::size_of::<Timer>(), 24);
    }
}
