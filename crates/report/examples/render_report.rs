//! Render the HTML report of a simulated run, for trying the report out before the CLI has
//! `--report` (and for the screenshot script).
//!
//! ```sh
//! cargo run --release -p proxysched-report --example render_report -- compare [FILE] OUT.html
//! cargo run --release -p proxysched-report --example render_report -- run [FILE] OUT.html
//! ```
//!
//! Without FILE it uses the built-in demo workload; `run` uses the workload's own settings,
//! `compare` runs it under `none`, `pi` and `proxy`.

use proxysched_report::html::{render_compare, render_run, ReportSink};
use proxysched_report::metrics::CompareDoc;
use proxysched_report::{ConfigDoc, MetricsDoc};
use proxysched_sim::{Engine, Overrides, RunConfig};
use proxysched_workload::{Inherit, Workload};

fn config_doc(cfg: &RunConfig) -> ConfigDoc {
    ConfigDoc {
        cpus: cfg.sched.nr_cpus,
        inherit: cfg.inherit().name(),
        proxy_level: cfg.proxy_level().name(),
        hz: cfg.sched.hz,
        seed: cfg.seed,
        duration_ns: cfg.duration_ns,
        switch_cost_ns: cfg.sched.switch_cost_ns,
        migration_cost_ns: cfg.sched.migration_cost_ns,
        ipi_latency_ns: cfg.sched.ipi_latency_ns,
        rt_throttling: cfg.sched.rt_throttling,
        hrtick_dl: cfg.sched.hrtick_dl,
    }
}

/// One run into its metrics document and the report's data.
fn simulate(w: &Workload, cfg: &RunConfig) -> (MetricsDoc, ReportSink) {
    let mut sink = ReportSink::new(cfg.sched.nr_cpus as usize);
    let summary = Engine::new(w, cfg, &mut sink)
        .and_then(|e| e.run())
        .unwrap_or_else(|e| {
            eprintln!("simulation failed: {e}");
            std::process::exit(2)
        });
    sink.finish(summary.end_ns);
    let notes: Vec<String> = w.warnings.iter().chain(&cfg.notes).cloned().collect();
    let doc = MetricsDoc::build(config_doc(cfg), &sink.metrics, summary.events, &notes);
    (doc, sink)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, file, out) = match args.as_slice() {
        [cmd, out] => (cmd.as_str(), None, out),
        [cmd, file, out] => (cmd.as_str(), Some(file), out),
        _ => {
            eprintln!("usage: render_report run|compare [FILE] OUT.html");
            std::process::exit(2)
        }
    };
    let w = match file {
        Some(f) => proxysched_workload::load(std::path::Path::new(f)).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        }),
        None => proxysched_workload::builtin_demo(),
    };
    let source = w.source.clone();
    let html = match cmd {
        "run" => {
            let cfg = RunConfig::resolve(&w, &Overrides::default());
            let (doc, sink) = simulate(&w, &cfg);
            render_run(&source, &doc, &sink)
        }
        "compare" => {
            let mut runs = Vec::new();
            let mut sinks = Vec::new();
            for mode in [Inherit::None, Inherit::Pi, Inherit::Proxy] {
                let o = Overrides {
                    inherit: Some(mode),
                    ..Overrides::default()
                };
                let (doc, sink) = simulate(&w, &RunConfig::resolve(&w, &o));
                runs.push((mode.name().to_string(), doc));
                sinks.push(sink);
            }
            render_compare(&source, &CompareDoc { runs }, &sinks)
        }
        _ => {
            eprintln!("usage: render_report run|compare [FILE] OUT.html");
            std::process::exit(2)
        }
    };
    if let Err(e) = std::fs::write(out, html) {
        eprintln!("{out}: {e}");
        std::process::exit(2)
    }
}
