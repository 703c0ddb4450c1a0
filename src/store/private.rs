//! Every file of the database is its owner's alone, whatever the umask: sled creates its
//! files with the process's umask (0666 under `umask 000`), and a database folder made
//! beforehand (`/var/lib/fieldsync`) may be open to others. The folder is set to 0700 and each
//! file in it to 0600 when the database opens and whenever it is made durable, so a file sled
//! adds later (a snapshot) is tightened at the next flush, and is unreachable meanwhile
//! behind the 0700 folder.

use std::path::Path;

/// Tightens the database folder and everything in it (unix; elsewhere nothing to do).
pub(super) fn make_private(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let tighten = |path: &Path, mode: u32| -> std::io::Result<()> {
            let meta = std::fs::symlink_metadata(path)?;
            if meta.file_type().is_symlink() {
                return Ok(());
            }
            if meta.permissions().mode() & 0o777 != mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
            Ok(())
        };
        fn walk(dir: &Path, f: &dyn Fn(&Path, u32) -> std::io::Result<()>) -> std::io::Result<()> {
            f(dir, 0o700)?;
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    walk(&entry.path(), f)?;
                } else if kind.is_file() {
                    f(&entry.path(), 0o600)?;
                }
            }
            Ok(())
        }
        walk(dir, &tighten)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
