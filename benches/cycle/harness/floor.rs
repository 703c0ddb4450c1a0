//! The floor: the traffic a cycle cannot avoid, sent by a bare client that does no engine
//! work at all. Raw reqwest, one token per side, then:
//!
//! 1. reading: every table the cycle read, with the same filter (changed since the same time)
//!    and the same page size, both sides at once, a side's tables one after the other (as the
//!    engine pages them). Pages are not parsed beyond what paging needs: the ids of a Mautic
//!    page (keyset paging goes on after the largest) and the row count of a weavy page;
//! 2. writing: exactly the write requests the cycle sent (same method, path, body), recorded
//!    by the simulators, replayed in the same order: companies first, then people (a person
//!    may name a company written just before), both sides at once, with at most the side's
//!    configured concurrency in flight; a request creating Mautic records goes alone (Mautic
//!    numbers them in arrival order, and the cycle's next requests name those numbers).

use super::measure;
use super::{FloorOutcome, FloorSpec, Replay};
use futures::StreamExt;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// Requests sent, by "side kind"; answers that were not a success.
#[derive(Default)]
struct Counts {
    requests: BTreeMap<String, u64>,
    records: BTreeMap<String, u64>,
    failed: u64,
}

fn bump(counts: &Mutex<Counts>, key: &str) {
    *counts
        .lock()
        .unwrap()
        .requests
        .entry(key.to_owned())
        .or_default() += 1;
}

pub fn run(spec: &FloorSpec) -> Result<FloorOutcome, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let writes: Vec<Replay> = std::fs::read_to_string(&spec.writes_file)
        .map_err(|e| e.to_string())?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let cpu0 = measure::cpu_seconds();
    let counts = Mutex::new(Counts::default());
    let (read_s, write_s, wall_s) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let (wt, mt) = tokio::join!(weavy_token(&client, spec), mautic_token(&client, spec));
        let (wt, mt) = (wt?, mt?);
        bump(&counts, "weavy auth");
        bump(&counts, "mautic auth");
        let t0 = Instant::now();
        let (w, m) = tokio::join!(
            read_weavy(&client, spec, &wt, &counts),
            read_mautic(&client, spec, &mt, &counts)
        );
        w?;
        m?;
        let read_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        for company_phase in [true, false] {
            let of = |side: &str| -> Vec<&Replay> {
                writes
                    .iter()
                    .filter(|r| r.side == side && r.company_phase == company_phase)
                    .collect()
            };
            tokio::join!(
                replay(
                    &client,
                    &spec.weavy_url,
                    &wt,
                    of("weavy"),
                    spec.weavy_concurrency,
                    &counts
                ),
                replay(
                    &client,
                    &spec.mautic_url,
                    &mt,
                    of("mautic"),
                    spec.mautic_concurrency,
                    &counts
                ),
            );
        }
        Ok::<_, String>((
            read_s,
            t1.elapsed().as_secs_f64(),
            t0.elapsed().as_secs_f64(),
        ))
    })?;
    let counts = counts.into_inner().unwrap();
    Ok(FloorOutcome {
        wall_s,
        read_s,
        write_s,
        cpu_s: measure::cpu_seconds() - cpu0,
        peak_rss: measure::peak_rss_bytes(),
        requests: counts.requests,
        records: counts.records,
        failed: counts.failed,
    })
}

async fn weavy_token(client: &reqwest::Client, spec: &FloorSpec) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "authToken")]
        token: String,
    }
    let a: Answer = client
        .post(format!("{}/v1/Authenticate", spec.weavy_url))
        .json(&json!({"scope": "API", "projectCode": spec.project, "userName": spec.user, "password": spec.password}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(a.token)
}

async fn mautic_token(client: &reqwest::Client, spec: &FloorSpec) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Answer {
        access_token: String,
    }
    let a: Answer = client
        .post(format!("{}/oauth/v2/token", spec.mautic_url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", spec.client_id.as_str()),
            ("client_secret", spec.client_secret.as_str()),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(a.access_token)
}

async fn read_weavy(
    client: &reqwest::Client,
    spec: &FloorSpec,
    token: &str,
    counts: &Mutex<Counts>,
) -> Result<(), String> {
    let url = format!("{}/v1/Data/{}/Select", spec.weavy_url, spec.project);
    for read in spec.reads.iter().filter(|r| r.side == "weavy") {
        let filters = match &read.filter_value {
            Some(v) => {
                json!([{"filterKey": "k1", "fieldName": "srvDate", "operator": "GreaterThan", "filterValues": [v]}])
            }
            None => json!([]),
        };
        let mut offset = 0u64;
        loop {
            // No returnFields: every field and both stamps, what the connector asks for.
            let body = json!({"entityName": read.table, "offset": offset, "returnFields": [], "filterFields": filters});
            let reply = client
                .post(&url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            bump(counts, "weavy list");
            let bytes = reply.bytes().await.map_err(|e| e.to_string())?;
            let rows: Vec<IgnoredAny> =
                serde_json::from_slice(&bytes).map_err(|e| format!("weavy {}: {e}", read.table))?;
            if rows.is_empty() {
                break;
            }
            offset += rows.len() as u64;
            *counts
                .lock()
                .unwrap()
                .records
                .entry(read.table.clone())
                .or_default() += rows.len() as u64;
        }
    }
    Ok(())
}

/// The ids of a Mautic list answer's records (a PHP array: an object keyed by id, or `[]`).
struct Ids(Vec<u64>);

impl<'de> Deserialize<'de> for Ids {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ids;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("records keyed by id")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ids, A::Error> {
                let mut ids = Vec::new();
                while let Some((k, _)) = map.next_entry::<String, IgnoredAny>()? {
                    ids.push(k.parse().unwrap_or(0));
                }
                Ok(Ids(ids))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ids, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Ids(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct MauticPage {
    contacts: Option<Ids>,
    companies: Option<Ids>,
}

async fn read_mautic(
    client: &reqwest::Client,
    spec: &FloorSpec,
    token: &str,
    counts: &Mutex<Counts>,
) -> Result<(), String> {
    for read in spec.reads.iter().filter(|r| r.side == "mautic") {
        let url = format!("{}/api/{}", spec.mautic_url, read.table);
        let since = match read.filter_value.as_deref() {
            Some(v) => Some(
                chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S")
                    .map_err(|e| format!("mautic {} filter {v}: {e}", read.table))?
                    .and_utc(),
            ),
            None => None,
        };
        let mut after = 0u64;
        loop {
            // The connector's own keyset query (pure code): the same request, not a copy of it.
            let query = fieldsync::connector::mautic::params::list_query(
                after,
                since,
                spec.fallback,
                spec.mautic_page_size,
                read.table == "contacts",
            );
            let reply = client
                .get(&url)
                .bearer_auth(token)
                .query(&query)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            bump(counts, "mautic list");
            let bytes = reply.bytes().await.map_err(|e| e.to_string())?;
            let page: MauticPage = serde_json::from_slice(&bytes)
                .map_err(|e| format!("mautic {}: {e}", read.table))?;
            let ids = page.contacts.or(page.companies).map_or(Vec::new(), |i| i.0);
            *counts
                .lock()
                .unwrap()
                .records
                .entry(read.table.clone())
                .or_default() += ids.len() as u64;
            let Some(max) = ids.iter().max() else { break };
            after = *max;
            if ids.len() < spec.mautic_page_size {
                break;
            }
        }
    }
    Ok(())
}

/// Sends `requests` in order with at most `concurrency` in flight, except that a request
/// creating Mautic records waits for every request before it and holds back every request
/// after it: Mautic numbers new records in arrival order, and the links the cycle made next
/// name those numbers.
async fn replay(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    requests: Vec<&Replay>,
    concurrency: usize,
    counts: &Mutex<Counts>,
) {
    let mut group: Vec<&Replay> = Vec::new();
    for r in requests {
        let barrier = r.side == "mautic" && r.kind.ends_with("insert");
        if barrier {
            send_all(
                client,
                base,
                token,
                std::mem::take(&mut group),
                concurrency,
                counts,
            )
            .await;
            send_all(client, base, token, vec![r], 1, counts).await;
        } else {
            group.push(r);
        }
    }
    send_all(client, base, token, group, concurrency, counts).await;
}

async fn send_all(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    requests: Vec<&Replay>,
    concurrency: usize,
    counts: &Mutex<Counts>,
) {
    futures::stream::iter(requests)
        .map(|r| async move {
            let method = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
            let mut rb = client
                .request(method, format!("{base}{}", r.uri))
                .bearer_auth(token)
                .body(r.body.clone());
            if let Some(ct) = &r.content_type {
                rb = rb.header(reqwest::header::CONTENT_TYPE, ct);
            }
            let failure = match rb.send().await {
                Ok(reply) => {
                    let status = reply.status();
                    match reply.bytes().await {
                        Ok(_) if status.is_success() => None,
                        Ok(body) => Some(format!(
                            "{status}: {}",
                            String::from_utf8_lossy(&body[..body.len().min(200)])
                        )),
                        Err(e) => Some(e.to_string()),
                    }
                }
                Err(e) => Some(e.to_string()),
            };
            bump(counts, &format!("{} {}", r.side, r.kind));
            if let Some(f) = failure {
                let mut c = counts.lock().unwrap();
                c.failed += 1;
                if c.failed <= 5 {
                    eprintln!("floor: {} {} failed: {f}", r.method, r.uri);
                }
            }
        })
        .buffered(concurrency.max(1))
        .collect::<Vec<()>>()
        .await;
}
