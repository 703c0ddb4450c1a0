//! Step 2 of a cycle: page through both sides at once, every table from its cursor minus the
//! overlap window, into the store.
//!
//! A table's cursor moves only after its pages are durable, and it moves to the side's own
//! clock at the time the pull started (the `Date` of the first page), never to fieldsync's:
//! clocks that disagree cannot make a pull skip an edit. If either side's pull fails, the cycle
//! stops before merging: merging against a side that was only half read could route a contact
//! to a duplicate insert.
//!
//! Fetching and storing overlap: a table's pager runs as its own task, one page ahead of the
//! store (a bounded channel holds the next page), so the side prepares and sends page n+1 and
//! the connector parses it while page n is written to the store. At most two pages are held.

use super::report::CycleReport;
use super::{CycleOptions, Engine, Progress, Shutdown, SyncError, mapping};
use crate::connector::{Connector, Pager};
use crate::model::{RecordKind, Side};
use chrono::{DateTime, Utc};

/// Pulls every table that syncs, both sides concurrently.
pub async fn pull(
    engine: &Engine,
    cycle: u64,
    options: CycleOptions,
    report: &mut CycleReport,
    progress: &dyn Progress,
    shutdown: &Shutdown,
) -> Result<(), SyncError> {
    let kinds = engine.config.kinds();
    let of = |side: Side| -> Vec<RecordKind> {
        kinds.iter().copied().filter(|k| k.side() == side).collect()
    };
    let (weavy_kinds, mautic_kinds) = (of(Side::Weavy), of(Side::Mautic));
    let anonymous_since = since(engine, RecordKind::MauticContact, options)?;
    let mut weavy_report = CycleReport::default();
    let mut mautic_report = CycleReport::default();
    let (w, m) = tokio::join!(
        pull_side(
            engine,
            &engine.weavy,
            &weavy_kinds,
            cycle,
            options,
            &mut weavy_report,
            progress,
            shutdown,
        ),
        pull_side(
            engine,
            &engine.mautic,
            &mautic_kinds,
            cycle,
            options,
            &mut mautic_report,
            progress,
            shutdown,
        ),
    );
    report.absorb(weavy_report);
    report.absorb(mautic_report);
    w?;
    m?;
    // Anonymous visitors are never listed (the pager asks Mautic to leave them out): count
    // the ones that changed, so the report says what was skipped.
    if mautic_kinds.contains(&RecordKind::MauticContact) {
        match engine.mautic.count_anonymous(anonymous_since).await {
            Ok(n) => report.skipped_anonymous += n,
            Err(e) => report.error(format!("counting anonymous visitors: {e}")),
        }
    }
    Ok(())
}

/// Where a table's pull starts: its cursor minus the overlap window; everything on `--full`.
fn since(
    engine: &Engine,
    kind: RecordKind,
    options: CycleOptions,
) -> Result<Option<DateTime<Utc>>, SyncError> {
    if options.full {
        return Ok(None);
    }
    let overlap = chrono::Duration::from_std(engine.config.sync.overlap_window)
        .unwrap_or(chrono::Duration::zero());
    Ok(engine.store.cursor(kind)?.map(|c| c - overlap))
}

#[allow(clippy::too_many_arguments)]
async fn pull_side<C: Connector>(
    engine: &Engine,
    conn: &C,
    kinds: &[RecordKind],
    cycle: u64,
    options: CycleOptions,
    report: &mut CycleReport,
    progress: &dyn Progress,
    shutdown: &Shutdown,
) -> Result<(), SyncError>
where
    C::Pager: 'static,
{
    for &kind in kinds {
        if shutdown.is_requested() {
            break;
        }
        pull_table(
            engine, conn, kind, cycle, options, report, progress, shutdown,
        )
        .await?;
    }
    Ok(())
}

/// Pages fetched ahead of the store.
const AHEAD: usize = 1;

#[allow(clippy::too_many_arguments)]
async fn pull_table<C: Connector>(
    engine: &Engine,
    conn: &C,
    kind: RecordKind,
    cycle: u64,
    options: CycleOptions,
    report: &mut CycleReport,
    progress: &dyn Progress,
    shutdown: &Shutdown,
) -> Result<(), SyncError>
where
    C::Pager: 'static,
{
    let since = since(engine, kind, options)?;
    let step = format!("pull {kind}");
    progress.start(&step, None);
    tracing::debug!(%kind, ?since, "pulling");
    let mut pager = conn.changed_since(kind, since);
    let (tx, mut pages) = tokio::sync::mpsc::channel(AHEAD);
    let fetcher = tokio::spawn(async move {
        loop {
            let page = pager.next_page().await;
            let last = !matches!(page, Ok(Some(_)));
            let total = pager.total();
            // The receiver is gone when storing failed: stop fetching.
            if tx.send(page.map(|p| p.map(|p| (p, total)))).await.is_err() || last {
                return pager.server_time();
            }
        }
    });
    // Stops the fetcher if this pull returns early (a store error).
    let _abort = AbortOnDrop(fetcher.abort_handle());
    let mut newest: Option<DateTime<Utc>> = None;
    let mut total_told = false;
    while let Some((page, total)) = pages.recv().await.transpose()?.flatten() {
        if let (Some(total), false) = (total, total_told) {
            progress.set_total(&step, total);
            total_told = true;
        }
        *report.pulled.entry(kind.api_name().to_owned()).or_default() += page.len() as u64;
        let sightings: Vec<_> = page
            .iter()
            .filter_map(|r| {
                newest = newest.max(Some(r.modified_at));
                mapping::sighting(&engine.config, r, report)
            })
            .collect();
        let stats = engine.store.ingest(cycle, &sightings)?;
        report.observations += stats.observations as u64;
        progress.advance(&step, page.len() as u64);
        if shutdown.is_requested() {
            // What was read is stored; the cursor stays, so the next pull reads the rest.
            engine.store.flush()?;
            progress.finish(&step);
            return Ok(());
        }
    }
    let server_time = match fetcher.await {
        Ok(t) => t,
        // The pager panicked: so does the pull (the cursor must not move).
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    engine.store.flush()?;
    // The side's clock when the pull began; without a Date header, the newest change seen.
    if let Some(cursor) = server_time.or(newest) {
        engine.store.set_cursor(kind, cursor)?;
    }
    progress.finish(&step);
    Ok(())
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
