//! The rt-app grammar: turns the positioned JSON tree into a resolved [`Workload`].
//!
//! Semantics follow rt-app's `src/rt-app_parse_config.c` and `src/rt-app.c` unless a comment
//! says otherwise. The choices that are ours:
//!
//! * **Repeated keys** are all kept, in textual order (what rt-app's `workgen` preprocessor
//!   intended); a warning says that rt-app run raw (json-c) would keep only the last. For keys
//!   that are settings rather than events (`loop`, `policy` ...) the last one is used, as json-c
//!   does.
//! * **Loops.** rt-app's thread body runs `phase_loop` up to the phase's `loop` and
//!   `thread_loop` up to the task's `loop`; a count that is never reached (<= 0) means forever.
//!   - Task with `phases`: task `loop` absent or < 0 → [`TaskSpec::loops`] `None`; `n >= 0` →
//!     `Some(n)` (0: the thread starts and ends at once). Phase `loop` absent → 1, `n >= 1` → n.
//!   - A phase `loop` <= 0 makes rt-app stay in that phase forever. If it is the only phase this
//!     is task `loops: None` with phase `loops: 1`; otherwise the phase gets
//!     [`PHASE_LOOPS_FOREVER`] and the phases after it, which can never run, are dropped with a
//!     warning.
//!   - Task without `phases`: the task object is the single phase. rt-app reads `loop` as that
//!     phase's count and runs the phase list once when `loop` is given, forever when it is not.
//!     So `loop` absent or <= 0 → task `None`, phase 1; `loop: n >= 1` → task `Some(1)`, phase
//!     `n` (this keeps rt-app's `thread_loop`/`phase_loop` numbering for trace markers).
//! * **Legacy DL keys** (`runtime`, `period`, `deadline`) are read at task level only, only when
//!   the matching `dl-*` key is absent, and only for a SCHED_DEADLINE task. rt-app reads them
//!   for any policy, but on a fair task a legacy `runtime` would become an EEVDF custom slice,
//!   and in a task without `phases` `"runtime"` is the runtime *event*: that side effect is
//!   almost never what the author meant, so it is not reproduced (a warning says the keys are
//!   ignored, except a `"runtime"` that is an event). For a SCHED_DEADLINE task without phases,
//!   `"runtime"` is both the event and the budget, as in rt-app, with a warning.
//! * **suspend** waits on the queue named by its *value*, as rt-app does (`browser-short.json`
//!   depends on it: `BrowserDisplay` suspends on `"Browser"`); an empty value means the task
//!   definition's own name (what `workgen` filled in). `resume X` broadcasts queue X.
//! * **Barrier parties** are the sum of `instance` over the task definitions that use the
//!   barrier, each definition counted once however many barrier events it has.
//! * **Timer mode** belongs to the timer in rt-app: one `"mode": "absolute"` on any use makes
//!   every use of that timer absolute. Each [`Event::Timer`] carries that resolved mode.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::error::InputError;
use crate::json::{Key, Value, ValueKind};
use crate::model::*;

/// Linux's default `pid_max` (32768): more threads than this could not be created anyway, and
/// the cap keeps a typo like `"instance": 100000000` from exhausting memory.
const MAX_THREADS: u64 = 32_768;

const NICE_MIN: i64 = -20;
const NICE_MAX: i64 = 19;
const RT_PRIO_MIN: i64 = 1;
const RT_PRIO_MAX: i64 = 99;
/// rt-app's `DEFAULT_THREAD_PRIORITY` for FIFO/RR.
const RT_PRIO_DEFAULT: u32 = 10;

/// `__checkparam_dl` (Linux 6.12): the runtime must be at least `1 << DL_SCALE` ns because
/// the kernel drops the low DL_SCALE bits in its bandwidth arithmetic.
const DL_RUNTIME_MIN_NS: u64 = 1 << 10;
/// `sysctl_sched_dl_period_min` default: 100 µs.
const DL_PERIOD_MIN_NS: u64 = 100 * 1_000;
/// `sysctl_sched_dl_period_max` default: 1 << 22 µs (about 4.19 s).
const DL_PERIOD_MAX_NS: u64 = (1 << 22) * 1_000;

/// EEVDF custom slice bounds (Linux 6.12 `__setscheduler_params`): `sched_runtime` is clamped
/// to 0.1 ms ..= 100 ms, a tenth of a tick at HZ=1000 up to ten ticks at HZ=100.
const SLICE_MIN_NS: u64 = 100_000;
const SLICE_MAX_NS: u64 = 100_000_000;

/// rt-app's event table, in the order it tests prefixes: `runtime` before `run` and `memrun`
/// before `mem` matter; the rest do not overlap.
const EVENTS: [(&str, EvKind); 20] = [
    ("lock", EvKind::Lock),
    ("unlock", EvKind::Unlock),
    ("wait", EvKind::Wait),
    ("signal", EvKind::Signal),
    ("broad", EvKind::Broad),
    ("sync", EvKind::Sync),
    ("sleep", EvKind::Sleep),
    ("runtime", EvKind::Runtime),
    ("run", EvKind::Run),
    ("timer", EvKind::Timer),
    ("suspend", EvKind::Suspend),
    ("resume", EvKind::Resume),
    ("memrun", EvKind::Unsupported),
    ("mem", EvKind::Unsupported),
    ("iorun", EvKind::Unsupported),
    ("yield", EvKind::Yield),
    ("barrier", EvKind::Barrier),
    ("fork", EvKind::Unsupported),
    ("sem_post", EvKind::SemPost),
    ("sem_wait", EvKind::SemWait),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EvKind {
    Lock,
    Unlock,
    Wait,
    Signal,
    Broad,
    Sync,
    Sleep,
    Runtime,
    Run,
    Timer,
    Suspend,
    Resume,
    Yield,
    Barrier,
    SemPost,
    SemWait,
    Unsupported,
}

fn classify(key: &str) -> Option<EvKind> {
    EVENTS
        .iter()
        .find(|(prefix, _)| key.starts_with(prefix))
        .map(|&(_, kind)| kind)
}

/// Keys rt-app reads in a phase (and in a task without `phases`) besides events.
const PHASE_SETTINGS: [&str; 10] = [
    "loop",
    "cpus",
    "policy",
    "priority",
    "dl-runtime",
    "dl-period",
    "dl-deadline",
    "util_min",
    "util_max",
    "nodes_membind",
];
/// Keys rt-app reads only at task level.
const TASK_SETTINGS: [&str; 3] = ["instance", "delay", "phases"];
/// Keys found in real files that rt-app does not read (or no longer reads).
const SILENTLY_IGNORED: [&str; 3] = ["frag", "dl-reclaim", "logstats"];
/// `global` keys that only matter to a real run of rt-app (logs, calibration, memory).
const GLOBAL_IGNORED: [&str; 11] = [
    "calibration",
    "lock_pages",
    "logdir",
    "log_basename",
    "log_size",
    "ftrace",
    "gnuplot",
    "io_device",
    "mem_buffer_size",
    "cumulative_slack",
    "frag",
];
const PROXYSCHED_KEYS: [&str; 9] = [
    "cpus",
    "inherit",
    "proxy_level",
    "hz",
    "seed",
    "switch_cost_ns",
    "migration_cost_ns",
    "ipi_latency_ns",
    "rt_throttling",
];

type Members = [(Key, Value)];

/// The last member with this key: json-c's "last value wins" for settings.
fn last<'v>(members: &'v Members, name: &str) -> Option<&'v (Key, Value)> {
    members.iter().rev().find(|(k, _)| k.name == name)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// An integer setting as written, with where it was written.
#[derive(Clone, Debug)]
struct Given<T> {
    value: T,
    line: u32,
    path: String,
}

/// The scheduling keys of one task or phase object.
#[derive(Clone, Debug, Default)]
struct SchedKeys {
    policy: Option<Given<Policy>>,
    priority: Option<Given<i64>>,
    runtime: Option<Given<i64>>,
    period: Option<Given<i64>>,
    deadline: Option<Given<i64>>,
}

impl SchedKeys {
    fn any(&self) -> bool {
        self.policy.is_some()
            || self.priority.is_some()
            || self.runtime.is_some()
            || self.period.is_some()
            || self.deadline.is_some()
    }

    /// The first key given, in the order a reader looks for the culprit.
    fn first_line_path(&self) -> Option<(u32, String)> {
        fn lp<T>(g: &Option<Given<T>>) -> Option<(u32, String)> {
            g.as_ref().map(|g| (g.line, g.path.clone()))
        }
        lp(&self.policy)
            .or_else(|| lp(&self.runtime))
            .or_else(|| lp(&self.priority))
            .or_else(|| lp(&self.period))
            .or_else(|| lp(&self.deadline))
    }

    /// Where to point an error about `g`: the key itself if it was written, else the first
    /// scheduling key that was, else `fallback` (the task or phase key).
    fn culprit(&self, g: &Option<Given<i64>>, fallback: (u32, &str)) -> (u32, String) {
        match g {
            Some(g) => (g.line, g.path.clone()),
            None => self
                .first_line_path()
                .unwrap_or_else(|| (fallback.0, fallback.1.to_string())),
        }
    }
}

/// Interned names of one resource kind; ids are in order of first use.
#[derive(Default)]
struct Table {
    names: Vec<String>,
    index: BTreeMap<String, u32>,
}

impl Table {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), id);
        id
    }
}

/// A timer reference before threads are expanded: unique timers exist once per thread.
#[derive(Clone, Debug)]
enum TimerSlot {
    Shared(u32),
    /// The `ref`, shared by the timers of the definition's threads.
    Unique(Arc<str>),
}

#[derive(Clone, Debug)]
enum EvTpl {
    Ready(Event),
    Timer { slot: TimerSlot, period_ns: u64 },
}

#[derive(Clone, Debug)]
struct PhaseTpl {
    /// As [`Phase::key`].
    key: Option<Arc<str>>,
    loops: u64,
    sched: Option<SchedAttr>,
    cpus: Option<Arc<[u32]>>,
    cpus_line: Option<u32>,
    events: Vec<EvTpl>,
    origins: Arc<[EventOrigin]>,
}

struct DefTpl {
    name: Arc<str>,
    origin: Origin,
    instances: u32,
    delay_ns: u64,
    loops: Option<u64>,
    sched: SchedAttr,
    /// As [`TaskSpec::cpus_line`].
    cpus_line: u32,
    phases: Vec<PhaseTpl>,
    /// Per `unique…` ref: whether any use asks for absolute mode.
    unique_absolute: BTreeMap<String, bool>,
}

/// What the definition being parsed needs to know while reading its events.
struct DefState {
    index: usize,
    name: String,
    running: bool,
    unique_modes: BTreeMap<String, (bool, bool)>,
}

struct Resolver<'a> {
    file: &'a str,
    /// (line, message), sorted by line (stably) when the workload is built.
    warnings: Vec<(u32, String)>,
    mutexes: Table,
    conds: Table,
    sems: Table,
    barriers: Table,
    /// Barrier id → task definitions using it.
    barrier_users: BTreeMap<u32, BTreeSet<usize>>,
    shared_timers: Table,
    /// Shared timer id → (some use is relative, some use is absolute).
    shared_modes: BTreeMap<u32, (bool, bool)>,
    /// Where each shared timer was first used, for the mixed-mode warning.
    shared_first: BTreeMap<u32, (u32, String)>,
    queues: Table,
    /// The keys events are written under (`run`, `lock2` ...).
    event_keys: Table,
    /// Queue id → first suspend / resume by a thread that actually starts.
    suspended_at: BTreeMap<u32, (u32, String)>,
    resumed_at: BTreeMap<u32, (u32, String)>,
    default_policy: Policy,
}

/// Resolves the parsed document, which it takes so it can free it before the workload is
/// built: for thousands of tasks the document is much of the peak memory of a run.
pub(crate) fn resolve(file: &str, root: Value) -> Result<Workload, InputError> {
    let mut r = Resolver {
        file,
        warnings: Vec::new(),
        mutexes: Table::default(),
        conds: Table::default(),
        sems: Table::default(),
        barriers: Table::default(),
        barrier_users: BTreeMap::new(),
        shared_timers: Table::default(),
        shared_modes: BTreeMap::new(),
        shared_first: BTreeMap::new(),
        queues: Table::default(),
        event_keys: Table::default(),
        suspended_at: BTreeMap::new(),
        resumed_at: BTreeMap::new(),
        default_policy: Policy::Normal,
    };
    let (global, defs) = r.definitions(root)?;
    r.expand(global, defs)
}

impl<'a> Resolver<'a> {
    fn err(&self, line: u32, path: &str, message: impl Into<String>) -> InputError {
        InputError::new(self.file, line, Some(path.to_string()), message)
    }

    fn warn(&mut self, line: u32, path: &str, message: impl AsRef<str>) {
        self.warnings.push((
            line,
            format!("{}:{line}: {path}: {}", self.file, message.as_ref()),
        ));
    }

    /// Warns once per key that appears more than once in `members`. `ordered` says whether
    /// repeats of that key are all kept (events, tasks, phases) or the last one wins.
    fn warn_repeats(&mut self, members: &Members, path: &str, ordered: impl Fn(&str) -> bool) {
        let mut lines: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for (k, _) in members {
            lines.entry(k.name.as_str()).or_default().push(k.pos.line);
        }
        let mut done = BTreeSet::new();
        for (k, _) in members {
            let name = k.name.as_str();
            let at = &lines[name];
            if at.len() < 2 || !done.insert(name) {
                continue;
            }
            let list = at.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
            let msg = if ordered(name) {
                format!(
                    "\"{name}\" appears {} times (lines {list}): rt-app run directly (json-c) \
                     keeps only the last value; proxysched keeps every occurrence in order, \
                     as rt-app's workgen does",
                    at.len()
                )
            } else {
                format!(
                    "\"{name}\" appears {} times (lines {list}): the last value is used, as \
                     rt-app (json-c) does",
                    at.len()
                )
            };
            self.warn(k.pos.line, &join(path, name), msg);
        }
    }

    // ----- typed accessors -------------------------------------------------------------

    fn int(&self, kv: &(Key, Value), path: &str, what: &str) -> Result<i64, InputError> {
        let (k, v) = kv;
        match &v.kind {
            ValueKind::Int(i) => Ok(*i),
            ValueKind::Float(text) => Err(self.err(
                k.pos.line,
                path,
                format!(
                    "{what} must be an integer, found {text} (rt-app accepts only integers \
                     here; times are whole microseconds)"
                ),
            )),
            _ => Err(self.err(
                k.pos.line,
                path,
                format!("{what} must be an integer, found {}", v.type_name()),
            )),
        }
    }

    fn string<'v>(
        &self,
        kv: &'v (Key, Value),
        path: &str,
        what: &str,
    ) -> Result<&'v str, InputError> {
        let (k, v) = kv;
        v.as_str().ok_or_else(|| {
            self.err(
                k.pos.line,
                path,
                format!("{what} must be a string, found {}", v.type_name()),
            )
        })
    }

    fn boolean(&self, kv: &(Key, Value), path: &str) -> Result<bool, InputError> {
        let (k, v) = kv;
        v.as_bool().ok_or_else(|| {
            self.err(
                k.pos.line,
                path,
                format!("expected true or false, found {}", v.type_name()),
            )
        })
    }

    fn object<'v>(
        &self,
        kv: &'v (Key, Value),
        path: &str,
        what: &str,
    ) -> Result<&'v Members, InputError> {
        let (k, v) = kv;
        v.as_object().ok_or_else(|| {
            self.err(
                k.pos.line,
                path,
                format!(
                    "{what} must be an object {{ ... }}, found {}",
                    v.type_name()
                ),
            )
        })
    }

    /// Microseconds (as rt-app writes times) to nanoseconds.
    fn us_to_ns(&self, us: i64, line: u32, path: &str, what: &str) -> Result<u64, InputError> {
        if us < 0 {
            return Err(self.err(
                line,
                path,
                format!("{what} must not be negative, found {us} µs"),
            ));
        }
        (us as u64).checked_mul(1_000).ok_or_else(|| {
            self.err(
                line,
                path,
                format!("{what} of {us} µs is too large to represent in nanoseconds"),
            )
        })
    }

    fn policy(&self, kv: &(Key, Value), path: &str) -> Result<Policy, InputError> {
        let name = self.string(kv, path, "the policy")?;
        match name {
            "SCHED_OTHER" | "SCHED_NORMAL" => Ok(Policy::Normal),
            "SCHED_BATCH" => Ok(Policy::Batch),
            "SCHED_IDLE" => Ok(Policy::Idle),
            "SCHED_FIFO" => Ok(Policy::Fifo),
            "SCHED_RR" => Ok(Policy::RoundRobin),
            "SCHED_DEADLINE" => Ok(Policy::Deadline),
            other => Err(self.err(
                kv.0.pos.line,
                path,
                format!(
                    "unknown policy \"{other}\"; expected one of SCHED_OTHER, SCHED_NORMAL, \
                     SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR, SCHED_DEADLINE"
                ),
            )),
        }
    }

    fn cpus(&self, kv: &(Key, Value), path: &str) -> Result<Vec<u32>, InputError> {
        let (k, v) = kv;
        let ValueKind::Array(items) = &v.kind else {
            return Err(self.err(
                k.pos.line,
                path,
                format!(
                    "cpus must be an array of CPU ids such as [0, 2], found {}",
                    v.type_name()
                ),
            ));
        };
        if items.is_empty() {
            return Err(self.err(
                k.pos.line,
                path,
                "cpus is empty: list at least one CPU id (omit the key to allow every CPU)",
            ));
        }
        let mut cpus = Vec::with_capacity(items.len());
        for item in items {
            match &item.kind {
                ValueKind::Int(i) if (0..=i64::from(u32::MAX)).contains(i) => cpus.push(*i as u32),
                ValueKind::Int(i) => {
                    return Err(self.err(
                        item.pos.line,
                        path,
                        format!("CPU id {i} is not valid: CPU ids are integers from 0"),
                    ))
                }
                _ => {
                    return Err(self.err(
                        item.pos.line,
                        path,
                        format!(
                            "cpus must contain CPU ids (non-negative integers), found {}",
                            item.type_name()
                        ),
                    ))
                }
            }
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(cpus)
    }

    // ----- the document ----------------------------------------------------------------

    /// The global section and every task definition, checked. Each task's part of the
    /// document is freed as soon as its definition is built, so the two are never both whole.
    fn definitions(&mut self, root: Value) -> Result<(Global, Vec<DefTpl>), InputError> {
        let root_line = root.pos.line;
        let ValueKind::Object(mut top) = root.kind else {
            return Err(InputError::new(
                self.file,
                root.pos.line,
                None,
                format!(
                    "the file must hold a JSON object with a \"tasks\" member, found {}",
                    root.type_name()
                ),
            ));
        };
        self.warn_repeats(&top, "", |_| false);
        for (k, v) in &top {
            match k.name.as_str() {
                "tasks" | "global" => {}
                "resources" => {
                    let empty = match &v.kind {
                        ValueKind::Object(m) => m.is_empty(),
                        ValueKind::Array(a) => a.is_empty(),
                        ValueKind::Int(0) | ValueKind::Null => true,
                        _ => false,
                    };
                    if empty {
                        self.warn(k.pos.line, "resources", "empty legacy section, ignored");
                    } else {
                        return Err(self.err(
                            k.pos.line,
                            "resources",
                            "the legacy \"resources\" section is not supported yet; resources \
                             are created from the events that name them (\"lock\": \"m\" ...), \
                             so the section can usually be deleted",
                        ));
                    }
                }
                other => {
                    self.warn(
                        k.pos.line,
                        other,
                        "unknown top-level key ignored (rt-app reads only \"tasks\", \"global\" \
                         and \"resources\")",
                    );
                }
            }
        }

        let global = self.global(last(&top, "global"))?;
        self.default_policy = global.default_policy;

        let Some(tasks_at) = top.iter().rposition(|(k, _)| k.name == "tasks") else {
            return Err(InputError::new(
                self.file,
                root_line,
                None,
                "no \"tasks\" object: rt-app needs at least one task, e.g. \
                 \"tasks\": { \"t\": { \"run\": 1000, \"sleep\": 9000 } }",
            ));
        };
        let tasks_line = top[tasks_at].0.pos.line;
        let tasks = self.object(&top[tasks_at], "tasks", "\"tasks\"")?;
        if tasks.is_empty() {
            return Err(self.err(
                tasks_line,
                "tasks",
                "no task is defined: add at least one task object",
            ));
        }
        self.warn_repeats(tasks, "tasks", |_| true);
        let tasks = match top.swap_remove(tasks_at).1.kind {
            ValueKind::Object(tasks) => tasks,
            _ => unreachable!("checked to be an object above"),
        };
        drop(top);

        let mut defs = Vec::with_capacity(tasks.len());
        let mut threads: u64 = 0;
        for (index, kv) in tasks.into_iter().enumerate() {
            let def = self.definition(index, &kv)?;
            threads += u64::from(def.instances);
            if threads > MAX_THREADS {
                return Err(self.err(
                    kv.0.pos.line,
                    &join("tasks", &kv.0.name),
                    format!("more than {MAX_THREADS} threads in total (the sum of \"instance\")"),
                ));
            }
            defs.push(def);
        }
        if threads == 0 {
            return Err(self.err(
                tasks_line,
                "tasks",
                "no thread would start: every task has \"instance\": 0",
            ));
        }
        self.suspend_resume_warnings(&defs);
        self.timer_mode_warnings();
        Ok((global, defs))
    }

    fn global(&mut self, kv: Option<&(Key, Value)>) -> Result<Global, InputError> {
        let mut g = Global::default();
        let Some(kv) = kv else { return Ok(g) };
        let members = self.object(kv, "global", "\"global\"")?;
        self.warn_repeats(members, "global", |_| false);
        for (k, _) in members {
            let name = k.name.as_str();
            if !matches!(
                name,
                "duration" | "default_policy" | "pi_enabled" | "proxysched"
            ) && !GLOBAL_IGNORED.contains(&name)
            {
                self.warn(
                    k.pos.line,
                    &join("global", name),
                    "unknown key ignored (as rt-app does)",
                );
            }
        }
        if let Some(d) = last(members, "duration") {
            let path = "global.duration";
            let secs = self.int(d, path, "duration (seconds)")?;
            g.duration_ns = match secs {
                -1 => None,
                0 => {
                    self.warn(
                        d.0.pos.line,
                        path,
                        "duration 0 means \"no limit\" to rt-app (only a positive duration \
                         stops the run); write -1 to say so",
                    );
                    None
                }
                s if s < 0 => {
                    return Err(self.err(
                        d.0.pos.line,
                        path,
                        format!(
                            "duration must be -1 (run until every task ends) or a positive \
                             number of seconds, found {s}"
                        ),
                    ))
                }
                s => Some((s as u64).checked_mul(1_000_000_000).ok_or_else(|| {
                    self.err(d.0.pos.line, path, format!("duration {s} s is too large"))
                })?),
            };
        }
        if let Some(p) = last(members, "default_policy") {
            g.default_policy = self.policy(p, "global.default_policy")?;
        }
        if let Some(p) = last(members, "pi_enabled") {
            g.pi_enabled = self.boolean(p, "global.pi_enabled")?;
        }
        if let Some(p) = last(members, "proxysched") {
            g.sim = self.sim_settings(p)?;
        }
        Ok(g)
    }

    fn sim_settings(&mut self, kv: &(Key, Value)) -> Result<SimSettings, InputError> {
        let base = "global.proxysched";
        let members = self.object(kv, base, "\"proxysched\"")?;
        self.warn_repeats(members, base, |_| false);
        for (k, _) in members {
            if !PROXYSCHED_KEYS.contains(&k.name.as_str()) {
                return Err(self.err(
                    k.pos.line,
                    &join(base, &k.name),
                    format!(
                        "unknown proxysched setting; the known ones are {}",
                        PROXYSCHED_KEYS.join(", ")
                    ),
                ));
            }
        }
        let mut s = SimSettings::default();
        let ranged = |r: &Self, name: &str, lo: i64, hi: i64| -> Result<Option<i64>, InputError> {
            let Some(kv) = last(members, name) else {
                return Ok(None);
            };
            let path = join(base, name);
            let v = r.int(kv, &path, name)?;
            if v < lo || v > hi {
                return Err(r.err(
                    kv.0.pos.line,
                    &path,
                    format!("{name} must be within {lo}..={hi}, found {v}"),
                ));
            }
            Ok(Some(v))
        };
        s.cpus = ranged(self, "cpus", 1, 1024)?.map(|v| v as u32);
        s.hz = ranged(self, "hz", 1, 10_000)?.map(|v| v as u32);
        s.seed = ranged(self, "seed", 0, i64::MAX)?.map(|v| v as u64);
        s.switch_cost_ns = ranged(self, "switch_cost_ns", 0, i64::MAX)?.map(|v| v as u64);
        s.migration_cost_ns = ranged(self, "migration_cost_ns", 0, i64::MAX)?.map(|v| v as u64);
        s.ipi_latency_ns = ranged(self, "ipi_latency_ns", 0, i64::MAX)?.map(|v| v as u64);
        if let Some(kv) = last(members, "inherit") {
            let path = join(base, "inherit");
            s.inherit = Some(match self.string(kv, &path, "inherit")? {
                "none" => Inherit::None,
                "pi" => Inherit::Pi,
                "proxy" => Inherit::Proxy,
                other => {
                    return Err(self.err(
                        kv.0.pos.line,
                        &path,
                        format!("unknown inherit mode \"{other}\"; expected none, pi or proxy"),
                    ))
                }
            });
        }
        if let Some(kv) = last(members, "proxy_level") {
            let path = join(base, "proxy_level");
            s.proxy_level = Some(match self.string(kv, &path, "proxy_level")? {
                "single-rq" => ProxyLevel::SingleRq,
                "donor-migration" => ProxyLevel::DonorMigration,
                "full" => ProxyLevel::Full,
                other => {
                    return Err(self.err(
                        kv.0.pos.line,
                        &path,
                        format!(
                            "unknown proxy level \"{other}\"; expected single-rq, \
                             donor-migration or full"
                        ),
                    ))
                }
            });
        }
        if let Some(kv) = last(members, "rt_throttling") {
            s.rt_throttling = Some(self.boolean(kv, &join(base, "rt_throttling"))?);
        }
        Ok(s)
    }

    // ----- tasks -----------------------------------------------------------------------

    fn definition(&mut self, index: usize, kv: &(Key, Value)) -> Result<DefTpl, InputError> {
        let (key, _) = kv;
        let path = join("tasks", &key.name);
        let obj = self.object(kv, &path, "a task")?;
        // Shared by the task and its threads.
        let def_name: Arc<str> = Arc::from(key.name.as_str());
        let has_phases = last(obj, "phases").is_some();
        self.warn_repeats(obj, &path, |name| !has_phases && classify(name).is_some());

        let instances = match last(obj, "instance") {
            None => 1,
            Some(i) => {
                let ipath = join(&path, "instance");
                let n = self.int(i, &ipath, "instance")?;
                if !(0..=MAX_THREADS as i64).contains(&n) {
                    return Err(self.err(
                        i.0.pos.line,
                        &ipath,
                        format!(
                            "instance must be within 0..={MAX_THREADS} (0 defines a template \
                             that is not started), found {n}"
                        ),
                    ));
                }
                n as u32
            }
        };
        let delay_ns = match last(obj, "delay") {
            None => 0,
            Some(d) => {
                let dpath = join(&path, "delay");
                let us = self.int(d, &dpath, "delay (µs)")?;
                self.us_to_ns(us, d.0.pos.line, &dpath, "delay")?
            }
        };

        let mut keys = self.sched_keys(obj, &path)?;
        let policy = keys
            .policy
            .as_ref()
            .map_or(self.default_policy, |g| g.value);
        self.legacy_dl_keys(obj, &path, policy, has_phases, &mut keys)?;
        let task_line = key.pos.line;
        let sched = self.attr(&keys, None, policy, (task_line, &path))?;

        let task_cpus: Option<Arc<[u32]>> = match last(obj, "cpus") {
            None => None,
            Some(c) => Some(self.cpus(c, &join(&path, "cpus"))?.into()),
        };
        let cpus_line = last(obj, "cpus").map_or(0, |c| c.0.pos.line);
        self.no_effect_keys(obj, &path)?;

        let mut state = DefState {
            index,
            name: key.name.clone(),
            running: instances > 0,
            unique_modes: BTreeMap::new(),
        };

        let (loops, phases) = if let Some(pkv) = last(obj, "phases") {
            let ppath = join(&path, "phases");
            let pobj = self.object(pkv, &ppath, "\"phases\"")?;
            if pobj.is_empty() {
                return Err(self.err(
                    pkv.0.pos.line,
                    &ppath,
                    "phases is empty: define at least one phase, or put the events directly in \
                     the task",
                ));
            }
            self.warn_repeats(pobj, &ppath, |_| true);
            self.task_level_keys(obj, &path);
            let mut phases = Vec::with_capacity(pobj.len());
            let mut raw_loops = Vec::with_capacity(pobj.len());
            let mut cur = sched;
            for pkv in pobj {
                let (phase, raw) = self.phase(pkv, &ppath, &cur, task_cpus.as_ref(), &mut state)?;
                if let Some(s) = phase.sched {
                    cur = s;
                }
                phases.push(phase);
                raw_loops.push(raw);
            }
            let mut loops = match last(obj, "loop") {
                None => None,
                Some(l) => {
                    let n = self.int(l, &join(&path, "loop"), "loop")?;
                    u64::try_from(n).ok()
                }
            };
            if let Some(i) = raw_loops.iter().position(|&n| n <= 0) {
                let (pk, _) = &pobj[i];
                let lpath = join(&join(&ppath, &pk.name), "loop");
                if phases.len() == 1 {
                    phases[0].loops = 1;
                    if loops != Some(0) {
                        loops = None;
                    }
                } else {
                    phases[i].loops = PHASE_LOOPS_FOREVER;
                    if i + 1 < phases.len() {
                        let dropped: Vec<_> = phases[i + 1..]
                            .iter()
                            .filter_map(|p| p.key.as_deref())
                            .collect();
                        let msg = format!(
                            "loop {} repeats this phase forever, so the phases after it ({}) \
                             never run",
                            raw_loops[i],
                            dropped.join(", ")
                        );
                        self.warn(pk.pos.line, &lpath, msg);
                        phases.truncate(i + 1);
                    }
                    if loops != Some(0) {
                        loops = Some(1);
                    }
                }
            }
            (loops, phases)
        } else {
            let (events, origins) = self.events(obj, &path, &mut state)?;
            if events.is_empty() {
                return Err(self.err(
                    key.pos.line,
                    &path,
                    "the task has no events (rt-app refuses a task that does nothing): add \
                     events such as \"run\": 1000, or a \"phases\" object",
                ));
            }
            self.phase_level_keys(obj, &path, true);
            let (task_loops, phase_loops) = match last(obj, "loop") {
                None => (None, 1),
                Some(l) => match self.int(l, &join(&path, "loop"), "loop")? {
                    n if n >= 1 => (Some(1), n as u64),
                    _ => (None, 1),
                },
            };
            let phase = PhaseTpl {
                key: None,
                loops: phase_loops,
                sched: None,
                // The task's `cpus`, inherited like a phase without its own.
                cpus: task_cpus,
                cpus_line: None,
                events,
                origins: origins.into(),
            };
            (task_loops, vec![phase])
        };

        let mut unique_absolute = BTreeMap::new();
        for (name, &(rel, abs)) in &state.unique_modes {
            if rel && abs {
                self.warn(
                    key.pos.line,
                    &path,
                    format!(
                        "timer \"{name}\" is used both in relative and absolute mode; the mode \
                         belongs to the timer in rt-app, so every use is absolute"
                    ),
                );
            }
            unique_absolute.insert(name.clone(), abs);
        }

        Ok(DefTpl {
            name: def_name,
            origin: Origin {
                line: key.pos.line,
                key: path.into(),
            },
            instances,
            delay_ns,
            loops,
            sched,
            cpus_line,
            phases,
            unique_absolute,
        })
    }

    /// Reads `runtime`/`period`/`deadline` as SCHED_DEADLINE parameters where rt-app's legacy
    /// grammar would (see the module documentation for what we do differently and why).
    fn legacy_dl_keys(
        &mut self,
        obj: &Members,
        path: &str,
        policy: Policy,
        has_phases: bool,
        keys: &mut SchedKeys,
    ) -> Result<(), InputError> {
        let legacy = [
            ("runtime", "dl-runtime"),
            ("period", "dl-period"),
            ("deadline", "dl-deadline"),
        ];
        for (old, new) in legacy {
            let Some(kv) = last(obj, old) else { continue };
            let kpath = join(path, old);
            let is_event = old == "runtime" && !has_phases;
            if policy != Policy::Deadline {
                if !is_event {
                    self.warn(
                        kv.0.pos.line,
                        &kpath,
                        format!(
                            "legacy SCHED_DEADLINE parameter ignored: the task's policy is {} \
                             (\"{new}\" is the current spelling)",
                            policy.kernel_name()
                        ),
                    );
                }
                continue;
            }
            let slot = match old {
                "runtime" => &mut keys.runtime,
                "period" => &mut keys.period,
                _ => &mut keys.deadline,
            };
            if slot.is_some() {
                continue;
            }
            if is_event {
                self.warn(
                    kv.0.pos.line,
                    &kpath,
                    "\"runtime\" is both a runtime event and, since dl-runtime is absent, the \
                     legacy SCHED_DEADLINE runtime (as in rt-app); write dl-runtime to say \
                     which you mean",
                );
            }
            // A non-integer legacy runtime is the event's problem; report it there.
            let Some(value) = kv.1.as_int() else {
                if is_event {
                    continue;
                }
                return Err(self.err(
                    kv.0.pos.line,
                    &kpath,
                    format!(
                        "legacy SCHED_DEADLINE {old} must be an integer number of µs, found {}",
                        kv.1.type_name()
                    ),
                ));
            };
            *slot = Some(Given {
                value,
                line: kv.0.pos.line,
                path: kpath,
            });
        }
        Ok(())
    }

    fn sched_keys(&self, obj: &Members, path: &str) -> Result<SchedKeys, InputError> {
        let mut keys = SchedKeys::default();
        if let Some(kv) = last(obj, "policy") {
            let p = join(path, "policy");
            keys.policy = Some(Given {
                value: self.policy(kv, &p)?,
                line: kv.0.pos.line,
                path: p,
            });
        }
        let int_key = |name: &str, what: &str| -> Result<Option<Given<i64>>, InputError> {
            let Some(kv) = last(obj, name) else {
                return Ok(None);
            };
            let p = join(path, name);
            Ok(Some(Given {
                value: self.int(kv, &p, what)?,
                line: kv.0.pos.line,
                path: p,
            }))
        };
        keys.priority = int_key("priority", "priority")?;
        keys.runtime = int_key("dl-runtime", "dl-runtime (µs)")?;
        keys.period = int_key("dl-period", "dl-period (µs)")?;
        keys.deadline = int_key("dl-deadline", "dl-deadline (µs)")?;
        Ok(keys)
    }

    /// Builds the attributes a task starts with (`base` = None) or a phase switches to
    /// (`base` = the task's attributes in effect before the phase). At phase level rt-app's
    /// policy is "unchanged" unless given; with it unchanged, unspecified values carry over
    /// from `base`, and with a policy given they take the policy's defaults, as rt-app does.
    fn attr(
        &mut self,
        keys: &SchedKeys,
        base: Option<&SchedAttr>,
        policy: Policy,
        (line, path): (u32, &str),
    ) -> Result<SchedAttr, InputError> {
        let inherit = if keys.policy.is_none() { base } else { None };
        match policy {
            Policy::Normal | Policy::Batch | Policy::Idle => {
                let nice = match &keys.priority {
                    Some(g) => {
                        if !(NICE_MIN..=NICE_MAX).contains(&g.value) {
                            return Err(self.err(
                                g.line,
                                &g.path,
                                format!(
                                    "priority {} is out of range for {}: for fair policies it is \
                                     the nice value, {NICE_MIN}..={NICE_MAX}",
                                    g.value,
                                    policy.kernel_name()
                                ),
                            ));
                        }
                        g.value as i32
                    }
                    None => match inherit {
                        Some(SchedAttr::Fair { nice, .. }) => *nice,
                        _ => 0,
                    },
                };
                let slice_ns = match &keys.runtime {
                    Some(g) => self.custom_slice(g)?,
                    None => match inherit {
                        Some(SchedAttr::Fair { slice_ns, .. }) => *slice_ns,
                        _ => None,
                    },
                };
                for g in [&keys.period, &keys.deadline].into_iter().flatten() {
                    self.warn(
                        g.line,
                        &g.path,
                        format!(
                            "has no effect on a {} task (only dl-runtime is read, as the \
                             EEVDF custom slice)",
                            policy.kernel_name()
                        ),
                    );
                }
                Ok(SchedAttr::Fair {
                    policy,
                    nice,
                    slice_ns,
                })
            }
            Policy::Fifo | Policy::RoundRobin => {
                let rt_priority = match &keys.priority {
                    Some(g) => {
                        if !(RT_PRIO_MIN..=RT_PRIO_MAX).contains(&g.value) {
                            return Err(self.err(
                                g.line,
                                &g.path,
                                format!(
                                    "priority {} is out of range for {}: real-time priorities \
                                     are {RT_PRIO_MIN}..={RT_PRIO_MAX}",
                                    g.value,
                                    policy.kernel_name()
                                ),
                            ));
                        }
                        g.value as u32
                    }
                    None => match inherit {
                        Some(SchedAttr::Rt { rt_priority, .. }) => *rt_priority,
                        _ => RT_PRIO_DEFAULT,
                    },
                };
                for g in [&keys.runtime, &keys.period, &keys.deadline]
                    .into_iter()
                    .flatten()
                {
                    self.warn(
                        g.line,
                        &g.path,
                        format!("has no effect on a {} task", policy.kernel_name()),
                    );
                }
                Ok(SchedAttr::Rt {
                    policy,
                    rt_priority,
                })
            }
            Policy::Deadline => {
                let inherited = match inherit {
                    Some(SchedAttr::Deadline {
                        runtime_ns,
                        deadline_ns,
                        period_ns,
                    }) => Some((*runtime_ns, *deadline_ns, *period_ns)),
                    _ => None,
                };
                let ns = |r: &Self, g: &Given<i64>, what: &str| -> Result<u64, InputError> {
                    if g.value <= 0 {
                        return Err(r.err(
                            g.line,
                            &g.path,
                            format!("{what} must be a positive number of µs, found {}", g.value),
                        ));
                    }
                    r.us_to_ns(g.value, g.line, &g.path, what)
                };
                let runtime_ns = match (&keys.runtime, inherited) {
                    (Some(g), _) => ns(self, g, "dl-runtime")?,
                    (None, Some((r, _, _))) => r,
                    (None, None) => {
                        let (l, p) = keys.policy.as_ref().map_or_else(
                            || keys.culprit(&None, (line, path)),
                            |g| (g.line, g.path.clone()),
                        );
                        return Err(self.err(
                            l,
                            &p,
                            "a SCHED_DEADLINE task needs \"dl-runtime\" (µs); \"dl-period\" \
                             defaults to it and \"dl-deadline\" to the period",
                        ));
                    }
                };
                let period_ns = match (&keys.period, inherited) {
                    (Some(g), _) => ns(self, g, "dl-period")?,
                    (None, Some((_, _, p))) if keys.runtime.is_none() => p,
                    (None, _) => runtime_ns,
                };
                let deadline_ns = match (&keys.deadline, inherited) {
                    (Some(g), _) => ns(self, g, "dl-deadline")?,
                    (None, Some((_, d, _))) if keys.runtime.is_none() && keys.period.is_none() => d,
                    (None, _) => period_ns,
                };
                self.check_dl(keys, runtime_ns, deadline_ns, period_ns, (line, path))?;
                Ok(SchedAttr::Deadline {
                    runtime_ns,
                    deadline_ns,
                    period_ns,
                })
            }
        }
    }

    /// Linux 6.12 `__checkparam_dl` with the default sysctls.
    fn check_dl(
        &self,
        keys: &SchedKeys,
        runtime_ns: u64,
        deadline_ns: u64,
        period_ns: u64,
        fallback: (u32, &str),
    ) -> Result<(), InputError> {
        let fail = |g: &Option<Given<i64>>, msg: String| {
            let (l, p) = keys.culprit(g, fallback);
            Err(self.err(l, &p, msg))
        };
        let us = |ns: u64| format!("{} µs", ns / 1_000);
        if runtime_ns < DL_RUNTIME_MIN_NS {
            return fail(
                &keys.runtime,
                format!(
                    "SCHED_DEADLINE runtime {} is below Linux's minimum of {DL_RUNTIME_MIN_NS} ns",
                    us(runtime_ns)
                ),
            );
        }
        if runtime_ns > deadline_ns {
            let who = if keys.runtime.is_some() {
                &keys.runtime
            } else {
                &keys.deadline
            };
            return fail(
                who,
                format!(
                    "SCHED_DEADLINE needs runtime <= deadline <= period, but runtime {} > \
                     deadline {} (Linux sched_setattr would fail with EINVAL)",
                    us(runtime_ns),
                    us(deadline_ns)
                ),
            );
        }
        if deadline_ns > period_ns {
            let who = if keys.deadline.is_some() {
                &keys.deadline
            } else {
                &keys.period
            };
            return fail(
                who,
                format!(
                    "SCHED_DEADLINE needs runtime <= deadline <= period, but deadline {} > \
                     period {} (Linux sched_setattr would fail with EINVAL)",
                    us(deadline_ns),
                    us(period_ns)
                ),
            );
        }
        if !(DL_PERIOD_MIN_NS..=DL_PERIOD_MAX_NS).contains(&period_ns) {
            let who = if keys.period.is_some() {
                &keys.period
            } else {
                &keys.runtime
            };
            return fail(
                who,
                format!(
                    "SCHED_DEADLINE period {} is outside Linux's default limits {}..={} \
                     (sched_dl_period_min_us / sched_dl_period_max_us)",
                    us(period_ns),
                    us(DL_PERIOD_MIN_NS),
                    us(DL_PERIOD_MAX_NS)
                ),
            );
        }
        Ok(())
    }

    /// `dl-runtime` on a fair task: the EEVDF custom slice, clamped as Linux 6.12 does.
    fn custom_slice(&mut self, g: &Given<i64>) -> Result<Option<u64>, InputError> {
        let ns = self.us_to_ns(g.value, g.line, &g.path, "dl-runtime (custom slice)")?;
        if ns == 0 {
            return Ok(None);
        }
        let clamped = ns.clamp(SLICE_MIN_NS, SLICE_MAX_NS);
        if clamped != ns {
            self.warn(
                g.line,
                &g.path,
                format!(
                    "custom slice of {} µs clamped to {} µs (Linux accepts 100 µs ..= 100 ms)",
                    g.value,
                    clamped / 1_000
                ),
            );
        }
        Ok(Some(clamped))
    }

    /// Keys rt-app accepts but that have no meaning in the simulator.
    fn no_effect_keys(&mut self, obj: &Members, path: &str) -> Result<(), InputError> {
        for name in ["util_min", "util_max", "nodes_membind"] {
            if let Some(kv) = last(obj, name) {
                self.warn(
                    kv.0.pos.line,
                    &join(path, name),
                    "accepted but has no effect: proxysched models neither utilization \
                     clamping nor NUMA memory",
                );
            }
        }
        if let Some(kv) = last(obj, "taskgroup") {
            let tpath = join(path, "taskgroup");
            let name = self.string(kv, &tpath, "taskgroup")?;
            if !name.is_empty() {
                return Err(self.err(
                    kv.0.pos.line,
                    &tpath,
                    format!(
                        "taskgroup \"{name}\": not supported yet (proxysched has no cgroups); \
                         remove the key or set it to \"\""
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks the keys of a task that has `phases`: everything but task settings is ignored
    /// by rt-app there, events included.
    fn task_level_keys(&mut self, obj: &Members, path: &str) {
        for (k, _) in obj {
            let name = k.name.as_str();
            let kpath = join(path, name);
            if TASK_SETTINGS.contains(&name)
                || PHASE_SETTINGS.contains(&name)
                || SILENTLY_IGNORED.contains(&name)
                || name == "taskgroup"
            {
                continue;
            }
            if matches!(name, "runtime" | "period" | "deadline") {
                // Read (SCHED_DEADLINE) or warned about (others) by legacy_dl_keys.
                continue;
            }
            if classify(name).is_some() {
                self.warn(
                    k.pos.line,
                    &kpath,
                    "event ignored: a task with \"phases\" runs only the events inside its \
                     phases (as rt-app does)",
                );
            } else {
                self.unknown_key(k.pos.line, &kpath);
            }
        }
    }

    /// Checks the non-event keys of a phase, or of a task without `phases` (`task_level`).
    fn phase_level_keys(&mut self, obj: &Members, path: &str, task_level: bool) {
        for (k, _) in obj {
            let name = k.name.as_str();
            if classify(name).is_some()
                || PHASE_SETTINGS.contains(&name)
                || SILENTLY_IGNORED.contains(&name)
                || name == "taskgroup"
            {
                continue;
            }
            let kpath = join(path, name);
            if task_level
                && (TASK_SETTINGS.contains(&name) || matches!(name, "period" | "deadline"))
            {
                continue;
            }
            if !task_level && name == "delay" {
                self.warn(
                    k.pos.line,
                    &kpath,
                    "ignored: rt-app reads \"delay\" only at task level",
                );
            } else {
                self.unknown_key(k.pos.line, &kpath);
            }
        }
    }

    fn unknown_key(&mut self, line: u32, path: &str) {
        self.warn(
            line,
            path,
            "unknown key ignored (rt-app ignores keys it does not know; event keys must start \
             with an event name such as run, sleep, timer, lock ...)",
        );
    }

    fn phase(
        &mut self,
        kv: &(Key, Value),
        phases_path: &str,
        cur: &SchedAttr,
        task_cpus: Option<&Arc<[u32]>>,
        state: &mut DefState,
    ) -> Result<(PhaseTpl, i64), InputError> {
        let (key, _) = kv;
        let path = join(phases_path, &key.name);
        let obj = self.object(kv, &path, "a phase")?;
        self.warn_repeats(obj, &path, |name| classify(name).is_some());

        let raw_loop = match last(obj, "loop") {
            None => 1,
            Some(l) => self.int(l, &join(&path, "loop"), "loop")?,
        };
        let keys = self.sched_keys(obj, &path)?;
        let sched = if keys.any() {
            let policy = keys.policy.as_ref().map_or(cur.policy(), |g| g.value);
            Some(self.attr(&keys, Some(cur), policy, (key.pos.line, &path))?)
        } else {
            None
        };
        let (cpus, cpus_line) = match last(obj, "cpus") {
            Some(c) => (
                Some(Arc::from(self.cpus(c, &join(&path, "cpus"))?)),
                Some(c.0.pos.line),
            ),
            None => (task_cpus.cloned(), None),
        };
        self.no_effect_keys(obj, &path)?;
        self.phase_level_keys(obj, &path, false);
        let (events, origins) = self.events(obj, &path, state)?;
        if events.is_empty() {
            return Err(self.err(
                key.pos.line,
                &path,
                "the phase has no events (rt-app refuses a phase that does nothing): add \
                 events such as \"run\": 1000",
            ));
        }
        let phase = PhaseTpl {
            key: Some(Arc::from(key.name.as_str())),
            loops: raw_loop.max(1) as u64,
            sched,
            cpus,
            cpus_line,
            events,
            origins: origins.into(),
        };
        Ok((phase, raw_loop))
    }

    fn events(
        &mut self,
        obj: &Members,
        path: &str,
        state: &mut DefState,
    ) -> Result<(Vec<EvTpl>, Vec<EventOrigin>), InputError> {
        let mut events = Vec::new();
        let mut origins = Vec::new();
        for kv in obj {
            let Some(kind) = classify(&kv.0.name) else {
                continue;
            };
            let epath = join(path, &kv.0.name);
            events.push(self.event(kv, kind, &epath, state)?);
            origins.push(EventOrigin {
                line: kv.0.pos.line,
                key: self.event_keys.intern(&kv.0.name),
            });
        }
        Ok((events, origins))
    }

    fn event(
        &mut self,
        kv: &(Key, Value),
        kind: EvKind,
        path: &str,
        state: &mut DefState,
    ) -> Result<EvTpl, InputError> {
        let line = kv.0.pos.line;
        let name = kv.0.name.as_str();
        let time = |r: &Self, what: &str| -> Result<u64, InputError> {
            let us = r.int(kv, path, &format!("\"{name}\" ({what}, µs)"))?;
            r.us_to_ns(us, line, path, &format!("\"{name}\""))
        };
        let ev = match kind {
            EvKind::Run => Event::Run {
                work_ns: time(self, "work")?,
            },
            EvKind::Runtime => Event::Runtime {
                wall_ns: time(self, "wall time")?,
            },
            EvKind::Sleep => Event::Sleep {
                ns: time(self, "sleep time")?,
            },
            EvKind::Yield => Event::Yield,
            EvKind::Lock | EvKind::Unlock => {
                let m = self.string(kv, path, &format!("\"{name}\" (a mutex name)"))?;
                let mutex = MutexId(self.mutexes.intern(m));
                if kind == EvKind::Lock {
                    Event::Lock { mutex }
                } else {
                    Event::Unlock { mutex }
                }
            }
            EvKind::Signal | EvKind::Broad => {
                let c = self.string(kv, path, &format!("\"{name}\" (a condition name)"))?;
                let cond = CondId(self.conds.intern(c));
                if kind == EvKind::Signal {
                    Event::Signal { cond }
                } else {
                    Event::Broadcast { cond }
                }
            }
            EvKind::Wait | EvKind::Sync => {
                let obj = self.object(
                    kv,
                    path,
                    &format!("\"{name}\" (written {{ \"ref\": \"cond\", \"mutex\": \"m\" }})"),
                )?;
                self.warn_repeats(obj, path, |_| false);
                for (ik, _) in obj {
                    if !matches!(ik.name.as_str(), "ref" | "mutex") {
                        self.warn(
                            ik.pos.line,
                            &join(path, &ik.name),
                            format!("unknown key ignored (\"{name}\" reads ref and mutex)"),
                        );
                    }
                }
                let field = |r: &Self, f: &str| -> Result<&'_ str, InputError> {
                    let fkv = last(obj, f).ok_or_else(|| {
                        r.err(
                            line,
                            path,
                            format!(
                                "\"{name}\" needs \"{f}\": {{ \"ref\": \"<condition>\", \
                                 \"mutex\": \"<mutex>\" }}"
                            ),
                        )
                    })?;
                    r.string(fkv, &join(path, f), f)
                };
                let cond_name = field(self, "ref")?;
                let mutex_name = field(self, "mutex")?;
                let cond = CondId(self.conds.intern(cond_name));
                let mutex = MutexId(self.mutexes.intern(mutex_name));
                if kind == EvKind::Wait {
                    Event::Wait { cond, mutex }
                } else {
                    Event::Sync { cond, mutex }
                }
            }
            EvKind::Barrier => {
                let b = self.string(kv, path, &format!("\"{name}\" (a barrier name)"))?;
                let id = self.barriers.intern(b);
                self.barrier_users
                    .entry(id)
                    .or_default()
                    .insert(state.index);
                Event::Barrier {
                    barrier: BarrierId(id),
                }
            }
            EvKind::SemPost | EvKind::SemWait => {
                let s = self.string(kv, path, &format!("\"{name}\" (a semaphore name)"))?;
                let sem = SemId(self.sems.intern(s));
                if kind == EvKind::SemPost {
                    Event::SemPost { sem }
                } else {
                    Event::SemWait { sem }
                }
            }
            EvKind::Suspend => {
                let q = self.string(kv, path, &format!("\"{name}\" (a queue name)"))?;
                // workgen filled an empty suspend with the thread's own name.
                let q = if q.is_empty() {
                    state.name.clone()
                } else {
                    q.to_string()
                };
                let id = self.queues.intern(&q);
                if state.running {
                    self.suspended_at
                        .entry(id)
                        .or_insert_with(|| (line, path.to_string()));
                }
                Event::Suspend {
                    queue: SuspendId(id),
                }
            }
            EvKind::Resume => {
                let q = self.string(kv, path, &format!("\"{name}\" (the task to wake)"))?;
                if q.is_empty() {
                    return Err(self.err(
                        line,
                        path,
                        "\"resume\" needs the name of the task (queue) to wake",
                    ));
                }
                let id = self.queues.intern(q);
                if state.running {
                    self.resumed_at
                        .entry(id)
                        .or_insert_with(|| (line, path.to_string()));
                }
                Event::Resume {
                    queue: SuspendId(id),
                }
            }
            EvKind::Timer => return self.timer(kv, path, state),
            EvKind::Unsupported => {
                return Err(self.err(
                    line,
                    path,
                    format!(
                        "\"{name}\": not supported yet (proxysched simulates CPU scheduling and \
                         locking; mem, iorun, memrun and fork events have no model)"
                    ),
                ))
            }
        };
        Ok(EvTpl::Ready(ev))
    }

    fn timer(
        &mut self,
        kv: &(Key, Value),
        path: &str,
        state: &mut DefState,
    ) -> Result<EvTpl, InputError> {
        let line = kv.0.pos.line;
        let obj = self.object(
            kv,
            path,
            "a timer (written { \"ref\": \"name\", \"period\": <µs> })",
        )?;
        self.warn_repeats(obj, path, |_| false);
        for (ik, _) in obj {
            if !matches!(ik.name.as_str(), "ref" | "period" | "mode") {
                self.warn(
                    ik.pos.line,
                    &join(path, &ik.name),
                    "unknown key ignored (a timer reads ref, period and mode)",
                );
            }
        }
        let rkv = last(obj, "ref").ok_or_else(|| {
            self.err(
                line,
                path,
                "the timer needs a \"ref\": a name shared by every thread using it, or one \
                 starting with \"unique\" for a timer per thread",
            )
        })?;
        let name = self
            .string(rkv, &join(path, "ref"), "the timer ref")?
            .to_string();
        let pkv = last(obj, "period")
            .ok_or_else(|| self.err(line, path, "the timer needs a \"period\" in µs"))?;
        let ppath = join(path, "period");
        let period_us = self.int(pkv, &ppath, "the timer period (µs)")?;
        if period_us <= 0 {
            return Err(self.err(
                pkv.0.pos.line,
                &ppath,
                format!("the timer period must be a positive number of µs, found {period_us}"),
            ));
        }
        let period_ns = self.us_to_ns(period_us, pkv.0.pos.line, &ppath, "the timer period")?;
        let absolute = match last(obj, "mode") {
            None => false,
            Some(m) => {
                let mpath = join(path, "mode");
                match self.string(m, &mpath, "the timer mode")? {
                    "relative" => false,
                    "absolute" => true,
                    other => {
                        return Err(self.err(
                            m.0.pos.line,
                            &mpath,
                            format!(
                                "unknown timer mode \"{other}\"; expected \"relative\" (the \
                                 default) or \"absolute\""
                            ),
                        ))
                    }
                }
            }
        };
        let slot = if name.starts_with("unique") {
            let modes = state.unique_modes.entry(name.clone()).or_default();
            if absolute {
                modes.1 = true;
            } else {
                modes.0 = true;
            }
            TimerSlot::Unique(name.into())
        } else {
            let id = self.shared_timers.intern(&name);
            let modes = self.shared_modes.entry(id).or_default();
            if absolute {
                modes.1 = true;
            } else {
                modes.0 = true;
            }
            self.shared_first
                .entry(id)
                .or_insert_with(|| (line, path.to_string()));
            TimerSlot::Shared(id)
        };
        Ok(EvTpl::Timer { slot, period_ns })
    }

    fn timer_mode_warnings(&mut self) {
        let mixed: Vec<(u32, String, String)> = self
            .shared_modes
            .iter()
            .filter(|(_, &(rel, abs))| rel && abs)
            .filter_map(|(id, _)| {
                let (line, path) = self.shared_first.get(id)?.clone();
                Some((line, path, self.shared_timers.names[*id as usize].clone()))
            })
            .collect();
        for (line, path, name) in mixed {
            self.warn(
                line,
                &path,
                format!(
                    "timer \"{name}\" is used both in relative and absolute mode; the mode \
                     belongs to the timer in rt-app, so every use is absolute"
                ),
            );
        }
    }

    fn suspend_resume_warnings(&mut self, defs: &[DefTpl]) {
        let mut notes = Vec::new();
        for (id, (line, path)) in &self.suspended_at {
            if !self.resumed_at.contains_key(id) {
                let q = &self.queues.names[*id as usize];
                notes.push((
                    *line,
                    path.clone(),
                    format!(
                        "nothing resumes \"{q}\": a thread that suspends here sleeps until the \
                         end of the run"
                    ),
                ));
            }
        }
        for (id, (line, path)) in &self.resumed_at {
            if !self.suspended_at.contains_key(id) {
                let q = &self.queues.names[*id as usize];
                let known = defs.iter().any(|d| *d.name == **q);
                let extra = if known {
                    String::new()
                } else {
                    format!(" (and there is no task named \"{q}\")")
                };
                notes.push((
                    *line,
                    path.clone(),
                    format!("no thread suspends on \"{q}\", so this resume wakes nobody{extra}"),
                ));
            }
        }
        notes.sort();
        for (line, path, msg) in notes {
            self.warn(line, &path, msg);
        }
    }

    // ----- threads ---------------------------------------------------------------------

    fn expand(&mut self, global: Global, defs: Vec<DefTpl>) -> Result<Workload, InputError> {
        let mut timers: Vec<Timer> = self
            .shared_timers
            .names
            .iter()
            .map(|name| Timer {
                name: name.as_str().into(),
                owner: None,
            })
            .collect();
        let shared_absolute: Vec<bool> = (0..timers.len() as u32)
            .map(|id| self.shared_modes.get(&id).is_some_and(|m| m.1))
            .collect();

        // Barrier parties count threads; the definitions themselves are consumed below, each
        // freed once its threads are built, so templates and workload are not both whole.
        let instances: Vec<u32> = defs.iter().map(|d| d.instances).collect();
        let mut names: BTreeMap<Arc<str>, u32> = BTreeMap::new();
        let mut tasks = Vec::with_capacity(instances.iter().map(|&n| n as usize).sum());
        for def in defs {
            for instance in 0..def.instances {
                let name: Arc<str> = if def.instances == 1 {
                    def.name.clone()
                } else {
                    format!("{}-{instance}", def.name).into()
                };
                if let Some(first) = names.get(&name) {
                    return Err(self.err(
                        def.origin.line,
                        &def.origin.key,
                        format!(
                            "thread name \"{name}\" is already used by the task defined at line \
                             {first}; rename one of them"
                        ),
                    ));
                }
                names.insert(name.clone(), def.origin.line);
                let thread = tasks.len();
                let mut unique: BTreeMap<&str, TimerId> = BTreeMap::new();
                // At most `MAX_THREADS`, checked with the instance counts.
                let owner = thread as u32;
                let mut phases = Vec::with_capacity(def.phases.len());
                for p in &def.phases {
                    let mut events = Vec::with_capacity(p.events.len());
                    for e in &p.events {
                        events.push(match e {
                            EvTpl::Ready(ev) => *ev,
                            EvTpl::Timer { slot, period_ns } => {
                                let (timer, absolute) = match slot {
                                    TimerSlot::Shared(id) => {
                                        (TimerId(*id), shared_absolute[*id as usize])
                                    }
                                    TimerSlot::Unique(r) => {
                                        let id = *unique.entry(r).or_insert_with(|| {
                                            timers.push(Timer {
                                                name: r.clone(),
                                                owner: Some(owner),
                                            });
                                            TimerId((timers.len() - 1) as u32)
                                        });
                                        (
                                            id,
                                            def.unique_absolute.get(&**r).copied().unwrap_or(false),
                                        )
                                    }
                                };
                                Event::Timer {
                                    timer,
                                    period_ns: *period_ns,
                                    mode: if absolute {
                                        TimerMode::Absolute
                                    } else {
                                        TimerMode::Relative
                                    },
                                }
                            }
                        });
                    }
                    phases.push(Phase {
                        key: p.key.clone(),
                        loops: p.loops,
                        sched: p.sched,
                        cpus: p.cpus.clone(),
                        cpus_line: p.cpus_line,
                        events: events.into(),
                        event_origins: p.origins.clone(),
                    });
                }
                tasks.push(TaskSpec {
                    name,
                    definition: def.name.clone(),
                    sched: def.sched,
                    delay_ns: def.delay_ns,
                    loops: def.loops,
                    phases: phases.into(),
                    line: def.origin.line,
                    cpus_line: def.cpus_line,
                });
            }
        }

        let barriers = self
            .barriers
            .names
            .iter()
            .enumerate()
            .map(|(id, name)| Barrier {
                name: name.clone(),
                parties: self
                    .barrier_users
                    .get(&(id as u32))
                    .map_or(0, |users| users.iter().map(|&d| instances[d]).sum()),
            })
            .collect();

        Ok(Workload {
            source: self.file.to_string(),
            global,
            tasks,
            mutexes: std::mem::take(&mut self.mutexes.names),
            conds: std::mem::take(&mut self.conds.names),
            barriers,
            semaphores: std::mem::take(&mut self.sems.names),
            timers: {
                // Built one thread at a time, so grown by doubling.
                timers.shrink_to_fit();
                timers
            },
            suspend_queues: std::mem::take(&mut self.queues.names),
            event_keys: std::mem::take(&mut self.event_keys.names),
            warnings: {
                let mut w = std::mem::take(&mut self.warnings);
                w.sort_by_key(|&(line, _)| line);
                w.into_iter().map(|(_, m)| m).collect()
            },
        })
    }
}

impl Workload {
    /// Checks every `cpus` mask against the machine, once its CPU count is known (it may come
    /// from the command line): each CPU id must exist, and a SCHED_DEADLINE task may not be
    /// restricted to a subset of the CPUs, because Linux refuses that (`sched_setattr` and
    /// `sched_setaffinity` fail with EBUSY/EPERM when a deadline task's affinity does not
    /// span its root domain).
    pub fn check_cpus(&self, nr_cpus: u32) -> Result<(), InputError> {
        for task in &self.tasks {
            // Where a phase's `cpus` was written, built only for a message.
            let origin = |phase| task.cpus_origin(phase).expect("the phase has cpus");
            for phase in &task.phases {
                let Some(cpus) = &phase.cpus else {
                    continue;
                };
                if let Some(&bad) = cpus.iter().find(|&&c| c >= nr_cpus) {
                    let origin = origin(phase);
                    return Err(InputError::new(
                        &self.source,
                        origin.line,
                        Some(origin.key.to_string()),
                        format!(
                            "CPU {bad} does not exist: the simulated machine has {nr_cpus} \
                             CPU{} (0..={}); use fewer CPU ids or more CPUs (--cpus or \
                             global.proxysched.cpus)",
                            if nr_cpus == 1 { "" } else { "s" },
                            nr_cpus.saturating_sub(1)
                        ),
                    ));
                }
            }
            // The attributes in force in each phase; with the phase list repeated, the first
            // phases also run under whatever the last phase set.
            let repeats = !matches!(task.loops, Some(0 | 1));
            let mut cur = task.sched;
            for pass in 0..2 {
                if pass == 1 && !repeats {
                    break;
                }
                for phase in &task.phases {
                    if let Some(s) = phase.sched {
                        cur = s;
                    }
                    let Some(cpus) = &phase.cpus else {
                        continue;
                    };
                    let all = cpus.len() as u64 >= u64::from(nr_cpus)
                        && (0..nr_cpus).all(|c| cpus.binary_search(&c).is_ok());
                    if cur.policy() == Policy::Deadline && !all {
                        let origin = origin(phase);
                        return Err(InputError::new(
                            &self.source,
                            origin.line,
                            Some(origin.key.to_string()),
                            format!(
                                "thread {} is SCHED_DEADLINE in phase \"{}\" but its cpus do \
                                 not cover all {nr_cpus} CPUs; Linux refuses a restricted \
                                 affinity for deadline tasks (EBUSY), so remove \"cpus\" or \
                                 list every CPU",
                                task.name,
                                task.phase_name(phase)
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
