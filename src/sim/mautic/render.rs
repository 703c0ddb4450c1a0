//! How the simulator writes its answers: contacts and companies in Mautic's JSON (field
//! groups, `fields.all`, numbers that come as strings, empty groups as `[]`), PHP arrays that
//! become JSON lists or objects depending on their keys, and both error shapes.

use super::fields::{Catalog, FieldDef, Object, groups};
use super::state::{Company, Contact, ItemError};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;

/// Mautic's API date format: ISO 8601 with a `+00:00` offset.
pub fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn iso_opt(t: Option<DateTime<Utc>>) -> Json {
    t.map(|t| Json::String(iso(t))).unwrap_or(Json::Null)
}

/// A PHP array as `json_encode` writes it: a list when its keys are exactly 0..n-1, an object
/// otherwise. A batch answer with a failed item therefore has `contacts` as an object
/// (`{"0":..,"2":..}`) and, when all went well, as a list.
pub fn php_array(items: BTreeMap<usize, Json>) -> Json {
    if items.keys().copied().eq(0..items.len()) {
        Json::Array(items.into_values().collect())
    } else {
        Json::Object(items.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}

/// A field value as the API shows it (`CustomFieldsApiControllerTrait::fixNumbers`): points
/// as an integer; a number field as an integer (truncated) unless it has decimals
/// (`properties.scale`), then as a float; text as stored (MySQL gives strings), NULL when
/// unset.
fn shown(def: &FieldDef, v: Option<&Json>) -> Json {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Json::Null;
    };
    if def.field_type != "number" {
        return v.clone();
    }
    let n = v
        .as_f64()
        .or_else(|| v.as_str().and_then(|t| t.trim().parse().ok()));
    match (n, def.scale()) {
        (Some(n), None) => json!(n.trunc() as i64),
        (Some(n), Some(_)) => json!(n),
        (None, _) => v.clone(),
    }
}

/// `fields: {core: {...}, social: {...}, personal: [], ..., all: {...}}`.
fn fields_json(
    catalog: &Catalog,
    object: Object,
    id: u64,
    values: &BTreeMap<String, Json>,
) -> Json {
    let mut out = Map::new();
    for group in groups(object) {
        let mut entries = Map::new();
        for def in catalog.of(object).filter(|d| d.group == *group) {
            let value = shown(def, values.get(&def.alias));
            let normalized = match (def.field_type.as_str(), &value) {
                ("boolean", Json::Number(n)) => {
                    json!(if n.as_i64() == Some(1) { "Yes" } else { "No" })
                }
                _ => value.clone(),
            };
            entries.insert(
                def.alias.clone(),
                json!({
                    "id": def.id.to_string(),
                    "label": def.label,
                    "alias": def.alias,
                    "type": def.field_type,
                    "group": def.group,
                    "object": object.api_name(),
                    "is_fixed": if def.fixed { "1" } else { "0" },
                    "properties": "a:0:{}",
                    "default_value": def.default_value,
                    "value": value,
                    "normalizedValue": normalized,
                }),
            );
        }
        let group_json = if entries.is_empty() {
            Json::Array(Vec::new())
        } else {
            Json::Object(entries)
        };
        out.insert((*group).to_owned(), group_json);
    }
    let mut all = Map::new();
    all.insert("id".into(), json!(id));
    for def in catalog.of(object) {
        all.insert(def.alias.clone(), shown(def, values.get(&def.alias)));
    }
    out.insert("all".into(), Json::Object(all));
    Json::Object(out)
}

/// A contact as `GET /api/contacts/{id}` shows it.
pub fn contact_json(c: &Contact, catalog: &Catalog, tag_ids: &BTreeMap<String, u64>) -> Json {
    let dnc: Vec<Json> = c
        .dnc
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "reason": d.reason,
                "comments": d.comments,
                "channel": d.channel,
                "channelId": null,
                "dateAdded": iso(d.date_added),
            })
        })
        .collect();
    json!({
        "isPublished": true,
        "dateAdded": iso(c.date_added),
        "dateModified": iso_opt(c.date_modified),
        "createdBy": null,
        "createdByUser": null,
        "modifiedBy": null,
        "modifiedByUser": null,
        "id": c.id,
        "points": c.fields.get("points").and_then(Json::as_i64).unwrap_or(0),
        "color": "",
        "fields": fields_json(catalog, Object::Contact, c.id, &c.fields),
        "lastActive": c.fields.get("last_active").cloned().unwrap_or(Json::Null),
        "owner": null,
        "ipAddresses": [],
        "tags": c
            .tags
            .iter()
            .map(|t| json!({"id": tag_ids.get(t).copied().unwrap_or(0), "tag": t}))
            .collect::<Vec<_>>(),
        "utmtags": [],
        "stage": null,
        "dateIdentified": iso_opt(c.date_identified),
        "preferredProfileImage": "gravatar",
        "doNotContact": dnc,
        "frequencyRules": [],
    })
}

/// A company as `GET /api/companies/{id}` shows it.
pub fn company_json(c: &Company, catalog: &Catalog) -> Json {
    json!({
        "isPublished": true,
        "dateAdded": iso(c.date_added),
        "dateModified": iso_opt(c.date_modified),
        "createdBy": null,
        "createdByUser": null,
        "modifiedBy": null,
        "modifiedByUser": null,
        "id": c.id,
        "fields": fields_json(catalog, Object::Company, c.id, &c.fields),
        "owner": null,
        "score": 0,
    })
}

/// One row of `GET /api/contacts/{id}/companies`: database columns, all as strings.
pub fn contact_company_json(
    company: &Company,
    catalog: &Catalog,
    primary: bool,
    date: DateTime<Utc>,
) -> Json {
    let mut row = Map::new();
    row.insert("company_id".into(), json!(company.id.to_string()));
    row.insert(
        "date_associated".into(),
        json!(date.format("%Y-%m-%d %H:%M:%S").to_string()),
    );
    row.insert("is_primary".into(), json!(if primary { "1" } else { "0" }));
    for def in catalog.of(Object::Company) {
        let v = match company.fields.get(&def.alias) {
            None | Some(Json::Null) => Json::Null,
            Some(Json::String(s)) => Json::String(s.clone()),
            Some(other) => Json::String(other.to_string()),
        };
        row.insert(def.alias.clone(), v);
    }
    Json::Object(row)
}

/// An error answer: `{"errors":[{code, message, details, type}]}`
/// (`FetchCommonApiController::returnError`), or on old instances
/// `{"error":{"message", "code"}}`.
pub fn error_body(e: &ItemError, legacy: bool) -> Json {
    if legacy {
        json!({"error": {"message": e.message, "code": e.code}})
    } else {
        json!({"errors": [{"code": e.code, "message": e.message, "details": e.details, "type": null}]})
    }
}

/// One failed item of a batch: the form error object, or for a record not found
/// `{"message", "code", "type": "api"}` (`FetchCommonApiController::setBatchError`).
pub fn batch_error(e: &ItemError) -> Json {
    if e.batch_api_error {
        json!({"message": e.message, "code": e.code, "type": "api"})
    } else {
        json!({"code": e.code, "message": e.message, "details": e.details, "type": null})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_arrays_become_lists_only_when_dense() {
        let dense: BTreeMap<usize, Json> = [(0, json!(1)), (1, json!(2))].into();
        assert_eq!(php_array(dense), json!([1, 2]));
        let holey: BTreeMap<usize, Json> = [(0, json!(1)), (2, json!(2))].into();
        assert_eq!(php_array(holey), json!({"0": 1, "2": 2}));
        let only_one: BTreeMap<usize, Json> = [(1, json!("x"))].into();
        assert_eq!(php_array(only_one), json!({"1": "x"}));
        assert_eq!(php_array(BTreeMap::new()), json!([]));
    }

    #[test]
    fn empty_groups_are_lists_and_numbers_are_fixed() {
        let mut catalog = Catalog::default();
        catalog.add_custom(
            Object::Contact,
            "score",
            "number",
            super::super::fields::CustomField::standard(),
        );
        let now = chrono::Utc::now();
        let mut fields = BTreeMap::new();
        fields.insert("points".to_owned(), json!(0));
        fields.insert("email".to_owned(), json!("a@b.fr"));
        fields.insert("score".to_owned(), json!(3.7));
        fields.insert("attribution".to_owned(), json!(3.0));
        let c = Contact {
            id: 7,
            fields,
            date_added: now,
            date_modified: None,
            date_identified: None,
            dnc: vec![],
            companies: vec![],
            tags: Default::default(),
        };
        let j = contact_json(&c, &catalog, &BTreeMap::new());
        assert_eq!(j["fields"]["personal"], json!([]));
        assert_eq!(j["fields"]["all"]["points"], json!(0));
        assert_eq!(
            j["fields"]["all"]["score"],
            json!(3),
            "no scale: an integer"
        );
        assert_eq!(
            j["fields"]["all"]["attribution"],
            json!(3.0),
            "scale 2: a float"
        );
        assert_eq!(j["fields"]["all"]["email"], json!("a@b.fr"));
        assert_eq!(j["fields"]["all"]["city"], Json::Null);
        assert_eq!(j["dateModified"], Json::Null);
        assert_eq!(j["fields"]["core"]["email"]["value"], json!("a@b.fr"));
    }
}
