//! Every weavy answer parser on the same bytes: Select rows (read with a dictionary holding
//! every field type, and with none), Dictionary answers, Authenticate answers. Whatever the
//! bytes, each returns a value or an error, never panics; every value read goes through the
//! sync's coercion, and every value that passes it is written back (`value_to_json`) without
//! panicking.

#![no_main]

use fieldsync::connector::weavy::{self, Dictionary};
use fieldsync::model::{FieldType, RecordKind, ValueLimits};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const TYPES: [FieldType; 6] = [
    FieldType::Text,
    FieldType::Number,
    FieldType::Boolean,
    FieldType::Date,
    FieldType::DateTime,
    FieldType::List,
];

/// A contact dictionary with a field of every type the model knows.
fn dictionary() -> &'static Dictionary {
    static D: OnceLock<Dictionary> = OnceLock::new();
    D.get_or_init(|| {
        let body = serde_json::json!({"entityName": "customercontact", "fields": [
            {"fieldName": "customercontact_ID", "fieldType": "text"},
            {"fieldName": "customer_ID", "fieldType": "text(foreignkey)"},
            {"fieldName": "email", "fieldType": "text"},
            {"fieldName": "emailOptIn", "fieldType": "boolean"},
            {"fieldName": "bouncedEmailDetected", "fieldType": "datetime"},
            {"fieldName": "closedDate", "fieldType": "date"},
            {"fieldName": "score", "fieldType": "number"},
            {"fieldName": "tags", "fieldType": "list"},
        ]});
        Dictionary::parse(RecordKind::WeavyContact, body.to_string().as_bytes())
            .expect("the fixed dictionary reads")
    })
}

fuzz_target!(|data: &[u8]| {
    let tz = chrono_tz::Europe::Paris;
    for dict in [Some(dictionary()), None] {
        if let Ok(rows) = weavy::parse_select(RecordKind::WeavyContact, dict, tz, data) {
            assert!(rows.records.len() <= rows.keys.len());
            for r in &rows.records {
                assert!(!r.id.is_empty());
                for (code, v) in &r.fields {
                    let _ = v.canonical();
                    for ty in TYPES {
                        if let Ok(c) = v.clone().coerce_within(ty, &ValueLimits::DEFAULT) {
                            let _ = weavy::value_to_json(&c, Some(ty), tz);
                            let _ = weavy::value_to_json(&c, None, tz);
                        }
                    }
                    let _ = code;
                }
            }
        }
    }
    for kind in [
        RecordKind::WeavyCustomer,
        RecordKind::WeavyContact,
        RecordKind::WeavyEntrant,
    ] {
        if let Ok(d) = Dictionary::parse(kind, data) {
            let _ = d.fields().len();
        }
    }
    if let Ok((token, lifetime)) = weavy::parse_authenticate(data) {
        assert!(!token.is_empty());
        assert!(lifetime.as_secs() <= 31_536_000);
    }
});
