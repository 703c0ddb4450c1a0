use super::*;
use crate::model::{ConflictRule, Entity, EntityKind, RecordKind, Rule, SideValue};
use crate::store::{MergeCommit, Sighting};
use chrono::TimeZone;

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
}

fn entry(at: i64, field: &str, rule: Rule, w: &str, m: &str) -> ConflictEntry {
    ConflictEntry {
        at: t(at),
        cycle: 2,
        entity: EntityId(1),
        entity_kind: EntityKind::Person,
        field: field.into(),
        rule: ConflictRule::Merge(rule),
        winner: Some(Side::Mautic),
        weavy: SideValue {
            record: Some(RecordRef::new(RecordKind::WeavyContact, "C1")),
            value: Value::text(w),
            at: Some(t(at - 20)),
        },
        mautic: SideValue {
            record: Some(RecordRef::new(RecordKind::MauticContact, "47")),
            value: Value::text(m),
            at: Some(t(at - 10)),
        },
        base: None,
        note: String::new(),
    }
}

fn linked_store() -> Store {
    let s = Store::temporary().unwrap();
    let w = RecordRef::new(RecordKind::WeavyContact, "C1");
    let m = RecordRef::new(RecordKind::MauticContact, "47");
    let sight = |r: &RecordRef, at: i64, v: &str| Sighting {
        record: r.clone(),
        modified_at: t(at),
        email: Some("jean@x.fr".into()),
        company_key: None,
        company_name: None,
        company_ref: None,
        fields: vec![("firstname".into(), Value::text(v))],
    };
    s.ingest(1, &[sight(&w, 10, "Jean")]).unwrap();
    s.ingest(1, &[sight(&m, 5, "Jeannot")]).unwrap();
    s.ingest(2, &[sight(&w, 30, "Jeanne")]).unwrap();
    let mut e = Entity::new(EntityId(1), EntityKind::Person, 1);
    e.weavy = Some(w);
    e.mautic = Some(m);
    s.commit(&MergeCommit {
        entities: vec![e],
        conflicts: vec![entry(20, "firstname", Rule::NewerWins, "Jean", "Jeannot")],
        ..Default::default()
    })
    .unwrap();
    s
}

#[test]
fn csv_has_a_header_and_one_row_per_entry() {
    let s = Store::temporary().unwrap();
    s.append_conflicts(&[
        entry(10, "firstname", Rule::NewerWins, "a", "b, with a comma"),
        entry(20, "lastname", Rule::BlankKept, "", "x"),
    ])
    .unwrap();
    let mut out = Vec::new();
    let n = export_conflicts(
        &s,
        &ConflictFilter::default(),
        Window::default(),
        Format::Csv,
        &mut out,
    )
    .unwrap();
    assert_eq!(n, 2);
    let mut r = csv::Reader::from_reader(out.as_slice());
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        CONFLICT_HEADER
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][4], "firstname");
    assert_eq!(&rows[0][5], "newer_wins");
    assert_eq!(&rows[0][11], "b, with a comma");
    assert_eq!(&rows[1][8], "", "blank exports as an empty cell");
}

#[test]
fn jsonl_is_one_object_per_line_with_typed_values() {
    let s = Store::temporary().unwrap();
    let mut e = entry(10, "employees", Rule::NewerWins, "", "");
    e.weavy.value = Value::Number(12.0);
    e.mautic.value = Value::Blank;
    s.append_conflicts(&[e, entry(20, "lastname", Rule::BlankKept, "", "x")])
        .unwrap();
    let filter = ConflictFilter {
        field: Some("employees".into()),
        ..Default::default()
    };
    let mut out = Vec::new();
    assert_eq!(
        export_conflicts(&s, &filter, Window::default(), Format::Jsonl, &mut out).unwrap(),
        1
    );
    let text = String::from_utf8(out).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(v["weavy_value"], serde_json::json!(12.0));
    assert_eq!(v["mautic_value"], serde_json::Value::Null);
    assert_eq!(v["weavy_record"], "customercontact:C1");
    assert_eq!(v["at"], "2023-11-14T22:13:30Z");
}

#[test]
fn history_interleaves_both_sides_and_decisions_in_time_order() {
    let s = linked_store();
    let lines = history(&s, &RecordRef::new(RecordKind::MauticContact, "47")).unwrap();
    let summary: Vec<(i64, &str, Option<Side>)> = lines
        .iter()
        .map(|l| (l.at.timestamp() - 1_700_000_000, l.event, l.side))
        .collect();
    assert_eq!(
        summary,
        [
            (5, "observed", Some(Side::Mautic)),
            (10, "observed", Some(Side::Weavy)),
            (20, "decided", Some(Side::Mautic)),
            (30, "observed", Some(Side::Weavy)),
        ]
    );
    assert_eq!(lines[3].value, serde_json::json!("Jeanne"));
    assert!(
        lines[2].detail.starts_with("newer_wins, mautic won"),
        "{}",
        lines[2].detail
    );
    let mut out = Vec::new();
    write_history(&lines, Format::Table, &mut out).unwrap();
    let table = String::from_utf8(out).unwrap();
    assert_eq!(table.lines().count(), 4);
    assert!(table.contains("contact:47"), "{table}");
}

#[test]
fn history_of_an_unknown_record_says_so() {
    let s = Store::temporary().unwrap();
    let err = history(&s, &RecordRef::new(RecordKind::WeavyEntrant, "nope")).unwrap_err();
    assert!(matches!(err, AuditError::UnknownRecord(_)));
    assert!(err.to_string().contains("marketinginbound"), "{err}");
}
