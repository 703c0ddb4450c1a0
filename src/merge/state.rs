//! A side's current value of one field of one record, folded from its observations.
//!
//! The fold is a last-writer-wins register: the observation with the latest change time wins,
//! and between two observations with the same time, the byte-wise larger value (an arbitrary
//! but fixed choice, so the fold does not depend on arrival order). It is a join: commutative,
//! associative, idempotent.
//!
//! What counts as an observation is decided before the fold, by the store: a sighting whose
//! value equals the record's current value is not one (the record changed for another reason:
//! points, tags, a DNC, fieldsync's own write echoed back), so the change time of a value is
//! the time it was first seen, not the time the record was last touched.

use crate::model::{Compare, Observation};
use std::cmp::Ordering;

/// What folding an observation did to the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// The first value seen for this field.
    First,
    /// A later observation replaced the current one.
    Replaced,
    /// An earlier observation (delivered late, or again): the state is unchanged.
    Stale,
    /// A sighting of the current value: not an observation, not logged.
    Same,
}

impl Fold {
    /// Whether the sighting was an observation, to be kept in the observation log.
    pub fn is_logged(self) -> bool {
        !matches!(self, Fold::Same)
    }
}

/// The order of the register: change time, then value bytes.
pub fn cmp_observations(a: &Observation, b: &Observation) -> Ordering {
    a.at.cmp(&b.at).then_with(|| a.value.cmp_bytes(&b.value))
}

/// The join of the register: the state becomes the greater of itself and `obs` under
/// [`cmp_observations`]. Commutative, associative, idempotent: any order of the same
/// observations gives the same state.
pub fn join(state: &mut Option<Observation>, obs: Observation) -> Fold {
    match state {
        None => {
            *state = Some(obs);
            Fold::First
        }
        Some(current) => {
            if cmp_observations(&obs, current) == Ordering::Greater {
                *current = obs;
                Fold::Replaced
            } else {
                Fold::Stale
            }
        }
    }
}

/// Whether a sighting is an observation: its value differs (exactly: the log keeps raw values,
/// `" Jean"` and `"Jean"` are two observations) from the current one.
pub fn is_change(state: &Option<Observation>, sighting: &Observation) -> bool {
    match state {
        None => true,
        Some(current) => {
            !(Compare::EXACT.eq(&current.value, &sighting.value)
                && current.value.cmp_bytes(&sighting.value) == Ordering::Equal)
        }
    }
}

/// Folds a sighting as the store does: a sighting of the current value is no change
/// ([`Fold::Same`]); anything else is an observation, joined into the state.
pub fn observe(state: &mut Option<Observation>, sighting: Observation) -> Fold {
    if is_change(state, &sighting) {
        join(state, sighting)
    } else {
        Fold::Same
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use chrono::{TimeZone, Utc};

    fn obs(v: &str, t: i64) -> Observation {
        Observation::new(Value::text(v), Utc.timestamp_opt(t, 0).unwrap())
    }

    #[test]
    fn newer_replaces_older_is_stale_same_is_no_change() {
        let mut s = None;
        assert_eq!(observe(&mut s, obs("a", 10)), Fold::First);
        assert_eq!(observe(&mut s, obs("b", 20)), Fold::Replaced);
        assert_eq!(observe(&mut s, obs("c", 15)), Fold::Stale);
        assert_eq!(observe(&mut s, obs("b", 30)), Fold::Same);
        assert_eq!(
            s,
            Some(obs("b", 20)),
            "a touch without change keeps the change time"
        );
        assert_eq!(observe(&mut s, obs("b", 5)), Fold::Same);
        assert_eq!(s, Some(obs("b", 20)));
    }

    #[test]
    fn equal_times_break_on_bytes() {
        let mut s1 = None;
        join(&mut s1, obs("x", 10));
        join(&mut s1, obs("y", 10));
        let mut s2 = None;
        join(&mut s2, obs("y", 10));
        join(&mut s2, obs("x", 10));
        assert_eq!(s1, s2);
        assert_eq!(s1.unwrap().value, Value::text("y"));
    }

    #[test]
    fn trim_differences_are_kept_as_observations() {
        let mut s = None;
        observe(&mut s, obs("Jean", 10));
        assert_eq!(observe(&mut s, obs(" Jean ", 20)), Fold::Replaced);
    }
}
