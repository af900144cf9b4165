//! Layout tests for the records in `keyring.rs`; the key-store behaviour suite runs against
//! both providers in `tests/crypto_*.rs`.

use super::*;

#[test]
fn wrapped_store_key_layout_1() {
    let r = WrappedStoreKey {
        version: 2,
        master_version: 7,
        wrapped: vec![0xAA; 40],
    };
    let bytes = r.to_bytes();
    assert_eq!(&bytes[..9], &[1, 0, 0, 0, 2, 0, 0, 0, 7]);
    assert_eq!(bytes.len(), 49);
    assert_eq!(WrappedStoreKey::from_bytes(&bytes).expect("parse"), r);
}

#[test]
fn wrapped_store_key_rejects() {
    let good = WrappedStoreKey {
        version: 1,
        master_version: 1,
        wrapped: vec![0; 40],
    }
    .to_bytes();
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![2],
        good[..8].to_vec(),
        good[..good.len() - 1].to_vec(),
        [good.as_slice(), &[0]].concat(),
        good[..9 + 8].to_vec(),
    ];
    let mut zero_version = good.clone();
    zero_version[4] = 0;
    cases.push(zero_version);
    let mut other_layout = good.clone();
    other_layout[0] = 2;
    cases.push(other_layout);
    for case in cases {
        assert!(
            WrappedStoreKey::from_bytes(&case).is_err(),
            "accepted {case:02x?}"
        );
    }
}

#[test]
fn sealed_material_layout_1() {
    let s = SealedMaterial {
        store_key_version: 0x0102_0304,
        nonce: [9; 12],
        ciphertext: vec![5; 20],
    };
    let bytes = s.to_bytes();
    assert_eq!(&bytes[..5], &[1, 1, 2, 3, 4]);
    assert_eq!(&bytes[5..17], &[9; 12]);
    assert_eq!(bytes.len(), 37);
    assert_eq!(SealedMaterial::from_bytes(&bytes).expect("parse"), s);
    assert!(
        SealedMaterial::from_bytes(&bytes[..17 + 15]).is_err(),
        "no room for a tag"
    );
    assert!(SealedMaterial::from_bytes(&bytes[..10]).is_err());
    let mut other = bytes.clone();
    other[0] = 0;
    assert!(SealedMaterial::from_bytes(&other).is_err());
}

#[test]
fn debug_prints_no_bytes() {
    let r = WrappedStoreKey {
        version: 1,
        master_version: 1,
        wrapped: vec![0xEE; 40],
    };
    let s = SealedMaterial {
        store_key_version: 1,
        nonce: [0xEE; 12],
        ciphertext: vec![0xEE; 20],
    };
    for shown in [format!("{r:?}"), format!("{s:?}")] {
        assert!(!shown.contains("238"), "{shown}");
        assert!(!shown.to_lowercase().contains("ee,"), "{shown}");
    }
}
