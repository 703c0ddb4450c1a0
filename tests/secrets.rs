//! Secrets never leak: the real binary runs every command against both simulators with
//! distinctive passwords and client secrets, at trace level in JSON (and once with
//! `RUST_LOG=trace`, dependencies included), successful and failing runs alike; then
//! standard output, standard error, every exported file and the database itself are searched
//! for the passwords, the client secret, HTTP Basic credentials and every token the simulators
//! issued. Then the files' permissions: the database and the exports are owner-only, and a
//! config file holding a secret that others can read gets a warning.
//!
//! A command is one line of [`COMMANDS`].

use fieldsync::sim::SimPair;
use fieldsync::sim::dataset::{DatasetSpec, Plan};
use fieldsync::sim::mautic::MauticSimOptions;
use fieldsync::sim::weavy::WeavySimOptions;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

const WEAVY_PASSWORD: &str = "W3avy-Pa55-7f3e9c1a";
const MAUTIC_SECRET: &str = "M4utic-S3cret-b8d2e6f0";
const MAUTIC_PASSWORD: &str = "M4utic-Basic-Pa55-19c4";

/// What a command needs besides its own arguments.
#[derive(Clone, Copy)]
enum Needs {
    /// `--config <file>`
    Config,
    /// `--db <dir>`
    Db,
}

/// Every command, with arguments that make it do real work. `{out}` is replaced by the
/// exports folder, `{record}` by a weavy Contact that syncs. (`demo` runs on simulators with
/// their own credentials; `run` never ends on its own and logs what `sync` logs.)
const COMMANDS: &[(&[&str], Needs, bool)] = &[
    (&["check"], Needs::Config, true),
    (&["fields"], Needs::Config, true),
    (&["sync"], Needs::Config, true),
    (&["status"], Needs::Config, true),
    (&["status", "--json"], Needs::Config, true),
    (&["duplicates"], Needs::Config, true),
    (&["sync", "--dry-run"], Needs::Config, true),
    (&["sync", "--full"], Needs::Config, true),
    (&["conflicts"], Needs::Db, true),
    (
        &[
            "conflicts",
            "--format",
            "jsonl",
            "--output",
            "{out}/conflicts.jsonl",
        ],
        Needs::Db,
        true,
    ),
    (
        &[
            "conflicts",
            "--format",
            "csv",
            "--output",
            "{out}/conflicts.csv",
        ],
        Needs::Db,
        true,
    ),
    (&["history", "{record}"], Needs::Db, true),
    (
        &[
            "history",
            "{record}",
            "--format",
            "jsonl",
            "--output",
            "{out}/history.jsonl",
        ],
        Needs::Db,
        true,
    ),
];

/// One run of the binary: what it printed, and whether it succeeded.
struct Run {
    what: String,
    ok: bool,
    stdout: String,
    stderr: String,
}

struct Env {
    dir: tempfile::TempDir,
    /// A record for `history`.
    record: String,
    config: PathBuf,
    db: PathBuf,
    out: PathBuf,
}

impl Env {
    fn new(record: String) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("exports");
        std::fs::create_dir(&out).unwrap();
        Env {
            record,
            config: dir.path().join("fieldsync.toml"),
            db: dir.path().join("db"),
            out,
            dir,
        }
    }

    fn run(&self, args: &[&str], needs: Needs, env: &[(&str, &str)]) -> Run {
        self.run_as("json", args, needs, env)
    }

    fn run_as(&self, format: &str, args: &[&str], needs: Needs, env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fieldsync"));
        cmd.args(["-vv", "--log-format", format]);
        let out = self.out.display().to_string();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{out}", &out).replace("{record}", &self.record))
            .collect();
        cmd.args(&args);
        match needs {
            Needs::Config => cmd.arg("--config").arg(&self.config),
            Needs::Db => cmd.arg("--db").arg(&self.db),
        };
        cmd.env_remove("RUST_LOG")
            .env_remove("FIELDSYNC_WEAVY_PASSWORD")
            .env_remove("FIELDSYNC_MAUTIC_CLIENT_SECRET")
            .env_remove("FIELDSYNC_MAUTIC_PASSWORD")
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let o = cmd.output().expect("run fieldsync");
        Run {
            what: format!("fieldsync {} {:?}", args.join(" "), env),
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// The forms a secret could leak in: as is, and the HTTP Basic header of the Mautic user.
fn forms(secrets: &[String]) -> Vec<String> {
    use base64_like::encode;
    let mut all: Vec<String> = secrets.to_vec();
    all.push(encode(format!("api.basic:{MAUTIC_PASSWORD}").as_bytes()));
    all.retain(|s| !s.is_empty());
    all
}

/// A tiny base64 (standard alphabet, padded), to look for a Basic header without a new
/// dependency.
mod base64_like {
    pub fn encode(b: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in b.chunks(3) {
            let n = (c[0] as u32) << 16
                | (*c.get(1).unwrap_or(&0) as u32) << 8
                | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                if i <= c.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn set_mode(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_appears_in_any_output_export_or_the_database() {
    let pair = SimPair::start_with(
        WeavySimOptions {
            seed: 31,
            password: WEAVY_PASSWORD.into(),
            ..Default::default()
        },
        MauticSimOptions {
            seed: 32,
            client_secret: MAUTIC_SECRET.into(),
            basic_auth: Some(("api.basic".into(), MAUTIC_PASSWORD.into())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let plan = Plan::new(DatasetSpec::small(33));
    plan.load(&pair);
    let contact = plan
        .people
        .iter()
        .find(|p| p.in_mautic && !p.lead && p.weavy_id.is_some())
        .and_then(|p| p.weavy_id.clone())
        .unwrap();
    let e = Env::new(format!("customercontact:{contact}"));
    let toml = pair.config_toml(&e.db, &plan.person_fields_toml());
    assert!(toml.contains(WEAVY_PASSWORD) && toml.contains(MAUTIC_SECRET));
    let mut runs = Vec::new();

    // 1. Secrets inline, in a file others can read: it works, with a warning.
    std::fs::write(&e.config, &toml).unwrap();
    set_mode(&e.config, 0o644);
    let r = e.run(&["sync"], Needs::Config, &[]);
    assert!(r.ok, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("readable by other users") && r.stderr.contains("chmod 600"),
        "no warning about the readable config: {}",
        r.stderr
    );
    runs.push(r);
    set_mode(&e.config, 0o600);
    let r = e.run(&["sync"], Needs::Config, &[]);
    assert!(
        r.ok && !r.stderr.contains("readable by other users"),
        "{}",
        r.stderr
    );
    runs.push(r);

    // 2. Secrets from the environment, the file holding none: every command, edits between.
    let env_toml = toml
        .replace(&format!("password = \"{WEAVY_PASSWORD}\"\n"), "")
        .replace(&format!("client_secret = \"{MAUTIC_SECRET}\"\n"), "");
    assert!(!env_toml.contains(WEAVY_PASSWORD) && !env_toml.contains(MAUTIC_SECRET));
    std::fs::write(&e.config, &env_toml).unwrap();
    set_mode(&e.config, 0o644);
    let secrets_env = [
        ("FIELDSYNC_WEAVY_PASSWORD", WEAVY_PASSWORD),
        ("FIELDSYNC_MAUTIC_CLIENT_SECRET", MAUTIC_SECRET),
    ];
    for (i, (args, needs, must_succeed)) in COMMANDS.iter().enumerate() {
        if let Some(p) = plan.people.iter().filter(|p| p.in_mautic).nth(i)
            && let Some(id) = pair.mautic.contacts_with_email(&p.email).first()
        {
            pair.mautic
                .edit_contact(*id, &[("lastname", json!(format!("Édité {i}")))]);
        }
        let r = e.run(args, *needs, &secrets_env);
        assert!(
            r.ok || !must_succeed,
            "{} failed:\n{}\n{}",
            r.what,
            r.stdout,
            r.stderr
        );
        assert!(
            !r.stderr.contains("readable by other users"),
            "no secret in the file: no warning"
        );
        runs.push(r);
    }
    // The text log format, at trace level.
    let r = e.run_as("text", &["sync", "--full"], Needs::Config, &secrets_env);
    assert!(r.ok && r.stderr.contains(" DEBUG "), "{}", r.stderr);
    runs.push(r);
    // Every level of every crate, once.
    let mut r = e.run(
        &["sync", "--full"],
        Needs::Config,
        &[secrets_env[0], secrets_env[1], ("RUST_LOG", "trace")],
    );
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stderr.contains("\"TRACE\""), "trace logs were written");
    r.what += " with RUST_LOG=trace";
    runs.push(r);

    // 3. Mautic with HTTP Basic.
    let basic_toml = env_toml.replace(
        "auth = \"oauth2\"",
        "auth = \"basic\"\nuser = \"api.basic\"",
    );
    std::fs::write(&e.config, &basic_toml).unwrap();
    let r = e.run(
        &["sync"],
        Needs::Config,
        &[
            secrets_env[0],
            ("FIELDSYNC_MAUTIC_PASSWORD", MAUTIC_PASSWORD),
        ],
    );
    assert!(r.ok, "{}", r.stderr);
    runs.push(r);

    // 4. Failing runs: wrong secrets, a broken config on the secret's own line.
    std::fs::write(&e.config, &env_toml).unwrap();
    let wrong_weavy = format!("{WEAVY_PASSWORD}-but-wrong");
    let wrong_mautic = format!("{MAUTIC_SECRET}-but-wrong");
    for env in [
        [
            ("FIELDSYNC_WEAVY_PASSWORD", wrong_weavy.as_str()),
            secrets_env[1],
        ],
        [
            secrets_env[0],
            ("FIELDSYNC_MAUTIC_CLIENT_SECRET", wrong_mautic.as_str()),
        ],
    ] {
        let r = e.run(&["sync"], Needs::Config, &env);
        assert!(!r.ok, "{} succeeded", r.what);
        assert!(
            r.stderr.contains("authentication refused") || r.stderr.contains("refused"),
            "{}",
            r.stderr
        );
        runs.push(r);
    }
    for broken in [
        // An unterminated string, a value that is not a string, a bad key next to the secret.
        toml.replace(
            &format!("password = \"{WEAVY_PASSWORD}\""),
            &format!("password = \"{WEAVY_PASSWORD}"),
        ),
        toml.replace(
            &format!("client_secret = \"{MAUTIC_SECRET}\""),
            &format!("client_secret = {MAUTIC_SECRET}"),
        ),
        toml.replace(
            &format!("password = \"{WEAVY_PASSWORD}\""),
            &format!("password = [\"{WEAVY_PASSWORD}\"]"),
        ),
        toml.replace(
            &format!("password = \"{WEAVY_PASSWORD}\""),
            &format!("passwrd = \"{WEAVY_PASSWORD}\""),
        ),
    ] {
        std::fs::write(&e.config, &broken).unwrap();
        let r = e.run(&["sync"], Needs::Config, &[]);
        assert!(!r.ok, "a broken config was accepted: {}", r.stderr);
        assert!(
            r.stderr.contains("fieldsync.toml"),
            "the error names the file: {}",
            r.stderr
        );
        runs.push(r);
    }

    // What was issued, and so what must appear nowhere.
    let mut secrets: Vec<String> = vec![
        WEAVY_PASSWORD.into(),
        MAUTIC_SECRET.into(),
        MAUTIC_PASSWORD.into(),
    ];
    let weavy_tokens = pair.weavy.issued_tokens();
    let mautic_tokens = pair.mautic.issued_tokens();
    assert!(weavy_tokens.len() >= 5, "{weavy_tokens:?}");
    assert!(mautic_tokens.len() >= 5, "{mautic_tokens:?}");
    secrets.extend(weavy_tokens);
    secrets.extend(mautic_tokens);
    let needles = forms(&secrets);

    let mut leaks = Vec::new();
    for r in &runs {
        for n in &needles {
            for (stream, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
                if text.contains(n.as_str()) {
                    let at = text.find(n.as_str()).unwrap();
                    let line = text[..at].rsplit('\n').next().unwrap_or("");
                    leaks.push(format!(
                        "{} {stream}: ...{}<SECRET>",
                        r.what,
                        &line[line.len().saturating_sub(120)..]
                    ));
                }
            }
        }
    }
    let exported = files(&e.out);
    assert!(exported.len() >= 3, "{exported:?}");
    let stored = files(&e.db);
    assert!(!stored.is_empty());
    for (path, bytes) in exported.iter().chain(&stored) {
        for n in &needles {
            if contains(bytes, n) {
                leaks.push(format!("{}", path.display()));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));

    // The runs did real work: exports hold entries, logs are at trace level.
    for (path, bytes) in &exported {
        assert!(bytes.len() > 50, "{} is nearly empty", path.display());
        assert_eq!(mode(path), 0o600, "{} is not owner-only", path.display());
    }
    assert!(
        runs.iter()
            .any(|r| r.stderr.contains("\"level\":\"TRACE\""))
    );
    assert_eq!(mode(&e.db), 0o700, "the database directory is owner-only");
}

/// An export written over an existing file that others could read is made owner-only.
#[test]
fn an_existing_export_file_is_tightened_to_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("conflicts.csv");
    std::fs::write(&p, "old").unwrap();
    set_mode(&p, 0o644);
    drop(fieldsync::cmd::private_file(&p).unwrap());
    assert_eq!(mode(&p), 0o600);
    assert_eq!(std::fs::read(&p).unwrap(), b"", "truncated");
}

/// Every file of the database is owner-only whatever the umask, in a folder made beforehand
/// and open to others too: a `sync` run under `umask 000` leaves the folder 0700 and each
/// file 0600. (Before: sled's files followed the umask, 0666.)
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_files_are_owner_only_whatever_the_umask() {
    let pair = fieldsync::sim::SimPair::start(8).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state");
    std::fs::create_dir(&db).unwrap();
    set_mode(&db, 0o777);
    let config = dir.path().join("fieldsync.toml");
    std::fs::write(&config, pair.config_toml(&db, "")).unwrap();
    set_mode(&config, 0o600);
    let status = tokio::task::spawn_blocking({
        let config = config.clone();
        move || {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "umask 000 && exec '{}' sync --quiet --config '{}'",
                    env!("CARGO_BIN_EXE_fieldsync"),
                    config.display()
                ))
                .status()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(status.success());
    assert_eq!(mode(&db), 0o700, "the database folder");
    let mut files = 0;
    for entry in std::fs::read_dir(&db).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            files += 1;
            assert_eq!(mode(&p), 0o600, "{} is not owner-only", p.display());
        }
    }
    assert!(files >= 3, "sled's files and the seal: {files}");
}
