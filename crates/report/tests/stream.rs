//! The metrics sink on hand-written tracepoint streams: mutex waits and holds, donated and
//! proxied time under proxy execution, deadlocks, and the residency identity. Every number is
//! worked out by hand in the comments.

use proxysched_report::metrics::{
    CompareDoc, ConfigDoc, MetricsDoc, MetricsSink, PercentilesMax, TaskDoc,
};
use proxysched_trace::{Event, PrevState, Sink, TaskId, WakeReason};

const F: TaskId = TaskId(0);
const B: TaskId = TaskId(1);
const H: TaskId = TaskId(2);

fn new_task(task: TaskId, name: &str) -> Event {
    Event::TaskNew {
        task,
        name: name.to_string(),
        policy: "SCHED_OTHER",
        prio: 120,
    }
}

fn wakeup_new(task: TaskId, cpu: u32) -> Event {
    Event::SchedWakeupNew {
        task,
        prio: 120,
        cpu,
    }
}

fn mutex(mutex: u32, name: &str) -> Event {
    Event::MutexNew {
        mutex,
        name: name.to_string(),
    }
}

/// `sched_switch` on `cpu` from `prev` (leaving in `state`) to `next` on `donor`'s context.
fn switch(
    cpu: u32,
    prev: Option<TaskId>,
    state: PrevState,
    next: Option<TaskId>,
    donor: Option<TaskId>,
) -> Event {
    Event::SchedSwitch {
        cpu,
        prev,
        prev_prio: 120,
        prev_state: state,
        next,
        next_prio: 120,
        donor,
    }
}

fn donor(cpu: u32, curr: TaskId, donor: TaskId) -> Event {
    Event::SchedDonor {
        cpu,
        curr: Some(curr),
        donor: Some(donor),
    }
}

fn waking(task: TaskId, cpu: u32, reason: WakeReason) -> Event {
    Event::SchedWaking {
        task,
        prio: 120,
        target_cpu: cpu,
        reason,
    }
}

fn contend(task: TaskId, mutex: u32, owner: TaskId) -> Event {
    Event::LockContend { task, mutex, owner }
}

fn acquire(task: TaskId, mutex: u32) -> Event {
    Event::LockAcquire { task, mutex }
}

fn release(task: TaskId, mutex: u32, next: Option<TaskId>) -> Event {
    Event::LockRelease { task, mutex, next }
}

fn proxy_migrate(task: TaskId, owner: TaskId, orig_cpu: u32, dest_cpu: u32) -> Event {
    Event::ProxyMigrate {
        task,
        owner,
        orig_cpu,
        dest_cpu,
    }
}

fn migrate(task: TaskId, orig_cpu: u32, dest_cpu: u32) -> Event {
    Event::SchedMigrateTask {
        task,
        prio: 120,
        orig_cpu,
        dest_cpu,
    }
}

fn config() -> ConfigDoc {
    ConfigDoc {
        cpus: 2,
        inherit: "proxy",
        proxy_level: "full",
        hz: 1000,
        seed: 1,
        duration_ns: None,
        switch_cost_ns: 0,
        migration_cost_ns: 0,
        ipi_latency_ns: 0,
        rt_throttling: true,
        hrtick_dl: false,
    }
}

fn feed(nr_cpus: usize, stream: &[(u64, Event)], end_ns: u64) -> (MetricsSink, MetricsDoc) {
    let mut sink = MetricsSink::new(nr_cpus);
    for (at, e) in stream {
        sink.record(*at, e);
    }
    sink.finish(end_ns);
    let doc = MetricsDoc::build(config(), &sink, stream.len() as u64, &[]);
    (sink, doc)
}

fn pm(p50: u64, p99: u64, max: u64) -> PercentilesMax {
    PercentilesMax { p50, p99, max }
}

/// run + runnable + sleep + blocked covers the task's whole life (all tasks here start at 0).
fn assert_residency_identity(t: &TaskDoc, end_ns: u64) {
    let life = t.exit_ns.unwrap_or(end_ns);
    assert_eq!(
        t.run_ns + t.runnable_ns + t.sleep_ns + t.blocked_ns,
        life,
        "{}: {t:?}",
        t.name
    );
}

/// Three tasks on one CPU and no inheritance: B and then C wait for A's mutex `m`, which is
/// handed to B, then to C. Mutex `n` (declared first, id 1) is taken once and still held at
/// the end; `idle` (id 2) is never used.
#[test]
fn mutex_waits_and_holds_follow_contend_acquire_release() {
    let (a, b, c) = (TaskId(0), TaskId(1), TaskId(2));
    use PrevState::*;
    let stream = vec![
        (0, new_task(a, "A")),
        (0, new_task(b, "B")),
        (0, new_task(c, "C")),
        (0, mutex(1, "n")),
        (0, mutex(0, "m")),
        (0, mutex(2, "idle")),
        (0, wakeup_new(a, 0)),
        (0, wakeup_new(b, 0)),
        (0, wakeup_new(c, 0)),
        (0, switch(0, None, Preempted, Some(a), Some(a))),
        (100, acquire(a, 0)),
        (100, switch(0, Some(a), Preempted, Some(b), Some(b))),
        // B waits from 150 ...
        (150, contend(b, 0, a)),
        (150, switch(0, Some(b), BlockedOnMutex, Some(c), Some(c))),
        // ... C from 200.
        (200, contend(c, 0, a)),
        (200, switch(0, Some(c), BlockedOnMutex, Some(a), Some(a))),
        // A held m for 350 - 100 = 250; B waited 350 - 150 = 200.
        (350, release(a, 0, Some(b))),
        (350, acquire(b, 0)),
        (350, waking(b, 0, WakeReason::Mutex)),
        (400, switch(0, Some(a), Sleeping, Some(b), Some(b))),
        // B held m for 500 - 350 = 150; C waited 500 - 200 = 300.
        (500, release(b, 0, Some(c))),
        (500, acquire(c, 0)),
        (500, waking(c, 0, WakeReason::Mutex)),
        (550, switch(0, Some(b), Sleeping, Some(c), Some(c))),
        // C held m for 600 - 500 = 100.
        (600, release(c, 0, None)),
        // n: acquired uncontended and never released.
        (700, acquire(c, 1)),
    ];
    let (sink, doc) = feed(1, &stream, 1000);

    assert_eq!(
        doc.mutexes
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["m", "n", "idle"],
        "in mutex-id order"
    );
    let m = &doc.mutexes[0];
    assert_eq!((m.acquisitions, m.contended), (3, 2));
    assert_eq!(m.wait_ns, pm(200, 300, 300));
    assert_eq!(m.hold_ns, pm(150, 250, 250));
    let n = &doc.mutexes[1];
    assert_eq!((n.acquisitions, n.contended), (1, 0));
    assert_eq!(n.hold_ns, pm(0, 0, 0), "an unfinished hold is not a sample");
    let idle = &doc.mutexes[2];
    assert_eq!((idle.acquisitions, idle.contended), (0, 0));

    // The distributions themselves stay available (for CDFs).
    assert_eq!(sink.mutexes[&0].wait.count(), 2);
    assert_eq!(sink.mutexes[&0].hold.count(), 3);
    assert_eq!(
        sink.mutexes[&0].hold.cdf(),
        [(100, 333), (150, 666), (250, 1000)]
    );

    // Without proxy execution nothing is donated, and residency still adds up.
    for t in &doc.tasks {
        assert_eq!((t.donated_ns, t.proxied_ns), (0, 0));
        assert_residency_identity(t, 1000);
    }
    // B: runnable 0-100, running 100-150, blocked 150-350, runnable 350-400, running 400-550,
    // sleeping 550-1000.
    let tb = &doc.tasks[1];
    assert_eq!(
        (tb.run_ns, tb.runnable_ns, tb.blocked_ns, tb.sleep_ns),
        (200, 150, 200, 450)
    );
    assert!(doc.deadlocks.is_empty());
}

/// Proxy execution on two CPUs. F (foreground) and H (hog) donate to B, the owner of `m`:
///
/// ```text
///        cpu0                                    cpu1
/// 0      B runs (takes m)                        F runs
/// 1000   donor becomes F (F proxy-migrated)      F blocks on m; H runs
/// 3000   B hands m to F; F runs                  .
/// 4000   F releases m, sleeps; B runs            .
/// 5000   B takes m                               .
/// 6000   .                                       H sleeps; idle
/// 6500   F wakes and runs                        .
/// 7000   F blocks on m; B runs on F's context    .
/// 8000   B hands m to F; F runs                  .
/// 9000   F releases m, exits; B runs             .
/// 9100   B takes m                               .
/// 9200   .                                       H wakes and runs
/// 9500   donor becomes H (H proxy-migrated)      H blocks on m; idle
/// 10000  end
/// ```
#[test]
fn donated_and_proxied_time_follow_curr_and_donor() {
    use PrevState::*;
    let stream = vec![
        (0, new_task(F, "F")),
        (0, new_task(B, "B")),
        (0, new_task(H, "H")),
        (0, mutex(0, "m")),
        (0, wakeup_new(F, 1)),
        (0, wakeup_new(B, 0)),
        (0, wakeup_new(H, 1)),
        (0, switch(0, None, Preempted, Some(B), Some(B))),
        (0, switch(1, None, Preempted, Some(F), Some(F))),
        (0, acquire(B, 0)),
        (1000, contend(F, 0, B)),
        (1000, switch(1, Some(F), BlockedOnMutex, Some(H), Some(H))),
        (1000, migrate(F, 1, 0)),
        (1000, proxy_migrate(F, B, 1, 0)),
        (1000, donor(0, B, F)),
        (3000, release(B, 0, Some(F))),
        (3000, acquire(F, 0)),
        (3000, waking(F, 0, WakeReason::Mutex)),
        (3000, switch(0, Some(B), Preempted, Some(F), Some(F))),
        (4000, release(F, 0, None)),
        (4000, switch(0, Some(F), Sleeping, Some(B), Some(B))),
        (5000, acquire(B, 0)),
        (6000, switch(1, Some(H), Sleeping, None, None)),
        (6500, waking(F, 0, WakeReason::Sleep)),
        (6500, switch(0, Some(B), Preempted, Some(F), Some(F))),
        // The donor blocks and its owner runs in its place on the same CPU.
        (7000, contend(F, 0, B)),
        (7000, switch(0, Some(F), BlockedOnMutex, Some(B), Some(F))),
        (8000, release(B, 0, Some(F))),
        (8000, acquire(F, 0)),
        (8000, waking(F, 0, WakeReason::Mutex)),
        (8000, switch(0, Some(B), Preempted, Some(F), Some(F))),
        (9000, release(F, 0, None)),
        (9000, Event::SchedProcessExit { task: F, prio: 120 }),
        (9000, switch(0, Some(F), Dead, Some(B), Some(B))),
        (9100, acquire(B, 0)),
        (9200, waking(H, 1, WakeReason::Sleep)),
        (9200, switch(1, None, Preempted, Some(H), Some(H))),
        (9500, contend(H, 0, B)),
        (9500, switch(1, Some(H), BlockedOnMutex, None, None)),
        (9500, migrate(H, 1, 0)),
        (9500, proxy_migrate(H, B, 1, 0)),
        (9500, donor(0, B, H)),
    ];
    let (sink, doc) = feed(2, &stream, 10_000);
    let (f, b, h) = (&doc.tasks[0], &doc.tasks[1], &doc.tasks[2]);

    // F donated 1000-3000 (SchedDonor) and 7000-8000 (switch with next != donor); H donated
    // 9500-10000, open at the end; B ran on their contexts all that time.
    assert_eq!((f.donated_ns, f.proxied_ns), (3000, 0));
    assert_eq!((h.donated_ns, h.proxied_ns), (500, 0));
    assert_eq!((b.donated_ns, b.proxied_ns), (0, 3500));
    let donated: u64 = doc.tasks.iter().map(|t| t.donated_ns).sum();
    let proxied: u64 = doc.tasks.iter().map(|t| t.proxied_ns).sum();
    assert_eq!(donated, proxied);

    // run_ns is what curr accrues, donor or not.
    assert_eq!(
        (f.run_ns, f.runnable_ns, f.blocked_ns, f.sleep_ns),
        (3500, 0, 3000, 2500)
    );
    assert_eq!(
        (b.run_ns, b.runnable_ns, b.blocked_ns, b.sleep_ns),
        (7500, 2500, 0, 0)
    );
    assert_eq!(
        (h.run_ns, h.runnable_ns, h.blocked_ns, h.sleep_ns),
        (5300, 1000, 500, 3200)
    );
    for t in &doc.tasks {
        assert_residency_identity(t, 10_000);
    }
    let run: u64 = doc.tasks.iter().map(|t| t.run_ns).sum();
    let busy: u64 = doc.cpus.iter().map(|c| c.busy_ns).sum();
    assert_eq!((doc.cpus[0].busy_ns, doc.cpus[1].busy_ns), (10_000, 6300));
    assert_eq!(run, busy);
    assert_eq!(f.exit_ns, Some(9000));

    // Migrations count sched_migrate_task; proxy_migrations the donor's ProxyMigrate.
    assert_eq!((f.migrations, f.proxy_migrations), (1, 1));
    assert_eq!((h.migrations, h.proxy_migrations), (1, 1));
    assert_eq!((b.migrations, b.proxy_migrations), (0, 0));

    // m: B 0-3000, F 3000-4000, B 5000-8000, F 8000-9000, B from 9100 (open). F waited 2000
    // and 1000; H still waits at the end.
    let m = &doc.mutexes[0];
    assert_eq!((m.acquisitions, m.contended), (5, 3));
    assert_eq!(m.wait_ns, pm(1000, 2000, 2000));
    assert_eq!(m.hold_ns, pm(1000, 3000, 3000));
    assert_eq!(sink.mutexes[&0].wait.count(), 2);
    assert_eq!(sink.mutexes[&0].hold.count(), 4);
}

/// The residency identity on a stream where a blocked donor is picked again while still
/// blocked (Linux keeps blocked donors on the runqueue): the switch that makes it the donor
/// of its owner never makes it `curr`, so it stays blocked.
#[test]
fn a_donor_picked_while_blocked_stays_blocked() {
    use PrevState::*;
    let stream = vec![
        (0, new_task(F, "F")),
        (0, new_task(B, "B")),
        (0, mutex(0, "m")),
        (0, wakeup_new(B, 0)),
        (0, switch(0, None, Preempted, Some(B), Some(B))),
        (0, acquire(B, 0)),
        (100, wakeup_new(F, 0)),
        (100, switch(0, Some(B), Preempted, Some(F), Some(F))),
        (200, contend(F, 0, B)),
        (200, switch(0, Some(F), BlockedOnMutex, Some(B), Some(F))),
        // A tick: the core re-picks F as donor; B keeps running on it.
        (300, donor(0, B, B)),
        (300, donor(0, B, F)),
        (700, release(B, 0, Some(F))),
        (700, acquire(F, 0)),
        (700, waking(F, 0, WakeReason::Mutex)),
        (750, switch(0, Some(B), Preempted, Some(F), Some(F))),
    ];
    let (_, doc) = feed(1, &stream, 1000);
    let (f, b) = (&doc.tasks[0], &doc.tasks[1]);
    assert_eq!(
        (f.run_ns, f.runnable_ns, f.blocked_ns, f.sleep_ns),
        (350, 50, 500, 0)
    );
    assert_eq!(f.exit_ns, None);
    // F's life starts at its sched_wakeup_new (100): 350 + 50 + 500 = 900.
    assert_eq!(f.run_ns + f.runnable_ns + f.blocked_ns + f.sleep_ns, 900);
    assert_residency_identity(b, 1000);
    // Donated from the blocking switch (200) until F is switched in (750), across the re-pick.
    assert_eq!((f.donated_ns, b.proxied_ns), (550, 550));
    assert_eq!(f.wakeup_latency_ns.max, 50);
    assert_eq!(doc.mutexes[0].wait_ns, pm(500, 500, 500));
}

/// Two tasks, two mutexes, taken in opposite orders.
#[test]
fn deadlocks_are_reported_by_name() {
    let (a, b) = (TaskId(0), TaskId(1));
    use PrevState::*;
    let stream = vec![
        (0, new_task(a, "A")),
        (0, new_task(b, "B")),
        (0, mutex(0, "a_lock")),
        (0, mutex(1, "b_lock")),
        (0, wakeup_new(a, 0)),
        (0, wakeup_new(b, 1)),
        (0, switch(0, None, Preempted, Some(a), Some(a))),
        (0, switch(1, None, Preempted, Some(b), Some(b))),
        (100, acquire(a, 0)),
        (200, acquire(b, 1)),
        (300, contend(a, 1, b)),
        (300, switch(0, Some(a), BlockedOnMutex, None, None)),
        (500, contend(b, 0, a)),
        (500, switch(1, Some(b), BlockedOnMutex, None, None)),
        (
            500,
            Event::Deadlock {
                tasks: vec![b, a],
                mutexes: vec![0, 1],
            },
        ),
    ];
    let (_, doc) = feed(2, &stream, 2000);
    assert_eq!(doc.deadlocks.len(), 1);
    let d = &doc.deadlocks[0];
    assert_eq!(d.at_ns, 500);
    assert_eq!(d.tasks, ["B", "A"]);
    assert_eq!(d.mutexes, ["a_lock", "b_lock"]);
    for m in &doc.mutexes {
        assert_eq!((m.acquisitions, m.contended), (1, 1));
        assert_eq!(
            m.wait_ns,
            pm(0, 0, 0),
            "waits that never end are not samples"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&doc.to_json()).unwrap();
    assert_eq!(
        json["deadlocks"],
        serde_json::json!([{ "at_ns": 500, "tasks": ["B", "A"], "mutexes": ["a_lock", "b_lock"] }])
    );
    assert_eq!(
        json["mutexes"][1],
        serde_json::json!({ "name": "b_lock", "acquisitions": 1, "contended": 1,
            "wait_ns": { "p50": 0, "p99": 0, "max": 0 },
            "hold_ns": { "p50": 0, "p99": 0, "max": 0 } })
    );
}

#[test]
fn compare_json_keys_runs_by_mode_in_the_order_given() {
    let (_, doc) = feed(1, &[], 0);
    let c = CompareDoc {
        runs: vec![
            ("proxy".to_string(), doc.clone()),
            ("none".to_string(), doc),
        ],
    };
    let text = c.to_json();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], "proxysched-compare/1");
    let keys: Vec<&String> = v["runs"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["proxy", "none"]);
    assert_eq!(v["runs"]["none"]["schema"], "proxysched-metrics/1");
    assert!(text.find("\"schema\"").unwrap() < text.find("\"runs\"").unwrap());
    assert!(text.ends_with("}\n"));
}

#[test]
fn compare_summary_lines_up_modes_under_each_task() {
    // "none": B blocks on A's mutex and A runs on B's context until it hands the mutex over
    // and exits; "pi": nothing runs, a deadlock and a warning of its own.
    let (a, b, c) = (TaskId(0), TaskId(1), TaskId(2));
    use PrevState::*;
    let none = vec![
        (0, new_task(a, "A")),
        (0, new_task(b, "B")),
        (0, new_task(c, "C")),
        (0, mutex(0, "m")),
        (0, wakeup_new(a, 0)),
        (0, switch(0, None, Preempted, Some(a), Some(a))),
        (100, acquire(a, 0)),
        (150, wakeup_new(b, 0)),
        (150, switch(0, Some(a), Preempted, Some(b), Some(b))),
        (200, contend(b, 0, a)),
        (200, switch(0, Some(b), BlockedOnMutex, Some(a), Some(b))),
        (2_500_000, release(a, 0, Some(b))),
        (2_500_000, acquire(b, 0)),
        (2_500_000, waking(b, 0, WakeReason::Mutex)),
        (2_500_000, Event::SchedProcessExit { task: a, prio: 120 }),
        (2_500_000, switch(0, Some(a), Dead, Some(b), Some(b))),
    ];
    let pi = vec![
        (0, new_task(a, "A")),
        (0, new_task(b, "B")),
        (0, new_task(c, "C")),
        (0, mutex(0, "m")),
        (
            1_000_000,
            Event::Deadlock {
                tasks: vec![a, b],
                mutexes: vec![0],
            },
        ),
        (
            1_000_000,
            Event::Warning {
                message: "only in pi".into(),
            },
        ),
    ];
    let runs: Vec<(String, MetricsDoc)> = [("none", none), ("pi", pi)]
        .into_iter()
        .map(|(mode, s)| {
            let (_, mut doc) = feed(1, &s, 3_000_000);
            doc.config.inherit = mode;
            doc.warnings.insert(0, "everywhere".into());
            (mode.to_string(), doc)
        })
        .collect();
    let text = proxysched_report::table::compare_summary(&runs);
    let expected = "\
proxysched compare: 2 CPU(s), HZ 1000, proxy level full, seed 1; modes none, pi

task  mode  exit ms  blocked ms  lat p99 us  lat max us  dl misses  donated ms  proxied ms
A     none    2.500       0.000         0.0         0.0          0       0.000       2.499
      pi          -       0.000         0.0         0.0          0       0.000       0.000
B     none        -       2.499         0.0         0.0          0       2.499       0.000
      pi          -       0.000         0.0         0.0          0       0.000       0.000
C     none        -       0.000         0.0         0.0          0       0.000       0.000
      pi          -       0.000         0.0         0.0          0       0.000       0.000

mode  simulated ms  events  deadlocks  acquisitions  contended  worst wait ms  on mutex
none         3.000      16          0             2          1          2.499  m
pi           3.000       6          1             0          0              -  -
pi: deadlock at 1.000 ms: tasks A, B; mutexes m
warning: everywhere
warning: pi: only in pi
";
    assert_eq!(text, expected, "got:\n{text}");
}
