//! The local administration socket, `DATA_DIR/admin.sock`: how `kmipd backup`,
//! `kmipd master-key rotate` and `kmipd store-key rotate` reach a *running* server, which holds
//! the store open (redb allows one process per database).
//!
//! The socket is created with mode 0600 inside the 0700 data directory, so only the server's
//! own user can use it. The protocol is lines of text: the client sends one command line —
//! `backup <absolute path>`, `rotate-master-key`, `rotate-store-key`,
//! `audit-verify [<head>]` or `audit-show <from> <limit> text|json` — and the server answers
//! with any number of `progress <done> <total>` and `line <text>` lines, then `ok <message>`
//! or `error <message>`, and closes. Nothing secret ever crosses it.
//!
//! Each command is itself audited (principal `admin`: whoever can open the socket is the
//! server's own user).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{info, warn};

use crate::audit::{AuditEvent, AuditRecord, ChainHead};
use crate::crypto::MasterKeyProvider;
use crate::store::redb::{audit_records_in, verify_audit_in};
use crate::store::{KeyringSealer, ObjectStore, RedbStore, admin};

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
    let result = run_command(command, target, progress);
    let name = command.split(' ').next().unwrap_or("");
    if matches!(
        name,
        "backup" | "rotate-master-key" | "rotate-store-key" | "audit-verify" | "audit-show"
    ) {
        let event = AuditEvent {
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            principal: "admin".into(),
            operation: name.to_string(),
            unique_identifiers: Vec::new(),
            result_status: if result.is_ok() {
                "Success"
            } else {
                "Operation Failed"
            }
            .into(),
            result_reason: result.as_ref().err().map(|_| "General Failure".to_string()),
            client_correlation_value: None,
            server_correlation_value: None,
        };
        if let Err(e) = target.store.record(vec![event]) {
            warn!(error = %e, "audit record of an administration command was lost");
        }
    }
    result
}

fn run_command(
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
            let r = admin::rotate_master_key(
                target.store.database().map_err(|e| e.to_string())?,
                target.provider.as_ref(),
            )
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
        ("audit-verify", anchor) => {
            let anchor = match anchor {
                "" => None,
                h => Some(h.parse::<ChainHead>().map_err(|e| e.to_string())?),
            };
            audit_verify(target.store.database().map_err(|e| e.to_string())?, anchor)
        }
        ("audit-show", rest) => {
            let mut parts = rest.split(' ');
            let (Some(Ok(from)), Some(Ok(limit)), Some(format)) = (
                parts.next().map(str::parse::<u64>),
                parts.next().map(str::parse::<usize>),
                parts.next(),
            ) else {
                return Err("audit-show needs <from> <limit> text|json".into());
            };
            audit_show(
                target.store.database().map_err(|e| e.to_string())?,
                from,
                limit,
                format == "json",
                |line| {
                    let _ = progress.send(format!("line {line}\n"));
                },
            )
        }
        _ => Err(format!("unknown command {command:?}")),
    }
}

/// Verifies the audit chain of `db` against its stored head and, when given, against an
/// anchored head taken earlier (which also catches a log cut back or rewritten from the
/// start, which the chain alone cannot show).
pub fn audit_verify(db: &redb::Database, anchor: Option<ChainHead>) -> Result<String, String> {
    let report = verify_audit_in(db).map_err(|e| e.to_string())?;
    if let Some(anchor) = anchor {
        if anchor.next_sequence > report.head.next_sequence {
            return Err(format!(
                "the audit log ends at {} but the anchored head {anchor} is later: records were removed",
                report.head
            ));
        }
        if anchor.next_sequence > 1 {
            let seq = anchor.next_sequence - 1;
            let record = audit_records_in(db, seq, 1).map_err(|e| e.to_string())?;
            let hash = match record.first() {
                Some((s, bytes)) if *s == seq => {
                    AuditRecord::from_bytes(seq, bytes)
                        .map_err(|e| e.to_string())?
                        .hash
                }
                _ => return Err(format!("audit record {seq} is missing")),
            };
            if hash != anchor.last_hash {
                return Err(format!(
                    "audit record {seq} does not match the anchored head {anchor}: the log was rewritten"
                ));
            }
        }
    }
    Ok(format!(
        "audit log intact: {} records; head {}{}",
        report.records,
        report.head,
        if anchor.is_some() {
            " (passes through the anchored head)"
        } else {
            ""
        }
    ))
}

/// Emits audit records `from` onwards (at most `limit`) as text or JSON lines.
pub fn audit_show(
    db: &redb::Database,
    from: u64,
    limit: usize,
    json: bool,
    mut emit: impl FnMut(String),
) -> Result<String, String> {
    let records = audit_records_in(db, from, limit).map_err(|e| e.to_string())?;
    let n = records.len();
    for (seq, bytes) in records {
        let record = AuditRecord::from_bytes(seq, &bytes).map_err(|e| e.to_string())?;
        emit(if json {
            record.to_json_line()
        } else {
            record.to_string()
        });
    }
    Ok(format!("{n} audit records"))
}

pub fn backup_message(r: &admin::BackupReport) -> String {
    format!(
        "backup written to {}: {} objects, {} store keys, {} audit records (chain verified, head {}; key material stays sealed; the master key is NOT in the backup)",
        r.file.display(),
        r.objects,
        r.store_keys,
        r.audit_records,
        r.audit_head
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
    on_progress: impl FnMut(u64, u64),
) -> Result<Option<String>, String> {
    request_with_lines(data_dir, command, on_progress, |_| {})
}

/// [`request`], with the `line` output of a command (`audit-show`) given to `on_line`.
pub fn request_with_lines(
    data_dir: &Path,
    command: &str,
    mut on_progress: impl FnMut(u64, u64),
    mut on_line: impl FnMut(&str),
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
        } else if let Some(text) = line.strip_prefix("line ") {
            on_line(text);
        } else if let Some(message) = line.strip_prefix("ok ") {
            return Ok(Some(message.to_string()));
        } else if let Some(message) = line.strip_prefix("error ") {
            return Err(message.to_string());
        }
    }
    Err("the server closed the administration socket without an answer".into())
}
