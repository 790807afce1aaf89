//! ftrace text, as the kernel's `trace` file prints it (4-character flags, `record-tgid` on),
//! written while the simulation runs.
//!
//! Every line is `comm-pid (tgid) [cpu] flags secs.usecs: event: fields`, the layout of
//! Linux 4.19–5.10 (`%16s-%-5d (%5d) [%03d] %4s %5lu.%06lu: `), which Perfetto's systrace
//! importer, TRAPpy and LISA read. Choices:
//!
//! - **The line's task** (`comm-pid`) is the task running on that CPU at that moment: for
//!   `sched_switch` the previous task, for everything else whoever runs there after the events
//!   before it. Idle is `<idle>-0` with tgid `(-----)`, and `swapper/N` inside `sched_switch`,
//!   as the kernel prints them. Every simulated task is its own thread group (tgid = pid).
//! - **The line's CPU**: `sched_switch` and our per-CPU events on their CPU; `sched_waking` on
//!   its `target_cpu`, `sched_wakeup(_new)` on the CPU the task was queued on,
//!   `sched_migrate_task` on `orig_cpu`, rt-app markers on the CPU of the task writing them,
//!   other task events on the task's last known CPU. (The kernel logs a wakeup on the waker's
//!   CPU; the tracepoints do not say who woke a task, so the waker Perfetto shows is the task
//!   running on the target CPU.)
//! - **Timestamps** are printed in microseconds with 6 decimals, as the kernel does: times are
//!   truncated to the microsecond (events closer than 1 µs share a timestamp; the line order
//!   keeps them apart). A µs-aligned time round-trips exactly through a decimal parse; Perfetto
//!   converts with `(int64)(double * 1e9)`, which lands 1 ns early for about 2% of values.
//! - **Flags** are `d..2` for scheduler events and `....` for `tracing_mark_write`.
//! - **`prev_state`** is `R+` for a task that leaves the CPU runnable (preempted, slice over,
//!   yielded: the core does not tell a yield apart, which the kernel prints as `R`), `S`
//!   sleeping, `D` blocked on a mutex, `X` exited; idle is always `R`.
//! - **Header**: `# tracer: nop` and the kernel's help block. The entry count is known only at
//!   the end: [`FtraceText`] reserves the line and rewrites it when the trace is complete
//!   (the line keeps trailing spaces), [`header`] gives the exact text when it is written last.
//!
//! Events the kernel has are printed in its format: `sched_switch`, `sched_waking`,
//! `sched_wakeup`, `sched_wakeup_new`, `sched_migrate_task`, `sched_process_exit`,
//! `sched_pi_setprio` (boost or deboost: `newprio` below or above `oldprio`). rt-app's markers
//! are `tracing_mark_write: rtapp_main|rtapp_task|rtapp_loop|rtapp_event|rtapp_stats: ...`
//! as rt-app writes them. The rest are ours, each line `proxysched_<what>: key=value ...`:
//! `proxysched_lock_contend`, `_lock_acquire`, `_lock_release`, `_sched_donor` (after every
//! `sched_switch` whose next task runs on another task's scheduling context, and whenever the
//! donor changes under a running task), `_proxy_case`, `_proxy_migrate` (donor migration),
//! `_return_migrate`, `_dl_throttle`, `_dl_replenish`, `_rt_throttle`, `_rt_unthrottle`,
//! `_deadline_miss`, `_deadlock`, `_setattr`. Times inside fields are in ns (`_ns` keys).

use std::io::{self, Seek, SeekFrom, Write};

use crate::sanitize;
use crate::{us_rounded, us_rounded_signed, Event, PrevState, Sink, TaskId};

/// Flags of a scheduler event: IRQs off, preempt depth 2 (as `__schedule()` shows).
const SCHED_FLAGS: &str = "d..2";
/// Flags of a `trace_marker` write from user space.
const MARKER_FLAGS: &str = "....";

/// The header of a trace file with `entries` lines on `nr_cpus` CPUs, as the kernel prints
/// it with `record-tgid` and `irq-info` on.
pub fn header(entries: u64, nr_cpus: u32) -> String {
    format!(
        "# tracer: nop\n#\n{}\n{}",
        entries_line(entries, nr_cpus),
        help()
    )
}

fn entries_line(entries: u64, nr_cpus: u32) -> String {
    format!("# entries-in-buffer/entries-written: {entries}/{entries}   #P:{nr_cpus}")
}

/// The help block of `print_func_help_header_irq()` (Linux 4.19–5.10) with the TGID column,
/// built from the kernel's own format pieces so that the columns line up with the lines.
fn help() -> String {
    const PAD: &str = "          ";
    let art = [
        "  _-----=> irqs-off",
        " / _----=> need-resched",
        "| / _---=> hardirq/softirq",
        "|| / _--=> preempt-depth",
        "||| /     delay",
    ];
    let mut s = String::from("#\n");
    for a in art {
        s.push_str(&format!("#                          {PAD}{a}\n"));
    }
    s.push_str("#           TASK-PID    TGID   CPU#  ||||    TIMESTAMP  FUNCTION\n");
    s.push_str("#              | |        |      |   ||||       |         |\n");
    s
}

/// rt-app's `resource_t` value for an event kind (`rtapp_event: type=`). The enum moved when
/// rt-app added `memrun`; these are the values of the releases before it, and kinds without a
/// value there print 0. Tools should key on `desc`.
fn rtapp_type(kind: &str) -> u32 {
    match kind {
        "wait" => 2,
        "signal" => 3,
        "broad" => 4,
        "sleep" => 5,
        "run" => 6,
        "sync" => 7,
        "lock" => 8,
        "unlock" => 9,
        "timer" => 10,
        "suspend" => 11,
        "resume" => 12,
        "runtime" => 15,
        "yield" => 16,
        "barrier" => 17,
        _ => 0,
    }
}

/// Streams ftrace lines (no header) into `out` while the simulation runs. Memory is bounded by
/// the number of tasks, CPUs and mutexes.
///
/// A [`Sink`] cannot fail: the first write error is kept, later writes are skipped, and
/// [`FtraceWriter::finish`] reports it.
pub struct FtraceWriter<W: Write> {
    out: W,
    /// What ends a line: a newline, or `\n` escaped for a JSON string.
    line_end: &'static [u8],
    nr_cpus: u32,
    comms: Vec<String>,
    /// The CPU each task was last seen on (0 before it was).
    task_cpu: Vec<u32>,
    /// The task running on each CPU, `None` for idle.
    cpu_curr: Vec<Option<TaskId>>,
    mutexes: Vec<String>,
    lines: u64,
    line: Vec<u8>,
    error: Option<io::Error>,
}

impl<W: Write> FtraceWriter<W> {
    pub fn new(out: W, nr_cpus: u32) -> FtraceWriter<W> {
        FtraceWriter {
            out,
            line_end: b"\n",
            nr_cpus,
            comms: Vec::new(),
            task_cpu: Vec::new(),
            cpu_curr: vec![None; nr_cpus as usize],
            mutexes: Vec::new(),
            lines: 0,
            line: Vec::with_capacity(256),
            error: None,
        }
    }

    /// Ends lines with the two characters `\n`, for text inside a JSON string. (Lines never
    /// contain `"`, `\` or control characters: every name in them is sanitized.)
    pub fn json_escaped(mut self) -> FtraceWriter<W> {
        self.line_end = b"\\n";
        self
    }

    /// Lines written so far.
    pub fn entries(&self) -> u64 {
        self.lines
    }

    pub fn nr_cpus(&self) -> u32 {
        self.nr_cpus
    }

    /// Flush and hand back the output, or the first write error.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn comm(&self, t: Option<TaskId>, cpu: u32) -> CommPid<'_> {
        match t {
            Some(p) => CommPid::Task(
                self.comms.get(p.index()).map_or("<...>", String::as_str),
                p.pid(),
            ),
            None => CommPid::Idle(cpu),
        }
    }

    fn cpu_of(&self, t: TaskId) -> u32 {
        self.task_cpu.get(t.index()).copied().unwrap_or(0)
    }

    fn set_cpu(&mut self, t: TaskId, cpu: u32) {
        if let Some(c) = self.task_cpu.get_mut(t.index()) {
            *c = cpu;
        }
    }

    fn mutex(&self, m: u32) -> &str {
        self.mutexes.get(m as usize).map_or("?", String::as_str)
    }

    /// Write one line on `cpu` at `at_ns`; `body` writes `event: fields` into the buffer.
    fn emit(
        &mut self,
        cpu: u32,
        flags: &str,
        at_ns: u64,
        body: impl FnOnce(&Self, &mut Vec<u8>) -> io::Result<()>,
    ) {
        if self.error.is_some() {
            return;
        }
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let curr = self.cpu_curr.get(cpu as usize).copied().flatten();
        let who = self.comm(curr, cpu);
        let (secs, usecs) = (at_ns / 1_000_000_000, at_ns % 1_000_000_000 / 1000);
        // Writing into a Vec<u8> cannot fail.
        let _ = match who {
            CommPid::Task(comm, pid) => write!(
                line,
                "{comm:>16}-{pid:<5} ({pid:>5}) [{cpu:03}] {flags} {secs:>5}.{usecs:06}: "
            ),
            CommPid::Idle(_) => write!(
                line,
                "{:>16}-{:<5} (-----) [{cpu:03}] {flags} {secs:>5}.{usecs:06}: ",
                "<idle>", 0
            ),
        };
        let _ = body(self, &mut line);
        line.extend_from_slice(self.line_end);
        if let Err(e) = self.out.write_all(&line) {
            self.error = Some(e);
        }
        self.lines += 1;
        self.line = line;
    }

    fn marker(&mut self, cpu: u32, at_ns: u64, text: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) {
        self.emit(cpu, MARKER_FLAGS, at_ns, |_, l| {
            l.extend_from_slice(b"tracing_mark_write: ");
            text(l)
        });
    }

    fn task_event(&mut self, task: TaskId, at_ns: u64, name: &str, fields: std::fmt::Arguments) {
        let cpu = self.cpu_of(task);
        self.emit(cpu, SCHED_FLAGS, at_ns, |s, l| {
            let c = s.comm(Some(task), cpu);
            write!(l, "{name}: comm={} pid={} {fields}", c, c.pid())
        });
    }
}

#[derive(Clone, Copy)]
enum CommPid<'a> {
    Task(&'a str, u32),
    Idle(u32),
}

impl CommPid<'_> {
    /// The comm as a field value (`Display`): `swapper/N` for idle, as `sched_switch`
    /// prints it.
    fn comm(&self) -> String {
        self.to_string()
    }

    fn pid(&self) -> u32 {
        match *self {
            CommPid::Task(_, pid) => pid,
            CommPid::Idle(_) => 0,
        }
    }
}

impl std::fmt::Display for CommPid<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            CommPid::Task(c, _) => f.write_str(c),
            CommPid::Idle(cpu) => write!(f, "swapper/{cpu}"),
        }
    }
}

fn state_letters(prev: Option<TaskId>, state: PrevState) -> &'static str {
    match prev {
        None => "R",
        Some(_) => state.letters(),
    }
}

impl<W: Write> Sink for FtraceWriter<W> {
    fn record(&mut self, at: u64, event: &Event) {
        match event {
            Event::TaskNew { task, name, .. } => {
                let i = task.index();
                if self.comms.len() <= i {
                    self.comms.resize(i + 1, String::new());
                    self.task_cpu.resize(i + 1, 0);
                }
                self.comms[i] = sanitize::comm(name);
            }
            Event::MutexNew { mutex, name } => {
                let i = *mutex as usize;
                if self.mutexes.len() <= i {
                    self.mutexes.resize(i + 1, String::new());
                }
                self.mutexes[i] = sanitize::word(name);
            }
            Event::SchedSwitch {
                cpu,
                prev,
                prev_prio,
                prev_state,
                next,
                next_prio,
                donor,
            } => {
                let (cpu, prev, next, donor) = (*cpu, *prev, *next, *donor);
                self.emit(cpu, SCHED_FLAGS, at, |s, l| {
                    let (p, n) = (s.comm(prev, cpu), s.comm(next, cpu));
                    write!(
                        l,
                        "sched_switch: prev_comm={} prev_pid={} prev_prio={prev_prio} \
                         prev_state={} ==> next_comm={} next_pid={} next_prio={next_prio}",
                        p,
                        p.pid(),
                        state_letters(prev, *prev_state),
                        n,
                        n.pid(),
                    )
                });
                if let Some(c) = self.cpu_curr.get_mut(cpu as usize) {
                    *c = next;
                }
                if let Some(n) = next {
                    self.set_cpu(n, cpu);
                }
                if donor.is_some() && donor != next {
                    self.donor_line(at, cpu, next, donor);
                }
            }
            Event::SchedDonor { cpu, curr, donor } => self.donor_line(at, *cpu, *curr, *donor),
            Event::SchedWaking {
                task,
                prio,
                target_cpu,
                ..
            } => self.wakeup_line(at, "sched_waking", *task, *prio, *target_cpu),
            Event::SchedWakeup { task, prio, cpu } => {
                self.set_cpu(*task, *cpu);
                self.wakeup_line(at, "sched_wakeup", *task, *prio, *cpu);
            }
            Event::SchedWakeupNew { task, prio, cpu } => {
                self.set_cpu(*task, *cpu);
                self.wakeup_line(at, "sched_wakeup_new", *task, *prio, *cpu);
            }
            Event::SchedMigrateTask {
                task,
                prio,
                orig_cpu,
                dest_cpu,
            } => {
                let (task, orig) = (*task, *orig_cpu);
                self.emit(orig, SCHED_FLAGS, at, |s, l| {
                    let c = s.comm(Some(task), orig);
                    write!(
                        l,
                        "sched_migrate_task: comm={} pid={} prio={prio} orig_cpu={orig} \
                         dest_cpu={dest_cpu}",
                        c,
                        c.pid()
                    )
                });
                self.set_cpu(task, *dest_cpu);
            }
            Event::SchedProcessExit { task, prio } => {
                self.task_event(*task, at, "sched_process_exit", format_args!("prio={prio}"))
            }
            Event::SchedSetattr { task, policy, prio } => self.task_event(
                *task,
                at,
                "proxysched_setattr",
                format_args!("policy={policy} prio={prio}"),
            ),
            Event::PiSetprio {
                task,
                old_prio,
                new_prio,
            } => self.task_event(
                *task,
                at,
                "sched_pi_setprio",
                format_args!("oldprio={old_prio} newprio={new_prio}"),
            ),
            Event::DlThrottle {
                task,
                cpu,
                replenish_at_ns,
            } => {
                self.set_cpu(*task, *cpu);
                self.task_event(
                    *task,
                    at,
                    "proxysched_dl_throttle",
                    format_args!("replenish_at_ns={replenish_at_ns}"),
                )
            }
            Event::DlReplenish {
                task,
                cpu,
                runtime_ns,
                deadline_ns,
            } => {
                self.set_cpu(*task, *cpu);
                self.task_event(
                    *task,
                    at,
                    "proxysched_dl_replenish",
                    format_args!("runtime_ns={runtime_ns} deadline_ns={deadline_ns}"),
                )
            }
            Event::RtThrottle { cpu } => self.emit(*cpu, SCHED_FLAGS, at, |_, l| {
                write!(l, "proxysched_rt_throttle: cpu={cpu}")
            }),
            Event::RtUnthrottle { cpu } => self.emit(*cpu, SCHED_FLAGS, at, |_, l| {
                write!(l, "proxysched_rt_unthrottle: cpu={cpu}")
            }),
            Event::ActivationEnd {
                task,
                deadline_ns: Some(d),
                missed: true,
            } => self.task_event(
                *task,
                at,
                "proxysched_deadline_miss",
                format_args!("deadline_ns={d} lateness_ns={}", at.saturating_sub(*d)),
            ),
            Event::LockContend { task, mutex, owner } => {
                let (owner, cpu) = (*owner, self.cpu_of(*task));
                let m = self.mutex(*mutex).to_string();
                let o = self.comm(Some(owner), cpu).comm();
                self.task_event(
                    *task,
                    at,
                    "proxysched_lock_contend",
                    format_args!("mutex={m} owner_comm={o} owner_pid={}", owner.pid()),
                )
            }
            Event::LockAcquire { task, mutex } => {
                let m = self.mutex(*mutex).to_string();
                self.task_event(
                    *task,
                    at,
                    "proxysched_lock_acquire",
                    format_args!("mutex={m}"),
                )
            }
            Event::LockRelease { task, mutex, next } => {
                let m = self.mutex(*mutex).to_string();
                let (nc, np) = match next {
                    Some(n) => (self.comm(Some(*n), 0).comm(), n.pid() as i64),
                    None => ("<none>".to_string(), -1),
                };
                self.task_event(
                    *task,
                    at,
                    "proxysched_lock_release",
                    format_args!("mutex={m} next_comm={nc} next_pid={np}"),
                )
            }
            Event::ProxyCase { task, case } => self.task_event(
                *task,
                at,
                "proxysched_proxy_case",
                format_args!("case={case}"),
            ),
            Event::ProxyMigrate {
                task,
                owner,
                orig_cpu,
                dest_cpu,
            } => {
                let o = self.comm(Some(*owner), 0).comm();
                let (task, orig) = (*task, *orig_cpu);
                self.emit(orig, SCHED_FLAGS, at, |s, l| {
                    let c = s.comm(Some(task), orig);
                    write!(
                        l,
                        "proxysched_proxy_migrate: comm={} pid={} owner_comm={o} owner_pid={} \
                         orig_cpu={orig} dest_cpu={dest_cpu}",
                        c,
                        c.pid(),
                        owner.pid()
                    )
                });
                self.set_cpu(task, *dest_cpu);
            }
            Event::ReturnMigrate {
                task,
                orig_cpu,
                dest_cpu,
            } => {
                let (task, orig) = (*task, *orig_cpu);
                self.emit(orig, SCHED_FLAGS, at, |s, l| {
                    let c = s.comm(Some(task), orig);
                    write!(
                        l,
                        "proxysched_return_migrate: comm={} pid={} orig_cpu={orig} \
                         dest_cpu={dest_cpu}",
                        c,
                        c.pid()
                    )
                });
                self.set_cpu(task, *dest_cpu);
            }
            Event::Deadlock { tasks, mutexes } => {
                let cpu = tasks.first().map_or(0, |&t| self.cpu_of(t));
                let pids: Vec<String> = tasks.iter().map(|t| t.pid().to_string()).collect();
                let names: Vec<&str> = mutexes.iter().map(|&m| self.mutex(m)).collect();
                let (pids, names) = (pids.join(","), names.join(","));
                self.emit(cpu, SCHED_FLAGS, at, |_, l| {
                    write!(l, "proxysched_deadlock: pids={pids} mutexes={names}")
                });
            }
            Event::RtappMainStart => self.marker(0, at, |l| write!(l, "rtapp_main: event=start")),
            Event::RtappMainEnd => self.marker(0, at, |l| write!(l, "rtapp_main: event=end")),
            Event::RtappTaskStart { task, cpu } => {
                self.set_cpu(*task, *cpu);
                self.marker(*cpu, at, |l| write!(l, "rtapp_task: event=start"))
            }
            Event::RtappTaskEnd { task, cpu } => {
                self.set_cpu(*task, *cpu);
                self.marker(*cpu, at, |l| write!(l, "rtapp_task: event=end"))
            }
            Event::RtappLoopStart {
                task,
                cpu,
                thread_loop,
                phase,
                phase_loop,
            } => {
                self.set_cpu(*task, *cpu);
                self.marker(*cpu, at, |l| {
                    write!(
                        l,
                        "rtapp_loop: event=start thread_loop={thread_loop} phase={phase} \
                         phase_loop={phase_loop}"
                    )
                })
            }
            Event::RtappLoopEnd {
                task,
                cpu,
                thread_loop,
                phase,
                phase_loop,
                stats,
            } => {
                self.set_cpu(*task, *cpu);
                self.marker(*cpu, at, |l| {
                    write!(
                        l,
                        "rtapp_loop: event=end thread_loop={thread_loop} phase={phase} \
                         phase_loop={phase_loop}"
                    )
                });
                self.marker(*cpu, at, |l| {
                    write!(
                        l,
                        "rtapp_stats: period={} run={} wu_lat={} slack={} c_period={} c_run={}",
                        us_rounded(stats.period_ns),
                        us_rounded(stats.run_ns),
                        us_rounded(stats.wu_lat_ns),
                        us_rounded_signed(stats.slack_ns),
                        us_rounded(stats.c_period_ns),
                        us_rounded(stats.c_duration_ns),
                    )
                })
            }
            Event::RtappEvent {
                task,
                cpu,
                id,
                kind,
                desc,
            } => {
                self.set_cpu(*task, *cpu);
                let desc = sanitize::word(desc);
                self.marker(*cpu, at, |l| {
                    write!(
                        l,
                        "rtapp_event: id={id} type={} desc={desc}",
                        rtapp_type(kind)
                    )
                })
            }
            Event::ActivationStart { .. } | Event::ActivationEnd { .. } | Event::Warning { .. } => {
            }
        }
    }
}

impl<W: Write> FtraceWriter<W> {
    fn wakeup_line(&mut self, at: u64, name: &str, task: TaskId, prio: i32, cpu: u32) {
        self.emit(cpu, SCHED_FLAGS, at, |s, l| {
            let c = s.comm(Some(task), cpu);
            write!(
                l,
                "{name}: comm={} pid={} prio={prio} target_cpu={cpu:03}",
                c,
                c.pid()
            )
        });
    }

    fn donor_line(&mut self, at: u64, cpu: u32, curr: Option<TaskId>, donor: Option<TaskId>) {
        self.emit(cpu, SCHED_FLAGS, at, |s, l| {
            let (c, d) = (s.comm(curr, cpu), s.comm(donor, cpu));
            write!(
                l,
                "proxysched_sched_donor: cpu={cpu} curr_comm={} curr_pid={} donor_comm={} \
                 donor_pid={}",
                c,
                c.pid(),
                d,
                d.pid()
            )
        });
    }
}

/// Width the entry-count line is padded to, so that it can be rewritten in place.
const ENTRIES_LINE_WIDTH: usize = 100;

/// A complete ftrace text file: the header, then the lines as the simulation produces them;
/// [`FtraceText::finish`] rewrites the entry count once it is known (the line is padded with
/// spaces to a fixed width so that it fits).
pub struct FtraceText<W: Write + Seek> {
    writer: FtraceWriter<W>,
    entries_at: u64,
}

impl<W: Write + Seek> FtraceText<W> {
    pub fn new(mut out: W, nr_cpus: u32) -> io::Result<FtraceText<W>> {
        let start = out.stream_position()?;
        out.write_all(b"# tracer: nop\n#\n")?;
        let entries_at = start + 16;
        out.write_all(padded_entries_line(0, nr_cpus).as_bytes())?;
        out.write_all(help().as_bytes())?;
        Ok(FtraceText {
            writer: FtraceWriter::new(out, nr_cpus),
            entries_at,
        })
    }

    /// Write the final entry count, flush, and hand back the output.
    pub fn finish(self) -> io::Result<W> {
        let (entries, nr_cpus) = (self.writer.entries(), self.writer.nr_cpus());
        let mut out = self.writer.finish()?;
        let end = out.stream_position()?;
        out.seek(SeekFrom::Start(self.entries_at))?;
        out.write_all(padded_entries_line(entries, nr_cpus).as_bytes())?;
        out.seek(SeekFrom::Start(end))?;
        out.flush()?;
        Ok(out)
    }
}

impl<W: Write + Seek> Sink for FtraceText<W> {
    fn record(&mut self, at_ns: u64, event: &Event) {
        self.writer.record(at_ns, event);
    }
}

fn padded_entries_line(entries: u64, nr_cpus: u32) -> String {
    let line = entries_line(entries, nr_cpus);
    debug_assert!(line.len() < ENTRIES_LINE_WIDTH);
    format!("{line:<ENTRIES_LINE_WIDTH$}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn tid(i: u32) -> TaskId {
        TaskId(i)
    }

    #[test]
    fn lines_look_like_the_kernel_s() {
        let mut w = FtraceText::new(Cursor::new(Vec::new()), 2).unwrap();
        w.record(
            0,
            &Event::TaskNew {
                task: tid(0),
                name: "taskA".into(),
                policy: "SCHED_NORMAL",
                prio: 120,
            },
        );
        w.record(
            10_002_000_000,
            &Event::SchedWakeupNew {
                task: tid(0),
                prio: 120,
                cpu: 1,
            },
        );
        w.record(
            10_002_000_999,
            &Event::SchedSwitch {
                cpu: 1,
                prev: None,
                prev_prio: 120,
                prev_state: PrevState::Preempted,
                next: Some(tid(0)),
                next_prio: 120,
                donor: Some(tid(0)),
            },
        );
        w.record(
            10_003_000_000,
            &Event::SchedWaking {
                task: tid(0),
                prio: 120,
                target_cpu: 1,
                reason: crate::WakeReason::Sleep,
            },
        );
        let text = String::from_utf8(w.finish().unwrap().into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "# tracer: nop");
        assert_eq!(
            lines[2].trim_end(),
            "# entries-in-buffer/entries-written: 3/3   #P:2"
        );
        let body: Vec<&str> = lines
            .iter()
            .filter(|l| !l.starts_with('#'))
            .copied()
            .collect();
        assert_eq!(
            body,
            [
                "          <idle>-0     (-----) [001] d..2    10.002000: sched_wakeup_new: \
                 comm=taskA pid=1 prio=120 target_cpu=001",
                "          <idle>-0     (-----) [001] d..2    10.002000: sched_switch: \
                 prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> \
                 next_comm=taskA next_pid=1 next_prio=120",
                "           taskA-1     (    1) [001] d..2    10.003000: sched_waking: \
                 comm=taskA pid=1 prio=120 target_cpu=001",
            ]
        );
    }

    #[test]
    fn the_first_write_error_is_kept() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = FtraceWriter::new(Full, 1);
        w.record(0, &Event::RtappMainStart);
        w.record(1, &Event::RtappMainEnd);
        let e = w.finish().err().expect("an error");
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
    }
}
