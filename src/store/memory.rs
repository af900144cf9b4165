//! An in-memory [`ObjectStore`]: the double for unit tests and the model the redb store is
//! checked against. It scans for Locate, which is exactly what the real store must not do.

use std::collections::BTreeMap;
use std::sync::RwLock;

use super::*;
use crate::kmip::attributes::{ApplicationSpecificInformation, Link};
use crate::ttlv::Item;

#[derive(Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By creation sequence, for a stable Locate order.
    objects: BTreeMap<String, (u64, ManagedObject)>,
    next_seq: u64,
    /// The audit log, committed at once (there is no disk to wait for).
    audit: Vec<(u64, Vec<u8>)>,
    audit_head: Option<ChainHead>,
}

impl Inner {
    fn append_audit(&mut self, events: &[AuditEvent]) {
        let mut head = self.audit_head.unwrap_or(ChainHead::GENESIS);
        for e in events {
            self.audit.push(head.append(e));
        }
        self.audit_head = Some(head);
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }
}

/// Whether `object` satisfies `filter`; the meaning of every Locate filter, shared by all
/// implementations.
pub fn matches(object: &ManagedObject, filter: &Filter) -> bool {
    let attrs = &object.attributes;
    match filter {
        Filter::Name(name) => object.names().any(|n| &n.name_value == name),
        Filter::ObjectType(t) => object.object_type == *t,
        Filter::State(s) => object.state() == *s,
        Filter::CryptographicAlgorithm(alg) => attrs
            .iter()
            .any(|a| matches!(a, Attribute::CryptographicAlgorithm(x) if x == alg)),
        Filter::CryptographicLength(len) => attrs
            .iter()
            .any(|a| matches!(a, Attribute::CryptographicLength(x) if x == len)),
        Filter::ObjectGroup(group) => attrs
            .iter()
            .any(|a| matches!(a, Attribute::ObjectGroup(x) if x == group)),
        Filter::Link {
            link_type,
            linked_object_identifier,
        } => attrs.iter().any(|a| {
            matches!(a, Attribute::Link(Link { link_type: t, linked_object_identifier: id })
                if t == link_type && id == linked_object_identifier)
        }),
        Filter::ApplicationSpecificInformation {
            application_namespace,
            application_data,
        } => attrs.iter().any(|a| {
            matches!(a, Attribute::ApplicationSpecificInformation(ApplicationSpecificInformation {
                application_namespace: ns, application_data: data })
                if ns == application_namespace
                    && (application_data.is_none() || data == application_data))
        }),
        Filter::Vendor {
            vendor_identification,
            attribute_name,
            value,
        } => attrs.iter().any(|a| match a {
            Attribute::Vendor(v) => {
                &v.vendor_identification == vendor_identification
                    && &v.attribute_name == attribute_name
                    && &vendor_value_bytes(&v.attribute_value) == value
            }
            _ => false,
        }),
        Filter::DateRange { tag, from, to } => attrs
            .iter()
            .any(|a| a.tag() == *tag && a.as_date_time().is_some_and(|t| t >= *from && t <= *to)),
        Filter::DueBy(to) => crate::store::due(attrs).is_some_and(|t| t <= *to),
    }
}

/// The canonical bytes of a vendor attribute's value, for equality in filters and indexes.
pub fn vendor_value_bytes(value: &crate::ttlv::Value<'static>) -> Vec<u8> {
    crate::ttlv::encode(&Item {
        tag: crate::ttlv::Tag::AttributeValue,
        value: value.clone(),
    })
}

/// Whether the object's State attribute is one of `states` (an object without a State
/// attribute is in none of them).
pub fn excluded(object: &ManagedObject, states: &[State]) -> bool {
    object
        .attributes
        .iter()
        .any(|a| matches!(a, Attribute::State(s) if states.contains(s)))
}

fn check(inner: &Inner, uid: &str, expect: Expect) -> Result<(), StoreError> {
    match (inner.objects.get(uid), expect) {
        (None, Expect::Absent) => Ok(()),
        (Some((_, o)), Expect::Revision(r)) if o.revision == r => Ok(()),
        _ => Err(StoreError::Conflict),
    }
}

impl ObjectStore for MemoryStore {
    fn get(&self, unique_identifier: &str) -> Result<Option<ManagedObject>, StoreError> {
        let inner = self
            .inner
            .read()
            .map_err(|_| StoreError::Storage("lock poisoned".into()))?;
        Ok(inner.objects.get(unique_identifier).map(|(_, o)| o.clone()))
    }

    fn locate(&self, query: &Query) -> Result<Located, StoreError> {
        let inner = self
            .inner
            .read()
            .map_err(|_| StoreError::Storage("lock poisoned".into()))?;
        let mut hits: Vec<(u64, &str)> = inner
            .objects
            .values()
            .filter(|(_, o)| query.owner.as_ref().is_none_or(|owner| &o.owner == owner))
            .filter(|(_, o)| query.filters.iter().all(|f| matches(o, f)))
            .filter(|(_, o)| !excluded(o, &query.exclude_states))
            .map(|(seq, o)| (*seq, o.unique_identifier.as_str()))
            .collect();
        hits.sort();
        if query.newest_first {
            hits.reverse();
        }
        let total = hits.len();
        let page = hits
            .into_iter()
            .skip(query.offset)
            .take(query.limit.unwrap_or(usize::MAX))
            .map(|(_, uid)| uid.to_string())
            .collect();
        Ok(Located {
            unique_identifiers: page,
            total,
        })
    }

    fn record(&self, events: Vec<AuditEvent>) -> Result<(), StoreError> {
        self.inner
            .write()
            .map_err(|_| StoreError::Storage("lock poisoned".into()))?
            .append_audit(&events);
        Ok(())
    }

    fn audit_records(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let inner = self
            .inner
            .read()
            .map_err(|_| StoreError::Storage("lock poisoned".into()))?;
        Ok(inner
            .audit
            .iter()
            .filter(|(seq, _)| *seq >= from)
            .take(limit)
            .cloned()
            .collect())
    }

    fn audit_head(&self) -> Result<ChainHead, StoreError> {
        let inner = self
            .inner
            .read()
            .map_err(|_| StoreError::Storage("lock poisoned".into()))?;
        Ok(inner.audit_head.unwrap_or(ChainHead::GENESIS))
    }

    fn submit_audited(
        &self,
        set: WriteSet,
        audit: Vec<AuditEvent>,
    ) -> Result<CommitWait, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Nothing to wait for in memory: the answer is ready at once.
        drop(tx.send(self.apply(set, audit)));
        Ok(rx)
    }

    fn count(&self) -> Result<u64, StoreError> {
        let inner = self
            .inner
            .read()
            .map_err(|_| StoreError::Storage("lock poisoned".into()))?;
        Ok(inner.objects.len() as u64)
    }
}

impl MemoryStore {
    fn apply(&self, set: WriteSet, audit: Vec<AuditEvent>) -> Result<Vec<u64>, StoreError> {
        let mut inner = self
            .inner
            .write()
            .map_err(|_| StoreError::Storage("lock poisoned".into()))?;
        for write in &set.writes {
            match write {
                Write::Put { object, expect } => check(&inner, &object.unique_identifier, *expect)?,
                Write::Delete {
                    unique_identifier,
                    expect,
                } => check(&inner, unique_identifier, *expect)?,
            }
        }
        let mut revisions = Vec::new();
        for write in set.writes {
            match write {
                Write::Put { mut object, .. } => {
                    let seq = match inner.objects.get(&object.unique_identifier) {
                        Some((seq, old)) => {
                            object.revision = old.revision + 1;
                            *seq
                        }
                        None => {
                            object.revision = 1;
                            inner.next_seq += 1;
                            inner.next_seq
                        }
                    };
                    revisions.push(object.revision);
                    inner
                        .objects
                        .insert(object.unique_identifier.clone(), (seq, object));
                }
                Write::Delete {
                    unique_identifier, ..
                } => {
                    inner.objects.remove(&unique_identifier);
                }
            }
        }
        inner.append_audit(&audit);
        Ok(revisions)
    }
}
