//! Activate, Revoke and Destroy: the lifecycle state machine of KMIP 2.1 §4.57.
//!
//! ```text
//! Pre-Active ──Activate──▶ Active ──Revoke(other)──▶ Deactivated ──Destroy──▶ Destroyed
//!     │                      │                           │
//!     └──Revoke(compromise)──┴───────────────────────────┴──▶ Compromised ──Destroy──▶ Destroyed Compromised
//! ```
//! Pre-Active objects may also be destroyed, and a Destroyed one revoked as compromised
//! becomes Destroyed Compromised (transition 10). Destroy removes the key material and keeps
//! the metadata. Dates reached move Pre-Active to Active and Active to Deactivated
//! ([`follow_clock`]). Any other transition is Wrong Key Lifecycle State: "only the
//! transitions described above are permitted".

use super::{OpCtx, OpError};
use crate::audit::AuditEvent;
use crate::kmip::attributes::Attribute;
use crate::kmip::codec::DateTime;
use crate::kmip::payloads::*;
use crate::kmip::*;
use crate::store::{Expect, Filter, ManagedObject, Query, StoreError, Write, WriteSet};

fn wrong_state(uid: &str, state: State, operation: &str) -> OpError {
    OpError::new(
        ResultReason::WrongKeyLifecycleState,
        format!("{operation} is not allowed for object {uid} in state {state:?}"),
    )
}

/// Sets (replacing) the single-valued attribute `a`.
pub(super) fn set(object: &mut ManagedObject, a: Attribute) {
    set_in(&mut object.attributes, a);
}

/// [`set`] on a list of attributes.
fn set_in(attributes: &mut Vec<Attribute>, a: Attribute) {
    let tag = a.tag();
    match attributes.iter_mut().find(|x| x.tag() == tag) {
        Some(slot) => *slot = a,
        None => attributes.push(a),
    }
}

/// The state changes that dates bring about once they are reached (2.1 §4.57, transitions 4
/// and 6): a Pre-Active object whose Activation Date is now or past is Active, an Active one
/// whose Deactivation Date is now or past is Deactivated (both, one after the other, when
/// both dates are past). The change is dated when it happened, at the date reached: Last
/// Change Date becomes that date unless it is already later. Returns whether the State
/// changed.
///
/// Applied wherever the server looks at an object's state (every operation that loads its
/// attributes, Create and Register, Add and Modify of a date), so an answer never shows a
/// state its own dates contradict; the store's copy, and with it Locate by State, is brought
/// up to date by [`crate::ops::Kms::sweep_dates`], which the server runs every
/// `lifecycle.date_sweep_secs`.
pub(crate) fn follow_clock(attributes: &mut Vec<Attribute>, now: i64) -> bool {
    let (mut state, mut activation, mut deactivation, mut last_change) =
        (State::PreActive, None, None, None);
    for a in attributes.iter() {
        match a {
            Attribute::State(s) => state = *s,
            Attribute::ActivationDate(d) => activation = Some(d.0),
            Attribute::DeactivationDate(d) => deactivation = Some(d.0),
            Attribute::LastChangeDate(d) => last_change = Some(d.0),
            _ => {}
        }
    }
    let mut changed_at = None;
    if state == State::PreActive
        && let Some(at) = activation.filter(|d| *d <= now)
    {
        state = State::Active;
        changed_at = Some(at);
    }
    if state == State::Active
        && let Some(at) = deactivation.filter(|d| *d <= now)
    {
        state = State::Deactivated;
        changed_at = Some(changed_at.map_or(at, |c: i64| c.max(at)));
    }
    let Some(at) = changed_at else {
        return false;
    };
    set_in(attributes, Attribute::State(state));
    if last_change.is_none_or(|last| last < at) {
        set_in(attributes, Attribute::LastChangeDate(DateTime(at)));
    }
    true
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
        // Transitions 3, 5 and 8 to Compromised, and 10: a destroyed object's compromise is
        // still recorded, as Destroyed Compromised.
        let next = match state {
            State::PreActive | State::Active | State::Deactivated => State::Compromised,
            State::Destroyed => State::DestroyedCompromised,
            _ => return Err(wrong_state(&uid, state, "Revoke")),
        };
        // Without a Compromise Occurrence Date in the request, the object is taken to have
        // been compromised since it was made (its Initial Date; 2.1 §6.1.44 "SHOULD").
        let since = object.attributes.iter().find_map(|a| match a {
            Attribute::InitialDate(d) => Some(*d),
            _ => None,
        });
        set(&mut object, Attribute::State(next));
        set(&mut object, Attribute::CompromiseDate(now));
        set(
            &mut object,
            Attribute::CompromiseOccurrenceDate(
                request.compromise_occurrence_date.or(since).unwrap_or(now),
            ),
        );
    } else {
        // Transition 6 only: a Pre-Active object has never been in use, so it is destroyed
        // (or revoked as compromised), not deactivated.
        if state != State::Active {
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
        // Its material is gone already: the reason 2.1 §6.1.15.1 has for it (Item Not Found
        // for 1.x, as a Get of it gets).
        State::Destroyed | State::DestroyedCompromised => {
            return Err(OpError::new(
                ResultReason::ObjectDestroyed,
                format!("object {uid} is already destroyed"),
            ));
        }
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

/// The principal named in the audit records of changes the server makes of its own accord
/// (a date reached). In parentheses, as no certificate name is written here.
pub const SERVER_PRINCIPAL: &str = "(kmipd)";

/// Objects a sweep reads at a time.
const SWEEP_PAGE: usize = 1_000;
/// Pages one sweep goes through at most, so a sweep ends even when objects keep failing to
/// commit; what is left waits for the next one.
const SWEEP_PAGES: usize = 100;

impl super::Kms {
    /// Stores the state changes that dates reached by `now` bring about ([`follow_clock`]),
    /// and rotates the keys whose automatic rotation is due ([`crate::store::rotation_due`]:
    /// Rotate Automatic True, Initial Date + Rotate Interval reached; 2.1 §4.48) the way a
    /// Re-key with the key's Rotate Offset would ([`super::rekey::replace`]), for the objects
    /// the store's `due` index lists ([`Filter::DueBy`]: no scan of all objects). Each
    /// object's change (with its replacement, when rotated) is committed on its own, with an
    /// audit record naming [`SERVER_PRINCIPAL`] and what came due; a page of them shares one
    /// group commit. An object a client changed meanwhile is left for the next sweep (an
    /// operation on it applies its dates anyway). An object that cannot be rotated (not an
    /// AES key of a length Create makes) gets Rotate Automatic False (the server's to change,
    /// §4.48), a warning in the log and a failed audit record, once. Returns how many objects
    /// changed. Blocks: call off the async threads.
    pub fn sweep_dates(&self, now: i64) -> Result<usize, StoreError> {
        let query = Query {
            filters: vec![Filter::DueBy(now)],
            limit: Some(SWEEP_PAGE),
            ..Query::default()
        };
        let mut changed = 0;
        for _ in 0..SWEEP_PAGES {
            let page = self.store.locate(&query)?.unique_identifiers;
            let mut waits = Vec::new();
            for uid in &page {
                let Some(mut object) = self.store.get(uid)? else {
                    continue;
                };
                let before = object.state();
                let failed = |operation: &str, uids: Vec<String>, reason: Option<ResultReason>| {
                    let status = match reason {
                        None => ResultStatus::Success,
                        Some(_) => ResultStatus::OperationFailed,
                    };
                    AuditEvent {
                        operation: operation.into(),
                        ..AuditEvent::kmip(
                            now,
                            SERVER_PRINCIPAL,
                            Operation::ReKey,
                            uids,
                            status,
                            reason,
                        )
                    }
                };
                let event = |operation: &str, uids: Vec<String>| failed(operation, uids, None);
                let mut events = Vec::new();
                if follow_clock(&mut object.attributes, now) {
                    events.push(event(
                        if before == State::PreActive {
                            "State change: Activation Date reached"
                        } else {
                            "State change: Deactivation Date reached"
                        },
                        vec![uid.clone()],
                    ));
                }
                let mut writes = Vec::new();
                if crate::store::rotation_due(&object.attributes).is_some_and(|t| t <= now) {
                    let offset = object.attributes.iter().find_map(|a| match a {
                        Attribute::RotateOffset(o) => Some(o.0),
                        _ => None,
                    });
                    match super::rekey::replace(&mut object, offset, Vec::new(), now) {
                        Ok(replacement) => {
                            events.push(event(
                                "Re-key: Rotate Interval reached",
                                vec![replacement.unique_identifier.clone(), uid.clone()],
                            ));
                            writes.push(Write::Put {
                                expect: Expect::Absent,
                                object: replacement,
                            });
                        }
                        Err(e) => {
                            // Rotate Automatic is the server's to change (2.1 §4.48): off, so
                            // the object is not due again, and the failure is on record.
                            tracing::warn!(
                                unique_identifier = %uid, error = %e.message,
                                "automatic rotation is due but the object cannot be re-keyed; \
                                 its Rotate Automatic is set to False"
                            );
                            set(&mut object, Attribute::RotateAutomatic(false));
                            set(&mut object, Attribute::LastChangeDate(DateTime(now)));
                            events.push(failed(
                                "Re-key: Rotate Interval reached",
                                vec![uid.clone()],
                                Some(e.reason),
                            ));
                        }
                    }
                }
                if events.is_empty() {
                    continue;
                }
                writes.insert(
                    0,
                    Write::Put {
                        expect: Expect::Revision(object.revision),
                        object,
                    },
                );
                waits.push(self.store.submit_audited(WriteSet { writes }, events)?);
            }
            let mut committed = 0;
            for wait in waits {
                match wait.blocking_recv() {
                    Ok(Ok(_)) => committed += 1,
                    Ok(Err(StoreError::Conflict)) => {}
                    Ok(Err(e)) => return Err(e),
                    Err(_) => return Err(StoreError::Storage("the committer stopped".into())),
                }
            }
            changed += committed;
            if page.len() < SWEEP_PAGE || committed == 0 {
                break;
            }
        }
        Ok(changed)
    }
}
