//! Bad input must never crash the reader: arbitrary bytes, mutated real files and token soup
//! all end in a workload or an `InputError`, and any workload produced is internally
//! consistent.

use std::path::PathBuf;

use proptest::prelude::*;
use proxysched_workload::*;

fn examples() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/rt-app");
    let mut texts: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    texts.sort();
    texts.push(include_str!("../src/demo.json").to_string());
    texts
}

/// Every id points into its table and every phase is well formed.
fn check_consistent(w: &Workload) {
    for t in &w.tasks {
        for p in &t.phases {
            assert!(p.loops >= 1);
            assert_eq!(p.events.len(), p.event_origins.len());
            assert!(!p.events.is_empty());
            assert_eq!(p.cpus.is_some(), t.cpus_origin(p).is_some());
            for e in &p.events {
                match *e {
                    Event::Lock { mutex } | Event::Unlock { mutex } => {
                        assert!((mutex.0 as usize) < w.mutexes.len())
                    }
                    Event::Wait { cond, mutex } | Event::Sync { cond, mutex } => {
                        assert!((cond.0 as usize) < w.conds.len());
                        assert!((mutex.0 as usize) < w.mutexes.len());
                    }
                    Event::Signal { cond } | Event::Broadcast { cond } => {
                        assert!((cond.0 as usize) < w.conds.len())
                    }
                    Event::Barrier { barrier } => {
                        assert!(w.barriers[barrier.0 as usize].parties >= 1)
                    }
                    Event::SemPost { sem } | Event::SemWait { sem } => {
                        assert!((sem.0 as usize) < w.semaphores.len())
                    }
                    Event::Suspend { queue } | Event::Resume { queue } => {
                        assert!((queue.0 as usize) < w.suspend_queues.len())
                    }
                    Event::Timer {
                        timer, period_ns, ..
                    } => {
                        assert!(period_ns > 0);
                        assert!((timer.0 as usize) < w.timers.len());
                    }
                    Event::Run { .. } | Event::Runtime { .. } | Event::Sleep { .. } => {}
                    Event::Yield => {}
                }
            }
        }
    }
    for timer in &w.timers {
        if let Some(owner) = timer.owner {
            assert!((owner as usize) < w.tasks.len());
        }
    }
}

fn exercise(text: &str) {
    if let Ok(w) = parse_str("fuzz.json", text) {
        check_consistent(&w);
        for n in [1, 2, 4, 1024] {
            let _ = w.check_cpus(n);
        }
    }
}

#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Duplicate(usize, usize),
}

const SNIPPETS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "/*",
    "//",
    "\\u",
    "-1",
    "0",
    "1.5",
    "99999999999999999999",
    "\"loop\": -1,",
    "\"instance\": 0,",
    "\"policy\": \"SCHED_DEADLINE\",",
    "\"dl-runtime\": 1,",
    "\"cpus\": [5],",
    "\"timer\": {\"ref\": \"unique\", \"period\": 1000},",
    "\"phases\": {},",
    "\"mem\": 1,",
];

fn edit() -> impl Strategy<Value = Edit> {
    let snippet = prop_oneof![
        proptest::sample::select(SNIPPETS).prop_map(str::to_string),
        "\\PC{0,6}",
    ];
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Edit::Delete(at, len)),
        (any::<usize>(), snippet).prop_map(|(at, s)| Edit::Insert(at, s)),
        (any::<usize>(), 0usize..80).prop_map(|(at, len)| Edit::Duplicate(at, len)),
    ]
}

/// Clamps a byte index to the text and backs it off to a char boundary.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, e: &Edit) {
    match e {
        Edit::Delete(at, len) => {
            let a = boundary(text, *at);
            let b = boundary(text, a.saturating_add(*len).min(text.len()));
            text.replace_range(a..b.max(a), "");
        }
        Edit::Insert(at, s) => {
            let a = boundary(text, *at);
            text.insert_str(a, s);
        }
        Edit::Duplicate(at, len) => {
            let a = boundary(text, *at);
            let b = boundary(text, a.saturating_add(*len).min(text.len())).max(a);
            let copy = text[a..b].to_string();
            text.insert_str(b, &copy);
        }
    }
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"tasks\"",
    "\"global\"",
    "\"proxysched\"",
    "\"cpus\"",
    "\"phases\"",
    "\"t\"",
    "\"p\"",
    "\"run\"",
    "\"runtime\"",
    "\"sleep\"",
    "\"lock\"",
    "\"unlock\"",
    "\"wait\"",
    "\"sync\"",
    "\"timer\"",
    "\"ref\"",
    "\"mutex\"",
    "\"period\"",
    "\"mode\"",
    "\"absolute\"",
    "\"unique\"",
    "\"barrier\"",
    "\"suspend\"",
    "\"resume\"",
    "\"loop\"",
    "\"instance\"",
    "\"policy\"",
    "\"priority\"",
    "\"SCHED_DEADLINE\"",
    "\"SCHED_FIFO\"",
    "\"dl-runtime\"",
    "\"dl-period\"",
    "\"dl-deadline\"",
    "\"\"",
    "0",
    "1",
    "-1",
    "1000",
    "100000",
    "1.5",
    "true",
    "null",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = proxysched_workload::json::parse(&text);
        exercise(&text);
    }

    #[test]
    fn mutated_examples_never_panic(
        which in any::<usize>(),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let all = examples();
        let mut text = all[which % all.len()].clone();
        for e in &edits {
            apply(&mut text, e);
        }
        exercise(&text);
    }

    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..80)) {
        let text = tokens.join(" ");
        exercise(&text);
        // Most soups fail early; wrapped in a plausible frame they reach the resolver.
        exercise(&format!("{{ \"tasks\": {{ \"t\": {{ {text} }} }} }}"));
        exercise(&format!("{{ \"tasks\": {{ \"t\": {{ \"phases\": {{ \"p\": {{ {text} }} }} }} }} }}"));
    }
}

#[test]
fn unmodified_examples_are_consistent() {
    for text in examples() {
        let w = parse_str("x.json", &text).unwrap();
        check_consistent(&w);
    }
}
