//! Names as traces can carry them.
//!
//! ftrace text is split on spaces into `key=value` pairs, and the JSON writer embeds that text
//! in a JSON string, so names written into lines keep to `[A-Za-z0-9_.:/-]`: anything else
//! (spaces, quotes, backslashes, `=`, control characters, non-ASCII) becomes `_`. A `-` is
//! safe even in a comm: Perfetto's line pattern needs `-<pid>` followed by whitespace and a
//! `[cpu]`, which a comm without spaces or brackets cannot contain.

/// The kernel's `TASK_COMM_LEN` (16) minus the terminating NUL.
pub const COMM_LEN: usize = 15;

/// `name` restricted to the characters trace lines may carry; never empty.
pub fn word(name: &str) -> String {
    if name.is_empty() {
        return "_".to_string();
    }
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A task name as its comm: [`word`], cut to [`COMM_LEN`] bytes as `pthread_setname_np()`
/// and `prctl(PR_SET_NAME)` leave it.
pub fn comm(name: &str) -> String {
    let mut w = word(name);
    w.truncate(COMM_LEN);
    w
}

#[cfg(test)]
mod tests {
    use super::{comm, word};

    #[test]
    fn comms_are_short_and_space_free() {
        assert_eq!(comm("hog-3"), "hog-3");
        assert_eq!(comm("a very long task name"), "a_very_long_tas");
        assert_eq!(comm("tab\there\"q\\"), "tab_here_q_");
        assert_eq!(comm("ünï"), "_n_");
        assert_eq!(comm(""), "_");
        assert_eq!(word("ui lock=1"), "ui_lock_1");
    }
}
