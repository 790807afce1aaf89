//! A task's position in its rt-app program: task loop, phase, phase iteration, event.

use proxysched_sched::{MutexId, SchedAttr};
use proxysched_trace::WakeReason;
use proxysched_workload::{Event, TaskSpec, Workload};

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
    /// Another iteration of the phase just ended begins. Its attributes and affinity are in
    /// place: only entering a phase sets them, and this one set them last.
    EnterPhaseAgain,
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

/// Where a task stands between activations (a timer period, or one wakeup of a task without
/// a timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// None is open, and the next wakeup of a task without a timer opens one.
    Closed,
    /// The task sleeps until this release time (timer expiry or end of the initial delay);
    /// the wakeup then opens the activation released at it.
    Pending { release_ns: u64 },
    /// One is open; a SCHED_DEADLINE task has its absolute deadline here.
    Open { dl_deadline_ns: Option<u64> },
}

/// Where a task is in its rt-app program. Task `i` runs `Workload::tasks[i]`.
///
/// Every activation reads and writes most of these fields, so a program fits two cache lines
/// and keeps what stepping through a phase again needs from the task's spec (the phase's
/// events and loop count, the task's phase and loop counts): on a machine with thousands of
/// tasks, each line an activation touches is a likely cache miss, and the spec is read only
/// when the program moves to another phase. A phase of one or two events (`run` and `timer`,
/// `run` and `sleep`: most tasks) keeps a copy of them here too, so that stepping through it
/// reads no other line either (what only a mutex wait or the hung-task check needs lives
/// elsewhere, to make room).
#[derive(Debug)]
#[repr(align(64))]
pub struct Program<'w> {
    /// The events of the current phase.
    events: PhaseEvents<'w>,
    /// The current phase's `Phase::loops`.
    phase_loops: u64,
    /// `TaskSpec::loops`, `u64::MAX` for forever.
    loops: u64,
    loops_done: u64,
    phase_iter: u64,
    pub segment: Segment,
    pub activation: Activation,
    /// The queue entry of the current wait's timed wakeup; any other one is stale.
    pub wake_timer: Option<Ticket>,
    // u32: a program is one per task for the whole run; phases and events per phase are few.
    phase: u32,
    event: u32,
    nr_phases: u32,
    /// A condition wait returned: the mutex to take again before the next event
    /// ([`NO_MUTEX`] if none).
    reacquire: u32,
    started: bool,
    phase_entered: bool,
    phase_ended: bool,
    /// The phase the program enters next is the one it just ended.
    reentering: bool,
    /// Why the task sleeps, while it does.
    pub waiting: Option<WakeReason>,
    /// Has a `timer` event: activations are timer periods, not wakeups.
    pub periodic: bool,
    pub exited: bool,
}

const _: () = assert!(std::mem::size_of::<Program>() == 128);

/// [`Program::reacquire`] when there is no mutex to take again.
const NO_MUTEX: u32 = u32::MAX;

/// Phases with at most this many events keep a copy of them in the program.
const INLINE_EVENTS: usize = 2;

/// The events of the phase a program is in: a copy when they are few, else the spec's. As
/// big as the copy: the enum's tag hides in the first event's.
#[derive(Clone, Copy, Debug)]
enum PhaseEvents<'w> {
    Inline([Option<Event>; INLINE_EVENTS]),
    Spec(&'w [Event]),
}

const _: () = assert!(std::mem::size_of::<PhaseEvents>() == 16 * INLINE_EVENTS);

impl<'w> PhaseEvents<'w> {
    fn of(events: &'w [Event]) -> Self {
        match *events {
            [] => PhaseEvents::Inline([None, None]),
            [a] => PhaseEvents::Inline([Some(a), None]),
            [a, b] => PhaseEvents::Inline([Some(a), Some(b)]),
            _ => PhaseEvents::Spec(events),
        }
    }

    #[inline]
    fn get(&self, i: usize) -> Option<Event> {
        match self {
            PhaseEvents::Inline(events) => events.get(i).copied().flatten(),
            PhaseEvents::Spec(events) => events.get(i).copied(),
        }
    }
}

impl<'w> Program<'w> {
    pub fn new(spec: &TaskSpec) -> Program<'w> {
        let periodic = spec
            .phases
            .iter()
            .any(|p| p.events.iter().any(|e| matches!(e, Event::Timer { .. })));
        Program {
            events: PhaseEvents::Spec(&[]),
            segment: Segment::None,
            reacquire: NO_MUTEX,
            phase_loops: 0,
            loops: spec.loops.unwrap_or(u64::MAX),
            loops_done: 0,
            phase_iter: 0,
            phase: 0,
            event: 0,
            nr_phases: u32::try_from(spec.phases.len()).expect("phases fit u32"),
            started: false,
            phase_entered: false,
            phase_ended: false,
            reentering: false,
            activation: Activation::Closed,
            wake_timer: None,
            waiting: None,
            periodic,
            exited: false,
        }
    }

    /// The mutex a returned condition wait left to take again, forgotten.
    #[inline]
    pub fn take_reacquire(&mut self) -> Option<MutexId> {
        if self.reacquire == NO_MUTEX {
            return None;
        }
        Some(MutexId(std::mem::replace(&mut self.reacquire, NO_MUTEX)))
    }

    pub fn set_reacquire(&mut self, m: MutexId) {
        debug_assert_ne!(m.0, NO_MUTEX);
        self.reacquire = m.0;
    }

    /// rt-app's loop indices of the current phase iteration: (thread_loop, phase, phase_loop).
    pub fn loop_position(&self) -> (u64, usize, u64) {
        (self.loops_done, self.phase as usize, self.phase_iter)
    }

    /// (phase, index in the phase) of the event the last [`Program::next_step`] returned.
    pub fn event_position(&self) -> (usize, usize) {
        (self.phase as usize, self.event.saturating_sub(1) as usize)
    }

    /// Advance to the next step of the program of `task` in `w` (whose spec is read only
    /// when the program enters another phase). Phase and task loops wrap here.
    pub fn next_step(&mut self, w: &'w Workload, task: usize) -> Step<'w> {
        if !self.started {
            self.started = true;
            return Step::Start;
        }
        loop {
            if self.loops_done >= self.loops || self.nr_phases == 0 {
                return Step::Exit;
            }
            if !self.phase_entered {
                self.phase_entered = true;
                if self.reentering {
                    return Step::EnterPhaseAgain;
                }
                return self.enter_phase(w, task);
            }
            if let Some(ev) = self.events.get(self.event as usize) {
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
            let ended = self.phase;
            self.phase_iter += 1;
            if self.phase_iter >= self.phase_loops {
                self.phase_iter = 0;
                self.phase += 1;
                if self.phase == self.nr_phases {
                    self.phase = 0;
                    self.loops_done += 1;
                }
            }
            self.reentering = self.phase == ended;
        }
    }

    /// Enter another phase than the last one: take its events and loop count from the spec.
    /// Out of line and handed the whole workload, not the task's spec: given the spec, the
    /// compiler read it (a likely cache miss) at every step, ahead of the test for the
    /// common case that does not need it, hoisting the invariant read out of the stepping
    /// loop or into the caller.
    #[cold]
    #[inline(never)]
    fn enter_phase(&mut self, w: &'w Workload, task: usize) -> Step<'w> {
        let phase = &w.tasks[task].phases[self.phase as usize];
        self.events = PhaseEvents::of(&phase.events);
        self.phase_loops = phase.loops;
        Step::EnterPhase {
            sched: phase.sched,
            cpus: phase.cpus.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(json: &str) -> Workload {
        proxysched_workload::parse_str("test.json", json).expect("valid workload")
    }

    /// A short name for each step, with the loop position it leaves the program at.
    fn steps(w: &Workload, n: usize) -> Vec<String> {
        let mut prog = Program::new(&w.tasks[0]);
        (0..n)
            .map(|_| {
                let step = match prog.next_step(w, 0) {
                    Step::Start => "start".to_string(),
                    Step::EnterPhase { sched, .. } => format!("enter(sched={})", sched.is_some()),
                    Step::EnterPhaseAgain => "again".to_string(),
                    Step::Event(ev) => format!("{ev:?}").split(' ').next().unwrap().to_string(),
                    Step::EndPhase => "end".to_string(),
                    Step::Exit => "exit".to_string(),
                };
                let (thread_loop, phase, phase_loop) = prog.loop_position();
                format!("{step}@{thread_loop}.{phase}.{phase_loop}")
            })
            .collect()
    }

    #[test]
    fn phases_are_entered_once_per_run_of_iterations_and_the_task_loops_end_in_exit() {
        let w = workload(
            r#"{ "global": { "duration": 1 },
                 "tasks": { "t": { "loop": 2, "phases": {
                     "a": { "loop": 2, "policy": "SCHED_FIFO", "priority": 10, "run": 100 },
                     "b": { "loop": 1, "sleep": 100 } } } } }"#,
        );
        let got = steps(&w, 17);
        let want = [
            "start@0.0.0",
            "enter(sched=true)@0.0.0",
            "Run@0.0.0",
            "end@0.0.0",
            // The second iteration of `a` keeps what the first one set.
            "again@0.0.1",
            "Run@0.0.1",
            "end@0.0.1",
            "enter(sched=false)@0.1.0",
            "Sleep@0.1.0",
            "end@0.1.0",
            // Back to `a` in the next task loop: another phase ran in between, so `a`'s
            // attributes are applied again.
            "enter(sched=true)@1.0.0",
            "Run@1.0.0",
            "end@1.0.0",
            "again@1.0.1",
            "Run@1.0.1",
            "end@1.0.1",
            "enter(sched=false)@1.1.0",
        ];
        assert_eq!(got, want);
    }

    /// A phase of up to two events steps through the program's copy of them, a longer one
    /// through the spec's: moving between the two kinds loses no event and keeps no stale one.
    #[test]
    fn short_and_long_phases_alternate_with_every_event_in_order() {
        let w = workload(
            r#"{ "global": { "duration": 1 },
                 "tasks": { "t": { "loop": 2, "phases": {
                     "long": { "run": 100, "sleep": 100, "runtime": 50 },
                     "short": { "runtime": 20, "run": 10 },
                     "one": { "sleep": 5 } } } } }"#,
        );
        let got = steps(&w, 15);
        let want = [
            "start@0.0.0",
            "enter(sched=false)@0.0.0",
            "Run@0.0.0",
            "Sleep@0.0.0",
            "Runtime@0.0.0",
            "end@0.0.0",
            "enter(sched=false)@0.1.0",
            "Runtime@0.1.0",
            "Run@0.1.0",
            "end@0.1.0",
            "enter(sched=false)@0.2.0",
            "Sleep@0.2.0",
            "end@0.2.0",
            "enter(sched=false)@1.0.0",
            "Run@1.0.0",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_task_without_phases_enters_its_one_phase_again_at_every_iteration() {
        let w = workload(
            r#"{ "global": { "duration": 1 },
                 "tasks": { "t": { "loop": 2, "run": 100, "sleep": 100 } } }"#,
        );
        let got = steps(&w, 11);
        let want = [
            "start@0.0.0",
            "enter(sched=false)@0.0.0",
            "Run@0.0.0",
            "Sleep@0.0.0",
            "end@0.0.0",
            // rt-app: the `loop` of a task without `phases` counts iterations of its phase.
            "again@0.0.1",
            "Run@0.0.1",
            "Sleep@0.0.1",
            "end@0.0.1",
            "exit@1.0.0",
            "exit@1.0.0",
        ];
        assert_eq!(got, want);
    }
}
