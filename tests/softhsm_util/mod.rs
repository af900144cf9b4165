//! A SoftHSM2 fixture for the tests that need a real PKCS#11 token: a temp token directory,
//! its `softhsm2.conf`, a PIN file, and tokens initialised with `softhsm2-util`.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` once, at `C_Initialize`, and a module is initialised once
//! per process, so each test binary creates one fixture (in a `OnceLock`) before any test
//! loads the module. SoftHSM2 is required, not optional: without it the tests fail and say
//! how to install it (`.ci/setup` does it in CI).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub const PIN: &str = "1234";
pub const SO_PIN: &str = "5678";

/// A token directory with its configuration; dropped with the process.
pub struct SoftHsm {
    _dir: tempfile::TempDir,
    pub module: PathBuf,
    pub pin_file: PathBuf,
}

/// The SoftHSM2 module: `KMIPD_TEST_PKCS11_MODULE`, or where Debian and others put it.
pub fn module_path() -> PathBuf {
    if let Some(p) = std::env::var_os("KMIPD_TEST_PKCS11_MODULE") {
        return PathBuf::from(p);
    }
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"))
}

impl SoftHsm {
    /// Creates the token directory, points `SOFTHSM2_CONF` at it, sets each `(name, value)`
    /// of `env`, and initialises one token per label with [`PIN`].
    ///
    /// # Safety (of the environment writes inside)
    /// Call it once per process, inside a `OnceLock`, before any test of the binary has
    /// loaded the module or reads the environment: every test reaches the fixture first.
    pub fn create(labels: &[&str], env: &[(&str, &str)]) -> SoftHsm {
        let module = module_path();
        assert!(
            module.is_file(),
            "SoftHSM2 module {} not found: install it with `apt-get install softhsm2` \
             (or run .ci/setup), or set KMIPD_TEST_PKCS11_MODULE",
            module.display()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("mkdir tokens");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("write softhsm2.conf");
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, format!("{PIN}\n")).expect("write pin");
        // SAFETY: see the doc comment: once per process, before any other thread reads the
        // environment or loads the module.
        unsafe {
            std::env::set_var("SOFTHSM2_CONF", &conf);
            for (name, value) in env {
                std::env::set_var(name, value);
            }
        }
        for label in labels {
            init_token(label);
        }
        SoftHsm {
            _dir: dir,
            module,
            pin_file,
        }
    }
}

fn init_token(label: &str) {
    let out = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            PIN,
            "--so-pin",
            SO_PIN,
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "softhsm2-util could not run ({e}): SoftHSM2 is required for these tests; \
                 install it with `apt-get install softhsm2` (or run .ci/setup)"
            )
        });
    assert!(
        out.status.success(),
        "softhsm2-util --init-token {label} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
