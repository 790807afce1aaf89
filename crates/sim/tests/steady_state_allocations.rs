//! The event loop allocates nothing per event once it has warmed up: a run twice as long
//! allocates (almost) exactly as often as the shorter one. Its own test binary, because it
//! replaces the global allocator with one that counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proxysched_sim::{Overrides, RunConfig, RunSummary, Sink};
use proxysched_trace::Event;
use proxysched_workload::{Inherit, ProxyLevel};

struct Counting;

thread_local! {
    /// Allocations made by this thread (other test threads do not disturb the count).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Drops every tracepoint: what is measured is the engine and the core.
struct Discard;

impl Sink for Discard {
    fn record(&mut self, _at_ns: u64, _event: &Event) {}
}

/// The 4-CPU/20-task reference machine: fair, RT and DL tasks, a mutex per ten tasks.
const MACHINE: &str = include_str!("../../../bench/workloads/c4_t20.json");

/// (allocations, events) of one run of `secs` simulated seconds.
fn run(inherit: Inherit, secs: u64) -> (u64, u64) {
    let w = proxysched_workload::parse_str("c4_t20.json", MACHINE).expect("the machine parses");
    let o = Overrides {
        duration_ns: Some(secs * 1_000_000_000),
        inherit: Some(inherit),
        proxy_level: Some(ProxyLevel::Full),
        ..Overrides::default()
    };
    let cfg = RunConfig::resolve(&w, &o);
    let before = ALLOCATIONS.with(Cell::get);
    let RunSummary { events, .. } =
        proxysched_sim::run(&w, &cfg, &mut Discard).expect("the machine runs");
    (ALLOCATIONS.with(Cell::get) - before, events)
}

#[test]
fn a_longer_run_makes_no_more_allocations_per_event() {
    for inherit in [Inherit::None, Inherit::Pi, Inherit::Proxy] {
        let (short_allocs, short_events) = run(inherit, 2);
        let (long_allocs, long_events) = run(inherit, 6);
        let extra_events = long_events - short_events;
        assert!(extra_events > 10_000, "{inherit:?}: {extra_events} events");
        // A buffer may still double once or twice (the event queue, an outbox); anything per
        // event would add thousands.
        assert!(
            long_allocs <= short_allocs + 8,
            "{inherit:?}: {short_allocs} allocations for {short_events} events, \
             {long_allocs} for {long_events}"
        );
    }
}
