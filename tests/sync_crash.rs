//! Kill the process (SIGKILL) at random points of 50 cycles with edits in between, restart it
//! each time: the end state equals that of an uninterrupted run, with no duplicate and no lost
//! edit.
//!
//! The kill comes from the simulators themselves: on a chosen request (a random side, a random
//! request number, before the request is handled or after it is handled and before it is
//! answered), the simulator kills the fieldsync process. No sleeps, and the worst moments are
//! covered: a write done but never acknowledged, a page read but never stored.

mod common;

use common::{
    Harness, assert_no_entrant_shadows_a_contact, assert_people_agree, edits, emails_held_twice,
    snapshot, snapshot_records, text,
};
use fieldsync::sim::dataset::DatasetSpec;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

const CYCLES: usize = 50;

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
    killed_runs(false).await;
}

/// The same, with a sixth of the answers of both sides lost after the write landed (a cut
/// answer, a 5xx, no answer) during each run that is then killed: every kind of write (weavy
/// inserts and updates, Mautic batches, company inserts, links, the NPAI) whose answer was
/// lost is found out by the restart, never done twice, never lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_lost_answers_the_end_state_equals_an_uninterrupted_run() {
    killed_runs(true).await;
}

async fn killed_runs(lossy: bool) {
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
        let faults = |rate: f64| {
            for control in [h.pair.weavy.control(), h.pair.mautic.control()] {
                control.update_knobs(|k| {
                    k.fault_rate = rate;
                    k.fault_mix = fieldsync::sim::Fault::LOST_ANSWERS.to_vec();
                    k.stall = std::time::Duration::from_millis(20);
                    k.faults_on_auth = false;
                });
            }
        };
        if lossy {
            faults(0.16);
        }
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
        faults(0.0);
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
    let lost = h.pair.weavy.control().counters().total_faults()
        + h.pair.mautic.control().counters().total_faults();
    assert_eq!(lost > 20, lossy, "{lost} answers lost");
    let (got, want) = (snapshot(&h.pair), snapshot(&reference.pair));
    assert_eq!(got, want);
    // Records, not keys: a second record under one key would be in the snapshot, and no
    // e-mail is held twice on either side beyond the duplicates the data set was seeded with
    // (which the uninterrupted run keeps too).
    assert_eq!(
        emails_held_twice(&h.pair),
        emails_held_twice(&reference.pair)
    );
    assert!(
        kills >= CYCLES * 3 / 4,
        "only {kills} of {CYCLES} runs were killed"
    );
    // The conflict log holds each decision once: a cycle that ran again after a kill made
    // the same decisions (same entity, field, values and change times, base, rule, winner),
    // and logged none of them twice.
    let store =
        fieldsync::store::Store::open(h.db_path(), &fieldsync::store::StoreOptions::default())
            .unwrap();
    let entries: Vec<_> = store
        .conflicts(&Default::default())
        .map(Result::unwrap)
        .collect();
    let decisions: std::collections::BTreeSet<String> = entries
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap();
            v.as_object_mut().unwrap().remove("at");
            v.as_object_mut().unwrap().remove("cycle");
            v.to_string()
        })
        .collect();
    let reference_entries = reference.conflicts(Default::default()).len();
    println!(
        "{lost} answers lost; {kills} kills in {CYCLES} cycles; {} records compared; conflict log: {} lines for {} decisions (uninterrupted run: {reference_entries})",
        snapshot_records(&got),
        entries.len(),
        decisions.len()
    );
    assert_eq!(entries.len(), decisions.len(), "a decision logged twice");
    // Each killed cycle is in the history as killed; every other one ended.
    let reports = store
        .cycle_reports::<fieldsync::sync::CycleReport>(usize::MAX)
        .unwrap();
    let killed = reports.iter().filter(|(_, r)| r.is_unfinished()).count();
    assert_eq!(killed, kills, "every killed cycle is recorded as killed");
    // Each of the CYCLES rounds ran the binary twice: the run killed (or not), the restart.
    assert_eq!(reports.len(), 2 * CYCLES);
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
