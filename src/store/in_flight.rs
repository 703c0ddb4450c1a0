//! Inserts that may have reached a side without fieldsync knowing: each is marked, with the
//! field and value its record can be found by, before it is sent, and unmarked once the side's
//! answer is stored. A mark found before an insert is sent means an earlier attempt's outcome
//! is unknown (its answer was lost, or fieldsync stopped after sending it): the record is
//! looked up by the mark first, and created only if it is not there.
//!
//! The mark outlives the patch it was made for: a newer merge that replaces the patch (the
//! record was edited meanwhile, its key with it) still finds the mark, which holds the value
//! that was sent, not the one the new patch would send.

use super::{Store, StoreError, codec, keys};
use crate::model::{EntityId, RecordKind};

/// How to find a record an insert may have created: a field (weavy key, Mautic alias) and
/// the value the insert gave it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Probe {
    pub field: String,
    pub value: String,
}

impl Store {
    /// Marks inserts as about to be sent, in one write.
    pub fn mark_in_flight(
        &self,
        marks: &[(RecordKind, EntityId, Probe)],
    ) -> Result<(), StoreError> {
        if marks.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (kind, entity, probe) in marks {
            // A mark already there holds what an earlier attempt sent: it stays.
            if self.in_flight.get(keys::outbox(*kind, *entity))?.is_none() {
                batch.insert(&keys::outbox(*kind, *entity), codec::encode(probe));
            }
        }
        self.in_flight.apply_batch(batch)?;
        Ok(())
    }

    /// The mark of an insert sent earlier whose outcome is not known.
    pub fn in_flight(
        &self,
        kind: RecordKind,
        entity: EntityId,
    ) -> Result<Option<Probe>, StoreError> {
        self.in_flight
            .get(keys::outbox(kind, entity))?
            .map(|v| codec::decode(&v, "in-flight mark"))
            .transpose()
    }

    /// Removes the marks of inserts whose outcome is now known (stored or refused).
    pub fn clear_in_flight(&self, slots: &[(RecordKind, EntityId)]) -> Result<(), StoreError> {
        if slots.is_empty() || self.in_flight.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (kind, entity) in slots {
            batch.remove(&keys::outbox(*kind, *entity));
        }
        self.in_flight.apply_batch(batch)?;
        Ok(())
    }

    /// How many inserts are marked (for `status`).
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_keeps_what_was_sent_first_until_cleared() {
        let s = Store::temporary().unwrap();
        let k = RecordKind::MauticCompany;
        let probe = |v: &str| Probe {
            field: "companyname".into(),
            value: v.into(),
        };
        assert_eq!(s.in_flight(k, EntityId(7)).unwrap(), None);
        s.mark_in_flight(&[(k, EntityId(7), probe("Acme"))])
            .unwrap();
        s.mark_in_flight(&[
            (k, EntityId(7), probe("Acme SA")),
            (k, EntityId(8), probe("Bolt")),
        ])
        .unwrap();
        assert_eq!(s.in_flight(k, EntityId(7)).unwrap(), Some(probe("Acme")));
        assert_eq!(s.in_flight(k, EntityId(8)).unwrap(), Some(probe("Bolt")));
        assert_eq!(
            s.in_flight(RecordKind::MauticContact, EntityId(7)).unwrap(),
            None
        );
        s.clear_in_flight(&[(k, EntityId(7))]).unwrap();
        assert_eq!(s.in_flight(k, EntityId(7)).unwrap(), None);
        assert_eq!(s.in_flight_len(), 1);
    }
}
