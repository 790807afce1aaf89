//! Per-CPU state kept as masks, so that wakeup and push searches test a few words instead of
//! visiting every runqueue: `cpupri` (`kernel/sched/cpupri.c`: the RT priority level of each
//! CPU and the CPUs at each level), cpudl's `free_cpus` (no SCHED_DEADLINE task queued), the
//! CPUs whose runqueue is empty, the idle ones, and the ones with fair tasks waiting (where the
//! fair load balancer pulls from).
//!
//! The masks are kept exact: every change to what they summarise (a runqueue's queues, its
//! running task, RT throttling) calls [`Sched::update_cpu_masks`], and `check_invariants`
//! recomputes them. A search over them therefore answers what the scan over every CPU did,
//! ties included (first CPU in `for_each_cpu_wrap()` order from the same start).

use crate::attr::MAX_RT_PRIO;
use crate::core::Sched;
use crate::cpumask::CpuMask;
use crate::rt::RtSchedClass;

/// Levels of [`RtSchedClass::cpupri`]: -1 (DL work or RT throttled, never a target), 0..=99
/// (the highest RT prio queued), 100 (fair work only), 101 (idle); stored as level + 1.
const NR_LEVELS: usize = 103;

/// `struct cpupri`.
#[derive(Debug)]
pub(crate) struct CpuPri {
    /// The level of each CPU, as `cpupri + 1`.
    cpu_to_pri: Vec<u8>,
    /// The CPUs at each level (`pri_to_cpu[]`).
    pri_to_cpu: Vec<CpuMask>,
    /// Levels with at least one CPU.
    nonempty: [u64; 2],
}

impl CpuPri {
    /// Every CPU at level `pri` to start with.
    pub(crate) fn new(nr_cpus: usize, pri: i32) -> Self {
        let mut cp = CpuPri {
            cpu_to_pri: vec![(pri + 1) as u8; nr_cpus],
            pri_to_cpu: vec![CpuMask::empty(); NR_LEVELS],
            nonempty: [0; 2],
        };
        cp.pri_to_cpu[(pri + 1) as usize] = CpuMask::first_n(nr_cpus);
        cp.nonempty[(pri + 1) as usize / 64] |= 1 << ((pri + 1) % 64);
        cp
    }

    #[inline]
    pub(crate) fn get(&self, cpu: usize) -> i32 {
        self.cpu_to_pri[cpu] as i32 - 1
    }

    /// `cpupri_set()`.
    #[inline]
    pub(crate) fn set(&mut self, cpu: usize, pri: i32) {
        let new = (pri + 1) as usize;
        let old = self.cpu_to_pri[cpu] as usize;
        if old == new {
            return;
        }
        self.cpu_to_pri[cpu] = new as u8;
        self.pri_to_cpu[old].clear(cpu);
        if self.pri_to_cpu[old].is_empty() {
            self.nonempty[old / 64] &= !(1 << (old % 64));
        }
        self.pri_to_cpu[new].set(cpu);
        self.nonempty[new / 64] |= 1 << (new % 64);
    }

    /// `cpupri_find()`: a CPU of `allowed` at the highest level above `above`, the first in
    /// wrap order from `start` among those.
    pub(crate) fn find(&self, allowed: &CpuMask, above: i32, start: usize) -> Option<usize> {
        let lowest = (above + 2).max(0) as usize;
        for wi in (0..2).rev() {
            let mut w = self.nonempty[wi];
            while w != 0 {
                let level = wi * 64 + 63 - w.leading_zeros() as usize;
                if level < lowest {
                    return None;
                }
                if let Some(c) = self.pri_to_cpu[level].first_and_wrap(allowed, start) {
                    return Some(c);
                }
                w &= !(1 << (level % 64));
            }
        }
        None
    }
}

/// A runqueue's state as the masks record it: cpupri + 1 in the low byte, then flags.
const PRI_BITS: u16 = 0xff;
const EMPTY: u16 = 1 << 8;
const IDLE: u16 = 1 << 9;
const DL_FREE: u16 = 1 << 10;
/// At least two fair tasks queued: one of them waits, and a balancer may pull it.
const CFS_OVERLOAD: u16 = 1 << 11;
/// A CPU with nothing queued or running.
pub(crate) const IDLE_STATE: u16 = (MAX_RT_PRIO + 2) as u16 | EMPTY | IDLE | DL_FREE;

impl Sched {
    /// Bring `cpu`'s bits in the state masks up to date with its runqueue; see the module
    /// comment for who calls it.
    pub(crate) fn update_cpu_masks(&mut self, cpu: usize) {
        let (state, pri) = self.cpu_mask_state(cpu);
        let old = std::mem::replace(&mut self.rqs[cpu].mask_state, state);
        if old == state {
            return;
        }
        // The recorded word says what each mask holds for this CPU: touch only what changed.
        let changed = old ^ state;
        let masks = [
            (EMPTY, &mut self.rq_empty_cpus),
            (IDLE, &mut self.idle_cpus),
            (DL_FREE, &mut self.dl_free_cpus),
            (CFS_OVERLOAD, &mut self.cfs_overload_cpus),
        ];
        for (flag, mask) in masks {
            if changed & flag != 0 {
                if state & flag != 0 {
                    mask.set(cpu);
                } else {
                    mask.clear(cpu);
                }
            }
        }
        if changed & PRI_BITS != 0 {
            self.cpupri.set(cpu, pri);
        }
    }

    /// What the masks should record for `cpu` now: its state word and its cpupri level.
    fn cpu_mask_state(&self, cpu: usize) -> (u16, i32) {
        let rq = &self.rqs[cpu];
        let empty = rq.nr_running() == 0;
        let pri = RtSchedClass::cpupri(self, cpu);
        let state = (pri + 1) as u16
            | if empty { EMPTY } else { 0 }
            | if empty && rq.curr.is_none() { IDLE } else { 0 }
            | if rq.dl.dl_nr_running == 0 { DL_FREE } else { 0 }
            | if rq.cfs.nr_queued >= 2 {
                CFS_OVERLOAD
            } else {
                0
            };
        (state, pri)
    }

    /// The masks agree with the runqueues; for `check_invariants`.
    pub(crate) fn check_cpu_masks(&self) -> Result<(), String> {
        for (cpu, rq) in self.rqs.iter().enumerate() {
            let (state, expected_pri) = self.cpu_mask_state(cpu);
            let expected = (
                state & EMPTY != 0,
                state & IDLE != 0,
                state & DL_FREE != 0,
                state & CFS_OVERLOAD != 0,
                expected_pri,
            );
            let pri = self.cpupri.get(cpu);
            let found = (
                self.rq_empty_cpus.test(cpu),
                self.idle_cpus.test(cpu),
                self.dl_free_cpus.test(cpu),
                self.cfs_overload_cpus.test(cpu),
                pri,
            );
            if found != expected
                || !self.cpupri.pri_to_cpu[(pri + 1) as usize].test(cpu)
                || rq.mask_state != state
            {
                return Err(format!(
                    "cpu{cpu}: masks say (empty, idle, dl free, cfs overload, cpupri) = {found:?}, the \
                     runqueue {expected:?}"
                ));
            }
        }
        let nr_in_levels: u32 = self.cpupri.pri_to_cpu.iter().map(|m| m.weight()).sum();
        let nonempty = (0..NR_LEVELS)
            .filter(|&l| !self.cpupri.pri_to_cpu[l].is_empty())
            .fold([0u64; 2], |mut b, l| {
                b[l / 64] |= 1 << (l % 64);
                b
            });
        if nr_in_levels as usize != self.rqs.len() || nonempty != self.cpupri.nonempty {
            return Err(format!(
                "cpupri: {nr_in_levels} CPUs in its levels for {}, non-empty levels {:?} \
                 recorded as {:?}",
                self.rqs.len(),
                nonempty,
                self.cpupri.nonempty
            ));
        }
        Ok(())
    }
}
