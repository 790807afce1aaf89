//! Mutexes under the three inheritance modes: textbook inversions, deadlocks, accounting.

use crate::common::*;
use proxysched_report::metrics::MetricsDoc;
use proxysched_sched::{Inherit, ProxyLevel};
use proxysched_trace::Event;

const MODES: [Inherit; 3] = [Inherit::None, Inherit::Pi, Inherit::Proxy];

/// The Mars Pathfinder inversion on one CPU, in 1 ms units.
const PATHFINDER: &str = r#"{ "tasks": {
    "asi_met": { "policy": "SCHED_FIFO", "priority": 10, "loop": 1,
                 "run": 1000, "lock": "M", "run": 3000, "unlock": "M", "run": 1000 },
    "bc_dist": { "policy": "SCHED_FIFO", "priority": 30, "loop": 1, "delay": 2000,
                 "run": 1000, "lock": "M", "run": 1000, "unlock": "M", "run": 1000 },
    "comms":   { "policy": "SCHED_FIFO", "priority": 20, "loop": 1, "delay": 3000,
                 "run": 10000 } } }"#;

#[test]
fn pathfinder_bc_dist_finishes_at_17_ms_without_inheritance_and_7_with_it() {
    let mut schedules = Vec::new();
    for (mode, exit_ms) in [(Inherit::None, 17), (Inherit::Pi, 7), (Inherit::Proxy, 7)] {
        let (m, ev) = run_traced(PATHFINDER, with_inherit(overrides(1, SEC), mode));
        assert_eq!(task(&m, "bc_dist").exit_ns, Some(exit_ms * MS), "{mode:?}");
        schedules.push(switches(&m, &ev));
    }
    assert_eq!(
        schedules[1], schedules[2],
        "pi and proxy schedule identically"
    );
    assert_ne!(schedules[0], schedules[1]);
}

#[test]
fn pathfinder_under_proxy_runs_asi_met_on_bc_dist_s_context() {
    let (m, ev) = run_traced(PATHFINDER, with_inherit(overrides(1, SEC), Inherit::Proxy));
    let (asi, bc) = (0u32, 1u32);
    let donated: Vec<(u64, Option<u32>, Option<u32>)> = ev
        .iter()
        .filter_map(|(at, e)| match e {
            Event::SchedSwitch { next, donor, .. } => {
                Some((*at, next.map(|p| p.0), donor.map(|p| p.0)))
            }
            _ => None,
        })
        .collect();
    assert!(
        donated.contains(&(3 * MS, Some(asi), Some(bc))),
        "asi_met runs as bc_dist's proxy from 3 ms: {donated:?}"
    );
    assert!(
        donated.contains(&(5 * MS, Some(bc), Some(bc))),
        "{donated:?}"
    );
    assert_eq!(task(&m, "bc_dist").blocked_ns, 2 * MS);
}

#[test]
fn a_never_releasing_owner_keeps_a_middle_task_off_the_cpu_with_inheritance() {
    let json = r#"{ "tasks": {
        "owner":  { "policy": "SCHED_FIFO", "priority": 10, "loop": 1,
                    "lock": "M", "run": 100000000, "unlock": "M" },
        "waiter": { "policy": "SCHED_FIFO", "priority": 50, "loop": 1, "delay": 1000,
                    "lock": "M", "unlock": "M" },
        "middle": { "policy": "SCHED_FIFO", "priority": 30, "delay": 2000, "run": 100000 } } }"#;
    for mode in MODES {
        let m = run(json, with_inherit(overrides(1, 2 * SEC), mode));
        let middle = task(&m, "middle").run_ns;
        match mode {
            Inherit::None => assert!(middle > SEC, "none: middle ran {middle}"),
            _ => assert_eq!(middle, 0, "{mode:?}: the middle task ran"),
        }
    }
}

#[test]
fn an_ab_ba_deadlock_is_reported_and_the_rest_runs_on() {
    let json = r#"{ "tasks": {
        "t1": { "loop": 1, "lock": "A", "run": 1000, "lock": "B", "unlock": "B", "unlock": "A" },
        "t2": { "loop": 1, "lock": "B", "run": 1000, "lock": "A", "unlock": "A", "unlock": "B" },
        "bystander": { "loop": 1, "run": 5000 } } }"#;
    for mode in MODES {
        let (m, ev) = run_traced(json, with_inherit(overrides(2, SEC), mode));
        let deadlocks: Vec<_> = ev
            .iter()
            .filter_map(|(at, e)| match e {
                Event::Deadlock { tasks, mutexes } => Some((*at, tasks.clone(), mutexes.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(deadlocks.len(), 1, "{mode:?}: {deadlocks:?}");
        let (at, tasks, mutexes) = &deadlocks[0];
        assert_eq!(*at, MS);
        let mut names: Vec<_> = tasks
            .iter()
            .map(|t| m.tasks[t.index()].name.clone())
            .collect();
        names.sort();
        assert_eq!(names, ["t1", "t2"]);
        let mut mx = mutexes.clone();
        mx.sort();
        assert_eq!(mx, [0, 1]);
        assert!(task(&m, "bystander").exit_ns.is_some(), "{mode:?}");
        assert_eq!(task(&m, "t1").exit_ns, None);
        assert_eq!(task(&m, "t2").exit_ns, None);
    }
}

#[test]
fn cpu_time_is_conserved_under_proxy_execution() {
    let json = r#"{ "tasks": {
        "fg":  { "priority": -10, "run": 500, "lock": "L", "run": 800, "unlock": "L",
                 "timer": { "ref": "unique", "period": 8000 } },
        "bg":  { "policy": "SCHED_IDLE", "lock": "L", "run": 2000, "unlock": "L", "sleep": 1000 },
        "hog": { "instance": 3, "run": 1000000 },
        "rt":  { "policy": "SCHED_FIFO", "priority": 5, "lock": "L", "run": 300, "unlock": "L",
                 "sleep": 7000 } } }"#;
    for level in [
        ProxyLevel::SingleRq,
        ProxyLevel::DonorMigration,
        ProxyLevel::Full,
    ] {
        let mut o = with_inherit(overrides(2, 2 * SEC), Inherit::Proxy);
        o.proxy_level = Some(level);
        let m = run(json, o);
        let run_total: u64 = m.tasks.iter().map(|t| t.run_ns).sum();
        let busy: u64 = m.cpus.iter().map(|c| c.busy_ns).sum();
        assert_eq!(run_total, busy, "{level:?}");
        let donated: u64 = m.tasks.iter().map(|t| t.donated_ns).sum();
        let proxied: u64 = m.tasks.iter().map(|t| t.proxied_ns).sum();
        assert_eq!(donated, proxied, "{level:?}");
        assert!(donated > 0, "{level:?}: nobody ran as a proxy");
        for t in &m.tasks {
            assert_eq!(
                t.run_ns + t.runnable_ns + t.sleep_ns + t.blocked_ns,
                m.end_ns,
                "{level:?}: {}",
                t.name
            );
        }
        assert!(
            m.tasks.iter().any(|t| t.blocked_ns > 0),
            "{level:?}: no contention"
        );
    }
}

/// ksched_football on 4 CPUs: per player i, defense-low holds `low_i` forever, defense-mid
/// holds `mid_i` and blocks on `low_i`, defense-hi blocks on `mid_i`; the offense (prio 5) must
/// never run while the boosted defense (prio 10) covers every CPU.
fn football(players: usize) -> String {
    football_pinned(players, false)
}

/// With `cross_cpu`, player i's low and mid defenders and offense are pinned to CPU i and
/// every high defender to the extra CPU `players`, so every inheritance chain crosses CPUs.
fn football_pinned(players: usize, cross_cpu: bool) -> String {
    let pin = |cpu: usize| {
        if cross_cpu {
            format!(r#""cpus": [{cpu}],"#)
        } else {
            String::new()
        }
    };
    let mut tasks = vec![
        r#""referee": { "policy": "SCHED_FIFO", "priority": 20, "sleep": 100000, "run": 10 }"#
            .to_string(),
        r#""fan": { "policy": "SCHED_FIFO", "priority": 15, "instance": 4, "delay": 4000,
                    "run": 1000, "sleep": 2000 }"#
            .to_string(),
    ];
    for i in 0..players {
        tasks.push(format!(
            r#""defense_low{i}": {{ {} "policy": "SCHED_FIFO", "priority": 2, "loop": 1,
                "lock": "low{i}", "run": 100000000, "unlock": "low{i}" }}"#,
            pin(i)
        ));
        tasks.push(format!(
            r#""defense_mid{i}": {{ {} "policy": "SCHED_FIFO", "priority": 3, "loop": 1, "delay": 1000,
                "lock": "mid{i}", "lock": "low{i}", "unlock": "low{i}", "unlock": "mid{i}" }}"#,
            pin(i)
        ));
        tasks.push(format!(
            r#""defense_hi{i}": {{ {} "policy": "SCHED_FIFO", "priority": 10, "loop": 1, "delay": 2000,
                "lock": "mid{i}", "unlock": "mid{i}" }}"#,
            pin(players)
        ));
        tasks.push(format!(
            r#""offense{i}": {{ {} "policy": "SCHED_FIFO", "priority": 5, "delay": 3000, "run": 100000 }}"#,
            pin(i)
        ));
    }
    format!(r#"{{ "tasks": {{ {} }} }}"#, tasks.join(",\n"))
}

fn offense_run_ns(m: &proxysched_report::metrics::MetricsDoc) -> u64 {
    m.tasks
        .iter()
        .filter(|t| t.name.starts_with("offense"))
        .map(|t| t.run_ns)
        .sum()
}

#[test]
fn football_offense_never_runs_under_pi_and_full_proxy() {
    let json = football(4);
    let m = run(&json, with_inherit(overrides(4, 10 * SEC), Inherit::None));
    assert!(
        offense_run_ns(&m) > SEC,
        "without inheritance the offense scores"
    );
    let m = run(&json, with_inherit(overrides(4, 10 * SEC), Inherit::Pi));
    assert_eq!(offense_run_ns(&m), 0, "pi");
    let mut o = with_inherit(overrides(4, 10 * SEC), Inherit::Proxy);
    o.proxy_level = Some(ProxyLevel::Full);
    let m = run(&json, o);
    assert_eq!(offense_run_ns(&m), 0, "proxy full");
}

#[test]
fn football_with_cross_cpu_chains_needs_donor_migration() {
    // Every defender chain spans two CPUs. Linux 6.17's single-runqueue proxy lets the high
    // defenders sleep instead of lending their priority across CPUs, so the offense scores;
    // donor migration moves each high defender to its chain's owner and holds the line.
    let json = football_pinned(4, true);
    let mode = |inherit, level| {
        let mut o = with_inherit(overrides(5, 10 * SEC), inherit);
        o.proxy_level = level;
        offense_run_ns(&run(&json, o))
    };
    assert!(mode(Inherit::None, None) > SEC);
    assert_eq!(mode(Inherit::Pi, None), 0);
    assert!(mode(Inherit::Proxy, Some(ProxyLevel::SingleRq)) > SEC);
    assert_eq!(mode(Inherit::Proxy, Some(ProxyLevel::DonorMigration)), 0);
    assert_eq!(mode(Inherit::Proxy, Some(ProxyLevel::Full)), 0);
}

#[test]
fn the_built_in_demo_shows_proxy_cutting_the_worst_lock_wait_tenfold() {
    let w = proxysched_workload::builtin_demo();
    let worst = |inherit| {
        let cfg = proxysched_sim::RunConfig::resolve(
            &w,
            &proxysched_sim::Overrides {
                inherit: Some(inherit),
                ..Default::default()
            },
        );
        let m =
            proxysched::simulate(&w, &cfg, true, None).unwrap_or_else(|f| panic!("{}", f.message));
        m.mutexes[0].wait_ns.max
    };
    let (none, proxy) = (worst(Inherit::None), worst(Inherit::Proxy));
    assert!(
        proxy > 0 && none >= 10 * proxy,
        "worst ui_lock wait: none {none} ns, proxy {proxy} ns"
    );
}

/// The run's hung-task warnings, in order.
fn hung_warnings(m: &MetricsDoc) -> Vec<&String> {
    m.warnings
        .iter()
        .filter(|w| w.contains("hung task"))
        .collect()
}

#[test]
fn a_task_blocked_past_the_hung_task_timeout_is_reported() {
    let json = r#"{ "tasks": {
        "owner":  { "loop": 1, "lock": "M", "run": 5000000, "unlock": "M" },
        "waiter": { "loop": 1, "delay": 1000, "lock": "M", "unlock": "M" } } }"#;
    let mut o = overrides(2, 3 * SEC);
    o.hung_task_timeout_ns = Some(SEC);
    let m = run(json, o);
    let hung = hung_warnings(&m);
    assert_eq!(hung.len(), 1, "{:?}", m.warnings);
    assert!(
        hung[0].contains("'waiter'") && hung[0].contains("'M'"),
        "{}",
        hung[0]
    );
    // The default (120 s) stays quiet on a short run.
    let m = run(json, overrides(2, 3 * SEC));
    assert!(hung_warnings(&m).is_empty(), "{:?}", m.warnings);
}

#[test]
fn every_hung_waiter_is_reported_when_its_own_timeout_expires_and_zero_turns_the_check_off() {
    let json = r#"{ "tasks": {
        "owner": { "loop": 1, "lock": "M", "run": 5000000, "unlock": "M" },
        "w1":    { "loop": 1, "delay": 1000, "lock": "M", "unlock": "M" },
        "w2":    { "loop": 1, "delay": 2000, "lock": "M", "unlock": "M" } } }"#;
    let mut o = overrides(3, 3 * SEC);
    o.hung_task_timeout_ns = Some(SEC);
    let m = run(json, o.clone());
    let hung = hung_warnings(&m);
    assert_eq!(hung.len(), 2, "{:?}", m.warnings);
    assert!(
        hung[0].contains("'w1'") && hung[0].contains("t=1001000000 ns"),
        "{}",
        hung[0]
    );
    assert!(
        hung[1].contains("'w2'") && hung[1].contains("t=1002000000 ns"),
        "{}",
        hung[1]
    );
    o.hung_task_timeout_ns = Some(0);
    let m = run(json, o);
    assert!(hung_warnings(&m).is_empty(), "{:?}", m.warnings);
}

#[test]
fn a_hang_after_thousands_of_short_waits_is_reported_once_on_time() {
    // a and b contend for M about two thousand times in the first ~0.2 s, filling the
    // hung-task FIFO with finished waits that get dropped as it fills; the one wait that
    // really hangs (waiter, from 301 ms behind owner's 2 s hold) must still be reported,
    // once, exactly one timeout later.
    let json = r#"{ "tasks": {
        "a":      { "loop": 1000, "lock": "M", "run": 100, "unlock": "M" },
        "b":      { "loop": 1000, "lock": "M", "run": 100, "unlock": "M" },
        "owner":  { "loop": 1, "delay": 300000, "lock": "M", "run": 2000000, "unlock": "M" },
        "waiter": { "loop": 1, "delay": 301000, "lock": "M", "unlock": "M" } } }"#;
    let mut o = overrides(4, 3 * SEC);
    o.hung_task_timeout_ns = Some(SEC);
    let m = run(json, o);
    let contended = m.mutexes[0].contended;
    assert!(contended > 1000, "only {contended} contended acquisitions");
    let hung = hung_warnings(&m);
    assert_eq!(hung.len(), 1, "{:?}", m.warnings);
    assert!(
        hung[0].contains("'waiter'") && hung[0].contains("t=1301000000 ns"),
        "{}",
        hung[0]
    );
}

#[test]
fn pi_enabled_in_the_file_selects_priority_inheritance() {
    let json = PATHFINDER.replacen(
        r#"{ "tasks""#,
        r#"{ "global": { "pi_enabled": true }, "tasks""#,
        1,
    );
    let m = run(&json, overrides(1, SEC));
    assert_eq!(m.config.inherit, "pi");
    assert_eq!(task(&m, "bc_dist").exit_ns, Some(7 * MS));
}

#[test]
fn the_donor_s_dl_budget_pays_for_the_owner_it_runs() {
    // A DL waiter (2 ms every 10 ms) blocks on a mutex held by a fair task with 5 ms of work
    // to do, next to a fair hog. The owner runs on the waiter's budget: 2 ms, then the donor
    // is throttled and the owner competes as a fair task again.
    let json = r#"{ "tasks": {
        "owner":  { "loop": 1, "lock": "M", "run": 5000, "unlock": "M" },
        "hog":    { "run": 1000000 },
        "waiter": { "policy": "SCHED_DEADLINE", "dl-runtime": 2000, "dl-period": 10000,
                    "loop": 1, "delay": 500, "lock": "M", "run": 100, "unlock": "M" } } }"#;
    let (m, ev) = run_traced(json, with_inherit(overrides(1, SEC), Inherit::Proxy));
    let waiter = m.tasks.iter().position(|t| t.name == "waiter").unwrap() as u32;
    let throttled_at = ev
        .iter()
        .find_map(|(at, e)| match e {
            Event::DlThrottle { task, .. } if task.0 == waiter => Some(*at),
            _ => None,
        })
        .expect("the donor's budget runs out");
    assert!(
        (2_500_000..=3_500_000).contains(&throttled_at),
        "throttled at {throttled_at}"
    );
    assert!(task(&m, "owner").proxied_ns >= 2 * MS);
    assert_eq!(task(&m, "waiter").donated_ns, task(&m, "owner").proxied_ns);
    assert_eq!(
        task(&m, "waiter").run_ns,
        100_000,
        "the waiter's own code ran 0.1 ms"
    );
}

#[test]
fn condition_variables_follow_pthread_semantics() {
    // `early` signals before anyone waits (lost); `sleeper` waits, releasing the mutex so
    // `late` can take it; `late`'s broadcast wakes both waiters, which take the mutex again
    // one after the other.
    let json = r#"{ "tasks": {
        "early":   { "loop": 1, "signal": "c", "run": 10 },
        "sleeper": { "loop": 1, "delay": 100, "lock": "m", "wait": { "ref": "c", "mutex": "m" },
                     "run": 1000, "unlock": "m" },
        "sleeper2": { "loop": 1, "delay": 200, "lock": "m", "wait": { "ref": "c", "mutex": "m" },
                      "run": 1000, "unlock": "m" },
        "late":    { "loop": 1, "delay": 3000, "lock": "m", "broad": "c", "run": 500,
                     "unlock": "m" } } }"#;
    let m = run(json, overrides(2, SEC));
    assert_eq!(task(&m, "late").exit_ns, Some(3_500_000));
    let (a, b) = (
        task(&m, "sleeper").exit_ns.unwrap(),
        task(&m, "sleeper2").exit_ns.unwrap(),
    );
    // Both wake at 3.5 ms when `late` unlocks; the mutex serialises their 1 ms sections.
    let mut exits = [a, b];
    exits.sort();
    assert_eq!(exits, [4_500_000, 5_500_000]);
    let mutex = &m.mutexes[0];
    assert_eq!(mutex.name, "m");
    assert!(mutex.contended >= 1);
}

#[test]
fn locking_a_held_mutex_again_is_a_deadlock_of_one() {
    let json = r#"{ "tasks": { "t": { "loop": 1, "lock": "M", "lock": "M", "unlock": "M" } } }"#;
    for mode in MODES {
        let (m, ev) = run_traced(json, with_inherit(overrides(1, SEC), mode));
        let found = ev
            .iter()
            .any(|(_, e)| matches!(e, Event::Deadlock { tasks, mutexes } if tasks.len() == 1 && mutexes == &[0]));
        assert!(found, "{mode:?}");
        assert_eq!(m.deadlocks.len(), 1);
        assert_eq!(m.deadlocks[0].tasks, ["t"]);
    }
}

#[test]
fn a_cpu_whose_owner_loses_its_rt_boost_pulls_waiting_rt_work_at_once() {
    // Two CPUs, priority inheritance. o (fair, CPU 1) holds m; w (FIFO 60, CPU 1) blocks on it
    // at 1 ms and boosts o to RT. r (FIFO 10) wakes at 2 ms on CPU 0 behind h (FIFO 50,
    // CPU 0) and cannot go to CPU 1, where the boosted o runs. At 3 ms o unlocks and drops
    // back to fair: CPU 1 has no RT task left, and Linux's `switched_from_rt()` pulls r there
    // at that instant (w then preempts it when it takes m). Without the hook r would wait for
    // the next reschedule that pulls: w's sleep at 4 ms.
    let json = r#"{ "tasks": {
        "o": { "policy": "SCHED_OTHER", "cpus": [1], "lock": "m", "run": 3000, "unlock": "m",
               "sleep": 100000 },
        "w": { "policy": "SCHED_FIFO", "priority": 60, "cpus": [1], "delay": 1000, "lock": "m",
               "run": 1000, "unlock": "m", "sleep": 100000 },
        "h": { "policy": "SCHED_FIFO", "priority": 50, "cpus": [0], "delay": 500, "run": 10000,
               "sleep": 100000 },
        "r": { "policy": "SCHED_FIFO", "priority": 10, "phases": {
                 "start": { "cpus": [0], "run": 100 },
                 "work": { "sleep": 1900, "run": 1000, "sleep2": 100000 } } } } }"#;
    let (m, ev) = run_traced(
        json,
        with_inherit(overrides(2, 12 * MS), proxysched_sched::Inherit::Pi),
    );
    let r_moves: Vec<_> = ev
        .iter()
        .filter_map(|(at, e)| match e {
            proxysched_trace::Event::SchedMigrateTask {
                task,
                orig_cpu,
                dest_cpu,
                ..
            } if m.tasks[task.index()].name == "r" => Some((*at, *orig_cpu, *dest_cpu)),
            _ => None,
        })
        .collect();
    assert_eq!(r_moves, [(3 * MS, 0, 1)]);
    assert!(switches(&m, &ev).contains(&(4 * MS, 1, "r".to_string())));
}
