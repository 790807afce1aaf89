//! Plain-text tables for the terminal.

use crate::metrics::{MetricsDoc, MutexDoc};

/// `ns` as milliseconds with three decimals, without floating point.
pub fn ms(ns: u64) -> String {
    format!("{}.{:03}", ns / 1_000_000, ns / 1_000 % 1_000)
}

/// `ns` as microseconds with one decimal.
pub fn us(ns: u64) -> String {
    format!("{}.{}", ns / 1_000, ns / 100 % 10)
}

/// Left-aligned first column, right-aligned others, two spaces between columns.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    render_aligned(header, rows, &[0])
}

/// The columns listed in `left` left-aligned, the others right-aligned, two spaces between
/// columns, no trailing blanks.
pub fn render_aligned(header: &[&str], rows: &[Vec<String>], left: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            if left.contains(&i) {
                s.push_str(&format!("{:<w$}", c, w = widths[i]));
            } else {
                s.push_str(&format!("{:>w$}", c, w = widths[i]));
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&mut header.iter().copied());
    for r in rows {
        out.push_str(&line(&mut r.iter().map(String::as_str)));
    }
    out
}

/// The summary `run` prints: one row per task, then one per CPU.
pub fn run_summary(m: &MetricsDoc) -> String {
    let tasks: Vec<Vec<String>> = m
        .tasks
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.tid.to_string(),
                t.policy.trim_start_matches("SCHED_").to_string(),
                t.prio.to_string(),
                ms(t.run_ns),
                ms(t.runnable_ns),
                ms(t.sleep_ns),
                ms(t.blocked_ns),
                t.wakeups.to_string(),
                us(t.wakeup_latency_ns.p50),
                us(t.wakeup_latency_ns.p99),
                us(t.wakeup_latency_ns.max),
                t.activations.to_string(),
                t.deadline_misses.to_string(),
                t.migrations.to_string(),
                t.exit_ns.map_or("-".to_string(), ms),
            ]
        })
        .collect();
    let cpus: Vec<Vec<String>> = m
        .cpus
        .iter()
        .map(|c| {
            let total = (c.busy_ns + c.idle_ns).max(1);
            let permille = (c.busy_ns as u128 * 1000 / total as u128) as u64;
            vec![
                format!("cpu{}", c.id),
                ms(c.busy_ns),
                ms(c.idle_ns),
                format!("{}.{}", permille / 10, permille % 10),
                c.context_switches.to_string(),
            ]
        })
        .collect();
    let mut out = format!(
        "proxysched: {} CPU(s), inherit {}, HZ {}, simulated {} ms, {} events\n\n",
        m.config.cpus,
        m.config.inherit,
        m.config.hz,
        ms(m.end_ns),
        m.events
    );
    out.push_str(&render(
        &[
            "task",
            "pid",
            "policy",
            "prio",
            "run ms",
            "runnable ms",
            "sleep ms",
            "blocked ms",
            "wakeups",
            "lat p50 us",
            "lat p99 us",
            "lat max us",
            "activations",
            "dl misses",
            "migrations",
            "exit ms",
        ],
        &tasks,
    ));
    out.push('\n');
    out.push_str(&render(
        &["cpu", "busy ms", "idle ms", "util %", "switches"],
        &cpus,
    ));
    for w in &m.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

/// The summary `compare` prints for runs of one workload under several modes (`runs` in the
/// order given): a header, one group of rows per task with one row per mode (so the modes'
/// figures for a task line up in each column), then one row per mode with its run-wide
/// figures and, when the workload has mutexes, the contended acquisitions and the worst
/// completed wait. Deadlocks and warnings follow.
pub fn compare_summary(runs: &[(String, MetricsDoc)]) -> String {
    let Some((_, first)) = runs.first() else {
        return String::new();
    };
    let modes: Vec<&str> = runs.iter().map(|(m, _)| m.as_str()).collect();
    let mut out = format!(
        "proxysched compare: {} CPU(s), HZ {}, proxy level {}, seed {}; modes {}\n\n",
        first.config.cpus,
        first.config.hz,
        first.config.proxy_level,
        first.config.seed,
        modes.join(", ")
    );

    let mut rows = Vec::new();
    for i in 0..first.tasks.len() {
        for (k, (mode, m)) in runs.iter().enumerate() {
            let Some(t) = m.tasks.get(i) else { continue };
            rows.push(vec![
                if k == 0 {
                    t.name.clone()
                } else {
                    String::new()
                },
                mode.clone(),
                t.exit_ns.map_or("-".to_string(), ms),
                ms(t.blocked_ns),
                us(t.wakeup_latency_ns.p99),
                us(t.wakeup_latency_ns.max),
                t.deadline_misses.to_string(),
                ms(t.donated_ns),
                ms(t.proxied_ns),
            ]);
        }
    }
    out.push_str(&render_aligned(
        &[
            "task",
            "mode",
            "exit ms",
            "blocked ms",
            "lat p99 us",
            "lat max us",
            "dl misses",
            "donated ms",
            "proxied ms",
        ],
        &rows,
        &[0, 1],
    ));
    out.push('\n');

    let with_mutexes = runs.iter().any(|(_, m)| !m.mutexes.is_empty());
    let mut header = vec!["mode", "simulated ms", "events", "deadlocks"];
    if with_mutexes {
        header.extend(["acquisitions", "contended", "worst wait ms", "on mutex"]);
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|(mode, m)| {
            let mut row = vec![
                mode.clone(),
                ms(m.end_ns),
                m.events.to_string(),
                m.deadlocks.len().to_string(),
            ];
            if with_mutexes {
                let acquisitions: u64 = m.mutexes.iter().map(|x| x.acquisitions).sum();
                let contended: u64 = m.mutexes.iter().map(|x| x.contended).sum();
                // The first mutex (by id) with the longest completed wait.
                let worst = m.mutexes.iter().filter(|x| x.contended > 0).fold(
                    None,
                    |best: Option<&MutexDoc>, x| match best {
                        Some(b) if b.wait_ns.max >= x.wait_ns.max => Some(b),
                        _ => Some(x),
                    },
                );
                row.extend([
                    acquisitions.to_string(),
                    contended.to_string(),
                    worst.map_or("-".to_string(), |x| ms(x.wait_ns.max)),
                    worst.map_or("-".to_string(), |x| x.name.clone()),
                ]);
            }
            row
        })
        .collect();
    // The mutex name, the last column, reads better left-aligned.
    let left: &[usize] = if with_mutexes { &[0, 7] } else { &[0] };
    out.push_str(&render_aligned(&header, &rows, left));

    for (mode, m) in runs {
        for d in &m.deadlocks {
            out.push_str(&format!(
                "{mode}: deadlock at {} ms: tasks {}; mutexes {}\n",
                ms(d.at_ns),
                d.tasks.join(", "),
                d.mutexes.join(", ")
            ));
        }
    }
    // Warnings every run has are printed once; the others name their mode.
    let mut seen: Vec<&str> = Vec::new();
    for (mode, m) in runs {
        for w in &m.warnings {
            if seen.contains(&w.as_str()) {
                continue;
            }
            seen.push(w);
            if runs.iter().all(|(_, r)| r.warnings.contains(w)) {
                out.push_str(&format!("warning: {w}\n"));
            } else {
                out.push_str(&format!("warning: {mode}: {w}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_without_floats() {
        assert_eq!(ms(1_234_567), "1.234");
        assert_eq!(ms(0), "0.000");
        assert_eq!(us(1_250), "1.2");
    }
}
