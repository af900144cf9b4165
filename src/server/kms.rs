//! The bridge from connections to the KMIP dispatcher: [`KmsHandler`] gives each request the
//! time it arrived and hands it to [`ops::Kms`](crate::ops::Kms).
//!
//! The clock is read here, in `server/`, so that everything below it takes time as an
//! argument and tests can control it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Handler, Principal, Staged};
use crate::ops::{Batch, Kms};
use crate::store::StoreError;

/// Serves KMIP requests with a [`Kms`].
pub struct KmsHandler {
    pub kms: Arc<Kms>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Handler for KmsHandler {
    fn handle(&self, principal: &Principal, request: &[u8]) -> Vec<u8> {
        self.kms.handle(principal, request, now())
    }

    fn handle_staged(&self, principal: &Principal, request: &[u8]) -> Staged {
        self.kms.handle_staged(principal, request, now())
    }

    fn finish(&self, pending: Batch, result: Result<Vec<u64>, StoreError>) -> Staged {
        self.kms.finish(pending, result)
    }
}
