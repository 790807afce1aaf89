//! The trace writers against the validator, and the validator against broken samples.

#[path = "support/validator.rs"]
mod validator;

use std::io::Cursor;
use std::sync::Arc;

use proxysched_trace::chrome::ChromeWriter;
use proxysched_trace::ftrace::FtraceText;
use proxysched_trace::{Event, PrevState, RtappStats, Sink, TaskId, WakeReason};
use validator::{check_chrome, check_ftrace, ts_ns};

const A: TaskId = TaskId(0);
const B: TaskId = TaskId(1);
const C: TaskId = TaskId(2);

fn switch(cpu: u32, prev: Option<TaskId>, state: PrevState, next: Option<TaskId>) -> Event {
    Event::SchedSwitch {
        cpu,
        prev,
        prev_prio: 120,
        prev_state: state,
        next,
        next_prio: 120,
        donor: next,
    }
}

/// A small schedule with every kind of event the writers handle: nested and out-of-order
/// unlocks, a contended lock, proxy execution across CPUs, DL budget events, rt-app markers,
/// an exit. Times are deliberately not µs-aligned in places.
fn stream() -> Vec<(u64, Event)> {
    let task = |t: TaskId, name: &str, prio| Event::TaskNew {
        task: t,
        name: name.into(),
        policy: "SCHED_NORMAL",
        prio,
    };
    let mut v = vec![
        (0, task(A, "owner thread", 120)),
        (0, task(B, "donor", 100)),
        (0, task(C, "a-very-long-task-name", -1)),
        (
            0,
            Event::MutexNew {
                mutex: 0,
                name: "M".into(),
            },
        ),
        (
            0,
            Event::MutexNew {
                mutex: 1,
                name: "N lock".into(),
            },
        ),
        (0, Event::RtappMainStart),
    ];
    for (t, cpu) in [(A, 0), (B, 1), (C, 1)] {
        v.push((
            0,
            Event::SchedWakeupNew {
                task: t,
                prio: 120,
                cpu,
            },
        ));
    }
    v.extend([
        (0, switch(0, None, PrevState::Preempted, Some(A))),
        (0, switch(1, None, PrevState::Preempted, Some(B))),
        (0, Event::RtappTaskStart { task: A, cpu: 0 }),
        (
            0,
            Event::RtappLoopStart {
                task: A,
                cpu: 0,
                thread_loop: 0,
                phase: 0,
                phase_loop: 0,
            },
        ),
        (
            0,
            Event::RtappEvent {
                task: A,
                cpu: 0,
                id: 0,
                kind: "lock",
                desc: Arc::from("lock"),
            },
        ),
        (1_000, Event::LockAcquire { task: A, mutex: 0 }),
        (1_250, Event::LockAcquire { task: A, mutex: 1 }),
        (
            1_500,
            Event::LockRelease {
                task: A,
                mutex: 0,
                next: None,
            },
        ),
        (
            2_001,
            Event::LockContend {
                task: B,
                mutex: 1,
                owner: A,
            },
        ),
        (
            2_001,
            switch(1, Some(B), PrevState::BlockedOnMutex, Some(C)),
        ),
        (
            2_500,
            Event::DlReplenish {
                task: C,
                cpu: 1,
                runtime_ns: 10_000,
                deadline_ns: 100_000,
            },
        ),
        (
            3_000,
            Event::ProxyMigrate {
                task: B,
                owner: A,
                orig_cpu: 1,
                dest_cpu: 0,
            },
        ),
        (
            3_000,
            Event::SchedMigrateTask {
                task: B,
                prio: 100,
                orig_cpu: 1,
                dest_cpu: 0,
            },
        ),
        (
            3_000,
            Event::ProxyCase {
                task: B,
                case: "run_owner",
            },
        ),
        (
            3_000,
            Event::SchedDonor {
                cpu: 0,
                curr: Some(A),
                donor: Some(B),
            },
        ),
        (
            3_000,
            Event::PiSetprio {
                task: A,
                old_prio: 120,
                new_prio: 100,
            },
        ),
        (
            3_500,
            Event::DlThrottle {
                task: C,
                cpu: 1,
                replenish_at_ns: 100_000,
            },
        ),
        (3_500, switch(1, Some(C), PrevState::Preempted, None)),
        (
            4_000,
            Event::LockRelease {
                task: A,
                mutex: 1,
                next: Some(B),
            },
        ),
        (4_000, Event::LockAcquire { task: B, mutex: 1 }),
        (
            4_000,
            Event::SchedWaking {
                task: B,
                prio: 100,
                target_cpu: 0,
                reason: WakeReason::Mutex,
            },
        ),
        (
            4_000,
            Event::SchedWakeup {
                task: B,
                prio: 100,
                cpu: 0,
            },
        ),
        (4_000, switch(0, Some(A), PrevState::Preempted, Some(B))),
        (
            4_200,
            Event::ActivationEnd {
                task: B,
                deadline_ns: Some(4_100),
                missed: true,
            },
        ),
        (
            4_300,
            Event::RtappLoopEnd {
                task: A,
                cpu: 0,
                thread_loop: 0,
                phase: 0,
                phase_loop: 0,
                stats: RtappStats::default(),
            },
        ),
        (5_000, switch(0, Some(B), PrevState::Dead, Some(A))),
        (5_000, Event::SchedProcessExit { task: B, prio: 100 }),
        (
            5_000,
            Event::Deadlock {
                tasks: vec![A, C],
                mutexes: vec![0],
            },
        ),
        (6_000, Event::RtappMainEnd),
    ]);
    v
}

fn ftrace_text(events: &[(u64, Event)]) -> String {
    let mut w = FtraceText::new(Cursor::new(Vec::new()), 2).unwrap();
    for (at, e) in events {
        w.record(*at, e);
    }
    String::from_utf8(w.finish().unwrap().into_inner()).unwrap()
}

fn chrome_text(events: &[(u64, Event)], end: u64) -> String {
    let mut w = ChromeWriter::new(Vec::new(), Cursor::new(Vec::new()), 2).unwrap();
    for (at, e) in events {
        w.record(*at, e);
    }
    String::from_utf8(w.finish(end).unwrap()).unwrap()
}

#[test]
fn the_ftrace_writer_passes() {
    let text = ftrace_text(&stream());
    let t = check_ftrace(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let comms: Vec<&str> = t.lines.iter().map(|l| l.comm.as_str()).collect();
    assert!(comms.contains(&"owner_thread"), "{comms:?}");
    assert!(comms.contains(&"a-very-long-tas"), "{comms:?}");
    let donor = t
        .lines
        .iter()
        .find(|l| l.event == "proxysched_sched_donor")
        .unwrap();
    assert_eq!(donor.field("donor_comm"), Some("donor"));
    assert!(text.contains("mutex=N_lock"), "{text}");
    assert!(text.contains("tracing_mark_write: rtapp_event: id=0 type=8 desc=lock"));
    assert!(text.contains("sched_pi_setprio: comm=owner_thread pid=1 oldprio=120 newprio=100"));
}

#[test]
fn the_chrome_writer_passes_with_nested_slices_and_flows() {
    let text = chrome_text(&stream(), 6_000);
    let c = check_chrome(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let slices = c.slices();
    let find = |name: &str| {
        slices
            .iter()
            .filter(|s| s.2 == name)
            .map(|s| (s.3, s.4))
            .collect::<Vec<_>>()
    };
    // N is released last: its slice is split when M goes first.
    assert_eq!(find("holding M"), [(1_000, 1_500)]);
    assert_eq!(
        find("holding N lock"),
        [(1_250, 1_500), (1_500, 4_000), (4_000, 6_000)]
    );
    assert_eq!(find("blocked on N lock"), [(2_001, 4_000)]);
    assert_eq!(find("running as proxy for donor"), [(3_000, 4_000)]);
    assert_eq!(find("donating to owner thread"), [(3_000, 4_000)]);
    // B holds N until the end: closed at the end time.
    assert!(slices
        .iter()
        .any(|s| s.2 == "holding N lock" && s.0 == 2 && s.4 == 6_000));
    assert!(c.systrace.is_some());
}

#[test]
fn microsecond_timestamps_round_trip_and_json_keeps_nanoseconds() {
    for us in [
        0u64,
        1,
        999_999,
        1_000_000,
        3_000_000,
        59_999_999_999,
        3_600_000_001,
    ] {
        let ns = us * 1000;
        let events = vec![
            (
                0,
                Event::TaskNew {
                    task: A,
                    name: "a".into(),
                    policy: "SCHED_NORMAL",
                    prio: 120,
                },
            ),
            (ns, switch(0, None, PrevState::Preempted, Some(A))),
            (ns + 999, switch(0, Some(A), PrevState::Sleeping, None)),
        ];
        let t = check_ftrace(&ftrace_text(&events)).unwrap();
        // Exact for µs-aligned times, truncated below the µs as the kernel prints them.
        assert_eq!(t.lines[0].ts_ns, ns);
        assert_eq!(t.lines[1].ts_ns, ns);
        // Perfetto's `(int64)(double * 1e9)` is at most 1 ns short.
        let text = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
        let perfetto = (text.parse::<f64>().unwrap() * 1e9) as i64;
        assert!(
            (ns as i64 - perfetto) <= 1 && perfetto <= ns as i64,
            "{text}"
        );
    }
    for ns in [1u64, 999, 1_001, 123_456_789, 59_999_999_999_999] {
        let events = vec![
            (
                0,
                Event::TaskNew {
                    task: A,
                    name: "a".into(),
                    policy: "SCHED_NORMAL",
                    prio: 120,
                },
            ),
            (
                0,
                Event::MutexNew {
                    mutex: 0,
                    name: "m".into(),
                },
            ),
            (ns, Event::LockAcquire { task: A, mutex: 0 }),
        ];
        let c = check_chrome(&chrome_text(&events, ns + 1)).unwrap();
        let b = c.events.iter().find(|e| e["ph"] == "B").unwrap();
        assert_eq!(ts_ns(&b["ts"]), ns);
    }
}

#[test]
fn the_ftrace_validator_rejects_broken_samples() {
    let good = ftrace_text(&stream());
    check_ftrace(&good).unwrap();
    let first_switch = good
        .lines()
        .find(|l| l.contains("sched_switch"))
        .unwrap()
        .to_string();
    let cases: Vec<(&str, String)> = vec![
        (
            "no tracer header",
            good.replacen("# tracer: nop", "# hello", 1),
        ),
        (
            "five flag characters",
            good.replacen(" d..2 ", " d..2. ", 1),
        ),
        ("garbage line", format!("{good}this is not a trace line\n")),
        (
            "a comm with a space",
            good.replacen("  owner_thread-1 ", "owner thread-1 ", 1),
        ),
        (
            "wrong entry count",
            good.replacen("entries-written: ", "entries-written: 1", 1),
        ),
        (
            "switch from a task that does not run",
            good.replacen(
                &first_switch,
                &first_switch.replace("prev_pid=0", "prev_pid=7"),
                1,
            ),
        ),
        (
            "unknown prev_state",
            good.replacen("prev_state=D", "prev_state=Q", 1),
        ),
        (
            "timestamps going backwards",
            good.replacen("     0.000005:", "     0.000000:", 1)
                .replacen("     0.000004:", "     0.000009:", 1),
        ),
        (
            "a line whose task does not run there",
            good.replacen(
                "  owner_thread-1     (    1) [000] ....",
                "         donor-2     (    2) [000] ....",
                1,
            ),
        ),
    ];
    for (what, text) in cases {
        assert_ne!(text, good, "{what}: the sample did not change");
        let e = check_ftrace(&text).expect_err(&format!("{what} was accepted:\n{text}"));
        eprintln!("{what}: {e}");
    }
    // One task on two CPUs at once.
    let mut two = stream();
    two.push((7_000, switch(1, None, PrevState::Preempted, Some(A))));
    let text = ftrace_text(&two);
    let e = check_ftrace(&text).unwrap_err();
    assert!(e.contains("already runs on cpu"), "{e}");
}

#[test]
fn the_chrome_validator_rejects_broken_samples() {
    let good = chrome_text(&stream(), 6_000);
    check_chrome(&good).unwrap();
    let wrap = |events: &str| format!("{{\"traceEvents\":[{events}]}}");
    let b = r#"{"ph":"B","ts":1,"pid":1,"tid":9,"name":"x"}"#;
    let e = r#"{"ph":"E","ts":2,"pid":1,"tid":9}"#;
    check_chrome(&wrap(&format!("{b},{e}"))).unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("truncated", good[..good.len() / 2].to_string()),
        ("not an object", "[1,2]".to_string()),
        ("E without B", wrap(e)),
        ("B never closed", wrap(b)),
        (
            "E closing another name",
            wrap(&format!(
                r#"{b},{{"ph":"E","ts":2,"pid":1,"tid":9,"name":"y"}}"#
            )),
        ),
        (
            "overlapping X slices",
            wrap(
                r#"{"ph":"X","ts":1,"dur":5,"pid":1,"tid":9,"name":"a"},
                   {"ph":"X","ts":3,"dur":5,"pid":1,"tid":9,"name":"b"}"#,
            ),
        ),
        (
            "X with negative dur",
            wrap(r#"{"ph":"X","ts":1,"dur":-1,"pid":1,"tid":9}"#),
        ),
        (
            "a flow without its end",
            wrap(
                r#"{"ph":"B","ts":1,"pid":1,"tid":9,"bind_id":3,"flow_out":true},
                   {"ph":"E","ts":2,"pid":1,"tid":9}"#,
            ),
        ),
        (
            "a v1 flow without its start",
            wrap(r#"{"ph":"f","ts":1,"pid":1,"tid":9,"id":4}"#),
        ),
        (
            "a flow ending before it starts",
            wrap(&format!(
                r#"{{"ph":"B","ts":1,"pid":1,"tid":8,"bind_id":3,"flow_in":true}},
                   {{"ph":"E","ts":2,"pid":1,"tid":8}},
                   {{"ph":"B","ts":1,"pid":1,"tid":9,"bind_id":3,"flow_out":true}},{e}"#
            )),
        ),
        (
            "a non-numeric counter",
            wrap(r#"{"ph":"C","ts":1,"pid":1,"tid":1,"name":"c","args":{"v":"high"}}"#),
        ),
        (
            "an array member",
            wrap(r#"{"ph":"i","ts":1,"pid":1,"tid":1,"stack":[1,2]}"#),
        ),
        (
            "ts with 4 decimals",
            wrap(r#"{"ph":"i","ts":1.0001,"pid":1,"tid":1}"#),
        ),
        ("no ts", wrap(r#"{"ph":"i","pid":1,"tid":1}"#)),
        (
            "a broken systemTraceEvents",
            good.replacen("sched_switch: prev_comm", "sched_switch prev_comm", 1),
        ),
    ];
    for (what, text) in cases {
        let e = check_chrome(&text).expect_err(&format!("{what} was accepted:\n{text}"));
        eprintln!("{what}: {e}");
    }
}
