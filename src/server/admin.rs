//! The local administration socket, `DATA_DIR/admin.sock`: how `kmipd backup`,
//! `kmipd master-key rotate` and `kmipd store-key rotate` reach a *running* server, which holds
//! the store open (redb allows one process per database).
//!
//! The socket is created with mode 0600 inside the 0700 data directory, so only the server's
//! own user can use it. The protocol is lines of text: the client sends one command line —
//! `backup <absolute path>`, `rotate-master-key` or `rotate-store-key` — and the server answers
//! with any number of `progress <done> <total>` lines, then `ok <message>` or
//! `error <message>`, and closes. Nothing secret ever crosses it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{info, warn};

use crate::crypto::MasterKeyProvider;
use crate::store::{KeyringSealer, RedbStore, admin};

/// The socket's path in a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// What the administration commands act on.
#[derive(Clone)]
pub struct AdminTarget {
    pub store: Arc<RedbStore>,
    pub sealer: Arc<KeyringSealer>,
    pub provider: Arc<dyn MasterKeyProvider>,
}

/// Binds the socket (replacing a stale one), readable and writable by the owner only.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves administration commands until the task is dropped.
pub async fn serve(listener: UnixListener, target: AdminTarget) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let target = target.clone();
                tokio::spawn(async move {
                    if let Err(e) = handle(stream, target).await {
                        warn!(error = %e, "administration connection failed");
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "administration socket accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(stream: UnixStream, target: AdminTarget) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(4096)).read_line(&mut line).await?;
    let command = line.trim().to_string();
    info!(%command, "administration command");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let job = tokio::task::spawn_blocking(move || run(&command, &target, &tx));
    while let Some(progress) = rx.recv().await {
        write.write_all(progress.as_bytes()).await?;
    }
    let answer = match job.await {
        Ok(Ok(message)) => format!("ok {message}\n"),
        Ok(Err(message)) => format!("error {message}\n"),
        Err(e) => format!("error the command failed: {e}\n"),
    };
    write.write_all(answer.as_bytes()).await?;
    write.shutdown().await
}

fn run(
    command: &str,
    target: &AdminTarget,
    progress: &tokio::sync::mpsc::UnboundedSender<String>,
) -> Result<String, String> {
    match command.split_once(' ').unwrap_or((command, "")) {
        ("backup", path) if Path::new(path).is_absolute() => {
            let r = admin::backup(&target.store, Path::new(path)).map_err(|e| e.to_string())?;
            Ok(backup_message(&r))
        }
        ("backup", _) => Err("backup needs an absolute path".into()),
        ("rotate-master-key", "") => {
            let r = admin::rotate_master_key(target.store.database(), target.provider.as_ref())
                .map_err(|e| e.to_string())?;
            Ok(master_message(&r))
        }
        ("rotate-store-key", "") => {
            let r = admin::rotate_store_key(
                &target.store,
                &target.sealer,
                target.provider.as_ref(),
                |done, total| {
                    let _ = progress.send(format!("progress {done} {total}\n"));
                },
            )
            .map_err(|e| e.to_string())?;
            Ok(store_key_message(&r))
        }
        _ => Err(format!("unknown command {command:?}")),
    }
}

pub fn backup_message(r: &admin::BackupReport) -> String {
    format!(
        "backup written to {}: {} objects, {} store keys (key material stays sealed; the master key is NOT in the backup)",
        r.file.display(),
        r.objects,
        r.store_keys
    )
}

pub fn master_message(r: &admin::MasterRotationReport) -> String {
    format!(
        "master key is now version {}; {} store keys re-wrapped",
        r.master_version, r.store_keys_rewrapped
    )
}

pub fn store_key_message(r: &admin::StoreRotationReport) -> String {
    format!(
        "store key v{}: {} objects re-sealed{}",
        r.store_key_version,
        r.resealed,
        if r.resumed {
            " (resumed an interrupted rotation)"
        } else {
            ""
        }
    )
}

/// Sends one command to a running server. `Ok(None)` when no server listens (the caller then
/// works on the store directly); progress lines go to `on_progress`.
pub fn request(
    data_dir: &Path,
    command: &str,
    mut on_progress: impl FnMut(u64, u64),
) -> Result<Option<String>, String> {
    use std::io::{BufRead, Write};
    let path = socket_path(data_dir);
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    stream
        .write_all(format!("{command}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    for line in std::io::BufReader::new(stream).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some(rest) = line.strip_prefix("progress ") {
            let mut n = rest.split(' ').filter_map(|x| x.parse::<u64>().ok());
            if let (Some(done), Some(total)) = (n.next(), n.next()) {
                on_progress(done, total);
            }
        } else if let Some(message) = line.strip_prefix("ok ") {
            return Ok(Some(message.to_string()));
        } else if let Some(message) = line.strip_prefix("error ") {
            return Err(message.to_string());
        }
    }
    Err("the server closed the administration socket without an answer".into())
}
