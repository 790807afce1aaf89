//! The library behind the `proxysched` binary: one simulation from workload to metrics, shared
//! by the commands and by the integration tests.

pub mod torture;

use proxysched_report::metrics::CompareDoc;
use proxysched_report::{ConfigDoc, MetricsDoc, MetricsSink};
use proxysched_sim::{Engine, Overrides, RunConfig};
use proxysched_trace::{EventKinds, Sink};
use proxysched_workload::{Inherit, Workload};

/// A failure with the exit code DESIGN.md §5 gives it: 2 for bad input or usage, 1 for a failed
/// check.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn input(message: impl std::fmt::Display) -> Failure {
        Failure {
            code: 2,
            message: message.to_string(),
        }
    }

    pub fn check(message: impl std::fmt::Display) -> Failure {
        Failure {
            code: 1,
            message: message.to_string(),
        }
    }
}

/// Forwards every event to two sinks.
pub struct Tee<'a>(pub &'a mut dyn Sink, pub &'a mut dyn Sink);

impl Sink for Tee<'_> {
    fn record(&mut self, at_ns: u64, event: &proxysched_trace::Event) {
        self.0.record(at_ns, event);
        self.1.record(at_ns, event);
    }

    fn record_all(&mut self, at_ns: u64, events: &[proxysched_trace::Event]) {
        self.0.record_all(at_ns, events);
        self.1.record_all(at_ns, events);
    }

    fn wants(&self) -> EventKinds {
        self.0.wants().union(self.1.wants())
    }
}

/// Forwards every event to each sink in turn.
pub struct Fanout<'a>(pub Vec<&'a mut dyn Sink>);

impl Sink for Fanout<'_> {
    fn record(&mut self, at_ns: u64, event: &proxysched_trace::Event) {
        for s in &mut self.0 {
            s.record(at_ns, event);
        }
    }

    fn record_all(&mut self, at_ns: u64, events: &[proxysched_trace::Event]) {
        for s in &mut self.0 {
            s.record_all(at_ns, events);
        }
    }

    fn wants(&self) -> EventKinds {
        self.0
            .iter()
            .fold(EventKinds::NONE, |k, s| k.union(s.wants()))
    }
}

/// Simulate `w` and build its metrics. With `check`, the core's invariants are verified after
/// every event and a violation fails the run with exit code 1. `extra` receives the whole
/// tracepoint stream too.
pub fn simulate(
    w: &Workload,
    cfg: &RunConfig,
    check: bool,
    extra: Option<&mut dyn Sink>,
) -> Result<MetricsDoc, Failure> {
    let mut metrics = MetricsSink::new(cfg.sched.nr_cpus as usize);
    metrics.reserve_tasks(w.tasks.len());
    let mut violation = None;
    let mut run = |sink: &mut dyn Sink| {
        let engine = Engine::new(w, cfg, sink).map_err(Failure::input)?;
        engine
            .run_with(|sched| {
                if check && violation.is_none() {
                    if let Err(e) = sched.check_invariants() {
                        violation = Some(format!("invariant violated at t={} ns: {e}", sched.now));
                    }
                }
            })
            .map_err(Failure::input)
    };
    let summary = match extra {
        Some(s) => run(&mut Tee(&mut metrics, s))?,
        None => run(&mut metrics)?,
    };
    if let Some(v) = violation {
        return Err(Failure::check(v));
    }
    metrics.finish(summary.end_ns);
    let notes: Vec<String> = w.warnings.iter().chain(&cfg.notes).cloned().collect();
    Ok(MetricsDoc::build(
        config_doc(cfg),
        &metrics,
        summary.events,
        &notes,
    ))
}

/// Simulate `w` once per mode, in the order given, with `o` for everything but the mode (its
/// `inherit` is replaced). A failed run fails the whole comparison; its message names the mode.
/// `extras` is empty, or holds one sink per mode that receives that run's whole stream.
pub fn simulate_modes(
    w: &Workload,
    o: &Overrides,
    modes: &[Inherit],
    check: bool,
    extras: &mut [&mut dyn Sink],
) -> Result<CompareDoc, Failure> {
    assert!(extras.is_empty() || extras.len() == modes.len());
    let mut extras = extras.iter_mut();
    let mut runs = Vec::with_capacity(modes.len());
    for &mode in modes {
        let cfg = RunConfig::resolve(
            w,
            &Overrides {
                inherit: Some(mode),
                ..o.clone()
            },
        );
        let extra = extras.next().map(|s| &mut **s as &mut dyn Sink);
        let doc = simulate(w, &cfg, check, extra).map_err(|f| Failure {
            code: f.code,
            message: format!("inherit {}: {}", mode.name(), f.message),
        })?;
        runs.push((mode.name().to_string(), doc));
    }
    Ok(CompareDoc { runs })
}

pub fn config_doc(cfg: &RunConfig) -> ConfigDoc {
    ConfigDoc {
        cpus: cfg.sched.nr_cpus,
        inherit: cfg.inherit().name(),
        proxy_level: cfg.proxy_level().name(),
        hz: cfg.sched.hz,
        seed: cfg.seed,
        duration_ns: cfg.duration_ns,
        switch_cost_ns: cfg.sched.switch_cost_ns,
        migration_cost_ns: cfg.sched.migration_cost_ns,
        ipi_latency_ns: cfg.sched.ipi_latency_ns,
        rt_throttling: cfg.sched.rt_throttling,
        hrtick_dl: cfg.sched.hrtick_dl,
    }
}
