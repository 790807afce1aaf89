//! Kernel mutexes with an owner, a wait list and direct handoff, under the three inheritance
//! modes: `none` (waiters sleep, FIFO), `pi` (rt_mutex: priority-ordered waiters, the owner
//! boosted along the chain) and `proxy` (blocked waiters stay queued; see `proxy.rs`).
//!
//! Handoff: an unlock with waiters makes the chosen waiter the owner before waking it, so a
//! woken waiter never has to compete for the lock again (as `MUTEX_FLAG_HANDOFF` does).

use proxysched_trace::Event;

use crate::attr::ClassId;
use crate::core::Sched;
use crate::task::{TaskId, TaskState};

/// A mutex, by its index in the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MutexId(pub u32);

impl MutexId {
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// How a task blocked on a mutex is handled (DESIGN.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Inherit {
    None,
    Pi,
    Proxy,
}

impl Inherit {
    pub fn name(self) -> &'static str {
        match self {
            Inherit::None => "none",
            Inherit::Pi => "pi",
            Inherit::Proxy => "proxy",
        }
    }
}

/// How much of proxy execution is modelled, by the Linux release that has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProxyLevel {
    /// Linux 6.17: proxy only when the whole chain is on this runqueue.
    SingleRq,
    /// Linux 7.1/7.2: donor migration, return migration on wakeup, `blocked_donor` handoff.
    DonorMigration,
    /// The v30 series on top: donors parked on a sleeping owner, chains moved as one unit.
    Full,
}

impl ProxyLevel {
    pub fn name(self) -> &'static str {
        match self {
            ProxyLevel::SingleRq => "single-rq",
            ProxyLevel::DonorMigration => "donor-migration",
            ProxyLevel::Full => "full",
        }
    }
}

/// rt_mutex bounds its chain walk (`max_lock_depth`).
pub const MAX_LOCK_DEPTH: usize = 1024;

#[derive(Clone, Debug)]
pub struct Mutex {
    pub name: String,
    pub owner: Option<TaskId>,
    /// Waiters in the order they get the lock: arrival order, or under `pi` by priority
    /// (arrival order among equals), as rt_mutex keeps them.
    pub waiters: Vec<TaskId>,
}

/// What `mutex_lock()` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockResult {
    Acquired,
    /// The task waits; when it runs again it owns the mutex.
    Blocked,
    /// Taking the mutex closes a cycle of waiters: the task waits forever.
    Deadlock,
}

impl Sched {
    pub fn add_mutex(&mut self, name: &str) -> MutexId {
        let m = MutexId(self.mutexes.len() as u32);
        self.mutexes.push(Mutex {
            name: name.to_string(),
            owner: None,
            waiters: Vec::new(),
        });
        self.emit(Event::MutexNew {
            mutex: m.0,
            name: name.to_string(),
        });
        m
    }

    pub fn mutex(&self, m: MutexId) -> &Mutex {
        &self.mutexes[m.index()]
    }

    /// The running task of `cpu` locks `m`.
    pub fn mutex_lock(&mut self, cpu: usize, m: MutexId) -> LockResult {
        let p = self.rqs[cpu].curr.expect("mutex_lock on an idle CPU");
        let Some(owner) = self.mutexes[m.index()].owner else {
            self.mutexes[m.index()].owner = Some(p);
            self.tasks_cold[p.index()].held.push(m);
            self.emit(Event::LockAcquire {
                task: p,
                mutex: m.0,
            });
            return LockResult::Acquired;
        };
        self.enqueue_waiter(m, p);
        self.tasks[p.index()].blocked_on = Some(m);
        self.emit(Event::LockContend {
            task: p,
            mutex: m.0,
            owner,
        });
        // Locking a mutex one already holds (AA) is the shortest cycle.
        let cycle = if owner == p {
            Some((vec![p], vec![m]))
        } else {
            self.find_lock_cycle(p)
        };
        if let Some((tasks, mutexes)) = cycle {
            for &t in &tasks {
                self.tasks[t.index()].deadlocked = true;
            }
            self.emit(Event::Deadlock {
                tasks,
                mutexes: mutexes.iter().map(|m| m.0).collect(),
            });
            self.tasks[p.index()].state = TaskState::Sleeping;
            self.resched_curr(cpu);
            return LockResult::Deadlock;
        }
        self.tasks[p.index()].state = TaskState::Sleeping;
        self.resched_curr(cpu);
        if self.cfg.inherit == Inherit::Pi {
            self.rt_mutex_adjust_prio_chain(owner);
        }
        LockResult::Blocked
    }

    /// The running task of `cpu` unlocks `m`; false if it does not own it (the caller reports
    /// that as a workload error).
    pub fn mutex_unlock(&mut self, cpu: usize, m: MutexId) -> bool {
        let p = self.rqs[cpu].curr.expect("mutex_unlock on an idle CPU");
        if self.mutexes[m.index()].owner != Some(p) {
            return false;
        }
        self.tasks_cold[p.index()].held.retain(|&h| h != m);
        let next = self.pick_handoff(p, m);
        let to_donor = next.is_some() && next == self.tasks[p.index()].blocked_donor;
        if to_donor {
            self.tasks[p.index()].blocked_donor = None;
        }
        self.mutexes[m.index()].owner = next;
        self.emit(Event::LockRelease {
            task: p,
            mutex: m.0,
            next,
        });
        if let Some(n) = next {
            self.mutexes[m.index()].waiters.retain(|&w| w != n);
            let t = &mut self.tasks[n.index()];
            // Under proxy execution only the `blocked_donor` handoff clears the waiter's
            // blocked_on here; a first waiter clears its own when it runs (`finish_handoff`).
            if self.cfg.inherit != Inherit::Proxy || to_donor {
                t.blocked_on = None;
            }
            self.tasks_cold[n.index()].held.push(m);
            if to_donor {
                self.proxy_case(n, crate::proxy::ProxyCase::BlockedDonorHandoff);
            }
            self.emit(Event::LockAcquire {
                task: n,
                mutex: m.0,
            });
        }
        if self.cfg.inherit == Inherit::Pi {
            // The old owner loses what this mutex's waiters lent it; the new one inherits from
            // the waiters that remain.
            self.rt_mutex_adjust_prio(p);
            if let Some(n) = next {
                self.rt_mutex_adjust_prio(n);
            }
        }
        if let Some(n) = next {
            self.wake_mutex_waiter(n, cpu);
        }
        if self.rqs[cpu].donor != self.rqs[cpu].curr {
            // Running as a proxy, the owner just changed its donor's chain: walk it again.
            self.resched_curr(cpu);
        }
        true
    }

    /// The waiter that gets `m` from `p`: under proxy execution (from Linux 7.2) the donor that
    /// was lending `p` its scheduling context, if it still waits for `m`; else the first waiter.
    fn pick_handoff(&self, p: TaskId, m: MutexId) -> Option<TaskId> {
        if self.cfg.inherit == Inherit::Proxy && self.cfg.proxy_level >= ProxyLevel::DonorMigration
        {
            if let Some(d) = self.tasks[p.index()].blocked_donor {
                if self.tasks[d.index()].blocked_on == Some(m) {
                    return Some(d);
                }
            }
        }
        self.mutexes[m.index()].waiters.first().copied()
    }

    fn enqueue_waiter(&mut self, m: MutexId, p: TaskId) {
        let waiters = &self.mutexes[m.index()].waiters;
        let pos = if self.cfg.inherit == Inherit::Pi {
            let key = self.waiter_key(p);
            waiters
                .iter()
                .position(|&w| self.waiter_key(w) > key)
                .unwrap_or(waiters.len())
        } else {
            waiters.len()
        };
        self.mutexes[m.index()].waiters.insert(pos, p);
    }

    /// rt_mutex waiter order: prio, then (for DL) absolute deadline.
    fn waiter_key(&self, p: TaskId) -> (i32, u64) {
        let t = &self.tasks[p.index()];
        let dl = if t.class() == ClassId::Deadline {
            t.dl.deadline
        } else {
            0
        };
        (t.prio, dl)
    }

    /// Walk owner → blocked_on → owner … from `p`'s mutex; a walk that comes back to `p` is a
    /// deadlock: the tasks and mutexes of the cycle, in order.
    fn find_lock_cycle(&self, p: TaskId) -> Option<(Vec<TaskId>, Vec<MutexId>)> {
        let mut tasks = vec![p];
        let mut mutexes = Vec::new();
        let mut t = p;
        for _ in 0..MAX_LOCK_DEPTH {
            let m = self.tasks[t.index()].blocked_on?;
            let owner = self.mutexes[m.index()].owner?;
            if owner == t {
                // Handed the mutex, not yet running: not waiting any more.
                return None;
            }
            mutexes.push(m);
            if owner == p {
                return Some((tasks, mutexes));
            }
            tasks.push(owner);
            t = owner;
        }
        None
    }

    // ----- priority inheritance -----------------------------------------------------------

    /// `rt_mutex_getprio()`: the task's own prio, or its best waiter's if better.
    fn pi_effective_prio(&self, p: TaskId) -> (i32, Option<TaskId>) {
        let t = &self.tasks[p.index()];
        let mut best = (t.attr.normal_prio(), None);
        for &m in &self.tasks_cold[p.index()].held {
            if let Some(&w) = self.mutexes[m.index()].waiters.first() {
                let wp = self.tasks[w.index()].prio;
                if wp < best.0 {
                    best = (wp, Some(w));
                }
            }
        }
        best
    }

    /// `rt_mutex_adjust_prio()`: recompute `p`'s effective prio; true if it changed.
    fn rt_mutex_adjust_prio(&mut self, p: TaskId) -> bool {
        let (prio, pi_task) = self.pi_effective_prio(p);
        if prio == self.tasks[p.index()].prio {
            return false;
        }
        self.rt_mutex_setprio(p, prio, pi_task);
        true
    }

    /// `rt_mutex_adjust_prio_chain()`: propagate a waiter's priority up the chain of owners,
    /// requeueing each blocked owner among its own mutex's waiters.
    fn rt_mutex_adjust_prio_chain(&mut self, mut owner: TaskId) {
        for _ in 0..MAX_LOCK_DEPTH {
            if !self.rt_mutex_adjust_prio(owner) {
                return;
            }
            let Some(m) = self.tasks[owner.index()].blocked_on else {
                return;
            };
            self.mutexes[m.index()].waiters.retain(|&w| w != owner);
            self.enqueue_waiter(m, owner);
            match self.mutexes[m.index()].owner {
                Some(next) => owner = next,
                None => return,
            }
        }
    }

    /// `rt_mutex_setprio()`: give `p` the effective prio `prio`, moving it between classes as
    /// needed. A task boosted into SCHED_DEADLINE runs with its top waiter's deadline and is
    /// never throttled while boosted.
    fn rt_mutex_setprio(&mut self, p: TaskId, prio: i32, pi_task: Option<TaskId>) {
        let old_prio = self.tasks[p.index()].prio;
        let dl_donor = pi_task.filter(|w| self.tasks[w.index()].class() == ClassId::Deadline);
        self.change_prio(p, |s| {
            let boost = dl_donor.map(|w| s.tasks[w.index()].dl.clone());
            let t = &mut s.tasks[p.index()];
            t.prio = prio;
            match boost {
                Some(d) => t.dl.boost_from(&d),
                None => t.dl.unboost(),
            }
        });
        self.emit(Event::PiSetprio {
            task: p,
            old_prio,
            new_prio: prio,
        });
    }
}
