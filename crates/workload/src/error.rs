//! The one error type of the crate: a bad input, located well enough for a user to fix it.

/// A problem with a workload file. `line` is 1-based; 0 means the problem is not tied to a line
/// (the file could not be read at all). `key` is the dotted path of the offending key, e.g.
/// `tasks.thread0.phases.p1.run` or `global.proxysched.cpus`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.file, *.line, .key.as_deref(), .message))]
pub struct InputError {
    pub file: String,
    pub line: u32,
    pub key: Option<String>,
    pub message: String,
}

fn render(file: &str, line: u32, key: Option<&str>, message: &str) -> String {
    match key {
        Some(key) => format!("{file}:{line}: {key}: {message}"),
        None => format!("{file}:{line}: {message}"),
    }
}

impl InputError {
    pub fn new(file: &str, line: u32, key: Option<String>, message: impl Into<String>) -> Self {
        InputError {
            file: file.to_string(),
            line,
            key,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_and_without_key() {
        let e = InputError::new("w.json", 12, Some("tasks.t.run".into()), "must be >= 0");
        assert_eq!(e.to_string(), "w.json:12: tasks.t.run: must be >= 0");
        let e = InputError::new("w.json", 3, None, "unexpected ','");
        assert_eq!(e.to_string(), "w.json:3: unexpected ','");
    }
}
