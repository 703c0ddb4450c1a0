//! Step 4 of a cycle: drain the outbox of one phase, both sides at once, in batches (a Mautic
//! batch call takes up to 200 records; weavy takes one call a record, with the connector's
//! bounded concurrency). The patches come from the merge as it commits them ([`Feed`]), then
//! from the outbox for those left by earlier cycles. Each side keeps up to `IN_FLIGHT` batches
//! on the wire, sent by tasks of their own, while the answer of the oldest is stored.
//!
//! - Acknowledged: the patch leaves the outbox and, in the same transaction, the bases become
//!   the values written (and a created record is linked to its entity). Mautic answers with the
//!   record as it stored it: a value it did not take (a 0 in a number field, a blank it
//!   ignored) gets no base and a `rejected_write` entry, so it is not taken for agreement.
//! - Transient failure (timeout, 5xx, 429 after the HTTP layer's own retries): the patch stays
//!   for the next cycle.
//! - Permanent rejection: retried up to `max_patch_attempts` cycles, then dropped and logged.
//!   One bad record never blocks the others. A missing weavy right refuses every record of the
//!   table alike: the table is not tried again this cycle, its patches wait.
//! - Not found: a Mautic contact is looked up again by e-mail (Mautic may have merged it) and
//!   re-linked; otherwise the side is marked gone, never written again, never recreated.

use super::mapping::{self, IDCRM, RELATION, WEAVY_COMPANY_FIELD};
use super::report::CycleReport;
use super::{Engine, Progress, Shutdown, SyncError};
use super::{landed, unique_guard};
use crate::connector::{Connector, ErrorKind, RecordWrite, WriteOutcome};
use crate::model::engine_fields;
use crate::model::{
    ConflictEntry, ConflictRule, EntityId, EntityKind, Patch, PatchOp, RecordKind, RecordRef, Side,
    SideValue, Value,
};
use crate::store::{Ack, Store};
use chrono::Utc;
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Patches sent per call (Mautic's batch maximum).
const BATCH: usize = 200;

/// Batches of one side on the wire at once at most (each is one Mautic call, or up to `BATCH`
/// weavy calls under the side's concurrency bound): while one batch's answer is stored, the
/// next ones are being sent.
const IN_FLIGHT: usize = 3;

/// Chunks of patches a side's channel holds. Past that, the merge does not wait for the side:
/// the patches are in the outbox already, so only their slots are handed over, and the side's
/// applier reads them back from there when it has room.
const FEED_AHEAD: usize = 4;

/// The slots of patches committed while a side's channel was full, oldest first.
type Overflow = Arc<Mutex<VecDeque<(RecordKind, EntityId)>>>;

/// The merge's patches handed to the applier as each chunk is committed, one bounded channel
/// per side. The merge never waits for a side: while one side is slow (Mautic's batch calls
/// and links at the start of a first sync), the other gets its patches as fast as they are
/// decided. Memory stays bounded by the channels and a slot (16 bytes) per overflowed patch.
pub struct Feed {
    weavy: (mpsc::Sender<Vec<Patch>>, Overflow),
    mautic: (mpsc::Sender<Vec<Patch>>, Overflow),
}

/// The applier's end of a [`Feed`].
pub struct FeedReceiver {
    weavy: SideFeed,
    mautic: SideFeed,
}

/// One side's end of a [`Feed`]: the channel, then the slots that overflowed it.
struct SideFeed {
    channel: mpsc::Receiver<Vec<Patch>>,
    overflow: Overflow,
}

impl Feed {
    pub fn new() -> (Feed, FeedReceiver) {
        let side = || {
            let (tx, rx) = mpsc::channel(FEED_AHEAD);
            let overflow = Overflow::default();
            (
                (tx, overflow.clone()),
                SideFeed {
                    channel: rx,
                    overflow,
                },
            )
        };
        let (weavy, weavy_rx) = side();
        let (mautic, mautic_rx) = side();
        (
            Feed { weavy, mautic },
            FeedReceiver {
                weavy: weavy_rx,
                mautic: mautic_rx,
            },
        )
    }

    /// Hands over committed patches, never waiting: to a side whose channel is full, only
    /// their slots. Called from the merge's own thread.
    pub fn send(&self, patches: Vec<Patch>) {
        let (weavy, mautic): (Vec<Patch>, Vec<Patch>) = patches
            .into_iter()
            .partition(|p| p.record.side() == Side::Weavy);
        for ((tx, overflow), batch) in [(&self.weavy, weavy), (&self.mautic, mautic)] {
            if batch.is_empty() {
                continue;
            }
            match tx.try_send(batch) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(batch)) => overflow
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(batch.iter().map(|p| (p.record.kind, p.entity))),
                // A side that stopped (unreachable, shutting down) has dropped its end: its
                // patches wait in the outbox for the next cycle.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }
}

impl SideFeed {
    /// Up to `n` of the patches that overflowed the channel, read back from the outbox (a
    /// patch no longer there was replaced or cancelled: skipped). Empty only once no slot is
    /// left.
    fn overflowed(&self, store: &Store, n: usize) -> Result<Vec<Patch>, SyncError> {
        let mut out = Vec::new();
        while out.is_empty() {
            let slots: Vec<(RecordKind, EntityId)> = {
                let mut q = self.overflow.lock().unwrap_or_else(|p| p.into_inner());
                let n = n.min(q.len());
                q.drain(..n).collect()
            };
            if slots.is_empty() {
                break;
            }
            for (kind, entity) in slots {
                if let Some(p) = store.pending_patch(kind, entity)? {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }
}

/// Applies the pending patches of `phase`. With a `feed`, the patches the merge running
/// alongside commits are sent as they come, then, once the merge is done, the patches left
/// from earlier cycles; without one, every pending patch.
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    engine: &Engine,
    cycle: u64,
    phase: EntityKind,
    report: &mut CycleReport,
    progress: &dyn Progress,
    shutdown: &Shutdown,
    feed: Option<FeedReceiver>,
) -> Result<(), SyncError> {
    let kinds = |side: Side| -> Vec<RecordKind> {
        RecordKind::of_side(side)
            .iter()
            .copied()
            .filter(|k| k.entity_kind() == phase)
            .collect()
    };
    let step = format!(
        "apply {}",
        if phase == EntityKind::Company {
            "companies"
        } else {
            "people"
        }
    );
    progress.start(
        &step,
        feed.is_none().then(|| engine.store.outbox_len() as u64),
    );
    let mut wr = CycleReport::default();
    let mut mr = CycleReport::default();
    let (weavy_kinds, mautic_kinds) = (kinds(Side::Weavy), kinds(Side::Mautic));
    let (weavy_feed, mautic_feed) = match feed {
        Some(f) => (Some(f.weavy), Some(f.mautic)),
        None => (None, None),
    };
    let (w, m) = tokio::join!(
        apply_side(
            engine,
            &engine.weavy,
            Applier {
                kinds: &weavy_kinds,
                cycle,
                progress,
                step: &step,
                shutdown,
            },
            weavy_feed,
            &mut wr,
        ),
        apply_side(
            engine,
            &engine.mautic,
            Applier {
                kinds: &mautic_kinds,
                cycle,
                progress,
                step: &step,
                shutdown,
            },
            mautic_feed,
            &mut mr,
        ),
    );
    report.absorb(wr);
    report.absorb(mr);
    progress.finish(&step);
    w?;
    m?;
    Ok(())
}

/// What one side's applier works from.
struct Applier<'a> {
    /// The side's tables of the phase.
    kinds: &'a [RecordKind],
    cycle: u64,
    progress: &'a dyn Progress,
    step: &'a str,
    shutdown: &'a Shutdown,
}

/// The batches of one side on the wire, oldest first.
struct Pipeline<'e, C> {
    engine: &'e Engine,
    conn: &'e C,
    flights: VecDeque<Flight>,
    /// The side is unreachable or refuses us: nothing more is sent this cycle.
    stopped: bool,
    /// Tables and operations the side has no right for: every record would be refused the
    /// same way, so none more is sent this cycle (the patches wait in the outbox).
    refused: BTreeSet<(RecordKind, bool)>,
    /// The unique identifier values this cycle's writes gave Mautic contacts.
    claims: unique_guard::Claims,
}

impl<C: Connector + Clone + 'static> Pipeline<'_, C> {
    fn has_room(&self) -> bool {
        self.flights.len() < IN_FLIGHT && !self.stopped
    }

    async fn launch(
        &mut self,
        kind: RecordKind,
        op: PatchOp,
        batch: Vec<Patch>,
        report: &mut CycleReport,
    ) -> Result<(), SyncError> {
        if let Some(f) = launch(
            self.engine,
            self.conn,
            kind,
            op,
            batch,
            &mut self.claims,
            report,
        )
        .await?
        {
            self.flights.push_back(f);
        }
        Ok(())
    }

    /// Waits for the oldest batch on the wire and stores its answer. A batch already sent is
    /// always landed, even once the side stopped answering: what it acknowledged must not be
    /// sent again.
    async fn land_oldest(&mut self, cycle: u64, report: &mut CycleReport) -> Result<(), SyncError> {
        let Some(flight) = self.flights.front_mut() else {
            return Ok(());
        };
        let answer = match flight.early.take() {
            Some(a) => a,
            None => (&mut flight.answer).await,
        };
        let flight = self.flights.pop_front().expect("a flight was there");
        let answer = settle(answer);
        let key = (flight.kind, flight.op == PatchOp::Insert);
        match land(self.engine, flight, answer, cycle, report).await? {
            Landed::Going => {}
            Landed::Refused => {
                self.refused.insert(key);
            }
            Landed::Stopped => self.stopped = true,
        }
        Ok(())
    }

    fn refuses(&self, kind: RecordKind, op: &PatchOp) -> bool {
        self.refused.contains(&(kind, *op == PatchOp::Insert))
    }
}

async fn apply_side<C: Connector + Clone + 'static>(
    engine: &Engine,
    conn: &C,
    a: Applier<'_>,
    feed: Option<SideFeed>,
    report: &mut CycleReport,
) -> Result<(), SyncError> {
    let mut pipe = Pipeline {
        engine,
        conn,
        flights: VecDeque::new(),
        stopped: false,
        refused: BTreeSet::new(),
        claims: unique_guard::Claims::default(),
    };
    let streamed = feed.is_some();
    if let Some(feed) = feed {
        stream(&mut pipe, &a, feed, report).await?;
    }
    // What is left in the outbox: everything without a feed; with one, the patches of
    // earlier cycles the merge did not replace (this cycle's came through the feed, and those
    // still there failed: they wait for the next cycle).
    for &kind in a.kinds {
        let mut after: Option<EntityId> = None;
        loop {
            // Between two batches: each batch is acknowledged (or left pending) on its own.
            if a.shutdown.is_requested() || pipe.stopped {
                break;
            }
            if !pipe.has_room() {
                pipe.land_oldest(a.cycle, report).await?;
                continue;
            }
            let patches = engine.store.pending_patches_of(kind, after, BATCH)?;
            let Some(last) = patches.last() else {
                break;
            };
            after = Some(last.entity);
            let patches: Vec<Patch> = patches
                .into_iter()
                .filter(|p| !streamed || p.cycle != a.cycle)
                .collect();
            a.progress.advance(a.step, patches.len() as u64);
            let (inserts, updates): (Vec<Patch>, Vec<Patch>) =
                patches.into_iter().partition(|p| p.op == PatchOp::Insert);
            for (op, batch) in [(PatchOp::Insert, inserts), (PatchOp::Update, updates)] {
                if !batch.is_empty() && !pipe.refuses(kind, &op) {
                    pipe.launch(kind, op, batch, report).await?;
                }
            }
        }
    }
    while !pipe.flights.is_empty() {
        pipe.land_oldest(a.cycle, report).await?;
    }
    Ok(())
}

/// Sends the merge's patches as they come, in batches of `BATCH` per table and operation
/// (the last ones smaller, once the merge is done), until the merge is done.
async fn stream<C: Connector + Clone + 'static>(
    pipe: &mut Pipeline<'_, C>,
    a: &Applier<'_>,
    mut feed: SideFeed,
    report: &mut CycleReport,
) -> Result<(), SyncError> {
    let mut queues: BTreeMap<(RecordKind, bool), Vec<Patch>> = BTreeMap::new();
    let mut open = true;
    let queue = |queues: &mut BTreeMap<(RecordKind, bool), Vec<Patch>>,
                 refused: &BTreeSet<(RecordKind, bool)>,
                 patches: Vec<Patch>| {
        for p in patches {
            let key = (p.record.kind, p.op == PatchOp::Insert);
            if !refused.contains(&key) {
                queues.entry(key).or_default().push(p);
            }
        }
    };
    loop {
        if a.shutdown.is_requested() || pipe.stopped {
            // Dropping the feed tells the merge: what it commits from now on waits in the
            // outbox for the next cycle.
            return Ok(());
        }
        // A table the side refuses keeps its patches in the outbox for the next cycle.
        queues.retain(|(kind, insert), _| !pipe.refused.contains(&(*kind, *insert)));
        while pipe.has_room() {
            let Some(key) = queues
                .iter()
                .find(|(_, q)| q.len() >= BATCH || !open)
                .map(|(k, _)| *k)
            else {
                break;
            };
            let queue = queues.get_mut(&key).expect("found above");
            let batch: Vec<Patch> = queue.drain(..queue.len().min(BATCH)).collect();
            if queue.is_empty() {
                queues.remove(&key);
            }
            a.progress.advance(a.step, batch.len() as u64);
            let op = if key.1 {
                PatchOp::Insert
            } else {
                PatchOp::Update
            };
            pipe.launch(key.0, op, batch, report).await?;
        }
        // A full batch waiting means the wire is full: take no more until a batch lands
        // (memory stays bounded: what the merge commits meanwhile waits in the outbox).
        let take_more = queues.values().all(|q| q.len() < BATCH);
        if take_more {
            // The channel first (it is what the merge sends while there is room), then what
            // overflowed it.
            let more = match feed.channel.try_recv() {
                Ok(patches) => patches,
                Err(mpsc::error::TryRecvError::Empty | mpsc::error::TryRecvError::Disconnected) => {
                    feed.overflowed(&pipe.engine.store, BATCH)?
                }
            };
            if !more.is_empty() {
                queue(&mut queues, &pipe.refused, more);
                continue;
            }
        }
        if !open && queues.is_empty() {
            return Ok(());
        }
        let in_flight = !pipe.flights.is_empty();
        if !open {
            // Nothing more to come and no room: make some.
            pipe.land_oldest(a.cycle, report).await?;
            continue;
        }
        tokio::select! {
            chunk = feed.channel.recv(), if take_more => match chunk {
                Some(patches) => queue(&mut queues, &pipe.refused, patches),
                // The merge is done: what overflowed is read back above.
                None => open = false,
            },
            () = oldest_answered(&mut pipe.flights), if in_flight => {
                pipe.land_oldest(a.cycle, report).await?;
            }
        }
    }
}

/// Ready once the oldest batch on the wire has its answer. Cancellation-safe: the answer is
/// kept in the flight until it is landed.
async fn oldest_answered(flights: &mut VecDeque<Flight>) {
    if let Some(f) = flights.front_mut()
        && f.early.is_none()
    {
        f.early = Some((&mut f.answer).await);
    }
}

/// A batch on the wire: what was sent, and the task sending it.
struct Flight {
    kind: RecordKind,
    op: PatchOp,
    prepared: Vec<Prepared>,
    answer: tokio::task::JoinHandle<Answer>,
    /// The answer, when it was taken from the task before the flight was landed.
    early: Option<Result<Answer, tokio::task::JoinError>>,
}

/// What a side answered to a batch, and to the company links of the contacts it acknowledged.
struct Answer {
    outcomes: Result<Vec<WriteOutcome>, crate::connector::ConnectorError>,
    /// By position in the batch: the company links that failed, and why.
    link_failures: Vec<(usize, String)>,
}

/// A sending task's answer; a panic in it is a panic here.
fn settle(joined: Result<Answer, tokio::task::JoinError>) -> Answer {
    match joined {
        Ok(a) => a,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("a batch's sending task was cancelled: {e}"),
    }
}

/// A patch ready to send: its record write, and the writes that could not be expressed on
/// the side (a relation to a company not linked there yet).
struct Prepared {
    patch: Patch,
    write: RecordWrite,
    /// Mautic: the company to link the contact to once written.
    link_company: Option<String>,
    /// Canonical fields actually sent (their bases move on success).
    sent: Vec<(String, Value)>,
    /// An insert an earlier attempt already made: the record it created, which this write
    /// updates instead (see [`landed`]).
    adopted: Option<String>,
    /// Values refused before sending (see [`crate::model::Entity::refused`]), recorded on
    /// the entity with the acknowledgement.
    refused: Vec<(String, Value)>,
    /// Fields the side refused while it took the rest of the write: by field code, why.
    side_refused: Vec<(String, String)>,
}

fn prepare(engine: &Engine, kind: RecordKind, patch: Patch) -> Result<Prepared, SyncError> {
    let config = &engine.config;
    let mappings = config.mappings(kind);
    let mut fields = Vec::new();
    let mut sent = Vec::new();
    let mut link_company = None;
    let mut retry_relation = false;
    for w in &patch.writes {
        match w.field.as_str() {
            RELATION => {
                // The value is the company's entity: its record on this side.
                let Some(company) = company_record(engine, &w.new, kind.side())? else {
                    // The company is not on this side yet (its insert is pending): the person
                    // is merged again next cycle, when it may be.
                    retry_relation = true;
                    continue;
                };
                match kind.side() {
                    Side::Weavy => {
                        fields.push((WEAVY_COMPANY_FIELD.to_owned(), Value::Text(company)))
                    }
                    // A relation is made through the link call only: the contact's `company`
                    // text names a company Mautic finds or creates by name
                    // (`IdentifyCompanyHelper`), and Mautic sets it itself when it links.
                    Side::Mautic => link_company = Some(company),
                }
                sent.push((w.field.clone(), w.new.clone()));
            }
            IDCRM => {
                fields.push((config.sync.idcrm_field.clone(), w.new.clone()));
            }
            name => {
                let Some(code) = mappings
                    .iter()
                    .find(|m| m.name == name)
                    .and_then(|m| m.code(kind))
                else {
                    continue;
                };
                fields.push((code.to_owned(), w.new.clone()));
                sent.push((w.field.clone(), w.new.clone()));
            }
        }
    }
    let id = match (patch.op, kind.side()) {
        (PatchOp::Insert, Side::Mautic) => None,
        _ => Some(patch.record.id.clone()),
    };
    if retry_relation && let Some(e) = engine.store.entity(patch.entity)? {
        engine
            .store
            .mark_dirty([&e.weavy, &e.mautic].into_iter().flatten())?;
    }
    Ok(Prepared {
        patch,
        write: RecordWrite { id, fields },
        link_company,
        sent,
        adopted: None,
        refused: Vec::new(),
        side_refused: Vec::new(),
    })
}

/// The id, on `side`, of the company entity named by a relation value (`"E12"`).
fn company_record(engine: &Engine, value: &Value, side: Side) -> Result<Option<String>, SyncError> {
    let Some(id) = EntityId::of_value(value) else {
        return Ok(None);
    };
    Ok(engine
        .store
        .entity(id)?
        .and_then(|e| e.record(side).cloned())
        .map(|r| r.id))
}

/// Prepares a batch and puts it on the wire (a task of its own, so that storing the previous
/// batch's answer and sending this one overlap). `None`: nothing left to send.
#[allow(clippy::too_many_arguments)]
async fn launch<C: Connector + Clone + 'static>(
    engine: &Engine,
    conn: &C,
    kind: RecordKind,
    op: PatchOp,
    batch: Vec<Patch>,
    claims: &mut unique_guard::Claims,
    report: &mut CycleReport,
) -> Result<Option<Flight>, SyncError> {
    let mut prepared = Vec::with_capacity(batch.len());
    for p in batch {
        let mut p = prepare(engine, kind, p)?;
        if kind == RecordKind::MauticContact && op == PatchOp::Update {
            guard_email_live(engine, &mut p, report).await?;
        }
        prepared.push(p);
    }
    if op == PatchOp::Insert {
        adopt_landed(engine, kind, &mut prepared).await?;
    }
    if kind == RecordKind::MauticContact {
        guard_unique(engine, &mut prepared, claims, report).await?;
    }
    let mut ready = Vec::with_capacity(prepared.len());
    for p in prepared {
        if p.write.fields.is_empty() && p.link_company.is_none() && p.adopted.is_none() {
            // Nothing left to send (a relation not resolvable yet, a refused value).
            engine.store.patch_done(&p.patch, None, &p.refused)?;
            continue;
        }
        ready.push(p);
    }
    let mut prepared = ready;
    if prepared.is_empty() {
        return Ok(None);
    }
    if op == PatchOp::Insert {
        // Marked before they leave: from here on, an answer that does not come back leaves
        // each insert's outcome unknown, and the next attempt looks for its record first.
        let marks: Vec<_> = prepared
            .iter()
            .filter(|p| p.adopted.is_none())
            .filter_map(|p| {
                landed::probe(engine, kind, &p.write).map(|probe| (kind, p.patch.entity, probe))
            })
            .collect();
        engine.store.mark_in_flight(&marks)?;
    }
    // What is sent goes to the sending task; what stays is what the answer is matched with.
    // An adopted insert is sent as an update of the record found.
    let items: Vec<(Option<String>, RecordWrite)> = prepared
        .iter_mut()
        .map(|p| {
            let mut w = std::mem::take(&mut p.write);
            if let Some(id) = &p.adopted {
                w.id = Some(id.clone());
            }
            (p.adopted.clone(), w)
        })
        .collect();
    let links: Vec<Option<(String, bool)>> = prepared
        .iter()
        .map(|p| {
            p.link_company
                .clone()
                .map(|c| (c, op == PatchOp::Insert && p.adopted.is_none()))
        })
        .collect();
    let conn = conn.clone();
    let mautic = engine.mautic.clone();
    let concurrency = engine.config.mautic.http.concurrency.max(1);
    let insert = op == PatchOp::Insert;
    let answer = tokio::spawn(async move {
        let outcomes = send(&conn, kind, insert, items).await;
        let link_failures = match &outcomes {
            Ok(o) => link_companies(&mautic, &links, o, concurrency).await,
            Err(_) => Vec::new(),
        };
        Answer {
            outcomes,
            link_failures,
        }
    });
    Ok(Some(Flight {
        kind,
        op,
        prepared,
        answer,
        early: None,
    }))
}

/// A Mautic company's name, as fieldsync last saw it.
fn company_name(engine: &Engine, company: &str) -> Result<Option<String>, SyncError> {
    Ok(engine
        .store
        .record(&RecordRef::new(RecordKind::MauticCompany, company))?
        .and_then(|s| {
            s.fields
                .get(engine_fields::NAME)
                .and_then(|o| o.value.as_text().map(str::to_owned))
        }))
}

/// Sends a batch: updates as updates; inserts as inserts, except those an earlier attempt
/// already made (`Some(id)`), sent as updates of that record. One outcome per item, in order.
async fn send<C: Connector>(
    conn: &C,
    kind: RecordKind,
    insert: bool,
    items: Vec<(Option<String>, RecordWrite)>,
) -> Result<Vec<WriteOutcome>, crate::connector::ConnectorError> {
    if !insert {
        return conn
            .update(kind, items.into_iter().map(|(_, w)| w).collect())
            .await;
    }
    let (adopted, fresh): (Vec<_>, Vec<_>) = items
        .into_iter()
        .enumerate()
        .partition(|(_, (found, _))| found.is_some());
    let mut out: Vec<Option<WriteOutcome>> = vec![None; adopted.len() + fresh.len()];
    let (fresh_at, fresh): (Vec<usize>, Vec<RecordWrite>) =
        fresh.into_iter().map(|(i, (_, w))| (i, w)).unzip();
    let (adopted_at, adopted): (Vec<usize>, Vec<RecordWrite>) =
        adopted.into_iter().map(|(i, (_, w))| (i, w)).unzip();
    if !fresh.is_empty() {
        for (i, o) in fresh_at.into_iter().zip(conn.insert(kind, fresh).await?) {
            out[i] = Some(o);
        }
    }
    if !adopted.is_empty() {
        let ids: Vec<Option<String>> = adopted.iter().map(|w| w.id.clone()).collect();
        let updated = if adopted.iter().all(|w| w.fields.is_empty()) {
            // Nothing to change on it: the earlier attempt wrote it whole.
            ids.iter()
                .map(|id| WriteOutcome::Done {
                    id: id.clone().unwrap_or_default(),
                    record: None,
                    refused: Vec::new(),
                })
                .collect()
        } else {
            conn.update(kind, adopted).await?
        };
        for ((i, o), id) in adopted_at.into_iter().zip(updated).zip(ids) {
            // The record is the one found, whatever id the side reports.
            out[i] = Some(match o {
                WriteOutcome::Done {
                    record, refused, ..
                } => WriteOutcome::Done {
                    id: id.unwrap_or_default(),
                    record,
                    refused,
                },
                other => other,
            });
        }
    }
    Ok(out
        .into_iter()
        .map(|o| o.expect("every item has an outcome"))
        .collect())
}

/// Inserts whose earlier attempt may have landed (marked in the store): the record each would
/// create is looked up, and found, it is the insert's record (see [`landed`]).
async fn adopt_landed(
    engine: &Engine,
    kind: RecordKind,
    prepared: &mut [Prepared],
) -> Result<(), SyncError> {
    for p in prepared.iter_mut() {
        let Some(probe) = engine.store.in_flight(kind, p.patch.entity)? else {
            continue;
        };
        if let Some(id) = landed::find(engine, kind, p.patch.entity, &probe).await? {
            tracing::info!(%kind, record = %id, "an earlier insert landed: it is updated, not created again");
            p.adopted = Some(id);
        }
    }
    Ok(())
}

/// The unique-identifier guard on a batch of Mautic contact writes (see [`unique_guard`]): a
/// refused value is taken out of its write and logged; the rest of the write goes.
async fn guard_unique(
    engine: &Engine,
    prepared: &mut [Prepared],
    claims: &mut unique_guard::Claims,
    report: &mut CycleReport,
) -> Result<(), SyncError> {
    let fields: Vec<(String, String)> = engine
        .facts()
        .unique_contact_fields
        .iter()
        .filter(|u| u.field != engine_fields::EMAIL)
        .map(|u| (u.alias.clone(), u.field.clone()))
        .collect();
    if fields.is_empty() {
        return Ok(());
    }
    let mut wanted = Vec::new();
    for (index, p) in prepared.iter().enumerate() {
        for (alias, _) in &fields {
            let Some(value) = p
                .write
                .fields
                .iter()
                .find(|(c, v)| c == alias && !v.is_blank())
                .map(|(_, v)| v.canonical())
            else {
                continue;
            };
            let target = p
                .adopted
                .clone()
                .or_else(|| (p.patch.op == PatchOp::Update).then(|| p.patch.record.id.clone()));
            wanted.push(unique_guard::Wanted {
                index,
                entity: p.patch.entity,
                target,
                alias: alias.clone(),
                value,
            });
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let refused = unique_guard::refusals(&engine.mautic, wanted, claims).await?;
    let mut entries = Vec::new();
    for r in refused {
        let p = &mut prepared[r.index];
        let field = fields
            .iter()
            .find(|(a, _)| *a == r.alias)
            .map(|(_, f)| f.clone())
            .unwrap_or_default();
        p.write.fields.retain(|(c, _)| *c != r.alias);
        p.sent.retain(|(f, _)| *f != field);
        p.refused.push(crate::model::Entity::refusal(
            Side::Mautic,
            &field,
            Value::text(r.value.clone()),
        ));
        let target = match (&p.adopted, p.patch.op == PatchOp::Update) {
            (Some(id), _) => format!("Mautic contact {id}"),
            (None, true) => format!("Mautic contact {}", p.patch.record.id),
            (None, false) => "the new Mautic contact".to_owned(),
        };
        let holder = if r.holders.is_empty() {
            format!(
                "this cycle writes it to another person ({}) already",
                r.claimed_by.map(|e| e.to_string()).unwrap_or_default()
            )
        } else {
            format!("Mautic contact {} already holds it", r.holders.join(", "))
        };
        let note = format!(
            "{field} '{}' not written to {target}: {holder}, and '{}' is a unique identifier in Mautic (Mautic would take the two for one contact: it would update the wrong one or merge them); the other fields were written; fix one of them by hand",
            r.value, r.alias
        );
        report.collisions += 1;
        report.conflicts += 1;
        let mut entry = event(&p.patch, ConflictRule::UniqueCollision, &field, note);
        entry.weavy.value = Value::text(r.value);
        entries.push(entry);
    }
    engine.store.append_conflicts(&entries)?;
    Ok(())
}

/// Links the Mautic contacts a batch acknowledged to their companies (a few calls at once);
/// returns the links that failed, by position in the batch. A contact the batch created has
/// no link yet: it is linked. Any other is read first (`/contacts/{id}/companies`), since
/// Mautic makes only a *new* link primary and leaves an existing one as it is: the target
/// already primary, nothing is sent; linked but not primary, the link is removed and made
/// again, which makes it primary.
async fn link_companies(
    mautic: &crate::connector::mautic::MauticClient,
    links: &[Option<(String, bool)>],
    outcomes: &[WriteOutcome],
    concurrency: usize,
) -> Vec<(usize, String)> {
    let todo: Vec<(usize, String, String, bool)> = links
        .iter()
        .zip(outcomes)
        .enumerate()
        .filter_map(|(i, (link, outcome))| match (link, outcome) {
            (Some((c, created)), WriteOutcome::Done { id, .. }) => {
                Some((i, c.clone(), id.clone(), *created))
            }
            _ => None,
        })
        .collect();
    let results: Vec<(usize, String, String, Result<(), _>)> = futures::stream::iter(todo)
        .map(|(i, company, id, created)| async move {
            let result = link_as_primary(mautic, &company, &id, created).await;
            (i, company, id, result)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results
        .into_iter()
        .filter_map(|(i, company, id, result)| {
            result.err().map(|e| {
                (
                    i,
                    format!("link Mautic contact {id} to company {company}: {e} (will retry)"),
                )
            })
        })
        .collect()
}

/// Makes `company` the primary company of the contact (see [`link_companies`]).
async fn link_as_primary(
    mautic: &crate::connector::mautic::MauticClient,
    company: &str,
    contact: &str,
    created: bool,
) -> Result<(), crate::connector::ConnectorError> {
    if !created {
        let links = mautic.contact_companies(contact).await?;
        match links.iter().find(|(c, _)| c == company) {
            Some((_, true)) => return Ok(()),
            Some((_, false)) => mautic.unlink_company(company, contact).await?,
            None => {}
        }
    }
    mautic.link_company(company, contact).await
}

/// What a landed batch says of the side's next ones.
enum Landed {
    Going,
    /// The side has no right for this table and operation: every record would be refused.
    Refused,
    /// The side is unreachable or refuses us altogether.
    Stopped,
}

/// Stores what the side answered to a batch.
async fn land(
    engine: &Engine,
    flight: Flight,
    answer: Answer,
    cycle: u64,
    report: &mut CycleReport,
) -> Result<Landed, SyncError> {
    let Flight {
        kind, op, prepared, ..
    } = flight;
    let Answer {
        outcomes,
        link_failures,
    } = answer;
    let outcomes = match outcomes {
        Ok(o) => o,
        Err(e) => {
            report.error(format!("{} {kind}: {e}", op_name(&op)));
            let going = !matches!(
                e.kind,
                ErrorKind::Auth { .. } | ErrorKind::MissingRight { .. }
            ) && e.is_transient();
            return Ok(if going {
                Landed::Going
            } else {
                Landed::Stopped
            });
        }
    };
    let mut link_failed = vec![false; prepared.len()];
    for (i, message) in link_failures {
        report.error(message);
        link_failed[i] = true;
    }
    let mut acknowledged = Vec::new();
    let mut landed = Landed::Going;
    // Writes whose outcome is now known: an insert's in-flight mark goes once the answer is
    // stored (as does one of a slot whose insert became an update of the record found). A
    // failed insert keeps its mark: it may have landed, and the next attempt looks first.
    let mut known: Vec<(RecordKind, EntityId)> = Vec::new();
    for ((p, outcome), link_failed) in prepared.into_iter().zip(outcomes).zip(link_failed) {
        if !matches!(outcome, WriteOutcome::Failed(_)) {
            known.push((kind, p.patch.entity));
        }
        match outcome {
            WriteOutcome::Done {
                id,
                record,
                refused,
            } => {
                let mut p = p;
                p.side_refused = refused;
                acknowledged.push((p, id, record, link_failed))
            }
            WriteOutcome::Failed(e) => {
                report.error(format!("{e} (will retry)"));
            }
            WriteOutcome::Rejected(e) => {
                match e.kind {
                    ErrorKind::Auth { .. } => landed = Landed::Stopped,
                    ErrorKind::MissingRight { .. } if !matches!(landed, Landed::Stopped) => {
                        landed = Landed::Refused
                    }
                    _ => {}
                }
                rejected(engine, kind, p.patch, e, report).await?;
            }
        }
    }
    done(engine, kind, &op, acknowledged, cycle, report)?;
    engine.store.clear_in_flight(&known)?;
    Ok(landed)
}

fn op_name(op: &PatchOp) -> &'static str {
    match op {
        PatchOp::Insert => "insert",
        PatchOp::Update => "update",
    }
}

fn event(patch: &Patch, rule: ConflictRule, field: &str, note: String) -> ConflictEntry {
    let record = (!patch.record.id.is_empty()).then(|| patch.record.clone());
    let sv = |side: Side| SideValue {
        record: record.clone().filter(|r| r.side() == side),
        value: Value::Blank,
        at: None,
    };
    ConflictEntry {
        at: Utc::now(),
        cycle: patch.cycle,
        entity: patch.entity,
        entity_kind: patch.record.kind.entity_kind(),
        field: field.to_owned(),
        rule,
        winner: None,
        weavy: sv(Side::Weavy),
        mautic: sv(Side::Mautic),
        base: None,
        note,
    }
}

/// The writes of a batch the side acknowledged (its Mautic contacts already linked to their
/// companies, see [`launch`]): what the side kept is checked (a value Mautic did not take is no
/// agreement), then every patch leaves the outbox with its bases set and the refused values
/// logged, in one transaction; last, the records the side returned are stored as sightings.
/// A crash before the transaction leaves the whole batch in the outbox: it is sent again next
/// time, and every write is idempotent (an insert finds its earlier attempt by key or e-mail).
fn done(
    engine: &Engine,
    kind: RecordKind,
    op: &PatchOp,
    acknowledged: Vec<(
        Prepared,
        String,
        Option<crate::connector::RemoteRecord>,
        bool,
    )>,
    cycle: u64,
    report: &mut CycleReport,
) -> Result<(), SyncError> {
    if acknowledged.is_empty() {
        return Ok(());
    }
    let mut conflicts = Vec::new();
    let mut items = Vec::with_capacity(acknowledged.len());
    for (mut p, id, record, link_failed) in acknowledged {
        // An edit of a contact merged into another lands on the winner, whose id comes back
        // (newer Mautic: `testBatchPutEndpointCanHandleMergedContacts`; 5.x single edits):
        // the pair follows the winner.
        if *op == PatchOp::Update
            && kind == RecordKind::MauticContact
            && id != p.patch.record.id
            && let Some(winner) = record.as_ref()
        {
            let how = "(Mautic answered the edit with it)";
            follow_merge(engine, kind, p.patch, winner, how, report)?;
            continue;
        }
        let mut bases = kept_by_side(
            engine,
            kind,
            &mut p,
            record.as_ref(),
            report,
            &mut conflicts,
        );
        if link_failed {
            // Not linked: the relation is no agreement yet.
            bases.retain(|(f, _)| f != RELATION);
        }
        bases.append(&mut p.refused);
        items.push((p, id, record, bases));
    }
    let new_records: Vec<Option<RecordRef>> = items
        .iter()
        .map(|(_, id, _, _)| (*op == PatchOp::Insert).then(|| RecordRef::new(kind, id.clone())))
        .collect();
    let acks: Vec<Ack<'_>> = items
        .iter()
        .zip(&new_records)
        .map(|((p, _, _, bases), new_record)| Ack {
            sent: &p.patch,
            new_record: new_record.as_ref(),
            bases,
        })
        .collect();
    engine.store.patches_done(&acks, &conflicts)?;
    report.conflicts += conflicts.len() as u64;
    let mut sightings = Vec::new();
    let counts = match op {
        PatchOp::Insert => &mut report.inserts,
        PatchOp::Update => &mut report.updates,
    };
    *counts.entry(kind.api_name().to_owned()).or_default() += items.len() as u64;
    for (p, _, record, bases) in &mut items {
        let linked = bases.iter().any(|(f, _)| f == RELATION);
        // Mautic answered the write before the contact was linked; the link names the company
        // in the contact's `company` field (`CompanyModel::addLeadToCompany`): the store sees
        // the contact as it is after both.
        if let (Some(rec), Some(company), true) = (record.as_mut(), &p.link_company, linked)
            && let Some(name) = company_name(engine, company)?
        {
            rec.fields
                .insert(mapping::MAUTIC_COMPANY_FIELD.to_owned(), Value::Text(name));
        }
    }
    for (_, _, record, _) in &items {
        // What the side returned is a sighting like any other: the store knows the new record now.
        if let Some(rec) = record
            && let Some(s) = mapping::sighting(&engine.config, rec, report)
        {
            sightings.push(s);
        }
    }
    if !sightings.is_empty() {
        engine.store.ingest(cycle, &sightings)?;
    }
    Ok(())
}

/// The bases a write sets: the fields sent, less those the side did not keep as sent
/// (Mautic answers with the record as it stored it), each of which is a refused write.
fn kept_by_side(
    engine: &Engine,
    kind: RecordKind,
    p: &mut Prepared,
    record: Option<&crate::connector::RemoteRecord>,
    report: &mut CycleReport,
    conflicts: &mut Vec<ConflictEntry>,
) -> Vec<(String, Value)> {
    let mut bases = std::mem::take(&mut p.sent);
    let Some(rec) = record else {
        return bases;
    };
    let mut refused = Vec::new();
    bases.retain(|(field, value)| {
        if field == RELATION {
            return true;
        }
        let Some(m) = engine
            .config
            .mappings(kind)
            .iter()
            .find(|m| &m.name == field)
        else {
            return true;
        };
        let Some(code) = m.code(kind) else {
            return true;
        };
        let stored = rec
            .get(code)
            .clone()
            .coerce(m.field_type)
            .unwrap_or(Value::Blank);
        let compare = engine.policy(kind.entity_kind(), m).compare;
        if compare.eq(&stored, value) {
            return true;
        }
        // A date-time that came back without its seconds: this Mautic keeps minutes
        // (a version not known to), and the value is what was written, at that precision.
        let to_minute = crate::model::Compare {
            precision: crate::model::Precision {
                minutes: true,
                ..compare.precision
            },
            ..compare
        };
        if kind.side() == Side::Mautic
            && matches!(value, Value::DateTime(_))
            && to_minute.eq(&stored, value)
        {
            engine.learn(|f| f.learn_minutes(kind.entity_kind(), field));
            return true;
        }
        refused.push((field.clone(), value.clone(), stored));
        false
    });
    for (field, wanted, kept) in refused {
        bases.push(crate::model::Entity::refusal(
            kind.side(),
            &field,
            wanted.clone(),
        ));
        report.rejected += 1;
        let code = engine
            .config
            .mappings(kind)
            .iter()
            .find(|m| m.name == field)
            .and_then(|m| m.code(kind));
        let said = p
            .side_refused
            .iter()
            .find(|(c, _)| Some(c.as_str()) == code)
            .map(|(_, why)| format!("Mautic refused it ({why}) and took the rest of the write"));
        let why = match said {
            Some(s) => s,
            None if crate::model::parse_number(&wanted.canonical()) == Some(0.0) => {
                "Mautic's API drops any value that reads as 0".to_owned()
            }
            None if wanted.is_blank() => "Mautic ignored the blank".to_owned(),
            None => "Mautic stored another value".to_owned(),
        };
        let mut entry = event(
            &p.patch,
            ConflictRule::RejectedWrite,
            &field,
            format!("Mautic kept {kept} instead of {wanted}: {why}"),
        );
        entry.mautic.value = kept;
        entry.weavy.value = wanted;
        conflicts.push(entry);
    }
    bases
}

async fn rejected(
    engine: &Engine,
    kind: RecordKind,
    patch: Patch,
    e: crate::connector::ConnectorError,
    report: &mut CycleReport,
) -> Result<(), SyncError> {
    match &e.kind {
        ErrorKind::NotFound if patch.op == PatchOp::Update => {
            not_found(engine, kind, patch, report).await
        }
        ErrorKind::MissingRight { .. } | ErrorKind::Auth { .. } => {
            // Every record of the table fails the same way until the user fixes the right:
            // keep the patches, say it once.
            if !report.errors.iter().any(|x| x == &e.to_string()) {
                report.error(e.to_string());
            }
            Ok(())
        }
        _ => {
            let attempts = patch.attempts + 1;
            if attempts >= engine.config.sync.max_patch_attempts {
                report.rejected += 1;
                report.conflicts += 1;
                let entry = event(
                    &patch,
                    ConflictRule::RejectedWrite,
                    &patch
                        .writes
                        .iter()
                        .map(|w| w.field.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    format!("{} refused after {attempts} attempts, given up: {e}", kind),
                );
                engine.store.patch_dropped(&patch, &[entry])?;
            } else {
                report.error(format!("{e} (attempt {attempts}, will retry)"));
                engine.store.patch_retry(&patch)?;
            }
            Ok(())
        }
    }
}

/// A linked record answered 404. A Mautic contact may have been merged into another: look it
/// up by e-mail and re-link; otherwise the side is gone.
async fn not_found(
    engine: &Engine,
    kind: RecordKind,
    patch: Patch,
    report: &mut CycleReport,
) -> Result<(), SyncError> {
    let store = &engine.store;
    let email = store.record(&patch.record)?.and_then(|s| s.email);
    if kind == RecordKind::MauticContact
        && let Some(email) = &email
    {
        let found = engine.mautic.find_by(kind, "email", email).await?;
        if let Some(survivor) = found
            .iter()
            .find(|r| r.id != patch.record.id && !r.anonymous)
        {
            let how = "with the same e-mail";
            return follow_merge(engine, kind, patch, survivor, how, report);
        }
    }
    store.mark_gone(&patch.record)?;
    report.gone += 1;
    report.conflicts += 1;
    let note = format!(
        "{} {} answered 404 (deleted): fieldsync stops writing to it and never recreates it",
        kind, patch.record.id
    );
    store.patch_dropped(&patch, &[event(&patch, ConflictRule::RecordGone, "", note)])?;
    Ok(())
}

/// The linked Mautic contact was merged into `survivor`: the entity follows it (its bases,
/// agreed with the contact that is gone, are dropped), unless the survivor is already paired
/// with another weavy record: one Mautic contact in two pairs would be written from both, so
/// the gone side is marked gone and the case left to a person. The patch leaves the outbox
/// either way; the survivor is stored as a sighting and merged next time.
fn follow_merge(
    engine: &Engine,
    kind: RecordKind,
    patch: Patch,
    survivor: &crate::connector::RemoteRecord,
    how: &str,
    report: &mut CycleReport,
) -> Result<(), SyncError> {
    let store = &engine.store;
    let taken_by = store
        .entity_of(&RecordRef::new(kind, survivor.id.clone()))?
        .filter(|e| *e != patch.entity);
    if let Some(other) = taken_by {
        store.mark_gone(&patch.record)?;
        report.gone += 1;
        report.conflicts += 1;
        let note = format!(
            "Mautic contact {} is gone (merged into contact {}, which is already paired as {other}): fieldsync stops writing to {}; link the weavy record by hand if it should follow {}",
            patch.record.id, survivor.id, patch.record.id, survivor.id
        );
        store.patch_dropped(&patch, &[event(&patch, ConflictRule::RecordGone, "", note)])?;
        return Ok(());
    }
    if let Some(mut entity) = store.entity(patch.entity)? {
        let new = RecordRef::new(kind, survivor.id.clone());
        let note = format!(
            "Mautic contact {} is gone (merged): re-linked to contact {} {how}",
            patch.record.id, new.id
        );
        entity.mautic = Some(new.clone());
        entity.bases.clear();
        store.commit(&crate::store::MergeCommit {
            entities: vec![entity],
            unlinked: vec![patch.record.clone()],
            ..Default::default()
        })?;
        if let Some(s) = mapping::sighting(&engine.config, survivor, report) {
            store.ingest(patch.cycle, &[s])?;
            store.mark_dirty([&new])?;
        }
        store.patch_dropped(&patch, &[event(&patch, ConflictRule::Relinked, "", note)])?;
        report.relinked += 1;
        report.conflicts += 1;
    }
    Ok(())
}

/// Before an e-mail reaches a Mautic contact, ask Mautic whether another contact holds it
/// (the store may not have seen that contact yet).
async fn guard_email_live(
    engine: &Engine,
    p: &mut Prepared,
    report: &mut CycleReport,
) -> Result<(), SyncError> {
    let Some(code) = engine
        .config
        .person_fields
        .iter()
        .find(|m| m.name == engine_fields::EMAIL)
        .and_then(|m| m.code(RecordKind::MauticContact))
    else {
        return Ok(());
    };
    let Some(email) = p
        .write
        .fields
        .iter()
        .find(|(c, _)| c == code)
        .and_then(|(_, v)| v.as_text().map(str::to_owned))
    else {
        return Ok(());
    };
    let holders = engine
        .mautic
        .find_by(RecordKind::MauticContact, code, email.trim())
        .await?;
    let others: Vec<&str> = holders
        .iter()
        .filter(|r| r.id != p.patch.record.id)
        .map(|r| r.id.as_str())
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    report.collisions += 1;
    report.conflicts += 1;
    let note = format!(
        "e-mail '{}' not written to Mautic contact {}: contact {} already holds it (Mautic would merge the two and delete one)",
        email.trim(),
        p.patch.record.id,
        others.join(", ")
    );
    let mut entry = event(
        &p.patch,
        ConflictRule::EmailCollision,
        engine_fields::EMAIL,
        note,
    );
    entry.weavy.value = Value::text(email.clone());
    engine.store.append_conflicts(&[entry])?;
    p.write.fields.retain(|(c, _)| c != code);
    p.sent.retain(|(f, _)| f != engine_fields::EMAIL);
    p.refused.push(crate::model::Entity::refusal(
        Side::Mautic,
        engine_fields::EMAIL,
        Value::text(email),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FieldWrite, Rule};
    use crate::store::MergeCommit;

    fn patch(entity: u64) -> Patch {
        Patch {
            entity: EntityId(entity),
            record: RecordRef::new(RecordKind::WeavyContact, format!("C{entity}")),
            op: PatchOp::Update,
            writes: vec![FieldWrite {
                field: "city".into(),
                old: Value::Blank,
                new: Value::text("Lyon"),
                rule: Rule::OnlyWeavyChanged,
            }],
            cycle: 3,
            attempts: 0,
        }
    }

    #[test]
    fn a_full_channel_never_stops_the_merge_and_what_overflowed_is_read_back_from_the_outbox() {
        let store = Store::temporary().unwrap();
        let (feed, mut rx) = Feed::new();
        let chunks: Vec<Vec<Patch>> = (0..FEED_AHEAD as u64 + 2)
            .map(|c| vec![patch(10 * c + 1), patch(10 * c + 2)])
            .collect();
        for chunk in &chunks {
            // Committed first, as the merge does, then handed over: this never blocks.
            store
                .commit(&MergeCommit {
                    patches: chunk.clone(),
                    ..MergeCommit::default()
                })
                .unwrap();
            feed.send(chunk.clone());
        }
        // One of the overflowed patches is cancelled by the store before the applier reads it.
        let cancelled = &chunks[FEED_AHEAD][0];
        store
            .commit(&MergeCommit {
                cancelled: vec![(cancelled.record.kind, cancelled.entity)],
                ..MergeCommit::default()
            })
            .unwrap();
        drop(feed);

        let w = &mut rx.weavy;
        for chunk in &chunks[..FEED_AHEAD] {
            assert_eq!(&w.channel.try_recv().unwrap(), chunk);
        }
        assert!(w.channel.try_recv().is_err());
        // Two slots, one of them cancelled: one patch.
        assert_eq!(
            w.overflowed(&store, 2).unwrap(),
            vec![chunks[FEED_AHEAD][1].clone()]
        );
        assert_eq!(
            w.overflowed(&store, 2).unwrap(),
            chunks[FEED_AHEAD + 1].clone()
        );
        assert!(w.overflowed(&store, 2).unwrap().is_empty());
        // Nothing went to the other side.
        assert!(rx.mautic.channel.try_recv().is_err());
        assert!(rx.mautic.overflowed(&store, 10).unwrap().is_empty());
    }
}
