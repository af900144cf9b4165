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
    /// Principals allowed to read the server's metrics (`GET /metrics`) and nothing more:
    /// a monitoring system need not manage keys. Administrators may read them too.
    pub metrics_readers: Vec<String>,
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

    /// May `principal` read the server's metrics (counters, no object or key)?
    pub fn may_read_metrics(&self, principal: &Principal) -> bool {
        self.is_admin(principal) || self.metrics_readers.iter().any(|m| m == &principal.name)
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
            metrics_readers: vec!["prometheus".into()],
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
        // Metrics: administrators and metrics readers; a metrics reader manages nothing.
        let prometheus = Principal::new("prometheus");
        assert!(policy.may_read_metrics(&ops) && policy.may_read_metrics(&prometheus));
        assert!(!policy.may_read_metrics(&alice));
        assert!(
            policy
                .authorize(&prometheus, Operation::Get, "1", "alice")
                .is_err()
        );
        assert_eq!(policy.visible_owner(&prometheus), Some("prometheus".into()));
    }
}
