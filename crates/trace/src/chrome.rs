//! Chrome trace JSON for Perfetto, written while the simulation runs.
//!
//! The file is `{"displayTimeUnit":"ns","traceEvents":[...],"systemTraceEvents":"..."}`:
//!
//! - **`systemTraceEvents`** holds the ftrace text of [`crate::ftrace`], which Perfetto's
//!   systrace importer turns into the CPU tracks, thread states and wakeups. It is written to
//!   a scratch file during the run (lines already JSON-escaped) and copied after the events at
//!   the end, when the header's entry count is known; memory stays bounded.
//! - **Slices** (`B`/`E` pairs, whose timestamps Perfetto reads exactly, unlike an `X` event's
//!   `dur`) on tracks that only ever nest: every task that takes part in locking gets, in its
//!   own process (pid = its pid), up to three synthetic threads created on first use:
//!   `<task> locks` ("holding M"; when mutexes are released out of order, the slices above the
//!   released one are closed and reopened at the same instant so that they stay nested),
//!   `<task> blocked` ("blocked on M", with a nested "donating to O" while the owner O runs on
//!   this task's scheduling context) and `<task> proxy` ("running as proxy for D").
//!   Synthetic thread and process ids start at 2^22 (Linux's `PID_MAX_LIMIT`), so they never
//!   collide with a task's pid. Slices still open at the end are closed at the end time.
//! - **Flows** (v2: `bind_id` with `flow_out`/`flow_in`) from each "donating to O" slice to
//!   the "running as proxy for D" slice it pays for. Both ends are written at the same
//!   instant, the start (`flow_out`) first.
//! - **Counters**: `effective prio` per task (its kernel prio from `TaskNew`, `SchedSetattr`
//!   and priority-inheritance changes), `dl runtime_ns` per SCHED_DEADLINE task, and
//!   `cpuN nr_running` per CPU in a `runqueues` process. Approximations: the DL remaining
//!   runtime is exact at replenishment-timer events (the full budget) and throttling (0), and
//!   estimated in between by subtracting the time the task spent as a CPU's donor (a budget
//!   refilled at wakeup by the CBS rule is not traced and shows once the task next runs);
//!   `nr_running` counts runnable tasks (running or waiting) on the CPU as the switch and
//!   wakeup events place them, without blocked proxy-execution donors that the kernel keeps
//!   queued; it is written once per instant, the value at the end of the instant.
//! - **Instants**: "deadline miss" on the task's thread, "deadlock" on the global track.
//! - **Names**: `process_name` and `thread_name` metadata for every task and synthetic track.
//!
//! Timestamps are microseconds: an integer when the time is a whole microsecond, otherwise
//! with three decimals written from the integer nanoseconds (`1234.567`), which Perfetto's
//! JSON tokenizer reads exactly. (Older Perfetto releases parse a fractional `ts` as a double
//! and truncate, which may put such events 1 ns early.)

use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use crate::ftrace::{header, FtraceWriter};
use crate::{Event, PrevState, Sink, TaskId};

/// The first synthetic pid/tid: Linux's `PID_MAX_LIMIT`, above any real pid.
pub const SYNTHETIC_ID_BASE: u32 = 1 << 22;

const BUF_CAPACITY: usize = 256 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Locks,
    Blocked,
    Proxy,
}

/// A slice to begin: category, name, string arguments, and the flow end it carries
/// (id, true for the start).
struct Slice<'a> {
    cat: &'a str,
    name: &'a str,
    args: &'a [(&'a str, &'a str)],
    flow: Option<(u64, bool)>,
}

#[derive(Default)]
struct TaskTracks {
    name: String,
    locks: Option<u32>,
    blocked: Option<u32>,
    proxy: Option<u32>,
    /// Open "holding M" slices on the locks track, outermost first.
    held: Vec<u32>,
    /// Open "blocked on M" slice on the blocked track.
    blocked_on: Option<u32>,
    /// Open "donating to O" slice, above `blocked_on` on the blocked track.
    donating: Option<TaskId>,
    /// Open "running as proxy for D" slice on the proxy track.
    proxying: Option<TaskId>,
    /// The CPU whose `nr_running` counts this task.
    rq: Option<u32>,
    /// Donor of a CPU (its scheduling context is the one being charged).
    is_donor: bool,
    /// Known remaining DL runtime, and since when it has been charged (while donor).
    dl_runtime: Option<i64>,
    dl_since: Option<u64>,
}

#[derive(Clone, Copy, Default)]
struct CpuState {
    curr: Option<TaskId>,
    donor: Option<TaskId>,
    nr_running: u32,
    /// The last value written for this CPU's counter.
    written: Option<u32>,
    dirty: bool,
}

/// Streams Chrome trace JSON into `out` (and the ftrace text into the scratch `body` until
/// [`ChromeWriter::finish`] appends it). The first write error is kept and reported by
/// `finish`; nothing is written after it.
pub struct ChromeWriter<W: Write, T: Read + Write + Seek> {
    out: BufWriter<W>,
    systrace: FtraceWriter<BufWriter<T>>,
    first: bool,
    error: Option<io::Error>,
    buf: Vec<u8>,
    tasks: Vec<TaskTracks>,
    cpus: Vec<CpuState>,
    mutexes: Vec<String>,
    next_id: u32,
    next_flow: u64,
    rq_pid: Option<u32>,
    /// The instant whose counter changes are still pending.
    instant: u64,
    dirty: Vec<u32>,
}

impl<W: Write, T: Read + Write + Seek> ChromeWriter<W, T> {
    /// Start the JSON document in `out`; `body` is scratch space for the ftrace text (a file,
    /// so that memory stays bounded).
    pub fn new(out: W, body: T, nr_cpus: u32) -> io::Result<ChromeWriter<W, T>> {
        let mut out = BufWriter::with_capacity(BUF_CAPACITY, out);
        out.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[")?;
        let body = BufWriter::with_capacity(BUF_CAPACITY, body);
        Ok(ChromeWriter {
            out,
            systrace: FtraceWriter::new(body, nr_cpus).json_escaped(),
            first: true,
            error: None,
            buf: Vec::with_capacity(512),
            tasks: Vec::new(),
            cpus: vec![CpuState::default(); nr_cpus as usize],
            mutexes: Vec::new(),
            next_id: SYNTHETIC_ID_BASE,
            next_flow: 1,
            rq_pid: None,
            instant: 0,
            dirty: Vec::new(),
        })
    }

    /// Close what is open at `end_ns`, append the ftrace text and end the document. Returns
    /// the output, or the first error met while writing.
    pub fn finish(mut self, end_ns: u64) -> io::Result<W> {
        self.flush_counters();
        for i in 0..self.tasks.len() {
            let t = TaskId(i as u32);
            if self.tasks[i].proxying.take().is_some() {
                self.end_slice(end_ns, t, Kind::Proxy);
            }
            if self.tasks[i].donating.take().is_some() {
                self.end_slice(end_ns, t, Kind::Blocked);
            }
            if self.tasks[i].blocked_on.take().is_some() {
                self.end_slice(end_ns, t, Kind::Blocked);
            }
            for _ in 0..std::mem::take(&mut self.tasks[i].held).len() {
                self.end_slice(end_ns, t, Kind::Locks);
            }
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let (entries, nr_cpus) = (self.systrace.entries(), self.systrace.nr_cpus());
        let mut body = self
            .systrace
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?;
        let len = body.stream_position()?;
        body.seek(SeekFrom::Start(0))?;
        let out = &mut self.out;
        out.write_all(b"\n],\n\"systemTraceEvents\":\"")?;
        out.write_all(header(entries, nr_cpus).replace('\n', "\\n").as_bytes())?;
        let copied = io::copy(&mut (&mut body).take(len), out)?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the scratch file of the ftrace text was cut short",
            ));
        }
        out.write_all(b"\"}\n")?;
        self.out.into_inner().map_err(|e| e.into_error())
    }

    // ----- writing ----------------------------------------------------------------------------

    /// Write one event object; `f` writes its members after `{"ph":"<ph>"`.
    fn event(&mut self, ph: char, f: impl FnOnce(&mut Vec<u8>)) {
        if self.error.is_some() {
            return;
        }
        let mut b = std::mem::take(&mut self.buf);
        b.clear();
        b.extend_from_slice(if self.first { b"\n" } else { b",\n" });
        self.first = false;
        b.extend_from_slice(b"{\"ph\":\"");
        b.push(ph as u8);
        b.push(b'"');
        f(&mut b);
        b.push(b'}');
        if let Err(e) = self.out.write_all(&b) {
            self.error = Some(e);
        }
        self.buf = b;
    }

    fn metadata(&mut self, what: &str, pid: u32, tid: u32, name: &str) {
        self.event('M', |b| {
            let _ = write!(
                b,
                ",\"pid\":{pid},\"tid\":{tid},\"name\":\"{what}\",\"args\":{{\"name\":"
            );
            json_str(b, name);
            b.push(b'}');
        });
    }

    fn counter(&mut self, at: u64, pid: u32, name: &str, key: &str, value: i64) {
        self.event('C', |b| {
            b.extend_from_slice(b",\"ts\":");
            ts(b, at);
            let _ = write!(b, ",\"pid\":{pid},\"tid\":{pid},\"name\":");
            json_str(b, name);
            let _ = write!(b, ",\"args\":{{\"{key}\":{value}}}");
        });
    }

    fn alloc_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The synthetic thread of `kind` for task `t`, created (and named) on first use.
    fn track(&mut self, t: TaskId, kind: Kind) -> u32 {
        let tt = &self.tasks[t.index()];
        let slot = match kind {
            Kind::Locks => tt.locks,
            Kind::Blocked => tt.blocked,
            Kind::Proxy => tt.proxy,
        };
        if let Some(tid) = slot {
            return tid;
        }
        let tid = self.alloc_id();
        let tt = &mut self.tasks[t.index()];
        let suffix = match kind {
            Kind::Locks => {
                tt.locks = Some(tid);
                "locks"
            }
            Kind::Blocked => {
                tt.blocked = Some(tid);
                "blocked"
            }
            Kind::Proxy => {
                tt.proxy = Some(tid);
                "proxy"
            }
        };
        let name = format!("{} {suffix}", tt.name);
        self.metadata("thread_name", t.pid(), tid, &name);
        tid
    }

    fn begin_slice(&mut self, at: u64, t: TaskId, kind: Kind, s: Slice<'_>) {
        let Slice {
            cat,
            name,
            args,
            flow,
        } = s;
        let tid = self.track(t, kind);
        let pid = t.pid();
        self.event('B', |b| {
            b.extend_from_slice(b",\"ts\":");
            ts(b, at);
            let _ = write!(
                b,
                ",\"pid\":{pid},\"tid\":{tid},\"cat\":\"{cat}\",\"name\":"
            );
            json_str(b, name);
            if !args.is_empty() {
                b.extend_from_slice(b",\"args\":{");
                for (i, (k, v)) in args.iter().enumerate() {
                    if i > 0 {
                        b.push(b',');
                    }
                    json_str(b, k);
                    b.push(b':');
                    json_str(b, v);
                }
                b.push(b'}');
            }
            if let Some((id, out)) = flow {
                let dir = if out { "flow_out" } else { "flow_in" };
                let _ = write!(b, ",\"bind_id\":{id},\"{dir}\":true");
            }
        });
    }

    fn end_slice(&mut self, at: u64, t: TaskId, kind: Kind) {
        let tid = self.track(t, kind);
        let pid = t.pid();
        self.event('E', |b| {
            b.extend_from_slice(b",\"ts\":");
            ts(b, at);
            let _ = write!(b, ",\"pid\":{pid},\"tid\":{tid}");
        });
    }

    fn name(&self, t: TaskId) -> String {
        self.tasks
            .get(t.index())
            .map_or_else(|| t.to_string(), |tt| tt.name.clone())
    }

    fn mutex(&self, m: u32) -> String {
        self.mutexes
            .get(m as usize)
            .cloned()
            .unwrap_or_else(|| format!("mutex {m}"))
    }

    // ----- state ------------------------------------------------------------------------------

    fn enqueue(&mut self, t: TaskId, cpu: u32) {
        let Some(tt) = self.tasks.get_mut(t.index()) else {
            return;
        };
        let old = tt.rq.replace(cpu);
        if old == Some(cpu) {
            return;
        }
        if let Some(o) = old {
            self.add_nr_running(o, -1);
        }
        self.add_nr_running(cpu, 1);
    }

    fn dequeue(&mut self, t: TaskId) {
        if let Some(o) = self.tasks.get_mut(t.index()).and_then(|tt| tt.rq.take()) {
            self.add_nr_running(o, -1);
        }
    }

    fn add_nr_running(&mut self, cpu: u32, delta: i32) {
        let Some(c) = self.cpus.get_mut(cpu as usize) else {
            return;
        };
        c.nr_running = c.nr_running.saturating_add_signed(delta);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(cpu);
        }
    }

    /// Write the counters that changed during the pending instant.
    fn flush_counters(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        let pid = match self.rq_pid {
            Some(p) => p,
            None => {
                let p = self.alloc_id();
                self.rq_pid = Some(p);
                self.metadata("process_name", p, p, "runqueues");
                p
            }
        };
        for &cpu in &dirty {
            let c = &mut self.cpus[cpu as usize];
            c.dirty = false;
            let n = c.nr_running;
            if c.written != Some(n) {
                c.written = Some(n);
                self.counter(
                    self.instant,
                    pid,
                    &format!("cpu{cpu}"),
                    "nr_running",
                    n.into(),
                );
            }
        }
        dirty.clear();
        self.dirty = dirty;
    }

    fn dl_counter(&mut self, at: u64, t: TaskId) {
        if let Some(r) = self.tasks[t.index()].dl_runtime {
            self.counter(at, t.pid(), "dl", "runtime_ns", r);
        }
    }

    /// Charge the DL runtime `t` used as a donor up to `at`.
    fn dl_settle(&mut self, at: u64, t: TaskId) -> bool {
        let tt = &mut self.tasks[t.index()];
        match (tt.dl_runtime.as_mut(), tt.dl_since) {
            (Some(r), Some(since)) => {
                *r -= at.saturating_sub(since) as i64;
                tt.dl_since = Some(at);
                true
            }
            _ => false,
        }
    }

    /// `cpu` now runs `curr` on `donor`'s scheduling context.
    fn set_context(&mut self, at: u64, cpu: u32, curr: Option<TaskId>, donor: Option<TaskId>) {
        let Some(&old) = self.cpus.get(cpu as usize) else {
            return;
        };
        if (old.curr, old.donor) == (curr, donor) {
            return;
        }
        if old.donor != donor {
            if let Some(d) = old.donor {
                if self.dl_settle(at, d) {
                    self.dl_counter(at, d);
                }
                let tt = &mut self.tasks[d.index()];
                tt.dl_since = None;
                tt.is_donor = false;
            }
            if let Some(d) = donor {
                let tt = &mut self.tasks[d.index()];
                tt.is_donor = true;
                if tt.dl_runtime.is_some() {
                    tt.dl_since = Some(at);
                }
            }
        }
        if let (Some(c), Some(d)) = (old.curr, old.donor) {
            if c != d {
                self.end_proxy(at, c, d);
            }
        }
        if let (Some(c), Some(d)) = (curr, donor) {
            if c != d {
                self.begin_proxy(at, c, d);
            }
        }
        let s = &mut self.cpus[cpu as usize];
        s.curr = curr;
        s.donor = donor;
    }

    fn begin_proxy(&mut self, at: u64, owner: TaskId, donor: TaskId) {
        if self.tasks[donor.index()].donating.is_some() {
            self.end_donating(at, donor);
        }
        if self.tasks[owner.index()].proxying.take().is_some() {
            self.end_slice(at, owner, Kind::Proxy);
        }
        let flow = self.next_flow;
        self.next_flow += 1;
        let (on, dn) = (self.name(owner), self.name(donor));
        self.begin_slice(
            at,
            donor,
            Kind::Blocked,
            Slice {
                cat: "proxy",
                name: &format!("donating to {on}"),
                args: &[("owner", &on)],
                flow: Some((flow, true)),
            },
        );
        self.tasks[donor.index()].donating = Some(owner);
        self.begin_slice(
            at,
            owner,
            Kind::Proxy,
            Slice {
                cat: "proxy",
                name: &format!("running as proxy for {dn}"),
                args: &[("donor", &dn)],
                flow: Some((flow, false)),
            },
        );
        self.tasks[owner.index()].proxying = Some(donor);
    }

    fn end_proxy(&mut self, at: u64, owner: TaskId, donor: TaskId) {
        if self.tasks[owner.index()].proxying == Some(donor) {
            self.tasks[owner.index()].proxying = None;
            self.end_slice(at, owner, Kind::Proxy);
        }
        if self.tasks[donor.index()].donating == Some(owner) {
            self.end_donating(at, donor);
        }
    }

    fn end_donating(&mut self, at: u64, t: TaskId) {
        if self.tasks[t.index()].donating.take().is_some() {
            self.end_slice(at, t, Kind::Blocked);
        }
    }

    fn end_blocked(&mut self, at: u64, t: TaskId) {
        self.end_donating(at, t);
        if self.tasks[t.index()].blocked_on.take().is_some() {
            self.end_slice(at, t, Kind::Blocked);
        }
    }

    fn holding(&self, m: u32) -> String {
        format!("holding {}", self.mutex(m))
    }
}

impl<W: Write, T: Read + Write + Seek> Sink for ChromeWriter<W, T> {
    fn record(&mut self, at: u64, event: &Event) {
        self.systrace.record(at, event);
        if at != self.instant {
            self.flush_counters();
            self.instant = at;
        }
        match event {
            Event::TaskNew {
                task, name, prio, ..
            } => {
                let i = task.index();
                if self.tasks.len() <= i {
                    self.tasks.resize_with(i + 1, TaskTracks::default);
                }
                self.tasks[i].name = name.clone();
                let pid = task.pid();
                self.metadata("process_name", pid, pid, name);
                self.metadata("thread_name", pid, pid, name);
                self.counter(at, pid, "effective", "prio", (*prio).into());
            }
            Event::MutexNew { mutex, name } => {
                let i = *mutex as usize;
                if self.mutexes.len() <= i {
                    self.mutexes.resize(i + 1, String::new());
                }
                self.mutexes[i] = name.clone();
            }
            Event::SchedSwitch {
                cpu,
                prev,
                prev_state,
                next,
                donor,
                ..
            } => {
                if let Some(p) = *prev {
                    if *prev_state != PrevState::Preempted {
                        self.dequeue(p);
                    }
                }
                if let Some(n) = *next {
                    self.enqueue(n, *cpu);
                }
                self.set_context(at, *cpu, *next, *donor);
            }
            Event::SchedDonor { cpu, curr, donor } => self.set_context(at, *cpu, *curr, *donor),
            Event::SchedWakeup { task, cpu, .. } | Event::SchedWakeupNew { task, cpu, .. } => {
                self.enqueue(*task, *cpu)
            }
            Event::SchedMigrateTask { task, dest_cpu, .. }
                if self.tasks.get(task.index()).is_some_and(|t| t.rq.is_some()) =>
            {
                self.enqueue(*task, *dest_cpu);
            }
            Event::LockContend { task, mutex, owner } => {
                self.end_blocked(at, *task);
                let (m, o) = (self.mutex(*mutex), self.name(*owner));
                self.begin_slice(
                    at,
                    *task,
                    Kind::Blocked,
                    Slice {
                        cat: "lock",
                        name: &format!("blocked on {m}"),
                        args: &[("mutex", &m), ("owner", &o)],
                        flow: None,
                    },
                );
                self.tasks[task.index()].blocked_on = Some(*mutex);
            }
            Event::LockAcquire { task, mutex } => {
                self.end_blocked(at, *task);
                let (m, name) = (self.mutex(*mutex), self.holding(*mutex));
                self.begin_slice(
                    at,
                    *task,
                    Kind::Locks,
                    Slice {
                        cat: "lock",
                        name: &name,
                        args: &[("mutex", &m)],
                        flow: None,
                    },
                );
                self.tasks[task.index()].held.push(*mutex);
            }
            Event::LockRelease { task, mutex, .. } => {
                let held = &self.tasks[task.index()].held;
                if let Some(pos) = held.iter().rposition(|m| m == mutex) {
                    let above: Vec<u32> = held[pos + 1..].to_vec();
                    for _ in pos..held.len() {
                        self.end_slice(at, *task, Kind::Locks);
                    }
                    let held = &mut self.tasks[task.index()].held;
                    held.truncate(pos);
                    for m in above {
                        let (mn, name) = (self.mutex(m), self.holding(m));
                        self.begin_slice(
                            at,
                            *task,
                            Kind::Locks,
                            Slice {
                                cat: "lock",
                                name: &name,
                                args: &[("mutex", &mn)],
                                flow: None,
                            },
                        );
                        self.tasks[task.index()].held.push(m);
                    }
                }
            }
            Event::PiSetprio { task, new_prio, .. } => {
                self.counter(at, task.pid(), "effective", "prio", (*new_prio).into())
            }
            Event::SchedSetattr { task, prio, .. } => {
                self.counter(at, task.pid(), "effective", "prio", (*prio).into())
            }
            Event::DlReplenish {
                task, runtime_ns, ..
            } => {
                let tt = &mut self.tasks[task.index()];
                tt.dl_runtime = Some(*runtime_ns);
                tt.dl_since = tt.is_donor.then_some(at);
                self.dl_counter(at, *task);
            }
            Event::DlThrottle { task, .. } => {
                let tt = &mut self.tasks[task.index()];
                tt.dl_runtime = Some(0);
                tt.dl_since = None;
                self.dl_counter(at, *task);
            }
            Event::ActivationEnd {
                task,
                deadline_ns: Some(d),
                missed: true,
            } => {
                let (pid, late) = (task.pid(), at.saturating_sub(*d));
                self.event('i', |b| {
                    b.extend_from_slice(b",\"ts\":");
                    ts(b, at);
                    let _ = write!(
                        b,
                        ",\"pid\":{pid},\"tid\":{pid},\"s\":\"t\",\"cat\":\"deadline\",\
                         \"name\":\"deadline miss\",\"args\":{{\"lateness_ns\":{late}}}"
                    );
                });
            }
            Event::Deadlock { tasks, mutexes } => {
                let names: Vec<String> = tasks.iter().map(|&t| self.name(t)).collect();
                let locks: Vec<String> = mutexes.iter().map(|&m| self.mutex(m)).collect();
                let (names, locks) = (names.join(", "), locks.join(", "));
                self.event('i', |b| {
                    b.extend_from_slice(b",\"ts\":");
                    ts(b, at);
                    b.extend_from_slice(
                        b",\"pid\":0,\"tid\":0,\"s\":\"g\",\"cat\":\"lock\",\"name\":\"deadlock\",\
                          \"args\":{\"tasks\":",
                    );
                    json_str(b, &names);
                    b.extend_from_slice(b",\"mutexes\":");
                    json_str(b, &locks);
                    b.push(b'}');
                });
            }
            _ => {}
        }
    }
}

/// A timestamp in µs: `12` or `12.345`, exact from integer ns.
fn ts(b: &mut Vec<u8>, ns: u64) {
    let (us, frac) = (ns / 1000, ns % 1000);
    let _ = if frac == 0 {
        write!(b, "{us}")
    } else {
        write!(b, "{us}.{frac:03}")
    };
}

/// `s` as a JSON string literal.
fn json_str(b: &mut Vec<u8>, s: &str) {
    b.push(b'"');
    for c in s.chars() {
        match c {
            '"' => b.extend_from_slice(b"\\\""),
            '\\' => b.extend_from_slice(b"\\\\"),
            '\n' => b.extend_from_slice(b"\\n"),
            '\t' => b.extend_from_slice(b"\\t"),
            '\r' => b.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(b, "\\u{:04x}", c as u32);
            }
            c => {
                let mut tmp = [0u8; 4];
                b.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
    b.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::{json_str, ts};

    #[test]
    fn timestamps_are_exact_microseconds() {
        let f = |ns| {
            let mut b = Vec::new();
            ts(&mut b, ns);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(f(0), "0");
        assert_eq!(f(3_000_000), "3000");
        assert_eq!(f(1_001), "1.001");
        assert_eq!(f(12_345_678_901), "12345678.901");
        assert_eq!(f(5), "0.005");
    }

    #[test]
    fn strings_are_escaped() {
        let mut b = Vec::new();
        json_str(&mut b, "a\"b\\c\nd\u{1}é");
        assert_eq!(String::from_utf8(b).unwrap(), r#""a\"b\\c\nd\u0001é""#);
    }
}
