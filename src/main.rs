//! The `kmipd` binary: parses the command line, sets up logging and hands over to the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use kmipd::cli::{Cli, Command, RotateCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = std::env::var("KMIPD_LOG").unwrap_or_else(|_| "info".into());
    // Colours only for a person at a terminal: a log file or journald gets plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    let mut stdout = std::io::stdout().lock();
    let result = match &cli.command {
        Command::Serve(args) => args.config().and_then(kmipd::daemon::serve),
        Command::Init { args, hsm } => kmipd::cli::run_init(args, *hsm, &mut stdout),
        Command::Certs(cmd) => kmipd::cli::run_certs(cmd, &mut stdout),
        Command::Bench(args) => kmipd::loadgen::run(args),
        Command::Backup { args, file } => kmipd::cli::run_backup(args, file, &mut stdout),
        Command::Restore { args, file } => kmipd::cli::run_restore(args, file, &mut stdout),
        Command::MasterKey(RotateCommand::Rotate(args)) => {
            kmipd::cli::run_rotate(false, args, &mut stdout)
        }
        Command::StoreKey(RotateCommand::Rotate(args)) => {
            kmipd::cli::run_rotate(true, args, &mut stdout)
        }
        Command::Ttlv(cmd) => kmipd::cli::run_ttlv(cmd, &mut stdout),
        Command::Audit(cmd) => kmipd::cli::run_audit(cmd, &mut stdout),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kmipd: {message}");
            ExitCode::FAILURE
        }
    }
}
