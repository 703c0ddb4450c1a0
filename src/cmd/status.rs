//! `fieldsync status`: the last cycles, the cursors, what is pending, and the requests sent,
//! for a person (`status`) or for monitoring (`status --json`, `status --check`).

use super::exit::Exit;
use super::ui::Ui;
use super::{CmdError, ConfigArgs, open_waiting};
use crate::sync::CycleReport;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

/// Show the last cycles, cursors, pending work and requests sent.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub store: ConfigArgs,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// How many past cycles to show.
    #[arg(long, default_value_t = 10)]
    pub cycles: usize,
    /// Wait this long for a cycle in progress to release the database.
    #[arg(long, default_value = "30s", value_parser = crate::duration_text::parse)]
    pub wait: Duration,
    /// For monitoring: exit 1 when the last cycle failed, was killed or stopped, or when
    /// there is none; print one line (nothing with -q unless unhealthy).
    #[arg(long)]
    pub check: bool,
    /// With --check: also exit 1 when the last successful cycle ended longer ago than this
    /// ("1h", "30m").
    #[arg(long, requires = "check", value_parser = crate::duration_text::parse)]
    pub max_age: Option<Duration>,
}

/// The version of `status --json`'s shape: raised when a field changes meaning or goes away
/// (new fields may come without it).
pub const SCHEMA_VERSION: u32 = 1;

/// What `status --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    pub database: String,
    pub size_on_disk: u64,
    /// When the newest cycle that ran to its end ended (`null`: none did).
    pub last_success: Option<DateTime<Utc>>,
    /// That cycle's number.
    pub last_success_cycle: Option<u64>,
    /// Newest first; each cycle's `requests` are by side, then by kind, as `requests` below.
    #[serde(serialize_with = "cycles_json")]
    pub cycles: Vec<CycleReport>,
    pub cursors: BTreeMap<String, DateTime<Utc>>,
    /// The Mautic version the instance announced at the last cycle that reached it.
    pub mautic_version: Option<String>,
    /// When the last cycle that read every record of both sides again started
    /// (`sync.full_every`).
    pub last_full_read: Option<DateTime<Utc>>,
    pub outbox: usize,
    /// Inserts sent whose outcome is not known yet: looked up before they are sent again.
    pub in_flight: usize,
    pub dirty: usize,
    pub records: usize,
    pub entities: usize,
    pub observation_entries: usize,
    pub conflicts: usize,
    /// Every request fieldsync sent through this database, by side, then by kind.
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Totals by side.
    pub requests_total: BTreeMap<String, u64>,
    /// How the command ends (`--check`).
    #[serde(skip)]
    pub exit: Exit,
}

/// Request counts keyed "side kind", by side then kind.
fn by_side(flat: &BTreeMap<String, u64>) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (key, n) in flat {
        let (side, kind) = key.split_once(' ').unwrap_or((key.as_str(), ""));
        *out.entry(side.into())
            .or_default()
            .entry(kind.into())
            .or_default() += n;
    }
    out
}

/// The cycles as stored, with their request counts in the one shape `status --json` uses.
fn cycles_json<S: serde::Serializer>(cycles: &[CycleReport], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::{Error, SerializeSeq};
    let mut seq = s.serialize_seq(Some(cycles.len()))?;
    for c in cycles {
        let mut v = serde_json::to_value(c).map_err(S::Error::custom)?;
        v["requests"] = serde_json::to_value(by_side(&c.requests)).map_err(S::Error::custom)?;
        seq.serialize_element(&v)?;
    }
    seq.end()
}

/// Whether the sync is healthy, for `--check`: the line to print, and whether it is.
fn health(s: &Status, max_age: Option<Duration>, now: DateTime<Utc>) -> (bool, String) {
    let Some(last) = s.cycles.first() else {
        return (
            false,
            "FAIL no cycle has run yet: run `fieldsync sync`".into(),
        );
    };
    if last.is_unfinished() {
        return (
            false,
            format!("FAIL cycle {} was killed before it ended", last.cycle),
        );
    }
    if last.failed {
        return (
            false,
            format!(
                "FAIL cycle {} failed: {}",
                last.cycle,
                last.errors.first().map(String::as_str).unwrap_or("")
            ),
        );
    }
    if last.interrupted {
        return (
            false,
            format!("FAIL cycle {} was stopped before its end", last.cycle),
        );
    }
    let Some(at) = s.last_success else {
        return (false, "FAIL no cycle has run to its end yet".into());
    };
    let age = (now - at).to_std().unwrap_or_default();
    let age_text = crate::duration_text::format(Duration::from_secs(age.as_secs()));
    if let Some(max) = max_age
        && age > max
    {
        return (
            false,
            format!(
                "FAIL the last successful cycle ended {age_text} ago, more than {}: is `fieldsync run` running?",
                crate::duration_text::format(max)
            ),
        );
    }
    (
        true,
        format!(
            "ok   cycle {} ended {age_text} ago{}",
            s.last_success_cycle.unwrap_or(last.cycle),
            if last.errors.is_empty() {
                String::new()
            } else {
                format!(", with {} record error(s)", last.errors.len())
            }
        ),
    )
}

pub async fn run(args: &StatusArgs) -> Result<Status, CmdError> {
    let path = args.store.path()?;
    let store = open_waiting(&path, 64, args.wait, None).await?;
    let stats = store.stats();
    let requests = by_side(&store.request_totals()?);
    let requests_total: BTreeMap<String, u64> = requests
        .iter()
        .map(|(side, kinds)| (side.clone(), kinds.values().sum()))
        .collect();
    let last_success = store.newest_cycle_report(CycleReport::succeeded)?;
    let mut status = Status {
        schema_version: SCHEMA_VERSION,
        database: path.display().to_string(),
        size_on_disk: store.size_on_disk()?,
        last_success: last_success
            .as_ref()
            .and_then(|(_, r): &(u64, CycleReport)| r.finished_at),
        last_success_cycle: last_success.as_ref().map(|(c, _)| *c),
        cycles: store
            .cycle_reports::<CycleReport>(args.cycles)?
            .into_iter()
            .map(|(_, r)| r)
            .collect(),
        cursors: store
            .cursors()?
            .into_iter()
            .map(|(k, t)| (k.to_string(), t))
            .collect(),
        mautic_version: store.mautic_version()?,
        last_full_read: store.last_full_read()?,
        outbox: stats.outbox,
        in_flight: store.in_flight_len(),
        dirty: stats.dirty,
        records: stats.records,
        entities: stats.entities,
        observation_entries: stats.observation_entries,
        conflicts: stats.conflicts,
        requests,
        requests_total,
        exit: Exit::Done,
    };
    let mut out = std::io::stdout().lock();
    if args.check {
        let (healthy, line) = health(&status, args.max_age, Utc::now());
        if !healthy {
            status.exit = Exit::Failed;
        }
        // With --json, the JSON alone (the exit code says the health).
        if !args.json {
            if !healthy || !Ui::get().quiet {
                let _ = writeln!(out, "{line}");
            }
            return Ok(status);
        }
    }
    if args.json {
        serde_json::to_writer_pretty(&mut out, &status)
            .map_err(std::io::Error::from)
            .map_err(|e| CmdError::Output {
                path: "standard output".into(),
                source: e,
            })?;
        let _ = writeln!(out);
    } else {
        let _ = write!(out, "{}", human(&status));
    }
    Ok(status)
}

fn human(s: &Status) -> String {
    let mut o = format!(
        "database {} ({:.1} MB): {} records, {} entities, {} observation entries, {} conflict-log entries\n",
        s.database,
        s.size_on_disk as f64 / 1e6,
        s.records,
        s.entities,
        s.observation_entries,
        s.conflicts
    );
    o += &format!(
        "pending: {} patch(es) in the outbox, {} record(s) to merge\n",
        s.outbox, s.dirty
    );
    if s.in_flight > 0 {
        o += &format!(
            "unanswered: {} insert(s) whose answer was lost; each is looked up before it is sent again\n",
            s.in_flight
        );
    }
    if let Some(v) = &s.mautic_version {
        o += &format!("mautic: version {v}\n");
    }
    match (s.last_success, s.last_success_cycle) {
        (Some(t), Some(c)) => {
            o += &format!(
                "last success: cycle {c}, ended {}\n",
                t.format("%Y-%m-%d %H:%M:%S UTC")
            )
        }
        _ => o += "last success: none yet\n",
    }
    match s.last_full_read {
        Some(t) => {
            o += &format!(
                "last full read: {} (every record of both sides read again; see sync.full_every)\n",
                t.format("%Y-%m-%d %H:%M:%S UTC")
            )
        }
        None => o += "last full read: none yet\n",
    }
    if s.cycles.is_empty() {
        o += "no cycle yet: run `fieldsync sync`\n";
    }
    for c in &s.cycles {
        let state = if c.is_unfinished() {
            "killed"
        } else if c.failed {
            "FAILED"
        } else if c.interrupted {
            "stopped"
        } else {
            "ok"
        };
        o += &format!(
            "cycle {:>5}  {}  {:>7.1}s  {:7}  pulled {:>6}  created {:>4}  updated {:>5}  conflicts {:>4}  errors {}\n",
            c.cycle,
            c.started_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default(),
            c.duration_ms as f64 / 1000.0,
            state,
            c.total_pulled(),
            c.total_inserts(),
            c.total_updates(),
            c.conflicts,
            c.errors.len()
        );
        if c.failed
            && let Some(e) = c.errors.first()
        {
            o += &format!("             {e}\n");
        }
    }
    for (table, t) in &s.cursors {
        o += &format!("cursor {table:<28} {}\n", t.format("%Y-%m-%d %H:%M:%S UTC"));
    }
    for (side, kinds) in &s.requests {
        let detail: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        o += &format!(
            "requests {side}: {} ({})\n",
            s.requests_total.get(side).copied().unwrap_or(0),
            detail.join(", ")
        );
    }
    o
}
