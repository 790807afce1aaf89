//! Bugs found by the property tests and the torture run, each kept as the workload that showed
//! it, run with invariant checks after every event.

use crate::common::*;
use proxysched_sched::{Inherit, ProxyLevel};

/// A lock owner running as its donor's proxy changes its affinity away from its CPU: it used
/// to be picked again as the proxy and migrated at once, ending up `curr` on two CPUs.
const AFFINITY_OWNER: &str = r#"{ "tasks": {
    "owner":  { "cpus": [0], "loop": 1, "phases": {
                  "hold": { "lock": "m", "run": 5000 },
                  "move": { "cpus": [1], "run": 1000, "unlock": "m" } } },
    "waiter": { "cpus": [0], "priority": -10, "delay": 1000, "loop": 1,
                "lock": "m", "run": 100, "unlock": "m" } } }"#;

#[test]
fn an_owner_moving_away_while_running_as_a_proxy_is_followed_not_duplicated() {
    for level in [
        ProxyLevel::SingleRq,
        ProxyLevel::DonorMigration,
        ProxyLevel::Full,
    ] {
        let mut o = with_inherit(overrides(2, SEC), Inherit::Proxy);
        o.proxy_level = Some(level);
        let (m, ev) = run_traced(AFFINITY_OWNER, o);
        assert!(task(&m, "owner").exit_ns.is_some(), "{level:?}");
        assert!(task(&m, "waiter").exit_ns.is_some(), "{level:?}");
        assert!(proxy_cases(&ev, "curr_in_chain") > 0, "{level:?}");
    }
}

/// With HRTICK_DL, a zero budget that is not throttled (a constrained-deadline task woken at
/// zero laxity; a task made SCHED_DEADLINE at t = 0) used to re-arm the hrtick at the same
/// instant forever.
#[test]
fn a_zero_dl_budget_with_hrtick_throttles_instead_of_spinning() {
    let laxity0 = r#"{ "tasks": { "dl": { "policy": "SCHED_DEADLINE", "dl-runtime": 1000,
        "dl-deadline": 5000, "dl-period": 10000, "loop": 3, "run": 500, "sleep": 4500 } } }"#;
    let setattr_at_0 = r#"{ "tasks": { "t": { "loop": 3, "phases": { "p": {
        "policy": "SCHED_DEADLINE", "dl-runtime": 3, "dl-deadline": 100, "dl-period": 1000,
        "run": 10, "sleep": 500 } } } } }"#;
    for json in [laxity0, setattr_at_0] {
        let mut o = overrides(1, SEC);
        o.hrtick_dl = Some(true);
        let m = run(json, o);
        assert!(m.tasks[0].exit_ns.is_some(), "{json}");
    }
}
