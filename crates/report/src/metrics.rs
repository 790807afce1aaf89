//! The metrics sink: per-task, per-CPU and per-mutex figures derived from the tracepoint
//! stream alone, and their JSON form (schema `proxysched-metrics/1`, DESIGN.md §6).
//!
//! Every figure comes from events; the sink never looks into the scheduler core. The less
//! obvious ones:
//!
//! - **Residency** (`run_ns`, `runnable_ns`, `sleep_ns`, `blocked_ns`): a task is *running*
//!   exactly while it is `curr` of some CPU (from `sched_switch` `next` until it is `prev`),
//!   *blocked* from a switch-out in state `D` (blocked on a mutex) until `sched_waking`,
//!   *sleeping* likewise after state `S`, and *runnable* otherwise. The four add up to the time
//!   from `sched_wakeup_new` to exit (or the end of the run). Under proxy execution a blocked
//!   donor is *blocked* while its owner runs on its scheduling context.
//! - **Donation** (`donated_ns`, `proxied_ns`): per CPU the sink follows `curr` and `donor`
//!   (`sched_switch` `next`/`donor`, then `SchedDonor`). For every interval in which both are
//!   tasks and differ, the interval is added to the donor's `donated_ns` and to curr's
//!   `proxied_ns`, so the totals over all tasks are equal. `run_ns` is unaffected: curr accrues
//!   it as usual.
//! - **Migrations**: `migrations` counts `sched_migrate_task` only. The core emits
//!   `ProxyMigrate` and `ReturnMigrate` *in addition to* `sched_migrate_task` for the same move
//!   (as ftrace would show `sched_migrate_task` next to our own event), so a return migration
//!   is counted in `migrations` through its `sched_migrate_task`, and `proxy_migrations` counts
//!   the `ProxyMigrate` events of the task (the donor that moved).
//! - **Mutexes**: `acquisitions` counts `LockAcquire`, `contended` counts `LockContend`. A
//!   wait runs from `LockContend(task, m)` to the `LockAcquire(task, m)` that follows; a hold
//!   from `LockAcquire(task, m)` to `LockRelease(task, m)`. Only completed waits and holds are
//!   in the distributions: a task still waiting (or a mutex still held) when the run ends, or a
//!   deadlocked waiter, contributes to `contended` but not to `wait_ns`.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use proxysched_trace::{Event, EventKind, EventKinds, PrevState, Sink, TaskId};

use crate::batch::GroupedSamples;

pub const METRICS_SCHEMA: &str = "proxysched-metrics/1";
pub const COMPARE_SCHEMA: &str = "proxysched-compare/1";

/// A latency distribution: exact count and max, percentiles to 3 significant digits
/// (values below 2048 ns are exact; above, a value is reported as the top of its bucket, at
/// most 1/1024 above it).
///
/// The buckets are HdrHistogram's for 3 significant digits (2048 sub-buckets, unit 1 ns), so
/// the figures are the ones `hdrhistogram::Histogram::new(3)` gives, but only buckets that were
/// hit are stored, 3 bytes each, instead of a dense array that grows to ~120 KB as soon as one
/// value reaches ~16 ms. Every task keeps one for the whole run and a 10 s run hits ~80
/// buckets per task with ~3 samples in each, so this is most of what the metrics grow by, and
/// a count gets one byte: the few buckets that pass 255 samples keep the rest in `carries`.
#[derive(Clone, Debug, Default)]
pub struct Distribution {
    /// One entry per bucket hit, by increasing bucket index: the bucket's counts-array index
    /// (at most [`MAX_INDEX`]) as 2 little-endian bytes, then its count modulo 2^8. The spare
    /// room at the end is filled with [`EMPTY`] entries, which sort after every bucket, so the
    /// slice needs no length beside it. A boxed slice of byte arrays (no capacity field, no
    /// alignment padding) because thousands of tasks keep one each.
    buckets: Box<[[u8; 3]]>,
    /// The rest of the counts of buckets that passed 2^8 - 1 samples: the bucket index in the
    /// high 16 bits, the count divided by 2^8 in the low 48 bits, increasing. Only a bucket
    /// hit 256 times gets here, one in a few hundred in a 10 s run, so most distributions
    /// have none and pay one pointer for it (a boxed `Vec` is a thin pointer, a `Vec` or a
    /// boxed slice two or three words).
    #[allow(clippy::box_collection)]
    carries: Option<Box<Vec<u64>>>,
    max: u64,
}

/// The entry that fills a [`Distribution`]'s spare room: its bucket index is above
/// [`MAX_INDEX`].
const EMPTY: [u8; 3] = [0xff, 0xff, 0];
const EMPTY_KEY: u16 = u16::MAX;
const _: () = assert!(MAX_INDEX < EMPTY_KEY as u32);

/// log2 of HdrHistogram's `sub_bucket_half_count` for 3 significant digits (1024).
const SUB_HALF_MAG: u32 = 10;
const SUB_HALF: u64 = 1 << SUB_HALF_MAG;
/// `sub_bucket_count - 1`: values up to this land in bucket 0, one per value.
const SUB_MASK: u64 = 2 * SUB_HALF - 1;
/// The counts-array index of `u64::MAX`, the largest there is: it fits the 2 bytes a
/// [`Distribution`] entry has for it.
const MAX_INDEX: u32 = index_of(u64::MAX);
const _: () = assert!(MAX_INDEX <= u16::MAX as u32);

/// Bits of a [`Distribution`] entry that hold the bucket's count (modulo 2^8).
const COUNT_BITS: u32 = 8;
/// Bits of a [`Distribution`] carry that hold the bucket's count divided by 2^8.
const CARRY_BITS: u32 = 48;

/// Which power-of-two bucket `v` falls in (`bucket_for()`).
#[inline]
const fn bucket_of(v: u64) -> u32 {
    (64 - (SUB_HALF_MAG + 1)) - (v | SUB_MASK).leading_zeros()
}

/// The counts-array index of `v` (`index_for()`); monotonic in `v`.
#[inline]
const fn index_of(v: u64) -> u32 {
    let b = bucket_of(v);
    (((b + 1) as u64) << SUB_HALF_MAG) as u32 + (v >> b) as u32 - SUB_HALF as u32
}

/// The smallest value counted in bucket `index` and the bucket's power of two (`value_for()`).
#[inline]
fn lowest_of(index: u32) -> (u64, u32) {
    let sub = (index as u64) & (SUB_HALF - 1);
    match (index >> SUB_HALF_MAG).checked_sub(1) {
        None => (sub, 0),
        Some(b) => ((sub + SUB_HALF) << b, b),
    }
}

/// The largest value counted in bucket `index` (`highest_equivalent(value_for(index))`).
#[inline]
fn highest_of(index: u32) -> u64 {
    let (low, b) = lowest_of(index);
    low + ((1u64 << b) - 1)
}

/// The bucket index of a [`Distribution`] entry.
#[inline]
fn key_of(e: &[u8; 3]) -> u16 {
    u16::from_le_bytes([e[0], e[1]])
}

impl Distribution {
    pub fn record(&mut self, v: u64) {
        // `MAX_INDEX` fits 16 bits (checked above), so this never truncates.
        let key = index_of(v) as u16;
        // The list is sorted (spare room last) and short, ~80 entries in a 10 s run. A linear
        // scan beats a binary search here: its loads do not depend on each other, so the cache
        // misses of a large machine (thousands of tasks, each with its own list) overlap, and
        // it ran fewer instructions too.
        let at = self
            .buckets
            .iter()
            .position(|e| key_of(e) >= key)
            .unwrap_or(self.buckets.len());
        if self.buckets.get(at).is_some_and(|e| key_of(e) == key) {
            let count = &mut self.buckets[at][2];
            if *count == u8::MAX {
                *count = 0;
                self.carry(key);
            } else {
                *count += 1;
            }
        } else {
            if self.buckets.last().is_none_or(|e| key_of(e) != EMPTY_KEY) {
                self.grow();
            }
            // Drops one spare entry off the end.
            let last = self.buckets.len() - 1;
            self.buckets.copy_within(at..last, at + 1);
            let [lo, hi] = key.to_le_bytes();
            self.buckets[at] = [lo, hi, 1];
        }
        self.max = self.max.max(v);
    }

    /// Room for more buckets. Thousands of tasks each keep one of these for the whole run:
    /// grow by an eighth, not by doubling, so at most an eighth of it is slack.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let len = self.buckets.len();
        let more = (len / 8).max(4);
        let mut v = std::mem::take(&mut self.buckets).into_vec();
        // Exactly: `resize` alone may double, and the shrink back leaves a hole in the heap.
        v.reserve_exact(more);
        v.resize(len + more, EMPTY);
        self.buckets = v.into_boxed_slice();
    }

    /// The count of bucket `key` wrapped from 2^8 - 1 to 0: add 2^8 to it here.
    #[cold]
    #[inline(never)]
    fn carry(&mut self, key: u16) {
        let key = u64::from(key) << CARRY_BITS;
        let carries = self.carries.get_or_insert_with(Box::default);
        match carries.binary_search_by(|&c| (c >> CARRY_BITS << CARRY_BITS).cmp(&key)) {
            Ok(i) => carries[i] += 1,
            Err(i) => {
                carries.reserve_exact(1);
                carries.insert(i, key | 1);
            }
        }
    }

    /// The entries of the buckets hit, without the spare room.
    fn entries(&self) -> &[[u8; 3]] {
        let len = self.buckets.partition_point(|e| key_of(e) != EMPTY_KEY);
        &self.buckets[..len]
    }

    /// (bucket index, samples in it) of every bucket hit, by increasing index.
    fn counts(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        let mut carries = self.carries.iter().flat_map(|c| c.iter()).peekable();
        self.entries().iter().map(move |e| {
            let key = u32::from(key_of(e));
            let mut count = u64::from(e[2]);
            if let Some(&&c) = carries.peek() {
                if (c >> CARRY_BITS) as u32 == key {
                    count += (c & ((1 << CARRY_BITS) - 1)) << COUNT_BITS;
                    carries.next();
                }
            }
            (key, count)
        })
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.counts().map(|(_, c)| c).sum()
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// Buckets in use (what the memory of this distribution grows with).
    pub fn buckets(&self) -> usize {
        self.entries().len()
    }

    /// The smallest recorded value (to histogram precision) at or above which a fraction
    /// `1 - q` of the samples lie; never above the exact maximum; 0 without samples.
    /// (HdrHistogram's `value_at_quantile()`, capped at the maximum.)
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let q = q.min(1.0);
        let target = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (key, c) in self.counts() {
            seen += c;
            if seen >= target {
                let v = if q == 0.0 {
                    lowest_of(key).0
                } else {
                    highest_of(key)
                };
                return v.min(self.max);
            }
        }
        0
    }

    /// (value, cumulative fraction in per-mille) points of the CDF, one per distinct bucket.
    pub fn cdf(&self) -> Vec<(u64, u32)> {
        let total = self.count().max(1);
        let mut seen = 0;
        self.counts()
            .map(|(k, c)| {
                seen += c;
                (highest_of(k).min(self.max), (seen * 1000 / total) as u32)
            })
            .collect()
    }
}

/// Where the sink last saw a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Residency {
    NotStarted,
    Running,
    Runnable,
    Sleeping,
    Blocked,
    Dead,
}

/// What a task's frequent events update (`sched_switch`, `sched_waking`, activation starts,
/// migrations, lock acquisitions), in one cache line per task: the sink of a run with
/// thousands of tasks misses the L1 cache on nearly every task it touches, so each of these
/// events should cost one line per task, not the three a whole task's figures took. The
/// counters are narrower than the `u64`s they report, to fit; what wraps past their width is
/// in [`Cold::carries`].
#[derive(Clone, Debug)]
#[repr(align(64))]
struct Hot {
    since: u64,
    /// When the task was woken, if `WAKING`: its wakeup latency runs until it runs.
    waking_at: u64,
    run_ns: u64,
    runnable_ns: u64,
    blocked_ns: u64,
    sleep_ns: u64,
    wakeups: u32,
    activations: u32,
    preemptions: u32,
    /// 16 bits because the line has no more room; migrations are the rarest of these events.
    migrations: u16,
    residency: Residency,
    /// [`WAKING`] and [`CONTENDING`].
    flags: u8,
}

/// [`Hot::flags`]: woken, `waking_at` holds when.
const WAKING: u8 = 1;
/// [`Hot::flags`]: a `LockContend` not yet followed by its `LockAcquire`; the mutex and since
/// when are in [`Cold`]. A flag here so that the frequent uncontended acquisition does not
/// touch the cold line.
const CONTENDING: u8 = 2;

/// The narrow counters of [`Hot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counter {
    Wakeups,
    Activations,
    Preemptions,
    Migrations,
}

/// What a task's rare events update, and what only the output reads. The name lives in
/// [`MetricsSink::task_name`]'s shared buffer and the policy is an index into
/// [`MetricsSink::policies`]; the fields that are not always set are a time plus a flag (an
/// `Option<u64>` pads to 16 bytes).
#[derive(Clone, Debug)]
struct Cold {
    tid: u32,
    prio: i32,
    policy: u8,
    exited: bool,
    contending_mutex: u32,
    /// When the task exited, if `exited`.
    exit_ns: u64,
    /// Since when the task contends for `contending_mutex`, if [`CONTENDING`].
    contending_since: u64,
    deadline_misses: u64,
    proxy_migrations: u64,
    donated_ns: u64,
    proxied_ns: u64,
    /// What [`Hot`]'s counters wrapped past their width, by [`Counter`]: none in any run of
    /// less than 2^16 migrations of one task, so one pointer for most tasks.
    carries: Option<Box<[u64; 4]>>,
}

impl Hot {
    /// Move the task to a new residency, charging the time spent in the old one.
    #[inline(always)]
    fn transition(&mut self, to: Residency, now: u64) {
        let spent = now - self.since;
        match self.residency {
            Residency::Running => self.run_ns += spent,
            Residency::Runnable => self.runnable_ns += spent,
            Residency::Sleeping => self.sleep_ns += spent,
            Residency::Blocked => self.blocked_ns += spent,
            Residency::NotStarted | Residency::Dead => {}
        }
        self.residency = to;
        self.since = now;
    }

    /// Adds one to `c`; true if it wrapped to 0, and [`Cold::carry`] must keep what it lost.
    #[inline(always)]
    fn bump(&mut self, c: Counter) -> bool {
        match c {
            Counter::Wakeups => bump(&mut self.wakeups),
            Counter::Activations => bump(&mut self.activations),
            Counter::Preemptions => bump(&mut self.preemptions),
            Counter::Migrations => {
                let (v, wrapped) = self.migrations.overflowing_add(1);
                self.migrations = v;
                wrapped
            }
        }
    }
}

/// Adds one to `n`; true if it wrapped to 0. (`overflowing_add` is an add and a branch on
/// carry; comparing the sum with 0 took one more instruction.)
#[inline(always)]
fn bump(n: &mut u32) -> bool {
    let (v, wrapped) = n.overflowing_add(1);
    *n = v;
    wrapped
}

impl Cold {
    /// The part of `c` that wrapped past its width in [`Hot`].
    fn carried(&self, c: Counter) -> u64 {
        self.carries.as_ref().map_or(0, |a| a[c as usize])
    }

    /// `c` wrapped to 0 in [`Hot`]: keep the `2^width` it lost.
    #[cold]
    #[inline(never)]
    fn carry(&mut self, c: Counter) {
        let width = match c {
            Counter::Migrations => u16::BITS,
            Counter::Wakeups | Counter::Activations | Counter::Preemptions => u32::BITS,
        };
        self.carries.get_or_insert_with(Box::default)[c as usize] += 1 << width;
    }
}

/// A task's wakeup latencies, aligned so that they sit in one cache line, not across two.
#[derive(Clone, Debug, Default)]
#[repr(align(32))]
struct Latency(Distribution);

/// One line each: a CPU's first access in an event missed the cache on two lines when its
/// figures straddled them.
#[derive(Clone, Debug, Default)]
#[repr(align(64))]
pub struct CpuStats {
    pub busy_ns: u64,
    pub idle_ns: u64,
    pub context_switches: u64,
    busy_since: Option<u64>,
    /// The execution context (`curr`) and scheduling context (`donor`) of this CPU since
    /// `ctx_since`, as the last `sched_switch` or `SchedDonor` said.
    curr: Option<TaskId>,
    donor: Option<TaskId>,
    ctx_since: u64,
}

/// One mutex: counts and the wait and hold distributions (kept whole for CDFs).
#[derive(Clone, Debug)]
pub struct MutexStats {
    pub id: u32,
    pub name: String,
    /// `LockAcquire` events: uncontended acquisitions and handoffs alike.
    pub acquisitions: u64,
    /// `LockContend` events.
    pub contended: u64,
    /// Completed waits: `LockContend(task)` to that task's `LockAcquire`.
    pub wait: Distribution,
    /// Completed holds: `LockAcquire(task)` to that task's `LockRelease`.
    pub hold: Distribution,
    /// The current owner and since when.
    held: Option<(TaskId, u64)>,
}

/// A deadlock as the `Deadlock` event reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadlockStats {
    pub at_ns: u64,
    pub tasks: Vec<TaskId>,
    pub mutexes: Vec<u32>,
}

/// Builds the metrics from the event stream. Call [`MetricsSink::finish`] at the end.
#[derive(Debug, Default)]
pub struct MetricsSink {
    /// Each task's figures, by task, split by how often events touch them: see [`Hot`].
    hot: Vec<Hot>,
    /// Only the switch-in after a wakeup touches a task's distribution, and that through
    /// `pending_latency`: see [`crate::batch`]. Complete after [`MetricsSink::finish`].
    wakeup_latency: Vec<Latency>,
    /// Wakeup latencies not yet in their task's distribution.
    pending_latency: GroupedSamples,
    cold: Vec<Cold>,
    /// Every task's name, one after the other: one allocation instead of one per task.
    names: String,
    /// Where each task's name ends in `names`, by task.
    name_ends: Vec<usize>,
    /// The policy names tasks have had, in order of first use ([`Cold`]'s `policy`).
    policies: Vec<&'static str>,
    pub cpus: Vec<CpuStats>,
    /// By mutex id (ordered, so output follows mutex ids).
    pub mutexes: BTreeMap<u32, MutexStats>,
    pub deadlocks: Vec<DeadlockStats>,
    pub warnings: Vec<String>,
    pub end_ns: u64,
}

impl MetricsSink {
    pub fn new(nr_cpus: usize) -> MetricsSink {
        MetricsSink {
            cpus: vec![CpuStats::default(); nr_cpus],
            ..MetricsSink::default()
        }
    }

    /// Room for `n` more tasks, exactly (their statistics live for the whole run; growing by
    /// doubling leaves up to half of them unused).
    pub fn reserve_tasks(&mut self, n: usize) {
        self.hot.reserve_exact(n);
        self.wakeup_latency.reserve_exact(n);
        self.cold.reserve_exact(n);
        self.name_ends.reserve_exact(n);
    }

    /// Tasks the stream introduced.
    pub fn nr_tasks(&self) -> usize {
        self.hot.len()
    }

    /// The wakeup latencies of the task at `index`, if the stream introduced it (all of them
    /// once [`MetricsSink::finish`] was called).
    pub fn wakeup_latency(&self, index: usize) -> Option<&Distribution> {
        debug_assert!(self.pending_latency.is_empty(), "read before finish()");
        self.wakeup_latency.get(index).map(|l| &l.0)
    }

    fn record_wakeup_latency(&mut self, task: TaskId, latency: u64) {
        if !self.pending_latency.push(task.index(), latency) {
            self.wakeup_latency[task.index()].0.record(latency);
        } else if self.pending_latency.is_full() {
            self.fold_pending_latencies();
        }
    }

    /// Hand the latencies held back to their distributions.
    fn fold_pending_latencies(&mut self) {
        let dists = &mut self.wakeup_latency;
        self.pending_latency
            .drain(dists.len(), |t, v| dists[t].0.record(v));
    }

    fn hot(&mut self, p: TaskId) -> &mut Hot {
        &mut self.hot[p.index()]
    }

    fn cold(&mut self, p: TaskId) -> &mut Cold {
        &mut self.cold[p.index()]
    }

    /// Counts one more `c` for `p`.
    #[inline(always)]
    fn count(&mut self, p: TaskId, c: Counter) {
        if self.hot(p).bump(c) {
            self.cold(p).carry(c);
        }
    }

    /// The count of `c` for the task at `index`.
    fn counted(&self, index: usize, c: Counter) -> u64 {
        let t = &self.hot[index];
        let low = match c {
            Counter::Wakeups => t.wakeups,
            Counter::Activations => t.activations,
            Counter::Preemptions => t.preemptions,
            Counter::Migrations => u32::from(t.migrations),
        };
        self.cold[index].carried(c) + u64::from(low)
    }

    /// `policy`'s index in [`MetricsSink::policies`], added if new. Out of line: inlined, it
    /// made the hot event handler save more registers on every event.
    #[inline(never)]
    fn policy_id(&mut self, policy: &'static str) -> u8 {
        let i = match self.policies.iter().position(|&p| p == policy) {
            Some(i) => i,
            None => {
                self.policies.push(policy);
                self.policies.len() - 1
            }
        };
        // The core has six policy names; hundreds would be a bug there.
        u8::try_from(i).expect("at most 256 distinct policy names")
    }

    /// The policy of the task at `index`.
    fn policy(&self, index: usize) -> &'static str {
        self.policies[usize::from(self.cold[index].policy)]
    }

    /// A new task's figures. Out of line: a `Hot` built in place wants a 64-byte aligned stack
    /// slot, and inlined, that made every event realign the stack.
    #[inline(never)]
    fn add_task(&mut self, now: u64, task: TaskId, name: &str, policy: &'static str, prio: i32) {
        debug_assert_eq!(task.index(), self.hot.len());
        self.names.push_str(name);
        self.name_ends.push(self.names.len());
        let policy = self.policy_id(policy);
        self.hot.push(Hot {
            since: now,
            waking_at: 0,
            run_ns: 0,
            runnable_ns: 0,
            blocked_ns: 0,
            sleep_ns: 0,
            wakeups: 0,
            activations: 0,
            preemptions: 0,
            migrations: 0,
            residency: Residency::NotStarted,
            flags: 0,
        });
        self.wakeup_latency.push(Latency::default());
        self.cold.push(Cold {
            tid: task.pid(),
            prio,
            policy,
            exited: false,
            contending_mutex: 0,
            exit_ns: 0,
            contending_since: 0,
            deadline_misses: 0,
            proxy_migrations: 0,
            donated_ns: 0,
            proxied_ns: 0,
            carries: None,
        });
    }

    /// A new (curr, donor) pair on `cpu` from `now`: charge the interval that ends to the
    /// donation counters if curr ran on another task's scheduling context.
    fn set_context(&mut self, cpu: usize, curr: Option<TaskId>, donor: Option<TaskId>, now: u64) {
        let c = &mut self.cpus[cpu];
        let (old_curr, old_donor, since) = (c.curr, c.donor, c.ctx_since);
        c.curr = curr;
        c.donor = donor;
        c.ctx_since = now;
        if let (Some(p), Some(d)) = (old_curr, old_donor) {
            if p != d {
                let spent = now - since;
                self.cold(d).donated_ns += spent;
                self.cold(p).proxied_ns += spent;
            }
        }
    }

    /// Name of a task for output (`pid N` if the stream never introduced it).
    pub fn task_name(&self, p: TaskId) -> String {
        self.name(p.index())
            .map_or_else(|| p.to_string(), str::to_string)
    }

    /// The name of the task at `index`, if the stream introduced it.
    fn name(&self, index: usize) -> Option<&str> {
        let end = *self.name_ends.get(index)?;
        let start = index.checked_sub(1).map_or(0, |i| self.name_ends[i]);
        Some(&self.names[start..end])
    }

    /// Name of a mutex for output (`mutex N` if the stream never introduced it).
    pub fn mutex_name(&self, m: u32) -> String {
        self.mutexes
            .get(&m)
            .map_or_else(|| format!("mutex {m}"), |s| s.name.clone())
    }

    /// Close every open interval at `end_ns`.
    pub fn finish(&mut self, end_ns: u64) {
        self.end_ns = end_ns;
        self.fold_pending_latencies();
        for i in 0..self.hot.len() {
            let t = &mut self.hot[i];
            t.transition(t.residency, end_ns);
        }
        for cpu in 0..self.cpus.len() {
            let (curr, donor) = (self.cpus[cpu].curr, self.cpus[cpu].donor);
            self.set_context(cpu, curr, donor, end_ns);
        }
        for c in &mut self.cpus {
            if let Some(since) = c.busy_since {
                c.busy_ns += end_ns - since;
                c.busy_since = Some(end_ns);
            }
            c.idle_ns = end_ns - c.busy_ns;
        }
    }
}

impl Sink for MetricsSink {
    /// The kinds `record` looks at: keep it in step with the match there (the test
    /// `metrics_from_the_wanted_kinds_equal_metrics_from_the_whole_stream` checks).
    fn wants(&self) -> EventKinds {
        const WANTS: EventKinds = EventKinds::of(&[
            EventKind::TaskNew,
            EventKind::SchedWakeupNew,
            EventKind::SchedWaking,
            EventKind::SchedSwitch,
            EventKind::SchedDonor,
            EventKind::SchedMigrateTask,
            EventKind::ProxyMigrate,
            EventKind::MutexNew,
            EventKind::LockContend,
            EventKind::LockAcquire,
            EventKind::LockRelease,
            EventKind::Deadlock,
            EventKind::SchedProcessExit,
            EventKind::SchedSetattr,
            EventKind::ActivationStart,
            EventKind::ActivationEnd,
            EventKind::Warning,
        ]);
        WANTS
    }

    fn record(&mut self, now: u64, event: &Event) {
        match event {
            Event::TaskNew {
                task,
                name,
                policy,
                prio,
            } => self.add_task(now, *task, name, policy, *prio),
            Event::SchedWakeupNew { task, .. } => {
                self.hot(*task).transition(Residency::Runnable, now);
            }
            Event::SchedWaking { task, .. } => {
                let t = self.hot(*task);
                let wrapped = t.bump(Counter::Wakeups);
                // A task woken before it left its CPU has no wakeup latency.
                if matches!(t.residency, Residency::Sleeping | Residency::Blocked) {
                    t.waking_at = now;
                    t.flags |= WAKING;
                    t.transition(Residency::Runnable, now);
                }
                if wrapped {
                    self.cold(*task).carry(Counter::Wakeups);
                }
            }
            Event::SchedSwitch {
                cpu,
                prev,
                prev_state,
                next,
                donor,
                ..
            } => {
                self.set_context(*cpu as usize, *next, *donor, now);
                if let Some(p) = *prev {
                    let t = self.hot(p);
                    let mut wrapped = false;
                    let to = match prev_state {
                        PrevState::Preempted => {
                            wrapped = t.bump(Counter::Preemptions);
                            Residency::Runnable
                        }
                        PrevState::Sleeping => Residency::Sleeping,
                        PrevState::BlockedOnMutex => Residency::Blocked,
                        PrevState::Dead => Residency::Dead,
                    };
                    t.transition(to, now);
                    if wrapped {
                        self.cold(p).carry(Counter::Preemptions);
                    }
                }
                if let Some(n) = *next {
                    let t = self.hot(n);
                    t.transition(Residency::Running, now);
                    if t.flags & WAKING != 0 {
                        t.flags &= !WAKING;
                        let latency = now - t.waking_at;
                        self.record_wakeup_latency(n, latency);
                    }
                }
                let c = &mut self.cpus[*cpu as usize];
                c.context_switches += 1;
                match (prev.is_some(), next.is_some(), c.busy_since) {
                    (false, true, _) => c.busy_since = Some(now),
                    (true, false, Some(since)) => {
                        c.busy_ns += now - since;
                        c.busy_since = None;
                    }
                    _ => {}
                }
            }
            Event::SchedDonor { cpu, curr, donor } => {
                self.set_context(*cpu as usize, *curr, *donor, now);
            }
            // `ReturnMigrate` comes with a `SchedMigrateTask` for the same move and is counted
            // there; `ProxyMigrate` comes with one too and is counted in both.
            Event::SchedMigrateTask { task, .. } => self.count(*task, Counter::Migrations),
            Event::ProxyMigrate { task, .. } => self.cold(*task).proxy_migrations += 1,
            Event::MutexNew { mutex, name } => {
                self.mutexes.insert(
                    *mutex,
                    MutexStats {
                        id: *mutex,
                        name: name.clone(),
                        acquisitions: 0,
                        contended: 0,
                        wait: Distribution::default(),
                        hold: Distribution::default(),
                        held: None,
                    },
                );
            }
            Event::LockContend { task, mutex, .. } => {
                self.hot(*task).flags |= CONTENDING;
                let t = self.cold(*task);
                t.contending_mutex = *mutex;
                t.contending_since = now;
                if let Some(m) = self.mutexes.get_mut(mutex) {
                    m.contended += 1;
                }
            }
            Event::LockAcquire { task, mutex } => {
                let i = task.index();
                let c = &self.cold[i];
                let waited = if self.hot[i].flags & CONTENDING != 0 && c.contending_mutex == *mutex
                {
                    self.hot[i].flags &= !CONTENDING;
                    Some(now - c.contending_since)
                } else {
                    None
                };
                if let Some(m) = self.mutexes.get_mut(mutex) {
                    m.acquisitions += 1;
                    if let Some(w) = waited {
                        m.wait.record(w);
                    }
                    m.held = Some((*task, now));
                }
            }
            Event::LockRelease { task, mutex, .. } => {
                if let Some(m) = self.mutexes.get_mut(mutex) {
                    if let Some((owner, since)) = m.held {
                        if owner == *task {
                            m.hold.record(now - since);
                            m.held = None;
                        }
                    }
                }
            }
            Event::Deadlock { tasks, mutexes } => self.deadlocks.push(DeadlockStats {
                at_ns: now,
                tasks: tasks.clone(),
                mutexes: mutexes.clone(),
            }),
            Event::SchedProcessExit { task, .. } => {
                let t = self.cold(*task);
                t.exit_ns = now;
                t.exited = true;
            }
            Event::SchedSetattr { task, policy, prio } => {
                let policy = self.policy_id(policy);
                let t = self.cold(*task);
                t.policy = policy;
                t.prio = *prio;
            }
            Event::ActivationStart { task, .. } => self.count(*task, Counter::Activations),
            Event::ActivationEnd { task, missed, .. } => {
                if *missed {
                    self.cold(*task).deadline_misses += 1;
                }
            }
            Event::Warning { message } => self.warnings.push(message.clone()),
            Event::SchedWakeup { .. }
            | Event::PiSetprio { .. }
            | Event::ReturnMigrate { .. }
            | Event::ProxyCase { .. }
            | Event::DlThrottle { .. }
            | Event::DlReplenish { .. }
            | Event::RtThrottle { .. }
            | Event::RtUnthrottle { .. } => {}
            Event::RtappMainStart
            | Event::RtappMainEnd
            | Event::RtappTaskStart { .. }
            | Event::RtappTaskEnd { .. }
            | Event::RtappLoopStart { .. }
            | Event::RtappLoopEnd { .. }
            | Event::RtappEvent { .. } => {}
        }
    }
}

// ----- JSON ---------------------------------------------------------------------------------

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ConfigDoc {
    pub cpus: u32,
    pub inherit: &'static str,
    pub proxy_level: &'static str,
    pub hz: u32,
    pub seed: u64,
    /// Simulated-time limit; null when the run goes until every task is done.
    pub duration_ns: Option<u64>,
    pub switch_cost_ns: u64,
    pub migration_cost_ns: u64,
    pub ipi_latency_ns: u64,
    pub rt_throttling: bool,
    pub hrtick_dl: bool,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Percentiles3 {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct TaskDoc {
    pub name: String,
    pub tid: u32,
    pub policy: &'static str,
    pub prio: i32,
    pub exit_ns: Option<u64>,
    pub run_ns: u64,
    pub runnable_ns: u64,
    pub blocked_ns: u64,
    pub sleep_ns: u64,
    pub donated_ns: u64,
    pub proxied_ns: u64,
    pub wakeups: u64,
    pub wakeup_latency_ns: Percentiles3,
    pub activations: u64,
    pub deadline_misses: u64,
    pub migrations: u64,
    pub proxy_migrations: u64,
    pub preemptions: u64,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct CpuDoc {
    pub id: u32,
    pub busy_ns: u64,
    pub idle_ns: u64,
    pub context_switches: u64,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct PercentilesMax {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl PercentilesMax {
    pub fn of(d: &Distribution) -> PercentilesMax {
        PercentilesMax {
            p50: d.quantile(0.50),
            p99: d.quantile(0.99),
            max: d.max(),
        }
    }
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct MutexDoc {
    pub name: String,
    pub acquisitions: u64,
    pub contended: u64,
    pub wait_ns: PercentilesMax,
    pub hold_ns: PercentilesMax,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct DeadlockDoc {
    pub at_ns: u64,
    pub tasks: Vec<String>,
    pub mutexes: Vec<String>,
}

/// One run's metrics, field for field as DESIGN.md §6 lists them.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct MetricsDoc {
    pub schema: &'static str,
    pub config: ConfigDoc,
    pub end_ns: u64,
    pub events: u64,
    pub tasks: Vec<TaskDoc>,
    pub cpus: Vec<CpuDoc>,
    pub mutexes: Vec<MutexDoc>,
    pub deadlocks: Vec<DeadlockDoc>,
    pub warnings: Vec<String>,
}

impl MetricsDoc {
    pub fn build(config: ConfigDoc, sink: &MetricsSink, events: u64, notes: &[String]) -> Self {
        MetricsDoc {
            schema: METRICS_SCHEMA,
            config,
            end_ns: sink.end_ns,
            events,
            tasks: (0..sink.nr_tasks())
                .map(|i| {
                    let (t, c, latency) = (&sink.hot[i], &sink.cold[i], &sink.wakeup_latency[i].0);
                    TaskDoc {
                        name: sink.name(i).unwrap_or_default().to_string(),
                        tid: c.tid,
                        policy: sink.policy(i),
                        prio: c.prio,
                        exit_ns: c.exited.then_some(c.exit_ns),
                        run_ns: t.run_ns,
                        runnable_ns: t.runnable_ns,
                        blocked_ns: t.blocked_ns,
                        sleep_ns: t.sleep_ns,
                        donated_ns: c.donated_ns,
                        proxied_ns: c.proxied_ns,
                        wakeups: sink.counted(i, Counter::Wakeups),
                        wakeup_latency_ns: Percentiles3 {
                            p50: latency.quantile(0.50),
                            p90: latency.quantile(0.90),
                            p99: latency.quantile(0.99),
                            max: latency.max(),
                        },
                        activations: sink.counted(i, Counter::Activations),
                        deadline_misses: c.deadline_misses,
                        migrations: sink.counted(i, Counter::Migrations),
                        proxy_migrations: c.proxy_migrations,
                        preemptions: sink.counted(i, Counter::Preemptions),
                    }
                })
                .collect(),
            cpus: sink
                .cpus
                .iter()
                .enumerate()
                .map(|(i, c)| CpuDoc {
                    id: i as u32,
                    busy_ns: c.busy_ns,
                    idle_ns: c.idle_ns,
                    context_switches: c.context_switches,
                })
                .collect(),
            mutexes: sink
                .mutexes
                .values()
                .map(|m| MutexDoc {
                    name: m.name.clone(),
                    acquisitions: m.acquisitions,
                    contended: m.contended,
                    wait_ns: PercentilesMax::of(&m.wait),
                    hold_ns: PercentilesMax::of(&m.hold),
                })
                .collect(),
            deadlocks: sink
                .deadlocks
                .iter()
                .map(|d| DeadlockDoc {
                    at_ns: d.at_ns,
                    tasks: d.tasks.iter().map(|&p| sink.task_name(p)).collect(),
                    mutexes: d.mutexes.iter().map(|&m| sink.mutex_name(m)).collect(),
                })
                .collect(),
            warnings: notes.iter().chain(&sink.warnings).cloned().collect(),
        }
    }

    pub fn to_json(&self) -> String {
        pretty_json(self)
    }

    /// [`Self::to_json`]'s text, streamed to `out`.
    pub fn write_json(&self, out: impl std::io::Write) -> std::io::Result<()> {
        write_pretty(self, out)
    }
}

/// The runs of one workload under several inheritance modes (schema `proxysched-compare/1`):
/// `{ "schema": …, "runs": { "<mode>": <metrics doc>, … } }`, runs in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompareDoc {
    pub runs: Vec<(String, MetricsDoc)>,
}

/// The `runs` object: a map keyed by mode, in the order of the runs.
struct Runs<'a>(&'a [(String, MetricsDoc)]);

impl Serialize for Runs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (mode, doc) in self.0 {
            map.serialize_entry(mode, doc)?;
        }
        map.end()
    }
}

impl Serialize for CompareDoc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("schema", COMPARE_SCHEMA)?;
        map.serialize_entry("runs", &Runs(&self.runs))?;
        map.end()
    }
}

impl CompareDoc {
    pub fn to_json(&self) -> String {
        pretty_json(self)
    }

    /// [`Self::to_json`]'s text, streamed to `out`.
    pub fn write_json(&self, out: impl std::io::Write) -> std::io::Result<()> {
        write_pretty(self, out)
    }
}

/// `doc` as pretty-printed JSON and a newline, written to `out` as it is produced: the text
/// of thousands of tasks is megabytes, and building it in memory first raised the peak memory
/// of a whole run by as much.
fn write_pretty(doc: &impl Serialize, mut out: impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut out, doc)?;
    out.write_all(b"\n")
}

/// [`write_pretty`] into a string.
fn pretty_json(doc: &impl Serialize) -> String {
    let mut out = Vec::new();
    write_pretty(doc, &mut out).expect("writing to memory cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proxysched_trace::{Event, PrevState, Sink, TaskId, WakeReason};

    use super::{
        highest_of, index_of, lowest_of, Cold, ConfigDoc, CpuStats, Distribution, Hot, Latency,
        MetricsDoc, MetricsSink, MAX_INDEX,
    };

    /// The distribution as it was first written (a sorted map of bucket to u64 count), to
    /// hold the packed one to the same figures.
    #[derive(Default)]
    struct Reference {
        counts: BTreeMap<u32, u64>,
        total: u64,
        max: u64,
    }

    impl Reference {
        fn record(&mut self, v: u64) {
            *self.counts.entry(index_of(v)).or_default() += 1;
            self.total += 1;
            self.max = self.max.max(v);
        }

        fn quantile(&self, q: f64) -> u64 {
            if self.total == 0 {
                return 0;
            }
            let q = q.min(1.0);
            let target = ((q * self.total as f64).ceil() as u64).max(1);
            let mut seen = 0;
            for (&key, &c) in &self.counts {
                seen += c;
                if seen >= target {
                    let v = if q == 0.0 {
                        lowest_of(key).0
                    } else {
                        highest_of(key)
                    };
                    return v.min(self.max);
                }
            }
            0
        }

        fn cdf(&self) -> Vec<(u64, u32)> {
            let total = self.total.max(1);
            let mut seen = 0;
            self.counts
                .iter()
                .map(|(&k, &c)| {
                    seen += c;
                    (highest_of(k).min(self.max), (seen * 1000 / total) as u32)
                })
                .collect()
        }
    }

    const QUANTILES: [f64; 9] = [0.0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0, 1.5];

    fn assert_same(d: &Distribution, r: &Reference, case: &str) {
        assert_eq!(d.count(), r.total, "{case}");
        assert_eq!(d.max(), r.max, "{case}");
        assert_eq!(d.buckets(), r.counts.len(), "{case}");
        for q in QUANTILES {
            assert_eq!(d.quantile(q), r.quantile(q), "{case} q={q}");
        }
        assert_eq!(d.cdf(), r.cdf(), "{case}");
    }

    /// xorshift64: reproducible samples without a dependency.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn every_value_has_a_bucket_index_of_16_bits() {
        assert_eq!(MAX_INDEX, 56_319);
        assert_eq!(highest_of(MAX_INDEX), u64::MAX);
        for v in [
            0,
            1,
            2047,
            2048,
            1 << 40,
            u64::MAX / 2,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let i = index_of(v);
            assert!(i <= MAX_INDEX, "{v}");
            assert!((lowest_of(i).0..=highest_of(i)).contains(&v), "{v}");
        }
        let mut d = Distribution::default();
        d.record(u64::MAX);
        d.record(0);
        assert_eq!((d.quantile(0.0), d.quantile(1.0)), (0, u64::MAX));
    }

    #[test]
    fn percentiles_match_the_reference_on_random_samples() {
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for case in 0..300 {
            let (mut d, mut r) = (Distribution::default(), Reference::default());
            let n = next(&mut state) % 2000;
            // Up to 64 bits of spread, so every bucket size is hit, and a few values repeat.
            let bits = 1 + next(&mut state) % 64;
            for _ in 0..n {
                let raw = next(&mut state);
                let v = if bits == 64 { raw } else { raw % (1 << bits) };
                d.record(v);
                r.record(v);
            }
            assert_same(&d, &r, &format!("case {case}"));
        }
    }

    #[test]
    fn counts_stay_exact_past_8_bits() {
        let (mut d, mut r) = (Distribution::default(), Reference::default());
        // Four buckets pass 2^8 (one of them many times, one twice), two around them stay
        // small, so carries must line up with the right entries.
        let plan: [(u64, u64); 6] = [
            (5, 3),
            (700, (1 << 8) - 1),
            (3_000_000, 1 << 8),
            (90_000_000, (2 << 8) + 7),
            (1 << 40, (1 << 17) + 5),
            (u64::MAX, 2),
        ];
        for round in 0..2 {
            for &(v, n) in &plan {
                for _ in 0..n / 2 + round * (n % 2) {
                    d.record(v);
                    r.record(v);
                }
            }
        }
        assert_eq!(r.counts[&index_of(700)], (1 << 8) - 1);
        let carries = |d: &Distribution| d.carries.as_ref().map_or(0, |c| c.len());
        assert_eq!(carries(&d), 3, "{:x?}", d.carries);
        assert_same(&d, &r, "carries");
        // One more sample carries the bucket that stopped just short.
        d.record(700);
        r.record(700);
        assert_eq!(carries(&d), 4);
        assert_same(&d, &r, "carries");
    }

    #[test]
    fn carries_match_the_reference_when_few_buckets_take_many_samples() {
        let mut state = 0x2545_f491_4f6c_dd1d;
        for case in 0..40 {
            let (mut d, mut r) = (Distribution::default(), Reference::default());
            // A handful of distinct values, so most buckets pass 255 samples, some several
            // times, and new buckets keep arriving between carried ones.
            let values: Vec<u64> = (0..1 + next(&mut state) % 12)
                .map(|_| next(&mut state) % (1 << (next(&mut state) % 40)))
                .collect();
            for _ in 0..next(&mut state) % 5000 {
                let v = values[(next(&mut state) % values.len() as u64) as usize];
                d.record(v);
                r.record(v);
            }
            assert_same(&d, &r, &format!("case {case}"));
        }
    }

    /// Every task keeps its figures for the whole run.
    #[test]
    fn task_figures_stay_small() {
        assert_eq!(std::mem::size_of::<Distribution>(), 32);
        assert_eq!(std::mem::size_of::<Hot>(), 64);
        assert_eq!(std::mem::align_of::<Hot>(), 64);
        assert_eq!(std::mem::size_of::<Cold>(), 72);
        assert_eq!(std::mem::size_of::<Latency>(), 32);
        assert_eq!(std::mem::size_of::<CpuStats>(), 64);
    }

    /// The counters [`Hot`] keeps narrow report every count, past their width too.
    #[test]
    fn narrow_counters_stay_exact_past_their_width() {
        let p = TaskId(0);
        let mut sink = MetricsSink::new(1);
        let task_new = Event::TaskNew {
            task: p,
            name: "t".into(),
            policy: "SCHED_OTHER",
            prio: 120,
        };
        sink.record(0, &task_new);
        let migrate = Event::SchedMigrateTask {
            task: p,
            prio: 120,
            orig_cpu: 0,
            dest_cpu: 0,
        };
        let waking = Event::SchedWaking {
            task: p,
            prio: 120,
            target_cpu: 0,
            reason: WakeReason::Sleep,
        };
        let activation = Event::ActivationStart {
            task: p,
            release_ns: 0,
            deadline_ns: None,
        };
        let preempted = Event::SchedSwitch {
            cpu: 0,
            prev: Some(p),
            prev_prio: 120,
            prev_state: PrevState::Preempted,
            next: None,
            next_prio: 120,
            donor: None,
        };
        // 16 bits wrap for real, twice.
        let migrations = (2 << 16) + 3;
        for _ in 0..migrations {
            sink.record(1, &migrate);
        }
        // 32 bits would take billions of events: start just short of the wrap, and wrap the
        // wakeups twice.
        let t = &mut sink.hot[0];
        (t.wakeups, t.activations, t.preemptions) = (u32::MAX - 1, u32::MAX, u32::MAX - 1);
        for e in [
            &waking,
            &waking,
            &waking,
            &activation,
            &preempted,
            &preempted,
        ] {
            sink.record(2, e);
        }
        sink.hot[0].wakeups = u32::MAX;
        sink.record(3, &waking);
        sink.finish(4);
        let config = ConfigDoc {
            cpus: 1,
            inherit: "none",
            proxy_level: "full",
            hz: 1000,
            seed: 1,
            duration_ns: None,
            switch_cost_ns: 0,
            migration_cost_ns: 0,
            ipi_latency_ns: 0,
            rt_throttling: true,
            hrtick_dl: false,
        };
        let doc = MetricsDoc::build(config, &sink, 0, &[]);
        let t = &doc.tasks[0];
        let wrap = 1u64 << 32;
        assert_eq!(t.migrations, migrations);
        assert_eq!(t.wakeups, 2 * wrap);
        assert_eq!(t.activations, wrap);
        assert_eq!(t.preemptions, wrap);
    }

    /// Wakeup latencies reach their task's distribution in batches (see [`crate::batch`]):
    /// past a full batch, and with one too large for a batch, every task ends with what
    /// recording each latency as it came gives.
    #[test]
    fn batched_wakeup_latencies_are_all_recorded_as_they_came() {
        const TASKS: u32 = 7;
        let mut sink = MetricsSink::new(1);
        let mut direct: Vec<Distribution> = vec![Distribution::default(); TASKS as usize];
        for i in 0..TASKS {
            sink.record(
                0,
                &Event::TaskNew {
                    task: TaskId(i),
                    name: format!("t{i}"),
                    policy: "SCHED_OTHER",
                    prio: 120,
                },
            );
        }
        let switch = |prev, next| Event::SchedSwitch {
            cpu: 0,
            prev,
            prev_prio: 120,
            prev_state: PrevState::Sleeping,
            next,
            next_prio: 120,
            donor: None,
        };
        // Each runs once and sleeps: a wakeup has a latency from then on.
        for i in 0..TASKS {
            sink.record(0, &switch(None, Some(TaskId(i))));
            sink.record(0, &switch(Some(TaskId(i)), None));
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut now = 0;
        for round in 0..40_000u64 {
            let p = TaskId((next(&mut state) % u64::from(TASKS)) as u32);
            let latency = if round == 30_000 {
                u64::from(u32::MAX) + 5
            } else {
                next(&mut state) % (1 << (next(&mut state) % 30))
            };
            sink.record(
                now,
                &Event::SchedWaking {
                    task: p,
                    prio: 120,
                    target_cpu: 0,
                    reason: WakeReason::Sleep,
                },
            );
            now += latency;
            sink.record(now, &switch(None, Some(p)));
            sink.record(now, &switch(Some(p), None));
            direct[p.index()].record(latency);
        }
        sink.finish(now);
        for (i, d) in direct.iter().enumerate() {
            let got = sink.wakeup_latency(i).expect("introduced");
            assert_eq!(got.count(), d.count(), "task {i}");
            assert_eq!(got.max(), d.max(), "task {i}");
            assert_eq!(got.cdf(), d.cdf(), "task {i}");
        }
        assert_eq!(direct.iter().map(Distribution::count).sum::<u64>(), 40_000);
    }

    #[test]
    fn distributions_keep_large_values() {
        let mut d = Distribution::default();
        for v in [1_500, 3_000, 250_000, 16_000_000] {
            d.record(v);
        }
        assert_eq!(d.count(), 4);
        assert_eq!(d.max(), 16_000_000);
        assert_eq!(d.quantile(0.25), 1_500, "exact below 2048 ns");
        // Within 0.1% above.
        let p50 = d.quantile(0.50);
        assert!((3_000..=3_003).contains(&p50), "{p50}");
        let p75 = d.quantile(0.75);
        assert!((250_000..=250_250).contains(&p75), "{p75}");
        assert_eq!(d.quantile(1.0), 16_000_000, "never above the exact max");
        assert_eq!(d.cdf().last().map(|&(_, f)| f), Some(1000));
    }
}
