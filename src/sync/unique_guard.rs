//! The unique-identifier guard: no value of a Mautic unique identifier field (a field an
//! admin flagged "Is unique identifier": the e-mail by default, a phone, a SIRET...) is written
//! to a Mautic contact, nor a contact created with it, when another Mautic contact holds it or
//! another write of the same cycle gives it to another contact.
//!
//! Mautic takes two contacts that share such a value for one: a new contact carrying it
//! updates the contact that holds it instead of being created (the wrong person's record is
//! overwritten, `LeadModel::checkForDuplicateContact`, OR by default), and an edit giving it to
//! a second contact is refused, or, where the validator lets it through, merges the two and
//! deletes one (`LeadApiController::preSaveEntity`, `ContactMerger`). The guard refuses the
//! field, keeps the rest of the write, and logs the refusal (`unique_collision`).
//!
//! The e-mail has its own guard in the merge (against the store's e-mail index, which knows
//! every Mautic contact) and before each e-mail update (a live look-up): this one covers the
//! other unique fields, which the store does not index, with one look-up per batch.

use crate::connector::ConnectorError;
use crate::connector::mautic::MauticClient;
use crate::model::{EntityId, RecordKind};
use std::collections::{BTreeMap, HashMap};

/// A unique value a write would give a Mautic contact.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    /// Which write of the batch.
    pub index: usize,
    pub entity: EntityId,
    /// The contact written, for an update; `None` for an insert.
    pub target: Option<String>,
    pub alias: String,
    pub value: String,
}

/// A refused value, and who holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub index: usize,
    pub alias: String,
    pub value: String,
    /// The Mautic contacts that hold it.
    pub holders: Vec<String>,
    /// Another write of this cycle gives it to another person (this entity).
    pub claimed_by: Option<EntityId>,
}

/// The values this cycle's writes gave, by (alias, value as Mautic compares it).
#[derive(Debug, Default)]
pub struct Claims {
    by_value: HashMap<(String, String), EntityId>,
}

/// A value as Mautic's unique index compares it: trimmed, case-insensitive.
fn key(alias: &str, value: &str) -> (String, String) {
    (alias.to_owned(), value.trim().to_lowercase())
}

/// Finds the refusals among `wanted`: values another Mautic contact holds (one look-up per
/// field), or that an earlier write of the cycle (or of this batch) gave another person.
/// The values let through are claimed for their entities.
pub async fn refusals(
    mautic: &MauticClient,
    wanted: Vec<Wanted>,
    claims: &mut Claims,
) -> Result<Vec<Refusal>, ConnectorError> {
    let mut by_alias: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for w in &wanted {
        by_alias
            .entry(w.alias.as_str())
            .or_default()
            .push(w.value.trim().to_owned());
    }
    let mut holders: HashMap<(String, String), Vec<String>> = HashMap::new();
    for (alias, mut values) in by_alias {
        values.sort();
        values.dedup();
        for r in mautic
            .find_any(RecordKind::MauticContact, alias, &values)
            .await?
        {
            if let Some(v) = r.get(alias).as_text() {
                holders.entry(key(alias, v)).or_default().push(r.id.clone());
            }
        }
    }
    let mut out = Vec::new();
    for w in wanted {
        let k = key(&w.alias, &w.value);
        let others: Vec<String> = holders
            .get(&k)
            .into_iter()
            .flatten()
            .filter(|id| Some(id.as_str()) != w.target.as_deref())
            .cloned()
            .collect();
        let claimed_by = claims.by_value.get(&k).copied().filter(|e| *e != w.entity);
        if others.is_empty() && claimed_by.is_none() {
            claims.by_value.insert(k, w.entity);
            continue;
        }
        out.push(Refusal {
            index: w.index,
            alias: w.alias,
            value: w.value,
            holders: others,
            claimed_by,
        });
    }
    Ok(out)
}
