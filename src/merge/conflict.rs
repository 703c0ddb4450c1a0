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
        note: record_time_note(decision, base),
    })
}

/// Why a first decision by time may surprise: both sides date a record, not a field.
pub const RECORD_TIME_NOTE: &str = "no value was agreed on before: each side's time is its record's last change (weavy's srvDateUTC, Mautic's dateModified), not this field's, so an edit of another field of the record makes this one look as new";

/// The note of a decision made by the sides' times before the pair ever agreed on the
/// field: those times are record-level (see the README's merge rules).
fn record_time_note(decision: &Decision, base: Option<&Value>) -> String {
    let by_time = matches!(
        decision.rule,
        crate::model::Rule::NewerWins
            | crate::model::Rule::TiePreferredSide
            | crate::model::Rule::TieSmallerValue
    );
    if by_time && base.is_none() {
        RECORD_TIME_NOTE.to_owned()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Rule, Side};

    fn decision(rule: Rule) -> Decision {
        Decision {
            rule,
            winner: Some(Side::Weavy),
            write: Some(Side::Mautic),
            set_base: false,
            conflict: true,
        }
    }

    /// A first decision by the sides' times says that they are record-level; one made with
    /// a base, or by a rule that is not about time, says nothing.
    #[test]
    fn a_first_decision_by_time_says_the_times_are_the_records() {
        let base = Value::text("ancien");
        assert_eq!(
            record_time_note(&decision(Rule::NewerWins), None),
            RECORD_TIME_NOTE
        );
        assert_eq!(
            record_time_note(&decision(Rule::TiePreferredSide), None),
            RECORD_TIME_NOTE
        );
        assert_eq!(
            record_time_note(&decision(Rule::NewerWins), Some(&base)),
            ""
        );
        assert_eq!(record_time_note(&decision(Rule::WeavyPriority), None), "");
        assert_eq!(
            record_time_note(&decision(Rule::OnlyWeavyChanged), Some(&base)),
            ""
        );
    }
}
