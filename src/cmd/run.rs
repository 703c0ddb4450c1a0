//! `fieldsync run`: the daemon. A cycle now, then one every period (`--every`, else the
//! config's `sync.period`), one at a time; SIGINT or SIGTERM lets the batch in flight finish
//! and exits cleanly; a failing cycle is logged and the next tick comes anyway.
//!
//! The database is opened for each cycle and closed after it, so `status`, `conflicts` and
//! `history` can read it between cycles.

use super::{CmdError, ConfigArgs, open_waiting, progress::Bars};
use crate::sync::{CycleOptions, Engine, Shutdown, scheduler};
use std::sync::Arc;
use std::time::Duration;

/// Run a cycle now and then every period, until stopped (SIGINT, SIGTERM).
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Time between cycles ("15m", "1h", "30s"; at least 1s); default: `sync.period` in the
    /// config.
    #[arg(long, value_parser = crate::duration_text::parse_period)]
    pub every: Option<Duration>,
}

pub async fn run(args: &RunArgs) -> Result<(), CmdError> {
    let config = Arc::new(args.config.load()?);
    let (weavy, mautic, counter) = Engine::clients(&config)?;
    let period = args.every.unwrap_or(config.sync.period);
    let shutdown = Shutdown::new();
    shutdown.on_signals(super::exit::stop_at_once);
    tracing::info!(
        every = %crate::duration_text::format(period),
        database = %config.store.path.display(),
        "fieldsync running; stop with Ctrl-C or SIGTERM"
    );
    scheduler::every(period, &shutdown, || {
        let (config, weavy, mautic, counter, shutdown) = (
            config.clone(),
            weavy.clone(),
            mautic.clone(),
            counter.clone(),
            shutdown.clone(),
        );
        async move {
            let store = match open_waiting(
                &config.store.path,
                config.store.cache_mb,
                Duration::from_secs(300),
                Some(&shutdown),
            )
            .await
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!("cycle skipped: {e}");
                    return;
                }
            };
            let engine = Engine {
                config: (*config).clone(),
                store,
                weavy,
                mautic,
                counter,
                facts: Default::default(),
            };
            match engine
                .cycle_until(CycleOptions::default(), &Bars::new(), &shutdown)
                .await
            {
                Ok(r) => tracing::info!(
                    cycle = r.cycle,
                    seconds = r.duration_ms as f64 / 1000.0,
                    pulled = r.total_pulled(),
                    created = r.total_inserts(),
                    updated = r.total_updates(),
                    conflicts = r.conflicts,
                    pending = r.pending,
                    errors = r.errors.len(),
                    interrupted = r.interrupted,
                    "cycle done"
                ),
                Err(e) => tracing::error!("cycle failed, retrying at the next tick: {e}"),
            }
        }
    })
    .await;
    tracing::info!("stopped");
    Ok(())
}
