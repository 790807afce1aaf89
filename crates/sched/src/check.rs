//! Invariants of the core's state (DESIGN.md §7), checked between events in tests and with
//! `--check`. A violation is a bug in proxysched, reported with enough context to find it.

use crate::attr::ClassId;
use crate::core::Sched;
use crate::task::TaskState;

impl Sched {
    /// Check every invariant; the first violation is returned as a message.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut queued_on = vec![0u32; self.rqs.len()];
        for (p, t) in self.tasks() {
            if !t.on_rq {
                if self.rqs.iter().any(|rq| rq.curr == Some(p)) {
                    return Err(format!("{} ({p}) runs but is not queued", t.name));
                }
                continue;
            }
            let cpu = t.cpu as usize;
            let rq = &self.rqs[cpu];
            let in_class = match t.class() {
                ClassId::Deadline => rq.dl.queued().filter(|&q| q == p).count(),
                ClassId::Rt => rq.rt.queued().filter(|&q| q == p).count(),
                ClassId::Fair => {
                    rq.cfs.queued().filter(|&q| q == p).count()
                        + usize::from(rq.cfs.curr == Some(p))
                }
            };
            let throttled = t.class() == ClassId::Deadline && t.dl.dl_throttled;
            if in_class != usize::from(!throttled) {
                return Err(format!(
                    "{} ({p}) is queued on cpu{cpu} but appears {in_class} times in its class queue",
                    t.name
                ));
            }
            if !throttled {
                queued_on[cpu] += 1;
            }
            if t.state == TaskState::Dead {
                return Err(format!("{} ({p}) is dead but still queued", t.name));
            }
        }
        for (cpu, rq) in self.rqs.iter().enumerate() {
            if rq.nr_running() != queued_on[cpu] {
                return Err(format!(
                    "cpu{cpu}: nr_running {} but {} tasks are queued there",
                    rq.nr_running(),
                    queued_on[cpu]
                ));
            }
            let Some(curr) = rq.curr else {
                if rq.donor.is_some() {
                    return Err(format!("cpu{cpu}: idle but has a donor"));
                }
                continue;
            };
            let t = self.task(curr);
            if t.cpu as usize != cpu {
                return Err(format!("cpu{cpu}: curr {} belongs to cpu{}", t.name, t.cpu));
            }
            if !t.cpus_allowed.test(cpu) {
                return Err(format!(
                    "cpu{cpu}: curr {} runs outside its affinity {:?}",
                    t.name, t.cpus_allowed
                ));
            }
            if t.state != TaskState::Running {
                return Err(format!(
                    "cpu{cpu}: curr {} is {:?}, not runnable",
                    t.name, t.state
                ));
            }
            if rq.donor != rq.curr {
                return Err(format!(
                    "cpu{cpu}: donor differs from curr without proxy execution"
                ));
            }
            if rq.need_resched {
                return Err(format!("cpu{cpu}: a reschedule is pending between events"));
            }
        }
        Ok(())
    }
}
