//! `kmipd init --hsm` and `kmipd serve` with the `pkcs11` master key provider, run as an
//! operator runs them: the real binary, a TOML configuration (`--config`), a fresh SoftHSM2
//! token (`tests/softhsm_util`), and the token inspected afterwards through `cryptoki` from
//! this process, logged in with the PIN.
//!
//! Each test has its own token, so that the tests may run in parallel and a login in one
//! (the token's login state is per process, and this process logs in to inspect) says
//! nothing about another. The children find the token directory through `SOFTHSM2_CONF`,
//! which the fixture sets and every child is given explicitly.

mod daemon_util;
mod softhsm_util;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use daemon_util::{Daemon, START_PATIENCE};
use softhsm_util::{PIN, SoftHsm};

/// `init --hsm`, the second `init --hsm`, `serve`.
const INIT_TOKEN: &str = "cli-init";
/// A token without a master key: `serve` must refuse.
const EMPTY_TOKEN: &str = "cli-empty";
/// The wrong-PIN token (nothing else logs in to it from a child).
const PIN_TOKEN: &str = "cli-pin";
/// `key_label` in the configuration; the token object of version 1 is `<KEY_LABEL>-v1`.
const KEY_LABEL: &str = "cli-master";

fn hsm() -> &'static SoftHsm {
    static HSM: OnceLock<SoftHsm> = OnceLock::new();
    HSM.get_or_init(|| SoftHsm::create(&[INIT_TOKEN, EMPTY_TOKEN, PIN_TOKEN], &[]))
}

/// A configuration file and an empty data directory in a temp directory.
struct Case {
    dir: tempfile::TempDir,
    config: PathBuf,
    data_dir: PathBuf,
}

/// A TOML basic string for a path (the temp paths need no escapes; refuse any that would).
fn toml_path(p: &Path) -> String {
    let s = p.to_str().expect("UTF-8 path");
    assert!(!s.contains(['"', '\\']), "path needs TOML escapes: {s}");
    format!("\"{s}\"")
}

/// A configuration selecting the pkcs11 provider; `pin` is the `pin_env`/`pin_file` line.
fn case(module: &Path, token: &str, pin: &str) -> Case {
    hsm();
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let config = dir.path().join("kmipd.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n\
             data_dir = {}\n\
             \n\
             [master_key]\n\
             provider = \"pkcs11\"\n\
             \n\
             [master_key.pkcs11]\n\
             module = {}\n\
             token_label = \"{token}\"\n\
             {pin}\n\
             key_label = \"{KEY_LABEL}\"\n",
            toml_path(&data_dir),
            toml_path(module),
        ),
    )
    .expect("write config");
    Case {
        dir,
        config,
        data_dir,
    }
}

/// The usual configuration: SoftHSM2's module, the PIN from the fixture's PIN file.
fn good_case(token: &str) -> Case {
    let hsm = hsm();
    case(
        &hsm.module,
        token,
        &format!("pin_file = {}", toml_path(&hsm.pin_file)),
    )
}

/// `kmipd ARGS --config C`, with the fixture's SoftHSM2 configuration.
fn kmipd(case: &Case, args: &[&str]) -> Command {
    let conf = std::env::var_os("SOFTHSM2_CONF").expect("the fixture sets SOFTHSM2_CONF");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kmipd"));
    cmd.args(args)
        .arg("--config")
        .arg(&case.config)
        .env("SOFTHSM2_CONF", conf)
        .env("KMIPD_LOG", "info");
    cmd
}

struct Outcome {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs a command that should finish on its own (bounded: a hang fails the test).
fn run(case: &Case, mut cmd: Command) -> Outcome {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = case.dir.path().join(format!("run-{n}.out"));
    let err = case.dir.path().join(format!("run-{n}.err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("kmipd runs");
    let deadline = Instant::now() + START_PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {START_PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let outcome = Outcome {
        status,
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
    };
    println!("{cmd:?}: {outcome}");
    outcome
}

/// Asserts a failure whose one error line (`kmipd: ...`, the last line of stderr) contains
/// every one of `needles`; returns that line.
fn assert_fails_saying(outcome: &Outcome, needles: &[&str]) -> String {
    assert!(!outcome.status.success(), "expected a failure: {outcome}");
    assert_eq!(outcome.status.code(), Some(1), "{outcome}");
    let line = outcome
        .stderr
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(line.starts_with("kmipd: "), "{outcome}");
    for needle in needles {
        assert!(line.contains(needle), "{needle:?} not in {line:?}");
    }
    line
}

/// What this process sees of one secret key in a token.
#[derive(Debug)]
struct TokenKey {
    label: String,
    key_type: Option<KeyType>,
    bits: Option<u64>,
    sensitive: Option<bool>,
    extractable: Option<bool>,
    always_sensitive: Option<bool>,
    never_extractable: Option<bool>,
    value_readable: bool,
    /// A fixed 32-byte session key wrapped under this key (RFC 5649 is deterministic): the
    /// same bytes later mean the same key, not a replacement with the same label.
    fingerprint: Vec<u8>,
}

/// This process's view of the tokens, through the same module the children load.
fn pkcs11() -> &'static Pkcs11 {
    static CTX: OnceLock<Pkcs11> = OnceLock::new();
    CTX.get_or_init(|| {
        let ctx = Pkcs11::new(&hsm().module).expect("load the SoftHSM2 module");
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .expect("C_Initialize");
        ctx
    })
}

/// Every secret key object in `token`, seen by a session logged in with the user PIN.
fn token_keys(token: &str) -> Vec<TokenKey> {
    // One inspection at a time (SoftHSM2 rescans its token directory in C_GetSlotList).
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let ctx = pkcs11();
    let slot = ctx
        .get_slots_with_token()
        .expect("C_GetSlotList")
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .expect("C_GetTokenInfo")
                .label()
                .trim_end()
                == token
        })
        .unwrap_or_else(|| panic!("token {token} not found"));
    let session = ctx.open_rw_session(slot).expect("C_OpenSession");
    match session.login(UserType::User, Some(&AuthPin::new(PIN.into()))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("C_Login: {e}"),
    }
    let handles = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Token(true),
        ])
        .expect("C_FindObjects");
    let mut keys = Vec::new();
    for handle in handles {
        let mut key = TokenKey {
            label: String::new(),
            key_type: None,
            bits: None,
            sensitive: None,
            extractable: None,
            always_sensitive: None,
            never_extractable: None,
            value_readable: false,
            fingerprint: Vec::new(),
        };
        let attrs = session
            .get_attributes(
                handle,
                &[
                    AttributeType::Label,
                    AttributeType::KeyType,
                    AttributeType::ValueLen,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                ],
            )
            .expect("C_GetAttributeValue");
        for attr in attrs {
            match attr {
                Attribute::Label(l) => key.label = String::from_utf8_lossy(&l).into_owned(),
                Attribute::KeyType(t) => key.key_type = Some(t),
                Attribute::ValueLen(l) => key.bits = Some(u64::from(l) * 8),
                Attribute::Sensitive(b) => key.sensitive = Some(b),
                Attribute::Extractable(b) => key.extractable = Some(b),
                Attribute::AlwaysSensitive(b) => key.always_sensitive = Some(b),
                Attribute::NeverExtractable(b) => key.never_extractable = Some(b),
                other => panic!("unexpected {other:?}"),
            }
        }
        // A sensitive CKA_VALUE is refused, or left out of the answer.
        key.value_readable = matches!(
            session.get_attributes(handle, &[AttributeType::Value]),
            Ok(v) if v.iter().any(|a| matches!(a, Attribute::Value(_)))
        );
        let carrier = session
            .create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Token(false),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::Value(vec![0x5a; 32]),
            ])
            .expect("C_CreateObject");
        key.fingerprint = session
            .wrap_key(&Mechanism::AesKeyWrapPad, handle, carrier)
            .unwrap_or_else(|e| panic!("C_WrapKey under '{}': {e}", key.label));
        session.destroy_object(carrier).expect("C_DestroyObject");
        keys.push(key);
    }
    keys
}

/// The one key `init --hsm` made: the configured label, AES-256, sensitive, never
/// extractable, its value unreadable.
fn assert_master_key(keys: &[TokenKey]) {
    let [key] = keys else {
        panic!("want exactly one key in the token, found {keys:#?}");
    };
    assert_eq!(key.label, format!("{KEY_LABEL}-v1"), "{key:?}");
    assert_eq!(key.key_type, Some(KeyType::AES), "{key:?}");
    assert_eq!(key.bits, Some(256), "{key:?}");
    assert_eq!(key.sensitive, Some(true), "{key:?}");
    assert_eq!(key.extractable, Some(false), "{key:?}");
    assert_eq!(key.always_sensitive, Some(true), "{key:?}");
    assert_eq!(key.never_extractable, Some(true), "{key:?}");
    assert!(!key.value_readable, "CKA_VALUE readable: {key:?}");
    assert_eq!(key.fingerprint.len(), 40, "{key:?}");
}

#[test]
fn init_hsm_creates_the_key_once_and_serve_starts_with_it() {
    let case = good_case(INIT_TOKEN);
    assert!(token_keys(INIT_TOKEN).is_empty(), "a fresh token");

    // 1. The key is created, with the attributes issue 3 asks for, and the data directory
    //    is prepared with it.
    let first = run(&case, kmipd(&case, &["init", "--hsm"]));
    assert!(first.status.success(), "{first}");
    for needle in [
        &format!("'{KEY_LABEL}-v1'"),
        &format!("token '{INIT_TOKEN}'"),
        &format!("initialised {}", case.data_dir.display()),
    ] {
        assert!(
            first.stdout.contains(needle.as_str()),
            "{needle:?} in {first}"
        );
    }
    let keys = token_keys(INIT_TOKEN);
    assert_master_key(&keys);
    let fingerprint = keys[0].fingerprint.clone();
    assert!(case.data_dir.join("kmipd.redb").is_file(), "store created");

    // 2. A second `init --hsm` refuses, says why and what to do instead, and leaves the one
    //    key as it was: no second key under the label, no replacement.
    let second = run(&case, kmipd(&case, &["init", "--hsm"]));
    assert_fails_saying(
        &second,
        &[
            &format!("token '{INIT_TOKEN}'"),
            &format!("'{KEY_LABEL}-v1'"),
            "kmipd master-key rotate",
        ],
    );
    let keys = token_keys(INIT_TOKEN);
    assert_master_key(&keys);
    assert_eq!(keys[0].fingerprint, fingerprint, "the key was replaced");

    // `kmipd init` without --hsm (what the refusal points to) uses the existing key.
    let plain = run(&case, kmipd(&case, &["init"]));
    assert!(plain.status.success(), "{plain}");

    // 3. `serve` starts with that key: it unwraps the store key `init` wrapped under it,
    //    listens, and stops cleanly on SIGTERM. The signal follows the "listening" line at
    //    once, so this also checks that the handlers are installed by then (they were not:
    //    about one start in four died of the signal's default action).
    let log = case.dir.path().join("serve.log");
    let daemon = Daemon::spawn(kmipd(&case, &["serve"]), log.clone());
    let status = daemon.stop();
    assert!(
        status.success(),
        "{status}; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let keys = token_keys(INIT_TOKEN);
    assert_master_key(&keys);
    assert_eq!(keys[0].fingerprint, fingerprint, "serve changed the key");
}

#[test]
fn serve_without_the_key_names_it_and_says_to_run_init_hsm() {
    let case = good_case(EMPTY_TOKEN);
    let outcome = run(&case, kmipd(&case, &["serve"]));
    assert_fails_saying(
        &outcome,
        &[
            &format!("'{KEY_LABEL}-v1'"),
            &format!("token '{EMPTY_TOKEN}'"),
            "kmipd init --hsm",
        ],
    );
    assert!(
        !outcome.stdout.contains("listening"),
        "it must not listen: {outcome}"
    );
    // Starting never creates a master key.
    assert!(token_keys(EMPTY_TOKEN).is_empty());
}

#[test]
fn wrong_pin_names_the_token_and_the_pin_source() {
    let case = case(&hsm().module, PIN_TOKEN, "pin_env = \"KMIPD_CLI_HSM_PIN\"");
    for args in [&["init", "--hsm"][..], &["serve"]] {
        let mut cmd = kmipd(&case, args);
        cmd.env("KMIPD_CLI_HSM_PIN", "0000");
        let outcome = run(&case, cmd);
        assert_fails_saying(
            &outcome,
            &[
                &format!("token '{PIN_TOKEN}'"),
                "CKR_PIN_INCORRECT",
                "$KMIPD_CLI_HSM_PIN",
            ],
        );
    }
    assert!(token_keys(PIN_TOKEN).is_empty(), "no key without a login");
}

#[test]
fn missing_module_names_the_path_and_the_setting() {
    let missing = PathBuf::from("/nonexistent/kmipd-test/libpkcs11.so");
    let hsm = hsm();
    let case = case(
        &missing,
        INIT_TOKEN,
        &format!("pin_file = {}", toml_path(&hsm.pin_file)),
    );
    for args in [&["init", "--hsm"][..], &["serve"]] {
        let outcome = run(&case, kmipd(&case, args));
        assert_fails_saying(
            &outcome,
            &[&missing.display().to_string(), "[master_key.pkcs11] module"],
        );
    }
}
