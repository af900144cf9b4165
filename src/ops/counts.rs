//! How many batch items the dispatcher answered, by operation and result, for operators
//! (`GET /metrics`, as `kmipd_operations_total`): request rates per operation, and failures
//! by Result Reason (a run of Permission Denied, Item Not Found after a migration, Wrong Key
//! Lifecycle State from a client that forgot to activate).
//!
//! An answer is counted once, as the client was told it: after Undo, Response Too Large or a
//! failed commit, and not when a lost write race reruns the batch. Messages that could not
//! be read far enough to name an operation count under `(unreadable request)`, as in the
//! audit log. Successes, the common case, are one relaxed atomic add each; everything else
//! goes to a small map under a mutex.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::audit::UNREADABLE;
use crate::audit::enum_name;
use crate::kmip::messages::ResponseMessage;
use crate::kmip::{Operation, ResultReason, ResultStatus};

/// Operation values below this count on the fast path (KMIP 2.1's highest is 0x3B).
const FAST: usize = 64;

/// (operation value, or `None` when unreadable; Result Status; Result Reason).
type Key = (Option<u32>, u32, Option<u32>);

/// Answered batch items by operation and result.
#[derive(Debug)]
pub struct OperationCounts {
    /// Successes, by operation value.
    success: [AtomicU64; FAST],
    /// The rest.
    other: Mutex<BTreeMap<Key, u64>>,
}

impl Default for OperationCounts {
    fn default() -> Self {
        OperationCounts {
            success: std::array::from_fn(|_| AtomicU64::new(0)),
            other: Mutex::new(BTreeMap::new()),
        }
    }
}

impl OperationCounts {
    /// Counts every batch item of an answer.
    pub fn answered(&self, response: &ResponseMessage) {
        for item in &response.batch_item {
            let operation = item.operation.map(Operation::value);
            match (item.result_status, operation) {
                (ResultStatus::Success, Some(op)) if (op as usize) < FAST => {
                    self.success[op as usize].fetch_add(1, Relaxed);
                }
                (status, _) => {
                    let reason = match status {
                        ResultStatus::Success => None,
                        _ => item.result_reason.map(ResultReason::value),
                    };
                    self.other_add(operation, status.value(), reason);
                }
            }
        }
    }

    /// Counts a message that could not be read far enough to name its operations.
    pub fn unreadable(&self, reason: ResultReason) {
        let failed = ResultStatus::OperationFailed.value();
        self.other_add(None, failed, Some(reason.value()));
    }

    fn other_add(&self, operation: Option<u32>, status: u32, reason: Option<u32>) {
        let mut other = self.other.lock().unwrap_or_else(|e| e.into_inner());
        *other.entry((operation, status, reason)).or_default() += 1;
    }

    /// Every count so far as (operation, result, reason) spec names, in a stable order.
    pub fn snapshot(&self) -> Vec<(String, String, Option<String>, u64)> {
        let mut all: BTreeMap<Key, u64> =
            self.other.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let success = ResultStatus::Success.value();
        for (op, n) in self.success.iter().enumerate() {
            let n = n.load(Relaxed);
            if n > 0 {
                *all.entry((Some(op as u32), success, None)).or_default() += n;
            }
        }
        all.into_iter()
            .map(|((op, status, reason), n)| {
                let operation = op.map_or_else(
                    || UNREADABLE.to_string(),
                    |v| enum_name(Operation::from_u32(v).spec_name(), v),
                );
                let result = enum_name(ResultStatus::from_u32(status).spec_name(), status);
                let reason = reason.map(|r| enum_name(ResultReason::from_u32(r).spec_name(), r));
                (operation, result, reason, n)
            })
            .collect()
    }

    /// The counts in the Prometheus text format, as `kmipd_operations_total`.
    pub fn prometheus(&self) -> String {
        let mut out = String::from(
            "# HELP kmipd_operations_total Batch items answered, by operation and result (and Result Reason unless it succeeded).\n\
             # TYPE kmipd_operations_total counter\n",
        );
        for (operation, result, reason, n) in self.snapshot() {
            let _ = write!(
                out,
                "kmipd_operations_total{{operation=\"{operation}\",result=\"{result}\""
            );
            if let Some(reason) = reason {
                let _ = write!(out, ",reason=\"{reason}\"");
            }
            let _ = writeln!(out, "}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::messages::ResponseBatchItem;

    fn item(
        operation: Option<Operation>,
        status: ResultStatus,
        reason: Option<ResultReason>,
    ) -> ResponseBatchItem {
        ResponseBatchItem {
            operation,
            unique_batch_item_id: None,
            result_status: status,
            result_reason: reason,
            result_message: None,
            asynchronous_correlation_value: None,
            response_payload: None,
            message_extension: Vec::new(),
        }
    }

    fn response(items: Vec<ResponseBatchItem>) -> ResponseMessage {
        let version = super::super::ProtocolVersion::new(crate::kmip::KmipVersion::V2_1);
        ResponseMessage {
            response_header: super::super::response_header(version, 0, items.len()),
            batch_item: items,
        }
    }

    #[test]
    fn items_are_counted_by_operation_result_and_reason() {
        let counts = OperationCounts::default();
        counts.answered(&response(vec![
            item(Some(Operation::Get), ResultStatus::Success, None),
            item(Some(Operation::Get), ResultStatus::Success, None),
            item(
                Some(Operation::Get),
                ResultStatus::OperationFailed,
                Some(ResultReason::ItemNotFound),
            ),
            item(Some(Operation::Create), ResultStatus::OperationUndone, None),
            item(
                Some(Operation::Unknown(0x1234)),
                ResultStatus::Success,
                None,
            ),
        ]));
        counts.unreadable(ResultReason::InvalidMessage);
        let text = counts.prometheus();
        for line in [
            "kmipd_operations_total{operation=\"Get\",result=\"Success\"} 2",
            "kmipd_operations_total{operation=\"Get\",result=\"Operation Failed\",reason=\"Item Not Found\"} 1",
            "kmipd_operations_total{operation=\"Create\",result=\"Operation Undone\"} 1",
            "kmipd_operations_total{operation=\"Unknown (0x00001234)\",result=\"Success\"} 1",
            "kmipd_operations_total{operation=\"(unreadable request)\",result=\"Operation Failed\",reason=\"Invalid Message\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert_eq!(
            text.lines().filter(|l| !l.starts_with('#')).count(),
            5,
            "{text}"
        );
    }
}
