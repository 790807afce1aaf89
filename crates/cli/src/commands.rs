//! The subcommands.

use proxysched::{simulate, simulate_modes, Failure};
use proxysched_report::table;
use proxysched_sim::{Overrides, RunConfig};
use proxysched_workload::Workload;

use crate::args::{Cli, Command, CompareArgs, RunArgs, ValidateArgs};
use crate::output::write_atomically;

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
    if a.trace.is_some() {
        return Err(Failure::input("--trace: traces are not supported yet"));
    }
    if a.report.is_some() {
        return Err(Failure::input(
            "--report: HTML reports are not supported yet",
        ));
    }
    let w = load(a.file.as_deref())?;
    let cfg = RunConfig::resolve(&w, &a.sim.overrides(a.inherit.map(|i| i.mode())));
    let metrics = simulate(&w, &cfg, a.check, None)?;
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
