//! The merge rules of `DESIGN.md`, as pure functions. No I/O, no clock reads: every time is an
//! argument, so the same inputs always give the same decision.
//!
//! - [`state`]: a side's current value of a field, folded from its observations. The fold is a
//!   last-writer-wins register over (change time, arrival sequence), so it is commutative,
//!   associative and idempotent: observations can arrive in any order, or twice, and the state
//!   is the same. Which sightings are observations (those whose value differs from the current
//!   one) is decided by the store, which stamps them in arrival order.
//! - [`rules`]: [`decide`] for one (entity, field): agreement, direction, three-way change
//!   detection against the base, newest change, tie window, preferred side, byte order, and the
//!   blank rule. It returns which side wins and which side is written, never a copy of a value.
//! - [`conflict`]: the conflict entry of a decision, holding both values (the loser included).
//!
//! # The contract, and the test that proves each promise
//!
//! Each property is a proptest over generated values, times, bases and policies in
//! `properties.rs`.
//!
//! | promise | test |
//! |---|---|
//! | the decision is a pure function of (w, m, b, times, policy) | `decision_is_deterministic` |
//! | the same observations in any order (or repeated) give the same field states and decisions | `observation_order_does_not_matter` |
//! | deciding again after applying the decision writes nothing | `deciding_again_after_apply_writes_nothing` |
//! | after applying, both sides hold the same value, except a kept blank, which is a conflict entry | `applying_converges_or_logs` |
//! | no write ever goes to the side a direction protects | `direction_is_never_violated` |
//! | when only one side changed since the base, it wins whatever the clocks say | `only_changed_side_wins_regardless_of_clocks` |
//! | every losing value of a conflict is in its conflict entry | `losers_are_kept_in_the_conflict_entry` |
//! | every observed value is kept (in the observation log, by the store) | `observations_are_never_dropped` (state fold) and `store::tests::every_differing_sighting_is_logged` |
//! | swapping the sides (and the preferred side) mirrors the decision | `decision_is_symmetric` |
//! | a blank never overwrites a value unless `overwrite_with_blank` | `blank_never_overwrites_without_permission` |

pub mod conflict;
pub mod rules;
pub mod state;

#[cfg(test)]
mod properties;

pub use conflict::conflict_entry;
pub use rules::decide;
pub use state::{Fold, Stamped, is_change, join, observe};
