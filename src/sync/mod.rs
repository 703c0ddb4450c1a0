//! One sync cycle, as `DESIGN.md` ("One sync cycle") lays it out, and the scheduler that
//! repeats it.
//!
//! 1. Read both sides' field lists and check the mapping against them ([`Engine::fields`]).
//! 2. Pull both sides at once ([`pull`]): every table from its cursor minus the overlap window,
//!    page by page into the store; a cursor moves only once its pages are durable.
//! 3. Then, companies first and people second (so that a person's company is linked before
//!    the person is merged): merge the dirty records ([`merge`]: identity, field decisions,
//!    patches into the outbox and conflict entries, one transaction per chunk), and apply the
//!    outbox ([`apply`]: batched, bases set on success, rejections logged). The two run at
//!    once: the merge, on a thread of its own, hands each committed chunk to the applier,
//!    which sends it while the merge goes on (`Engine::merge_and_apply`).
//!
//! A cycle killed at any point resumes at the next start from the dirty set and the outbox;
//! every step is idempotent, so the end state is the same.

pub mod apply;
pub mod facts;
pub mod landed;
pub mod mapping;
pub mod merge;
pub mod pull;
pub mod report;
pub mod scheduler;
pub mod unique_guard;

pub use facts::ServerFacts;
pub use report::{CycleReport, PlannedWrite};
pub use scheduler::Shutdown;

use crate::config::{Config, FieldMapping, MauticAuthKind, Problem};
use crate::connector::mautic::{MauticAuth, MauticClient, MauticSettings};
use crate::connector::weavy::{WeavyClient, WeavySettings};
use crate::connector::{Connector, ConnectorError, FieldInfo, RequestCounter};
use crate::model::{EntityKind, FieldPolicy, RecordKind};
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why a cycle stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("the mapping does not match the sides' fields ({} problem(s)); nothing was synced:\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Mapping(Vec<Problem>),
}

/// How to run a cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleOptions {
    /// Decide everything, write nothing: the report lists every write it would make.
    pub dry_run: bool,
    /// Ignore the cursors: read every record of both sides again.
    pub full: bool,
}

/// Reports progress of the long steps (the command line draws bars; tests pass nothing).
pub trait Progress: Send + Sync {
    /// A step starts; `total` when known.
    fn start(&self, _step: &str, _total: Option<u64>) {}
    /// The step's total, learned after it started (Mautic says it with a list's first page).
    fn set_total(&self, _step: &str, _total: u64) {}
    fn advance(&self, _step: &str, _n: u64) {}
    fn finish(&self, _step: &str) {}
}

/// A [`Progress`] that shows nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

/// The field lists of both sides, by table, read once per cycle.
pub type FieldLists = BTreeMap<RecordKind, Vec<FieldInfo>>;

/// The sync engine: the configuration, the store and a client per side. Cheap to clone
/// (the store and the clients are shared handles): the merge runs on a clone.
#[derive(Clone)]
pub struct Engine {
    pub config: Config,
    pub store: Store,
    pub weavy: WeavyClient,
    pub mautic: MauticClient,
    pub counter: Arc<RequestCounter>,
    /// What this cycle learned about the servers (set when it reads their field lists).
    pub facts: Arc<std::sync::RwLock<ServerFacts>>,
}

impl Engine {
    /// Builds the clients from the configuration (secrets from the environment).
    pub fn from_config(config: Config, store: Store) -> Result<Engine, SyncError> {
        let (weavy, mautic, counter) = Self::clients(&config)?;
        Ok(Engine {
            config,
            store,
            weavy,
            mautic,
            counter,
            facts: Arc::default(),
        })
    }

    /// What this cycle knows of the servers.
    pub fn facts(&self) -> std::sync::RwLockReadGuard<'_, ServerFacts> {
        self.facts.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Records what a cycle learned (see [`ServerFacts::learn_minutes`]).
    pub fn learn(&self, f: impl FnOnce(&mut ServerFacts)) {
        f(&mut self.facts.write().unwrap_or_else(|p| p.into_inner()));
    }

    /// A mapping's merge policy in this cycle: the mapping's own, compared at the precision
    /// both sides keep the field at.
    pub fn policy(&self, kind: EntityKind, mapping: &FieldMapping) -> FieldPolicy {
        let mut policy = mapping.policy(&self.config.sync);
        policy.compare.precision = self.facts().precision(kind, &mapping.name);
        policy
    }

    /// Whether this cycle reads every record again (`sync.full_every`): never read whole
    /// yet, or the last full read is that old. A first sync is one (nothing has a cursor).
    pub fn full_read_due(&self, now: chrono::DateTime<chrono::Utc>) -> Result<bool, SyncError> {
        let every = self.config.sync.full_every;
        if every.is_zero() {
            return Ok(false);
        }
        let every = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
        Ok(match self.store.last_full_read()? {
            Some(last) => now - last >= every,
            None => true,
        })
    }

    /// The weavy client a configuration describes.
    pub fn weavy_client(
        config: &Config,
        counter: &Arc<RequestCounter>,
    ) -> Result<WeavyClient, SyncError> {
        Ok(WeavyClient::new(
            WeavySettings {
                base_url: config.weavy.base_url.clone(),
                project_code: config.weavy.project_code.clone(),
                user: config.weavy.user.clone(),
                password: config.weavy_password()?,
                time_zone: config.time_zone(),
                http: config.weavy.http.clone(),
                value_types: config
                    .kinds()
                    .into_iter()
                    .filter(|k| k.side() == crate::model::Side::Weavy)
                    .map(|k| {
                        let types = config
                            .mappings(k)
                            .iter()
                            .filter_map(|m| Some((m.code(k)?.to_owned(), m.field_type)))
                            .collect();
                        (k, types)
                    })
                    .collect(),
            },
            counter.clone(),
        )?)
    }

    /// The Mautic client a configuration describes.
    pub fn mautic_client(
        config: &Config,
        counter: &Arc<RequestCounter>,
    ) -> Result<MauticClient, SyncError> {
        let auth = match config.mautic.auth {
            MauticAuthKind::Oauth2 => MauticAuth::OAuth2 {
                client_id: config.mautic.client_id.clone().unwrap_or_default(),
                client_secret: config.mautic_secret()?,
            },
            MauticAuthKind::Basic => MauticAuth::Basic {
                user: config.mautic.user.clone().unwrap_or_default(),
                password: config.mautic_secret()?,
            },
        };
        Ok(MauticClient::new(
            MauticSettings {
                base_url: config.mautic.base_url.clone(),
                auth,
                http: config.mautic.http.clone(),
                page_size: config.mautic.page_size,
                batch_size: config.mautic.batch_size,
                null_date_modified_fallback: config.mautic.null_date_modified_fallback,
            },
            counter.clone(),
        )?)
    }

    /// The two clients (and their shared request counter) a configuration describes: built once
    /// by the daemon and reused by every cycle, so tokens live across cycles.
    pub fn clients(
        config: &Config,
    ) -> Result<(WeavyClient, MauticClient, Arc<RequestCounter>), SyncError> {
        config.check_secrets()?;
        let counter = RequestCounter::new();
        let weavy = Engine::weavy_client(config, &counter)?;
        let mautic = Engine::mautic_client(config, &counter)?;
        Ok((weavy, mautic, counter))
    }

    /// Both sides' field lists for the tables that sync.
    pub async fn fields(&self) -> Result<FieldLists, SyncError> {
        let mut out = FieldLists::new();
        for kind in self.config.kinds() {
            let list = match kind.side() {
                crate::model::Side::Weavy => self.weavy.fields(kind).await?,
                crate::model::Side::Mautic => self.mautic.fields(kind).await?,
            };
            out.insert(kind, list);
        }
        Ok(out)
    }

    /// One cycle, to the end.
    pub async fn cycle(
        &self,
        options: CycleOptions,
        progress: &dyn Progress,
    ) -> Result<CycleReport, SyncError> {
        self.cycle_until(options, progress, &Shutdown::new()).await
    }

    /// One cycle that stops at its next safe point once `shutdown` is requested (the report
    /// says `interrupted`); what it did so far is durable, the rest is done next time.
    pub async fn cycle_until(
        &self,
        options: CycleOptions,
        progress: &dyn Progress,
        shutdown: &Shutdown,
    ) -> Result<CycleReport, SyncError> {
        // A database is the state of one pair of instances (see `store::Instances`).
        if self.store.bind(&self.config.instances(), false)? == crate::store::Bound::Now {
            tracing::info!(
                "the database is bound to {}: it will refuse other instances",
                self.config.instances()
            );
        }
        // A dry run takes no cycle number: it shows what the next cycle would do.
        let cycle = if options.dry_run {
            self.store.peek_next_cycle()?
        } else {
            self.store.next_cycle()?
        };
        if !options.dry_run {
            // Replaced by the real report at the end; left as it is if the process dies.
            self.store
                .put_cycle_report(cycle, &CycleReport::unfinished(cycle))?;
            self.store.flush()?;
        }
        let mut report = CycleReport::start(cycle, options.dry_run);
        let requests_before = self.counter.snapshot();
        let result = self
            .run_cycle(cycle, options, progress, shutdown, &mut report)
            .await;
        report.finish(&requests_before, &self.counter.snapshot(), &self.store);
        // Every request counts, those of a failed cycle too; a failed cycle is kept with its
        // error for `status`.
        self.store.add_request_totals(&report.requests)?;
        if let Err(e) = &result {
            report.failed = true;
            report.errors.insert(0, e.to_string());
        }
        // A dry run keeps no report: it took no cycle number, and it said what it found.
        if !options.dry_run {
            self.store.put_cycle_report(cycle, &report)?;
        }
        self.store.flush()?;
        result.map(|()| report)
    }

    async fn run_cycle(
        &self,
        cycle: u64,
        options: CycleOptions,
        progress: &dyn Progress,
        shutdown: &Shutdown,
        report: &mut CycleReport,
    ) -> Result<(), SyncError> {
        let fields = self.fields().await?;
        let problems = self.config.validate_fields(&fields);
        if !problems.is_empty() {
            return Err(SyncError::Mapping(problems));
        }
        let facts = ServerFacts::learn(&self.config, &fields, self.mautic.version());
        if let Some(v) = &facts.mautic_version {
            self.store.set_mautic_version(v)?;
        }
        *self.facts.write().unwrap_or_else(|p| p.into_inner()) = facts;
        let started = chrono::Utc::now();
        let options = CycleOptions {
            full: options.full || self.full_read_due(started)?,
            ..options
        };
        if options.full {
            tracing::info!(
                cycle,
                "a full read: every record of both sides is read again"
            );
        }
        pull::pull(self, cycle, options, report, progress, shutdown).await?;
        if options.full && !shutdown.is_requested() && !options.dry_run {
            self.store.set_last_full_read(started)?;
        }

        let mut dry_run = merge::DryRun::default();
        for phase in [EntityKind::Company, EntityKind::Person] {
            if shutdown.is_requested() {
                break;
            }
            if options.dry_run {
                merge::merge(
                    self,
                    cycle,
                    phase,
                    Some(&mut dry_run),
                    report,
                    progress,
                    shutdown,
                    None,
                )?;
            } else {
                self.merge_and_apply(cycle, phase, report, progress, shutdown)
                    .await?;
            }
        }
        report.interrupted = shutdown.is_requested();
        Ok(())
    }
}

impl Engine {
    /// Steps 3 and 4 of a phase at once: the merge runs on a thread of its own and hands each
    /// chunk's patches, once committed, to the applier here, which sends them while the merge
    /// goes on (see [`merge::merge`] for why an entity is then decided once a cycle).
    async fn merge_and_apply(
        &self,
        cycle: u64,
        phase: EntityKind,
        report: &mut CycleReport,
        progress: &dyn Progress,
        shutdown: &Shutdown,
    ) -> Result<(), SyncError> {
        let (feed, fed) = apply::Feed::new();
        let (events, mut shown) = tokio::sync::mpsc::unbounded_channel();
        let merging = {
            let engine = self.clone();
            let shutdown = shutdown.clone();
            tokio::task::spawn_blocking(move || {
                let mut merged = CycleReport::default();
                let progress = ForwardProgress(events);
                let result = merge::merge(
                    &engine,
                    cycle,
                    phase,
                    None,
                    &mut merged,
                    &progress,
                    &shutdown,
                    Some(&feed),
                );
                (result, merged)
            })
        };
        // The merge's progress is shown from here (the bars live on this side).
        let show = async {
            while let Some(event) = shown.recv().await {
                match event {
                    ProgressEvent::Start(step, total) => progress.start(&step, total),
                    ProgressEvent::Advance(step, n) => progress.advance(&step, n),
                    ProgressEvent::Finish(step) => progress.finish(&step),
                }
            }
        };
        let (applied, ()) = tokio::join!(
            apply::apply(self, cycle, phase, report, progress, shutdown, Some(fed)),
            show
        );
        let (merged, merge_report) = match merging.await {
            Ok(m) => m,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("the merge's thread was cancelled: {e}"),
        };
        report.absorb(merge_report);
        merged?;
        applied
    }
}

/// A progress event of the merge's thread.
enum ProgressEvent {
    Start(String, Option<u64>),
    Advance(String, u64),
    Finish(String),
}

/// Sends the merge's progress to the task that shows it.
struct ForwardProgress(tokio::sync::mpsc::UnboundedSender<ProgressEvent>);

impl Progress for ForwardProgress {
    fn start(&self, step: &str, total: Option<u64>) {
        let _ = self.0.send(ProgressEvent::Start(step.to_owned(), total));
    }
    fn advance(&self, step: &str, n: u64) {
        let _ = self.0.send(ProgressEvent::Advance(step.to_owned(), n));
    }
    fn finish(&self, step: &str) {
        let _ = self.0.send(ProgressEvent::Finish(step.to_owned()));
    }
}
