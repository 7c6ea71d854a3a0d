//! The `repsim` binary: parses the command line, runs the command, exits with its code.
//! Everything else lives in the `repsim_runner` library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // When the reader of our output goes away (`repsim sweep ... | head`), stop quietly,
    // as other command-line tools do, instead of reporting a panic.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        previous(info);
    }));
    let cli = repsim_runner::cli::Cli::parse();
    std::process::ExitCode::from(repsim_runner::cli::execute(cli))
}
