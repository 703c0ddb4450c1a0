//! Reading what is left of a damaged database (`conflicts --db`, `history --db`): the
//! conflict log above all, which exists nowhere else.
//!
//! - A database that opens but fails its checks (the seal, the field dictionary) is read as
//!   it is.
//! - One that sled refuses (a cut or garbled snapshot, a cut log, a damaged settings file)
//!   is copied to a private folder and opened there without its snapshots and settings: sled
//!   then rebuilds its state from the log alone, keeping the longest part of it that reads.
//! - Entries that cannot be decoded are skipped and counted ([`Store::unreadable_conflicts`]):
//!   the export goes on with the others.
//! - How much is missing is estimated from the cycle reports that survived, which say how many
//!   entries each cycle logged ([`Store::logged_by_cycles`]).

use super::{Store, StoreError, StoreOptions, create_private_dir};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A private copy of a damaged database, removed when the last handle on it goes.
#[derive(Debug)]
pub(super) struct SalvageCopy {
    dir: PathBuf,
}

impl Drop for SalvageCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What salvaging counts while the log is read.
#[derive(Debug, Default)]
pub(super) struct Salvaging {
    pub unreadable: AtomicU64,
    /// Keeps the copy for as long as the store is open on it.
    pub _copy: Option<SalvageCopy>,
}

/// Copies `from` into `to`, files and folders, leaving sled's snapshots and its settings
/// file out (sled writes the settings again, with the defaults fieldsync opens it with).
fn copy_without_snapshots(from: &Path, to: &Path) -> std::io::Result<()> {
    create_private_dir(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let target = to.join(&name);
        if entry.file_type()?.is_dir() {
            copy_without_snapshots(&entry.path(), &target)?;
        } else if !name.to_string_lossy().starts_with("snap.") && name != "conf" {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

impl Store {
    /// Opens a database even when it is damaged, to read what is left of it (see the module
    /// notes): the damage found, if any, comes back beside the store. Never use it to sync.
    pub fn open_to_salvage(
        path: impl AsRef<Path>,
        options: &StoreOptions,
    ) -> Result<(Store, Option<StoreError>), StoreError> {
        let path = path.as_ref();
        match Store::open_unchecked(path, options) {
            Ok(mut store) => {
                let damage = store.check_seal().err();
                store.salvaging = Some(Arc::new(Salvaging::default()));
                Ok((store, damage))
            }
            Err(damage @ (StoreError::Damaged { .. } | StoreError::Open { .. })) => {
                let copy = std::env::temp_dir().join(format!(
                    "fieldsync-salvage-{}-{}",
                    std::process::id(),
                    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
                ));
                let guard = SalvageCopy { dir: copy.clone() };
                copy_without_snapshots(path, &copy).map_err(|e| StoreError::Open {
                    path: copy.clone(),
                    detail: format!("could not copy the damaged database to salvage it: {e}"),
                })?;
                let mut store = match Store::open_unchecked(&copy, options) {
                    Ok(store) => store,
                    Err(_) => return Err(damage),
                };
                tracing::warn!(
                    "sled could not open {}: reading what its log still holds, from a copy without its snapshots",
                    path.display()
                );
                store.salvaging = Some(Arc::new(Salvaging {
                    unreadable: AtomicU64::new(0),
                    _copy: Some(guard),
                }));
                Ok((store, Some(damage)))
            }
            Err(e) => Err(e),
        }
    }

    /// Conflict entries skipped so far because they could not be read (a salvaged store).
    pub fn unreadable_conflicts(&self) -> u64 {
        self.salvaging
            .as_ref()
            .map_or(0, |s| s.unreadable.load(Ordering::Relaxed))
    }

    /// Whether this store was opened to salvage what is left of it.
    pub fn is_salvaging(&self) -> bool {
        self.salvaging.is_some()
    }

    /// How many conflict entries the cycle reports that can still be read say were logged,
    /// `count` reading that number from a report (at most: an entry made again after a kill
    /// is counted by its cycle, and logged once).
    pub fn logged_by_cycles<T: serde::de::DeserializeOwned>(
        &self,
        count: impl Fn(&T) -> u64,
    ) -> u64 {
        self.cycles
            .iter()
            .values()
            .filter_map(Result::ok)
            .filter_map(|v| super::codec::decode::<T>(&v, "cycle report").ok())
            .map(|r| count(&r))
            .sum()
    }

    /// Counts an entry skipped while salvaging.
    pub(super) fn skipped_unreadable(&self) {
        if let Some(s) = &self.salvaging {
            s.unreadable.fetch_add(1, Ordering::Relaxed);
        }
    }
}
