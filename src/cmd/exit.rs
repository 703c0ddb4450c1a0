//! The exit codes of `fieldsync`, one meaning each, the same for every command (the README's
//! "Exit codes" lists them):
//!
//! | code | meaning |
//! |--:|---|
//! | 0 | done |
//! | 1 | failed: a cycle failed, a check failed, `status --check` found the sync unhealthy |
//! | 2 | usage or configuration: a bad argument or setting, a missing secret, no database |
//! | 3 | a cycle ended, but some records had errors (listed; retried at the next cycle) |
//! | 4 | the database is in use by another fieldsync process |
//! | 5 | the database is damaged (see docs/RECOVERY.md) |
//! | 130 | stopped at once by a second Ctrl-C or SIGTERM ([`stop_at_once`]) |
//!
//! clap's own usage errors exit with 2 as well.

use super::CmdError;
use crate::audit::AuditError;
use crate::store::StoreError;
use crate::sync::SyncError;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Exit {
    #[default]
    Done = 0,
    Failed = 1,
    Usage = 2,
    RecordErrors = 3,
    InUse = 4,
    Damaged = 5,
}

impl Exit {
    /// The code the process exits with.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

fn of_store(e: &StoreError) -> Exit {
    match e {
        StoreError::Locked { .. } => Exit::InUse,
        StoreError::Damaged { .. } | StoreError::Corrupt { .. } => Exit::Damaged,
        StoreError::OtherInstances { .. } => Exit::Usage,
        _ => Exit::Failed,
    }
}

impl CmdError {
    /// The exit code this error ends the process with.
    pub fn exit(&self) -> Exit {
        match self {
            CmdError::NoDatabase(_) | CmdError::Usage(_) | CmdError::Config(_) => Exit::Usage,
            CmdError::Store(e) => of_store(e),
            CmdError::Sync(SyncError::Store(e)) => of_store(e),
            CmdError::Sync(SyncError::Config(_)) | CmdError::Sync(SyncError::Mapping(_)) => {
                Exit::Usage
            }
            CmdError::Audit(AuditError::Store(e)) => of_store(e),
            CmdError::Audit(AuditError::UnknownRecord(_) | AuditError::UnknownEntity(_)) => {
                Exit::Usage
            }
            CmdError::Sync(SyncError::Connector(_))
            | CmdError::Audit(_)
            | CmdError::ChecksFailed(_)
            | CmdError::Output { .. } => Exit::Failed,
        }
    }
}

/// What a second Ctrl-C or SIGTERM does: end the process at once (code 130). Nothing is lost:
/// every step of a cycle is durable before the next, so the next cycle resumes, as after a kill.
pub fn stop_at_once() {
    tracing::warn!("stopped at once: the next cycle resumes where this one was");
    std::process::exit(130);
}

/// An error and its causes as one line, each cause said once: an error whose message already
/// quotes its cause (`could not write F: permission denied`) is not followed by the cause again.
pub fn one_line<'a>(
    chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut line = String::new();
    for e in chain {
        let text = e.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line += ": ";
        }
        line += &text;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn an_os_error_is_said_once() {
        let e = CmdError::Output {
            path: PathBuf::from("/nowhere/report.json"),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        let chain: Vec<&(dyn std::error::Error + 'static)> =
            std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                e.source()
            })
            .collect();
        assert_eq!(chain.len(), 2, "the cause is kept as a source");
        let line = one_line(chain);
        assert_eq!(line.matches("permission denied").count(), 1, "{line}");
        assert!(line.starts_with("could not write /nowhere/report.json"));
        assert_eq!(e.exit(), Exit::Failed);
    }

    #[test]
    fn each_kind_of_failure_has_its_code() {
        let locked = CmdError::Store(StoreError::Locked {
            path: PathBuf::from("db"),
        });
        assert_eq!(locked.exit().code(), 4);
        let damaged = CmdError::Sync(SyncError::Store(StoreError::Damaged {
            path: PathBuf::from("db"),
            detail: String::new(),
        }));
        assert_eq!(damaged.exit().code(), 5);
        assert_eq!(CmdError::NoDatabase(PathBuf::from("db")).exit().code(), 2);
        assert_eq!(CmdError::ChecksFailed(2).exit().code(), 1);
    }
}
