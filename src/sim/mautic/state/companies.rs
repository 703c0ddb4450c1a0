//! Companies (`CompanyApiController`, `CompanyModel`), a contact's links to them
//! (`CompanyModel::addLeadToCompany`, `removeLeadFromCompany`, `CompanyLeadRepository`), and
//! the company a contact's `company` text names (`IdentifyCompanyHelper`, `LeadModel::
//! saveEntity`, `LeadModel::setPrimaryCompany`).

use super::{Company, ItemError, Link, Method, Object, State, unique_key};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;

const NAME: &str = "companyname";

impl State {
    fn new_company(&mut self, now: DateTime<Utc>) -> u64 {
        let id = self.next_company;
        self.next_company += 1;
        self.companies.insert(
            id,
            Company {
                id,
                fields: BTreeMap::new(),
                date_added: now,
                date_modified: (!self.null_date_modified_on_create).then_some(now),
            },
        );
        id
    }

    /// A company created through the API or by a contact's text, counted by name.
    fn count_created(&mut self, id: u64) {
        if let Some(name) = self.companies[&id].fields.get(NAME).and_then(unique_key) {
            *self.created_per_company_name.entry(name).or_default() += 1;
        }
    }

    /// Saves a company's new values; a new name reaches one of the contacts whose primary
    /// company it is, by a direct update that does not move its `date_modified`
    /// (`CompanyLeadRepository::updateLeadsPrimaryCompanyName` reads the contacts with
    /// `fetchOne()`: only the first one is updated, a Mautic bug).
    fn save_company(&mut self, id: u64, prepared: &super::Prepared, now: DateTime<Utc>) -> bool {
        let before = self
            .companies
            .get(&id)
            .and_then(|c| c.fields.get(NAME).cloned());
        let changed = self
            .change_company(id, |c| {
                let changed = State::apply(&mut c.fields, prepared);
                if changed {
                    c.date_modified = Some(now);
                }
                changed
            })
            .unwrap_or(false);
        let after = self
            .companies
            .get(&id)
            .and_then(|c| c.fields.get(NAME).cloned());
        if changed
            && before != after
            && let Some(name) = after
        {
            let first = self
                .contacts
                .values()
                .find(|c| c.companies.iter().any(|l| l.company == id && l.primary))
                .map(|c| c.id);
            if let Some(contact) = first {
                self.change_contact(contact, |c| {
                    c.fields.insert("company".into(), name);
                });
            }
        }
        changed
    }

    pub fn user_add_company(&mut self, params: &Map<String, Json>, now: DateTime<Utc>) -> u64 {
        let prepared = self
            .prepare(Object::Company, params, Method::User)
            .expect("user writes are not validated");
        let id = self.new_company(now);
        self.change_company(id, |c| State::apply(&mut c.fields, &prepared));
        id
    }

    pub fn user_edit_company(
        &mut self,
        id: u64,
        params: &Map<String, Json>,
        now: DateTime<Utc>,
    ) -> bool {
        let Ok(prepared) = self.prepare(Object::Company, params, Method::User) else {
            return false;
        };
        if !self.companies.contains_key(&id) {
            return false;
        }
        self.save_company(id, &prepared, now);
        true
    }

    /// The company with this name (case-insensitive), the oldest first.
    pub fn company_by_name(&self, name: &str) -> Option<u64> {
        self.company_index
            .holders(NAME, &Json::String(name.to_owned()))
            .first()
            .copied()
    }

    /// The oldest company matching the unique values (`IdentifyCompanyHelper::findCompany`
    /// takes the last of a list ordered `dateAdded DESC, id DESC`).
    fn find_company(&self, data: &[(String, Json)]) -> Option<u64> {
        self.holders(Object::Company, data)
            .into_iter()
            .min_by_key(|id| (self.companies[id].date_added, *id))
    }

    /// Creates a company from a write: it needs a name (400 "companyname: This field is
    /// required."), and its unique values may not be taken (422, `Company`'s
    /// `UniqueCustomField` constraint).
    fn create_company(
        &mut self,
        prepared: &super::Prepared,
        now: DateTime<Utc>,
    ) -> Result<u64, ItemError> {
        if prepared.value(NAME).and_then(unique_key).is_none() {
            return Err(ItemError::form(
                400,
                vec![(NAME.to_owned(), "This field is required.".into())],
            ));
        }
        let data = self.unique_data(Object::Company, prepared);
        self.check_unique(Object::Company, &data, None)?;
        let id = self.new_company(now);
        self.change_company(id, |c| State::apply(&mut c.fields, prepared));
        self.count_created(id);
        Ok(id)
    }

    /// `POST /api/companies/new`. Unless `force`, an existing company matching the unique
    /// values sent is edited instead (200), as a POST: its form is submitted with
    /// `clearMissing`, so every field not sent is cleared (`CompanyApiController::
    /// newEntityAction` -> `editEntityAction`). Otherwise a new one (201).
    pub fn api_new_company(
        &mut self,
        params: &Map<String, Json>,
        now: DateTime<Utc>,
    ) -> Result<(u16, u64), ItemError> {
        let mut prepared = self.prepare(Object::Company, params, Method::Post)?;
        if !super::php_truthy(params.get("force")) {
            let data = self.unique_data(Object::Company, &prepared);
            if let Some(existing) = self.find_company(&data) {
                self.check_unique(Object::Company, &data, Some(existing))?;
                self.clear_missing(Object::Company, &mut prepared);
                self.save_company(existing, &prepared, now);
                return Ok((200, existing));
            }
        }
        self.create_company(&prepared, now).map(|id| (201, id))
    }

    /// One item of `POST /api/companies/batch/new`: on Mautic 5 always a new company (a taken
    /// name fails the item with 422); on the newer profile the company matching the unique
    /// values is updated (200) (see [`super::MauticProfile::company_batch_matches`]).
    pub fn api_batch_new_company(
        &mut self,
        params: &Map<String, Json>,
        now: DateTime<Utc>,
    ) -> Result<(u16, u64), ItemError> {
        let prepared = self.prepare(Object::Company, params, Method::Post)?;
        if self.profile.company_batch_matches() {
            let data = self.unique_data(Object::Company, &prepared);
            if let Some(existing) = self.find_company(&data) {
                self.check_unique(Object::Company, &data, Some(existing))?;
                self.save_company(existing, &prepared, now);
                return Ok((200, existing));
            }
        }
        self.create_company(&prepared, now).map(|id| (201, id))
    }

    /// `PATCH|PUT /api/companies/{id}/edit` and each item of `batch/edit`. Blanks always
    /// overwrite and zeros are kept; the name may not be blanked (400) nor take another
    /// company's (422). A missing id: 404 on PATCH; PUT creates.
    pub fn api_edit_company(
        &mut self,
        id: u64,
        params: &Map<String, Json>,
        method: Method,
        now: DateTime<Utc>,
    ) -> Result<(u16, u64), ItemError> {
        if !self.companies.contains_key(&id) {
            return match method {
                Method::Put => {
                    let mut prepared = self.prepare(Object::Company, params, Method::Put)?;
                    self.clear_missing(Object::Company, &mut prepared);
                    self.create_company(&prepared, now).map(|id| (201, id))
                }
                _ => Err(ItemError::not_found()),
            };
        }
        let mut prepared = self.prepare(Object::Company, params, method)?;
        let data = self.unique_data(Object::Company, &prepared);
        self.check_unique(Object::Company, &data, Some(id))?;
        if method == Method::Put {
            self.clear_missing(Object::Company, &mut prepared);
            if prepared.value(NAME).is_none() {
                return Err(ItemError::form(
                    400,
                    vec![(NAME.to_owned(), "This field is required.".into())],
                ));
            }
        }
        self.save_company(id, &prepared, now);
        Ok((200, id))
    }

    /// Links a contact to a company as `POST /api/companies/{c}/contact/{p}/add` does
    /// (`CompanyModel::addLeadToCompany`): a new link always becomes the primary one (every
    /// other link of the contact is set to `is_primary = 0` first, `CompanyLeadRepository::
    /// saveEntities`), and the contact's `company` text takes the company's name when it has
    /// one and it differs (saving the contact). A link that exists is left as it is, primary
    /// or not. 404 "Item was not found." for a missing company, "Contact not found." for a
    /// missing contact.
    pub fn link(
        &mut self,
        contact: u64,
        company: u64,
        now: DateTime<Utc>,
    ) -> Result<(), ItemError> {
        let name = self
            .companies
            .get(&company)
            .ok_or_else(ItemError::not_found)?
            .fields
            .get(NAME)
            .cloned();
        let contact = self.resolve_contact(contact).ok_or_else(|| ItemError {
            message: "Contact not found.".into(),
            ..ItemError::not_found()
        })?;
        if self.contacts[&contact]
            .companies
            .iter()
            .any(|l| l.company == company)
        {
            return Ok(());
        }
        self.change_contact(contact, |c| {
            for l in &mut c.companies {
                l.primary = false;
            }
            c.companies.push(Link {
                company,
                primary: true,
                date_associated: now,
            });
            if let Some(n) = name.filter(|n| unique_key(n).is_some())
                && c.fields.get("company") != Some(&n)
            {
                c.fields.insert("company".into(), n);
                c.date_modified = Some(now);
            }
        });
        Ok(())
    }

    /// Links a contact to a company as a user would in the interface, primary or not; a
    /// primary link names the company in the contact's `company` field. Nothing happens when
    /// either does not exist.
    pub fn user_link(&mut self, contact: u64, company: u64, primary: bool, now: DateTime<Utc>) {
        let Some(name) = self
            .companies
            .get(&company)
            .map(|c| c.fields.get(NAME).cloned())
        else {
            return;
        };
        self.change_contact(contact, |c| {
            match c.companies.iter_mut().find(|l| l.company == company) {
                Some(l) => l.primary = primary || l.primary,
                None => c.companies.push(Link {
                    company,
                    primary,
                    date_associated: now,
                }),
            }
            if primary {
                for l in &mut c.companies {
                    l.primary = l.company == company;
                }
                if let Some(n) = name {
                    c.fields.insert("company".into(), n);
                }
            }
            c.date_modified = Some(now);
        });
    }

    /// `POST /api/companies/{c}/contact/{p}/remove` (`CompanyModel::removeLeadFromCompany`):
    /// the link goes; when it was the primary one, the first remaining link becomes primary
    /// and names its company in the contact's `company` field (none left: the field is
    /// emptied), and the contact is saved (`updateContactAfterPrimaryCompanyWasRemoved`).
    pub fn unlink(
        &mut self,
        contact: u64,
        company: u64,
        now: DateTime<Utc>,
    ) -> Result<(), ItemError> {
        if !self.companies.contains_key(&company) {
            return Err(ItemError::not_found());
        }
        let contact = self
            .resolve_contact(contact)
            .ok_or_else(ItemError::not_found)?;
        let names: BTreeMap<u64, Option<Json>> = self.contacts[&contact]
            .companies
            .iter()
            .map(|l| {
                (
                    l.company,
                    self.companies
                        .get(&l.company)
                        .and_then(|c| c.fields.get(NAME).cloned()),
                )
            })
            .collect();
        self.change_contact(contact, |c| {
            let Some(i) = c.companies.iter().position(|l| l.company == company) else {
                return;
            };
            let was_primary = c.companies.remove(i).primary;
            if !was_primary {
                return;
            }
            match c.companies.first_mut() {
                Some(next) => {
                    next.primary = true;
                    match names.get(&next.company).cloned().flatten() {
                        Some(n) => c.fields.insert("company".into(), n),
                        None => c.fields.remove("company"),
                    };
                }
                None => {
                    c.fields.remove("company");
                }
            }
            c.date_modified = Some(now);
        });
        Ok(())
    }

    /// A contact's `company` text changed (`LeadModel::saveEntity`): the company with that
    /// name is found (by the company unique identifier fields) or created with that name and
    /// nothing else, without validation (`IdentifyCompanyHelper::identifyLeadsCompany`), then
    /// linked and made the primary one, an existing secondary link included
    /// (`setPrimaryCompany`), and the contact's text becomes the company's stored name. A
    /// blanked text deletes the primary link (`removeContactPrimaryCompany`); the other links
    /// stay, none of them primary.
    pub(super) fn company_text_changed(
        &mut self,
        contact: u64,
        text: Option<&Json>,
        now: DateTime<Utc>,
    ) {
        let Some(name) = text.filter(|v| unique_key(v).is_some()).cloned() else {
            self.change_contact(contact, |c| c.companies.retain(|l| !l.primary));
            return;
        };
        let name_text = match &name {
            Json::String(s) => s.trim().to_owned(),
            other => other.to_string(),
        };
        let data = vec![(NAME.to_owned(), Json::String(name_text.clone()))];
        let company = match self.find_company(&data) {
            Some(id) => id,
            None => {
                let id = self.new_company(now);
                self.change_company(id, |c| {
                    c.fields.insert(NAME.into(), Json::String(name_text));
                });
                self.count_created(id);
                id
            }
        };
        let stored = self.companies[&company].fields.get(NAME).cloned();
        self.change_contact(contact, |c| {
            if !c.companies.iter().any(|l| l.company == company) {
                c.companies.push(Link {
                    company,
                    primary: false,
                    date_associated: now,
                });
            }
            for l in &mut c.companies {
                l.primary = l.company == company;
            }
            if let Some(n) = stored {
                c.fields.insert("company".into(), n);
            }
        });
    }
}
