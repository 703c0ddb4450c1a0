//! From a side's record to fieldsync's view of it, and back: which mapped field is which
//! side field, the identity keys, and the two internal fields the engine keeps beside the
//! mappings.
//!
//! - [`RELATION`] (people): the person's company, as the side holds it (a weavy contact's
//!   `customer_ID`; the normalised name of a Mautic contact's primary company, from its
//!   `company` field). The merge translates both into the company's entity.
//! - [`IDCRM`] (Mautic companies, with `company_key = "idcrm"`): the weavy customer id held
//!   in the Mautic company, which fieldsync fills in.

use super::report::CycleReport;
use crate::config::Config;
use crate::connector::RemoteRecord;
use crate::identity::{self, CompanyKeyKind};
use crate::model::engine_fields;
use crate::model::{EntityKind, RecordKind, Value};
use crate::store::Sighting;

/// The internal field holding a person's company.
pub const RELATION: &str = crate::model::engine_fields::COMPANY;
/// The internal field holding a Mautic company's IDCRM.
pub const IDCRM: &str = crate::model::engine_fields::IDCRM;
/// The weavy field holding a contact's company.
pub const WEAVY_COMPANY_FIELD: &str = "customer_ID";
/// The Mautic contact field holding its primary company's name.
pub const MAUTIC_COMPANY_FIELD: &str = "company";

/// The id of the weavy customer fieldsync creates for Mautic company `mautic_id`: chosen,
/// so that a lost answer never creates it twice. With `company_key = "idcrm"`, a Mautic
/// company whose IDCRM is empty is keyed by it: the customer created for it is the same
/// company, and its id is filled into the IDCRM.
pub fn weavy_company_id(mautic_id: &str) -> String {
    format!("wm-co-{mautic_id}")
}

/// A pulled record as the store ingests it; `None` for a Mautic anonymous visitor (never
/// synced, counted). A person without a valid e-mail or a company without a key is still
/// ingested (if it is already linked, its other fields keep syncing); the merge skips it when
/// it is not linked.
pub fn sighting(config: &Config, r: &RemoteRecord, report: &mut CycleReport) -> Option<Sighting> {
    if r.anonymous {
        report.skipped_anonymous += 1;
        return None;
    }
    let mut fields = Vec::new();
    let limits = config.value_limits();
    for m in config.mappings(r.kind) {
        let Some(code) = m.code(r.kind) else { continue };
        let Some(raw) = r.fields.get(code) else {
            continue;
        };
        // A refused value is never observed, so it can never win a merge nor be written.
        match raw
            .clone()
            .coerce_within(m.field_type, &limits)
            .and_then(|v| check_email(&m.name, v))
        {
            Ok(v) => fields.push((m.name.clone(), v)),
            Err(e) => {
                report.invalid_values += 1;
                report.error(format!(
                    "{} {}: field {} ({code}) skipped: {e}",
                    r.kind, r.id, m.name
                ));
            }
        }
    }
    let raw_text = |code: &str| match r.fields.get(code) {
        Some(Value::Text(s)) => Some(s.clone()),
        Some(Value::Blank) | None => None,
        Some(other) => Some(other.canonical()),
    };
    let mut s = Sighting {
        record: crate::model::RecordRef::new(r.kind, r.id.clone()),
        modified_at: r.modified_at,
        email: None,
        company_key: None,
        company_name: None,
        company_ref: None,
        fields,
    };
    match r.kind.entity_kind() {
        EntityKind::Person => {
            let email_code = config
                .person_fields
                .iter()
                .find(|m| m.name == engine_fields::EMAIL)
                .and_then(|m| m.code(r.kind))
                .unwrap_or("email");
            s.email = raw_text(email_code).and_then(|e| identity::normalize_email(&e));
            if config.sync.company_relation {
                let relation = match r.kind {
                    RecordKind::WeavyContact => raw_text(WEAVY_COMPANY_FIELD)
                        .map(|id| id.trim().to_owned())
                        .filter(|id| !id.is_empty()),
                    RecordKind::MauticContact => {
                        raw_text(MAUTIC_COMPANY_FIELD).and_then(|n| identity::normalize_name(&n))
                    }
                    _ => None,
                };
                if matches!(r.kind, RecordKind::WeavyContact | RecordKind::MauticContact) {
                    s.fields.push((
                        RELATION.to_owned(),
                        relation.map_or(Value::Blank, Value::Text),
                    ));
                }
            }
        }
        EntityKind::Company => {
            let mapped = |name: &str| {
                s.fields
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, v)| v.as_text().map(str::to_owned))
            };
            s.company_name = mapped(engine_fields::NAME).and_then(|n| identity::normalize_name(&n));
            let key_kind = config.sync.company_key;
            s.company_key = match key_kind {
                CompanyKeyKind::Name => s.company_name.clone(),
                CompanyKeyKind::Siret => mapped(&config.sync.siret_field)
                    .and_then(|v| identity::company_key(key_kind, &v)),
                CompanyKeyKind::Idcrm => match r.kind {
                    RecordKind::WeavyCustomer => identity::company_key(key_kind, &r.id),
                    _ => raw_text(&config.sync.idcrm_field)
                        .and_then(|v| identity::company_key(key_kind, &v))
                        .or_else(|| {
                            config
                                .sync
                                .create_weavy_companies
                                .then(|| identity::company_key(key_kind, &weavy_company_id(&r.id)))
                                .flatten()
                        }),
                },
            };
            if key_kind == CompanyKeyKind::Idcrm && r.kind == RecordKind::MauticCompany {
                s.fields.push((
                    IDCRM.to_owned(),
                    raw_text(&config.sync.idcrm_field).map_or(Value::Blank, Value::Text),
                ));
            }
        }
    }
    // The internal fields (a person's company, the IDCRM) obey the same limits.
    s.fields.retain(|(name, v)| match v.refusal(&limits) {
        None => true,
        Some(why) => {
            report.invalid_values += 1;
            report.error(format!("{} {}: field {name} skipped: {why}", r.kind, r.id));
            false
        }
    });
    s.fields.sort_by(|a, b| a.0.cmp(&b.0));
    Some(s)
}

/// The mapping named `email` (people and companies) holds an e-mail address: a value that is
/// not one is refused like a value of the wrong type (Mautic would refuse it, and merging on
/// it would be wrong).
fn check_email(name: &str, v: Value) -> Result<Value, crate::model::CoerceError> {
    match &v {
        Value::Text(s)
            if name == engine_fields::EMAIL && identity::normalize_email(s).is_none() =>
        {
            Err(crate::model::CoerceError {
                raw: crate::connector::http::snippet(s.as_bytes()),
                expected: crate::model::FieldType::Text,
                why: Some(crate::model::Refusal::NotAnEmail),
            })
        }
        _ => Ok(v),
    }
}
