//! `kmipd serve`: builds the server from a [`Config`] — data directory, TLS (or a development
//! PKI), master key provider, store, dispatcher — and runs it until SIGTERM or SIGINT.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{Config, Identity, Provider};
use crate::crypto::{FileMasterKey, MasterKeyProvider, Pkcs11MasterKey};
use crate::ops::{Kms, OpsConfig};
use crate::policy::Policy;
use crate::server::admin::AdminTarget;
use crate::server::{self, DevPki, IdentitySource, KmsHandler, Settings, TlsSettings, tls};
use crate::store::{KeyringSealer, RedbStore};

/// File descriptors the server keeps besides its connections: the listener, the store and its
/// log, the audit log, the administration socket and its clients, TLS files being reread,
/// the HSM library's own.
const OWN_FILES: u64 = 64;

/// Raises the soft limit on open files to the hard limit: a service manager's default soft
/// limit (often 1,024) would otherwise cap connections below `max_connections` with accept
/// errors. Warns when even that is below `max_connections` and the server's own files.
fn raise_open_files(max_connections: usize) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let mut soft = limit.current;
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::debug!(from = ?limit.current, to = ?limit.maximum, "open file limit raised");
                soft = limit.maximum;
            }
            Err(e) => tracing::warn!(error = %e, "could not raise the open file limit"),
        }
    }
    let needed = max_connections as u64 + OWN_FILES;
    if let Some(soft) = soft.filter(|&soft| soft < needed) {
        tracing::warn!(
            limit = soft,
            max_connections,
            "the open file limit is below limits.max_connections plus the server's own files: \
             connections past it will be refused at accept; raise it (ulimit -n, systemd \
             LimitNOFILE=) or lower limits.max_connections"
        );
    }
}

/// Creates the data directory, readable by its owner only.
pub fn ensure_data_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(())
}

/// The master key provider the configuration names.
pub fn master_key(config: &Config) -> Result<Arc<dyn MasterKeyProvider>, String> {
    Ok(match config.master_key.provider {
        Provider::File => {
            Arc::new(FileMasterKey::open_or_create(&config.data_dir).map_err(|e| e.to_string())?)
        }
        Provider::Pkcs11 => {
            Arc::new(Pkcs11MasterKey::open(config.pkcs11()?).map_err(|e| e.to_string())?)
        }
    })
}

/// Where the store lives in a data directory.
pub fn store_path(data_dir: &Path) -> PathBuf {
    crate::store::admin::db_path(data_dir)
}

/// Opens the redb store in the data directory (creating it on first start), its key material
/// sealed under store keys that the master key wraps.
pub fn open_store(
    config: &Config,
    provider: &dyn MasterKeyProvider,
) -> Result<(Arc<RedbStore>, Arc<KeyringSealer>), String> {
    let path = store_path(&config.data_dir);
    let (store, sealer) = RedbStore::open_with_provider(&path, provider).map_err(|e| {
        format!(
            "store {}: {e} (is another kmipd using this data directory?)",
            path.display()
        )
    })?;
    Ok((Arc::new(store), sealer))
}

/// What a client needs to connect, and where it is.
pub struct ClientFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The TLS settings, creating a development PKI when none is configured.
pub fn tls_settings(config: &Config) -> Result<(TlsSettings, Option<ClientFiles>), String> {
    let t = &config.tls;
    let (mut settings, dev) = match (&t.cert, &t.key, t.client_ca.is_empty()) {
        (None, None, true) => {
            let pki = DevPki::load_or_create(&config.data_dir.join("certs"))
                .map_err(|e| e.to_string())?;
            let settings =
                TlsSettings::from_pem_files(&pki.server_cert, &pki.server_key, &pki.ca_cert)
                    .map_err(|e| e.to_string())?;
            let files = ClientFiles {
                ca: pki.ca_cert.clone(),
                cert: pki.client_cert.clone(),
                key: pki.client_key.clone(),
            };
            (settings, Some(files))
        }
        (Some(cert), Some(key), _) => {
            let mut settings = TlsSettings {
                cert_chain: tls::load_certs(&config.resolve(cert)).map_err(|e| e.to_string())?,
                key: tls::load_key(&config.resolve(key)).map_err(|e| e.to_string())?,
                client_cas: Vec::new(),
                pinned_clients: Vec::new(),
                client_crls: Vec::new(),
                session_cache_size: tls::DEFAULT_SESSION_CACHE,
            };
            for ca in &t.client_ca {
                settings
                    .client_cas
                    .extend(tls::load_certs(&config.resolve(ca)).map_err(|e| e.to_string())?);
            }
            (settings, None)
        }
        _ => {
            return Err(
                "[tls]: set cert and key (and client_ca or pinned_client_certs), or none of them for a development PKI"
                    .into(),
            );
        }
    };
    for pinned in &t.pinned_client_certs {
        for cert in tls::load_certs(&config.resolve(pinned)).map_err(|e| e.to_string())? {
            settings.pinned_clients.push(tls::fingerprint(&cert));
        }
    }
    for path in crl_paths(config) {
        settings
            .client_crls
            .extend(tls::load_crls(&path).map_err(|e| e.to_string())?);
    }
    Ok((settings, dev))
}

/// The client CRLs the server loads: those configured, and with the development PKI its
/// CA's list when `kmipd certs revoke` has written one.
fn crl_paths(config: &Config) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = config
        .tls
        .client_crls
        .iter()
        .map(|p| config.resolve(p))
        .collect();
    if let Some(pki) = dev_pki(config)
        && pki.crl.exists()
    {
        paths.push(pki.crl);
    }
    paths
}

/// The development PKI's files, when the configuration names no TLS files of its own.
fn dev_pki(config: &Config) -> Option<DevPki> {
    let t = &config.tls;
    (t.cert.is_none() && t.key.is_none() && t.client_ca.is_empty())
        .then(|| DevPki::paths(&config.data_dir.join("certs")))
}

/// Every file the TLS configuration is built from (the development CA's key excepted: the
/// server does not use it).
fn tls_files(config: &Config) -> Vec<PathBuf> {
    let t = &config.tls;
    let mut files: Vec<PathBuf> = t
        .cert
        .iter()
        .chain(&t.key)
        .chain(&t.client_ca)
        .chain(&t.pinned_client_certs)
        .chain(&t.client_crls)
        .map(|p| config.resolve(p))
        .collect();
    if let Some(pki) = dev_pki(config) {
        files.extend([pki.ca_cert, pki.server_cert, pki.server_key, pki.crl]);
    }
    files
}

/// What the TLS files are now: for each, its modification time, length and inode, or
/// nothing when it is missing. A change to any of them calls for a reload.
type TlsStamp = Vec<Option<(std::time::SystemTime, u64, u64)>>;

fn tls_stamp(config: &Config) -> TlsStamp {
    use std::os::unix::fs::MetadataExt;
    tls_files(config)
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len(), m.ino()))
        })
        .collect()
}

/// Builds the server's TLS configuration from `config`'s files, as at start.
pub fn build_tls(config: &Config) -> Result<tls::ServerTls, String> {
    let (settings, _) = tls_settings(config)?;
    tls::server_tls(settings).map_err(|e| e.to_string())
}

/// How often the TLS files are looked at for changes.
const TLS_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Reloads the TLS configuration of new connections when one of its files changes (checked
/// every second) or on SIGHUP: a renewed server certificate, a new client CA bundle, a new
/// CRL take effect without a restart. A reload that fails (a file half written, a key that
/// does not match) keeps the configuration in use and is logged; the next change is tried
/// again. Connections already up are checked again at their next request
/// ([`tls::TlsCell::still_trusted`]). Runs until aborted.
pub async fn reload_tls(config: Config, settings: Arc<Settings>) {
    let mut last = tls_stamp(&config);
    let mut tick = tokio::time::interval(TLS_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let asked = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
        };
        #[cfg(not(unix))]
        let asked = {
            tick.tick().await;
            false
        };
        let config = config.clone();
        // (A reload is tried at the next tick if this one is lost with `last`.)
        let previous = std::mem::take(&mut last);
        let Ok((now, built)) = tokio::task::spawn_blocking(move || {
            let now = tls_stamp(&config);
            let built = (asked || now != previous).then(|| build_tls(&config));
            (now, built)
        })
        .await
        else {
            continue;
        };
        match built {
            None => {}
            Some(Ok(tls)) => {
                settings.tls.reload(tls);
                tracing::info!(
                    on_signal = asked,
                    "TLS files reloaded: new connections use them (sessions from before start over)"
                );
            }
            Some(Err(e)) => tracing::error!(
                error = %e,
                "TLS files changed but do not load; keeping the configuration in use"
            ),
        }
        last = now;
    }
}

fn identity(i: Identity) -> IdentitySource {
    match i {
        Identity::Cn => IdentitySource::CommonName,
        Identity::SanDns => IdentitySource::SanDns,
        Identity::SanEmail => IdentitySource::SanEmail,
        Identity::SanUri => IdentitySource::SanUri,
    }
}

/// Everything `serve` builds before it listens.
pub struct Prepared {
    pub settings: Arc<Settings>,
    pub handler: Arc<KmsHandler>,
    pub client: Option<ClientFiles>,
    pub admin: AdminTarget,
}

/// Runs `build`, which creates the data directory `dir` if it is missing; if `build` fails
/// and `dir` did not exist before, removes what it created, so that the next attempt (the
/// mistake fixed: TLS files that do not load, a missing HSM, a wrong PIN) begins from nothing
/// rather than from a half-made directory. A directory that existed is left as it was.
pub fn first_start<T>(dir: &Path, build: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let fresh = !dir.exists();
    let built = build();
    if built.is_err() && fresh {
        let _ = std::fs::remove_dir_all(dir);
    }
    built
}

/// Builds the server from its configuration (no socket yet).
pub fn prepare(config: &Config) -> Result<Prepared, String> {
    ensure_data_dir(&config.data_dir)?;
    let (tls_settings, client) = tls_settings(config)?;
    let tls = tls::server_config(tls_settings).map_err(|e| e.to_string())?;
    let mut settings = Settings::new(tls);
    settings.limits = config.limits.server_limits();
    settings.identity = identity(config.tls.identity);
    settings.http_path = config.http.served_path();
    let provider = master_key(config)?;
    let (store, sealer) = open_store(config, provider.as_ref())?;
    let mut kms = Kms::new(store.clone());
    kms.policy = Policy {
        administrators: config.policy.administrators.clone(),
        metrics_readers: config.policy.metrics_readers.clone(),
    };
    kms.config = OpsConfig {
        max_batch_items: config.limits.max_batch_items,
        max_locate_items: config.limits.max_locate_items,
        interop: config.interop,
        http: config.http.enabled,
        ..OpsConfig::default()
    };
    Ok(Prepared {
        settings: Arc::new(settings),
        handler: Arc::new(KmsHandler { kms: Arc::new(kms) }),
        client,
        admin: AdminTarget {
            store,
            sealer,
            provider,
        },
    })
}

/// How a client connects: printed at start.
pub fn connection_help(
    addr: std::net::SocketAddr,
    client: &Option<ClientFiles>,
    http_path: Option<&str>,
) -> String {
    let mut s =
        format!("kmipd is listening on {addr} (KMIP 1.0-2.1 over mutually authenticated TLS)\n");
    if let Some(path) = http_path {
        s += &format!(
            "KMIP over HTTPS on the same port: POST https://{addr}{path} \
             (application/octet-stream, text/xml or application/json)\n"
        );
    }
    if let Some(c) = client {
        s += &format!(
            "development certificates (not for production):\n  CA:          {}\n  client cert: {} (CN admin)\n  client key:  {}\n\
             connect with PyKMIP:\n  from kmip.pie.client import ProxyKmipClient\n  \
             client = ProxyKmipClient(hostname=\"{}\", port={}, cert=\"{}\", key=\"{}\", ca=\"{}\")\n  \
             with client: print(client.create(kmip.enums.CryptographicAlgorithm.AES, 256))\n",
            c.ca.display(),
            c.cert.display(),
            c.key.display(),
            addr.ip(),
            addr.port(),
            c.cert.display(),
            c.key.display(),
            c.ca.display(),
        );
        if let Some(path) = http_path {
            s += &format!(
                "or over HTTPS (a KMIP request message as XML in request.xml):\n  \
                 curl --cacert {} --cert {} --key {} -H 'Content-Type: text/xml' \
                 --data-binary @request.xml https://{addr}{path}\n",
                c.ca.display(),
                c.cert.display(),
                c.key.display(),
            );
        }
        s += "more client certificates: kmipd certs issue --data-dir DIR --cn NAME --out OUTDIR\n";
    }
    s
}

/// Runs the server until SIGTERM or SIGINT; in-flight requests finish first.
pub fn serve(config: Config) -> Result<(), String> {
    raise_open_files(config.limits.max_connections);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // The port first: a busy or forbidden address fails before anything (a data directory,
    // a master key, certificates) is created on disk.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(config.listen))
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let admin_path = server::admin::socket_path(&config.data_dir);
    let (prepared, admin_listener) = first_start(&config.data_dir, || {
        let prepared = prepare(&config)?;
        let _runtime = runtime.enter();
        let admin_listener = server::admin::bind(&admin_path)
            .map_err(|e| format!("{}: {e}", admin_path.display()))?;
        Ok((prepared, admin_listener))
    })?;
    runtime.block_on(async move {
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let admin_task = tokio::spawn(server::admin::serve(admin_listener, prepared.admin));
        let tls_task = tokio::spawn(reload_tls(config.clone(), prepared.settings.clone()));
        let sweep_task = tokio::spawn(server::sweep_dates(
            prepared.handler.kms.clone(),
            std::time::Duration::from_secs(config.lifecycle.date_sweep_secs),
        ));
        // Before the "listening" line: a SIGTERM sent as soon as it appears must stop the
        // server gracefully, not kill it with the default action.
        let signal = shutdown_signal();
        let shutdown = async {
            signal.await;
            notify_service_manager("STOPPING=1");
        };
        print!(
            "{}",
            connection_help(
                addr,
                &prepared.client,
                prepared.settings.http_path.as_deref()
            )
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        notify_service_manager(&format!("READY=1\nSTATUS=serving KMIP on {addr}"));
        server::run(listener, prepared.settings, prepared.handler, shutdown).await;
        admin_task.abort();
        sweep_task.abort();
        tls_task.abort();
        let _ = std::fs::remove_file(&admin_path);
        Ok(())
    })
}

/// Installs the SIGTERM and SIGINT handlers now, when called (a future's body would install
/// them only when first polled, leaving the default action, death, until then); the future
/// completes on the first of them.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: finishing in-flight requests"),
            _ = int.recv() => tracing::info!("SIGINT: finishing in-flight requests"),
        }
    }
}

/// Tells a service manager how the server stands, through the datagram socket systemd names
/// in `NOTIFY_SOCKET` (`Type=notify`; `docs/kmipd.service`): `READY=1` once the server takes
/// connections, so that units ordered after it (a database that needs its keys at boot)
/// start only then, and `STOPPING=1` when it begins to shut down. Without `NOTIFY_SOCKET` it
/// does nothing; a failure to send is logged, never fatal.
#[cfg(target_os = "linux")]
fn notify_service_manager(state: &str) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = (|| -> std::io::Result<()> {
        // A leading '@' names a socket in the abstract namespace.
        let addr = match socket.as_encoded_bytes().strip_prefix(b"@") {
            Some(name) => SocketAddr::from_abstract_name(name)?,
            None => SocketAddr::from_pathname(&socket)?,
        };
        UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr)?;
        Ok(())
    })();
    match sent {
        Ok(()) => tracing::debug!(state, "service manager notified"),
        Err(e) => tracing::warn!(error = %e, state, "could not notify the service manager"),
    }
}

#[cfg(not(target_os = "linux"))]
fn notify_service_manager(_state: &str) {}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
