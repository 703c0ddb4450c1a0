//! The conflict entry of a decision: both sides' values with their change times, the base,
//! the rule and the winner. The losing value is kept here, so nothing a user typed is lost.

use crate::model::{
    ConflictEntry, ConflictRule, Decision, EntityId, EntityKind, Observation, RecordRef, SideValue,
    Value,
};
use chrono::{DateTime, Utc};

/// Where a decision was made: what the conflict entry needs beyond the decision itself.
#[derive(Debug, Clone, Copy)]
pub struct DecisionContext<'a> {
    /// fieldsync's clock when deciding (read by the caller, never here).
    pub at: DateTime<Utc>,
    pub cycle: u64,
    pub entity: EntityId,
    pub entity_kind: EntityKind,
    pub field: &'a str,
    pub weavy_record: Option<&'a RecordRef>,
    pub mautic_record: Option<&'a RecordRef>,
}

/// The conflict entry for `decision`, or `None` when the decision is not a conflict.
pub fn conflict_entry(
    decision: &Decision,
    w: Option<&Observation>,
    m: Option<&Observation>,
    base: Option<&Value>,
    ctx: &DecisionContext<'_>,
) -> Option<ConflictEntry> {
    if !decision.conflict {
        return None;
    }
    let side_value = |record: Option<&RecordRef>, o: Option<&Observation>| SideValue {
        record: record.cloned(),
        value: o.map_or(Value::Blank, |o| o.value.clone()),
        at: o.map(|o| o.at),
    };
    Some(ConflictEntry {
        at: ctx.at,
        cycle: ctx.cycle,
        entity: ctx.entity,
        entity_kind: ctx.entity_kind,
        field: ctx.field.to_owned(),
        rule: ConflictRule::Merge(decision.rule),
        winner: decision.winner,
        weavy: side_value(ctx.weavy_record, w),
        mautic: side_value(ctx.mautic_record, m),
        base: base.cloned(),
        note: String::new(),
    })
}
