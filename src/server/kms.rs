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

/// Runs [`Kms::sweep_dates`] every `every`, first at once (dates reached while the server
/// was stopped), each sweep on a blocking thread and never two at a time. Runs until
/// aborted; a failed sweep is logged and the next one tries again.
pub async fn sweep_dates(kms: Arc<Kms>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let kms = kms.clone();
        match tokio::task::spawn_blocking(move || kms.sweep_dates(now())).await {
            Ok(Ok(0)) => {}
            Ok(Ok(changed)) => {
                tracing::info!(objects = changed, "dates reached: object states changed")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "date sweep failed; retrying at the next"),
            Err(e) => tracing::error!(error = %e, "date sweep stopped abnormally"),
        }
    }
}

impl Handler for KmsHandler {
    fn handle(&self, principal: &Principal, request: &[u8]) -> Vec<u8> {
        self.kms.handle(principal, request, now())
    }

    fn handle_staged(&self, principal: &Principal, request: &[u8]) -> Staged {
        self.kms.handle_staged(principal, request, now())
    }

    fn metrics(&self, principal: &Principal) -> Option<String> {
        if !self.kms.policy.may_read_metrics(principal) {
            return None;
        }
        let store = &self.kms.store;
        let mut text = super::metrics::store_prometheus(store.stats(), store.count().ok());
        text.push_str(&self.kms.counts.prometheus());
        Some(text)
    }

    fn unreadable(&self, principal: &Principal, detail: &str) -> Vec<u8> {
        self.kms.unreadable(principal, detail, now())
    }

    fn finish(&self, pending: Batch, result: Result<Vec<u64>, StoreError>) -> Staged {
        self.kms.finish(pending, result)
    }
}
