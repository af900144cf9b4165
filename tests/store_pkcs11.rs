//! The redb store suite with the PKCS#11 master key provider on a SoftHSM2 token (the
//! token set-up mirrors `tests/crypto_pkcs11.rs`: one temp token directory per binary).

mod store_common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use kmipd::crypto::{PinSource, Pkcs11Config, Pkcs11MasterKey, TokenSelector};
use store_common::Subject;

const TOKEN: &str = "kmipd-store";

struct Hsm {
    _dir: tempfile::TempDir,
    module: PathBuf,
    pin_file: PathBuf,
}

fn module_path() -> PathBuf {
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

fn hsm() -> &'static Hsm {
    static HSM: OnceLock<Hsm> = OnceLock::new();
    HSM.get_or_init(|| {
        let module = module_path();
        assert!(
            module.is_file(),
            "SoftHSM2 module {} not found: install it with `apt-get install softhsm2` \
             (or run .ci/softhsm.sh), or set KMIPD_TEST_PKCS11_MODULE",
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
        std::fs::write(&pin_file, "1234\n").expect("write pin");
        // SAFETY: runs once inside the OnceLock, before any test of this binary loads the
        // module or reads the environment: every test calls `hsm()` first.
        unsafe {
            std::env::set_var("SOFTHSM2_CONF", &conf);
        }
        let out = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                TOKEN,
                "--pin",
                "1234",
                "--so-pin",
                "5678",
            ])
            .output()
            .expect("softhsm2-util runs (install softhsm2)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Hsm {
            _dir: dir,
            module,
            pin_file,
        }
    })
}

fn fresh() -> Subject {
    static N: AtomicU32 = AtomicU32::new(0);
    let hsm = hsm();
    let provider = Pkcs11MasterKey::init(Pkcs11Config {
        module: hsm.module.clone(),
        token: TokenSelector::Label(TOKEN.into()),
        pin: PinSource::File(hsm.pin_file.clone()),
        key_label: format!("store-{}", N.fetch_add(1, Ordering::Relaxed)),
    })
    .expect("init token key");
    Subject {
        provider: Box::new(provider),
        dir: tempfile::tempdir().expect("tempdir"),
        _guard: Box::new(()),
    }
}

store_suite!(fresh);
