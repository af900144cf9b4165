//! The PKCS#11 master key provider against a real SoftHSM2 token: the shared key-store
//! suite, `init`'s key attributes, and the start-up errors that must say what to fix.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` once, at `C_Initialize`, and a module is initialised
//! once per process, so this binary shares one fixture: a temp token directory with two
//! tokens, created with `softhsm2-util` before any test loads the module. Tests keep out
//! of each other's way with distinct key labels; the wrong-PIN test has its own token,
//! because PKCS#11 login is per application and token (a logged-in token would accept
//! any later session without a PIN check).
//!
//! SoftHSM2 is required, not optional: without it these tests fail and say how to install
//! it (`.ci/softhsm.sh` does it in CI).

mod crypto_common;
mod softhsm_util;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crypto_common::Subject;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use kmipd::crypto::{
    CryptoError, MasterKeyProvider, PinSource, Pkcs11Config, Pkcs11MasterKey, TokenSelector,
};
use softhsm_util::{PIN, SoftHsm};

const TOKEN: &str = "kmipd-test";
const PIN_TOKEN: &str = "kmipd-pin";

fn hsm() -> &'static SoftHsm {
    static HSM: OnceLock<SoftHsm> = OnceLock::new();
    HSM.get_or_init(|| {
        SoftHsm::create(
            &[TOKEN, PIN_TOKEN],
            &[
                ("KMIPD_TEST_HSM_PIN", PIN),
                ("KMIPD_TEST_HSM_BADPIN", "0000"),
            ],
        )
    })
}

fn config(key_label: &str) -> Pkcs11Config {
    let hsm = hsm();
    Pkcs11Config {
        module: hsm.module.clone(),
        token: TokenSelector::Label(TOKEN.into()),
        pin: PinSource::File(hsm.pin_file.clone()),
        key_label: key_label.into(),
    }
}

fn unique_label(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed))
}

fn fresh() -> Subject {
    let provider = Pkcs11MasterKey::init(config(&unique_label("suite"))).expect("init");
    Subject {
        provider: Box::new(provider),
        _guard: Box::new(()),
    }
}

key_store_suite!(fresh);

#[test]
fn init_creates_a_non_extractable_sensitive_token_key() {
    let label = unique_label("attrs");
    let p = Pkcs11MasterKey::init(config(&label)).expect("init");
    assert_eq!(p.current_version(), 1);
    let handle = p.key_handle(1).expect("handle");
    let attrs = p
        .with_session(|s| {
            s.get_attributes(
                handle,
                &[
                    AttributeType::Class,
                    AttributeType::KeyType,
                    AttributeType::ValueLen,
                    AttributeType::Label,
                    AttributeType::Token,
                    AttributeType::Private,
                    AttributeType::Sensitive,
                    AttributeType::AlwaysSensitive,
                    AttributeType::Extractable,
                    AttributeType::NeverExtractable,
                    AttributeType::Wrap,
                    AttributeType::Unwrap,
                    AttributeType::Encrypt,
                    AttributeType::Decrypt,
                ],
            )
            .map_err(|e| panic!("C_GetAttributeValue: {e}"))
        })
        .expect("session");
    let want_label = format!("{label}-v1").into_bytes();
    let mut seen = 0;
    for attr in &attrs {
        seen += 1;
        match attr {
            Attribute::Class(c) => assert_eq!(*c, ObjectClass::SECRET_KEY),
            Attribute::KeyType(k) => assert_eq!(*k, KeyType::AES),
            Attribute::ValueLen(l) => assert_eq!(u64::from(*l), 32),
            Attribute::Label(l) => assert_eq!(*l, want_label),
            Attribute::Token(b)
            | Attribute::Private(b)
            | Attribute::Sensitive(b)
            | Attribute::AlwaysSensitive(b)
            | Attribute::NeverExtractable(b)
            | Attribute::Wrap(b)
            | Attribute::Unwrap(b) => assert!(*b, "{attr:?}"),
            Attribute::Extractable(b) | Attribute::Encrypt(b) | Attribute::Decrypt(b) => {
                assert!(!*b, "{attr:?}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, 14, "{attrs:?}");

    // The value cannot be read, nor the key wrapped out of the token.
    let value = p.with_session(|s| Ok(s.get_attributes(handle, &[AttributeType::Value])));
    assert!(
        !matches!(value, Ok(Ok(ref v)) if v.iter().any(|a| matches!(a, Attribute::Value(_)))),
        "CKA_VALUE readable: {value:?}"
    );

    // A second init on the same label refuses to orphan the first key.
    let err = Pkcs11MasterKey::init(config(&label)).expect_err("second init");
    assert!(
        matches!(err, CryptoError::Pkcs11KeyExists { .. }),
        "{err:?}"
    );
    // And `open` finds it, with the rotated version current after a rotation.
    assert_eq!(p.rotate().expect("rotate"), 2);
    let opened = Pkcs11MasterKey::open(config(&label)).expect("open");
    assert_eq!(opened.current_version(), 2);
    assert!(opened.describe().contains(TOKEN), "{}", opened.describe());
}

/// SoftHSM2 keeps the RFC 5649 padding on unwrap, so lengths that need padding are refused
/// rather than silently coming back longer.
#[test]
fn key_lengths_that_need_padding_are_refused() {
    let p = Pkcs11MasterKey::init(config(&unique_label("len"))).expect("init");
    for len in [0usize, 1, 7, 9, 33] {
        let err = p.wrap(None, &vec![1; len]).expect_err("odd length");
        assert!(
            matches!(err, CryptoError::WrapFailed { .. }),
            "{len}: {err:?}"
        );
    }
}

#[test]
fn missing_module_names_the_setting() {
    let mut c = config("whatever");
    c.module = PathBuf::from("/x/y.so");
    let err = Pkcs11MasterKey::open(c).expect_err("no module");
    assert_eq!(
        err.to_string(),
        "PKCS#11 module /x/y.so not found: set [master_key.pkcs11] module"
    );
}

#[test]
fn wrong_pin_names_the_pin_source() {
    let mut c = config("whatever");
    c.token = TokenSelector::Label(PIN_TOKEN.into());
    c.pin = PinSource::Env("KMIPD_TEST_HSM_BADPIN".into());
    let err = Pkcs11MasterKey::open(c).expect_err("wrong pin");
    assert_eq!(
        err.to_string(),
        "login to token 'kmipd-pin' failed: CKR_PIN_INCORRECT; check the PIN in $KMIPD_TEST_HSM_BADPIN"
    );
}

#[test]
fn unset_pin_variable_names_it() {
    let mut c = config("whatever");
    c.pin = PinSource::Env("KMIPD_TEST_HSM_PIN_NOT_SET".into());
    let err = Pkcs11MasterKey::open(c).expect_err("no pin");
    assert!(matches!(err, CryptoError::Pkcs11Pin { .. }), "{err:?}");
    assert!(
        err.to_string().contains("$KMIPD_TEST_HSM_PIN_NOT_SET"),
        "{err}"
    );
}

#[test]
fn missing_token_lists_the_tokens_present() {
    let mut c = config("whatever");
    c.token = TokenSelector::Label("no-such-token".into());
    let err = Pkcs11MasterKey::open(c).expect_err("no token");
    let msg = err.to_string();
    assert!(
        msg.starts_with("no PKCS#11 token labelled 'no-such-token'"),
        "{msg}"
    );
    assert!(msg.contains("'kmipd-test'"), "{msg}");
    assert!(msg.contains("token_label"), "{msg}");
}

#[test]
fn missing_key_says_to_run_init() {
    let mut c = config("kmipd-master");
    c.pin = PinSource::Env("KMIPD_TEST_HSM_PIN".into());
    let err = Pkcs11MasterKey::open(c).expect_err("no key");
    assert_eq!(
        err.to_string(),
        "no AES key labelled 'kmipd-master-v1' in token 'kmipd-test': run `kmipd init --hsm`"
    );
}

#[test]
fn token_by_slot_id() {
    let label = unique_label("slot");
    let p = Pkcs11MasterKey::init(config(&label)).expect("init");
    let slot = p
        .with_session(|s| Ok(s.get_session_info().map(|i| i.slot_id().id())))
        .expect("session")
        .expect("info");
    let mut c = config(&label);
    c.token = TokenSelector::Slot(slot);
    let by_slot = Pkcs11MasterKey::open(c).expect("open by slot");
    assert_eq!(by_slot.token_label(), TOKEN);
    let w = p.wrap(None, &[3; 32]).expect("wrap");
    assert_eq!(&*by_slot.unwrap(&w).expect("unwrap"), &[3; 32]);
}

/// Documents the mechanism choice in `src/crypto/master/pkcs11.rs`: KWP through
/// `C_WrapKey` must work; whether `C_Encrypt` accepts it too is printed, not asserted
/// (SoftHSM2 2.6 says CKR_MECHANISM_INVALID; a later version accepting it changes nothing).
#[test]
fn softhsm_kwp_mechanism_support() {
    let p = Pkcs11MasterKey::init(config(&unique_label("probe"))).expect("init");
    let w = p
        .wrap(None, &[9; 32])
        .expect("C_WrapKey with CKM_AES_KEY_WRAP_PAD");
    assert_eq!(w.bytes.len(), 40);
    let encrypt = p
        .with_session(|s| {
            let key = s
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::AES),
                        Attribute::ValueLen(32.into()),
                        Attribute::Token(false),
                        Attribute::Encrypt(true),
                        Attribute::Decrypt(true),
                    ],
                )
                .map_err(|e| panic!("C_GenerateKey: {e}"))?;
            Ok(s.encrypt(&Mechanism::AesKeyWrapPad, key, &[9; 32]))
        })
        .expect("session");
    eprintln!(
        "C_Encrypt with CKM_AES_KEY_WRAP_PAD: {}",
        match encrypt {
            Ok(ct) => format!("supported ({} bytes)", ct.len()),
            Err(e) => format!("not supported ({e:?})"),
        }
    );
}

/// The token's `CKM_AES_KEY_WRAP_PAD` output is plain RFC 5649: a key wrapped by SoftHSM2
/// under a known KEK unwraps with the `aes-kw` crate the file provider uses, and the
/// bytes are identical.
#[test]
fn token_kwp_matches_aes_kw() {
    use aes_kw::{KeyInit, KwpAes256};
    let p = Pkcs11MasterKey::init(config(&unique_label("kat"))).expect("init");
    let kek = [0x42u8; 32];
    let key: Vec<u8> = (0u8..32).collect();
    let from_token = p
        .with_session(|s| {
            let session_kek = s
                .create_object(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Token(false),
                    Attribute::Wrap(true),
                    Attribute::Value(kek.to_vec()),
                ])
                .map_err(|e| panic!("C_CreateObject kek: {e}"))?;
            let carrier = s
                .create_object(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::GENERIC_SECRET),
                    Attribute::Token(false),
                    Attribute::Extractable(true),
                    Attribute::Value(key.clone()),
                ])
                .map_err(|e| panic!("C_CreateObject carrier: {e}"))?;
            Ok(s.wrap_key(&Mechanism::AesKeyWrapPad, session_kek, carrier)
                .map_err(|e| panic!("C_WrapKey: {e}")))
        })
        .expect("session")
        .expect("wrap");
    let kwp = KwpAes256::new(&kek.into());
    let mut buf = [0u8; 40];
    let expected = kwp.wrap_key(&key, &mut buf).expect("aes-kw wrap");
    assert_eq!(from_token, expected);
}

#[test]
fn two_keys_with_one_label_are_refused_not_guessed() {
    let label = unique_label("dup");
    let p = Pkcs11MasterKey::init(config(&label)).expect("init");
    // A second key under the same label, as two `init --hsm` racing would leave.
    let twin = format!("{label}-v1");
    p.with_session(|s| {
        s.generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(32.into()),
                Attribute::Label(twin.clone().into_bytes()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
            ],
        )
        .map_err(|e| panic!("C_GenerateKey: {e}"))
    })
    .expect("session");
    let err = Pkcs11MasterKey::open(config(&label)).expect_err("ambiguous");
    assert!(
        matches!(err, CryptoError::Pkcs11KeyDuplicate { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&twin), "{err}");
}
