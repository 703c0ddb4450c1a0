//! What an auditor reads instead of ids: a person as their name and e-mail, a company as its
//! name, as the sides last showed them (the store keeps each record's current values).

use crate::model::engine_fields;
use crate::model::{ConflictEntry, EntityKind, RecordKind, RecordRef, Value};
use crate::store::{Store, StoreError};

/// A record's text field, as its side last showed it.
fn text(store: &Store, r: &RecordRef, field: &str) -> Result<Option<String>, StoreError> {
    Ok(store.record(r)?.and_then(|s| {
        s.fields.get(field).and_then(|o| match &o.value {
            Value::Text(t) if !t.trim().is_empty() => Some(t.trim().to_owned()),
            _ => None,
        })
    }))
}

/// A person or a company, from one of its records: `Jean Dupont <jean@exemple.fr>`,
/// `ACME SARL`; `None` when the store holds nothing to name it by.
pub fn of_record(store: &Store, r: &RecordRef) -> Result<Option<String>, StoreError> {
    if r.kind.entity_kind() == EntityKind::Company {
        return text(store, r, engine_fields::NAME);
    }
    let name: Vec<String> = ["firstname", "lastname"]
        .into_iter()
        .map(|f| text(store, r, f))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    let email = match text(store, r, engine_fields::EMAIL)? {
        Some(e) => Some(e),
        None => store.record(r)?.and_then(|s| s.email),
    };
    Ok(match (name.is_empty(), email) {
        (false, Some(e)) => Some(format!("{} <{e}>", name.join(" "))),
        (false, None) => Some(name.join(" ")),
        (true, Some(e)) => Some(format!("<{e}>")),
        (true, None) => None,
    })
}

/// Who a conflict entry is about: from its weavy record, else its Mautic one, else the
/// entity's id.
pub fn of_entry(store: &Store, e: &ConflictEntry) -> Result<String, StoreError> {
    for r in [&e.weavy.record, &e.mautic.record].into_iter().flatten() {
        if let Some(name) = of_record(store, r)? {
            return Ok(name);
        }
    }
    Ok(e.entity.to_string())
}

/// A person's company as the side holds it (a weavy `customer_ID`, the normalised name of a
/// Mautic contact's company), as its name: the customer's name, the Mautic company's.
pub fn company(store: &Store, side_record: &RecordRef, reference: &str) -> Option<String> {
    match side_record.kind {
        RecordKind::WeavyContact | RecordKind::WeavyEntrant => text(
            store,
            &RecordRef::new(RecordKind::WeavyCustomer, reference),
            engine_fields::NAME,
        )
        .ok()
        .flatten(),
        _ => store
            .records_by_company_name(reference)
            .ok()?
            .into_iter()
            .filter(|c| c.kind == RecordKind::MauticCompany)
            .find_map(|c| text(store, &c, engine_fields::NAME).ok().flatten()),
    }
}
