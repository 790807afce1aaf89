//! SCHED_DEADLINE: EDF + CBS, admission control.

use crate::common::*;
use proxysched_trace::Event;

#[test]
fn three_dl_tasks_at_90_percent_never_miss_on_one_cpu() {
    // Utilisation 0.3 + 0.3 + 0.3, each task's work exactly its budget, released by its timer.
    let json = r#"{ "tasks": {
        "a": { "policy": "SCHED_DEADLINE", "dl-runtime": 3000, "dl-period": 10000,
               "run": 3000, "timer": { "ref": "unique", "period": 10000 } },
        "b": { "policy": "SCHED_DEADLINE", "dl-runtime": 6000, "dl-period": 20000,
               "run": 6000, "timer": { "ref": "unique", "period": 20000 } },
        "c": { "policy": "SCHED_DEADLINE", "dl-runtime": 12000, "dl-period": 40000,
               "run": 12000, "timer": { "ref": "unique", "period": 40000 } } } }"#;
    let m = run(json, overrides(1, 10 * SEC));
    for (name, period_ms) in [("a", 10), ("b", 20), ("c", 40)] {
        let t = task(&m, name);
        assert_eq!(t.deadline_misses, 0, "{name} missed");
        assert_eq!(t.activations, 10_000 / period_ms, "{name} activations");
        assert_eq!(t.run_ns, 10 * SEC * 3 / 10, "{name} got exactly its 30%");
    }
    assert_eq!(m.cpus[0].busy_ns, 9 * SEC);
}

#[test]
fn cbs_isolates_a_well_behaved_task_from_two_overrunning_ones() {
    // Two tasks whose work never ends get 40% each, and no more; the third keeps its deadlines.
    let json = r#"{ "tasks": {
        "hog1": { "policy": "SCHED_DEADLINE", "dl-runtime": 4000, "dl-period": 10000, "run": 1000000000 },
        "hog2": { "policy": "SCHED_DEADLINE", "dl-runtime": 8000, "dl-period": 20000, "run": 1000000000 },
        "good": { "policy": "SCHED_DEADLINE", "dl-runtime": 1500, "dl-period": 10000,
                  "run": 1500, "timer": { "ref": "unique", "period": 10000 } } } }"#;
    let m = run(json, overrides(1, 5 * SEC));
    let good = task(&m, "good");
    assert_eq!(good.deadline_misses, 0);
    assert_eq!(good.activations, 500);
    for hog in ["hog1", "hog2"] {
        let pm = permille(task(&m, hog).run_ns, 5 * SEC);
        assert!((395..=400).contains(&pm), "{hog} got {pm}/1000 of the CPU");
    }
}

#[test]
fn global_edf_spreads_dl_tasks_over_cpus() {
    // Six tasks of 60% each need four CPUs' worth of 0.9: global EDF through push/pull must
    // place them so that none misses.
    let mut tasks = String::new();
    for i in 0..6 {
        tasks.push_str(&format!(
            r#""t{i}": {{ "policy": "SCHED_DEADLINE", "dl-runtime": 6000, "dl-period": 10000,
                "run": 5000, "timer": {{ "ref": "unique", "period": 10000 }} }},"#
        ));
    }
    let json = format!(r#"{{ "tasks": {{ {tasks} }} }}"#);
    let m = run(&json, overrides(4, 2 * SEC));
    for t in &m.tasks {
        assert_eq!(t.deadline_misses, 0, "{} missed", t.name);
        assert_eq!(t.run_ns, 2 * SEC / 2, "{} ran 5 ms of every 10", t.name);
    }
}

/// Every switch away from `name`: (time, cpu, how it left).
fn switched_out(
    m: &proxysched_report::metrics::MetricsDoc,
    events: &[(u64, proxysched_trace::Event)],
    name: &str,
) -> Vec<(u64, u32, proxysched_trace::PrevState)> {
    events
        .iter()
        .filter_map(|(at, e)| match e {
            proxysched_trace::Event::SchedSwitch {
                cpu,
                prev: Some(p),
                prev_state,
                ..
            } if m.tasks[p.index()].name == name => Some((*at, *cpu, *prev_state)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_job_needing_exactly_its_runtime_finishes_before_the_tick_of_that_instant() {
    // Two CPUs. b1 and b2 (0.5 ms every 5 ms) run first; `a` (work = runtime = 0.5 ms, period
    // 10 ms) runs 0.5-1.0 ms on CPU 0, its budget reaching 0 as its work ends, exactly at the
    // tick of 1 ms (armed before a's segment end). The job is done: `a` sleeps at 1 ms. It used to
    // be throttled by that tick with no work left, switched out runnable and finished only
    // after its next period's replenishment (behind c1 and c2, which hold both CPUs over
    // 10 ms), 1.5 ms late, every period.
    let json = r#"{ "tasks": {
        "b1": { "policy": "SCHED_DEADLINE", "dl-runtime": 500, "dl-period": 5000, "run": 500,
                "timer": { "ref": "t_b1", "period": 5000, "mode": "absolute" } },
        "b2": { "policy": "SCHED_DEADLINE", "dl-runtime": 500, "dl-period": 5000, "run": 500,
                "timer": { "ref": "t_b2", "period": 5000, "mode": "absolute" } },
        "a":  { "policy": "SCHED_DEADLINE", "dl-runtime": 500, "dl-period": 10000, "run": 500,
                "timer": { "ref": "t_a", "period": 10000, "mode": "absolute" } },
        "c1": { "policy": "SCHED_DEADLINE", "dl-runtime": 2000, "dl-period": 10000,
                "delay": 9000, "run": 2000,
                "timer": { "ref": "t_c1", "period": 10000, "mode": "absolute" } },
        "c2": { "policy": "SCHED_DEADLINE", "dl-runtime": 2000, "dl-period": 10000,
                "delay": 9000, "run": 2000,
                "timer": { "ref": "t_c2", "period": 10000, "mode": "absolute" } } } }"#;
    for hrtick in [false, true] {
        let mut o = overrides(2, 50 * MS);
        o.hrtick_dl = Some(hrtick);
        let (m, ev) = run_traced(json, o);
        for t in &m.tasks {
            assert_eq!(t.deadline_misses, 0, "{} missed (hrtick {hrtick})", t.name);
        }
        let a = task(&m, "a");
        assert_eq!((a.activations, a.wakeups, a.run_ns), (5, 4, 5 * MS / 2));
        let sw = switches(&m, &ev);
        assert!(sw.contains(&(MS / 2, 0, "a".to_string())), "{sw:?}");
        // Each job: woken at 10k ms, behind b1/b2 (deadline 10k+5) and c1/c2 (10k+9+10 when
        // k >= 1) for 1.5 ms, then its 0.5 ms; never switched out runnable.
        let out = switched_out(&m, &ev, "a");
        let at: Vec<u64> = out.iter().map(|&(at, _, _)| at).collect();
        assert_eq!(at, [1, 12, 22, 32, 42].map(|ms| ms * MS), "hrtick {hrtick}");
        assert!(
            out.iter()
                .all(|&(_, _, s)| s == proxysched_trace::PrevState::Sleeping),
            "{out:?}"
        );
    }
}

#[test]
fn a_job_needing_exactly_its_runtime_finishes_before_a_pull_at_that_instant() {
    // Two CPUs. y runs on CPU 0 (0-0.4 ms), x on CPU 1 (0-0.7 ms); `a` then runs on CPU 0
    // 0.4-0.7 ms with exactly its budget, w waiting behind it. At 0.7 ms x and `a` both finish;
    // x's segment end was armed first. CPU 1, now idle, pulls w from CPU 0: that dequeue
    // accounts CPU 0's running task (`update_curr`, as `dequeue_task_dl` does), `a`, whose
    // budget is then exactly 0. `a` used to be throttled there, still runnable with nothing left
    // to run, and to end its first job at 5.4 ms (after its replenishment, behind y): a miss.
    // Now both programs finish their work before either CPU reschedules: `a` sleeps at 0.7 ms.
    let json = r#"{ "tasks": {
        "y": { "policy": "SCHED_DEADLINE", "dl-runtime": 400, "dl-period": 5000, "run": 400,
               "timer": { "ref": "t_y", "period": 5000, "mode": "absolute" } },
        "x": { "policy": "SCHED_DEADLINE", "dl-runtime": 700, "dl-period": 5000, "run": 700,
               "timer": { "ref": "t_x", "period": 5000, "mode": "absolute" } },
        "a": { "policy": "SCHED_DEADLINE", "dl-runtime": 300, "dl-period": 5000, "run": 300,
               "timer": { "ref": "t_a", "period": 5000, "mode": "absolute" } },
        "w": { "policy": "SCHED_DEADLINE", "dl-runtime": 1000, "dl-period": 10000, "run": 1000,
               "timer": { "ref": "t_w", "period": 10000, "mode": "absolute" } } } }"#;
    let (m, ev) = run_traced(json, overrides(2, 50 * MS));
    for t in &m.tasks {
        assert_eq!(t.deadline_misses, 0, "{} missed", t.name);
    }
    let sw = switches(&m, &ev);
    for expected in [
        (0, 0, "y"),
        (0, 1, "x"),
        (400_000, 0, "a"),
        (700_000, 1, "w"),
        (700_000, 0, "idle"),
        (1_700_000, 1, "idle"),
    ] {
        let e = (expected.0, expected.1, expected.2.to_string());
        assert!(sw.contains(&e), "no switch {e:?} in {sw:?}");
    }
    let migrated = ev.iter().any(|(at, e)| {
        *at == 700_000
            && matches!(e, proxysched_trace::Event::SchedMigrateTask { task, orig_cpu: 0,
                dest_cpu: 1, .. } if m.tasks[task.index()].name == "w")
    });
    assert!(migrated, "CPU 1 pulls w at 0.7 ms");
    let out = switched_out(&m, &ev, "a");
    assert_eq!(out[0], (700_000, 0, proxysched_trace::PrevState::Sleeping));
    assert!(out
        .iter()
        .all(|&(_, _, s)| s == proxysched_trace::PrevState::Sleeping));
    assert_eq!(task(&m, "a").wakeups, 9);
}

#[test]
fn a_cpu_whose_running_task_stays_queued_does_not_pull() {
    // Two CPUs (as Linux's `balance_dl()`: only a DL prev that left the EDF queue pulls).
    // z1 and z2 hold both CPUs until 9 and 9.5 ms, so `a` (deadline 10 ms) starts on CPU 0 at
    // 9 ms and is still running when its budget runs out at 14 ms, past the start of its next
    // period: no replenishment timer can be armed in the past, so it is replenished at once
    // (deadline 20 ms) and stays queued. x woke at 11 ms with deadline 18 ms, when both CPUs
    // ran earlier deadlines (a, and b until 14.6 ms on CPU 1), so it waits on CPU 1.
    // CPU 0's reschedule at 14 ms must not pull x although x's deadline is now earlier than
    // a's: prev (a) never left the queue. x runs on CPU 1 when b is done; a finishes on CPU 0.
    let json = r#"{ "tasks": {
        "z1": { "policy": "SCHED_DEADLINE", "dl-runtime": 9000, "dl-deadline": 9000,
                "dl-period": 100000, "run": 9000,
                "timer": { "ref": "t_z1", "period": 100000, "mode": "absolute" } },
        "z2": { "policy": "SCHED_DEADLINE", "dl-runtime": 9500, "dl-deadline": 9500,
                "dl-period": 100000, "run": 9500,
                "timer": { "ref": "t_z2", "period": 100000, "mode": "absolute" } },
        "a": { "policy": "SCHED_DEADLINE", "dl-runtime": 5000, "dl-period": 10000, "run": 6000,
               "timer": { "ref": "t_a", "period": 100000, "mode": "absolute" } },
        "b": { "policy": "SCHED_DEADLINE", "dl-runtime": 5000, "dl-period": 5400,
               "delay": 9600, "run": 5000,
               "timer": { "ref": "t_b", "period": 5400, "mode": "absolute" } },
        "x": { "policy": "SCHED_DEADLINE", "dl-runtime": 1500, "dl-period": 7000,
               "delay": 11000, "run": 1500,
               "timer": { "ref": "t_x", "period": 7000, "mode": "absolute" } } } }"#;
    let (m, ev) = run_traced(json, overrides(2, 17 * MS));
    let sw: Vec<_> = switches(&m, &ev)
        .into_iter()
        .filter(|&(at, _, _)| at >= 14 * MS)
        .collect();
    let expected = [
        (14_600_000, 1, "x"),
        (15_000_000, 0, "idle"),
        // b's next job, released at 15 ms, goes to the CPU a left idle.
        (15_000_000, 0, "b"),
        (16_100_000, 1, "idle"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|&(at, cpu, name)| (at, cpu, name.to_string()))
        .collect();
    assert_eq!(sw, expected);
}

/// `(time, runtime, deadline)` of every `DlReplenish` in the stream.
fn replenishments(events: &[(u64, Event)]) -> Vec<(u64, i64, u64)> {
    events
        .iter()
        .filter_map(|(at, e)| match e {
            Event::DlReplenish {
                runtime_ns,
                deadline_ns,
                ..
            } => Some((*at, *runtime_ns, *deadline_ns)),
            _ => None,
        })
        .collect()
}

#[test]
fn every_new_budget_is_traced_whichever_path_gives_it() {
    // 1 ms of work on a 1 ms budget, then 25 ms of sleep: the budget runs out as the work ends
    // (throttled until 10 ms), the replenishment timer fires while the task sleeps, and the
    // wakeup at 26 ms finds the deadline (20 ms) past, so the CBS rule starts a new instance.
    let json = r#"{ "tasks": { "dl": { "policy": "SCHED_DEADLINE", "dl-runtime": 1000,
        "dl-period": 10000, "loop": 1, "run": 1000, "sleep": 25000, "run": 500 } } }"#;
    let (_, ev) = run_traced(json, overrides(1, 40 * MS));
    assert_eq!(
        replenishments(&ev),
        [(10 * MS, MS as i64, 20 * MS), (26 * MS, MS as i64, 36 * MS)]
    );
}
