//! What a cycle did: counts for the summary, `status` and monitoring, and, for a dry run, every
//! write it would have made.

use crate::connector::{CallKind, RequestStats};
use crate::model::{EntityId, PatchOp, Rule, Side, Value};
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
    /// The entity the record is (or will be) linked to.
    pub entity: EntityId,
    /// Whether the record is updated or created.
    pub op: PatchOp,
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
            self.record
                .clone()
                .unwrap_or_else(|| format!("(new, {})", self.entity)),
            self.field,
            self.old,
            self.new,
            self.rule
        )
    }
}

/// The note of a cycle that never ended.
pub const UNFINISHED: &str = "killed: the process stopped (killed, crashed or lost its power) before this cycle ended; what it had stored was kept and the next cycle went on from there";

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

    /// What is stored for a cycle as it starts, so that one that never ends (the process
    /// killed, crashed, the power lost) is in `status` as such: the report stored at its end
    /// replaces it.
    pub fn unfinished(cycle: u64) -> Self {
        CycleReport {
            failed: true,
            interrupted: true,
            errors: vec![UNFINISHED.to_owned()],
            ..CycleReport::start(cycle, false)
        }
    }

    /// Whether this is the report of a cycle that never ended (see [`CycleReport::unfinished`]).
    pub fn is_unfinished(&self) -> bool {
        self.failed && self.errors.first().is_some_and(|e| e == UNFINISHED)
    }

    /// Ran to its end: neither failed, killed nor stopped (record errors may remain), and not a
    /// dry run.
    pub fn succeeded(&self) -> bool {
        !self.failed && !self.interrupted && !self.dry_run
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

    /// Adds the counts of a part of the cycle counted on its own (a side's pull or apply, the
    /// merge's thread). Every count is added: a new one that is not fails to compile here.
    pub fn absorb(&mut self, other: CycleReport) {
        let CycleReport {
            // The cycle's own, set by `start` and `finish`.
            cycle: _,
            started_at: _,
            finished_at: _,
            duration_ms: _,
            dry_run: _,
            interrupted: _,
            failed: _,
            pending: _,
            requests: _,
            retries: _,
            write_requests: _,
            pulled,
            observations,
            skipped_anonymous,
            skipped_no_email,
            skipped_no_key,
            invalid_values,
            merged,
            linked,
            changed_fields,
            conflicts,
            duplicates,
            relinked,
            collisions,
            inserts,
            updates,
            rejected,
            gone,
            errors,
            planned,
        } = other;
        for (map, more) in [
            (&mut self.pulled, pulled),
            (&mut self.inserts, inserts),
            (&mut self.updates, updates),
        ] {
            for (k, v) in more {
                *map.entry(k).or_default() += v;
            }
        }
        for (count, more) in [
            (&mut self.observations, observations),
            (&mut self.skipped_anonymous, skipped_anonymous),
            (&mut self.skipped_no_email, skipped_no_email),
            (&mut self.skipped_no_key, skipped_no_key),
            (&mut self.invalid_values, invalid_values),
            (&mut self.merged, merged),
            (&mut self.linked, linked),
            (&mut self.changed_fields, changed_fields),
            (&mut self.conflicts, conflicts),
            (&mut self.duplicates, duplicates),
            (&mut self.relinked, relinked),
            (&mut self.collisions, collisions),
            (&mut self.rejected, rejected),
            (&mut self.gone, gone),
        ] {
            *count += more;
        }
        let room = MAX_ERRORS.saturating_sub(self.errors.len());
        self.errors.extend(errors.into_iter().take(room));
        self.planned.extend(planned);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absorbing_parts_adds_their_counts_and_keeps_the_cycle_own() {
        let mut cycle = CycleReport::start(7, false);
        let mut pull = CycleReport::default();
        *pull.pulled.entry("contact".into()).or_default() += 3;
        pull.invalid_values = 1;
        pull.error("contact 4: field x skipped");
        let mut apply = CycleReport {
            cycle: 99,
            rejected: 2,
            invalid_values: 1,
            ..Default::default()
        };
        apply.inserted("marketinginbound");
        apply.inserted("marketinginbound");
        let merge = CycleReport {
            merged: 5,
            conflicts: 1,
            ..Default::default()
        };
        for part in [pull, apply, merge] {
            cycle.absorb(part);
        }
        assert_eq!(cycle.cycle, 7);
        assert_eq!(cycle.pulled["contact"], 3);
        assert_eq!(cycle.inserts["marketinginbound"], 2);
        assert_eq!(
            (cycle.invalid_values, cycle.rejected, cycle.merged),
            (2, 2, 5)
        );
        assert_eq!(cycle.conflicts, 1);
        assert_eq!(cycle.errors.len(), 1);
    }

    #[test]
    fn absorbed_errors_stop_at_the_cap() {
        let mut cycle = CycleReport::default();
        for _ in 0..3 {
            let mut part = CycleReport::default();
            for i in 0..30 {
                part.error(format!("error {i}"));
            }
            cycle.absorb(part);
        }
        assert_eq!(cycle.errors.len(), MAX_ERRORS);
    }
}
