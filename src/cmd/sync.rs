//! `fieldsync sync`: one cycle, now. `--dry-run` prints every write it would make and sends
//! nothing; `--full` reads every record of both sides again instead of what changed.

use super::{CmdError, ConfigArgs, progress::Bars};
use crate::sync::{CycleOptions, CycleReport, Engine};
use std::io::Write;

/// Run one sync cycle now.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Decide everything, write nothing: print every write it would make.
    #[arg(long)]
    pub dry_run: bool,
    /// Read every record of both sides again (after a long outage, a restore, a mapping change).
    #[arg(long)]
    pub full: bool,
}

pub async fn run(args: &SyncArgs) -> Result<CycleReport, CmdError> {
    let (config, store) = args.config.open()?;
    let engine = Engine::from_config(config, store)?;
    let bars = Bars::new();
    let report = engine
        .cycle(
            CycleOptions {
                dry_run: args.dry_run,
                full: args.full,
            },
            &bars,
        )
        .await?;
    drop(bars);
    let mut out = std::io::stdout().lock();
    if args.dry_run {
        for w in &report.planned {
            let _ = writeln!(out, "would write {w}");
        }
        let _ = writeln!(
            out,
            "dry run: {} write(s), nothing sent",
            report.planned.len()
        );
    }
    let _ = write!(out, "{}", summary(&report));
    Ok(report)
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
    s += &format!(
        "  linked {}, created: {}, updated: {}, field writes {}\n",
        r.linked,
        join(&r.inserts),
        join(&r.updates),
        r.changed_fields
    );
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
