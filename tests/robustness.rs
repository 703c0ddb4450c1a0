//! Hostile input, without cargo-fuzz: every parser of what fieldsync reads from outside (Mautic
//! and weavy answers, the config file, stored values) on arbitrary bytes and on real answers
//! mutated byte-wise and structurally. Each property asserts a typed error or a valid value,
//! never a panic (a panic fails the property, and proptest shrinks it to a small input).
//!
//! The real answers are the fuzz seeds in `fuzz/seeds/<target>/`, captured from the
//! simulators by `cargo run --example fuzz_seeds -- fuzz/seeds`. The regression tests of what
//! fuzzing and review found are at the end.

use fieldsync::config::{Config, ConfigError};
use fieldsync::connector::ErrorKind;
use fieldsync::connector::mautic::parse::{self, FieldMeta, FieldTypes};
use fieldsync::connector::weavy::{self, Dictionary};
use fieldsync::model::{FieldType, RecordKind, Value, ValueLimits};
use fieldsync::store::StoreError;
use fieldsync::store::codec::{
    self, MemoryFieldIds, StoredConflict, StoredEntity, StoredObservations, StoredPatch,
    StoredRecord,
};
use fieldsync::sync::CycleReport;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value as Json, json};
use std::path::PathBuf;
use std::sync::OnceLock;

const TYPES: [FieldType; 6] = [
    FieldType::Text,
    FieldType::Number,
    FieldType::Boolean,
    FieldType::Date,
    FieldType::DateTime,
    FieldType::List,
];

/// Cases per property (each property checks every parser of its kind on each case).
const CASES: u32 = 1000;

fn seeds(target: &str) -> &'static [Vec<u8>] {
    static ALL: OnceLock<std::collections::HashMap<String, Vec<Vec<u8>>>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        let mut out = std::collections::HashMap::new();
        for t in ["mautic_answers", "weavy_answers", "config", "store_codec"] {
            let mut files: Vec<_> = std::fs::read_dir(root.join(t))
                .unwrap_or_else(|e| panic!("fuzz/seeds/{t}: {e}"))
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            let bodies: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
            assert!(!bodies.is_empty(), "no seed in fuzz/seeds/{t}");
            out.insert(t.to_owned(), bodies);
        }
        out
    });
    &all[target]
}

// ---------------------------------------------------------------------------------------
// Inputs: arbitrary bytes, byte-wise mutations of a seed, structural mutations of a seed.

/// Byte sequences and JSON tokens that break parsers more often than random bytes do.
const NASTY: &[&[u8]] = &[
    b"null",
    b"[]",
    b"{}",
    b"\"\"",
    b"-1",
    b"1e999",
    b"-0.0",
    b"18446744073709551616",
    b"47.9",
    b"\"0000-00-00\"",
    b"\"9999-12-31T23:59:59\"",
    b"\"+262143-12-31T23:59:59\"",
    b"\"-262143-01-01\"",
    b"\"\\u0000\\u001b[31m\"",
    b"\"\\ud800\"",
    b"\xff\xfe\xc3\x28",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    b"\x00",
    b"\"65736\"",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Splice { at: usize, nasty: usize },
    Truncate { at: usize },
    Repeat { at: usize, len: usize, times: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..NASTY.len()).prop_map(|(at, nasty)| Mutation::Splice { at, nasty }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), 1usize..32, 2usize..64).prop_map(|(at, len, times)| Mutation::Repeat {
            at,
            len,
            times
        }),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let n = bytes.len().max(1);
        match *m {
            Mutation::Flip { at, bit } => {
                if !bytes.is_empty() {
                    bytes[at % n] ^= 1 << bit;
                }
            }
            Mutation::Insert { at, byte } => bytes.insert(at % (bytes.len() + 1), byte),
            Mutation::Delete { at, len } => {
                let start = at % n;
                let end = (start + len).min(bytes.len());
                if start < end {
                    bytes.drain(start..end);
                }
            }
            Mutation::Splice { at, nasty } => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, NASTY[nasty].iter().copied());
            }
            Mutation::Truncate { at } => bytes.truncate(at % n),
            Mutation::Repeat { at, len, times } => {
                let start = at % n;
                let end = (start + len).min(bytes.len());
                if start < end {
                    let chunk = bytes[start..end].to_vec();
                    for _ in 1..times {
                        bytes.splice(end..end, chunk.iter().copied());
                    }
                }
            }
        }
    }
    bytes
}

/// A JSON value of the kinds hostile servers send: huge and tiny numbers, dates out of
/// range, control characters, long texts, nesting.
fn hostile_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
        prop_oneof![
            Just("0000-01-01"),
            Just("9999-12-31 23:59:59"),
            Just("+262143-12-31T23:59:59Z"),
            Just("2024-02-30"),
            Just("2024-03-31T02:30:00"),
            Just("1e308"),
            Just("-0"),
            Just("NaN"),
            Just("inf"),
            Just("12,5"),
            Just("99999999999999999999"),
            Just("jean.dupont(at)exemple.fr"),
            Just("a@b"),
            Just("\u{0}\u{7}\u{1b}[2J"),
            Just("\u{fffd}"),
            Just("oui"),
            Just("ski|jazz"),
            Just("1"),
        ]
        .prop_map(|s| json!(s)),
        ".{0,40}".prop_map(Json::String),
        (1usize..100_000).prop_map(|n| json!("x".repeat(n))),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the nodes picked by `picks` (an index into the list of every node, wrapped) with
/// the given values.
fn mutate_json(mut v: Json, edits: &[(usize, Json)]) -> Json {
    for (pick, with) in edits {
        let mut paths = Vec::new();
        collect_paths(&v, String::new(), &mut paths);
        let path = &paths[pick % paths.len()];
        if path.is_empty() {
            v = with.clone();
        } else if let Some(slot) = v.pointer_mut(path) {
            *slot = with.clone();
        }
    }
    v
}

fn collect_paths(v: &Json, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match v {
        Json::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_paths(x, format!("{here}/{i}"), out);
            }
        }
        Json::Object(m) => {
            for (k, x) in m {
                let k = k.replace('~', "~0").replace('/', "~1");
                collect_paths(x, format!("{here}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// Arbitrary bytes, a seed mutated byte-wise, or a JSON seed mutated structurally.
fn input(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds(target).len();
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        (0..n, prop::collection::vec(mutation(), 1..8))
            .prop_map(move |(i, ms)| apply(seeds(target)[i].clone(), &ms)),
        (
            0..n,
            prop::collection::vec((any::<usize>(), hostile_json()), 1..4)
        )
            .prop_map(move |(i, edits)| {
                match serde_json::from_slice::<Json>(&seeds(target)[i]) {
                    Ok(v) => serde_json::to_vec(&mutate_json(v, &edits)).unwrap(),
                    Err(_) => seeds(target)[i].clone(),
                }
            }),
    ]
}

// ---------------------------------------------------------------------------------------
// What a parsed value must satisfy.

/// Every value a parser reads goes through the sync's coercion without panicking; what it
/// accepts is within the limits and prints.
fn check_value(v: &Value) -> Result<(), TestCaseError> {
    let _ = v.canonical();
    let _ = v.to_string();
    for ty in TYPES {
        match v.clone().coerce_within(ty, &ValueLimits::DEFAULT) {
            Ok(c) => prop_assert!(c.refusal(&ValueLimits::DEFAULT).is_none(), "{c:?}"),
            Err(e) => {
                let m = e.to_string();
                prop_assert!(!m.is_empty());
                prop_assert!(
                    !m.chars().any(|c| c.is_control()),
                    "a refusal message must not carry control characters: {m:?}"
                );
            }
        }
    }
    Ok(())
}

fn mautic_types() -> FieldTypes {
    [
        ("email", "email"),
        ("points", "number"),
        ("newsletter", "boolean"),
        ("birthday", "date"),
        ("seen", "datetime"),
        ("hobbies", "multiselect"),
        ("firstname", "text"),
    ]
    .into_iter()
    .map(|(a, t)| (a.to_owned(), FieldMeta::of(t)))
    .collect()
}

fn check_mautic(data: &[u8]) -> Result<(), TestCaseError> {
    let types = mautic_types();
    let config = sim_config();
    for (key, kind) in [
        ("contacts", RecordKind::MauticContact),
        ("companies", RecordKind::MauticCompany),
    ] {
        match parse::page(data, key, kind, &types) {
            Ok(page) => {
                let mut last = 0;
                for r in &page.records {
                    let id: u64 = r.id.parse().map_err(|_| {
                        TestCaseError::fail(format!("a Mautic id that is not a number: {}", r.id))
                    })?;
                    prop_assert!(id >= last, "records sorted by id");
                    last = id;
                    for v in r.fields.values() {
                        check_value(v)?;
                    }
                    let mut report = CycleReport::default();
                    let _ = fieldsync::sync::mapping::sighting(config, r, &mut report);
                }
            }
            Err(m) => prop_assert!(!m.is_empty()),
        }
        match parse::batch(data, key) {
            Ok(a) => {
                prop_assert!(a.codes.values().all(|c| (100..600).contains(c)));
                for r in a.records.values() {
                    if let Ok(rec) = parse::record(kind, r, &types) {
                        for v in rec.fields.values() {
                            check_value(v)?;
                        }
                    }
                }
            }
            Err(m) => prop_assert!(!m.is_empty()),
        }
        match parse::fields(data, kind) {
            Ok(page) => {
                prop_assert!(page.fields.len() <= page.rows);
                for f in page.fields {
                    prop_assert_eq!(f.field_type, parse::model_type(&f.raw_type));
                }
            }
            Err(m) => prop_assert!(!m.is_empty()),
        }
    }
    let _ = parse::error_message(data);
    match parse::token(data) {
        Ok((token, lifetime)) => {
            prop_assert!(!token.is_empty());
            prop_assert!(lifetime <= parse::MAX_TOKEN_LIFETIME);
        }
        Err(e) => prop_assert!(matches!(e, ErrorKind::Decode(_)), "{e:?}"),
    }
    Ok(())
}

fn weavy_dictionary() -> &'static Dictionary {
    static D: OnceLock<Dictionary> = OnceLock::new();
    D.get_or_init(|| {
        let body = json!({"entityName": "customercontact", "fields": [
            {"fieldName": "customercontact_ID", "fieldType": "text"},
            {"fieldName": "customer_ID", "fieldType": "text(foreignkey)"},
            {"fieldName": "email", "fieldType": "text"},
            {"fieldName": "firstName", "fieldType": "text"},
            {"fieldName": "emailOptIn", "fieldType": "boolean"},
            {"fieldName": "bouncedEmailDetected", "fieldType": "datetime"},
            {"fieldName": "closedDate", "fieldType": "date"},
            {"fieldName": "score", "fieldType": "number"},
        ]});
        Dictionary::parse(RecordKind::WeavyContact, body.to_string().as_bytes()).unwrap()
    })
}

fn sim_config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| Config::parse(std::str::from_utf8(&seeds("config")[1]).unwrap()).unwrap())
}

fn check_weavy(data: &[u8]) -> Result<(), TestCaseError> {
    let tz = chrono_tz::Europe::Paris;
    let config = sim_config();
    for (kind, dictionary) in [
        (RecordKind::WeavyContact, Some(weavy_dictionary())),
        (RecordKind::WeavyContact, None),
        (RecordKind::WeavyCustomer, None),
        (RecordKind::WeavyEntrant, None),
    ] {
        match weavy::parse_select(kind, dictionary, tz, data) {
            Ok(rows) => {
                prop_assert!(rows.records.len() <= rows.keys.len());
                for r in &rows.records {
                    prop_assert!(!r.id.is_empty());
                    let clean = !r.id.chars().any(|c| c.is_control() || c == '\u{fffd}');
                    prop_assert!(clean, "id {:?}", r.id);
                    for v in r.fields.values() {
                        check_value(v)?;
                        for ty in TYPES {
                            if let Ok(c) = v.clone().coerce_within(ty, &ValueLimits::DEFAULT) {
                                let _ = weavy::value_to_json(&c, Some(ty), tz);
                            }
                        }
                    }
                    let mut report = CycleReport::default();
                    let s = fieldsync::sync::mapping::sighting(config, r, &mut report);
                    // What the sync keeps of a record is within the limits, always.
                    for (_, v) in s.iter().flat_map(|s| &s.fields) {
                        prop_assert!(v.refusal(&config.value_limits()).is_none(), "{v:?}");
                    }
                }
            }
            Err(e) => prop_assert!(matches!(e, ErrorKind::Decode(_)), "{e:?}"),
        }
    }
    for kind in [
        RecordKind::WeavyCustomer,
        RecordKind::WeavyContact,
        RecordKind::WeavyEntrant,
    ] {
        match Dictionary::parse(kind, data) {
            Ok(d) => {
                for f in d.fields() {
                    prop_assert_eq!(f.field_type, weavy::field_type_of(&f.raw_type));
                }
            }
            Err(e) => prop_assert!(matches!(e, ErrorKind::Decode(_)), "{e:?}"),
        }
    }
    match weavy::parse_authenticate(data) {
        Ok((token, lifetime)) => {
            prop_assert!(!token.is_empty());
            prop_assert!(lifetime.as_secs() <= 31_536_000);
        }
        Err(e) => {
            prop_assert!(matches!(e, ErrorKind::Decode(_)), "{e:?}");
            // The answer holds the token: an error never quotes it.
            let m = e.to_string();
            prop_assert!(m.len() < 120, "{m}");
        }
    }
    Ok(())
}

fn check_config(data: &[u8]) -> Result<(), TestCaseError> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    match Config::parse(text) {
        Ok(c) => {
            prop_assert!(c.check().is_empty());
            for kind in c.kinds() {
                for m in c.mappings(kind) {
                    let _ = m.policy(&c.sync);
                }
            }
            let _ = c.validate_fields(&Default::default());
            // What the pull and the merge compute from the durations stays in range.
            let overlap = chrono::Duration::from_std(c.sync.overlap_window).unwrap();
            let _ = chrono::Utc::now() - overlap;
            prop_assert!(i64::try_from(c.sync.tie_window.as_micros()).is_ok());
        }
        Err(ConfigError::Parse { message, .. }) => prop_assert!(!message.is_empty()),
        Err(ConfigError::Invalid(problems)) => prop_assert!(!problems.is_empty()),
        Err(other) => prop_assert!(false, "Config::parse gave {other:?}"),
    }
    Ok(())
}

fn corrupt(e: StoreError) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(
            e,
            StoreError::Corrupt { .. }
                | StoreError::NewerFormat { .. }
                | StoreError::OutdatedFormat { .. }
        ),
        "{e:?}"
    );
    let m = e.to_string();
    prop_assert!(m.contains("fieldsync"), "the message says what to do: {m}");
    Ok(())
}

/// The field dictionary of the fuzzed values: numbers 0 to 999 are known (`f0`...), and a name
/// met in a value of format 1 gets the next number.
fn numbers() -> MemoryFieldIds {
    MemoryFieldIds::with_names((0..1000).map(|i| format!("f{i}")))
}

fn check_codec(data: &[u8]) -> Result<(), TestCaseError> {
    let ids = numbers();
    macro_rules! decode {
        ($t:ty) => {
            decode!(
                $t,
                |bytes| codec::decode::<$t>(bytes, "fuzzed value"),
                |v| Ok::<_, StoreError>(codec::encode(v))
            )
        };
        ($t:ty, $read:expr, $write:expr) => {
            match $read(data) {
                Ok(v) => {
                    let bytes = $write(&v).expect("what decodes encodes");
                    let again: $t = $read(&bytes).expect("what decodes re-encodes");
                    if !format!("{v:?}").contains("NaN") {
                        prop_assert_eq!(&v, &again);
                    }
                    Some(v)
                }
                Err(e) => {
                    corrupt(e)?;
                    None
                }
            }
        };
    }
    if let Some(r) = decode!(
        StoredRecord,
        |bytes| codec::decode_record(bytes, &ids),
        |v| codec::encode_record(v, &ids)
    ) {
        for f in &r.fields {
            let _ = f.observation();
        }
    }
    decode!(
        StoredObservations,
        |bytes| codec::decode_observations(bytes, &ids),
        |v| codec::encode_observations(v, &ids)
    );
    decode!(
        StoredEntity,
        |bytes| codec::decode_entity(bytes, &ids),
        |v| codec::encode_entity(v, &ids)
    );
    if let Some(p) = decode!(StoredPatch)
        && let Err(e) = p.into_patch()
    {
        corrupt(e)?;
    }
    if let Some(c) = decode!(StoredConflict)
        && let Err(e) = c.into_entry()
    {
        corrupt(e)?;
    }
    if let Err(e) = codec::decode::<CycleReport>(data, "cycle report") {
        corrupt(e)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mautic_answers_give_a_value_or_an_error(data in input("mautic_answers")) {
        check_mautic(&data)?;
    }

    #[test]
    fn weavy_answers_give_a_value_or_a_decode_error(data in input("weavy_answers")) {
        check_weavy(&data)?;
    }

    #[test]
    fn config_files_give_a_config_or_a_config_error(data in input("config")) {
        check_config(&data)?;
    }

    #[test]
    fn stored_values_decode_or_are_reported_corrupt(data in input("store_codec")) {
        check_codec(&data)?;
    }
}

/// Every seed itself reads as what it is (the properties above start from valid answers).
#[test]
fn the_seeds_are_valid_answers() {
    let types = mautic_types();
    let lists = seeds("mautic_answers")
        .iter()
        .filter_map(|s| parse::page(s, "contacts", RecordKind::MauticContact, &types).ok())
        .filter(|p| !p.records.is_empty())
        .count();
    assert!(lists >= 1, "a Mautic contact list among the seeds");
    let selects = seeds("weavy_answers")
        .iter()
        .filter_map(|s| {
            weavy::parse_select(RecordKind::WeavyContact, None, chrono_tz::Europe::Paris, s).ok()
        })
        .filter(|r| !r.records.is_empty())
        .count();
    assert!(selects >= 1, "a weavy Select among the seeds");
    assert!(
        seeds("config")
            .iter()
            .all(|s| Config::parse(std::str::from_utf8(s).unwrap()).is_ok())
    );
    assert!(
        seeds("store_codec")
            .iter()
            .filter(|s| codec::decode_record(s, &numbers()).is_ok())
            .count()
            >= 1
    );
}

/// The mutated inputs reach past the first bytes: a fair share of them still parse into
/// records, so the properties above exercise the record and value code, not only the JSON
/// syntax check.
#[test]
fn mutated_answers_still_reach_the_record_parsers() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let tz = chrono_tz::Europe::Paris;
    let (mut weavy_rows, mut mautic_rows) = (0, 0);
    for _ in 0..300 {
        let w = input("weavy_answers")
            .new_tree(&mut runner)
            .unwrap()
            .current();
        if [
            RecordKind::WeavyCustomer,
            RecordKind::WeavyContact,
            RecordKind::WeavyEntrant,
        ]
        .into_iter()
        .any(|k| weavy::parse_select(k, None, tz, &w).is_ok_and(|r| !r.records.is_empty()))
        {
            weavy_rows += 1;
        }
        let m = input("mautic_answers")
            .new_tree(&mut runner)
            .unwrap()
            .current();
        if parse::page(&m, "contacts", RecordKind::MauticContact, &mautic_types())
            .is_ok_and(|p| !p.records.is_empty())
        {
            mautic_rows += 1;
        }
    }
    eprintln!("of 300 inputs, {weavy_rows} weavy and {mautic_rows} Mautic ones held records");
    assert!(weavy_rows >= 20, "{weavy_rows}");
    assert!(mautic_rows >= 10, "{mautic_rows}");
}

// ---------------------------------------------------------------------------------------
// Regressions: what the properties, fuzzing and review found, one test each.

fn weavy_contact_row(extra: Json) -> Vec<u8> {
    let mut row = json!({
        "customercontact_ID": "C1", "email": "a@b.fr", "firstName": "Ana",
        "srvDateUTC": "2024-05-01T10:00:00",
    });
    for (k, v) in extra.as_object().unwrap() {
        row[k] = v.clone();
    }
    serde_json::to_vec(&json!([row])).unwrap()
}

/// Found by `weavy_answers_give_a_value_or_a_decode_error`: a contact's company (the internal
/// relation field, taken from `customer_ID` without a mapping's coercion) escaped the limits.
#[test]
fn an_oversized_company_reference_is_refused_like_any_value() {
    let body = weavy_contact_row(json!({"customer_ID": "T".repeat(100_000)}));
    let rows = weavy::parse_select(
        RecordKind::WeavyContact,
        Some(weavy_dictionary()),
        chrono_tz::Europe::Paris,
        &body,
    )
    .unwrap();
    let mut report = CycleReport::default();
    let s =
        fieldsync::sync::mapping::sighting(sim_config(), &rows.records[0], &mut report).unwrap();
    assert!(
        s.fields.iter().all(|(name, _)| name != "company"),
        "{:?}",
        s.fields.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(s.fields.iter().any(|(name, _)| name == "firstname"));
    assert_eq!(report.invalid_values, 1);
    assert!(report.errors[0].contains("C1") && report.errors[0].contains("field company"));
}

/// Review: Mautic ids written as fractional or negative numbers were truncated into another
/// record's id (`47.9` -> 47, `-1` -> 0).
#[test]
fn a_mautic_id_must_be_a_whole_number() {
    assert_eq!(parse::loose_u64(&json!(47)), Some(47));
    assert_eq!(parse::loose_u64(&json!("47")), Some(47));
    assert_eq!(parse::loose_u64(&json!(47.0)), Some(47));
    for bad in [
        json!(47.9),
        json!(-1),
        json!(-0.5),
        json!(1e300),
        json!("4 7"),
        json!(null),
    ] {
        assert_eq!(parse::loose_u64(&bad), None, "{bad}");
    }
    let v = json!({"id": 47.9, "dateAdded": "2024-05-01T10:00:00+00:00", "fields": {"all": {}}});
    assert!(parse::record(RecordKind::MauticContact, &v, &mautic_types()).is_err());
}

/// Review: a batch status code past 65535 wrapped around (`65736 as u16` is 200, a success).
#[test]
fn a_batch_status_that_is_not_an_http_status_is_no_status() {
    let body =
        json!({"contacts": [{"id": 1}, {"id": 2}], "statusCodes": [65736, 99], "errors": []});
    let a = parse::batch(body.to_string().as_bytes(), "contacts").unwrap();
    assert!(a.codes.is_empty(), "{:?}", a.codes);
}

/// Review: weavy `date` values were read with no plausibility check, so year 0 and year 9999
/// passed coercion and could be written to Mautic.
#[test]
fn weavy_dates_in_year_0_or_9999_are_refused() {
    let tz = chrono_tz::Europe::Paris;
    for (raw, ty) in [
        ("0000-01-01", FieldType::Date),
        ("9999-12-31", FieldType::Date),
        ("0000-01-01T00:00:00", FieldType::DateTime),
        ("9999-12-31T23:59:59Z", FieldType::DateTime),
    ] {
        let v = weavy::parse_value(&json!(raw), Some(ty), tz);
        let e = v.coerce(ty).unwrap_err();
        assert!(
            e.to_string().contains("is outside 1800..=2200"),
            "{raw}: {e}"
        );
    }
    let ok = weavy::parse_value(&json!("2024-05-01"), Some(FieldType::Date), tz);
    assert!(ok.coerce(FieldType::Date).is_ok());
}

/// Design: bytes that are not UTF-8 in one value fail that value, not the whole answer.
#[test]
fn bytes_that_are_not_utf8_fail_only_their_value() {
    let mut body = weavy_contact_row(json!({"firstName": "Jos__"}));
    let at = body.windows(5).position(|w| w == b"Jos__").unwrap() + 3;
    body[at] = 0xC3;
    body[at + 1] = 0x28; // an invalid two-byte sequence
    assert!(std::str::from_utf8(&body).is_err());
    let rows = weavy::parse_select(
        RecordKind::WeavyContact,
        Some(weavy_dictionary()),
        chrono_tz::Europe::Paris,
        &body,
    )
    .unwrap();
    let mut report = CycleReport::default();
    let s =
        fieldsync::sync::mapping::sighting(sim_config(), &rows.records[0], &mut report).unwrap();
    assert!(s.fields.iter().all(|(name, _)| name != "firstname"));
    assert!(s.fields.iter().any(|(name, _)| name == "email"));
    assert!(
        report.errors[0].contains("not UTF-8"),
        "{:?}",
        report.errors
    );

    let mut mautic = br#"{"total":1,"contacts":{"5":{"id":5,"dateAdded":"2024-05-01T10:00:00+00:00","fields":{"all":{"email":"a@b.fr","firstname":"Jo_"}}}}}"#.to_vec();
    let at = mautic.windows(3).position(|w| w == b"Jo_").unwrap() + 2;
    mautic[at] = 0xFF;
    let page = parse::page(
        &mautic,
        "contacts",
        RecordKind::MauticContact,
        &mautic_types(),
    )
    .unwrap();
    let v = page.records[0].get("firstname").clone();
    assert!(
        v.coerce(FieldType::Text)
            .unwrap_err()
            .to_string()
            .contains("not UTF-8")
    );
}

/// Design: a weavy id with control characters (or that was not UTF-8) would name another
/// record in URLs and stored keys; the row is skipped.
#[test]
fn a_weavy_row_whose_id_is_not_printable_is_skipped() {
    for id in ["C\u{0}1", "C\n1", "C\u{fffd}", &"C".repeat(300)] {
        let body = weavy_contact_row(json!({"customercontact_ID": id}));
        let rows = weavy::parse_select(
            RecordKind::WeavyContact,
            None,
            chrono_tz::Europe::Paris,
            &body,
        )
        .unwrap();
        assert_eq!(rows.keys.len(), 1);
        assert!(rows.records.is_empty(), "{id:?}");
    }
}

/// Design: a token that could not be sent in a header is refused without being quoted.
#[test]
fn an_authenticate_token_that_is_not_printable_is_refused_unquoted() {
    for token in ["abc\ndef", "jeton-été", "a b"] {
        let body = json!({"authToken": token, "expiresIn": 60}).to_string();
        let e = weavy::parse_authenticate(body.as_bytes()).unwrap_err();
        assert!(!e.to_string().contains(token), "{e}");
    }
    let (t, d) =
        weavy::parse_authenticate(br#"{"authToken":"eyJ.a.b","expiresIn":"1e99"}"#).unwrap();
    assert_eq!(t.expose(), "eyJ.a.b");
    assert_eq!(d.as_secs(), 31_536_000, "capped at a year");
}

/// Design: nesting far past serde_json's limit is a decode error, not a stack overflow.
#[test]
fn deeply_nested_answers_are_decode_errors() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    for body in [deep.as_bytes(), deep_obj.as_bytes()] {
        assert!(parse::page(body, "contacts", RecordKind::MauticContact, &mautic_types()).is_err());
        assert!(parse::batch(body, "contacts").is_err());
        assert!(parse::fields(body, RecordKind::MauticContact).is_err());
        assert_eq!(parse::error_message(body), None);
        assert!(matches!(
            weavy::parse_select(
                RecordKind::WeavyContact,
                None,
                chrono_tz::Europe::Paris,
                body
            ),
            Err(ErrorKind::Decode(_))
        ));
        // An unknown key is skipped, however deep: no field, or an error; never a crash.
        match Dictionary::parse(RecordKind::WeavyContact, body) {
            Ok(d) => assert!(d.fields().is_empty()),
            Err(e) => assert!(matches!(e, ErrorKind::Decode(_))),
        }
        assert!(matches!(
            weavy::parse_authenticate(body),
            Err(ErrorKind::Decode(_))
        ));
    }
    let deep_toml = format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Config::parse(&deep_toml).is_err());
}
