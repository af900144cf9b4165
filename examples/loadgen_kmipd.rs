//! A stand-in for `kmipd serve` and `kmipd bench` until the integrator wires them into the
//! command line: `serve` runs kmipd's operations over the in-memory store with a development
//! PKI in `--dir`; `bench` is the load generator with all of its options.
//!
//! ```text
//! cargo run --release --example loadgen_kmipd -- serve --dir /tmp/kmipd-bench --listen 127.0.0.1:5696
//! cargo run --release --example loadgen_kmipd -- bench --ca /tmp/kmipd-bench/ca.pem \
//!     --cert /tmp/kmipd-bench/client.pem --key /tmp/kmipd-bench/client.key --mix get
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use clap::{Parser, Subcommand};
use kmipd::loadgen::{self, BenchArgs};
use kmipd::ops::Kms;
use kmipd::policy;
use kmipd::server::{self, DevPki, Handler, Settings, TlsSettings};
use kmipd::store::memory::MemoryStore;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// kmipd over the in-memory store.
    Serve {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:5696")]
        listen: String,
    },
    /// The load generator.
    Bench(BenchArgs),
}

struct KmsHandler(Kms);

impl Handler for KmsHandler {
    fn handle(&self, principal: &server::Principal, request: &[u8]) -> Vec<u8> {
        let who = policy::Principal {
            name: principal.name.clone(),
            cert_sha256: principal.cert_sha256,
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.0.handle(&who, request, now)
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    match Cli::parse().command {
        Command::Bench(args) => loadgen::run(&args),
        Command::Serve { dir, listen } => {
            let pki = DevPki::load_or_create(&dir).map_err(|e| e.to_string())?;
            let tls = TlsSettings::from_pem_files(&pki.server_cert, &pki.server_key, &pki.ca_cert)
                .map_err(|e| e.to_string())?;
            let settings = Arc::new(Settings::new(
                server::tls::server_config(tls).map_err(|e| e.to_string())?,
            ));
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .map_err(|e| format!("{listen}: {e}"))?;
                eprintln!("serving on {listen}; certificates in {}", dir.display());
                let handler = Arc::new(KmsHandler(Kms::new(Arc::new(MemoryStore::new()))));
                server::run(listener, settings, handler, async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await;
                Ok(())
            })
        }
    }
}
