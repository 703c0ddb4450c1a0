//! What a process measures of itself, from `/proc/self` (Linux).
//!
//! - CPU time: `utime + stime` of `/proc/self/stat`, the whole process (threads that already
//!   ended included), in clock ticks of 1/100 s (`CLK_TCK` is 100 on Linux).
//! - Peak memory: `VmHWM` of `/proc/self/status`, the largest resident set size the process
//!   ever had; memory now: `VmRSS`.

/// CPU time used so far by this process, user and system, in seconds.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The command name is in parentheses and may hold spaces: count fields after it.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the line (utime, stime) are the 12th and 13th after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// The peak resident set size of this process so far, in bytes (as `fieldsync sync --report`
/// measures its own).
pub fn peak_rss_bytes() -> u64 {
    fieldsync::cmd::sync::peak_rss_bytes().unwrap_or(0)
}

/// The resident set size of this process now, in bytes.
pub fn rss_bytes() -> u64 {
    fieldsync::cmd::sync::rss_bytes().unwrap_or(0)
}

/// Opens the database (with the cycle's cache size) and closes it, doing nothing else: the
/// memory that takes, which sled 0.34 holds for as long as the database is open (a record of
/// every page, outside its cache) and, while opening, its snapshot of them.
pub fn open_store(spec: &super::OpenSpec) -> Result<super::OpenOutcome, String> {
    let before_rss = rss_bytes();
    let store = fieldsync::store::Store::open(
        &spec.path,
        &fieldsync::store::StoreOptions {
            cache_bytes: spec.cache_mb * 1024 * 1024,
        },
    )
    .map_err(|e| e.to_string())?;
    let peak_rss = peak_rss_bytes();
    drop(store);
    Ok(super::OpenOutcome {
        before_rss,
        peak_rss,
    })
}

/// Bytes actually allocated on disk under a directory (what `du` says).
pub fn disk_usage(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in entries.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            total += disk_usage(&e.path());
        } else {
            total += m.blocks() * 512;
        }
    }
    total
}
