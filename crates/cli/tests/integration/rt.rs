//! SCHED_FIFO / SCHED_RR.

use crate::common::*;

#[test]
fn fifo_runs_in_strict_priority_order_on_one_cpu() {
    let json = r#"{ "tasks": {
        "low":  { "policy": "SCHED_FIFO", "priority": 10, "loop": 1, "run": 10000 },
        "high": { "policy": "SCHED_FIFO", "priority": 50, "loop": 1, "run": 10000 },
        "mid":  { "policy": "SCHED_FIFO", "priority": 30, "loop": 1, "run": 10000 } } }"#;
    let m = run(json, overrides(1, SEC));
    assert_eq!(task(&m, "high").exit_ns, Some(10 * MS));
    assert_eq!(task(&m, "mid").exit_ns, Some(20 * MS));
    assert_eq!(task(&m, "low").exit_ns, Some(30 * MS));
    assert_eq!(task(&m, "low").preemptions, 0, "FIFO never slices");
}

#[test]
fn fifo_wakeup_preempts_a_lower_priority_task_at_once() {
    let json = r#"{ "tasks": {
        "low":  { "policy": "SCHED_FIFO", "priority": 10, "loop": 1, "run": 10000 },
        "high": { "policy": "SCHED_FIFO", "priority": 50, "loop": 1, "delay": 3000, "run": 2000 } } }"#;
    let (m, ev) = run_traced(json, overrides(1, SEC));
    assert_eq!(task(&m, "high").exit_ns, Some(5 * MS));
    assert_eq!(task(&m, "low").exit_ns, Some(12 * MS));
    assert_eq!(task(&m, "high").wakeup_latency_ns.max, 0);
    let sw = switches(&m, &ev);
    assert!(sw.contains(&(3 * MS, 0, "high".into())), "{sw:?}");
}

#[test]
fn rr_tasks_of_equal_priority_alternate_every_100_ms() {
    let json = r#"{ "tasks": {
        "a": { "policy": "SCHED_RR", "priority": 20, "loop": 1, "run": 300000 },
        "b": { "policy": "SCHED_RR", "priority": 20, "loop": 1, "run": 300000 } } }"#;
    let (m, ev) = run_traced(json, overrides(1, SEC));
    let sw: Vec<_> = switches(&m, &ev)
        .into_iter()
        .map(|(at, _, next)| (at / MS, next))
        .collect();
    let expect: Vec<(u64, String)> = [
        (0, "a"),
        (100, "b"),
        (200, "a"),
        (300, "b"),
        (400, "a"),
        (500, "b"),
        (600, "idle"),
    ]
    .iter()
    .map(|&(t, n)| (t, n.to_string()))
    .collect();
    assert_eq!(sw, expect);
    assert_eq!(task(&m, "a").exit_ns, Some(500 * MS));
    assert_eq!(task(&m, "b").exit_ns, Some(600 * MS));
}

#[test]
fn the_highest_rt_tasks_run_on_four_cpus() {
    // Eight CPU-bound FIFO tasks of distinct priorities on four CPUs.
    let mut tasks = String::new();
    for prio in 1..=8 {
        tasks.push_str(&format!(
            r#""p{prio}": {{ "policy": "SCHED_FIFO", "priority": {}, "run": 1000000 }},"#,
            prio * 10
        ));
    }
    let json = format!(r#"{{ "tasks": {{ {tasks} }} }}"#);
    let m = run(&json, overrides(4, 5 * SEC));
    for prio in 5..=8 {
        let pm = permille(task(&m, &format!("p{prio}")).run_ns, 5 * SEC);
        assert!(pm >= 900, "p{prio} got only {pm}/1000 of a CPU");
    }
    for prio in 1..=4 {
        let pm = permille(task(&m, &format!("p{prio}")).run_ns, 5 * SEC);
        assert!(pm <= 10, "p{prio} got {pm}/1000 of a CPU");
    }
}

#[test]
fn rt_throttling_leaves_5_percent_and_can_be_turned_off() {
    let json = r#"{ "tasks": {
        "rt":   { "policy": "SCHED_FIFO", "priority": 50, "run": 1000000 },
        "fair": { "run": 1000000 } } }"#;
    let m = run(json, overrides(1, 2 * SEC));
    // Linux notices `rt_time > sched_rt_runtime` at the tick, so RT runs 951 ms of the first
    // second; the 1 ms it overran is still charged in the second one, which throttles at 950.
    assert_eq!(task(&m, "rt").run_ns, 1901 * MS);
    assert_eq!(task(&m, "fair").run_ns, 99 * MS);
    let mut o = overrides(1, 2 * SEC);
    o.rt_throttling = Some(false);
    let m = run(json, o);
    assert_eq!(task(&m, "rt").run_ns, 2 * SEC);
    assert_eq!(task(&m, "fair").run_ns, 0);
}
