//! Scheduling policies and attributes as `sched_setattr(2)` takes them, and the kernel's
//! priority encoding (`p->prio`): -1 for DEADLINE, 0..=98 for RT (99 - rt_priority),
//! 100..=139 for fair tasks (120 + nice). The class of a task follows from its effective prio,
//! as in Linux, so priority inheritance can move a task between classes by changing one number.

/// Scheduling policy, as `sched_setattr(2)` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Policy {
    Normal,
    Batch,
    Idle,
    Fifo,
    RoundRobin,
    Deadline,
}

impl Policy {
    /// The kernel's name, as rt-app accepts it and as metrics print it.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Policy::Normal => "SCHED_OTHER",
            Policy::Batch => "SCHED_BATCH",
            Policy::Idle => "SCHED_IDLE",
            Policy::Fifo => "SCHED_FIFO",
            Policy::RoundRobin => "SCHED_RR",
            Policy::Deadline => "SCHED_DEADLINE",
        }
    }

    pub fn is_fair(self) -> bool {
        matches!(self, Policy::Normal | Policy::Batch | Policy::Idle)
    }

    pub fn is_rt(self) -> bool {
        matches!(self, Policy::Fifo | Policy::RoundRobin)
    }
}

/// Scheduling attributes, already validated by whoever built them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedAttr {
    /// SCHED_OTHER/BATCH/IDLE. `slice_ns` is the EEVDF custom slice (`sched_runtime` on a fair
    /// task, Linux 6.12+); `None` means the base slice.
    Fair {
        policy: Policy,
        nice: i32,
        slice_ns: Option<u64>,
    },
    /// SCHED_FIFO/RR with rt_priority 1..=99.
    Rt { policy: Policy, rt_priority: u32 },
    /// SCHED_DEADLINE: runtime <= deadline <= period.
    Deadline {
        runtime_ns: u64,
        deadline_ns: u64,
        period_ns: u64,
    },
}

impl SchedAttr {
    pub fn policy(&self) -> Policy {
        match *self {
            SchedAttr::Fair { policy, .. } | SchedAttr::Rt { policy, .. } => policy,
            SchedAttr::Deadline { .. } => Policy::Deadline,
        }
    }

    /// `normal_prio()`: the kernel prio these attributes give, before any inheritance.
    pub fn normal_prio(&self) -> i32 {
        match *self {
            SchedAttr::Deadline { .. } => DL_PRIO,
            SchedAttr::Rt { rt_priority, .. } => MAX_RT_PRIO - 1 - rt_priority as i32,
            SchedAttr::Fair { nice, .. } => nice_to_prio(nice),
        }
    }
}

/// `p->prio` of every SCHED_DEADLINE task.
pub const DL_PRIO: i32 = -1;
/// Prios below this are RT (or DL).
pub const MAX_RT_PRIO: i32 = 100;
pub const DEFAULT_PRIO: i32 = 120;

pub fn nice_to_prio(nice: i32) -> i32 {
    DEFAULT_PRIO + nice
}

/// The class a prio belongs to, in the order the core consults classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClassId {
    Deadline,
    Rt,
    Fair,
}

impl ClassId {
    pub const ALL: [ClassId; 3] = [ClassId::Deadline, ClassId::Rt, ClassId::Fair];

    #[inline]
    pub fn of_prio(prio: i32) -> ClassId {
        if prio < 0 {
            ClassId::Deadline
        } else if prio < MAX_RT_PRIO {
            ClassId::Rt
        } else {
            ClassId::Fair
        }
    }
}

pub const NICE_0_LOAD: u64 = 1024;
/// Weight of a SCHED_IDLE task (`WEIGHT_IDLEPRIO`).
pub const WEIGHT_IDLEPRIO: u64 = 3;

/// `sched_prio_to_weight[]`: nice -20..=19 to load weight; each step is ~1.25x so that one nice
/// level is ~10% of CPU between two competing tasks.
pub const PRIO_TO_WEIGHT: [u64; 40] = [
    88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904,
    3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87,
    70, 56, 45, 36, 29, 23, 18, 15,
];

/// Load weight of a fair task with these attributes.
pub fn fair_weight(policy: Policy, nice: i32) -> u64 {
    if policy == Policy::Idle {
        WEIGHT_IDLEPRIO
    } else {
        PRIO_TO_WEIGHT[(nice.clamp(-20, 19) + 20) as usize]
    }
}

/// `to_ratio()`: bandwidth as a fraction of 1 << BW_SHIFT, the fixed point Linux uses for
/// SCHED_DEADLINE admission control.
pub const BW_SHIFT: u32 = 20;
pub const BW_UNIT: u64 = 1 << BW_SHIFT;

pub fn to_ratio(period_ns: u64, runtime_ns: u64) -> u64 {
    if period_ns == 0 {
        return 0;
    }
    ((runtime_ns as u128) << BW_SHIFT).div_euclid(period_ns as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prio_encoding_matches_the_kernel() {
        let fifo10 = SchedAttr::Rt {
            policy: Policy::Fifo,
            rt_priority: 10,
        };
        assert_eq!(fifo10.normal_prio(), 89);
        let nice5 = SchedAttr::Fair {
            policy: Policy::Normal,
            nice: 5,
            slice_ns: None,
        };
        assert_eq!(nice5.normal_prio(), 125);
        assert_eq!(ClassId::of_prio(89), ClassId::Rt);
        assert_eq!(ClassId::of_prio(125), ClassId::Fair);
        assert_eq!(ClassId::of_prio(DL_PRIO), ClassId::Deadline);
        assert_eq!(fair_weight(Policy::Normal, 5), 335);
        assert_eq!(fair_weight(Policy::Idle, 0), 3);
        assert_eq!(to_ratio(1_000_000_000, 950_000_000), 996_147);
    }
}
