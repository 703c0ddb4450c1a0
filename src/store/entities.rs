//! Entities, their links and bases; the merge commit; the outbox.

use super::codec::{self, FieldIds, StoredEntity, StoredPatch, StoredRef, StoredValue};
use super::conflicts::log_once;
use super::field_ids::InTransaction;
use super::{Store, StoreError, abort, keys};
use crate::model::{ConflictEntry, Entity, EntityId, Patch, RecordKind, RecordRef, Side, Value};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

/// Everything one merge step decided, written in one transaction: the entities' new states
/// (their links follow), patches for the outbox, conflict entries, and the removal of the dirty
/// marks of the records that were merged.
#[derive(Debug, Clone, Default)]
pub struct MergeCommit {
    /// New or changed entities, whole.
    pub entities: Vec<Entity>,
    /// Entities that no longer exist (their records were re-linked elsewhere).
    pub removed_entities: Vec<EntityId>,
    /// Records no longer linked to any entity.
    pub unlinked: Vec<RecordRef>,
    /// Patches to send; each replaces the pending patch of the same record, if any.
    pub patches: Vec<Patch>,
    /// Pending patches that are no longer wanted.
    pub cancelled: Vec<(RecordKind, EntityId)>,
    pub conflicts: Vec<ConflictEntry>,
    /// Records whose dirty mark is removed.
    pub clean: Vec<RecordRef>,
}

/// One acknowledged patch (see [`Store::patches_done`]).
#[derive(Debug, Clone, Copy)]
pub struct Ack<'a> {
    /// The patch as it was sent.
    pub sent: &'a Patch,
    /// For an insert, the record created.
    pub new_record: Option<&'a RecordRef>,
    /// The values now on both sides, by canonical field.
    pub bases: &'a [(String, Value)],
}

impl MergeCommit {
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
            && self.removed_entities.is_empty()
            && self.unlinked.is_empty()
            && self.patches.is_empty()
            && self.cancelled.is_empty()
            && self.conflicts.is_empty()
            && self.clean.is_empty()
    }
}

fn stored_entity(e: &Entity) -> StoredEntity {
    StoredEntity {
        kind: codec::entity_kind_code(e.kind),
        weavy: e.weavy.as_ref().map(StoredRef::from),
        mautic: e.mautic.as_ref().map(StoredRef::from),
        bases: e
            .bases
            .iter()
            .map(|(k, v)| (k.clone(), StoredValue::from(v)))
            .collect(),
        created_cycle: e.created_cycle,
    }
}

fn entity_from(id: EntityId, s: StoredEntity) -> Result<Entity, StoreError> {
    const WHAT: &str = "entity";
    Ok(Entity {
        id,
        kind: codec::entity_kind_from(s.kind, WHAT)?,
        weavy: s.weavy.map(|r| r.to_ref(WHAT)).transpose()?,
        mautic: s.mautic.map(|r| r.to_ref(WHAT)).transpose()?,
        bases: s.bases.into_iter().map(|(k, v)| (k, v.into())).collect(),
        created_cycle: s.created_cycle,
    })
}

impl Store {
    /// A fresh entity id (never reused).
    pub fn new_entity_id(&self) -> Result<EntityId, StoreError> {
        Ok(EntityId(self.db.generate_id()? + 1))
    }

    pub fn entity(&self, id: EntityId) -> Result<Option<Entity>, StoreError> {
        self.entities
            .get(keys::entity(id))?
            .map(|v| entity_from(id, codec::decode_entity(&v, &*self.fields)?))
            .transpose()
    }

    /// The entity a record is linked to.
    pub fn entity_of(&self, r: &RecordRef) -> Result<Option<EntityId>, StoreError> {
        self.links
            .get(keys::record(r))?
            .map(|v| keys::parse_entity(&v))
            .transpose()
    }

    /// Every entity, in id order.
    pub fn entities(&self) -> impl Iterator<Item = Result<Entity, StoreError>> + '_ {
        self.entities.iter().map(|kv| {
            let (k, v) = kv?;
            entity_from(
                keys::parse_entity(&k)?,
                codec::decode_entity(&v, &*self.fields)?,
            )
        })
    }

    /// Writes a merge step in one transaction.
    pub fn commit(&self, c: &MergeCommit) -> Result<(), StoreError> {
        if c.is_empty() {
            return Ok(());
        }
        let seqs: Vec<u64> = c
            .conflicts
            .iter()
            .map(|_| self.db.generate_id())
            .collect::<Result<_, _>>()?;
        let entities: Vec<Vec<u8>> = c
            .entities
            .iter()
            .map(|e| codec::encode_entity(&stored_entity(e), &*self.fields))
            .collect::<Result<_, _>>()?;
        (
            &self.entities,
            &self.links,
            &self.outbox,
            &self.conflicts,
            &self.conflict_ids,
            &self.dirty,
        )
            .transaction(|(ent, links, outbox, conflicts, ids, dirty)| {
                for id in &c.removed_entities {
                    ent.remove(&keys::entity(*id))?;
                }
                for r in &c.unlinked {
                    links.remove(keys::record(r))?;
                }
                for (e, bytes) in c.entities.iter().zip(&entities) {
                    ent.insert(&keys::entity(e.id), bytes.as_slice())?;
                    for r in [&e.weavy, &e.mautic].into_iter().flatten() {
                        links.insert(keys::record(r), &keys::entity(e.id))?;
                    }
                }
                for (kind, entity) in &c.cancelled {
                    outbox.remove(&keys::outbox(*kind, *entity))?;
                }
                for p in &c.patches {
                    outbox.insert(
                        &keys::outbox(p.record.kind, p.entity),
                        codec::encode(&StoredPatch::from(p)),
                    )?;
                }
                for (entry, seq) in c.conflicts.iter().zip(&seqs) {
                    log_once(conflicts, ids, entry, *seq)?;
                }
                for r in &c.clean {
                    dirty.remove(keys::record(r))?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })?;
        // An entity that now has its record on a side needs no insert there any more: an
        // insert whose answer was lost and whose record the pull found is settled (the marks
        // are looked at only when there are any).
        {
            let settled: Vec<(RecordKind, EntityId)> = c
                .entities
                .iter()
                .flat_map(|e| {
                    [&e.weavy, &e.mautic]
                        .into_iter()
                        .flatten()
                        .map(|r| (r.kind, e.id))
                })
                .collect();
            self.clear_in_flight(&settled)?;
        }
        Ok(())
    }

    /// Up to `limit` pending patches of one side, in (table, entity) order, starting after
    /// `after` (the last slot of the previous chunk).
    pub fn pending_patches(
        &self,
        side: Side,
        after: Option<(RecordKind, EntityId)>,
        limit: usize,
    ) -> Result<Vec<Patch>, StoreError> {
        use std::ops::Bound;
        let prefix = keys::outbox_side_prefix(side);
        let start = match after {
            Some((kind, id)) => Bound::Excluded(keys::outbox(kind, id).to_vec()),
            None => Bound::Included(prefix.to_vec()),
        };
        self.chunk(
            self.outbox.range::<Vec<u8>, _>((start, Bound::Unbounded)),
            &prefix,
            limit,
        )
    }

    fn chunk(
        &self,
        iter: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<Patch>, StoreError> {
        let mut out = Vec::new();
        for kv in iter {
            let (k, v) = kv?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push(codec::decode::<StoredPatch>(&v, "outbox patch")?.into_patch()?);
        }
        Ok(out)
    }

    /// Up to `limit` pending patches of one table, in entity order, after `after`.
    pub fn pending_patches_of(
        &self,
        kind: RecordKind,
        after: Option<EntityId>,
        limit: usize,
    ) -> Result<Vec<Patch>, StoreError> {
        use std::ops::Bound;
        let prefix = [kind.side().code(), kind.code()];
        let start = match after {
            Some(id) => Bound::Excluded(keys::outbox(kind, id).to_vec()),
            None => Bound::Included(prefix.to_vec()),
        };
        self.chunk(
            self.outbox.range::<Vec<u8>, _>((start, Bound::Unbounded)),
            &prefix,
            limit,
        )
    }

    /// The pending patch of a record's slot, if any.
    pub fn pending_patch(
        &self,
        kind: RecordKind,
        entity: EntityId,
    ) -> Result<Option<Patch>, StoreError> {
        self.outbox
            .get(keys::outbox(kind, entity))?
            .map(|v| codec::decode::<StoredPatch>(&v, "outbox patch")?.into_patch())
            .transpose()
    }

    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// A patch the side acknowledged: drop it from the outbox and, in the same transaction,
    /// record on its entity the values now on both sides (the bases) and, for an insert, the
    /// new record's link. Only the patch that was sent is dropped: if a newer merge replaced
    /// it meanwhile, the newer one stays.
    pub fn patch_done(
        &self,
        sent: &Patch,
        new_record: Option<&RecordRef>,
        bases: &[(String, Value)],
    ) -> Result<(), StoreError> {
        self.patches_done(
            &[Ack {
                sent,
                new_record,
                bases,
            }],
            &[],
        )
    }

    /// Patches a side acknowledged (a batch of them), as [`Store::patch_done`] does for one,
    /// and the conflict entries they gave (values the side did not take), in one transaction.
    pub fn patches_done(
        &self,
        acks: &[Ack<'_>],
        conflicts: &[ConflictEntry],
    ) -> Result<(), StoreError> {
        let seqs: Vec<u64> = conflicts
            .iter()
            .map(|_| self.db.generate_id())
            .collect::<Result<_, _>>()?;
        // The bases' names get their numbers before the transaction, which cannot give them
        // (it would run twice for a name stored the first time).
        for a in acks {
            for (field, _) in a.bases {
                self.fields.id(field)?;
            }
        }
        self.fields
            .in_transaction(|ids| self.patches_done_once(acks, conflicts, &seqs, ids))
    }

    fn patches_done_once(
        &self,
        acks: &[Ack<'_>],
        conflicts: &[ConflictEntry],
        seqs: &[u64],
        ids: &InTransaction<'_>,
    ) -> Result<(), StoreError> {
        let prepared: Vec<([u8; 10], Vec<u8>, [u8; 8])> = acks
            .iter()
            .map(|a| {
                (
                    keys::outbox(a.sent.record.kind, a.sent.entity),
                    codec::encode(&StoredPatch::from(a.sent)),
                    keys::entity(a.sent.entity),
                )
            })
            .collect();
        (
            &self.outbox,
            &self.entities,
            &self.links,
            &self.conflicts,
            &self.conflict_ids,
        )
            .transaction(|(outbox, ent, links, log, logged)| {
                for (a, (slot, sent_bytes, ekey)) in acks.iter().zip(&prepared) {
                    if outbox
                        .get(slot)?
                        .is_some_and(|v| v == sent_bytes.as_slice())
                    {
                        outbox.remove(slot)?;
                    }
                    let Some(v) = ent.get(ekey)? else {
                        continue;
                    };
                    let mut e =
                        entity_from(a.sent.entity, codec::decode_entity(&v, ids).map_err(abort)?)
                            .map_err(abort)?;
                    if let Some(r) = a.new_record {
                        *e.record_mut(r.side()) = Some(r.clone());
                        links.insert(keys::record(r), ekey)?;
                    }
                    for (field, value) in a.bases {
                        if !Entity::is_refusal_name(field) {
                            e.clear_refused(field);
                        }
                        e.bases.insert(field.clone(), value.clone());
                    }
                    ent.insert(
                        ekey,
                        codec::encode_entity(&stored_entity(&e), ids).map_err(abort)?,
                    )?;
                }
                for (entry, seq) in conflicts.iter().zip(seqs) {
                    log_once(log, logged, entry, *seq)?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })?;
        Ok(())
    }

    /// Puts a patch back with its attempt count raised (a transient failure), unless a newer
    /// merge replaced it meanwhile.
    pub fn patch_retry(&self, sent: &Patch) -> Result<(), StoreError> {
        let slot = keys::outbox(sent.record.kind, sent.entity);
        let sent_bytes = codec::encode(&StoredPatch::from(sent));
        let mut next = sent.clone();
        next.attempts += 1;
        let next_bytes = codec::encode(&StoredPatch::from(&next));
        self.outbox
            .compare_and_swap(slot, Some(sent_bytes), Some(next_bytes))?
            .ok();
        Ok(())
    }

    /// Drops a patch for good (a permanent rejection), logging why in the same transaction.
    pub fn patch_dropped(&self, sent: &Patch, why: &[ConflictEntry]) -> Result<(), StoreError> {
        let slot = keys::outbox(sent.record.kind, sent.entity);
        let seqs: Vec<u64> = why
            .iter()
            .map(|_| self.db.generate_id())
            .collect::<Result<_, _>>()?;
        (&self.outbox, &self.conflicts, &self.conflict_ids).transaction(
            |(outbox, conflicts, ids)| {
                outbox.remove(&slot)?;
                for (entry, seq) in why.iter().zip(&seqs) {
                    log_once(conflicts, ids, entry, *seq)?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            },
        )?;
        Ok(())
    }
}
