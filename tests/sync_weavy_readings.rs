//! The sync under every reading of what weavy's documentation leaves open (issue "weavy:
//! right under every reading"): the zone a `srvDate` filter compares in, what `offset`
//! counts, the order of rows, which fields a row holds, whether an update needs its key,
//! what a duplicate insert, a missing right and a successful write answer. Each test runs
//! under every setting of the knobs it concerns.

mod common;

use common::{Harness, text};
use fieldsync::connector::WeavyRight;
use fieldsync::sim::Fault;
use fieldsync::sim::weavy::readings::{MissingRight, ReturnFields};
use fieldsync::sim::weavy::{WeavyReadings, WeavySimOptions};
use fieldsync::sync::CycleOptions;
use serde_json::json;
use std::sync::Arc;

const CONTACT: &str = "customercontact";
const ENTRANT: &str = "marketinginbound";

async fn harness(readings: WeavyReadings, page_cap: usize, extra: &str) -> Harness {
    Harness::with_weavy(
        WeavySimOptions {
            page_cap,
            readings,
            ..Default::default()
        },
        extra,
    )
    .await
}

fn contact_id(i: usize) -> String {
    format!("C{i:02}")
}

fn email(i: usize) -> String {
    format!("person{i}@example.fr")
}

/// The phone Mautic holds for weavy contact `i`.
fn mautic_phone(h: &Harness, i: usize) -> String {
    let ids = h.pair.mautic.contacts_with_email(&email(i));
    assert_eq!(ids.len(), 1, "{}: one Mautic contact", email(i));
    let c = h.pair.mautic.contact(ids[0]).unwrap();
    text(c.fields.get("phone"))
}

/// Under each combination of the filter's zone, what `offset` counts and the order of rows,
/// with three rows a page: a first sync reads every record; an edit made between cycles is
/// synced by the next cycle; an edit made while a cycle pages through weavy is synced by the
/// cycle after it. (Before this work: under the UTC reading the edits between cycles were
/// skipped, the cursor being sent in Paris time; under the pages reading the first sync read
/// pages 0, 3, 6... and missed the rest.)
#[tokio::test]
async fn every_record_and_every_edit_is_synced_under_every_paging_reading() {
    let all = WeavyReadings::paging_combinations()
        .into_iter()
        .chain(WeavyReadings::shown_zone_variants());
    for readings in all {
        let h = harness(readings, 3, "").await;
        let n = 11;
        for i in 0..n {
            h.pair.weavy.insert(
                CONTACT,
                &contact_id(i),
                &[
                    ("email", json!(email(i))),
                    ("lastName", json!(format!("Nom {i}"))),
                    ("phoneNumber", json!(format!("01 00 00 00 {i:02}"))),
                ],
            );
        }
        h.cycle().await;
        for i in 0..n {
            assert_eq!(
                mautic_phone(&h, i),
                format!("01 00 00 00 {i:02}"),
                "{readings:?}: first sync"
            );
        }
        // Between cycles.
        for i in [0, 5, 10] {
            assert!(h.pair.weavy.edit(
                CONTACT,
                &contact_id(i),
                &[("phoneNumber", json!(format!("02 00 00 00 {i:02}")))]
            ));
        }
        h.cycle().await;
        for i in [0, 5, 10] {
            assert_eq!(
                mautic_phone(&h, i),
                format!("02 00 00 00 {i:02}"),
                "{readings:?}: an edit between cycles"
            );
        }
        // During a cycle, on its k-th request to weavy (wherever the pull is then).
        let mut during = Vec::new();
        for (k, i) in [(2u64, 1usize), (4, 3), (5, 7), (7, 9)] {
            let sim = h.pair.weavy.user();
            let id = contact_id(i);
            h.pair.weavy.control().on_request(
                k,
                false,
                Arc::new(move || {
                    sim.edit(
                        CONTACT,
                        &id,
                        &[("phoneNumber", json!(format!("03 00 00 00 {i:02}")))],
                    );
                }),
            );
            h.cycle().await;
            during.push(i);
        }
        h.cycle().await;
        for i in during {
            assert_eq!(
                mautic_phone(&h, i),
                format!("03 00 00 00 {i:02}"),
                "{readings:?}: an edit made during a cycle"
            );
        }
        let created = h.pair.mautic.created_per_email();
        assert_eq!(created.len(), n, "{readings:?}");
        assert!(
            created.values().all(|c| *c == 1),
            "{readings:?}: {created:?}"
        );
    }
}

/// What the survey of `check` finds about ten contacts, four a page, under `readings`.
async fn survey_of(readings: WeavyReadings) -> (fieldsync::connector::weavy::Survey, String) {
    let h = harness(readings, 4, "").await;
    for i in 0..10 {
        h.pair
            .weavy
            .insert(CONTACT, &contact_id(i), &[("email", json!(email(i)))]);
    }
    let tz = h.engine().config.time_zone();
    let s = h
        .engine()
        .weavy
        .survey(fieldsync::model::RecordKind::WeavyContact)
        .await
        .unwrap();
    let said = s.describe(tz);
    (s, said)
}

/// `fieldsync check`'s survey finds what `offset` counts and which zone a `srvDate` filter
/// compares in, under each reading, and says so.
#[tokio::test]
async fn the_survey_finds_out_each_reading() {
    use fieldsync::connector::weavy::{FilterZone, OffsetCount};
    use fieldsync::sim::weavy::readings::{FilterZone as SimZone, OffsetUnit};
    for readings in WeavyReadings::paging_combinations() {
        let (s, said) = survey_of(readings).await;
        let offset = match readings.offset_unit {
            OffsetUnit::Rows => OffsetCount::Rows,
            OffsetUnit::Pages => OffsetCount::Pages { size: 4 },
        };
        assert_eq!(s.offset, Some(offset), "{readings:?}: {said}");
        let filter = match readings.filter_zone {
            SimZone::Project => FilterZone::Shown,
            SimZone::Utc => FilterZone::Utc,
        };
        assert_eq!(s.filter, Some(filter), "{readings:?}: {said}");
        assert!(said.contains("the project's zone, Europe/Paris"), "{said}");
    }
    // srvDate shown in UTC: the survey says so, and that no row can tell the filter's zone
    // (both readings then compare the same walls).
    for readings in WeavyReadings::shown_zone_variants() {
        let (s, said) = survey_of(readings).await;
        assert!(s.offset.is_some(), "{readings:?}: {said}");
        assert_eq!(s.filter, None, "{readings:?}: {said}");
        assert!(
            said.contains("shown at UTC+00:00 ("),
            "{readings:?}: {said}"
        );
        assert!(said.contains("): UTC;"), "{readings:?}: {said}");
    }
}

/// Under each reading of the writes' unknowns (a duplicate insert answering 400, 409, 500 or
/// overwriting; an update that needs its key; a missing right answering 401; a success with
/// a JSON, an empty or a text body; rows holding only what was asked for, or everything),
/// with a third of weavy's write answers lost after the write landed: every Mautic contact
/// reaches weavy as one Entrant, an edit reaches it, and nothing is written twice.
#[tokio::test]
async fn writes_land_once_under_every_write_reading() {
    for readings in WeavyReadings::write_variants() {
        let h = harness(readings, 4, "").await;
        let mut ids = Vec::new();
        for i in 0..8 {
            ids.push(h.pair.mautic.add_contact(&[
                ("email", json!(email(i))),
                ("firstname", json!(format!("Prénom {i}"))),
            ]));
        }
        h.pair.weavy.control().update_knobs(|k| {
            k.fault_rate = 0.35;
            k.fault_mix = Fault::LOST_ANSWERS.to_vec();
            // A stalled answer ends in a 504 at once rather than the client's timeout.
            k.stall = std::time::Duration::from_millis(20);
        });
        for _ in 0..6 {
            let r = h.try_cycle(CycleOptions::default()).await;
            if r.errors.is_empty() && r.pending == 0 && h.engine().store.in_flight_len() == 0 {
                break;
            }
        }
        h.pair.weavy.control().update_knobs(|k| k.fault_rate = 0.0);
        h.cycle().await;
        let per_email = h.pair.weavy.inserted_per_email(ENTRANT);
        assert_eq!(per_email.len(), 8, "{readings:?}: {per_email:?}");
        assert!(
            per_email.values().all(|n| *n == 1),
            "{readings:?}: {per_email:?}"
        );
        for (i, id) in ids.iter().enumerate() {
            let e = h
                .pair
                .weavy
                .record(ENTRANT, &format!("wm-{id}"))
                .unwrap_or_else(|| panic!("{readings:?}: no Entrant for {id}"));
            assert_eq!(
                text(e.get("firstName")),
                format!("Prénom {i}"),
                "{readings:?}"
            );
        }
        // An edit in Mautic: one PUT, the key in its body (a server may require it).
        h.pair
            .mautic
            .edit_contact(ids[0], &[("firstname", json!("Autre"))]);
        let before = h.pair.weavy.api_updates(ENTRANT);
        h.cycle().await;
        let e = h
            .pair
            .weavy
            .record(ENTRANT, &format!("wm-{}", ids[0]))
            .unwrap();
        assert_eq!(text(e.get("firstName")), "Autre", "{readings:?}");
        assert_eq!(
            h.pair.weavy.api_updates(ENTRANT),
            before + 1,
            "{readings:?}"
        );
        // Nothing left to write.
        let r = h.cycle().await;
        assert!(r.updates.values().all(|n| *n == 0), "{readings:?}: {r:?}");
        assert!(r.inserts.values().all(|n| *n == 0), "{readings:?}: {r:?}");
    }
}

/// A missing right, whether weavy answers it 403 or 401: the cycle names the Studio table
/// and column to tick, and writes nothing else there.
#[tokio::test]
async fn a_missing_right_is_named_whatever_status_it_has() {
    for missing_right in [MissingRight::Forbidden, MissingRight::Unauthorized] {
        let readings = WeavyReadings {
            missing_right,
            ..Default::default()
        };
        let h = harness(readings, 500, "").await;
        h.pair.mautic.add_contact(&[("email", json!(email(1)))]);
        h.pair.weavy.set_right(ENTRANT, WeavyRight::Insert, false);
        let r = h.try_cycle(CycleOptions::default()).await;
        let said = r.errors.join("\n");
        assert!(
            said.contains("Marketing / Entrant") && said.contains("API ajout"),
            "{missing_right:?}: {said}"
        );
        assert!(h.pair.weavy.records(ENTRANT).is_empty());
    }
}

/// The Dictionary calls `bouncedEmailDetected` a `text` (a project may), and the NPAI is a
/// date-time: written as a Paris wall time, it is read back as the same instant, so a second
/// cycle writes nothing and logs nothing, in summer and in winter. (Before: it was read back
/// as UTC, moved by one or two hours, and written again with a conflict entry.)
#[tokio::test]
async fn a_bounce_date_in_a_text_field_is_written_once() {
    for stored in ["text", "datetime"] {
        for offset_days in [0i64, 180] {
            let h = harness(WeavyReadings::default(), 500, "").await;
            h.pair
                .weavy
                .set_field_type(CONTACT, "bouncedEmailDetected", stored);
            let shift = chrono::Duration::days(offset_days);
            h.pair
                .mautic
                .control()
                .update_knobs(|k| k.clock_offset = shift);
            h.pair.weavy.insert(
                CONTACT,
                "C01",
                &[("email", json!(email(1))), ("lastName", json!("Martin"))],
            );
            h.cycle().await;
            let id = h.pair.mautic.contacts_with_email(&email(1))[0];
            h.pair.mautic.add_dnc(id, 2);
            h.cycle().await;
            let bounced =
                h.pair.weavy.record(CONTACT, "C01").unwrap()["bouncedEmailDetected"].clone();
            assert!(
                !text(Some(&bounced)).is_empty(),
                "{stored}: the NPAI reached weavy"
            );
            let conflicts = h.conflicts(Default::default()).len();
            let updates = h.pair.weavy.api_updates(CONTACT);
            let mautic_dnc = h.pair.mautic.contact(id).unwrap();
            for _ in 0..2 {
                let r = h.cycle().await;
                assert!(
                    r.updates.values().all(|n| *n == 0),
                    "{stored}, +{offset_days}d: {r:?}"
                );
            }
            assert_eq!(h.pair.weavy.api_updates(CONTACT), updates, "{stored}");
            assert_eq!(
                h.pair.weavy.record(CONTACT, "C01").unwrap()["bouncedEmailDetected"],
                bounced
            );
            assert_eq!(h.conflicts(Default::default()).len(), conflicts, "{stored}");
            assert_eq!(
                h.pair.mautic.contact(id).unwrap().fields,
                mautic_dnc.fields,
                "{stored}"
            );
        }
    }
}

/// Rows that hold every field, or only what was asked for: the sync reads the key and the
/// stamps (which it always asks for) and the mapped fields either way.
#[tokio::test]
async fn rows_with_only_the_asked_fields_or_all_of_them_sync_the_same() {
    for return_fields in [
        ReturnFields::Requested,
        ReturnFields::All,
        ReturnFields::Strict,
    ] {
        let readings = WeavyReadings {
            return_fields,
            ..Default::default()
        };
        let h = harness(readings, 5, "").await;
        for i in 0..7 {
            h.pair.weavy.insert(
                CONTACT,
                &contact_id(i),
                &[
                    ("email", json!(email(i))),
                    ("phoneNumber", json!(format!("01 00 00 00 {i:02}"))),
                ],
            );
        }
        h.cycle().await;
        h.pair
            .weavy
            .edit(CONTACT, &contact_id(6), &[("phoneNumber", json!("09"))]);
        h.cycle().await;
        assert_eq!(mautic_phone(&h, 6), "09", "{return_fields:?}");
        assert_eq!(mautic_phone(&h, 2), "01 00 00 00 02", "{return_fields:?}");
    }
}

/// `sync.full_every`: a record an incremental pull cannot see (here one stamped before the
/// cursor, as an import that keeps old stamps or a server clock set back would make it) is
/// synced by the next full read, which comes once the last one is that old; with `"0"` no
/// cycle reads everything again.
#[tokio::test]
async fn a_periodic_full_read_heals_what_an_incremental_pull_missed() {
    for (every, heals) in [("1h", true), ("0", false)] {
        let h = harness(
            WeavyReadings::default(),
            500,
            &format!("[sync]\nfull_every = \"{every}\"\n"),
        )
        .await;
        h.pair.weavy.insert(
            CONTACT,
            "C01",
            &[("email", json!(email(1))), ("phoneNumber", json!("01"))],
        );
        h.cycle().await;
        let first = h.engine().store.last_full_read().unwrap();
        assert_eq!(
            first.is_some(),
            every != "0",
            "{every}: the first sync reads everything"
        );
        // A record stamped two days back: no srvDate filter from the cursor finds it.
        h.pair
            .weavy
            .control()
            .update_knobs(|k| k.clock_offset = -chrono::Duration::days(2));
        h.pair.weavy.insert(
            CONTACT,
            "C02",
            &[("email", json!(email(2))), ("phoneNumber", json!("02"))],
        );
        h.pair
            .weavy
            .control()
            .update_knobs(|k| k.clock_offset = chrono::Duration::zero());
        h.cycle().await;
        assert!(
            h.pair.mautic.contacts_with_email(&email(2)).is_empty(),
            "{every}: the incremental pull missed it"
        );
        // The last full read is now two hours old.
        h.engine()
            .store
            .set_last_full_read(chrono::Utc::now() - chrono::Duration::hours(2))
            .unwrap();
        h.cycle().await;
        assert_eq!(
            h.pair.mautic.contacts_with_email(&email(2)).len(),
            usize::from(heals),
            "{every}"
        );
        if heals {
            assert_eq!(mautic_phone(&h, 2), "02");
            let last = h.engine().store.last_full_read().unwrap().unwrap();
            assert!(chrono::Utc::now() - last < chrono::Duration::minutes(1));
        }
    }
}
