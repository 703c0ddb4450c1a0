//! Records: ingesting pulled pages (observations, record states, indexes, dirty marks) and
//! reading them back.

use super::codec::{self, StoredField, StoredObservations, StoredRecord, StoredValue};
use super::{Store, StoreError, abort, keys};
use crate::merge::{self, Fold};
use crate::model::{Observation, RecordKind, RecordRef, RecordState, Value};
use chrono::{DateTime, Utc};
use sled::Transactional;
use std::collections::HashMap;

/// A record as pulled, with its mapped values under their canonical names and what identity
/// derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    pub record: RecordRef,
    /// The side's modification time for the record.
    pub modified_at: DateTime<Utc>,
    /// The normalised e-mail, when the record has a valid one.
    pub email: Option<String>,
    /// The normalised company key, for companies.
    pub company_key: Option<String>,
    /// The normalised company name, for companies.
    pub company_name: Option<String>,
    /// The record's company on its own side (weavy `customer_ID`, Mautic primary company id).
    pub company_ref: Option<String>,
    /// Canonical field name and value, already read into the mapping's type.
    pub fields: Vec<(String, Value)>,
}

/// What an ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestStats {
    pub records: usize,
    pub new_records: usize,
    /// Observations added to the log.
    pub observations: usize,
    /// Records marked dirty (new, or a field, e-mail, key or company changed).
    pub dirty: usize,
}

impl std::ops::AddAssign for IngestStats {
    fn add_assign(&mut self, o: Self) {
        self.records += o.records;
        self.new_records += o.new_records;
        self.observations += o.observations;
        self.dirty += o.dirty;
    }
}

fn record_state(r: StoredRecord) -> RecordState {
    RecordState {
        modified_at: r.modified_at.map(codec::from_micros),
        last_cycle: r.last_cycle,
        email: r.email,
        company_key: r.company_key,
        company_name: r.company_name,
        company_ref: r.company_ref,
        gone: r.gone,
        fields: r
            .fields
            .into_iter()
            .map(|f| {
                let at = codec::from_micros(f.at);
                (f.name, Observation::new(f.value.into(), at))
            })
            .collect(),
    }
}

impl Store {
    /// Ingests a page of sightings in one transaction. A sighting whose value equals the
    /// record's current value is no observation; any other is logged and folded into the
    /// record's state (see [`merge::observe`]). A record is marked dirty when it is new or when
    /// a field, its e-mail, its company key or its company changed.
    pub fn ingest(&self, cycle: u64, sightings: &[Sighting]) -> Result<IngestStats, StoreError> {
        let mut stats = IngestStats::default();
        let mut touched: HashMap<Vec<u8>, StoredRecord> = HashMap::new();
        let mut obs = sled::Batch::default();
        let mut email = sled::Batch::default();
        let mut company = sled::Batch::default();
        let mut dirty = sled::Batch::default();
        let mut records = sled::Batch::default();
        // Sightings are stamped in arrival order: a block of sequence numbers per ingest.
        let seq_base = self.db.generate_id()? << 20;

        for (n, s) in sightings.iter().enumerate() {
            let seq = seq_base + n as u64;
            let key = keys::record(&s.record);
            let old = match touched.remove(&key) {
                Some(r) => Some(r),
                None => self
                    .records
                    .get(&key)?
                    .map(|v| codec::decode_record(&v, &*self.fields))
                    .transpose()?,
            };
            let is_new = old.is_none();
            let mut rec = old.unwrap_or_default();
            let mut changed = is_new;
            let at = codec::micros(s.modified_at);
            let mut logged = StoredObservations {
                cycle,
                fields: Vec::new(),
            };
            let mut hash = keys::Fnv::default();

            for (name, value) in &s.fields {
                let pos = rec.fields.binary_search_by(|f| f.name.as_str().cmp(name));
                let mut state = pos.ok().map(|i| rec.fields[i].stamped());
                let fold = merge::observe(
                    &mut state,
                    merge::Stamped::new(Observation::new(value.clone(), s.modified_at), seq),
                );
                if fold.is_logged() {
                    hash.write(name.as_bytes());
                    hash.write(value.canonical().as_bytes());
                    logged.fields.push((name.clone(), StoredValue::from(value)));
                    stats.observations += 1;
                }
                if matches!(fold, Fold::First | Fold::Replaced) {
                    let st = state.expect("a first or replacing fold leaves a state");
                    let field = StoredField {
                        name: name.clone(),
                        value: StoredValue::from(&st.obs.value),
                        at: codec::micros(st.obs.at),
                        seq: st.seq,
                    };
                    match pos {
                        Ok(i) => rec.fields[i] = field,
                        Err(i) => rec.fields.insert(i, field),
                    }
                    changed = true;
                }
            }

            if !logged.fields.is_empty() {
                obs.insert(
                    keys::observations(&s.record, at, hash.finish()),
                    codec::encode_observations(&logged, &*self.fields)?,
                );
            }

            if rec.email != s.email {
                if let Some(old) = &rec.email {
                    email.remove(keys::index(old, &s.record));
                }
                if let Some(new) = &s.email {
                    email.insert(keys::index(new, &s.record), &[]);
                }
                rec.email = s.email.clone();
                changed = true;
            }
            if rec.company_key != s.company_key {
                if let Some(old) = &rec.company_key {
                    company.remove(keys::company_index(keys::COMPANY_KEY, old, &s.record));
                }
                if let Some(new) = &s.company_key {
                    company.insert(keys::company_index(keys::COMPANY_KEY, new, &s.record), &[]);
                }
                rec.company_key = s.company_key.clone();
                changed = true;
            }
            // What changes the stored state without making the record dirty.
            let mut restate = false;
            if rec.company_name != s.company_name {
                restate = true;
                if let Some(old) = &rec.company_name {
                    company.remove(keys::company_index(keys::COMPANY_NAME, old, &s.record));
                }
                if let Some(new) = &s.company_name {
                    company.insert(keys::company_index(keys::COMPANY_NAME, new, &s.record), &[]);
                }
                rec.company_name = s.company_name.clone();
            }
            if rec.company_ref != s.company_ref {
                rec.company_ref = s.company_ref.clone();
                changed = true;
            }
            if rec.gone {
                rec.gone = false;
                changed = true;
            }
            let modified_at = Some(rec.modified_at.map_or(at, |m| m.max(at)));
            restate |= modified_at != rec.modified_at;
            rec.modified_at = modified_at;

            stats.records += 1;
            if is_new {
                stats.new_records += 1;
            }
            if changed {
                dirty.insert(key.clone(), &[]);
                stats.dirty += 1;
            }
            // A sighting that changes nothing (the overlap window, a record read back after
            // fieldsync wrote it) is not written again.
            if changed || restate {
                rec.last_cycle = cycle;
                records.insert(key.clone(), codec::encode_record(&rec, &*self.fields)?);
            }
            touched.insert(key, rec);
        }

        (
            &self.observations,
            &self.email_index,
            &self.company_index,
            &self.dirty,
            &self.records,
        )
            .transaction(|(o, e, c, d, r)| {
                o.apply_batch(&obs)?;
                e.apply_batch(&email)?;
                c.apply_batch(&company)?;
                d.apply_batch(&dirty)?;
                r.apply_batch(&records)?;
                Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
            })?;
        Ok(stats)
    }

    /// What fieldsync knows of a record.
    pub fn record(&self, r: &RecordRef) -> Result<Option<RecordState>, StoreError> {
        self.records
            .get(keys::record(r))?
            .map(|v| codec::decode_record(&v, &*self.fields).map(record_state))
            .transpose()
    }

    /// Records whose normalised e-mail is `email`.
    pub fn records_by_email(&self, email: &str) -> Result<Vec<RecordRef>, StoreError> {
        scan_index(&self.email_index, email)
    }

    /// Companies whose normalised key is `key`.
    pub fn records_by_company_key(&self, key: &str) -> Result<Vec<RecordRef>, StoreError> {
        scan_prefix(
            &self.company_index,
            &keys::company_index_prefix(keys::COMPANY_KEY, key),
        )
    }

    /// Companies whose normalised name is `name`.
    pub fn records_by_company_name(&self, name: &str) -> Result<Vec<RecordRef>, StoreError> {
        scan_prefix(
            &self.company_index,
            &keys::company_index_prefix(keys::COMPANY_NAME, name),
        )
    }

    /// The e-mail index in order: (normalised e-mail, record), grouped by e-mail.
    pub fn email_index(
        &self,
    ) -> impl Iterator<Item = Result<(String, RecordRef), StoreError>> + '_ {
        index_entries(&self.email_index, 0)
    }

    /// The company-key index in order: (normalised key, record), grouped by key.
    pub fn company_key_index(
        &self,
    ) -> impl Iterator<Item = Result<(String, RecordRef), StoreError>> + '_ {
        index_entries(&self.company_index, keys::COMPANY_KEY)
    }

    /// Every record of the store, one table after the other (for `sync --full` and reports).
    pub fn all_records(&self) -> impl Iterator<Item = Result<RecordRef, StoreError>> + '_ {
        self.records.iter().keys().map(|k| {
            let k = k?;
            Ok(keys::parse_record(&k)?.0)
        })
    }

    /// Marks a record as gone on its side (it answered 404 and could not be found again).
    pub fn mark_gone(&self, r: &RecordRef) -> Result<(), StoreError> {
        let key = keys::record(r);
        self.fields.in_transaction(|ids| {
            Ok(self.records.transaction(|t| {
                if let Some(v) = t.get(&key)? {
                    let mut rec = codec::decode_record(&v, ids).map_err(abort)?;
                    rec.gone = true;
                    t.insert(
                        key.as_slice(),
                        codec::encode_record(&rec, ids).map_err(abort)?,
                    )?;
                }
                Ok(())
            })?)
        })
    }

    /// Every observation of a record, in time order (then field order within one sighting),
    /// with the cycle that saw it.
    pub fn observations_of(
        &self,
        r: &RecordRef,
    ) -> impl Iterator<Item = Result<(String, Observation, u64), StoreError>> + '_ {
        self.observations
            .scan_prefix(keys::record(r))
            .flat_map(|kv| {
                let entry = (|| {
                    let (k, v) = kv?;
                    let (_, rest) = keys::parse_record(&k)?;
                    let at = codec::from_micros(keys::parse_observations_rest(rest)?);
                    let o = codec::decode_observations(&v, &*self.fields)?;
                    Ok::<_, StoreError>((at, o))
                })();
                let items: Vec<Result<(String, Observation, u64), StoreError>> = match entry {
                    Ok((at, o)) => o
                        .fields
                        .into_iter()
                        .map(|(f, v)| Ok((f, Observation::new(v.into(), at), o.cycle)))
                        .collect(),
                    Err(e) => vec![Err(e)],
                };
                items
            })
    }

    /// Sightings in the observation log (each holds one or more observations).
    pub fn observation_entries(&self) -> usize {
        self.observations.len()
    }

    /// Marks records dirty (they will be merged at the next merge).
    pub fn mark_dirty<'a>(
        &self,
        records: impl IntoIterator<Item = &'a RecordRef>,
    ) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for r in records {
            b.insert(keys::record(r), &[]);
        }
        self.dirty.apply_batch(b)?;
        Ok(())
    }

    /// Up to `limit` dirty records, in key order.
    pub fn dirty_records(&self, limit: usize) -> Result<Vec<RecordRef>, StoreError> {
        self.dirty
            .iter()
            .keys()
            .take(limit)
            .map(|k| Ok(keys::parse_record(&k?)?.0))
            .collect()
    }

    /// Up to `limit` dirty records of one table, in key order, after `after` (exclusive).
    pub fn dirty_page(
        &self,
        kind: RecordKind,
        after: Option<&RecordRef>,
        limit: usize,
    ) -> Result<Vec<RecordRef>, StoreError> {
        use std::ops::Bound;
        let prefix = [kind.code()];
        let start = match after {
            Some(r) => Bound::Excluded(keys::record(r)),
            None => Bound::Included(prefix.to_vec()),
        };
        let mut out = Vec::new();
        for k in self
            .dirty
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .keys()
        {
            let k = k?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            out.push(keys::parse_record(&k)?.0);
        }
        Ok(out)
    }

    /// Whether a record is dirty.
    pub fn is_dirty(&self, r: &RecordRef) -> Result<bool, StoreError> {
        Ok(self.dirty.contains_key(keys::record(r))?)
    }

    /// The number of dirty marks. It reads every one of them: not for a cycle's hot path.
    pub fn dirty_count(&self) -> usize {
        self.dirty.len()
    }
}

/// The entries of an index: `[tag][key][0][record]` when `tag` is not 0, `[key][0][record]`
/// otherwise.
fn index_entries(
    tree: &sled::Tree,
    tag: u8,
) -> impl Iterator<Item = Result<(String, RecordRef), StoreError>> + '_ {
    let iter = if tag == 0 {
        tree.iter()
    } else {
        tree.scan_prefix([tag])
    };
    iter.keys().map(move |k| {
        let k = k?;
        let body = if tag == 0 { &k[..] } else { &k[1..] };
        let bad = || StoreError::Corrupt {
            what: "index key",
            detail: format!("{} bytes", k.len()),
        };
        let nul = body.iter().position(|b| *b == 0).ok_or_else(bad)?;
        let key = std::str::from_utf8(&body[..nul])
            .map_err(|_| bad())?
            .to_owned();
        Ok((key, keys::parse_record(&body[nul + 1..])?.0))
    })
}

fn scan_index(tree: &sled::Tree, key: &str) -> Result<Vec<RecordRef>, StoreError> {
    scan_prefix(tree, &keys::index_prefix(key))
}

fn scan_prefix(tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<RecordRef>, StoreError> {
    tree.scan_prefix(prefix)
        .keys()
        .map(|k| {
            let k = k?;
            Ok(keys::parse_record(&k[prefix.len()..])?.0)
        })
        .collect()
}
