//! The state's rules, without HTTP. What Mautic's own functional tests assert over HTTP is in
//! `tests/mautic_contract.rs`.

use super::*;
use serde_json::json;

fn params(v: Json) -> Map<String, Json> {
    v.as_object().unwrap().clone()
}

fn t(s: &str) -> DateTime<Utc> {
    super::super::query::parse_sql_time(s).unwrap()
}

fn v5() -> State {
    State::new(MauticProfile::V5, false)
}

#[test]
fn contact_blanks_and_zeros_follow_mautic_5_and_the_newer_profile() {
    for profile in MauticProfile::ALL {
        let mut s = State::new(profile, false);
        let now = t("2024-05-01 10:00:00");
        let (code, id) = s
            .api_new_contact(
                &params(json!({"email": "a@b.fr", "city": "Lyon", "attribution": 5, "nope": 1})),
                now,
                false,
            )
            .unwrap();
        assert_eq!(code, 201);
        s.api_edit_contact(
            id,
            &params(json!({"city": "", "attribution": 0, "zipcode": "00000"})),
            Method::Patch,
            now,
            false,
        )
        .unwrap();
        let c = &s.contacts[&id];
        assert_eq!(c.fields["city"], json!("Lyon"), "blank ignored");
        assert!(!c.fields.contains_key("nope"), "unknown alias ignored");
        if profile.drops_zeros() {
            assert_eq!(
                c.fields["attribution"],
                json!(5.0),
                "{profile:?}: zero dropped"
            );
            assert!(
                !c.fields.contains_key("zipcode"),
                "a text that reads as 0 is dropped too"
            );
        } else {
            assert_eq!(
                c.fields["attribution"],
                json!(0.0),
                "{profile:?}: zero kept"
            );
        }
        s.api_edit_contact(
            id,
            &params(json!({"city": "", "overwriteWithBlank": true})),
            Method::Patch,
            now,
            false,
        )
        .unwrap();
        assert!(!s.contacts[&id].fields.contains_key("city"));
        s.api_edit_contact(
            id,
            &params(json!({"firstname": "Jo"})),
            Method::Put,
            now,
            false,
        )
        .unwrap();
        assert!(
            !s.contacts[&id].fields.contains_key("email"),
            "PUT clears what it does not send"
        );
    }
}

#[test]
fn company_blanks_always_overwrite_and_zeros_are_kept() {
    let mut s = v5();
    let now = t("2024-05-01 10:00:00");
    let (_, id) = s
        .api_batch_new_company(
            &params(json!({"companyname": "Acme", "companycity": "Lyon", "companynumber_of_employees": 12})),
            now,
        )
        .unwrap();
    s.api_edit_company(
        id,
        &params(json!({"companycity": "", "companynumber_of_employees": 0})),
        Method::Patch,
        now,
    )
    .unwrap();
    let c = &s.companies[&id];
    assert!(!c.fields.contains_key("companycity"), "blank overwrote");
    assert_eq!(
        c.fields["companynumber_of_employees"],
        json!(0),
        "zero kept"
    );
    let e = s
        .api_edit_company(id, &params(json!({"companyname": ""})), Method::Patch, now)
        .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (400, "companyname: This field is required.")
    );
}

#[test]
fn a_new_contact_with_a_known_email_updates_it_and_two_holders_refuse() {
    let mut s = State::new(MauticProfile::V5, true);
    let now = t("2024-05-01 10:00:00");
    let (c1, a) = s
        .api_new_contact(&params(json!({"email": "A@b.fr"})), now, false)
        .unwrap();
    assert_eq!(s.contacts[&a].date_modified, None, "5.x: NULL on create");
    let (c2, b) = s
        .api_new_contact(
            &params(json!({"email": "a@B.fr ", "city": "Nice"})),
            now,
            false,
        )
        .unwrap();
    assert_eq!((c1, c2), (201, 200));
    assert_eq!(a, b);
    assert_eq!(s.created_per_email["a@b.fr"], 1);
    assert_eq!(s.contacts[&a].date_modified, Some(now));
    // A user makes a second contact with the same e-mail: the API can no longer tell.
    s.user_add_contact(&params(json!({"email": "a@b.fr"})), now);
    let e = s
        .api_new_contact(&params(json!({"email": "a@b.fr"})), now, false)
        .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (422, "email: This field must be unique.")
    );
}

#[test]
fn an_edit_to_another_contacts_email_is_refused_not_merged() {
    let mut s = v5();
    let now = t("2024-05-01 10:00:00");
    let (_, a) = s
        .api_new_contact(&params(json!({"email": "a@x.fr"})), now, false)
        .unwrap();
    let (_, b) = s
        .api_new_contact(&params(json!({"email": "b@x.fr"})), now, false)
        .unwrap();
    let e = s
        .api_edit_contact(
            a,
            &params(json!({"email": "B@x.fr"})),
            Method::Patch,
            now,
            false,
        )
        .unwrap_err();
    assert_eq!(e.code, 422);
    assert_eq!(e.details["email"], json!(["This field must be unique."]));
    assert!(s.contacts.contains_key(&b) && s.deleted.is_empty());
}

/// With the phone a unique identifier too, a new contact whose phone another contact holds
/// updates that contact, e-mail included: "the same" contact for Mautic, the wrong one for
/// the client (`checkForDuplicateContact`, OR).
#[test]
fn a_shared_phone_makes_a_new_contact_update_another() {
    let mut s = v5();
    assert!(s.set_unique(Object::Contact, "phone", true));
    let now = t("2024-05-01 10:00:00");
    let (_, a) = s
        .api_new_contact(
            &params(json!({"email": "a@x.fr", "phone": "0102030405"})),
            now,
            false,
        )
        .unwrap();
    let (code, b) = s
        .api_new_contact(
            &params(json!({"email": "b@x.fr", "phone": "0102030405"})),
            now,
            false,
        )
        .unwrap();
    assert_eq!((code, b), (200, a));
    assert_eq!(s.contacts[&a].fields["email"], json!("b@x.fr"));
    s.contact_operator = UniqueOperator::And;
    let (code, c) = s
        .api_new_contact(
            &params(json!({"email": "c@x.fr", "phone": "0102030405"})),
            now,
            false,
        )
        .unwrap();
    assert_eq!(code, 201, "AND: both must match");
    assert_ne!(c, a);
}

#[test]
fn a_merged_away_id_names_the_winner_for_single_edits_and_newer_batches() {
    for profile in MauticProfile::ALL {
        let mut s = State::new(profile, false);
        let old = t("2024-01-01 00:00:00");
        let now = t("2024-05-01 10:00:00");
        let a = s.user_add_contact(&params(json!({"email": "a@x.fr", "firstname": "A"})), old);
        let b = s.user_add_contact(
            &params(json!({"email": "b@x.fr", "city": "Lyon", "firstname": "B"})),
            now,
        );
        assert!(s.merge_contacts(a, b, now));
        assert_eq!(s.deleted, vec![b]);
        let w = &s.contacts[&a];
        assert_eq!(w.fields["city"], json!("Lyon"));
        assert_eq!(w.fields["firstname"], json!("B"), "the newest value wins");
        assert_eq!(s.resolve_contact(b), Some(a));
        let single = s
            .api_edit_contact(
                b,
                &params(json!({"city": "Nice"})),
                Method::Patch,
                now,
                false,
            )
            .unwrap();
        assert_eq!(single, (200, a));
        let batch = s.api_edit_contact(
            b,
            &params(json!({"city": "Caen"})),
            Method::Patch,
            now,
            true,
        );
        if profile.batch_edit_follows_merges() {
            assert_eq!(batch.unwrap(), (200, a));
        } else {
            assert_eq!(batch.unwrap_err().code, 404);
        }
    }
}

/// The indexes answer what a scan of every record would.
#[test]
fn the_email_and_name_indexes_follow_every_change() {
    let mut s = v5();
    let now = t("2024-05-01 10:00:00");
    let scan = |s: &State, e: &str, except: Option<u64>| {
        s.contacts
            .values()
            .find(|c| {
                Some(c.id) != except
                    && c.fields
                        .get("email")
                        .and_then(Json::as_str)
                        .is_some_and(|x| x.trim().to_lowercase() == e)
            })
            .map(|c| c.id)
    };
    let a = s.user_add_contact(&params(json!({"email": "A@x.fr"})), now);
    let b = s.user_add_contact(&params(json!({"email": " a@x.fr"})), now);
    let (_, c) = s
        .api_new_contact(&params(json!({"email": "c@x.fr"})), now, false)
        .unwrap();
    s.user_edit_contact(a, &params(json!({"email": "d@x.fr"})), now);
    s.api_edit_contact(b, &params(json!({"email": ""})), Method::Put, now, false)
        .unwrap();
    s.user_edit_contact(b, &params(json!({"email": "c@x.fr"})), now);
    s.user_edit_contact(c, &params(json!({"email": "e@x.fr"})), now);
    for e in ["a@x.fr", "c@x.fr", "d@x.fr", "e@x.fr"] {
        for except in [None, Some(a), Some(b), Some(c)] {
            assert_eq!(
                s.contact_by_email(e, except),
                scan(&s, e, except),
                "{e} {except:?}"
            );
        }
    }
    let k1 = s.user_add_company(&params(json!({"companyname": "Acme"})), now);
    let (_, k2) = s
        .api_new_company(&params(json!({"companyname": "Bolt", "force": 1})), now)
        .unwrap();
    let e = s
        .api_edit_company(
            k1,
            &params(json!({"companyname": "bolt "})),
            Method::Patch,
            now,
        )
        .unwrap_err();
    assert_eq!(e.code, 422, "a taken name is refused");
    assert_eq!(s.company_by_name("BOLT"), Some(k2));
    assert_eq!(s.company_by_name("acme"), Some(k1));
    let (code, k) = s
        .api_new_company(&params(json!({"companyname": "Bolt"})), now)
        .unwrap();
    assert_eq!((code, k), (200, k2));
}

#[test]
fn do_not_contact_entries_and_the_dates_they_move() {
    let mut s = v5();
    let old = t("2024-01-01 00:00:00");
    let now = t("2024-05-01 10:00:00");
    let id = s.user_add_contact(&params(json!({"email": "a@b.fr"})), old);
    assert!(s.add_dnc(id, "email", 1, "", now).unwrap());
    assert!(!s.add_dnc(id, "email", 2, "", now).unwrap());
    assert_eq!(s.contacts[&id].dnc[0].reason, 1, "an unsubscribe stays");
    let id2 = s.user_add_contact(&params(json!({"email": "c@b.fr"})), old);
    s.add_dnc(id2, "email", 3, "", now).unwrap();
    let later = t("2024-06-01 10:00:00");
    assert!(!s.add_dnc(id2, "email", 3, "", later).unwrap());
    assert_eq!(s.contacts[&id2].date_modified, Some(now), "nothing changed");
    s.add_dnc(id2, "email", 2, "", later).unwrap();
    assert_eq!(s.contacts[&id2].dnc[0].reason, 2);
    assert_eq!(s.contacts[&id2].dnc.len(), 1);
    assert_eq!(s.contacts[&id2].date_modified, Some(later));
    // Remove takes the first entry whatever its reason: an unsubscribe too.
    assert!(s.remove_dnc(id, "email", later).unwrap());
    assert!(s.contacts[&id].dnc.is_empty());
    assert!(!s.remove_dnc(id, "email", later).unwrap());
}

#[test]
fn a_new_link_becomes_primary_and_an_existing_one_is_left_alone() {
    let mut s = v5();
    let old = t("2024-01-01 00:00:00");
    let now = t("2024-05-01 10:00:00");
    let c = s.user_add_contact(&params(json!({"email": "a@b.fr"})), old);
    let k1 = s.user_add_company(&params(json!({"companyname": "Acme"})), old);
    let k2 = s.user_add_company(&params(json!({"companyname": "Bolt"})), old);
    s.link(c, k1, now).unwrap();
    s.link(c, k2, now).unwrap();
    let contact = &s.contacts[&c];
    assert_eq!(contact.fields["company"], json!("Bolt"));
    assert!(!contact.companies[0].primary && contact.companies[1].primary);
    // Re-adding the first changes nothing: it stays secondary.
    s.link(c, k1, t("2024-06-01 00:00:00")).unwrap();
    assert_eq!(s.contacts[&c].fields["company"], json!("Bolt"));
    assert_eq!(s.contacts[&c].date_modified, Some(now));
    // Removed and added again, it is primary.
    s.unlink(c, k1, now).unwrap();
    s.link(c, k1, now).unwrap();
    assert_eq!(s.contacts[&c].fields["company"], json!("Acme"));
    assert_eq!(s.link(c, 99, now).unwrap_err().code, 404);
    // Removing the primary link promotes the next one.
    s.unlink(c, k1, now).unwrap();
    assert_eq!(s.contacts[&c].fields["company"], json!("Bolt"));
    assert!(s.contacts[&c].companies[0].primary);
}

#[test]
fn a_contacts_company_text_finds_or_creates_the_company() {
    let mut s = v5();
    let now = t("2024-05-01 10:00:00");
    let acme = s.user_add_company(&params(json!({"companyname": "Acme"})), now);
    let (_, c) = s
        .api_new_contact(
            &params(json!({"email": "a@b.fr", "company": "acme"})),
            now,
            false,
        )
        .unwrap();
    assert_eq!(
        s.contacts[&c].fields["company"],
        json!("Acme"),
        "the stored name"
    );
    assert_eq!(s.contacts[&c].companies[0].company, acme);
    s.api_edit_contact(
        c,
        &params(json!({"company": "Zenith"})),
        Method::Patch,
        now,
        false,
    )
    .unwrap();
    let zenith = s.company_by_name("zenith").expect("created");
    assert_eq!(s.created_per_company_name["zenith"], 1);
    let links = &s.contacts[&c].companies;
    assert_eq!(links.len(), 2);
    assert!(links.iter().any(|l| l.company == zenith && l.primary));
    // The same text again does nothing.
    s.api_edit_contact(
        c,
        &params(json!({"company": "Zenith"})),
        Method::Patch,
        now,
        false,
    )
    .unwrap();
    assert_eq!(s.companies.len(), 2);
}

#[test]
fn mautic_5_batch_new_refuses_a_taken_company_name_and_the_newer_profile_matches_it() {
    for profile in MauticProfile::ALL {
        let mut s = State::new(profile, false);
        let now = t("2024-05-01 10:00:00");
        let (_, a) = s
            .api_batch_new_company(&params(json!({"companyname": "Acme"})), now)
            .unwrap();
        let again = s.api_batch_new_company(&params(json!({"companyname": "acme"})), now);
        if profile.company_batch_matches() {
            assert_eq!(again.unwrap(), (200, a));
        } else {
            let e = again.unwrap_err();
            assert_eq!(
                (e.code, e.message.as_str()),
                (422, "companyname: This field must be unique.")
            );
        }
        assert_eq!(s.companies.len(), 1, "{profile:?}");
    }
}

#[test]
fn a_renamed_company_reaches_one_of_its_contacts_without_moving_its_date() {
    let mut s = v5();
    let old = t("2024-01-01 00:00:00");
    let now = t("2024-05-01 10:00:00");
    let k = s.user_add_company(&params(json!({"companyname": "Acme"})), old);
    let a = s.user_add_contact(&params(json!({"email": "a@b.fr"})), old);
    let b = s.user_add_contact(&params(json!({"email": "b@b.fr"})), old);
    s.link(a, k, old).unwrap();
    s.link(b, k, old).unwrap();
    s.api_edit_company(
        k,
        &params(json!({"companyname": "Acme SA"})),
        Method::Patch,
        now,
    )
    .unwrap();
    assert_eq!(s.contacts[&a].fields["company"], json!("Acme SA"));
    assert_eq!(s.contacts[&a].date_modified, Some(old));
    assert_eq!(
        s.contacts[&b].fields["company"],
        json!("Acme"),
        "fetchOne()"
    );
}
