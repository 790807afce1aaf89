//! The whole reader (`proxysched_workload::parse_str`: lenient JSON, then the rt-app grammar)
//! on arbitrary text, then `Workload::check_cpus`, and for small workloads 10 ms of simulation
//! with the scheduler's invariants checked after every event. Nothing may panic: bad input is
//! an `InputError` or a `SimError`; a failed invariant or a livelock is a bug in proxysched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxysched_sim::{Engine, Overrides, RunConfig, SimError, Sink};
use proxysched_workload::{Event, Inherit, ProxyLevel, Workload};

/// Simulated time per input.
const DURATION_NS: u64 = 10_000_000;
/// Inputs are simulated only below these sizes, so that one run stays in the milliseconds.
const MAX_TASKS: usize = 16;
const MAX_CPUS: u32 = 8;
const MAX_HZ: u32 = 10_000;
/// Shorter `run`/`runtime`/`sleep`/`timer` times would make 10 ms thousands of events long.
const MIN_STEP_NS: u64 = 10_000;

struct NullSink;

impl Sink for NullSink {
    fn record(&mut self, _at_ns: u64, _event: &proxysched_trace::Event) {}
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(w) = proxysched_workload::parse_str("fuzz.json", &text) else {
        return;
    };
    for n in [1, 2, 4, 64, 1024] {
        let _ = w.check_cpus(n);
    }
    simulate(&w);
});

/// The event takes time (or waits for a timer): a task loop containing one cannot spin at
/// one instant. Returns `None` if it takes so little time that 10 ms would be too many events.
fn takes_time(ev: &Event) -> Option<bool> {
    let ns = match *ev {
        Event::Run { work_ns } => work_ns,
        Event::Runtime { wall_ns } => wall_ns,
        Event::Sleep { ns } => ns,
        Event::Timer { period_ns, .. } => period_ns,
        _ => return Some(false),
    };
    match ns {
        0 => Some(false),
        ns if ns < MIN_STEP_NS => None,
        _ => Some(true),
    }
}

/// Small enough to simulate quickly, and unable to loop at one instant without end (which
/// the engine reports only after a million steps).
fn simulable(w: &Workload) -> bool {
    if w.tasks.is_empty() || w.tasks.len() > MAX_TASKS {
        return false;
    }
    if w.global.sim.hz.is_some_and(|hz| hz > MAX_HZ) {
        return false;
    }
    for t in &w.tasks {
        let mut any = false;
        for p in &t.phases {
            let mut here = false;
            for ev in &p.events {
                match takes_time(ev) {
                    None => return false,
                    Some(b) => here |= b,
                }
            }
            if !here && p.loops > 100 {
                return false;
            }
            any |= here;
        }
        if !any && t.loops.is_none_or(|l| l > 100) {
            return false;
        }
    }
    true
}

fn simulate(w: &Workload) {
    if !simulable(w) {
        return;
    }
    let highest_cpu = w
        .tasks
        .iter()
        .flat_map(|t| &t.phases)
        .filter_map(|p| p.cpus.as_deref())
        .flatten()
        .max()
        .map_or(0, |&c| c + 1);
    let cpus = w.global.sim.cpus.unwrap_or(highest_cpu.max(2));
    if cpus == 0 || cpus > MAX_CPUS {
        return;
    }
    // Unless the file chooses, exercise the most intricate mode.
    let (inherit, proxy_level) = match w.global.sim.inherit {
        Some(_) => (None, None),
        None if w.global.pi_enabled => (None, None),
        None => (Some(Inherit::Proxy), Some(ProxyLevel::Full)),
    };
    let overrides = Overrides {
        cpus: Some(cpus),
        duration_ns: Some(DURATION_NS),
        inherit,
        proxy_level,
        ..Overrides::default()
    };
    let cfg = RunConfig::resolve(w, &overrides);
    let mut sink = NullSink;
    let engine = match Engine::new(w, &cfg, &mut sink) {
        Ok(e) => e,
        Err(_) => return,
    };
    let result = engine.run_with(|sched| {
        if let Err(violation) = sched.check_invariants() {
            panic!("invariant violated: {violation}");
        }
    });
    match result {
        Ok(_) | Err(SimError::Input(_) | SimError::Admission(_) | SimError::NoProgress { .. }) => {}
        Err(e @ (SimError::Livelock { .. } | SimError::Stuck { .. })) => panic!("{e}"),
    }
}
