//! The KMIP server end to end over real TLS on 127.0.0.1:0: the dispatcher with the
//! in-memory store behind `server::run`, a development PKI, and a tokio-rustls client.
//!
//! Covers batches with each Batch Error Continuation Option, ID Placeholder, Discover
//! Versions + Create + Get in every version 1.0–2.1, Maximum Response Size, what a 1.0
//! client may receive, and who is refused at the handshake. Each operation in each version
//! is in `kms_operations.rs`, bad input on the socket in `kms_input.rs`.

mod kms_util;
mod server_util;

use std::sync::Arc;

use kmipd::kmip::attributes::Attribute;
use kmipd::kmip::codec::{ByteString, Ttlv};
use kmipd::kmip::messages::*;
use kmipd::kmip::payloads::*;
use kmipd::kmip::*;
use kmipd::ttlv::{self, Item, Tag, Value};
use kms_util::*;
use server_util::{client_config, client_config_with, new_pki, test_limits, try_request};

use KmipVersion::*;

fn uids(l: &LocateResponse) -> Vec<String> {
    l.unique_identifier.clone()
}

#[tokio::test]
async fn every_protocol_version() {
    let kmsd = Kmsd::start(test_limits()).await;
    let mut c = kmsd.connect().await;
    let mut keys = Vec::new();
    for v in KmipVersion::ALL {
        let d = match c
            .ok(
                v,
                Operation::DiscoverVersions,
                RequestPayload::DiscoverVersions(DiscoverVersionsPayload {
                    protocol_version: vec![],
                }),
            )
            .await
        {
            ResponsePayload::DiscoverVersions(d) => d,
            other => panic!("{other:?}"),
        };
        let offered: Vec<ProtocolVersion> = [V2_1, V2_0, V1_4, V1_3, V1_2, V1_1, V1_0]
            .into_iter()
            .map(ProtocolVersion::new)
            .collect();
        assert_eq!(d.protocol_version, offered, "{v}: preference order");
        let d = match c
            .ok(
                v,
                Operation::DiscoverVersions,
                RequestPayload::DiscoverVersions(DiscoverVersionsPayload {
                    protocol_version: vec![
                        ProtocolVersion {
                            protocol_version_major: 9,
                            protocol_version_minor: 0,
                        },
                        ProtocolVersion::new(v),
                    ],
                }),
            )
            .await
        {
            ResponsePayload::DiscoverVersions(d) => d,
            other => panic!("{other:?}"),
        };
        assert_eq!(d.protocol_version, vec![ProtocolVersion::new(v)], "{v}");

        let uid = c.create(v, 256, &format!("key-{v}")).await;
        let g = c.get(v, &uid, None).await;
        assert_eq!(key_bytes(&g).len(), 32, "{v}");
        keys.push((v, uid, key_bytes(&g)));
    }
    // An object is the same object whichever version reads it.
    for (made_in, uid, bytes) in &keys {
        for v in KmipVersion::ALL {
            let g = c.get(v, uid, None).await;
            assert_eq!(&key_bytes(&g), bytes, "made in {made_in}, read in {v}");
        }
    }
    // A version this server does not speak: Invalid Message, in that version's header.
    let mut h = header(V1_4, 1);
    h.protocol_version = ProtocolVersion {
        protocol_version_major: 3,
        protocol_version_minor: 0,
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
    .to_bytes(&kmipd::kmip::codec::Cx::new(V1_4));
    let answer = c.raw(&bytes).await.unwrap();
    let item = ttlv::decode(&answer).unwrap();
    let r = ResponseMessage::read(&item, &kmipd::kmip::codec::Cx::new(V1_4)).unwrap();
    assert_eq!(
        r.batch_item[0].result_reason,
        Some(ResultReason::InvalidMessage)
    );
    // The connection is still good.
    c.create(V2_1, 128, "after").await;
    kmsd.server.shutdown().await;
}

fn batch_header(
    version: KmipVersion,
    count: usize,
    option: BatchErrorContinuationOption,
) -> RequestHeader {
    let mut h = header(version, count);
    h.batch_error_continuation_option = Some(option);
    h
}

fn with_id(mut it: RequestBatchItem, id: u8) -> RequestBatchItem {
    it.unique_batch_item_id = Some(ByteString(vec![id]));
    it
}

/// Create (named `label`), Get of a missing object, Activate of the ID Placeholder.
fn failing_batch(version: KmipVersion, label: &str) -> Vec<RequestBatchItem> {
    vec![
        with_id(item(Operation::Create, create(version, 128, label)), 1),
        with_id(item(Operation::Get, get("no-such-object", None)), 2),
        with_id(
            item(Operation::Activate, RequestPayload::Activate(uid(None))),
            3,
        ),
    ]
}

#[tokio::test]
async fn batches_stop_continue_and_undo() {
    let kmsd = Kmsd::start(test_limits()).await;
    let mut c = kmsd.connect().await;
    for v in [V1_0, V1_4, V2_1] {
        let ids = |r: &ResponseMessage| -> Vec<Vec<u8>> {
            r.batch_item
                .iter()
                .map(|i| i.unique_batch_item_id.clone().unwrap().0)
                .collect()
        };

        // Stop: the failed item ends the batch; what succeeded before it stays done.
        let stop = format!("stop-{v}");
        let r = c
            .send(
                batch_header(v, 3, BatchErrorContinuationOption::Stop),
                failing_batch(v, &stop),
            )
            .await;
        assert_eq!(r.response_header.batch_count, 2, "{v}");
        assert_eq!(ids(&r), vec![vec![1], vec![2]]);
        assert_eq!(r.batch_item[0].result_status, ResultStatus::Success);
        assert_eq!(r.batch_item[1].result_reason, Some(not_found(v)));
        let kept = uids(&c.locate(v, vec![name(&stop)], None, None).await);
        assert_eq!(kept.len(), 1, "{v}: Stop keeps the Create");
        assert_eq!(
            c.state(v, &kept[0]).await,
            State::PreActive,
            "not activated"
        );

        // Continue: every item runs; the placeholder from the Create reaches the Activate.
        let cont = format!("continue-{v}");
        let r = c
            .send(
                batch_header(v, 3, BatchErrorContinuationOption::Continue),
                failing_batch(v, &cont),
            )
            .await;
        assert_eq!(ids(&r), vec![vec![1], vec![2], vec![3]], "{v}");
        let statuses: Vec<ResultStatus> = r.batch_item.iter().map(|i| i.result_status).collect();
        assert_eq!(
            statuses,
            vec![
                ResultStatus::Success,
                ResultStatus::OperationFailed,
                ResultStatus::Success
            ],
            "{v}: {:?}",
            r.batch_item[2].result_message
        );
        let made = uids(&c.locate(v, vec![name(&cont)], None, None).await);
        assert_eq!(made.len(), 1);
        assert_eq!(c.state(v, &made[0]).await, State::Active, "{v}");

        // Undo: what succeeded is rolled back and reported as Operation Undone.
        let undo = format!("undo-{v}");
        let r = c
            .send(
                batch_header(v, 3, BatchErrorContinuationOption::Undo),
                failing_batch(v, &undo),
            )
            .await;
        assert_eq!(ids(&r), vec![vec![1], vec![2]], "{v}");
        assert_eq!(r.batch_item[0].result_status, ResultStatus::OperationUndone);
        // Undone is not a failure: the item's answer comes back with that status.
        assert!(r.batch_item[0].response_payload.is_some());
        assert_eq!(r.batch_item[1].result_reason, Some(not_found(v)));
        assert!(
            uids(&c.locate(v, vec![name(&undo)], None, None).await).is_empty(),
            "{v}: Undo leaves nothing"
        );

        // A batch that fails nowhere is unaffected by the option.
        let ok = format!("ok-{v}");
        let r = c
            .send(
                batch_header(v, 2, BatchErrorContinuationOption::Undo),
                vec![
                    item(Operation::Create, create(v, 256, &ok)),
                    item(Operation::Activate, RequestPayload::Activate(uid(None))),
                ],
            )
            .await;
        assert!(
            r.batch_item
                .iter()
                .all(|i| i.result_status == ResultStatus::Success),
            "{v}: {r:?}"
        );
    }
    kmsd.server.shutdown().await;
}

#[tokio::test]
async fn id_placeholder_chains_a_batch() {
    let kmsd = Kmsd::start(test_limits()).await;
    let mut c = kmsd.connect().await;
    for v in [V1_2, V2_0] {
        // Register + Activate + Get Attributes + Get, as MongoDB's CSFLE does (96 bytes).
        let secret = vec![0x5A; 96];
        let items = vec![
            item(
                Operation::Register,
                register(v, secret_data(&secret), vec![name(&format!("csfle-{v}"))]),
            ),
            item(Operation::Activate, RequestPayload::Activate(uid(None))),
            item(
                Operation::GetAttributes,
                get_attributes(v, None, &[Tag::State]),
            ),
            item(
                Operation::Get,
                RequestPayload::Get(GetRequest {
                    unique_identifier: None,
                    key_format_type: None,
                    key_wrap_type: None,
                    key_compression_type: None,
                    key_wrapping_specification: None,
                }),
            ),
        ];
        let r = c.send(header(v, 4), items).await;
        let mut items = r.batch_item.into_iter();
        let ResponsePayload::Register(reg) = success(items.next().unwrap(), "register") else {
            panic!()
        };
        let ResponsePayload::Activate(act) = success(items.next().unwrap(), "activate") else {
            panic!()
        };
        assert_eq!(act.unique_identifier, reg.unique_identifier);
        let ResponsePayload::GetAttributes(ga) = success(items.next().unwrap(), "attrs") else {
            panic!()
        };
        assert_eq!(ga.unique_identifier, reg.unique_identifier);
        assert_eq!(attributes_of(v, ga), vec![Attribute::State(State::Active)]);
        let ResponsePayload::Get(g) = success(items.next().unwrap(), "get") else {
            panic!()
        };
        assert_eq!(g.unique_identifier, reg.unique_identifier);
        assert_eq!(key_bytes(&g), secret);

        // Without an earlier item to set it, there is no placeholder.
        let r = c
            .one(v, Operation::Activate, RequestPayload::Activate(uid(None)))
            .await;
        assert_eq!(r.result_status, ResultStatus::OperationFailed, "{v}");
    }
    kmsd.server.shutdown().await;
}

#[tokio::test]
async fn maximum_response_size_gives_response_too_large() {
    let kmsd = Kmsd::start(test_limits()).await;
    let mut c = kmsd.connect().await;
    for v in [V1_2, V2_1] {
        let uid = c.create(v, 256, &format!("big-{v}")).await;
        let mut h = header(v, 1);
        h.maximum_response_size = Some(100);
        let r = c.send(h, vec![item(Operation::Get, get(&uid, None))]).await;
        assert_eq!(
            r.batch_item[0].result_reason,
            Some(ResultReason::ResponseTooLarge),
            "{v}"
        );
        assert!(r.batch_item[0].response_payload.is_none());
        let mut h = header(v, 1);
        h.maximum_response_size = Some(4096);
        let r = c.send(h, vec![item(Operation::Get, get(&uid, None))]).await;
        assert_eq!(r.batch_item[0].result_status, ResultStatus::Success);

        // A write whose answer is too large is not done.
        let mut h = header(v, 1);
        h.maximum_response_size = Some(64);
        let label = format!("unanswered-{v}");
        let r = c
            .send(h, vec![item(Operation::Create, create(v, 128, &label))])
            .await;
        assert_eq!(
            r.batch_item[0].result_reason,
            Some(ResultReason::ResponseTooLarge)
        );
        assert!(uids(&c.locate(v, vec![name(&label)], None, None).await).is_empty());
    }
    kmsd.server.shutdown().await;
}

/// Every standard tag in `item` exists in `version`, and every 1.x Attribute Name names an
/// attribute of `version` (or a custom `x-`/`y-` one).
fn assert_only_tags_of(version: KmipVersion, item: &Item<'_>, path: &str) {
    let path = format!("{path}/{}", item.tag);
    if item.tag.0 >> 16 == 0x42 {
        let info = tag_info(item.tag).unwrap_or_else(|| panic!("{path}: unknown tag"));
        assert!(
            info.exists_in(version),
            "{path}: {} does not exist in {version}",
            info.spec_name
        );
    }
    if item.tag == Tag::AttributeName {
        let Value::TextString(n) = &item.value else {
            panic!("{path}: Attribute Name is not text")
        };
        if !is_custom_attribute_name(n) {
            let tag = attribute_tag_for_name(n).unwrap_or_else(|| panic!("{path}: name {n}"));
            assert!(
                tag_info(tag).unwrap().exists_in(version),
                "{path}: attribute {n} does not exist in {version}"
            );
        }
    }
    for child in item.children() {
        assert_only_tags_of(version, child, &path);
    }
}

#[tokio::test]
async fn a_1_0_client_never_receives_what_1_0_lacks() {
    let kmsd = Kmsd::start(test_limits()).await;
    let mut c = kmsd.connect().await;
    // A 2.1 client sets attributes that 1.0 does not have.
    let newer = vec![
        Attribute::Description("made by a 2.1 client".into()),
        Attribute::Comment("2.0 attribute".into()),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ];
    let mut attrs = newer.clone();
    attrs.extend([
        Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
        Attribute::CryptographicLength(256),
        name("modern"),
        Attribute::ObjectGroup("group".into()),
    ]);
    let uid = match c
        .ok(V2_1, Operation::Create, create_with(V2_1, attrs))
        .await
    {
        ResponsePayload::Create(r) => r.unique_identifier,
        other => panic!("{other:?}"),
    };
    let seen_by_2_1 = c.attributes(V2_1, &uid, &[]).await;
    for a in &newer {
        assert!(seen_by_2_1.contains(a), "2.1 sees {a:?}");
    }

    // What a 1.0 client gets back, checked on the wire, tag by tag.
    let requests = [
        (
            Operation::GetAttributes,
            get_attributes(V1_0, Some(&uid), &[]),
        ),
        (
            Operation::GetAttributeList,
            RequestPayload::GetAttributeList(kms_util::uid(Some(&uid))),
        ),
        (Operation::Get, get(&uid, None)),
        (
            Operation::Locate,
            locate(V1_0, vec![name("modern")], None, None),
        ),
        (
            Operation::Query,
            RequestPayload::Query(QueryRequest {
                query_function: vec![
                    QueryFunction::QueryOperations,
                    QueryFunction::QueryObjects,
                    QueryFunction::QueryServerInformation,
                ],
            }),
        ),
        (
            Operation::Activate,
            RequestPayload::Activate(kms_util::uid(Some(&uid))),
        ),
        (
            Operation::GetAttributes,
            get_attributes(V1_0, Some(&uid), &[]),
        ),
        (Operation::Revoke, revoke(Some(&uid))),
        (
            Operation::GetAttributes,
            get_attributes(V1_0, Some(&uid), &[]),
        ),
    ];
    for (operation, payload) in requests {
        let bytes = RequestMessage {
            request_header: header(V1_0, 1),
            batch_item: vec![item(operation, payload)],
        }
        .to_bytes(&kmipd::kmip::codec::Cx::new(V1_0));
        let answer = c.raw(&bytes).await.unwrap();
        let tree = ttlv::decode(&answer).unwrap();
        assert_only_tags_of(V1_0, &tree, &format!("{operation:?}"));
        let r = decode_response(&answer);
        assert_eq!(
            r.batch_item[0].result_status,
            ResultStatus::Success,
            "{operation:?}: {:?}",
            r.batch_item[0].result_message
        );
    }
    let seen_by_1_0 = c.attributes(V1_0, &uid, &[]).await;
    assert!(seen_by_1_0.iter().all(|a| a.exists_in(V1_0)));
    assert!(seen_by_1_0.contains(&Attribute::ObjectGroup("group".into())));
    assert!(seen_by_1_0.contains(&Attribute::State(State::Deactivated)));
    kmsd.server.shutdown().await;
}

#[tokio::test]
async fn clients_without_a_trusted_certificate_are_refused_at_the_handshake() {
    let kmsd = Kmsd::start(test_limits()).await;
    let request = RequestMessage {
        request_header: header(V1_2, 1),
        batch_item: vec![item(
            Operation::DiscoverVersions,
            RequestPayload::DiscoverVersions(DiscoverVersionsPayload {
                protocol_version: vec![],
            }),
        )],
    }
    .to_bytes(&kmipd::kmip::codec::Cx::new(V1_2));

    // Trusts the server, presents nothing.
    let anonymous = client_config_with(
        &kmsd.pki.ca_cert,
        None,
        Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        rustls::DEFAULT_VERSIONS,
    );
    let refused = try_request(kmsd.addr(), anonymous, &request).await;
    assert!(refused.is_err(), "no certificate, yet answered");

    // A certificate from another CA (with the same CN as the real client).
    let (_other_dir, stranger) = new_pki();
    let unknown_ca = client_config(
        &kmsd.pki.ca_cert,
        &stranger.client_cert,
        &stranger.client_key,
    );
    let refused = try_request(kmsd.addr(), unknown_ca, &request).await;
    assert!(refused.is_err(), "unknown CA, yet answered");

    kmsd.server
        .wait_for("two handshake failures", |m| m.handshake_failures == 2)
        .await;
    assert_eq!(kmsd.server.metrics.snapshot().requests, 0, "nothing read");

    // The real client is served.
    let answer = try_request(kmsd.addr(), kmsd.admin(), &request)
        .await
        .expect("the admin client is answered");
    assert_eq!(
        decode_response(&answer).batch_item[0].result_status,
        ResultStatus::Success
    );
    kmsd.server.shutdown().await;
}

/// A missing object: Object Not Found in 2.x, Item Not Found in 1.x (which lacks the finer
/// reason).
fn not_found(v: KmipVersion) -> ResultReason {
    if v >= KmipVersion::V2_0 {
        ResultReason::ObjectNotFound
    } else {
        ResultReason::ItemNotFound
    }
}
