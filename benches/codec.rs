//! Codec benchmarks (issue: TTLV codec): decode + typing of a Get request, encode of a Get
//! response carrying a 32-byte key, a Register of a 4 KiB certificate, a 100-item Locate
//! response; and the XML and JSON bodies of KMIP over HTTPS (a Get request read from text,
//! its response written as text). Figures go to docs/benchmarks.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kmipd::kmip::codec::{ByteString, Cx, DateTime};
use kmipd::kmip::messages::*;
use kmipd::kmip::objects::*;
use kmipd::kmip::payloads::*;
use kmipd::kmip::*;
use kmipd::ttlv;

fn request(version: KmipVersion, operation: Operation, payload: RequestPayload) -> RequestMessage {
    RequestMessage {
        request_header: RequestHeader::new(version, 1),
        batch_item: vec![RequestBatchItem::new(operation, payload)],
    }
}

fn response(
    version: KmipVersion,
    operation: Operation,
    payload: ResponsePayload,
) -> ResponseMessage {
    ResponseMessage {
        response_header: ResponseHeader {
            protocol_version: ProtocolVersion::new(version),
            time_stamp: DateTime(1_700_000_000),
            nonce: None,
            server_hashed_password: None,
            attestation_type: vec![],
            client_correlation_value: None,
            server_correlation_value: None,
            batch_count: 1,
        },
        batch_item: vec![ResponseBatchItem {
            operation: Some(operation),
            unique_batch_item_id: None,
            result_status: ResultStatus::Success,
            result_reason: None,
            result_message: None,
            asynchronous_correlation_value: None,
            response_payload: Some(payload),
            message_extension: vec![],
        }],
    }
}

fn symmetric_key(bytes: Vec<u8>) -> Object {
    Object::SymmetricKey(SymmetricKey {
        key_block: KeyBlock {
            key_format_type: KeyFormatType::Raw,
            key_compression_type: None,
            key_value: Some(KeyValue::Plain {
                key_material: KeyMaterial::Bytes(KeyBytes::new(bytes)),
                attributes: vec![],
            }),
            cryptographic_algorithm: Some(CryptographicAlgorithm::AES),
            cryptographic_length: Some(256),
            key_wrapping_data: None,
        },
    })
}

fn codec(c: &mut Criterion) {
    let v = KmipVersion::V1_2;
    let cx = Cx::new(v);
    let uid = "4a1d3c2e-9f7b-4d1a-8e6c-5b2a7f9e0c13".to_string();

    let get = request(
        v,
        Operation::Get,
        RequestPayload::Get(GetRequest {
            unique_identifier: Some(uid.clone()),
            key_format_type: None,
            key_wrap_type: None,
            key_compression_type: None,
            key_wrapping_specification: None,
        }),
    )
    .to_bytes(&cx);
    let mut g = c.benchmark_group("codec");
    g.bench_function("get_request_decode_and_type", |b| {
        b.iter(|| {
            let item = ttlv::decode(black_box(&get)).unwrap();
            RequestMessage::from_item(&item).unwrap()
        })
    });

    let get_response = response(
        v,
        Operation::Get,
        ResponsePayload::Get(GetResponse {
            object_type: ObjectType::SymmetricKey,
            unique_identifier: uid.clone(),
            object: Some(symmetric_key(vec![0x42; 32])),
        }),
    );
    g.bench_function("get_response_encode_32_byte_key", |b| {
        b.iter(|| black_box(&get_response).to_bytes(&cx))
    });

    let register = request(
        v,
        Operation::Register,
        RequestPayload::Register(RegisterRequest {
            object_type: ObjectType::Certificate,
            template_attribute: None,
            attributes: None,
            object: Some(Object::Certificate(Certificate {
                certificate_type: CertificateType::X_509,
                certificate_value: ByteString(vec![0x30; 4096]),
            })),
            protection_storage_masks: None,
        }),
    )
    .to_bytes(&cx);
    g.throughput(Throughput::Bytes(register.len() as u64));
    g.bench_function("register_4k_certificate_decode_and_type", |b| {
        b.iter(|| {
            let item = ttlv::decode(black_box(&register)).unwrap();
            RequestMessage::from_item(&item).unwrap()
        })
    });

    let locate = response(
        v,
        Operation::Locate,
        ResponsePayload::Locate(LocateResponse {
            located_items: Some(100),
            unique_identifier: (0..100).map(|i| format!("{uid}-{i:03}")).collect(),
        }),
    );
    g.throughput(Throughput::Elements(100));
    g.bench_function("locate_response_100_items_encode", |b| {
        b.iter(|| black_box(&locate).to_bytes(&cx))
    });
    let locate_bytes = locate.to_bytes(&cx);
    g.bench_function("locate_response_100_items_decode_and_type", |b| {
        b.iter(|| {
            let item = ttlv::decode(black_box(&locate_bytes)).unwrap();
            ResponseMessage::from_item(&item).unwrap()
        })
    });
    g.finish();

    // The XML and JSON bodies of KMIP over HTTPS: what the server adds per request to the
    // TTLV path (the request read from text, the response written as text), as
    // `server::http` does it with `ttlv::convert`.
    let get_response_bytes = get_response.to_bytes(&cx);
    let mut g = c.benchmark_group("text_bodies");
    for (name, format) in [("xml", ttlv::Format::Xml), ("json", ttlv::Format::Json)] {
        let one = |bytes: &[u8]| {
            let item = ttlv::decode(bytes).unwrap();
            ttlv::convert::write(std::slice::from_ref(&item), format, &KmipNames)
        };
        let request_text = one(&get);
        g.bench_function(format!("get_request_{name}_to_ttlv"), |b| {
            b.iter(|| {
                let items = ttlv::convert::read(black_box(&request_text), format, &KmipNames);
                ttlv::encode(&items.unwrap()[0])
            })
        });
        g.bench_function(format!("get_response_ttlv_to_{name}"), |b| {
            b.iter(|| one(black_box(&get_response_bytes)))
        });
    }
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
