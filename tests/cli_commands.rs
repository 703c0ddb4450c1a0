//! The operator's commands, run as a user runs them: the built binary, against the simulators.

mod common;

use common::cli::{fieldsync, loaded, path, stderr, stdout, terminate_on};
use common::{assert_people_agree, text};
use fieldsync::connector::WeavyRight;
use fieldsync::sim::SimPair;
use fieldsync::sim::dataset::{DatasetSpec, Plan};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs the binary with `args` off the runtime's threads (the simulators answer on them).
async fn run_blocking(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fieldsync(&args).output().unwrap()
    })
    .await
    .unwrap()
}

/// `init` for these simulators, with the secrets in the environment.
fn init(pair: &SimPair, config: &Path) {
    let out = fieldsync(&[
        "init",
        "--config",
        path(config),
        "--weavy-url",
        &pair.weavy.url(),
        "--weavy-project",
        pair.weavy.project_code(),
        "--weavy-user",
        "api.fieldsync",
        "--mautic-url",
        &pair.mautic.url(),
        "--mautic-client-id",
        "fieldsync-sim",
    ])
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn with_secrets(mut c: Command) -> Command {
    c.env("FIELDSYNC_WEAVY_PASSWORD", "weavy-demo-password")
        .env("FIELDSYNC_MAUTIC_CLIENT_SECRET", "sim-secret");
    c
}

#[test]
fn demo_ends_well_and_tells_of_a_conflict_and_a_lead_conversion() {
    let dir = tempfile::tempdir().unwrap();
    let out = fieldsync(&["demo", "--dir", path(dir.path())])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("[newer_wins]"), "{text}");
    assert!(text.contains("lead converted"), "{text}");
    // And the audit commands work on what it leaves.
    let db = dir.path().join("fieldsync.db");
    let csv = fieldsync(&["conflicts", "--db", path(&db), "--format", "csv"])
        .output()
        .unwrap();
    assert!(csv.status.success(), "{}", stderr(&csv));
    let status = fieldsync(&["status", "--db", path(&db), "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let rows = stdout(&csv).lines().count() - 1;
    assert!(rows > 0);
    assert_eq!(
        rows as u64,
        status["conflicts"].as_u64().unwrap(),
        "one CSV row per conflict"
    );
    assert!(stdout(&csv).starts_with("at,cycle,entity,object,field,rule,winner,"));
    // `duplicates` says why the kept record was kept.
    let dups = fieldsync(&["duplicates", "--db", path(&db), "--json"])
        .output()
        .unwrap();
    let groups: Vec<serde_json::Value> = stdout(&dups)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!groups.is_empty());
    assert!(
        groups.iter().all(|g| g["why"]
            .as_str()
            .is_some_and(|w| w.contains("the duplicate rule's pick")
                || w.contains("picked at an earlier cycle"))),
        "{groups:#?}"
    );
    // `history` shows a person's company by its name, not by the key it is matched on.
    let converted = text.lines().find(|l| l.contains("lead converted")).unwrap();
    let contact = converted
        .split_whitespace()
        .find(|w| w.starts_with('C') && w[1..].chars().all(|c| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no contact id in {converted}"));
    let history = fieldsync(&[
        "history",
        "--db",
        path(&db),
        "--format",
        "jsonl",
        &format!("customercontact:{contact}"),
    ])
    .output()
    .unwrap();
    assert!(history.status.success(), "{}", stderr(&history));
    let company_lines: Vec<serde_json::Value> = stdout(&history)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["field"] == "company" && l["event"] == "observed")
        .collect();
    assert!(!company_lines.is_empty(), "{}", stdout(&history));
    for l in &company_lines {
        let name = l["value"].as_str().unwrap();
        assert!(
            l["detail"]
                .as_str()
                .unwrap()
                .starts_with("the company held as")
                && name.chars().any(|c| c.is_ascii_uppercase()),
            "{l}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_then_check_passes_and_a_missing_right_is_named() {
    let pair = SimPair::start(3).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fieldsync.toml");
    init(&pair, &config);
    let out = tokio::task::spawn_blocking({
        let config = config.clone();
        move || {
            with_secrets(fieldsync(&["check", "--config", path(&config)]))
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out)
            .lines()
            .all(|l| l.starts_with("ok") || l.starts_with("all ")),
        "{}",
        stdout(&out)
    );
    // What it found out about how weavy reads each table.
    assert!(
        stdout(&out).contains("weavy: 'Client / Contact' reads as: "),
        "{}",
        stdout(&out)
    );

    pair.weavy
        .set_right("marketinginbound", WeavyRight::Insert, false);
    let out = tokio::task::spawn_blocking({
        let config = config.clone();
        move || {
            with_secrets(fieldsync(&["check", "--config", path(&config)]))
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let fail: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .map(str::to_owned)
        .collect();
    assert_eq!(fail.len(), 1, "{}", stdout(&out));
    assert!(
        fail[0].contains("Marketing / Entrant") && fail[0].contains("API ajout"),
        "{}",
        fail[0]
    );
    assert!(
        fail[0].contains("in weavy Studio, data dictionary, tick 'API ajout'"),
        "{}",
        fail[0]
    );
    assert!(
        stderr(&out).contains("1 check(s) failed"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stopped_by_sigterm_exits_cleanly_and_leaves_nothing_half_done() {
    let pair = SimPair::start(5).await.unwrap();
    let plan = Plan::new(DatasetSpec::small(5));
    plan.load(&pair);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fieldsync.toml");
    std::fs::write(
        &config,
        pair.config_toml(&dir.path().join("db"), &plan.person_fields_toml()),
    )
    .unwrap();

    let child = with_secrets(fieldsync(&[
        "run",
        "--every",
        "1s",
        "--config",
        path(&config),
    ]))
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let pid = child.id();
    // SIGTERM in the middle of the first cycle's writes to Mautic.
    let sent = terminate_on(pair.mautic.control(), 6, pid);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(*sent.lock().unwrap(), "the stop was sent during the cycle");
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    assert!(stderr(&out).contains("stopped"), "{}", stderr(&out));

    // Whatever was in flight is either done or still pending: one more sync finishes the job
    // with no duplicate and full agreement.
    let out = tokio::task::spawn_blocking({
        let config = config.clone();
        move || {
            with_secrets(fieldsync(&["sync", "--config", path(&config)]))
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_people_agree(&pair);
    let status = fieldsync(&["status", "--config", path(&config), "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["outbox"], 0);
    assert_eq!(
        status["cycles"][1]["interrupted"], true,
        "{:#}",
        status["cycles"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_counts_match_the_simulators() {
    let (pair, _dir, config) = loaded(9).await;
    for _ in 0..2 {
        let out = run_blocking(
            ["sync", "--config", path(&config)]
                .map(String::from)
                .to_vec(),
        )
        .await;
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = fieldsync(&["status", "--config", path(&config), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let status: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert_eq!(status["cycles"].as_array().unwrap().len(), 2);
    assert_eq!(
        status["requests_total"]["weavy"].as_u64().unwrap(),
        pair.weavy.control().counters().total_requests()
    );
    assert_eq!(
        status["requests_total"]["mautic"].as_u64().unwrap(),
        pair.mautic.control().counters().total_requests()
    );
    let inserted: u64 = status["cycles"][1]["inserts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let entrants = pair.weavy.api_inserts("marketinginbound") + pair.weavy.api_inserts("customer");
    let mautic_created: u64 = pair.mautic.created_per_email().values().sum();
    assert!(
        inserted >= entrants + mautic_created,
        "{inserted} vs {entrants} + {mautic_created}"
    );
    let human = fieldsync(&["status", "--config", path(&config)])
        .output()
        .unwrap();
    assert!(text(Some(&serde_json::json!(stdout(&human)))).contains("cycle"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_report_file_holds_the_cycle_its_steps_and_its_memory() {
    let (pair, dir, config) = loaded(12).await;
    let report = dir.path().join("report.json");
    let out = run_blocking(
        ["sync", "--config", path(&config), "--report", path(&report)]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let file: fieldsync::cmd::sync::ReportFile =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).expect("the report is JSON");
    // The same cycle the summary on standard output tells of, and the same requests the
    // simulators answered.
    assert!(stdout(&out).contains(&format!("cycle {} in", file.report.cycle)));
    let requests: u64 = file.report.requests.values().sum();
    assert_eq!(
        requests,
        pair.weavy.control().counters().total_requests()
            + pair.mautic.control().counters().total_requests()
    );
    assert!(file.report.total_pulled() > 0);
    // Every step that started ended, once, inside the cycle.
    let names: Vec<&str> = file.steps.iter().map(|s| s.step.as_str()).collect();
    for step in [
        "pull weavy customercontact",
        "pull mautic contact",
        "merge people",
        "apply people",
    ] {
        assert_eq!(
            names.iter().filter(|n| **n == step).count(),
            1,
            "{step} in {names:?}"
        );
    }
    let cycle_s = file.report.duration_ms as f64 / 1000.0;
    for s in &file.steps {
        assert!(s.start_s >= 0.0 && s.seconds >= 0.0, "{s:?}");
        assert!(
            s.start_s + s.seconds <= cycle_s + 0.5,
            "{s:?} in {cycle_s} s"
        );
    }
    if cfg!(target_os = "linux") {
        assert!(file.peak_rss_bytes.is_some_and(|b| b > 1 << 20));
    }
    // The report holds no secret of the configuration.
    let text = std::fs::read_to_string(&report).unwrap();
    let settings = pair.config(&dir.path().join("db"), "");
    for secret in [&settings.weavy.password, &settings.mautic.client_secret] {
        let secret = secret.as_ref().map_or("", |s| s.expose());
        assert!(secret.len() > 4 && !text.contains(secret), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_lists_both_sides_custom_fields_and_mappings() {
    let pair = SimPair::start(4).await.unwrap();
    pair.mautic.add_custom_field("contact", "segment", "text");
    pair.weavy
        .add_custom_field("customercontact", "segment", "text");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fieldsync.toml");
    std::fs::write(&config, pair.config_toml(&dir.path().join("db"), "")).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        fieldsync(&["fields", "--config", path(&config), "--object", "contact"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("mautic contact (Contacts)"), "{text}");
    let line = |code: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{code} ")))
            .unwrap_or_else(|| panic!("{code} in {text}"))
            .to_owned()
    };
    assert!(line("segment").contains("custom"), "{}", line("segment"));
    assert!(
        line("firstname").ends_with("firstname"),
        "mapped as firstname: {}",
        line("firstname")
    );
    assert!(
        line("dnc_bounced").contains(" no "),
        "read-only: {}",
        line("dnc_bounced")
    );
    assert!(
        !text.contains("weavy customercontact"),
        "only the object asked for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_on_request_and_bars_stay_off_a_pipe() {
    let pair = SimPair::start(6).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fieldsync.toml");
    std::fs::write(&config, pair.config_toml(&dir.path().join("db"), "")).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        fieldsync(&[
            "sync",
            "-vv",
            "--log-format",
            "json",
            "--config",
            path(&config),
        ])
        .output()
        .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<&str> = std::str::from_utf8(&out.stderr).unwrap().lines().collect();
    assert!(lines.len() > 3, "trace logs expected");
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v.get("level").is_some(), "{l}");
    }
}

/// `run --every 0s` (or any period under a second) is refused before anything runs: it would
/// read both servers dozens of times a second. The config's `sync.period` has the same rule.
#[test]
fn a_period_under_a_second_is_refused() {
    for every in ["0s", "0", "500ms"] {
        let out = fieldsync(&["run", "--every", every]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{every}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("too short a time between cycles: at least 1s"),
            "{every}: {}",
            stderr(&out)
        );
    }
}

/// `init --mautic-url acme.example.com` (no scheme) is a usage error that says what to write,
/// not an "internal error", and writes nothing.
#[test]
fn init_with_a_bare_host_says_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fieldsync.toml");
    for flag in ["--mautic-url", "--weavy-url"] {
        let out = fieldsync(&["init", "--config", path(&config), flag, "acme.example.com"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("write https://acme.example.com"),
            "{}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("internal error"), "{}", stderr(&out));
        assert!(!config.exists());
    }
}

/// `sim --config PATH` does not overwrite an existing file unless told to (`--force`).
#[test]
fn sim_never_overwrites_a_config_silently() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fieldsync.toml");
    std::fs::write(&config, "# mine\n").unwrap();
    let out = fieldsync(&["sim", "--config", path(&config)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already exists: pass --force"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "# mine\n");
}

/// `sync --report` to a path that cannot be written fails before anything is synced: no
/// request reaches either side. (Before: it synced, then failed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_cannot_be_written_stops_sync_before_it_starts() {
    let (pair, dir, config) = loaded(5).await;
    let bad = dir.path().join("no such folder").join("cycle.json");
    let out = run_blocking(vec![
        "sync".into(),
        "--config".into(),
        path(&config).into(),
        "--report".into(),
        bad.display().to_string(),
    ])
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cycle.json"), "{}", stderr(&out));
    assert_eq!(pair.weavy.control().counters().total_requests(), 0);
    assert_eq!(pair.mautic.control().counters().total_requests(), 0);
}
