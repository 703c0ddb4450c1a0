//! The Mautic connector against the Mautic simulator over loopback HTTP: paging while users
//! edit, authentication, every quirk of `API-NOTES.md`, faults and rate limits, and the
//! number of calls each job takes.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use fieldsync::connector::mautic::{MauticAuth, MauticClient, MauticSettings};
use fieldsync::connector::{
    CallKind, Connector, DNC_BOUNCED, DNC_UNSUBSCRIBED, DncReason, ErrorKind, HttpSettings, Pager,
    RecordWrite, RemoteRecord, RequestCounter, RequestStats, Secret, WriteOutcome,
};
use fieldsync::model::{RecordKind, Side, Value};
use fieldsync::sim::mautic::{MauticSim, MauticSimOptions};
use fieldsync::sim::{Fault, RateLimit};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

const CONTACT: RecordKind = RecordKind::MauticContact;
const COMPANY: RecordKind = RecordKind::MauticCompany;

async fn start(opts: MauticSimOptions) -> MauticSim {
    MauticSim::start(opts).await.expect("the simulator starts")
}

async fn sim() -> MauticSim {
    start(MauticSimOptions::default()).await
}

fn settings(sim: &MauticSim) -> MauticSettings {
    let mut s = MauticSettings::new(
        sim.url(),
        MauticAuth::OAuth2 {
            client_id: "fieldsync-sim".into(),
            client_secret: Secret::new("sim-secret"),
        },
    );
    s.http = HttpSettings::fast();
    s
}

fn client_with(sim: &MauticSim, f: impl FnOnce(&mut MauticSettings)) -> MauticClient {
    let mut s = settings(sim);
    f(&mut s);
    MauticClient::new(s, RequestCounter::new()).expect("valid settings")
}

fn client(sim: &MauticSim) -> MauticClient {
    client_with(sim, |_| {})
}

fn calls(c: &MauticClient, kind: CallKind) -> RequestStats {
    c.counter().get(Side::Mautic, kind)
}

fn all_retries(c: &MauticClient) -> u64 {
    c.counter().snapshot().values().map(|s| s.retries).sum()
}

async fn read_all(pager: &mut impl Pager) -> Vec<RemoteRecord> {
    let mut out = Vec::new();
    while let Some(page) = pager.next_page().await.expect("a page") {
        out.extend(page);
    }
    out
}

fn fields(fields: &[(&str, Value)]) -> Vec<(String, Value)> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn edit(id: impl ToString, f: &[(&str, Value)]) -> RecordWrite {
    RecordWrite {
        id: Some(id.to_string()),
        fields: fields(f),
    }
}

fn new(f: &[(&str, Value)]) -> RecordWrite {
    RecordWrite {
        id: None,
        fields: fields(f),
    }
}

fn done_id(o: &WriteOutcome) -> String {
    match o {
        WriteOutcome::Done { id, .. } => id.clone(),
        other => panic!("expected Done, got {other:?}"),
    }
}

fn done_record(o: &WriteOutcome) -> RemoteRecord {
    match o {
        WriteOutcome::Done {
            record: Some(r), ..
        } => r.clone(),
        other => panic!("expected Done with a record, got {other:?}"),
    }
}

fn set_clock(sim: &MauticSim, offset: ChronoDuration) {
    sim.control().update_knobs(|k| k.clock_offset = offset);
}

fn email(i: usize) -> Json {
    json!(format!("contact{i}@example.fr"))
}

/// Requests straight to the simulator, for what the connector never sends.
struct Raw {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Raw {
    async fn new(sim: &MauticSim) -> Raw {
        let http = reqwest::Client::new();
        let v: Json = http
            .post(format!("{}/oauth/v2/token", sim.url()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "fieldsync-sim"),
                ("client_secret", "sim-secret"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Raw {
            http,
            base: sim.url(),
            token: v["access_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Json>,
    ) -> (u16, reqwest::header::HeaderMap, Json) {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.json().await.unwrap_or(Json::Null);
        (status, headers, body)
    }
}

#[tokio::test]
async fn paging_5100_contacts_misses_none_while_users_edit() {
    let sim = sim().await;
    let t0 = sim.control().now();
    let n = 5_100;
    let ids: Vec<u64> = (0..n)
        .map(|i| sim.add_contact(&[("email", email(i)), ("city", json!("start"))]))
        .collect();
    for _ in 0..40 {
        sim.add_anonymous_visitor();
    }
    let c = client(&sim);
    let mut pager = c.changed_since(CONTACT, Some(t0 - ChronoDuration::hours(1)));
    let mut seen: HashMap<u64, Vec<Value>> = HashMap::new();
    let mut edited: HashSet<u64> = HashSet::new();
    let mut pages = 0usize;
    while let Some(page) = pager.next_page().await.unwrap() {
        pages += 1;
        for r in &page {
            seen.entry(r.id.parse().unwrap())
                .or_default()
                .push(r.get("city").clone());
        }
        // Users edit records behind and ahead of the pager between two pages.
        for j in 0..25 {
            let id = ids[(pages * 37 + j * 211) % n];
            assert!(sim.edit_contact(id, &[("city", json!(format!("edit-{pages}-{j}")))]));
            edited.insert(id);
        }
    }
    assert_eq!(
        calls(&c, CallKind::List).requests,
        26,
        "5100 records are 26 pages of 200"
    );
    for id in &ids {
        assert!(seen.contains_key(id), "contact {id} was skipped");
    }
    assert_eq!(seen.len(), n, "anonymous visitors are not listed");
    for (id, values) in &seen {
        assert!(
            values.len() == 1 || edited.contains(id),
            "contact {id} came {} times without being edited",
            values.len()
        );
    }
    assert!(
        seen.values()
            .any(|v| v.last().unwrap().as_text().unwrap().starts_with("edit-")),
        "edits made ahead of the pager are seen in this pull"
    );
    // Edits made behind the pager are after its server time: the next pull gets them.
    let server_time = pager.server_time().expect("the Date header was read");
    let stale: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| {
            let now = sim.contact(*id).unwrap();
            Some(now.text("city").unwrap()) != seen[id].last().unwrap().as_text()
        })
        .collect();
    assert!(
        !stale.is_empty(),
        "the test edited records behind the pager"
    );
    for id in &stale {
        assert!(sim.contact(*id).unwrap().date_modified.unwrap() >= server_time);
    }
    let again = read_all(&mut c.changed_since(CONTACT, Some(server_time))).await;
    let again: HashMap<u64, &RemoteRecord> =
        again.iter().map(|r| (r.id.parse().unwrap(), r)).collect();
    for id in &stale {
        let current = sim.contact(*id).unwrap();
        assert_eq!(
            again[id].get("city").as_text(),
            current.text("city"),
            "contact {id}"
        );
    }
}

#[tokio::test]
async fn offset_paging_by_date_modified_skips_a_record_in_the_simulator_too() {
    // Why the connector pages by id: Mautic (and its simulator) moves an edited record to
    // the end of a date_modified order, and every record after it one place left.
    let sim = sim().await;
    set_clock(&sim, ChronoDuration::hours(-1));
    let ids: Vec<u64> = (0..10)
        .map(|i| sim.add_contact(&[("email", email(i))]))
        .collect();
    set_clock(&sim, ChronoDuration::zero());
    let raw = Raw::new(&sim).await;
    let page = |start: usize| {
        format!("/api/contacts?orderBy=date_modified,id&orderByDir=asc&limit=5&start={start}")
    };
    let ids_of = |body: &Json| -> Vec<u64> {
        body["contacts"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.parse().unwrap())
            .collect()
    };
    let (_, _, first) = raw.send(reqwest::Method::GET, &page(0), None).await;
    assert_eq!(ids_of(&first), ids[..5]);
    sim.edit_contact(ids[0], &[("city", json!("Lyon"))]);
    let (_, _, second) = raw.send(reqwest::Method::GET, &page(5), None).await;
    let seen: HashSet<u64> = ids_of(&first).into_iter().chain(ids_of(&second)).collect();
    assert!(
        !seen.contains(&ids[5]),
        "offset paging skipped contact {}",
        ids[5]
    );
}

#[tokio::test]
async fn server_time_is_the_simulators_clock_not_ours() {
    let sim = sim().await;
    sim.add_contact(&[("email", email(1))]);
    set_clock(&sim, ChronoDuration::hours(3));
    let c = client(&sim);
    let before = sim.control().now() - ChronoDuration::seconds(1);
    let mut pager = c.changed_since(CONTACT, None);
    read_all(&mut pager).await;
    let after = sim.control().now();
    let t = pager.server_time().unwrap();
    assert!(before <= t && t <= after, "{before} <= {t} <= {after}");
}

#[tokio::test]
async fn a_listing_says_how_many_records_it_holds_for_the_progress_bar() {
    let sim = sim().await;
    for i in 0..7 {
        sim.add_contact(&[("email", email(i))]);
    }
    let c = client(&sim);
    let mut pager = c.changed_since(CONTACT, None);
    assert_eq!(pager.total(), None, "not before a page said it");
    let first = pager.next_page().await.unwrap().unwrap();
    assert!(!first.is_empty());
    assert_eq!(pager.total(), Some(7));
}

#[tokio::test]
async fn an_expired_token_costs_one_more_auth_call() {
    let sim = sim().await;
    let id = sim.add_contact(&[("email", email(1))]).to_string();
    let c = client(&sim);
    assert!(c.get(CONTACT, &id).await.unwrap().is_some());
    assert!(c.get(CONTACT, &id).await.unwrap().is_some());
    assert_eq!(calls(&c, CallKind::Auth).requests, 1, "the token is reused");
    let gets = calls(&c, CallKind::Get).requests;
    sim.expire_tokens();
    assert!(c.get(CONTACT, &id).await.unwrap().is_some());
    assert_eq!(calls(&c, CallKind::Auth).requests, 2);
    assert_eq!(
        calls(&c, CallKind::Get).requests,
        gets + 2,
        "the refused request and its retry"
    );
    assert!(c.get(CONTACT, &id).await.unwrap().is_some());
    assert_eq!(
        calls(&c, CallKind::Auth).requests,
        2,
        "the new token is reused"
    );
}

#[tokio::test]
async fn basic_auth_works_and_a_wrong_password_is_refused() {
    let sim = start(MauticSimOptions {
        basic_auth: Some(("api".into(), "pa55word".into())),
        ..MauticSimOptions::default()
    })
    .await;
    let id = sim.add_contact(&[("email", email(1))]).to_string();
    let basic = |password: &str| {
        let password = password.to_owned();
        client_with(&sim, move |s| {
            s.auth = MauticAuth::Basic {
                user: "api".into(),
                password: Secret::new(password),
            }
        })
    };
    let good = basic("pa55word");
    assert!(good.get(CONTACT, &id).await.unwrap().is_some());
    assert_eq!(calls(&good, CallKind::Auth).requests, 0);
    let bad = basic("wrong-pa55");
    let e = bad.get(CONTACT, &id).await.unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::Auth { status: 401, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("Mautic") && !text.contains("wrong-pa55"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_client_credentials_are_an_auth_error_without_the_secret() {
    let sim = sim().await;
    let c = client_with(&sim, |s| {
        s.auth = MauticAuth::OAuth2 {
            client_id: "fieldsync-sim".into(),
            client_secret: Secret::new("not-the-s3cret"),
        }
    });
    let e = c.get(CONTACT, "1").await.unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Auth { .. }), "{e:?}");
    assert_eq!(e.side, Side::Mautic);
    let text = e.to_string();
    assert!(
        text.contains("Mautic") && text.contains("invalid_client"),
        "{text}"
    );
    assert!(!text.contains("not-the-s3cret"), "{text}");
    assert!(!format!("{e:?}").contains("not-the-s3cret"));
    assert_eq!(
        calls(&c, CallKind::Get).requests,
        0,
        "nothing is sent without a token"
    );
    let inserted = c
        .insert(CONTACT, vec![new(&[("email", Value::text("a@b.fr"))])])
        .await;
    assert!(
        matches!(inserted, Err(ref e) if matches!(e.kind, ErrorKind::Auth { .. })),
        "{inserted:?}"
    );
}

#[tokio::test]
async fn a_disabled_api_says_to_enable_it() {
    let sim = sim().await;
    sim.update_quirks(|q| q.api_enabled = false);
    let e = client(&sim).check_auth().await.unwrap_err();
    match e.kind {
        ErrorKind::Auth {
            status: 403,
            message,
        } => {
            assert!(message.contains("enable the API"), "{message}")
        }
        other => panic!("expected a 403 Auth error, got {other:?}"),
    }
    sim.update_quirks(|q| q.api_enabled = true);
    client(&sim).check_auth().await.unwrap();
}

#[tokio::test]
async fn empty_lists_string_totals_and_stale_totals_are_read() {
    let sim = sim().await;
    for i in 0..30 {
        sim.add_contact(&[("email", email(i))]);
    }
    let future = sim.control().now() + ChronoDuration::hours(1);
    for (total_as_string, empty_as_array) in [(true, false), (false, true)] {
        sim.update_quirks(|q| {
            q.total_as_string = total_as_string;
            q.empty_list_as_array = empty_as_array;
        });
        let c = client(&sim);
        assert!(
            read_all(&mut c.changed_since(CONTACT, Some(future)))
                .await
                .is_empty()
        );
        assert_eq!(
            read_all(&mut c.changed_since(CONTACT, None)).await.len(),
            30
        );
    }
    // A stale, too large total costs at most one empty call, never a wrong result.
    sim.update_quirks(|q| q.inflate_total = 1000);
    let c = client(&sim);
    assert_eq!(
        read_all(&mut c.changed_since(CONTACT, None)).await.len(),
        30
    );
    assert_eq!(calls(&c, CallKind::List).requests, 2);
}

#[tokio::test]
async fn anonymous_visitors_are_not_listed() {
    let sim = sim().await;
    let known: Vec<u64> = (0..3)
        .map(|i| sim.add_contact(&[("email", email(i))]))
        .collect();
    let named = sim.add_contact(&[("firstname", json!("Sans Mail"))]);
    let visitors: Vec<u64> = (0..5).map(|_| sim.add_anonymous_visitor()).collect();
    let c = client(&sim);
    let listed: HashSet<u64> = read_all(&mut c.changed_since(CONTACT, None))
        .await
        .iter()
        .map(|r| r.id.parse().unwrap())
        .collect();
    let expected: HashSet<u64> = known.iter().copied().chain([named]).collect();
    assert_eq!(listed, expected);
    let visitor = c
        .get(CONTACT, &visitors[0].to_string())
        .await
        .unwrap()
        .unwrap();
    assert!(visitor.anonymous);
    let named = c.get(CONTACT, &named.to_string()).await.unwrap().unwrap();
    assert!(
        !named.anonymous,
        "identified by name, even without an e-mail"
    );
}

#[tokio::test]
async fn null_date_modified_records_are_found_by_date_added() {
    let sim = start(MauticSimOptions {
        null_date_modified_on_create: true,
        ..MauticSimOptions::default()
    })
    .await;
    set_clock(&sim, ChronoDuration::hours(-2));
    let old = sim.add_contact(&[("email", email(1))]);
    let old_edited = sim.add_contact(&[("email", email(2))]);
    set_clock(&sim, ChronoDuration::zero());
    let fresh = sim.add_contact(&[("email", email(3))]);
    sim.edit_contact(old_edited, &[("city", json!("Nantes"))]);
    assert_eq!(sim.contact(fresh).unwrap().date_modified, None);
    let since = sim.control().now() - ChronoDuration::hours(1);

    let ids = |records: Vec<RemoteRecord>| -> BTreeMap<u64, DateTime<Utc>> {
        records
            .into_iter()
            .map(|r| (r.id.parse().unwrap(), r.modified_at))
            .collect()
    };
    let found = ids(read_all(&mut client(&sim).changed_since(CONTACT, Some(since))).await);
    assert_eq!(
        found.keys().copied().collect::<Vec<_>>(),
        vec![old_edited, fresh]
    );
    assert!(!found.contains_key(&old));
    assert_eq!(
        found[&fresh],
        sim.contact(fresh).unwrap().date_added,
        "modified_at falls back to dateAdded"
    );
    let without_fallback = client_with(&sim, |s| s.null_date_modified_fallback = false);
    let found = ids(read_all(&mut without_fallback.changed_since(CONTACT, Some(since))).await);
    assert_eq!(
        found.keys().copied().collect::<Vec<_>>(),
        vec![old_edited],
        "without the fallback a never-edited contact is missed"
    );
}

#[tokio::test]
async fn dnc_changes_move_date_modified_and_read_as_pseudo_fields() {
    let sim = sim().await;
    set_clock(&sim, ChronoDuration::hours(-2));
    let bounced = sim.add_contact(&[("email", email(1))]);
    let unsubscribed = sim.add_contact(&[("email", email(2))]);
    let untouched = sim.add_contact(&[("email", email(3))]);
    set_clock(&sim, ChronoDuration::zero());
    let since = sim.control().now() - ChronoDuration::hours(1);
    let c = client(&sim);
    assert!(
        read_all(&mut c.changed_since(CONTACT, Some(since)))
            .await
            .is_empty()
    );

    sim.add_dnc(bounced, 2);
    c.add_dnc(&unsubscribed.to_string(), DncReason::Unsubscribed)
        .await
        .unwrap();
    let changed: BTreeMap<u64, RemoteRecord> = read_all(&mut c.changed_since(CONTACT, Some(since)))
        .await
        .into_iter()
        .map(|r| (r.id.parse().unwrap(), r))
        .collect();
    assert_eq!(
        changed.keys().copied().collect::<Vec<_>>(),
        vec![bounced, unsubscribed]
    );
    assert!(!changed.contains_key(&untouched));
    let bounce_date = sim.contact(bounced).unwrap().dnc[0].1;
    assert_eq!(
        changed[&bounced].get(DNC_BOUNCED),
        &Value::DateTime(bounce_date)
    );
    assert_eq!(changed[&bounced].get(DNC_UNSUBSCRIBED), &Value::Blank);
    assert!(matches!(
        changed[&unsubscribed].get(DNC_UNSUBSCRIBED),
        Value::DateTime(_)
    ));
    assert_eq!(changed[&unsubscribed].get(DNC_BOUNCED), &Value::Blank);

    // An unsubscribe is never replaced by another reason.
    c.add_dnc(&unsubscribed.to_string(), DncReason::Bounced)
        .await
        .unwrap();
    assert_eq!(sim.contact(unsubscribed).unwrap().dnc[0].0, 1);
    c.remove_dnc(&bounced.to_string()).await.unwrap();
    let r = c.get(CONTACT, &bounced.to_string()).await.unwrap().unwrap();
    assert_eq!(r.get(DNC_BOUNCED), &Value::Blank);
    assert_eq!(calls(&c, CallKind::Dnc).requests, 3);
    let e = c.add_dnc("999999", DncReason::Bounced).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.record.as_deref(), Some("999999"));
}

#[tokio::test]
async fn blanks_are_ignored_without_overwrite_with_blank_and_applied_with_it() {
    let sim = sim().await;
    let id = sim.add_contact(&[
        ("email", email(1)),
        ("city", json!("Lyon")),
        ("phone", json!("0102")),
    ]);
    let raw = Raw::new(&sim).await;
    let path = format!("/api/contacts/{id}/edit");
    let (status, headers, _) = raw
        .send(reqwest::Method::PATCH, &path, Some(json!({"city": ""})))
        .await;
    assert_eq!(status, 200);
    assert!(headers.contains_key("mautic-version"));
    assert_eq!(sim.contact(id).unwrap().text("city"), Some("Lyon"));
    raw.send(
        reqwest::Method::PATCH,
        &path,
        Some(json!({"city": null, "overwriteWithBlank": true})),
    )
    .await;
    assert_eq!(sim.contact(id).unwrap().text("city"), None);
    // PUT clears every field it does not send: the connector never uses it.
    raw.send(
        reqwest::Method::PUT,
        &path,
        Some(json!({"firstname": "Jo"})),
    )
    .await;
    assert_eq!(sim.contact(id).unwrap().text("email"), None);

    // The connector sends overwriteWithBlank exactly when an item holds a blank.
    let id = sim.add_contact(&[
        ("email", email(2)),
        ("city", json!("Lyon")),
        ("phone", json!("0102")),
    ]);
    let c = client(&sim);
    let out = c
        .update(CONTACT, vec![edit(id, &[("phone", Value::text("0304"))])])
        .await
        .unwrap();
    assert_eq!(done_record(&out[0]).get("city"), &Value::text("Lyon"));
    let out = c
        .update(CONTACT, vec![edit(id, &[("city", Value::Blank)])])
        .await
        .unwrap();
    assert_eq!(done_record(&out[0]).get("city"), &Value::Blank);
    let now = sim.contact(id).unwrap();
    assert_eq!((now.text("city"), now.text("phone")), (None, Some("0304")));
}

#[tokio::test]
async fn zero_is_dropped_from_number_fields_and_false_is_kept() {
    let sim = sim().await;
    sim.add_custom_field("contact", "score", "number");
    sim.add_custom_field("contact", "optin", "boolean");
    let id = sim.add_contact(&[
        ("email", email(1)),
        ("score", json!(5)),
        ("optin", json!(true)),
    ]);
    let c = client(&sim);
    let out = c
        .update(
            CONTACT,
            vec![edit(
                id,
                &[("score", Value::Number(0.0)), ("optin", Value::Bool(false))],
            )],
        )
        .await
        .unwrap();
    let r = done_record(&out[0]);
    assert_eq!(
        r.get("score"),
        &Value::Number(5.0),
        "Mautic kept 5: 0 is dropped"
    );
    assert_eq!(r.get("optin"), &Value::Bool(false), "false goes through");
    assert_eq!(sim.contact(id).unwrap().fields["score"], json!(5));
}

#[tokio::test]
async fn batches_over_200_are_refused_and_450_items_take_3_calls() {
    let sim = sim().await;
    let raw = Raw::new(&sim).await;
    let items: Vec<Json> = (0..201).map(|i| json!({"email": email(i)})).collect();
    let (status, _, body) = raw
        .send(
            reqwest::Method::POST,
            "/api/contacts/batch/new",
            Some(Json::Array(items)),
        )
        .await;
    assert_eq!(status, 500);
    assert_eq!(
        body["errors"][0]["message"],
        "A max of 200 entities are supported at a time."
    );
    assert!(sim.contacts().is_empty());

    let c = client(&sim);
    let items: Vec<RecordWrite> = (0..450)
        .map(|i| new(&[("email", Value::text(email(i).as_str().unwrap()))]))
        .collect();
    let out = c.insert(CONTACT, items).await.unwrap();
    assert_eq!(out.len(), 450);
    let ids: HashSet<String> = out.iter().map(done_id).collect();
    assert_eq!(ids.len(), 450);
    assert_eq!(calls(&c, CallKind::BatchInsert).requests, 3);
    assert_eq!(
        sim.control()
            .counters()
            .requests_matching("POST /api/contacts/batch/new"),
        4,
        "the refused 201 and the connector's 3"
    );
    assert!(sim.created_per_email().values().all(|n| *n == 1));
    // Outcomes are in input order.
    let first = sim.contacts_with_email(email(0).as_str().unwrap());
    assert_eq!(done_id(&out[0]), first[0].to_string());
}

/// Mautic 5.1 refuses an edit that gives a contact another contact's e-mail (`Lead`'s
/// `UniqueCustomField` constraint, 422); a contact merged away (by a user or the deduplicate
/// command) answers 404 in a batch edit and names the winner when read alone.
#[tokio::test]
async fn an_email_collision_is_refused_and_a_merged_contact_is_not_found_in_a_batch() {
    let sim = sim().await;
    let a = sim.add_contact(&[("email", json!("a@x.fr")), ("firstname", json!("Ann"))]);
    let b = sim.add_contact(&[("email", json!("b@x.fr")), ("city", json!("Lyon"))]);
    let c = client(&sim);
    let out = c
        .update(CONTACT, vec![edit(a, &[("email", Value::text("B@x.fr"))])])
        .await
        .unwrap();
    match &out[0] {
        WriteOutcome::Rejected(e) => assert_eq!(
            e.kind,
            ErrorKind::Rejected {
                status: 422,
                message: "email: This field must be unique.".into()
            }
        ),
        other => panic!("expected a 422, got {other:?}"),
    }
    assert!(sim.deleted_contacts().is_empty());
    assert!(sim.merge_contacts(a, b));
    let read = c.get(CONTACT, &b.to_string()).await.unwrap().unwrap();
    assert_eq!(read.id, a.to_string(), "a merged-away id names the winner");
    assert_eq!(read.get("city"), &Value::text("Lyon"));
    let out = c
        .update(CONTACT, vec![edit(b, &[("city", Value::text("Paris"))])])
        .await
        .unwrap();
    match &out[0] {
        WriteOutcome::Rejected(e) => {
            assert_eq!(e.kind, ErrorKind::NotFound);
            assert_eq!(e.record, Some(b.to_string()));
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn inserting_a_known_email_updates_that_contact() {
    let sim = sim().await;
    let c = client(&sim);
    let first = c
        .insert(
            CONTACT,
            vec![new(&[
                ("email", Value::text("jean@example.fr")),
                ("city", Value::text("Lyon")),
            ])],
        )
        .await
        .unwrap();
    let again = c
        .insert(
            CONTACT,
            vec![new(&[
                ("email", Value::text("Jean@Example.fr")),
                ("phone", Value::text("0102")),
            ])],
        )
        .await
        .unwrap();
    assert_eq!(done_id(&first[0]), done_id(&again[0]));
    assert_eq!(sim.created_per_email()["jean@example.fr"], 1);
    assert_eq!(sim.contacts_with_email("jean@example.fr").len(), 1);
    let r = done_record(&again[0]);
    assert_eq!(
        (r.get("city"), r.get("phone")),
        (&Value::text("Lyon"), &Value::text("0102"))
    );
}

#[tokio::test]
async fn both_error_shapes_are_parsed() {
    let sim = sim().await;
    let id = sim.add_contact(&[("email", email(1))]).to_string();
    let c = client(&sim);
    // Read the field list first, so the injected error hits the call under test.
    c.fields(CONTACT).await.unwrap();
    for legacy in [false, true] {
        sim.update_quirks(|q| q.legacy_errors = legacy);
        sim.inject_error(422, "The where clause is not valid");
        let e = c.get(CONTACT, &id).await.unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::Rejected {
                status: 422,
                message: "The where clause is not valid".into()
            },
            "legacy shape: {legacy}"
        );
        assert_eq!(e.record.as_deref(), Some(id.as_str()));
    }
}

#[tokio::test]
async fn item_failures_map_to_their_own_items() {
    let sim = sim().await;
    let a = sim.add_contact(&[("email", email(1))]);
    let b = sim.add_contact(&[("email", email(2))]);
    let c = client(&sim);
    let out = c
        .update(
            CONTACT,
            vec![
                edit(a, &[("city", Value::text("Lyon"))]),
                edit(999_999, &[("city", Value::text("Lyon"))]),
                edit(b, &[("email", Value::text("not-an-email"))]),
                edit(a, &[(DNC_BOUNCED, Value::Blank)]),
                edit(a, &[("no_such_field", Value::text("x"))]),
                RecordWrite {
                    id: None,
                    fields: fields(&[("city", Value::text("x"))]),
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(done_id(&out[0]), a.to_string());
    let rejected = |o: &WriteOutcome| match o {
        WriteOutcome::Rejected(e) => e.clone(),
        other => panic!("expected Rejected, got {other:?}"),
    };
    let e = rejected(&out[1]);
    assert_eq!(
        (e.kind, e.record),
        (ErrorKind::NotFound, Some("999999".into()))
    );
    let e = rejected(&out[2]);
    assert_eq!(
        e.kind,
        ErrorKind::Rejected {
            status: 400,
            message: "email: not-an-email is invalid.".into()
        }
    );
    assert_eq!(e.record, Some(b.to_string()));
    for o in &out[3..] {
        assert!(matches!(rejected(o).kind, ErrorKind::Invalid(_)), "{o:?}");
    }
    assert_eq!(calls(&c, CallKind::BatchUpdate).requests, 1);
    assert_eq!(
        sim.contact(b).unwrap().text("email"),
        Some("contact2@example.fr")
    );
}

#[tokio::test]
async fn fields_include_custom_ones_and_the_dnc_pseudo_fields() {
    let sim = sim().await;
    sim.add_custom_field("contact", "siret", "text");
    sim.add_custom_field("contact", "interests", "multiselect");
    sim.add_custom_field("company", "idcrm", "text");
    let c = client(&sim);
    let contact = c.fields(CONTACT).await.unwrap();
    let get = |code: &str| contact.iter().find(|f| f.code == code).unwrap();
    assert!(get("siret").custom && !get("email").custom);
    assert!(get("email").unique);
    assert_eq!(
        get("interests").field_type,
        fieldsync::model::FieldType::List
    );
    assert!(!get(DNC_BOUNCED).writable && !get(DNC_UNSUBSCRIBED).writable);
    assert_eq!(
        get(DNC_BOUNCED).field_type,
        fieldsync::model::FieldType::DateTime
    );
    let company = c.fields(COMPANY).await.unwrap();
    assert!(company.iter().any(|f| f.code == "idcrm" && f.custom));
    assert!(
        company
            .iter()
            .any(|f| f.code == "companyname" && f.required)
    );
    assert!(company.iter().all(|f| f.code != DNC_BOUNCED));
    assert_eq!(calls(&c, CallKind::Fields).requests, 2);

    // A multiselect is written as a list and read back as one.
    let id = sim.add_contact(&[("email", email(1))]);
    let out = c
        .update(
            CONTACT,
            vec![edit(
                id,
                &[("interests", Value::List(vec!["ski".into(), "jazz".into()]))],
            )],
        )
        .await
        .unwrap();
    assert_eq!(
        done_record(&out[0]).get("interests"),
        &Value::List(vec!["ski".into(), "jazz".into()])
    );
    assert_eq!(sim.contact(id).unwrap().text("interests"), Some("ski|jazz"));

    let e = c.fields(RecordKind::WeavyContact).await.unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Invalid(_)));
    let e = c
        .changed_since(RecordKind::WeavyCustomer, None)
        .next_page()
        .await
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Invalid(_)));
    assert!(c.get(RecordKind::WeavyEntrant, "1").await.is_err());
}

#[tokio::test]
async fn find_by_compares_emails_as_mautic_does() {
    let sim = sim().await;
    let id = sim.add_contact(&[("email", json!("Jean.Dupont@Example.fr"))]);
    sim.add_contact(&[("email", json!("jean@example.fr"))]);
    let c = client(&sim);
    let found = c
        .find_by(CONTACT, "email", " jean.dupont@EXAMPLE.fr ")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, id.to_string());
    assert!(
        c.find_by(CONTACT, "email", "nobody@example.fr")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(calls(&c, CallKind::Find).requests, 2);
    for field in ["nope", DNC_BOUNCED] {
        let e = c.find_by(CONTACT, field, "x").await.unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Invalid(_)), "{field}");
    }
}

#[tokio::test]
async fn companies_are_read_written_and_linked() {
    let sim = sim().await;
    let contact = sim.add_contact(&[("email", email(1))]);
    let c = client(&sim);
    let out = c
        .insert(
            COMPANY,
            vec![
                new(&[
                    ("companyname", Value::text("Acme")),
                    ("companycity", Value::text("Lyon")),
                ]),
                new(&[("companyname", Value::text("Bolt"))]),
                new(&[("companycity", Value::text("Nowhere"))]),
            ],
        )
        .await
        .unwrap();
    let acme = done_id(&out[0]);
    let bolt = done_id(&out[1]);
    assert!(
        matches!(&out[2], WriteOutcome::Rejected(e) if matches!(e.kind, ErrorKind::Rejected { status: 400, .. }))
    );
    // Mautic 5 creates a company per batch item: a taken name is refused (422).
    let again = c
        .insert(
            COMPANY,
            vec![new(&[
                ("companyname", Value::text("ACME")),
                ("companyzipcode", Value::text("69001")),
            ])],
        )
        .await
        .unwrap();
    assert!(
        matches!(&again[0], WriteOutcome::Rejected(e) if matches!(e.kind, ErrorKind::Rejected { status: 422, .. })),
        "{again:?}"
    );
    assert_eq!(sim.companies().len(), 2);
    c.update(
        COMPANY,
        vec![edit(&acme, &[("companyzipcode", Value::text("69001"))])],
    )
    .await
    .unwrap();

    // `{"success": 1}`: each new link becomes the primary one.
    c.link_company(&acme, &contact.to_string()).await.unwrap();
    c.link_company(&bolt, &contact.to_string()).await.unwrap();
    let links = c.contact_companies(&contact.to_string()).await.unwrap();
    assert_eq!(links, vec![(acme.clone(), false), (bolt.clone(), true)]);
    let r = c.get(CONTACT, &contact.to_string()).await.unwrap().unwrap();
    assert_eq!(
        r.get("company"),
        &Value::text("Bolt"),
        "the primary company's name"
    );
    assert_eq!(calls(&c, CallKind::Link).requests, 2);
    let e = c
        .link_company("999", &contact.to_string())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);

    let out = c
        .update(
            COMPANY,
            vec![edit(
                &bolt,
                &[("companywebsite", Value::text("https://bolt.fr"))],
            )],
        )
        .await
        .unwrap();
    assert_eq!(
        done_record(&out[0]).get("companywebsite"),
        &Value::text("https://bolt.fr")
    );
    let listed = read_all(&mut c.changed_since(COMPANY, None)).await;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|r| !r.anonymous));
    let found = c.find_by(COMPANY, "companyname", "acme").await.unwrap();
    assert_eq!(found[0].get("companyzipcode"), &Value::text("69001"));
    assert!(c.get(COMPANY, "999").await.unwrap().is_none());
}

#[tokio::test]
async fn reading_and_updating_n_contacts_takes_ceil_n_over_200_calls() {
    let sim = sim().await;
    set_clock(&sim, ChronoDuration::hours(-2));
    for i in 0..30 {
        sim.add_contact(&[("email", json!(format!("old{i}@example.fr")))]);
    }
    set_clock(&sim, ChronoDuration::zero());
    let since = sim.control().now() - ChronoDuration::hours(1);
    let ids: Vec<u64> = (0..450)
        .map(|i| sim.add_contact(&[("email", email(i))]))
        .collect();
    let c = client(&sim);
    assert_eq!(
        read_all(&mut c.changed_since(CONTACT, Some(since)))
            .await
            .len(),
        450
    );
    assert_eq!(calls(&c, CallKind::List).requests, 3, "ceil(450 / 200)");

    let out = c
        .update(
            CONTACT,
            ids.iter()
                .map(|id| edit(id, &[("city", Value::text("Brest"))]))
                .collect(),
        )
        .await
        .unwrap();
    assert!(out.iter().all(|o| matches!(o, WriteOutcome::Done { .. })));
    assert_eq!(
        calls(&c, CallKind::BatchUpdate).requests,
        3,
        "ceil(450 / 200)"
    );
    assert!(
        ids.iter()
            .all(|id| sim.contact(*id).unwrap().text("city") == Some("Brest"))
    );

    // A multiple of 200 needs one more, empty, page: a full page cannot know it is the last.
    let sim = self::sim().await;
    for i in 0..400 {
        sim.add_contact(&[("email", email(i))]);
    }
    let c = client(&sim);
    assert_eq!(
        read_all(&mut c.changed_since(CONTACT, None)).await.len(),
        400
    );
    assert_eq!(
        calls(&c, CallKind::List).requests,
        3,
        "2 full pages and an empty one"
    );
}

#[tokio::test]
async fn ten_percent_faults_still_read_and_write_everything() {
    let sim = start(MauticSimOptions {
        seed: 42,
        ..MauticSimOptions::default()
    })
    .await;
    let ids: Vec<u64> = (0..1000)
        .map(|i| sim.add_contact(&[("email", email(i))]))
        .collect();
    sim.control().update_knobs(|k| {
        k.fault_rate = 0.1;
        k.fault_mix = vec![Fault::ServerError, Fault::RateLimited, Fault::CutOff];
        k.retry_after_secs = 0;
    });
    let c = client_with(&sim, |s| {
        s.page_size = 50;
        s.batch_size = 50;
    });
    let read = read_all(&mut c.changed_since(CONTACT, None)).await;
    assert_eq!(read.len(), 1000);
    let out = c
        .update(
            CONTACT,
            ids.iter()
                .map(|id| edit(id, &[("city", Value::text("Rennes"))]))
                .collect(),
        )
        .await
        .unwrap();
    assert!(out.iter().all(|o| matches!(o, WriteOutcome::Done { .. })));
    let out = c
        .insert(
            CONTACT,
            (1000..1300)
                .map(|i| new(&[("email", Value::text(email(i).as_str().unwrap()))]))
                .collect(),
        )
        .await
        .unwrap();
    assert!(out.iter().all(|o| matches!(o, WriteOutcome::Done { .. })));

    sim.control().update_knobs(|k| k.fault_rate = 0.0);
    assert_eq!(
        sim.contacts().len(),
        1300,
        "no duplicate from a retried insert"
    );
    assert!(sim.created_per_email().values().all(|n| *n == 1));
    assert!(
        ids.iter()
            .all(|id| sim.contact(*id).unwrap().text("city") == Some("Rennes"))
    );
    let faults = sim.control().counters().total_faults();
    assert!(faults > 0, "faults were injected");
    assert_eq!(
        all_retries(&c),
        faults,
        "every fault cost exactly one retry"
    );
    let rate_limited: u64 = c
        .counter()
        .snapshot()
        .values()
        .map(|s| s.rate_limited)
        .sum();
    assert_eq!(
        rate_limited,
        sim.control()
            .counters()
            .faults
            .get("RateLimited")
            .copied()
            .unwrap_or(0)
    );
    assert!(c.counter().snapshot().values().all(|s| s.failures == 0));
}

#[tokio::test]
async fn timeouts_are_retried() {
    let sim = start(MauticSimOptions {
        seed: 7,
        ..MauticSimOptions::default()
    })
    .await;
    let ids: Vec<u64> = (0..40)
        .map(|i| sim.add_contact(&[("email", email(i))]))
        .collect();
    sim.control().update_knobs(|k| {
        k.fault_rate = 0.3;
        k.fault_mix = vec![Fault::Timeout];
        k.stall = Duration::from_millis(1500);
    });
    let c = client_with(&sim, |s| {
        s.http.timeout = Duration::from_millis(500);
        s.page_size = 10;
        s.batch_size = 10;
    });
    assert_eq!(
        read_all(&mut c.changed_since(CONTACT, None)).await.len(),
        40
    );
    let out = c
        .update(
            CONTACT,
            ids.iter()
                .map(|id| edit(id, &[("city", Value::text("Vannes"))]))
                .collect(),
        )
        .await
        .unwrap();
    assert!(out.iter().all(|o| matches!(o, WriteOutcome::Done { .. })));
    let timeouts = sim
        .control()
        .counters()
        .faults
        .get("Timeout")
        .copied()
        .unwrap_or(0);
    assert!(timeouts > 0);
    assert!(all_retries(&c) >= timeouts);
    assert!(
        ids.iter()
            .all(|id| sim.contact(*id).unwrap().text("city") == Some("Vannes"))
    );
}

#[tokio::test]
async fn a_429_is_waited_out() {
    let sim = start(MauticSimOptions {
        basic_auth: Some(("api".into(), "pw".into())),
        ..MauticSimOptions::default()
    })
    .await;
    let id = sim.add_contact(&[("email", email(1))]).to_string();
    sim.control().update_knobs(|k| {
        k.rate_limit = Some(RateLimit {
            requests: 3,
            window: Duration::from_secs(1),
        })
    });
    let c = client_with(&sim, |s| {
        s.auth = MauticAuth::Basic {
            user: "api".into(),
            password: Secret::new("pw"),
        }
    });
    for _ in 0..7 {
        assert!(c.get(CONTACT, &id).await.unwrap().is_some());
    }
    let stats = calls(&c, CallKind::Get);
    assert!(stats.rate_limited >= 1, "{stats:?}");
    assert_eq!(stats.failures, 0);
    assert!(sim.control().counters().rate_limited >= 1);

    // The simulator's 429 carries the headers the HTTP layer reads.
    let http = reqwest::Client::new();
    let mut last = None;
    for _ in 0..5 {
        let r = http
            .get(format!("{}/api/contacts/{id}", sim.url()))
            .basic_auth("api", Some("pw"))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            last = Some(r.headers().clone());
            break;
        }
    }
    let h = last.expect("the limit was reached");
    assert_eq!(h["x-ratelimit-limit"], "3");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert!(h.contains_key("x-ratelimit-reset") && h.contains_key("retry-after"));
}

#[tokio::test]
async fn a_failed_batch_call_fails_only_its_own_items() {
    let sim = sim().await;
    let ids: Vec<u64> = (0..4)
        .map(|i| sim.add_contact(&[("email", email(i))]))
        .collect();
    let c = client_with(&sim, |s| {
        s.batch_size = 2;
        s.http.max_attempts = 1;
    });
    c.fields(CONTACT).await.unwrap();
    sim.inject_error(503, "Down for maintenance");
    let out = c
        .update(
            CONTACT,
            ids.iter()
                .map(|id| edit(id, &[("city", Value::text("Caen"))]))
                .collect(),
        )
        .await
        .unwrap();
    for (o, id) in out[..2].iter().zip(&ids) {
        match o {
            WriteOutcome::Failed(e) => {
                assert!(e.is_transient(), "{e:?}");
                assert_eq!(e.record, Some(id.to_string()));
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    }
    assert!(
        out[2..]
            .iter()
            .all(|o| matches!(o, WriteOutcome::Done { .. }))
    );
    assert_eq!(calls(&c, CallKind::BatchUpdate).requests, 2);
    assert_eq!(sim.contact(ids[0]).unwrap().text("city"), None);
    assert_eq!(sim.contact(ids[3]).unwrap().text("city"), Some("Caen"));
}
