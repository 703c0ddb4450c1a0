//! Input limits, end to end: records holding values fieldsync must not copy (a 1 MB text,
//! control characters, bytes that were not UTF-8, years 0 and 9999, an e-mail that is not
//! one, numbers out of range) on either side. The cycle completes, every other record syncs,
//! each bad value is reported on its record and never reaches the other side; once fixed at
//! its source it syncs. Then the HTTP layer against servers that answer forever: a stalled
//! answer times out, an endless body hits the size cap, a trickling body times out.

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::Harness;
use fieldsync::connector::http::{Call, CallKind, Http, HttpSettings};
use fieldsync::connector::weavy::{WeavyClient, WeavySettings};
use fieldsync::connector::{Connector, ErrorKind, RequestCounter, Secret};
use fieldsync::model::{RecordKind, Side};
use fieldsync::sim::dataset::DatasetSpec;
use fieldsync::sim::{Fault, SimServer};
use fieldsync::sync::CycleOptions;
use futures::StreamExt;
use serde_json::{Value as Json, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Two typed custom fields on people, on both sides (not on Entrants).
const TYPED_FIELDS: &str = r#"
[[person_fields]]
name = "score"
weavy = "score"
entrant = "-"
mautic = "score"
type = "number"

[[person_fields]]
name = "birthday"
weavy = "birthday"
entrant = "-"
mautic = "birthday"
type = "date"
"#;

const MEGABYTE: usize = 1 << 20;

/// Whether a value a side holds is one fieldsync must never have written.
fn malformed(v: &Json) -> Option<String> {
    match v {
        Json::String(s) if s.len() > 64 * 1024 => Some(format!("{} bytes", s.len())),
        Json::String(s)
            if s.chars().any(|c| {
                (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{fffd}'
            }) =>
        {
            Some(format!("{s:?}"))
        }
        Json::String(s) if s.starts_with("0000-") || s.starts_with("9999-") => Some(s.clone()),
        Json::String(s) if s.contains("(at)") => Some(s.clone()),
        Json::Number(n) if n.as_f64().is_some_and(|f| f.abs() >= 1e15) => Some(n.to_string()),
        Json::String(s) if s.len() > 15 && s.bytes().all(|b| b.is_ascii_digit()) => Some(s.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_are_reported_on_their_record_and_never_copied() {
    let (h, plan, _) = Harness::with_plan(DatasetSpec::small(21), TYPED_FIELDS).await;
    let (w, m) = (&h.pair.weavy, &h.pair.mautic);
    w.add_custom_field("customercontact", "score", "number");
    w.add_custom_field("customercontact", "birthday", "date");
    m.add_custom_field("contact", "score", "number");
    m.add_custom_field("contact", "birthday", "date");

    let long = "A".repeat(MEGABYTE);
    // (weavy id, the bad field, its value, the rest of the record)
    let bad: Vec<(&str, &str, Json)> = vec![
        ("BAD-LONG", "firstName", json!(long)),
        ("BAD-CTRL", "lastName", json!("Dupont\u{7}\u{1b}[2J")),
        ("BAD-UTF8", "firstName", json!("Jos\u{fffd}")),
        ("BAD-YEAR0", "birthday", json!("0000-01-01")),
        ("BAD-Y9999", "birthday", json!("9999-12-31")),
        ("BAD-NUM", "score", json!(1e300)),
        ("BAD-NUMTXT", "score", json!("99999999999999999999")),
    ];
    for (id, field, value) in &bad {
        let email = format!("{}@exemple.fr", id.to_lowercase());
        let mut fields = vec![
            ("firstName", json!("Prénom")),
            ("lastName", json!(format!("Nom {id}"))),
            ("email", json!(email)),
            ("score", json!(7)),
            ("birthday", json!("1990-01-02")),
        ];
        fields.retain(|(f, _)| f != field);
        fields.push((field, value.clone()));
        w.insert("customercontact", id, &fields);
    }
    w.insert(
        "customercontact",
        "BAD-MAIL",
        &[
            ("firstName", json!("Pas")),
            ("lastName", json!("UneAdresse")),
            ("email", json!("jean.dupont(at)exemple.fr")),
        ],
    );
    w.insert(
        "customercontact",
        "GOOD-1",
        &[
            ("firstName", json!("Bonne")),
            ("lastName", json!("Valeur")),
            ("email", json!("good.one@exemple.fr")),
            ("score", json!(42)),
            ("birthday", json!("1980-05-17")),
        ],
    );
    // And from the other side: a Mautic contact with a 1 MB first name, a huge score and a
    // date of 1066 (Mautic itself drops `0000-00-00`).
    let m_bad = m.add_contact(&[
        ("firstname", json!(long)),
        ("lastname", json!("MautLong")),
        ("email", json!("m.bad@exemple.fr")),
        ("score", json!(1e300)),
        ("birthday", json!("1066-10-14")),
    ]);

    let r = h.try_cycle(CycleOptions::default()).await;

    // Every bad value is reported, on its record and field, with its reason.
    let expect = [
        ("BAD-LONG", "firstname", "over the 65536-byte limit"),
        ("BAD-CTRL", "lastname", "control character"),
        ("BAD-UTF8", "firstname", "not UTF-8"),
        ("BAD-YEAR0", "birthday", "year 0"),
        ("BAD-Y9999", "birthday", "year 9999"),
        ("BAD-NUM", "score", "beyond what both sides store"),
        ("BAD-NUMTXT", "score", "beyond what both sides store"),
        ("BAD-MAIL", "email", "not an e-mail address"),
    ];
    for (id, field, why) in expect {
        assert!(
            r.errors.iter().any(|e| e.contains(id)
                && e.contains(&format!("field {field}"))
                && e.contains(why)),
            "no report of {id} {field} ({why}) in {:#?}",
            r.errors
        );
    }
    let m_id = m_bad.to_string();
    for (field, why) in [
        ("firstname", "over the 65536-byte limit"),
        ("score", "beyond what both sides store"),
        ("birthday", "year 1066"),
    ] {
        assert!(
            r.errors
                .iter()
                .any(|e| e.contains(&format!("contact {m_id}"))
                    && e.contains(&format!("field {field}"))
                    && e.contains(why)),
            "no report of Mautic {m_id} {field} in {:#?}",
            r.errors
        );
    }
    assert!(r.invalid_values >= 11, "{}", r.invalid_values);
    // Messages are safe to print: short, no control character.
    for e in &r.errors {
        assert!(e.len() < 1000, "a report line of {} bytes", e.len());
        assert!(!e.chars().any(char::is_control), "{e:?}");
    }

    // The bad records synced, without their bad field.
    let contact = |email: &str| {
        let ids = m.contacts_with_email(email);
        assert_eq!(ids.len(), 1, "{email}: {ids:?}");
        m.contact(ids[0]).unwrap()
    };
    let c = contact("bad-long@exemple.fr");
    assert_eq!(c.text("lastname"), Some("Nom BAD-LONG"));
    assert_eq!(c.text("firstname"), None, "the 1 MB first name stayed home");
    assert_eq!(contact("bad-ctrl@exemple.fr").text("lastname"), None);
    assert_eq!(
        contact("bad-ctrl@exemple.fr").text("firstname"),
        Some("Prénom")
    );
    assert_eq!(contact("bad-utf8@exemple.fr").text("firstname"), None);
    for id in ["bad-year0", "bad-y9999"] {
        let c = contact(&format!("{id}@exemple.fr"));
        assert!(c.fields.get("birthday").is_none_or(Json::is_null), "{c:?}");
        assert_eq!(c.fields.get("score"), Some(&json!(7)), "{c:?}");
    }
    for id in ["bad-num", "bad-numtxt"] {
        let c = contact(&format!("{id}@exemple.fr"));
        assert!(c.fields.get("score").is_none_or(Json::is_null), "{c:?}");
        assert_eq!(c.text("birthday"), Some("1990-01-02"), "{c:?}");
    }
    assert!(
        m.contacts()
            .iter()
            .all(|c| c.text("lastname") != Some("UneAdresse")),
        "a person whose e-mail is not one is never copied"
    );
    let good = contact("good.one@exemple.fr");
    assert_eq!(good.fields.get("score").and_then(Json::as_f64), Some(42.0));
    assert_eq!(good.text("birthday"), Some("1980-05-17"));
    // The Mautic-side bad contact became an Entrant, without its bad values.
    let entrant = w
        .records("marketinginbound")
        .into_iter()
        .find(|e| e.get("email") == Some(&json!("m.bad@exemple.fr")))
        .expect("the Mautic contact reached weavy");
    assert_eq!(entrant.get("lastName"), Some(&json!("MautLong")));
    assert!(entrant.get("firstName").is_none_or(Json::is_null));

    // Everyone else synced: every planned e-mail is on both sides.
    for p in &plan.people {
        assert!(
            !m.contacts_with_email(&p.email).is_empty(),
            "{} is not in Mautic",
            p.email
        );
        let in_weavy = ["customercontact", "marketinginbound"].iter().any(|t| {
            w.records(t)
                .iter()
                .any(|r| common::text(r.get("email")).eq_ignore_ascii_case(&p.email))
        });
        assert!(in_weavy, "{} is not in weavy", p.email);
    }

    // Nothing malformed was written anywhere: only the records seeded bad hold bad values.
    for c in m.contacts() {
        if c.id == m_bad {
            continue;
        }
        for (alias, v) in &c.fields {
            assert!(
                malformed(v).is_none(),
                "Mautic contact {} {alias}: {:?}",
                c.id,
                malformed(v)
            );
        }
    }
    for table in ["customercontact", "marketinginbound", "customer"] {
        for rec in w.records(table) {
            let id = common::text(rec.get(&*format!("{table}_ID")));
            if id.starts_with("BAD-") {
                continue;
            }
            for (f, v) in &rec {
                assert!(
                    malformed(v).is_none(),
                    "weavy {table} {id} {f}: {:?}",
                    malformed(v)
                );
            }
        }
    }

    // The next cycle writes nothing for them; once fixed at the source, the value syncs.
    let r2 = h.try_cycle(CycleOptions::default()).await;
    assert_eq!(r2.total_write_requests(), 0, "{r2:#?}");
    w.edit(
        "customercontact",
        "BAD-LONG",
        &[("firstName", json!("Réparé"))],
    );
    let r3 = h.try_cycle(CycleOptions::default()).await;
    assert!(
        !r3.errors.iter().any(|e| e.contains("BAD-LONG")),
        "{:#?}",
        r3.errors
    );
    assert_eq!(
        contact("bad-long@exemple.fr").text("firstname"),
        Some("Réparé")
    );
}

/// A server of one route, for the HTTP layer's limits.
async fn serve(router: Router) -> SimServer {
    SimServer::start(router, 0).await.unwrap()
}

fn http(settings: HttpSettings) -> Http {
    Http::new(Side::Mautic, settings, RequestCounter::new()).unwrap()
}

async fn send(http: &Http, url: String) -> Result<Vec<u8>, ErrorKind> {
    http.send(Call::new(CallKind::List, "list contacts"), |_| {
        let rb = http.client().get(&url);
        async move { Ok::<_, fieldsync::connector::ConnectorError>(rb) }
    })
    .await
    .map(|r| r.body)
    .map_err(|e| e.kind)
}

#[tokio::test]
async fn an_endless_answer_hits_the_size_cap_once() {
    let hits = Arc::new(AtomicU64::new(0));
    let counted = hits.clone();
    let server = serve(Router::new().route(
        "/endless",
        get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            // No Content-Length: the cap must hold while streaming.
            let chunk = axum::body::Bytes::from(vec![b'['; 64 * 1024]);
            let stream = futures::stream::repeat(chunk).map(Ok::<_, std::io::Error>);
            async move { Body::from_stream(stream) }
        }),
    ))
    .await;
    let http = http(HttpSettings {
        max_body_bytes: MEGABYTE,
        ..HttpSettings::fast()
    });
    let err = send(&http, format!("{}/endless", server.url()))
        .await
        .unwrap_err();
    assert_eq!(err, ErrorKind::BodyTooLarge { limit: MEGABYTE });
    assert!(err.to_string().contains("http.max_body_bytes"), "{err}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "an answer over the cap is not fetched again"
    );

    // An announced length over the cap is refused before the body is read.
    let big = serve(Router::new().route("/big", get(|| async { vec![b' '; 2 * MEGABYTE] }))).await;
    assert_eq!(
        send(&http, format!("{}/big", big.url())).await.unwrap_err(),
        ErrorKind::BodyTooLarge { limit: MEGABYTE }
    );
}

#[tokio::test]
async fn a_trickling_answer_times_out() {
    let server = serve(Router::new().route(
        "/trickle",
        get(|| async {
            // One byte every 50 ms, forever.
            let stream = futures::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((
                    Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b" ")),
                    (),
                ))
            });
            Body::from_stream(stream)
        }),
    ))
    .await;
    let timeout = Duration::from_millis(400);
    let http = http(HttpSettings {
        timeout,
        max_attempts: 2,
        ..HttpSettings::fast()
    });
    let started = Instant::now();
    let err = send(&http, format!("{}/trickle", server.url()))
        .await
        .unwrap_err();
    assert_eq!(err, ErrorKind::Timeout(timeout));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_stalled_simulator_gives_a_timeout_naming_the_call() {
    let pair = fieldsync::sim::SimPair::start(3).await.unwrap();
    let o = pair.weavy.options().clone();
    let timeout = Duration::from_millis(300);
    let client = WeavyClient::new(
        WeavySettings {
            base_url: pair.weavy.url(),
            project_code: o.project_code.clone(),
            user: o.user.clone(),
            password: Secret::new(o.password.clone()),
            time_zone: o.time_zone,
            value_types: Default::default(),
            http: HttpSettings {
                timeout,
                max_attempts: 2,
                ..HttpSettings::fast()
            },
        },
        RequestCounter::new(),
    )
    .unwrap();
    pair.weavy.control().update_knobs(|k| {
        k.fault_rate = 1.0;
        k.fault_mix = vec![Fault::Timeout];
        k.stall = Duration::from_secs(30);
    });
    let started = Instant::now();
    let err = client.fields(RecordKind::WeavyContact).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout(timeout), "{err}");
    assert!(err.is_transient());
    let m = err.to_string();
    assert!(m.contains("weavy") && m.contains("no answer within"), "{m}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Review: a token answer whose `expires_in` is near `u64::MAX` made the renewal time overflow
/// `Instant` and panicked the whole process; it is now capped at a year.
#[tokio::test]
async fn a_token_that_lasts_forever_does_not_crash_the_client() {
    use fieldsync::connector::mautic::{MauticAuth, MauticClient, MauticSettings};
    let server = serve(
        Router::new()
            .route(
                "/oauth/v2/token",
                axum::routing::post(|| async {
                    axum::Json(json!({
                        "access_token": "forever", "expires_in": u64::MAX, "token_type": "bearer"
                    }))
                }),
            )
            .route(
                "/api/fields/contact",
                get(|| async {
                    axum::Json(json!({"total": 1, "fields": [
                        {"id": 1, "alias": "email", "label": "Email", "type": "email"}
                    ]}))
                }),
            ),
    )
    .await;
    let client = MauticClient::new(
        MauticSettings {
            http: HttpSettings::fast(),
            ..MauticSettings::new(
                server.url(),
                MauticAuth::OAuth2 {
                    client_id: "id".into(),
                    client_secret: Secret::new("s"),
                },
            )
        },
        RequestCounter::new(),
    )
    .unwrap();
    let fields = client.fields(RecordKind::MauticContact).await.unwrap();
    assert!(fields.iter().any(|f| f.code == "email"));
}
