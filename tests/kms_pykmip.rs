//! PyKMIP interoperability: the real `kmipd` binary, started as a user would start it
//! (`kmipd serve --data-dir DIR --listen 127.0.0.1:0`), driven by PyKMIP's `ProxyKmipClient`
//! in `tests/pykmip/interop.py` with KMIP 1.0, 1.2 (PyKMIP's default), 1.4 and 2.0.
//!
//! The script checks real results (bytes read back equal the bytes registered, states after
//! each lifecycle step, paged Locate, another principal refused) and prints one line per
//! step; this test shows those lines and fails on any failed step. `tests/pykmip/https.py`
//! runs PyKMIP's messages over KMIP over HTTPS on the same port, with Python's HTTP client.
//!
//! It needs the virtual environment that `.ci/setup` creates at `target/pykmip-venv` (or a
//! Python with PyKMIP at `$KMIPD_PYKMIP_PYTHON`). Without it the test fails and says so:
//! interop that silently does not run is no interop test.

mod daemon_util;

use daemon_util::{Daemon, START_PATIENCE};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Bound on one run of the Python script (it takes a couple of seconds when unloaded).
const SCRIPT_PATIENCE: Duration = Duration::from_secs(180);

const KMIP_VERSIONS: [&str; 4] = ["1.2", "2.0", "1.0", "1.4"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python interpreter with PyKMIP, or a failure telling how to get one.
fn python() -> PathBuf {
    let python = std::env::var_os("KMIPD_PYKMIP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/pykmip-venv/bin/python"));
    assert!(
        python.exists(),
        "no Python with PyKMIP at {}: run .ci/setup first (or set KMIPD_PYKMIP_PYTHON)",
        python.display()
    );
    let probe = Command::new(&python)
        .args(["-c", "import kmip.pie.client"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        probe.status.success(),
        "{} cannot import PyKMIP: run .ci/setup first\n{}",
        python.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    python
}

/// Runs `command` to completion, killing it after `patience`.
fn run_bounded(mut command: Command, patience: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("command starts");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let out = child.wait_with_output();
        let _ = tx.send(());
        out
    });
    if rx.recv_timeout(patience).is_err() {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        let out = waiter.join().unwrap().unwrap();
        panic!(
            "timed out after {patience:?}; output so far:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    waiter.join().unwrap().expect("command ran")
}

/// `python tests/pykmip/SCRIPT` against `daemon` with KMIP `version`, as the development
/// client whose certificates are in `certs`.
fn script(python: &Path, name: &str, daemon: &Daemon, certs: &Path, version: &str) -> Command {
    let (host, port) = daemon.host_port();
    let mut script = Command::new(python);
    script
        .arg(repo().join("tests/pykmip").join(name))
        .args(["--host", host, "--port", port, "--version", version])
        .arg("--ca")
        .arg(certs.join("ca.pem"))
        .arg("--cert")
        .arg(certs.join("client.pem"))
        .arg("--key")
        .arg(certs.join("client.key"));
    script
}

/// Runs a script (bounded), prints what it printed under `title`, and gives its `FAIL` lines
/// (none if it succeeded) and how many steps were ok.
fn run_script(script: Command, title: &str) -> (Vec<String>, usize) {
    let out = run_bounded(script, SCRIPT_PATIENCE);
    println!("--- {title} ---");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.trim().is_empty() {
        println!("(stderr)\n{stderr}");
    }
    let mut failed: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with("FAIL "))
        .map(str::to_string)
        .collect();
    if !out.status.success() && failed.is_empty() {
        failed.push(format!("exit status {}", out.status));
    }
    let ok = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    (failed, ok)
}

#[test]
fn pykmip_proxy_client_against_kmipd() {
    /// The steps of `interop.py` (create, fresh, three registers, encrypt, ..., rekey, the
    /// lifecycle, another principal).
    const INTEROP_STEPS: usize = 17;
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let daemon = Daemon::start(&data, dir.path().join("kmipd.log"));
    let certs = data.join("certs");

    // A second client, to check that one principal cannot use another's objects.
    let other = dir.path().join("other");
    let mut issue = Command::new(env!("CARGO_BIN_EXE_kmipd"));
    issue
        .args(["certs", "issue", "--data-dir"])
        .arg(&data)
        .args(["--cn", "other-app", "--out"])
        .arg(&other);
    let issued = run_bounded(issue, START_PATIENCE);
    assert!(
        issued.status.success(),
        "kmipd certs issue failed: {}",
        String::from_utf8_lossy(&issued.stderr)
    );

    let mut failed = Vec::new();
    for version in KMIP_VERSIONS {
        let mut interop = script(&python, "interop.py", &daemon, &certs, version);
        interop
            .args(["--tag", "interop"])
            .arg("--other-cert")
            .arg(other.join("other-app.pem"))
            .arg("--other-key")
            .arg(other.join("other-app.key"));
        // Every step runs in every version (a step that a version lacks says so and passes):
        // a step skipped because an earlier one failed must not go unseen.
        let (steps, ok) = run_script(interop, &format!("PyKMIP with KMIP {version}"));
        if !steps.is_empty() || ok != INTEROP_STEPS {
            failed.push(format!(
                "KMIP {version}: {ok} of {INTEROP_STEPS} steps ok, {steps:?}"
            ));
        }
    }

    let status = daemon.stop();
    assert!(
        failed.is_empty(),
        "PyKMIP steps failed (full output above):\n{}",
        failed.join("\n")
    );
    assert!(
        status.success(),
        "kmipd did not exit cleanly on SIGTERM: {status}"
    );
}

/// KMIP over HTTPS on the same port (`tests/pykmip/https.py`): PyKMIP's `ProxyKmipClient`
/// operations and its TTLV encoder and decoder, with Python's `http.client` as the transport
/// (each request POSTed to `/kmip` on one kept-alive mutually authenticated connection),
/// plus an XML and a JSON body and a refused `GET`, in KMIP 1.2, 1.4 and 2.0.
#[test]
fn pykmip_messages_over_https_against_kmipd() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let daemon = Daemon::start(&data, dir.path().join("kmipd.log"));
    let certs = data.join("certs");
    let mut failed = Vec::new();
    for version in ["1.2", "2.0", "1.4"] {
        let mut https = script(&python, "https.py", &daemon, &certs, version);
        https.args(["--tag", "https"]);
        let title = format!("PyKMIP over HTTPS with KMIP {version}");
        let (steps, ok) = run_script(https, &title);
        if !steps.is_empty() || ok != 8 {
            failed.push(format!("KMIP {version}: {ok} of 8 steps ok, {steps:?}"));
        }
    }
    let status = daemon.stop();
    assert!(
        failed.is_empty(),
        "HTTPS steps failed (output above): {failed:?}"
    );
    assert!(status.success(), "kmipd did not exit cleanly: {status}");
}
