//! `fieldsync status`: the last cycles, the cursors, what is pending, and the requests sent,
//! for a person (`status`) or for monitoring (`status --json`).

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
    #[arg(long, default_value = "30s", value_parser = crate::config::duration_text::parse)]
    pub wait: Duration,
}

/// What `status --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub database: String,
    pub size_on_disk: u64,
    /// Newest first.
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
}

pub async fn run(args: &StatusArgs) -> Result<Status, CmdError> {
    let path = args.store.path()?;
    let store = open_waiting(&path, 64, args.wait, None).await?;
    let stats = store.stats();
    let mut requests: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut requests_total: BTreeMap<String, u64> = BTreeMap::new();
    for (key, n) in store.request_totals()? {
        let (side, kind) = key.split_once(' ').unwrap_or((key.as_str(), ""));
        *requests
            .entry(side.into())
            .or_default()
            .entry(kind.into())
            .or_default() += n;
        *requests_total.entry(side.into()).or_default() += n;
    }
    let status = Status {
        database: path.display().to_string(),
        size_on_disk: store.size_on_disk()?,
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
    };
    let mut out = std::io::stdout().lock();
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
