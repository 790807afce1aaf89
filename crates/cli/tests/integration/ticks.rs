//! Skipping inert ticks: a tick that could only charge the running task is not processed, and
//! nothing but the `events` count may show it. Each scenario runs twice, skipping and
//! processing every tick, and must give the same event stream and the same metrics.

use crate::common::*;
use proxysched_report::metrics::MetricsDoc;
use proxysched_sched::Inherit;
use proxysched_sim::Overrides;
use proxysched_trace::Event;

fn metrics_json(mut m: MetricsDoc) -> String {
    m.events = 0;
    let mut out = Vec::new();
    m.write_json(&mut out).expect("in memory");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// Run `json` skipping inert ticks and processing every tick; assert both give the same
/// schedule, and return both runs (skipping first).
fn both_ways(json: &str, o: Overrides) -> [(MetricsDoc, Vec<(u64, Event)>); 2] {
    let skipping = run_traced(json, o.clone());
    let every = run_traced(
        json,
        Overrides {
            every_tick: Some(true),
            ..o
        },
    );
    assert!(skipping.1 == every.1, "the event streams differ");
    assert_eq!(
        metrics_json(skipping.0.clone()),
        metrics_json(every.0.clone())
    );
    [skipping, every]
}

#[test]
fn a_deadline_task_with_budget_left_has_its_ticks_skipped() {
    // Jobs of 3 ms every 10 ms: every-tick mode processes the ticks at 1 and 2 ms of each of
    // the 10 jobs (the job is done before the tick at 3 ms, which finds the CPU idle). The
    // first tick is not skipped: its charge arms the RT bandwidth timer.
    let json = r#"{ "tasks": { "dl": { "policy": "SCHED_DEADLINE", "dl-runtime": 5000,
        "dl-period": 10000, "run": 3000, "timer": { "ref": "t", "period": 10000 } } } }"#;
    let [skipping, every] = both_ways(json, overrides(1, 100 * MS));
    assert_eq!(every.0.events - skipping.0.events, 19);
}

#[test]
fn the_tick_that_finds_a_budget_overrun_is_not_skipped() {
    // Runs 6 ms on a 2.5 ms budget: the tick at 3 ms throttles it until its next period, with
    // 0.5 ms overrun paid back from the next budget, which runs out at the tick at 12 ms.
    let json = r#"{ "tasks": { "dl": { "policy": "SCHED_DEADLINE", "dl-runtime": 2500,
        "dl-period": 10000, "loop": 1, "run": 6000 } } }"#;
    let [(_, ev), _] = both_ways(json, overrides(1, 30 * MS));
    let throttles: Vec<u64> = ev
        .iter()
        .filter(|(_, e)| matches!(e, Event::DlThrottle { .. }))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(throttles, [3 * MS, 12 * MS]);
}

#[test]
fn the_tick_that_crosses_the_rt_runtime_is_not_skipped() {
    // A FIFO hog: the RT time passes 950 ms of the 1 s period at the tick at 951 ms.
    let json = r#"{ "tasks": { "hog": { "policy": "SCHED_FIFO", "priority": 10,
        "run": 10000000 } } }"#;
    let [(_, ev), (every, _)] = both_ways(json, overrides(1, 1500 * MS));
    let throttled: Vec<u64> = ev
        .iter()
        .filter(|(_, e)| matches!(e, Event::RtThrottle { .. }))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(throttled, [951 * MS]);
    assert!(
        every.events > 1000,
        "every-tick mode processes a tick per ms"
    );
}

#[test]
fn round_robin_slices_and_fair_tasks_keep_every_tick() {
    let json = r#"{ "tasks": {
        "rr": { "policy": "SCHED_RR", "priority": 10, "instance": 2, "run": 250000 },
        "cfs": { "run": 1000, "sleep": 3000 } } }"#;
    let [skipping, every] = both_ways(json, overrides(1, 500 * MS));
    assert_eq!(skipping.0.events, every.0.events);
}

#[test]
fn a_reschedule_in_flight_is_seen_by_the_next_tick() {
    // A task on CPU 0 wakes a higher one on CPU 1 at exactly 2 ms, where a FIFO task runs
    // with its ticks skipped; the reschedule IPI takes 0.3 ms, but the tick at 2 ms sees it.
    let json = r#"{ "tasks": {
        "fifo": { "policy": "SCHED_FIFO", "priority": 10, "cpus": [1], "loop": 1,
                  "run": 10000 },
        "waker": { "policy": "SCHED_FIFO", "priority": 20, "cpus": [0], "loop": 1,
                   "delay": 2000, "resume": "high" },
        "high": { "policy": "SCHED_FIFO", "priority": 30, "cpus": [1], "loop": 1,
                  "suspend": "high", "run": 500 } } }"#;
    let mut o = overrides(2, 20 * MS);
    o.ipi_latency_ns = Some(300_000);
    let [(m, ev), _] = both_ways(json, o);
    let high_in = switches(&m, &ev)
        .into_iter()
        .filter(|(_, _, name)| name == "high")
        .map(|(at, cpu, _)| (at, cpu))
        .collect::<Vec<_>>();
    assert_eq!(high_in.last(), Some(&(2 * MS, 1)));
}

#[test]
fn proxy_and_pi_runs_are_the_same_either_way() {
    let json = r#"{ "tasks": {
        "owner": { "policy": "SCHED_FIFO", "priority": 10, "cpus": [1],
                   "lock": "M", "run": 3000, "unlock": "M", "sleep": 2000 },
        "donor": { "policy": "SCHED_DEADLINE", "dl-runtime": 4000, "dl-period": 20000,
                   "timer": { "ref": "d", "period": 20000 }, "lock": "M", "run": 3000,
                   "unlock": "M" },
        "rt": { "policy": "SCHED_FIFO", "priority": 50, "timer": { "ref": "r", "period": 7000 },
                "lock": "M", "run": 500, "unlock": "M" } } }"#;
    for inherit in [Inherit::None, Inherit::Pi, Inherit::Proxy] {
        both_ways(json, with_inherit(overrides(2, 300 * MS), inherit));
    }
}

#[test]
fn a_deadline_waiter_lends_the_budget_its_last_tick_left() {
    // Under PI a DL task's ticks are kept: the budget it lends when it blocks is the one its
    // last tick left. "dl" (CPU 1) runs 2.5 ms from 1 ms, then blocks on M, held by "owner"
    // (pinned to CPU 0), and boosts it with its deadline (21 ms) and its budget as charged at
    // its tick at 3 ms: 2 ms (with its ticks skipped, it would still be the 4 ms of 1 ms).
    // The lent budget runs out at 5.5 ms; the tick at 6 ms gives the owner the next one,
    // deadline 41 ms. So "mid" (deadline 26.5 ms), waking at 6.5 ms while "busy" holds CPU 1
    // with an earlier deadline, preempts the owner on CPU 0 (lent 4 ms, it would wait).
    let json = r#"{ "tasks": {
        "owner": { "policy": "SCHED_FIFO", "priority": 10, "cpus": [0], "loop": 1,
                   "lock": "M", "run": 8000, "unlock": "M" },
        "dl": { "policy": "SCHED_DEADLINE", "dl-runtime": 4000, "dl-period": 20000,
                "loop": 1, "delay": 1000, "run": 2500, "lock": "M", "run": 500,
                "unlock": "M" },
        "busy": { "policy": "SCHED_DEADLINE", "dl-runtime": 3000, "dl-period": 10000,
                  "loop": 1, "delay": 6000, "run": 2000 },
        "mid": { "policy": "SCHED_DEADLINE", "dl-runtime": 1000, "dl-period": 20000,
                 "loop": 1, "delay": 6500, "run": 500 } } }"#;
    let [(m, ev), _] = both_ways(json, with_inherit(overrides(2, 30 * MS), Inherit::Pi));
    let mid_in: Vec<(u64, u32)> = switches(&m, &ev)
        .into_iter()
        .filter(|(_, _, name)| name == "mid")
        .map(|(at, cpu, _)| (at, cpu))
        .collect();
    assert_eq!(mid_in.last(), Some(&(6_500_000, 0)));
}
