//! What a cycle learns about the two servers before it merges, from their field lists and
//! their answers: the Mautic version and what it implies, the precision at which each mapped
//! field is kept on both sides, and the Mautic fields that identify a contact.
//!
//! The merge compares two values at the precision the coarser side keeps (see
//! [`Precision`]): a value written and read back is then the value written, so no write and
//! no conflict entry repeats from cycle to cycle.

use super::FieldLists;
use crate::config::Config;
use crate::model::{EntityKind, FieldType, Precision, RecordKind};
use std::collections::HashMap;

/// A Mautic contact field flagged "Is unique identifier", with the mapping that writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueField {
    /// The Mautic alias.
    pub alias: String,
    /// The canonical name of the mapping.
    pub field: String,
}

/// What fieldsync knows of the two servers during a cycle.
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    /// The `Mautic-Version` the instance announced.
    pub mautic_version: Option<String>,
    /// Mautic keeps date-times to the minute: 5.1's `RequestTrait::prepareParametersFromRequest`
    /// formats them `Y-m-d H:i`. Assumed for 5.x and older (and when the version is not
    /// known); also set when Mautic answers a write with the seconds gone.
    pub mautic_minutes: bool,
    /// By table kind and canonical field.
    precision: HashMap<(EntityKind, String), Precision>,
    /// The mapped Mautic contact fields that identify a contact, the e-mail included.
    pub unique_contact_fields: Vec<UniqueField>,
}

/// Whether a Mautic version keeps date-times to the minute: 5.x and older do; a version that
/// cannot be read is taken as one that does (comparing to the minute can hide a change of
/// seconds; comparing to the second against a server that drops them would write the value
/// again at every cycle).
pub fn mautic_keeps_minutes(version: Option<&str>) -> bool {
    let major = version
        .and_then(|v| v.trim().split('.').next())
        .and_then(|m| m.trim().parse::<u32>().ok());
    major.is_none_or(|m| m <= 5)
}

impl ServerFacts {
    /// What the field lists and the version say.
    pub fn learn(config: &Config, fields: &FieldLists, mautic_version: Option<String>) -> Self {
        let mautic_minutes = mautic_keeps_minutes(mautic_version.as_deref());
        let weavy_zone = config.time_zone();
        let mut precision = HashMap::new();
        for kind in config.kinds() {
            let Some(list) = fields.get(&kind) else {
                continue;
            };
            for m in config.mappings(kind) {
                let Some(code) = m.code(kind) else { continue };
                let Some(info) = list.iter().find(|f| f.code == code) else {
                    continue;
                };
                let side = match kind.side() {
                    crate::model::Side::Mautic => Precision {
                        minutes: mautic_minutes
                            && info.field_type == FieldType::DateTime
                            && info.writable,
                        decimals: info.decimals,
                        wall_zone: None,
                    },
                    // weavy keeps a date-time as a wall time of the project's zone, in a
                    // date-time field or in a text one (it is written and read back as the
                    // mapping's type, whatever the Dictionary calls the field).
                    crate::model::Side::Weavy => Precision {
                        wall_zone: (m.field_type == FieldType::DateTime).then_some(weavy_zone),
                        ..Precision::EXACT
                    },
                };
                let key = (kind.entity_kind(), m.name.clone());
                let known = precision.get(&key).copied().unwrap_or(Precision::EXACT);
                precision.insert(key, side.coarsest(known));
            }
        }
        let unique_contact_fields = fields
            .get(&RecordKind::MauticContact)
            .map(|list| {
                list.iter()
                    .filter(|f| f.unique)
                    .filter_map(|f| {
                        config
                            .person_fields
                            .iter()
                            .find(|m| m.code(RecordKind::MauticContact) == Some(f.code.as_str()))
                            .map(|m| UniqueField {
                                alias: f.code.clone(),
                                field: m.name.clone(),
                            })
                    })
                    .collect()
            })
            .unwrap_or_default();
        ServerFacts {
            mautic_version,
            mautic_minutes,
            precision,
            unique_contact_fields,
        }
    }

    /// The precision a field is compared at.
    pub fn precision(&self, kind: EntityKind, field: &str) -> Precision {
        self.precision
            .get(&(kind, field.to_owned()))
            .copied()
            .unwrap_or(Precision::EXACT)
    }

    /// Mautic answered a write of this date-time field with its seconds gone: from now on,
    /// the field compares to the minute.
    pub fn learn_minutes(&mut self, kind: EntityKind, field: &str) {
        self.mautic_minutes = true;
        self.precision
            .entry((kind, field.to_owned()))
            .or_insert(Precision::EXACT)
            .minutes = true;
    }

    /// Whether a canonical person field is a Mautic unique identifier other than the e-mail.
    pub fn unique_alias_of(&self, field: &str) -> Option<&str> {
        self.unique_contact_fields
            .iter()
            .find(|u| u.field == field)
            .map(|u| u.alias.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mautic_5_and_unknown_versions_keep_minutes() {
        assert!(mautic_keeps_minutes(Some("5.1.0")));
        assert!(mautic_keeps_minutes(Some("4.4.13")));
        assert!(mautic_keeps_minutes(None));
        assert!(mautic_keeps_minutes(Some("garbage")));
        assert!(!mautic_keeps_minutes(Some("6.0.1")));
        assert!(!mautic_keeps_minutes(Some("7.0.0")));
    }
}
