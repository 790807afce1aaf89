//! The HTML report on hand-written tracepoint streams: the timeline with proxy execution marked,
//! the CDFs, escaping of user-supplied names, no network references, byte-identical output, and
//! the timeline recorder's bounded memory.

use proxysched_report::html::{render_compare, render_run, ReportSink};
use proxysched_report::metrics::{CompareDoc, ConfigDoc, MetricsDoc};
use proxysched_report::timeline::{TimelineLimits, TimelineSink, DEFAULT_MAX_SLICES};
use proxysched_trace::{Event, PrevState, Sink, TaskId, WakeReason};

const F: TaskId = TaskId(0);
const B: TaskId = TaskId(1);
const X: TaskId = TaskId(2);

fn switch(cpu: u32, prev: Option<TaskId>, state: PrevState, next: Option<TaskId>) -> Event {
    switch_on(cpu, prev, state, next, next)
}

fn switch_on(
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

/// Two CPUs. F (foreground) wakes every 1000 ns and takes mutex 0, which B (background) holds
/// from 50 to 700; F blocks on it at 200 and proxy execution runs B on F's context on CPU 0
/// from 200 to 700. The third task is named `<script>` and hogs CPU 1; the mutex's name has
/// quotes and an ampersand.
fn stream(inherit: &str) -> Vec<(u64, Event)> {
    use PrevState::*;
    let proxy = inherit == "proxy";
    let mut s = vec![];
    for (t, name) in [(F, "foreground"), (B, "background"), (X, "<script>")] {
        s.push((
            0,
            Event::TaskNew {
                task: t,
                name: name.to_string(),
                policy: "SCHED_OTHER",
                prio: 120,
            },
        ));
    }
    s.push((
        0,
        Event::MutexNew {
            mutex: 0,
            name: "m&\"quoted\"'".to_string(),
        },
    ));
    for t in [F, B, X] {
        s.push((
            0,
            Event::SchedWakeupNew {
                task: t,
                prio: 120,
                cpu: 0,
            },
        ));
    }
    s.push((0, switch(0, None, Preempted, Some(B))));
    s.push((0, switch(1, None, Preempted, Some(X))));
    s.push((50, Event::LockAcquire { task: B, mutex: 0 }));
    s.push((100, switch(0, Some(B), Preempted, Some(F))));
    s.push((
        200,
        Event::LockContend {
            task: F,
            mutex: 0,
            owner: B,
        },
    ));
    if proxy {
        // F stays the donor; B runs on its context.
        s.push((200, switch_on(0, Some(F), BlockedOnMutex, Some(B), Some(F))));
    } else {
        s.push((200, switch(0, Some(F), BlockedOnMutex, Some(B))));
    }
    s.push((
        700,
        Event::LockRelease {
            task: B,
            mutex: 0,
            next: Some(F),
        },
    ));
    s.push((700, Event::LockAcquire { task: F, mutex: 0 }));
    s.push((
        700,
        Event::SchedWaking {
            task: F,
            prio: 120,
            target_cpu: 0,
            reason: WakeReason::Mutex,
        },
    ));
    let wake_latency = if proxy { 0 } else { 150 };
    s.push((700 + wake_latency, switch(0, Some(B), Sleeping, Some(F))));
    s.push((
        900,
        Event::LockRelease {
            task: F,
            mutex: 0,
            next: None,
        },
    ));
    s.push((950, switch(0, Some(F), Sleeping, None)));
    // Periodic wakeups of F with latencies 10, 20, ... ns.
    for k in 1..=20u64 {
        let at = 1_000 * k;
        s.push((
            at,
            Event::SchedWaking {
                task: F,
                prio: 120,
                target_cpu: 0,
                reason: WakeReason::Timer,
            },
        ));
        s.push((at + 10 * k, switch(0, None, Preempted, Some(F))));
        s.push((at + 10 * k + 300, switch(0, Some(F), Sleeping, None)));
    }
    s.push((
        21_000,
        Event::ActivationEnd {
            task: F,
            deadline_ns: Some(20_900),
            missed: true,
        },
    ));
    s
}

fn config(inherit: &'static str) -> ConfigDoc {
    ConfigDoc {
        cpus: 2,
        inherit,
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

fn feed(inherit: &'static str, finish: bool) -> (MetricsDoc, ReportSink) {
    let s = stream(inherit);
    let mut sink = ReportSink::new(2);
    for (at, e) in &s {
        sink.record(*at, e);
    }
    let end = 25_000;
    if finish {
        sink.finish(end);
    } else {
        sink.metrics.finish(end);
    }
    let doc = MetricsDoc::build(config(inherit), &sink.metrics, s.len() as u64, &[]);
    (doc, sink)
}

/// `<svg`/`</svg>` and friends pair up.
fn assert_balanced(html: &str) {
    for tag in [
        "svg", "table", "section", "div", "figure", "details", "g", "tr",
    ] {
        let open =
            html.matches(&format!("<{tag}>")).count() + html.matches(&format!("<{tag} ")).count();
        let close = html.matches(&format!("</{tag}>")).count();
        assert_eq!(
            open, close,
            "<{tag}> opened {open} times, closed {close} times"
        );
    }
}

/// No address the browser could fetch. (SVG's `xmlns` is a namespace name, not a fetch; the
/// report does not need it either, but it would be allowed.)
fn assert_offline(html: &str) {
    let cleaned = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for needle in ["http://", "https://", "//cdn", "@import", "src=", "<link"] {
        assert!(!cleaned.contains(needle), "the report contains {needle:?}");
    }
}

#[test]
fn run_report_has_timeline_with_proxy_cdfs_and_escaped_names() {
    let (doc, sink) = feed("proxy", true);
    let html = render_run("work<load>.json", &doc, &sink);

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.ends_with("</html>\n"));
    assert_balanced(&html);
    assert_offline(&html);

    // The timeline SVG, with B's slice on F's context drawn hatched in F's colour.
    assert!(html.contains("<svg class=\"timeline\""));
    let proxy_slice = "background running as proxy for foreground (on its scheduling context), \
                       200 ns – 700 ns (500 ns)";
    assert!(html.contains(proxy_slice), "{proxy_slice} missing");
    assert!(html.contains("fill=\"url(#hatch-1)\""), "B's hatching");
    assert!(html.contains("<pattern id=\"hatch-1\""), "B's pattern");
    assert!(html.contains("fill=\"#4e79a7\"/><rect"), "in F's colour");
    assert!(html.contains("<b>background</b> running as proxy on <b>foreground</b>"));
    // Lock spans and the deadline miss.
    assert!(html.contains("foreground blocked on m&amp;&quot;quoted&quot;&#39;, 200 ns – 700 ns"));
    assert!(html.contains("background holds m&amp;&quot;quoted&quot;&#39;, 50 ns – 700 ns"));
    assert!(html.contains("foreground missed a deadline"));

    // The CDFs: wakeup latency of F, wait and hold of the mutex.
    assert!(html.contains("aria-label=\"CDF: foreground\""));
    assert!(html.contains("aria-label=\"CDF: m&amp;&quot;quoted&quot;&#39; — wait\""));
    assert!(html.contains("aria-label=\"CDF: m&amp;&quot;quoted&quot;&#39; — hold\""));
    assert_eq!(
        html.matches("stroke-linejoin=\"round\"><title>").count(),
        3,
        "one line per chart"
    );

    // User strings are escaped everywhere.
    assert!(html.contains("&lt;script&gt;"));
    assert!(
        !html.contains("<script"),
        "no raw <script>, and no script at all"
    );
    assert!(html.contains("work&lt;load&gt;.json"));
    assert!(!html.contains("m&\"quoted"));

    // The tables.
    assert!(html.contains("<h3>Tasks</h3>"));
    assert!(html.contains("<h3>CPUs</h3>"));
    assert!(html.contains("<h3>Mutexes</h3>"));
    assert!(html.contains("No deadlocks, no warnings."));
}

#[test]
fn the_report_copes_without_finish() {
    let (doc, finished) = feed("proxy", true);
    let (_, open) = feed("proxy", false);
    assert_eq!(
        render_run("w.json", &doc, &finished),
        render_run("w.json", &doc, &open),
        "open intervals are closed at the end of the run"
    );
}

#[test]
fn output_is_byte_identical_for_the_same_input() {
    let render = || {
        let (doc, sink) = feed("proxy", true);
        render_run("w.json", &doc, &sink)
    };
    assert_eq!(render(), render());
    let compare = || {
        let (a, sa) = feed("none", true);
        let (b, sb) = feed("proxy", true);
        let doc = CompareDoc {
            runs: vec![("none".to_string(), a), ("proxy".to_string(), b)],
        };
        render_compare("w.json", &doc, &[sa, sb])
    };
    assert_eq!(compare(), compare());
}

#[test]
fn compare_report_puts_modes_side_by_side() {
    let (a, sa) = feed("none", true);
    let (b, sb) = feed("proxy", true);
    let doc = CompareDoc {
        runs: vec![("none".to_string(), a), ("proxy".to_string(), b)],
    };
    let html = render_compare("w.json", &doc, &[sa, sb]);
    assert_balanced(&html);
    assert_offline(&html);
    assert!(html.contains("<h3>Tasks, mode by mode</h3>"));
    assert!(html.contains("<h3>Modes</h3>"));
    // One detail timeline and one overview per mode.
    assert_eq!(html.matches("aria-label=\"per-CPU timeline, ").count(), 2);
    assert_eq!(html.matches("aria-label=\"timeline overview, ").count(), 2);
    // Only the proxy run has proxy execution.
    assert_eq!(html.matches("running as proxy for foreground").count(), 3);
    // F's wakeup CDF has a line per mode; so do the mutex charts.
    assert_eq!(html.matches("stroke-linejoin=\"round\"><title>").count(), 6);
    assert!(html.contains("<title>none</title>") && html.contains("<title>proxy</title>"));
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script"));
}

#[test]
fn deadlocks_and_warnings_are_listed_escaped() {
    let (mut doc, sink) = feed("pi", true);
    doc.warnings.push("task <b> & co".to_string());
    doc.deadlocks.push(proxysched_report::metrics::DeadlockDoc {
        at_ns: 5_000,
        tasks: vec!["<script>".to_string(), "foreground".to_string()],
        mutexes: vec!["m".to_string()],
    });
    let html = render_run("w.json", &doc, &sink);
    assert!(html.contains("warning: task &lt;b&gt; &amp; co"));
    assert!(html.contains("deadlock at 5.0 µs: tasks &lt;script&gt;, foreground; mutexes m"));
}

#[test]
fn a_truncated_timeline_says_so() {
    let s = stream("proxy");
    let mut sink = ReportSink::with_limits(
        2,
        TimelineLimits {
            max_slices: 8,
            ..TimelineLimits::default()
        },
    );
    for (at, e) in &s {
        sink.record(*at, e);
    }
    sink.finish(25_000);
    let cut = sink.timeline.truncated_at().expect("truncated");
    assert!(sink.timeline.nr_slices() <= 8);
    let doc = MetricsDoc::build(config("proxy"), &sink.metrics, s.len() as u64, &[]);
    let html = render_run("w.json", &doc, &sink);
    assert!(html.contains("Timeline truncated: the recorder keeps at most 8 slices"));
    let stopped = if cut < 1_000 {
        format!("{cut} ns")
    } else {
        format!("{}.{} µs", cut / 1_000, cut / 100 % 10)
    };
    assert!(
        html.contains(&format!("so it stopped at {stopped} of 25.0 µs")),
        "cut at {cut}"
    );
}

/// Ten million context switches on four CPUs: the recorder keeps no more than its cap, and what
/// it keeps is the complete beginning of the run.
#[test]
fn interval_storage_is_bounded() {
    let mut t = TimelineSink::default();
    let n: u64 = 10_000_000;
    for i in 0..n {
        let cpu = (i % 4) as u32;
        let next = TaskId((i % 7) as u32);
        // Every 16th slice is proxy execution.
        let donor = if i % 16 == 0 { TaskId(99) } else { next };
        t.record(
            i * 100,
            &Event::SchedSwitch {
                cpu,
                prev: None,
                prev_prio: 120,
                prev_state: PrevState::Preempted,
                next: Some(next),
                next_prio: 120,
                donor: Some(donor),
            },
        );
        if i % 1000 == 0 {
            t.record(
                i * 100,
                &Event::LockAcquire {
                    task: next,
                    mutex: 1,
                },
            );
            t.record(
                i * 100 + 50,
                &Event::LockRelease {
                    task: next,
                    mutex: 1,
                    next: None,
                },
            );
        }
    }
    t.finish(n * 100);
    assert!(
        t.nr_slices() <= DEFAULT_MAX_SLICES,
        "{} slices stored",
        t.nr_slices()
    );
    assert!(t.nr_slices() > DEFAULT_MAX_SLICES - 8, "the cap is used");
    let cut = t.truncated_at().expect("the capture stopped");
    assert!(cut < n * 100);
    for cpu in 0..4 {
        let s = t.slices(cpu);
        assert_eq!(s[0].start_ns, cpu as u64 * 100);
        assert!(s.windows(2).all(|w| w[0].end_ns == w[1].start_ns));
        assert_eq!(s.last().map(|x| x.end_ns), Some(cut));
    }
    assert!(t.lock_spans().iter().all(|l| l.end_ns <= cut));
    assert_eq!(t.range(n * 100), (0, cut));
}
