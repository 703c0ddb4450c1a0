//! Reading Mautic's answers, whatever shape the instance gives them: records keyed by id in
//! an object or in a list, `total` as a number or a string, empty field groups as `[]`,
//! numbers as strings, batch answers whose `contacts`, `statusCodes` and `errors` are JSON
//! lists or objects (PHP arrays), both error shapes, and the OAuth2 token answer. Pure code,
//! unit-tested here and in `tests/robustness.rs`, fuzzed in `fuzz/`.

use crate::connector::{DNC_BOUNCED, DNC_UNSUBSCRIBED, ErrorKind, FieldInfo, RemoteRecord, Secret};
use crate::model::{FieldType, RecordKind, Value, parse_datetime};
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// What the connector needs to know about one field to read and write its values.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMeta {
    pub field_type: FieldType,
    /// Mautic's type name (`multiselect`, `email`...).
    pub raw_type: String,
    /// A unique identifier (`isUniqueIdentifier`): Mautic finds "the same" contact by it, and
    /// merges two contacts that come to share it.
    pub unique: bool,
}

impl FieldMeta {
    /// A field of Mautic's type `raw_type`, not a unique identifier.
    pub fn of(raw_type: &str) -> Self {
        FieldMeta {
            field_type: model_type(raw_type),
            raw_type: raw_type.to_owned(),
            unique: false,
        }
    }
}

/// A table's fields by alias.
pub type FieldTypes = HashMap<String, FieldMeta>;

/// The contact fields a fresh Mautic ships (4 to 6); any other alias is a custom field.
pub const SHIPPED_CONTACT_FIELDS: [&str; 29] = [
    "title",
    "firstname",
    "lastname",
    "company",
    "position",
    "email",
    "mobile",
    "phone",
    "points",
    "fax",
    "address1",
    "address2",
    "city",
    "state",
    "zipcode",
    "country",
    "preferred_locale",
    "timezone",
    "last_active",
    "attribution_date",
    "attribution",
    "website",
    "facebook",
    "foursquare",
    "googleplus",
    "instagram",
    "linkedin",
    "skype",
    "twitter",
];

/// The company fields a fresh Mautic ships.
pub const SHIPPED_COMPANY_FIELDS: [&str; 15] = [
    "companyaddress1",
    "companyaddress2",
    "companyemail",
    "companyphone",
    "companycity",
    "companystate",
    "companyzipcode",
    "companycountry",
    "companyname",
    "companywebsite",
    "companynumber_of_employees",
    "companyfax",
    "companyannual_revenue",
    "companyindustry",
    "companydescription",
];

/// The model type a Mautic field type reads as.
pub fn model_type(raw: &str) -> FieldType {
    match raw {
        "number" => FieldType::Number,
        "boolean" => FieldType::Boolean,
        "date" => FieldType::Date,
        "datetime" => FieldType::DateTime,
        "multiselect" => FieldType::List,
        _ => FieldType::Text,
    }
}

/// One page of `GET /api/fields/{object}`: `{"total": n, "fields": [...]}` (a list, or an
/// object keyed by id on some versions). The list is paged like any other
/// (`FetchCommonApiController::getEntitiesAction`: 30 fields unless `limit` says otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldsPage {
    pub fields: Vec<FieldInfo>,
    /// The answer's `total`, when readable: how many fields the object has in all.
    pub total: Option<u64>,
    /// Entries in the answer, readable or not: how far the next page starts.
    pub rows: usize,
}

/// Reads one page of a field list.
pub fn fields(body: &[u8], kind: RecordKind) -> Result<FieldsPage, String> {
    let v: Json = crate::connector::http::json(body).map_err(|e| format!("fields answer: {e}"))?;
    let shipped: &[&str] = match kind {
        RecordKind::MauticCompany => &SHIPPED_COMPANY_FIELDS,
        _ => &SHIPPED_CONTACT_FIELDS,
    };
    let list = v.get("fields").ok_or("the fields answer has no 'fields'")?;
    let entries = items(list);
    let mut out = Vec::new();
    for f in entries.values() {
        let Some(alias) = f.get("alias").and_then(Json::as_str) else {
            continue;
        };
        let raw_type = f.get("type").and_then(Json::as_str).unwrap_or("text");
        // `CustomFieldsApiControllerTrait::fixNumbers`: a number field without a `scale`
        // shows `(int) $value`, `points` always; one with a scale shows the float.
        let decimals = (raw_type == "number").then(|| {
            let scale = f
                .get("properties")
                .and_then(|p| p.get("scale"))
                .and_then(loose_u64)
                .unwrap_or(0);
            if alias == "points" {
                0
            } else {
                scale.min(u64::from(u8::MAX)) as u8
            }
        });
        out.push(FieldInfo {
            code: alias.to_owned(),
            label: f
                .get("label")
                .and_then(Json::as_str)
                .unwrap_or(alias)
                .to_owned(),
            raw_type: raw_type.to_owned(),
            field_type: model_type(raw_type),
            custom: !shipped.contains(&alias),
            writable: true,
            required: truthy(f.get("isRequired")),
            unique: truthy(f.get("isUniqueIdentifier")) || truthy(f.get("isUniqueIdentifer")),
            decimals,
        });
    }
    Ok(FieldsPage {
        fields: out,
        total: v.get("total").and_then(loose_u64),
        rows: entries.len(),
    })
}

/// The read-only pseudo-fields a contact carries: the dates of its e-mail Do Not Contact
/// entries.
pub fn dnc_pseudo_fields() -> [FieldInfo; 2] {
    let f = |code: &str, label: &str| FieldInfo {
        code: code.to_owned(),
        label: label.to_owned(),
        raw_type: "datetime".to_owned(),
        field_type: FieldType::DateTime,
        custom: false,
        writable: false,
        required: false,
        unique: false,
        decimals: None,
    };
    [
        f(DNC_BOUNCED, "Do Not Contact: bounced (NPAI) date"),
        f(DNC_UNSUBSCRIBED, "Do Not Contact: unsubscribed date"),
    ]
}

/// PHP's `!empty($v)`: how Mautic's controllers test a flag or an answer such as
/// `{"success": 1}`.
pub fn php_truthy(v: Option<&Json>) -> bool {
    match v {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(Json::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
        Some(Json::String(s)) => !(s.is_empty() || s == "0"),
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::Object(o)) => !o.is_empty(),
    }
}

fn truthy(v: Option<&Json>) -> bool {
    match v {
        Some(Json::Bool(b)) => *b,
        Some(Json::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
        Some(Json::String(s)) => matches!(s.as_str(), "1" | "true"),
        _ => false,
    }
}

/// The items of a PHP array serialized as a JSON list or object, by index (or by key when
/// the keys are ids). Anything else is empty.
pub fn items(v: &Json) -> BTreeMap<u64, &Json> {
    match v {
        Json::Array(a) => a.iter().enumerate().map(|(i, x)| (i as u64, x)).collect(),
        Json::Object(m) => m
            .iter()
            .enumerate()
            .map(|(i, (k, x))| (k.trim().parse().unwrap_or(i as u64), x))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// A whole number Mautic may write as a number or a string. A negative, fractional or
/// out-of-range one is none: read as an id, `47.9` or `-1` would name another record.
pub fn loose_u64(v: &Json) -> Option<u64> {
    match v {
        Json::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..18_446_744_073_709_551_615.0).contains(f))
                .map(|f| f as u64)
        }),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A page of a list call.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The answer's `total`, when it has a readable one.
    pub total: Option<u64>,
    /// The records, by id ascending.
    pub records: Vec<RemoteRecord>,
    /// Rows in the answer, readable or not: whether the page was full.
    pub rows: usize,
    /// The largest id in the answer, readable record or not: where the next page starts.
    pub max_id: Option<u64>,
}

/// `{"total": "12", "contacts": {"47": {...}}}` (or `[]`, or `{}`). A row that does not read
/// as a record (no id, no date) is skipped with a warning naming it, so one odd record never
/// stops a pull; paging still moves past it.
pub fn page(body: &[u8], key: &str, kind: RecordKind, types: &FieldTypes) -> Result<Page, String> {
    let v: Json = super::slim::answer(body, key).map_err(|e| format!("list answer: {e}"))?;
    let list = v
        .get(key)
        .ok_or_else(|| format!("the list answer has no '{key}'"))?;
    let rows = items(list);
    let mut records = Vec::with_capacity(rows.len());
    let mut max_id = None;
    for row in rows.values() {
        max_id = max_id.max(row.get("id").and_then(loose_u64));
        match record(kind, row, types) {
            Ok(r) => records.push(r),
            Err(m) => tracing::warn!("a {kind} row was skipped: {m}"),
        }
    }
    records.sort_by_key(|r| r.id.parse::<u64>().unwrap_or(u64::MAX));
    Ok(Page {
        total: v.get("total").and_then(loose_u64),
        records,
        rows: rows.len(),
        max_id,
    })
}

/// One contact or company as Mautic shows it, into a [`RemoteRecord`]. Values come from
/// `fields.all`, typed by the field list; a value that does not read as its type stays text.
pub fn record(kind: RecordKind, v: &Json, types: &FieldTypes) -> Result<RemoteRecord, String> {
    let id = v
        .get("id")
        .and_then(loose_u64)
        .ok_or("a record without a numeric id")?
        .to_string();
    let date = |k: &str| v.get(k).and_then(Json::as_str).and_then(parse_datetime);
    let modified_at = date("dateModified")
        .or_else(|| date("dateAdded"))
        .ok_or_else(|| format!("record {id} has neither dateModified nor dateAdded"))?;
    let mut fields = BTreeMap::new();
    if let Some(all) = v.get("fields").and_then(|f| f.get("all")) {
        for (alias, raw) in all.as_object().into_iter().flatten() {
            if alias == "id" {
                continue;
            }
            fields.insert(alias.clone(), typed(raw, types.get(alias)));
        }
    }
    let mut anonymous = false;
    if kind == RecordKind::MauticContact {
        let dnc_date = |reason: u64| -> Value {
            items(v.get("doNotContact").unwrap_or(&Json::Null))
                .into_values()
                .filter(|d| {
                    d.get("channel")
                        .and_then(Json::as_str)
                        .is_none_or(|c| c == "email")
                        && d.get("reason").and_then(loose_u64) == Some(reason)
                })
                .filter_map(|d| d.get("dateAdded").and_then(Json::as_str))
                .filter_map(parse_datetime)
                .max()
                .map(Value::DateTime)
                .unwrap_or(Value::Blank)
        };
        fields.insert(DNC_BOUNCED.to_owned(), dnc_date(2));
        fields.insert(DNC_UNSUBSCRIBED.to_owned(), dnc_date(1));
        let no_email = fields.get("email").is_none_or(Value::is_blank);
        let identified = v.get("dateIdentified").is_some_and(|d| !d.is_null());
        anonymous = no_email && !identified;
    }
    Ok(RemoteRecord {
        kind,
        id,
        modified_at,
        fields,
        anonymous,
    })
}

/// A raw value read as its field's type. Never fails: what does not read stays text.
pub fn typed(raw: &Json, meta: Option<&FieldMeta>) -> Value {
    let text = match raw {
        Json::Null => return Value::Blank,
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        Json::Bool(b) => (if *b { "1" } else { "0" }).to_owned(),
        Json::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect::<Vec<_>>()
            .join("|"),
        Json::Object(_) => raw.to_string(),
    };
    let ty = meta.map(|m| m.field_type).unwrap_or_default();
    if text.trim().is_empty() {
        return Value::Blank;
    }
    match ty {
        FieldType::Text => Value::Text(text),
        FieldType::Number => match raw {
            Json::Number(n) => n.as_f64().map(Value::Number).unwrap_or(Value::Text(text)),
            _ => Value::Text(text.clone())
                .coerce(FieldType::Number)
                .unwrap_or(Value::Text(text)),
        },
        // Mautic's multiselect separator is `|` only: a comma belongs to the option.
        FieldType::List => Value::List(
            text.split('|')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        other => Value::Text(text.clone())
            .coerce(other)
            .unwrap_or(Value::Text(text)),
    }
}

/// The longest token lifetime believed: a year. A larger `expires_in` would overflow the
/// renewal time.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(31_536_000);

/// An OAuth2 token answer: `{"access_token", "expires_in", "token_type"}` -> the token and
/// its lifetime (3600 s when not said, at most [`MAX_TOKEN_LIFETIME`]). Errors never quote the
/// answer: it holds the token.
pub fn token(body: &[u8]) -> Result<(Secret, Duration), ErrorKind> {
    let v: Json = crate::connector::http::json(body).map_err(|_| {
        ErrorKind::Decode("the token answer is not JSON (is the URL a Mautic?)".into())
    })?;
    let Some(value) = v
        .get("access_token")
        .and_then(Json::as_str)
        .filter(|t| !t.trim().is_empty())
    else {
        return Err(ErrorKind::Decode(
            "the token answer has no access_token".into(),
        ));
    };
    if value
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || !c.is_ascii())
    {
        return Err(ErrorKind::Decode(
            "the access_token of the token answer is not a printable ASCII token".into(),
        ));
    }
    let expires_in = v
        .get("expires_in")
        .and_then(loose_u64)
        .map_or(Duration::from_secs(3600), Duration::from_secs)
        .min(MAX_TOKEN_LIFETIME);
    Ok((Secret::new(value), expires_in))
}

/// A batch answer, by item index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchAnswer {
    pub records: BTreeMap<u64, Json>,
    pub codes: BTreeMap<u64, u16>,
    /// Each failed item's message.
    pub errors: BTreeMap<u64, String>,
    /// Each failed item's field errors (`details: {"alias": ["message"]}`), when the form
    /// named the fields it refused.
    pub fields: BTreeMap<u64, Vec<(String, String)>>,
}

/// `{"contacts": {idx: ...} | [...], "statusCodes": ..., "errors": ...}`.
pub fn batch(body: &[u8], key: &str) -> Result<BatchAnswer, String> {
    let v: Json = super::slim::answer(body, key).map_err(|e| format!("batch answer: {e}"))?;
    let records = items(v.get(key).unwrap_or(&Json::Null))
        .into_iter()
        .map(|(k, r)| (k, r.clone()))
        .collect();
    let codes = items(
        v.get("statusCodes")
            .ok_or("the batch answer has no statusCodes")?,
    )
    .into_iter()
    // A code that is not an HTTP status is no code (65736 must not read as 200).
    .filter_map(|(k, c)| {
        loose_u64(c)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (100..600).contains(c))
            .map(|c| (k, c))
    })
    .collect();
    let error_items = items(v.get("errors").unwrap_or(&Json::Null));
    let errors = error_items
        .iter()
        .map(|(k, e)| (*k, item_message(e)))
        .collect();
    let fields = error_items
        .iter()
        .filter_map(|(k, e)| {
            let details = e.get("details")?.as_object()?;
            let named: Vec<(String, String)> = details
                .iter()
                .map(|(alias, m)| {
                    let why = match m {
                        Json::Array(a) => a
                            .iter()
                            .filter_map(Json::as_str)
                            .collect::<Vec<_>>()
                            .join(" "),
                        Json::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (
                        alias.clone(),
                        crate::connector::http::snippet(why.as_bytes()),
                    )
                })
                .collect();
            (!named.is_empty()).then_some((*k, named))
        })
        .collect();
    Ok(BatchAnswer {
        records,
        codes,
        errors,
        fields,
    })
}

/// A batch item's error message. Mautic sometimes puts a whole JSON error answer in it.
fn item_message(e: &Json) -> String {
    let m = match e.get("message") {
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => e.to_string(),
    };
    error_message(m.as_bytes()).unwrap_or(m)
}

/// The message of an error answer, in either shape:
/// `{"errors":[{"code":400,"message":"..."}]}` or `{"error":{"message":"...","code":400}}`.
pub fn error_message(body: &[u8]) -> Option<String> {
    let v: Json = crate::connector::http::json(body).ok()?;
    let text = |x: &Json| x.get("message").and_then(Json::as_str).map(str::to_owned);
    if let Some(errors) = v.get("errors") {
        let messages: Vec<String> = items(errors).into_values().filter_map(text).collect();
        if !messages.is_empty() {
            return Some(messages.join("; "));
        }
    }
    match v.get("error") {
        Some(e @ Json::Object(_)) => text(e),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn types() -> FieldTypes {
        [
            ("email", "email"),
            ("points", "number"),
            ("newsletter", "boolean"),
            ("birthday", "date"),
            ("seen", "datetime"),
            ("hobbies", "multiselect"),
            ("city", "text"),
        ]
        .into_iter()
        .map(|(a, t)| (a.to_owned(), FieldMeta::of(t)))
        .collect()
    }

    #[test]
    fn reads_a_contact_with_every_quirk() {
        let v = json!({
            "id": "47",
            "dateAdded": "2024-05-01T10:00:00+00:00",
            "dateModified": null,
            "dateIdentified": "2024-05-01T10:00:00+00:00",
            "doNotContact": [
                {"id": 1, "reason": "2", "channel": "email", "dateAdded": "2024-06-01T08:00:00+00:00"},
                {"id": 2, "reason": 1, "channel": "sms", "dateAdded": "2024-06-02T08:00:00+00:00"}
            ],
            "fields": {"core": {}, "social": [], "personal": [], "all": {
                "id": 47, "email": "a@b.fr", "points": "12", "newsletter": 1,
                "birthday": "1990-02-03", "seen": "2024-05-01 10:00:00", "hobbies": "ski|jazz, blues",
                "city": "", "unknown_new": 5, "bad_number": null
            }}
        });
        let r = record(RecordKind::MauticContact, &v, &types()).unwrap();
        assert_eq!(r.id, "47");
        assert_eq!(
            r.modified_at,
            parse_datetime("2024-05-01T10:00:00Z").unwrap()
        );
        assert_eq!(r.get("points"), &Value::Number(12.0));
        assert_eq!(r.get("newsletter"), &Value::Bool(true));
        assert_eq!(
            r.get("birthday"),
            &Value::Date(chrono::NaiveDate::from_ymd_opt(1990, 2, 3).unwrap())
        );
        assert_eq!(
            r.get("seen"),
            &Value::DateTime(parse_datetime("2024-05-01T10:00:00Z").unwrap())
        );
        assert_eq!(
            r.get("hobbies"),
            &Value::List(vec!["ski".into(), "jazz, blues".into()])
        );
        assert_eq!(r.get("city"), &Value::Blank);
        assert_eq!(r.get("unknown_new"), &Value::Text("5".into()));
        assert_eq!(
            r.get(DNC_BOUNCED),
            &Value::DateTime(parse_datetime("2024-06-01T08:00:00Z").unwrap())
        );
        assert_eq!(r.get(DNC_UNSUBSCRIBED), &Value::Blank, "sms is not e-mail");
        assert!(!r.anonymous);
    }

    #[test]
    fn a_value_that_does_not_read_stays_text() {
        let t = types();
        assert_eq!(
            typed(&json!("douze"), t.get("points")),
            Value::Text("douze".into())
        );
        assert_eq!(
            typed(&json!("peut-être"), t.get("newsletter")),
            Value::Text("peut-être".into())
        );
        assert_eq!(
            typed(&json!("0000-00-00"), t.get("birthday")),
            Value::Text("0000-00-00".into())
        );
        assert_eq!(typed(&json!(0), t.get("newsletter")), Value::Bool(false));
        assert_eq!(typed(&json!("  "), t.get("city")), Value::Blank);
    }

    #[test]
    fn anonymous_means_no_email_and_never_identified() {
        let v = json!({"id": 3, "dateAdded": "2024-05-01T10:00:00+00:00", "dateIdentified": null,
            "doNotContact": [], "fields": {"all": {"email": null}}});
        assert!(
            record(RecordKind::MauticContact, &v, &types())
                .unwrap()
                .anonymous
        );
        let company =
            json!({"id": 3, "dateAdded": "2024-05-01T10:00:00+00:00", "fields": {"all": {}}});
        let r = record(RecordKind::MauticCompany, &company, &types()).unwrap();
        assert!(!r.anonymous);
        assert!(!r.fields.contains_key(DNC_BOUNCED));
    }

    #[test]
    fn pages_in_every_shape() {
        let t = types();
        let c = |id: u64| json!({"id": id, "dateAdded": "2024-05-01T10:00:00+00:00", "fields": {"all": {}}});
        let body = json!({"total": "3", "contacts": {"10": c(10), "9": c(9)}}).to_string();
        let p = page(body.as_bytes(), "contacts", RecordKind::MauticContact, &t).unwrap();
        assert_eq!(p.total, Some(3));
        let ids: Vec<&str> = p.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["9", "10"], "ordered by id, not by key text");
        for empty in [
            r#"{"total":0,"contacts":[]}"#,
            r#"{"total":"0","contacts":{}}"#,
        ] {
            let p = page(empty.as_bytes(), "contacts", RecordKind::MauticContact, &t).unwrap();
            assert!(p.records.is_empty());
            assert_eq!(p.total, Some(0));
        }
        assert!(page(b"{}", "contacts", RecordKind::MauticContact, &t).is_err());
        // A record without a readable date is skipped; the page still counts it.
        let body = json!({"total": 2, "contacts": {"9": c(9), "12": {"id": 12, "dateAdded": "yesterday"}}}).to_string();
        let p = page(body.as_bytes(), "contacts", RecordKind::MauticContact, &t).unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!((p.rows, p.max_id), (2, Some(12)));
        assert!(page(b"<html>", "contacts", RecordKind::MauticContact, &t).is_err());
    }

    #[test]
    fn batch_answers_as_lists_or_objects() {
        let list = json!({"contacts": [{"id": 1}, {"id": 2}], "statusCodes": [201, 200]});
        let a = batch(list.to_string().as_bytes(), "contacts").unwrap();
        assert_eq!(a.codes[&1], 200);
        assert_eq!(a.records[&1]["id"], 2);
        let holey = json!({
            "contacts": {"0": {"id": 1}},
            "statusCodes": {"0": 200, "1": "404", "2": 400},
            "errors": {"1": {"message": "Item was not found.", "code": 404, "type": "api"},
                       "2": {"code": 400, "message": "email: A valid email is required.", "details": {}, "type": null}}
        });
        let a = batch(holey.to_string().as_bytes(), "contacts").unwrap();
        assert_eq!(a.codes[&1], 404);
        assert_eq!(a.errors[&2], "email: A valid email is required.");
        let nested = json!({"statusCodes": [400], "errors": [{"message": "{\"errors\":[{\"message\":\"inner\",\"code\":400}]}", "code": 400}]});
        assert_eq!(
            batch(nested.to_string().as_bytes(), "contacts")
                .unwrap()
                .errors[&0],
            "inner"
        );
    }

    #[test]
    fn both_error_shapes() {
        assert_eq!(
            error_message(br#"{"errors":[{"code":400,"message":"a","details":[],"type":null},{"message":"b"}]}"#),
            Some("a; b".into())
        );
        assert_eq!(
            error_message(br#"{"error":{"message":"old style","code":400}}"#),
            Some("old style".into())
        );
        assert_eq!(error_message(br#"{"error":"invalid_grant"}"#), None);
        assert_eq!(error_message(b"<html>"), None);
    }

    #[test]
    fn field_list_marks_custom_and_unique() {
        let body = json!({"total": 2, "fields": [
            {"id": 1, "label": "Email", "alias": "email", "type": "email", "isRequired": false, "isUniqueIdentifier": true},
            {"id": 2, "label": "SIRET", "alias": "siret", "type": "number", "isRequired": "1", "isUniqueIdentifier": false}
        ]});
        let page = fields(body.to_string().as_bytes(), RecordKind::MauticContact).unwrap();
        assert_eq!((page.total, page.rows), (Some(2), 2));
        let f = page.fields;
        assert!(!f[0].custom && f[0].unique);
        assert!(f[1].custom && f[1].required);
        assert_eq!(f[1].field_type, FieldType::Number);
        assert_eq!(model_type("multiselect"), FieldType::List);
        assert_eq!(model_type("tel"), FieldType::Text);
    }
}
