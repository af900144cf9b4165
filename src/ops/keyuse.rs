//! Using a key held by the server: the one check that a key may serve a cryptographic purpose
//! now, shared by wrapping (Get with a Key Wrapping Specification), unwrapping (Register of a
//! wrapped key), Encrypt and Decrypt.
//!
//! 2.1 §4.57: an Active key may protect (encrypt, wrap) and process (decrypt, unwrap); a
//! Deactivated or Compromised one may only process; a Pre-Active or Destroyed one neither.
//! The Protect Stop Date (§4.44) ends protecting, the Process Start Date (§4.43) begins
//! processing. The Cryptographic Usage Mask (§4.19) must have the purpose's bit (Incompatible
//! Cryptographic Usage Mask; 1.x clients get Permission Denied). kmipd uses AES keys only
//! (Feature Not Supported for others). A key with a Usage Limits attribute (§4.59) pays for
//! each protecting use from its Usage Limits Count ([`allocate`]): the bytes protected, or one
//! per use, stored with the operation's batch before it is answered; when the count cannot
//! pay, Permission Denied (§6.1.17: "If the allocation is unable to be obtained the operation
//! SHALL return with ... Permission Denied"). Processing (decrypt, unwrap) is not limited.

use zeroize::Zeroizing;

use super::{OpCtx, OpError};
use crate::kmip::attributes::{Attribute, CryptographicParameters, UsageLimits};
use crate::kmip::objects::*;
use crate::kmip::*;

/// What a key is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Purpose {
    /// Wrapping a key that leaves (Get): applying protection.
    Wrap,
    /// Unwrapping a key that arrives (Register): processing protected information.
    Unwrap,
    /// Encrypt: applying protection.
    Encrypt,
    /// Decrypt: processing protected information.
    Decrypt,
}

impl Purpose {
    fn protects(self) -> bool {
        matches!(self, Purpose::Wrap | Purpose::Encrypt)
    }

    fn bit(self) -> (CryptographicUsageMask, &'static str) {
        match self {
            Purpose::Wrap => (CryptographicUsageMask::WrapKey, "Wrap Key"),
            Purpose::Unwrap => (CryptographicUsageMask::UnwrapKey, "Unwrap Key"),
            Purpose::Encrypt => (CryptographicUsageMask::Encrypt, "Encrypt"),
            Purpose::Decrypt => (CryptographicUsageMask::Decrypt, "Decrypt"),
        }
    }

    /// The operation the access check is made for.
    fn operation(self) -> Operation {
        match self {
            Purpose::Wrap | Purpose::Unwrap => Operation::Get,
            Purpose::Encrypt => Operation::Encrypt,
            Purpose::Decrypt => Operation::Decrypt,
        }
    }
}

/// A key the purpose may use: its bytes and its Cryptographic Parameters attribute instances.
pub(super) struct UsableKey {
    pub uid: String,
    pub purpose: Purpose,
    pub bytes: Zeroizing<Vec<u8>>,
    pub parameters: Vec<CryptographicParameters>,
    /// Its Usage Limits, if it has them.
    pub limits: Option<UsageLimits>,
}

impl UsableKey {
    /// 2.1 §4.59, §6.1.17: takes the allocation for protecting `bytes` from the key's Usage
    /// Limits Count (in bytes, or one use for the Object unit and when no unit is set) and
    /// stores the count left with the batch; Permission Denied if the count cannot pay. A key
    /// without Usage Limits, or a processing use, costs nothing.
    pub(super) fn allocate(&self, bytes: usize, ctx: &mut OpCtx<'_, '_>) -> Result<(), OpError> {
        let Some(limits) = &self.limits else {
            return Ok(());
        };
        if !self.purpose.protects() {
            return Ok(());
        }
        let units = match limits.usage_limits_unit {
            Some(UsageLimitsUnit::Byte) => bytes as i64,
            None | Some(UsageLimitsUnit::Object) => 1,
            Some(other) => {
                return Err(OpError::new(
                    ResultReason::PermissionDenied,
                    format!("Usage Limits Unit {other:?} is not one kmipd counts"),
                ));
            }
        };
        let left = limits
            .usage_limits_count
            .unwrap_or(limits.usage_limits_total);
        if left < units {
            return Err(OpError::new(
                ResultReason::PermissionDenied,
                format!(
                    "key {} has {left} of its Usage Limits left, this use needs {units}",
                    self.uid
                ),
            ));
        }
        let mut full = ctx.object(&self.uid, self.purpose.operation())?;
        for a in &mut full.attributes {
            if let Attribute::UsageLimits(u) = a {
                u.usage_limits_count = Some(left - units);
            }
        }
        ctx.txn.put(full)?;
        Ok(())
    }
}

/// Loads key `uid` for `purpose` and checks it may serve it now. A key that does not exist
/// is Object Not Found, one destroyed Object Destroyed (callers about wrapping keys turn
/// these into the Wrapping Object reasons).
pub(super) fn usable_key(
    uid: &str,
    purpose: Purpose,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<UsableKey, OpError> {
    let managed = ctx.object(uid, purpose.operation())?;
    let Some(object) = &managed.object else {
        return Err(OpError::new(
            ResultReason::ObjectDestroyed,
            format!("key {uid} has been destroyed"),
        ));
    };
    let state = managed.state();
    let usable = if purpose.protects() {
        state == State::Active
    } else {
        matches!(
            state,
            State::Active | State::Deactivated | State::Compromised
        )
    };
    if !usable {
        return Err(OpError::new(
            ResultReason::WrongKeyLifecycleState,
            format!("key {uid} is {state:?}: it may not be used to {purpose:?}"),
        ));
    }
    let date = |pick: fn(&Attribute) -> Option<i64>| managed.attributes.iter().find_map(pick);
    let (outside, which) = if purpose.protects() {
        (
            date(|a| match a {
                Attribute::ProtectStopDate(d) => Some(d.0),
                _ => None,
            })
            .is_some_and(|stop| ctx.now > stop),
            "past its Protect Stop Date",
        )
    } else {
        (
            date(|a| match a {
                Attribute::ProcessStartDate(d) => Some(d.0),
                _ => None,
            })
            .is_some_and(|start| ctx.now < start),
            "before its Process Start Date",
        )
    };
    if outside {
        return Err(OpError::new(
            ResultReason::WrongKeyLifecycleState,
            format!("key {uid} is {which}"),
        ));
    }
    let Object::SymmetricKey(k) = object else {
        return Err(OpError::new(
            ResultReason::InvalidObjectType,
            format!(
                "{uid} is a {:?}; kmipd uses symmetric keys for this",
                managed.object_type
            ),
        ));
    };
    if k.key_block.cryptographic_algorithm != Some(CryptographicAlgorithm::AES) {
        return Err(OpError::new(
            ResultReason::FeatureNotSupported,
            format!(
                "key {uid} is a {:?} key; kmipd encrypts and wraps with AES",
                k.key_block.cryptographic_algorithm
            ),
        ));
    }
    let mask = managed.attributes.iter().find_map(|a| match a {
        Attribute::CryptographicUsageMask(m) => Some(*m),
        _ => None,
    });
    let (bit, name) = purpose.bit();
    if !mask.is_some_and(|m| m.contains(bit)) {
        return Err(OpError::new(
            ResultReason::IncompatibleCryptographicUsageMask,
            format!("key {uid} does not have {name} in its Cryptographic Usage Mask"),
        ));
    }
    let bytes = match &k.key_block.key_value {
        Some(KeyValue::Plain { key_material, .. }) => match key_material {
            KeyMaterial::Bytes(b) => Some(b),
            KeyMaterial::Transparent(t) => t.key.as_ref(),
        },
        _ => None,
    }
    .map(|b| b.0.clone())
    .ok_or_else(|| {
        OpError::new(
            ResultReason::KeyValueNotPresent,
            format!("key {uid} has no key value"),
        )
    })?;
    let parameters = managed
        .attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::CryptographicParameters(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let limits = managed.attributes.iter().find_map(|a| match a {
        Attribute::UsageLimits(u) => Some(u.clone()),
        _ => None,
    });
    Ok(UsableKey {
        uid: uid.to_string(),
        purpose,
        bytes,
        parameters,
        limits,
    })
}
