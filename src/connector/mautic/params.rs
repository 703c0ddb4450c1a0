//! What the connector sends: the keyset `where` of a list call and the JSON of a write item.
//! Pure code, unit-tested here.
//!
//! Paging is keyset paging on the immutable id (`id > last`, ordered by id). Offset paging
//! ordered by `date_modified`, which Mautic's documentation suggests, skips records: a record
//! edited while paging jumps to the end and every record after it moves one place left, so
//! one record crosses the page boundary unseen. Ordered by id, an edit never moves a record.

use super::parse::FieldTypes;
use crate::connector::{DNC_BOUNCED, DNC_UNSUBSCRIBED};
use crate::model::{Value, format_number};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json, json};

/// A time as Mautic's `where` compares it: `YYYY-MM-DD HH:MM:SS`, UTC (Mautic stores UTC).
pub fn sql_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The parameters of one page of records changed since `since` with an id above `after_id`.
///
/// `fallback`: also match records whose `date_modified` is NULL (never edited, Mautic before
/// 2025) and whose `date_added` is recent enough:
/// `id > after AND (date_modified >= T OR (date_modified IS NULL AND date_added >= T))`.
pub fn list_query(
    after_id: u64,
    since: Option<DateTime<Utc>>,
    fallback: bool,
    limit: usize,
    identified_only: bool,
) -> Vec<(String, String)> {
    let mut q = vec![
        ("start".into(), "0".into()),
        ("limit".into(), limit.to_string()),
        ("orderBy".into(), "id".into()),
        ("orderByDir".into(), "asc".into()),
        ("where[0][col]".into(), "id".into()),
        ("where[0][expr]".into(), "gt".into()),
        ("where[0][val]".into(), after_id.to_string()),
    ];
    if identified_only {
        q.push(("search".into(), "!is:anonymous".into()));
    }
    if let Some(since) = since {
        let t = sql_time(since);
        let mut add = |k: &str, v: &str| q.push((k.to_owned(), v.to_owned()));
        if fallback {
            add("where[1][expr]", "orX");
            add("where[1][val][0][col]", "date_modified");
            add("where[1][val][0][expr]", "gte");
            add("where[1][val][0][val]", &t);
            add("where[1][val][1][expr]", "andX");
            add("where[1][val][1][val][0][col]", "date_modified");
            add("where[1][val][1][val][0][expr]", "isNull");
            add("where[1][val][1][val][1][col]", "date_added");
            add("where[1][val][1][val][1][expr]", "gte");
            add("where[1][val][1][val][1][val]", &t);
        } else {
            add("where[1][col]", "date_modified");
            add("where[1][expr]", "gte");
            add("where[1][val]", &t);
        }
    }
    q
}

/// The parameters of one page of records whose `column` equals `value`, id above `after_id`.
pub fn find_query(column: &str, value: &str, after_id: u64, limit: usize) -> Vec<(String, String)> {
    vec![
        ("start".into(), "0".into()),
        ("limit".into(), limit.to_string()),
        ("orderBy".into(), "id".into()),
        ("orderByDir".into(), "asc".into()),
        ("where[0][col]".into(), column.to_owned()),
        ("where[0][expr]".into(), "eq".into()),
        ("where[0][val]".into(), value.to_owned()),
        ("where[1][col]".into(), "id".into()),
        ("where[1][expr]".into(), "gt".into()),
        ("where[1][val]".into(), after_id.to_string()),
    ]
}

/// The parameters of one page of records whose `column` holds one of `values`, id above
/// `after_id`.
pub fn find_any_query(
    column: &str,
    values: &[String],
    after_id: u64,
    limit: usize,
) -> Vec<(String, String)> {
    let mut q = vec![
        ("start".into(), "0".into()),
        ("limit".into(), limit.to_string()),
        ("orderBy".into(), "id".into()),
        ("orderByDir".into(), "asc".into()),
        ("where[0][col]".into(), column.to_owned()),
        ("where[0][expr]".into(), "in".into()),
    ];
    for (i, v) in values.iter().enumerate() {
        q.push((format!("where[0][val][{i}]"), v.trim().to_owned()));
    }
    q.extend([
        ("where[1][col]".into(), "id".into()),
        ("where[1][expr]".into(), "gt".into()),
        ("where[1][val]".into(), after_id.to_string()),
    ]);
    q
}

/// Whether a field code is one of the read-only Do Not Contact pseudo-fields.
pub fn is_pseudo_field(code: &str) -> bool {
    code == DNC_BOUNCED || code == DNC_UNSUBSCRIBED
}

/// One write item: `{"alias": value, ..., "id": 47, "overwriteWithBlank": true}`.
///
/// Values: text as a string; numbers as JSON numbers; booleans as JSON `true`/`false` (Mautic
/// reads a boolean field with `filter_var(FILTER_VALIDATE_BOOLEAN)` and sets it through the
/// entity before its numeric-zero filter runs, so `false` is kept; JSON booleans are what
/// Mautic's maintainers show working); dates `YYYY-MM-DD`; date-times `YYYY-MM-DD HH:MM:SS` UTC;
/// lists as a JSON array for a multiselect field (its form's native shape) and `a|b`
/// elsewhere; blanks as `""`, and then `overwriteWithBlank` so Mautic applies them.
///
/// `Err` names the field that cannot be written: a pseudo-field or an alias Mautic does not
/// have (Mautic would silently ignore it).
pub fn write_item(
    types: &FieldTypes,
    fields: &[(String, Value)],
    id: Option<u64>,
) -> Result<Map<String, Json>, String> {
    let mut item = Map::new();
    let mut blank = false;
    for (code, value) in fields {
        if is_pseudo_field(code) {
            return Err(format!(
                "'{code}' is read-only: it changes through the Do Not Contact calls, not as a field"
            ));
        }
        let Some(meta) = types.get(code) else {
            return Err(format!(
                "Mautic has no field '{code}' (Mautic would silently ignore it)"
            ));
        };
        if value.is_blank() {
            blank = true;
            item.insert(code.clone(), Json::String(String::new()));
            continue;
        }
        let json = match value {
            Value::Blank => Json::String(String::new()),
            Value::Text(s) => Json::String(s.clone()),
            Value::Number(n) => {
                if n.fract() == 0.0 && n.abs() < 9e15 {
                    json!(*n as i64)
                } else {
                    serde_json::Number::from_f64(*n)
                        .map(Json::Number)
                        .unwrap_or_else(|| Json::String(format_number(*n)))
                }
            }
            Value::Bool(b) => Json::Bool(*b),
            Value::Date(d) => Json::String(d.format("%Y-%m-%d").to_string()),
            Value::DateTime(t) => Json::String(sql_time(*t)),
            Value::List(l) if meta.raw_type == "multiselect" => {
                Json::Array(l.iter().cloned().map(Json::String).collect())
            }
            Value::List(l) => Json::String(l.join("|")),
        };
        item.insert(code.clone(), json);
    }
    if let Some(id) = id {
        item.insert("id".into(), json!(id));
    }
    if blank {
        item.insert("overwriteWithBlank".into(), Json::Bool(true));
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::super::parse::FieldMeta;
    use super::*;
    use crate::model::parse_datetime;

    fn types() -> FieldTypes {
        [
            ("email", "email"),
            ("points", "number"),
            ("ok", "boolean"),
            ("tags", "multiselect"),
            ("city", "text"),
        ]
        .into_iter()
        .map(|(a, t)| (a.to_owned(), FieldMeta::of(t)))
        .collect()
    }

    #[test]
    fn keyset_query_with_the_null_fallback() {
        let since = parse_datetime("2024-05-01T10:00:00.7Z").unwrap();
        let q = list_query(200, Some(since), true, 200, true);
        let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("orderBy"), Some("id"));
        assert_eq!(get("where[0][val]"), Some("200"));
        assert_eq!(get("where[1][expr]"), Some("orX"));
        assert_eq!(get("where[1][val][0][val]"), Some("2024-05-01 10:00:00"));
        assert_eq!(get("where[1][val][1][val][0][expr]"), Some("isNull"));
        assert_eq!(get("where[1][val][1][val][1][col]"), Some("date_added"));
        assert_eq!(get("search"), Some("!is:anonymous"));
        let plain = list_query(0, Some(since), false, 50, false);
        assert!(plain.iter().all(|(k, _)| !k.contains("[val][1]")));
        assert!(plain.iter().all(|(k, _)| k != "search"));
        assert_eq!(list_query(0, None, true, 50, false).len(), 7);
    }

    #[test]
    fn write_items_use_mautics_formats() {
        let t = types();
        let item = write_item(
            &t,
            &[
                ("email".into(), Value::text("a@b.fr")),
                ("points".into(), Value::Number(12.0)),
                ("ok".into(), Value::Bool(false)),
                ("tags".into(), Value::List(vec!["a".into(), "b".into()])),
                ("city".into(), Value::List(vec!["x".into(), "y".into()])),
            ],
            Some(47),
        )
        .unwrap();
        assert_eq!(
            Json::Object(item),
            json!({"email": "a@b.fr", "points": 12, "ok": false, "tags": ["a", "b"], "city": "x|y", "id": 47})
        );
        let blank = write_item(&t, &[("city".into(), Value::Blank)], None).unwrap();
        assert_eq!(
            Json::Object(blank),
            json!({"city": "", "overwriteWithBlank": true})
        );
        let dt = write_item(
            &t,
            &[(
                "city".into(),
                Value::DateTime(parse_datetime("2024-05-01T12:00:00+02:00").unwrap()),
            )],
            None,
        )
        .unwrap();
        assert_eq!(dt["city"], json!("2024-05-01 10:00:00"));
    }

    #[test]
    fn pseudo_and_unknown_fields_are_refused() {
        let t = types();
        assert!(
            write_item(&t, &[(DNC_BOUNCED.into(), Value::Blank)], None)
                .unwrap_err()
                .contains("read-only")
        );
        assert!(
            write_item(&t, &[("nope".into(), Value::text("x"))], None)
                .unwrap_err()
                .contains("no field 'nope'")
        );
    }
}
