//! The torture run: randomized workloads with invariants checked after every event.

use proxysched::torture::{generate, sub_seed, torture, TortureOptions};
use proxysched_sched::{Inherit, PlantedBug, ProxyLevel};

fn options(runs: u64) -> TortureOptions {
    TortureOptions {
        seed: 1,
        runs,
        duration_ns: 200_000_000,
        ..TortureOptions::default()
    }
}

#[test]
fn a_short_torture_run_finds_no_violation_in_any_mode() {
    for (inherit, level) in [
        (Inherit::None, ProxyLevel::Full),
        (Inherit::Pi, ProxyLevel::Full),
        (Inherit::Proxy, ProxyLevel::SingleRq),
        (Inherit::Proxy, ProxyLevel::DonorMigration),
        (Inherit::Proxy, ProxyLevel::Full),
    ] {
        let o = TortureOptions {
            inherit: Some(inherit),
            proxy_level: Some(level),
            determinism_check: true,
            ..options(25)
        };
        let s = torture(&o, |_| {});
        let first = s
            .violations
            .first()
            .map(|v| (v.generated.describe(), v.message.clone()));
        assert!(s.violations.is_empty(), "{inherit:?} {level:?}: {first:?}");
        assert_eq!(s.runs, 25);
        assert!(s.events > 10_000);
    }
}

#[test]
fn a_planted_bug_is_caught_and_reported_with_a_replayable_workload() {
    // Skipping return migration leaves woken donors on CPUs outside their affinity.
    let o = TortureOptions {
        inherit: Some(Inherit::Proxy),
        proxy_level: Some(ProxyLevel::DonorMigration),
        planted_bug: Some(PlantedBug::SkipReturnMigration),
        ..options(200)
    };
    let s = torture(&o, |_| {});
    let v = s
        .violations
        .first()
        .expect("the planted bug was not caught in 200 runs");
    assert!(v.message.contains("outside its affinity"), "{}", v.message);
    assert!(!v.last_events.is_empty());
    // The written workload replays the failure on its own, through the public entry points.
    let w = proxysched_workload::parse_str("replay.json", &v.generated.json).unwrap();
    let mut cfg = proxysched_sim::RunConfig::resolve(
        &w,
        &proxysched_sim::Overrides {
            duration_ns: Some(o.duration_ns),
            ..Default::default()
        },
    );
    cfg.sched.planted_bug = o.planted_bug;
    let replay = proxysched::simulate(&w, &cfg, true, None);
    let failure = replay.expect_err("the replay reproduces the violation");
    assert_eq!(failure.code, 1);
    assert!(failure.message.contains("outside its affinity"));
}

#[test]
fn runs_are_reproducible_from_their_seed() {
    let o = options(5);
    for k in 0..5 {
        let a = generate(k, sub_seed(o.seed, k), &o);
        let b = generate(k, sub_seed(o.seed, k), &o);
        assert_eq!(a.json, b.json);
    }
    let a = torture(&o, |_| {});
    let b = torture(&o, |_| {});
    assert_eq!(
        (a.runs, a.events, a.deadlocks),
        (b.runs, b.events, b.deadlocks)
    );
}

#[test]
fn the_torture_command_writes_the_same_files_twice_and_exits_0() {
    let run = |dir: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_proxysched"))
            .args(["torture", "--seed", "3", "--runs", "8", "--duration", "0.1"])
            .args(["--keep-workloads", "--out"])
            .arg(dir)
            .output()
            .unwrap()
    };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // --out names a directory that does not exist yet: it is created.
    let d2_out = d2.path().join("new").join("dir");
    let (a, b) = (run(d1.path()), run(&d2_out));
    assert_eq!(
        a.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&a.stderr)
    );
    assert_eq!(a.stdout, b.stdout);
    let text = String::from_utf8_lossy(&a.stdout);
    assert!(text.contains("run 0: seed"), "{text}");
    assert!(
        text.contains("8 runs,") && text.contains("0 violations"),
        "{text}"
    );
    let files = |d: &std::path::Path| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let (fa, fb) = (files(d1.path()), files(&d2_out));
    assert_eq!(fa.len(), 8);
    assert_eq!(
        fa, fb,
        "the generated workloads differ between two runs of one seed"
    );
}
