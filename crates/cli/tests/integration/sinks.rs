//! Runs without a trace build only the tracepoints their sinks want (`Sink::wants`). The
//! metrics must not notice: every workload here gives the same metrics whether the run
//! records the whole stream or only the kinds the metrics sink asks for.

use crate::common::*;
use proxysched::simulate;
use proxysched_sched::Inherit;
use proxysched_sim::RunConfig;
use proxysched_trace::{Event, EventKind, Recorder, Sink};
use proxysched_workload::{load, parse_str, Workload};

/// Contention on two mutexes (a chain under proxy execution), an RT and a DL task, tasks that
/// exit, and a deadlock: every kind of event the metrics read.
const EVERYTHING: &str = r#"{ "tasks": {
    "low":  { "policy": "SCHED_OTHER", "loop": 20,
              "lock": "A", "run": 3000, "lock": "B", "run": 1000, "unlock": "B", "unlock": "A",
              "sleep": 2000 },
    "mid":  { "policy": "SCHED_FIFO", "priority": 10, "loop": 20, "delay": 500,
              "lock": "B", "run": 2000, "unlock": "B", "sleep": 3000 },
    "high": { "policy": "SCHED_DEADLINE", "dl-runtime": 4000, "dl-period": 10000,
              "loop": 30, "delay": 700, "lock": "A", "run": 500, "unlock": "A",
              "timer": { "ref": "t", "period": 10000 } },
    "spin": { "policy": "SCHED_OTHER", "loop": 5, "run": 7000, "sleep": 1000 },
    "d1":   { "policy": "SCHED_OTHER", "loop": 1, "delay": 300000,
              "lock": "A", "run": 100, "lock": "B", "unlock": "B", "unlock": "A" },
    "d2":   { "policy": "SCHED_OTHER", "loop": 1, "delay": 300000,
              "lock": "B", "run": 100, "lock": "A", "unlock": "A", "unlock": "B" } } }"#;

fn metrics_both_ways(w: &Workload, cfg: &RunConfig) -> (String, String) {
    let lean = simulate(w, cfg, true, None).unwrap_or_else(|f| panic!("{}", f.message));
    let mut everything = Recorder::default();
    assert_eq!(everything.wants(), proxysched_trace::EventKinds::ALL);
    let full =
        simulate(w, cfg, true, Some(&mut everything)).unwrap_or_else(|f| panic!("{}", f.message));
    let kinds: std::collections::BTreeSet<_> = everything
        .events
        .iter()
        .map(|(_, e)| format!("{:?}", e.kind()))
        .collect();
    assert!(kinds.contains("RtappEvent"), "{kinds:?}");
    let json = |m| serde_json::to_string_pretty(m).unwrap();
    (json(&lean), json(&full))
}

#[test]
fn metrics_from_the_wanted_kinds_equal_metrics_from_the_whole_stream() {
    let w = parse_str("everything.json", EVERYTHING).unwrap_or_else(|e| panic!("{e}"));
    for inherit in [Inherit::None, Inherit::Pi, Inherit::Proxy] {
        for cpus in [1, 2] {
            let cfg = RunConfig::resolve(&w, &with_inherit(overrides(cpus, SEC), inherit));
            let (lean, full) = metrics_both_ways(&w, &cfg);
            assert_eq!(lean, full, "{inherit:?} on {cpus} CPUs");
        }
    }
    // The workload reaches the rarer kinds the metrics read.
    let cfg = RunConfig::resolve(&w, &with_inherit(overrides(2, SEC), Inherit::Proxy));
    let mut rec = Recorder::default();
    simulate(&w, &cfg, true, Some(&mut rec)).unwrap_or_else(|f| panic!("{}", f.message));
    for kind in [
        EventKind::Deadlock,
        EventKind::LockContend,
        EventKind::SchedDonor,
        EventKind::SchedProcessExit,
        EventKind::ActivationEnd,
    ] {
        assert!(
            rec.events.iter().any(|(_, e)| e.kind() == kind),
            "no {kind:?} event"
        );
    }
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/rt-app");
    for name in [
        "mp3-short.json",
        "browser-short.json",
        "tutorial-example5.json",
    ] {
        let w = load(&std::path::Path::new(examples).join(name)).unwrap_or_else(|e| panic!("{e}"));
        let cfg = RunConfig::resolve(&w, &with_inherit(overrides(4, SEC / 2), Inherit::Proxy));
        let (lean, full) = metrics_both_ways(&w, &cfg);
        assert_eq!(lean, full, "{name}");
    }
}

#[test]
fn a_kind_left_out_of_wants_is_never_recorded() {
    struct SwitchesOnly(Vec<Event>);
    impl Sink for SwitchesOnly {
        fn wants(&self) -> proxysched_trace::EventKinds {
            proxysched_trace::EventKinds::of(&[EventKind::SchedSwitch])
        }
        fn record(&mut self, _at: u64, e: &Event) {
            self.0.push(e.clone());
        }
    }
    let w = parse_str("everything.json", EVERYTHING).unwrap_or_else(|e| panic!("{e}"));
    let cfg = RunConfig::resolve(&w, &overrides(2, SEC / 10));
    let mut sink = SwitchesOnly(Vec::new());
    proxysched_sim::Engine::new(&w, &cfg, &mut sink)
        .unwrap()
        .run()
        .unwrap();
    assert!(!sink.0.is_empty());
    assert!(sink.0.iter().all(|e| e.kind() == EventKind::SchedSwitch));
}
