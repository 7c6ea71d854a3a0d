//! The `repsim` binary: parses the command line, runs the command, exits with its code.
//! Everything else lives in the `repsim_runner` library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = repsim_runner::cli::Cli::parse();
    std::process::ExitCode::from(repsim_runner::cli::execute(cli))
}
