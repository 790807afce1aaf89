//! `--trace` (ftrace text and Chrome JSON) and `--rtapp-logs`: the outputs of real runs pass
//! the validator, show what happened, are deterministic, and fail cleanly.

#[path = "../../../trace/tests/support/validator.rs"]
mod validator;

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use proxysched::simulate;
use proxysched_sim::{Overrides, RunConfig};
use proxysched_trace::chrome::ChromeWriter;
use proxysched_trace::ftrace::FtraceText;
use proxysched_trace::Sink;
use proxysched_workload::{builtin_demo, parse_str, Inherit, Workload};
use validator::{check_chrome, check_ftrace, Chrome, Ftrace};

use crate::common::{overrides, proxysched, stderr, with_inherit, MS, SEC};

/// The Mars Pathfinder inversion of `locking.rs`, in 1 ms units.
const PATHFINDER: &str = r#"{ "tasks": {
    "asi_met": { "policy": "SCHED_FIFO", "priority": 10, "loop": 1,
                 "run": 1000, "lock": "M", "run": 3000, "unlock": "M", "run": 1000 },
    "bc_dist": { "policy": "SCHED_FIFO", "priority": 30, "loop": 1, "delay": 2000,
                 "run": 1000, "lock": "M", "run": 1000, "unlock": "M", "run": 1000 },
    "comms":   { "policy": "SCHED_FIFO", "priority": 20, "loop": 1, "delay": 3000,
                 "run": 10000 } } }"#;

/// RT, DL and fair tasks with a shared mutex on 2 CPUs.
const RT_DL_MIX: &str = r#"{ "tasks": {
    "dl_ctrl": { "policy": "SCHED_DEADLINE", "dl-runtime": 2000, "dl-period": 10000,
                 "run": 1500, "lock": "bus", "run": 800, "unlock": "bus",
                 "timer": { "ref": "unique", "period": 10000 } },
    "fifo_io": { "policy": "SCHED_FIFO", "priority": 50, "run": 400, "sleep": 3000 },
    "rr": { "policy": "SCHED_RR", "priority": 10, "instance": 2, "run": 5000, "sleep": 1000 },
    "logger": { "priority": 5, "lock": "bus", "run": 2500, "unlock": "bus", "sleep": 4000 },
    "batch": { "policy": "SCHED_BATCH", "instance": 2, "run": 20000 } } }"#;

/// Simulate with both writers attached and validate what they wrote.
fn traced(w: &Workload, o: Overrides) -> (Ftrace, Chrome, String) {
    let cfg = RunConfig::resolve(w, &o);
    let cpus = cfg.sched.nr_cpus;
    let mut text = FtraceText::new(Cursor::new(Vec::new()), cpus).unwrap();
    let mut json = ChromeWriter::new(Vec::new(), Cursor::new(Vec::new()), cpus).unwrap();
    let mut both = proxysched::Fanout(vec![&mut text as &mut dyn Sink, &mut json]);
    let m = simulate(w, &cfg, true, Some(&mut both)).unwrap_or_else(|f| panic!("{}", f.message));
    let text = String::from_utf8(text.finish().unwrap().into_inner()).unwrap();
    let json = String::from_utf8(json.finish(m.end_ns).unwrap()).unwrap();
    let f = check_ftrace(&text).unwrap_or_else(|e| panic!("ftrace: {e}"));
    let c = check_chrome(&json).unwrap_or_else(|e| panic!("json: {e}"));
    // The text embedded in the JSON is the same trace.
    let embedded = c.systrace.as_ref().expect("systemTraceEvents");
    assert_eq!(embedded.lines.len(), f.lines.len());
    (f, c, text)
}

#[test]
fn the_demo_traces_validate_under_every_mode() {
    for mode in [Inherit::None, Inherit::Pi, Inherit::Proxy] {
        let (f, c, _) = traced(&builtin_demo(), with_inherit(overrides(4, SEC), mode));
        assert!(
            f.lines.iter().any(|l| l.event == "sched_switch"),
            "{mode:?}"
        );
        assert!(f.lines.iter().any(|l| l.event == "proxysched_lock_acquire"));
        let holds = c
            .slices()
            .iter()
            .filter(|s| s.2 == "holding ui_lock")
            .count();
        assert!(holds > 10, "{mode:?}: {holds} holds");
        let proxied = c
            .slices()
            .iter()
            .any(|s| s.2.starts_with("running as proxy"));
        assert_eq!(proxied, mode == Inherit::Proxy, "{mode:?}");
    }
}

#[test]
fn an_rt_dl_mix_traces_validate() {
    let w = parse_str("mix.json", RT_DL_MIX).unwrap();
    for mode in [Inherit::None, Inherit::Pi, Inherit::Proxy] {
        let (f, c, _) = traced(&w, with_inherit(overrides(2, SEC / 2), mode));
        for ev in [
            "sched_switch",
            "sched_waking",
            "sched_wakeup",
            "proxysched_dl_replenish",
        ] {
            assert!(f.lines.iter().any(|l| l.event == ev), "{mode:?}: no {ev}");
        }
        let prios = c
            .events
            .iter()
            .filter(|e| e["ph"] == "C" && e["name"] == "effective")
            .count();
        assert!(prios >= 7, "{mode:?}: {prios} prio samples");
        assert!(c.events.iter().any(|e| e["ph"] == "C" && e["name"] == "dl"));
        if mode == Inherit::Pi {
            assert!(f.lines.iter().any(|l| l.event == "sched_pi_setprio"));
        }
    }
}

/// The context (curr, donor) of CPU 0 over time, by task name.
fn contexts(f: &Ftrace, names: &[(&str, u32)]) -> Vec<(u64, String, String)> {
    let name = |pid: u32| {
        names
            .iter()
            .find(|n| n.1 == pid)
            .map_or_else(|| format!("pid{pid}"), |n| n.0.to_string())
    };
    f.contexts()
        .into_iter()
        .filter(|c| c.1 == 0)
        .map(|(t, _, c, d)| (t, name(c), name(d)))
        .collect()
}

#[test]
fn pathfinder_under_proxy_shows_asi_met_running_for_bc_dist_from_3_to_5_ms() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pathfinder.json");
    std::fs::write(&file, PATHFINDER).unwrap();
    let (txt, json) = (dir.path().join("p.txt"), dir.path().join("p.json"));
    for out in [&txt, &json] {
        let o = proxysched(&[
            "run",
            file.to_str().unwrap(),
            "--cpus",
            "1",
            "--inherit",
            "proxy",
            "--trace",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(
            o.stdout.is_empty() && o.stderr.is_empty(),
            "--quiet prints nothing"
        );
    }
    let f = check_ftrace(&std::fs::read_to_string(&txt).unwrap()).unwrap();
    let (asi, bc) = (f.pid_of("asi_met").unwrap(), f.pid_of("bc_dist").unwrap());
    let names = [("asi_met", asi), ("bc_dist", bc), ("idle", 0)];
    let ctx = contexts(&f, &names);
    // The last context change at or before each instant.
    let at = |t: u64| ctx.iter().rev().find(|c| c.0 <= t).cloned().unwrap();
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        (at(3 * MS).1, at(3 * MS).2),
        s("asi_met", "bc_dist"),
        "{ctx:?}"
    );
    assert_eq!((at(4 * MS).1, at(4 * MS).2), s("asi_met", "bc_dist"));
    assert_eq!((at(5 * MS).1, at(5 * MS).2), s("bc_dist", "bc_dist"));
    let during: Vec<_> = ctx
        .iter()
        .filter(|c| c.0 > 3 * MS && c.0 < 5 * MS)
        .collect();
    assert!(
        during.is_empty(),
        "the context changed in between: {during:?}"
    );
    let donated_from = ctx
        .iter()
        .find(|c| c.1 == "asi_met" && c.2 == "bc_dist")
        .unwrap();
    assert_eq!(donated_from.0, 3 * MS);

    let c = check_chrome(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let proxy: Vec<_> = c
        .slices()
        .into_iter()
        .filter(|s| s.2 == "running as proxy for bc_dist")
        .collect();
    assert_eq!(proxy.len(), 1, "{proxy:?}");
    assert_eq!(
        (proxy[0].0, proxy[0].3, proxy[0].4),
        (asi as u64, 3 * MS, 5 * MS)
    );
    let donating: Vec<_> = c
        .slices()
        .into_iter()
        .filter(|s| s.2 == "donating to asi_met")
        .collect();
    assert_eq!((donating[0].0, donating[0].3), (bc as u64, 3 * MS));
    let flow_ends = c.events.iter().filter(|e| e["bind_id"] == 1).count();
    assert_eq!(
        flow_ends, 2,
        "one flow from bc_dist's donation to asi_met's proxy run"
    );
}

#[test]
fn traces_and_logs_are_byte_identical_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mix.json");
    std::fs::write(&file, RT_DL_MIX).unwrap();
    let run = |tag: &str| {
        let (t, j, l) = (
            dir.path().join(format!("{tag}.txt")),
            dir.path().join(format!("{tag}.json")),
            dir.path().join(format!("logs-{tag}")),
        );
        for (trace, logs) in [(&t, None), (&j, Some(&l))] {
            let mut args = vec![
                "run",
                file.to_str().unwrap(),
                "--cpus",
                "2",
                "--inherit",
                "pi",
                "--duration",
                "0.3",
                "--trace",
                trace.to_str().unwrap(),
                "-q",
            ];
            if let Some(l) = logs {
                args.extend(["--rtapp-logs", l.to_str().unwrap()]);
            }
            let o = proxysched(&args);
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        }
        let mut logs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&l)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        logs.sort();
        (std::fs::read(&t).unwrap(), std::fs::read(&j).unwrap(), logs)
    };
    let (a, b) = (run("a"), run("b"));
    assert!(a.0 == b.0, "the ftrace text differs between runs");
    assert!(a.1 == b.1, "the JSON differs between runs");
    assert_eq!(a.2, b.2, "the rt-app logs differ between runs");
    assert_eq!(a.2.len(), 7, "one log per thread");
    check_chrome(std::str::from_utf8(&a.1).unwrap()).unwrap();
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn unwritable_traces_exit_2_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/t.json");
    let o = proxysched(&[
        "run",
        "--duration",
        "0.01",
        "--trace",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot create the trace"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"));
    // The final rename fails when the target is a directory: the partial file goes away.
    let blocker = dir.path().join("t.txt");
    std::fs::create_dir(&blocker).unwrap();
    let o = proxysched(&[
        "run",
        "--duration",
        "0.01",
        "--trace",
        blocker.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot write the trace"),
        "{}",
        stderr(&o)
    );
    assert_eq!(leftovers(dir.path()), ["t.txt"]);
    // Neither .txt nor .json: a usage error before anything runs.
    let o = proxysched(&["run", "--trace", dir.path().join("t.csv").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(".txt (ftrace text) or .json"),
        "{}",
        stderr(&o)
    );
    // Logs into a path that is a file.
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let o = proxysched(&[
        "run",
        "--duration",
        "0.01",
        "--rtapp-logs",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--rtapp-logs"), "{}", stderr(&o));
}

/// A write that fails in the middle of the run (the file-size limit stands in for a full
/// disk): exit 2, a message, and no trace file, complete-looking or partial.
#[test]
fn a_write_error_during_the_run_exits_2_and_leaves_no_file() {
    if !Path::new("/bin/sh").exists() {
        return;
    }
    for name in ["t.txt", "t.json"] {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join(name);
        let script = format!(
            "trap '' XFSZ; ulimit -f 64; exec '{}' run --duration 2 --trace '{}'",
            env!("CARGO_BIN_EXE_proxysched"),
            trace.display()
        );
        let o = Command::new("/bin/sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains("cannot write the trace"), "{name}: {err}");
        assert!(
            leftovers(dir.path()).is_empty(),
            "{name}: {:?}",
            leftovers(dir.path())
        );
    }
}

#[test]
fn rtapp_logs_have_rt_app_s_rows() {
    // `a` runs 1 ms every 10 ms; `b` (higher priority) runs 9.5-11.5 ms, so `a`'s second
    // activation starts 1.5 ms late.
    let json = r#"{ "tasks": {
        "a": { "policy": "SCHED_FIFO", "priority": 10, "loop": 3,
               "run": 1000, "timer": { "ref": "unique", "period": 10000 } },
        "b": { "policy": "SCHED_FIFO", "priority": 20, "loop": 1, "delay": 9500,
               "run": 2000 } } }"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.json");
    std::fs::write(&file, json).unwrap();
    let logs = dir.path().join("logs");
    let trace = dir.path().join("w.txt");
    let o = proxysched(&[
        "run",
        file.to_str().unwrap(),
        "--rtapp-logs",
        logs.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut names = leftovers(&logs);
    names.sort();
    assert_eq!(names, ["rt-app-a-0.log", "rt-app-b-1.log"]);
    let a = std::fs::read_to_string(logs.join("rt-app-a-0.log")).unwrap();
    let rows: Vec<Vec<i64>> = a
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(
        a.lines().next().unwrap(),
        proxysched_trace::rtapp_log::header().trim_end()
    );
    // idx perf run period start end rel_st slack c_duration c_period wu_lat
    assert_eq!(
        rows,
        [
            [0, 1000, 1000, 11500, 0, 11500, 0, 9000, 1000, 10000, 1500],
            [0, 1000, 1000, 8500, 11500, 20000, 11500, 7500, 1000, 10000, 0],
            [0, 1000, 1000, 10000, 20000, 30000, 20000, 9000, 1000, 10000, 0],
        ]
    );
    let b = std::fs::read_to_string(logs.join("rt-app-b-1.log")).unwrap();
    assert_eq!(b.lines().count(), 2, "{b}");
    // The same figures in the trace's rtapp_stats markers.
    let f = check_ftrace(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let stats: Vec<&str> = f
        .lines
        .iter()
        .filter(|l| l.args.starts_with("rtapp_stats:") && l.comm == "a")
        .map(|l| l.args.as_str())
        .collect();
    assert_eq!(
        stats[0],
        "rtapp_stats: period=11500 run=1000 wu_lat=1500 slack=9000 c_period=10000 c_run=1000"
    );
    let loops = f
        .lines
        .iter()
        .filter(|l| l.args.starts_with("rtapp_loop: event=start") && l.comm == "a")
        .count();
    assert_eq!(loops, 3);
    assert!(f.lines.iter().any(|l| l.args == "rtapp_task: event=end"));
    assert!(f.lines.iter().any(|l| l.args == "rtapp_main: event=end"));
    assert!(f
        .lines
        .iter()
        .any(|l| l.args == "rtapp_event: id=1 type=10 desc=timer" && l.comm == "a"));
}
