//! The `kmipd` command line: clap definitions and the small commands that need no server.
//!
//! `kmipd ttlv convert` and `kmipd ttlv show` let an operator read and translate captured
//! KMIP messages between binary TTLV, hex, XML and JSON.

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::kmip::KmipNames;
use crate::ttlv::{self, Format};

#[derive(Parser, Debug)]
#[command(name = "kmipd", version, about = "A KMIP key management server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the KMIP server.
    ///
    /// With no configuration, `--data-dir DIR` holds everything: the redb store, the master
    /// key file (for development) and a development PKI in DIR/certs/; the server listens on
    /// 127.0.0.1:5696 and prints how a client connects.
    Serve(ServeArgs),
    /// Create the data directory: master key, store, development certificates.
    Init {
        #[command(flatten)]
        args: ServeArgs,
        /// Create the master key inside the HSM named by [master_key.pkcs11] (an AES-256 key,
        /// non-extractable and sensitive).
        #[arg(long)]
        hsm: bool,
    },
    /// Development certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Take a consistent backup of the store (through the running server when there is one).
    /// Key material stays sealed; the master key is not in the backup.
    Backup {
        #[command(flatten)]
        args: ServeArgs,
        /// The backup file to write (must not exist).
        file: PathBuf,
    },
    /// Restore a backup into an empty data directory.
    Restore {
        #[command(flatten)]
        args: ServeArgs,
        /// The backup file.
        file: PathBuf,
    },
    /// Master key administration.
    #[command(subcommand)]
    MasterKey(RotateCommand),
    /// Store key administration.
    #[command(subcommand)]
    StoreKey(RotateCommand),
    /// The audit log: verify its hash chain, show its records (through the running server
    /// when there is one).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Load generator: N mTLS connections to any KMIP server running an operation mix; prints
    /// ops/s and p50/p99/p999 latency per operation.
    Bench(crate::loadgen::BenchArgs),
    /// Read, write and translate TTLV messages.
    #[command(subcommand)]
    Ttlv(TtlvCommand),
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// A TOML configuration file (see docs/kmipd.example.toml); unknown keys are errors.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The data directory (overrides the configuration's data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The address to listen on (overrides the configuration's listen).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

impl ServeArgs {
    /// The configuration: the file if given, then the command line's overrides.
    pub fn config(&self) -> Result<crate::config::Config, String> {
        let mut config = match &self.config {
            Some(path) => crate::config::Config::load(path)?,
            None => crate::config::Config::default(),
        };
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(addr) = self.listen {
            config.listen = addr;
        }
        Ok(config)
    }
}

#[derive(Subcommand, Debug)]
pub enum RotateCommand {
    /// Create a new version and move everything under it (online when the server runs).
    Rotate(ServeArgs),
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check that the audit log is whole: numbering without gaps, each record chained to the
    /// one before, every hash right, the end at the stored head. Prints the head: keep it
    /// off this host, and pass it back with --expect-head to also catch a log cut back or
    /// rewritten since.
    Verify {
        #[command(flatten)]
        args: ServeArgs,
        /// A head printed by an earlier verify (`<next sequence>:<hash hex>`).
        #[arg(long)]
        expect_head: Option<String>,
    },
    /// Print audit records, one per line.
    Show {
        #[command(flatten)]
        args: ServeArgs,
        /// The first record to print.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// How many records to print at most.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `kmipd audit verify` / `kmipd audit show`: through the running server's
/// administration socket, or on the store directly when no server runs.
pub fn run_audit(cmd: &AuditCommand, out: &mut dyn Write) -> Result<(), String> {
    let (args, command) = match cmd {
        AuditCommand::Verify { args, expect_head } => (
            args,
            match expect_head {
                Some(h) => format!("audit-verify {h}"),
                None => "audit-verify".to_string(),
            },
        ),
        AuditCommand::Show {
            args,
            from,
            limit,
            json,
        } => (
            args,
            format!(
                "audit-show {from} {limit} {}",
                if *json { "json" } else { "text" }
            ),
        ),
    };
    let config = args.config()?;
    let mut lines: Vec<String> = Vec::new();
    let message = match crate::server::admin::request_with_lines(
        &config.data_dir,
        &command,
        |_, _| {},
        |line| lines.push(line.to_string()),
    )? {
        Some(message) => message,
        None => {
            let path = crate::daemon::store_path(&config.data_dir);
            if !path.is_file() {
                return Err(format!("{} does not exist", path.display()));
            }
            let db = crate::store::redb::open_database(&path).map_err(|e| e.to_string())?;
            match cmd {
                AuditCommand::Verify { expect_head, .. } => {
                    let anchor = expect_head
                        .as_deref()
                        .map(str::parse::<crate::audit::ChainHead>)
                        .transpose()
                        .map_err(|e| e.to_string())?;
                    crate::server::admin::audit_verify(&db, anchor)?
                }
                AuditCommand::Show {
                    from, limit, json, ..
                } => crate::server::admin::audit_show(&db, *from, *limit, *json, |line| {
                    lines.push(line)
                })?,
            }
        }
    };
    for line in lines {
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    if matches!(cmd, AuditCommand::Verify { .. }) {
        writeln!(out, "{message}").map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum CertsCommand {
    /// Issue a client certificate and key from the development CA of a data directory, as
    /// OUT/NAME.pem and OUT/NAME.key (the CA key stays in DATA_DIR/certs/).
    Issue {
        #[arg(long)]
        data_dir: PathBuf,
        /// The client's name: its certificate's subject CN, which kmipd uses as its identity.
        #[arg(long)]
        cn: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke a client certificate issued by the development CA of a data directory: it is
    /// added to the CA's revocation list, DATA_DIR/certs/ca.crl, which a running kmipd
    /// rereads within a second; the client is refused at its next handshake, and no session
    /// from before resumes.
    Revoke {
        #[arg(long)]
        data_dir: PathBuf,
        /// The certificate (PEM) to revoke.
        #[arg(long)]
        cert: PathBuf,
        #[arg(long, value_enum, default_value_t = RevokeReason::Unspecified)]
        reason: RevokeReason,
    },
}

/// CRL reason codes (RFC 5280 §5.3.1) a client certificate is revoked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RevokeReason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
}

#[derive(Subcommand, Debug)]
pub enum TtlvCommand {
    /// Convert messages between binary TTLV, hex (one message per line), XML and JSON.
    ///
    /// With `--from xml`, an OASIS test-case file (a `<KMIP>` root holding several messages)
    /// converts every message in order.
    Convert(ConvertArgs),
    /// Print a message in readable form: tag names, types, decoded enumerations and masks.
    /// Byte strings are printed in full, key material included.
    Show(ShowArgs),
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    #[arg(long, value_enum)]
    pub from: FormatArg,
    #[arg(long, value_enum)]
    pub to: FormatArg,
    /// Replace the run-time placeholders of OASIS test cases (`$NOW`, `$KEY_MATERIAL_0`, ...)
    /// by fixed values before reading XML; see `ttlv::placeholders`.
    #[arg(long)]
    pub placeholders: bool,
    /// The input file; `-` or nothing for standard input.
    pub file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The form of the input.
    #[arg(long, value_enum, default_value = "ttlv")]
    pub from: FormatArg,
    /// The input file; `-` or nothing for standard input.
    pub file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    Ttlv,
    Hex,
    Xml,
    Json,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Ttlv => Format::Ttlv,
            FormatArg::Hex => Format::Hex,
            FormatArg::Xml => Format::Xml,
            FormatArg::Json => Format::Json,
        }
    }
}

fn read_input(file: &Option<PathBuf>) -> Result<Vec<u8>, String> {
    let mut input = Vec::new();
    match file {
        Some(path) if path.as_os_str() != "-" => {
            input = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        _ => {
            std::io::stdin()
                .read_to_end(&mut input)
                .map_err(|e| format!("standard input: {e}"))?;
        }
    }
    Ok(input)
}

/// Runs a `ttlv` subcommand, writing to `out`.
pub fn run_ttlv(cmd: &TtlvCommand, out: &mut dyn Write) -> Result<(), String> {
    match cmd {
        TtlvCommand::Convert(args) => {
            let mut input = read_input(&args.file)?;
            if args.placeholders {
                let text = String::from_utf8(input).map_err(|e| e.to_string())?;
                input = ttlv::placeholders::substitute(&text, 0).into_bytes();
            }
            let bytes = ttlv::convert(&input, args.from.into(), args.to.into(), &KmipNames)
                .map_err(|e| e.to_string())?;
            out.write_all(&bytes).map_err(|e| e.to_string())
        }
        TtlvCommand::Show(args) => {
            let input = read_input(&args.file)?;
            let items = ttlv::convert::read(&input, args.from.into(), &KmipNames)
                .map_err(|e| e.to_string())?;
            for item in &items {
                writeln!(out, "{}", ttlv::show(item, &KmipNames)).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
    }
}

/// Runs `kmipd certs ...`.
pub fn run_certs(cmd: &CertsCommand, out: &mut dyn Write) -> Result<(), String> {
    match cmd {
        CertsCommand::Issue {
            data_dir,
            cn,
            out: dir,
        } => {
            let (cert, key) = crate::server::issue_client(&data_dir.join("certs"), cn, dir)
                .map_err(|e| e.to_string())?;
            writeln!(out, "issued {} and {}", cert.display(), key.display())
                .map_err(|e| e.to_string())
        }
        CertsCommand::Revoke {
            data_dir,
            cert,
            reason,
        } => {
            use rcgen::RevocationReason as R;
            let reason = match reason {
                RevokeReason::Unspecified => R::Unspecified,
                RevokeReason::KeyCompromise => R::KeyCompromise,
                RevokeReason::AffiliationChanged => R::AffiliationChanged,
                RevokeReason::Superseded => R::Superseded,
                RevokeReason::CessationOfOperation => R::CessationOfOperation,
            };
            let r = crate::server::revoke_client(&data_dir.join("certs"), cert, reason)
                .map_err(|e| e.to_string())?;
            let what = if r.added {
                "revoked"
            } else {
                "already revoked"
            };
            writeln!(
                out,
                "{what}: {} (serial {}); {} lists {} certificate(s); a running kmipd refuses it \
                 within a second",
                r.subject,
                r.serial,
                r.crl.display(),
                r.listed
            )
            .map_err(|e| e.to_string())
        }
    }
}

/// Runs `kmipd init`: everything `serve` would create, without serving.
pub fn run_init(args: &ServeArgs, hsm: bool, out: &mut dyn Write) -> Result<(), String> {
    let config = args.config()?;
    if hsm {
        if config.master_key.provider != crate::config::Provider::Pkcs11 {
            return Err("--hsm needs master_key.provider = \"pkcs11\" in the configuration".into());
        }
        let pkcs11 = config.pkcs11()?;
        // `init` creates version 1; name the token object as the token lists it.
        let label = pkcs11.versioned_label(1);
        let module = pkcs11.module.clone();
        let key = crate::crypto::Pkcs11MasterKey::init(pkcs11).map_err(|e| e.to_string())?;
        writeln!(
            out,
            "created master key '{label}' (AES-256, sensitive, not extractable) in token '{}' via {}",
            key.token_label(),
            module.display()
        )
        .map_err(|e| e.to_string())?;
    }
    crate::daemon::first_start(&config.data_dir, || crate::daemon::prepare(&config))?;
    writeln!(out, "initialised {}", config.data_dir.display()).map_err(|e| e.to_string())
}

/// Runs `kmipd backup`: through the running server's administration socket, or on the store
/// directly when no server runs.
pub fn run_backup(
    args: &ServeArgs,
    file: &std::path::Path,
    out: &mut dyn Write,
) -> Result<(), String> {
    let config = args.config()?;
    let file = std::path::absolute(file).map_err(|e| e.to_string())?;
    let message = match crate::server::admin::request(
        &config.data_dir,
        &format!("backup {}", file.display()),
        |_, _| {},
    )? {
        Some(message) => message,
        None => {
            let report = crate::store::admin::backup_offline(
                &crate::daemon::store_path(&config.data_dir),
                &file,
            )
            .map_err(|e| e.to_string())?;
            crate::server::admin::backup_message(&report)
        }
    };
    writeln!(out, "{message}").map_err(|e| e.to_string())
}

/// Runs `kmipd restore`.
pub fn run_restore(
    args: &ServeArgs,
    file: &std::path::Path,
    out: &mut dyn Write,
) -> Result<(), String> {
    let config = args.config()?;
    let report = crate::store::admin::restore(file, &config.data_dir).map_err(|e| e.to_string())?;
    writeln!(
        out,
        "restored {} objects and {} audit records (chain verified, head {}) into {}; start kmipd with the same master key",
        report.objects,
        report.audit_records,
        report.audit_head,
        report.db_path.display()
    )
    .map_err(|e| e.to_string())
}

/// A progress bar on standard error, when it is a terminal.
fn progress_bar() -> impl FnMut(u64, u64) {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    move |done, total| {
        if tty {
            let width = 40u64;
            let filled = (done * width).checked_div(total).unwrap_or(width) as usize;
            eprint!(
                "\r[{}{}] {done}/{total}",
                "#".repeat(filled),
                " ".repeat(width as usize - filled.min(width as usize))
            );
            if done >= total {
                eprintln!();
            }
        }
    }
}

/// Runs `kmipd master-key rotate` and `kmipd store-key rotate`.
pub fn run_rotate(store_key: bool, args: &ServeArgs, out: &mut dyn Write) -> Result<(), String> {
    let config = args.config()?;
    let command = if store_key {
        "rotate-store-key"
    } else {
        "rotate-master-key"
    };
    let message = match crate::server::admin::request(&config.data_dir, command, progress_bar())? {
        Some(message) => message,
        None => {
            let provider = crate::daemon::master_key(&config)?;
            let (store, sealer) = crate::daemon::open_store(&config, provider.as_ref())?;
            if store_key {
                let r = crate::store::admin::rotate_store_key(
                    &store,
                    &sealer,
                    provider.as_ref(),
                    progress_bar(),
                )
                .map_err(|e| e.to_string())?;
                crate::server::admin::store_key_message(&r)
            } else {
                let r = crate::store::admin::rotate_master_key(
                    store.database().map_err(|e| e.to_string())?,
                    provider.as_ref(),
                )
                .map_err(|e| e.to_string())?;
                crate::server::admin::master_message(&r)
            }
        }
    };
    writeln!(out, "{message}").map_err(|e| e.to_string())
}
