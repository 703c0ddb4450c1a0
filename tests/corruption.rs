//! A damaged database: truncated, emptied, overwritten with garbage, its sled files deleted or
//! mangled. Opening it gives a `StoreError` that says what to do, never a panic, and never a
//! silently older state (sled recovers a damaged log as its longest valid prefix: the seal of
//! `store::integrity` catches what that loses). Then the documented recovery path, with the
//! real binary: `sync` refuses the damaged database; moved aside, `sync --full` rebuilds the
//! state from both sides without creating a single duplicate; `conflicts --db <old>` still
//! exports what its conflict log holds, with a warning.

use fieldsync::sim::SimPair;
use fieldsync::sim::dataset::{DatasetSpec, Plan};
use fieldsync::store::{ConflictFilter, SEAL_FILE, Store, StoreError, StoreOptions};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs the binary with a config or a database; output and exit code.
fn fieldsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .output()
        .expect("run fieldsync")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Two synced systems with conflicts in the log, and a config pointing at `db`.
async fn synced(dir: &Path) -> (SimPair, Plan, PathBuf, PathBuf) {
    let pair = SimPair::start(41).await.unwrap();
    let plan = Plan::new(DatasetSpec::small(41));
    plan.load(&pair);
    let db = dir.join("db");
    let config = dir.join("fieldsync.toml");
    std::fs::write(&config, pair.config_toml(&db, &plan.person_fields_toml())).unwrap();
    let c = config.to_str().unwrap();
    let o = fieldsync(&["sync", "--config", c]);
    assert!(o.status.success(), "{}", text(&o));
    (pair, plan, db, config)
}

/// Edits on both sides of the same field, so that the next cycle logs conflicts.
fn clashing_edits(pair: &SimPair, plan: &Plan, tag: &str) {
    for p in plan
        .people
        .iter()
        .filter(|p| p.in_mautic && !p.lead && p.weavy_id.is_some())
        .take(4)
    {
        let id = p.weavy_id.as_deref().unwrap();
        pair.weavy.edit(
            "customercontact",
            id,
            &[("firstName", json!(format!("W{tag}")))],
        );
        if let Some(m) = pair.mautic.contacts_with_email(&p.email).first() {
            pair.mautic
                .edit_contact(*m, &[("firstname", json!(format!("M{tag}")))]);
        }
    }
}

/// What a healthy database holds, to compare a damaged one with.
#[derive(Debug, PartialEq)]
struct Content {
    cycle: u64,
    conflicts: usize,
    records: usize,
    entities: usize,
}

fn content(s: &Store) -> Result<Content, StoreError> {
    let conflicts = s
        .conflicts(&ConflictFilter::default())
        .collect::<Result<Vec<_>, _>>()?
        .len();
    let stats = s.stats();
    Ok(Content {
        cycle: s.last_cycle()?,
        conflicts,
        records: stats.records,
        entities: s.entities().collect::<Result<Vec<_>, _>>()?.len(),
    })
}

/// What to do to a database directory.
type Harm = Box<dyn Fn(&Path)>;
/// What to do to the bytes of sled's `db` file.
type Edit = Box<dyn Fn(&mut Vec<u8>)>;
/// The ways a database can be damaged: (name, harm).
type Damage = (String, Harm);

fn damages(db_len: usize) -> Vec<Damage> {
    let mut out: Vec<Damage> = Vec::new();
    let edit = |f: Edit| -> Harm {
        Box::new(move |dir: &Path| {
            let p = dir.join("db");
            let mut bytes = std::fs::read(&p).unwrap();
            f(&mut bytes);
            std::fs::write(&p, bytes).unwrap();
        })
    };
    for k in [0, 1, 2, 4, 8, 12, 15] {
        let at = db_len * k / 16;
        out.push((
            format!("db truncated to {k}/16"),
            edit(Box::new(move |b| b.truncate(at))),
        ));
    }
    out.push((
        "db truncated by its last 100 bytes".into(),
        edit(Box::new(|b| {
            let n = b.iter().rposition(|x| *x != 0).unwrap_or(0);
            b.truncate(n.saturating_sub(100));
        })),
    ));
    for (name, from, len) in [
        ("header", 0usize, 64usize),
        ("first 4 KiB", 0, 4096),
        ("middle 4 KiB", db_len / 2, 4096),
        ("last written 4 KiB", usize::MAX, 4096),
    ] {
        out.push((
            format!("db {name} overwritten with garbage"),
            edit(Box::new(move |b| {
                let end = b.iter().rposition(|x| *x != 0).unwrap_or(0);
                let start = if from == usize::MAX {
                    end.saturating_sub(len)
                } else {
                    from.min(b.len())
                };
                let mut x: u32 = 0x9E37_79B9;
                for byte in b.iter_mut().skip(start).take(len) {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    *byte = x as u8;
                }
            })),
        ));
    }
    out.push((
        "db zeroed".into(),
        edit(Box::new(|b| b.iter_mut().for_each(|x| *x = 0))),
    ));
    out.push((
        "db replaced by a text file".into(),
        edit(Box::new(|b| *b = b"not a database\n".to_vec())),
    ));
    out.push((
        "db deleted".into(),
        Box::new(|dir: &Path| std::fs::remove_file(dir.join("db")).unwrap()),
    ));
    out.push((
        "sled conf overwritten".into(),
        Box::new(|dir: &Path| std::fs::write(dir.join("conf"), b"segment_size: x\n").unwrap()),
    ));
    out.push((
        "snapshots deleted".into(),
        Box::new(|dir: &Path| {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("snap.")
                {
                    std::fs::remove_file(p).unwrap();
                }
            }
        }),
    ));
    out.push((
        "snapshots garbled".into(),
        Box::new(|dir: &Path| {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("snap.")
                {
                    let mut b = std::fs::read(&p).unwrap();
                    let n = b.len();
                    b[n / 3..n / 2].iter_mut().for_each(|x| *x ^= 0xA5);
                    std::fs::write(&p, b).unwrap();
                }
            }
        }),
    ));
    out.push((
        "seal garbled".into(),
        Box::new(|dir: &Path| std::fs::write(dir.join(SEAL_FILE), b"\x00\x01").unwrap()),
    ));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_gives_a_clear_error_never_a_panic_or_silent_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let (pair, plan, db, config) = synced(tmp.path()).await;
    clashing_edits(&pair, &plan, "1");
    let o = fieldsync(&["sync", "--config", config.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));

    // The healthy content, read from a copy (the original stays untouched).
    let healthy_copy = tmp.path().join("healthy");
    copy_dir(&db, &healthy_copy);
    let healthy = content(&Store::open(&healthy_copy, &StoreOptions::default()).unwrap()).unwrap();
    assert!(healthy.conflicts > 0 && healthy.records > 0, "{healthy:?}");
    let db_len = std::fs::metadata(db.join("db")).unwrap().len() as usize;

    // Any panic, in this thread or in one of sled's, is a failure.
    let panics = Arc::new(AtomicUsize::new(0));
    let seen = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        seen.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    let mut outcomes = Vec::new();
    for (i, (name, damage)) in damages(db_len).into_iter().enumerate() {
        let copy = tmp.path().join(format!("damaged-{i}"));
        copy_dir(&db, &copy);
        damage(&copy);
        let before = panics.load(Ordering::SeqCst);
        let result =
            std::panic::catch_unwind(|| match Store::open(&copy, &StoreOptions::default()) {
                Ok(s) => match content(&s) {
                    Ok(c) if c == healthy => "opens, nothing lost".to_owned(),
                    Ok(c) => panic!("{name}: SILENT LOSS: opened as {c:?} instead of {healthy:?}"),
                    Err(e) => {
                        assert!(matches!(e, StoreError::Corrupt { .. }), "{name}: {e:?}");
                        format!("opens, reading fails: {e}")
                    }
                },
                Err(e) => {
                    let m = e.to_string();
                    assert!(
                        matches!(
                            e,
                            StoreError::Damaged { .. }
                                | StoreError::Corrupt { .. }
                                | StoreError::Open { .. }
                        ),
                        "{name}: {e:?}"
                    );
                    assert!(!matches!(e, StoreError::Locked { .. }), "{name}: {m}");
                    if matches!(e, StoreError::Damaged { .. }) {
                        assert!(
                            m.contains("sync --full") && m.contains("conflicts --db"),
                            "{name}: {m}"
                        );
                    }
                    format!("refused: {m}")
                }
            });
        let outcome = result.unwrap_or_else(|p| {
            let m = p
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "a panic".into());
            format!("PANIC: {m}")
        });
        assert_eq!(panics.load(Ordering::SeqCst), before, "{name}: {outcome}");
        eprintln!("{name}: {outcome}");
        outcomes.push((name, outcome));
    }
    let _ = std::panic::take_hook();
    let refused = outcomes
        .iter()
        .filter(|(_, o)| o.starts_with("refused"))
        .count();
    assert!(refused >= 10, "most damage is refused: {outcomes:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recovery_path_rebuilds_the_state_and_keeps_the_old_conflict_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (pair, plan, db, config) = synced(tmp.path()).await;
    let c = config.to_str().unwrap();
    clashing_edits(&pair, &plan, "1");
    let o = fieldsync(&["sync", "--config", c]);
    assert!(o.status.success(), "{}", text(&o));
    let export = |db: &Path| {
        let o = fieldsync(&[
            "conflicts",
            "--db",
            db.to_str().unwrap(),
            "--format",
            "jsonl",
        ]);
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).lines().count(),
            text(&o),
        )
    };
    let (_, logged_before, _) = export(&db);
    assert!(logged_before > 0);

    // The database loses its last durable writes: the file as it was before the third cycle
    // comes back (a truncated tail, a restore of an old copy), the seal stays.
    let older = tmp.path().join("older");
    copy_dir(&db, &older);
    clashing_edits(&pair, &plan, "2");
    let o = fieldsync(&["sync", "--config", c]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, logged_after, _) = export(&db);
    assert!(
        logged_after > logged_before,
        "{logged_after} > {logged_before}"
    );
    for e in std::fs::read_dir(&db).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap() != SEAL_FILE {
            if p.is_dir() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
    }
    std::fs::remove_file(older.join(SEAL_FILE)).unwrap();
    copy_dir(&older, &db);

    // 1. sync refuses it, says what to do, changes nothing, does not panic.
    let writes_before = (
        pair.weavy.control().counters().total_requests(),
        pair.mautic.control().counters().total_requests(),
    );
    let o = fieldsync(&["sync", "--config", c]);
    let t = text(&o);
    assert_eq!(
        o.status.code(),
        Some(5),
        "exit 5: the database is damaged: {t}"
    );
    assert!(
        t.contains("is damaged") && t.contains("sync --full") && t.contains("docs/RECOVERY.md"),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");
    assert_eq!(
        (
            pair.weavy.control().counters().total_requests(),
            pair.mautic.control().counters().total_requests()
        ),
        writes_before,
        "nothing was sent to either side"
    );

    // 2. Its conflict log can still be exported, with a warning: the entries it still holds.
    let (ok, lines, t) = export(&db);
    assert!(ok, "{t}");
    assert!(
        t.contains("is damaged") && t.contains("may be incomplete"),
        "{t}"
    );
    assert_eq!(lines, logged_before, "{t}");

    // 3. Moved aside, a full resync rebuilds the state: every record is found again by its
    //    e-mail or key, nothing is created twice, and the next cycle has nothing to do.
    let aside = tmp.path().join("db.damaged");
    std::fs::rename(&db, &aside).unwrap();
    let people = |pair: &SimPair| {
        (
            pair.mautic.contacts().len(),
            pair.mautic.companies().len(),
            pair.weavy.records("customercontact").len(),
            pair.weavy.records("marketinginbound").len(),
            pair.weavy.records("customer").len(),
        )
    };
    let before = people(&pair);
    let o = fieldsync(&["sync", "--full", "--config", c]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(people(&pair), before, "a full resync creates nothing");
    for (email, n) in pair.mautic.created_per_email() {
        assert!(n <= 1, "Mautic contact {email} created {n} times");
    }
    for table in ["customercontact", "marketinginbound", "customer"] {
        for (email, n) in pair.weavy.inserted_per_email(table) {
            assert!(n <= 1, "weavy {table} {email} inserted {n} times");
        }
    }
    let o = fieldsync(&["sync", "--config", c]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("writes: none"),
        "the rebuilt state is in agreement: {t}"
    );
    // The old log is still there, aside.
    let (ok, lines, _) = export(&aside);
    assert!(ok && lines == logged_before);
}

/// A full disk while sled wrote a snapshot leaves `snap.<lsn>.generating` behind, empty or
/// cut, and sled then refuses the database as corrupt. fieldsync recognises sled's unfinished
/// leftover, removes it (and says so in the log), and the database opens whole. (Before: every
/// command said the database is damaged, even once space was freed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_snapshot_left_by_a_full_disk_is_recovered_from() {
    let dir = tempfile::tempdir().unwrap();
    let (_pair, _plan, db, _config) = synced(dir.path()).await;
    let healthy = content(&Store::open(&db, &StoreOptions::default()).unwrap()).unwrap();
    // A snapshot newer than any sled has, never finished: empty, then cut after some bytes.
    for leftover in [Vec::new(), vec![0x5a; 7], vec![0x5a; 4096]] {
        let path = db.join("snap.7FFFFFFFFFFFFFFF.generating");
        std::fs::write(&path, &leftover).unwrap();
        let store = Store::open(&db, &StoreOptions::default())
            .unwrap_or_else(|e| panic!("{} bytes left: {e}", leftover.len()));
        assert_eq!(content(&store).unwrap(), healthy);
        drop(store);
        assert!(!path.exists(), "the leftover was removed");
    }
    // Through the binary too: status reads it.
    let o = fieldsync(&["status", "--db", db.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
}

/// `conflicts --db DAMAGED`, the recovery path of docs/RECOVERY.md, on every kind of damage
/// above: it exports whatever of the conflict log can still be read (from a private copy
/// without its snapshots when sled refuses the database), skips what cannot
/// be read, and says how much may be lost. (Before: it exported only when the seal was the
/// only damage, and exited 1 on a cut database file or snapshot.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salvage_exports_what_is_left_of_the_conflict_log_whatever_the_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let (pair, plan, db, config) = synced(tmp.path()).await;
    clashing_edits(&pair, &plan, "1");
    let o = fieldsync(&["sync", "--config", config.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let healthy = content(&Store::open(&db, &StoreOptions::default()).unwrap()).unwrap();
    let db_len = std::fs::metadata(db.join("db")).unwrap().len() as usize;
    let mut outcomes = Vec::new();
    for (i, (name, damage)) in damages(db_len).into_iter().enumerate() {
        let copy = tmp.path().join(format!("salvage-{i}"));
        copy_dir(&db, &copy);
        damage(&copy);
        let o = fieldsync(&[
            "conflicts",
            "--db",
            copy.to_str().unwrap(),
            "--format",
            "jsonl",
        ]);
        let said = text(&o);
        assert!(o.status.success(), "{name}: {said}");
        let lines = String::from_utf8_lossy(&o.stdout).lines().count();
        assert!(lines <= healthy.conflicts, "{name}: {lines} lines");
        if lines < healthy.conflicts {
            assert!(
                said.contains("may be lost") || said.contains("damaged"),
                "{name}: a partial export says so: {said}"
            );
        }
        // Asked again, the same: a salvage leaves the database readable as it found it.
        let again = fieldsync(&[
            "conflicts",
            "--db",
            copy.to_str().unwrap(),
            "--format",
            "jsonl",
        ]);
        assert!(again.status.success(), "{name}: {}", text(&again));
        assert_eq!(
            String::from_utf8_lossy(&again.stdout).lines().count(),
            lines,
            "{name}: a second salvage"
        );
        eprintln!("{name}: {lines} of {} entries", healthy.conflicts);
        outcomes.push((name, lines));
    }
    let whole = outcomes
        .iter()
        .filter(|(_, n)| *n == healthy.conflicts)
        .count();
    assert!(
        whole >= 4,
        "the damage that spares the log loses nothing: {outcomes:?}"
    );
}
