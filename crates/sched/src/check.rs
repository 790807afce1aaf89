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
                    return Err(format!(
                        "{} ({p}) runs but is not queued",
                        self.task_name(p)
                    ));
                }
                continue;
            }
            let cpu = t.cpu as usize;
            let rq = &self.rqs[cpu];
            let in_class = match t.class() {
                ClassId::Deadline => rq.dl.queued().filter(|&q| q == p).count(),
                ClassId::Rt => rq.rt.queued(&self.rt_nodes).filter(|&q| q == p).count(),
                ClassId::Fair => {
                    self.cfs_queued(cpu).filter(|&q| q == p).count()
                        + usize::from(rq.cfs.curr == Some(p))
                }
            };
            let throttled = t.class() == ClassId::Deadline && t.dl.dl_throttled;
            if in_class != usize::from(!throttled) {
                return Err(format!(
                    "{} ({p}) is queued on cpu{cpu} but appears {in_class} times in its class queue",
                    self.task_name(p)
                ));
            }
            if !throttled {
                queued_on[cpu] += 1;
            }
            // Only a blocked donor may sit on a CPU outside its affinity (it is only lending
            // its context there); once woken it must be back where it may run.
            if !t.is_blocked && !t.cpus_allowed.test(cpu) && rq.curr != Some(p) {
                return Err(format!(
                    "{} ({p}) is runnable on cpu{cpu}, outside its affinity {:?}",
                    self.task_name(p),
                    t.cpus_allowed
                ));
            }
            if t.state == TaskState::Dead {
                return Err(format!(
                    "{} ({p}) is dead but still queued",
                    self.task_name(p)
                ));
            }
        }
        for (cpu, rq) in self.rqs.iter().enumerate() {
            self.check_timeline(cpu)?;
            rq.dl.check_order().map_err(|e| format!("cpu{cpu}: {e}"))?;
            let earliest = rq
                .dl
                .queued()
                .next()
                .map_or(0, |p| self.task(p).dl.deadline);
            if self.cpudl_earliest[cpu] != earliest {
                return Err(format!(
                    "cpu{cpu}: cpudl records earliest deadline {}, the queue has {earliest}",
                    self.cpudl_earliest[cpu]
                ));
            }
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
                return Err(format!(
                    "cpu{cpu}: curr {} belongs to cpu{}",
                    self.task_name(curr),
                    t.cpu
                ));
            }
            if !t.cpus_allowed.test(cpu) {
                return Err(format!(
                    "cpu{cpu}: curr {} runs outside its affinity {:?}",
                    self.task_name(curr),
                    t.cpus_allowed
                ));
            }
            if t.state != TaskState::Running {
                return Err(format!(
                    "cpu{cpu}: curr {} is {:?}, not runnable",
                    self.task_name(curr),
                    t.state
                ));
            }
            if t.is_blocked
                || t.blocked_on
                    .is_some_and(|m| self.mutex(m).owner != Some(curr))
            {
                return Err(format!(
                    "cpu{cpu}: curr {} is blocked on a mutex",
                    self.task_name(curr)
                ));
            }
            if rq.donor != rq.curr {
                self.check_proxy_chain(cpu)?;
            }
            // With an IPI latency a reschedule of another CPU is legitimately in flight.
            if rq.need_resched && self.cfg.ipi_latency_ns == 0 {
                return Err(format!("cpu{cpu}: a reschedule is pending between events"));
            }
        }
        self.check_pushable()?;
        self.check_cpu_masks()?;
        crate::deadline::DlSchedClass::check_push_shortcut(self)?;
        for (i, m) in self.mutexes.iter().enumerate() {
            // Handoff: a mutex with waiters always has an owner, so no waiter can be forgotten.
            if m.owner.is_none() && !m.waiters.is_empty() {
                return Err(format!("mutex {} is free but has waiters", m.name));
            }
            if let Some(o) = m.owner {
                if !self.held(o).contains(&crate::mutex::MutexId(i as u32)) {
                    return Err(format!(
                        "mutex {} owned by {} not in its held list",
                        m.name,
                        self.task_name(o)
                    ));
                }
            }
            for &w in &m.waiters {
                if self.task(w).blocked_on != Some(crate::mutex::MutexId(i as u32)) {
                    return Err(format!(
                        "{} waits for {} but is blocked on {:?}",
                        self.task_name(w),
                        m.name,
                        self.task(w).blocked_on
                    ));
                }
            }
        }
        Ok(())
    }

    /// The EEVDF timeline is a well-formed tree holding every waiting fair task with its
    /// current deadline, vruntime and last pick time.
    fn check_timeline(&self, cpu: usize) -> Result<(), String> {
        let cfs = &self.rqs[cpu].cfs;
        cfs.timeline
            .check(&self.run_nodes)
            .map_err(|e| format!("cpu{cpu}: {e}"))?;
        for ((deadline, p), vruntime, picked_ns) in cfs.timeline.iter(&self.run_nodes) {
            let se = &self.task(p).se;
            if (se.deadline, se.vruntime, se.last_picked_ns) != (deadline, vruntime, picked_ns) {
                return Err(format!(
                    "cpu{cpu}: {} ({p}) is on the timeline with deadline {deadline}, vruntime \
                     {vruntime}, last picked at {picked_ns} but has {}, {} and {}",
                    self.task_name(p),
                    se.deadline,
                    se.vruntime,
                    se.last_picked_ns
                ));
            }
        }
        let curr_queued = cfs.curr.is_some_and(|c| {
            let t = self.task(c);
            t.on_rq && t.class() == ClassId::Fair && t.cpu as usize == cpu
        });
        if cfs.timeline.len() + usize::from(curr_queued) != cfs.nr_queued as usize {
            return Err(format!(
                "cpu{cpu}: {} fair tasks queued but {} on the timeline",
                cfs.nr_queued,
                cfs.timeline.len()
            ));
        }
        Ok(())
    }

    /// The RT and DL pushable lists hold exactly the queued tasks that may be pushable, in
    /// their queue's order, and the tasks' `on_list`/`on_dl_rq`/`pushable` flags agree.
    fn check_pushable(&self) -> Result<(), String> {
        let (mut on_rt, mut on_dl) = (0, 0);
        for (cpu, rq) in self.rqs.iter().enumerate() {
            for (class, queued, pushable) in [
                (
                    "RT",
                    rq.rt.queued(&self.rt_nodes).collect::<Vec<_>>(),
                    rq.rt.pushable(&self.rt_nodes).collect::<Vec<_>>(),
                ),
                ("DL", rq.dl.queued().collect(), rq.dl.pushable().collect()),
            ] {
                for &p in &queued {
                    let t = self.task(p);
                    let (on, flag) = if class == "RT" {
                        (self.rt_nodes.on_list(p), self.rt_nodes.pushable(p))
                    } else {
                        (t.dl.on_dl_rq, t.dl.pushable)
                    };
                    if !on || t.cpu as usize != cpu || flag != self.may_be_pushable(p) {
                        return Err(format!(
                            "cpu{cpu}: {class} task {} ({p}) has on-queue {on}, pushable {flag} \
                             and cpu{}",
                            self.task_name(p),
                            t.cpu
                        ));
                    }
                }
                let expected: Vec<_> = queued
                    .iter()
                    .copied()
                    .filter(|&p| self.may_be_pushable(p))
                    .collect();
                if pushable != expected {
                    return Err(format!(
                        "cpu{cpu}: {class} pushable list {pushable:?}, expected {expected:?}"
                    ));
                }
            }
            on_rt += rq.rt.queued(&self.rt_nodes).count();
            on_dl += rq.dl.queued().count();
        }
        let flagged_rt = self
            .tasks()
            .filter(|&(p, _)| self.rt_nodes.on_list(p))
            .count();
        let flagged_dl = self.tasks.iter().filter(|t| t.dl.on_dl_rq).count();
        if (flagged_rt, flagged_dl) != (on_rt, on_dl) {
            return Err(format!(
                "{flagged_rt} tasks think they are on an RT list and {flagged_dl} on an EDF \
                 queue, but {on_rt} and {on_dl} are"
            ));
        }
        Ok(())
    }

    /// A `curr` that differs from the donor must be the end of the donor's blocked-on chain,
    /// and a donor outside its affinity must never be `curr`.
    fn check_proxy_chain(&self, cpu: usize) -> Result<(), String> {
        let rq = &self.rqs[cpu];
        let (Some(donor), Some(curr)) = (rq.donor, rq.curr) else {
            return Err(format!(
                "cpu{cpu}: donor {:?} without curr {:?}",
                rq.donor, rq.curr
            ));
        };
        if self.cfg.inherit != crate::mutex::Inherit::Proxy {
            return Err(format!(
                "cpu{cpu}: donor differs from curr without proxy execution"
            ));
        }
        let mut p = donor;
        for _ in 0..crate::mutex::MAX_LOCK_DEPTH {
            if p == curr {
                return Ok(());
            }
            let Some(m) = self.task(p).blocked_on else {
                break;
            };
            match self.mutex(m).owner {
                Some(o) => p = o,
                None => break,
            }
        }
        Err(format!(
            "cpu{cpu}: curr {} is not at the end of donor {}'s blocked-on chain",
            self.task_name(curr),
            self.task_name(donor)
        ))
    }
}
