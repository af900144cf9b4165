//! Re-key (2.1 §6.1.46, 1.4 §4.4): a replacement for an existing symmetric key, which is
//! how clients such as VAST Data and HPE Data Fabric rotate their keys.
//!
//! The replacement is a new AES key from the CSPRNG with a new Unique Identifier, made like
//! a Create whose attributes are copied from the existing key, except (Table 304 of 2.1,
//! Table 173 of 1.4):
//! - the Name(s) move to the replacement: all are removed from the existing key;
//! - Initial Date and Last Change Date are now, the State follows the dates, the Digest is
//!   the new key's, the Random Number Generator and Original Creation Date are the server's
//!   own, the replacement is Fresh;
//! - Destroy Date, Compromise Date, Compromise Occurrence Date, Revocation Reason and the
//!   existing key's Links are not copied; the replacement links to the existing key as its
//!   Replaced Object, the existing key to the replacement as its Replacement Object;
//! - Usage Limits: the Total is copied and the replacement's Count starts at the Total (the
//!   table's "the Count value ... is set to the Total value", read as the replacement's: the
//!   existing key keeps what it has left);
//! - with an Offset, the replacement's Activation Date is now + Offset and its Process
//!   Start, Protect Stop and Deactivation Dates move by as much as the Activation Date moved
//!   (Table 303); without one they are copied;
//! - Rotate Generation is one more than the existing key's (2.1 §4.50), and Rotate Latest is
//!   True on the replacement and False on the existing key (§4.52).
//!
//! Attributes in the request replace the copied ones of the same kind (a client may ask for
//! a longer key, say). The replacement belongs to the existing key's owner, whoever re-keys
//! it (an administrator may), so that the clients using the key can use its replacement.
//! The existing key keeps its state and material: it stays usable as its dates and state
//! say, for data protected under it.

use super::objects::{
    aes_key, find, initial_attributes, new_unique_identifier, no_templates, protection_available,
    server_only, sha256_digest, symmetric_key,
};
use super::{OpCtx, OpError};
use crate::kmip::attributes::{Attribute, Link};
use crate::kmip::codec::DateTime;
use crate::kmip::payloads::*;
use crate::kmip::*;
use crate::store::ManagedObject;

/// Whether an attribute of the existing key is copied to its replacement (before the
/// request's own attributes are applied): not the ones the server sets (Rotate Generation,
/// Rotate Latest and Rotate Date among them), nor Link and Random Number Generator, which
/// Re-key sets itself.
fn copied(a: &Attribute) -> bool {
    !server_only(a) && !matches!(a, Attribute::Link(_) | Attribute::RandomNumberGenerator(_))
}

/// The date of the single-valued attribute whose tag `tag` is, if set.
fn date(attributes: &[Attribute], tag: crate::ttlv::Tag) -> Option<i64> {
    find(attributes, |a| {
        (a.tag() == tag).then(|| a.as_date_time()).flatten()
    })
}

/// Sets the replacement's dates from an Offset (2.1 Table 303): Activation Date = now +
/// Offset, and Process Start, Protect Stop and Deactivation Date moved by as much as the
/// Activation Date moved. An existing key with any of those three but no Activation Date
/// gives nothing to move them by: Illegal Operation (1.4 Table 331).
fn apply_offset(attributes: &mut Vec<Attribute>, offset: u32, now: i64) -> Result<(), OpError> {
    use crate::ttlv::Tag;
    let new_activation = now + i64::from(offset);
    let moved = |attributes: &[Attribute], shift: i64| -> Vec<Attribute> {
        attributes
            .iter()
            .map(|a| match a {
                Attribute::ProcessStartDate(d) => {
                    Attribute::ProcessStartDate(DateTime(d.0 + shift))
                }
                Attribute::ProtectStopDate(d) => Attribute::ProtectStopDate(DateTime(d.0 + shift)),
                Attribute::DeactivationDate(d) => {
                    Attribute::DeactivationDate(DateTime(d.0 + shift))
                }
                other => other.clone(),
            })
            .collect()
    };
    match date(attributes, Tag::ActivationDate) {
        Some(old_activation) => *attributes = moved(attributes, new_activation - old_activation),
        None => {
            if attributes.iter().any(|a| {
                matches!(
                    a,
                    Attribute::ProcessStartDate(_)
                        | Attribute::ProtectStopDate(_)
                        | Attribute::DeactivationDate(_)
                )
            }) {
                return Err(OpError::new(
                    ResultReason::IllegalOperation,
                    "the existing key has no Activation Date to compute its replacement's \
                     Process Start, Protect Stop or Deactivation Date from with an Offset",
                ));
            }
        }
    }
    attributes.retain(|a| !matches!(a, Attribute::ActivationDate(_)));
    attributes.push(Attribute::ActivationDate(DateTime(new_activation)));
    Ok(())
}

/// Makes the replacement of the symmetric key `existing` (see the module documentation) at
/// `now`, with the Offset and the attributes asked for, and changes `existing` as replaced
/// (names moved, links, Rotate Latest, Rotate Date, Last Change Date): the caller writes
/// both, in one write set. Used by the Re-key operation and by automatic rotation
/// ([`super::Kms::sweep_dates`]).
pub(super) fn replace(
    existing: &mut ManagedObject,
    offset: Option<u32>,
    asked: Vec<Attribute>,
    now: i64,
) -> Result<ManagedObject, OpError> {
    // The Re-key operation answers these with the reasons of the client's version first.
    if existing.object_type != ObjectType::SymmetricKey || existing.object.is_none() {
        return Err(OpError::new(
            ResultReason::InvalidObjectType,
            format!(
                "only a symmetric key with its key material is re-keyed, not {:?} {}",
                existing.object_type, existing.unique_identifier
            ),
        ));
    }
    if let Some(bad) = asked.iter().find(|a| server_only(a)) {
        return Err(OpError::new(
            ResultReason::InvalidField,
            format!("attribute {:?} is set by the server", bad.tag()),
        ));
    }
    if offset.is_some()
        && asked.iter().any(|a| {
            matches!(
                a,
                Attribute::ActivationDate(_)
                    | Attribute::ProcessStartDate(_)
                    | Attribute::ProtectStopDate(_)
                    | Attribute::DeactivationDate(_)
            )
        })
    {
        // 1.4 Table 331.
        return Err(OpError::new(
            ResultReason::InvalidMessage,
            "an Offset may not come with an Activation, Process Start, Protect Stop or \
             Deactivation Date",
        ));
    }
    let mut attributes: Vec<Attribute> = existing
        .attributes
        .iter()
        .filter(|a| copied(a))
        .cloned()
        .collect();
    if let Some(offset) = offset {
        apply_offset(&mut attributes, offset, now)?;
    }
    // The request's attributes replace the copied ones of the same kind.
    attributes.retain(|a| !asked.iter().any(|b| b.tag() == a.tag()));
    attributes.extend(asked);
    let (algorithm, length) = aes_key(&attributes, "Re-key")?;
    let generation = find(&existing.attributes, |a| match a {
        Attribute::RotateGeneration(g) => Some(*g),
        _ => None,
    })
    .unwrap_or(0);

    let bytes = crate::crypto::random_bytes(length as usize / 8)
        .map_err(|_| OpError::new(ResultReason::CryptographicFailure, "key generation failed"))?;
    let new_uid = new_unique_identifier()?;
    let mut new_attributes = initial_attributes(
        &new_uid,
        ObjectType::SymmetricKey,
        attributes,
        Some(sha256_digest(&bytes, KeyFormatType::Raw)),
        now,
        Operation::ReKey,
    )?;
    new_attributes.push(Attribute::Link(Link {
        link_type: LinkType::ReplacedObjectLink,
        linked_object_identifier: existing.unique_identifier.clone(),
    }));
    new_attributes.push(Attribute::RotateGeneration(generation.saturating_add(1)));
    new_attributes.push(Attribute::RotateLatest(true));
    let replacement = ManagedObject {
        unique_identifier: new_uid.clone(),
        object_type: ObjectType::SymmetricKey,
        owner: existing.owner.clone(),
        attributes: new_attributes,
        object: Some(symmetric_key(algorithm, bytes)),
        revision: 0,
    };

    existing
        .attributes
        .retain(|a| !matches!(a, Attribute::Name(_) | Attribute::RotateLatest(_)));
    existing.attributes.push(Attribute::Link(Link {
        link_type: LinkType::ReplacementObjectLink,
        linked_object_identifier: new_uid.clone(),
    }));
    existing.attributes.push(Attribute::RotateLatest(false));
    super::lifecycle::set(existing, Attribute::RotateDate(DateTime(now)));
    super::lifecycle::set(existing, Attribute::LastChangeDate(DateTime(now)));
    Ok(replacement)
}

/// 2.1 §6.1.46 Re-key: see the module documentation.
pub fn rekey(request: &RekeyRequest, ctx: &mut OpCtx<'_, '_>) -> Result<RekeyResponse, OpError> {
    no_templates(request.template_attribute.as_ref())?;
    protection_available(request.protection_storage_masks.as_ref())?;
    let uid = ctx.uid(&request.unique_identifier)?;
    let mut existing = ctx.object(&uid, Operation::ReKey)?;
    if existing.object_type != ObjectType::SymmetricKey {
        // 1.4 Table 331: "Object specified is not able to be re-keyed": Permission Denied;
        // 2.x has Invalid Object Type for it.
        let reason = if ctx.cx.is_1x() {
            ResultReason::PermissionDenied
        } else {
            ResultReason::InvalidObjectType
        };
        return Err(OpError::new(
            reason,
            format!(
                "Re-key replaces Symmetric Keys; object {uid} is a {:?}",
                existing.object_type
            ),
        ));
    }
    if existing.object.is_none()
        || matches!(
            existing.state(),
            State::Destroyed | State::DestroyedCompromised
        )
    {
        return Err(OpError::new(
            ResultReason::KeyValueNotPresent,
            format!("object {uid} has been destroyed"),
        ));
    }
    let replacement = replace(
        &mut existing,
        request.offset.map(|o| o.0),
        request.attributes(),
        ctx.now,
    )?;
    let new_uid = replacement.unique_identifier.clone();
    ctx.txn.put_new(replacement)?;
    ctx.txn.put(existing)?;
    ctx.id_placeholder = Some(new_uid.clone());
    Ok(RekeyResponse {
        unique_identifier: new_uid,
        template_attribute: None,
    })
}
