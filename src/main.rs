//! The `kmipd` binary: parses the command line, sets up logging and hands over to the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use kmipd::cli::{Cli, Command, RotateCommand};

/// Every heap block is overwritten with zeros when it is freed (or moved by a reallocation),
/// whoever allocated it: the server's own buffers are zeroized where they hold secrets, but
/// rustls's record buffers, a buffer that grew, and the temporaries of decoding and encoding
/// messages hold keys in the clear too, and without this their freed memory keeps them until
/// it is reused (`tests/kms_process.rs` finds them there). The price is a `memset` per free.
#[global_allocator]
static ALLOCATOR: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);

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
    if !matches!(
        cli.command,
        Command::Bench(_) | Command::Ttlv(_) | Command::Certs(_)
    ) {
        harden_process();
    }
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

/// Keeps this process's memory, which holds the master and store keys and every key in use,
/// out of core files and away from other processes of its user: the core file size limit
/// is set to 0 and the process made non-dumpable, which also refuses `ptrace` and
/// `/proc/PID/mem` to anyone without `CAP_SYS_PTRACE`. For the commands that handle keys
/// (all but `bench`, `ttlv` and `certs`). `KMIPD_ALLOW_CORE_DUMPS=1` leaves both as they
/// are, to debug a crash: its core file then holds keys in the clear.
fn harden_process() {
    if std::env::var_os("KMIPD_ALLOW_CORE_DUMPS").is_some_and(|v| v == "1") {
        tracing::warn!(
            "KMIPD_ALLOW_CORE_DUMPS=1: core dumps and ptrace left allowed; a core file of this process holds keys in the clear"
        );
        return;
    }
    use rustix::process::{Resource, Rlimit, setrlimit};
    let none = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    if let Err(e) = setrlimit(Resource::Core, none) {
        tracing::warn!(error = %e, "could not set the core file size limit to 0");
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{DumpableBehavior, dumpable_behavior, set_dumpable_behavior};
        if let Err(e) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
            tracing::warn!(error = %e, "could not make the process non-dumpable");
        }
        // Read back from the kernel, so that the line below is a fact.
        if matches!(dumpable_behavior(), Ok(DumpableBehavior::NotDumpable)) {
            tracing::info!(
                "this process writes no core file and cannot be traced (KMIPD_ALLOW_CORE_DUMPS=1 to debug a crash)"
            );
        }
    }
}
