//! The bridge from connections to the KMIP dispatcher: [`KmsHandler`] gives each request the
//! time it arrived and hands it to [`ops::Kms`](crate::ops::Kms).
//!
//! The clock is read here, in `server/`, so that everything below it takes time as an
//! argument and tests can control it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Handler, Principal};
use crate::ops::Kms;

/// Serves KMIP requests with a [`Kms`].
pub struct KmsHandler {
    pub kms: Arc<Kms>,
}

impl Handler for KmsHandler {
    fn handle(&self, principal: &Principal, request: &[u8]) -> Vec<u8> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.kms.handle(principal, request, now)
    }
}
