//! Who is whom: linking by e-mail, Entrants for Mautic-only contacts, duplicates, lead
//! conversion, and the e-mail collision guard.

mod common;

use common::{Harness, assert_people_agree, text};
use fieldsync::model::ConflictRule;
use fieldsync::store::ConflictFilter;
use serde_json::json;

fn rule_entries(h: &Harness, rule: ConflictRule) -> Vec<fieldsync::model::ConflictEntry> {
    h.conflicts(ConflictFilter {
        rule: Some(rule),
        ..Default::default()
    })
}

#[tokio::test]
async fn a_contact_and_a_mautic_contact_with_one_email_are_linked_and_updated() {
    let h = Harness::new("").await;
    h.pair.weavy.insert(
        "customercontact",
        "C1",
        &[
            ("firstName", json!("Luc")),
            ("lastName", json!("Besson")),
            ("email", json!("Luc.Besson@Exemple.fr ")),
            ("phoneNumber", json!("+33 1 11 11 11 11")),
        ],
    );
    let m = h.pair.mautic.add_contact(&[
        ("firstname", json!("Luc")),
        ("email", json!("luc.besson@exemple.fr")),
    ]);
    let r = h.cycle().await;
    assert_eq!(r.linked, 1);
    assert_eq!(r.total_inserts(), 0, "nothing created: {r:#?}");
    let c = h.pair.mautic.contact(m).unwrap();
    assert_eq!(c.text("lastname"), Some("Besson"));
    assert_eq!(c.text("phone"), Some("+33 1 11 11 11 11"));
    // And the other way.
    h.pair
        .mautic
        .edit_contact(m, &[("phone", json!("+33 6 22 22 22 22"))]);
    h.cycle().await;
    assert_eq!(
        text(
            h.pair
                .weavy
                .record("customercontact", "C1")
                .unwrap()
                .get("phoneNumber")
        ),
        "+33 6 22 22 22 22"
    );
    assert!(h.pair.weavy.records("marketinginbound").is_empty());
    assert_people_agree(&h.pair);
}

#[tokio::test]
async fn a_mautic_contact_without_weavy_contact_becomes_exactly_one_entrant() {
    let h = Harness::new("").await;
    let m = h.pair.mautic.add_contact(&[
        ("firstname", json!("Inès")),
        ("lastname", json!("Roux")),
        ("email", json!("ines.roux@gmail.com")),
    ]);
    h.cycle().await;
    for _ in 0..3 {
        h.pair
            .mautic
            .edit_contact(m, &[("lastname", json!("Roux-Martin"))]);
        h.cycle().await;
    }
    let entrants = h.pair.weavy.records("marketinginbound");
    assert_eq!(entrants.len(), 1);
    assert_eq!(
        text(entrants[0].get("marketinginbound_ID")),
        format!("wm-{m}")
    );
    assert_eq!(text(entrants[0].get("lastName")), "Roux-Martin");
    assert_eq!(
        h.pair
            .weavy
            .inserted_per_email("marketinginbound")
            .values()
            .sum::<u64>(),
        1
    );
    assert!(h.pair.weavy.records("customercontact").is_empty());
}

#[tokio::test]
async fn three_contacts_with_one_email_one_is_synced_always_the_same_and_two_reported() {
    let h = Harness::new("").await;
    for id in ["C3", "C1", "C2"] {
        h.pair.weavy.insert(
            "customercontact",
            id,
            &[
                ("firstName", json!("Paul")),
                ("lastName", json!(id)),
                ("email", json!("paul@exemple.fr")),
            ],
        );
    }
    // C2 is the most recently modified (a minute later; weavy stamps to the second): it is the
    // one synced.
    h.pair
        .weavy
        .control()
        .update_knobs(|k| k.clock_offset = chrono::Duration::minutes(1));
    h.pair
        .weavy
        .edit("customercontact", "C2", &[("lastName", json!("Durand"))]);
    let m = h.pair.mautic.add_contact(&[
        ("firstname", json!("Paul")),
        ("email", json!("paul@exemple.fr")),
    ]);
    let r = h.cycle().await;
    assert_eq!(r.duplicates, 2, "{r:#?}");
    assert_eq!(
        h.pair.mautic.contact(m).unwrap().text("lastname"),
        Some("Durand")
    );
    for round in 0..3 {
        h.pair
            .mautic
            .edit_contact(m, &[("firstname", json!(format!("Paul {round}")))]);
        h.cycle().await;
        let names: Vec<String> = ["C1", "C2", "C3"]
            .iter()
            .map(|id| {
                text(
                    h.pair
                        .weavy
                        .record("customercontact", id)
                        .unwrap()
                        .get("firstName"),
                )
            })
            .collect();
        assert_eq!(
            names,
            ["Paul", &format!("Paul {round}"), "Paul"],
            "only C2 is ever written"
        );
    }
    let dups = rule_entries(&h, ConflictRule::Duplicate);
    let mut reported: Vec<&str> = dups
        .iter()
        .filter_map(|e| e.weavy.record.as_ref())
        .map(|r| r.id.as_str())
        .collect();
    reported.sort();
    reported.dedup();
    assert_eq!(reported, ["C1", "C3"]);
    assert!(
        dups.iter().all(|e| e.note.contains("customercontact C2")),
        "{dups:#?}"
    );
    assert_eq!(
        h.pair.mautic.contacts_with_email("paul@exemple.fr").len(),
        1
    );
}

#[tokio::test]
async fn converting_the_entrant_into_a_contact_relinks() {
    let h = Harness::new("").await;
    let m = h.pair.mautic.add_contact(&[
        ("firstname", json!("Sarah")),
        ("lastname", json!("Vincent")),
        ("email", json!("sarah.vincent@free.fr")),
    ]);
    h.cycle().await;
    let entrant = format!("wm-{m}");
    assert!(h.pair.weavy.record("marketinginbound", &entrant).is_some());
    // A salesperson converts the lead: a Contact with the same e-mail.
    h.pair.weavy.insert(
        "customercontact",
        "C77",
        &[
            ("firstName", json!("Sarah")),
            ("lastName", json!("Vincent")),
            ("email", json!("sarah.vincent@free.fr")),
        ],
    );
    let r = h.cycle().await;
    assert_eq!(r.relinked, 1, "{r:#?}");
    let relinks = rule_entries(&h, ConflictRule::Relinked);
    assert_eq!(relinks.len(), 1);
    assert!(
        relinks[0].note.contains("lead converted"),
        "{}",
        relinks[0].note
    );
    // From now on the Contact is the one updated; the Entrant is left alone.
    h.pair
        .mautic
        .edit_contact(m, &[("lastname", json!("Vincent-Morel"))]);
    h.cycle().await;
    assert_eq!(
        text(
            h.pair
                .weavy
                .record("customercontact", "C77")
                .unwrap()
                .get("lastName")
        ),
        "Vincent-Morel"
    );
    assert_eq!(
        text(
            h.pair
                .weavy
                .record("marketinginbound", &entrant)
                .unwrap()
                .get("lastName")
        ),
        "Vincent"
    );
    assert_eq!(
        h.pair
            .mautic
            .contacts_with_email("sarah.vincent@free.fr")
            .len(),
        1
    );
}

#[tokio::test]
async fn an_email_edit_colliding_with_another_mautic_contact_is_refused_and_logged() {
    let h = Harness::new("").await;
    h.pair.weavy.insert(
        "customercontact",
        "C1",
        &[
            ("firstName", json!("Anne")),
            ("email", json!("anne@exemple.fr")),
        ],
    );
    let anne = h.pair.mautic.add_contact(&[
        ("firstname", json!("Anne")),
        ("email", json!("anne@exemple.fr")),
    ]);
    let bob = h.pair.mautic.add_contact(&[
        ("firstname", json!("Bob")),
        ("email", json!("bob@exemple.fr")),
    ]);
    h.cycle().await;
    // In weavy, someone types Bob's address on Anne's record.
    h.pair.weavy.edit(
        "customercontact",
        "C1",
        &[
            ("email", json!("bob@exemple.fr")),
            ("firstName", json!("Anne-Marie")),
        ],
    );
    let r = h.cycle().await;
    assert_eq!(r.collisions, 1, "{r:#?}");
    assert!(
        h.pair.mautic.deleted_contacts().is_empty(),
        "no Mautic contact disappears"
    );
    let a = h.pair.mautic.contact(anne).unwrap();
    assert_eq!(
        a.text("email"),
        Some("anne@exemple.fr"),
        "the e-mail was not written"
    );
    assert_eq!(
        a.text("firstname"),
        Some("Anne-Marie"),
        "the rest of the patch was"
    );
    assert_eq!(
        h.pair.mautic.contact(bob).unwrap().text("firstname"),
        Some("Bob")
    );
    let logged = rule_entries(&h, ConflictRule::EmailCollision);
    assert_eq!(logged.len(), 1);
    assert!(
        logged[0].note.contains(&bob.to_string()),
        "{}",
        logged[0].note
    );
}

#[tokio::test]
async fn a_mautic_contact_merged_away_is_relinked_or_marked_gone_never_recreated() {
    let h = Harness::new("").await;
    h.pair.weavy.insert(
        "customercontact",
        "C1",
        &[
            ("firstName", json!("Zoé")),
            ("email", json!("zoe@exemple.fr")),
        ],
    );
    h.pair.weavy.insert(
        "customercontact",
        "C2",
        &[
            ("firstName", json!("Yann")),
            ("email", json!("yann@exemple.fr")),
        ],
    );
    let zoe = h.pair.mautic.add_contact(&[
        ("firstname", json!("Zoé")),
        ("email", json!("zoe@exemple.fr")),
    ]);
    let _yann = h.pair.mautic.add_contact(&[
        ("firstname", json!("Yann")),
        ("email", json!("yann@exemple.fr")),
    ]);
    let lone = h.pair.mautic.add_contact(&[
        ("firstname", json!("Xavier")),
        ("email", json!("xavier@exemple.fr")),
    ]);
    h.cycle().await;
    let contacts_before = h.pair.mautic.contacts().len();

    // A user merges Zoé's contact into Xavier's (the interface's merge, or Mautic's
    // deduplicate command): Zoé's is deleted and Xavier's, already paired with an Entrant,
    // takes her address.
    assert!(h.pair.mautic.merge_contacts(lone, zoe));
    h.pair
        .mautic
        .edit_contact(lone, &[("email", json!("zoe@exemple.fr"))]);
    assert_eq!(h.pair.mautic.deleted_contacts(), vec![zoe]);
    // weavy edits C1: the write goes to the deleted contact and answers 404.
    h.pair
        .weavy
        .edit("customercontact", "C1", &[("firstName", json!("Zoé-Anne"))]);
    let r = h.cycle().await;
    assert_eq!(r.gone, 1, "{r:#?}");
    let gone = rule_entries(&h, ConflictRule::RecordGone);
    assert_eq!(gone.len(), 1);
    assert!(gone[0].note.contains("already paired"), "{}", gone[0].note);
    // Never recreated, nothing deleted by fieldsync, and no more writes to it.
    assert_eq!(h.pair.mautic.contacts().len(), contacts_before - 1);
    h.pair.weavy.edit(
        "customercontact",
        "C1",
        &[("firstName", json!("Zoé-Anne Marie"))],
    );
    let r = h.cycle().await;
    assert_eq!(r.write_requests.get("mautic"), None, "{r:#?}");
    assert_eq!(
        h.pair.mautic.created_per_email().get("zoe@exemple.fr"),
        None
    );
}
