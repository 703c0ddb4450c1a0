//! [`decide`]: the merge rules for one mapped field of one entity.
//!
//! 1. Both sides hold the same value (under the field's comparison): agreement, the base
//!    becomes that value, no write.
//! 2. Direction `weavy_wins`: the target is weavy's value; `mautic_wins`: Mautic's.
//! 3. Direction `both`: a side changed when its value differs from the base. No base yet (the
//!    sides never agreed) counts as a blank base: a side changed when it holds a value, so a
//!    value meeting an empty field or a record still missing on the other side is copied over,
//!    not fought over. Only one changed: it wins, whatever the clocks say. Both changed: the newer
//!    change wins; two changes within the tie window go to the preferred side, then (no
//!    preference) to the byte-wise smaller value, so the outcome never depends on order.
//! 4. A blank winner never overwrites a non-blank value unless `overwrite_with_blank`.
//! 5. The write goes only to the side whose value differs from the target, and only if the
//!    direction allows writing there.
//!
//! A missing side (no record there yet, or the field never observed) holds a blank with no
//! change time: the oldest possible, and no change.

use crate::model::{Decision, Direction, FieldPolicy, Observation, Rule, Side, Value};
use std::cmp::Ordering;

static BLANK: Value = Value::Blank;

/// Decides one field. `w` and `m` are the sides' current observations, `base` the last value
/// known to be on both sides.
pub fn decide(
    w: Option<&Observation>,
    m: Option<&Observation>,
    base: Option<&Value>,
    policy: &FieldPolicy,
) -> Decision {
    let wv = w.map_or(&BLANK, |o| &o.value);
    let mv = m.map_or(&BLANK, |o| &o.value);
    let eq = |a: &Value, b: &Value| policy.compare.eq(a, b);

    // Rule 1: agreement.
    if eq(wv, mv) {
        return Decision {
            rule: Rule::Agree,
            winner: None,
            write: None,
            set_base: true,
            conflict: false,
        };
    }

    let base_value = base.unwrap_or(&BLANK);
    let w_changed = !eq(wv, base_value);
    let m_changed = !eq(mv, base_value);

    // Rules 2 and 3: who wins, and whether a change on the losing side is overruled.
    let (winner, rule, overruled) = match policy.direction {
        Direction::WeavyWins => {
            if m_changed {
                (Side::Weavy, Rule::WeavyPriority, true)
            } else {
                (Side::Weavy, Rule::OnlyWeavyChanged, false)
            }
        }
        Direction::MauticWins => {
            if w_changed {
                (Side::Mautic, Rule::MauticPriority, true)
            } else {
                (Side::Mautic, Rule::OnlyMauticChanged, false)
            }
        }
        Direction::Both => match (w_changed, m_changed) {
            (true, false) => (Side::Weavy, Rule::OnlyWeavyChanged, false),
            (false, true) => (Side::Mautic, Rule::OnlyMauticChanged, false),
            // Both changed (or, with a comparison that is not transitive, neither did: the
            // values differ from each other, so treat it as both).
            _ => {
                let (side, rule) = newest(w, m, wv, mv, policy);
                (side, rule, true)
            }
        },
    };

    let (target, other) = match winner {
        Side::Weavy => (wv, mv),
        Side::Mautic => (mv, wv),
    };

    // Rule 4: a blank winner does not erase a value.
    if target.is_blank() && !other.is_blank() && !policy.overwrite_with_blank {
        return Decision {
            rule: Rule::BlankKept,
            winner: None,
            write: None,
            set_base: false,
            conflict: true,
        };
    }

    // Rule 5: write the side that differs, if the direction allows it.
    let to = winner.other();
    Decision {
        rule,
        winner: Some(winner),
        write: policy.direction.may_write(to).then_some(to),
        set_base: false,
        conflict: overruled,
    }
}

/// Both sides changed: the newer change, else the tie rules.
fn newest(
    w: Option<&Observation>,
    m: Option<&Observation>,
    wv: &Value,
    mv: &Value,
    policy: &FieldPolicy,
) -> (Side, Rule) {
    match (w.map(|o| o.at), m.map(|o| o.at)) {
        (Some(tw), Some(tm)) => {
            let diff =
                (tw - tm)
                    .num_microseconds()
                    .unwrap_or(if tw > tm { i64::MAX } else { i64::MIN });
            if diff.unsigned_abs() > policy.tie_window_micros.unsigned_abs() {
                return if diff > 0 {
                    (Side::Weavy, Rule::NewerWins)
                } else {
                    (Side::Mautic, Rule::NewerWins)
                };
            }
            tie(wv, mv, policy)
        }
        (Some(_), None) => (Side::Weavy, Rule::NewerWins),
        (None, Some(_)) => (Side::Mautic, Rule::NewerWins),
        (None, None) => tie(wv, mv, policy),
    }
}

fn tie(wv: &Value, mv: &Value, policy: &FieldPolicy) -> (Side, Rule) {
    if let Some(side) = policy.preferred {
        return (side, Rule::TiePreferredSide);
    }
    match wv.cmp_bytes(mv) {
        Ordering::Greater => (Side::Mautic, Rule::TieSmallerValue),
        // Equal bytes but different values (a number and a text, say): weavy, by convention.
        _ => (Side::Weavy, Rule::TieSmallerValue),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Compare;
    use chrono::{TimeZone, Utc};

    fn o(v: &str, t: i64) -> Observation {
        Observation::new(Value::text(v), Utc.timestamp_opt(t, 0).unwrap())
    }

    fn both() -> FieldPolicy {
        FieldPolicy::default()
    }

    #[test]
    fn agreement_sets_the_base() {
        let d = decide(Some(&o("a", 1)), Some(&o("a", 9)), None, &both());
        assert_eq!(d.rule, Rule::Agree);
        assert!(d.set_base && d.write.is_none() && !d.conflict);
    }

    #[test]
    fn only_the_changed_side_wins_even_when_older() {
        let base = Value::text("old");
        let d = decide(
            Some(&o("new", 1)),
            Some(&o("old", 1000)),
            Some(&base),
            &both(),
        );
        assert_eq!(
            (d.rule, d.winner, d.write),
            (
                Rule::OnlyWeavyChanged,
                Some(Side::Weavy),
                Some(Side::Mautic)
            )
        );
        assert!(!d.conflict, "propagating one edit is not a conflict");
    }

    #[test]
    fn both_changed_newer_wins_and_is_a_conflict() {
        let base = Value::text("old");
        let d = decide(Some(&o("w", 100)), Some(&o("m", 200)), Some(&base), &both());
        assert_eq!(
            (d.rule, d.winner, d.write, d.conflict),
            (Rule::NewerWins, Some(Side::Mautic), Some(Side::Weavy), true)
        );
    }

    #[test]
    fn ties_go_to_the_preferred_side_then_to_the_smaller_value() {
        let d = decide(Some(&o("b", 100)), Some(&o("a", 100)), None, &both());
        assert_eq!(
            (d.rule, d.winner),
            (Rule::TiePreferredSide, Some(Side::Weavy))
        );
        let p = FieldPolicy {
            preferred: Some(Side::Mautic),
            ..both()
        };
        let d = decide(Some(&o("b", 100)), Some(&o("a", 100)), None, &p);
        assert_eq!(d.winner, Some(Side::Mautic));
        let p = FieldPolicy {
            preferred: None,
            ..both()
        };
        let d = decide(Some(&o("b", 100)), Some(&o("a", 100)), None, &p);
        assert_eq!(
            (d.rule, d.winner),
            (Rule::TieSmallerValue, Some(Side::Mautic))
        );
    }

    #[test]
    fn the_tie_window_is_inclusive() {
        let p = FieldPolicy {
            tie_window_micros: 5_000_000,
            preferred: Some(Side::Mautic),
            ..both()
        };
        let d = decide(Some(&o("w", 105)), Some(&o("m", 100)), None, &p);
        assert_eq!(d.rule, Rule::TiePreferredSide);
        let d = decide(Some(&o("w", 106)), Some(&o("m", 100)), None, &p);
        assert_eq!((d.rule, d.winner), (Rule::NewerWins, Some(Side::Weavy)));
    }

    #[test]
    fn directions_override_clocks_and_protect_their_side() {
        let base = Value::text("old");
        let p = FieldPolicy {
            direction: Direction::WeavyWins,
            ..both()
        };
        let d = decide(Some(&o("old", 1)), Some(&o("m", 999)), Some(&base), &p);
        assert_eq!(
            (d.rule, d.winner, d.write, d.conflict),
            (
                Rule::WeavyPriority,
                Some(Side::Weavy),
                Some(Side::Mautic),
                true
            )
        );
        let p = FieldPolicy {
            direction: Direction::MauticWins,
            ..both()
        };
        let d = decide(Some(&o("w", 999)), Some(&o("old", 1)), Some(&base), &p);
        assert_eq!(d.write, Some(Side::Weavy));
        assert_eq!(d.rule, Rule::MauticPriority);
    }

    #[test]
    fn a_blank_winner_keeps_the_value_unless_allowed() {
        let base = Value::text("x");
        let d = decide(Some(&o("", 10)), Some(&o("x", 1)), Some(&base), &both());
        assert_eq!((d.rule, d.write, d.conflict), (Rule::BlankKept, None, true));
        let p = FieldPolicy {
            overwrite_with_blank: true,
            ..both()
        };
        let d = decide(Some(&o("", 10)), Some(&o("x", 1)), Some(&base), &p);
        assert_eq!(
            (d.rule, d.write),
            (Rule::OnlyWeavyChanged, Some(Side::Mautic))
        );
    }

    #[test]
    fn a_missing_side_is_filled_in_not_fought_over() {
        let d = decide(Some(&o("Jean", 10)), None, None, &both());
        assert_eq!(
            (d.rule, d.winner, d.write, d.conflict),
            (
                Rule::OnlyWeavyChanged,
                Some(Side::Weavy),
                Some(Side::Mautic),
                false
            )
        );
        // Both present with no base: a real first-sync disagreement.
        let d = decide(Some(&o("Jean", 10)), Some(&o("Jeannot", 5)), None, &both());
        assert_eq!((d.rule, d.conflict), (Rule::NewerWins, true));
        // An empty field is no value: the other side's value fills it, even on a tie.
        let d = decide(Some(&o("", 10)), Some(&o("+33 1", 10)), None, &both());
        assert_eq!(
            (d.rule, d.write, d.conflict),
            (Rule::OnlyMauticChanged, Some(Side::Weavy), false)
        );
        let d = decide(None, None, None, &both());
        assert_eq!(d.rule, Rule::Agree);
    }

    #[test]
    fn comparison_rules_apply() {
        let p = FieldPolicy {
            compare: Compare {
                trim: true,
                ignore_case: true,
                ..Compare::EXACT
            },
            ..both()
        };
        let d = decide(Some(&o(" JEAN", 10)), Some(&o("jean", 20)), None, &p);
        assert_eq!(d.rule, Rule::Agree);
    }
}
