//! The metrics sink: per-task and per-CPU figures derived from the tracepoint stream alone,
//! and their JSON form (schema `proxysched-metrics/1`, DESIGN.md §6).

use hdrhistogram::Histogram;
use serde::Serialize;

use proxysched_trace::{Event, PrevState, Sink, TaskId};

pub const METRICS_SCHEMA: &str = "proxysched-metrics/1";
pub const COMPARE_SCHEMA: &str = "proxysched-compare/1";

/// A latency distribution: exact count and max, percentiles to 3 significant digits
/// (values below 2 µs are exact).
#[derive(Clone, Debug)]
pub struct Distribution {
    hist: Histogram<u64>,
    max: u64,
}

impl Default for Distribution {
    fn default() -> Self {
        Distribution {
            hist: Histogram::new(3).expect("3 significant digits is a valid precision"),
            max: 0,
        }
    }
}

impl Distribution {
    pub fn record(&mut self, v: u64) {
        self.hist.saturating_record(v);
        self.max = self.max.max(v);
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The smallest recorded value (to histogram precision) at or above which a fraction
    /// `1 - q` of the samples lie; never above the exact maximum; 0 without samples.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.hist.is_empty() {
            return 0;
        }
        self.hist.value_at_quantile(q).min(self.max)
    }

    /// (value, cumulative fraction in per-mille) points of the CDF, one per distinct bucket.
    pub fn cdf(&self) -> Vec<(u64, u32)> {
        let total = self.hist.len().max(1);
        let mut seen = 0;
        self.hist
            .iter_recorded()
            .map(|v| {
                seen += v.count_at_value();
                (
                    v.value_iterated_to().min(self.max),
                    (seen * 1000 / total) as u32,
                )
            })
            .collect()
    }
}

/// Where the sink last saw a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Residency {
    NotStarted,
    Running,
    Runnable,
    Sleeping,
    Blocked,
    Dead,
}

#[derive(Clone, Debug)]
pub struct TaskStats {
    pub name: String,
    pub tid: u32,
    pub policy: &'static str,
    pub prio: i32,
    pub exit_ns: Option<u64>,
    pub run_ns: u64,
    pub runnable_ns: u64,
    pub blocked_ns: u64,
    pub sleep_ns: u64,
    pub donated_ns: u64,
    pub proxied_ns: u64,
    pub wakeups: u64,
    pub wakeup_latency: Distribution,
    pub activations: u64,
    pub deadline_misses: u64,
    pub migrations: u64,
    pub proxy_migrations: u64,
    pub preemptions: u64,
    residency: Residency,
    since: u64,
    waking_at: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub struct CpuStats {
    pub busy_ns: u64,
    pub idle_ns: u64,
    pub context_switches: u64,
    busy_since: Option<u64>,
}

/// Builds the metrics from the event stream. Call [`MetricsSink::finish`] at the end.
#[derive(Debug, Default)]
pub struct MetricsSink {
    pub tasks: Vec<TaskStats>,
    pub cpus: Vec<CpuStats>,
    pub warnings: Vec<String>,
    pub end_ns: u64,
}

impl MetricsSink {
    pub fn new(nr_cpus: usize) -> MetricsSink {
        MetricsSink {
            cpus: vec![CpuStats::default(); nr_cpus],
            ..MetricsSink::default()
        }
    }

    fn task(&mut self, p: TaskId) -> &mut TaskStats {
        &mut self.tasks[p.index()]
    }

    /// Move a task to a new residency, charging the time spent in the old one.
    fn transition(&mut self, p: TaskId, to: Residency, now: u64) {
        let t = self.task(p);
        let spent = now - t.since;
        match t.residency {
            Residency::Running => t.run_ns += spent,
            Residency::Runnable => t.runnable_ns += spent,
            Residency::Sleeping => t.sleep_ns += spent,
            Residency::Blocked => t.blocked_ns += spent,
            Residency::NotStarted | Residency::Dead => {}
        }
        t.residency = to;
        t.since = now;
    }

    /// Close every open interval at `end_ns`.
    pub fn finish(&mut self, end_ns: u64) {
        self.end_ns = end_ns;
        for i in 0..self.tasks.len() {
            let r = self.tasks[i].residency;
            self.transition(TaskId(i as u32), r, end_ns);
        }
        for c in &mut self.cpus {
            if let Some(since) = c.busy_since {
                c.busy_ns += end_ns - since;
                c.busy_since = Some(end_ns);
            }
            c.idle_ns = end_ns - c.busy_ns;
        }
    }
}

impl Sink for MetricsSink {
    fn record(&mut self, now: u64, event: &Event) {
        match event {
            Event::TaskNew {
                task,
                name,
                policy,
                prio,
            } => {
                debug_assert_eq!(task.index(), self.tasks.len());
                self.tasks.push(TaskStats {
                    name: name.clone(),
                    tid: task.pid(),
                    policy,
                    prio: *prio,
                    exit_ns: None,
                    run_ns: 0,
                    runnable_ns: 0,
                    blocked_ns: 0,
                    sleep_ns: 0,
                    donated_ns: 0,
                    proxied_ns: 0,
                    wakeups: 0,
                    wakeup_latency: Distribution::default(),
                    activations: 0,
                    deadline_misses: 0,
                    migrations: 0,
                    proxy_migrations: 0,
                    preemptions: 0,
                    residency: Residency::NotStarted,
                    since: now,
                    waking_at: None,
                });
            }
            Event::SchedWakeupNew { task, .. } => {
                self.transition(*task, Residency::Runnable, now);
            }
            Event::SchedWaking { task, .. } => {
                let t = self.task(*task);
                t.wakeups += 1;
                // A task woken before it left its CPU has no wakeup latency.
                if matches!(t.residency, Residency::Sleeping | Residency::Blocked) {
                    t.waking_at = Some(now);
                    self.transition(*task, Residency::Runnable, now);
                }
            }
            Event::SchedSwitch {
                cpu,
                prev,
                prev_state,
                next,
                ..
            } => {
                if let Some(p) = *prev {
                    let to = match prev_state {
                        PrevState::Preempted => {
                            self.task(p).preemptions += 1;
                            Residency::Runnable
                        }
                        PrevState::Sleeping => Residency::Sleeping,
                        PrevState::BlockedOnMutex => Residency::Blocked,
                        PrevState::Dead => Residency::Dead,
                    };
                    self.transition(p, to, now);
                }
                if let Some(n) = *next {
                    self.transition(n, Residency::Running, now);
                    let t = self.task(n);
                    if let Some(w) = t.waking_at.take() {
                        t.wakeup_latency.record(now - w);
                    }
                }
                let c = &mut self.cpus[*cpu as usize];
                c.context_switches += 1;
                match (prev.is_some(), next.is_some(), c.busy_since) {
                    (false, true, _) => c.busy_since = Some(now),
                    (true, false, Some(since)) => {
                        c.busy_ns += now - since;
                        c.busy_since = None;
                    }
                    _ => {}
                }
            }
            Event::SchedMigrateTask { task, .. } => self.task(*task).migrations += 1,
            Event::SchedProcessExit { task, .. } => self.task(*task).exit_ns = Some(now),
            Event::SchedSetattr { task, policy, prio } => {
                let t = self.task(*task);
                t.policy = policy;
                t.prio = *prio;
            }
            Event::ActivationStart { task, .. } => self.task(*task).activations += 1,
            Event::ActivationEnd { task, missed, .. } => {
                if *missed {
                    self.task(*task).deadline_misses += 1;
                }
            }
            Event::Warning { message } => self.warnings.push(message.clone()),
            Event::SchedWakeup { .. }
            | Event::SchedDonor { .. }
            | Event::MutexNew { .. }
            | Event::LockContend { .. }
            | Event::LockAcquire { .. }
            | Event::LockRelease { .. }
            | Event::PiSetprio { .. }
            | Event::ProxyMigrate { .. }
            | Event::ReturnMigrate { .. }
            | Event::Deadlock { .. }
            | Event::DlThrottle { .. }
            | Event::DlReplenish { .. }
            | Event::RtThrottle { .. }
            | Event::RtUnthrottle { .. } => {}
        }
    }
}

// ----- JSON ---------------------------------------------------------------------------------

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ConfigDoc {
    pub cpus: u32,
    pub inherit: &'static str,
    pub proxy_level: &'static str,
    pub hz: u32,
    pub seed: u64,
    /// Simulated-time limit; null when the run goes until every task is done.
    pub duration_ns: Option<u64>,
    pub switch_cost_ns: u64,
    pub migration_cost_ns: u64,
    pub ipi_latency_ns: u64,
    pub rt_throttling: bool,
    pub hrtick_dl: bool,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Percentiles3 {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct TaskDoc {
    pub name: String,
    pub tid: u32,
    pub policy: &'static str,
    pub prio: i32,
    pub exit_ns: Option<u64>,
    pub run_ns: u64,
    pub runnable_ns: u64,
    pub blocked_ns: u64,
    pub sleep_ns: u64,
    pub donated_ns: u64,
    pub proxied_ns: u64,
    pub wakeups: u64,
    pub wakeup_latency_ns: Percentiles3,
    pub activations: u64,
    pub deadline_misses: u64,
    pub migrations: u64,
    pub proxy_migrations: u64,
    pub preemptions: u64,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct CpuDoc {
    pub id: u32,
    pub busy_ns: u64,
    pub idle_ns: u64,
    pub context_switches: u64,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct PercentilesMax {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct MutexDoc {
    pub name: String,
    pub acquisitions: u64,
    pub contended: u64,
    pub wait_ns: PercentilesMax,
    pub hold_ns: PercentilesMax,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct DeadlockDoc {
    pub at_ns: u64,
    pub tasks: Vec<String>,
    pub mutexes: Vec<String>,
}

/// One run's metrics, field for field as DESIGN.md §6 lists them.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct MetricsDoc {
    pub schema: &'static str,
    pub config: ConfigDoc,
    pub end_ns: u64,
    pub events: u64,
    pub tasks: Vec<TaskDoc>,
    pub cpus: Vec<CpuDoc>,
    pub mutexes: Vec<MutexDoc>,
    pub deadlocks: Vec<DeadlockDoc>,
    pub warnings: Vec<String>,
}

impl MetricsDoc {
    pub fn build(config: ConfigDoc, sink: &MetricsSink, events: u64, notes: &[String]) -> Self {
        MetricsDoc {
            schema: METRICS_SCHEMA,
            config,
            end_ns: sink.end_ns,
            events,
            tasks: sink
                .tasks
                .iter()
                .map(|t| TaskDoc {
                    name: t.name.clone(),
                    tid: t.tid,
                    policy: t.policy,
                    prio: t.prio,
                    exit_ns: t.exit_ns,
                    run_ns: t.run_ns,
                    runnable_ns: t.runnable_ns,
                    blocked_ns: t.blocked_ns,
                    sleep_ns: t.sleep_ns,
                    donated_ns: t.donated_ns,
                    proxied_ns: t.proxied_ns,
                    wakeups: t.wakeups,
                    wakeup_latency_ns: Percentiles3 {
                        p50: t.wakeup_latency.quantile(0.50),
                        p90: t.wakeup_latency.quantile(0.90),
                        p99: t.wakeup_latency.quantile(0.99),
                        max: t.wakeup_latency.max(),
                    },
                    activations: t.activations,
                    deadline_misses: t.deadline_misses,
                    migrations: t.migrations,
                    proxy_migrations: t.proxy_migrations,
                    preemptions: t.preemptions,
                })
                .collect(),
            cpus: sink
                .cpus
                .iter()
                .enumerate()
                .map(|(i, c)| CpuDoc {
                    id: i as u32,
                    busy_ns: c.busy_ns,
                    idle_ns: c.idle_ns,
                    context_switches: c.context_switches,
                })
                .collect(),
            mutexes: Vec::new(),
            deadlocks: Vec::new(),
            warnings: notes.iter().chain(&sink.warnings).cloned().collect(),
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("metrics serialize");
        s.push('\n');
        s
    }
}
