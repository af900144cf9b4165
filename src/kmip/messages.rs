//! Request and response messages (KMIP 2.1 section 8): headers, batch items, and the payload of
//! each batch item typed by its Operation.
//!
//! A message is read in two steps: the header's Protocol Version is found first, and decides
//! how everything else is read (1.x or 2.x encodings); then the whole message is read with that
//! version. Responses are written for the version of the request they answer.

use crate::kmip::codec::{ByteString, Cx, DateTime, ModelError, Ttlv, structure};
use crate::kmip::payloads::*;
use crate::kmip::*;
use crate::kmip_struct;
use crate::ttlv::{Item, Tag, Writer};

kmip_struct! {
    /// 2.1 §8.1 (Table 393) Protocol Version.
    pub struct ProtocolVersion {
        protocol_version_major: req i32 = ProtocolVersionMajor,
        protocol_version_minor: req i32 = ProtocolVersionMinor,
    }
}

impl ProtocolVersion {
    pub fn new(v: KmipVersion) -> Self {
        ProtocolVersion {
            protocol_version_major: v.major(),
            protocol_version_minor: v.minor(),
        }
    }

    pub fn version(&self) -> Option<KmipVersion> {
        KmipVersion::from_major_minor(self.protocol_version_major, self.protocol_version_minor)
    }
}

kmip_struct! {
    /// 2.1 §2.1.2 Credential. The Credential Value's shape depends on the Credential Type and is
    /// kept as an item tree for the authentication code to read.
    pub struct Credential {
        credential_type: req CredentialType = CredentialType,
        credential_value: req Item<'static> = CredentialValue,
    }
}

kmip_struct! {
    /// 2.1 §8 Authentication (1.x: one Credential; 2.x: one or more).
    pub struct Authentication {
        credential: vec Credential = Credential,
    }
}

kmip_struct! {
    /// 2.1 §8.2 Request Header.
    pub struct RequestHeader {
        protocol_version: req ProtocolVersion = ProtocolVersion,
        maximum_response_size: opt i32 = MaximumResponseSize,
        client_correlation_value: opt String = ClientCorrelationValue,
        server_correlation_value: opt String = ServerCorrelationValue,
        asynchronous_indicator: opt bool = AsynchronousIndicator,
        attestation_capable_indicator: opt bool = AttestationCapableIndicator,
        attestation_type: vec AttestationType = AttestationType,
        authentication: opt Authentication = Authentication,
        batch_error_continuation_option: opt BatchErrorContinuationOption = BatchErrorContinuationOption,
        batch_order_option: opt bool = BatchOrderOption,
        time_stamp: opt DateTime = TimeStamp,
        batch_count: req i32 = BatchCount,
    }
}

kmip_struct! {
    /// 2.1 §8.3 Response Header.
    pub struct ResponseHeader {
        protocol_version: req ProtocolVersion = ProtocolVersion,
        time_stamp: req DateTime = TimeStamp,
        nonce: opt Item<'static> = Nonce,
        server_hashed_password: opt ByteString = ServerHashedPassword,
        attestation_type: vec AttestationType = AttestationType,
        client_correlation_value: opt String = ClientCorrelationValue,
        server_correlation_value: opt String = ServerCorrelationValue,
        batch_count: req i32 = BatchCount,
    }
}

kmip_struct! {
    /// 2.1 §2.1.9 Message Extension.
    pub struct MessageExtension {
        vendor_identification: req String = VendorIdentification,
        criticality_indicator: req bool = CriticalityIndicator,
        vendor_extension: req Item<'static> = VendorExtension,
    }
}

/// Declares the payload enums from one table: operation, request type, response type.
macro_rules! payloads {
    ($( $op:ident => $req:ty, $resp:ty; )*) => {
        /// A request payload, typed by the batch item's Operation.
        #[derive(Clone, Debug, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum RequestPayload {
            $( $op($req), )*
            /// An operation this model does not type: kept as it came, answered by the
            /// dispatcher with Operation Not Supported.
            Other(Item<'static>),
        }

        /// A response payload, typed by the batch item's Operation.
        #[derive(Clone, Debug, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum ResponsePayload {
            $( $op($resp), )*
            Other(Item<'static>),
        }

        impl RequestPayload {
            pub fn read(op: Operation, item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError> {
                Ok(match op {
                    $( Operation::$op => RequestPayload::$op(<$req>::read(item, cx)?), )*
                    _ => RequestPayload::Other(item.clone().into_owned()),
                })
            }

            pub fn write(&self, w: &mut Writer, cx: &Cx) {
                match self {
                    $( RequestPayload::$op(p) => p.write(Tag::RequestPayload, w, cx), )*
                    RequestPayload::Other(item) => item.write(Tag::RequestPayload, w, cx),
                }
            }
        }

        impl ResponsePayload {
            pub fn read(op: Operation, item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError> {
                Ok(match op {
                    $( Operation::$op => ResponsePayload::$op(<$resp>::read(item, cx)?), )*
                    _ => ResponsePayload::Other(item.clone().into_owned()),
                })
            }

            pub fn write(&self, w: &mut Writer, cx: &Cx) {
                match self {
                    $( ResponsePayload::$op(p) => p.write(Tag::ResponsePayload, w, cx), )*
                    ResponsePayload::Other(item) => item.write(Tag::ResponsePayload, w, cx),
                }
            }
        }
    };
}

payloads! {
    Activate => UniqueIdentifierRequest, UniqueIdentifierResponse;
    AddAttribute => AddAttributeRequest, AddAttributeResponse;
    Archive => UniqueIdentifierRequest, UniqueIdentifierResponse;
    Check => CheckRequest, CheckResponse;
    Create => CreateRequest, CreateResponse;
    CreateKeyPair => CreateKeyPairRequest, CreateKeyPairResponse;
    Decrypt => DecryptRequest, DecryptResponse;
    DeleteAttribute => DeleteAttributeRequest, DeleteAttributeResponse;
    Destroy => UniqueIdentifierRequest, UniqueIdentifierResponse;
    DiscoverVersions => DiscoverVersionsPayload, DiscoverVersionsPayload;
    Encrypt => EncryptRequest, EncryptResponse;
    Get => GetRequest, GetResponse;
    GetAttributeList => UniqueIdentifierRequest, GetAttributeListResponse;
    GetAttributes => GetAttributesRequest, GetAttributesResponse;
    Hash => HashRequest, HashResponse;
    Interop => InteropRequest, EmptyPayload;
    Locate => LocateRequest, LocateResponse;
    Log => LogRequest, EmptyPayload;
    MAC => MACRequest, MACResponse;
    MACVerify => MACVerifyRequest, MACVerifyResponse;
    ModifyAttribute => ModifyAttributeRequest, ModifyAttributeResponse;
    PKCS_11 => PKCS_11Request, PKCS_11Response;
    Query => QueryRequest, QueryResponse;
    Recover => UniqueIdentifierRequest, UniqueIdentifierResponse;
    Register => RegisterRequest, RegisterResponse;
    ReKey => RekeyRequest, RekeyResponse;
    Revoke => RevokeRequest, UniqueIdentifierResponse;
    RNGRetrieve => RNGRetrieveRequest, RNGRetrieveResponse;
    RNGSeed => RNGSeedRequest, RNGSeedResponse;
    SetAttribute => SetAttributeRequest, UniqueIdentifierResponse;
    Sign => SignRequest, SignResponse;
    SignatureVerify => SignatureVerifyRequest, SignatureVerifyResponse;
}

impl RequestHeader {
    /// A header with only the required fields: the version and the Batch Count.
    pub fn new(version: KmipVersion, batch_count: usize) -> Self {
        RequestHeader {
            protocol_version: ProtocolVersion::new(version),
            maximum_response_size: None,
            client_correlation_value: None,
            server_correlation_value: None,
            asynchronous_indicator: None,
            attestation_capable_indicator: None,
            attestation_type: Vec::new(),
            authentication: None,
            batch_error_continuation_option: None,
            batch_order_option: None,
            time_stamp: None,
            batch_count: batch_count as i32,
        }
    }
}

/// 2.1 §8.2 Request Batch Item.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestBatchItem {
    pub operation: Operation,
    pub ephemeral: Option<bool>,
    pub unique_batch_item_id: Option<ByteString>,
    pub request_payload: RequestPayload,
    pub message_extension: Vec<MessageExtension>,
}

impl RequestBatchItem {
    /// A batch item with only the required fields.
    pub fn new(operation: Operation, request_payload: RequestPayload) -> Self {
        RequestBatchItem {
            operation,
            ephemeral: None,
            unique_batch_item_id: None,
            request_payload,
            message_extension: Vec::new(),
        }
    }
}

/// 2.1 §8.3 Response Batch Item.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseBatchItem {
    pub operation: Option<Operation>,
    pub unique_batch_item_id: Option<ByteString>,
    pub result_status: ResultStatus,
    pub result_reason: Option<ResultReason>,
    pub result_message: Option<String>,
    pub asynchronous_correlation_value: Option<ByteString>,
    pub response_payload: Option<ResponsePayload>,
    pub message_extension: Vec<MessageExtension>,
}

fn single<T: Ttlv>(
    slot: &mut Option<T>,
    parent: Tag,
    child: &Item<'_>,
    cx: &Cx,
) -> Result<(), ModelError> {
    if slot.is_some() {
        return Err(ModelError::DuplicateField {
            parent,
            tag: child.tag,
        });
    }
    *slot = Some(T::read(child, cx)?);
    Ok(())
}

impl Ttlv for RequestBatchItem {
    fn read(item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError> {
        let parent = item.tag;
        let children = structure(item)?;
        let mut operation = None;
        let mut ephemeral = None;
        let mut unique_batch_item_id = None;
        let mut payload = None;
        let mut message_extension = Vec::new();
        for child in children {
            match child.tag {
                Tag::Operation => single(&mut operation, parent, child, cx)?,
                Tag::Ephemeral => single(&mut ephemeral, parent, child, cx)?,
                Tag::UniqueBatchItemID => single(&mut unique_batch_item_id, parent, child, cx)?,
                Tag::RequestPayload if payload.is_none() => payload = Some(child),
                Tag::MessageExtension => message_extension.push(MessageExtension::read(child, cx)?),
                other => return Err(ModelError::UnexpectedField { parent, tag: other }),
            }
        }
        let operation: Operation = operation.ok_or(ModelError::MissingField {
            parent,
            tag: Tag::Operation,
        })?;
        let payload = payload.ok_or(ModelError::MissingField {
            parent,
            tag: Tag::RequestPayload,
        })?;
        Ok(RequestBatchItem {
            operation,
            ephemeral,
            unique_batch_item_id,
            request_payload: RequestPayload::read(operation, payload, cx)?,
            message_extension,
        })
    }

    fn write(&self, tag: Tag, w: &mut Writer, cx: &Cx) {
        let open = w.begin(tag);
        self.operation.write(Tag::Operation, w, cx);
        if let Some(e) = self.ephemeral {
            w.boolean(Tag::Ephemeral, e);
        }
        if let Some(id) = &self.unique_batch_item_id {
            id.write(Tag::UniqueBatchItemID, w, cx);
        }
        self.request_payload.write(w, cx);
        for e in &self.message_extension {
            e.write(Tag::MessageExtension, w, cx);
        }
        w.end(open);
    }
}

impl Ttlv for ResponseBatchItem {
    fn read(item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError> {
        let parent = item.tag;
        let mut operation = None;
        let mut unique_batch_item_id = None;
        let mut result_status = None;
        let mut result_reason = None;
        let mut result_message = None;
        let mut asynchronous_correlation_value = None;
        let mut payload = None;
        let mut message_extension = Vec::new();
        for child in structure(item)? {
            match child.tag {
                Tag::Operation => single(&mut operation, parent, child, cx)?,
                Tag::UniqueBatchItemID => single(&mut unique_batch_item_id, parent, child, cx)?,
                Tag::ResultStatus => single(&mut result_status, parent, child, cx)?,
                Tag::ResultReason => single(&mut result_reason, parent, child, cx)?,
                Tag::ResultMessage => single(&mut result_message, parent, child, cx)?,
                Tag::AsynchronousCorrelationValue => {
                    single(&mut asynchronous_correlation_value, parent, child, cx)?
                }
                Tag::ResponsePayload if payload.is_none() => payload = Some(child),
                Tag::MessageExtension => message_extension.push(MessageExtension::read(child, cx)?),
                other => return Err(ModelError::UnexpectedField { parent, tag: other }),
            }
        }
        let response_payload = match (operation, payload) {
            (Some(op), Some(p)) => Some(ResponsePayload::read(op, p, cx)?),
            (None, Some(p)) => Some(ResponsePayload::Other(p.clone().into_owned())),
            (_, None) => None,
        };
        Ok(ResponseBatchItem {
            operation,
            unique_batch_item_id,
            result_status: result_status.ok_or(ModelError::MissingField {
                parent,
                tag: Tag::ResultStatus,
            })?,
            result_reason,
            result_message,
            asynchronous_correlation_value,
            response_payload,
            message_extension,
        })
    }

    fn write(&self, tag: Tag, w: &mut Writer, cx: &Cx) {
        let open = w.begin(tag);
        if let Some(op) = self.operation {
            op.write(Tag::Operation, w, cx);
        }
        if let Some(id) = &self.unique_batch_item_id {
            id.write(Tag::UniqueBatchItemID, w, cx);
        }
        self.result_status.write(Tag::ResultStatus, w, cx);
        if let Some(r) = self.result_reason {
            r.write(Tag::ResultReason, w, cx);
        }
        if let Some(m) = &self.result_message {
            w.text_string(Tag::ResultMessage, m);
        }
        if let Some(v) = &self.asynchronous_correlation_value {
            v.write(Tag::AsynchronousCorrelationValue, w, cx);
        }
        if let Some(p) = &self.response_payload {
            p.write(w, cx);
        }
        for e in &self.message_extension {
            e.write(Tag::MessageExtension, w, cx);
        }
        w.end(open);
    }
}

kmip_struct! {
    /// 2.1 §8.1 Request Message.
    pub struct RequestMessage {
        request_header: req RequestHeader = RequestHeader,
        batch_item: vec RequestBatchItem = BatchItem,
    }
}

kmip_struct! {
    /// 2.1 §8.1 Response Message.
    pub struct ResponseMessage {
        response_header: req ResponseHeader = ResponseHeader,
        batch_item: vec ResponseBatchItem = BatchItem,
    }
}

/// Finds the Protocol Version of a message without reading the rest, so that the rest can be
/// read the way that version encodes it.
pub fn peek_protocol_version(message: &Item<'_>) -> Result<ProtocolVersion, ModelError> {
    let header_tag = match message.tag {
        Tag::RequestMessage => Tag::RequestHeader,
        Tag::ResponseMessage => Tag::ResponseHeader,
        other => {
            return Err(ModelError::InvalidValue {
                tag: other,
                reason: "not a Request Message or Response Message".into(),
            });
        }
    };
    let header = structure(message)?
        .iter()
        .find(|i| i.tag == header_tag)
        .ok_or(ModelError::MissingField {
            parent: message.tag,
            tag: header_tag,
        })?;
    let pv = structure(header)?
        .iter()
        .find(|i| i.tag == Tag::ProtocolVersion)
        .ok_or(ModelError::MissingField {
            parent: header_tag,
            tag: Tag::ProtocolVersion,
        })?;
    ProtocolVersion::read(pv, &Cx::new(KmipVersion::V2_1))
}

impl RequestMessage {
    /// Reads a request in the encoding of its own protocol version.
    pub fn from_item(item: &Item<'_>) -> Result<(RequestMessage, Cx), ModelError> {
        let cx = version_cx(item)?;
        if item.tag != Tag::RequestMessage {
            return Err(ModelError::InvalidValue {
                tag: item.tag,
                reason: "not a Request Message".into(),
            });
        }
        Ok((RequestMessage::read(item, &cx)?, cx))
    }

    pub fn to_bytes(&self, cx: &Cx) -> Vec<u8> {
        let mut w = Writer::with_capacity(256);
        self.write(Tag::RequestMessage, &mut w, cx);
        w.into_inner()
    }
}

impl ResponseMessage {
    pub fn from_item(item: &Item<'_>) -> Result<(ResponseMessage, Cx), ModelError> {
        let cx = version_cx(item)?;
        if item.tag != Tag::ResponseMessage {
            return Err(ModelError::InvalidValue {
                tag: item.tag,
                reason: "not a Response Message".into(),
            });
        }
        Ok((ResponseMessage::read(item, &cx)?, cx))
    }

    pub fn to_bytes(&self, cx: &Cx) -> Vec<u8> {
        let mut w = Writer::with_capacity(256);
        self.write(Tag::ResponseMessage, &mut w, cx);
        w.into_inner()
    }
}

fn version_cx(item: &Item<'_>) -> Result<Cx, ModelError> {
    let pv = peek_protocol_version(item)?;
    pv.version()
        .map(Cx::new)
        .ok_or(ModelError::UnsupportedVersion {
            major: pv.protocol_version_major,
            minor: pv.protocol_version_minor,
        })
}
