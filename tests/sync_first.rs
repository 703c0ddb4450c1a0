//! The first sync of two seeded systems, the no-change cycle after it, and the dry run.

mod common;

use common::{Harness, assert_no_entrant_shadows_a_contact, assert_people_agree};
use fieldsync::sim::dataset::DatasetSpec;
use fieldsync::sync::CycleOptions;

#[tokio::test]
async fn a_first_sync_pairs_everyone_once_and_everything_agrees() {
    let spec = DatasetSpec::small(5);
    let (h, plan, loaded) = Harness::with_plan(spec.clone(), "").await;
    let r = h.cycle().await;

    assert_eq!(r.skipped_anonymous, spec.anonymous as u64, "{r:#?}");
    assert_eq!(r.skipped_no_email, spec.without_email as u64, "{r:#?}");
    assert_eq!(
        r.duplicates, 2,
        "two of the three Contacts sharing an e-mail are left alone"
    );
    let compared = assert_people_agree(&h.pair);
    assert_no_entrant_shadows_a_contact(&h.pair);
    let people_with_email = plan
        .people
        .iter()
        .filter(|p| p.weavy_id.is_some() || p.in_mautic)
        .count()
        - 2;
    assert_eq!(compared, people_with_email);
    // Anonymous visitors and contacts without e-mail were never copied.
    assert!(
        loaded
            .anonymous
            .iter()
            .all(|id| h.pair.mautic.contact(*id).is_some())
    );
    let weavy_people: usize = ["customercontact", "marketinginbound"]
        .iter()
        .map(|t| h.pair.weavy.records(t).len())
        .sum();
    assert_eq!(weavy_people, people_with_email + 2);

    // Every company is on both sides, once.
    let weavy_companies = h.pair.weavy.records("customer");
    let mautic_companies = h.pair.mautic.companies();
    assert_eq!(weavy_companies.len(), plan.companies.len());
    assert_eq!(mautic_companies.len(), plan.companies.len());

    // A second cycle with no edit writes nothing.
    let r2 = h.cycle().await;
    assert_eq!(r2.total_write_requests(), 0, "{:#?}", r2);
    assert_eq!(r2.changed_fields, 0);
}

#[tokio::test]
async fn a_dry_run_lists_the_writes_and_sends_none() {
    let (h, _plan, _) = Harness::with_plan(DatasetSpec::small(6), "").await;
    let before_w = h.pair.weavy.records("marketinginbound").len();
    let r = h
        .try_cycle(CycleOptions {
            dry_run: true,
            full: false,
        })
        .await;
    assert_eq!(r.total_write_requests(), 0);
    assert!(!r.planned.is_empty());
    assert!(
        r.planned.iter().any(|w| w.record.is_none()),
        "inserts are listed"
    );
    assert_eq!(h.pair.weavy.records("marketinginbound").len(), before_w);
    // The real cycle afterwards makes the writes the dry run listed (at least as many fields).
    let real = h.cycle().await;
    assert!(
        real.changed_fields >= r.changed_fields,
        "{} < {}",
        real.changed_fields,
        r.changed_fields
    );
    assert_people_agree(&h.pair);
}
