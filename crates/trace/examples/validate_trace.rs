//! Validate trace files with the test suite's validator:
//! `cargo run -p proxysched-trace --example validate_trace -- FILE.json|FILE.txt ...`
//! (a `.json` file is checked as Chrome JSON, anything else as ftrace text). Exits 1 on the
//! first file that fails.

#[path = "../tests/support/validator.rs"]
mod validator;

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: validate_trace FILE.json|FILE.txt ...");
        std::process::exit(2);
    }
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{path}: cannot read: {e}");
                std::process::exit(2);
            }
        };
        let verdict = if path.ends_with(".json") {
            validator::check_chrome(&text).map(|c| format!("{} JSON events", c.events.len()))
        } else {
            validator::check_ftrace(&text).map(|f| format!("{} lines", f.lines.len()))
        };
        match verdict {
            Ok(what) => println!("{path}: ok, {what}"),
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        }
    }
}
