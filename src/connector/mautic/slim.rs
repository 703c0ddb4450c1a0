//! Reading a Mautic list or batch answer without building what fieldsync never reads.
//!
//! A contact as Mautic shows it is mostly its field groups (`core`, `social`, `personal`,
//! `professional`: every field again, each as an object of ten keys), plus tags, IP addresses
//! and the like. Of a record, [`super::parse::record`] reads only `id`, `dateAdded`,
//! `dateModified`, `dateIdentified`, `doNotContact` and `fields.all`. Parsing a whole answer
//! into a `serde_json::Value` allocates every one of those objects and drops them right away:
//! it was the largest single cost of a pull (scale bench, 100,000 contacts). [`answer`] reads
//! the same bytes into a `Value` that holds only what `record` reads, skipping the rest
//! without allocating.
//!
//! Whatever is kept is exactly what `serde_json` would have made of it (the same numbers,
//! strings, the last of duplicate keys), and any shape that is not the expected one (a record
//! that is not an object, `fields` that is a list, a list of records instead of an object)
//! comes out whole, so the parser downstream meets the same values and keeps its quirk
//! handling. Syntax errors are `serde_json`'s own.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};
use std::fmt;

/// The keys of a record that [`super::parse::record`] reads.
const RECORD_KEYS: [&str; 5] = [
    "id",
    "dateAdded",
    "dateModified",
    "dateIdentified",
    "doNotContact",
];

/// Parses a list or batch answer, its records under `key` reduced to what is read. Bytes that
/// are not UTF-8 are read as U+FFFD (as [`crate::connector::http::json`] does), so only the
/// values holding them are refused, on their records.
pub fn answer(body: &[u8], key: &str) -> Result<Json, serde_json::Error> {
    let lossy;
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(_) => {
            lossy = String::from_utf8_lossy(body);
            &lossy
        }
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Shape::Top(key).deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// What is being read, and so what is kept of it.
#[derive(Clone, Copy)]
enum Shape<'k> {
    /// The whole answer: the records under the key are reduced, every other key is whole.
    Top(&'k str),
    /// The PHP array of records (an object keyed by id, or a list).
    Records,
    /// One record: [`RECORD_KEYS`] whole, `fields` reduced, the rest skipped.
    Record,
    /// A record's `fields`: `all` whole, the groups skipped.
    Fields,
}

impl<'de> DeserializeSeed<'de> for Shape<'_> {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Shape<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::new();
        match self {
            // A list of records: each one reduced.
            Shape::Records => {
                while let Some(v) = seq.next_element_seed(Shape::Record)? {
                    out.push(v);
                }
            }
            _ => {
                while let Some(v) = seq.next_element::<Json>()? {
                    out.push(v);
                }
            }
        }
        Ok(Json::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let inner = match self {
                Shape::Top(key) if k == key => Some(Shape::Records),
                Shape::Top(_) => None,
                Shape::Records => Some(Shape::Record),
                Shape::Record if k == "fields" => Some(Shape::Fields),
                Shape::Record if RECORD_KEYS.contains(&k.as_str()) => None,
                Shape::Record => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                Shape::Fields if k == "all" => None,
                Shape::Fields => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let v = match inner {
                Some(shape) => map.next_value_seed(shape)?,
                None => map.next_value::<Json>()?,
            };
            out.insert(k, v);
        }
        Ok(Json::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::{self, FieldMeta, FieldTypes};
    use super::*;
    use crate::model::RecordKind;
    use serde_json::json;

    fn types() -> FieldTypes {
        [
            ("email", "email"),
            ("points", "number"),
            ("tags2", "multiselect"),
        ]
        .into_iter()
        .map(|(a, t)| (a.to_owned(), FieldMeta::of(t)))
        .collect()
    }

    fn contact(id: Json) -> Json {
        json!({
            "isPublished": true, "id": id, "dateAdded": "2024-05-01T10:00:00+00:00",
            "dateModified": null, "dateIdentified": "2024-05-01T10:00:00+00:00",
            "points": 3, "tags": [{"tag": "x"}], "ipAddresses": {"1.2.3.4": {"ip": "1.2.3.4"}},
            "doNotContact": [{"reason": 2, "channel": "email", "dateAdded": "2024-06-01T00:00:00+00:00"}],
            "fields": {
                "core": {"email": {"id": "6", "alias": "email", "value": "a@b.fr", "normalizedValue": "a@b.fr"}},
                "social": [],
                "all": {"id": id, "email": "A@b.fr ", "points": "7", "tags2": ["a", "b"], "city": null, "n": 1.5}
            }
        })
    }

    /// The reduced answer reads as the same records, total and statuses as the whole one.
    #[test]
    fn a_reduced_answer_reads_the_same() {
        let bodies = [
            json!({"total": "3", "contacts": {"7": contact(json!(7)), "9": contact(json!("9")), "10": "odd"}}),
            json!({"total": 2, "contacts": [contact(json!(1)), {"id": 2, "fields": []}, 5, null]}),
            json!({"total": "0", "contacts": {}}),
            json!({"total": "0", "contacts": []}),
            json!({"contacts": {"1": {"id": 1, "dateAdded": "2024-01-01T00:00:00+00:00", "fields": {"all": [], "core": {}}}}}),
            json!({"contacts": {"1": contact(json!(1))}, "statusCodes": [201], "errors": {"0": {"message": "x"}}}),
            json!([1, 2]),
            json!("nothing"),
        ];
        for body in bodies {
            let text = serde_json::to_vec(&body).unwrap();
            let full: Json = serde_json::from_slice(&text).unwrap();
            let slim = answer(&text, "contacts").unwrap();
            for k in ["total", "statusCodes", "errors"] {
                assert_eq!(slim.get(k), full.get(k), "{k} of {body}");
            }
            let rows = |v: &Json| -> Vec<Result<_, String>> {
                parse::items(v.get("contacts").unwrap_or(&Json::Null))
                    .into_values()
                    .map(|r| parse::record(RecordKind::MauticContact, r, &types()))
                    .collect()
            };
            assert_eq!(rows(&slim), rows(&full), "{body}");
        }
        let duplicate =
            br#"{"contacts": {"1": {"id": 1, "id": 2, "dateAdded": "2024-01-01T00:00:00+00:00"}}}"#;
        assert_eq!(
            answer(duplicate, "contacts").unwrap()["contacts"]["1"]["id"],
            json!(2)
        );
        assert!(answer(b"{\"contacts\": {", "contacts").is_err());
        assert!(answer(b"{} x", "contacts").is_err());
    }

    #[test]
    fn only_what_is_read_is_kept() {
        let text = serde_json::to_vec(&json!({"total": "1", "contacts": {"7": contact(json!(7))}}))
            .unwrap();
        let slim = answer(&text, "contacts").unwrap();
        let r = slim["contacts"]["7"].as_object().unwrap();
        let mut keys: Vec<&str> = r.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "dateAdded",
                "dateIdentified",
                "dateModified",
                "doNotContact",
                "fields",
                "id"
            ]
        );
        assert_eq!(
            r["fields"].as_object().unwrap().keys().collect::<Vec<_>>(),
            ["all"]
        );
    }
}
