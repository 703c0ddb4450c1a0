//! The seal: how fieldsync notices a database file that lost data sled cannot see it lost.
//!
//! sled recovers a damaged log by keeping its longest valid prefix: a truncated file, or one
//! overwritten with garbage, opens as an *older* database (or an empty one) without any error.
//! fieldsync would then carry on as if the lost conflict entries, links and bases had never
//! existed: silent loss. So every durable point of the store is sealed twice:
//!
//! 1. a counter in the `meta` tree is bumped, as the last write before sled's flush;
//! 2. once the flush returned, the same number is written to a small file beside sled's, the
//!    seal (written to a temporary name and renamed, so it is whole or absent).
//!
//! On open, the counter sled recovered must be at least the seal's. sled's log keeps writes in
//! order, so a counter that survived means everything written before it survived too; a
//! counter below the seal means writes that were durable are gone, and the open fails with
//! [`StoreError::Damaged`] instead of starting from a silently older state. A crash between
//! the flush and the seal leaves the seal behind the counter, which is fine. A database
//! without a seal (new, or made before the seal existed) is not checked.

use super::{Store, StoreError};
use std::path::Path;

/// The seal's file name, in the database directory.
pub const SEAL_FILE: &str = "fieldsync.seal";
const META_SEAL: &[u8] = b"seal";
const HEADER: &str = "fieldsync seal 1";

impl Store {
    /// Flushes, then seals the flushed state (see the module notes).
    pub(super) fn flush_sealed(&self) -> Result<(), StoreError> {
        let next = self.seal_counter()?.unwrap_or(0) + 1;
        self.meta.insert(META_SEAL, &next.to_be_bytes())?;
        self.db.flush()?;
        if self.is_temporary() {
            return Ok(());
        }
        write_seal(&self.path, next).map_err(|e| {
            StoreError::Io(format!(
                "could not write {}: {e}",
                self.path.join(SEAL_FILE).display()
            ))
        })?;
        // What sled added since (a snapshot) is made owner-only too.
        super::private::make_private(&self.path).map_err(|e| {
            StoreError::Io(format!(
                "could not make {} owner-only: {e}",
                self.path.display()
            ))
        })
    }

    fn seal_counter(&self) -> Result<Option<u64>, StoreError> {
        self.meta
            .get(META_SEAL)?
            .map(|v| {
                v.as_ref()
                    .try_into()
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        what: "seal counter",
                        detail: format!("{} bytes", v.len()),
                    })
            })
            .transpose()
    }

    /// Checks the recovered state against the seal, and that the field dictionary reads whole:
    /// `Err(Damaged)` when durable writes are missing or the dictionary is damaged.
    pub(super) fn check_seal(&self) -> Result<(), StoreError> {
        if let Some(detail) = self.fields.damage() {
            return Err(StoreError::Damaged {
                path: self.path.clone(),
                detail: format!("its field dictionary cannot be read ({detail})"),
            });
        }
        if self.is_temporary() {
            return Ok(());
        }
        let Some(sealed) = read_seal(&self.path)? else {
            return Ok(());
        };
        let found = match self.seal_counter() {
            Ok(found) => found.unwrap_or(0),
            Err(e) => {
                return Err(StoreError::Damaged {
                    path: self.path.clone(),
                    detail: e.to_string(),
                });
            }
        };
        if found < sealed {
            return Err(StoreError::Damaged {
                path: self.path.clone(),
                detail: if found == 0 {
                    format!(
                        "it holds none of the {sealed} durable states it had reached (the file was truncated, emptied or overwritten)"
                    )
                } else {
                    format!(
                        "it holds durable state {found} of {sealed}: the last writes made durable are gone (the file was truncated or overwritten)"
                    )
                },
            });
        }
        Ok(())
    }
}

impl Store {
    fn is_temporary(&self) -> bool {
        self.path.as_os_str() == super::TEMPORARY
    }
}

fn write_seal(dir: &Path, n: u64) -> std::io::Result<()> {
    let tmp = dir.join(format!("{SEAL_FILE}.tmp"));
    std::fs::write(&tmp, format!("{HEADER}\n{n}\n"))?;
    std::fs::rename(&tmp, dir.join(SEAL_FILE))
}

fn read_seal(dir: &Path) -> Result<Option<u64>, StoreError> {
    let path = dir.join(SEAL_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::Damaged {
                path: dir.to_path_buf(),
                detail: format!("its seal {} cannot be read: {e}", path.display()),
            });
        }
    };
    let mut lines = text.lines();
    match (
        lines.next(),
        lines.next().and_then(|n| n.trim().parse().ok()),
    ) {
        (Some(HEADER), Some(n)) => Ok(Some(n)),
        _ => Err(StoreError::Damaged {
            path: dir.to_path_buf(),
            detail: format!("its seal {} is not a fieldsync seal", path.display()),
        }),
    }
}
