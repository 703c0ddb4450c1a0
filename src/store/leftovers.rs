//! sled's own unfinished files, recognised and removed so that a database is not refused
//! forever after a write that could not finish.
//!
//! sled writes a snapshot to `snap.<lsn>.generating`, syncs it, then renames it to
//! `snap.<lsn>` (sled 0.34, `pagecache/snapshot.rs`, `write_snapshot`). When the disk fills up
//! (or the process dies) before the rename, the `.generating` file stays, empty or cut. On
//! the next open sled takes the newest `snap.*` file it finds, that one included, and refuses
//! it as corrupt: every command then says the database is damaged, even once space is free.
//! Such a file never holds anything sled needs (the log it summarises is still there, and
//! sled regenerates snapshots from it), so when an open fails as damaged and such files are
//! there, they are removed, the removal is logged, and the open is tried again.

use std::path::{Path, PathBuf};

/// Whether `name` is one of sled's snapshots that was never finished.
fn is_unfinished_snapshot(name: &str) -> bool {
    name.starts_with("snap.") && name.ends_with(".generating")
}

/// Removes the unfinished snapshots in the database directory `dir`; the files removed.
pub(super) fn remove_unfinished_snapshots(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if entry.file_type()?.is_file() && name.to_str().is_some_and(is_unfinished_snapshot) {
            std::fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unfinished_snapshots_are_recognised() {
        assert!(is_unfinished_snapshot("snap.00000000000A1B2C.generating"));
        assert!(!is_unfinished_snapshot("snap.00000000000A1B2C"));
        assert!(!is_unfinished_snapshot("db"));
        assert!(!is_unfinished_snapshot("fieldsync.seal"));
        assert!(!is_unfinished_snapshot("blobs"));
    }
}
