//! Managed objects at rest: the [`ObjectStore`] trait, its redb implementation, and an
//! in-memory double for unit tests.
//!
//! Invariants every implementation keeps:
//! - **durable before acknowledged**: [`ObjectStore::commit`] returns only once the write set
//!   is committed durably; concurrent write sets may share one commit (group commit);
//! - a write set is applied atomically, and only if every object it touches still has the
//!   revision the writer read ([`Expect`]); otherwise nothing of it is applied and the caller
//!   gets [`StoreError::Conflict`] and may retry;
//! - key material never reaches the disk in clear: it is sealed by a [`MaterialSealer`] with
//!   the object's Unique Identifier as authenticated data;
//! - readers never wait for writers;
//! - the audit log ([`crate::audit`]) is kept beside the objects: the records of a write set
//!   are committed with it, those of reads shortly after.
//!
//! Locate is served by secondary indexes (Name, Object Type, Cryptographic Algorithm and
//! Length, State, Object Group, Link, Application Specific Information, vendor attributes,
//! dates as ranges), never by a scan of all objects.
//!
//! This module may import the KMIP types it stores (attributes, objects, enumerations) and
//! nothing of the wire protocol beyond them: no messages, no sockets, no TLS.

use zeroize::Zeroizing;

use crate::audit::{AuditEvent, ChainHead};

use crate::kmip::attributes::{Attribute, Name};
use crate::kmip::objects::Object;
use crate::kmip::{CryptographicAlgorithm, LinkType, ObjectType, State};

pub mod admin;
pub mod memory;
pub mod redb;
pub mod sealer;

pub use self::redb::RedbStore;
pub use sealer::KeyringSealer;

/// A managed object with everything the server knows of it.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedObject {
    pub unique_identifier: String,
    pub object_type: ObjectType,
    /// The identity of the client that created or registered it.
    pub owner: String,
    /// Every attribute, server-maintained ones (State, dates, Digest, ...) included, in the
    /// order they were set. Unique Identifier and Object Type are included too.
    pub attributes: Vec<Attribute>,
    /// The object itself, with its key material; `None` once destroyed.
    pub object: Option<Object>,
    /// Bumped by the store at every committed change; writers name the revision they read.
    pub revision: u64,
}

impl ManagedObject {
    /// The State attribute (Pre-Active for objects that lack one).
    pub fn state(&self) -> State {
        self.attributes
            .iter()
            .find_map(|a| match a {
                Attribute::State(s) => Some(*s),
                _ => None,
            })
            .unwrap_or(State::PreActive)
    }

    pub fn names(&self) -> impl Iterator<Item = &Name> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Name(n) => Some(n),
            _ => None,
        })
    }
}

/// A managed object without its attributes: what Get answers with ([`ObjectStore::get_object`]).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredObject {
    pub unique_identifier: String,
    pub object_type: ObjectType,
    /// The identity of the client that created or registered it.
    pub owner: String,
    /// The object itself, with its key material; `None` once destroyed.
    pub object: Option<Object>,
    pub revision: u64,
    /// Its Fresh attribute is True: no Get has served it yet (2.1 §4.24), so the Get that
    /// serves it must set Fresh to False.
    pub fresh: bool,
    /// Its Sensitive attribute is True: its value leaves the server only wrapped (2.1 §4.55).
    pub sensitive: bool,
    /// Its Extractable attribute is not False: its value may leave the server at all (2.1
    /// §4.23; objects from before the attribute was kept count as extractable).
    pub extractable: bool,
    /// Its Key Format Type attribute (2.1 §4.26): the format it was registered in, or asked
    /// for at Create, in which Get returns it when the client names none.
    pub key_format_type: Option<crate::kmip::KeyFormatType>,
}

impl From<ManagedObject> for StoredObject {
    fn from(m: ManagedObject) -> Self {
        StoredObject {
            fresh: m.attributes.contains(&Attribute::Fresh(true)),
            sensitive: m.attributes.contains(&Attribute::Sensitive(true)),
            extractable: !m.attributes.contains(&Attribute::Extractable(false)),
            key_format_type: m.attributes.iter().find_map(|a| match a {
                Attribute::KeyFormatType(f) => Some(*f),
                _ => None,
            }),
            unique_identifier: m.unique_identifier,
            object_type: m.object_type,
            owner: m.owner,
            object: m.object,
            revision: m.revision,
        }
    }
}

/// What a writer expects of the object before its write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The Unique Identifier is not in use.
    Absent,
    /// The object is at this revision.
    Revision(u64),
}

/// One write of a write set.
// A Delete is small and a Put large, but write sets are short-lived and mostly Puts:
// boxing the object would cost an allocation per write for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Write {
    /// Creates or replaces the object.
    Put {
        object: ManagedObject,
        expect: Expect,
    },
    /// Removes the object and every trace of it in the indexes.
    Delete {
        unique_identifier: String,
        expect: Expect,
    },
}

/// The writes one request makes, applied all or nothing.
#[derive(Clone, Debug, Default)]
pub struct WriteSet {
    pub writes: Vec<Write>,
}

/// One Locate filter; a query matches the objects that satisfy every filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Name(String),
    ObjectType(ObjectType),
    State(State),
    CryptographicAlgorithm(CryptographicAlgorithm),
    CryptographicLength(i32),
    ObjectGroup(String),
    Link {
        link_type: LinkType,
        linked_object_identifier: String,
    },
    ApplicationSpecificInformation {
        application_namespace: String,
        application_data: Option<String>,
    },
    /// A vendor attribute equal to the given value (compared by its TTLV encoding).
    Vendor {
        vendor_identification: String,
        attribute_name: String,
        value: Vec<u8>,
    },
    /// A date attribute (by tag) within `[from, to]`, seconds since the epoch.
    DateRange {
        tag: crate::ttlv::Tag,
        from: i64,
        to: i64,
    },
    /// Objects the server has something to do to by this time ([`due`]): a date reached that
    /// changes the state as stored, or an automatic rotation. What the server's date sweep
    /// looks for.
    DueBy(i64),
}

/// When the server next has something to do to the object of its own accord: the earlier of
/// [`date_due`] and [`rotation_due`]; `None` when nothing will come due.
pub fn due(attributes: &[Attribute]) -> Option<i64> {
    match (date_due(attributes), rotation_due(attributes)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// When the object's dates next change its stored state (2.1 §4.57, transitions 4 and 6): its
/// Activation Date while it is Pre-Active, its Deactivation Date while it is Active; `None`
/// when no date will. (A Pre-Active object's Deactivation Date counts only once it is
/// Active.) What schema 3 stores indexed as due.
pub fn date_due(attributes: &[Attribute]) -> Option<i64> {
    let mut state = None;
    let (mut activation, mut deactivation) = (None, None);
    for a in attributes {
        match a {
            Attribute::State(s) if state.is_none() => state = Some(*s),
            Attribute::ActivationDate(d) if activation.is_none() => activation = Some(d.0),
            Attribute::DeactivationDate(d) if deactivation.is_none() => deactivation = Some(d.0),
            _ => {}
        }
    }
    match state.unwrap_or(State::PreActive) {
        State::PreActive => activation,
        State::Active => deactivation,
        _ => None,
    }
}

/// When the server rotates the object automatically (2.1 §4.48, §4.51): its Initial Date
/// plus its Rotate Interval, when Rotate Automatic is True and the object is Pre-Active or
/// Active and has not been replaced yet (Rotate Latest not False); `None` otherwise.
pub fn rotation_due(attributes: &[Attribute]) -> Option<i64> {
    let (mut state, mut automatic, mut latest) = (None, false, true);
    let (mut initial, mut interval) = (None, None);
    for a in attributes {
        match a {
            Attribute::State(s) if state.is_none() => state = Some(*s),
            Attribute::RotateAutomatic(b) => automatic = *b,
            Attribute::RotateLatest(b) => latest = *b,
            Attribute::InitialDate(d) if initial.is_none() => initial = Some(d.0),
            Attribute::RotateInterval(i) if interval.is_none() => interval = Some(i.0),
            _ => {}
        }
    }
    let live = matches!(
        state.unwrap_or(State::PreActive),
        State::PreActive | State::Active
    );
    match (automatic && latest && live, initial, interval) {
        (true, Some(initial), Some(interval)) if interval > 0 => {
            Some(initial.saturating_add(i64::from(interval)))
        }
        _ => None,
    }
}

/// A Locate query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    pub filters: Vec<Filter>,
    /// Only objects this principal may see; `None` for all (administrative tools).
    pub owner: Option<String>,
    /// Offset Items: how many matches to skip.
    pub offset: usize,
    /// Maximum Items.
    pub limit: Option<usize>,
    /// Objects in these states are left out (Locate leaves Destroyed objects out unless the
    /// client asks for them).
    pub exclude_states: Vec<State>,
    /// Matches in descending order of creation, the most recent first (KMIP 2.x Locate
    /// SHALL), instead of ascending; Offset Items and Maximum Items apply in that order.
    pub newest_first: bool,
}

/// The answer to a Locate: a page of identifiers in a stable order, and the total count of
/// matches (Located Items).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Located {
    pub unique_identifiers: Vec<String>,
    pub total: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the object changed since it was read; retry")]
    Conflict,
    #[error("key material could not be sealed or opened: {0}")]
    Sealing(String),
    #[error("storage: {0}")]
    Storage(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Seals and opens key material: encryption under a store key, bound to the object's Unique
/// Identifier (authenticated data), so that a blob moved to another object fails to open.
pub trait MaterialSealer: Send + Sync {
    fn seal(&self, unique_identifier: &str, plaintext: &[u8]) -> Result<Vec<u8>, StoreError>;
    fn open(
        &self,
        unique_identifier: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, StoreError>;
}

/// Where managed objects live, and the audit log of what was done to them.
pub trait ObjectStore: Send + Sync {
    /// The object, or `None`.
    fn get(&self, unique_identifier: &str) -> Result<Option<ManagedObject>, StoreError>;
    /// The object and its owner, without its attributes, for readers that need nothing
    /// else (Get): a store that keeps attributes encoded can skip decoding them.
    fn get_object(&self, unique_identifier: &str) -> Result<Option<StoredObject>, StoreError> {
        Ok(self.get(unique_identifier)?.map(StoredObject::from))
    }
    /// Identifiers matching a query, in a stable order (creation order), paged.
    fn locate(&self, query: &Query) -> Result<Located, StoreError>;
    /// Applies a write set atomically and durably, and appends `audit` to the audit log in
    /// the same commit (so a change is never durable without its record, nor the record
    /// without the change); returns the new revision of each Put. A write set that fails
    /// (`Conflict` included) appends nothing.
    fn commit_audited(
        &self,
        writes: WriteSet,
        audit: Vec<AuditEvent>,
    ) -> Result<Vec<u64>, StoreError> {
        self.submit_audited(writes, audit)?
            .blocking_recv()
            .map_err(|_| StoreError::Storage("the committer stopped".into()))?
    }
    /// [`ObjectStore::commit_audited`] without waiting: the write set is queued, and the
    /// returned [`CommitWait`] resolves once it is committed durably (or refused). A server
    /// awaits it asynchronously, so no thread sits blocked through the fsync.
    fn submit_audited(
        &self,
        writes: WriteSet,
        audit: Vec<AuditEvent>,
    ) -> Result<CommitWait, StoreError>;
    /// [`ObjectStore::commit_audited`] without audit events (tools, tests).
    fn commit(&self, writes: WriteSet) -> Result<Vec<u64>, StoreError> {
        self.commit_audited(writes, Vec::new())
    }
    /// Appends events of operations that changed nothing (reads, failures) to the audit log
    /// without waiting: they are committed with the next write, or within
    /// [`AUDIT_LINGER`] when there is none.
    fn record(&self, events: Vec<AuditEvent>) -> Result<(), StoreError>;
    /// Committed audit records with sequence `from` onwards, at most `limit`, in order, as
    /// stored (see [`crate::audit`]).
    fn audit_records(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
    /// The end of the committed audit chain.
    fn audit_head(&self) -> Result<ChainHead, StoreError>;

    /// Counters of the store's work since it was opened (the server's metrics); `None` for
    /// a store that keeps none.
    fn stats(&self) -> Option<self::redb::StoreStats> {
        None
    }
    /// How many objects there are.
    fn count(&self) -> Result<u64, StoreError>;
}

/// The answer to a submitted write set: the new revision of each Put, or why it was not
/// applied. A future (`.await`), or `blocking_recv()` off the async threads.
pub type CommitWait = tokio::sync::oneshot::Receiver<Result<Vec<u64>, StoreError>>;

/// How long events given to [`ObjectStore::record`] may wait for a write to carry them
/// before the store commits them on their own. Batching them keeps reads from costing an
/// fsync each; the price is that a crash may lose the records of reads answered in the
/// last moments before it (never those of writes, which commit with their change).
pub const AUDIT_LINGER: std::time::Duration = std::time::Duration::from_millis(50);

/// Verifies the whole committed audit chain of `store` against its stored head, reading it
/// in pages (memory stays bounded however long the log); returns what was walked.
pub fn verify_audit(store: &dyn ObjectStore) -> Result<crate::audit::VerifyReport, StoreError> {
    use crate::audit::AuditError;
    const PAGE: usize = 10_000;
    let head = store.audit_head()?;
    let mut from = 1u64;
    let mut page: std::vec::IntoIter<(u64, Vec<u8>)> = Vec::new().into_iter();
    let mut done = false;
    let records = std::iter::from_fn(move || {
        loop {
            if let Some(r) = page.next() {
                return Some(Ok(r));
            }
            if done {
                return None;
            }
            match store.audit_records(from, PAGE) {
                Ok(next) => {
                    done = next.len() < PAGE;
                    if let Some((last, _)) = next.last() {
                        from = last + 1;
                    }
                    page = next.into_iter();
                }
                Err(e) => {
                    done = true;
                    return Some(Err(AuditError::Read(e.to_string())));
                }
            }
        }
    });
    crate::audit::verify(records, Some(head))
        .map_err(|e| StoreError::Corrupt(format!("audit log: {e}")))
}
