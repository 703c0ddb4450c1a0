//! The audit commands (`conflicts`, `history`) run as a user runs them: the built binary on a
//! database on disk.

use chrono::{TimeZone, Utc};
use fieldsync::model::{
    ConflictEntry, ConflictRule, Entity, EntityId, EntityKind, RecordKind, RecordRef, Rule, Side,
    SideValue, Value,
};
use fieldsync::store::{MergeCommit, Sighting, Store, StoreOptions};
use std::path::Path;
use std::process::{Command, Output};

fn fieldsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args(args)
        .env_remove("FIELDSYNC_DB")
        .output()
        .expect("the binary runs")
}

fn seed(path: &Path) {
    let s = Store::open(path, &StoreOptions::default()).unwrap();
    let t = |x: i64| Utc.timestamp_opt(1_700_000_000 + x, 0).unwrap();
    let w = RecordRef::new(RecordKind::WeavyContact, "C0001");
    let m = RecordRef::new(RecordKind::MauticContact, "47");
    for (r, at, v) in [(&w, 10, "Jean"), (&m, 12, "Jeannot")] {
        s.ingest(
            1,
            &[Sighting {
                record: r.clone(),
                modified_at: t(at),
                email: Some("jean@exemple.fr".into()),
                company_key: None,
                company_name: None,
                company_ref: None,
                fields: vec![("firstname".into(), Value::text(v))],
            }],
        )
        .unwrap();
    }
    let mut e = Entity::new(EntityId(1), EntityKind::Person, 1);
    e.weavy = Some(w.clone());
    e.mautic = Some(m.clone());
    let entry = |at: i64, field: &str, rule: Rule| ConflictEntry {
        at: t(at),
        cycle: 1,
        entity: EntityId(1),
        entity_kind: EntityKind::Person,
        field: field.into(),
        rule: ConflictRule::Merge(rule),
        winner: Some(Side::Mautic),
        weavy: SideValue {
            record: Some(w.clone()),
            value: Value::text("Jean"),
            at: Some(t(10)),
        },
        mautic: SideValue {
            record: Some(m.clone()),
            value: Value::text("Jeannot"),
            at: Some(t(12)),
        },
        base: None,
        note: String::new(),
    };
    s.commit(&MergeCommit {
        entities: vec![e],
        conflicts: vec![
            entry(20, "firstname", Rule::NewerWins),
            entry(30, "lastname", Rule::BlankKept),
            entry(40, "firstname", Rule::TiePreferredSide),
        ],
        ..Default::default()
    })
    .unwrap();
    s.flush().unwrap();
}

#[test]
fn conflicts_export_as_csv_with_a_header_and_one_row_per_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    seed(&db);
    let out = fieldsync(&["conflicts", "--db", db.to_str().unwrap(), "--format", "csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("at,cycle,entity,object,field,rule,winner"),
        "{text}"
    );
    assert_eq!(lines.len(), 4, "header and three entries: {text}");

    let out = fieldsync(&[
        "conflicts",
        "--db",
        db.to_str().unwrap(),
        "--format",
        "jsonl",
        "--field",
        "firstname",
        "--from",
        "2023-11-14T22:13:50Z",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let rules: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["rule"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(rules, ["tie_preferred_side"]);
}

#[cfg(unix)]
#[test]
fn an_export_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    seed(&db);
    let file = dir.path().join("conflicts.csv");
    let out = fieldsync(&[
        "conflicts",
        "--db",
        db.to_str().unwrap(),
        "--format",
        "csv",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 4);
}

#[test]
fn history_shows_both_sides_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    seed(&db);
    let out = fieldsync(&[
        "history",
        "--db",
        db.to_str().unwrap(),
        "customercontact:C0001",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let sides: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        sides,
        ["weavy", "mautic", "mautic", "mautic", "mautic"],
        "{text}"
    );
    assert!(text.contains("decided: newer_wins, mautic won"), "{text}");

    let out = fieldsync(&["history", "--db", db.to_str().unwrap(), "contact:999"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("never seen"));
}

#[test]
fn a_second_process_is_told_the_database_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    seed(&db);
    let _held = Store::open(&db, &StoreOptions::default()).unwrap();
    let out = fieldsync(&["conflicts", "--db", db.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another fieldsync process"), "{err}");
    assert!(err.contains(db.to_str().unwrap()), "{err}");
}

#[test]
fn a_missing_database_is_not_created_by_a_typo() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nope");
    let out = fieldsync(&["conflicts", "--db", db.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(!db.exists());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no fieldsync database"));
}

fn out_text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err_text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_conflicts_table_has_a_header_and_names_people() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    seed(&db);
    let db = db.to_str().unwrap();
    let out = fieldsync(&["conflicts", "--db", db]);
    assert!(out.status.success(), "{}", err_text(&out));
    let text = out_text(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("who") && lines[0].contains("rule"),
        "{text}"
    );
    assert_eq!(lines.len(), 4, "a header and three entries: {text}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains("Jean") && l.contains("<jean@exemple.fr>")),
        "{text}"
    );
    // CSV and JSON Lines carry it too, as a last column.
    let csv = out_text(&fieldsync(&["conflicts", "--db", db, "--format", "csv"]));
    assert!(csv.lines().next().unwrap().ends_with(",note,who"), "{csv}");
    assert!(csv.contains("Jean <jean@exemple.fr>"), "{csv}");
}

#[test]
fn limit_tail_and_relative_times_choose_the_entries() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    seed(&db);
    let db = db.to_str().unwrap();
    let rules = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["conflicts", "--db", db, "--format", "jsonl"];
        all.extend_from_slice(args);
        let out = fieldsync(&all);
        assert!(out.status.success(), "{args:?}: {}", err_text(&out));
        out_text(&out)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["rule"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    assert_eq!(rules(&["--limit", "1"]), ["newer_wins"]);
    assert_eq!(
        rules(&["--tail", "2"]),
        ["blank_kept", "tie_preferred_side"]
    );
    assert_eq!(rules(&["--tail", "0"]), Vec::<String>::new());
    // The seeded entries are from 2023: none in the last day, all in the last 10,000 days.
    assert!(rules(&["--from", "24h"]).is_empty());
    assert_eq!(rules(&["--from", "10000d"]).len(), 3);
    assert_eq!(rules(&["--to", "2w"]).len(), 3);
    let out = fieldsync(&["conflicts", "--db", db, "--from", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err_text(&out).contains("24h"), "{}", err_text(&out));
}

#[test]
fn a_mistyped_filter_is_refused_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    seed(&db);
    let db = db.to_str().unwrap();
    let out = fieldsync(&["conflicts", "--db", db, "--field", "firstnme"]);
    assert_eq!(out.status.code(), Some(2), "{}", err_text(&out));
    assert!(
        err_text(&out).contains("did you mean 'firstname'?"),
        "{}",
        err_text(&out)
    );
    let out = fieldsync(&["conflicts", "--db", db, "--rule", "newer_win"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err_text(&out).contains("did you mean 'newer_wins'?"),
        "{}",
        err_text(&out)
    );
    let out = fieldsync(&["conflicts", "--db", db, "--object", "contcat"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err_text(&out).contains("did you mean 'contact'?"),
        "{}",
        err_text(&out)
    );
    // A field the database knows is taken, even with no entry.
    let out = fieldsync(&["conflicts", "--db", db, "--field", "firstname"]);
    assert!(out.status.success(), "{}", err_text(&out));
}
