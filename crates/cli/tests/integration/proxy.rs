//! Every outcome of `find_proxy_task()` and of the proxy wakeup/unlock paths, each reached by
//! a scenario whose schedule is asserted; `Event::ProxyCase` marks prove the branch ran.
//!
//! The races (a handoff or a migration in flight) need time between two CPUs: those scenarios
//! set an IPI latency, which is also how long a push/pull migration takes.

use crate::common::*;
use proxysched_sched::{Inherit, ProxyLevel};
use proxysched_sim::Overrides;
use proxysched_trace::Event;

fn proxy(cpus: u32, level: ProxyLevel) -> Overrides {
    let mut o = with_inherit(overrides(cpus, SEC), Inherit::Proxy);
    o.proxy_level = Some(level);
    o
}

/// Where each task ran: (task name, cpu) pairs of every switch-in.
fn cpus_run_on(
    m: &proxysched_report::metrics::MetricsDoc,
    ev: &[(u64, Event)],
    name: &str,
) -> Vec<u32> {
    let mut cpus: Vec<u32> = switches(m, ev)
        .into_iter()
        .filter(|(_, _, n)| n == name)
        .map(|(_, c, _)| c)
        .collect();
    cpus.dedup();
    cpus
}

/// Two waiters, pinned to CPUs 0 and 2, block at 1.1 ms on two mutexes held by an owner pinned
/// to CPU 1; the owner releases both at 4 ms and exits, while the handoff wakeups travel by IPI
/// (0.5 ms). (Off the jiffy: a tick of CPU 1 at the instant w1 lands would see it at once.)
const TWO_WAITERS: &str = r#"{ "tasks": {
    "owner": { "policy": "SCHED_FIFO", "priority": 10, "cpus": [1], "loop": 1,
               "lock": "M1", "lock": "M2", "run": 4000, "unlock": "M2", "unlock": "M1" },
    "w1":    { "policy": "SCHED_FIFO", "priority": 50, "cpus": [0], "loop": 1, "delay": 1100,
               "lock": "M1", "run": 1000, "unlock": "M1" },
    "w2":    { "policy": "SCHED_FIFO", "priority": 40, "cpus": [2], "loop": 1, "delay": 1100,
               "lock": "M2", "run": 1000, "unlock": "M2" } } }"#;

#[test]
fn donors_migrate_to_the_owner_and_return_home_through_every_handoff_race() {
    let mut o = proxy(3, ProxyLevel::DonorMigration);
    o.ipi_latency_ns = Some(500_000);
    let (m, ev) = run_traced(TWO_WAITERS, o);
    // w1 blocks while still on CPU 0: switch to idle and pick again, then migrate to CPU 1,
    // where the owner runs on w1's context.
    for case in ["curr_in_chain", "donor_migration", "run_owner"] {
        assert!(proxy_cases(&ev, case) > 0, "{case} not reached");
    }
    // At 4 ms M2 goes to its first waiter (w2 keeps blocked_on until it runs) and M1 to the
    // donor w1 (blocked_on cleared); each unlock while proxying makes CPU 1 pick again, and it
    // finds w1 handed off (deactivated) and w2 owning its own mutex (idle until woken).
    for case in [
        "blocked_donor_handoff",
        "lock_handed_off",
        "owner_is_self",
        "return_migration",
    ] {
        assert!(proxy_cases(&ev, case) > 0, "{case} not reached");
    }
    // CPU 1 idles while w2's wakeup is in flight (w2 outranks the owner); then the owner
    // finishes.
    assert_eq!(task(&m, "owner").exit_ns, Some(4_500_000));
    assert_eq!(task(&m, "w1").exit_ns, Some(5_500_000));
    assert_eq!(task(&m, "w2").exit_ns, Some(5_500_000));
    assert_eq!(cpus_run_on(&m, &ev, "w1"), [0], "w1 only ever runs at home");
    assert_eq!(cpus_run_on(&m, &ev, "w2"), [2], "w2 only ever runs at home");
    assert_eq!(task(&m, "w1").proxy_migrations, 1);
    // w1 reaches CPU 1 at 1.1 ms, but CPU 1 hears of it by IPI: the owner runs for w1 from
    // 1.6 ms until it exits at 4 ms.
    assert_eq!(task(&m, "owner").proxied_ns, 2_400_000);
    assert_eq!(task(&m, "w1").donated_ns, 2_400_000);
}

/// A waiter on CPU 0 blocks on a mutex held by an owner on CPU 1; a middle-priority hog
/// arrives on CPU 1 at 2 ms.
const REMOTE_OWNER: &str = r#"{ "tasks": {
    "owner":  { "policy": "SCHED_FIFO", "priority": 10, "cpus": [1], "loop": 1,
                "lock": "M", "run": 5000, "unlock": "M" },
    "waiter": { "policy": "SCHED_FIFO", "priority": 50, "cpus": [0], "loop": 1, "delay": 1000,
                "lock": "M", "run": 1000, "unlock": "M" },
    "middle": { "policy": "SCHED_FIFO", "priority": 30, "cpus": [1], "loop": 1, "delay": 2000,
                "run": 10000 } } }"#;

#[test]
fn single_rq_lets_a_donor_with_a_remote_owner_sleep_and_donor_migration_moves_it() {
    let (m, ev) = run_traced(REMOTE_OWNER, proxy(2, ProxyLevel::SingleRq));
    assert!(proxy_cases(&ev, "owner_remote_deactivate") > 0);
    assert_eq!(proxy_cases(&ev, "donor_migration"), 0);
    // The owner runs at its own prio: the middle task preempts it from 2 to 12 ms.
    assert_eq!(task(&m, "waiter").exit_ns, Some(16 * MS));

    let (m, ev) = run_traced(REMOTE_OWNER, proxy(2, ProxyLevel::DonorMigration));
    assert!(proxy_cases(&ev, "donor_migration") > 0);
    assert!(proxy_cases(&ev, "return_migration") > 0);
    // The owner runs on the waiter's context (prio 50): the middle task waits.
    assert_eq!(task(&m, "waiter").exit_ns, Some(6 * MS));
    assert_eq!(cpus_run_on(&m, &ev, "waiter"), [0]);
}

/// The owner sleeps while holding the mutex; a middle-priority hog arrives at 2 ms.
const SLEEPING_OWNER: &str = r#"{ "tasks": {
    "owner":  { "policy": "SCHED_FIFO", "priority": 10, "loop": 1,
                "lock": "M", "sleep": 3000, "run": 1000, "unlock": "M" },
    "waiter": { "policy": "SCHED_FIFO", "priority": 50, "loop": 1, "delay": 1000,
                "lock": "M", "run": 1000, "unlock": "M" },
    "middle": { "policy": "SCHED_FIFO", "priority": 30, "loop": 1, "delay": 2000,
                "run": 10000 } } }"#;

#[test]
fn a_sleeping_owner_gets_its_donor_deactivated_or_parked() {
    let (m, ev) = run_traced(SLEEPING_OWNER, proxy(1, ProxyLevel::DonorMigration));
    assert!(proxy_cases(&ev, "owner_sleeping_deactivate") > 0);
    // Woken at 3 ms, the owner waits behind the middle task until 12 ms.
    assert_eq!(task(&m, "waiter").exit_ns, Some(14 * MS));

    let (m, ev) = run_traced(SLEEPING_OWNER, proxy(1, ProxyLevel::Full));
    assert!(proxy_cases(&ev, "park_on_sleeping_owner") > 0);
    assert!(proxy_cases(&ev, "activate_parked") > 0);
    // The parked waiter comes back with its owner at 3 ms and lends it prio 50.
    assert_eq!(task(&m, "waiter").exit_ns, Some(5 * MS));
    assert_eq!(task(&m, "middle").exit_ns, Some(14 * MS));
}

#[test]
fn a_deadlocked_chain_is_never_proxied() {
    // t1 holds A and waits for B; t2 holds B, sleeps, then waits for A.
    let json = r#"{ "tasks": {
        "t1": { "loop": 1, "lock": "A", "sleep": 1000, "lock": "B", "unlock": "B", "unlock": "A" },
        "t2": { "loop": 1, "delay": 10, "lock": "B", "sleep": 2000, "lock": "A", "unlock": "A",
                "unlock": "B" } } }"#;
    for level in [
        ProxyLevel::SingleRq,
        ProxyLevel::DonorMigration,
        ProxyLevel::Full,
    ] {
        let (m, ev) = run_traced(json, proxy(1, level));
        let deadlocks = ev
            .iter()
            .filter(|(at, e)| *at == 2_010_000 && matches!(e, Event::Deadlock { .. }))
            .count();
        assert_eq!(deadlocks, 1, "{level:?}");
        assert_eq!(task(&m, "t1").exit_ns, None);
        assert_eq!(task(&m, "t2").exit_ns, None);
        assert_eq!(
            m.cpus[0].busy_ns, 0,
            "{level:?}: nothing runs in a deadlock"
        );
        // Only the full level parks t1 on the sleeping t2 and brings it back when t2 wakes;
        // then t1 is queued, and picking it finds the cycle.
        let cycles = proxy_cases(&ev, "cycle");
        if level == ProxyLevel::Full {
            assert!(cycles > 0);
        } else {
            assert_eq!(cycles, 0, "{level:?}");
        }
    }
}

/// An RT waiter lands, by donor migration, on a CPU where a higher RT task runs, behind its
/// fair owner; the other CPU runs a fair hog.
const CHAIN_BEHIND_RT: &str = r#"{ "tasks": {
    "owner":  { "loop": 1, "lock": "M", "run": 5000, "unlock": "M" },
    "busy":   { "policy": "SCHED_FIFO", "priority": 50, "cpus": [0], "loop": 1, "delay": 1000,
                "run": 10000 },
    "hog":    { "cpus": [1], "run": 1000000 },
    "waiter": { "policy": "SCHED_FIFO", "priority": 40, "loop": 1, "delay": 2000,
                "lock": "M", "run": 1000, "unlock": "M" } } }"#;

#[test]
fn full_proxy_pushes_a_blocked_rt_task_with_its_chain() {
    let (m, ev) = run_traced(CHAIN_BEHIND_RT, proxy(2, ProxyLevel::Full));
    assert!(proxy_cases(&ev, "chain_push") > 0);
    // The chain moves to CPU 1, where the owner runs at the waiter's RT priority from 2 ms.
    assert_eq!(task(&m, "waiter").exit_ns, Some(7 * MS));

    let (m, ev) = run_traced(CHAIN_BEHIND_RT, proxy(2, ProxyLevel::DonorMigration));
    assert_eq!(proxy_cases(&ev, "chain_push"), 0);
    // Without chain push the waiter and its owner wait behind `busy` until 11 ms.
    assert_eq!(task(&m, "waiter").exit_ns, Some(16 * MS));
}

/// The owner, preempted on CPU 0 at 1 ms by a higher RT task, is pushed to the idle CPU 1 and
/// is in flight (0.1 ms) when a waiter pinned to CPU 1 blocks on its mutex at 1.02 ms.
const MIGRATING_OWNER: &str = r#"{ "tasks": {
    "owner":  { "policy": "SCHED_FIFO", "priority": 10, "cpus": [0, 1], "loop": 1,
                "lock": "M", "run": 5000, "unlock": "M" },
    "high":   { "policy": "SCHED_FIFO", "priority": 50, "cpus": [0], "loop": 1, "delay": 1000,
                "run": 3000 },
    "waiter": { "policy": "SCHED_FIFO", "priority": 40, "cpus": [1], "loop": 1, "delay": 1020,
                "lock": "M", "run": 1000, "unlock": "M" } } }"#;

#[test]
fn a_donor_whose_owner_is_migrating_idles_until_it_lands() {
    let mut o = proxy(2, ProxyLevel::DonorMigration);
    o.ipi_latency_ns = Some(100_000);
    let (m, ev) = run_traced(MIGRATING_OWNER, o);
    assert!(proxy_cases(&ev, "owner_migrating") > 0);
    // The owner lands on CPU 1 at 1.1 ms and runs its last 4 ms there on the waiter's context.
    let landed = switches(&m, &ev)
        .into_iter()
        .find(|(_, cpu, name)| *cpu == 1 && name == "owner")
        .map(|(at, _, _)| at);
    assert_eq!(landed, Some(1_100_000));
    // At 5.1 ms it hands M to the waiter, which preempts it; pushed to the idle CPU 0, it is
    // in flight again for 0.1 ms before it can finish.
    assert_eq!(task(&m, "owner").exit_ns, Some(5_200_000));
    assert_eq!(task(&m, "waiter").exit_ns, Some(6_100_000));
    assert_eq!(task(&m, "waiter").donated_ns, 4 * MS);
}

/// A DL task blocks at 1 ms on a mutex whose owner is pinned to CPU 1; it is lent to CPU 1,
/// where the owner runs on its budget until the unlock at 3 ms hands it the mutex and sends it
/// home.
const LENT_DL_DONOR: &str = r#"{ "tasks": {
    "owner": { "policy": "SCHED_FIFO", "priority": 10, "cpus": [1], "loop": 1,
               "lock": "M", "run": 3000, "unlock": "M" },
    "donor": { "policy": "SCHED_DEADLINE", "dl-runtime": 4000, "dl-period": 100000,
               "loop": 1, "delay": 1000, "lock": "M", "run": 3000, "unlock": "M" } } }"#;

#[test]
fn a_lent_donor_pays_for_its_owner_up_to_the_handoff() {
    let mut o = proxy(2, ProxyLevel::Full);
    o.hrtick_dl = Some(true);
    let (m, ev) = run_traced(LENT_DL_DONOR, o);
    assert!(proxy_cases(&ev, "return_migration") > 0);
    assert_eq!(task(&m, "owner").proxied_ns, 2 * MS);
    // 2 ms of its 4 ms went to the owner, up to the handoff at 3 ms (the return migration
    // takes the donor off CPU 1 before it stops being its context): its 3 ms of its own work
    // exhaust the rest at 5 ms.
    let donor = m.tasks.iter().position(|t| t.name == "donor").unwrap() as u32;
    let throttled_at = ev.iter().find_map(|(at, e)| match e {
        Event::DlThrottle { task, .. } if task.0 == donor => Some(*at),
        _ => None,
    });
    assert_eq!(throttled_at, Some(5 * MS));
}
