//! rt-app's per-thread log files, so that tools written for real rt-app runs read simulated
//! ones.
//!
//! rt-app names a thread `<task>-<index>` (the task's key in the file and the thread's index
//! over all threads) and logs it to `<logdir>/<log_basename>-<thread>.log`: a header, then one
//! row per phase iteration, in rt-app's own `printf` layout:
//!
//! ```text
//! #idx     perf      run   period           start             end          rel_st      slack c_duration   c_period     wu_lat
//!    0     1000     1000    16000               0           16000               0      15000       1000      16000          0
//! ```
//!
//! Columns (µs, rounded to nearest as rt-app's `lround` does): `idx` the thread index;
//! `perf` the work done in `run`/`runtime` events (rt-app counts calibration loops in
//! thousands; here one loop is 1 ns of work, so `perf` is microseconds of CPU time, as with
//! `"calibration": 1`); `run` the wall time spent in those events; `period` the wall time of
//! the iteration; `start`/`end` its bounds in simulated time; `rel_st` the start relative to
//! rt-app's start (simulated time 0, so equal to `start`); `slack` the last timer's expiry
//! minus the time the task reached it; `c_duration`/`c_period` the configured run and timer
//! time; `wu_lat` the timers' wakeup latency, reset by a late timer as in rt-app.
//!
//! Rows are buffered per thread (a few KiB) and appended to the file, so memory is bounded
//! and at most one file is open at a time. Files are written as `<name>.log.partial` and
//! renamed by [`RtappLogs::finish`]; if that never happens they are removed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::{us_rounded, us_rounded_signed, Event, EventKind, EventKinds, Sink};

/// rt-app's default `log_basename`.
pub const DEFAULT_BASENAME: &str = "rt-app";

/// Rows a thread buffers before they are appended to its file.
const FLUSH_AT: usize = 8 * 1024;

/// The log header, as rt-app prints it.
pub fn header() -> String {
    format!(
        "{} {:>8} {:>8} {:>8} {:>15} {:>15} {:>15} {:>10} {:>10} {:>10} {:>10}\n",
        "#idx",
        "perf",
        "run",
        "period",
        "start",
        "end",
        "rel_st",
        "slack",
        "c_duration",
        "c_period",
        "wu_lat"
    )
}

/// rt-app's name of thread `index` of task `definition`.
pub fn thread_name(definition: &str, index: usize) -> String {
    format!("{definition}-{index}")
}

/// `name` usable as a file name: characters outside `[A-Za-z0-9_.-]` become `_`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

struct LogFile {
    path: PathBuf,
    partial: PathBuf,
    rows: Vec<u8>,
}

/// The sink writing one rt-app log per thread from the `RtappLoopEnd` events.
pub struct RtappLogs {
    files: Vec<LogFile>,
    error: Option<io::Error>,
    done: bool,
}

impl RtappLogs {
    /// Create `dir` if needed and one log per thread (`threads[i]` is rt-app's name of task
    /// `i`, see [`thread_name`]) holding the header.
    pub fn create(dir: &Path, basename: &str, threads: &[String]) -> io::Result<RtappLogs> {
        std::fs::create_dir_all(dir)?;
        let mut logs = RtappLogs {
            files: Vec::with_capacity(threads.len()),
            error: None,
            done: false,
        };
        let head = header();
        for name in threads {
            let file = format!("{}-{}.log", file_safe(basename), file_safe(name));
            let path = dir.join(&file);
            let partial = dir.join(format!("{file}.partial"));
            // Pushed first, so that a failure below still removes what was created.
            logs.files.push(LogFile {
                path,
                partial: partial.clone(),
                rows: Vec::new(),
            });
            File::create(&partial)?.write_all(head.as_bytes())?;
        }
        Ok(logs)
    }

    /// Write what is buffered and give every log its final name; returns the paths. On error
    /// the partial files are removed.
    pub fn finish(mut self) -> io::Result<Vec<PathBuf>> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        for i in 0..self.files.len() {
            self.flush(i)?;
        }
        for f in &self.files {
            std::fs::rename(&f.partial, &f.path)?;
        }
        self.done = true;
        Ok(self.files.iter().map(|f| f.path.clone()).collect())
    }

    fn flush(&mut self, i: usize) -> io::Result<()> {
        let f = &mut self.files[i];
        if f.rows.is_empty() {
            return Ok(());
        }
        OpenOptions::new()
            .append(true)
            .open(&f.partial)?
            .write_all(&f.rows)?;
        f.rows.clear();
        Ok(())
    }
}

impl Drop for RtappLogs {
    fn drop(&mut self) {
        if !self.done {
            for f in &self.files {
                let _ = std::fs::remove_file(&f.partial);
            }
        }
    }
}

impl Sink for RtappLogs {
    fn wants(&self) -> EventKinds {
        EventKinds::of(&[EventKind::RtappLoopEnd])
    }

    fn record(&mut self, _at: u64, event: &Event) {
        let Event::RtappLoopEnd { task, stats, .. } = event else {
            return;
        };
        if self.error.is_some() || task.index() >= self.files.len() {
            return;
        }
        let start = us_rounded(stats.start_ns);
        let rows = &mut self.files[task.index()].rows;
        let _ = writeln!(
            rows,
            "{:4} {:8} {:8} {:8} {:15} {:15} {:15} {:10} {:10} {:10} {:10}",
            task.index(),
            us_rounded(stats.perf_ns),
            us_rounded(stats.run_ns),
            us_rounded(stats.period_ns),
            start,
            us_rounded(stats.end_ns),
            start,
            us_rounded_signed(stats.slack_ns),
            us_rounded(stats.c_duration_ns),
            us_rounded(stats.c_period_ns),
            us_rounded(stats.wu_lat_ns),
        );
        if rows.len() >= FLUSH_AT {
            if let Err(e) = self.flush(task.index()) {
                self.error = Some(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RtappStats, TaskId};

    #[test]
    fn the_header_is_rt_app_s() {
        assert_eq!(
            header(),
            concat!(
                "#idx     perf      run   period           start             end          ",
                "rel_st      slack c_duration   c_period     wu_lat\n"
            )
        );
    }

    #[test]
    fn rows_land_in_renamed_files_and_partials_vanish_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec![thread_name("a b", 0), thread_name("c", 1)];
        let mut logs = RtappLogs::create(dir.path(), DEFAULT_BASENAME, &names).unwrap();
        logs.record(
            5,
            &Event::RtappLoopEnd {
                task: TaskId(1),
                cpu: 0,
                thread_loop: 0,
                phase: 0,
                phase_loop: 0,
                stats: RtappStats {
                    perf_ns: 1_000_400,
                    run_ns: 1_000_500,
                    period_ns: 16_000_000,
                    start_ns: 0,
                    end_ns: 16_000_000,
                    slack_ns: -1_500,
                    c_duration_ns: 1_000_000,
                    c_period_ns: 16_000_000,
                    wu_lat_ns: 0,
                },
            },
        );
        let paths = logs.finish().unwrap();
        assert_eq!(paths[0].file_name().unwrap(), "rt-app-a_b-0.log");
        let text = std::fs::read_to_string(&paths[1]).unwrap();
        let expected = [
            "   1",
            "    1000",
            "    1001",
            "   16000",
            "              0",
            "          16000",
            "              0",
            "        -2",
            "      1000",
            "     16000",
            "         0",
        ]
        .join(" ");
        assert_eq!(text.lines().nth(1).unwrap(), expected);
        let dir2 = tempfile::tempdir().unwrap();
        drop(RtappLogs::create(dir2.path(), "x", &names).unwrap());
        assert_eq!(std::fs::read_dir(dir2.path()).unwrap().count(), 0);
    }
}
