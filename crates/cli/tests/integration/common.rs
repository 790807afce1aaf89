//! Helpers: run rt-app JSON text with invariant checks and look at the result.

use proxysched::simulate;
use proxysched_report::metrics::{MetricsDoc, TaskDoc};
use proxysched_sim::{Overrides, RunConfig};
use proxysched_trace::{Event, Recorder};
use proxysched_workload::parse_str;

pub const MS: u64 = 1_000_000;
pub const SEC: u64 = 1_000_000_000;

pub fn overrides(cpus: u32, duration_ns: u64) -> Overrides {
    Overrides {
        cpus: Some(cpus),
        duration_ns: Some(duration_ns),
        ..Overrides::default()
    }
}

/// Simulate `json` with invariant checks after every event; panics on any failure.
pub fn run(json: &str, o: Overrides) -> MetricsDoc {
    run_traced(json, o).0
}

/// Like [`run`], also returning the tracepoint stream.
pub fn run_traced(json: &str, o: Overrides) -> (MetricsDoc, Vec<(u64, Event)>) {
    let w = parse_str("test.json", json).unwrap_or_else(|e| panic!("{e}"));
    let cfg = RunConfig::resolve(&w, &o);
    let mut rec = Recorder::default();
    let m = simulate(&w, &cfg, true, Some(&mut rec)).unwrap_or_else(|f| panic!("{}", f.message));
    (m, rec.events)
}

pub fn task<'a>(m: &'a MetricsDoc, name: &str) -> &'a TaskDoc {
    m.tasks
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no task {name}"))
}

/// (time, cpu, next task name or "idle") for every context switch.
pub fn switches(m: &MetricsDoc, events: &[(u64, Event)]) -> Vec<(u64, u32, String)> {
    events
        .iter()
        .filter_map(|(at, e)| match e {
            Event::SchedSwitch { cpu, next, .. } => Some((
                *at,
                *cpu,
                next.map_or("idle".to_string(), |p| m.tasks[p.index()].name.clone()),
            )),
            _ => None,
        })
        .collect()
}

/// `part` as a fraction of `whole`, in per-mille.
pub fn permille(part: u64, whole: u64) -> u64 {
    (part as u128 * 1000 / whole as u128) as u64
}

/// How often the proxy-execution case `name` happened in a recorded run.
pub fn proxy_cases(events: &[(u64, Event)], name: &str) -> usize {
    events
        .iter()
        .filter(|(_, e)| matches!(e, Event::ProxyCase { case, .. } if *case == name))
        .count()
}

pub fn with_inherit(mut o: Overrides, inherit: proxysched_sched::Inherit) -> Overrides {
    o.inherit = Some(inherit);
    o
}

/// Runs the `proxysched` binary.
pub fn proxysched(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_proxysched"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
