//! Locate over the secondary indexes.
//!
//! Each filter (and the owner, when given) becomes a [`Probe`]: a key range of one index in
//! the `index` table. The probes' range scans advance in lock-step, one row each per round, until one
//! of them ends: that one is the most selective, found at a cost of (number of probes) ×
//! (its size) rows. Its creation sequences are the candidates. Every other equality probe is
//! then checked per candidate with a point lookup of `value ‖ seq`; date ranges, whose keys
//! hold the date before the sequence, are checked on the candidate's record with
//! [`memory::matches`](crate::store::memory::matches). Candidates are sorted by creation
//! sequence (taken newest first when the query asks, as KMIP 2.x Locate must answer), counted
//! (Located Items) and paged (Offset Items, Maximum Items).
//!
//! With neither filters nor owner, the `sequence` table is walked in order (or backwards):
//! that is the one query whose answer is every object.

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata};

use super::schema::{self, Probe, Record};
use super::storage;
use crate::store::{Filter, Located, ManagedObject, Query, StoreError};

type IndexTable = ReadOnlyTable<&'static [u8], ()>;

/// The answer, and how many rows it examined.
pub fn locate(txn: &ReadTransaction, query: &Query) -> Result<(Located, u64), StoreError> {
    let mut probes: Vec<(Probe, Option<&Filter>)> = query
        .filters
        .iter()
        .map(|f| (schema::probe(f), Some(f)))
        .collect();
    if let Some(owner) = &query.owner {
        probes.push((schema::owner_probe(owner), None));
    }
    let sequence = txn.open_table(schema::SEQUENCE).map_err(storage)?;
    let limit = query.limit.unwrap_or(usize::MAX);
    let excluded = Excluded::open(txn, &query.exclude_states)?;
    if probes.is_empty() && !excluded.is_empty() {
        // Every object, less the excluded states: a walk, as for no filter at all.
        let mut rows = 0u64;
        let mut kept = Vec::new();
        for entry in sequence.iter().map_err(storage)? {
            let (seq, _) = entry.map_err(storage)?;
            rows += 1;
            kept.push(seq.value());
        }
        let candidates = excluded.retain(kept, &mut rows)?;
        return page(&sequence, candidates, Vec::new(), query, rows);
    }
    if probes.is_empty() {
        let total = usize::try_from(sequence.len().map_err(storage)?).unwrap_or(usize::MAX);
        let mut page = Vec::new();
        let mut rows = 0u64;
        let walk = sequence.iter().map_err(storage)?;
        let walk: Box<dyn Iterator<Item = _>> = if query.newest_first {
            Box::new(walk.rev())
        } else {
            Box::new(walk)
        };
        for entry in walk.skip(query.offset).take(limit) {
            let (_, uid) = entry.map_err(storage)?;
            rows += 1;
            page.push(uid.value().to_string());
        }
        return Ok((
            Located {
                unique_identifiers: page,
                total,
            },
            rows + query.offset as u64,
        ));
    }
    if probes.iter().any(|(p, _)| p.empty) {
        return Ok((Located::default(), 0));
    }

    let index: IndexTable = txn.open_table(schema::INDEX).map_err(storage)?;
    let mut rows = 0u64;

    // Lock-step scans until the smallest range ends.
    let mut scans = Vec::with_capacity(probes.len());
    for (p, _) in &probes {
        scans.push(
            index
                .range(p.lo.as_slice()..=p.hi.as_slice())
                .map_err(storage)?,
        );
    }
    let mut found: Vec<Vec<u64>> = vec![Vec::new(); probes.len()];
    let driver = 'scan: loop {
        for (i, scan) in scans.iter_mut().enumerate() {
            match scan.next() {
                None => break 'scan i,
                Some(entry) => {
                    let (key, _) = entry.map_err(storage)?;
                    rows += 1;
                    found[i].push(schema::seq_of(key.value())?);
                }
            }
        }
    };
    drop(scans);
    let mut candidates = std::mem::take(&mut found[driver]);
    candidates.sort_unstable();
    candidates.dedup();

    // Residual equality filters: point lookups.
    let mut residual_dates: Vec<&Filter> = Vec::new();
    for (i, (p, filter)) in probes.iter().enumerate() {
        if i == driver {
            continue;
        }
        match &p.point_prefix {
            Some(prefix) => {
                let table = &index;
                let mut kept = Vec::with_capacity(candidates.len());
                for seq in candidates {
                    rows += 1;
                    if table
                        .get(schema::with_seq(prefix, seq).as_slice())
                        .map_err(storage)?
                        .is_some()
                    {
                        kept.push(seq);
                    }
                }
                candidates = kept;
            }
            None => residual_dates.extend(filter.iter().copied()),
        }
    }

    // Residual date ranges: check the candidates' attributes.
    let needs_uid_for_all = !residual_dates.is_empty();
    let mut uids: Vec<Option<String>> = Vec::new();
    if needs_uid_for_all {
        let objects = txn.open_table(schema::OBJECTS).map_err(storage)?;
        let mut kept = Vec::with_capacity(candidates.len());
        for seq in candidates {
            rows += 2;
            let uid = uid_of(&sequence, seq)?;
            let record = match objects.get(uid.as_str()).map_err(storage)? {
                Some(v) => Record::from_bytes(v.value())?,
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "sequence {seq} names {uid}, absent"
                    )));
                }
            };
            let attributes = super::committer::decode_attributes(&record.attributes)?;
            let view = ManagedObject {
                unique_identifier: uid,
                object_type: crate::kmip::ObjectType::from_u32(record.object_type),
                owner: record.owner,
                attributes,
                object: None,
                revision: record.revision,
            };
            if residual_dates
                .iter()
                .all(|f| crate::store::memory::matches(&view, f))
            {
                kept.push(seq);
                uids.push(Some(view.unique_identifier));
            }
        }
        candidates = kept;
    }

    if !excluded.is_empty() {
        let before = candidates.len();
        let mut kept_uids = Vec::new();
        let kept = excluded.retain_with(candidates, &mut rows, |i| {
            if let Some(uid) = uids.get_mut(i).and_then(Option::take) {
                kept_uids.push(Some(uid));
            }
        })?;
        if !uids.is_empty() {
            debug_assert!(kept_uids.len() <= before);
            uids = kept_uids;
        }
        candidates = kept;
    }
    page(&sequence, candidates, uids, query, rows)
}

/// Applies the query's order, offset and limit to the candidates (in creation order) and
/// names them.
fn page(
    sequence: &ReadOnlyTable<u64, &'static str>,
    candidates: Vec<u64>,
    mut uids: Vec<Option<String>>,
    query: &Query,
    mut rows: u64,
) -> Result<(Located, u64), StoreError> {
    let total = candidates.len();
    let mut page = Vec::new();
    let in_order = candidates.iter().enumerate();
    let in_order: Box<dyn Iterator<Item = _>> = if query.newest_first {
        Box::new(in_order.rev())
    } else {
        Box::new(in_order)
    };
    let limit = query.limit.unwrap_or(usize::MAX);
    for (k, seq) in in_order.skip(query.offset).take(limit) {
        match uids.get_mut(k).and_then(Option::take) {
            Some(uid) => page.push(uid),
            None => {
                rows += 1;
                page.push(uid_of(sequence, *seq)?);
            }
        }
    }
    Ok((
        Located {
            unique_identifiers: page,
            total,
        },
        rows,
    ))
}

/// The State index entries of the excluded states, checked by point lookups.
struct Excluded {
    table: Option<IndexTable>,
    prefixes: Vec<Vec<u8>>,
}

impl Excluded {
    fn open(txn: &ReadTransaction, states: &[crate::kmip::State]) -> Result<Excluded, StoreError> {
        let mut prefixes = Vec::new();
        let mut table = None;
        for state in states {
            let probe = schema::probe(&Filter::State(*state));
            if table.is_none() {
                table = Some(txn.open_table(schema::INDEX).map_err(storage)?);
            }
            if let Some(prefix) = probe.point_prefix {
                prefixes.push(prefix);
            }
        }
        Ok(Excluded { table, prefixes })
    }

    fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    fn retain(&self, candidates: Vec<u64>, rows: &mut u64) -> Result<Vec<u64>, StoreError> {
        self.retain_with(candidates, rows, |_| {})
    }

    /// The candidates in none of the excluded states; `kept(i)` is told the position of
    /// each one kept.
    fn retain_with(
        &self,
        candidates: Vec<u64>,
        rows: &mut u64,
        mut kept: impl FnMut(usize),
    ) -> Result<Vec<u64>, StoreError> {
        let Some(table) = &self.table else {
            return Ok(candidates);
        };
        let mut out = Vec::with_capacity(candidates.len());
        'next: for (i, seq) in candidates.into_iter().enumerate() {
            for prefix in &self.prefixes {
                *rows += 1;
                if table
                    .get(schema::with_seq(prefix, seq).as_slice())
                    .map_err(storage)?
                    .is_some()
                {
                    continue 'next;
                }
            }
            kept(i);
            out.push(seq);
        }
        Ok(out)
    }
}

fn uid_of(sequence: &ReadOnlyTable<u64, &'static str>, seq: u64) -> Result<String, StoreError> {
    match sequence.get(seq).map_err(storage)? {
        Some(v) => Ok(v.value().to_string()),
        None => Err(StoreError::Corrupt(format!(
            "index names creation sequence {seq}, which has no object"
        ))),
    }
}
