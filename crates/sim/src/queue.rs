//! The event queue: a min-heap on (time, rank, sequence). At one instant the ends of `run`
//! segments come first (rank 0), then the timers, wakeups and IPIs (rank 1) in the order they
//! were scheduled, then the ticks (rank 2) in CPU order: work that is done at t is done before
//! anything else at t can look at the CPU (see [`SimEvent::SegmentEnd`]), and a tick sees
//! what the other events of its instant made of the CPU. The sequence number makes the order
//! total, and doubles as the event's [`Ticket`]: cancellation is lazy, a timer slot remembers
//! the ticket of the entry it armed and ignores any other entry that fires for it.
//!
//! A tick's place does not depend on when it was armed, only on its jiffy and CPU. The engine
//! skips ticks that provably change nothing and arms the next one far ahead; the tick it then
//! processes must come where the same tick would have come had every tick before it been
//! processed. So ticks carry their CPU where other entries carry a sequence number, and have
//! no ticket: the engine names a CPU's armed tick by its time.
//!
//! The queue is as deep as there are sleeping tasks (thousands on big machines) and every
//! event passes through it, so entries are kept small (24 bytes: the cancellable events carry
//! no generation of their own). The heap is 4-ary: with ticks kept out of it (below), a binary
//! heap ran 0.4% more instructions on 4 CPUs/20 tasks and 0.7% more on 64 CPUs/2000 tasks.
//!
//! Ticks skip the heap. On a busy machine they are most of the events, and they are mostly
//! armed in key order: each is due at the jiffy after the tick that arms it, and ticks are
//! processed in key order. So they queue in a sorted FIFO, where most go to the back. The
//! others slot in near it: a CPU that turns busy arms a tick behind those of higher CPUs for
//! the same jiffy, and a tick armed for the next jiffy goes in front of those armed far ahead
//! past skipped ones. A CPU has one tick armed (and may leave a few behind, re-armed sooner),
//! so the FIFO stays about as long as the machine is wide, and the events' heap only as deep
//! as the sleeping tasks. `pop` takes whichever of the FIFO's front and the heap's top has
//! the smaller key: the order is exactly the one a single heap would give.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::num::NonZeroU64;

use dary_heap::QuaternaryHeap;
use proxysched_sched::TaskId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimEvent {
    /// The running task of `cpu` may have finished its current `run`/`runtime` segment.
    /// Ordered before every other event of its instant: with no overheads, a job that needs
    /// exactly its SCHED_DEADLINE runtime finishes as the budget reaches 0, and a tick, HRTICK
    /// or a pull from another CPU at that same instant must not find it still running with
    /// `runtime <= 0` and throttle it to its next period with no work left.
    SegmentEnd { cpu: u32 },
    /// The DL budget of the task running on `cpu` runs out.
    HrTick { cpu: u32 },
    /// The periodic tick of a busy CPU.
    Tick { cpu: u32 },
    /// A sleep or timer wait of `task` ends.
    Wake { task: TaskId },
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

/// Names one queued entry (its sequence number, unique for the life of the queue). A timer
/// slot that is re-armed or disarmed forgets its old ticket, which cancels the old entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket(NonZeroU64);

impl Ticket {
    fn of_seq(seq: u64) -> Ticket {
        Ticket(NonZeroU64::new(seq).expect("sequence numbers start at 1"))
    }
}

/// An event that came due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fired {
    /// Its place in the order of all events (see [`tick_key`]): its time, then its order
    /// within the instant.
    pub key: u128,
    pub event: SimEvent,
}

impl Fired {
    pub fn at_ns(&self) -> u64 {
        (self.key >> 64) as u64
    }

    /// The ticket `arm` returned for it. A tick has none (its low bits are its CPU, see
    /// `tick_order`): the engine names a CPU's tick by its time.
    pub fn ticket(&self) -> Ticket {
        Ticket::of_seq(self.key as u64 & LOW_BITS)
    }
}

/// The place of `cpu`'s tick at `at_ns` in the order of all events: an event fired with a
/// smaller key came before it, one with a larger key comes after.
pub fn tick_key(at_ns: u64, cpu: usize) -> u128 {
    key(at_ns, tick_order(cpu))
}

fn key(at_ns: u64, order: u64) -> u128 {
    (u128::from(at_ns) << 64) | u128::from(order)
}

fn tick_order(cpu: usize) -> u64 {
    // Plus one: the low bits of an entry are never 0 (`Fired::ticket`).
    RANK_TICK | (cpu as u64 + 1)
}

/// Bits 63..62 of `order`: the rank at the instant; the low 62 bits: the sequence number, or
/// a tick's CPU.
const RANK_SHIFT: u32 = 62;
const RANK_TIMER: u64 = 1 << RANK_SHIFT;
const RANK_TICK: u64 = 2 << RANK_SHIFT;
const LOW_BITS: u64 = RANK_TIMER - 1;

#[derive(Debug)]
struct Entry {
    at_ns: u64,
    order: u64,
    event: SimEvent,
}

impl Entry {
    fn key(&self) -> u128 {
        key(self.at_ns, self.order)
    }

    fn fired(self) -> Fired {
        Fired {
            key: self.key(),
            event: self.event,
        }
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
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
        // Reversed: the heap is a max-heap and we want the earliest first.
        other.key().cmp(&self.key())
    }
}

#[derive(Debug, Default)]
pub struct EventQueue {
    heap: QuaternaryHeap<Entry>,
    /// Ticks, in key order (see the module comment).
    ticks: VecDeque<Entry>,
    last_seq: u64,
}

impl EventQueue {
    /// Queue an event that is never cancelled.
    pub fn push(&mut self, at_ns: u64, event: SimEvent) {
        self.arm(at_ns, event);
    }

    /// Queue an event that a timer slot may cancel by forgetting the returned ticket.
    pub fn arm(&mut self, at_ns: u64, event: SimEvent) -> Ticket {
        debug_assert!(
            !matches!(event, SimEvent::Tick { .. }),
            "ticks are queued by push_tick"
        );
        self.last_seq += 1;
        let seq = self.last_seq;
        debug_assert!(seq <= LOW_BITS);
        let rank = match event {
            SimEvent::SegmentEnd { .. } => 0,
            _ => RANK_TIMER,
        };
        self.heap.push(Entry {
            at_ns,
            order: rank | seq,
            event,
        });
        Ticket::of_seq(seq)
    }

    /// Queue the tick of `cpu` at `at_ns`, after everything else of that instant and before the
    /// ticks of higher CPUs.
    #[inline]
    pub fn push_tick(&mut self, at_ns: u64, cpu: u32) {
        let entry = Entry {
            at_ns,
            order: tick_order(cpu as usize),
            event: SimEvent::Tick { cpu },
        };
        if self
            .ticks
            .back()
            .is_none_or(|last| last.key() <= entry.key())
        {
            self.ticks.push_back(entry)
        } else {
            self.insert_tick(entry)
        }
    }

    #[inline(never)]
    fn insert_tick(&mut self, entry: Entry) {
        let key = entry.key();
        let at = self.ticks.partition_point(|e| e.key() <= key);
        self.ticks.insert(at, entry)
    }

    /// Pop the next event if it is a segment end at `at_ns` (segment ends of one instant come
    /// out together, ahead of everything else of that instant).
    pub fn pop_segment_end_at(&mut self, at_ns: u64) -> Option<Fired> {
        match self.heap.peek() {
            Some(e) if e.at_ns == at_ns && e.order < RANK_TIMER => {
                self.heap.pop().map(Entry::fired)
            }
            _ => None,
        }
    }

    pub fn pop(&mut self) -> Option<Fired> {
        let tick_first = match (self.ticks.front(), self.heap.peek()) {
            (Some(tick), Some(other)) => tick.key() < other.key(),
            (tick, _) => tick.is_some(),
        };
        let entry = if tick_first {
            self.ticks.pop_front()
        } else {
            self.heap.pop()
        };
        entry.map(Entry::fired)
    }

    /// The time of the next event (the engine pops and looks; tests peek).
    #[cfg(test)]
    fn peek_time(&self) -> Option<u64> {
        let tick = self.ticks.front().map(|e| e.at_ns);
        let other = self.heap.peek().map(|e| e.at_ns);
        match (tick, other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pop(q: &mut EventQueue) -> Option<(u64, SimEvent)> {
        q.pop().map(|f| (f.at_ns(), f.event))
    }

    #[test]
    fn same_time_events_pop_in_push_order_and_ticks_last_in_cpu_order() {
        let mut q = EventQueue::default();
        q.push(5, SimEvent::RtPeriod);
        q.push_tick(3, 1);
        q.push(3, SimEvent::Resched { cpu: 2 });
        q.push_tick(3, 0);
        q.push(3, SimEvent::Resched { cpu: 1 });
        assert_eq!(pop(&mut q), Some((3, SimEvent::Resched { cpu: 2 })));
        assert_eq!(pop(&mut q), Some((3, SimEvent::Resched { cpu: 1 })));
        assert_eq!(pop(&mut q), Some((3, SimEvent::Tick { cpu: 0 })));
        assert_eq!(pop(&mut q), Some((3, SimEvent::Tick { cpu: 1 })));
        assert_eq!(pop(&mut q), Some((5, SimEvent::RtPeriod)));
        assert_eq!(pop(&mut q), None);
    }

    #[test]
    fn segment_ends_come_first_at_an_instant() {
        let mut q = EventQueue::default();
        q.push_tick(3, 0);
        let end1 = q.arm(3, SimEvent::SegmentEnd { cpu: 1 });
        q.push(2, SimEvent::RtPeriod);
        let end0 = q.arm(3, SimEvent::SegmentEnd { cpu: 0 });
        assert_eq!(pop(&mut q), Some((2, SimEvent::RtPeriod)));
        assert_eq!(q.pop_segment_end_at(2), None);
        let first = q.pop().expect("queued");
        assert_eq!((first.at_ns(), first.ticket()), (3, end1));
        assert_eq!(first.event, SimEvent::SegmentEnd { cpu: 1 });
        let second = q.pop_segment_end_at(3).expect("queued");
        assert_eq!(
            (second.ticket(), second.event),
            (end0, SimEvent::SegmentEnd { cpu: 0 })
        );
        assert_eq!(q.pop_segment_end_at(3), None);
        assert_eq!(pop(&mut q), Some((3, SimEvent::Tick { cpu: 0 })));
    }

    #[test]
    fn tickets_name_entries_uniquely() {
        let mut q = EventQueue::default();
        let a = q.arm(7, SimEvent::Wake { task: TaskId(0) });
        let b = q.arm(7, SimEvent::Wake { task: TaskId(0) });
        assert_ne!(a, b);
        assert_eq!(q.pop().map(|f| f.ticket()), Some(a));
        assert_eq!(q.pop().map(|f| f.ticket()), Some(b));
    }

    #[test]
    fn ticks_interleave_with_the_heap_in_key_order() {
        let mut q = EventQueue::default();
        q.push_tick(10, 0);
        q.push(10, SimEvent::RtPeriod);
        q.push_tick(10, 1);
        q.push_tick(20, 0);
        let end = q.arm(10, SimEvent::SegmentEnd { cpu: 2 });
        q.push(5, SimEvent::Resched { cpu: 3 });
        // Out of key order: these slot in, and come out in order.
        q.push_tick(15, 2);
        q.push_tick(20, 3);
        q.push_tick(20, 1);
        assert_eq!(q.peek_time(), Some(5));
        assert_eq!(pop(&mut q), Some((5, SimEvent::Resched { cpu: 3 })));
        assert_eq!(q.pop().map(|f| f.ticket()), Some(end));
        assert_eq!(pop(&mut q), Some((10, SimEvent::RtPeriod)));
        assert_eq!(pop(&mut q), Some((10, SimEvent::Tick { cpu: 0 })));
        assert_eq!(pop(&mut q), Some((10, SimEvent::Tick { cpu: 1 })));
        assert_eq!(q.peek_time(), Some(15));
        assert_eq!(pop(&mut q), Some((15, SimEvent::Tick { cpu: 2 })));
        assert_eq!(pop(&mut q), Some((20, SimEvent::Tick { cpu: 0 })));
        assert_eq!(pop(&mut q), Some((20, SimEvent::Tick { cpu: 1 })));
        assert_eq!(pop(&mut q), Some((20, SimEvent::Tick { cpu: 3 })));
        assert_eq!(q.peek_time(), None);
        assert_eq!(pop(&mut q), None);
    }

    #[test]
    fn entries_stay_small() {
        // Thousands of sleeping tasks keep an entry each; see the module comment.
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }
}
