//! SCHED_NORMAL/BATCH/IDLE under EEVDF.

use crate::common::*;

#[test]
fn nice_0_and_nice_5_share_one_cpu_as_1024_to_335() {
    let json = r#"{ "tasks": {
        "n0": { "priority": 0, "run": 10000000 },
        "n5": { "priority": 5, "run": 10000000 } } }"#;
    let m = run(json, overrides(1, 2 * SEC));
    let (a, b) = (task(&m, "n0").run_ns, task(&m, "n5").run_ns);
    assert_eq!(a + b, 2 * SEC);
    // Expected share of n0: 1024 / 1359 = 753.5 per mille; 2% tolerance.
    let expected = 2 * SEC as u128 * 1024 / 1359;
    let err = (a as i128 - expected as i128).unsigned_abs();
    assert!(
        err * 50 <= expected,
        "n0 ran {a} ns, expected about {expected}"
    );
}

#[test]
fn two_nice_0_tasks_split_one_cpu_evenly() {
    let json = r#"{ "tasks": {
        "a": { "run": 10000000 },
        "b": { "run": 10000000 } } }"#;
    let m = run(json, overrides(1, 2 * SEC));
    let (a, b) = (task(&m, "a").run_ns, task(&m, "b").run_ns);
    assert_eq!(a + b, 2 * SEC);
    assert!(a.abs_diff(b) * 100 <= 2 * SEC, "a {a} b {b}");
}

#[test]
fn four_cpu_bound_tasks_each_get_a_cpu_of_four() {
    let json = r#"{ "tasks": { "hog": { "instance": 4, "run": 10000000 } } }"#;
    let m = run(json, overrides(4, 2 * SEC));
    for t in &m.tasks {
        assert!(
            permille(t.run_ns, 2 * SEC) >= 950,
            "{} ran {}",
            t.name,
            t.run_ns
        );
    }
}

#[test]
fn an_idle_cpu_pulls_waiting_work() {
    // Four hogs pinned to CPU 0 in their first phase, then free: the balancer spreads them.
    let json = r#"{ "tasks": { "hog": { "instance": 4, "phases": {
        "pinned": { "cpus": [0], "run": 1000 },
        "free":   { "cpus": [0, 1, 2, 3], "run": 10000000 } } } } }"#;
    let m = run(json, overrides(4, 3 * SEC));
    for c in &m.cpus {
        assert!(
            permille(c.busy_ns, 3 * SEC) >= 990,
            "cpu{} busy {}",
            c.id,
            c.busy_ns
        );
    }
}

#[test]
fn a_waking_fair_task_preempts_a_hog_with_lag() {
    // A task that sleeps most of the time is owed service and runs soon after it wakes.
    let json = r#"{ "tasks": {
        "hog":   { "run": 10000000 },
        "inter": { "run": 500, "sleep": 20000 } } }"#;
    let m = run(json, overrides(1, 2 * SEC));
    let inter = task(&m, "inter");
    assert!(inter.wakeups > 80);
    assert!(
        inter.wakeup_latency_ns.max <= 3 * MS,
        "max latency {}",
        inter.wakeup_latency_ns.max
    );
}

#[test]
fn sched_idle_yields_to_normal_tasks() {
    let json = r#"{ "tasks": {
        "idle":   { "policy": "SCHED_IDLE", "run": 10000000 },
        "normal": { "run": 10000000 } } }"#;
    let m = run(json, overrides(1, 2 * SEC));
    // Weights 3 vs 1024: the idle task gets about 0.3%.
    assert!(permille(task(&m, "idle").run_ns, 2 * SEC) <= 5);
}
