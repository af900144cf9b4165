//! The operation dispatcher: one request message in, one response message out.
//!
//! [`Kms::handle`] is synchronous and takes `now` as an argument: the server calls it on a
//! blocking thread, and tests control the clock. It
//! 1. decodes the TTLV within [`DecodeLimits`] and reads the header in the encoding of the
//!    request's protocol version (1.0–1.4, 2.0–2.1; a later minor version of a known major
//!    one is read as the latest we know, another major gets Invalid Message);
//! 2. runs the batch items in order through [`policy`](crate::policy) and the handlers,
//!    honouring Batch Error Continuation Option (Stop, Continue, Undo with Operation Undone),
//!    ID Placeholder, Unique Batch Item ID and critical Message Extensions;
//! 3. encodes the response for the request's version with a Time Stamp, checks Maximum
//!    Response Size (Response Too Large, and then nothing is written), commits the batch's
//!    writes durably, and only then returns the response bytes.
//!
//! Writes of a batch are collected in a [`Txn`] and committed as one write set; a write set
//! that lost a race with another client is run again from the start.
//! [`Kms::handle_staged`] stops where the write set is queued for the commit and hands back
//! a [`CommitWait`], so a server can await the fsync without a thread blocked on it, then
//! call [`Kms::finish`].
//!
//! Must not import sockets or TLS.

mod attributes;
mod audit;
mod cipher;
mod counts;
mod keyuse;
mod lifecycle;
mod locate;
mod objects;
mod rekey;
mod server_info;
mod txn;
mod wrap;

use std::sync::Arc;

use crate::kmip::codec::{ByteString, Cx, DateTime, ModelError, Ttlv, structure};
use crate::kmip::messages::*;
use crate::kmip::result::{decode_result_reason, reason_for_version};
use crate::kmip::*;
use crate::policy::{Policy, Principal};
use crate::store::{CommitWait, ObjectStore, StoreError};
use crate::ttlv::{self, DecodeLimits, Item, Tag};

pub use txn::Txn;

/// The protocol versions this server speaks, in its order of preference.
pub const SUPPORTED_VERSIONS: [KmipVersion; 7] = [
    KmipVersion::V2_1,
    KmipVersion::V2_0,
    KmipVersion::V1_4,
    KmipVersion::V1_3,
    KmipVersion::V1_2,
    KmipVersion::V1_1,
    KmipVersion::V1_0,
];

/// How many times a batch that lost a write race is run again before giving up.
const MAX_RETRIES: usize = 8;

/// Settings of the dispatcher.
#[derive(Clone, Debug)]
pub struct OpsConfig {
    pub limits: DecodeLimits,
    /// Batch items accepted in one request.
    pub max_batch_items: usize,
    /// Objects returned by one Locate when the client sets no Maximum Items.
    pub max_locate_items: usize,
    /// Whether the Interop operation is answered: only for OASIS interoperability test runs
    /// (2.1 §6.1.26: it "SHALL NOT be available in a production server").
    pub interop: bool,
    /// Whether the server also takes KMIP over HTTPS with TTLV, XML and JSON bodies
    /// (`server::Settings::http_path`), so Query names those profiles too.
    pub http: bool,
    pub vendor_identification: String,
    pub server_name: String,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            limits: DecodeLimits::default(),
            max_batch_items: 256,
            max_locate_items: 10_000,
            interop: false,
            http: true,
            vendor_identification: "kmipd".into(),
            server_name: format!("kmipd {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// The key management service: the store, the policy and the settings every handler uses.
pub struct Kms {
    pub store: Arc<dyn ObjectStore>,
    pub policy: Policy,
    pub config: OpsConfig,
    correlation: Correlation,
    /// Answered batch items by operation and result, for the metrics.
    pub counts: counts::OperationCounts,
}

/// Server Correlation Values (2.1 §9.10: "SHOULD be provided by the server and SHOULD be
/// globally unique, and SHOULD be logged by the server with each request"): `kmipd-`, 64
/// random bits drawn when the dispatcher is made, and a count of the messages it has read.
struct Correlation {
    prefix: String,
    next: std::sync::atomic::AtomicU64,
}

impl Correlation {
    fn new() -> Self {
        let mut run = [0u8; 8];
        // Without the OS generator (it does not fail on Linux) the clock stands in: the
        // values stay unique to this run unless two runs start within one nanosecond.
        if crate::crypto::fill_random(&mut run).is_err() {
            run = (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64))
            .to_be_bytes();
        }
        Correlation {
            prefix: format!("kmipd-{}", hex::encode(run)),
            next: std::sync::atomic::AtomicU64::new(1),
        }
    }

    fn next(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-{n:x}", self.prefix)
    }
}

/// A failed operation: the Result Reason the client gets, and a message for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError {
    pub reason: ResultReason,
    pub message: String,
}

impl OpError {
    pub fn new(reason: ResultReason, message: impl Into<String>) -> Self {
        OpError {
            reason,
            message: message.into(),
        }
    }
}

impl From<ModelError> for OpError {
    fn from(e: ModelError) -> Self {
        OpError::new(e.result_reason(), e.to_string())
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => OpError::new(ResultReason::GeneralFailure, "write conflict"),
            StoreError::Sealing(_) => OpError::new(
                ResultReason::CryptographicFailure,
                "key material could not be processed",
            ),
            StoreError::Storage(_) | StoreError::Corrupt(_) => {
                OpError::new(ResultReason::GeneralFailure, "storage failure")
            }
        }
    }
}

impl From<crate::policy::Denied> for OpError {
    fn from(e: crate::policy::Denied) -> Self {
        OpError::new(ResultReason::PermissionDenied, e.to_string())
    }
}

/// What a handler sees: the batch's transaction, who asks, when, and in which version.
pub struct OpCtx<'k, 's> {
    pub kms: &'k Kms,
    pub txn: &'s mut Txn<'k>,
    pub principal: &'s Principal,
    pub now: i64,
    pub cx: Cx,
    /// The ID Placeholder: the Unique Identifier the last operation of the batch produced.
    pub id_placeholder: Option<String>,
}

impl OpCtx<'_, '_> {
    /// The Unique Identifier a request names, or the ID Placeholder when it names none.
    pub fn uid(&self, given: &Option<String>) -> Result<String, OpError> {
        given
            .clone()
            .or_else(|| self.id_placeholder.clone())
            .ok_or_else(|| {
                OpError::new(
                    ResultReason::InvalidField,
                    "no Unique Identifier, and no ID Placeholder from an earlier batch item",
                )
            })
    }

    /// Reads an object the principal may use for `operation`.
    pub fn object(
        &mut self,
        uid: &str,
        operation: Operation,
    ) -> Result<crate::store::ManagedObject, OpError> {
        let found = self.txn.get(uid)?;
        let mut object = self.authorized(uid, operation, found, |o| &o.owner)?;
        // Its state as its dates make it now, even before the sweep has stored it.
        lifecycle::follow_clock(&mut object.attributes, self.now);
        Ok(object)
    }

    /// [`OpCtx::object`] without the attributes, for operations that answer with the object
    /// alone (Get): the store may skip decoding them.
    pub fn object_only(
        &mut self,
        uid: &str,
        operation: Operation,
    ) -> Result<crate::store::StoredObject, OpError> {
        let found = self.txn.get_object(uid)?;
        self.authorized(uid, operation, found, |o| &o.owner)
    }

    /// `found`, if there is one and the principal may use it for `operation`.
    fn authorized<T>(
        &self,
        uid: &str,
        operation: Operation,
        found: Option<T>,
        owner: impl Fn(&T) -> &String,
    ) -> Result<T, OpError> {
        let object = found.ok_or_else(|| {
            OpError::new(ResultReason::ObjectNotFound, format!("no object {uid}"))
        })?;
        self.kms
            .policy
            .authorize(self.principal, operation, uid, owner(&object))?;
        Ok(object)
    }
}

/// Where [`Kms::handle_staged`] left a request.
pub enum Staged {
    /// The response, ready to send.
    Done(Vec<u8>),
    /// The batch's writes are queued for the durable commit: await `wait`, then call
    /// [`Kms::finish`] (off the async threads) with the batch and the result.
    Commit(Box<PendingCommit>),
}

/// A batch waiting for its commit.
pub struct PendingCommit {
    pub wait: CommitWait,
    pub batch: Batch,
}

/// A request, read, with what it needs to be run again or answered.
pub struct Batch {
    principal: Principal,
    header: RequestHeader,
    items: Vec<ItemResult>,
    version: KmipVersion,
    now: i64,
    attempt: usize,
    /// The Server Correlation Value of this message: in the response header (1.4 and
    /// later, which define it) and, with the request's Client Correlation Value, in every
    /// audit record of the message.
    server_correlation_value: String,
    /// The response (typed and encoded) of the last run, while its commit is pending.
    response: Option<(ResponseMessage, Vec<u8>)>,
}

/// One batch item's outcome.
struct Outcome {
    operation: Option<Operation>,
    unique_batch_item_id: Option<ByteString>,
    result: Result<ResponsePayload, OpError>,
    undone: bool,
}

impl Kms {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Kms {
            store,
            policy: Policy::default(),
            config: OpsConfig::default(),
            correlation: Correlation::new(),
            counts: counts::OperationCounts::default(),
        }
    }

    /// Answers one request message. Never panics on any input; always returns a response.
    /// Every answer is audited: with the batch's writes when it has any (same commit),
    /// otherwise through [`ObjectStore::record`]. If the audit log cannot take the records,
    /// the items fail rather than answer unaudited.
    ///
    /// Blocks until the batch's writes are durable; [`Kms::handle_staged`] is the same
    /// without holding the thread through the commit.
    pub fn handle(&self, principal: &Principal, request: &[u8], now: i64) -> Vec<u8> {
        let mut staged = self.handle_staged(principal, request, now);
        loop {
            match staged {
                Staged::Done(bytes) => return bytes,
                Staged::Commit(pending) => {
                    let result = pending.wait.blocking_recv().unwrap_or_else(|_| {
                        Err(StoreError::Storage("the committer stopped".into()))
                    });
                    staged = self.finish(pending.batch, result);
                }
            }
        }
    }

    /// The answer to a message that arrived in a form that is not TTLV (an XML or JSON body
    /// of KMIP over HTTPS) and could not be read as one KMIP message: Invalid Message, in
    /// the 1.0 shape every version reads (the request's version is unknown), audited like
    /// an undecodable TTLV message.
    pub fn unreadable(&self, principal: &Principal, detail: &str, now: i64) -> Vec<u8> {
        self.audit_unread(principal, now, ResultReason::InvalidMessage);
        message_error(
            ProtocolVersion::new(KmipVersion::V1_0),
            now,
            ResultReason::InvalidMessage,
            detail,
        )
    }

    /// [`Kms::handle`] in two steps: everything up to queueing the batch's writes for the
    /// durable commit, then ([`Kms::finish`], once the commit's [`CommitWait`] resolves)
    /// the answer. A server awaits the commit without holding a thread.
    pub fn handle_staged(&self, principal: &Principal, request: &[u8], now: i64) -> Staged {
        let item = match ttlv::decode_with(request, self.config.limits) {
            Ok(item) => item,
            Err(e) => {
                let reason = decode_result_reason(&e);
                self.audit_unread(principal, now, reason);
                return Staged::Done(message_error(
                    ProtocolVersion::new(KmipVersion::V1_0),
                    now,
                    reason,
                    &e.to_string(),
                ));
            }
        };
        let raw_version = match peek_protocol_version(&item) {
            Ok(v) => v,
            Err(e) => {
                self.audit_unread(principal, now, ResultReason::InvalidMessage);
                return Staged::Done(message_error(
                    ProtocolVersion::new(KmipVersion::V1_0),
                    now,
                    ResultReason::InvalidMessage,
                    &e.to_string(),
                ));
            }
        };
        let Some(version) = spoken_version(&raw_version) else {
            self.audit_unread(principal, now, ResultReason::InvalidMessage);
            return Staged::Done(message_error(
                raw_version,
                now,
                ResultReason::InvalidMessage,
                "protocol version not supported",
            ));
        };
        let cx = Cx::new(version);
        let (header, items) = match read_request(&item, &cx, self.config.max_batch_items) {
            Ok(parts) => parts,
            Err(e) => {
                self.audit_unread(principal, now, e.reason);
                return Staged::Done(message_error(
                    ProtocolVersion::new(version),
                    now,
                    e.reason,
                    &e.message,
                ));
            }
        };
        self.run(Batch {
            principal: principal.clone(),
            header,
            items,
            version,
            now,
            attempt: 0,
            server_correlation_value: self.correlation.next(),
            response: None,
        })
    }

    /// Runs (or runs again, after a lost write race) a batch, up to its commit.
    fn run(&self, mut b: Batch) -> Staged {
        let cx = Cx::new(b.version);
        b.attempt += 1;
        let mut txn = Txn::new(self.store.as_ref());
        let outcomes = self.run_batch(&b.principal, &b.header, &b.items, &mut txn, b.now, cx);
        let mut response = build_response(b.version, b.now, outcomes);
        if b.version >= KmipVersion::V1_4 {
            response.response_header.server_correlation_value =
                Some(b.server_correlation_value.clone());
        }
        let bytes = response.to_bytes(&cx);
        if let Some(max) = b.header.maximum_response_size {
            if bytes.len() > max.max(0) as usize {
                // Nothing is written: the client would not learn what was done.
                fail_all(
                    &mut response,
                    ResultReason::ResponseTooLarge,
                    "the response exceeds the Maximum Response Size",
                    |_| true,
                );
                self.audit_failure(&b, &response);
                return Staged::Done(response.to_bytes(&cx));
            }
        }
        let events = batch_events(&b, &response);
        let result = match txn.into_write_set() {
            None => self.store.record(events),
            Some(writes) => match self.store.submit_audited(writes, events) {
                Ok(wait) => {
                    b.response = Some((response, bytes));
                    return Staged::Commit(Box::new(PendingCommit { wait, batch: b }));
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(()) => {
                self.counts.answered(&response);
                Staged::Done(bytes)
            }
            Err(e) => Staged::Done(self.failed(&b, response, e)),
        }
    }

    /// The answer once a batch's commit has resolved: its response, the batch run again
    /// after a lost write race, or failures.
    pub fn finish(&self, mut b: Batch, result: Result<Vec<u64>, StoreError>) -> Staged {
        let Some((response, bytes)) = b.response.take() else {
            return Staged::Done(message_error(
                ProtocolVersion::new(b.version),
                b.now,
                ResultReason::GeneralFailure,
                "internal error: no response to finish",
            ));
        };
        match result {
            Ok(_) => {
                self.counts.answered(&response);
                Staged::Done(bytes)
            }
            Err(StoreError::Conflict) if b.attempt < MAX_RETRIES => self.run(b),
            Err(e) => Staged::Done(self.failed(&b, response, e)),
        }
    }

    /// The response of a batch whose writes (or audit records) could not be committed: its
    /// successful items become failures, which are audited.
    fn failed(&self, b: &Batch, mut response: ResponseMessage, e: StoreError) -> Vec<u8> {
        tracing::error!(error = %e, "commit failed");
        let err = OpError::from(e);
        fail_all(
            &mut response,
            reason_for_version(err.reason, b.version),
            &err.message,
            |item| item.result_status == ResultStatus::Success,
        );
        self.audit_failure(b, &response);
        response.to_bytes(&Cx::new(b.version))
    }

    /// Audits (and counts) an answer that failed after its batch ran (nothing of it was
    /// written).
    fn audit_failure(&self, b: &Batch, response: &ResponseMessage) {
        self.counts.answered(response);
        if let Err(e) = self.store.record(batch_events(b, response)) {
            tracing::error!(error = %e, "audit records of a failed request were lost");
        }
    }

    /// Audits (and counts) a message that could not be read far enough to know its
    /// operations.
    fn audit_unread(&self, principal: &Principal, now: i64, reason: ResultReason) {
        self.counts.unreadable(reason);
        if let Err(e) = self
            .store
            .record(vec![audit::unread(principal, now, reason)])
        {
            tracing::error!(error = %e, "audit record of an unreadable request was lost");
        }
    }

    fn run_batch<'k>(
        &'k self,
        principal: &Principal,
        header: &RequestHeader,
        items: &[ItemResult],
        txn: &mut Txn<'k>,
        now: i64,
        cx: Cx,
    ) -> Vec<Outcome> {
        let option = header
            .batch_error_continuation_option
            .unwrap_or(BatchErrorContinuationOption::Stop);
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(items.len());
        let mut id_placeholder = None;
        for item in items {
            let mark = txn.mark();
            let outcome = match item {
                Err((operation, id, e)) => Outcome {
                    operation: *operation,
                    unique_batch_item_id: id.clone(),
                    result: Err(e.clone()),
                    undone: false,
                },
                Ok(item) => {
                    let mut ctx = OpCtx {
                        kms: self,
                        txn,
                        principal,
                        now,
                        cx,
                        id_placeholder: id_placeholder.clone(),
                    };
                    let result = execute(item, &mut ctx);
                    id_placeholder = ctx.id_placeholder;
                    Outcome {
                        operation: Some(item.operation),
                        unique_batch_item_id: item.unique_batch_item_id.clone(),
                        result,
                        undone: false,
                    }
                }
            };
            let failed = outcome.result.is_err();
            if failed {
                // A failed item leaves nothing behind.
                txn.rollback_to(mark);
            }
            outcomes.push(outcome);
            if failed {
                match option {
                    BatchErrorContinuationOption::Continue => continue,
                    BatchErrorContinuationOption::Undo => {
                        txn.rollback_to(0);
                        for done in outcomes.iter_mut() {
                            if done.result.is_ok() {
                                done.undone = true;
                            }
                        }
                        break;
                    }
                    _ => break,
                }
            }
        }
        outcomes
    }
}

/// Runs one batch item.
fn execute(item: &RequestBatchItem, ctx: &mut OpCtx<'_, '_>) -> Result<ResponsePayload, OpError> {
    if let Some(ext) = item
        .message_extension
        .iter()
        .find(|e| e.criticality_indicator)
    {
        return Err(OpError::new(
            ResultReason::FeatureNotSupported,
            format!(
                "critical Message Extension of vendor {} is not understood",
                ext.vendor_identification
            ),
        ));
    }
    // An operation the request's version does not define is not performed in it (Encrypt
    // came with 1.2, say). Discover Versions is answered in every version: clients send it
    // first, whatever they speak.
    if item.operation != Operation::DiscoverVersions && !item.operation.exists_in(ctx.cx.version) {
        return Err(OpError::new(
            ResultReason::OperationNotSupported,
            format!(
                "{:?} is not an operation of KMIP {}",
                item.operation, ctx.cx.version
            ),
        ));
    }
    use RequestPayload as Rq;
    use ResponsePayload as Rs;
    Ok(match &item.request_payload {
        Rq::DiscoverVersions(p) => Rs::DiscoverVersions(server_info::discover_versions(p)),
        Rq::Query(p) => Rs::Query(server_info::query(p, ctx)),
        Rq::Create(p) => Rs::Create(objects::create(p, ctx)?),
        Rq::Register(p) => Rs::Register(objects::register(p, ctx)?),
        Rq::Get(p) => Rs::Get(objects::get(p, ctx)?),
        Rq::Encrypt(p) => Rs::Encrypt(cipher::encrypt(p, ctx)?),
        Rq::Decrypt(p) => Rs::Decrypt(cipher::decrypt(p, ctx)?),
        Rq::GetAttributes(p) => Rs::GetAttributes(attributes::get_attributes(p, ctx)?),
        Rq::GetAttributeList(p) => Rs::GetAttributeList(attributes::get_attribute_list(p, ctx)?),
        Rq::AddAttribute(p) => Rs::AddAttribute(attributes::add_attribute(p, ctx)?),
        Rq::ModifyAttribute(p) => Rs::ModifyAttribute(attributes::modify_attribute(p, ctx)?),
        Rq::DeleteAttribute(p) => Rs::DeleteAttribute(attributes::delete_attribute(p, ctx)?),
        Rq::Locate(p) => Rs::Locate(locate::locate(p, ctx)?),
        Rq::ReKey(p) => Rs::ReKey(rekey::rekey(p, ctx)?),
        Rq::Activate(p) => Rs::Activate(lifecycle::activate(p, ctx)?),
        Rq::Revoke(p) => Rs::Revoke(lifecycle::revoke(p, ctx)?),
        Rq::Destroy(p) => Rs::Destroy(lifecycle::destroy(p, ctx)?),
        Rq::Check(p) => Rs::Check(lifecycle::check(p, ctx)?),
        Rq::Log(p) => Rs::Log(server_info::log(p, ctx)),
        Rq::Interop(p) if ctx.kms.config.interop => Rs::Interop(server_info::interop(p, ctx)),
        _ => {
            return Err(OpError::new(
                ResultReason::OperationNotSupported,
                format!("{:?} is not supported", item.operation),
            ));
        }
    })
}

/// The version a request is read and answered in, or `None` for a major version this server
/// does not speak. A later minor version of 1 or 2 is read as 1.4 or 2.1 (1.4 §11.1: same
/// major version, different minor versions are processed normally).
fn spoken_version(pv: &ProtocolVersion) -> Option<KmipVersion> {
    KmipVersion::from_major_minor(pv.protocol_version_major, pv.protocol_version_minor).or(match pv
        .protocol_version_major
    {
        1 if pv.protocol_version_minor > 4 => Some(KmipVersion::V1_4),
        2 if pv.protocol_version_minor > 1 => Some(KmipVersion::V2_1),
        _ => None,
    })
}

type ItemResult = Result<RequestBatchItem, (Option<Operation>, Option<ByteString>, OpError)>;

/// Reads the header and each batch item on its own, so that one unreadable item fails alone.
fn read_request(
    message: &Item<'_>,
    cx: &Cx,
    max_items: usize,
) -> Result<(RequestHeader, Vec<ItemResult>), OpError> {
    if message.tag != Tag::RequestMessage {
        return Err(OpError::new(
            ResultReason::InvalidMessage,
            "not a Request Message",
        ));
    }
    let mut header = None;
    let mut items = Vec::new();
    for child in structure(message)? {
        match child.tag {
            Tag::RequestHeader if header.is_none() => {
                header = Some(RequestHeader::read(child, cx)?)
            }
            Tag::BatchItem => {
                if items.len() == max_items {
                    return Err(OpError::new(
                        ResultReason::InvalidMessage,
                        format!("more than {max_items} batch items"),
                    ));
                }
                items.push(RequestBatchItem::read(child, cx).map_err(|e| {
                    let operation = child
                        .child(Tag::Operation)
                        .and_then(|op| Operation::read(op, cx).ok());
                    let id = child
                        .child(Tag::UniqueBatchItemID)
                        .and_then(|id| ByteString::read(id, cx).ok());
                    (operation, id, OpError::from(e))
                }))
            }
            other => {
                return Err(OpError::new(
                    ResultReason::InvalidMessage,
                    format!("unexpected {other} in a Request Message"),
                ));
            }
        }
    }
    let header =
        header.ok_or_else(|| OpError::new(ResultReason::InvalidMessage, "no Request Header"))?;
    if items.is_empty() || header.batch_count != items.len() as i32 {
        return Err(OpError::new(
            ResultReason::InvalidMessage,
            format!(
                "Batch Count is {} but the message holds {} batch items",
                header.batch_count,
                items.len()
            ),
        ));
    }
    Ok((header, items))
}

/// Turns the items `which` selects into failures with `reason`.
fn fail_all(
    response: &mut ResponseMessage,
    reason: ResultReason,
    message: &str,
    which: impl Fn(&ResponseBatchItem) -> bool,
) {
    for item in &mut response.batch_item {
        if which(item) {
            *item = failure(
                item.operation,
                item.unique_batch_item_id.clone(),
                reason,
                message,
            );
        }
    }
}

fn failure(
    operation: Option<Operation>,
    unique_batch_item_id: Option<ByteString>,
    reason: ResultReason,
    message: &str,
) -> ResponseBatchItem {
    ResponseBatchItem {
        operation,
        unique_batch_item_id,
        result_status: ResultStatus::OperationFailed,
        result_reason: Some(reason),
        result_message: Some(message.to_string()),
        asynchronous_correlation_value: None,
        response_payload: None,
        message_extension: Vec::new(),
    }
}

/// The audit events of a batch's answer, with the message's correlation values.
fn batch_events(b: &Batch, response: &ResponseMessage) -> Vec<crate::audit::AuditEvent> {
    let mut events = audit::events(&b.principal, b.now, &b.items, response);
    for e in &mut events {
        e.client_correlation_value = b.header.client_correlation_value.clone();
        e.server_correlation_value = Some(b.server_correlation_value.clone());
    }
    events
}

/// The header of every answer. The Client Correlation Value is not echoed: it travels in
/// the request for client-to-server operations and in the response only for server-to-client
/// ones (2.1 §9.9).
fn response_header(
    protocol_version: ProtocolVersion,
    now: i64,
    batch_count: usize,
) -> ResponseHeader {
    ResponseHeader {
        protocol_version,
        time_stamp: DateTime(now),
        nonce: None,
        server_hashed_password: None,
        attestation_type: Vec::new(),
        client_correlation_value: None,
        server_correlation_value: None,
        batch_count: batch_count as i32,
    }
}

fn build_response(version: KmipVersion, now: i64, outcomes: Vec<Outcome>) -> ResponseMessage {
    let batch_item: Vec<ResponseBatchItem> = outcomes
        .into_iter()
        .map(|o| match o.result {
            // An undone item "was performed, but had to be undone": not a failure, so its
            // response payload is returned, with the Undone status (2.1 §8.6, §11.5; BL-M-2).
            // Except key material: an undone Get also undid its Fresh change, so the object
            // still reads as never served, and its value must then not go out.
            Ok(ResponsePayload::Get(_)) if o.undone => ResponseBatchItem {
                operation: o.operation,
                unique_batch_item_id: o.unique_batch_item_id,
                result_status: ResultStatus::OperationUndone,
                result_reason: None,
                result_message: None,
                asynchronous_correlation_value: None,
                response_payload: None,
                message_extension: Vec::new(),
            },
            Ok(payload) => ResponseBatchItem {
                operation: o.operation,
                unique_batch_item_id: o.unique_batch_item_id,
                result_status: if o.undone {
                    ResultStatus::OperationUndone
                } else {
                    ResultStatus::Success
                },
                result_reason: None,
                result_message: None,
                asynchronous_correlation_value: None,
                response_payload: Some(payload),
                message_extension: Vec::new(),
            },
            Err(e) => failure(
                o.operation,
                o.unique_batch_item_id,
                reason_for_version(e.reason, version),
                &e.message,
            ),
        })
        .collect();
    ResponseMessage {
        response_header: response_header(ProtocolVersion::new(version), now, batch_item.len()),
        batch_item,
    }
}

/// A response for a message that could not be read at all: a header and one batch item
/// without Operation (1.4 §11.1, "Message cannot be parsed").
fn message_error(
    protocol_version: ProtocolVersion,
    now: i64,
    reason: ResultReason,
    message: &str,
) -> Vec<u8> {
    let cx = Cx::new(protocol_version.version().unwrap_or(KmipVersion::V1_0));
    ResponseMessage {
        response_header: response_header(protocol_version, now, 1),
        batch_item: vec![failure(None, None, reason, message)],
    }
    .to_bytes(&cx)
}

#[cfg(test)]
mod tests;
