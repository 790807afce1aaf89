//! The settings of one run: command line over the workload's `global.proxysched` object over
//! the defaults.

use proxysched_sched::SchedConfig;
use proxysched_workload::{Inherit, ProxyLevel, Workload};

/// Simulated time a workload that would run forever gets when nobody says otherwise.
pub const DEFAULT_DURATION_NS: u64 = 10_000_000_000;

/// Linux's default `hung_task_timeout_secs`.
pub const DEFAULT_HUNG_TASK_TIMEOUT_NS: u64 = 120_000_000_000;

/// Settings given on the command line; `None` leaves the file's value or the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub cpus: Option<u32>,
    pub duration_ns: Option<u64>,
    pub inherit: Option<Inherit>,
    pub proxy_level: Option<ProxyLevel>,
    pub hz: Option<u32>,
    pub seed: Option<u64>,
    pub switch_cost_ns: Option<u64>,
    pub migration_cost_ns: Option<u64>,
    pub ipi_latency_ns: Option<u64>,
    pub rt_throttling: Option<bool>,
    pub hrtick_dl: Option<bool>,
    pub hung_task_timeout_ns: Option<u64>,
    /// Process every tick, even those that could only charge the running task.
    pub every_tick: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunConfig {
    pub sched: SchedConfig,
    /// Stop at this simulated time; `None`: when every task has exited or nothing can happen.
    pub duration_ns: Option<u64>,
    pub seed: u64,
    /// Warn about a task blocked on one mutex for longer than this (`hung_task_timeout_secs`;
    /// 0: never).
    pub hung_task_timeout_ns: u64,
    /// Skip the ticks that could only charge the running task (see `Sched::tick_inert_until`):
    /// the schedule is the same either way, only `events` differs.
    pub skip_inert_ticks: bool,
    /// Notes about how the configuration was completed (defaults applied ...).
    pub notes: Vec<String>,
}

impl RunConfig {
    pub fn inherit(&self) -> Inherit {
        self.sched.inherit
    }

    pub fn proxy_level(&self) -> ProxyLevel {
        self.sched.proxy_level
    }

    pub fn resolve(w: &Workload, o: &Overrides) -> RunConfig {
        let f = &w.global.sim;
        let mut notes = Vec::new();
        let nr_cpus = o.cpus.or(f.cpus).unwrap_or(1);
        let hz = o.hz.or(f.hz).unwrap_or(1000);
        let inherit = o.inherit.or(f.inherit).unwrap_or(if w.global.pi_enabled {
            Inherit::Pi
        } else {
            Inherit::None
        });
        let runs_forever = w.tasks.iter().any(|t| t.loops.is_none());
        let duration_ns = match o.duration_ns.or(w.global.duration_ns) {
            Some(d) => Some(d),
            None if runs_forever => {
                notes.push(format!(
                    "no duration given and some task loops forever: simulating {} s \
                     (set global.duration or --duration)",
                    DEFAULT_DURATION_NS / 1_000_000_000
                ));
                Some(DEFAULT_DURATION_NS)
            }
            None => None,
        };
        RunConfig {
            sched: SchedConfig {
                nr_cpus,
                hz,
                rt_throttling: o.rt_throttling.or(f.rt_throttling).unwrap_or(true),
                switch_cost_ns: o.switch_cost_ns.or(f.switch_cost_ns).unwrap_or(0),
                migration_cost_ns: o.migration_cost_ns.or(f.migration_cost_ns).unwrap_or(0),
                hrtick_dl: o.hrtick_dl.unwrap_or(false),
                inherit,
                proxy_level: o.proxy_level.or(f.proxy_level).unwrap_or(ProxyLevel::Full),
                ipi_latency_ns: o.ipi_latency_ns.or(f.ipi_latency_ns).unwrap_or(0),
                ..SchedConfig::default()
            },
            duration_ns,
            seed: o.seed.or(f.seed).unwrap_or(1),
            hung_task_timeout_ns: o
                .hung_task_timeout_ns
                .unwrap_or(DEFAULT_HUNG_TASK_TIMEOUT_NS),
            skip_inert_ticks: !o.every_tick.unwrap_or(false),
            notes,
        }
    }
}
