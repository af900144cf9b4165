//! A `kmipd serve` child process for tests that use the binary as an operator would.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bound on the server's start and stop, generous for a loaded two-core machine.
pub const START_PATIENCE: Duration = Duration::from_secs(60);

/// A running `kmipd serve`, stopped with SIGTERM when dropped.
pub struct Daemon {
    /// `None` once stopped.
    pub child: Option<Child>,
    pub addr: String,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(data_dir: &Path, log: PathBuf) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kmipd"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info");
        Daemon::spawn(cmd, log)
    }

    /// Starts `cmd` (a `kmipd serve` with its arguments and environment; it should listen on
    /// port 0) and waits until it reports its address. Its standard error goes to `log`.
    pub fn spawn(mut cmd: Command, log: PathBuf) -> Daemon {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("kmipd starts");
        // The first line names the bound address; a thread keeps draining stdout after it.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                println!("kmipd: {line}");
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START_PATIENCE;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("kmipd is listening on ") {
                        break rest.split_whitespace().next().unwrap().to_string();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "kmipd did not report listening within {START_PATIENCE:?}; log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        };
        Daemon {
            child: Some(child),
            addr,
            log,
        }
    }

    pub fn host_port(&self) -> (&str, &str) {
        self.addr.rsplit_once(':').expect("address has a port")
    }

    /// SIGTERM, then waits (bounded) for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        terminate(self.child.as_mut().unwrap())
            .inspect(|_| self.child = None)
            .expect("kmipd stops on SIGTERM")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A child left here means a test failed before stop(): leave nothing running.
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = child.kill();
        let _ = child.wait();
        eprintln!(
            "kmipd log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

/// SIGTERM, then its exit status, or an error if it is still running after the patience.
pub fn terminate(child: &mut Child) -> Result<std::process::ExitStatus, String> {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIGTERM could not be sent");
    let deadline = Instant::now() + START_PATIENCE;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "kmipd did not stop within {START_PATIENCE:?} of SIGTERM"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the `kmipd` binary with `args`, which must succeed; its standard output.
pub fn kmipd(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(args)
        .output()
        .expect("kmipd runs");
    assert!(
        out.status.success(),
        "kmipd {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
