//! SCHED_DEADLINE: EDF + CBS, admission control.

use crate::common::*;

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
