//! The rt-app example files shipped in `examples/rt-app/` all run, or stop with the clean
//! "not supported yet" error.

use proxysched::simulate;
use proxysched_sim::{Overrides, RunConfig};

#[test]
fn every_example_runs_or_says_what_is_not_supported_yet() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/rt-app");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "examples missing: {files:?}");
    let mut ran = 0;
    for f in &files {
        let w = proxysched_workload::load(f).unwrap_or_else(|e| panic!("{e}"));
        // The examples come from multi-core phones and boards.
        let o = Overrides {
            cpus: Some(4),
            duration_ns: Some(2_000_000_000),
            ..Overrides::default()
        };
        let cfg = RunConfig::resolve(&w, &o);
        match simulate(&w, &cfg, true, None) {
            Ok(m) => {
                assert!(m.events > 0, "{}", f.display());
                ran += 1;
            }
            Err(e) => {
                assert_eq!(e.code, 2, "{}: {}", f.display(), e.message);
                assert!(
                    e.message.contains("not supported yet")
                        && e.message.starts_with(&f.display().to_string()),
                    "{}: {}",
                    f.display(),
                    e.message
                );
            }
        }
    }
    assert!(ran >= 7, "only {ran} examples ran");
}
