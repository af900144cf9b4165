//! The `kmipd` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use kmipd::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Ttlv(cmd) => kmipd::cli::run_ttlv(cmd, &mut std::io::stdout().lock()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kmipd: {message}");
            ExitCode::FAILURE
        }
    }
}
