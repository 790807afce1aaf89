//! Proxy Execution (`kernel/sched/core.c`, Linux 6.17 → 7.2 and the v30 series): a task
//! blocked on a mutex stays queued; when the scheduler picks it, `find_proxy_task()` follows
//! blocked_on → owner → blocked_on … to a task that can run, and that task runs in the blocked
//! task's place, charged to the blocked task's scheduling context (the donor).
//!
//! Which cases exist depends on [`ProxyLevel`]: `single-rq` proxies only within one runqueue
//! and otherwise lets the donor sleep; `donor-migration` moves the donor to the owner's CPU and
//! returns it when it wakes; `full` also parks donors on a sleeping owner and moves whole
//! chains.

use std::collections::VecDeque;

use proxysched_trace::{Event, WakeReason};

use crate::class::{class, DEQUEUE_MIGRATING, DEQUEUE_SLEEP, ENQUEUE_MIGRATED, ENQUEUE_WAKEUP};
use crate::core::{Sched, TimerRequest};
use crate::mutex::{Inherit, ProxyLevel, MAX_LOCK_DEPTH};
use crate::task::{TaskId, TaskState};

/// What `find_proxy_task()` decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProxyAction {
    /// Run this task (the end of the chain) on the donor's scheduling context.
    Run(TaskId),
    /// Switch to idle; with `resched`, pick again right after `prev` is off the CPU.
    Idle { resched: bool },
    /// The walk changed the world (deactivated, parked or migrated a task): pick again.
    PickAgain,
}

/// Every outcome of the proxy machinery. Each is emitted as an `Event::ProxyCase`, so traces
/// show it, metrics count it and tests use it as a coverage mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProxyCase {
    /// The chain ended at a runnable owner on this runqueue, which runs for the donor.
    RunOwner,
    /// The mutex was handed to the walked task, whose wakeup has not arrived yet.
    LockHandedOff,
    /// The chain leads back to the walked task itself (handed the lock, not yet woken).
    OwnerIsSelf,
    /// The task still on this CPU is part of the chain: switch to idle, then pick again.
    CurrInChain,
    /// The owner runs on another CPU and this level cannot migrate: the donor sleeps.
    OwnerRemoteDeactivate,
    /// The owner runs on another CPU: the donor (or chain) moves there.
    DonorMigration,
    /// The owner sleeps and this level cannot park: the donor sleeps.
    OwnerSleepingDeactivate,
    /// The owner sleeps: the waiter is parked on it until it wakes.
    ParkOnSleepingOwner,
    /// A sleeping owner woke and brought its parked donors to its runqueue.
    ActivateParked,
    /// A proxy-migrated donor woke and went back to a CPU it may run on.
    ReturnMigration,
    /// An unlock handed the mutex to the donor that was running the owner.
    BlockedDonorHandoff,
    /// The chain is a deadlock cycle: its donor sleeps for good.
    Cycle,
    /// RT/DL push/pull moved a blocked task together with its chain and owner (full).
    ChainPush,
    /// The owner is in flight between runqueues: idle until it lands.
    OwnerMigrating,
}

impl ProxyCase {
    pub const ALL: [ProxyCase; 14] = [
        ProxyCase::RunOwner,
        ProxyCase::LockHandedOff,
        ProxyCase::OwnerIsSelf,
        ProxyCase::CurrInChain,
        ProxyCase::OwnerRemoteDeactivate,
        ProxyCase::DonorMigration,
        ProxyCase::OwnerSleepingDeactivate,
        ProxyCase::ParkOnSleepingOwner,
        ProxyCase::ActivateParked,
        ProxyCase::ReturnMigration,
        ProxyCase::BlockedDonorHandoff,
        ProxyCase::Cycle,
        ProxyCase::ChainPush,
        ProxyCase::OwnerMigrating,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProxyCase::RunOwner => "run_owner",
            ProxyCase::LockHandedOff => "lock_handed_off",
            ProxyCase::OwnerIsSelf => "owner_is_self",
            ProxyCase::CurrInChain => "curr_in_chain",
            ProxyCase::OwnerRemoteDeactivate => "owner_remote_deactivate",
            ProxyCase::DonorMigration => "donor_migration",
            ProxyCase::OwnerSleepingDeactivate => "owner_sleeping_deactivate",
            ProxyCase::ParkOnSleepingOwner => "park_on_sleeping_owner",
            ProxyCase::ActivateParked => "activate_parked",
            ProxyCase::ReturnMigration => "return_migration",
            ProxyCase::BlockedDonorHandoff => "blocked_donor_handoff",
            ProxyCase::Cycle => "cycle",
            ProxyCase::ChainPush => "chain_push",
            ProxyCase::OwnerMigrating => "owner_migrating",
        }
    }
}

impl Sched {
    pub(crate) fn proxy_case(&mut self, task: TaskId, case: ProxyCase) {
        self.emit(Event::ProxyCase {
            task,
            case: case.name(),
        });
    }

    /// `task_is_blocked()`: left queued while blocked on a mutex.
    #[inline]
    pub(crate) fn task_is_blocked(&self, p: TaskId) -> bool {
        self.cfg.inherit == Inherit::Proxy && self.tasks[p.index()].is_blocked
    }

    /// `find_proxy_task()`: follow the chain from the picked, blocked `donor`. `prev` is the
    /// task still on this CPU from before the pick.
    pub(crate) fn find_proxy_task(
        &mut self,
        cpu: usize,
        donor: TaskId,
        prev: Option<TaskId>,
    ) -> ProxyAction {
        let level = self.cfg.proxy_level;
        let mut p = donor;
        let mut chain: Vec<TaskId> = Vec::new();
        let mut curr_in_chain = false;
        for _ in 0..MAX_LOCK_DEPTH {
            let t = &self.tasks[p.index()];
            if !t.is_blocked {
                if p != donor {
                    self.proxy_case(p, ProxyCase::RunOwner);
                }
                return ProxyAction::Run(p);
            }
            if t.deadlocked {
                self.proxy_case(p, ProxyCase::Cycle);
                self.proxy_deactivate(cpu, donor);
                return ProxyAction::PickAgain;
            }
            let owner = t.blocked_on.and_then(|m| self.mutexes[m.index()].owner);
            let Some(owner) = owner.filter(|_| t.blocked_on.is_some()) else {
                // The mutex was handed to `p` by the `blocked_donor` path, which clears
                // blocked_on; its wakeup is still on the way.
                self.proxy_case(p, ProxyCase::LockHandedOff);
                if Some(p) == prev {
                    let t = &mut self.tasks[p.index()];
                    t.is_blocked = false;
                    t.state = TaskState::Running;
                    self.update_pushable(p);
                    return ProxyAction::Run(p);
                }
                self.proxy_deactivate(cpu, p);
                return ProxyAction::PickAgain;
            };
            if Some(p) == prev {
                curr_in_chain = true;
            }
            chain.push(p);
            if owner == p {
                // Handed the lock by the first-waiter path; ttwu has not finished. Idle until
                // the wakeup arrives and reschedules this CPU.
                self.proxy_case(p, ProxyCase::OwnerIsSelf);
                return ProxyAction::Idle { resched: false };
            }
            let o = &self.tasks[owner.index()];
            if o.deadlocked {
                self.proxy_case(p, ProxyCase::Cycle);
                self.proxy_deactivate(cpu, donor);
                return ProxyAction::PickAgain;
            }
            if o.migrating {
                // `task_on_rq_migrating(owner)`: idle until it lands, then pick again.
                self.proxy_case(p, ProxyCase::OwnerMigrating);
                let waiters = self.tasks[owner.index()].migrate_waiters_mut();
                if !waiters.contains(&(cpu as u32)) {
                    waiters.push(cpu as u32);
                }
                return ProxyAction::Idle { resched: false };
            }
            if !o.on_rq {
                if curr_in_chain {
                    self.proxy_case(p, ProxyCase::CurrInChain);
                    return ProxyAction::Idle { resched: true };
                }
                if level == ProxyLevel::Full {
                    self.proxy_case(p, ProxyCase::ParkOnSleepingOwner);
                    self.proxy_enqueue_on_owner(cpu, p, owner);
                } else {
                    self.proxy_case(p, ProxyCase::OwnerSleepingDeactivate);
                    self.proxy_deactivate(cpu, donor);
                }
                return ProxyAction::PickAgain;
            }
            let owner_cpu = o.cpu as usize;
            if Some(owner) == prev && !o.cpus_allowed.test(cpu) {
                // The owner is still on this CPU but its new affinity is moving it away in
                // this very schedule(): idle, then follow it once it has left.
                self.proxy_case(p, ProxyCase::CurrInChain);
                return ProxyAction::Idle { resched: true };
            }
            if owner_cpu != cpu {
                if curr_in_chain {
                    self.proxy_case(p, ProxyCase::CurrInChain);
                    return ProxyAction::Idle { resched: true };
                }
                if level == ProxyLevel::SingleRq {
                    self.proxy_case(p, ProxyCase::OwnerRemoteDeactivate);
                    self.proxy_deactivate(cpu, donor);
                } else {
                    self.proxy_case(p, ProxyCase::DonorMigration);
                    // 7.1/7.2 move the one waiter whose owner is remote; the v30 series moves
                    // the chain segment on this runqueue with it.
                    let movers = if level == ProxyLevel::Full {
                        chain
                    } else {
                        vec![p]
                    };
                    self.proxy_migrate_task(cpu, &movers, owner, owner_cpu);
                }
                return ProxyAction::PickAgain;
            }
            if level >= ProxyLevel::DonorMigration {
                self.tasks[owner.index()].blocked_donor = Some(p);
            }
            p = owner;
        }
        // A chain longer than rt_mutex would walk: treat it as unresolvable.
        self.proxy_case(donor, ProxyCase::Cycle);
        self.proxy_deactivate(cpu, donor);
        ProxyAction::PickAgain
    }

    /// Stop using `p` as this CPU's scheduling context (`proxy_resched_idle()`'s first half),
    /// so it can be dequeued or moved.
    fn drop_donor(&mut self, cpu: usize, p: TaskId) {
        if self.rqs[cpu].donor == Some(p) {
            // It pays for its owner's run up to now first.
            self.update_curr(cpu);
            self.put_prev_task(cpu, p);
            self.rqs[cpu].donor = None;
        }
    }

    /// `proxy_deactivate()`: the blocked task really sleeps, like a waiter without proxy
    /// execution; the unlock that hands it the mutex wakes it.
    fn proxy_deactivate(&mut self, cpu: usize, p: TaskId) {
        self.drop_donor(cpu, p);
        self.deactivate_task(cpu, p, DEQUEUE_SLEEP);
        self.tasks[p.index()].is_blocked = false;
    }

    /// `proxy_enqueue_on_owner()`: park `p` on its sleeping owner; it comes back on the
    /// owner's runqueue when the owner wakes.
    fn proxy_enqueue_on_owner(&mut self, cpu: usize, p: TaskId, owner: TaskId) {
        self.proxy_deactivate(cpu, p);
        self.tasks[p.index()].sleeping_owner = Some(owner);
        self.tasks[owner.index()].blocked_head_mut().push(p);
    }

    /// `proxy_migrate_task()`: move blocked `tasks` to the CPU of `owner`, ignoring their
    /// affinity (they only donate there) and keeping their `wake_cpu`.
    fn proxy_migrate_task(&mut self, cpu: usize, tasks: &[TaskId], owner: TaskId, target: usize) {
        for &x in tasks {
            self.drop_donor(cpu, x);
            self.deactivate_task(cpu, x, DEQUEUE_MIGRATING);
            self.proxy_set_task_cpu(x, target);
            self.emit(Event::ProxyMigrate {
                task: x,
                owner,
                orig_cpu: cpu as u32,
                dest_cpu: target as u32,
            });
            self.update_curr(target);
            self.activate_task(target, x, ENQUEUE_MIGRATED);
            self.check_preempt(target, x);
        }
        // Like a wakeup, an arrival that cannot run there may push work on (with its chain,
        // at the full level).
        self.push_tasks(target);
    }

    /// `activate_blocked_waiters()`: `owner` woke; bring the donors parked on it (and, through
    /// them, on each other) to its runqueue.
    pub(crate) fn activate_blocked_waiters(&mut self, owner: TaskId) {
        if self.tasks[owner.index()].blocked_head().is_empty() {
            return;
        }
        let cpu = self.tasks[owner.index()].cpu as usize;
        let mut queue: VecDeque<TaskId> = self.tasks[owner.index()].take_blocked_head().into();
        while let Some(d) = queue.pop_front() {
            let t = &mut self.tasks[d.index()];
            t.sleeping_owner = None;
            if t.on_rq || t.state != TaskState::Sleeping || t.blocked_on.is_none() {
                continue;
            }
            self.proxy_case(d, ProxyCase::ActivateParked);
            if self.tasks[d.index()].cpu as usize != cpu {
                self.proxy_set_task_cpu(d, cpu);
            }
            self.update_curr(cpu);
            self.activate_task(cpu, d, ENQUEUE_WAKEUP);
            self.tasks[d.index()].is_blocked = true;
            self.update_pushable(d);
            self.check_preempt(cpu, d);
            queue.extend(self.tasks[d.index()].take_blocked_head());
        }
    }

    /// A parked donor that wakes for another reason leaves its owner's list.
    pub(crate) fn unpark_from_sleeping_owner(&mut self, p: TaskId) {
        if let Some(o) = self.tasks[p.index()].sleeping_owner.take() {
            self.tasks[o.index()].blocked_head_mut().retain(|&x| x != p);
        }
    }

    /// `proxy_reset_donor()`: the running task goes back to its own scheduling context.
    fn proxy_reset_donor(&mut self, cpu: usize) {
        let (curr, donor) = (self.rqs[cpu].curr, self.rqs[cpu].donor);
        if curr == donor {
            return;
        }
        if let Some(d) = donor {
            // The donor pays for the run on its context up to now first (a lent donor handed
            // the mutex leaves before the next tick would have charged it).
            self.update_curr(cpu);
            self.put_prev_task(cpu, d);
        }
        self.rqs[cpu].donor = curr;
        if let Some(c) = curr {
            self.set_next_task(cpu, c);
        }
        self.emit(Event::SchedDonor {
            cpu: cpu as u32,
            curr,
            donor: curr,
        });
        self.resched_curr(cpu);
    }

    /// Wake a waiter that was handed a mutex by the task running on `from_cpu`. A wakeup for
    /// another CPU (the waiter's `wake_cpu`, where a lent-out donor returns) travels by IPI
    /// (`TTWU_QUEUE`), so with a nonzero IPI latency it arrives later.
    pub(crate) fn wake_mutex_waiter(&mut self, n: TaskId, from_cpu: usize) {
        let target = self.tasks[n.index()].wake_cpu as usize;
        if self.cfg.ipi_latency_ns > 0 && target != from_cpu {
            let at_ns = self.now + self.cfg.ipi_latency_ns;
            self.out.timers.push(TimerRequest::Wake { task: n, at_ns });
        } else {
            self.deferred_wake(n);
        }
    }

    /// A mutex-handoff wakeup arrives (see [`TimerRequest::Wake`]).
    pub fn deferred_wake(&mut self, n: TaskId) {
        let t = &self.tasks[n.index()];
        if !(t.on_rq && t.is_blocked) {
            self.try_to_wake_up(n, WakeReason::Mutex);
            return;
        }
        // `ttwu_runnable()` of a blocked donor (Linux 7.2): clear is_blocked and, if it was
        // lent to another CPU, return it through the full wakeup path.
        let (cpu, wake_cpu, prio) = (t.cpu as usize, t.wake_cpu as usize, t.prio);
        let t = &mut self.tasks[n.index()];
        t.is_blocked = false;
        t.state = TaskState::Running;
        self.update_pushable(n);
        self.emit(Event::SchedWaking {
            task: n,
            prio,
            target_cpu: wake_cpu as u32,
            reason: WakeReason::Mutex,
        });
        let skip_return =
            self.cfg.planted_bug == Some(crate::core::PlantedBug::SkipReturnMigration);
        if (cpu != wake_cpu || !self.tasks[n.index()].cpus_allowed.test(cpu)) && !skip_return {
            self.proxy_case(n, ProxyCase::ReturnMigration);
            if self.rqs[cpu].donor == Some(n) {
                self.proxy_reset_donor(cpu);
            }
            self.update_curr(cpu);
            self.deactivate_task(cpu, n, DEQUEUE_MIGRATING);
            if self.rqs[cpu].curr.is_none() {
                // The CPU may have gone idle waiting for this very wakeup (`owner_is_self`).
                self.resched_curr(cpu);
            }
            let dest =
                class(self.tasks[n.index()].class()).select_task_rq(self, n, wake_cpu, false);
            self.set_task_cpu(n, dest);
            self.emit(Event::ReturnMigrate {
                task: n,
                orig_cpu: cpu as u32,
                dest_cpu: dest as u32,
            });
            self.update_curr(dest);
            self.activate_task(dest, n, ENQUEUE_WAKEUP);
            self.emit(Event::SchedWakeup {
                task: n,
                prio,
                cpu: dest as u32,
            });
            self.check_preempt(dest, n);
            self.push_tasks(dest);
            return;
        }
        self.emit(Event::SchedWakeup {
            task: n,
            prio,
            cpu: cpu as u32,
        });
        if self.rqs[cpu].donor == Some(n) {
            // It was lending its context to the owner that just unlocked: now it runs itself.
            self.resched_curr(cpu);
        } else {
            self.check_preempt(cpu, n);
        }
    }

    /// For RT/DL push/pull: the task whose affinity decides where queued `p` may go — `p`
    /// itself, or under full proxy execution the runnable owner at the end of a blocked `p`'s
    /// chain when the whole chain waits on this runqueue (`find_exec_ctx()`). `None`: `p`
    /// must stay (running, the donor, pinned, or blocked without a movable chain).
    pub(crate) fn push_exec_ctx(&self, cpu: usize, p: TaskId) -> Option<TaskId> {
        let rq = &self.rqs[cpu];
        if Some(p) == rq.curr || Some(p) == rq.donor {
            return None;
        }
        let exec = if self.task_is_blocked(p) {
            if self.cfg.proxy_level != ProxyLevel::Full {
                return None;
            }
            *self.find_exec_ctx(cpu, p)?.last()?
        } else if self.is_proxy_owner_here(cpu, p) {
            // The owner and the donors that came to run it are one unit: pushing the owner
            // alone would strand them (they follow through the donor's chain instead).
            return None;
        } else {
            p
        };
        (self.tasks[exec.index()].nr_cpus_allowed > 1).then_some(exec)
    }

    /// Could [`Sched::push_exec_ctx`] let queued `p` go, whatever else is queued with it? The
    /// RT and DL pushable lists hold exactly the queued tasks for which this is true: a task
    /// allowed on more than one CPU, or a blocked one whose chain might be (full proxy
    /// execution moves a blocked task with its owner, whose affinity decides). Whoever changes
    /// what this reads for a queued task calls [`Sched::update_pushable`].
    #[inline]
    pub(crate) fn may_be_pushable(&self, p: TaskId) -> bool {
        let t = &self.tasks[p.index()];
        t.nr_cpus_allowed > 1 || (t.is_blocked && self.cfg.proxy_level == ProxyLevel::Full)
    }

    /// Is `p` the owner of a mutex that a blocked task queued on `cpu` waits for? Then `p`
    /// and that donor are one unit for push/pull and load balancing.
    pub(crate) fn is_proxy_owner_here(&self, cpu: usize, p: TaskId) -> bool {
        self.cfg.inherit == Inherit::Proxy
            && self.tasks_cold[p.index()].held.iter().any(|m| {
                self.mutexes[m.index()].waiters.iter().any(|&w| {
                    let t = &self.tasks[w.index()];
                    t.is_blocked && t.on_rq && t.cpu as usize == cpu
                })
            })
    }

    /// `find_exec_ctx()`: the chain from blocked `p` to the runnable owner at its end, if every
    /// link is queued on `cpu` and none of them is running there.
    fn find_exec_ctx(&self, cpu: usize, p: TaskId) -> Option<Vec<TaskId>> {
        let rq = &self.rqs[cpu];
        let mut chain = vec![p];
        let mut t = p;
        for _ in 0..MAX_LOCK_DEPTH {
            if !self.task_is_blocked(t) {
                return Some(chain);
            }
            let m = self.tasks[t.index()].blocked_on?;
            let owner = self.mutexes[m.index()].owner?;
            let o = &self.tasks[owner.index()];
            if owner == t || !o.on_rq || o.cpu as usize != cpu || o.deadlocked {
                return None;
            }
            if Some(owner) == rq.curr || Some(owner) == rq.donor {
                return None;
            }
            chain.push(owner);
            t = owner;
        }
        None
    }

    /// Move queued `p` from `src` to `dst` for push/pull: alone, or with its chain (the blocked
    /// links keep their `wake_cpu`; the owner really migrates).
    pub(crate) fn move_pushable(&mut self, p: TaskId, src: usize, dst: usize) {
        if !self.task_is_blocked(p) {
            self.move_queued_task(p, src, dst);
            return;
        }
        let chain = self
            .find_exec_ctx(src, p)
            .expect("a blocked task is pushed only with its chain");
        let owner = *chain.last().expect("chains are never empty");
        self.proxy_case(p, ProxyCase::ChainPush);
        self.update_curr(src);
        self.update_curr(dst);
        for &x in &chain {
            self.deactivate_task(src, x, DEQUEUE_MIGRATING);
            if x == owner {
                self.set_task_cpu(x, dst);
            } else {
                self.proxy_set_task_cpu(x, dst);
                self.emit(Event::ProxyMigrate {
                    task: x,
                    owner,
                    orig_cpu: src as u32,
                    dest_cpu: dst as u32,
                });
            }
            self.activate_task(dst, x, ENQUEUE_MIGRATED);
        }
        self.check_preempt(dst, p);
    }

    /// A waiter handed a mutex through the first-waiter path clears its own blocked_on when
    /// it runs, as `__mutex_lock_common()` does on acquire.
    pub(crate) fn finish_handoff(&mut self, n: TaskId) {
        if let Some(m) = self.tasks[n.index()].blocked_on {
            if self.mutexes[m.index()].owner == Some(n) {
                self.tasks[n.index()].blocked_on = None;
            }
        }
    }
}
