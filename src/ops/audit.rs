//! The audit events of a response: one per batch item, naming the principal, the operation,
//! the objects touched, and the result as the client was told it (after Undo, Response Too
//! Large or a failed commit have had their say).
//!
//! The objects are taken from the response payload when the item succeeded (so a Create
//! names the identifier it made, a Locate every identifier it returned), else from the
//! request payload (the identifier the client asked about, when it named one).

use super::ItemResult;
use crate::audit::AuditEvent;
use crate::kmip::messages::{RequestPayload, ResponseMessage, ResponsePayload};
use crate::kmip::{Operation, ResultReason, ResultStatus};
use crate::policy::Principal;

pub(super) fn events(
    principal: &Principal,
    now: i64,
    items: &[ItemResult],
    response: &ResponseMessage,
) -> Vec<AuditEvent> {
    response
        .batch_item
        .iter()
        .enumerate()
        .map(|(i, answer)| {
            let request = items.get(i).and_then(|r| r.as_ref().ok());
            let mut uids = answer
                .response_payload
                .as_ref()
                .map(response_uids)
                .unwrap_or_default();
            if uids.is_empty()
                && let Some(uid) = request.and_then(|r| request_uid(&r.request_payload))
            {
                uids.push(uid.to_string());
            }
            // A Re-key names the key it replaces as well as the replacement, when the
            // request named it (else the replacement's Replaced Object Link does).
            if let Some(RequestPayload::ReKey(r)) = request.map(|r| &r.request_payload)
                && let Some(uid) = &r.unique_identifier
                && !uids.contains(uid)
            {
                uids.push(uid.clone());
            }
            // A key registered wrapped names the key that unwrapped it.
            if answer.result_status == ResultStatus::Success
                && let Some(RequestPayload::Register(r)) = request.map(|r| &r.request_payload)
            {
                uids.extend(r.object.as_ref().and_then(wrapping_uid));
            }
            let reason = match answer.result_status {
                ResultStatus::Success => None,
                _ => answer.result_reason,
            };
            match answer.operation.or_else(|| request.map(|r| r.operation)) {
                Some(operation) => AuditEvent::kmip(
                    now,
                    principal.name.clone(),
                    operation,
                    uids,
                    answer.result_status,
                    reason,
                ),
                None => AuditEvent {
                    operation: UNREADABLE.to_string(),
                    ..AuditEvent::kmip(
                        now,
                        principal.name.clone(),
                        Operation::Query,
                        uids,
                        answer.result_status,
                        reason,
                    )
                },
            }
        })
        .collect()
}

/// The operation name of an event whose request could not be read far enough to know it.
pub(super) const UNREADABLE: &str = "(unreadable request)";

/// The event of a message that could not be read at all.
pub(super) fn unread(principal: &Principal, now: i64, reason: ResultReason) -> AuditEvent {
    AuditEvent {
        operation: UNREADABLE.to_string(),
        ..AuditEvent::kmip(
            now,
            principal.name.clone(),
            Operation::Query,
            Vec::new(),
            ResultStatus::OperationFailed,
            Some(reason),
        )
    }
}

fn response_uids(payload: &ResponsePayload) -> Vec<String> {
    use ResponsePayload as P;
    let one = |u: &String| vec![u.clone()];
    match payload {
        P::Activate(p) | P::Destroy(p) | P::Revoke(p) | P::Archive(p) | P::Recover(p) => {
            one(&p.unique_identifier)
        }
        P::SetAttribute(p) => one(&p.unique_identifier),
        P::Create(p) => one(&p.unique_identifier),
        P::Register(p) => one(&p.unique_identifier),
        P::ReKey(p) => one(&p.unique_identifier),
        // A wrapped key names its wrapping key too: the audit log says which key left
        // under which.
        P::Get(p) => std::iter::once(p.unique_identifier.clone())
            .chain(p.object.as_ref().and_then(wrapping_uid))
            .collect(),
        P::GetAttributes(p) => one(&p.unique_identifier),
        P::GetAttributeList(p) => one(&p.unique_identifier),
        P::AddAttribute(p) => one(&p.unique_identifier),
        P::ModifyAttribute(p) => one(&p.unique_identifier),
        P::DeleteAttribute(p) => one(&p.unique_identifier),
        P::Encrypt(p) => one(&p.unique_identifier),
        P::Decrypt(p) => one(&p.unique_identifier),
        P::Locate(p) => p.unique_identifier.clone(),
        P::CreateKeyPair(p) => vec![
            p.private_key_unique_identifier.clone(),
            p.public_key_unique_identifier.clone(),
        ],
        _ => Vec::new(),
    }
}

/// The Unique Identifier of the key that wraps `object`, if it travels wrapped.
fn wrapping_uid(object: &crate::kmip::objects::Object) -> Option<String> {
    object
        .key_block()?
        .key_wrapping_data
        .as_ref()?
        .encryption_key_information
        .as_ref()
        .map(|i| i.unique_identifier.clone())
}

fn request_uid(payload: &RequestPayload) -> Option<&str> {
    use RequestPayload as P;
    match payload {
        P::Activate(p) | P::Destroy(p) | P::Archive(p) | P::Recover(p) | P::GetAttributeList(p) => {
            p.unique_identifier.as_deref()
        }
        P::Revoke(p) => p.unique_identifier.as_deref(),
        P::Get(p) => p.unique_identifier.as_deref(),
        P::GetAttributes(p) => p.unique_identifier.as_deref(),
        P::AddAttribute(p) => p.unique_identifier.as_deref(),
        P::ModifyAttribute(p) => p.unique_identifier.as_deref(),
        P::DeleteAttribute(p) => p.unique_identifier.as_deref(),
        P::Encrypt(p) => p.unique_identifier.as_deref(),
        P::Decrypt(p) => p.unique_identifier.as_deref(),
        P::ReKey(p) => p.unique_identifier.as_deref(),
        _ => None,
    }
}
