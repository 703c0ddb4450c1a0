//! Pairing records across the sides. Identity is decided per group: every record sharing one
//! normalised e-mail (people) or one company key (companies), with the entities already linked
//! to any of them. Deciding per group, not per record, is what makes the outcome independent
//! of the order in which records were pulled.
//!
//! The rules, in order:
//! 1. Links are sticky: an entity keeps its records (links, not e-mails, identify a pair).
//! 2. Lead conversion: an entity whose weavy record is an Entrant, in a group that holds a free
//!    weavy Contact, is re-linked to that Contact; the Entrant is left alone.
//! 3. An entity missing one side takes the group's free record of that side, if any.
//! 4. With no entity in the group, the free records form one: on weavy a Contact before an
//!    Entrant; among several, the most recently modified, then the smallest id.
//! 5. Every other free record is a duplicate: reported, never written, never linked.
//!
//! A side with no record in the resulting entity gets one inserted by the sync layer (a weavy
//! Entrant with id `wm-<mautic id>`, a Mautic contact, a company on either side).

use crate::model::{EntityId, RecordKind, RecordRef, Side};
use chrono::{DateTime, Utc};
use std::cmp::Ordering;

/// A record of an identity group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub record: RecordRef,
    /// The side's modification time, for the duplicate rule.
    pub modified_at: Option<DateTime<Utc>>,
    /// The entity it is linked to, if any.
    pub entity: Option<EntityId>,
}

/// An entity linked to a member of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntity {
    pub id: EntityId,
    pub weavy: Option<RecordRef>,
    pub mautic: Option<RecordRef>,
}

/// What to do for a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAction {
    /// Attach a free record to an entity that has no record on that side.
    Link { entity: EntityId, record: RecordRef },
    /// Replace an entity's weavy Entrant by the Contact it was converted into.
    Relink {
        entity: EntityId,
        from: RecordRef,
        to: RecordRef,
    },
    /// A new entity from free records (one of them may be missing: it will be inserted).
    New {
        weavy: Option<RecordRef>,
        mautic: Option<RecordRef>,
    },
    /// A record left alone because another one of its side holds the key.
    Duplicate { record: RecordRef, kept: RecordRef },
}

/// A record competing for a group, for [`pick`].
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub record: &'a RecordRef,
    pub modified_at: Option<DateTime<Utc>>,
}

/// Ids compare as numbers when both are numbers (Mautic: "9" before "10"), else as text.
fn cmp_ids(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// The duplicate rule: the most recently modified, then the smallest id. Returns its index.
pub fn pick(candidates: &[Candidate<'_>]) -> Option<usize> {
    (0..candidates.len()).min_by(|&i, &j| {
        let (a, b) = (&candidates[i], &candidates[j]);
        b.modified_at
            .cmp(&a.modified_at)
            .then_with(|| cmp_ids(&a.record.id, &b.record.id))
    })
}

/// weavy Contacts (and customers) rank before Entrants.
fn weavy_rank(kind: RecordKind) -> u8 {
    match kind {
        RecordKind::WeavyEntrant => 1,
        _ => 0,
    }
}

/// Picks the record a side keeps among free members: on weavy the best rank first.
fn choose<'a>(free: &[&'a Member]) -> Option<&'a Member> {
    let best_rank = free.iter().map(|m| weavy_rank(m.record.kind)).min()?;
    let pool: Vec<&Member> = free
        .iter()
        .copied()
        .filter(|m| weavy_rank(m.record.kind) == best_rank)
        .collect();
    let cands: Vec<Candidate<'_>> = pool
        .iter()
        .map(|m| Candidate {
            record: &m.record,
            modified_at: m.modified_at,
        })
        .collect();
    pick(&cands).map(|i| pool[i])
}

/// Decides a group. `entities` are the entities linked to members of the group (each once).
pub fn plan_group(members: &[Member], entities: &[GroupEntity]) -> Vec<GroupAction> {
    let mut actions = Vec::new();
    let mut entities: Vec<GroupEntity> = entities.to_vec();
    entities.sort_by_key(|e| e.id);
    let mut free: Vec<&Member> = members.iter().filter(|m| m.entity.is_none()).collect();
    free.sort_by(|a, b| a.record.cmp(&b.record));
    let take = |free: &mut Vec<&Member>, chosen: &Member| {
        free.retain(|m| m.record != chosen.record);
    };

    // Rule 2: lead conversion.
    for e in &mut entities {
        let Some(from) = e.weavy.clone() else {
            continue;
        };
        if from.kind != RecordKind::WeavyEntrant {
            continue;
        }
        let contacts: Vec<&Member> = free
            .iter()
            .copied()
            .filter(|m| m.record.kind == RecordKind::WeavyContact)
            .collect();
        if let Some(to) = choose(&contacts) {
            actions.push(GroupAction::Relink {
                entity: e.id,
                from: from.clone(),
                to: to.record.clone(),
            });
            e.weavy = Some(to.record.clone());
            take(&mut free, to);
        }
    }

    // Rule 3: an entity missing a side takes the free record of that side.
    for e in &mut entities {
        for side in Side::BOTH {
            let slot = match side {
                Side::Weavy => &mut e.weavy,
                Side::Mautic => &mut e.mautic,
            };
            if slot.is_some() {
                continue;
            }
            let of_side: Vec<&Member> = free
                .iter()
                .copied()
                .filter(|m| m.record.side() == side)
                .collect();
            if let Some(m) = choose(&of_side) {
                actions.push(GroupAction::Link {
                    entity: e.id,
                    record: m.record.clone(),
                });
                *slot = Some(m.record.clone());
                take(&mut free, m);
            }
        }
    }

    // Rule 4: no entity yet: the free records form one.
    if entities.is_empty() && !free.is_empty() {
        let of = |side: Side, free: &[&Member]| -> Option<RecordRef> {
            let pool: Vec<&Member> = free
                .iter()
                .copied()
                .filter(|m| m.record.side() == side)
                .collect();
            choose(&pool).map(|m| m.record.clone())
        };
        let weavy = of(Side::Weavy, &free);
        let mautic = of(Side::Mautic, &free);
        free.retain(|m| Some(&m.record) != weavy.as_ref() && Some(&m.record) != mautic.as_ref());
        entities.push(GroupEntity {
            id: EntityId(0),
            weavy: weavy.clone(),
            mautic: mautic.clone(),
        });
        actions.push(GroupAction::New { weavy, mautic });
    }

    // Rule 5: the rest are duplicates of the record their side kept.
    for m in free {
        let side = m.record.side();
        let kept = entities.iter().find_map(|e| match side {
            Side::Weavy => e.weavy.clone(),
            Side::Mautic => e.mautic.clone(),
        });
        if let Some(kept) = kept {
            actions.push(GroupAction::Duplicate {
                record: m.record.clone(),
                kept,
            });
        }
    }
    actions
}

/// The e-mail collision guard: before writing an e-mail to the Mautic contact `target`, the
/// other Mautic contacts known to hold it. Mautic would merge and delete one of them, so a
/// non-empty answer refuses the write.
pub fn email_collisions<'a>(target: &RecordRef, holders: &'a [RecordRef]) -> Vec<&'a RecordRef> {
    holders
        .iter()
        .filter(|h| h.kind == RecordKind::MauticContact && h.id != target.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn m(kind: RecordKind, id: &str, t: i64, entity: Option<u64>) -> Member {
        Member {
            record: RecordRef::new(kind, id),
            modified_at: Some(Utc.timestamp_opt(t, 0).unwrap()),
            entity: entity.map(EntityId),
        }
    }

    fn r(kind: RecordKind, id: &str) -> RecordRef {
        RecordRef::new(kind, id)
    }

    use RecordKind::{MauticContact as MC, WeavyContact as WC, WeavyEntrant as WE};

    #[test]
    fn the_duplicate_rule_is_newest_then_smallest_id() {
        let a = r(MC, "10");
        let b = r(MC, "9");
        let c = r(MC, "11");
        let t = |s| Some(Utc.timestamp_opt(s, 0).unwrap());
        let cands = [
            Candidate {
                record: &a,
                modified_at: t(5),
            },
            Candidate {
                record: &b,
                modified_at: t(5),
            },
            Candidate {
                record: &c,
                modified_at: t(1),
            },
        ];
        assert_eq!(pick(&cands), Some(1), "same time: id 9 before 10 (numeric)");
    }

    #[test]
    fn a_mautic_contact_pairs_with_a_contact_before_an_entrant() {
        let members = [
            m(MC, "47", 1, None),
            m(WE, "L1", 9, None),
            m(WC, "C1", 1, None),
        ];
        let plan = plan_group(&members, &[]);
        assert_eq!(
            plan,
            [
                GroupAction::New {
                    weavy: Some(r(WC, "C1")),
                    mautic: Some(r(MC, "47"))
                },
                GroupAction::Duplicate {
                    record: r(WE, "L1"),
                    kept: r(WC, "C1")
                },
            ]
        );
    }

    #[test]
    fn three_contacts_one_email_one_is_chosen_always_the_same() {
        let members = vec![
            m(WC, "C2", 5, None),
            m(WC, "C1", 5, None),
            m(WC, "C3", 7, None),
            m(MC, "47", 1, None),
        ];
        let plan = plan_group(&members, &[]);
        assert_eq!(
            plan[0],
            GroupAction::New {
                weavy: Some(r(WC, "C3")),
                mautic: Some(r(MC, "47"))
            }
        );
        let dups: Vec<_> = plan[1..].to_vec();
        assert_eq!(dups.len(), 2);
        // The same in any order of members.
        let mut rev = members.clone();
        rev.reverse();
        assert_eq!(plan_group(&rev, &[]), plan);
    }

    #[test]
    fn an_existing_link_always_wins() {
        // C1 is linked; a newer C2 appears with the same e-mail: it is a duplicate.
        let members = [
            m(WC, "C1", 1, Some(1)),
            m(MC, "47", 1, Some(1)),
            m(WC, "C2", 99, None),
        ];
        let entities = [GroupEntity {
            id: EntityId(1),
            weavy: Some(r(WC, "C1")),
            mautic: Some(r(MC, "47")),
        }];
        assert_eq!(
            plan_group(&members, &entities),
            [GroupAction::Duplicate {
                record: r(WC, "C2"),
                kept: r(WC, "C1")
            }]
        );
    }

    #[test]
    fn a_converted_lead_is_relinked_to_its_contact() {
        let members = [
            m(WE, "wm-47", 1, Some(1)),
            m(MC, "47", 1, Some(1)),
            m(WC, "C9", 5, None),
        ];
        let entities = [GroupEntity {
            id: EntityId(1),
            weavy: Some(r(WE, "wm-47")),
            mautic: Some(r(MC, "47")),
        }];
        assert_eq!(
            plan_group(&members, &entities),
            [GroupAction::Relink {
                entity: EntityId(1),
                from: r(WE, "wm-47"),
                to: r(WC, "C9")
            }]
        );
    }

    #[test]
    fn an_entity_missing_a_side_takes_the_free_record() {
        // The Entrant fieldsync inserted for Mautic contact 47 comes back in a pull.
        let members = [m(MC, "47", 1, Some(1)), m(WE, "wm-47", 2, None)];
        let entities = [GroupEntity {
            id: EntityId(1),
            weavy: None,
            mautic: Some(r(MC, "47")),
        }];
        assert_eq!(
            plan_group(&members, &entities),
            [GroupAction::Link {
                entity: EntityId(1),
                record: r(WE, "wm-47")
            }]
        );
    }

    #[test]
    fn a_lone_record_forms_an_entity_to_be_completed_by_an_insert() {
        assert_eq!(
            plan_group(&[m(MC, "47", 1, None)], &[]),
            [GroupAction::New {
                weavy: None,
                mautic: Some(r(MC, "47"))
            }]
        );
    }

    #[test]
    fn collisions_are_other_mautic_contacts() {
        let holders = [r(MC, "47"), r(MC, "48"), r(WC, "C1")];
        assert_eq!(email_collisions(&r(MC, "47"), &holders), [&r(MC, "48")]);
        assert!(email_collisions(&r(MC, "47"), &holders[..1]).is_empty());
    }
}
