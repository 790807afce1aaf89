//! The subcommands.

use proxysched::{simulate, simulate_modes, Failure, Fanout};
use proxysched_report::table;
use proxysched_sim::{Overrides, RunConfig};
use proxysched_trace::Sink;
use proxysched_workload::Workload;

use crate::args::{Cli, Command, CompareArgs, RunArgs, ValidateArgs};
use crate::output::{finish_rtapp_logs, rtapp_logs, write_atomically, Progress, TraceFile};

pub fn dispatch(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Run(a) => run(a),
        Command::Compare(a) => compare(a),
        Command::Validate(a) => validate(a),
    }
}

fn load(file: Option<&std::path::Path>) -> Result<Workload, Failure> {
    match file {
        Some(path) => proxysched_workload::load(path).map_err(Failure::input),
        None => Ok(proxysched_workload::builtin_demo()),
    }
}

fn validate(a: ValidateArgs) -> Result<(), Failure> {
    let w = load(Some(&a.file))?;
    let cfg = RunConfig::resolve(
        &w,
        &Overrides {
            cpus: a.cpus,
            ..Overrides::default()
        },
    );
    w.check_cpus(cfg.sched.nr_cpus).map_err(Failure::input)?;
    for warning in &w.warnings {
        eprintln!("proxysched: warning: {warning}");
    }
    println!(
        "{}: ok: {} task(s), {} mutex(es), {} CPU(s)",
        w.source,
        w.tasks.len(),
        w.mutexes.len(),
        cfg.sched.nr_cpus
    );
    Ok(())
}

fn run(a: RunArgs) -> Result<(), Failure> {
    if a.report.is_some() {
        return Err(Failure::input(
            "--report: HTML reports are not supported yet",
        ));
    }
    let w = load(a.file.as_deref())?;
    let cfg = RunConfig::resolve(&w, &a.sim.overrides(a.inherit.map(|i| i.mode())));
    // Trace and logs are written while the simulation runs; dropped on failure, they leave no
    // file behind.
    let mut trace = match &a.trace {
        Some(p) => Some(TraceFile::create(p, cfg.sched.nr_cpus)?),
        None => None,
    };
    let mut logs = match &a.rtapp_logs {
        Some(dir) => Some(rtapp_logs(dir, &w)?),
        None => None,
    };
    let mut progress = Progress::new(cfg.duration_ns, a.quiet);
    let result = {
        let mut sinks: Vec<&mut dyn Sink> = vec![&mut progress];
        if let Some(t) = trace.as_mut() {
            sinks.push(t);
        }
        if let Some(l) = logs.as_mut() {
            sinks.push(l);
        }
        simulate(&w, &cfg, a.check, Some(&mut Fanout(sinks)))
    };
    progress.finish();
    let metrics = result?;
    if let Some(t) = trace {
        t.finish(metrics.end_ns)?;
    }
    if let (Some(l), Some(dir)) = (logs, &a.rtapp_logs) {
        finish_rtapp_logs(l, dir)?;
    }
    if let Some(path) = &a.metrics {
        write_atomically(path, metrics.to_json().as_bytes())?;
    }
    if !a.quiet {
        print!("{}", table::run_summary(&metrics));
    }
    Ok(())
}

fn compare(a: CompareArgs) -> Result<(), Failure> {
    if a.report.is_some() {
        return Err(Failure::input(
            "--report: HTML reports are not supported yet",
        ));
    }
    let w = load(a.file.as_deref())?;
    let runs = simulate_modes(&w, &a.sim.overrides(None), &a.modes.0, a.check)?;
    if let Some(path) = &a.metrics {
        write_atomically(path, runs.to_json().as_bytes())?;
    }
    if !a.quiet {
        print!("{}", table::compare_summary(&runs.runs));
    }
    Ok(())
}
