//! Edits of the same field on both sides between two cycles, under each direction, and an
//! edit on one side only whose clock runs behind.

mod common;

use common::{Harness, text};
use fieldsync::model::{ConflictRule, Rule};
use fieldsync::store::ConflictFilter;
use serde_json::json;

/// One linked person: weavy Contact C1 and a Mautic contact, both "Jean". Returns the Mautic id.
async fn linked_person(h: &Harness) -> u64 {
    h.pair.weavy.insert(
        "customercontact",
        "C1",
        &[
            ("firstName", json!("Jean")),
            ("lastName", json!("Dupont")),
            ("email", json!("jean.dupont@acme.fr")),
        ],
    );
    let m = h.pair.mautic.add_contact(&[
        ("firstname", json!("Jean")),
        ("lastname", json!("Dupont")),
        ("email", json!("jean.dupont@acme.fr")),
    ]);
    let r = h.cycle().await;
    assert_eq!(r.linked, 1);
    assert_eq!(r.total_write_requests(), 0, "they already agree");
    m
}

fn mapping(direction: &str) -> String {
    format!(
        r#"
[[person_fields]]
name = "email"
weavy = "email"
mautic = "email"
ignore_case = true

[[person_fields]]
name = "firstname"
weavy = "firstName"
mautic = "firstname"
direction = "{direction}"
"#
    )
}

fn firstnames(h: &Harness, m: u64) -> (String, String) {
    (
        text(
            h.pair
                .weavy
                .record("customercontact", "C1")
                .unwrap()
                .get("firstName"),
        ),
        h.pair
            .mautic
            .contact(m)
            .unwrap()
            .text("firstname")
            .unwrap_or("")
            .to_owned(),
    )
}

fn conflicts(h: &Harness, field: &str) -> Vec<fieldsync::model::ConflictEntry> {
    h.conflicts(ConflictFilter {
        field: Some(field.into()),
        ..Default::default()
    })
}

/// weavy edits first; Mautic edits later, its clock an hour ahead so the order is certain.
async fn edit_both(h: &Harness, m: u64) {
    h.pair
        .weavy
        .edit("customercontact", "C1", &[("firstName", json!("Jeanne"))]);
    h.pair
        .mautic
        .control()
        .update_knobs(|k| k.clock_offset = chrono::Duration::hours(1));
    h.pair
        .mautic
        .edit_contact(m, &[("firstname", json!("Jeannette"))]);
}

#[tokio::test]
async fn both_ways_the_newer_edit_wins_and_the_older_is_logged() {
    let h = Harness::new(&mapping("both")).await;
    let m = linked_person(&h).await;
    edit_both(&h, m).await;
    let r = h.cycle().await;
    assert_eq!(firstnames(&h, m), ("Jeannette".into(), "Jeannette".into()));
    assert_eq!(r.updates.get("customercontact"), Some(&1));
    let c = conflicts(&h, "firstname");
    assert_eq!(c.len(), 1, "{c:#?}");
    assert_eq!(c[0].rule, ConflictRule::Merge(Rule::NewerWins));
    assert_eq!(
        c[0].weavy.value.as_text(),
        Some("Jeanne"),
        "the loser is kept"
    );
    assert_eq!(c[0].mautic.value.as_text(), Some("Jeannette"));
    assert_eq!(h.cycle().await.total_write_requests(), 0);
}

#[tokio::test]
async fn weavy_wins_keeps_weavys_value_whatever_the_times() {
    let h = Harness::new(&mapping("weavy_wins")).await;
    let m = linked_person(&h).await;
    edit_both(&h, m).await;
    h.cycle().await;
    assert_eq!(firstnames(&h, m), ("Jeanne".into(), "Jeanne".into()));
    let c = conflicts(&h, "firstname");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].rule, ConflictRule::Merge(Rule::WeavyPriority));
    assert_eq!(
        c[0].mautic.value.as_text(),
        Some("Jeannette"),
        "the overruled edit is kept"
    );
    assert_eq!(
        h.pair.weavy.api_updates("customercontact"),
        0,
        "weavy is never written"
    );
}

#[tokio::test]
async fn mautic_wins_keeps_mautics_value_whatever_the_times() {
    let h = Harness::new(&mapping("Sync only to the integration")).await;
    let m = linked_person(&h).await;
    // This time weavy's edit is the newer one.
    h.pair
        .mautic
        .edit_contact(m, &[("firstname", json!("Jeannette"))]);
    h.pair
        .weavy
        .control()
        .update_knobs(|k| k.clock_offset = chrono::Duration::hours(1));
    h.pair
        .weavy
        .edit("customercontact", "C1", &[("firstName", json!("Jeanne"))]);
    let writes_before = h
        .pair
        .mautic
        .control()
        .counters()
        .requests_matching("batch");
    h.cycle().await;
    assert_eq!(firstnames(&h, m), ("Jeannette".into(), "Jeannette".into()));
    assert_eq!(
        conflicts(&h, "firstname")[0].rule,
        ConflictRule::Merge(Rule::MauticPriority)
    );
    assert_eq!(
        h.pair
            .mautic
            .control()
            .counters()
            .requests_matching("batch"),
        writes_before,
        "Mautic is never written"
    );
}

#[tokio::test]
async fn a_tie_goes_to_the_preferred_side() {
    let h = Harness::new(&format!(
        "{}\n[sync]\ntie_window = \"1h\"\npreferred_side = \"mautic\"\n",
        mapping("both")
    ))
    .await;
    let m = linked_person(&h).await;
    edit_both(&h, m).await;
    h.cycle().await;
    assert_eq!(firstnames(&h, m), ("Jeannette".into(), "Jeannette".into()));
    assert_eq!(
        conflicts(&h, "firstname")[0].rule,
        ConflictRule::Merge(Rule::TiePreferredSide)
    );
}

#[tokio::test]
async fn only_the_edited_side_wins_even_with_its_clock_an_hour_behind() {
    let h = Harness::new(&mapping("both")).await;
    // weavy's clock runs an hour late, from the start.
    h.pair
        .weavy
        .control()
        .update_knobs(|k| k.clock_offset = -chrono::Duration::hours(1));
    let m = linked_person(&h).await;
    // Mautic was touched since (its record is "newer": an unmapped field changed); only
    // weavy's first name changed.
    h.pair
        .mautic
        .edit_contact(m, &[("position", json!("Directrice"))]);
    h.pair.weavy.edit(
        "customercontact",
        "C1",
        &[("firstName", json!("Jean-Pierre"))],
    );
    let weavy_time = h.pair.weavy.record("customercontact", "C1").unwrap()["srvDateUTC"].clone();
    let mautic_time = h.pair.mautic.contact(m).unwrap().date_modified.unwrap();
    assert!(
        text(Some(&weavy_time)) < mautic_time.format("%Y-%m-%dT%H:%M:%S").to_string(),
        "the edit looks older than Mautic's touch"
    );
    h.cycle().await;
    assert_eq!(
        firstnames(&h, m),
        ("Jean-Pierre".into(), "Jean-Pierre".into())
    );
    assert!(
        conflicts(&h, "firstname").is_empty(),
        "one edit is not a conflict"
    );
    assert_eq!(h.cycle().await.total_write_requests(), 0);
}
