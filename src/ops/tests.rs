//! Dispatcher tests with the in-memory store: every operation, lifecycle rules, batches with
//! each continuation option, ID placeholders, size limits and unreadable input.

use std::sync::Arc;

use super::*;
use crate::kmip::attributes::{
    Attribute, AttributeReference, Attributes, Name, RandomNumberGenerator, RevocationReason,
    TemplateAttribute,
};
use crate::kmip::objects::*;
use crate::kmip::payloads::*;
use crate::store::memory::MemoryStore;

const NOW: i64 = 1_700_000_000;

fn kms() -> Kms {
    Kms::new(Arc::new(MemoryStore::new()))
}

fn alice() -> Principal {
    Principal::new("alice")
}

fn header(version: KmipVersion, count: usize) -> RequestHeader {
    RequestHeader::new(version, count)
}

/// A header for `count` items with Batch Error Continuation Option `option`.
fn header_with(
    version: KmipVersion,
    count: usize,
    option: BatchErrorContinuationOption,
) -> RequestHeader {
    let mut h = header(version, count);
    h.batch_error_continuation_option = Some(option);
    h
}

fn item(operation: Operation, payload: RequestPayload) -> RequestBatchItem {
    RequestBatchItem::new(operation, payload)
}

fn send(
    kms: &Kms,
    who: &Principal,
    header: RequestHeader,
    items: Vec<RequestBatchItem>,
) -> ResponseMessage {
    send_at(kms, who, header, items, NOW)
}

/// [`send`] with the server's clock at `now`.
fn send_at(
    kms: &Kms,
    who: &Principal,
    header: RequestHeader,
    items: Vec<RequestBatchItem>,
    now: i64,
) -> ResponseMessage {
    let cx = Cx::new(header.protocol_version.version().unwrap());
    let bytes = RequestMessage {
        request_header: header,
        batch_item: items,
    }
    .to_bytes(&cx);
    let response = kms.handle(who, &bytes, now);
    let decoded = ttlv::decode(&response).expect("response decodes");
    ResponseMessage::from_item(&decoded)
        .expect("response types")
        .0
}

fn one(
    kms: &Kms,
    version: KmipVersion,
    operation: Operation,
    payload: RequestPayload,
) -> ResponseBatchItem {
    one_as(kms, &alice(), version, operation, payload)
}

/// [`one`] sent by `who`.
fn one_as(
    kms: &Kms,
    who: &Principal,
    version: KmipVersion,
    operation: Operation,
    payload: RequestPayload,
) -> ResponseBatchItem {
    let mut r = send(kms, who, header(version, 1), vec![item(operation, payload)]);
    assert_eq!(r.batch_item.len(), 1);
    r.batch_item.remove(0)
}

fn create_payload(version: KmipVersion, bits: i32, name: &str) -> RequestPayload {
    create_with(
        version,
        bits,
        name,
        CryptographicUsageMask::Encrypt | CryptographicUsageMask::Decrypt,
        vec![],
    )
}

/// Attributes in `version`'s shape: a 1.x Template-Attribute or a 2.x Attributes.
fn template(
    version: KmipVersion,
    attrs: Vec<Attribute>,
) -> (Option<TemplateAttribute>, Option<Attributes>) {
    if version.is_1x() {
        (
            Some(TemplateAttribute {
                name: vec![],
                attribute: attrs.into_iter().map(Into::into).collect(),
            }),
            None,
        )
    } else {
        (None, Some(Attributes(attrs)))
    }
}

/// A Create of an AES key of `bits` named `name` with usage mask `mask` and `extra`
/// attributes, in `version`'s shape.
fn create_with(
    version: KmipVersion,
    bits: i32,
    name: &str,
    mask: CryptographicUsageMask,
    extra: Vec<Attribute>,
) -> RequestPayload {
    let mut attrs = vec![
        Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
        Attribute::CryptographicLength(bits),
        Attribute::CryptographicUsageMask(mask),
        Attribute::Name(Name {
            name_value: name.into(),
            name_type: NameType::UninterpretedTextString,
        }),
    ];
    attrs.extend(extra);
    let (template_attribute, attributes) = template(version, attrs);
    RequestPayload::Create(CreateRequest {
        object_type: ObjectType::SymmetricKey,
        template_attribute,
        attributes,
        protection_storage_masks: None,
    })
}

fn uid_req(uid: Option<&str>) -> UniqueIdentifierRequest {
    UniqueIdentifierRequest {
        unique_identifier: uid.map(str::to_string),
    }
}

/// A 2.x Locate by `attributes` (none: every object), with no other option set.
fn locate_req(attributes: Vec<Attribute>) -> LocateRequest {
    LocateRequest {
        maximum_items: None,
        offset_items: None,
        storage_status_mask: None,
        object_group_member: None,
        attribute: vec![],
        template_attribute: None,
        attributes: (!attributes.is_empty()).then_some(Attributes(attributes)),
    }
}

/// The answer to a Locate `payload` in `version`.
fn located(kms: &Kms, version: KmipVersion, payload: RequestPayload) -> LocateResponse {
    let r = one(kms, version, Operation::Locate, payload);
    let Some(ResponsePayload::Locate(l)) = r.response_payload else {
        panic!("{r:?}")
    };
    l
}

/// Every attribute of `uid` as Get Attributes gives them to a client of `version`.
fn all_attributes(kms: &Kms, version: KmipVersion, uid: &str) -> Vec<Attribute> {
    let r = one(
        kms,
        version,
        Operation::GetAttributes,
        RequestPayload::GetAttributes(GetAttributesRequest {
            unique_identifier: Some(uid.into()),
            attribute_name: vec![],
            attribute_reference: vec![],
        }),
    );
    let Some(ResponsePayload::GetAttributes(g)) = r.response_payload else {
        panic!("{r:?}")
    };
    if version.is_1x() {
        g.attribute.into_iter().map(|a| a.attribute).collect()
    } else {
        g.attributes.expect("2.x Attributes").0
    }
}

/// The State of `uid` as Get Attributes gives it.
fn state_of(kms: &Kms, version: KmipVersion, uid: &str) -> State {
    all_attributes(kms, version, uid)
        .into_iter()
        .find_map(|a| match a {
            Attribute::State(s) => Some(s),
            _ => None,
        })
        .expect("State")
}

/// Creates an AES key named `name` as Alice; its Unique Identifier.
fn create_key(kms: &Kms, version: KmipVersion, bits: i32, name: &str) -> String {
    created_uid(&one(
        kms,
        version,
        Operation::Create,
        create_payload(version, bits, name),
    ))
}

fn created_uid_of_register(r: &ResponseBatchItem) -> String {
    match &r.response_payload {
        Some(ResponsePayload::Register(c)) => c.unique_identifier.clone(),
        other => panic!(
            "not a Register response: {other:?} / {:?}",
            r.result_message
        ),
    }
}

fn created_uid(r: &ResponseBatchItem) -> String {
    match &r.response_payload {
        Some(ResponsePayload::Create(c)) => c.unique_identifier.clone(),
        other => panic!("not a Create response: {other:?} / {:?}", r.result_message),
    }
}

/// A Secret Data of type Password holding `bytes`, in Opaque format.
fn password(bytes: Vec<u8>) -> Object {
    Object::SecretData(SecretData {
        secret_data_type: SecretDataType::Password,
        key_block: KeyBlock {
            key_format_type: KeyFormatType::Opaque,
            key_compression_type: None,
            key_value: Some(KeyValue::Plain {
                key_material: KeyMaterial::Bytes(KeyBytes::new(bytes)),
                attributes: vec![],
            }),
            cryptographic_algorithm: None,
            cryptographic_length: None,
            key_wrapping_data: None,
        },
    })
}

/// A Revoke of `uid` for Cessation of Operation.
fn revoke_req(uid: &str) -> RequestPayload {
    RequestPayload::Revoke(RevokeRequest {
        unique_identifier: Some(uid.into()),
        revocation_reason: RevocationReason {
            revocation_reason_code: RevocationReasonCode::CessationOfOperation,
            revocation_message: None,
        },
        compromise_occurrence_date: None,
    })
}

fn get_req(uid: &str, format: Option<KeyFormatType>) -> RequestPayload {
    get_by(Some(uid), format)
}

/// A Get of `uid`, or with none of the object in the ID Placeholder.
fn get_by(uid: Option<&str>, format: Option<KeyFormatType>) -> RequestPayload {
    RequestPayload::Get(GetRequest {
        unique_identifier: uid.map(str::to_string),
        key_format_type: format,
        key_wrap_type: None,
        key_compression_type: None,
        key_wrapping_specification: None,
    })
}

fn key_bytes(r: &ResponseBatchItem) -> Vec<u8> {
    let Some(ResponsePayload::Get(g)) = &r.response_payload else {
        panic!("not a Get response: {r:?}")
    };
    match &g.object {
        Some(Object::SymmetricKey(k)) => match &k.key_block.key_value {
            Some(KeyValue::Plain {
                key_material: KeyMaterial::Bytes(b),
                ..
            }) => b.as_slice().to_vec(),
            Some(KeyValue::Plain {
                key_material: KeyMaterial::Transparent(t),
                ..
            }) => t.key.as_ref().unwrap().as_slice().to_vec(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn create_get_activate_revoke_destroy_in_every_version() {
    for version in KmipVersion::ALL {
        let kms = kms();
        let r = one(
            &kms,
            version,
            Operation::Create,
            create_payload(version, 256, "k1"),
        );
        assert_eq!(
            r.result_status,
            ResultStatus::Success,
            "{version}: {:?}",
            r.result_message
        );
        let uid = created_uid(&r);

        let r = one(&kms, version, Operation::Get, get_req(&uid, None));
        assert_eq!(key_bytes(&r).len(), 32);
        let raw = key_bytes(&r);
        let r = one(
            &kms,
            version,
            Operation::Get,
            get_req(&uid, Some(KeyFormatType::TransparentSymmetricKey)),
        );
        assert_eq!(key_bytes(&r), raw);

        // A Pre-Active key cannot be destroyed twice, nor activated twice.
        let r = one(
            &kms,
            version,
            Operation::Activate,
            RequestPayload::Activate(uid_req(Some(&uid))),
        );
        assert_eq!(r.result_status, ResultStatus::Success);
        let r = one(
            &kms,
            version,
            Operation::Activate,
            RequestPayload::Activate(uid_req(Some(&uid))),
        );
        assert_eq!(r.result_status, ResultStatus::OperationFailed);
        let expected = if version >= KmipVersion::V2_0 {
            ResultReason::WrongKeyLifecycleState
        } else {
            ResultReason::PermissionDenied
        };
        assert_eq!(r.result_reason, Some(expected), "{version}");
        let r = one(
            &kms,
            version,
            Operation::Destroy,
            RequestPayload::Destroy(uid_req(Some(&uid))),
        );
        assert_eq!(
            r.result_reason,
            Some(expected),
            "an Active key is not destroyed"
        );

        let r = one(&kms, version, Operation::Revoke, revoke_req(&uid));
        assert_eq!(r.result_status, ResultStatus::Success);
        let r = one(
            &kms,
            version,
            Operation::Destroy,
            RequestPayload::Destroy(uid_req(Some(&uid))),
        );
        assert_eq!(r.result_status, ResultStatus::Success);
        // 2.x says Object Destroyed; 1.x, which lacks that reason, Item Not Found.
        let r = one(&kms, version, Operation::Get, get_req(&uid, None));
        let gone = if version >= KmipVersion::V2_0 {
            ResultReason::ObjectDestroyed
        } else {
            ResultReason::ItemNotFound
        };
        assert_eq!(r.result_reason, Some(gone), "{version}");

        // Destroyed once only: 2.x says Object Destroyed, 1.x Item Not Found.
        let r = one(
            &kms,
            version,
            Operation::Destroy,
            RequestPayload::Destroy(uid_req(Some(&uid))),
        );
        assert_eq!(r.result_reason, Some(gone), "{version}: a second Destroy");

        let attrs = all_attributes(&kms, version, &uid);
        assert!(attrs.contains(&Attribute::State(State::Destroyed)));
        assert!(
            attrs.iter().all(|a| a.exists_in(version)),
            "{version}: {attrs:?}"
        );
    }
}

/// Revoke follows the transitions of 2.1 §4.57 and no others: a compromise from Pre-Active,
/// Active or Deactivated gives Compromised (3, 5, 8) and from Destroyed gives Destroyed
/// Compromised (10); any other reason deactivates only an Active object (6). The Compromise
/// Occurrence Date is the request's, else the Initial Date (§6.1.44).
#[test]
fn revoke_takes_only_the_transitions_of_the_state_machine() {
    let kms = kms();
    let v = KmipVersion::V2_1;
    let revoke = |uid: &str, code: RevocationReasonCode, occurred: Option<i64>| {
        one(
            &kms,
            v,
            Operation::Revoke,
            RequestPayload::Revoke(RevokeRequest {
                unique_identifier: Some(uid.into()),
                revocation_reason: RevocationReason {
                    revocation_reason_code: code,
                    revocation_message: None,
                },
                compromise_occurrence_date: occurred.map(DateTime),
            }),
        )
    };
    let simple = |uid: &str, operation: Operation| {
        let payload = match operation {
            Operation::Activate => RequestPayload::Activate(uid_req(Some(uid))),
            _ => RequestPayload::Destroy(uid_req(Some(uid))),
        };
        let r = one(&kms, v, operation, payload);
        assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    };
    // An object in each state.
    let in_state = |state: State| {
        let uid = create_key(&kms, v, 128, "k");
        match state {
            State::PreActive => {}
            State::Active => simple(&uid, Operation::Activate),
            State::Deactivated => {
                simple(&uid, Operation::Activate);
                let r = revoke(&uid, RevocationReasonCode::Superseded, None);
                assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
            }
            State::Compromised => {
                let r = revoke(&uid, RevocationReasonCode::KeyCompromise, None);
                assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
            }
            State::Destroyed => simple(&uid, Operation::Destroy),
            State::DestroyedCompromised => {
                simple(&uid, Operation::Destroy);
                let r = revoke(&uid, RevocationReasonCode::CACompromise, None);
                assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
            }
            _ => unreachable!(),
        }
        assert_eq!(state_of(&kms, v, &uid), state);
        uid
    };
    use State::*;
    for (from, compromised, other) in [
        (PreActive, Some(Compromised), None),
        (Active, Some(Compromised), Some(Deactivated)),
        (Deactivated, Some(Compromised), None),
        (Compromised, None, None),
        (Destroyed, Some(DestroyedCompromised), None),
        (DestroyedCompromised, None, None),
    ] {
        for (code, to) in [
            (RevocationReasonCode::KeyCompromise, compromised),
            (RevocationReasonCode::CessationOfOperation, other),
        ] {
            let uid = in_state(from);
            let r = revoke(&uid, code, Some(NOW - 500));
            match to {
                Some(to) => {
                    assert_eq!(r.result_status, ResultStatus::Success, "{from:?}: {r:?}");
                    assert_eq!(state_of(&kms, v, &uid), to, "{from:?} {code:?}");
                }
                None => {
                    assert_eq!(
                        reason(&r),
                        Some(ResultReason::WrongKeyLifecycleState),
                        "{from:?} {code:?}"
                    );
                    assert_eq!(state_of(&kms, v, &uid), from);
                }
            }
        }
    }
    // Compromise Occurrence Date: the request's, else the Initial Date.
    let uid = in_state(Active);
    revoke(&uid, RevocationReasonCode::KeyCompromise, Some(NOW - 500));
    let attrs = all_attributes(&kms, v, &uid);
    assert!(attrs.contains(&Attribute::CompromiseOccurrenceDate(DateTime(NOW - 500))));
    assert!(attrs.contains(&Attribute::CompromiseDate(DateTime(NOW))));
    let uid = in_state(Active);
    let r = send_at(
        &kms,
        &alice(),
        header(v, 1),
        vec![item(
            Operation::Revoke,
            RequestPayload::Revoke(RevokeRequest {
                unique_identifier: Some(uid.clone()),
                revocation_reason: RevocationReason {
                    revocation_reason_code: RevocationReasonCode::KeyCompromise,
                    revocation_message: None,
                },
                compromise_occurrence_date: None,
            }),
        )],
        NOW + 100,
    );
    assert_eq!(r.batch_item[0].result_status, ResultStatus::Success);
    let attrs = all_attributes(&kms, v, &uid);
    assert!(attrs.contains(&Attribute::CompromiseOccurrenceDate(DateTime(NOW))));
    assert!(attrs.contains(&Attribute::CompromiseDate(DateTime(NOW + 100))));
}

#[test]
fn create_rejects_bad_lengths_and_algorithms() {
    let kms = kms();
    let r = one(
        &kms,
        KmipVersion::V1_2,
        Operation::Create,
        create_payload(KmipVersion::V1_2, 100, "x"),
    );
    assert_eq!(r.result_reason, Some(ResultReason::InvalidField));
    for bits in [128, 192, 256] {
        let r = one(
            &kms,
            KmipVersion::V2_1,
            Operation::Create,
            create_payload(KmipVersion::V2_1, bits, "x"),
        );
        let uid = created_uid(&r);
        let r = one(&kms, KmipVersion::V2_1, Operation::Get, get_req(&uid, None));
        assert_eq!(key_bytes(&r).len() * 8, bits as usize);
    }
}

#[test]
fn objects_of_others_are_denied_and_invisible() {
    let kms = kms();
    let r = one(
        &kms,
        KmipVersion::V1_4,
        Operation::Create,
        create_payload(KmipVersion::V1_4, 128, "mine"),
    );
    let uid = created_uid(&r);
    let bob = Principal::new("bob");
    let r = send(
        &kms,
        &bob,
        header(KmipVersion::V1_4, 1),
        vec![item(Operation::Get, get_req(&uid, None))],
    );
    assert_eq!(
        r.batch_item[0].result_reason,
        Some(ResultReason::PermissionDenied)
    );
    let locate = RequestPayload::Locate(locate_req(vec![]));
    let r = send(
        &kms,
        &bob,
        header(KmipVersion::V1_4, 1),
        vec![item(Operation::Locate, locate)],
    );
    let Some(ResponsePayload::Locate(l)) = &r.batch_item[0].response_payload else {
        panic!()
    };
    assert!(l.unique_identifier.is_empty());
}

/// 2.1 §6.1.28: "All attributes are allowed to be used." Attributes the store does not index
/// are matched on each candidate as clients see it: a usage mask by containment, a structure
/// by the fields given, defaults (Sensitive False) as if stored; with an indexed attribute,
/// paging and Located Items count only what matches; in 1.x as in 2.x.
#[test]
fn locate_by_attributes_the_store_does_not_index() {
    use crate::kmip::attributes::CryptographicParameters;
    let kms = kms();
    let cbc = CryptographicParameters {
        block_cipher_mode: Some(BlockCipherMode::CBC),
        padding_method: Some(PaddingMethod::PKCS5),
        ..CryptographicParameters::none()
    };
    let make = |name: &str, mask: CryptographicUsageMask, extra: Vec<Attribute>| {
        created_uid(&one(
            &kms,
            KmipVersion::V2_1,
            Operation::Create,
            create_with(KmipVersion::V2_1, 256, name, mask, extra),
        ))
    };
    let both = CryptographicUsageMask::Encrypt | CryptographicUsageMask::Decrypt;
    let a = make(
        "a",
        both,
        vec![Attribute::ContactInformation("ops@example.com".into())],
    );
    let b = make(
        "b",
        CryptographicUsageMask::Encrypt,
        vec![Attribute::CryptographicParameters(cbc.clone())],
    );
    let c = make("c", both | CryptographicUsageMask::WrapKey, vec![]);
    let sensitive = make("c", both, vec![Attribute::Sensitive(true)]);
    let find = |version: KmipVersion, attributes: Vec<Attribute>, page: Option<(i32, i32)>| {
        let request = LocateRequest {
            maximum_items: page.map(|p| p.1),
            offset_items: page.map(|p| p.0),
            ..locate_req(vec![])
        };
        let request = if version.is_1x() {
            LocateRequest {
                attribute: attributes
                    .into_iter()
                    .map(crate::kmip::attributes::AttributeV1::from)
                    .collect(),
                ..request
            }
        } else {
            LocateRequest {
                attributes: Some(Attributes(attributes)),
                ..request
            }
        };
        let l = located(&kms, version, RequestPayload::Locate(request));
        let mut found = l.unique_identifier;
        found.sort();
        (found, l.located_items)
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<_>>()
    };
    for v in [KmipVersion::V1_4, KmipVersion::V2_1] {
        let mask = |m| vec![Attribute::CryptographicUsageMask(m)];
        assert_eq!(
            find(v, mask(CryptographicUsageMask::Encrypt), None).0,
            sorted(vec![&a, &b, &c, &sensitive]),
            "{v}: every mask holding Encrypt"
        );
        assert_eq!(
            find(v, mask(both), None).0,
            sorted(vec![&a, &c, &sensitive]),
            "{v}"
        );
        assert_eq!(
            find(v, mask(CryptographicUsageMask::WrapKey), None).0,
            vec![c.clone()]
        );
        let contact = vec![Attribute::ContactInformation("ops@example.com".into())];
        assert_eq!(find(v, contact, None).0, vec![a.clone()], "{v}");
        // Only the Block Cipher Mode given: the padding is a wildcard.
        let mode_only = vec![Attribute::CryptographicParameters(
            CryptographicParameters {
                block_cipher_mode: Some(BlockCipherMode::CBC),
                ..CryptographicParameters::none()
            },
        )];
        assert_eq!(find(v, mode_only, None).0, vec![b.clone()], "{v}");
        let gcm = vec![Attribute::CryptographicParameters(
            CryptographicParameters {
                block_cipher_mode: Some(BlockCipherMode::GCM),
                ..CryptographicParameters::none()
            },
        )];
        assert!(find(v, gcm, None).0.is_empty(), "{v}");
        // Sensitive False is the default, shown though not stored.
        assert_eq!(
            find(v, vec![Attribute::Sensitive(true)], None).0,
            vec![sensitive.clone()]
        );
        assert_eq!(
            find(v, vec![Attribute::Sensitive(false)], None).0,
            sorted(vec![&a, &b, &c]),
            "{v}"
        );
        // With an indexed attribute (Name "c"), paged: Located Items counts the matches.
        let name_c = Attribute::Name(Name {
            name_value: "c".into(),
            name_type: NameType::UninterpretedTextString,
        });
        let (found, total) = find(
            v,
            vec![name_c.clone(), Attribute::Sensitive(false)],
            Some((0, 5)),
        );
        assert_eq!(found, vec![c.clone()], "{v}");
        assert_eq!(total, Some(1), "{v}");
        let (found, total) = find(v, vec![name_c, Attribute::Sensitive(false)], Some((1, 5)));
        assert!(found.is_empty(), "{v}: past the one match");
        assert_eq!(total, Some(1), "{v}");
    }
}

/// Object Group Member (1.4 §4.9, 2.1 §6.1.28): Group Member Fresh finds the group's
/// objects no Get has served yet, Group Member Default the group's newest Active object;
/// either needs an Object Group.
#[test]
fn locate_by_object_group_member() {
    let kms = kms();
    let both = CryptographicUsageMask::Encrypt | CryptographicUsageMask::Decrypt;
    let make = |name: &str, group: &str| {
        created_uid(&one(
            &kms,
            KmipVersion::V1_4,
            Operation::Create,
            create_with(
                KmipVersion::V1_4,
                128,
                name,
                both,
                vec![Attribute::ObjectGroup(group.into())],
            ),
        ))
    };
    let activate = |uid: &str| {
        let r = one(
            &kms,
            KmipVersion::V1_4,
            Operation::Activate,
            RequestPayload::Activate(uid_req(Some(uid))),
        );
        assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    };
    let (k1, k2, k3) = (
        make("k1", "tapes"),
        make("k2", "tapes"),
        make("k3", "tapes"),
    );
    let other = make("k4", "disks");
    activate(&k1);
    activate(&k2);
    activate(&other);
    let member = |version, m: Option<ObjectGroupMember>, group: Option<&str>| {
        let request = LocateRequest {
            object_group_member: m,
            ..locate_req(
                group
                    .map(|g| vec![Attribute::ObjectGroup(g.into())])
                    .unwrap_or_default(),
            )
        };
        one(
            &kms,
            version,
            Operation::Locate,
            RequestPayload::Locate(request),
        )
    };
    let uids = |r: ResponseBatchItem| match r.response_payload {
        Some(ResponsePayload::Locate(l)) => {
            let mut u = l.unique_identifier;
            u.sort();
            u
        }
        _ => panic!("{r:?}"),
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let fresh = Some(ObjectGroupMember::GroupMemberFresh);
    let default = Some(ObjectGroupMember::GroupMemberDefault);
    for v in [KmipVersion::V1_4, KmipVersion::V2_1] {
        let all_fresh = uids(member(v, fresh, Some("tapes")));
        assert_eq!(
            all_fresh,
            sorted(vec![k1.clone(), k2.clone(), k3.clone()]),
            "{v}"
        );
        // The default: the newest Active member (k3 is Pre-Active).
        assert_eq!(
            uids(member(v, default, Some("tapes"))),
            vec![k2.clone()],
            "{v}"
        );
        let r = member(v, fresh, None);
        assert_eq!(r.result_status, ResultStatus::OperationFailed, "{v}");
    }
    // A Get serves k1: no longer fresh.
    let r = one(&kms, KmipVersion::V1_4, Operation::Get, get_req(&k1, None));
    assert_eq!(r.result_status, ResultStatus::Success);
    assert_eq!(
        uids(member(KmipVersion::V1_4, fresh, Some("tapes"))),
        sorted(vec![k2.clone(), k3.clone()])
    );
    assert_eq!(
        uids(member(KmipVersion::V1_2, default, Some("disks"))),
        vec![other]
    );
}

#[test]
fn locate_by_name_with_paging() {
    let kms = kms();
    let mut uids = Vec::new();
    for i in 0..5 {
        let name = if i % 2 == 0 { "even" } else { "odd" };
        uids.push(create_key(&kms, KmipVersion::V2_1, 128, name));
    }
    let locate = |max: Option<i32>, offset: Option<i32>| {
        RequestPayload::Locate(LocateRequest {
            maximum_items: max,
            offset_items: offset,
            ..locate_req(vec![Attribute::Name(Name {
                name_value: "even".into(),
                name_type: NameType::UninterpretedTextString,
            })])
        })
    };
    let l = located(&kms, KmipVersion::V2_1, locate(None, None));
    // 2.x: "descending order of object creation (most recently created object first)".
    assert_eq!(
        l.unique_identifier,
        vec![uids[4].clone(), uids[2].clone(), uids[0].clone()]
    );
    // Not paged and complete: no Located Items, as in the OASIS profile test cases.
    assert_eq!(l.located_items, None);
    let l = located(&kms, KmipVersion::V2_1, locate(Some(1), Some(1)));
    assert_eq!(l.unique_identifier, vec![uids[2].clone()]);
    assert_eq!(l.located_items, Some(3), "paged: the total");
    // Not paged but cut short by the server's own limit: the total tells the client so.
    let mut capped = self::kms();
    capped.config.max_locate_items = 2;
    for _ in 0..3 {
        create_key(&capped, KmipVersion::V2_1, 128, "even");
    }
    let l = located(&capped, KmipVersion::V2_1, locate(None, None));
    assert_eq!(l.unique_identifier.len(), 2);
    assert_eq!(l.located_items, Some(3), "cut short: the total");
    // 1.2 has no Located Items.
    let l = located(&kms, KmipVersion::V1_2, locate(None, None));
    assert_eq!(l.located_items, None);
    // 1.x fixes no order: ascending, so that objects made between two pages do not shift
    // the later ones.
    assert_eq!(
        l.unique_identifier,
        vec![uids[0].clone(), uids[2].clone(), uids[4].clone()]
    );
    let l = located(&kms, KmipVersion::V1_4, locate(Some(1), Some(1)));
    assert_eq!(l.unique_identifier, vec![uids[2].clone()]);
    // 2.x, Maximum Items 1: the newest key of that name.
    let l = located(&kms, KmipVersion::V2_0, locate(Some(1), None));
    assert_eq!(l.unique_identifier, vec![uids[4].clone()]);
}

fn batch(option: BatchErrorContinuationOption) -> ResponseMessage {
    let kms = kms();
    let h = header_with(KmipVersion::V1_4, 3, option);
    let items = vec![
        item(
            Operation::Create,
            create_payload(KmipVersion::V1_4, 128, "a"),
        ),
        item(Operation::Get, get_req("no-such-object", None)),
        item(Operation::Activate, RequestPayload::Activate(uid_req(None))),
    ];
    let r = send(&kms, &alice(), h, items);
    // Whatever was undone or stopped left nothing behind that a Locate can see.
    r
}

#[test]
fn batch_stop_continue_and_undo() {
    let r = batch(BatchErrorContinuationOption::Stop);
    assert_eq!(
        r.batch_item.len(),
        2,
        "items after the failure are not returned"
    );
    assert_eq!(r.batch_item[0].result_status, ResultStatus::Success);
    assert_eq!(
        r.batch_item[1].result_reason,
        Some(ResultReason::ItemNotFound)
    );

    let r = batch(BatchErrorContinuationOption::Continue);
    assert_eq!(r.batch_item.len(), 3);
    assert_eq!(r.batch_item[1].result_status, ResultStatus::OperationFailed);
    assert_eq!(
        r.batch_item[2].result_status,
        ResultStatus::Success,
        "the ID Placeholder from Create activates the new key: {:?}",
        r.batch_item[2].result_message
    );

    let r = batch(BatchErrorContinuationOption::Undo);
    assert_eq!(r.batch_item.len(), 2);
    assert_eq!(r.batch_item[0].result_status, ResultStatus::OperationUndone);
    // "Performed, but had to be undone": its answer comes back (2.1 §11.5, BL-M-2).
    assert!(matches!(
        r.batch_item[0].response_payload,
        Some(ResponsePayload::Create(_))
    ));
    assert_eq!(r.batch_item[1].result_status, ResultStatus::OperationFailed);
}

/// A 2.1 batch under Undo: a Create, then a Destroy of an object that does not exist.
fn create_then_failing_destroy_with_undo(kms: &Kms) -> ResponseMessage {
    let h = header_with(KmipVersion::V2_1, 2, BatchErrorContinuationOption::Undo);
    send(
        kms,
        &alice(),
        h,
        vec![
            item(
                Operation::Create,
                create_payload(KmipVersion::V2_1, 128, "a"),
            ),
            item(
                Operation::Destroy,
                RequestPayload::Destroy(uid_req(Some("missing"))),
            ),
        ],
    )
}

#[test]
fn undo_leaves_nothing_in_the_store() {
    let store = Arc::new(MemoryStore::new());
    let kms = Kms::new(store.clone());
    let r = create_then_failing_destroy_with_undo(&kms);
    assert_eq!(r.batch_item[0].result_status, ResultStatus::OperationUndone);
    assert_eq!(crate::store::ObjectStore::count(store.as_ref()).unwrap(), 0);
}

#[test]
fn maximum_response_size_gives_response_too_large_and_writes_nothing() {
    let store = Arc::new(MemoryStore::new());
    let kms = Kms::new(store.clone());
    let mut h = header(KmipVersion::V1_2, 1);
    h.maximum_response_size = Some(64);
    let r = send(
        &kms,
        &alice(),
        h,
        vec![item(
            Operation::Create,
            create_payload(KmipVersion::V1_2, 128, "a"),
        )],
    );
    assert_eq!(
        r.batch_item[0].result_reason,
        Some(ResultReason::ResponseTooLarge)
    );
    assert_eq!(crate::store::ObjectStore::count(store.as_ref()).unwrap(), 0);
}

#[test]
fn critical_unknown_message_extension_is_rejected() {
    let kms = kms();
    let mut it = item(
        Operation::Query,
        RequestPayload::Query(QueryRequest {
            query_function: vec![QueryFunction::QueryOperations],
        }),
    );
    it.message_extension.push(MessageExtension {
        vendor_identification: "acme".into(),
        criticality_indicator: true,
        vendor_extension: crate::ttlv::Item::structure(Tag::VendorExtension, vec![]),
    });
    let r = send(&kms, &alice(), header(KmipVersion::V1_4, 1), vec![it]);
    assert_eq!(
        r.batch_item[0].result_reason,
        Some(ResultReason::FeatureNotSupported)
    );
}

#[test]
fn unreadable_messages_get_invalid_message() {
    let kms = kms();
    for bytes in [
        vec![],
        vec![0x42, 0x00, 0x78, 0x01, 0x00, 0x00, 0x00, 0x10],
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        ttlv::encode(&Item::new(Tag::RequestMessage, ttlv::Value::Integer(1))),
    ] {
        let response = kms.handle(&alice(), &bytes, NOW);
        let (r, _) = ResponseMessage::from_item(&ttlv::decode(&response).unwrap()).unwrap();
        assert_eq!(r.batch_item.len(), 1);
        assert_eq!(r.batch_item[0].operation, None);
        assert_eq!(
            r.batch_item[0].result_reason,
            Some(ResultReason::InvalidMessage)
        );
    }
}

#[test]
fn unsupported_major_version_gets_invalid_message_and_minor_is_tolerated() {
    let kms = kms();
    for (major, minor, ok) in [(3, 0, false), (0, 9, false), (1, 7, true), (2, 5, true)] {
        let mut h = header(KmipVersion::V1_4, 1);
        h.protocol_version = ProtocolVersion {
            protocol_version_major: major,
            protocol_version_minor: minor,
        };
        let bytes = RequestMessage {
            request_header: h,
            batch_item: vec![item(
                Operation::DiscoverVersions,
                RequestPayload::DiscoverVersions(DiscoverVersionsPayload {
                    protocol_version: vec![],
                }),
            )],
        }
        .to_bytes(&Cx::new(KmipVersion::V1_4));
        let response = kms.handle(&alice(), &bytes, NOW);
        let item = ttlv::decode(&response).unwrap();
        let (r, _) = ResponseMessage::from_item(&item).unwrap_or_else(|_| {
            // A response in a version we do not speak is still well-formed TTLV: read it as 1.4.
            (
                ResponseMessage::read(&item, &Cx::new(KmipVersion::V1_4)).unwrap(),
                Cx::new(KmipVersion::V1_4),
            )
        });
        assert_eq!(
            r.batch_item[0].result_status == ResultStatus::Success,
            ok,
            "{major}.{minor}"
        );
    }
}

#[test]
fn wrong_item_type_and_missing_field() {
    let kms = kms();
    // Get whose Unique Identifier is an Integer.
    let r = send_raw(
        &kms,
        vec![
            (
                Operation::Get.value(),
                vec![Item::new(Tag::UniqueIdentifier, ttlv::Value::Integer(5))],
            ),
            (Operation::Revoke.value(), vec![]),
        ],
    );
    assert_eq!(r.batch_item[0].operation, Some(Operation::Get));
    assert_eq!(
        r.batch_item[0].result_reason,
        Some(ResultReason::InvalidMessage)
    );
    // The default option is Stop: the second item is not run.
    assert_eq!(r.batch_item.len(), 1);
    // An unknown operation is Operation Not Supported.
    let r = send_raw(&kms, vec![(0x7777, vec![])]);
    assert_eq!(
        r.batch_item[0].result_reason,
        Some(ResultReason::OperationNotSupported)
    );
}

/// Sends a KMIP 1.2 request built item by item, so that it can be wrong in chosen ways: one
/// batch item per (operation code, payload items).
fn send_raw(kms: &Kms, items: Vec<(u32, Vec<Item<'static>>)>) -> ResponseMessage {
    let int = |tag, n| Item::new(tag, ttlv::Value::Integer(n));
    let mut children = vec![Item::structure(
        Tag::RequestHeader,
        vec![
            Item::structure(
                Tag::ProtocolVersion,
                vec![
                    int(Tag::ProtocolVersionMajor, 1),
                    int(Tag::ProtocolVersionMinor, 2),
                ],
            ),
            int(Tag::BatchCount, items.len() as i32),
        ],
    )];
    children.extend(items.into_iter().map(|(operation, payload)| {
        Item::structure(
            Tag::BatchItem,
            vec![
                Item::new(Tag::Operation, ttlv::Value::Enumeration(operation)),
                Item::structure(Tag::RequestPayload, payload),
            ],
        )
    }));
    let request = ttlv::encode(&Item::structure(Tag::RequestMessage, children));
    let response = kms.handle(&alice(), &request, NOW);
    let decoded = ttlv::decode(&response).expect("response decodes");
    ResponseMessage::from_item(&decoded)
        .expect("response types")
        .0
}

#[test]
fn discover_versions_and_query() {
    let kms = kms();
    let r = one(
        &kms,
        KmipVersion::V1_2,
        Operation::DiscoverVersions,
        RequestPayload::DiscoverVersions(DiscoverVersionsPayload {
            protocol_version: vec![
                ProtocolVersion::new(KmipVersion::V1_1),
                ProtocolVersion {
                    protocol_version_major: 9,
                    protocol_version_minor: 9,
                },
            ],
        }),
    );
    let Some(ResponsePayload::DiscoverVersions(d)) = r.response_payload else {
        panic!()
    };
    assert_eq!(
        d.protocol_version,
        vec![ProtocolVersion::new(KmipVersion::V1_1)]
    );
    let r = one(
        &kms,
        KmipVersion::V2_1,
        Operation::Query,
        RequestPayload::Query(QueryRequest {
            query_function: vec![
                QueryFunction::QueryOperations,
                QueryFunction::QueryObjects,
                QueryFunction::QueryServerInformation,
            ],
        }),
    );
    let Some(ResponsePayload::Query(q)) = r.response_payload else {
        panic!()
    };
    assert!(q.operation.contains(&Operation::Create));
    assert!(q.object_type.contains(&ObjectType::SymmetricKey));
    assert_eq!(q.vendor_identification.as_deref(), Some("kmipd"));
}

#[test]
fn query_profiles_name_the_message_encodings_when_http_is_served() {
    use ProfileName::*;
    let profiles = |kms: &Kms, version| {
        let r = one(
            kms,
            version,
            Operation::Query,
            RequestPayload::Query(QueryRequest {
                query_function: vec![QueryFunction::QueryProfiles],
            }),
        );
        let Some(ResponsePayload::Query(q)) = r.response_payload else {
            panic!("{r:?}")
        };
        q.profile_information
            .iter()
            .map(|p| p.profile_name)
            .collect::<Vec<_>>()
    };
    let mut kms = kms();
    let all = |version| profiles(&kms, version);
    assert_eq!(
        all(KmipVersion::V2_1),
        [
            BaselineServer,
            SymmetricKeyLifecycleServer,
            HTTPSServer,
            XMLServer,
            JSONServer
        ]
    );
    assert_eq!(
        all(KmipVersion::V1_4)[2..],
        [HTTPSServerKMIPV1_4, XMLServerKMIPV1_4, JSONServerKMIPV1_4]
    );
    assert_eq!(
        all(KmipVersion::V1_3)[2..],
        [HTTPSServerKMIPV1_3, XMLServerKMIPV1_3, JSONServerKMIPV1_3]
    );
    kms.config.http = false;
    assert_eq!(
        profiles(&kms, KmipVersion::V2_1),
        [BaselineServer, SymmetricKeyLifecycleServer]
    );
    assert_eq!(profiles(&kms, KmipVersion::V1_4).len(), 2);
}

#[test]
fn register_secret_data_and_add_attribute() {
    let kms = kms();
    let secret = password(b"correct horse".to_vec());
    let r = one(
        &kms,
        KmipVersion::V1_1,
        Operation::Register,
        RequestPayload::Register(RegisterRequest {
            object_type: ObjectType::SecretData,
            template_attribute: Some(TemplateAttribute {
                name: vec![],
                attribute: vec![],
            }),
            attributes: None,
            object: Some(secret.clone()),
            protection_storage_masks: None,
        }),
    );
    let Some(ResponsePayload::Register(reg)) = r.response_payload else {
        panic!("{r:?}")
    };
    let uid = reg.unique_identifier;
    let r = one(&kms, KmipVersion::V1_1, Operation::Get, get_req(&uid, None));
    let Some(ResponsePayload::Get(g)) = r.response_payload else {
        panic!()
    };
    assert_eq!(g.object, Some(secret));
    let vendor = Attribute::Vendor(crate::kmip::attributes::VendorAttribute {
        vendor_identification: "x".into(),
        attribute_name: "Product".into(),
        attribute_value: ttlv::Value::TextString("vSphere".into()),
    });
    let r = one(
        &kms,
        KmipVersion::V1_1,
        Operation::AddAttribute,
        RequestPayload::AddAttribute(AddAttributeRequest {
            unique_identifier: Some(uid.clone()),
            attribute: Some(vendor.clone().into()),
            new_attribute: None,
        }),
    );
    assert_eq!(
        r.result_status,
        ResultStatus::Success,
        "{:?}",
        r.result_message
    );
    let r = one(
        &kms,
        KmipVersion::V1_1,
        Operation::GetAttributes,
        RequestPayload::GetAttributes(GetAttributesRequest {
            unique_identifier: Some(uid),
            attribute_name: vec!["x-Product".into()],
            attribute_reference: vec![],
        }),
    );
    let Some(ResponsePayload::GetAttributes(g)) = r.response_payload else {
        panic!()
    };
    assert_eq!(g.attribute.len(), 1);
    assert_eq!(g.attribute[0].attribute, vendor);
}

#[test]
fn locate_leaves_destroyed_objects_out_unless_asked() {
    let kms = kms();
    let v = KmipVersion::V2_1;
    let old = create_key(&kms, v, 128, "db-key");
    let r = one(
        &kms,
        v,
        Operation::Destroy,
        RequestPayload::Destroy(uid_req(Some(&old))),
    );
    assert_eq!(r.result_status, ResultStatus::Success);
    let new = create_key(&kms, v, 128, "db-key");
    let locate = |mask: Option<StorageStatusMask>, state: Option<State>| {
        let mut attrs = vec![Attribute::Name(Name {
            name_value: "db-key".into(),
            name_type: NameType::UninterpretedTextString,
        })];
        attrs.extend(state.map(Attribute::State));
        let r = one(
            &kms,
            v,
            Operation::Locate,
            RequestPayload::Locate(LocateRequest {
                storage_status_mask: mask,
                ..locate_req(attrs)
            }),
        );
        let Some(ResponsePayload::Locate(l)) = r.response_payload else {
            panic!("{r:?}")
        };
        l.unique_identifier
    };
    assert_eq!(locate(None, None), vec![new.clone()]);
    assert_eq!(locate(None, Some(State::Destroyed)), vec![old.clone()]);
    assert_eq!(
        locate(Some(StorageStatusMask::DestroyedStorage), None),
        vec![old.clone()]
    );
    assert_eq!(
        locate(
            Some(StorageStatusMask::OnLineStorage | StorageStatusMask::DestroyedStorage),
            None
        ),
        vec![new, old],
        "newest first"
    );
}

/// The audit records of `store`, decoded, after checking the chain.
fn audit_log(store: &MemoryStore) -> Vec<crate::audit::AuditEvent> {
    let report = crate::store::verify_audit(store).expect("the chain verifies");
    let records = crate::store::ObjectStore::audit_records(store, 1, usize::MAX).unwrap();
    assert_eq!(records.len() as u64, report.records);
    records
        .iter()
        .map(|(seq, bytes)| {
            crate::audit::AuditRecord::from_bytes(*seq, bytes)
                .unwrap()
                .event
        })
        .collect()
}

#[test]
fn every_answer_is_audited_with_who_what_which_and_how() {
    let store = Arc::new(MemoryStore::new());
    let kms = Kms::new(store.clone());
    let r = one(
        &kms,
        KmipVersion::V1_2,
        Operation::Create,
        create_payload(KmipVersion::V1_2, 256, "audited"),
    );
    let uid = created_uid(&r);
    one(&kms, KmipVersion::V1_2, Operation::Get, get_req(&uid, None));
    // Bob is refused: the refusal is recorded, with the object he asked for.
    send(
        &kms,
        &Principal::new("bob"),
        header(KmipVersion::V1_2, 1),
        vec![item(Operation::Get, get_req(&uid, None))],
    );
    // An unreadable message is recorded too.
    kms.handle(&alice(), &[0x42, 0x00, 0x78, 0x01, 0, 0, 0, 9], NOW);

    let log = audit_log(&store);
    /// principal, operation, identifiers, status, reason
    type Seen<'a> = (&'a str, &'a str, Vec<&'a str>, &'a str, Option<&'a str>);
    let seen: Vec<Seen<'_>> = log
        .iter()
        .map(|e| {
            (
                e.principal.as_str(),
                e.operation.as_str(),
                e.unique_identifiers.iter().map(String::as_str).collect(),
                e.result_status.as_str(),
                e.result_reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("alice", "Create", vec![uid.as_str()], "Success", None),
            ("alice", "Get", vec![uid.as_str()], "Success", None),
            (
                "bob",
                "Get",
                vec![uid.as_str()],
                "Operation Failed",
                Some("Permission Denied")
            ),
            (
                "alice",
                super::audit::UNREADABLE,
                vec![],
                "Operation Failed",
                Some("Invalid Message")
            ),
        ]
    );
    assert!(log.iter().all(|e| e.time == NOW));
}

#[test]
fn audit_records_the_answer_the_client_got() {
    // Undo: the Create ran, then was undone; the log says so, and the store is empty.
    let store = Arc::new(MemoryStore::new());
    let kms = Kms::new(store.clone());
    create_then_failing_destroy_with_undo(&kms);
    let log = audit_log(&store);
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].operation.as_str(), log[0].result_status.as_str()),
        ("Create", "Operation Undone")
    );
    assert_eq!(
        (
            log[1].operation.as_str(),
            log[1].unique_identifiers.clone(),
            log[1].result_reason.as_deref()
        ),
        (
            "Destroy",
            vec!["missing".to_string()],
            Some("Object Not Found") // 2.1's reason, as the client got it
        )
    );

    // Response Too Large: nothing written, the refusal recorded.
    let store = Arc::new(MemoryStore::new());
    let kms = Kms::new(store.clone());
    let mut h = header(KmipVersion::V1_2, 1);
    h.maximum_response_size = Some(64);
    send(
        &kms,
        &alice(),
        h,
        vec![item(
            Operation::Create,
            create_payload(KmipVersion::V1_2, 128, "a"),
        )],
    );
    let log = audit_log(&store);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].result_reason.as_deref(), Some("Response Too Large"));
}

/// FortiOS sends Locate's filters inside a Template-Attribute (docs/clients.md): they must
/// filter, not be ignored (which would match every object) nor refuse the request.
#[test]
fn locate_reads_filters_inside_a_template_attribute() {
    use crate::ttlv::{Item, Tag, Value};
    let kms = kms();
    let v = KmipVersion::V1_2;
    let wanted = create_key(&kms, v, 256, "enc-in");
    create_key(&kms, v, 256, "auth-in");
    let text = |tag, s: &str| Item::new(tag, Value::TextString(s.to_string().into()));
    let locate = |name: &str, template_name: bool| {
        let mut template = Vec::new();
        if template_name {
            template.push(Item::structure(
                Tag::Name,
                vec![
                    text(Tag::NameValue, "a-template"),
                    Item::new(Tag::NameType, Value::Enumeration(1)),
                ],
            ));
        }
        template.push(Item::structure(
            Tag::Attribute,
            vec![
                text(Tag::AttributeName, "Name"),
                Item::structure(
                    Tag::AttributeValue,
                    vec![
                        text(Tag::NameValue, name),
                        Item::new(Tag::NameType, Value::Enumeration(1)),
                    ],
                ),
            ],
        ));
        let mut r = send_raw(
            &kms,
            vec![(
                Operation::Locate.value(),
                vec![Item::structure(Tag::TemplateAttribute, template)],
            )],
        );
        r.batch_item.remove(0)
    };
    let r = locate("enc-in", false);
    assert_eq!(
        r.result_status,
        ResultStatus::Success,
        "{:?}",
        r.result_message
    );
    let Some(ResponsePayload::Locate(l)) = r.response_payload else {
        panic!("{r:?}")
    };
    assert_eq!(l.unique_identifier, vec![wanted]);
    let r = locate("no-such-name", false);
    let Some(ResponsePayload::Locate(l)) = r.response_payload else {
        panic!("{r:?}")
    };
    assert!(l.unique_identifier.is_empty(), "{:?}", l.unique_identifier);
    // A template's own Name names a Template object, which this server does not keep.
    let r = locate("enc-in", true);
    assert_eq!(r.result_status, ResultStatus::OperationFailed);
    assert_eq!(r.result_reason, Some(ResultReason::ItemNotFound));
}

/// 2.1 §4.24 Fresh: True on a new object (Register may set it False), False as soon as a Get
/// has served it; the client cannot set it on Create; 1.0 (which has no Fresh) never sees it.
#[test]
fn fresh_is_true_until_a_get_serves_the_object() {
    let kms = kms();
    let attrs = |version: KmipVersion, uid: &str| all_attributes(&kms, version, uid);
    let last_change = |a: &[Attribute]| {
        a.iter()
            .find(|a| matches!(a, Attribute::LastChangeDate(_)))
            .cloned()
    };
    for v in [KmipVersion::V1_1, KmipVersion::V2_1] {
        let uid = create_key(&kms, v, 128, "f");
        let before = attrs(v, &uid);
        assert!(before.contains(&Attribute::Fresh(true)), "{v}: {before:?}");
        // Get Attributes does not serve the object: still Fresh.
        assert!(attrs(v, &uid).contains(&Attribute::Fresh(true)));
        let r = one(&kms, v, Operation::Get, get_req(&uid, None));
        assert_eq!(
            r.result_status,
            ResultStatus::Success,
            "{:?}",
            r.result_message
        );
        let after = attrs(v, &uid);
        assert!(after.contains(&Attribute::Fresh(false)), "{v}: {after:?}");
        assert!(
            !after.contains(&Attribute::Fresh(true)),
            "one instance only"
        );
        assert_eq!(
            last_change(&after),
            last_change(&before),
            "Get is not a change"
        );
        // A second Get leaves it as it is.
        one(&kms, v, Operation::Get, get_req(&uid, None));
        assert!(attrs(v, &uid).contains(&Attribute::Fresh(false)));
    }
    // KMIP 1.0 has no Fresh: never sent to a 1.0 client.
    let v = KmipVersion::V1_0;
    let uid = create_key(&kms, v, 128, "old");
    assert!(
        !attrs(v, &uid)
            .iter()
            .any(|a| matches!(a, Attribute::Fresh(_)))
    );
    assert!(attrs(KmipVersion::V1_1, &uid).contains(&Attribute::Fresh(true)));

    // Register may say False; Create may not set Fresh at all.
    let secret = password(vec![7; 16]);
    let v = KmipVersion::V2_1;
    let r = one(
        &kms,
        v,
        Operation::Register,
        RequestPayload::Register(RegisterRequest {
            object_type: ObjectType::SecretData,
            template_attribute: None,
            attributes: Some(Attributes(vec![Attribute::Fresh(false)])),
            object: Some(secret),
            protection_storage_masks: None,
        }),
    );
    let Some(ResponsePayload::Register(reg)) = r.response_payload else {
        panic!("{r:?}")
    };
    assert!(attrs(v, &reg.unique_identifier).contains(&Attribute::Fresh(false)));
    let RequestPayload::Create(mut create) = create_payload(v, 128, "x") else {
        unreachable!()
    };
    create
        .attributes
        .as_mut()
        .unwrap()
        .0
        .push(Attribute::Fresh(true));
    let r = one(&kms, v, Operation::Create, RequestPayload::Create(create));
    assert_eq!(r.result_reason, Some(ResultReason::InvalidField));
}

/// An Object Group Member value no version defines is refused, not ignored (ignoring it
/// would return members the client meant to exclude).
#[test]
fn locate_refuses_an_undefined_object_group_member() {
    let kms = kms();
    let r = one(
        &kms,
        KmipVersion::V2_1,
        Operation::Locate,
        RequestPayload::Locate(LocateRequest {
            object_group_member: Some(ObjectGroupMember::Unknown(7)),
            ..locate_req(vec![Attribute::ObjectGroup("g".into())])
        }),
    );
    assert_eq!(r.result_status, ResultStatus::OperationFailed);
    assert_eq!(r.result_reason, Some(ResultReason::InvalidField));
}

/// Storage arrays (SA-SED profiles) need at least 20 custom attributes of at least 128
/// characters per object, kept intact: given at Register/Create time and added later, in
/// 1.x (`x-` names) and 2.x (vendor attributes).
#[test]
fn twenty_long_custom_attributes_are_kept() {
    let kms = kms();
    let custom = |i: usize| {
        Attribute::Vendor(crate::kmip::attributes::VendorAttribute {
            vendor_identification: "x".into(),
            attribute_name: format!("Array-Slot-{i:02}"),
            attribute_value: ttlv::Value::TextString(format!("{i:02}-{}", "S".repeat(200)).into()),
        })
    };
    for v in [KmipVersion::V1_2, KmipVersion::V2_1] {
        let RequestPayload::Create(mut create) = create_payload(v, 256, "sed") else {
            unreachable!()
        };
        let given: Vec<Attribute> = (0..10).map(custom).collect();
        match (&mut create.template_attribute, &mut create.attributes) {
            (Some(t), _) => t.attribute.extend(given.iter().cloned().map(Into::into)),
            (_, Some(a)) => a.0.extend(given.iter().cloned()),
            _ => unreachable!(),
        }
        let uid = created_uid(&one(
            &kms,
            v,
            Operation::Create,
            RequestPayload::Create(create),
        ));
        for i in 10..24 {
            let r = one(
                &kms,
                v,
                Operation::AddAttribute,
                RequestPayload::AddAttribute(AddAttributeRequest {
                    unique_identifier: Some(uid.clone()),
                    attribute: v.is_1x().then(|| custom(i).into()),
                    new_attribute: (!v.is_1x()).then(|| custom(i)),
                }),
            );
            assert_eq!(
                r.result_status,
                ResultStatus::Success,
                "{v} #{i}: {:?}",
                r.result_message
            );
        }
        let kept = all_attributes(&kms, v, &uid);
        for i in 0..24 {
            assert!(kept.contains(&custom(i)), "{v}: custom attribute {i} lost");
        }
    }
}

fn modify(uid: &str, new: Attribute) -> RequestPayload {
    RequestPayload::ModifyAttribute(ModifyAttributeRequest {
        unique_identifier: Some(uid.into()),
        attribute: None,
        current_attribute: None,
        new_attribute: Some(new),
    })
}

fn delete(uid: &str, reference: Tag) -> RequestPayload {
    RequestPayload::DeleteAttribute(DeleteAttributeRequest {
        unique_identifier: Some(uid.into()),
        attribute_name: None,
        attribute_index: None,
        current_attribute: None,
        attribute_reference: Some(AttributeReference::Standard(reference)),
    })
}

/// A 2.x Add Attribute of `a` to `uid`.
fn add(uid: &str, a: Attribute) -> RequestPayload {
    RequestPayload::AddAttribute(AddAttributeRequest {
        unique_identifier: Some(uid.into()),
        attribute: None,
        new_attribute: Some(a),
    })
}

fn reason(r: &ResponseBatchItem) -> Option<ResultReason> {
    r.result_reason
}

#[test]
fn sensitive_and_extractable_keys_do_not_leave_the_server() {
    let kms = kms();
    let v = KmipVersion::V2_1;
    let uid = create_key(&kms, v, 256, "guarded");
    // The server sets all four (2.1 §4.3, §4.23, §4.33, §4.55), and the generator (§4.46).
    let attrs = all_attributes(&kms, v, &uid);
    for expected in [
        Attribute::Sensitive(false),
        Attribute::AlwaysSensitive(false),
        Attribute::Extractable(true),
        Attribute::NeverExtractable(false),
    ] {
        assert!(attrs.contains(&expected), "{expected:?} in {attrs:?}");
    }
    assert!(attrs.iter().any(|a| matches!(
        a,
        Attribute::RandomNumberGenerator(r) if r.rng_algorithm == RNGAlgorithm::Unspecified
    )));
    // 1.2 knows none of the four (1.4 added them) but has the generator (1.3).
    let old = all_attributes(&kms, KmipVersion::V1_2, &uid);
    assert!(!old.iter().any(|a| matches!(
        a,
        Attribute::Sensitive(_) | Attribute::Extractable(_) | Attribute::RandomNumberGenerator(_)
    )));

    // Sensitive: Get refused (Sensitive; Permission Denied for 1.2, which lacks the reason).
    let r = one(
        &kms,
        v,
        Operation::ModifyAttribute,
        modify(&uid, Attribute::Sensitive(true)),
    );
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    let r = one(&kms, v, Operation::Get, get_req(&uid, None));
    assert_eq!(reason(&r), Some(ResultReason::Sensitive));
    let r = one(&kms, KmipVersion::V1_2, Operation::Get, get_req(&uid, None));
    assert_eq!(reason(&r), Some(ResultReason::PermissionDenied));
    // Always Sensitive stays False: Sensitive was False before.
    assert!(all_attributes(&kms, v, &uid).contains(&Attribute::AlwaysSensitive(false)));
    // Neither may be deleted.
    for tag in [Tag::Sensitive, Tag::Extractable] {
        let r = one(&kms, v, Operation::DeleteAttribute, delete(&uid, tag));
        assert_eq!(reason(&r), Some(ResultReason::InvalidField), "{tag}");
    }
    // Shown by default, Extractable already has its one value: Add is refused.
    let r = one(
        &kms,
        v,
        Operation::AddAttribute,
        add(&uid, Attribute::Extractable(false)),
    );
    assert_eq!(reason(&r), Some(ResultReason::AttributeSingleValued));
    // Back to not Sensitive, then not Extractable: refused with Not Extractable.
    one(
        &kms,
        v,
        Operation::ModifyAttribute,
        modify(&uid, Attribute::Sensitive(false)),
    );
    assert_eq!(
        one(&kms, v, Operation::Get, get_req(&uid, None)).result_status,
        ResultStatus::Success
    );
    one(
        &kms,
        v,
        Operation::ModifyAttribute,
        modify(&uid, Attribute::Extractable(false)),
    );
    let r = one(&kms, v, Operation::Get, get_req(&uid, None));
    assert_eq!(reason(&r), Some(ResultReason::NotExtractable));
    one(
        &kms,
        v,
        Operation::ModifyAttribute,
        modify(&uid, Attribute::Extractable(true)),
    );
    assert!(all_attributes(&kms, v, &uid).contains(&Attribute::NeverExtractable(false)));

    // Created Sensitive and not Extractable: Always Sensitive and Never Extractable True,
    // and the material never goes out.
    let RequestPayload::Create(mut create) = create_payload(v, 256, "locked") else {
        panic!()
    };
    let attributes = create.attributes.as_mut().expect("2.x");
    attributes.0.push(Attribute::Sensitive(true));
    attributes.0.push(Attribute::Extractable(false));
    let locked = created_uid(&one(
        &kms,
        v,
        Operation::Create,
        RequestPayload::Create(create),
    ));
    let attrs = all_attributes(&kms, v, &locked);
    assert!(attrs.contains(&Attribute::AlwaysSensitive(true)));
    assert!(attrs.contains(&Attribute::NeverExtractable(true)));
    let r = one(&kms, v, Operation::Get, get_req(&locked, None));
    assert_eq!(reason(&r), Some(ResultReason::NotExtractable));
    // Once Extractable turns True, Never Extractable is False for good.
    one(
        &kms,
        v,
        Operation::ModifyAttribute,
        modify(&locked, Attribute::Extractable(true)),
    );
    one(
        &kms,
        v,
        Operation::ModifyAttribute,
        modify(&locked, Attribute::Extractable(false)),
    );
    assert!(all_attributes(&kms, v, &locked).contains(&Attribute::NeverExtractable(false)));
}

#[test]
fn create_keeps_the_generator_honest_and_quantum_safe_means_aes_256() {
    let kms = kms();
    let v = KmipVersion::V2_1;
    let with = |bits: i32, extra: Vec<Attribute>| {
        let RequestPayload::Create(mut create) = create_payload(v, bits, "q") else {
            panic!()
        };
        create.attributes.as_mut().expect("2.x").0.extend(extra);
        one(&kms, v, Operation::Create, RequestPayload::Create(create))
    };
    let rng = |alg| Attribute::RandomNumberGenerator(RandomNumberGenerator::algorithm(alg));
    // A generator the server does not have: refused (2.1 §4.46), not recorded as a claim.
    let r = with(256, vec![rng(RNGAlgorithm::ANSIX9_31)]);
    assert_eq!(reason(&r), Some(ResultReason::FeatureNotSupported));
    let r = with(
        256,
        vec![rng(RNGAlgorithm::ANSIX9_31), rng(RNGAlgorithm::Unspecified)],
    );
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    let gens: Vec<_> = all_attributes(&kms, v, &created_uid(&r))
        .into_iter()
        .filter(|a| matches!(a, Attribute::RandomNumberGenerator(_)))
        .collect();
    assert_eq!(gens, vec![rng(RNGAlgorithm::Unspecified)]);
    // Quantum Safe (QS-M-2): AES-128 and AES-192 refused, AES-256 made.
    for bits in [128, 192] {
        let r = with(bits, vec![Attribute::QuantumSafe(true)]);
        assert_eq!(reason(&r), Some(ResultReason::GeneralFailure), "{bits}");
    }
    let r = with(256, vec![Attribute::QuantumSafe(true)]);
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    assert_eq!(
        with(128, vec![Attribute::QuantumSafe(false)]).result_status,
        ResultStatus::Success
    );
}

#[test]
fn lifecycle_dates_change_only_in_their_states_and_usage_is_fixed() {
    let kms = kms();
    let uid = create_key(&kms, KmipVersion::V2_1, 256, "dated");
    // Pre-Active: the Activation Date may be set, and changed.
    for (operation, payload) in [
        (
            Operation::AddAttribute,
            add(&uid, Attribute::ActivationDate(DateTime(NOW + 3600))),
        ),
        (
            Operation::ModifyAttribute,
            modify(&uid, Attribute::ActivationDate(DateTime(NOW + 1800))),
        ),
    ] {
        let r = one(&kms, KmipVersion::V2_1, operation, payload);
        assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    }
    one(
        &kms,
        KmipVersion::V2_1,
        Operation::Activate,
        RequestPayload::Activate(uid_req(Some(&uid))),
    );
    // Active: the Activation Date is fixed (Wrong Key Lifecycle State; 1.4: Permission
    // Denied); the Deactivation Date may still be set, and a date may not be deleted.
    let r = one(
        &kms,
        KmipVersion::V2_1,
        Operation::ModifyAttribute,
        modify(&uid, Attribute::ActivationDate(DateTime(NOW + 7200))),
    );
    assert_eq!(reason(&r), Some(ResultReason::WrongKeyLifecycleState));
    let r = one(
        &kms,
        KmipVersion::V1_4,
        Operation::ModifyAttribute,
        RequestPayload::ModifyAttribute(ModifyAttributeRequest {
            unique_identifier: Some(uid.clone()),
            attribute: Some(Attribute::ActivationDate(DateTime(NOW + 7200)).into()),
            current_attribute: None,
            new_attribute: None,
        }),
    );
    assert_eq!(reason(&r), Some(ResultReason::PermissionDenied));
    let r = one(
        &kms,
        KmipVersion::V2_1,
        Operation::AddAttribute,
        add(&uid, Attribute::DeactivationDate(DateTime(NOW + 86_400))),
    );
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    let r = one(
        &kms,
        KmipVersion::V2_1,
        Operation::DeleteAttribute,
        delete(&uid, Tag::DeactivationDate),
    );
    assert_eq!(r.result_status, ResultStatus::OperationFailed);
    // Cryptographic Usage Mask: "Modifiable by client: No" (a key's uses do not widen).
    let r = one(
        &kms,
        KmipVersion::V2_1,
        Operation::ModifyAttribute,
        modify(
            &uid,
            Attribute::CryptographicUsageMask(
                CryptographicUsageMask::Encrypt
                    | CryptographicUsageMask::Decrypt
                    | CryptographicUsageMask::WrapKey,
            ),
        ),
    );
    assert_eq!(r.result_status, ResultStatus::OperationFailed);
}

#[test]
fn locate_by_unique_identifier_and_the_id_placeholder() {
    let kms = kms();
    let v = KmipVersion::V1_4;
    let a = create_key(&kms, v, 128, "a");
    let b = create_key(&kms, v, 256, "b");
    let locate = |attrs: Vec<Attribute>, max: Option<i32>| {
        RequestPayload::Locate(LocateRequest {
            maximum_items: max,
            attribute: attrs.into_iter().map(Into::into).collect(),
            ..locate_req(vec![])
        })
    };
    let found = |r: &ResponseBatchItem| match &r.response_payload {
        Some(ResponsePayload::Locate(l)) => l.unique_identifier.clone(),
        other => panic!("{other:?} {:?}", r.result_message),
    };
    // By Unique Identifier: that object if it meets the other criteria, else nothing.
    let r = one(
        &kms,
        v,
        Operation::Locate,
        locate(vec![Attribute::UniqueIdentifier(a.clone())], None),
    );
    assert_eq!(found(&r), vec![a.clone()]);
    let r = one(
        &kms,
        v,
        Operation::Locate,
        locate(
            vec![
                Attribute::UniqueIdentifier(a.clone()),
                Attribute::CryptographicLength(256),
            ],
            None,
        ),
    );
    assert!(found(&r).is_empty());
    let r = one(
        &kms,
        v,
        Operation::Locate,
        locate(
            vec![
                Attribute::UniqueIdentifier(a.clone()),
                Attribute::UniqueIdentifier(b.clone()),
            ],
            None,
        ),
    );
    assert!(found(&r).is_empty(), "two identifiers: nothing is both");
    // One found: the Get batched after it gets that object (1.4 §4.9, TL-M-3).
    let batch = |attrs: Vec<Attribute>, max: Option<i32>| {
        send(
            &kms,
            &alice(),
            header(v, 2),
            vec![
                item(Operation::Locate, locate(attrs, max)),
                item(Operation::Get, get_by(None, None)),
            ],
        )
    };
    let r = batch(vec![Attribute::CryptographicLength(256)], None);
    assert_eq!(
        r.batch_item[1].result_status,
        ResultStatus::Success,
        "{r:?}"
    );
    let Some(ResponsePayload::Get(g)) = &r.batch_item[1].response_payload else {
        panic!()
    };
    assert_eq!(g.unique_identifier, b);
    // Two found: the placeholder is emptied and the Get fails; with Maximum Items 1 the one
    // returned is used.
    let r = batch(vec![Attribute::ObjectType(ObjectType::SymmetricKey)], None);
    assert_eq!(r.batch_item[1].result_status, ResultStatus::OperationFailed);
    let r = batch(
        vec![Attribute::ObjectType(ObjectType::SymmetricKey)],
        Some(1),
    );
    assert_eq!(
        r.batch_item[1].result_status,
        ResultStatus::Success,
        "{r:?}"
    );
}

#[test]
fn answers_do_not_echo_the_client_correlation_value_and_get_attributes_keeps_the_asked_order() {
    let kms = kms();
    let uid = create_key(&kms, KmipVersion::V2_1, 256, "ordered");
    let mut h = header(KmipVersion::V2_1, 1);
    h.client_correlation_value = Some("step=1".into());
    let r = send(
        &kms,
        &alice(),
        h,
        vec![item(
            Operation::GetAttributes,
            RequestPayload::GetAttributes(GetAttributesRequest {
                unique_identifier: Some(uid),
                attribute_name: vec![],
                attribute_reference: vec![
                    AttributeReference::Standard(Tag::State),
                    AttributeReference::Standard(Tag::CryptographicLength),
                    AttributeReference::Standard(Tag::ObjectType),
                    AttributeReference::Standard(Tag::State),
                ],
            }),
        )],
    );
    // 2.1 §9.9: the value travels in the response only for server-to-client operations.
    assert_eq!(r.response_header.client_correlation_value, None);
    let Some(ResponsePayload::GetAttributes(g)) = &r.batch_item[0].response_payload else {
        panic!()
    };
    let tags: Vec<Tag> = g
        .attributes
        .as_ref()
        .expect("2.x")
        .0
        .iter()
        .map(Attribute::tag)
        .collect();
    assert_eq!(
        tags,
        vec![Tag::State, Tag::CryptographicLength, Tag::ObjectType]
    );
}

#[test]
fn check_log_and_interop() {
    let mut kms = kms();
    let v = KmipVersion::V2_1;
    let uid = create_key(&kms, v, 256, "checked"); // Encrypt | Decrypt
    let check = |uid: Option<&str>, mask| {
        RequestPayload::Check(CheckRequest {
            unique_identifier: uid.map(str::to_string),
            usage_limits_count: None,
            cryptographic_usage_mask: Some(mask),
            lease_time: None,
        })
    };
    let r = one(
        &kms,
        v,
        Operation::Check,
        check(Some(&uid), CryptographicUsageMask::Encrypt),
    );
    let Some(ResponsePayload::Check(c)) = &r.response_payload else {
        panic!("{r:?}")
    };
    assert_eq!(c.unique_identifier.as_deref(), Some(uid.as_str()));
    let r = one(
        &kms,
        v,
        Operation::Check,
        check(Some(&uid), CryptographicUsageMask::Sign),
    );
    assert_eq!(
        reason(&r),
        Some(ResultReason::IncompatibleCryptographicUsageMask)
    );
    let r = one(
        &kms,
        KmipVersion::V1_4,
        Operation::Check,
        check(Some(&uid), CryptographicUsageMask::Sign),
    );
    assert_eq!(
        reason(&r),
        Some(ResultReason::PermissionDenied),
        "1.4 lacks the reason"
    );
    // A failed Check empties the ID Placeholder: the Get after it does not run on the key.
    let r = send(
        &kms,
        &alice(),
        header_with(v, 3, BatchErrorContinuationOption::Continue),
        vec![
            item(
                Operation::Check,
                check(Some(&uid), CryptographicUsageMask::Encrypt),
            ),
            item(Operation::Check, check(None, CryptographicUsageMask::Sign)),
            item(Operation::Get, get_by(None, None)),
        ],
    );
    assert_eq!(r.batch_item[0].result_status, ResultStatus::Success);
    assert_eq!(r.batch_item[1].result_status, ResultStatus::OperationFailed);
    assert_eq!(r.batch_item[2].result_status, ResultStatus::OperationFailed);

    // Log: answered with an empty payload.
    let r = one(
        &kms,
        v,
        Operation::Log,
        RequestPayload::Log(LogRequest {
            log_message: "backup run 42 starts\nforged line".into(),
        }),
    );
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");

    // Interop: not on a production server (the default), and not listed by Query then.
    let interop = || {
        RequestPayload::Interop(InteropRequest {
            interop_function: InteropFunction::Begin,
            interop_identifier: "BL-M-1-21".into(),
        })
    };
    let query = || {
        RequestPayload::Query(QueryRequest {
            query_function: vec![QueryFunction::QueryOperations],
        })
    };
    let listed = |kms: &Kms| {
        let r = one(kms, v, Operation::Query, query());
        let Some(ResponsePayload::Query(q)) = r.response_payload else {
            panic!()
        };
        q.operation
    };
    let r = one(&kms, v, Operation::Interop, interop());
    assert_eq!(reason(&r), Some(ResultReason::OperationNotSupported));
    assert!(!listed(&kms).contains(&Operation::Interop));
    assert!(listed(&kms).contains(&Operation::Check));
    kms.config.interop = true;
    let r = one(&kms, v, Operation::Interop, interop());
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    assert!(listed(&kms).contains(&Operation::Interop));
}

#[test]
fn key_format_type_is_an_attribute_and_the_default_format_of_get() {
    let kms = kms();
    let v = KmipVersion::V2_1;
    let with = |format: Option<KeyFormatType>| {
        let RequestPayload::Create(mut create) = create_payload(v, 256, "formatted") else {
            panic!()
        };
        create
            .attributes
            .as_mut()
            .expect("2.x")
            .0
            .extend(format.map(Attribute::KeyFormatType));
        one(&kms, v, Operation::Create, RequestPayload::Create(create))
    };
    let raw = created_uid(&with(None));
    let transparent = created_uid(&with(Some(KeyFormatType::TransparentSymmetricKey)));
    let r = with(Some(KeyFormatType::PKCS_1));
    assert_eq!(reason(&r), Some(ResultReason::KeyFormatTypeNotSupported));
    let format_of = |r: &ResponseBatchItem| match &r.response_payload {
        Some(ResponsePayload::Get(g)) => match &g.object {
            Some(Object::SymmetricKey(k)) => k.key_block.key_format_type,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert!(all_attributes(&kms, v, &raw).contains(&Attribute::KeyFormatType(KeyFormatType::Raw)));
    assert_eq!(
        format_of(&one(&kms, v, Operation::Get, get_req(&raw, None))),
        KeyFormatType::Raw
    );
    // Created for Transparent: Get without a format gives that; asked, Raw is still served.
    assert_eq!(
        format_of(&one(&kms, v, Operation::Get, get_req(&transparent, None))),
        KeyFormatType::TransparentSymmetricKey
    );
    assert_eq!(
        format_of(&one(
            &kms,
            v,
            Operation::Get,
            get_req(&transparent, Some(KeyFormatType::Raw))
        )),
        KeyFormatType::Raw
    );
    // 1.x has no Key Format Type attribute: never listed or returned there.
    let old = all_attributes(&kms, KmipVersion::V1_4, &transparent);
    assert!(!old.iter().any(|a| matches!(a, Attribute::KeyFormatType(_))));
    let r = one(
        &kms,
        KmipVersion::V1_4,
        Operation::GetAttributeList,
        RequestPayload::GetAttributeList(uid_req(Some(&transparent))),
    );
    let Some(ResponsePayload::GetAttributeList(l)) = r.response_payload else {
        panic!()
    };
    assert!(
        !l.attribute_name.iter().any(|n| n == "Key Format Type"),
        "{:?}",
        l.attribute_name
    );
    // A single-valued attribute added twice: Attribute Single Valued (2.x).
    let r = one(
        &kms,
        v,
        Operation::AddAttribute,
        add(&raw, Attribute::ActivationDate(DateTime(NOW + 10))),
    );
    assert_eq!(r.result_status, ResultStatus::Success);
    let r = one(
        &kms,
        v,
        Operation::AddAttribute,
        add(&raw, Attribute::ActivationDate(DateTime(NOW + 20))),
    );
    assert_eq!(reason(&r), Some(ResultReason::AttributeSingleValued));
    // An unknown object: Object Not Found (2.x), Item Not Found (1.x).
    let r = one(&kms, v, Operation::Get, get_req("nothing-here", None));
    assert_eq!(reason(&r), Some(ResultReason::ObjectNotFound));
    let r = one(
        &kms,
        KmipVersion::V1_4,
        Operation::Get,
        get_req("nothing-here", None),
    );
    assert_eq!(reason(&r), Some(ResultReason::ItemNotFound));
}

#[test]
fn an_undone_get_does_not_hand_out_the_key() {
    let kms = kms();
    let v = KmipVersion::V2_1;
    let uid = create_key(&kms, v, 256, "fresh");
    let h = header_with(v, 2, BatchErrorContinuationOption::Undo);
    let r = send(
        &kms,
        &alice(),
        h,
        vec![
            item(Operation::Get, get_req(&uid, None)),
            item(
                Operation::Destroy,
                RequestPayload::Destroy(uid_req(Some("no-such-object"))),
            ),
        ],
    );
    assert_eq!(r.batch_item[0].result_status, ResultStatus::OperationUndone);
    // The Get's Fresh change was undone with it: the key still reads as never served, so it
    // was not sent either.
    assert!(r.batch_item[0].response_payload.is_none());
    assert!(all_attributes(&kms, v, &uid).contains(&Attribute::Fresh(true)));
}

#[test]
fn protection_storage_and_the_short_unique_identifier() {
    use sha2::Digest as _;
    let kms = kms();
    let v = KmipVersion::V2_1;
    let with = |masks: Vec<ProtectionStorageMask>| {
        let RequestPayload::Create(mut create) = create_payload(v, 256, "stored") else {
            panic!()
        };
        create.protection_storage_masks = Some(ProtectionStorageMasks {
            protection_storage_mask: masks,
        });
        one(&kms, v, Operation::Create, RequestPayload::Create(create))
    };
    // Hardware only cannot be met (2.1 §7.33): refused, not kept in software anyway.
    let r = with(vec![ProtectionStorageMask::Hardware]);
    assert_eq!(reason(&r), Some(ResultReason::ProtectionStorageUnavailable));
    let r = with(vec![
        ProtectionStorageMask::Software | ProtectionStorageMask::Hardware,
    ]);
    assert_eq!(
        reason(&r),
        Some(ResultReason::ProtectionStorageUnavailable),
        "all bits must match"
    );
    // One acceptable alternative is enough.
    let r = with(vec![
        ProtectionStorageMask::Hardware,
        ProtectionStorageMask::Software,
    ]);
    let uid = created_uid(&r);
    // Both derived attributes are there in 2.x (and never in 1.x, which lacks them).
    let attrs = all_attributes(&kms, v, &uid);
    assert!(attrs.contains(&Attribute::ProtectionStorageMask(
        ProtectionStorageMask::Software
    )));
    let short = ByteString(sha2::Sha256::digest(uid.as_bytes()).to_vec());
    assert!(attrs.contains(&Attribute::ShortUniqueIdentifier(short)));
    let old = all_attributes(&kms, KmipVersion::V1_4, &uid);
    assert!(!old.iter().any(|a| matches!(
        a,
        Attribute::ProtectionStorageMask(_) | Attribute::ShortUniqueIdentifier(_)
    )));
    // The server's to set: a client may not.
    let RequestPayload::Create(mut create) = create_payload(v, 256, "x") else {
        panic!()
    };
    create
        .attributes
        .as_mut()
        .expect("2.x")
        .0
        .push(Attribute::ShortUniqueIdentifier(ByteString(vec![1; 32])));
    let r = one(&kms, v, Operation::Create, RequestPayload::Create(create));
    assert_eq!(r.result_status, ResultStatus::OperationFailed);
}

#[test]
fn a_date_set_in_the_past_changes_the_state_at_once() {
    let kms = kms();
    let v = KmipVersion::V2_1;
    let state = |uid: &str| {
        all_attributes(&kms, v, uid)
            .into_iter()
            .find_map(|a| match a {
                Attribute::State(s) => Some(s),
                _ => None,
            })
            .expect("State")
    };
    let set_date = |uid: &str, a: Attribute| {
        let r = one(&kms, v, Operation::AddAttribute, add(uid, a));
        assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    };
    // A future date changes nothing; modified to the past, Pre-Active becomes Active
    // (2.1 §4.57, transition 4).
    let uid = create_key(&kms, v, 256, "dated");
    set_date(&uid, Attribute::ActivationDate(DateTime(NOW + 60)));
    assert_eq!(state(&uid), State::PreActive);
    let r = one(
        &kms,
        v,
        Operation::ModifyAttribute,
        modify(&uid, Attribute::ActivationDate(DateTime(NOW - 60))),
    );
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    assert_eq!(state(&uid), State::Active);
    // A Deactivation Date now deactivates an Active key (transition 6).
    set_date(&uid, Attribute::DeactivationDate(DateTime(NOW + 60)));
    assert_eq!(state(&uid), State::Active);
    let r = one(
        &kms,
        v,
        Operation::ModifyAttribute,
        modify(&uid, Attribute::DeactivationDate(DateTime(NOW))),
    );
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    assert_eq!(state(&uid), State::Deactivated);
    // A Pre-Active key given a past Deactivation Date stays Pre-Active: no transition
    // leads from Pre-Active to Deactivated.
    let other = create_key(&kms, v, 256, "other");
    set_date(&other, Attribute::DeactivationDate(DateTime(NOW - 60)));
    assert_eq!(state(&other), State::PreActive);
}

#[test]
fn a_locate_of_archival_storage_only_finds_nothing_and_empties_the_placeholder() {
    let kms = kms();
    let v = KmipVersion::V2_1;
    let r = send(
        &kms,
        &alice(),
        header_with(v, 3, BatchErrorContinuationOption::Continue),
        vec![
            item(Operation::Create, create_payload(v, 256, "archived?")),
            item(
                Operation::Locate,
                RequestPayload::Locate(LocateRequest {
                    storage_status_mask: Some(StorageStatusMask::ArchivalStorage),
                    ..locate_req(vec![])
                }),
            ),
            item(Operation::Get, get_by(None, None)),
        ],
    );
    let Some(ResponsePayload::Locate(l)) = &r.batch_item[1].response_payload else {
        panic!("{r:?}")
    };
    assert!(l.unique_identifier.is_empty(), "kmipd keeps no archive");
    assert_eq!(l.located_items, None);
    // The Create's identifier no longer stands in the placeholder.
    assert_eq!(r.batch_item[2].result_status, ResultStatus::OperationFailed);
}

/// Dates reached with no request (2.1 §4.57, transitions 4 and 6, "the date is reached"):
/// every operation sees the state the dates make at its own time, and the sweep stores it
/// (with an audit record) so that Locate by State finds it.
#[test]
fn dates_reached_later_change_the_state() {
    let store = Arc::new(MemoryStore::new());
    let kms = Kms::new(store.clone());
    let v = KmipVersion::V2_1;
    let at = |now: i64, operation: Operation, payload: RequestPayload| {
        let mut r = send_at(
            &kms,
            &alice(),
            header(v, 1),
            vec![item(operation, payload)],
            now,
        );
        r.batch_item.remove(0)
    };
    let attributes_at = |now: i64, uid: &str| {
        let r = at(
            now,
            Operation::GetAttributes,
            RequestPayload::GetAttributes(GetAttributesRequest {
                unique_identifier: Some(uid.into()),
                attribute_name: vec![],
                attribute_reference: vec![],
            }),
        );
        let Some(ResponsePayload::GetAttributes(g)) = r.response_payload else {
            panic!("{r:?}")
        };
        g.attributes.expect("attributes").0
    };
    let state_at = |now: i64, uid: &str| {
        attributes_at(now, uid)
            .into_iter()
            .find_map(|a| match a {
                Attribute::State(s) => Some(s),
                _ => None,
            })
            .expect("State")
    };
    let located = |now: i64, state: State| {
        let r = at(
            now,
            Operation::Locate,
            RequestPayload::Locate(locate_req(vec![Attribute::State(state)])),
        );
        let Some(ResponsePayload::Locate(l)) = r.response_payload else {
            panic!("{r:?}")
        };
        l.unique_identifier
    };
    let uid = create_key(&kms, v, 256, "dated");
    for date in [
        Attribute::ActivationDate(DateTime(NOW + 60)),
        Attribute::DeactivationDate(DateTime(NOW + 120)),
    ] {
        let r = at(NOW, Operation::AddAttribute, add(&uid, date));
        assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    }
    assert_eq!(kms.sweep_dates(NOW + 59).unwrap(), 0);
    assert_eq!(state_at(NOW + 59, &uid), State::PreActive);
    // The Activation Date reached: an operation sees Active, dated then, before any sweep.
    assert_eq!(state_at(NOW + 60, &uid), State::Active);
    assert!(attributes_at(NOW + 61, &uid).contains(&Attribute::LastChangeDate(DateTime(NOW + 60))));
    let r = at(
        NOW + 61,
        Operation::Activate,
        RequestPayload::Activate(uid_req(Some(&uid))),
    );
    assert_eq!(reason(&r), Some(ResultReason::WrongKeyLifecycleState));
    // The sweep stores it: Locate by State finds it Active, no longer Pre-Active.
    assert_eq!(located(NOW + 61, State::Active), Vec::<String>::new());
    assert_eq!(kms.sweep_dates(NOW + 61).unwrap(), 1);
    assert_eq!(kms.sweep_dates(NOW + 61).unwrap(), 0, "nothing left to do");
    assert_eq!(located(NOW + 61, State::Active), vec![uid.clone()]);
    assert_eq!(located(NOW + 61, State::PreActive), Vec::<String>::new());
    // The Deactivation Date reached likewise.
    assert_eq!(state_at(NOW + 120, &uid), State::Deactivated);
    assert_eq!(kms.sweep_dates(NOW + 120).unwrap(), 1);
    assert_eq!(located(NOW + 121, State::Deactivated), vec![uid.clone()]);
    let stored = crate::store::ObjectStore::get(store.as_ref(), &uid)
        .unwrap()
        .unwrap();
    assert_eq!(stored.state(), State::Deactivated);
    assert!(
        stored
            .attributes
            .contains(&Attribute::LastChangeDate(DateTime(NOW + 120)))
    );
    let sweeps: Vec<_> = audit_log(&store)
        .into_iter()
        .filter(|e| e.principal == lifecycle::SERVER_PRINCIPAL)
        .map(|e| (e.operation, e.unique_identifiers, e.time))
        .collect();
    assert_eq!(
        sweeps,
        vec![
            (
                "State change: Activation Date reached".to_string(),
                vec![uid.clone()],
                NOW + 61
            ),
            (
                "State change: Deactivation Date reached".to_string(),
                vec![uid.clone()],
                NOW + 120
            ),
        ]
    );
    // A sweep that finds both dates past takes a Pre-Active key through Active to
    // Deactivated in one change; a Create with both past does the same at once.
    let both = create_key(&kms, v, 256, "both");
    for date in [
        Attribute::DeactivationDate(DateTime(NOW + 200)),
        Attribute::ActivationDate(DateTime(NOW + 100)),
    ] {
        let r = at(NOW, Operation::AddAttribute, add(&both, date));
        assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    }
    assert_eq!(kms.sweep_dates(NOW + 300).unwrap(), 1);
    assert_eq!(
        located(NOW + 300, State::Deactivated),
        vec![both, uid.clone()],
        "newest first"
    );
    let r = at(
        NOW,
        Operation::Create,
        RequestPayload::Create(CreateRequest {
            object_type: ObjectType::SymmetricKey,
            template_attribute: None,
            attributes: Some(Attributes(vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
                Attribute::CryptographicLength(128),
                Attribute::ActivationDate(DateTime(NOW - 20)),
                Attribute::DeactivationDate(DateTime(NOW - 10)),
            ])),
            protection_storage_masks: None,
        }),
    );
    let past = created_uid(&r);
    assert_eq!(state_at(NOW, &past), State::Deactivated);
}

/// The Digest of a registered key is "computed using the Key Format Type of the registered
/// object" (1.4 §3.17): over the bytes for Raw, over the TTLV encoding of the Key Material
/// structure for Transparent Symmetric Key (built here by hand, byte for byte).
#[test]
fn a_registered_keys_digest_follows_its_format() {
    use sha2::Digest as _;
    let kms = kms();
    let v = KmipVersion::V2_1;
    let key = [0x5Au8; 32];
    let register = |format: KeyFormatType, material: KeyMaterial| {
        let r = one(
            &kms,
            v,
            Operation::Register,
            RequestPayload::Register(RegisterRequest {
                object_type: ObjectType::SymmetricKey,
                template_attribute: None,
                attributes: Some(Attributes(vec![Attribute::CryptographicUsageMask(
                    CryptographicUsageMask::Encrypt,
                )])),
                object: Some(Object::SymmetricKey(SymmetricKey {
                    key_block: KeyBlock {
                        key_format_type: format,
                        key_compression_type: None,
                        key_value: Some(KeyValue::Plain {
                            key_material: material,
                            attributes: Vec::new(),
                        }),
                        cryptographic_algorithm: Some(CryptographicAlgorithm::AES),
                        cryptographic_length: Some(256),
                        key_wrapping_data: None,
                    },
                })),
                protection_storage_masks: None,
            }),
        );
        let Some(ResponsePayload::Register(reg)) = r.response_payload else {
            panic!("{r:?}")
        };
        all_attributes(&kms, v, &reg.unique_identifier)
            .into_iter()
            .find_map(|a| match a {
                Attribute::Digest(d) => Some(d),
                _ => None,
            })
            .expect("a Digest")
    };
    let raw = register(
        KeyFormatType::Raw,
        KeyMaterial::Bytes(KeyBytes::new(key.to_vec())),
    );
    assert_eq!(raw.key_format_type, Some(KeyFormatType::Raw));
    assert_eq!(
        raw.digest_value,
        Some(ByteString(sha2::Sha256::digest(key).to_vec()))
    );
    let transparent = register(
        KeyFormatType::TransparentSymmetricKey,
        KeyMaterial::Transparent(Box::new(super::objects::transparent_symmetric(
            KeyBytes::new(key.to_vec()),
        ))),
    );
    // Key Material (42 00 43), a Structure of 40 bytes: Key (42 00 3F), a Byte String of 32.
    let mut ttlv = vec![0x42, 0x00, 0x43, 0x01, 0, 0, 0, 40];
    ttlv.extend([0x42, 0x00, 0x3F, 0x08, 0, 0, 0, 32]);
    ttlv.extend(key);
    assert_eq!(
        transparent.key_format_type,
        Some(KeyFormatType::TransparentSymmetricKey)
    );
    assert_eq!(
        transparent.digest_value,
        Some(ByteString(sha2::Sha256::digest(&ttlv).to_vec()))
    );
}

/// Correlation values (2.1 §9.9, §9.10): each message gets a Server Correlation Value of its
/// own, sent in the response header where the version defines one (1.4 and later), and
/// every audit record of the message keeps it with the request's Client Correlation Value.
#[test]
fn correlation_values_are_answered_and_audited() {
    let store = Arc::new(MemoryStore::new());
    let kms = Kms::new(store.clone());
    let mut seen = Vec::new();
    for (version, client) in [
        (KmipVersion::V2_1, Some("vcenter-task-17")),
        (KmipVersion::V1_4, None),
        (KmipVersion::V1_2, Some("legacy")),
    ] {
        let mut h = header(version, 2);
        h.client_correlation_value = client.map(str::to_string);
        let r = send(
            &kms,
            &alice(),
            h,
            vec![
                item(Operation::Create, create_payload(version, 128, "c")),
                item(
                    Operation::Query,
                    RequestPayload::Query(QueryRequest {
                        query_function: vec![QueryFunction::QueryOperations],
                    }),
                ),
            ],
        );
        assert_eq!(
            r.response_header.client_correlation_value, None,
            "not echoed"
        );
        let events: Vec<_> = audit_log(&store).into_iter().rev().take(2).collect();
        let server = events[0].server_correlation_value.clone().expect("logged");
        assert!(server.starts_with("kmipd-"), "{server}");
        for e in &events {
            assert_eq!(e.client_correlation_value.as_deref(), client, "{version}");
            assert_eq!(e.server_correlation_value.as_ref(), Some(&server));
        }
        let sent = r.response_header.server_correlation_value;
        if version >= KmipVersion::V1_4 {
            assert_eq!(sent, Some(server.clone()), "{version}");
        } else {
            assert_eq!(sent, None, "{version} has no Server Correlation Value");
        }
        seen.push(server);
    }
    seen.dedup();
    assert_eq!(seen.len(), 3, "one value per message: {seen:?}");
}

/// Original Creation Date (2.1 §4.38): the server sets it, equal to the Initial Date, for an
/// object it creates; a client may give it at Register (a key made elsewhere, earlier) or add
/// it later, once; nobody modifies or deletes it.
#[test]
fn original_creation_date_is_set_by_create_and_given_by_register() {
    let kms = kms();
    let v = KmipVersion::V2_1;
    let ocd = |uid: &str| {
        all_attributes(&kms, v, uid)
            .into_iter()
            .filter_map(|a| match a {
                Attribute::OriginalCreationDate(d) => Some(d.0),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let created = create_key(&kms, v, 128, "made here");
    assert_eq!(ocd(&created), vec![NOW]);
    assert!(all_attributes(&kms, v, &created).contains(&Attribute::InitialDate(DateTime(NOW))));
    let RequestPayload::Create(mut create) = create_payload(v, 128, "claims a date") else {
        unreachable!()
    };
    create
        .attributes
        .as_mut()
        .unwrap()
        .0
        .push(Attribute::OriginalCreationDate(DateTime(NOW - 1)));
    let r = one(&kms, v, Operation::Create, RequestPayload::Create(create));
    assert_eq!(reason(&r), Some(ResultReason::InvalidField));

    let register = |attributes: Vec<Attribute>| {
        let r = one(
            &kms,
            v,
            Operation::Register,
            RequestPayload::Register(RegisterRequest {
                object_type: ObjectType::SecretData,
                template_attribute: None,
                attributes: Some(Attributes(attributes)),
                object: Some(Object::SecretData(SecretData {
                    secret_data_type: SecretDataType::Password,
                    key_block: KeyBlock {
                        key_format_type: KeyFormatType::Opaque,
                        key_compression_type: None,
                        key_value: Some(KeyValue::Plain {
                            key_material: KeyMaterial::Bytes(KeyBytes::new(b"pw".to_vec())),
                            attributes: Vec::new(),
                        }),
                        cryptographic_algorithm: None,
                        cryptographic_length: None,
                        key_wrapping_data: None,
                    },
                })),
                protection_storage_masks: None,
            }),
        );
        let Some(ResponsePayload::Register(reg)) = r.response_payload else {
            panic!("{r:?}")
        };
        reg.unique_identifier
    };
    let imported = register(vec![Attribute::OriginalCreationDate(DateTime(
        1_500_000_000,
    ))]);
    assert_eq!(ocd(&imported), vec![1_500_000_000]);
    let later = register(vec![]);
    assert_eq!(ocd(&later), Vec::<i64>::new());
    let add_date = |uid: &str, d: i64| {
        one(
            &kms,
            v,
            Operation::AddAttribute,
            add(uid, Attribute::OriginalCreationDate(DateTime(d))),
        )
    };
    assert_eq!(
        add_date(&later, 1_400_000_000).result_status,
        ResultStatus::Success
    );
    assert_eq!(ocd(&later), vec![1_400_000_000]);
    assert_eq!(
        reason(&add_date(&later, 1_300_000_000)),
        Some(ResultReason::AttributeSingleValued)
    );
    let r = one(
        &kms,
        v,
        Operation::ModifyAttribute,
        modify(
            &later,
            Attribute::OriginalCreationDate(DateTime(1_300_000_000)),
        ),
    );
    assert_eq!(r.result_status, ResultStatus::OperationFailed, "{r:?}");
    let r = one(
        &kms,
        v,
        Operation::DeleteAttribute,
        delete(&created, Tag::OriginalCreationDate),
    );
    assert_eq!(r.result_status, ResultStatus::OperationFailed, "{r:?}");
    assert_eq!(ocd(&later), vec![1_400_000_000]);
    assert_eq!(ocd(&created), vec![NOW]);
}

/// A Key Wrapping Specification: Encrypt under `key`, naming Block Cipher Mode `mode` if given.
fn wrap_spec(key: &str, mode: Option<BlockCipherMode>) -> KeyWrappingSpecification {
    KeyWrappingSpecification {
        wrapping_method: WrappingMethod::Encrypt,
        encryption_key_information: Some(EncryptionKeyInformation {
            unique_identifier: key.into(),
            cryptographic_parameters: mode.map(super::wrap::mode_only),
        }),
        mac_signature_key_information: None,
        attribute_name: vec![],
        encoding_option: None,
    }
}

/// A Get of `uid` in `format`, wrapped as `spec` says.
fn wrapped_get(
    uid: &str,
    format: Option<KeyFormatType>,
    spec: KeyWrappingSpecification,
) -> RequestPayload {
    RequestPayload::Get(GetRequest {
        key_wrapping_specification: Some(spec),
        ..match get_req(uid, format) {
            RequestPayload::Get(g) => g,
            _ => unreachable!(),
        }
    })
}

/// The Key Block a Get answered with.
fn got_block(r: &ResponseBatchItem) -> &KeyBlock {
    let Some(ResponsePayload::Get(g)) = &r.response_payload else {
        panic!("not a Get response: {r:?}")
    };
    g.object
        .as_ref()
        .and_then(Object::key_block)
        .expect("a Key Block")
}

/// Asserts that `r` failed with `want` (`why` says which case).
fn refused(r: ResponseBatchItem, want: ResultReason, why: &str) {
    assert_eq!(
        r.result_status,
        ResultStatus::OperationFailed,
        "{why}: {r:?}"
    );
    assert_eq!(reason(&r), Some(want), "{why}: {:?}", r.result_message);
}

/// Creates an AES-256 key with usage mask `mask` as Alice, left Pre-Active; its Unique
/// Identifier.
fn pre_active_key(kms: &Kms, version: KmipVersion, mask: CryptographicUsageMask) -> String {
    created_uid(&one(
        kms,
        version,
        Operation::Create,
        create_with(version, 256, "pre-active", mask, vec![]),
    ))
}

/// Creates an AES key of `bits` with usage mask `mask` and `extra` attributes as Alice, and
/// activates it; its Unique Identifier.
fn active_key(
    kms: &Kms,
    version: KmipVersion,
    bits: i32,
    mask: CryptographicUsageMask,
    extra: Vec<Attribute>,
) -> String {
    let uid = created_uid(&one(
        kms,
        version,
        Operation::Create,
        create_with(version, bits, "active", mask, extra),
    ));
    let r = one(
        kms,
        version,
        Operation::Activate,
        RequestPayload::Activate(uid_req(Some(&uid))),
    );
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    uid
}

/// Creates an AES-256 key that may wrap (Wrap Key, Unwrap Key) with `extra` attributes, and
/// activates it; its Unique Identifier and its bytes.
fn wrapping_key(kms: &Kms, version: KmipVersion, extra: Vec<Attribute>) -> (String, Vec<u8>) {
    let uid = active_key(
        kms,
        version,
        256,
        CryptographicUsageMask::WrapKey | CryptographicUsageMask::UnwrapKey,
        extra,
    );
    let bytes = key_bytes(&one(kms, version, Operation::Get, get_req(&uid, None)));
    (uid, bytes)
}

/// Unwraps a Get answer's wrapped Key Value with `kek` (RFC 3394, or RFC 5649 if `padded`),
/// independently of the server's code.
fn unwrap_value(r: &ResponseBatchItem, kek: &[u8], padded: bool) -> Vec<u8> {
    use aes_kw::{KeyInit, KwAes256, KwpAes256};
    let Some(KeyValue::Wrapped(w)) = &got_block(r).key_value else {
        panic!("not wrapped: {r:?}")
    };
    let mut out = vec![0u8; w.as_slice().len()];
    let n = if padded {
        KwpAes256::new(kek.try_into().unwrap())
            .unwrap_key(w.as_slice(), &mut out)
            .expect("unwraps")
            .len()
    } else {
        KwAes256::new(kek.try_into().unwrap())
            .unwrap_key(w.as_slice(), &mut out)
            .expect("unwraps")
            .len()
    };
    out.truncate(n);
    out
}

/// Reads TTLV-encoded Key Value bytes as a client of `version` would.
fn key_value_of(bytes: &[u8], version: KmipVersion) -> KeyValue {
    use crate::kmip::codec::Ttlv as _;
    let item = ttlv::decode(bytes).expect("TTLV");
    assert_eq!(item.tag, Tag::KeyValue);
    KeyValue::read(&item, &Cx::new(version)).expect("a Key Value")
}

/// 2.1 §6.1.19 with §7.18: Get returns the Key Value wrapped under an Active Wrap Key key, TTLV
/// encoded by default (the whole Key Value, with the attributes named), or the bare key
/// material with No Encoding, with NIST Key Wrap or AES Key Wrap Padding; the Key Wrapping
/// Data says how; a Sensitive key leaves wrapped only; the audit record names both keys.
#[test]
fn get_wraps_a_key_under_a_wrapping_key_in_every_version() {
    for v in [
        KmipVersion::V1_2,
        KmipVersion::V1_4,
        KmipVersion::V2_0,
        KmipVersion::V2_1,
    ] {
        let store = Arc::new(MemoryStore::new());
        let kms = Kms::new(store.clone());
        let (kek, kek_bytes) = wrapping_key(&kms, v, vec![]);
        let uid = create_key(&kms, v, 128, "payload");
        let plain = key_bytes(&one(&kms, v, Operation::Get, get_req(&uid, None)));

        // The default: the TTLV of the Key Value structure, under NIST Key Wrap.
        let r = one(
            &kms,
            v,
            Operation::Get,
            wrapped_get(
                &uid,
                None,
                wrap_spec(&kek, Some(BlockCipherMode::NISTKeyWrap)),
            ),
        );
        assert_eq!(r.result_status, ResultStatus::Success, "{v}: {r:?}");
        let block = got_block(&r);
        assert_eq!(block.key_format_type, KeyFormatType::Raw);
        assert_eq!(
            block.cryptographic_algorithm,
            Some(CryptographicAlgorithm::AES)
        );
        assert_eq!(block.cryptographic_length, Some(128));
        assert_eq!(
            block.key_wrapping_data,
            Some(KeyWrappingData {
                wrapping_method: WrappingMethod::Encrypt,
                encryption_key_information: Some(EncryptionKeyInformation {
                    unique_identifier: kek.clone(),
                    cryptographic_parameters: Some(super::wrap::mode_only(
                        BlockCipherMode::NISTKeyWrap
                    )),
                }),
                mac_signature_key_information: None,
                mac_signature: None,
                iv_counter_nonce: None,
                encoding_option: None,
            })
        );
        let value = key_value_of(&unwrap_value(&r, &kek_bytes, false), v);
        assert_eq!(
            value,
            KeyValue::Plain {
                key_material: KeyMaterial::Bytes(KeyBytes::new(plain.clone())),
                attributes: vec![],
            },
            "{v}"
        );

        // No Encoding: the key material's bytes alone; with AES Key Wrap Padding too.
        for (mode, padded) in [
            (BlockCipherMode::NISTKeyWrap, false),
            (BlockCipherMode::AESKeyWrapPadding, true),
        ] {
            let mut spec = wrap_spec(&kek, Some(mode));
            spec.encoding_option = Some(EncodingOption::NoEncoding);
            let r = one(&kms, v, Operation::Get, wrapped_get(&uid, None, spec));
            assert_eq!(r.result_status, ResultStatus::Success, "{v}: {r:?}");
            assert_eq!(unwrap_value(&r, &kek_bytes, padded), plain, "{v} {mode:?}");
            let data = got_block(&r).key_wrapping_data.as_ref().unwrap();
            assert_eq!(data.encoding_option, Some(EncodingOption::NoEncoding));
        }

        // No parameters asked for: NIST Key Wrap, and the answer says so. The attributes
        // named travel inside the wrapped Key Value, in the version's own shape.
        let mut spec = wrap_spec(&kek, None);
        spec.attribute_name = vec!["Cryptographic Algorithm".into(), "Name".into()];
        let r = one(
            &kms,
            v,
            Operation::Get,
            wrapped_get(&uid, Some(KeyFormatType::TransparentSymmetricKey), spec),
        );
        assert_eq!(r.result_status, ResultStatus::Success, "{v}: {r:?}");
        let info = got_block(&r).key_wrapping_data.as_ref().unwrap();
        assert_eq!(
            info.encryption_key_information
                .as_ref()
                .unwrap()
                .cryptographic_parameters,
            Some(super::wrap::mode_only(BlockCipherMode::NISTKeyWrap))
        );
        assert_eq!(
            got_block(&r).key_format_type,
            KeyFormatType::TransparentSymmetricKey
        );
        let KeyValue::Plain {
            key_material: KeyMaterial::Transparent(t),
            attributes,
        } = key_value_of(&unwrap_value(&r, &kek_bytes, false), v)
        else {
            panic!("{v}: not a Transparent Key Value")
        };
        assert_eq!(t.key.as_ref().unwrap().as_slice(), plain.as_slice());
        assert_eq!(
            attributes,
            vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
                Attribute::Name(Name {
                    name_value: "payload".into(),
                    name_type: NameType::UninterpretedTextString,
                }),
            ],
            "{v}"
        );

        // The audit record of a wrapped Get names the key and the key it left under.
        let last = audit_log(&store).pop().unwrap();
        assert_eq!(last.operation, "Get");
        assert_eq!(last.unique_identifiers, vec![uid.clone(), kek.clone()]);
    }

    // A Sensitive key (1.4 and later) leaves the server wrapped, and only wrapped.
    let v = KmipVersion::V2_1;
    let kms = kms();
    let (kek, kek_bytes) = wrapping_key(&kms, v, vec![]);
    let uid = created_uid(&one(
        &kms,
        v,
        Operation::Create,
        create_with(
            v,
            256,
            "sensitive",
            CryptographicUsageMask::Encrypt,
            vec![Attribute::Sensitive(true)],
        ),
    ));
    let r = one(&kms, v, Operation::Get, get_req(&uid, None));
    assert_eq!(reason(&r), Some(ResultReason::Sensitive));
    let r = one(
        &kms,
        v,
        Operation::Get,
        wrapped_get(&uid, None, wrap_spec(&kek, None)),
    );
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    let KeyValue::Plain {
        key_material: KeyMaterial::Bytes(b),
        ..
    } = key_value_of(&unwrap_value(&r, &kek_bytes, false), v)
    else {
        panic!()
    };
    assert_eq!(b.as_slice().len(), 32);
    // Key Wrap Type: the plain key either way (kmipd keeps none wrapped); beside a Key
    // Wrapping Specification, a contradiction.
    let kek_plain = |t| {
        RequestPayload::Get(GetRequest {
            key_wrap_type: Some(t),
            ..match get_req(&kek, None) {
                RequestPayload::Get(g) => g,
                _ => unreachable!(),
            }
        })
    };
    for t in [KeyWrapType::NotWrapped, KeyWrapType::AsRegistered] {
        let r = one(&kms, v, Operation::Get, kek_plain(t));
        assert_eq!(key_bytes(&r), kek_bytes, "{t:?}");
    }
    let RequestPayload::Get(mut both) = wrapped_get(&uid, None, wrap_spec(&kek, None)) else {
        unreachable!()
    };
    both.key_wrap_type = Some(KeyWrapType::NotWrapped);
    let r = one(&kms, v, Operation::Get, RequestPayload::Get(both));
    assert_eq!(reason(&r), Some(ResultReason::InvalidField));
}

/// Every refusal of a wrapped Get, with its Result Reason (2.1 §6.1.19.1), and the 1.x
/// reasons for the ones 1.x lacks.
#[test]
fn wrapped_get_refuses_with_the_spec_reasons() {
    let v = KmipVersion::V2_1;
    let kms = kms();
    let (kek, _) = wrapping_key(&kms, v, vec![]);
    let uid = create_key(&kms, v, 256, "payload");
    let get = |spec: KeyWrappingSpecification| {
        one(&kms, v, Operation::Get, wrapped_get(&uid, None, spec))
    };

    refused(
        get(wrap_spec("no-such-key", None)),
        ResultReason::WrappingObjectNotFound,
        "missing wrapping key",
    );
    let r = one(
        &kms,
        KmipVersion::V1_4,
        Operation::Get,
        wrapped_get(&uid, None, wrap_spec("no-such-key", None)),
    );
    refused(r, ResultReason::ItemNotFound, "missing wrapping key, 1.4");

    // A key of the wrong use, one not yet Active, one past its Protect Stop Date.
    let not_for_wrapping = active_key(&kms, v, 256, CryptographicUsageMask::Encrypt, vec![]);
    refused(
        get(wrap_spec(&not_for_wrapping, None)),
        ResultReason::IncompatibleCryptographicUsageMask,
        "no Wrap Key bit",
    );
    let pre_active = pre_active_key(&kms, v, CryptographicUsageMask::WrapKey);
    refused(
        get(wrap_spec(&pre_active, None)),
        ResultReason::WrongKeyLifecycleState,
        "Pre-Active wrapping key",
    );
    let (stopped, _) = wrapping_key(&kms, v, vec![Attribute::ProtectStopDate(DateTime(NOW - 1))]);
    refused(
        get(wrap_spec(&stopped, None)),
        ResultReason::WrongKeyLifecycleState,
        "past the Protect Stop Date",
    );

    // Parameters: a mode that is no key wrap; one the key's Cryptographic Parameters do not
    // allow.
    refused(
        get(wrap_spec(&kek, Some(BlockCipherMode::GCM))),
        ResultReason::BadCryptographicParameters,
        "GCM",
    );
    let (kwp_only, _) = wrapping_key(
        &kms,
        v,
        vec![Attribute::CryptographicParameters(super::wrap::mode_only(
            BlockCipherMode::AESKeyWrapPadding,
        ))],
    );
    refused(
        get(wrap_spec(&kwp_only, Some(BlockCipherMode::NISTKeyWrap))),
        ResultReason::BadCryptographicParameters,
        "a mode the key does not allow",
    );
    assert_eq!(
        get(wrap_spec(&kwp_only, None)).result_status,
        ResultStatus::Success,
        "the key's own mode"
    );

    // A key under itself.
    let r = one(
        &kms,
        v,
        Operation::Get,
        wrapped_get(&kek, None, wrap_spec(&kek, None)),
    );
    refused(r, ResultReason::InvalidField, "a key under itself");

    // Methods and structure.
    let mut spec = wrap_spec(&kek, None);
    spec.wrapping_method = WrappingMethod::MACSign;
    refused(get(spec), ResultReason::FeatureNotSupported, "MAC/sign");
    let mut spec = wrap_spec(&kek, None);
    spec.encryption_key_information = None;
    refused(get(spec), ResultReason::InvalidField, "no key information");
    let mut spec = wrap_spec(&kek, None);
    spec.encoding_option = Some(EncodingOption::NoEncoding);
    spec.attribute_name = vec!["Name".into()];
    refused(
        get(spec),
        ResultReason::EncodingOptionError,
        "No Encoding with attribute names",
    );
    let mut spec = wrap_spec(&kek, None);
    spec.encoding_option = Some(EncodingOption::NoEncoding);
    let r = one(
        &kms,
        v,
        Operation::Get,
        wrapped_get(&uid, Some(KeyFormatType::TransparentSymmetricKey), spec),
    );
    refused(
        r,
        ResultReason::EncodingOptionError,
        "No Encoding of a structure",
    );

    // The object itself: not Extractable is never returned, wrapped or not.
    one(
        &kms,
        v,
        Operation::ModifyAttribute,
        modify(&uid, Attribute::Extractable(false)),
    );
    refused(
        get(wrap_spec(&kek, None)),
        ResultReason::NotExtractable,
        "not Extractable",
    );

    // Secret Data has a Key Block and is wrapped; an Opaque Object has none.
    let register = |object: Object| {
        created_uid_of_register(&one(
            &kms,
            v,
            Operation::Register,
            RequestPayload::Register(RegisterRequest {
                object_type: object.object_type(),
                template_attribute: None,
                attributes: Some(Attributes(vec![])),
                object: Some(object),
                protection_storage_masks: None,
            }),
        ))
    };
    let secret = register(password(b"correct horse".to_vec()));
    let r = one(
        &kms,
        v,
        Operation::Get,
        wrapped_get(&secret, None, wrap_spec(&kek, None)),
    );
    assert!(
        matches!(got_block(&r).key_value, Some(KeyValue::Wrapped(_))),
        "{r:?}"
    );
    // 13 bytes: NIST Key Wrap cannot take them bare, AES Key Wrap Padding can.
    let mut spec = wrap_spec(&kek, Some(BlockCipherMode::NISTKeyWrap));
    spec.encoding_option = Some(EncodingOption::NoEncoding);
    refused(
        one(
            &kms,
            v,
            Operation::Get,
            wrapped_get(&secret, None, spec.clone()),
        ),
        ResultReason::BadCryptographicParameters,
        "13 bytes under NIST Key Wrap",
    );
    spec.encryption_key_information =
        wrap_spec(&kek, Some(BlockCipherMode::AESKeyWrapPadding)).encryption_key_information;
    let r = one(&kms, v, Operation::Get, wrapped_get(&secret, None, spec));
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    let opaque = register(Object::OpaqueObject(OpaqueObject {
        opaque_data_type: OpaqueDataType::Unknown(0x8000_0001),
        opaque_data_value: KeyBytes::new(vec![9; 16]),
    }));
    refused(
        one(
            &kms,
            v,
            Operation::Get,
            wrapped_get(&opaque, None, wrap_spec(&kek, None)),
        ),
        ResultReason::InvalidObjectType,
        "an Opaque Object",
    );

    // Another client's wrapping key is not Alice's to use.
    let bob = Principal::new("bob");
    let mut r = send(
        &kms,
        &bob,
        header(v, 1),
        vec![item(
            Operation::Create,
            create_with(v, 256, "bob's", CryptographicUsageMask::WrapKey, vec![]),
        )],
    );
    let bobs = created_uid(&r.batch_item.remove(0));
    let mine = create_key(&kms, v, 256, "mine");
    let r = one(
        &kms,
        v,
        Operation::Get,
        wrapped_get(&mine, None, wrap_spec(&bobs, None)),
    );
    refused(
        r,
        ResultReason::PermissionDenied,
        "another client's wrapping key",
    );

    // A destroyed wrapping key.
    let (gone, _) = wrapping_key(&kms, v, vec![]);
    let revoke = one(&kms, v, Operation::Revoke, revoke_req(&gone));
    assert_eq!(revoke.result_status, ResultStatus::Success, "{revoke:?}");
    refused(
        one(
            &kms,
            v,
            Operation::Get,
            wrapped_get(&mine, None, wrap_spec(&gone, None)),
        ),
        ResultReason::WrongKeyLifecycleState,
        "Deactivated wrapping key",
    );
    let r = one(
        &kms,
        v,
        Operation::Destroy,
        RequestPayload::Destroy(uid_req(Some(&gone))),
    );
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    refused(
        one(
            &kms,
            v,
            Operation::Get,
            wrapped_get(&mine, None, wrap_spec(&gone, None)),
        ),
        ResultReason::WrappingObjectDestroyed,
        "destroyed wrapping key",
    );
}

/// A Register of `object` with `attrs`, in `version`'s shape.
fn register_key(version: KmipVersion, object: Object, attrs: Vec<Attribute>) -> RequestPayload {
    let (template_attribute, attributes) = template(version, attrs);
    RequestPayload::Register(RegisterRequest {
        object_type: object.object_type(),
        template_attribute,
        attributes,
        object: Some(object),
        protection_storage_masks: None,
    })
}

/// An AES-256 Symmetric Key whose Key Value is `value`, wrapped as `data` says.
fn wrapped_key(value: KeyValue, data: KeyWrappingData) -> Object {
    Object::SymmetricKey(SymmetricKey {
        key_block: KeyBlock {
            key_format_type: KeyFormatType::Raw,
            key_compression_type: None,
            key_value: Some(value),
            cryptographic_algorithm: Some(CryptographicAlgorithm::AES),
            cryptographic_length: Some(256),
            key_wrapping_data: Some(data),
        },
    })
}

/// Key Wrapping Data: Encrypt under `kek` with NIST Key Wrap and `encoding`.
fn wrapping_data(kek: &str, encoding: Option<EncodingOption>) -> KeyWrappingData {
    KeyWrappingData {
        wrapping_method: WrappingMethod::Encrypt,
        encryption_key_information: Some(EncryptionKeyInformation {
            unique_identifier: kek.into(),
            cryptographic_parameters: Some(super::wrap::mode_only(BlockCipherMode::NISTKeyWrap)),
        }),
        mac_signature_key_information: None,
        mac_signature: None,
        iv_counter_nonce: None,
        encoding_option: encoding,
    }
}

/// 2.1 §6.1.43: a key registered wrapped is unwrapped with the key it names (Unwrap Mode
/// Processed, as Query says), linked to it (Wrapping Key Link, 2.x only), digested and kept
/// like any key; Get gives it in the clear, and As Registered the very bytes registered. Both
/// encodings, PyKMIP's layout, 1.4 and 2.1.
#[test]
fn register_unwraps_a_wrapped_key() {
    use aes_kw::{KeyInit, KwAes256};
    for v in [KmipVersion::V1_4, KmipVersion::V2_1] {
        let store = Arc::new(MemoryStore::new());
        let kms = Kms::new(store.clone());
        let (kek, kek_bytes) = wrapping_key(&kms, v, vec![]);
        let key = [0x5Au8; 32];
        let wrap = |plain: &[u8]| {
            let mut out = vec![0u8; plain.len() + 8];
            KwAes256::new(kek_bytes.as_slice().try_into().unwrap())
                .wrap_key(plain, &mut out)
                .unwrap();
            KeyBytes::new(out)
        };
        let ttlv_value = crate::kmip::codec::to_bytes(
            &KeyValue::Plain {
                key_material: KeyMaterial::Bytes(KeyBytes::new(key.to_vec())),
                attributes: vec![],
            },
            Tag::KeyValue,
            &Cx::new(v),
        );
        for (what, value, encoding) in [
            (
                "No Encoding",
                KeyValue::Wrapped(wrap(&key)),
                Some(EncodingOption::NoEncoding),
            ),
            ("TTLV Encoding", KeyValue::Wrapped(wrap(&ttlv_value)), None),
            (
                "PyKMIP's layout",
                KeyValue::Plain {
                    key_material: KeyMaterial::Bytes(wrap(&key)),
                    attributes: vec![],
                },
                Some(EncodingOption::NoEncoding),
            ),
        ] {
            let data = wrapping_data(&kek, encoding);
            let r = one(
                &kms,
                v,
                Operation::Register,
                register_key(
                    v,
                    wrapped_key(value.clone(), data.clone()),
                    vec![Attribute::CryptographicUsageMask(
                        CryptographicUsageMask::Encrypt,
                    )],
                ),
            );
            assert_eq!(r.result_status, ResultStatus::Success, "{v} {what}: {r:?}");
            let uid = created_uid_of_register(&r);
            let plain = one(&kms, v, Operation::Get, get_req(&uid, None));
            assert_eq!(key_bytes(&plain), key, "{v} {what}");
            assert!(got_block(&plain).key_wrapping_data.is_none());
            let attrs = all_attributes(&kms, v, &uid);
            assert!(
                attrs.contains(&Attribute::Digest(crate::kmip::attributes::Digest {
                    hashing_algorithm: HashingAlgorithm::SHA_256,
                    digest_value: Some(ByteString(
                        <sha2::Sha256 as sha2::Digest>::digest(key).to_vec()
                    )),
                    key_format_type: Some(KeyFormatType::Raw),
                })),
                "{v} {what}: {attrs:?}"
            );
            let link = Attribute::Link(crate::kmip::attributes::Link {
                link_type: LinkType::WrappingKeyLink,
                linked_object_identifier: kek.clone(),
            });
            // 1.x has no Wrapping Key Link: kept, not shown.
            assert_eq!(attrs.contains(&link), !v.is_1x(), "{v} {what}: {attrs:?}");
            // As Registered: wrapped again, the same bytes and the same Key Wrapping Data.
            let r = one(
                &kms,
                v,
                Operation::Get,
                RequestPayload::Get(GetRequest {
                    key_wrap_type: Some(KeyWrapType::AsRegistered),
                    ..match get_req(&uid, None) {
                        RequestPayload::Get(g) => g,
                        _ => unreachable!(),
                    }
                }),
            );
            assert_eq!(r.result_status, ResultStatus::Success, "{v} {what}: {r:?}");
            let block = got_block(&r);
            let registered = match &value {
                KeyValue::Plain {
                    key_material: KeyMaterial::Bytes(b),
                    ..
                } => KeyValue::Wrapped(b.clone()),
                other => other.clone(),
            };
            assert_eq!(block.key_value.as_ref(), Some(&registered), "{v} {what}");
            assert_eq!(block.key_wrapping_data.as_ref(), Some(&data), "{v} {what}");
        }
        // The audit records of a wrapped Register name the key that unwrapped it.
        let registered: Vec<_> = audit_log(&store)
            .into_iter()
            .filter(|e| e.operation == "Register")
            .collect();
        assert_eq!(registered.len(), 3);
        assert!(
            registered
                .iter()
                .all(|e| e.unique_identifiers.len() == 2 && e.unique_identifiers[1] == kek)
        );
        // A key registered in the clear comes back As Registered in the clear.
        let r = one(
            &kms,
            v,
            Operation::Get,
            RequestPayload::Get(GetRequest {
                key_wrap_type: Some(KeyWrapType::AsRegistered),
                ..match get_req(&kek, None) {
                    RequestPayload::Get(g) => g,
                    _ => unreachable!(),
                }
            }),
        );
        assert_eq!(key_bytes(&r), kek_bytes);
        // Query says so.
        let r = one(
            &kms,
            v,
            Operation::Query,
            RequestPayload::Query(QueryRequest {
                query_function: vec![QueryFunction::QueryCapabilities],
            }),
        );
        let Some(ResponsePayload::Query(q)) = r.response_payload else {
            panic!("{r:?}")
        };
        assert_eq!(
            q.capability_information[0].unwrap_mode,
            Some(UnwrapMode::Processed)
        );
    }
}

/// Every refusal of a Register of a wrapped key, with its Result Reason.
#[test]
fn register_of_a_wrapped_key_refuses_with_the_spec_reasons() {
    let v = KmipVersion::V2_1;
    let kms = kms();
    let (kek, _) = wrapping_key(&kms, v, vec![]);
    let (other, other_bytes) = wrapping_key(&kms, v, vec![]);
    let under_other = |plain: &[u8]| {
        use aes_kw::{KeyInit, KwAes256};
        let mut out = vec![0u8; plain.len() + 8];
        KwAes256::new(other_bytes.as_slice().try_into().unwrap())
            .wrap_key(plain, &mut out)
            .unwrap();
        KeyValue::Wrapped(KeyBytes::new(out))
    };
    let no_encoding = Some(EncodingOption::NoEncoding);
    let register = |value: KeyValue, data: KeyWrappingData| {
        one(
            &kms,
            v,
            Operation::Register,
            register_key(v, wrapped_key(value, data), vec![]),
        )
    };
    let key = [3u8; 32];

    // Wrapped under another key than the one named: the integrity check fails.
    refused(
        register(under_other(&key), wrapping_data(&kek, no_encoding)),
        ResultReason::CryptographicFailure,
        "the wrong wrapping key",
    );
    // The right one: registered.
    assert_eq!(
        register(under_other(&key), wrapping_data(&other, no_encoding)).result_status,
        ResultStatus::Success
    );
    refused(
        register(under_other(&key), wrapping_data("no-such-key", no_encoding)),
        ResultReason::WrappingObjectNotFound,
        "a missing wrapping key",
    );
    // TTLV Encoding declared over bytes that are not a Key Value.
    refused(
        register(under_other(&key), wrapping_data(&other, None)),
        ResultReason::InvalidField,
        "not TTLV",
    );
    // Key Wrapping Data over a Key Value that is not wrapped.
    refused(
        register(
            KeyValue::Plain {
                key_material: KeyMaterial::Bytes(KeyBytes::new(key.to_vec())),
                attributes: vec![],
            },
            wrapping_data(&other, None),
        ),
        ResultReason::InvalidField,
        "a structure under TTLV Encoding",
    );
    let mut data = wrapping_data(&other, no_encoding);
    data.iv_counter_nonce = Some(ByteString(vec![0; 8]));
    refused(
        register(under_other(&key), data),
        ResultReason::BadCryptographicParameters,
        "an IV for AES key wrap",
    );
    let mut data = wrapping_data(&other, no_encoding);
    data.wrapping_method = WrappingMethod::MACSign;
    refused(
        register(under_other(&key), data),
        ResultReason::FeatureNotSupported,
        "MAC/sign",
    );
    let mut data = wrapping_data(&other, no_encoding);
    data.encryption_key_information = None;
    refused(
        register(under_other(&key), data),
        ResultReason::InvalidField,
        "no key information",
    );

    // Keys that may not unwrap: without Unwrap Key, not yet Active, before the Process Start
    // Date. A Deactivated key still may (2.1 §4.57: it processes, it does not protect).
    let wrap_only = active_key(&kms, v, 256, CryptographicUsageMask::WrapKey, vec![]);
    refused(
        register(under_other(&key), wrapping_data(&wrap_only, no_encoding)),
        ResultReason::IncompatibleCryptographicUsageMask,
        "no Unwrap Key bit",
    );
    let pre_active = pre_active_key(&kms, v, CryptographicUsageMask::UnwrapKey);
    refused(
        register(under_other(&key), wrapping_data(&pre_active, no_encoding)),
        ResultReason::WrongKeyLifecycleState,
        "a Pre-Active wrapping key",
    );
    let (not_yet, _) = wrapping_key(
        &kms,
        v,
        vec![Attribute::ProcessStartDate(DateTime(NOW + 3600))],
    );
    refused(
        register(under_other(&key), wrapping_data(&not_yet, no_encoding)),
        ResultReason::WrongKeyLifecycleState,
        "before the Process Start Date",
    );
    let r = one(&kms, v, Operation::Revoke, revoke_req(&other));
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    assert_eq!(
        register(under_other(&key), wrapping_data(&other, no_encoding)).result_status,
        ResultStatus::Success,
        "a Deactivated key unwraps"
    );
}

/// Get Attributes naming none leaves out what PyKMIP 0.11's decoders cannot read (its 1.x
/// decoder: Revocation Reason, Link, Random Number Generator; its 2.0 decoder: all but the
/// attributes it knows), so that its `get_attributes()` of a revoked or linked key works;
/// named, each is returned, and 2.1 gets everything.
#[test]
fn all_attributes_leave_out_what_pykmip_cannot_read_and_named_ones_are_returned() {
    let kms = kms();
    for v in [
        KmipVersion::V1_2,
        KmipVersion::V1_4,
        KmipVersion::V2_0,
        KmipVersion::V2_1,
    ] {
        let uid = create_key(&kms, v, 256, "revoked");
        one(
            &kms,
            v,
            Operation::Activate,
            RequestPayload::Activate(uid_req(Some(&uid))),
        );
        let r = one(&kms, v, Operation::Revoke, revoke_req(&uid));
        assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
        let link = Attribute::Link(crate::kmip::attributes::Link {
            link_type: LinkType::NextLink,
            linked_object_identifier: "elsewhere".into(),
        });
        let r = one(&kms, v, Operation::AddAttribute, add(&uid, link.clone()));
        assert_eq!(r.result_status, ResultStatus::Success, "{v}: {r:?}");
        let all = all_attributes(&kms, v, &uid);
        let has = |tag: Tag| all.iter().any(|a| a.tag() == tag);
        let full = v == KmipVersion::V2_1;
        for tag in [Tag::RevocationReason, Tag::Link] {
            assert_eq!(has(tag), full, "{v}: {tag} in {all:?}");
        }
        assert!(
            has(Tag::State) && has(Tag::DeactivationDate),
            "{v}: {all:?}"
        );
        if v == KmipVersion::V2_0 {
            assert!(!has(Tag::OriginalCreationDate) && !has(Tag::AlwaysSensitive));
        }
        // Named, they are there.
        let r = one(
            &kms,
            v,
            Operation::GetAttributes,
            RequestPayload::GetAttributes(GetAttributesRequest {
                unique_identifier: Some(uid.clone()),
                attribute_name: if v.is_1x() {
                    vec!["Revocation Reason".into(), "Link".into()]
                } else {
                    vec![]
                },
                attribute_reference: if v.is_1x() {
                    vec![]
                } else {
                    vec![
                        AttributeReference::Standard(Tag::RevocationReason),
                        AttributeReference::Standard(Tag::Link),
                    ]
                },
            }),
        );
        let Some(ResponsePayload::GetAttributes(g)) = r.response_payload else {
            panic!("{v}: {r:?}")
        };
        let named: Vec<Attribute> = if v.is_1x() {
            g.attribute.into_iter().map(|a| a.attribute).collect()
        } else {
            g.attributes.expect("2.x").0
        };
        assert_eq!(named.len(), 2, "{v}: {named:?}");
        assert_eq!(named[1], link, "{v}");
    }
}

/// An Encrypt request of `data` under `uid` with `params`, `iv` and `aad`.
fn encrypt_req(
    uid: &str,
    params: Option<crate::kmip::attributes::CryptographicParameters>,
    data: &[u8],
    iv: Option<&[u8]>,
) -> RequestPayload {
    RequestPayload::Encrypt(EncryptRequest {
        unique_identifier: Some(uid.into()),
        cryptographic_parameters: params,
        data: Some(KeyBytes::new(data.to_vec())),
        iv_counter_nonce: iv.map(|v| ByteString(v.to_vec())),
        correlation_value: None,
        init_indicator: None,
        final_indicator: None,
        authenticated_encryption_additional_data: None,
    })
}

fn decrypt_req(
    uid: &str,
    params: Option<crate::kmip::attributes::CryptographicParameters>,
    data: &[u8],
    iv: Option<&[u8]>,
    tag: Option<&[u8]>,
) -> RequestPayload {
    RequestPayload::Decrypt(DecryptRequest {
        unique_identifier: Some(uid.into()),
        cryptographic_parameters: params,
        data: Some(ByteString(data.to_vec())),
        iv_counter_nonce: iv.map(|v| ByteString(v.to_vec())),
        correlation_value: None,
        init_indicator: None,
        final_indicator: None,
        authenticated_encryption_additional_data: None,
        authenticated_encryption_tag: tag.map(|t| ByteString(t.to_vec())),
    })
}

/// Cryptographic Parameters of `mode` with `padding` and Random IV `random`.
fn cipher_params(
    mode: BlockCipherMode,
    padding: Option<PaddingMethod>,
    random: Option<bool>,
) -> crate::kmip::attributes::CryptographicParameters {
    crate::kmip::attributes::CryptographicParameters {
        block_cipher_mode: Some(mode),
        padding_method: padding,
        random_iv: random,
        ..crate::kmip::attributes::CryptographicParameters::none()
    }
}

/// 2.1 §6.1.17, §6.1.11 through the dispatcher, in 1.2, 1.4 and 2.1: CBC with PKCS5 and a
/// Random IV the server draws and returns (what MongoDB's and EDB's clients ask for), CBC
/// with the key's own Cryptographic Parameters, GCM with additional data; the key never
/// leaves; Deactivated keys decrypt but do not encrypt; audit names the key.
#[test]
fn encrypt_and_decrypt_round_trip_in_every_version_that_has_them() {
    for v in [KmipVersion::V1_2, KmipVersion::V1_4, KmipVersion::V2_1] {
        let store = Arc::new(MemoryStore::new());
        let kms = Kms::new(store.clone());
        let key = created_uid(&one(
            &kms,
            v,
            Operation::Create,
            create_with(
                v,
                256,
                "data-key",
                CryptographicUsageMask::Encrypt | CryptographicUsageMask::Decrypt,
                vec![Attribute::CryptographicParameters(cipher_params(
                    BlockCipherMode::CBC,
                    Some(PaddingMethod::PKCS5),
                    None,
                ))],
            ),
        ));
        one(
            &kms,
            v,
            Operation::Activate,
            RequestPayload::Activate(uid_req(Some(&key))),
        );
        let secret = b"a 32-byte data key for a database";
        let cbc = cipher_params(BlockCipherMode::CBC, Some(PaddingMethod::PKCS5), Some(true));
        let r = one(
            &kms,
            v,
            Operation::Encrypt,
            encrypt_req(&key, Some(cbc.clone()), secret, None),
        );
        let Some(ResponsePayload::Encrypt(e)) = r.response_payload else {
            panic!("{v}: {r:?}")
        };
        assert_eq!(e.unique_identifier, key);
        let iv = e.iv_counter_nonce.expect("the IV drawn").0;
        let ct = e.data.expect("ciphertext").0;
        assert_eq!((iv.len(), ct.len()), (16, 48), "{v}");
        // Decrypt with the key's own parameters (CBC, PKCS5) and the IV returned.
        let r = one(
            &kms,
            v,
            Operation::Decrypt,
            decrypt_req(&key, None, &ct, Some(&iv), None),
        );
        let Some(ResponsePayload::Decrypt(d)) = r.response_payload else {
            panic!("{v}: {r:?}")
        };
        assert_eq!(d.data.expect("plaintext").as_slice(), secret);
        // Another IV drawn for the same data: another ciphertext.
        let r = one(
            &kms,
            v,
            Operation::Encrypt,
            encrypt_req(&key, Some(cbc), secret, None),
        );
        let Some(ResponsePayload::Encrypt(e2)) = r.response_payload else {
            panic!()
        };
        assert_ne!(e2.data.unwrap().0, ct);
        // GCM with additional data: the tag is checked with it.
        let gcm = cipher_params(BlockCipherMode::GCM, None, None);
        let nonce = [9u8; 12];
        let RequestPayload::Encrypt(mut req) =
            encrypt_req(&key, Some(gcm.clone()), secret, Some(&nonce))
        else {
            unreachable!()
        };
        req.authenticated_encryption_additional_data = Some(ByteString(b"row 7".to_vec()));
        let r = one(&kms, v, Operation::Encrypt, RequestPayload::Encrypt(req));
        let Some(ResponsePayload::Encrypt(g)) = r.response_payload else {
            panic!("{v}: {r:?}")
        };
        assert!(
            g.iv_counter_nonce.is_none(),
            "the client's IV is not echoed"
        );
        let (gct, tag) = (g.data.unwrap().0, g.authenticated_encryption_tag.unwrap().0);
        for (aad, ok) in [(&b"row 7"[..], true), (&b"row 8"[..], false)] {
            let RequestPayload::Decrypt(mut req) =
                decrypt_req(&key, Some(gcm.clone()), &gct, Some(&nonce), Some(&tag))
            else {
                unreachable!()
            };
            req.authenticated_encryption_additional_data = Some(ByteString(aad.to_vec()));
            let r = one(&kms, v, Operation::Decrypt, RequestPayload::Decrypt(req));
            if ok {
                let Some(ResponsePayload::Decrypt(d)) = r.response_payload else {
                    panic!("{v}: {r:?}")
                };
                assert_eq!(d.data.unwrap().as_slice(), secret);
            } else {
                assert_eq!(reason(&r), Some(ResultReason::CryptographicFailure), "{v}");
                assert!(r.response_payload.is_none());
            }
        }
        // Deactivated: decrypts what it encrypted, encrypts no more.
        let r = one(&kms, v, Operation::Revoke, revoke_req(&key));
        assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
        let r = one(
            &kms,
            v,
            Operation::Decrypt,
            decrypt_req(&key, None, &ct, Some(&iv), None),
        );
        assert_eq!(r.result_status, ResultStatus::Success, "{v}: {r:?}");
        let r = one(
            &kms,
            v,
            Operation::Encrypt,
            encrypt_req(&key, None, secret, Some(&iv)),
        );
        assert_eq!(
            reason(&r),
            Some(if v.is_1x() {
                ResultReason::PermissionDenied
            } else {
                ResultReason::WrongKeyLifecycleState
            }),
            "{v}"
        );
        // The audit log names the key of each, and holds none of the data.
        let log = audit_log(&store);
        let uses: Vec<_> = log
            .iter()
            .filter(|e| e.operation == "Encrypt" || e.operation == "Decrypt")
            .collect();
        assert_eq!(uses.len(), 8, "{v}");
        assert!(
            uses.iter()
                .all(|e| e.unique_identifiers == vec![key.clone()])
        );
    }
}

/// Every refusal of Encrypt and Decrypt, with its Result Reason.
#[test]
fn encrypt_and_decrypt_refuse_with_the_spec_reasons() {
    let v = KmipVersion::V2_1;
    let kms = kms();
    let both = CryptographicUsageMask::Encrypt | CryptographicUsageMask::Decrypt;
    let make = |mask: CryptographicUsageMask, extra: Vec<Attribute>, activate: bool| {
        let uid = created_uid(&one(
            &kms,
            v,
            Operation::Create,
            create_with(v, 128, "k", mask, extra),
        ));
        if activate {
            one(
                &kms,
                v,
                Operation::Activate,
                RequestPayload::Activate(uid_req(Some(&uid))),
            );
        }
        uid
    };
    let key = make(both, vec![], true);
    let ecb = || Some(cipher_params(BlockCipherMode::ECB, None, None));
    let cbc = || Some(cipher_params(BlockCipherMode::CBC, None, None));
    let block = [0u8; 16];
    let enc = |uid: &str, p, data: &[u8], iv: Option<&[u8]>| {
        one(&kms, v, Operation::Encrypt, encrypt_req(uid, p, data, iv))
    };

    assert_eq!(
        enc(&key, ecb(), &block, None).result_status,
        ResultStatus::Success
    );
    refused(
        enc(&key, None, &block, None),
        ResultReason::BadCryptographicParameters,
        "no mode anywhere",
    );
    refused(
        enc(
            &key,
            Some(cipher_params(BlockCipherMode::CTR, None, None)),
            &block,
            None,
        ),
        ResultReason::BadCryptographicParameters,
        "CTR",
    );
    refused(
        enc(&key, ecb(), &[0; 15], None),
        ResultReason::BadCryptographicParameters,
        "15 bytes, no padding",
    );
    refused(
        enc(&key, cbc(), &block, None),
        ResultReason::InvalidMessage,
        "no IV",
    );
    refused(
        enc(&key, cbc(), &block, Some(&[0; 8])),
        ResultReason::BadCryptographicParameters,
        "an 8-byte CBC IV",
    );
    refused(
        enc(&key, ecb(), &block, Some(&[0; 16])),
        ResultReason::BadCryptographicParameters,
        "an IV for ECB",
    );
    refused(
        enc(
            &key,
            Some(cipher_params(BlockCipherMode::CBC, None, Some(true))),
            &block,
            Some(&[0; 16]),
        ),
        ResultReason::InvalidField,
        "Random IV and an IV",
    );
    let r = one(
        &kms,
        v,
        Operation::Decrypt,
        decrypt_req(&key, cbc(), &block, None, None),
    );
    refused(r, ResultReason::InvalidMessage, "decrypt without the IV");
    let r = one(
        &kms,
        v,
        Operation::Decrypt,
        decrypt_req(
            &key,
            Some(cipher_params(BlockCipherMode::GCM, None, None)),
            &block,
            Some(&[0; 12]),
            None,
        ),
    );
    refused(r, ResultReason::InvalidField, "GCM decrypt without the tag");
    // Multi-part requests.
    for (init, last, correlation) in [
        (Some(true), None, None),
        (None, Some(false), None),
        (None, None, Some(ByteString(vec![1]))),
    ] {
        let RequestPayload::Encrypt(mut req) = encrypt_req(&key, ecb(), &block, None) else {
            unreachable!()
        };
        req.init_indicator = init;
        req.final_indicator = last;
        req.correlation_value = correlation;
        let r = one(&kms, v, Operation::Encrypt, RequestPayload::Encrypt(req));
        refused(r, ResultReason::FeatureNotSupported, "multi-part");
    }
    let RequestPayload::Encrypt(mut req) = encrypt_req(&key, ecb(), &block, None) else {
        unreachable!()
    };
    req.data = None;
    refused(
        one(&kms, v, Operation::Encrypt, RequestPayload::Encrypt(req)),
        ResultReason::InvalidField,
        "no Data",
    );

    // Keys that may not: Pre-Active, without the usage bit, with Usage Limits, another
    // client's, missing; a Secret Data.
    let pre_active = make(both, vec![], false);
    refused(
        enc(&pre_active, ecb(), &block, None),
        ResultReason::WrongKeyLifecycleState,
        "Pre-Active",
    );
    let decrypt_only = make(CryptographicUsageMask::Decrypt, vec![], true);
    refused(
        enc(&decrypt_only, ecb(), &block, None),
        ResultReason::IncompatibleCryptographicUsageMask,
        "no Encrypt bit",
    );
    let limited = make(
        both,
        vec![Attribute::UsageLimits(
            crate::kmip::attributes::UsageLimits {
                usage_limits_total: 16,
                usage_limits_count: None,
                usage_limits_unit: Some(UsageLimitsUnit::Byte),
            },
        )],
        true,
    );
    // Usage Limits of 16 bytes: one block encrypted, then no more; the count is kept.
    assert_eq!(
        enc(&limited, ecb(), &block, None).result_status,
        ResultStatus::Success
    );
    refused(
        enc(&limited, ecb(), &block, None),
        ResultReason::PermissionDenied,
        "Usage Limits spent",
    );
    assert!(
        all_attributes(&kms, v, &limited).contains(&Attribute::UsageLimits(
            crate::kmip::attributes::UsageLimits {
                usage_limits_total: 16,
                usage_limits_count: Some(0),
                usage_limits_unit: Some(UsageLimitsUnit::Byte),
            }
        ))
    );
    // Decrypting is not limited.
    let r = one(
        &kms,
        v,
        Operation::Decrypt,
        decrypt_req(&limited, ecb(), &block, None, None),
    );
    assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
    refused(
        enc("no-such-key", ecb(), &block, None),
        ResultReason::ObjectNotFound,
        "missing",
    );
    let r = one_as(
        &kms,
        &Principal::new("bob"),
        v,
        Operation::Encrypt,
        encrypt_req(&key, ecb(), &block, None),
    );
    refused(r, ResultReason::PermissionDenied, "another client");
    let r = one(
        &kms,
        v,
        Operation::Register,
        register_key(
            v,
            password(vec![1; 16]),
            vec![
                Attribute::CryptographicUsageMask(both),
                Attribute::ActivationDate(DateTime(NOW - 1)),
            ],
        ),
    );
    let secret = created_uid_of_register(&r);
    refused(
        enc(&secret, ecb(), &block, None),
        ResultReason::InvalidObjectType,
        "Secret Data",
    );

    // KMIP 1.0 and 1.1 have no Encrypt.
    let r = one(
        &kms,
        KmipVersion::V1_1,
        Operation::Encrypt,
        encrypt_req(&key, ecb(), &block, None),
    );
    assert_eq!(r.result_status, ResultStatus::OperationFailed, "{r:?}");
}

/// A Re-key of `uid` (none: the ID Placeholder) with `offset` and `attributes` in
/// `version`'s shape.
fn rekey_req(
    version: KmipVersion,
    uid: Option<&str>,
    offset: Option<u32>,
    attributes: Vec<Attribute>,
) -> RequestPayload {
    let (template_attribute, attributes) = if attributes.is_empty() {
        (None, None)
    } else {
        template(version, attributes)
    };
    RequestPayload::ReKey(RekeyRequest {
        unique_identifier: uid.map(str::to_string),
        offset: offset.map(crate::kmip::codec::Interval),
        template_attribute,
        attributes,
        protection_storage_masks: None,
    })
}

/// Alice's Re-key of `uid` in `version`: its answer.
fn rekey(
    kms: &Kms,
    version: KmipVersion,
    uid: Option<&str>,
    offset: Option<u32>,
    attributes: Vec<Attribute>,
) -> ResponseBatchItem {
    one(
        kms,
        version,
        Operation::ReKey,
        rekey_req(version, uid, offset, attributes),
    )
}

/// `one_x` for a client of a 1.x `version`, else `two_x`.
fn by_version(version: KmipVersion, one_x: ResultReason, two_x: ResultReason) -> ResultReason {
    if version.is_1x() { one_x } else { two_x }
}

fn rekeyed_uid(r: &ResponseBatchItem) -> String {
    match &r.response_payload {
        Some(ResponsePayload::ReKey(k)) => k.unique_identifier.clone(),
        other => panic!("not a Re-key response: {other:?} / {:?}", r.result_message),
    }
}

/// Every value of the attributes with tag `tag` among `attributes`.
fn values_of(attributes: &[Attribute], tag: Tag) -> Vec<Attribute> {
    attributes
        .iter()
        .filter(|a| a.tag() == tag)
        .cloned()
        .collect()
}

/// The values of the attribute `tag` (spec name `name`) of `uid`, asked for by name: 1.x and
/// 2.0 all-attribute answers leave out what PyKMIP cannot read (Link, Usage Limits, ...).
fn attribute_of(
    kms: &Kms,
    version: KmipVersion,
    uid: &str,
    tag: Tag,
    name: &str,
) -> Vec<Attribute> {
    let r = one(
        kms,
        version,
        Operation::GetAttributes,
        RequestPayload::GetAttributes(GetAttributesRequest {
            unique_identifier: Some(uid.into()),
            attribute_name: if version.is_1x() {
                vec![name.into()]
            } else {
                vec![]
            },
            attribute_reference: if version.is_1x() {
                vec![]
            } else {
                vec![AttributeReference::Standard(tag)]
            },
        }),
    );
    let Some(ResponsePayload::GetAttributes(g)) = r.response_payload else {
        panic!("{version}: {r:?}")
    };
    if version.is_1x() {
        g.attribute.into_iter().map(|a| a.attribute).collect()
    } else {
        g.attributes.expect("2.x").0
    }
}

fn link(link_type: LinkType, to: &str) -> Attribute {
    Attribute::Link(crate::kmip::attributes::Link {
        link_type,
        linked_object_identifier: to.into(),
    })
}

/// 2.1 §6.1.46 / 1.4 §4.4 in every version: a new key with a new identifier and new
/// material of the same length; the Name moves; the two keys link to each other; the other
/// attributes and the dates are copied (so the replacement of an Active key with a past
/// Activation Date is Active at once); Initial Date, Last Change Date, Digest and Fresh are
/// the replacement's own; the existing key keeps its state and material; 2.1's Rotate
/// Generation and Rotate Latest follow; Locate by the name finds the replacement only.
#[test]
fn rekey_replaces_a_key_in_every_version() {
    let later = NOW + 10;
    for v in SUPPORTED_VERSIONS {
        let kms = kms();
        let name = format!("rotating-{v}");
        let mut extra = vec![
            Attribute::ObjectGroup("databases".into()),
            Attribute::ActivationDate(DateTime(NOW - 100)),
            Attribute::DeactivationDate(DateTime(NOW + 1000)),
        ];
        if v != KmipVersion::V1_0 {
            extra.push(Attribute::ProtectStopDate(DateTime(NOW + 500)));
        }
        let r = one(
            &kms,
            v,
            Operation::Create,
            create_with(
                v,
                192,
                &name,
                CryptographicUsageMask::Encrypt | CryptographicUsageMask::Decrypt,
                extra,
            ),
        );
        let old = created_uid(&r);
        let old_key = key_bytes(&one(&kms, v, Operation::Get, get_req(&old, None)));
        let old_before = all_attributes(&kms, v, &old);

        let mut r = send_at(
            &kms,
            &alice(),
            header(v, 1),
            vec![item(
                Operation::ReKey,
                rekey_req(v, Some(&old), None, vec![]),
            )],
            later,
        );
        let r = r.batch_item.remove(0);
        assert_eq!(r.result_status, ResultStatus::Success, "{v}: {r:?}");
        let new = rekeyed_uid(&r);
        assert_ne!(new, old, "{v}");

        let new_key = key_bytes(&one(&kms, v, Operation::Get, get_req(&new, None)));
        assert_eq!(new_key.len(), 24, "{v}");
        assert_ne!(new_key, old_key, "{v}");
        assert_eq!(
            key_bytes(&one(&kms, v, Operation::Get, get_req(&old, None))),
            old_key,
            "{v}: the existing key keeps its material"
        );

        let fresh = all_attributes(&kms, v, &new);
        let stale = all_attributes(&kms, v, &old);
        let the = |attrs: &[Attribute], tag| values_of(attrs, tag);
        let named = Attribute::Name(Name {
            name_value: name.clone(),
            name_type: NameType::UninterpretedTextString,
        });
        assert_eq!(the(&fresh, Tag::Name), vec![named.clone()], "{v}");
        assert!(the(&stale, Tag::Name).is_empty(), "{v}: {stale:?}");
        assert_eq!(
            attribute_of(&kms, v, &new, Tag::Link, "Link"),
            vec![link(LinkType::ReplacedObjectLink, &old)],
            "{v}"
        );
        assert_eq!(
            attribute_of(&kms, v, &old, Tag::Link, "Link"),
            vec![link(LinkType::ReplacementObjectLink, &new)],
            "{v}"
        );
        for copied in [
            Tag::ObjectGroup,
            Tag::ActivationDate,
            Tag::DeactivationDate,
            Tag::ProtectStopDate,
            Tag::CryptographicAlgorithm,
            Tag::CryptographicLength,
            Tag::CryptographicUsageMask,
        ] {
            assert_eq!(
                the(&fresh, copied),
                the(&old_before, copied),
                "{v}: {copied}"
            );
        }
        assert_eq!(
            the(&fresh, Tag::State),
            vec![Attribute::State(State::Active)],
            "{v}"
        );
        assert_eq!(
            the(&stale, Tag::State),
            vec![Attribute::State(State::Active)],
            "{v}"
        );
        assert_eq!(
            the(&fresh, Tag::InitialDate),
            vec![Attribute::InitialDate(DateTime(later))],
            "{v}"
        );
        assert_eq!(
            the(&stale, Tag::LastChangeDate),
            vec![Attribute::LastChangeDate(DateTime(later))],
            "{v}"
        );
        assert_eq!(the(&fresh, Tag::Digest).len(), 1, "{v}");
        assert_ne!(
            the(&fresh, Tag::Digest),
            the(&old_before, Tag::Digest),
            "{v}"
        );
        if v >= KmipVersion::V1_1 {
            // The replacement was Got once above: no longer Fresh, as any key.
            assert_eq!(
                the(&fresh, Tag::Fresh),
                vec![Attribute::Fresh(false)],
                "{v}"
            );
        }
        if v == KmipVersion::V2_1 {
            assert_eq!(
                the(&fresh, Tag::RotateGeneration),
                vec![Attribute::RotateGeneration(1)]
            );
            assert_eq!(
                the(&fresh, Tag::RotateLatest),
                vec![Attribute::RotateLatest(true)]
            );
            assert_eq!(
                the(&stale, Tag::RotateLatest),
                vec![Attribute::RotateLatest(false)]
            );
        }
        let found = located(
            &kms,
            KmipVersion::V2_1,
            RequestPayload::Locate(locate_req(vec![named])),
        );
        assert_eq!(found.unique_identifier, vec![new.clone()], "{v}");

        // A second generation counts on from the first.
        let newer = rekeyed_uid(&rekey(&kms, v, Some(&new), None, vec![]));
        if v == KmipVersion::V2_1 {
            assert_eq!(
                values_of(&all_attributes(&kms, v, &newer), Tag::RotateGeneration),
                vec![Attribute::RotateGeneration(2)]
            );
        }
    }
}

/// Table 303 of 2.1 (Table 172 of 1.4): with an Offset the replacement's Activation Date is
/// now + Offset and its Process Start, Protect Stop and Deactivation Dates move with it, so
/// the replacement waits Pre-Active; an Offset beside a date in the request is Invalid
/// Message; dates to move but no Activation Date to move them by is Illegal Operation (1.4;
/// 2.1, which lacks that reason, gets Invalid Field); an existing key without dates just gets
/// the Activation Date.
#[test]
fn rekey_with_an_offset_moves_the_dates() {
    for v in [KmipVersion::V1_4, KmipVersion::V2_1] {
        let kms = kms();
        let dated = created_uid(&one(
            &kms,
            v,
            Operation::Create,
            create_with(
                v,
                128,
                "dated",
                CryptographicUsageMask::Encrypt,
                vec![
                    Attribute::ActivationDate(DateTime(NOW - 100)),
                    Attribute::ProcessStartDate(DateTime(NOW - 50)),
                    Attribute::ProtectStopDate(DateTime(NOW + 500)),
                    Attribute::DeactivationDate(DateTime(NOW + 1000)),
                ],
            ),
        ));
        let r = rekey(&kms, v, Some(&dated), Some(3600), vec![]);
        let new = rekeyed_uid(&r);
        let attrs = all_attributes(&kms, v, &new);
        let moved = NOW + 3600 - (NOW - 100);
        for (tag, want) in [
            (
                Tag::ActivationDate,
                Attribute::ActivationDate(DateTime(NOW + 3600)),
            ),
            (
                Tag::ProcessStartDate,
                Attribute::ProcessStartDate(DateTime(NOW - 50 + moved)),
            ),
            (
                Tag::ProtectStopDate,
                Attribute::ProtectStopDate(DateTime(NOW + 500 + moved)),
            ),
            (
                Tag::DeactivationDate,
                Attribute::DeactivationDate(DateTime(NOW + 1000 + moved)),
            ),
            (Tag::State, Attribute::State(State::PreActive)),
        ] {
            assert_eq!(values_of(&attrs, tag), vec![want], "{v}");
        }

        let r = one(
            &kms,
            v,
            Operation::ReKey,
            rekey_req(
                v,
                Some(&new),
                Some(60),
                vec![Attribute::ActivationDate(DateTime(NOW + 5))],
            ),
        );
        refused(r, ResultReason::InvalidMessage, "Offset beside a date");

        let undated = created_uid(&one(
            &kms,
            v,
            Operation::Create,
            create_with(
                v,
                128,
                "undated",
                CryptographicUsageMask::Encrypt,
                vec![Attribute::DeactivationDate(DateTime(NOW + 1000))],
            ),
        ));
        let r = rekey(&kms, v, Some(&undated), Some(60), vec![]);
        refused(
            r,
            by_version(
                v,
                ResultReason::IllegalOperation,
                ResultReason::InvalidField,
            ),
            "nothing to move the Deactivation Date by",
        );
        // Refused, it changed nothing: the name is still the existing key's.
        assert_eq!(
            values_of(&all_attributes(&kms, v, &undated), Tag::Name).len(),
            1
        );

        let plain = create_key(&kms, v, 128, "plain");
        let r = rekey(&kms, v, Some(&plain), Some(60), vec![]);
        let attrs = all_attributes(&kms, v, &rekeyed_uid(&r));
        assert_eq!(
            values_of(&attrs, Tag::ActivationDate),
            vec![Attribute::ActivationDate(DateTime(NOW + 60))],
            "{v}"
        );
    }
}

/// Re-key refuses what it cannot replace, with the reasons of 1.4 Table 331 and 2.1 Table
/// 307: an object that is not a symmetric key, a destroyed key, an unknown identifier,
/// another client's key, an attribute only the server sets; the request's own attributes
/// replace the copied ones (a longer key); Usage Limits start again on the replacement while
/// the existing key keeps what it has left; the replacement belongs to the key's owner even
/// when an administrator re-keys it.
#[test]
fn rekey_refusals_attributes_usage_limits_and_owner() {
    for v in [KmipVersion::V1_4, KmipVersion::V2_1] {
        let kms = kms();
        let r = one(
            &kms,
            v,
            Operation::Register,
            register_key(v, password(vec![7; 16]), vec![]),
        );
        let secret = created_uid_of_register(&r);
        let r = rekey(&kms, v, Some(&secret), None, vec![]);
        refused(
            r,
            by_version(
                v,
                ResultReason::PermissionDenied,
                ResultReason::InvalidObjectType,
            ),
            "Secret Data",
        );

        let gone = create_key(&kms, v, 128, "gone");
        let r = one(
            &kms,
            v,
            Operation::Destroy,
            RequestPayload::Destroy(uid_req(Some(&gone))),
        );
        assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
        let r = rekey(&kms, v, Some(&gone), None, vec![]);
        refused(r, ResultReason::KeyValueNotPresent, "destroyed");

        let r = rekey(&kms, v, Some("nothing"), None, vec![]);
        refused(
            r,
            by_version(v, ResultReason::ItemNotFound, ResultReason::ObjectNotFound),
            "unknown",
        );

        let key = create_key(&kms, v, 128, "alices");
        let r = one_as(
            &kms,
            &Principal::new("bob"),
            v,
            Operation::ReKey,
            rekey_req(v, Some(&key), None, vec![]),
        );
        refused(r, ResultReason::PermissionDenied, "bob");

        let r = rekey(
            &kms,
            v,
            Some(&key),
            None,
            vec![Attribute::State(State::Active)],
        );
        refused(r, ResultReason::InvalidField, "State is the server's");

        let r = one(
            &kms,
            v,
            Operation::ReKey,
            rekey_req(
                v,
                Some(&key),
                None,
                vec![Attribute::CryptographicLength(256)],
            ),
        );
        let longer = rekeyed_uid(&r);
        assert_eq!(
            key_bytes(&one(&kms, v, Operation::Get, get_req(&longer, None))).len(),
            32
        );

        // Usage Limits: 16 bytes, one block spent on the existing key.
        let both = CryptographicUsageMask::Encrypt | CryptographicUsageMask::Decrypt;
        let limits = |count| {
            Attribute::UsageLimits(crate::kmip::attributes::UsageLimits {
                usage_limits_total: 16,
                usage_limits_count: count,
                usage_limits_unit: Some(UsageLimitsUnit::Byte),
            })
        };
        let limited = created_uid(&one(
            &kms,
            v,
            Operation::Create,
            create_with(
                v,
                128,
                "limited",
                both,
                vec![limits(None), Attribute::ActivationDate(DateTime(NOW - 1))],
            ),
        ));
        let ecb = Some(cipher_params(
            BlockCipherMode::ECB,
            Some(PaddingMethod::None),
            None,
        ));
        let r = one(
            &kms,
            v,
            Operation::Encrypt,
            encrypt_req(&limited, ecb, &[0; 16], None),
        );
        assert_eq!(r.result_status, ResultStatus::Success, "{r:?}");
        let r = rekey(&kms, v, Some(&limited), None, vec![]);
        let replacement = rekeyed_uid(&r);
        assert_eq!(
            attribute_of(&kms, v, &replacement, Tag::UsageLimits, "Usage Limits"),
            vec![limits(Some(16))]
        );
        assert_eq!(
            attribute_of(&kms, v, &limited, Tag::UsageLimits, "Usage Limits"),
            vec![limits(Some(0))]
        );

        // An administrator re-keys Alice's key: the replacement is Alice's.
        let mut admin_kms = kms;
        admin_kms.policy.administrators = vec!["ops".into()];
        let r = one_as(
            &admin_kms,
            &Principal::new("ops"),
            v,
            Operation::ReKey,
            rekey_req(v, Some(&replacement), None, vec![]),
        );
        let third = rekeyed_uid(&r);
        let r = one(&admin_kms, v, Operation::Get, get_req(&third, None));
        assert_eq!(
            r.result_status,
            ResultStatus::Success,
            "Alice uses it: {r:?}"
        );
    }
}

/// A Re-key takes its key from the ID Placeholder and leaves the replacement's there (2.1
/// §6.1.46 SHALL), so Create, Re-key, Get in one batch get the replacement; with Undo, a
/// later failure leaves both keys as they were; the audit log names the replacement and the
/// key it replaces.
#[test]
fn rekey_in_a_batch_with_the_id_placeholder_undo_and_audit() {
    let store = Arc::new(MemoryStore::new());
    let kms = Kms::new(store.clone());
    let v = KmipVersion::V1_2;
    let r = send(
        &kms,
        &alice(),
        header(v, 3),
        vec![
            item(Operation::Create, create_payload(v, 128, "batched")),
            item(Operation::ReKey, rekey_req(v, None, None, vec![])),
            item(Operation::Get, get_by(None, None)),
        ],
    );
    assert!(
        r.batch_item
            .iter()
            .all(|i| i.result_status == ResultStatus::Success),
        "{r:?}"
    );
    let old = created_uid(&r.batch_item[0]);
    let new = rekeyed_uid(&r.batch_item[1]);
    let Some(ResponsePayload::Get(g)) = &r.batch_item[2].response_payload else {
        panic!("{r:?}")
    };
    assert_eq!(g.unique_identifier, new);

    let r = send(
        &kms,
        &alice(),
        header_with(v, 2, BatchErrorContinuationOption::Undo),
        vec![
            item(Operation::ReKey, rekey_req(v, Some(&new), None, vec![])),
            item(Operation::Get, get_req("nothing", None)),
        ],
    );
    assert_eq!(r.batch_item[0].result_status, ResultStatus::OperationUndone);
    let attrs = all_attributes(&kms, v, &new);
    assert_eq!(
        values_of(&attrs, Tag::Name).len(),
        1,
        "the name stayed: {attrs:?}"
    );
    assert_eq!(
        attribute_of(&kms, v, &new, Tag::Link, "Link"),
        vec![link(LinkType::ReplacedObjectLink, &old)],
        "only the Replaced Object Link"
    );

    let log = audit_log(&store);
    let rekeys: Vec<_> = log.iter().filter(|e| e.operation == "Re-key").collect();
    assert_eq!(rekeys.len(), 2, "{log:?}");
    // Through the placeholder: the replacement (its Link names the key it replaced).
    assert_eq!(rekeys[0].unique_identifiers, vec![new.clone()]);
    // Named: the replacement that was undone, and the key it would have replaced.
    assert_eq!(rekeys[1].result_status, "Operation Undone");
    assert_eq!(rekeys[1].unique_identifiers.len(), 2);
    assert_eq!(rekeys[1].unique_identifiers[1], new);
}

/// Automatic rotation (2.1 §4.48, §4.51, §4.54): a key with Rotate Automatic True is re-keyed
/// by the date sweep once Initial Date + Rotate Interval is reached, with its Rotate Offset
/// (the replacement waits Pre-Active that long), and the replacement is rotated in its turn
/// an interval after its own Initial Date; the replaced key is not rotated again, nor is a
/// Deactivated key; an object that cannot be re-keyed has its Rotate Automatic turned off,
/// once; the audit log names the server and both keys; the rotation attributes the server
/// sets are refused from a client.
#[test]
fn the_date_sweep_rotates_keys_whose_rotate_interval_is_reached() {
    let store = Arc::new(MemoryStore::new());
    let kms = Kms::new(store.clone());
    let v = KmipVersion::V2_1;
    let rotation = vec![
        Attribute::RotateAutomatic(true),
        Attribute::RotateInterval(crate::kmip::codec::Interval(3600)),
        Attribute::RotateOffset(crate::kmip::codec::Interval(60)),
        Attribute::ActivationDate(DateTime(NOW)),
    ];
    let both = CryptographicUsageMask::Encrypt | CryptographicUsageMask::Decrypt;
    let uid = created_uid(&one(
        &kms,
        v,
        Operation::Create,
        create_with(v, 256, "rotating", both, rotation.clone()),
    ));
    // A key that was deactivated before its rotation came due is not rotated.
    let mut stopped = rotation.clone();
    stopped.push(Attribute::DeactivationDate(DateTime(NOW + 10)));
    let stopped = created_uid(&one(
        &kms,
        v,
        Operation::Create,
        create_with(v, 128, "stopped", both, stopped),
    ));
    // Secret Data cannot be re-keyed: when its rotation comes due, the server turns its
    // Rotate Automatic off (the attribute is the server's to change) and records why.
    let secret = created_uid_of_register(&one(
        &kms,
        v,
        Operation::Register,
        register_key(v, password(vec![3; 16]), rotation[..2].to_vec()),
    ));
    assert_eq!(
        kms.sweep_dates(NOW + 3599).unwrap(),
        1,
        "only the deactivation"
    );
    let named = |name: &str, now: i64| {
        let mut r = send_at(
            &kms,
            &alice(),
            header(v, 1),
            vec![item(
                Operation::Locate,
                RequestPayload::Locate(locate_req(vec![Attribute::Name(Name {
                    name_value: name.into(),
                    name_type: NameType::UninterpretedTextString,
                })])),
            )],
            now,
        );
        let Some(ResponsePayload::Locate(l)) = r.batch_item.remove(0).response_payload else {
            panic!("{r:?}")
        };
        l.unique_identifier
    };
    assert_eq!(named("rotating", NOW + 3599), vec![uid.clone()]);

    assert_eq!(kms.sweep_dates(NOW + 3600).unwrap(), 2);
    assert_eq!(
        kms.sweep_dates(NOW + 3600).unwrap(),
        0,
        "nothing left to do"
    );
    let secret_attrs = all_attributes(&kms, v, &secret);
    assert!(
        secret_attrs.contains(&Attribute::RotateAutomatic(false)),
        "{secret_attrs:?}"
    );
    let found = named("rotating", NOW + 3600);
    assert_eq!(found.len(), 1);
    let second = found[0].clone();
    assert_ne!(second, uid);
    let attrs = all_attributes(&kms, v, &second);
    for want in [
        Attribute::InitialDate(DateTime(NOW + 3600)),
        Attribute::ActivationDate(DateTime(NOW + 3660)),
        Attribute::State(State::PreActive),
        Attribute::RotateAutomatic(true),
        Attribute::RotateGeneration(1),
        Attribute::RotateLatest(true),
        link(LinkType::ReplacedObjectLink, &uid),
    ] {
        assert!(attrs.contains(&want), "{want:?} in {attrs:?}");
    }
    let old = all_attributes(&kms, v, &uid);
    for want in [
        Attribute::RotateLatest(false),
        Attribute::RotateDate(DateTime(NOW + 3600)),
        Attribute::State(State::Active),
        link(LinkType::ReplacementObjectLink, &second),
    ] {
        assert!(old.contains(&want), "{want:?} in {old:?}");
    }
    assert!(
        values_of(&all_attributes(&kms, v, &stopped), Tag::Link).is_empty(),
        "the Deactivated key was not rotated"
    );

    // The replacement's own interval counts from its Initial Date.
    assert_eq!(
        kms.sweep_dates(NOW + 7199).unwrap(),
        1,
        "its activation only"
    );
    assert_eq!(kms.sweep_dates(NOW + 7200).unwrap(), 1);
    let third = named("rotating", NOW + 7200);
    assert_eq!(third.len(), 1);
    assert_ne!(third[0], second);
    assert!(all_attributes(&kms, v, &third[0]).contains(&Attribute::RotateGeneration(2)));
    assert_eq!(kms.sweep_dates(NOW + 7200).unwrap(), 0);

    let rotations: Vec<_> = audit_log(&store)
        .into_iter()
        .filter(|e| e.operation == "Re-key: Rotate Interval reached")
        .collect();
    assert_eq!(rotations.len(), 3);
    let rotated: Vec<_> = rotations
        .iter()
        .filter(|e| e.result_status == "Success")
        .collect();
    assert_eq!(rotated.len(), 2);
    assert_eq!(rotated[0].principal, super::lifecycle::SERVER_PRINCIPAL);
    assert_eq!(
        rotated[0].unique_identifiers,
        vec![second.clone(), uid.clone()]
    );
    assert_eq!(rotated[0].time, NOW + 3600);
    let not_rotated: Vec<_> = rotations
        .iter()
        .filter(|e| e.result_status == "Operation Failed")
        .collect();
    assert_eq!(not_rotated.len(), 1);
    assert_eq!(not_rotated[0].unique_identifiers, vec![secret.clone()]);
    assert_eq!(
        not_rotated[0].result_reason.as_deref(),
        Some("Invalid Object Type")
    );

    for server_set in [
        Attribute::RotateGeneration(5),
        Attribute::RotateLatest(true),
        Attribute::RotateDate(DateTime(NOW)),
    ] {
        let r = one(
            &kms,
            v,
            Operation::Create,
            create_with(v, 128, "asks", both, vec![server_set]),
        );
        refused(r, ResultReason::InvalidField, "set by the server");
    }
}
