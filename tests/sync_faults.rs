//! With a 10 % fault rate on both simulators (server errors, 429s, answers cut off halfway),
//! the end state is the same as without faults.

mod common;

use common::{Harness, assert_no_entrant_shadows_a_contact, assert_people_agree, edits, snapshot};
use fieldsync::sim::Fault;
use fieldsync::sim::dataset::DatasetSpec;

const CYCLES: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_percent_fault_rate_changes_nothing_in_the_end() {
    let spec = DatasetSpec::small(33);
    let (calm, plan, _) = Harness::with_plan(spec.clone(), "").await;
    let (stormy, _, _) = Harness::with_plan(spec, "").await;
    for control in [stormy.pair.weavy.control(), stormy.pair.mautic.control()] {
        control.update_knobs(|k| {
            k.fault_rate = 0.10;
            k.fault_mix = vec![Fault::ServerError, Fault::RateLimited, Fault::CutOff];
            k.retry_after_secs = 0;
        });
    }
    let mut retries = 0;
    for i in 0..CYCLES {
        edits(i, &plan, &calm.pair);
        edits(i, &plan, &stormy.pair);
        calm.cycle().await;
        let r = stormy.cycle().await;
        retries += r.retries;
    }
    let faults = stormy.pair.weavy.control().counters().total_faults()
        + stormy.pair.mautic.control().counters().total_faults();
    assert!(faults > 20, "only {faults} faults were injected");
    // A write whose answer is cut off and that must not be sent twice blind (a weavy or
    // Mautic company insert) is looked up instead of retried: a failure of that call.
    let looked_up: u64 = stormy
        .engine()
        .counter
        .snapshot()
        .iter()
        .filter(|(k, _)| format!("{k:?}").contains("Insert"))
        .map(|(_, s)| s.failures)
        .sum();
    assert!(
        retries + looked_up >= faults,
        "{retries} retries and {looked_up} look-ups for {faults} faults"
    );
    assert_eq!(snapshot(&stormy.pair), snapshot(&calm.pair));
    assert_people_agree(&stormy.pair);
    assert_no_entrant_shadows_a_contact(&stormy.pair);
}

/// Every kind of write with its answer lost after it landed (a cut answer, a 5xx after the
/// write, no answer at all) on a sixth of the calls of both sides, over twelve cycles of
/// edits: weavy inserts (Entrants, customers) and updates, Mautic contacts created and edited
/// in batches, companies created, links, the NPAI. Each is looked up or sent again as its
/// kind allows, and the end state is that of a run without faults: nothing created twice,
/// nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_whose_answers_are_lost_land_once_and_nothing_is_lost() {
    let spec = DatasetSpec::small(34);
    let (calm, plan, _) = Harness::with_plan(spec.clone(), "").await;
    let (lossy, _, _) = Harness::with_plan(spec, "").await;
    for control in [lossy.pair.weavy.control(), lossy.pair.mautic.control()] {
        control.update_knobs(|k| {
            k.fault_rate = 0.16;
            k.fault_mix = Fault::LOST_ANSWERS.to_vec();
            k.stall = std::time::Duration::from_millis(20);
            k.faults_on_auth = false;
        });
    }
    for i in 0..CYCLES {
        edits(i, &plan, &calm.pair);
        edits(i, &plan, &lossy.pair);
        calm.cycle().await;
        // A cycle may end with writes whose outcome is still unknown: the next one finds out.
        lossy.try_cycle(Default::default()).await;
    }
    let lost = lossy.pair.weavy.control().counters().total_faults()
        + lossy.pair.mautic.control().counters().total_faults();
    for control in [lossy.pair.weavy.control(), lossy.pair.mautic.control()] {
        control.update_knobs(|k| k.fault_rate = 0.0);
    }
    // Settle what the last lossy cycles left unknown.
    for _ in 0..3 {
        lossy.cycle().await;
    }
    calm.cycle().await;
    assert!(lost > 20, "only {lost} answers were lost");
    assert_eq!(snapshot(&lossy.pair), snapshot(&calm.pair));
    assert_eq!(
        common::emails_held_twice(&lossy.pair),
        common::emails_held_twice(&calm.pair)
    );
    let created = lossy.pair.mautic.created_per_email();
    assert!(created.values().all(|n| *n == 1), "{created:?}");
    let companies = lossy.pair.mautic.created_per_company_name();
    assert!(companies.values().all(|n| *n == 1), "{companies:?}");
    for table in ["marketinginbound", "customer"] {
        let inserted = lossy.pair.weavy.inserted_per_email(table);
        assert!(inserted.values().all(|n| *n == 1), "{table}: {inserted:?}");
    }
    assert_people_agree(&lossy.pair);
    assert_no_entrant_shadows_a_contact(&lossy.pair);
}
