//! A validator for the traces proxysched writes, used by the trace crate's tests and the
//! end-to-end tests (included with `#[path]`). It accepts what Perfetto, TRAPpy and LISA read
//! and rejects what would break them or misrepresent the schedule:
//!
//! ftrace text
//! - the file starts with `# tracer` (Perfetto's format detection); the header's entry count
//!   matches the lines;
//! - every line matches Perfetto's systrace line pattern, in its current form and in the older,
//!   stricter one (at most 4 flag characters, whitespace before the timestamp), and our
//!   stricter layout: a comm without whitespace, `(tgid)`, `[cpu]`, 4 flags, `secs.usecs`;
//! - timestamps never decrease (per CPU and over the file);
//! - `sched_switch`: fields complete, `prev_state` a known state, the line's task is `prev`,
//!   `prev` is the task the CPU ran (next of one switch = prev of the next), and `next` does
//!   not run on another CPU at the same time;
//! - every line's `comm-pid` is the task running on its CPU, and a pid keeps one comm;
//! - wakeup lines carry `comm= pid= prio= target_cpu=NNN`; `sched_wakeup_new` is for a task
//!   that is not running.
//!
//! Chrome JSON
//! - it begins with `{"` and is well-formed JSON with a `traceEvents` array and, if present, a
//!   `systemTraceEvents` string that passes the ftrace checks;
//! - every event has a one-character `ph`; all but metadata have a numeric `ts` (at most 3
//!   decimals), `pid` and `tid`; no member of an event is an array (Perfetto's tokenizer
//!   rejects the file);
//! - duration slices nest on every (pid, tid) in timestamp order: `E` closes an open `B`
//!   (with the same name if it has one), `X` has `dur >= 0` and fits in its parent, nothing
//!   is left open;
//! - every flow has both ends, exactly once each, the start first (v1 `s`/`f` by id, v2
//!   `bind_id` with `flow_out`/`flow_in`);
//! - counter values are numbers (or strings holding numbers);
//! - synthetic slice threads do not reuse a pid of the ftrace text.

#![allow(dead_code)]

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

/// Perfetto's systrace line pattern (current) and its older form.
const PERFETTO_LINE: &str =
    r"-(\d+)\s+\(?\s*(\d+|-+)?\)?\s?\[(\d+)\]\s*[a-zA-Z0-9.]{0,5}\s*(\d+\.\d+):\s+(\S+):";
const PERFETTO_LINE_OLD: &str =
    r"-(\d+)\s+\(?\s*(\d+|-+)?\)?\s?\[(\d+)\]\s*[a-zA-Z0-9.]{0,4}\s+(\d+\.\d+):\s+(\S+):";
/// Our layout.
const OUR_LINE: &str = r"^\s*(\S+)-(\d+)\s+\(\s*(\d+|-+)\)\s+\[(\d{3,})\]\s+([a-zA-Z0-9.]{4})\s+(\d+)\.(\d{6}):\s+([^\s:]+):\s?(.*)$";

/// One parsed ftrace line.
#[derive(Clone, Debug)]
pub struct Line {
    pub comm: String,
    pub pid: u32,
    pub cpu: u32,
    /// Exact, from the decimal text.
    pub ts_ns: u64,
    pub event: String,
    pub args: String,
}

impl Line {
    /// The `key=value` fields of the line.
    pub fn fields(&self) -> BTreeMap<&str, &str> {
        self.args
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .collect()
    }

    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields().get(key).copied()
    }
}

/// What a valid ftrace text contained.
#[derive(Debug, Default)]
pub struct Ftrace {
    pub lines: Vec<Line>,
    pub nr_cpus: u32,
}

impl Ftrace {
    /// Every (time, cpu, curr pid, donor pid) context the trace shows: a `sched_switch` sets
    /// both to `next`, a `proxysched_sched_donor` line sets them as it says.
    pub fn contexts(&self) -> Vec<(u64, u32, u32, u32)> {
        let mut out = Vec::new();
        for l in &self.lines {
            let f = l.fields();
            match l.event.as_str() {
                "sched_switch" => {
                    let n: u32 = f["next_pid"].parse().unwrap();
                    out.push((l.ts_ns, l.cpu, n, n));
                }
                "proxysched_sched_donor" => {
                    let c: u32 = f["curr_pid"].parse().unwrap();
                    let d: u32 = f["donor_pid"].parse().unwrap();
                    out.push((l.ts_ns, l.cpu, c, d));
                }
                _ => {}
            }
        }
        out
    }

    /// The pid the trace gives `comm`.
    pub fn pid_of(&self, comm: &str) -> Option<u32> {
        self.lines.iter().find_map(|l| {
            let f = l.fields();
            match (f.get("comm"), f.get("pid")) {
                (Some(&c), Some(p)) if c == comm => p.parse().ok(),
                _ => None,
            }
        })
    }
}

fn err<T>(line_no: usize, line: &str, what: impl std::fmt::Display) -> Result<T, String> {
    Err(format!("line {line_no}: {what}: {line:?}"))
}

/// Check ftrace text; returns its parsed lines.
pub fn check_ftrace(text: &str) -> Result<Ftrace, String> {
    if !text.starts_with("# tracer") {
        return Err("the text does not start with '# tracer'".into());
    }
    let new = Regex::new(PERFETTO_LINE).unwrap();
    let old = Regex::new(PERFETTO_LINE_OLD).unwrap();
    let ours = Regex::new(OUR_LINE).unwrap();
    let entries_re =
        Regex::new(r"^# entries-in-buffer/entries-written: (\d+)/(\d+)\s+#P:(\d+)\s*$").unwrap();
    let mut trace = Ftrace::default();
    let mut entries = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.starts_with('#') {
            if let Some(c) = entries_re.captures(line) {
                entries = Some(c[1].parse::<u64>().unwrap());
                trace.nr_cpus = c[3].parse().unwrap();
            }
            continue;
        }
        if line.is_empty() {
            return err(n, line, "empty line");
        }
        if !new.is_match(line) {
            return err(n, line, "does not match Perfetto's line pattern");
        }
        if !old.is_match(line) {
            return err(
                n,
                line,
                "does not match Perfetto's older (4-flag) line pattern",
            );
        }
        let Some(c) = ours.captures(line) else {
            return err(n, line, "not in the kernel's layout");
        };
        let comm = c[1].to_string();
        let pid: u32 = c[2].parse().map_err(|e| format!("line {n}: pid: {e}"))?;
        let tgid = &c[3];
        if pid == 0 && !tgid.starts_with('-') || pid != 0 && tgid.parse::<u32>() != Ok(pid) {
            return err(n, line, "tgid is neither the pid nor unknown for idle");
        }
        let ts_ns =
            c[6].parse::<u64>().unwrap() * 1_000_000_000 + c[7].parse::<u64>().unwrap() * 1000;
        trace.lines.push(Line {
            comm,
            pid,
            cpu: c[4].parse().unwrap(),
            ts_ns,
            event: c[8].to_string(),
            args: c[9].to_string(),
        });
    }
    let body = trace.lines.len() as u64;
    match entries {
        Some(e) if e == body => {}
        Some(e) => return Err(format!("the header says {e} entries, the text has {body}")),
        None => return Err("no entries-in-buffer line in the header".into()),
    }
    check_schedule(&trace)?;
    Ok(trace)
}

/// The per-CPU state machine of `sched_switch` and the lines' tasks.
fn check_schedule(t: &Ftrace) -> Result<(), String> {
    let nr = t
        .nr_cpus
        .max(1 + t.lines.iter().map(|l| l.cpu).max().unwrap_or(0)) as usize;
    let mut curr = vec![0u32; nr];
    let mut last_ts = vec![0u64; nr];
    let mut global_ts = 0;
    let mut comms: BTreeMap<u32, String> = BTreeMap::new();
    let states = ["R", "R+", "S", "D", "T", "t", "X", "Z", "P", "I"];
    for (i, l) in t.lines.iter().enumerate() {
        let at = || {
            format!(
                "entry {} ({} at {} ns on cpu {})",
                i + 1,
                l.event,
                l.ts_ns,
                l.cpu
            )
        };
        let cpu = l.cpu as usize;
        if l.ts_ns < last_ts[cpu] || l.ts_ns < global_ts {
            return Err(format!("{}: time goes backwards", at()));
        }
        last_ts[cpu] = l.ts_ns;
        global_ts = l.ts_ns;
        if l.pid != curr[cpu] {
            return Err(format!(
                "{}: the line's task is pid {} but cpu {} runs pid {}",
                at(),
                l.pid,
                l.cpu,
                curr[cpu]
            ));
        }
        if l.pid == 0 {
            if l.comm != "<idle>" {
                return Err(format!("{}: pid 0 is not <idle>", at()));
            }
        } else if let Some(c) = comms.insert(l.pid, l.comm.clone()) {
            if c != l.comm {
                return Err(format!("{}: pid {} was {c}, now {}", at(), l.pid, l.comm));
            }
        }
        let f = l.fields();
        let num = |k: &str| -> Result<i64, String> {
            f.get(k)
                .ok_or_else(|| format!("{}: no {k}=", at()))?
                .parse::<i64>()
                .map_err(|e| format!("{}: {k}: {e}", at()))
        };
        match l.event.as_str() {
            "sched_switch" => {
                if !l.args.contains(" ==> ") {
                    return Err(format!("{}: no ' ==> '", at()));
                }
                let (prev, next) = (num("prev_pid")? as u32, num("next_pid")? as u32);
                num("prev_prio")?;
                num("next_prio")?;
                let state = f.get("prev_state").copied().unwrap_or("");
                if !states.contains(&state) {
                    return Err(format!("{}: prev_state {state:?}", at()));
                }
                if !f.contains_key("prev_comm") || !f.contains_key("next_comm") {
                    return Err(format!("{}: a comm is missing", at()));
                }
                if prev != curr[cpu] {
                    return Err(format!(
                        "{}: prev_pid {prev} but the cpu ran pid {}",
                        at(),
                        curr[cpu]
                    ));
                }
                if next != 0 {
                    if let Some(other) = curr.iter().position(|&p| p == next) {
                        if other != cpu {
                            return Err(format!(
                                "{}: pid {next} already runs on cpu {other}",
                                at()
                            ));
                        }
                    }
                }
                curr[cpu] = next;
            }
            "sched_waking" | "sched_wakeup" | "sched_wakeup_new" => {
                num("pid")?;
                num("prio")?;
                let target = f.get("target_cpu").copied().unwrap_or("");
                if target.len() < 3 || target.parse::<u32>().is_err() {
                    return Err(format!("{}: target_cpu {target:?}", at()));
                }
                let pid = num("pid")? as u32;
                if l.event == "sched_wakeup_new" && curr.contains(&pid) {
                    return Err(format!("{}: a new task that already runs", at()));
                }
            }
            "sched_migrate_task" => {
                for k in ["pid", "prio", "orig_cpu", "dest_cpu"] {
                    num(k)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// What a valid Chrome JSON trace contained.
#[derive(Debug)]
pub struct Chrome {
    pub events: Vec<Value>,
    pub systrace: Option<Ftrace>,
}

impl Chrome {
    /// Completed slices: (pid, tid, name, begin ns, end ns), from B/E pairs and X events.
    pub fn slices(&self) -> Vec<(u64, u64, String, u64, u64)> {
        let mut open: BTreeMap<(u64, u64), Vec<(String, u64)>> = BTreeMap::new();
        let mut out = Vec::new();
        for e in &self.events {
            let key = (
                e["pid"].as_u64().unwrap_or(0),
                e["tid"].as_u64().unwrap_or(0),
            );
            match e["ph"].as_str() {
                Some("B") => open.entry(key).or_default().push((
                    e["name"].as_str().unwrap_or("").to_string(),
                    ts_ns(&e["ts"]),
                )),
                Some("E") => {
                    if let Some((name, b)) = open.get_mut(&key).and_then(Vec::pop) {
                        out.push((key.0, key.1, name, b, ts_ns(&e["ts"])));
                    }
                }
                Some("X") => {
                    let b = ts_ns(&e["ts"]);
                    let name = e["name"].as_str().unwrap_or("").to_string();
                    out.push((key.0, key.1, name, b, b + ts_ns(&e["dur"])));
                }
                _ => {}
            }
        }
        out
    }
}

/// µs (a JSON number) to ns, exactly for up to 3 decimals.
pub fn ts_ns(v: &Value) -> u64 {
    let s = v.to_string();
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let frac = format!("{frac:0<3}");
    int.parse::<u64>().unwrap() * 1000 + frac[..3].parse::<u64>().unwrap()
}

/// A slice event on a track: (ts, index in the file, ph, name, end of an X slice).
type TrackEvent = (u64, usize, char, String, u64);

/// Check a Chrome JSON trace.
pub fn check_chrome(text: &str) -> Result<Chrome, String> {
    if !text.trim_start().starts_with("{\"") {
        return Err("the file does not start with '{\"'".into());
    }
    let ts_re = Regex::new(r#""(ts|dur)":(-?[0-9.eE+-]+)"#).unwrap();
    let us_re = Regex::new(r"^\d+(\.\d{1,3})?$").unwrap();
    for c in ts_re.captures_iter(text) {
        if !us_re.is_match(&c[2]) {
            return Err(format!(
                "\"{}\":{} is not µs with at most 3 decimals",
                &c[1], &c[2]
            ));
        }
    }
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let events = doc["traceEvents"]
        .as_array()
        .ok_or("no traceEvents array")?
        .clone();
    let systrace = match doc.get("systemTraceEvents") {
        None => None,
        Some(Value::String(s)) => {
            Some(check_ftrace(s).map_err(|e| format!("systemTraceEvents: {e}"))?)
        }
        Some(_) => return Err("systemTraceEvents is not a string".into()),
    };
    // Per track: (ts, seq, is_begin, name, end for X).
    let mut tracks: BTreeMap<(u64, u64), Vec<TrackEvent>> = BTreeMap::new();
    let mut flows_v1: BTreeMap<String, Vec<(char, u64, usize)>> = BTreeMap::new();
    let mut flows_v2: BTreeMap<u64, Vec<(bool, u64, usize)>> = BTreeMap::new();
    let mut slice_tids = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let at = || format!("event {i} ({e})");
        let obj = e
            .as_object()
            .ok_or_else(|| format!("{}: not an object", at()))?;
        if obj.values().any(Value::is_array) {
            return Err(format!("{}: an array-valued member", at()));
        }
        let ph = obj
            .get("ph")
            .and_then(Value::as_str)
            .filter(|p| p.len() == 1)
            .ok_or_else(|| format!("{}: no one-character ph", at()))?
            .chars()
            .next()
            .unwrap();
        let pid = obj.get("pid").and_then(Value::as_u64);
        let tid = obj.get("tid").and_then(Value::as_u64);
        if ph == 'M' {
            let name = obj.get("name").and_then(Value::as_str).unwrap_or("");
            if matches!(name, "process_name" | "thread_name")
                && e["args"]["name"].as_str().is_none()
            {
                return Err(format!("{}: a name without args.name", at()));
            }
            continue;
        }
        let ts = obj
            .get("ts")
            .filter(|v| v.as_f64().is_some_and(|t| t >= 0.0))
            .ok_or_else(|| format!("{}: no numeric ts", at()))?;
        let ts = ts_ns(ts);
        let (Some(pid), Some(tid)) = (pid, tid) else {
            return Err(format!("{}: no numeric pid and tid", at()));
        };
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match ph {
            'B' | 'E' => tracks
                .entry((pid, tid))
                .or_default()
                .push((ts, i, ph, name, 0)),
            'X' => {
                let dur = obj
                    .get("dur")
                    .filter(|d| d.as_f64().is_some_and(|d| d >= 0.0))
                    .ok_or_else(|| format!("{}: X without dur >= 0", at()))?;
                tracks
                    .entry((pid, tid))
                    .or_default()
                    .push((ts, i, 'X', name, ts + ts_ns(dur)));
            }
            'C' => {
                let args = obj
                    .get("args")
                    .and_then(Value::as_object)
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| format!("{}: a counter without args", at()))?;
                for (k, v) in args {
                    let numeric = v.is_number()
                        || v.as_str().is_some_and(|s| s.trim().parse::<f64>().is_ok());
                    if !numeric {
                        return Err(format!("{}: counter {k} is not numeric", at()));
                    }
                }
            }
            's' | 't' | 'f' => {
                let id = obj
                    .get("id")
                    .map(|v| v.to_string())
                    .ok_or_else(|| format!("{}: a flow without id", at()))?;
                flows_v1.entry(id).or_default().push((ph, ts, i));
            }
            'i' | 'I' | 'b' | 'e' | 'n' | 'R' | 'P' | 'N' | 'O' | 'D' => {}
            _ => return Err(format!("{}: unknown ph {ph:?}", at())),
        }
        if let Some(id) = obj.get("bind_id") {
            let id = id
                .as_u64()
                .ok_or_else(|| format!("{}: bind_id not a number", at()))?;
            let out = obj.get("flow_out").and_then(Value::as_bool) == Some(true);
            let inn = obj.get("flow_in").and_then(Value::as_bool) == Some(true);
            if out == inn {
                return Err(format!("{}: a flow end that is neither out nor in", at()));
            }
            flows_v2.entry(id).or_default().push((out, ts, i));
        }
        if matches!(ph, 'B' | 'X') && tid != pid {
            slice_tids.push(tid);
        }
    }
    for ((pid, tid), evs) in &mut tracks {
        // Perfetto sorts by timestamp, keeping the file order of equal ones.
        evs.sort_by_key(|e| (e.0, e.1));
        let mut stack: Vec<(String, Option<u64>)> = Vec::new();
        for (ts, i, ph, name, end) in evs.iter() {
            // X slices that ended by now are closed.
            while let Some((_, Some(e))) = stack.last() {
                if *e <= *ts {
                    stack.pop();
                } else {
                    break;
                }
            }
            match ph {
                'B' => stack.push((name.clone(), None)),
                'E' => match stack.pop() {
                    Some((open, None)) if name.is_empty() || *name == open => {}
                    Some((open, None)) => {
                        return Err(format!(
                            "track {pid}/{tid}: event {i} ends {name:?} but {open:?} is open"
                        ))
                    }
                    Some((open, Some(_))) => {
                        return Err(format!(
                            "track {pid}/{tid}: event {i} ends a B slice inside X {open:?}"
                        ))
                    }
                    None => return Err(format!("track {pid}/{tid}: event {i} ends no open slice")),
                },
                _ => {
                    if let Some((open, Some(e))) = stack.last() {
                        if *end > *e {
                            return Err(format!(
                                "track {pid}/{tid}: X event {i} overlaps {open:?}"
                            ));
                        }
                    }
                    stack.push((name.clone(), Some(*end)));
                }
            }
        }
        if let Some((open, _)) = stack.iter().find(|(_, e)| e.is_none()) {
            return Err(format!("track {pid}/{tid}: slice {open:?} is never closed"));
        }
    }
    for (id, ends) in &flows_v1 {
        let starts = ends.iter().filter(|e| e.0 == 's').count();
        let finishes = ends.iter().filter(|e| e.0 == 'f').count();
        if starts != 1 || finishes != 1 {
            return Err(format!("flow {id}: {starts} start(s), {finishes} end(s)"));
        }
    }
    for (id, ends) in &flows_v2 {
        let outs: Vec<_> = ends.iter().filter(|e| e.0).collect();
        let ins: Vec<_> = ends.iter().filter(|e| !e.0).collect();
        if outs.len() != 1 || ins.len() != 1 {
            return Err(format!(
                "flow {id}: {} flow_out, {} flow_in",
                outs.len(),
                ins.len()
            ));
        }
        if (outs[0].1, outs[0].2) > (ins[0].1, ins[0].2) {
            return Err(format!("flow {id}: it ends before it starts"));
        }
    }
    if let Some(sys) = &systrace {
        for tid in slice_tids {
            if sys.lines.iter().any(|l| u64::from(l.pid) == tid) {
                return Err(format!(
                    "synthetic thread {tid} is also a task of the ftrace text"
                ));
            }
        }
    }
    Ok(Chrome { events, systrace })
}
