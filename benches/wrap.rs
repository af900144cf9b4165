//! What wrapping costs a Get: the same key read in the clear, wrapped under an AES-256 Wrap
//! Key key with NIST Key Wrap and No Encoding (its bytes alone), and wrapped with TTLV
//! Encoding (the whole Key Value), each a whole request through `Kms::handle` (decoding,
//! access check, store reads, the wrap, encoding the answer, the audit record) over a real
//! redb file under a file master key. A wrapped Get reads the wrapping key too (its
//! attributes decoded for the state, dates, usage mask and parameters, its material
//! unsealed). Run: `cargo bench --bench wrap`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kmipd::crypto::FileMasterKey;
use kmipd::kmip::attributes::{Attribute, Attributes};
use kmipd::kmip::codec::Cx;
use kmipd::kmip::messages::{
    RequestBatchItem, RequestHeader, RequestMessage, RequestPayload, ResponseMessage,
    ResponsePayload,
};
use kmipd::kmip::objects::{EncryptionKeyInformation, KeyWrappingSpecification};
use kmipd::kmip::payloads::{CreateRequest, GetRequest, UniqueIdentifierRequest};
use kmipd::kmip::{
    CryptographicAlgorithm, CryptographicUsageMask, EncodingOption, KmipVersion, ObjectType,
    Operation, ResultStatus, WrappingMethod,
};
use kmipd::ops::Kms;
use kmipd::policy::Principal;
use kmipd::store::{RedbStore, admin};

const NOW: i64 = 1_700_000_000;
const V: KmipVersion = KmipVersion::V2_1;

fn request(operation: Operation, payload: RequestPayload) -> Vec<u8> {
    RequestMessage {
        request_header: RequestHeader::new(V, 1),
        batch_item: vec![RequestBatchItem::new(operation, payload)],
    }
    .to_bytes(&Cx::new(V))
}

/// Sends one request and returns the payload of its one successful answer.
fn ok(kms: &Kms, who: &Principal, bytes: &[u8]) -> ResponsePayload {
    let answer = kms.handle(who, bytes, NOW);
    let item = kmipd::ttlv::decode(&answer).expect("TTLV");
    let mut message = ResponseMessage::from_item(&item).expect("a response").0;
    let it = message.batch_item.remove(0);
    assert_eq!(it.result_status, ResultStatus::Success, "{it:?}");
    it.response_payload.expect("a payload")
}

/// Creates an Active AES-256 key with usage mask `mask`; its Unique Identifier.
fn create(kms: &Kms, who: &Principal, mask: CryptographicUsageMask) -> String {
    let payload = RequestPayload::Create(CreateRequest {
        object_type: ObjectType::SymmetricKey,
        template_attribute: None,
        attributes: Some(Attributes(vec![
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
            Attribute::CryptographicLength(256),
            Attribute::CryptographicUsageMask(mask),
        ])),
        protection_storage_masks: None,
    });
    let ResponsePayload::Create(c) = ok(kms, who, &request(Operation::Create, payload)) else {
        panic!("not a Create answer")
    };
    let activate = RequestPayload::Activate(UniqueIdentifierRequest {
        unique_identifier: Some(c.unique_identifier.clone()),
    });
    ok(kms, who, &request(Operation::Activate, activate));
    c.unique_identifier
}

fn get(uid: &str, wrapping: Option<(&str, Option<EncodingOption>)>) -> Vec<u8> {
    request(
        Operation::Get,
        RequestPayload::Get(GetRequest {
            unique_identifier: Some(uid.into()),
            key_format_type: None,
            key_wrap_type: None,
            key_compression_type: None,
            key_wrapping_specification: wrapping.map(|(kek, encoding_option)| {
                KeyWrappingSpecification {
                    wrapping_method: WrappingMethod::Encrypt,
                    encryption_key_information: Some(EncryptionKeyInformation {
                        unique_identifier: kek.into(),
                        cryptographic_parameters: None,
                    }),
                    mac_signature_key_information: None,
                    attribute_name: vec![],
                    encoding_option,
                }
            }),
        }),
    )
}

fn wrapped_get(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let provider = FileMasterKey::open_or_create(dir.path()).expect("master key");
    let (store, _) =
        RedbStore::open_with_provider(admin::db_path(dir.path()), &provider).expect("redb store");
    let kms = Kms::new(Arc::new(store));
    let who = Principal::new("bench");
    let kek = create(&kms, &who, CryptographicUsageMask::WrapKey);
    let key = create(&kms, &who, CryptographicUsageMask::Encrypt);
    let lines = [
        ("get_clear", get(&key, None)),
        (
            "get_wrapped_no_encoding",
            get(&key, Some((&kek, Some(EncodingOption::NoEncoding)))),
        ),
        ("get_wrapped_ttlv", get(&key, Some((&kek, None)))),
    ];
    // The first Get of a Fresh key commits Fresh = False: done before measuring.
    ok(&kms, &who, &lines[0].1);

    let mut g = c.benchmark_group("wrap");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    for (name, bytes) in &lines {
        g.bench_function(*name, |b| {
            b.iter(|| assert!(!kms.handle(&who, bytes, NOW).is_empty()))
        });
    }
    g.finish();
}

criterion_group!(benches, wrapped_get);
criterion_main!(benches);
