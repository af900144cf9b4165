//! A batch's view of the store: reads see the batch's own earlier writes, writes wait in
//! memory until the whole batch is committed as one write set.
//!
//! Every object touched is remembered with the revision first read, so the commit applies only
//! if nobody changed those objects meanwhile ([`Expect`]). [`Txn::mark`] and
//! [`Txn::rollback_to`] take back a failed batch item's writes, or all of them for Undo.

use std::collections::HashMap;

use crate::store::{Expect, ManagedObject, ObjectStore, StoreError, StoredObject, Write, WriteSet};

pub struct Txn<'s> {
    store: &'s dyn ObjectStore,
    /// The revision each touched object had in the store (`Expect::Absent` if none).
    base: HashMap<String, Expect>,
    /// Changes in order: the object changed and the state it had in this transaction
    /// before (for rollback; its new state is in `current`).
    log: Vec<(String, Option<Option<ManagedObject>>)>,
    current: HashMap<String, Option<ManagedObject>>,
}

impl<'s> Txn<'s> {
    pub fn new(store: &'s dyn ObjectStore) -> Self {
        Txn {
            store,
            base: HashMap::new(),
            log: Vec::new(),
            current: HashMap::new(),
        }
    }

    /// The object as this batch sees it.
    pub fn get(&mut self, uid: &str) -> Result<Option<ManagedObject>, StoreError> {
        if let Some(state) = self.current.get(uid) {
            return Ok(state.clone());
        }
        let stored = self.store.get(uid)?;
        self.read_at(uid, stored.as_ref().map(|o| o.revision));
        Ok(stored)
    }

    /// Remembers the revision first read of `uid` (`None`: absent), which its writes expect.
    fn read_at(&mut self, uid: &str, revision: Option<u64>) {
        self.base
            .entry(uid.to_string())
            .or_insert(revision.map_or(Expect::Absent, Expect::Revision));
    }

    /// The object without its attributes (see [`ObjectStore::get_object`]), as this batch
    /// sees it. Remembered as read, like [`Txn::get`].
    pub fn get_object(&mut self, uid: &str) -> Result<Option<StoredObject>, StoreError> {
        if let Some(state) = self.current.get(uid) {
            return Ok(state.clone().map(StoredObject::from));
        }
        let stored = self.store.get_object(uid)?;
        self.read_at(uid, stored.as_ref().map(|o| o.revision));
        Ok(stored)
    }

    /// The store itself, for queries (Locate) that do not go through the batch's changes.
    pub fn store(&self) -> &'s dyn ObjectStore {
        self.store
    }

    fn record(&mut self, uid: String, state: Option<ManagedObject>) -> Result<(), StoreError> {
        if !self.base.contains_key(&uid) {
            self.get(&uid)?;
        }
        let previous = self.current.insert(uid.clone(), state);
        self.log.push((uid, previous));
        Ok(())
    }

    /// Creates or replaces an object.
    pub fn put(&mut self, object: ManagedObject) -> Result<(), StoreError> {
        self.record(object.unique_identifier.clone(), Some(object))
    }

    /// Creates an object under an identifier this server has just generated (a random
    /// 122-bit UUID): nobody can know it yet, so the store is not asked whether it exists.
    /// The commit still expects it absent, so a collision would come back as a conflict
    /// (and the batch would run again, with a new identifier) instead of overwriting.
    pub fn put_new(&mut self, object: ManagedObject) -> Result<(), StoreError> {
        self.base
            .entry(object.unique_identifier.clone())
            .or_insert(Expect::Absent);
        self.record(object.unique_identifier.clone(), Some(object))
    }

    /// Removes an object.
    pub fn delete(&mut self, uid: &str) -> Result<(), StoreError> {
        self.record(uid.to_string(), None)
    }

    /// A point to roll back to.
    pub fn mark(&self) -> usize {
        self.log.len()
    }

    /// Takes back every change made after `mark`.
    pub fn rollback_to(&mut self, mark: usize) {
        while self.log.len() > mark {
            if let Some((uid, previous)) = self.log.pop() {
                match previous {
                    Some(state) => {
                        self.current.insert(uid, state);
                    }
                    None => {
                        self.current.remove(&uid);
                    }
                }
            }
        }
    }

    /// The batch's changes as one write set, each write expecting the revision first read;
    /// `None` when the batch changed nothing.
    pub fn into_write_set(self) -> Option<WriteSet> {
        let mut writes = Vec::new();
        for (uid, state) in self.current {
            let expect = self.base.get(&uid).copied().unwrap_or(Expect::Absent);
            match state {
                Some(object) => writes.push(Write::Put { object, expect }),
                None if expect != Expect::Absent => writes.push(Write::Delete {
                    unique_identifier: uid,
                    expect,
                }),
                None => {}
            }
        }
        (!writes.is_empty()).then_some(WriteSet { writes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::ObjectType;
    use crate::store::memory::MemoryStore;

    fn opaque(uid: &str, owner: &str) -> ManagedObject {
        ManagedObject {
            unique_identifier: uid.into(),
            object_type: ObjectType::OpaqueObject,
            owner: owner.into(),
            attributes: Vec::new(),
            object: None,
            revision: 0,
        }
    }

    #[test]
    fn put_new_never_overwrites_an_existing_object() {
        let store = MemoryStore::new();
        let mut txn = Txn::new(&store);
        txn.put_new(opaque("u1", "alice")).expect("put");
        store
            .commit(txn.into_write_set().expect("a write"))
            .expect("first commit");

        // The same identifier again (a collision): the write set expects it absent.
        let mut txn = Txn::new(&store);
        txn.put_new(opaque("u1", "mallory")).expect("put");
        let writes = txn.into_write_set().expect("a write");
        assert!(matches!(
            &writes.writes[..],
            [Write::Put {
                expect: Expect::Absent,
                ..
            }]
        ));
        assert!(matches!(store.commit(writes), Err(StoreError::Conflict)));
        assert_eq!(store.get("u1").expect("get").expect("kept").owner, "alice");
    }

    #[test]
    fn get_object_sees_the_batch_and_expects_what_it_read() {
        let store = MemoryStore::new();
        let mut txn = Txn::new(&store);
        txn.put(opaque("u1", "alice")).expect("put");
        store
            .commit(txn.into_write_set().expect("a write"))
            .expect("commit");

        let mut txn = Txn::new(&store);
        let read = txn.get_object("u1").expect("read").expect("present");
        assert_eq!((read.owner.as_str(), read.revision), ("alice", 1));
        // The batch's own writes come first: replaced, then deleted.
        txn.put(opaque("u1", "bob")).expect("put");
        assert_eq!(
            txn.get_object("u1").expect("read").expect("present").owner,
            "bob"
        );
        txn.delete("u1").expect("delete");
        assert_eq!(txn.get_object("u1").expect("read"), None);
        // The delete expects the revision get_object read.
        let writes = txn.into_write_set().expect("a write");
        assert!(matches!(
            &writes.writes[..],
            [Write::Delete {
                expect: Expect::Revision(1),
                ..
            }]
        ));
        assert_eq!(Txn::new(&store).get_object("nope").expect("read"), None);
    }
}
