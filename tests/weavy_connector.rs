//! The weavy connector against the weavy simulator, over loopback HTTP only: paging while
//! users edit, the `srvDate` cursor in local time (summer, winter, the autumn fold), tokens,
//! idempotent inserts, partial updates, rights, faults, and the number of calls it takes.
//! Nothing waits on a clock: the simulator's clock is moved instead.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use fieldsync::connector::http::CallKind;
use fieldsync::connector::weavy::{WeavyClient, WeavySettings};
use fieldsync::connector::{
    Connector, ConnectorError, ErrorKind, HttpSettings, Pager, RecordWrite, RemoteRecord,
    RequestCounter, Secret, WeavyRight, WriteOutcome,
};
use fieldsync::model::{FieldType, RecordKind, Side, Value};
use fieldsync::sim::weavy::{WeavySim, WeavySimOptions};
use fieldsync::sim::{Fault, RateLimit};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

const CONTACT: &str = "customercontact";
const CUSTOMER: &str = "customer";
const ENTRANT: &str = "marketinginbound";

async fn sim(page_cap: usize) -> WeavySim {
    WeavySim::start(WeavySimOptions {
        page_cap,
        ..WeavySimOptions::default()
    })
    .await
    .expect("the simulator starts")
}

fn settings(sim: &WeavySim, http: HttpSettings) -> WeavySettings {
    WeavySettings {
        base_url: sim.url(),
        project_code: sim.project_code().to_owned(),
        user: sim.options().user.clone(),
        password: Secret::new(sim.options().password.clone()),
        time_zone: chrono_tz::Europe::Paris,
        http,
        value_types: Default::default(),
    }
}

fn client_with(sim: &WeavySim, http: HttpSettings) -> WeavyClient {
    WeavyClient::new(settings(sim, http), RequestCounter::new()).expect("valid settings")
}

fn client(sim: &WeavySim) -> WeavyClient {
    client_with(sim, HttpSettings::fast())
}

fn utc(s: &str) -> DateTime<Utc> {
    Utc.from_utc_datetime(
        &chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").expect("a test date"),
    )
}

/// Sets the simulator's clock to `t` (what it stamps on the records written next).
fn clock_at(sim: &WeavySim, t: DateTime<Utc>) {
    let offset = t - Utc::now();
    sim.control().update_knobs(|k| k.clock_offset = offset);
}

fn clock_now(sim: &WeavySim) {
    sim.control()
        .update_knobs(|k| k.clock_offset = chrono::Duration::zero());
}

async fn read_all(
    client: &WeavyClient,
    kind: RecordKind,
    since: Option<DateTime<Utc>>,
) -> Vec<RemoteRecord> {
    let mut pager = client.changed_since(kind, since);
    let mut out = Vec::new();
    while let Some(page) = pager.next_page().await.expect("a page") {
        out.extend(page);
    }
    out
}

fn write(id: &str, fields: &[(&str, Value)]) -> RecordWrite {
    RecordWrite {
        id: Some(id.to_owned()),
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    }
}

fn requests(client: &WeavyClient, kind: CallKind) -> u64 {
    client.counter().get(Side::Weavy, kind).requests
}

fn total_retries(client: &WeavyClient) -> u64 {
    client
        .counter()
        .snapshot()
        .values()
        .map(|s| s.retries)
        .sum()
}

fn assert_done(outcomes: &[WriteOutcome]) {
    for (i, o) in outcomes.iter().enumerate() {
        assert!(matches!(o, WriteOutcome::Done { .. }), "item {i}: {o:?}");
    }
}

fn rejected(o: &WriteOutcome) -> &ConnectorError {
    match o {
        WriteOutcome::Rejected(e) => e,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn seed_contacts(sim: &WeavySim, n: usize) {
    for i in 0..n {
        sim.insert(
            CONTACT,
            &format!("P{i:05}"),
            &[
                ("lastName", json!(format!("Nom{i}"))),
                ("firstName", json!("Camille")),
                ("email", json!(format!("p{i}@example.fr"))),
            ],
        );
    }
}

// ---------------------------------------------------------------- paging

/// A full read of 5,200 records, 500 a page, while users edit records behind and ahead of the
/// pager and create new ones. A pull ends where it started (`srvDate` below its start), so what
/// users change meanwhile leaves it and no row slips by unseen: every record not edited is
/// read once, and the next pull, from that end less the overlap, reads every record edited or
/// created with its final values. (The pull starts an hour before the users' edits in the
/// server's clock, so the test does not depend on how fast it runs.)
#[tokio::test]
async fn full_paging_misses_nothing_while_users_edit() {
    let sim = sim(500).await;
    clock_at(&sim, Utc::now() - chrono::Duration::hours(2));
    seed_contacts(&sim, 5_200);
    // The pull starts an hour ago in the server's clock; users edit now.
    clock_at(&sim, Utc::now() - chrono::Duration::hours(1));
    let client = client(&sim);
    let mut pager = client.changed_since(RecordKind::WeavyContact, None);
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut edited: HashMap<String, String> = HashMap::new();
    let mut added = Vec::new();
    let mut pages = 0usize;
    while let Some(page) = pager.next_page().await.unwrap() {
        for r in &page {
            *seen.entry(r.id.clone()).or_default() += 1;
        }
        pages += 1;
        if pages > 10 {
            continue; // users stop, so that the pager has an end
        }
        clock_now(&sim);
        // As users: edit a record already read and one not read yet, and create one.
        let behind = format!("P{:05}", pages * 500 - 7);
        let ahead = format!("P{:05}", pages * 500 + 123);
        for id in [&behind, &ahead] {
            let phone = format!("01 00 00 00 {pages:02}");
            if sim.edit(CONTACT, id, &[("phoneNumber", json!(phone.clone()))]) {
                edited.insert(id.clone(), phone);
            }
        }
        let new_id = format!("N{pages:03}");
        sim.insert(
            CONTACT,
            &new_id,
            &[("email", json!(format!("{new_id}@example.fr")))],
        );
        added.push(new_id);
    }
    let end = pager.server_time().expect("where the pull ended");
    for i in 0..5_200 {
        let id = format!("P{i:05}");
        assert!(
            seen.contains_key(&id) || edited.contains_key(&id),
            "{id} was missed"
        );
    }
    for (id, n) in &seen {
        assert_eq!(*n, 1, "{id} came {n} times");
    }
    assert!(
        added.iter().all(|id| !seen.contains_key(id)),
        "created after the pull began"
    );
    assert!(pages >= 11, "pages of at most 500 rows: {pages}");
    // The next pull reads every change the first one left out, as it now is.
    let next = read_all(
        &client,
        RecordKind::WeavyContact,
        Some(end - chrono::Duration::minutes(10)),
    )
    .await;
    let by_id: HashMap<&str, &RemoteRecord> = next.iter().map(|r| (r.id.as_str(), r)).collect();
    for (id, phone) in &edited {
        let r = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{id}, edited, not read next"));
        assert_eq!(r.get("phoneNumber"), &Value::text(phone.clone()), "{id}");
    }
    for id in &added {
        assert!(
            by_id.contains_key(id.as_str()),
            "{id}, created, not read next"
        );
    }
}

#[tokio::test]
async fn cursor_paging_returns_a_record_twice_only_when_it_was_edited() {
    let sim = sim(100).await;
    let t0 = utc("2024-01-10 08:00:00");
    clock_at(&sim, t0);
    seed_contacts(&sim, 5_000);
    clock_at(&sim, utc("2024-06-03 08:00:00"));
    for i in (0..5_000).step_by(4) {
        assert!(sim.edit(
            CONTACT,
            &format!("P{i:05}"),
            &[("jobTitle", json!("Acheteur"))]
        ));
    }
    // The pull starts an hour ago in the server's clock; the edits made while it pages are
    // stamped now, after its end.
    clock_at(&sim, Utc::now() - chrono::Duration::hours(1));
    let client = client(&sim);
    let mut pager =
        client.changed_since(RecordKind::WeavyContact, Some(utc("2024-03-01 00:00:00")));
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut edited: HashSet<String> = HashSet::new();
    let mut rows = 0usize;
    while let Some(page) = pager.next_page().await.unwrap() {
        for r in &page {
            *seen.entry(r.id.clone()).or_default() += 1;
        }
        rows += page.len();
        clock_now(&sim);
        // Records that did not match the cursor start to match: one before the pager's
        // position (the server's later rows shift by one) and one after it.
        let behind = 4 * rows.saturating_sub(60) + 1;
        let ahead = 4 * (rows + 150) + 1;
        for i in [behind, ahead] {
            let id = format!("P{i:05}");
            if i < 5_000 && sim.edit(CONTACT, &id, &[("jobTitle", json!("Directeur"))]) {
                edited.insert(id);
            }
        }
    }
    for i in (0..5_000).step_by(4) {
        assert!(seen.contains_key(&format!("P{i:05}")), "P{i:05} was missed");
    }
    for (id, n) in &seen {
        assert!(
            *n == 1 || edited.contains(id),
            "{id} came {n} times without an edit"
        );
        let i: usize = id[1..].parse().unwrap();
        assert!(
            i % 4 == 0 || edited.contains(id),
            "{id} does not match the cursor"
        );
    }
    // What was edited during the pull is the next pull's: the pull ends at its start.
    let edited_seen = edited.iter().filter(|id| seen.contains_key(*id)).count();
    assert!(!edited.is_empty());
    assert_eq!(
        edited_seen, 0,
        "records edited while paging are left to the next pull"
    );
}

// ---------------------------------------------------------------- srvDate in local time

/// Creates records stamped at the given instants, then reads what changed since `cursor`.
async fn ids_changed_since(
    stamps: &[(&str, DateTime<Utc>)],
    cursor: DateTime<Utc>,
) -> (BTreeMap<String, DateTime<Utc>>, WeavySim) {
    let sim = sim(500).await;
    for (id, t) in stamps {
        clock_at(&sim, *t);
        sim.insert(CUSTOMER, id, &[("name", json!(id))]);
    }
    clock_now(&sim);
    let client = client(&sim);
    let records = read_all(&client, RecordKind::WeavyCustomer, Some(cursor)).await;
    (
        records.into_iter().map(|r| (r.id, r.modified_at)).collect(),
        sim,
    )
}

#[tokio::test]
async fn the_cursor_is_sent_in_paris_time_in_summer_and_in_winter() {
    for cursor in [utc("2024-07-01 10:00:00"), utc("2024-01-15 10:00:00")] {
        let s = chrono::Duration::seconds;
        let stamps = [
            ("two_hours_before", cursor - s(7_200)),
            ("ten_seconds_before", cursor - s(10)),
            ("same_second", cursor + chrono::Duration::milliseconds(400)),
            ("half_an_hour_after", cursor + s(1_800)),
            ("ninety_minutes_after", cursor + s(5_400)),
        ];
        let (found, _sim) = ids_changed_since(&stamps, cursor).await;
        let ids: Vec<&str> = found.keys().map(String::as_str).collect();
        assert_eq!(
            ids,
            ["half_an_hour_after", "ninety_minutes_after", "same_second"],
            "cursor {cursor}"
        );
        let t = found["half_an_hour_after"];
        assert!(
            (t - (cursor + s(1_800))).num_seconds().abs() <= 1,
            "modified_at is UTC: {t}"
        );
    }
}

#[tokio::test]
async fn the_cursor_survives_the_autumn_fold() {
    // 27 Oct 2024: 02:00-03:00 happens twice in Paris (00:00-01:00 UTC CEST, 01:00-02:00 UTC CET).
    let cursor = utc("2024-10-27 00:30:00");
    let stamps = [
        ("long_before", utc("2024-10-26 22:00:00")),
        ("first_pass_after", utc("2024-10-27 00:45:00")),
        // 02:20 CET: later than the cursor, lower in local time than its 02:30 CEST.
        ("second_pass", utc("2024-10-27 01:20:00")),
        ("after_the_fold", utc("2024-10-27 02:10:00")),
    ];
    let (found, sim) = ids_changed_since(&stamps, cursor).await;
    for id in ["first_pass_after", "second_pass", "after_the_fold"] {
        assert!(found.contains_key(id), "{id} missed: {found:?}");
    }
    assert!(!found.contains_key("long_before"));
    // The local srvDate of the second pass is ambiguous; srvDateUTC is not.
    assert_eq!(
        sim.record(CUSTOMER, "second_pass").unwrap()["srvDate"],
        json!("2024-10-27T02:20:00")
    );
    let t = found["second_pass"];
    assert!(
        (t - utc("2024-10-27 01:20:00")).num_seconds().abs() <= 1,
        "{t}"
    );
}

#[tokio::test]
async fn server_time_is_the_simulators_clock() {
    let sim = sim(10).await;
    seed_contacts(&sim, 3);
    let ahead = Utc::now() + chrono::Duration::days(2);
    clock_at(&sim, ahead);
    let client = client(&sim);
    let mut pager = client.changed_since(RecordKind::WeavyContact, None);
    assert_eq!(pager.server_time(), None);
    pager.next_page().await.unwrap();
    let t = pager.server_time().unwrap();
    assert!((t - ahead).num_seconds().abs() <= 5, "{t} vs {ahead}");
}

// ---------------------------------------------------------------- tokens

#[tokio::test]
async fn expired_tokens_are_renewed_with_one_authenticate() {
    let sim = sim(500).await;
    seed_contacts(&sim, 20);
    let client = client(&sim);
    client.fields(RecordKind::WeavyContact).await.unwrap();
    assert_eq!(requests(&client, CallKind::Auth), 1);

    // Revoked while twenty updates are about to run concurrently: one renewal for all.
    sim.expire_tokens();
    let items: Vec<RecordWrite> = (0..20)
        .map(|i| write(&format!("P{i:05}"), &[("jobTitle", Value::text("Gérant"))]))
        .collect();
    assert_done(
        &client
            .update(RecordKind::WeavyContact, items)
            .await
            .unwrap(),
    );
    assert_eq!(requests(&client, CallKind::Auth), 2);

    // Run out on the server's clock (expiresIn 43200 s): a 401, one renewal.
    clock_at(&sim, Utc::now() + chrono::Duration::seconds(43_200 + 60));
    assert_eq!(
        read_all(&client, RecordKind::WeavyContact, None)
            .await
            .len(),
        20
    );
    assert_eq!(requests(&client, CallKind::Auth), 3);
    assert_eq!(
        sim.control().counters().requests_matching("Authenticate"),
        3
    );
}

#[tokio::test]
async fn a_bad_password_is_an_auth_error_that_never_shows_it() {
    let sim = sim(500).await;
    let password = "Zq9-very-secret-Hunter2";
    let mut s = settings(&sim, HttpSettings::fast());
    s.password = Secret::new(password);
    let client = WeavyClient::new(s, RequestCounter::new()).unwrap();
    let err = client.check_auth().await.unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::Auth { status: 401, .. }),
        "{err:?}"
    );
    let err2 = client
        .changed_since(RecordKind::WeavyCustomer, None)
        .next_page()
        .await
        .unwrap_err();
    for e in [&err, &err2] {
        assert!(matches!(e.kind, ErrorKind::Auth { .. }), "{e:?}");
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(password), "the password leaked: {shown}");
        assert!(
            shown.contains("DEMO"),
            "the message names the project: {shown}"
        );
    }
    assert!(!format!("{client:?}").contains(password));
    // A refused password is not tried twice per call.
    assert_eq!(requests(&client, CallKind::Auth), 2);
}

// ---------------------------------------------------------------- writes

#[tokio::test]
async fn an_insert_keeps_the_callers_id_and_a_repeat_never_duplicates() {
    let sim = sim(500).await;
    let client = client(&sim);
    let item = write(
        "wm-47",
        &[
            ("email", Value::text("Lea.Martin@Example.fr")),
            ("lastName", Value::text("Martin")),
            ("phoneNumber", Value::text("01 02 03 04 05")),
        ],
    );
    let out = client
        .insert(RecordKind::WeavyEntrant, vec![item.clone()])
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![WriteOutcome::Done {
            id: "wm-47".into(),
            record: None,
            refused: Vec::new(),
        }]
    );
    assert_eq!(
        sim.record(ENTRANT, "wm-47").unwrap()["lastName"],
        json!("Martin")
    );

    // Sent again (the outbox retried it), with a newer phone: found, updated, not duplicated.
    let mut again = item;
    again.fields[2].1 = Value::text("06 07 08 09 10");
    let out = client
        .insert(RecordKind::WeavyEntrant, vec![again])
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![WriteOutcome::Done {
            id: "wm-47".into(),
            record: None,
            refused: Vec::new(),
        }]
    );
    assert_eq!(sim.inserted_per_email(ENTRANT)["lea.martin@example.fr"], 1);
    assert_eq!(sim.records(ENTRANT).len(), 1);
    assert_eq!(
        sim.record(ENTRANT, "wm-47").unwrap()["phoneNumber"],
        json!("06 07 08 09 10")
    );
    assert_eq!((sim.api_inserts(ENTRANT), sim.api_updates(ENTRANT)), (1, 1));
}

#[tokio::test]
async fn an_insert_whose_answer_was_cut_off_is_found_on_retry() {
    let sim = sim(500).await;
    let mut http = HttpSettings::fast();
    http.max_attempts = 3;
    let client = client_with(&sim, http);
    client.check_auth().await.unwrap();
    // Every answer is cut off: the first POST creates the record, nobody hears it.
    sim.control().update_knobs(|k| {
        k.fault_rate = 1.0;
        k.fault_mix = vec![Fault::CutOff];
    });
    let item = write(
        "wm-9",
        &[
            ("email", Value::text("cut@example.fr")),
            ("lastName", Value::text("Coupé")),
        ],
    );
    let out = client
        .insert(RecordKind::WeavyEntrant, vec![item.clone()])
        .await
        .unwrap();
    match &out[0] {
        WriteOutcome::Failed(e) => assert!(e.is_transient(), "{e:?}"),
        other => panic!("expected a transient failure, got {other:?}"),
    }
    assert!(
        sim.record(ENTRANT, "wm-9").is_some(),
        "the first attempt did insert"
    );
    sim.control().update_knobs(|k| k.fault_rate = 0.0);
    let out = client
        .insert(RecordKind::WeavyEntrant, vec![item])
        .await
        .unwrap();
    assert_done(&out);
    assert_eq!(sim.inserted_per_email(ENTRANT)["cut@example.fr"], 1);
    assert_eq!(sim.records(ENTRANT).len(), 1);
}

/// An insert whose answer never comes (the client's timeout fires after the write landed),
/// or comes as a 5xx after it landed, is not sent again blind: the record is read back by its
/// key, found, and the insert is Done, once, whatever a duplicate insert would have answered
/// (400, 409, 500, or an overwrite). Before this work the POST was sent again: a 500 for a
/// duplicate then failed the insert for good, an overwrite emptied fields.
#[tokio::test]
async fn an_insert_whose_answer_is_lost_is_looked_up_not_sent_again() {
    use fieldsync::sim::weavy::readings::DuplicateInsert;
    for duplicate_insert in [
        DuplicateInsert::BadRequest,
        DuplicateInsert::Conflict,
        DuplicateInsert::ServerError,
        DuplicateInsert::Overwrite,
    ] {
        for fault in [Fault::TimeoutAfterWrite, Fault::ServerErrorAfterWrite] {
            let sim = sim(500).await;
            sim.set_readings(fieldsync::sim::weavy::WeavyReadings {
                duplicate_insert,
                ..Default::default()
            });
            let mut http = HttpSettings::fast();
            http.timeout = Duration::from_millis(300);
            let client = client_with(&sim, http);
            client.check_auth().await.unwrap();
            sim.control().update_knobs(|k| {
                k.fault_rate = 1.0;
                k.fault_mix = vec![fault];
                k.stall = Duration::from_secs(3);
            });
            // Only the POST meets the fault: the look-up and the PUT after it get through.
            sim.control().on_request(
                2,
                false,
                Arc::new({
                    let control = sim.control().clone();
                    move || control.update_knobs(|k| k.fault_rate = 0.0)
                }),
            );
            let item = write(
                "wm-7",
                &[
                    ("email", Value::text("lost@example.fr")),
                    ("lastName", Value::text("Perdu")),
                ],
            );
            let out = client
                .insert(RecordKind::WeavyEntrant, vec![item])
                .await
                .unwrap();
            assert_done(&out);
            let label = format!("{duplicate_insert:?}, {fault:?}");
            assert_eq!(sim.api_inserts(ENTRANT), 1, "{label}: one POST landed");
            assert_eq!(sim.records(ENTRANT).len(), 1, "{label}");
            let r = sim.record(ENTRANT, "wm-7").unwrap();
            assert_eq!(r["lastName"], json!("Perdu"), "{label}");
            assert_eq!(r["email"], json!("lost@example.fr"), "{label}");
        }
    }
}

#[tokio::test]
async fn an_update_sends_only_the_given_fields() {
    let sim = sim(500).await;
    seed_contacts(&sim, 3);
    let before = sim.record(CONTACT, "P00001").unwrap();
    let client = client(&sim);
    let out = client
        .update(
            RecordKind::WeavyContact,
            vec![write(
                "P00001",
                &[("mobilePhoneNumber", Value::text("06 11 22 33 44"))],
            )],
        )
        .await
        .unwrap();
    assert_done(&out);
    let after = sim.record(CONTACT, "P00001").unwrap();
    assert_eq!(after["mobilePhoneNumber"], json!("06 11 22 33 44"));
    for field in ["lastName", "firstName", "email"] {
        assert_eq!(after[field], before[field], "{field} was touched");
    }
    assert_eq!(
        sim.record(CONTACT, "P00000").unwrap()["mobilePhoneNumber"],
        json!(null)
    );
    assert_eq!(sim.api_updates(CONTACT), 1);
}

#[tokio::test]
async fn a_contacts_company_can_be_set_and_must_exist() {
    let sim = sim(500).await;
    sim.insert(CUSTOMER, "C001", &[("name", json!("Acme"))]);
    seed_contacts(&sim, 1);
    let client = client(&sim);
    let fields = client.fields(RecordKind::WeavyContact).await.unwrap();
    let company = fields.iter().find(|f| f.code == "customer_ID").unwrap();
    assert!(company.writable && company.raw_type == "text(foreignkey)");
    let out = client
        .update(
            RecordKind::WeavyContact,
            vec![
                write("P00000", &[("customer_ID", Value::text("C001"))]),
                write("P00000", &[("customer_ID", Value::text("C404"))]),
            ],
        )
        .await
        .unwrap();
    assert!(matches!(out[0], WriteOutcome::Done { .. }), "{:?}", out[0]);
    let e = rejected(&out[1]);
    assert!(
        matches!(&e.kind, ErrorKind::Rejected { status: 400, message } if message.contains("C404")),
        "{e:?}"
    );
    assert_eq!(e.record.as_deref(), Some("P00000"));
    assert_eq!(
        sim.record(CONTACT, "P00000").unwrap()["customer_ID"],
        json!("C001")
    );
}

#[tokio::test]
async fn unknown_fields_and_missing_records_are_rejected_by_name() {
    let sim = sim(500).await;
    seed_contacts(&sim, 1);
    let client = client(&sim);
    let out = client
        .update(
            RecordKind::WeavyContact,
            vec![
                write("P00000", &[("lastNmae", Value::text("X"))]),
                write("P99999", &[("lastName", Value::text("X"))]),
                RecordWrite {
                    id: None,
                    fields: vec![("lastName".into(), Value::text("X"))],
                },
            ],
        )
        .await
        .unwrap();
    let e = rejected(&out[0]);
    assert!(
        matches!(&e.kind, ErrorKind::Rejected { status: 400, message } if message.contains("lastNmae")),
        "{e:?}"
    );
    assert_eq!(rejected(&out[1]).kind, ErrorKind::NotFound);
    assert!(matches!(rejected(&out[2]).kind, ErrorKind::Invalid(_)));

    let out = client
        .insert(
            RecordKind::WeavyEntrant,
            vec![
                write("wm-1", &[("emial", Value::text("a@b.fr"))]),
                RecordWrite {
                    id: None,
                    fields: vec![("email".into(), Value::text("a@b.fr"))],
                },
            ],
        )
        .await
        .unwrap();
    let e = rejected(&out[0]);
    assert!(
        matches!(&e.kind, ErrorKind::Rejected { status: 400, message } if message.contains("emial")),
        "{e:?}"
    );
    assert!(matches!(rejected(&out[1]).kind, ErrorKind::Invalid(_)));
    assert!(sim.records(ENTRANT).is_empty());
}

#[tokio::test]
async fn values_are_written_and_read_in_project_time() {
    let sim = sim(500).await;
    seed_contacts(&sim, 1);
    sim.insert(
        CONTACT,
        "odd",
        &[
            ("bouncedEmailDetected", json!("n/a")),
            ("emailOptIn", json!("oui")),
        ],
    );
    let client = client(&sim);
    client.fields(RecordKind::WeavyContact).await.unwrap();
    let bounce = utc("2024-07-01 10:00:00");
    let closed = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
    let out = client
        .update(
            RecordKind::WeavyContact,
            vec![write(
                "P00000",
                &[
                    ("bouncedEmailDetected", Value::DateTime(bounce)),
                    ("closedDate", Value::Date(closed)),
                    ("emailOptIn", Value::Bool(true)),
                    (
                        "jobTitle",
                        Value::List(vec!["Achats".into(), "Direction".into()]),
                    ),
                    ("firstName", Value::Blank),
                ],
            )],
        )
        .await
        .unwrap();
    assert_done(&out);
    let stored = sim.record(CONTACT, "P00000").unwrap();
    assert_eq!(
        stored["bouncedEmailDetected"],
        json!("2024-07-01T12:00:00"),
        "sent in Paris time"
    );
    assert_eq!(stored["jobTitle"], json!("Achats|Direction"));
    assert_eq!(stored["firstName"], json!(null));
    let r = client
        .get(RecordKind::WeavyContact, "P00000")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.get("bouncedEmailDetected"), &Value::DateTime(bounce));
    assert_eq!(r.get("closedDate"), &Value::Date(closed));
    assert_eq!(r.get("emailOptIn"), &Value::Bool(true));
    assert_eq!(r.get("firstName"), &Value::Blank);
    // An unreadable value does not fail the page: it is kept as text.
    let all = read_all(&client, RecordKind::WeavyContact, None).await;
    let odd = all.iter().find(|r| r.id == "odd").unwrap();
    assert_eq!(odd.get("bouncedEmailDetected"), &Value::Text("n/a".into()));
    assert_eq!(odd.get("emailOptIn"), &Value::Bool(true));
}

// ---------------------------------------------------------------- reads

#[tokio::test]
async fn fields_show_types_writability_and_custom_fields_at_once() {
    let sim = sim(500).await;
    let client = client(&sim);
    let fields = client.fields(RecordKind::WeavyContact).await.unwrap();
    let f = |code: &str| {
        fields
            .iter()
            .find(|f| f.code == code)
            .unwrap_or_else(|| panic!("{code}"))
    };
    assert_eq!(f("emailOptIn").field_type, FieldType::Boolean);
    assert_eq!(f("bouncedEmailDetected").field_type, FieldType::DateTime);
    assert_eq!(f("closedDate").field_type, FieldType::Date);
    assert_eq!(f("lastName").label, "Nom");
    assert!(fields.iter().all(|f| !f.custom));
    assert!(!f("customercontact_ID").writable);
    let customer = client.fields(RecordKind::WeavyCustomer).await.unwrap();
    let owner = customer.iter().find(|f| f.code == "user_ID").unwrap();
    assert!(
        !owner.writable,
        "a foreign key other than a contact's company is read-only"
    );
    assert_eq!(
        customer
            .iter()
            .find(|f| f.code == "employeeCount")
            .unwrap()
            .field_type,
        FieldType::Number
    );

    sim.add_custom_field(CONTACT, "xFidelite", "number");
    seed_contacts(&sim, 1);
    sim.edit(CONTACT, "P00000", &[("xFidelite", json!(3))]);
    let fields = client.fields(RecordKind::WeavyContact).await.unwrap();
    let custom = fields
        .iter()
        .find(|f| f.code == "xFidelite")
        .expect("custom field at once");
    assert!(custom.custom && custom.writable);
    assert_eq!(custom.field_type, FieldType::Number);
    let records = read_all(&client, RecordKind::WeavyContact, None).await;
    assert_eq!(records[0].get("xFidelite"), &Value::Number(3.0));
    let out = client
        .update(
            RecordKind::WeavyContact,
            vec![write("P00000", &[("xFidelite", Value::Number(4.0))])],
        )
        .await
        .unwrap();
    assert_done(&out);
    assert_eq!(
        sim.record(CONTACT, "P00000").unwrap()["xFidelite"],
        json!(4.0)
    );
}

#[tokio::test]
async fn find_by_pages_to_the_end_and_get_reads_one() {
    let sim = sim(3).await;
    seed_contacts(&sim, 40);
    for i in (0..40).step_by(6) {
        sim.edit(
            CONTACT,
            &format!("P{i:05}"),
            &[("email", json!("Shared@Example.fr"))],
        );
    }
    let client = client(&sim);
    let found = client
        .find_by(RecordKind::WeavyContact, "email", "shared@example.fr")
        .await
        .unwrap();
    let ids: Vec<&str> = found.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "P00000", "P00006", "P00012", "P00018", "P00024", "P00030", "P00036"
        ]
    );
    assert_eq!(
        requests(&client, CallKind::Find),
        5,
        "7 rows, 3 a page: page 0, offset 1 (rows, not pages), 2 new rows a request with one of overlap, the end"
    );
    assert!(
        client
            .find_by(RecordKind::WeavyContact, "email", "nobody@example.fr")
            .await
            .unwrap()
            .is_empty()
    );

    let r = client
        .get(RecordKind::WeavyContact, "P00007")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.get("lastName"), &Value::text("Nom7"));
    assert_eq!(
        client
            .get(RecordKind::WeavyContact, "P12345")
            .await
            .unwrap(),
        None
    );
    // Caller-chosen ids can hold anything: they travel percent-encoded.
    let odd = "wm-a/b c?d";
    assert_done(
        &client
            .insert(
                RecordKind::WeavyEntrant,
                vec![write(odd, &[("email", Value::text("o@d.fr"))])],
            )
            .await
            .unwrap(),
    );
    assert_eq!(
        client
            .get(RecordKind::WeavyEntrant, odd)
            .await
            .unwrap()
            .unwrap()
            .id,
        odd
    );
    assert_done(
        &client
            .update(
                RecordKind::WeavyEntrant,
                vec![write(odd, &[("city", Value::text("Lyon"))])],
            )
            .await
            .unwrap(),
    );
    assert_eq!(sim.record(ENTRANT, odd).unwrap()["city"], json!("Lyon"));
}

#[tokio::test]
async fn mautic_kinds_are_refused_as_invalid() {
    let sim = sim(500).await;
    let client = client(&sim);
    let e = client
        .changed_since(RecordKind::MauticContact, None)
        .next_page()
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Invalid(_)), "{e:?}");
    let e = client
        .insert(RecordKind::MauticCompany, vec![])
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Invalid(_)), "{e:?}");
    let e = client.fields(RecordKind::MauticContact).await.unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Invalid(_)), "{e:?}");
    assert_eq!(client.counter().total(Side::Weavy), 0);
}

// ---------------------------------------------------------------- rights

fn assert_missing_right(e: &ConnectorError, table: &str, column: &str) {
    assert_eq!(
        e.kind,
        ErrorKind::MissingRight {
            table: leak(table),
            column: leak(column)
        },
        "{e:?}"
    );
    let shown = e.to_string();
    let fix = format!("in weavy Studio, data dictionary, tick '{column}' for '{table}'");
    assert!(shown.contains(&fix), "{shown}");
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

#[tokio::test]
async fn a_missing_read_right_names_the_table_and_column() {
    let sim = sim(500).await;
    sim.insert(CUSTOMER, "C1", &[("name", json!("Acme"))]);
    let client = client(&sim);
    client
        .check_right(RecordKind::WeavyCustomer, WeavyRight::Read)
        .await
        .unwrap();
    sim.set_right(CUSTOMER, WeavyRight::Read, false);
    let e = client
        .changed_since(RecordKind::WeavyCustomer, None)
        .next_page()
        .await
        .unwrap_err();
    assert_missing_right(&e, "Client", "API lecture");
    let e = client
        .find_by(RecordKind::WeavyCustomer, "name", "Acme")
        .await
        .unwrap_err();
    assert_missing_right(&e, "Client", "API lecture");
    let e = client
        .get(RecordKind::WeavyCustomer, "C1")
        .await
        .unwrap_err();
    assert_missing_right(&e, "Client", "API lecture");
    let e = client
        .check_right(RecordKind::WeavyCustomer, WeavyRight::Read)
        .await
        .unwrap_err();
    assert_missing_right(&e, "Client", "API lecture");
    // The other tables are not concerned.
    client
        .check_right(RecordKind::WeavyContact, WeavyRight::Read)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_missing_insert_right_names_the_table_and_column() {
    let sim = sim(500).await;
    let client = client(&sim);
    client
        .check_right(RecordKind::WeavyEntrant, WeavyRight::Insert)
        .await
        .unwrap();
    assert!(sim.records(ENTRANT).is_empty(), "the probe created nothing");
    sim.set_right(ENTRANT, WeavyRight::Insert, false);
    let e = client
        .check_right(RecordKind::WeavyEntrant, WeavyRight::Insert)
        .await
        .unwrap_err();
    assert_missing_right(&e, "Marketing / Entrant", "API ajout");
    let out = client
        .insert(
            RecordKind::WeavyEntrant,
            vec![write("wm-1", &[("email", Value::text("a@b.fr"))])],
        )
        .await
        .unwrap();
    let e = rejected(&out[0]);
    assert_missing_right(e, "Marketing / Entrant", "API ajout");
    assert_eq!(e.record.as_deref(), Some("wm-1"));
    assert!(sim.records(ENTRANT).is_empty());
    assert_eq!(sim.api_inserts(ENTRANT), 0);
}

#[tokio::test]
async fn a_missing_update_right_names_the_table_and_column() {
    let sim = sim(500).await;
    seed_contacts(&sim, 1);
    let before = sim.record(CONTACT, "P00000").unwrap();
    let client = client(&sim);
    client
        .check_right(RecordKind::WeavyContact, WeavyRight::Update)
        .await
        .unwrap();
    sim.set_right(CONTACT, WeavyRight::Update, false);
    let e = client
        .check_right(RecordKind::WeavyContact, WeavyRight::Update)
        .await
        .unwrap_err();
    assert_missing_right(&e, "Client / Contact", "API MAJ");
    let out = client
        .update(
            RecordKind::WeavyContact,
            vec![write("P00000", &[("lastName", Value::text("Autre"))])],
        )
        .await
        .unwrap();
    assert_missing_right(rejected(&out[0]), "Client / Contact", "API MAJ");
    assert_eq!(sim.record(CONTACT, "P00000").unwrap(), before);
    assert_eq!(sim.api_updates(CONTACT), 0);
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn ten_percent_faults_still_read_and_write_everything() {
    let sim = sim(100).await;
    seed_contacts(&sim, 1_000);
    sim.control().update_knobs(|k| {
        k.fault_rate = 0.1;
        k.fault_mix = vec![Fault::ServerError, Fault::RateLimited, Fault::CutOff];
        k.retry_after_secs = 0;
    });
    let client = client(&sim);
    let read = read_all(&client, RecordKind::WeavyContact, None).await;
    let ids: HashSet<&str> = read.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 1_000);

    let updates: Vec<RecordWrite> = (0..300)
        .map(|i| {
            write(
                &format!("P{i:05}"),
                &[("jobTitle", Value::text(format!("Poste {i}")))],
            )
        })
        .collect();
    assert_done(
        &client
            .update(RecordKind::WeavyContact, updates)
            .await
            .unwrap(),
    );
    let inserts: Vec<RecordWrite> = (0..100)
        .map(|i| {
            write(
                &format!("wm-{i}"),
                &[("email", Value::text(format!("lead{i}@example.fr")))],
            )
        })
        .collect();
    assert_done(
        &client
            .insert(RecordKind::WeavyEntrant, inserts)
            .await
            .unwrap(),
    );

    sim.control().update_knobs(|k| k.fault_rate = 0.0);
    for i in 0..300 {
        assert_eq!(
            sim.record(CONTACT, &format!("P{i:05}")).unwrap()["jobTitle"],
            json!(format!("Poste {i}"))
        );
    }
    let per_email = sim.inserted_per_email(ENTRANT);
    assert_eq!(per_email.len(), 100);
    assert!(per_email.values().all(|n| *n == 1), "{per_email:?}");
    let faults = sim.control().counters();
    assert!(faults.total_faults() > 20, "{faults:?}");
    // An insert whose answer is lost is not sent again blind: it is looked up (a failure
    // of the POST, counted), every other fault is retried.
    let lost_inserts: u64 = client
        .counter()
        .snapshot()
        .iter()
        .filter(|(k, _)| format!("{k:?}").contains("Insert"))
        .map(|(_, s)| s.failures)
        .sum();
    assert_eq!(
        total_retries(&client) + lost_inserts,
        faults.total_faults(),
        "every fault retried once or looked up, and counted"
    );
    let rate_limited: u64 = client
        .counter()
        .snapshot()
        .values()
        .map(|s| s.rate_limited)
        .sum();
    assert_eq!(
        rate_limited,
        faults.faults.get("RateLimited").copied().unwrap_or(0)
    );
    assert!(rate_limited > 0);
    assert_eq!(
        client
            .counter()
            .snapshot()
            .values()
            .map(|s| s.failures)
            .sum::<u64>(),
        lost_inserts,
        "no call failed but the inserts whose answer was lost (and that were looked up)"
    );
}

#[tokio::test]
async fn a_rate_limit_is_honoured() {
    let sim = sim(5).await;
    seed_contacts(&sim, 40);
    sim.control().update_knobs(|k| {
        k.rate_limit = Some(RateLimit {
            requests: 4,
            window: Duration::from_secs(1),
        });
    });
    let client = client(&sim);
    assert_eq!(
        read_all(&client, RecordKind::WeavyContact, None)
            .await
            .len(),
        40
    );
    let counters = sim.control().counters();
    let rate_limited: u64 = client
        .counter()
        .snapshot()
        .values()
        .map(|s| s.rate_limited)
        .sum();
    assert!(counters.rate_limited > 0, "the limit was reached");
    assert_eq!(rate_limited, counters.rate_limited);
    assert_eq!(
        client
            .counter()
            .snapshot()
            .values()
            .map(|s| s.failures)
            .sum::<u64>(),
        0
    );
}

#[tokio::test]
async fn timeouts_are_retried() {
    let sim = WeavySim::start(WeavySimOptions {
        page_cap: 10,
        seed: 11,
        ..WeavySimOptions::default()
    })
    .await
    .unwrap();
    seed_contacts(&sim, 60);
    sim.control().update_knobs(|k| {
        k.fault_rate = 0.3;
        k.fault_mix = vec![Fault::Timeout];
        k.stall = Duration::from_secs(3);
        k.faults_on_auth = false;
    });
    let mut http = HttpSettings::fast();
    http.timeout = Duration::from_millis(300);
    let client = client_with(&sim, http);
    assert_eq!(
        read_all(&client, RecordKind::WeavyContact, None)
            .await
            .len(),
        60
    );
    let timeouts = sim
        .control()
        .counters()
        .faults
        .get("Timeout")
        .copied()
        .unwrap_or(0);
    assert!(timeouts > 0, "the seed draws at least one timeout");
    assert!(total_retries(&client) >= timeouts);
}

// ---------------------------------------------------------------- traffic

#[tokio::test]
async fn reading_n_records_takes_one_select_per_page_plus_the_empty_one() {
    let sim = sim(100).await;
    seed_contacts(&sim, 1_234);
    for i in 0..1_200 {
        sim.insert(
            CUSTOMER,
            &format!("C{i:05}"),
            &[("name", json!(format!("Société {i}")))],
        );
    }
    let client = client(&sim);
    assert_eq!(
        read_all(&client, RecordKind::WeavyContact, None)
            .await
            .len(),
        1_234
    );
    // Two to learn the zone (the stamps, the filter probe), page 0, offset 1 (which tells
    // rows from pages), 13 more of 90 new rows each (10 rows of overlap), and the last one
    // that holds only the overlap.
    assert_eq!(requests(&client, CallKind::List), 2 + 1 + 1 + 13 + 1);
    assert_eq!(
        read_all(&client, RecordKind::WeavyCustomer, None)
            .await
            .len(),
        1_200
    );
    // What offset counts and the zone are known now: page 0, 13 more, the end.
    assert_eq!(requests(&client, CallKind::List), 18 + 1 + 13 + 1);
    assert_eq!(
        requests(&client, CallKind::Fields),
        2,
        "one dictionary per table"
    );
    assert_eq!(requests(&client, CallKind::Auth), 1);
    assert_eq!(sim.control().counters().requests_matching("Select"), 33);
}

#[tokio::test]
async fn writing_n_records_takes_n_calls() {
    let sim = sim(500).await;
    seed_contacts(&sim, 50);
    let client = client(&sim);
    let updates: Vec<RecordWrite> = (0..50)
        .map(|i| {
            write(
                &format!("P{i:05}"),
                &[("jobTitle", Value::text("Comptable"))],
            )
        })
        .collect();
    assert_done(
        &client
            .update(RecordKind::WeavyContact, updates)
            .await
            .unwrap(),
    );
    assert_eq!(requests(&client, CallKind::Update), 50);
    let inserts: Vec<RecordWrite> = (0..30)
        .map(|i| {
            write(
                &format!("wm-{i}"),
                &[("email", Value::text(format!("l{i}@example.fr")))],
            )
        })
        .collect();
    assert_done(
        &client
            .insert(RecordKind::WeavyEntrant, inserts)
            .await
            .unwrap(),
    );
    assert_eq!(requests(&client, CallKind::Insert), 30);
    assert_eq!(requests(&client, CallKind::Get), 0);
    assert_eq!(requests(&client, CallKind::Update), 50);
    assert_eq!(client.counter().writes(Side::Weavy), 80);
    assert_eq!(
        (sim.api_updates(CONTACT), sim.api_inserts(ENTRANT)),
        (50, 30)
    );
}
