//! The merge and the applier run at once: the first writes go out while most records are still
//! to be merged, what the merge decides ahead of the writes waits in the outbox (in memory, a
//! side holds a few chunks and a slot per patch beyond them: see `sync::apply::Feed`), and the
//! end state is that of a merge-then-apply cycle: everyone paired once, everything agreeing,
//! nothing left to write.

mod common;

use common::{Harness, assert_no_entrant_shadows_a_contact, assert_people_agree};
use fieldsync::connector::WeavyRight;
use fieldsync::sim::dataset::DatasetSpec;
use fieldsync::store::Store;
use fieldsync::sync::{CycleOptions, Progress};
use std::sync::Mutex;

/// How many records were still to merge each time the applier sent a batch of people.
struct Watch {
    store: Store,
    seen: Mutex<Vec<usize>>,
}

impl Progress for Watch {
    fn advance(&self, step: &str, _n: u64) {
        if step == "apply people" {
            self.seen.lock().unwrap().push(self.store.dirty_count());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_start_while_the_merge_goes_on_and_nothing_is_left_behind() {
    let spec = DatasetSpec {
        mautic_only_contacts: 4_000,
        companies: 20,
        ..DatasetSpec::small(61)
    };
    let (h, _plan, _) = Harness::with_plan(spec, "").await;
    let engine = h.engine();
    let watch = Watch {
        store: engine.store.clone(),
        seen: Mutex::new(Vec::new()),
    };
    let r = engine
        .cycle(CycleOptions::default(), &watch)
        .await
        .expect("the cycle runs");
    assert!(r.errors.is_empty(), "{:#?}", r.errors);
    let created = r.inserts.get("marketinginbound").copied().unwrap_or(0);
    assert!(created >= 4_000, "{r:#?}");

    let seen = watch.seen.lock().unwrap().clone();
    let dirty_at_first = seen[0];
    // The merge hands over 256 records a chunk: when the first batch of 200 leaves, thousands
    // are still to merge.
    assert!(
        dirty_at_first > 1_000,
        "the first write waited for the merge: {dirty_at_first} records left to merge"
    );
    // What the merge decided ahead of the writes waited in the outbox, and was all sent.
    assert_eq!(r.pending, 0, "{r:#?}");
    assert_eq!(engine.store.outbox_len(), 0);

    assert_people_agree(&h.pair);
    assert_no_entrant_shadows_a_contact(&h.pair);
    let again = h.cycle().await;
    assert_eq!(again.total_write_requests(), 0, "{again:#?}");
    assert_eq!(again.changed_fields, 0);
}

/// A side that refuses every write while the merge is feeding it thousands of patches: the
/// merge is not left waiting on it (the cycle ends), the other side is written, and once the
/// right is back the next cycle sends what was kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_side_that_refuses_does_not_hold_the_merge_or_the_other_side() {
    let spec = DatasetSpec {
        mautic_only_contacts: 3_000,
        weavy_contacts: 300,
        companies: 20,
        ..DatasetSpec::small(62)
    };
    let (h, _plan, _) = Harness::with_plan(spec, "").await;
    h.pair
        .weavy
        .set_right("marketinginbound", WeavyRight::Insert, false);
    let r = h.try_cycle(CycleOptions::default()).await;
    assert!(
        r.errors.iter().any(|e| e.contains("API ajout")),
        "{:?}",
        r.errors
    );
    assert_eq!(r.inserts.get("marketinginbound"), None, "{r:#?}");
    // Refused once, not 3,000 times: the batches already on the wire (3 of 200), then no more.
    // The weavy inserts counted include the companies' (Client), which have the right.
    let companies = r.inserts.get("customer").copied().unwrap_or(0);
    let tried = r.requests.get("weavy insert").copied().unwrap_or(0) - companies;
    assert!(
        (1..=600).contains(&tried),
        "{tried} Entrant inserts tried without the right"
    );
    assert!(
        r.inserts.get("contact").copied().unwrap_or(0) > 0,
        "the Mautic side went on: {r:#?}"
    );
    // Nothing was lost: the Entrants wait in the outbox.
    assert!(r.pending >= 3_000, "{r:#?}");

    h.pair
        .weavy
        .set_right("marketinginbound", WeavyRight::Insert, true);
    let r = h.cycle().await;
    assert!(
        r.inserts.get("marketinginbound").copied().unwrap_or(0) >= 3_000,
        "{r:#?}"
    );
    assert_people_agree(&h.pair);
    assert_no_entrant_shadows_a_contact(&h.pair);
    let again = h.cycle().await;
    assert_eq!(again.total_write_requests(), 0, "{again:#?}");
}
