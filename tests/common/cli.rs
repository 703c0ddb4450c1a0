//! Running the real binary, as a user runs it, against the simulators.

use fieldsync::sim::SimPair;
use fieldsync::sim::dataset::{DatasetSpec, Plan};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `fieldsync` binary with `args`, in an environment that holds none of fieldsync's own
/// variables (a developer's shell must not change what a test sees).
pub fn fieldsync(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fieldsync"));
    c.args(args)
        .env_remove("FIELDSYNC_CONFIG")
        .env_remove("FIELDSYNC_DB")
        .env_remove("FIELDSYNC_WEAVY_PASSWORD")
        .env_remove("FIELDSYNC_MAUTIC_CLIENT_SECRET")
        .env_remove("FIELDSYNC_MAUTIC_PASSWORD")
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG");
    c
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Both simulators loaded with the small data set of `seed`, and a configuration file for them
/// (its database `db` beside it).
pub async fn loaded(seed: u64) -> (SimPair, tempfile::TempDir, PathBuf) {
    let pair = SimPair::start(seed).await.unwrap();
    Plan::new(DatasetSpec::small(seed)).load(&pair);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fieldsync.toml");
    std::fs::write(&config, pair.config_toml(&dir.path().join("db"), "")).unwrap();
    (pair, dir, config)
}

/// Runs `command` off the runtime's threads (the simulators answer on them).
pub async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// The binary with `args`, run off the runtime's threads.
pub async fn run(args: &[&str]) -> Output {
    output(fieldsync(args)).await
}

/// The exit code, or a panic that says what the process printed.
pub fn code(o: &Output) -> i32 {
    o.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal; stderr: {}", stderr(o)))
}

/// Sends SIGTERM to process `pid` when `control`'s simulator gets its `n`-th request from now;
/// the flag says whether it was sent.
pub fn terminate_on(
    control: &fieldsync::sim::SimControl,
    n: u64,
    pid: u32,
) -> std::sync::Arc<std::sync::Mutex<bool>> {
    let sent = std::sync::Arc::new(std::sync::Mutex::new(false));
    let flag = sent.clone();
    control.on_request(
        n,
        false,
        std::sync::Arc::new(move || {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            *flag.lock().unwrap() = true;
        }),
    );
    sent
}
