//! The commands of the `fieldsync` binary, one file each. `main.rs` parses the arguments into
//! these structs and calls `run`; everything a command does is here or below.

pub mod check;
pub mod completions;
pub mod conflicts;
pub mod demo;
pub mod duplicates;
pub mod exit;
pub mod fields;
pub mod history;
pub mod init;
pub mod logging;
pub mod man;
pub mod progress;
pub mod run;
pub mod sim;
pub mod status;
pub mod sync;
pub mod ui;

use crate::model::{EntityId, RecordKind, RecordRef};
use crate::store::{Store, StoreError, StoreOptions};
use chrono::{DateTime, Utc};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where the configuration and the database are: every command that reads either takes both,
/// and honours `FIELDSYNC_CONFIG` and `FIELDSYNC_DB` the same way. `--db` (or `FIELDSYNC_DB`)
/// overrides the config's `store.path`; a command that only reads the database needs no
/// configuration when it is given.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// The configuration file (`fieldsync init` writes one).
    #[arg(
        long,
        short,
        value_name = "PATH",
        default_value = "fieldsync.toml",
        env = "FIELDSYNC_CONFIG"
    )]
    pub config: PathBuf,
    /// The fieldsync database (a directory), instead of the config's `store.path`.
    #[arg(long, value_name = "PATH", env = "FIELDSYNC_DB")]
    pub db: Option<PathBuf>,
}

impl ConfigArgs {
    /// Loads the configuration, logging its warnings; `--db` replaces its `store.path`.
    pub fn load(&self) -> Result<crate::config::Config, CmdError> {
        let mut config = crate::config::Config::load(&self.config)?;
        for w in &config.warnings {
            tracing::warn!("{w}");
        }
        if let Some(db) = &self.db {
            config.store.path = db.clone();
        }
        Ok(config)
    }

    /// Loads the configuration and opens its database.
    pub fn open(&self) -> Result<(crate::config::Config, Store), CmdError> {
        let config = self.load()?;
        let store = Store::open(
            &config.store.path,
            &StoreOptions {
                cache_bytes: config.store.cache_mb * 1024 * 1024,
            },
        )?;
        Ok((config, store))
    }

    /// The database's path (`--db`, else the config's `store.path`); it must exist (a typo
    /// should not look like an empty history).
    pub fn path(&self) -> Result<PathBuf, CmdError> {
        let path = match &self.db {
            Some(p) => p.clone(),
            None => self.load()?.store.path,
        };
        if path.exists() {
            Ok(path)
        } else {
            Err(CmdError::NoDatabase(path))
        }
    }

    /// Opens the database, refusing to create one where none exists. A damaged database is
    /// opened all the same, with a warning: the commands that use this only read, and what
    /// is left of it can still be exported.
    pub fn open_existing(&self) -> Result<Store, CmdError> {
        let path = self.path()?;
        let (store, damage) = Store::open_to_salvage(&path, &StoreOptions::default())?;
        if let Some(damage) = damage {
            tracing::warn!("{damage}; what follows is what is left of it and may be incomplete");
        }
        Ok(store)
    }
}

/// `--format` of the audit commands (the command line's names for [`crate::audit::Format`]:
/// clap stays in `cmd`).
impl clap::ValueEnum for crate::audit::Format {
    fn value_variants<'a>() -> &'a [Self] {
        use crate::audit::Format::*;
        &[Table, Jsonl, Csv]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        use crate::audit::Format::*;
        let (name, help) = match self {
            Table => ("table", "Aligned columns for a terminal"),
            Jsonl => ("jsonl", "One JSON object per line"),
            Csv => ("csv", "Comma-separated, with a header row"),
        };
        Some(clap::builder::PossibleValue::new(name).help(help))
    }
}

/// Errors of the commands themselves (their arguments, their output).
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error(
        "there is no fieldsync database at {0}; run a sync first, or point --db (or FIELDSYNC_DB) at the right one"
    )]
    NoDatabase(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    #[error("{0}")]
    Usage(String),
    #[error("{0} check(s) failed: fix what the FAIL lines say, then run `fieldsync check` again")]
    ChecksFailed(usize),
    #[error("could not write {path}: {source}")]
    Output { path: PathBuf, source: io::Error },
}

/// Opens a database, waiting (up to `wait`) while another fieldsync process holds it: a cycle
/// of `fieldsync run` releases it when it ends. Stops waiting when `shutdown` is requested.
pub async fn open_waiting(
    path: &Path,
    cache_mb: u64,
    wait: std::time::Duration,
    shutdown: Option<&crate::sync::Shutdown>,
) -> Result<Store, CmdError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut told = false;
    loop {
        match Store::open(
            path,
            &StoreOptions {
                cache_bytes: cache_mb * 1024 * 1024,
            },
        ) {
            Err(StoreError::Locked { .. }) if tokio::time::Instant::now() < deadline => {
                if !told {
                    tracing::info!("the database is in use by another fieldsync process; waiting");
                    told = true;
                }
                let pause = tokio::time::sleep(std::time::Duration::from_millis(200));
                match shutdown {
                    Some(s) => {
                        tokio::select! { _ = pause => {}, _ = s.requested() => return Err(StoreError::Locked { path: path.to_path_buf() }.into()) }
                    }
                    None => pause.await,
                }
            }
            other => return Ok(other?),
        }
    }
}

/// Parses a time given on the command line: RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC),
/// `YYYY-MM-DD` (midnight UTC), or a time ago (`24h`, `7d`, `2w`, `30m`: that long before now).
pub fn parse_time_arg(s: &str) -> Result<DateTime<Utc>, String> {
    parse_time_at(s, Utc::now())
}

fn parse_time_at(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    crate::model::parse_datetime(s)
        .or_else(|| {
            crate::model::parse_date(s)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|n| n.and_utc())
        })
        .or_else(|| {
            let ago = crate::duration_text::parse(s).ok()?;
            Some(now - chrono::Duration::from_std(ago).ok()?)
        })
        .ok_or_else(|| {
            format!(
                "'{s}' is not a time: use 2024-05-01, 2024-05-01 10:00:00, 2024-05-01T10:00:00+02:00, or a time ago: 30m, 24h, 7d, 2w"
            )
        })
}

/// Parses a record given as `object:id` (`customercontact:C0001`, `contact:47`).
pub fn parse_record_arg(s: &str) -> Result<RecordRef, String> {
    let (object, id) = s.split_once(':').ok_or_else(|| {
        format!("'{s}' is not a record: write object:id, e.g. customercontact:C0001 or contact:47")
    })?;
    let kind: RecordKind = object.parse()?;
    if id.is_empty() {
        return Err(format!("'{s}' has no id after the ':'"));
    }
    Ok(RecordRef::new(kind, id))
}

/// Parses an entity id: `E12` or `12`.
pub fn parse_entity_arg(s: &str) -> Result<EntityId, String> {
    s.parse::<EntityId>()
        .or_else(|e| s.trim().parse().map(EntityId).map_err(|_| e))
}

/// Standard output, or a file created readable by its owner only (exports hold customer data).
pub fn output(path: Option<&Path>) -> Result<Box<dyn Write>, CmdError> {
    match path {
        None => Ok(Box::new(io::BufWriter::new(io::stdout().lock()))),
        Some(p) => {
            let file = private_file(p).map_err(|source| CmdError::Output {
                path: p.to_path_buf(),
                source,
            })?;
            Ok(Box::new(io::BufWriter::new(file)))
        }
    }
}

/// Creates (or truncates) a file with owner-only permissions.
pub fn private_file(path: &Path) -> io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(path)?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode on open: tighten it.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// The process's async runtime, for every command.
pub fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_or_say_how_to_write_them() {
        assert_eq!(
            parse_record_arg("customercontact:C:1").unwrap(),
            RecordRef::new(RecordKind::WeavyContact, "C:1")
        );
        assert!(parse_record_arg("C0001").unwrap_err().contains("object:id"));
        assert!(
            parse_record_arg("table:1")
                .unwrap_err()
                .contains("unknown object")
        );
        assert_eq!(parse_entity_arg("E12").unwrap(), EntityId(12));
        assert_eq!(
            parse_time_arg("2024-05-01").unwrap().to_rfc3339(),
            "2024-05-01T00:00:00+00:00"
        );
        assert!(parse_time_arg("yesterday").is_err());
        let now = parse_time_arg("2026-12-03T12:00:00Z").unwrap();
        assert_eq!(
            parse_time_at("24h", now).unwrap().to_rfc3339(),
            "2026-12-02T12:00:00+00:00"
        );
        assert_eq!(
            parse_time_at("2w", now).unwrap().to_rfc3339(),
            "2026-11-19T12:00:00+00:00"
        );
        assert!(parse_time_arg("24x").unwrap_err().contains("7d"));
    }
}
