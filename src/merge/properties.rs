//! The merge contract as properties over generated values, times, bases and policies. Each
//! property is its own test; the table in `merge/mod.rs` names them.

use super::conflict::DecisionContext;
use super::state::{Stamped, join, observe};
use super::{conflict_entry, decide};
use crate::model::{
    Compare, Decision, Direction, EntityId, EntityKind, FieldPolicy, Observation, Precision, Rule,
    Side, Value,
};
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

/// Values from a small pool, so that equalities, trims, case differences and blanks are common.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Blank),
        Just(Value::text("a")),
        Just(Value::text("b")),
        Just(Value::text(" a")),
        Just(Value::text("A")),
        Just(Value::text("Émile")),
        Just(Value::text("émile ")),
        Just(Value::Number(12.0)),
        Just(Value::Number(12.4)),
        Just(Value::Number(12.6)),
        Just(Value::Number(0.0)),
        "[a-c]{1,3}".prop_map(Value::text),
        // Instants a second, a minute and an hour apart: the last pair is the same wall time
        // in Paris (the two passes of 27 October 2024's 02:30).
        prop_oneof![
            Just("2024-10-27T00:30:00Z"),
            Just("2024-10-27T00:30:40Z"),
            Just("2024-10-27T00:31:00Z"),
            Just("2024-10-27T01:30:00Z"),
        ]
        .prop_map(|t| Value::DateTime(t.parse().unwrap())),
    ]
}

/// The precisions the sides keep: exact, to the minute, integers or two decimals, Paris wall
/// time.
fn precision() -> impl Strategy<Value = Precision> {
    (
        any::<bool>(),
        proptest::option::of(0u8..3),
        proptest::option::of(Just(chrono_tz::Europe::Paris)),
    )
        .prop_map(|(minutes, decimals, wall_zone)| Precision {
            minutes,
            decimals,
            wall_zone,
        })
}

/// Change times within a few seconds of each other, so that ties are common.
fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..20).prop_map(|s| Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap())
}

fn observation() -> impl Strategy<Value = Observation> {
    (value(), time()).prop_map(|(v, t)| Observation::new(v, t))
}

/// Observations stamped in the order generated (each sequence number unique), as the store
/// stamps sightings in arrival order.
fn stamped_observations() -> impl Strategy<Value = Vec<Stamped>> {
    prop::collection::vec(observation(), 0..12).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, o)| Stamped::new(o, i as u64))
            .collect()
    })
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Weavy), Just(Side::Mautic)]
}

fn policy() -> impl Strategy<Value = FieldPolicy> {
    (
        prop_oneof![
            Just(Direction::Both),
            Just(Direction::WeavyWins),
            Just(Direction::MauticWins)
        ],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(side()),
        0i64..3_000_000,
        precision(),
    )
        .prop_map(
            |(direction, owb, trim, ignore_case, preferred, tie, precision)| FieldPolicy {
                direction,
                overwrite_with_blank: owb,
                compare: Compare {
                    trim,
                    ignore_case,
                    precision,
                },
                preferred,
                tie_window_micros: tie,
            },
        )
}

/// One field's inputs: the two sides (either may be missing) and the base.
#[derive(Debug, Clone)]
struct Input {
    w: Option<Observation>,
    m: Option<Observation>,
    base: Option<Value>,
    policy: FieldPolicy,
}

fn input() -> impl Strategy<Value = Input> {
    (
        proptest::option::weighted(0.9, observation()),
        proptest::option::weighted(0.9, observation()),
        proptest::option::weighted(0.7, value()),
        policy(),
    )
        .prop_map(|(w, m, base, policy)| Input { w, m, base, policy })
}

impl Input {
    fn decide(&self) -> Decision {
        decide(
            self.w.as_ref(),
            self.m.as_ref(),
            self.base.as_ref(),
            &self.policy,
        )
    }

    fn value(&self, side: Side) -> Value {
        let o = match side {
            Side::Weavy => &self.w,
            Side::Mautic => &self.m,
        };
        o.as_ref().map_or(Value::Blank, |o| o.value.clone())
    }

    /// What the applier does with a decision: the written side now holds the winner's value
    /// (stamped at `at`, whatever that side's clock says), and the base becomes that value.
    fn apply(&self, d: &Decision, at: DateTime<Utc>) -> Input {
        let mut next = self.clone();
        if d.set_base {
            next.base = Some(self.value(Side::Weavy));
        }
        if let (Some(to), Some(from)) = (d.write, d.winner) {
            let v = self.value(from);
            let o = Some(Observation::new(v.clone(), at));
            match to {
                Side::Weavy => next.w = o,
                Side::Mautic => next.m = o,
            }
            next.base = Some(v);
        }
        next
    }

    fn mirrored(&self) -> Input {
        let mut p = self.policy;
        p.direction = match p.direction {
            Direction::Both => Direction::Both,
            Direction::WeavyWins => Direction::MauticWins,
            Direction::MauticWins => Direction::WeavyWins,
        };
        p.preferred = p.preferred.map(Side::other);
        Input {
            w: self.m.clone(),
            m: self.w.clone(),
            base: self.base.clone(),
            policy: p,
        }
    }
}

fn ctx() -> DecisionContext<'static> {
    DecisionContext {
        at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        cycle: 1,
        entity: EntityId(1),
        entity_kind: EntityKind::Person,
        field: "firstname",
        weavy_record: None,
        mautic_record: None,
    }
}

fn mirror_rule(r: Rule) -> Rule {
    match r {
        Rule::OnlyWeavyChanged => Rule::OnlyMauticChanged,
        Rule::OnlyMauticChanged => Rule::OnlyWeavyChanged,
        Rule::WeavyPriority => Rule::MauticPriority,
        Rule::MauticPriority => Rule::WeavyPriority,
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decision_is_deterministic(i in input()) {
        let again = i.clone();
        prop_assert_eq!(i.decide(), again.decide());
    }

    #[test]
    fn observation_order_does_not_matter(
        (ws, shuffled_w) in stamped_observations()
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        (ms, shuffled_m) in stamped_observations()
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        repeat in 0usize..3,
        base in proptest::option::of(value()),
        policy in policy(),
    ) {
        let fold = |obs: &[Stamped], times: usize| {
            let mut s = None;
            for _ in 0..=times {
                for o in obs {
                    join(&mut s, o.clone());
                }
            }
            s.map(|s: Stamped| s.obs)
        };
        let (w1, m1) = (fold(&ws, 0), fold(&ms, 0));
        let (w2, m2) = (fold(&shuffled_w, repeat), fold(&shuffled_m, repeat));
        prop_assert_eq!(&w1, &w2);
        prop_assert_eq!(&m1, &m2);
        prop_assert_eq!(
            decide(w1.as_ref(), m1.as_ref(), base.as_ref(), &policy),
            decide(w2.as_ref(), m2.as_ref(), base.as_ref(), &policy)
        );
    }

    #[test]
    fn deciding_again_after_apply_writes_nothing(i in input(), at in time()) {
        let d = i.decide();
        let after = i.apply(&d, at);
        let again = after.decide();
        prop_assert_eq!(again.write, None, "first {:?} then {:?} on {:?}", d, again, after);
    }

    #[test]
    fn applying_converges_or_logs(i in input(), at in time()) {
        let d = i.decide();
        let after = i.apply(&d, at);
        let same = i.policy.compare.eq(&after.value(Side::Weavy), &after.value(Side::Mautic));
        prop_assert!(
            same || (d.rule == Rule::BlankKept && d.conflict),
            "{:?} left {:?} / {:?}", d, after.value(Side::Weavy), after.value(Side::Mautic)
        );
    }

    #[test]
    fn direction_is_never_violated(i in input()) {
        let d = i.decide();
        match i.policy.direction {
            Direction::WeavyWins => prop_assert_ne!(d.write, Some(Side::Weavy)),
            Direction::MauticWins => prop_assert_ne!(d.write, Some(Side::Mautic)),
            Direction::Both => {}
        }
        if let Some(winner) = d.winner {
            prop_assert!(i.policy.direction.may_write(winner.other()) || d.write.is_none());
        }
    }

    #[test]
    fn only_changed_side_wins_regardless_of_clocks(
        base in value(),
        changed in value(),
        changed_side in side(),
        t_changed in time(),
        t_unchanged in time(),
        mut policy in policy(),
    ) {
        policy.direction = Direction::Both;
        prop_assume!(!policy.compare.eq(&changed, &base));
        let unchanged_obs = Observation::new(base.clone(), t_unchanged);
        let changed_obs = Observation::new(changed.clone(), t_changed);
        let (w, m) = match changed_side {
            Side::Weavy => (changed_obs, unchanged_obs),
            Side::Mautic => (unchanged_obs, changed_obs),
        };
        let d = decide(Some(&w), Some(&m), Some(&base), &policy);
        if changed.is_blank() && !base.is_blank() && !policy.overwrite_with_blank {
            prop_assert_eq!(d.rule, Rule::BlankKept);
        } else {
            prop_assert_eq!(d.winner, Some(changed_side));
            prop_assert_eq!(d.write, Some(changed_side.other()));
            prop_assert!(!d.conflict);
        }
    }

    #[test]
    fn losers_are_kept_in_the_conflict_entry(i in input()) {
        let d = i.decide();
        let entry = conflict_entry(&d, i.w.as_ref(), i.m.as_ref(), i.base.as_ref(), &ctx());
        prop_assert_eq!(entry.is_some(), d.conflict);
        if let Some(e) = &entry {
            prop_assert_eq!(&e.weavy.value, &i.value(Side::Weavy));
            prop_assert_eq!(&e.mautic.value, &i.value(Side::Mautic));
            prop_assert_eq!(e.weavy.at, i.w.as_ref().map(|o| o.at));
            prop_assert_eq!(e.mautic.at, i.m.as_ref().map(|o| o.at));
            prop_assert_eq!(e.winner, d.winner);
        }
        // A value about to be overwritten is either the base (both sides had it, the
        // observation log holds it) or kept in the conflict entry.
        if let Some(to) = d.write {
            let lost = i.value(to);
            let is_base = i.base.as_ref().is_some_and(|b| i.policy.compare.eq(&lost, b));
            prop_assert!(is_base || entry.is_some() || lost.is_blank(), "{:?} loses {:?}", d, lost);
        }
    }

    #[test]
    fn observations_are_never_dropped(sightings in stamped_observations()) {
        // Every sighting is logged, or is the current value at the moment it arrives.
        let mut state: Option<Stamped> = None;
        let mut logged = Vec::new();
        for s in sightings {
            let before = state.clone();
            if observe(&mut state, s.clone()).is_logged() {
                logged.push(s);
            } else {
                let cur = &before.as_ref().expect("a Same needs a state").obs;
                prop_assert_eq!(&cur.value, &s.obs.value);
            }
        }
        // And the state is the join of what was logged.
        let mut rebuilt = None;
        for o in logged {
            join(&mut rebuilt, o);
        }
        prop_assert_eq!(state, rebuilt);
    }

    #[test]
    fn decision_is_symmetric(i in input()) {
        let d = i.decide();
        let m = i.mirrored().decide();
        prop_assert_eq!(m.rule, mirror_rule(d.rule));
        prop_assert_eq!(m.winner, d.winner.map(Side::other));
        prop_assert_eq!(m.write, d.write.map(Side::other));
        prop_assert_eq!(m.conflict, d.conflict);
        prop_assert_eq!(m.set_base, d.set_base);
    }

    #[test]
    fn blank_never_overwrites_without_permission(i in input()) {
        let d = i.decide();
        if let (Some(to), Some(from), false) = (d.write, d.winner, i.policy.overwrite_with_blank) {
            prop_assert!(!i.value(from).is_blank() || i.value(to).is_blank());
        }
    }
}
