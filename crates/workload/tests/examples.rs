//! Every rt-app example shipped in `examples/rt-app/` parses and resolves to what rt-app means.

use std::path::PathBuf;

use proxysched_workload::*;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/rt-app")
        .join(name)
}

fn load_example(name: &str) -> Workload {
    load(&example(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn task<'w>(w: &'w Workload, name: &str) -> &'w TaskSpec {
    w.tasks
        .iter()
        .find(|t| *t.name == *name)
        .unwrap_or_else(|| panic!("no task {name}"))
}

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

#[test]
fn every_example_parses_resolves_and_fits_four_cpus() {
    let mut seen = 0;
    for entry in std::fs::read_dir(example("")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let w = load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!w.tasks.is_empty(), "{}", path.display());
            w.check_cpus(4).unwrap_or_else(|e| panic!("{e}"));
            for t in &w.tasks {
                for p in &t.phases {
                    assert!(!p.events.is_empty());
                    assert_eq!(p.events.len(), p.event_origins.len());
                    assert!(p.loops >= 1);
                }
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 10);
}

#[test]
fn tutorial_example1_run_sleep_forever() {
    let w = load_example("tutorial-example1.json");
    assert_eq!(w.global.duration_ns, Some(2_000_000_000));
    assert_eq!(w.tasks.len(), 1);
    let t = &w.tasks[0];
    assert_eq!(&*t.name, "thread0");
    assert_eq!(t.loops, None);
    assert_eq!(
        t.sched,
        SchedAttr::Fair {
            policy: Policy::Normal,
            nice: 0,
            slice_ns: None
        }
    );
    assert_eq!(t.phases.len(), 1);
    assert_eq!(t.phases[0].loops, 1);
    assert_eq!(
        *t.phases[0].events,
        [
            Event::Run { work_ns: 20 * MS },
            Event::Sleep { ns: 80 * MS }
        ]
    );
    // `"ftrace": true`, `calibration` and friends are ignored without a word.
    assert!(w.warnings.is_empty(), "{:?}", w.warnings);
}

#[test]
fn mp3_short_keeps_repeated_keys_in_order() {
    let w = load_example("mp3-short.json");
    let out = task(&w, "AudioOut");
    let runs: Vec<_> = out.phases[0]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Run { work_ns } => Some(*work_ns),
            _ => None,
        })
        .collect();
    assert_eq!(runs, [275 * US, 4725 * US]);

    // mp3.decoder: suspend, run, lock, signal, wait, unlock, run — three distinct kinds of
    // resource named "mutex"/"queue" resolved by kind.
    let dec = task(&w, "mp3.decoder");
    let m = MutexId(w.mutexes.iter().position(|n| n == "mutex").unwrap() as u32);
    let c = CondId(w.conds.iter().position(|n| n == "queue").unwrap() as u32);
    let q = SuspendId(
        w.suspend_queues
            .iter()
            .position(|n| n == "mp3.decoder")
            .unwrap() as u32,
    );
    assert_eq!(
        *dec.phases[0].events,
        [
            Event::Suspend { queue: q },
            Event::Run { work_ns: 1000 * US },
            Event::Lock { mutex: m },
            Event::Signal { cond: c },
            Event::Wait { cond: c, mutex: m },
            Event::Unlock { mutex: m },
            Event::Run { work_ns: 150 * US },
        ]
    );
    // OMXCall repeats lock and unlock: both pairs are kept.
    let omx = task(&w, "OMXCall");
    let locks = omx.phases[0]
        .events
        .iter()
        .filter(|e| matches!(e, Event::Lock { .. }))
        .count();
    assert_eq!(locks, 2);
    // Three of the four repeats are `run`s; every one is reported with rt-app's caveat.
    assert!(w
        .warnings
        .iter()
        .any(|m| m.contains(":22: tasks.AudioOut.run:") && m.contains("json-c")));

    // AudioTick: nice -19, pinned to CPU 0 in both phases, one shared timer "tick".
    let tick = task(&w, "AudioTick");
    assert!(matches!(tick.sched, SchedAttr::Fair { nice: -19, .. }));
    assert_eq!(tick.phases.len(), 2);
    assert_eq!(tick.phases[1].loops, 4);
    for p in &tick.phases {
        assert_eq!(p.cpus.as_deref(), Some(&[0][..]));
        assert_eq!(&*tick.cpus_origin(p).unwrap().key, "tasks.AudioTick.cpus");
    }
    assert_eq!(w.timers.len(), 1);
    assert_eq!(
        w.timers[0],
        Timer {
            name: "tick".into(),
            owner: None
        }
    );
    assert_eq!(
        *tick.phases[1].events,
        [Event::Timer {
            timer: TimerId(0),
            period_ns: 6 * MS,
            mode: TimerMode::Relative
        }]
    );
    // Event origins carry the line and dotted key of each event.
    assert_eq!(tick.phases[0].event_origins[1].line, 11);
    assert_eq!(
        w.event_key(tick, &tick.phases[0], 1).unwrap(),
        "tasks.AudioTick.phases.p1.timer"
    );
}

#[test]
fn tutorial_example3_expands_twelve_instances_with_unique_timers() {
    let w = load_example("tutorial-example3.json");
    assert_eq!(w.tasks.len(), 12);
    assert_eq!(w.timers.len(), 12);
    for (i, t) in w.tasks.iter().enumerate() {
        assert_eq!(&*t.name, format!("thread0-{i}"));
        assert_eq!(&*t.definition, "thread0");
        assert_eq!(t.loops, Some(1));
        assert_eq!(t.phases.len(), 2);
        assert_eq!(t.phase_name(&t.phases[0]), "light");
        assert_eq!(t.phase_name(&t.phases[1]), "heavy");
        assert_eq!(t.phases[0].loops, 10);
        // Both phases use ref "unique": the same timer within the thread.
        let timers: Vec<_> = t
            .phases
            .iter()
            .flat_map(|p| &p.events)
            .filter_map(|e| match e {
                Event::Timer { timer, .. } => Some(*timer),
                _ => None,
            })
            .collect();
        assert_eq!(timers.len(), 2);
        assert_eq!(timers[0], timers[1]);
        assert_eq!(w.timers[timers[0].0 as usize].owner, Some(i as u32));
    }
    assert_eq!(
        *w.tasks[0].phases[1].events,
        [
            Event::Run { work_ns: 27 * MS },
            Event::Timer {
                timer: TimerId(0),
                period_ns: 30 * MS,
                mode: TimerMode::Relative
            }
        ]
    );
}

#[test]
fn tutorial_example4_suspend_resume_ping_pong() {
    let w = load_example("tutorial-example4.json");
    assert_eq!(w.suspend_queues, ["thread1", "thread0"]);
    let t0 = task(&w, "thread0");
    assert_eq!(
        *t0.phases[0].events,
        [
            Event::Run { work_ns: 10 * MS },
            Event::Resume {
                queue: SuspendId(0)
            },
            Event::Suspend {
                queue: SuspendId(1)
            },
        ]
    );
    assert!(w.warnings.is_empty(), "{:?}", w.warnings);
}

#[test]
fn tutorial_example5_phases_mutex_cond_and_cpus() {
    let w = load_example("tutorial-example5.json");
    let t0 = task(&w, "thread0");
    assert_eq!(t0.loops, Some(1));
    assert_eq!(t0.phases.len(), 2);
    assert_eq!(t0.phases[1].loops, 8);
    assert_eq!(t0.phases[1].events.len(), 8);
    assert_eq!(t0.phases[0].cpus.as_deref(), Some(&[0][..]));
    // thread1 has no phases: "loop": 3 is its single phase's count, run once.
    let t1 = task(&w, "thread1");
    assert_eq!(t1.loops, Some(1));
    assert_eq!(t1.phases[0].loops, 3);
    assert_eq!(t1.phases[0].cpus.as_deref(), Some(&[1][..]));
    let suspends = t1.phases[0]
        .events
        .iter()
        .filter(|e| matches!(e, Event::Suspend { .. }))
        .count();
    assert_eq!(suspends, 2);
    assert_eq!(w.timers[0].owner, None);
}

#[test]
fn tutorial_example7_prefix_matching_and_barrier_parties() {
    let w = load_example("tutorial-example7.json");
    let t0 = task(&w, "task0");
    assert_eq!(
        t0.phases[0].events[..3],
        [
            Event::Runtime { wall_ns: MS },
            Event::Sleep { ns: 2 * MS },
            Event::Barrier {
                barrier: BarrierId(0)
            },
        ]
    );
    assert_eq!(
        w.event_key(t0, &t0.phases[0], 0).unwrap(),
        "tasks.task0.runtime1"
    );
    assert_eq!(w.barriers.len(), 3);
    for b in &w.barriers {
        assert_eq!(b.parties, 2, "{b:?}");
    }
    assert_eq!(w.barriers[0].name, "FIRST");
}

#[test]
fn tutorial_example8_phase_cpus_inherit_task_cpus() {
    let w = load_example("tutorial-example8.json");
    let t = &w.tasks[0];
    let cpus: Vec<_> = t
        .phases
        .iter()
        .map(|p| p.cpus.as_deref().unwrap())
        .collect();
    assert_eq!(cpus, [[0], [1], [2]]);
    assert_eq!(
        &*t.cpus_origin(&t.phases[0]).unwrap().key,
        "tasks.thread0.phases.phase1.cpus"
    );
    assert_eq!(
        &*t.cpus_origin(&t.phases[2]).unwrap().key,
        "tasks.thread0.cpus"
    );
    assert!(w.check_cpus(3).is_ok());
    let e = w.check_cpus(2).unwrap_err();
    assert_eq!(e.line, 10);
    assert_eq!(e.key.as_deref(), Some("tasks.thread0.cpus"));
    assert!(e.message.contains("CPU 2 does not exist"), "{e}");
}

#[test]
fn custom_slice_and_deadline_side_by_side() {
    let w = load_example("custom-slice.json");
    assert_eq!(
        task(&w, "thread0").sched,
        SchedAttr::Fair {
            policy: Policy::Normal,
            nice: -19,
            slice_ns: Some(100 * MS)
        }
    );
    assert_eq!(
        task(&w, "thread1").sched,
        SchedAttr::Deadline {
            runtime_ns: 200 * MS,
            deadline_ns: 200 * MS,
            period_ns: 200 * MS
        }
    );
}

#[test]
fn deadline_reclaim_uses_default_policy() {
    let w = load_example("deadline_reclaim-1.json");
    assert_eq!(w.global.default_policy, Policy::Deadline);
    assert_eq!(
        w.tasks[0].sched,
        SchedAttr::Deadline {
            runtime_ns: 12 * MS,
            deadline_ns: 100 * MS,
            period_ns: 100 * MS
        }
    );
    // dl-reclaim is silently ignored.
    assert!(w.warnings.is_empty(), "{:?}", w.warnings);
}

#[test]
fn browser_short_suspend_uses_the_value_as_queue() {
    let w = load_example("browser-short.json");
    let main = task(&w, "BrowserMain");
    assert_eq!(main.loops, Some(3));
    let names: Vec<_> = main.phases.iter().map(|p| main.phase_name(p)).collect();
    assert_eq!(
        names,
        ["start", "render1", "render2", "render3", "stop", "scroll", "stop2"]
    );
    // BrowserDisplay suspends on "Browser", which BrowserMain resumes: rt-app uses the
    // suspend value as the queue name.
    let browser = w
        .suspend_queues
        .iter()
        .position(|n| n == "Browser")
        .unwrap() as u32;
    let display = task(&w, "BrowserDisplay");
    assert_eq!(
        display.phases[0].events[0],
        Event::Suspend {
            queue: SuspendId(browser)
        }
    );
    assert!(display.phases[0]
        .events
        .iter()
        .any(|e| matches!(e, Event::Sync { .. })));
    assert_eq!(w.global.duration_ns, Some(6_000_000_000));
    // Repeats are reported; nothing is "unknown" (frag, calibration ... are known).
    assert!(!w.warnings.iter().any(|m| m.contains("unknown")));
}

#[test]
fn builtin_demo_is_the_inversion() {
    let w = builtin_demo();
    assert_eq!(w.source, DEMO_SOURCE);
    assert_eq!(w.global.sim.cpus, Some(4));
    assert_eq!(w.global.duration_ns, Some(10_000_000_000));
    assert_eq!(w.mutexes, ["ui_lock"]);
    assert_eq!(w.tasks.len(), 10);
    let fg = task(&w, "foreground");
    assert!(matches!(fg.sched, SchedAttr::Fair { nice: -10, .. }));
    assert!(fg.phases[0]
        .events
        .contains(&Event::Lock { mutex: MutexId(0) }));
    let bg = task(&w, "background");
    assert!(matches!(bg.sched, SchedAttr::Fair { nice: 19, .. }));
    assert_eq!(
        w.tasks.iter().filter(|t| &*t.definition == "hog").count(),
        8
    );
    assert!(w.warnings.is_empty(), "{:?}", w.warnings);
    w.check_cpus(4).unwrap();
}
