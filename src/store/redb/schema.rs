//! The on-disk schema of the redb store: table definitions, the object record layout and the
//! secondary index keys. `docs/storage.md` is the reference for every byte written here; a
//! change to a layout is a change to [`SCHEMA_VERSION`].
//!
//! Every parser here reads through a bounded [`Reader`] and rejects trailing bytes: the file
//! is ours, but a corrupt or foreign file must give [`StoreError::Corrupt`], never a panic.

use redb::TableDefinition;

use crate::kmip::attributes::{ApplicationSpecificInformation, Attribute, Link};
use crate::store::memory::vendor_value_bytes;
use crate::store::{Filter, StoreError};

/// The schema this build writes. Opening a file with a higher version is refused.
pub const SCHEMA_VERSION: u32 = 4;
/// The oldest schema this build migrates at open (`redb::migrate`). Schema 2 lacks only the
/// `due` index; schema 3's `due` index leaves out automatic rotations
/// ([`crate::store::rotation_due`]).
pub const OLDEST_MIGRATABLE: u32 = 2;

/// `meta`: schema version, next creation sequence, store key rotation progress.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// `objects`: Unique Identifier → object record (see [`Record`]).
pub const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
/// `sequence`: creation sequence → Unique Identifier; the stable Locate order.
pub const SEQUENCE: TableDefinition<u64, &str> = TableDefinition::new("sequence");
/// `store_keys`: store key version → `WrappedStoreKey` layout 1.
pub const STORE_KEYS: TableDefinition<u32, &[u8]> = TableDefinition::new("store_keys");
/// `index`: every secondary index entry, `index id (u8) ‖ value fields ‖ creation sequence
/// (u64 BE)` → `()`. One table rather than one per index: a create then dirties one B-tree
/// instead of a dozen, so a commit writes (and fsyncs) a few pages instead of twenty.
pub const INDEX: TableDefinition<&[u8], ()> = TableDefinition::new("index");
/// `audit`: audit record sequence → audit record (`crate::audit`, `docs/audit.md`).
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

pub const META_SCHEMA_VERSION: &str = "schema_version";
pub const META_NEXT_SEQ: &str = "next_sequence";
pub const META_ROTATION: &str = "store_key_rotation";
/// The end of the audit chain (`ChainHead::to_bytes`: u64 BE next sequence ‖ 32-byte hash of
/// the last record); absent before the first record.
pub const META_AUDIT_HEAD: &str = "audit_head";
/// The last write-ahead log record whose effects this database state contains (u64 BE).
pub const META_WAL_LSN: &str = "wal_lsn";

/// One secondary index per filter kind, plus the owner index, all in the [`INDEX`] table
/// under their [`Index::id`] byte. An entry's key is `id ‖ value fields ‖ creation sequence
/// (u64 BE)`, so a lookup is a range scan over `id ‖ value` that yields creation sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Index {
    Name,
    ObjectType,
    State,
    CryptographicAlgorithm,
    CryptographicLength,
    ObjectGroup,
    Link,
    AsiNamespace,
    AsiNamespaceData,
    Vendor,
    Date,
    Owner,
    Due,
}

impl Index {
    /// The entry keys' first byte (see `docs/storage.md`).
    pub fn id(self) -> u8 {
        match self {
            Index::Name => 1,
            Index::ObjectType => 2,
            Index::State => 3,
            Index::CryptographicAlgorithm => 4,
            Index::CryptographicLength => 5,
            Index::ObjectGroup => 6,
            Index::Link => 7,
            Index::AsiNamespace => 8,
            Index::AsiNamespaceData => 9,
            Index::Vendor => 10,
            Index::Date => 11,
            Index::Owner => 12,
            Index::Due => 13,
        }
    }

    /// A key prefix of this index: its id byte, then the value fields.
    pub fn prefix(self) -> Vec<u8> {
        let mut v = Vec::with_capacity(32);
        v.push(self.id());
        v
    }
}

/// An index entry without its sequence suffix: the index, and the key prefix (id byte
/// included).
pub type IndexPrefix = (Index, Vec<u8>);

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Lengths above u32::MAX cannot come from a KMIP message (framing caps messages far
    // below), so the cast cannot truncate in practice; saturate rather than wrap anyway.
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

/// A signed time, ordered as unsigned big-endian bytes.
fn time_key(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

pub fn with_seq(prefix: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The `due` index key of an object with creation sequence `seq` whose state a date changes
/// at `t` ([`crate::store::due`]).
pub fn due_key(t: i64, seq: u64) -> Vec<u8> {
    let mut prefix = Index::Due.prefix();
    prefix.extend_from_slice(&time_key(t));
    with_seq(&prefix, seq)
}

/// The creation sequence at the end of an index key.
pub fn seq_of(key: &[u8]) -> Result<u64, StoreError> {
    let start = key
        .len()
        .checked_sub(8)
        .ok_or_else(|| StoreError::Corrupt("index key shorter than its sequence".into()))?;
    let mut b = [0u8; 8];
    b.copy_from_slice(&key[start..]);
    Ok(u64::from_be_bytes(b))
}

/// Every index entry an object has. Mirrors [`crate::store::memory::matches`]: an object
/// matches a filter exactly when it has the entry [`probe`] names for that filter.
pub fn index_entries(object_type: u32, owner: &str, attributes: &[Attribute]) -> Vec<IndexPrefix> {
    let mut out: Vec<IndexPrefix> = Vec::with_capacity(attributes.len() + 3);
    out.push((Index::ObjectType, object_type.to_be_bytes().to_vec()));
    let mut o = Vec::new();
    put_str(&mut o, owner);
    out.push((Index::Owner, o));
    // The first State attribute, Pre-Active when there is none (ManagedObject::state).
    let state = attributes
        .iter()
        .find_map(|a| match a {
            Attribute::State(s) => Some(*s),
            _ => None,
        })
        .unwrap_or(crate::kmip::State::PreActive);
    out.push((Index::State, state.value().to_be_bytes().to_vec()));
    if let Some(t) = crate::store::due(attributes) {
        out.push((Index::Due, time_key(t).to_vec()));
    }
    for a in attributes {
        let mut v = Vec::new();
        let index = match a {
            Attribute::Name(n) => {
                put_str(&mut v, &n.name_value);
                Index::Name
            }
            Attribute::CryptographicAlgorithm(x) => {
                v.extend_from_slice(&x.value().to_be_bytes());
                Index::CryptographicAlgorithm
            }
            Attribute::CryptographicLength(x) => {
                v.extend_from_slice(&x.to_be_bytes());
                Index::CryptographicLength
            }
            Attribute::ObjectGroup(g) => {
                put_str(&mut v, g);
                Index::ObjectGroup
            }
            Attribute::Link(Link {
                link_type,
                linked_object_identifier,
            }) => {
                v.extend_from_slice(&link_type.value().to_be_bytes());
                put_str(&mut v, linked_object_identifier);
                Index::Link
            }
            Attribute::ApplicationSpecificInformation(ApplicationSpecificInformation {
                application_namespace,
                application_data,
            }) => {
                put_str(&mut v, application_namespace);
                if let Some(data) = application_data {
                    let mut d = v.clone();
                    put_str(&mut d, data);
                    out.push((Index::AsiNamespaceData, d));
                }
                Index::AsiNamespace
            }
            Attribute::Vendor(va) => {
                put_str(&mut v, &va.vendor_identification);
                put_str(&mut v, &va.attribute_name);
                put_bytes(&mut v, &vendor_value_bytes(&va.attribute_value));
                Index::Vendor
            }
            other => match other.as_date_time() {
                Some(t) => {
                    v.extend_from_slice(&other.tag().0.to_be_bytes());
                    v.extend_from_slice(&time_key(t));
                    Index::Date
                }
                None => continue,
            },
        };
        out.push((index, v));
    }
    let mut out: Vec<IndexPrefix> = out
        .into_iter()
        .map(|(index, value)| {
            let mut key = index.prefix();
            key.extend_from_slice(&value);
            (index, key)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// How a filter is looked up: a key range `[lo, hi]` (both full keys, id byte and sequence
/// included) in one index, and whether membership of a given sequence can be checked with a point lookup
/// of `point_prefix ‖ seq` (true for every equality filter, false for date ranges).
pub struct Probe {
    pub index: Index,
    pub lo: Vec<u8>,
    pub hi: Vec<u8>,
    pub point_prefix: Option<Vec<u8>>,
    /// An empty date range matches nothing.
    pub empty: bool,
}

/// A probe for `value` in `index`.
fn equality(index: Index, value: Vec<u8>) -> Probe {
    let mut prefix = index.prefix();
    prefix.extend_from_slice(&value);
    Probe {
        index,
        lo: with_seq(&prefix, 0),
        hi: with_seq(&prefix, u64::MAX),
        point_prefix: Some(prefix),
        empty: false,
    }
}

pub fn probe(filter: &Filter) -> Probe {
    let mut v = Vec::new();
    match filter {
        Filter::Name(name) => {
            put_str(&mut v, name);
            equality(Index::Name, v)
        }
        Filter::ObjectType(t) => equality(Index::ObjectType, t.value().to_be_bytes().to_vec()),
        Filter::State(s) => equality(Index::State, s.value().to_be_bytes().to_vec()),
        Filter::CryptographicAlgorithm(a) => equality(
            Index::CryptographicAlgorithm,
            a.value().to_be_bytes().to_vec(),
        ),
        Filter::CryptographicLength(l) => {
            equality(Index::CryptographicLength, l.to_be_bytes().to_vec())
        }
        Filter::ObjectGroup(g) => {
            put_str(&mut v, g);
            equality(Index::ObjectGroup, v)
        }
        Filter::Link {
            link_type,
            linked_object_identifier,
        } => {
            v.extend_from_slice(&link_type.value().to_be_bytes());
            put_str(&mut v, linked_object_identifier);
            equality(Index::Link, v)
        }
        Filter::ApplicationSpecificInformation {
            application_namespace,
            application_data,
        } => {
            put_str(&mut v, application_namespace);
            match application_data {
                Some(data) => {
                    put_str(&mut v, data);
                    equality(Index::AsiNamespaceData, v)
                }
                None => equality(Index::AsiNamespace, v),
            }
        }
        Filter::Vendor {
            vendor_identification,
            attribute_name,
            value,
        } => {
            put_str(&mut v, vendor_identification);
            put_str(&mut v, attribute_name);
            put_bytes(&mut v, value);
            equality(Index::Vendor, v)
        }
        Filter::DateRange { tag, from, to } => {
            let mut v = Index::Date.prefix();
            v.extend_from_slice(&tag.0.to_be_bytes());
            let mut lo = v.clone();
            lo.extend_from_slice(&time_key(*from));
            let mut hi = v;
            hi.extend_from_slice(&time_key(*to));
            Probe {
                index: Index::Date,
                lo: with_seq(&lo, 0),
                hi: with_seq(&hi, u64::MAX),
                point_prefix: None,
                empty: from > to,
            }
        }
        Filter::DueBy(to) => {
            let v = Index::Due.prefix();
            let mut hi = v.clone();
            hi.extend_from_slice(&time_key(*to));
            Probe {
                index: Index::Due,
                lo: with_seq(&v, 0),
                hi: with_seq(&hi, u64::MAX),
                point_prefix: None,
                empty: false,
            }
        }
    }
}

pub fn owner_probe(owner: &str) -> Probe {
    let mut v = Vec::new();
    put_str(&mut v, owner);
    equality(Index::Owner, v)
}

/// The value of an `objects` row, layout 1 (see `docs/storage.md`).
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub revision: u64,
    pub object_type: u32,
    pub owner: String,
    /// The `Attributes` structure, TTLV (KMIP 2.1 form), in clear: metadata only.
    pub attributes: Vec<u8>,
    /// The object's TTLV sealed by the `MaterialSealer`; `None` once destroyed.
    pub sealed: Option<Vec<u8>>,
}

const RECORD_LAYOUT: u8 = 1;

/// Layout 1 of an `objects` value, from its parts.
pub fn record_bytes(
    seq: u64,
    revision: u64,
    object_type: u32,
    owner: &str,
    attributes: &[u8],
    sealed: Option<&[u8]>,
) -> Vec<u8> {
    let sealed_len = sealed.map_or(0, <[u8]>::len);
    let mut out = Vec::with_capacity(30 + owner.len() + attributes.len() + sealed_len);
    out.push(RECORD_LAYOUT);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&revision.to_be_bytes());
    out.extend_from_slice(&object_type.to_be_bytes());
    put_str(&mut out, owner);
    put_bytes(&mut out, attributes);
    match sealed {
        Some(s) => {
            out.push(1);
            out.extend_from_slice(s);
        }
        None => out.push(0),
    }
    out
}

impl Record {
    pub fn to_bytes(&self) -> Vec<u8> {
        record_bytes(
            self.seq,
            self.revision,
            self.object_type,
            &self.owner,
            &self.attributes,
            self.sealed.as_deref(),
        )
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Record, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("object record: {what}"));
        let mut r = Reader(bytes);
        if r.u8().ok_or_else(|| bad("empty"))? != RECORD_LAYOUT {
            return Err(bad("unknown layout"));
        }
        let seq = r.u64().ok_or_else(|| bad("truncated header"))?;
        let revision = r.u64().ok_or_else(|| bad("truncated header"))?;
        let object_type = r.u32().ok_or_else(|| bad("truncated header"))?;
        let owner = r.chunk().ok_or_else(|| bad("truncated owner"))?;
        let owner = std::str::from_utf8(owner)
            .map_err(|_| bad("owner is not UTF-8"))?
            .to_string();
        let attributes = r
            .chunk()
            .ok_or_else(|| bad("truncated attributes"))?
            .to_vec();
        let sealed = match r.u8().ok_or_else(|| bad("missing material flag"))? {
            0 if r.0.is_empty() => None,
            0 => return Err(bad("trailing bytes")),
            1 => Some(r.0.to_vec()),
            _ => return Err(bad("bad material flag")),
        };
        Ok(Record {
            seq,
            revision,
            object_type,
            owner,
            attributes,
            sealed,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Some(h)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_be_bytes(a))
    }
    fn chunk(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// Store key rotation progress: the version being rolled out and the last creation sequence
/// re-sealed (layout: u32 BE version ‖ u64 BE sequence).
pub fn rotation_to_bytes(version: u32, position: u64) -> Vec<u8> {
    let mut v = version.to_be_bytes().to_vec();
    v.extend_from_slice(&position.to_be_bytes());
    v
}

pub fn rotation_from_bytes(b: &[u8]) -> Result<(u32, u64), StoreError> {
    let mut r = Reader(b);
    match (r.u32(), r.u64(), r.0.is_empty()) {
        (Some(v), Some(p), true) => Ok((v, p)),
        _ => Err(StoreError::Corrupt("store key rotation record".into())),
    }
}

pub fn u64_from(b: &[u8], what: &str) -> Result<u64, StoreError> {
    let mut r = Reader(b);
    match (r.u64(), r.0.is_empty()) {
        (Some(v), true) => Ok(v),
        _ => Err(StoreError::Corrupt(format!("{what}: not 8 bytes"))),
    }
}

pub fn u32_from(b: &[u8], what: &str) -> Result<u32, StoreError> {
    let mut r = Reader(b);
    match (r.u32(), r.0.is_empty()) {
        (Some(v), true) => Ok(v),
        _ => Err(StoreError::Corrupt(format!("{what}: not 4 bytes"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_rejects_trailing_bytes() {
        for sealed in [None, Some(vec![1, 2, 3])] {
            let r = Record {
                seq: 7,
                revision: 3,
                object_type: 2,
                owner: "alice".into(),
                attributes: vec![9; 10],
                sealed,
            };
            let b = r.to_bytes();
            assert!(Record::from_bytes(&b).is_ok_and(|x| x == r));
            for cut in 0..b.len() {
                // With material, a shorter blob still parses: the sealer rejects it.
                if r.sealed.is_none() || cut < b.len() - 3 {
                    assert!(Record::from_bytes(&b[..cut]).is_err(), "cut {cut}");
                }
            }
        }
        let mut b = Record {
            seq: 1,
            revision: 1,
            object_type: 1,
            owner: String::new(),
            attributes: vec![],
            sealed: None,
        }
        .to_bytes();
        b.push(0);
        assert!(Record::from_bytes(&b).is_err());
    }

    #[test]
    fn time_keys_sort_like_times() {
        let times = [i64::MIN, -5, -1, 0, 1, 5, i64::MAX];
        for w in times.windows(2) {
            assert!(time_key(w[0]) < time_key(w[1]));
        }
    }
}
