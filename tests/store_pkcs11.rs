//! The redb store suite with the PKCS#11 master key provider on a SoftHSM2 token (the
//! token comes from `tests/softhsm_util`: one temp token directory per binary).

mod softhsm_util;
mod store_common;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use kmipd::crypto::{PinSource, Pkcs11Config, Pkcs11MasterKey, TokenSelector};
use softhsm_util::SoftHsm;
use store_common::Subject;

const TOKEN: &str = "kmipd-store";

fn hsm() -> &'static SoftHsm {
    static HSM: OnceLock<SoftHsm> = OnceLock::new();
    HSM.get_or_init(|| SoftHsm::create(&[TOKEN], &[]))
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
