//! The event queue: a min-heap on (time, rank, sequence). At one instant the ends of `run`
//! segments come first (rank 0), then everything else (rank 1) in the order it was scheduled:
//! work that is done at t is done before anything else at t can look at the CPU (see
//! [`SimEvent::SegmentEnd`]). The sequence number makes the order total. Cancellation is lazy:
//! an event carries the generation of whatever armed it and is dropped if that has moved on.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use proxysched_sched::TaskId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimEvent {
    /// The running task of `cpu` may have finished its current `run`/`runtime` segment.
    /// Ordered before every other event of its instant: with no overheads, a job that needs
    /// exactly its SCHED_DEADLINE runtime finishes as the budget reaches 0, and a tick, HRTICK
    /// or a pull from another CPU at that same instant must not find it still running with
    /// `runtime <= 0` and throttle it to its next period with no work left.
    SegmentEnd { cpu: u32, gen: u64 },
    /// The DL budget of the task running on `cpu` runs out.
    HrTick { cpu: u32, gen: u64 },
    /// The periodic tick of a busy CPU.
    Tick { cpu: u32 },
    /// A sleep or timer wait of `task` ends.
    Wake { task: TaskId, gen: u64 },
    /// A SCHED_DEADLINE replenishment timer.
    DlTimer { task: TaskId },
    /// The RT bandwidth period timer.
    RtPeriod,
    /// A reschedule IPI reaches `cpu`.
    Resched { cpu: u32 },
    /// A mutex-handoff wakeup sent by IPI arrives.
    MutexWake { task: TaskId },
    /// A task migrating between runqueues lands.
    MigrateArrive { task: TaskId },
    /// The oldest pending hung-task check is due: is its task still blocked on the mutex it
    /// waited for then?
    HungCheck,
}

/// A queued event. `key` packs the time (high 64 bits), the rank (bit 63) and the sequence
/// number (the low 63 bits), so the heap orders by one integer comparison.
#[derive(Debug)]
struct Entry {
    key: u128,
    event: SimEvent,
}

impl Entry {
    fn at_ns(&self) -> u64 {
        (self.key >> 64) as u64
    }

    fn rank(&self) -> u8 {
        ((self.key >> 63) & 1) as u8
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest first.
        other.key.cmp(&self.key)
    }
}

#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Entry>,
    next_seq: u64,
}

impl EventQueue {
    pub fn push(&mut self, at_ns: u64, event: SimEvent) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let rank: u8 = match event {
            SimEvent::SegmentEnd { .. } => 0,
            _ => 1,
        };
        debug_assert!(seq < 1 << 63);
        self.heap.push(Entry {
            key: (u128::from(at_ns) << 64) | (u128::from(rank) << 63) | u128::from(seq),
            event,
        });
    }

    /// Pop the next event if it is a segment end at `at_ns` (segment ends of one instant come
    /// out together, ahead of everything else of that instant).
    pub fn pop_segment_end_at(&mut self, at_ns: u64) -> Option<SimEvent> {
        match self.heap.peek() {
            Some(e) if e.at_ns() == at_ns && e.rank() == 0 => self.heap.pop().map(|e| e.event),
            _ => None,
        }
    }

    pub fn pop(&mut self) -> Option<(u64, SimEvent)> {
        self.heap.pop().map(|e| (e.at_ns(), e.event))
    }

    pub fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(Entry::at_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_time_events_pop_in_push_order() {
        let mut q = EventQueue::default();
        q.push(5, SimEvent::RtPeriod);
        q.push(3, SimEvent::Tick { cpu: 1 });
        q.push(3, SimEvent::Tick { cpu: 0 });
        assert_eq!(q.pop(), Some((3, SimEvent::Tick { cpu: 1 })));
        assert_eq!(q.pop(), Some((3, SimEvent::Tick { cpu: 0 })));
        assert_eq!(q.pop(), Some((5, SimEvent::RtPeriod)));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn segment_ends_come_first_at_an_instant() {
        let mut q = EventQueue::default();
        q.push(3, SimEvent::Tick { cpu: 0 });
        q.push(3, SimEvent::SegmentEnd { cpu: 1, gen: 7 });
        q.push(2, SimEvent::RtPeriod);
        q.push(3, SimEvent::SegmentEnd { cpu: 0, gen: 9 });
        assert_eq!(q.pop(), Some((2, SimEvent::RtPeriod)));
        assert_eq!(q.pop_segment_end_at(2), None);
        assert_eq!(q.pop(), Some((3, SimEvent::SegmentEnd { cpu: 1, gen: 7 })));
        assert_eq!(
            q.pop_segment_end_at(3),
            Some(SimEvent::SegmentEnd { cpu: 0, gen: 9 })
        );
        assert_eq!(q.pop_segment_end_at(3), None);
        assert_eq!(q.pop(), Some((3, SimEvent::Tick { cpu: 0 })));
    }
}
