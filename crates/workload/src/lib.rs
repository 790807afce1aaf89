//! Reads rt-app workload files the way real ones are written and resolves them into a typed
//! [`Workload`]: two stages (lenient JSON with positions, then the rt-app grammar), so that every
//! error names the file, the line and the key.
//!
//! ```
//! let w = proxysched_workload::parse_str(
//!     "example.json",
//!     r#"{ "tasks": { "t": { "loop": 3, "run": 1000, "sleep": 9000 } } }"#,
//! )
//! .unwrap();
//! assert_eq!(w.tasks[0].phases[0].loops, 3);
//! ```

mod error;
pub mod json;
mod model;
mod rtapp;

pub use error::InputError;
pub use model::*;

/// The `source` of the built-in demo workload, used in messages instead of a file name.
pub const DEMO_SOURCE: &str = "<built-in demo>";

const DEMO_JSON: &str = include_str!("demo.json");

/// Parses and resolves rt-app JSON text. `file` is only used in messages and as
/// [`Workload::source`]. CPU ids are checked later, by [`Workload::check_cpus`], because the
/// CPU count may come from the command line.
pub fn parse_str(file: &str, text: &str) -> Result<Workload, InputError> {
    rtapp::resolve(file, parse_json(file, text)?)
}

fn parse_json(file: &str, text: &str) -> Result<json::Value, InputError> {
    json::parse(text).map_err(|e| {
        InputError::new(
            file,
            e.pos.line,
            None,
            format!("syntax error at column {}: {}", e.pos.col, e.message),
        )
    })
}

/// Reads, parses and resolves a workload file. Messages name the file as `path` is written.
pub fn load(path: &std::path::Path) -> Result<Workload, InputError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| InputError::new(&file, 0, None, format!("cannot read the file: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let col = good.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
        InputError::new(
            &file,
            u32::try_from(line).unwrap_or(u32::MAX),
            None,
            format!("the file is not valid UTF-8 (first invalid byte at byte column {col})"),
        )
    })?;
    let root = parse_json(&file, &text)?;
    // The text is not needed once parsed, and freeing it lowers the peak of a big workload.
    drop(text);
    rtapp::resolve(&file, root)
}

/// The workload `run` and `compare` use without a file: the foreground/background priority
/// inversion that motivated proxy execution on Android (see `src/demo.json`).
pub fn builtin_demo() -> Workload {
    // The embedded file is ours and covered by tests; failing here is a bug, not bad input.
    parse_str(DEMO_SOURCE, DEMO_JSON).expect("the built-in demo workload must parse")
}
