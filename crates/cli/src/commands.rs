//! The subcommands.

use proxysched::{simulate, simulate_modes, Failure, Fanout};
use proxysched_report::html::{self, ReportSink};
use proxysched_report::table;
use proxysched_sim::{Overrides, RunConfig};
use proxysched_trace::{Sink, StreamHash};
use proxysched_workload::Workload;

use crate::args::{Cli, Command, CompareArgs, RunArgs, TortureArgs, ValidateArgs};
use crate::output::{
    finish_rtapp_logs, rtapp_logs, write_atomically, write_atomically_with, Progress, TraceFile,
};

pub fn dispatch(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Run(a) => run(a),
        Command::Compare(a) => compare(a),
        Command::Validate(a) => validate(a),
        Command::Torture(a) => torture(a),
    }
}

fn torture(a: TortureArgs) -> Result<(), Failure> {
    use proxysched::torture::{torture, TortureOptions};
    let o = TortureOptions {
        seed: a.seed,
        runs: a.runs,
        cpus: a.cpus,
        inherit: a.inherit.map(|i| i.mode()),
        proxy_level: a.proxy_level.map(|l| l.level()),
        duration_ns: a.duration,
        determinism_check: a.determinism_check,
        planted_bug: None,
    };
    println!(
        "proxysched torture: seed {} runs {} duration {} ms{}",
        o.seed,
        o.runs,
        o.duration_ns / 1_000_000,
        if o.determinism_check {
            ", determinism check"
        } else {
            ""
        }
    );
    let dir = a.out.unwrap_or_else(|| std::path::PathBuf::from("."));
    // Made before the first run: a failing run's workload must not be lost to a missing
    // directory.
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::input(format!("--out: cannot create {}: {e}", dir.display())))?;
    let summary = torture(&o, |g| {
        if !a.quiet {
            println!("{}", g.describe());
        }
        if a.keep_workloads {
            let file = dir.join(format!("torture-{}.json", g.seed));
            if let Err(f) = write_atomically(&file, g.json.as_bytes()) {
                eprintln!("proxysched: warning: {}", f.message);
            }
        }
    });
    for v in &summary.violations {
        let file = dir.join(format!("torture-{}.json", v.generated.seed));
        write_atomically(&file, v.generated.json.as_bytes())?;
        println!("\nVIOLATION in {}", v.generated.describe());
        println!("  {}", v.message);
        println!("  workload written to {}", file.display());
        println!(
            "  replay: proxysched run {} --check --duration {}.{:09}",
            file.display(),
            o.duration_ns / 1_000_000_000,
            o.duration_ns % 1_000_000_000
        );
        if !v.last_events.is_empty() {
            println!("  last events:");
            for e in &v.last_events {
                println!("    {e}");
            }
        }
    }
    println!(
        "\n{} runs, {} events, {} violations, {} deadlocks",
        summary.runs,
        summary.events,
        summary.violations.len(),
        summary.deadlocks
    );
    if summary.violations.is_empty() {
        Ok(())
    } else {
        Err(Failure::check(format!(
            "{} of {} runs violated an invariant",
            summary.violations.len(),
            summary.runs
        )))
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
    let mut first_hash = StreamHash::default();
    let mut report = a
        .report
        .as_ref()
        .map(|_| ReportSink::new(cfg.sched.nr_cpus as usize));
    let result = {
        let mut sinks: Vec<&mut dyn Sink> = Vec::new();
        if progress.enabled() {
            sinks.push(&mut progress);
        }
        if a.determinism_check {
            sinks.push(&mut first_hash);
        }
        if let Some(r) = report.as_mut() {
            sinks.push(r);
        }
        if let Some(t) = trace.as_mut() {
            sinks.push(t);
        }
        if let Some(l) = logs.as_mut() {
            sinks.push(l);
        }
        // With nothing but the metrics to build, the stream goes to them alone.
        let mut extra = Fanout(sinks);
        let extra = (!extra.0.is_empty()).then_some(&mut extra as &mut dyn Sink);
        simulate(&w, &cfg, a.check, extra)
    };
    progress.finish();
    let metrics = result?;
    if a.determinism_check {
        // The second run skips no tick (or skips the inert ones if the first did not): that
        // must not change a thing either.
        let mut again = StreamHash::default();
        let again_cfg = RunConfig {
            skip_inert_ticks: !cfg.skip_inert_ticks,
            ..cfg.clone()
        };
        simulate(&w, &again_cfg, a.check, Some(&mut again))?;
        if again.value() != first_hash.value() {
            return Err(Failure::check(format!(
                "nondeterminism: the same run produced different event streams \
                 ({} events, hash {:016x}; then {} events, hash {:016x}, {} every tick)",
                first_hash.events(),
                first_hash.value(),
                again.events(),
                again.value(),
                if again_cfg.skip_inert_ticks {
                    "not processing"
                } else {
                    "processing"
                }
            )));
        }
    }
    if let Some(t) = trace {
        t.finish(metrics.end_ns)?;
    }
    if let (Some(l), Some(dir)) = (logs, &a.rtapp_logs) {
        finish_rtapp_logs(l, dir)?;
    }
    if let Some(path) = &a.metrics {
        write_atomically_with(path, |out| metrics.write_json(out))?;
    }
    if let (Some(path), Some(mut data)) = (&a.report, report) {
        data.finish(metrics.end_ns);
        write_atomically(
            path,
            html::render_run(&w.source, &metrics, &data).as_bytes(),
        )?;
    }
    if !a.quiet {
        print!("{}", table::run_summary(&metrics));
    }
    Ok(())
}

fn compare(a: CompareArgs) -> Result<(), Failure> {
    let w = load(a.file.as_deref())?;
    let o = a.sim.overrides(None);
    // The CPU count does not depend on the mode.
    let nr_cpus = RunConfig::resolve(&w, &o).sched.nr_cpus as usize;
    let mut reports: Vec<ReportSink> = match a.report {
        Some(_) => a.modes.0.iter().map(|_| ReportSink::new(nr_cpus)).collect(),
        None => Vec::new(),
    };
    let mut sinks: Vec<&mut dyn Sink> = reports.iter_mut().map(|r| r as &mut dyn Sink).collect();
    let runs = simulate_modes(&w, &o, &a.modes.0, a.check, &mut sinks)?;
    drop(sinks);
    if let Some(path) = &a.report {
        for (data, (_, doc)) in reports.iter_mut().zip(&runs.runs) {
            data.finish(doc.end_ns);
        }
        write_atomically(
            path,
            html::render_compare(&w.source, &runs, &reports).as_bytes(),
        )?;
    }
    if let Some(path) = &a.metrics {
        write_atomically_with(path, |out| runs.write_json(out))?;
    }
    if !a.quiet {
        print!("{}", table::compare_summary(&runs.runs));
    }
    Ok(())
}
