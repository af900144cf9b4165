//! Access control: who a client is, and the one check every operation passes through.
//!
//! The dispatcher calls [`authorize`] before each handler; no handler checks access on its
//! own, and Locate filters by the same rule inside the store query ([`visible_owner`]).
//!
//! The rule is least privilege: an object belongs to the principal that created or
//! registered it, and only its owner may see or use it. Principals named in
//! [`Policy::administrators`] may see and manage every object (an operator's escape hatch,
//! empty by default). Server-wide operations that touch no object (Discover Versions, Query,
//! RNG Retrieve) are open to every authenticated client.

use crate::kmip::Operation;

/// An authenticated client: the name taken from its certificate (subject CN by default, or a
/// configured SAN) and the SHA-256 of its certificate (DER).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub name: String,
    pub cert_sha256: [u8; 32],
}

impl Principal {
    /// A principal known by name only (tests, local tools).
    pub fn new(name: impl Into<String>) -> Self {
        Principal {
            name: name.into(),
            cert_sha256: [0; 32],
        }
    }
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short: String = self.cert_sha256[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        write!(f, "Principal({:?}, sha256:{short})", self.name)
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// The access policy.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Principals allowed to see and manage all objects.
    pub administrators: Vec<String>,
}

/// Why access was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{principal} may not {operation:?} object {unique_identifier}")]
pub struct Denied {
    pub principal: String,
    pub operation: Operation,
    pub unique_identifier: String,
}

impl Policy {
    fn is_admin(&self, principal: &Principal) -> bool {
        self.administrators.iter().any(|a| a == &principal.name)
    }

    /// May `principal` perform `operation` on an object owned by `owner`?
    pub fn authorize(
        &self,
        principal: &Principal,
        operation: Operation,
        unique_identifier: &str,
        owner: &str,
    ) -> Result<(), Denied> {
        if owner == principal.name || self.is_admin(principal) {
            Ok(())
        } else {
            Err(Denied {
                principal: principal.name.clone(),
                operation,
                unique_identifier: unique_identifier.to_string(),
            })
        }
    }

    /// The owner whose objects `principal` may find with Locate; `None` means every object.
    pub fn visible_owner(&self, principal: &Principal) -> Option<String> {
        if self.is_admin(principal) {
            None
        } else {
            Some(principal.name.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_or_an_administrator_is_allowed() {
        let policy = Policy {
            administrators: vec!["ops".into()],
        };
        let alice = Principal::new("alice");
        let bob = Principal::new("bob");
        let ops = Principal::new("ops");
        assert!(
            policy
                .authorize(&alice, Operation::Get, "1", "alice")
                .is_ok()
        );
        let denied = policy
            .authorize(&bob, Operation::Get, "1", "alice")
            .unwrap_err();
        assert_eq!(denied.principal, "bob");
        assert!(
            policy
                .authorize(&ops, Operation::Destroy, "1", "alice")
                .is_ok()
        );
        assert_eq!(policy.visible_owner(&bob), Some("bob".into()));
        assert_eq!(policy.visible_owner(&ops), None);
    }
}
