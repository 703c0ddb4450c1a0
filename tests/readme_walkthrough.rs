//! The README's "Set-up, step by step", run as written against the simulators. Every block the
//! README marks `<!-- walk-through ... -->` is run, command by command, in one directory, in
//! the order it is written; a command that fails fails the test. What a test must change, and
//! only that: the two server addresses become the simulators', and each `export NAME='...'`
//! gives the documented variable the simulator's secret. The simulators take the project, user
//! and client id that the README's `init` names. `fieldsync run` is stopped with SIGTERM once its
//! first cycle is done.

mod common;

use common::cli::{code, fieldsync, output, stderr, stdout};
use fieldsync::sim::SimPair;
use fieldsync::sim::dataset::{DatasetSpec, Plan};
use fieldsync::sim::mautic::MauticSimOptions;
use fieldsync::sim::weavy::WeavySimOptions;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const MARK: &str = "<!-- walk-through";
const WEAVY_URL: &str = "https://api.weavy.divalto.com";
const MAUTIC_URL: &str = "https://acme.webmecanik.com";

/// The marked blocks' commands, each a list of words (continuations joined, comments dropped).
fn walk_through() -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut commands = Vec::new();
    for marked in readme.split(MARK).skip(1) {
        let block = marked
            .split_once("```sh\n")
            .and_then(|(before, rest)| {
                // The block follows its mark at once.
                assert_eq!(before.lines().count(), 1, "a mark with no block: {before}");
                rest.split_once("\n```")
            })
            .map(|(block, _)| block)
            .unwrap_or_else(|| panic!("a mark with no ```sh block: {marked}"));
        let mut line = String::new();
        for l in block.lines() {
            match l.strip_suffix('\\') {
                Some(start) => line.push_str(start),
                None => {
                    line.push_str(l);
                    let words = words(&line);
                    if !words.is_empty() {
                        commands.push(words);
                    }
                    line.clear();
                }
            }
        }
    }
    assert!(commands.len() >= 8, "{commands:?}");
    commands
}

/// A shell line's words: single and double quotes, and a `#` that starts a word begins a
/// comment. Anything else a shell would do (`$`, `;`, pipes) is refused: the walk-through has
/// none, and this test must not guess.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, '#') if word.is_none() => break,
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, '$' | ';' | '|' | '&' | '>' | '<' | '`') => {
                panic!("the walk-through is plain commands: {line}")
            }
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    assert!(quote.is_none(), "an unclosed quote: {line}");
    words.extend(word);
    words
}

/// The value that follows `flag` in `command`.
fn flag<'a>(command: &'a [String], flag: &str) -> &'a str {
    let at = command
        .iter()
        .position(|w| w == flag)
        .unwrap_or_else(|| panic!("{flag} is not in {command:?}"));
    &command[at + 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_set_up_runs_as_written() {
    let commands = walk_through();
    let init = commands
        .iter()
        .find(|c| c.get(1).map(String::as_str) == Some("init"))
        .expect("the walk-through writes a config with init");
    assert_eq!(flag(init, "--weavy-url"), WEAVY_URL);
    assert_eq!(flag(init, "--mautic-url"), MAUTIC_URL);
    let weavy = WeavySimOptions {
        seed: 41,
        project_code: flag(init, "--weavy-project").to_owned(),
        user: flag(init, "--weavy-user").to_owned(),
        ..Default::default()
    };
    let mautic = MauticSimOptions {
        seed: 42,
        client_id: flag(init, "--mautic-client-id").to_owned(),
        ..Default::default()
    };
    let secrets = BTreeMap::from([
        ("FIELDSYNC_WEAVY_PASSWORD", weavy.password.clone()),
        (
            "FIELDSYNC_MAUTIC_CLIENT_SECRET",
            mautic.client_secret.clone(),
        ),
    ]);
    let pair = SimPair::start_with(weavy, mautic).await.unwrap();
    Plan::new(DatasetSpec::small(41)).load(&pair);
    let dir = tempfile::tempdir().unwrap();

    let mut env = BTreeMap::new();
    for command in &commands {
        if command[0] == "export" {
            let (name, value) = command[1].split_once('=').unwrap();
            assert_eq!(value, "...", "{command:?}: a placeholder");
            let secret = secrets
                .get(name)
                .unwrap_or_else(|| panic!("{name} is not a documented secret"));
            env.insert(name.to_owned(), secret.clone());
            continue;
        }
        assert_eq!(command[0], "fieldsync", "{command:?}");
        let args: Vec<String> = command[1..]
            .iter()
            .map(|w| match w.as_str() {
                WEAVY_URL => pair.weavy.url(),
                MAUTIC_URL => pair.mautic.url(),
                _ => w.clone(),
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = fieldsync(&args);
        c.current_dir(dir.path()).envs(&env);
        if args[0] == "run" {
            run_one_cycle(c, command).await;
        } else {
            let out = output(c).await;
            assert_eq!(
                code(&out),
                0,
                "{command:?}:\n{}\n{}",
                stdout(&out),
                stderr(&out)
            );
        }
    }
    // What the last block wrote.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("cycle.json")).unwrap()).unwrap();
    assert!(report.is_object(), "{report}");
}

/// `fieldsync run ...`, stopped with SIGTERM once its first cycle is done.
async fn run_one_cycle(mut command: Command, words: &[String]) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let err = child.stderr.take().unwrap();
    let log = tokio::task::spawn_blocking(move || {
        let mut log = Vec::new();
        for line in BufReader::new(err).lines() {
            let line = line.unwrap();
            let ended = line.contains("cycle done") || line.contains("cycle failed");
            log.push(line);
            if ended {
                Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            }
        }
        log.join("\n")
    })
    .await
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{words:?}: {status:?}\n{log}");
    assert!(log.contains("cycle done"), "{words:?}:\n{log}");
    assert!(!log.contains("cycle failed"), "{words:?}:\n{log}");
}
