//! A side's current value of one field of one record, folded from its observations.
//!
//! Each observation carries a stamp: the time the side says the record changed, then a sequence
//! number the store gives every sighting in the order it arrives. The fold is a
//! last-writer-wins register over that stamp: it is a join (commutative, associative,
//! idempotent), so the same observations in any order, or twice, give the same state.
//!
//! Why a sequence and not only the time: sides stamp to the second, and the same record is
//! often seen twice in one second (a user's edit, then fieldsync's own write echoed back). Of
//! two sightings of one record in the same second, the later one is its state; the sequence
//! says which is later.
//!
//! What counts as an observation is decided before the fold, by the store: a sighting whose
//! value equals the record's current value is not one (the record changed for another reason:
//! points, tags, a DNC, fieldsync's own write echoed back), so the change time of a value is
//! the time it was first seen, not the time the record was last touched.

use crate::model::{Compare, Observation};
use std::cmp::Ordering;

/// An observation with its arrival sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped {
    pub obs: Observation,
    /// Unique and increasing in arrival order (the store's sighting sequence).
    pub seq: u64,
}

impl Stamped {
    pub fn new(obs: Observation, seq: u64) -> Self {
        Stamped { obs, seq }
    }
}

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

/// The order of the register: change time, then arrival.
pub fn cmp_stamps(a: &Stamped, b: &Stamped) -> Ordering {
    a.obs.at.cmp(&b.obs.at).then(a.seq.cmp(&b.seq))
}

/// The join of the register: the state becomes the later of itself and `s`.
pub fn join(state: &mut Option<Stamped>, s: Stamped) -> Fold {
    match state {
        None => {
            *state = Some(s);
            Fold::First
        }
        Some(current) => {
            if cmp_stamps(&s, current) == Ordering::Greater {
                *current = s;
                Fold::Replaced
            } else {
                Fold::Stale
            }
        }
    }
}

/// Whether a sighting is an observation: its value differs (exactly: the log keeps raw values,
/// `" Jean"` and `"Jean"` are two observations) from the current one.
pub fn is_change(state: &Option<Stamped>, sighting: &Observation) -> bool {
    match state {
        None => true,
        Some(current) => {
            !(Compare::EXACT.eq(&current.obs.value, &sighting.value)
                && current.obs.value.cmp_bytes(&sighting.value) == Ordering::Equal)
        }
    }
}

/// Folds a sighting as the store does: a sighting of the current value is no change
/// ([`Fold::Same`]); anything else is an observation, joined into the state.
pub fn observe(state: &mut Option<Stamped>, sighting: Stamped) -> Fold {
    if is_change(state, &sighting.obs) {
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

    /// Stamps in arrival order.
    fn seq() -> impl FnMut(Observation) -> Stamped {
        let mut n = 0;
        move |o| {
            n += 1;
            Stamped::new(o, n)
        }
    }

    #[test]
    fn newer_replaces_older_is_stale_same_is_no_change() {
        let mut st = seq();
        let mut s = None;
        assert_eq!(observe(&mut s, st(obs("a", 10))), Fold::First);
        assert_eq!(observe(&mut s, st(obs("b", 20))), Fold::Replaced);
        assert_eq!(observe(&mut s, st(obs("c", 15))), Fold::Stale);
        assert_eq!(observe(&mut s, st(obs("b", 30))), Fold::Same);
        assert_eq!(
            s.as_ref().unwrap().obs,
            obs("b", 20),
            "a touch keeps the change time"
        );
        assert_eq!(observe(&mut s, st(obs("b", 5))), Fold::Same);
    }

    #[test]
    fn in_the_same_second_the_later_sighting_wins() {
        let mut st = seq();
        let mut s = None;
        observe(&mut s, st(obs("imprimerie moreau", 10)));
        assert_eq!(
            observe(&mut s, st(obs("Imprimerie Moreau", 10))),
            Fold::Replaced
        );
        assert_eq!(s.unwrap().obs.value, Value::text("Imprimerie Moreau"));
    }

    #[test]
    fn trim_differences_are_kept_as_observations() {
        let mut st = seq();
        let mut s = None;
        observe(&mut s, st(obs("Jean", 10)));
        assert_eq!(observe(&mut s, st(obs(" Jean ", 20))), Fold::Replaced);
    }
}
