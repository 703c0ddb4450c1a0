//! What a cycle did: counts for the summary, `status` and monitoring, and, for a dry run, every
//! write it would have made.

use crate::connector::{CallKind, RequestStats};
use crate::model::{Rule, Side, Value};
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One write a cycle decided (shown by `sync --dry-run`).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedWrite {
    pub side: Side,
    /// The table's API name.
    pub object: &'static str,
    /// The record's id; `None` for a record to be created.
    pub record: Option<String>,
    pub field: String,
    pub old: Value,
    pub new: Value,
    pub rule: Rule,
}

impl fmt::Display for PlannedWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}: {} {} -> {} ({})",
            self.side,
            self.object,
            self.record.as_deref().unwrap_or("(new)"),
            self.field,
            self.old,
            self.new,
            self.rule
        )
    }
}

/// The counts of one cycle. Stored for `status`; printed by `sync` and `demo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CycleReport {
    pub cycle: u64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: u64,
    pub dry_run: bool,
    /// Stopped early by a shutdown request (the rest is done next cycle).
    pub interrupted: bool,
    /// Stopped by an error (the first of `errors`).
    pub failed: bool,
    /// Records read, by table.
    pub pulled: BTreeMap<String, u64>,
    /// Values that differed from what fieldsync knew.
    pub observations: u64,
    /// Mautic anonymous visitors, never synced.
    pub skipped_anonymous: u64,
    /// People without a valid e-mail, never synced.
    pub skipped_no_email: u64,
    /// Companies without a key (name, SIRET or IDCRM), never synced.
    pub skipped_no_key: u64,
    /// Values that could not be read as their mapped type (the field is skipped for that
    /// record, the rest goes on).
    pub invalid_values: u64,
    /// Records merged.
    pub merged: u64,
    /// New pairs of records linked across the sides.
    pub linked: u64,
    /// Field writes decided.
    pub changed_fields: u64,
    /// Conflict-log entries written (merge conflicts and events).
    pub conflicts: u64,
    /// Records left alone because another one holds their e-mail or key.
    pub duplicates: u64,
    /// Links moved (lead conversions, Mautic merges).
    pub relinked: u64,
    /// E-mail writes refused because another Mautic contact holds the address.
    pub collisions: u64,
    /// Records created, by table.
    pub inserts: BTreeMap<String, u64>,
    /// Records updated, by table.
    pub updates: BTreeMap<String, u64>,
    /// Writes a side refused for good (logged).
    pub rejected: u64,
    /// Linked records that answered 404 and could not be found again.
    pub gone: u64,
    /// Patches left in the outbox after transient failures (retried next cycle).
    pub pending: u64,
    /// Requests sent this cycle, by "side kind".
    pub requests: BTreeMap<String, u64>,
    /// Of which retries.
    pub retries: u64,
    /// Write requests sent, by side.
    pub write_requests: BTreeMap<String, u64>,
    /// What went wrong without stopping the cycle (one line each, the first ones).
    pub errors: Vec<String>,
    /// Dry run: the writes it would make (not stored).
    #[serde(skip)]
    pub planned: Vec<PlannedWrite>,
}

const MAX_ERRORS: usize = 50;

impl CycleReport {
    pub fn start(cycle: u64, dry_run: bool) -> Self {
        CycleReport {
            cycle,
            started_at: Some(Utc::now()),
            dry_run,
            ..Default::default()
        }
    }

    /// Notes a problem that did not stop the cycle.
    pub fn error(&mut self, message: impl Into<String>) {
        let m = message.into();
        tracing::warn!("{m}");
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(m);
        }
    }

    pub fn inserted(&mut self, object: &str) {
        *self.inserts.entry(object.to_owned()).or_default() += 1;
    }

    pub fn updated(&mut self, object: &str) {
        *self.updates.entry(object.to_owned()).or_default() += 1;
    }

    pub fn total_inserts(&self) -> u64 {
        self.inserts.values().sum()
    }

    pub fn total_updates(&self) -> u64 {
        self.updates.values().sum()
    }

    pub fn total_pulled(&self) -> u64 {
        self.pulled.values().sum()
    }

    pub fn total_write_requests(&self) -> u64 {
        self.write_requests.values().sum()
    }

    /// Adds a side's pull counts.
    pub fn absorb_pull(&mut self, other: CycleReport) {
        for (k, v) in other.pulled {
            *self.pulled.entry(k).or_default() += v;
        }
        self.observations += other.observations;
        self.skipped_anonymous += other.skipped_anonymous;
        self.invalid_values += other.invalid_values;
        for e in other.errors {
            if self.errors.len() < MAX_ERRORS {
                self.errors.push(e);
            }
        }
    }

    /// Adds a side's apply counts.
    pub fn absorb_apply(&mut self, other: CycleReport) {
        for (k, v) in other.inserts {
            *self.inserts.entry(k).or_default() += v;
        }
        for (k, v) in other.updates {
            *self.updates.entry(k).or_default() += v;
        }
        self.rejected += other.rejected;
        self.gone += other.gone;
        self.collisions += other.collisions;
        self.relinked += other.relinked;
        self.conflicts += other.conflicts;
        self.observations += other.observations;
        for e in other.errors {
            if self.errors.len() < MAX_ERRORS {
                self.errors.push(e);
            }
        }
    }

    /// Adds a merge's counts (a merge run on a thread of its own).
    pub fn absorb_merge(&mut self, other: CycleReport) {
        self.merged += other.merged;
        self.linked += other.linked;
        self.changed_fields += other.changed_fields;
        self.conflicts += other.conflicts;
        self.duplicates += other.duplicates;
        self.relinked += other.relinked;
        self.collisions += other.collisions;
        self.skipped_no_email += other.skipped_no_email;
        self.skipped_no_key += other.skipped_no_key;
        self.invalid_values += other.invalid_values;
        self.planned.extend(other.planned);
        for e in other.errors {
            if self.errors.len() < MAX_ERRORS {
                self.errors.push(e);
            }
        }
    }

    /// Closes the report: duration and the requests this cycle sent.
    pub fn finish(
        &mut self,
        before: &BTreeMap<(Side, CallKind), RequestStats>,
        after: &BTreeMap<(Side, CallKind), RequestStats>,
        store: &Store,
    ) {
        let now = Utc::now();
        self.finished_at = Some(now);
        if let Some(s) = self.started_at {
            self.duration_ms = (now - s).num_milliseconds().max(0) as u64;
        }
        for ((side, kind), stats) in after {
            let prev = before.get(&(*side, *kind)).copied().unwrap_or_default();
            let n = stats.requests - prev.requests;
            self.retries += stats.retries - prev.retries;
            if n > 0 {
                self.requests.insert(format!("{side} {}", kind.as_str()), n);
                if kind.is_write() {
                    *self.write_requests.entry(side.to_string()).or_default() += n;
                }
            }
        }
        self.pending = store.outbox_len() as u64;
    }
}
