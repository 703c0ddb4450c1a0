//! The conflict log: append-only, keyed by time, read back as a filtered stream.
//!
//! **Each decision once.** A cycle killed after it logged a decision but before that decision
//! took effect (its write sent and confirmed, the base moved) makes the same decision again
//! at the next start: the same field of the same entity, the same values with the same change
//! times, the same base, rule and winner. An entry is identified by what was decided, not by
//! when it was written ([`fingerprint`]: everything but its time and cycle); the `conflict_ids`
//! tree maps each fingerprint to its entry, and an entry whose fingerprint is there is not
//! appended again. The check is made in the same transaction as the append.

use super::codec::{self, StoredConflict};
use super::{Store, StoreError, keys};
use crate::model::{ConflictEntry, ConflictRule, EntityId, EntityKind, RecordKind};
use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use std::hash::Hasher;
use std::ops::Bound;

/// What an entry decided, as 16 bytes: a SipHash-1-3 (128 bits, fixed keys: the same on
/// every run and release) of the entry stored with no time and no cycle.
pub fn fingerprint(e: &ConflictEntry) -> [u8; 16] {
    let mut stored = StoredConflict::from(e);
    stored.at = 0;
    stored.cycle = 0;
    let mut h = siphasher::sip128::SipHasher13::new_with_keys(0, 0);
    h.write(&codec::encode(&stored));
    siphasher::sip128::Hasher128::finish128(&h).as_bytes()
}

/// Appends `entry` under `seq` inside a transaction, unless the same decision is logged.
pub(super) fn log_once(
    log: &TransactionalTree,
    ids: &TransactionalTree,
    entry: &ConflictEntry,
    seq: u64,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    let id = fingerprint(entry);
    if ids.get(id)?.is_some() {
        return Ok(());
    }
    let key = keys::conflict(codec::micros(entry.at), seq);
    ids.insert(&id, &key)?;
    log.insert(&key, codec::encode(&StoredConflict::from(entry)))?;
    Ok(())
}

/// Which conflict entries to read. Every field narrows; the default reads everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConflictFilter {
    /// Decided at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Decided before this time.
    pub to: Option<DateTime<Utc>>,
    /// Companies or people.
    pub entity_kind: Option<EntityKind>,
    /// One table: the entry names a record of it on either side.
    pub record_kind: Option<RecordKind>,
    pub entity: Option<EntityId>,
    /// The canonical field name.
    pub field: Option<String>,
    pub rule: Option<ConflictRule>,
}

impl ConflictFilter {
    pub fn matches(&self, e: &ConflictEntry) -> bool {
        self.entity_kind.is_none_or(|k| e.entity_kind == k)
            && self.record_kind.is_none_or(|k| {
                [&e.weavy.record, &e.mautic.record]
                    .into_iter()
                    .flatten()
                    .any(|r| r.kind == k)
            })
            && self.entity.is_none_or(|id| e.entity == id)
            && self.field.as_ref().is_none_or(|f| &e.field == f)
            && self.rule.is_none_or(|r| e.rule == r)
    }
}

impl Store {
    /// Appends entries to the conflict log.
    pub fn append_conflicts(&self, entries: &[ConflictEntry]) -> Result<(), StoreError> {
        let seqs: Vec<u64> = entries
            .iter()
            .map(|_| self.db.generate_id())
            .collect::<Result<_, _>>()?;
        (&self.conflicts, &self.conflict_ids).transaction(|(log, ids)| {
            for (e, seq) in entries.iter().zip(&seqs) {
                log_once(log, ids, e, *seq)?;
            }
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        })?;
        Ok(())
    }

    /// The entries matching `filter`, in time order, read lazily: constant memory whatever
    /// the size of the log.
    pub fn conflicts<'a>(
        &'a self,
        filter: &'a ConflictFilter,
    ) -> impl Iterator<Item = Result<ConflictEntry, StoreError>> + 'a {
        let start = match filter.from {
            Some(t) => Bound::Included(keys::time(codec::micros(t)).to_vec()),
            None => Bound::Unbounded,
        };
        let end = match filter.to {
            Some(t) => Bound::Excluded(keys::time(codec::micros(t)).to_vec()),
            None => Bound::Unbounded,
        };
        self.conflicts
            .range::<Vec<u8>, _>((start, end))
            .values()
            .map(|v| codec::decode::<StoredConflict>(&v?, "conflict entry")?.into_entry())
            // Salvaging a damaged database, an entry that cannot be read is counted and
            // skipped: the others are what the export is for.
            .filter(move |r| {
                if r.is_err() && self.is_salvaging() {
                    self.skipped_unreadable();
                    return false;
                }
                true
            })
            .filter(move |r| r.as_ref().map_or(true, |e| filter.matches(e)))
    }

    /// Entries in the log.
    pub fn conflict_count(&self) -> usize {
        self.conflicts.len()
    }
}
