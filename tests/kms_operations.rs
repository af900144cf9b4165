//! Each operation of the first set over real TLS, in KMIP 1.0, 1.2, 1.4, 2.0 and 2.1: the
//! dispatcher with the in-memory store behind `server::run`, a development PKI and a
//! tokio-rustls client. Query; Create AES-128/192/256; Register Symmetric Key, Secret Data and
//! Opaque Object; Get in Raw and Transparent formats; Get Attributes; Get Attribute List;
//! Add, Modify and Delete Attribute; Locate by Name, Object Type, State, algorithm and length,
//! paged; Activate, Revoke, Destroy with their lifecycle errors; another principal refused.

mod kms_util;
mod server_util;

use kmipd::kmip::attributes::{Attribute, AttributeReference, AttributeV1};
use kmipd::kmip::messages::*;
use kmipd::kmip::objects::*;
use kmipd::kmip::payloads::*;
use kmipd::kmip::*;
use kmipd::ttlv::Tag;
use kms_util::*;
use server_util::test_limits;

use KmipVersion::*;

/// Versions whose every operation is exercised (all seven get Discover Versions, Create and
/// Get in `every_protocol_version`).
const SWEEP: [KmipVersion; 5] = [V1_0, V1_2, V1_4, V2_0, V2_1];

/// What a 1.x server says for a wrong lifecycle state (1.x has no Wrong Key Lifecycle State).
fn wrong_state(version: KmipVersion) -> ResultReason {
    if version.is_1x() {
        ResultReason::PermissionDenied
    } else {
        ResultReason::WrongKeyLifecycleState
    }
}

fn uids(l: &LocateResponse) -> Vec<String> {
    l.unique_identifier.clone()
}

#[tokio::test]
async fn each_operation_in_each_version() {
    for v in SWEEP {
        // A server per version, so that every Locate result is exact.
        let kmsd = Kmsd::start(test_limits()).await;
        let mut c = kmsd.connect().await;

        // Query.
        let q = match c
            .ok(
                v,
                Operation::Query,
                RequestPayload::Query(QueryRequest {
                    query_function: vec![
                        QueryFunction::QueryOperations,
                        QueryFunction::QueryObjects,
                        QueryFunction::QueryServerInformation,
                    ],
                }),
            )
            .await
        {
            ResponsePayload::Query(q) => q,
            other => panic!("{other:?}"),
        };
        for op in [
            Operation::Create,
            Operation::Register,
            Operation::Get,
            Operation::GetAttributes,
            Operation::GetAttributeList,
            Operation::Locate,
            Operation::Activate,
            Operation::Revoke,
            Operation::Destroy,
            Operation::Query,
        ] {
            assert!(q.operation.contains(&op), "{v}: Query lacks {op:?}");
        }
        // Discover Versions came with 1.1: a 1.0 client is not told of it.
        assert_eq!(
            q.operation.contains(&Operation::DiscoverVersions),
            v >= V1_1,
            "{v}"
        );
        for t in [
            ObjectType::SymmetricKey,
            ObjectType::SecretData,
            ObjectType::OpaqueObject,
        ] {
            assert!(q.object_type.contains(&t), "{v}: Query lacks {t:?}");
        }
        assert_eq!(q.vendor_identification.as_deref(), Some("kmipd"));

        // Create AES-128/192/256; Get in Raw and Transparent Symmetric Key formats.
        let mut created = Vec::new();
        for bits in [128, 192, 256] {
            let uid = c.create(v, bits, &format!("aes-{bits}")).await;
            let raw = c.get(v, &uid, None).await;
            assert_eq!(raw.unique_identifier, uid);
            assert_eq!(raw.object_type, ObjectType::SymmetricKey);
            let bytes = key_bytes(&raw);
            assert_eq!(bytes.len() * 8, bits as usize, "{v}");
            let Some(Object::SymmetricKey(k)) = &raw.object else {
                unreachable!()
            };
            assert_eq!(k.key_block.key_format_type, KeyFormatType::Raw);
            assert_eq!(
                k.key_block.cryptographic_algorithm,
                Some(CryptographicAlgorithm::AES)
            );
            assert_eq!(k.key_block.cryptographic_length, Some(bits));
            let transparent = c
                .get(v, &uid, Some(KeyFormatType::TransparentSymmetricKey))
                .await;
            let Some(Object::SymmetricKey(t)) = &transparent.object else {
                panic!("{transparent:?}")
            };
            assert_eq!(
                t.key_block.key_format_type,
                KeyFormatType::TransparentSymmetricKey
            );
            assert_eq!(
                key_bytes(&transparent),
                bytes,
                "{v}: same key, other format"
            );
            created.push(uid);
        }
        assert_ne!(created[0], created[1]);

        // Register a symmetric key, secret data and an opaque object; Get gives the bytes back.
        let key: Vec<u8> = (0u8..32).collect();
        let key_uid = c
            .register(v, symmetric_key(&key), vec![name("registered")])
            .await;
        let g = c.get(v, &key_uid, None).await;
        assert_eq!(key_bytes(&g), key, "{v}");
        let secret = b"correct horse battery staple".to_vec();
        let secret_uid = c
            .register(v, secret_data(&secret), vec![name("secret")])
            .await;
        let g = c.get(v, &secret_uid, None).await;
        assert_eq!(g.object_type, ObjectType::SecretData);
        assert_eq!(key_bytes(&g), secret);
        let Some(Object::SecretData(s)) = &g.object else {
            unreachable!()
        };
        assert_eq!(s.secret_data_type, SecretDataType::Password);
        let opaque = b"\x00\x01 opaque \xfe\xff".to_vec();
        let opaque_uid = c.register(v, opaque_object(&opaque), vec![]).await;
        let g = c.get(v, &opaque_uid, None).await;
        assert_eq!(g.object_type, ObjectType::OpaqueObject);
        assert_eq!(key_bytes(&g), opaque);

        // Get Attributes: all, then two by name or reference.
        let all = c.attributes(v, &key_uid, &[]).await;
        for expected in [
            Attribute::UniqueIdentifier(key_uid.clone()),
            Attribute::ObjectType(ObjectType::SymmetricKey),
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
            Attribute::CryptographicLength(256),
            Attribute::State(State::PreActive),
            name("registered"),
        ] {
            assert!(all.contains(&expected), "{v}: {expected:?} not in {all:?}");
        }
        assert!(all.iter().all(|a| a.exists_in(v)), "{v}: {all:?}");
        let two = c
            .attributes(v, &key_uid, &[Tag::State, Tag::CryptographicLength])
            .await;
        assert_eq!(two.len(), 2, "{v}: {two:?}");
        assert!(two.contains(&Attribute::State(State::PreActive)));
        assert!(two.contains(&Attribute::CryptographicLength(256)));

        // Get Attribute List.
        let list = match c
            .ok(
                v,
                Operation::GetAttributeList,
                RequestPayload::GetAttributeList(uid(Some(&key_uid))),
            )
            .await
        {
            ResponsePayload::GetAttributeList(l) => l,
            other => panic!("{other:?}"),
        };
        assert_eq!(list.unique_identifier, key_uid);
        let listed: Vec<Tag> = if v.is_1x() {
            assert!(list.attribute_reference.is_empty());
            list.attribute_name
                .iter()
                .map(|n| attribute_tag_for_name(n).unwrap_or_else(|| panic!("{v}: name {n}")))
                .collect()
        } else {
            assert!(list.attribute_name.is_empty());
            list.attribute_reference
                .iter()
                .map(|r| match r {
                    AttributeReference::Standard(t) => *t,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        for tag in [
            Tag::UniqueIdentifier,
            Tag::ObjectType,
            Tag::CryptographicAlgorithm,
            Tag::State,
            Tag::Name,
        ] {
            assert!(listed.contains(&tag), "{v}: {tag} not in {listed:?}");
        }

        // Add, Modify and Delete Attribute (Contact Information exists in every version).
        let contact = |s: &str| Attribute::ContactInformation(s.into());
        let add = if v.is_1x() {
            AddAttributeRequest {
                unique_identifier: Some(key_uid.clone()),
                attribute: Some(contact("ops@example.com").into()),
                new_attribute: None,
            }
        } else {
            AddAttributeRequest {
                unique_identifier: Some(key_uid.clone()),
                attribute: None,
                new_attribute: Some(contact("ops@example.com")),
            }
        };
        c.ok(
            v,
            Operation::AddAttribute,
            RequestPayload::AddAttribute(add),
        )
        .await;
        let modify = if v.is_1x() {
            ModifyAttributeRequest {
                unique_identifier: Some(key_uid.clone()),
                attribute: Some(AttributeV1 {
                    attribute: contact("sec@example.com"),
                    index: Some(0),
                }),
                current_attribute: None,
                new_attribute: None,
            }
        } else {
            ModifyAttributeRequest {
                unique_identifier: Some(key_uid.clone()),
                attribute: None,
                current_attribute: Some(contact("ops@example.com")),
                new_attribute: Some(contact("sec@example.com")),
            }
        };
        c.ok(
            v,
            Operation::ModifyAttribute,
            RequestPayload::ModifyAttribute(modify),
        )
        .await;
        assert_eq!(
            c.attributes(v, &key_uid, &[Tag::ContactInformation]).await,
            vec![contact("sec@example.com")],
            "{v}"
        );
        let delete = if v.is_1x() {
            DeleteAttributeRequest {
                unique_identifier: Some(key_uid.clone()),
                attribute_name: Some("Contact Information".into()),
                attribute_index: None,
                current_attribute: None,
                attribute_reference: None,
            }
        } else {
            DeleteAttributeRequest {
                unique_identifier: Some(key_uid.clone()),
                attribute_name: None,
                attribute_index: None,
                current_attribute: None,
                attribute_reference: Some(AttributeReference::Standard(Tag::ContactInformation)),
            }
        };
        c.ok(
            v,
            Operation::DeleteAttribute,
            RequestPayload::DeleteAttribute(delete),
        )
        .await;
        assert_eq!(
            c.attributes(v, &key_uid, &[Tag::ContactInformation]).await,
            vec![],
            "{v}"
        );

        // Locate by Name, Object Type, State, Cryptographic Algorithm and Length.
        let l = c.locate(v, vec![name("registered")], None, None).await;
        assert_eq!(uids(&l), vec![key_uid.clone()], "{v}");
        let l = c.locate(v, vec![name("nothing")], None, None).await;
        assert!(uids(&l).is_empty(), "{v}: nothing named so");
        let l = c
            .locate(
                v,
                vec![Attribute::ObjectType(ObjectType::SecretData)],
                None,
                None,
            )
            .await;
        assert_eq!(uids(&l), vec![secret_uid.clone()], "{v}");
        let l = c
            .locate(
                v,
                vec![
                    Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
                    Attribute::CryptographicLength(192),
                ],
                None,
                None,
            )
            .await;
        assert_eq!(uids(&l), vec![created[1].clone()], "{v}");

        // Locate paged with Maximum Items and Offset Items.
        let mut paged = Vec::new();
        for _ in 0..5 {
            paged.push(c.create(v, 128, "paged").await);
        }
        let all_paged = uids(&c.locate(v, vec![name("paged")], None, None).await);
        let mut sorted = all_paged.clone();
        sorted.sort();
        paged.sort();
        assert_eq!(sorted, paged, "{v}");
        let mut joined = Vec::new();
        for (offset, size) in [(0, 2), (2, 2), (4, 1), (6, 0)] {
            let l = c
                .locate(v, vec![name("paged")], Some(2), Some(offset))
                .await;
            assert_eq!(l.unique_identifier.len(), size, "{v}: page at {offset}");
            if v >= V1_3 {
                assert_eq!(l.located_items, Some(5), "{v}: Located Items counts all");
            } else {
                assert_eq!(l.located_items, None, "{v} has no Located Items");
            }
            joined.extend(uids(&l));
        }
        assert_eq!(joined, all_paged, "{v}: pages in the same order");

        // Activate, Revoke, Destroy; lifecycle errors on the way.
        c.ok(
            v,
            Operation::Activate,
            RequestPayload::Activate(uid(Some(&key_uid))),
        )
        .await;
        assert_eq!(c.state(v, &key_uid).await, State::Active);
        let l = c
            .locate(v, vec![Attribute::State(State::Active)], None, None)
            .await;
        assert_eq!(uids(&l), vec![key_uid.clone()], "{v}: Locate by State");
        c.fails(
            v,
            Operation::Activate,
            RequestPayload::Activate(uid(Some(&key_uid))),
            wrong_state(v),
        )
        .await;
        c.fails(
            v,
            Operation::Destroy,
            RequestPayload::Destroy(uid(Some(&key_uid))),
            wrong_state(v),
        )
        .await;
        c.ok(v, Operation::Revoke, revoke(Some(&key_uid))).await;
        assert_eq!(c.state(v, &key_uid).await, State::Deactivated);
        c.ok(
            v,
            Operation::Destroy,
            RequestPayload::Destroy(uid(Some(&key_uid))),
        )
        .await;
        // 2.x has Object Destroyed; 1.x answers with Item Not Found.
        c.fails(
            v,
            Operation::Get,
            get(&key_uid, None),
            if v >= KmipVersion::V2_0 {
                ResultReason::ObjectDestroyed
            } else {
                ResultReason::ItemNotFound
            },
        )
        .await;
        assert_eq!(c.state(v, &key_uid).await, State::Destroyed);
        c.fails(
            v,
            Operation::Get,
            get("no-such-object", None),
            if v >= KmipVersion::V2_0 {
                ResultReason::ObjectNotFound
            } else {
                ResultReason::ItemNotFound
            },
        )
        .await;

        // Another principal can neither use nor see these objects, and has its own.
        let mut bob = kmsd.connect_as(kmsd.client_named("bob")).await;
        bob.fails(
            v,
            Operation::Get,
            get(&secret_uid, None),
            ResultReason::PermissionDenied,
        )
        .await;
        bob.fails(
            v,
            Operation::Destroy,
            RequestPayload::Destroy(uid(Some(&opaque_uid))),
            ResultReason::PermissionDenied,
        )
        .await;
        bob.fails(
            v,
            Operation::GetAttributes,
            get_attributes(v, Some(&created[0]), &[]),
            ResultReason::PermissionDenied,
        )
        .await;
        assert!(uids(&bob.locate(v, vec![], None, None).await).is_empty());
        let bobs = bob.create(v, 256, "secret").await;
        assert_eq!(
            uids(&bob.locate(v, vec![name("secret")], None, None).await),
            vec![bobs.clone()]
        );
        c.fails(
            v,
            Operation::Get,
            get(&bobs, None),
            ResultReason::PermissionDenied,
        )
        .await;
        assert_eq!(
            uids(&c.locate(v, vec![name("secret")], None, None).await),
            vec![secret_uid.clone()],
            "{v}: each principal sees its own"
        );
        kmsd.server.shutdown().await;
    }
}

/// The in-memory store, answering each commit from another thread after a delay, as the
/// redb committer answers after its fsync.
struct LateStore {
    inner: kmipd::store::memory::MemoryStore,
    delay_ms: std::sync::atomic::AtomicU64,
    answered: std::sync::atomic::AtomicU64,
}

impl kmipd::store::ObjectStore for LateStore {
    fn get(
        &self,
        uid: &str,
    ) -> Result<Option<kmipd::store::ManagedObject>, kmipd::store::StoreError> {
        self.inner.get(uid)
    }
    fn locate(
        &self,
        query: &kmipd::store::Query,
    ) -> Result<kmipd::store::Located, kmipd::store::StoreError> {
        self.inner.locate(query)
    }
    fn submit_audited(
        &self,
        writes: kmipd::store::WriteSet,
        audit: Vec<kmipd::audit::AuditEvent>,
    ) -> Result<kmipd::store::CommitWait, kmipd::store::StoreError> {
        // Applied now (the state a fsynced batch has), answered later.
        let result = self.inner.commit_audited(writes, audit);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let delay = std::time::Duration::from_millis(
            self.delay_ms.load(std::sync::atomic::Ordering::SeqCst),
        );
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            drop(tx.send(result));
        });
        self.answered
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(rx)
    }
    fn record(
        &self,
        events: Vec<kmipd::audit::AuditEvent>,
    ) -> Result<(), kmipd::store::StoreError> {
        self.inner.record(events)
    }
    fn audit_records(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, kmipd::store::StoreError> {
        self.inner.audit_records(from, limit)
    }
    fn audit_head(&self) -> Result<kmipd::audit::ChainHead, kmipd::store::StoreError> {
        self.inner.audit_head()
    }
    fn count(&self) -> Result<u64, kmipd::store::StoreError> {
        self.inner.count()
    }
}

/// On the multi-threaded runtime, as `kmipd serve` runs: a lone write request on a quiet
/// server polls for its commit's answer on its own thread for up to 2 ms
/// (`connection::settle_alone`), and past that hands the wait back to its task. Both ways,
/// and with requests alternating between them on one connection, every answer is right
/// and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_writes_are_answered_whether_the_commit_is_quick_or_slow() {
    let store = std::sync::Arc::new(LateStore {
        inner: kmipd::store::memory::MemoryStore::new(),
        delay_ms: std::sync::atomic::AtomicU64::new(0),
        answered: std::sync::atomic::AtomicU64::new(0),
    });
    let kmsd = Kmsd::start_with(test_limits(), store.clone()).await;
    let mut c = kmsd.connect().await;
    for (i, delay_ms) in [0u64, 30, 0, 1, 30, 0].into_iter().enumerate() {
        store
            .delay_ms
            .store(delay_ms, std::sync::atomic::Ordering::SeqCst);
        let uid = c.create(V1_4, 256, &format!("late-{i}")).await;
        let got = c.get(V1_4, &uid, None).await;
        assert_eq!(got.unique_identifier, uid, "commit delay {delay_ms} ms");
        assert_eq!(c.state(V2_1, &uid).await, State::PreActive);
    }
    assert_eq!(
        store.answered.load(std::sync::atomic::Ordering::SeqCst),
        12,
        "one commit per Create, one per first Get (it turns Fresh to False)"
    );
}
