//! Property tests of the typed model: arbitrary typed messages written and read back are
//! equal, in every protocol version, and their bytes are stable.

use proptest::prelude::*;

use super::attributes::*;
use super::codec::{ByteString, Cx, DateTime};
use super::messages::*;
use super::objects::*;
use super::payloads::*;
use super::*;
use crate::ttlv;

fn one_of<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(all)
}

fn arb_version() -> impl Strategy<Value = KmipVersion> {
    one_of(&KmipVersion::ALL)
}

fn arb_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.-]{0,24}"
}

fn arb_attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        (arb_text(), one_of(NameType::ALL)).prop_map(|(v, t)| Attribute::Name(Name {
            name_value: v,
            name_type: t
        })),
        one_of(CryptographicAlgorithm::ALL).prop_map(Attribute::CryptographicAlgorithm),
        any::<i32>().prop_map(Attribute::CryptographicLength),
        any::<u32>().prop_map(|m| Attribute::CryptographicUsageMask(CryptographicUsageMask(m))),
        arb_text().prop_map(Attribute::ObjectGroup),
        any::<i64>().prop_map(|t| Attribute::ActivationDate(DateTime(t))),
        (one_of(LinkType::ALL), arb_text()).prop_map(|(t, id)| Attribute::Link(Link {
            link_type: t,
            linked_object_identifier: id
        })),
        (arb_text(), proptest::option::of(arb_text())).prop_map(|(ns, data)| {
            Attribute::ApplicationSpecificInformation(ApplicationSpecificInformation {
                application_namespace: ns,
                application_data: data,
            })
        }),
        ("[a-z]{1,8}", "[A-Za-z]{1,12}", any::<i32>()).prop_map(|(vendor, name, v)| {
            Attribute::Vendor(VendorAttribute {
                vendor_identification: vendor,
                attribute_name: name,
                attribute_value: ttlv::Value::Integer(v),
            })
        }),
        one_of(State::ALL).prop_map(Attribute::State),
        (
            one_of(HashingAlgorithm::ALL),
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(h, d)| Attribute::Digest(Digest {
                hashing_algorithm: h,
                digest_value: Some(ByteString(d)),
                key_format_type: None,
            })),
    ]
}

fn arb_request_payload(version: KmipVersion) -> impl Strategy<Value = (Operation, RequestPayload)> {
    let attrs = || proptest::collection::vec(arb_attribute(), 0..6);
    prop_oneof![
        attrs().prop_map(move |a| {
            let (template_attribute, attributes) = if version.is_1x() {
                (
                    Some(TemplateAttribute {
                        name: vec![],
                        attribute: a.into_iter().map(Into::into).collect(),
                    }),
                    None,
                )
            } else {
                (None, Some(Attributes(a)))
            };
            (
                Operation::Create,
                RequestPayload::Create(CreateRequest {
                    object_type: ObjectType::SymmetricKey,
                    template_attribute,
                    attributes,
                    protection_storage_masks: None,
                }),
            )
        }),
        (
            proptest::option::of(arb_text()),
            proptest::option::of(one_of(KeyFormatType::ALL))
        )
            .prop_map(|(uid, f)| (
                Operation::Get,
                RequestPayload::Get(GetRequest {
                    unique_identifier: uid,
                    key_format_type: f,
                    key_wrap_type: None,
                    key_compression_type: None,
                    key_wrapping_specification: None,
                })
            )),
        (
            attrs(),
            proptest::option::of(any::<i32>()),
            proptest::option::of(any::<i32>())
        )
            .prop_map(move |(a, max, offset)| {
                let (attribute, attributes) = if version.is_1x() {
                    (a.into_iter().map(Into::into).collect(), None)
                } else {
                    (vec![], Some(Attributes(a)))
                };
                (
                    Operation::Locate,
                    RequestPayload::Locate(LocateRequest {
                        maximum_items: max,
                        offset_items: offset,
                        storage_status_mask: None,
                        object_group_member: None,
                        attribute,
                        template_attribute: None,
                        attributes,
                    }),
                )
            }),
        (
            proptest::collection::vec(any::<u8>(), 1..64),
            one_of(SecretDataType::ALL)
        )
            .prop_map(|(bytes, t)| (
                Operation::Register,
                RequestPayload::Register(RegisterRequest {
                    object_type: ObjectType::SecretData,
                    template_attribute: None,
                    attributes: None,
                    object: Some(Object::SecretData(SecretData {
                        secret_data_type: t,
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
                    })),
                    protection_storage_masks: None,
                })
            )),
    ]
}

fn arb_request() -> impl Strategy<Value = (KmipVersion, RequestMessage)> {
    arb_version().prop_flat_map(|version| {
        (
            proptest::collection::vec(
                (
                    arb_request_payload(version),
                    proptest::option::of(proptest::collection::vec(any::<u8>(), 1..8)),
                ),
                1..4,
            ),
            proptest::option::of(arb_text()),
            proptest::option::of(one_of(BatchErrorContinuationOption::ALL)),
        )
            .prop_map(move |(items, correlation, option)| {
                let batch_item: Vec<RequestBatchItem> = items
                    .into_iter()
                    .map(|((operation, payload), id)| RequestBatchItem {
                        operation,
                        ephemeral: None,
                        unique_batch_item_id: id.map(ByteString),
                        request_payload: payload,
                        message_extension: vec![],
                    })
                    .collect();
                let header = RequestHeader {
                    protocol_version: ProtocolVersion::new(version),
                    maximum_response_size: None,
                    client_correlation_value: correlation,
                    server_correlation_value: None,
                    asynchronous_indicator: None,
                    attestation_capable_indicator: None,
                    attestation_type: vec![],
                    authentication: None,
                    batch_error_continuation_option: option,
                    batch_order_option: None,
                    time_stamp: None,
                    batch_count: batch_item.len() as i32,
                };
                (
                    version,
                    RequestMessage {
                        request_header: header,
                        batch_item,
                    },
                )
            })
    })
}

proptest! {
    #[test]
    fn typed_requests_round_trip((version, message) in arb_request()) {
        let cx = Cx::new(version);
        let bytes = message.to_bytes(&cx);
        let item = ttlv::decode(&bytes).expect("own encoding decodes");
        let (read, read_cx) = RequestMessage::from_item(&item).expect("own encoding types");
        prop_assert_eq!(read_cx.version, version);
        prop_assert_eq!(&read, &message);
        prop_assert_eq!(read.to_bytes(&cx), bytes);
    }

    #[test]
    fn typed_get_attributes_responses_round_trip(
        version in arb_version(),
        uid in arb_text(),
        attrs in proptest::collection::vec(arb_attribute(), 0..8),
    ) {
        let cx = Cx::new(version);
        let response = GetAttributesResponse::new(uid, attrs, &cx);
        let payload = ResponsePayload::GetAttributes(response);
        let mut w = ttlv::Writer::new();
        payload.write(&mut w, &cx);
        let bytes = w.into_inner();
        let item = ttlv::decode(&bytes).unwrap();
        let read = ResponsePayload::read(Operation::GetAttributes, &item, &cx).unwrap();
        prop_assert_eq!(read, payload);
    }
}

/// A NUL in a Text String is refused by the model (Invalid Field), wherever the string is:
/// a field read as `String`, or an Attribute Name read borrowed. TTLV itself carries it.
#[test]
fn text_strings_with_a_nul_are_invalid_fields() {
    use super::codec::{ModelError, Ttlv};
    use crate::ttlv::{Item, Tag, Value};
    let cx = Cx::new(KmipVersion::V1_2);
    // "abc" sent with a length of 8 that counts its padding.
    let padded = "abc\0\0\0\0\0";
    let uid = Item::new(Tag::UniqueIdentifier, Value::TextString(padded.into()));
    let bytes = ttlv::encode(&uid);
    assert_eq!(
        &bytes[4..8],
        &8u32.to_be_bytes(),
        "the length counts the padding"
    );
    let decoded = ttlv::decode(&bytes).expect("TTLV carries it");
    let err = String::read(&decoded, &cx).unwrap_err();
    assert!(
        matches!(&err, ModelError::InvalidValue { tag: Tag::UniqueIdentifier, reason } if reason.contains("padding")),
        "{err}"
    );
    assert_eq!(err.result_reason(), ResultReason::InvalidField);
    let attribute = Item::structure(
        Tag::Attribute,
        vec![
            Item::new(Tag::AttributeName, Value::TextString("Na\0me".into())),
            Item::new(Tag::AttributeValue, Value::TextString("x".into())),
        ],
    );
    assert!(matches!(
        AttributeV1::read(&attribute, &cx),
        Err(ModelError::InvalidValue {
            tag: Tag::AttributeName,
            ..
        })
    ));
    assert_eq!(
        String::read(
            &Item::new(Tag::UniqueIdentifier, Value::TextString("abc".into())),
            &cx
        )
        .unwrap(),
        "abc"
    );
}

/// Result Messages name tags as the spec prints them, with the value; an unknown tag by its
/// value alone.
#[test]
fn model_errors_name_tags_as_the_spec_does() {
    use super::codec::ModelError;
    use crate::ttlv::Tag;
    let e = ModelError::UnexpectedField {
        parent: Tag::RequestPayload,
        tag: Tag::TemplateAttribute,
    };
    assert_eq!(
        e.to_string(),
        "Request Payload (0x420079): unexpected field Template-Attribute (0x420091)"
    );
    let e = ModelError::MissingField {
        parent: Tag::RequestPayload,
        tag: Tag(0x54AA01),
    };
    assert_eq!(
        e.to_string(),
        "Request Payload (0x420079): missing required field 0x54AA01"
    );
}
