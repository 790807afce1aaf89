//! `proxysched torture`: randomized workloads, each run drawn whole from a seed, simulated with
//! the core's invariants checked after every event. A violation is reported with the seed, the
//! workload written out as an rt-app file that `proxysched run --check` replays on its own, and
//! the last events before it.
//!
//! Run k of a torture session draws everything from its own sub-seed (`sub_seed(seed, k)`), so
//! any run can be regenerated alone; a failing run's workload is written out with its settings
//! in `global.proxysched`, so `proxysched run FILE --check` replays it exactly.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use proxysched_sched::{Inherit, PlantedBug, ProxyLevel};
use proxysched_sim::{Engine, Overrides, RunConfig};
use proxysched_trace::{Event, Sink, StreamHash};
use proxysched_workload::parse_str;

/// Knobs of a torture session; `None` lets each run draw its own.
#[derive(Clone, Debug, Default)]
pub struct TortureOptions {
    pub seed: u64,
    pub runs: u64,
    pub cpus: Option<u32>,
    pub inherit: Option<Inherit>,
    pub proxy_level: Option<ProxyLevel>,
    /// Simulated time per run.
    pub duration_ns: u64,
    /// Run every workload twice, the second time processing every tick, and compare a hash of
    /// the whole event stream.
    pub determinism_check: bool,
    /// Test-only: plant a bug to show it is caught.
    pub planted_bug: Option<PlantedBug>,
}

/// One generated workload and the settings it was drawn with.
#[derive(Clone, Debug)]
pub struct Generated {
    pub run: u64,
    pub seed: u64,
    pub cpus: u32,
    pub tasks: usize,
    pub mutexes: usize,
    pub inverted_order: bool,
    pub inherit: Inherit,
    pub proxy_level: ProxyLevel,
    pub ipi_latency_ns: u64,
    /// The workload as rt-app JSON, settings included in `global.proxysched`.
    pub json: String,
}

impl Generated {
    pub fn describe(&self) -> String {
        format!(
            "run {}: seed {} cpus {} tasks {} mutexes {} lock-order {} inherit {} level {} ipi {} ns",
            self.run,
            self.seed,
            self.cpus,
            self.tasks,
            self.mutexes,
            if self.inverted_order {
                "inverted"
            } else {
                "consistent"
            },
            self.inherit.name(),
            self.proxy_level.name(),
            self.ipi_latency_ns
        )
    }
}

/// What went wrong in one run.
#[derive(Clone, Debug)]
pub struct Violation {
    pub generated: Generated,
    pub message: String,
    /// The last events before the violation, formatted.
    pub last_events: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct TortureSummary {
    pub runs: u64,
    pub events: u64,
    pub deadlocks: u64,
    pub violations: Vec<Violation>,
}

/// `splitmix64`: independent, well-spread sub-seeds from one seed, kept to 63 bits so that
/// they fit the JSON integers of a replay file.
pub fn sub_seed(seed: u64, run: u64) -> u64 {
    let mut z = seed.wrapping_add(run.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) >> 1
}

const CPU_CHOICES: [u32; 8] = [1, 2, 3, 4, 6, 8, 16, 64];

/// Draw a whole workload from `seed`.
pub fn generate(run: u64, seed: u64, o: &TortureOptions) -> Generated {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cpus = o
        .cpus
        .unwrap_or(CPU_CHOICES[rng.random_range(0..CPU_CHOICES.len())]);
    let ntasks = rng.random_range(1..=(3 * cpus as usize + 2).min(48));
    let nmutex = rng.random_range(0..=5usize);
    let inverted_order = nmutex >= 2 && rng.random_bool(0.15);
    let inherit = o.inherit.unwrap_or(match rng.random_range(0..3) {
        0 => Inherit::None,
        1 => Inherit::Pi,
        _ => Inherit::Proxy,
    });
    let proxy_level = o.proxy_level.unwrap_or(match rng.random_range(0..3) {
        0 => ProxyLevel::SingleRq,
        1 => ProxyLevel::DonorMigration,
        _ => ProxyLevel::Full,
    });
    let ipi_latency_ns = if rng.random_bool(0.5) {
        0
    } else {
        rng.random_range(1..50) * 1000
    };
    // DL bandwidth left under admission control (per mille of one CPU), kept well below it.
    let mut dl_budget_pm = 800 * cpus as u64;
    // Some machines run no fair task at all: their DL and FIFO ticks are skipped as inert,
    // which the determinism check (processing every tick the second time) puts to the test.
    let no_fair = rng.random_bool(0.25);
    let mut tasks = String::new();
    for i in 0..ntasks {
        let mut t = String::new();
        let class = rng.random_range(if no_fair { 5..10 } else { 0..10 });
        let mut pinned_allowed = true;
        if class < 5 {
            let policy =
                ["SCHED_OTHER", "SCHED_OTHER", "SCHED_BATCH", "SCHED_IDLE"][rng.random_range(0..4)];
            let _ = write!(
                t,
                r#""policy": "{policy}", "priority": {}, "#,
                rng.random_range(-20..=19)
            );
            if rng.random_bool(0.2) {
                let _ = write!(t, r#""dl-runtime": {}, "#, rng.random_range(100..20000));
            }
        } else if class < 8 {
            let policy = if rng.random_bool(0.5) {
                "SCHED_FIFO"
            } else {
                "SCHED_RR"
            };
            let _ = write!(
                t,
                r#""policy": "{policy}", "priority": {}, "#,
                rng.random_range(1..=99)
            );
        } else {
            let period_us = rng.random_range(5..=50) * 1000u64;
            let bw_pm = rng.random_range(20..=300u64).min(dl_budget_pm);
            if bw_pm >= 20 {
                dl_budget_pm -= bw_pm;
                let runtime_us = (period_us * bw_pm / 1000).max(100);
                let _ = write!(
                    t,
                    r#""policy": "SCHED_DEADLINE", "dl-runtime": {runtime_us}, "dl-period": {period_us}, "#
                );
                pinned_allowed = false;
            }
        }
        if pinned_allowed && cpus > 1 && rng.random_bool(0.3) {
            let mut set: Vec<u32> = (0..cpus).filter(|_| rng.random_bool(0.5)).collect();
            if set.is_empty() {
                set.push(rng.random_range(0..cpus));
            }
            let list: Vec<String> = set.iter().map(|c| c.to_string()).collect();
            let _ = write!(t, r#""cpus": [{}], "#, list.join(", "));
        }
        if rng.random_bool(0.2) {
            let _ = write!(t, r#""delay": {}, "#, rng.random_range(1..5000));
        }
        let mut events: Vec<String> = Vec::new();
        for _ in 0..rng.random_range(1..=5) {
            match rng.random_range(0..10) {
                0..=2 => events.push(format!(r#""run": {}"#, rng.random_range(10..3000))),
                3 => events.push(format!(r#""sleep": {}"#, rng.random_range(10..5000))),
                4 => events.push(format!(
                    r#""timer": {{ "ref": "unique", "period": {} }}"#,
                    rng.random_range(1..=20) * 1000
                )),
                5 if nmutex > 0 => {
                    // Nested locks in the global order, or against it in an inverted run.
                    let a = rng.random_range(0..nmutex);
                    let b = rng.random_range(0..nmutex);
                    let (mut first, mut second) = (a.min(b), a.max(b));
                    if inverted_order && rng.random_bool(0.5) {
                        std::mem::swap(&mut first, &mut second);
                    }
                    events.push(format!(r#""lock": "m{first}""#));
                    events.push(format!(r#""run": {}"#, rng.random_range(10..2000)));
                    if second != first {
                        events.push(format!(r#""lock": "m{second}""#));
                        events.push(format!(r#""run": {}"#, rng.random_range(10..1000)));
                        if rng.random_bool(0.2) {
                            events.push(format!(r#""sleep": {}"#, rng.random_range(10..2000)));
                        }
                        events.push(format!(r#""unlock": "m{second}""#));
                    }
                    events.push(format!(r#""unlock": "m{first}""#));
                }
                6 => events.push(r#""yield": """#.to_string()),
                7 if ntasks > 1 => {
                    let other = rng.random_range(0..ntasks);
                    events.push(format!(r#""resume": "t{other}""#));
                }
                8 => events.push(format!(r#""sem_post": "s{}""#, rng.random_range(0..2))),
                9 if rng.random_bool(0.3) => {
                    events.push(format!(r#""sem_wait": "s{}""#, rng.random_range(0..2)))
                }
                _ => events.push(format!(r#""run": {}"#, rng.random_range(10..500))),
            }
        }
        if rng.random_bool(0.1) && ntasks > 1 {
            // Suspends on its own queue; another task's `resume` (if any) wakes it.
            events.push(format!(r#""suspend": "t{i}""#));
        }
        // Keep every loop iteration consuming time so no run spins at one instant.
        events.push(format!(r#""run": {}"#, rng.random_range(10..200)));
        let _ = write!(t, "{}", events.join(", "));
        let _ = write!(
            tasks,
            "{}\"t{i}\": {{ {t} }}",
            if i > 0 { ",\n  " } else { "" }
        );
    }
    let json = format!(
        "{{ \"tasks\": {{\n  {tasks}\n}},\n\"global\": {{ \"duration\": -1, \"proxysched\": {{ \
         \"cpus\": {cpus}, \"inherit\": \"{}\", \"proxy_level\": \"{}\", \"ipi_latency_ns\": \
         {ipi_latency_ns}, \"seed\": {seed} }} }} }}\n",
        inherit.name(),
        proxy_level.name()
    );
    Generated {
        run,
        seed,
        cpus,
        tasks: ntasks,
        mutexes: nmutex,
        inverted_order,
        inherit,
        proxy_level,
        ipi_latency_ns,
        json,
    }
}

/// The last events, and a hash of all of them, for failure reports and determinism checks.
struct Flight {
    ring: VecDeque<(u64, Event)>,
    hash: StreamHash,
    deadlocks: u64,
}

const RING: usize = 40;

impl Sink for Flight {
    fn record(&mut self, at_ns: u64, event: &Event) {
        if self.ring.len() == RING {
            self.ring.pop_front();
        }
        self.ring.push_back((at_ns, event.clone()));
        self.hash.record(at_ns, event);
        if matches!(event, Event::Deadlock { .. }) {
            self.deadlocks += 1;
        }
    }
}

struct Outcome {
    events: u64,
    hash: u64,
    deadlocks: u64,
}

fn simulate_one(
    g: &Generated,
    o: &TortureOptions,
    every_tick: bool,
) -> Result<Outcome, (String, Vec<String>)> {
    let w = parse_str(&format!("torture-{}.json", g.seed), &g.json)
        .map_err(|e| (format!("generated an invalid workload: {e}"), Vec::new()))?;
    let mut cfg = RunConfig::resolve(
        &w,
        &Overrides {
            duration_ns: Some(o.duration_ns),
            every_tick: Some(every_tick),
            ..Overrides::default()
        },
    );
    cfg.sched.planted_bug = o.planted_bug;
    let mut flight = Flight {
        ring: VecDeque::with_capacity(RING),
        hash: StreamHash::default(),
        deadlocks: 0,
    };
    let mut violation = None;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let engine = Engine::new(&w, &cfg, &mut flight).map_err(|e| e.to_string())?;
        engine
            .run_with(|s| {
                if violation.is_none() {
                    if let Err(e) = s.check_invariants() {
                        violation = Some(format!("invariant violated at t={} ns: {e}", s.now));
                    }
                }
            })
            .map_err(|e| e.to_string())
    }));
    let last = |f: &Flight| {
        f.ring
            .iter()
            .map(|(at, e)| format!("{at:>12} {e:?}"))
            .collect::<Vec<_>>()
    };
    match result {
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".to_string());
            Err((format!("the simulator panicked: {what}"), last(&flight)))
        }
        Ok(Err(e)) => Err((format!("the run failed: {e}"), last(&flight))),
        Ok(Ok(_)) if violation.is_some() => Err((violation.unwrap_or_default(), last(&flight))),
        Ok(Ok(summary)) => Ok(Outcome {
            events: summary.events,
            hash: flight.hash.value(),
            deadlocks: flight.deadlocks,
        }),
    }
}

/// Run a torture session. `on_run` is told about every run before it starts (to print its
/// parameters).
pub fn torture(o: &TortureOptions, mut on_run: impl FnMut(&Generated)) -> TortureSummary {
    let mut summary = TortureSummary::default();
    for k in 0..o.runs {
        let g = generate(k, sub_seed(o.seed, k), o);
        on_run(&g);
        summary.runs += 1;
        let first = simulate_one(&g, o, false);
        let outcome = match first {
            Err((message, last_events)) => {
                summary.violations.push(Violation {
                    generated: g,
                    message,
                    last_events,
                });
                continue;
            }
            Ok(out) => out,
        };
        summary.events += outcome.events;
        summary.deadlocks += outcome.deadlocks;
        if o.determinism_check {
            // The second run processes every tick: skipping the inert ones must not change
            // a thing either.
            match simulate_one(&g, o, true) {
                Ok(again) if again.hash == outcome.hash => {}
                Ok(again) => summary.violations.push(Violation {
                    generated: g,
                    message: format!(
                        "nondeterminism: event stream hash {:016x}, then {:016x} processing \
                         every tick",
                        outcome.hash, again.hash
                    ),
                    last_events: Vec::new(),
                }),
                Err((message, last_events)) => summary.violations.push(Violation {
                    generated: g,
                    message: format!("nondeterminism: the second run failed: {message}"),
                    last_events,
                }),
            }
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_generates_the_same_workload_and_sub_seeds_differ() {
        let o = TortureOptions::default();
        assert_eq!(generate(0, 42, &o).json, generate(0, 42, &o).json);
        assert_ne!(sub_seed(1, 0), sub_seed(1, 1));
        assert_ne!(generate(0, 1, &o).json, generate(0, 2, &o).json);
    }

    #[test]
    fn generated_workloads_parse_and_respect_admission() {
        let o = TortureOptions::default();
        for k in 0..200 {
            let g = generate(k, sub_seed(7, k), &o);
            let w = parse_str("t.json", &g.json).unwrap_or_else(|e| panic!("{e}\n{}", g.json));
            w.check_cpus(g.cpus).unwrap();
        }
    }
}
