//! Every Mautic answer parser on the same bytes: list pages (contacts and companies), batch
//! answers, error bodies in both shapes, field lists, OAuth2 token answers. Whatever the bytes, each parser returns
//! a value or an error, never panics; every value it reads then goes through what the sync
//! does with it (coercion into each type under the limits) without panicking, and a value
//! that passes the limits is one the limits accept.

#![no_main]

use fieldsync::connector::mautic::parse::{self, FieldMeta, FieldTypes};
use fieldsync::model::{FieldType, RecordKind, Value, ValueLimits};
use libfuzzer_sys::fuzz_target;

const TYPES: [FieldType; 6] = [
    FieldType::Text,
    FieldType::Number,
    FieldType::Boolean,
    FieldType::Date,
    FieldType::DateTime,
    FieldType::List,
];

fn types() -> FieldTypes {
    [
        ("email", "email"),
        ("points", "number"),
        ("newsletter", "boolean"),
        ("birthday", "date"),
        ("seen", "datetime"),
        ("hobbies", "multiselect"),
        ("firstname", "text"),
        ("companynumber_of_employees", "number"),
    ]
    .into_iter()
    .map(|(a, t)| (a.to_owned(), FieldMeta::of(t)))
    .collect()
}

fn check_value(v: &Value) {
    let _ = v.canonical();
    let _ = v.to_string();
    for ty in TYPES {
        if let Ok(c) = v.clone().coerce_within(ty, &ValueLimits::DEFAULT) {
            assert!(c.refusal(&ValueLimits::DEFAULT).is_none(), "{c:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let types = types();
    for (key, kind) in [
        ("contacts", RecordKind::MauticContact),
        ("companies", RecordKind::MauticCompany),
    ] {
        if let Ok(page) = parse::page(data, key, kind, &types) {
            let mut last = None;
            for r in &page.records {
                let id: u64 = r.id.parse().expect("ids are numbers");
                assert!(last.is_none_or(|l| l <= id), "sorted by id");
                last = Some(id);
                for v in r.fields.values() {
                    check_value(v);
                }
            }
        }
        if let Ok(answer) = parse::batch(data, key) {
            assert!(answer.codes.values().all(|c| (100..600).contains(c)));
            for r in answer.records.values() {
                if let Ok(rec) = parse::record(kind, r, &types) {
                    rec.fields.values().for_each(check_value);
                }
            }
        }
        if let Ok(page) = parse::fields(data, kind) {
            assert!(page.fields.len() <= page.rows);
            for f in page.fields {
                assert_eq!(f.field_type, parse::model_type(&f.raw_type));
            }
        }
    }
    let _ = parse::error_message(data);
    if let Ok((token, lifetime)) = parse::token(data) {
        assert!(!token.is_empty());
        assert!(lifetime <= parse::MAX_TOKEN_LIFETIME);
    }
});
