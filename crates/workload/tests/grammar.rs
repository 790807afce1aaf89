//! The rt-app grammar, one rule at a time: what resolves to what, and what is refused with
//! which file, line and key.

use proxysched_workload::*;

const MS: u64 = 1_000_000;

fn ok(text: &str) -> Workload {
    parse_str("t.json", text).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> InputError {
    match parse_str("t.json", text) {
        Ok(w) => panic!("expected an error, got {w:#?}"),
        Err(e) => e,
    }
}

/// Asserts where an error points and that its message mentions `needle`.
fn assert_err(e: &InputError, line: u32, key: Option<&str>, needle: &str) {
    assert_eq!(e.file, "t.json", "{e}");
    assert_eq!(e.line, line, "{e}");
    assert_eq!(e.key.as_deref(), key, "{e}");
    assert!(e.message.contains(needle), "{e}");
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("t.json:{line}: ")), "{shown}");
    if let Some(key) = key {
        assert!(shown.contains(&format!(": {key}: ")), "{shown}");
    }
}

// ----- errors ------------------------------------------------------------------------------

#[test]
fn syntax_error_has_line_and_column() {
    let e = err("{\n  \"tasks\": {\n    \"t\": { \"run\": 1000 \"sleep\": 10 }\n  }\n}");
    assert_err(&e, 3, None, "column 24");
    assert!(e.message.contains("missing comma"), "{e}");

    let e = err("{\n  \"tasks\": {\n    \"t\": {\n      \"suspend\",\n      \"run\": 1 } } }");
    assert_err(&e, 4, None, "\"suspend\" has no value");
}

#[test]
fn unknown_policy() {
    let e = err(r#"{ "tasks": {
        "t": { "policy": "SCHED_FAST", "run": 1 } } }"#);
    assert_err(
        &e,
        2,
        Some("tasks.t.policy"),
        "unknown policy \"SCHED_FAST\"",
    );

    let e = err(r#"{ "global": {
        "default_policy": "FIFO" },
        "tasks": { "t": { "run": 1 } } }"#);
    assert_err(&e, 2, Some("global.default_policy"), "SCHED_FIFO");
}

#[test]
fn negative_or_zero_periods() {
    let e = err(r#"{ "tasks": { "t": {
        "run": 1,
        "timer": { "ref": "x",
                   "period": -5 } } } }"#);
    assert_err(&e, 4, Some("tasks.t.timer.period"), "positive");

    let e = err(
        r#"{ "tasks": { "t": { "policy": "SCHED_DEADLINE", "dl-runtime": 1000,
        "dl-period": -1000, "run": 1 } } }"#,
    );
    assert_err(&e, 2, Some("tasks.t.dl-period"), "positive");
}

#[test]
fn negative_times() {
    let e = err(r#"{ "tasks": { "t": {
        "sleep": -1 } } }"#);
    assert_err(&e, 2, Some("tasks.t.sleep"), "must not be negative");
    let e = err(r#"{ "tasks": { "t": {
        "delay": -3, "run": 1 } } }"#);
    assert_err(&e, 2, Some("tasks.t.delay"), "must not be negative");
}

#[test]
fn float_run_is_refused_by_name() {
    let e = err(r#"{ "tasks": { "t": { "phases": { "p1": {
        "run": 1.5 } } } } }"#);
    assert_err(
        &e,
        2,
        Some("tasks.t.phases.p1.run"),
        "must be an integer, found 1.5",
    );
}

#[test]
fn priority_out_of_range() {
    let e = err(r#"{ "tasks": { "t": {
        "priority": 20, "run": 1 } } }"#);
    assert_err(&e, 2, Some("tasks.t.priority"), "nice value, -20..=19");
    let e = err(r#"{ "tasks": { "t": { "policy": "SCHED_FIFO",
        "priority": 0, "run": 1 } } }"#);
    assert_err(&e, 2, Some("tasks.t.priority"), "1..=99");
}

#[test]
fn bad_cpus() {
    let e = err(r#"{ "tasks": { "t": {
        "cpus": 1, "run": 1 } } }"#);
    assert_err(&e, 2, Some("tasks.t.cpus"), "array of CPU ids");
    let e = err(r#"{ "tasks": { "t": { "cpus": [0,
        -1], "run": 1 } } }"#);
    assert_err(&e, 2, Some("tasks.t.cpus"), "-1");
    let e = err(r#"{ "tasks": { "t": { "cpus": [0, "1"], "run": 1 } } }"#);
    assert_err(&e, 1, Some("tasks.t.cpus"), "found a string");
    let e = err(r#"{ "tasks": { "t": { "cpus": [], "run": 1 } } }"#);
    assert_err(&e, 1, Some("tasks.t.cpus"), "empty");
}

#[test]
fn unknown_cpu_found_by_check_cpus() {
    let w = ok(r#"{ "tasks": { "t": { "phases": {
        "a": { "run": 1 },
        "b": { "cpus": [1, 7],
               "run": 1 } } } } }"#);
    w.check_cpus(8).unwrap();
    let e = w.check_cpus(4).unwrap_err();
    assert_err(&e, 3, Some("tasks.t.phases.b.cpus"), "CPU 7 does not exist");
    assert!(e.message.contains("4 CPUs (0..=3)"), "{e}");
}

#[test]
fn deadline_task_with_restricted_affinity() {
    let w = ok(
        r#"{ "tasks": { "t": { "policy": "SCHED_DEADLINE", "dl-runtime": 1000,
        "dl-period": 10000,
        "cpus": [0, 1], "run": 100 } } }"#,
    );
    w.check_cpus(2).unwrap();
    let e = w.check_cpus(4).unwrap_err();
    assert_err(&e, 3, Some("tasks.t.cpus"), "EBUSY");

    // A phase that switches to SCHED_DEADLINE under an inherited restricted mask.
    let w = ok(r#"{ "tasks": { "t": { "cpus": [0], "loop": 1, "phases": {
        "fair": { "run": 100 },
        "dl": { "policy": "SCHED_DEADLINE", "dl-runtime": 1000, "run": 100 } } } } }"#);
    let e = w.check_cpus(2).unwrap_err();
    assert_err(&e, 1, Some("tasks.t.cpus"), "phase \"dl\"");
}

#[test]
fn deadline_runtime_above_deadline() {
    let e = err(r#"{ "tasks": { "t": { "policy": "SCHED_DEADLINE",
        "dl-runtime": 5000,
        "dl-deadline": 4000,
        "dl-period": 10000, "run": 1 } } }"#);
    assert_err(
        &e,
        2,
        Some("tasks.t.dl-runtime"),
        "runtime 5000 µs > deadline 4000 µs",
    );

    let e = err(r#"{ "tasks": { "t": { "policy": "SCHED_DEADLINE",
        "dl-runtime": 1000,
        "dl-deadline": 20000,
        "dl-period": 10000, "run": 1 } } }"#);
    assert_err(
        &e,
        3,
        Some("tasks.t.dl-deadline"),
        "deadline 20000 µs > period 10000 µs",
    );

    // The period defaults to the runtime: 50 µs is below sched_dl_period_min.
    let e = err(r#"{ "tasks": { "t": { "policy": "SCHED_DEADLINE",
        "dl-runtime": 50, "run": 1 } } }"#);
    assert_err(
        &e,
        2,
        Some("tasks.t.dl-runtime"),
        "outside Linux's default limits",
    );

    let e = err(r#"{ "tasks": { "t": { "policy": "SCHED_DEADLINE",
        "dl-runtime": 1, "dl-period": 1000, "run": 1 } } }"#);
    assert_err(&e, 2, Some("tasks.t.dl-runtime"), "1024 ns");

    let e = err(r#"{ "tasks": { "t": { "policy": "SCHED_DEADLINE",
        "dl-runtime": 1000, "dl-period": 5000000, "run": 1 } } }"#);
    assert_err(&e, 2, Some("tasks.t.dl-period"), "4194304 µs");

    let e = err(r#"{ "tasks": { "t": {
        "policy": "SCHED_DEADLINE", "run": 1 } } }"#);
    assert_err(&e, 2, Some("tasks.t.policy"), "needs \"dl-runtime\"");
}

#[test]
fn unsupported_events() {
    for key in ["mem", "iorun", "memrun", "fork", "mem2"] {
        let text = format!("{{ \"tasks\": {{ \"t\": {{ \"run\": 1,\n \"{key}\": 1000 }} }} }}");
        let e = err(&text);
        assert_err(
            &e,
            2,
            Some(&format!("tasks.t.{key}")),
            &format!("\"{key}\": not supported yet"),
        );
    }
}

#[test]
fn resources_taskgroup_and_missing_tasks() {
    let e = err(r#"{ "resources": { "m": { "type": "mutex" } },
        "tasks": { "t": { "run": 1 } } }"#);
    assert_err(&e, 1, Some("resources"), "not supported yet");

    let e = err(r#"{ "tasks": { "t": {
        "taskgroup": "/tg1", "run": 1 } } }"#);
    assert_err(&e, 2, Some("tasks.t.taskgroup"), "not supported yet");
    ok(r#"{ "tasks": { "t": { "taskgroup": "", "run": 1 } } }"#);

    let e = err(r#"{ "global": {} }"#);
    assert_err(&e, 1, None, "no \"tasks\" object");
    let e = err("{ \"tasks\": {\n} }");
    assert_err(&e, 1, Some("tasks"), "no task is defined");
    let e = err("[1, 2]");
    assert_err(&e, 1, None, "must hold a JSON object");
}

#[test]
fn phase_without_events() {
    let e = err(r#"{ "tasks": { "t": { "phases": {
        "p": { "loop": 3 } } } } }"#);
    assert_err(&e, 2, Some("tasks.t.phases.p"), "no events");
    let e = err(r#"{ "tasks": {
        "t": { "loop": 3, "cpus": [0] } } }"#);
    assert_err(&e, 2, Some("tasks.t"), "no events");
}

#[test]
fn event_value_types() {
    let e = err(r#"{ "tasks": { "t": {
        "lock": 3 } } }"#);
    assert_err(&e, 2, Some("tasks.t.lock"), "must be a string");
    let e = err(r#"{ "tasks": { "t": {
        "wait": { "ref": "c" } } } }"#);
    assert_err(&e, 2, Some("tasks.t.wait"), "needs \"mutex\"");
    let e = err(r#"{ "tasks": { "t": { "run": 1,
        "timer": { "period": 1000 } } } }"#);
    assert_err(&e, 2, Some("tasks.t.timer"), "needs a \"ref\"");
    let e = err(
        r#"{ "tasks": { "t": { "run": 1, "timer": { "ref": "x", "period": 10,
        "mode": "sliding" } } } }"#,
    );
    assert_err(&e, 2, Some("tasks.t.timer.mode"), "unknown timer mode");
    // `lock_pages` in a task starts with "lock": rt-app reads it as a lock event too.
    let e = err(r#"{ "tasks": { "t": { "run": 1,
        "lock_pages": true } } }"#);
    assert_err(&e, 2, Some("tasks.t.lock_pages"), "must be a string");
}

#[test]
fn global_and_proxysched_settings() {
    let w = ok(r#"{ "tasks": { "t": { "run": 1 } },
        "global": { "duration": -1, "pi_enabled": true, "ftrace": "main,task",
            "proxysched": { "cpus": 8, "inherit": "pi", "proxy_level": "donor-migration",
                "hz": 250, "seed": 42, "switch_cost_ns": 1500, "migration_cost_ns": 0,
                "ipi_latency_ns": 700, "rt_throttling": false } } }"#);
    assert_eq!(w.global.duration_ns, None);
    assert!(w.global.pi_enabled);
    let s = &w.global.sim;
    assert_eq!(s.cpus, Some(8));
    assert_eq!(s.inherit, Some(Inherit::Pi));
    assert_eq!(s.proxy_level, Some(ProxyLevel::DonorMigration));
    assert_eq!(s.hz, Some(250));
    assert_eq!(s.seed, Some(42));
    assert_eq!(s.switch_cost_ns, Some(1500));
    assert_eq!(s.migration_cost_ns, Some(0));
    assert_eq!(s.ipi_latency_ns, Some(700));
    assert_eq!(s.rt_throttling, Some(false));
    assert!(w.warnings.is_empty(), "{:?}", w.warnings);

    let e = err(
        r#"{ "tasks": { "t": { "run": 1 } }, "global": { "proxysched": {
        "cpu": 4 } } }"#,
    );
    assert_err(
        &e,
        2,
        Some("global.proxysched.cpu"),
        "unknown proxysched setting",
    );
    let e = err(
        r#"{ "tasks": { "t": { "run": 1 } }, "global": { "proxysched": {
        "cpus": 0 } } }"#,
    );
    assert_err(&e, 2, Some("global.proxysched.cpus"), "1..=1024");
    let e = err(
        r#"{ "tasks": { "t": { "run": 1 } }, "global": { "proxysched": {
        "inherit": "ceiling" } } }"#,
    );
    assert_err(
        &e,
        2,
        Some("global.proxysched.inherit"),
        "none, pi or proxy",
    );
    let e = err(r#"{ "tasks": { "t": { "run": 1 } }, "global": {
        "duration": 2.5 } }"#);
    assert_err(&e, 2, Some("global.duration"), "integer");
    let e = err(r#"{ "tasks": { "t": { "run": 1 } }, "global": {
        "pi_enabled": 1 } }"#);
    assert_err(&e, 2, Some("global.pi_enabled"), "true or false");
}

// ----- semantics ---------------------------------------------------------------------------

#[test]
fn unknown_and_event_like_keys() {
    // Prefix matching: "run_fast" is a run, "sleepy" a sleep. "Run" (capital) and "spin" are
    // not events: rt-app ignores them, we warn.
    let w = ok(r#"{ "tasks": { "t": {
        "run_fast": 100,
        "sleepy": 200,
        "Run": 300,
        "spin": 400 } } }"#);
    assert_eq!(
        *w.tasks[0].phases[0].events,
        [
            Event::Run { work_ns: 100_000 },
            Event::Sleep { ns: 200_000 }
        ]
    );
    assert_eq!(
        w.event_key(&w.tasks[0], &w.tasks[0].phases[0], 0).unwrap(),
        "tasks.t.run_fast"
    );
    assert_eq!(w.warnings.len(), 2, "{:?}", w.warnings);
    assert!(w.warnings[0].starts_with("t.json:4: tasks.t.Run: unknown key"));
    assert!(w.warnings[1].starts_with("t.json:5: tasks.t.spin: unknown key"));

    // Events at task level next to "phases" are ignored, with a warning.
    let w = ok(r#"{ "tasks": { "t": {
        "run": 5,
        "phases": { "p": { "sleep": 1 } } } } }"#);
    assert_eq!(*w.tasks[0].phases[0].events, [Event::Sleep { ns: 1000 }]);
    assert!(w.warnings[0].contains("tasks.t.run: event ignored"));

    // delay in a phase is ignored (rt-app issue #37).
    let w = ok(r#"{ "tasks": { "t": { "phases": { "p": {
        "delay": 5, "run": 1 } } } } }"#);
    assert!(w.warnings[0].contains("tasks.t.phases.p.delay: ignored"));
    assert_eq!(w.tasks[0].delay_ns, 0);
}

#[test]
fn runtime_is_matched_before_run_and_unlock_is_not_lock() {
    let w = ok(r#"{ "tasks": { "t": {
        "lock": "m", "runtime": 10, "run": 20, "unlock": "m" } } }"#);
    assert_eq!(
        *w.tasks[0].phases[0].events,
        [
            Event::Lock { mutex: MutexId(0) },
            Event::Runtime { wall_ns: 10_000 },
            Event::Run { work_ns: 20_000 },
            Event::Unlock { mutex: MutexId(0) },
        ]
    );
}

#[test]
fn resources_are_looked_up_by_name_and_kind() {
    let w = ok(r#"{ "tasks": {
        "a": { "lock": "q", "signal": "q", "unlock": "q", "sem_post": "q", "barrier": "q" },
        "b": { "lock": "q", "wait": { "ref": "q", "mutex": "q" }, "unlock": "q",
               "sem_wait": "q", "barrier": "q" } } }"#);
    assert_eq!(w.mutexes, ["q"]);
    assert_eq!(w.conds, ["q"]);
    assert_eq!(w.semaphores, ["q"]);
    assert_eq!(
        w.barriers,
        [Barrier {
            name: "q".into(),
            parties: 2
        }]
    );
    assert_eq!(
        w.tasks[1].phases[0].events[1],
        Event::Wait {
            cond: CondId(0),
            mutex: MutexId(0)
        }
    );
}

#[test]
fn instances_names_and_barrier_parties() {
    let w = ok(r#"{ "tasks": {
        "w": { "instance": 3, "run": 1, "barrier": "b" },
        "x": { "instance": 0, "run": 1, "barrier": "b" },
        "y": { "run": 1, "barrier1": "b", "barrier2": "b" } } }"#);
    let names: Vec<_> = w.tasks.iter().map(|t| &*t.name).collect();
    // "x" is a template (instance 0): not started.
    assert_eq!(names, ["w-0", "w-1", "w-2", "y"]);
    // 3 instances of w + 1 of y (counted once although it has two barrier events).
    assert_eq!(w.barriers[0].parties, 4);

    let e = err(r#"{ "tasks": { "a": { "instance": 2, "run": 1 },
        "a-1": { "run": 1 } } }"#);
    assert_err(&e, 2, Some("tasks.a-1"), "already used");
    let e = err(r#"{ "tasks": {
        "a": { "instance": -1, "run": 1 } } }"#);
    assert_err(&e, 2, Some("tasks.a.instance"), "0..=");
    let e = err(r#"{ "tasks": {
        "a": { "instance": 0, "run": 1 } } }"#);
    assert_err(&e, 1, Some("tasks"), "every task has \"instance\": 0");
}

#[test]
fn timers_shared_and_unique() {
    let w = ok(r#"{ "tasks": {
        "a": { "instance": 2, "run": 1, "timer": { "ref": "tick", "period": 1000 },
               "timer2": { "ref": "uniqueA", "period": 2000 },
               "timer3": { "ref": "uniqueB", "period": 3000, "mode": "absolute" } },
        "b": { "run": 1, "timer": { "ref": "tick", "period": 1000, "mode": "absolute" } } } }"#);
    // tick is shared by all three threads; uniqueA/uniqueB exist once per thread of "a".
    assert_eq!(w.timers.len(), 1 + 2 * 2);
    assert_eq!(&*w.timers[0].name, "tick");
    assert_eq!(w.timers[0].owner, None);
    let timer_of = |t: usize, i: usize| match w.tasks[t].phases[0].events[i] {
        Event::Timer { timer, mode, .. } => (timer, mode),
        ref other => panic!("{other:?}"),
    };
    // One "absolute" use makes the shared timer absolute everywhere (rt-app keeps the mode
    // on the timer), with a warning.
    assert_eq!(timer_of(0, 1), (TimerId(0), TimerMode::Absolute));
    assert_eq!(timer_of(2, 1), (TimerId(0), TimerMode::Absolute));
    assert!(w.warnings.iter().any(|m| m.contains("\"tick\"")));
    let (a0_ua, m) = timer_of(0, 2);
    assert_eq!(m, TimerMode::Relative);
    let (a1_ua, _) = timer_of(1, 2);
    assert_ne!(a0_ua, a1_ua);
    assert_eq!(w.timers[a0_ua.0 as usize].owner, Some(0));
    assert_eq!(w.timers[a1_ua.0 as usize].owner, Some(1));
    assert_eq!(timer_of(1, 3).1, TimerMode::Absolute);
}

#[test]
fn loop_semantics() {
    // No phases: loop is the single phase's count, the list runs once.
    let w = ok(r#"{ "tasks": { "t": { "loop": 5, "run": 1 } } }"#);
    assert_eq!((w.tasks[0].loops, w.tasks[0].phases[0].loops), (Some(1), 5));
    // No phases, loop absent or -1 (or 0): forever.
    for text in [
        r#"{ "tasks": { "t": { "run": 1 } } }"#,
        r#"{ "tasks": { "t": { "loop": -1, "run": 1 } } }"#,
        r#"{ "tasks": { "t": { "loop": 0, "run": 1 } } }"#,
    ] {
        let w = ok(text);
        assert_eq!((w.tasks[0].loops, w.tasks[0].phases[0].loops), (None, 1));
    }
    // With phases: task loop counts the phase list; 0 starts and ends at once.
    let w = ok(r#"{ "tasks": { "t": { "loop": 0, "phases": { "p": { "run": 1 } } } } }"#);
    assert_eq!(w.tasks[0].loops, Some(0));
    let w = ok(r#"{ "tasks": { "t": { "phases": { "p": { "loop": 2, "run": 1 } } } } }"#);
    assert_eq!((w.tasks[0].loops, w.tasks[0].phases[0].loops), (None, 2));
    // A phase looping forever: rt-app never leaves it.
    let w = ok(r#"{ "tasks": { "t": { "loop": 4, "phases": {
        "init": { "run": 1 },
        "steady": { "loop": -1, "run": 2 },
        "never": { "run": 3 } } } } }"#);
    let t = &w.tasks[0];
    assert_eq!(t.loops, Some(1));
    assert_eq!(t.phases.len(), 2);
    assert_eq!(t.phases[1].loops, PHASE_LOOPS_FOREVER);
    assert!(
        w.warnings[0].contains("tasks.t.phases.steady.loop") && w.warnings[0].contains("never")
    );
    // ... and if it is the only phase, that is simply a task looping forever.
    let w =
        ok(r#"{ "tasks": { "t": { "loop": 4, "phases": { "p": { "loop": 0, "run": 1 } } } } }"#);
    assert_eq!((w.tasks[0].loops, w.tasks[0].phases[0].loops), (None, 1));
}

#[test]
fn repeated_phase_names_are_kept() {
    let w = ok(r#"{ "tasks": { "t": { "phases": {
        "heavy1": { "run": 1 },
        "light": { "run": 2 },
        "heavy1": { "run": 3 } } } } }"#);
    let t = &w.tasks[0];
    let names: Vec<_> = t.phases.iter().map(|p| t.phase_name(p)).collect();
    assert_eq!(names, ["heavy1", "light", "heavy1"]);
    assert!(w.warnings[0].contains("\"heavy1\" appears 2 times (lines 2, 4)"));
    // Repeated settings: the last one wins, as json-c does.
    let w = ok(r#"{ "tasks": { "t": { "priority": 1, "priority": 5, "run": 1 } } }"#);
    assert!(matches!(w.tasks[0].sched, SchedAttr::Fair { nice: 5, .. }));
    assert!(w.warnings[0].contains("the last value is used"));
}

#[test]
fn policies_and_defaults() {
    let w = ok(r#"{ "global": { "default_policy": "SCHED_RR" }, "tasks": {
        "rr": { "run": 1 },
        "fifo": { "policy": "SCHED_FIFO", "priority": 50, "run": 1 },
        "batch": { "policy": "SCHED_BATCH", "priority": 3, "run": 1 },
        "idle": { "policy": "SCHED_IDLE", "run": 1 },
        "normal": { "policy": "SCHED_NORMAL", "run": 1 },
        "dl": { "policy": "SCHED_DEADLINE", "priority": 7, "dl-runtime": 2000,
                "dl-deadline": 5000, "dl-period": 10000, "run": 1 } } }"#);
    let s: Vec<_> = w.tasks.iter().map(|t| t.sched).collect();
    assert_eq!(
        s[0],
        SchedAttr::Rt {
            policy: Policy::RoundRobin,
            rt_priority: 10
        }
    );
    assert_eq!(
        s[1],
        SchedAttr::Rt {
            policy: Policy::Fifo,
            rt_priority: 50
        }
    );
    assert_eq!(
        s[2],
        SchedAttr::Fair {
            policy: Policy::Batch,
            nice: 3,
            slice_ns: None
        }
    );
    assert_eq!(s[3].policy(), Policy::Idle);
    assert_eq!(s[4].policy(), Policy::Normal);
    assert_eq!(
        s[5],
        SchedAttr::Deadline {
            runtime_ns: 2 * MS,
            deadline_ns: 5 * MS,
            period_ns: 10 * MS
        }
    );
}

#[test]
fn custom_slice_is_clamped_like_linux() {
    let w = ok(r#"{ "tasks": {
        "small": { "dl-runtime": 10, "run": 1 },
        "big": { "dl-runtime": 500000, "run": 1 },
        "zero": { "dl-runtime": 0, "run": 1 } } }"#);
    let slice = |i: usize| match w.tasks[i].sched {
        SchedAttr::Fair { slice_ns, .. } => slice_ns,
        other => panic!("{other:?}"),
    };
    assert_eq!(slice(0), Some(100_000));
    assert_eq!(slice(1), Some(100 * MS));
    assert_eq!(slice(2), None);
    assert_eq!(w.warnings.len(), 2, "{:?}", w.warnings);
    assert!(w.warnings[0].contains("clamped to 100 µs"));
}

#[test]
fn phase_attributes_merge_with_the_current_ones() {
    let w = ok(r#"{ "tasks": { "t": {
        "policy": "SCHED_FIFO", "priority": 20, "cpus": [1],
        "phases": {
            "same": { "run": 1 },
            "prio": { "priority": 30, "run": 1 },
            "still_fifo": { "cpus": [0, 1, 1], "run": 1 },
            "to_fair": { "policy": "SCHED_OTHER", "run": 1 },
            "nice": { "priority": -5, "run": 1 },
            "to_dl": { "policy": "SCHED_DEADLINE", "dl-runtime": 1000, "dl-period": 4000,
                       "run": 1 },
            "dl_runtime": { "dl-runtime": 2000, "run": 1 },
            "dl_period": { "dl-period": 6000, "dl-deadline": 3000, "run": 1 } } } } }"#);
    let t = &w.tasks[0];
    let s: Vec<_> = t.phases.iter().map(|p| p.sched).collect();
    assert_eq!(s[0], None);
    assert_eq!(
        s[1],
        Some(SchedAttr::Rt {
            policy: Policy::Fifo,
            rt_priority: 30
        })
    );
    assert_eq!(s[2], None);
    assert_eq!(t.phases[2].cpus.as_deref(), Some(&[0, 1][..]));
    assert_eq!(t.phases[1].cpus.as_deref(), Some(&[1][..]));
    // An explicit policy takes that policy's defaults (nice 0), as rt-app does.
    assert_eq!(
        s[3],
        Some(SchedAttr::Fair {
            policy: Policy::Normal,
            nice: 0,
            slice_ns: None
        })
    );
    assert_eq!(
        s[4],
        Some(SchedAttr::Fair {
            policy: Policy::Normal,
            nice: -5,
            slice_ns: None
        })
    );
    assert_eq!(
        s[5],
        Some(SchedAttr::Deadline {
            runtime_ns: MS,
            deadline_ns: 4 * MS,
            period_ns: 4 * MS
        })
    );
    // A new runtime restarts rt-app's default chain: period = runtime, deadline = period.
    assert_eq!(
        s[6],
        Some(SchedAttr::Deadline {
            runtime_ns: 2 * MS,
            deadline_ns: 2 * MS,
            period_ns: 2 * MS
        })
    );
    // Without a new runtime, the runtime carries over.
    assert_eq!(
        s[7],
        Some(SchedAttr::Deadline {
            runtime_ns: 2 * MS,
            deadline_ns: 3 * MS,
            period_ns: 6 * MS
        })
    );
}

#[test]
fn legacy_deadline_keys() {
    // With phases, task-level runtime/period/deadline are the legacy DL parameters.
    let w = ok(r#"{ "tasks": { "t": { "policy": "SCHED_DEADLINE",
        "runtime": 1000, "period": 10000, "deadline": 8000,
        "phases": { "p": { "run": 500 } } } } }"#);
    assert_eq!(
        w.tasks[0].sched,
        SchedAttr::Deadline {
            runtime_ns: MS,
            deadline_ns: 8 * MS,
            period_ns: 10 * MS
        }
    );
    assert!(w.warnings.is_empty(), "{:?}", w.warnings);

    // dl-* keys win over the legacy ones.
    let w = ok(
        r#"{ "tasks": { "t": { "policy": "SCHED_DEADLINE", "dl-runtime": 2000,
        "runtime": 1000, "period": 10000, "phases": { "p": { "run": 500 } } } } }"#,
    );
    assert_eq!(
        w.tasks[0].sched,
        SchedAttr::Deadline {
            runtime_ns: 2 * MS,
            deadline_ns: 10 * MS,
            period_ns: 10 * MS
        }
    );

    // Without phases, "runtime" is the event and, on a DEADLINE task, also the budget.
    let w = ok(
        r#"{ "tasks": { "t": { "policy": "SCHED_DEADLINE", "period": 10000,
        "runtime": 1000 } } }"#,
    );
    assert_eq!(
        *w.tasks[0].phases[0].events,
        [Event::Runtime { wall_ns: MS }]
    );
    assert!(matches!(
        w.tasks[0].sched,
        SchedAttr::Deadline { runtime_ns: MS, .. }
    ));
    assert!(w.warnings[0].contains("both a runtime event"));

    // On a fair task the legacy keys are not read (no accidental custom slice).
    let w = ok(r#"{ "tasks": { "t": { "runtime": 1000, "period": 10000 } } }"#);
    assert_eq!(
        w.tasks[0].sched,
        SchedAttr::Fair {
            policy: Policy::Normal,
            nice: 0,
            slice_ns: None
        }
    );
    assert_eq!(
        *w.tasks[0].phases[0].events,
        [Event::Runtime { wall_ns: MS }]
    );
    assert!(w.warnings[0].contains("tasks.t.period: legacy SCHED_DEADLINE parameter ignored"));
}

#[test]
fn suspend_resume() {
    let w = ok(r#"{ "tasks": {
        "a": { "instance": 2, "suspend": "", "run": 1 },
        "b": { "run": 1, "resume": "a" },
        "c": { "run": 1, "resume": "nobody" },
        "d": { "run": 1, "suspend": "lonely" } } }"#);
    // An empty suspend means the definition's own name (what workgen filled in); both
    // instances of "a" share the queue.
    assert_eq!(w.suspend_queues, ["a", "nobody", "lonely"]);
    assert_eq!(
        w.tasks[0].phases[0].events[0],
        Event::Suspend {
            queue: SuspendId(0)
        }
    );
    assert_eq!(
        w.tasks[1].phases[0].events[0],
        Event::Suspend {
            queue: SuspendId(0)
        }
    );
    assert_eq!(w.warnings.len(), 2, "{:?}", w.warnings);
    assert!(w.warnings[0].contains("t.json:4: tasks.c.resume: no thread suspends on \"nobody\""));
    assert!(w.warnings[0].contains("no task named \"nobody\""));
    assert!(w.warnings[1].contains("t.json:5: tasks.d.suspend: nothing resumes \"lonely\""));
}

#[test]
fn ignored_and_no_effect_keys() {
    let w = ok(
        r#"{ "tasks": { "t": { "frag": 1, "dl-reclaim": true, "logstats": 1,
        "util_min": 100,
        "nodes_membind": [0], "run": 1 } },
        "global": { "calibration": 120, "lock_pages": true, "logdir": "/tmp",
            "log_basename": "x", "log_size": "file", "ftrace": false, "gnuplot": true,
            "io_device": "/dev/null", "mem_buffer_size": 1, "cumulative_slack": true,
            "frag": 1,
            "spacing": 2 } }"#,
    );
    assert_eq!(w.warnings.len(), 3, "{:?}", w.warnings);
    assert!(w.warnings[0].contains("tasks.t.util_min: accepted but has no effect"));
    assert!(w.warnings[1].contains("tasks.t.nodes_membind"));
    assert!(w.warnings[2].contains("t.json:8: global.spacing: unknown key"));
}

#[test]
fn delay_duration_and_times_are_nanoseconds() {
    let w = ok(
        r#"{ "tasks": { "t": { "delay": 250, "run": 3, "sleep": 0 } },
        "global": { "duration": 7 } }"#,
    );
    assert_eq!(w.tasks[0].delay_ns, 250_000);
    assert_eq!(w.global.duration_ns, Some(7_000_000_000));
    assert_eq!(
        *w.tasks[0].phases[0].events,
        [Event::Run { work_ns: 3_000 }, Event::Sleep { ns: 0 }]
    );
    let e = err(r#"{ "tasks": { "t": { "run": 9223372036854775807 } } }"#);
    assert_err(&e, 1, Some("tasks.t.run"), "too large");
}

#[test]
fn load_reports_io_and_encoding_errors() {
    let e = load(std::path::Path::new("/nonexistent/dir/w.json")).unwrap_err();
    assert_eq!(e.line, 0);
    assert_eq!(e.key, None);
    assert!(e
        .to_string()
        .starts_with("/nonexistent/dir/w.json:0: cannot read the file"));

    let path =
        std::env::temp_dir().join(format!("proxysched-bad-utf8-{}.json", std::process::id()));
    std::fs::write(&path, b"{\n  \"tasks\": {\n \"t\xff\": {} } }").unwrap();
    let e = load(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(e.line, 3);
    assert!(e.message.contains("not valid UTF-8"), "{e}");
}
