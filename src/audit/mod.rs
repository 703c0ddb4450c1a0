//! Proving afterwards why a value is what it is.
//!
//! - [`export_conflicts`] streams the conflict log, filtered, as JSON Lines, CSV or a table,
//!   one entry at a time: constant memory whatever the size of the log.
//! - [`history`] gives the full timeline of one entity: every value each side showed for each
//!   mapped field (the observation log), and every decision logged about it, in time order.

use crate::model::{ConflictEntry, EntityId, RecordRef, Side, Value};
use crate::store::{ConflictFilter, Store, StoreError};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::io::Write;

/// What can go wrong while exporting.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not write the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("could not write the CSV export: {0}")]
    Csv(#[from] csv::Error),
    #[error(
        "fieldsync has never seen {0}; check the object and id (e.g. customercontact:C0001, contact:47)"
    )]
    UnknownRecord(RecordRef),
    #[error("there is no entity {0}; `fieldsync conflicts` shows entity ids")]
    UnknownEntity(EntityId),
}

/// Output formats of the audit commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned columns for a terminal.
    #[default]
    Table,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated, with a header row.
    Csv,
}

/// A value as JSON a user can read: texts as strings, numbers as numbers, dates as ISO 8601,
/// lists as arrays, blank as null.
pub fn value_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Blank => serde_json::Value::Null,
        Value::Text(s) => s.clone().into(),
        Value::Number(n) => serde_json::Number::from_f64(*n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::Bool(b) => (*b).into(),
        Value::List(l) => l.clone().into(),
        other => other.canonical().into(),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> String {
    t.map(time).unwrap_or_default()
}

fn record_name(r: &Option<RecordRef>) -> String {
    r.as_ref()
        .map(|r| format!("{}:{}", r.kind.api_name(), r.id))
        .unwrap_or_default()
}

/// One conflict entry, flat, as exported.
#[derive(Debug, Serialize)]
struct ConflictRow {
    at: String,
    cycle: u64,
    entity: String,
    object: &'static str,
    field: String,
    rule: &'static str,
    winner: &'static str,
    weavy_record: String,
    weavy_value: serde_json::Value,
    weavy_changed_at: String,
    mautic_record: String,
    mautic_value: serde_json::Value,
    mautic_changed_at: String,
    base: serde_json::Value,
    note: String,
    /// Who the entry is about: a person's name and e-mail, a company's name (see
    /// [`label`]); last, so the columns before it keep their places.
    who: String,
}

impl ConflictRow {
    fn new(store: &Store, e: &ConflictEntry) -> Result<Self, StoreError> {
        Ok(ConflictRow {
            who: label::of_entry(store, e)?,
            ..ConflictRow::from(e)
        })
    }
}

impl From<&ConflictEntry> for ConflictRow {
    fn from(e: &ConflictEntry) -> Self {
        ConflictRow {
            who: e.entity.to_string(),
            at: time(e.at),
            cycle: e.cycle,
            entity: e.entity.to_string(),
            object: e.entity_kind.as_str(),
            field: e.field.clone(),
            rule: e.rule.as_str(),
            winner: e.winner.map_or("", Side::as_str),
            weavy_record: record_name(&e.weavy.record),
            weavy_value: value_json(&e.weavy.value),
            weavy_changed_at: opt_time(e.weavy.at),
            mautic_record: record_name(&e.mautic.record),
            mautic_value: value_json(&e.mautic.value),
            mautic_changed_at: opt_time(e.mautic.at),
            base: e.base.as_ref().map_or(serde_json::Value::Null, value_json),
            note: e.note.clone(),
        }
    }
}

const CONFLICT_HEADER: [&str; 16] = [
    "at",
    "cycle",
    "entity",
    "object",
    "field",
    "rule",
    "winner",
    "weavy_record",
    "weavy_value",
    "weavy_changed_at",
    "mautic_record",
    "mautic_value",
    "mautic_changed_at",
    "base",
    "note",
    "who",
];

/// A cell of a CSV or table: texts as they are, other values in canonical form.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join("|"),
        other => other.to_string(),
    }
}

impl ConflictRow {
    fn cells(&self) -> [String; 16] {
        [
            self.at.clone(),
            self.cycle.to_string(),
            self.entity.clone(),
            self.object.to_owned(),
            self.field.clone(),
            self.rule.to_owned(),
            self.winner.to_owned(),
            self.weavy_record.clone(),
            cell(&self.weavy_value),
            self.weavy_changed_at.clone(),
            self.mautic_record.clone(),
            cell(&self.mautic_value),
            self.mautic_changed_at.clone(),
            cell(&self.base),
            self.note.clone(),
            self.who.clone(),
        ]
    }
}

/// Which of the matching entries to export: the first `limit`, or the last `tail` (still
/// oldest first), or all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub limit: Option<usize>,
    pub tail: Option<usize>,
}

type Entries<'a> = Box<dyn Iterator<Item = Result<ConflictEntry, StoreError>> + 'a>;

/// The entries of `filter` in `window`. The tail is kept in a ring of its size: memory stays
/// bounded by the window, not by the log.
fn windowed<'a>(
    store: &'a Store,
    filter: &'a ConflictFilter,
    window: Window,
) -> Result<Entries<'a>, StoreError> {
    let all = store.conflicts(filter);
    Ok(match (window.limit, window.tail) {
        (_, Some(n)) => {
            let mut ring = std::collections::VecDeque::with_capacity(n.min(4096));
            for e in all {
                let e = e?;
                if ring.len() == n {
                    ring.pop_front();
                }
                if n > 0 {
                    ring.push_back(e);
                }
            }
            Box::new(ring.into_iter().map(Ok))
        }
        (Some(n), None) => Box::new(all.take(n)),
        (None, None) => Box::new(all),
    })
}

/// Streams the conflict entries matching `filter` (in `window`) to `out`. Returns how many
/// were written.
pub fn export_conflicts(
    store: &Store,
    filter: &ConflictFilter,
    window: Window,
    format: Format,
    out: &mut dyn Write,
) -> Result<u64, AuditError> {
    let mut n = 0u64;
    match format {
        Format::Jsonl => {
            for e in windowed(store, filter, window)? {
                serde_json::to_writer(&mut *out, &ConflictRow::new(store, &e?)?)
                    .map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
                n += 1;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record(CONFLICT_HEADER)?;
            for e in windowed(store, filter, window)? {
                w.write_record(ConflictRow::new(store, &e?)?.cells())?;
                n += 1;
            }
            w.flush()?;
        }
        Format::Table => {
            // A line per entry under a header: streaming, so the columns have fixed widths
            // (a longer name is cut) instead of widths computed over the whole log.
            writeln!(
                out,
                "{:<20}  {:<36} {:<7} {:<20} {:<20} {:<11} values (weavy / mautic), note",
                "decided at (UTC)", "who", "object", "field", "rule", "outcome"
            )?;
            for e in windowed(store, filter, window)? {
                let e = e?;
                let r = ConflictRow::new(store, &e)?;
                let winner = if r.winner.is_empty() {
                    "no write".to_owned()
                } else {
                    format!("{} won", r.winner)
                };
                let side = |record: &str, value: &serde_json::Value, at: &str| {
                    format!(
                        "{} = {:?} ({})",
                        if record.is_empty() { "-" } else { record },
                        cell(value),
                        if at.is_empty() { "-" } else { at }
                    )
                };
                writeln!(
                    out,
                    "{at:<20}  {who:<36} {object:<7} {field:<20} {rule:<20} {winner:<11} weavy {w}  mautic {m}{note}",
                    at = r.at,
                    who = cut(&format!("{} {}", r.who, r.entity), 36),
                    object = r.object,
                    field = if r.field.is_empty() { "-" } else { &r.field },
                    rule = r.rule,
                    w = side(&r.weavy_record, &r.weavy_value, &r.weavy_changed_at),
                    m = side(&r.mautic_record, &r.mautic_value, &r.mautic_changed_at),
                    note = if r.note.is_empty() {
                        String::new()
                    } else {
                        format!("  ({})", r.note)
                    },
                )?;
                n += 1;
            }
        }
    }
    out.flush()?;
    Ok(n)
}

/// At most `width` characters, an ellipsis where it was cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// One line of an entity's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryLine {
    pub at: DateTime<Utc>,
    /// "observed" (a side showed this value) or "decided" (a conflict-log entry).
    pub event: &'static str,
    pub side: Option<Side>,
    pub record: String,
    pub field: String,
    pub value: serde_json::Value,
    pub cycle: u64,
    /// For a decision: the rule and the winner.
    pub detail: String,
}

/// The timeline of the entity `record` belongs to (or of the record alone, if it is not
/// linked yet): every observation of its records on both sides and every conflict-log entry
/// about it, in time order.
pub fn history(store: &Store, record: &RecordRef) -> Result<Vec<HistoryLine>, AuditError> {
    match store.entity_of(record)? {
        Some(id) => entity_history(store, id),
        None => {
            if store.record(record)?.is_none() {
                return Err(AuditError::UnknownRecord(record.clone()));
            }
            let mut lines = observed(store, record)?;
            lines.sort_by_key(|l| l.at);
            Ok(lines)
        }
    }
}

/// The timeline of one entity.
pub fn entity_history(store: &Store, id: EntityId) -> Result<Vec<HistoryLine>, AuditError> {
    let entity = store.entity(id)?.ok_or(AuditError::UnknownEntity(id))?;
    let mut lines = Vec::new();
    for r in [&entity.weavy, &entity.mautic].into_iter().flatten() {
        lines.extend(observed(store, r)?);
    }
    let filter = ConflictFilter {
        entity: Some(id),
        ..Default::default()
    };
    for e in store.conflicts(&filter) {
        let e = e?;
        lines.push(HistoryLine {
            at: e.at,
            event: "decided",
            side: e.winner,
            record: String::new(),
            field: e.field.clone(),
            value: match e.winner {
                Some(Side::Weavy) => value_json(&e.weavy.value),
                Some(Side::Mautic) => value_json(&e.mautic.value),
                None => serde_json::Value::Null,
            },
            cycle: e.cycle,
            detail: format!(
                "{}{}; weavy {} / mautic {}{}",
                e.rule,
                e.winner.map(|w| format!(", {w} won")).unwrap_or_default(),
                e.weavy.value,
                e.mautic.value,
                if e.note.is_empty() {
                    String::new()
                } else {
                    format!("; {}", e.note)
                }
            ),
        });
    }
    // Stable: within one instant, observations (pushed first) stay before decisions.
    lines.sort_by_key(|l| l.at);
    Ok(lines)
}

fn observed(store: &Store, r: &RecordRef) -> Result<Vec<HistoryLine>, AuditError> {
    store
        .observations_of(r)
        .map(|o| {
            let (field, obs, cycle) = o?;
            // A person's company is held as a reference (a weavy customer id, the key of a
            // Mautic company's name): shown by the company's name.
            let (value, detail) = match &obs.value {
                Value::Text(reference) if field == crate::model::engine_fields::COMPANY => {
                    match label::company(store, r, reference) {
                        Some(name) => (
                            serde_json::Value::String(name),
                            format!("the company held as '{reference}'"),
                        ),
                        None => (value_json(&obs.value), String::new()),
                    }
                }
                v => (value_json(v), String::new()),
            };
            Ok(HistoryLine {
                at: obs.at,
                event: "observed",
                side: Some(r.side()),
                record: format!("{}:{}", r.kind.api_name(), r.id),
                field,
                value,
                cycle,
                detail,
            })
        })
        .collect()
}

/// Writes a timeline in the chosen format.
pub fn write_history(
    lines: &[HistoryLine],
    format: Format,
    out: &mut dyn Write,
) -> Result<(), AuditError> {
    match format {
        Format::Jsonl => {
            for l in lines {
                serde_json::to_writer(&mut *out, l).map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record([
                "at", "event", "side", "record", "field", "value", "cycle", "detail",
            ])?;
            for l in lines {
                w.write_record([
                    time(l.at),
                    l.event.to_owned(),
                    l.side.map_or("", Side::as_str).to_owned(),
                    l.record.clone(),
                    l.field.clone(),
                    cell(&l.value),
                    l.cycle.to_string(),
                    l.detail.clone(),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            let fw = lines
                .iter()
                .map(|l| l.field.len())
                .max()
                .unwrap_or(5)
                .max(5);
            let rw = lines
                .iter()
                .map(|l| l.record.len())
                .max()
                .unwrap_or(6)
                .max(6);
            for l in lines {
                let what = if l.event == "decided" {
                    format!("decided: {}", l.detail)
                } else if l.detail.is_empty() {
                    format!("{:?}", cell(&l.value))
                } else {
                    format!("{:?} ({})", cell(&l.value), l.detail)
                };
                writeln!(
                    out,
                    "{}  {:<6} {:<rw$} {:<fw$} {}",
                    time(l.at),
                    l.side.map_or("-", Side::as_str),
                    if l.record.is_empty() { "-" } else { &l.record },
                    l.field,
                    what,
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

pub mod label;

#[cfg(test)]
mod tests;
