//! Fixtures of the KMIP-over-TLS tests (`kms_operations.rs`, `kms_socket.rs`,
//! `kms_input.rs`): the real dispatcher (`ops::Kms` over the in-memory store) behind the
//! real server (`server::run`, rustls, development PKI) on 127.0.0.1:0, and a typed KMIP
//! client over tokio-rustls.
//!
//! Requests are built with the crate's own typed messages in the encoding of the version
//! asked for (1.x Template-Attribute and Attribute Name, 2.x Attributes and Attribute
//! Reference), so each test says what it sends, not how the bytes are laid out.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use kmipd::kmip::attributes::{
    Attribute, AttributeReference, AttributeV1, Attributes, Name, RevocationReason,
    TemplateAttribute,
};
use kmipd::kmip::codec::Cx;
use kmipd::kmip::messages::*;
use kmipd::kmip::objects::*;
use kmipd::kmip::payloads::*;
use kmipd::kmip::*;
use kmipd::ops::Kms;
use kmipd::server::{DevPki, KmsHandler, Limits};
use kmipd::store::memory::MemoryStore;
use kmipd::ttlv::{self, Tag};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::server_util::{self, TestServer};

/// A kmipd on 127.0.0.1:0 with a fresh development PKI and an empty in-memory store.
pub struct Kmsd {
    pub server: TestServer,
    pub pki: DevPki,
    pub dir: tempfile::TempDir,
}

impl Kmsd {
    pub async fn start(limits: Limits) -> Kmsd {
        Self::start_with(limits, Arc::new(MemoryStore::new())).await
    }

    /// As [`Kmsd::start`], over the given store.
    pub async fn start_with(limits: Limits, store: Arc<dyn kmipd::store::ObjectStore>) -> Kmsd {
        Self::start_configured(limits, store, |_| {}).await
    }

    /// As [`Kmsd::start_with`], with the server's settings changed by `configure` first.
    pub async fn start_configured(
        limits: Limits,
        store: Arc<dyn kmipd::store::ObjectStore>,
        configure: impl FnOnce(&mut kmipd::server::Settings),
    ) -> Kmsd {
        let (dir, pki) = server_util::new_pki();
        let mut settings = server_util::settings(server_util::tls_settings(&pki), limits);
        configure(&mut settings);
        let kms = Kms::new(store);
        let server = TestServer::start(settings, KmsHandler { kms: Arc::new(kms) }).await;
        Kmsd { server, pki, dir }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The development client (CN `admin`).
    pub fn admin(&self) -> Arc<rustls::ClientConfig> {
        server_util::admin_client(&self.pki)
    }

    /// A client with a certificate for `cn` from the same development CA.
    pub fn client_named(&self, cn: &str) -> Arc<rustls::ClientConfig> {
        let out = self.dir.path().join("clients");
        let (cert, key) = kmipd::server::issue_client(&self.pki.dir, cn, &out).unwrap();
        server_util::client_config(&self.pki.ca_cert, &cert, &key)
    }

    pub async fn connect(&self) -> Client {
        self.connect_as(self.admin()).await
    }

    pub async fn connect_as(&self, config: Arc<rustls::ClientConfig>) -> Client {
        let stream = server_util::connect(self.addr(), config)
            .await
            .expect("TLS connection");
        Client { stream }
    }
}

/// One TLS connection speaking KMIP.
pub struct Client {
    pub stream: TlsStream<TcpStream>,
}

impl Client {
    /// Sends `bytes` and reads one message back.
    pub async fn raw(&mut self, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        server_util::roundtrip(&mut self.stream, bytes).await
    }

    /// Sends a message and decodes the answer, checking what every response must hold.
    pub async fn send(
        &mut self,
        header: RequestHeader,
        items: Vec<RequestBatchItem>,
    ) -> ResponseMessage {
        let version = header.protocol_version.version().unwrap();
        let bytes = RequestMessage {
            request_header: header,
            batch_item: items,
        }
        .to_bytes(&Cx::new(version));
        let response = self.raw(&bytes).await.expect("a response");
        let r = decode_response(&response);
        assert_eq!(
            r.response_header.protocol_version,
            ProtocolVersion::new(version),
            "the response speaks the request's version"
        );
        assert!(r.response_header.time_stamp.0 > 0, "a Time Stamp");
        r
    }

    /// One operation in one message; returns its batch item.
    pub async fn one(
        &mut self,
        version: KmipVersion,
        operation: Operation,
        payload: RequestPayload,
    ) -> ResponseBatchItem {
        let mut r = self
            .send(header(version, 1), vec![item(operation, payload)])
            .await;
        assert_eq!(r.batch_item.len(), 1, "{operation:?} in {version}");
        let it = r.batch_item.remove(0);
        assert_eq!(it.operation, Some(operation));
        it
    }

    /// One operation that must succeed; returns its payload.
    pub async fn ok(
        &mut self,
        version: KmipVersion,
        operation: Operation,
        payload: RequestPayload,
    ) -> ResponsePayload {
        let it = self.one(version, operation, payload).await;
        success(it, &format!("{operation:?} in {version}"))
    }

    /// One operation that must fail with `reason`.
    pub async fn fails(
        &mut self,
        version: KmipVersion,
        operation: Operation,
        payload: RequestPayload,
        reason: ResultReason,
    ) {
        let it = self.one(version, operation, payload).await;
        assert_eq!(
            (it.result_status, it.result_reason),
            (ResultStatus::OperationFailed, Some(reason)),
            "{operation:?} in {version}: {:?}",
            it.result_message
        );
    }

    pub async fn create(&mut self, version: KmipVersion, bits: i32, name: &str) -> String {
        match self
            .ok(version, Operation::Create, create(version, bits, name))
            .await
        {
            ResponsePayload::Create(c) => {
                assert_eq!(c.object_type, ObjectType::SymmetricKey);
                c.unique_identifier
            }
            other => panic!("not a Create response: {other:?}"),
        }
    }

    pub async fn register(
        &mut self,
        version: KmipVersion,
        object: Object,
        attrs: Vec<Attribute>,
    ) -> String {
        match self
            .ok(
                version,
                Operation::Register,
                register(version, object, attrs),
            )
            .await
        {
            ResponsePayload::Register(r) => r.unique_identifier,
            other => panic!("not a Register response: {other:?}"),
        }
    }

    pub async fn get(
        &mut self,
        version: KmipVersion,
        uid: &str,
        format: Option<KeyFormatType>,
    ) -> GetResponse {
        match self.ok(version, Operation::Get, get(uid, format)).await {
            ResponsePayload::Get(g) => g,
            other => panic!("not a Get response: {other:?}"),
        }
    }

    /// Every attribute of `uid` (or those named), whichever encoding the version uses.
    pub async fn attributes(
        &mut self,
        version: KmipVersion,
        uid: &str,
        only: &[Tag],
    ) -> Vec<Attribute> {
        match self
            .ok(
                version,
                Operation::GetAttributes,
                get_attributes(version, Some(uid), only),
            )
            .await
        {
            ResponsePayload::GetAttributes(g) => {
                assert_eq!(g.unique_identifier, uid);
                attributes_of(version, g)
            }
            other => panic!("not a Get Attributes response: {other:?}"),
        }
    }

    pub async fn state(&mut self, version: KmipVersion, uid: &str) -> State {
        let attrs = self.attributes(version, uid, &[Tag::State]).await;
        match attrs.as_slice() {
            [Attribute::State(s)] => *s,
            other => panic!("State of {uid}: {other:?}"),
        }
    }

    pub async fn locate(
        &mut self,
        version: KmipVersion,
        filters: Vec<Attribute>,
        max: Option<i32>,
        offset: Option<i32>,
    ) -> LocateResponse {
        match self
            .ok(
                version,
                Operation::Locate,
                locate(version, filters, max, offset),
            )
            .await
        {
            ResponsePayload::Locate(l) => l,
            other => panic!("not a Locate response: {other:?}"),
        }
    }
}

/// Decodes a response message, whatever its version.
pub fn decode_response(bytes: &[u8]) -> ResponseMessage {
    let item = ttlv::decode(bytes).expect("the response is TTLV");
    ResponseMessage::from_item(&item)
        .expect("the response is a typed Response Message")
        .0
}

pub fn success(it: ResponseBatchItem, what: &str) -> ResponsePayload {
    assert_eq!(
        it.result_status,
        ResultStatus::Success,
        "{what}: {:?} {:?}",
        it.result_reason,
        it.result_message
    );
    it.response_payload
        .expect("a successful item has a payload")
}

pub fn header(version: KmipVersion, count: usize) -> RequestHeader {
    RequestHeader::new(version, count)
}

pub fn item(operation: Operation, payload: RequestPayload) -> RequestBatchItem {
    RequestBatchItem::new(operation, payload)
}

pub fn name(value: &str) -> Attribute {
    Attribute::Name(Name {
        name_value: value.into(),
        name_type: NameType::UninterpretedTextString,
    })
}

/// Attributes in the shape the version sends them in Create and Register.
fn template(
    version: KmipVersion,
    attrs: Vec<Attribute>,
) -> (Option<TemplateAttribute>, Option<Attributes>) {
    if version.is_1x() {
        let attribute = attrs.into_iter().map(AttributeV1::from).collect();
        (
            Some(TemplateAttribute {
                name: vec![],
                attribute,
            }),
            None,
        )
    } else {
        (None, Some(Attributes(attrs)))
    }
}

pub fn create_with(version: KmipVersion, attrs: Vec<Attribute>) -> RequestPayload {
    let (template_attribute, attributes) = template(version, attrs);
    RequestPayload::Create(CreateRequest {
        object_type: ObjectType::SymmetricKey,
        template_attribute,
        attributes,
        protection_storage_masks: None,
    })
}

/// Create an AES key of `bits` named `name`.
pub fn create(version: KmipVersion, bits: i32, name_value: &str) -> RequestPayload {
    create_with(
        version,
        vec![
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
            Attribute::CryptographicLength(bits),
            Attribute::CryptographicUsageMask(
                CryptographicUsageMask::Encrypt | CryptographicUsageMask::Decrypt,
            ),
            name(name_value),
        ],
    )
}

pub fn register(version: KmipVersion, object: Object, attrs: Vec<Attribute>) -> RequestPayload {
    let object_type = match &object {
        Object::SymmetricKey(_) => ObjectType::SymmetricKey,
        Object::SecretData(_) => ObjectType::SecretData,
        Object::OpaqueObject(_) => ObjectType::OpaqueObject,
        other => panic!("not used in these tests: {other:?}"),
    };
    let (template_attribute, attributes) = template(version, attrs);
    RequestPayload::Register(RegisterRequest {
        object_type,
        template_attribute,
        attributes,
        object: Some(object),
        protection_storage_masks: None,
    })
}

fn raw_block(
    format: KeyFormatType,
    bytes: &[u8],
    algorithm: Option<CryptographicAlgorithm>,
) -> KeyBlock {
    KeyBlock {
        key_format_type: format,
        key_compression_type: None,
        key_value: Some(KeyValue::Plain {
            key_material: KeyMaterial::Bytes(KeyBytes::new(bytes.to_vec())),
            attributes: vec![],
        }),
        cryptographic_algorithm: algorithm,
        cryptographic_length: algorithm.map(|_| bytes.len() as i32 * 8),
        key_wrapping_data: None,
    }
}

pub fn symmetric_key(bytes: &[u8]) -> Object {
    Object::SymmetricKey(SymmetricKey {
        key_block: raw_block(KeyFormatType::Raw, bytes, Some(CryptographicAlgorithm::AES)),
    })
}

pub fn secret_data(bytes: &[u8]) -> Object {
    Object::SecretData(SecretData {
        secret_data_type: SecretDataType::Password,
        key_block: raw_block(KeyFormatType::Opaque, bytes, None),
    })
}

pub fn opaque_object(bytes: &[u8]) -> Object {
    Object::OpaqueObject(OpaqueObject {
        opaque_data_type: OpaqueDataType::Unknown(0x8000_0001),
        opaque_data_value: KeyBytes::new(bytes.to_vec()),
    })
}

pub fn get(uid: &str, format: Option<KeyFormatType>) -> RequestPayload {
    RequestPayload::Get(GetRequest {
        unique_identifier: Some(uid.into()),
        key_format_type: format,
        key_wrap_type: None,
        key_compression_type: None,
        key_wrapping_specification: None,
    })
}

/// The key bytes of a Get response (Raw, Opaque or Transparent Symmetric Key).
pub fn key_bytes(g: &GetResponse) -> Vec<u8> {
    let block = match &g.object {
        Some(Object::SymmetricKey(k)) => &k.key_block,
        Some(Object::SecretData(s)) => &s.key_block,
        Some(Object::OpaqueObject(o)) => return o.opaque_data_value.as_slice().to_vec(),
        other => panic!("unexpected object {other:?}"),
    };
    match &block.key_value {
        Some(KeyValue::Plain {
            key_material: KeyMaterial::Bytes(b),
            ..
        }) => b.as_slice().to_vec(),
        Some(KeyValue::Plain {
            key_material: KeyMaterial::Transparent(t),
            ..
        }) => t.key.as_ref().expect("a Key").as_slice().to_vec(),
        other => panic!("unexpected key value {other:?}"),
    }
}

/// The payload of Activate, Destroy, Get Attribute List: a Unique Identifier, or none for the
/// ID Placeholder.
pub fn uid(uid: Option<&str>) -> UniqueIdentifierRequest {
    UniqueIdentifierRequest {
        unique_identifier: uid.map(str::to_string),
    }
}

pub fn revoke(uid: Option<&str>) -> RequestPayload {
    RequestPayload::Revoke(RevokeRequest {
        unique_identifier: uid.map(str::to_string),
        revocation_reason: RevocationReason {
            revocation_reason_code: RevocationReasonCode::CessationOfOperation,
            revocation_message: Some("test".into()),
        },
        compromise_occurrence_date: None,
    })
}

/// Get Attributes for the tags in `only` (all when empty): Attribute Names in 1.x, Attribute
/// References in 2.x.
pub fn get_attributes(version: KmipVersion, uid: Option<&str>, only: &[Tag]) -> RequestPayload {
    let (attribute_name, attribute_reference) = if version.is_1x() {
        let names = only
            .iter()
            .map(|t| attribute_name_for_tag(*t).unwrap().to_string())
            .collect();
        (names, vec![])
    } else {
        let refs = only
            .iter()
            .map(|t| AttributeReference::Standard(*t))
            .collect();
        (vec![], refs)
    };
    RequestPayload::GetAttributes(GetAttributesRequest {
        unique_identifier: uid.map(str::to_string),
        attribute_name,
        attribute_reference,
    })
}

pub fn attributes_of(version: KmipVersion, g: GetAttributesResponse) -> Vec<Attribute> {
    if version.is_1x() {
        assert!(g.attributes.is_none(), "no 2.x Attributes in {version}");
        g.attribute.into_iter().map(|a| a.attribute).collect()
    } else {
        assert!(g.attribute.is_empty(), "no 1.x Attribute in {version}");
        g.attributes.map(|a| a.0).unwrap_or_default()
    }
}

pub fn locate(
    version: KmipVersion,
    filters: Vec<Attribute>,
    max: Option<i32>,
    offset: Option<i32>,
) -> RequestPayload {
    let (attribute, attributes) = if version.is_1x() {
        (filters.into_iter().map(AttributeV1::from).collect(), None)
    } else {
        (vec![], Some(Attributes(filters)))
    };
    RequestPayload::Locate(LocateRequest {
        maximum_items: max,
        offset_items: offset,
        storage_status_mask: None,
        object_group_member: None,
        attribute,
        template_attribute: None,
        attributes,
    })
}
