//! Captures real answers of the simulators as seeds for the fuzz targets (`fuzz/`) and the
//! robustness tests (`tests/robustness.rs`):
//!
//! ```text
//! cargo run --example fuzz_seeds -- fuzz/seeds
//! ```
//!
//! It starts both simulators with the small generated data set, asks them what fieldsync asks
//! (tokens, field lists, pages, batch writes, errors in both Mautic shapes), runs one real
//! cycle to get a database, and writes every answer body, the configuration and the stored
//! values to `<dir>/<target>/<name>`. The output is deterministic in shape, not in bytes
//! (tokens and dates change), so the committed seeds are refreshed only on purpose.

use fieldsync::sim::SimPair;
use fieldsync::sim::dataset::{DatasetSpec, Plan};
use fieldsync::store::{Store, StoreOptions};
use fieldsync::sync::{CycleOptions, Engine, NoProgress};
use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};

/// The largest seed kept: libFuzzer works best on small inputs.
const MAX_SEED: usize = 16 * 1024;

struct Seeds {
    dir: PathBuf,
    written: usize,
}

impl Seeds {
    fn put(&mut self, target: &str, name: &str, body: &[u8]) {
        let dir = self.dir.join(target);
        std::fs::create_dir_all(&dir).expect("create the seed directory");
        let body = if body.len() > MAX_SEED {
            &body[..MAX_SEED]
        } else {
            body
        };
        std::fs::write(dir.join(name), body).expect("write a seed");
        self.written += 1;
    }
}

async fn body(r: reqwest::RequestBuilder) -> Vec<u8> {
    let response = r.send().await.expect("the simulator answers");
    response.bytes().await.expect("a whole body").to_vec()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("fuzz/seeds"));
    let mut seeds = Seeds { dir, written: 0 };
    let pair = SimPair::start(5).await.expect("start the simulators");
    let mut spec = DatasetSpec::small(5);
    spec.weavy_contacts = 6;
    spec.weavy_leads = 3;
    spec.companies = 4;
    spec.mautic_only_contacts = 3;
    let plan = Plan::new(spec);
    plan.load(&pair);
    let http = reqwest::Client::new();

    mautic(&mut seeds, &pair, &http).await;
    weavy(&mut seeds, &pair, &http).await;
    config_and_store(&mut seeds, &pair, &plan).await;
    println!(
        "wrote {} seeds under {}",
        seeds.written,
        seeds.dir.display()
    );
}

async fn mautic(seeds: &mut Seeds, pair: &SimPair, http: &reqwest::Client) {
    const T: &str = "mautic_answers";
    let base = pair.mautic.url();
    let token = body(http.post(format!("{base}/oauth/v2/token")).form(&[
        ("client_id", "fieldsync-sim"),
        ("client_secret", "sim-secret"),
        ("grant_type", "client_credentials"),
    ]))
    .await;
    let answer: Json = serde_json::from_slice(&token).expect("a token answer");
    let token = answer["access_token"].as_str().expect("a token").to_owned();
    // The committed seed must not carry a token the simulator really issued.
    let mut shown = answer.clone();
    shown["access_token"] = json!("0f8e6c2a9b1d4e7f3a5c8b2d6e9f1a3c");
    seeds.put(T, "token.json", shown.to_string().as_bytes());
    let get = |path: &str| http.get(format!("{base}{path}")).bearer_auth(&token);
    for (name, path) in [
        ("fields_contact.json", "/api/fields/contact"),
        ("fields_company.json", "/api/fields/company"),
        (
            "list_contacts.json",
            "/api/contacts?limit=2&orderBy=date_modified&orderByDir=asc&search=!is:anonymous",
        ),
        ("list_companies.json", "/api/companies?limit=3"),
        ("list_empty.json", "/api/contacts?start=100000&limit=5"),
        ("error_not_found.json", "/api/contacts/999999"),
        ("contact_one.json", "/api/contacts/1"),
    ] {
        seeds.put(T, name, &body(get(path)).await);
    }
    let batch = json!([
        {"id": 1, "firstname": "Édith"},
        {"id": 999999, "lastname": "Gone"},
        {"id": 2, "email": "not-an-email"},
    ]);
    seeds.put(
        T,
        "batch_edit_mixed.json",
        &body(
            http.patch(format!("{base}/api/contacts/batch/edit"))
                .bearer_auth(&token)
                .json(&batch),
        )
        .await,
    );
    let new = json!([{"email": "seed.new@exemple.fr", "firstname": "Nouveau"}]);
    seeds.put(
        T,
        "batch_new.json",
        &body(
            http.post(format!("{base}/api/contacts/batch/new"))
                .bearer_auth(&token)
                .json(&new),
        )
        .await,
    );
    pair.mautic.update_quirks(|q| {
        q.legacy_errors = true;
        q.empty_list_as_array = true;
        q.total_as_string = false;
    });
    seeds.put(
        T,
        "error_legacy.json",
        &body(get("/api/contacts/999999")).await,
    );
    seeds.put(
        T,
        "list_empty_array.json",
        &body(get("/api/contacts?start=100000&limit=5")).await,
    );
    seeds.put(
        T,
        "error_expired.json",
        &body(
            http.get(format!("{base}/api/contacts"))
                .bearer_auth("expired"),
        )
        .await,
    );
}

async fn weavy(seeds: &mut Seeds, pair: &SimPair, http: &reqwest::Client) {
    const T: &str = "weavy_answers";
    let base = pair.weavy.url();
    let o = pair.weavy.options().clone();
    let auth = body(http.post(format!("{base}/v1/Authenticate")).json(&json!({
        "scope": "API", "projectCode": o.project_code, "userName": o.user, "password": o.password,
    })))
    .await;
    let token: Json = serde_json::from_slice(&auth).expect("an Authenticate answer");
    let token = token["authToken"].as_str().expect("a token").to_owned();
    // The committed seed must not carry a token that could look like a real one.
    let mut shown: Json = serde_json::from_slice(&auth).unwrap();
    shown["authToken"] = json!("eyJhbGciOiJIUzI1NiJ9.c2VlZA.c2lnbmF0dXJl");
    seeds.put(T, "authenticate.json", shown.to_string().as_bytes());
    seeds.put(
        T,
        "authenticate_refused.json",
        &body(http.post(format!("{base}/v1/Authenticate")).json(&json!({
            "scope": "API", "projectCode": o.project_code, "userName": o.user, "password": "wrong",
        })))
        .await,
    );
    let project = &o.project_code;
    for entity in ["customer", "customercontact", "marketinginbound"] {
        let dictionary = body(
            http.get(format!("{base}/v1/Dictionary/{project}/{entity}"))
                .bearer_auth(&token),
        )
        .await;
        seeds.put(T, &format!("dictionary_{entity}.json"), &dictionary);
        let fields: Json = serde_json::from_slice(&dictionary).unwrap();
        let mut return_fields: Vec<Json> = fields["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| json!({"fieldName": f["fieldName"]}))
            .collect();
        return_fields.push(json!({"fieldName": "srvDate"}));
        return_fields.push(json!({"fieldName": "srvDateUTC"}));
        let select = body(
            http.post(format!("{base}/v1/Data/{project}/Select"))
                .bearer_auth(&token)
                .json(&json!({"entityName": entity, "offset": 0, "returnFields": return_fields})),
        )
        .await;
        seeds.put(T, &format!("select_{entity}.json"), &select);
    }
    seeds.put(
        T,
        "select_empty.json",
        &body(
            http.post(format!("{base}/v1/Data/{project}/Select"))
                .bearer_auth(&token)
                .json(&json!({"entityName": "customer", "offset": 100000,
                    "returnFields": [{"fieldName": "customer_ID"}]})),
        )
        .await,
    );
    seeds.put(
        T,
        "error_unknown_entity.json",
        &body(
            http.get(format!("{base}/v1/Data/{project}/nosuchtable/1"))
                .bearer_auth(&token),
        )
        .await,
    );
}

async fn config_and_store(seeds: &mut Seeds, pair: &SimPair, plan: &Plan) {
    let tmp = std::env::temp_dir().join(format!("fieldsync-seeds-{}", std::process::id()));
    let db = tmp.join("db");
    let extra = plan.person_fields_toml();
    let toml = pair.config_toml(&db, &extra);
    // Seeds are committed: no simulator URL, port or password in them.
    let shown = toml
        .replace(&pair.weavy.url(), "https://api.weavy.divalto.com")
        .replace(&pair.mautic.url(), "https://acme.webmecanik.com")
        .replace(&pair.weavy.options().password, "changeme")
        .replace("sim-secret", "changeme")
        .replace(&db.display().to_string(), "fieldsync.db");
    seeds.put("config", "simulators.toml", shown.as_bytes());
    seeds.put(
        "config",
        "minimal.toml",
        b"[weavy]\nproject_code = \"ACME\"\nuser = \"api\"\n\n[mautic]\nbase_url = \"https://acme.webmecanik.com\"\nclient_id = \"1_abc\"\n",
    );
    seeds.put(
        "config",
        "tuned.toml",
        b"[weavy]\nproject_code = \"ACME\"\nuser = \"api\"\ntime_zone = \"America/Montreal\"\n[weavy.http]\ntimeout = \"2m\"\nbase_backoff = 0.5\nmax_body_bytes = 1048576\n\n[mautic]\nbase_url = \"https://acme.webmecanik.com\"\nauth = \"basic\"\nuser = \"api\"\npage_size = 100\n\n[sync]\nperiod = \"1h30m\"\ntie_window = \"500ms\"\npreferred_side = \"none\"\ncompany_key = \"siret\"\nobjects = [\"companies\", \"contacts\"]\nmax_value_bytes = 4096\n\n[[company_fields]]\nname = \"name\"\nweavy = \"name\"\nmautic = \"companyname\"\n\n[[company_fields]]\nname = \"siret\"\nweavy = \"siretNumber\"\nmautic = \"siret\"\ntype = \"text\"\ndirection = \"Sync only to Mautic\"\ntrim = true\n",
    );

    let config = pair.config(&db, &extra);
    let store = Store::open(&db, &StoreOptions::default()).expect("open a store");
    let engine = Engine::from_config(config, store).expect("an engine");
    engine
        .cycle(CycleOptions::default(), &NoProgress)
        .await
        .expect("a cycle");
    // A second cycle after an edit on each side, so the log has conflicts.
    if let Some(p) = plan
        .people
        .iter()
        .find(|p| p.in_mautic && p.weavy_id.is_some())
    {
        let id = p.weavy_id.as_deref().unwrap();
        let table = if p.lead {
            "marketinginbound"
        } else {
            "customercontact"
        };
        pair.weavy
            .edit(table, id, &[("firstName", json!("Weavy-side"))]);
        if let Some(m) = pair.mautic.contacts_with_email(&p.email).first() {
            pair.mautic
                .edit_contact(*m, &[("firstname", json!("Mautic-side"))]);
        }
    }
    engine
        .cycle(CycleOptions::default(), &NoProgress)
        .await
        .expect("a cycle");
    drop(engine);
    dump_store(seeds, &db);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The first values of every tree, as stored (format byte and bincode).
fn dump_store(seeds: &mut Seeds, db: &Path) {
    let db = sled::open(db).expect("reopen the database");
    for name in [
        "records",
        "observations",
        "entities",
        "outbox",
        "conflicts",
        "cycles",
    ] {
        let tree = db.open_tree(name).expect("a tree");
        for (i, kv) in tree.iter().take(3).enumerate() {
            let (_, v) = kv.expect("a value");
            seeds.put("store_codec", &format!("{name}_{i}.bin"), &v);
        }
    }
}
