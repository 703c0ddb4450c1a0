//! `fieldsync sync`: one cycle, now. `--dry-run` prints every write it would make and sends
//! nothing; `--full` reads every record of both sides again instead of what changed;
//! `--report FILE` writes the cycle's report as JSON, with how long each step took (for
//! monitoring, and what the scale bench reads).

use super::exit::Exit;
use super::ui::Ui;
use super::{CmdError, ConfigArgs, progress::Bars};
use crate::model::{EntityId, PatchOp, Side};
use crate::sync::{CycleOptions, CycleReport, Engine, Progress, Shutdown};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

/// Run one sync cycle now.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Decide everything, write nothing: print every write it would make.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the outcome as JSON on standard output: the cycle's report, or with --dry-run
    /// every write it would make and their summary.
    #[arg(long)]
    pub json: bool,
    /// Read every record of both sides again (after a long outage, a restore, a mapping change).
    #[arg(long)]
    pub full: bool,
    /// The weavy project or the Mautic instance moved to a new address (same data): bind the
    /// database to the configuration's addresses, then sync.
    #[arg(long)]
    pub moved: bool,
    /// Also write the cycle's report as JSON to FILE (counts, errors, and the time of each step).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// What `--report` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportFile {
    pub report: CycleReport,
    /// Each step of the cycle (a table's pull, a phase's merge or writes), in the order they
    /// ended.
    pub steps: Vec<StepTime>,
    /// The largest resident memory the process had, in bytes (where the system tells it).
    pub peak_rss_bytes: Option<u64>,
}

/// The process's peak resident set size so far, in bytes: `VmHWM` of `/proc/self/status`
/// (Linux; the rusage of an exec'd process would count the memory of the process that started
/// it). `None` where the system does not tell it.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// The process's resident set size now, in bytes: `VmRSS` of `/proc/self/status` (Linux).
pub fn rss_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS:")
}

/// A size line of `/proc/self/status` (given in KiB there), in bytes.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// When a step of a cycle started (seconds after the cycle began) and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTime {
    pub step: String,
    pub start_s: f64,
    pub seconds: f64,
}

/// A [`Progress`] that times each step, and passes everything on.
pub struct StepClock<'a> {
    inner: &'a dyn Progress,
    t0: Instant,
    open: Mutex<HashMap<String, f64>>,
    done: Mutex<Vec<StepTime>>,
}

impl<'a> StepClock<'a> {
    pub fn new(inner: &'a dyn Progress) -> Self {
        StepClock {
            inner,
            t0: Instant::now(),
            open: Mutex::new(HashMap::new()),
            done: Mutex::new(Vec::new()),
        }
    }

    /// The steps that ended, in the order they ended.
    pub fn steps(self) -> Vec<StepTime> {
        self.done.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

impl Progress for StepClock<'_> {
    fn start(&self, step: &str, total: Option<u64>) {
        let now = self.t0.elapsed().as_secs_f64();
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(step.to_owned(), now);
        self.inner.start(step, total);
    }

    fn set_total(&self, step: &str, total: u64) {
        self.inner.set_total(step, total);
    }

    fn advance(&self, step: &str, n: u64) {
        self.inner.advance(step, n);
    }

    fn finish(&self, step: &str) {
        let now = self.t0.elapsed().as_secs_f64();
        let start = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(step)
            .unwrap_or(now);
        self.done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(StepTime {
                step: step.to_owned(),
                start_s: start,
                seconds: now - start,
            });
        self.inner.finish(step);
    }
}

pub async fn run(args: &SyncArgs) -> Result<CycleReport, CmdError> {
    // The report's file is made before anything is synced: a path that cannot be written is
    // found now, not after the cycle.
    let report_file = args
        .report
        .as_ref()
        .map(|path| {
            super::private_file(path).map_err(|source| CmdError::Output {
                path: path.clone(),
                source,
            })
        })
        .transpose()?;
    let (config, store) = args.config.open()?;
    if args.moved {
        if let Some(old) = store.instances()? {
            tracing::warn!(
                "the database was bound to {old}; it is now bound to {}",
                config.instances()
            );
        }
        store.bind(&config.instances(), true)?;
    }
    // What earlier cycles left to send (a cycle stopped or killed mid-way): this one sends it.
    let last_ended = store
        .cycle_reports::<CycleReport>(1)?
        .first()
        .is_none_or(|(_, r)| r.succeeded());
    let left = Leftovers {
        patches: store.outbox_len() as u64,
        inserts: store.in_flight_len() as u64,
        // Records pulled and not merged: only an unfinished cycle leaves them.
        to_merge: if last_ended {
            0
        } else {
            store.dirty_count() as u64
        },
    };
    let engine = Engine::from_config(config, store)?;
    // Ctrl-C or SIGTERM stops the cycle at its next safe point, as `run` does; a second one
    // exits at once (what is stored is durable: the next cycle resumes it).
    let shutdown = Shutdown::new();
    shutdown.on_signals(super::exit::stop_at_once);
    let bars = Bars::new();
    let clock = StepClock::new(&bars);
    let report = engine
        .cycle_until(
            CycleOptions {
                dry_run: args.dry_run,
                full: args.full,
            },
            &clock,
            &shutdown,
        )
        .await?;
    let steps = clock.steps();
    drop(bars);
    if let (Some(path), Some(mut f)) = (&args.report, report_file) {
        let file = ReportFile {
            report: report.clone(),
            steps,
            peak_rss_bytes: peak_rss_bytes(),
        };
        let output = |source| CmdError::Output {
            path: path.clone(),
            source,
        };
        serde_json::to_writer_pretty(&mut f, &file).map_err(|e| output(e.into()))?;
        f.write_all(b"\n").map_err(output)?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let json = if args.dry_run {
            serde_json::to_value(Plan::of(&report))
        } else {
            serde_json::to_value(&report)
        }
        .map_err(|e| CmdError::Output {
            path: "standard output".into(),
            source: e.into(),
        })?;
        let _ = writeln!(out, "{json:#}");
        return Ok(report);
    }
    // `-q` prints nothing unless something went wrong (cron mails whatever is printed).
    if Ui::get().quiet && report.errors.is_empty() {
        return Ok(report);
    }
    if args.dry_run {
        for w in &report.planned {
            let verb = match w.op {
                PatchOp::Insert => "would create",
                PatchOp::Update => "would write ",
            };
            let _ = writeln!(out, "{verb} {w}");
        }
        let _ = write!(out, "{}", Plan::of(&report));
    }
    let _ = write!(out, "{}", summary(&report));
    if !args.dry_run && (left.patches > 0 || left.inserts > 0 || left.to_merge > 0) {
        let _ = writeln!(
            out,
            "  resumed: {} write(s), {} unanswered insert(s) and {} record(s) to merge that an earlier cycle left; {} write(s) remain in the outbox",
            left.patches, left.inserts, left.to_merge, report.pending
        );
    }
    if report.interrupted {
        let _ = writeln!(
            out,
            "  stopped by a signal: what was done is stored; the next cycle goes on from there"
        );
    }
    Ok(report)
}

/// What a dry run would do, by table and operation (`sync --dry-run`, and `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The cycle it stands for (the next one: a dry run takes no number).
    pub cycle: u64,
    pub summary: Vec<PlanLine>,
    /// People whose company would be set on the other side (their field `company`).
    pub company_links: u64,
    pub writes: Vec<PlanWrite>,
}

/// One table and operation of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanLine {
    pub side: Side,
    pub object: &'static str,
    pub op: &'static str,
    pub records: u64,
    pub field_writes: u64,
}

/// One write of a [`Plan`], its values as they are shown.
#[derive(Debug, Clone, Serialize)]
pub struct PlanWrite {
    pub side: Side,
    pub object: &'static str,
    pub op: &'static str,
    /// `null` for a record to be created.
    pub record: Option<String>,
    pub entity: String,
    pub field: String,
    pub old: String,
    pub new: String,
    pub rule: String,
}

fn op_name(op: PatchOp) -> &'static str {
    match op {
        PatchOp::Insert => "create",
        PatchOp::Update => "update",
    }
}

impl Plan {
    pub fn of(report: &CycleReport) -> Plan {
        let mut by: BTreeMap<(Side, &'static str, PatchOp), (BTreeSet<EntityId>, u64)> =
            BTreeMap::new();
        let mut linked = BTreeSet::new();
        for w in &report.planned {
            let slot = by.entry((w.side, w.object, w.op)).or_default();
            slot.0.insert(w.entity);
            slot.1 += 1;
            if w.field == crate::sync::mapping::RELATION {
                linked.insert((w.side, w.entity));
            }
        }
        Plan {
            cycle: report.cycle,
            summary: by
                .into_iter()
                .map(|((side, object, op), (records, fields))| PlanLine {
                    side,
                    object,
                    op: op_name(op),
                    records: records.len() as u64,
                    field_writes: fields,
                })
                .collect(),
            company_links: linked.len() as u64,
            writes: report
                .planned
                .iter()
                .map(|w| PlanWrite {
                    side: w.side,
                    object: w.object,
                    op: op_name(w.op),
                    record: w.record.clone(),
                    entity: w.entity.to_string(),
                    field: w.field.clone(),
                    old: w.old.to_string(),
                    new: w.new.to_string(),
                    rule: w.rule.to_string(),
                })
                .collect(),
        }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "dry run of cycle {}: {} write(s) to {} record(s), nothing sent",
            self.cycle,
            self.writes.len(),
            self.summary.iter().map(|l| l.records).sum::<u64>()
        )?;
        for l in &self.summary {
            writeln!(
                f,
                "  would {:<6} {:>6} {} {} record(s) ({} field write(s))",
                l.op, l.records, l.side, l.object, l.field_writes
            )?;
        }
        writeln!(
            f,
            "  would link {} person(s) to their company on the other side",
            self.company_links
        )
    }
}

/// What earlier cycles left for this one.
struct Leftovers {
    patches: u64,
    inserts: u64,
    to_merge: u64,
}

/// How a `sync` ends: done, or done with errors on some records.
pub fn exit_of(report: &CycleReport) -> Exit {
    if report.errors.is_empty() {
        Exit::Done
    } else {
        Exit::RecordErrors
    }
}

/// The report in a few lines a person reads.
pub fn summary(r: &CycleReport) -> String {
    let mut s = String::new();
    let join = |m: &std::collections::BTreeMap<String, u64>| {
        if m.is_empty() {
            "none".to_owned()
        } else {
            m.iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    s += &format!(
        "cycle {}{} in {:.1}s: pulled {} record(s) ({}), {} new value(s)\n",
        r.cycle,
        if r.dry_run { " (dry run)" } else { "" },
        r.duration_ms as f64 / 1000.0,
        r.total_pulled(),
        join(&r.pulled),
        r.observations
    );
    if r.dry_run {
        s += &format!(
            "  would link {} pair(s) of records; {} field write(s) decided, none sent (see above)\n",
            r.linked, r.changed_fields
        );
    } else {
        s += &format!(
            "  linked {}, created: {}, updated: {}, field writes {}\n",
            r.linked,
            join(&r.inserts),
            join(&r.updates),
            r.changed_fields
        );
    }
    s += &format!(
        "  conflicts logged {}, duplicates {}, re-linked {}, e-mail collisions {}, rejected {}, gone {}\n",
        r.conflicts, r.duplicates, r.relinked, r.collisions, r.rejected, r.gone
    );
    s += &format!(
        "  skipped: {} anonymous visitor(s), {} without e-mail, {} compan(ies) without key, {} invalid value(s)\n",
        r.skipped_anonymous, r.skipped_no_email, r.skipped_no_key, r.invalid_values
    );
    s += &format!(
        "  requests: {} ({} retried); writes: {}; left in the outbox: {}\n",
        r.requests.values().sum::<u64>(),
        r.retries,
        join(&r.write_requests),
        r.pending
    );
    for e in &r.errors {
        s += &format!("  ! {e}\n");
    }
    s
}
