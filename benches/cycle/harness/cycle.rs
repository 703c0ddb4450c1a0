//! A cycle is measured as users run it: the `fieldsync` binary itself (`fieldsync sync
//! --config F --report R`, built by cargo beside the bench), in a process of its own. Its CPU
//! time comes from the kernel when it ends (`wait4`): the whole process, start-up, opening the
//! database and closing it included. Its report (counts, requests, the time of each step, its
//! peak memory) is the file it writes; the database is measured once it has closed it.

use super::{CycleOutcome, measure};
use fieldsync::cmd::sync::ReportFile;
use fieldsync::config::Config;
use fieldsync::store::{Store, StoreOptions};
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// The binary users run, as cargo built it for this bench (or test).
const FIELDSYNC: &str = env!("CARGO_BIN_EXE_fieldsync");

/// Runs one cycle of `fieldsync sync` with the configuration at `config_path`.
pub async fn run(
    dir: &Path,
    name: &str,
    config_path: &Path,
    config: &Config,
) -> Result<CycleOutcome, String> {
    let since = pull_starts(config)?;
    let report_file = dir.join(format!("{name}.report.json"));
    let log_file = dir.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_file).map_err(|e| e.to_string())?;
    // `BENCH_CYCLE_WRAP="perf record -g"` runs the cycle under a profiler.
    let wrap = std::env::var("BENCH_CYCLE_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(FIELDSYNC);
            c
        }
        None => Command::new(FIELDSYNC),
    };
    command
        .arg("sync")
        .arg("--config")
        .arg(config_path)
        .arg("--report")
        .arg(&report_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let child = command
        .spawn()
        .map_err(|e| format!("starting {FIELDSYNC}: {e}"))?;
    let pid = child.id();
    let (exit, cpu_s) = tokio::task::spawn_blocking(move || wait(pid))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("waiting for fieldsync sync: {e}"))?;
    if !exit.success() {
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        return Err(format!(
            "fieldsync sync ended with {exit}; what it said:\n{log}"
        ));
    }
    let file: ReportFile = serde_json::from_slice(
        &std::fs::read(&report_file).map_err(|e| format!("{}: {e}", report_file.display()))?,
    )
    .map_err(|e| format!("{}: {e}", report_file.display()))?;

    let store = open(config)?;
    let db_bytes = store.size_on_disk().map_err(|e| e.to_string())?;
    let stats = store.stats();
    drop(store);
    Ok(CycleOutcome {
        wall_s: file.report.duration_ms as f64 / 1000.0,
        cpu_s,
        peak_rss: file
            .peak_rss_bytes
            .ok_or("fieldsync sync did not report its peak memory")?,
        db_bytes,
        db_du_bytes: measure::disk_usage(&config.store.path),
        observation_entries: stats.observation_entries,
        records: stats.records,
        entities: stats.entities,
        since,
        steps: file.steps,
        report: file.report,
    })
}

fn open(config: &Config) -> Result<Store, String> {
    Store::open(
        &config.store.path,
        &StoreOptions {
            cache_bytes: config.store.cache_mb * 1024 * 1024,
        },
    )
    .map_err(|e| e.to_string())
}

/// Where each table's pull will start (its cursor less the overlap), by table: what the floor
/// reads. Every table starts from the beginning when there is no database yet.
fn pull_starts(
    config: &Config,
) -> Result<BTreeMap<String, Option<chrono::DateTime<chrono::Utc>>>, String> {
    let overlap = chrono::Duration::from_std(config.sync.overlap_window).unwrap_or_default();
    let store = config
        .store
        .path
        .exists()
        .then(|| open(config))
        .transpose()?;
    let mut since = BTreeMap::new();
    for kind in config.kinds() {
        let cursor = match &store {
            Some(s) => s.cursor(kind).map_err(|e| e.to_string())?,
            None => None,
        };
        since.insert(kind.api_name().to_owned(), cursor.map(|c| c - overlap));
    }
    Ok(since)
}

/// Waits for the child `pid` to end; returns how it ended and its CPU time (user and system,
/// in seconds) as the kernel counted it. (Not its peak memory: the rusage of a process started
/// by `exec` also counts the memory of the process that started it.)
fn wait(pid: u32) -> std::io::Result<(ExitStatus, f64)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data; all zeroes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `ru` are valid for writes; `pid` is our own child, which nothing
        // else waits for (it was started with std's `Command`, whose `Child` is never waited).
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut ru) };
        if r >= 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok((
        ExitStatus::from_raw(status),
        secs(ru.ru_utime) + secs(ru.ru_stime),
    ))
}
