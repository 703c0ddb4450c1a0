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
