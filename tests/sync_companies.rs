//! Companies matched by name, by SIRET and by IDCRM; a contact's company followed both ways;
//! a bounce reaching weavy.

mod common;

use common::{Harness, text};
use serde_json::json;

fn companies_siret() -> &'static str {
    r#"
[sync]
company_key = "siret"

[[company_fields]]
name = "name"
weavy = "name"
mautic = "companyname"

[[company_fields]]
name = "siret"
weavy = "siretNumber"
mautic = "siret"

[[company_fields]]
name = "city"
weavy = "city"
mautic = "companycity"
"#
}

#[tokio::test]
async fn companies_match_by_name() {
    let h = Harness::new("").await;
    h.pair.weavy.insert(
        "customer",
        "T1",
        &[
            ("name", json!("Imprimerie  Moreau SARL")),
            ("city", json!("Nantes")),
        ],
    );
    let m = h.pair.mautic.add_company(&[
        ("companyname", json!("imprimerie moreau sarl")),
        ("companyphone", json!("+33 2 40 00 00 00")),
    ]);
    let r = h.cycle().await;
    assert_eq!(r.linked, 1, "{r:#?}");
    assert_eq!(h.pair.mautic.companies().len(), 1, "no company created");
    assert_eq!(h.pair.weavy.records("customer").len(), 1);
    assert_eq!(
        h.pair.mautic.company(m).unwrap().fields.get("companycity"),
        Some(&json!("Nantes"))
    );
    assert_eq!(
        text(
            h.pair
                .weavy
                .record("customer", "T1")
                .unwrap()
                .get("phoneNumber")
        ),
        "+33 2 40 00 00 00"
    );
    assert_eq!(h.cycle().await.total_write_requests(), 0);
}

#[tokio::test]
async fn companies_match_by_siret_whatever_their_names() {
    let h = Harness::new(companies_siret()).await;
    h.pair.mautic.add_custom_field("company", "siret", "text");
    h.pair.weavy.insert(
        "customer",
        "T1",
        &[
            ("name", json!("Garage Dubois")),
            ("siretNumber", json!("732 829 320 00074")),
        ],
    );
    let m = h.pair.mautic.add_company(&[
        ("companyname", json!("Dubois Automobiles")),
        ("siret", json!("73282932000074")),
        ("companycity", json!("Tours")),
    ]);
    // A company without a valid SIRET is not matched on anything.
    h.pair.weavy.insert(
        "customer",
        "T2",
        &[("name", json!("Sans SIRET")), ("siretNumber", json!("123"))],
    );
    let r = h.cycle().await;
    assert_eq!(r.linked, 1, "{r:#?}");
    assert_eq!(r.skipped_no_key, 1);
    assert_eq!(h.pair.mautic.companies().len(), 1);
    assert_eq!(
        text(h.pair.weavy.record("customer", "T1").unwrap().get("city")),
        "Tours"
    );
    // Both sides changed the name before the first sync: the newer one won, the other is logged.
    let names = (
        text(h.pair.weavy.record("customer", "T1").unwrap().get("name")),
        text(h.pair.mautic.company(m).unwrap().fields.get("companyname")),
    );
    assert_eq!(names.0, names.1);
}

#[tokio::test]
async fn companies_match_by_idcrm_and_it_is_back_filled() {
    let h = Harness::new("[sync]\ncompany_key = \"idcrm\"\nidcrm_field = \"idcrm\"\n").await;
    h.pair.mautic.add_custom_field("company", "idcrm", "text");
    h.pair.weavy.insert(
        "customer",
        "T1",
        &[
            ("name", json!("Laboratoires Roux")),
            ("city", json!("Lyon")),
        ],
    );
    h.pair
        .weavy
        .insert("customer", "T2", &[("name", json!("Éditions Girard"))]);
    let m1 = h.pair.mautic.add_company(&[
        ("companyname", json!("Labos Roux (ancien nom)")),
        ("idcrm", json!("T1")),
    ]);
    let r = h.cycle().await;
    assert_eq!(r.linked, 1, "{r:#?}");
    assert_eq!(
        h.pair.mautic.company(m1).unwrap().fields.get("companycity"),
        Some(&json!("Lyon"))
    );
    // T2 had no Mautic company: it was created, with its IDCRM filled in.
    let created: Vec<_> = h
        .pair
        .mautic
        .companies()
        .into_iter()
        .filter(|c| c.id != m1)
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].fields.get("idcrm"), Some(&json!("T2")));
    assert_eq!(h.cycle().await.total_write_requests(), 0);
}

#[tokio::test]
async fn a_contacts_company_follows_in_both_directions() {
    let h = Harness::new("").await;
    h.pair
        .weavy
        .insert("customer", "T1", &[("name", json!("ACME"))]);
    h.pair
        .weavy
        .insert("customer", "T2", &[("name", json!("Globex"))]);
    h.pair.weavy.insert(
        "customercontact",
        "C1",
        &[
            ("firstName", json!("Jean")),
            ("email", json!("jean@acme.fr")),
            ("customer_ID", json!("T1")),
        ],
    );
    h.cycle().await;
    let m = h.pair.mautic.contacts_with_email("jean@acme.fr")[0];
    let company_named = |name: &str| {
        h.pair
            .mautic
            .companies()
            .into_iter()
            .find(|c| c.fields.get("companyname") == Some(&json!(name)))
            .unwrap()
            .id
    };
    let (acme, globex) = (company_named("ACME"), company_named("Globex"));
    assert_eq!(
        h.pair.mautic.contact(m).unwrap().text("company"),
        Some("ACME")
    );
    assert!(
        h.pair
            .mautic
            .contact(m)
            .unwrap()
            .companies
            .iter()
            .any(|(c, _)| *c == acme)
    );

    // weavy -> Mautic.
    h.pair
        .weavy
        .edit("customercontact", "C1", &[("customer_ID", json!("T2"))]);
    h.cycle().await;
    let c = h.pair.mautic.contact(m).unwrap();
    assert_eq!(c.text("company"), Some("Globex"));
    assert!(c.companies.iter().any(|(id, _)| *id == globex));

    // Mautic -> weavy, back to a company the contact was already linked to.
    h.pair.mautic.link_contact_company(m, acme, true);
    h.pair.mautic.edit_contact(m, &[("company", json!("ACME"))]);
    h.cycle().await;
    assert_eq!(
        text(
            h.pair
                .weavy
                .record("customercontact", "C1")
                .unwrap()
                .get("customer_ID")
        ),
        "T1"
    );
    assert_eq!(
        h.cycle().await.total_write_requests(),
        0,
        "and it stays put"
    );
    assert_eq!(
        h.pair.mautic.contact(m).unwrap().text("company"),
        Some("ACME")
    );
}

#[tokio::test]
async fn a_bounce_in_mautic_reaches_weavy_once() {
    let h = Harness::new("").await;
    h.pair.weavy.insert(
        "customercontact",
        "C1",
        &[
            ("firstName", json!("Léa")),
            ("email", json!("lea@exemple.fr")),
        ],
    );
    let m = h.pair.mautic.add_contact(&[
        ("firstname", json!("Léa")),
        ("email", json!("lea@exemple.fr")),
    ]);
    h.cycle().await;
    assert_eq!(
        text(
            h.pair
                .weavy
                .record("customercontact", "C1")
                .unwrap()
                .get("bouncedEmailDetected")
        ),
        ""
    );
    h.pair.mautic.add_dnc(m, 2);
    let r = h.cycle().await;
    assert_eq!(r.updates.get("customercontact"), Some(&1), "{r:#?}");
    let npai = text(
        h.pair
            .weavy
            .record("customercontact", "C1")
            .unwrap()
            .get("bouncedEmailDetected"),
    );
    assert!(!npai.is_empty());
    let bounced_at = h.pair.mautic.contact(m).unwrap().dnc[0].1;
    let local = bounced_at
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    assert_eq!(npai, local, "the bounce date, in the project's time zone");
    let r = h.cycle().await;
    assert_eq!(
        r.total_write_requests(),
        0,
        "the next cycle changes nothing: {r:#?}"
    );
}

#[tokio::test]
async fn a_relation_waiting_for_its_company_is_set_once_the_company_exists() {
    use fieldsync::connector::WeavyRight;
    let h = Harness::new("").await;
    let globex = h
        .pair
        .mautic
        .add_company(&[("companyname", json!("Globex"))]);
    let m = h.pair.mautic.add_contact(&[
        ("firstname", json!("Inès")),
        ("email", json!("ines@globex.fr")),
        ("company", json!("Globex")),
    ]);
    h.pair.mautic.link_contact_company(m, globex, true);
    h.pair.weavy.insert(
        "customercontact",
        "C1",
        &[
            ("firstName", json!("Inès")),
            ("email", json!("ines@globex.fr")),
        ],
    );
    // weavy refuses to create customers this cycle: the contact's company cannot be set yet.
    h.pair
        .weavy
        .set_right("customer", WeavyRight::Insert, false);
    let r = h.try_cycle(fieldsync::sync::CycleOptions::default()).await;
    assert!(
        r.errors.iter().any(|e| e.contains("API ajout")),
        "{:?}",
        r.errors
    );
    assert_eq!(
        text(
            h.pair
                .weavy
                .record("customercontact", "C1")
                .unwrap()
                .get("customer_ID")
        ),
        ""
    );
    // The right is back; nothing else changed: the company is created and the contact follows.
    h.pair.weavy.set_right("customer", WeavyRight::Insert, true);
    h.cycle().await;
    assert_eq!(
        text(
            h.pair
                .weavy
                .record("customercontact", "C1")
                .unwrap()
                .get("customer_ID")
        ),
        format!("wm-co-{globex}")
    );
    assert_eq!(h.cycle().await.total_write_requests(), 0);
}

/// With `company_key = "idcrm"`, a company that exists only in Mautic (its IDCRM empty) is
/// created in weavy under the id fieldsync chooses for it (`wm-co-<Mautic id>`), and that id
/// is filled into its IDCRM; with a third of the write answers lost on both sides, it is
/// never created twice, and once settled nothing is written again. (Before: it had no key,
/// and was never created.)
#[tokio::test]
async fn a_mautic_only_company_is_created_in_weavy_and_its_idcrm_filled_once() {
    let h = Harness::new("[sync]\ncompany_key = \"idcrm\"\nidcrm_field = \"idcrm\"\n").await;
    h.pair.mautic.add_custom_field("company", "idcrm", "text");
    let ids: Vec<u64> = (0..5)
        .map(|i| {
            h.pair.mautic.add_company(&[
                ("companyname", json!(format!("Société {i}"))),
                ("companycity", json!("Nantes")),
            ])
        })
        .collect();
    for side in [h.pair.weavy.control(), h.pair.mautic.control()] {
        side.update_knobs(|k| {
            k.fault_rate = 0.35;
            k.fault_mix = fieldsync::sim::Fault::LOST_ANSWERS.to_vec();
            // A stalled answer ends in a 504 at once rather than the client's timeout.
            k.stall = std::time::Duration::from_millis(20);
        });
    }
    for _ in 0..8 {
        let r = h.try_cycle(fieldsync::sync::CycleOptions::default()).await;
        if r.errors.is_empty() && r.pending == 0 && h.engine().store.in_flight_len() == 0 {
            break;
        }
    }
    for side in [h.pair.weavy.control(), h.pair.mautic.control()] {
        side.update_knobs(|k| k.fault_rate = 0.0);
    }
    h.cycle().await;
    h.cycle().await;
    let customers = h.pair.weavy.records("customer");
    assert_eq!(customers.len(), 5, "{customers:?}");
    assert_eq!(h.pair.weavy.api_inserts("customer"), 5);
    for (i, id) in ids.iter().enumerate() {
        let key = format!("wm-co-{id}");
        let c = h.pair.weavy.record("customer", &key).expect("created");
        assert_eq!(text(c.get("name")), format!("Société {i}"));
        let m = h.pair.mautic.company(*id).unwrap();
        assert_eq!(m.fields.get("idcrm"), Some(&json!(key)));
    }
    assert_eq!(
        h.pair.mautic.companies().len(),
        5,
        "no company created in Mautic"
    );
    assert_eq!(h.cycle().await.total_write_requests(), 0);
}
