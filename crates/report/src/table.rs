//! Plain-text tables for the terminal.

use crate::metrics::MetricsDoc;

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
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, c) in cells.enumerate() {
            if i == 0 {
                s.push_str(&format!("{:<w$}", c, w = widths[0]));
            } else {
                s.push_str(&format!("  {:>w$}", c, w = widths[i]));
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
