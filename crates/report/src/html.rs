//! The HTML report: one self-contained file (inline CSS and SVG, no script, no network fetch)
//! with a run's configuration, its summary tables, a per-CPU timeline in which proxy execution
//! is marked, wakeup-latency CDFs per task and mutex wait and hold CDFs, and the run's deadlocks
//! and warnings. [`render_compare`] does the same for runs of one workload under several
//! inheritance modes, side by side and on shared axes.
//!
//! The figures in the tables come from the [`MetricsDoc`]s, so they are the numbers of the
//! metrics JSON; the CDFs and the timeline come from a [`ReportSink`] fed the same tracepoint
//! stream. Output is deterministic: same input, same bytes (no clock, colours from task
//! indices, coordinates in integer tenths of a pixel or formatted with fixed decimals).
//!
//! Timeline. The *detail* view shows a window chosen to be readable (about
//! [`DETAIL_SLICES`] slices on the busiest CPU), starting just before the first proxy execution
//! (or else the first contended lock, or else the start), one lane per CPU then one per task;
//! the *overview* shows the whole captured range, one pixel column per bucket of time, coloured
//! by the task that ran longest in it, with a strip marking where proxy execution happened.

use std::collections::BTreeSet;
use std::fmt::Write;

use proxysched_trace::{Event, Sink, TaskId};

use crate::metrics::{CompareDoc, Distribution, MetricsDoc, MetricsSink};
use crate::table::{ms, us};
use crate::timeline::{LockSpan, LockSpanKind, MarkKind, Slice, TimelineLimits, TimelineSink};

/// Slices on the busiest CPU that the detail view of the timeline aims to show.
pub const DETAIL_SLICES: usize = 40;
/// CPU lanes drawn at most (detail view, overview).
const MAX_DETAIL_CPUS: usize = 64;
const MAX_OVERVIEW_CPUS: usize = 128;
/// Task lanes drawn at most in the detail view.
const MAX_TASK_LANES: usize = 24;
/// Tables with more rows than this scroll vertically in a box of their own.
const TALL_ROWS: usize = 24;
/// Charts drawn at most: wakeup latency (one per task), lock CDFs (two per mutex).
const MAX_LATENCY_CHARTS: usize = 48;
const MAX_MUTEX_CHARTS: usize = 24;

/// What the report needs from a run besides its [`MetricsDoc`]: the whole distributions (for
/// the CDFs) and the timeline. Feed it the run's tracepoint stream (e.g. as the `extra` sink
/// of `proxysched::simulate`); [`ReportSink::finish`] at the end is optional.
#[derive(Debug)]
pub struct ReportSink {
    pub metrics: MetricsSink,
    pub timeline: TimelineSink,
}

impl ReportSink {
    pub fn new(nr_cpus: usize) -> ReportSink {
        ReportSink::with_limits(nr_cpus, TimelineLimits::default())
    }

    pub fn with_limits(nr_cpus: usize, limits: TimelineLimits) -> ReportSink {
        ReportSink {
            metrics: MetricsSink::new(nr_cpus),
            timeline: TimelineSink::new(limits),
        }
    }

    /// Close every open interval at `end_ns`.
    pub fn finish(&mut self, end_ns: u64) {
        self.metrics.finish(end_ns);
        self.timeline.finish(end_ns);
    }
}

impl Sink for ReportSink {
    fn record(&mut self, at_ns: u64, event: &Event) {
        self.metrics.record(at_ns, event);
        self.timeline.record(at_ns, event);
    }
}

/// The report of one run. `source` names the workload (a path, or "built-in demo").
pub fn render_run(source: &str, doc: &MetricsDoc, data: &ReportSink) -> String {
    let runs = [Run {
        mode: doc.config.inherit,
        doc,
        data: Some(data),
    }];
    Page::new(source, &runs, false).render()
}

/// The report of runs of one workload under several modes: `data[i]` is the stream of
/// `doc.runs[i]`. Panics if the lengths differ.
pub fn render_compare(source: &str, doc: &CompareDoc, data: &[ReportSink]) -> String {
    assert_eq!(doc.runs.len(), data.len(), "one ReportSink per run");
    let runs: Vec<Run> = doc
        .runs
        .iter()
        .zip(data)
        .map(|((mode, d), r)| Run {
            mode,
            doc: d,
            data: Some(r),
        })
        .collect();
    Page::new(source, &runs, true).render()
}

/// `s` with the five HTML-special characters escaped, for text and attribute values alike.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A task's colour, from its index alone: a ten-colour qualitative palette, then hues a
/// golden angle apart.
pub fn task_colour(index: usize) -> String {
    const PALETTE: [&str; 10] = [
        "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#d37295",
        "#9c755f", "#bab0ac",
    ];
    match PALETTE.get(index) {
        Some(c) => (*c).to_string(),
        None => {
            let hue = (index as u64 * 137 + 20) % 360;
            let light = 45 + (index as u64 % 3) * 8;
            format!("hsl({hue},55%,{light}%)")
        }
    }
}

/// A mode's colour in charts: fixed for the three known modes.
fn mode_colour(mode: &str, k: usize) -> String {
    match mode {
        "none" => "#d1495b".to_string(),
        "pi" => "#edae49".to_string(),
        "proxy" => "#00798c".to_string(),
        _ => task_colour(k + 3),
    }
}

// ----- formatting helpers -------------------------------------------------------------------

/// A duration for people: ns, µs, ms or s, without floating point.
fn dur(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{} µs", us(ns))
    } else if ns < 1_000_000_000 {
        format!("{} ms", ms(ns))
    } else {
        format!("{}.{:03} s", ns / 1_000_000_000, ns / 1_000_000 % 1_000)
    }
}

/// Tenths of a pixel as a fixed one-decimal number.
fn px(tenths: u64) -> String {
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// At most `n` characters of `s`, with an ellipsis if cut.
fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Linear time scale onto `[x0, x0 + w)` pixels, in tenths of a pixel.
#[derive(Clone, Copy)]
struct Scale {
    t0: u64,
    t1: u64,
    x0: u64,
    w: u64,
}

impl Scale {
    fn x10(&self, t: u64) -> u64 {
        let t = t.clamp(self.t0, self.t1);
        let span = (self.t1 - self.t0).max(1) as u128;
        self.x0 * 10 + ((t - self.t0) as u128 * self.w as u128 * 10 / span) as u64
    }

    /// `x` and `width` attributes of `[a, b)`, at least half a pixel wide.
    fn span(&self, a: u64, b: u64) -> (u64, u64) {
        let x = self.x10(a);
        (x, (self.x10(b) - x).max(5))
    }
}

/// A tick step of 1, 2 or 5 times a power of ten giving at most `n` ticks over `span`.
fn nice_step(span: u64, n: u64) -> u64 {
    let raw = (span / n.max(1)).max(1);
    let mut p = 1u64;
    while p.saturating_mul(10) <= raw {
        p *= 10;
    }
    for m in [1, 2, 5, 10] {
        if p * m >= raw {
            return p * m;
        }
    }
    p * 10
}

/// The unit (ns per unit, name) and decimals to label ticks `step` apart over `span`.
fn tick_unit(span: u64, step: u64) -> (u64, &'static str, usize) {
    let (unit, name) = if span >= 2_000_000_000 {
        (1_000_000_000, "s")
    } else if span >= 2_000_000 {
        (1_000_000, "ms")
    } else if span >= 2_000 {
        (1_000, "µs")
    } else {
        (1, "ns")
    };
    // Decimals enough for every multiple of the step.
    let mut dec = 0;
    let mut q = unit;
    while q > 1 && !step.is_multiple_of(q) {
        q /= 10;
        dec += 1;
    }
    (unit, name, dec)
}

fn fmt_tick(t: u64, unit: u64, dec: usize) -> String {
    if dec == 0 {
        return (t / unit).to_string();
    }
    let scale = 10u64.pow(dec as u32);
    let frac = (t % unit) as u128 * scale as u128 / unit as u128;
    format!("{}.{:0w$}", t / unit, frac, w = dec)
}

macro_rules! w {
    ($dst:expr, $($arg:tt)*) => {
        let _ = write!($dst, $($arg)*);
    };
}

// ----- the page -----------------------------------------------------------------------------

struct Run<'a> {
    mode: &'a str,
    doc: &'a MetricsDoc,
    data: Option<&'a ReportSink>,
}

impl Run<'_> {
    /// The closed and still-open slices of `cpu`, as of the end of the run.
    fn slices(&self, cpu: usize) -> Vec<Slice> {
        let Some(d) = self.data else {
            return Vec::new();
        };
        let mut v = d.timeline.slices(cpu).to_vec();
        v.extend(d.timeline.open_slice(cpu, self.doc.end_ns));
        v
    }

    fn lock_spans(&self) -> Vec<LockSpan> {
        let Some(d) = self.data else {
            return Vec::new();
        };
        let mut v = d.timeline.lock_spans().to_vec();
        v.extend(d.timeline.open_lock_spans(self.doc.end_ns));
        v
    }

    fn range(&self) -> (u64, u64) {
        match self.data {
            Some(d) => d.timeline.range(self.doc.end_ns),
            None => (0, self.doc.end_ns),
        }
    }

    fn task_name(&self, p: TaskId) -> String {
        self.doc
            .tasks
            .get(p.index())
            .map_or_else(|| p.to_string(), |t| t.name.clone())
    }

    fn mutex_name(&self, m: u32) -> String {
        match self.data {
            Some(d) => d.metrics.mutex_name(m),
            None => format!("mutex {m}"),
        }
    }
}

struct Page<'a> {
    source: &'a str,
    runs: &'a [Run<'a>],
    compare: bool,
    out: String,
}

impl<'a> Page<'a> {
    fn new(source: &'a str, runs: &'a [Run<'a>], compare: bool) -> Page<'a> {
        Page {
            source,
            runs,
            compare,
            out: String::new(),
        }
    }

    fn render(mut self) -> String {
        let Some(first) = self.runs.first() else {
            return format!(
                "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
                 <title>proxysched — {0}</title>\n</head>\n<body>\n<p>No runs of {0}.</p>\n\
                 </body>\n</html>\n",
                escape(self.source)
            );
        };
        let title = if self.compare {
            format!("proxysched compare — {}", self.source)
        } else {
            format!("proxysched run — {}", self.source)
        };
        w!(
            self.out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>{}</style>\n</head>\n<body>\n",
            escape(&title),
            CSS
        );
        self.defs();
        w!(self.out, "<main>\n<header>\n<h1>{}</h1>\n", escape(&title));
        let modes: Vec<&str> = self.runs.iter().map(|r| r.mode).collect();
        w!(
            self.out,
            "<p class=\"sub\">{} CPU{} · {} · simulated {} · {}</p>\n",
            first.doc.config.cpus,
            if first.doc.config.cpus == 1 { "" } else { "s" },
            if self.compare {
                format!("modes {}", escape(&modes.join(", ")))
            } else {
                format!("inherit {}", escape(first.mode))
            },
            dur(first.doc.end_ns),
            if self.compare {
                "the same workload under each inheritance mode".to_string()
            } else {
                format!("{} events", first.doc.events)
            }
        );
        self.out.push_str(
            "<nav><a href=\"#config\">Configuration</a><a href=\"#summary\">Summary</a>\
             <a href=\"#timeline\">Timeline</a><a href=\"#latency\">Wakeup latency</a>\
             <a href=\"#locks\">Locks</a><a href=\"#problems\">Deadlocks &amp; warnings</a></nav>\n\
             </header>\n",
        );
        self.config();
        self.summary();
        self.timeline();
        self.latency();
        self.locks();
        self.problems();
        w!(
            self.out,
            "<footer>Generated by proxysched {} from {}. Times are simulated; the same input \
             gives the same report.</footer>\n</main>\n</body>\n</html>\n",
            env!("CARGO_PKG_VERSION"),
            escape(self.source)
        );
        self.out
    }

    /// Shared SVG definitions: one hatch pattern per task (its colour in stripes), the arrow
    /// head of migrations.
    fn defs(&mut self) {
        // Only tasks that ran as proxies need a pattern.
        let mut used = BTreeSet::new();
        for r in self.runs {
            if let Some(d) = r.data {
                for cpu in 0..d.timeline.nr_cpus() {
                    for s in r.slices(cpu) {
                        if s.is_proxy() {
                            used.insert(s.curr.index());
                        }
                    }
                }
            }
        }
        self.out.push_str(
            "<svg class=\"defs\" width=\"0\" height=\"0\" aria-hidden=\"true\"><defs>\n\
             <pattern id=\"hatch-legend\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
             patternTransform=\"rotate(45)\"><rect width=\"3\" height=\"6\" fill=\"#fff\" \
             fill-opacity=\"0.7\"/></pattern>\n\
             <pattern id=\"wait\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" \
             patternTransform=\"rotate(-45)\"><rect width=\"5\" height=\"5\" fill=\"#fff5f4\"/>\
             <rect width=\"1.2\" height=\"5\" fill=\"#d9534f\"/></pattern>\n\
             <marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" \
             markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" \
             fill=\"#333\"/></marker>\n",
        );
        for i in used {
            w!(
                self.out,
                "<pattern id=\"hatch-{i}\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
                 patternTransform=\"rotate(45)\"><rect width=\"3\" height=\"6\" fill=\"{}\"/>\
                 </pattern>\n",
                task_colour(i)
            );
        }
        self.out.push_str("</defs></svg>\n");
    }

    // ----- configuration ------------------------------------------------------------------

    fn config(&mut self) {
        let first = self.runs[0].doc;
        let c = &first.config;
        let mut rows: Vec<(&str, String)> = vec![("workload", escape(self.source))];
        rows.push(("CPUs", c.cpus.to_string()));
        if self.compare {
            let modes: Vec<&str> = self.runs.iter().map(|r| r.mode).collect();
            rows.push(("inheritance modes", escape(&modes.join(", "))));
        } else {
            rows.push(("inheritance", escape(c.inherit)));
        }
        rows.push(("proxy level", escape(c.proxy_level)));
        rows.push(("HZ", c.hz.to_string()));
        rows.push(("seed", c.seed.to_string()));
        rows.push((
            "duration",
            c.duration_ns
                .map_or("until every task is done".to_string(), dur),
        ));
        rows.push(("context-switch cost", dur(c.switch_cost_ns)));
        rows.push(("migration cost", dur(c.migration_cost_ns)));
        rows.push(("IPI latency", dur(c.ipi_latency_ns)));
        rows.push((
            "RT throttling",
            if c.rt_throttling {
                "on (950 ms per 1 s)".to_string()
            } else {
                "off".to_string()
            },
        ));
        rows.push((
            "DL budget enforcement",
            if c.hrtick_dl {
                "exact (hrtick)".to_string()
            } else {
                "at the tick".to_string()
            },
        ));
        let mut items: Vec<(String, String)> =
            rows.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        for r in self.runs {
            let label = if self.compare {
                format!("simulated ({})", escape(r.mode))
            } else {
                "simulated".to_string()
            };
            items.push((
                label,
                format!("{} in {} events", dur(r.doc.end_ns), r.doc.events),
            ));
        }
        self.out
            .push_str("<section id=\"config\">\n<h2>Configuration</h2>\n<dl class=\"kv\">\n");
        for (k, v) in items {
            w!(self.out, "<div><dt>{k}</dt><dd>{v}</dd></div>\n");
        }
        self.out.push_str("</dl>\n</section>\n");
    }

    // ----- summary tables -----------------------------------------------------------------

    fn swatch(i: usize) -> String {
        format!(
            "<span class=\"sw\" style=\"background:{}\"></span>",
            task_colour(i)
        )
    }

    fn summary(&mut self) {
        self.out
            .push_str("<section id=\"summary\">\n<h2>Summary</h2>\n");
        if self.compare {
            self.compare_modes_table();
            self.compare_tasks_table();
            for r in self.runs {
                w!(
                    self.out,
                    "<details><summary>All figures under <b>{}</b></summary>\n",
                    escape(r.mode)
                );
                Self::run_tables(&mut self.out, r.doc);
                self.out.push_str("</details>\n");
            }
        } else {
            Self::run_tables(&mut self.out, self.runs[0].doc);
        }
        self.out.push_str("</section>\n");
    }

    fn table(out: &mut String, caption: &str, header: &[&str], rows: &[Vec<String>]) {
        // Long tables scroll inside a box of their own, header row kept in view.
        let tall = if rows.len() > TALL_ROWS { " tall" } else { "" };
        w!(
            out,
            "<h3>{caption}</h3>\n<div class=\"scroll{tall}\"><table>\n<thead><tr>"
        );
        for (i, h) in header.iter().enumerate() {
            let class = if i == 0 { " class=\"l\"" } else { "" };
            w!(out, "<th{class}>{h}</th>");
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for r in rows {
            out.push_str("<tr>");
            for (i, c) in r.iter().enumerate() {
                let class = if i == 0 { " class=\"l\"" } else { "" };
                w!(out, "<td{class}>{c}</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table></div>\n");
    }

    fn run_tables(out: &mut String, m: &MetricsDoc) {
        let rows: Vec<Vec<String>> = m
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                vec![
                    format!("{}{}", Self::swatch(i), escape(&t.name)),
                    t.tid.to_string(),
                    escape(t.policy.trim_start_matches("SCHED_")),
                    t.prio.to_string(),
                    ms(t.run_ns),
                    ms(t.runnable_ns),
                    ms(t.sleep_ns),
                    ms(t.blocked_ns),
                    ms(t.donated_ns),
                    ms(t.proxied_ns),
                    t.wakeups.to_string(),
                    us(t.wakeup_latency_ns.p50),
                    us(t.wakeup_latency_ns.p90),
                    us(t.wakeup_latency_ns.p99),
                    us(t.wakeup_latency_ns.max),
                    t.activations.to_string(),
                    t.deadline_misses.to_string(),
                    t.migrations.to_string(),
                    t.proxy_migrations.to_string(),
                    t.preemptions.to_string(),
                    t.exit_ns.map_or("–".to_string(), ms),
                ]
            })
            .collect();
        Self::table(
            out,
            "Tasks",
            &[
                "task",
                "pid",
                "policy",
                "prio",
                "run ms",
                "runnable ms",
                "sleep ms",
                "blocked ms",
                "donated ms",
                "proxied ms",
                "wakeups",
                "lat p50 µs",
                "lat p90 µs",
                "lat p99 µs",
                "lat max µs",
                "activations",
                "dl misses",
                "migrations",
                "proxy migr.",
                "preemptions",
                "exit ms",
            ],
            &rows,
        );
        let rows: Vec<Vec<String>> = m
            .cpus
            .iter()
            .map(|c| {
                let total = (c.busy_ns + c.idle_ns).max(1);
                let permille = (c.busy_ns as u128 * 1000 / total as u128) as u64;
                vec![
                    format!("cpu{}", c.id),
                    ms(c.busy_ns),
                    ms(c.idle_ns),
                    format!(
                        "<span class=\"bar\"><span style=\"width:{}.{}%\"></span></span>{}.{}",
                        permille / 10,
                        permille % 10,
                        permille / 10,
                        permille % 10
                    ),
                    c.context_switches.to_string(),
                ]
            })
            .collect();
        Self::table(
            out,
            "CPUs",
            &["cpu", "busy ms", "idle ms", "utilisation %", "switches"],
            &rows,
        );
        if !m.mutexes.is_empty() {
            let rows: Vec<Vec<String>> = m
                .mutexes
                .iter()
                .map(|x| {
                    vec![
                        escape(&x.name),
                        x.acquisitions.to_string(),
                        x.contended.to_string(),
                        ms(x.wait_ns.p50),
                        ms(x.wait_ns.p99),
                        ms(x.wait_ns.max),
                        ms(x.hold_ns.p50),
                        ms(x.hold_ns.p99),
                        ms(x.hold_ns.max),
                    ]
                })
                .collect();
            Self::table(
                out,
                "Mutexes",
                &[
                    "mutex",
                    "acquisitions",
                    "contended",
                    "wait p50 ms",
                    "wait p99 ms",
                    "wait max ms",
                    "hold p50 ms",
                    "hold p99 ms",
                    "hold max ms",
                ],
                &rows,
            );
        }
    }

    /// One row per mode: run-wide figures.
    fn compare_modes_table(&mut self) {
        let rows: Vec<Vec<String>> = self
            .runs
            .iter()
            .map(|r| {
                let m = r.doc;
                let misses: u64 = m.tasks.iter().map(|t| t.deadline_misses).sum();
                let donated: u64 = m.tasks.iter().map(|t| t.donated_ns).sum();
                let acquisitions: u64 = m.mutexes.iter().map(|x| x.acquisitions).sum();
                let contended: u64 = m.mutexes.iter().map(|x| x.contended).sum();
                let worst = m.mutexes.iter().filter(|x| x.contended > 0).fold(
                    None,
                    |best: Option<&crate::metrics::MutexDoc>, x| match best {
                        Some(b) if b.wait_ns.max >= x.wait_ns.max => Some(b),
                        _ => Some(x),
                    },
                );
                vec![
                    format!(
                        "<span class=\"sw\" style=\"background:{}\"></span>{}",
                        mode_colour(r.mode, 0),
                        escape(r.mode)
                    ),
                    ms(m.end_ns),
                    m.events.to_string(),
                    misses.to_string(),
                    ms(donated),
                    acquisitions.to_string(),
                    contended.to_string(),
                    worst.map_or("–".to_string(), |x| {
                        format!("{} ({})", ms(x.wait_ns.max), escape(&x.name))
                    }),
                    m.deadlocks.len().to_string(),
                    m.warnings.len().to_string(),
                ]
            })
            .collect();
        Self::table(
            &mut self.out,
            "Modes",
            &[
                "mode",
                "simulated ms",
                "events",
                "dl misses",
                "donated ms",
                "acquisitions",
                "contended",
                "worst wait ms",
                "deadlocks",
                "warnings",
            ],
            &rows,
        );
    }

    /// One row per task, each figure with one column per mode side by side; the lowest of a
    /// figure where lower is better is in bold when the modes differ.
    fn compare_tasks_table(&mut self) {
        type Get = fn(&crate::metrics::TaskDoc) -> u64;
        #[derive(PartialEq)]
        enum Unit {
            Ms,
            Us,
            Count,
        }
        let metrics: [(&str, Get, bool, Unit); 6] = [
            ("blocked ms", |t| t.blocked_ns, true, Unit::Ms),
            ("lat p99 µs", |t| t.wakeup_latency_ns.p99, true, Unit::Us),
            ("lat max µs", |t| t.wakeup_latency_ns.max, true, Unit::Us),
            ("dl misses", |t| t.deadline_misses, true, Unit::Count),
            ("donated ms", |t| t.donated_ns, false, Unit::Ms),
            ("proxied ms", |t| t.proxied_ns, false, Unit::Ms),
        ];
        let first = self.runs[0].doc;
        let n = self.runs.len();
        let out = &mut self.out;
        w!(
            out,
            "<h3>Tasks, mode by mode</h3>\n<div class=\"scroll{}\"><table class=\"cmp\">\n\
             <thead><tr><th class=\"l\" rowspan=\"2\">task</th>",
            if first.tasks.len() > TALL_ROWS / 2 {
                " tall"
            } else {
                ""
            }
        );
        for (name, ..) in &metrics {
            w!(out, "<th class=\"grp\" colspan=\"{n}\">{name}</th>");
        }
        out.push_str("</tr>\n<tr>");
        for _ in &metrics {
            for (k, r) in self.runs.iter().enumerate() {
                let class = if k == 0 { " class=\"grp\"" } else { "" };
                w!(out, "<th{class}>{}</th>", escape(r.mode));
            }
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for (i, t) in first.tasks.iter().enumerate() {
            w!(
                out,
                "<tr><td class=\"l\">{}{}</td>",
                Self::swatch(i),
                escape(&t.name)
            );
            for (_, get, lower_better, unit) in &metrics {
                let vals: Vec<Option<u64>> = self
                    .runs
                    .iter()
                    .map(|r| r.doc.tasks.get(i).map(get))
                    .collect();
                let present: Vec<u64> = vals.iter().flatten().copied().collect();
                let best = present.iter().min().copied();
                let differ = present.iter().any(|&v| Some(v) != best);
                for (k, v) in vals.iter().enumerate() {
                    let mut class = Vec::new();
                    if k == 0 {
                        class.push("grp");
                    }
                    if *lower_better && differ && *v == best {
                        class.push("best");
                    }
                    let class = if class.is_empty() {
                        String::new()
                    } else {
                        format!(" class=\"{}\"", class.join(" "))
                    };
                    let text = match (v, unit) {
                        (None, _) => "–".to_string(),
                        (Some(v), Unit::Ms) => ms(*v),
                        (Some(v), Unit::Us) => us(*v),
                        (Some(v), Unit::Count) => v.to_string(),
                    };
                    w!(out, "<td{class}>{text}</td>");
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table></div>\n");
    }

    // ----- timeline -----------------------------------------------------------------------

    /// The common time range of the runs' captures.
    fn common_range(&self) -> (u64, u64) {
        let start = self.runs.iter().map(|r| r.range().0).min().unwrap_or(0);
        let end = self.runs.iter().map(|r| r.range().1).max().unwrap_or(0);
        (start, end.max(start + 1))
    }

    /// The detail window: about [`DETAIL_SLICES`] slices on the busiest CPU of any run,
    /// starting a few slices before the first proxy execution (else the first contended lock,
    /// else the start of the capture).
    fn detail_window(&self) -> (u64, u64) {
        const LEAD: usize = 6;
        let (r0, r1) = self.common_range();
        let data = || self.runs.iter().filter_map(|r| r.data.map(|d| (r, d)));
        let interest = data()
            .filter_map(|(_, d)| d.timeline.first_proxy_ns())
            .min()
            .or_else(|| {
                data()
                    .filter_map(|(_, d)| d.timeline.first_contend_ns())
                    .min()
            })
            .unwrap_or(r0)
            .clamp(r0, r1);
        let mut start = r0;
        for (r, d) in data() {
            for cpu in 0..d.timeline.nr_cpus() {
                let s = r.slices(cpu);
                let i = s.partition_point(|x| x.end_ns <= interest);
                if i >= LEAD {
                    start = start.max(s[i - LEAD].start_ns.min(interest));
                }
            }
        }
        let mut end = r1;
        for (r, d) in data() {
            for cpu in 0..d.timeline.nr_cpus() {
                let s = r.slices(cpu);
                let i = s.partition_point(|x| x.end_ns <= start);
                if let Some(x) = s.get(i + DETAIL_SLICES) {
                    end = end.min(x.start_ns.max(start + 1));
                }
            }
        }
        // Not far past the last thing that happens (a deadlocked run idles until its end).
        let mut last = start;
        for (r, d) in data() {
            for cpu in 0..d.timeline.nr_cpus() {
                if let Some(x) = r.slices(cpu).last() {
                    last = last.max(x.end_ns);
                }
            }
            for l in r.lock_spans() {
                last = last.max(l.start_ns);
            }
            for m in d.timeline.marks() {
                last = last.max(m.at_ns);
            }
        }
        if last > start {
            end = end.min(last + (last - start) / 20 + 1);
        }
        (start, end.max(start + 1))
    }

    fn timeline(&mut self) {
        self.out
            .push_str("<section id=\"timeline\">\n<h2>Timeline</h2>\n");
        if self.runs.iter().all(|r| r.data.is_none()) {
            self.out
                .push_str("<p>No timeline was recorded.</p>\n</section>\n");
            return;
        }
        let (d0, d1) = self.detail_window();
        let (r0, r1) = self.common_range();
        w!(
            self.out,
            "<p>The detail view shows {} to {} ({}), {}; scroll sideways if it is wider than \
             the page. Hover over a slice for its task and times. The overview below it covers \
             the whole recorded range, {} to {}.</p>\n",
            dur(d0),
            dur(d1),
            dur(d1 - d0),
            if self.runs.iter().any(|r| r
                .data
                .is_some_and(|d| d.timeline.first_proxy_ns().is_some()))
            {
                "starting just before the first proxy execution"
            } else if self.runs.iter().any(|r| r
                .data
                .is_some_and(|d| d.timeline.first_contend_ns().is_some()))
            {
                "starting just before the first contended lock"
            } else {
                "from the start"
            },
            dur(r0),
            dur(r1)
        );
        for r in self.runs {
            if let Some(d) = r.data {
                if let Some(t) = d.timeline.truncated_at() {
                    let l = d.timeline.limits();
                    w!(
                        self.out,
                        "<p class=\"note\">Timeline{} truncated: the recorder keeps at most {} \
                         slices, {} lock spans and {} marks, so it stopped at {} of {}; the \
                         tables and CDFs cover the whole run.</p>\n",
                        if self.compare {
                            format!(" of <b>{}</b>", escape(r.mode))
                        } else {
                            String::new()
                        },
                        l.max_slices,
                        l.max_lock_spans,
                        l.max_marks,
                        dur(t),
                        dur(r.doc.end_ns)
                    );
                }
            }
        }
        self.legend(d0, d1);
        let scale = Scale {
            t0: d0,
            t1: d1,
            x0: GUTTER,
            w: DETAIL_WIDTH,
        };
        for r in self.runs {
            if self.compare {
                w!(
                    self.out,
                    "<h3><span class=\"sw\" style=\"background:{}\"></span>{}</h3>\n",
                    mode_colour(r.mode, 0),
                    escape(r.mode)
                );
            }
            detail_svg(&mut self.out, r, scale);
        }
        self.out.push_str("<h3>Overview</h3>\n");
        let oscale = Scale {
            t0: r0,
            t1: r1,
            x0: GUTTER,
            w: OVERVIEW_WIDTH,
        };
        for r in self.runs {
            overview_svg(&mut self.out, r, oscale, (d0, d1), self.compare);
        }
        self.out.push_str("</section>\n");
    }

    /// Swatches of the tasks that appear, the proxy-execution pairs in the detail window, and
    /// the other symbols.
    fn legend(&mut self, d0: u64, d1: u64) {
        let first = &self.runs[0];
        let mut pairs = BTreeSet::new();
        // Tasks that take part in locking or proxy execution in the window come first.
        let mut involved = BTreeSet::new();
        for r in self.runs {
            if let Some(d) = r.data {
                for cpu in 0..d.timeline.nr_cpus() {
                    for s in r.slices(cpu) {
                        if s.is_proxy() && s.end_ns > d0 && s.start_ns < d1 {
                            pairs.insert((s.curr, s.donor));
                            involved.insert(s.curr.index());
                            involved.insert(s.donor.index());
                        }
                    }
                }
                for l in r.lock_spans() {
                    if l.end_ns > d0 && l.start_ns < d1 {
                        involved.insert(l.task.index());
                    }
                }
            }
        }
        const MAX_LEGEND_TASKS: usize = 40;
        let n = first.doc.tasks.len();
        let order: Vec<usize> = involved
            .iter()
            .copied()
            .filter(|&i| i < n)
            .chain((0..n).filter(|i| !involved.contains(i)))
            .take(MAX_LEGEND_TASKS)
            .collect();
        self.out.push_str("<div class=\"legend\">");
        for &i in &order {
            w!(
                self.out,
                "<span>{}{}</span>",
                Self::swatch(i),
                escape(&first.doc.tasks[i].name)
            );
        }
        if n > order.len() {
            w!(
                self.out,
                "<span>… and {} more tasks</span>",
                n - order.len()
            );
        }
        self.out.push_str("</div>\n<div class=\"legend\">");
        for &(curr, donor) in pairs.iter().take(8) {
            w!(
                self.out,
                "<span><svg width=\"34\" height=\"14\"><rect width=\"34\" height=\"14\" \
                 fill=\"{}\"/><rect width=\"34\" height=\"14\" fill=\"url(#hatch-{})\"/></svg>\
                 <b>{}</b> running as proxy on <b>{}</b>’s scheduling context</span>",
                task_colour(donor.index()),
                curr.index(),
                escape(&first.task_name(curr)),
                escape(&first.task_name(donor))
            );
        }
        if pairs.is_empty() {
            self.out.push_str(
                "<span><svg width=\"34\" height=\"14\"><rect width=\"34\" height=\"14\" \
                 fill=\"#888\"/><rect width=\"34\" height=\"14\" fill=\"url(#hatch-legend)\"/>\
                 </svg>proxy execution: the donor’s colour, hatched with the owner’s (none in \
                 this window)</span>",
            );
        }
        self.out.push_str(
            "<span><svg width=\"34\" height=\"14\"><rect width=\"34\" height=\"14\" \
             class=\"wait\"/></svg>blocked on a mutex</span>\
             <span><svg width=\"34\" height=\"14\"><rect y=\"10\" width=\"34\" height=\"4\" \
             class=\"hold\"/></svg>holding a mutex</span>\
             <span><svg width=\"14\" height=\"14\"><path d=\"M2,2 L12,2 L7,11 z\" \
             class=\"miss\"/></svg>deadline miss</span>\
             <span><svg width=\"34\" height=\"14\"><line x1=\"2\" y1=\"7\" x2=\"32\" y2=\"7\" \
             class=\"mig\" marker-end=\"url(#arrow)\"/></svg>proxy migration of a donor</span>\
             </div>\n",
        );
    }

    // ----- CDFs ---------------------------------------------------------------------------

    fn latency(&mut self) {
        self.out.push_str(
            "<section id=\"latency\">\n<h2>Wakeup latency</h2>\n<p>Cumulative distribution of \
             each task’s wakeup latency (<code>sched_waking</code> to running): a logarithmic \
             time axis shared by all charts (latencies of 0 at its left edge) and a percentile \
             axis stretched towards the tail.</p>\n",
        );
        let nr_tasks = self.runs[0].doc.tasks.len();
        let dist = |r: &Run<'a>, i: usize| -> Option<&'a Distribution> {
            r.data.and_then(|d| d.metrics.wakeup_latency(i))
        };
        let with: Vec<usize> = (0..nr_tasks)
            .filter(|&i| {
                self.runs
                    .iter()
                    .any(|r| dist(r, i).is_some_and(|d| d.count() > 0))
            })
            .collect();
        if with.is_empty() {
            self.out.push_str("<p>No task woke up.</p>\n</section>\n");
            return;
        }
        let all: Vec<&Distribution> = with
            .iter()
            .flat_map(|&i| self.runs.iter().filter_map(move |r| dist(r, i)))
            .collect();
        let axis = LogAxis::covering(&all);
        self.out.push_str("<div class=\"charts\">\n");
        for &i in with.iter().take(MAX_LATENCY_CHARTS) {
            let name = self.runs[0].task_name(TaskId(i as u32));
            let series: Vec<Series> = self
                .runs
                .iter()
                .enumerate()
                .filter_map(|(k, r)| {
                    dist(r, i).map(|d| Series {
                        label: if self.compare {
                            r.mode.to_string()
                        } else {
                            name.clone()
                        },
                        colour: if self.compare {
                            mode_colour(r.mode, k)
                        } else {
                            task_colour(i)
                        },
                        dist: d,
                        unit: "wakeups",
                    })
                })
                .collect();
            cdf_chart(&mut self.out, &name, Some(i), &series, &axis);
        }
        self.out.push_str("</div>\n");
        if with.len() > MAX_LATENCY_CHARTS {
            w!(
                self.out,
                "<p class=\"note\">{} more tasks with wakeups are not charted.</p>\n",
                with.len() - MAX_LATENCY_CHARTS
            );
        }
        let without: Vec<String> = (0..nr_tasks)
            .filter(|i| !with.contains(i))
            .map(|i| escape(&self.runs[0].task_name(TaskId(i as u32))))
            .collect();
        if !without.is_empty() {
            w!(
                self.out,
                "<p class=\"note\">Never woken up: {}.</p>\n",
                without.join(", ")
            );
        }
        self.out.push_str("</section>\n");
    }

    fn locks(&mut self) {
        self.out
            .push_str("<section id=\"locks\">\n<h2>Locks</h2>\n");
        let ids: BTreeSet<u32> = self
            .runs
            .iter()
            .filter_map(|r| r.data)
            .flat_map(|d| d.metrics.mutexes.keys().copied())
            .collect();
        if ids.is_empty() {
            self.out
                .push_str("<p>The workload has no mutexes.</p>\n</section>\n");
            return;
        }
        self.out.push_str(
            "<p>Cumulative distributions of each mutex’s completed waits (contended to \
             acquired) and holds (acquired to released), scaled like the wakeup latencies; \
             wait and hold charts of a mutex share their time axis.</p>\n\
             <div class=\"charts\">\n",
        );
        let mut charted = 0;
        let mut unused = Vec::new();
        for &m in &ids {
            let stats = |r: &Run<'a>| r.data.and_then(|d| d.metrics.mutexes.get(&m));
            if self.runs.iter().all(|r| untouched(stats(r))) {
                unused.push(escape(&self.runs[0].mutex_name(m)));
                continue;
            }
            if charted >= MAX_MUTEX_CHARTS {
                continue;
            }
            charted += 1;
            let name = self
                .runs
                .iter()
                .find_map(|r| stats(r).map(|s| s.name.clone()))
                .unwrap_or_else(|| format!("mutex {m}"));
            let waits: Vec<&Distribution> = self
                .runs
                .iter()
                .filter_map(|r| stats(r).map(|s| &s.wait))
                .collect();
            let holds: Vec<&Distribution> = self
                .runs
                .iter()
                .filter_map(|r| stats(r).map(|s| &s.hold))
                .collect();
            let axis = LogAxis::covering(&waits.iter().chain(&holds).copied().collect::<Vec<_>>());
            for (what, pick) in [
                (
                    "wait",
                    (|s: &'a crate::metrics::MutexStats| &s.wait) as fn(_) -> _,
                ),
                ("hold", |s: &'a crate::metrics::MutexStats| &s.hold),
            ] {
                let series: Vec<Series> = self
                    .runs
                    .iter()
                    .enumerate()
                    .filter_map(|(k, r)| {
                        stats(r).map(|s| Series {
                            label: r.mode.to_string(),
                            colour: mode_colour(r.mode, k),
                            dist: pick(s),
                            unit: if what == "wait" { "waits" } else { "holds" },
                        })
                    })
                    .collect();
                cdf_chart(
                    &mut self.out,
                    &format!("{name} — {what}"),
                    None,
                    &series,
                    &axis,
                );
            }
        }
        self.out.push_str("</div>\n");
        let more = ids.len() - unused.len() - charted;
        if more > 0 {
            w!(
                self.out,
                "<p class=\"note\">{more} more mutexes are not charted.</p>\n"
            );
        }
        if !unused.is_empty() {
            w!(
                self.out,
                "<p class=\"note\">Never taken: {}.</p>\n",
                unused.join(", ")
            );
        }
        self.out.push_str("</section>\n");
    }

    fn problems(&mut self) {
        self.out
            .push_str("<section id=\"problems\">\n<h2>Deadlocks and warnings</h2>\n");
        let mut any = false;
        for r in self.runs {
            let prefix = if self.compare {
                format!("<b>{}</b>: ", escape(r.mode))
            } else {
                String::new()
            };
            for d in &r.doc.deadlocks {
                any = true;
                w!(
                    self.out,
                    "<p class=\"bad\">{prefix}deadlock at {}: tasks {}; mutexes {}</p>\n",
                    dur(d.at_ns),
                    escape(&d.tasks.join(", ")),
                    escape(&d.mutexes.join(", "))
                );
            }
        }
        // Warnings every run has are shown once; the others name their mode.
        let mut seen: Vec<&str> = Vec::new();
        for r in self.runs {
            for wn in &r.doc.warnings {
                if seen.contains(&wn.as_str()) {
                    continue;
                }
                seen.push(wn);
                any = true;
                let everywhere = self.runs.iter().all(|x| x.doc.warnings.contains(wn));
                let prefix = if self.compare && !everywhere {
                    format!("<b>{}</b>: ", escape(r.mode))
                } else {
                    String::new()
                };
                w!(
                    self.out,
                    "<p class=\"warn\">{prefix}warning: {}</p>\n",
                    escape(wn)
                );
            }
        }
        if !any {
            self.out.push_str("<p>No deadlocks, no warnings.</p>\n");
        }
        self.out.push_str("</section>\n");
    }
}

/// A mutex the run never took (or does not know).
fn untouched(s: Option<&crate::metrics::MutexStats>) -> bool {
    s.is_none_or(|s| s.acquisitions == 0 && s.contended == 0)
}

// ----- timeline SVGs ------------------------------------------------------------------------

/// Left margin of timelines, for lane labels.
const GUTTER: u64 = 130;
const DETAIL_WIDTH: u64 = 1100;
const OVERVIEW_WIDTH: u64 = 1100;
const AXIS_H: u64 = 22;
const CPU_LANE: u64 = 22;
const TASK_LANE: u64 = 18;
const LANE_GAP: u64 = 4;

/// Vertical grid lines and tick labels at the top of a timeline of height `h`.
fn time_axis(out: &mut String, scale: Scale, h: u64) {
    let span = scale.t1 - scale.t0;
    let step = nice_step(span, 10);
    let (unit, name, dec) = tick_unit(span, step);
    let first = scale.t0.div_ceil(step) * step;
    w!(
        out,
        "<text x=\"{}\" y=\"14\" class=\"ax\" text-anchor=\"end\">time ({name})</text>\n",
        scale.x0 - 8
    );
    let mut t = first;
    while t <= scale.t1 {
        let x = px(scale.x10(t));
        w!(
            out,
            "<line x1=\"{x}\" y1=\"{AXIS_H}\" x2=\"{x}\" y2=\"{h}\" class=\"grid\"/>\
             <text x=\"{x}\" y=\"14\" class=\"ax\" text-anchor=\"middle\">{}</text>\n",
            fmt_tick(t, unit, dec)
        );
        t += step;
    }
}

/// One slice as a rectangle in `[y, y + h)`: the curr's colour, or under proxy execution the
/// donor's colour hatched with curr's, with a tooltip and, when it fits, curr's name.
fn slice_rect(out: &mut String, r: &Run, s: &Slice, scale: Scale, y: u64, h: u64, label: bool) {
    let (x, wd) = scale.span(s.start_ns, s.end_ns);
    let curr = r.task_name(s.curr);
    let tip = if s.is_proxy() {
        format!(
            "{} running as proxy for {} (on its scheduling context), {} – {} ({})",
            curr,
            r.task_name(s.donor),
            dur(s.start_ns),
            dur(s.end_ns),
            dur(s.end_ns - s.start_ns)
        )
    } else {
        format!(
            "{}, {} – {} ({})",
            curr,
            dur(s.start_ns),
            dur(s.end_ns),
            dur(s.end_ns - s.start_ns)
        )
    };
    w!(out, "<g><title>{}</title>", escape(&tip));
    if s.is_proxy() {
        w!(
            out,
            "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{h}\" fill=\"{}\"/>\
             <rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{h}\" fill=\"url(#hatch-{})\" \
             class=\"proxy\"/>",
            px(x),
            px(wd),
            task_colour(s.donor.index()),
            px(x),
            px(wd),
            s.curr.index()
        );
    } else {
        w!(
            out,
            "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{h}\" fill=\"{}\"/>",
            px(x),
            px(wd),
            task_colour(s.curr.index())
        );
    }
    // About 6 px per character at the label size.
    let chars = (wd / 10).saturating_sub(4) / 6;
    if label && (chars >= 6 || chars as usize >= curr.chars().count()) {
        w!(
            out,
            "<text x=\"{}\" y=\"{}\" class=\"lbl\">{}</text>",
            px(x + 30),
            y + h / 2 + 4,
            escape(&shorten(&curr, chars as usize))
        );
    }
    out.push_str("</g>\n");
}

fn lane_label(out: &mut String, y: u64, h: u64, text: &str, tip: &str) {
    w!(
        out,
        "<text x=\"{}\" y=\"{}\" class=\"lane\" text-anchor=\"end\"><title>{}</title>{}</text>\n",
        GUTTER - 8,
        y + h / 2 + 4,
        escape(tip),
        escape(&shorten(text, 18))
    );
}

fn detail_svg(out: &mut String, r: &Run, scale: Scale) {
    let Some(d) = r.data else {
        out.push_str("<p>No timeline was recorded for this run.</p>\n");
        return;
    };
    let (t0, t1) = (scale.t0, scale.t1);
    let nr_cpus = d.timeline.nr_cpus().max(r.doc.cpus.len());
    let shown_cpus = nr_cpus.min(MAX_DETAIL_CPUS);
    let in_window = |a: u64, b: u64| b > t0 && a < t1;
    let clip = |s: &Slice| Slice {
        start_ns: s.start_ns.max(t0),
        end_ns: s.end_ns.min(t1),
        ..*s
    };
    let slices: Vec<Vec<Slice>> = (0..nr_cpus)
        .map(|c| {
            r.slices(c)
                .iter()
                .filter(|s| in_window(s.start_ns, s.end_ns))
                .map(clip)
                .collect()
        })
        .collect();
    let spans: Vec<LockSpan> = r
        .lock_spans()
        .into_iter()
        .filter(|l| in_window(l.start_ns, l.end_ns))
        .map(|l| LockSpan {
            start_ns: l.start_ns.max(t0),
            end_ns: l.end_ns.min(t1),
            ..l
        })
        .collect();
    let marks: Vec<_> = d
        .timeline
        .marks()
        .iter()
        .filter(|m| m.at_ns >= t0 && m.at_ns <= t1)
        .collect();

    // Task lanes: every task if few, else those involved in locks or proxy execution.
    let nr_tasks = r.doc.tasks.len();
    let mut involved = BTreeSet::new();
    for l in &spans {
        involved.insert(l.task.index());
    }
    for s in slices.iter().flatten().filter(|s| s.is_proxy()) {
        involved.insert(s.curr.index());
        involved.insert(s.donor.index());
    }
    for m in &marks {
        involved.insert(m.task.index());
    }
    let lanes: Vec<usize> = if nr_tasks <= MAX_TASK_LANES {
        (0..nr_tasks).collect()
    } else {
        involved.iter().copied().take(MAX_TASK_LANES).collect()
    };

    let cpu_y = |c: usize| AXIS_H + 6 + c as u64 * (CPU_LANE + LANE_GAP);
    let tasks_top = cpu_y(shown_cpus) + 14;
    let task_y = |k: usize| tasks_top + k as u64 * (TASK_LANE + LANE_GAP);
    let height = task_y(lanes.len()) + 4;
    let width = scale.x0 + scale.w + 12;
    w!(
        out,
        "<div class=\"scroll tl\"><svg class=\"timeline\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"per-CPU timeline, {}\">\n",
        escape(r.mode)
    );
    time_axis(out, scale, height);

    for (c, cs) in slices.iter().enumerate().take(shown_cpus) {
        let y = cpu_y(c);
        w!(
            out,
            "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{CPU_LANE}\" class=\"lanebg\"/>\n",
            scale.x0,
            scale.w
        );
        lane_label(out, y, CPU_LANE, &format!("cpu{c}"), &format!("CPU {c}"));
        for s in cs {
            slice_rect(out, r, s, scale, y, CPU_LANE, true);
        }
    }
    // Proxy migrations: an arrow from the donor's old CPU lane to its new one.
    for m in &marks {
        if let MarkKind::ProxyMigrate { owner, from, to } = m.kind {
            let (from, to) = (from as usize, to as usize);
            if from < shown_cpus && to < shown_cpus {
                let x = px(scale.x10(m.at_ns));
                let (y1, y2) = (cpu_y(from) + CPU_LANE / 2, cpu_y(to) + CPU_LANE / 2);
                w!(
                    out,
                    "<line x1=\"{x}\" y1=\"{y1}\" x2=\"{x}\" y2=\"{y2}\" class=\"mig\" \
                     marker-end=\"url(#arrow)\"><title>{}</title></line>\n",
                    escape(&format!(
                        "{} migrated from cpu{from} to cpu{to}, the CPU of its lock owner {}, \
                         at {}",
                        r.task_name(m.task),
                        r.task_name(owner),
                        dur(m.at_ns)
                    ))
                );
            }
        }
    }
    if nr_cpus > shown_cpus {
        w!(
            out,
            "<text x=\"{}\" y=\"{}\" class=\"ax\">… {} more CPUs not drawn</text>\n",
            scale.x0,
            cpu_y(shown_cpus) + 10,
            nr_cpus - shown_cpus
        );
    }

    // Task lanes.
    let lane_of = |t: TaskId| lanes.iter().position(|&i| i == t.index());
    for (k, &i) in lanes.iter().enumerate() {
        let y = task_y(k);
        w!(
            out,
            "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{TASK_LANE}\" class=\"lanebg\"/>\n",
            scale.x0,
            scale.w
        );
        let name = r.task_name(TaskId(i as u32));
        lane_label(out, y, TASK_LANE, &name, &name);
    }
    for l in spans.iter().filter(|l| l.kind == LockSpanKind::Wait) {
        let Some(k) = lane_of(l.task) else { continue };
        let (x, wd) = scale.span(l.start_ns, l.end_ns);
        let m = r.mutex_name(l.mutex);
        w!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{TASK_LANE}\" class=\"wait\">\
             <title>{}</title></rect>\n",
            px(x),
            task_y(k),
            px(wd),
            escape(&format!(
                "{} blocked on {m}, {} – {} ({})",
                r.task_name(l.task),
                dur(l.start_ns),
                dur(l.end_ns),
                dur(l.end_ns - l.start_ns)
            ))
        );
    }
    for s in slices.iter().flatten() {
        if let Some(k) = lane_of(s.curr) {
            slice_rect(out, r, s, scale, task_y(k), TASK_LANE, false);
        }
        // The donor's lane shows its context lent out: a band in the middle.
        if s.is_proxy() {
            if let Some(k) = lane_of(s.donor) {
                slice_rect(out, r, s, scale, task_y(k) + 5, TASK_LANE - 10, false);
            }
        }
    }
    for l in spans.iter().filter(|l| l.kind == LockSpanKind::Hold) {
        let Some(k) = lane_of(l.task) else { continue };
        let (x, wd) = scale.span(l.start_ns, l.end_ns);
        w!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"4\" class=\"hold\">\
             <title>{}</title></rect>\n",
            px(x),
            task_y(k) + TASK_LANE - 4,
            px(wd),
            escape(&format!(
                "{} holds {}, {} – {} ({})",
                r.task_name(l.task),
                r.mutex_name(l.mutex),
                dur(l.start_ns),
                dur(l.end_ns),
                dur(l.end_ns - l.start_ns)
            ))
        );
    }
    for m in &marks {
        let Some(k) = lane_of(m.task) else { continue };
        let x = scale.x10(m.at_ns);
        let y = task_y(k);
        let who = r.task_name(m.task);
        match m.kind {
            MarkKind::DeadlineMiss => {
                w!(
                    out,
                    "<path d=\"M{},{y} L{},{y} L{},{}z\" class=\"miss\"><title>{}</title></path>\n",
                    px(x.saturating_sub(50)),
                    px(x + 50),
                    px(x),
                    y + 9,
                    escape(&format!("{who} missed a deadline at {}", dur(m.at_ns)))
                );
            }
            MarkKind::Deadlock => {
                w!(
                    out,
                    "<text x=\"{}\" y=\"{}\" class=\"dead\" text-anchor=\"middle\">✕<title>{}\
                     </title></text>\n",
                    px(x),
                    y + TASK_LANE - 4,
                    escape(&format!("{who} deadlocked at {}", dur(m.at_ns)))
                );
            }
            MarkKind::ProxyMigrate { .. } | MarkKind::ReturnMigrate { .. } => {}
        }
    }
    out.push_str("</svg></div>\n");
    if nr_tasks > lanes.len() {
        w!(
            out,
            "<p class=\"note\">{} of {} tasks have a lane (those that take part in locking or \
             proxy execution in this window).</p>\n",
            lanes.len(),
            nr_tasks
        );
    }
}

/// The whole recorded range, one column per pixel: the task that ran longest in it (opacity
/// by how busy the CPU was), and a strip above marking columns with proxy execution.
fn overview_svg(out: &mut String, r: &Run, scale: Scale, detail: (u64, u64), compare: bool) {
    let Some(d) = r.data else {
        return;
    };
    const LANE: u64 = 10;
    const STRIP: u64 = 4;
    const PITCH: u64 = LANE + STRIP + 4;
    let nr_cpus = d.timeline.nr_cpus().max(r.doc.cpus.len());
    let shown = nr_cpus.min(MAX_OVERVIEW_CPUS);
    let top = AXIS_H + 4;
    let height = top + shown as u64 * PITCH + 4;
    let width = scale.x0 + scale.w + 12;
    if compare {
        w!(out, "<h4>{}</h4>\n", escape(r.mode));
    }
    w!(
        out,
        "<div class=\"scroll\"><svg class=\"timeline\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"timeline overview, {}\">\n",
        escape(r.mode)
    );
    time_axis(out, scale, height);
    let buckets = scale.w as usize;
    let span = (scale.t1 - scale.t0).max(1) as u128;
    let bucket_of = |t: u64| -> usize {
        ((t.clamp(scale.t0, scale.t1) - scale.t0) as u128 * buckets as u128 / span) as usize
    };
    let bucket_start = |b: usize| scale.t0 + (b as u128 * span / buckets as u128) as u64;
    for c in 0..shown {
        let y = top + c as u64 * PITCH;
        w!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{LANE}\" class=\"lanebg\"/>\n",
            scale.x0,
            y + STRIP,
            scale.w
        );
        lane_label(
            out,
            y + STRIP,
            LANE,
            &format!("cpu{c}"),
            &format!("CPU {c}"),
        );
        // Per bucket: (dominant task, busy level 1..=4, any proxy).
        let mut cols: Vec<Option<(u32, u8, bool)>> = vec![None; buckets];
        let mut acc: Vec<(u32, u64)> = Vec::new();
        let (mut cur, mut busy, mut proxy) = (usize::MAX, 0u64, false);
        let mut flush = |cur: usize, acc: &mut Vec<(u32, u64)>, busy: u64, proxy: bool| {
            if cur >= buckets || acc.is_empty() {
                acc.clear();
                return;
            }
            let len = (bucket_start(cur + 1) - bucket_start(cur)).max(1);
            let best = acc
                .iter()
                .fold((u32::MAX, 0u64), |b, &(t, ns)| {
                    if ns > b.1 || (ns == b.1 && t < b.0) {
                        (t, ns)
                    } else {
                        b
                    }
                })
                .0;
            let level = ((busy * 4).div_ceil(len)).clamp(1, 4) as u8;
            cols[cur] = Some((best, level, proxy));
            acc.clear();
        };
        for s in r.slices(c) {
            if s.end_ns <= scale.t0 || s.start_ns >= scale.t1 {
                continue;
            }
            let (b0, b1) = (bucket_of(s.start_ns), bucket_of(s.end_ns.saturating_sub(1)));
            for b in b0..=b1.min(buckets - 1) {
                if b != cur {
                    flush(cur, &mut acc, busy, proxy);
                    cur = b;
                    busy = 0;
                    proxy = false;
                }
                let lo = s.start_ns.max(bucket_start(b));
                let hi = s.end_ns.min(bucket_start(b + 1));
                let ns = hi.saturating_sub(lo);
                busy += ns;
                proxy |= s.is_proxy();
                match acc.iter_mut().find(|(t, _)| *t == s.curr.0) {
                    Some(e) => e.1 += ns,
                    None => acc.push((s.curr.0, ns)),
                }
            }
        }
        flush(cur, &mut acc, busy, proxy);
        // Runs of equal columns become one rectangle, and the rectangles of one task and
        // shade one path, which keeps a many-CPU overview small.
        let mut paths: std::collections::BTreeMap<(u32, u8), String> = Default::default();
        let mut b = 0;
        while b < buckets {
            let Some((task, level, _)) = cols[b] else {
                b += 1;
                continue;
            };
            let mut e = b + 1;
            while e < buckets && cols[e].is_some_and(|(t, l, _)| t == task && l == level) {
                e += 1;
            }
            let d = paths.entry((task, level)).or_default();
            w!(
                d,
                "M{},{}h{}v{LANE}h-{}z",
                scale.x0 + b as u64,
                y + STRIP,
                e - b,
                e - b
            );
            b = e;
        }
        for ((task, level), d) in paths {
            w!(
                out,
                "<path d=\"{d}\" fill=\"{}\" fill-opacity=\"{}\"><title>{}</title></path>\n",
                task_colour(task as usize),
                ["0.4", "0.6", "0.8", "1"][level as usize - 1],
                escape(&r.task_name(TaskId(task)))
            );
        }
        let mut b = 0;
        while b < buckets {
            if !cols[b].is_some_and(|(.., p)| p) {
                b += 1;
                continue;
            }
            let mut e = b + 1;
            while e < buckets && cols[e].is_some_and(|(.., p)| p) {
                e += 1;
            }
            w!(
                out,
                "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{}\" class=\"pstrip\">\
                 <title>proxy execution around {}</title></rect>\n",
                scale.x0 + b as u64,
                e - b,
                STRIP - 1,
                dur(bucket_start(b))
            );
            b = e;
        }
    }
    // The detail window.
    let (x, wd) = scale.span(detail.0, detail.1);
    w!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"win\"><title>the detail \
         view</title></rect>\n",
        px(x),
        AXIS_H,
        px(wd.max(20)),
        height - AXIS_H - 2
    );
    if nr_cpus > shown {
        w!(
            out,
            "<text x=\"{}\" y=\"{}\" class=\"ax\">… {} more CPUs not drawn</text>\n",
            scale.x0,
            height - 2,
            nr_cpus - shown
        );
    }
    out.push_str("</svg></div>\n");
}

// ----- CDF charts ---------------------------------------------------------------------------

struct Series<'a> {
    label: String,
    colour: String,
    dist: &'a Distribution,
    unit: &'static str,
}

/// A logarithmic axis over whole decades `10^lo ..= 10^hi` nanoseconds.
struct LogAxis {
    lo: u32,
    hi: u32,
}

impl LogAxis {
    fn covering(dists: &[&Distribution]) -> LogAxis {
        let mut min_pos = u64::MAX;
        let mut max = 0;
        for d in dists {
            for (v, _) in d.cdf() {
                if v > 0 {
                    min_pos = min_pos.min(v);
                }
            }
            max = max.max(d.max());
        }
        if max == 0 {
            return LogAxis { lo: 2, hi: 4 };
        }
        let lo = min_pos.ilog10().clamp(1, 17);
        let mut hi = max.ilog10();
        if 10u64.pow(hi) < max {
            hi += 1;
        }
        LogAxis {
            lo,
            hi: hi.max(lo + 1),
        }
    }

    /// Position of `v` in `[0, w]` (values under `10^lo` at 0); callers print it with one
    /// decimal.
    fn x(&self, v: u64, w: u64) -> f64 {
        if v == 0 {
            return 0.0;
        }
        let l = (v as f64).log10().clamp(self.lo as f64, self.hi as f64);
        (l - self.lo as f64) / (self.hi - self.lo) as f64 * w as f64
    }
}

fn decade_label(e: u32) -> String {
    match e {
        0 => "1 ns".into(),
        1 => "10 ns".into(),
        2 => "100 ns".into(),
        3 => "1 µs".into(),
        4 => "10 µs".into(),
        5 => "100 µs".into(),
        6 => "1 ms".into(),
        7 => "10 ms".into(),
        8 => "100 ms".into(),
        9 => "1 s".into(),
        10 => "10 s".into(),
        11 => "100 s".into(),
        e => format!("1e{e} ns"),
    }
}

const CHART_W: u64 = 340;
const CHART_H: u64 = 180;
const CHART_L: u64 = 40;
const CHART_T: u64 = 10;
const CHART_B: u64 = 22;

fn cdf_chart(
    out: &mut String,
    title: &str,
    task: Option<usize>,
    series: &[Series],
    axis: &LogAxis,
) {
    let width = CHART_L + CHART_W + 24;
    let height = CHART_T + CHART_H + CHART_B;
    out.push_str("<figure class=\"chart\">\n<figcaption>");
    if let Some(i) = task {
        w!(
            out,
            "<span class=\"sw\" style=\"background:{}\"></span>",
            task_colour(i)
        );
    }
    w!(out, "{}</figcaption>\n", escape(title));
    if series.iter().all(|s| s.dist.count() == 0) {
        w!(
            out,
            "<p class=\"note\">No completed {} in any run.</p>\n</figure>\n",
            series.first().map_or("samples", |s| s.unit)
        );
        return;
    }
    w!(
        out,
        "<svg width=\"100%\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"CDF: {}\">\n",
        escape(title)
    );
    let (x0, y0) = (CHART_L, CHART_T);
    // Grid: decades on x; on y the percentiles, on a tail scale.
    for e in axis.lo..=axis.hi {
        let x = x0 as f64 + axis.x(10u64.pow(e), CHART_W);
        w!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{y0}\" x2=\"{x:.1}\" y2=\"{}\" class=\"grid\"/>\
             <text x=\"{x:.1}\" y=\"{}\" class=\"ax\" text-anchor=\"middle\">{}</text>\n",
            y0 + CHART_H,
            y0 + CHART_H + 15,
            decade_label(e)
        );
    }
    let y_of = |pm: u32| y0 as f64 + (1.0 - tail(pm)) * CHART_H as f64;
    for (pm, label) in [
        (0, "0%"),
        (500, "50%"),
        (900, "90%"),
        (990, "99%"),
        (999, "99.9%"),
    ] {
        let y = y_of(pm);
        w!(
            out,
            "<line x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" class=\"grid\"/>\
             <text x=\"{}\" y=\"{:.1}\" class=\"ax\" text-anchor=\"end\">{label}</text>\n",
            x0 + CHART_W,
            x0 - 4,
            y + 3.5
        );
    }
    // Earlier series are drawn wider, so lines that coincide still show every colour.
    for (k, s) in series.iter().enumerate() {
        let pts = s.dist.cdf();
        if pts.is_empty() {
            continue;
        }
        let stroke = match series.len() - k {
            1 => "2",
            2 => "3.5",
            _ => "5",
        };
        let mut d = String::new();
        let mut last_x = String::new();
        let mut last_y = format!("{:.1}", y_of(0));
        w!(d, "M{x0},{last_y}");
        for (v, pm) in pts {
            let x = format!("{:.1}", x0 as f64 + axis.x(v, CHART_W));
            let y = format!("{:.1}", y_of(pm));
            if x != last_x {
                w!(d, "H{x}");
                last_x = x;
            }
            if y != last_y {
                w!(d, "V{y}");
                last_y = y;
            }
        }
        w!(d, "H{}", x0 + CHART_W);
        w!(
            out,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{stroke}\" \
             stroke-linejoin=\"round\"><title>{}</title></path>\n",
            s.colour,
            escape(&s.label)
        );
    }
    w!(
        out,
        "</svg>\n<table class=\"keys\"><thead><tr><th class=\"l\"></th><th>p50</th><th>p99</th>\
         <th>max</th><th>{}</th></tr></thead><tbody>\n",
        series.first().map_or("samples", |s| s.unit)
    );
    for s in series {
        let d = s.dist;
        w!(
            out,
            "<tr><td class=\"l\"><span class=\"sw\" style=\"background:{}\"></span>{}</td>",
            s.colour,
            escape(&s.label)
        );
        if d.count() == 0 {
            out.push_str("<td>–</td><td>–</td><td>–</td><td>0</td></tr>\n");
        } else {
            w!(
                out,
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                dur(d.quantile(0.5)),
                dur(d.quantile(0.99)),
                dur(d.max()),
                d.count()
            );
        }
    }
    out.push_str("</tbody></table>\n</figure>\n");
}

/// The height of cumulative fraction `pm` (per mille) on a tail scale: 0 at 0%, a third at
/// 90%, two thirds at 99%, 1 from 99.9% up, so the tail of a distribution gets room.
fn tail(pm: u32) -> f64 {
    if pm >= 999 {
        return 1.0;
    }
    (1000.0 / (1000 - pm) as f64).log10() / 3.0
}

const CSS: &str = "
:root{color-scheme:light;--fg:#1d2329;--muted:#5b6570;--line:#d9dee3;--bg:#fff;--alt:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;background:var(--alt);color:var(--fg);font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}
main{max-width:1320px;margin:0 auto;padding:20px 24px 40px;background:var(--bg);min-height:100vh}
h1{font-size:24px;margin:4px 0 2px}
h2{font-size:19px;margin:32px 0 8px;padding-top:8px;border-top:1px solid var(--line)}
h3{font-size:16px;margin:18px 0 6px}
h4{font-size:14px;margin:12px 0 4px;color:var(--muted)}
.sub{color:var(--muted);margin:0 0 10px}
nav{display:flex;flex-wrap:wrap;gap:6px 16px;font-size:14px}
nav a{color:#0b5cad;text-decoration:none}
nav a:hover{text-decoration:underline}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums;margin:2px 0 8px}
th,td{padding:3px 7px;text-align:right;white-space:nowrap;border-bottom:1px solid var(--line)}
thead th{background:var(--alt);font-weight:600}
.scroll.tall{max-height:560px;overflow-y:auto;border:1px solid var(--line)}
.scroll.tall thead th{position:sticky;top:0;z-index:1}
.scroll.tall table.cmp thead tr:nth-child(2) th{top:25px}
th.l,td.l{text-align:left}
tbody tr:hover td{background:#eef4fb}
dl.kv{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:0 28px;margin:0;font-size:14px}
dl.kv div{display:flex;justify-content:space-between;gap:12px;border-bottom:1px solid var(--line);padding:3px 0}
dl.kv dt{color:var(--muted);font-weight:600}
dl.kv dd{margin:0;text-align:right}
table.cmp .grp{border-left:2px solid var(--line)}
td.best{font-weight:700;color:#0a6b3d}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px;border:1px solid rgba(0,0,0,.15)}
.bar{display:inline-block;width:70px;height:8px;background:#e8ecef;border-radius:4px;margin-right:8px;overflow:hidden;vertical-align:0}
.bar span{display:block;height:100%;background:#4e79a7}
details{margin:8px 0}
summary{cursor:pointer;color:#0b5cad}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;font-size:13px;margin:6px 0}
.legend span{display:inline-flex;align-items:center;gap:4px}
.legend svg{margin-right:4px;border:1px solid var(--line)}
.note{color:var(--muted);font-size:13px}
.warn{background:#fff6e0;border-left:4px solid #e0a100;padding:6px 10px;margin:6px 0}
.bad{background:#fde8e8;border-left:4px solid #c62828;padding:6px 10px;margin:6px 0}
svg.defs{position:absolute;width:0;height:0;overflow:hidden}
svg.timeline{display:block;width:100%;min-width:980px;height:auto}
svg text{font-family:inherit}
svg .ax{font-size:11px;fill:var(--muted)}
svg .lane{font-size:12px;fill:var(--fg)}
svg .lbl{font-size:10px;fill:#111;paint-order:stroke;stroke:#fff;stroke-width:2.5px;stroke-linejoin:round;pointer-events:none}
svg .grid{stroke:#e6e9ec;stroke-width:1}
svg .lanebg{fill:#f1f3f5}
svg .wait{fill:url(#wait);stroke:#d9534f;stroke-width:.8}
svg .hold{fill:#222}
svg .miss{fill:#c62828}
svg .dead{font-size:14px;font-weight:700;fill:#c62828}
svg .mig{stroke:#333;stroke-width:1.3;stroke-dasharray:3 2}
svg .proxy{stroke:#111;stroke-width:.8}
svg .pstrip{fill:#111}
svg .win{fill:#0b5cad;fill-opacity:.08;stroke:#0b5cad;stroke-width:1}
.tl svg g:hover rect{filter:brightness(1.15)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:12px 20px}
figure.chart{margin:0;padding:8px 10px;border:1px solid var(--line);border-radius:6px}
figure.chart figcaption{font-weight:600;font-size:14px}
table.keys{font-size:12px;margin:4px 0 0;width:100%}
table.keys th,table.keys td{padding:1px 6px;border:0}
table.keys thead th{background:none;color:var(--muted);font-weight:600}
footer{margin-top:36px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:8px}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_labelled_without_floats() {
        assert_eq!(nice_step(118_000_000, 10), 20_000_000);
        assert_eq!(nice_step(10_000_000_000, 10), 1_000_000_000);
        assert_eq!(nice_step(7, 10), 1);
        assert_eq!(tick_unit(118_000_000, 20_000_000), (1_000_000, "ms", 0));
        assert_eq!(tick_unit(3_000_000, 500_000), (1_000_000, "ms", 1));
        assert_eq!(
            tick_unit(10_000_000_000, 1_000_000_000),
            (1_000_000_000, "s", 0)
        );
        assert_eq!(fmt_tick(2_500_000, 1_000_000, 1), "2.5");
        assert_eq!(fmt_tick(40_000_000, 1_000_000, 0), "40");
    }

    #[test]
    fn helpers() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(shorten("background", 5), "back…");
        assert_eq!(shorten("bg", 5), "bg");
        assert_eq!(dur(999), "999 ns");
        assert_eq!(dur(1_500), "1.5 µs");
        assert_eq!(dur(2_000_000), "2.000 ms");
        assert_eq!(dur(61_000_000_000), "61.000 s");
        assert_eq!(task_colour(0), "#4e79a7");
        assert_eq!(task_colour(12), task_colour(12));
        assert_ne!(task_colour(12), task_colour(13));
        assert_eq!(tail(0), 0.0);
        assert_eq!(tail(999), 1.0);
        assert!((tail(900) - 1.0 / 3.0).abs() < 1e-12);
        let s = Scale {
            t0: 100,
            t1: 200,
            x0: 10,
            w: 1000,
        };
        assert_eq!(s.x10(150), 5_100);
        assert_eq!(s.span(150, 150), (5_100, 5), "at least half a pixel");
    }
}
