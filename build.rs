//! Build script: the git commit the binary is built from, for `fieldsync --version`.
//!
//! It asks `git` for the commit of the checkout being built and sets `FIELDSYNC_VERSION` to
//! "0.1.0 (commit 0123456789ab)". Built from anything else (a source archive, a checkout of
//! another project that holds this one, a machine without git), the version is the package's
//! alone: this script never fails the build. It reruns when `HEAD` or the branch it names
//! moves, so a new commit is never shown with the old hash.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = env!("CARGO_PKG_VERSION");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let full = match commit(&manifest_dir) {
        Some(hash) => format!("{version} (commit {hash})"),
        None => version.to_owned(),
    };
    println!("cargo:rustc-env=FIELDSYNC_VERSION={full}");
}

/// The checkout's short commit hash, or `None` when `dir` is not the top of a git checkout or
/// git cannot say. Registers the files whose change means another commit.
fn commit(dir: &Path) -> Option<String> {
    // Only this project's own checkout: a source tree unpacked inside another repository must
    // not take that repository's commit.
    let top = PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    // `--git-path` resolves a worktree's HEAD and the shared refs alike.
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", &name]) {
            let path = dir.join(path);
            // A path that does not exist would make cargo rerun this script on every build.
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let hash = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    hash.chars().all(|c| c.is_ascii_hexdigit()).then_some(hash)
}

/// `git ARGS` in `dir`: its trimmed output when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
