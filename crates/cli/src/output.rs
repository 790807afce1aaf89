//! Writing result files so that a failed or interrupted write never leaves a file that looks
//! complete: write beside the target, then rename over it.

use std::io::Write;
use std::path::Path;

use proxysched::Failure;

pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    write_atomically_with(path, |f| f.write_all(bytes))
}

/// [`write_atomically`] for text produced as it is written (through a buffer), so that a
/// large result is never held in memory whole.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Failure> {
    let fail = |what: &str, e: std::io::Error| {
        Failure::input(format!("cannot {what} {}: {e}", path.display()))
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Failure::input(format!("{} is not a file path", path.display())))?;
    let tmp = dir.join(format!(".{}.partial", name.to_string_lossy()));
    let result = std::fs::File::create(&tmp).and_then(|f| {
        let mut out = std::io::BufWriter::new(f);
        write(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("write", e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail("write", e)
    })
}

// ----- traces, rt-app logs, progress -------------------------------------------------------

use std::fs::File;
use std::io::{BufWriter, IsTerminal};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use proxysched_trace::chrome::ChromeWriter;
use proxysched_trace::ftrace::FtraceText;
use proxysched_trace::rtapp_log::{self, RtappLogs};
use proxysched_trace::{Event, EventKind, EventKinds, Sink};
use proxysched_workload::Workload;

/// A file being written as `PATH.partial`: renamed to `PATH` by [`PartialFile::commit`],
/// removed if dropped before, so that a file at `PATH` is always complete.
struct PartialFile {
    path: PathBuf,
    partial: PathBuf,
    committed: bool,
}

impl PartialFile {
    fn create(path: &Path) -> Result<(PartialFile, File), Failure> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial).map_err(|e| {
            Failure::input(format!("cannot create the trace {}: {e}", path.display()))
        })?;
        let guard = PartialFile {
            path: path.to_path_buf(),
            partial,
            committed: false,
        };
        Ok((guard, file))
    }

    fn commit(mut self) -> Result<(), Failure> {
        std::fs::rename(&self.partial, &self.path).map_err(|e| {
            Failure::input(format!(
                "cannot write the trace {}: {e}",
                self.path.display()
            ))
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

enum TraceWriter {
    Text(FtraceText<BufWriter<File>>),
    Json(ChromeWriter<File, File>),
}

/// A `--trace` file written while the simulation runs: ftrace text for `.txt`, Chrome JSON
/// with the ftrace text embedded for `.json`.
pub struct TraceFile {
    writer: TraceWriter,
    file: PartialFile,
}

impl TraceFile {
    pub fn create(path: &Path, nr_cpus: u32) -> Result<TraceFile, Failure> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        let json = match ext.as_deref() {
            Some("txt") => false,
            Some("json") => true,
            _ => {
                return Err(Failure::input(format!(
                    "--trace {}: the file name must end in .txt (ftrace text) or .json \
                     (Chrome JSON for Perfetto)",
                    path.display()
                )))
            }
        };
        let (file, out) = PartialFile::create(path)?;
        let io = |e: std::io::Error| {
            Failure::input(format!("cannot write the trace {}: {e}", path.display()))
        };
        let writer = if json {
            // Scratch space for the ftrace text until it is appended: an unnamed file next to
            // the trace (not in /tmp, which may be memory), gone when closed.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let body = tempfile::tempfile_in(dir).map_err(io)?;
            TraceWriter::Json(ChromeWriter::new(out, body, nr_cpus).map_err(io)?)
        } else {
            let out = BufWriter::with_capacity(256 * 1024, out);
            TraceWriter::Text(FtraceText::new(out, nr_cpus).map_err(io)?)
        };
        Ok(TraceFile { writer, file })
    }

    /// Complete the trace (the simulation ended at `end_ns`) and give it its name.
    pub fn finish(self, end_ns: u64) -> Result<(), Failure> {
        let path = self.file.path.clone();
        let io = |e: std::io::Error| {
            Failure::input(format!("cannot write the trace {}: {e}", path.display()))
        };
        let file = match self.writer {
            TraceWriter::Text(w) => w
                .finish()
                .and_then(|b| b.into_inner().map_err(|e| e.into_error()))
                .map_err(io)?,
            TraceWriter::Json(w) => w.finish(end_ns).map_err(io)?,
        };
        file.sync_all().map_err(io)?;
        drop(file);
        self.file.commit()
    }
}

impl Sink for TraceFile {
    fn record(&mut self, at_ns: u64, event: &Event) {
        match &mut self.writer {
            TraceWriter::Text(w) => w.record(at_ns, event),
            TraceWriter::Json(w) => w.record(at_ns, event),
        }
    }
}

/// rt-app logs for every task of `w` in `dir` (`--rtapp-logs`).
pub fn rtapp_logs(dir: &Path, w: &Workload) -> Result<RtappLogs, Failure> {
    let names: Vec<String> = w
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| rtapp_log::thread_name(&t.definition, i))
        .collect();
    RtappLogs::create(dir, rtapp_log::DEFAULT_BASENAME, &names).map_err(|e| {
        Failure::input(format!(
            "--rtapp-logs: cannot write logs in {}: {e}",
            dir.display()
        ))
    })
}

pub fn finish_rtapp_logs(logs: RtappLogs, dir: &Path) -> Result<(), Failure> {
    logs.finish().map(drop).map_err(|e| {
        Failure::input(format!(
            "--rtapp-logs: cannot write logs in {}: {e}",
            dir.display()
        ))
    })
}

/// A progress bar on stderr for runs that take more than a moment. It only reads the event
/// stream (so it cannot change any output), looks at the wall clock every few thousand
/// context switches, and shows up after half a second, only when stderr is a terminal.
pub struct Progress {
    end_ns: Option<u64>,
    started: Instant,
    /// Events until the next look at the clock.
    countdown: u64,
    bar: Option<indicatif::ProgressBar>,
    enabled: bool,
}

impl Progress {
    /// Context switches between looks at the clock.
    const EVERY: u64 = 1 << 12;
    const DELAY: Duration = Duration::from_millis(500);

    /// `end_ns`: the simulated time the run stops at, if known.
    pub fn new(end_ns: Option<u64>, quiet: bool) -> Progress {
        Progress {
            end_ns,
            started: Instant::now(),
            countdown: Self::EVERY,
            bar: None,
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// Will the bar ever show? Not with `--quiet` or when stderr is not a terminal; the run
    /// then need not pass it the stream at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn show(&mut self) -> &indicatif::ProgressBar {
        let end_ns = self.end_ns;
        self.bar.get_or_insert_with(|| {
            let style = match end_ns {
                Some(_) => indicatif::ProgressStyle::with_template(
                    "simulated {pos}/{len} ms [{wide_bar}] {elapsed}",
                ),
                None => indicatif::ProgressStyle::with_template(
                    "simulated {pos} ms {spinner} {elapsed}",
                ),
            }
            .expect("a valid progress template");
            let bar = match end_ns {
                Some(end) => indicatif::ProgressBar::new(end / 1_000_000),
                None => indicatif::ProgressBar::new_spinner(),
            };
            bar.set_style(style);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
            bar
        })
    }

    /// Remove the bar.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Sink for Progress {
    /// Context switches alone come often enough to move the bar; asking for every kind would
    /// make an interactive run build tracepoints that nothing else reads.
    fn wants(&self) -> EventKinds {
        EventKinds::of(&[EventKind::SchedSwitch])
    }

    fn record(&mut self, at_ns: u64, _event: &Event) {
        if !self.enabled {
            return;
        }
        self.countdown -= 1;
        if self.countdown > 0 {
            return;
        }
        self.countdown = Self::EVERY;
        if self.bar.is_none() && self.started.elapsed() < Self::DELAY {
            return;
        }
        self.show().set_position(at_ns / 1_000_000);
    }
}
