//! Creating, editing and merging contacts (`LeadApiController`, `CommonApiController`,
//! `LeadModel`, `ContactMerger`).

use super::{Contact, ItemError, Link, Method, Object, Prepared, State, UniqueIndex, unique_key};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;

impl State {
    /// The contact holding this e-mail (case-insensitive, as MySQL compares), the oldest first.
    pub fn contact_by_email(&self, email: &str, except: Option<u64>) -> Option<u64> {
        self.contact_index
            .holders("email", &Json::String(email.to_owned()))
            .into_iter()
            .find(|id| Some(*id) != except)
    }

    /// The contacts holding this e-mail (case-insensitive), in id order.
    pub fn contacts_by_email(&self, email: &str) -> Vec<u64> {
        self.contact_index
            .holders("email", &Json::String(email.to_owned()))
            .into_iter()
            .collect()
    }

    /// The contact an id names now: itself, or the contact it was merged into
    /// (`LeadModel::getEntity` falls back to `contact_merge_records`).
    pub fn resolve_contact(&self, id: u64) -> Option<u64> {
        let mut id = id;
        for _ in 0..64 {
            if self.contacts.contains_key(&id) {
                return Some(id);
            }
            id = *self.merged.get(&id)?;
        }
        None
    }

    fn identify(c: &mut Contact, now: DateTime<Utc>) {
        if c.date_identified.is_none()
            && ["email", "firstname", "lastname", "company"]
                .iter()
                .any(|a| c.fields.get(*a).is_some_and(|v| !v.is_null()))
        {
            c.date_identified = Some(now);
        }
    }

    fn new_contact(&mut self, now: DateTime<Utc>) -> u64 {
        let id = self.next_contact;
        self.next_contact += 1;
        let mut fields = BTreeMap::new();
        fields.insert("points".to_owned(), json!(0));
        self.contacts.insert(
            id,
            Contact {
                id,
                fields,
                date_added: now,
                date_modified: (!self.null_date_modified_on_create).then_some(now),
                date_identified: None,
                dnc: Vec::new(),
                companies: Vec::new(),
                tags: Default::default(),
            },
        );
        id
    }

    /// Creates a contact as a user would (not counted as an API creation).
    pub fn user_add_contact(&mut self, params: &Map<String, Json>, now: DateTime<Utc>) -> u64 {
        let prepared = self
            .prepare(Object::Contact, params, Method::User)
            .expect("user writes are not validated");
        let id = self.new_contact(now);
        self.save_contact(id, &prepared, now, true);
        id
    }

    /// A visitor Mautic tracked but never identified.
    pub fn user_add_anonymous(&mut self, now: DateTime<Utc>) -> u64 {
        self.new_contact(now)
    }

    /// Edits a contact as a user would: what is given is stored, blanks clear.
    pub fn user_edit_contact(
        &mut self,
        id: u64,
        params: &Map<String, Json>,
        now: DateTime<Utc>,
    ) -> bool {
        let Ok(prepared) = self.prepare(Object::Contact, params, Method::User) else {
            return false;
        };
        if !self.contacts.contains_key(&id) {
            return false;
        }
        self.save_contact(id, &prepared, now, false);
        true
    }

    /// Applies prepared values to a contact and saves it (`LeadModel::saveEntity`): the
    /// dates move only when something changed, and a changed `company` text finds or makes
    /// the company it names (`IdentifyCompanyHelper::identifyLeadsCompany`).
    fn save_contact(&mut self, id: u64, prepared: &Prepared, now: DateTime<Utc>, created: bool) {
        let before = self
            .contacts
            .get(&id)
            .and_then(|c| c.fields.get("company").cloned());
        let changed = self
            .change_contact(id, |c| {
                let changed = State::apply(&mut c.fields, prepared);
                if changed && !created {
                    c.date_modified = Some(now);
                }
                State::identify(c, now);
                changed
            })
            .unwrap_or(false);
        let after = self
            .contacts
            .get(&id)
            .and_then(|c| c.fields.get("company").cloned());
        if changed && before.as_ref().and_then(unique_key) != after.as_ref().and_then(unique_key) {
            self.company_text_changed(id, after.as_ref(), now);
        }
    }

    /// `POST /api/contacts/new` and each item of `batch/new`. The contact is looked up by the
    /// unique identifier values sent (`LeadModel::checkForDuplicateContact`: OR by default,
    /// the newest match); found, it is updated (200), else one is created (201). An `id` in
    /// the item is ignored (`processForm` unsets it). The unique-field validator refuses (422)
    /// a value two contacts hold, or that another contact holds when creating.
    ///
    /// `single`: the single `new`, whose form is submitted with `clearMissing`: with
    /// `overwriteWithBlank` the fields it does not send are cleared. A `batch/new` item that
    /// matches is processed as a PATCH (`CommonApiController::newEntitiesAction`).
    pub fn api_new_contact(
        &mut self,
        params: &Map<String, Json>,
        now: DateTime<Utc>,
        single: bool,
    ) -> Result<(u16, u64), ItemError> {
        let mut prepared = self.prepare(Object::Contact, params, Method::Post)?;
        let data = self.unique_data(Object::Contact, &prepared);
        let existing = self
            .holders(Object::Contact, &data)
            .into_iter()
            .max_by_key(|id| (self.contacts[id].date_added, *id));
        self.check_unique(Object::Contact, &data, existing)?;
        if let Some(existing) = existing {
            if single && super::php_truthy(params.get("overwriteWithBlank")) {
                self.clear_missing(Object::Contact, &mut prepared);
            }
            self.save_contact(existing, &prepared, now, false);
            self.contact_extras(existing, params, now);
            return Ok((200, existing));
        }
        let id = self.new_contact(now);
        self.save_contact(id, &prepared, now, true);
        self.contact_extras(id, params, now);
        if let Some(e) = prepared.value("email").and_then(unique_key) {
            *self.created_per_email.entry(e).or_default() += 1;
        }
        Ok((201, id))
    }

    /// `PATCH|PUT /api/contacts/{id}/edit` and each item of `batch/edit`.
    ///
    /// - An id merged away names the contact it went into, for a single edit always and for a
    ///   batch only on the newer profile ([`super::MauticProfile::batch_edit_follows_merges`]).
    /// - A missing id: 404 on PATCH; PUT creates a contact (201).
    /// - A unique value another contact holds is refused with 422 (`Lead`'s
    ///   `UniqueCustomField` constraint, checked when the form is validated). Only when the
    ///   validator lets the values through and they still find another contact does
    ///   `LeadApiController::preSaveEntity` merge that contact into this one
    ///   (`ContactMerger::merge($entity, $existingEntity)`), which keeps this id.
    pub fn api_edit_contact(
        &mut self,
        id: u64,
        params: &Map<String, Json>,
        method: Method,
        now: DateTime<Utc>,
        batch: bool,
    ) -> Result<(u16, u64), ItemError> {
        let resolved = if batch && !self.profile.batch_edit_follows_merges() {
            self.contacts.contains_key(&id).then_some(id)
        } else {
            self.resolve_contact(id)
        };
        let Some(id) = resolved else {
            return match method {
                Method::Put => {
                    let mut prepared = self.prepare(Object::Contact, params, Method::Put)?;
                    let data = self.unique_data(Object::Contact, &prepared);
                    self.check_unique(Object::Contact, &data, None)?;
                    self.clear_missing(Object::Contact, &mut prepared);
                    let id = self.new_contact(now);
                    self.save_contact(id, &prepared, now, true);
                    self.contact_extras(id, params, now);
                    Ok((201, id))
                }
                _ => Err(ItemError::not_found()),
            };
        };
        let mut prepared = self.prepare(Object::Contact, params, method)?;
        let data = self.unique_data(Object::Contact, &prepared);
        self.check_unique(Object::Contact, &data, Some(id))?;
        if let Some(other) = self
            .holders(Object::Contact, &data)
            .into_iter()
            .filter(|o| *o != id)
            .max_by_key(|o| (self.contacts[o].date_added, *o))
        {
            self.merge_contacts(id, other, now);
        }
        if method == Method::Put {
            self.clear_missing(Object::Contact, &mut prepared);
        }
        self.save_contact(id, &prepared, now, false);
        self.contact_extras(id, params, now);
        Ok((200, id))
    }

    /// What a contact write carries besides field values (`LeadApiController::preSaveEntity`):
    /// `tags` (a list or a comma-separated text; `-name` removes a tag, `LeadModel::modifyTags`)
    /// and `doNotContact` entries (`{channel, reason, comments}`: reason 0, "contactable",
    /// removes the channel's entry; others add it as `DoNotContact::addDncForContact` does).
    fn contact_extras(&mut self, id: u64, params: &Map<String, Json>, now: DateTime<Utc>) {
        if let Some(tags) = params.get("tags") {
            let names: Vec<String> = match tags {
                Json::Array(items) => items
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
                Json::String(t) => t.split(',').map(str::to_owned).collect(),
                _ => Vec::new(),
            };
            for name in names {
                let name = name.trim();
                if let Some(removed) = name.strip_prefix('-') {
                    if let Some(c) = self.contacts.get_mut(&id) {
                        c.tags.remove(removed.trim());
                    }
                } else if !name.is_empty() {
                    let next = self.tag_ids.len() as u64 + 1;
                    self.tag_ids.entry(name.to_owned()).or_insert(next);
                    if let Some(c) = self.contacts.get_mut(&id) {
                        c.tags.insert(name.to_owned());
                    }
                }
            }
        }
        if let Some(Json::Array(entries)) = params.get("doNotContact") {
            for dnc in entries {
                let channel = dnc
                    .get("channel")
                    .and_then(Json::as_str)
                    .filter(|c| !c.is_empty())
                    .unwrap_or("email")
                    .to_owned();
                let comments = dnc.get("comments").and_then(Json::as_str).unwrap_or("");
                let reason = match dnc.get("reason") {
                    None => 3,
                    Some(v) => v
                        .as_i64()
                        .or_else(|| v.as_str().and_then(|t| t.trim().parse().ok()))
                        .unwrap_or(0),
                };
                if reason == 0 {
                    let _ = self.remove_dnc(id, &channel, now);
                } else {
                    let _ = self.add_dnc(id, &channel, reason, comments, now);
                }
            }
        }
    }

    /// `DELETE /api/contacts/{id}/delete`: the contact goes (no tombstone, API-NOTES.md).
    pub fn api_delete_contact(&mut self, id: u64) -> Result<Contact, ItemError> {
        let id = self.resolve_contact(id).ok_or_else(ItemError::not_found)?;
        let unique = self.unique_aliases(Object::Contact);
        let c = self.contacts.remove(&id).ok_or_else(ItemError::not_found)?;
        self.contact_index
            .update(id, UniqueIndex::keys(&unique, &c.fields), Vec::new());
        Ok(c)
    }

    /// `ContactMerger::merge($winner, $loser)`, as the interface's merge, the deduplicate
    /// command and `preSaveEntity` run it: each field takes the value of the contact modified
    /// last, or the other's when that one has none; points add up; the oldest identification
    /// date stays; the loser is deleted and its id now names the winner
    /// (`contact_merge_records`). Company links are not moved: the loser's go with it.
    pub fn merge_contacts(&mut self, winner: u64, loser: u64, now: DateTime<Utc>) -> bool {
        if winner == loser || !self.contacts.contains_key(&winner) {
            return false;
        }
        let unique = self.unique_aliases(Object::Contact);
        let Some(l) = self.contacts.remove(&loser) else {
            return false;
        };
        self.contact_index
            .update(loser, UniqueIndex::keys(&unique, &l.fields), Vec::new());
        let w = self.contacts.get_mut(&winner).expect("winner exists");
        let before = UniqueIndex::keys(&unique, &w.fields);
        let w_date = w.date_modified.unwrap_or(w.date_added);
        let l_date = l.date_modified.unwrap_or(l.date_added);
        let loser_newer = l_date > w_date;
        let aliases: Vec<String> = w.fields.keys().chain(l.fields.keys()).cloned().collect();
        let mut merged = BTreeMap::new();
        let blank = |v: Option<&Json>| match v {
            None | Some(Json::Null) => true,
            Some(Json::String(s)) => s.is_empty(),
            _ => false,
        };
        for alias in aliases {
            if alias == "points" {
                continue;
            }
            let (newest, oldest) = if loser_newer {
                (l.fields.get(&alias), w.fields.get(&alias))
            } else {
                (w.fields.get(&alias), l.fields.get(&alias))
            };
            let value = if blank(newest) { oldest } else { newest };
            if let Some(v) = value.filter(|v| !blank(Some(v))) {
                merged.insert(alias, v.clone());
            }
        }
        let points = |f: &BTreeMap<String, Json>| f.get("points").and_then(Json::as_f64);
        let total = points(&w.fields).unwrap_or(0.0) + points(&l.fields).unwrap_or(0.0);
        merged.insert("points".into(), json!(total as i64));
        w.fields = merged;
        w.date_identified = match (w.date_identified, l.date_identified) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        w.date_modified = Some(now);
        let after = UniqueIndex::keys(&unique, &w.fields);
        self.contact_index.update(winner, before, after);
        self.merged.insert(loser, winner);
        for target in self.merged.values_mut() {
            if *target == loser {
                *target = winner;
            }
        }
        self.deleted.push(loser);
        true
    }

    /// A contact's links, for the test handle.
    pub fn links_of(&self, contact: u64) -> &[Link] {
        self.contacts
            .get(&contact)
            .map(|c| c.companies.as_slice())
            .unwrap_or(&[])
    }
}
