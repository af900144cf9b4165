//! The `kmipd` binary: parses the command line, sets up logging and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use kmipd::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = std::env::var("KMIPD_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    let mut stdout = std::io::stdout().lock();
    let result = match &cli.command {
        Command::Serve(args) => args.config().and_then(kmipd::daemon::serve),
        Command::Init(args) => kmipd::cli::run_init(args, &mut stdout),
        Command::Certs(cmd) => kmipd::cli::run_certs(cmd, &mut stdout),
        Command::Bench(args) => kmipd::loadgen::run(args),
        Command::Ttlv(cmd) => kmipd::cli::run_ttlv(cmd, &mut stdout),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kmipd: {message}");
            ExitCode::FAILURE
        }
    }
}
