//! Hot-path benchmarks (issue 6): the whole event loop on the reference workloads, the
//! scheduler core's enqueue/dequeue/pick per class, and proxy execution on a workload without
//! contention against `--inherit none`.
//!
//! `cargo bench -p proxysched-sim` runs them all; `cargo bench -p proxysched-sim -- loop/`
//! one group. Throughput is in simulation events (the metrics' `events`) or core operations.
//! The engine runs with a sink that drops the tracepoints, so what is timed is the engine and
//! the core (the metrics sink, the trace writers and the workload parser are not).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use proxysched_sched::{CpuMask, Policy, Sched, SchedAttr, SchedConfig, TaskId, TaskState};
use proxysched_sim::{Engine, Overrides, RunConfig};
use proxysched_trace::{Event, Sink, WakeReason};
use proxysched_workload::{Inherit, Workload};

const C4_T20: &str = include_str!("../../../bench/workloads/c4_t20.json");
const C16_T200: &str = include_str!("../../../bench/workloads/c16_t200.json");
const C4_T20_UNCONTENDED: &str = include_str!("../../../bench/workloads/c4_t20_uncontended.json");

/// Drops every tracepoint (but looks at it, so nothing is optimised away).
struct NullSink;

impl Sink for NullSink {
    fn record(&mut self, at_ns: u64, event: &Event) {
        black_box((at_ns, event));
    }
}

fn workload(name: &str, text: &str) -> Workload {
    proxysched_workload::parse_str(name, text).expect("reference workloads parse")
}

fn config(w: &Workload, inherit: Inherit, duration_ns: u64) -> RunConfig {
    RunConfig::resolve(
        w,
        &Overrides {
            inherit: Some(inherit),
            duration_ns: Some(duration_ns),
            ..Overrides::default()
        },
    )
}

fn simulate(w: &Workload, cfg: &RunConfig) -> u64 {
    let mut sink = NullSink;
    Engine::new(w, cfg, &mut sink)
        .expect("valid workload")
        .run()
        .expect("runs")
        .events
}

/// The whole event loop, engine and core, on the 4-CPU/20-task and 16-CPU/200-task reference
/// workloads (mixed classes, one mutex per ten tasks, proxy execution on).
fn event_loop(c: &mut Criterion) {
    let mut g = c.benchmark_group("loop");
    g.sample_size(20);
    for (name, text, duration_ns) in [
        ("c4_t20", C4_T20, 1_000_000_000),
        ("c16_t200", C16_T200, 200_000_000),
    ] {
        let w = workload(name, text);
        let cfg = config(&w, Inherit::Proxy, duration_ns);
        let events = simulate(&w, &cfg);
        g.throughput(Throughput::Elements(events));
        g.bench_function(name, |b| b.iter(|| simulate(&w, &cfg)));
    }
    g.finish();
}

/// Proxy execution must cost (next to) nothing where nobody contends: the same workload, whose
/// tasks each lock a mutex of their own around their work, under `none` and under `proxy`.
fn proxy_uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("uncontended");
    g.sample_size(30);
    let w = workload("c4_t20_uncontended", C4_T20_UNCONTENDED);
    for inherit in [Inherit::None, Inherit::Proxy] {
        let cfg = config(&w, inherit, 1_000_000_000);
        let events = simulate(&w, &cfg);
        g.throughput(Throughput::Elements(events));
        g.bench_function(inherit.name(), |b| b.iter(|| simulate(&w, &cfg)));
    }
    g.finish();
}

/// Attributes of the `i`-th of `n` tasks of a class.
fn attr(class: &str, i: usize, n: usize) -> SchedAttr {
    match class {
        "fair" => SchedAttr::Fair {
            policy: Policy::Normal,
            nice: (i % 40) as i32 - 20,
            slice_ns: None,
        },
        "rt" => SchedAttr::Rt {
            policy: Policy::Fifo,
            rt_priority: 1 + (i % 98) as u32,
        },
        _ => {
            // 90% of the CPU shared out, staggered periods.
            let period_ns = 100_000_000 + i as u64 * 1_000_000;
            SchedAttr::Deadline {
                runtime_ns: (period_ns * 9 / 10 / n as u64).max(1024),
                deadline_ns: period_ns,
                period_ns,
            }
        }
    }
}

/// A one-CPU machine with `n` runnable tasks of `class`, one of them running.
fn machine(class: &str, n: usize) -> Sched {
    let mut s = Sched::new(SchedConfig {
        nr_cpus: 1,
        rt_throttling: false,
        ..SchedConfig::default()
    });
    for i in 0..n {
        let p = s.add_task(
            format!("{class}{i}"),
            attr(class, i, n),
            CpuMask::first_n(1),
        );
        s.wake_up_new_task(p);
    }
    s.schedule(0);
    s
}

/// One round of the core's hot path on CPU 0: the running task sleeps (`dequeue_task` and a
/// pick of the next), then wakes (`enqueue_task`, `wakeup_preempt`) and, if it preempts, is
/// picked again. Fair tasks advance the clock so that vruntimes move.
fn sleep_wake(s: &mut Sched, advance: bool) {
    if advance {
        s.now += 1_000;
    }
    let p: TaskId = s.curr(0).expect("a task runs");
    s.set_current_state(0, TaskState::Sleeping);
    s.schedule(0);
    if advance {
        s.now += 1_000;
    }
    s.try_to_wake_up(p, WakeReason::Sleep);
    if s.rq(0).need_resched {
        s.schedule(0);
    }
    s.out.events.clear();
    s.out.resched.clear();
    s.out.timers.clear();
}

fn class_ops(c: &mut Criterion) {
    let mut g = c.benchmark_group("class");
    g.throughput(Throughput::Elements(1));
    for class in ["fair", "rt", "dl"] {
        for n in [4, 64, 1024] {
            let mut s = machine(class, n);
            let advance = class == "fair";
            g.bench_with_input(BenchmarkId::new(class, n), &n, |b, _| {
                b.iter(|| sleep_wake(&mut s, advance))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, event_loop, proxy_uncontended, class_ops);
criterion_main!(benches);
