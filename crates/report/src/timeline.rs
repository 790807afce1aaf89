//! The timeline sink: what ran on each CPU and on whose scheduling context, which mutexes each
//! task held or waited for, and a few point events (deadline misses, proxy and return
//! migrations, deadlocks), kept for drawing the schedule in the HTML report.
//!
//! - **Slices**: per CPU, the stretches of time between two context changes, each with its
//!   execution context (`curr`, from `sched_switch` `next`) and scheduling context (`donor`,
//!   from `sched_switch` `donor` and then `SchedDonor`). A slice whose `curr` and `donor`
//!   differ is proxy execution. Idle time is not stored.
//! - **Lock spans**: a *wait* runs from `LockContend(task, m)` to that task's
//!   `LockAcquire(task, m)` (or the end), a *hold* from `LockAcquire(task, m)` to
//!   `LockRelease(task, m)` (or the end).
//! - **Marks**: `ActivationEnd` with `missed`, `ProxyMigrate`, `ReturnMigrate`, and one mark per
//!   task of a `Deadlock`.
//!
//! **Bounded memory.** A 60 s run on 64 CPUs switches tens of millions of times, so the sink
//! keeps at most [`TimelineLimits::max_slices`] slices (all CPUs together),
//! [`TimelineLimits::max_lock_spans`] lock spans and [`TimelineLimits::max_marks`] marks, and
//! only those inside the window `[from_ns, until_ns)`. When a store is about to fill up (its
//! stored items plus the ones still open reach the cap) the capture *stops* at that instant:
//! nothing that starts later is kept, and what is still open is closed at the stop time, so
//! every store stays complete up to [`TimelineSink::truncated_at`] and empty after it. No store
//! ever holds more than its cap.

use std::collections::BTreeMap;

use proxysched_trace::{Event, Sink, TaskId};

/// Slices kept by default: 24 bytes each, 9.6 MB in all.
pub const DEFAULT_MAX_SLICES: usize = 400_000;
/// Lock spans kept by default (32 bytes each).
pub const DEFAULT_MAX_LOCK_SPANS: usize = 200_000;
/// Marks kept by default.
pub const DEFAULT_MAX_MARKS: usize = 50_000;

/// How much of a run the sink keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimelineLimits {
    /// Slices over all CPUs.
    pub max_slices: usize,
    pub max_lock_spans: usize,
    pub max_marks: usize,
    /// Keep nothing before this time (intervals that straddle it are clipped).
    pub from_ns: u64,
    /// Keep nothing at or after this time (intervals that straddle it are clipped).
    pub until_ns: Option<u64>,
}

impl Default for TimelineLimits {
    fn default() -> Self {
        TimelineLimits {
            max_slices: DEFAULT_MAX_SLICES,
            max_lock_spans: DEFAULT_MAX_LOCK_SPANS,
            max_marks: DEFAULT_MAX_MARKS,
            from_ns: 0,
            until_ns: None,
        }
    }
}

/// A stretch of time in which `curr` ran on a CPU on `donor`'s scheduling context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    pub start_ns: u64,
    pub end_ns: u64,
    /// The execution context: whose code ran.
    pub curr: TaskId,
    /// The scheduling context: `curr` itself, or under proxy execution the blocked task whose
    /// place `curr` took.
    pub donor: TaskId,
}

impl Slice {
    /// `curr` ran on another task's scheduling context.
    pub fn is_proxy(&self) -> bool {
        self.curr != self.donor
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockSpanKind {
    /// The task waited for the mutex (blocked on it).
    Wait,
    /// The task held the mutex.
    Hold,
}

/// A task waiting for or holding a mutex from `start_ns` to `end_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockSpan {
    pub start_ns: u64,
    pub end_ns: u64,
    pub task: TaskId,
    pub mutex: u32,
    pub kind: LockSpanKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// An activation of the task ended after its deadline.
    DeadlineMiss,
    /// The task (a donor) was moved to the CPU of `owner`, the mutex owner it donates to.
    ProxyMigrate { owner: TaskId, from: u32, to: u32 },
    /// The donor went back to a CPU it may run on.
    ReturnMigrate { from: u32, to: u32 },
    /// The task is part of a deadlock cycle.
    Deadlock,
}

/// A point event on a task's lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    pub at_ns: u64,
    pub task: TaskId,
    pub kind: MarkKind,
}

/// Per CPU: the context that runs since `since`.
#[derive(Clone, Copy, Debug)]
struct OpenSlice {
    since: u64,
    curr: TaskId,
    donor: TaskId,
}

/// Records per-CPU slices, lock spans and marks from the tracepoint stream, within
/// [`TimelineLimits`]. Call [`TimelineSink::finish`] at the end (the report also copes without:
/// it closes what is open at the run's end itself).
#[derive(Clone, Debug)]
pub struct TimelineSink {
    limits: TimelineLimits,
    /// Per CPU, in time order.
    slices: Vec<Vec<Slice>>,
    nr_slices: usize,
    open: Vec<Option<OpenSlice>>,
    nr_open: usize,
    /// In order of their end.
    locks: Vec<LockSpan>,
    /// (task index, mutex) -> (since, kind).
    open_locks: BTreeMap<(u32, u32), (u64, LockSpanKind)>,
    marks: Vec<Mark>,
    /// The capture stopped here because a store filled up.
    stopped_at: Option<u64>,
    first_proxy_ns: Option<u64>,
    first_contend_ns: Option<u64>,
    last_ns: u64,
}

impl Default for TimelineSink {
    fn default() -> Self {
        TimelineSink::new(TimelineLimits::default())
    }
}

impl TimelineSink {
    pub fn new(limits: TimelineLimits) -> TimelineSink {
        TimelineSink {
            limits,
            slices: Vec::new(),
            nr_slices: 0,
            open: Vec::new(),
            nr_open: 0,
            locks: Vec::new(),
            open_locks: BTreeMap::new(),
            marks: Vec::new(),
            stopped_at: None,
            first_proxy_ns: None,
            first_contend_ns: None,
            last_ns: 0,
        }
    }

    pub fn limits(&self) -> &TimelineLimits {
        &self.limits
    }

    /// CPUs the stream has mentioned so far (the highest CPU id seen, plus one).
    pub fn nr_cpus(&self) -> usize {
        self.slices.len()
    }

    /// The closed slices of `cpu`, in time order.
    pub fn slices(&self, cpu: usize) -> &[Slice] {
        self.slices.get(cpu).map_or(&[], Vec::as_slice)
    }

    /// The slice still open on `cpu`, as it would be closed at `end_ns` (clipped to the window
    /// and the stop time); `None` if idle, outside the window, or there is no room for it.
    pub fn open_slice(&self, cpu: usize, end_ns: u64) -> Option<Slice> {
        let o = self.open.get(cpu).copied().flatten()?;
        let (start, end) = self.clip(o.since, end_ns)?;
        (self.nr_slices < self.limits.max_slices).then_some(Slice {
            start_ns: start,
            end_ns: end,
            curr: o.curr,
            donor: o.donor,
        })
    }

    /// Closed slices over all CPUs.
    pub fn nr_slices(&self) -> usize {
        self.nr_slices
    }

    /// The closed lock spans, in the order they ended.
    pub fn lock_spans(&self) -> &[LockSpan] {
        &self.locks
    }

    /// The lock spans still open, as they would be closed at `end_ns`, ordered by task and
    /// mutex.
    pub fn open_lock_spans(&self, end_ns: u64) -> Vec<LockSpan> {
        let room = self.limits.max_lock_spans.saturating_sub(self.locks.len());
        self.open_locks
            .iter()
            .filter_map(|(&(task, mutex), &(since, kind))| {
                let (start, end) = self.clip(since, end_ns)?;
                Some(LockSpan {
                    start_ns: start,
                    end_ns: end,
                    task: TaskId(task),
                    mutex,
                    kind,
                })
            })
            .take(room)
            .collect()
    }

    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    /// When the capture stopped because a store filled up; `None` if it did not.
    pub fn truncated_at(&self) -> Option<u64> {
        self.stopped_at
    }

    /// The time range the stores cover for a run that ended at `end_ns`.
    pub fn range(&self, end_ns: u64) -> (u64, u64) {
        let mut end = end_ns;
        if let Some(u) = self.limits.until_ns {
            end = end.min(u);
        }
        if let Some(s) = self.stopped_at {
            end = end.min(s);
        }
        let start = self.limits.from_ns.min(end);
        (start, end)
    }

    /// When a task first ran on another's scheduling context (within the window).
    pub fn first_proxy_ns(&self) -> Option<u64> {
        self.first_proxy_ns
    }

    /// When a task first blocked on a mutex (within the window).
    pub fn first_contend_ns(&self) -> Option<u64> {
        self.first_contend_ns
    }

    /// Close everything still open at `end_ns`.
    pub fn finish(&mut self, end_ns: u64) {
        for cpu in 0..self.open.len() {
            self.close_slice(cpu, end_ns);
        }
        let open = std::mem::take(&mut self.open_locks);
        for ((task, mutex), (since, kind)) in open {
            self.push_lock(since, end_ns, TaskId(task), mutex, kind);
        }
        self.last_ns = self.last_ns.max(end_ns);
    }

    /// `[since, until)` clipped to the window and the stop time; `None` if nothing is left.
    fn clip(&self, since: u64, until: u64) -> Option<(u64, u64)> {
        let (from, to) = self.range(until);
        let start = since.max(from);
        (start < to).then_some((start, to))
    }

    /// Still recording at `now`?
    fn live(&self, now: u64) -> bool {
        now >= self.limits.from_ns && self.may_open(now)
    }

    /// Can an interval that starts at `now` still end up in a store?
    fn may_open(&self, now: u64) -> bool {
        self.stopped_at.is_none() && self.limits.until_ns.is_none_or(|u| now < u)
    }

    fn stop(&mut self, now: u64) {
        if self.stopped_at.is_none() {
            self.stopped_at = Some(now);
        }
    }

    fn cpu(&mut self, cpu: u32) -> usize {
        let cpu = cpu as usize;
        if self.slices.len() <= cpu {
            self.slices.resize_with(cpu + 1, Vec::new);
            self.open.resize(cpu + 1, None);
        }
        cpu
    }

    fn close_slice(&mut self, cpu: usize, now: u64) {
        let Some(o) = self.open[cpu].take() else {
            return;
        };
        self.nr_open -= 1;
        let Some((start, end)) = self.clip(o.since, now) else {
            return;
        };
        if self.nr_slices >= self.limits.max_slices {
            self.stop(start);
            return;
        }
        self.slices[cpu].push(Slice {
            start_ns: start,
            end_ns: end,
            curr: o.curr,
            donor: o.donor,
        });
        self.nr_slices += 1;
        // Keep room for every slice still open, so they can be closed at the stop time.
        if self.nr_slices + self.nr_open >= self.limits.max_slices {
            self.stop(now);
        }
    }

    /// A new (curr, donor) pair on `cpu` from `now`.
    fn set_context(&mut self, cpu: u32, curr: Option<TaskId>, donor: Option<TaskId>, now: u64) {
        let cpu = self.cpu(cpu);
        let new = curr.map(|c| (c, donor.unwrap_or(c)));
        if let (Some(o), Some((c, d))) = (self.open[cpu], new) {
            if o.curr == c && o.donor == d {
                return;
            }
        }
        self.close_slice(cpu, now);
        if let Some((c, d)) = new {
            self.open[cpu] = Some(OpenSlice {
                since: now,
                curr: c,
                donor: d,
            });
            self.nr_open += 1;
            if c != d && self.first_proxy_ns.is_none() && self.live(now) {
                self.first_proxy_ns = Some(now);
            }
        }
    }

    fn push_lock(&mut self, since: u64, now: u64, task: TaskId, mutex: u32, kind: LockSpanKind) {
        let Some((start, end)) = self.clip(since, now) else {
            return;
        };
        if self.locks.len() >= self.limits.max_lock_spans {
            self.stop(start);
            return;
        }
        self.locks.push(LockSpan {
            start_ns: start,
            end_ns: end,
            task,
            mutex,
            kind,
        });
        if self.locks.len() + self.open_locks.len() >= self.limits.max_lock_spans {
            self.stop(now);
        }
    }

    fn open_lock(&mut self, task: TaskId, mutex: u32, kind: LockSpanKind, now: u64) {
        // A span left open for the same pair (a stream that never closed it) ends here.
        if let Some((since, k)) = self.open_locks.remove(&(task.0, mutex)) {
            self.push_lock(since, now, task, mutex, k);
        }
        if self.may_open(now) {
            self.open_locks.insert((task.0, mutex), (now, kind));
            if self.locks.len() + self.open_locks.len() >= self.limits.max_lock_spans {
                self.stop(now);
            }
        }
    }

    fn close_lock(&mut self, task: TaskId, mutex: u32, kind: LockSpanKind, now: u64) {
        if let Some(&(since, k)) = self.open_locks.get(&(task.0, mutex)) {
            if k == kind {
                self.open_locks.remove(&(task.0, mutex));
                self.push_lock(since, now, task, mutex, kind);
            }
        }
    }

    fn mark(&mut self, at_ns: u64, task: TaskId, kind: MarkKind) {
        if !self.live(at_ns) {
            return;
        }
        if self.marks.len() >= self.limits.max_marks {
            self.stop(at_ns);
            return;
        }
        self.marks.push(Mark { at_ns, task, kind });
    }
}

impl Sink for TimelineSink {
    fn record(&mut self, now: u64, event: &Event) {
        self.last_ns = now;
        match event {
            Event::SchedSwitch {
                cpu, next, donor, ..
            } => self.set_context(*cpu, *next, *donor, now),
            Event::SchedDonor { cpu, curr, donor } => self.set_context(*cpu, *curr, *donor, now),
            Event::LockContend { task, mutex, .. } => {
                if self.first_contend_ns.is_none() && self.live(now) {
                    self.first_contend_ns = Some(now);
                }
                self.open_lock(*task, *mutex, LockSpanKind::Wait, now);
            }
            Event::LockAcquire { task, mutex } => {
                self.close_lock(*task, *mutex, LockSpanKind::Wait, now);
                self.open_lock(*task, *mutex, LockSpanKind::Hold, now);
            }
            Event::LockRelease { task, mutex, .. } => {
                self.close_lock(*task, *mutex, LockSpanKind::Hold, now)
            }
            Event::ActivationEnd {
                task, missed: true, ..
            } => self.mark(now, *task, MarkKind::DeadlineMiss),
            Event::ProxyMigrate {
                task,
                owner,
                orig_cpu,
                dest_cpu,
            } => self.mark(
                now,
                *task,
                MarkKind::ProxyMigrate {
                    owner: *owner,
                    from: *orig_cpu,
                    to: *dest_cpu,
                },
            ),
            Event::ReturnMigrate {
                task,
                orig_cpu,
                dest_cpu,
            } => self.mark(
                now,
                *task,
                MarkKind::ReturnMigrate {
                    from: *orig_cpu,
                    to: *dest_cpu,
                },
            ),
            Event::Deadlock { tasks, .. } => {
                for &t in tasks {
                    self.mark(now, t, MarkKind::Deadlock);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxysched_trace::PrevState;

    fn switch(cpu: u32, next: Option<TaskId>, donor: Option<TaskId>) -> Event {
        Event::SchedSwitch {
            cpu,
            prev: None,
            prev_prio: 120,
            prev_state: PrevState::Preempted,
            next,
            next_prio: 120,
            donor,
        }
    }

    #[test]
    fn slices_follow_switches_and_donor_changes() {
        let (a, b) = (TaskId(0), TaskId(1));
        let mut s = TimelineSink::default();
        s.record(0, &switch(1, Some(a), Some(a)));
        s.record(10, &switch(1, Some(b), Some(a)));
        s.record(
            20,
            &Event::SchedDonor {
                cpu: 1,
                curr: Some(b),
                donor: Some(b),
            },
        );
        // The same context again does not split the slice.
        s.record(
            25,
            &Event::SchedDonor {
                cpu: 1,
                curr: Some(b),
                donor: Some(b),
            },
        );
        s.record(30, &switch(1, None, None));
        assert_eq!(s.nr_cpus(), 2);
        let got: Vec<_> = s
            .slices(1)
            .iter()
            .map(|x| (x.start_ns, x.end_ns, x.curr.0, x.donor.0, x.is_proxy()))
            .collect();
        assert_eq!(
            got,
            [
                (0, 10, 0, 0, false),
                (10, 20, 1, 0, true),
                (20, 30, 1, 1, false)
            ]
        );
        assert_eq!(s.first_proxy_ns(), Some(10));
        assert!(s.slices(0).is_empty());
    }

    #[test]
    fn lock_spans_and_window() {
        let (a, b) = (TaskId(0), TaskId(1));
        let mut s = TimelineSink::new(TimelineLimits {
            from_ns: 50,
            until_ns: Some(300),
            ..TimelineLimits::default()
        });
        s.record(0, &Event::LockAcquire { task: a, mutex: 7 });
        s.record(
            100,
            &Event::LockContend {
                task: b,
                mutex: 7,
                owner: a,
            },
        );
        s.record(
            200,
            &Event::LockRelease {
                task: a,
                mutex: 7,
                next: Some(b),
            },
        );
        s.record(200, &Event::LockAcquire { task: b, mutex: 7 });
        s.finish(400);
        let got: Vec<_> = s
            .lock_spans()
            .iter()
            .map(|l| (l.start_ns, l.end_ns, l.task.0, l.kind))
            .collect();
        assert_eq!(
            got,
            [
                (50, 200, 0, LockSpanKind::Hold),
                (100, 200, 1, LockSpanKind::Wait),
                (200, 300, 1, LockSpanKind::Hold),
            ]
        );
        assert_eq!(s.range(400), (50, 300));
        assert_eq!(s.truncated_at(), None);
    }

    #[test]
    fn capture_stops_before_the_cap() {
        let mut s = TimelineSink::new(TimelineLimits {
            max_slices: 10,
            ..TimelineLimits::default()
        });
        for i in 0..100u64 {
            for cpu in 0..3 {
                s.record(i * 10, &switch(cpu, Some(TaskId((i % 2) as u32)), None));
            }
        }
        s.finish(1000);
        assert!(s.nr_slices() <= 10, "{}", s.nr_slices());
        let stop = s.truncated_at().expect("truncated");
        // Complete up to the stop time on every CPU, empty after it.
        for cpu in 0..3 {
            let sl = s.slices(cpu);
            assert_eq!(sl.first().map(|x| x.start_ns), Some(0));
            assert_eq!(sl.last().map(|x| x.end_ns), Some(stop));
            assert!(sl.windows(2).all(|w| w[0].end_ns == w[1].start_ns));
        }
    }
}
