//! What landed: before an insert is sent again after an attempt whose outcome is unknown (its
//! answer was lost: a timeout, a broken answer, a 5xx; or fieldsync stopped after sending it),
//! the record it would create is looked up, and found, it is taken as the insert's record:
//! the write becomes an update of it. Never guess that a write did not happen.
//!
//! Each insert is marked in the store before it is sent ([`crate::store::Probe`]: the field and
//! value to find its record by) and unmarked once its answer is stored; a mark found when the
//! insert is about to be sent is such an attempt. How a record is found:
//! - weavy: by the caller-chosen key (`wm-<mautic id>`), read directly;
//! - Mautic contacts: by the e-mail (Mautic itself would match a resent contact by it, but not
//!   when the e-mail changed in between);
//! - Mautic companies: by the company key (name, SIRET field or IDCRM field). Mautic 5 creates
//!   a company for every `batch/new` item, or refuses a taken name (422), so a resent company
//!   would be a second company or a refusal.

use super::{Engine, SyncError};
use crate::connector::{Connector, RecordWrite};
use crate::identity::CompanyKeyKind;
use crate::model::engine_fields;
use crate::model::{EntityId, RecordKind, RecordRef, Side};
use crate::store::Probe;

/// How the record an insert creates can be found again: the field and the value it sends.
pub fn probe(engine: &Engine, kind: RecordKind, write: &RecordWrite) -> Option<Probe> {
    let value_of = |code: &str| {
        write
            .fields
            .iter()
            .find(|(c, _)| c == code)
            .and_then(|(_, v)| (!v.is_blank()).then(|| v.canonical()))
    };
    let config = &engine.config;
    let field = match kind {
        RecordKind::WeavyCustomer | RecordKind::WeavyContact | RecordKind::WeavyEntrant => {
            let id = write.id.clone()?;
            return Some(Probe {
                field: format!("{}_ID", kind.api_name()),
                value: id,
            });
        }
        RecordKind::MauticContact => config
            .person_fields
            .iter()
            .find(|m| m.name == engine_fields::EMAIL)
            .and_then(|m| m.code(kind))?
            .to_owned(),
        RecordKind::MauticCompany => match config.sync.company_key {
            CompanyKeyKind::Name => config
                .company_fields
                .iter()
                .find(|m| m.name == engine_fields::NAME)
                .and_then(|m| m.code(kind))?
                .to_owned(),
            CompanyKeyKind::Siret => config
                .company_fields
                .iter()
                .find(|m| m.name == config.sync.siret_field)
                .and_then(|m| m.code(kind))?
                .to_owned(),
            CompanyKeyKind::Idcrm => config.sync.idcrm_field.clone(),
        },
    };
    let value = value_of(&field)?;
    Some(Probe { field, value })
}

/// The record an earlier attempt of this insert created, if it is there: its id. A record
/// already linked to another entity is not this insert's.
pub async fn find(
    engine: &Engine,
    kind: RecordKind,
    entity: EntityId,
    probe: &Probe,
) -> Result<Option<String>, SyncError> {
    let candidates: Vec<String> = match kind.side() {
        Side::Weavy => engine
            .weavy
            .get(kind, &probe.value)
            .await?
            .map(|r| r.id)
            .into_iter()
            .collect(),
        Side::Mautic => engine
            .mautic
            .find_by(kind, &probe.field, &probe.value)
            .await?
            .into_iter()
            .filter(|r| !r.anonymous)
            .map(|r| r.id)
            .collect(),
    };
    for id in candidates {
        let owner = engine.store.entity_of(&RecordRef::new(kind, id.clone()))?;
        if owner.is_none_or(|e| e == entity) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}
