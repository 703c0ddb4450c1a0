//! Reading weavy's answers: a Select page's rows (their times, their values read as their
//! mapping's type), Authenticate's token, the Dictionary; and writing a value as a field of
//! its type holds it. Pure: bytes in, values out.

use super::{
    DEFAULT_TOKEN_LIFETIME, Dictionary, SRV_DATE, SRV_DATE_UTC, StoredZone, key_of, standard_fields,
};
use crate::connector::http::Reply;
use crate::connector::{ErrorKind, FieldInfo, RemoteRecord, Secret};
use crate::model::{FieldType, RecordKind, Value, format_number, parse_number};
use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::time::Duration;
/// What a Select answer holds.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectRows {
    /// Each row of the answer in order, readable or not: its key, or for a row without a
    /// usable key its JSON text (so that the pager can still tell rows apart).
    pub keys: Vec<String>,
    /// The rows read as records.
    pub records: Vec<RemoteRecord>,
    /// The offsets the rows show between `srvDate` and `srvDateUTC`.
    pub zone: StoredZone,
}

/// Reads a `POST /v1/Data/{project}/Select` answer: a JSON array of flat rows. A row that is
/// not an object or has no usable key is skipped with a warning (one odd row never fails a
/// page); an answer that is not a JSON array is an error.
pub fn parse_select(
    kind: RecordKind,
    dictionary: Option<&Dictionary>,
    tz: Tz,
    body: &[u8],
) -> Result<SelectRows, ErrorKind> {
    let rows: Vec<Json> = crate::connector::http::json(body)
        .map_err(|e| ErrorKind::Decode(format!("a Select answer must be a JSON array ({e})")))?;
    let entity = kind.api_name();
    let mut records = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    let mut zone = StoredZone::default();
    for row in &rows {
        let object = row.as_object();
        if let Some(r) = object {
            let wall = r.get(SRV_DATE).and_then(Json::as_str).and_then(parse_naive);
            let utc = r.get(SRV_DATE_UTC).and_then(|v| parse_stamp(v, None));
            if let (Some(wall), Some(utc)) = (wall, utc)
                && parse_zoned(r[SRV_DATE].as_str().unwrap_or_default()).is_none()
            {
                zone.observe(wall, utc);
            }
        }
        match object.and_then(|r| parse_row(kind, dictionary, tz, r)) {
            Some(record) => {
                keys.push(record.id.clone());
                records.push(record);
            }
            None => {
                tracing::warn!(
                    entity,
                    "a Select row without a usable {} was skipped",
                    key_of(entity)
                );
                keys.push(format!("\u{1}{row}"));
            }
        }
    }
    Ok(SelectRows {
        keys,
        records,
        zone,
    })
}

/// Reads an `Authenticate` answer: the token and how long it lasts (`expiresIn`, else the
/// documented 12 h; capped at a year). Errors never quote the answer: it holds the token.
pub fn parse_authenticate(body: &[u8]) -> Result<(Secret, Duration), ErrorKind> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "authToken")]
        auth_token: Option<Json>,
        #[serde(rename = "expiresIn", default)]
        expires_in: Option<Json>,
    }
    let answer: Answer = crate::connector::http::json(body).map_err(|_| {
        ErrorKind::Decode("the Authenticate answer is not the expected JSON".into())
    })?;
    let value = match answer.auth_token {
        Some(Json::String(t)) if !t.trim().is_empty() => t,
        _ => {
            return Err(ErrorKind::Decode(
                "the Authenticate answer has no authToken".into(),
            ));
        }
    };
    if value
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || !c.is_ascii())
    {
        // It could not be sent in a header; say so without quoting it.
        return Err(ErrorKind::Decode(
            "the authToken of the Authenticate answer is not a printable ASCII token".into(),
        ));
    }
    let lifetime = answer
        .expires_in
        .and_then(|v| match v {
            Json::Number(n) => n.as_f64(),
            Json::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(31_536_000.0)))
        .unwrap_or(DEFAULT_TOKEN_LIFETIME);
    Ok((Secret::new(value), lifetime))
}

/// How long a token is used before it is renewed: its lifetime less a margin of 60 s, or of
/// half the lifetime when that is shorter.
pub(super) fn renew_after(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(Duration::from_secs(60).min(lifetime / 2))
}

#[derive(Debug, Deserialize)]
pub(super) struct DictionaryAnswer {
    #[serde(default)]
    fields: Vec<DictionaryField>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DictionaryField {
    #[serde(rename = "fieldName")]
    name: String,
    #[serde(rename = "fieldType", default)]
    field_type: Option<String>,
    #[serde(default)]
    translations: Vec<Translation>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Translation {
    #[serde(rename = "languageCode", default)]
    language: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

/// The model type of a weavy field type; an unknown type reads as text.
pub fn field_type_of(raw: &str) -> FieldType {
    let t = raw.trim().to_ascii_lowercase();
    match t.as_str() {
        "boolean" | "bool" => FieldType::Boolean,
        "date" => FieldType::Date,
        "datetime" | "date time" | "timestamp" => FieldType::DateTime,
        "number" | "numeric" | "decimal" | "integer" | "int" | "float" | "double" | "money"
        | "currency" => FieldType::Number,
        _ => FieldType::Text,
    }
}

pub(super) fn dictionary_from(kind: RecordKind, answer: DictionaryAnswer) -> Dictionary {
    let key = key_of(kind.api_name());
    let standard = standard_fields(kind);
    let mut fields = Vec::new();
    let mut types = HashMap::new();
    for f in answer.fields {
        if f.name == SRV_DATE || f.name == SRV_DATE_UTC || types.contains_key(&f.name) {
            continue;
        }
        let raw_type = f.field_type.unwrap_or_else(|| "text".to_owned());
        let field_type = field_type_of(&raw_type);
        let label = f
            .translations
            .iter()
            .find(|t| {
                t.language
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case("FR"))
            })
            .or(f.translations.first())
            .and_then(|t| t.text.clone())
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| f.name.clone());
        let foreign_key = raw_type.to_ascii_lowercase().contains("foreignkey");
        let is_key = f.name == key;
        let company_of_contact = kind == RecordKind::WeavyContact && f.name == "customer_ID";
        types.insert(f.name.clone(), field_type);
        fields.push(FieldInfo {
            custom: !standard.contains(&f.name.as_str()),
            writable: !is_key && (!foreign_key || company_of_contact),
            required: is_key,
            unique: is_key,
            decimals: None,
            code: f.name,
            label,
            raw_type,
            field_type,
        });
    }
    Dictionary {
        key,
        fields,
        types,
        read_types: HashMap::new(),
    }
}

/// The message of an error answer: its `message` (or `Message`, `error`, `title`) when it is
/// JSON, else its start.
pub(super) fn message_of(reply: &Reply) -> String {
    if let Ok(v) = serde_json::from_slice::<Json>(&reply.body) {
        let candidates = [
            v.get("message"),
            v.get("Message"),
            v.get("error").and_then(|e| e.get("message").or(Some(e))),
            v.get("errors")
                .and_then(|e| e.get(0))
                .and_then(|e| e.get("message")),
            v.get("title"),
        ];
        if let Some(m) = candidates.into_iter().flatten().find_map(Json::as_str) {
            return crate::connector::http::snippet(m.as_bytes());
        }
    }
    reply.snippet()
}

/// A zone-less date-time as weavy writes one: `YYYY-MM-DDTHH:MM:SS` or with a space,
/// optional fraction.
pub(super) fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    let t = s.trim();
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
}

/// A date-time with its own zone (`Z`, `+02:00`), if it has one.
pub(super) fn parse_zoned(s: &str) -> Option<DateTime<Utc>> {
    let t = s.trim();
    DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// A local wall-clock time of the project's zone as an instant. In the autumn fold (the
/// time happens twice) the earlier instant; in the spring gap (it never happens) the time is
/// shifted forward by the gap, i.e. read with the offset in force before it.
pub fn local_to_utc(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
        LocalResult::None => {
            let before = tz
                .offset_from_utc_datetime(&(naive - chrono::Duration::hours(24)))
                .fix()
                .local_minus_utc();
            (naive - chrono::Duration::seconds(before.into())).and_utc()
        }
    }
}

/// A server stamp: with its own zone if it has one, else in `zone_less` (UTC for
/// `srvDateUTC`, the project's zone for `srvDate`).
pub(super) fn parse_stamp(raw: &Json, zone_less: Option<Tz>) -> Option<DateTime<Utc>> {
    let s = raw.as_str()?;
    if let Some(t) = parse_zoned(s) {
        return Some(t);
    }
    let naive = parse_naive(s)?;
    Some(match zone_less {
        Some(tz) => local_to_utc(naive, tz),
        None => naive.and_utc(),
    })
}

/// A row of a Select or Get as a record; `None` when it has no key.
pub(super) fn parse_row(
    kind: RecordKind,
    dictionary: Option<&Dictionary>,
    tz: Tz,
    row: &Map<String, Json>,
) -> Option<RemoteRecord> {
    let key = key_of(kind.api_name());
    let id = match row.get(&key)? {
        Json::String(s) if !s.is_empty() => s.clone(),
        Json::Number(n) => n.to_string(),
        _ => return None,
    };
    // An id is written back in URLs and stored keys: one with control characters or bytes
    // that were not UTF-8 would name another record.
    if id.len() > 255 || id.chars().any(|c| c.is_control() || c == '\u{fffd}') {
        return None;
    }
    let modified_at = row
        .get(SRV_DATE_UTC)
        .and_then(|v| parse_stamp(v, None))
        .or_else(|| row.get(SRV_DATE).and_then(|v| parse_stamp(v, Some(tz))))
        .unwrap_or_else(|| {
            tracing::warn!(entity = kind.api_name(), id = %id, "no readable srvDateUTC or srvDate: taken as the oldest time");
            DateTime::<Utc>::UNIX_EPOCH
        });
    let fields = row
        .iter()
        .filter(|(k, _)| *k != SRV_DATE && *k != SRV_DATE_UTC)
        .map(|(k, v)| {
            let ty = dictionary.and_then(|d| d.read_type_of(k));
            (k.clone(), parse_value(v, ty, tz))
        })
        .collect();
    Some(RemoteRecord {
        kind,
        id,
        modified_at,
        fields,
        anonymous: false,
    })
}

/// A JSON value read as its dictionary type (`None`: a field the dictionary did not list,
/// read by its JSON type). Null and blank text are [`Value::Blank`]; what cannot be read as
/// its type is kept as `Value::Text(raw)`.
pub fn parse_value(raw: &Json, ty: Option<FieldType>, tz: Tz) -> Value {
    let text = match raw {
        Json::Null => return Value::Blank,
        Json::String(s) if s.trim().is_empty() => return Value::Blank,
        Json::String(s) => s.clone(),
        Json::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            match ty {
                None | Some(FieldType::Number) if f.is_finite() => return Value::Number(f),
                Some(FieldType::Boolean) if f == 0.0 || f == 1.0 => return Value::Bool(f == 1.0),
                _ if f.is_finite() => format_number(f),
                _ => n.to_string(),
            }
        }
        Json::Bool(b) => match ty {
            None | Some(FieldType::Boolean) => return Value::Bool(*b),
            _ => b.to_string(),
        },
        Json::Array(_) | Json::Object(_) => raw.to_string(),
    };
    let keep = |s: String| Value::Text(s);
    match ty.unwrap_or(FieldType::Text) {
        FieldType::Text => Value::text(text),
        FieldType::Number => match parse_number(&text) {
            Some(n) => Value::Number(n),
            None => keep(text),
        },
        FieldType::Boolean => Value::Text(text.clone())
            .coerce(FieldType::Boolean)
            .unwrap_or_else(|_| keep(text)),
        FieldType::Date => {
            let day = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .ok()
                .or_else(|| parse_naive(&text).map(|t| t.date()))
                .or_else(|| parse_zoned(&text).map(|t| t.with_timezone(&tz).date_naive()));
            match day {
                Some(d) => Value::Date(d),
                None => keep(text),
            }
        }
        FieldType::DateTime => {
            let t = parse_zoned(&text)
                .or_else(|| parse_naive(&text).map(|n| local_to_utc(n, tz)))
                .or_else(|| {
                    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|n| local_to_utc(n, tz))
                });
            match t {
                Some(t) => Value::DateTime(t),
                None => keep(text),
            }
        }
        FieldType::List => Value::Text(text.clone())
            .coerce(FieldType::List)
            .unwrap_or_else(|_| keep(text)),
    }
}

/// A value as weavy takes it (see the module notes), shaped by the field's type when known.
pub fn value_to_json(v: &Value, ty: Option<FieldType>, tz: Tz) -> Json {
    match v {
        Value::Blank => Json::Null,
        Value::Text(s) => Json::String(s.clone()),
        Value::Number(n) => match ty {
            Some(FieldType::Text) => Json::String(format_number(*n)),
            _ => serde_json::Number::from_f64(*n)
                .map(Json::Number)
                .unwrap_or(Json::Null),
        },
        Value::Bool(b) => match ty {
            Some(FieldType::Text) => Json::String(b.to_string()),
            _ => Json::Bool(*b),
        },
        Value::Date(d) => match ty {
            // A calendar date in a date-time field: its midnight, as a wall time (read back
            // as the mapping's date, it is the same day in any zone).
            Some(FieldType::DateTime) => Json::String(d.format("%Y-%m-%dT00:00:00").to_string()),
            _ => Json::String(d.format("%Y-%m-%d").to_string()),
        },
        Value::DateTime(t) => {
            let local = t.with_timezone(&tz);
            match ty {
                Some(FieldType::Date) => Json::String(local.format("%Y-%m-%d").to_string()),
                _ => Json::String(local.format("%Y-%m-%dT%H:%M:%S").to_string()),
            }
        }
        Value::List(items) => Json::String(items.join("|")),
    }
}
