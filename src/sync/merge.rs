//! Step 3 of a cycle: merge the dirty records of one phase (companies, then people).
//!
//! For each dirty record: its identity group (every record sharing its e-mail or company key)
//! is resolved by [`identity::plan_group`], then every entity of the group is decided field by
//! field by [`merge::decide`]. What comes out (entities and links, patches, conflict entries,
//! removal of the dirty marks) is committed in one transaction per chunk of records. A dry run
//! commits nothing and lists the writes instead.
//!
//! Two fields are not user mappings: the person's company ([`mapping::RELATION`]), whose
//! values are translated from each side's company reference into the company's entity before
//! deciding, and the Mautic company's IDCRM ([`mapping::IDCRM`]), back-filled from weavy.

use super::apply::Feed;
use super::mapping::{self, IDCRM, RELATION};
use super::report::{CycleReport, PlannedWrite};
use super::{Engine, Progress, Shutdown, SyncError};
use crate::config::{FieldMapping, Object};
use crate::identity::{self, CompanyKeyKind, GroupAction, GroupEntity, Member};
use crate::merge::{self, conflict::DecisionContext};
use crate::model::engine_fields;
use crate::model::{
    ConflictEntry, ConflictRule, Direction, Entity, EntityId, EntityKind, FieldPolicy, FieldWrite,
    Observation, Patch, PatchOp, PerSide, RecordKind, RecordRef, RecordState, Rule, Side,
    SideValue, Value,
};
use crate::store::MergeCommit;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;

/// Dirty records merged per transaction.
const CHUNK: usize = 256;

/// What a dry run decided and could not store: the entities and links of its company phase,
/// so that its people phase links each person to the company the first phase would have
/// linked or created (a dry run of a first sync lists those links too).
#[derive(Default)]
pub struct DryRun {
    entities: HashMap<EntityId, Entity>,
    links: HashMap<RecordRef, Option<EntityId>>,
}

/// Merges every dirty record of `phase`. With a `feed`, the patches of each committed chunk
/// are also handed to the applier running alongside (see [`super::apply::Feed`]). With
/// `dry_run`, nothing is stored: the writes are listed in the report.
#[allow(clippy::too_many_arguments)]
pub fn merge(
    engine: &Engine,
    cycle: u64,
    phase: EntityKind,
    mut dry_run: Option<&mut DryRun>,
    report: &mut CycleReport,
    progress: &dyn Progress,
    shutdown: &Shutdown,
    feed: Option<&Feed>,
) -> Result<(), SyncError> {
    let kinds: Vec<RecordKind> = engine
        .config
        .kinds()
        .into_iter()
        .filter(|k| k.entity_kind() == phase)
        .collect();
    let step = format!(
        "merge {}",
        if phase == EntityKind::Company {
            "companies"
        } else {
            "people"
        }
    );
    // No total: counting the dirty marks reads every page of the dirty set at once, and sled
    // caches such pages of small entries far beyond its cache size (their cost is counted as
    // on disk): the cycle's peak memory would grow with the data set for a progress bar.
    progress.start(&step, None);
    let mut m = Merger::new(engine, cycle, phase, dry_run.is_some(), feed);
    if let Some(state) = dry_run.as_deref_mut() {
        m.entities = std::mem::take(&mut state.entities);
        m.links = std::mem::take(&mut state.links);
    }
    let result = merge_chunks(&mut m, engine, kinds, &step, report, progress, shutdown);
    if let Some(state) = dry_run {
        state.entities = std::mem::take(&mut m.entities);
        state.links = std::mem::take(&mut m.links);
    }
    progress.finish(&step);
    result
}

/// The chunk loop of [`merge`].
fn merge_chunks(
    m: &mut Merger,
    engine: &Engine,
    kinds: Vec<RecordKind>,
    step: &str,
    report: &mut CycleReport,
    progress: &dyn Progress,
    shutdown: &Shutdown,
) -> Result<(), SyncError> {
    let dry_run = m.dry_run;
    // The tables take turns, a chunk each: the patches of weavy's records mostly go to Mautic
    // and those of Mautic's records to weavy, so both sides' appliers have work from the start
    // instead of one after the other.
    let mut tables: Vec<(RecordKind, Option<RecordRef>)> =
        kinds.into_iter().map(|k| (k, None)).collect();
    while !tables.is_empty() {
        let mut i = 0;
        while i < tables.len() {
            let (kind, after) = &mut tables[i];
            let page = engine.store.dirty_page(*kind, after.as_ref(), CHUNK)?;
            let Some(last) = page.last().cloned() else {
                tables.remove(i);
                continue;
            };
            *after = Some(last);
            i += 1;
            let mut merged = 0;
            for r in page {
                if !m.handled.contains(&r) {
                    m.merge_record(&r, report)?;
                    merged += 1;
                }
            }
            // Once a chunk, not once a record: the merge's progress may cross threads.
            progress.advance(step, merged);
            if !dry_run {
                m.commit()?;
            }
            if shutdown.is_requested() {
                return Ok(());
            }
        }
    }
    if !dry_run {
        m.commit()?;
    }
    Ok(())
}

/// A side's company reference, read as the company's entity.
enum Relation {
    /// The side's record names no company.
    NoCompany,
    /// The company's entity (`Text("E12")`), at the reference's time.
    Company(Observation),
    /// Not resolvable yet (the company is not linked, or its name is ambiguous): no decision
    /// about the person's company now.
    Unresolved,
}

/// A value of the relation or of a field, as one side holds it.
type SideState = Option<(RecordRef, Rc<RecordState>)>;

struct Merger<'a> {
    engine: &'a Engine,
    cycle: u64,
    phase: EntityKind,
    dry_run: bool,
    now: DateTime<Utc>,
    commit: MergeCommit,
    /// Entities changed but not committed yet (the latest version).
    entities: HashMap<EntityId, Entity>,
    /// Links changed but not committed yet (`None`: unlinked).
    links: HashMap<RecordRef, Option<EntityId>>,
    /// Records merged in this chunk (their dirty marks go at the next commit).
    handled: HashSet<RecordRef>,
    /// The applier running alongside, fed each chunk's patches once committed.
    feed: Option<&'a Feed>,
    /// Entities given patches in chunks already committed (and fed): the applier may be
    /// writing them and moving their bases right now. Only with a feed.
    patched: HashSet<EntityId>,
    /// Record states read during the current chunk (a record is read for its own merge, for
    /// its group's and for its entity's: decoded once). Merging writes no record state.
    states: HashMap<RecordRef, Option<Rc<RecordState>>>,
}

impl<'a> Merger<'a> {
    fn new(
        engine: &'a Engine,
        cycle: u64,
        phase: EntityKind,
        dry_run: bool,
        feed: Option<&'a Feed>,
    ) -> Self {
        Merger {
            engine,
            cycle,
            phase,
            dry_run,
            feed,
            patched: HashSet::new(),
            now: Utc::now(),
            commit: MergeCommit::default(),
            entities: HashMap::new(),
            links: HashMap::new(),
            handled: HashSet::new(),
            states: HashMap::new(),
        }
    }

    /// What the store knows of a record, read once per chunk.
    fn record(&mut self, r: &RecordRef) -> Result<Option<Rc<RecordState>>, SyncError> {
        if let Some(s) = self.states.get(r) {
            return Ok(s.clone());
        }
        let s = self.engine.store.record(r)?.map(Rc::new);
        self.states.insert(r.clone(), s.clone());
        Ok(s)
    }

    fn commit(&mut self) -> Result<(), SyncError> {
        let commit = std::mem::take(&mut self.commit);
        self.engine.store.commit(&commit)?;
        if let Some(feed) = self.feed {
            self.patched.extend(commit.patches.iter().map(|p| p.entity));
            feed.send(commit.patches);
        }
        self.entities.clear();
        self.links.clear();
        self.states.clear();
        // What was handled is clean now: the store says so from here on (memory stays
        // bounded by a chunk, not by the number of records merged).
        self.handled.clear();
        Ok(())
    }

    fn link_of(&self, r: &RecordRef) -> Result<Option<EntityId>, SyncError> {
        match self.links.get(r) {
            Some(l) => Ok(*l),
            None => Ok(self.engine.store.entity_of(r)?),
        }
    }

    fn entity(&self, id: EntityId) -> Result<Option<Entity>, SyncError> {
        match self.entities.get(&id) {
            Some(e) => Ok(Some(e.clone())),
            None => Ok(self.engine.store.entity(id)?),
        }
    }

    fn put_entity(&mut self, e: Entity) {
        for r in [&e.weavy, &e.mautic].into_iter().flatten() {
            self.links.insert(r.clone(), Some(e.id));
        }
        self.commit.entities.retain(|x| x.id != e.id);
        self.commit.entities.push(e.clone());
        self.entities.insert(e.id, e);
    }

    fn unlink(&mut self, r: &RecordRef) {
        self.links.insert(r.clone(), None);
        self.commit.unlinked.push(r.clone());
    }

    fn clean(&mut self, r: &RecordRef) {
        self.handled.insert(r.clone());
        if !self.dry_run {
            self.commit.clean.push(r.clone());
        }
    }

    fn syncs(&self, kind: RecordKind) -> bool {
        self.engine.config.kinds().contains(&kind)
    }

    fn conflict(&mut self, report: &mut CycleReport, entry: ConflictEntry) {
        report.conflicts += 1;
        self.commit.conflicts.push(entry);
    }

    fn event(
        &self,
        entity: EntityId,
        rule: ConflictRule,
        weavy: Option<&RecordRef>,
        mautic: Option<&RecordRef>,
        note: String,
    ) -> ConflictEntry {
        let sv = |r: Option<&RecordRef>| SideValue {
            record: r.cloned(),
            value: Value::Blank,
            at: None,
        };
        ConflictEntry {
            at: self.now,
            cycle: self.cycle,
            entity,
            entity_kind: self.phase,
            field: String::new(),
            rule,
            winner: None,
            weavy: sv(weavy),
            mautic: sv(mautic),
            base: None,
            note,
        }
    }

    /// The identity key of a record: its e-mail (people) or company key (companies).
    fn key_of(&self, state: &RecordState) -> Option<String> {
        match self.phase {
            EntityKind::Person => state.email.clone(),
            EntityKind::Company => state.company_key.clone(),
        }
    }

    fn merge_record(&mut self, r: &RecordRef, report: &mut CycleReport) -> Result<(), SyncError> {
        let store = &self.engine.store;
        let Some(state) = self.record(r)? else {
            self.clean(r);
            return Ok(());
        };
        let own_entity = self.link_of(r)?;
        let key = self.key_of(&state);
        if key.is_none() && own_entity.is_none() {
            report.merged += 1;
            match self.phase {
                EntityKind::Person => report.skipped_no_email += 1,
                EntityKind::Company => report.skipped_no_key += 1,
            }
            self.clean(r);
            return Ok(());
        }

        let mut group: BTreeSet<EntityId> = own_entity.into_iter().collect();
        let mut members = Vec::new();
        if let Some(key) = &key {
            let refs = match self.phase {
                EntityKind::Person => store.records_by_email(key)?,
                EntityKind::Company => store.records_by_company_key(key)?,
            };
            let refs: Vec<RecordRef> = refs.into_iter().filter(|m| self.syncs(m.kind)).collect();
            for m in refs {
                let st = self.record(&m)?;
                if st.as_ref().is_some_and(|s| s.gone) {
                    continue;
                }
                let entity = self.link_of(&m)?;
                if let Some(e) = entity {
                    group.insert(e);
                }
                members.push(Member {
                    modified_at: st.and_then(|s| s.modified_at),
                    record: m,
                    entity,
                });
            }
        }
        // An entity is decided once a cycle when the applier runs alongside: one already
        // patched may be acknowledged at any moment (its bases move, and the store holds the
        // side's record as it was before the write until the next pull). The record stays
        // dirty and is merged next cycle, after that pull.
        if group.iter().any(|e| self.patched.contains(e)) {
            return Ok(());
        }
        report.merged += 1;
        if let Some(key) = &key {
            let mut ents = Vec::new();
            for id in &group {
                if let Some(e) = self.entity(*id)? {
                    ents.push(GroupEntity {
                        id: e.id,
                        weavy: e.weavy.clone(),
                        mautic: e.mautic.clone(),
                    });
                }
            }
            let actions = identity::plan_group(&members, &ents);
            for a in actions {
                if let Some(id) = self.act(a, key, r, report)? {
                    group.insert(id);
                }
            }
            for m in &members {
                if m.record != *r
                    && !self.handled.contains(&m.record)
                    && store.is_dirty(&m.record)?
                {
                    self.clean(&m.record);
                }
            }
        }
        self.clean(r);
        for id in group {
            self.merge_entity(id, report)?;
        }
        Ok(())
    }

    /// Carries out one identity action; returns the entity it created, if any.
    fn act(
        &mut self,
        action: GroupAction,
        key: &str,
        current: &RecordRef,
        report: &mut CycleReport,
    ) -> Result<Option<EntityId>, SyncError> {
        match action {
            GroupAction::New { weavy, mautic } => {
                let id = self.engine.store.new_entity_id()?;
                let mut e = Entity::new(id, self.phase, self.cycle);
                if weavy.is_some() && mautic.is_some() {
                    report.linked += 1;
                }
                e.weavy = weavy;
                e.mautic = mautic;
                self.put_entity(e);
                Ok(Some(id))
            }
            GroupAction::Link { entity, record } => {
                if let Some(mut e) = self.entity(entity)? {
                    let side = record.side();
                    *e.record_mut(side) = Some(record);
                    report.linked += 1;
                    self.put_entity(e);
                }
                Ok(None)
            }
            GroupAction::Relink { entity, from, to } => {
                if let Some(mut e) = self.entity(entity)? {
                    e.weavy = Some(to.clone());
                    // The bases were what the Entrant and Mautic agreed on; the Contact never
                    // agreed to anything yet. Kept, they would make the Contact's empty fields
                    // look like edits to blank.
                    e.bases.clear();
                    let note = format!(
                        "lead converted: weavy Entrant {} is now Contact {} (same e-mail {key}); the link moved, the Entrant is left alone",
                        from.id, to.id
                    );
                    let entry = self.event(
                        entity,
                        ConflictRule::Relinked,
                        Some(&to),
                        e.mautic.as_ref(),
                        note,
                    );
                    self.conflict(report, entry);
                    report.relinked += 1;
                    self.unlink(&from);
                    self.put_entity(e);
                }
                Ok(None)
            }
            GroupAction::Duplicate { record, kept } => {
                // Report a duplicate when it changes (is dirty), not at every merge of its group.
                if record == *current || self.engine.store.is_dirty(&record)? {
                    report.duplicates += 1;
                    let entity = self.link_of(&kept)?.unwrap_or(EntityId(0));
                    let (w, m) = match record.side() {
                        Side::Weavy => (Some(&record), None),
                        Side::Mautic => (None, Some(&record)),
                    };
                    let note = format!(
                        "{} {} shares {} '{key}' with {} {}, which is the one synced; {} is left alone",
                        record.kind,
                        record.id,
                        match self.phase {
                            EntityKind::Person => "the e-mail",
                            EntityKind::Company => "the company key",
                        },
                        kept.kind,
                        kept.id,
                        record.id,
                    );
                    let entry = self.event(entity, ConflictRule::Duplicate, w, m, note);
                    self.conflict(report, entry);
                }
                Ok(None)
            }
        }
    }

    fn state(&mut self, r: &Option<RecordRef>) -> Result<SideState, SyncError> {
        Ok(match r {
            Some(r) => self.record(r)?.map(|s| (r.clone(), s)),
            None => None,
        })
    }

    /// Where a missing side's record would be created, if creating it is allowed.
    fn insert_target(&self, e: &Entity, missing: Side) -> Option<RecordRef> {
        let sync = &self.engine.config.sync;
        let other = e.record(missing.other())?;
        match (self.phase, missing) {
            (EntityKind::Person, Side::Weavy) => (sync.create_weavy_entrants
                && self.engine.config.syncs(Object::Leads))
            .then(|| RecordRef::new(RecordKind::WeavyEntrant, format!("wm-{}", other.id))),
            (EntityKind::Person, Side::Mautic) => sync
                .create_mautic_contacts
                .then(|| RecordRef::new(RecordKind::MauticContact, "")),
            (EntityKind::Company, Side::Weavy) => sync.create_weavy_companies.then(|| {
                RecordRef::new(
                    RecordKind::WeavyCustomer,
                    mapping::weavy_company_id(&other.id),
                )
            }),
            (EntityKind::Company, Side::Mautic) => sync
                .create_mautic_companies
                .then(|| RecordRef::new(RecordKind::MauticCompany, "")),
        }
    }

    fn merge_entity(&mut self, id: EntityId, report: &mut CycleReport) -> Result<(), SyncError> {
        let Some(mut e) = self.entity(id)? else {
            return Ok(());
        };
        let w = self.state(&e.weavy)?;
        let m = self.state(&e.mautic)?;
        for r in [&e.weavy, &e.mautic].into_iter().flatten() {
            if !self.handled.contains(r) && self.engine.store.is_dirty(r)? {
                self.clean(r);
            }
        }
        if w.is_none() && m.is_none() {
            return Ok(());
        }
        // A gone side is never written again, never recreated.
        let gone = |s: &SideState| s.as_ref().is_some_and(|(_, st)| st.gone);
        let targets: PerSide<Option<(RecordRef, PatchOp)>> = PerSide::from_fn(|side| {
            let (state, record) = match side {
                Side::Weavy => (&w, &e.weavy),
                Side::Mautic => (&m, &e.mautic),
            };
            match record {
                Some(r) if !gone(state) => Some((r.clone(), PatchOp::Update)),
                Some(_) => None,
                None => self.insert_target(&e, side).map(|r| (r, PatchOp::Insert)),
            }
        });
        let mut writes: PerSide<Vec<FieldWrite>> = PerSide::default();
        let mut bases_changed = false;
        // Borrowed from the engine, not from `self`: no copy of the mappings per entity.
        let config: &'a crate::config::Config = &self.engine.config;
        let mappings: &'a [FieldMapping] = config.mappings(kind_of(self.phase));

        for mapping in mappings {
            // The field must exist on both tables involved (an Entrant may not have it).
            let table = |side: Side| -> Option<RecordKind> {
                targets[side].as_ref().map(|(r, _)| r.kind).or_else(|| {
                    match side {
                        Side::Weavy => e.weavy.as_ref(),
                        Side::Mautic => e.mautic.as_ref(),
                    }
                    .map(|r| r.kind)
                })
            };
            let covered = Side::BOTH
                .iter()
                .all(|s| table(*s).is_none_or(|k| mapping.code(k).is_some()));
            if !covered {
                continue;
            }
            let policy = self.engine.policy(self.phase, mapping);
            let wo = w.as_ref().and_then(|(_, s)| s.fields.get(&mapping.name));
            let mo = m.as_ref().and_then(|(_, s)| s.fields.get(&mapping.name));
            let identity_field = is_identity_field(self.phase, &mapping.name, config);
            bases_changed |= self.decide_field(
                &mut e,
                &mapping.name,
                wo,
                mo,
                &policy,
                identity_field,
                &targets,
                &mut writes,
                report,
            );
        }

        if self.phase == EntityKind::Person && config.sync.company_relation {
            bases_changed |= self.decide_relation(&mut e, &w, &m, &targets, &mut writes, report)?;
        }
        if self.phase == EntityKind::Company && config.sync.company_key == CompanyKeyKind::Idcrm {
            self.backfill_idcrm(&e, &m, &targets, &mut writes);
        }

        for side in Side::BOTH {
            let Some((record, op)) = targets[side].clone() else {
                continue;
            };
            let mut ws = std::mem::take(&mut writes[side]);
            if side == Side::Mautic && self.phase == EntityKind::Person {
                self.guard_email(&e, &record, &op, &mut ws, report)?;
            }
            if side == Side::Mautic && self.phase == EntityKind::Company && op == PatchOp::Insert {
                self.guard_company_insert(&e, &mut ws, report)?;
            }
            if ws.is_empty() {
                if op == PatchOp::Update && !self.dry_run {
                    self.commit.cancelled.push((record.kind, e.id));
                }
                continue;
            }
            report.changed_fields += ws.len() as u64;
            if self.dry_run {
                for fw in &ws {
                    // The company of a person is decided as its entity ("E12"): named here.
                    let (old, new) = if self.phase == EntityKind::Person && fw.field == RELATION {
                        (
                            Value::Text(self.company_label(&fw.old)),
                            Value::Text(self.company_label(&fw.new)),
                        )
                    } else {
                        (fw.old.clone(), fw.new.clone())
                    };
                    report.planned.push(PlannedWrite {
                        side,
                        object: record.kind.api_name(),
                        record: (!record.id.is_empty()).then(|| record.id.clone()),
                        entity: e.id,
                        op,
                        field: fw.field.clone(),
                        old,
                        new,
                        rule: fw.rule,
                    });
                }
            }
            self.commit.patches.push(Patch {
                entity: e.id,
                record,
                op,
                writes: ws,
                cycle: self.cycle,
                attempts: 0,
            });
        }
        if bases_changed {
            self.put_entity(e);
        }
        Ok(())
    }

    /// Decides one field; pushes its write and conflict entry. Returns whether a base moved.
    #[allow(clippy::too_many_arguments)]
    fn decide_field(
        &mut self,
        e: &mut Entity,
        name: &str,
        wo: Option<&Observation>,
        mo: Option<&Observation>,
        policy: &FieldPolicy,
        identity_field: bool,
        targets: &PerSide<Option<(RecordRef, PatchOp)>>,
        writes: &mut PerSide<Vec<FieldWrite>>,
        report: &mut CycleReport,
    ) -> bool {
        // An insert always carries the identity field (the e-mail, the company name), whatever
        // the direction: a record is created whole or not at all.
        let mut policy = *policy;
        let inserting = |side: Side| {
            targets[side]
                .as_ref()
                .is_some_and(|(_, op)| *op == PatchOp::Insert)
        };
        if identity_field && (inserting(Side::Weavy) || inserting(Side::Mautic)) {
            policy.direction = Direction::Both;
        }
        let base = e.bases.get(name);
        let d = merge::decide(wo, mo, base, &policy);
        let ctx = DecisionContext {
            at: self.now,
            cycle: self.cycle,
            entity: e.id,
            entity_kind: self.phase,
            field: name,
            weavy_record: e.weavy.as_ref(),
            mautic_record: e.mautic.as_ref(),
        };
        if let Some(entry) = merge::conflict_entry(&d, wo, mo, base, &ctx) {
            self.conflict(report, entry);
        }
        let value = |o: Option<&Observation>| o.map_or(Value::Blank, |o| o.value.clone());
        // The base moves when both sides agree, unless it already holds the value (or both
        // sides are blank and there is no base yet: nothing worth remembering).
        let new_base = d.set_base.then(|| value(wo)).filter(|v| match base {
            Some(b) => b != v,
            None => !v.is_blank(),
        });
        let moved = new_base.is_some();
        if let Some(v) = new_base {
            e.clear_refused(name);
            e.bases.insert(name.to_owned(), v);
        }
        if let (Some(to), Some(from)) = (d.write, d.winner)
            && targets[to].is_some()
        {
            let (new, old) = match from {
                Side::Weavy => (value(wo), value(mo)),
                Side::Mautic => (value(mo), value(wo)),
            };
            let inserting_to = inserting(to);
            // A value the side refused is not sent to it again (see `Entity::refused`).
            let refused = e
                .refused(to, name)
                .is_some_and(|r| policy.compare.eq(r, &new));
            // Inserting a blank is pointless; a blank update is only sent when it is meant.
            let pointless = inserting_to && new.is_blank();
            if !(refused || pointless) {
                writes[to].push(FieldWrite {
                    field: name.to_owned(),
                    old,
                    new,
                    rule: d.rule,
                });
            }
        }
        moved
    }

    /// The person's company: each side's reference translated into the company's entity,
    /// then decided like a field.
    fn decide_relation(
        &mut self,
        e: &mut Entity,
        w: &SideState,
        m: &SideState,
        targets: &PerSide<Option<(RecordRef, PatchOp)>>,
        writes: &mut PerSide<Vec<FieldWrite>>,
        report: &mut CycleReport,
    ) -> Result<bool, SyncError> {
        // Only a weavy Contact holds a company (an Entrant does not).
        let weavy_table = targets[Side::Weavy]
            .as_ref()
            .map(|(r, _)| r.kind)
            .or(e.weavy.as_ref().map(|r| r.kind));
        if weavy_table != Some(RecordKind::WeavyContact) {
            return Ok(false);
        }
        let mut seen = PerSide::<Option<Observation>>::default();
        for (side, state) in [(Side::Weavy, w), (Side::Mautic, m)] {
            let Some((_, s)) = state else { continue };
            match self.translate(side, s.fields.get(RELATION))? {
                Relation::Unresolved => return Ok(false),
                Relation::NoCompany => {}
                Relation::Company(o) => seen[side] = Some(o),
            }
        }
        let (wo, mo) = (seen.weavy, seen.mautic);
        let policy = FieldPolicy {
            preferred: self.engine.config.sync.preferred_side.side(),
            tie_window_micros: self.engine.config.sync.tie_window.as_micros() as i64,
            ..FieldPolicy::default()
        };
        let logged = self.commit.conflicts.len();
        let moved = self.decide_field(
            e,
            RELATION,
            wo.as_ref(),
            mo.as_ref(),
            &policy,
            false,
            targets,
            writes,
            report,
        );
        // The decided values are company entities ("E12"): name them for the audit.
        if logged < self.commit.conflicts.len() {
            let (weavy, mautic) = {
                let entry = &self.commit.conflicts[logged];
                (entry.weavy.value.clone(), entry.mautic.value.clone())
            };
            let note = format!(
                "the person's company: weavy says {}, Mautic says {}",
                self.company_label(&weavy),
                self.company_label(&mautic)
            );
            self.commit.conflicts[logged].note = note;
        }
        Ok(moved)
    }

    /// A company entity value ("E12") as a person reads it: `ACME SARL (E12)`, from what
    /// either side's record of it says (decided in this merge or stored).
    fn company_label(&self, v: &Value) -> String {
        let Some(id) = EntityId::of_value(v) else {
            return "(none)".into();
        };
        let company = self.entity(id).ok().flatten();
        let named = company
            .iter()
            .flat_map(|c| [c.weavy.clone(), c.mautic.clone()])
            .flatten()
            .find_map(|r| {
                self.engine.store.record(&r).ok().flatten().and_then(|s| {
                    s.fields
                        .get(engine_fields::NAME)
                        .and_then(|o| o.value.as_text().map(str::to_owned))
                })
            });
        match named {
            Some(n) => format!("{n} ({id})"),
            None => id.to_string(),
        }
    }

    /// A side's company reference as the company's entity (see [`Relation`]).
    fn translate(&self, side: Side, obs: Option<&Observation>) -> Result<Relation, SyncError> {
        let Some(o) = obs else {
            return Ok(Relation::NoCompany);
        };
        let Value::Text(reference) = &o.value else {
            return Ok(Relation::Company(o.clone()));
        };
        let entity = match side {
            Side::Weavy => self.link_of(&RecordRef::new(
                RecordKind::WeavyCustomer,
                reference.clone(),
            ))?,
            Side::Mautic => {
                let mut found = BTreeSet::new();
                for c in self.engine.store.records_by_company_name(reference)? {
                    if c.kind == RecordKind::MauticCompany
                        && let Some(id) = self.link_of(&c)?
                    {
                        found.insert(id);
                    }
                }
                if found.len() == 1 {
                    found.into_iter().next()
                } else {
                    None
                }
            }
        };
        Ok(match entity {
            Some(id) => Relation::Company(Observation::new(Value::Text(id.to_string()), o.at)),
            None => Relation::Unresolved,
        })
    }

    /// With `company_key = "idcrm"`, the Mautic company holds the weavy customer id.
    fn backfill_idcrm(
        &self,
        e: &Entity,
        m: &SideState,
        targets: &PerSide<Option<(RecordRef, PatchOp)>>,
        writes: &mut PerSide<Vec<FieldWrite>>,
    ) {
        let (Some(weavy), Some(_)) = (&e.weavy, &targets[Side::Mautic]) else {
            return;
        };
        let current = m
            .as_ref()
            .and_then(|(_, s)| s.fields.get(IDCRM))
            .map_or(Value::Blank, |o| o.value.clone());
        let want = Value::Text(weavy.id.clone());
        if current != want {
            writes[Side::Mautic].push(FieldWrite {
                field: IDCRM.to_owned(),
                old: current,
                new: want,
                rule: Rule::WeavyPriority,
            });
        }
    }

    /// The e-mail collision guard: no e-mail is written to a Mautic contact (nor a contact
    /// created) when another Mautic contact holds it, since Mautic would merge them.
    fn guard_email(
        &mut self,
        e: &Entity,
        target: &RecordRef,
        op: &PatchOp,
        writes: &mut Vec<FieldWrite>,
        report: &mut CycleReport,
    ) -> Result<(), SyncError> {
        let email = match op {
            PatchOp::Insert => e
                .weavy
                .as_ref()
                .map(|r| self.engine.store.record(r))
                .transpose()?
                .flatten()
                .and_then(|s| s.email),
            PatchOp::Update => writes
                .iter()
                .find(|w| w.field == engine_fields::EMAIL)
                .and_then(|w| w.new.as_text().and_then(identity::normalize_email)),
        };
        let Some(email) = email else { return Ok(()) };
        let holders = self.engine.store.records_by_email(&email)?;
        let others = identity::email_collisions(target, &holders);
        if others.is_empty() {
            return Ok(());
        }
        let note = format!(
            "e-mail '{email}' not written to Mautic: Mautic contact {} already holds it (Mautic would merge the two and delete one); fix one of them by hand",
            others
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        report.collisions += 1;
        match op {
            PatchOp::Insert => writes.clear(),
            PatchOp::Update => writes.retain(|w| w.field != engine_fields::EMAIL),
        }
        let mut entry = self.event(
            e.id,
            ConflictRule::EmailCollision,
            e.weavy.as_ref(),
            e.mautic.as_ref(),
            note,
        );
        entry.field = engine_fields::EMAIL.into();
        entry.weavy.value = Value::Text(email);
        self.conflict(report, entry);
        Ok(())
    }

    /// A new Mautic company with the name of an existing one would update that one instead
    /// (Mautic matches companies on their name): refuse the insert and say so.
    fn guard_company_insert(
        &mut self,
        e: &Entity,
        writes: &mut Vec<FieldWrite>,
        report: &mut CycleReport,
    ) -> Result<(), SyncError> {
        let Some(name) = writes
            .iter()
            .find(|w| w.field == engine_fields::NAME)
            .and_then(|w| w.new.as_text().and_then(identity::normalize_name))
        else {
            return Ok(());
        };
        let holders: Vec<RecordRef> = self
            .engine
            .store
            .records_by_company_name(&name)?
            .into_iter()
            .filter(|r| r.kind == RecordKind::MauticCompany)
            .collect();
        if holders.is_empty() {
            return Ok(());
        }
        let note = format!(
            "no Mautic company created for weavy customer {}: Mautic company {} already has the name '{name}' and Mautic would update it instead; link them by key or rename one",
            e.weavy.as_ref().map_or("?", |r| r.id.as_str()),
            holders
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        writes.clear();
        report.collisions += 1;
        let entry = self.event(e.id, ConflictRule::Duplicate, e.weavy.as_ref(), None, note);
        self.conflict(report, entry);
        Ok(())
    }
}

/// A table of the phase, to pick its mappings.
fn kind_of(phase: EntityKind) -> RecordKind {
    match phase {
        EntityKind::Company => RecordKind::WeavyCustomer,
        EntityKind::Person => RecordKind::WeavyContact,
    }
}

/// The fields a created record must carry: the e-mail of a person, the name (and SIRET, when
/// it is the key) of a company.
fn is_identity_field(phase: EntityKind, name: &str, config: &crate::config::Config) -> bool {
    match phase {
        EntityKind::Person => name == engine_fields::EMAIL,
        EntityKind::Company => {
            name == engine_fields::NAME
                || (config.sync.company_key == CompanyKeyKind::Siret
                    && name == config.sync.siret_field)
        }
    }
}
