//! The sync against a Mautic that behaves as Mautic's code does (issue: "Mautic as its code
//! really behaves"), under both version profiles where the behaviour differs: paged field
//! lists, company links whose newest is primary, company text that creates companies,
//! company inserts whose answers are lost, unique identifiers besides the e-mail, date-times
//! cut to the minute, zeros and blanks, contacts merged away.

mod common;

use common::{Harness, text};
use fieldsync::model::ConflictRule;
use fieldsync::sim::Fault;
use fieldsync::sim::mautic::{CustomField, MauticProfile};
use fieldsync::store::ConflictFilter;
use fieldsync::sync::CycleOptions;
use serde_json::json;
use std::collections::BTreeMap;

/// The default people mapping (the e-mail first), with `extra` mappings after it.
fn people(extra: &str) -> String {
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

[[person_fields]]
name = "phone"
weavy = "phoneNumber"
mautic = "phone"
{extra}
"#
    )
}

fn entries(h: &Harness, rule: ConflictRule) -> Vec<fieldsync::model::ConflictEntry> {
    h.conflicts(ConflictFilter {
        rule: Some(rule),
        ..Default::default()
    })
}

/// Runs cycles until one ends with nothing pending and no error (at most `n`).
async fn settle(h: &Harness, n: usize) -> usize {
    for i in 1..=n {
        let r = h.try_cycle(CycleOptions::default()).await;
        if r.errors.is_empty() && r.pending == 0 && h.engine().store.in_flight_len() == 0 {
            return i;
        }
    }
    panic!("not settled after {n} cycles");
}

/// Mautic pages its field lists 30 at a time: with 40 custom contact fields, a mapping on the
/// last one is found by the cycle's check, and synced.
#[tokio::test]
async fn forty_custom_fields_are_all_read() {
    let h = Harness::new(&people(
        r#"
[[person_fields]]
name = "segment"
weavy = "xSegment"
mautic = "custom_40"
entrant = "-"
"#,
    ))
    .await;
    for i in 1..=40 {
        h.pair
            .mautic
            .add_custom_field("contact", &format!("custom_{i}"), "text");
    }
    h.pair
        .weavy
        .add_custom_field("customercontact", "xSegment", "text");
    h.pair.weavy.insert(
        "customercontact",
        "C1",
        &[
            ("email", json!("ana@exemple.fr")),
            ("xSegment", json!("Premium")),
        ],
    );
    h.cycle().await;
    let m = h.pair.mautic.contacts_with_email("ana@exemple.fr")[0];
    assert_eq!(
        h.pair.mautic.contact(m).unwrap().text("custom_40"),
        Some("Premium")
    );
    let fields = h.engine().fields().await.unwrap();
    let contact = &fields[&fieldsync::model::RecordKind::MauticContact];
    // 28 shipped, 40 custom, 2 Do Not Contact pseudo-fields.
    assert_eq!(contact.len(), 70);
    let calls = h
        .pair
        .mautic
        .control()
        .counters()
        .requests_matching("/api/fields/");
    assert!(calls >= 2, "the list is read page by page ({calls} calls)");
}

/// A relation is made by the link call only (the `company` text would make Mautic find or
/// create a company by name), and converges when the company is already a secondary link:
/// Mautic leaves an existing link as it is, so it is removed and linked again.
#[tokio::test]
async fn a_relation_is_linked_never_written_as_text_and_a_secondary_link_becomes_primary() {
    for profile in MauticProfile::ALL {
        let h = Harness::with_profile(profile, "").await;
        h.pair
            .weavy
            .insert("customer", "T1", &[("name", json!("Acme"))]);
        h.pair
            .weavy
            .insert("customer", "T2", &[("name", json!("Globex"))]);
        let acme = h.pair.mautic.add_company(&[("companyname", json!("Acme"))]);
        let globex = h
            .pair
            .mautic
            .add_company(&[("companyname", json!("Globex"))]);
        h.pair.weavy.insert(
            "customercontact",
            "C1",
            &[
                ("email", json!("jean@acme.fr")),
                ("customer_ID", json!("T1")),
            ],
        );
        let m = h
            .pair
            .mautic
            .add_contact(&[("email", json!("jean@acme.fr"))]);
        h.pair.mautic.link_contact_company(m, acme, true);
        h.pair.mautic.link_contact_company(m, globex, false);
        h.cycle().await;
        // weavy moves Jean to Globex, already a secondary link in Mautic.
        h.pair
            .weavy
            .edit("customercontact", "C1", &[("customer_ID", json!("T2"))]);
        let r = h.cycle().await;
        assert!(r.errors.is_empty(), "{profile:?}: {:?}", r.errors);
        let c = h.pair.mautic.contact(m).unwrap();
        assert_eq!(c.text("company"), Some("Globex"), "{profile:?}");
        assert_eq!(
            c.companies,
            vec![(acme, false), (globex, true)],
            "{profile:?}: Globex is the primary company"
        );
        assert_eq!(
            h.pair.mautic.companies().len(),
            2,
            "{profile:?}: no company created from text"
        );
        assert!(h.pair.mautic.created_per_company_name().is_empty());
        // And it stays put: nothing more to write.
        h.cycle().await;
        assert_eq!(h.cycle().await.total_write_requests(), 0, "{profile:?}");
    }
}

/// Company inserts whose answers are lost after they landed: Mautic 5 creates a company per
/// `batch/new` item (and refuses a taken name), the newer majors match it. Whatever the
/// profile, no company is created twice and every one ends linked.
#[tokio::test]
async fn company_inserts_whose_answers_are_lost_are_never_made_twice() {
    for profile in MauticProfile::ALL {
        let h = Harness::with_profile(profile, "").await;
        for i in 0..40 {
            h.pair.weavy.insert(
                "customer",
                &format!("T{i}"),
                &[("name", json!(format!("Société {i}")))],
            );
        }
        h.pair.mautic.control().update_knobs(|k| {
            k.fault_rate = 0.4;
            k.fault_mix = Fault::LOST_ANSWERS.to_vec();
            k.stall = std::time::Duration::from_millis(20);
            k.faults_on_auth = false;
        });
        let cycles = settle(&h, 25).await;
        h.pair.mautic.control().update_knobs(|k| k.fault_rate = 0.0);
        let faults = h.pair.mautic.control().counters().total_faults();
        assert!(faults > 0, "{profile:?}: answers were lost");
        let mut names: BTreeMap<String, u32> = BTreeMap::new();
        for c in h.pair.mautic.companies() {
            *names.entry(text(c.fields.get("companyname"))).or_default() += 1;
        }
        assert_eq!(names.len(), 40, "{profile:?}");
        assert!(
            names.values().all(|n| *n == 1),
            "{profile:?}: duplicates {names:?}"
        );
        assert!(
            h.pair
                .mautic
                .created_per_company_name()
                .values()
                .all(|n| *n == 1),
            "{profile:?}"
        );
        // Every weavy customer is paired with its Mautic company.
        let store = &h.engine().store;
        for i in 0..40 {
            let r = fieldsync::model::RecordRef::new(
                fieldsync::model::RecordKind::WeavyCustomer,
                format!("T{i}"),
            );
            let e = store.entity_of(&r).unwrap().expect("linked");
            assert!(store.entity(e).unwrap().unwrap().mautic.is_some());
        }
        eprintln!("{profile:?}: settled in {cycles} cycles, {faults} answers lost");
    }
}

/// With the phone flagged unique in Mautic, two weavy people who share a phone, and a third
/// whose phone a Mautic contact already holds: no Mautic contact is merged, deleted or
/// overwritten; the refused phones are logged; the rest of each person is synced.
#[tokio::test]
async fn a_phone_flagged_unique_never_merges_or_overwrites_a_contact() {
    for profile in MauticProfile::ALL {
        let h = Harness::with_profile(profile, &people("")).await;
        h.pair
            .mautic
            .set_unique_identifier("contact", "phone", true);
        let zoe = h.pair.mautic.add_contact(&[
            ("email", json!("zoe@exemple.fr")),
            ("firstname", json!("Zoé")),
            ("phone", json!("0300000000")),
        ]);
        for (id, email, name, phone) in [
            ("C1", "ana@exemple.fr", "Ana", "0100000000"),
            ("C2", "bob@exemple.fr", "Bob", "0100000000"),
            ("C3", "cyd@exemple.fr", "Cyd", "0300000000"),
        ] {
            h.pair.weavy.insert(
                "customercontact",
                id,
                &[
                    ("email", json!(email)),
                    ("firstName", json!(name)),
                    ("phoneNumber", json!(phone)),
                ],
            );
        }
        h.cycle().await;
        let mautic = &h.pair.mautic;
        assert!(mautic.deleted_contacts().is_empty(), "{profile:?}");
        let z = mautic.contact(zoe).unwrap();
        assert_eq!(z.text("email"), Some("zoe@exemple.fr"), "{profile:?}");
        assert_eq!(z.text("firstname"), Some("Zoé"));
        for (email, name) in [
            ("ana@exemple.fr", "Ana"),
            ("bob@exemple.fr", "Bob"),
            ("cyd@exemple.fr", "Cyd"),
        ] {
            let ids = mautic.contacts_with_email(email);
            assert_eq!(ids.len(), 1, "{profile:?}: {email}");
            assert_eq!(
                mautic.contact(ids[0]).unwrap().text("firstname"),
                Some(name)
            );
        }
        let phones: Vec<String> = mautic
            .contacts()
            .iter()
            .filter_map(|c| c.text("phone").map(str::to_owned))
            .collect();
        let mut unique = phones.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            phones.len(),
            unique.len(),
            "{profile:?}: {phones:?} {:#?}",
            mautic.contacts()
        );
        let refused = entries(&h, ConflictRule::UniqueCollision);
        assert_eq!(
            refused.len(),
            2,
            "{profile:?}: {:#?}",
            refused.iter().map(|e| &e.note).collect::<Vec<_>>()
        );
        assert!(refused.iter().all(|e| e.field == "phone"));
        // Nothing repeats: no more writes, no more entries.
        h.cycle().await;
        let r = h.cycle().await;
        assert_eq!(r.total_write_requests(), 0, "{profile:?}");
        assert_eq!(entries(&h, ConflictRule::UniqueCollision).len(), 2);
    }
}

/// A date-time mapped both ways, written with seconds: Mautic 5 keeps the minute, the newer
/// profile the seconds; either way a second cycle writes nothing and logs nothing.
#[tokio::test]
async fn date_times_compare_at_the_precision_mautic_keeps() {
    for profile in MauticProfile::ALL {
        let h = Harness::with_profile(
            profile,
            &people(
                r#"
[[person_fields]]
name = "seen"
weavy = "xSeen"
mautic = "seen"
entrant = "-"
type = "datetime"
"#,
            ),
        )
        .await;
        h.pair
            .mautic
            .add_custom_field("contact", "seen", "datetime");
        h.pair
            .weavy
            .add_custom_field("customercontact", "xSeen", "datetime");
        h.pair.weavy.insert(
            "customercontact",
            "C1",
            &[
                ("email", json!("ana@exemple.fr")),
                ("xSeen", json!("2024-05-01T12:00:35")),
            ],
        );
        h.cycle().await;
        let m = h.pair.mautic.contacts_with_email("ana@exemple.fr")[0];
        let stored = h
            .pair
            .mautic
            .contact(m)
            .unwrap()
            .text("seen")
            .map(str::to_owned);
        // Paris is UTC+2 in May.
        let want = if profile.keeps_seconds() {
            "2024-05-01 10:00:35"
        } else {
            "2024-05-01 10:00:00"
        };
        assert_eq!(stored.as_deref(), Some(want), "{profile:?}");
        let logged = h.conflicts(ConflictFilter::default()).len();
        for _ in 0..2 {
            let r = h.cycle().await;
            assert_eq!(r.total_write_requests(), 0, "{profile:?}: {r:#?}");
        }
        assert_eq!(h.conflicts(ConflictFilter::default()).len(), logged);
        assert_eq!(
            text(
                h.pair
                    .weavy
                    .record("customercontact", "C1")
                    .unwrap()
                    .get("xSeen")
            ),
            "2024-05-01T12:00:35",
            "{profile:?}: weavy keeps its seconds"
        );
    }
}

/// Zeros and blanks as Mautic takes them: a contact's 0 is dropped by Mautic 5 (logged once,
/// not again), kept by the newer profile; a company's 0 is kept, and a company blank
/// overwrites.
#[tokio::test]
async fn zeros_and_blanks_are_what_each_object_keeps() {
    for profile in MauticProfile::ALL {
        let h = Harness::with_profile(
            profile,
            &format!(
                "{}\n{}",
                people(
                    r#"
[[person_fields]]
name = "score"
weavy = "xScore"
mautic = "score"
entrant = "-"
type = "number"
"#
                ),
                r#"
[[company_fields]]
name = "name"
weavy = "name"
mautic = "companyname"

[[company_fields]]
name = "staff"
weavy = "employeeCount"
mautic = "companynumber_of_employees"
type = "number"
"#
            ),
        )
        .await;
        h.pair.mautic.add_custom_field_with(
            "contact",
            "score",
            "number",
            CustomField {
                scale: Some(2),
                ..CustomField::standard()
            },
        );
        h.pair
            .weavy
            .add_custom_field("customercontact", "xScore", "number");
        h.pair.weavy.insert(
            "customer",
            "T1",
            &[("name", json!("Acme")), ("employeeCount", json!(0))],
        );
        h.pair.weavy.insert(
            "customercontact",
            "C1",
            &[("email", json!("ana@exemple.fr")), ("xScore", json!(0))],
        );
        h.cycle().await;
        let m = h.pair.mautic.contacts_with_email("ana@exemple.fr")[0];
        let score = h
            .pair
            .mautic
            .contact(m)
            .unwrap()
            .fields
            .get("score")
            .cloned();
        let company = &h.pair.mautic.companies()[0];
        assert_eq!(
            company.fields.get("companynumber_of_employees"),
            Some(&json!(0)),
            "{profile:?}: a company keeps its zero"
        );
        let rejected = entries(&h, ConflictRule::RejectedWrite);
        if profile.drops_zeros() {
            assert_eq!(score, None, "Mautic 5 drops a contact's zero");
            assert_eq!(rejected.len(), 1, "{rejected:#?}");
            assert!(rejected[0].note.contains("0"), "{}", rejected[0].note);
        } else {
            assert_eq!(score, Some(json!(0.0)), "{profile:?}");
            assert!(rejected.is_empty(), "{rejected:#?}");
        }
        for _ in 0..2 {
            assert_eq!(h.cycle().await.total_write_requests(), 0, "{profile:?}");
        }
        assert_eq!(
            entries(&h, ConflictRule::RejectedWrite).len(),
            rejected.len()
        );
    }
}

/// A Mautic contact merged into another by a user: the next edit finds the winner (the newer
/// profile answers the edit with it; Mautic 5 answers 404 and the winner is found by e-mail),
/// and the pair follows it. Nothing is created, nothing deleted by fieldsync.
#[tokio::test]
async fn an_edit_of_a_merged_away_contact_follows_the_winner() {
    for profile in MauticProfile::ALL {
        let h = Harness::with_profile(profile, "").await;
        h.pair.weavy.insert(
            "customercontact",
            "C1",
            &[
                ("email", json!("ana@exemple.fr")),
                ("firstName", json!("Ana")),
            ],
        );
        let old = h.pair.mautic.add_contact(&[
            ("email", json!("ana@exemple.fr")),
            ("firstname", json!("Ana")),
        ]);
        h.cycle().await;
        // A duplicate a user made, then merged the synced one into it.
        let winner = h.pair.mautic.add_contact(&[("lastname", json!("Martin"))]);
        assert!(h.pair.mautic.merge_contacts(winner, old));
        h.pair
            .mautic
            .edit_contact(winner, &[("email", json!("ana@exemple.fr"))]);
        h.pair
            .weavy
            .edit("customercontact", "C1", &[("firstName", json!("Anaïs"))]);
        let r = h.try_cycle(CycleOptions::default()).await;
        settle(&h, 3).await;
        let w = h.pair.mautic.contact(winner).unwrap();
        assert_eq!(w.text("firstname"), Some("Anaïs"), "{profile:?}: {r:#?}");
        let store = &h.engine().store;
        let e = store
            .entity_of(&fieldsync::model::RecordRef::new(
                fieldsync::model::RecordKind::WeavyContact,
                "C1",
            ))
            .unwrap()
            .unwrap();
        assert_eq!(
            store.entity(e).unwrap().unwrap().mautic.map(|r| r.id),
            Some(winner.to_string()),
            "{profile:?}"
        );
        assert_eq!(h.pair.mautic.contacts().len(), 1, "{profile:?}");
        assert!(h.pair.mautic.created_per_email().is_empty());
        assert_eq!(entries(&h, ConflictRule::Relinked).len(), 1, "{profile:?}");
    }
}

/// fieldsync reads `Mautic-Version`; `status` shows it.
#[tokio::test]
async fn the_mautic_version_is_read_and_kept() {
    for profile in MauticProfile::ALL {
        let h = Harness::with_profile(profile, "").await;
        h.cycle().await;
        assert_eq!(
            h.engine().store.mautic_version().unwrap().as_deref(),
            Some(profile.version())
        );
        assert_eq!(
            h.engine().mautic.version().as_deref(),
            Some(profile.version())
        );
    }
}

/// A value Mautic's form refuses (a core field holds 64 characters, `LeadField::
/// $charLengthLimit`) costs that field only: the rest of the record is written, the refusal
/// is logged once with Mautic's reason, and not sent again.
#[tokio::test]
async fn a_value_mautic_refuses_costs_that_field_only() {
    let h = Harness::new(&people("")).await;
    let long = "Jean-Baptiste-Marie-Emmanuel-Louis-Philippe-Alexandre-de-la-Tour-du-Pin";
    assert!(long.chars().count() > 64);
    h.pair.weavy.insert(
        "customercontact",
        "C1",
        &[
            ("email", json!("jb@exemple.fr")),
            ("firstName", json!(long)),
            ("phoneNumber", json!("0102030405")),
        ],
    );
    h.cycle().await;
    let ids = h.pair.mautic.contacts_with_email("jb@exemple.fr");
    assert_eq!(ids.len(), 1, "the contact is created");
    let c = h.pair.mautic.contact(ids[0]).unwrap();
    assert_eq!(c.text("phone"), Some("0102030405"));
    assert_eq!(c.text("firstname"), None);
    let refused = entries(&h, ConflictRule::RejectedWrite);
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0].field, "firstname");
    assert!(refused[0].note.contains("too long"), "{}", refused[0].note);
    for _ in 0..2 {
        assert_eq!(h.cycle().await.total_write_requests(), 0);
    }
    assert_eq!(entries(&h, ConflictRule::RejectedWrite).len(), 1);
}
