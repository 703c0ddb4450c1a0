//! What an administrator meets on the command line (issue 18): where things are found, what
//! the exit codes say, what `-q` prints, what a dry run lists. The real binary, against the
//! simulators.

mod common;

use common::cli::{code, fieldsync, loaded, output, path, run, stderr};

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
