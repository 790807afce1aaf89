//! A task's position in its rt-app program: task loop, phase, phase iteration, event.

use proxysched_sched::{MutexId, SchedAttr};
use proxysched_trace::WakeReason;
use proxysched_workload::{Event, Phase, TaskSpec};

use crate::queue::Ticket;

/// What the running task is busy with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    None,
    /// `run`: done when the task's CPU time reaches `until_exec`.
    Work {
        until_exec: u64,
    },
    /// `runtime`: done at wall time `until`, however much of it the task got to run.
    Wall {
        until: u64,
    },
}

/// The next thing a program does.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'w> {
    /// The program begins (rt-app's initial `delay`).
    Start,
    /// A phase iteration begins: apply its attributes (if any) and affinity.
    EnterPhase {
        sched: Option<SchedAttr>,
        cpus: Option<&'w [u32]>,
    },
    Event(Event),
    /// The phase iteration's events are all done (rt-app's `rtapp_loop: event=end`).
    EndPhase,
    /// Every loop is done: the thread exits.
    Exit,
}

/// What rt-app measures over the current phase iteration (its log columns), in ns. Kept only
/// when a sink reads the `rtapp_stats` it ends with (see the engine's `iter_stats`).
#[derive(Clone, Debug, Default)]
pub struct IterStats {
    pub start_ns: u64,
    /// CPU time received in `run`/`runtime` events.
    pub perf_ns: u64,
    /// Wall time spent in `run`/`runtime` events.
    pub run_ns: u64,
    pub c_duration_ns: u64,
    pub c_period_ns: u64,
    pub slack_ns: i64,
    pub wu_lat_ns: u64,
    /// The `run`/`runtime` event in progress: (wall time, task CPU time) when it started.
    pub run_from: Option<(u64, u64)>,
    /// The expiry of the timer the task sleeps on; its wakeup latency is measured when it runs
    /// again.
    pub timer_wake: Option<u64>,
}

/// An activation in progress (a timer period, or one wakeup of a task without a timer).
#[derive(Clone, Copy, Debug)]
pub struct Activation {
    /// Its SCHED_DEADLINE absolute deadline, for a DL task.
    pub dl_deadline_ns: Option<u64>,
}

/// Where a task is in its rt-app program. Task `i` runs `Workload::tasks[i]`.
///
/// Every activation reads and writes most of these fields, so a program fits two cache lines
/// and keeps what stepping needs from the task's spec (its phases and loop count): on a
/// machine with thousands of tasks, each line an activation touches is a likely cache miss.
#[derive(Debug)]
#[repr(align(64))]
pub struct Program<'w> {
    /// The task's phases (`TaskSpec::phases`).
    phases: &'w [Phase],
    /// `TaskSpec::loops`, `u64::MAX` for forever.
    loops: u64,
    loops_done: u64,
    phase_iter: u64,
    // u32: a program is one per task for the whole run; phases and events per phase are few.
    phase: u32,
    event: u32,
    started: bool,
    phase_entered: bool,
    pub segment: Segment,
    /// The queue entry of the current wait's timed wakeup; any other one is stale.
    pub wake_timer: Option<Ticket>,
    /// Why the task sleeps, while it does.
    pub waiting: Option<WakeReason>,
    /// Release time of the activation the next wakeup starts (timer expiry or end of delay).
    pub pending_release: Option<u64>,
    /// The current activation, if one is open.
    pub activation: Option<Activation>,
    /// Has a `timer` event: activations are timer periods, not wakeups.
    pub periodic: bool,
    pub exited: bool,
    /// A condition wait returned: the mutex to take again before the next event.
    pub reacquire: Option<MutexId>,
    /// Generation of the current mutex wait, for the hung-task check.
    pub lock_gen: u64,
    phase_ended: bool,
}

const _: () = assert!(std::mem::size_of::<Program>() == 128);

impl<'w> Program<'w> {
    pub fn new(spec: &'w TaskSpec) -> Program<'w> {
        let periodic = spec
            .phases
            .iter()
            .any(|p| p.events.iter().any(|e| matches!(e, Event::Timer { .. })));
        Program {
            phases: &spec.phases,
            loops: spec.loops.unwrap_or(u64::MAX),
            started: false,
            loops_done: 0,
            phase: 0,
            phase_iter: 0,
            event: 0,
            phase_entered: false,
            segment: Segment::None,
            wake_timer: None,
            waiting: None,
            pending_release: None,
            activation: None,
            periodic,
            exited: false,
            reacquire: None,
            lock_gen: 0,
            phase_ended: false,
        }
    }

    /// rt-app's loop indices of the current phase iteration: (thread_loop, phase, phase_loop).
    pub fn loop_position(&self) -> (u64, usize, u64) {
        (self.loops_done, self.phase as usize, self.phase_iter)
    }

    /// (phase, index in the phase) of the event the last [`Program::next_step`] returned.
    pub fn event_position(&self) -> (usize, usize) {
        (self.phase as usize, self.event.saturating_sub(1) as usize)
    }

    /// Advance to the next step. Phase and task loops wrap here.
    pub fn next_step(&mut self) -> Step<'w> {
        if !self.started {
            self.started = true;
            return Step::Start;
        }
        loop {
            if self.loops_done >= self.loops || self.phases.is_empty() {
                return Step::Exit;
            }
            let phase = &self.phases[self.phase as usize];
            if !self.phase_entered {
                self.phase_entered = true;
                return Step::EnterPhase {
                    sched: phase.sched,
                    cpus: phase.cpus.as_deref(),
                };
            }
            if let Some(&ev) = phase.events.get(self.event as usize) {
                self.event += 1;
                return Step::Event(ev);
            }
            if !self.phase_ended {
                self.phase_ended = true;
                return Step::EndPhase;
            }
            self.phase_ended = false;
            self.event = 0;
            self.phase_entered = false;
            self.phase_iter += 1;
            if self.phase_iter >= phase.loops {
                self.phase_iter = 0;
                self.phase += 1;
                if self.phase as usize == self.phases.len() {
                    self.phase = 0;
                    self.loops_done += 1;
                }
            }
        }
    }
}
