//! What the end-to-end tests share: both simulators, a config and database in a temporary
//! folder, the engine, and checks that read the simulators directly (not fieldsync's store).
#![allow(dead_code)]

pub mod cli;

use fieldsync::sim::SimPair;
use fieldsync::sim::dataset::{DatasetSpec, Loaded, Plan};
use fieldsync::sim::mautic::{MauticProfile, MauticSimOptions};
use fieldsync::sim::weavy::WeavySimOptions;
use fieldsync::store::{Store, StoreOptions};
use fieldsync::sync::{CycleOptions, CycleReport, Engine, NoProgress};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

pub struct Harness {
    pub pair: SimPair,
    pub dir: tempfile::TempDir,
    pub extra: String,
    pub engine: Option<Engine>,
}

impl Harness {
    /// Both simulators, empty; `extra` is appended to the config.
    pub async fn new(extra: &str) -> Harness {
        Harness::start(
            WeavySimOptions::default(),
            MauticSimOptions::default(),
            extra,
        )
        .await
    }

    /// Both simulators, empty, Mautic under `profile`; `extra` is appended to the config.
    pub async fn with_profile(profile: MauticProfile, extra: &str) -> Harness {
        Harness::start(
            WeavySimOptions::default(),
            MauticSimOptions {
                profile,
                ..Default::default()
            },
            extra,
        )
        .await
    }

    /// Both simulators, empty, weavy started with `weavy` (its readings, its page size).
    pub async fn with_weavy(weavy: WeavySimOptions, extra: &str) -> Harness {
        Harness::start(weavy, MauticSimOptions::default(), extra).await
    }

    /// Both simulators started with these options (seeds 11 and 12), empty.
    async fn start(weavy: WeavySimOptions, mautic: MauticSimOptions, extra: &str) -> Harness {
        let pair = SimPair::start_with(
            WeavySimOptions { seed: 11, ..weavy },
            MauticSimOptions { seed: 12, ..mautic },
        )
        .await
        .unwrap();
        let mut h = Harness {
            pair,
            dir: tempfile::tempdir().unwrap(),
            extra: extra.to_owned(),
            engine: None,
        };
        h.open();
        h
    }

    /// Both simulators loaded with a planned data set.
    pub async fn with_plan(spec: DatasetSpec, extra: &str) -> (Harness, Plan, Loaded) {
        let plan = Plan::new(spec);
        let extra = format!("{extra}\n{}", plan.person_fields_toml());
        let h = Harness::new(&extra).await;
        let loaded = plan.load(&h.pair);
        (h, plan, loaded)
    }

    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("db")
    }

    pub fn config_toml(&self) -> String {
        self.pair.config_toml(&self.db_path(), &self.extra)
    }

    /// (Re)opens the store and builds the engine.
    pub fn open(&mut self) {
        self.engine = None;
        let config = fieldsync::config::Config::parse(&self.config_toml()).unwrap();
        let store = Store::open(&config.store.path, &StoreOptions::default()).unwrap();
        self.engine = Some(Engine::from_config(config, store).unwrap());
    }

    pub fn engine(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }

    /// One cycle that must not report errors.
    pub async fn cycle(&self) -> CycleReport {
        let r = self.try_cycle(CycleOptions::default()).await;
        assert!(
            r.errors.is_empty(),
            "cycle {} errors: {:#?}",
            r.cycle,
            r.errors
        );
        r
    }

    /// The conflict-log entries matching `filter`, in time order.
    pub fn conflicts(
        &self,
        filter: fieldsync::store::ConflictFilter,
    ) -> Vec<fieldsync::model::ConflictEntry> {
        self.engine()
            .store
            .conflicts(&filter)
            .map(Result::unwrap)
            .collect()
    }

    pub async fn try_cycle(&self, options: CycleOptions) -> CycleReport {
        self.engine()
            .cycle(options, &NoProgress)
            .await
            .expect("the cycle runs")
    }
}

/// A value as both sides are compared: trimmed text, numbers and booleans as text.
pub fn text(v: Option<&Json>) -> String {
    match v {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(s)) => s.trim().to_owned(),
        Some(other) => other.to_string(),
    }
}

/// A weavy record: its table and its fields.
pub type WeavyRecord = (String, BTreeMap<String, Json>);

/// Every weavy person (Contact or Entrant) by lower-cased e-mail, with its table.
pub fn weavy_people(pair: &SimPair) -> BTreeMap<String, Vec<WeavyRecord>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for table in ["customercontact", "marketinginbound"] {
        for r in pair.weavy.records(table) {
            let e = text(r.get("email")).to_lowercase();
            if !e.is_empty() {
                out.entry(e).or_default().push((table.to_owned(), r));
            }
        }
    }
    out
}

/// The person fields compared: (weavy field, Mautic alias).
pub const PERSON_FIELDS: &[(&str, &str)] = &[
    ("firstName", "firstname"),
    ("lastName", "lastname"),
    ("phoneNumber", "phone"),
];

/// Checks that every person with an e-mail on either side exists on the other with the same
/// mapped values, and that no e-mail was created twice. Returns how many pairs were compared.
pub fn assert_people_agree(pair: &SimPair) -> usize {
    let weavy = weavy_people(pair);
    let mut compared = 0;
    for c in pair.mautic.contacts() {
        if c.anonymous {
            continue;
        }
        let email = text(c.fields.get("email")).to_lowercase();
        if email.is_empty() {
            continue;
        }
        let records = weavy
            .get(&email)
            .unwrap_or_else(|| panic!("Mautic contact {email} has no weavy record"));
        // Among duplicates, at least one (the one synced) agrees fully.
        let agrees = records.iter().any(|(_, r)| {
            PERSON_FIELDS
                .iter()
                .all(|(w, m)| text(r.get(*w)) == text(c.fields.get(*m)))
        });
        assert!(
            agrees,
            "{email}: no weavy record agrees with Mautic {:?} / {:?}",
            c.fields, records
        );
        compared += 1;
    }
    for (email, records) in &weavy {
        let n = pair.mautic.contacts_with_email(email).len();
        assert_eq!(
            n,
            1,
            "weavy {email} ({} records) has {n} Mautic contacts",
            records.len()
        );
    }
    for (email, n) in pair.mautic.created_per_email() {
        assert!(n <= 1, "Mautic contact {email} created {n} times");
    }
    for table in ["customercontact", "marketinginbound", "customer"] {
        for (email, n) in pair.weavy.inserted_per_email(table) {
            assert!(n <= 1, "weavy {table} {email} inserted {n} times");
        }
    }
    compared
}

/// No e-mail has both a weavy Contact and an Entrant made by fieldsync: a Mautic contact whose
/// e-mail belongs to a Contact must have been linked to it, not given an Entrant.
pub fn assert_no_entrant_shadows_a_contact(pair: &SimPair) {
    for (email, records) in weavy_people(pair) {
        let contact = records.iter().any(|(t, _)| t == "customercontact");
        let ours = records.iter().any(|(t, r)| {
            t == "marketinginbound" && text(r.get("marketinginbound_ID")).starts_with("wm-")
        });
        assert!(
            !(contact && ours),
            "{email} has a Contact and an Entrant made by fieldsync"
        );
    }
}

/// The same edits for both runs: cycle `i`'s, made "as users" before the cycle. No field of one
/// person is edited on both sides in one round, so the outcome does not depend on timing.
pub fn edits(i: usize, plan: &Plan, pair: &SimPair) {
    let weavy_contacts: Vec<&str> = plan
        .people
        .iter()
        .filter(|p| !p.lead)
        .filter_map(|p| p.weavy_id.as_deref())
        .filter(|id| id.starts_with('C'))
        .collect();
    let c = weavy_contacts[i % weavy_contacts.len()];
    pair.weavy.edit(
        "customercontact",
        c,
        &[("phoneNumber", json!(format!("+33 1 99 99 99 {i:02}")))],
    );
    let mautic_people: Vec<&str> = plan
        .people
        .iter()
        .filter(|p| p.in_mautic)
        .map(|p| p.email.as_str())
        .collect();
    let email = mautic_people[(i * 3 + 1) % mautic_people.len()];
    if let Some(id) = pair.mautic.contacts_with_email(email).first() {
        pair.mautic
            .edit_contact(*id, &[("lastname", json!(format!("Nom-{i}")))]);
    }
    if i % 5 == 0 {
        pair.mautic.add_contact(&[
            ("firstname", json!("Nouveau")),
            ("lastname", json!(format!("Mautic {i}"))),
            ("email", json!(format!("nouveau.mautic{i}@exemple.fr"))),
        ]);
        pair.weavy.insert(
            "customercontact",
            &format!("N{i:03}"),
            &[
                ("firstName", json!("Nouveau")),
                ("lastName", json!(format!("Weavy {i}"))),
                ("email", json!(format!("nouveau.weavy{i}@exemple.fr"))),
            ],
        );
    }
    if i % 7 == 3 {
        let e = mautic_people[(i * 5) % mautic_people.len()];
        if let Some(id) = pair.mautic.contacts_with_email(e).first() {
            pair.mautic.add_dnc(*id, 2);
        }
    }
    if i % 11 == 4 {
        let t = plan
            .companies
            .iter()
            .filter_map(|c| c.weavy_id.as_deref())
            .nth(i % 3)
            .unwrap();
        pair.weavy
            .edit("customer", t, &[("city", json!(format!("Ville {i}")))]);
    }
}

/// Both systems' content, without ids or times: people by e-mail, companies by name.
pub fn snapshot(pair: &SimPair) -> BTreeMap<String, Vec<String>> {
    // Every record under its key: two records with one key (a duplicate) are both kept.
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let customers: BTreeMap<String, String> = pair
        .weavy
        .records("customer")
        .into_iter()
        .map(|r| (text(r.get("customer_ID")), text(r.get("name"))))
        .collect();
    for r in pair.weavy.records("customer") {
        let fields: Vec<String> = ["name", "city", "postalCode", "phoneNumber", "website"]
            .iter()
            .map(|f| text(r.get(*f)))
            .collect();
        out.entry(format!("weavy customer {}", text(r.get("name"))))
            .or_default()
            .push(fields.join(" | "));
    }
    for table in ["customercontact", "marketinginbound"] {
        for r in pair.weavy.records(table) {
            let id = text(r.get(&*format!("{table}_ID")));
            let mut fields: Vec<String> = ["firstName", "lastName", "email", "phoneNumber"]
                .iter()
                .map(|f| text(r.get(*f)))
                .collect();
            fields.push(
                customers
                    .get(&text(r.get("customer_ID")))
                    .cloned()
                    .unwrap_or_default(),
            );
            fields.push((!text(r.get("bouncedEmailDetected")).is_empty()).to_string());
            // Contacts the test made keep their ids; fieldsync's Entrants are keyed by e-mail.
            let key = if id.starts_with("wm-") {
                text(r.get("email"))
            } else {
                id
            };
            out.entry(format!("weavy {table} {key}"))
                .or_default()
                .push(fields.join(" | "));
        }
    }
    for c in pair.mautic.contacts() {
        if c.anonymous {
            continue;
        }
        let fields: Vec<String> = ["firstname", "lastname", "email", "phone", "company"]
            .iter()
            .map(|f| text(c.fields.get(*f)))
            .collect();
        let key = text(c.fields.get("email"));
        let key = if key.is_empty() {
            format!("no e-mail {}", c.id)
        } else {
            key
        };
        out.entry(format!("mautic contact {key}"))
            .or_default()
            .push(format!(
                "{} | dnc {:?}",
                fields.join(" | "),
                c.dnc.iter().map(|d| d.0).collect::<Vec<_>>()
            ));
    }
    for c in pair.mautic.companies() {
        let fields: Vec<String> = [
            "companyname",
            "companycity",
            "companyzipcode",
            "companyphone",
            "companywebsite",
        ]
        .iter()
        .map(|f| text(c.fields.get(*f)))
        .collect();
        out.entry(format!(
            "mautic company {}",
            text(c.fields.get("companyname"))
        ))
        .or_default()
        .push(fields.join(" | "));
    }
    for records in out.values_mut() {
        records.sort();
    }
    out
}

/// How many records [`snapshot`] compared.
pub fn snapshot_records(s: &BTreeMap<String, Vec<String>>) -> usize {
    s.values().map(Vec::len).sum()
}

/// E-mails held by more than one record of one side (weavy people, Mautic contacts), with
/// how many hold each: after a sync, only the duplicates the data set was seeded with.
pub fn emails_held_twice(pair: &SimPair) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let weavy = weavy_people(pair)
        .into_iter()
        .filter(|(_, rs)| rs.len() > 1)
        .map(|(e, rs)| (e, rs.len()))
        .collect();
    let mut mautic: BTreeMap<String, usize> = BTreeMap::new();
    for c in pair.mautic.contacts() {
        let e = text(c.fields.get("email")).to_lowercase();
        if !e.is_empty() {
            *mautic.entry(e).or_default() += 1;
        }
    }
    mautic.retain(|_, n| *n > 1);
    (weavy, mautic)
}
