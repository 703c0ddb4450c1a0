use super::*;
use crate::model::{
    ConflictEntry, ConflictRule, Entity, EntityId, EntityKind, FieldWrite, Patch, PatchOp,
    RecordRef, Rule, Side, SideValue, Value,
};
use chrono::TimeZone;

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
}

fn contact(id: &str) -> RecordRef {
    RecordRef::new(RecordKind::WeavyContact, id)
}

fn sighting(r: &RecordRef, at: i64, email: &str, fields: &[(&str, &str)]) -> Sighting {
    Sighting {
        record: r.clone(),
        modified_at: t(at),
        email: Some(email.to_owned()),
        company_key: None,
        company_name: None,
        company_ref: None,
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), Value::text(*v)))
            .collect(),
    }
}

fn conflict(at: i64, field: &str, rule: ConflictRule) -> ConflictEntry {
    ConflictEntry {
        at: t(at),
        cycle: 1,
        entity: EntityId(7),
        entity_kind: EntityKind::Person,
        field: field.into(),
        rule,
        winner: Some(Side::Mautic),
        weavy: SideValue {
            record: Some(contact("C1")),
            value: Value::text("w"),
            at: Some(t(at - 10)),
        },
        mautic: SideValue {
            record: Some(RecordRef::new(RecordKind::MauticContact, "47")),
            value: Value::text("m"),
            at: Some(t(at - 5)),
        },
        base: Some(Value::text("b")),
        note: String::new(),
    }
}

fn patch(entity: u64, value: &str) -> Patch {
    Patch {
        entity: EntityId(entity),
        record: RecordRef::new(RecordKind::MauticContact, "47"),
        op: PatchOp::Update,
        writes: vec![FieldWrite {
            field: "firstname".into(),
            old: Value::text("Jean"),
            new: Value::text(value),
            rule: Rule::OnlyWeavyChanged,
        }],
        cycle: 1,
        attempts: 0,
    }
}

#[test]
fn every_differing_sighting_is_logged() {
    let s = Store::temporary().unwrap();
    let c1 = contact("C1");
    let st = s
        .ingest(
            1,
            &[sighting(
                &c1,
                10,
                "a@x.fr",
                &[("firstname", "Jean"), ("lastname", "Dupont")],
            )],
        )
        .unwrap();
    assert_eq!((st.new_records, st.observations, st.dirty), (1, 2, 1));
    // A touch without change: no observation, not dirty.
    s.mark_dirty([]).unwrap();
    s.commit(&MergeCommit {
        clean: vec![c1.clone()],
        ..Default::default()
    })
    .unwrap();
    let st = s
        .ingest(
            2,
            &[sighting(
                &c1,
                20,
                "a@x.fr",
                &[("firstname", "Jean"), ("lastname", "Dupont")],
            )],
        )
        .unwrap();
    assert_eq!((st.observations, st.dirty), (0, 0));
    assert_eq!(s.dirty_count(), 0);
    // One change: one observation, dirty, and the state keeps the first-seen time.
    let st = s
        .ingest(
            3,
            &[sighting(
                &c1,
                30,
                "a@x.fr",
                &[("firstname", "Jeanne"), ("lastname", "Dupont")],
            )],
        )
        .unwrap();
    assert_eq!((st.observations, st.dirty), (1, 1));
    let rec = s.record(&c1).unwrap().unwrap();
    assert_eq!(rec.fields["firstname"].value, Value::text("Jeanne"));
    assert_eq!(rec.fields["firstname"].at, t(30));
    assert_eq!(rec.fields["lastname"].at, t(10));
    assert_eq!(rec.modified_at, Some(t(30)));
    let history: Vec<_> = s.observations_of(&c1).map(Result::unwrap).collect();
    assert_eq!(history.len(), 3);
    assert_eq!(
        history.iter().map(|h| h.0.as_str()).collect::<Vec<_>>(),
        ["firstname", "lastname", "firstname"],
        "time order, then field order within a sighting"
    );
    assert_eq!(history[2].1.value, Value::text("Jeanne"));
    assert_eq!(history[2].1.at, t(30));
    assert_eq!(history[2].2, 3, "the cycle that saw it");
    assert_eq!(s.observation_entries(), 2, "one log entry per sighting");
}

#[test]
fn a_record_twice_in_one_page_is_folded_in_order() {
    let s = Store::temporary().unwrap();
    let c1 = contact("C1");
    let st = s
        .ingest(
            1,
            &[
                sighting(&c1, 10, "a@x.fr", &[("firstname", "A")]),
                sighting(&c1, 20, "a@x.fr", &[("firstname", "B")]),
            ],
        )
        .unwrap();
    assert_eq!((st.records, st.new_records, st.observations), (2, 1, 2));
    assert_eq!(
        s.record(&c1).unwrap().unwrap().fields["firstname"].value,
        Value::text("B")
    );
}

#[test]
fn a_re_delivered_page_adds_nothing() {
    let s = Store::temporary().unwrap();
    let page = [sighting(
        &contact("C1"),
        10,
        "a@x.fr",
        &[("firstname", "A")],
    )];
    s.ingest(1, &page).unwrap();
    let before = s.stats();
    let st = s.ingest(2, &page).unwrap();
    assert_eq!(st.observations, 0);
    assert_eq!(s.stats().observation_entries, before.observation_entries);
}

#[test]
fn the_email_index_follows_the_email() {
    let s = Store::temporary().unwrap();
    let c1 = contact("C1");
    let c2 = contact("C2");
    s.ingest(
        1,
        &[
            sighting(&c1, 1, "a@x.fr", &[]),
            sighting(&c2, 1, "a@x.fr", &[]),
        ],
    )
    .unwrap();
    assert_eq!(
        s.records_by_email("a@x.fr").unwrap(),
        vec![c1.clone(), c2.clone()]
    );
    s.ingest(2, &[sighting(&c1, 2, "b@x.fr", &[])]).unwrap();
    assert_eq!(s.records_by_email("a@x.fr").unwrap(), vec![c2]);
    assert_eq!(s.records_by_email("b@x.fr").unwrap(), vec![c1]);
    assert!(
        s.records_by_email("a@x.f").unwrap().is_empty(),
        "no prefix matches"
    );
}

#[test]
fn reopening_after_drop_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let c1 = contact("C1");
    {
        let s = Store::open(&path, &StoreOptions::default()).unwrap();
        let cycle = s.next_cycle().unwrap();
        s.ingest(
            cycle,
            &[sighting(&c1, 10, "a@x.fr", &[("firstname", "Jean")])],
        )
        .unwrap();
        let id = s.new_entity_id().unwrap();
        let mut e = Entity::new(id, EntityKind::Person, cycle);
        e.weavy = Some(c1.clone());
        e.bases.insert("firstname".into(), Value::text("Jean"));
        s.commit(&MergeCommit {
            entities: vec![e],
            patches: vec![patch(id.0, "Jeanne")],
            conflicts: vec![conflict(
                5,
                "firstname",
                ConflictRule::Merge(Rule::NewerWins),
            )],
            clean: vec![c1.clone()],
            ..Default::default()
        })
        .unwrap();
        s.set_cursor(RecordKind::WeavyContact, t(99)).unwrap();
        s.flush().unwrap();
    }
    let s = Store::open(&path, &StoreOptions::default()).unwrap();
    assert_eq!(s.last_cycle().unwrap(), 1);
    assert_eq!(s.next_cycle().unwrap(), 2);
    assert_eq!(
        s.record(&c1).unwrap().unwrap().fields["firstname"].value,
        Value::text("Jean")
    );
    let id = s.entity_of(&c1).unwrap().expect("link kept");
    let e = s.entity(id).unwrap().unwrap();
    assert_eq!(e.bases["firstname"], Value::text("Jean"));
    assert_eq!(s.pending_patches(Side::Mautic, None, 10).unwrap().len(), 1);
    assert_eq!(s.conflict_count(), 1);
    assert_eq!(s.dirty_count(), 0);
    assert_eq!(s.cursor(RecordKind::WeavyContact).unwrap(), Some(t(99)));
    assert_eq!(s.observations_of(&c1).count(), 1);
}

#[test]
fn a_second_opener_gets_a_clear_locked_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let _first = Store::open(&path, &StoreOptions::default()).unwrap();
    let err = Store::open(&path, &StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("in use by another fieldsync process"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let s = Store::open(&path, &StoreOptions::default()).unwrap();
        s.meta
            .insert(META_SCHEMA, &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        s.flush().unwrap();
    }
    let err = Store::open(&path, &StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1));
    assert!(err.to_string().contains("upgrade fieldsync"));
}

#[test]
fn values_of_another_format_are_refused_not_misread() {
    let s = Store::temporary().unwrap();
    let c1 = contact("C1");
    s.ingest(1, &[sighting(&c1, 10, "a@x.fr", &[("firstname", "Jean")])])
        .unwrap();
    let key = keys::record(&c1);
    let mut raw = s.records.get(&key).unwrap().unwrap().to_vec();
    raw[0] = 0;
    s.records.insert(&key, raw.clone()).unwrap();
    let err = s.record(&c1).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::OutdatedFormat {
                what: "record",
                found: 0
            }
        ),
        "{err:?}"
    );
    raw[0] = codec::FORMAT + 1;
    s.records.insert(&key, raw).unwrap();
    let err = s.record(&c1).unwrap_err();
    assert!(matches!(err, StoreError::NewerFormat { .. }), "{err:?}");
    // Ingesting over it fails cleanly rather than overwriting what it cannot read.
    assert!(s.ingest(2, &[sighting(&c1, 20, "a@x.fr", &[])]).is_err());
}

#[test]
fn a_replaced_patch_survives_the_acknowledgement_of_the_old_one() {
    let s = Store::temporary().unwrap();
    let id = s.new_entity_id().unwrap();
    let mut e = Entity::new(id, EntityKind::Person, 1);
    e.mautic = Some(RecordRef::new(RecordKind::MauticContact, "47"));
    let old = patch(id.0, "A");
    s.commit(&MergeCommit {
        entities: vec![e],
        patches: vec![old.clone()],
        ..Default::default()
    })
    .unwrap();
    let newer = patch(id.0, "B");
    s.commit(&MergeCommit {
        patches: vec![newer.clone()],
        ..Default::default()
    })
    .unwrap();
    s.patch_done(&old, None, &[("firstname".into(), Value::text("A"))])
        .unwrap();
    assert_eq!(
        s.pending_patch(RecordKind::MauticContact, id).unwrap(),
        Some(newer.clone()),
        "the newer patch is still pending"
    );
    assert_eq!(
        s.entity(id).unwrap().unwrap().bases["firstname"],
        Value::text("A")
    );
    s.patch_retry(&newer).unwrap();
    assert_eq!(
        s.pending_patch(RecordKind::MauticContact, id)
            .unwrap()
            .unwrap()
            .attempts,
        1
    );
    let retried = s
        .pending_patch(RecordKind::MauticContact, id)
        .unwrap()
        .unwrap();
    s.patch_dropped(
        &retried,
        &[conflict(1, "firstname", ConflictRule::RejectedWrite)],
    )
    .unwrap();
    assert_eq!(s.outbox_len(), 0);
    assert_eq!(s.conflict_count(), 1);
}

#[test]
fn a_batch_of_acknowledgements_is_one_transaction_with_its_conflicts() {
    let s = Store::temporary().unwrap();
    let mut sent = Vec::new();
    let mut entities = Vec::new();
    for _ in 0..3 {
        let id = s.new_entity_id().unwrap();
        let mut e = Entity::new(id, EntityKind::Person, 1);
        e.weavy = Some(contact(&format!("C{}", id.0)));
        entities.push(e);
        let mut p = patch(id.0, "A");
        p.op = PatchOp::Insert;
        p.record = RecordRef::new(RecordKind::MauticContact, "");
        sent.push(p);
    }
    s.commit(&MergeCommit {
        entities: entities.clone(),
        patches: sent.clone(),
        ..Default::default()
    })
    .unwrap();
    let created: Vec<RecordRef> = (0..3)
        .map(|i| RecordRef::new(RecordKind::MauticContact, format!("{}", 100 + i)))
        .collect();
    let bases = [("firstname".to_owned(), Value::text("A"))];
    let acks: Vec<Ack<'_>> = sent
        .iter()
        .zip(&created)
        .map(|(p, r)| Ack {
            sent: p,
            new_record: Some(r),
            bases: &bases,
        })
        .collect();
    s.patches_done(&acks, &[conflict(1, "phone", ConflictRule::RejectedWrite)])
        .unwrap();
    assert_eq!(s.outbox_len(), 0);
    assert_eq!(s.conflict_count(), 1);
    for (e, r) in entities.iter().zip(&created) {
        let stored = s.entity(e.id).unwrap().unwrap();
        assert_eq!(stored.mautic.as_ref(), Some(r));
        assert_eq!(stored.bases["firstname"], Value::text("A"));
        assert_eq!(s.entity_of(r).unwrap(), Some(e.id));
    }
}

#[test]
fn pending_patches_page_through_one_side() {
    let s = Store::temporary().unwrap();
    let patches: Vec<Patch> = (1..=5).map(|i| patch(i, "x")).collect();
    let mut weavy = patch(9, "w");
    weavy.record = contact("C9");
    s.commit(&MergeCommit {
        patches: patches.iter().cloned().chain([weavy]).collect(),
        ..Default::default()
    })
    .unwrap();
    let first = s.pending_patches(Side::Mautic, None, 2).unwrap();
    assert_eq!(first.iter().map(|p| p.entity.0).collect::<Vec<_>>(), [1, 2]);
    let last = first.last().map(|p| (p.record.kind, p.entity));
    let next = s.pending_patches(Side::Mautic, last, 10).unwrap();
    assert_eq!(
        next.iter().map(|p| p.entity.0).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert_eq!(s.pending_patches(Side::Weavy, None, 10).unwrap().len(), 1);
}

/// A decision made again (after a kill, at a later time and in another cycle) is logged
/// once, whether it comes through a merge commit, an acknowledgement or an append; a decision
/// that differs in anything but its time and cycle is logged.
#[test]
fn a_decision_made_again_is_logged_once() {
    let s = Store::temporary().unwrap();
    let first = conflict(10, "firstname", ConflictRule::Merge(Rule::NewerWins));
    let mut again = first.clone();
    again.at = t(99);
    again.cycle = 4;
    s.commit(&MergeCommit {
        conflicts: vec![first.clone()],
        ..Default::default()
    })
    .unwrap();
    s.commit(&MergeCommit {
        conflicts: vec![again.clone(), again.clone()],
        ..Default::default()
    })
    .unwrap();
    s.append_conflicts(&[again.clone()]).unwrap();
    assert_eq!(s.conflict_count(), 1);
    let mut other = again.clone();
    other.mautic.value = Value::text("m2");
    let mut later_change = again.clone();
    later_change.weavy.at = Some(t(50));
    s.append_conflicts(&[other, later_change]).unwrap();
    assert_eq!(s.conflict_count(), 3);
    // The entry kept is the first one written.
    let kept: Vec<_> = s
        .conflicts(&ConflictFilter::default())
        .map(Result::unwrap)
        .collect();
    assert_eq!(kept[0], first);
}

#[test]
fn conflicts_filter_by_time_field_rule_and_table() {
    let s = Store::temporary().unwrap();
    s.append_conflicts(&[
        conflict(10, "firstname", ConflictRule::Merge(Rule::NewerWins)),
        conflict(20, "lastname", ConflictRule::Merge(Rule::BlankKept)),
        conflict(30, "firstname", ConflictRule::Merge(Rule::TiePreferredSide)),
    ])
    .unwrap();
    let read = |f: ConflictFilter| -> Vec<i64> {
        s.conflicts(&f)
            .map(|e| e.unwrap().at.timestamp() - 1_700_000_000)
            .collect()
    };
    assert_eq!(read(ConflictFilter::default()), [10, 20, 30]);
    assert_eq!(
        read(ConflictFilter {
            from: Some(t(20)),
            ..Default::default()
        }),
        [20, 30]
    );
    assert_eq!(
        read(ConflictFilter {
            to: Some(t(20)),
            ..Default::default()
        }),
        [10]
    );
    assert_eq!(
        read(ConflictFilter {
            field: Some("firstname".into()),
            ..Default::default()
        }),
        [10, 30]
    );
    assert_eq!(
        read(ConflictFilter {
            rule: Some(ConflictRule::Merge(Rule::BlankKept)),
            ..Default::default()
        }),
        [20]
    );
    assert_eq!(
        read(ConflictFilter {
            record_kind: Some(RecordKind::WeavyEntrant),
            ..Default::default()
        }),
        Vec::<i64>::new()
    );
    let e = s
        .conflicts(&ConflictFilter::default())
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        e,
        conflict(10, "firstname", ConflictRule::Merge(Rule::NewerWins))
    );
}

#[cfg(unix)]
#[test]
fn the_database_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let _s = Store::open(&path, &StoreOptions::default()).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

#[test]
fn a_sighting_that_changes_nothing_is_not_stored_again() {
    let s = Store::temporary().unwrap();
    let c1 = contact("C1");
    let seen = |at, name| sighting(&c1, at, "a@x.fr", &[("firstname", name)]);
    s.ingest(1, &[seen(10, "Jean")]).unwrap();
    // Read again (the overlap window, or back after a write): the state stays as cycle 1 left it.
    s.ingest(2, &[seen(10, "Jean")]).unwrap();
    assert_eq!(s.record(&c1).unwrap().unwrap().last_cycle, 1);
    // A newer modification time alone is stored (identity reads it), though nothing is dirty.
    s.commit(&MergeCommit {
        clean: vec![c1.clone()],
        ..Default::default()
    })
    .unwrap();
    let st = s.ingest(3, &[seen(30, "Jean")]).unwrap();
    assert_eq!(st.dirty, 0);
    let state = s.record(&c1).unwrap().unwrap();
    assert_eq!((state.last_cycle, state.modified_at), (3, Some(t(30))));
    // A change is stored, and makes the record dirty.
    let st = s.ingest(4, &[seen(40, "Jeanne")]).unwrap();
    assert_eq!(st.dirty, 1);
    let state = s.record(&c1).unwrap().unwrap();
    assert_eq!(state.last_cycle, 4);
    assert_eq!(state.fields["firstname"].value, Value::text("Jeanne"));
}

/// A database an older fieldsync wrote (format 1: field names in the values) is read, and what
/// is written over it takes numbers from the dictionary, also inside a transaction, where a
/// name cannot get a number (the acknowledgement, a record marked gone).
#[test]
fn values_of_format_1_are_read_and_rewritten_with_numbers() {
    let s = Store::temporary().unwrap();
    let c1 = contact("C1");
    let id = EntityId(41);
    let old_entity = codec::StoredEntity {
        kind: 1,
        weavy: Some(codec::StoredRef::from(&c1)),
        mautic: None,
        bases: vec![("legacy_base".into(), codec::StoredValue::Text("B".into()))],
        created_cycle: 1,
    };
    let old_record = codec::StoredRecord {
        modified_at: Some(codec::micros(t(5))),
        last_cycle: 1,
        email: Some("a@x.fr".into()),
        fields: vec![codec::StoredField {
            name: "legacy_field".into(),
            value: codec::StoredValue::Text("F".into()),
            at: codec::micros(t(5)),
            seq: 9,
        }],
        ..Default::default()
    };
    s.entities
        .insert(keys::entity(id), codec::encode_entity_format_1(&old_entity))
        .unwrap();
    s.records
        .insert(
            keys::record(&c1),
            codec::encode_record_format_1(&old_record),
        )
        .unwrap();

    let e = s.entity(id).unwrap().unwrap();
    assert_eq!(e.bases.get("legacy_base"), Some(&Value::text("B")));
    let r = s.record(&c1).unwrap().unwrap();
    assert_eq!(
        r.fields.get("legacy_field").unwrap().value,
        Value::text("F")
    );

    let patch = Patch {
        entity: id,
        record: c1.clone(),
        op: PatchOp::Update,
        writes: vec![],
        cycle: 2,
        attempts: 0,
    };
    s.patch_done(&patch, None, &[("firstname".into(), Value::text("A"))])
        .unwrap();
    s.mark_gone(&c1).unwrap();

    let raw = s.entities.get(keys::entity(id)).unwrap().unwrap();
    assert_eq!(raw[0], codec::FORMAT);
    let e = s.entity(id).unwrap().unwrap();
    assert_eq!(e.bases.get("legacy_base"), Some(&Value::text("B")));
    assert_eq!(e.bases.get("firstname"), Some(&Value::text("A")));
    let raw = s.records.get(keys::record(&c1)).unwrap().unwrap();
    assert_eq!(raw[0], codec::FORMAT);
    let r = s.record(&c1).unwrap().unwrap();
    assert!(r.gone);
    assert_eq!(
        r.fields.get("legacy_field").unwrap().value,
        Value::text("F")
    );
    assert_eq!(s.fields.len(), 3);
}

/// A field dictionary that cannot be read whole makes the database damaged: it does not open to
/// sync, and it still opens to salvage its conflict log and what its readable names name.
#[test]
fn a_damaged_field_dictionary_is_damage_that_can_be_salvaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let c1 = contact("C1");
    {
        let s = Store::open(&path, &StoreOptions::default()).unwrap();
        s.ingest(1, &[sighting(&c1, 10, "a@x.fr", &[("firstname", "Jean")])])
            .unwrap();
        s.append_conflicts(&[conflict(
            5,
            "firstname",
            ConflictRule::Merge(Rule::NewerWins),
        )])
        .unwrap();
        // A number the dictionary never gave: the entry before it is lost.
        let mut key = b"field/".to_vec();
        key.extend_from_slice(&5u32.to_be_bytes());
        s.meta.insert(key, codec::encode(&"phone")).unwrap();
        s.flush().unwrap();
    }
    let err = Store::open(&path, &StoreOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Damaged { detail, .. } if detail.contains("field dictionary")),
        "{err:?}"
    );
    let (s, damage) = Store::open_to_salvage(&path, &StoreOptions::default()).unwrap();
    assert!(matches!(damage, Some(StoreError::Damaged { .. })));
    assert_eq!(s.conflicts(&ConflictFilter::default()).count(), 1);
    let r = s.record(&c1).unwrap().unwrap();
    assert_eq!(
        r.fields.get("firstname").unwrap().value,
        Value::text("Jean")
    );
}
