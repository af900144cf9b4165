//! Get Attributes, Get Attribute List, Add, Modify and Delete Attribute.
//!
//! Responses are shaped for the request's version by the payload constructors (1.x
//! `Attribute` structures and names, 2.x `Attributes` and references), so an attribute a
//! version lacks is never sent.

use super::lifecycle::{follow_clock, set};
use super::{OpCtx, OpError};
use crate::kmip::attributes::{Attribute, AttributeReference, AttributeV1};
use crate::kmip::codec::{ByteString, DateTime};
use crate::kmip::payloads::*;
use crate::kmip::*;
use crate::ttlv::Tag;

/// Attributes a client may add, change or delete (2.1 §4: "Modifiable by client"). Everything
/// else is the server's to maintain.
fn client_modifiable(a: &Attribute) -> bool {
    matches!(
        a,
        Attribute::Name(_)
            | Attribute::ObjectGroup(_)
            | Attribute::ApplicationSpecificInformation(_)
            | Attribute::ContactInformation(_)
            | Attribute::Description(_)
            | Attribute::Comment(_)
            | Attribute::Link(_)
            | Attribute::AlternativeName(_)
            | Attribute::ActivationDate(_)
            | Attribute::DeactivationDate(_)
            | Attribute::ProcessStartDate(_)
            | Attribute::ProtectStopDate(_)
            | Attribute::OperationPolicyName(_)
            | Attribute::Sensitive(_)
            | Attribute::Extractable(_)
            | Attribute::Vendor(_)
    )
}

/// Attributes that may have several instances.
fn multi_valued(a: &Attribute) -> bool {
    matches!(
        a,
        Attribute::Name(_)
            | Attribute::ObjectGroup(_)
            | Attribute::ApplicationSpecificInformation(_)
            | Attribute::Link(_)
            | Attribute::AlternativeName(_)
            | Attribute::Vendor(_)
    )
}

/// Attributes a client may change but not delete (2.1 §4: "Deletable by client: No").
fn client_deletable(a: &Attribute) -> bool {
    client_modifiable(a)
        && !matches!(
            a,
            Attribute::Sensitive(_)
                | Attribute::Extractable(_)
                | Attribute::ActivationDate(_)
                | Attribute::DeactivationDate(_)
                | Attribute::ProcessStartDate(_)
                | Attribute::ProtectStopDate(_)
        )
}

/// The lifecycle dates a client may set only in some states (2.1 §4.1, §4.18, §4.41,
/// §4.44): Activation Date while Pre-Active; Deactivation, Process Start and Protect Stop
/// Date while Pre-Active or Active, the last two only until the date they hold is reached.
/// Otherwise Wrong Key Lifecycle State (Permission Denied for 1.x).
fn date_change_allowed(
    object: &crate::store::ManagedObject,
    changed: &Attribute,
    now: i64,
) -> Result<(), OpError> {
    let state = object.state();
    let live = matches!(state, State::PreActive | State::Active);
    let reached = |tag| {
        object
            .attributes
            .iter()
            .any(|a| a.tag() == tag && a.as_date_time().is_some_and(|d| d <= now))
    };
    let allowed = match changed {
        Attribute::ActivationDate(_) => state == State::PreActive,
        Attribute::DeactivationDate(_) => live,
        Attribute::ProcessStartDate(_) | Attribute::ProtectStopDate(_) => {
            live && !reached(changed.tag())
        }
        _ => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(OpError::new(
            ResultReason::WrongKeyLifecycleState,
            format!(
                "{} may not be changed in state {state:?}",
                AttributeV1::name_of(changed)
            ),
        ))
    }
}

/// Keeps Always Sensitive and Never Extractable true to their history (2.1 §4.3, §4.33)
/// after the client has set Sensitive or Extractable: once Sensitive has been False, Always
/// Sensitive is False for good; once Extractable has been True, Never Extractable is.
fn follow_protection(object: &mut crate::store::ManagedObject, changed: &Attribute) {
    match changed {
        Attribute::Sensitive(false) => set(object, Attribute::AlwaysSensitive(false)),
        Attribute::Extractable(true) => set(object, Attribute::NeverExtractable(false)),
        _ => {}
    }
}

fn read_only(a: &Attribute) -> OpError {
    OpError::new(
        ResultReason::InvalidField,
        format!(
            "attribute {} may not be changed by a client",
            AttributeV1::name_of(a)
        ),
    )
}

/// The object's attributes as clients see them: those stored, and those the server keeps
/// without storing them (2.1 §4, all "SHALL always have a value"): Sensitive False,
/// Extractable True, Always Sensitive and Never Extractable False unless stored otherwise;
/// Key Format Type, the stored key block's format unless a registered one is stored; the
/// Short Unique Identifier, SHA-256 of the Unique Identifier (§4.56); the Protection Storage
/// Mask, what kmipd's storage gives (§4.44). Versions without them never see them.
pub(super) fn visible(object: &crate::store::ManagedObject) -> Vec<Attribute> {
    use sha2::Digest as _;
    let mut attributes = object.attributes.clone();
    let has = |attributes: &[Attribute], tag: Tag| attributes.iter().any(|a| a.tag() == tag);
    let key_format = object
        .object
        .as_ref()
        .and_then(|o| o.key_block())
        .map(|b| b.key_format_type);
    let short = || ByteString(sha2::Sha256::digest(object.unique_identifier.as_bytes()).to_vec());
    for (tag, derived) in [
        (Tag::Sensitive, Some(Attribute::Sensitive(false))),
        (
            Tag::AlwaysSensitive,
            Some(Attribute::AlwaysSensitive(false)),
        ),
        (Tag::Extractable, Some(Attribute::Extractable(true))),
        (
            Tag::NeverExtractable,
            Some(Attribute::NeverExtractable(false)),
        ),
        (Tag::KeyFormatType, key_format.map(Attribute::KeyFormatType)),
        (
            Tag::ShortUniqueIdentifier,
            Some(Attribute::ShortUniqueIdentifier(short())),
        ),
        (
            Tag::ProtectionStorageMask,
            Some(Attribute::ProtectionStorageMask(super::objects::PROTECTION)),
        ),
    ] {
        if let Some(a) = derived.filter(|_| !has(&attributes, tag)) {
            attributes.push(a);
        }
    }
    attributes
}

/// Stores the Sensitive and Extractable defaults ([`visible`]) so that Modify Attribute finds
/// an instance to change.
fn store_protection_defaults(object: &mut crate::store::ManagedObject) {
    for a in visible(object) {
        if matches!(
            a,
            Attribute::Sensitive(_)
                | Attribute::Extractable(_)
                | Attribute::AlwaysSensitive(_)
                | Attribute::NeverExtractable(_)
        ) && !object.attributes.iter().any(|b| b.tag() == a.tag())
        {
            object.attributes.push(a);
        }
    }
}

/// The attributes PyKMIP 0.11's KMIP 2.0 decoder reads (`create_attribute_value_by_enum`);
/// it raises on any other, failing the whole Get Attributes answer.
const PYKMIP_2_0_READS: &[Tag] = &[
    Tag::UniqueIdentifier,
    Tag::Name,
    Tag::ObjectType,
    Tag::CryptographicAlgorithm,
    Tag::CryptographicLength,
    Tag::CryptographicParameters,
    Tag::CertificateLength,
    Tag::Digest,
    Tag::OperationPolicyName,
    Tag::CryptographicUsageMask,
    Tag::LeaseTime,
    Tag::State,
    Tag::InitialDate,
    Tag::ActivationDate,
    Tag::ProcessStartDate,
    Tag::ProtectStopDate,
    Tag::DeactivationDate,
    Tag::DestroyDate,
    Tag::CompromiseOccurrenceDate,
    Tag::CompromiseDate,
    Tag::ArchiveDate,
    Tag::ObjectGroup,
    Tag::Fresh,
    Tag::ApplicationSpecificInformation,
    Tag::ContactInformation,
    Tag::LastChangeDate,
    Tag::Sensitive,
];

/// 2.1 §6.1.20 Get Attributes: all attributes, or those named.
pub fn get_attributes(
    request: &GetAttributesRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<GetAttributesResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let object = ctx.object(&uid, Operation::GetAttributes)?;
    let wanted = request.references();
    let stored = visible(&object);
    let attributes = if wanted.is_empty() {
        let mut all = stored;
        if ctx.cx.version == KmipVersion::V2_0 {
            // PyKMIP's KMIP 2.0 client (0.11) fails on the whole answer when it meets an
            // attribute its 2.0 decoder lacks, and it lacks most of what 2.0 added and more
            // (Revocation Reason, Link, vendor attributes, Always Sensitive, ...): a 2.0 answer
            // naming no attributes holds only those it reads. A 2.0 client still gets the
            // others by naming them; 2.1 and 1.x clients get them in every answer.
            all.retain(|a| PYKMIP_2_0_READS.contains(&a.tag()));
        }
        if ctx.cx.is_1x() {
            // Its KMIP 1.x decoder (`create_attribute_value`) has no reader for Revocation
            // Reason, Link, Usage Limits, Cryptographic Domain Parameters or Random Number
            // Generator (1.3 and later) and fails the same way, so a 1.x client reading every
            // attribute of a revoked key would get nothing; named, they are returned.
            all.retain(|a| {
                !matches!(
                    a,
                    Attribute::RevocationReason(_)
                        | Attribute::Link(_)
                        | Attribute::UsageLimits(_)
                        | Attribute::CryptographicDomainParameters(_)
                        | Attribute::RandomNumberGenerator(_)
                )
            });
        }
        all
    } else {
        named(stored, &wanted)
    };
    ctx.id_placeholder = Some(uid.clone());
    Ok(GetAttributesResponse::new(uid, attributes, &ctx.cx))
}

/// The attributes of `stored` that `wanted` names, in the order named (as the OASIS profile
/// test cases answer), each name once, all instances of it.
pub(super) fn named(stored: Vec<Attribute>, wanted: &[AttributeReference]) -> Vec<Attribute> {
    let mut named = Vec::new();
    for (i, reference) in wanted.iter().enumerate() {
        if wanted[..i].contains(reference) {
            continue;
        }
        named.extend(
            stored
                .iter()
                .filter(|a| &a.reference() == reference)
                .cloned(),
        );
    }
    named
}

/// 2.1 §6.1.21 Get Attribute List: the names of the attributes the object has.
pub fn get_attribute_list(
    request: &UniqueIdentifierRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<GetAttributeListResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let object = ctx.object(&uid, Operation::GetAttributeList)?;
    let mut references: Vec<AttributeReference> = Vec::new();
    for a in &visible(&object) {
        let r = a.reference();
        if !references.contains(&r) {
            references.push(r);
        }
    }
    ctx.id_placeholder = Some(uid.clone());
    Ok(GetAttributeListResponse::new(uid, references, &ctx.cx))
}

/// 2.1 §6.1.2 Add Attribute (1.x: `Attribute`, echoed in the response).
pub fn add_attribute(
    request: &AddAttributeRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<AddAttributeResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let mut object = ctx.object(&uid, Operation::AddAttribute)?;
    let attribute = match (&request.attribute, &request.new_attribute) {
        (Some(a), None) => a.attribute.clone(),
        (None, Some(a)) => a.clone(),
        _ => {
            return Err(OpError::new(
                ResultReason::InvalidMessage,
                "exactly one attribute is added",
            ));
        }
    };
    // An Original Creation Date not given at Register may be added later, once (2.1 §4.38);
    // it is never modified or deleted.
    if !client_modifiable(&attribute) && !matches!(attribute, Attribute::OriginalCreationDate(_)) {
        return Err(read_only(&attribute));
    }
    // Against what the client sees: a Sensitive shown by default already has a value.
    let shown = visible(&object);
    let same: Vec<&Attribute> = shown
        .iter()
        .filter(|a| a.reference() == attribute.reference())
        .collect();
    if !same.is_empty() && !multi_valued(&attribute) {
        return Err(OpError::new(
            ResultReason::AttributeSingleValued,
            format!(
                "{} already has a value and takes only one",
                AttributeV1::name_of(&attribute)
            ),
        ));
    }
    date_change_allowed(&object, &attribute, ctx.now)?;
    let index = same.len() as i32;
    object.attributes.push(attribute.clone());
    follow_protection(&mut object, &attribute);
    // A date set to now or the past changes the state at once (2.1 §4.57, 4 and 6).
    follow_clock(&mut object.attributes, ctx.now);
    set(&mut object, Attribute::LastChangeDate(DateTime(ctx.now)));
    ctx.txn.put(object)?;
    ctx.id_placeholder = Some(uid.clone());
    Ok(AddAttributeResponse {
        unique_identifier: uid,
        attribute: ctx.cx.is_1x().then(|| AttributeV1 {
            attribute,
            index: (index > 0).then_some(index),
        }),
    })
}

/// The position of the `index`th instance of the attribute `reference`.
fn position(attrs: &[Attribute], reference: &AttributeReference, index: usize) -> Option<usize> {
    attrs
        .iter()
        .enumerate()
        .filter(|(_, a)| &a.reference() == reference)
        .nth(index)
        .map(|(i, _)| i)
}

/// 2.1 §6.1.34 Modify Attribute (1.x: by name and index; 2.x: the current value, or the only
/// instance).
pub fn modify_attribute(
    request: &ModifyAttributeRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<ModifyAttributeResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let mut object = ctx.object(&uid, Operation::ModifyAttribute)?;
    let changes_protection = request
        .attribute
        .as_ref()
        .map(|a| &a.attribute)
        .or(request.new_attribute.as_ref())
        .is_some_and(|a| matches!(a, Attribute::Sensitive(_) | Attribute::Extractable(_)));
    if changes_protection {
        store_protection_defaults(&mut object);
    }
    let (new, at) = match (&request.attribute, &request.new_attribute) {
        (Some(a), None) => {
            let at = position(
                &object.attributes,
                &a.attribute.reference(),
                a.index.unwrap_or(0).max(0) as usize,
            );
            (a.attribute.clone(), at)
        }
        (None, Some(new)) => {
            let at = match &request.current_attribute {
                Some(current) => object.attributes.iter().position(|a| a == current),
                None => position(&object.attributes, &new.reference(), 0),
            };
            (new.clone(), at)
        }
        _ => {
            return Err(OpError::new(
                ResultReason::InvalidMessage,
                "exactly one new attribute is given",
            ));
        }
    };
    if !client_modifiable(&new) {
        return Err(read_only(&new));
    }
    let at = at.ok_or_else(|| {
        OpError::new(
            ResultReason::ItemNotFound,
            format!(
                "object {uid} has no such {} to modify",
                AttributeV1::name_of(&new)
            ),
        )
    })?;
    date_change_allowed(&object, &new, ctx.now)?;
    object.attributes[at] = new.clone();
    follow_protection(&mut object, &new);
    follow_clock(&mut object.attributes, ctx.now);
    set(&mut object, Attribute::LastChangeDate(DateTime(ctx.now)));
    ctx.txn.put(object)?;
    ctx.id_placeholder = Some(uid.clone());
    Ok(ModifyAttributeResponse {
        unique_identifier: uid,
        attribute: ctx.cx.is_1x().then(|| AttributeV1 {
            attribute: new,
            index: request.attribute.as_ref().and_then(|a| a.index),
        }),
    })
}

/// 2.1 §6.1.13 Delete Attribute.
pub fn delete_attribute(
    request: &DeleteAttributeRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<DeleteAttributeResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let mut object = ctx.object(&uid, Operation::DeleteAttribute)?;
    // Looked up among what the client sees (the stored attributes first, in their order,
    // then those shown by default, none of which may be deleted).
    let shown = visible(&object);
    let at = if let Some(name) = &request.attribute_name {
        let reference = AttributeReference::from_v1_name(name);
        position(
            &shown,
            &reference,
            request.attribute_index.unwrap_or(0).max(0) as usize,
        )
    } else if let Some(current) = &request.current_attribute {
        shown.iter().position(|a| a == current)
    } else if let Some(reference) = &request.attribute_reference {
        position(&shown, reference, 0)
    } else {
        return Err(OpError::new(
            ResultReason::InvalidMessage,
            "no attribute named",
        ));
    };
    let at = at.ok_or_else(|| {
        OpError::new(
            ResultReason::ItemNotFound,
            format!("object {uid} has no such attribute"),
        )
    })?;
    if !client_deletable(&shown[at]) || at >= object.attributes.len() {
        return Err(read_only(&shown[at]));
    }
    let removed = object.attributes.remove(at);
    set(&mut object, Attribute::LastChangeDate(DateTime(ctx.now)));
    ctx.txn.put(object)?;
    ctx.id_placeholder = Some(uid.clone());
    Ok(DeleteAttributeResponse {
        unique_identifier: uid,
        attribute: ctx.cx.is_1x().then_some(AttributeV1 {
            attribute: removed,
            index: request.attribute_index,
        }),
    })
}
