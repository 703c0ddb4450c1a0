//! What a user gets with the binary (issue 18, point 15): `--version` names the commit it was
//! built from, `completions` and `man` describe every command. The real binary.

mod common;

use common::cli::{code, fieldsync, path, stderr, stdout};
use std::process::Command;

/// The commands `fieldsync --help` lists (clap's own `help` aside).
fn commands() -> Vec<String> {
    let out = fieldsync(&["--help"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let help = stdout(&out);
    let list: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect();
    assert!(list.len() >= 10, "{help}");
    list
}

#[test]
fn version_names_the_commit_of_the_checkout_it_was_built_from() {
    let out = fieldsync(&["--version"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let version = stdout(&out);
    assert!(
        version.starts_with(&format!("fieldsync {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match head {
        Ok(head) if head.status.success() => {
            let head = String::from_utf8(head.stdout).unwrap();
            let short = &head.trim()[..12];
            assert!(
                version.contains(&format!("(commit {short})")),
                "HEAD is {head}, the binary says {version}"
            );
        }
        // Not built from a git checkout (a source archive): the version alone.
        _ => assert!(!version.contains("commit"), "{version}"),
    }
    // Every command says the same.
    let out = fieldsync(&["sync", "--version"]).output().unwrap();
    assert_eq!(
        stdout(&out).trim(),
        version.trim().replace("fieldsync", "fieldsync-sync")
    );
}

#[test]
fn bash_completions_know_every_command() {
    let out = fieldsync(&["completions", "bash"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let script = stdout(&out);
    assert!(script.contains("complete -F _fieldsync"), "{script}");
    for command in commands() {
        assert!(
            script.contains(&format!("fieldsync,{command})")),
            "no completion for {command}"
        );
    }
    // The options of a command are completed too.
    assert!(script.contains("--dry-run"));
}

#[test]
fn completions_for_every_shell_clap_knows() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = fieldsync(&["completions", shell]).output().unwrap();
        assert_eq!(code(&out), 0, "{shell}: {}", stderr(&out));
        assert!(stdout(&out).contains("fieldsync"), "{shell}");
    }
    let out = fieldsync(&["completions", "tcsh"]).output().unwrap();
    assert_eq!(code(&out), 2, "an unknown shell is a usage error");
}

/// The roff header of a page: the first line that is not one of clap_mangen's preamble's
/// conditionals.
fn title(page: &str) -> &str {
    page.lines()
        .find(|l| !l.starts_with(".ie") && !l.starts_with(".el"))
        .unwrap_or("")
}

#[test]
fn man_prints_a_roff_page_that_lists_every_command() {
    let out = fieldsync(&["man"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let page = stdout(&out);
    assert!(title(&page).starts_with(".TH fieldsync 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for command in commands() {
        assert!(
            page.contains(&format!("fieldsync\\-{command}(1)")),
            "{command} is not in the page"
        );
    }
}

#[test]
fn man_dir_writes_a_page_per_command_with_its_options_readable_by_the_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = fieldsync(&["man", "--dir", path(dir.path())])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let sync = std::fs::read_to_string(dir.path().join("fieldsync-sync.1")).unwrap();
    assert!(title(&sync).starts_with(".TH fieldsync-sync 1"), "{sync}");
    assert!(sync.contains("\\-\\-dry\\-run"), "{sync}");
    for command in commands() {
        assert!(
            dir.path().join(format!("fieldsync-{command}.1")).exists(),
            "{command}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("fieldsync.1"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}
