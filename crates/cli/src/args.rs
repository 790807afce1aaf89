//! Command-line flags (DESIGN.md §5). Flags override the workload's `global.proxysched` object.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use proxysched_sim::Overrides;
use proxysched_workload::{Inherit, ProxyLevel};

#[derive(Parser, Debug)]
#[command(
    name = "proxysched",
    version,
    about = "Linux scheduling (DEADLINE, FIFO/RR, EEVDF) with priority inheritance and Proxy \
             Execution, simulated deterministically on many CPUs from rt-app workloads",
    after_help = "Exit codes: 0 success, 1 a failed check, 2 bad input or usage."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Simulate a workload once and print a per-task summary.
    Run(RunArgs),
    /// Simulate a workload once per inheritance mode and print them side by side.
    Compare(CompareArgs),
    /// Parse and resolve a workload without running it.
    Validate(ValidateArgs),
    /// Randomized workloads with the scheduler's invariants checked after every event.
    Torture(TortureArgs),
}

#[derive(Args, Debug)]
pub struct TortureArgs {
    /// Seed of the whole session; run k uses a sub-seed derived from it.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Number of randomized runs.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub runs: u64,
    /// Fix the CPU count of every run (default: drawn per run, 1-64).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub cpus: Option<u32>,
    /// Fix the inheritance mode of every run (default: drawn per run).
    #[arg(long, value_enum)]
    pub inherit: Option<InheritArg>,
    /// Fix the proxy level of every run (default: drawn per run).
    #[arg(long, value_enum)]
    pub proxy_level: Option<ProxyLevelArg>,
    /// Simulated time per run, in seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, default_value = "0.5")]
    pub duration: u64,
    /// Run each workload twice, the second time processing every tick, and compare a hash of
    /// the full event stream.
    #[arg(long)]
    pub determinism_check: bool,
    /// Where to write the workload of a failing run (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write every run's workload to --out before running it, not only failing ones.
    #[arg(long)]
    pub keep_workloads: bool,
    /// Print only the summary and failures.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// rt-app JSON workload file.
    pub file: PathBuf,
    /// Also check CPU ids against this CPU count (default: the file's, else 1).
    #[arg(long, value_name = "N")]
    pub cpus: Option<u32>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// rt-app JSON workload file; without it, the built-in demo workload.
    pub file: Option<PathBuf>,
    /// How tasks blocked on a mutex are handled.
    #[arg(long, value_enum)]
    pub inherit: Option<InheritArg>,
    #[command(flatten)]
    pub sim: SimFlags,
    /// Write the metrics JSON (schema proxysched-metrics/1) here.
    #[arg(long, value_name = "PATH")]
    pub metrics: Option<PathBuf>,
    /// Write a trace here while the simulation runs: PATH.txt for ftrace text as the kernel
    /// prints it, PATH.json for Chrome JSON that Perfetto opens (the ftrace text plus lock,
    /// proxy and counter tracks).
    #[arg(long, value_name = "PATH")]
    pub trace: Option<PathBuf>,
    /// Write one rt-app log per task in DIR (created if needed), named and laid out as
    /// rt-app's: DIR/rt-app-<task>-<index>.log.
    #[arg(long, value_name = "DIR")]
    pub rtapp_logs: Option<PathBuf>,
    /// Write a self-contained HTML report here: summary tables, a per-CPU timeline with proxy
    /// execution marked, wakeup-latency CDFs, lock wait and hold distributions.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Check the scheduler's invariants after every event; a violation exits with code 1.
    #[arg(long)]
    pub check: bool,
    /// Simulate twice, the second time processing every tick (or skipping the inert ones,
    /// with --every-tick), and compare a hash of the whole event stream; a difference exits
    /// with code 1.
    #[arg(long)]
    pub determinism_check: bool,
    /// Print nothing on success (no summary, no progress bar).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// rt-app JSON workload file; without it, the built-in demo workload.
    pub file: Option<PathBuf>,
    /// The inheritance modes to run, in this order (comma-separated, each at most once).
    #[arg(long, value_name = "MODES", value_parser = parse_modes, default_value = "none,pi,proxy")]
    pub modes: Modes,
    #[command(flatten)]
    pub sim: SimFlags,
    /// Write every run's metrics JSON here, keyed by mode (schema proxysched-compare/1).
    #[arg(long, value_name = "PATH")]
    pub metrics: Option<PathBuf>,
    /// Write a self-contained HTML report here: summary tables, a per-CPU timeline with proxy
    /// execution marked, wakeup-latency CDFs, lock wait and hold distributions.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Check the scheduler's invariants after every event; a violation exits with code 1.
    #[arg(long)]
    pub check: bool,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

/// A non-empty list of distinct inheritance modes, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Modes(pub Vec<Inherit>);

/// "none,pi,proxy" (any non-empty subset, any order, no repeats) to modes.
fn parse_modes(s: &str) -> Result<Modes, String> {
    let mut modes = Vec::new();
    for name in s.split(',').map(str::trim) {
        let mode = match name {
            "none" => Inherit::None,
            "pi" => Inherit::Pi,
            "proxy" => Inherit::Proxy,
            "" => return Err("empty mode name (expected a list like none,pi,proxy)".to_string()),
            _ => {
                return Err(format!(
                    "unknown mode '{name}' (the modes are none, pi and proxy)"
                ))
            }
        };
        if modes.contains(&mode) {
            return Err(format!("mode '{name}' is listed twice"));
        }
        modes.push(mode);
    }
    Ok(Modes(modes))
}

/// Simulation settings shared by `run` and `compare`.
#[derive(Args, Debug, Clone)]
pub struct SimFlags {
    /// Number of simulated CPUs (1-1024).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub cpus: Option<u32>,
    /// Simulated time to run, in seconds (decimals allowed, e.g. 0.5).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub duration: Option<u64>,
    /// Proxy execution level (used when the inheritance mode is proxy).
    #[arg(long, value_enum)]
    pub proxy_level: Option<ProxyLevelArg>,
    /// Seed of every random choice (runs are reproducible for a given seed).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Tick frequency.
    #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub hz: Option<u32>,
    /// CPU time lost per context switch, in ns.
    #[arg(long, value_name = "NS")]
    pub switch_cost_ns: Option<u64>,
    /// Extra CPU time lost when a task runs on a new CPU, in ns.
    #[arg(long, value_name = "NS")]
    pub migration_cost_ns: Option<u64>,
    /// Delay of a reschedule IPI to another CPU, in ns.
    #[arg(long, value_name = "NS")]
    pub ipi_latency_ns: Option<u64>,
    /// Let RT tasks use 100% of a CPU (no sched_rt_runtime_us throttling).
    #[arg(long)]
    pub no_rt_throttling: bool,
    /// Throttle SCHED_DEADLINE tasks the instant their budget runs out (the HRTICK_DL
    /// feature) instead of at the next tick.
    #[arg(long)]
    pub hrtick_dl: bool,
    /// Warn about a task blocked on a mutex for longer than this many seconds (default 120,
    /// as Linux's hung_task_timeout_secs; 0 turns the check off, as it does in Linux).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub hung_task_timeout: Option<u64>,
    /// Process every tick. By default a tick that could only charge the running task (a
    /// SCHED_DEADLINE task with budget left, not under priority inheritance, or a SCHED_FIFO
    /// task below the RT runtime, with no fair task in the system) is skipped: the schedule is
    /// the same, only the `events` count differs.
    #[arg(long)]
    pub every_tick: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InheritArg {
    None,
    Pi,
    Proxy,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyLevelArg {
    SingleRq,
    DonorMigration,
    Full,
}

impl ProxyLevelArg {
    pub fn level(self) -> ProxyLevel {
        match self {
            ProxyLevelArg::SingleRq => ProxyLevel::SingleRq,
            ProxyLevelArg::DonorMigration => ProxyLevel::DonorMigration,
            ProxyLevelArg::Full => ProxyLevel::Full,
        }
    }
}

impl InheritArg {
    pub fn mode(self) -> Inherit {
        match self {
            InheritArg::None => Inherit::None,
            InheritArg::Pi => Inherit::Pi,
            InheritArg::Proxy => Inherit::Proxy,
        }
    }
}

impl SimFlags {
    /// The overrides these flags make; `inherit` comes from the command (`run --inherit`, or
    /// each of `compare --modes`).
    pub fn overrides(&self, inherit: Option<Inherit>) -> Overrides {
        Overrides {
            cpus: self.cpus,
            duration_ns: self.duration,
            inherit,
            proxy_level: self.proxy_level.map(ProxyLevelArg::level),
            hz: self.hz,
            seed: self.seed,
            switch_cost_ns: self.switch_cost_ns,
            migration_cost_ns: self.migration_cost_ns,
            ipi_latency_ns: self.ipi_latency_ns,
            rt_throttling: self.no_rt_throttling.then_some(false),
            hrtick_dl: self.hrtick_dl.then_some(true),
            hung_task_timeout_ns: self.hung_task_timeout,
            every_tick: self.every_tick.then_some(true),
        }
    }
}

/// "1", "0.25", "10.000000001" seconds to ns, exactly (no floating point).
fn parse_seconds(s: &str) -> Result<u64, String> {
    let bad = || format!("'{s}' is not a duration in seconds (e.g. 10 or 0.5)");
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty()
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || frac.len() > 9
    {
        return Err(bad());
    }
    let secs: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac_ns: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    let ns = secs
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(frac_ns))
        .ok_or_else(bad)?;
    if ns == 0 {
        return Err(format!("the duration must be positive, not '{s}'"));
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::{parse_modes, parse_seconds, Modes};
    use proxysched_workload::Inherit;

    #[test]
    fn modes_parse_in_order_without_repeats() {
        assert_eq!(
            parse_modes("none,pi,proxy"),
            Ok(Modes(vec![Inherit::None, Inherit::Pi, Inherit::Proxy]))
        );
        assert_eq!(
            parse_modes("proxy, none"),
            Ok(Modes(vec![Inherit::Proxy, Inherit::None]))
        );
        assert_eq!(parse_modes("pi"), Ok(Modes(vec![Inherit::Pi])));
        assert!(parse_modes("none,pi,none")
            .unwrap_err()
            .contains("'none' is listed twice"));
        assert!(parse_modes("none,fifo")
            .unwrap_err()
            .contains("unknown mode 'fifo'"));
        assert!(parse_modes("").unwrap_err().contains("empty mode"));
        assert!(parse_modes("none,,pi").unwrap_err().contains("empty mode"));
    }

    #[test]
    fn seconds_parse_exactly() {
        assert_eq!(parse_seconds("10"), Ok(10_000_000_000));
        assert_eq!(parse_seconds("0.5"), Ok(500_000_000));
        assert_eq!(parse_seconds(".001"), Ok(1_000_000));
        assert_eq!(parse_seconds("1.000000001"), Ok(1_000_000_001));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("1e3").is_err());
        assert!(parse_seconds("1.0000000001").is_err());
    }
}
