//! The conflict log: append-only, keyed by time, read back as a filtered stream.

use super::codec::{self, StoredConflict};
use super::{Store, StoreError, keys};
use crate::model::{ConflictEntry, ConflictRule, EntityId, EntityKind, RecordKind};
use chrono::{DateTime, Utc};
use std::ops::Bound;

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
        let mut batch = sled::Batch::default();
        for e in entries {
            let seq = self.db.generate_id()?;
            batch.insert(
                keys::conflict(codec::micros(e.at), seq).to_vec(),
                codec::encode(&StoredConflict::from(e)),
            );
        }
        self.conflicts.apply_batch(batch)?;
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
            .filter(move |r| r.as_ref().map_or(true, |e| filter.matches(e)))
    }

    pub fn conflict_count(&self) -> usize {
        self.conflicts.len()
    }
}
