//! The event queue: a min-heap on (time, sequence). The sequence number makes the order total:
//! events at the same instant run in the order they were scheduled. Cancellation is lazy: an
//! event carries the generation of whatever armed it and is dropped if that has moved on.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use proxysched_sched::TaskId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimEvent {
    /// The running task of `cpu` may have finished its current `run`/`runtime` segment.
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

/// A queued event. `key` is the time in the high 64 bits and the sequence number in the low
/// ones, so the heap orders by one integer comparison.
#[derive(Debug)]
struct Entry {
    key: u128,
    event: SimEvent,
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
        self.heap.push(Entry {
            key: (u128::from(at_ns) << 64) | u128::from(seq),
            event,
        });
    }

    pub fn pop(&mut self) -> Option<(u64, SimEvent)> {
        self.heap.pop().map(|e| ((e.key >> 64) as u64, e.event))
    }

    pub fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|e| (e.key >> 64) as u64)
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
}
