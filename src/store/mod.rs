//! fieldsync's state, in an embedded sled database. Only this module knows sled, and only its
//! [`codec`] knows bincode; callers see typed operations.
//!
//! # Trees
//!
//! | tree | key | value | what for |
//! |---|---|---|---|
//! | `records` | record | [`codec::StoredRecord`] | each record's current field values, e-mail, company key |
//! | `observations` | record, field, time, value hash | value, cycle | the append-only log of every value seen |
//! | `entities` | entity id | records per side, bases | what is the same thing on both sides |
//! | `links` | record | entity id | from a record to its entity |
//! | `email_index` | e-mail, record | - | records by normalised e-mail |
//! | `company_index` | company key, record | - | companies by normalised key |
//! | `dirty` | record | - | records changed since they were last merged |
//! | `outbox` | side, table, entity | patch | writes decided, not yet acknowledged |
//! | `in_flight` | side, table, entity | the field and value to look the record up by | inserts that may have reached the side without an answer |
//! | `conflicts` | time, sequence | conflict entry | the append-only conflict log |
//! | `conflict_ids` | fingerprint of a decision | its key in `conflicts` | each decision logged once |
//! | `cursors` | table | time | where the next pull of a table starts |
//! | `cycles` | cycle | report | what each cycle did (for `status`) |
//! | `meta` | name | value | schema version, counters, the field dictionary (`field/` and a number: a name) |
//!
//! # Atomicity
//!
//! A page of pulled records is ingested in one transaction (observations, indexes, dirty marks,
//! record states); a merge commit (entities, links, patches, conflict entries, removal of the
//! dirty marks) is one transaction; acknowledging a patch (drop it, set the bases) is one
//! transaction. Durability is explicit: [`Store::flush`] before a cursor moves.

mod binding;
pub mod codec;
mod conflicts;
mod entities;
mod field_ids;
mod in_flight;
mod integrity;
pub mod keys;
mod leftovers;
mod private;
mod records;
mod salvage;

pub use binding::{Bound, Instances};
pub use conflicts::ConflictFilter;
pub use entities::{Ack, MergeCommit};
pub use in_flight::Probe;
pub use integrity::SEAL_FILE;
pub use records::{IngestStats, Sighting};

use crate::model::RecordKind;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::{Path, PathBuf};

/// The layout of the trees. Bumped when a tree changes meaning; an older fieldsync refuses a
/// database with a newer schema instead of misreading it.
pub const SCHEMA_VERSION: u32 = 1;

/// What went wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the database at {path} is in use by another fieldsync process; stop that process (or wait for its cycle to end), or point --db at another database"
    )]
    Locked { path: PathBuf },
    #[error(
        "the database at {path} was written by a newer fieldsync (schema {found}; this one reads schema {supported}); upgrade fieldsync"
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("cannot open the database at {path}: {detail}")]
    Open { path: PathBuf, detail: String },
    #[error(
        "a stored {what} could not be read ({detail}); the database is damaged: export the conflict log (fieldsync conflicts), move the database aside and run `fieldsync sync --full` to rebuild it"
    )]
    Corrupt { what: &'static str, detail: String },
    #[error("a stored {what} was written by a newer fieldsync (format {found}); upgrade fieldsync")]
    NewerFormat { what: &'static str, found: u8 },
    #[error(
        "a stored {what} uses format {found}, which this fieldsync no longer reads; move the database aside and run `fieldsync sync --full` to rebuild it"
    )]
    OutdatedFormat { what: &'static str, found: u8 },
    #[error("database I/O error: {0}; check the disk (space, permissions) and try again")]
    Io(String),
    #[error(
        "the database at {path} holds the state of {bound}, and this configuration names {given}. A database holds one pair's state: to sync this pair, point store.path (or --db) at a new database, and the first sync links the records again by e-mail and key; if these are the same instances at new addresses, run `fieldsync sync --moved` once"
    )]
    OtherInstances {
        path: PathBuf,
        bound: Box<Instances>,
        given: Box<Instances>,
    },
    #[error(
        "the database at {path} is damaged: {detail}. Nothing was changed. Move it aside, run `fieldsync sync --full` to rebuild the state from both sides, and export its conflict log with `fieldsync conflicts --db <the moved database>` (see docs/RECOVERY.md)"
    )]
    Damaged { path: PathBuf, detail: String },
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { at, .. } => StoreError::Corrupt {
                what: "database file",
                detail: format!("corruption at {at:?}"),
            },
            other => StoreError::Io(other.to_string()),
        }
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

/// Aborts a sled transaction with a store error.
pub(crate) fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled's page cache, in bytes. sled holds about twice this in memory. This does not bound the
    /// store's memory: outside the cache, sled 0.34 keeps a record of every page of the database
    /// (at least 192 bytes each, about 11 entries to a page, about 45 bytes per stored entry in
    /// all), so that part grows with the data (docs/PERFORMANCE.md, Memory).
    pub cache_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: 32 * 1024 * 1024,
        }
    }
}

/// The open database.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    records: sled::Tree,
    observations: sled::Tree,
    entities: sled::Tree,
    links: sled::Tree,
    email_index: sled::Tree,
    company_index: sled::Tree,
    dirty: sled::Tree,
    outbox: sled::Tree,
    in_flight: sled::Tree,
    conflicts: sled::Tree,
    /// Fingerprint of a logged decision -> its key in `conflicts` (see `conflicts`).
    conflict_ids: sled::Tree,
    cursors: sled::Tree,
    cycles: sled::Tree,
    meta: sled::Tree,
    /// The numbers of field names in stored values, from `meta`.
    fields: std::sync::Arc<field_ids::FieldDictionary>,
    /// Opened to read what is left of a damaged database (see `salvage`).
    salvaging: Option<std::sync::Arc<salvage::Salvaging>>,
}

/// The path a temporary store reports.
const TEMPORARY: &str = "(temporary)";
const META_SCHEMA: &[u8] = b"schema_version";
const META_CYCLE: &[u8] = b"cycle";
const META_REQUESTS: &[u8] = b"request_totals";
const META_MAUTIC_VERSION: &[u8] = b"mautic_version";
const META_LAST_FULL_READ: &[u8] = b"last_full_read";
const META_INSTANCES: &[u8] = b"instances";

impl Store {
    /// Opens (or creates, owner-only) the database at `path`.
    pub fn open(path: impl AsRef<Path>, options: &StoreOptions) -> Result<Store, StoreError> {
        let store = Store::open_unchecked(path, options)?;
        store.check_seal()?;
        Ok(store)
    }

    fn open_unchecked(path: impl AsRef<Path>, options: &StoreOptions) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        create_private_dir(&path).map_err(|e| StoreError::Open {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let config = sled::Config::new()
            .path(&path)
            .cache_capacity(options.cache_bytes);
        // sled finishes writing in background threads for a moment after its last handle is
        // dropped, and holds the file lock until then: a store closed and reopened by the same
        // process can meet its own lock. It is released within milliseconds; another
        // process's lock is not, and is reported after a second.
        let started = std::time::Instant::now();
        let mut leftovers_removed = false;
        loop {
            match open_sled(&config, &path) {
                Err(StoreError::Locked { .. })
                    if started.elapsed() < std::time::Duration::from_secs(1) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e @ StoreError::Damaged { .. }) if !leftovers_removed => {
                    leftovers_removed = true;
                    let removed = leftovers::remove_unfinished_snapshots(&path).unwrap_or_default();
                    if removed.is_empty() {
                        return Err(e);
                    }
                    for f in &removed {
                        tracing::warn!(
                            file = %f.display(),
                            "removed an unfinished snapshot sled left (a write that could not finish, e.g. on a full disk); opening the database again"
                        );
                    }
                }
                Err(e) => return Err(e),
                Ok(db) => {
                    private::make_private(&path).map_err(|e| StoreError::Open {
                        path: path.clone(),
                        detail: format!("could not make the database owner-only: {e}"),
                    })?;
                    return Store::from_db(db, path);
                }
            }
        }
    }

    /// A database that disappears when dropped (tests, `demo` without `--dir`).
    pub fn temporary() -> Result<Store, StoreError> {
        let db = sled::Config::new().temporary(true).open()?;
        Store::from_db(db, PathBuf::from(TEMPORARY))
    }

    fn from_db(db: sled::Db, path: PathBuf) -> Result<Store, StoreError> {
        let tree = |name: &str| db.open_tree(name);
        let store = Store {
            records: tree("records")?,
            observations: tree("observations")?,
            entities: tree("entities")?,
            links: tree("links")?,
            email_index: tree("email_index")?,
            company_index: tree("company_index")?,
            dirty: tree("dirty")?,
            outbox: tree("outbox")?,
            in_flight: tree("in_flight")?,
            conflicts: tree("conflicts")?,
            conflict_ids: tree("conflict_ids")?,
            cursors: tree("cursors")?,
            cycles: tree("cycles")?,
            meta: tree("meta")?,
            fields: std::sync::Arc::new(field_ids::FieldDictionary::load(tree("meta")?)),
            salvaging: None,
            db,
            path,
        };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        match self.meta.get(META_SCHEMA)? {
            None => {
                self.meta
                    .insert(META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
                self.db.flush()?;
                Ok(())
            }
            Some(v) => {
                let found =
                    u32::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                        what: "schema version",
                        detail: format!("{} bytes", v.len()),
                    })?);
                if found > SCHEMA_VERSION {
                    Err(StoreError::NewerSchema {
                        path: self.path.clone(),
                        found,
                        supported: SCHEMA_VERSION,
                    })
                } else {
                    Ok(())
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes everything written so far durable (and sealed: see [`integrity`]).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.flush_sealed()
    }

    /// The database's size on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Starts a new cycle: its number, made durable.
    pub fn next_cycle(&self) -> Result<u64, StoreError> {
        let next = self.meta_u64(META_CYCLE)?.unwrap_or(0) + 1;
        self.meta.insert(META_CYCLE, &next.to_be_bytes())?;
        self.flush_sealed()?;
        Ok(next)
    }

    /// Every field name this database holds a value of (the canonical names of the mappings
    /// it synced, and the engine's own: `company`, `idcrm`).
    pub fn field_names(&self) -> Vec<String> {
        let mut names = self.fields.names();
        names.sort();
        names
    }

    /// The number the next cycle will get, without taking it (a dry run stores no cycle).
    pub fn peek_next_cycle(&self) -> Result<u64, StoreError> {
        Ok(self.meta_u64(META_CYCLE)?.unwrap_or(0) + 1)
    }

    /// The last cycle started, 0 if none.
    pub fn last_cycle(&self) -> Result<u64, StoreError> {
        Ok(self.meta_u64(META_CYCLE)?.unwrap_or(0))
    }

    fn meta_u64(&self, key: &[u8]) -> Result<Option<u64>, StoreError> {
        self.meta
            .get(key)?
            .map(|v| {
                v.as_ref()
                    .try_into()
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        what: "counter",
                        detail: String::from_utf8_lossy(key).into_owned(),
                    })
            })
            .transpose()
    }

    /// Where the next pull of `kind` starts (the side's clock), if it was ever pulled.
    pub fn cursor(&self, kind: RecordKind) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.cursors
            .get(keys::cursor(kind))?
            .map(|v| {
                keys::parse_time(&v)
                    .map(codec::from_micros)
                    .ok_or(StoreError::Corrupt {
                        what: "cursor",
                        detail: format!("{} bytes", v.len()),
                    })
            })
            .transpose()
    }

    /// Moves a cursor. Callers flush the pages it covers first.
    pub fn set_cursor(&self, kind: RecordKind, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.cursors
            .insert(keys::cursor(kind), &keys::time(codec::micros(at)))?;
        self.flush_sealed()?;
        Ok(())
    }

    /// Forgets every cursor: the next pull reads everything (`sync --full`).
    pub fn clear_cursors(&self) -> Result<(), StoreError> {
        self.cursors.clear()?;
        self.flush_sealed()?;
        Ok(())
    }

    /// Stores what a cycle did.
    pub fn put_cycle_report<T: Serialize>(&self, cycle: u64, report: &T) -> Result<(), StoreError> {
        self.cycles
            .insert(cycle.to_be_bytes(), codec::encode(report))?;
        Ok(())
    }

    /// The last `limit` cycle reports, newest first.
    pub fn cycle_reports<T: DeserializeOwned>(
        &self,
        limit: usize,
    ) -> Result<Vec<(u64, T)>, StoreError> {
        self.cycle_reports_newest_first().take(limit).collect()
    }

    /// The newest cycle report that `wanted` accepts, reading back from the newest only as
    /// far as it needs.
    pub fn newest_cycle_report<T: DeserializeOwned>(
        &self,
        wanted: impl Fn(&T) -> bool,
    ) -> Result<Option<(u64, T)>, StoreError> {
        for report in self.cycle_reports_newest_first::<T>() {
            let (cycle, report) = report?;
            if wanted(&report) {
                return Ok(Some((cycle, report)));
            }
        }
        Ok(None)
    }

    fn cycle_reports_newest_first<T: DeserializeOwned>(
        &self,
    ) -> impl Iterator<Item = Result<(u64, T), StoreError>> + '_ {
        self.cycles.iter().rev().map(|kv| {
            let (k, v) = kv?;
            let cycle =
                u64::from_be_bytes(k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    what: "cycle key",
                    detail: format!("{} bytes", k.len()),
                })?);
            Ok((cycle, codec::decode(&v, "cycle report")?))
        })
    }

    /// Adds a cycle's requests (by "side kind") to the running totals.
    pub fn add_request_totals(
        &self,
        requests: &std::collections::BTreeMap<String, u64>,
    ) -> Result<(), StoreError> {
        let mut totals = self.request_totals()?;
        for (k, v) in requests {
            *totals.entry(k.clone()).or_default() += v;
        }
        self.meta.insert(META_REQUESTS, codec::encode(&totals))?;
        Ok(())
    }

    /// Every request fieldsync sent through this database, by "side kind".
    pub fn request_totals(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        match self.meta.get(META_REQUESTS)? {
            Some(v) => codec::decode(&v, "request totals"),
            None => Ok(Default::default()),
        }
    }

    /// Remembers the Mautic version the instance last announced, for `status`.
    pub fn set_mautic_version(&self, version: &str) -> Result<(), StoreError> {
        if self.meta.get(META_MAUTIC_VERSION)?.as_deref() != Some(version.as_bytes()) {
            self.meta.insert(META_MAUTIC_VERSION, version.as_bytes())?;
        }
        Ok(())
    }

    /// Records that a cycle which started at `at` read every record of both sides.
    pub fn set_last_full_read(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.meta
            .insert(META_LAST_FULL_READ, &keys::time(codec::micros(at)))?;
        Ok(())
    }

    /// When the last cycle that read every record of both sides started.
    pub fn last_full_read(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.meta
            .get(META_LAST_FULL_READ)?
            .map(|v| {
                keys::parse_time(&v)
                    .map(codec::from_micros)
                    .ok_or(StoreError::Corrupt {
                        what: "last full read",
                        detail: format!("{} bytes", v.len()),
                    })
            })
            .transpose()
    }

    /// The Mautic version seen at the last cycle that reached Mautic.
    pub fn mautic_version(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .meta
            .get(META_MAUTIC_VERSION)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Every cursor, by table.
    pub fn cursors(&self) -> Result<Vec<(RecordKind, DateTime<Utc>)>, StoreError> {
        let mut out = Vec::new();
        for kind in RecordKind::ALL {
            if let Some(t) = self.cursor(kind)? {
                out.push((kind, t));
            }
        }
        Ok(out)
    }

    /// Counts for `status`.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            records: self.records.len(),
            observation_entries: self.observations.len(),
            entities: self.entities.len(),
            dirty: self.dirty.len(),
            outbox: self.outbox.len(),
            conflicts: self.conflicts.len(),
        }
    }
}

/// Sizes of the main trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub records: usize,
    /// Sightings in the observation log (each holds the fields that changed in it).
    pub observation_entries: usize,
    pub entities: usize,
    pub dirty: usize,
    pub outbox: usize,
    pub conflicts: usize,
}

/// Opens sled. sled asserts its own invariants while recovering: on a damaged file it can
/// panic instead of answering an error, which is caught here.
fn open_sled(config: &sled::Config, path: &Path) -> Result<sled::Db, StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()))
        .map_err(|panic| StoreError::Damaged {
            path: path.to_path_buf(),
            detail: format!(
                "sled failed while recovering it ({})",
                panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into())
            ),
        })?
        .map_err(|e| open_error(path, e))
}

fn open_error(path: &Path, e: sled::Error) -> StoreError {
    let text = e.to_string();
    if text.contains("could not acquire lock") {
        StoreError::Locked {
            path: path.to_path_buf(),
        }
    } else {
        match StoreError::from(e) {
            StoreError::Io(detail) => StoreError::Open {
                path: path.to_path_buf(),
                detail,
            },
            StoreError::Corrupt { detail, .. } => StoreError::Damaged {
                path: path.to_path_buf(),
                detail: format!("sled cannot read it back ({detail})"),
            },
            other => other,
        }
    }
}

/// Creates the database directory readable by its owner only.
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

#[cfg(test)]
mod tests;
