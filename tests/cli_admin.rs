//! What an administrator meets on the command line (issue 18): where things are found, what
//! the exit codes say, what `-q` prints, what a dry run lists. The real binary, against the
//! simulators.

mod common;

use common::cli::{code, fieldsync, loaded, output, path, run, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_takes_config_and_db_and_honours_both_variables() {
    let (_pair, dir, config) = loaded(21).await;
    // FIELDSYNC_CONFIG for sync; the database is the config's.
    let mut sync = fieldsync(&["sync"]);
    sync.env("FIELDSYNC_CONFIG", &config);
    let out = output(sync).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(dir.path().join("db").exists());
    // The reading commands find it through the config too, by flag or variable.
    for args in [
        vec!["conflicts", "--config", path(&config)],
        vec!["duplicates", "--config", path(&config)],
        vec!["status", "--config", path(&config)],
        vec!["history", "--config", path(&config), "contact:1"],
    ] {
        let out = run(&args).await;
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        let mut by_env = fieldsync(&args[..1]);
        by_env.args(&args[3..]).env("FIELDSYNC_CONFIG", &config);
        let out = output(by_env).await;
        assert_eq!(
            code(&out),
            0,
            "{args:?} by FIELDSYNC_CONFIG: {}",
            stderr(&out)
        );
    }
    // FIELDSYNC_DB (and --db) overrides the config's store.path for sync and run alike.
    let other = dir.path().join("other.db");
    let mut sync = fieldsync(&["sync", "--config", path(&config)]);
    sync.env("FIELDSYNC_DB", &other);
    let out = output(sync).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(other.exists(), "sync honours FIELDSYNC_DB");
    let out = run(&["status", "--db", path(&other), "--json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["cycles"].as_array().unwrap().len(), 1);
    let third = dir.path().join("third.db");
    let out = run(&[
        "sync",
        "--config",
        path(&config),
        "--db",
        path(&third),
        "--dry-run",
    ])
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(third.exists(), "sync takes --db");
    let out = run(&["conflicts", "--config", path(&dir.path().join("none.toml"))]).await;
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("none.toml"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_prints_nothing_unless_something_failed_and_logs_take_no_colour_off_a_terminal() {
    let (pair, _dir, config) = loaded(22).await;
    let out = run(&["sync", "-q", "--config", path(&config)]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "",
        "a quiet cycle that went well prints nothing"
    );
    assert_eq!(stderr(&out), "");
    // A record with a value neither side can hold: the cycle ends, the record is reported, and
    // -q prints the summary with it (exit 3: done with record errors).
    pair.mautic.add_contact(&[
        ("firstname", serde_json::json!("x".repeat(70_000))),
        ("lastname", serde_json::json!("TooLong")),
        ("email", serde_json::json!("too.long@exemple.fr")),
    ]);
    let out = run(&["sync", "-q", "--config", path(&config)]).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("field firstname (firstname) skipped"),
        "{}",
        stdout(&out)
    );
    // Logs on a pipe carry no ANSI escapes (a warning is logged for the readable secret).
    let out = run(&["status", "--config", path(&config)]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("WARN"), "{}", stderr(&out));
    assert!(!stderr(&out).contains('\u{1b}'), "{:?}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_say_what_happened_and_status_check_watches_the_last_cycle() {
    let (_pair, dir, config) = loaded(23).await;
    // Usage and configuration: 2.
    let out = run(&["sync", "--config", path(&dir.path().join("none.toml"))]).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = run(&["sync", "--frobnicate"]).await;
    assert_eq!(code(&out), 2);
    // Nothing synced yet: status --check is unhealthy, and there is no database: 2.
    let out = run(&["status", "--check", "--config", path(&config)]).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));

    let out = run(&["sync", "--config", path(&config)]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(&["status", "--check", "--config", path(&config)]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("ok   cycle 1 ended"),
        "{}",
        stdout(&out)
    );
    let out = run(&["status", "-q", "--check", "--config", path(&config)]).await;
    assert_eq!((code(&out), stdout(&out).as_str()), (0, ""));
    let out = run(&[
        "status",
        "--check",
        "--max-age",
        "1ms",
        "--config",
        path(&config),
    ])
    .await;
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(stdout(&out).contains("more than 1ms"), "{}", stdout(&out));

    // status --json: a schema version, the last success, one shape for request counts.
    let out = run(&["status", "--json", "--config", path(&config)]).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["schema_version"], 1);
    assert_eq!(status["last_success_cycle"], 1);
    assert!(status["last_success"].is_string());
    for requests in [&status["requests"], &status["cycles"][0]["requests"]] {
        let weavy = requests["weavy"]
            .as_object()
            .expect("by side, then by kind");
        assert!(weavy.values().all(|n| n.as_u64().is_some_and(|n| n > 0)));
    }

    // The database in use by another process: 4, and the advice names an option sync takes.
    let db = dir.path().join("db");
    let held = fieldsync::store::Store::open(&db, &Default::default()).unwrap();
    let out = run(&["sync", "--config", path(&config)]).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("--db"), "{}", stderr(&out));
    let out = run(&["status", "--wait", "0s", "--config", path(&config)]).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    drop(held);

    // A damaged database: 5.
    std::fs::write(db.join("conf"), b"segment_size: x\n").unwrap();
    let out = run(&["sync", "--config", path(&config)]).await;
    assert_eq!(code(&out), 5, "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_os_error_is_said_once() {
    let (_pair, dir, config) = loaded(24).await;
    let out = run(&[
        "sync",
        "--config",
        path(&config),
        "--report",
        path(&dir.path().join("no/such/dir/report.json")),
    ])
    .await;
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_stopped_by_sigterm_stops_cleanly_and_the_next_says_what_it_resumed() {
    let pair = fieldsync::sim::SimPair::start(25).await.unwrap();
    let plan = fieldsync::sim::dataset::Plan::new(fieldsync::sim::dataset::DatasetSpec::small(25));
    plan.load(&pair);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fieldsync.toml");
    std::fs::write(
        &config,
        pair.config_toml(&dir.path().join("db"), &plan.person_fields_toml()),
    )
    .unwrap();
    // A dry run reads what the cycle will read: the stop comes a few requests after that,
    // among the writes to weavy (one record a call).
    let out = run(&["sync", "--dry-run", "--config", path(&config)]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let reads = pair.weavy.control().counters().total_requests();
    let child = fieldsync(&["sync", "--config", path(&config)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let sent = common::cli::terminate_on(pair.weavy.control(), reads + 4, pid);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(*sent.lock().unwrap(), "the stop was sent during the cycle");
    assert_eq!(code(&out), 0, "a stop is not a failure: {}", stderr(&out));
    assert!(
        stdout(&out).contains("stopped by a signal"),
        "{}",
        stdout(&out)
    );
    let status = run(&["status", "--json", "--config", path(&config)]).await;
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["cycles"][0]["interrupted"], true);
    let (patches, to_merge) = (
        status["outbox"].as_u64().unwrap(),
        status["dirty"].as_u64().unwrap(),
    );
    assert!(patches + to_merge > 0, "the stop left work: {status:#}");
    let human = run(&["status", "--config", path(&config)]).await;
    assert!(stdout(&human).contains("stopped"), "{}", stdout(&human));

    let out = run(&["sync", "--config", path(&config)]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "resumed: {patches} write(s), 0 unanswered insert(s) and {to_merge} record(s) to merge"
        )),
        "{}",
        stdout(&out)
    );
    common::assert_people_agree(&pair);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_refuses_another_pair_of_instances() {
    let (_pair, dir, config) = loaded(26).await;
    let out = run(&["sync", "--config", path(&config)]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Another pair (the same project code, other addresses: a restored copy, a test instance)
    // on the same database.
    let other = fieldsync::sim::SimPair::start(27).await.unwrap();
    fieldsync::sim::dataset::Plan::new(fieldsync::sim::dataset::DatasetSpec::small(27))
        .load(&other);
    let other_config = dir.path().join("other.toml");
    std::fs::write(&other_config, other.config_toml(&dir.path().join("db"), "")).unwrap();
    let before = other.mautic.control().counters().total_requests()
        + other.weavy.control().counters().total_requests();
    let out = run(&["sync", "--config", path(&other_config)]).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("holds the state of weavy project"), "{err}");
    assert!(err.contains(&other.mautic.url()), "{err}");
    assert!(err.contains("--db") && err.contains("--moved"), "{err}");
    assert_eq!(
        other.mautic.control().counters().total_requests()
            + other.weavy.control().counters().total_requests(),
        before,
        "nothing was read from or written to the other pair"
    );
    let out = run(&["check", "--config", path(&other_config)]).await;
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("FAIL the database at"),
        "{}",
        stdout(&out)
    );
    // The same instances at new addresses: said once, then synced as usual.
    let out = run(&["sync", "--moved", "--config", path(&other_config)]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(&["sync", "--config", path(&other_config)]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(&["sync", "--config", path(&config)]).await;
    assert_eq!(code(&out), 2, "now the first pair is the other one");
}

#[test]
fn the_demo_never_reuses_an_earlier_demo_database() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("fieldsync.db")).unwrap();
    let out = fieldsync(&["demo", "--dir", path(dir.path())])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already holds a fieldsync database"),
        "{}",
        stderr(&out)
    );
}

/// The FAIL lines of `check`'s output.
fn fails(out: &std::process::Output) -> Vec<String> {
    stdout(out)
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .map(str::to_owned)
        .collect()
}

fn private(config: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(config, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_each_cause_once_and_does_not_retry_what_cannot_be_reached() {
    let (pair, dir, config) = loaded(28).await;
    let text = std::fs::read_to_string(&config).unwrap();
    // Nothing listens there (a port below 1024 nobody runs a test server on).
    let unreachable = dir.path().join("unreachable.toml");
    std::fs::write(
        &unreachable,
        text.replace(&pair.weavy.url(), "http://127.0.0.1:9")
            .replace(&pair.mautic.url(), "http://127.0.0.1:9"),
    )
    .unwrap();
    private(&unreachable);
    let out = run(&["check", "-vv", "--config", path(&unreachable)]).await;
    assert_eq!(code(&out), 1);
    let f = fails(&out);
    assert_eq!(f.len(), 2, "one FAIL a side: {}", stdout(&out));
    assert!(f[0].contains("could not connect"), "{f:?}");
    assert!(
        stdout(&out).contains("not checked"),
        "the checks that depend on it: {}",
        stdout(&out)
    );
    assert!(!stderr(&out).contains("retrying"), "{}", stderr(&out));

    // A wrong password: one FAIL.
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(
        &wrong,
        text.replace(
            "password = \"weavy-demo-password\"",
            "password = \"not-it\"",
        ),
    )
    .unwrap();
    private(&wrong);
    let out = run(&["check", "--config", path(&wrong)]).await;
    let f = fails(&out);
    assert_eq!(f.len(), 1, "{}", stdout(&out));
    assert!(
        f[0].starts_with("FAIL weavy: authentication refused"),
        "{f:?}"
    );

    // Every missing secret at once; an empty variable is said to be empty.
    let bare = dir.path().join("bare.toml");
    let no_secrets: String = text
        .lines()
        .filter(|l| !l.starts_with("password =") && !l.starts_with("client_secret ="))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&bare, no_secrets).unwrap();
    let mut c = fieldsync(&["check", "--config", path(&bare)]);
    c.env("FIELDSYNC_MAUTIC_CLIENT_SECRET", "");
    let out = output(c).await;
    assert_eq!(code(&out), 1);
    let f = fails(&out);
    assert_eq!(f.len(), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("FIELDSYNC_WEAVY_PASSWORD is not set")
            && stdout(&out).contains("FIELDSYNC_MAUTIC_CLIENT_SECRET is empty"),
        "{}",
        stdout(&out)
    );
    // And sync says the same, before it reaches anything.
    let mut c = fieldsync(&["sync", "--config", path(&bare)]);
    c.env("FIELDSYNC_MAUTIC_CLIENT_SECRET", "");
    let out = output(c).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2 secrets are missing"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_whose_types_would_write_junk_is_refused_by_check_and_sync() {
    let pair = fieldsync::sim::SimPair::start(29).await.unwrap();
    let plan = fieldsync::sim::dataset::Plan::new(fieldsync::sim::dataset::DatasetSpec::small(29));
    plan.load(&pair);
    // A weavy text field, a Mautic number, mapped as a number both ways.
    pair.weavy
        .add_custom_field("customercontact", "xScore", "text");
    pair.weavy
        .add_custom_field("marketinginbound", "xScore", "text");
    pair.mautic.add_custom_field("contact", "score2", "number");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fieldsync.toml");
    let mapping = |direction: &str| {
        format!(
            "{}\n[[person_fields]]\nname = \"score\"\nweavy = \"xScore\"\nmautic = \"score2\"\ntype = \"number\"\ndirection = \"{direction}\"\n",
            plan.person_fields_toml()
        )
    };
    std::fs::write(
        &config,
        pair.config_toml(&dir.path().join("db"), &mapping("both")),
    )
    .unwrap();
    private(&config);
    let out = run(&["check", "--config", path(&config)]).await;
    assert_eq!(code(&out), 1);
    let f = fails(&out);
    assert!(!f.is_empty(), "{}", stdout(&out));
    assert!(
        f.iter()
            .all(|l| l.contains("(score)") && l.contains("'xScore' is a text field")),
        "{f:#?}"
    );
    assert!(stdout(&out).contains("Compatible:"), "{}", stdout(&out));
    let before = pair.weavy.control().counters().total_requests();
    let out = run(&["sync", "--config", path(&config)]).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("xScore"), "{}", stderr(&out));
    assert_eq!(
        pair.weavy.api_updates("customercontact") + pair.weavy.api_inserts("marketinginbound"),
        0,
        "nothing written"
    );
    assert!(pair.weavy.control().counters().total_requests() > before);

    // Numbers that only go into the text field (Mautic wins) are what it can hold.
    std::fs::write(
        &config,
        pair.config_toml(&dir.path().join("db"), &mapping("mautic_wins")),
    )
    .unwrap();
    private(&config);
    let out = run(&["check", "--config", path(&config)]).await;
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    // And a text mapping never writes into a number field.
    std::fs::write(
        &config,
        pair.config_toml(
            &dir.path().join("db"),
            &mapping("weavy_wins").replace("type = \"number\"", "type = \"text\""),
        ),
    )
    .unwrap();
    private(&config);
    let out = run(&["check", "--config", path(&config)]).await;
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("would write text values into a number field"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_lists_creates_and_links_by_table_and_takes_no_cycle_number() {
    let (_pair, _dir, config) = loaded(30).await;
    let out = run(&["sync", "--dry-run", "--json", "--config", path(&config)]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["cycle"], 1);
    let creates: std::collections::BTreeMap<String, u64> = plan["summary"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["op"] == "create")
        .map(|l| {
            (
                l["object"].as_str().unwrap().to_owned(),
                l["records"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(creates.get("contact").is_some_and(|n| *n > 0), "{plan:#}");
    assert!(
        plan["company_links"].as_u64().unwrap() > 0,
        "{:#}",
        plan["summary"]
    );
    assert!(
        plan["writes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["field"] == "company" && w["new"].as_str().unwrap().contains("(E")),
        "a link names its company"
    );
    // The human listing says the same, table by table.
    let out = run(&["sync", "--dry-run", "--config", path(&config)]).await;
    let text = stdout(&out);
    assert!(text.contains("would create"), "{text}");
    assert!(
        text.contains(&format!(
            "would create {:>6} mautic contact record(s)",
            creates["contact"]
        )),
        "{text}"
    );
    assert!(!text.contains("created: none"), "{text}");

    // The cycle it announced is the one that runs, and creates what it said.
    let out = run(&["sync", "--json", "--config", path(&config)]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["cycle"], 1, "the dry runs took no cycle number");
    let made: std::collections::BTreeMap<String, u64> =
        serde_json::from_value(report["inserts"].clone()).unwrap();
    assert_eq!(made, creates, "the dry run's creates are the cycle's");
}
