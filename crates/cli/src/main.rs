//! `proxysched`: the command line. Thin by design: flags into a configuration, the
//! configuration into a run, the results to the terminal and files.

mod args;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("proxysched: error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
