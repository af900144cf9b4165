//! Activate, Revoke and Destroy: the lifecycle state machine of KMIP 2.1 §4.57.
//!
//! ```text
//! Pre-Active ──Activate──▶ Active ──Revoke(other)──▶ Deactivated ──Destroy──▶ Destroyed
//!     │                      │                           │
//!     └──Revoke(compromise)──┴───────────────────────────┴──▶ Compromised ──Destroy──▶ Destroyed Compromised
//! ```
//! Pre-Active objects may also be revoked to Deactivated, and destroyed. Destroy removes the
//! key material and keeps the metadata. Any other transition is Wrong Key Lifecycle State.

use super::{OpCtx, OpError};
use crate::kmip::attributes::Attribute;
use crate::kmip::codec::DateTime;
use crate::kmip::payloads::*;
use crate::kmip::*;
use crate::store::ManagedObject;

fn wrong_state(uid: &str, state: State, operation: &str) -> OpError {
    OpError::new(
        ResultReason::WrongKeyLifecycleState,
        format!("{operation} is not allowed for object {uid} in state {state:?}"),
    )
}

/// Sets (replacing) the single-valued attribute `a`.
pub(super) fn set(object: &mut ManagedObject, a: Attribute) {
    let tag = a.tag();
    match object.attributes.iter_mut().find(|x| x.tag() == tag) {
        Some(slot) => *slot = a,
        None => object.attributes.push(a),
    }
}

/// Records a change: the new state, and Last Change Date.
fn changed(object: &mut ManagedObject, now: i64) {
    set(object, Attribute::LastChangeDate(DateTime(now)));
}

/// 2.1 §6.1.1 Activate: Pre-Active → Active.
pub fn activate(
    request: &UniqueIdentifierRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<UniqueIdentifierResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let mut object = ctx.object(&uid, Operation::Activate)?;
    let state = object.state();
    if state != State::PreActive {
        return Err(wrong_state(&uid, state, "Activate"));
    }
    set(&mut object, Attribute::State(State::Active));
    set(&mut object, Attribute::ActivationDate(DateTime(ctx.now)));
    changed(&mut object, ctx.now);
    ctx.txn.put(object)?;
    ctx.id_placeholder = Some(uid.clone());
    Ok(UniqueIdentifierResponse {
        unique_identifier: uid,
    })
}

/// 2.1 §6.1.7 Check: whether the client may use the object as it says it will. The
/// Cryptographic Usage Mask asked for must lie within the object's (else Incompatible
/// Cryptographic Usage Mask; Permission Denied for 1.x, which lacks that reason), and the ID
/// Placeholder is emptied so that a Get batched after a failed Check does not run. kmipd
/// keeps no Usage Limits and grants no leases, so neither a Usage Limits Count nor a Lease
/// Time is refused.
pub fn check(request: &CheckRequest, ctx: &mut OpCtx<'_, '_>) -> Result<CheckResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let object = ctx.object(&uid, Operation::Check)?;
    if let Some(wanted) = request.cryptographic_usage_mask {
        let allowed = object.attributes.iter().find_map(|a| match a {
            Attribute::CryptographicUsageMask(m) => Some(*m),
            _ => None,
        });
        if !allowed.is_some_and(|m| m.contains(wanted)) {
            ctx.id_placeholder = None;
            return Err(OpError::new(
                ResultReason::IncompatibleCryptographicUsageMask,
                format!("object {uid}'s Cryptographic Usage Mask does not allow {wanted:?}"),
            ));
        }
    }
    ctx.id_placeholder = Some(uid.clone());
    Ok(CheckResponse {
        unique_identifier: Some(uid),
        usage_limits_count: None,
        cryptographic_usage_mask: None,
        lease_time: None,
    })
}

/// 2.1 §6.1.44 Revoke: a compromise moves the object to Compromised; any other reason
/// deactivates it.
pub fn revoke(
    request: &RevokeRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<UniqueIdentifierResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let mut object = ctx.object(&uid, Operation::Revoke)?;
    let state = object.state();
    let compromise = matches!(
        request.revocation_reason.revocation_reason_code,
        RevocationReasonCode::KeyCompromise | RevocationReasonCode::CACompromise
    );
    let now = DateTime(ctx.now);
    if compromise {
        if !matches!(state, State::PreActive | State::Active | State::Deactivated) {
            return Err(wrong_state(&uid, state, "Revoke"));
        }
        set(&mut object, Attribute::State(State::Compromised));
        set(&mut object, Attribute::CompromiseDate(now));
        set(
            &mut object,
            Attribute::CompromiseOccurrenceDate(request.compromise_occurrence_date.unwrap_or(now)),
        );
    } else {
        if !matches!(state, State::PreActive | State::Active) {
            return Err(wrong_state(&uid, state, "Revoke"));
        }
        set(&mut object, Attribute::State(State::Deactivated));
        set(&mut object, Attribute::DeactivationDate(now));
    }
    set(
        &mut object,
        Attribute::RevocationReason(request.revocation_reason.clone()),
    );
    changed(&mut object, ctx.now);
    ctx.txn.put(object)?;
    ctx.id_placeholder = Some(uid.clone());
    Ok(UniqueIdentifierResponse {
        unique_identifier: uid,
    })
}

/// 2.1 §6.1.15 Destroy: only Pre-Active, Deactivated or Compromised objects; the key material
/// is removed, the metadata kept.
pub fn destroy(
    request: &UniqueIdentifierRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<UniqueIdentifierResponse, OpError> {
    let uid = ctx.uid(&request.unique_identifier)?;
    let mut object = ctx.object(&uid, Operation::Destroy)?;
    let state = object.state();
    let next = match state {
        State::PreActive | State::Deactivated => State::Destroyed,
        State::Compromised => State::DestroyedCompromised,
        _ => return Err(wrong_state(&uid, state, "Destroy")),
    };
    object.object = None;
    set(&mut object, Attribute::State(next));
    set(&mut object, Attribute::DestroyDate(DateTime(ctx.now)));
    changed(&mut object, ctx.now);
    ctx.txn.put(object)?;
    ctx.id_placeholder = Some(uid.clone());
    Ok(UniqueIdentifierResponse {
        unique_identifier: uid,
    })
}
