//! A first cycle on two small seeded systems, then a second one with no edit.

use fieldsync::sim::SimPair;
use fieldsync::store::{Store, StoreOptions};
use fieldsync::sync::{CycleOptions, Engine, NoProgress};
use serde_json::json;

#[tokio::test]
async fn first_sync_converges_and_a_second_writes_nothing() {
    let pair = SimPair::start(1).await.unwrap();
    pair.weavy.insert(
        "customer",
        "T1",
        &[("name", json!("ACME SAS")), ("city", json!("Lyon"))],
    );
    pair.weavy.insert(
        "customercontact",
        "C1",
        &[
            ("firstName", json!("Jean")),
            ("lastName", json!("Dupont")),
            ("email", json!("jean@acme.fr")),
            ("customer_ID", json!("T1")),
        ],
    );
    let globex = pair.mautic.add_company(&[
        ("companyname", json!("Globex")),
        ("companycity", json!("Paris")),
    ]);
    let marie = pair.mautic.add_contact(&[
        ("firstname", json!("Marie")),
        ("lastname", json!("Curie")),
        ("email", json!("marie@globex.fr")),
    ]);
    pair.mautic.link_contact_company(marie, globex, true);

    let dir = tempfile::tempdir().unwrap();
    let config = pair.config(&dir.path().join("db"), "");
    let store = Store::open(&config.store.path, &StoreOptions::default()).unwrap();
    let engine = Engine::from_config(config, store).unwrap();

    let r1 = engine
        .cycle(CycleOptions::default(), &NoProgress)
        .await
        .unwrap();
    println!("{r1:#?}");
    assert!(r1.errors.is_empty(), "{:?}", r1.errors);

    // weavy's contact and company reached Mautic, Mautic's contact and company reached weavy.
    let jean = pair.mautic.contacts_with_email("jean@acme.fr");
    assert_eq!(jean.len(), 1);
    let jean = pair.mautic.contact(jean[0]).unwrap();
    assert_eq!(jean.text("firstname"), Some("Jean"));
    let acme: Vec<_> = pair
        .mautic
        .companies()
        .into_iter()
        .filter(|c| c.fields.get("companyname") == Some(&json!("ACME SAS")))
        .collect();
    assert_eq!(acme.len(), 1);
    assert_eq!(
        jean.companies,
        vec![(acme[0].id, true)],
        "the contact follows its company"
    );
    let entrant = pair
        .weavy
        .record("marketinginbound", &format!("wm-{marie}"))
        .expect("an Entrant for Marie");
    assert_eq!(entrant.get("firstName"), Some(&json!("Marie")));
    let customer = pair
        .weavy
        .record("customer", &format!("wm-co-{globex}"))
        .expect("a customer for Globex");
    assert_eq!(customer.get("city"), Some(&json!("Paris")));

    let r2 = engine
        .cycle(CycleOptions::default(), &NoProgress)
        .await
        .unwrap();
    println!("{r2:#?}");
    assert_eq!(r2.total_write_requests(), 0, "{:?}", r2.requests);
    assert!(r2.errors.is_empty(), "{:?}", r2.errors);
}
