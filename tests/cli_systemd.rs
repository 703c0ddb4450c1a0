//! The shipped systemd units (`contrib/systemd/`) and the README's cron line work with the
//! layout the README documents (issue 18, point 7): config and secrets in /etc/fieldsync,
//! read-only to the service, the database in /var/lib/fieldsync. Each unit's `ExecStart=` runs as written, against the
//! simulators, with only `/etc/fieldsync`, `/var/lib/fieldsync` and the binary's path re-rooted
//! under a temporary directory. Run as root (as CI is), the command runs as `nobody`, the way
//! `User=fieldsync` runs it, so the read-only config directory is enforced by the kernel; run
//! as anyone else it runs as that user, with the config directory `chmod 0555`.

mod common;

use common::cli::{code, fieldsync, loaded, path, stderr, stdout};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const UNITS: [&str; 3] = [
    "fieldsync.service",
    "fieldsync-sync.service",
    "fieldsync-sync.timer",
];

fn unit_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib/systemd")
        .join(name)
}

/// The `key=value` lines of one section of a unit file, in order (a key may repeat).
fn section(unit: &str, name: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(unit_path(unit)).unwrap();
    let mut current = String::new();
    let mut lines = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            current = line.to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{unit}: not a directive: {line}"));
        if current == format!("[{name}]") {
            lines.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    lines
}

fn one(lines: &[(String, String)], key: &str) -> String {
    let found: Vec<_> = lines.iter().filter(|(k, _)| k == key).collect();
    assert_eq!(found.len(), 1, "{key}: {found:?}");
    found[0].1.clone()
}

#[test]
fn unit_files_have_no_comment_after_a_directive() {
    // systemd takes a `#` after a directive as part of its value (the README's old unit had
    // `EnvironmentFile=/etc/fieldsync/secrets.env   # ...`).
    for unit in UNITS {
        let text = std::fs::read_to_string(unit_path(unit)).unwrap();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with(';') || !line.contains('=') {
                continue;
            }
            assert!(
                !line.contains('#') && !line.contains(" ;"),
                "{unit}:{}: a comment on a directive's line is part of its value: {line}",
                n + 1
            );
        }
    }
}

#[test]
fn the_units_keep_the_state_in_the_state_directory_and_harden_the_service() {
    for unit in ["fieldsync.service", "fieldsync-sync.service"] {
        let service = section(unit, "Service");
        assert_eq!(one(&service, "StateDirectory"), "fieldsync", "{unit}");
        assert_eq!(one(&service, "User"), "fieldsync", "{unit}");
        assert_eq!(one(&service, "UMask"), "0077", "{unit}");
        assert_eq!(one(&service, "ProtectSystem"), "strict", "{unit}");
        assert_eq!(
            one(&service, "EnvironmentFile"),
            "/etc/fieldsync/secrets.env"
        );
        for key in ["NoNewPrivileges", "ProtectHome", "PrivateTmp"] {
            assert_eq!(one(&service, key), "yes", "{unit}: {key}");
        }
        // The command names the config; the database is the config's store.path.
        assert!(
            one(&service, "ExecStart").contains("--config /etc/fieldsync/fieldsync.toml"),
            "{unit}"
        );
    }
    assert_eq!(
        one(&section("fieldsync-sync.service", "Service"), "Type"),
        "oneshot"
    );
    assert!(one(&section("fieldsync-sync.service", "Service"), "ExecStart").contains(" sync "));
    assert!(one(&section("fieldsync.service", "Service"), "ExecStart").contains(" run "));
    assert_eq!(
        one(&section("fieldsync-sync.timer", "Install"), "WantedBy"),
        "timers.target"
    );
}

/// The documented layout under a temporary root: what `install` and `init` leave before the
/// service first starts, and what systemd does when it starts it.
struct Layout {
    root: tempfile::TempDir,
    /// The user the service runs as: `nobody` when the test runs as root, else the test's.
    user: Option<(u32, u32)>,
}

impl Layout {
    fn new(weavy_url: &str, mautic_url: &str) -> Layout {
        let root = tempfile::tempdir().unwrap();
        let user = is_root().then_some((65534, 65534));
        let layout = Layout { root, user };
        std::fs::set_permissions(layout.root.path(), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::create_dir_all(layout.etc()).unwrap();
        std::fs::create_dir_all(layout.var().parent().unwrap()).unwrap();
        // The README: `fieldsync init --config /etc/fieldsync/fieldsync.toml --db
        // /var/lib/fieldsync/fieldsync.db ...`, run by root.
        let config = layout.reroot("/etc/fieldsync/fieldsync.toml");
        let db = layout.reroot("/var/lib/fieldsync/fieldsync.db");
        let out = fieldsync(&[
            "init",
            "--config",
            &config,
            "--db",
            &db,
            "--weavy-url",
            weavy_url,
            "--weavy-project",
            "DEMO",
            "--weavy-user",
            "api.fieldsync",
            "--mautic-url",
            mautic_url,
            "--mautic-client-id",
            "fieldsync-sim",
        ])
        .output()
        .unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        // The secrets, one a line, readable by root only (systemd reads them).
        let secrets = layout.reroot("/etc/fieldsync/secrets.env");
        std::fs::write(
            &secrets,
            "FIELDSYNC_WEAVY_PASSWORD='weavy-demo-password'\nFIELDSYNC_MAUTIC_CLIENT_SECRET=sim-secret\n",
        )
        .unwrap();
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
        // `chgrp fieldsync fieldsync.toml && chmod 0640 fieldsync.toml`; the directory 0750.
        if let Some((_, gid)) = layout.user {
            std::os::unix::fs::chown(&config, None, Some(gid)).unwrap();
            std::os::unix::fs::chown(layout.etc(), None, Some(gid)).unwrap();
        }
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
        // What systemd does at start: StateDirectory=fieldsync (StateDirectoryMode=0700, owned
        // by User=), and the config directory read-only (ProtectSystem=strict).
        std::fs::create_dir(layout.var()).unwrap();
        std::fs::set_permissions(layout.var(), std::fs::Permissions::from_mode(0o700)).unwrap();
        if let Some((uid, gid)) = layout.user {
            std::os::unix::fs::chown(layout.var(), Some(uid), Some(gid)).unwrap();
        }
        std::fs::set_permissions(layout.etc(), std::fs::Permissions::from_mode(0o555)).unwrap();
        layout
    }

    fn etc(&self) -> PathBuf {
        self.root.path().join("etc/fieldsync")
    }

    fn var(&self) -> PathBuf {
        self.root.path().join("var/lib/fieldsync")
    }

    /// A path or a command line of the units, under the temporary root.
    fn reroot(&self, text: &str) -> String {
        text.replace("/usr/local/bin/fieldsync", env!("CARGO_BIN_EXE_fieldsync"))
            .replace("/etc/fieldsync", path(&self.etc()))
            .replace("/var/lib/fieldsync", path(&self.var()))
    }

    /// The config directory's files and their contents.
    fn etc_contents(&self) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(self.etc())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    }

    /// A unit's `ExecStart=` as systemd runs it: its environment (`Environment=`,
    /// `EnvironmentFile=`), its user and its working directory, and nothing else of ours.
    fn command(&self, unit: &str) -> Command {
        let service = section(unit, "Service");
        let exec = self.reroot(&one(&service, "ExecStart"));
        let words: Vec<&str> = exec.split_whitespace().collect();
        let mut command = fieldsync(&[]);
        // The binary itself is the re-rooted first word.
        assert_eq!(words[0], env!("CARGO_BIN_EXE_fieldsync"), "{exec}");
        command.args(&words[1..]);
        for (key, value) in &service {
            match key.as_str() {
                "Environment" => {
                    for assignment in value.split_whitespace() {
                        let (k, v) = assignment.split_once('=').unwrap();
                        command.env(k, self.reroot(v));
                    }
                }
                "EnvironmentFile" => {
                    let file = std::fs::read_to_string(self.reroot(value)).unwrap();
                    for line in file.lines().filter(|l| !l.trim().is_empty()) {
                        let (k, v) = line.split_once('=').unwrap();
                        command.env(k.trim(), v.trim().trim_matches('\''));
                    }
                }
                "WorkingDirectory" => {
                    command.current_dir(self.reroot(value));
                }
                _ => {}
            }
        }
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        command
    }

    /// What the service left: the database under the state directory, every file of it
    /// owner-only, and the config directory as it was.
    fn assert_state_in_var_only(&self, before: &BTreeMap<String, Vec<u8>>) {
        assert!(self.var().join("fieldsync.db").is_dir(), "no database");
        assert_eq!(&self.etc_contents(), before, "the config directory changed");
        for entry in walk(&self.var()) {
            let mode = std::fs::metadata(&entry).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", entry.display());
        }
        if let Some((uid, _)) = self.user {
            use std::os::unix::fs::MetadataExt;
            let db = std::fs::metadata(self.var().join("fieldsync.db")).unwrap();
            assert_eq!(db.uid(), uid, "the database is the service user's");
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all.extend(walk(&p));
        }
        all.push(p);
    }
    all
}

/// Whether the test runs as root (then the service's user is `nobody`).
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timer_units_sync_writes_only_the_state_directory() {
    let (pair, _dir, _config) = loaded(31).await;
    let layout = Layout::new(&pair.weavy.url(), &pair.mautic.url());
    let before = layout.etc_contents();
    let mut sync = layout.command("fieldsync-sync.service");
    let out = tokio::task::spawn_blocking(move || sync.output().unwrap())
        .await
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // `-q`: nothing printed when the cycle went well; the database says it did.
    assert_eq!(
        stdout(&out),
        "",
        "a quiet cycle that went well prints nothing"
    );
    assert_eq!(stderr(&out), "", "no log but errors");
    layout.assert_state_in_var_only(&before);

    // `sudo -u fieldsync fieldsync status --config /etc/fieldsync/fieldsync.toml` finds the
    // same database, through the config's store.path.
    let mut status = fieldsync(&[
        "status",
        "--json",
        "--config",
        &layout.reroot("/etc/fieldsync/fieldsync.toml"),
    ]);
    if let Some((uid, gid)) = layout.user {
        status.uid(uid).gid(gid);
    }
    let out = status.output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["cycles"].as_array().unwrap().len(), 1, "{status:#}");
    assert_eq!(status["outbox"], 0, "{status:#}");
    layout.assert_state_in_var_only(&before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_units_run_cycles_in_the_state_directory_and_stops_on_sigterm() {
    let (pair, _dir, _config) = loaded(32).await;
    let layout = Layout::new(&pair.weavy.url(), &pair.mautic.url());
    let before = layout.etc_contents();
    let mut child = layout
        .command("fieldsync.service")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let err = child.stderr.take().unwrap();
    // The JSON log, line by line: SIGTERM as soon as the first cycle is done (the period is
    // the config's 15 minutes, so no second cycle starts meanwhile).
    let log = tokio::task::spawn_blocking(move || {
        let mut log = Vec::new();
        for line in BufReader::new(err).lines() {
            let line = line.unwrap();
            let done = line.contains("cycle done") || line.contains("cycle failed");
            log.push(line);
            if done {
                Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .unwrap();
            }
        }
        log
    })
    .await
    .unwrap();
    let status = child.wait().unwrap();
    let log = log.join("\n");
    assert!(status.success(), "{status:?}: {log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let started = lines
        .iter()
        .find(|l| l["message"].as_str().unwrap_or("").contains("running"))
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(
        started["database"].as_str().unwrap(),
        path(&layout.var().join("fieldsync.db")),
        "{log}"
    );
    let done = lines
        .iter()
        .find(|l| l["message"] == "cycle done")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(done["errors"], 0, "{log}");
    assert!(log.contains("stopped"), "{log}");
    layout.assert_state_in_var_only(&before);
}

/// The README's cron line: its command, as cron's `sh` runs it for the user it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_cron_line_syncs_with_the_same_layout() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let block = readme
        .split("```cron\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the README has a ```cron block");
    let line = block.trim();
    assert_eq!(line.lines().count(), 1, "{line}");
    // Five time fields and the user (an /etc/cron.d line), then the command.
    let fields: Vec<&str> = line.splitn(7, ' ').collect();
    assert_eq!(fields[..5], ["*/15", "*", "*", "*", "*"], "{line}");
    assert_eq!(fields[5], "fieldsync", "{line}");
    let (pair, _dir, _config) = loaded(33).await;
    let layout = Layout::new(&pair.weavy.url(), &pair.mautic.url());
    // What the README says to do for cron: the secrets are the user's.
    if let Some((uid, gid)) = layout.user {
        std::fs::set_permissions(layout.etc(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(layout.etc().join("secrets.env"), Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(layout.etc(), std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let before = layout.etc_contents();
    let mut cron = Command::new("sh");
    cron.args(["-c", &layout.reroot(fields[6])])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/");
    if let Some((uid, gid)) = layout.user {
        cron.uid(uid).gid(gid);
    }
    let out = tokio::task::spawn_blocking(move || cron.output().unwrap())
        .await
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "",
        "cron mails nothing when the cycle went well"
    );
    assert_one_clean_cycle(&layout);
    layout.assert_state_in_var_only(&before);
}

/// The layout's database holds one cycle that went well, with nothing left to send.
fn assert_one_clean_cycle(layout: &Layout) {
    let db = layout.var().join("fieldsync.db");
    let mut status = fieldsync(&["status", "--json", "--db", path(&db)]);
    // As the service's user: a database opened by root would keep files it cannot read.
    if let Some((uid, gid)) = layout.user {
        status.uid(uid).gid(gid);
    }
    let out = status.output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["cycles"].as_array().unwrap().len(), 1, "{status:#}");
    assert_eq!(status["cycles"][0]["failed"], false);
    assert_eq!(status["outbox"], 0);
}
