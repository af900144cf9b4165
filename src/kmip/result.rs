//! The one mapping from errors to KMIP Result Reason (2.1 §11.29 / 1.4 §9.1.3.2.29).
//!
//! Every error the model, the store or an operation can raise ends up here; the matches are
//! exhaustive, so a new error variant forces a decision about what the client is told.

use crate::kmip::ResultReason;
use crate::kmip::codec::ModelError;
use crate::ttlv::{DecodeError, DecodeErrorKind};

impl ModelError {
    /// What the client is told when its request cannot be read, after the General Errors
    /// table (1.4 §11.1, 2.1 §11.1): a batch item or payload that cannot be parsed (wrong
    /// item type, a required field missing, a field given twice) is Invalid Message; an
    /// unknown field in a message of a version the server speaks is Invalid Field, as is a
    /// well-formed field holding a value the server rejects.
    pub fn result_reason(&self) -> ResultReason {
        match self {
            ModelError::MissingField { .. }
            | ModelError::DuplicateField { .. }
            | ModelError::WrongType { .. }
            | ModelError::UnsupportedVersion { .. } => ResultReason::InvalidMessage,
            ModelError::UnexpectedField { .. }
            | ModelError::InvalidValue { .. }
            | ModelError::NotInVersion { .. } => ResultReason::InvalidField,
        }
    }
}

/// A message whose TTLV cannot be decoded although its frame was whole: Invalid Message.
pub fn decode_result_reason(err: &DecodeError) -> ResultReason {
    match err.kind {
        DecodeErrorKind::Truncated { .. }
        | DecodeErrorKind::UnknownType(_)
        | DecodeErrorKind::WrongLength { .. }
        | DecodeErrorKind::BigIntegerLength(_)
        | DecodeErrorKind::NonZeroPadding
        | DecodeErrorKind::BadBoolean(_)
        | DecodeErrorKind::InvalidUtf8
        | DecodeErrorKind::StructureLength { .. }
        | DecodeErrorKind::TooDeep(_)
        | DecodeErrorKind::TooManyItems(_)
        | DecodeErrorKind::TrailingBytes(_)
        | DecodeErrorKind::NotAStructure(_)
        | DecodeErrorKind::BadTag(_)
        | DecodeErrorKind::TooLarge { .. } => ResultReason::InvalidMessage,
    }
}

/// The Result Reason to send to a client of `version`: reasons its version lacks (2.x added
/// many finer ones) become the nearest one it has, as an enumeration value that does not exist
/// in a version is never sent.
pub fn reason_for_version(reason: ResultReason, version: crate::kmip::KmipVersion) -> ResultReason {
    if reason.exists_in(version) {
        return reason;
    }
    let nearer = match reason {
        ResultReason::WrongKeyLifecycleState
        | ResultReason::Sensitive
        | ResultReason::NotExtractable
        | ResultReason::IncompatibleCryptographicUsageMask
        | ResultReason::NotAuthorised
        | ResultReason::ReadOnlyAttribute
        | ResultReason::AttributeReadOnly => ResultReason::PermissionDenied,
        ResultReason::ObjectNotFound
        | ResultReason::ObjectDestroyed
        | ResultReason::WrappingObjectNotFound
        | ResultReason::WrappingObjectDestroyed
        | ResultReason::AttributeNotFound
        | ResultReason::AttributeInstanceNotFound => ResultReason::ItemNotFound,
        ResultReason::UnknownTag
        | ResultReason::UnknownEnumeration
        | ResultReason::InvalidAttribute
        | ResultReason::InvalidAttributeValue
        | ResultReason::InvalidObjectType
        | ResultReason::IllegalObjectType
        | ResultReason::NumericRange
        | ResultReason::InvalidDataType
        | ResultReason::UnsupportedAttribute
        | ResultReason::MultiValuedAttribute
        | ResultReason::AttributeSingleValued
        | ResultReason::IllegalOperation => ResultReason::InvalidField,
        ResultReason::WrappingObjectArchived => ResultReason::ObjectArchived,
        ResultReason::KeyWrapTypeNotSupported => ResultReason::FeatureNotSupported,
        ResultReason::UnsupportedProtocolVersion
        | ResultReason::CodecError
        | ResultReason::UnknownMessageExtension => ResultReason::InvalidMessage,
        ResultReason::BadCryptographicParameters
        | ResultReason::UnsupportedCryptographicParameters => ResultReason::CryptographicFailure,
        _ => ResultReason::GeneralFailure,
    };
    if nearer.exists_in(version) {
        nearer
    } else {
        ResultReason::GeneralFailure
    }
}
