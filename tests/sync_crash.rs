//! Kill the process (SIGKILL) at random points of 50 cycles with edits in between, restart it
//! each time: the end state equals that of an uninterrupted run, with no duplicate and no lost
//! edit.
//!
//! The kill comes from the simulators themselves: on a chosen request (a random side, a random
//! request number, before the request is handled or after it is handled and before it is
//! answered), the simulator kills the fieldsync process. No sleeps, and the worst moments are
//! covered: a write done but never acknowledged, a page read but never stored.

mod common;

use common::{Harness, assert_no_entrant_shadows_a_contact, assert_people_agree, text};
use fieldsync::sim::SimPair;
use fieldsync::sim::dataset::{DatasetSpec, Plan};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

const CYCLES: usize = 50;

/// The same edits for both runs: cycle `i`'s, made "as users" before the cycle. No field of one
/// person is edited on both sides in one round, so the outcome does not depend on timing.
fn edits(i: usize, plan: &Plan, pair: &SimPair) {
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
fn snapshot(pair: &SimPair) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
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
        out.insert(
            format!("weavy customer {}", text(r.get("name"))),
            fields.join(" | "),
        );
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
            out.insert(format!("weavy {table} {key}"), fields.join(" | "));
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
        out.insert(
            format!("mautic contact {key}"),
            format!(
                "{} | dnc {:?}",
                fields.join(" | "),
                c.dnc.iter().map(|d| d.0).collect::<Vec<_>>()
            ),
        );
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
        out.insert(
            format!("mautic company {}", text(c.fields.get("companyname"))),
            fields.join(" | "),
        );
    }
    out
}

fn spawn(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args(["sync", "--quiet", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_points_the_end_state_equals_an_uninterrupted_run() {
    let spec = DatasetSpec::small(21);

    // The reference: the same data, the same edits, never interrupted.
    let (reference, plan, _) = Harness::with_plan(spec.clone(), "").await;
    for i in 0..CYCLES {
        edits(i, &plan, &reference.pair);
        reference.cycle().await;
    }

    // The same, run by the binary, killed once per cycle at a random point, then restarted.
    let (killed, plan_b, _) = Harness::with_plan(spec, "").await;
    assert_eq!(plan, plan_b);
    let config = killed.dir.path().join("fieldsync.toml");
    write_private(&config, &killed.config_toml());
    let mut h = killed;
    h.engine = None; // the binary owns the database now
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2026);
    let mut kills = 0;
    for i in 0..CYCLES {
        edits(i, &plan, &h.pair);
        let child: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(None));
        // A cycle sends about a dozen requests to weavy and half as many to Mautic.
        let (on_side, requests) = if rng.random_bool(0.5) {
            (h.pair.weavy.control(), 1..12)
        } else {
            (h.pair.mautic.control(), 1..7)
        };
        let killer = child.clone();
        on_side.on_request(
            rng.random_range(requests),
            rng.random_bool(0.5),
            Arc::new(move || {
                if let Some(c) = killer.lock().unwrap().as_mut() {
                    let _ = c.kill();
                }
            }),
        );
        *child.lock().unwrap() = Some(spawn(&config));
        let status = tokio::task::spawn_blocking({
            let child = child.clone();
            move || loop {
                let mut guard = child.lock().unwrap();
                let c = guard.as_mut().unwrap();
                if let Some(status) = c.try_wait().unwrap() {
                    return status;
                }
                drop(guard);
                std::thread::yield_now();
            }
        })
        .await
        .unwrap();
        h.pair.weavy.control().clear_hook();
        h.pair.mautic.control().clear_hook();
        if !status.success() {
            kills += 1;
        }
        // Restart: this run must finish the cycle.
        let out = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
            .args(["sync", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cycle {i} after a kill: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(snapshot(&h.pair), snapshot(&reference.pair));
    assert!(
        kills >= CYCLES * 3 / 4,
        "only {kills} of {CYCLES} runs were killed"
    );
    assert_people_agree(&h.pair);
    assert_no_entrant_shadows_a_contact(&h.pair);
    // No lost edit: every phone edited in weavy reached Mautic (when that person is in
    // Mautic) and every last name edited in Mautic reached weavy.
    let phones: std::collections::BTreeSet<String> = h
        .pair
        .mautic
        .contacts()
        .iter()
        .map(|c| text(c.fields.get("phone")))
        .collect();
    let names: std::collections::BTreeSet<String> = ["customercontact", "marketinginbound"]
        .iter()
        .flat_map(|t| h.pair.weavy.records(t))
        .map(|r| text(r.get("lastName")))
        .collect();
    let last_phone = format!("+33 1 99 99 99 {:02}", CYCLES - 1);
    assert!(
        phones.contains(&last_phone),
        "the last weavy edit reached Mautic"
    );
    assert!(
        names.contains(&format!("Nom-{}", CYCLES - 1)),
        "the last Mautic edit reached weavy"
    );
}

fn write_private(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}
